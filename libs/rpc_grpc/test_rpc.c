/* libs/rpc unit tests: marshalling, status mapping, and an in-process server and client on a
 * 127.0.0.1 ephemeral port (unary, streaming with backpressure, unknown method, deadlines,
 * cancellation, metadata, health, graceful shutdown). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "eco_core.h"
#include "eco_rpc.h"

#include "eco/ai/v1/inference.pb-c.h"
#include "grpc/health/v1/health.pb-c.h"

#include <grpc/byte_buffer.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define INF    &eco__ai__v1__inference__descriptor
#define HEALTH &grpc__health__v1__health__descriptor

/* ---------- shared counters the handlers bump and tests wait on ---------- */

static pthread_mutex_t ev_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ev_cond = PTHREAD_COND_INITIALIZER;
static int cancels;   /* on_cancel callbacks seen */
static int eagains;   /* ECO_RPC_EAGAIN seen by stream producers */
static int producers; /* producer threads still running */

static void ev_bump(int *counter, int by)
{
    pthread_mutex_lock(&ev_lock);
    *counter += by;
    pthread_cond_broadcast(&ev_cond);
    pthread_mutex_unlock(&ev_lock);
}

static int ev_get(int *counter)
{
    pthread_mutex_lock(&ev_lock);
    int v = *counter;
    pthread_mutex_unlock(&ev_lock);
    return v;
}

/* Waits until *counter >= want or timeout_ms passes; returns the final value. */
static int ev_wait(int *counter, int want, long timeout_ms)
{
    uint64_t until = eco_now_ms() + (uint64_t)timeout_ms;
    pthread_mutex_lock(&ev_lock);
    while (*counter < want && eco_now_ms() < until) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 10 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&ev_cond, &ev_lock, &ts);
    }
    int v = *counter;
    pthread_mutex_unlock(&ev_lock);
    return v;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---------- handlers ---------- */

static void on_hang_cancel(eco_rpc_call_t *call, void *data)
{
    (void)data;
    ev_bump(&cancels, 1);
    assert_int_equal(eco_rpc_call_finish(call, GRPC_STATUS_CANCELLED, NULL, NULL, 0), ECO_RPC_ECANCELED);
}

static void *slow_responder(void *arg)
{
    eco_rpc_call_t *call = arg;
    sleep_ms(300);
    Eco__Ai__V1__GenerateResponse resp = ECO__AI__V1__GENERATE_RESPONSE__INIT;
    resp.text = "slow";
    resp.finish_reason = "stop";
    eco_rpc_call_respond(call, &resp.base, NULL, 0);
    return NULL;
}

/* GenerateCompletion: behaviour chosen by the prompt. */
static void h_generate(eco_rpc_call_t *call, const ProtobufCMessage *msg, void *data)
{
    (void)data;
    const Eco__Ai__V1__GenerateRequest *req = (const Eco__Ai__V1__GenerateRequest *)msg;
    const char *p = req->prompt;
    Eco__Ai__V1__GenerateResponse resp = ECO__AI__V1__GENERATE_RESPONSE__INIT;
    Eco__Ai__V1__Usage usage = ECO__AI__V1__USAGE__INIT;
    char buf[64];
    if (strcmp(p, "hang") == 0) {
        /* Never answers: only a cancel (deadline, client, shutdown) ends it. */
        assert_int_equal(eco_rpc_call_set_callbacks(call, on_hang_cancel, NULL, NULL), 0);
        return;
    }
    if (strcmp(p, "slow") == 0) {
        /* Answers 300 ms later from another thread. */
        pthread_t t;
        pthread_attr_t a;
        pthread_attr_init(&a);
        pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
        assert_int_equal(pthread_create(&t, &a, slow_responder, call), 0);
        pthread_attr_destroy(&a);
        return;
    }
    if (strcmp(p, "fail") == 0) {
        eco_rpc_md_t tr[] = {{"retry-after", "2"}};
        eco_rpc_call_finish(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "busy", tr, 1);
        return;
    }
    if (strcmp(p, "deadline") == 0) {
        snprintf(buf, sizeof(buf), "%ld", eco_rpc_call_remaining_ms(call));
        resp.text = buf;
        eco_rpc_call_respond(call, &resp.base, NULL, 0);
        return;
    }
    if (strcmp(p, "nothing") == 0) {
        /* A buggy handler: OK without a response must reach the client as INTERNAL. */
        eco_rpc_call_finish(call, GRPC_STATUS_OK, NULL, NULL, 0);
        return;
    }
    /* Echo: prompt back, authorization as model, x-request-id in headers, a trailer. */
    const char *rid = eco_rpc_call_md(call, "x-request-id");
    if (rid)
        assert_int_equal(eco_rpc_call_add_initial_md(call, "x-request-id", rid, 0), 0);
    assert_int_equal(eco_rpc_call_add_initial_md(call, "Bad Key", "v", 0), ECO_EINVAL);
    const char *auth = eco_rpc_call_md(call, "authorization");
    resp.text = (char *)p;
    resp.model = (char *)(auth ? auth : "");
    resp.finish_reason = "stop";
    usage.prompt_tokens = (uint32_t)req->n_messages;
    usage.completion_tokens = req->_max_tokens_case ? req->max_tokens : 0;
    usage.total_tokens = usage.prompt_tokens + usage.completion_tokens;
    resp.usage = &usage;
    assert_non_null(eco_rpc_call_peer(call));
    assert_string_equal(eco_rpc_call_method(call), "/eco.ai.v1.Inference/GenerateCompletion");
    eco_rpc_md_t tr[] = {{"x-served-by", "test"}};
    assert_int_equal(eco_rpc_call_respond(call, &resp.base, tr, 1), 0);
}

typedef struct {
    eco_rpc_call_t *call;
    long n; /* < 0: until cancelled */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int writable, cancelled;
} producer_t;

static void prod_writable(eco_rpc_call_t *call, void *data)
{
    producer_t *pr = data;
    pthread_mutex_lock(&pr->lock);
    pr->writable = 1;
    pthread_cond_signal(&pr->cond);
    pthread_mutex_unlock(&pr->lock);
}

static void prod_cancel(eco_rpc_call_t *call, void *data)
{
    producer_t *pr = data;
    ev_bump(&cancels, 1);
    pthread_mutex_lock(&pr->lock);
    pr->cancelled = 1;
    pthread_cond_signal(&pr->cond);
    pthread_mutex_unlock(&pr->lock);
}

