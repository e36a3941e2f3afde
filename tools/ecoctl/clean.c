/* clean: down, then delete the services' data (also the outside /var/tmp ones) and logs. */
#include "ecoctl.h"

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define OUTSIDE_PREFIX "/var/tmp/eco-base-"

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

static int rm_rf(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : -errno;
    if (nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS) != 0) {
        fprintf(stderr, "ecoctl: cannot remove %s: %s\n", path, strerror(errno));
        return ECO_EIO;
    }
    return 0;
}

static int under(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    return !strncmp(path, dir, n) && path[n] == '/';
}

/* Removes <run-dir>/data/<svc>: the directory, or the symlink and the outside dir it names. */
static int clean_data(const ecoctl_rt_t *rt, const ecoctl_svc_t *s)
{
    char link[PATH_MAX], target[PATH_MAX];
    snprintf(link, sizeof(link), "%s/data/%s", rt->run_dir, s->name);
    ssize_t n = readlink(link, target, sizeof(target) - 1);
    if (n > 0) {
        target[n] = '\0';
        if (!under(target, rt->run_dir) && strncmp(target, OUTSIDE_PREFIX, strlen(OUTSIDE_PREFIX)) != 0) {
            fprintf(stderr, "ecoctl: %s: not removing %s (a data dir ecoctl did not create)\n", s->name, target);
            return ECO_EINVAL;
        }
        int rc = rm_rf(target);
        if (rc != 0)
            return rc;
        char *slash = strrchr(target, '/');
        if (slash && slash != target) {
            *slash = '\0';
            if (!strncmp(target, OUTSIDE_PREFIX, strlen(OUTSIDE_PREFIX)))
                rmdir(target); /* the per-run-dir outside dir, once its last service is gone */
        }
        unlink(link);
        return 0;
    }
    return rm_rf(link);
}

int ecoctl_clean(ecoctl_rt_t *rt, const size_t *want, size_t nwant)
{
    int rc = ecoctl_down(rt, want, nwant);
    if (rc != ECOCTL_EXIT_OK) {
        fprintf(stderr, "ecoctl: not cleaning: some services did not stop\n");
        return rc;
    }
    if (access(rt->run_dir, F_OK) != 0)
        return ECOCTL_EXIT_OK;
    if (ecoctl_rt_lock(rt, 1) != 0)
        return ECOCTL_EXIT_FAIL;
    int failed = 0;
    for (size_t i = 0; i < (want ? nwant : rt->m->nsvcs); i++) {
        const ecoctl_svc_t *s = &rt->m->svcs[want ? want[i] : i];
        char *log = ecoctl_log_path(rt, s);
        failed += clean_data(rt, s) != 0;
        unlink(log);
        free(log);
    }
    if (!want && !failed) {
        static const char *dirs[] = {"data", "logs", "pids"};
        char path[PATH_MAX];
        for (size_t i = 0; i < ECO_ARRAY_SIZE(dirs); i++) {
            snprintf(path, sizeof(path), "%s/%s", rt->run_dir, dirs[i]);
            rmdir(path); /* only when empty: things ecoctl does not know stay */
        }
        snprintf(path, sizeof(path), "%s/dev.key", rt->run_dir); /* its database is gone */
        unlink(path);
        snprintf(path, sizeof(path), "%s/ecoctl.lock", rt->run_dir);
        unlink(path);
        ecoctl_rt_unlock(rt);
        rmdir(rt->run_dir);
    }
    ecoctl_rt_unlock(rt);
    if (!failed)
        printf("clean: removed the data and logs of %zu service(s)\n", want ? nwant : rt->m->nsvcs);
    return failed ? ECOCTL_EXIT_FAIL : ECOCTL_EXIT_OK;
}
