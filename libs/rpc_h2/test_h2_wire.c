/* libs/rpc_h2 on the wire: requests no gRPC library would send, written with an nghttp2 client
 * (not-gRPC content type, compressed or truncated messages, oversized messages, bad timeouts,
 * binary metadata, garbage and HTTP/1.1 on the port), and the header codings. Each gets a precise
 * status or a closed connection, and the server keeps serving. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "h2_internal.h"

#include "eco/ai/v1/inference.pb-c.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- a server with one unary method that echoes the prompt and the x-echo-bin metadata ---- */

static void h_echo(eco_rpc_call_t *call, const ProtobufCMessage *msg, void *data)
{
    const Eco__Ai__V1__GenerateRequest *req = (const Eco__Ai__V1__GenerateRequest *)msg;
    Eco__Ai__V1__GenerateResponse resp = ECO__AI__V1__GENERATE_RESPONSE__INIT;
    resp.text = req->prompt;
    size_t blen = 0;
    const char *bin = eco_rpc_mdlist_get(eco_rpc_call_request_md(call), "x-echo-bin", &blen);
    eco_rpc_md_t tmd[1] = {{"x-echo-bin", bin ? bin : "", bin ? blen : 0}};
    eco_rpc_call_respond(call, &resp.base, tmd, bin && blen ? 1 : 0);
}

static eco_rpc_server_t *start(int *port)
{
    eco_rpc_server_opts_t o = {.addr = "127.0.0.1:0", .max_recv_bytes = 1024};
    eco_rpc_server_t *srv = eco_rpc_server_create(&o);
    assert_int_equal(eco_rpc_server_add_method(srv, &eco__ai__v1__inference__descriptor, "GenerateCompletion",
                                               ECO_RPC_UNARY, h_echo, NULL),
                     0);
    *port = eco_rpc_server_start(srv);
    assert_true(*port > 0);
    return srv;
}

static int dial(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    return fd;
}

/* ---- a minimal nghttp2 client: one request, the response's headers and trailers ---- */

typedef struct {
    const uint8_t *body;
    size_t len, off;
    int closed;
    char status[8], grpc_status[8], grpc_message[256], echo_bin[128];
    size_t data_bytes;
} exchange_t;

static void copy_value(char *dst, size_t cap, const uint8_t *v, size_t n)
{
    n = n < cap - 1 ? n : cap - 1;
    memcpy(dst, v, n);
    dst[n] = '\0';
}

static int c_on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t nl, const uint8_t *v,
                       size_t vl, uint8_t flags, void *user)
{
    exchange_t *x = user;
    if (nl == 7 && memcmp(name, ":status", 7) == 0)
        copy_value(x->status, sizeof(x->status), v, vl);
    else if (nl == 11 && memcmp(name, "grpc-status", 11) == 0)
        copy_value(x->grpc_status, sizeof(x->grpc_status), v, vl);
    else if (nl == 12 && memcmp(name, "grpc-message", 12) == 0)
        copy_value(x->grpc_message, sizeof(x->grpc_message), v, vl);
    else if (nl == 10 && memcmp(name, "x-echo-bin", 10) == 0)
        copy_value(x->echo_bin, sizeof(x->echo_bin), v, vl);
    return 0;
}

static int c_on_data(nghttp2_session *s, uint8_t flags, int32_t sid, const uint8_t *d, size_t n, void *user)
{
    ((exchange_t *)user)->data_bytes += n;
    return 0;
}

static int c_on_close(nghttp2_session *s, int32_t sid, uint32_t code, void *user)
{
    ((exchange_t *)user)->closed = 1;
    return 0;
}

static ssize_t c_read(nghttp2_session *s, int32_t sid, uint8_t *buf, size_t len, uint32_t *flags,
                      nghttp2_data_source *src, void *user)
{
    exchange_t *x = user;
    size_t k = x->len - x->off < len ? x->len - x->off : len;
    memcpy(buf, x->body + x->off, k);
    x->off += k;
    if (x->off == x->len)
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)k;
}