/* Plays an engine: sends tokens from its own thread as fast as the queue allows. */
static void *producer_main(void *arg)
{
    producer_t *pr = arg;
    char delta[32];
    long i = 0;
    int rc = 0;
    while (pr->n < 0 || i < pr->n) {
        Eco__Ai__V1__CompletionChunk ch = ECO__AI__V1__COMPLETION_CHUNK__INIT;
        snprintf(delta, sizeof(delta), "t%ld ", i);
        ch.delta = delta;
        if (i == 0)
            ch.model = "sim";
        rc = eco_rpc_stream_send(pr->call, &ch.base);
        if (rc == ECO_RPC_EAGAIN) {
            ev_bump(&eagains, 1);
            pthread_mutex_lock(&pr->lock);
            while (!pr->writable && !pr->cancelled)
                pthread_cond_wait(&pr->cond, &pr->lock);
            pr->writable = 0;
            pthread_mutex_unlock(&pr->lock);
            continue;
        }
        if (rc != 0)
            break;
        i++;
        if (pr->n < 0)
            sleep_ms(2);
    }
    if (rc == 0) {
        Eco__Ai__V1__CompletionChunk last = ECO__AI__V1__COMPLETION_CHUNK__INIT;
        Eco__Ai__V1__Usage usage = ECO__AI__V1__USAGE__INIT;
        usage.completion_tokens = (uint32_t)i;
        last.finish_reason = "length";
        last.usage = &usage;
        assert_int_equal(eco_rpc_call_respond(pr->call, &last.base, NULL, 0), 0);
    } else {
        assert_int_equal(rc, ECO_RPC_ECANCELED);
        assert_int_equal(eco_rpc_call_finish(pr->call, GRPC_STATUS_CANCELLED, NULL, NULL, 0), ECO_RPC_ECANCELED);
    }
    /* No callback runs once the call is ended: the state can go. */
    pthread_mutex_destroy(&pr->lock);
    pthread_cond_destroy(&pr->cond);
    free(pr);
    ev_bump(&producers, -1);
    return NULL;
}

/* StreamCompletion: max_tokens chunks (unset: endless until cancelled), then a last chunk. */
static void h_stream(eco_rpc_call_t *call, const ProtobufCMessage *msg, void *data)
{
    (void)data;
    const Eco__Ai__V1__GenerateRequest *req = (const Eco__Ai__V1__GenerateRequest *)msg;
    producer_t *pr = calloc(1, sizeof(*pr));
    pr->call = call;
    pr->n = req->_max_tokens_case ? (long)req->max_tokens : -1;
    pthread_mutex_init(&pr->lock, NULL);
    pthread_cond_init(&pr->cond, NULL);
    assert_int_equal(eco_rpc_call_set_callbacks(call, prod_cancel, prod_writable, pr), 0);
    ev_bump(&producers, 1);
    pthread_t t;
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    assert_int_equal(pthread_create(&t, &a, producer_main, pr), 0);
    pthread_attr_destroy(&a);
}

static eco_rpc_health_status_t inference_health = ECO_RPC_HEALTH_SERVING;

static eco_rpc_health_status_t health_fn(const char *service, void *data)
{
    (void)data;
    if (service[0] == '\0')
        return ECO_RPC_HEALTH_SERVING;
    if (strcmp(service, "eco.ai.v1.Inference") == 0)
        return __atomic_load_n(&inference_health, __ATOMIC_SEQ_CST);
    return ECO_RPC_HEALTH_SERVICE_UNKNOWN;
}

/* ---------- fixture ---------- */

typedef struct {
    eco_rpc_server_t *srv;
    eco_rpc_channel_t *ch;
    int port;
} fx_t;

static int fx_max_calls; /* 0 = default */

static void fx_start(fx_t *fx, int queue_max, int with_health_fn)
{
    eco_rpc_server_opts_t o = {
        .addr = "127.0.0.1:0", .threads = 2, .stream_queue_max = queue_max, .max_calls = fx_max_calls};
    fx->srv = eco_rpc_server_create(&o);
    assert_int_equal(eco_rpc_server_add_method(fx->srv, INF, "GenerateCompletion", ECO_RPC_UNARY, h_generate, NULL), 0);
    assert_int_equal(
        eco_rpc_server_add_method(fx->srv, INF, "StreamCompletion", ECO_RPC_SERVER_STREAMING, h_stream, NULL), 0);
    /* Duplicates and unknown names are refused. */
    assert_int_equal(eco_rpc_server_add_method(fx->srv, INF, "GenerateCompletion", ECO_RPC_UNARY, h_generate, NULL),
                     ECO_EINVAL);
    assert_int_equal(eco_rpc_server_add_method(fx->srv, INF, "NoSuchMethod", ECO_RPC_UNARY, h_generate, NULL),
                     ECO_EINVAL);
    assert_int_equal(eco_rpc_health_register(fx->srv, with_health_fn ? health_fn : NULL, NULL, 50), 0);
    fx->port = eco_rpc_server_start(fx->srv);
    assert_true(fx->port > 0);
    assert_int_equal(eco_rpc_server_port(fx->srv), fx->port);
    char target[64];
    snprintf(target, sizeof(target), "127.0.0.1:%d", fx->port);
    fx->ch = eco_rpc_channel_create(target, NULL);
}

static void fx_stop(fx_t *fx)
{
    eco_rpc_channel_destroy(fx->ch);
    assert_int_equal(eco_rpc_server_shutdown(fx->srv, 2000), 0);
    assert_int_equal(eco_rpc_server_inflight(fx->srv), 0);
    eco_rpc_server_destroy(fx->srv);
    /* Producer threads end with their calls. */
    for (int i = 0; i < 200 && ev_get(&producers) > 0; i++)
        sleep_ms(5);
    assert_int_equal(ev_get(&producers), 0);
}

static int unary(fx_t *fx, const char *prompt, long timeout_ms, const eco_rpc_md_t *md, size_t nmd,
                 Eco__Ai__V1__GenerateResponse **resp, eco_rpc_result_t *res)
{
    Eco__Ai__V1__GenerateRequest req = ECO__AI__V1__GENERATE_REQUEST__INIT;
    req.prompt = (char *)prompt;
    eco_rpc_call_opts_t o = {.timeout_ms = timeout_ms, .md = md, .nmd = nmd};
    return eco_rpc_client_unary(fx->ch, INF, "GenerateCompletion", &req.base, &o, (ProtobufCMessage **)resp, res);
}

/* ---------- tests: marshalling and status ---------- */

