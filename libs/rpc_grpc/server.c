/* gRPC server lifecycle: methods, worker threads (one completion queue each), request
 * arming, and the bounded graceful shutdown of c-libraries.md B.5. */
#include "rpc_internal.h"

#include <grpc/grpc_security.h>
#include <grpc/support/time.h>
#include <string.h>
#include <time.h>

eco_rpc_server_t *eco_rpc_server_create(const eco_rpc_server_opts_t *opts)
{
    eco_rpc_server_t *srv = eco_calloc(1, sizeof(*srv));
    eco__rpc_opts_fill(&srv->opts, opts);
    srv->addr = (char *)srv->opts.addr;
    eco__rpc_base_init(&srv->base);
    pthread_mutex_init(&srv->state_lock, NULL);

    grpc_init();
    grpc_arg args[4];
    size_t nargs = 0;
    args[nargs++] = (grpc_arg){.type = GRPC_ARG_INTEGER,
                               .key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH,
                               .value.integer = srv->opts.max_recv_bytes};
    args[nargs++] = (grpc_arg){.type = GRPC_ARG_INTEGER,
                               .key = (char *)GRPC_ARG_MAX_SEND_MESSAGE_LENGTH,
                               .value.integer = srv->opts.max_send_bytes};
    /* gRPC enables SO_REUSEPORT by default: a second process on the same port would silently
     * share it instead of failing to start. */
    args[nargs++] = (grpc_arg){.type = GRPC_ARG_INTEGER, .key = (char *)GRPC_ARG_ALLOW_REUSEPORT, .value.integer = 0};
    if (srv->opts.max_concurrent_streams > 0)
        args[nargs++] = (grpc_arg){.type = GRPC_ARG_INTEGER,
                                   .key = (char *)GRPC_ARG_MAX_CONCURRENT_STREAMS,
                                   .value.integer = srv->opts.max_concurrent_streams};
    grpc_channel_args ca = {nargs, args};
    srv->server = grpc_server_create(&ca, NULL);

    srv->nworkers = srv->opts.threads;
    srv->workers = eco_calloc((size_t)srv->nworkers, sizeof(*srv->workers));
    for (int i = 0; i < srv->nworkers; i++) {
        srv->workers[i].srv = srv;
        srv->workers[i].cq = grpc_completion_queue_create_for_next(NULL);
        grpc_server_register_completion_queue(srv->server, srv->workers[i].cq, NULL);
    }
    /* Receives only the shutdown tag. A next CQ (not pluck): the server warns about
     * registered pluck CQs. */
    srv->shutdown_cq = grpc_completion_queue_create_for_next(NULL);
    grpc_server_register_completion_queue(srv->server, srv->shutdown_cq, NULL);
    return srv;
}

int eco_rpc_server_add_method(eco_rpc_server_t *srv, const ProtobufCServiceDescriptor *svc, const char *method,
                              eco_rpc_kind_t kind, eco_rpc_handler_fn fn, void *data)
{
    if (atomic_load(&srv->base.state) != ECO__SRV_CREATED)
        return ECO_EINVAL;
    eco__rpc_method_t *m = eco__rpc_methods_add(&srv->base.methods, svc, method, kind, fn, data);
    if (!m)
        return ECO_EINVAL;
    /* Both kinds read exactly one request message: let the core read it before the call is
     * handed to us. */
    m->handle = grpc_server_register_method(srv->server, m->path, NULL, GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);
    if (!m->handle) {
        free(m->path);
        srv->base.methods.n--;
        return ECO_EINVAL;
    }
    return 0;
}

/* ---- request arming ---- */

static void on_new(eco__rpc_tag_t *tag, int ok);

/* Arms one request for method m (NULL = the generic request for unknown methods) on worker
 * w. The new call is bound to the same CQ that is notified, so all of its events arrive on
 * w's thread. */
static void arm(eco__rpc_worker_t *w, const eco__rpc_method_t *m)
{
    eco_rpc_server_t *srv = w->srv;
    eco_rpc_call_t *c = eco__rpc_call_new(w, m);
    c->on_new.cb = on_new;
    grpc_call_error err;
    if (m)
        err = grpc_server_request_registered_call(srv->server, m->handle, &c->call, &c->deadline, &c->req_md_raw,
                                                  &c->payload, w->cq, w->cq, &c->on_new);
    else
        err = grpc_server_request_call(srv->server, &c->call, &c->details, &c->req_md_raw, w->cq, w->cq, &c->on_new);
    if (err != GRPC_CALL_OK)
        eco_fatal("grpc_server_request_call: %s", grpc_call_error_to_string(err));
}

static void on_new(eco__rpc_tag_t *tag, int ok)
{
    eco_rpc_call_t *c = ECO_CONTAINER_OF(tag, eco_rpc_call_t, on_new);
    if (!ok) {
        /* The server is shutting down: pending requests complete unsuccessfully. */
        eco__rpc_call_free_unstarted(c);
        return;
    }
    /* Re-arm first so that a burst of calls does not wait on this one's handler. The live
     * call keeps the shutdown tag from completing, so the CQ cannot be shut down under us. */
    if (!eco__rpc_server_shutting_down(c->srv))
        arm(c->w, c->m);
    eco__rpc_call_start(c);
}

