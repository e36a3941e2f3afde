/* Snapshots: the whole store as a log of the writes that rebuild it, in the WAL's framing:
 * SNAP_BEGIN (seq = the WAL position covered), per collection one CREATE (ts = created_at)
 * and its records as UPSERTs of at most SNAP_BATCH records, then SNAP_END (the number of entries
 * before it). Written to a temporary file, fsync'd, renamed over the previous one and the
 * directory fsync'd, so a crash leaves either the old or the new snapshot. */
#include "index.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SNAP_BATCH 512

typedef struct {
    int fd;
    uint64_t seq, count;
    int err;
} writer_t;

static int put_entry(writer_t *w, uint32_t type, int64_t ts, const uint8_t *payload, size_t len)
{
    if (len > IX_WAL_MAX_PAYLOAD)
        return w->err = -EFBIG;
    ix_entry_t e = {.type = type, .seq = w->seq, .ts_ms = ts, .payload = payload, .len = len};
    uint8_t hdr[IX_WAL_HDR];
    ix_entry_header(hdr, &e);
    int rc = ix_write_all(w->fd, hdr, sizeof(hdr));
    if (rc == 0 && len)
        rc = ix_write_all(w->fd, payload, len);
    if (rc != 0)
        return w->err = rc;
    w->count++;
    return 0;
}

static int put_msg(writer_t *w, uint32_t type, int64_t ts, const ProtobufCMessage *m)
{
    size_t len = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = eco_malloc(len ? len : 1);
    protobuf_c_message_pack(m, buf);
    int rc = put_entry(w, type, ts, buf, len);
    free(buf);
    return rc;
}

static int put_batch(const Eco__Index__V1__UpsertRequest *b, void *data)
{
    return put_msg(data, IX_REC_UPSERT, 0, &b->base);
}

int ix_snapshot_write(ix_store_t *st)
{
    size_t n = strlen(st->snap_path) + 8;
    char *tmp = eco_malloc(n);
    snprintf(tmp, n, "%s.tmp", st->snap_path);
    int64_t now = (int64_t)(eco_wall_time() * 1000.0);
    writer_t w = {.fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600), .seq = st->seq};
    const char *step = "open";
    if (w.fd < 0) {
        w.err = -errno;
        goto fail;
    }
    step = "write";
    if (put_entry(&w, IX_REC_SNAP_BEGIN, now, NULL, 0) != 0)
        goto fail;
    for (size_t i = 0; i < st->ncolls; i++) {
        int64_t created;
        Eco__Index__V1__CreateCollectionRequest *cr = ix_coll_create_request(st->colls[i], &created);
        int rc = put_msg(&w, IX_REC_CREATE, created, &cr->base);
        protobuf_c_message_free_unpacked(&cr->base, NULL);
        if (rc != 0 || ix_coll_each_batch(st->colls[i], SNAP_BATCH, put_batch, &w) != 0)
            goto fail;
    }
    uint8_t cnt[8];
    for (int i = 0; i < 8; i++)
        cnt[i] = (uint8_t)(w.count >> (8 * i));
    if (put_entry(&w, IX_REC_SNAP_END, now, cnt, sizeof(cnt)) != 0)
        goto fail;
    step = "fsync";
    if (fsync(w.fd) != 0) {
        w.err = -errno;
        goto fail;
    }
    close(w.fd);
    w.fd = -1;
    step = "rename";
    if (rename(tmp, st->snap_path) != 0) {
        w.err = -errno;
        goto fail;
    }
    step = "fsync directory";
    if ((w.err = ix_fsync_dir(st->s.data_dir)) != 0)
        goto fail;
    free(tmp);
    st->snap_seq = st->seq;
    st->snap_at = now;
    return 0;
fail:
    eco_error("index: snapshot failed", ECO_KS("step", step), ECO_KS("path", tmp),
              ECO_KS("error", strerror(w.err < 0 ? -w.err : EIO)));
    if (w.fd >= 0)
        close(w.fd);
    if (strcmp(step, "rename") != 0 && strcmp(step, "fsync directory") != 0)
        unlink(tmp);
    free(tmp);
    return -1;
}

typedef struct {
    ix_store_t *st;
    int began, ended, failed;
    uint64_t seq, count;
    int64_t at;
} loader_t;

static int load_entry(const ix_entry_t *e, void *data)
{
    loader_t *l = data;
    if (!l->began) {
        if (e->type != IX_REC_SNAP_BEGIN)
            return -1;
        l->began = 1;
        l->seq = e->seq;
        l->at = e->ts_ms;
        l->count = 1;
        return 0;
    }
    if (l->ended)
        return -1;
    if (e->type == IX_REC_SNAP_END) {
        uint64_t want = 0;
        for (int i = 7; e->len == 8 && i >= 0; i--)
            want = (want << 8) | e->payload[i];
        if (e->len != 8 || want != l->count)
            return -1;
        l->ended = 1;
        return 0;
    }
    if (e->type != IX_REC_CREATE && e->type != IX_REC_UPSERT)
        return -1;
    if (ix_store_apply(l->st, e, 1) != 0)
        l->failed++;
    l->count++;
    return 0;
}

int ix_snapshot_load(ix_store_t *st)
{
    size_t n = strlen(st->snap_path) + 8;
    char *tmp = eco_malloc(n);
    snprintf(tmp, n, "%s.tmp", st->snap_path);
    unlink(tmp); /* an unfinished snapshot of a previous run */
    free(tmp);
    loader_t l = {.st = st};
    uint64_t good = 0, size = 0;
    char why[160];
    int rc = ix_log_scan(st->snap_path, load_entry, &l, &good, &size, why, sizeof(why));
    if (rc < -1) {
        eco_error("index: cannot read the snapshot", ECO_KS("path", st->snap_path), ECO_KS("error", strerror(-rc)));
        return -1;
    }
    if (size == 0 && rc == 0)
        return 0; /* none yet */
    if (rc != 0 || !l.began || !l.ended || good != size) {
        eco_error("index: the snapshot is incomplete or corrupt; refusing to start on partial data",
                  ECO_KS("path", st->snap_path), ECO_KI("offset", good), ECO_KI("size", size),
                  ECO_KS("reason", why[0] ? why : "missing begin or end entry"));
        return -1;
    }
    if (l.failed)
        eco_warn("index: snapshot entries not applied", ECO_KI("entries", l.failed));
    st->snap_seq = l.seq;
    st->snap_at = l.at;
    return 0;
}