static void test_pack_roundtrip(void **state)
{
    (void)state;
    Eco__Ai__V1__GenerateRequest req = ECO__AI__V1__GENERATE_REQUEST__INIT;
    Eco__Ai__V1__ChatMessage m0 = ECO__AI__V1__CHAT_MESSAGE__INIT, m1 = ECO__AI__V1__CHAT_MESSAGE__INIT;
    Eco__Ai__V1__ChatMessage *msgs[] = {&m0, &m1};
    char *stop[] = {"\n\n", "END"};
    m0.role = "system";
    m0.content = "be brief";
    m1.role = "user";
    m1.content = "h\xc3\xa9llo";
    req.request_id = "r-1";
    req.model = "llama";
    req.n_messages = 2;
    req.messages = msgs;
    req.n_stop = 2;
    req.stop = stop;
    req._max_tokens_case = ECO__AI__V1__GENERATE_REQUEST___MAX_TOKENS_MAX_TOKENS;
    req.max_tokens = 128;
    /* Set to zero: presence must survive the round trip (greedy, not "default"). */
    req._temperature_case = ECO__AI__V1__GENERATE_REQUEST___TEMPERATURE_TEMPERATURE;
    req.temperature = 0.0;
    req.priority = ECO__AI__V1__PRIORITY__PRIORITY_HIGH;

    grpc_byte_buffer *bb = eco_rpc_pack(&req.base);
    assert_non_null(bb);
    assert_int_equal(grpc_byte_buffer_length(bb), protobuf_c_message_get_packed_size(&req.base));
    ProtobufCMessage *out = NULL;
    assert_int_equal(eco_rpc_unpack(&eco__ai__v1__generate_request__descriptor, bb, &out), 0);
    grpc_byte_buffer_destroy(bb);
    Eco__Ai__V1__GenerateRequest *r = (Eco__Ai__V1__GenerateRequest *)out;
    assert_string_equal(r->request_id, "r-1");
    assert_string_equal(r->model, "llama");
    assert_int_equal(r->n_messages, 2);
    assert_string_equal(r->messages[1]->role, "user");
    assert_string_equal(r->messages[1]->content, "h\xc3\xa9llo");
    assert_int_equal(r->n_stop, 2);
    assert_string_equal(r->stop[1], "END");
    assert_int_equal(r->_max_tokens_case, ECO__AI__V1__GENERATE_REQUEST___MAX_TOKENS_MAX_TOKENS);
    assert_int_equal(r->max_tokens, 128);
    assert_int_equal(r->_temperature_case, ECO__AI__V1__GENERATE_REQUEST___TEMPERATURE_TEMPERATURE);
    assert_true(r->temperature == 0.0);
    assert_int_equal(r->_seed_case, 0); /* unset stays unset */
    assert_int_equal(r->_top_p_case, 0);
    assert_int_equal(r->priority, ECO__AI__V1__PRIORITY__PRIORITY_HIGH);
    protobuf_c_message_free_unpacked(out, NULL);

    /* The same bytes split over two slices (the copying path). */
    size_t n = protobuf_c_message_get_packed_size(&req.base);
    uint8_t *raw = malloc(n);
    protobuf_c_message_pack(&req.base, raw);
    grpc_slice s[2] = {grpc_slice_from_copied_buffer((char *)raw, 5),
                       grpc_slice_from_copied_buffer((char *)raw + 5, n - 5)};
    bb = grpc_raw_byte_buffer_create(s, 2);
    grpc_slice_unref(s[0]);
    grpc_slice_unref(s[1]);
    assert_int_equal(eco_rpc_unpack(&eco__ai__v1__generate_request__descriptor, bb, &out), 0);
    assert_int_equal(((Eco__Ai__V1__GenerateRequest *)out)->max_tokens, 128);
    protobuf_c_message_free_unpacked(out, NULL);
    grpc_byte_buffer_destroy(bb);
    free(raw);
}

static void test_pack_empty_vs_null(void **state)
{
    (void)state;
    Eco__Ai__V1__GenerateRequest empty = ECO__AI__V1__GENERATE_REQUEST__INIT;
    grpc_byte_buffer *bb = eco_rpc_pack(&empty.base);
    assert_int_equal(grpc_byte_buffer_length(bb), 0);
    ProtobufCMessage *out = (ProtobufCMessage *)&empty;
    assert_int_equal(eco_rpc_unpack(&eco__ai__v1__generate_request__descriptor, bb, &out), 0);
    assert_non_null(out);
    Eco__Ai__V1__GenerateRequest *r = (Eco__Ai__V1__GenerateRequest *)out;
    assert_string_equal(r->prompt, "");
    assert_int_equal(r->n_messages, 0);
    assert_int_equal(r->_temperature_case, 0);
    protobuf_c_message_free_unpacked(out, NULL);
    grpc_byte_buffer_destroy(bb);

    /* No message at all is not the same as an empty one. */
    out = (ProtobufCMessage *)&empty;
    assert_int_equal(eco_rpc_unpack(&eco__ai__v1__generate_request__descriptor, NULL, &out), ECO_RPC_EPROTO);
    assert_null(out);

    /* Truncated bytes: a length-delimited field claiming more than there is. */
    grpc_slice s = grpc_slice_from_copied_buffer("\x0a\x10"
                                                 "abc",
                                                 5);
    bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    assert_int_equal(eco_rpc_unpack(&eco__ai__v1__generate_request__descriptor, bb, &out), ECO_RPC_EPROTO);
    assert_null(out);
    grpc_byte_buffer_destroy(bb);
}

