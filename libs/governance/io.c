/* Bounded whole-file reads for the validator and the CLI. */
#include "eco_governance.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int eco_governance_read_file(const char *path, size_t max, char **data, size_t *len)
{
    int fd = strcmp(path, "-") == 0 ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        if (fd != STDIN_FILENO)
            close(fd);
        return -EISDIR;
    }
    if (fd != STDIN_FILENO && S_ISREG(st.st_mode) && (size_t)st.st_size > max) {
        close(fd);
        return ECO_ENOSPC;
    }
    /* Read at most max + 1 bytes: one more than allowed proves the input is too large. */
    size_t cap = 64 << 10, n = 0;
    char *buf = eco_malloc(cap + 1);
    int rc = 0;
    for (;;) {
        if (n == cap) {
            if (cap > max) {
                rc = ECO_ENOSPC;
                break;
            }
            cap = cap * 2 > max + 1 ? max + 1 : cap * 2;
            buf = eco_realloc(buf, cap + 1);
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            rc = -errno;
            break;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n > max) {
            rc = ECO_ENOSPC;
            break;
        }
    }
    if (fd != STDIN_FILENO)
        close(fd);
    if (rc != 0) {
        free(buf);
        return rc;
    }
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return 0;
}
