/* The WAL framing of index-service: encoding, the checks that reject torn and corrupt entries,
 * scanning a file with a torn tail, cutting it on open, appending after it, and emptying it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "wal.c"

#include <ftw.h>

static uint8_t *encode(uint32_t type, uint64_t seq, const char *payload, size_t *len)
{
    size_t n = strlen(payload);
    uint8_t *buf = eco_malloc(IX_WAL_HDR + n);
    ix_entry_t e = {.type = type, .seq = seq, .ts_ms = 1700000000123, .payload = (const uint8_t *)payload, .len = n};
    ix_entry_header(buf, &e);
    memcpy(buf + IX_WAL_HDR, payload, n);
    *len = IX_WAL_HDR + n;
    return buf;
}

static void test_round_trip(void **state)
{
    size_t len, used = 0;
    uint8_t *buf = encode(IX_REC_UPSERT, 42, "hello", &len);
    ix_entry_t e;
    char why[128];
    assert_int_equal(ix_entry_decode(buf, len, &e, &used, why, sizeof(why)), 1);
    assert_int_equal(used, len);
    assert_int_equal(e.type, IX_REC_UPSERT);
    assert_int_equal(e.seq, 42);
    assert_int_equal(e.ts_ms, 1700000000123);
    assert_int_equal(e.len, 5);
    assert_memory_equal(e.payload, "hello", 5);
    assert_int_equal(ix_entry_decode(buf, 0, &e, &used, why, sizeof(why)), 0);
    free(buf);
}

static void test_rejects_damage(void **state)
{
    size_t len, used;
    ix_entry_t e;
    char why[128];
    uint8_t *buf = encode(IX_REC_CREATE, 7, "payload bytes", &len);
    /* torn header, torn payload */
    assert_int_equal(ix_entry_decode(buf, 10, &e, &used, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "torn header"));
    assert_int_equal(ix_entry_decode(buf, len - 1, &e, &used, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "torn entry"));
    /* one flipped bit in the payload, in the sequence number, in the magic */
    buf[len - 1] ^= 1;
    assert_int_equal(ix_entry_decode(buf, len, &e, &used, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "checksum"));
    buf[len - 1] ^= 1;
    buf[16] ^= 0x80;
    assert_int_equal(ix_entry_decode(buf, len, &e, &used, why, sizeof(why)), -1);
    buf[16] ^= 0x80;
    assert_int_equal(ix_entry_decode(buf, len, &e, &used, why, sizeof(why)), 1);
    buf[0] = 'X';
    assert_int_equal(ix_entry_decode(buf, len, &e, &used, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "magic"));
    free(buf);
    /* a length beyond the bound is refused before it is trusted */
    uint8_t hdr[IX_WAL_HDR] = {0};
    put32(hdr, IX_WAL_MAGIC);
    put32(hdr + 4, IX_WAL_MAX_PAYLOAD + 1);
    assert_int_equal(ix_entry_decode(hdr, sizeof(hdr), &e, &used, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "out of bounds"));
}

typedef struct {
    uint64_t seqs[16];
    size_t n;
    uint64_t stop_at;
} seen_t;

static int collect(const ix_entry_t *e, void *data)
{
    seen_t *s = data;
    if (s->stop_at && e->seq == s->stop_at)
        return 1;
    s->seqs[s->n++] = e->seq;
    return 0;
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(p);
}

static void test_file_with_torn_tail(void **state)
{
    char dir[] = "/tmp/ix-wal-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof(path), "%s/wal.log", dir);
    ix_wal_t w;
    assert_int_equal(ix_wal_open(&w, path, 0), 0);
    for (uint64_t s = 1; s <= 3; s++) {
        ix_entry_t e = {.type = IX_REC_UPSERT, .seq = s, .payload = (const uint8_t *)"abc", .len = 3};
        double secs = -1;
        assert_int_equal(ix_wal_append(&w, &e, &secs), 0);
        assert_true(secs >= 0);
    }
    uint64_t good_len = w.bytes;
    assert_int_equal(good_len, 3 * (IX_WAL_HDR + 3));
    ix_wal_close(&w);

    /* garbage after the last entry (a torn write) */
    FILE *f = fopen(path, "ab");
    fwrite("\x45\x49\x57\x31garbage", 1, 11, f);
    fclose(f);
    seen_t s = {0};
    uint64_t good, size;
    char why[128];
    assert_int_equal(ix_log_scan(path, collect, &s, &good, &size, why, sizeof(why)), 0);
    assert_int_equal(s.n, 3);
    assert_int_equal(s.seqs[2], 3);
    assert_int_equal(good, good_len);
    assert_int_equal(size, good_len + 11);
    assert_true(why[0] != 0);

    /* opening cuts the tail; an append then follows the last good entry */
    assert_int_equal(ix_wal_open(&w, path, good), 0);
    ix_entry_t e = {.type = IX_REC_DELETE, .seq = 4, .payload = (const uint8_t *)"x", .len = 1};
    assert_int_equal(ix_wal_append(&w, &e, NULL), 0);
    memset(&s, 0, sizeof(s));
    assert_int_equal(ix_log_scan(path, collect, &s, &good, &size, why, sizeof(why)), 0);
    assert_int_equal(s.n, 4);
    assert_int_equal(s.seqs[3], 4);
    assert_int_equal(good, size);

    /* a callback can declare an entry the start of a bad tail */
    memset(&s, 0, sizeof(s));
    s.stop_at = 3;
    assert_int_equal(ix_log_scan(path, collect, &s, &good, &size, why, sizeof(why)), 0);
    assert_int_equal(s.n, 2);
    assert_int_equal(good, 2 * (IX_WAL_HDR + 3));

    /* emptied atomically */
    assert_int_equal(ix_wal_reset(&w), 0);
    assert_int_equal(w.bytes, 0);
    memset(&s, 0, sizeof(s));
    assert_int_equal(ix_log_scan(path, collect, &s, &good, &size, why, sizeof(why)), 0);
    assert_int_equal(s.n, 0);
    assert_int_equal(size, 0);
    ix_wal_close(&w);

    /* a missing file is an empty log */
    assert_int_equal(ix_log_scan("/nonexistent/ix/wal.log", collect, &s, &good, &size, why, sizeof(why)), 0);
    assert_int_equal(size, 0);
    nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_rejects_damage),
        cmocka_unit_test(test_file_with_torn_tail),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
