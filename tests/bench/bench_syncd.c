/*
 * bench_syncd.c — what the daemon sustains (issue 3): the real fieldsyncd,
 * started in a temp directory as a child process, over real TLS on 127.0.0.1,
 * with its SQLite store (synchronous=FULL) on the temp directory's disk.
 *
 *  1. one device pushes 20,000 new visits (13 fields) in batches of 1,000,
 *     gzipped; the batches come from the real core (insert, export, ack) but
 *     only the HTTP round trips are timed, the client side separately;
 *  2. a fresh device pulls them (limit 5,000) and applies them (fsy_pull_apply);
 *  3. 20,000 two-field edits of those visits, pushed and pulled the same way;
 *  4. body bytes on the wire per visit and per edit, both ways;
 *  5. 1, 100 and 1,000 concurrent devices (libcurl multi on epoll, one
 *     kept-alive connection each) pushing 1-3 visits and then pulling, round
 *     after round: latency percentiles, throughput, the daemon's peak RSS; and
 *     1,000 devices pushing only.
 *
 * Prints figures; it is not a test and asserts nothing about speed (STYLE §6).
 * usage: fsy_bench_syncd [--quick] [--single | --concurrent] [directory for the temp files]
 *        (--single: parts 1-4 only; --concurrent: part 5 only)
 *        FSY_BENCH_FIELDSYNCD=path overrides the daemon binary.
 */
#include "bench_support.h"
#include "fieldsync.h"

#include <errno.h>
#include <libpq-fe.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <unistd.h>

#define BUDGET_S        285
#define N_CUSTOMERS     300
#define VISIT_FIELDS    13
#define EDIT_FIELDS     2
#define PUSH_BATCH      1000
#define PULL_LIMIT      5000
#define REPS_PER_TERR   10
#define CUST_PER_TERR   3
#define MAX_REQ_SECONDS 60.0 /* a concurrent run starts no new round after this */
#define PACED_S         12.0 /* a paced run's length */

static const char *g_bin = FSY_BENCH_FIELDSYNCD;
static const char *g_pg_script = FSY_BENCH_PG_SCRIPT;
static bool g_quick;
static bool g_single = true, g_concurrent = true; /* which parts run */
static bool g_scaleout;                           /* --scaleout: that part alone */

static void check(fsy_replica *r, int rc, const char *what)
{
    if (rc != FSY_OK)
        bs_die("%s: %s: %s", what, fsy_strerror(rc), fsy_replica_errmsg(r));
}

static size_t count_str(const char *hay, const char *needle)
{
    size_t n = 0, k = strlen(needle);
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += k)
        n++;
    return n;
}

static int64_t json_int(const char *json, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "\"%s\":", key);
    const char *p = strstr(json, pat);
    return p ? strtoll(p + strlen(pat), NULL, 10) : -1;
}

static fsy_replica *open_replica(const char *path, int synchronous)
{
    fsy_replica *r = NULL;
    fsy_replica_opts o = FSY_REPLICA_OPTS_INIT;
    o.synchronous = synchronous;
    if (fsy_replica_new(&r) != FSY_OK)
        bs_die("out of memory");
    check(r, fsy_replica_open(r, path, &o), "fsy_replica_open");
    return r;
}

/* ====================================================================== */
/* Parts 1-4: one device pushes, a fresh one pulls                        */
/* ====================================================================== */

typedef struct phase {
    const char *name;
    long items; /* visits or edits */
    int fields; /* field changes per item */
    int requests;
    double http_s;                    /* sum of the HTTP round trips */
    double rtt[64];                   /* per request, seconds (first 64) */
    double export_s, gzip_s, apply_s; /* client side, outside http_s */
    size_t raw_up, up, raw_down, down, hdr_up, hdr_down;
    double daemon_cpu_s;
    double handler_s; /* the daemon's own handler time (/metrics), no TLS or gzip */
    long hwm_kb;      /* the daemon's peak RSS during the phase */
} phase;

typedef struct device {
    char user[32], id[37], token[65];
    fsy_replica *r;
    char path[600];
} device;

static double handler_sum(bs_http *h, const char *endpoint)
{
    char series[128];
    snprintf(series, sizeof(series), "fieldsync_request_duration_seconds_sum{endpoint=\"%s\"}",
             endpoint);
    return bs_metric(h, series);
}

static void rtt_add(phase *ph, double s)
{
    if (ph->requests < 64)
        ph->rtt[ph->requests] = s;
    ph->requests++;
    ph->http_s += s;
}

/* Push everything pending from the replica: export, gzip, POST, apply the ack. */
static void push_all(bs_http *h, bs_daemon *d, device *dev, phase *ph)
{
    double hs0 = handler_sum(h, "push");
    double cpu0 = bs_proc_sched_s(d->pid);
    bool hwm_ok = bs_proc_reset_hwm(d->pid);
    for (;;) {
        char *body = NULL;
        size_t len = 0, gz_len = 0;
        int n = 0;
        double t0 = bs_now();
        check(dev->r, fsy_push_export(dev->r, PUSH_BATCH, 8u << 20, &body, &len, &n),
              "fsy_push_export");
        double t1 = bs_now();
        ph->export_s += t1 - t0;
        if (!body)
            break;
        unsigned char *gz = bs_gzip(body, len, 6, &gz_len);
        ph->gzip_s += bs_now() - t1;
        bs_resp res;
        bs_http_req(h, "POST", "/v1/push", dev->token, gz, gz_len, true, &res);
        if (res.status != 200)
            bs_die("push answered %ld: %.300s", res.status, res.body.data);
        size_t ok = count_str(res.body.data, "\"ok\":true");
        if (ok != (size_t)n)
            bs_die("push of %d changes: %zu accepted: %.300s", n, ok, res.body.data);
        rtt_add(ph, res.secs);
        double t2 = bs_now();
        check(dev->r, fsy_push_apply_ack(dev->r, res.body.data, res.body.len),
              "fsy_push_apply_ack");
        ph->apply_s += bs_now() - t2;
        ph->raw_up += len;
        ph->up += res.up;
        ph->raw_down += res.body.len;
        ph->down += res.down;
        ph->hdr_up += res.hdr_up;
        ph->hdr_down += res.hdr_down;
        ph->items += n;
        bs_resp_free(&res);
        free(gz);
        fsy_free(body);
    }
    ph->daemon_cpu_s += bs_proc_sched_s(d->pid) - cpu0;
    ph->handler_s += handler_sum(h, "push") - hs0;
    ph->hwm_kb = hwm_ok ? bs_proc_status(d->pid, "VmHWM") : -1;
}

/* Pull from *cursor until the server has no more; apply when dev->r is set. */
static void pull_all(bs_http *h, bs_daemon *d, device *dev, int64_t *cursor, int limit,
                     int64_t until, bool apply, phase *ph)
{
    double hs0 = handler_sum(h, "pull");
    double cpu0 = bs_proc_sched_s(d->pid);
    bool hwm_ok = bs_proc_reset_hwm(d->pid);
    bool more = true;
    while (more && (until == 0 || *cursor < until)) {
        char path[96];
        int64_t n = until > 0 && until - *cursor < limit ? until - *cursor : limit;
        snprintf(path, sizeof(path), "/v1/pull?after=%lld&limit=%lld", (long long)*cursor,
                 (long long)n);
        bs_resp res;
        bs_http_req(h, "GET", path, dev->token, NULL, 0, false, &res);
        if (res.status != 200)
            bs_die("pull answered %ld: %.300s", res.status, res.body.data);
        rtt_add(ph, res.secs);
        ph->items += (long)count_str(res.body.data, "{\"q\":");
        ph->raw_down += res.body.len;
        ph->down += res.down;
        ph->hdr_up += res.hdr_up;
        ph->hdr_down += res.hdr_down;
        if (apply) {
            double t0 = bs_now();
            check(dev->r, fsy_pull_apply(dev->r, res.body.data, res.body.len, &more),
                  "fsy_pull_apply");
            ph->apply_s += bs_now() - t0;
            check(dev->r, fsy_pull_cursor(dev->r, cursor), "fsy_pull_cursor");
        } else {
            more = strstr(res.body.data, "\"more\":true") != NULL;
            *cursor = json_int(res.body.data, "upto");
        }
        bs_resp_free(&res);
    }
    ph->daemon_cpu_s += bs_proc_sched_s(d->pid) - cpu0;
    ph->handler_s += handler_sum(h, "pull") - hs0;
    ph->hwm_kb = hwm_ok ? bs_proc_status(d->pid, "VmHWM") : -1;
}

static void print_phase(const phase *ph, bool with_apply, const char *target, double target_per_s)
{
    double rtt[64];
    int n = ph->requests < 64 ? ph->requests : 64;
    memcpy(rtt, ph->rtt, sizeof(double) * (size_t)n);
    double s = ph->http_s + (with_apply ? ph->apply_s : 0);
    double per_s = (double)ph->items / s;
    char vs[32] = "";
    if (target_per_s > 0)
        snprintf(vs, sizeof(vs), "%.2fx", per_s / target_per_s);
    printf("%-28s %6ld %5d %7.2f %8.0f %9.0f %8.1f %8.1f %7.2f %7.2f %6.1f  %-11s %5s\n", ph->name,
           ph->items, ph->requests, s, per_s, per_s * ph->fields, bs_pct(rtt, (size_t)n, 50) * 1e3,
           bs_pct(rtt, (size_t)n, 99) * 1e3, ph->handler_s, ph->daemon_cpu_s, ph->hwm_kb / 1024.0,
           target, vs);
}

/* The store's size as a reader sees it (committed pages, WAL included), in bytes. */
static int64_t store_bytes(const bs_daemon *d)
{
    char path[800];
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int64_t total = -1;
    snprintf(path, sizeof(path), "%s/store.db", d->dir);
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db,
                           "SELECT page_count * page_size FROM pragma_page_count(), "
                           "pragma_page_size()",
                           -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        total = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return total;
}

