/* engine-sim: one process speaks one inference engine's HTTP API (vLLM, TGI, Ollama, SGLang,
 * trtllm-serve, Triton, DeepSpeed-MII, LMDeploy, llama.cpp or OpenAI) with deterministic output,
 * configurable latency, concurrency limits and injected faults. See --help. */
#include "sim.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const KIND_NAMES[SIM_NKINDS] = {"vllm",   "tgi", "ollama",   "sglang",   "trtllm",
                                                   "triton", "mii", "lmdeploy", "llamacpp", "openai"};

const char *sim_kind_name(sim_kind_t k)
{
    return k < SIM_NKINDS ? KIND_NAMES[k] : "?";
}

static const char USAGE[] =
    "usage: engine-sim --kind KIND --port PORT [options]\n"
    "\n"
    "Speaks one inference engine's HTTP API with deterministic output (no GPU).\n"
    "KIND: vllm | tgi | ollama | sglang | trtllm | triton | mii | lmdeploy | llamacpp | openai\n"
    "\n"
    "Serving:\n"
    "  --port PORT               listen port (required)\n"
    "  --bind ADDR               IPv4 listen address (default: ECO_BIND_ADDR, else 0.0.0.0)\n"
    "  --model NAME              served model name (default eco-sim; triton: ensemble; ollama adds :latest)\n"
    "  --max-model-len N         context length for validation (default 4096)\n"
    "  --embedding-dim N         embedding size (default 384)\n"
    "  --log-level LEVEL         debug | info | warn | error (default: ECO_LOG_LEVEL, else info)\n"
    "Output (identical across instances and kinds with the same values):\n"
    "  --min-output-tokens N     shortest natural answer (default 4)\n"
    "  --max-output-tokens N     longest natural answer (default 64, at most 65536)\n"
    "Latency:\n"
    "  --ttft-ms N               delay before the first token (default 0)\n"
    "  --itl-ms N                delay between tokens (default 0)\n"
    "Capacity:\n"
    "  --max-concurrency N       requests generating at once; 0 = unlimited (default 256)\n"
    "  --queue-size N            requests waiting beyond that; more get the engine's overload answer\n"
    "                            (429/503 per engine) (default 1024)\n"
    "  --kv-cache-tokens N       KV capacity behind the cache-usage metrics (default 65536)\n"
    "Start-up and health:\n"
    "  --load-ms N               loading for the first N ms: health says not ready, requests get the\n"
    "                            engine's loading answer (Ollama: requests wait for the load)\n"
    "  --never-ready             loading forever (health not ready, requests answered \"loading\")\n"
    "  --refuse                  never listen: every connection is refused; exit on SIGTERM\n"
    "  --refuse-ms N             refuse connections for the first N ms (as vLLM/TGI/SGLang do while\n"
    "                            loading), then listen\n"
    "Faults (applied to generation and embedding requests; a request's x-sim-fault header, same\n"
    "keys as --fault, overrides them):\n"
    "  --fault SPEC              key=value list, e.g. \"status=429,retry-after=2\" or \"cut-after=5\"; keys:\n"
    "                            status, retry-after, cut-after, stall-after, malformed-after,\n"
    "                            slow-ms, slow-after, ttft-ms, itl-ms (the flags below)\n"
    "  --fail-status CODE        answer CODE (400-599) in the engine's error shape\n"
    "  --retry-after S           Retry-After seconds on 429/503 answers (default 1)\n"
    "  --cut-after N             close the connection abruptly after N tokens (no terminator;\n"
    "                            non-streaming: no answer at all)\n"
    "  --stall-after N           stop sending after N tokens and keep the connection open\n"
    "  --malformed-after N       send one malformed frame after N tokens (non-streaming: a\n"
    "                            truncated JSON body)\n"
    "  --slow-ms N               inter-token delay N ms for tokens from --slow-after on\n"
    "  --slow-after N            first token index that is slow (default 1)\n"
    "  --fault-every N           flag faults hit every Nth request only (default 1: all)\n"
    "Protocol details:\n"
    "  --keepalive-ms N          TGI: SSE keep-alive comment interval (default 15000; 0 = off)\n"
    "  --incremental-streaming-output  SGLang: stream text deltas instead of cumulative text\n"
    "  --watch-ms N              how often idle connections are checked for a vanished client\n"
    "                            (default 100)\n"
    "\n"
    "Always served: GET /sim/stats (JSON: requests, cancelled, in_flight, max_in_flight_seen, ...),\n"
    "POST /sim/reset, GET /sim/metrics (eco_sim_* and runtime metrics, incl. eco_sim_cancelled_total).\n"
    "Exit codes: 0 after SIGTERM, 1 if the port cannot be bound, 2 on a bad flag.\n";

