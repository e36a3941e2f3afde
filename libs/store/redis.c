/* Redis: URL parsing and the readiness probe (hiredis 0.14, blocking context). */
#include "eco_store.h"
#include "store_internal.h"

#include <ctype.h>
#include <hiredis.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

struct eco_store_redis_probe {
    eco_store_redis_url_t url;
    int timeout_ms;
    redisContext *c; /* kept between runs; NULL after a failure */
};

static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    ch = tolower(ch);
    return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

/* Percent-decodes s[0..n) into out (size outlen); -1 on bad escapes, NUL bytes or overflow. */
static int pct_decode(const char *s, size_t n, char *out, size_t outlen)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int ch = (unsigned char)s[i];
        if (ch == '%') {
            if (i + 2 >= n)
                return -1;
            int a = hexval((unsigned char)s[i + 1]), b = hexval((unsigned char)s[i + 2]);
            if (a < 0 || b < 0)
                return -1;
            ch = a * 16 + b;
            i += 2;
        }
        if (ch == 0 || o + 1 >= outlen)
            return -1;
        out[o++] = (char)ch;
    }
    out[o] = '\0';
    return 0;
}

/* Parses digits s[0..n) as a decimal in [lo, hi]; -1 when not. */
static long parse_num(const char *s, size_t n, long lo, long hi)
{
    if (n == 0 || n > 9)
        return -1;
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v < lo || v > hi ? -1 : v;
}

int eco_store_redis_url_parse(const char *url, eco_store_redis_url_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    out->port = 6379;
    if (!url) {
        eco__store_seterr(err, errlen, "missing Redis URL");
        return ECO_EINVAL;
    }
    if (!strncmp(url, "rediss://", 9)) {
        eco__store_seterr(err, errlen, "rediss:// (TLS) is not supported by hiredis 0.14; use redis://");
        return ECO_EINVAL;
    }
    if (strncmp(url, "redis://", 8) != 0) {
        eco__store_seterr(err, errlen, "expected redis://[[user]:password@]host[:port][/db]");
        return ECO_EINVAL;
    }
    const char *p = url + 8;
    const char *end = p + strcspn(p, "/?#");
    if (*end == '?' || *end == '#') {
        eco__store_seterr(err, errlen, "query parameters are not supported in the Redis URL");
        return ECO_EINVAL;
    }
    const char *at = memrchr(p, '@', (size_t)(end - p));
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        if (!colon) {
            eco__store_seterr(err, errlen, "Redis URL credentials need a password (redis://[user]:password@host)");
            return ECO_EINVAL;
        }
        if (pct_decode(p, (size_t)(colon - p), out->user, sizeof(out->user)) != 0 ||
            pct_decode(colon + 1, (size_t)(at - colon - 1), out->password, sizeof(out->password)) != 0) {
            memset(out->password, 0, sizeof(out->password));
            eco__store_seterr(err, errlen, "bad or too long percent-encoding in the Redis URL credentials");
            return ECO_EINVAL;
        }
        p = at + 1;
    }
    const char *host = p, *host_end;
    if (*p == '[') {
        const char *close = memchr(p, ']', (size_t)(end - p));
        if (!close) {
            eco__store_seterr(err, errlen, "unterminated [IPv6] host in the Redis URL");
            return ECO_EINVAL;
        }
        host = p + 1;
        host_end = close;
        p = close + 1;
    } else {
        host_end = memchr(p, ':', (size_t)(end - p));
        if (!host_end)
            host_end = end;
        p = host_end;
    }
    size_t hlen = (size_t)(host_end - host);
    if (hlen == 0 || hlen >= sizeof(out->host)) {
        eco__store_seterr(err, errlen, "missing or too long host in the Redis URL");
        return ECO_EINVAL;
    }
    for (size_t i = 0; i < hlen; i++)
        if (!isalnum((unsigned char)host[i]) && !strchr(".-_:%", host[i])) {
            eco__store_seterr(err, errlen, "invalid character in the Redis URL host");
            return ECO_EINVAL;
        }
    memcpy(out->host, host, hlen);
    if (p < end) {
        long port = *p == ':' ? parse_num(p + 1, (size_t)(end - p - 1), 1, 65535) : -1;
        if (port < 0) {
            eco__store_seterr(err, errlen, "invalid port in the Redis URL (1-65535)");
            return ECO_EINVAL;
        }
        out->port = (int)port;
    }
    if (*end == '/' && end[1]) {
        long db = parse_num(end + 1, strlen(end + 1), 0, 1000000);
        if (db < 0) {
            eco__store_seterr(err, errlen, "invalid database number in the Redis URL");
            return ECO_EINVAL;
        }
        out->db = (int)db;
    }
    return 0;
}