/* Sends one POST to path with the extra headers (name, value pairs) and body; fills x. */
static void exchange(int port, const char *path, const char *const *extra, size_t nextra, const void *body, size_t len,
                     exchange_t *x)
{
    memset(x, 0, sizeof(*x));
    x->body = body;
    x->len = len;
    int fd = dial(port);
    nghttp2_session_callbacks *cbs;
    nghttp2_session_callbacks_new(&cbs);
    nghttp2_session_callbacks_set_on_header_callback(cbs, c_on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, c_on_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, c_on_close);
    nghttp2_session *s;
    nghttp2_session_client_new(&s, cbs, x);
    nghttp2_session_callbacks_del(cbs);
    nghttp2_submit_settings(s, NGHTTP2_FLAG_NONE, NULL, 0);
    nghttp2_nv nv[16];
    size_t n = 0;
#define NV(k, v) (nghttp2_nv){(uint8_t *)(k), (uint8_t *)(v), strlen(k), strlen(v), NGHTTP2_NV_FLAG_NONE}
    nv[n++] = NV(":method", "POST");
    nv[n++] = NV(":scheme", "http");
    nv[n++] = NV(":authority", "127.0.0.1");
    nv[n++] = NV(":path", path);
    nv[n++] = NV("te", "trailers");
    for (size_t i = 0; i + 1 < nextra * 2 && n < 16; i += 2)
        nv[n++] = NV(extra[i], extra[i + 1]);
#undef NV
    nghttp2_data_provider prd = {.read_callback = c_read};
    assert_true(nghttp2_submit_request(s, NULL, nv, n, &prd, NULL) > 0);
    uint64_t until = eco_now_ms() + 5000;
    while (!x->closed && eco_now_ms() < until) {
        const uint8_t *out;
        ssize_t k;
        while ((k = nghttp2_session_mem_send(s, &out)) > 0)
            assert_int_equal(send(fd, out, (size_t)k, MSG_NOSIGNAL), k);
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 100) > 0) {
            uint8_t buf[16384];
            ssize_t r = read(fd, buf, sizeof(buf));
            if (r <= 0)
                break;
            assert_true(nghttp2_session_mem_recv(s, buf, (size_t)r) == r);
        }
    }
    assert_true(x->closed);
    nghttp2_session_del(s);
    close(fd);
}

/* A gRPC frame: flag byte, 4-byte length, payload. Returns the frame length. */
static size_t frame(uint8_t *out, int compressed, const void *payload, size_t n, size_t claimed)
{
    out[0] = (uint8_t)compressed;
    out[1] = (uint8_t)(claimed >> 24);
    out[2] = (uint8_t)(claimed >> 16);
    out[3] = (uint8_t)(claimed >> 8);
    out[4] = (uint8_t)claimed;
    memcpy(out + 5, payload, n);
    return n + 5;
}

static size_t request(uint8_t *out, const char *prompt)
{
    Eco__Ai__V1__GenerateRequest r = ECO__AI__V1__GENERATE_REQUEST__INIT;
    r.prompt = (char *)prompt;
    uint8_t pb[2048];
    size_t n = protobuf_c_message_pack(&r.base, pb);
    return frame(out, 0, pb, n, n);
}

#define PATH  "/eco.ai.v1.Inference/GenerateCompletion"
#define GRPCT "content-type", "application/grpc"

/* ---- tests ---- */

