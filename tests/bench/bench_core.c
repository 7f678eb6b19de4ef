/*
 * bench_core.c — what a local write costs through the core, next to a plain
 * SQLite write of the same row into an identical table (same DDL and indexes,
 * copied from the replica, separate file, one transaction per row), with
 * synchronous=FULL and NORMAL, measured in one run with the two interleaved; and
 * how long pushing 10,000 pending changes takes (export, and export + ack).
 * Prints figures; it is not a test and asserts nothing about speed.
 *
 * usage: fsy_bench_core [directory for the temporary files]
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */

#include "fieldsync.h"

#include <cjson/cJSON.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define N_FULL   2000
#define N_NORMAL 20000
#define N_EXPORT 10000

static void fail(const char *what, const char *msg)
{
    fprintf(stderr, "fsy_bench_core: %s: %s\n", what, msg);
    exit(1);
}

static void check(fsy_replica *r, int rc, const char *what)
{
    if (rc != FSY_OK)
        fail(what, fsy_replica_errmsg(r));
}

static void sql_ok(sqlite3 *db, int rc, const char *what)
{
    if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW)
        fail(what, sqlite3_errmsg(db));
}

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct stats {
    double med, p99;
} stats;

static stats summarize(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    stats s = {v[n / 2], v[(int)(0.99 * (n - 1))]};
    return s;
}

static void rm_db(const char *path)
{
    char p[600];
    remove(path);
    snprintf(p, sizeof(p), "%s-wal", path);
    remove(p);
    snprintf(p, sizeof(p), "%s-shm", path);
    remove(p);
}

static fsy_replica *open_replica(const char *path, int synchronous)
{
    fsy_replica *r = NULL;
    fsy_replica_opts o = FSY_REPLICA_OPTS_INIT;
    o.synchronous = synchronous;
    rm_db(path);
    if (fsy_replica_new(&r) != FSY_OK)
        fail("fsy_replica_new", "out of memory");
    check(r, fsy_replica_open(r, path, &o), "fsy_replica_open");
    check(r, fsy_replica_set_identity(r, "0192f3a0-0000-7000-8000-0000000be4c4", "alice"),
          "fsy_replica_set_identity");
    return r;
}

/* The plain baseline: a file holding only the replica's visits table and indexes. */
static sqlite3 *open_plain(const char *path, const char *replica_path, int synchronous)
{
    sqlite3 *src = NULL, *db = NULL;
    sqlite3_stmt *st = NULL;
    rm_db(path);
    sql_ok(src, sqlite3_open_v2(replica_path, &src, SQLITE_OPEN_READONLY, NULL), "open replica");
    sql_ok(db, sqlite3_open(path, &db), "open plain");
    sql_ok(db,
           sqlite3_exec(db,
                        synchronous == FSY_SYNC_FULL
                            ? "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
                            : "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;",
                        NULL, NULL, NULL),
           "pragmas");
    sql_ok(src,
           sqlite3_prepare_v2(src,
                              "SELECT sql FROM sqlite_schema WHERE tbl_name = 'visits'"
                              " AND sql IS NOT NULL ORDER BY type DESC",
                              -1, &st, NULL),
           "read DDL");
    int n = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        sql_ok(db, sqlite3_exec(db, (const char *)sqlite3_column_text(st, 0), NULL, NULL, NULL),
               "copy DDL");
        n++;
    }
    if (n < 3)
        fail("copy DDL", "expected the visits table and its indexes");
    sqlite3_finalize(st);
    sqlite3_close(src);
    return db;
}

/* A realistic visit: 13 fields, times in UTC, a position, free text. */
typedef struct visit {
    char id[FSY_ID_LEN + 1];
    char customer_id[FSY_ID_LEN + 1];
    char planned_at[32], checkin_at[32], follow_up[16];
    double lat, lon;
    char purpose[96], outcome[160], next_steps[128];
    int satisfaction;
    char json[1024];
} visit;