static void part_single(const char *root, int n_visits)
{
    bs_daemon d;
    bs_http h;
    device alice = {.user = "alice"}, bob = {.user = "bob"}, carol = {.user = "carol"};
    bs_rng rng = {20240601};
    bs_buf fields = {0};

    bs_progress("parts 1-4: data dir and users");
    bs_daemon_init(&d, g_bin, root, "single");
    bs_daemon_conf(&d, "pull_max", "20000");
    bs_daemon_conf(&d, "pull_max_bytes", "67108864");
    bs_job users[] = {{{"user-add", "alice", "--role", "rep", "--territory", "north", NULL}, ""},
                      {{"user-add", "bob", "--role", "rep", "--territory", "north", NULL}, ""},
                      {{"user-add", "carol", "--role", "rep", "--territory", "east", NULL}, ""}};
    bs_admin_run(&d, users, 3, 3);
    bs_job codes[] = {{{"enroll-code", "alice", NULL}, ""},
                      {{"enroll-code", "bob", NULL}, ""},
                      {{"enroll-code", "carol", NULL}, ""}};
    bs_admin_run(&d, codes, 3, 3);
    bs_daemon_start(&d);
    bs_http_open(&h, &d);
    device *devs[] = {&alice, &bob, &carol};
    for (int i = 0; i < 3; i++) {
        bs_enroll(&h, devs[i]->user, codes[i].out, devs[i]->id, devs[i]->token);
        snprintf(devs[i]->path, sizeof(devs[i]->path), "%s/%s.db", root, devs[i]->user);
    }

    /* Alice's tablet: customers first (pushed, not timed), then the visits, written
     * with synchronous=NORMAL to save time; pushed with the default, FULL. */
    bs_progress("writing %d customers and %d visits into alice's replica", N_CUSTOMERS, n_visits);
    alice.r = open_replica(alice.path, FSY_SYNC_NORMAL);
    check(alice.r, fsy_replica_set_identity(alice.r, alice.id, alice.user), "set_identity");
    bs_customer *cust = calloc(N_CUSTOMERS, sizeof(*cust));
    char(*visit_ids)[FSY_ID_LEN + 1] = calloc((size_t)n_visits, sizeof(*visit_ids));
    if (!cust || !visit_ids)
        bs_die("out of memory");
    for (int i = 0; i < N_CUSTOMERS; i++) {
        fields.len = 0;
        bs_gen_customer(&rng, &fields, &cust[i], "north", "alice");
        check(alice.r, fsy_replica_insert(alice.r, "customers", fields.data, cust[i].id),
              "insert customer");
    }
    phase cust_push = {.name = "customers"};
    push_all(&h, &d, &alice, &cust_push);
    int64_t head_customers = bs_log_head(&h);
    for (int i = 0; i < n_visits; i++) {
        fields.len = 0;
        bs_gen_visit(&rng, &fields, &cust[bs_randn(&rng, N_CUSTOMERS)], "alice");
        check(alice.r, fsy_replica_insert(alice.r, "visits", fields.data, visit_ids[i]),
              "insert visit");
    }
    fsy_replica_free(alice.r);
    alice.r = open_replica(alice.path, FSY_SYNC_FULL);

    /* 1. Push. */
    bs_progress("1. pushing %d visits in batches of %d", n_visits, PUSH_BATCH);
    phase push_v = {.name = "push new visits", .fields = VISIT_FIELDS};
    int64_t store0 = store_bytes(&d);
    push_all(&h, &d, &alice, &push_v);
    int64_t store1 = store_bytes(&d);

    /* 2. Pull to a fresh device: customers first (setup), then the visits, timed. */
    bs_progress("2. pulling them to a fresh device (limit %d)", PULL_LIMIT);
    bob.r = open_replica(bob.path, FSY_SYNC_FULL);
    check(bob.r, fsy_replica_set_identity(bob.r, bob.id, bob.user), "set_identity");
    int64_t cursor = 0;
    bs_resp res;
    char path[96];
    snprintf(path, sizeof(path), "/v1/pull?after=0&limit=%lld", (long long)head_customers);
    bs_http_req(&h, "GET", path, bob.token, NULL, 0, false, &res);
    if (res.status != 200)
        bs_die("pull answered %ld", res.status);
    check(bob.r, fsy_pull_apply(bob.r, res.body.data, res.body.len, NULL), "fsy_pull_apply");
    check(bob.r, fsy_pull_cursor(bob.r, &cursor), "fsy_pull_cursor");
    bs_resp_free(&res);
    if (cursor != head_customers)
        bs_die("the customers' pull ended at %lld, expected %lld", (long long)cursor,
               (long long)head_customers);
    phase pull_v = {.name = "pull new visits", .fields = VISIT_FIELDS};
    pull_all(&h, &d, &bob, &cursor, PULL_LIMIT, 0, true, &pull_v);
    if (pull_v.items != n_visits)
        bs_die("bob pulled %ld visits, expected %d", pull_v.items, n_visits);

    /* Page size, server side only (no apply), and a device that sees none of it. */
    bs_progress("2b. a device of another territory pulls the whole log");
    phase skip = {.name = "skip"};
    int64_t c0 = 0, head_visits = bs_log_head(&h);
    pull_all(&h, &d, &carol, &c0, PULL_LIMIT, 0, false, &skip);

    /* 3. Two-field edits of every visit, pushed and pulled. */
    bs_progress("3. editing %d visits (outcome, satisfaction)", n_visits);
    fsy_replica_free(alice.r);
    alice.r = open_replica(alice.path, FSY_SYNC_NORMAL);
    for (int i = 0; i < n_visits; i++) {
        fields.len = 0;
        bs_gen_edit(&rng, &fields);
        check(alice.r, fsy_replica_update(alice.r, "visits", visit_ids[i], fields.data),
              "update visit");
    }
    fsy_replica_free(alice.r);
    alice.r = open_replica(alice.path, FSY_SYNC_FULL);
    phase push_e = {.name = "push 2-field edits", .fields = EDIT_FIELDS};
    push_all(&h, &d, &alice, &push_e);
    phase pull_e = {.name = "pull 2-field edits", .fields = EDIT_FIELDS};
    pull_all(&h, &d, &bob, &cursor, PULL_LIMIT, 0, true, &pull_e);
    if (pull_e.items != n_visits)
        bs_die("bob pulled %ld edits, expected %d", pull_e.items, n_visits);

    /* Last, as a large page leaves the daemon's heap large: the visits again, server side. */
    bs_progress("2c. pull page sizes");
    int limits[] = {1000, 5000, 20000};
    phase pages[3];
    for (int i = 0; i < 3; i++) {
        memset(&pages[i], 0, sizeof(pages[i]));
        int64_t c = head_customers;
        pull_all(&h, &d, &bob, &c, limits[i], head_visits, false, &pages[i]);
    }
    long hwm_kb = 0;
    const phase *all[] = {&push_v,   &pull_v, &pages[0], &pages[1],
                          &pages[2], &skip,   &push_e,   &pull_e};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        if (all[i]->hwm_kb > hwm_kb)
            hwm_kb = all[i]->hwm_kb;
    bs_http_close(&h);
    bs_daemon_stop(&d);

    /* ---- tables ---- */
    printf("\n1-3. one device pushes %d new visits (%d fields) in batches of %d, gzip level 6;\n"
           "     a fresh device pulls them (limit %d) and applies them; then %d two-field edits\n",
           n_visits, VISIT_FIELDS, PUSH_BATCH, PULL_LIMIT, n_visits);
    printf("%-28s %6s %5s %7s %8s %9s %8s %8s %7s %7s %6s  %-11s %5s\n", "phase", "items", "reqs",
           "time s", "items/s", "fields/s", "req p50", "req p99", "handler", "daemon", "peak",
           "target", "vs");
    printf("%-28s %6s %5s %7s %8s %9s %8s %8s %7s %7s %6s\n", "", "", "", "", "", "", "ms", "ms",
           "s", "CPU s", "RSS MB");
    print_phase(&push_v, false, ">= 10000/s", 10000);
    phase pv_http = pull_v;
    pv_http.name = "pull new visits (HTTP)";
    print_phase(&pv_http, false, ">= 20000/s", 20000);
    pull_v.name = "pull new visits (+apply)";
    print_phase(&pull_v, true, "", 0);
    print_phase(&push_e, false, "", 0);
    phase pe_http = pull_e;
    pe_http.name = "pull 2-field edits (HTTP)";
    print_phase(&pe_http, false, "", 0);
    pull_e.name = "pull 2-field edits (+apply)";
    print_phase(&pull_e, true, "", 0);

    printf("\nclient side, outside the HTTP times      total s  us/item\n");
    printf("%-40s %7.2f %8.1f\n", "push visits: fsy_push_export", push_v.export_s,
           push_v.export_s / (double)n_visits * 1e6);
    printf("%-40s %7.2f %8.1f\n", "push visits: gzip of the bodies", push_v.gzip_s,
           push_v.gzip_s / (double)n_visits * 1e6);
    printf("%-40s %7.2f %8.1f\n", "push visits: fsy_push_apply_ack", push_v.apply_s,
           push_v.apply_s / (double)n_visits * 1e6);
    printf("%-40s %7.2f %8.1f\n", "pull visits: fsy_pull_apply", pull_v.apply_s,
           pull_v.apply_s / (double)n_visits * 1e6);
    printf("%-40s %7.2f %8.1f\n", "push edits: export + gzip + ack",
           push_e.export_s + push_e.gzip_s + push_e.apply_s,
           (push_e.export_s + push_e.gzip_s + push_e.apply_s) / (double)n_visits * 1e6);
    printf("%-40s %7.2f %8.1f\n", "pull edits: fsy_pull_apply", pull_e.apply_s,
           pull_e.apply_s / (double)n_visits * 1e6);

    double nv = (double)n_visits;
    printf("\n4. body bytes per item (gzip on)          JSON  on wire  ratio  target\n");
    printf("%-40s %5.0f %8.1f %5.1fx\n", "push visit: request", push_v.raw_up / nv, push_v.up / nv,
           (double)push_v.raw_up / (double)push_v.up);
    printf("%-40s %5.0f %8.1f %5.1fx\n", "push visit: acknowledgement", push_v.raw_down / nv,
           push_v.down / nv, (double)push_v.raw_down / (double)push_v.down);
    printf("%-40s %5.0f %8.1f %5.1fx  < 250 (%.2fx)\n", "push visit: both",
           (push_v.raw_up + push_v.raw_down) / nv, (push_v.up + push_v.down) / nv,
           (double)(push_v.raw_up + push_v.raw_down) / (double)(push_v.up + push_v.down),
           (push_v.up + push_v.down) / nv / 250);
    printf("%-40s %5.0f %8.1f %5.1fx  < 250 (%.2fx)\n", "pull visit: response",
           pull_v.raw_down / nv, pull_v.down / nv, (double)pull_v.raw_down / (double)pull_v.down,
           pull_v.down / nv / 250);
    printf("%-40s %5.0f %8.1f %5.1fx\n", "push edit: request + acknowledgement",
           (push_e.raw_up + push_e.raw_down) / nv, (push_e.up + push_e.down) / nv,
           (double)(push_e.raw_up + push_e.raw_down) / (double)(push_e.up + push_e.down));
    printf("%-40s %5.0f %8.1f %5.1fx\n", "pull edit: response", pull_e.raw_down / nv,
           pull_e.down / nv, (double)pull_e.raw_down / (double)pull_e.down);
    printf("daemon store growth while pushing the visits: %.1f MB, %.0f bytes per visit\n"
           "  (page_count x page_size of store.db as a reader sees it, WAL included)\n",
           (double)(store1 - store0) / 1048576.0, (double)(store1 - store0) / nv);
    printf("HTTP headers per request: %.0f bytes up, %.0f down (%d + %d requests above)\n",
           (double)(push_v.hdr_up + pull_v.hdr_up) / (push_v.requests + pull_v.requests),
           (double)(push_v.hdr_down + pull_v.hdr_down) / (push_v.requests + pull_v.requests),
           push_v.requests, pull_v.requests);

    printf("\n2b. a device of another territory pulls the whole log (%lld entries, none in its\n"
           "    scope): %d request(s), %.3f s; per skipped entry %.1f us of HTTP time, %.1f us of\n"
           "    handler time, %.1f us of daemon CPU\n",
           (long long)head_visits, skip.requests, skip.http_s,
           skip.http_s / (double)head_visits * 1e6, skip.handler_s / (double)head_visits * 1e6,
           skip.daemon_cpu_s / (double)head_visits * 1e6);
    printf("\n2c. the %d visits pulled again, server side only, after part 3:\n", n_visits);
    printf("%10s %5s %7s %9s %12s %8s %12s %12s\n", "limit", "reqs", "time s", "visits/s",
           "wire B/visit", "handler", "daemon CPU", "peak RSS MB");
    for (int i = 0; i < 3; i++)
        printf("%10d %5d %7.2f %9.0f %12.1f %8.2f %12.2f %12.1f\n", limits[i], pages[i].requests,
               pages[i].http_s, (double)pages[i].items / pages[i].http_s,
               (double)pages[i].down / (double)pages[i].items, pages[i].handler_s,
               pages[i].daemon_cpu_s, pages[i].hwm_kb / 1024.0);
    printf("\ndaemon peak RSS over parts 1-3: %.1f MB. The peak RSS columns are VmHWM during that\n"
           "phase alone (reset through /proc/PID/clear_refs before it, so they include what the\n"
           "heap kept from earlier phases).\n",
           hwm_kb / 1024.0);

    fsy_replica_free(alice.r);
    fsy_replica_free(bob.r);
    free(cust);
    free(visit_ids);
    bs_buf_free(&fields);
}

