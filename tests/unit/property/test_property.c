/*
 * test_property.c — seeded randomized property test of the core's sync logic.
 *
 * Two replicas (two devices) make thousands of random local edits while a small
 * in-test model of the server (the rules of docs/protocol.md: base versions,
 * "last writer is me", later-HLC-wins, exactly-once per client_seq, scope
 * removal and re-entry, rejections) acknowledges their pushes and serves pulls,
 * sometimes losing, repeating or replaying them. After every step:
 *   P1 (sync.c S1) each replica's view equals its confirmed state with its
 *      pending journal applied on top, recomputed here independently from the
 *      internal tables;
 *   P2 nothing pending is lost: the latest value a rep typed into each field is
 *      in the view, or in a parked change, or acknowledged by the server (and then
 *      in the server's log or a conflict record);
 *   P3 re-applying the last acknowledgement or pull batch changes nothing.
 * At the end all devices sync with no new edits and must equal the server's view
 * of their scope (DESIGN §8.1 convergence).
 * FSY_TEST_SEED=n replays a run; FSY_TEST_STEPS=n changes its length.
 */
#include "fieldsync.h"
#include "fsy_test.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <sqlite3.h>
#include <stdbool.h>

#define N_DEV    2
#define MAX_ROWS 4000

static uint64_t rng;

static int rnd(int n)
{
    return (int)(fsy_test_rand(&rng) % (uint64_t)n);
}

/* ---- the model server --------------------------------------------------- */

typedef struct srow {
    char table[16];
    char id[40];
    cJSON *vals, *vers, *devs, *hlcs; /* per field */
    bool hidden[N_DEV];               /* outside this device's scope */
} srow;

typedef struct server {
    srow rows[MAX_ROWS];
    int n_rows;
    int64_t seq;
    cJSON *log;             /* array of {"q","t","id","f","vs"?, "only"?, "gone"?} */
    int64_t hwm[N_DEV];     /* highest applied client_seq per device */
    cJSON *results[N_DEV];  /* object: "s" -> stored result (exactly-once replies) */
    cJSON *accepted_values; /* array of {"t","id","f","v"} every value ever written */
    cJSON *conflict_values; /* array of {"t","id","f","v"} values kept in conflicts */
    int n_conflicts, n_rejects, n_clean;
} server;

static server S;
static const char *dev_name[N_DEV] = {"dev-a", "dev-b"};

static srow *srow_find(const char *table, const char *id)
{
    for (int i = 0; i < S.n_rows; i++)
        if (strcmp(S.rows[i].id, id) == 0 && strcmp(S.rows[i].table, table) == 0)
            return &S.rows[i];
    return NULL;
}

static srow *srow_add(const char *table, const char *id)
{
    if (S.n_rows >= MAX_ROWS)
        FSY_FAIL("model server full");
    srow *r = &S.rows[S.n_rows++];
    memset(r, 0, sizeof(*r));
    snprintf(r->table, sizeof(r->table), "%s", table);
    snprintf(r->id, sizeof(r->id), "%s", id);
    r->vals = cJSON_CreateObject();
    r->vers = cJSON_CreateObject();
    r->devs = cJSON_CreateObject();
    r->hlcs = cJSON_CreateObject();
    return r;
}

static void set_item(cJSON *obj, const char *k, cJSON *v)
{
    if (cJSON_GetObjectItemCaseSensitive(obj, k))
        cJSON_ReplaceItemInObjectCaseSensitive(obj, k, v);
    else
        cJSON_AddItemToObject(obj, k, v);
}

