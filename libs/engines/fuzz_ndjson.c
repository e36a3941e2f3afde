/* libFuzzer target: arbitrary bytes through the NDJSON stream parser (Ollama chat and generate); the checks are in
 * fuzz_stream.h.
 * Build: clang -g -O1 -fsanitize=fuzzer,address,undefined -Ilibs/core -Ilibs/engines \
 *   libs/engines/fuzz_ndjson.c $(find libs/engines libs/core -maxdepth 1 -name '*.c' \
 *   ! -name 'test_*' ! -name 'fuzz_*') -ljansson -lm -lpthread -o fuzz_ndjson
 * Run:   ./fuzz_ndjson tests/fuzz/corpus/ndjson (tests/fuzz/run.sh does both) */
#include <stddef.h>

static const struct {
    const char *kind;
    int chat, incremental;
} DIALECTS[] = {{"ollama", 1, 0}, {"ollama", 0, 0}};

#include "fuzz_stream.h"
