/* Engine-style Prometheus families under each engine's real metric names (engines.md), fed
 * from the simulator's live state and statistics. One table per kind. */
#include "sim.h"

#include <math.h>
#include <string.h>

#define TOKENS_PER_BLOCK 32

typedef enum {
    SRC_RUNNING,
    SRC_WAITING,
    SRC_IN_FLIGHT,
    SRC_KV,
    SRC_KV_USED_TOKENS,
    SRC_KV_CAP,
    SRC_KV_USED_BLOCKS,
    SRC_KV_FREE_BLOCKS,
    SRC_KV_MAX_BLOCKS,
    SRC_TOKENS_PER_BLOCK,
    SRC_MAXC,
    SRC_ZERO,
    SRC_REQUESTS,
    SRC_SUCCESS,
    SRC_FAILED,
    SRC_REJECTED,
    SRC_FIN_STOP,
    SRC_FIN_LENGTH,
    SRC_FIN_ABORT,
    SRC_PROMPT_TOKENS,
    SRC_GEN_TOKENS,
    SRC_DECODE_STEPS,
    SRC_PROMPT_SECONDS,
    SRC_DECODE_SECONDS,
    SRC_TPS_PROMPT,
    SRC_TPS_GEN,
    SRC_QUEUE_US,
    SRC_H_TTFT,
    SRC_H_ITL,
    SRC_H_E2E,
    SRC_H_QUEUE,
    SRC_H_TPOT,
    SRC_H_GEN,
    SRC_H_PROMPT,
} src_t;

typedef struct {
    const char *name;
    const char *type; /* gauge, counter, histogram */
    src_t src;
    const char *labels; /* extra labels for this series, or NULL */
    const char *help;
} fam_t;

#define G(n, s, h)                                                                                                     \
    {                                                                                                                  \
        n, "gauge", s, NULL, h                                                                                         \
    }
#define C(n, s, h)                                                                                                     \
    {                                                                                                                  \
        n, "counter", s, NULL, h                                                                                       \
    }
#define H(n, s, h)                                                                                                     \
    {                                                                                                                  \
        n, "histogram", s, NULL, h                                                                                     \
    }

static const fam_t VLLM[] = {
    G("vllm:num_requests_running", SRC_RUNNING, "Number of requests in model execution batches."),
    G("vllm:num_requests_waiting", SRC_WAITING, "Number of requests waiting to be processed."),
    G("vllm:kv_cache_usage_perc", SRC_KV, "KV-cache usage. 1 means 100 percent usage."),
    G("vllm:gpu_cache_usage_perc", SRC_KV, "GPU KV-cache usage. 1 means 100 percent usage (deprecated name)."),
    C("vllm:num_preemptions_total", SRC_ZERO, "Cumulative number of preemption from the engine."),
    C("vllm:prefix_cache_queries_total", SRC_PROMPT_TOKENS,
      "Prefix cache queries, in terms of number of queried tokens."),
    C("vllm:prefix_cache_hits_total", SRC_ZERO, "Prefix cache hits, in terms of number of cached tokens."),
    C("vllm:prompt_tokens_total", SRC_PROMPT_TOKENS, "Number of prefill tokens processed."),
    C("vllm:generation_tokens_total", SRC_GEN_TOKENS, "Number of generation tokens processed."),
    {"vllm:request_success_total", "counter", SRC_FIN_STOP, "finished_reason=\"stop\"",
     "Count of successfully processed requests."},
    {"vllm:request_success_total", "counter", SRC_FIN_LENGTH, "finished_reason=\"length\"", NULL},
    {"vllm:request_success_total", "counter", SRC_FIN_ABORT, "finished_reason=\"abort\"", NULL},
    H("vllm:time_to_first_token_seconds", SRC_H_TTFT, "Histogram of time to first token in seconds."),
    H("vllm:inter_token_latency_seconds", SRC_H_ITL, "Histogram of inter-token latency in seconds."),
    H("vllm:e2e_request_latency_seconds", SRC_H_E2E, "Histogram of e2e request latency in seconds."),
    H("vllm:request_queue_time_seconds", SRC_H_QUEUE, "Histogram of time spent in WAITING phase for request."),
    H("vllm:request_prompt_tokens", SRC_H_PROMPT, "Number of prefill tokens processed."),
    H("vllm:request_generation_tokens", SRC_H_GEN, "Number of generation tokens processed."),
    {NULL, NULL, 0, NULL, NULL},
};

