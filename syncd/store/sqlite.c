/*
 * sqlite.c — the embedded default store: one SQLite file in WAL mode with
 * synchronous=FULL, so a commit that returned is on disk before the daemon sends
 * an acknowledgement. One connection, used by one thread at a time (the daemon's
 * worker thread once it serves).
 *
 * Change-log order: SQLite has a single writer, so the order in which server
 * sequence numbers are assigned (INTEGER PRIMARY KEY) is the commit order, and a
 * pull can never skip a change that commits late. The PostgreSQL store cannot
 * rely on this (docs/operations.md).
 */
#include "store.h"
#include "fieldsync.h"

#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct sq {
    sqlite3 *db;
    char err[FSY_STORE_ERR_LEN];
    bool in_group; /* group_begin ran: requests are savepoints in one transaction */
    bool in_req;   /* in a group: a request's savepoint is open */
} sq;

/* The schema as version 1 made it; the migrations below bring any store, a new one too,
 * to the current version (SQLITE_STORE_VERSION) in the transaction that opens it. */
#define SQLITE_STORE_VERSION 4

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS users(name TEXT PRIMARY KEY, role INTEGER NOT NULL,"
    " territory TEXT NOT NULL DEFAULT '', supervisor TEXT NOT NULL DEFAULT '',"
    " pw_hash TEXT NOT NULL DEFAULT '', created_ms INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS enroll_codes(hash BLOB PRIMARY KEY, user TEXT NOT NULL,"
    " expires_ms INTEGER NOT NULL, used_ms INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS devices(id TEXT PRIMARY KEY, user TEXT NOT NULL,"
    " token_hash BLOB NOT NULL UNIQUE, created_ms INTEGER NOT NULL,"
    " revoked_ms INTEGER NOT NULL DEFAULT 0, hwm INTEGER NOT NULL DEFAULT 0,"
    " cursor INTEGER NOT NULL DEFAULT 0, last_sync_ms INTEGER NOT NULL DEFAULT 0,"
    " skew_ms INTEGER NOT NULL DEFAULT 0, app_version TEXT NOT NULL DEFAULT '');"
    "CREATE TABLE IF NOT EXISTS push_results(device TEXT NOT NULL, seq INTEGER NOT NULL,"
    " hash BLOB NOT NULL, result TEXT NOT NULL, PRIMARY KEY(device, seq)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS rows(tbl INTEGER NOT NULL, id TEXT NOT NULL,"
    " ver INTEGER NOT NULL, vals TEXT NOT NULL, meta TEXT NOT NULL, territory TEXT NOT NULL,"
    " owner TEXT NOT NULL, customer_id TEXT NOT NULL, info_level INTEGER NOT NULL,"
    " PRIMARY KEY(tbl, id)) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS rows_customer ON rows(customer_id);"
    "CREATE TABLE IF NOT EXISTS changes(q INTEGER PRIMARY KEY, kind TEXT NOT NULL,"
    " tbl INTEGER NOT NULL, id TEXT NOT NULL, device TEXT NOT NULL, user TEXT NOT NULL,"
    " hlc TEXT NOT NULL, fields TEXT, old_territory TEXT, at_ms INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS conflicts(n INTEGER PRIMARY KEY, tbl INTEGER NOT NULL,"
    " id TEXT NOT NULL, field TEXT NOT NULL, kept TEXT, other TEXT, kept_device TEXT,"
    " kept_user TEXT, kept_hlc TEXT, other_device TEXT, other_user TEXT, other_hlc TEXT,"
    " q INTEGER NOT NULL, at_ms INTEGER NOT NULL, clamped INTEGER NOT NULL DEFAULT 0,"
    " resolved_by TEXT, resolved_ms INTEGER);"
    "CREATE INDEX IF NOT EXISTS conflicts_row ON conflicts(tbl, id);"
    "CREATE TABLE IF NOT EXISTS events(n INTEGER PRIMARY KEY, kind TEXT NOT NULL,"
    " device TEXT, detail TEXT, at_ms INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS device_reports(device TEXT PRIMARY KEY,"
    " pending INTEGER NOT NULL, parked INTEGER NOT NULL, at_ms INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS rows_review_visit ON rows(json_extract(vals, '$.visit_id'))"
    " WHERE tbl = 4;"
    "CREATE INDEX IF NOT EXISTS conflicts_open ON conflicts(resolved_ms);";

/* Version 3: the change log keeps the scope a change left its row in, so a pull skips
 * other territories' entries without a join (entries from version 2 stay NULL and
 * pass the prefilter). */
static const char migrate_v3_sql[] =
    "ALTER TABLE changes ADD COLUMN territory TEXT;"
    "ALTER TABLE changes ADD COLUMN owner TEXT;"
    "CREATE INDEX changes_territory ON changes(territory, q);"
    "CREATE INDEX changes_owner ON changes(owner, q) WHERE owner IS NOT NULL;"
    "PRAGMA user_version = 3;";

/* Version 4: rows becomes a rowid table with the scope columns ahead of the JSON. As a
 * WITHOUT ROWID table, a row of more than about 1 KB (a visit: 0.5 KB of values, 1.1 KB
 * of versions) went to an overflow page that held 1.2 KB and wasted 2.8 KB, so a visit
 * cost 4.5 KB on disk and two page writes, and reading a row's scope for a pull read the
 * overflow page too. A rowid table keeps such rows in the leaf page. */
static const char migrate_v4_sql[] =
    "CREATE TABLE rows_v4(tbl INTEGER NOT NULL, id TEXT NOT NULL, ver INTEGER NOT NULL,"
    " territory TEXT NOT NULL, owner TEXT NOT NULL, customer_id TEXT NOT NULL,"
    " info_level INTEGER NOT NULL, vals TEXT NOT NULL, meta TEXT NOT NULL,"
    " PRIMARY KEY(tbl, id));"
    "INSERT INTO rows_v4(tbl, id, ver, territory, owner, customer_id, info_level, vals, meta)"
    " SELECT tbl, id, ver, territory, owner, customer_id, info_level, vals, meta FROM rows"
    " ORDER BY tbl, id;"
    "DROP TABLE rows;"
    "ALTER TABLE rows_v4 RENAME TO rows;"
    "CREATE INDEX rows_customer ON rows(customer_id);"
    "CREATE INDEX rows_review_visit ON rows(json_extract(vals, '$.visit_id')) WHERE tbl = 4;"
    "PRAGMA user_version = 4;";

static int fail(sq *s, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(sq *s, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->err, sizeof(s->err), fmt, ap);
    va_end(ap);
    return code;
}

static int sqlfail(sq *s, int rc, const char *what)
{
    int code = (rc & 0xff) == SQLITE_BUSY      ? FSY_EBUSY
               : (rc & 0xff) == SQLITE_CORRUPT ? FSY_ECORRUPT
                                               : FSY_ERROR;
    return fail(s, code, "store: %s: %s", what, sqlite3_errmsg(s->db));
}

/* Prepared statements are cached per SQL text pointer (each call site has its own). */
#define N_CACHE 48

typedef struct stmt_cache {
    const char *sql[N_CACHE];
    sqlite3_stmt *st[N_CACHE];
} stmt_cache;

typedef struct sqx {
    sq base;
    stmt_cache c;
} sqx;

static int prep(sq *s, const char *sql, sqlite3_stmt **out)
{
    sqx *x = (sqx *)s;
    for (int i = 0; i < N_CACHE; i++) {
        if (x->c.sql[i] == sql) {
            *out = x->c.st[i];
            sqlite3_reset(*out);
            sqlite3_clear_bindings(*out);
            return 0;
        }
        if (!x->c.sql[i]) {
            int rc =
                sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &x->c.st[i], NULL);
            if (rc != SQLITE_OK)
                return sqlfail(s, rc, "prepare");
            x->c.sql[i] = sql;
            *out = x->c.st[i];
            return 0;
        }
    }
    return fail(s, FSY_ERROR, "store: statement cache full");
}

