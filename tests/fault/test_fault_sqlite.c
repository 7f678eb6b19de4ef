/*
 * test_fault_sqlite.c — SQLite busy and I/O errors at every step of a write, a
 * push export, an acknowledgement, a pull and the other writing calls (issue 6).
 * A VFS registered by this test as the default delegates to the real one and
 * fails the Nth xWrite / xSync / xRead / xTruncate (SQLITE_IOERR_*, SQLITE_FULL)
 * or lock request (SQLITE_BUSY), once or from then on (a dead disk); N sweeps
 * over every such call the operation makes, on a fresh handle and on one whose
 * cached state another handle made stale. A second connection holding the write
 * lock gives real SQLITE_BUSY. After each failure: the call returned FSY_EBUSY or
 * FSY_ERROR with a message, the file is exactly as before, the same handle runs
 * the call again, and a follow-up of edits, a pull, an export and its
 * acknowledgement ends in the same state as on a handle that never saw a fault
 * (so no cached count, frozen mark, clock or statement outlived the rollback).
 *
 * The short run (CI) sweeps the kinds of fault that reach different code; the
 * full run (FSY_FAULT_FULL=1) sweeps every kind in every mode.
 *
 * Files live in /dev/shm when it exists (FSY_FAULT_TMPDIR=1: in TMPDIR instead).
 *
 * usage: test_fault_sqlite [op]   (FSY_FAULT_VERBOSE=1 prints each sweep)
 */
#include "fieldsync.h"
#include "fsy_test.h"

#include <cjson/cJSON.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdbool.h>

/* ---- the fault-injecting VFS ------------------------------------------------------ */

enum { K_WRITE = 1, K_SYNC = 2, K_READ = 4, K_TRUNC = 8, K_LOCK = 16 };

static struct {
    int kinds;    /* which calls count */
    long fail_at; /* the call (1-based) that fails; 0: count only */
    int err;      /* what it returns */
    bool sticky;  /* every later counted call fails too (a lock someone keeps) */
    long calls;   /* counted calls so far */
    long failed;  /* calls failed so far */
} fi;

static sqlite3_vfs *real_vfs;

typedef struct ffile {
    sqlite3_file base;
    sqlite3_file *real; /* the real VFS's file, allocated right after this struct */
} ffile;

static int inject(int kind)
{
    if (!(fi.kinds & kind))
        return SQLITE_OK;
    fi.calls++;
    if (fi.fail_at > 0 && (fi.calls == fi.fail_at || (fi.sticky && fi.calls > fi.fail_at))) {
        fi.failed++;
        return fi.err;
    }
    return SQLITE_OK;
}

static void fi_arm(int kinds, long fail_at, int err, bool sticky)
{
    fi.kinds = kinds;
    fi.fail_at = fail_at;
    fi.err = err;
    fi.sticky = sticky;
    fi.calls = fi.failed = 0;
}

static void fi_off(void)
{
    fi_arm(0, 0, 0, false);
}

#define REAL(f) (((ffile *)(f))->real)

static int f_close(sqlite3_file *f)
{
    return REAL(f)->pMethods->xClose(REAL(f));
}
static int f_read(sqlite3_file *f, void *buf, int n, sqlite3_int64 off)
{
    int rc = inject(K_READ);
    return rc ? rc : REAL(f)->pMethods->xRead(REAL(f), buf, n, off);
}
static int f_write(sqlite3_file *f, const void *buf, int n, sqlite3_int64 off)
{
    int rc = inject(K_WRITE);
    return rc ? rc : REAL(f)->pMethods->xWrite(REAL(f), buf, n, off);
}
static int f_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    int rc = inject(K_TRUNC);
    return rc ? rc : REAL(f)->pMethods->xTruncate(REAL(f), size);
}
static int f_sync(sqlite3_file *f, int flags)
{
    int rc = inject(K_SYNC);
    return rc ? rc : REAL(f)->pMethods->xSync(REAL(f), flags);
}
static int f_size(sqlite3_file *f, sqlite3_int64 *out)
{
    return REAL(f)->pMethods->xFileSize(REAL(f), out);
}
static int f_lock(sqlite3_file *f, int level)
{
    int rc = inject(K_LOCK);
    return rc ? rc : REAL(f)->pMethods->xLock(REAL(f), level);
}
static int f_unlock(sqlite3_file *f, int level)
{
    return REAL(f)->pMethods->xUnlock(REAL(f), level);
}
static int f_reserved(sqlite3_file *f, int *out)
{
    return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}
static int f_fcntl(sqlite3_file *f, int op, void *arg)
{
    return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}
static int f_sector(sqlite3_file *f)
{
    return REAL(f)->pMethods->xSectorSize(REAL(f));
}
static int f_devchar(sqlite3_file *f)
{
    return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}
static int f_shm_map(sqlite3_file *f, int pg, int pgsz, int extend, void volatile **pp)
{
    return REAL(f)->pMethods->xShmMap(REAL(f), pg, pgsz, extend, pp);
}
static int f_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
    /* WAL mode takes its read and write locks here; releasing never fails. */
    int rc = (flags & SQLITE_SHM_LOCK) ? inject(K_LOCK) : SQLITE_OK;
    return rc ? rc : REAL(f)->pMethods->xShmLock(REAL(f), offset, n, flags);
}
static void f_shm_barrier(sqlite3_file *f)
{
    REAL(f)->pMethods->xShmBarrier(REAL(f));
}
static int f_shm_unmap(sqlite3_file *f, int del)
{
    return REAL(f)->pMethods->xShmUnmap(REAL(f), del);
}

