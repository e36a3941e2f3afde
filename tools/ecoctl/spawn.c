/* Starting processes the way a service runs: own session, log file as stdout+stderr, the
 * manifest's environment and PATH, the service's user, and ${DATA} prepared for that user. */
#include "ecoctl.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <glob.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

typedef struct {
    int active; /* switch user in the child */
    uid_t uid;
    gid_t gid;
    char name[64];
    char home[512];
    gid_t groups[64];
    int ngroups;
} user_t;

/* The service's user (postgres, falling back to nobody) when ecoctl runs as root. */
static int resolve_user(const ecoctl_svc_t *s, user_t *u)
{
    memset(u, 0, sizeof(*u));
    if (!s->user || geteuid() != 0)
        return 0;
    struct passwd *pw = getpwnam(s->user);
    if (!pw)
        pw = getpwnam("nobody");
    if (!pw) {
        fprintf(stderr, "ecoctl: %s: neither user %s nor nobody exists\n", s->name, s->user);
        return -ENOENT;
    }
    u->active = 1;
    u->uid = pw->pw_uid;
    u->gid = pw->pw_gid;
    snprintf(u->name, sizeof(u->name), "%s", pw->pw_name);
    snprintf(u->home, sizeof(u->home), "%s", pw->pw_dir);
    u->ngroups = (int)ECO_ARRAY_SIZE(u->groups);
    if (getgrouplist(u->name, u->gid, u->groups, &u->ngroups) < 0) {
        u->groups[0] = u->gid;
        u->ngroups = 1;
    }
    return 0;
}

static int version_desc(const void *a, const void *b)
{
    return strverscmp(*(char *const *)b, *(char *const *)a);
}

/* environ + the service's env (+ PATH prefix, + HOME/USER/LOGNAME for a switched user). */
static char **build_env(const ecoctl_svc_t *s, const user_t *u)
{
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = eco_calloc(n + s->env.n + 8, sizeof(char *));
    size_t k = 0;
    const char *path = getenv("PATH");
    eco_buf_t b;
    for (size_t i = 0; i < n; i++) {
        size_t kl = strcspn(environ[i], "=");
        int replaced = 0;
        for (size_t e = 0; e < s->env.n && !replaced; e++)
            replaced = strlen(s->env.v[e].key) == kl && !strncmp(environ[i], s->env.v[e].key, kl);
        static const char *ours[] = {"PATH", "HOME", "USER", "LOGNAME"};
        for (size_t e = 0; e < ECO_ARRAY_SIZE(ours) && !replaced; e++)
            replaced = strlen(ours[e]) == kl && !strncmp(environ[i], ours[e], kl) && (e == 0 || u->active);
        if (!replaced)
            env[k++] = eco_strdup(environ[i]);
    }
    for (size_t e = 0; e < s->env.n; e++) {
        eco_buf_init(&b, 0);
        eco_buf_addf(&b, "%s=%s", s->env.v[e].key, s->env.v[e].val);
        if (!strcmp(s->env.v[e].key, "PATH"))
            path = s->env.v[e].val;
        else
            env[k++] = eco_buf_detach(&b, NULL);
        eco_buf_free(&b);
    }
    eco_buf_init(&b, 0);
    eco_buf_adds(&b, "PATH=");
    for (size_t i = 0; s->path.v && i < s->path.n; i++) {
        glob_t g;
        if (glob(s->path.v[i], GLOB_NOSORT, NULL, &g) == 0) {
            qsort(g.gl_pathv, g.gl_pathc, sizeof(char *), version_desc); /* newest version first */
            for (size_t j = 0; j < g.gl_pathc; j++)
                eco_buf_addf(&b, "%s:", g.gl_pathv[j]);
            globfree(&g);
        }
    }
    eco_buf_adds(&b, path ? path : "/usr/local/bin:/usr/bin:/bin");
    env[k++] = eco_buf_detach(&b, NULL);
    if (u->active) {
        const char *kv[][2] = {{"HOME", u->home}, {"USER", u->name}, {"LOGNAME", u->name}};
        for (size_t i = 0; i < ECO_ARRAY_SIZE(kv); i++) {
            eco_buf_init(&b, 0);
            eco_buf_addf(&b, "%s=%s", kv[i][0], kv[i][1]);
            env[k++] = eco_buf_detach(&b, NULL);
        }
    }
    env[k] = NULL;
    return env;
}

