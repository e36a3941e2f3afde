/* Readiness checks that need only HTTP or the file system (run on checker threads). */
#include "eco_http.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* picohttpparser ships inside libh2o (h2o's own HTTP/1 parser); Debian installs the library's
 * symbols but not picohttpparser.h, so its documented prototype is declared here. */
struct phr_header {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
};
int phr_parse_response(const char *buf, size_t len, int *minor_version, int *status, const char **msg, size_t *msg_len,
                       struct phr_header *headers, size_t *num_headers, size_t last_len);

#define CHECK_CONNECT_MS 500
#define CHECK_TOTAL_MS   1000

/* Waits until fd is ready for events or the deadline passes: 1 ready, 0 timed out. */
static int wait_fd(int fd, short events, uint64_t deadline_ms)
{
    for (;;) {
        uint64_t now = eco_now_ms();
        if (now >= deadline_ms)
            return 0;
        struct pollfd p = {.fd = fd, .events = events};
        int rc = poll(&p, 1, (int)(deadline_ms - now));
        if (rc > 0)
            return 1;
        if (rc == 0)
            return 0;
        if (errno != EINTR)
            return 1; /* let the following call report the error */
    }
}

static int connect_to(const h2o_url_t *u, uint64_t deadline_ms, char *detail, size_t len)
{
    char host[256], port[8];
    snprintf(host, sizeof(host), "%.*s", (int)u->host.len, u->host.base);
    snprintf(port, sizeof(port), "%u", (unsigned)h2o_url_get_port(u));
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        snprintf(detail, len, "cannot resolve %s: %s", host, gai_strerror(rc));
        return -1;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        freeaddrinfo(res);
        snprintf(detail, len, "socket: %s", strerror(errno));
        return -1;
    }
    rc = connect(fd, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    uint64_t connect_by = eco_now_ms() + CHECK_CONNECT_MS;
    if (rc != 0 && errno == EINPROGRESS) {
        if (!wait_fd(fd, POLLOUT, connect_by < deadline_ms ? connect_by : deadline_ms)) {
            close(fd);
            snprintf(detail, len, "connect to %s:%s timed out", host, port);
            return -1;
        }
        socklen_t el = sizeof(rc);
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &rc, &el);
        errno = rc;
    }
    if (rc != 0) {
        snprintf(detail, len, "connect to %s:%s: %s", host, port, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/* A plain-HTTP GET of the URL within one second; UP on a 2xx status. The response head is
 * parsed with picohttpparser; the body is not read. */
eco_dep_state_t eco_http_check_url(void *data, char *detail, size_t len)
{
    const char *url = data;
    h2o_url_t u;
    if (h2o_url_parse(url, strlen(url), &u) != 0 || u.scheme != &H2O_URL_SCHEME_HTTP) {
        snprintf(detail, len, "not an http:// URL");
        return ECO_DEP_DOWN;
    }
    uint64_t deadline = eco_now_ms() + CHECK_TOTAL_MS;
    int fd = connect_to(&u, deadline, detail, len);
    if (fd < 0)
        return ECO_DEP_DOWN;
    char buf[8192];
    int n = snprintf(buf, sizeof(buf),
                     "GET %.*s HTTP/1.1\r\nHost: %.*s\r\nUser-Agent: eco-base-ready\r\n"
                     "Connection: close\r\n\r\n",
                     (int)u.path.len, u.path.base, (int)u.authority.len, u.authority.base);
    size_t off = 0;
    while (off < (size_t)n) {
        ssize_t w = send(fd, buf + off, (size_t)n - off, MSG_NOSIGNAL);
        if (w > 0) {
            off += (size_t)w;
        } else if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (!wait_fd(fd, POLLOUT, deadline))
                break;
        } else {
            break;
        }
    }
    eco_dep_state_t st = ECO_DEP_DOWN;
    size_t got = 0, prev = 0;
    snprintf(detail, len, "no HTTP answer within %d ms", CHECK_TOTAL_MS);
    while (off == (size_t)n && got < sizeof(buf) && wait_fd(fd, POLLIN, deadline)) {
        ssize_t r = recv(fd, buf + got, sizeof(buf) - got, 0);
        if (r < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (r <= 0) {
            snprintf(detail, len, "connection closed before an HTTP answer");
            break;
        }
        prev = got;
        got += (size_t)r;
        int minor, status;
        const char *msg;
        size_t msg_len, nh = 32;
        struct phr_header h[32];
        int pr = phr_parse_response(buf, got, &minor, &status, &msg, &msg_len, h, &nh, prev);
        if (pr == -2)
            continue; /* incomplete head */
        if (pr < 0) {
            snprintf(detail, len, "malformed HTTP answer");
            break;
        }
        snprintf(detail, len, "HTTP %d", status);
        st = status >= 200 && status < 300 ? ECO_DEP_UP : ECO_DEP_DOWN;
        break;
    }
    close(fd);
    return st;
}

eco_dep_state_t eco_http_check_writable_dir(void *data, char *detail, size_t len)
{
    const char *dir = data;
    char path[4096];
    snprintf(path, sizeof(path), "%s/.eco-ready-probe", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, "ok", 2) != 2 || fsync(fd) != 0) {
        snprintf(detail, len, "%s: %s", dir, strerror(errno));
        if (fd >= 0)
            close(fd);
        return ECO_DEP_DOWN;
    }
    close(fd);
    unlink(path);
    snprintf(detail, len, "writable");
    return ECO_DEP_UP;
}
