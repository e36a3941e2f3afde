"""Sign-up, login, refresh rotation with reuse detection, logout, /auth/me and signing-key
rotation, through root-gateway and directly against api-gateway, on real PostgreSQL and Redis."""
import statistics
import time

import pytest

from idstack import (ADMIN_EMAIL, ADMIN_PASSWORD, INTERNAL_SECRET, JWT_SECRET, PASSWORD, forge_jwt, jwt_claims,
                      jwt_header, now, psql)

pytestmark = pytest.mark.deps


def test_signup_creates_a_viewer_and_login_issues_tokens(stack):
    s, _, js = stack.call("POST", "/auth/signup", body={"email": "Alice@Eco.test", "password": PASSWORD})
    assert s == 201 and js["user"]["role"] == "viewer" and js["user"]["email"] == "Alice@Eco.test"
    uid = js["user"]["id"]
    # emails are unique regardless of case
    s, _, js = stack.call("POST", "/auth/signup", body={"email": "alice@eco.test", "password": PASSWORD})
    assert s == 409 and js["error"]["code"] == "email_taken"
    sess = stack.login("ALICE@eco.test")
    assert sess["token_type"] == "Bearer" and sess["expires_in"] == 900
    assert sess["refresh_token"].startswith("eco_rt_") and len(sess["refresh_token"]) == 50
    claims, header = jwt_claims(sess["access_token"]), jwt_header(sess["access_token"])
    assert header == {"alg": "HS256", "typ": "JWT", "kid": "k1"}
    assert claims["sub"] == uid and claims["role"] == "viewer" and claims["aud"] == "eco-base"
    assert 0 < claims["exp"] - now() <= 900
    s, _, me = stack.call("GET", "/auth/me", sess["access_token"])
    assert s == 200 and me["user"]["id"] == uid and me["auth"] == {"kind": "jwt", "role": "viewer",
                                                                    "expires_at": claims["exp"]}
    # only hashes are stored; every write left an audit row
    assert psql(stack.db, f"SELECT password_hash FROM users WHERE id = '{uid}'").startswith("$argon2id$")
    stored = psql(stack.db, "SELECT encode(token_sha256, 'hex') FROM refresh_tokens")
    assert sess["refresh_token"] not in stored
    actions = psql(stack.db, f"SELECT action FROM governance_records WHERE target_id = '{uid}' ORDER BY id").split()
    assert actions == ["user.signup", "session.login"]


@pytest.mark.parametrize("body,param", [
    ({"email": "not-an-email", "password": PASSWORD}, "email"),
    ({"email": "a@b.co", "password": "short"}, "password"),
    ({"email": "a@b.co"}, "password"),
    ({"email": "a@b.co", "password": 12345678901}, "password"),
    ({"email": "x" * 400 + "@b.co", "password": PASSWORD}, "email"),
    ({"email": "a@b.co", "password": "p" * 5000}, "password"),
    ({"email": "a\u0000b@c.co", "password": PASSWORD}, None),  # NUL: refused by the JSON parser itself
])
def test_signup_rejects_bad_input(stack, body, param):
    s, _, js = stack.call("POST", "/auth/signup", body=body)
    assert s == 400 and js["error"]["param"] == param and js["error"]["request_id"]
    assert js["error"]["code"] == ("invalid_parameter" if param else "invalid_json")


def test_unknown_user_and_wrong_password_look_the_same(stack):
    stack.user()  # somebody exists
    _, _, email = stack.user()
    answers, times = {}, {"unknown": [], "wrong": []}
    for i in range(6):
        for kind, em in (("unknown", f"nobody{i}@eco.test"), ("wrong", email)):
            t0 = time.monotonic()
            s, h, js = stack.call("POST", "/auth/login", body={"email": em, "password": "wrong password!"})
            times[kind].append(time.monotonic() - t0)
            js["error"].pop("request_id")
            answers.setdefault(kind, set()).add((s, str(js)))
        if i == 1:  # stay below the per-account failure limit (5) for the known account
            stack.call("POST", "/auth/login", body={"email": email, "password": PASSWORD})
    assert answers["unknown"] == answers["wrong"] and len(answers["wrong"]) == 1
    assert next(iter(answers["wrong"]))[0] == 401
    # the dummy verification costs what a real one does (medians within 3x, plus scheduling noise)
    mu, mw = statistics.median(times["unknown"]), statistics.median(times["wrong"])
    assert mu < mw * 3 + 0.02 and mw < mu * 3 + 0.02, (mu, mw)


