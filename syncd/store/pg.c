/*
 * pg.c — the PostgreSQL store (libpq): the connection and its recovery, transactions,
 * the schema and its migrations, the sync operations and the change-log sequencer.
 * Several daemons may share one database; every promise of DESIGN §4 holds across
 * them because row_get and device_get lock what they read (SELECT ... FOR UPDATE) and
 * because the pull cursor (pos) is handed out only to committed entries, by one
 * sequencer at a time (docs/protocol.md, "The change log and late commits").
 * The review queries live in pg_review.c, `migrate-store` in migrate.c.
 */
#include "pg_internal.h"
#include "fieldsync.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Advisory-lock keys (the single 64-bit key space; the two-int form used per row by
 * row_get does not overlap it). 0x66737900 = "fsy\0". */
#define LOCK_SCHEMA    "1718843648"
#define LOCK_SEQUENCER "1718843649"

#define N_STMT 96

typedef struct pg_stmt {
    unsigned long hash;
    char *sql; /* owned copy: callers may pass SQL they built */
    char name[12];
} pg_stmt;

typedef struct pgs {
    char *dsn; /* the libpq conninfo, for the second connection */
    PGconn *conn;
    PGconn *seq; /* the sequencer's own connection, opened when conn is in a transaction */
    bool in_tx;
    bool appended; /* this transaction appended to the change log */
    bool in_group; /* group_begin ran: requests are savepoints of one transaction */
    bool in_req;   /* in a group: a request's savepoint is open */
    int n_stmt;
    unsigned n_named; /* statements ever prepared on this connection: unique names */
    pg_stmt stmt[N_STMT];
    char err[FSY_STORE_ERR_LEN];
} pgs;

/* ---- errors ---------------------------------------------------------------- */

int fsy__pg_fail(void *ctx, int code, const char *fmt, ...)
{
    pgs *s = ctx;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->err, sizeof(s->err), fmt, ap);
    va_end(ap);
    /* One line: libpq messages end with a newline and may span several. */
    for (char *p = s->err; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = p[1] ? ' ' : '\0';
    return code;
}

/* What a failed statement means for the caller: FSY_EBUSY for everything a retry
 * (by the device, after 503 + Retry-After) can cure. */
static int classify(PGconn *c, const PGresult *r)
{
    if (PQstatus(c) == CONNECTION_BAD)
        return FSY_EBUSY;
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    if (!state)
        return FSY_EBUSY; /* no answer from the server at all */
    if (strcmp(state, "40P01") == 0 || strcmp(state, "40001") == 0 || /* deadlock, serialization */
        strcmp(state, "55P03") == 0 || strcmp(state, "57014") == 0 || /* lock/statement timeout */
        strcmp(state, "23505") == 0 ||  /* unique violation: a racing twin */
        strncmp(state, "08", 2) == 0 || /* connection exceptions */
        strncmp(state, "53", 2) == 0 || /* too many connections, out of memory */
        strncmp(state, "57P", 3) == 0)  /* shutdown, crash recovery */
        return FSY_EBUSY;
    if (strcmp(state, "XX001") == 0 || strcmp(state, "XX002") == 0)
        return FSY_ECORRUPT;
    return FSY_ERROR;
}

static int pgfail(pgs *s, PGconn *c, const PGresult *r, const char *what)
{
    int code = classify(c, r);
    const char *msg = r && PQresultErrorMessage(r)[0] ? PQresultErrorMessage(r) : PQerrorMessage(c);
    if (PQstatus(c) == CONNECTION_BAD)
        return fsy__pg_fail(s, code, "store: %s: the database is unreachable: %s", what, msg);
    return fsy__pg_fail(s, code, "store: %s: %s", what, msg);
}

/* ---- connection ---------------------------------------------------------------- */

/* Session settings, on every (re)connect: a commit that returned is on disk (the
 * sequencer's correctness depends on it too), and a lock held by a stuck peer makes
 * requests fail fast with 503 rather than hang the daemon's loop. */
static const char session_sql[] = "SET synchronous_commit = on; SET lock_timeout = '5s';"
                                  " SET idle_in_transaction_session_timeout = '60s';"
                                  " SET client_min_messages = warning";

static int session_setup(pgs *s, PGconn *c)
{
    PGresult *r = PQexec(c, session_sql);
    int rc = PQresultStatus(r) == PGRES_COMMAND_OK ? FSY_OK : pgfail(s, c, r, "session setup");
    PQclear(r);
    return rc;
}

static PGconn *connect_to(const char *conninfo)
{
    /* Earlier keywords are defaults the conninfo (expanded from dbname) overrides. */
    const char *keys[] = {"connect_timeout", "application_name", "dbname", NULL};
    const char *vals[] = {"5", "fieldsyncd", conninfo, NULL};
    return PQconnectdbParams(keys, vals, 1);
}

static void forget_statements(pgs *s)
{
    for (int i = 0; i < s->n_stmt; i++)
        free(s->stmt[i].sql);
    s->n_stmt = 0;
}

/* After a lost connection: one PQreset, then the session settings again. Prepared
 * statements died with the old session. */
static int reconnect(pgs *s)
{
    forget_statements(s);
    s->in_tx = false;
    PQreset(s->conn);
    if (PQstatus(s->conn) != CONNECTION_OK)
        return fsy__pg_fail(s, FSY_EBUSY, "store: the database is unreachable: %s",
                            PQerrorMessage(s->conn));
    return session_setup(s, s->conn);
}

PGconn *fsy__pg_conn(void *ctx)
{
    return ((pgs *)ctx)->conn;
}

static unsigned long hash_sql(const char *sql)
{
    unsigned long h = 5381;
    for (const unsigned char *p = (const unsigned char *)sql; *p; p++)
        h = h * 33 + *p;
    return h;
}

/* The prepared statement for sql (prepared on first use), or NULL when the cache is
 * full and the statement must run unnamed. *rc is set on failure. */
static const char *statement(pgs *s, const char *what, const char *sql, int nparams, int *rc)
{
    unsigned long h = hash_sql(sql);
    *rc = FSY_OK;
    for (int i = 0; i < s->n_stmt; i++)
        if (s->stmt[i].hash == h && strcmp(s->stmt[i].sql, sql) == 0)
            return s->stmt[i].name;
    if (s->n_stmt == N_STMT)
        return NULL;
    pg_stmt *st = &s->stmt[s->n_stmt];
    snprintf(st->name, sizeof(st->name), "f%u", s->n_named++);
    PGresult *r = PQprepare(s->conn, st->name, sql, nparams, NULL);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        *rc = pgfail(s, s->conn, r, what);
        PQclear(r);
        return NULL;
    }
    PQclear(r);
    st->sql = strdup(sql);
    if (!st->sql) {
        *rc = fsy__pg_fail(s, FSY_ENOMEM, "out of memory");
        return NULL;
    }
    st->hash = h;
    s->n_stmt++;
    return st->name;
}

