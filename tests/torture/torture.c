/*
 * torture.c — seeded convergence torture of the real fieldsyncd over TLS.
 *
 * N devices (default 8: a supervisor, reps in territories north and south, one
 * rep with two tablets) make random offline edits on every table, delete rows,
 * race on the same fields, move customers between territories (the supervisor)
 * and sync in random order with the rep client's real round (fsy_client_sync
 * over the libcurl transport). Every request the client makes passes through
 * __wrap_fsy_transport_request (linked with -Wl,--wrap), which
 *   - logs every acknowledgement the device received (the no-loss check),
 *   - checks every pulled batch before the device applies it: no change for a
 *     row outside the device's scope, judged on the store at that moment
 *     (DESIGN §8.4; the rule of syncd/sync/push.c fsy_sync_visible),
 *   - replays push requests at the HTTP level (the same bytes again at once, or
 *     an old batch later) and requires the identical acknowledgement and an
 *     unchanged change log (DESIGN §8.3),
 *   - sends the device's own (injected) clock in Fsy-Device-Time,
 *   - in kill mode SIGKILLs the daemon at a random moment while a push (or
 *     sometimes a pull) is in flight, then restarts it.
 * At the end faults stop, every device syncs until quiet, and:
 *   I1 every replica equals the server's view of its scope (DESIGN §8.1),
 *   I2 every acknowledged change is in the server's change log with the
 *      version the ack named, or in a conflict record (DESIGN §8.2),
 *   I3 after each daemon restart every device's high-water mark covers all
 *      changes it was told were applied (nothing acknowledged is lost),
 *   I4 exactly once: every client_seq of a device acknowledged ok names one log
 *      version, and the log holds exactly one entry per such change,
 *   I5 no conflict record twice (same field, same two edits).
 * twodaemons mode (PostgreSQL, the "pg" fixture; exit 77 without it): two fieldsyncd
 * processes on one database; every request of every sync goes to one of them at
 * random (a push and its pull, a replayed push, a resent batch can all land on
 * different daemons), and now and then two devices sync at the same moment on two
 * threads, each pushing through a different daemon, after both edited the same field
 * (the race must leave exactly one conflict record holding both values).
 * twodaemons-kill also SIGKILLs the daemon a push goes to and sends the push again
 * through the other daemon.
 *
 * Usage: torture FIELDSYNCD MODE
 *        (MODE: plain, proxy, kill, skew, twodaemons, twodaemons-kill)
 * Env: FSY_TEST_SEED (replay; the operation stream is exact in plain and skew
 * mode, proxy and kill faults and the two-daemon pairs also depend on timing),
 * FSY_TORTURE_OPS (operations; default 400, twodaemons 1200, twodaemons-kill 600),
 * FSY_E2E_PG (the two-daemon modes: PostgreSQL), FSY_TORTURE_DEVICES (default 8),
 * FSY_TORTURE_FAULT_RATE (proxy: percent of connections with a fault, default 30).
 */
#include "e2e_support.h"
#include "client.h"
#include "fault_proxy.h"

#include <libpq-fe.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>

#define MAX_DEV  16
#define MAX_IDS  4096
#define N_TABLES 5

enum { MODE_PLAIN, MODE_PROXY, MODE_KILL, MODE_SKEW, MODE_TWO, MODE_TWOKILL };

static const char *const TABLES[N_TABLES] = {"customers", "contacts", "visits", "notes", "reviews"};

typedef struct tdev {
    e2e_device e;
    bool is_supervisor;
    char territory[16];
    int64_t skew_ms; /* this device's wall clock minus the real one */
    sqlite3 *ro;     /* read connection on the replica, to pick edit targets */
    char *old_push;  /* an earlier push body and its acknowledgement, for replays */
    char *old_ack;
    int64_t max_acked_s; /* highest client_seq acknowledged to it */
} tdev;

/* One acknowledged change: what the device sent and what the server answered. */
typedef struct ackrec {
    int dev;
    cJSON *change; /* {"s","t","id","op","f",...} */
    cJSON *result; /* {"s","ok","v","c"?} */
} ackrec;

static struct {
    int mode;
    e2e_daemon *d, *d2; /* d2: the second daemon (twodaemons) */
    fault_proxy *proxy;
    tdev dev[MAX_DEV];
    int n_dev;
    uint64_t rng, fault_rng;
    pthread_mutex_t mu; /* the bookkeeping below while two devices sync at once */
    bool in_pair;       /* two devices sync at this moment (twodaemons) */
    int64_t pair_q0;    /* then: the log's highest version before they started */
    PGconn *pg;         /* read connection on the PostgreSQL store */
    ackrec *acks;
    size_t n_acks, cap_acks;
    bool faults_on;
    sqlite3 *store; /* read connection on the daemon's store */
    /* figures */
    long ops, edits, syncs, syncs_failed, pushes, pulls, pulled_changes, http_replays, old_replays,
        gone_received, snapshots_received, acks_lost, kills, kills_in_flight, kills_committed,
        restarts, isolation_checked, isolation_racy, busy, pairs, races, via[2], retried_other;
} G;

static bool is_two(void)
{
    return G.mode == MODE_TWO || G.mode == MODE_TWOKILL;
}

/* The sync running on this thread: its device, and in twodaemons mode a transport to
 * each daemon, the daemon its pushes go to (-1: random) and the random stream the
 * wrapper draws from (the main stream unless two devices sync at once). */
static _Thread_local struct {
    tdev *dv;
    fsy_transport *tr[2];
    int home;
    uint64_t rng;
    bool has_own_rng;
} T = {NULL, {NULL, NULL}, -1, 0, false};

static int rnd(int n)
{
    return (int)(fsy_test_rand(&G.rng) % (uint64_t)n);
}

/* The wrapper's draws: the thread's own stream while a pair syncs. */
static int wrnd(int n)
{
    return (int)(fsy_test_rand(T.has_own_rng ? &T.rng : &G.rng) % (uint64_t)n);
}

static int64_t real_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t device_clock(void *ud)
{
    return real_ms() + ((tdev *)ud)->skew_ms;
}

static const char *jstr(const cJSON *o, const char *k)
{
    return e2e_jstr(o, k);
}

/* ---- the store: scope as the daemon judges it ---------------------------- */

static sqlite3 *store_db(void)
{
    if (!G.store) {
        if (sqlite3_open_v2(G.d->store, &G.store, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
            FSY_FAIL("cannot open the store %s", G.d->store);
        sqlite3_busy_timeout(G.store, 10000);
    }
    return G.store;
}

static void store_close(void)
{
    sqlite3_close(G.store);
    G.store = NULL;
    PQfinish(G.pg);
    G.pg = NULL;
}

/* A query on the store, SQLite or PostgreSQL: $1.. placeholders (both understand them),
 * parameters as text; every value comes back as text (NULL for SQL NULL). */
typedef struct srows {
    int n, cols;
    char **v; /* n * cols */
} srows;

static srows sq(const char *sql, int n_params, const char *const *params)
{
    srows out = {0, 0, NULL};
    size_t cap = 0;
    if (e2e_is_pg(G.d)) {
        if (G.pg && PQstatus(G.pg) != CONNECTION_OK) {
            PQfinish(G.pg);
            G.pg = NULL;
        }
        if (!G.pg) {
            G.pg = PQconnectdb(G.d->pg);
            if (PQstatus(G.pg) != CONNECTION_OK)
                FSY_FAIL("cannot connect to %s: %s", G.d->pg, PQerrorMessage(G.pg));
        }
        PGresult *r = PQexecParams(G.pg, sql, n_params, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK)
            FSY_FAIL("%s: %s", sql, PQresultErrorMessage(r));
        out.n = PQntuples(r);
        out.cols = PQnfields(r);
        out.v = calloc((size_t)out.n * (size_t)out.cols + 1, sizeof(char *));
        if (!out.v)
            FSY_FAIL("out of memory");
        for (int i = 0; i < out.n; i++)
            for (int c = 0; c < out.cols; c++)
                out.v[i * out.cols + c] = PQgetisnull(r, i, c) ? NULL : strdup(PQgetvalue(r, i, c));
        PQclear(r);
        return out;
    }
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(store_db(), sql, -1, &st, NULL) != SQLITE_OK)
        FSY_FAIL("%s: %s", sql, sqlite3_errmsg(G.store));
    for (int i = 0; i < n_params; i++)
        sqlite3_bind_text(st, i + 1, params[i], -1, SQLITE_TRANSIENT);
    out.cols = sqlite3_column_count(st);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if ((size_t)(out.n + 1) * (size_t)out.cols >= cap) {
            cap = cap ? cap * 2 : 64 + (size_t)out.cols;
            out.v = realloc(out.v, cap * sizeof(char *));
            if (!out.v)
                FSY_FAIL("out of memory");
        }
        for (int c = 0; c < out.cols; c++) {
            const char *t = (const char *)sqlite3_column_text(st, c);
            out.v[out.n * out.cols + c] = t ? strdup(t) : NULL;
        }
        out.n++;
    }
    if (rc != SQLITE_DONE)
        FSY_FAIL("%s: %s", sql, sqlite3_errmsg(G.store));
    sqlite3_finalize(st);
    return out;
}

