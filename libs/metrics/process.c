/* Process metrics read from /proc at scrape time. */
#include "eco_metrics.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *build_service = "unknown";
static const char *build_version = ECO_VERSION;
static double start_time;

__attribute__((constructor)) static void record_start(void)
{
    start_time = eco_wall_time();
}

void eco_metrics_set_build_info(const char *service, const char *version)
{
    build_service = service;
    if (version)
        build_version = version;
}

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the directory stream's own fd */
}

/* utime+stime in seconds and RSS in bytes from /proc/self/stat. */
static int read_stat(double *cpu, double *rss)
{
    FILE *f = fopen("/proc/self/stat", "r");
    if (!f)
        return -1;
    char line[1024];
    int ok = fgets(line, sizeof(line), f) != NULL;
    fclose(f);
    if (!ok)
        return -1;
    const char *p = strrchr(line, ')');
    if (!p)
        return -1;
    /* fields after the command: state(3) ... utime(14) stime(15) ... rss(24) */
    unsigned long utime = 0, stime = 0;
    long rss_pages = 0;
    int field = 2;
    for (const char *q = p + 1; *q; q++) {
        if (*q != ' ')
            continue;
        field++;
        if (field == 14)
            utime = strtoul(q + 1, NULL, 10);
        else if (field == 15)
            stime = strtoul(q + 1, NULL, 10);
        else if (field == 24) {
            rss_pages = strtol(q + 1, NULL, 10);
            break;
        }
    }
    long hz = sysconf(_SC_CLK_TCK);
    *cpu = (double)(utime + stime) / (double)(hz > 0 ? hz : 100);
    *rss = (double)rss_pages * (double)sysconf(_SC_PAGESIZE);
    return 0;
}

void eco__metrics_render_process(eco_buf_t *out, uint64_t dropped);

void eco__metrics_render_process(eco_buf_t *out, uint64_t dropped)
{
    double cpu = 0, rss = 0;
    read_stat(&cpu, &rss);
    eco_buf_addf(out,
                 "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n"
                 "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total %.6f\n"
                 "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
                 "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes %.0f\n"
                 "# HELP process_open_fds Number of open file descriptors.\n"
                 "# TYPE process_open_fds gauge\nprocess_open_fds %d\n"
                 "# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.\n"
                 "# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds %.3f\n"
                 "# HELP eco_metrics_dropped_series_total Metric updates dropped because a family hit its series "
                 "bound.\n# TYPE eco_metrics_dropped_series_total counter\neco_metrics_dropped_series_total %llu\n"
                 "# HELP eco_build_info Build information.\n# TYPE eco_build_info gauge\n",
                 cpu, rss, count_fds(), start_time, (unsigned long long)dropped);
    eco_buf_adds(out, "eco_build_info{service=");
    eco_buf_add_json_str(out, build_service, (size_t)-1);
    eco_buf_adds(out, ",version=");
    eco_buf_add_json_str(out, build_version, (size_t)-1);
    eco_buf_adds(out, "} 1\n");
}
