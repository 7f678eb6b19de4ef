/*
 * test_sqlite_store.c — the SQLite store's file format, on a real file:
 *
 *   migrate_v4    a store written by version 3 (rows as a WITHOUT ROWID table) opens,
 *                 becomes version 4 in place, and every row reads back as it was: values,
 *                 versions, scope columns; a customer's rows are still found through the
 *                 index; writing a row again replaces it (one row, not two)
 *   visit_size    2,000 visits of the usual size (0.5 KB of values, 1.1 KB of versions)
 *                 take under 2.5 KB of file each (they took 4.5 KB when every one spilled
 *                 into an overflow page)
 *   newer_store   a store from a newer fieldsyncd (user_version 99) is refused with a
 *                 message that says so, and left as it was
 *   device_update a device saved again (a push raising its high-water mark, a revoke)
 *                 and its queue report sent again are updated in place: the health view
 *                 shows the latest values, once, and the token still finds the device
 */
#include "fieldsync.h"
#include "fsy_test.h"
#include "store/store.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const fsy_store_ops *ops = &fsy_store_sqlite;
static char g_dir[64];

#define OK(s, call)                                                                                \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        if (rc_ != FSY_OK)                                                                         \
            FSY_FAIL("%s -> %d: %s", #call, rc_, ops->errmsg(s));                                  \
    } while (0)

static void path_of(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", g_dir, name);
}

static void sql_exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        FSY_FAIL("%s: %s", sql, msg ? msg : "?");
}

