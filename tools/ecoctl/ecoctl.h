/*
 * ecoctl internals: the service manifest (deploy/local/services.yaml), the runtime
 * context, and the process, health and log helpers the commands are built from.
 *
 * Ownership: a manifest owns every string and array hanging off it (ecoctl_manifest_free).
 * Functions return 0 or a negative code; messages go to `err` (manifest) or stderr (runtime).
 */
#ifndef ECOCTL_H
#define ECOCTL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "eco_core.h"

#define ECOCTL_MAX_SERVICES 128
#define ECOCTL_MAX_PORTS    8
#define ECOCTL_MAX_DEPS     32
#define ECOCTL_MAX_ARGS     128
#define ECOCTL_MAX_ENV      128
#define ECOCTL_MAX_STR      8192 /* longest expanded string */
#define ECOCTL_MAX_FILE     (1u << 20)

enum { ECOCTL_EXIT_OK = 0, ECOCTL_EXIT_FAIL = 1, ECOCTL_EXIT_USAGE = 2 };

/* ---------- manifest (manifest.c: pure, no processes, no filesystem writes) ---------- */

/* A NULL-terminated argv; n excludes the NULL. v == NULL means "not set". */
typedef struct {
    char **v;
    size_t n;
} ecoctl_argv_t;

typedef struct {
    char *key;
    char *val;
} ecoctl_env_kv_t;

typedef struct {
    ecoctl_env_kv_t *v;
    size_t n;
} ecoctl_env_t;

typedef enum { ECOCTL_HC_NONE = 0, ECOCTL_HC_HTTP, ECOCTL_HC_TCP, ECOCTL_HC_CMD } ecoctl_hc_kind_t;

typedef struct {
    ecoctl_hc_kind_t kind;
    char *target;            /* http: URL; tcp: "host:port" */
    ecoctl_argv_t cmd;       /* cmd */
    long interval_ms;        /* pause between attempts */
    long attempt_timeout_ms; /* bound on one attempt */
    long start_timeout_ms;   /* bound on the whole wait after a start */
} ecoctl_health_t;

typedef struct {
    char *name;
    int declared; /* as written in the YAML */
    int port;     /* declared + port offset (set by ecoctl_manifest_resolve) */
} ecoctl_port_t;

typedef struct {
    char *name;
    int line; /* where it is declared, for messages */
    ecoctl_argv_t command, init, pre_start, post_start;
    char *creates; /* init runs only while this path does not exist */
    char *user;    /* run as this user when ecoctl is root (NULL = ecoctl's user) */
    char *cwd;     /* NULL = ${ROOT}, or ${DATA} for a service with a user */
    ecoctl_env_t env;
    ecoctl_argv_t path; /* directories (globs allowed) prepended to PATH */
    ecoctl_port_t ports[ECOCTL_MAX_PORTS];
    size_t nports;
    char **deps;
    size_t ndeps;
    size_t *dep_idx; /* indexes into the manifest's services, parallel to deps */
    int critical;
    int stop_signal;
    long stop_grace_ms;
    long hook_timeout_ms; /* bound on init, pre_start and post_start */
    ecoctl_health_t health;
    char *data_dir; /* ${DATA}, set by ecoctl_manifest_resolve */
    int uses_data;  /* some string of this service mentions ${DATA} */
} ecoctl_svc_t;

typedef struct {
    char *path;
    ecoctl_env_t env; /* top-level env, applied to every service before its own */
    ecoctl_svc_t *svcs;
    size_t nsvcs;
    int resolved;
} ecoctl_manifest_t;

/* What ${...} expands to. All strings are borrowed. */
typedef struct {
    const char *root;    /* ${ROOT} */
    const char *run_dir; /* ${RUN_DIR} */
    const char *tools;   /* ${TOOLS} */
    const char *bin;     /* ${BIN} */
    long port_offset;
    /* ${DATA} for svc: returns a malloc'd path (caller frees), or NULL for the default
     * ${RUN_DIR}/data/<svc>. NULL callback = always the default. */
    char *(*data_dir)(void *ud, const ecoctl_svc_t *svc);
    void *ud;
} ecoctl_ctx_t;

/* Parses a manifest from memory. Checks the schema, that every dependency exists and that
 * the dependency graph has no cycle ("dependency cycle: a -> b -> a"). Strings are kept
 * unexpanded. On success *out is the manifest (caller frees with ecoctl_manifest_free). */
int ecoctl_manifest_parse(const char *text, size_t len, const char *name, ecoctl_manifest_t **out, char *err,
                          size_t errlen);
