/*
 * replica.c — the replica handle: opening the SQLite file, forward migrations,
 * the prepared-statement cache, transactions, meta state, settings and wipe.
 * Everything else in core/ reaches SQLite through the helpers defined here.
 */
#include "internal.h"
#include "hlc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if !defined(TIME_UTC) && defined(_WIN32)
#include <sys/timeb.h> /* msvcrt (mingw-w64's default CRT) has no timespec_get */
#endif

/* "FSYC": marks a SQLite file as a fieldsync replica. */
#define FSY_APPLICATION_ID 0x46535943

/*
 * Forward migrations, one per schema version. Released steps are never edited:
 * a replica written by version N is brought to the current version by running
 * steps N+1..current in one transaction. tests/unit/replica checks the view
 * tables against schema.c so the two cannot drift.
 */
static const char *const migrations[] = {
    /* 1: data tables (the UI's view = confirmed state + pending edits), the
     *    journal of pending edits and the confirmed server state. */
    "CREATE TABLE fsy_meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;"
    "CREATE TABLE fsy_config(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE fsy_journal(seq INTEGER PRIMARY KEY, tbl INTEGER NOT NULL, id TEXT NOT NULL,"
    " op INTEGER NOT NULL, hlc INTEGER NOT NULL, fields TEXT NOT NULL, bases TEXT, hlcs TEXT,"
    " state INTEGER NOT NULL DEFAULT 0, code TEXT, reason TEXT);"
    "CREATE INDEX fsy_journal_row ON fsy_journal(tbl, id);"
    "CREATE TABLE fsy_confirmed(tbl INTEGER NOT NULL, id TEXT NOT NULL, ver INTEGER NOT NULL,"
    " state INTEGER NOT NULL, vals TEXT NOT NULL, vers TEXT NOT NULL,"
    " PRIMARY KEY(tbl, id)) WITHOUT ROWID;"
    "CREATE TABLE customers(id TEXT PRIMARY KEY, name TEXT, address TEXT, phone TEXT,"
    " territory TEXT, owner TEXT, category TEXT, tier TEXT, status TEXT, relationship TEXT)"
    " WITHOUT ROWID;"
    "CREATE TABLE contacts(id TEXT PRIMARY KEY, customer_id TEXT, name TEXT, role TEXT,"
    " phone TEXT, email TEXT, birthday TEXT, care_dates TEXT, personality TEXT, notes TEXT)"
    " WITHOUT ROWID;"
    "CREATE TABLE visits(id TEXT PRIMARY KEY, customer_id TEXT, rep TEXT, kind TEXT,"
    " planned_at TEXT, checkin_at TEXT, checkin_lat REAL, checkin_lon REAL, checkout_at TEXT,"
    " checkout_lat REAL, checkout_lon REAL, purpose TEXT, outcome TEXT, next_steps TEXT,"
    " follow_up TEXT, satisfaction INTEGER, status TEXT) WITHOUT ROWID;"
    "CREATE TABLE notes(id TEXT PRIMARY KEY, customer_id TEXT, author TEXT, body TEXT,"
    " info_level INTEGER) WITHOUT ROWID;"
    "CREATE TABLE reviews(id TEXT PRIMARY KEY, visit_id TEXT, supervisor TEXT, comment TEXT,"
    " state TEXT) WITHOUT ROWID;",

    /* 2: the rep-facing log of conflicts the server resolved, and the indexes
     *    behind the tablet's list screens. */
    "CREATE TABLE fsy_conflicts(n INTEGER PRIMARY KEY, tbl INTEGER NOT NULL, row_id TEXT NOT NULL,"
    " field TEXT NOT NULL, mine TEXT, theirs TEXT, their_user TEXT, their_device TEXT,"
    " winner TEXT NOT NULL, server_seq INTEGER, at_ms INTEGER NOT NULL);"
    "CREATE INDEX customers_territory_name ON customers(territory, name COLLATE NOCASE);"
    "CREATE INDEX customers_name ON customers(name COLLATE NOCASE);"
    "CREATE INDEX contacts_customer ON contacts(customer_id);"
    "CREATE INDEX visits_customer_planned ON visits(customer_id, planned_at);"
    "CREATE INDEX visits_planned ON visits(planned_at);"
    "CREATE INDEX notes_customer ON notes(customer_id);"
    "CREATE INDEX reviews_visit ON reviews(visit_id);",
};

