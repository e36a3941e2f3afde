/* The nghttp2 gRPC server: lifecycle, the loop thread (listener, connections, wake-ups,
 * deadlines) and the bounded graceful shutdown with the same contract as libs/rpc_grpc. */
#include "h2_internal.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static char listener_tag, wake_tag; /* epoll data of the two fds that are not connections */

eco_rpc_server_t *eco_rpc_server_create(const eco_rpc_server_opts_t *opts)
{
    eco_rpc_server_t *srv = eco_calloc(1, sizeof(*srv));
    eco__rpc_opts_fill(&srv->opts, opts);
    srv->opts.threads = 1; /* one loop thread; handlers must not block anyway */
    srv->addr = (char *)srv->opts.addr;
    eco__rpc_base_init(&srv->base);
    srv->lfd = srv->epfd = srv->wakefd = -1;
    pthread_mutex_init(&srv->mu, NULL);
    pthread_mutex_init(&srv->state_lock, NULL);
    pthread_cond_init(&srv->cond, NULL);
    return srv;
}

int eco_rpc_server_add_method(eco_rpc_server_t *srv, const ProtobufCServiceDescriptor *svc, const char *method,
                              eco_rpc_kind_t kind, eco_rpc_handler_fn fn, void *data)
{
    if (atomic_load(&srv->base.state) != ECO__SRV_CREATED)
        return ECO_EINVAL;
    return eco__rpc_methods_add(&srv->base.methods, svc, method, kind, fn, data) ? 0 : ECO_EINVAL;
}

int eco_rpc_server_port(const eco_rpc_server_t *srv)
{
    return srv->port;
}

/* ---- calls shared with other threads ---- */