/* Reads and parses a file. */
int ecoctl_manifest_load(const char *path, ecoctl_manifest_t **out, char *err, size_t errlen);
void ecoctl_manifest_free(ecoctl_manifest_t *m);

/* Applies the port offset and expands every ${...} in place. Call once. */
int ecoctl_manifest_resolve(ecoctl_manifest_t *m, const ecoctl_ctx_t *ctx, char *err, size_t errlen);

/* Expands one string for service `self` (NULL: no ${PORT}/${DATA}/${port:NAME}). Ports must
 * already be resolved for ${port:...}. *out is malloc'd (caller frees). */
int ecoctl_expand(const ecoctl_manifest_t *m, const ecoctl_svc_t *self, const ecoctl_ctx_t *ctx, const char *in,
                  char **out, char *err, size_t errlen);

/* Index of the service called name, or -1. */
int ecoctl_manifest_find(const ecoctl_manifest_t *m, const char *name);
/* ${PORT}: the port named "http", else the first declared one; 0 when there is none. */
int ecoctl_svc_main_port(const ecoctl_svc_t *s);

/* Start order: `want` (indexes; NULL/0 = every service) plus everything they depend on,
 * dependencies first, ties in declaration order. `out` must hold m->nsvcs entries; *nout is
 * the count. Fails only on a cycle (already excluded by parse). */
int ecoctl_topo_order(const ecoctl_manifest_t *m, const size_t *want, size_t nwant, size_t *out, size_t *nout,
                      char *err, size_t errlen);

/* ---------- runtime ---------- */

typedef struct {
    char *root, *run_dir, *bin, *tools, *manifest_path;
    long port_offset;
    ecoctl_manifest_t *m;
    ecoctl_ctx_t ctx;
    int sigfd;    /* signalfd for SIGINT/SIGTERM/SIGHUP, or -1 */
    int signo;    /* last signal received (0 = none) */
    int hurry;    /* a second signal (or one during a stop): no more grace periods */
    int stopping; /* inside a stop: any signal means hurry */
    int color;    /* colour the console output */
    int lock_fd;  /* flock on <run-dir>/ecoctl.lock, or -1 */
} ecoctl_rt_t;

typedef enum { ECOCTL_STOPPED = 0, ECOCTL_RUNNING, ECOCTL_DEAD } ecoctl_state_t;

typedef struct {
    pid_t pid;
    unsigned long long starttime; /* field 22 of /proc/<pid>/stat */
    char boot_id[40];
} ecoctl_pidfile_t;

/* ---- proc.c: PID files, spawning, stopping ---- */

/* Creates <run-dir>/{logs,pids,data}. */
int ecoctl_rt_mkdirs(ecoctl_rt_t *rt);
/* Exclusive lock on the run dir. wait: block (printing a note) while another ecoctl holds it;
 * else fail at once with -EWOULDBLOCK. */
int ecoctl_rt_lock(ecoctl_rt_t *rt, int wait);
void ecoctl_rt_unlock(ecoctl_rt_t *rt);
/* Sleeps up to ms, returning early with -EINTR when a signal arrived (rt->signo is set). */
int ecoctl_sleep_ms(ecoctl_rt_t *rt, long ms);
/* Polls the signal fd without blocking; returns the signal number or 0. */
int ecoctl_poll_signal(ecoctl_rt_t *rt);

char *ecoctl_log_path(const ecoctl_rt_t *rt, const ecoctl_svc_t *s);
char *ecoctl_pid_path(const ecoctl_rt_t *rt, const ecoctl_svc_t *s);

/* Reads the PID file and classifies it. RUNNING: the recorded process is alive (same start
 * time, same boot). DEAD: a PID file whose process is gone or whose pid was reused. *pf is
 * filled for RUNNING and DEAD. When clean is set, a DEAD file is removed and any leftover
 * processes of its group are killed. */
/* Writes <run-dir>/pids/<svc>.pid for pid ("pid starttime boot_id"), atomically. */
int ecoctl_pid_write(const ecoctl_rt_t *rt, const ecoctl_svc_t *s, pid_t pid);
void ecoctl_pid_remove(const ecoctl_rt_t *rt, const ecoctl_svc_t *s);

ecoctl_state_t ecoctl_proc_state(const ecoctl_rt_t *rt, const ecoctl_svc_t *s, ecoctl_pidfile_t *pf, int clean);

/* Reads /proc/<pid>/stat: start time (and 'Z'ombie state reported as not alive). 0 if alive. */
int ecoctl_proc_stat(pid_t pid, unsigned long long *starttime, pid_t *ppid, pid_t *pgrp, pid_t *sid, char *state);

/* Prepares ${DATA} (ownership for a service with a user), opens the log, starts the service's
 * command in its own session and writes its PID file. *pid is the child. */