static const char *jstr(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double jnum(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static void remember(cJSON *arr, const char *t, const char *id, const char *f, const cJSON *v)
{
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "t", t);
    cJSON_AddStringToObject(e, "id", id);
    cJSON_AddStringToObject(e, "f", f);
    cJSON_AddItemToObject(e, "v", cJSON_Duplicate(v, true));
    cJSON_AddItemToArray(arr, e);
}

static cJSON *log_entry(srow *r, cJSON *fields)
{
    cJSON *e = cJSON_CreateObject();
    cJSON_AddNumberToObject(e, "q", (double)++S.seq);
    cJSON_AddStringToObject(e, "t", r->table);
    cJSON_AddStringToObject(e, "id", r->id);
    cJSON_AddItemToObject(e, "f", fields);
    cJSON_AddItemToArray(S.log, e);
    return e;
}

/* Write fields as `dev` at clock `hlc` without conflict checks (server-side edits). */
static void server_write(srow *r, cJSON *fields, const char *dev, const char *hlc)
{
    cJSON *e = log_entry(r, fields);
    int64_t q = (int64_t)jnum(e, "q");
    for (cJSON *f = fields->child; f; f = f->next) {
        set_item(r->vals, f->string, cJSON_Duplicate(f, true));
        set_item(r->vers, f->string, cJSON_CreateNumber((double)q));
        set_item(r->devs, f->string, cJSON_CreateString(dev));
        set_item(r->hlcs, f->string, cJSON_CreateString(hlc));
        remember(S.accepted_values, r->table, r->id, f->string, f);
    }
}

static bool has_bad_value(const cJSON *fields)
{
    for (const cJSON *f = fields->child; f; f = f->next)
        if (cJSON_IsString(f) && strstr(f->valuestring, "#bad"))
            return true;
    return false;
}

static cJSON *reject(int64_t s, const char *code, const char *msg)
{
    cJSON *res = cJSON_CreateObject();
    cJSON_AddNumberToObject(res, "s", (double)s);
    cJSON_AddFalseToObject(res, "ok");
    cJSON_AddStringToObject(res, "code", code);
    cJSON_AddStringToObject(res, "msg", msg);
    S.n_rejects++;
    return res;
}

static cJSON *apply_change(int d, const cJSON *ch)
{
    int64_t s = (int64_t)jnum(ch, "s");
    const char *t = jstr(ch, "t"), *id = jstr(ch, "id"), *op = jstr(ch, "op"), *h = jstr(ch, "h");
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(ch, "f");
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(ch, "b");
    const cJSON *fh = cJSON_GetObjectItemCaseSensitive(ch, "fh");
    srow *r = srow_find(t, id);

    if (has_bad_value(f))
        return reject(s, "invalid", "a value the server refuses");
    if (strcmp(op, "c") == 0 && !r)
        r = srow_add(t, id);
    if (!r)
        return reject(s, "unknown_row", "no such row");
    if (r->hidden[d])
        return reject(s, "out_of_scope", "row is outside this device's scope");

    bool deleted = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r->vals, "_deleted"));
    cJSON *written = cJSON_CreateObject(), *conflicts = cJSON_CreateArray();
    for (const cJSON *v = f->child; v; v = v->next) {
        int64_t base = (int64_t)jnum(b, v->string);
        int64_t cur = (int64_t)jnum(r->vers, v->string);
        const char *cur_dev = jstr(r->devs, v->string);
        const char *mine_h = jstr(fh, v->string) ? jstr(fh, v->string) : h;
        const char *their_h = jstr(r->hlcs, v->string);
        if (base == cur || (cur_dev && strcmp(cur_dev, dev_name[d]) == 0)) {
            cJSON_AddItemToObject(written, v->string, cJSON_Duplicate(v, true));
            continue;
        }
        int cmp = strcmp(mine_h, their_h ? their_h : "");
        if (cmp == 0)
            cmp = strcmp(dev_name[d], cur_dev ? cur_dev : "");
        cJSON *c = cJSON_CreateObject();
        cJSON_AddStringToObject(c, "f", v->string);
        cJSON_AddStringToObject(c, "win", cmp > 0 ? "mine" : "theirs");
        cJSON_AddItemToObject(
            c, "theirs", cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(r->vals, v->string), 1));
        cJSON_AddNumberToObject(c, "ver", (double)cur);
        cJSON_AddStringToObject(c, "dev", cur_dev ? cur_dev : "");
        cJSON_AddItemToArray(conflicts, c);
        remember(S.conflict_values, t, id, v->string, v);
        remember(S.conflict_values, t, id, v->string,
                 cJSON_GetObjectItemCaseSensitive(r->vals, v->string));
        S.n_conflicts++;
        if (cmp > 0)
            cJSON_AddItemToObject(written, v->string, cJSON_Duplicate(v, true));
    }
    /* An edit racing a delete is kept, recorded, and the row stays deleted. */
    if (deleted && !cJSON_GetObjectItemCaseSensitive(f, "_deleted")) {
        cJSON *c = cJSON_CreateObject();
        cJSON_AddStringToObject(c, "f", "_deleted");
        cJSON_AddStringToObject(c, "win", "theirs");
        cJSON_AddTrueToObject(c, "theirs");
        cJSON_AddNumberToObject(c, "ver", jnum(r->vers, "_deleted"));
        cJSON_AddItemToArray(conflicts, c);
        for (const cJSON *v = written->child; v; v = v->next)
            remember(S.conflict_values, t, id, v->string, v);
    }
    cJSON *res = cJSON_CreateObject();
    cJSON_AddNumberToObject(res, "s", (double)s);
    cJSON_AddTrueToObject(res, "ok");
    int64_t v = 0;
    if (written->child) {
        char hcopy[32];
        snprintf(hcopy, sizeof(hcopy), "%s", h);
        server_write(r, written, dev_name[d], hcopy);
        /* per-field clocks: server_write stamped them all with h; fix the overrides */
        for (const cJSON *w = written->child; w; w = w->next)
            if (jstr(fh, w->string))
                set_item(r->hlcs, w->string, cJSON_CreateString(jstr(fh, w->string)));
        v = S.seq;
        S.n_clean++;
    } else {
        cJSON_Delete(written);
    }
    cJSON_AddNumberToObject(res, "v", (double)v);
    if (conflicts->child)
        cJSON_AddItemToObject(res, "c", conflicts);
    else
        cJSON_Delete(conflicts);
    return res;
}

