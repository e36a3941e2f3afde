/* Unit tests for eco_http: router, JSON body errors, SSE framing, error shape helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "eco_http.h"
#include "router.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

size_t eco__sse_frame_len(const char *payload, size_t len);
void eco__sse_frame(eco_buf_t *out, const char *payload, size_t len);

static int h_a(eco_http_call_t *c)
{
    return 0;
}
static int h_b(eco_http_call_t *c)
{
    return 1;
}

static const eco_http_route_t *match(eco__router_t *r, const char *m, const char *path, eco_http_param_t *params,
                                     size_t *np, int *pm, char *allow)
{
    return eco__router_match(r, m, strlen(m), path, strlen(path), params, np, pm, allow, 128);
}

static void test_router(void **state)
{
    (void)state;
    static eco__router_t r;
    assert_int_equal(eco__router_add(&r, "GET", "/api/v1/keys", h_a, NULL), 0);
    assert_int_equal(eco__router_add(&r, "POST", "/api/v1/keys", h_b, NULL), 0);
    assert_int_equal(eco__router_add(&r, "POST", "/api/v1/keys/{id}/rotate", h_a, NULL), 0);
    assert_int_equal(eco__router_add(&r, "DELETE", "/api/v1/keys/{id}", h_b, NULL), 0);
    assert_int_equal(eco__router_add(&r, "GET", "/", h_b, NULL), 0);
    assert_int_equal(eco__router_add(&r, "GET", "no-slash", h_b, NULL), ECO_EINVAL);
    eco_http_param_t p[ECO_HTTP_MAX_PARAMS];
    size_t np = 0;
    int pm;
    char allow[128];
    const eco_http_route_t *rt = match(&r, "POST", "/api/v1/keys", p, &np, &pm, allow);
    assert_non_null(rt);
    assert_ptr_equal(rt->fn, h_b);
    rt = match(&r, "POST", "/api/v1/keys/k-42/rotate", p, &np, &pm, allow);
    assert_non_null(rt);
    assert_string_equal(rt->pattern, "/api/v1/keys/{id}/rotate");
    assert_int_equal(np, 1);
    assert_int_equal(p[0].value.len, 4);
    assert_memory_equal(p[0].value.base, "k-42", 4);
    eco_http_call_t call = {.params = {p[0]}, .nparams = 1};
    h2o_iovec_t v = eco_http_param(&call, "id");
    assert_int_equal(v.len, 4);
    assert_null(eco_http_param(&call, "i").base);
    /* 405 with the allowed methods, 404 when no path matches */
    assert_null(match(&r, "PUT", "/api/v1/keys", p, &np, &pm, allow));
    assert_int_equal(pm, 1);
    assert_string_equal(allow, "GET, POST");
    assert_null(match(&r, "GET", "/api/v1/keys/x/y", p, &np, &pm, allow));
    assert_int_equal(pm, 0);
    assert_null(match(&r, "DELETE", "/api/v1/keys/", p, &np, &pm, allow)); /* empty param */
    assert_non_null(match(&r, "GET", "/", p, &np, &pm, allow));
    assert_null(match(&r, "GET", "/api/v1/keysx", p, &np, &pm, allow));
}

static void expect_json_error(const char *body, const char *needle)
{
    char err[256] = "";
    json_t *j = eco_http_json_parse(body, body ? strlen(body) : 0, err, sizeof(err));
    assert_null(j);
    if (!strstr(err, needle))
        fail_msg("error \"%s\" lacks \"%s\"", err, needle);
}

static void test_json_errors(void **state)
{
    (void)state;
    expect_json_error(NULL, "empty");
    expect_json_error("{\"a\":", "not valid JSON");
    expect_json_error("{\"a\":1}x", "not valid JSON");
    expect_json_error("[1,2]", "must be a JSON object");
    expect_json_error("{\"a\":1,\"a\":2}", "duplicate");
    expect_json_error("{\"a\":\"\xff\"}", "not valid JSON");
    char deep[200] = "{\"a\":";
    for (int i = 0; i < 40; i++)
        strcat(deep, "[");
    expect_json_error(deep, "nests deeper than 32");
    /* brackets inside strings do not count as nesting */
    char ok[300] = "{\"a\":\"";
    for (int i = 0; i < 60; i++)
        strcat(ok, "[");
    strcat(ok, "\\\"\"}");
    char err[256];
    json_t *j = eco_http_json_parse(ok, strlen(ok), err, sizeof(err));
    assert_non_null(j);
    json_decref(j);
    j = eco_http_json_parse("{\"model\":\"m\",\"n\":1}", 19, err, sizeof(err));
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "model")), "m");
    json_decref(j);
}

