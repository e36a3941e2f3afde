/* Health checks: HTTP GET expecting 2xx (libcurl), TCP connect, or a command exiting 0. */
#include "ecoctl.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

void ecoctl_health_global_init(void)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        eco_fatal("curl_global_init failed");
}

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
    (void)p, (void)ud;
    return size * n;
}

static int check_http(const char *url, long timeout_ms, char *why, size_t whylen)
{
    CURL *c = curl_easy_init();
    if (!c)
        eco_fatal("curl_easy_init failed");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*"); /* a developer's http_proxy must not see local checks */
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_USERAGENT, "ecoctl/" ECO_VERSION);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    CURLcode res = curl_easy_perform(c);
    long code = 0;
    int rc = 0;
    if (res != CURLE_OK) {
        snprintf(why, whylen, "GET %s: %s", url, curl_easy_strerror(res));
        rc = ECO_EIO;
    } else {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
        if (code < 200 || code > 299) {
            snprintf(why, whylen, "GET %s: HTTP %ld", url, code);
            rc = ECO_EIO;
        }
    }
    curl_easy_cleanup(c);
    return rc;
}

static int check_tcp(const char *target, long timeout_ms, char *why, size_t whylen)
{
    char host[256];
    const char *colon = strrchr(target, ':');
    if (!colon || colon == target || (size_t)(colon - target) >= sizeof(host)) {
        snprintf(why, whylen, "tcp target \"%s\" is not host:port", target);
        return ECO_EINVAL;
    }
    snprintf(host, sizeof(host), "%.*s", (int)(colon - target), target);
    if (host[0] == '[' && host[strlen(host) - 1] == ']') {
        memmove(host, host + 1, strlen(host));
        host[strlen(host) - 1] = '\0';
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV}, *res = NULL;
    int gai = getaddrinfo(host, colon + 1, &hints, &res);
    if (gai != 0) {
        snprintf(why, whylen, "tcp %s: %s", target, gai_strerror(gai));
        return ECO_EINVAL;
    }
    int ok = 0, err = ECONNREFUSED;
    for (struct addrinfo *ai = res; ai && !ok; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            continue;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            ok = 1;
        else if (errno == EINPROGRESS) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            socklen_t len = sizeof(err);
            if (poll(&p, 1, (int)timeout_ms) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0)
                ok = err == 0;
            else
                err = ETIMEDOUT;
        } else {
            err = errno;
        }
        close(fd);
    }
    freeaddrinfo(res);
    if (!ok)
        snprintf(why, whylen, "tcp %s: %s", target, strerror(err));
    return ok ? 0 : ECO_EIO;
}

static void one_line(char *s)
{
    for (char *p = s; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    size_t n = strlen(s);
    while (n && s[n - 1] == ' ')
        s[--n] = '\0';
}

int ecoctl_health_check(ecoctl_rt_t *rt, const ecoctl_svc_t *s, char *why, size_t whylen)
{
    const ecoctl_health_t *h = &s->health;
    why[0] = '\0';
    switch (h->kind) {
    case ECOCTL_HC_HTTP:
        return check_http(h->target, h->attempt_timeout_ms, why, whylen);
    case ECOCTL_HC_TCP:
        return check_tcp(h->target, h->attempt_timeout_ms, why, whylen);
    case ECOCTL_HC_CMD: {
        char out[512];
        int rc = ecoctl_proc_capture(rt, s, &h->cmd, h->attempt_timeout_ms, out, sizeof(out));
        if (rc != 0) {
            one_line(out);
            snprintf(why, whylen, "%s %s%s%s", h->cmd.v[h->cmd.n > 2 && !strcmp(h->cmd.v[0], "/bin/sh") ? 2 : 0],
                     rc == ECO_ETIMEDOUT ? "timed out" : "failed", out[0] ? ": " : "", out);
        }
        return rc;
    }
    case ECOCTL_HC_NONE:
        break;
    }
    return 0;
}

int ecoctl_health_wait(ecoctl_rt_t *rt, const ecoctl_svc_t *s, pid_t pid, int fresh, char *why, size_t whylen)
{
    uint64_t start = eco_now_ms(), deadline = start + (uint64_t)s->health.start_timeout_ms;
    char last[512] = "";
    for (int attempt = 1;; attempt++) {
        int status;
        pid_t r = pid > 0 ? waitpid(pid, &status, WNOHANG) : 0;
        if (r == pid) {
            if (WIFEXITED(status))
                snprintf(why, whylen, "exited with status %d before it was healthy", WEXITSTATUS(status));
            else
                snprintf(why, whylen, "killed by signal %d before it was healthy", WTERMSIG(status));
            return ECO_EIO;
        }
        if (r < 0 && ecoctl_proc_stat(pid, NULL, NULL, NULL, NULL, NULL) != 0) { /* not our child */
            snprintf(why, whylen, "exited before it was healthy");
            return ECO_EIO;
        }
        /* Without a check, "healthy" means still alive a moment after the start. */
        long settle = s->health.start_timeout_ms < 500 ? s->health.start_timeout_ms : 500;
        if (s->health.kind == ECOCTL_HC_NONE && fresh && eco_now_ms() - start < (uint64_t)settle)
            snprintf(last, sizeof(last), "settling");
        else if (ecoctl_health_check(rt, s, last, sizeof(last)) == 0)
            return 0;
        if (rt->signo) {
            snprintf(why, whylen, "interrupted");
            return -EINTR;
        }
        if (eco_now_ms() >= deadline) {
            snprintf(why, whylen, "not healthy after %ld ms (%d attempts): %s", s->health.start_timeout_ms, attempt,
                     last);
            return ECO_ETIMEDOUT;
        }
        long left = (long)(deadline - eco_now_ms()), pause = s->health.interval_ms;
        if (s->health.kind == ECOCTL_HC_NONE)
            pause = 50;
        if (ecoctl_sleep_ms(rt, pause < left ? pause : left) != 0) {
            snprintf(why, whylen, "interrupted");
            return -EINTR;
        }
    }
}
