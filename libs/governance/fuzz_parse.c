/* libFuzzer target: arbitrary bytes through validate and strip must never crash, leak or
 * exceed the bounds. Build: clang -fsanitize=fuzzer,address,undefined -Ilibs/core
 * -Ilibs/governance libs/governance/fuzz_parse.c <core and governance sources> -lyaml -lm */
#include <stddef.h>
#include <stdint.h>

#include "eco_governance.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    eco_governance_report_t r;
    eco_governance_report_init(&r);
    eco_governance_validate("fuzz", (const char *)data, size, &r);
    eco_buf_t text = ECO_BUF_INIT;
    eco_governance_report_json(&r, &text);
    eco_buf_free(&text);
    eco_governance_report_free(&r);

    eco_buf_t out = ECO_BUF_INIT;
    eco_governance_report_init(&r);
    if (eco_governance_strip("fuzz", (const char *)data, size, &out, &r) == 0 &&
        out.len <= ECO_GOVERNANCE_MAX_FILE_BYTES) {
        /* What strip emits must parse again and strip to the same text. */
        eco_buf_t again = ECO_BUF_INIT;
        eco_governance_report_t r2;
        eco_governance_report_init(&r2);
        if (eco_governance_strip("again", out.base ? out.base : "", out.len, &again, &r2) != 0 || again.len != out.len)
            __builtin_trap();
        eco_governance_report_free(&r2);
        eco_buf_free(&again);
    }
    eco_buf_free(&out);
    eco_governance_report_free(&r);
    return 0;
}
