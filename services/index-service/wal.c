/* The write-ahead log and the framing it shares with snapshots: entries with a CRC32 (zlib),
 * appended and fdatasync'd one at a time; scanning stops at the first torn or corrupt entry. */
#include "index.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <zlib.h>

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* Header: magic(0) len(4) crc(8) type(12) seq(16) ts(24); the CRC covers bytes 12..32 and the
 * payload. */
static uint32_t entry_crc(const uint8_t *hdr, const uint8_t *payload, size_t len)
{
    uLong c = crc32(0L, Z_NULL, 0);
    c = crc32(c, hdr + 12, IX_WAL_HDR - 12);
    while (len > 0) { /* crc32 takes a uInt length */
        uInt chunk = len > (1u << 30) ? (1u << 30) : (uInt)len;
        c = crc32(c, payload, chunk);
        payload += chunk;
        len -= chunk;
    }
    return (uint32_t)c;
}

void ix_entry_header(uint8_t hdr[IX_WAL_HDR], const ix_entry_t *e)
{
    put32(hdr, IX_WAL_MAGIC);
    put32(hdr + 4, (uint32_t)e->len);
    put32(hdr + 12, e->type);
    put64(hdr + 16, e->seq);
    put64(hdr + 24, (uint64_t)e->ts_ms);
    put32(hdr + 8, entry_crc(hdr, e->payload, e->len));
}

int ix_entry_decode(const uint8_t *buf, size_t avail, ix_entry_t *e, size_t *used, char *why, size_t whylen)
{
    if (avail == 0)
        return 0;
    if (avail < IX_WAL_HDR) {
        snprintf(why, whylen, "torn header (%zu of %d bytes)", avail, IX_WAL_HDR);
        return -1;
    }
    if (get32(buf) != IX_WAL_MAGIC) {
        snprintf(why, whylen, "bad magic");
        return -1;
    }
    uint32_t len = get32(buf + 4);
    if (len > IX_WAL_MAX_PAYLOAD) {
        snprintf(why, whylen, "payload length %u out of bounds", len);
        return -1;
    }
    if (avail - IX_WAL_HDR < len) {
        snprintf(why, whylen, "torn entry (%zu of %u payload bytes)", avail - IX_WAL_HDR, len);
        return -1;
    }
    if (entry_crc(buf, buf + IX_WAL_HDR, len) != get32(buf + 8)) {
        snprintf(why, whylen, "checksum mismatch");
        return -1;
    }
    e->type = get32(buf + 12);
    e->seq = get64(buf + 16);
    e->ts_ms = (int64_t)get64(buf + 24);
    e->payload = buf + IX_WAL_HDR;
    e->len = len;
    *used = IX_WAL_HDR + (size_t)len;
    return 1;
}

int ix_log_scan(const char *path, ix_entry_fn fn, void *data, uint64_t *good_end, uint64_t *size, char *why,
                size_t whylen)
{
    *good_end = *size = 0;
    why[0] = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -errno;
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    *size = (uint64_t)sb.st_size;
    if (sb.st_size == 0) {
        close(fd);
        return 0;
    }
    const uint8_t *map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED)
        return -errno;
    size_t off = 0, total = (size_t)sb.st_size;
    int rc = 0;
    for (;;) {
        ix_entry_t e;
        size_t used = 0;
        int d = ix_entry_decode(map + off, total - off, &e, &used, why, whylen);
        if (d <= 0)
            break;
        int r = fn(&e, data);
        if (r < 0) {
            rc = -1;
            break;
        }
        if (r > 0) {
            snprintf(why, whylen, "entry out of order (seq %llu)", (unsigned long long)e.seq);
            break;
        }
        off += used;
    }
    *good_end = off;
    munmap((void *)map, total);
    return rc;
}

int ix_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

int ix_fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) == 0 ? 0 : -errno;
    close(fd);
    return rc;
}

int ix_wal_open(ix_wal_t *w, const char *path, uint64_t end)
{
    w->fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (w->fd < 0)
        return -errno;
    struct stat sb;
    if (fstat(w->fd, &sb) != 0 || ((uint64_t)sb.st_size != end && ftruncate(w->fd, (off_t)end) != 0) ||
        fdatasync(w->fd) != 0) {
        int err = -errno;
        close(w->fd);
        w->fd = -1;
        return err;
    }
    w->path = eco_strdup(path);
    w->bytes = end;
    char *d = eco_strdup(path);
    ix_fsync_dir(dirname(d)); /* the file may be new */
    free(d);
    return 0;
}

int ix_wal_append(ix_wal_t *w, const ix_entry_t *e, double *sync_s)
{
    uint8_t hdr[IX_WAL_HDR];
    ix_entry_header(hdr, e);
    struct iovec iov[2] = {{hdr, IX_WAL_HDR}, {(void *)e->payload, e->len}};
    size_t want = IX_WAL_HDR + e->len, done = 0;
    while (done < want) {
        /* pwritev at the known end: a failed append leaves nothing behind after ftruncate */
        struct iovec v[2];
        int nv = 0;
        size_t skip = done;
        for (int i = 0; i < 2; i++) {
            if (skip >= iov[i].iov_len) {
                skip -= iov[i].iov_len;
                continue;
            }
            v[nv].iov_base = (char *)iov[i].iov_base + skip;
            v[nv].iov_len = iov[i].iov_len - skip;
            skip = 0;
            nv++;
        }
        ssize_t n = pwritev(w->fd, v, nv, (off_t)(w->bytes + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            eco_error("wal: write failed", ECO_KS("path", w->path), ECO_KS("error", strerror(n < 0 ? errno : EIO)));
            if (ftruncate(w->fd, (off_t)w->bytes) != 0)
                eco_fatal("wal: cannot cut a failed append back from %s: %s", w->path, strerror(errno));
            return ECO_EIO;
        }
        done += (size_t)n;
    }
    uint64_t t0 = eco_now_ns();
    if (fdatasync(w->fd) != 0)
        eco_fatal("wal: fdatasync of %s failed (%s): what is durable is unknown", w->path, strerror(errno));
    if (sync_s)
        *sync_s = (double)(eco_now_ns() - t0) / 1e9;
    w->bytes += want;
    return 0;
}

int ix_wal_reset(ix_wal_t *w)
{
    size_t n = strlen(w->path) + 8;
    char *tmp = eco_malloc(n);
    snprintf(tmp, n, "%s.tmp", w->path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || fsync(fd) != 0 || rename(tmp, w->path) != 0) {
        int err = -errno;
        if (fd >= 0)
            close(fd);
        unlink(tmp);
        free(tmp);
        return err;
    }
    free(tmp);
    close(w->fd); /* renamed over: from now on the empty file is the WAL */
    w->fd = fd;
    w->bytes = 0;
    char *d = eco_strdup(w->path);
    int rc = ix_fsync_dir(dirname(d));
    free(d);
    return rc;
}

void ix_wal_close(ix_wal_t *w)
{
    if (w->fd >= 0)
        close(w->fd);
    w->fd = -1;
    free(w->path);
    w->path = NULL;
}