/* Push: exactly once per (device, s); the whole batch or nothing (it never fails here). */
static char *server_push(int d, const char *body)
{
    cJSON *doc = cJSON_Parse(body), *ch;
    ASSERT_TRUE(doc);
    ASSERT_STREQ(jstr(doc, "device"), dev_name[d]);
    cJSON *ack = cJSON_CreateObject(), *results = cJSON_AddArrayToObject(ack, "results");
    cJSON_AddNumberToObject(ack, "schema", 2);
    cJSON_ArrayForEach(ch, cJSON_GetObjectItemCaseSensitive(doc, "changes"))
    {
        int64_t s = (int64_t)jnum(ch, "s");
        char key[32];
        snprintf(key, sizeof(key), "%lld", (long long)s);
        cJSON *stored = cJSON_GetObjectItemCaseSensitive(S.results[d], key);
        if (s <= S.hwm[d]) {
            ASSERT_TRUE(stored); /* a retry must name a change we applied */
            cJSON_AddItemToArray(results, cJSON_Duplicate(stored, true));
            continue;
        }
        cJSON *res = apply_change(d, ch);
        cJSON_AddItemToObject(S.results[d], key, cJSON_Duplicate(res, true));
        cJSON_AddItemToArray(results, res);
        S.hwm[d] = s;
    }
    char *out = cJSON_PrintUnformatted(ack);
    cJSON_Delete(ack);
    cJSON_Delete(doc);
    return out;
}

static char *server_pull(int d, int64_t after, int limit)
{
    cJSON *out = cJSON_CreateObject(), *changes, *e;
    cJSON_AddNumberToObject(out, "schema", 2);
    changes = cJSON_AddArrayToObject(out, "changes");
    int n = 0;
    int64_t upto = after;
    bool more = false;
    cJSON_ArrayForEach(e, S.log)
    {
        int64_t q = (int64_t)jnum(e, "q");
        if (q <= after)
            continue;
        if (n == limit) {
            more = true;
            break;
        }
        upto = q;
        const char *only = jstr(e, "only");
        if (only && strcmp(only, dev_name[d]) != 0)
            continue;
        srow *r = srow_find(jstr(e, "t"), jstr(e, "id"));
        if (!only && r && r->hidden[d])
            continue;
        cJSON *c = cJSON_Duplicate(e, true);
        cJSON_DeleteItemFromObjectCaseSensitive(c, "only");
        cJSON_AddItemToArray(changes, c);
        n++;
    }
    cJSON_AddNumberToObject(out, "upto", (double)upto);
    cJSON_AddBoolToObject(out, "more", more);
    char *s = cJSON_PrintUnformatted(out);
    cJSON_Delete(out);
    return s;
}

static void server_hide(int d, srow *r, bool hide)
{
    if (r->hidden[d] == hide)
        return;
    r->hidden[d] = hide;
    cJSON *e = cJSON_CreateObject();
    cJSON_AddNumberToObject(e, "q", (double)++S.seq);
    cJSON_AddStringToObject(e, "t", r->table);
    cJSON_AddStringToObject(e, "id", r->id);
    cJSON_AddStringToObject(e, "only", dev_name[d]);
    if (hide) {
        cJSON_AddTrueToObject(e, "gone");
    } else {
        /* The row enters the scope: its whole state with each field's own version. */
        cJSON_AddItemToObject(e, "f", cJSON_Duplicate(r->vals, true));
        cJSON_AddItemToObject(e, "vs", cJSON_Duplicate(r->vers, true));
    }
    cJSON_AddItemToArray(S.log, e);
}

/* ---- devices -------------------------------------------------------------- */

typedef struct device {
    fsy_replica *r;
    sqlite3 *ro; /* independent read connection for the P1 check */
    char path[512];
    cJSON *typed; /* "table/id/field" -> latest value this rep typed, unresolved */
    int64_t clock_ms;
    char *last_ack, *last_pull;
} device;

static device D[N_DEV];

static int64_t device_clock(void *ud)
{
    device *dv = ud;
    dv->clock_ms += 1 + rnd(5);
    if (rnd(50) == 0)
        dv->clock_ms -= 3000; /* wall clocks jump back: the HLC must not */
    return dv->clock_ms;
}

static void dev_open(device *dv)
{
    fsy_replica_opts o = FSY_REPLICA_OPTS_INIT;
    o.synchronous = FSY_SYNC_NORMAL;
    o.now_ms = device_clock;
    o.now_userdata = dv;
    ASSERT_OK(NULL, fsy_replica_new(&dv->r));
    ASSERT_OK(dv->r, fsy_replica_open(dv->r, dv->path, &o));
}

static void typed_key(char *out, size_t n, const char *t, const char *id, const char *f)
{
    snprintf(out, n, "%s/%s/%s", t, id, f);
}

