/* Upstream HTTP/1.1 client on h2o_http1client with a keep-alive socket pool per origin. */
#include "eco_http.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

struct eco_http_upstream {
    eco_service_t *svc;
    h2o_socketpool_t pool;
    h2o_http1client_ctx_t ctx;
    h2o_timeout_t io_timeout;
    char host[256];
    uint16_t port;
};

struct eco_http_client_req {
    eco_http_upstream_t *up;
    h2o_http1client_t *client;
    eco_http_client_cbs_t cbs;
    void *data;
    eco_buf_t reqbuf;
    h2o_iovec_t iov;
    int in_cb;     /* a user callback is running */
    int cancelled; /* cancel asked for while in a callback */
    int paused;
    h2o_socket_cb paused_read; /* the client's reader, which h2o_socket_read_stop forgets */
    int chunked;               /* the response body is chunked */
    int keepalive;             /* the server means to keep the connection open after the response */
};

eco_http_upstream_t *eco_http_upstream_new(eco_service_t *svc, const char *base_url, size_t max_conns,
                                           uint64_t io_timeout_ms, char *err, size_t errlen)
{
    if (strncmp(base_url, "http://", 7) != 0) {
        snprintf(err, errlen, "expected http://host:port, got \"%.80s\"", base_url);
        return NULL;
    }
    const char *hp = base_url + 7;
    const char *colon = strrchr(hp, ':');
    size_t hlen = colon ? (size_t)(colon - hp) : strcspn(hp, "/");
    long port = colon ? strtol(colon + 1, NULL, 10) : 80;
    if (hlen == 0 || hlen >= 256 || port <= 0 || port > 65535) {
        snprintf(err, errlen, "expected http://host:port, got \"%.80s\"", base_url);
        return NULL;
    }
    eco_http_upstream_t *up = eco_calloc(1, sizeof(*up));
    up->svc = svc;
    memcpy(up->host, hp, hlen);
    up->port = (uint16_t)port;
    h2o_loop_t *loop = eco_service_loop(svc);
    h2o_socketpool_init_by_hostport(&up->pool, h2o_iovec_init(up->host, hlen), up->port, 0, max_conns);
    h2o_socketpool_set_timeout(&up->pool, loop, 30000); /* idle keep-alive connections */
    h2o_timeout_init(loop, &up->io_timeout, io_timeout_ms);
    up->ctx.loop = loop;
    up->ctx.getaddr_receiver = &eco_service_h2o(svc)->receivers.hostinfo_getaddr;
    up->ctx.io_timeout = &up->io_timeout;
    return up;
}

static void req_free(eco_http_client_req_t *r)
{
    eco_buf_free(&r->reqbuf);
    free(r);
}

/* h2o 2.2 reports a peer that closes right after a complete chunk as the end of the body
 * ("browsers ignore a missing 0-chunk"), so a stream cut between two events looks complete.
 * After a real last chunk a keep-alive connection is still open; after a cut it is not. */
