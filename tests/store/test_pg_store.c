/*
 * test_pg_store.c — the PostgreSQL store against a real server (the ctest fixture's
 * throwaway one; FSY_E2E_PG names its conninfo file), several connections at once:
 *
 *   late_commit     a transaction that took a low version is held open while later
 *                   ones commit and are read; a cursor taken then still receives the
 *                   held entry, once, after it commits (docs/protocol.md, "The change
 *                   log and late commits")
 *   orphan          an entry committed without a number (its daemon died before the
 *                   sequencer ran) is numbered and delivered by the next reader
 *   row_serialises  two connections merging one row take turns: the second row_get
 *                   waits for the first transaction and sees its result, for a row
 *                   that exists and for one that does not yet
 *   parent_share    row_scope (a child's read of its customer) shares the lock with other
 *                   children, but waits for a move (row_get) and makes a move wait
 *   device_lock     device_get waits the same way (exactly once across daemons), and
 *                   writing back a device read earlier never lowers its hwm or cursor
 *                   nor lifts a revocation
 *
 * Each run makes a database of its own, dropped at exit. Exit 77: no server.
 */
#include "fieldsync.h"
#include "fsy_test.h"
#include "store/pg_internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

static const fsy_store_ops *ops = &fsy_store_pg;
static char g_admin[1024], g_db[64], g_conninfo[1200];

static void quiet(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
}

