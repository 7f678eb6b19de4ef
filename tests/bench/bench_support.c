/*
 * bench_support.c — see bench_support.h. Linux only (fork/exec,
 * PR_SET_PDEATHSIG, /proc, nftw), like the daemon it drives.
 */
#include "bench_support.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#define START_TIMEOUT_MS 20000
#define STOP_TIMEOUT_MS  20000
#define ADMIN_TIMEOUT_MS 30000
#define MAX_CHILDREN     64
#define MAX_ROOTS        4

static const char *g_prog = "bench";
static double g_t0;
static pid_t g_children[MAX_CHILDREN];
static char g_roots[MAX_ROOTS][512];
static int g_n_roots;
static bool g_keep; /* FSY_BENCH_KEEP=1: leave the temp dirs */

/* ---- time ------------------------------------------------------------------ */

double bs_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double bs_elapsed(void)
{
    return bs_now() - g_t0;
}

int64_t bs_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void bs_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* ---- cleanup, dying, the watchdog ---------------------------------------------- */

static void track(pid_t pid)
{
    for (int i = 0; i < MAX_CHILDREN; i++)
        if (g_children[i] == 0) {
            g_children[i] = pid;
            return;
        }
    bs_die("more than %d children", MAX_CHILDREN);
}

void bs_forget(pid_t pid)
{
    for (int i = 0; i < MAX_CHILDREN; i++)
        if (g_children[i] == pid)
            g_children[i] = 0;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void cleanup(void)
{
    for (int i = 0; i < MAX_CHILDREN; i++)
        if (g_children[i] > 0) {
            kill(g_children[i], SIGKILL);
            waitpid(g_children[i], NULL, 0);
            g_children[i] = 0;
        }
    for (int i = 0; i < g_n_roots; i++) {
        if (g_keep)
            fprintf(stderr, "%s: kept %s\n", g_prog, g_roots[i]);
        else
            nftw(g_roots[i], rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    }
    g_n_roots = 0;
    curl_global_cleanup();
}

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = ": over its time budget; killing its children and stopping\n";
    if (write(2, g_prog, strlen(g_prog)) < 0 || write(2, msg, sizeof(msg) - 1) < 0) {
        /* nothing more to do */
    }
    for (int i = 0; i < MAX_CHILDREN; i++)
        if (g_children[i] > 0)
            kill(g_children[i], SIGKILL);
    /* Remove the temp dirs with fork + exec + waitpid, which a signal handler may call. */
    for (int i = 0; i < g_n_roots && !g_keep; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            char *const argv[] = {"/bin/rm", "-rf", "--", g_roots[i], NULL};
            execv(argv[0], argv);
            _exit(127);
        }
        if (pid > 0)
            waitpid(pid, NULL, 0);
    }
    _exit(2);
}

void bs_init(const char *prog, int budget_s)
{
    g_prog = prog;
    g_t0 = bs_now();
    const char *keep = getenv("FSY_BENCH_KEEP");
    g_keep = keep && *keep == '1';
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGALRM, on_alarm);
    alarm((unsigned)budget_s);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        bs_die("curl_global_init failed");
    atexit(cleanup);
}

void bs_die(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", g_prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1); /* cleanup() kills the children */
}

void bs_progress(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "[%6.1f s] ", bs_elapsed());
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

const char *bs_temp_root(const char *tag, const char *parent)
{
    if (g_n_roots >= MAX_ROOTS)
        bs_die("too many temp roots");
    const char *tmp = parent ? parent : getenv("TMPDIR");
    char *root = g_roots[g_n_roots];
    snprintf(root, sizeof(g_roots[0]), "%s/fsy-bench-%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", tag);
    if (!mkdtemp(root))
        bs_die("mkdtemp %s: %s", root, strerror(errno));
    g_n_roots++;
    return root;
}

void bs_describe_fs(const char *path, char *out, size_t n)
{
    char real[PATH_MAX];
    snprintf(out, n, "unknown file system");
    if (!realpath(path, real))
        return;
    FILE *f = fopen("/proc/self/mounts", "r");
    if (!f)
        return;
    char dev[256], mnt[512], type[64];
    size_t best = 0;
    while (fscanf(f, "%255s %511s %63s %*[^\n]", dev, mnt, type) == 3) {
        size_t ml = strlen(mnt);
        bool prefix = strncmp(real, mnt, ml) == 0 &&
                      (real[ml] == '/' || real[ml] == '\0' || strcmp(mnt, "/") == 0);
        if (prefix && ml >= best) {
            best = ml;
            snprintf(out, n, "%s on %s", type, dev);
        }
    }
    fclose(f);
}

/* ---- children ----------------------------------------------------------------- */