/* A statement that calls back while it steps (a log read, a customer's rows) is cached
 * too, unless the callback runs the same statement again while it is still stepping:
 * that inner use gets a private statement, which end_iter finalizes. */
static int prep_iter(sq *s, const char *sql, sqlite3_stmt **out, bool *is_private)
{
    sqx *x = (sqx *)s;
    *is_private = false;
    for (int i = 0; i < N_CACHE && x->c.sql[i]; i++) {
        if (x->c.sql[i] == sql && sqlite3_stmt_busy(x->c.st[i])) {
            int rc = sqlite3_prepare_v2(s->db, sql, -1, out, NULL);
            if (rc != SQLITE_OK)
                return sqlfail(s, rc, "prepare");
            *is_private = true;
            return 0;
        }
    }
    return prep(s, sql, out);
}

static void end_iter(sqlite3_stmt *st, bool is_private)
{
    if (is_private)
        sqlite3_finalize(st);
    else
        sqlite3_reset(st);
}

static int done(sq *s, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : sqlfail(s, rc, what);
}

static int user_version(sqlite3 *db)
{
    sqlite3_stmt *st;
    int v = -1;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return v;
}

static int sq_open(void **ctx, const char *dsn, char *err, size_t errlen)
{
    sqx *x = calloc(1, sizeof(*x));
    if (!x) {
        snprintf(err, errlen, "out of memory");
        return FSY_ENOMEM;
    }
    sq *s = &x->base;
    /* SQLite's default (serialized) mode takes the connection's mutex in every call,
     * sqlite3_column_* included, and a global one in every allocation to keep memory
     * statistics nobody reads: together 6% of the worker's time. A connection here is
     * one thread's at a time (the daemon hands it to its worker once), which is what
     * NOMUTEX asks for. Memory statistics can only be turned off before SQLite starts;
     * later calls fail harmlessly. */
    static bool is_configured;
    if (!is_configured) {
        sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
        is_configured = true;
    }
    int rc = sqlite3_open_v2(
        dsn, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_busy_timeout(s->db, 5000);
        rc = sqlite3_exec(
            s->db,
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA cache_size = -4096;"
            /* Each request of a group commit is a savepoint: the page images it keeps to
             * roll one back went to a temp file past 64 KB, two pwrites per page, two
             * thirds of the worker's pwrites. They are only ever needed in this process. */
            " PRAGMA temp_store = MEMORY;"
            " PRAGMA foreign_keys = OFF;",
            NULL, NULL, NULL);
    }
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    int version = rc == SQLITE_OK ? user_version(s->db) : 0;
    if (version > SQLITE_STORE_VERSION) {
        snprintf(err, errlen,
                 "cannot open store %s: it has schema version %d; this fieldsyncd knows up to"
                 " %d (upgrade fieldsyncd)",
                 dsn, version, SQLITE_STORE_VERSION);
        sqlite3_close(s->db);
        free(x);
        return FSY_ERROR;
    }
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(s->db, schema_sql, NULL, NULL, NULL);
    if (rc == SQLITE_OK && user_version(s->db) < 3)
        rc = sqlite3_exec(s->db, migrate_v3_sql, NULL, NULL, NULL);
    if (rc == SQLITE_OK && user_version(s->db) < 4)
        rc = sqlite3_exec(s->db, migrate_v4_sql, NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "cannot open store %s: %s", dsn,
                 s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
        sqlite3_close(s->db);
        free(x);
        return FSY_ERROR;
    }
    *ctx = x;
    return 0;
}

static void sq_close(void *ctx)
{
    sqx *x = ctx;
    if (!x)
        return;
    for (int i = 0; i < N_CACHE; i++)
        sqlite3_finalize(x->c.st[i]);
    sqlite3_close(x->base.db);
    free(x);
}

static const char *sq_errmsg(void *ctx)
{
    return ((sq *)ctx)->err;
}

static int exec(sq *s, const char *sql)
{
    sqlite3_stmt *st;
    int rc = prep(s, sql, &st);
    return rc ? rc : done(s, st, sql);
}

static const char SQL_BEGIN[] = "BEGIN IMMEDIATE";
static const char SQL_COMMIT[] = "COMMIT";
static const char SQL_ROLLBACK[] = "ROLLBACK";

static int sq_begin(void *ctx)
{
    sq *s = ctx;
    if (!s->in_group)
        return exec(s, SQL_BEGIN);
    if (s->in_req)
        return fail(s, FSY_EMISUSE, "a request's transaction is already open");
    /* SQLite rolls a whole transaction back on some errors (disk full, I/O): then the
     * group is gone, and a savepoint would quietly start a transaction of its own. */
    if (sqlite3_get_autocommit(s->db))
        return fail(s, FSY_ERROR, "the store rolled this batch back after an error");
    int rc = exec(s, "SAVEPOINT fsy_req");
    s->in_req = rc == 0;
    return rc;
}