static const char *sv(const srows *r, int row, int col)
{
    return r->v[row * r->cols + col];
}

static int64_t sv_int(const srows *r, int row, int col)
{
    const char *t = sv(r, row, col);
    return t ? strtoll(t, NULL, 10) : 0;
}

static void sq_free(srows *r)
{
    for (int i = 0; i < r->n * r->cols; i++)
        free(r->v[i]);
    free(r->v);
    r->v = NULL;
    r->n = 0;
}

/* One integer: the first column of the first row (0 when there is none). */
static int64_t sq_int(const char *sql, int n_params, const char *const *params)
{
    srows r = sq(sql, n_params, params);
    int64_t v = r.n ? sv_int(&r, 0, 0) : 0;
    sq_free(&r);
    return v;
}

static int table_index(const char *t)
{
    for (int i = 0; i < N_TABLES; i++)
        if (t && strcmp(TABLES[i], t) == 0)
            return i;
    FSY_FAIL("unknown table %s", t ? t : "(null)");
}

/* fsy_sync_visible (syncd/sync/push.c) for our users: supervisors see all; a rep sees
 * own rows and the rows of their territory, but notes of info_level 4 only when own. */
static bool visible(const tdev *dv, int tbl, const char *territory, const char *owner,
                    int info_level)
{
    if (dv->is_supervisor)
        return true;
    bool own = owner && owner[0] && strcmp(owner, dv->e.user) == 0;
    if (tbl == 3 && info_level >= 4 && !own)
        return false;
    return own || (territory && strcmp(territory, dv->territory) == 0);
}

/* Whether the store has the row and this device may see it now; *exists says if it exists. */
static bool row_visible_now(const tdev *dv, int tbl, const char *id, bool *exists)
{
    char t[8];
    snprintf(t, sizeof(t), "%d", tbl);
    const char *p[] = {t, id};
    srows r = sq("SELECT territory, owner, info_level FROM rows WHERE tbl = $1 AND id = $2", 2, p);
    bool vis = false;
    *exists = r.n > 0;
    if (r.n)
        vis = visible(dv, tbl, sv(&r, 0, 0), sv(&r, 0, 1), (int)sv_int(&r, 0, 2));
    sq_free(&r);
    return vis;
}

/* While two devices sync at once, the other one may move a row out of this device's
 * scope between the daemon's answer and this check: did a scope change of the row (or
 * of its customer) commit since the pair started? */
static bool scope_moved_during_pair(int tbl, const char *id)
{
    if (!G.in_pair)
        return false;
    char t[8], q0[24];
    snprintf(t, sizeof(t), "%d", tbl);
    snprintf(q0, sizeof(q0), "%lld", (long long)G.pair_q0);
    const char *p[] = {q0, t, id};
    return sq_int("SELECT count(*) FROM changes WHERE q > $1 AND kind = 's' AND"
                  " ((tbl = $2 AND id = $3) OR (tbl = 0 AND id IN"
                  " (SELECT customer_id FROM rows WHERE tbl = $2 AND id = $3)))",
                  3, p) > 0;
}

/* ---- the wrapped transport ------------------------------------------------ */

int __real_fsy_transport_request(fsy_transport *t, const char *method, const char *path,
                                 const char *bearer, const char *body, size_t len,
                                 const char *const *extra_headers, fsy_transport_result *res);
int __wrap_fsy_transport_request(fsy_transport *t, const char *method, const char *path,
                                 const char *bearer, const char *body, size_t len,
                                 const char *const *extra_headers, fsy_transport_result *res);

static void log_acks(tdev *dv, const char *body, const char *ack)
{
    cJSON *b = cJSON_Parse(body), *a = cJSON_Parse(ack), *ch, *res;
    if (!b || !a)
        FSY_FAIL("%s: unparsable push or acknowledgement: %.300s", dv->e.user, ack);
    cJSON_ArrayForEach(res, cJSON_GetObjectItemCaseSensitive(a, "results"))
    {
        double s = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(res, "s"));
        cJSON *match = NULL;
        cJSON_ArrayForEach(ch, cJSON_GetObjectItemCaseSensitive(b, "changes"))
        {
            if (cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(ch, "s")) == s)
                match = ch;
        }
        if (!match)
            FSY_FAIL("%s: acknowledgement names s=%.0f that the batch does not have", dv->e.user,
                     s);
        if (G.n_acks == G.cap_acks) {
            G.cap_acks = G.cap_acks ? G.cap_acks * 2 : 1024;
            G.acks = realloc(G.acks, G.cap_acks * sizeof(*G.acks));
            if (!G.acks)
                FSY_FAIL("out of memory");
        }
        ackrec *r = &G.acks[G.n_acks++];
        r->dev = (int)(dv - G.dev);
        r->change = cJSON_Duplicate(match, true);
        r->result = cJSON_Duplicate(res, true);
        if ((int64_t)s > dv->max_acked_s)
            dv->max_acked_s = (int64_t)s;
    }
    cJSON_Delete(a);
    cJSON_Delete(b);
}

/* DESIGN §8.4: every change in a pulled batch is for a row the device may see now. */
static void check_pull_batch(tdev *dv, const char *body)
{
    cJSON *doc = cJSON_Parse(body), *ch;
    if (!doc)
        FSY_FAIL("%s: unparsable pull batch", dv->e.user);
    cJSON_ArrayForEach(ch, cJSON_GetObjectItemCaseSensitive(doc, "changes"))
    {
        G.pulled_changes++;
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ch, "gone"))) {
            G.gone_received++;
            continue;
        }
        if (cJSON_GetObjectItemCaseSensitive(ch, "vs"))
            G.snapshots_received++;
        bool exists;
        const char *t = jstr(ch, "t"), *id = jstr(ch, "id");
        G.isolation_checked++;
        if (!row_visible_now(dv, table_index(t), id, &exists) && exists &&
            scope_moved_during_pair(table_index(t), id)) {
            G.isolation_racy++;
            continue;
        }
        if (!row_visible_now(dv, table_index(t), id, &exists))
            FSY_FAIL("isolation: %s (%s) received %s %s, which is %s its scope: %.400s", dv->e.user,
                     dv->is_supervisor ? "supervisor" : dv->territory, t, id,
                     exists ? "outside" : "not in the store, let alone in", body);
    }
    cJSON_Delete(doc);
}

typedef struct killer {
    pid_t pid;
    int delay_us;
} killer;