int ecoctl_proc_start(ecoctl_rt_t *rt, const ecoctl_svc_t *s, pid_t *pid);

/* Runs argv to completion like the service (user, env, cwd, log), bounded by timeout_ms.
 * what names it in messages ("init"). Returns 0 when it exited 0. */
int ecoctl_proc_hook(ecoctl_rt_t *rt, const ecoctl_svc_t *s, const ecoctl_argv_t *argv, const char *what,
                     long timeout_ms);

/* Runs argv like the service, capturing up to outlen-1 bytes of its output into out. Returns
 * 0 when it exited 0 within timeout_ms, ECO_ETIMEDOUT, or another negative code. */
int ecoctl_proc_capture(ecoctl_rt_t *rt, const ecoctl_svc_t *s, const ecoctl_argv_t *argv, long timeout_ms, char *out,
                        size_t outlen);

/* Stops the service whose PID file is pf: stop_signal to its process group, then SIGKILL to
 * the group and every descendant after the grace period; verifies they are gone and removes
 * the PID file. Returns 0 when nothing is left. */
int ecoctl_proc_stop(ecoctl_rt_t *rt, const ecoctl_svc_t *s, const ecoctl_pidfile_t *pf);

/* Prepares ${DATA}: creates it (and the symlink for an outside data dir) owned by the
 * service's user. */
int ecoctl_proc_prepare_data(ecoctl_rt_t *rt, const ecoctl_svc_t *s);

/* The ctx.data_dir callback: chooses ${DATA} (see services.yaml). ud is the ecoctl_rt_t. */
char *ecoctl_data_dir_cb(void *ud, const ecoctl_svc_t *s);

/* Non-zero when a port answers a TCP connect on 127.0.0.1. */
int ecoctl_port_in_use(int port);

/* ---- health.c ---- */

void ecoctl_health_global_init(void);
/* One attempt. 0 = healthy; otherwise a reason in why. */
int ecoctl_health_check(ecoctl_rt_t *rt, const ecoctl_svc_t *s, char *why, size_t whylen);
/* Retries until healthy, the start timeout, the process `pid` exiting, or a signal. fresh: pid was
 * just started (a service without a check must then stay alive a moment). 0 = healthy. */
int ecoctl_health_wait(ecoctl_rt_t *rt, const ecoctl_svc_t *s, pid_t pid, int fresh, char *why, size_t whylen);

/* ---- logs.c ---- */

/* Prints the log files of services idx[0..n) ("name | line" when prefix is set), then, when
 * follow is set, follows them until a signal or tick (called about every 200 ms; may be NULL)
 * returns non-zero. offsets (NULL = from the start) is where to begin in each file, indexed
 * like the manifest. */
int ecoctl_logs_show(ecoctl_rt_t *rt, const size_t *idx, size_t n, int follow, int prefix, const long long *offsets,
                     int (*tick)(ecoctl_rt_t *rt));
/* Size of each service's log now, to follow "from here" (out holds m->nsvcs entries). */
void ecoctl_logs_offsets(const ecoctl_rt_t *rt, long long *out);
/* Prints the last `lines` lines of a service's log to stderr, indented. */
void ecoctl_logs_tail(const ecoctl_rt_t *rt, const ecoctl_svc_t *s, int lines);
/* Appends one "--- ecoctl: ... ---" line to the service's log. */
void ecoctl_logs_mark(const ecoctl_rt_t *rt, const ecoctl_svc_t *s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
const char *ecoctl_color(const ecoctl_rt_t *rt, size_t i);

/* ---- orchestration (orch.c) ---- */

/* up: starts want (NULL = all) with dependencies. Returns an exit code. started (may be NULL)
 * receives whether each service was started by this call. */
int ecoctl_up(ecoctl_rt_t *rt, const size_t *want, size_t nwant);
/* down: stops want (NULL = all running) in reverse dependency order. Returns an exit code. */
int ecoctl_down(ecoctl_rt_t *rt, const size_t *want, size_t nwant);
int ecoctl_status(ecoctl_rt_t *rt);
/* Cleans stale PID files of every service (skipped while another ecoctl holds the run dir). */
void ecoctl_sweep(ecoctl_rt_t *rt);
int ecoctl_health(ecoctl_rt_t *rt);
int ecoctl_run(ecoctl_rt_t *rt);
/* clean (clean.c): down, then delete the data dirs (the outside ones under /var/tmp too) and logs
 * of want (NULL = all, and then the run dir itself when nothing else is left in it). */
int ecoctl_clean(ecoctl_rt_t *rt, const size_t *want, size_t nwant);

#endif