static int sq_commit(void *ctx)
{
    sq *s = ctx;
    if (!s->in_group)
        return exec(s, SQL_COMMIT);
    s->in_req = false;
    return exec(s, "RELEASE fsy_req");
}

static void sq_rollback(void *ctx)
{
    sq *s = ctx;
    char keep[FSY_STORE_ERR_LEN];
    memcpy(keep, s->err, sizeof(keep));
    if (s->in_group) {
        if (s->in_req) {
            exec(s, "ROLLBACK TO fsy_req");
            exec(s, "RELEASE fsy_req");
            s->in_req = false;
        }
    } else if (!sqlite3_get_autocommit(s->db)) {
        exec(s, SQL_ROLLBACK);
    }
    memcpy(s->err, keep, sizeof(keep));
}

static int sq_group_begin(void *ctx)
{
    sq *s = ctx;
    if (s->in_group || !sqlite3_get_autocommit(s->db))
        return fail(s, FSY_EMISUSE, "a transaction is already open");
    int rc = exec(s, SQL_BEGIN);
    s->in_group = rc == 0;
    return rc;
}

static int sq_group_end(void *ctx, bool is_commit)
{
    sq *s = ctx;
    if (!s->in_group)
        return fail(s, FSY_EMISUSE, "no group is open");
    if (s->in_req)
        sq_rollback(s); /* a request left its work open: it was not acknowledged */
    s->in_group = false;
    if (is_commit && sqlite3_get_autocommit(s->db))
        return fail(s, FSY_ERROR, "the store rolled this batch back after an error");
    int rc = is_commit ? exec(s, SQL_COMMIT) : FSY_OK;
    if (!is_commit || rc != 0)
        sq_rollback(s);
    return rc;
}

static void copy_text(char *dst, size_t n, sqlite3_stmt *st, int col)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    size_t len = t ? (size_t)sqlite3_column_bytes(st, col) : 0;
    if (len >= n)
        len = n - 1; /* truncated as snprintf would, without its cost on every column */
    if (len)
        memcpy(dst, t, len);
    dst[len] = '\0';
}

static int sq_user_put(void *ctx, const fsy_user *u)
{
    static const char sql[] = "INSERT OR REPLACE INTO users(name, role, territory, supervisor,"
                              " pw_hash, created_ms) VALUES(?1, ?2, ?3, ?4, ?5, ?6)";
    sqlite3_stmt *st;
    int rc = prep(ctx, sql, &st);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, u->name, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, u->role);
    sqlite3_bind_text(st, 3, u->territory, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, u->supervisor, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, u->pw_hash, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, u->created_ms);
    return done(ctx, st, "saving a user");
}

static int sq_user_get(void *ctx, const char *name, fsy_user *out)
{
    static const char sql[] = "SELECT name, role, territory, supervisor, pw_hash, created_ms"
                              " FROM users WHERE name = ?1";
    sqlite3_stmt *st;
    int rc = prep(ctx, sql, &st);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        memset(out, 0, sizeof(*out));
        copy_text(out->name, sizeof(out->name), st, 0);
        out->role = sqlite3_column_int(st, 1);
        copy_text(out->territory, sizeof(out->territory), st, 2);
        copy_text(out->supervisor, sizeof(out->supervisor), st, 3);
        copy_text(out->pw_hash, sizeof(out->pw_hash), st, 4);
        out->created_ms = sqlite3_column_int64(st, 5);
        rc = 0;
    } else {
        rc = rc == SQLITE_DONE ? fail(ctx, FSY_ENOTFOUND, "no user \"%.100s\"", name)
                               : sqlfail(ctx, rc, "reading a user");
    }
    sqlite3_reset(st);
    return rc;
}

static int sq_code_put(void *ctx, const unsigned char hash[32], const char *user,
                       int64_t expires_ms)
{
    static const char sql[] = "INSERT INTO enroll_codes(hash, user, expires_ms) VALUES(?1, ?2, ?3)";
    sqlite3_stmt *st;
    int rc = prep(ctx, sql, &st);
    if (rc)
        return rc;
    sqlite3_bind_blob(st, 1, hash, 32, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, user, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, expires_ms);
    return done(ctx, st, "saving an enrolment code");
}

static int sq_code_take(void *ctx, const unsigned char hash[32], int64_t now_ms, char user_out[101])
{
    static const char sel[] = "SELECT user FROM enroll_codes WHERE hash = ?1 AND used_ms = 0"
                              " AND expires_ms > ?2";
    static const char upd[] = "UPDATE enroll_codes SET used_ms = ?2 WHERE hash = ?1";
    sqlite3_stmt *st;
    int rc = prep(ctx, sel, &st);
    if (rc)
        return rc;
    sqlite3_bind_blob(st, 1, hash, 32, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, now_ms);
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(st);
        return rc == SQLITE_DONE
                   ? fail(ctx, FSY_ENOTFOUND, "enrolment code unknown, used or expired")
                   : sqlfail(ctx, rc, "reading an enrolment code");
    }
    copy_text(user_out, 101, st, 0);
    sqlite3_reset(st);
    if ((rc = prep(ctx, upd, &st)) != 0)
        return rc;
    sqlite3_bind_blob(st, 1, hash, 32, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, now_ms);
    return done(ctx, st, "using an enrolment code");
}

#define DEVICE_COLS                                                                                \
    "id, user, token_hash, created_ms, revoked_ms, hwm, cursor, last_sync_ms, skew_ms, "           \
    "app_version"

static void read_device(sqlite3_stmt *st, fsy_device *d)
{
    memset(d, 0, sizeof(*d));
    copy_text(d->id, sizeof(d->id), st, 0);
    copy_text(d->user, sizeof(d->user), st, 1);
    if (sqlite3_column_bytes(st, 2) == 32)
        memcpy(d->token_hash, sqlite3_column_blob(st, 2), 32);
    d->created_ms = sqlite3_column_int64(st, 3);
    d->revoked_ms = sqlite3_column_int64(st, 4);
    d->hwm = sqlite3_column_int64(st, 5);
    d->cursor = sqlite3_column_int64(st, 6);
    d->last_sync_ms = sqlite3_column_int64(st, 7);
    d->skew_ms = sqlite3_column_int64(st, 8);
    copy_text(d->app_version, sizeof(d->app_version), st, 9);
}

