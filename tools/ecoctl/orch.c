/* The commands: up (ordered start, health waits, rollback), down, status, health, run. */
#include "ecoctl.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

enum { ST_PENDING = 0, ST_OK, ST_FAILED, ST_SKIPPED };

static double secs_since(uint64_t start_ms)
{
    return (double)(eco_now_ms() - start_ms) / 1000.0;
}

static void print_ports(const ecoctl_svc_t *s, char *out, size_t len)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < s->nports && used < len; i++)
        used += (size_t)snprintf(out + used, len - used, "%s%s=%d", i ? "," : "", s->ports[i].name, s->ports[i].port);
    if (!s->nports)
        snprintf(out, len, "-");
}

/* Stops one service if it has a PID file. 0 when it is stopped. */
static int stop_one(ecoctl_rt_t *rt, const ecoctl_svc_t *s, int verbose)
{
    ecoctl_pidfile_t pf;
    ecoctl_state_t st = ecoctl_proc_state(rt, s, &pf, 0);
    if (st == ECOCTL_STOPPED) {
        if (verbose)
            printf("%s: not running\n", s->name);
        return 0;
    }
    uint64_t t0 = eco_now_ms();
    if (st == ECOCTL_DEAD)
        printf("%s: process %d is gone; cleaning up its PID file and leftovers\n", s->name, (int)pf.pid);
    else
        printf("stopping %s (pid %d)\n", s->name, (int)pf.pid);
    fflush(stdout);
    ecoctl_logs_mark(rt, s, "stopping (pid %d)", (int)pf.pid);
    int rc = ecoctl_proc_stop(rt, s, &pf);
    if (rc == 0 && st == ECOCTL_RUNNING)
        printf("%s: stopped (%.1f s)\n", s->name, secs_since(t0));
    return rc;
}

static void rollback(ecoctl_rt_t *rt, const size_t *started, size_t n)
{
    rt->stopping = 1;
    if (n)
        fprintf(stderr, "ecoctl: rolling back: stopping %zu service(s) started by this run\n", n);
    while (n-- > 0)
        stop_one(rt, &rt->m->svcs[started[n]], 0);
    rt->stopping = 0;
}

static int run_hook(ecoctl_rt_t *rt, const ecoctl_svc_t *s, const ecoctl_argv_t *argv, const char *what)
{
    printf("%s: %s\n", s->name, what);
    fflush(stdout);
    int rc = ecoctl_proc_hook(rt, s, argv, what, s->hook_timeout_ms);
    if (rc != 0 && rc != -EINTR)
        ecoctl_logs_tail(rt, s, 15);
    return rc;
}