def test_sql_injection_in_credentials_is_harmless(stack):
    for email in ("' OR '1'='1", "admin@eco.test' --", "admin@eco.test'; DROP TABLE users; --"):
        s, _, js = stack.call("POST", "/auth/login", body={"email": email, "password": "' OR '1'='1"})
        assert s == 401 and js["error"]["code"] == "invalid_credentials"
    assert psql(stack.db, "SELECT count(*) FROM users") == "1"


def test_refresh_rotates_and_reuse_revokes_the_chain(stack):
    _, _, email = stack.user()
    first = stack.login(email)
    s, _, second = stack.call("POST", "/auth/refresh", body={"refresh_token": first["refresh_token"]})
    assert s == 200 and second["refresh_token"] != first["refresh_token"]
    assert jwt_claims(second["access_token"])["jti"] != jwt_claims(first["access_token"])["jti"]
    s, _, third = stack.call("POST", "/auth/refresh", body={"refresh_token": second["refresh_token"]})
    assert s == 200
    # the old token again: reuse -> the whole chain dies, including the newest token
    s, _, js = stack.call("POST", "/auth/refresh", body={"refresh_token": first["refresh_token"]})
    assert s == 401 and js["error"]["code"] == "refresh_token_reused"
    s, _, js = stack.call("POST", "/auth/refresh", body={"refresh_token": third["refresh_token"]})
    assert s == 401 and js["error"]["code"] == "refresh_token_revoked"
    family = psql(stack.db, "SELECT family_id FROM refresh_tokens "
                            f"WHERE token_sha256 = sha256('{first['refresh_token']}'::bytea)")
    assert psql(stack.db, f"SELECT count(*), count(revoked_at) FROM refresh_tokens WHERE family_id = '{family}'") \
        == "3|3"
    assert psql(stack.db, "SELECT count(*) FROM governance_records WHERE action = 'session.reuse_detected'") == "1"
    # another session of the same user is untouched
    other = stack.login(email)
    s, _, _ = stack.call("POST", "/auth/refresh", body={"refresh_token": other["refresh_token"]})
    assert s == 200


@pytest.mark.parametrize("token", ["", "eco_rt_short", "eco_rt_" + "A" * 43, "eco_sk_" + "A" * 43, "x" * 300])
def test_bad_refresh_tokens(stack, token):
    s, _, js = stack.call("POST", "/auth/refresh", body={"refresh_token": token})
    assert s in (400, 401), js
    assert js["error"]["code"] in ("invalid_refresh_token", "invalid_parameter")


def test_expired_refresh_token(stack):
    _, _, email = stack.user()
    sess = stack.login(email)
    psql(stack.db, "UPDATE refresh_tokens SET created_at = now() - interval '2 days', "
                   "expires_at = now() - interval '1 second'")
    s, _, js = stack.call("POST", "/auth/refresh", body={"refresh_token": sess["refresh_token"]})
    assert s == 401 and js["error"]["code"] == "refresh_token_expired"


def test_logout_revokes_refresh_and_access_tokens(stack):
    _, _, email = stack.user()
    sess, other = stack.login(email), stack.login(email)
    s, _, js = stack.call("POST", "/auth/logout", sess["access_token"], {"refresh_token": sess["refresh_token"]})
    assert s == 200 and js == {"ok": True, "revoked_sessions": 1, "access_token_revoked": True}
    # the access token is dead at the gateway and at api-gateway directly
    for base in (stack.gw.url, stack.api.url):
        s, _, js = stack.call("GET", "/auth/me", sess["access_token"], base=base)
        assert s == 401 and js["error"]["code"] == "token_revoked", base
    s, _, js = stack.call("POST", "/auth/refresh", body={"refresh_token": sess["refresh_token"]})
    assert s == 401
    # the other session lives on until a logout without a refresh token ends them all
    s, _, _ = stack.call("GET", "/auth/me", other["access_token"])
    assert s == 200
    s, _, js = stack.call("POST", "/auth/logout", other["access_token"])
    assert s == 200 and js["revoked_sessions"] == 2  # `other` and the session stack.user() opened
    s, _, _ = stack.call("POST", "/auth/refresh", body={"refresh_token": other["refresh_token"]})
    assert s == 401