static int sq_device_put(void *ctx, const fsy_device *d)
{
    /* Every push and most pulls write their device: an upsert updates the row in place,
     * where INSERT OR REPLACE deleted and re-inserted it in the table and both indexes.
     * A device's user, token and creation never change (enrolling again makes a new
     * device), so the SET list leaves the indexed columns alone. */
    static const char sql[] =
        "INSERT INTO devices(id, user, token_hash, created_ms, revoked_ms, hwm, cursor,"
        " last_sync_ms, skew_ms, app_version) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
        " ON CONFLICT(id) DO UPDATE SET revoked_ms = excluded.revoked_ms, hwm = excluded.hwm,"
        " cursor = excluded.cursor, last_sync_ms = excluded.last_sync_ms,"
        " skew_ms = excluded.skew_ms, app_version = excluded.app_version";
    sqlite3_stmt *st;
    int rc = prep(ctx, sql, &st);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, d->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, d->user, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 3, d->token_hash, 32, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, d->created_ms);
    sqlite3_bind_int64(st, 5, d->revoked_ms);
    sqlite3_bind_int64(st, 6, d->hwm);
    sqlite3_bind_int64(st, 7, d->cursor);
    sqlite3_bind_int64(st, 8, d->last_sync_ms);
    sqlite3_bind_int64(st, 9, d->skew_ms);
    sqlite3_bind_text(st, 10, d->app_version, -1, SQLITE_STATIC);
    return done(ctx, st, "saving a device");
}

static int device_one(sq *s, const char *sql, const void *key, int keylen, fsy_device *out)
{
    sqlite3_stmt *st;
    int rc = prep(s, sql, &st);
    if (rc)
        return rc;
    if (keylen)
        sqlite3_bind_blob(st, 1, key, keylen, SQLITE_STATIC);
    else
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        read_device(st, out);
        rc = 0;
    } else {
        rc = rc == SQLITE_DONE ? fail(s, FSY_ENOTFOUND, "no such device")
                               : sqlfail(s, rc, "reading a device");
    }
    sqlite3_reset(st);
    return rc;
}

static int sq_device_get(void *ctx, const char *id, fsy_device *out)
{
    static const char sql[] = "SELECT " DEVICE_COLS " FROM devices WHERE id = ?1";
    return device_one(ctx, sql, id, 0, out);
}

static int sq_device_by_token(void *ctx, const unsigned char hash[32], fsy_device *out)
{
    static const char sql[] = "SELECT " DEVICE_COLS " FROM devices WHERE token_hash = ?1";
    return device_one(ctx, sql, hash, 32, out);
}

static int sq_device_list(void *ctx, fsy_device_cb cb, void *userdata)
{
    static const char sql[] = "SELECT " DEVICE_COLS " FROM devices ORDER BY user, created_ms";
    sqlite3_stmt *st;
    int rc = prep(ctx, sql, &st);
    if (rc)
        return rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        fsy_device d;
        read_device(st, &d);
        int crc = cb(&d, userdata);
        if (crc) {
            sqlite3_reset(st);
            return crc;
        }
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : sqlfail(ctx, rc, "listing devices");
}

static int sq_result_get(void *ctx, const char *device, int64_t seq, unsigned char hash_out[32],
                         char **json_out)
{
    static const char sql[] =
        "SELECT hash, result FROM push_results WHERE device = ?1 AND seq = ?2";
    sqlite3_stmt *st;
    *json_out = NULL;
    int rc = prep(ctx, sql, &st);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, device, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, seq);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        if (sqlite3_column_bytes(st, 0) == 32)
            memcpy(hash_out, sqlite3_column_blob(st, 0), 32);
        const char *t = (const char *)sqlite3_column_text(st, 1);
        *json_out = malloc(strlen(t) + 1);
        if (*json_out)
            memcpy(*json_out, t, strlen(t) + 1);
        rc = *json_out ? 0 : fail(ctx, FSY_ENOMEM, "out of memory");
    } else {
        rc = rc == SQLITE_DONE ? FSY_ENOTFOUND : sqlfail(ctx, rc, "reading a push result");
    }
    sqlite3_reset(st);
    return rc;
}

static int sq_result_put(void *ctx, const char *device, int64_t seq, const unsigned char hash[32],
                         const char *json)
{
    static const char sql[] = "INSERT OR REPLACE INTO push_results(device, seq, hash, result)"
                              " VALUES(?1, ?2, ?3, ?4)";
    static const char prune[] = "DELETE FROM push_results WHERE device = ?1 AND seq < ?2";
    sqlite3_stmt *st;
    int rc = prep(ctx, sql, &st);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, device, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, seq);
    sqlite3_bind_blob(st, 3, hash, 32, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, json, -1, SQLITE_STATIC);
    if ((rc = done(ctx, st, "saving a push result")) != 0)
        return rc;
    /* A device sends its oldest unacknowledged change first, so results far below
     * the newest one can never be asked for again. */
    if (seq % 256 == 0) {
        if ((rc = prep(ctx, prune, &st)) != 0)
            return rc;
        sqlite3_bind_text(st, 1, device, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, seq - 4096);
        rc = done(ctx, st, "pruning push results");
    }
    return rc;
}

void fsy_srow_init(fsy_srow *r)
{
    memset(r, 0, sizeof(*r));
}

void fsy_srow_clear(fsy_srow *r)
{
    cJSON_Delete(r->vals);
    cJSON_Delete(r->meta);
    memset(r, 0, sizeof(*r));
}

static int read_row(sq *s, sqlite3_stmt *st, fsy_srow *out)
{
    fsy_srow_clear(out);
    out->tbl = sqlite3_column_int(st, 0);
    copy_text(out->id, sizeof(out->id), st, 1);
    out->exists = true;
    out->ver = sqlite3_column_int64(st, 2);
    out->vals = cJSON_Parse((const char *)sqlite3_column_text(st, 3));
    out->meta = cJSON_Parse((const char *)sqlite3_column_text(st, 4));
    copy_text(out->territory, sizeof(out->territory), st, 5);
    copy_text(out->owner, sizeof(out->owner), st, 6);
    copy_text(out->customer_id, sizeof(out->customer_id), st, 7);
    out->info_level = sqlite3_column_int(st, 8);
    if (!out->vals || !out->meta)
        return fail(s, FSY_ECORRUPT, "store: row %s is damaged", out->id);
    return 0;
}