/* Starts s unless it already runs healthy. *started: this call started it (and it is up). */
static int start_one(ecoctl_rt_t *rt, const ecoctl_svc_t *s, int *started)
{
    char why[768];
    ecoctl_pidfile_t pf;
    *started = 0;
    ecoctl_state_t st = ecoctl_proc_state(rt, s, &pf, 1);
    if (st == ECOCTL_RUNNING) {
        if (ecoctl_health_wait(rt, s, pf.pid, 0, why, sizeof(why)) != 0) {
            fprintf(stderr, "ecoctl: %s: already running (pid %d) but %s\n", s->name, (int)pf.pid, why);
            return rt->signo ? -EINTR : ECO_EIO;
        }
        printf("%s: already running (pid %d), healthy\n", s->name, (int)pf.pid);
        return 0;
    }
    if (st == ECOCTL_DEAD)
        fprintf(stderr, "ecoctl: %s: removed a stale PID file (pid %d no longer runs it)\n", s->name, (int)pf.pid);
    for (size_t i = 0; i < s->nports; i++)
        if (ecoctl_port_in_use(s->ports[i].port)) {
            fprintf(stderr, "ecoctl: %s: port %d (%s.%s) is already in use by another process\n", s->name,
                    s->ports[i].port, s->name, s->ports[i].name);
            return ECO_EIO;
        }
    int rc = ecoctl_proc_prepare_data(rt, s);
    if (rc != 0)
        return rc;
    if (s->init.v && access(s->creates, F_OK) != 0 && (rc = run_hook(rt, s, &s->init, "init")) != 0)
        return rc;
    if (s->pre_start.v && (rc = run_hook(rt, s, &s->pre_start, "pre_start")) != 0)
        return rc;
    uint64_t t0 = eco_now_ms();
    printf("starting %s\n", s->name);
    fflush(stdout);
    ecoctl_logs_mark(rt, s, "starting %s", s->command.v[0]);
    pid_t pid;
    if ((rc = ecoctl_proc_start(rt, s, &pid)) != 0)
        return rc;
    rc = ecoctl_health_wait(rt, s, pid, 1, why, sizeof(why));
    if (rc == 0 && s->post_start.v)
        rc = run_hook(rt, s, &s->post_start, "post_start");
    else if (rc != 0) {
        fprintf(stderr, "ecoctl: %s: %s\n", s->name, why);
        if (rc != -EINTR)
            ecoctl_logs_tail(rt, s, 15);
    }
    if (rc != 0) {
        rt->stopping = 1;
        stop_one(rt, s, 0);
        rt->stopping = 0;
        return rc;
    }
    printf("%s: healthy (pid %d, %.1f s)\n", s->name, (int)pid, secs_since(t0));
    fflush(stdout);
    *started = 1;
    return 0;
}

int ecoctl_up(ecoctl_rt_t *rt, const size_t *want, size_t nwant)
{
    const ecoctl_manifest_t *m = rt->m;
    size_t order[ECOCTL_MAX_SERVICES], n, started[ECOCTL_MAX_SERVICES], nstarted = 0;
    char err[512], state[ECOCTL_MAX_SERVICES] = {0};
    if (ecoctl_topo_order(m, want, nwant, order, &n, err, sizeof(err)) != 0) {
        fprintf(stderr, "ecoctl: %s\n", err);
        return ECOCTL_EXIT_USAGE;
    }
    if (ecoctl_rt_mkdirs(rt) != 0 || ecoctl_rt_lock(rt, 1) != 0)
        return ECOCTL_EXIT_FAIL;
    int problems = 0;
    for (size_t k = 0; k < n; k++) {
        size_t i = order[k];
        const ecoctl_svc_t *s = &m->svcs[i];
        const char *blocked = NULL;
        for (size_t d = 0; d < s->ndeps && !blocked; d++)
            if (state[s->dep_idx[d]] != ST_OK)
                blocked = m->svcs[s->dep_idx[d]].name;
        if (blocked) {
            fprintf(stderr, "ecoctl: %s: skipped because %s is not up\n", s->name, blocked);
            state[i] = ST_SKIPPED;
            problems++;
            continue;
        }
        int was_started = 0, rc = start_one(rt, s, &was_started);
        if (was_started)
            started[nstarted++] = i;
        if (rc == 0) {
            state[i] = ST_OK;
            continue;
        }
        state[i] = ST_FAILED;
        if (rc == -EINTR || rt->signo) {
            fprintf(stderr, "ecoctl: interrupted while starting %s\n", s->name);
            rollback(rt, started, nstarted);
            ecoctl_rt_unlock(rt);
            return ECOCTL_EXIT_FAIL;
        }
        if (s->critical) {
            fprintf(stderr, "ecoctl: %s failed to start and is critical\n", s->name);
            rollback(rt, started, nstarted);
            ecoctl_rt_unlock(rt);
            return ECOCTL_EXIT_FAIL;
        }
        fprintf(stderr, "ecoctl: %s failed to start (not critical: continuing without it)\n", s->name);
        problems++;
    }
    ecoctl_rt_unlock(rt);
    if (problems) {
        fprintf(stderr, "ecoctl: up finished without:");
        for (size_t k = 0; k < n; k++)
            if (state[order[k]] == ST_FAILED || state[order[k]] == ST_SKIPPED)
                fprintf(stderr, " %s (%s)", m->svcs[order[k]].name,
                        state[order[k]] == ST_FAILED ? "failed" : "skipped");
        fprintf(stderr, "\n");
    }
    printf("up: %zu of %zu service(s) healthy\n", n - (size_t)problems, n);
    return ECOCTL_EXIT_OK;
}