static void test_status_table(void **state)
{
    (void)state;
    static const struct {
        grpc_status_code code;
        const char *name;
        int http;
    } t[] = {
        {GRPC_STATUS_OK, "OK", 200},
        {GRPC_STATUS_CANCELLED, "CANCELLED", 499},
        {GRPC_STATUS_UNKNOWN, "UNKNOWN", 500},
        {GRPC_STATUS_INVALID_ARGUMENT, "INVALID_ARGUMENT", 400},
        {GRPC_STATUS_DEADLINE_EXCEEDED, "DEADLINE_EXCEEDED", 504},
        {GRPC_STATUS_NOT_FOUND, "NOT_FOUND", 404},
        {GRPC_STATUS_ALREADY_EXISTS, "ALREADY_EXISTS", 409},
        {GRPC_STATUS_PERMISSION_DENIED, "PERMISSION_DENIED", 403},
        {GRPC_STATUS_RESOURCE_EXHAUSTED, "RESOURCE_EXHAUSTED", 429},
        {GRPC_STATUS_FAILED_PRECONDITION, "FAILED_PRECONDITION", 400},
        {GRPC_STATUS_ABORTED, "ABORTED", 409},
        {GRPC_STATUS_OUT_OF_RANGE, "OUT_OF_RANGE", 400},
        {GRPC_STATUS_UNIMPLEMENTED, "UNIMPLEMENTED", 501},
        {GRPC_STATUS_INTERNAL, "INTERNAL", 500},
        {GRPC_STATUS_UNAVAILABLE, "UNAVAILABLE", 503},
        {GRPC_STATUS_DATA_LOSS, "DATA_LOSS", 500},
        {GRPC_STATUS_UNAUTHENTICATED, "UNAUTHENTICATED", 401},
    };
    for (size_t i = 0; i < ECO_ARRAY_SIZE(t); i++) {
        assert_int_equal(t[i].code, (grpc_status_code)i); /* the table covers 0..16 in order */
        assert_string_equal(eco_rpc_status_name(t[i].code), t[i].name);
        assert_int_equal(eco_rpc_status_to_http(t[i].code), t[i].http);
        grpc_status_code c = GRPC_STATUS__DO_NOT_USE;
        assert_int_equal(eco_rpc_status_from_name(t[i].name, &c), 0);
        assert_int_equal(c, t[i].code);
    }
    grpc_status_code c;
    assert_int_equal(eco_rpc_status_from_name("unavailable", &c), 0);
    assert_int_equal(c, GRPC_STATUS_UNAVAILABLE);
    assert_int_equal(eco_rpc_status_from_name("NOPE", &c), ECO_EINVAL);
    assert_string_equal(eco_rpc_status_name((grpc_status_code)99), "UNKNOWN");
    assert_int_equal(eco_rpc_status_to_http((grpc_status_code)99), 500);

    static const struct {
        int http;
        grpc_status_code code;
    } h[] = {
        {200, GRPC_STATUS_OK},
        {400, GRPC_STATUS_INVALID_ARGUMENT},
        {401, GRPC_STATUS_UNAUTHENTICATED},
        {403, GRPC_STATUS_PERMISSION_DENIED},
        {404, GRPC_STATUS_NOT_FOUND},
        {408, GRPC_STATUS_DEADLINE_EXCEEDED},
        {409, GRPC_STATUS_ABORTED},
        {413, GRPC_STATUS_INVALID_ARGUMENT},
        {418, GRPC_STATUS_FAILED_PRECONDITION},
        {422, GRPC_STATUS_INVALID_ARGUMENT},
        {429, GRPC_STATUS_RESOURCE_EXHAUSTED},
        {499, GRPC_STATUS_CANCELLED},
        {500, GRPC_STATUS_INTERNAL},
        {501, GRPC_STATUS_UNIMPLEMENTED},
        {502, GRPC_STATUS_UNAVAILABLE},
        {503, GRPC_STATUS_UNAVAILABLE},
        {504, GRPC_STATUS_DEADLINE_EXCEEDED},
        {302, GRPC_STATUS_UNKNOWN},
    };
    for (size_t i = 0; i < ECO_ARRAY_SIZE(h); i++)
        assert_int_equal(eco_rpc_status_from_http(h[i].http), h[i].code);
}

/* ---------- tests: server + client ---------- */

