/* Error strings, reason formatting and deadline waits shared by the store modules. */
#include "eco_store.h"
#include "store_internal.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

const char *eco_store_strerror(int code)
{
    switch (code) {
    case ECO_OK:
        return "ok";
    case ECO_EINVAL:
        return "invalid argument";
    case ECO_ENOMEM:
        return "out of memory";
    case ECO_ERANGE:
        return "out of range";
    case ECO_ENOSPC:
        return "limit exceeded";
    case ECO_EIO:
        return "i/o error";
    case ECO_ETIMEDOUT:
        return "timed out";
    case ECO_STORE_ECONN:
        return "connection failed";
    case ECO_STORE_EQUERY:
        return "command rejected by the server";
    case ECO_STORE_EPROTO:
        return "unexpected reply";
    case ECO_STORE_EAUTH:
        return "authentication failed";
    case ECO_STORE_EMIGRATE:
        return "migrations inconsistent";
    case ECO_STORE_EFATAL:
        return "fatal client error";
    default:
        return "unknown error";
    }
}

void eco__store_seterr(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

void eco__store_first_line(char *dst, size_t dstlen, const char *src)
{
    if (!dst || dstlen == 0)
        return;
    if (!src)
        src = "";
    size_t n = strcspn(src, "\r\n");
    if (n >= dstlen)
        n = dstlen - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

int eco__store_remaining_ms(uint64_t deadline_ms)
{
    uint64_t now = eco_now_ms();
    if (now >= deadline_ms)
        return 0;
    uint64_t left = deadline_ms - now;
    return left > INT32_MAX ? INT32_MAX : (int)left;
}

int eco__store_wait_fd(int fd, short events, uint64_t deadline_ms)
{
    for (;;) {
        int left = eco__store_remaining_ms(deadline_ms);
        if (left == 0)
            return 0;
        struct pollfd pfd = {.fd = fd, .events = events};
        int r = poll(&pfd, 1, left);
        if (r > 0)
            return 1;
        if (r == 0)
            return 0;
        if (errno != EINTR)
            return ECO_EIO;
    }
}