/* PID files of services the manifest no longer has (renamed or removed): stopped by `down`. */
static int stop_unknown(ecoctl_rt_t *rt)
{
    char dir[4200];
    int failed = 0;
    snprintf(dir, sizeof(dir), "%s/pids", rt->run_dir);
    DIR *d = opendir(dir);
    struct dirent *de;
    while (d && (de = readdir(d))) {
        size_t n = strlen(de->d_name);
        if (n <= 4 || strcmp(de->d_name + n - 4, ".pid") != 0)
            continue;
        char *name = eco_strndup(de->d_name, n - 4);
        if (ecoctl_manifest_find(rt->m, name) < 0) {
            ecoctl_svc_t gone = {.name = name, .stop_signal = SIGTERM, .stop_grace_ms = 10000};
            printf("%s: not in %s any more; stopping it anyway\n", name, rt->manifest_path);
            failed += stop_one(rt, &gone, 0) != 0;
        }
        free(name);
    }
    if (d)
        closedir(d);
    return failed;
}

int ecoctl_down(ecoctl_rt_t *rt, const size_t *want, size_t nwant)
{
    const ecoctl_manifest_t *m = rt->m;
    size_t order[ECOCTL_MAX_SERVICES], n;
    char err[512], chosen[ECOCTL_MAX_SERVICES] = {0};
    if (ecoctl_topo_order(m, NULL, 0, order, &n, err, sizeof(err)) != 0) {
        fprintf(stderr, "ecoctl: %s\n", err);
        return ECOCTL_EXIT_USAGE;
    }
    for (size_t i = 0; i < (want ? nwant : m->nsvcs); i++)
        chosen[want ? want[i] : i] = 1;
    if (ecoctl_rt_mkdirs(rt) != 0 || ecoctl_rt_lock(rt, 1) != 0)
        return ECOCTL_EXIT_FAIL;
    rt->stopping = 1;
    int failed = want ? 0 : stop_unknown(rt);
    while (n-- > 0)
        if (chosen[order[n]] && stop_one(rt, &m->svcs[order[n]], want != NULL) != 0)
            failed++;
    rt->stopping = 0;
    for (size_t i = 0; want && i < m->nsvcs; i++) {
        if (chosen[i] || ecoctl_proc_state(rt, &m->svcs[i], NULL, 0) != ECOCTL_RUNNING)
            continue;
        for (size_t d = 0; d < m->svcs[i].ndeps; d++)
            if (chosen[m->svcs[i].dep_idx[d]])
                fprintf(stderr, "ecoctl: note: %s is still running and depends on %s\n", m->svcs[i].name,
                        m->svcs[m->svcs[i].dep_idx[d]].name);
    }
    ecoctl_rt_unlock(rt);
    return failed ? ECOCTL_EXIT_FAIL : ECOCTL_EXIT_OK;
}

/* Stale PID files are cleaned only when no other ecoctl is at work on the run dir. */
static int try_lock(ecoctl_rt_t *rt)
{
    return access(rt->run_dir, W_OK) == 0 && ecoctl_rt_mkdirs(rt) == 0 && ecoctl_rt_lock(rt, 0) == 0;
}