static const char *const stmt_sql[FSY_STMT_COUNT] = {
    [FSY_STMT_BEGIN] = "BEGIN IMMEDIATE",
    [FSY_STMT_COMMIT] = "COMMIT",
    [FSY_STMT_ROLLBACK] = "ROLLBACK",
    [FSY_STMT_META_GET] = "SELECT value FROM fsy_meta WHERE key = ?1",
    [FSY_STMT_META_SET] = "INSERT OR REPLACE INTO fsy_meta(key, value) VALUES(?1, ?2)",
    [FSY_STMT_CONF_GET] = "SELECT ver, state, vals, vers FROM fsy_confirmed"
                          " WHERE tbl = ?1 AND id = ?2",
    [FSY_STMT_CONF_PUT] = "INSERT OR REPLACE INTO fsy_confirmed(tbl, id, ver, state, vals, vers)"
                          " VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
    [FSY_STMT_J_INSERT] = "INSERT INTO fsy_journal(seq, tbl, id, op, hlc, fields, bases, hlcs)"
                          " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [FSY_STMT_J_LAST_FOR_ROW] = "SELECT seq, op, hlc, fields, bases, hlcs FROM fsy_journal"
                                " WHERE tbl = ?1 AND id = ?2 AND state = 0"
                                " ORDER BY seq DESC LIMIT 1",
    [FSY_STMT_J_UPDATE_FIELDS] = "UPDATE fsy_journal SET op = ?2, hlc = ?3, fields = ?4,"
                                 " bases = ?5, hlcs = ?6 WHERE seq = ?1",
    [FSY_STMT_J_PENDING_FOR_ROW] = "SELECT seq, op, fields, bases FROM fsy_journal"
                                   " WHERE tbl = ?1 AND id = ?2 AND state = 0 ORDER BY seq",
    [FSY_STMT_J_GET] = "SELECT tbl, id, op, hlc, fields, bases, hlcs, state FROM fsy_journal"
                       " WHERE seq = ?1",
    [FSY_STMT_J_DELETE] = "DELETE FROM fsy_journal WHERE seq = ?1",
    [FSY_STMT_DATA_VERSION] = "PRAGMA data_version",
    [FSY_STMT_CUSTOMER_EXISTS] = "SELECT 1 FROM customers WHERE id = ?1",
    [FSY_STMT_VISIT_EXISTS] = "SELECT 1 FROM visits WHERE id = ?1",
    [FSY_STMT_J_PARK] = "UPDATE fsy_journal SET state = 1, code = ?2, reason = ?3 WHERE seq = ?1",
    [FSY_STMT_J_SET_BASES] = "UPDATE fsy_journal SET bases = ?2 WHERE seq = ?1",
    [FSY_STMT_J_LATER_FOR_ROW] = "SELECT seq, fields, bases FROM fsy_journal WHERE tbl = ?1"
                                 " AND id = ?2 AND state = 0 AND seq > ?3 ORDER BY seq",
    [FSY_STMT_CONFLICT_INSERT] = "INSERT INTO fsy_conflicts(tbl, row_id, field, mine, theirs,"
                                 " their_user, their_device, winner, server_seq, at_ms)"
                                 " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    [FSY_STMT_J_OTHERS_FOR_ROW] = "SELECT 1 FROM fsy_journal WHERE tbl = ?1 AND id = ?2"
                                  " AND state = 0 AND seq != ?3 LIMIT 1",
};

int fsy_replica_new(fsy_replica **out)
{
    FSY_CHECK_ARG(out);
    *out = calloc(1, sizeof(**out));
    return *out ? FSY_OK : FSY_ENOMEM;
}

const char *fsy_replica_errmsg(const fsy_replica *r)
{
    return r ? r->errmsg : "no replica handle";
}