static const sqlite3_io_methods f_methods = {
    2, /* no xFetch: every page read goes through xRead */
    f_close,   f_read,     f_write,       f_truncate,  f_sync,   f_size,
    f_lock,    f_unlock,   f_reserved,    f_fcntl,     f_sector, f_devchar,
    f_shm_map, f_shm_lock, f_shm_barrier, f_shm_unmap, NULL,     NULL};

static int v_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out_flags)
{
    (void)vfs;
    ffile *p = (ffile *)f;
    p->real = (sqlite3_file *)&p[1];
    int rc = real_vfs->xOpen(real_vfs, name, p->real, flags, out_flags);
    p->base.pMethods = p->real->pMethods ? &f_methods : NULL;
    return rc;
}
static int v_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
    (void)vfs;
    return real_vfs->xDelete(real_vfs, name, sync_dir);
}
static int v_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
    (void)vfs;
    return real_vfs->xAccess(real_vfs, name, flags, out);
}
static int v_fullpath(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
    (void)vfs;
    return real_vfs->xFullPathname(real_vfs, name, n, out);
}
static void *v_dlopen(sqlite3_vfs *vfs, const char *name)
{
    (void)vfs;
    return real_vfs->xDlOpen(real_vfs, name);
}
static void v_dlerror(sqlite3_vfs *vfs, int n, char *out)
{
    (void)vfs;
    real_vfs->xDlError(real_vfs, n, out);
}
static void (*v_dlsym(sqlite3_vfs *vfs, void *h, const char *sym))(void)
{
    (void)vfs;
    return real_vfs->xDlSym(real_vfs, h, sym);
}
static void v_dlclose(sqlite3_vfs *vfs, void *h)
{
    (void)vfs;
    real_vfs->xDlClose(real_vfs, h);
}
static int v_random(sqlite3_vfs *vfs, int n, char *out)
{
    (void)vfs;
    return real_vfs->xRandomness(real_vfs, n, out);
}
static int v_sleep(sqlite3_vfs *vfs, int us)
{
    (void)vfs;
    return real_vfs->xSleep(real_vfs, us);
}
static int v_time(sqlite3_vfs *vfs, double *out)
{
    (void)vfs;
    return real_vfs->xCurrentTime(real_vfs, out);
}
static int v_lasterr(sqlite3_vfs *vfs, int n, char *out)
{
    (void)vfs;
    return real_vfs->xGetLastError ? real_vfs->xGetLastError(real_vfs, n, out) : 0;
}
static int v_time64(sqlite3_vfs *vfs, sqlite3_int64 *out)
{
    (void)vfs;
    return real_vfs->xCurrentTimeInt64(real_vfs, out);
}

static sqlite3_vfs fault_vfs;

static void install_vfs(void)
{
    real_vfs = sqlite3_vfs_find(NULL);
    ASSERT_TRUE(real_vfs != NULL && real_vfs->iVersion >= 2);
    fault_vfs = (sqlite3_vfs){2,
                              (int)sizeof(ffile) + real_vfs->szOsFile,
                              real_vfs->mxPathname,
                              NULL,
                              "fsy-fault",
                              NULL,
                              v_open,
                              v_delete,
                              v_access,
                              v_fullpath,
                              v_dlopen,
                              v_dlerror,
                              v_dlsym,
                              v_dlclose,
                              v_random,
                              v_sleep,
                              v_time,
                              v_lasterr,
                              v_time64,
                              NULL,
                              NULL,
                              NULL};
    ASSERT_EQ(sqlite3_vfs_register(&fault_vfs, 1), SQLITE_OK);
}

/* ---- files, clock, state dumps ---------------------------------------------------- */

static int64_t fixed_now(void *userdata)
{
    (void)userdata;
    return 1790000000000LL; /* 2026-09: the clock never moves, so runs compare */
}

static fsy_replica *open_handle(const char *path, int busy_ms)
{
    fsy_replica *r = NULL;
    fsy_replica_opts o = FSY_REPLICA_OPTS_INIT;
    o.now_ms = fixed_now;
    o.busy_timeout_ms = busy_ms;
    ASSERT_EQ(fsy_replica_new(&r), FSY_OK);
    ASSERT_OK(r, fsy_replica_open(r, path, &o));
    return r;
}

static void copy_file(const char *from, const char *to)
{
    fsy_test_rm(to);
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    ASSERT_TRUE(in && out);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
        ASSERT_EQ(fwrite(buf, 1, n, out), n);
    fclose(in);
    ASSERT_EQ(fclose(out), 0);
}

typedef struct buf {
    char *p;
    size_t len, cap;
} buf;

static void bput(buf *b, const char *s)
{
    size_t n = strlen(s);
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
        ASSERT_TRUE(b->p != NULL);
    }
    memcpy(b->p + b->len, s, n + 1);
    b->len += n;
}

static void dump_sql(sqlite3 *db, buf *b, const char *sql)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        FSY_FAIL("%s: %s", sql, sqlite3_errmsg(db));
    bput(b, sql);
    bput(b, "\n");
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        for (int i = 0; i < sqlite3_column_count(st); i++) {
            const char *v = (const char *)sqlite3_column_text(st, i);
            bput(b, i ? "|" : "  ");
            bput(b, v ? v : "NULL");
        }
        bput(b, "\n");
    }
    if (s != SQLITE_DONE)
        FSY_FAIL("%s: %s", sql, sqlite3_errmsg(db));
    sqlite3_finalize(st);
}

