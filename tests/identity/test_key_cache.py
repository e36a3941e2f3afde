"""The API-key cache's shared Redis level: a key one gateway looked up is known to every other
replica (and to ai-service) without PostgreSQL, and api-gateway drops the shared entry when the
key is revoked, so no replica reads the old answer from Redis."""
import pytest

from idstack import wait_for

pytestmark = pytest.mark.deps

TTL = {"ECO_KEY_CACHE_TTL_MS": "60000"}  # long enough that only a deletion can make an entry go away


def test_a_key_looked_up_by_one_replica_is_known_to_another_without_postgres(make_stack, deps):
    stack = make_stack(gw_env=TTL)
    other = stack.gateway(**TTL)
    dev, _, _ = stack.user("developer")
    secret = stack.key(dev)["secret"]
    assert stack.call("GET", "/v1/models", secret)[0] == 200  # replica A: PostgreSQL, then Redis
    deps.stop("postgres")
    try:
        # replica B never saw the key and cannot reach PostgreSQL: the shared level answers
        s, _, js = stack.call("GET", "/v1/models", secret, base=other.url)
        assert s == 200, js
        # a key nobody looked up yet still cannot be checked
        s, _, js = stack.call("GET", "/v1/models", "eco_sk_" + "A" * 43, base=other.url)
        assert s == 503, js
    finally:
        deps.start("postgres")
    wait_for(lambda: stack.call("GET", "/api/v1/keys", dev)[0] == 200, 30, "PostgreSQL back")


def test_revoking_a_key_drops_its_shared_entry(make_stack):
    stack = make_stack(gw_env=TTL)
    other = stack.gateway(**TTL)
    dev, _, _ = stack.user("developer")
    key = stack.key(dev)
    assert stack.call("GET", "/v1/models", key["secret"])[0] == 200  # cached in Redis for 60 s
    assert stack.call("DELETE", f"/api/v1/keys/{key['id']}", dev)[0] == 200
    # replica B has no entry of its own: it must not read "valid" from Redis
    s, _, js = stack.call("GET", "/v1/models", key["secret"], base=other.url)
    assert s == 401 and js["error"]["code"] == "invalid_api_key", js


def test_changing_the_owner_drops_the_shared_entries_of_their_keys(make_stack):
    stack = make_stack(gw_env=TTL)
    other = stack.gateway(**TTL)
    dev, uid, _ = stack.user("developer")
    key = stack.key(dev)
    assert stack.call("GET", "/v1/models", key["secret"])[0] == 200
    admin = stack.admin()
    assert stack.call("PATCH", f"/api/v1/users/{uid}", admin, body={"disabled": True})[0] == 200
    s, _, js = stack.call("GET", "/v1/models", key["secret"], base=other.url)
    assert s == 401, js