static const fam_t TGI[] = {
    G("tgi_queue_size", SRC_WAITING, "Current queue size"),
    G("tgi_batch_current_size", SRC_RUNNING, "Current batch size"),
    G("tgi_batch_current_max_tokens", SRC_KV_USED_TOKENS, "Maximum tokens for the current batch"),
    C("tgi_request_count", SRC_REQUESTS, "Total number of requests"),
    C("tgi_request_success", SRC_SUCCESS, "Number of successful requests"),
    {"tgi_request_failure", "counter", SRC_REJECTED, "err=\"overloaded\"", "Number of failed requests"},
    {"tgi_request_failure", "counter", SRC_FAILED, "err=\"validation\"", NULL},
    H("tgi_request_duration", SRC_H_E2E, "Request duration"),
    H("tgi_request_queue_duration", SRC_H_QUEUE, "Time spent in the queue per request"),
    H("tgi_request_mean_time_per_token_duration", SRC_H_TPOT, "Mean time per token per request"),
    H("tgi_request_generated_tokens", SRC_H_GEN, "Generated tokens per request"),
    H("tgi_request_input_length", SRC_H_PROMPT, "Input token length per request"),
    {NULL, NULL, 0, NULL, NULL},
};

static const fam_t SGLANG[] = {
    G("sglang:num_running_reqs", SRC_RUNNING, "The number of running requests."),
    G("sglang:num_queue_reqs", SRC_WAITING, "The number of requests in the waiting queue."),
    G("sglang:token_usage", SRC_KV, "The token usage."),
    G("sglang:num_used_tokens", SRC_KV_USED_TOKENS, "The number of used tokens."),
    G("sglang:max_total_num_tokens", SRC_KV_CAP, "Maximum total number of tokens in the KV cache pool."),
    G("sglang:cache_hit_rate", SRC_ZERO, "The prefix cache hit rate."),
    G("sglang:gen_throughput", SRC_TPS_GEN, "The generation throughput (token/s)."),
    C("sglang:prompt_tokens_total", SRC_PROMPT_TOKENS, "Number of prefill tokens processed."),
    C("sglang:generation_tokens_total", SRC_GEN_TOKENS, "Number of generation tokens processed."),
    H("sglang:time_to_first_token_seconds", SRC_H_TTFT, "Histogram of time to first token in seconds."),
    H("sglang:e2e_request_latency_seconds", SRC_H_E2E, "Histogram of End-to-end request latency in seconds"),
    H("sglang:time_per_output_token_seconds", SRC_H_TPOT, "Histogram of time per output token in seconds."),
    H("sglang:inter_token_latency_seconds", SRC_H_ITL, "Histogram of inter-token latency in seconds."),
    {NULL, NULL, 0, NULL, NULL},
};

static const fam_t TRTLLM[] = {
    {"trtllm_request_success_total", "counter", SRC_FIN_STOP, "finished_reason=\"stop\"",
     "Count of successfully processed requests."},
    {"trtllm_request_success_total", "counter", SRC_FIN_LENGTH, "finished_reason=\"length\"", NULL},
    H("trtllm_e2e_request_latency_seconds", SRC_H_E2E, "Histogram of end to end request latency in seconds."),
    H("trtllm_time_to_first_token_seconds", SRC_H_TTFT, "Histogram of time to first token in seconds."),
    H("trtllm_time_per_output_token_seconds", SRC_H_TPOT, "Histogram of time per output token in seconds."),
    H("trtllm_request_queue_time_seconds", SRC_H_QUEUE, "Histogram of time spent in WAITING phase for request."),
    G("trtllm_num_requests_running", SRC_RUNNING, "Number of requests currently running."),
    G("trtllm_num_requests_waiting", SRC_WAITING, "Number of requests waiting to be scheduled."),
    G("trtllm_kv_cache_utilization", SRC_KV, "KV cache utilization (0-1)."),
    G("trtllm_kv_cache_hit_rate", SRC_ZERO, "KV cache reuse hit rate."),
    G("trtllm_kv_cache_free_blocks", SRC_KV_FREE_BLOCKS, "Free KV cache blocks."),
    G("trtllm_kv_cache_used_blocks", SRC_KV_USED_BLOCKS, "Used KV cache blocks."),
    G("trtllm_kv_cache_max_blocks", SRC_KV_MAX_BLOCKS, "Maximum KV cache blocks."),
    C("trtllm_prompt_tokens_total", SRC_PROMPT_TOKENS, "Number of prompt tokens processed."),
    C("trtllm_generation_tokens_total", SRC_GEN_TOKENS, "Number of generation tokens processed."),
    {NULL, NULL, 0, NULL, NULL},
};