static void test_sse_framing(void **state)
{
    (void)state;
    eco_buf_t b;
    eco_buf_init(&b, 0);
    eco__sse_frame(&b, "{\"x\":1}", 7);
    assert_string_equal(eco_buf_cstr(&b), "data: {\"x\":1}\n\n");
    assert_int_equal(eco__sse_frame_len("{\"x\":1}", 7), b.len);
    eco_buf_reset(&b);
    eco__sse_frame(&b, "a\nb", 3);
    assert_string_equal(eco_buf_cstr(&b), "data: a\ndata: b\n\n");
    assert_int_equal(eco__sse_frame_len("a\nb", 3), b.len);
    eco_buf_reset(&b);
    eco__sse_frame(&b, "[DONE]", 6);
    assert_string_equal(eco_buf_cstr(&b), "data: [DONE]\n\n");
    eco_buf_free(&b);
}

/* ---------- eco_http_check_url against a scripted one-connection server ---------- */

typedef struct {
    int lfd, port;
    const char *answer; /* NULL: accept and stay silent */
    pthread_t t;
} one_shot_t;

static void *one_shot_main(void *arg)
{
    one_shot_t *o = arg;
    int c = accept(o->lfd, NULL, NULL);
    if (c < 0)
        return NULL;
    char req[2048];
    ssize_t n = recv(c, req, sizeof(req) - 1, 0);
    if (n > 0 && o->answer) {
        req[n] = '\0';
        /* the request line and Host header are what a server needs */
        if (strncmp(req, "GET /health HTTP/1.1\r\n", 22) == 0 && strstr(req, "\r\nHost: 127.0.0.1:"))
            send(c, o->answer, strlen(o->answer), MSG_NOSIGNAL);
    } else if (!o->answer) {
        usleep(1500 * 1000);
    }
    close(c);
    return NULL;
}

static void one_shot_start(one_shot_t *o, const char *answer)
{
    o->answer = answer;
    o->lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(o->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(o->lfd, 4), 0);
    socklen_t l = sizeof(a);
    getsockname(o->lfd, (struct sockaddr *)&a, &l);
    o->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&o->t, NULL, one_shot_main, o), 0);
}

static uint64_t check_ms; /* how long the last check_one's check took */

static eco_dep_state_t check_one(const char *answer, char *detail, size_t len)
{
    one_shot_t o;
    one_shot_start(&o, answer);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/health", o.port);
    uint64_t t0 = eco_now_ms();
    eco_dep_state_t st = eco_http_check_url(url, detail, len);
    check_ms = eco_now_ms() - t0;
    pthread_join(o.t, NULL);
    close(o.lfd);
    return st;
}

static void test_check_url(void **state)
{
    (void)state;
    char d[160];
    /* the head may arrive in pieces; the body is not needed */
    assert_int_equal(check_one("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", d, sizeof(d)), ECO_DEP_UP);
    assert_string_equal(d, "HTTP 200");
    assert_int_equal(check_one("HTTP/1.0 503 Service Unavailable\r\n\r\n", d, sizeof(d)), ECO_DEP_DOWN);
    assert_string_equal(d, "HTTP 503");
    assert_int_equal(check_one("SSH-2.0-OpenSSH\r\n\r\n", d, sizeof(d)), ECO_DEP_DOWN);
    assert_string_equal(d, "malformed HTTP answer");
    assert_int_equal(check_one(NULL, d, sizeof(d)), ECO_DEP_DOWN); /* accepts, never answers */
    assert_true(check_ms >= 900 && check_ms < 1400);               /* its one-second bound */
    assert_non_null(strstr(d, "no HTTP answer"));
    /* nothing listening: refused, named */
    one_shot_t o;
    one_shot_start(&o, "x");
    int port = o.port;
    close(o.lfd); /* the accept in the thread fails */
    pthread_join(o.t, NULL);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/health", port);
    assert_int_equal(eco_http_check_url(url, d, sizeof(d)), ECO_DEP_DOWN);
    assert_non_null(strstr(d, "refused"));
    assert_int_equal(eco_http_check_url("https://127.0.0.1:1/health", d, sizeof(d)), ECO_DEP_DOWN);
    assert_string_equal(d, "not an http:// URL");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_router),
        cmocka_unit_test(test_json_errors),
        cmocka_unit_test(test_sse_framing),
        cmocka_unit_test(test_check_url),
    };
    return cmocka_run_group_tests_name("http", tests, NULL, NULL);
}