/* ====================================================================== */
/* Part 5: many devices at once (libcurl multi on epoll)                  */
/* ====================================================================== */

typedef struct pushbody {
    unsigned char *gz;
    size_t len;
    int n_visits;
} pushbody;

typedef struct sim {
    CURL *c;
    char user[16], id[37], token[65];
    int terr;
    int64_t seq, cursor;
    int round, phase; /* phase 0: push next, 1: pull next */
    int n_visits;     /* in the push in flight */
    double started;
    double due; /* paced runs: when the next round is scheduled to start */
    bool is_busy, is_done, is_waiting;
    struct curl_slist *h_push, *h_pull;
    unsigned char *gz; /* the push in flight */
    size_t gz_len;
    struct pushbody *ready; /* built before the rounds: round i's push is ready[i] */
    int n_ready;
    bs_buf resp;
    bs_rng rng;
    const bs_daemon *d; /* the daemon its connection goes to (scale-out: one of two) */
} sim;

#define MAX_FDS 8192 /* sockets above this are tracked by epoll_ctl's errors alone */

typedef struct driver {
    CURLM *m;
    int ep;
    double timeout_at; /* <0: no timer */
    sim *devs;
    int n;
    const bs_daemon *d;
    const bs_customer *cust; /* CUST_PER_TERR per territory */
    int rounds;
    double stop_new_rounds_at;
    double give_up_at; /* requests still open then are abandoned (time budget) */
    long abandoned;
    bool warmup;    /* one pull each, no rounds */
    bool push_only; /* rounds without the pull */
    double pace_s;  /* >0: each device starts a round every pace_s (open loop) */
    int active;
    uint32_t armed[MAX_FDS]; /* per fd: the epoll events registered + 1; 0: none */
    /* results */
    double *lat_push, *lat_pull;
    size_t n_push, n_pull;
    long visits, pulled, errors;
    long busy; /* 503 answers (store busy), retried at once */
    size_t up, down;
    char first_error[300];
    char first_busy[300]; /* the first 503's body */
} driver;

static int sock_cb(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
    (void)e;
    (void)socketp;
    driver *dv = userp;
    /* The bench shares the daemon's two cores, so it skips the epoll_ctl calls that
     * change nothing: a failed MOD before every ADD doubled its epoll_ctl calls. */
    bool is_known = s >= 0 && s < MAX_FDS;
    if (what == CURL_POLL_REMOVE) {
        epoll_ctl(dv->ep, EPOLL_CTL_DEL, s, NULL);
        if (is_known)
            dv->armed[s] = 0;
        return 0;
    }
    struct epoll_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.data.fd = s;
    ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0u) | (what & CURL_POLL_OUT ? EPOLLOUT : 0u);
    if (is_known && dv->armed[s] == ev.events + 1)
        return 0;
    if (is_known && dv->armed[s] == 0) {
        if (epoll_ctl(dv->ep, EPOLL_CTL_ADD, s, &ev) != 0 && errno == EEXIST)
            epoll_ctl(dv->ep, EPOLL_CTL_MOD, s, &ev);
    } else if (epoll_ctl(dv->ep, EPOLL_CTL_MOD, s, &ev) != 0 && errno == ENOENT) {
        epoll_ctl(dv->ep, EPOLL_CTL_ADD, s, &ev);
    }
    if (is_known)
        dv->armed[s] = ev.events + 1;
    return 0;
}

static int timer_cb(CURLM *m, long timeout_ms, void *userp)
{
    (void)m;
    driver *dv = userp;
    dv->timeout_at = timeout_ms < 0 ? -1 : bs_now() + (double)timeout_ms / 1e3;
    return 0;
}

static size_t sim_body(char *ptr, size_t size, size_t n, void *ud)
{
    bs_buf_add(ud, ptr, size * n);
    return size * n;
}

/* A push of 1-3 new visits, built by hand like the core would (docs/protocol.md). */
/* A device's next push: 1-3 new visits of its territory, gzipped as the client does
 * (level 6). */
static pushbody build_push(const driver *dv, sim *s, int round)
{
    bs_buf b = {0}, f = {0};
    pushbody pb = {0};
    int64_t now = bs_wall_ms();
    pb.n_visits = 1 + (int)((round + (int)(s - dv->devs)) % 3);
    bs_buf_printf(&b, "{\"schema\":%d,\"device\":\"%s\",\"changes\":[", FSY_SCHEMA_VERSION, s->id);
    for (int i = 0; i < pb.n_visits; i++) {
        char id[37], hlc[17];
        bs_uuid7(&s->rng, now, id);
        bs_hlc_hex(now, (unsigned)i, hlc);
        f.len = 0;
        bs_gen_visit(&s->rng, &f,
                     &dv->cust[s->terr * CUST_PER_TERR + (int)bs_randn(&s->rng, CUST_PER_TERR)],
                     s->user);
        bs_buf_printf(
            &b, "%s{\"s\":%lld,\"t\":\"visits\",\"id\":\"%s\",\"op\":\"c\",\"h\":\"%s\",\"f\":",
            i ? "," : "", (long long)++s->seq, id, hlc);
        bs_buf_add(&b, f.data, f.len);
        bs_buf_add(&b, "}", 1);
    }
    bs_buf_add(&b, "]}", 2);
    pb.gz = bs_gzip(b.data, b.len, 6, &pb.len);
    bs_buf_free(&b);
    bs_buf_free(&f);
    return pb;
}

/* Every device's pushes for the first rounds, built before the clock starts. A real
 * device has its batch composed and compressed on its own CPU before it connects; here
 * the 1,000 simulated devices share the daemon's two cores, and building them in the
 * timed window (a sixth of this program's CPU) would take that CPU from the daemon.
 * Rounds past PREBUILT_ROUNDS (the time-capped runs) build theirs on the spot. */