static void make_uuid(char out[FSY_ID_LEN + 1], uint64_t a, uint64_t b)
{
    snprintf(out, FSY_ID_LEN + 1, "%08x-%04x-7%03x-%04x-%012llx", (unsigned)(a >> 16),
             (unsigned)(a & 0xffff), (unsigned)(b & 0xfff), (unsigned)(0x8000 | (b >> 12 & 0x3fff)),
             (unsigned long long)(b >> 26 & 0xffffffffffffull));
}

static void make_visit(visit *v, int i, const char *customer_id)
{
    static const char *const purposes[] = {"Q4 listing of the new range",
                                           "Shelf check and promotion planning",
                                           "Price negotiation for 2025"};
    memcpy(v->customer_id, customer_id, sizeof(v->customer_id));
    make_uuid(v->id, 0x0192f3a10000ull + (uint64_t)i, 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1));
    snprintf(v->planned_at, sizeof(v->planned_at), "2024-%02d-%02dT%02d:30:00Z", 1 + i % 12,
             1 + i % 28, 8 + i % 9);
    snprintf(v->checkin_at, sizeof(v->checkin_at), "2024-%02d-%02dT%02d:34:12.345Z", 1 + i % 12,
             1 + i % 28, 8 + i % 9);
    snprintf(v->follow_up, sizeof(v->follow_up), "2024-%02d-%02d", 1 + (i + 1) % 12, 1 + i % 28);
    v->lat = 52.520008 + (i % 1000) * 1e-4;
    v->lon = 13.404954 - (i % 700) * 1e-4;
    snprintf(v->purpose, sizeof(v->purpose), "%s", purposes[i % 3]);
    snprintf(v->outcome, sizeof(v->outcome),
             "Store manager agreed to list %d SKUs from next month; wants a display for the "
             "entrance",
             3 + i % 7);
    snprintf(v->next_steps, sizeof(v->next_steps),
             "Send the offer by Friday, book the display, call back about delivery slot %d", i % 5);
    v->satisfaction = 1 + i % 5;
    snprintf(v->json, sizeof(v->json),
             "{\"customer_id\":\"%s\",\"rep\":\"alice\",\"kind\":\"existing-customer\","
             "\"planned_at\":\"%s\",\"checkin_at\":\"%s\",\"checkin_lat\":%.6f,"
             "\"checkin_lon\":%.6f,\"purpose\":\"%s\",\"outcome\":\"%s\",\"next_steps\":\"%s\","
             "\"follow_up\":\"%s\",\"satisfaction\":%d,\"status\":\"in-progress\"}",
             v->customer_id, v->planned_at, v->checkin_at, v->lat, v->lon, v->purpose, v->outcome,
             v->next_steps, v->follow_up, v->satisfaction);
}

static void plain_tx(sqlite3 *db, sqlite3_stmt *begin, sqlite3_stmt *op, sqlite3_stmt *commit)
{
    sql_ok(db, sqlite3_step(begin), "BEGIN");
    sqlite3_reset(begin);
    sql_ok(db, sqlite3_step(op), "write");
    sqlite3_reset(op);
    sql_ok(db, sqlite3_step(commit), "COMMIT");
    sqlite3_reset(commit);
}

/* Push everything pending, accepting each change with v = s. */
static void sync_all(fsy_replica *r, double *export_us, double *ack_us, int *batches)
{
    char *text = NULL;
    size_t len = 0;
    int n = 0;
    for (;;) {
        double t0 = now_us();
        check(r, fsy_push_export(r, 0, 0, &text, &len, &n), "fsy_push_export");
        double t1 = now_us();
        if (export_us)
            *export_us += t1 - t0;
        if (!text)
            break;
        /* The synthetic server: not timed. */
        cJSON *b = cJSON_ParseWithLength(text, len), *ack = cJSON_CreateObject();
        cJSON_AddNumberToObject(ack, "schema", FSY_SCHEMA_VERSION);
        cJSON *res = cJSON_AddArrayToObject(ack, "results");
        const cJSON *ch;
        cJSON_ArrayForEach(ch, cJSON_GetObjectItemCaseSensitive(b, "changes"))
        {
            cJSON *one = cJSON_CreateObject();
            double s = cJSON_GetObjectItemCaseSensitive(ch, "s")->valuedouble;
            cJSON_AddNumberToObject(one, "s", s);
            cJSON_AddTrueToObject(one, "ok");
            cJSON_AddNumberToObject(one, "v", s);
            cJSON_AddItemToArray(res, one);
        }
        char *body = cJSON_PrintUnformatted(ack);
        double t2 = now_us();
        check(r, fsy_push_apply_ack(r, body, strlen(body)), "fsy_push_apply_ack");
        double t3 = now_us();
        if (ack_us)
            *ack_us += t3 - t2;
        if (batches)
            (*batches)++;
        cJSON_free(body);
        cJSON_Delete(ack);
        cJSON_Delete(b);
        fsy_free(text);
    }
}

