/*
 * migrate.c — `fieldsyncd migrate-store DIR CONNINFO` (migrate.h): moves the
 * embedded SQLite store of a data directory into an empty PostgreSQL database
 * with nothing lost — users, enrolment codes, devices (token hashes, hwm,
 * cursors), push results, rows, the whole change log (pos = q), conflicts
 * (numbers kept), events, device reports — then points DIR/fieldsyncd.conf at it.
 *
 * Every SQLite table is copied column for column into the table of the same name
 * that fsy_store_pg.open created (COPY FROM STDIN in one transaction; a source
 * column the target lacks is an error, never dropped), so a column added to both
 * stores later is carried without touching this file. Sequences are set past
 * what was copied. The daemon must be stopped for the cut-over: the copy is one
 * read snapshot, and writes after it would stay behind in store.db.
 */
#include "migrate.h"
#include "config.h"
#include "fieldsync.h"
#include "pg_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_TABLES  32
#define MAX_COLUMNS 64

typedef struct table_copy {
    char name[64];
    int64_t n_rows; /* copied from SQLite */
} table_copy;

typedef struct mig {
    const char *dir;
    FILE *out;
    sqlite3 *src;
    const fsy_store_ops *ops;
    void *pg;
    PGconn *conn;
    table_copy tables[MAX_TABLES];
    int n_tables;
    int64_t head; /* SQLite's log head: max(q) */
} mig;

static int complain(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int complain(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("fieldsyncd migrate-store: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 1;
}

/* ---- a growable buffer for COPY lines ---------------------------------------- */

typedef struct buf {
    char *p;
    size_t len, cap;
} buf;

static bool buf_put(buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (b->len + n + 1 > cap)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p)
            return false;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return true;
}

/* Text in COPY's text format: backslash, tab, newline and carriage return escaped. */
static bool buf_put_copytext(buf *b, const char *s, size_t n)
{
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        const char *esc = s[i] == '\\'   ? "\\\\"
                          : s[i] == '\t' ? "\\t"
                          : s[i] == '\n' ? "\\n"
                          : s[i] == '\r' ? "\\r"
                                         : NULL;
        if (!esc)
            continue;
        if (!buf_put(b, s + start, i - start) || !buf_put(b, esc, 2))
            return false;
        start = i + 1;
    }
    return buf_put(b, s + start, n - start);
}

/* One SQLite value as a COPY field: \N for NULL, bytea hex for a blob. */
static bool buf_put_value(buf *b, sqlite3_stmt *st, int col)
{
    char num[40];
    switch (sqlite3_column_type(st, col)) {
    case SQLITE_NULL:
        return buf_put(b, "\\N", 2);
    case SQLITE_INTEGER:
        snprintf(num, sizeof(num), "%lld", (long long)sqlite3_column_int64(st, col));
        return buf_put(b, num, strlen(num));
    case SQLITE_FLOAT:
        snprintf(num, sizeof(num), "%.17g", sqlite3_column_double(st, col));
        return buf_put(b, num, strlen(num));
    case SQLITE_BLOB: {
        static const char hex[] = "0123456789abcdef";
        const unsigned char *p = sqlite3_column_blob(st, col);
        int n = sqlite3_column_bytes(st, col);
        if (!buf_put(b, "\\\\x", 3)) /* bytea's "\x" with COPY's backslash escaped */
            return false;
        for (int i = 0; i < n; i++) {
            char h[2] = {hex[p[i] >> 4], hex[p[i] & 15]};
            if (!buf_put(b, h, 2))
                return false;
        }
        return true;
    }
    default: {
        const char *t = (const char *)sqlite3_column_text(st, col);
        return buf_put_copytext(b, t ? t : "", (size_t)sqlite3_column_bytes(st, col));
    }
    }
}

/* ---- is the store in use? ------------------------------------------------------ */

/*
 * A process with the store open (a running daemon, an admin command) holds a read
 * lock on the "dead man switch" byte of the WAL index, store.db-shm, for as long as
 * its connection is open (SQLite's unix VFS: byte 128, after the 8 lock slots at
 * 120). F_GETLK reports another process's lock without taking one. A pid file, if
 * the daemon writes one, is checked as well.
 */