#define PREBUILT_ROUNDS 32

static void prebuild_pushes(driver *dv, int rounds)
{
    int n_rounds = rounds < PREBUILT_ROUNDS ? rounds : PREBUILT_ROUNDS;
    for (int i = 0; i < dv->n; i++) {
        sim *s = &dv->devs[i];
        s->ready = calloc((size_t)n_rounds, sizeof(*s->ready));
        if (!s->ready)
            bs_die("out of memory");
        for (int r = 0; r < n_rounds; r++)
            s->ready[r] = build_push(dv, s, r);
        s->n_ready = n_rounds;
    }
}

static void free_pushes(sim *s)
{
    for (int r = 0; r < s->n_ready; r++)
        free(s->ready[r].gz);
    free(s->ready);
    s->ready = NULL;
    s->n_ready = 0;
    free(s->gz);
    s->gz = NULL;
}

static void start_push(driver *dv, sim *s)
{
    pushbody pb;
    if (s->round < s->n_ready) {
        pb = s->ready[s->round];
        s->ready[s->round].gz = NULL; /* now s->gz's */
    } else {
        pb = build_push(dv, s, s->round);
    }
    free(s->gz);
    s->gz = pb.gz;
    s->gz_len = pb.len;
    s->n_visits = pb.n_visits;
    char url[128];
    snprintf(url, sizeof(url), "https://127.0.0.1:%d/v1/push", s->d->port);
    curl_easy_setopt(s->c, CURLOPT_URL, url);
    curl_easy_setopt(s->c, CURLOPT_HTTPHEADER, s->h_push);
    curl_easy_setopt(s->c, CURLOPT_POSTFIELDS, s->gz);
    curl_easy_setopt(s->c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)s->gz_len);
}

static void start_pull(driver *dv, sim *s)
{
    (void)dv;
    char url[160];
    snprintf(url, sizeof(url), "https://127.0.0.1:%d/v1/pull?after=%lld&limit=1000", s->d->port,
             (long long)s->cursor);
    curl_easy_setopt(s->c, CURLOPT_URL, url);
    curl_easy_setopt(s->c, CURLOPT_HTTPHEADER, s->h_pull);
    curl_easy_setopt(s->c, CURLOPT_HTTPGET, 1L);
}

static void start_next(driver *dv, sim *s)
{
    if (dv->warmup) {
        if (s->round > 0) {
            s->is_done = true;
            return;
        }
        start_pull(dv, s);
    } else {
        if (s->phase == 0 && (s->round >= dv->rounds || bs_now() >= dv->stop_new_rounds_at)) {
            s->is_done = true;
            return;
        }
        /* Paced: a round starts on its schedule, not when the last one ended, and its
         * push latency counts from the scheduled time, so a daemon that falls behind
         * shows it (no coordinated omission). */
        s->is_waiting = dv->pace_s > 0 && s->phase == 0 && bs_now() < s->due;
        if (s->is_waiting)
            return;
        if (s->phase == 0)
            start_push(dv, s);
        else
            start_pull(dv, s);
    }
    s->resp.len = 0;
    s->started = bs_now();
    if (dv->pace_s > 0 && !dv->warmup && s->phase == 0) {
        s->started = s->due;
        s->due += dv->pace_s;
    }
    s->is_busy = true;
    curl_multi_add_handle(dv->m, s->c);
}