int ecoctl_status(ecoctl_rt_t *rt)
{
    const ecoctl_manifest_t *m = rt->m;
    size_t order[ECOCTL_MAX_SERVICES], n;
    char err[512];
    if (ecoctl_topo_order(m, NULL, 0, order, &n, err, sizeof(err)) != 0)
        return ECOCTL_EXIT_USAGE;
    int clean = try_lock(rt);
    printf("%-22s %-8s %-8s %-28s %s\n", "NAME", "PID", "STATE", "PORTS", "HEALTH");
    for (size_t k = 0; k < n; k++) {
        const ecoctl_svc_t *s = &m->svcs[order[k]];
        ecoctl_pidfile_t pf;
        ecoctl_state_t st = ecoctl_proc_state(rt, s, &pf, clean);
        char pid[16] = "-", ports[256], health[600] = "-";
        print_ports(s, ports, sizeof(ports));
        if (st != ECOCTL_STOPPED)
            snprintf(pid, sizeof(pid), "%d", (int)pf.pid);
        if (st == ECOCTL_RUNNING) {
            char why[512];
            if (ecoctl_health_check(rt, s, why, sizeof(why)) == 0)
                snprintf(health, sizeof(health), "healthy");
            else
                snprintf(health, sizeof(health), "unhealthy: %s", why);
        } else if (st == ECOCTL_DEAD) {
            snprintf(health, sizeof(health), clean ? "stale PID file removed" : "stale PID file");
        }
        printf("%-22s %-8s %-8s %-28s %s\n", s->name, pid,
               st == ECOCTL_RUNNING ? "running"
               : st == ECOCTL_DEAD  ? "dead"
                                    : "stopped",
               ports, health);
    }
    ecoctl_rt_unlock(rt);
    return ECOCTL_EXIT_OK;
}

int ecoctl_health(ecoctl_rt_t *rt)
{
    const ecoctl_manifest_t *m = rt->m;
    size_t order[ECOCTL_MAX_SERVICES], n;
    char err[512];
    if (ecoctl_topo_order(m, NULL, 0, order, &n, err, sizeof(err)) != 0)
        return ECOCTL_EXIT_USAGE;
    int clean = try_lock(rt), bad = 0, running = 0;
    for (size_t k = 0; k < n; k++) {
        const ecoctl_svc_t *s = &m->svcs[order[k]];
        ecoctl_pidfile_t pf;
        ecoctl_state_t st = ecoctl_proc_state(rt, s, &pf, clean);
        char why[512];
        if (st == ECOCTL_DEAD) {
            printf("%s: dead (pid %d is gone)\n", s->name, (int)pf.pid);
            bad++;
        } else if (st == ECOCTL_RUNNING) {
            running++;
            if (ecoctl_health_check(rt, s, why, sizeof(why)) == 0) {
                printf("%s: healthy\n", s->name);
            } else {
                printf("%s: unhealthy: %s\n", s->name, why);
                bad++;
            }
        }
    }
    ecoctl_rt_unlock(rt);
    if (!running && !bad)
        printf("no services are running\n");
    return bad ? ECOCTL_EXIT_FAIL : ECOCTL_EXIT_OK;
}

void ecoctl_sweep(ecoctl_rt_t *rt)
{
    if (access(rt->run_dir, F_OK) != 0 || !try_lock(rt))
        return;
    for (size_t i = 0; i < rt->m->nsvcs; i++) {
        ecoctl_pidfile_t pf;
        if (ecoctl_proc_state(rt, &rt->m->svcs[i], &pf, 1) == ECOCTL_DEAD)
            fprintf(stderr, "ecoctl: %s: removed a stale PID file (pid %d no longer runs it)\n", rt->m->svcs[i].name,
                    (int)pf.pid);
    }
    ecoctl_rt_unlock(rt);
}

/* ---- run ---- */

static char reported[ECOCTL_MAX_SERVICES];
static int died;
static uint64_t last_check;

/* While following logs: say once when a service dies on its own; stop following when nothing
 * runs any more (everything died, or an `ecoctl down` elsewhere). */