static void test_unary_metadata(void **state)
{
    (void)state;
    fx_t fx;
    fx_start(&fx, 8, 1);
    eco_rpc_md_t md[] = {{"authorization", "Bearer t0k"},
                         {"x-request-id", "req-42"},
                         {"traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}};
    Eco__Ai__V1__GenerateResponse *resp = NULL;
    eco_rpc_result_t res;
    assert_int_equal(unary(&fx, "hello", 5000, md, 3, &resp, &res), 0);
    assert_int_equal(res.status, GRPC_STATUS_OK);
    assert_string_equal(resp->text, "hello");
    assert_string_equal(resp->model, "Bearer t0k");
    assert_string_equal(resp->finish_reason, "stop");
    assert_non_null(resp->usage);
    assert_string_equal(eco_rpc_mdlist_get(&res.initial_md, "x-request-id", NULL), "req-42");
    assert_string_equal(eco_rpc_mdlist_get(&res.trailing_md, "x-served-by", NULL), "test");
    assert_null(eco_rpc_mdlist_get(&res.trailing_md, "x-request-id", NULL));
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    eco_rpc_result_free(&res);

    /* Error status with details and a retry-after trailer. */
    assert_int_equal(unary(&fx, "fail", 5000, NULL, 0, &resp, &res), ECO_RPC_ESTATUS);
    assert_null(resp);
    assert_int_equal(res.status, GRPC_STATUS_RESOURCE_EXHAUSTED);
    assert_string_equal(res.details, "busy");
    assert_string_equal(eco_rpc_mdlist_get(&res.trailing_md, "retry-after", NULL), "2");
    eco_rpc_result_free(&res);

    /* A handler that ends OK without a message. */
    assert_int_equal(unary(&fx, "nothing", 5000, NULL, 0, &resp, &res), ECO_RPC_ESTATUS);
    assert_int_equal(res.status, GRPC_STATUS_INTERNAL);
    eco_rpc_result_free(&res);

    /* Illegal client metadata is refused before anything is sent. */
    eco_rpc_md_t bad[] = {{"grpc-timeout", "1S"}};
    assert_int_equal(unary(&fx, "hello", 5000, bad, 1, &resp, NULL), ECO_EINVAL);
    eco_rpc_md_t bad2[] = {{"x-a", "line\nbreak"}};
    assert_int_equal(unary(&fx, "hello", 5000, bad2, 1, &resp, NULL), ECO_EINVAL);

    /* A request of the wrong type is refused by the typed client ... */
    Eco__Ai__V1__Usage u = ECO__AI__V1__USAGE__INIT;
    assert_int_equal(
        eco_rpc_client_unary(fx.ch, INF, "GenerateCompletion", &u.base, NULL, (ProtobufCMessage **)&resp, NULL),
        ECO_EINVAL);
    /* ... and bytes that do not parse are answered INVALID_ARGUMENT by the server
     * (field 1 is a string in GenerateRequest, a varint in Usage). */
    u.prompt_tokens = 7;
    eco_rpc_call_opts_t o = {.timeout_ms = 5000};
    assert_int_equal(eco_rpc_client_unary_path(fx.ch, "/eco.ai.v1.Inference/GenerateCompletion", &u.base,
                                               &eco__ai__v1__generate_response__descriptor, &o,
                                               (ProtobufCMessage **)&resp, &res),
                     ECO_RPC_ESTATUS);
    assert_int_equal(res.status, GRPC_STATUS_INVALID_ARGUMENT);
    eco_rpc_result_free(&res);
    fx_stop(&fx);
}

static void test_streaming_backpressure(void **state)
{
    (void)state;
    fx_t fx;
    fx_start(&fx, 2, 1); /* a queue of 2 makes the producer hit EAGAIN */
    int eagain0 = ev_get(&eagains);
    const long N = 200;
    Eco__Ai__V1__GenerateRequest req = ECO__AI__V1__GENERATE_REQUEST__INIT;
    req._max_tokens_case = ECO__AI__V1__GENERATE_REQUEST___MAX_TOKENS_MAX_TOKENS;
    req.max_tokens = (uint32_t)N;
    eco_rpc_call_opts_t o = {.timeout_ms = 10000};
    eco_rpc_client_stream_t *st = NULL;
    assert_int_equal(eco_rpc_client_stream_open(fx.ch, INF, "StreamCompletion", &req.base, &o, &st), 0);
    ProtobufCMessage *m;
    long got = 0;
    int rc;
    char want[32];
    int saw_last = 0;
    while ((rc = eco_rpc_client_stream_next(st, &m)) == 1) {
        Eco__Ai__V1__CompletionChunk *c = (Eco__Ai__V1__CompletionChunk *)m;
        if (got < N) {
            snprintf(want, sizeof(want), "t%ld ", got);
            assert_string_equal(c->delta, want); /* in order, none lost */
            assert_string_equal(c->model, got == 0 ? "sim" : "");
            assert_string_equal(c->finish_reason, "");
        } else {
            assert_string_equal(c->finish_reason, "length");
            assert_non_null(c->usage);
            assert_int_equal(c->usage->completion_tokens, N);
            saw_last = 1;
        }
        got++;
        protobuf_c_message_free_unpacked(m, NULL);
    }
    assert_int_equal(rc, 0);
    assert_int_equal(got, N + 1);
    assert_true(saw_last);
    assert_int_equal(eco_rpc_client_stream_result(st)->status, GRPC_STATUS_OK);
    /* Further reads keep returning the end. */
    assert_int_equal(eco_rpc_client_stream_next(st, &m), 0);
    eco_rpc_client_stream_free(st);
    assert_true(ev_get(&eagains) > eagain0);
    fx_stop(&fx);
}

static void test_unknown_method(void **state)
{
    (void)state;
    fx_t fx;
    fx_start(&fx, 8, 1);
    Eco__Ai__V1__GenerateRequest req = ECO__AI__V1__GENERATE_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    eco_rpc_result_t res;
    eco_rpc_call_opts_t o = {.timeout_ms = 5000};
    const char *paths[] = {"/eco.ai.v1.Inference/Nope", "/other.v1.Service/Method", "/eco.ai.v1.Inference/GetLoad"};
    for (size_t i = 0; i < ECO_ARRAY_SIZE(paths); i++) {
        /* Several times each: the generic request must be re-armed every time. */
        for (int k = 0; k < 3; k++) {
            assert_int_equal(eco_rpc_client_unary_path(fx.ch, paths[i], &req.base,
                                                       &eco__ai__v1__generate_response__descriptor, &o, &resp, &res),
                             ECO_RPC_ESTATUS);
            assert_int_equal(res.status, GRPC_STATUS_UNIMPLEMENTED);
            assert_non_null(strstr(res.details, paths[i]));
            eco_rpc_result_free(&res);
        }
    }
    /* Unknown to the descriptor: refused locally. */
    assert_int_equal(eco_rpc_client_unary(fx.ch, INF, "Nope", &req.base, &o, &resp, NULL), ECO_EINVAL);
    fx_stop(&fx);
}

static void test_deadline(void **state)
{
    (void)state;
    fx_t fx;
    fx_start(&fx, 8, 1);
    Eco__Ai__V1__GenerateResponse *resp = NULL;
    eco_rpc_result_t res;

    /* The handler sees the client's deadline ... */
    assert_int_equal(unary(&fx, "deadline", 5000, NULL, 0, &resp, &res), 0);
    long left = strtol(resp->text, NULL, 10);
    /* gRPC rounds grpc-timeout up (coarser units compress better), so allow a little over. */
    assert_true(left > 3000 && left <= 5100);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    eco_rpc_result_free(&res);
    /* ... or none. */
    assert_int_equal(unary(&fx, "deadline", 0, NULL, 0, &resp, &res), 0);
    assert_string_equal(resp->text, "-1");
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    eco_rpc_result_free(&res);

    /* A handler that never answers: the client gets DEADLINE_EXCEEDED on time and the
     * server's cancel callback runs. */
    int c0 = ev_get(&cancels);
    uint64_t t0 = eco_now_ms();
    assert_int_equal(unary(&fx, "hang", 200, NULL, 0, &resp, &res), ECO_RPC_ESTATUS);
    uint64_t took = eco_now_ms() - t0;
    assert_int_equal(res.status, GRPC_STATUS_DEADLINE_EXCEEDED);
    assert_true(took >= 150 && took < 2000);
    eco_rpc_result_free(&res);
    assert_int_equal(ev_wait(&cancels, c0 + 1, 3000), c0 + 1);
    fx_stop(&fx);
}

static void test_client_cancel(void **state)
{
    (void)state;
    fx_t fx;
    fx_start(&fx, 8, 1);
    int c0 = ev_get(&cancels);
    Eco__Ai__V1__GenerateRequest req = ECO__AI__V1__GENERATE_REQUEST__INIT; /* no max_tokens: endless */
    eco_rpc_call_opts_t o = {.timeout_ms = 10000};
    eco_rpc_client_stream_t *st = NULL;
    assert_int_equal(eco_rpc_client_stream_open(fx.ch, INF, "StreamCompletion", &req.base, &o, &st), 0);
    ProtobufCMessage *m;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(eco_rpc_client_stream_next(st, &m), 1);
        protobuf_c_message_free_unpacked(m, NULL);
    }
    eco_rpc_client_stream_cancel(st);
    int rc;
    while ((rc = eco_rpc_client_stream_next(st, &m)) == 1) /* drain what was in flight */
        protobuf_c_message_free_unpacked(m, NULL);
    assert_int_equal(rc, ECO_RPC_ESTATUS);
    assert_int_equal(eco_rpc_client_stream_result(st)->status, GRPC_STATUS_CANCELLED);
    eco_rpc_client_stream_free(st);
    /* The server noticed (RECV_CLOSE_ON_SERVER) and the producer stopped. */
    assert_int_equal(ev_wait(&cancels, c0 + 1, 3000), c0 + 1);

    /* Freeing an unfinished stream cancels it too. */
    assert_int_equal(eco_rpc_client_stream_open(fx.ch, INF, "StreamCompletion", &req.base, &o, &st), 0);
    assert_int_equal(eco_rpc_client_stream_next(st, &m), 1);
    protobuf_c_message_free_unpacked(m, NULL);
    eco_rpc_client_stream_free(st);
    assert_int_equal(ev_wait(&cancels, c0 + 2, 3000), c0 + 2);
    fx_stop(&fx);
}

static int health_check(fx_t *fx, const char *service, int *status)
{
    Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    req.service = (char *)service;
    ProtobufCMessage *resp = NULL;
    eco_rpc_result_t res;
    eco_rpc_call_opts_t o = {.timeout_ms = 5000};
    int rc = eco_rpc_client_unary(fx->ch, HEALTH, "Check", &req.base, &o, &resp, &res);
    if (rc == 0) {
        *status = ((Grpc__Health__V1__HealthCheckResponse *)resp)->status;
        protobuf_c_message_free_unpacked(resp, NULL);
    } else {
        *status = -(int)res.status;
    }
    eco_rpc_result_free(&res);
    return rc;
}

static int watch_next(eco_rpc_client_stream_t *st)
{
    ProtobufCMessage *m;
    int rc = eco_rpc_client_stream_next(st, &m);
    if (rc != 1)
        return -100 + rc;
    int s = ((Grpc__Health__V1__HealthCheckResponse *)m)->status;
    protobuf_c_message_free_unpacked(m, NULL);
    return s;
}

static void test_health(void **state)
{
    (void)state;
    fx_t fx;
    fx_start(&fx, 8, 1);
    int s;
    __atomic_store_n(&inference_health, ECO_RPC_HEALTH_SERVING, __ATOMIC_SEQ_CST);
    assert_int_equal(health_check(&fx, "", &s), 0);
    assert_int_equal(s, GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING);
    assert_int_equal(health_check(&fx, "eco.ai.v1.Inference", &s), 0);
    assert_int_equal(s, GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING);
    __atomic_store_n(&inference_health, ECO_RPC_HEALTH_NOT_SERVING, __ATOMIC_SEQ_CST);
    assert_int_equal(health_check(&fx, "eco.ai.v1.Inference", &s), 0);
    assert_int_equal(s, GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING);
    assert_int_equal(health_check(&fx, "no.such.Service", &s), ECO_RPC_ESTATUS);
    assert_int_equal(s, -GRPC_STATUS_NOT_FOUND);

    /* Watch: the current status at once, then changes. */
    Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    req.service = "eco.ai.v1.Inference";
    eco_rpc_call_opts_t o = {.timeout_ms = 10000};
    eco_rpc_client_stream_t *st = NULL;
    assert_int_equal(eco_rpc_client_stream_open(fx.ch, HEALTH, "Watch", &req.base, &o, &st), 0);
    assert_int_equal(watch_next(st), GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING);
    __atomic_store_n(&inference_health, ECO_RPC_HEALTH_SERVING, __ATOMIC_SEQ_CST);
    eco_rpc_health_notify(fx.srv);
    assert_int_equal(watch_next(st), GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING);
    /* Found by the poller (50 ms) without a notify. */
    __atomic_store_n(&inference_health, ECO_RPC_HEALTH_NOT_SERVING, __ATOMIC_SEQ_CST);
    assert_int_equal(watch_next(st), GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING);
    eco_rpc_client_stream_free(st);

    /* An unknown service is SERVICE_UNKNOWN on Watch (not an error). */
    req.service = "no.such.Service";
    assert_int_equal(eco_rpc_client_stream_open(fx.ch, HEALTH, "Watch", &req.base, &o, &st), 0);
    assert_int_equal(watch_next(st), GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN);

    /* Shutdown ends open Watch streams at once instead of waiting out the grace. */
    uint64_t t0 = eco_now_ms();
    assert_int_equal(eco_rpc_server_shutdown(fx.srv, 5000), 0);
    assert_true(eco_now_ms() - t0 < 2000);
    assert_int_equal(watch_next(st), GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING);
    assert_int_equal(watch_next(st), -100 + ECO_RPC_ESTATUS);
    assert_int_equal(eco_rpc_client_stream_result(st)->status, GRPC_STATUS_UNAVAILABLE);
    eco_rpc_client_stream_free(st);
    fx_stop(&fx);

    /* Default: readiness (no checks registered and not draining: ready) for "" and every
     * registered service. */
    fx_start(&fx, 8, 0);
    assert_int_equal(health_check(&fx, "", &s), 0);
    assert_int_equal(s, GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING);
    assert_int_equal(health_check(&fx, "eco.ai.v1.Inference", &s), 0);
    assert_int_equal(s, GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING);
    assert_int_equal(health_check(&fx, "grpc.health.v1.Health", &s), 0);
    assert_int_equal(health_check(&fx, "eco.index.v1.Index", &s), ECO_RPC_ESTATUS);
    assert_int_equal(s, -GRPC_STATUS_NOT_FOUND);
    fx_stop(&fx);
}

typedef struct {
    fx_t *fx;
    const char *prompt;
    long timeout_ms;
    int rc;
    grpc_status_code status;
    char text[32];
} bg_call_t;

static void *bg_unary(void *arg)
{
    bg_call_t *b = arg;
    Eco__Ai__V1__GenerateResponse *resp = NULL;
    eco_rpc_result_t res;
    b->rc = unary(b->fx, b->prompt, b->timeout_ms, NULL, 0, &resp, &res);
    b->status = res.status;
    if (resp) {
        snprintf(b->text, sizeof(b->text), "%s", resp->text);
        protobuf_c_message_free_unpacked(&resp->base, NULL);
    }
    eco_rpc_result_free(&res);
    return NULL;
}

static void test_graceful_shutdown(void **state)
{
    (void)state;
    fx_t fx;
    fx_start(&fx, 8, 1);
    /* An in-flight call that completes 300 ms later from another thread ... */
    bg_call_t b = {.fx = &fx, .prompt = "slow", .timeout_ms = 10000};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, bg_unary, &b), 0);
    for (int i = 0; i < 400 && eco_rpc_server_inflight(fx.srv) < 1; i++)
        sleep_ms(5);
    assert_int_equal(eco_rpc_server_inflight(fx.srv), 1);
    /* ... is let finish: shutdown waits for it, well within the grace. */
    uint64_t t0 = eco_now_ms();
    assert_int_equal(eco_rpc_server_shutdown(fx.srv, 5000), 0);
    uint64_t took = eco_now_ms() - t0;
    pthread_join(t, NULL);
    assert_int_equal(b.rc, 0);
    assert_int_equal(b.status, GRPC_STATUS_OK);
    assert_string_equal(b.text, "slow");
    assert_true(took >= 100 && took < 3000);
    assert_int_equal(eco_rpc_server_inflight(fx.srv), 0);
    /* Idempotent. */
    assert_int_equal(eco_rpc_server_shutdown(fx.srv, 5000), 0);
    fx_stop(&fx);

    /* A call that would never end is cancelled once the grace is used up, and shutdown
     * still returns within the grace. */
    fx_start(&fx, 8, 1);
    int c0 = ev_get(&cancels);
    bg_call_t h = {.fx = &fx, .prompt = "hang", .timeout_ms = 20000};
    assert_int_equal(pthread_create(&t, NULL, bg_unary, &h), 0);
    for (int i = 0; i < 400 && eco_rpc_server_inflight(fx.srv) < 1; i++)
        sleep_ms(5);
    assert_int_equal(eco_rpc_server_inflight(fx.srv), 1);
    t0 = eco_now_ms();
    assert_int_equal(eco_rpc_server_shutdown(fx.srv, 500), 0);
    took = eco_now_ms() - t0;
    assert_true(took >= 300 && took < 1000);
    pthread_join(t, NULL);
    assert_int_equal(h.rc, ECO_RPC_ESTATUS);
    assert_true(h.status == GRPC_STATUS_CANCELLED || h.status == GRPC_STATUS_UNAVAILABLE);
    assert_int_equal(ev_get(&cancels), c0 + 1);
    fx_stop(&fx);
}