static void close_db(fsy_replica *r)
{
    for (int i = 0; i < FSY_STMT_COUNT; i++) {
        sqlite3_finalize(r->stmts[i]);
        r->stmts[i] = NULL;
    }
    for (int i = 0; i < FSY_N_TABLES; i++) {
        sqlite3_finalize(r->view_insert[i]);
        sqlite3_finalize(r->view_select[i]);
        sqlite3_finalize(r->view_delete[i]);
        r->view_insert[i] = r->view_select[i] = r->view_delete[i] = NULL;
    }
    for (int i = 0; i < r->n_view_update; i++)
        sqlite3_finalize(r->view_update[i].st);
    r->n_view_update = 0;
    sqlite3_close(r->db);
    r->db = NULL;
    if (r->drbg_ready) {
        mbedtls_ctr_drbg_free(&r->drbg);
        mbedtls_entropy_free(&r->entropy);
        r->drbg_ready = false;
    }
}

void fsy_replica_free(fsy_replica *r)
{
    if (!r)
        return;
    close_db(r);
    free(r);
}

int fsy__exec(fsy_replica *r, const char *sql)
{
    int rc = sqlite3_exec(r->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? FSY_OK : fsy__sqlerr(r, rc, "replica");
}

int fsy__stmt(fsy_replica *r, int which, sqlite3_stmt **out)
{
    if (!r->stmts[which]) {
        int rc = sqlite3_prepare_v3(r->db, stmt_sql[which], -1, SQLITE_PREPARE_PERSISTENT,
                                    &r->stmts[which], NULL);
        if (rc != SQLITE_OK)
            return fsy__sqlerr(r, rc, "preparing a statement");
    }
    *out = r->stmts[which];
    return FSY_OK;
}

void fsy__stmt_release(sqlite3_stmt *st)
{
    if (st) {
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
    }
}

static int step_done(fsy_replica *r, int which, const char *what)
{
    sqlite3_stmt *st = NULL;
    int rc = fsy__stmt(r, which, &st);
    if (rc != FSY_OK)
        return rc;
    int s = sqlite3_step(st);
    fsy__stmt_release(st);
    return s == SQLITE_DONE ? FSY_OK : fsy__sqlerr(r, s, what);
}

static int data_version(fsy_replica *r, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    int rc = fsy__stmt(r, FSY_STMT_DATA_VERSION, &st);
    if (rc != FSY_OK)
        return rc;
    int s = sqlite3_step(st);
    *out = s == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    fsy__stmt_release(st);
    return s == SQLITE_ROW ? FSY_OK : fsy__sqlerr(r, s, "reading the data version");
}

/*
 * Another handle (another thread, the CLI next to the agent) may have written
 * since we last looked: next_seq, the clock and the pending count kept in
 * memory would then be stale, and a stale next_seq would reuse a client_seq the
 * server already applied. So every write transaction starts by checking
 * PRAGMA data_version, which changes exactly when another connection commits.
 */
int fsy__tx_begin(fsy_replica *r)
{
    int64_t v;
    int rc = step_done(r, FSY_STMT_BEGIN, "starting a transaction");
    if (rc != FSY_OK)
        return rc;
    if ((rc = data_version(r, &v)) == FSY_OK && v != r->data_version) {
        char keep[FSY_ERRMSG_LEN];
        memcpy(keep, r->errmsg, sizeof(keep));
        rc = fsy__replica_reload_state(r);
        if (rc == FSY_OK)
            memcpy(r->errmsg, keep, sizeof(keep));
    }
    if (rc != FSY_OK)
        fsy__tx_rollback(r);
    return rc;
}

int fsy__tx_commit(fsy_replica *r)
{
    int rc = step_done(r, FSY_STMT_COMMIT, "committing");
    if (rc != FSY_OK)
        fsy__tx_rollback(r);
    return rc;
}

void fsy__tx_rollback(fsy_replica *r)
{
    if (!sqlite3_get_autocommit(r->db)) {
        char keep[FSY_ERRMSG_LEN];
        memcpy(keep, r->errmsg, sizeof(keep));
        step_done(r, FSY_STMT_ROLLBACK, "rolling back");
        memcpy(r->errmsg, keep, sizeof(keep));
        /* A failed write may have advanced next_seq in memory only; that leaves a gap
         * in client_seq, which the protocol allows. The clock only moves forward. */
    }
}

int fsy__meta_get_int(fsy_replica *r, const char *key, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    int rc = fsy__stmt(r, FSY_STMT_META_GET, &st);
    if (rc != FSY_OK)
        return rc;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW)
        *out = sqlite3_column_int64(st, 0);
    else if (s == SQLITE_DONE)
        *out = 0;
    else
        rc = fsy__sqlerr(r, s, "reading replica state");
    fsy__stmt_release(st);
    return rc;
}