static void *killer_main(void *ud)
{
    killer *k = ud;
    struct timespec ts = {k->delay_us / 1000000, (long)(k->delay_us % 1000000) * 1000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
    kill(k->pid, SIGKILL);
    return NULL;
}

static void restart_daemon_of(e2e_daemon *d)
{
    e2e_stop(d, SIGKILL, 10000); /* reaps it; it is already dead */
    if (!e2e_is_pg(d))
        store_close();
    e2e_start(d);
    G.restarts++;
    if (G.proxy)
        fault_proxy_set_upstream(G.proxy, G.d->port);
    /* I3: nothing acknowledged is lost: each device's high-water mark covers its acks. */
    for (int i = 0; i < G.n_dev; i++) {
        tdev *dv = &G.dev[i];
        int64_t hwm = e2e_sql_int(G.d, "SELECT hwm FROM devices WHERE id = '%s'", dv->e.id);
        if (hwm < dv->max_acked_s)
            FSY_FAIL("after SIGKILL %s's hwm is %lld but s=%lld was acknowledged", dv->e.user,
                     (long long)hwm, (long long)dv->max_acked_s);
    }
}

static int64_t max_s_of(const char *body)
{
    cJSON *doc = cJSON_Parse(body), *ch;
    int64_t m = 0;
    cJSON_ArrayForEach(ch, cJSON_GetObjectItemCaseSensitive(doc, "changes"))
    {
        int64_t s = (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(ch, "s"));
        if (s > m)
            m = s;
    }
    cJSON_Delete(doc);
    return m;
}

/* twodaemons: the transport of the daemon this request goes to (counted); *k_out (may
 * be NULL) receives which one. */
static fsy_transport *route(fsy_transport *t, bool is_push, int *k_out)
{
    if (!is_two())
        return t;
    int k = is_push && T.home >= 0 ? T.home : wrnd(2);
    G.via[k]++;
    if (k_out)
        *k_out = k;
    return T.tr[k];
}

static fsy_transport *transport_to(int port);

int __wrap_fsy_transport_request(fsy_transport *t, const char *method, const char *path,
                                 const char *bearer, const char *body, size_t len,
                                 const char *const *extra_headers, fsy_transport_result *res)
{
    tdev *dv = T.dv;
    if (!dv)
        return __real_fsy_transport_request(t, method, path, bearer, body, len, extra_headers, res);
    /* The device's clock is the injected one: send it, not the process's. */
    char clock_hdr[64];
    const char *hdrs[8];
    int n = 0;
    snprintf(clock_hdr, sizeof(clock_hdr), "Fsy-Device-Time: %lld", (long long)device_clock(dv));
    hdrs[n++] = clock_hdr;
    for (int i = 0; extra_headers && extra_headers[i] && n < 7; i++)
        if (strncmp(extra_headers[i], "Fsy-Device-Time:", 16) != 0)
            hdrs[n++] = extra_headers[i];
    hdrs[n] = NULL;

    bool is_push = strcmp(path, "/v1/push") == 0, is_pull = strncmp(path, "/v1/pull", 8) == 0;
    pthread_mutex_lock(&G.mu);
    bool pair = G.in_pair; /* another device syncs at the same moment */
    pthread_t kth;
    killer k = {G.d->pid, 0};
    bool killing = G.mode == MODE_KILL && G.faults_on && G.d->pid > 0 &&
                   (is_push ? fsy_test_rand(&G.fault_rng) % 4 == 0
                            : is_pull && fsy_test_rand(&G.fault_rng) % 25 == 0);
    int64_t hwm_before = 0;
    if (killing) {
        hwm_before = e2e_sql_int(G.d, "SELECT hwm FROM devices WHERE id = '%s'", dv->e.id);
        /* Most requests take a few ms: half the kills land in the first 3 ms (TLS,
         * parsing, the transaction, its fsync), the rest anywhere up to 12 ms. */
        uint64_t x = fsy_test_rand(&G.fault_rng);
        k.delay_us = (int)(x % 2 ? (x >> 8) % 3000 : (x >> 8) % 12000);
        if (pthread_create(&kth, NULL, killer_main, &k) != 0)
            FSY_FAIL("pthread_create failed");
    }
    int kd = 0;
    fsy_transport *via = route(t, is_push, &kd);
    /* twodaemons-kill: SIGKILL the daemon this push goes to, mid-request. */
    bool killing2 = G.mode == MODE_TWOKILL && G.faults_on && !pair && is_push &&
                    fsy_test_rand(&G.fault_rng) % 4 == 0;
    e2e_daemon *dk = kd ? G.d2 : G.d;
    if (killing2) {
        hwm_before = e2e_sql_int(G.d, "SELECT hwm FROM devices WHERE id = '%s'", dv->e.id);
        uint64_t x = fsy_test_rand(&G.fault_rng);
        k.pid = dk->pid;
        k.delay_us = (int)(x % 2 ? (x >> 8) % 3000 : (x >> 8) % 12000);
        if (pthread_create(&kth, NULL, killer_main, &k) != 0)
            FSY_FAIL("pthread_create failed");
    }
    pthread_mutex_unlock(&G.mu);
    int rc = __real_fsy_transport_request(via, method, path, bearer, body, len, hdrs, res);
    pthread_mutex_lock(&G.mu);
    bool ok = rc == 0 && res->status == 200;
    if (killing2) {
        pthread_join(kth, NULL);
        G.kills++;
        restart_daemon_of(dk);
        fsy_transport_free(T.tr[kd]);
        T.tr[kd] = transport_to(dk->port);
        if (!ok) {
            /* The device's retry lands on the other daemon: the same bytes; whether the
             * dead one committed them or not, the answer must be the one acknowledgement
             * (I2, I4 check it at the end). */
            G.kills_in_flight++;
            int64_t hwm_after =
                e2e_sql_int(G.d, "SELECT hwm FROM devices WHERE id = '%s'", dv->e.id);
            if (hwm_after > hwm_before && hwm_after >= max_s_of(body))
                G.kills_committed++;
            fsy_transport_result_free(res);
            G.via[1 - kd]++;
            G.retried_other++;
            pthread_mutex_unlock(&G.mu);
            rc = __real_fsy_transport_request(T.tr[1 - kd], method, path, bearer, body, len, hdrs,
                                              res);
            pthread_mutex_lock(&G.mu);
            ok = rc == 0 && res->status == 200;
        }
    }
    if (is_two() && rc == 0 && res->status == 503)
        G.busy++;
    if (killing) {
        pthread_join(kth, NULL);
        G.kills++;
        if (!ok)
            G.kills_in_flight++;
        restart_daemon_of(G.d);
        int64_t hwm_after = e2e_sql_int(G.d, "SELECT hwm FROM devices WHERE id = '%s'", dv->e.id);
        if (is_push && !ok && hwm_after > hwm_before && hwm_after >= max_s_of(body))
            G.kills_committed++; /* committed, acknowledgement lost: the retry must match */
    }
    if (is_push && !ok && !killing && !killing2 && G.d->pid > 0 &&
        e2e_sql_int(G.d, "SELECT hwm FROM devices WHERE id = '%s'", dv->e.id) >= max_s_of(body))
        G.acks_lost++; /* applied, answer lost: the next round resends the same bytes */
    if (is_push) {
        G.pushes++;
        if (ok) {
            log_acks(dv, body, res->body);
            /* DESIGN §8.3: the same request again gets the same answer and changes nothing
             * (in twodaemons mode through either daemon). While another device pushes at
             * the same moment the log may move: then only the answer is compared. */
            if (wrnd(5) == 0) {
                int64_t head = pair ? 0 : e2e_log_head(G.d);
                fsy_transport_result again;
                fsy_transport *tv = route(t, false, NULL);
                pthread_mutex_unlock(&G.mu);
                int arc =
                    __real_fsy_transport_request(tv, method, path, bearer, body, len, hdrs, &again);
                pthread_mutex_lock(&G.mu);
                if (arc == 0 && again.status == 200) {
                    G.http_replays++;
                    if (strcmp(again.body, res->body) != 0)
                        FSY_FAIL("%s: a replayed push got a different acknowledgement:\n%s\n%s",
                                 dv->e.user, res->body, again.body);
                    if (!pair && e2e_log_head(G.d) != head)
                        FSY_FAIL("%s: a replayed push changed the change log", dv->e.user);
                }
                fsy_transport_result_free(&again);
            }
            if (dv->old_push && wrnd(4) == 0) {
                int64_t head = pair ? 0 : e2e_log_head(G.d);
                fsy_transport_result again;
                fsy_transport *tv = route(t, false, NULL);
                pthread_mutex_unlock(&G.mu);
                int arc = __real_fsy_transport_request(tv, method, path, bearer, dv->old_push,
                                                       strlen(dv->old_push), hdrs, &again);
                pthread_mutex_lock(&G.mu);
                if (arc == 0 && again.status == 200) {
                    G.old_replays++;
                    if (strcmp(again.body, dv->old_ack) != 0)
                        FSY_FAIL("%s: an old push replayed got a different acknowledgement:\n"
                                 "%s\n%s",
                                 dv->e.user, dv->old_ack, again.body);
                    if (!pair && e2e_log_head(G.d) != head)
                        FSY_FAIL("%s: an old push replayed changed the change log", dv->e.user);
                }
                fsy_transport_result_free(&again);
            }
            if (!dv->old_push || wrnd(3) == 0) {
                free(dv->old_push);
                free(dv->old_ack);
                dv->old_push = strndup(body, len);
                dv->old_ack = strdup(res->body);
            }
        }
    } else if (is_pull) {
        G.pulls++;
        if (ok)
            check_pull_batch(dv, res->body);
    }
    pthread_mutex_unlock(&G.mu);
    return rc;
}

/* ---- devices ----------------------------------------------------------------- */

static void device_setup(int i)
{
    tdev *dv = &G.dev[i];
    char user[32];
    if (i == 0) {
        snprintf(user, sizeof(user), "sup");
        dv->is_supervisor = true;
    } else if (i == 7) {
        snprintf(user, sizeof(user), "rn1"); /* the second tablet of rn1 */
        snprintf(dv->territory, sizeof(dv->territory), "north");
    } else {
        snprintf(dv->territory, sizeof(dv->territory), "%s", i % 2 ? "north" : "south");
        snprintf(user, sizeof(user), "r%c%d", i % 2 ? 'n' : 's', (i + 1) / 2);
    }
    if (G.mode == MODE_SKEW)
        dv->skew_ms = i == 1 ? 3 * 3600 * 1000LL : i == 2 ? -2 * 3600 * 1000LL : 0;
    e2e_enroll(G.d, user, &dv->e);
    /* Reopen the replica with the device's own clock. */
    fsy_replica_free(dv->e.r);
    dv->e.r = NULL;
    fsy_replica_opts o = FSY_REPLICA_OPTS_INIT;
    o.synchronous = FSY_SYNC_NORMAL;
    o.now_ms = device_clock;
    o.now_userdata = dv;
    ASSERT_EQ(fsy_replica_new(&dv->e.r), FSY_OK);
    ASSERT_OK(dv->e.r, fsy_replica_open(dv->e.r, dv->e.path, &o));
    ASSERT_OK(dv->e.r, fsy_replica_config_set(dv->e.r, FSY_CFG_TOKEN, dv->e.token));
    if (sqlite3_open_v2(dv->e.path, &dv->ro, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        FSY_FAIL("cannot open %s", dv->e.path);
    sqlite3_busy_timeout(dv->ro, 5000);
}

static int target_port(void)
{
    return G.proxy ? fault_proxy_port(G.proxy) : G.d->port;
}

static fsy_transport *transport_to(int port)
{
    char url[64], err[256];
    snprintf(url, sizeof(url), "https://127.0.0.1:%d", port);
    fsy_transport_opts o = {url, G.d->ca, NULL, 5000, 20000, 1, 10};
    fsy_transport *t = NULL;
    if (fsy_transport_new(&t, &o, err, sizeof(err)) != 0)
        FSY_FAIL("transport: %s", err);
    return t;
}

/* One real client round. Returns the outcome; only faults may make it fail. In
 * twodaemons mode the wrapper sends each request to either daemon (T.tr), and a round
 * that met a 503 (store busy: nothing acknowledged) is retried, as the agent would. */
static fsy_sync_outcome sync_dev(tdev *dv, fsy_sync_report *rep)
{
    fsy_transport *t = transport_to(target_port());
    if (is_two()) {
        T.tr[0] = transport_to(G.d->port);
        T.tr[1] = transport_to(G.d2->port);
    }
    T.dv = dv;
    fsy_sync_outcome out;
    for (int attempt = 0;; attempt++) {
        out = fsy_client_sync(dv->e.r, t, NULL, NULL, NULL, rep);
        if (!(is_two() && out == FSY_SYNC_OFFLINE && rep->last_status == 503 && attempt < 50))
            break;
        e2e_sleep_ms(10 + 10 * (attempt % 5));
    }
    T.dv = NULL;
    fsy_transport_free(t);
    for (int k = 0; k < 2; k++) {
        fsy_transport_free(T.tr[k]);
        T.tr[k] = NULL;
    }
    pthread_mutex_lock(&G.mu);
    G.syncs++;
    if (out != FSY_SYNC_DONE) {
        G.syncs_failed++;
        bool faulty =
            G.faults_on && (G.mode == MODE_PROXY || G.mode == MODE_KILL || G.mode == MODE_TWOKILL);
        if (!faulty || out == FSY_SYNC_LOCAL || out == FSY_SYNC_WIPED)
            FSY_FAIL("%s: sync ended %d (HTTP %ld): %s", dv->e.user, (int)out, rep->last_status,
                     rep->message);
    }
    pthread_mutex_unlock(&G.mu);
    return out;
}

/* Up to max ids of a table in the device's view, oldest first (UUIDv7 order). */
static int view_ids(tdev *dv, const char *table, const char *where, char (*ids)[40], int max)
{
    char sql[256];
    sqlite3_stmt *st = NULL;
    int n = 0;
    snprintf(sql, sizeof(sql), "SELECT id FROM %s %s ORDER BY id", table, where ? where : "");
    if (sqlite3_prepare_v2(dv->ro, sql, -1, &st, NULL) != SQLITE_OK)
        FSY_FAIL("%s: %s", sql, sqlite3_errmsg(dv->ro));
    while (sqlite3_step(st) == SQLITE_ROW && n < max)
        snprintf(ids[n++], 40, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return n;
}

/* Same-field races: half the picks go to the oldest few rows, which everyone shares. */
static const char *pick(char (*ids)[40], int n)
{
    if (n == 0)
        return NULL;
    return ids[rnd(2) ? rnd(n < 4 ? n : 4) : rnd(n)];
}

static char (*g_ids)[40];

static const char *pick_row(tdev *dv, const char *table, const char *where)
{
    return pick(g_ids, view_ids(dv, table, where, g_ids, MAX_IDS));
}

static void write_rc(tdev *dv, int rc, const char *what)
{
    /* A row can vanish between picking and writing only in the core's own rules
     * (a visit done or cancelled refuses check-in); anything else is a failure. */
    if (rc != FSY_OK && rc != FSY_EINVAL)
        FSY_FAIL("%s: %s -> %d: %s", dv->e.user, what, rc, fsy_replica_errmsg(dv->e.r));
    if (rc == FSY_OK)
        G.edits++;
}

static void op_edit(tdev *dv, long op)
{
    static const char *const tiers[] = {"A", "B", "C"};
    static const char *const cstatus[] = {"loyal", "fast-growing", "dormant", "to-nurture"};
    static const char *const rel[] = {"transactional", "familiar", "partnership"};
    static const char *const pers[] = {"expressive", "driver", "analytical", "amiable"};
    static const char *const vstatus[] = {"planned", "in-progress", "done", "cancelled"};
    static const char *const kinds[] = {"cold", "referral", "existing-customer"};
    fsy_replica *r = dv->e.r;
    char f[512], id[FSY_ID_LEN + 1];
    const char *row;
    int d = (int)(dv - G.dev);
    int what = rnd(100);
    if (what < 10) { /* new customer, sometimes in the other territory (refused for reps) */
        const char *terr = dv->is_supervisor ? (rnd(2) ? "north" : "south")
                           : rnd(12) == 0    ? (strcmp(dv->territory, "north") ? "north" : "south")
                                             : dv->territory;
        snprintf(f, sizeof(f), "{\"name\":\"C%d-%ld\",\"territory\":\"%s\",\"tier\":\"%s\"%s}", d,
                 op, terr, tiers[rnd(3)], rnd(3) == 0 ? ",\"owner\":\"rn1\"" : "");
        write_rc(dv, fsy_replica_insert(r, "customers", f, id), "insert customer");
    } else if (what < 28) { /* customer fields: the hot rows race here */
        if (!(row = pick_row(dv, "customers", NULL)))
            return;
        switch (rnd(5)) {
        case 0:
            snprintf(f, sizeof(f), "{\"phone\":\"+49 %d-%ld\"}", d, op);
            break;
        case 1:
            snprintf(f, sizeof(f), "{\"tier\":\"%s\",\"status\":\"%s\"}", tiers[rnd(3)],
                     cstatus[rnd(4)]);
            break;
        case 2:
            snprintf(f, sizeof(f), "{\"name\":\"C%d-%ld\",\"relationship\":\"%s\"}", d, op,
                     rel[rnd(3)]);
            break;
        case 3:
            /* The owner decides visibility too (own records): reassign it now and then. */
            if (rnd(3) == 0)
                snprintf(f, sizeof(f), "{\"owner\":\"%s\"}",
                         rnd(3) == 0 ? "rn1"
                         : rnd(2)    ? "rs2"
                                     : dv->e.user);
            else
                snprintf(f, sizeof(f), "{\"address\":\"Street %d-%ld\"}", d, op);
            break;
        default:
            /* A supervisor moves customers; a rep trying it is refused (forbidden). */
            if (!dv->is_supervisor && rnd(4) != 0)
                snprintf(f, sizeof(f), "{\"category\":\"regional\"}");
            else
                snprintf(f, sizeof(f), "{\"territory\":\"%s\"}", rnd(2) ? "north" : "south");
        }
        write_rc(dv, fsy_replica_update(r, "customers", row, f), "update customer");
    } else if (what < 36) {
        if (!(row = pick_row(dv, "customers", NULL)))
            return;
        snprintf(f, sizeof(f),
                 "{\"customer_id\":\"%s\",\"name\":\"P%d-%ld\",\"personality\":\"%s\","
                 "\"birthday\":\"19%02d-0%d-1%d\"}",
                 row, d, op, pers[rnd(4)], 50 + rnd(50), 1 + rnd(9), rnd(10));
        write_rc(dv, fsy_replica_insert(r, "contacts", f, id), "insert contact");
    } else if (what < 44) {
        if (!(row = pick_row(dv, "contacts", NULL)))
            return;
        snprintf(f, sizeof(f), "{\"%s\":\"%d-%ld\"}", rnd(2) ? "phone" : "role", d, op);
        write_rc(dv, fsy_replica_update(r, "contacts", row, f), "update contact");
    } else if (what < 54) {
        if (!(row = pick_row(dv, "customers", NULL)))
            return;
        snprintf(f, sizeof(f),
                 "{\"customer_id\":\"%s\",\"kind\":\"%s\",\"purpose\":\"V%d-%ld\","
                 "\"planned_at\":\"2026-11-%02dT09:00:00Z\"}",
                 row, kinds[rnd(3)], d, op, 1 + rnd(28));
        write_rc(dv, fsy_replica_insert(r, "visits", f, id), "insert visit");
    } else if (what < 66) {
        if (!(row = pick_row(dv, "visits", NULL)))
            return;
        switch (rnd(4)) {
        case 0:
            write_rc(dv, fsy_visit_check_in(r, row, 52.5 + rnd(100) / 1000.0, 13.4), "check in");
            break;
        case 1:
            snprintf(f, sizeof(f), "{\"outcome\":\"O%d-%ld\",\"satisfaction\":%d}", d, op,
                     1 + rnd(5));
            write_rc(dv, fsy_visit_check_out(r, row, 52.5, 13.4 + rnd(100) / 1000.0, f),
                     "check out");
            break;
        case 2:
            if (dv->is_supervisor && rnd(3) == 0) /* a visit handed to another rep */
                snprintf(f, sizeof(f), "{\"rep\":\"%s\"}", rnd(2) ? "rn2" : "rs1");
            else
                snprintf(f, sizeof(f), "{\"status\":\"%s\"}", vstatus[rnd(4)]);
            write_rc(dv, fsy_replica_update(r, "visits", row, f), "update visit");
            break;
        default:
            snprintf(f, sizeof(f), "{\"purpose\":\"V%d-%ld\",\"next_steps\":\"N%ld\"}", d, op, op);
            write_rc(dv, fsy_replica_update(r, "visits", row, f), "update visit");
        }
    } else if (what < 76) { /* notes, a third of them restricted (info_level 4) */
        if (!(row = pick_row(dv, "customers", NULL)))
            return;
        snprintf(f, sizeof(f), "{\"customer_id\":\"%s\",\"body\":\"B%d-%ld\",\"info_level\":%d}",
                 row, d, op, rnd(3) == 0 ? 4 : 1 + rnd(3));
        write_rc(dv, fsy_replica_insert(r, "notes", f, id), "insert note");
    } else if (what < 84) { /* note edits, including moving in and out of level 4 */
        if (!(row = pick_row(dv, "notes", NULL)))
            return;
        if (rnd(2))
            snprintf(f, sizeof(f), "{\"body\":\"B%d-%ld\"}", d, op);
        else
            snprintf(f, sizeof(f), "{\"info_level\":%d}", 1 + rnd(4));
        write_rc(dv, fsy_replica_update(r, "notes", row, f), "update note");
    } else if (what < 91) { /* reviews: the supervisor's; a rep trying is refused */
        if (!dv->is_supervisor && rnd(6) != 0)
            return;
        if (rnd(2) && (row = pick_row(dv, "reviews", NULL))) {
            snprintf(f, sizeof(f), "{\"comment\":\"R%d-%ld\",\"state\":\"%s\"}", d, op,
                     rnd(2) ? "reviewed" : "needs-follow-up");
            write_rc(dv, fsy_replica_update(r, "reviews", row, f), "update review");
        } else if ((row = pick_row(dv, "visits", NULL))) {
            snprintf(f, sizeof(f), "{\"visit_id\":\"%s\",\"comment\":\"R%d-%ld\",\"state\":\"%s\"}",
                     row, d, op, rnd(2) ? "reviewed" : "needs-follow-up");
            write_rc(dv, fsy_replica_insert(r, "reviews", f, id), "insert review");
        }
    } else { /* deletes on every table, customers rarely */
        int t = rnd(10) == 0 ? 0 : 1 + rnd(4);
        if (!(row = pick_row(dv, TABLES[t], NULL)))
            return;
        write_rc(dv, fsy_replica_delete(r, TABLES[t], row), "delete");
    }
}

/* ---- twodaemons: two devices syncing at the same moment ---------------------- */

typedef struct pair_arg {
    tdev *dv;
    int home; /* the daemon its pushes go to */
    uint64_t rng;
    fsy_sync_report rep;
} pair_arg;

static void *pair_main(void *ud)
{
    pair_arg *p = ud;
    T.home = p->home;
    T.rng = p->rng;
    T.has_own_rng = true;
    sync_dev(p->dv, &p->rep);
    return NULL;
}

static int64_t log_max_q(void)
{
    return sq_int("SELECT COALESCE(max(q), 0) FROM changes", 0, NULL);
}

/* Devices a and b sync at once on two threads, a pushing through one daemon and b
 * through the other. */
static void sync_pair(tdev *a, tdev *b)
{
    int home = rnd(2);
    pair_arg pa = {a, home, fsy_test_rand(&G.rng), {0}},
             pb = {b, 1 - home, fsy_test_rand(&G.rng), {0}};
    pthread_t ta, tb;
    /* The log's q is taken in the writing transaction and nothing else writes now, so
     * whatever commits during the pair is above this. */
    G.pair_q0 = log_max_q();
    G.in_pair = true;
    if (pthread_create(&ta, NULL, pair_main, &pa) != 0 ||
        pthread_create(&tb, NULL, pair_main, &pb) != 0)
        FSY_FAIL("pthread_create failed");
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    G.in_pair = false;
    G.pairs++;
}

static void edit_phone(tdev *dv, const char *id, const char *value)
{
    char f[128];
    snprintf(f, sizeof(f), "{\"phone\":\"%s\"}", value);
    ASSERT_OK(dv->e.r, fsy_replica_update(dv->e.r, "customers", id, f));
    G.edits++;
}

/* The value's conflict records on customers.phone of id: how many hold both a and b. */
static int64_t race_records(const char *id, const char *a, const char *b)
{
    char ja[96], jb[96];
    snprintf(ja, sizeof(ja), "\"%s\"", a);
    snprintf(jb, sizeof(jb), "\"%s\"", b);
    const char *p[] = {id, ja, jb};
    return sq_int("SELECT count(*) FROM conflicts WHERE tbl = 0 AND id = $1 AND field = 'phone'"
                  " AND ((kept = $2 AND other = $3) OR (kept = $3 AND other = $2))",
                  3, p);
}

/* What the store and the acknowledgements say about a race that went wrong. */
static void race_dump(const char *id)
{
    for (size_t i = 0; i < G.n_acks; i++)
        if (strcmp(jstr(G.acks[i].change, "id"), id) == 0) {
            char *c = cJSON_PrintUnformatted(G.acks[i].change),
                 *r = cJSON_PrintUnformatted(G.acks[i].result);
            fprintf(stderr, "ack to %s: %s -> %s\n", G.dev[G.acks[i].dev].e.user, c, r);
            free(c);
            free(r);
        }
    const char *p[] = {id};
    srows r = sq("SELECT q, pos, kind, device, \"user\", hlc, fields FROM changes WHERE id = $1"
                 " ORDER BY q",
                 1, p);
    for (int i = 0; i < r.n; i++)
        fprintf(stderr, "log q=%s pos=%s kind=%s device=%s user=%s hlc=%s fields=%s\n",
                sv(&r, i, 0), sv(&r, i, 1) ? sv(&r, i, 1) : "-", sv(&r, i, 2), sv(&r, i, 3),
                sv(&r, i, 4), sv(&r, i, 5), sv(&r, i, 6) ? sv(&r, i, 6) : "-");
    sq_free(&r);
    r = sq("SELECT field, kept, other, kept_user, other_user, kept_hlc, other_hlc, q FROM"
           " conflicts WHERE id = $1 ORDER BY n",
           1, p);
    for (int i = 0; i < r.n; i++)
        fprintf(stderr, "conflict %s kept=%s (%s %s) other=%s (%s %s) q=%s\n", sv(&r, i, 0),
                sv(&r, i, 1) ? sv(&r, i, 1) : "-", sv(&r, i, 3), sv(&r, i, 5),
                sv(&r, i, 2) ? sv(&r, i, 2) : "-", sv(&r, i, 4), sv(&r, i, 6), sv(&r, i, 7));
    sq_free(&r);
    r = sq("SELECT ver, vals, meta FROM rows WHERE id = $1", 1, p);
    for (int i = 0; i < r.n; i++)
        fprintf(stderr, "row ver=%s vals=%s\n  meta=%s\n", sv(&r, i, 0), sv(&r, i, 1),
                sv(&r, i, 2));
    sq_free(&r);
}

/* Both devices synced and quiet, then both edit one customer's phone from the same
 * knowledge and push at the same moment through different daemons: whichever commits
 * second never saw the first, so exactly one conflict record must hold both values,
 * and the store keeps one of them. Without a customer both see: a plain pair sync. */
static void op_race(tdev *a, tdev *b, long op)
{
    fsy_sync_report rep;
    sync_dev(a, &rep);
    sync_dev(b, &rep);
    char id[40] = "";
    if (e2e_pending(&a->e) == 0 && e2e_pending(&b->e) == 0) {
        int n = view_ids(a, "customers", NULL, g_ids, MAX_IDS);
        for (int i = 0; i < n && !id[0]; i++) {
            /* In both replicas and, on the server, in both scopes and not deleted (a
             * replica also shows rows whose refused edits are parked). */
            cJSON *row = e2e_row(&b->e, "customers", g_ids[i]);
            bool exists;
            const char *p[] = {g_ids[i]};
            if (row && row_visible_now(a, 0, g_ids[i], &exists) &&
                row_visible_now(b, 0, g_ids[i], &exists) &&
                sq_int("SELECT count(*) FROM rows WHERE tbl = 0 AND id = $1 AND vals LIKE"
                       " '%\"_deleted\":true%'",
                       1, p) == 0)
                snprintf(id, sizeof(id), "%s", g_ids[i]);
            cJSON_Delete(row);
        }
    }
    if (!id[0]) {
        sync_pair(a, b);
        return;
    }
    char va[48], vb[48];
    snprintf(va, sizeof(va), "race-%ld-%s", op, a->e.user);
    snprintf(vb, sizeof(vb), "race-%ld-%s-%d", op, b->e.user, (int)(b - G.dev));
    edit_phone(a, id, va);
    edit_phone(b, id, vb);
    sync_pair(a, b);
    G.races++;
    int64_t n = race_records(id, va, vb);
    if (n != 1)
        race_dump(id);
    if (n != 1)
        FSY_FAIL("race on customers %s phone between %s (%s) and %s (%s) through different "
                 "daemons: %lld conflict records hold both values, expected 1",
                 id, a->e.user, va, b->e.user, vb, (long long)n);
    const char *p[] = {id};
    srows r = sq("SELECT vals FROM rows WHERE tbl = 0 AND id = $1", 1, p);
    cJSON *vals = r.n ? cJSON_Parse(sv(&r, 0, 0)) : NULL;
    const char *phone = jstr(vals, "phone");
    if (!phone || (strcmp(phone, va) != 0 && strcmp(phone, vb) != 0))
        FSY_FAIL("race on customers %s phone: the store keeps %s, neither %s nor %s", id,
                 phone ? phone : "(none)", va, vb);
    cJSON_Delete(vals);
    sq_free(&r);
}

static void op_parked(tdev *dv)
{
    char *p = NULL;
    ASSERT_OK(dv->e.r, fsy_query_parked(dv->e.r, &p));
    cJSON *arr = cJSON_Parse(p);
    fsy_free(p);
    int n = cJSON_GetArraySize(arr);
    if (n > 0) {
        int64_t seq = (int64_t)cJSON_GetNumberValue(
            cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(arr, rnd(n)), "seq"));
        int rc = rnd(2) ? fsy_parked_retry(dv->e.r, seq) : fsy_parked_discard(dv->e.r, seq);
        if (rc != FSY_OK && rc != FSY_ENOTFOUND && rc != FSY_EINVAL)
            FSY_FAIL("%s: parked %lld -> %d: %s", dv->e.user, (long long)seq, rc,
                     fsy_replica_errmsg(dv->e.r));
    }
    cJSON_Delete(arr);
}

/* ---- the end: quiet, then the invariants ------------------------------------ */

static void sync_until_quiet(void)
{
    G.faults_on = false;
    if (G.proxy)
        fault_proxy_set_rate(G.proxy, 0);
    for (int round = 0;; round++) {
        if (round >= 12)
            FSY_FAIL("the devices did not go quiet in %d rounds", round);
        int64_t moved = 0;
        for (int i = 0; i < G.n_dev; i++) {
            fsy_sync_report rep;
            if (sync_dev(&G.dev[i], &rep) != FSY_SYNC_DONE)
                FSY_FAIL("%s: a sync without faults failed: %s", G.dev[i].e.user, rep.message);
            moved += rep.changes_up + rep.changes_down;
        }
        if (moved == 0)
            break;
    }
    for (int i = 0; i < G.n_dev; i++)
        ASSERT_EQ(e2e_pending(&G.dev[i].e), 0);
}

static bool same_value(const cJSON *a, const cJSON *b)
{
    bool an = !a || cJSON_IsNull(a), bn = !b || cJSON_IsNull(b);
    if (an || bn)
        return an && bn;
    if (cJSON_IsNumber(a) && cJSON_IsNumber(b))
        return fabs(a->valuedouble - b->valuedouble) < 1e-9;
    return cJSON_Compare(a, b, true);
}

/* I1: each replica equals the server's view of its scope, row by row and field by field. */
static void check_convergence(void)
{
    for (int i = 0; i < G.n_dev; i++) {
        tdev *dv = &G.dev[i];
        char *text = NULL;
        ASSERT_OK(dv->e.r, fsy_replica_export(dv->e.r, &text));
        cJSON *rep = cJSON_Parse(text);
        fsy_free(text);
        for (int t = 0; t < N_TABLES; t++) {
            cJSON *have = cJSON_GetObjectItemCaseSensitive(rep, TABLES[t]), *row;
            cJSON *want = cJSON_CreateObject(); /* id -> server vals */
            char tt[8];
            snprintf(tt, sizeof(tt), "%d", t);
            const char *p[] = {tt};
            srows st =
                sq("SELECT id, vals, territory, owner, info_level FROM rows WHERE tbl = $1", 1, p);
            for (int k = 0; k < st.n; k++) {
                cJSON *vals = cJSON_Parse(sv(&st, k, 1));
                if (!vals)
                    FSY_FAIL("unparsable vals in the store");
                if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(vals, "_deleted")) ||
                    !visible(dv, t, sv(&st, k, 2), sv(&st, k, 3), (int)sv_int(&st, k, 4)))
                    cJSON_Delete(vals);
                else
                    cJSON_AddItemToObject(want, sv(&st, k, 0), vals);
            }
            sq_free(&st);
            int n_have = 0;
            cJSON_ArrayForEach(row, have)
            {
                n_have++;
                const char *id = jstr(row, "id");
                const cJSON *vals = cJSON_GetObjectItemCaseSensitive(want, id), *fv;
                if (!vals)
                    FSY_FAIL("I1: %s has %s %s, which the server %s", dv->e.user, TABLES[t], id,
                             e2e_sql_int(G.d, "SELECT count(*) FROM rows WHERE tbl=%d AND id='%s'",
                                         t, id)
                                 ? "deleted or keeps outside its scope"
                                 : "does not have");
                cJSON_ArrayForEach(fv, row)
                {
                    if (strcmp(fv->string, "id") != 0 &&
                        !same_value(fv, cJSON_GetObjectItemCaseSensitive(vals, fv->string))) {
                        char *a = cJSON_PrintUnformatted(row), *b = cJSON_PrintUnformatted(vals);
                        FSY_FAIL("I1: %s's %s %s differs from the server in %s:\n  device %s\n"
                                 "  server %s",
                                 dv->e.user, TABLES[t], id, fv->string, a, b);
                    }
                }
                cJSON_ArrayForEach(fv, vals)
                {
                    if (!same_value(fv, cJSON_GetObjectItemCaseSensitive(row, fv->string)))
                        FSY_FAIL("I1: %s's %s %s lacks %s", dv->e.user, TABLES[t], id, fv->string);
                }
            }
            if (n_have != cJSON_GetArraySize(want)) {
                cJSON *w;
                cJSON_ArrayForEach(w, want)
                {
                    bool found = false;
                    cJSON_ArrayForEach(row, have) found |= strcmp(jstr(row, "id"), w->string) == 0;
                    if (!found)
                        FSY_FAIL("I1: %s lacks %s %s, which is in its scope on the server",
                                 dv->e.user, TABLES[t], w->string);
                }
            }
            cJSON_Delete(want);
        }
        cJSON_Delete(rep);
    }
}

/* I2: an applied change is in the change log under the version its ack named, with this
 * device as the writer; each field either is in that entry or lost a recorded conflict. */
static long check_acknowledged(void)
{
    long fields = 0;
    for (size_t i = 0; i < G.n_acks; i++) {
        ackrec *a = &G.acks[i];
        tdev *dv = &G.dev[a->dev];
        if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a->result, "ok")))
            continue; /* refused: parked on the device, not the server's to keep */
        int64_t v = (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(a->result, "v"));
        const char *id = jstr(a->change, "id");
        int tbl = table_index(jstr(a->change, "t"));
        char tt[8], vv[24];
        snprintf(tt, sizeof(tt), "%d", tbl);
        snprintf(vv, sizeof(vv), "%lld", (long long)v);
        cJSON *logged = NULL;
        if (v > 0) {
            const char *p[] = {vv};
            srows lg =
                sq("SELECT tbl, id, device, fields FROM changes WHERE q = $1 AND kind = 'c'", 1, p);
            if (lg.n != 1)
                FSY_FAIL("I2: %s was told s=%.0f is version %lld, which the log lacks", dv->e.user,
                         cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(a->change, "s")),
                         (long long)v);
            if (sv_int(&lg, 0, 0) != tbl || strcmp(sv(&lg, 0, 1), id) != 0 ||
                strcmp(sv(&lg, 0, 2), dv->e.id) != 0)
                FSY_FAIL("I2: version %lld acknowledged to %s is another change", (long long)v,
                         dv->e.user);
            logged = cJSON_Parse(sv(&lg, 0, 3));
            sq_free(&lg);
        }
        const cJSON *fv;
        cJSON_ArrayForEach(fv, cJSON_GetObjectItemCaseSensitive(a->change, "f"))
        {
            fields++;
            if (same_value(fv, cJSON_GetObjectItemCaseSensitive(logged, fv->string)))
                continue;
            bool found = false;
            char *mine = cJSON_PrintUnformatted(fv);
            const char *p[] = {tt, id, fv->string};
            srows cf = sq("SELECT kept, other, kept_device, other_device FROM conflicts"
                          " WHERE tbl = $1 AND id = $2 AND field = $3",
                          3, p);
            for (int k = 0; k < cf.n && !found; k++)
                for (int c = 0; c < 2 && !found; c++) {
                    const char *val = sv(&cf, k, c), *devid = sv(&cf, k, 2 + c);
                    cJSON *pv = val ? cJSON_Parse(val) : NULL;
                    found = devid && strcmp(devid, dv->e.id) == 0 && same_value(pv, fv);
                    cJSON_Delete(pv);
                }
            sq_free(&cf);
            /* An edit racing a delete: kept in the row's history (M4), conflict on _deleted. */
            if (!found && logged == NULL) {
                const char *pd[] = {tt, id, "_deleted"};
                found = sq_int("SELECT count(*) FROM conflicts WHERE tbl = $1 AND id = $2 AND"
                               " field = $3",
                               3, pd) > 0;
            }
            if (!found) {
                char *ch = cJSON_PrintUnformatted(a->change),
                     *res = cJSON_PrintUnformatted(a->result);
                FSY_FAIL("I2: %s's acknowledged %s.%s = %s of %s is neither in the log nor in a "
                         "conflict record\n  change %s\n  result %s",
                         dv->e.user, TABLES[tbl], fv->string, mine, id, ch, res);
            }
            free(mine);
        }
        cJSON_Delete(logged);
    }
    return fields;
}