static void note_error(driver *dv, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note_error(driver *dv, const char *fmt, ...)
{
    dv->errors++;
    if (dv->first_error[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dv->first_error, sizeof(dv->first_error), fmt, ap);
    va_end(ap);
}

static void finish(driver *dv, sim *s, CURLcode cc)
{
    double lat = bs_now() - s->started;
    long status = 0;
    curl_off_t up = 0, down = 0;
    curl_easy_getinfo(s->c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(s->c, CURLINFO_SIZE_UPLOAD_T, &up);
    curl_easy_getinfo(s->c, CURLINFO_SIZE_DOWNLOAD_T, &down);
    curl_multi_remove_handle(dv->m, s->c);
    s->is_busy = false;
    if (s->resp.data == NULL)
        bs_buf_add(&s->resp, "", 0);
    bool is_push = !dv->warmup && s->phase == 0;
    if (cc == CURLE_OK && status == 503 && bs_now() < dv->give_up_at) {
        /* Store busy (PostgreSQL): nothing was applied; the device sends it again at once
         * (same body, same handle); its latency counts from the first attempt. */
        if (dv->busy++ == 0)
            snprintf(dv->first_busy, sizeof(dv->first_busy), "%.290s", s->resp.data);
        s->resp.len = 0;
        s->is_busy = true;
        curl_multi_add_handle(dv->m, s->c);
        return;
    }
    if (cc != CURLE_OK || status != 200) {
        note_error(dv, "%s %s: curl %d, HTTP %ld: %.200s", s->user, is_push ? "push" : "pull",
                   (int)cc, status, s->resp.data);
    } else if (is_push) {
        size_t ok = count_str(s->resp.data, "\"ok\":true");
        if (ok != (size_t)s->n_visits)
            note_error(dv, "%s push: %zu of %d accepted: %.200s", s->user, ok, s->n_visits,
                       s->resp.data);
        dv->visits += (long)ok;
    } else {
        int64_t upto = json_int(s->resp.data, "upto");
        if (upto > s->cursor)
            s->cursor = upto;
        dv->pulled += (long)count_str(s->resp.data, "{\"q\":");
    }
    dv->up += (size_t)up;
    dv->down += (size_t)down;
    if (!dv->warmup) {
        if (is_push)
            dv->lat_push[dv->n_push++] = lat;
        else
            dv->lat_pull[dv->n_pull++] = lat;
    }
    if (dv->warmup || (dv->push_only && s->phase == 0)) {
        s->round++;
    } else if (s->phase == 0) {
        s->phase = 1;
    } else {
        s->phase = 0;
        s->round++;
    }
    start_next(dv, s);
    if (s->is_done)
        dv->active--;
}

static void drive(driver *dv)
{
    int running = 0;
    dv->active = dv->n;
    for (int i = 0; i < dv->n; i++) {
        dv->devs[i].is_done = false;
        start_next(dv, &dv->devs[i]);
        if (dv->devs[i].is_done)
            dv->active--;
    }
    struct epoll_event evs[256];
    double last_note = bs_now();
    while (dv->active > 0) {
        if (bs_now() > dv->give_up_at) {
            for (int i = 0; i < dv->n; i++)
                if (dv->devs[i].is_busy) {
                    curl_multi_remove_handle(dv->m, dv->devs[i].c);
                    dv->devs[i].is_busy = false;
                    dv->abandoned++;
                }
            bs_progress("   time budget: %ld requests abandoned", dv->abandoned);
            break;
        }
        double next_at = dv->timeout_at >= 0 ? dv->timeout_at : bs_now() + 0.2;
        if (dv->pace_s > 0) {
            double now = bs_now();
            for (int i = 0; i < dv->n; i++) {
                sim *s = &dv->devs[i];
                if (!s->is_waiting)
                    continue;
                if (now >= s->due) {
                    start_next(dv, s);
                    if (s->is_done)
                        dv->active--;
                } else if (s->due < next_at) {
                    next_at = s->due;
                }
            }
        }
        double left_ms = (next_at - bs_now()) * 1e3;
        int wait_ms = left_ms <= 0 ? 0 : (int)left_ms + 1;
        if (wait_ms > 200)
            wait_ms = 200;
        int n = epoll_wait(dv->ep, evs, 256, wait_ms);
        for (int i = 0; i < n; i++) {
            int flags = (evs[i].events & EPOLLIN ? CURL_CSELECT_IN : 0) |
                        (evs[i].events & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
                        (evs[i].events & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
            curl_multi_socket_action(dv->m, evs[i].data.fd, flags, &running);
        }
        if (dv->timeout_at >= 0 && bs_now() >= dv->timeout_at) {
            dv->timeout_at = -1;
            curl_multi_socket_action(dv->m, CURL_SOCKET_TIMEOUT, 0, &running);
        }
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(dv->m, &left)) != NULL) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            char *priv = NULL;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
            finish(dv, (sim *)(void *)priv, msg->data.result);
        }
        if (bs_now() - last_note > 10) {
            last_note = bs_now();
            bs_progress("   ... %zu pushes, %zu pulls done, %d devices active", dv->n_push,
                        dv->n_pull, dv->active);
        }
    }
}

static double rusage_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

typedef struct conc_result {
    int devices, rounds_done;
    bool push_only;
    double pace_s; /* >0: paced (open loop), a round per device every pace_s */
    double push_handler_ms, pull_handler_ms; /* mean per request, from /metrics */
    double per_commit;                       /* requests per store commit (group commit) */
    long connect_errors;
    long abandoned; /* requests cut off by the time budget */
    bool skipped;
    double connect_s, wall_s;
    long rss_idle_kb, hwm_kb;
    double push_p50, push_p99, pull_p50, pull_p99, all_p50, all_p99;
    size_t requests;
    long visits, pulled, errors;
    double daemon_cpu, bench_cpu;
    double up_per_req, down_per_req;
    long busy; /* 503 answers retried */
    char first_error[300];
    char first_busy[300];
} conc_result;

/* No new round starts after this many seconds of a run (part 5; --scaleout sets less). */
static double g_run_cap_s = MAX_REQ_SECONDS;

/* n devices against n_d daemons (device i on daemon i % n_d, as a TCP load balancer
 * spreading connections would); CPU, handler time and peak RSS are summed over them. */
static void run_concurrent(bs_daemon *const *ds, int n_d, sim *devs, int n, const bs_customer *cust,
                           int rounds, bool push_only, double pace_s, conc_result *out)
{
    bs_daemon *d = ds[0];
    driver dv;
    memset(&dv, 0, sizeof(dv));
    memset(out, 0, sizeof(*out));
    dv.m = curl_multi_init();
    dv.ep = epoll_create1(EPOLL_CLOEXEC);
    if (!dv.m || dv.ep < 0)
        bs_die("curl_multi_init / epoll_create1 failed");
    dv.timeout_at = -1;
    dv.devs = devs;
    dv.n = n;
    dv.d = d;
    dv.cust = cust;
    dv.rounds = rounds;
    curl_multi_setopt(dv.m, CURLMOPT_SOCKETFUNCTION, sock_cb);
    curl_multi_setopt(dv.m, CURLMOPT_SOCKETDATA, &dv);
    curl_multi_setopt(dv.m, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(dv.m, CURLMOPT_TIMERDATA, &dv);
    curl_multi_setopt(dv.m, CURLMOPT_MAXCONNECTS, (long)n + 16);
    curl_multi_setopt(dv.m, CURLMOPT_MAX_TOTAL_CONNECTIONS, 0L);
    curl_multi_setopt(dv.m, CURLMOPT_PIPELINING, (long)CURLPIPE_NOTHING);

    bs_http h, hs[2];
    bs_http_open(&h, d);
    for (int k = 0; k < n_d; k++)
        bs_http_open(&hs[k], ds[k]);
    int64_t head = bs_log_head(&h);
    for (int i = 0; i < n; i++) {
        sim *s = &devs[i];
        s->d = ds[i % n_d];
        s->c = curl_easy_init();
        if (!s->c)
            bs_die("curl_easy_init failed");
        bs_easy_setup(s->c, s->d);
        curl_easy_setopt(s->c, CURLOPT_PRIVATE, (char *)s);
        curl_easy_setopt(s->c, CURLOPT_WRITEFUNCTION, sim_body);
        curl_easy_setopt(s->c, CURLOPT_WRITEDATA, &s->resp);
        s->cursor = head; /* as if it had synced before: only what happens now */
        s->round = 0;
        s->phase = 0;
    }

    /* Warm-up: every device connects (full TLS handshake) and pulls once. */
    dv.warmup = true;
    dv.give_up_at = bs_now() + (BUDGET_S - 20 - bs_elapsed());
    dv.lat_push = calloc(1, sizeof(double));
    dv.lat_pull = calloc(1, sizeof(double));
    double t0 = bs_now();
    drive(&dv);
    out->connect_s = bs_now() - t0;
    out->connect_errors = dv.errors;
    if (dv.errors)
        bs_progress("   connecting: %ld errors, first: %s", dv.errors, dv.first_error);
    dv.errors = 0;
    dv.first_error[0] = '\0';
    out->rss_idle_kb = 0;
    for (int k = 0; k < n_d; k++)
        out->rss_idle_kb += bs_proc_status(ds[k]->pid, "VmRSS");
    free(dv.lat_push);
    free(dv.lat_pull);

    /* The rounds. */
    dv.warmup = false;
    dv.push_only = push_only;
    out->push_only = push_only;
    out->pace_s = pace_s;
    double hp0 = 0, hl0 = 0, gc0 = 0, cpu_d0 = 0;
    for (int k = 0; k < n_d; k++) {
        hp0 += handler_sum(&hs[k], "push");
        hl0 += handler_sum(&hs[k], "pull");
        gc0 += bs_metric(&hs[k], "fieldsync_group_commits_total");
        cpu_d0 += bs_proc_sched_s(ds[k]->pid);
    }
    dv.visits = dv.pulled = 0;
    dv.up = dv.down = 0;
    dv.lat_push = calloc((size_t)n * (size_t)rounds, sizeof(double));
    dv.lat_pull = calloc((size_t)n * (size_t)rounds, sizeof(double));
    if (!dv.lat_push || !dv.lat_pull)
        bs_die("out of memory");
    prebuild_pushes(&dv, rounds);
    double cpu_b0 = rusage_cpu_s();
    t0 = bs_now();
    dv.pace_s = pace_s;
    for (int i = 0; i < n; i++) {
        devs[i].round = 0;
        devs[i].phase = 0;
        devs[i].is_waiting = false;
        /* Paced: first rounds spread evenly over one interval, in a shuffled order. */
        devs[i].due = t0 + pace_s * (double)((i * 7919) % n) / n;
    }
    dv.stop_new_rounds_at = t0 + (pace_s > 0                      ? (g_quick ? 4.0 : PACED_S)
                                  : g_quick && g_run_cap_s > 20.0 ? 20.0
                                                                  : g_run_cap_s);
    drive(&dv);
    out->wall_s = bs_now() - t0;
    out->bench_cpu = rusage_cpu_s() - cpu_b0;
    double hp1 = 0, hl1 = 0, gc1 = 0;
    out->daemon_cpu = -cpu_d0;
    out->hwm_kb = 0;
    for (int k = 0; k < n_d; k++) {
        out->daemon_cpu += bs_proc_sched_s(ds[k]->pid);
        out->hwm_kb += bs_proc_status(ds[k]->pid, "VmHWM");
        hp1 += handler_sum(&hs[k], "push");
        hl1 += handler_sum(&hs[k], "pull");
        gc1 += bs_metric(&hs[k], "fieldsync_group_commits_total");
    }
    out->devices = n;
    out->busy = dv.busy;
    snprintf(out->first_busy, sizeof(out->first_busy), "%s", dv.first_busy);
    out->push_handler_ms = (hp1 - hp0) / (double)(dv.n_push ? dv.n_push : 1) * 1e3;
    out->pull_handler_ms = (hl1 - hl0) / (double)(dv.n_pull ? dv.n_pull : 1) * 1e3;
    double commits = gc1 - gc0;
    out->per_commit = commits > 0 ? (double)(dv.n_push + dv.n_pull) / commits : 0;
    int min_round = rounds;
    for (int i = 0; i < n; i++)
        if (devs[i].round < min_round)
            min_round = devs[i].round;
    out->rounds_done = min_round;
    out->requests = dv.n_push + dv.n_pull;
    out->visits = dv.visits;
    out->pulled = dv.pulled;
    out->errors = dv.errors;
    out->abandoned = dv.abandoned;
    snprintf(out->first_error, sizeof(out->first_error), "%s", dv.first_error);
    out->up_per_req = (double)dv.up / (double)(out->requests ? out->requests : 1);
    out->down_per_req = (double)dv.down / (double)(out->requests ? out->requests : 1);
    double *all = malloc(sizeof(double) * (out->requests + 1));
    if (!all)
        bs_die("out of memory");
    memcpy(all, dv.lat_push, sizeof(double) * dv.n_push);
    memcpy(all + dv.n_push, dv.lat_pull, sizeof(double) * dv.n_pull);
    out->push_p50 = bs_pct(dv.lat_push, dv.n_push, 50) * 1e3;
    out->push_p99 = bs_pct(dv.lat_push, dv.n_push, 99) * 1e3;
    out->pull_p50 = bs_pct(dv.lat_pull, dv.n_pull, 50) * 1e3;
    out->pull_p99 = bs_pct(dv.lat_pull, dv.n_pull, 99) * 1e3;
    out->all_p50 = bs_pct(all, out->requests, 50) * 1e3;
    out->all_p99 = bs_pct(all, out->requests, 99) * 1e3;
    if (getenv("FSY_BENCH_AB")) {
        static const double at[] = {1, 10, 25, 50, 75, 90, 95, 99, 99.9, 100};
        fprintf(stderr, "   latency percentiles, ms:");
        for (size_t k = 0; k < sizeof(at) / sizeof(at[0]); k++)
            fprintf(stderr, " p%g %.0f", at[k], bs_pct(all, out->requests, at[k]) * 1e3);
        fprintf(stderr, "\n");
    }
    free(all);
    free(dv.lat_push);
    free(dv.lat_pull);
    for (int i = 0; i < n; i++) {
        curl_easy_cleanup(devs[i].c);
        devs[i].c = NULL;
        free_pushes(&devs[i]);
    }
    curl_multi_cleanup(dv.m);
    close(dv.ep);
    bs_http_close(&h);
    for (int k = 0; k < n_d; k++)
        bs_http_close(&hs[k]);
}

/* A data directory for n reps (REPS_PER_TERR per territory) in d (initialised, not
 * running): their users and enrolment codes, the devices enrolled and the customers
 * (CUST_PER_TERR per territory) loaded through a started daemon, which is stopped again.
 * devs and cust are filled in; a store that already has the users (a second data
 * directory on the same PostgreSQL database) is not what this is for. */
static void conc_prepare(bs_daemon *d, sim *devs, int n_max, bs_customer *cust)
{
    int n_terr = (n_max + REPS_PER_TERR - 1) / REPS_PER_TERR;
    char maxconn[16];
    snprintf(maxconn, sizeof(maxconn), "%d", n_max + 1024);
    bs_daemon_conf(d, "max_connections", maxconn);
    /* 1,000 handshakes at once take ~3 s of daemon CPU: more than 10 s on a busy machine. */
    bs_daemon_conf(d, "handshake_timeout_ms", "30000");
    /* A round of 1,000 devices can outlast the 60 s idle timeout of a pooled connection. */
    bs_daemon_conf(d, "idle_timeout_ms", "300000");

    bs_job *jobs = calloc((size_t)n_max + 1, sizeof(*jobs));
    char(*terr)[16] = calloc((size_t)n_terr, sizeof(*terr));
    if (!jobs || !terr)
        bs_die("out of memory");
    for (int t = 0; t < n_terr; t++)
        snprintf(terr[t], sizeof(terr[t]), "t%03d", t);
    for (int i = 0; i < n_max; i++) {
        sim *s = &devs[i];
        snprintf(s->user, sizeof(s->user), "r%04d", i);
        s->terr = i / REPS_PER_TERR;
        s->rng.s = 7777 + (uint64_t)i;
        bs_job j = {{"user-add", s->user, "--role", "rep", "--territory", terr[s->terr], NULL}, ""};
        jobs[i] = j;
    }
    bs_admin_run(d, jobs, n_max, 2);
    for (int i = 0; i < n_max; i++) {
        bs_job j = {{"enroll-code", devs[i].user, NULL}, ""};
        jobs[i] = j;
    }
    bs_job aj = {{"enroll-code", "admin", NULL}, ""};
    jobs[n_max] = aj;
    bs_admin_run(d, jobs, n_max + 1, 2);

    bs_progress("   enrolling %d devices, loading %d customers", n_max, n_terr * CUST_PER_TERR);
    bs_daemon_start(d);
    bs_http h;
    bs_http_open(&h, d);
    for (int i = 0; i < n_max; i++) {
        bs_enroll(&h, devs[i].user, jobs[i].out, devs[i].id, devs[i].token);
        char auth[128];
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", devs[i].token);
        sim *s = &devs[i];
        s->h_push = curl_slist_append(NULL, "Expect:");
        s->h_push = curl_slist_append(s->h_push, auth);
        s->h_push = curl_slist_append(s->h_push, "Content-Type: application/json");
        s->h_push = curl_slist_append(s->h_push, "Content-Encoding: gzip");
        s->h_pull = curl_slist_append(NULL, auth);
        /* What the real agent sends with every request (client/agent/client.c): the
         * daemon stores the queue report for the supervisors' sync-health view. */
        static const char *const agent[] = {"Fsy-App-Version: fieldsync/bench", "Fsy-Pending: 0",
                                            "Fsy-Parked: 0"};
        for (size_t k = 0; k < sizeof(agent) / sizeof(agent[0]); k++) {
            s->h_push = curl_slist_append(s->h_push, agent[k]);
            s->h_pull = curl_slist_append(s->h_pull, agent[k]);
        }
    }
    char admin_id[37], admin_token[65];
    bs_enroll(&h, "admin", jobs[n_max].out, admin_id, admin_token);
    /* Customers, CUST_PER_TERR per territory, pushed by an admin device in one batch. */
    bs_rng rng = {99};
    bs_buf b = {0}, f = {0};
    int64_t now = bs_wall_ms();
    bs_buf_printf(&b, "{\"schema\":%d,\"device\":\"%s\",\"changes\":[", FSY_SCHEMA_VERSION,
                  admin_id);
    for (int k = 0; k < n_terr * CUST_PER_TERR; k++) {
        char hlc[17];
        bs_uuid7(&rng, now, cust[k].id);
        bs_hlc_hex(now, (unsigned)k, hlc);
        f.len = 0;
        bs_gen_customer(&rng, &f, &cust[k], terr[k / CUST_PER_TERR], "");
        bs_buf_printf(
            &b, "%s{\"s\":%d,\"t\":\"customers\",\"id\":\"%s\",\"op\":\"c\",\"h\":\"%s\",\"f\":",
            k ? "," : "", k + 1, cust[k].id, hlc);
        bs_buf_add(&b, f.data, f.len);
        bs_buf_add(&b, "}", 1);
    }
    bs_buf_add(&b, "]}", 2);
    bs_resp res;
    bs_http_req(&h, "POST", "/v1/push", admin_token, b.data, b.len, false, &res);
    if (res.status != 200 ||
        count_str(res.body.data, "\"ok\":true") != (size_t)n_terr * CUST_PER_TERR)
        bs_die("loading customers: %ld %.300s", res.status, res.body.data);
    bs_resp_free(&res);
    bs_buf_free(&b);
    bs_buf_free(&f);
    bs_http_close(&h);
    bs_daemon_stop(d);
    free(jobs);
    free(terr);
}

static void conc_release(sim *devs, int n_max)
{
    for (int i = 0; i < n_max; i++) {
        curl_slist_free_all(devs[i].h_push);
        curl_slist_free_all(devs[i].h_pull);
        bs_buf_free(&devs[i].resp);
    }
}

static void conc_name(char *out, size_t n, const conc_result *r)
{
    if (r->pace_s > 0)
        snprintf(out, n, "%d (every %.1f s)", r->devices, r->pace_s);
    else
        snprintf(out, n, "%d%s", r->devices, r->push_only ? " (push only)" : "");
}

static void part_concurrent(const char *root, const int *runs, const int *rounds,
                            const bool *push_only, const double *pace, int n_runs)
{
    int n_max = 0;
    for (int i = 0; i < n_runs; i++)
        if (runs[i] > n_max)
            n_max = runs[i];
    int n_terr = (n_max + REPS_PER_TERR - 1) / REPS_PER_TERR;
    bs_daemon d;
    bs_progress("5. data dir, %d reps in %d territories, enrolment codes", n_max, n_terr);
    bs_daemon_init(&d, g_bin, root, "many");
    sim *devs = calloc((size_t)n_max, sizeof(*devs));
    bs_customer *cust = calloc((size_t)n_terr * CUST_PER_TERR, sizeof(*cust));
    if (!devs || !cust)
        bs_die("out of memory");
    conc_prepare(&d, devs, n_max, cust);

    conc_result *rs = calloc((size_t)n_runs, sizeof(*rs));
    if (!rs)
        bs_die("out of memory");
    for (int i = 0; i < n_runs; i++) {
        if (bs_elapsed() > BUDGET_S - 45) {
            bs_progress("5. %d devices: skipped, out of time", runs[i]);
            rs[i].skipped = true;
            rs[i].devices = runs[i];
            rs[i].push_only = push_only[i];
            rs[i].pace_s = pace[i];
            continue;
        }
        if (pace[i] > 0)
            bs_progress("5. %d devices, a round each every %g s for %g s (fresh daemon process)",
                        runs[i], pace[i], g_quick ? 4.0 : PACED_S);
        else
            bs_progress("5. %d devices, %d rounds%s (fresh daemon process)", runs[i], rounds[i],
                        push_only[i] ? ", pushes only" : "");
        bs_daemon_start(&d);
        bs_daemon *one[] = {&d};
        run_concurrent(one, 1, devs, runs[i], cust, rounds[i], push_only[i], pace[i], &rs[i]);
        bs_daemon_stop(&d);
        if (rs[i].errors)
            bs_progress("   %ld errors; first: %s", rs[i].errors, rs[i].first_error);
    }

    printf("\n5. concurrent devices, closed loop: each device pushes 1-3 new visits (gzip), then\n"
           "   pulls (limit 1000), round after round, on its own kept-alive TLS connection;\n"
           "   %d reps per territory, so a pull brings the visits of %d colleagues\n",
           REPS_PER_TERR, REPS_PER_TERR - 1);
    printf("%-18s %6s %6s %7s %7s %8s %8s %8s %8s %8s %8s %8s %8s %5s\n", "devices", "rounds",
           "reqs", "wall s", "req/s", "visits/s", "pulled/s", "push p50", "push p99", "pull p50",
           "pull p99", "all p50", "all p99", "errs");
    printf("%-18s %6s %6s %7s %7s %8s %8s %8s %8s %8s %8s %8s %8s\n", "", "", "", "", "", "", "",
           "ms", "ms", "ms", "ms", "ms", "ms");
    for (int i = 0; i < n_runs; i++) {
        conc_result *r = &rs[i];
        char name[64], p50[16] = "-", p99[16] = "-";
        conc_name(name, sizeof(name), r);
        if (r->skipped) {
            printf("%-18s skipped: out of time\n", name);
            continue;
        }
        if (!r->push_only) {
            snprintf(p50, sizeof(p50), "%.1f", r->pull_p50);
            snprintf(p99, sizeof(p99), "%.1f", r->pull_p99);
        }
        printf("%-18s %6d %6zu %7.2f %7.0f %8.0f %8.0f %8.1f %8.1f %8s %8s %8.1f %8.1f %5ld\n",
               name, r->rounds_done, r->requests, r->wall_s, r->requests / r->wall_s,
               r->visits / r->wall_s, r->pulled / r->wall_s, r->push_p50, r->push_p99, p50, p99,
               r->all_p50, r->all_p99, r->errors);
    }
    printf("\n%-18s %9s %7s %8s %8s %8s %8s %8s %8s %8s %8s %8s\n", "devices", "connect", "connect",
           "RSS idle", "RSS peak", "daemon", "bench", "handler", "handler", "reqs per", "wire up",
           "down");
    printf("%-18s %9s %7s %8s %8s %8s %8s %8s %8s %8s %8s %8s\n", "", "s", "errors", "MB", "MB",
           "CPU %", "CPU %", "push ms", "pull ms", "commit", "B/req", "B/req");
    for (int i = 0; i < n_runs; i++) {
        conc_result *r = &rs[i];
        char name[64], pull_ms[16] = "-";
        conc_name(name, sizeof(name), r);
        if (r->skipped)
            continue;
        if (!r->push_only)
            snprintf(pull_ms, sizeof(pull_ms), "%.2f", r->pull_handler_ms);
        printf("%-18s %9.2f %7ld %8.1f %8.1f %8.0f %8.0f %8.2f %8s %8.1f %8.0f %8.0f\n", name,
               r->connect_s, r->connect_errors, r->rss_idle_kb / 1024.0, r->hwm_kb / 1024.0,
               r->daemon_cpu / r->wall_s * 100, r->bench_cpu / r->wall_s * 100, r->push_handler_ms,
               pull_ms, r->per_commit, r->up_per_req, r->down_per_req);
    }
    for (int i = 0; i < n_runs; i++)
        if (rs[i].abandoned)
            printf("%d devices: %ld requests still open at the time budget were abandoned\n",
                   rs[i].devices, rs[i].abandoned);
    for (int i = 0; i < n_runs; i++)
        if (rs[i].devices >= 1000 && !rs[i].push_only && !rs[i].skipped) {
            char name[64];
            conc_name(name, sizeof(name), &rs[i]);
            printf("targets at %s: p99 < 250 ms: %.1f ms (%.1fx the target); daemon RSS "
                   "< 64 MB: %.1f MB (%.2fx)\n",
                   name, rs[i].all_p99, rs[i].all_p99 / 250, rs[i].hwm_kb / 1024.0,
                   rs[i].hwm_kb / 1024.0 / 64);
        }
    printf(
        "connect: every device's first request (TLS handshake + a pull), all at once; RSS idle:\n"
        "the daemon right after; RSS peak: VmHWM over the run (a fresh daemon process per row);\n"
        "handler: the daemon's own time per request (/metrics; no TLS, no gzip); daemon and\n"
        "bench CPU: share of one core during the rounds. Rows \"every N s\": open loop, each\n"
        "device starts a round (push, then pull) every N s on a schedule, whatever the\n"
        "daemon's pace; a push's latency counts from its scheduled start.\n");

    conc_release(devs, n_max);
    free(rs);
    free(devs);
    free(cust);
}

/* ====================================================================== */
/* --scaleout: one daemon on SQLite, one on PostgreSQL, two on PostgreSQL  */
/* ====================================================================== */

#define SO_BUDGET_S 175 /* the whole --scaleout run */

static char g_pg_dir[800]; /* the throwaway server's state (pg-throwaway.sh), "" if none */

/* A small text file, malloc'd and NUL-terminated; NULL if unreadable. */
static char *so_read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *t = calloc(1, 8192);
    size_t n = t ? fread(t, 1, 8191, f) : 0;
    fclose(f);
    if (t)
        t[n] = '\0';
    return t;
}

static void so_pg_stop(void)
{
    if (!g_pg_dir[0])
        return;
    char *const argv[] = {(char *)g_pg_script, "stop", g_pg_dir, NULL};
    pid_t pid = bs_spawn(argv, -1, NULL);
    int st;
    if (!bs_wait(pid, 60000, &st))
        fprintf(stderr, "fsy_bench_syncd: pg-throwaway.sh stop %s did not finish\n", g_pg_dir);
    bs_forget(pid);
    g_pg_dir[0] = '\0';
}

/* Start a throwaway PostgreSQL (tests/support/pg-throwaway.sh) and turn durability back
 * on (the script turns fsync off for the tests; the SQLite rows fsync). Fills conninfo,
 * or why not in why and returns false. */
static bool so_pg_start(const char *root, char *conninfo, size_t n, char *why, size_t why_n)
{
    char err[900], *text;
    snprintf(g_pg_dir, sizeof(g_pg_dir), "%s/pg", root);
    snprintf(err, sizeof(err), "%s/pg-throwaway.log", root);
    char *const argv[] = {(char *)g_pg_script, "start", g_pg_dir, NULL};
    pid_t pid = bs_spawn(argv, -1, err);
    int st = -1;
    if (!bs_wait(pid, 90000, &st)) {
        kill(pid, SIGKILL);
        bs_wait(pid, 5000, &st);
        st = -1;
    }
    bs_forget(pid);
    if (st != 0) {
        text = so_read_text(err);
        const char *skip = text ? strstr(text, "SKIPPED: ") : NULL;
        snprintf(why, why_n, "%s%s", st == 77 ? "" : "pg-throwaway.sh start failed: ",
                 skip            ? skip + 9
                 : text && *text ? text
                                 : "(no message)");
        why[strcspn(why, "\n")] = '\0';
        free(text);
        g_pg_dir[0] = '\0';
        return false;
    }
    atexit(so_pg_stop);
    snprintf(err, sizeof(err), "%s/conninfo", g_pg_dir);
    text = so_read_text(err);
    if (!text)
        bs_die("no %s after pg-throwaway.sh start", err);
    text[strcspn(text, "\r\n")] = '\0';
    snprintf(conninfo, n, "%s", text);
    free(text);
    char admin[1100];
    snprintf(admin, sizeof(admin), "%s user=postgres dbname=postgres", conninfo);
    PGconn *c = PQconnectdb(admin);
    if (PQstatus(c) != CONNECTION_OK)
        bs_die("connecting to %s: %s", admin, PQerrorMessage(c));
    const char *sql[] = {"ALTER SYSTEM SET fsync = on", "ALTER SYSTEM SET full_page_writes = on",
                         "SELECT pg_reload_conf()"};
    for (size_t i = 0; i < sizeof(sql) / sizeof(sql[0]); i++) {
        PGresult *r = PQexec(c, sql[i]);
        if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
            bs_die("%s: %s", sql[i], PQresultErrorMessage(r));
        PQclear(r);
    }
    PQfinish(c);
    return true;
}

/* A data directory whose store is the PostgreSQL database of conninfo. */
static void so_init_pg(bs_daemon *d, const char *root, const char *name, const char *conninfo)
{
    memset(d, 0, sizeof(*d));
    snprintf(d->bin, sizeof(d->bin), "%s", g_bin);
    snprintf(d->dir, sizeof(d->dir), "%s/%s", root, name);
    snprintf(d->log, sizeof(d->log), "%s/%s.log", root, name);
    snprintf(d->ca, sizeof(d->ca), "%s/ca.crt", d->dir);
    bs_job init = {{"init", "--postgres", conninfo, NULL}, ""};
    bs_admin_run(d, &init, 1, 1);
    bs_daemon_conf(d, "port", "0");
}

/* A second daemon on the same store: a copy of a's data directory (same CA, certificate,
 * config), as docs/operations.md sets up daemons behind a load balancer. */
static void so_copy_daemon(bs_daemon *b, const bs_daemon *a, const char *name)
{
    *b = *a;
    b->pid = 0;
    b->port = 0;
    snprintf(b->dir, sizeof(b->dir), "%.690s2", a->dir);
    snprintf(b->log, sizeof(b->log), "%.690s-%.40s.log", a->dir, name);
    snprintf(b->ca, sizeof(b->ca), "%s/ca.crt", b->dir);
    char *const argv[] = {"/bin/cp", "-a", "--", (char *)a->dir, b->dir, NULL};
    pid_t pid = bs_spawn(argv, -1, NULL);
    int st;
    if (!bs_wait(pid, 30000, &st) || st != 0)
        bs_die("cp -a %s %s failed", a->dir, b->dir);
    bs_forget(pid);
    char port[900];
    snprintf(port, sizeof(port), "%s/fieldsyncd.port", b->dir);
    remove(port);
}

typedef struct so_row {
    const char *name;
    int devices;
    bool skipped;
    conc_result r;
} so_row;

static void so_run(so_row *row, bs_daemon *const *ds, int n_d, sim *devs, const bs_customer *cust)
{
    if (bs_elapsed() > SO_BUDGET_S - 25) {
        bs_progress("%s, %d devices: skipped, out of time", row->name, row->devices);
        row->skipped = true;
        return;
    }
    bs_progress("%s, %d devices (fresh daemon process%s)", row->name, row->devices,
                n_d > 1 ? "es" : "");
    for (int k = 0; k < n_d; k++)
        bs_daemon_start(ds[k]);
    run_concurrent(ds, n_d, devs, row->devices, cust, 1000000, false, 0, &row->r);
    for (int k = 0; k < n_d; k++)
        bs_daemon_stop(ds[k]);
    if (row->r.errors)
        bs_progress("   %ld errors; first: %s", row->r.errors, row->r.first_error);
    if (row->r.busy)
        bs_progress("   %ld answers 503 (retried); first: %s", row->r.busy, row->r.first_busy);
}

static double so_ratio(double a, double b)
{
    return b > 0 ? a / b : 0;
}

static void part_scaleout(const char *root)
{
    int sizes[] = {100, 300};
    int n_sizes = g_quick ? 1 : 2;
    int n_max = sizes[n_sizes - 1];
    int n_terr = (n_max + REPS_PER_TERR - 1) / REPS_PER_TERR;
    g_run_cap_s = g_quick ? 5.0 : 10.0;
    sim *devs_lite = calloc((size_t)n_max, sizeof(sim)),
        *devs_pg = calloc((size_t)n_max, sizeof(sim));
    bs_customer *cust_lite = calloc((size_t)n_terr * CUST_PER_TERR, sizeof(bs_customer));
    bs_customer *cust_pg = calloc((size_t)n_terr * CUST_PER_TERR, sizeof(bs_customer));
    so_row rows[3][2];
    memset(rows, 0, sizeof(rows));
    const char *names[] = {"(a) 1 daemon, SQLite", "(b) 1 daemon, PostgreSQL",
                           "(c) 2 daemons, one PostgreSQL"};
    if (!devs_lite || !devs_pg || !cust_lite || !cust_pg)
        bs_die("out of memory");
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < n_sizes; i++) {
            rows[c][i].name = names[c];
            rows[c][i].devices = sizes[i];
        }

    /* Both stores first, then (a), (b), (c) back to back for each size, so that the
     * rows compared run minutes apart at most on a machine whose load drifts. (b) and
     * (c) share one database; (c)'s second daemon is a copy of (b)'s data directory. */
    bs_daemon lite;
    bs_progress("scale-out (a): SQLite data dir, %d reps in %d territories", n_max, n_terr);
    bs_daemon_init(&lite, g_bin, root, "so-sqlite");
    conc_prepare(&lite, devs_lite, n_max, cust_lite);
    char conninfo[1024] = "", why[600] = "";
    bool has_pg = so_pg_start(root, conninfo, sizeof(conninfo), why, sizeof(why));
    bs_daemon pg1, pg2;
    if (has_pg) {
        bs_progress("scale-out (b), (c): PostgreSQL at %s, %d reps", conninfo, n_max);
        so_init_pg(&pg1, root, "so-pg", conninfo);
        conc_prepare(&pg1, devs_pg, n_max, cust_pg);
        so_copy_daemon(&pg2, &pg1, "second");
    } else {
        bs_progress("scale-out: no PostgreSQL rows: %s", why);
    }
    bs_daemon *one_lite[] = {&lite}, *one_pg[] = {&pg1}, *two_pg[] = {&pg1, &pg2};
    for (int i = 0; i < n_sizes; i++) {
        so_run(&rows[0][i], one_lite, 1, devs_lite, cust_lite);
        if (!has_pg)
            continue;
        so_run(&rows[1][i], one_pg, 1, devs_pg, cust_pg);
        so_run(&rows[2][i], two_pg, 2, devs_pg, cust_pg);
    }
    so_pg_stop();

    printf("\nscale-out: concurrent devices, closed loop as in part 5 (each device pushes 1-3 new\n"
           "visits, gzip, then pulls after its cursor, on its own kept-alive TLS connection; %d\n"
           "reps per territory), %.0f s of rounds per row on fresh daemon processes. (c) is two\n"
           "fieldsyncd processes on (b)'s database, devices split between them (device i on\n"
           "daemon i %% 2, as a TCP load balancer spreads connections). SQLite: WAL,\n"
           "synchronous=FULL; PostgreSQL 15 throwaway server (tests/support/pg-throwaway.sh)\n"
           "with fsync and full_page_writes turned back on, synchronous_commit=on, same disk.\n",
           REPS_PER_TERR, g_run_cap_s);
    printf("%-30s %7s %6s %6s %7s %9s %9s %7s %7s %7s %7s %6s %6s %5s %4s\n", "", "devices", "wall",
           "reqs", "req/s", "visits/s", "visits/s", "push", "push", "pull", "pull", "daemon",
           "reqs/", "503", "errs");
    printf("%-30s %7s %6s %6s %7s %9s %9s %7s %7s %7s %7s %6s %6s %5s\n", "", "", "s", "", "",
           "pushed", "pulled", "p50 ms", "p99 ms", "p50 ms", "p99 ms", "CPU %", "commit", "retry");
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < n_sizes; i++) {
            so_row *row = &rows[c][i];
            conc_result *r = &row->r;
            if (c > 0 && !has_pg) {
                printf("%-30s %7d skipped: %s\n", row->name, row->devices, why);
                continue;
            }
            if (row->skipped || r->wall_s <= 0) {
                printf("%-30s %7d skipped: out of time\n", row->name, row->devices);
                continue;
            }
            char per_commit[16] = "-";
            if (r->per_commit > 0)
                snprintf(per_commit, sizeof(per_commit), "%.1f", r->per_commit);
            printf("%-30s %7d %6.1f %6zu %7.0f %9.0f %9.0f %7.1f %7.1f %7.1f %7.1f %6.0f %6s %5ld "
                   "%4ld\n",
                   row->name, row->devices, r->wall_s, r->requests, r->requests / r->wall_s,
                   r->visits / r->wall_s, r->pulled / r->wall_s, r->push_p50, r->push_p99,
                   r->pull_p50, r->pull_p99, r->daemon_cpu / r->wall_s * 100, per_commit, r->busy,
                   r->errors);
        }
    printf("(daemon CPU %%: share of one core, summed over the daemons; PostgreSQL's own CPU is "
           "not in it.\n reqs/commit: requests sharing one group commit, \"-\": the store has no "
           "group commit)\n");
    if (has_pg) {
        printf("\n%-34s %9s %9s %7s %9s %9s\n", "ratios", "pushed", "pulled", "req/s", "push p50",
               "all p99");
        for (int i = 0; i < n_sizes; i++) {
            const conc_result *a = &rows[0][i].r, *b = &rows[1][i].r, *c = &rows[2][i].r;
            if (a->wall_s <= 0 || b->wall_s <= 0 || c->wall_s <= 0)
                continue;
            char name[64];
            snprintf(name, sizeof(name), "(b)/(a) at %d devices", sizes[i]);
            printf("%-34s %8.2fx %8.2fx %6.2fx %8.2fx %8.2fx\n", name,
                   so_ratio(b->visits / b->wall_s, a->visits / a->wall_s),
                   so_ratio(b->pulled / b->wall_s, a->pulled / a->wall_s),
                   so_ratio(b->requests / b->wall_s, a->requests / a->wall_s),
                   so_ratio(b->push_p50, a->push_p50), so_ratio(b->all_p99, a->all_p99));
            snprintf(name, sizeof(name), "(c)/(b) at %d devices", sizes[i]);
            printf("%-34s %8.2fx %8.2fx %6.2fx %8.2fx %8.2fx\n", name,
                   so_ratio(c->visits / c->wall_s, b->visits / b->wall_s),
                   so_ratio(c->pulled / c->wall_s, b->pulled / b->wall_s),
                   so_ratio(c->requests / c->wall_s, b->requests / b->wall_s),
                   so_ratio(c->push_p50, b->push_p50), so_ratio(c->all_p99, b->all_p99));
        }
        printf("(latency ratios below 1 are better)\n");
    }
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    char note[200];
    bs_machine_note(note, sizeof(note));
    printf(
        "\ntarget (issue 8): (c) at least 1.5x (b) in visits pushed/s for concurrent devices, on "
        "a\nmachine with enough cores: two daemons, the PostgreSQL server and the bench's own "
        "client\nload each want at least a core, so 6 or more. This machine: %ld cores; %s.\n",
        cores, note);
    if (has_pg)
        for (int i = 0; i < n_sizes; i++) {
            const conc_result *b = &rows[1][i].r, *c = &rows[2][i].r;
            if (b->wall_s <= 0 || c->wall_s <= 0)
                continue;
            double x = so_ratio(c->visits / c->wall_s, b->visits / b->wall_s);
            printf("at %d devices: (c)/(b) = %.2fx: %s%s\n", sizes[i], x,
                   x >= 1.5 ? "met" : "not met",
                   x < 1.5 && cores < 6 ? " (too few cores here for the target to apply)" : "");
        }
    conc_release(devs_lite, n_max);
    conc_release(devs_pg, n_max);
    free(devs_lite);
    free(devs_pg);
    free(cust_lite);
    free(cust_pg);
}