typedef struct {
    int port;
    const char *bind, *log_level;
    int refuse;
    long refuse_ms;
    int have_kind;
} cli_t;

__attribute__((noreturn, format(printf, 1, 2))) static void bad(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("engine-sim: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs(" (see --help)\n", stderr);
    va_end(ap);
    exit(2);
}

static long num(const char *flag, const char *v, long min, long max)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (!*v || *end || errno || x < min || x > max)
        bad("%s: expected an integer in %ld-%ld, got \"%.60s\"", flag, min, max, v);
    return x;
}

static void defaults(sim_opts_t *o)
{
    memset(o, 0, sizeof(*o));
    o->model = NULL;
    o->gen.min_tokens = 4;
    o->gen.max_tokens = 64;
    o->embedding_dim = 384;
    o->max_concurrency = 256;
    o->queue_size = 1024;
    o->max_model_len = 4096;
    o->kv_cache_tokens = 65536;
    o->keepalive_ms = 15000;
    o->watch_ms = 100;
    o->fault_every = 1;
    sim_fault_clear(&o->fault);
}

static void parse(int argc, char **argv, sim_opts_t *o, cli_t *c)
{
    sim_fault_t *f = &o->fault;
    for (int i = 1; i < argc; i++) {
        char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(USAGE, stdout);
            exit(0);
        }
        if (strcmp(a, "--version") == 0) {
            printf("engine-sim %s\n", ECO_VERSION);
            exit(0);
        }
        if (strncmp(a, "--", 2) != 0)
            bad("unexpected argument \"%.60s\"", a);
        char name[64];
        const char *val = NULL;
        char *eq = strchr(a, '=');
        size_t nl = eq ? (size_t)(eq - a) : strlen(a);
        if (nl >= sizeof(name))
            bad("unknown flag \"%.60s\"", a);
        memcpy(name, a, nl);
        name[nl] = '\0';
        int boolean = strcmp(name, "--never-ready") == 0 || strcmp(name, "--refuse") == 0 ||
                      strcmp(name, "--incremental-streaming-output") == 0;
        if (boolean) {
            if (eq)
                bad("%s takes no value", name);
        } else if (eq) {
            val = eq + 1;
        } else if (i + 1 < argc) {
            val = argv[++i];
        } else {
            bad("%s needs a value", name);
        }
        const long BIG = 600000;
        if (strcmp(name, "--kind") == 0) {
            int k = -1;
            for (int x = 0; x < SIM_NKINDS; x++)
                if (strcmp(val, KIND_NAMES[x]) == 0)
                    k = x;
            if (k < 0)
                bad("--kind: expected one of vllm|tgi|ollama|sglang|trtllm|triton|mii|lmdeploy|llamacpp|openai, "
                    "got \"%.40s\"",
                    val);
            o->kind = (sim_kind_t)k;
            c->have_kind = 1;
        } else if (strcmp(name, "--port") == 0) {
            c->port = (int)num(name, val, 1, 65535);
        } else if (strcmp(name, "--bind") == 0) {
            c->bind = val;
        } else if (strcmp(name, "--model") == 0) {
            if (!*val || strlen(val) > 200)
                bad("--model: expected a name of 1-200 characters");
            o->model = val;
        } else if (strcmp(name, "--log-level") == 0) {
            c->log_level = val;
        } else if (strcmp(name, "--ttft-ms") == 0) {
            o->ttft_ms = num(name, val, 0, BIG);
        } else if (strcmp(name, "--itl-ms") == 0) {
            o->itl_ms = num(name, val, 0, BIG);
        } else if (strcmp(name, "--min-output-tokens") == 0) {
            o->gen.min_tokens = (uint32_t)num(name, val, 1, GEN_MAX_OUTPUT_TOKENS);
        } else if (strcmp(name, "--max-output-tokens") == 0) {
            o->gen.max_tokens = (uint32_t)num(name, val, 1, GEN_MAX_OUTPUT_TOKENS);
        } else if (strcmp(name, "--embedding-dim") == 0) {
            o->embedding_dim = num(name, val, 1, 16384);
        } else if (strcmp(name, "--max-concurrency") == 0) {
            o->max_concurrency = num(name, val, 0, 1000000);
        } else if (strcmp(name, "--queue-size") == 0) {
            o->queue_size = num(name, val, 0, 1000000);
        } else if (strcmp(name, "--max-model-len") == 0) {
            o->max_model_len = num(name, val, 16, 100000000);
        } else if (strcmp(name, "--kv-cache-tokens") == 0) {
            o->kv_cache_tokens = num(name, val, 32, 1000000000);
        } else if (strcmp(name, "--load-ms") == 0) {
            o->load_ms = num(name, val, 0, 86400000);
        } else if (strcmp(name, "--never-ready") == 0) {
            o->never_ready = 1;
        } else if (strcmp(name, "--refuse") == 0) {
            c->refuse = 1;
        } else if (strcmp(name, "--refuse-ms") == 0) {
            c->refuse_ms = num(name, val, 0, 86400000);
        } else if (strcmp(name, "--keepalive-ms") == 0) {
            o->keepalive_ms = num(name, val, 0, BIG);
        } else if (strcmp(name, "--incremental-streaming-output") == 0) {
            o->incremental = 1;
        } else if (strcmp(name, "--watch-ms") == 0) {
            o->watch_ms = num(name, val, 5, 60000);
        } else if (strcmp(name, "--fault") == 0) {
            sim_fault_t top;
            char err[200];
            if (sim_fault_parse(&top, val, strlen(val), err, sizeof(err)) != 0)
                bad("--fault: %s", err);
            sim_fault_merge(f, &top);
        } else if (strcmp(name, "--fail-status") == 0) {
            f->status = (int)num(name, val, 400, 599);
        } else if (strcmp(name, "--retry-after") == 0) {
            f->retry_after_s = num(name, val, 0, 86400);
        } else if (strcmp(name, "--cut-after") == 0) {
            f->cut_after = num(name, val, 0, GEN_MAX_OUTPUT_TOKENS);
        } else if (strcmp(name, "--stall-after") == 0) {
            f->stall_after = num(name, val, 0, GEN_MAX_OUTPUT_TOKENS);
        } else if (strcmp(name, "--malformed-after") == 0) {
            f->malformed_after = num(name, val, 0, GEN_MAX_OUTPUT_TOKENS);
        } else if (strcmp(name, "--slow-ms") == 0) {
            f->slow_ms = num(name, val, 0, BIG);
        } else if (strcmp(name, "--slow-after") == 0) {
            f->slow_after = num(name, val, 0, GEN_MAX_OUTPUT_TOKENS);
        } else if (strcmp(name, "--fault-every") == 0) {
            o->fault_every = num(name, val, 1, 1000000000);
        } else {
            bad("unknown flag \"%.60s\"", name);
        }
    }
    if (!c->have_kind)
        bad("--kind is required");
    if (!c->port)
        bad("--port is required");
    if (o->gen.min_tokens > o->gen.max_tokens)
        bad("--min-output-tokens (%u) exceeds --max-output-tokens (%u)", o->gen.min_tokens, o->gen.max_tokens);
    if (c->log_level && strcmp(c->log_level, "debug") && strcmp(c->log_level, "info") && strcmp(c->log_level, "warn") &&
        strcmp(c->log_level, "error"))
        bad("--log-level: expected debug|info|warn|error, got \"%.20s\"", c->log_level);
}

