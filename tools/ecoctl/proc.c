/* PID files, liveness (pid + start time + boot id), process-tree scans and stopping.
 * Spawning lives in spawn.c. */
#include "ecoctl.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_TRACKED 4096

char *ecoctl_log_path(const ecoctl_rt_t *rt, const ecoctl_svc_t *s)
{
    eco_buf_t b;
    eco_buf_init(&b, 0);
    eco_buf_addf(&b, "%s/logs/%s.log", rt->run_dir, s->name);
    return eco_buf_detach(&b, NULL);
}

char *ecoctl_pid_path(const ecoctl_rt_t *rt, const ecoctl_svc_t *s)
{
    eco_buf_t b;
    eco_buf_init(&b, 0);
    eco_buf_addf(&b, "%s/pids/%s.pid", rt->run_dir, s->name);
    return eco_buf_detach(&b, NULL);
}

static int mkdir_p(const char *path, mode_t mode)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp))
        return -ENAMETOOLONG;
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, mode) != 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(tmp, mode) != 0 && errno != EEXIST)
        return -errno;
    return 0;
}

int ecoctl_rt_mkdirs(ecoctl_rt_t *rt)
{
    static const char *subs[] = {"", "/logs", "/pids", "/data"};
    for (size_t i = 0; i < ECO_ARRAY_SIZE(subs); i++) {
        char path[4096];
        snprintf(path, sizeof(path), "%s%s", rt->run_dir, subs[i]);
        int rc = mkdir_p(path, 0755);
        if (rc != 0) {
            fprintf(stderr, "ecoctl: cannot create %s: %s\n", path, strerror(-rc));
            return rc;
        }
    }
    return 0;
}

int ecoctl_poll_signal(ecoctl_rt_t *rt)
{
    if (rt->sigfd < 0)
        return 0;
    int sig = eco_lifecycle_read_signal(rt->sigfd);
    if (sig) {
        if (rt->signo || rt->stopping)
            rt->hurry = 1; /* a second Ctrl-C: no more grace periods */
        rt->signo = sig;
    }
    return sig;
}

int ecoctl_sleep_ms(ecoctl_rt_t *rt, long ms)
{
    if (ms < 0)
        ms = 0;
    if (rt->sigfd < 0) {
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        return 0;
    }
    struct pollfd pfd = {.fd = rt->sigfd, .events = POLLIN};
    if (poll(&pfd, 1, (int)ms) > 0 && ecoctl_poll_signal(rt))
        return -EINTR;
    return 0;
}

int ecoctl_rt_lock(ecoctl_rt_t *rt, int wait)
{
    if (rt->lock_fd >= 0)
        return 0;
    char path[4096];
    snprintf(path, sizeof(path), "%s/ecoctl.lock", rt->run_dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        fprintf(stderr, "ecoctl: cannot open %s: %s\n", path, strerror(errno));
        return -errno;
    }
    int said = 0;
    while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno != EWOULDBLOCK || !wait) {
            int e = errno;
            close(fd);
            return -e;
        }
        if (!said++)
            fprintf(stderr, "ecoctl: waiting for another ecoctl working on %s\n", rt->run_dir);
        if (ecoctl_sleep_ms(rt, 100) != 0) {
            close(fd);
            return -EINTR;
        }
    }
    rt->lock_fd = fd;
    return 0;
}

void ecoctl_rt_unlock(ecoctl_rt_t *rt)
{
    if (rt->lock_fd >= 0)
        close(rt->lock_fd);
    rt->lock_fd = -1;
}

int ecoctl_proc_stat(pid_t pid, unsigned long long *starttime, pid_t *ppid, pid_t *pgrp, pid_t *sid, char *state)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -ESRCH;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return -ESRCH;
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* the command name may contain spaces and parentheses */
    char st = '?';
    int pp = 0, pg = 0, se = 0;
    unsigned long long start = 0;
    if (!p || sscanf(p + 1, " %c %d %d %d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu", &st, &pp,
                     &pg, &se, &start) != 5)
        return -ESRCH;
    if (starttime)
        *starttime = start;
    if (ppid)
        *ppid = pp;
    if (pgrp)
        *pgrp = pg;
    if (sid)
        *sid = se;
    if (state)
        *state = st;
    return (st == 'Z' || st == 'X') ? -ESRCH : 0;
}

static void boot_id(char out[40])
{
    out[0] = '\0';
    int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    ssize_t n = read(fd, out, 39);
    close(fd);
    out[n > 0 ? n : 0] = '\0';
    out[strcspn(out, "\n")] = '\0';
}

