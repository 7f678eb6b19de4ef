/*
 * agent.c — the background sync agent: one per replica, syncing soon after a
 * local write, periodically otherwise, and at once when connectivity returns.
 *
 *            start
 *              |
 *              v         DONE / FAILED: wait interval_s
 *   +-----> SYNCING ------------------------------------+
 *   |          |   OFFLINE: wait backoff (doubles, jitter)|
 *   |          |   WIPED / LOCAL / STOPPED: exit          |
 *   |          v                                          v
 *   |  (fsy_client_sync)                               WAITING  (ppoll: no CPU while idle)
 *   |                                                     |
 *   +---- timeout, SIGUSR2 (connectivity back) -----------+
 *   +---- SIGUSR1 (a local write) -> DEBOUNCING (debounce_ms, more writes extend) --+
 *
 * SIGTERM/SIGINT set `stop`: a sync in progress finishes its current request,
 * the journal is untouched, and the next start resumes where it left off (the
 * journal and the cursor are the state; there is nothing else to lose).
 * agent_lock() holds an flock on "<replica>.agent" for the agent's lifetime and
 * writes its pid there, so the CLI can nudge it with SIGUSR1 after a write.
 */
#include "agent.h"
#include "client.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t g_stop, g_wrote, g_online;

static void on_signal(int sig)
{
    if (sig == SIGUSR1)
        g_wrote = 1;
    else if (sig == SIGUSR2)
        g_online = 1;
    else
        g_stop = 1;
}

static void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logf_(const char *fmt, ...)
{
    char ts[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
    fprintf(stderr, "%s fieldsync agent: ", ts);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int fsy_agent_lock_path(const char *replica_path, char *out, size_t n)
{
    int w = snprintf(out, n, "%s.agent", replica_path);
    return w > 0 && (size_t)w < n ? 0 : -1;
}

/* -1 if another agent holds the lock (its pid in *holder), else the locked fd. */
static int agent_lock(const char *replica_path, long *holder)
{
    char path[1100];
    *holder = 0;
    if (fsy_agent_lock_path(replica_path, path, sizeof(path)) != 0)
        return -1;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        char buf[32] = {0};
        if (read(fd, buf, sizeof(buf) - 1) > 0)
            *holder = strtol(buf, NULL, 10);
        close(fd);
        return -1;
    }
    char pid[32];
    int n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
        close(fd);
        return -1;
    }
    return fd;
}

long fsy_agent_running(const char *replica_path)
{
    char path[1100], buf[32] = {0};
    if (fsy_agent_lock_path(replica_path, path, sizeof(path)) != 0)
        return 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    long pid = 0;
    /* Only a held lock means a live agent; a stale file from a killed one does not. */
    if (flock(fd, LOCK_SH | LOCK_NB) != 0 && read(fd, buf, sizeof(buf) - 1) > 0)
        pid = strtol(buf, NULL, 10);
    else
        flock(fd, LOCK_UN);
    close(fd);
    return pid;
}

void fsy_agent_notify_write(const char *replica_path)
{
    long pid = fsy_agent_running(replica_path);
    if (pid > 0)
        kill((pid_t)pid, SIGUSR1);
}

static uint64_t jitter_state;

static double jitter(void)
{
    /* 0.5 .. 1.5: devices that lost the network together do not return together. */
    jitter_state = jitter_state * 6364136223846793005ull + 1442695040888963407ull;
    return 0.5 + (double)(jitter_state >> 11) / (double)(1ull << 53);
}

/* Sleep until timeout or a signal; signals are unblocked only inside ppoll. */
static void wait_for(int64_t ms, const sigset_t *open_mask)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    if (g_stop || g_wrote || g_online)
        return;
    ppoll(NULL, 0, &ts, open_mask);
}