/* Waits up to ms (< 0: forever) for SIGTERM/SIGINT (blocked by the service runtime). 1 if one came. */
static int wait_for_signal(long ms)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    for (;;) {
        int sig;
        if (ms < 0) {
            if (sigwait(&set, &sig) == 0)
                return 1;
            continue;
        }
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        sig = sigtimedwait(&set, NULL, &ts);
        if (sig > 0)
            return 1;
        if (errno == EAGAIN)
            return 0;
    }
}

int main(int argc, char **argv)
{
    static sim_t sim;
    cli_t cli = {0};
    defaults(&sim.o);
    parse(argc, argv, &sim.o, &cli);
    if (cli.bind)
        setenv("ECO_BIND_ADDR", cli.bind, 1);
    if (cli.log_level)
        setenv("ECO_LOG_LEVEL", cli.log_level, 1);
    static char model[256];
    const char *m = sim.o.model ? sim.o.model : sim.o.kind == SIM_TRITON ? "ensemble" : "eco-sim";
    snprintf(model, sizeof(model), "%s%s", m, sim.o.kind == SIM_OLLAMA && !strchr(m, ':') ? ":latest" : "");
    sim.o.model = model;

    eco_service_opts_t opts = {
        .name = "engine-sim", .default_http_port = cli.port, .http_port = cli.port, .no_builtins = 1};
    char *eargv[] = {argv[0], NULL};
    sim.svc = eco_service_new(&opts, 1, eargv);
    eco_kv_t desc[] = {ECO_KS("kind", sim_kind_name(sim.o.kind)), ECO_KI("port", cli.port),
                       ECO_KS("model", sim.o.model)};
    if (cli.refuse) {
        eco_log_kv(ECO_LOG_INFO, "refusing connections (--refuse): not listening", desc, ECO_ARRAY_SIZE(desc));
        wait_for_signal(-1);
        eco_info("stopped");
        return 0;
    }
    if (cli.refuse_ms > 0) {
        eco_log_kv(ECO_LOG_INFO, "refusing connections until --refuse-ms passes", desc, ECO_ARRAY_SIZE(desc));
        if (wait_for_signal(cli.refuse_ms)) {
            eco_info("stopped");
            return 0;
        }
    }
    sim.ready_at_ms = eco_now_ms() + (uint64_t)sim.o.load_ms;
    sim_stats_init(&sim);
    sim_jobs_init(&sim);
    sim_routes_common(&sim);
    sim_routes_openai(&sim);
    switch (sim.o.kind) {
    case SIM_TGI:
        sim_routes_tgi(&sim);
        break;
    case SIM_OLLAMA:
        sim_routes_ollama(&sim);
        break;
    case SIM_SGLANG:
        sim_routes_sglang(&sim);
        break;
    case SIM_TRITON:
        sim_routes_triton(&sim);
        break;
    case SIM_MII:
        sim_routes_mii(&sim);
        break;
    case SIM_LMDEPLOY:
        sim_routes_lmdeploy(&sim);
        break;
    case SIM_LLAMACPP:
        sim_routes_llamacpp(&sim);
        break;
    default:
        sim_routes_vllmish(&sim);
        break;
    }
    eco_info("engine-sim configured", ECO_KS("kind", sim_kind_name(sim.o.kind)), ECO_KS("model", sim.o.model),
             ECO_KI("ttft_ms", sim.o.ttft_ms), ECO_KI("itl_ms", sim.o.itl_ms),
             ECO_KI("max_concurrency", sim.o.max_concurrency), ECO_KI("queue_size", sim.o.queue_size),
             ECO_KI("load_ms", sim.o.load_ms), ECO_KB("never_ready", sim.o.never_ready),
             ECO_KB("faults", sim_fault_any(&sim.o.fault)));
    return eco_service_run(sim.svc);
}
