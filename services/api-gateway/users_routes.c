/* Admin routes: users (list, change role, disable) and the audit trail. Runs on workers. */
#include "app.h"

#include <string.h>

static void list(eco_store_worker_t *w, areq_t *r, const char *sql, int n, const char *const *vals, const char *key)
{
    PGconn *c = db_conn(w, r);
    PGresult *res;
    if (!c || db_query(w, r, c, sql, n, vals, &res, NULL) != 0)
        return;
    json_t *arr = json_array();
    for (int i = 0; i < PQntuples(res); i++)
        json_array_append_new(arr, db_row(res, i));
    areq_json(r, 200, json_pack("{s:o, s:i}", key, arr, "count", PQntuples(res)));
    PQclear(res);
}

void h_users_list(eco_store_worker_t *w, areq_t *r)
{
    char l[16], o[16];
    if (areq_page(r, l, o) != 0)
        return;
    const char *vals[] = {l, o};
    list(w, r,
         "SELECT id, email, role, disabled, created_at, updated_at FROM users ORDER BY created_at, id "
         "LIMIT $1 OFFSET $2",
         2, vals, "users");
}

void h_users_patch(eco_store_worker_t *w, areq_t *r)
{
    const char *k;
    json_t *v;
    json_object_foreach(r->body, k, v)
    {
        if (strcmp(k, "role") != 0 && strcmp(k, "disabled") != 0) {
            areq_error(r, 400, "unknown_parameter", NULL, "unknown field \"%.40s\" (expected role, disabled)", k);
            return;
        }
    }
    json_t *jr = json_object_get(r->body, "role"), *jd = json_object_get(r->body, "disabled");
    const char *role = NULL, *disabled = NULL;
    if (jr) {
        if (!json_is_string(jr) || eco_auth_role_parse(json_string_value(jr)) == ECO_ROLE_NONE) {
            areq_error(r, 400, "invalid_parameter", "role", "role: expected viewer, developer or admin");
            return;
        }
        role = json_string_value(jr);
    }
    if (jd) {
        if (!json_is_boolean(jd)) {
            areq_error(r, 400, "invalid_parameter", "disabled", "disabled: expected true or false");
            return;
        }
        disabled = json_is_true(jd) ? "true" : "false";
    }
    if (!role && !disabled) {
        areq_error(r, 400, "invalid_parameter", NULL, "expected role and/or disabled");
        return;
    }
    if (strcmp(r->id_param, r->id.user_id) == 0) { /* an admin cannot lock themselves out */
        areq_error(r, 409, "cannot_modify_self", "id", "admins cannot change their own role or disable themselves");
        return;
    }
    PGconn *c = db_conn(w, r);
    if (!c)
        return;
    char actor[56];
    areq_actor(r, actor, sizeof(actor));
    /* Disabling also ends the user's sessions; their API keys stop working through the look-up
     * (owner disabled), at the gateways within the key-cache TTL. */
    static const char sql[] =
        "WITH old AS (SELECT id, role, disabled FROM users WHERE id = $1), "
        "upd AS (UPDATE users SET role = coalesce($2, users.role), disabled = coalesce($3::bool, users.disabled) "
        "  WHERE id IN (SELECT id FROM old) RETURNING id, email, role, disabled, created_at, updated_at), "
        "rev AS (UPDATE refresh_tokens SET revoked_at = now() "
        "  WHERE user_id IN (SELECT id FROM upd WHERE disabled) AND revoked_at IS NULL RETURNING id), "
        "aud AS (INSERT INTO governance_records (actor, action, target_type, target_id, outcome, request_id, detail) "
        "  SELECT $4, 'user.update', 'user', u.id::text, 'success', $5, "
        "    jsonb_build_object('role', jsonb_build_array(o.role, u.role), "
        "                       'disabled', jsonb_build_array(o.disabled, u.disabled), "
        "                       'revoked_sessions', (SELECT count(*) FROM rev)) "
        "  FROM upd u JOIN old o ON o.id = u.id) "
        "SELECT * FROM upd";
    const char *vals[] = {r->id_param, role, disabled, actor, r->request_id};
    PGresult *res;
    if (db_query(w, r, c, sql, 5, vals, &res, NULL) != 0)
        return;
    if (PQntuples(res) == 0) {
        areq_error(r, 404, "not_found", "id", "no such user");
    } else {
        db_forget_keys(w, c, "owner_id = $1", r->id_param); /* their keys' roles or validity changed */
        areq_json(r, 200, json_pack("{s:o}", "user", db_row(res, 0)));
    }
    PQclear(res);
}

void h_audit_list(eco_store_worker_t *w, areq_t *r)
{
    char l[16], o[16], action[101], ttype[101], tid[201];
    if (areq_page(r, l, o) != 0)
        return;
    int qa = areq_query(r, "action", action, sizeof(action)), qt = areq_query(r, "target_type", ttype, sizeof(ttype)),
        qi = areq_query(r, "target_id", tid, sizeof(tid));
    if (qa < 0 || qt < 0 || qi < 0)
        return;
    const char *vals[] = {qa ? action : NULL, qt ? ttype : NULL, qi ? tid : NULL, l, o};
    list(w, r,
         "SELECT id, actor, action, target_type, target_id, outcome, detail, request_id, at FROM governance_records "
         "WHERE ($1::text IS NULL OR action = $1) AND ($2::text IS NULL OR target_type = $2) "
         "  AND ($3::text IS NULL OR target_id = $3) "
         "ORDER BY at DESC, id DESC LIMIT $4 OFFSET $5",
         5, vals, "records");
}
