/* Versioned SQL migrations: dir/NNNN_name.sql applied in order, once, under an advisory lock. */
#include "eco_store.h"
#include "store_internal.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#define MIGRATE_MAX_FILES          1000
#define MIGRATE_MAX_BYTES          (4u << 20)
#define MIGRATE_LOCK_WAIT_MS       120000
#define MIGRATE_CONNECT_TIMEOUT_MS 10000

typedef struct {
    long long version;
    char *file; /* "0001_init.sql" */
    char *name; /* "init" */
    char checksum[65];
    char *sql;
    int applied; /* recorded in schema_migrations before this run */
} migration_t;

typedef struct {
    migration_t *v;
    size_t n;
} migration_set_t;

static void set_free(migration_set_t *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->v[i].file);
        free(s->v[i].name);
        free(s->v[i].sql);
    }
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

/* "NNNN_name.sql": 4-18 digits, '_', [A-Za-z0-9_-]+, ".sql". Fills version and the name part. */
static int parse_file_name(const char *f, long long *version, char **name)
{
    size_t len = strlen(f), digits = 0;
    while (isdigit((unsigned char)f[digits]))
        digits++;
    if (digits < 4 || digits > 18 || f[digits] != '_' || len < digits + 1 + 1 + 4)
        return -1;
    size_t name_end = len - 4;
    for (size_t i = digits + 1; i < name_end; i++)
        if (!isalnum((unsigned char)f[i]) && f[i] != '_' && f[i] != '-')
            return -1;
    *version = strtoll(f, NULL, 10);
    *name = eco_strndup(f + digits + 1, name_end - digits - 1);
    return 0;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

static int cmp_version(const void *a, const void *b)
{
    const migration_t *x = a, *y = b;
    return x->version < y->version ? -1 : x->version > y->version;
}

static int read_file(const char *dir, const char *file, char **out, size_t *len, char *err, size_t errlen)
{
    char path[4096];
    if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, file) >= sizeof(path)) {
        eco__store_seterr(err, errlen, "migration path too long: %s", file);
        return ECO_EINVAL;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        eco__store_seterr(err, errlen, "cannot read migration %s: %s", file, strerror(errno));
        if (fd >= 0)
            close(fd);
        return ECO_EIO;
    }
    if (!S_ISREG(st.st_mode) || st.st_size > (off_t)MIGRATE_MAX_BYTES) {
        eco__store_seterr(err, errlen, "migration %s is not a regular file of at most %u bytes", file,
                          MIGRATE_MAX_BYTES);
        close(fd);
        return ECO_STORE_EMIGRATE;
    }
    size_t size = (size_t)st.st_size, got = 0;
    char *buf = eco_malloc(size + 1);
    while (got < size) {
        ssize_t r = read(fd, buf + got, size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            eco__store_seterr(err, errlen, "cannot read migration %s: %s", file,
                              r < 0 ? strerror(errno) : "short read");
            free(buf);
            close(fd);
            return ECO_EIO;
        }
        got += (size_t)r;
    }
    close(fd);
    buf[size] = '\0';
    *out = buf;
    *len = size;
    return 0;
}

static void sha256_hex(const char *data, size_t len, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32)
        eco_fatal("SHA-256 failed");
    for (unsigned i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static int load_dir(const char *dir, migration_set_t *set, char *err, size_t errlen)
{
    DIR *d = opendir(dir);
    if (!d) {
        eco__store_seterr(err, errlen, "cannot open migrations directory %s: %s", dir, strerror(errno));
        return ECO_EINVAL;
    }
    int rc = 0;
    size_t cap = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *f = de->d_name;
        if (f[0] == '.' || !ends_with(f, ".sql"))
            continue;
        long long version;
        char *name;
        if (parse_file_name(f, &version, &name) != 0) {
            eco__store_seterr(err, errlen, "migration file name %s does not match NNNN_name.sql", f);
            rc = ECO_STORE_EMIGRATE;
            break;
        }
        if (set->n == MIGRATE_MAX_FILES) {
            free(name);
            eco__store_seterr(err, errlen, "more than %d migration files in %s", MIGRATE_MAX_FILES, dir);
            rc = ECO_ENOSPC;
            break;
        }
        if (set->n == cap) {
            cap = cap ? cap * 2 : 16;
            set->v = eco_realloc(set->v, cap * sizeof(*set->v));
        }
        migration_t *m = &set->v[set->n++];
        memset(m, 0, sizeof(*m));
        m->version = version;
        m->name = name;
        m->file = eco_strdup(f);
    }
    closedir(d);
    if (rc)
        return rc;
    qsort(set->v, set->n, sizeof(*set->v), cmp_version);
    for (size_t i = 0; i < set->n; i++) {
        migration_t *m = &set->v[i];
        if (i > 0 && set->v[i - 1].version == m->version) {
            eco__store_seterr(err, errlen, "migrations %s and %s have the same version", set->v[i - 1].file, m->file);
            return ECO_STORE_EMIGRATE;
        }
        size_t len;
        rc = read_file(dir, m->file, &m->sql, &len, err, errlen);
        if (rc)
            return rc;
        /* libpq takes the text as a C string: a NUL would silently cut the migration short. */
        if (memchr(m->sql, '\0', len)) {
            eco__store_seterr(err, errlen, "migration %s contains a NUL byte", m->file);
            return ECO_STORE_EMIGRATE;
        }
        sha256_hex(m->sql, len, m->checksum);
    }
    return 0;
}