static void progress(const fsy_sync_report *r, void *ud)
{
    (void)ud;
    if (r->requests % 10 == 0)
        logf_("… %lld up, %lld down, %zu bytes", (long long)r->changes_up,
              (long long)r->changes_down, r->bytes_up + r->bytes_down);
}

int fsy_agent_run(const char *replica_path, const fsy_agent_opts *o)
{
    fsy_replica *r = NULL;
    fsy_transport *t = NULL;
    char err[300];
    long holder;
    int rc = 1;

    int lock = agent_lock(replica_path, &holder);
    if (lock < 0) {
        logf_("another agent already syncs %s (pid %ld)", replica_path, holder);
        return 1;
    }
    jitter_state = (uint64_t)getpid() ^ (uint64_t)time(NULL);

    sigset_t block, orig, open_mask;
    sigemptyset(&block);
    sigaddset(&block, SIGUSR1);
    sigaddset(&block, SIGUSR2);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigprocmask(SIG_BLOCK, &block, &orig);
    open_mask = orig;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGUSR2, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* While syncing, a stop request must still get through between requests. */
    sigset_t stop_only;
    sigemptyset(&stop_only);
    sigaddset(&stop_only, SIGTERM);
    sigaddset(&stop_only, SIGINT);

    if (fsy_replica_new(&r) != FSY_OK || fsy_replica_open(r, replica_path, NULL) != FSY_OK) {
        logf_("cannot open %s: %s", replica_path, fsy_replica_errmsg(r));
        goto out;
    }
    if (fsy_client_transport(r, &t, err, sizeof(err)) != 0) {
        logf_("%s", err);
        goto out;
    }
    logf_("syncing %s every %d s (pid %ld)", replica_path, o->interval_s, (long)getpid());
    int failures = 0;
    for (;;) {
        g_wrote = g_online = 0;
        fsy_sync_report rep;
        sigprocmask(SIG_UNBLOCK, &stop_only, NULL);
        fsy_sync_outcome out = fsy_client_sync(r, t, &g_stop, progress, NULL, &rep);
        sigprocmask(SIG_BLOCK, &stop_only, NULL);
        int64_t wait_ms = (int64_t)o->interval_s * 1000;
        switch (out) {
        case FSY_SYNC_DONE:
            if (rep.changes_up || rep.changes_down || failures)
                logf_("%s", rep.message);
            failures = 0;
            break;
        case FSY_SYNC_OFFLINE: {
            failures++;
            int shift = failures < 16 ? failures : 16;
            double backoff = (double)o->backoff_min_ms * (double)(1u << (shift - 1));
            if (backoff > (double)o->backoff_max_ms)
                backoff = (double)o->backoff_max_ms;
            wait_ms = (int64_t)(backoff * jitter());
            logf_("%s; retrying in %lld ms", rep.message, (long long)wait_ms);
            break;
        }
        case FSY_SYNC_FAILED:
            failures = 0;
            logf_("%s", rep.message);
            break;
        case FSY_SYNC_WIPED:
            logf_("this device was revoked: the replica has been wiped; stopping");
            rc = 3;
            goto out;
        case FSY_SYNC_LOCAL:
            logf_("%s; stopping", rep.message);
            goto out;
        case FSY_SYNC_STOPPED:
            break;
        }
        if (g_stop)
            break;
        if (o->once)
            break;
        wait_for(wait_ms, &open_mask);
        if (g_stop)
            break;
        if (g_wrote && !g_online) {
            /* Debounce: a rep typing a visit makes several writes in a row. */
            while (!g_stop) {
                g_wrote = 0;
                wait_for(o->debounce_ms, &open_mask);
                if (!g_wrote)
                    break;
            }
            if (g_stop)
                break;
        }
        if (g_online)
            failures = 0;
    }
    logf_("stopped");
    rc = 0;
out:
    fsy_transport_free(t);
    fsy_replica_free(r);
    close(lock); /* releases the flock */
    sigprocmask(SIG_SETMASK, &orig, NULL);
    return rc;
}