static int64_t sql_int(const char *file, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    if (sqlite3_open_v2(file, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        FSY_FAIL("%s: %s", sql, sqlite3_errmsg(db));
    int64_t v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* A visit as the daemon stores it: values, and per field [version, device, hlc, user]. */
static void visit_json(int i, char **vals, char **meta)
{
    cJSON *v = cJSON_CreateObject(), *m = cJSON_CreateObject();
    static const char *fields[] = {"customer_id", "rep",         "kind",        "planned_at",
                                   "checkin_at",  "purpose",     "outcome",     "next_steps",
                                   "follow_up",   "checkin_lat", "checkin_lon", "satisfaction",
                                   "status"};
    for (size_t k = 0; k < sizeof(fields) / sizeof(fields[0]); k++) {
        char text[80];
        snprintf(text, sizeof(text), "%s of visit %d, as a rep would type it", fields[k], i);
        cJSON_AddStringToObject(v, fields[k], text);
        cJSON *e = cJSON_CreateArray();
        cJSON_AddItemToArray(e, cJSON_CreateNumber(1000 + i));
        cJSON_AddItemToArray(e, cJSON_CreateString("01a20522-4102-7531-a19b-8b39c68c4871"));
        cJSON_AddItemToArray(e, cJSON_CreateString("01a2052249ad0000"));
        cJSON_AddItemToArray(e, cJSON_CreateString("r0000"));
        cJSON_AddItemToObject(m, fields[k], e);
    }
    *vals = cJSON_PrintUnformatted(v);
    *meta = cJSON_PrintUnformatted(m);
    cJSON_Delete(v);
    cJSON_Delete(m);
}

static void visit_id(int i, char out[37])
{
    snprintf(out, 37, "01a20522-0000-7000-8000-%012d", i);
}

static const char CUSTOMER[] = "01a20522-4905-7be3-8476-b918879d69a4";

/* The tables a version-3 store had that matter here, in version 3's layout. */
static void make_v3_store(const char *file, int n_visits)
{
    sqlite3 *db = NULL;
    if (sqlite3_open(file, &db) != SQLITE_OK)
        FSY_FAIL("open %s", file);
    sql_exec(db, "PRAGMA journal_mode = WAL; BEGIN;"
                 "CREATE TABLE rows(tbl INTEGER NOT NULL, id TEXT NOT NULL,"
                 " ver INTEGER NOT NULL, vals TEXT NOT NULL, meta TEXT NOT NULL,"
                 " territory TEXT NOT NULL, owner TEXT NOT NULL, customer_id TEXT NOT NULL,"
                 " info_level INTEGER NOT NULL, PRIMARY KEY(tbl, id)) WITHOUT ROWID;"
                 "CREATE INDEX rows_customer ON rows(customer_id);"
                 "CREATE TABLE changes(q INTEGER PRIMARY KEY, kind TEXT NOT NULL,"
                 " tbl INTEGER NOT NULL, id TEXT NOT NULL, device TEXT NOT NULL,"
                 " user TEXT NOT NULL, hlc TEXT NOT NULL, fields TEXT, old_territory TEXT,"
                 " at_ms INTEGER NOT NULL, territory TEXT, owner TEXT);"
                 "CREATE INDEX changes_territory ON changes(territory, q);"
                 "CREATE INDEX changes_owner ON changes(owner, q) WHERE owner IS NOT NULL;");
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "INSERT INTO rows VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)", -1,
                           &st, NULL) != SQLITE_OK)
        FSY_FAIL("prepare: %s", sqlite3_errmsg(db));
    sqlite3_bind_int(st, 1, 0);
    sqlite3_bind_text(st, 2, CUSTOMER, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, 7);
    sqlite3_bind_text(st, 4, "{\"name\":\"Kaufhaus Nord\",\"territory\":\"t001\"}", -1,
                      SQLITE_STATIC);
    sqlite3_bind_text(st, 5, "{\"name\":[7,\"d\",\"h\",\"admin\"]}", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, "t001", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 8, "", -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 9, 0);
    if (sqlite3_step(st) != SQLITE_DONE)
        FSY_FAIL("insert customer: %s", sqlite3_errmsg(db));
    for (int i = 0; i < n_visits; i++) {
        char id[37], *vals, *meta;
        visit_id(i, id);
        visit_json(i, &vals, &meta);
        sqlite3_reset(st);
        sqlite3_bind_int(st, 1, 2);
        sqlite3_bind_text(st, 2, id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(st, 3, 1000 + i);
        sqlite3_bind_text(st, 4, vals, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 5, meta, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 6, "t001", -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 7, "r0000", -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 8, CUSTOMER, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 9, 0);
        if (sqlite3_step(st) != SQLITE_DONE)
            FSY_FAIL("insert visit: %s", sqlite3_errmsg(db));
        free(vals);
        free(meta);
    }
    sqlite3_finalize(st);
    sql_exec(db, "PRAGMA user_version = 3; COMMIT;");
    sqlite3_close(db);
}

typedef struct {
    int n;
    int visits;
} counted;

static int count_row(const fsy_srow *row, void *ud)
{
    counted *c = ud;
    c->n++;
    c->visits += row->tbl == 2;
    return 0;
}

static void test_migrate_v4(void)
{
    char file[128];
    path_of(file, sizeof(file), "v3.db");
    make_v3_store(file, 50);

    void *s = NULL;
    char err[300];
    if (ops->open(&s, file, err, sizeof(err)) != FSY_OK)
        FSY_FAIL("open a version-3 store: %s", err);
    ASSERT_EQ(sql_int(file, "PRAGMA user_version"), 4);
    ASSERT_EQ(sql_int(file, "SELECT count(*) FROM sqlite_schema WHERE name = 'rows'"
                            " AND sql LIKE '%WITHOUT ROWID%'"),
              0);
    ASSERT_EQ(sql_int(file, "SELECT count(*) FROM rows"), 51);

    fsy_srow row;
    fsy_srow_init(&row);
    char id[37], *vals, *meta;
    visit_id(17, id);
    visit_json(17, &vals, &meta);
    OK(s, ops->row_get(s, 2, id, &row));
    ASSERT_TRUE(row.exists);
    ASSERT_EQ(row.ver, 1017);
    ASSERT_STREQ(row.territory, "t001");
    ASSERT_STREQ(row.owner, "r0000");
    ASSERT_STREQ(row.customer_id, CUSTOMER);
    char *got_vals = cJSON_PrintUnformatted(row.vals), *got_meta = cJSON_PrintUnformatted(row.meta);
    ASSERT_STREQ(got_vals, vals);
    ASSERT_STREQ(got_meta, meta);
    free(got_vals);
    free(got_meta);
    free(vals);
    free(meta);

    counted c = {0, 0};
    OK(s, ops->rows_of_customer(s, CUSTOMER, count_row, &c));
    ASSERT_EQ(c.n, 50);
    ASSERT_EQ(c.visits, 50);

    /* Writing the row again (a later edit) replaces it in place. */
    row.ver = 2000;
    cJSON_ReplaceItemInObject(row.vals, "status", cJSON_CreateString("done"));
    OK(s, ops->begin(s));
    OK(s, ops->row_put(s, &row));
    OK(s, ops->commit(s));
    fsy_srow again;
    fsy_srow_init(&again);
    OK(s, ops->row_get(s, 2, id, &again));
    ASSERT_EQ(again.ver, 2000);
    ASSERT_STREQ(cJSON_GetObjectItem(again.vals, "status")->valuestring, "done");
    fsy_srow_clear(&again);
    fsy_srow_clear(&row);
    ops->close(s);
    ASSERT_EQ(sql_int(file, "SELECT count(*) FROM rows"), 51);

    /* Opening it again changes nothing. */
    if (ops->open(&s, file, err, sizeof(err)) != FSY_OK)
        FSY_FAIL("reopen: %s", err);
    ops->close(s);
    ASSERT_EQ(sql_int(file, "PRAGMA user_version"), 4);
    ASSERT_EQ(sql_int(file, "SELECT count(*) FROM rows"), 51);
    printf("ok migrate_v4\n");
}

static void test_visit_size(void)
{
    enum { N = 2000 };
    char file[128];
    path_of(file, sizeof(file), "size.db");
    void *s = NULL;
    char err[300];
    if (ops->open(&s, file, err, sizeof(err)) != FSY_OK)
        FSY_FAIL("open: %s", err);
    int64_t pages0 = sql_int(file, "PRAGMA page_count");
    OK(s, ops->begin(s));
    for (int i = 0; i < N; i++) {
        char *vals, *meta;
        fsy_srow row;
        fsy_srow_init(&row);
        row.tbl = 2;
        visit_id(i, row.id);
        row.exists = true;
        row.ver = 1000 + i;
        visit_json(i, &vals, &meta);
        cJSON_Delete(row.vals);
        cJSON_Delete(row.meta);
        row.vals = cJSON_Parse(vals);
        row.meta = cJSON_Parse(meta);
        snprintf(row.territory, sizeof(row.territory), "t001");
        snprintf(row.owner, sizeof(row.owner), "r0000");
        snprintf(row.customer_id, sizeof(row.customer_id), "%s", CUSTOMER);
        OK(s, ops->row_put(s, &row));
        fsy_srow_clear(&row);
        free(vals);
        free(meta);
    }
    OK(s, ops->commit(s));
    ops->close(s); /* the last connection checkpoints the WAL into the file */
    int64_t bytes =
        (sql_int(file, "PRAGMA page_count") - pages0) * sql_int(file, "PRAGMA page_size");
    printf("   %d visits: %.0f bytes of file each\n", N, (double)bytes / N);
    ASSERT_TRUE(bytes / N < 2500);
    printf("ok visit_size\n");
}

static void test_newer_store(void)
{
    char file[128];
    path_of(file, sizeof(file), "newer.db");
    sqlite3 *db = NULL;
    if (sqlite3_open(file, &db) != SQLITE_OK)
        FSY_FAIL("open %s", file);
    sql_exec(db, "CREATE TABLE future(x); PRAGMA user_version = 99;");
    sqlite3_close(db);

    void *s = NULL;
    char err[300] = "";
    ASSERT_TRUE(ops->open(&s, file, err, sizeof(err)) != FSY_OK);
    ASSERT_CONTAINS(err, "schema version 99");
    ASSERT_CONTAINS(err, "upgrade fieldsyncd");
    ASSERT_EQ(sql_int(file, "PRAGMA user_version"), 99);
    ASSERT_EQ(sql_int(file, "SELECT count(*) FROM sqlite_schema"), 1);
    printf("ok newer_store\n");
}

typedef struct {
    int n;
    fsy_device_health h;
} health_seen;

static int on_health(const fsy_device_health *h, void *ud)
{
    health_seen *seen = ud;
    seen->n++;
    seen->h = *h;
    return 0;
}

static void test_device_update(void)
{
    char file[128];
    path_of(file, sizeof(file), "dev.db");
    void *s = NULL;
    char err[300];
    if (ops->open(&s, file, err, sizeof(err)) != FSY_OK)
        FSY_FAIL("open: %s", err);
    fsy_user u;
    memset(&u, 0, sizeof(u));
    snprintf(u.name, sizeof(u.name), "alice");
    u.role = FSY_ROLE_REP;
    snprintf(u.territory, sizeof(u.territory), "t001");
    snprintf(u.supervisor, sizeof(u.supervisor), "sue");
    fsy_device d;
    memset(&d, 0, sizeof(d));
    snprintf(d.id, sizeof(d.id), "01a20522-aaaa-7000-8000-000000000001");
    snprintf(d.user, sizeof(d.user), "alice");
    memset(d.token_hash, 0x5a, sizeof(d.token_hash));
    d.created_ms = 1000;
    OK(s, ops->begin(s));
    OK(s, ops->user_put(s, &u));
    OK(s, ops->device_put(s, &d));
    OK(s, ops->device_report(s, d.id, 7, 2, 2000));
    OK(s, ops->commit(s));

    d.hwm = 42;
    d.cursor = 99;
    d.last_sync_ms = 3000;
    snprintf(d.app_version, sizeof(d.app_version), "fieldsync/0.2");
    OK(s, ops->begin(s));
    OK(s, ops->device_put(s, &d));
    OK(s, ops->device_report(s, d.id, 0, 1, 3000));
    OK(s, ops->commit(s));

    health_seen seen;
    memset(&seen, 0, sizeof(seen));
    OK(s, ops->device_health(s, "sue", on_health, &seen));
    ASSERT_EQ(seen.n, 1);
    ASSERT_EQ(seen.h.d.hwm, 42);
    ASSERT_EQ(seen.h.d.cursor, 99);
    ASSERT_EQ(seen.h.d.created_ms, 1000);
    ASSERT_STREQ(seen.h.d.app_version, "fieldsync/0.2");
    ASSERT_EQ(seen.h.pending, 0);
    ASSERT_EQ(seen.h.parked, 1);
    ASSERT_EQ(seen.h.reported_ms, 3000);

    d.revoked_ms = 4000;
    OK(s, ops->begin(s));
    OK(s, ops->device_put(s, &d));
    OK(s, ops->commit(s));
    fsy_device by_token;
    memset(&by_token, 0, sizeof(by_token));
    OK(s, ops->device_by_token(s, d.token_hash, &by_token));
    ASSERT_STREQ(by_token.id, d.id);
    ASSERT_EQ(by_token.revoked_ms, 4000);
    ASSERT_EQ(by_token.hwm, 42);
    ops->close(s);
    ASSERT_EQ(sql_int(file, "SELECT count(*) FROM devices"), 1);
    ASSERT_EQ(sql_int(file, "SELECT count(*) FROM device_reports"), 1);
    printf("ok device_update\n");
}

static void remove_dir(void)
{
    static const char *names[] = {"v3.db",        "v3.db-wal",   "v3.db-shm",  "size.db",
                                  "size.db-wal",  "size.db-shm", "newer.db",   "newer.db-wal",
                                  "newer.db-shm", "dev.db",      "dev.db-wal", "dev.db-shm"};
    char p[128];
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        path_of(p, sizeof(p), names[i]);
        unlink(p);
    }
    rmdir(g_dir);
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    snprintf(g_dir, sizeof(g_dir), "/tmp/fsy-sqlite-store-XXXXXX");
    if (!mkdtemp(g_dir))
        FSY_FAIL("mkdtemp");
    atexit(remove_dir);
    test_migrate_v4();
    test_visit_size();
    test_newer_store();
    test_device_update();
    printf("PASS\n");
    return 0;
}