static pid_t store_user(const char *dir, const char *store_path)
{
    char path[1200];
    snprintf(path, sizeof(path), "%s/fieldsyncd.pid", dir);
    FILE *f = fopen(path, "r");
    if (f) {
        long pid = 0;
        if (fscanf(f, "%ld", &pid) == 1 && pid > 0 && kill((pid_t)pid, 0) == 0) {
            fclose(f);
            return (pid_t)pid;
        }
        fclose(f);
    }
    snprintf(path, sizeof(path), "%s-shm", store_path);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return 0; /* no WAL index: nobody has the store open */
    struct flock fl;
    memset(&fl, 0, sizeof(fl));
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    fl.l_start = 128;
    fl.l_len = 1;
    pid_t who = 0;
    if (fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK)
        who = fl.l_pid > 0 ? fl.l_pid : -1;
    close(fd);
    return who;
}

/* ---- PostgreSQL helpers ----------------------------------------------------------- */

/* A statement with no result rows wanted; fsy__pg_exec records the message. */
static int pg_run(mig *m, const char *what, const char *sql, int n, const char *const *params)
{
    int rc;
    PGresult *res = fsy__pg_exec(m->pg, what, sql, n, params, &rc);
    if (!res)
        return complain("%s", m->ops->errmsg(m->pg));
    PQclear(res);
    return 0;
}

/* The first column of the first row as an integer; 0 when the answer is NULL. */
static int pg_int(mig *m, const char *what, const char *sql, int n, const char *const *params,
                  int64_t *out)
{
    int rc;
    PGresult *res = fsy__pg_exec(m->pg, what, sql, n, params, &rc);
    if (!res)
        return complain("%s", m->ops->errmsg(m->pg));
    *out = PQntuples(res) > 0 && !PQgetisnull(res, 0, 0) ? strtoll(PQgetvalue(res, 0, 0), NULL, 10)
                                                         : 0;
    PQclear(res);
    return 0;
}

/* A table or column name for SQL text: names come from the catalogues, never from input. */
static int quote_ident(mig *m, const char *name, char *out, size_t n)
{
    char *q = PQescapeIdentifier(m->conn, name, strlen(name));
    if (!q || strlen(q) >= n) {
        PQfreemem(q);
        return complain("cannot quote the name %.60s", name);
    }
    snprintf(out, n, "%s", q);
    PQfreemem(q);
    return 0;
}

static int sq_int(mig *m, const char *sql, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(m->src, sql, -1, &st, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        *out = sqlite3_column_int64(st, 0);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_OK ? 0 : complain("store.db: %s", sqlite3_errmsg(m->src));
}

/* ---- the steps ---------------------------------------------------------------------- */

/* Every table in the target except fsy_meta (the schema version) must be empty. */
static int check_target_empty(mig *m)
{
    static const char list[] =
        "SELECT table_name FROM information_schema.tables"
        " WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
        " AND table_name <> 'fsy_meta' ORDER BY 1";
    int rc;
    PGresult *res = fsy__pg_exec(m->pg, "listing the target's tables", list, 0, NULL, &rc);
    if (!res)
        return complain("%s", m->ops->errmsg(m->pg));
    int bad = 0;
    for (int i = 0; i < PQntuples(res) && !bad; i++) {
        char q[200], sql[300];
        int64_t n = 0;
        if ((bad = quote_ident(m, PQgetvalue(res, i, 0), q, sizeof(q))) != 0)
            break;
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", q);
        if ((bad = pg_int(m, "checking the target is empty", sql, 0, NULL, &n)) != 0)
            break;
        if (n > 0)
            bad = complain("the target database is not empty (%s holds %" PRId64
                           " rows); migrate-store only fills an empty database",
                           PQgetvalue(res, i, 0), n);
    }
    PQclear(res);
    return bad;
}

/* The target's columns of one table; 0 columns when the table does not exist. */
static int target_columns(mig *m, const char *table, char cols[][64], int *n_out)
{
    static const char sql[] = "SELECT column_name FROM information_schema.columns"
                              " WHERE table_schema = current_schema() AND table_name = $1"
                              " ORDER BY ordinal_position";
    const char *params[1] = {table};
    int rc;
    PGresult *res = fsy__pg_exec(m->pg, "reading the target's columns", sql, 1, params, &rc);
    if (!res)
        return complain("%s", m->ops->errmsg(m->pg));
    int n = 0;
    for (int i = 0; i < PQntuples(res) && n < MAX_COLUMNS; i++)
        snprintf(cols[n++], 64, "%s", PQgetvalue(res, i, 0));
    PQclear(res);
    *n_out = n;
    return 0;
}

static bool has_column(char cols[][64], int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(cols[i], name) == 0)
            return true;
    return false;
}