static void note_typed(device *dv, const char *t, const char *id, const cJSON *fields)
{
    char k[160];
    for (const cJSON *f = fields->child; f; f = f->next) {
        typed_key(k, sizeof(k), t, id, f->string);
        set_item(dv->typed, k, cJSON_Duplicate(f, true));
    }
}

/* Rows the device can see now, to pick edit targets from. */
static int visible_rows(device *dv, const char *table, char ids[][40], int max)
{
    char sql[128];
    sqlite3_stmt *st;
    int n = 0;
    snprintf(sql, sizeof(sql), "SELECT id FROM %s", table);
    ASSERT_EQ(sqlite3_prepare_v2(dv->ro, sql, -1, &st, NULL), SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW && n < max)
        snprintf(ids[n++], 40, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return n;
}

static cJSON *random_fields(const char *table, bool create, const char *customer_id)
{
    static const char *tiers[] = {"A", "B", "C"};
    static const char *status[] = {"planned", "in-progress", "done", "cancelled"};
    cJSON *f = cJSON_CreateObject();
    char buf[64];
    if (strcmp(table, "customers") == 0) {
        if (create || rnd(2)) {
            snprintf(buf, sizeof(buf), "Customer %d", rnd(1000));
            cJSON_AddStringToObject(f, "name", buf);
        }
        if (create)
            cJSON_AddStringToObject(f, "territory", "south");
        if (rnd(2)) {
            snprintf(buf, sizeof(buf), "+49 %d%s", rnd(100000), rnd(15) == 0 ? " #bad" : "");
            cJSON_AddStringToObject(f, "phone", buf);
        }
        if (rnd(2))
            cJSON_AddStringToObject(f, "tier", tiers[rnd(3)]);
        if (!f->child)
            cJSON_AddStringToObject(f, "address", "Main St 1");
    } else {
        if (create)
            cJSON_AddStringToObject(f, "customer_id", customer_id);
        if (create || rnd(2))
            cJSON_AddStringToObject(f, "status", status[rnd(4)]);
        if (rnd(2)) {
            snprintf(buf, sizeof(buf), "purpose %d%s", rnd(1000), rnd(15) == 0 ? " #bad" : "");
            cJSON_AddStringToObject(f, "purpose", buf);
        }
        if (rnd(2))
            cJSON_AddNumberToObject(f, "satisfaction", 1 + rnd(5));
        if (!f->child)
            cJSON_AddStringToObject(f, "outcome", "ok");
    }
    return f;
}

static void op_insert(device *dv)
{
    char ids[64][40], id[FSY_ID_LEN + 1];
    bool customer = rnd(3) == 0 || visible_rows(dv, "customers", ids, 64) == 0;
    const char *table = customer ? "customers" : "visits";
    int n = customer ? 0 : visible_rows(dv, "customers", ids, 64);
    cJSON *f = random_fields(table, true, customer ? NULL : ids[rnd(n)]);
    char *js = cJSON_PrintUnformatted(f);
    ASSERT_OK(dv->r, fsy_replica_insert(dv->r, table, js, id));
    /* the server model fills in author and default status like the core does */
    char *row = NULL;
    ASSERT_OK(dv->r, fsy_replica_get(dv->r, table, id, &row));
    cJSON *full = cJSON_Parse(row), *g = cJSON_CreateObject();
    for (cJSON *v = f->child; v; v = v->next)
        cJSON_AddItemToObject(
            g, v->string, cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(full, v->string), 1));
    note_typed(dv, table, id, g);
    cJSON_Delete(g);
    cJSON_Delete(full);
    fsy_free(row);
    free(js);
    cJSON_Delete(f);
}

static void op_update(device *dv)
{
    char ids[256][40];
    const char *table = rnd(2) ? "customers" : "visits";
    int n = visible_rows(dv, table, ids, 256);
    if (n == 0)
        return;
    const char *id = ids[rnd(n)];
    cJSON *f = random_fields(table, false, NULL);
    char *js = cJSON_PrintUnformatted(f);
    ASSERT_OK(dv->r, fsy_replica_update(dv->r, table, id, js));
    note_typed(dv, table, id, f);
    free(js);
    cJSON_Delete(f);
}

static void op_delete(device *dv)
{
    char ids[256][40];
    int n = visible_rows(dv, "visits", ids, 256);
    if (n == 0)
        return;
    const char *id = ids[rnd(n)];
    ASSERT_OK(dv->r, fsy_replica_delete(dv->r, "visits", id));
    cJSON *f = cJSON_CreateObject();
    cJSON_AddTrueToObject(f, "_deleted");
    note_typed(dv, "visits", id, f);
    cJSON_Delete(f);
}

/* State that must not change when a batch is applied again. */
static char *snapshot(device *dv)
{
    char *a = NULL, *b = NULL, *c = NULL, *s = NULL;
    ASSERT_OK(dv->r, fsy_replica_export(dv->r, &a));
    ASSERT_OK(dv->r, fsy_query_parked(dv->r, &b));
    ASSERT_OK(dv->r, fsy_query_conflicts(dv->r, &c));
    ASSERT_OK(dv->r, fsy_sync_status(dv->r, &s));
    size_t n = strlen(a) + strlen(b) + strlen(c) + strlen(s) + 4;
    char *out = malloc(n);
    snprintf(out, n, "%s|%s|%s|%s", a, b, c, s);
    fsy_free(a);
    fsy_free(b);
    fsy_free(c);
    fsy_free(s);
    return out;
}