/*
 * Everything a rep or the sync protocol can see in the file, read by a connection
 * of its own: the view tables, the confirmed state, the journal, conflicts, meta.
 * client_seq and clock values are left out as numbers (a failed call may leave a
 * gap in client_seq and move the clock, which the protocol allows); the journal's
 * order and which entries are frozen stay in.
 */
static char *dump(const char *path)
{
    static const char *const sql[] = {
        "SELECT * FROM customers ORDER BY name",
        "SELECT * FROM contacts ORDER BY id",
        "SELECT * FROM visits ORDER BY id",
        "SELECT * FROM notes ORDER BY id",
        "SELECT * FROM reviews ORDER BY id",
        "SELECT tbl, id, ver, state, vals, vers FROM fsy_confirmed ORDER BY tbl, vals",
        "SELECT tbl, id, op, fields, bases, state, code, reason, seq <= (SELECT "
        "coalesce(max(value),"
        " 0) FROM fsy_meta WHERE key = 'fsy.frozen_upto') FROM fsy_journal ORDER BY seq",
        "SELECT tbl, row_id, field, mine, theirs, their_user, their_device, winner, server_seq,"
        " at_ms FROM fsy_conflicts ORDER BY n",
        "SELECT key, value FROM fsy_meta WHERE key NOT IN ('fsy.hlc', 'fsy.seq_floor',"
        " 'fsy.frozen_upto') ORDER BY key",
        "SELECT key, value FROM fsy_config ORDER BY key",
        "PRAGMA integrity_check",
    };
    sqlite3 *db = NULL;
    buf b = {0};
    ASSERT_EQ(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    for (size_t i = 0; i < sizeof(sql) / sizeof(sql[0]); i++)
        dump_sql(db, &b, sql[i]);
    sqlite3_close(db);
    return b.p;
}

static void expect_same(const char *what, const char *want, const char *got)
{
    if (strcmp(want, got) == 0)
        return;
    size_t i = 0;
    while (want[i] && want[i] == got[i])
        i++;
    size_t from = i > 300 ? i - 300 : 0;
    FSY_FAIL("%s: the file differs at byte %zu\n--- expected:\n%.600s\n--- found:\n%.600s", what, i,
             want + from, got + from);
}

/* ---- the replica the operations start from --------------------------------------- */

typedef struct fixture {
    char base[512]; /* the starting file */
    char c1[FSY_ID_LEN + 1], c2[FSY_ID_LEN + 1], c3[FSY_ID_LEN + 1], v1[FSY_ID_LEN + 1];
    int64_t parked_seq; /* a refused note */
    char ack[1024];     /* the acknowledgement of the batch exported last */
} fixture;

static fixture fx;

/* A temp path, in /dev/shm where there is one: thousands of fsyncs stay cheap. */
static void tmp_path(char *out, size_t n, const char *tag)
{
    static unsigned counter;
    if (access("/dev/shm", W_OK) == 0 && !getenv("FSY_FAULT_TMPDIR")) {
        snprintf(out, n, "/dev/shm/fsy-%s-%ld-%u.db", tag, (long)getpid(), counter++);
        fsy_test_rm(out);
        return;
    }
    fsy_test_tmp(out, n, tag);
}

/* An acknowledgement accepting every change of `batch` (v = 1000 + its index), the
 * first with a conflict the server resolved for the other side; notes are refused
 * when refuse_notes. */
static void ack_all(const char *batch, char *out, size_t n, bool with_conflict, bool refuse_notes)
{
    cJSON *b = cJSON_Parse(batch), *ack = cJSON_CreateObject(), *ch;
    ASSERT_TRUE(b && ack);
    cJSON_AddNumberToObject(ack, "schema", 2);
    cJSON *results = cJSON_AddArrayToObject(ack, "results");
    int i = 0;
    cJSON_ArrayForEach(ch, cJSON_GetObjectItemCaseSensitive(b, "changes"))
    {
        double s = cJSON_GetObjectItemCaseSensitive(ch, "s")->valuedouble;
        cJSON *res = cJSON_CreateObject();
        cJSON_AddNumberToObject(res, "s", s);
        if (refuse_notes &&
            strcmp(cJSON_GetObjectItemCaseSensitive(ch, "t")->valuestring, "notes") == 0) {
            cJSON_AddFalseToObject(res, "ok");
            cJSON_AddStringToObject(res, "code", "forbidden");
            cJSON_AddStringToObject(res, "msg", "notes of level 4 are restricted");
            cJSON_AddItemToArray(results, res);
            i++;
            continue;
        }
        cJSON_AddTrueToObject(res, "ok");
        cJSON_AddNumberToObject(res, "v", 1000 + i);
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(ch, "f");
        if (with_conflict && i == 0 && f && f->child) {
            cJSON *cs = cJSON_AddArrayToObject(res, "c"), *c = cJSON_CreateObject();
            cJSON_AddStringToObject(c, "f", f->child->string);
            cJSON_AddStringToObject(c, "win", "theirs");
            cJSON_AddStringToObject(c, "theirs", "+1-theirs");
            cJSON_AddNumberToObject(c, "ver", 2000);
            cJSON_AddStringToObject(c, "by", "bob");
            cJSON_AddItemToArray(cs, c);
        }
        cJSON_AddItemToArray(results, res);
        i++;
    }
    char *text = cJSON_PrintUnformatted(ack);
    ASSERT_TRUE(text && strlen(text) < n);
    snprintf(out, n, "%s", text);
    cJSON_free(text);
    cJSON_Delete(ack);
    cJSON_Delete(b);
}

static void build_fixture(void)
{
    char json[256], *batch = NULL, ack[4096];
    tmp_path(fx.base, sizeof(fx.base), "sqlfault-base");
    fsy_replica *r = open_handle(fx.base, 5000);
    ASSERT_OK(r, fsy_replica_set_identity(r, "0192f3a0-0000-7000-8000-0000000000aa", "rep1"));
    ASSERT_OK(r, fsy_replica_insert(r, "customers", "{\"name\":\"Alpha\",\"territory\":\"north\"}",
                                    fx.c1));
    ASSERT_OK(r, fsy_replica_insert(r, "customers", "{\"name\":\"Beta\",\"territory\":\"north\"}",
                                    fx.c2));
    ASSERT_OK(r, fsy_replica_insert(r, "customers", "{\"name\":\"Gamma\",\"territory\":\"north\"}",
                                    fx.c3));
    snprintf(json, sizeof(json), "{\"customer_id\":\"%s\",\"kind\":\"cold\"}", fx.c1);
    ASSERT_OK(r, fsy_replica_insert(r, "visits", json, fx.v1));
    snprintf(json, sizeof(json), "{\"customer_id\":\"%s\",\"body\":\"x\",\"info_level\":4}", fx.c1);
    char note[FSY_ID_LEN + 1];
    ASSERT_OK(r, fsy_replica_insert(r, "notes", json, note));
    /* Everything acknowledged but the note, which is refused and parked. */
    ASSERT_OK(r, fsy_push_export(r, 0, 0, &batch, NULL, NULL));
    ack_all(batch, ack, sizeof(ack), false, true);
    fsy_free(batch);
    ASSERT_OK(r, fsy_push_apply_ack(r, ack, strlen(ack)));
    char *parked = NULL;
    ASSERT_OK(r, fsy_query_parked(r, &parked));
    cJSON *pj = cJSON_Parse(parked);
    ASSERT_EQ(cJSON_GetArraySize(pj), 1);
    fx.parked_seq =
        (int64_t)cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(pj, 0), "seq")->valuedouble;
    cJSON_Delete(pj);
    fsy_free(parked);
    /* The server changed c3; c2 edited and exported (frozen, awaiting its ack); then
     * c1 and c2 edited again (pending, not exported). */
    snprintf(json, sizeof(json),
             "{\"schema\":2,\"upto\":1500,\"changes\":[{\"q\":1500,\"t\":\"customers\","
             "\"id\":\"%s\",\"f\":{\"owner\":\"sue\"}}]}",
             fx.c3);
    ASSERT_OK(r, fsy_pull_apply(r, json, strlen(json), NULL));
    ASSERT_OK(r, fsy_replica_update(r, "customers", fx.c2, "{\"phone\":\"+49-2\"}"));
    ASSERT_OK(r, fsy_push_export(r, 0, 0, &batch, NULL, NULL));
    ack_all(batch, fx.ack, sizeof(fx.ack), true, false);
    fsy_free(batch);
    ASSERT_OK(r, fsy_replica_update(r, "customers", fx.c1, "{\"phone\":\"+49-1\"}"));
    ASSERT_OK(r, fsy_replica_update(r, "customers", fx.c2, "{\"tier\":\"B\"}"));
    fsy_replica_free(r); /* the last connection: checkpointed into one file */
}