pid_t bs_spawn(char *const argv[], int out_fd, const char *err_path)
{
    pid_t parent = getpid();
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        bs_die("fork: %s", strerror(errno));
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        int err = err_path ? open(err_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600) : null;
        if (err < 0 || null < 0)
            _exit(126);
        dup2(null, 0);
        dup2(err, 2);
        dup2(out_fd >= 0 ? out_fd : null, 1);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        execv(argv[0], argv);
        _exit(127);
    }
    track(pid);
    return pid;
}

bool bs_wait(pid_t pid, int timeout_ms, int *status)
{
    double deadline = bs_now() + timeout_ms / 1000.0;
    for (;;) {
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r == pid) {
            bs_forget(pid);
            return true;
        }
        if (r < 0 && errno != EINTR)
            bs_die("waitpid %ld: %s", (long)pid, strerror(errno));
        if (bs_now() > deadline)
            return false;
        bs_sleep_ms(2);
    }
}

/* ---- /proc ------------------------------------------------------------------- */

long bs_proc_status(pid_t pid, const char *name)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
    FILE *f = fopen(path, "r");
    long v = -1;
    size_t n = strlen(name);
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, name, n) == 0 && line[n] == ':') {
            v = strtol(line + n + 1, NULL, 10);
            break;
        }
    fclose(f);
    return v;
}

double bs_proc_cpu_s(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* Fields after the parenthesised command name: state is field 3, utime 14, stime 15. */
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    unsigned long long ut = 0, st = 0;
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static double g_note_busy, g_note_total, g_note_ours;

/* Busy and total CPU seconds of the whole machine (/proc/stat, first line). */
static void machine_cpu(double *busy, double *total)
{
    unsigned long long v[10] = {0};
    *busy = *total = 0;
    FILE *f = fopen("/proc/stat", "r");
    if (!f)
        return;
    int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
                   &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9]);
    fclose(f);
    if (n < 4)
        return;
    double hz = (double)sysconf(_SC_CLK_TCK);
    for (int i = 0; i < 8; i++)
        *total += (double)v[i] / hz;
    *busy = *total - (double)(v[3] + v[4]) / hz; /* minus idle and iowait */
}

static double ours_cpu(void)
{
    struct rusage a, b;
    getrusage(RUSAGE_SELF, &a);
    getrusage(RUSAGE_CHILDREN, &b);
    double s =
        (double)(a.ru_utime.tv_sec + a.ru_stime.tv_sec + b.ru_utime.tv_sec + b.ru_stime.tv_sec) +
        (double)(a.ru_utime.tv_usec + a.ru_stime.tv_usec + b.ru_utime.tv_usec +
                 b.ru_stime.tv_usec) /
            1e6;
    for (int i = 0; i < MAX_CHILDREN; i++) /* running children are not in RUSAGE_CHILDREN */
        if (g_children[i] > 0) {
            double c = bs_proc_cpu_s(g_children[i]);
            if (c > 0)
                s += c;
        }
    return s;
}

void bs_machine_note(char *out, size_t n)
{
    double la[3] = {0, 0, 0};
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf %lf %lf", &la[0], &la[1], &la[2]) != 3)
            la[0] = la[1] = la[2] = -1;
        fclose(f);
    }
    double busy, total, ours = ours_cpu();
    machine_cpu(&busy, &total);
    int w = snprintf(out, n, "load average %.2f %.2f %.2f", la[0], la[1], la[2]);
    if (g_note_total > 0 && total > g_note_total && w > 0 && (size_t)w < n) {
        double other = (busy - g_note_busy) - (ours - g_note_ours);
        snprintf(out + w, n - (size_t)w, "; other processes used %.0f%% of the CPUs meanwhile",
                 other < 0 ? 0 : other / (total - g_note_total) * 100);
    }
    g_note_busy = busy;
    g_note_total = total;
    g_note_ours = ours;
}

bool bs_proc_reset_hwm(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%ld/clear_refs", (long)pid);
    FILE *f = fopen(path, "w");
    if (!f)
        return false;
    bool ok = fputs("5", f) >= 0;
    return fclose(f) == 0 && ok;
}

/* CPU time of every thread of pid: the daemon runs a loop thread and a worker. */
double bs_proc_sched_s(pid_t pid)
{
    char path[96];
    snprintf(path, sizeof(path), "/proc/%ld/task", (long)pid);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    unsigned long long total = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "/proc/%ld/task/%.20s/schedstat", (long)pid, e->d_name);
        FILE *f = fopen(path, "r");
        unsigned long long ns = 0;
        if (!f)
            continue; /* the thread just ended */
        if (fscanf(f, "%llu", &ns) == 1)
            total += ns;
        fclose(f);
    }
    closedir(d);
    return (double)total / 1e9;
}

/* ---- the daemon ----------------------------------------------------------------- */

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    bs_buf b = {0};
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        bs_buf_add(&b, chunk, n);
    fclose(f);
    if (!b.data)
        bs_buf_add(&b, "", 0);
    return b.data;
}