int ecoctl_pid_write(const ecoctl_rt_t *rt, const ecoctl_svc_t *s, pid_t pid)
{
    ecoctl_pidfile_t pf = {.pid = pid};
    if (ecoctl_proc_stat(pid, &pf.starttime, NULL, NULL, NULL, NULL) != 0)
        return -ESRCH;
    boot_id(pf.boot_id);
    char *path = ecoctl_pid_path(rt, s), tmp[4200];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "we");
    int rc = 0;
    if (!f || fprintf(f, "%d %llu %s\n", (int)pid, pf.starttime, pf.boot_id[0] ? pf.boot_id : "-") < 0 ||
        fclose(f) != 0 || rename(tmp, path) != 0) {
        rc = -errno;
        fprintf(stderr, "ecoctl: cannot write %s: %s\n", path, strerror(errno));
    }
    free(path);
    return rc;
}

void ecoctl_pid_remove(const ecoctl_rt_t *rt, const ecoctl_svc_t *s)
{
    char *path = ecoctl_pid_path(rt, s);
    unlink(path);
    free(path);
}

/* Reads a PID file: 0, -ENOENT when there is none, ECO_EINVAL when it is malformed. */
static int pid_read(const ecoctl_rt_t *rt, const ecoctl_svc_t *s, ecoctl_pidfile_t *pf)
{
    char *path = ecoctl_pid_path(rt, s);
    FILE *f = fopen(path, "re");
    free(path);
    memset(pf, 0, sizeof(*pf));
    if (!f)
        return errno == ENOENT ? -ENOENT : ECO_EIO;
    int pid = 0;
    int n = fscanf(f, "%d %llu %39s", &pid, &pf->starttime, pf->boot_id);
    fclose(f);
    if (n != 3 || pid <= 1) {
        pf->pid = 0;
        return ECO_EINVAL;
    }
    pf->pid = pid;
    if (!strcmp(pf->boot_id, "-"))
        pf->boot_id[0] = '\0';
    return 0;
}

/* How the recorded process relates to what /proc shows now. */
typedef enum { LEADER_OURS, LEADER_GONE, LEADER_REUSED } leader_t;

static leader_t leader_status(const ecoctl_pidfile_t *pf)
{
    char now[40];
    boot_id(now);
    if (pf->pid <= 1 || (pf->boot_id[0] && now[0] && strcmp(pf->boot_id, now) != 0))
        return LEADER_REUSED; /* another boot: nothing of ours can be alive */
    unsigned long long st = 0;
    char state = 0;
    int rc = ecoctl_proc_stat(pf->pid, &st, NULL, NULL, NULL, &state);
    if (rc == 0)
        return st == pf->starttime ? LEADER_OURS : LEADER_REUSED;
    if (state == 'Z' && st != pf->starttime)
        return LEADER_REUSED;
    return LEADER_GONE;
}

/* ---- process-tree tracking ---- */

typedef struct {
    pid_t pid, pgrp;
    unsigned long long start;
    int signalled;
} tracked_t;

typedef struct {
    tracked_t v[MAX_TRACKED];
    size_t n;
} trackset_t;

static int tracked_has(const trackset_t *t, pid_t pid)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->v[i].pid == pid)
            return 1;
    return 0;
}

/* Adds every live process in the group or session `leader`, and (when with_tree) every
 * descendant of the tracked processes. */
static void track_scan(trackset_t *t, pid_t leader, int with_tree)
{
    typedef struct {
        pid_t pid, ppid, pgrp, sid;
        unsigned long long start;
    } ent_t;
    static ent_t all[32768];
    size_t n = 0;
    DIR *d = opendir("/proc");
    if (!d)
        return;
    struct dirent *de;
    pid_t self = getpid();
    while ((de = readdir(d)) && n < ECO_ARRAY_SIZE(all)) {
        char *end;
        long pid = strtol(de->d_name, &end, 10);
        if (*end || pid <= 1 || pid == self)
            continue;
        ent_t e = {.pid = (pid_t)pid};
        if (ecoctl_proc_stat(e.pid, &e.start, &e.ppid, &e.pgrp, &e.sid, NULL) == 0)
            all[n++] = e;
    }
    closedir(d);
    for (size_t i = 0; i < n && t->n < MAX_TRACKED; i++)
        if ((all[i].pgrp == leader || all[i].sid == leader) && !tracked_has(t, all[i].pid))
            t->v[t->n++] = (tracked_t){all[i].pid, all[i].pgrp, all[i].start, 0};
    for (int changed = with_tree; changed;) {
        changed = 0;
        for (size_t i = 0; i < n && t->n < MAX_TRACKED; i++)
            if (tracked_has(t, all[i].ppid) && !tracked_has(t, all[i].pid)) {
                t->v[t->n++] = (tracked_t){all[i].pid, all[i].pgrp, all[i].start, 0};
                changed = 1;
            }
    }
}