int fsy__meta_get_text(fsy_replica *r, const char *key, char **out)
{
    sqlite3_stmt *st = NULL;
    *out = NULL;
    int rc = fsy__stmt(r, FSY_STMT_META_GET, &st);
    if (rc != FSY_OK)
        return rc;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
        *out = fsy__strdup((const char *)sqlite3_column_text(st, 0));
        if (!*out)
            rc = fsy__err(r, FSY_ENOMEM, "out of memory");
    } else if (s == SQLITE_DONE || s == SQLITE_ROW) {
        rc = FSY_ENOTFOUND;
    } else {
        rc = fsy__sqlerr(r, s, "reading replica state");
    }
    fsy__stmt_release(st);
    return rc;
}

static int meta_set(fsy_replica *r, const char *key, const char *text, int64_t v)
{
    sqlite3_stmt *st = NULL;
    int rc = fsy__stmt(r, FSY_STMT_META_SET, &st);
    if (rc != FSY_OK)
        return rc;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    if (text)
        sqlite3_bind_text(st, 2, text, -1, SQLITE_STATIC);
    else
        sqlite3_bind_int64(st, 2, v);
    int s = sqlite3_step(st);
    fsy__stmt_release(st);
    return s == SQLITE_DONE ? FSY_OK : fsy__sqlerr(r, s, "writing replica state");
}

int fsy__meta_set_int(fsy_replica *r, const char *key, int64_t v)
{
    return meta_set(r, key, NULL, v);
}

int fsy__meta_set_text(fsy_replica *r, const char *key, const char *v)
{
    return meta_set(r, key, v ? v : "", 0);
}

static int64_t default_now_ms(void)
{
#if defined(TIME_UTC)
    struct timespec ts;
    if (timespec_get(&ts, TIME_UTC) != TIME_UTC)
        return (int64_t)time(NULL) * 1000;
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
#elif defined(_WIN32)
    struct __timeb64 tb;
    _ftime64(&tb);
    return (int64_t)tb.time * 1000 + tb.millitm;
#else
    return (int64_t)time(NULL) * 1000;
#endif
}

int64_t fsy__now_ms(fsy_replica *r)
{
    return r->opts.now_ms ? r->opts.now_ms(r->opts.now_userdata) : default_now_ms();
}

int64_t fsy__hlc_tick(fsy_replica *r)
{
    r->hlc = fsy__hlc_next(r->hlc, fsy__now_ms(r));
    return r->hlc;
}

void fsy__hlc_observe(fsy_replica *r, int64_t remote)
{
    r->hlc = fsy__hlc_recv(r->hlc, remote, fsy__now_ms(r), r->opts.max_clock_drag_ms);
}

