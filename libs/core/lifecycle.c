/* Signals and the process-wide draining flag. */
#include "eco_core.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/signalfd.h>
#include <unistd.h>

static atomic_int draining;

int eco_lifecycle_init(void)
{
    signal(SIGPIPE, SIG_IGN);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
        eco_fatal("pthread_sigmask failed");
    int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0)
        eco_fatal("signalfd failed");
    return fd;
}

int eco_lifecycle_read_signal(int sigfd)
{
    struct signalfd_siginfo si;
    ssize_t n = read(sigfd, &si, sizeof(si));
    if (n != (ssize_t)sizeof(si))
        return 0;
    return (int)si.ssi_signo;
}

void eco_lifecycle_set_draining(void)
{
    atomic_store(&draining, 1);
}

int eco_lifecycle_draining(void)
{
    return atomic_load_explicit(&draining, memory_order_relaxed);
}