/* Drops tracked processes that are gone (or whose pid now belongs to someone else). */
static void track_prune(trackset_t *t)
{
    size_t w = 0;
    for (size_t i = 0; i < t->n; i++) {
        unsigned long long st;
        if (ecoctl_proc_stat(t->v[i].pid, &st, NULL, NULL, NULL, NULL) == 0 && st == t->v[i].start)
            t->v[w++] = t->v[i];
    }
    t->n = w;
}

static void track_signal(trackset_t *t, int sig, int only_new)
{
    for (size_t i = 0; i < t->n; i++)
        if (!only_new || !t->v[i].signalled) {
            kill(t->v[i].pid, sig);
            t->v[i].signalled = 1;
        }
}

static void reap_children(void)
{
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
}

/* Waits until the set is empty or the deadline; 0 when empty. */
static int track_wait(ecoctl_rt_t *rt, trackset_t *t, pid_t leader, int leader_ours, uint64_t deadline, int killing)
{
    for (;;) {
        reap_children();
        if (leader_ours)
            track_scan(t, leader, 1);
        track_prune(t);
        if (t->n == 0)
            return 0;
        if (killing || (leader_ours && !tracked_has(t, leader)))
            /* The main process is gone (or being killed): whatever it left behind gets the signal too. */
            track_signal(t, killing ? SIGKILL : SIGTERM, 1);
        if (eco_now_ms() >= deadline || (!killing && rt->hurry))
            return -EBUSY;
        ecoctl_sleep_ms(rt, 50);
    }
}

int ecoctl_proc_stop(ecoctl_rt_t *rt, const ecoctl_svc_t *s, const ecoctl_pidfile_t *pf)
{
    static trackset_t t;
    leader_t ls = leader_status(pf);
    t.n = 0;
    if (ls == LEADER_REUSED) {
        ecoctl_pid_remove(rt, s);
        return 0;
    }
    pid_t leader = pf->pid;
    int ours = ls == LEADER_OURS;
    if (ours)
        t.v[t.n++] = (tracked_t){leader, leader, pf->starttime, 1};
    track_scan(&t, leader, ours);
    if (ours) {
        kill(-leader, s->stop_signal); /* the whole group at once, as a terminal would */
        kill(leader, s->stop_signal);
        for (size_t i = 0; i < t.n; i++)
            t.v[i].signalled = t.v[i].pgrp == leader;
    } else {
        track_signal(&t, SIGTERM, 0);
    }
    uint64_t deadline = eco_now_ms() + (uint64_t)(rt->hurry ? 0 : s->stop_grace_ms);
    if (track_wait(rt, &t, leader, ours, deadline, 0) != 0) {
        if (t.n)
            printf("%s: still running after %ld ms, sending SIGKILL\n", s->name, rt->hurry ? 0L : s->stop_grace_ms);
        if (ours)
            kill(-leader, SIGKILL);
        track_scan(&t, leader, ours);
        track_signal(&t, SIGKILL, 0);
        if (track_wait(rt, &t, leader, ours, eco_now_ms() + 5000, 1) != 0) {
            fprintf(stderr, "ecoctl: %s: %zu process(es) survived SIGKILL (first pid %d); keeping its PID file\n",
                    s->name, t.n, (int)t.v[0].pid);
            return -EBUSY;
        }
    }
    ecoctl_pid_remove(rt, s);
    return 0;
}

ecoctl_state_t ecoctl_proc_state(const ecoctl_rt_t *rt, const ecoctl_svc_t *s, ecoctl_pidfile_t *pf, int clean)
{
    ecoctl_pidfile_t tmp;
    if (!pf)
        pf = &tmp;
    int rc = pid_read(rt, s, pf);
    if (rc == -ENOENT)
        return ECOCTL_STOPPED;
    if (rc == 0 && leader_status(pf) == LEADER_OURS)
        return ECOCTL_RUNNING;
    if (clean) {
        if (rc == 0) {
            /* Kill what the dead leader left in its group, quickly and without waiting long. */
            ecoctl_rt_t quiet = *rt;
            ecoctl_svc_t fast = *s;
            quiet.sigfd = -1;
            fast.stop_grace_ms = 1000;
            if (ecoctl_proc_stop(&quiet, &fast, pf) != 0)
                return ECOCTL_DEAD;
        }
        ecoctl_pid_remove(rt, s);
    }
    return ECOCTL_DEAD;
}

int ecoctl_port_in_use(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return 0;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int used = 0;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
        used = 1;
    else if (errno == EINPROGRESS) {
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int err = 0;
        socklen_t len = sizeof(err);
        if (poll(&p, 1, 300) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0)
            used = 1;
    }
    close(fd);
    return used;
}