static void test_overload(void **state)
{
    (void)state;
    fx_t fx;
    fx_max_calls = 1;
    fx_start(&fx, 8, 1);
    fx_max_calls = 0;
    int c0 = ev_get(&cancels);
    bg_call_t h = {.fx = &fx, .prompt = "hang", .timeout_ms = 1000};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, bg_unary, &h), 0);
    for (int i = 0; i < 400 && eco_rpc_server_inflight(fx.srv) < 1; i++)
        sleep_ms(5);
    /* Over max_calls: refused at once, not queued. */
    Eco__Ai__V1__GenerateResponse *resp = NULL;
    eco_rpc_result_t res;
    assert_int_equal(unary(&fx, "hello", 5000, NULL, 0, &resp, &res), ECO_RPC_ESTATUS);
    assert_int_equal(res.status, GRPC_STATUS_RESOURCE_EXHAUSTED);
    eco_rpc_result_free(&res);
    pthread_join(t, NULL);
    assert_int_equal(h.status, GRPC_STATUS_DEADLINE_EXCEEDED);
    assert_int_equal(ev_wait(&cancels, c0 + 1, 3000), c0 + 1);
    /* Once the slot is free again, calls are served. */
    for (int i = 0; i < 400 && eco_rpc_server_inflight(fx.srv) > 0; i++)
        sleep_ms(5);
    assert_int_equal(unary(&fx, "hello", 5000, NULL, 0, &resp, &res), 0);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    eco_rpc_result_free(&res);
    fx_stop(&fx);
}