static const fam_t TRITON[] = {
    C("nv_inference_request_success", SRC_SUCCESS, "Number of successful inference requests, all batch sizes"),
    {"nv_inference_request_failure", "counter", SRC_REJECTED, "reason=\"REJECTED\"",
     "Number of failed inference requests, all batch sizes"},
    {"nv_inference_request_failure", "counter", SRC_FAILED, "reason=\"OTHER\"", NULL},
    C("nv_inference_count", SRC_SUCCESS, "Number of inferences performed (does not include cached requests)"),
    C("nv_inference_exec_count", SRC_DECODE_STEPS,
      "Number of model executions performed (does not include cached requests)"),
    C("nv_inference_queue_duration_us", SRC_QUEUE_US,
      "Cumulative inference queuing duration in microseconds (includes cached requests)"),
    G("nv_inference_pending_request_count", SRC_WAITING,
      "Instantaneous number of pending requests awaiting execution per-model."),
    {NULL, NULL, 0, NULL, NULL},
};

static const fam_t TRITON_TRTLLM[] = {
    {"nv_trt_llm_request_metrics", "gauge", SRC_RUNNING, "request_type=\"active\"", "TRT LLM request metrics"},
    {"nv_trt_llm_request_metrics", "gauge", SRC_MAXC, "request_type=\"max\"", NULL},
    {"nv_trt_llm_request_metrics", "gauge", SRC_RUNNING, "request_type=\"scheduled\"", NULL},
    {"nv_trt_llm_request_metrics", "gauge", SRC_ZERO, "request_type=\"context\"", NULL},
    {"nv_trt_llm_request_metrics", "gauge", SRC_WAITING, "request_type=\"waiting\"", NULL},
    {"nv_trt_llm_kv_cache_block_metrics", "gauge", SRC_KV_USED_BLOCKS, "kv_cache_block_type=\"used\"",
     "TRT LLM KV cache block metrics"},
    {"nv_trt_llm_kv_cache_block_metrics", "gauge", SRC_KV_FREE_BLOCKS, "kv_cache_block_type=\"free\"", NULL},
    {"nv_trt_llm_kv_cache_block_metrics", "gauge", SRC_KV_MAX_BLOCKS, "kv_cache_block_type=\"max\"", NULL},
    {"nv_trt_llm_kv_cache_block_metrics", "gauge", SRC_TOKENS_PER_BLOCK, "kv_cache_block_type=\"tokens_per\"", NULL},
    {"nv_trt_llm_kv_cache_block_metrics", "gauge", SRC_KV, "kv_cache_block_type=\"fraction\"", NULL},
    {NULL, NULL, 0, NULL, NULL},
};

static const fam_t LMDEPLOY[] = {
    G("lmdeploy:num_requests_running", SRC_RUNNING, "Number of requests currently running."),
    G("lmdeploy:num_requests_waiting", SRC_WAITING, "Number of requests waiting."),
    G("lmdeploy:gpu_cache_usage_perc", SRC_KV, "GPU KV-cache usage. 1 means 100 percent usage."),
    G("lmdeploy:num_api_requests_routed", SRC_IN_FLIGHT, "Number of requests routed to the engine."),
    G("lmdeploy:num_api_requests_waiting", SRC_WAITING, "Number of requests waiting at the API server."),
    G("lmdeploy:prefix_cache_hit_rate", SRC_ZERO, "Prefix cache hit rate."),
    C("lmdeploy:prompt_tokens_total", SRC_PROMPT_TOKENS, "Number of prefill tokens processed."),
    C("lmdeploy:generation_tokens_total", SRC_GEN_TOKENS, "Number of generation tokens processed."),
    H("lmdeploy:time_to_first_token_seconds", SRC_H_TTFT, "Histogram of time to first token in seconds."),
    H("lmdeploy:e2e_request_latency_seconds", SRC_H_E2E, "Histogram of e2e request latency in seconds."),
    H("lmdeploy:request_queue_time_seconds", SRC_H_QUEUE, "Histogram of time spent in WAITING phase for request."),
    {NULL, NULL, 0, NULL, NULL},
};