/* ---------- probe ---------- */

static struct timeval tv_of(int ms)
{
    return (struct timeval){.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
}

static int io_failure(redisContext *c, const char *what, char *err, size_t errlen)
{
    /* A blocking read that hit SO_RCVTIMEO surfaces as REDIS_ERR_IO with EAGAIN's text. */
    int timed_out =
        c->err == REDIS_ERR_IO && (strstr(c->errstr, "temporarily unavailable") || strstr(c->errstr, "timed out"));
    eco__store_seterr(err, errlen, "%s %s: %s", what, timed_out ? "timed out" : "failed",
                      c->errstr[0] ? c->errstr : "connection lost");
    return timed_out ? ECO_ETIMEDOUT : ECO_STORE_ECONN;
}

/* Sends one command with the time left until deadline; *out is the caller's (freeReplyObject). */
static int command(redisContext *c, uint64_t deadline, const char *what, redisReply **out, char *err, size_t errlen,
                   int argc, const char **argv)
{
    *out = NULL;
    int left = eco__store_remaining_ms(deadline);
    if (left == 0) {
        eco__store_seterr(err, errlen, "%s timed out", what);
        return ECO_ETIMEDOUT;
    }
    if (redisSetTimeout(c, tv_of(left)) != REDIS_OK)
        return io_failure(c, what, err, errlen);
    redisReply *r = redisCommandArgv(c, argc, argv, NULL);
    if (!r)
        return io_failure(c, what, err, errlen);
    *out = r;
    return 0;
}

/* First word of an error reply ("WRONGPASS", "NOAUTH"): the rest may echo what we sent. */
static void error_code(const redisReply *r, char *out, size_t outlen)
{
    size_t n = r->str ? strcspn(r->str, " \r\n") : 0;
    if (n >= outlen)
        n = outlen - 1;
    memcpy(out, r->str ? r->str : "", n);
    out[n] = '\0';
}

static int ping(redisContext *c, uint64_t deadline, char *err, size_t errlen)
{
    redisReply *r;
    const char *argv[] = {"PING"};
    int rc = command(c, deadline, "PING", &r, err, errlen, 1, argv);
    if (rc)
        return rc;
    if (r->type == REDIS_REPLY_STATUS && r->str && !strcmp(r->str, "PONG")) {
        freeReplyObject(r);
        return 0;
    }
    char line[160];
    eco__store_first_line(line, sizeof(line), r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply type");
    eco__store_seterr(err, errlen, "PING failed: %s", line);
    freeReplyObject(r);
    return ECO_STORE_EPROTO;
}

static int connect_probe(eco_store_redis_probe_t *p, uint64_t deadline, redisContext **out, char *err, size_t errlen)
{
    const eco_store_redis_url_t *u = &p->url;
    int left = eco__store_remaining_ms(deadline);
    redisContext *c = redisConnectWithTimeout(u->host, u->port, tv_of(left > 0 ? left : 1));
    if (!c)
        eco_fatal("out of memory creating a Redis context");
    if (c->err) {
        int rc = io_failure(c, "connect", err, errlen);
        redisFree(c);
        return rc;
    }
    redisEnableKeepAlive(c);
    redisReply *r = NULL;
    int rc = 0;
    if (u->password[0]) {
        const char *argv[] = {"AUTH", u->user, u->password};
        int argc = u->user[0] ? 3 : 2;
        if (!u->user[0])
            argv[1] = u->password;
        rc = command(c, deadline, "AUTH", &r, err, errlen, argc, argv);
        if (rc == 0 && r->type == REDIS_REPLY_ERROR) {
            char code[32];
            error_code(r, code, sizeof(code));
            eco__store_seterr(err, errlen, "AUTH rejected (%s)", code);
            rc = ECO_STORE_EAUTH;
        }
        freeReplyObject(r);
        r = NULL;
    }
    if (rc == 0 && u->db) {
        char db[16];
        snprintf(db, sizeof(db), "%d", u->db);
        const char *argv[] = {"SELECT", db};
        rc = command(c, deadline, "SELECT", &r, err, errlen, 2, argv);
        if (rc == 0 && r->type == REDIS_REPLY_ERROR) {
            char line[160];
            eco__store_first_line(line, sizeof(line), r->str);
            eco__store_seterr(err, errlen, "SELECT %d failed: %s", u->db, line);
            rc = ECO_STORE_EQUERY;
        }
        freeReplyObject(r);
        r = NULL;
    }
    if (rc == 0) {
        /* Names the connection in CLIENT LIST; an ACL that forbids it is not a health problem. */
        const char *argv[] = {"CLIENT", "SETNAME", "eco-store-probe"};
        rc = command(c, deadline, "CLIENT SETNAME", &r, err, errlen, 3, argv);
        freeReplyObject(r);
    }
    if (rc) {
        redisFree(c);
        return rc;
    }
    *out = c;
    return 0;
}

int eco_store_redis_probe_new(eco_store_redis_probe_t **out, const char *url, int timeout_ms, char *err, size_t errlen)
{
    *out = NULL;
    if (timeout_ms <= 0) {
        eco__store_seterr(err, errlen, "invalid timeout");
        return ECO_EINVAL;
    }
    eco_store_redis_probe_t *p = eco_calloc(1, sizeof(*p));
    int rc = eco_store_redis_url_parse(url, &p->url, err, errlen);
    if (rc) {
        free(p);
        return rc;
    }
    p->timeout_ms = timeout_ms;
    *out = p;
    return 0;
}

int eco_store_redis_probe_run(eco_store_redis_probe_t *p, char *err, size_t errlen)
{
    uint64_t deadline = eco_now_ms() + (uint64_t)p->timeout_ms;
    if (p->c) {
        int rc = ping(p->c, deadline, err, errlen);
        if (rc == 0)
            return 0;
        redisFree(p->c);
        p->c = NULL;
        if (rc == ECO_ETIMEDOUT || eco__store_remaining_ms(deadline) == 0)
            return rc;
    }
    redisContext *c;
    int rc = connect_probe(p, deadline, &c, err, errlen);
    if (rc)
        return rc;
    rc = ping(c, deadline, err, errlen);
    if (rc) {
        redisFree(c);
        return rc;
    }
    p->c = c;
    return 0;
}

void eco_store_redis_probe_free(eco_store_redis_probe_t *p)
{
    if (!p)
        return;
    if (p->c)
        redisFree(p->c);
    explicit_bzero(p->url.password, sizeof(p->url.password));
    free(p);
}

eco_dep_state_t eco_store_redis_ready_check(void *probe, char *detail, size_t detail_len)
{
    uint64_t t0 = eco_now_ms();
    if (eco_store_redis_probe_run(probe, detail, detail_len) != 0)
        return ECO_DEP_DOWN;
    eco__store_seterr(detail, detail_len, "ok in %llu ms", (unsigned long long)(eco_now_ms() - t0));
    return ECO_DEP_UP;
}

int eco_store_redis_ping(const char *url, int timeout_ms, char *err, size_t errlen)
{
    eco_store_redis_probe_t *p;
    int rc = eco_store_redis_probe_new(&p, url, timeout_ms, err, errlen);
    if (rc)
        return rc;
    rc = eco_store_redis_probe_run(p, err, errlen);
    eco_store_redis_probe_free(p);
    return rc;
}