static void check_reapply(device *dv, const char *body, bool is_ack)
{
    char *before = snapshot(dv);
    if (is_ack)
        ASSERT_OK(dv->r, fsy_push_apply_ack(dv->r, body, strlen(body)));
    else
        ASSERT_OK(dv->r, fsy_pull_apply(dv->r, body, strlen(body), NULL));
    char *after = snapshot(dv);
    if (strcmp(before, after) != 0)
        FSY_FAIL("P3: re-applying a %s changed the replica:\n%s\n%s\nbody %s",
                 is_ack ? "acknowledgement" : "pull batch", before, after, body);
    free(before);
    free(after);
}

/* Resolve the rep's typed values that an acknowledgement settled (P2 bookkeeping). */
static void settle(device *dv, const char *batch, const char *ack)
{
    cJSON *b = cJSON_Parse(batch), *a = cJSON_Parse(ack), *ch, *res;
    cJSON_ArrayForEach(ch, cJSON_GetObjectItemCaseSensitive(b, "changes"))
    {
        cJSON_ArrayForEach(res, cJSON_GetObjectItemCaseSensitive(a, "results"))
        {
            if (jnum(res, "s") != jnum(ch, "s"))
                continue;
            if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(res, "ok")))
                break; /* parked: P2 finds it in the parked list */
            const cJSON *f;
            cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(ch, "f"))
            {
                char k[160];
                typed_key(k, sizeof(k), jstr(ch, "t"), jstr(ch, "id"), f->string);
                cJSON *typed = cJSON_GetObjectItemCaseSensitive(dv->typed, k);
                if (typed && cJSON_Compare(typed, f, true))
                    cJSON_DeleteItemFromObjectCaseSensitive(dv->typed, k);
                /* acknowledged: it must be in the server's log or in a conflict record */
                bool found = false;
                cJSON *e;
                cJSON_ArrayForEach(e, S.accepted_values) found |=
                    strcmp(jstr(e, "id"), jstr(ch, "id")) == 0 &&
                    strcmp(jstr(e, "f"), f->string) == 0 &&
                    cJSON_Compare(cJSON_GetObjectItemCaseSensitive(e, "v"), f, true);
                cJSON_ArrayForEach(e, S.conflict_values) found |=
                    strcmp(jstr(e, "id"), jstr(ch, "id")) == 0 &&
                    strcmp(jstr(e, "f"), f->string) == 0 &&
                    cJSON_Compare(cJSON_GetObjectItemCaseSensitive(e, "v"), f, true);
                if (!found)
                    FSY_FAIL("acknowledged %s.%s of %s is neither in the log nor in a conflict",
                             jstr(ch, "t"), f->string, jstr(ch, "id"));
            }
        }
    }
    cJSON_Delete(a);
    cJSON_Delete(b);
}

static void op_push(device *dv, int d)
{
    char *body = NULL;
    size_t len;
    int n;
    ASSERT_OK(dv->r, fsy_push_export(dv->r, 1 + rnd(6), 0, &body, &len, &n));
    if (!body)
        return;
    if (rnd(6) == 0) { /* the request is lost before the server sees it */
        fsy_free(body);
        return;
    }
    /* A retry before the ack must be byte-identical (sync.c S3). */
    char *again = NULL;
    ASSERT_OK(dv->r, fsy_push_export(dv->r, n, 0, &again, NULL, NULL));
    ASSERT_STREQ(again, body);
    fsy_free(again);
    char *ack = server_push(d, body);
    if (rnd(6) == 0) { /* the response is lost: the device retries the same batch */
        char *ack2 = server_push(d, body);
        ASSERT_STREQ(ack2, ack); /* exactly once: the identical acknowledgement */
        free(ack2);
    }
    if (rnd(8) != 0) {
        ASSERT_OK(dv->r, fsy_push_apply_ack(dv->r, ack, strlen(ack)));
        settle(dv, body, ack);
        if (rnd(3) == 0)
            check_reapply(dv, ack, true);
        free(dv->last_ack);
        dv->last_ack = ack;
    } else {
        free(ack);
    }
    fsy_free(body);
}

static void op_pull(device *dv, int d)
{
    int64_t cursor;
    ASSERT_OK(dv->r, fsy_pull_cursor(dv->r, &cursor));
    char *batch = server_pull(d, cursor, 1 + rnd(20));
    bool more;
    ASSERT_OK(dv->r, fsy_pull_apply(dv->r, batch, strlen(batch), &more));
    if (rnd(3) == 0)
        check_reapply(dv, batch, false);
    if (dv->last_pull && rnd(4) == 0) /* an old batch delivered late */
        check_reapply(dv, dv->last_pull, false);
    free(dv->last_pull);
    dv->last_pull = batch;
}