static void log_tail(const bs_daemon *d)
{
    char *t = read_file(d->log);
    if (!t)
        return;
    size_t len = strlen(t), start = len;
    int lines = 0;
    while (start > 0 && lines <= 20)
        if (t[--start] == '\n')
            lines++;
    fprintf(stderr, "--- tail of %s:\n%s---\n", d->log, t + start);
    free(t);
}

/* Run one admin command to completion (bounded); its stdout into out. */
static pid_t admin_spawn(bs_daemon *d, const bs_job *j, int *out_fd)
{
    char *argv[16];
    int n = 0;
    argv[n++] = d->bin;
    argv[n++] = (char *)j->args[0];
    argv[n++] = d->dir;
    for (int i = 1; j->args[i] && n < 15; i++)
        argv[n++] = (char *)j->args[i];
    argv[n] = NULL;
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        bs_die("pipe: %s", strerror(errno));
    char errpath[900];
    snprintf(errpath, sizeof(errpath), "%s.admin", d->log);
    pid_t pid = bs_spawn(argv, fds[1], errpath);
    close(fds[1]);
    *out_fd = fds[0];
    return pid;
}

void bs_admin_run(bs_daemon *d, bs_job *jobs, int n, int parallel)
{
    enum { MAXP = 16 };
    struct slot {
        pid_t pid;
        int fd, job;
        size_t len;
        double started;
    } slots[MAXP];
    if (parallel > MAXP)
        parallel = MAXP;
    if (parallel < 1)
        parallel = 1;
    int next = 0, running = 0;
    for (int i = 0; i < parallel; i++)
        slots[i].pid = 0;
    while (next < n || running > 0) {
        for (int i = 0; i < parallel && next < n; i++)
            if (slots[i].pid == 0) {
                slots[i].job = next;
                slots[i].len = 0;
                slots[i].started = bs_now();
                jobs[next].out[0] = '\0';
                slots[i].pid = admin_spawn(d, &jobs[next++], &slots[i].fd);
                running++;
            }
        struct pollfd p[MAXP];
        int map[MAXP], np = 0;
        for (int i = 0; i < parallel; i++)
            if (slots[i].pid && slots[i].fd >= 0) {
                p[np].fd = slots[i].fd;
                p[np].events = POLLIN;
                map[np++] = i;
            }
        /* A child whose output ended is about to exit: look again soon. */
        bool exiting = false;
        for (int i = 0; i < parallel; i++)
            exiting |= slots[i].pid && slots[i].fd < 0;
        if (np == 0 && exiting)
            bs_sleep_ms(1);
        if (np > 0 && poll(p, (nfds_t)np, exiting ? 1 : 50) > 0) {
            for (int k = 0; k < np; k++) {
                if (!(p[k].revents & (POLLIN | POLLHUP | POLLERR)))
                    continue;
                struct slot *s = &slots[map[k]];
                bs_job *j = &jobs[s->job];
                char sink[256];
                size_t room = sizeof(j->out) - 1 - s->len;
                ssize_t r = room > 0 ? read(s->fd, j->out + s->len, room) : read(s->fd, sink, 256);
                if (r > 0 && room > 0) {
                    s->len += (size_t)r;
                    j->out[s->len] = '\0';
                } else if (r == 0 || (r < 0 && errno != EINTR)) {
                    close(s->fd);
                    s->fd = -1;
                }
            }
        }
        for (int i = 0; i < parallel; i++) {
            struct slot *s = &slots[i];
            if (!s->pid)
                continue;
            int st;
            if (s->fd < 0 && bs_wait(s->pid, 0, &st)) {
                bs_job *j = &jobs[s->job];
                if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
                    log_tail(d);
                    bs_die("fieldsyncd %s %s failed (status %d)", j->args[0],
                           j->args[1] ? j->args[1] : "", st);
                }
                j->out[strcspn(j->out, "\r\n")] = '\0';
                s->pid = 0;
                running--;
            } else if (bs_now() - s->started > ADMIN_TIMEOUT_MS / 1000.0) {
                bs_die("fieldsyncd %s took longer than %d ms", jobs[s->job].args[0],
                       ADMIN_TIMEOUT_MS);
            }
        }
    }
}

void bs_daemon_init(bs_daemon *d, const char *bin, const char *root, const char *name)
{
    memset(d, 0, sizeof(*d));
    snprintf(d->bin, sizeof(d->bin), "%s", bin);
    if (access(d->bin, X_OK) != 0)
        bs_die("%s is not executable", d->bin);
    snprintf(d->dir, sizeof(d->dir), "%s/%s", root, name);
    snprintf(d->log, sizeof(d->log), "%s/%s.log", root, name);
    snprintf(d->ca, sizeof(d->ca), "%s/ca.crt", d->dir);
    bs_job init = {{"init", NULL}, ""};
    bs_admin_run(d, &init, 1, 1);
    bs_daemon_conf(d, "port", "0");
}