/* ---------- asynchronous client ---------- */

/* The owner's thread is the test thread: posted events wait in a queue until ax_run. */
typedef struct ax_ev {
    struct ax_ev *next;
    void (*fn)(void *);
    void *arg;
} ax_ev_t;

typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    ax_ev_t *head, *tail;
    int msgs, ends, release_after, pause_at;
    grpc_status_code status;
    char text[256];
    char retry_after[8];
    eco_rpc_acall_t *call;
} ax_t;

static void ax_post(void *post_data, void (*fn)(void *), void *arg)
{
    ax_t *ax = post_data;
    ax_ev_t *e = calloc(1, sizeof(*e));
    e->fn = fn;
    e->arg = arg;
    pthread_mutex_lock(&ax->lock);
    if (ax->tail)
        ax->tail->next = e;
    else
        ax->head = e;
    ax->tail = e;
    pthread_cond_signal(&ax->cond);
    pthread_mutex_unlock(&ax->lock);
}

/* Runs posted events until cond(ax) holds or timeout_ms passes; returns cond(ax). */
static int ax_run(ax_t *ax, int (*cond)(ax_t *), long timeout_ms)
{
    uint64_t until = eco_now_ms() + (uint64_t)timeout_ms;
    while (!cond(ax) && eco_now_ms() < until) {
        pthread_mutex_lock(&ax->lock);
        ax_ev_t *e = ax->head;
        if (e) {
            ax->head = e->next;
            if (!ax->head)
                ax->tail = NULL;
        } else {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 10000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&ax->cond, &ax->lock, &ts);
        }
        pthread_mutex_unlock(&ax->lock);
        if (e) {
            e->fn(e->arg);
            free(e);
        }
    }
    return cond(ax);
}

static int ax_ended(ax_t *ax)
{
    return ax->ends > 0;
}

static void ax_on_msg(eco_rpc_acall_t *c, ProtobufCMessage *msg, void *data)
{
    ax_t *ax = data;
    ax->msgs++;
    if (msg->descriptor == &eco__ai__v1__generate_response__descriptor)
        snprintf(ax->text, sizeof(ax->text), "%s", ((Eco__Ai__V1__GenerateResponse *)msg)->text);
    else
        strncat(ax->text, ((Eco__Ai__V1__CompletionChunk *)msg)->delta, sizeof(ax->text) - strlen(ax->text) - 1);
    protobuf_c_message_free_unpacked(msg, NULL);
    if (ax->release_after && ax->msgs == ax->release_after) {
        eco_rpc_acall_release(c);
        ax->call = NULL;
        return;
    }
    if (ax->pause_at && ax->msgs == ax->pause_at)
        eco_rpc_acall_pause(c);
}

static void ax_on_end(eco_rpc_acall_t *c, const eco_rpc_result_t *res, void *data)
{
    ax_t *ax = data;
    ax->ends++;
    ax->status = res->status;
    const char *ra = eco_rpc_mdlist_get(&res->trailing_md, "retry-after", NULL);
    snprintf(ax->retry_after, sizeof(ax->retry_after), "%s", ra ? ra : "");
}

static const eco_rpc_acall_cbs_t ax_cbs = {ax_on_msg, ax_on_end};