static void op_parked(device *dv)
{
    char *p = NULL;
    ASSERT_OK(dv->r, fsy_query_parked(dv->r, &p));
    cJSON *arr = cJSON_Parse(p);
    fsy_free(p);
    int n = cJSON_GetArraySize(arr);
    if (n > 0) {
        cJSON *e = cJSON_GetArrayItem(arr, rnd(n));
        int64_t seq = (int64_t)jnum(e, "seq");
        if (getenv("FSY_TEST_TRACE")) {
            char *t = cJSON_PrintUnformatted(arr);
            fprintf(stderr, "parked: %s (picked %lld)\n", t, (long long)seq);
            free(t);
        }
        if (rnd(2)) {
            int rc = fsy_parked_retry(dv->r, seq);
            ASSERT_TRUE(rc == FSY_OK || rc == FSY_ENOTFOUND);
        } else {
            ASSERT_OK(dv->r, fsy_parked_discard(dv->r, seq));
            /* the rep gave up these values: they no longer count as typed */
            const cJSON *f;
            cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(e, "fields"))
            {
                char k[160];
                typed_key(k, sizeof(k), jstr(e, "table"), jstr(e, "id"), f->string);
                cJSON *typed = cJSON_GetObjectItemCaseSensitive(dv->typed, k);
                if (typed && cJSON_Compare(typed, f, true))
                    cJSON_DeleteItemFromObjectCaseSensitive(dv->typed, k);
            }
        }
    }
    cJSON_Delete(arr);
}

static void op_server_edit(void)
{
    if (S.n_rows == 0)
        return;
    srow *r = &S.rows[rnd(S.n_rows)];
    cJSON *f = random_fields(r->table, false, NULL);
    if (has_bad_value(f)) {
        cJSON_Delete(f);
        return;
    }
    char h[32];
    /* A supervisor edit with a clock somewhere near the devices' clocks. */
    snprintf(h, sizeof(h), "%012llx%04x", (unsigned long long)(D[0].clock_ms - 50 + rnd(100)),
             0xffff);
    server_write(r, f, "sup", h);
}

static void op_scope(void)
{
    if (S.n_rows == 0)
        return;
    srow *r = &S.rows[rnd(S.n_rows)];
    server_hide(rnd(N_DEV), r, rnd(2) == 0);
}

/* ---- invariants ---------------------------------------------------------- */