void bs_daemon_conf(bs_daemon *d, const char *key, const char *value)
{
    char path[800];
    snprintf(path, sizeof(path), "%s/fieldsyncd.conf", d->dir);
    char *old = read_file(path);
    if (!old)
        bs_die("cannot read %s", path);
    FILE *f = fopen(path, "w");
    if (!f)
        bs_die("cannot write %s", path);
    bool done = false;
    size_t klen = strlen(key);
    for (char *p = old, *nl; *p; p = nl) {
        nl = strchr(p, '\n');
        nl = nl ? nl + 1 : p + strlen(p);
        if (strncmp(p, key, klen) == 0 && (p[klen] == ' ' || p[klen] == '=')) {
            fprintf(f, "%s = %s\n", key, value);
            done = true;
        } else {
            fwrite(p, 1, (size_t)(nl - p), f);
        }
    }
    if (!done)
        fprintf(f, "%s = %s\n", key, value);
    fclose(f);
    free(old);
}

void bs_daemon_start(bs_daemon *d)
{
    char portfile[800];
    snprintf(portfile, sizeof(portfile), "%s/fieldsyncd.port", d->dir);
    remove(portfile);
    char *argv[] = {d->bin, "serve", d->dir, NULL};
    d->pid = bs_spawn(argv, -1, d->log);
    double deadline = bs_now() + START_TIMEOUT_MS / 1000.0;
    for (;;) {
        int st;
        if (bs_wait(d->pid, 0, &st)) {
            d->pid = 0;
            log_tail(d);
            bs_die("fieldsyncd serve exited at start-up (status %d)", st);
        }
        char *t = read_file(portfile);
        if (t && strchr(t, '\n')) {
            d->port = (int)strtol(t, NULL, 10);
            free(t);
            break;
        }
        free(t);
        if (bs_now() > deadline)
            bs_die("fieldsyncd did not write %s within %d ms", portfile, START_TIMEOUT_MS);
        bs_sleep_ms(5);
    }
    if (d->port <= 0 || d->port > 65535)
        bs_die("bad port %d in %s", d->port, portfile);
}

void bs_daemon_stop(bs_daemon *d)
{
    if (d->pid <= 0)
        return;
    kill(d->pid, SIGTERM);
    int st = 0;
    if (!bs_wait(d->pid, STOP_TIMEOUT_MS, &st)) {
        kill(d->pid, SIGKILL);
        waitpid(d->pid, NULL, 0);
        bs_forget(d->pid);
        d->pid = 0;
        bs_die("fieldsyncd did not stop within %d ms of SIGTERM", STOP_TIMEOUT_MS);
    }
    d->pid = 0;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        log_tail(d);
        bs_die("fieldsyncd exited with status %d on SIGTERM", st);
    }
}

/* ---- buffers ---------------------------------------------------------------- */

void bs_buf_add(bs_buf *b, const void *p, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *nd = realloc(b->data, cap);
        if (!nd)
            bs_die("out of memory");
        b->data = nd;
        b->cap = cap;
    }
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void bs_buf_printf(bs_buf *b, const char *fmt, ...)
{
    va_list ap;
    char small[512];
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0)
        bs_die("vsnprintf failed");
    if ((size_t)n < sizeof(small)) {
        bs_buf_add(b, small, (size_t)n);
        return;
    }
    bs_buf_add(b, NULL, 0);
    if (b->len + (size_t)n + 1 > b->cap) {
        size_t need = b->len + (size_t)n + 1;
        char *nd = realloc(b->data, need);
        if (!nd)
            bs_die("out of memory");
        b->data = nd;
        b->cap = need;
    }
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void bs_buf_free(bs_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}

/* ---- HTTPS ---------------------------------------------------------------------- */

static size_t on_body(char *ptr, size_t size, size_t n, void *ud)
{
    bs_buf_add(ud, ptr, size * n);
    return size * n;
}

void bs_easy_setup(CURL *c, const bs_daemon *d)
{
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CAINFO, d->ca);
    curl_easy_setopt(c, CURLOPT_CAPATH, NULL);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "gzip");
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 30000L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 120000L);
    curl_easy_setopt(c, CURLOPT_PROXY, "");
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
}

void bs_http_open(bs_http *h, const bs_daemon *d)
{
    h->d = d;
    h->c = curl_easy_init();
    if (!h->c)
        bs_die("curl_easy_init failed");
    bs_easy_setup(h->c, d);
}

void bs_http_close(bs_http *h)
{
    if (h->c)
        curl_easy_cleanup(h->c);
    h->c = NULL;
}

void bs_resp_free(bs_resp *r)
{
    bs_buf_free(&r->body);
    memset(r, 0, sizeof(*r));
}