static PGresult *exec_once(pgs *s, const char *what, const char *sql, int nparams,
                           const char *const *params, int *rc)
{
    const char *name = statement(s, what, sql, nparams, rc);
    if (*rc != FSY_OK)
        return NULL;
    return name ? PQexecPrepared(s->conn, name, nparams, params, NULL, NULL, 0)
                : PQexecParams(s->conn, sql, nparams, NULL, params, NULL, NULL, 0);
}

PGresult *fsy__pg_exec(void *ctx, const char *what, const char *sql, int nparams,
                       const char *const *params, int *rc)
{
    pgs *s = ctx;
    PGresult *r = exec_once(s, what, sql, nparams, params, rc);
    if (*rc == FSY_OK) {
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
            return r;
    }
    /* Outside a transaction a statement on a dead connection is retried once on a
     * fresh one (the database restarted since the last request). Inside one the
     * transaction is gone: the caller rolls back and the device retries. */
    if (PQstatus(s->conn) == CONNECTION_BAD && !s->in_tx) {
        PQclear(r);
        if ((*rc = reconnect(s)) != FSY_OK)
            return NULL;
        r = exec_once(s, what, sql, nparams, params, rc);
        if (*rc == FSY_OK &&
            (PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK))
            return r;
    }
    if (*rc == FSY_OK)
        *rc = pgfail(s, s->conn, r, what);
    PQclear(r);
    return NULL;
}

/* ---- schema ------------------------------------------------------------------- */

/* Table for table, column for column the SQLite store's (sqlite.c), so migrate-store
 * is a straight copy. vals and meta are TEXT, not JSONB: JSONB rejects \u0000 and
 * reorders keys, and the daemon parses them anyway. */
static const char migration_1[] =
    "CREATE TABLE users(name TEXT PRIMARY KEY, role INT NOT NULL,"
    " territory TEXT NOT NULL DEFAULT '', supervisor TEXT NOT NULL DEFAULT '',"
    " pw_hash TEXT NOT NULL DEFAULT '', created_ms BIGINT NOT NULL);"
    "CREATE TABLE enroll_codes(hash BYTEA PRIMARY KEY, \"user\" TEXT NOT NULL,"
    " expires_ms BIGINT NOT NULL, used_ms BIGINT NOT NULL DEFAULT 0);"
    "CREATE TABLE devices(id TEXT PRIMARY KEY, \"user\" TEXT NOT NULL,"
    " token_hash BYTEA NOT NULL UNIQUE, created_ms BIGINT NOT NULL,"
    " revoked_ms BIGINT NOT NULL DEFAULT 0, hwm BIGINT NOT NULL DEFAULT 0,"
    " cursor BIGINT NOT NULL DEFAULT 0, last_sync_ms BIGINT NOT NULL DEFAULT 0,"
    " skew_ms BIGINT NOT NULL DEFAULT 0, app_version TEXT NOT NULL DEFAULT '');"
    "CREATE TABLE push_results(device TEXT NOT NULL, seq BIGINT NOT NULL,"
    " hash BYTEA NOT NULL, result TEXT NOT NULL, PRIMARY KEY(device, seq));"
    "CREATE TABLE rows(tbl INT NOT NULL, id TEXT NOT NULL, ver BIGINT NOT NULL,"
    " vals TEXT NOT NULL, meta TEXT NOT NULL, territory TEXT NOT NULL, owner TEXT NOT NULL,"
    " customer_id TEXT NOT NULL, info_level INT NOT NULL, PRIMARY KEY(tbl, id));"
    "CREATE INDEX rows_customer ON rows(customer_id);"
    "CREATE INDEX rows_review_visit ON rows((vals::json->>'visit_id')) WHERE tbl = 4;"
    "CREATE SEQUENCE fsy_version;"
    "CREATE SEQUENCE fsy_pos;"
    /* q: the version a change gave its fields, taken inside the writing transaction.
     * pos: the pull cursor, NULL until the sequencer numbers the committed entry. */
    "CREATE TABLE changes(q BIGINT PRIMARY KEY, pos BIGINT UNIQUE, kind TEXT NOT NULL,"
    " tbl INT NOT NULL, id TEXT NOT NULL, device TEXT NOT NULL, \"user\" TEXT NOT NULL,"
    " hlc TEXT NOT NULL, fields TEXT, old_territory TEXT, at_ms BIGINT NOT NULL,"
    " territory TEXT, owner TEXT);"
    "CREATE INDEX changes_row ON changes(tbl, id);"
    "CREATE INDEX changes_unsequenced ON changes(q) WHERE pos IS NULL;"
    "CREATE TABLE conflicts(n BIGSERIAL PRIMARY KEY, tbl INT NOT NULL, id TEXT NOT NULL,"
    " field TEXT NOT NULL, kept TEXT, other TEXT, kept_device TEXT, kept_user TEXT,"
    " kept_hlc TEXT, other_device TEXT, other_user TEXT, other_hlc TEXT, q BIGINT NOT NULL,"
    " at_ms BIGINT NOT NULL, clamped INT NOT NULL DEFAULT 0, resolved_by TEXT,"
    " resolved_ms BIGINT);"
    "CREATE INDEX conflicts_row ON conflicts(tbl, id);"
    "CREATE INDEX conflicts_open ON conflicts(resolved_ms);"
    "CREATE TABLE events(n BIGSERIAL PRIMARY KEY, kind TEXT NOT NULL, device TEXT,"
    " detail TEXT, at_ms BIGINT NOT NULL);"
    "CREATE TABLE device_reports(device TEXT PRIMARY KEY, pending BIGINT NOT NULL,"
    " parked BIGINT NOT NULL, at_ms BIGINT NOT NULL);"
    /* The sequencer (docs/protocol.md, "The change log and late commits"). Runs in its
     * own transaction; the advisory lock serialises runs, and each statement of a
     * VOLATILE function takes a fresh snapshot, so the UPDATE sees every entry the
     * previous run numbered. wait = false: give up at once if another run holds the
     * lock (a reader must not queue). Returns the number of entries numbered, -1 when
     * the lock was busy. nextval is evaluated in q order: the inner ORDER BY keeps the
     * subquery from being flattened. */
    "CREATE FUNCTION fsy_sequence(wait BOOLEAN) RETURNS BIGINT LANGUAGE plpgsql AS $$"
    " DECLARE n BIGINT;"
    " BEGIN"
    "  IF wait THEN PERFORM pg_advisory_xact_lock(" LOCK_SEQUENCER ");"
    "  ELSIF NOT pg_try_advisory_xact_lock(" LOCK_SEQUENCER ") THEN RETURN -1; END IF;"
    "  UPDATE changes c SET pos = s.p FROM (SELECT o.q, nextval('fsy_pos') AS p"
    "   FROM (SELECT q FROM changes WHERE pos IS NULL ORDER BY q) o) s WHERE c.q = s.q;"
    "  GET DIAGNOSTICS n = ROW_COUNT;"
    "  RETURN n;"
    " END $$;"
    /* row_get: the row's advisory lock (stands in for a row that does not exist yet),
     * then the row FOR UPDATE, read in a snapshot taken after the lock was granted. */
    "CREATE FUNCTION fsy_row_get(t INT, rid TEXT) RETURNS SETOF rows LANGUAGE plpgsql AS $$"
    " BEGIN"
    "  PERFORM pg_advisory_xact_lock(t, hashtext(rid));"
    "  RETURN QUERY SELECT * FROM rows WHERE tbl = t AND id = rid FOR UPDATE;"
    " END $$;";