static cJSON *read_row(sqlite3 *db, const char *sql, const char *a, const char *b)
{
    sqlite3_stmt *st;
    cJSON *row = NULL;
    ASSERT_EQ(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_text(st, 1, a, -1, SQLITE_TRANSIENT);
    if (b)
        sqlite3_bind_text(st, 2, b, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) == SQLITE_ROW) {
        row = cJSON_CreateObject();
        for (int c = 0; c < sqlite3_column_count(st); c++) {
            const char *name = sqlite3_column_name(st, c);
            switch (sqlite3_column_type(st, c)) {
            case SQLITE_NULL:
                break;
            case SQLITE_INTEGER:
            case SQLITE_FLOAT:
                cJSON_AddNumberToObject(row, name, sqlite3_column_double(st, c));
                break;
            default:
                cJSON_AddStringToObject(row, name, (const char *)sqlite3_column_text(st, c));
            }
        }
    }
    sqlite3_finalize(st);
    return row;
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

/* P1, recomputed here from fsy_confirmed and fsy_journal without the core's code. */
static void check_view(device *dv, int step)
{
    static const char *tables[] = {"customers", "visits"};
    static const int tbl_index[] = {0, 2};
    for (int ti = 0; ti < 2; ti++) {
        sqlite3_stmt *st;
        char sql[256];
        int expected_rows = 0, actual_rows = 0;
        snprintf(sql, sizeof(sql),
                 "SELECT id FROM fsy_confirmed WHERE tbl = %d UNION"
                 " SELECT id FROM fsy_journal WHERE tbl = %d",
                 tbl_index[ti], tbl_index[ti]);
        ASSERT_EQ(sqlite3_prepare_v2(dv->ro, sql, -1, &st, NULL), SQLITE_OK);
        while (sqlite3_step(st) == SQLITE_ROW) {
            const char *id = (const char *)sqlite3_column_text(st, 0);
            char idx[8];
            snprintf(idx, sizeof(idx), "%d", tbl_index[ti]);
            cJSON *conf = read_row(dv->ro,
                                   "SELECT state, vals FROM fsy_confirmed WHERE tbl = ?1 AND"
                                   " id = ?2",
                                   idx, id);
            bool exists = conf && jnum(conf, "state") == 0;
            cJSON *expect = conf ? cJSON_Parse(jstr(conf, "vals")) : cJSON_CreateObject();
            sqlite3_stmt *js;
            ASSERT_EQ(sqlite3_prepare_v2(dv->ro,
                                         "SELECT op, fields FROM fsy_journal WHERE tbl = ?1 AND"
                                         " id = ?2 AND state = 0 ORDER BY seq",
                                         -1, &js, NULL),
                      SQLITE_OK);
            sqlite3_bind_int(js, 1, tbl_index[ti]);
            sqlite3_bind_text(js, 2, id, -1, SQLITE_TRANSIENT);
            while (sqlite3_step(js) == SQLITE_ROW) {
                int op = sqlite3_column_int(js, 0);
                if (op == 2) {
                    exists = false;
                    continue;
                }
                if (op == 0)
                    exists = true;
                cJSON *f = cJSON_Parse((const char *)sqlite3_column_text(js, 1));
                for (cJSON *v = f->child; v; v = v->next)
                    set_item(expect, v->string, cJSON_Duplicate(v, true));
                cJSON_Delete(f);
            }
            sqlite3_finalize(js);
            snprintf(sql, sizeof(sql), "SELECT * FROM %s WHERE id = ?1", tables[ti]);
            cJSON *view = read_row(dv->ro, sql, id, NULL);
            if (exists != (view != NULL))
                FSY_FAIL("P1 step %d: %s %s should %sexist in the view", step, tables[ti], id,
                         exists ? "" : "not ");
            if (view) {
                for (cJSON *v = view->child; v; v = v->next) {
                    if (strcmp(v->string, "id") == 0)
                        continue;
                    if (!same_value(v, cJSON_GetObjectItemCaseSensitive(expect, v->string)))
                        FSY_FAIL("P1 step %d: %s %s field %s differs from confirmed+pending", step,
                                 tables[ti], id, v->string);
                }
                for (cJSON *v = expect->child; v; v = v->next)
                    if (strcmp(v->string, "_deleted") != 0 &&
                        !same_value(v, cJSON_GetObjectItemCaseSensitive(view, v->string)))
                        FSY_FAIL("P1 step %d: %s %s field %s missing from the view", step,
                                 tables[ti], id, v->string);
                expected_rows++;
            }
            cJSON_Delete(view);
            cJSON_Delete(expect);
            cJSON_Delete(conf);
        }
        sqlite3_finalize(st);
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", tables[ti]);
        ASSERT_EQ(sqlite3_prepare_v2(dv->ro, sql, -1, &st, NULL), SQLITE_OK);
        ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
        actual_rows = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
        if (actual_rows != expected_rows)
            FSY_FAIL("P1 step %d: %s has %d rows, expected %d", step, tables[ti], actual_rows,
                     expected_rows);
    }
}

/* P2: every value the rep typed and the server has not settled is still somewhere. */
static void check_typed(device *dv, int step)
{
    for (cJSON *k = dv->typed->child; k; k = k->next) {
        char t[16], id[40], f[64];
        if (sscanf(k->string, "%15[^/]/%39[^/]/%63s", t, id, f) != 3)
            FSY_FAIL("bad key %s", k->string);
        /* The newest journal entry naming the field holds the latest typed value. */
        sqlite3_stmt *st;
        bool in_journal = false;
        ASSERT_EQ(sqlite3_prepare_v2(dv->ro,
                                     "SELECT fields FROM fsy_journal WHERE id = ?1 AND"
                                     " json_type(fields, '$.' || ?2) IS NOT NULL"
                                     " ORDER BY seq DESC LIMIT 1",
                                     -1, &st, NULL),
                  SQLITE_OK);
        sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, f, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(st) == SQLITE_ROW) {
            cJSON *fields = cJSON_Parse((const char *)sqlite3_column_text(st, 0));
            in_journal = same_value(cJSON_GetObjectItemCaseSensitive(fields, f), k);
            cJSON_Delete(fields);
        }
        sqlite3_finalize(st);
        if (!in_journal)
            FSY_FAIL("P2 step %d: %s typed on this device is in neither the journal nor the "
                     "server",
                     step, k->string);
    }
}

static void sync_until_quiet(void)
{
    for (int round = 0; round < 200; round++) {
        bool busy = false;
        for (int d = 0; d < N_DEV; d++) {
            device *dv = &D[d];
            char *body = NULL;
            int n = 0;
            ASSERT_OK(dv->r, fsy_push_export(dv->r, 50, 0, &body, NULL, &n));
            if (body) {
                char *ack = server_push(d, body);
                ASSERT_OK(dv->r, fsy_push_apply_ack(dv->r, ack, strlen(ack)));
                settle(dv, body, ack);
                free(ack);
                fsy_free(body);
                busy = true;
            }
            bool more = true;
            while (more) {
                int64_t cursor;
                ASSERT_OK(dv->r, fsy_pull_cursor(dv->r, &cursor));
                char *batch = server_pull(d, cursor, 100);
                ASSERT_OK(dv->r, fsy_pull_apply(dv->r, batch, strlen(batch), &more));
                cJSON *bj = cJSON_Parse(batch);
                busy |= cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(bj, "changes")) > 0;
                cJSON_Delete(bj);
                free(batch);
            }
        }
        if (!busy)
            return;
    }
    FSY_FAIL("devices did not go quiet");
}