def test_login_failures_are_limited_per_account_and_per_ip(make_stack):
    stack = make_stack(api_env={"ECO_LOGIN_MAX_FAILURES": "3", "ECO_LOGIN_MAX_FAILURES_PER_IP": "8"})
    _, _, email = stack.user()
    for _ in range(3):
        s, _, _ = stack.call("POST", "/auth/login", body={"email": email, "password": "nope nope nope"})
        assert s == 401
    # locked: even the right password is refused now, with a Retry-After
    s, h, js = stack.call("POST", "/auth/login", body={"email": email, "password": PASSWORD})
    assert s == 429 and js["error"]["code"] == "too_many_login_attempts"
    assert 0 < int(h["retry-after"]) <= 900
    # unknown accounts are limited the same way (no enumeration through the limiter)
    for i in range(5):
        stack.call("POST", "/auth/login", body={"email": f"ghost{i}@eco.test", "password": "nope nope nope"})
    # 3 + 5 failures from this IP: the IP is now over its limit for any account
    s, _, js = stack.call("POST", "/auth/login", body={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    assert s == 429


def test_signing_keys_rotate_without_logging_anyone_out(make_stack):
    stack = make_stack()
    _, _, email = stack.user()
    old = stack.login(email)
    assert jwt_header(old["access_token"])["kid"] == "k1"
    k2 = "k2:" + "second-signing-secret-0123456789-abcdef"
    # rotation: k2 signs, k1 still verifies (api-gateway and the gateway replica both)
    stack.restart_api(ECO_JWT_KEYS=f"{k2},k1:{JWT_SECRET}")
    gw2 = stack.gateway(ECO_JWT_KEYS=f"{k2},k1:{JWT_SECRET}", ECO_API_GATEWAY_URL=stack.api.url)
    new = stack.login(email, base=gw2.url)
    assert jwt_header(new["access_token"])["kid"] == "k2"
    for tok in (old["access_token"], new["access_token"]):
        s, _, _ = stack.call("GET", "/auth/me", tok, base=gw2.url)
        assert s == 200
    # the old refresh token still works and now yields a k2 token
    s, _, js = stack.call("POST", "/auth/refresh", body={"refresh_token": old["refresh_token"]}, base=gw2.url)
    assert s == 200 and jwt_header(js["access_token"])["kid"] == "k2"
    # retiring k1 ends the old access tokens only
    gw3 = stack.gateway(ECO_JWT_KEYS=k2, ECO_API_GATEWAY_URL=stack.api.url)
    s, _, js = stack.call("GET", "/auth/me", old["access_token"], base=gw3.url)
    assert s == 401 and js["error"]["code"] == "unknown_key_id"
    s, _, _ = stack.call("GET", "/auth/me", new["access_token"], base=gw3.url)
    assert s == 200


def claims_for(uid, **over):
    c = {"iss": "eco-base", "sub": uid, "aud": "eco-base", "role": "admin", "iat": now() - 10, "exp": now() + 600,
         "jti": "f" * 32}
    c.update(over)
    return c


def test_malformed_and_forged_tokens_are_rejected(stack):
    _, uid, _ = stack.user()
    good = forge_jwt({"alg": "HS256", "typ": "JWT", "kid": "k1"}, claims_for(uid, role="viewer"))
    cases = {
        "alg none": (forge_jwt({"alg": "none", "kid": "k1"}, claims_for(uid)).rsplit(".", 1)[0] + ".",
                     "malformed_token"),
        "alg none signed": (forge_jwt({"alg": "none", "kid": "k1"}, claims_for(uid)), "unsupported_algorithm"),
        "HS512": (forge_jwt({"alg": "HS512", "kid": "k1"}, claims_for(uid)), "unsupported_algorithm"),
        "RS256": (forge_jwt({"alg": "RS256", "kid": "k1"}, claims_for(uid)), "unsupported_algorithm"),
        "expired": (forge_jwt({"alg": "HS256", "kid": "k1"}, claims_for(uid, exp=now() - 3600)), "token_expired"),
        "wrong audience": (forge_jwt({"alg": "HS256", "kid": "k1"}, claims_for(uid, aud="other")),
                           "invalid_audience"),
        "wrong issuer": (forge_jwt({"alg": "HS256", "kid": "k1"}, claims_for(uid, iss="evil")), "invalid_audience"),
        "foreign key": (forge_jwt({"alg": "HS256", "kid": "k1"}, claims_for(uid), "x" * 40), "invalid_signature"),
        "unknown kid": (forge_jwt({"alg": "HS256", "kid": "k9"}, claims_for(uid)), "unknown_key_id"),
        "tampered role": (good.split(".")[0] + "." + forge_jwt({}, claims_for(uid)).split(".")[1] + "." +
                          good.split(".")[2], "invalid_signature"),
        "garbage": ("a.b.c", "malformed_token"),
        "two parts": ("abc.def", "malformed_token"),
    }
    for name, (tok, code) in cases.items():
        for base in (stack.gw.url, stack.api.url):
            s, h, js = stack.call("GET", "/auth/me", tok, base=base)
            assert s == 401 and js["error"]["code"] == code, (name, base, js)
            assert h.get("www-authenticate", "").startswith("Bearer")
    s, _, js = stack.call("GET", "/auth/me", good)
    assert s == 200 and js["auth"]["role"] == "viewer"
    for hdr in ("Basic YWRtaW46YWRtaW4=", "Bearer", "Bearer ", "bearer " + good + " x", "Token " + good):
        s, _, js = stack.call("GET", "/auth/me", headers={"Authorization": hdr})
        assert s == 401, hdr
    s, _, js = stack.call("GET", "/auth/me")
    assert s == 401 and js["error"]["code"] == "missing_credentials"


def test_spoofed_identity_headers_are_refused(stack):
    _, uid, _ = stack.user()
    spoof = {"x-eco-auth-kind": "jwt", "x-eco-user-id": uid, "x-eco-role": "admin", "x-eco-token-id": "a" * 32,
             "x-eco-token-exp": str(now() + 600)}
    # directly at api-gateway: without the secret, or with a wrong one
    for extra in ({}, {"x-eco-internal-secret": "guess-" + "x" * 40}):
        s, _, js = stack.call("GET", "/api/v1/users", headers={**spoof, **extra}, base=stack.api.url)
        assert s == 401 and js["error"]["code"] == "untrusted_identity_headers"
    # through the gateway, client-sent x-eco-* headers are dropped: a viewer stays a viewer
    viewer, _, _ = stack.user()
    s, _, js = stack.call("GET", "/api/v1/users", viewer, headers={**spoof, "x-eco-internal-secret": INTERNAL_SECRET})
    assert s == 403 and js["error"]["code"] == "insufficient_role"
    # with the real secret api-gateway believes the headers (this is what root-gateway sends)
    s, _, js = stack.call("GET", "/auth/me", headers={**spoof, "x-eco-internal-secret": INTERNAL_SECRET},
                          base=stack.api.url)
    assert s == 200 and js["user"]["id"] == uid and js["auth"]["role"] == "admin"
    # malformed identity values with the right secret are still refused
    bad = {**spoof, "x-eco-user-id": "1 OR 1=1", "x-eco-internal-secret": INTERNAL_SECRET}
    s, _, js = stack.call("GET", "/auth/me", headers=bad, base=stack.api.url)
    assert s == 400 and js["error"]["code"] == "invalid_identity_headers"


def test_disabled_user_loses_sessions_and_keys(stack):
    tok, uid, email = stack.user("developer")
    key = stack.key(tok)["secret"]
    sess = stack.login(email)
    s, _, _ = stack.call("PATCH", f"/api/v1/users/{uid}", stack.admin(), {"disabled": True})
    assert s == 200
    s, _, js = stack.call("POST", "/auth/refresh", body={"refresh_token": sess["refresh_token"]})
    assert s == 401
    s, _, js = stack.call("POST", "/auth/login", body={"email": email, "password": PASSWORD})
    assert s == 401 and js["error"]["code"] == "invalid_credentials"
    time.sleep(0.6)  # the gateway's key cache TTL
    s, _, _ = stack.call("GET", "/auth/me", key)
    assert s == 401
    # an admin cannot disable or demote themselves
    admin_id = jwt_claims(stack.admin())["sub"]
    s, _, js = stack.call("PATCH", f"/api/v1/users/{admin_id}", stack.admin(), {"role": "viewer"})
    assert s == 409 and js["error"]["code"] == "cannot_modify_self"


def test_password_hash_is_upgraded_when_costs_change(make_stack):
    stack = make_stack(api_env={"ECO_ARGON2_ITERATIONS": "2"})  # the admin was hashed with t=1
    assert ",t=1," in psql(stack.db, "SELECT password_hash FROM users")
    stack.admin()
    assert ",t=2," in psql(stack.db, "SELECT password_hash FROM users")
    assert psql(stack.db, "SELECT count(*) FROM governance_records WHERE action = 'user.password_rehash'") == "1"
    stack._admin = None
    stack.admin()  # still the same password, and no second rehash
    assert psql(stack.db, "SELECT count(*) FROM governance_records WHERE action = 'user.password_rehash'") == "1"


def test_a_full_worker_queue_answers_503(make_stack):
    import concurrent.futures
    stack = make_stack(api_env={"ECO_DB_WORKERS": "1", "ECO_DB_QUEUE_MAX": "1", "ECO_ARGON2_MEMORY_KIB": "65536",
                                "ECO_ARGON2_ITERATIONS": "3"})

    def signup(i):
        return stack.call("POST", "/auth/signup", body={"email": f"q{i}@eco.test", "password": PASSWORD},
                          base=stack.api.url)

    with concurrent.futures.ThreadPoolExecutor(12) as ex:
        results = list(ex.map(signup, range(12)))
    codes = [s for s, _, _ in results]
    assert codes.count(201) >= 2 and codes.count(503) >= 1, codes
    for s, h, js in results:
        if s == 503:
            assert js["error"]["code"] == "overloaded" and h["retry-after"] == "1"
