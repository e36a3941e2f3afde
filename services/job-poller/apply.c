/* Applying one job event to PostgreSQL, in one transaction: lock the job row, record the event
 * by (job_id, seq) (a redelivered event finds its row and changes nothing), then move the job to
 * the status the event announces. The transition itself is checked by the ai_jobs trigger; a
 * refusal (constraint ai_jobs_status_transition, SQLSTATE 23514) is an outcome, not an error. */
#include "poller.h"

#include <stdlib.h>
#include <string.h>

#define MAX_PAYLOAD_BYTES (1u << 20)
#define MAX_RESULT_BYTES  (16u << 20)

int apply_validate(const Eco__Jobs__V1__JobEvent *ev, char *why, size_t whylen)
{
    const char *id = ev->job_id ? ev->job_id : "";
    int ok = strlen(id) == 36;
    for (size_t i = 0; ok && i < 36; i++) {
        char ch = id[i];
        if (i == 8 || i == 13 || i == 18 || i == 23)
            ok = ch == '-';
        else
            ok = (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
    }
    if (!ok) {
        snprintf(why, whylen, "job_id is not a UUID");
        return ECO_EINVAL;
    }
    if (ev->type < ECO__JOBS__V1__JOB_EVENT_TYPE__JOB_EVENT_TYPE_QUEUED ||
        ev->type > ECO__JOBS__V1__JOB_EVENT_TYPE__JOB_EVENT_TYPE_EXPIRED) {
        snprintf(why, whylen, "unknown event type %d", (int)ev->type);
        return ECO_EINVAL;
    }
    if (ev->seq > (uint64_t)INT64_MAX) {
        snprintf(why, whylen, "seq out of range");
        return ECO_EINVAL;
    }
    return 0;
}

static int is_final(const char *status)
{
    return strcmp(status, "succeeded") == 0 || strcmp(status, "failed") == 0 || strcmp(status, "cancelled") == 0 ||
           strcmp(status, "expired") == 0;
}

/* The status the event moves the job to, or NULL (progress: no change). */
static const char *target_status(const Eco__Jobs__V1__JobEvent *ev)
{
    switch (ev->type) {
    case ECO__JOBS__V1__JOB_EVENT_TYPE__JOB_EVENT_TYPE_QUEUED:
        return "queued";
    case ECO__JOBS__V1__JOB_EVENT_TYPE__JOB_EVENT_TYPE_STARTED:
        return "running";
    case ECO__JOBS__V1__JOB_EVENT_TYPE__JOB_EVENT_TYPE_SUCCEEDED:
        return "succeeded";
    case ECO__JOBS__V1__JOB_EVENT_TYPE__JOB_EVENT_TYPE_FAILED:
        /* another attempt follows: the job goes back to the queue */
        return ev->retryable || ev->state == ECO__JOBS__V1__JOB_STATE__JOB_STATE_QUEUED ? "queued" : "failed";
    case ECO__JOBS__V1__JOB_EVENT_TYPE__JOB_EVENT_TYPE_CANCELLED:
        return "cancelled";
    case ECO__JOBS__V1__JOB_EVENT_TYPE__JOB_EVENT_TYPE_EXPIRED:
        return "expired";
    default:
        return NULL;
    }
}

static void add_field(eco_buf_t *b, int *n, const char *k, const char *v)
{
    if (!v || !*v)
        return;
    eco_buf_addf(b, "%s\"%s\":", (*n)++ ? "," : "", k);
    eco_buf_add_json_str(b, v, (size_t)-1);
}

static void add_usage(eco_buf_t *b, int *n, const Eco__Ai__V1__Usage *u)
{
    if (!u)
        return;
    eco_buf_addf(b, "%s\"usage\":{\"prompt_tokens\":%u,\"completion_tokens\":%u,\"total_tokens\":%u,\"estimated\":%s}",
                 (*n)++ ? "," : "", u->prompt_tokens, u->completion_tokens, u->total_tokens,
                 u->estimated ? "true" : "false");
}

/* job_events.payload: what happened, without the whole output of a SUCCEEDED event (that goes
 * to ai_jobs.result). Strings are escaped and invalid UTF-8 replaced, so the JSON is valid. */
static void event_payload(eco_buf_t *b, const Eco__Jobs__V1__JobEvent *ev)
{
    int n = 0;
    eco_buf_addc(b, '{');
    if (ev->type != ECO__JOBS__V1__JOB_EVENT_TYPE__JOB_EVENT_TYPE_SUCCEEDED)
        add_field(b, &n, "text", ev->text);
    add_field(b, &n, "error_code", ev->error_code);
    add_field(b, &n, "error_message", ev->error_message);
    add_field(b, &n, "worker", ev->worker);
    add_field(b, &n, "model", ev->model);
    add_field(b, &n, "finish_reason", ev->finish_reason);
    add_usage(b, &n, ev->usage);
    if (ev->attempt)
        eco_buf_addf(b, "%s\"attempt\":%u", n++ ? "," : "", ev->attempt);
    if (ev->at)
        eco_buf_addf(b, "%s\"at\":%lld", n++ ? "," : "", (long long)ev->at);
    if (ev->retryable)
        eco_buf_addf(b, "%s\"retryable\":true", n++ ? "," : "");
    eco_buf_addc(b, '}');
}

/* ai_jobs.result of a succeeded job. */
static void job_result(eco_buf_t *b, const Eco__Jobs__V1__JobEvent *ev)
{
    int n = 0;
    eco_buf_addc(b, '{');
    eco_buf_adds(b, "\"text\":");
    eco_buf_add_json_str(b, ev->text ? ev->text : "", (size_t)-1);
    n++;
    add_field(b, &n, "finish_reason", ev->finish_reason);
    add_field(b, &n, "model", ev->model);
    add_usage(b, &n, ev->usage);
    if (ev->n_embeddings) {
        eco_buf_adds(b, ",\"embeddings\":[");
        for (size_t i = 0; i < ev->n_embeddings; i++) {
            const Eco__Ai__V1__Embedding *em = ev->embeddings[i];
            eco_buf_addf(b, "%s{\"index\":%u,\"values\":[", i ? "," : "", em ? em->index : 0);
            for (size_t j = 0; em && j < em->n_values; j++) {
                if (j)
                    eco_buf_addc(b, ',');
                eco_buf_add_json_double(b, em->values[j]);
            }
            eco_buf_adds(b, "]}");
        }
        eco_buf_addc(b, ']');
    }
    eco_buf_addc(b, '}');
}

static apply_outcome_t classify(int rc, const eco_store_pg_error_t *e, apply_result_t *res, const char *what)
{
    snprintf(res->reason, sizeof(res->reason), "%s: %s%s%s", what, e->message, e->constraint[0] ? " / " : "",
             e->constraint);
    /* Data the tables refuse (class 22 data exception, 23 integrity) will be refused again:
     * report it. Anything else (connection, timeout, locks, a missing table) may pass later. */
    if (rc == ECO_STORE_EQUERY && (strncmp(e->sqlstate, "22", 2) == 0 || strncmp(e->sqlstate, "23", 2) == 0))
        return APPLY_REJECTED;
    return APPLY_RETRY;
}

static apply_outcome_t finish(PGconn *c, apply_outcome_t out, int commit, apply_result_t *res)
{
    eco_store_pg_error_t e = {0};
    int rc = eco_store_pg_exec(c, commit ? "COMMIT" : "ROLLBACK", 0, NULL, NULL, &e);
    if (rc) {
        snprintf(res->reason, sizeof(res->reason), "%s failed: %s", commit ? "COMMIT" : "ROLLBACK", e.message);
        /* A lost COMMIT is retried: the event is then found as a duplicate, never applied twice. */
        return commit ? APPLY_RETRY : out;
    }
    return out;
}

static apply_outcome_t update_status(PGconn *c, const Eco__Jobs__V1__JobEvent *ev, const char *to, apply_result_t *res)
{
    char attempt[16];
    snprintf(attempt, sizeof(attempt), "%u", ev->attempt);
    const char *id = ev->job_id;
    const char *errmsg = ev->error_message && *ev->error_message ? ev->error_message
                         : ev->error_code && *ev->error_code     ? ev->error_code
                                                                 : NULL;
    eco_store_pg_error_t e = {0};
    int rc;
    eco_buf_t result;
    eco_buf_init(&result, MAX_RESULT_BYTES);
    if (strcmp(to, "running") == 0) {
        const char *p[] = {id, attempt};
        rc = eco_store_pg_exec(c,
                               "UPDATE ai_jobs SET status = 'running', started_at = now(), "
                               "attempts = GREATEST(attempts, $2::integer) WHERE id = $1",
                               2, p, NULL, &e);
    } else if (strcmp(to, "queued") == 0) {
        const char *p[] = {id, attempt, errmsg};
        rc = eco_store_pg_exec(c,
                               "UPDATE ai_jobs SET status = 'queued', attempts = GREATEST(attempts, $2::integer), "
                               "error = COALESCE($3, error) WHERE id = $1",
                               3, p, NULL, &e);
    } else if (strcmp(to, "succeeded") == 0) {
        job_result(&result, ev);
        if (!eco_buf_ok(&result)) {
            eco_buf_free(&result);
            snprintf(res->reason, sizeof(res->reason), "result larger than %u bytes", MAX_RESULT_BYTES);
            return APPLY_REJECTED;
        }
        const char *p[] = {id, eco_buf_cstr(&result)};
        rc = eco_store_pg_exec(c,
                               "UPDATE ai_jobs SET status = 'succeeded', result = $2::jsonb, error = NULL, "
                               "finished_at = now() WHERE id = $1",
                               2, p, NULL, &e);
    } else if (strcmp(to, "failed") == 0) {
        const char *p[] = {id, errmsg ? errmsg : "failed"};
        rc = eco_store_pg_exec(c, "UPDATE ai_jobs SET status = 'failed', error = $2, finished_at = now() WHERE id = $1",
                               2, p, NULL, &e);
    } else { /* cancelled, expired */
        const char *p[] = {id, to, errmsg};
        rc = eco_store_pg_exec(c,
                               "UPDATE ai_jobs SET status = $2, error = COALESCE($3, error), finished_at = now() "
                               "WHERE id = $1",
                               3, p, NULL, &e);
    }
    eco_buf_free(&result);
    if (rc)
        return classify(rc, &e, res, "updating the job");
    snprintf(res->status, sizeof(res->status), "%s", to);
    res->final = is_final(to);
    return APPLY_APPLIED;
}

apply_outcome_t apply_event(PGconn *c, const Eco__Jobs__V1__JobEvent *ev, apply_result_t *res)
{
    memset(res, 0, sizeof(*res));
    eco_store_pg_error_t e = {0};
    int rc = eco_store_pg_exec(c, "BEGIN", 0, NULL, NULL, &e);
    if (rc)
        return classify(rc, &e, res, "BEGIN");
    PGresult *r = NULL;
    const char *idp[] = {ev->job_id};
    rc = eco_store_pg_exec(c, "SELECT status, owner_id FROM ai_jobs WHERE id = $1 FOR UPDATE", 1, idp, &r, &e);
    if (rc) {
        apply_outcome_t out = classify(rc, &e, res, "locking the job");
        return finish(c, out == APPLY_REJECTED ? APPLY_RETRY : out, 0, res);
    }
    if (PQntuples(r) == 0) {
        PQclear(r);
        snprintf(res->reason, sizeof(res->reason), "no job %s", ev->job_id);
        return finish(c, APPLY_UNKNOWN_JOB, 0, res);
    }
    char current[16];
    snprintf(current, sizeof(current), "%s", PQgetvalue(r, 0, 0));
    snprintf(res->owner_id, sizeof(res->owner_id), "%s", PQgetvalue(r, 0, 1));
    PQclear(r);

    eco_buf_t payload;
    eco_buf_init(&payload, MAX_PAYLOAD_BYTES);
    event_payload(&payload, ev);
    if (!eco_buf_ok(&payload)) {
        eco_buf_reset(&payload);
        eco_buf_adds(&payload, "{\"truncated\":true}");
    }
    char seq[24];
    snprintf(seq, sizeof(seq), "%llu", (unsigned long long)ev->seq);
    const char *ins[] = {ev->job_id, seq, poller_event_type_name(ev->type), eco_buf_cstr(&payload)};
    r = NULL;
    rc = eco_store_pg_exec(c,
                           "INSERT INTO job_events (job_id, seq, type, payload) VALUES ($1, $2::bigint, $3, $4::jsonb) "
                           "ON CONFLICT (job_id, seq) DO NOTHING",
                           4, ins, &r, &e);
    eco_buf_free(&payload);
    if (rc)
        return finish(c, classify(rc, &e, res, "recording the event"), 0, res);
    int inserted = strcmp(PQcmdTuples(r), "1") == 0;
    PQclear(r);
    if (!inserted) {
        snprintf(res->reason, sizeof(res->reason), "event %s/%s already applied", ev->job_id, seq);
        return finish(c, APPLY_DUPLICATE, 0, res);
    }

    const char *to = target_status(ev);
    apply_outcome_t out = APPLY_APPLIED;
    if (to && is_final(current)) {
        /* the trigger only sees changes; a final job must not take a second final update either */
        snprintf(res->reason, sizeof(res->reason), "job status cannot change from %s to %s", current, to);
        return finish(c, APPLY_REJECTED, 0, res);
    }
    if (to && strcmp(to, current) != 0)
        out = update_status(c, ev, to, res);
    if (out != APPLY_APPLIED)
        return finish(c, out, 0, res);
    return finish(c, APPLY_APPLIED, 1, res);
}