void bs_http_req(bs_http *h, const char *method, const char *path, const char *token,
                 const void *body, size_t len, bool is_gzip, bs_resp *out)
{
    CURL *c = h->c;
    char url[1200], auth[128];
    struct curl_slist *hdrs = NULL;
    memset(out, 0, sizeof(*out));
    snprintf(url, sizeof(url), "https://127.0.0.1:%d%s", h->d->port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    hdrs = curl_slist_append(hdrs, "Expect:");
    hdrs = curl_slist_append(hdrs, "Accept: application/json");
    if (token) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
        hdrs = curl_slist_append(hdrs, auth);
    }
    if (body) {
        hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
        if (is_gzip)
            hdrs = curl_slist_append(hdrs, "Content-Encoding: gzip");
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    } else {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, NULL);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &out->body);
    double t0 = bs_now();
    CURLcode cc = curl_easy_perform(c);
    out->secs = bs_now() - t0;
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hdrs);
    if (cc != CURLE_OK)
        bs_die("%s %s: %s", method, path, curl_easy_strerror(cc));
    curl_off_t up = 0, down = 0;
    long hdr_down = 0, hdr_up = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    curl_easy_getinfo(c, CURLINFO_SIZE_UPLOAD_T, &up);
    curl_easy_getinfo(c, CURLINFO_SIZE_DOWNLOAD_T, &down);
    curl_easy_getinfo(c, CURLINFO_HEADER_SIZE, &hdr_down);
    curl_easy_getinfo(c, CURLINFO_REQUEST_SIZE, &hdr_up);
    out->up = (size_t)up;
    out->down = (size_t)down;
    out->hdr_down = (size_t)hdr_down;
    out->hdr_up = (size_t)hdr_up;
    if (!out->body.data)
        bs_buf_add(&out->body, "", 0);
}

/* One stream per level, reset between bodies: 1,000 simulated devices share this
 * process's CPU with the daemon, and setting a stream up costs more than compressing a
 * small push (the daemon does the same, syncd/net/gzip.c). Not freed: lives as long as
 * the process. */
unsigned char *bs_gzip(const void *in, size_t len, int level, size_t *out_len)
{
    static z_stream zs[10];
    static bool is_init[10];
    if (level < 0 || level > 9)
        bs_die("gzip level %d", level);
    z_stream *z = &zs[level];
    if (!is_init[level]) {
        if (deflateInit2(z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
            bs_die("deflateInit2 failed");
        is_init[level] = true;
    } else if (deflateReset(z) != Z_OK) {
        bs_die("deflateReset failed");
    }
    uLong bound = deflateBound(z, (uLong)len) + 32;
    unsigned char *out = malloc(bound);
    if (!out)
        bs_die("out of memory");
    z->next_in = (Bytef *)(uintptr_t)in;
    z->avail_in = (uInt)len;
    z->next_out = out;
    z->avail_out = (uInt)bound;
    if (deflate(z, Z_FINISH) != Z_STREAM_END)
        bs_die("deflate failed");
    *out_len = bound - z->avail_out;
    return out;
}

/* A string value "key":"..." in flat JSON text (no escapes in the values we read). */
static bool json_str(const char *json, const char *key, char *out, size_t n)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "\"%s\":\"", key);
    const char *p = strstr(json, pat);
    if (!p)
        return false;
    p += strlen(pat);
    const char *e = strchr(p, '"');
    if (!e || (size_t)(e - p) >= n)
        return false;
    memcpy(out, p, (size_t)(e - p));
    out[e - p] = '\0';
    return true;
}

void bs_enroll(bs_http *h, const char *user, const char *code, char id[37], char token[65])
{
    char body[256];
    int n = snprintf(body, sizeof(body), "{\"user\":\"%s\",\"code\":\"%s\"}", user, code);
    bs_resp r;
    bs_http_req(h, "POST", "/v1/enroll", NULL, body, (size_t)n, false, &r);
    if (r.status != 200 || !json_str(r.body.data, "device_id", id, 37) ||
        !json_str(r.body.data, "token", token, 65))
        bs_die("enrolling %s: %ld %.300s", user, r.status, r.body.data);
    bs_resp_free(&r);
}

int64_t bs_log_head(bs_http *h)
{
    bs_resp r;
    bs_http_req(h, "GET", "/healthz", NULL, NULL, 0, false, &r);
    const char *p = strstr(r.body.data, "\"log_head\":");
    if (r.status != 200 || !p)
        bs_die("/healthz answered %ld: %.300s", r.status, r.body.data);
    int64_t v = strtoll(p + 11, NULL, 10);
    bs_resp_free(&r);
    return v;
}