/* ---- the operations under test ---------------------------------------------------- */

typedef int (*op_fn)(fsy_replica *r, char **out);

static char new_id[FSY_ID_LEN + 1]; /* the row op_insert made last */

static int op_insert(fsy_replica *r, char **out)
{
    (void)out;
    return fsy_replica_insert(r, "customers", "{\"name\":\"Delta\",\"territory\":\"south\"}",
                              new_id);
}
static int op_update_merge(fsy_replica *r, char **out)
{
    (void)out;
    return fsy_replica_update(r, "customers", fx.c1, "{\"phone\":\"+49-11\",\"tier\":\"A\"}");
}
static int op_update_new(fsy_replica *r, char **out)
{
    (void)out;
    return fsy_replica_update(r, "customers", fx.c3, "{\"phone\":\"+49-3\"}");
}
static int op_delete(fsy_replica *r, char **out)
{
    (void)out;
    return fsy_replica_delete(r, "customers", fx.c3);
}
static int op_check_in(fsy_replica *r, char **out)
{
    (void)out;
    return fsy_visit_check_in(r, fx.v1, 52.5, 13.4);
}
static int op_export(fsy_replica *r, char **out)
{
    return fsy_push_export(r, 0, 0, out, NULL, NULL);
}
static int op_ack(fsy_replica *r, char **out)
{
    (void)out;
    return fsy_push_apply_ack(r, fx.ack, strlen(fx.ack));
}
static int op_pull(fsy_replica *r, char **out)
{
    (void)out;
    char doc[1024];
    snprintf(doc, sizeof(doc),
             "{\"schema\":2,\"upto\":1600,\"hlc\":\"%s\",\"changes\":["
             "{\"q\":1590,\"t\":\"customers\",\"id\":\"%s\",\"f\":{\"name\":\"Alpha GmbH\","
             "\"phone\":\"+49-server\"}},"
             "{\"q\":1591,\"t\":\"customers\",\"id\":\"%s\",\"gone\":true},"
             "{\"q\":1592,\"t\":\"customers\",\"id\":\"0192f3a0-0000-7000-8000-0000000000c9\","
             "\"f\":{\"name\":\"New\",\"territory\":\"north\",\"tier\":\"C\"}},"
             "{\"q\":1593,\"t\":\"customers\",\"id\":\"%s\",\"f\":{\"tier\":\"A\"}}]}",
             "01a0c4506c000005", fx.c1, fx.c3, fx.c2);
    return fsy_pull_apply(r, doc, strlen(doc), NULL);
}
static int op_retry(fsy_replica *r, char **out)
{
    (void)out;
    return fsy_parked_retry(r, fx.parked_seq);
}
static int op_discard(fsy_replica *r, char **out)
{
    (void)out;
    return fsy_parked_discard(r, fx.parked_seq);
}
static int op_identity(fsy_replica *r, char **out)
{
    (void)out;
    return fsy_replica_set_identity(r, "0192f3a0-0000-7000-8000-0000000000aa", "rep2");
}
static int op_record(fsy_replica *r, char **out)
{
    (void)out;
    return fsy_sync_record(r, false, "network down");
}
static int op_config(fsy_replica *r, char **out)
{
    (void)out;
    return fsy_replica_config_set(r, "ui.theme", "dark");
}
static int op_query(fsy_replica *r, char **out)
{
    return fsy_query_customers(r, "north", NULL, 100, 0, out);
}
static int op_status(fsy_replica *r, char **out)
{
    return fsy_sync_status(r, out);
}
static int op_dump(fsy_replica *r, char **out)
{
    return fsy_replica_export(r, out);
}
static int op_wipe(fsy_replica *r, char **out)
{
    (void)out;
    return fsy_replica_wipe(r);
}