static void ax_start(ax_t *ax, eco_rpc_async_t *a, fx_t *fx, const char *method, const char *prompt, long max_tokens,
                     long timeout_ms)
{
    Eco__Ai__V1__GenerateRequest req = ECO__AI__V1__GENERATE_REQUEST__INIT;
    req.prompt = (char *)prompt;
    if (max_tokens >= 0) {
        req._max_tokens_case = ECO__AI__V1__GENERATE_REQUEST___MAX_TOKENS_MAX_TOKENS;
        req.max_tokens = (uint32_t)max_tokens;
    }
    int streaming = strcmp(method, "StreamCompletion") == 0;
    char path[96];
    snprintf(path, sizeof(path), "/eco.ai.v1.Inference/%s", method);
    ax->msgs = ax->ends = 0;
    ax->text[0] = '\0';
    eco_rpc_call_opts_t o = {.timeout_ms = timeout_ms};
    assert_int_equal(eco_rpc_acall_start(a, fx->ch, path, &req.base,
                                         streaming ? &eco__ai__v1__completion_chunk__descriptor
                                                   : &eco__ai__v1__generate_response__descriptor,
                                         streaming, &o, &ax_cbs, ax, &ax->call),
                     0);
}

static void test_async_client(void **state)
{
    (void)state;
    fx_t fx;
    fx_start(&fx, 8, 1);
    ax_t ax = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
    eco_rpc_async_t *a = eco_rpc_async_new(ax_post, &ax);

    /* Unary: one message, then OK. */
    ax_start(&ax, a, &fx, "GenerateCompletion", "hello", -1, 5000);
    assert_true(ax_run(&ax, ax_ended, 5000));
    assert_int_equal(ax.status, GRPC_STATUS_OK);
    assert_int_equal(ax.msgs, 1);
    assert_string_equal(ax.text, "hello");
    eco_rpc_acall_release(ax.call);

    /* Unary failure: status and trailers, no message. */
    ax_start(&ax, a, &fx, "GenerateCompletion", "fail", -1, 5000);
    assert_true(ax_run(&ax, ax_ended, 5000));
    assert_int_equal(ax.status, GRPC_STATUS_RESOURCE_EXHAUSTED);
    assert_int_equal(ax.msgs, 0);
    assert_string_equal(ax.retry_after, "2");
    eco_rpc_acall_release(ax.call);

    /* Deadline: the end comes with DEADLINE_EXCEEDED. */
    ax_start(&ax, a, &fx, "GenerateCompletion", "hang", -1, 150);
    assert_true(ax_run(&ax, ax_ended, 5000));
    assert_int_equal(ax.status, GRPC_STATUS_DEADLINE_EXCEEDED);
    eco_rpc_acall_release(ax.call);

    /* Stream read message by message: 5 chunks + the last one, then OK. */
    ax_start(&ax, a, &fx, "StreamCompletion", "", 5, 5000);
    assert_true(ax_run(&ax, ax_ended, 5000));
    assert_int_equal(ax.status, GRPC_STATUS_OK);
    assert_int_equal(ax.msgs, 6);
    eco_rpc_acall_release(ax.call);

    /* Paused at its first message, an endless stream stops within the read-ahead window (16
     * waiting, one in flight); resumed, it flows again. */
    int c0 = ev_get(&cancels);
    ax.pause_at = 1;
    ax_start(&ax, a, &fx, "StreamCompletion", "", -1, 10000);
    ax_run(&ax, ax_ended, 500);
    int seen = ax.msgs;
    assert_true(seen >= 1 && seen <= 18);
    ax_run(&ax, ax_ended, 300);
    assert_int_equal(ax.msgs, seen); /* nothing more while paused */
    ax.pause_at = 0;
    eco_rpc_acall_read(ax.call);
    ax_run(&ax, ax_ended, 300);
    assert_true(ax.msgs > seen + 20);
    eco_rpc_acall_cancel(ax.call);
    assert_true(ax_run(&ax, ax_ended, 5000));
    eco_rpc_acall_release(ax.call);
    assert_int_equal(ev_wait(&cancels, c0 + 1, 3000), c0 + 1);

    /* Cancel an endless stream: CANCELLED, and the server sees it. */
    ax_start(&ax, a, &fx, "StreamCompletion", "", -1, 10000);
    assert_false(ax_run(&ax, ax_ended, 200));
    eco_rpc_acall_cancel(ax.call);
    assert_true(ax_run(&ax, ax_ended, 5000));
    assert_int_equal(ax.status, GRPC_STATUS_CANCELLED);
    eco_rpc_acall_release(ax.call);
    assert_int_equal(ev_wait(&cancels, c0 + 2, 3000), c0 + 2);

    /* Release inside a callback mid-stream: no callback afterwards, the server sees a cancel. */
    ax.release_after = 2;
    ax_start(&ax, a, &fx, "StreamCompletion", "", -1, 10000);
    assert_false(ax_run(&ax, ax_ended, 500));
    assert_int_equal(ax.msgs, 2);
    assert_null(ax.call);
    assert_int_equal(ev_wait(&cancels, c0 + 3, 3000), c0 + 3);
    ax.release_after = 0;

    eco_rpc_async_free(a, 2000);
    ax_run(&ax, ax_ended, 50); /* deliver what is still queued (dropped: released) */
    fx_stop(&fx);
}

static void test_server_lifecycle(void **state)
{
    (void)state;
    /* Never started: destroy must still release everything. */
    eco_rpc_server_t *srv = eco_rpc_server_create(NULL);
    assert_int_equal(eco_rpc_health_register(srv, NULL, NULL, 0), 0);
    assert_int_equal(eco_rpc_health_register(srv, NULL, NULL, 0), ECO_EINVAL);
    eco_rpc_server_destroy(srv);

    /* A port in use is an error, not a shared port (SO_REUSEPORT off). */
    fx_t fx;
    fx_start(&fx, 8, 1);
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", fx.port);
    eco_rpc_server_opts_t o = {.addr = addr};
    srv = eco_rpc_server_create(&o);
    assert_int_equal(eco_rpc_server_start(srv), ECO_EIO);
    eco_rpc_server_destroy(srv);
    fx_stop(&fx);
}

int main(void)
{
    eco_log_init("test_rpc", getenv("TEST_LOG_LEVEL") ? getenv("TEST_LOG_LEVEL") : "error");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pack_roundtrip),
        cmocka_unit_test(test_pack_empty_vs_null),
        cmocka_unit_test(test_status_table),
        cmocka_unit_test(test_unary_metadata),
        cmocka_unit_test(test_streaming_backpressure),
        cmocka_unit_test(test_unknown_method),
        cmocka_unit_test(test_deadline),
        cmocka_unit_test(test_client_cancel),
        cmocka_unit_test(test_health),
        cmocka_unit_test(test_graceful_shutdown),
        cmocka_unit_test(test_overload),
        cmocka_unit_test(test_server_lifecycle),
        cmocka_unit_test(test_async_client),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
