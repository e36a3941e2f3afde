/* libFuzzer target: arbitrary bytes through the SSE stream parser of every SSE dialect; the checks are in
 * fuzz_stream.h.
 * Build: clang -g -O1 -fsanitize=fuzzer,address,undefined -Ilibs/core -Ilibs/engines \
 *   libs/engines/fuzz_sse.c $(find libs/engines libs/core -maxdepth 1 -name '*.c' \
 *   ! -name 'test_*' ! -name 'fuzz_*') -ljansson -lm -lpthread -o fuzz_sse
 * Run:   ./fuzz_sse tests/fuzz/corpus/sse (tests/fuzz/run.sh does both) */
#include <stddef.h>

static const struct {
    const char *kind;
    int chat, incremental;
} DIALECTS[] = {{"vllm", 1, 0},   {"openai", 0, 0}, {"tgi", 0, 0},      {"tgi", 1, 0},     {"sglang", 0, 0},
                {"sglang", 0, 1}, {"triton", 0, 0}, {"llamacpp", 0, 0}, {"llamacpp", 1, 0}};

#include "fuzz_stream.h"