/* COPY one SQLite table into its PostgreSQL twin. */
static int copy_table(mig *m, table_copy *t)
{
    char src_cols[MAX_COLUMNS][64], dst_cols[MAX_COLUMNS][64];
    int n_src = 0, n_dst = 0, bad = 0;
    sqlite3_stmt *st = NULL;
    buf sel = {0}, copy = {0}, line = {0};
    PGresult *res = NULL;
    char q[200];

    /* Source columns, in order. */
    if ((bad = quote_ident(m, t->name, q, sizeof(q))) != 0)
        goto done;
    if (!buf_put(&sel, "PRAGMA table_info(", 18) || !buf_put(&sel, q, strlen(q)) ||
        !buf_put(&sel, ")", 1)) {
        bad = complain("out of memory");
        goto done;
    }
    if (sqlite3_prepare_v2(m->src, sel.p, -1, &st, NULL) != SQLITE_OK) {
        bad = complain("store.db: %s", sqlite3_errmsg(m->src));
        goto done;
    }
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (n_src == MAX_COLUMNS) {
            bad = complain("store.db: %s has more than %d columns", t->name, MAX_COLUMNS);
            goto done;
        }
        snprintf(src_cols[n_src++], 64, "%s", (const char *)sqlite3_column_text(st, 1));
    }
    sqlite3_finalize(st);
    st = NULL;

    if ((bad = target_columns(m, t->name, dst_cols, &n_dst)) != 0)
        goto done;
    if (n_dst == 0) {
        bad = complain("the PostgreSQL store has no table %s: is this fieldsyncd older than the "
                       "data directory?",
                       t->name);
        goto done;
    }
    for (int i = 0; i < n_src; i++)
        if (!has_column(dst_cols, n_dst, src_cols[i])) {
            bad = complain("the PostgreSQL table %s has no column %s: nothing copied", t->name,
                           src_cols[i]);
            goto done;
        }
    /* The change log's position: SQLite's single writer made it q. */
    bool add_pos = strcmp(t->name, "changes") == 0 && has_column(dst_cols, n_dst, "pos") &&
                   !has_column(src_cols, n_src, "pos") && has_column(src_cols, n_src, "q");
    int q_col = -1;

    sel.len = 0;
    if ((bad = quote_ident(m, t->name, q, sizeof(q))) != 0)
        goto done;
    bool ok = buf_put(&sel, "SELECT ", 7) && buf_put(&copy, "COPY ", 5) &&
              buf_put(&copy, q, strlen(q)) && buf_put(&copy, " (", 2);
    for (int i = 0; i < n_src && ok; i++) {
        if (strcmp(src_cols[i], "q") == 0)
            q_col = i;
        if ((bad = quote_ident(m, src_cols[i], q, sizeof(q))) != 0)
            goto done;
        /* The SQLite side uses the same quoting ("user" is a keyword in both). */
        ok = buf_put(&sel, i ? ", " : "", i ? 2 : 0) && buf_put(&sel, q, strlen(q)) &&
             buf_put(&copy, i ? ", " : "", i ? 2 : 0) && buf_put(&copy, q, strlen(q));
    }
    if (ok && add_pos)
        ok = buf_put(&copy, ", pos", 5);
    ok = ok && buf_put(&sel, " FROM ", 6);
    if (ok && (bad = quote_ident(m, t->name, q, sizeof(q))) != 0)
        goto done;
    ok = ok && buf_put(&sel, q, strlen(q)) && buf_put(&copy, ") FROM STDIN", 12);
    if (!ok) {
        bad = complain("out of memory");
        goto done;
    }
    if (sqlite3_prepare_v2(m->src, sel.p, -1, &st, NULL) != SQLITE_OK) {
        bad = complain("store.db: reading %s: %s", t->name, sqlite3_errmsg(m->src));
        goto done;
    }
    res = PQexec(m->conn, copy.p);
    if (PQresultStatus(res) != PGRES_COPY_IN) {
        bad = complain("copying %s: %s", t->name, PQerrorMessage(m->conn));
        goto done;
    }
    PQclear(res);
    res = NULL;
    int src_rc;
    while ((src_rc = sqlite3_step(st)) == SQLITE_ROW) {
        line.len = 0;
        for (int i = 0; i < n_src && ok; i++)
            ok = (i == 0 || buf_put(&line, "\t", 1)) && buf_put_value(&line, st, i);
        if (ok && add_pos)
            ok = buf_put(&line, "\t", 1) && buf_put_value(&line, st, q_col);
        ok = ok && buf_put(&line, "\n", 1);
        if (!ok || PQputCopyData(m->conn, line.p, (int)line.len) != 1) {
            PQputCopyEnd(m->conn, ok ? "write failed" : "out of memory");
            bad =
                complain("copying %s: %s", t->name, ok ? PQerrorMessage(m->conn) : "out of memory");
            break;
        }
        t->n_rows++;
    }
    if (!bad && src_rc != SQLITE_DONE) {
        PQputCopyEnd(m->conn, "source read failed");
        bad = complain("store.db: reading %s: %s", t->name, sqlite3_errmsg(m->src));
    }
    if (!bad && PQputCopyEnd(m->conn, NULL) != 1)
        bad = complain("copying %s: %s", t->name, PQerrorMessage(m->conn));
    /* Drain the COPY's results whatever happened, so the connection is usable again. */
    while ((res = PQgetResult(m->conn)) != NULL) {
        if (!bad && PQresultStatus(res) != PGRES_COMMAND_OK)
            bad = complain("copying %s: %s", t->name, PQresultErrorMessage(res));
        PQclear(res);
    }