static int sq_row_get(void *ctx, int tbl, const char *id, fsy_srow *out)
{
    static const char sql[] = "SELECT tbl, id, ver, vals, meta, territory, owner, customer_id,"
                              " info_level FROM rows WHERE tbl = ?1 AND id = ?2";
    sqlite3_stmt *st;
    int rc = prep(ctx, sql, &st);
    if (rc)
        return rc;
    sqlite3_bind_int(st, 1, tbl);
    sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        rc = read_row(ctx, st, out);
    } else if (rc == SQLITE_DONE) {
        fsy_srow_clear(out);
        out->tbl = tbl;
        snprintf(out->id, sizeof(out->id), "%s", id);
        out->vals = cJSON_CreateObject();
        out->meta = cJSON_CreateObject();
        rc = out->vals && out->meta ? 0 : fail(ctx, FSY_ENOMEM, "out of memory");
    } else {
        rc = sqlfail(ctx, rc, "reading a row");
    }
    sqlite3_reset(st);
    return rc;
}

static int sq_row_scope(void *ctx, int tbl, const char *id, fsy_srow *out)
{
    static const char sql[] = "SELECT ver, territory, owner, customer_id, info_level FROM rows"
                              " WHERE tbl = ?1 AND id = ?2";
    sqlite3_stmt *st;
    int rc = prep(ctx, sql, &st);
    if (rc)
        return rc;
    fsy_srow_clear(out);
    out->tbl = tbl;
    snprintf(out->id, sizeof(out->id), "%s", id);
    sqlite3_bind_int(st, 1, tbl);
    sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        out->exists = true;
        out->ver = sqlite3_column_int64(st, 0);
        copy_text(out->territory, sizeof(out->territory), st, 1);
        copy_text(out->owner, sizeof(out->owner), st, 2);
        copy_text(out->customer_id, sizeof(out->customer_id), st, 3);
        out->info_level = sqlite3_column_int(st, 4);
        rc = 0;
    } else {
        rc = rc == SQLITE_DONE ? 0 : sqlfail(ctx, rc, "reading a row's scope");
    }
    sqlite3_reset(st);
    return rc;
}

static int sq_row_put(void *ctx, const fsy_srow *row)
{
    /* An upsert, not INSERT OR REPLACE: the row keeps its rowid, so only indexes whose
     * columns changed are touched. */
    static const char sql[] =
        "INSERT INTO rows(tbl, id, ver, vals, meta, territory, owner, customer_id, info_level)"
        " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT(tbl, id) DO UPDATE SET"
        " ver = excluded.ver, vals = excluded.vals, meta = excluded.meta,"
        " territory = excluded.territory, owner = excluded.owner,"
        " customer_id = excluded.customer_id, info_level = excluded.info_level";
    sqlite3_stmt *st;
    char *vals = cJSON_PrintUnformatted(row->vals), *meta = cJSON_PrintUnformatted(row->meta);
    int rc = vals && meta ? prep(ctx, sql, &st) : fail(ctx, FSY_ENOMEM, "out of memory");
    if (rc == 0) {
        sqlite3_bind_int(st, 1, row->tbl);
        sqlite3_bind_text(st, 2, row->id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, row->ver);
        sqlite3_bind_text(st, 4, vals, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, meta, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 6, row->territory, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 7, row->owner, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 8, row->customer_id, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 9, row->info_level);
        rc = done(ctx, st, "saving a row");
    }
    free(vals);
    free(meta);
    return rc;
}

static int sq_rows_of_customer(void *ctx, const char *customer_id, fsy_row_cb cb, void *userdata)
{
    static const char sql[] = "SELECT tbl, id, ver, vals, meta, territory, owner, customer_id,"
                              " info_level FROM rows WHERE customer_id = ?1 ORDER BY tbl, id";
    sqlite3_stmt *st = NULL;
    fsy_srow row;
    fsy_srow_init(&row);
    bool is_private;
    int rc = prep_iter(ctx, sql, &st, &is_private);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, customer_id, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int crc = read_row(ctx, st, &row);
        if (!crc)
            crc = cb(&row, userdata);
        if (crc) {
            end_iter(st, is_private);
            fsy_srow_clear(&row);
            return crc;
        }
    }
    end_iter(st, is_private);
    fsy_srow_clear(&row);
    return rc == SQLITE_DONE ? 0 : sqlfail(ctx, rc, "listing rows");
}

static int sq_log_append(void *ctx, fsy_logrec *rec)
{
    static const char sql[] =
        "INSERT INTO changes(kind, tbl, id, device, user, hlc, fields, old_territory, at_ms,"
        " territory, owner) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";
    sqlite3_stmt *st;
    char kind[2] = {rec->kind, 0};
    int rc = prep(ctx, sql, &st);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, kind, 1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 2, rec->tbl);
    sqlite3_bind_text(st, 3, rec->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, rec->device, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, rec->user, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, rec->hlc, -1, SQLITE_STATIC);
    if (rec->fields)
        sqlite3_bind_text(st, 7, rec->fields, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 8, rec->old_territory, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 9, rec->at_ms);
    if (rec->kind == 'c') {
        sqlite3_bind_text(st, 10, rec->territory, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 11, rec->owner, -1, SQLITE_STATIC);
    }
    if ((rc = done(ctx, st, "appending to the change log")) != 0)
        return rc;
    rec->q = sqlite3_last_insert_rowid(((sq *)ctx)->db);
    return 0;
}

static int64_t sq_log_max(void *ctx);