/* I4 exactly once: every acknowledgement of one client_seq names the same version, and
 * the log holds one entry per applied change of each device (a push retried through the
 * other daemon, or replayed, adds nothing). I5: no conflict record twice. */
typedef struct seqv {
    int dev;
    int64_t s, v;
} seqv;

static int seqv_cmp(const void *a, const void *b)
{
    const seqv *x = a, *y = b;
    if (x->dev != y->dev)
        return x->dev < y->dev ? -1 : 1;
    return x->s < y->s ? -1 : x->s > y->s;
}

static int i64_cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static long check_exactly_once(void)
{
    seqv *sv_ = calloc(G.n_acks + 1, sizeof(*sv_));
    size_t n = 0;
    long applied = 0;
    if (!sv_)
        FSY_FAIL("out of memory");
    for (size_t i = 0; i < G.n_acks; i++) {
        if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(G.acks[i].result, "ok")))
            continue;
        sv_[n].dev = G.acks[i].dev;
        sv_[n].s =
            (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(G.acks[i].change, "s"));
        sv_[n].v =
            (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(G.acks[i].result, "v"));
        n++;
    }
    qsort(sv_, n, sizeof(*sv_), seqv_cmp);
    int64_t *vs = calloc(n + 1, sizeof(*vs));
    if (!vs)
        FSY_FAIL("out of memory");
    for (int d = 0; d < G.n_dev; d++) {
        size_t nv = 0;
        for (size_t i = 0; i < n; i++) {
            if (sv_[i].dev != d)
                continue;
            if (i > 0 && sv_[i - 1].dev == d && sv_[i - 1].s == sv_[i].s &&
                sv_[i - 1].v != sv_[i].v)
                FSY_FAIL("I4: %s's s=%lld was acknowledged as version %lld and as %lld",
                         G.dev[d].e.user, (long long)sv_[i].s, (long long)sv_[i - 1].v,
                         (long long)sv_[i].v);
            if (sv_[i].v > 0)
                vs[nv++] = sv_[i].v;
        }
        /* Several changes of one row in one batch may share a version: count versions. */
        qsort(vs, nv, sizeof(*vs), i64_cmp);
        long distinct = 0;
        for (size_t i = 0; i < nv; i++)
            distinct += i == 0 || vs[i] != vs[i - 1];
        const char *p[] = {G.dev[d].e.id};
        int64_t logged =
            sq_int("SELECT count(*) FROM changes WHERE kind = 'c' AND device = $1", 1, p);
        if (logged != distinct)
            FSY_FAIL("I4: the log holds %lld changes of %s (%s), %ld were acknowledged as applied",
                     (long long)logged, G.dev[d].e.user, G.dev[d].e.id, distinct);
        applied += distinct;
    }
    free(vs);
    free(sv_);
    int64_t dup = sq_int("SELECT count(*) FROM (SELECT tbl, id, field, kept_hlc, other_hlc,"
                         " kept_device, other_device FROM conflicts GROUP BY tbl, id, field,"
                         " kept_hlc, other_hlc, kept_device, other_device HAVING count(*) > 1) x",
                         0, NULL);
    if (dup != 0)
        FSY_FAIL("I5: %lld conflicts are recorded more than once", (long long)dup);
    return applied;
}