typedef void (*follow_fn)(fsy_replica *r, char *out, size_t n);
static void follow_up(fsy_replica *r, char *out, size_t n);
static void follow_wipe(fsy_replica *r, char *out, size_t n);

static const struct op {
    const char *name;
    op_fn run;
    bool random_id;   /* creates a row with a fresh random id: compared without ids */
    follow_fn follow; /* NULL: follow_up */
    bool heavy;       /* hundreds of calls (VACUUM): fewer kinds in the short run */
    bool reads_only;  /* changes nothing: only its output is compared */
} ops[] = {
    {"insert", op_insert, true, NULL, false, false},
    {"update_merge", op_update_merge, false, NULL, false, false},
    {"update_new", op_update_new, false, NULL, false, false},
    {"delete", op_delete, false, NULL, false, false},
    {"check_in", op_check_in, false, NULL, false, false},
    {"export", op_export, false, NULL, false, false},
    {"ack", op_ack, false, NULL, false, false},
    {"pull", op_pull, false, NULL, false, false},
    {"parked_retry", op_retry, false, NULL, false, false},
    {"parked_discard", op_discard, false, NULL, false, false},
    {"set_identity", op_identity, false, NULL, false, false},
    {"sync_record", op_record, false, NULL, false, false},
    {"config_set", op_config, false, NULL, false, false},
    {"wipe", op_wipe, false, follow_wipe, true, false},
    {"query_customers", op_query, false, NULL, false, true},
    {"sync_status", op_status, false, NULL, false, true},
    {"replica_export", op_dump, false, NULL, false, true},
};

/* Export everything pending and acknowledge it all; returns the change count. */
static int push_all(fsy_replica *r)
{
    char *batch = NULL, ack[8192];
    int n_exported = 0;
    ASSERT_OK(r, fsy_push_export(r, 0, 0, &batch, NULL, &n_exported));
    ASSERT_TRUE(batch != NULL);
    ack_all(batch, ack, sizeof(ack), false, false);
    fsy_free(batch);
    ASSERT_OK(r, fsy_push_apply_ack(r, ack, strlen(ack)));
    return n_exported;
}

/*
 * After the operation: a second edit of c1 and c2 (compaction or a new entry,
 * depending on what is frozen), a pull touching rows with pending edits (the
 * view is rebuilt from the confirmed state and the journal), then every pending
 * change exported and acknowledged, and one more edit. Returns the number of
 * changes the export held and the pending count the handle reports.
 */
static void follow_up(fsy_replica *r, char *out, size_t n)
{
    char doc[512];
    ASSERT_OK(r, fsy_replica_update(r, "customers", fx.c1, "{\"address\":\"Hauptstr. 1\"}"));
    ASSERT_OK(r, fsy_replica_update(r, "customers", fx.c2, "{\"tier\":\"C\"}"));
    snprintf(doc, sizeof(doc),
             "{\"schema\":2,\"upto\":1700,\"changes\":[{\"q\":1700,\"t\":\"customers\","
             "\"id\":\"%s\",\"f\":{\"status\":\"loyal\"}},{\"q\":1701,\"t\":\"customers\","
             "\"id\":\"%s\",\"f\":{\"relationship\":\"familiar\"}}]}",
             fx.c1, fx.c2);
    ASSERT_OK(r, fsy_pull_apply(r, doc, strlen(doc), NULL));
    int n_exported = push_all(r);
    ASSERT_OK(r, fsy_replica_update(r, "customers", fx.c2, "{\"phone\":\"+49-22\"}"));
    int64_t pending = -1;
    ASSERT_OK(r, fsy_pending_count(r, &pending));
    snprintf(out, n, "exported %d, pending %lld", n_exported, (long long)pending);
}