static void test_answers(void **state)
{
    int port;
    eco_rpc_server_t *srv = start(&port);
    uint8_t buf[4096];
    exchange_t x;

    /* A good request, with binary metadata that comes back byte for byte (base64 both ways). */
    const char *bin[] = {GRPCT, "x-echo-bin", "AAEC/w"}; /* 00 01 02 ff, unpadded */
    exchange(port, PATH, bin, 2, buf, request(buf, "hi"), &x);
    assert_string_equal(x.status, "200");
    assert_string_equal(x.grpc_status, "0");
    assert_true(x.data_bytes > 5);
    assert_string_equal(x.echo_bin, "AAEC/w==");

    /* Not gRPC: HTTP 415. */
    const char *json[] = {"content-type", "application/json"};
    exchange(port, PATH, json, 1, "{}", 2, &x);
    assert_string_equal(x.status, "415");

    /* Unknown method. */
    const char *ct[] = {GRPCT};
    exchange(port, "/eco.ai.v1.Inference/Nope", ct, 1, buf, request(buf, "hi"), &x);
    assert_string_equal(x.grpc_status, "12");
    assert_string_equal(x.grpc_message, "unknown method /eco.ai.v1.Inference/Nope");

    /* A compressed message (no grpc-encoding was agreed). */
    exchange(port, PATH, ct, 1, buf, frame(buf, 1, "xx", 2, 2), &x);
    assert_string_equal(x.grpc_status, "12");

    /* Truncated frame, missing message, two messages, bytes that are not the message. */
    exchange(port, PATH, ct, 1, buf, frame(buf, 0, "\x0a\x05hi", 4, 9), &x);
    assert_string_equal(x.grpc_status, "3");
    assert_string_equal(x.grpc_message, "malformed or missing request message");
    exchange(port, PATH, ct, 1, "", 0, &x);
    assert_string_equal(x.grpc_status, "3");
    size_t n = request(buf, "a");
    memcpy(buf + n, buf, n);
    exchange(port, PATH, ct, 1, buf, 2 * n, &x);
    assert_string_equal(x.grpc_status, "3");
    exchange(port, PATH, ct, 1, buf, frame(buf, 0, "\xff\xff\xff", 3, 3), &x);
    assert_string_equal(x.grpc_status, "3");

    /* Larger than max_recv_bytes (1024): RESOURCE_EXHAUSTED naming both sizes. */
    char big[2000];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    exchange(port, PATH, ct, 1, buf, request(buf, big), &x);
    assert_string_equal(x.grpc_status, "8");
    assert_non_null(strstr(x.grpc_message, "vs. 1024"));

    /* A malformed grpc-timeout. */
    const char *tmo[] = {GRPCT, "grpc-timeout", "soon"};
    exchange(port, PATH, tmo, 2, buf, request(buf, "hi"), &x);
    assert_string_equal(x.grpc_status, "13");

    /* Still serving. */
    exchange(port, PATH, ct, 1, buf, request(buf, "again"), &x);
    assert_string_equal(x.grpc_status, "0");
    assert_int_equal(eco_rpc_server_shutdown(srv, 1000), 0);
    assert_int_equal(eco_rpc_server_inflight(srv), 0);
    eco_rpc_server_destroy(srv);
}

static void test_garbage_on_the_port(void **state)
{
    int port;
    eco_rpc_server_t *srv = start(&port);
    const char *inputs[] = {
        "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x04\x01\x00\x00\x00\x00\x00garbage-frame",
        "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", /* a TLS ClientHello */
    };
    for (size_t i = 0; i < ECO_ARRAY_SIZE(inputs); i++) {
        int fd = dial(port);
        size_t len = i == 1 ? 24 + 9 + 13 : strlen(inputs[i]);
        assert_int_equal(send(fd, inputs[i], len, MSG_NOSIGNAL), (ssize_t)len);
        /* The server answers (GOAWAY) or just closes; either way the connection ends. */
        struct pollfd p = {.fd = fd, .events = POLLIN};
        uint8_t buf[4096];
        ssize_t r = 1;
        uint64_t until = eco_now_ms() + 3000;
        while (r > 0 && eco_now_ms() < until)
            if (poll(&p, 1, 100) > 0)
                r = read(fd, buf, sizeof(buf));
        assert_true(r <= 0);
        close(fd);
    }
    /* A client that connects and leaves mid-request does not hold a call. */
    int fd = dial(port);
    assert_int_equal(send(fd, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 24, MSG_NOSIGNAL), 24);
    close(fd);
    uint8_t buf[4096];
    exchange_t x;
    const char *ct[] = {GRPCT};
    exchange(port, PATH, ct, 1, buf, request(buf, "still here"), &x);
    assert_string_equal(x.grpc_status, "0");
    eco_rpc_server_destroy(srv);
}