static void wake(eco_rpc_server_t *srv)
{
    uint64_t one = 1;
    if (srv->wakefd >= 0 && write(srv->wakefd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        eco_warn("grpc server wake-up failed", ECO_KS("error", strerror(errno)));
}

void h2_mark_dirty_locked(eco_rpc_call_t *c)
{
    if (c->in_dirty || c->released)
        return;
    eco_rpc_server_t *srv = c->srv;
    int was_empty = srv->dirty == NULL;
    c->in_dirty = 1;
    c->refs++;
    c->dirty_next = srv->dirty;
    srv->dirty = c;
    if (was_empty)
        wake(srv);
}

void h2_call_unref_locked(eco_rpc_call_t *c)
{
    ECO_BUG_ON(c->refs <= 0);
    if (--c->refs > 0)
        return;
    eco_rpc_server_t *srv = c->srv;
    h2_call_free(c);
    eco__rpc_base_call_done(&srv->base); /* last: shutdown then may free srv */
}

void h2_run_callback_locked(eco_rpc_call_t *c, void (*fn)(eco_rpc_call_t *, void *), void *data)
{
    eco_rpc_server_t *srv = c->srv;
    c->cb_running = 1;
    c->cb_thread = pthread_self();
    pthread_mutex_unlock(&srv->mu);
    fn(c, data);
    pthread_mutex_lock(&srv->mu);
    c->cb_running = 0;
    pthread_cond_broadcast(&srv->cond);
}

/* ---- the loop ---- */

static void conn_close(eco_rpc_server_t *srv, h2_conn_t *cn)
{
    epoll_ctl(srv->epfd, EPOLL_CTL_DEL, cn->fd, NULL);
    if (cn->prev)
        cn->prev->next = cn->next;
    else
        srv->conns = cn->next;
    if (cn->next)
        cn->next->prev = cn->prev;
    h2_conn_free(cn);
}

static void accept_all(eco_rpc_server_t *srv)
{
    for (;;) {
        int fd = accept4(srv->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                eco_warn("grpc accept failed", ECO_KS("error", strerror(errno)));
            return;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        h2_conn_t *cn = h2_conn_new(srv, fd);
        if (!cn)
            continue;
        struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = cn};
        if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
            h2_conn_free(cn);
            continue;
        }
        cn->next = srv->conns;
        if (srv->conns)
            srv->conns->prev = cn;
        srv->conns = cn;
        if (srv->cmd_goaway)
            nghttp2_submit_goaway(cn->s, NGHTTP2_FLAG_NONE, 0, NGHTTP2_NO_ERROR, NULL, 0);
    }
}

/* Submits what the dirty calls have; runs the commands of the shutting-down thread. */
static int run_pending(eco_rpc_server_t *srv)
{
    /* The dirty calls are taken off the list (in_dirty cleared, the list's references kept)
     * before any is pumped: a message queued while the loop pumps puts its call back on the
     * list, so it cannot be left behind a pump that looked too early. */
    pthread_mutex_lock(&srv->mu);
    size_t n = 0;
    for (eco_rpc_call_t *c = srv->dirty; c; c = c->dirty_next) {
        if (n == srv->batch_cap) {
            srv->batch_cap = srv->batch_cap ? 2 * srv->batch_cap : 64;
            srv->batch = eco_realloc(srv->batch, srv->batch_cap * sizeof(*srv->batch));
        }
        srv->batch[n++] = c;
        c->in_dirty = 0;
    }
    srv->dirty = NULL;
    int goaway = srv->cmd_goaway == 1, cancel = srv->cmd_cancel_all == 1, stop = srv->cmd_stop;
    if (goaway)
        srv->cmd_goaway = 2;
    if (cancel)
        srv->cmd_cancel_all = 2;
    pthread_mutex_unlock(&srv->mu);
    for (size_t i = 0; i < n; i++)
        h2_call_pump(srv->batch[i]);
    if (n) {
        pthread_mutex_lock(&srv->mu);
        for (size_t i = 0; i < n; i++)
            h2_call_unref_locked(srv->batch[i]);
        pthread_mutex_unlock(&srv->mu);
    }
    if (goaway) {
        if (srv->lfd >= 0) {
            epoll_ctl(srv->epfd, EPOLL_CTL_DEL, srv->lfd, NULL);
            close(srv->lfd);
            srv->lfd = -1;
        }
        for (h2_conn_t *cn = srv->conns; cn; cn = cn->next)
            nghttp2_submit_goaway(cn->s, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(cn->s),
                                  NGHTTP2_NO_ERROR, NULL, 0);
    }
    if (cancel)
        for (h2_conn_t *cn = srv->conns; cn; cn = cn->next)
            for (eco_rpc_call_t *c = cn->calls; c; c = c->conn_next)
                h2_call_reset(c);
    return stop;
}

/* Resets calls past their deadline; returns ms until the next deadline (-1: none). */
static int check_deadlines(eco_rpc_server_t *srv)
{
    uint64_t now = eco_now_ms(), next = 0;
    for (h2_conn_t *cn = srv->conns; cn; cn = cn->next) {
        for (eco_rpc_call_t *c = cn->calls; c; c = c->conn_next) {
            if (!c->deadline_ms || c->rst_sent)
                continue;
            if (c->deadline_ms <= now)
                h2_call_expire(c);
            else if (!next || c->deadline_ms < next)
                next = c->deadline_ms;
        }
    }
    if (!next)
        return -1;
    uint64_t ms = next - now;
    return ms > 60000 ? 60000 : (int)ms;
}

static void run_writables(eco_rpc_server_t *srv)
{
    while (srv->writable) {
        eco_rpc_call_t *c = srv->writable;
        srv->writable = c->writable_next;
        pthread_mutex_lock(&srv->mu);
        if (!c->ended && !c->cancelled && c->on_writable && c->qlen < c->qmax)
            h2_run_callback_locked(c, c->on_writable, c->cb_data);
        h2_call_unref_locked(c);
        pthread_mutex_unlock(&srv->mu);
    }
}

static void *loop_main(void *arg)
{
    eco_rpc_server_t *srv = arg;
    struct epoll_event evs[64];
    int timeout = -1;
    for (;;) {
        int n = epoll_wait(srv->epfd, evs, ECO_ARRAY_SIZE(evs), timeout);
        if (n < 0 && errno != EINTR)
            eco_fatal("grpc server epoll_wait: %s", strerror(errno));
        for (int i = 0; i < n; i++) {
            void *p = evs[i].data.ptr;
            if (p == &listener_tag) {
                accept_all(srv);
            } else if (p == &wake_tag) {
                uint64_t v;
                while (read(srv->wakefd, &v, sizeof(v)) > 0)
                    ;
            } else {
                h2_conn_t *cn = p;
                if ((evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP)) && h2_conn_read(cn) != 0)
                    cn->dead = 1;
            }
        }
        int stop = run_pending(srv);
        timeout = check_deadlines(srv);
        /* Flushing may queue writable callbacks, which may send more: flush until quiet. */
        do {
            run_writables(srv);
            if (run_pending(srv))
                stop = 1;
            for (h2_conn_t *cn = srv->conns, *next; cn; cn = next) {
                next = cn->next;
                if (cn->dead || h2_conn_flush(cn) != 0) {
                    conn_close(srv, cn);
                    continue;
                }
                struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | (cn->olen > cn->ooff ? EPOLLOUT : 0u),
                                         .data.ptr = cn};
                int want_out = cn->olen > cn->ooff;
                if (want_out != cn->epollout) {
                    epoll_ctl(srv->epfd, EPOLL_CTL_MOD, cn->fd, &ev);
                    cn->epollout = want_out;
                }
            }
        } while (srv->writable);
        if (stop)
            break;
    }
    while (srv->conns)
        conn_close(srv, srv->conns);
    return NULL;
}

/* ---- start ---- */