static const fam_t LLAMACPP[] = {
    C("llamacpp:prompt_tokens_total", SRC_PROMPT_TOKENS, "Number of prompt tokens processed."),
    C("llamacpp:prompt_seconds_total", SRC_PROMPT_SECONDS, "Prompt process time"),
    C("llamacpp:tokens_predicted_total", SRC_GEN_TOKENS, "Number of generation tokens processed."),
    C("llamacpp:tokens_predicted_seconds_total", SRC_DECODE_SECONDS, "Predict process time"),
    C("llamacpp:n_decode_total", SRC_DECODE_STEPS, "Total number of llama_decode() calls"),
    G("llamacpp:n_busy_slots_per_decode", SRC_RUNNING, "Average number of busy slots per llama_decode() call"),
    G("llamacpp:prompt_tokens_seconds", SRC_TPS_PROMPT, "Average prompt throughput in tokens/s."),
    G("llamacpp:predicted_tokens_seconds", SRC_TPS_GEN, "Average generation throughput in tokens/s."),
    G("llamacpp:requests_processing", SRC_RUNNING, "Number of requests processing."),
    G("llamacpp:requests_deferred", SRC_WAITING, "Number of requests deferred."),
    {NULL, NULL, 0, NULL, NULL},
};

static double value_of(const sim_t *sim, src_t src)
{
    const sim_stats_t *st = &sim->st;
    double cap_blocks = floor((double)sim->o.kv_cache_tokens / TOKENS_PER_BLOCK);
    double used_blocks = ceil((double)sim->kv_tokens / TOKENS_PER_BLOCK);
    if (used_blocks > cap_blocks)
        used_blocks = cap_blocks;
    switch (src) {
    case SRC_RUNNING:
        return (double)sim->running;
    case SRC_WAITING:
        return (double)sim->waiting;
    case SRC_IN_FLIGHT:
        return (double)(sim->running + sim->waiting);
    case SRC_KV:
        return sim_kv_usage(sim);
    case SRC_KV_USED_TOKENS:
        return (double)sim->kv_tokens;
    case SRC_KV_CAP:
        return (double)sim->o.kv_cache_tokens;
    case SRC_KV_USED_BLOCKS:
        return used_blocks;
    case SRC_KV_FREE_BLOCKS:
        return cap_blocks - used_blocks;
    case SRC_KV_MAX_BLOCKS:
        return cap_blocks;
    case SRC_TOKENS_PER_BLOCK:
        return TOKENS_PER_BLOCK;
    case SRC_MAXC:
        return (double)sim->o.max_concurrency;
    case SRC_REQUESTS:
        return (double)st->requests;
    case SRC_SUCCESS:
        return (double)st->completed;
    case SRC_FAILED:
        return (double)st->failed;
    case SRC_REJECTED:
        return (double)st->rejected;
    case SRC_FIN_STOP:
        return (double)st->finished_stop;
    case SRC_FIN_LENGTH:
        return (double)st->finished_length;
    case SRC_FIN_ABORT:
        return (double)st->finished_abort;
    case SRC_PROMPT_TOKENS:
        return (double)st->prompt_tokens;
    case SRC_GEN_TOKENS:
        return (double)st->generation_tokens;
    case SRC_DECODE_STEPS:
        return (double)st->decode_steps;
    case SRC_PROMPT_SECONDS:
        return st->prompt_seconds;
    case SRC_DECODE_SECONDS:
        return st->decode_seconds;
    case SRC_TPS_PROMPT:
        return st->prompt_seconds > 0 ? (double)st->prompt_tokens / st->prompt_seconds : 0;
    case SRC_TPS_GEN:
        return st->decode_seconds > 0 ? (double)st->generation_tokens / st->decode_seconds : 0;
    case SRC_QUEUE_US:
        return st->queue.sum * 1e6;
    default:
        return 0;
    }
}

static const sim_hist_t *hist_of(const sim_t *sim, src_t src)
{
    switch (src) {
    case SRC_H_TTFT:
        return &sim->st.ttft;
    case SRC_H_ITL:
        return &sim->st.itl;
    case SRC_H_E2E:
        return &sim->st.e2e;
    case SRC_H_QUEUE:
        return &sim->st.queue;
    case SRC_H_TPOT:
        return &sim->st.tpot;
    case SRC_H_GEN:
        return &sim->st.gen_tokens;
    case SRC_H_PROMPT:
        return &sim->st.prompt_len;
    default:
        return NULL;
    }
}

static void add_num(eco_buf_t *b, double v)
{
    if (v == floor(v) && fabs(v) < 1e15)
        eco_buf_addf(b, "%.1f", v);
    else
        eco_buf_addf(b, "%.9g", v);
}