static int sq_log_read(void *ctx, int64_t after, int limit, const fsy_log_scope *scope,
                       fsy_log_cb cb, void *userdata, int64_t *seen_out)
{
    /* A rep's pull reads only the entries of their territory, their own records and
     * the entries without a territory (scope moves, entries from before store version
     * 3) through two indexes, so a device does not scan the other territories' traffic
     * (1.4 us an entry); each branch stops at limit, as the first limit of the union in
     * q order are among them. The join is an index lookup per entry kept, far cheaper than
     * loading and parsing the row in pull.c (docs/performance.md). */
#define LOG_COLS                                                                                   \
    "SELECT c.q, c.kind, c.tbl, c.id, c.device, c.user, c.hlc, c.fields, c.old_territory,"         \
    " c.at_ms, r.tbl IS NOT NULL, r.territory, r.owner, r.info_level"                              \
    " FROM changes c LEFT JOIN rows r ON r.tbl = c.tbl AND r.id = c.id"
    static const char sql_all[] = LOG_COLS " WHERE c.q > ?1 ORDER BY c.q LIMIT ?2";
    static const char sql_scope[] =
        LOG_COLS " WHERE c.q IN (SELECT q FROM (SELECT q FROM changes WHERE territory = ?3"
                 " AND q > ?1 ORDER BY q LIMIT ?2) UNION ALL SELECT q FROM (SELECT q FROM"
                 " changes WHERE owner = ?4 AND q > ?1 ORDER BY q LIMIT ?2) UNION ALL SELECT q"
                 " FROM (SELECT q FROM changes WHERE territory IS NULL AND q > ?1 ORDER BY q"
                 " LIMIT ?2)) ORDER BY c.q LIMIT ?2";
#undef LOG_COLS
    const char *sql = scope ? sql_scope : sql_all;
    sqlite3_stmt *st = NULL;
    bool is_private;
    int rc = prep_iter(ctx, sql, &st, &is_private);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, after);
    sqlite3_bind_int(st, 2, limit);
    if (scope) {
        sqlite3_bind_text(st, 3, scope->territory ? scope->territory : "", -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, scope->owner ? scope->owner : "", -1, SQLITE_STATIC);
    }
    int delivered = 0;
    int64_t last = after;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        fsy_logrec rec;
        memset(&rec, 0, sizeof(rec));
        rec.q = rec.pos = sqlite3_column_int64(st, 0);
        rec.kind = ((const char *)sqlite3_column_text(st, 1))[0];
        rec.tbl = sqlite3_column_int(st, 2);
        copy_text(rec.id, sizeof(rec.id), st, 3);
        copy_text(rec.device, sizeof(rec.device), st, 4);
        copy_text(rec.user, sizeof(rec.user), st, 5);
        copy_text(rec.hlc, sizeof(rec.hlc), st, 6);
        rec.fields = (const char *)sqlite3_column_text(st, 7);
        copy_text(rec.old_territory, sizeof(rec.old_territory), st, 8);
        rec.at_ms = sqlite3_column_int64(st, 9);
        rec.row_exists = sqlite3_column_int(st, 10) != 0;
        copy_text(rec.territory, sizeof(rec.territory), st, 11);
        copy_text(rec.owner, sizeof(rec.owner), st, 12);
        rec.info_level = sqlite3_column_int(st, 13);
        delivered++;
        last = rec.pos;
        int crc = cb(&rec, userdata);
        if (crc) {
            end_iter(st, is_private);
            *seen_out = last;
            return crc;
        }
    }
    end_iter(st, is_private);
    if (rc != SQLITE_DONE)
        return sqlfail(ctx, rc, "reading the change log");
    /* Fewer than limit: everything up to the head was examined. The caller holds a
     * transaction, so the head is read in the same snapshot as the entries. */
    *seen_out = delivered < limit ? sq_log_max(ctx) : last;
    if (*seen_out < last)
        *seen_out = last;
    return 0;
}

static int64_t sq_log_max(void *ctx)
{
    static const char sql[] = "SELECT coalesce(max(q), 0) FROM changes";
    sqlite3_stmt *st;
    if (prep(ctx, sql, &st))
        return 0;
    int64_t v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    return v;
}

static int sq_conflict_put(void *ctx, const fsy_conflict *c)
{
    static const char sql[] =
        "INSERT INTO conflicts(tbl, id, field, kept, other, kept_device, kept_user, kept_hlc,"
        " other_device, other_user, other_hlc, q, at_ms, clamped)"
        " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)";
    sqlite3_stmt *st;
    int rc = prep(ctx, sql, &st);
    if (rc)
        return rc;
    sqlite3_bind_int(st, 1, c->tbl);
    sqlite3_bind_text(st, 2, c->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, c->field, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, c->kept, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, c->other, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, c->kept_device, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, c->kept_user, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 8, c->kept_hlc, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 9, c->other_device, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 10, c->other_user, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 11, c->other_hlc, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 12, c->q);
    sqlite3_bind_int64(st, 13, c->at_ms);
    sqlite3_bind_int(st, 14, c->clock_clamped);
    return done(ctx, st, "saving a conflict");
}

static int sq_event_put(void *ctx, const char *kind, const char *device, const char *detail,
                        int64_t at_ms)
{
    static const char sql[] = "INSERT INTO events(kind, device, detail, at_ms)"
                              " VALUES(?1, ?2, ?3, ?4)";
    sqlite3_stmt *st;
    int rc = prep(ctx, sql, &st);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, device, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, detail, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, at_ms);
    return done(ctx, st, "saving a security event");
}

/* ---- version 2: supervisor review ---------------------------------------- */