static void admin_sql(const char *sql)
{
    PGconn *c = PQconnectdb(g_admin);
    if (PQstatus(c) != CONNECTION_OK)
        FSY_FAIL("cannot connect to %s: %s", g_admin, PQerrorMessage(c));
    PQsetNoticeProcessor(c, quiet, NULL);
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        FSY_FAIL("%s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
    PQfinish(c);
}

static void drop_db(void)
{
    char sql[128];
    snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", g_db);
    admin_sql(sql);
}

static void *open_store(void)
{
    void *s = NULL;
    char err[300];
    if (ops->open(&s, g_conninfo, err, sizeof(err)) != FSY_OK)
        FSY_FAIL("open: %s", err);
    return s;
}

#define OK(s, call)                                                                                \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        if (rc_ != FSY_OK)                                                                         \
            FSY_FAIL("%s -> %d: %s", #call, rc_, ops->errmsg(s));                                  \
    } while (0)

static int64_t append(void *s, const char *id, const char *fields)
{
    fsy_logrec rec;
    memset(&rec, 0, sizeof(rec));
    rec.kind = 'c';
    rec.tbl = 0;
    snprintf(rec.id, sizeof(rec.id), "%s", id);
    snprintf(rec.device, sizeof(rec.device), "dev");
    snprintf(rec.user, sizeof(rec.user), "alice");
    snprintf(rec.hlc, sizeof(rec.hlc), "0000000000000001");
    rec.fields = fields;
    snprintf(rec.territory, sizeof(rec.territory), "south");
    snprintf(rec.owner, sizeof(rec.owner), "alice");
    rec.at_ms = 1;
    OK(s, ops->log_append(s, &rec));
    return rec.q;
}

/* What one log_read delivered. */
typedef struct seen_log {
    int n;
    int64_t q[64], pos[64];
    char id[64][37];
} seen_log;

static int collect(const fsy_logrec *rec, void *ud)
{
    seen_log *l = ud;
    if (l->n < 64) {
        l->q[l->n] = rec->q;
        l->pos[l->n] = rec->pos;
        snprintf(l->id[l->n], sizeof(l->id[0]), "%s", rec->id);
        l->n++;
    }
    return 0;
}

/* A pull: its own transaction, like pull.c. Returns the new cursor. */
static int64_t pull(void *s, int64_t after, seen_log *out)
{
    int64_t seen = -1;
    memset(out, 0, sizeof(*out));
    OK(s, ops->begin(s));
    OK(s, ops->log_read(s, after, 50, NULL, collect, out, &seen));
    OK(s, ops->commit(s));
    ASSERT_TRUE(seen >= after);
    for (int i = 0; i < out->n; i++) {
        ASSERT_TRUE(out->pos[i] > after && out->pos[i] <= seen);
        if (i)
            ASSERT_TRUE(out->pos[i] > out->pos[i - 1]);
    }
    return seen;
}

static void test_late_commit(void)
{
    void *held = open_store(), *w = open_store(), *rd = open_store();
    seen_log l;
    int64_t cursor = pull(rd, 0, &l);

    /* The held transaction takes its version first... */
    OK(held, ops->begin(held));
    int64_t q_late = append(held, "late", "{\"a\":1}");

    /* ...then two later transactions commit, and a device pulls them. */
    OK(w, ops->begin(w));
    int64_t q1 = append(w, "early1", "{\"b\":1}");
    OK(w, ops->commit(w));
    OK(w, ops->begin(w));
    int64_t q2 = append(w, "early2", "{\"c\":1}");
    OK(w, ops->commit(w));
    ASSERT_TRUE(q_late < q1 && q1 < q2);

    cursor = pull(rd, cursor, &l);
    ASSERT_EQ(l.n, 2);
    ASSERT_EQ(l.q[0], q1);
    ASSERT_EQ(l.q[1], q2);
    ASSERT_EQ(cursor, l.pos[1]); /* the cursor is past both */
    ASSERT_EQ(ops->log_max(rd), cursor);

    /* Nothing new while the held transaction is open, however often one asks. */
    int64_t again = pull(rd, cursor, &l);
    ASSERT_EQ(l.n, 0);
    ASSERT_EQ(again, cursor);

    /* It commits: the next pull from the cursor taken above delivers it. */
    OK(held, ops->commit(held));
    int64_t after = pull(rd, cursor, &l);
    ASSERT_EQ(l.n, 1);
    ASSERT_EQ(l.q[0], q_late);
    ASSERT_STREQ(l.id[0], "late");
    ASSERT_TRUE(l.pos[0] > cursor);
    /* Once. */
    pull(rd, after, &l);
    ASSERT_EQ(l.n, 0);
    /* A cursor from before everything sees all three, in pos order. */
    pull(rd, 0, &l);
    ASSERT_EQ(l.n, 3);
    ASSERT_EQ(l.q[2], q_late);

    /* A held transaction that rolls back leaves nothing behind and blocks nothing. */
    OK(held, ops->begin(held));
    append(held, "rolled-back", "{}");
    OK(w, ops->begin(w));
    int64_t q3 = append(w, "early3", "{}");
    OK(w, ops->commit(w));
    ops->rollback(held);
    pull(rd, after, &l);
    ASSERT_EQ(l.n, 1);
    ASSERT_EQ(l.q[0], q3);
    ops->close(held);
    ops->close(w);
    ops->close(rd);
    printf("ok   late_commit: a transaction held open while later ones commit and are pulled "
           "is still delivered, once\n");
}

static void test_orphan(void)
{
    void *rd = open_store();
    seen_log l;
    int64_t cursor = pull(rd, 0, &l);
    /* A writer that died between its commit and the sequencer: committed, no pos. */
    PGconn *c = PQconnectdb(g_conninfo);
    ASSERT_TRUE(PQstatus(c) == CONNECTION_OK);
    PGresult *r = PQexec(c, "INSERT INTO changes(q, kind, tbl, id, device, \"user\", hlc, fields,"
                            " at_ms, territory, owner) VALUES(nextval('fsy_version'), 'c', 0,"
                            " 'orphan', 'dev', 'alice', '0000000000000001', '{}', 1, 'south',"
                            " 'alice')");
    ASSERT_TRUE(PQresultStatus(r) == PGRES_COMMAND_OK);
    PQclear(r);
    PQfinish(c);
    /* The reader numbers it (on its second connection: it is inside a transaction). */
    int64_t after = pull(rd, cursor, &l);
    ASSERT_EQ(l.n, 1);
    ASSERT_STREQ(l.id[0], "orphan");
    ASSERT_TRUE(after > cursor);
    pull(rd, after, &l);
    ASSERT_EQ(l.n, 0);
    ops->close(rd);
    printf("ok   orphan: an entry committed but never numbered is numbered and delivered by "
           "the next reader\n");
}

/* The second connection of a row/device race, on its own thread. */
typedef struct racer {
    void *s;
    bool is_device;
    bool is_scope; /* row_scope (a child's read of its parent) instead of row_get */
    const char *id;
    fsy_srow row;
    fsy_device dev;
    atomic_bool done;
    int rc;
} racer;

static void *race(void *arg)
{
    racer *x = arg;
    x->rc = ops->begin(x->s);
    if (x->rc == FSY_OK)
        x->rc = x->is_device  ? ops->device_get(x->s, x->id, &x->dev)
                : x->is_scope ? ops->row_scope(x->s, 0, x->id, &x->row)
                              : ops->row_get(x->s, 0, x->id, &x->row);
    atomic_store(&x->done, true);
    return NULL;
}

static void wait_done(racer *x)
{
    for (int i = 0; i < 1000 && !atomic_load(&x->done); i++)
        usleep(10000);
    ASSERT_TRUE(atomic_load(&x->done));
}

static void row_round(void *a, void *b, const char *id, bool exists)
{
    fsy_srow row;
    fsy_srow_init(&row);
    OK(a, ops->begin(a));
    OK(a, ops->row_get(a, 0, id, &row));
    ASSERT_EQ(row.exists, exists);
    int64_t ver = row.ver;

    racer x;
    memset(&x, 0, sizeof(x));
    x.s = b;
    x.id = id;
    fsy_srow_init(&x.row);
    pthread_t t;
    ASSERT_EQ(pthread_create(&t, NULL, race, &x), 0);
    usleep(300000);
    ASSERT_TRUE(!atomic_load(&x.done)); /* waiting for a's transaction */

    row.ver = ver + 1;
    snprintf(row.territory, sizeof(row.territory), "south");
    cJSON_AddNumberToObject(row.vals, exists ? "edit2" : "edit1", 1);
    OK(a, ops->row_put(a, &row));
    OK(a, ops->commit(a));
    wait_done(&x);
    pthread_join(t, NULL);
    OK(b, x.rc);
    ASSERT_TRUE(x.row.exists);
    ASSERT_EQ(x.row.ver, ver + 1); /* b sees what a committed */
    ASSERT_TRUE(cJSON_GetObjectItemCaseSensitive(x.row.vals, exists ? "edit2" : "edit1"));
    ops->rollback(b);
    fsy_srow_clear(&x.row);
    fsy_srow_clear(&row);
}

static void test_row_serialises(void)
{
    void *a = open_store(), *b = open_store();
    row_round(a, b, "0190aaaa-0000-7000-8000-000000000001", false);
    row_round(a, b, "0190aaaa-0000-7000-8000-000000000001", true);
    ops->close(a);
    ops->close(b);
    printf("ok   row_serialises: a second connection's row_get waits for the first "
           "transaction and sees its versions (new row and existing row)\n");
}

/* A child's write reads its customer under a shared lock: children written through two
 * daemons do not wait for each other, but a move of the customer (row_get) and a child's
 * read exclude each other, and whichever comes second sees the first's result. */
static void test_parent_share(void)
{
    const char *id = "0190aaaa-0000-7000-8000-000000000001"; /* made by row_serialises */
    void *a = open_store(), *b = open_store(), *c = open_store();
    fsy_srow row;
    fsy_srow_init(&row);

    /* 1. A move holds the customer: a child's read waits, then sees the new territory. */
    OK(a, ops->begin(a));
    OK(a, ops->row_get(a, 0, id, &row));
    ASSERT_TRUE(row.exists);
    racer x;
    memset(&x, 0, sizeof(x));
    x.s = b;
    x.id = id;
    x.is_scope = true;
    fsy_srow_init(&x.row);
    pthread_t t;
    ASSERT_EQ(pthread_create(&t, NULL, race, &x), 0);
    usleep(300000);
    ASSERT_TRUE(!atomic_load(&x.done)); /* the child waits for the move */
    snprintf(row.territory, sizeof(row.territory), "north");
    row.ver++;
    OK(a, ops->row_put(a, &row));
    OK(a, ops->commit(a));
    wait_done(&x);
    pthread_join(t, NULL);
    OK(b, x.rc);
    ASSERT_TRUE(x.row.exists);
    ASSERT_TRUE(strcmp(x.row.territory, "north") == 0);

    /* 2. b still holds its shared lock: another child's read does not wait ... */
    racer y;
    memset(&y, 0, sizeof(y));
    y.s = c;
    y.id = id;
    y.is_scope = true;
    fsy_srow_init(&y.row);
    ASSERT_EQ(pthread_create(&t, NULL, race, &y), 0);
    wait_done(&y);
    pthread_join(t, NULL);
    OK(c, y.rc);
    ASSERT_TRUE(strcmp(y.row.territory, "north") == 0);

    /* ... but a move waits until both children's transactions end. */
    racer z;
    memset(&z, 0, sizeof(z));
    z.s = a;
    z.id = id;
    fsy_srow_init(&z.row);
    ASSERT_EQ(pthread_create(&t, NULL, race, &z), 0);
    usleep(300000);
    ASSERT_TRUE(!atomic_load(&z.done));
    OK(b, ops->commit(b));
    usleep(200000);
    ASSERT_TRUE(!atomic_load(&z.done)); /* c still reads it */
    OK(c, ops->commit(c));
    wait_done(&z);
    pthread_join(t, NULL);
    OK(a, z.rc);
    ASSERT_TRUE(strcmp(z.row.territory, "north") == 0);
    ops->rollback(a);

    fsy_srow_clear(&x.row);
    fsy_srow_clear(&y.row);
    fsy_srow_clear(&z.row);
    fsy_srow_clear(&row);
    ops->close(a);
    ops->close(b);
    ops->close(c);
    printf("ok   parent_share: children's reads of a customer share its lock; a move and "
           "a child's read take turns and the second sees the first\n");
}

static void test_device_lock(void)
{
    void *a = open_store(), *b = open_store();
    fsy_device d;
    memset(&d, 0, sizeof(d));
    snprintf(d.id, sizeof(d.id), "0190bbbb-0000-7000-8000-000000000001");
    snprintf(d.user, sizeof(d.user), "alice");
    d.token_hash[0] = 7;
    d.created_ms = 1;
    OK(a, ops->begin(a));
    OK(a, ops->device_put(a, &d));
    OK(a, ops->commit(a));

    OK(a, ops->begin(a));
    OK(a, ops->device_get(a, d.id, &d));
    racer x;
    memset(&x, 0, sizeof(x));
    x.s = b;
    x.is_device = true;
    x.id = d.id;
    pthread_t t;
    ASSERT_EQ(pthread_create(&t, NULL, race, &x), 0);
    usleep(300000);
    ASSERT_TRUE(!atomic_load(&x.done));
    d.hwm = 42;
    OK(a, ops->result_put(a, d.id, 42, d.token_hash, "{\"s\":42}"));
    OK(a, ops->device_put(a, &d));
    OK(a, ops->commit(a));
    wait_done(&x);
    pthread_join(t, NULL);
    OK(b, x.rc);
    ASSERT_EQ(x.dev.hwm, 42); /* the retry sees the batch applied... */
    unsigned char h[32];
    char *json = NULL;
    OK(b, ops->result_get(b, d.id, 42, h, &json)); /* ...and its stored result */
    ASSERT_STREQ(json, "{\"s\":42}");
    ASSERT_EQ(h[0], 7);
    free(json);
    ops->rollback(b);

    /* A pull that read the device before a push (or a revoke) committed elsewhere
     * writes it back: counters do not go back, the revocation stays. */
    fsy_device stale = x.dev;
    stale.hwm = 5;
    stale.cursor = 0;
    OK(a, ops->begin(a));
    OK(a, ops->device_get(a, d.id, &d));
    d.revoked_ms = 99;
    OK(a, ops->device_put(a, &d));
    OK(a, ops->commit(a));
    OK(b, ops->begin(b));
    OK(b, ops->device_put(b, &stale));
    OK(b, ops->commit(b));
    OK(a, ops->device_get(a, d.id, &d));
    ASSERT_EQ(d.hwm, 42);
    ASSERT_EQ(d.revoked_ms, 99);
    ops->close(a);
    ops->close(b);
    printf("ok   device_lock: a retried batch on another connection waits, then finds the "
           "stored result; a stale device write keeps hwm and the revocation\n");
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    const char *file = getenv("FSY_E2E_PG");
    FILE *f = file ? fopen(file, "r") : NULL;
    if (!f) {
        printf("SKIPPED: no PostgreSQL for the tests (FSY_E2E_PG=%s)\n", file ? file : "");
        return 77;
    }
    if (!fgets(g_admin, sizeof(g_admin), f))
        FSY_FAIL("empty %s", file);
    fclose(f);
    g_admin[strcspn(g_admin, "\r\n")] = '\0';
    snprintf(g_db, sizeof(g_db), "fsy_store_%ld", (long)getpid());
    char sql[128];
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", g_db);
    admin_sql(sql);
    atexit(drop_db);
    snprintf(g_conninfo, sizeof(g_conninfo), "%s dbname=%s", g_admin, g_db);

    test_late_commit();
    test_orphan();
    test_row_serialises();
    test_parent_share();
    test_device_lock();
    printf("PASS\n");
    return 0;
}