static const char *const migrations[] = {migration_1};
#define SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

static int simple(pgs *s, PGconn *c, const char *what, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    int rc = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? FSY_OK : pgfail(s, c, r, what);
    PQclear(r);
    return rc;
}

/* Create or migrate the schema: in one transaction, under an advisory lock, so two
 * daemons starting together neither race nor see half a schema. */
static int migrate(pgs *s)
{
    /* Up to date (the common case, every admin command opens the store): no lock. */
    PGresult *cur = PQexec(s->conn, "SELECT value FROM fsy_meta WHERE key = 'schema_version'");
    bool is_current = PQresultStatus(cur) == PGRES_TUPLES_OK && PQntuples(cur) == 1 &&
                      strtol(PQgetvalue(cur, 0, 0), NULL, 10) == SCHEMA_VERSION;
    PQclear(cur);
    if (is_current)
        return FSY_OK;
    int rc = simple(s, s->conn, "creating the schema",
                    "BEGIN; SELECT pg_advisory_xact_lock(" LOCK_SCHEMA ");"
                    " CREATE TABLE IF NOT EXISTS fsy_meta(key TEXT PRIMARY KEY, value TEXT)");
    if (rc != FSY_OK)
        goto fail;
    PGresult *r = PQexec(s->conn, "SELECT value FROM fsy_meta WHERE key = 'schema_version'");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        rc = pgfail(s, s->conn, r, "reading the schema version");
        PQclear(r);
        goto fail;
    }
    int have = PQntuples(r) ? (int)strtol(PQgetvalue(r, 0, 0), NULL, 10) : 0;
    PQclear(r);
    if (have > SCHEMA_VERSION) {
        rc = fsy__pg_fail(s, FSY_ESCHEMA,
                          "store: the database has schema version %d; this fieldsyncd knows up "
                          "to %d (upgrade fieldsyncd)",
                          have, SCHEMA_VERSION);
        goto fail;
    }
    for (int v = have; v < SCHEMA_VERSION; v++)
        if ((rc = simple(s, s->conn, "migrating the schema", migrations[v])) != FSY_OK)
            goto fail;
    char ver[16];
    snprintf(ver, sizeof(ver), "%d", SCHEMA_VERSION);
    const char *p[] = {ver};
    r = PQexecParams(s->conn,
                     "INSERT INTO fsy_meta(key, value) VALUES('schema_version', $1)"
                     " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                     1, NULL, p, NULL, NULL, 0);
    rc = PQresultStatus(r) == PGRES_COMMAND_OK ? FSY_OK
                                               : pgfail(s, s->conn, r, "saving the schema version");
    PQclear(r);
    if (rc == FSY_OK)
        rc = simple(s, s->conn, "committing the schema", "COMMIT");
    if (rc == FSY_OK)
        return FSY_OK;
fail:
    PQclear(PQexec(s->conn, "ROLLBACK"));
    return rc;
}

/* ---- open, close, transactions -------------------------------------------------- */

static int pg_open(void **ctx, const char *dsn, char *err, size_t errlen)
{
    pgs *s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return FSY_ENOMEM;
    }
    int rc = FSY_OK;
    s->dsn = strdup(dsn);
    s->conn = s->dsn ? connect_to(dsn) : NULL;
    if (!s->conn) {
        rc = fsy__pg_fail(s, FSY_ENOMEM, "out of memory");
    } else if (PQstatus(s->conn) != CONNECTION_OK) {
        rc =
            fsy__pg_fail(s, FSY_EBUSY, "cannot connect to PostgreSQL: %s", PQerrorMessage(s->conn));
    } else if ((rc = session_setup(s, s->conn)) == FSY_OK) {
        rc = migrate(s);
    }
    if (rc != FSY_OK) {
        snprintf(err, errlen, "%s", s->err);
        PQfinish(s->conn);
        free(s->dsn);
        free(s);
        return rc;
    }
    *ctx = s;
    return FSY_OK;
}

static void pg_close(void *ctx)
{
    pgs *s = ctx;
    if (!s)
        return;
    forget_statements(s);
    PQfinish(s->seq);
    PQfinish(s->conn);
    free(s->dsn);
    free(s);
}

static const char *pg_errmsg(void *ctx)
{
    return ((pgs *)ctx)->err;
}

/* A statement inside the group's transaction, outside any savepoint logic. */
static int group_exec(pgs *s, const char *sql, const char *what)
{
    PGresult *r = PQexec(s->conn, sql);
    int rc = PQresultStatus(r) == PGRES_COMMAND_OK ? FSY_OK : pgfail(s, s->conn, r, what);
    PQclear(r);
    return rc;
}

static int pg_begin(void *ctx)
{
    pgs *s = ctx;
    int rc = FSY_OK;
    if (s->in_group) {
        if (s->in_req)
            return fsy__pg_fail(s, FSY_EMISUSE, "store: a request's transaction is already open");
        /* A statement that failed outside any request aborted the group's transaction:
         * nothing more can join it, and group_end reports the failure. */
        if (PQtransactionStatus(s->conn) != PQTRANS_INTRANS)
            return fsy__pg_fail(s, FSY_EBUSY, "store: this batch's transaction failed");
        rc = group_exec(s, "SAVEPOINT fsy_req", "beginning a request");
        s->in_req = rc == FSY_OK;
        return rc;
    }
    if (PQstatus(s->conn) == CONNECTION_BAD && (rc = reconnect(s)) != FSY_OK)
        return rc;
    PGresult *r = PQexec(s->conn, "BEGIN");
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQstatus(s->conn) == CONNECTION_BAD) {
        /* The database restarted since the last request: one fresh connection. */
        PQclear(r);
        if ((rc = reconnect(s)) != FSY_OK)
            return rc;
        r = PQexec(s->conn, "BEGIN");
    }
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        rc = pgfail(s, s->conn, r, "beginning a transaction");
    PQclear(r);
    if (rc == FSY_OK) {
        s->in_tx = true;
        s->appended = false;
    }
    return rc;
}