done:
    PQclear(res);
    sqlite3_finalize(st);
    free(sel.p);
    free(copy.p);
    free(line.p);
    return bad;
}

/* setval(seq, v): the next value handed out is v + 1 (1 when nothing was copied). */
static int set_sequence(mig *m, const char *seq, int64_t v)
{
    char v_s[24];
    snprintf(v_s, sizeof(v_s), "%" PRId64, v);
    const char *params[2] = {seq, v_s};
    return pg_run(m, "setting a sequence",
                  "SELECT setval($1::regclass, greatest($2::bigint, 1), $2::bigint > 0)", 2,
                  params);
}

/* Serial columns (conflicts.n, events.n, ...) and the log's fsy_version / fsy_pos. */
static int set_sequences(mig *m)
{
    static const char serials[] =
        "SELECT table_name, column_name, pg_get_serial_sequence(quote_ident(table_name),"
        " column_name) FROM information_schema.columns WHERE table_schema = current_schema()"
        " AND (column_default LIKE 'nextval(%' OR is_identity = 'YES') ORDER BY 1, 2";
    int rc, bad = 0;
    PGresult *res = fsy__pg_exec(m->pg, "listing serial columns", serials, 0, NULL, &rc);
    if (!res)
        return complain("%s", m->ops->errmsg(m->pg));
    for (int i = 0; i < PQntuples(res) && !bad; i++) {
        char qt[200], qc[200], sql[500];
        int64_t max = 0;
        if (PQgetisnull(res, i, 2))
            continue;
        if ((bad = quote_ident(m, PQgetvalue(res, i, 0), qt, sizeof(qt))) != 0 ||
            (bad = quote_ident(m, PQgetvalue(res, i, 1), qc, sizeof(qc))) != 0)
            break;
        snprintf(sql, sizeof(sql), "SELECT coalesce(max(%s), 0) FROM %s", qc, qt);
        if ((bad = pg_int(m, "reading a serial column's maximum", sql, 0, NULL, &max)) == 0)
            bad = set_sequence(m, PQgetvalue(res, i, 2), max);
    }
    PQclear(res);
    static const char *const logseq[][2] = {
        {"fsy_version", "SELECT coalesce(max(q), 0) FROM changes"},
        {"fsy_pos", "SELECT coalesce(max(pos), 0) FROM changes"}};
    for (size_t i = 0; i < sizeof(logseq) / sizeof(logseq[0]) && !bad; i++) {
        int64_t exists = 0, max = 0;
        const char *params[1] = {logseq[i][0]};
        bad = pg_int(m, "looking up a sequence", "SELECT (to_regclass($1) IS NOT NULL)::int", 1,
                     params, &exists);
        if (!bad && exists) {
            bad = pg_int(m, "reading the log's maximum", logseq[i][1], 0, NULL, &max);
            if (!bad)
                bad = set_sequence(m, logseq[i][0], max);
        }
    }
    return bad;
}