static void bind_opt(sqlite3_stmt *st, int i, const char *v)
{
    if (v && *v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

static int sq_user_list(void *ctx, fsy_user_cb cb, void *userdata)
{
    static const char sql[] = "SELECT name, role, territory, supervisor, created_ms FROM users"
                              " ORDER BY name";
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(((sq *)ctx)->db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return sqlfail(ctx, rc, "listing users");
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        fsy_user u;
        memset(&u, 0, sizeof(u));
        copy_text(u.name, sizeof(u.name), st, 0);
        u.role = sqlite3_column_int(st, 1);
        copy_text(u.territory, sizeof(u.territory), st, 2);
        copy_text(u.supervisor, sizeof(u.supervisor), st, 3);
        u.created_ms = sqlite3_column_int64(st, 4);
        int crc = cb(&u, userdata);
        if (crc) {
            sqlite3_finalize(st);
            return crc;
        }
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : sqlfail(ctx, rc, "listing users");
}

/* Times are UTC ISO 8601 text, so they compare as strings (DESIGN §9). */
#define VISIT_TIME                                                                                 \
    "coalesce(json_extract(v.vals, '$.planned_at'), json_extract(v.vals, '$.checkin_at'), '')"

static int sq_visit_query(void *ctx, const fsy_visit_filter *f, fsy_visit_cb cb, void *userdata,
                          int64_t *total_out)
{
    static const char sql[] =
        "WITH rv AS (SELECT json_extract(vals, '$.visit_id') AS visit_id,"
        "   json_extract(vals, '$.state') AS state, json_extract(vals, '$.comment') AS comment,"
        "   max(ver) FROM rows WHERE tbl = 4 GROUP BY 1),"
        " m AS (SELECT v.tbl, v.id, v.ver, v.vals, v.meta, v.territory, v.owner, v.customer_id,"
        "   v.info_level, coalesce(json_extract(c.vals, '$.name'), '') AS cname,"
        "   coalesce(json_extract(c.vals, '$._deleted'), 0) AS cdel,"
        "   coalesce(rv.state, '') AS rstate, coalesce(rv.comment, '') AS rcomment,"
        "   (SELECT count(*) FROM conflicts k WHERE k.resolved_ms IS NULL AND"
        "     ((k.tbl = 2 AND k.id = v.id) OR (k.tbl = 0 AND k.id = v.customer_id))) AS nconf,"
        "   " VISIT_TIME " AS t"
        "  FROM rows v LEFT JOIN rows c ON c.tbl = 0 AND c.id = v.customer_id"
        "  LEFT JOIN rv ON rv.visit_id = v.id"
        "  WHERE v.tbl = 2"
        "   AND (?1 IS NULL OR v.owner IN (SELECT name FROM users WHERE supervisor = ?1))"
        "   AND (?2 IS NULL OR v.owner = ?2)"
        "   AND (?3 IS NULL OR v.customer_id = ?3 OR"
        "        instr(lower(coalesce(json_extract(c.vals, '$.name'), '')), lower(?3)) > 0)"
        "   AND (?4 IS NULL OR " VISIT_TIME " >= ?4)"
        "   AND (?5 IS NULL OR " VISIT_TIME " < ?5)"
        "   AND (?6 IS NULL OR json_extract(v.vals, '$.status') = ?6)"
        "   AND (?7 IS NULL OR coalesce(rv.state, 'none') = ?7))"
        " SELECT *, count(*) OVER () FROM m WHERE (?8 < 0 OR (nconf > 0) = (?8 = 1))"
        " ORDER BY t DESC, id LIMIT ?9 OFFSET ?10";
    sqlite3_stmt *st = NULL;
    fsy_srow row;
    fsy_srow_init(&row);
    *total_out = 0;
    int rc = sqlite3_prepare_v2(((sq *)ctx)->db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return sqlfail(ctx, rc, "querying visits");
    bind_opt(st, 1, f->team);
    bind_opt(st, 2, f->rep);
    bind_opt(st, 3, f->customer);
    bind_opt(st, 4, f->from);
    bind_opt(st, 5, f->to);
    bind_opt(st, 6, f->status);
    bind_opt(st, 7, f->review);
    sqlite3_bind_int(st, 8, f->has_conflicts);
    sqlite3_bind_int(st, 9, f->limit);
    sqlite3_bind_int(st, 10, f->offset);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int crc = read_row(ctx, st, &row);
        *total_out = sqlite3_column_int64(st, 15);
        if (!crc) {
            fsy_visit_item it = {&row,
                                 (const char *)sqlite3_column_text(st, 9),
                                 sqlite3_column_int(st, 10) != 0,
                                 (const char *)sqlite3_column_text(st, 11),
                                 (const char *)sqlite3_column_text(st, 12),
                                 sqlite3_column_int(st, 13)};
            crc = cb(&it, userdata);
        }
        if (crc) {
            sqlite3_finalize(st);
            fsy_srow_clear(&row);
            return crc;
        }
    }
    sqlite3_finalize(st);
    fsy_srow_clear(&row);
    return rc == SQLITE_DONE ? 0 : sqlfail(ctx, rc, "querying visits");
}

static int sq_row_log(void *ctx, int tbl, const char *id, fsy_log_cb cb, void *userdata)
{
    static const char sql[] = "SELECT q, kind, tbl, id, device, user, hlc, fields, at_ms"
                              " FROM changes WHERE tbl = ?1 AND id = ?2 AND kind = 'c' ORDER BY q";
    sqlite3_stmt *st = NULL;
    bool is_private;
    int rc = prep_iter(ctx, sql, &st, &is_private);
    if (rc)
        return rc;
    sqlite3_bind_int(st, 1, tbl);
    sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        fsy_logrec rec;
        memset(&rec, 0, sizeof(rec));
        rec.q = rec.pos = sqlite3_column_int64(st, 0);
        rec.kind = 'c';
        rec.tbl = sqlite3_column_int(st, 2);
        copy_text(rec.id, sizeof(rec.id), st, 3);
        copy_text(rec.device, sizeof(rec.device), st, 4);
        copy_text(rec.user, sizeof(rec.user), st, 5);
        copy_text(rec.hlc, sizeof(rec.hlc), st, 6);
        rec.fields = (const char *)sqlite3_column_text(st, 7);
        rec.at_ms = sqlite3_column_int64(st, 8);
        int crc = cb(&rec, userdata);
        if (crc) {
            end_iter(st, is_private);
            return crc;
        }
    }
    end_iter(st, is_private);
    return rc == SQLITE_DONE ? 0 : sqlfail(ctx, rc, "reading a row's history");
}

static int sq_conflict_query(void *ctx, const fsy_conflict_filter *f, fsy_conflict_cb cb,
                             void *userdata)
{
    static const char sql[] =
        "SELECT n, tbl, id, field, kept, other, kept_device, kept_user, kept_hlc, other_device,"
        " other_user, other_hlc, q, at_ms, clamped, coalesce(resolved_by, ''),"
        " coalesce(resolved_ms, 0) FROM conflicts"
        " WHERE (?1 IS NULL OR kept_user IN (SELECT name FROM users WHERE supervisor = ?1)"
        "        OR other_user IN (SELECT name FROM users WHERE supervisor = ?1))"
        "  AND (?2 = 0 OR n = ?2)"
        "  AND (?3 IS NULL OR (tbl = ?4 AND id = ?3) OR (tbl = 0 AND id = ?5))"
        "  AND (?6 = 0 OR resolved_ms IS NULL)"
        " ORDER BY n DESC LIMIT ?7";
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(((sq *)ctx)->db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return sqlfail(ctx, rc, "querying conflicts");
    bind_opt(st, 1, f->team);
    sqlite3_bind_int64(st, 2, f->n);
    bind_opt(st, 3, f->row_id);
    sqlite3_bind_int(st, 4, f->tbl);
    bind_opt(st, 5, f->customer_id);
    sqlite3_bind_int(st, 6, f->is_open_only);
    sqlite3_bind_int(st, 7, f->limit > 0 ? f->limit : 1000);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        fsy_conflict_item it;
        memset(&it, 0, sizeof(it));
        it.n = sqlite3_column_int64(st, 0);
        it.c.tbl = sqlite3_column_int(st, 1);
        copy_text(it.c.id, sizeof(it.c.id), st, 2);
        copy_text(it.c.field, sizeof(it.c.field), st, 3);
        it.c.kept = (const char *)sqlite3_column_text(st, 4);
        it.c.other = (const char *)sqlite3_column_text(st, 5);
        copy_text(it.c.kept_device, sizeof(it.c.kept_device), st, 6);
        copy_text(it.c.kept_user, sizeof(it.c.kept_user), st, 7);
        copy_text(it.c.kept_hlc, sizeof(it.c.kept_hlc), st, 8);
        copy_text(it.c.other_device, sizeof(it.c.other_device), st, 9);
        copy_text(it.c.other_user, sizeof(it.c.other_user), st, 10);
        copy_text(it.c.other_hlc, sizeof(it.c.other_hlc), st, 11);
        it.c.q = sqlite3_column_int64(st, 12);
        it.c.at_ms = sqlite3_column_int64(st, 13);
        it.c.clock_clamped = sqlite3_column_int(st, 14) != 0;
        copy_text(it.resolved_by, sizeof(it.resolved_by), st, 15);
        it.resolved_ms = sqlite3_column_int64(st, 16);
        int crc = cb(&it, userdata);
        if (crc) {
            sqlite3_finalize(st);
            return crc;
        }
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : sqlfail(ctx, rc, "querying conflicts");
}

static int sq_conflict_resolve(void *ctx, int64_t n, const char *user, int64_t at_ms)
{
    static const char sql[] = "UPDATE conflicts SET resolved_by = ?2, resolved_ms = ?3"
                              " WHERE n = ?1 AND resolved_ms IS NULL";
    sqlite3_stmt *st;
    int rc = prep(ctx, sql, &st);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, n);
    sqlite3_bind_text(st, 2, user, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, at_ms);
    if ((rc = done(ctx, st, "resolving a conflict")) != 0)
        return rc;
    if (sqlite3_changes(((sq *)ctx)->db) == 0)
        return fail(ctx, FSY_ENOTFOUND, "conflict %lld is unknown or already resolved",
                    (long long)n);
    return 0;
}

static int sq_device_report(void *ctx, const char *device, int64_t pending, int64_t parked,
                            int64_t at_ms)
{
    /* Every request of a current client carries a report: updated in place (see
     * sq_device_put). */
    static const char sql[] =
        "INSERT INTO device_reports(device, pending, parked, at_ms) VALUES(?1, ?2, ?3, ?4)"
        " ON CONFLICT(device) DO UPDATE SET pending = excluded.pending,"
        " parked = excluded.parked, at_ms = excluded.at_ms";
    sqlite3_stmt *st;
    int rc = prep(ctx, sql, &st);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, device, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, pending);
    sqlite3_bind_int64(st, 3, parked);
    sqlite3_bind_int64(st, 4, at_ms);
    return done(ctx, st, "saving a device report");
}

static int sq_device_health(void *ctx, const char *team, fsy_health_cb cb, void *userdata)
{
    static const char sql[] =
        "SELECT d.id, d.user, d.token_hash, d.created_ms, d.revoked_ms, d.hwm, d.cursor,"
        " d.last_sync_ms, d.skew_ms, d.app_version, coalesce(r.pending, -1),"
        " coalesce(r.parked, -1), coalesce(r.at_ms, 0),"
        " (SELECT count(*) FROM conflicts k WHERE k.resolved_ms IS NULL AND"
        "   (k.kept_device = d.id OR k.other_device = d.id))"
        " FROM devices d LEFT JOIN device_reports r ON r.device = d.id"
        " WHERE ?1 IS NULL OR d.user IN (SELECT name FROM users WHERE supervisor = ?1)"
        " ORDER BY d.last_sync_ms, d.user";
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(((sq *)ctx)->db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return sqlfail(ctx, rc, "listing device health");
    bind_opt(st, 1, team);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        fsy_device_health h;
        memset(&h, 0, sizeof(h));
        read_device(st, &h.d);
        h.pending = sqlite3_column_int64(st, 10);
        h.parked = sqlite3_column_int64(st, 11);
        h.reported_ms = sqlite3_column_int64(st, 12);
        h.open_conflicts = sqlite3_column_int64(st, 13);
        int crc = cb(&h, userdata);
        if (crc) {
            sqlite3_finalize(st);
            return crc;
        }
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : sqlfail(ctx, rc, "listing device health");
}

const fsy_store_ops fsy_store_sqlite = {
    .version = 3,
    .name = "sqlite",
    .open = sq_open,
    .close = sq_close,
    .errmsg = sq_errmsg,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .user_put = sq_user_put,
    .user_get = sq_user_get,
    .code_put = sq_code_put,
    .code_take = sq_code_take,
    .device_put = sq_device_put,
    .device_get = sq_device_get,
    .device_by_token = sq_device_by_token,
    .device_list = sq_device_list,
    .result_get = sq_result_get,
    .result_put = sq_result_put,
    .row_get = sq_row_get,
    .row_put = sq_row_put,
    .rows_of_customer = sq_rows_of_customer,
    .log_append = sq_log_append,
    .log_read = sq_log_read,
    .log_max = sq_log_max,
    .conflict_put = sq_conflict_put,
    .event_put = sq_event_put,
    .user_list = sq_user_list,
    .visit_query = sq_visit_query,
    .row_log = sq_row_log,
    .conflict_query = sq_conflict_query,
    .conflict_resolve = sq_conflict_resolve,
    .device_report = sq_device_report,
    .device_health = sq_device_health,
    .group_begin = sq_group_begin,
    .group_end = sq_group_end,
    .row_scope = sq_row_scope,
};