/* ---- clock skew: a device 3 h ahead, one 2 h behind ------------------------- */

static cJSON *last_conflict_row(const char *id, const char *field)
{
    char *kept = e2e_sql_text(G.d,
                              "SELECT json_object('kept', kept, 'other', other, 'kept_user',"
                              " kept_user, 'other_user', other_user, 'clamped', clamped)"
                              " FROM conflicts WHERE id = '%s' AND field = '%s' ORDER BY n DESC"
                              " LIMIT 1",
                              id, field);
    cJSON *j = kept ? cJSON_Parse(kept) : NULL;
    free(kept);
    if (!j)
        FSY_FAIL("no conflict record for %s.%s", id, field);
    return j;
}

static void skew_checks(void)
{
    tdev *ahead = &G.dev[1], *behind = &G.dev[2], *peer = &G.dev[3]; /* rn1, rs1, rn2 */
    fsy_sync_report rep;
    char id[FSY_ID_LEN + 1];
    /* The skew of each device is recorded from its Fsy-Device-Time. */
    for (int i = 0; i < G.n_dev; i++) {
        int64_t skew =
            e2e_sql_int(G.d, "SELECT skew_ms FROM devices WHERE id = '%s'", G.dev[i].e.id);
        if (llabs(skew - G.dev[i].skew_ms) > 60000)
            FSY_FAIL("skew of %s recorded as %lld ms; its clock is %lld ms off", G.dev[i].e.user,
                     (long long)skew, (long long)G.dev[i].skew_ms);
    }
    printf(
        "skew recorded: %s %+lld ms, %s %+lld ms\n", ahead->e.user,
        (long long)e2e_sql_int(G.d, "SELECT skew_ms FROM devices WHERE id = '%s'", ahead->e.id),
        behind->e.user,
        (long long)e2e_sql_int(G.d, "SELECT skew_ms FROM devices WHERE id = '%s'", behind->e.id));
    /* The bounding of the clock of every change from the device ahead is recorded. */
    int64_t bounded =
        e2e_sql_int(G.d, "SELECT count(*) FROM events WHERE kind = 'clock_bounded' AND device='%s'",
                    ahead->e.id);
    if (bounded == 0 && ahead->max_acked_s > 0)
        FSY_FAIL("no clock_bounded event for %s, 3 h ahead", ahead->e.user);

    /* A customer both north reps have. */
    e2e_insert(&peer->e, "customers", "{\"name\":\"Skew GmbH\",\"territory\":\"north\"}", id);
    sync_dev(peer, &rep);
    sync_dev(ahead, &rep);
    cJSON *have = e2e_row(&ahead->e, "customers", id);
    ASSERT_TRUE(have != NULL);
    cJSON_Delete(have);
    /* The device ahead writes first; its stored clock is bounded to server time + 2 s. */
    e2e_update(&ahead->e, "customers", id, "{\"phone\":\"ahead-1\"}");
    sync_dev(ahead, &rep);
    /* Later than that bound, the peer edits the same field without having seen it: a
     * concurrent edit, and the later real edit wins although its clock is 3 h behind the
     * other device's. Without the bound the device ahead would win every conflict. */
    e2e_sleep_ms(3000);
    e2e_update(&peer->e, "customers", id, "{\"phone\":\"peer-1\"}");
    sync_dev(peer, &rep);
    char *phone =
        e2e_sql_text(G.d, "SELECT json_extract(vals, '$.phone') FROM rows WHERE id='%s'", id);
    ASSERT_STREQ(phone, "peer-1");
    free(phone);
    cJSON *c = last_conflict_row(id, "phone");
    ASSERT_STREQ(jstr(c, "kept"), "\"peer-1\"");
    ASSERT_STREQ(jstr(c, "other"), "\"ahead-1\"");
    cJSON_Delete(c);
    /* The device ahead edits concurrently again: within the bound it wins, and the conflict
     * record says its clock was bounded. */
    e2e_update(&ahead->e, "customers", id, "{\"phone\":\"ahead-2\"}");
    sync_dev(ahead, &rep);
    c = last_conflict_row(id, "phone");
    ASSERT_STREQ(jstr(c, "kept"), "\"ahead-2\"");
    ASSERT_EQ(cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(c, "clamped")), 1);
    cJSON_Delete(c);
    /* The device 2 h behind loses a concurrent edit (ordering is by the device clocks), but
     * its value is kept in the conflict record and its skew is shown (above). */
    e2e_insert(&behind->e, "customers", "{\"name\":\"Late KG\",\"territory\":\"south\"}", id);
    sync_dev(behind, &rep);
    sync_dev(&G.dev[4], &rep); /* rs2 */
    e2e_update(&G.dev[4].e, "customers", id, "{\"phone\":\"now-1\"}");
    sync_dev(&G.dev[4], &rep);
    e2e_update(&behind->e, "customers", id, "{\"phone\":\"behind-1\"}");
    sync_dev(behind, &rep);
    c = last_conflict_row(id, "phone");
    ASSERT_STREQ(jstr(c, "kept"), "\"now-1\"");
    ASSERT_STREQ(jstr(c, "other"), "\"behind-1\"");
    cJSON_Delete(c);
    printf("skew: bounded clocks recorded %lld times; clamped conflicts %lld\n",
           (long long)e2e_sql_int(G.d, "SELECT count(*) FROM events WHERE kind='clock_bounded'"),
           (long long)e2e_sql_int(G.d, "SELECT count(*) FROM conflicts WHERE clamped = 1"));
}