/* ---- many streams whose messages come from another thread while the loop is busy ---- */

#define STRESS_CLIENTS 4
#define STRESS_STREAMS 150
#define STRESS_CHUNKS  20

static pthread_mutex_t st_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t st_cond = PTHREAD_COND_INITIALIZER;
static eco_rpc_call_t *st_calls[STRESS_CLIENTS * 4];
static int st_sent[STRESS_CLIENTS * 4];
static size_t st_ncalls;
static int st_stop;

static void h_stream(eco_rpc_call_t *call, const ProtobufCMessage *msg, void *data)
{
    pthread_mutex_lock(&st_lock);
    ECO_BUG_ON(st_ncalls >= ECO_ARRAY_SIZE(st_calls));
    st_sent[st_ncalls] = 0;
    st_calls[st_ncalls++] = call;
    pthread_cond_signal(&st_cond);
    pthread_mutex_unlock(&st_lock);
}

/* Sends one chunk to each open stream in turn (ending a stream after STRESS_CHUNKS), without
 * waiting for the loop: messages land while it pumps and flushes. */
static void *st_producer(void *arg)
{
    pthread_mutex_lock(&st_lock);
    while (!st_stop) {
        if (!st_ncalls) {
            pthread_cond_wait(&st_cond, &st_lock);
            continue;
        }
        for (size_t i = 0; i < st_ncalls; i++) {
            Eco__Ai__V1__CompletionChunk ch = ECO__AI__V1__COMPLETION_CHUNK__INIT;
            ch.delta = "x";
            if (++st_sent[i] < STRESS_CHUNKS) {
                int rc = eco_rpc_stream_send(st_calls[i], &ch.base);
                if (rc == ECO_RPC_EAGAIN)
                    st_sent[i]--;
                if (rc == 0 || rc == ECO_RPC_EAGAIN)
                    continue;
            } else {
                ch.finish_reason = "stop";
                eco_rpc_call_respond(st_calls[i], &ch.base, NULL, 0);
            }
            st_calls[i] = st_calls[--st_ncalls]; /* ended: take the last one's place */
            st_sent[i] = st_sent[st_ncalls];
            i--;
        }
        pthread_mutex_unlock(&st_lock);
        sched_yield();
        pthread_mutex_lock(&st_lock);
    }
    pthread_mutex_unlock(&st_lock);
    return NULL;
}

static int st_port;
static atomic_int st_ok, st_bad;

static void *st_client(void *arg)
{
    char target[64];
    snprintf(target, sizeof(target), "127.0.0.1:%d", st_port);
    eco_rpc_channel_t *ch = eco_rpc_channel_create(target, NULL);
    for (int s = 0; s < STRESS_STREAMS; s++) {
        Eco__Ai__V1__GenerateRequest req = ECO__AI__V1__GENERATE_REQUEST__INIT;
        req.prompt = "p";
        eco_rpc_call_opts_t o = {.timeout_ms = 5000};
        eco_rpc_client_stream_t *st;
        if (eco_rpc_client_stream_open(ch, &eco__ai__v1__inference__descriptor, "StreamCompletion", &req.base, &o,
                                       &st) != 0) {
            atomic_fetch_add(&st_bad, 1);
            continue;
        }
        int n = 0, rc;
        ProtobufCMessage *m;
        while ((rc = eco_rpc_client_stream_next(st, &m)) == 1) {
            n++;
            protobuf_c_message_free_unpacked(m, NULL);
        }
        if (rc == 0 && n == STRESS_CHUNKS)
            atomic_fetch_add(&st_ok, 1);
        else
            atomic_fetch_add(&st_bad, 1);
        eco_rpc_client_stream_free(st);
    }
    eco_rpc_channel_destroy(ch);
    return NULL;
}