/* DESIGN §8.1: each replica equals the server's view of its scope. */
static void check_convergence(void)
{
    for (int d = 0; d < N_DEV; d++) {
        device *dv = &D[d];
        int visible = 0;
        for (int i = 0; i < S.n_rows; i++) {
            srow *r = &S.rows[i];
            if (r->hidden[d] || cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r->vals, "_deleted")))
                continue;
            char sql[128];
            snprintf(sql, sizeof(sql), "SELECT * FROM %s WHERE id = ?1", r->table);
            cJSON *view = read_row(dv->ro, sql, r->id, NULL);
            if (!view)
                FSY_FAIL("convergence: %s %s missing on %s", r->table, r->id, dev_name[d]);
            for (cJSON *v = r->vals->child; v; v = v->next)
                if (strcmp(v->string, "_deleted") != 0 &&
                    !same_value(v, cJSON_GetObjectItemCaseSensitive(view, v->string)))
                    FSY_FAIL("convergence: %s %s.%s differs on %s", r->table, r->id, v->string,
                             dev_name[d]);
            cJSON_Delete(view);
            visible++;
        }
        int64_t n = 0;
        cJSON *c = read_row(dv->ro,
                            "SELECT (SELECT count(*) FROM customers) + (SELECT count(*)"
                            " FROM visits) AS n WHERE ?1 IS NOT NULL",
                            "x", NULL);
        n = (int64_t)jnum(c, "n");
        cJSON_Delete(c);
        if (n != visible)
            FSY_FAIL("convergence: %s shows %lld rows, its scope has %d", dev_name[d], (long long)n,
                     visible);
        int64_t pending;
        ASSERT_OK(dv->r, fsy_pending_count(dv->r, &pending));
        ASSERT_EQ(pending, 0);
    }
}

int main(void)
{
    rng = fsy_test_seed();
    const char *steps_env = getenv("FSY_TEST_STEPS");
    int steps = steps_env ? atoi(steps_env) : 3000;
    S.log = cJSON_CreateArray();
    S.accepted_values = cJSON_CreateArray();
    S.conflict_values = cJSON_CreateArray();
    for (int d = 0; d < N_DEV; d++) {
        device *dv = &D[d];
        S.results[d] = cJSON_CreateObject();
        fsy_test_tmp(dv->path, sizeof(dv->path), dev_name[d]);
        dv->typed = cJSON_CreateObject();
        dv->clock_ms = 1790000000000LL + d * 7;
        dev_open(dv);
        ASSERT_OK(dv->r, fsy_replica_set_identity(dv->r, dev_name[d], d ? "bob" : "alice"));
        ASSERT_EQ(sqlite3_open_v2(dv->path, &dv->ro, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    }

    for (int step = 0; step < steps; step++) {
        int d = rnd(N_DEV);
        device *dv = &D[d];
        int op = rnd(100);
        if (getenv("FSY_TEST_TRACE"))
            fprintf(stderr, "step %d dev %d op %d\n", step, d, op);
        if (op < 14)
            op_insert(dv);
        else if (op < 40)
            op_update(dv);
        else if (op < 44)
            op_delete(dv);
        else if (op < 62)
            op_push(dv, d);
        else if (op < 80)
            op_pull(dv, d);
        else if (op < 84)
            op_parked(dv);
        else if (op < 92)
            op_server_edit();
        else if (op < 96)
            op_scope();
        else {
            fsy_replica_free(dv->r); /* the app is restarted */
            dev_open(dv);
        }
        check_view(dv, step);
        check_typed(dv, step);
    }

    /* Quiesce: un-hide nothing, discard nothing; everything pending flows. */
    sync_until_quiet();
    for (int d = 0; d < N_DEV; d++)
        check_view(&D[d], steps);
    check_convergence();
    fprintf(stderr,
            "property: %d steps, %d server rows, %lld changes, %d clean writes, %d conflicts, "
            "%d rejections\n",
            steps, S.n_rows, (long long)S.seq, S.n_clean, S.n_conflicts, S.n_rejects);

    for (int d = 0; d < N_DEV; d++) {
        sqlite3_close(D[d].ro);
        fsy_replica_free(D[d].r);
        fsy_test_rm(D[d].path);
        cJSON_Delete(D[d].typed);
        free(D[d].last_ack);
        free(D[d].last_pull);
        cJSON_Delete(S.results[d]);
    }
    for (int i = 0; i < S.n_rows; i++) {
        cJSON_Delete(S.rows[i].vals);
        cJSON_Delete(S.rows[i].vers);
        cJSON_Delete(S.rows[i].devs);
        cJSON_Delete(S.rows[i].hlcs);
    }
    cJSON_Delete(S.log);
    cJSON_Delete(S.accepted_values);
    cJSON_Delete(S.conflict_values);
    return 0;
}