static int scalar_int(fsy_replica *r, const char *sql, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(r->db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return fsy__sqlerr(r, rc, "reading replica state");
    rc = sqlite3_step(st);
    *out = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    int res = (rc == SQLITE_ROW || rc == SQLITE_DONE) ? FSY_OK : fsy__sqlerr(r, rc, "reading");
    sqlite3_finalize(st);
    return res;
}

/*
 * The clock and client_seq are not written on every local write (that would add
 * a row update to the hot path): the journal rows carry them, and the meta floors
 * are written whenever journal rows are removed. So the persisted maximum over
 * both is never behind anything ever issued and committed.
 */
int fsy__replica_reload_state(fsy_replica *r)
{
    int64_t dv, v, floor_seq, floor_hlc, seq_max, hlc_max, frozen, pending;
    char *dev = NULL, *user = NULL;
    int rc;
    /*
     * All or nothing: the cached fields change only once every read succeeded, and
     * data_version last of all. A read that fails (SQLITE_IOERR, SQLITE_BUSY) must
     * leave the cache marked stale: recording the new data_version before the
     * reads would make the next transaction skip the reload and issue a client_seq
     * another handle already used (tests/fault/test_fault_sqlite.c, "stale").
     */
    r->data_version = -1;
    if ((rc = data_version(r, &dv)) != FSY_OK ||
        (rc = fsy__meta_get_int(r, "fsy.seq_floor", &floor_seq)) != FSY_OK ||
        (rc = scalar_int(r, "SELECT max(seq) FROM fsy_journal", &seq_max)) != FSY_OK ||
        (rc = fsy__meta_get_int(r, "fsy.hlc", &floor_hlc)) != FSY_OK ||
        (rc = scalar_int(r, "SELECT max(hlc) FROM fsy_journal", &hlc_max)) != FSY_OK ||
        (rc = fsy__meta_get_int(r, "fsy.frozen_upto", &frozen)) != FSY_OK ||
        (rc = scalar_int(r, "SELECT count(*) FROM fsy_journal WHERE state = 0", &pending)) !=
            FSY_OK)
        goto done;
    /* Not enrolled yet is fine; failing to read whether we are is not. */
    if ((rc = fsy__meta_get_text(r, "fsy.device_id", &dev)) != FSY_OK && rc != FSY_ENOTFOUND)
        goto done;
    if ((rc = fsy__meta_get_text(r, "fsy.user", &user)) != FSY_OK && rc != FSY_ENOTFOUND)
        goto done;
    r->next_seq = (seq_max > floor_seq ? seq_max : floor_seq) + 1;
    v = hlc_max > floor_hlc ? hlc_max : floor_hlc;
    if (v > r->hlc)
        r->hlc = v;
    r->frozen_upto = frozen;
    r->n_pending = pending;
    fsy__strlcpy(r->device_id, dev ? dev : "", sizeof(r->device_id));
    fsy__strlcpy(r->user, user ? user : "", sizeof(r->user));
    r->data_version = dv;
    fsy__err_clear(r);
    rc = FSY_OK;
done:
    free(dev);
    free(user);
    return rc;
}

int fsy__replica_save_floors(fsy_replica *r)
{
    int rc = fsy__meta_set_int(r, "fsy.hlc", r->hlc);
    if (rc == FSY_OK)
        rc = fsy__meta_set_int(r, "fsy.seq_floor", r->next_seq - 1);
    return rc;
}

static int migrate(fsy_replica *r, int target)
{
    int64_t appid = 0, have = 0;
    int rc;

    if ((rc = scalar_int(r, "PRAGMA application_id", &appid)) != FSY_OK ||
        (rc = scalar_int(r, "PRAGMA user_version", &have)) != FSY_OK)
        return rc;
    if (appid != 0 && appid != FSY_APPLICATION_ID)
        return fsy__err(r, FSY_ECORRUPT, "%s is not a fieldsync replica (application id %lld)",
                        sqlite3_db_filename(r->db, "main"), (long long)appid);
    if (appid == 0) {
        int64_t n_tables = 0;
        if ((rc = scalar_int(r, "SELECT count(*) FROM sqlite_schema", &n_tables)) != FSY_OK)
            return rc;
        if (n_tables > 0)
            return fsy__err(r, FSY_ECORRUPT, "%s is a SQLite file but not a fieldsync replica",
                            sqlite3_db_filename(r->db, "main"));
    }
    if (have > target)
        return fsy__err(r, FSY_ESCHEMA,
                        "replica has schema version %lld; this library (%s) reads up to %d",
                        (long long)have, fsy_version(), target);
    if (have == target)
        return FSY_OK;

    /* Not fsy__tx_begin: there is no replica state to reload before the tables exist. */
    if ((rc = step_done(r, FSY_STMT_BEGIN, "starting a transaction")) != FSY_OK)
        return rc;
    for (int64_t v = have + 1; v <= target; v++) {
        rc = fsy__exec(r, migrations[v - 1]);
        if (rc != FSY_OK)
            goto fail;
    }
    char pragma[96];
    snprintf(pragma, sizeof(pragma), "PRAGMA application_id = %d; PRAGMA user_version = %d;",
             FSY_APPLICATION_ID, target);
    if ((rc = fsy__exec(r, pragma)) != FSY_OK)
        goto fail;
    return fsy__tx_commit(r);
fail:
    fsy__tx_rollback(r);
    return rc;
}

int fsy__replica_open_at(fsy_replica *r, const char *path, const fsy_replica_opts *opts,
                         int target_version)
{
    static const char pers[] = "fieldsync replica";
    int rc;

    FSY_CHECK_ARG(r && path);
    if (r->db)
        return fsy__err(r, FSY_EMISUSE, "replica is already open");
    if (opts && opts->version != FSY_REPLICA_OPTS_VERSION)
        return fsy__err(r, FSY_EMISUSE, "unknown fsy_replica_opts version %d", opts->version);
    fsy_replica_opts def = FSY_REPLICA_OPTS_INIT;
    r->opts = opts ? *opts : def;
    if (r->opts.synchronous != FSY_SYNC_FULL && r->opts.synchronous != FSY_SYNC_NORMAL)
        return fsy__err(r, FSY_EMISUSE, "synchronous must be FSY_SYNC_FULL or FSY_SYNC_NORMAL");
    if (r->opts.max_clock_drag_ms <= 0)
        r->opts.max_clock_drag_ms = 5 * 60 * 1000;
    if (r->opts.busy_timeout_ms <= 0)
        r->opts.busy_timeout_ms = 5000;
    if (r->opts.max_batch_bytes == 0)
        r->opts.max_batch_bytes = 16u << 20;
    fsy__err_clear(r);

    mbedtls_entropy_init(&r->entropy);
    mbedtls_ctr_drbg_init(&r->drbg);
    r->drbg_ready = true;
    if (mbedtls_ctr_drbg_seed(&r->drbg, mbedtls_entropy_func, &r->entropy,
                              (const unsigned char *)pers, sizeof(pers) - 1) != 0) {
        rc = fsy__err(r, FSY_ERROR, "cannot seed the random generator");
        goto fail;
    }

    int s = sqlite3_open_v2(path, &r->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (s != SQLITE_OK) {
        rc = fsy__err(r, s == SQLITE_NOMEM ? FSY_ENOMEM : FSY_ERROR, "cannot open %s: %s", path,
                      r->db ? sqlite3_errmsg(r->db) : sqlite3_errstr(s));
        goto fail;
    }
    sqlite3_extended_result_codes(r->db, 1);
    sqlite3_busy_timeout(r->db, r->opts.busy_timeout_ms);
    rc = fsy__exec(r, r->opts.synchronous == FSY_SYNC_FULL
                          ? "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
                          : "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;");
    if (rc != FSY_OK)
        goto fail;
    if ((rc = migrate(r, target_version)) != FSY_OK)
        goto fail;
    if ((rc = fsy__replica_reload_state(r)) != FSY_OK)
        goto fail;
    return FSY_OK;
fail:
    close_db(r);
    return rc;
}

int fsy_replica_open(fsy_replica *r, const char *path, const fsy_replica_opts *opts)
{
    return fsy__replica_open_at(r, path, opts, FSY_SCHEMA_VERSION);
}

int fsy_replica_set_identity(fsy_replica *r, const char *device_id, const char *user)
{
    FSY_CHECK_ARG(r && r->db && device_id && user);
    fsy__err_clear(r);
    if (!device_id[0] || strlen(device_id) >= sizeof(r->device_id))
        return fsy__err(r, FSY_EINVAL, "device id must be 1 to %zu bytes",
                        sizeof(r->device_id) - 1);
    if (!user[0] || strlen(user) > 100)
        return fsy__err(r, FSY_EINVAL, "user name must be 1 to 100 bytes");
    int rc = fsy__tx_begin(r);
    if (rc != FSY_OK)
        return rc;
    if ((rc = fsy__meta_set_text(r, "fsy.device_id", device_id)) != FSY_OK ||
        (rc = fsy__meta_set_text(r, "fsy.user", user)) != FSY_OK ||
        (rc = fsy__tx_commit(r)) != FSY_OK) {
        fsy__tx_rollback(r);
        return rc;
    }
    fsy__strlcpy(r->device_id, device_id, sizeof(r->device_id));
    fsy__strlcpy(r->user, user, sizeof(r->user));
    return FSY_OK;
}

int fsy_replica_config_set(fsy_replica *r, const char *key, const char *value)
{
    FSY_CHECK_ARG(r && r->db && key);
    fsy__err_clear(r);
    if (!key[0] || strlen(key) > 100 || strncmp(key, "fsy.", 4) == 0)
        return fsy__err(r, FSY_EINVAL,
                        "setting \"%.100s\": keys are 1-100 bytes and \"fsy.\" is "
                        "reserved",
                        key);
    if (value && strlen(value) > 65536)
        return fsy__err(r, FSY_EINVAL, "setting \"%s\": value over 64 KiB", key);
    sqlite3_stmt *st = NULL;
    int s =
        sqlite3_prepare_v2(r->db,
                           value ? "INSERT OR REPLACE INTO fsy_config(key, value) VALUES(?1, ?2)"
                                 : "DELETE FROM fsy_config WHERE key = ?1",
                           -1, &st, NULL);
    if (s != SQLITE_OK)
        return fsy__sqlerr(r, s, "writing a setting");
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    if (value)
        sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
    s = sqlite3_step(st);
    sqlite3_finalize(st);
    return s == SQLITE_DONE ? FSY_OK : fsy__sqlerr(r, s, "writing a setting");
}

int fsy_replica_config_get(fsy_replica *r, const char *key, char **out)
{
    FSY_CHECK_ARG(r && r->db && key && out);
    fsy__err_clear(r);
    *out = NULL;
    if (strncmp(key, "fsy.", 4) == 0) {
        if (strcmp(key, "fsy.device_id") != 0 && strcmp(key, "fsy.user") != 0)
            return fsy__err(r, FSY_ENOTFOUND, "no setting \"%.100s\"", key);
        int rc = fsy__meta_get_text(r, key, out);
        if (rc == FSY_ENOTFOUND)
            fsy__err(r, rc, "no setting \"%s\" (device not enrolled)", key);
        return rc;
    }
    sqlite3_stmt *st = NULL;
    int s = sqlite3_prepare_v2(r->db, "SELECT value FROM fsy_config WHERE key = ?1", -1, &st, NULL);
    if (s != SQLITE_OK)
        return fsy__sqlerr(r, s, "reading a setting");
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int rc = FSY_OK;
    s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        *out = fsy__strdup((const char *)sqlite3_column_text(st, 0));
        if (!*out)
            rc = fsy__err(r, FSY_ENOMEM, "out of memory");
    } else if (s == SQLITE_DONE) {
        rc = fsy__err(r, FSY_ENOTFOUND, "no setting \"%.100s\"", key);
    } else {
        rc = fsy__sqlerr(r, s, "reading a setting");
    }
    sqlite3_finalize(st);
    return rc;
}

int fsy_replica_wipe(fsy_replica *r)
{
    FSY_CHECK_ARG(r && r->db);
    fsy__err_clear(r);
    int rc = fsy__tx_begin(r);
    if (rc != FSY_OK)
        return rc;
    rc = fsy__exec(r, "DELETE FROM fsy_journal; DELETE FROM fsy_confirmed;"
                      " DELETE FROM fsy_conflicts; DELETE FROM customers; DELETE FROM contacts;"
                      " DELETE FROM visits; DELETE FROM notes; DELETE FROM reviews;"
                      " DELETE FROM fsy_meta WHERE key IN ('fsy.device_id', 'fsy.user',"
                      " 'fsy.cursor', 'fsy.last_error', 'fsy.last_sync_ms',"
                      " 'fsy.last_attempt_ms');");
    if (rc == FSY_OK)
        rc = fsy__replica_save_floors(r);
    if (rc == FSY_OK)
        rc = fsy__meta_set_int(r, "fsy.frozen_upto", r->next_seq - 1);
    if (rc == FSY_OK)
        rc = fsy__tx_commit(r);
    if (rc != FSY_OK) {
        fsy__tx_rollback(r);
        return rc;
    }
    /* Committed: the wipe has happened whatever fails from here on, so it returns
     * FSY_OK (an error means nothing changed). What the cache must hold is known
     * without reading it back. */
    r->device_id[0] = r->user[0] = '\0';
    r->n_pending = 0;
    r->frozen_upto = r->next_seq - 1;
    /* Reclaim the space so deleted rows are not left readable in free pages. Best
     * effort: if it fails the rows are still gone; a later wipe vacuums again. */
    fsy__exec(r, "PRAGMA wal_checkpoint(TRUNCATE); VACUUM;");
    /* On failure the cache stays marked stale and the next transaction re-reads it. */
    fsy__replica_reload_state(r);
    fsy__err_clear(r);
    return FSY_OK;
}