static void test_streams_from_another_thread(void **state)
{
    eco_rpc_server_opts_t o = {.addr = "127.0.0.1:0"};
    eco_rpc_server_t *srv = eco_rpc_server_create(&o);
    assert_int_equal(eco_rpc_server_add_method(srv, &eco__ai__v1__inference__descriptor, "StreamCompletion",
                                               ECO_RPC_SERVER_STREAMING, h_stream, NULL),
                     0);
    st_port = eco_rpc_server_start(srv);
    assert_true(st_port > 0);
    pthread_t prod, cl[STRESS_CLIENTS];
    st_stop = 0;
    pthread_create(&prod, NULL, st_producer, NULL);
    for (int i = 0; i < STRESS_CLIENTS; i++)
        pthread_create(&cl[i], NULL, st_client, NULL);
    for (int i = 0; i < STRESS_CLIENTS; i++)
        pthread_join(cl[i], NULL);
    pthread_mutex_lock(&st_lock);
    st_stop = 1;
    pthread_cond_signal(&st_cond);
    pthread_mutex_unlock(&st_lock);
    pthread_join(prod, NULL);
    /* Every stream complete, none stalled into its 5 s deadline. */
    assert_int_equal(atomic_load(&st_bad), 0);
    assert_int_equal(atomic_load(&st_ok), STRESS_CLIENTS * STRESS_STREAMS);
    eco_rpc_server_destroy(srv);
}

static void test_codings(void **state)
{
    char out[64];
    uint8_t bin[64];
    assert_int_equal(h2_b64_encode((const uint8_t *)"\x00\x01\x02\xff", 4, out), 8);
    assert_string_equal(out, "AAEC/w==");
    assert_int_equal(h2_b64_decode("AAEC/w", 6, bin), 4);
    assert_memory_equal(bin, "\x00\x01\x02\xff", 4);
    assert_int_equal(h2_b64_decode("AAEC/w==", 8, bin), 4);
    assert_int_equal(h2_b64_decode("A", 1, bin), -1);
    assert_int_equal(h2_b64_decode("A*==", 4, bin), -1);

    assert_int_equal(h2_percent_encode("a%b\n\xc3\xa9", 6, out), 14);
    assert_string_equal(out, "a%25b%0A%C3%A9");

    assert_int_equal(h2_parse_timeout("100m", 4), 100);
    assert_int_equal(h2_parse_timeout("2S", 2), 2000);
    assert_int_equal(h2_parse_timeout("1H", 2), 3600000);
    assert_int_equal(h2_parse_timeout("1500u", 5), 2);
    assert_int_equal(h2_parse_timeout("1n", 2), 1);
    assert_int_equal(h2_parse_timeout("m", 1), -1);
    assert_int_equal(h2_parse_timeout("10x", 3), -1);
    assert_int_equal(h2_parse_timeout("123456789S", 10), -1); /* more than 8 digits */

    eco_rpc_md_t ok[] = {{"x-a", "v", 0}, {"x-b-bin", "\x00\x01", 2}};
    eco_rpc_md_t bad_key[] = {{"X-Upper", "v", 0}}, reserved[] = {{"grpc-status", "0", 0}},
                 bad_value[] = {{"x-a", "line\nbreak", 0}};
    h2_md_t md[4];
    size_t n = 0;
    assert_int_equal(h2_md_copy(md, &n, 4, ok, 2), 0);
    assert_int_equal(n, 2);
    assert_int_equal(md[1].len, 2);
    assert_int_equal(h2_md_copy(md, &n, 4, bad_key, 1), ECO_EINVAL);
    assert_int_equal(h2_md_copy(md, &n, 4, reserved, 1), ECO_EINVAL);
    assert_int_equal(h2_md_copy(md, &n, 4, bad_value, 1), ECO_EINVAL);
    assert_int_equal(h2_md_copy(md, &n, 3, ok, 2), ECO_ENOSPC);
    assert_int_equal(n, 2);
    h2_md_free(md, n);
}

int main(void)
{
    eco_log_init("test_h2_wire", getenv("TEST_LOG_LEVEL") ? getenv("TEST_LOG_LEVEL") : "error");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_answers),
        cmocka_unit_test(test_garbage_on_the_port),
        cmocka_unit_test(test_streams_from_another_thread),
        cmocka_unit_test(test_codings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