/* After a wipe: enrol again, pull a row, edit it, push. */
static void follow_wipe(fsy_replica *r, char *out, size_t n)
{
    static const char doc[] =
        "{\"schema\":2,\"upto\":10,\"changes\":[{\"q\":10,\"t\":\"customers\","
        "\"id\":\"0192f3a0-0000-7000-8000-0000000000d1\",\"f\":{\"name\":\"Again\","
        "\"territory\":\"north\"}}]}";
    ASSERT_OK(r, fsy_replica_set_identity(r, "0192f3a0-0000-7000-8000-0000000000ab", "rep3"));
    ASSERT_OK(r, fsy_pull_apply(r, doc, strlen(doc), NULL));
    ASSERT_OK(r, fsy_replica_update(r, "customers", "0192f3a0-0000-7000-8000-0000000000d1",
                                    "{\"tier\":\"A\"}"));
    int n_exported = push_all(r);
    int64_t pending = -1;
    ASSERT_OK(r, fsy_pending_count(r, &pending));
    snprintf(out, n, "exported %d, pending %lld", n_exported, (long long)pending);
}

static void follow(const struct op *op, fsy_replica *r, char *out, size_t n)
{
    (op->follow ? op->follow : follow_up)(r, out, n);
}

/* The dump with the id op_insert drew replaced, so runs compare. */
static char *dump_norm(const char *path, bool random_id)
{
    char *d = dump(path);
    for (char *p = random_id && new_id[0] ? strstr(d, new_id) : NULL; p; p = strstr(p, new_id))
        memset(p, '#', FSY_ID_LEN);
    return d;
}

typedef struct expect {
    char *before; /* the fixture (after the other handle's edit when stale) */
    char *after;  /* the operation done */
    char *final;  /* and the follow-up */
    char *out;    /* the operation's output (a push batch) or NULL */
    char tail[64];
} expect;

static char work[512];
static bool verbose, full_run;

/*
 * A fresh copy of the fixture and a handle on it. When stale, another handle then
 * edits c3 and commits, so everything the first handle cached (pending count,
 * next client_seq, frozen mark, clock) is out of date and its next transaction
 * has to re-read it: with the fault injected, that re-read fails too.
 */
static fsy_replica *start(bool stale, int busy_ms)
{
    copy_file(fx.base, work);
    fsy_replica *r = open_handle(work, busy_ms);
    if (stale) {
        fsy_replica *b = open_handle(work, 5000);
        ASSERT_OK(b, fsy_replica_update(b, "customers", fx.c3, "{\"address\":\"Nebenstr. 2\"}"));
        ASSERT_OK(b, fsy_sync_record(b, true, NULL));
        fsy_replica_free(b);
    }
    return r;
}

static void reference(const struct op *op, bool stale, expect *e)
{
    fsy_replica *r = start(stale, 5000);
    e->before = dump_norm(work, false);
    e->out = NULL;
    ASSERT_OK(r, op->run(r, &e->out));
    e->after = dump_norm(work, op->random_id);
    if (!op->reads_only && strcmp(e->before, e->after) == 0)
        FSY_FAIL("%s: the operation changed nothing in the fixture", op->name);
    follow(op, r, e->tail, sizeof(e->tail));
    e->final = dump_norm(work, op->random_id);
    fsy_replica_free(r);
}

static void expect_free(expect *e)
{
    free(e->before);
    free(e->after);
    free(e->final);
    fsy_free(e->out);
    memset(e, 0, sizeof(*e));
}

/* The operation on `r` succeeded: it did all it should, and so does what follows.
 * (After a retry the state right after the call is not dumped: the follow-up's
 * end state covers it, and the short run stays short.) */
static void check_done(const struct op *op, const expect *e, fsy_replica *r, char *out,
                       const char *what, bool dump_after)
{
    char *d = NULL, tail[64];
    if (dump_after) {
        d = dump_norm(work, op->random_id);
        expect_same(what, e->after, d);
        free(d);
    }
    if (e->out || out)
        ASSERT_STREQ(out, e->out); /* S3: an export retried after a failure is the same */
    fsy_free(out);
    follow(op, r, tail, sizeof(tail));
    if (strcmp(tail, e->tail) != 0)
        FSY_FAIL("%s: follow-up %s, expected %s", what, tail, e->tail);
    d = dump_norm(work, op->random_id);
    expect_same(what, e->final, d);
    free(d);
}

/* The operation on `r` failed with `rc`: the file is as before, and the next try works. */
static void check_failed(const struct op *op, const expect *e, fsy_replica *r, int rc, int want_rc,
                         const char *what)
{
    if (rc != want_rc)
        FSY_FAIL("%s: returned %d (%s) instead of %d: %s", what, rc, fsy_strerror(rc), want_rc,
                 fsy_replica_errmsg(r));
    if (!fsy_replica_errmsg(r)[0])
        FSY_FAIL("%s: failed with %d and no message", what, rc);
    char *d = dump_norm(work, false);
    expect_same(what, e->before, d);
    free(d);
    char *out = NULL;
    rc = op->run(r, &out);
    if (rc != FSY_OK)
        FSY_FAIL("%s: the next call failed too: %d %s", what, rc, fsy_replica_errmsg(r));
    check_done(op, e, r, out, what, full_run);
}