static int listen_on(const char *addr, int *port_out)
{
    const char *colon = strrchr(addr, ':');
    if (!colon)
        return -1;
    char host[256];
    size_t hl = (size_t)(colon - addr);
    if (hl >= sizeof(host))
        return -1;
    memcpy(host, addr, hl);
    host[hl] = '\0';
    char *h = host;
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
        host[hl - 1] = '\0';
        h = host + 1;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *res;
    if (getaddrinfo(*h ? h : NULL, colon + 1, &hints, &res) != 0)
        return -1;
    int fd = -1;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            continue;
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)); /* not SO_REUSEPORT: a port in use fails */
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 1024) != 0) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0)
        return -1;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    *port_out = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                               : ((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

int eco_rpc_server_start(eco_rpc_server_t *srv)
{
    if (atomic_load(&srv->base.state) != ECO__SRV_CREATED)
        return ECO_EINVAL;
    srv->lfd = listen_on(srv->addr, &srv->port);
    if (srv->lfd < 0) {
        eco_error("grpc server cannot bind", ECO_KS("addr", srv->addr), ECO_KS("error", strerror(errno)));
        srv->port = 0;
        return ECO_EIO;
    }
    srv->epfd = epoll_create1(EPOLL_CLOEXEC);
    srv->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (srv->epfd < 0 || srv->wakefd < 0)
        eco_fatal("grpc server: epoll/eventfd: %s", strerror(errno));
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = &listener_tag};
    struct epoll_event wev = {.events = EPOLLIN, .data.ptr = &wake_tag};
    if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, srv->lfd, &lev) != 0 ||
        epoll_ctl(srv->epfd, EPOLL_CTL_ADD, srv->wakefd, &wev) != 0)
        eco_fatal("grpc server: epoll_ctl: %s", strerror(errno));
    atomic_store(&srv->base.state, ECO__SRV_STARTED);
    if (pthread_create(&srv->thread, NULL, loop_main, srv) != 0)
        eco_fatal("cannot start grpc server thread");
    srv->thread_started = 1;
    pthread_setname_np(srv->thread, "grpc-h2");
    eco_info("grpc server listening", ECO_KS("addr", srv->addr), ECO_KI("port", srv->port), ECO_KS("transport", "h2"),
             ECO_KI("methods", (long long)srv->base.methods.n));
    return srv->port;
}

/* ---- shutdown ---- */

static void command(eco_rpc_server_t *srv, int *cmd)
{
    pthread_mutex_lock(&srv->mu);
    if (!*cmd)
        *cmd = 1;
    wake(srv);
    pthread_mutex_unlock(&srv->mu);
}

/* GOAWAY: no new calls; the connections close once their calls are done. */
static void stop_accepting(eco_rpc_server_t *srv)
{
    command(srv, &srv->cmd_goaway);
}

static void cancel_all(eco_rpc_server_t *srv)
{
    command(srv, &srv->cmd_cancel_all);
}

int eco_rpc_server_shutdown(eco_rpc_server_t *srv, long grace_ms)
{
    static const eco__rpc_drain_ops_t ops = {stop_accepting, NULL, cancel_all};
    pthread_mutex_lock(&srv->state_lock);
    int st = atomic_load(&srv->base.state), rc = 0;
    if (st == ECO__SRV_STOPPED || st == ECO__SRV_LEAKED) {
        rc = st == ECO__SRV_LEAKED ? ECO_ETIMEDOUT : 0;
        goto out;
    }
    atomic_store(&srv->base.state, ECO__SRV_STOPPING);
    uint64_t t0 = eco_now_ms();
    rc = eco__rpc_base_drain(srv, grace_ms, &ops);
    if (rc != 0) {
        atomic_store(&srv->base.state, ECO__SRV_LEAKED); /* freeing the server would crash later */
        goto out;
    }
    if (srv->thread_started) {
        command(srv, &srv->cmd_stop);
        pthread_join(srv->thread, NULL);
        srv->thread_started = 0;
        eco_info("grpc server stopped", ECO_KI("port", srv->port), ECO_KI("ms", (long long)(eco_now_ms() - t0)));
    }
    atomic_store(&srv->base.state, ECO__SRV_STOPPED);
out:
    pthread_mutex_unlock(&srv->state_lock);
    return rc;
}

void eco_rpc_server_destroy(eco_rpc_server_t *srv)
{
    if (!srv)
        return;
    eco_rpc_server_shutdown(srv, 0);
    if (atomic_load(&srv->base.state) == ECO__SRV_LEAKED)
        return;
    if (srv->lfd >= 0)
        close(srv->lfd);
    if (srv->epfd >= 0)
        close(srv->epfd);
    if (srv->wakefd >= 0)
        close(srv->wakefd);
    eco__rpc_base_destroy(&srv->base);
    free(srv->addr);
    free(srv->batch);
    pthread_mutex_destroy(&srv->state_lock);
    pthread_mutex_destroy(&srv->mu);
    pthread_cond_destroy(&srv->cond);
    free(srv);
}