static void env_free(char **env)
{
    for (size_t i = 0; env[i]; i++)
        free(env[i]);
    free(env);
}

typedef struct {
    int stage;
    int err;
} child_err_t;

static const char *stages[] = {"setsid", "open /dev/null", "dup2", "setgroups", "setgid", "setuid", "chdir", "exec"};

/* In the child: never returns. Only async-signal-safe calls plus execvp (ecoctl has one thread). */
__attribute__((noreturn)) static void child_exec(const ecoctl_argv_t *argv, int out_fd, char **env, const user_t *u,
                                                 const char *cwd, int errfd)
{
    child_err_t ce = {0, 0};
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    for (int sig = 1; sig < 32; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            signal(sig, SIG_DFL);
    int null = -1;
    if (setsid() < 0)
        goto fail;
    ce.stage = 1;
    if ((null = open("/dev/null", O_RDONLY)) < 0)
        goto fail;
    ce.stage = 2;
    if (dup2(null, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(out_fd, 2) < 0)
        goto fail;
    close_range(3, ~0U, CLOSE_RANGE_CLOEXEC); /* errfd stays open until exec succeeds */
    if (u->active) {
        ce.stage = 3;
        if (setgroups((size_t)u->ngroups, u->groups) != 0)
            goto fail;
        ce.stage = 4;
        if (setgid(u->gid) != 0)
            goto fail;
        ce.stage = 5;
        if (setuid(u->uid) != 0)
            goto fail;
    }
    ce.stage = 6;
    if (cwd && chdir(cwd) != 0)
        goto fail;
    ce.stage = 7;
    environ = env;
    execvp(argv->v[0], argv->v);
fail:
    ce.err = errno;
    if (write(errfd, &ce, sizeof(ce)) < 0)
        _exit(126);
    _exit(127);
}

static int open_log(const ecoctl_rt_t *rt, const ecoctl_svc_t *s)
{
    char *path = ecoctl_log_path(rt, s);
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        fprintf(stderr, "ecoctl: cannot open %s: %s\n", path, strerror(errno));
    free(path);
    return fd < 0 ? -errno : fd;
}

/* Forks argv as service s with stdout+stderr on out_fd. pidfile: write the PID file. */
static int spawn(ecoctl_rt_t *rt, const ecoctl_svc_t *s, const ecoctl_argv_t *argv, int out_fd, int pidfile, pid_t *out)
{
    user_t u;
    if (resolve_user(s, &u) != 0)
        return -ENOENT;
    char **env = build_env(s, &u);
    const char *cwd = s->cwd ? s->cwd : (u.active ? s->data_dir : rt->root);
    int ep[2];
    if (pipe2(ep, O_CLOEXEC) != 0)
        eco_fatal("pipe2: %s", strerror(errno));
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        eco_fatal("fork: %s", strerror(errno));
    if (pid == 0)
        child_exec(argv, out_fd, env, &u, cwd, ep[1]);
    close(ep[1]);
    env_free(env);
    if (pidfile)
        ecoctl_pid_write(rt, s, pid);
    child_err_t ce;
    ssize_t n;
    do
        n = read(ep[0], &ce, sizeof(ce));
    while (n < 0 && errno == EINTR);
    close(ep[0]);
    if (n == (ssize_t)sizeof(ce)) {
        waitpid(pid, NULL, 0);
        if (pidfile)
            ecoctl_pid_remove(rt, s);
        const char *what = ce.stage == 7 ? argv->v[0] : ce.stage == 6 ? cwd : ce.stage >= 3 ? u.name : "";
        fprintf(stderr, "ecoctl: %s: %s %s failed: %s\n", s->name, stages[ce.stage], what, strerror(ce.err));
        ecoctl_logs_mark(rt, s, "%s %s failed: %s", stages[ce.stage], what, strerror(ce.err));
        return -ce.err;
    }
    *out = pid;
    return 0;
}

int ecoctl_proc_start(ecoctl_rt_t *rt, const ecoctl_svc_t *s, pid_t *pid)
{
    int fd = open_log(rt, s);
    if (fd < 0)
        return fd;
    int rc = spawn(rt, s, &s->command, fd, 1, pid);
    close(fd);
    return rc;
}

/* Waits for a child of ours, draining capture_fd (may be -1) into out. Kills its whole group
 * when it exits, times out or a signal arrives. *status is the waitpid status. */
static int wait_bounded(ecoctl_rt_t *rt, pid_t pid, long timeout_ms, int capture_fd, char *out, size_t outlen,
                        int *status)
{
    uint64_t deadline = eco_now_ms() + (uint64_t)timeout_ms;
    size_t used = out && outlen ? strlen(out) : 0;
    int rc = 0;
    for (;;) {
        if (waitpid(pid, status, WNOHANG) == pid)
            break;
        if (eco_now_ms() >= deadline || ecoctl_poll_signal(rt)) {
            rc = eco_now_ms() >= deadline ? ECO_ETIMEDOUT : -EINTR;
            kill(-pid, SIGKILL);
            waitpid(pid, status, 0);
            break;
        }
        struct pollfd p = {.fd = capture_fd, .events = POLLIN};
        if (capture_fd >= 0 && poll(&p, 1, 20) > 0) {
            char buf[1024];
            ssize_t n = read(capture_fd, buf, sizeof(buf));
            if (n > 0 && used + 1 < outlen) {
                size_t take = (size_t)n < outlen - 1 - used ? (size_t)n : outlen - 1 - used;
                memcpy(out + used, buf, take);
                out[used += take] = '\0';
            } else if (n <= 0) {
                capture_fd = -1; /* EOF: keep waiting for the exit */
            }
        } else if (capture_fd < 0) {
            struct timespec ts = {0, 10 * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    kill(-pid, SIGKILL); /* a hook or check leaves nothing behind in its group */
    return rc;
}

int ecoctl_proc_hook(ecoctl_rt_t *rt, const ecoctl_svc_t *s, const ecoctl_argv_t *argv, const char *what,
                     long timeout_ms)
{
    int fd = open_log(rt, s);
    if (fd < 0)
        return fd;
    ecoctl_logs_mark(rt, s, "%s: %s%s", what, argv->v[0], argv->n > 1 ? " ..." : "");
    pid_t pid;
    int rc = spawn(rt, s, argv, fd, 0, &pid);
    close(fd);
    if (rc != 0)
        return rc;
    int status = 0;
    rc = wait_bounded(rt, pid, timeout_ms, -1, NULL, 0, &status);
    if (rc == ECO_ETIMEDOUT)
        fprintf(stderr, "ecoctl: %s: %s timed out after %ld ms\n", s->name, what, timeout_ms);
    else if (rc == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
        if (WIFEXITED(status))
            fprintf(stderr, "ecoctl: %s: %s exited with status %d\n", s->name, what, WEXITSTATUS(status));
        else
            fprintf(stderr, "ecoctl: %s: %s killed by signal %d\n", s->name, what, WTERMSIG(status));
        rc = ECO_EIO;
    }
    return rc;
}

int ecoctl_proc_capture(ecoctl_rt_t *rt, const ecoctl_svc_t *s, const ecoctl_argv_t *argv, long timeout_ms, char *out,
                        size_t outlen)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0)
        return -errno;
    if (outlen)
        out[0] = '\0';
    pid_t pid;
    int rc = spawn(rt, s, argv, p[1], 0, &pid);
    close(p[1]);
    if (rc == 0) {
        int status = 0;
        rc = wait_bounded(rt, pid, timeout_ms, p[0], out, outlen, &status);
        if (rc == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
            rc = ECO_EIO;
    }
    close(p[0]);
    return rc;
}

/* ---- ${DATA} ---- */

/* Can u search (x) every directory down to path's deepest existing ancestor? Checked in a
 * child that really switches user, so ACLs and groups count. */
static int traversable_by(const user_t *u, const char *path)
{
    char p[4096];
    struct stat st;
    snprintf(p, sizeof(p), "%s", path);
    while (stat(p, &st) != 0 && strchr(p, '/') && strcmp(p, "/")) {
        char *slash = strrchr(p, '/');
        if (slash == p)
            slash[1] = '\0';
        else
            *slash = '\0';
    }
    pid_t pid = fork();
    if (pid < 0)
        return 0;
    if (pid == 0) {
        if (setgroups((size_t)u->ngroups, u->groups) || setgid(u->gid) || setuid(u->uid))
            _exit(1);
        _exit(access(p, X_OK) == 0 ? 0 : 1);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

char *ecoctl_data_dir_cb(void *ud, const ecoctl_svc_t *s)
{
    const ecoctl_rt_t *rt = ud;
    user_t u;
    if (resolve_user(s, &u) != 0 || !u.active)
        return NULL;
    char link[4096], target[4096];
    snprintf(link, sizeof(link), "%s/data/%s", rt->run_dir, s->name);
    ssize_t n = readlink(link, target, sizeof(target) - 1);
    if (n > 0) {
        target[n] = '\0';
        return eco_strdup(target);
    }
    struct stat st;
    if (lstat(link, &st) == 0 || traversable_by(&u, link))
        return NULL;
    /* FNV-1a of the run dir: one outside directory per run dir and user. */
    uint64_t h = 1469598103934665603ull;
    for (const char *c = rt->run_dir; *c; c++)
        h = (h ^ (unsigned char)*c) * 1099511628211ull;
    eco_buf_t b;
    eco_buf_init(&b, 0);
    eco_buf_addf(&b, "/var/tmp/eco-base-%s-%012llx/%s", u.name, (unsigned long long)(h & 0xffffffffffffull), s->name);
    return eco_buf_detach(&b, NULL);
}

static uid_t chown_uid;
static gid_t chown_gid;

static int chown_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return lchown(path, chown_uid, chown_gid) == 0 ? 0 : -1;
}

/* mkdir that refuses to reuse anything but a real directory owned by root or u. */
static int safe_mkdir(const char *path, const user_t *u)
{
    struct stat st;
    if (mkdir(path, 0700) != 0 && errno != EEXIST)
        return -errno;
    if (lstat(path, &st) != 0)
        return -errno;
    if (!S_ISDIR(st.st_mode) || (st.st_uid != 0 && st.st_uid != u->uid)) {
        fprintf(stderr, "ecoctl: refusing to use %s: not a directory owned by root or %s\n", path, u->name);
        return -EPERM;
    }
    return 0;
}

int ecoctl_proc_prepare_data(ecoctl_rt_t *rt, const ecoctl_svc_t *s)
{
    if (!s->uses_data)
        return 0;
    user_t u;
    int rc = resolve_user(s, &u);
    if (rc != 0)
        return rc;
    char link[4096], parent[4096];
    snprintf(link, sizeof(link), "%s/data/%s", rt->run_dir, s->name);
    if (!u.active) {
        if (mkdir(s->data_dir, 0755) != 0 && errno != EEXIST) {
            fprintf(stderr, "ecoctl: %s: cannot create %s: %s\n", s->name, s->data_dir, strerror(errno));
            return -errno;
        }
        return 0;
    }
    if (strcmp(link, s->data_dir) != 0) {
        snprintf(parent, sizeof(parent), "%s", s->data_dir);
        *strrchr(parent, '/') = '\0';
        if ((rc = safe_mkdir(parent, &u)) != 0 || (rc = safe_mkdir(s->data_dir, &u)) != 0)
            return rc;
        if (chown(parent, u.uid, u.gid) != 0)
            return -errno;
        char cur[4096];
        ssize_t n = readlink(link, cur, sizeof(cur) - 1);
        if (n < 0 || (size_t)n != strlen(s->data_dir) || strncmp(cur, s->data_dir, (size_t)n) != 0) {
            unlink(link);
            if (symlink(s->data_dir, link) != 0) {
                fprintf(stderr, "ecoctl: %s: cannot link %s: %s\n", s->name, link, strerror(errno));
                return -errno;
            }
        }
    } else if ((rc = safe_mkdir(s->data_dir, &u)) != 0) {
        return rc;
    }
    struct stat st;
    if (stat(s->data_dir, &st) == 0 && (st.st_uid != u.uid || st.st_gid != u.gid)) {
        chown_uid = u.uid;
        chown_gid = u.gid;
        if (nftw(s->data_dir, chown_one, 16, FTW_PHYS) != 0) {
            fprintf(stderr, "ecoctl: %s: cannot chown %s to %s\n", s->name, s->data_dir, u.name);
            return ECO_EIO;
        }
    }
    return chmod(s->data_dir, 0700) == 0 ? 0 : -errno;
}