int main(int argc, char **argv)
{
    const char *parent = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0)
            g_quick = true;
        else if (strcmp(argv[i], "--single") == 0)
            g_concurrent = false;
        else if (strcmp(argv[i], "--concurrent") == 0)
            g_single = false;
        else if (strcmp(argv[i], "--scaleout") == 0)
            g_scaleout = true;
        else if (argv[i][0] == '-') {
            fprintf(stderr, "usage: fsy_bench_syncd [--quick] [--single | --concurrent | "
                            "--scaleout] [directory for the temp files]\n");
            return 2;
        } else
            parent = argv[i];
    }
    if (getenv("FSY_BENCH_FIELDSYNCD"))
        g_bin = getenv("FSY_BENCH_FIELDSYNCD");
    if (getenv("FSY_BENCH_PG_SCRIPT"))
        g_pg_script = getenv("FSY_BENCH_PG_SCRIPT");
    bs_init("fsy_bench_syncd", g_scaleout ? SO_BUDGET_S + 20 : BUDGET_S);
    const char *root = bs_temp_root("syncd", parent);
    char fs[300];
    bs_describe_fs(root, fs, sizeof(fs));
    printf("fieldsync %s daemon benchmark: fieldsyncd over TLS 1.2 on 127.0.0.1, %s\nin %s (%s), "
           "%ld CPUs%s\n",
           fsy_version(),
           g_scaleout ? "SQLite and PostgreSQL stores" : "SQLite store (WAL, synchronous=FULL)",
           root, fs, sysconf(_SC_NPROCESSORS_ONLN), g_quick ? ", --quick" : "");
    char note[200];
    bs_machine_note(note, sizeof(note));
    printf("at start: %s\n", note);
    if (g_scaleout) {
        part_scaleout(root);
        bs_machine_note(note, sizeof(note));
        printf("at end: %s\n", note);
        printf("total %.1f s\n", bs_elapsed());
        return 0;
    }

    if (g_single)
        part_single(root, g_quick ? 5000 : 20000);
    /* Closed loop (each device syncs again as soon as it has an answer: what the
     * daemon sustains), then open loop at a fixed pace (what a device waits when 1,000
     * of them sync every second or two: hundreds of times what reps do). */
    int runs[] = {1, 100, 1000, 1000, 1000, 1000};
    int rounds[] = {100, g_quick ? 5 : 20, g_quick ? 1 : 10, g_quick ? 1 : 5, 1000000, 1000000};
    bool push_only[] = {false, false, false, true, false, false};
    double pace[] = {0, 0, 0, 0, 2.0, 1.0};
    if (getenv("FSY_BENCH_AB")) {
        /* A/B runs: three closed-loop rows of 1,000 devices on one growing store. */
        int r = atoi(getenv("FSY_BENCH_AB")) > 0 ? atoi(getenv("FSY_BENCH_AB")) : 20;
        int ab_runs[] = {1000, 1000, 1000};
        int ab_rounds[] = {r, r, r};
        bool ab_push[] = {false, false, false};
        double ab_pace[] = {0, 0, 0};
        part_concurrent(root, ab_runs, ab_rounds, ab_push, ab_pace, 3);
    } else if (g_concurrent)
        part_concurrent(root, runs, rounds, push_only, pace, 6);
    bs_machine_note(note, sizeof(note));
    printf("at end: %s\n", note);
    printf("total %.1f s\n", bs_elapsed());
    return 0;
}