static void row(const char *what, const char *sync, int n, stats api, stats plain)
{
    printf("%-26s %-6s %6d %9.1f %9.1f %9.1f %9.1f %7.1fx\n", what, sync, n, api.med, api.p99,
           plain.med, plain.p99, api.med / plain.med);
}

static void bench_writes(const char *dir, int synchronous, int n)
{
    char rpath[512], ppath[512], cust[FSY_ID_LEN + 1];
    snprintf(rpath, sizeof(rpath), "%s/fsy-bench-%ld-replica.db", dir, (long)getpid());
    snprintf(ppath, sizeof(ppath), "%s/fsy-bench-%ld-plain.db", dir, (long)getpid());
    const char *sname = synchronous == FSY_SYNC_FULL ? "FULL" : "NORMAL";
    fsy_replica *r = open_replica(rpath, synchronous);
    check(r,
          fsy_replica_insert(r, "customers", "{\"name\":\"Kaufhaus Nord\",\"territory\":\"north\"}",
                             cust),
          "insert customer");
    sqlite3 *db = open_plain(ppath, rpath, synchronous);
    sqlite3_stmt *begin = NULL, *commit = NULL, *ins = NULL, *upd = NULL;
    sql_ok(db, sqlite3_prepare_v2(db, "BEGIN IMMEDIATE", -1, &begin, NULL), "prepare");
    sql_ok(db, sqlite3_prepare_v2(db, "COMMIT", -1, &commit, NULL), "prepare");
    sql_ok(db,
           sqlite3_prepare_v2(db,
                              "INSERT INTO visits(id, customer_id, rep, kind, planned_at,"
                              " checkin_at, checkin_lat, checkin_lon, purpose, outcome,"
                              " next_steps, follow_up, satisfaction, status)"
                              " VALUES(?1, ?2, 'alice', 'existing-customer', ?3, ?4, ?5, ?6,"
                              " ?7, ?8, ?9, ?10, ?11, 'in-progress')",
                              -1, &ins, NULL),
           "prepare");
    sql_ok(db,
           sqlite3_prepare_v2(db, "UPDATE visits SET outcome = ?2, satisfaction = ?3 WHERE id = ?1",
                              -1, &upd, NULL),
           "prepare");

    double *api = malloc(sizeof(double) * (size_t)n), *plain = malloc(sizeof(double) * (size_t)n);
    char(*ids)[FSY_ID_LEN + 1] = malloc(sizeof(*ids) * (size_t)n);
    visit v;
    if (!api || !plain || !ids)
        fail("malloc", "out of memory");

    /* Inserts, API and plain interleaved so both see the same machine state. */
    for (int i = 0; i < n; i++) {
        make_visit(&v, i, cust);
        double t0 = now_us();
        check(r, fsy_replica_insert(r, "visits", v.json, ids[i]), "fsy_replica_insert");
        double t1 = now_us();
        sqlite3_bind_text(ins, 1, v.id, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 2, v.customer_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 3, v.planned_at, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 4, v.checkin_at, -1, SQLITE_STATIC);
        sqlite3_bind_double(ins, 5, v.lat);
        sqlite3_bind_double(ins, 6, v.lon);
        sqlite3_bind_text(ins, 7, v.purpose, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 8, v.outcome, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 9, v.next_steps, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 10, v.follow_up, -1, SQLITE_STATIC);
        sqlite3_bind_int(ins, 11, v.satisfaction);
        plain_tx(db, begin, ins, commit);
        double t2 = now_us();
        api[i] = t1 - t0;
        plain[i] = t2 - t1;
    }
    row("insert visit (13 fields)", sname, n, summarize(api, n), summarize(plain, n));

    /* Updates of 2 fields of a synced visit: each one is a new journal entry. */
    sync_all(r, NULL, NULL, NULL);
    for (int i = 0; i < n; i++) {
        char json[256], outcome[64];
        make_visit(&v, i, cust);
        snprintf(outcome, sizeof(outcome), "Follow-up call done, order %d placed", i);
        snprintf(json, sizeof(json), "{\"outcome\":\"%s\",\"satisfaction\":%d}", outcome,
                 1 + (i + 2) % 5);
        double t0 = now_us();
        check(r, fsy_replica_update(r, "visits", ids[i], json), "fsy_replica_update");
        double t1 = now_us();
        sqlite3_bind_text(upd, 1, v.id, -1, SQLITE_STATIC);
        sqlite3_bind_text(upd, 2, outcome, -1, SQLITE_STATIC);
        sqlite3_bind_int(upd, 3, 1 + (i + 2) % 5);
        plain_tx(db, begin, upd, commit);
        if (sqlite3_changes(db) != 1)
            fail("plain update", "no row changed");
        double t2 = now_us();
        api[i] = t1 - t0;
        plain[i] = t2 - t1;
    }
    row("update 2 fields", sname, n, summarize(api, n), summarize(plain, n));

    sqlite3_finalize(begin);
    sqlite3_finalize(commit);
    sqlite3_finalize(ins);
    sqlite3_finalize(upd);
    sqlite3_close(db);
    fsy_replica_free(r);
    free(api);
    free(plain);
    free(ids);
    rm_db(rpath);
    rm_db(ppath);
}