static void *worker_main(void *arg)
{
    eco__rpc_worker_t *w = arg;
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(w->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            break;
        if (ev.type == GRPC_OP_COMPLETE) {
            eco__rpc_tag_t *t = ev.tag;
            t->cb(t, ev.success);
        }
    }
    return NULL;
}

int eco_rpc_server_start(eco_rpc_server_t *srv)
{
    if (atomic_load(&srv->base.state) != ECO__SRV_CREATED)
        return ECO_EINVAL;
    grpc_server_credentials *creds = grpc_insecure_server_credentials_create();
    int port = grpc_server_add_http2_port(srv->server, srv->addr, creds);
    grpc_server_credentials_release(creds);
    if (port <= 0) {
        eco_error("grpc server cannot bind", ECO_KS("addr", srv->addr));
        return ECO_EIO;
    }
    srv->port = port;
    grpc_server_start(srv->server);
    atomic_store(&srv->base.state, ECO__SRV_STARTED);
    for (int i = 0; i < srv->nworkers; i++) {
        eco__rpc_worker_t *w = &srv->workers[i];
        for (size_t j = 0; j < srv->base.methods.n; j++)
            for (int k = 0; k < srv->opts.armed_per_method; k++)
                arm(w, &srv->base.methods.v[j]);
        arm(w, NULL);
    }
    for (int i = 0; i < srv->nworkers; i++) {
        if (pthread_create(&srv->workers[i].thread, NULL, worker_main, &srv->workers[i]) != 0)
            eco_fatal("cannot start grpc worker thread");
        char name[16];
        snprintf(name, sizeof(name), "grpc-w%d", i % 100000);
        pthread_setname_np(srv->workers[i].thread, name);
    }
    eco_info("grpc server listening", ECO_KS("addr", srv->addr), ECO_KI("port", port), ECO_KI("threads", srv->nworkers),
             ECO_KI("methods", (long long)srv->base.methods.n));
    return port;
}

int eco_rpc_server_port(const eco_rpc_server_t *srv)
{
    return srv->port;
}

/* ---- shutdown ---- */

/* Waits for the shutdown tag (the only one posted to shutdown_cq) until until_ms. */
static int wait_shutdown_tag(eco_rpc_server_t *srv, uint64_t until_ms)
{
    uint64_t now = eco_now_ms();
    long ms = until_ms > now ? (long)(until_ms - now) : 0;
    grpc_event ev = grpc_completion_queue_next(srv->shutdown_cq, eco__rpc_deadline_ms(ms > 0 ? ms : 1), NULL);
    return ev.type == GRPC_OP_COMPLETE;
}

static void stop_workers(eco_rpc_server_t *srv, int joined)
{
    for (int i = 0; i < srv->nworkers; i++)
        grpc_completion_queue_shutdown(srv->workers[i].cq);
    for (int i = 0; i < srv->nworkers; i++) {
        if (joined) {
            pthread_join(srv->workers[i].thread, NULL);
        } else {
            /* Never started: drain the queue here. */
            grpc_event ev;
            do
                ev = grpc_completion_queue_next(srv->workers[i].cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
            while (ev.type != GRPC_QUEUE_SHUTDOWN);
        }
    }
}

static char shutdown_tag;

static void stop_accepting(eco_rpc_server_t *srv)
{
    grpc_server_shutdown_and_notify(srv->server, srv->shutdown_cq, &shutdown_tag);
}

static void cancel_all(eco_rpc_server_t *srv)
{
    grpc_server_cancel_all_calls(srv->server);
}

int eco_rpc_server_shutdown(eco_rpc_server_t *srv, long grace_ms)
{
    static const eco__rpc_drain_ops_t ops = {stop_accepting, wait_shutdown_tag, cancel_all};
    pthread_mutex_lock(&srv->state_lock);
    int st = atomic_load(&srv->base.state), rc = 0;
    if (st == ECO__SRV_STOPPED || st == ECO__SRV_LEAKED) {
        rc = st == ECO__SRV_LEAKED ? ECO_ETIMEDOUT : 0;
        goto out;
    }
    int was_started = st == ECO__SRV_STARTED;
    atomic_store(&srv->base.state, ECO__SRV_STOPPING); /* workers stop re-arming */
    uint64_t t0 = eco_now_ms();
    rc = eco__rpc_base_drain(srv, grace_ms, &ops);
    if (rc != 0) {
        atomic_store(&srv->base.state, ECO__SRV_LEAKED); /* destroying the CQs would crash later */
        goto out;
    }
    /* No call is left, so nothing can start a batch on a worker CQ any more. */
    stop_workers(srv, was_started);
    atomic_store(&srv->base.state, ECO__SRV_STOPPED);
    if (was_started)
        eco_info("grpc server stopped", ECO_KI("port", srv->port), ECO_KI("ms", (long long)(eco_now_ms() - t0)));
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
    grpc_server_destroy(srv->server);
    for (int i = 0; i < srv->nworkers; i++)
        grpc_completion_queue_destroy(srv->workers[i].cq);
    grpc_completion_queue_shutdown(srv->shutdown_cq);
    while (grpc_completion_queue_next(srv->shutdown_cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
           GRPC_QUEUE_SHUTDOWN)
        ;
    grpc_completion_queue_destroy(srv->shutdown_cq);
    eco__rpc_base_destroy(&srv->base);
    free(srv->workers);
    free(srv->addr);
    pthread_mutex_destroy(&srv->state_lock);
    free(srv);
    grpc_shutdown();
}