/* ---- main ------------------------------------------------------------------- */

static long env_long(const char *name, long dflt)
{
    const char *v = getenv(name);
    return v && *v ? strtol(v, NULL, 10) : dflt;
}

int main(int argc, char **argv)
{
    if (argc < 3)
        FSY_FAIL("usage: %s FIELDSYNCD plain|proxy|kill|skew|twodaemons|twodaemons-kill", argv[0]);
    const char *modes[] = {"plain", "proxy", "kill", "skew", "twodaemons", "twodaemons-kill"};
    G.mode = -1;
    for (int i = 0; i < 6; i++)
        if (strcmp(argv[2], modes[i]) == 0)
            G.mode = i;
    if (G.mode < 0)
        FSY_FAIL("unknown mode %s", argv[2]);
    uint64_t seed = fsy_test_seed();
    G.rng = seed;
    G.fault_rng = seed ^ 0x5bd1e995u;
    /* twodaemons: more operations (they are cheap on PostgreSQL's side) for more pairs. */
    long n_ops = env_long("FSY_TORTURE_OPS", G.mode == MODE_TWO       ? 1200
                                             : G.mode == MODE_TWOKILL ? 600
                                                                      : 400);
    G.n_dev = (int)env_long("FSY_TORTURE_DEVICES", 8);
    if (G.n_dev < 4 || G.n_dev > MAX_DEV)
        FSY_FAIL("FSY_TORTURE_DEVICES must be 4..%d", MAX_DEV);
    g_ids = calloc(MAX_IDS, sizeof(*g_ids));
    double t0 = e2e_now();

    char tag[32];
    snprintf(tag, sizeof(tag), "torture-%s", argv[2]);
    pthread_mutex_init(&G.mu, NULL);
    G.d = e2e_setup(argc, argv, tag); /* argv[1] is the daemon */
    if (is_two() && !e2e_is_pg(G.d)) {
        printf("SKIPPED: twodaemons needs PostgreSQL (FSY_E2E_PG, the pg fixture)\n");
        exit(77);
    }
    e2e_config_set(G.d, "pull_max", "40"); /* several pulls per round: "more" is exercised */
    if (G.mode == MODE_SKEW)
        e2e_config_set(G.d, "max_clock_ahead_ms", "2000");
    e2e_user(G.d, "sup", "supervisor", NULL);
    char out[256];
    for (int i = 1; i < G.n_dev; i++) {
        if (i == 7)
            continue;
        char user[32];
        snprintf(user, sizeof(user), "r%c%d", i % 2 ? 'n' : 's', (i + 1) / 2);
        if (e2e_admin(G.d, out, sizeof(out), "user-add", user, "--role", "rep", "--territory",
                      i % 2 ? "north" : "south", "--supervisor", "sup", NULL) != 0)
            FSY_FAIL("user-add %s failed", user);
    }
    e2e_start(G.d);
    if (is_two()) {
        G.d2 = e2e_add_daemon(G.d); /* same database, CA, certificate, config */
        e2e_start(G.d2);
        printf("two daemons on one PostgreSQL database: ports %d and %d\n", G.d->port, G.d2->port);
    }
    if (G.mode == MODE_PROXY || G.mode == MODE_KILL) {
        G.proxy = fault_proxy_start(G.d->port, seed);
        if (!G.proxy)
            FSY_FAIL("cannot start the fault proxy");
        fault_proxy_set_rate(
            G.proxy, G.mode == MODE_PROXY ? (int)env_long("FSY_TORTURE_FAULT_RATE", 30) : 0);
    }
    for (int i = 0; i < G.n_dev; i++)
        device_setup(i);
    printf("torture %s: %d devices, %ld operations, seed %llu\n", argv[2], G.n_dev, n_ops,
           (unsigned long long)seed);

    G.faults_on = true;
    for (G.ops = 0; G.ops < n_ops; G.ops++) {
        tdev *dv = &G.dev[rnd(G.n_dev)];
        int what = rnd(100);
        if (what < 70) {
            op_edit(dv, G.ops);
        } else if (what < 95) {
            fsy_sync_report rep;
            int how = is_two() ? rnd(6) : 5;
            if (how < 2) { /* two devices at the same moment, through different daemons */
                tdev *other = &G.dev[(dv - G.dev + 1 + rnd(G.n_dev - 1)) % G.n_dev];
                if (how == 0)
                    op_race(dv, other, G.ops);
                else
                    sync_pair(dv, other);
            } else {
                sync_dev(dv, &rep);
            }
        } else {
            op_parked(dv);
        }
    }
    sync_until_quiet();
    check_convergence();
    long fields = check_acknowledged();
    long applied = check_exactly_once();
    if (G.mode == MODE_SKEW) {
        skew_checks();
        sync_until_quiet();
        check_convergence();
        fields = check_acknowledged();
        applied = check_exactly_once();
    }
    int64_t conflicts = e2e_sql_int(G.d, "SELECT count(*) FROM conflicts");
    int64_t log_head = e2e_log_head(G.d);
    int64_t rows = e2e_sql_int(G.d, "SELECT count(*) FROM rows");
    int64_t moves = e2e_sql_int(G.d, "SELECT count(*) FROM changes WHERE kind = 's'");
    int64_t deleted =
        e2e_is_pg(G.d)
            ? e2e_sql_int(G.d, "SELECT count(*) FROM rows WHERE vals::json->>'_deleted' = 'true'")
            : e2e_sql_int(G.d,
                          "SELECT count(*) FROM rows WHERE json_extract(vals, '$._deleted') = 1");
    int64_t restricted = e2e_sql_int(G.d, "SELECT count(*) FROM rows WHERE info_level = 4");
    int64_t rejected = 0;
    for (size_t i = 0; i < G.n_acks; i++)
        rejected += !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(G.acks[i].result, "ok"));
    printf("figures: mode=%s seed=%llu ops=%ld edits=%ld syncs=%ld failed_syncs=%ld pushes=%ld "
           "pulls=%ld pulled_changes=%ld isolation_checked=%ld acks=%zu refused=%lld "
           "ack_fields_checked=%ld conflicts=%lld log_head=%lld rows=%lld deleted=%lld "
           "restricted_notes=%lld scope_entries=%lld gone=%ld snapshots=%ld http_replays=%ld "
           "old_replays=%ld acks_lost_then_resent=%ld kills=%ld kills_in_flight=%ld "
           "kills_committed_unacked=%ld "
           "restarts=%ld applied_once=%ld seconds=%.1f\n",
           argv[2], (unsigned long long)seed, G.ops, G.edits, G.syncs, G.syncs_failed, G.pushes,
           G.pulls, G.pulled_changes, G.isolation_checked, G.n_acks, (long long)rejected, fields,
           (long long)conflicts, (long long)log_head, (long long)rows, (long long)deleted,
           (long long)restricted, (long long)moves, G.gone_received, G.snapshots_received,
           G.http_replays, G.old_replays, G.acks_lost, G.kills, G.kills_in_flight,
           G.kills_committed, G.restarts, applied, e2e_now() - t0);
    if (is_two())
        printf(
            "twodaemons: requests via daemon 1 %ld, via daemon 2 %ld; pair syncs %ld (same-field "
            "races %ld); 503 answers retried %ld; pulled changes let through because a "
            "scope change committed during the pair %ld; pushes retried on the other daemon "
            "after a SIGKILL %ld\n",
            G.via[0], G.via[1], G.pairs, G.races, G.busy, G.isolation_racy, G.retried_other);
    if (G.proxy) {
        fault_stats fs;
        fault_proxy_stats(G.proxy, &fs);
        printf("proxy: connections=%ld dropped=%ld cut_requests=%ld cut_responses=%ld "
               "delayed=%ld raw_replays=%ld\n",
               fs.connections, fs.dropped, fs.cut_requests, fs.cut_responses, fs.delayed,
               fs.raw_replays);
        fault_proxy_stop(G.proxy);
        G.proxy = NULL;
    }
    for (int i = 0; i < G.n_dev; i++) {
        sqlite3_close(G.dev[i].ro);
        free(G.dev[i].old_push);
        free(G.dev[i].old_ack);
    }
    for (size_t i = 0; i < G.n_acks; i++) {
        cJSON_Delete(G.acks[i].change);
        cJSON_Delete(G.acks[i].result);
    }
    free(G.acks);
    free(g_ids);
    store_close();
    if (G.d2) {
        int rc2 = e2e_stop(G.d2, SIGTERM, 20000);
        char *log = e2e_log_text(G.d2);
        bool clean = strstr(log, "stopped cleanly") != NULL;
        bool sanitizer = strstr(log, "Sanitizer") != NULL || strstr(log, "runtime error") != NULL;
        free(log);
        if (rc2 != 0 || !clean || sanitizer)
            FSY_FAIL("the second daemon: exit %d on SIGTERM, %s%s", rc2,
                     clean ? "stopped cleanly" : "no \"stopped cleanly\" in its log",
                     sanitizer ? ", a sanitizer report in its log" : "");
    }
    e2e_finish(G.d);
    return 0;
}
