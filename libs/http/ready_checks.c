/* Readiness checks that need only HTTP or the file system (run on checker threads). */
#include "eco_http.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

static size_t discard(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    return size * nmemb;
}

/* One curl handle per checker thread keeps the connection alive; freed when the thread exits. */
static pthread_key_t curl_key;
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void free_curl(void *h)
{
    curl_easy_cleanup(h);
}

static void make_key(void)
{
    pthread_key_create(&curl_key, free_curl);
}

eco_dep_state_t eco_http_check_url(void *data, char *detail, size_t len)
{
    const char *url = data;
    pthread_once(&curl_once, make_key);
    CURL *curl = pthread_getspecific(curl_key);
    if (!curl) {
        if (!(curl = curl_easy_init())) {
            snprintf(detail, len, "cannot create HTTP client");
            return ECO_DEP_DOWN;
        }
        pthread_setspecific(curl_key, curl);
    }
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 1000L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 500L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
    CURLcode rc = curl_easy_perform(curl);
    if (rc != CURLE_OK) {
        snprintf(detail, len, "%s", curl_easy_strerror(rc));
        return ECO_DEP_DOWN;
    }
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    snprintf(detail, len, "HTTP %ld", status);
    return status >= 200 && status < 300 ? ECO_DEP_UP : ECO_DEP_DOWN;
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