/* Row counts and the log head, read back inside the copying transaction. */
static int verify(mig *m)
{
    for (int i = 0; i < m->n_tables; i++) {
        char q[200], sql[300];
        int64_t n = -1;
        if (quote_ident(m, m->tables[i].name, q, sizeof(q)) != 0)
            return 1;
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", q);
        if (pg_int(m, "counting copied rows", sql, 0, NULL, &n) != 0)
            return 1;
        if (n != m->tables[i].n_rows)
            return complain("verification failed: %s has %" PRId64 " rows in PostgreSQL, %" PRId64
                            " in store.db; nothing committed",
                            m->tables[i].name, n, m->tables[i].n_rows);
    }
    int64_t head = m->ops->log_max(m->pg);
    if (head != m->head)
        return complain("verification failed: the change log's head is %" PRId64
                        " in PostgreSQL, %" PRId64 " in store.db; nothing committed",
                        head, m->head);
    return 0;
}

int fsy_migrate_store(const char *dir, const char *conninfo, FILE *out)
{
    mig m;
    fsy_config cfg;
    char err[400];
    int bad = 1;
    bool in_tx = false;
    struct timespec t0, t1;

    memset(&m, 0, sizeof(m));
    m.dir = dir;
    m.out = out;
    m.ops = &fsy_store_pg;
    clock_gettime(CLOCK_MONOTONIC, &t0);

    if (fsy_config_load(&cfg, dir, err, sizeof(err)) != FSY_OK)
        return complain("%s", err);
    if (cfg.is_postgres)
        return complain("%s/fieldsyncd.conf already says store = postgresql; nothing to migrate",
                        dir);
    /* The same rule fsy_config_set_postgres applies, checked before anything is copied. */
    if (!conninfo[0] || strlen(conninfo) >= sizeof(cfg.postgres) || strpbrk(conninfo, "\n\r"))
        return complain("the PostgreSQL connection string must be one line of 1-%zu bytes",
                        sizeof(cfg.postgres) - 1);
    struct stat sb;
    if (stat(cfg.store_path, &sb) != 0)
        return complain("no store at %s: %s", cfg.store_path, strerror(errno));
    pid_t who = store_user(dir, cfg.store_path);
    if (who != 0) {
        if (who > 0)
            complain("%s is open in process %ld (a running `fieldsyncd serve`?)", cfg.store_path,
                     (long)who);
        else
            complain("%s is open in another process (a running `fieldsyncd serve`?)",
                     cfg.store_path);
        return complain("stop the daemon first: changes made after the copy would be left "
                        "behind in store.db");
    }

    /* One read snapshot of the whole store: BEGIN, then the first read fixes it. */
    if (sqlite3_open_v2(cfg.store_path, &m.src, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        sqlite3_busy_timeout(m.src, 5000) != SQLITE_OK ||
        sqlite3_exec(m.src, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
        complain("cannot open %s: %s", cfg.store_path,
                 m.src ? sqlite3_errmsg(m.src) : "out of memory");
        goto done;
    }
    {
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(m.src,
                               "SELECT name FROM sqlite_master WHERE type = 'table'"
                               " AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY rowid",
                               -1, &st, NULL) != SQLITE_OK) {
            complain("%s: %s", cfg.store_path, sqlite3_errmsg(m.src));
            goto done;
        }
        int n = 0;
        while (sqlite3_step(st) == SQLITE_ROW)
            if (n++ < MAX_TABLES)
                snprintf(m.tables[m.n_tables++].name, sizeof(m.tables[0].name), "%s",
                         (const char *)sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
        if (n > MAX_TABLES) {
            complain("%s has %d tables; this fieldsyncd copies at most %d", cfg.store_path, n,
                     MAX_TABLES);
            goto done;
        }
    }
    if (m.n_tables == 0 || sq_int(&m, "SELECT coalesce(max(q), 0) FROM changes", &m.head) != 0) {
        complain("%s is not a fieldsyncd store", cfg.store_path);
        goto done;
    }

    /* Opening the PostgreSQL store creates its schema (pg.c). */
    if (m.ops->open(&m.pg, conninfo, err, sizeof(err)) != FSY_OK) {
        m.pg = NULL;
        complain("%s", err);
        goto done;
    }
    m.conn = fsy__pg_conn(m.pg);
    if (m.ops->begin(m.pg) != FSY_OK) {
        complain("%s", m.ops->errmsg(m.pg));
        goto done;
    }
    in_tx = true;
    if (check_target_empty(&m) != 0)
        goto done;
    for (int i = 0; i < m.n_tables; i++)
        if (copy_table(&m, &m.tables[i]) != 0)
            goto done;
    if (set_sequences(&m) != 0 || verify(&m) != 0)
        goto done;
    if (m.ops->commit(m.pg) != FSY_OK) {
        in_tx = false;
        complain("committing: %s", m.ops->errmsg(m.pg));
        goto done;
    }
    in_tx = false;
    /* Read back after the commit, from a fresh transaction. */
    if (m.ops->begin(m.pg) == FSY_OK) {
        int64_t head = m.ops->log_max(m.pg);
        m.ops->rollback(m.pg);
        if (head != m.head) {
            complain("after commit the change log's head reads %" PRId64 ", expected %" PRId64
                     "; the config was NOT changed",
                     head, m.head);
            goto done;
        }
    }
    fsy_config now;
    snprintf(err, sizeof(err), "the rewritten config does not name the new store");
    if (fsy_config_set_postgres(dir, conninfo, err, sizeof(err)) != FSY_OK ||
        fsy_config_load(&now, dir, err, sizeof(err)) != FSY_OK || !now.is_postgres ||
        strcmp(now.postgres, conninfo) != 0) {
        complain("%s", err);
        complain("the data is in PostgreSQL, but the config does not name it yet: set "
                 "`store = postgresql` and `postgres = ...` in %s/fieldsyncd.conf by hand",
                 dir);
        goto done;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    fprintf(out, "migrated %s to PostgreSQL (database %s on %s:%s) in %.1f s\n", cfg.store_path,
            PQdb(m.conn), PQhost(m.conn), PQport(m.conn),
            (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    for (int i = 0; i < m.n_tables; i++)
        fprintf(out, "  %-16s %10" PRId64 " rows\n", m.tables[i].name, m.tables[i].n_rows);
    fprintf(out,
            "  change log head  %10" PRId64
            " (positions kept: devices pull on from their cursors)\n"
            "%s/fieldsyncd.conf now says store = postgresql; store.db stays as the backup.\n"
            "Start the daemon(s) with `fieldsyncd serve %s`; devices keep their tokens.\n",
            m.head, dir, dir);
    bad = 0;
done:
    if (in_tx)
        m.ops->rollback(m.pg);
    if (m.pg)
        m.ops->close(m.pg);
    if (m.src) {
        sqlite3_exec(m.src, "ROLLBACK", NULL, NULL, NULL);
        sqlite3_close(m.src);
    }
    return bad;
}