static void bench_export(const char *dir)
{
    char rpath[512], cust[FSY_ID_LEN + 1];
    snprintf(rpath, sizeof(rpath), "%s/fsy-bench-%ld-export.db", dir, (long)getpid());
    fsy_replica *r = open_replica(rpath, FSY_SYNC_NORMAL);
    check(r,
          fsy_replica_insert(r, "customers", "{\"name\":\"Kaufhaus Nord\",\"territory\":\"north\"}",
                             cust),
          "insert customer");
    visit v;
    for (int i = 1; i < N_EXPORT; i++) {
        make_visit(&v, i, cust);
        check(r, fsy_replica_insert(r, "visits", v.json, NULL), "fsy_replica_insert");
    }
    /* Filled quickly with NORMAL; pushed with the default, FULL, as an app would. */
    fsy_replica_free(r);
    fsy_replica_opts o = FSY_REPLICA_OPTS_INIT;
    if (fsy_replica_new(&r) != FSY_OK)
        fail("fsy_replica_new", "out of memory");
    check(r, fsy_replica_open(r, rpath, &o), "fsy_replica_open");
    int64_t pending = 0;
    check(r, fsy_pending_count(r, &pending), "fsy_pending_count");
    double export_us = 0, ack_us = 0;
    int batches = 0;
    sync_all(r, &export_us, &ack_us, &batches);
    printf("push %lld pending changes (default limits, FULL commits): %d batches, export %.1f ms, "
           "export+ack %.1f ms (%.1f us per change)\n",
           (long long)pending, batches, export_us / 1e3, (export_us + ack_us) / 1e3,
           (export_us + ack_us) / (double)pending);
    fsy_replica_free(r);
    rm_db(rpath);
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : getenv("TMPDIR");
    if (!dir)
        dir = "/tmp";
    double t0 = now_us();
    printf("fieldsync %s core benchmark, SQLite %s, files in %s\n", fsy_version(),
           sqlite3_libversion(), dir);
    printf("per write, microseconds; plain = one prepared INSERT/UPDATE per transaction into an "
           "identical visits table\n");
    printf("%-26s %-6s %6s %9s %9s %9s %9s %8s\n", "write", "sync", "n", "API med", "API p99",
           "plain med", "plain p99", "ratio");
    bench_writes(dir, FSY_SYNC_FULL, N_FULL);
    bench_writes(dir, FSY_SYNC_NORMAL, N_NORMAL);
    bench_export(dir);
    printf("total %.1f s\n", (now_us() - t0) / 1e6);
    return 0;
}