/*
 * Number the committed, unnumbered log entries: on conn when it is outside a
 * transaction, else on the store's second connection (a pull reads the log inside its
 * own transaction, and the numbering must commit on its own). Returns how many were
 * numbered, -1 when wait is false and another run holds the lock; on failure sets *rc.
 */
static int64_t run_sequencer(pgs *s, bool wait, int *rc)
{
    PGconn *c = s->conn;
    *rc = FSY_OK;
    if (s->in_tx) {
        if (s->seq && PQstatus(s->seq) != CONNECTION_OK) {
            PQfinish(s->seq);
            s->seq = NULL;
        }
        if (!s->seq) {
            s->seq = connect_to(s->dsn);
            if (!s->seq || PQstatus(s->seq) != CONNECTION_OK) {
                *rc = fsy__pg_fail(s, FSY_EBUSY, "store: the database is unreachable: %s",
                                   s->seq ? PQerrorMessage(s->seq) : "out of memory");
                PQfinish(s->seq);
                s->seq = NULL;
                return 0;
            }
            if ((*rc = session_setup(s, s->seq)) != FSY_OK)
                return 0;
        }
        c = s->seq;
    }
    const char *p[] = {wait ? "t" : "f"};
    PGresult *r = PQexecParams(c, "SELECT fsy_sequence($1)", 1, NULL, p, NULL, NULL, 0);
    int64_t n = 0;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
        n = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    else
        *rc = pgfail(s, c, r, "numbering the change log");
    PQclear(r);
    return n;
}

static int pg_commit(void *ctx)
{
    pgs *s = ctx;
    int rc = FSY_OK;
    if (s->in_group) {
        /* Not durable yet: group_end commits. A request whose savepoint cannot be
         * released (its transaction is in error) is undone, so the group stays usable. */
        s->in_req = false;
        if ((rc = group_exec(s, "RELEASE SAVEPOINT fsy_req", "ending a request")) != FSY_OK &&
            PQstatus(s->conn) == CONNECTION_OK) {
            char keep[FSY_STORE_ERR_LEN];
            memcpy(keep, s->err, sizeof(keep));
            group_exec(s, "ROLLBACK TO SAVEPOINT fsy_req", "undoing a request");
            group_exec(s, "RELEASE SAVEPOINT fsy_req", "undoing a request");
            memcpy(s->err, keep, sizeof(keep));
        }
        return rc;
    }
    /* After a commit that appended log entries, the sequencer runs in the same round
     * trip, in its own transaction: the entries get their pos as soon as they are
     * visible. Its failure does not undo the commit; the next reader numbers them. */
    const char *sql = s->appended ? "COMMIT; SELECT fsy_sequence(true)" : "COMMIT";
    s->in_tx = false;
    s->appended = false;
    if (!PQsendQuery(s->conn, sql))
        return fsy__pg_fail(s, FSY_EBUSY,
                            "store: committing: the outcome is unknown, the database connection "
                            "failed: %s",
                            PQerrorMessage(s->conn));
    PGresult *r;
    bool first = true;
    while ((r = PQgetResult(s->conn)) != NULL) {
        if (first) {
            first = false;
            if (PQresultStatus(r) != PGRES_COMMAND_OK) {
                if (PQstatus(s->conn) == CONNECTION_BAD)
                    rc = fsy__pg_fail(s, FSY_EBUSY,
                                      "store: committing: the outcome is unknown, the "
                                      "database connection was lost: %s",
                                      PQerrorMessage(s->conn));
                else
                    rc = pgfail(s, s->conn, r, "committing");
            } else if (strcmp(PQcmdStatus(r), "COMMIT") != 0) {
                rc = fsy__pg_fail(s, FSY_ERROR,
                                  "store: committing: the transaction had failed and was "
                                  "rolled back");
            }
        }
        PQclear(r);
    }
    if (first && rc == FSY_OK)
        rc = fsy__pg_fail(s, FSY_EBUSY,
                          "store: committing: the outcome is unknown, no answer from the "
                          "database: %s",
                          PQerrorMessage(s->conn));
    if (PQstatus(s->conn) == CONNECTION_OK && PQtransactionStatus(s->conn) != PQTRANS_IDLE)
        PQclear(PQexec(s->conn, "ROLLBACK"));
    return rc;
}

static void pg_rollback(void *ctx)
{
    pgs *s = ctx;
    if (s->in_group) {
        if (s->in_req && PQstatus(s->conn) == CONNECTION_OK) {
            char keep[FSY_STORE_ERR_LEN];
            memcpy(keep, s->err, sizeof(keep));
            group_exec(s, "ROLLBACK TO SAVEPOINT fsy_req", "undoing a request");
            group_exec(s, "RELEASE SAVEPOINT fsy_req", "undoing a request");
            memcpy(s->err, keep, sizeof(keep));
        }
        s->in_req = false;
        return;
    }
    s->in_tx = false;
    s->appended = false;
    if (PQstatus(s->conn) == CONNECTION_OK && PQtransactionStatus(s->conn) != PQTRANS_IDLE)
        PQclear(PQexec(s->conn, "ROLLBACK"));
}

/* ---- parameters and results ---------------------------------------------------- */

typedef char num_text[24];

static const char *num(num_text buf, int64_t v)
{
    snprintf(buf, sizeof(num_text), "%lld", (long long)v);
    return buf;
}