static int closed_early(eco_http_client_req_t *r, h2o_http1client_t *client)
{
    if (!r->chunked || !r->keepalive || !client->sock)
        return 0;
    char c;
    ssize_t n = recv(h2o_socket_get_fd(client->sock), &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

static int on_body(h2o_http1client_t *client, const char *errstr)
{
    eco_http_client_req_t *r = client->data;
    int eos = errstr == h2o_http1client_error_is_eos;
    const char *err = eos ? NULL : errstr;
    if (eos && closed_early(r, client)) {
        eos = 0;
        err = "connection closed before the end of the chunked body";
    }
    h2o_buffer_t *in = client->sock ? client->sock->input : NULL;
    r->in_cb = 1;
    if (in && in->size > 0 && !err) {
        size_t n = in->size;
        r->cbs.on_body(r, NULL, in->bytes, n, eos, r->data);
        h2o_buffer_consume(&client->sock->input, n);
    } else if (eos || err) {
        r->cbs.on_body(r, err, NULL, 0, eos, r->data);
    }
    r->in_cb = 0;
    if (eos || err) {
        r->client = NULL; /* h2o frees the client after this callback */
        req_free(r);
        return 0;
    }
    if (r->cancelled) {
        r->client = NULL;
        req_free(r);
        return -1; /* closes the connection: the response is incomplete */
    }
    return 0;
}

static h2o_http1client_body_cb on_head(h2o_http1client_t *client, const char *errstr, int minor, int status,
                                       h2o_iovec_t msg, h2o_header_t *headers, size_t nheaders, int rlen)
{
    eco_http_client_req_t *r = client->data;
    int eos = errstr == h2o_http1client_error_is_eos;
    r->in_cb = 1;
    if (errstr && !eos) {
        r->cbs.on_head(r, errstr, 0, NULL, 0, r->data);
        r->in_cb = 0;
        r->client = NULL;
        req_free(r);
        return NULL;
    }
    r->keepalive = minor >= 1;
    for (size_t i = 0; i < nheaders; i++) {
        if (headers[i].name == &H2O_TOKEN_TRANSFER_ENCODING->buf)
            r->chunked = h2o_memis(headers[i].value.base, headers[i].value.len, H2O_STRLIT("chunked"));
        else if (headers[i].name == &H2O_TOKEN_CONNECTION->buf)
            r->keepalive =
                h2o_contains_token(headers[i].value.base, headers[i].value.len, H2O_STRLIT("keep-alive"), ',');
    }
    r->cbs.on_head(r, NULL, status, headers, nheaders, r->data);
    if (eos && !r->cancelled)
        r->cbs.on_body(r, NULL, NULL, 0, 1, r->data);
    r->in_cb = 0;
    if (eos || r->cancelled) {
        r->client = NULL;
        req_free(r);
        return NULL;
    }
    return on_body;
}

static h2o_http1client_head_cb on_connect(h2o_http1client_t *client, const char *errstr, h2o_iovec_t **reqbufs,
                                          size_t *reqbufcnt, int *method_is_head)
{
    eco_http_client_req_t *r = client->data;
    if (errstr) {
        r->in_cb = 1;
        r->cbs.on_head(r, errstr, 0, NULL, 0, r->data);
        r->client = NULL;
        req_free(r);
        return NULL;
    }
    if (r->cbs.on_connect) {
        r->in_cb = 1;
        r->cbs.on_connect(r, r->data);
        r->in_cb = 0;
        if (r->cancelled) {
            r->client = NULL;
            req_free(r);
            return NULL; /* h2o closes the connection */
        }
    }
    r->iov = h2o_iovec_init(r->reqbuf.base, r->reqbuf.len);
    *reqbufs = &r->iov;
    *reqbufcnt = 1;
    *method_is_head = 0;
    return on_head;
}

eco_http_client_req_t *eco_http_client_start(eco_http_upstream_t *up, const char *method, const char *path,
                                             const char *headers, const char *body, size_t body_len,
                                             const eco_http_client_cbs_t *cbs, void *data)
{
    eco_http_client_req_t *r = eco_calloc(1, sizeof(*r));
    r->up = up;
    r->cbs = *cbs;
    r->data = data;
    eco_buf_init(&r->reqbuf, 0);
    eco_buf_addf(&r->reqbuf, "%s %s HTTP/1.1\r\nhost: %s:%u\r\n", method, path, up->host, up->port);
    if (headers)
        eco_buf_adds(&r->reqbuf, headers);
    if (body || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 || strcmp(method, "PATCH") == 0)
        eco_buf_addf(&r->reqbuf, "content-length: %zu\r\n", body_len);
    eco_buf_adds(&r->reqbuf, "\r\n");
    if (body_len)
        eco_buf_add(&r->reqbuf, body, body_len);
    h2o_http1client_connect_with_pool(&r->client, r, &up->ctx, &up->pool, on_connect);
    return r;
}

void eco_http_client_cancel(eco_http_client_req_t *r)
{
    if (r->in_cb) {
        r->cancelled = 1;
        return;
    }
    if (r->client)
        h2o_http1client_cancel(r->client);
    req_free(r);
}

void eco_http_client_pause(eco_http_client_req_t *r)
{
    if (r->client && r->client->sock && !r->paused) {
        r->paused = 1;
        r->paused_read = r->client->sock->_cb.read;
        h2o_socket_read_stop(r->client->sock);
    }
}

void eco_http_client_resume(eco_http_client_req_t *r)
{
    /* h2o 2.2 has no public resume for the client: restart reading with the callback saved at
     * pause time (h2o_socket_read_stop clears it). */
    if (r->client && r->client->sock && r->paused) {
        r->paused = 0;
        if (r->paused_read)
            h2o_socket_read_start(r->client->sock, r->paused_read);
    }
}