static int run_tick(ecoctl_rt_t *rt)
{
    if (eco_now_ms() - last_check < 1000)
        return 0;
    last_check = eco_now_ms();
    int status, running = 0;
    while (waitpid(-1, &status, WNOHANG) > 0)
        ;
    for (size_t i = 0; i < rt->m->nsvcs; i++) {
        const ecoctl_svc_t *s = &rt->m->svcs[i];
        ecoctl_state_t st = ecoctl_proc_state(rt, s, NULL, 0);
        running += st == ECOCTL_RUNNING;
        if (reported[i] || st != ECOCTL_DEAD)
            continue;
        reported[i] = 1;
        died = 1;
        printf("%secoctl%s | %s exited on its own (see %s/logs/%s.log)\n", rt->color ? "\033[1m" : "",
               rt->color ? "\033[0m" : "", s->name, rt->run_dir, s->name);
        fflush(stdout);
    }
    if (!running)
        printf("ecoctl | no service is running any more\n");
    return !running;
}

static void print_endpoints(ecoctl_rt_t *rt, const size_t *order, size_t n)
{
    printf("\neco-base is up (run dir %s, port offset %ld)\n", rt->run_dir, rt->port_offset);
    printf("  %-22s %-8s %s\n", "SERVICE", "PID", "ENDPOINTS");
    for (size_t k = 0; k < n; k++) {
        const ecoctl_svc_t *s = &rt->m->svcs[order[k]];
        ecoctl_pidfile_t pf;
        if (ecoctl_proc_state(rt, s, &pf, 0) != ECOCTL_RUNNING)
            continue;
        printf("  %s%-22s%s %-8d", ecoctl_color(rt, order[k]), s->name, rt->color ? "\033[0m" : "", (int)pf.pid);
        for (size_t i = 0; i < s->nports; i++) {
            if (!strcmp(s->ports[i].name, "http"))
                printf(" http://127.0.0.1:%d", s->ports[i].port);
            else
                printf(" %s=127.0.0.1:%d", s->ports[i].name, s->ports[i].port);
        }
        printf("\n");
    }
    char path[4200], key[512];
    snprintf(path, sizeof(path), "%s/dev.key", rt->run_dir);
    FILE *f = fopen(path, "re");
    if (f) {
        if (fgets(key, sizeof(key), f)) {
            key[strcspn(key, "\r\n")] = '\0';
            printf("\ndev API key (%s): %s\n", path, key);
        }
        fclose(f);
    }
    printf("\nfollowing logs; Ctrl-C stops everything\n\n");
    fflush(stdout);
}

int ecoctl_run(ecoctl_rt_t *rt)
{
    size_t order[ECOCTL_MAX_SERVICES], n;
    char err[512];
    long long *offsets = eco_calloc(rt->m->nsvcs, sizeof(long long));
    if (ecoctl_topo_order(rt->m, NULL, 0, order, &n, err, sizeof(err)) != 0) {
        free(offsets);
        return ECOCTL_EXIT_USAGE;
    }
    ecoctl_logs_offsets(rt, offsets);
    int rc = ecoctl_up(rt, NULL, 0);
    if (rc != ECOCTL_EXIT_OK || rt->signo) {
        free(offsets);
        if (rc == ECOCTL_EXIT_OK) /* a signal after the last start: still leave nothing behind */
            ecoctl_down(rt, NULL, 0);
        return rc == ECOCTL_EXIT_OK ? ECOCTL_EXIT_FAIL : rc;
    }
    print_endpoints(rt, order, n);
    ecoctl_logs_show(rt, order, n, 1, 1, offsets, run_tick);
    free(offsets);
    printf("\necoctl: %s: stopping everything\n", rt->signo ? strsignal(rt->signo) : "nothing left to follow");
    fflush(stdout);
    rc = ecoctl_down(rt, NULL, 0);
    return rc == ECOCTL_EXIT_OK && died && !rt->signo ? ECOCTL_EXIT_FAIL : rc;
}
