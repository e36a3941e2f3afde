/* Helpers shared by the libs/store sources; not part of the public API. */
#ifndef ECO_STORE_INTERNAL_H
#define ECO_STORE_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* Writes a formatted reason into err (truncated, NUL-terminated); no-op when errlen == 0. */
__attribute__((format(printf, 3, 4))) void eco__store_seterr(char *err, size_t errlen, const char *fmt, ...);

/* Copies the first line of src (libpq and librdkafka messages end with '\n') into dst. */
void eco__store_first_line(char *dst, size_t dstlen, const char *src);

/* Milliseconds left until deadline_ms (eco_now_ms clock), at least 0. */
int eco__store_remaining_ms(uint64_t deadline_ms);

/* Waits for fd to become readable (events = POLLIN) or writable (POLLOUT) until deadline_ms.
 * Returns 1 when ready, 0 on timeout, ECO_EIO on poll failure. Retries on EINTR. */
int eco__store_wait_fd(int fd, short events, uint64_t deadline_ms);

#endif
