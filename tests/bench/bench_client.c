/*
 * bench_client.c — what the rep's client costs (issue 4), measured on the real
 * `fieldsync` CLI binary against the real fieldsyncd (child processes, TLS on
 * 127.0.0.1, temp directory):
 *
 *  1. a fresh device's initial sync of a rep's scope (2,000 customers and
 *     50,000 visits, loaded first through the daemon by a device of the same
 *     territory): `fieldsync sync` in a child process, its wall time, CPU and
 *     peak RSS (wait4's rusage), and every byte on the wire (a counting TCP
 *     relay sits between the CLI and the daemon);
 *  2. the agent's idle cost: `fieldsync agent --interval 5` with nothing to
 *     sync, its CPU time and wake-ups per sync round, once over a kept-alive
 *     connection and once with the daemon closing idle connections before the
 *     next round (what happens at the default 300 s interval), extrapolated to
 *     an hour at the default interval.
 *
 * Prints figures; it is not a test and asserts nothing about speed (STYLE §6).
 * usage: fsy_bench_client [--quick] [directory for the temp files]
 *        FSY_BENCH_FIELDSYNCD / FSY_BENCH_FIELDSYNC override the binaries.
 */
#include "bench_support.h"
#include "fieldsync.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define BUDGET_S         285
#define N_CUSTOMERS      2000
#define N_VISITS         50000
#define LOAD_BATCH       1000
#define AGENT_INTERVAL   5
#define DEFAULT_INTERVAL 300

static const char *g_daemon_bin = FSY_BENCH_FIELDSYNCD;
static const char *g_cli_bin = FSY_BENCH_FIELDSYNC;
static bool g_quick;

/* ---- a counting TCP relay: CLI <-> relay <-> daemon ---------------------------- */

#define RELAY_MAX_PAIRS 32

typedef struct relay {
    int lfd, port;
    atomic_int target_port;
    atomic_ullong up, down, conns;
    int stop[2];
    pthread_t th;
} relay;

static bool write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