/* What CI runs of each kind; FSY_FAULT_FULL=1 runs every kind everywhere. */
enum { CI_PLAIN = 1, CI_STALE = 2, CI_HEAVY = 4 };

static const struct kind {
    const char *name;
    int kinds;
    int err;
    bool sticky; /* every later call fails too, until the call returns */
    int want;    /* the code the core must return */
    int ci;      /* CI_*: where the short run uses it */
} kinds[] = {
    {"write-ioerr", K_WRITE, SQLITE_IOERR_WRITE, false, FSY_ERROR, CI_PLAIN},
    {"write-full", K_WRITE, SQLITE_FULL, false, FSY_ERROR, 0},
    {"sync-ioerr", K_SYNC, SQLITE_IOERR_FSYNC, false, FSY_ERROR, CI_PLAIN | CI_HEAVY},
    {"read-ioerr", K_READ, SQLITE_IOERR_READ, false, FSY_ERROR, CI_PLAIN | CI_STALE},
    {"truncate-ioerr", K_TRUNC, SQLITE_IOERR_TRUNCATE, false, FSY_ERROR, CI_PLAIN},
    {"lock-busy", K_LOCK, SQLITE_BUSY, false, FSY_EBUSY, CI_PLAIN},
    {"write-ioerr-all", K_WRITE, SQLITE_IOERR_WRITE, true, FSY_ERROR, 0},
    {"read-ioerr-all", K_READ, SQLITE_IOERR_READ, true, FSY_ERROR, 0},
    {"io-ioerr-all", K_WRITE | K_SYNC | K_READ | K_TRUNC, SQLITE_IOERR, true, FSY_ERROR,
     CI_PLAIN | CI_HEAVY},
};

static bool kind_runs(const struct kind *kd, bool stale, bool heavy)
{
    if (full_run)
        return true;
    if (heavy)
        return !stale && (kd->ci & CI_HEAVY);
    return (kd->ci & (stale ? CI_STALE : CI_PLAIN)) != 0;
}

typedef struct tally {
    long points, failed, absorbed;
} tally;

/* Every injection point of `op` for every kind of fault. */
static void sweep(const struct op *op, bool stale, const expect *e, tally *t)
{
    char what[200];
    for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
        const struct kind *kd = &kinds[k];
        if (!kind_runs(kd, stale, op->heavy))
            continue;
        fsy_replica *r = start(stale, 1);
        char *out = NULL;
        fi_arm(kd->kinds, 0, 0, false);
        ASSERT_OK(r, op->run(r, &out));
        long n_calls = fi.calls;
        fi_off();
        fsy_free(out);
        fsy_replica_free(r);
        long failed = 0, absorbed = 0;
        for (long n = 1; n <= n_calls; n++) {
            snprintf(what, sizeof(what), "%s%s, %s at call %ld of %ld", op->name,
                     stale ? " (stale handle)" : "", kd->name, n, n_calls);
            r = start(stale, 1);
            out = NULL;
            fi_arm(kd->kinds, n, kd->err, kd->sticky);
            int rc = op->run(r, &out);
            bool hit = fi.failed > 0;
            fi_off();
            ASSERT_TRUE(hit);
            if (rc == FSY_OK) {
                absorbed++; /* SQLite retried, or the failed step did not matter */
                check_done(op, e, r, out, what, true);
            } else {
                ASSERT_TRUE(out == NULL);
                failed++;
                check_failed(op, e, r, rc, kd->want, what);
            }
            fsy_replica_free(r);
        }
        if (verbose && n_calls)
            printf("  %-14s %-5s %-16s %3ld calls: %3ld failed cleanly, %3ld absorbed\n", op->name,
                   stale ? "stale" : "", kd->name, n_calls, failed, absorbed);
        t->points += n_calls;
        t->failed += failed;
        t->absorbed += absorbed;
    }
}

/*
 * Faults while opening an existing replica: the open fails cleanly (the handle
 * stays unopened), the file is unchanged, and opening the same handle again works.
 */