/* "{base,extra,le=..}" with empty parts left out. */
static void add_labels(eco_buf_t *b, const char *base, const char *extra, const char *le)
{
    int n = 0;
    eco_buf_addc(b, '{');
    if (base && *base) {
        eco_buf_adds(b, base);
        n++;
    }
    if (extra && *extra) {
        eco_buf_adds(b, n++ ? "," : "");
        eco_buf_adds(b, extra);
    }
    if (le) {
        eco_buf_adds(b, n++ ? "," : "");
        eco_buf_addf(b, "le=\"%s\"", le);
    }
    if (n == 0)
        b->len--; /* no labels at all: drop the brace */
    else
        eco_buf_addc(b, '}');
}

static void render_table(const sim_t *sim, const fam_t *t, const char *base, eco_buf_t *b)
{
    const char *prev = NULL;
    for (; t->name; t++) {
        if (!prev || strcmp(prev, t->name) != 0) {
            eco_buf_addf(b, "# HELP %s %s\n# TYPE %s %s\n", t->name, t->help ? t->help : "", t->name, t->type);
            prev = t->name;
        }
        const sim_hist_t *h = hist_of(sim, t->src);
        if (!h) {
            eco_buf_adds(b, t->name);
            add_labels(b, base, t->labels, NULL);
            eco_buf_addc(b, ' ');
            add_num(b, value_of(sim, t->src));
            eco_buf_addc(b, '\n');
            continue;
        }
        for (size_t i = 0; i <= h->nb; i++) {
            char le[32];
            if (i < h->nb)
                snprintf(le, sizeof(le), "%g", h->bounds[i]);
            else
                snprintf(le, sizeof(le), "+Inf");
            eco_buf_addf(b, "%s_bucket", t->name);
            add_labels(b, base, t->labels, le);
            eco_buf_addc(b, ' ');
            add_num(b, (double)(i < h->nb ? h->counts[i] : h->count));
            eco_buf_addc(b, '\n');
        }
        eco_buf_addf(b, "%s_sum", t->name);
        add_labels(b, base, t->labels, NULL);
        eco_buf_addc(b, ' ');
        add_num(b, h->sum);
        eco_buf_addf(b, "\n%s_count", t->name);
        add_labels(b, base, t->labels, NULL);
        eco_buf_addc(b, ' ');
        add_num(b, (double)h->count);
        eco_buf_addc(b, '\n');
    }
}

static void model_label(eco_buf_t *out, const char *prefix, const char *model, const char *suffix)
{
    eco_buf_adds(out, prefix);
    for (const char *p = model; *p; p++) {
        if (*p == '"' || *p == '\\')
            eco_buf_addc(out, '\\');
        if (*p == '\n') {
            eco_buf_adds(out, "\\n");
            continue;
        }
        eco_buf_addc(out, *p);
    }
    eco_buf_adds(out, suffix);
}

void sim_metrics_render(sim_t *sim, eco_buf_t *out)
{
    eco_buf_t base;
    eco_buf_init(&base, 4096);
    switch (sim->o.kind) {
    case SIM_VLLM:
        model_label(&base, "engine=\"0\",model_name=\"", sim->o.model, "\"");
        render_table(sim, VLLM, eco_buf_cstr(&base), out);
        break;
    case SIM_TGI:
        render_table(sim, TGI, "", out);
        break;
    case SIM_SGLANG:
        model_label(&base, "model_name=\"", sim->o.model, "\"");
        render_table(sim, SGLANG, eco_buf_cstr(&base), out);
        break;
    case SIM_TRTLLM:
        model_label(&base, "model_name=\"", sim->o.model, "\"");
        render_table(sim, TRTLLM, eco_buf_cstr(&base), out);
        break;
    case SIM_TRITON:
        model_label(&base, "model=\"", sim->o.model, "\",version=\"1\"");
        render_table(sim, TRITON, eco_buf_cstr(&base), out);
        render_table(sim, TRITON_TRTLLM, "model=\"tensorrt_llm\",version=\"1\"", out);
        break;
    case SIM_LMDEPLOY:
        model_label(&base, "model_name=\"", sim->o.model, "\"");
        render_table(sim, LMDEPLOY, eco_buf_cstr(&base), out);
        break;
    case SIM_LLAMACPP:
        render_table(sim, LLAMACPP, "", out);
        break;
    default:
        break; /* Ollama, MII and plain OpenAI servers have no engine metrics */
    }
    eco_buf_free(&base);
}