static void *relay_main(void *arg)
{
    relay *r = arg;
    int pair[RELAY_MAX_PAIRS][2]; /* [0] client side, [1] daemon side */
    int n = 0;
    static char buf[65536];
    for (;;) {
        struct pollfd p[2 + 2 * RELAY_MAX_PAIRS];
        p[0].fd = r->stop[0];
        p[0].events = POLLIN;
        p[1].fd = r->lfd;
        p[1].events = POLLIN;
        for (int i = 0; i < n; i++) {
            p[2 + 2 * i].fd = pair[i][0];
            p[2 + 2 * i].events = POLLIN;
            p[3 + 2 * i].fd = pair[i][1];
            p[3 + 2 * i].events = POLLIN;
        }
        if (poll(p, (nfds_t)(2 + 2 * n), -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (p[0].revents)
            break;
        for (int i = n - 1; i >= 0; i--) {
            bool closed = false;
            for (int side = 0; side < 2 && !closed; side++) {
                if (!p[2 + 2 * i + side].revents)
                    continue;
                ssize_t got = read(pair[i][side], buf, sizeof(buf));
                if (got < 0 && errno == EINTR)
                    continue;
                if (got <= 0 || !write_all(pair[i][1 - side], buf, (size_t)got)) {
                    closed = true;
                    break;
                }
                if (side == 0)
                    atomic_fetch_add(&r->up, (unsigned long long)got);
                else
                    atomic_fetch_add(&r->down, (unsigned long long)got);
            }
            if (closed) {
                close(pair[i][0]);
                close(pair[i][1]);
                pair[i][0] = pair[n - 1][0];
                pair[i][1] = pair[n - 1][1];
                n--;
            }
        }
        if (p[1].revents & POLLIN) {
            int c = accept4(r->lfd, NULL, NULL, SOCK_CLOEXEC);
            if (c < 0)
                continue;
            int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            struct sockaddr_in a;
            memset(&a, 0, sizeof(a));
            a.sin_family = AF_INET;
            a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            a.sin_port = htons((uint16_t)atomic_load(&r->target_port));
            int one = 1;
            if (n >= RELAY_MAX_PAIRS || s < 0 ||
                connect(s, (struct sockaddr *)&a, sizeof(a)) != 0) {
                close(c);
                if (s >= 0)
                    close(s);
                continue;
            }
            setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
            setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
            pair[n][0] = c;
            pair[n][1] = s;
            n++;
            atomic_fetch_add(&r->conns, 1);
        }
    }
    for (int i = 0; i < n; i++) {
        close(pair[i][0]);
        close(pair[i][1]);
    }
    return NULL;
}

static void relay_start(relay *r, int target_port)
{
    memset(r, 0, sizeof(*r));
    atomic_store(&r->target_port, target_port);
    r->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a;
    socklen_t alen = sizeof(a);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (r->lfd < 0 || bind(r->lfd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        listen(r->lfd, 16) != 0 || getsockname(r->lfd, (struct sockaddr *)&a, &alen) != 0 ||
        pipe2(r->stop, O_CLOEXEC) != 0)
        bs_die("relay: %s", strerror(errno));
    r->port = ntohs(a.sin_port);
    if (pthread_create(&r->th, NULL, relay_main, r) != 0)
        bs_die("relay: pthread_create failed");
}

static void relay_stop(relay *r)
{
    if (write(r->stop[1], "x", 1) != 1)
        bs_die("relay: cannot stop");
    pthread_join(r->th, NULL);
    close(r->lfd);
    close(r->stop[0]);
    close(r->stop[1]);
}

/* ---- children with rusage ---------------------------------------------------- */

static int wait_rusage(pid_t pid, int timeout_ms, struct rusage *ru)
{
    int st = 0;
    double deadline = bs_now() + timeout_ms / 1000.0;
    for (;;) {
        pid_t w = wait4(pid, &st, WNOHANG, ru);
        if (w == pid)
            break;
        if (w < 0 && errno != EINTR)
            bs_die("wait4: %s", strerror(errno));
        if (bs_now() > deadline)
            bs_die("child %ld did not exit within %d ms", (long)pid, timeout_ms);
        bs_sleep_ms(1);
    }
    bs_forget(pid);
    return st;
}

static double tv_s(struct timeval tv)
{
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

/* Run the CLI to completion: stdout into out (first 512 bytes). */
static int cli(const char *replica, const char *log, char *out, size_t outlen, struct rusage *ru,
               double *wall_s, const char *a1, const char *a2, const char *a3, const char *a4,
               const char *a5)
{
    char *argv[] = {(char *)g_cli_bin, "--replica", (char *)replica, (char *)a1, (char *)a2,
                    (char *)a3,        (char *)a4,  (char *)a5,      NULL};
    char path[900];
    snprintf(path, sizeof(path), "%s.out", log);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        bs_die("open %s: %s", path, strerror(errno));
    double t0 = bs_now();
    pid_t pid = bs_spawn(argv, fd, log);
    close(fd);
    struct rusage dummy;
    int st = wait_rusage(pid, 120000, ru ? ru : &dummy);
    if (wall_s)
        *wall_s = bs_now() - t0;
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(out, 1, outlen - 1, f) : 0;
    if (f)
        fclose(f);
    out[n] = '\0';
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

/* ---- 1. initial sync -------------------------------------------------------------- */

typedef struct load_result {
    double secs, http_s, gen_s, daemon_cpu_s;
    int pushes;
    size_t raw, gz;
} load_result;

/* The loader: a device of the same territory pushes the scope in batches of LOAD_BATCH
 * changes, bodies built like the core builds them (docs/protocol.md), gzipped. */
static void load_scope(bs_daemon *d, bs_http *h, const char *code, int n_customers, int n_visits,
                       load_result *lr)
{
    char id[37], token[65];
    bs_enroll(h, "loader", code, id, token);
    bs_customer *cust = calloc((size_t)n_customers, sizeof(*cust));
    if (!cust)
        bs_die("out of memory");
    bs_rng rng = {4242};
    bs_buf b = {0}, f = {0};
    int64_t seq = 0, now = bs_wall_ms();
    int total = n_customers + n_visits, done = 0;
    double t0 = bs_now();
    double cpu0 = bs_proc_sched_s(d->pid);
    while (done < total) {
        double tg = bs_now();
        b.len = 0;
        bs_buf_printf(&b, "{\"schema\":%d,\"device\":\"%s\",\"changes\":[", FSY_SCHEMA_VERSION, id);
        int n = 0;
        for (; n < LOAD_BATCH && done < total; n++, done++) {
            char rid[37], hlc[17];
            /* Rows made one a minute over the past weeks: time-ordered ids, as UUIDv7
             * made on a tablet are. */
            int64_t made_ms = now - (int64_t)(total - done) * 60000;
            f.len = 0;
            const char *table;
            if (done < n_customers) {
                table = "customers";
                bs_gen_customer(&rng, &f, &cust[done], "south", "loader");
                bs_uuid7(&rng, made_ms, cust[done].id);
                memcpy(rid, cust[done].id, sizeof(rid));
            } else {
                table = "visits";
                bs_uuid7(&rng, made_ms, rid);
                bs_gen_visit(&rng, &f, &cust[bs_randn(&rng, (unsigned)n_customers)], "loader");
            }
            bs_hlc_hex(now, (unsigned)done, hlc);
            bs_buf_printf(
                &b, "%s{\"s\":%lld,\"t\":\"%s\",\"id\":\"%s\",\"op\":\"c\",\"h\":\"%s\",\"f\":",
                n ? "," : "", (long long)++seq, table, rid, hlc);
            bs_buf_add(&b, f.data, f.len);
            bs_buf_add(&b, "}", 1);
        }
        bs_buf_add(&b, "]}", 2);
        size_t gz_len;
        unsigned char *gz = bs_gzip(b.data, b.len, 6, &gz_len);
        bs_resp res;
        lr->gen_s += bs_now() - tg;
        bs_http_req(h, "POST", "/v1/push", token, gz, gz_len, true, &res);
        lr->http_s += res.secs;
        size_t ok = 0;
        for (const char *p = res.body.data; (p = strstr(p, "\"ok\":true")) != NULL; p++)
            ok++;
        if (res.status != 200 || ok != (size_t)n)
            bs_die("loader push: %ld, %zu of %d accepted: %.300s", res.status, ok, n,
                   res.body.data);
        lr->pushes++;
        lr->raw += b.len;
        lr->gz += gz_len;
        bs_resp_free(&res);
        free(gz);
        if (lr->pushes % 10 == 0)
            bs_progress("   loaded %d of %d rows", done, total);
    }
    lr->secs = bs_now() - t0;
    lr->daemon_cpu_s = bs_proc_sched_s(d->pid) - cpu0;
    bs_buf_free(&b);
    bs_buf_free(&f);
    free(cust);
}

/* ---- 2. agent idle ------------------------------------------------------------------ */

typedef struct idle_result {
    const char *name;
    int rounds;
    double window_s, interval_s;
    double cpu_sched_s, cpu_stat_s; /* over the window */
    long vcsw, ivcsw;               /* over the window */
    unsigned long long bytes, conns;
    long hwm_kb;
    double total_cpu_s; /* wait4, from start to exit */
} idle_result;

static double pull_count(bs_http *h)
{
    return bs_metric(h, "fieldsync_request_duration_seconds_count{endpoint=\"pull\"}");
}

/* Wait (bounded) until the daemon has served `target` pulls, then let the agent settle. */
static void wait_pulls(bs_http *h, double target, double timeout_s)
{
    double deadline = bs_now() + timeout_s;
    while (pull_count(h) < target) {
        if (bs_now() > deadline)
            bs_die("the agent made no sync round within %.0f s", timeout_s);
        bs_sleep_ms(50);
    }
    bs_sleep_ms(400);
}

static void run_agent(bs_daemon *d, relay *rl, const char *replica, const char *log, int rounds,
                      idle_result *ir)
{
    bs_http h;
    bs_http_open(&h, d);
    char interval[16];
    snprintf(interval, sizeof(interval), "%d", AGENT_INTERVAL);
    char *argv[] = {(char *)g_cli_bin, "--replica", (char *)replica, "agent", "--interval",
                    interval,          NULL};
    double base = pull_count(&h);
    pid_t pid = bs_spawn(argv, -1, log);
    /* The first round runs at start-up: begin measuring after it. */
    wait_pulls(&h, base + 1, 30);
    double c0 = bs_proc_sched_s(pid), s0 = bs_proc_cpu_s(pid), t0 = bs_now();
    long v0 = bs_proc_status(pid, "voluntary_ctxt_switches");
    long i0 = bs_proc_status(pid, "nonvoluntary_ctxt_switches");
    unsigned long long b0 = atomic_load(&rl->up) + atomic_load(&rl->down);
    unsigned long long n0 = atomic_load(&rl->conns);
    wait_pulls(&h, base + 1 + rounds, rounds * (AGENT_INTERVAL + 5.0));
    ir->window_s = bs_now() - t0;
    ir->cpu_sched_s = bs_proc_sched_s(pid) - c0;
    ir->cpu_stat_s = bs_proc_cpu_s(pid) - s0;
    ir->vcsw = bs_proc_status(pid, "voluntary_ctxt_switches") - v0;
    ir->ivcsw = bs_proc_status(pid, "nonvoluntary_ctxt_switches") - i0;
    ir->bytes = atomic_load(&rl->up) + atomic_load(&rl->down) - b0;
    ir->conns = atomic_load(&rl->conns) - n0;
    ir->hwm_kb = bs_proc_status(pid, "VmHWM");
    ir->rounds = rounds;
    ir->interval_s = AGENT_INTERVAL;
    kill(pid, SIGTERM);
    struct rusage ru;
    int st = wait_rusage(pid, 20000, &ru);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        bs_die("the agent exited with status %d (log %s)", st, log);
    ir->total_cpu_s = tv_s(ru.ru_utime) + tv_s(ru.ru_stime);
    bs_http_close(&h);
}

int main(int argc, char **argv)
{
    const char *parent = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0)
            g_quick = true;
        else if (argv[i][0] == '-') {
            fprintf(stderr, "usage: fsy_bench_client [--quick] [directory for the temp files]\n");
            return 2;
        } else
            parent = argv[i];
    }
    if (getenv("FSY_BENCH_FIELDSYNCD"))
        g_daemon_bin = getenv("FSY_BENCH_FIELDSYNCD");
    if (getenv("FSY_BENCH_FIELDSYNC"))
        g_cli_bin = getenv("FSY_BENCH_FIELDSYNC");
    bs_init("fsy_bench_client", BUDGET_S);
    if (access(g_cli_bin, X_OK) != 0)
        bs_die("%s is not executable", g_cli_bin);
    int n_customers = g_quick ? 400 : N_CUSTOMERS, n_visits = g_quick ? 10000 : N_VISITS;
    int idle_rounds = g_quick ? 3 : 12;
    const char *root = bs_temp_root("client", parent);
    char fs[300];
    bs_describe_fs(root, fs, sizeof(fs));
    printf("fieldsync %s client benchmark: the fieldsync CLI against fieldsyncd over TLS 1.2 on\n"
           "127.0.0.1, files in %s (%s), %ld CPUs%s\n",
           fsy_version(), root, fs, sysconf(_SC_NPROCESSORS_ONLN), g_quick ? ", --quick" : "");
    char note[200];
    bs_machine_note(note, sizeof(note));
    printf("at start: %s\n", note);

    /* The daemon with its default limits, a loader and the rep. */
    bs_daemon d;
    bs_progress("1. data dir, users");
    bs_daemon_init(&d, g_daemon_bin, root, "daemon");
    bs_job users[] = {{{"user-add", "loader", "--role", "rep", "--territory", "south", NULL}, ""},
                      {{"user-add", "alice", "--role", "rep", "--territory", "south", NULL}, ""}};
    bs_admin_run(&d, users, 2, 2);
    bs_job codes[] = {{{"enroll-code", "loader", NULL}, ""}, {{"enroll-code", "alice", NULL}, ""}};
    bs_admin_run(&d, codes, 2, 2);
    bs_daemon_start(&d);
    bs_http h;
    bs_http_open(&h, &d);
    bs_progress("1. loading %d customers and %d visits through the daemon", n_customers, n_visits);
    load_result lr = {0};
    load_scope(&d, &h, codes[0].out, n_customers, n_visits, &lr);
    int64_t head = bs_log_head(&h);

    /* The rep's new tablet: init + enroll (not timed), then the first sync. */
    relay rl;
    relay_start(&rl, d.port);
    char replica[700], log[800], url[64], out[512];
    snprintf(replica, sizeof(replica), "%s/alice.db", root);
    snprintf(log, sizeof(log), "%s/cli.log", root);
    snprintf(url, sizeof(url), "https://127.0.0.1:%d", rl.port);
    if (cli(replica, log, out, sizeof(out), NULL, NULL, "init", "--server", url, "--ca", d.ca) != 0)
        bs_die("fieldsync init failed: %s (log %s)", out, log);
    if (cli(replica, log, out, sizeof(out), NULL, NULL, "enroll", "alice", codes[1].out, NULL,
            NULL) != 0)
        bs_die("fieldsync enroll failed: %s (log %s)", out, log);
    bs_progress("1. fieldsync sync of a fresh replica");
    unsigned long long up0 = atomic_load(&rl.up), down0 = atomic_load(&rl.down);
    unsigned long long conns0 = atomic_load(&rl.conns);
    double dcpu0 = bs_proc_sched_s(d.pid);
    struct rusage ru;
    double wall = 0;
    int rc = cli(replica, log, out, sizeof(out), &ru, &wall, "sync", NULL, NULL, NULL, NULL);
    double dcpu = bs_proc_sched_s(d.pid) - dcpu0;
    unsigned long long up = atomic_load(&rl.up) - up0, down = atomic_load(&rl.down) - down0;
    unsigned long long conns = atomic_load(&rl.conns) - conns0;
    out[strcspn(out, "\n")] = '\0';
    char expect[64];
    snprintf(expect, sizeof(expect), "%d down", n_customers + n_visits);
    if (rc != 0 || !strstr(out, expect))
        bs_die("fieldsync sync exited %d: \"%s\" (expected \"%s\"; log %s)", rc, out, expect, log);
    double ccpu = tv_s(ru.ru_utime) + tv_s(ru.ru_stime);
    struct stat sb;
    long long replica_bytes = stat(replica, &sb) == 0 ? (long long)sb.st_size : -1;

    printf("\n1. a fresh device's first sync: %d customers + %d visits (%lld changes in the log),\n"
           "   loaded first by a device of the same territory (%d pushes of %d, gzip: %.1f s,\n"
           "   %.0f rows/s; HTTP %.1f s, daemon CPU %.1f s, generating + gzip %.1f s); then\n"
           "   `fieldsync sync` (default limits: pull pages of 2000)\n",
           n_customers, n_visits, (long long)head, lr.pushes, LOAD_BATCH, lr.secs,
           (n_customers + n_visits) / lr.secs, lr.http_s, lr.daemon_cpu_s, lr.gen_s);
    printf("%-34s %10s %10s %8s\n", "", "measured", "target", "vs");
    printf("%-34s %10.2f %10s %7.2fx\n", "wall time, s", wall, "< 5", wall / 5);
    printf("%-34s %10.1f %10s %7.2fx\n", "client peak RSS (ru_maxrss), MB", ru.ru_maxrss / 1024.0,
           "< 32", ru.ru_maxrss / 1024.0 / 32);
    printf("%-34s %10.2f\n", "client CPU (user+sys), s", ccpu);
    printf("%-34s %10.2f\n", "daemon CPU during the sync, s", dcpu);
    printf("%-34s %10.1f\n", "wire MB down (TLS, everything)", down / 1048576.0);
    printf("%-34s %10.3f\n", "wire MB up", up / 1048576.0);
    printf("%-34s %10.1f\n", "wire bytes per row, down", (double)down / (n_customers + n_visits));
    printf("%-34s %10llu\n", "TCP connections", conns);
    printf("%-34s %10.1f\n", "replica file after, MB", replica_bytes / 1048576.0);
    printf("%-34s %10.0f\n", "rows per second", (n_customers + n_visits) / wall);
    printf("CLI said: %s\n", out);

    /* 2. The agent with nothing to sync, kept-alive and reconnecting. */
    idle_result ir[2];
    memset(ir, 0, sizeof(ir));
    ir[0].name = "kept-alive (idle_timeout 60 s)";
    ir[1].name = "reconnect (idle_timeout 2 s)";
    char alog[800];
    snprintf(alog, sizeof(alog), "%s/agent.log", root);
    bs_progress("2. agent --interval %d, %d rounds over a kept-alive connection", AGENT_INTERVAL,
                idle_rounds);
    run_agent(&d, &rl, replica, alog, idle_rounds, &ir[0]);
    bs_http_close(&h);
    bs_daemon_stop(&d);
    bs_daemon_conf(&d, "idle_timeout_ms", "2000");
    bs_daemon_start(&d);
    atomic_store(&rl.target_port, d.port);
    bs_progress("2. agent --interval %d, %d rounds, the daemon closing idle connections after 2 s",
                AGENT_INTERVAL, idle_rounds);
    run_agent(&d, &rl, replica, alog, idle_rounds, &ir[1]);
    bs_daemon_stop(&d);
    relay_stop(&rl);

    printf(
        "\n2. `fieldsync agent --interval %d` with nothing to sync (the replica above), measured\n"
        "   from the end of its first round over the next %d rounds\n",
        AGENT_INTERVAL, idle_rounds);
    printf("%-32s %6s %8s %9s %9s %9s %9s %8s %8s\n", "connection", "rounds", "window", "CPU/round",
           "(stat)", "wakeups/", "bytes/", "new TCP", "agent");
    printf("%-32s %6s %8s %9s %9s %9s %9s %8s %8s\n", "", "", "s", "ms", "ms", "round", "round",
           "conns", "RSS MB");
    for (int i = 0; i < 2; i++)
        printf("%-32s %6d %8.1f %9.2f %9.1f %9.1f %9.0f %8llu %8.1f\n", ir[i].name, ir[i].rounds,
               ir[i].window_s, ir[i].cpu_sched_s / ir[i].rounds * 1e3,
               ir[i].cpu_stat_s / ir[i].rounds * 1e3,
               (double)(ir[i].vcsw + ir[i].ivcsw) / ir[i].rounds,
               (double)ir[i].bytes / ir[i].rounds, ir[i].conns, ir[i].hwm_kb / 1024.0);
    printf("\nper hour                          interval  rounds/h  CPU s/h  wakeups/h  target     "
           " vs\n");
    for (int i = 0; i < 2; i++) {
        double per_h = 3600.0 / ir[i].window_s; /* measured rate, this window */
        printf("%-33s %8d %9.0f %8.2f %10.0f\n",
               i == 0 ? "measured, kept-alive" : "measured, reconnecting", AGENT_INTERVAL,
               ir[i].rounds * per_h, ir[i].cpu_sched_s * per_h, (ir[i].vcsw + ir[i].ivcsw) * per_h);
    }
    /* At the default interval the daemon's 60 s idle timeout has closed the connection
     * before every round, so each round costs what a reconnecting round costs. */
    double rounds_h = 3600.0 / DEFAULT_INTERVAL;
    double cpu_h = ir[1].cpu_sched_s / ir[1].rounds * rounds_h;
    printf("%-33s %8d %9.0f %8.3f %10.0f  < 1 s/h %6.3fx\n", "default, extrapolated",
           DEFAULT_INTERVAL, rounds_h, cpu_h,
           (double)(ir[1].vcsw + ir[1].ivcsw) / ir[1].rounds * rounds_h, cpu_h);
    printf("extrapolated: %.0f rounds an hour at %d s, each costing a reconnecting round (the\n"
           "daemon's default idle_timeout_ms of 60 s closes the connection between rounds); the\n"
           "agent sleeps in ppoll between rounds, so nothing else is added. CPU from\n"
           "/proc/PID/schedstat (ns); (stat) is utime+stime from /proc/PID/stat (10 ms ticks).\n"
           "agent CPU from start to exit (wait4): %.3f s and %.3f s.\n",
           rounds_h, DEFAULT_INTERVAL, ir[0].total_cpu_s, ir[1].total_cpu_s);
    bs_machine_note(note, sizeof(note));
    printf("at end: %s\n", note);
    printf("total %.1f s\n", bs_elapsed());
    return 0;
}