static void pg_reason(char *err, size_t errlen, const char *what, const eco_store_pg_error_t *e)
{
    if (e->sqlstate[0])
        eco__store_seterr(err, errlen, "%s: %s (SQLSTATE %s)", what, e->message, e->sqlstate);
    else
        eco__store_seterr(err, errlen, "%s: %s", what, e->message);
}

static int lock_key_param(char buf[24])
{
    return snprintf(buf, 24, "%lld", (long long)ECO_STORE_MIGRATE_LOCK_KEY);
}

static int acquire_lock(PGconn *conn, char *err, size_t errlen)
{
    char key[24];
    lock_key_param(key);
    const char *params[] = {key};
    uint64_t deadline = eco_now_ms() + MIGRATE_LOCK_WAIT_MS;
    int waited = 0;
    for (;;) {
        PGresult *r;
        eco_store_pg_error_t e;
        int rc = eco_store_pg_exec(conn, "SELECT pg_try_advisory_lock($1::bigint)", 1, params, &r, &e);
        if (rc) {
            pg_reason(err, errlen, "taking the migration lock failed", &e);
            return rc;
        }
        int got = PQntuples(r) == 1 && !strcmp(PQgetvalue(r, 0, 0), "t");
        PQclear(r);
        if (got)
            return 0;
        if (!waited++)
            eco_info("waiting for the migration lock held by another session");
        if (eco__store_remaining_ms(deadline) == 0) {
            eco__store_seterr(err, errlen, "timed out after %d ms waiting for the migration lock",
                              MIGRATE_LOCK_WAIT_MS);
            return ECO_ETIMEDOUT;
        }
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

static void release_lock(PGconn *conn)
{
    if (PQstatus(conn) != CONNECTION_OK)
        return;
    if (PQtransactionStatus(conn) != PQTRANS_IDLE)
        eco_store_pg_exec(conn, "ROLLBACK", 0, NULL, NULL, NULL);
    char key[24];
    lock_key_param(key);
    const char *params[] = {key};
    eco_store_pg_exec(conn, "SELECT pg_advisory_unlock($1::bigint)", 1, params, NULL, NULL);
}

/* Marks applied migrations and checks the recorded history against the files. */
static int check_history(PGconn *conn, migration_set_t *set, char *err, size_t errlen)
{
    PGresult *r;
    eco_store_pg_error_t e;
    int rc = eco_store_pg_exec(conn, "SELECT version, name, checksum FROM schema_migrations ORDER BY version", 0, NULL,
                               &r, &e);
    if (rc) {
        pg_reason(err, errlen, "reading schema_migrations failed", &e);
        return rc;
    }
    long long latest = 0;
    for (int row = 0; row < PQntuples(r); row++) {
        long long version = strtoll(PQgetvalue(r, row, 0), NULL, 10);
        const char *checksum = PQgetvalue(r, row, 2);
        if (version > latest)
            latest = version;
        migration_t key = {.version = version};
        migration_t *m = bsearch(&key, set->v, set->n, sizeof(*set->v), cmp_version);
        if (!m) {
            eco_warn("applied migration has no file here (the database is ahead of this release)",
                     ECO_KI("version", version), ECO_KS("name", PQgetvalue(r, row, 1)));
            continue;
        }
        if (strcmp(m->checksum, checksum) != 0) {
            eco__store_seterr(err, errlen,
                              "migration %s was changed after it was applied (checksum %.12s on disk, %.12s applied); "
                              "add a new migration instead",
                              m->file, m->checksum, checksum);
            PQclear(r);
            return ECO_STORE_EMIGRATE;
        }
        m->applied = 1;
    }
    PQclear(r);
    for (size_t i = 0; i < set->n; i++)
        if (!set->v[i].applied && set->v[i].version < latest) {
            eco__store_seterr(err, errlen,
                              "migration %s is numbered below the latest applied version %lld; renumber it above",
                              set->v[i].file, latest);
            return ECO_STORE_EMIGRATE;
        }
    return 0;
}

/* 1-based line of a 1-based character position (PG_DIAG_STATEMENT_POSITION counts characters). */
static int line_of_position(const char *sql, long pos)
{
    int line = 1;
    long chars = 0;
    for (const unsigned char *p = (const unsigned char *)sql; *p && chars < pos - 1; p++) {
        if ((*p & 0xC0) != 0x80)
            chars++;
        if (*p == '\n')
            line++;
    }
    return line;
}

static int apply_one(PGconn *conn, const migration_t *m, char *err, size_t errlen)
{
    eco_store_pg_error_t e;
    char what[320];
    uint64_t t0 = eco_now_ms();
    int rc = eco_store_pg_exec(conn, "BEGIN", 0, NULL, NULL, &e);
    if (rc) {
        pg_reason(err, errlen, "BEGIN failed", &e);
        return rc;
    }
    /* A DDL statement queued behind a long transaction blocks every query behind it: give up instead. */
    rc = eco_store_pg_exec(conn, "SET LOCAL lock_timeout = '60s'", 0, NULL, NULL, &e);
    if (rc) {
        pg_reason(err, errlen, "SET lock_timeout failed", &e);
        return rc;
    }
    /* The simple-query protocol runs every statement of the file inside our transaction. */
    PGresult *r = PQexec(conn, m->sql);
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_EMPTY_QUERY) {
        const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
        const char *msg = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
        const char *pos = r ? PQresultErrorField(r, PG_DIAG_STATEMENT_POSITION) : NULL;
        char line[256];
        eco__store_first_line(line, sizeof(line), msg ? msg : PQerrorMessage(conn));
        if (pos)
            eco__store_seterr(err, errlen, "migration %s failed at line %d: %s (SQLSTATE %s)", m->file,
                              line_of_position(m->sql, strtol(pos, NULL, 10)), line, state ? state : "?");
        else
            eco__store_seterr(err, errlen, "migration %s failed: %s (SQLSTATE %s)", m->file, line, state ? state : "?");
        PQclear(r);
        return PQstatus(conn) == CONNECTION_BAD ? ECO_STORE_ECONN : ECO_STORE_EQUERY;
    }
    PQclear(r);
    if (PQtransactionStatus(conn) != PQTRANS_INTRANS) {
        eco__store_seterr(err, errlen,
                          "migration %s ended the transaction itself; remove BEGIN/COMMIT/ROLLBACK from the file "
                          "and check what it left applied",
                          m->file);
        return ECO_STORE_EMIGRATE;
    }
    char version[24];
    snprintf(version, sizeof(version), "%lld", m->version);
    const char *params[] = {version, m->name, m->checksum};
    rc = eco_store_pg_exec(conn, "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)", 3,
                           params, NULL, &e);
    if (rc == 0)
        rc = eco_store_pg_exec(conn, "COMMIT", 0, NULL, NULL, &e);
    if (rc) {
        snprintf(what, sizeof(what), "recording migration %s failed", m->file);
        pg_reason(err, errlen, what, &e);
        return rc;
    }
    eco_info("migration applied", ECO_KS("file", m->file), ECO_KI("version", m->version),
             ECO_KI("dur_ms", (long long)(eco_now_ms() - t0)));
    return 0;
}

int eco_store_migrate_conn(PGconn *conn, const char *dir, int *applied, char *err, size_t errlen)
{
    if (applied)
        *applied = 0;
    if (!conn || !dir || PQstatus(conn) != CONNECTION_OK || PQtransactionStatus(conn) != PQTRANS_IDLE) {
        eco__store_seterr(err, errlen, "migrate needs an open, idle connection");
        return ECO_EINVAL;
    }
    migration_set_t set = {0};
    int rc = load_dir(dir, &set, err, errlen);
    if (rc) {
        set_free(&set);
        return rc;
    }
    rc = acquire_lock(conn, err, errlen);
    if (rc) {
        set_free(&set);
        return rc;
    }
    eco_store_pg_error_t e;
    rc = eco_store_pg_exec(conn,
                           "CREATE TABLE IF NOT EXISTS schema_migrations ("
                           " version bigint PRIMARY KEY,"
                           " name text NOT NULL,"
                           " checksum text NOT NULL,"
                           " applied_at timestamptz NOT NULL DEFAULT now())",
                           0, NULL, NULL, &e);
    if (rc)
        pg_reason(err, errlen, "creating schema_migrations failed", &e);
    if (rc == 0)
        rc = check_history(conn, &set, err, errlen);
    for (size_t i = 0; rc == 0 && i < set.n; i++) {
        if (set.v[i].applied)
            continue;
        rc = apply_one(conn, &set.v[i], err, errlen);
        if (rc == 0 && applied)
            (*applied)++;
    }
    release_lock(conn);
    set_free(&set);
    return rc;
}

int eco_store_migrate(const char *url, const char *dir, char *err, size_t errlen)
{
    PGconn *conn;
    int rc = eco_store_pg_connect(url, MIGRATE_CONNECT_TIMEOUT_MS, 0, &conn, err, errlen);
    if (rc)
        return rc;
    int applied = 0;
    rc = eco_store_migrate_conn(conn, dir, &applied, err, errlen);
    PQfinish(conn);
    if (rc == 0)
        eco_info("migrations up to date", ECO_KS("dir", dir), ECO_KI("applied", applied));
    else
        eco_error("migrations failed", ECO_KS("dir", dir), ECO_KS("error", err && errlen ? err : ""));
    return rc;
}