/* bytea as a text parameter: "\x" and hex. */
static const char *hex32(char out[67], const unsigned char in[32])
{
    static const char digits[] = "0123456789abcdef";
    out[0] = '\\';
    out[1] = 'x';
    for (int i = 0; i < 32; i++) {
        out[2 + 2 * i] = digits[in[i] >> 4];
        out[3 + 2 * i] = digits[in[i] & 0xf];
    }
    out[66] = '\0';
    return out;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* A bytea result column (hex output) into 32 bytes; zeroes when it is not 32 bytes. */
static void unhex32(unsigned char out[32], const PGresult *r, int row, int col)
{
    const char *t = PQgetvalue(r, row, col);
    memset(out, 0, 32);
    if (strlen(t) != 66 || t[0] != '\\' || t[1] != 'x')
        return;
    for (int i = 0; i < 32; i++) {
        int hi = hexval(t[2 + 2 * i]), lo = hexval(t[3 + 2 * i]);
        if (hi < 0 || lo < 0) {
            memset(out, 0, 32);
            return;
        }
        out[i] = (unsigned char)(hi << 4 | lo);
    }
}

static void text_at(char *dst, size_t n, const PGresult *r, int row, int col)
{
    snprintf(dst, n, "%s", PQgetvalue(r, row, col));
}

static int64_t i64_at(const PGresult *r, int row, int col)
{
    return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

/* Run a statement whose result is not needed. */
static int run(pgs *s, const char *what, const char *sql, int n, const char *const *p)
{
    int rc;
    PQclear(fsy__pg_exec(s, what, sql, n, p, &rc));
    return rc;
}

/* Group commit (store.h version 3): one transaction for the requests of one wake-up of
 * the daemon's loop, one durable commit, then one sequencer run for all their entries. */
static int pg_group_begin(void *ctx)
{
    pgs *s = ctx;
    if (s->in_group || s->in_tx)
        return fsy__pg_fail(s, FSY_EMISUSE, "store: a transaction is already open");
    int rc = pg_begin(s);
    s->in_group = rc == FSY_OK;
    s->in_req = false;
    return rc;
}

static int pg_group_end(void *ctx, bool is_commit)
{
    pgs *s = ctx;
    if (!s->in_group)
        return fsy__pg_fail(s, FSY_EMISUSE, "store: no group is open");
    if (s->in_req)
        pg_rollback(s); /* a request left its work open: it was not acknowledged */
    s->in_group = false;
    if (!is_commit) {
        pg_rollback(s);
        return FSY_OK;
    }
    if (PQstatus(s->conn) == CONNECTION_OK && PQtransactionStatus(s->conn) == PQTRANS_INERROR) {
        pg_rollback(s);
        return fsy__pg_fail(s, FSY_EBUSY, "store: this batch's transaction failed");
    }
    return pg_commit(s);
}

/* ---- users and enrolment codes --------------------------------------------------- */

static int pg_user_put(void *ctx, const fsy_user *u)
{
    static const char sql[] =
        "INSERT INTO users(name, role, territory, supervisor, pw_hash, created_ms)"
        " VALUES($1, $2, $3, $4, $5, $6) ON CONFLICT (name) DO UPDATE SET role = EXCLUDED.role,"
        " territory = EXCLUDED.territory, supervisor = EXCLUDED.supervisor,"
        " pw_hash = EXCLUDED.pw_hash, created_ms = EXCLUDED.created_ms";
    num_text role, created;
    const char *p[] = {u->name,       num(role, u->role), u->territory,
                       u->supervisor, u->pw_hash,         num(created, u->created_ms)};
    return run(ctx, "saving a user", sql, 6, p);
}

static int pg_user_get(void *ctx, const char *name, fsy_user *out)
{
    static const char sql[] = "SELECT name, role, territory, supervisor, pw_hash, created_ms"
                              " FROM users WHERE name = $1";
    const char *p[] = {name};
    int rc;
    PGresult *r = fsy__pg_exec(ctx, "reading a user", sql, 1, p, &rc);
    if (!r)
        return rc;
    if (PQntuples(r) == 1) {
        memset(out, 0, sizeof(*out));
        text_at(out->name, sizeof(out->name), r, 0, 0);
        out->role = (int)i64_at(r, 0, 1);
        text_at(out->territory, sizeof(out->territory), r, 0, 2);
        text_at(out->supervisor, sizeof(out->supervisor), r, 0, 3);
        text_at(out->pw_hash, sizeof(out->pw_hash), r, 0, 4);
        out->created_ms = i64_at(r, 0, 5);
    } else {
        rc = fsy__pg_fail(ctx, FSY_ENOTFOUND, "no user \"%.100s\"", name);
    }
    PQclear(r);
    return rc;
}

static int pg_code_put(void *ctx, const unsigned char hash[32], const char *user,
                       int64_t expires_ms)
{
    static const char sql[] =
        "INSERT INTO enroll_codes(hash, \"user\", expires_ms) VALUES($1, $2, $3)";
    char hx[67];
    num_text exp;
    const char *p[] = {hex32(hx, hash), user, num(exp, expires_ms)};
    return run(ctx, "saving an enrolment code", sql, 3, p);
}

static int pg_code_take(void *ctx, const unsigned char hash[32], int64_t now_ms, char user_out[101])
{
    /* One statement: two daemons given the same code cannot both take it. */
    static const char sql[] = "UPDATE enroll_codes SET used_ms = $2 WHERE hash = $1"
                              " AND used_ms = 0 AND expires_ms > $2 RETURNING \"user\"";
    char hx[67];
    num_text now;
    const char *p[] = {hex32(hx, hash), num(now, now_ms)};
    int rc;
    PGresult *r = fsy__pg_exec(ctx, "using an enrolment code", sql, 2, p, &rc);
    if (!r)
        return rc;
    if (PQntuples(r) == 1)
        text_at(user_out, 101, r, 0, 0);
    else
        rc = fsy__pg_fail(ctx, FSY_ENOTFOUND, "enrolment code unknown, used or expired");
    PQclear(r);
    return rc;
}

/* ---- devices and push results ---------------------------------------------------- */

#define DEVICE_COLS                                                                                \
    "id, \"user\", token_hash, created_ms, revoked_ms, hwm, cursor, last_sync_ms, skew_ms, "       \
    "app_version"

static void read_device(const PGresult *r, int row, fsy_device *d)
{
    memset(d, 0, sizeof(*d));
    text_at(d->id, sizeof(d->id), r, row, 0);
    text_at(d->user, sizeof(d->user), r, row, 1);
    unhex32(d->token_hash, r, row, 2);
    d->created_ms = i64_at(r, row, 3);
    d->revoked_ms = i64_at(r, row, 4);
    d->hwm = i64_at(r, row, 5);
    d->cursor = i64_at(r, row, 6);
    d->last_sync_ms = i64_at(r, row, 7);
    d->skew_ms = i64_at(r, row, 8);
    text_at(d->app_version, sizeof(d->app_version), r, row, 9);
}

/*
 * A device's counters only move forward and a revocation sticks, whatever the caller
 * read before: a pull that read its device before its transaction (api.c) must not
 * undo a push's hwm committed meanwhile through another daemon (exactly once), nor an
 * administrator's revoke.
 */
static int pg_device_put(void *ctx, const fsy_device *d)
{
    static const char sql[] =
        "INSERT INTO devices(" DEVICE_COLS ") VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        " ON CONFLICT (id) DO UPDATE SET \"user\" = EXCLUDED.\"user\","
        " token_hash = EXCLUDED.token_hash, created_ms = EXCLUDED.created_ms,"
        " revoked_ms = CASE WHEN devices.revoked_ms <> 0 THEN devices.revoked_ms"
        "  ELSE EXCLUDED.revoked_ms END,"
        " hwm = greatest(devices.hwm, EXCLUDED.hwm),"
        " cursor = greatest(devices.cursor, EXCLUDED.cursor),"
        " last_sync_ms = greatest(devices.last_sync_ms, EXCLUDED.last_sync_ms),"
        " skew_ms = EXCLUDED.skew_ms, app_version = EXCLUDED.app_version";
    char hx[67];
    num_text a, b, c, e, f, g;
    const char *p[] = {d->id,
                       d->user,
                       hex32(hx, d->token_hash),
                       num(a, d->created_ms),
                       num(b, d->revoked_ms),
                       num(c, d->hwm),
                       num(e, d->cursor),
                       num(f, d->last_sync_ms),
                       num(g, d->skew_ms),
                       d->app_version};
    return run(ctx, "saving a device", sql, 10, p);
}

static int device_one(pgs *s, const char *sql, const char *key, fsy_device *out)
{
    const char *p[] = {key};
    int rc;
    PGresult *r = fsy__pg_exec(s, "reading a device", sql, 1, p, &rc);
    if (!r)
        return rc;
    if (PQntuples(r) == 1)
        read_device(r, 0, out);
    else
        rc = fsy__pg_fail(s, FSY_ENOTFOUND, "no such device");
    PQclear(r);
    return rc;
}

/* Locks the device row: push reads its device first in its transaction, so a retried
 * batch landing on another daemon waits for the first to commit and then finds its
 * stored result (exactly once across daemons). */
static int pg_device_get(void *ctx, const char *id, fsy_device *out)
{
    static const char sql[] = "SELECT " DEVICE_COLS " FROM devices WHERE id = $1 FOR UPDATE";
    return device_one(ctx, sql, id, out);
}

static int pg_device_by_token(void *ctx, const unsigned char hash[32], fsy_device *out)
{
    static const char sql[] = "SELECT " DEVICE_COLS " FROM devices WHERE token_hash = $1";
    char hx[67];
    return device_one(ctx, sql, hex32(hx, hash), out);
}

static int pg_device_list(void *ctx, fsy_device_cb cb, void *userdata)
{
    static const char sql[] = "SELECT " DEVICE_COLS " FROM devices ORDER BY \"user\", created_ms";
    int rc;
    PGresult *r = fsy__pg_exec(ctx, "listing devices", sql, 0, NULL, &rc);
    for (int i = 0; r && rc == FSY_OK && i < PQntuples(r); i++) {
        fsy_device d;
        read_device(r, i, &d);
        rc = cb(&d, userdata);
    }
    PQclear(r);
    return rc;
}

static int pg_result_get(void *ctx, const char *device, int64_t seq, unsigned char hash_out[32],
                         char **json_out)
{
    static const char sql[] =
        "SELECT hash, result FROM push_results WHERE device = $1 AND seq = $2";
    num_text sq;
    const char *p[] = {device, num(sq, seq)};
    int rc;
    *json_out = NULL;
    PGresult *r = fsy__pg_exec(ctx, "reading a push result", sql, 2, p, &rc);
    if (!r)
        return rc;
    if (PQntuples(r) == 1) {
        unhex32(hash_out, r, 0, 0);
        *json_out = strdup(PQgetvalue(r, 0, 1));
        rc = *json_out ? FSY_OK : fsy__pg_fail(ctx, FSY_ENOMEM, "out of memory");
    } else {
        rc = FSY_ENOTFOUND;
    }
    PQclear(r);
    return rc;
}

static int pg_result_put(void *ctx, const char *device, int64_t seq, const unsigned char hash[32],
                         const char *json)
{
    static const char sql[] =
        "INSERT INTO push_results(device, seq, hash, result) VALUES($1, $2, $3, $4)"
        " ON CONFLICT (device, seq) DO UPDATE SET hash = EXCLUDED.hash, result = EXCLUDED.result";
    static const char prune[] = "DELETE FROM push_results WHERE device = $1 AND seq < $2";
    char hx[67];
    num_text sq, lo;
    const char *p[] = {device, num(sq, seq), hex32(hx, hash), json};
    int rc = run(ctx, "saving a push result", sql, 4, p);
    /* A device sends its oldest unacknowledged change first, so results far below
     * the newest one can never be asked for again. */
    if (rc == FSY_OK && seq % 256 == 0) {
        const char *q[] = {device, num(lo, seq - 4096)};
        rc = run(ctx, "pruning push results", prune, 2, q);
    }
    return rc;
}

/* ---- rows ------------------------------------------------------------------------ */

#define ROW_COLS "tbl, id, ver, vals, meta, territory, owner, customer_id, info_level"

static int read_row(pgs *s, const PGresult *r, int i, fsy_srow *out)
{
    fsy_srow_clear(out);
    out->tbl = (int)i64_at(r, i, 0);
    text_at(out->id, sizeof(out->id), r, i, 1);
    out->exists = true;
    out->ver = i64_at(r, i, 2);
    out->vals = cJSON_Parse(PQgetvalue(r, i, 3));
    out->meta = cJSON_Parse(PQgetvalue(r, i, 4));
    text_at(out->territory, sizeof(out->territory), r, i, 5);
    text_at(out->owner, sizeof(out->owner), r, i, 6);
    text_at(out->customer_id, sizeof(out->customer_id), r, i, 7);
    out->info_level = (int)i64_at(r, i, 8);
    if (!out->vals || !out->meta)
        return fsy__pg_fail(s, FSY_ECORRUPT, "store: row %s is damaged", out->id);
    return FSY_OK;
}

/*
 * Locks the row for the rest of the transaction, so two daemons merging edits of one
 * row take turns and the second sees the first's field versions (conflict detection
 * across daemons). fsy_row_get() (schema) takes the row's (tbl, id) advisory lock
 * first — a row that does not exist yet has nothing else to lock — then reads it
 * FOR UPDATE in a fresh snapshot: one round trip.
 */
static int pg_row_get(void *ctx, int tbl, const char *id, fsy_srow *out)
{
    static const char sql[] = "SELECT " ROW_COLS " FROM fsy_row_get($1, $2)";
    num_text t;
    const char *p[] = {num(t, tbl), id};
    int rc;
    PGresult *r = fsy__pg_exec(ctx, "reading a row", sql, 2, p, &rc);
    if (!r)
        return rc;
    if (PQntuples(r) == 1) {
        rc = read_row(ctx, r, 0, out);
    } else {
        fsy_srow_clear(out);
        out->tbl = tbl;
        snprintf(out->id, sizeof(out->id), "%s", id);
        out->vals = cJSON_CreateObject();
        out->meta = cJSON_CreateObject();
        rc = out->vals && out->meta ? FSY_OK : fsy__pg_fail(ctx, FSY_ENOMEM, "out of memory");
    }
    PQclear(r);
    return rc;
}

/*
 * A parent's scope for a child being written: FOR SHARE, so children of one customer
 * written through several daemons do not queue behind each other, while a move of the
 * customer (row_get: FOR UPDATE) and its children's writes still exclude each other:
 * whichever comes second sees the first's result (the child gets the new territory, or
 * the move's rows_of_customer sees the child). A parent that does not exist yet has no
 * row to lock; a child cannot name one it has not seen committed anyway.
 */
static int pg_row_scope(void *ctx, int tbl, const char *id, fsy_srow *out)
{
    static const char sql[] = "SELECT ver, territory, owner, customer_id, info_level FROM rows"
                              " WHERE tbl = $1 AND id = $2 FOR SHARE";
    num_text t;
    const char *p[] = {num(t, tbl), id};
    int rc;
    PGresult *r = fsy__pg_exec(ctx, "reading a row's scope", sql, 2, p, &rc);
    if (!r)
        return rc;
    fsy_srow_clear(out);
    out->tbl = tbl;
    snprintf(out->id, sizeof(out->id), "%s", id);
    if (PQntuples(r) == 1) {
        out->exists = true;
        out->ver = i64_at(r, 0, 0);
        text_at(out->territory, sizeof(out->territory), r, 0, 1);
        text_at(out->owner, sizeof(out->owner), r, 0, 2);
        text_at(out->customer_id, sizeof(out->customer_id), r, 0, 3);
        out->info_level = (int)i64_at(r, 0, 4);
    }
    PQclear(r);
    return FSY_OK;
}

static int pg_row_put(void *ctx, const fsy_srow *row)
{
    static const char sql[] =
        "INSERT INTO rows(" ROW_COLS ") VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        " ON CONFLICT (tbl, id) DO UPDATE SET ver = EXCLUDED.ver, vals = EXCLUDED.vals,"
        " meta = EXCLUDED.meta, territory = EXCLUDED.territory, owner = EXCLUDED.owner,"
        " customer_id = EXCLUDED.customer_id, info_level = EXCLUDED.info_level";
    char *vals = cJSON_PrintUnformatted(row->vals), *meta = cJSON_PrintUnformatted(row->meta);
    int rc = FSY_OK;
    if (!vals || !meta) {
        rc = fsy__pg_fail(ctx, FSY_ENOMEM, "out of memory");
    } else {
        num_text t, v, il;
        const char *p[] = {
            num(t, row->tbl), row->id,          num(v, row->ver),        vals, meta, row->territory,
            row->owner,       row->customer_id, num(il, row->info_level)};
        rc = run(ctx, "saving a row", sql, 9, p);
    }
    free(vals);
    free(meta);
    return rc;
}

/* Locked too: a customer moving territory rewrites its children's scope, and a push
 * editing one of them on another daemon must not write over that (or be overwritten). */
static int pg_rows_of_customer(void *ctx, const char *customer_id, fsy_row_cb cb, void *userdata)
{
    static const char sql[] = "SELECT " ROW_COLS " FROM rows WHERE customer_id = $1"
                              " ORDER BY tbl, id FOR UPDATE";
    const char *p[] = {customer_id};
    int rc;
    fsy_srow row;
    fsy_srow_init(&row);
    /* The whole result is in memory: the callback may run statements of its own. */
    PGresult *r = fsy__pg_exec(ctx, "listing rows", sql, 1, p, &rc);
    for (int i = 0; r && rc == FSY_OK && i < PQntuples(r); i++) {
        rc = read_row(ctx, r, i, &row);
        if (rc == FSY_OK)
            rc = cb(&row, userdata);
    }
    PQclear(r);
    fsy_srow_clear(&row);
    return rc;
}

/* ---- the change log ---------------------------------------------------------------- */

static int pg_log_append(void *ctx, fsy_logrec *rec)
{
    /* q comes from a sequence inside this transaction; pos is left NULL for the
     * sequencer, which numbers the entry once it has committed. */
    static const char sql[] =
        "INSERT INTO changes(q, kind, tbl, id, device, \"user\", hlc, fields, old_territory,"
        " at_ms, territory, owner) VALUES(nextval('fsy_version'), $1, $2, $3, $4, $5, $6, $7,"
        " $8, $9, $10, $11) RETURNING q";
    pgs *s = ctx;
    char kind[2] = {rec->kind, 0};
    num_text t, at;
    const char *p[] = {kind,
                       num(t, rec->tbl),
                       rec->id,
                       rec->device,
                       rec->user,
                       rec->hlc,
                       rec->fields,
                       rec->old_territory,
                       num(at, rec->at_ms),
                       rec->kind == 'c' ? rec->territory : NULL,
                       rec->kind == 'c' ? rec->owner : NULL};
    int rc;
    PGresult *r = fsy__pg_exec(s, "appending to the change log", sql, 11, p, &rc);
    if (!r)
        return rc;
    rec->q = i64_at(r, 0, 0);
    rec->pos = 0;
    s->appended = true;
    PQclear(r);
    return FSY_OK;
}

/* The head (max pos) and whether committed entries wait for a number come from the
 * same statement as the entries: one snapshot. */
static const char log_read_sql[] =
    "WITH h AS (SELECT (SELECT coalesce(max(pos), 0) FROM changes) AS head,"
    "  EXISTS(SELECT 1 FROM changes WHERE pos IS NULL) AS unnumbered)"
    " SELECT h.head, h.unnumbered, c.q, c.pos, c.kind, c.tbl, c.id, c.device, c.\"user\","
    "  c.hlc, c.fields, c.old_territory, c.at_ms, r.tbl IS NOT NULL, r.territory, r.owner,"
    "  r.info_level, c.fields IS NULL"
    " FROM h LEFT JOIN (SELECT * FROM changes c WHERE c.pos > $1"
    "   AND (NOT $3::boolean OR c.territory = $4 OR c.owner = $5 OR c.kind = 's'"
    "        OR c.territory IS NULL)"
    "   ORDER BY c.pos LIMIT $2) c ON true"
    " LEFT JOIN rows r ON r.tbl = c.tbl AND r.id = c.id"
    " ORDER BY c.pos";

static int pg_log_read(void *ctx, int64_t after, int limit, const fsy_log_scope *scope,
                       fsy_log_cb cb, void *userdata, int64_t *seen_out)
{
    pgs *s = ctx;
    num_text a, l;
    const char *p[] = {num(a, after), num(l, limit), scope ? "t" : "f",
                       scope && scope->territory ? scope->territory : "",
                       scope && scope->owner ? scope->owner : ""};
    int rc;
    PGresult *r = fsy__pg_exec(s, "reading the change log", log_read_sql, 5, p, &rc);
    if (!r)
        return rc;
    /* Committed entries without a number: their writer's sequencer has not run yet
     * (or its daemon died between commit and numbering). Number them here, without
     * queueing behind a running sequencer, and read again if that gave any. */
    if (PQgetvalue(r, 0, 1)[0] == 't') {
        int src;
        if (run_sequencer(s, false, &src) > 0) {
            PQclear(r);
            if (!(r = fsy__pg_exec(s, "reading the change log", log_read_sql, 5, p, &rc)))
                return rc;
        }
    }
    int64_t head = i64_at(r, 0, 0), seen = head;
    int n = PQgetisnull(r, 0, 2) ? 0 : PQntuples(r);
    for (int i = 0; i < n; i++) {
        fsy_logrec rec;
        memset(&rec, 0, sizeof(rec));
        rec.q = i64_at(r, i, 2);
        rec.pos = i64_at(r, i, 3);
        rec.kind = PQgetvalue(r, i, 4)[0];
        rec.tbl = (int)i64_at(r, i, 5);
        text_at(rec.id, sizeof(rec.id), r, i, 6);
        text_at(rec.device, sizeof(rec.device), r, i, 7);
        text_at(rec.user, sizeof(rec.user), r, i, 8);
        text_at(rec.hlc, sizeof(rec.hlc), r, i, 9);
        rec.fields = PQgetvalue(r, i, 17)[0] == 't' ? NULL : PQgetvalue(r, i, 10);
        text_at(rec.old_territory, sizeof(rec.old_territory), r, i, 11);
        rec.at_ms = i64_at(r, i, 12);
        rec.row_exists = PQgetvalue(r, i, 13)[0] == 't';
        text_at(rec.territory, sizeof(rec.territory), r, i, 14);
        text_at(rec.owner, sizeof(rec.owner), r, i, 15);
        rec.info_level = (int)i64_at(r, i, 16);
        int crc = cb(&rec, userdata);
        if (crc || i + 1 == limit || rec.pos > seen)
            seen = rec.pos;
        if (crc) {
            rc = crc;
            break;
        }
    }
    PQclear(r);
    if (seen_out)
        *seen_out = seen;
    return rc;
}

static int64_t pg_log_max(void *ctx)
{
    static const char sql[] = "SELECT coalesce(max(pos), 0) FROM changes";
    int rc;
    PGresult *r = fsy__pg_exec(ctx, "reading the change log head", sql, 0, NULL, &rc);
    int64_t v = r && PQntuples(r) == 1 ? i64_at(r, 0, 0) : 0;
    PQclear(r);
    return v;
}

/* The same (tbl, hashtext(id)) advisory locks fsy_row_get() takes, all at once in
 * (tbl, hash) order: the sorted subquery (OFFSET 0 keeps it a fence) feeds the lock
 * calls row by row in that order. Ids are UUIDs (push.c validates them), so the array
 * literals need no quoting; anything else is refused. */
static int pg_lock_rows(void *ctx, int n, const int *tbls, const char *const *ids)
{
    static const char sql[] =
        "SELECT pg_advisory_xact_lock(t, h) FROM (SELECT DISTINCT t, hashtext(id) AS h"
        " FROM unnest($1::int[], $2::text[]) AS k(t, id) ORDER BY 1, 2 OFFSET 0) s";
    if (n <= 0)
        return FSY_OK;
    size_t cap = (size_t)n * 40 + 8;
    char *ta = malloc((size_t)n * 12 + 8), *ia = malloc(cap);
    if (!ta || !ia) {
        free(ta);
        free(ia);
        return fsy__pg_fail(ctx, FSY_ENOMEM, "out of memory");
    }
    size_t tl = 0, il = 0;
    ta[tl++] = '{';
    ia[il++] = '{';
    for (int i = 0; i < n; i++) {
        size_t len = strlen(ids[i]);
        if (len != 36 || strspn(ids[i], "0123456789abcdefABCDEF-") != 36) {
            free(ta);
            free(ia);
            return fsy__pg_fail(ctx, FSY_EINVAL, "locking rows: \"%.40s\" is not a row id", ids[i]);
        }
        tl += (size_t)sprintf(ta + tl, "%s%d", i ? "," : "", tbls[i]);
        il += (size_t)sprintf(ia + il, "%s%s", i ? "," : "", ids[i]);
    }
    ta[tl++] = '}';
    ta[tl] = '\0';
    ia[il++] = '}';
    ia[il] = '\0';
    const char *p[] = {ta, ia};
    int rc = run(ctx, "locking the batch's rows", sql, 2, p);
    free(ta);
    free(ia);
    return rc;
}

/* ---- conflicts and events ------------------------------------------------------------ */

static int pg_conflict_put(void *ctx, const fsy_conflict *c)
{
    static const char sql[] =
        "INSERT INTO conflicts(tbl, id, field, kept, other, kept_device, kept_user, kept_hlc,"
        " other_device, other_user, other_hlc, q, at_ms, clamped)"
        " VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)";
    num_text t, q, at, cl;
    const char *p[] = {num(t, c->tbl),    c->id,
                       c->field,          c->kept,
                       c->other,          c->kept_device,
                       c->kept_user,      c->kept_hlc,
                       c->other_device,   c->other_user,
                       c->other_hlc,      num(q, c->q),
                       num(at, c->at_ms), num(cl, c->clock_clamped ? 1 : 0)};
    return run(ctx, "saving a conflict", sql, 14, p);
}

static int pg_event_put(void *ctx, const char *kind, const char *device, const char *detail,
                        int64_t at_ms)
{
    static const char sql[] =
        "INSERT INTO events(kind, device, detail, at_ms) VALUES($1, $2, $3, $4)";
    num_text at;
    const char *p[] = {kind, device, detail, num(at, at_ms)};
    return run(ctx, "saving a security event", sql, 4, p);
}

const fsy_store_ops fsy_store_pg = {
    .version = 3,
    .name = "postgresql",
    .open = pg_open,
    .close = pg_close,
    .errmsg = pg_errmsg,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .user_put = pg_user_put,
    .user_get = pg_user_get,
    .code_put = pg_code_put,
    .code_take = pg_code_take,
    .device_put = pg_device_put,
    .device_get = pg_device_get,
    .device_by_token = pg_device_by_token,
    .device_list = pg_device_list,
    .result_get = pg_result_get,
    .result_put = pg_result_put,
    .row_get = pg_row_get,
    .row_put = pg_row_put,
    .rows_of_customer = pg_rows_of_customer,
    .log_append = pg_log_append,
    .log_read = pg_log_read,
    .log_max = pg_log_max,
    .conflict_put = pg_conflict_put,
    .event_put = pg_event_put,
    .user_list = fsy__pg_user_list,
    .visit_query = fsy__pg_visit_query,
    .row_log = fsy__pg_row_log,
    .conflict_query = fsy__pg_conflict_query,
    .conflict_resolve = fsy__pg_conflict_resolve,
    .device_report = fsy__pg_device_report,
    .device_health = fsy__pg_device_health,
    .group_begin = pg_group_begin,
    .group_end = pg_group_end,
    .row_scope = pg_row_scope,
    .lock_rows = pg_lock_rows,
};