double bs_metric(bs_http *h, const char *series)
{
    bs_resp r;
    bs_http_req(h, "GET", "/metrics", NULL, NULL, 0, false, &r);
    if (r.status != 200)
        bs_die("/metrics answered %ld", r.status);
    double v = -1;
    size_t n = strlen(series);
    for (const char *p = r.body.data; p && *p;) {
        if (strncmp(p, series, n) == 0 && p[n] == ' ') {
            v = strtod(p + n + 1, NULL);
            break;
        }
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    bs_resp_free(&r);
    return v;
}

/* ---- generated rows ------------------------------------------------------------ */

uint64_t bs_rand(bs_rng *r)
{
    /* splitmix64 */
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

unsigned bs_randn(bs_rng *r, unsigned n)
{
    return (unsigned)(bs_rand(r) % n);
}

void bs_uuid7(bs_rng *r, int64_t ms, char out[37])
{
    uint64_t a = bs_rand(r), b = bs_rand(r);
    snprintf(out, 37, "%08x-%04x-7%03x-%04x-%012llx", (unsigned)((uint64_t)ms >> 16),
             (unsigned)((uint64_t)ms & 0xffff), (unsigned)(a & 0xfff),
             (unsigned)(0x8000 | ((a >> 12) & 0x3fff)),
             (unsigned long long)(b & 0xffffffffffffull));
}

void bs_hlc_hex(int64_t ms, unsigned counter, char out[17])
{
    snprintf(out, 17, "%016llx", (unsigned long long)(((uint64_t)ms << 16) | (counter & 0xffff)));
}

#define PICK(r, a) ((a)[bs_randn((r), (unsigned)(sizeof(a) / sizeof((a)[0])))])

static const char *const k_people[] = {
    "Mr Becker",    "Ms Kowalski", "Jana Novak",   "Mr Okafor",   "Ms Lindqvist", "Tom Hartmann",
    "Ms Yilmaz",    "Mr Schulze",  "Petra Vogel",  "Mr Dubois",   "Ms Rossi",     "Sven Berg",
    "Ms Papadakis", "Mr Nguyen",   "Anna Keller",  "Mr Fischer",  "Ms Haddad",    "Lukas Brandt",
    "Ms Moreau",    "Mr Jansen",   "Eva Horvath",  "Mr Costa",    "Ms Schmitt",   "Jonas Wolf",
    "Ms Ahmed",     "Mr Kraus",    "Clara Lehner", "Mr Petersen", "Ms Silva",     "Max Richter"};
static const char *const k_products[] = {
    "Alpine Spring 1.5l",   "oat bars (6-pack)",    "Barista oat drink",    "organic passata",
    "sparkling lemonade",   "cold brew cans",       "protein yoghurt 500g", "gluten-free crackers",
    "frozen pizza Rustica", "energy drink Zero",    "baby food jars",       "olive oil 0.75l",
    "craft lager 6x0.33l",  "dishwasher tabs",      "kids' cereal Choco",   "premium coffee beans",
    "herbal tea range",     "dark chocolate 85%",   "plant-based mince",    "sea salt crisps",
    "apple spritzer",       "vitamin water",        "rice cakes",           "pet food Senior",
    "shower gel Sport",     "toothpaste Whitening", "laundry pods",         "kombucha ginger",
    "granola honey-nut",    "smoothie mango"};
static const char *const k_competitors[] = {"Nordquell", "FreshCo", "Sunvale", "Brauhof",
                                            "Greenleaf", "Vitalia", "Crisply", "Marebello"};
static const char *const k_days[] = {"Monday", "Tuesday", "Wednesday", "Thursday", "Friday"};
static const char *const k_purposes[] = {"Quarterly business review",
                                         "Present the autumn range",
                                         "Shelf audit and planogram check",
                                         "Negotiate next year's listing fees",
                                         "Meet the new category manager",
                                         "Follow up on the delivery complaint",
                                         "Plan the Easter promotion",
                                         "Check display compliance",
                                         "Order intake",
                                         "Train the store staff",
                                         "Introduce the organic line",
                                         "Discuss the price increase",
                                         "Secondary placement for the summer",
                                         "Review out-of-stock figures",
                                         "Collect feedback on the new packaging",
                                         "Annual agreement renewal",
                                         "Prepare the store re-opening",
                                         "Tasting day planning",
                                         "Credit limit and payment terms",
                                         "Introduce the loyalty scheme"};

static void add_sentence(bs_rng *r, bs_buf *b)
{
    const char *p = PICK(r, k_people), *pr = PICK(r, k_products), *pr2 = PICK(r, k_products);
    const char *co = PICK(r, k_competitors), *d = PICK(r, k_days);
    switch (bs_randn(r, 14)) {
    case 0:
        bs_buf_printf(b, "%s agreed to list %u SKUs of %s from %s. ", p, 2 + bs_randn(r, 9), pr, d);
        break;
    case 1:
        bs_buf_printf(b, "%s wants a second display for %s near the entrance. ", p, pr);
        break;
    case 2:
        bs_buf_printf(b, "Price increase of %u.%u%% on %s accepted, effective week %u. ",
                      1 + bs_randn(r, 7), bs_randn(r, 10), pr, 1 + bs_randn(r, 52));
        break;
    case 3:
        bs_buf_printf(b, "Out of stock on %s in %u of %u facings; %s will reorder. ", pr,
                      1 + bs_randn(r, 4), 4 + bs_randn(r, 8), p);
        break;
    case 4:
        bs_buf_printf(b, "No decision yet, %s waits for head office. ", p);
        break;
    case 5:
        bs_buf_printf(b, "%s runs %u%% off %s until the %uth. ", co, 10 + 5 * bs_randn(r, 5), pr,
                      4 + bs_randn(r, 25));
        break;
    case 6:
        bs_buf_printf(b, "Late delivery of %s settled with a credit note of %u EUR. ", pr,
                      20 + 10 * bs_randn(r, 30));
        break;
    case 7:
        bs_buf_printf(b, "Order placed: %u cases of %s and %u of %s. ", 5 + bs_randn(r, 60), pr,
                      2 + bs_randn(r, 30), pr2);
        break;
    case 8:
        bs_buf_printf(b, "Planogram 80%% compliant, %s moved to eye level. ", pr);
        break;
    case 9:
        bs_buf_printf(b, "%s asked for samples of %s for the staff. ", p, pr2);
        break;
    case 10:
        bs_buf_printf(b, "Tasting day for %s set for %s %u/%u. ", pr, d, 1 + bs_randn(r, 28),
                      1 + bs_randn(r, 12));
        break;
    case 11:
        bs_buf_printf(b, "Sell-out of %s up %u%% since the last visit. ", pr, 2 + bs_randn(r, 40));
        break;
    case 12:
        bs_buf_printf(b, "%s is unhappy with the shelf space next to %s. ", p, co);
        break;
    default:
        bs_buf_printf(b, "Store manager %s on leave, talked to the deputy. ", p);
        break;
    }
}

static void add_next_step(bs_rng *r, bs_buf *b)
{
    const char *p = PICK(r, k_people), *pr = PICK(r, k_products), *d = PICK(r, k_days);
    switch (bs_randn(r, 8)) {
    case 0:
        bs_buf_printf(b, "Send the revised offer to %s by %s. ", p, d);
        break;
    case 1:
        bs_buf_printf(b, "Book the display for week %u. ", 1 + bs_randn(r, 52));
        break;
    case 2:
        bs_buf_printf(b, "Call back about delivery slot %u. ", 1 + bs_randn(r, 9));
        break;
    case 3:
        bs_buf_printf(b, "Bring samples of %s next time. ", pr);
        break;
    case 4:
        bs_buf_printf(b, "Check the planogram again in %u weeks. ", 2 + bs_randn(r, 6));
        break;
    case 5:
        bs_buf_printf(b, "Ask key accounts about a listing fee for %s. ", pr);
        break;
    case 6:
        bs_buf_printf(b, "Email %s the promotion calendar. ", p);
        break;
    default:
        bs_buf_printf(b, "Confirm the order of %s with %s on %s. ", pr, p, d);
        break;
    }
}

/* Text from a buffer without its trailing space, JSON-safe (the pools hold no quotes). */
static void add_text_field(bs_buf *out, const char *name, bs_buf *text, bool comma)
{
    while (text->len && text->data[text->len - 1] == ' ')
        text->data[--text->len] = '\0';
    bs_buf_printf(out, "%s\"%s\":\"%s\"", comma ? "," : "", name, text->data);
    text->len = 0;
    text->data[0] = '\0';
}

void bs_gen_customer(bs_rng *r, bs_buf *out, bs_customer *c, const char *territory,
                     const char *owner)
{
    static const char *const first[] = {"Kaufhaus", "Markt",    "Frischeck", "Getraenke",
                                        "Drogerie", "Feinkost", "Bio",       "Super",
                                        "Cash",     "City",     "Land",      "Stadt"};
    static const char *const second[] = {"Nord",  "Sued",    "am Ring", "Mitte",  "West",
                                         "Ost",   "Zentrum", "am Park", "Hafen",  "Allee",
                                         "Markt", "Bahnhof", "Hoehe",   "Brunnen"};
    static const char *const suffix[] = {"GmbH", "KG", "e.K.", "AG", "GmbH & Co. KG", "OHG"};
    static const char *const streets[] = {"Hauptstrasse", "Bahnhofstrasse", "Lindenallee",
                                          "Marktplatz",   "Gartenweg",      "Industriestrasse",
                                          "Am Hafen",     "Schillerstrasse"};
    static const char *const cities[] = {"Hamburg", "Bremen",  "Hannover",  "Kiel",
                                         "Luebeck", "Rostock", "Oldenburg", "Osnabrueck"};
    static const char *const cat[] = {"industry", "regional", "potential"};
    static const char *const tier[] = {"A", "B", "C"};
    static const char *const st[] = {"loyal", "fast-growing", "dormant", "to-nurture"};
    static const char *const rel[] = {"transactional", "familiar", "partnership"};
    c->lat = 47.3 + (double)bs_randn(r, 7600000) / 1e6;
    c->lon = 5.9 + (double)bs_randn(r, 9100000) / 1e6;
    bs_buf_printf(out,
                  "{\"name\":\"%s %s %u %s\",\"address\":\"%s %u, %05u %s\","
                  "\"phone\":\"+49 %u %u\",\"territory\":\"%s\",\"owner\":\"%s\","
                  "\"category\":\"%s\",\"tier\":\"%s\",\"status\":\"%s\","
                  "\"relationship\":\"%s\"}",
                  PICK(r, first), PICK(r, second), 1 + bs_randn(r, 99), PICK(r, suffix),
                  PICK(r, streets), 1 + bs_randn(r, 180), 10000 + bs_randn(r, 89999),
                  PICK(r, cities), 30 + bs_randn(r, 900), 100000 + bs_randn(r, 8999999), territory,
                  owner, PICK(r, cat), PICK(r, tier), PICK(r, st), PICK(r, rel));
}

static void fmt_time(char *out, size_t n, int64_t unix_s, int ms)
{
    time_t t = (time_t)unix_s;
    struct tm tm;
    gmtime_r(&t, &tm);
    if (ms >= 0)
        snprintf(out, n, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
    else
        snprintf(out, n, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

void bs_gen_visit(bs_rng *r, bs_buf *out, const bs_customer *c, const char *rep)
{
    static const char *const kinds[] = {"existing-customer", "existing-customer",
                                        "existing-customer", "existing-customer",
                                        "referral",          "cold"};
    /* Planned on a working day of 2024-2025 between 08:00 and 17:45, quarter hours. */
    int64_t day = 1704067200 + (int64_t)bs_randn(r, 730) * 86400;
    int64_t planned = day + (8 + bs_randn(r, 10)) * 3600 + 900 * bs_randn(r, 4);
    int64_t checkin = planned - 600 + bs_randn(r, 3000);
    char p[64], ci[64], fu[64];
    fmt_time(p, sizeof(p), planned, -1);
    fmt_time(ci, sizeof(ci), checkin, (int)bs_randn(r, 1000));
    fmt_time(fu, sizeof(fu), planned + (7 + bs_randn(r, 30)) * 86400, -1);
    fu[10] = '\0'; /* a date */
    bs_buf text = {0};
    bs_buf_printf(out,
                  "{\"customer_id\":\"%s\",\"rep\":\"%s\",\"kind\":\"%s\",\"planned_at\":\"%s\","
                  "\"checkin_at\":\"%s\",\"checkin_lat\":%.6f,\"checkin_lon\":%.6f",
                  c->id, rep, PICK(r, kinds), p, ci,
                  c->lat + ((double)bs_randn(r, 2001) - 1000) / 1e6,
                  c->lon + ((double)bs_randn(r, 2001) - 1000) / 1e6);
    bs_buf_printf(&text, "%s", PICK(r, k_purposes));
    if (bs_randn(r, 2))
        bs_buf_printf(&text, ": %s", PICK(r, k_products));
    add_text_field(out, "purpose", &text, true);
    for (unsigned i = 0, n = 1 + bs_randn(r, 3); i < n; i++)
        add_sentence(r, &text);
    add_text_field(out, "outcome", &text, true);
    for (unsigned i = 0, n = 1 + bs_randn(r, 2); i < n; i++)
        add_next_step(r, &text);
    add_text_field(out, "next_steps", &text, true);
    bs_buf_printf(out, ",\"follow_up\":\"%s\",\"satisfaction\":%u,\"status\":\"in-progress\"}", fu,
                  1 + bs_randn(r, 5));
    bs_buf_free(&text);
}

void bs_gen_edit(bs_rng *r, bs_buf *out)
{
    bs_buf text = {0};
    bs_buf_add(out, "{", 1);
    bs_buf_printf(&text, "Update after the call: ");
    add_sentence(r, &text);
    add_text_field(out, "outcome", &text, false);
    bs_buf_printf(out, ",\"satisfaction\":%u}", 1 + bs_randn(r, 5));
    bs_buf_free(&text);
}

/* ---- figures ----------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double bs_pct(double *v, size_t n, double p)
{
    if (n == 0)
        return 0;
    qsort(v, n, sizeof(*v), cmp_double);
    size_t k = (size_t)(p / 100.0 * (double)n + 0.999999);
    if (k < 1)
        k = 1;
    if (k > n)
        k = n;
    return v[k - 1];
}