static void sweep_open(tally *t)
{
    char what[160], tail[64], want_tail[64];
    copy_file(fx.base, work);
    char *before = dump(work);
    fsy_replica *r = open_handle(work, 5000);
    follow_up(r, want_tail, sizeof(want_tail));
    fsy_replica_free(r);
    char *final = dump(work);
    fsy_replica_opts o = FSY_REPLICA_OPTS_INIT;
    o.now_ms = fixed_now;
    o.busy_timeout_ms = 1;
    for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
        const struct kind *kd = &kinds[k];
        if (!kind_runs(kd, false, false))
            continue;
        copy_file(fx.base, work);
        fi_arm(kd->kinds, 0, 0, false);
        r = open_handle(work, 1);
        long n_calls = fi.calls;
        fi_off();
        fsy_replica_free(r);
        for (long n = 1; n <= n_calls; n++) {
            snprintf(what, sizeof(what), "open, %s at call %ld of %ld", kd->name, n, n_calls);
            copy_file(fx.base, work);
            ASSERT_EQ(fsy_replica_new(&r), FSY_OK);
            fi_arm(kd->kinds, n, kd->err, kd->sticky);
            int rc = fsy_replica_open(r, work, &o);
            fi_off();
            if (rc != FSY_OK) {
                if (rc != kd->want)
                    FSY_FAIL("%s: returned %d (%s): %s", what, rc, fsy_strerror(rc),
                             fsy_replica_errmsg(r));
                ASSERT_TRUE(fsy_replica_errmsg(r)[0] != '\0');
                char *d = dump(work);
                expect_same(what, before, d);
                free(d);
                rc = fsy_replica_open(r, work, &o);
                if (rc != FSY_OK)
                    FSY_FAIL("%s: opening again failed: %d %s", what, rc, fsy_replica_errmsg(r));
                t->failed++;
            } else {
                t->absorbed++;
            }
            follow_up(r, tail, sizeof(tail));
            if (strcmp(tail, want_tail) != 0)
                FSY_FAIL("%s: follow-up %s, expected %s", what, tail, want_tail);
            char *d = dump(work);
            expect_same(what, final, d);
            free(d);
            fsy_replica_free(r);
            t->points++;
        }
    }
    free(before);
    free(final);
}

/*
 * Real SQLITE_BUSY: another connection holds the write lock. The call fails with
 * FSY_EBUSY and changes nothing; the lock is released and another handle edits
 * and commits (so the file moved on under the first handle's cached state); the
 * first handle's next call works and ends where a handle that never waited ends.
 */
static void busy(const struct op *op, const expect *plain, const expect *stale, tally *t)
{
    char what[160];
    snprintf(what, sizeof(what), "%s, write lock held by another connection", op->name);

    copy_file(fx.base, work);
    fsy_replica *r = open_handle(work, 20);
    sqlite3 *db = NULL;
    ASSERT_EQ(sqlite3_open_v2(work, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db,
                           "BEGIN IMMEDIATE; INSERT INTO fsy_config(key, value)"
                           " VALUES('held', 'yes')",
                           NULL, NULL, NULL),
              SQLITE_OK);
    char *before = dump_norm(work, false), *out = NULL;
    int rc = op->run(r, &out);
    if (op->reads_only) { /* WAL: the UI reads on while another connection writes */
        ASSERT_OK(r, rc);
        ASSERT_STREQ(out, plain->out);
        fsy_free(out);
        free(before);
        ASSERT_EQ(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(db);
        fsy_replica_free(r);
        t->points++;
        t->absorbed++;
        return;
    }
    if (rc != FSY_EBUSY)
        FSY_FAIL("%s: returned %d (%s) instead of FSY_EBUSY: %s", what, rc, fsy_strerror(rc),
                 fsy_replica_errmsg(r));
    ASSERT_TRUE(out == NULL);
    ASSERT_TRUE(fsy_error_is_transient(rc));
    ASSERT_TRUE(fsy_replica_errmsg(r)[0] != '\0');
    char *d = dump_norm(work, false);
    expect_same(what, before, d);
    free(d);
    free(before);
    ASSERT_EQ(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    fsy_replica *b = open_handle(work, 5000);
    ASSERT_OK(b, fsy_replica_update(b, "customers", fx.c3, "{\"address\":\"Nebenstr. 2\"}"));
    ASSERT_OK(b, fsy_sync_record(b, true, NULL));
    fsy_replica_free(b);
    rc = op->run(r, &out);
    if (rc != FSY_OK)
        FSY_FAIL("%s: the call after the lock was released failed: %d %s", what, rc,
                 fsy_replica_errmsg(r));
    check_done(op, stale, r, out, what, true); /* ends as after the other's edit, then op */
    fsy_replica_free(r);
    t->points++;
    t->failed++;
}

/* Also when a check fails (exit(1)): /dev/shm is memory. */
static void remove_files(void)
{
    fi_off();
    if (work[0])
        fsy_test_rm(work);
    if (fx.base[0])
        fsy_test_rm(fx.base);
}

int main(int argc, char **argv)
{
    const char *only = argc > 1 ? argv[1] : NULL;
    verbose = getenv("FSY_FAULT_VERBOSE") != NULL;
    full_run = getenv("FSY_FAULT_FULL") != NULL;
    install_vfs();
    atexit(remove_files);
    build_fixture();
    tmp_path(work, sizeof(work), "sqlfault-work");
    tally t = {0};
    int n_ops = 0;
    if (!only || strcmp(only, "open") == 0) {
        sweep_open(&t);
        n_ops++;
    }
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        if (only && strcmp(only, ops[i].name) != 0)
            continue;
        expect plain = {0}, stale = {0};
        reference(&ops[i], false, &plain);
        reference(&ops[i], true, &stale);
        sweep(&ops[i], false, &plain, &t);
        if (!ops[i].heavy || full_run)
            sweep(&ops[i], true, &stale, &t);
        busy(&ops[i], &plain, &stale, &t);
        expect_free(&plain);
        expect_free(&stale);
        n_ops++;
    }
    ASSERT_TRUE(n_ops > 0);
    printf("sqlite faults: %d operations, %ld injection points: %ld failed cleanly and were"
           " retried, %ld absorbed by SQLite; state consistent after each\n",
           n_ops, t.points, t.failed, t.absorbed);
    return 0;
}
