/*
 * test_sync.c — the device side of the protocol (docs/protocol.md, DESIGN §4):
 * push batches, acknowledgements, pulls. Cites the invariants of sync.c:
 *  S1 view = confirmed state + pending entries; S2 versions only rise, so any
 *  replay is a no-op; S3 an exported entry is frozen (retries byte-identical);
 *  S4 a refused entry is parked, never dropped.
 * Batches are written by hand here, the way fieldsyncd would send them.
 */
#include "internal.h"
#include "unit_helpers.h"

#include <sqlite3.h>

#define C1    "0192f3a0-1111-7000-8000-000000000001"
#define C2    "0192f3a0-1111-7000-8000-000000000002"
#define C3    "0192f3a0-1111-7000-8000-000000000003"
#define V1    "0192f3a0-2222-7000-8000-000000000001"
#define OTHER "0192f3a0-9999-7000-8000-0000000000bb"

static void pull_ok(fsy_replica *r, int upto, const char *changes)
{
    char doc[4096];
    snprintf(doc, sizeof(doc), "{\"schema\":2,\"upto\":%d,\"changes\":[%s]}", upto, changes);
    ASSERT_OK(r, t_pull(r, doc));
}

/* A replica holding confirmed customer C1 (name, territory, phone at version 17). */
static fsy_replica *with_customer(char *path, size_t n, const char *tag)
{
    fsy_replica *r = t_open(path, n, tag, NULL);
    pull_ok(r, 17,
            "{\"q\":17,\"t\":\"customers\",\"id\":\"" C1 "\","
            "\"f\":{\"name\":\"Kaufhaus Nord\",\"territory\":\"north\",\"phone\":\"+49 30 1\"}}");
    ASSERT_EQ(t_pending(r), 0);
    return r;
}

static const char *field(fsy_replica *r, const char *table, const char *id, const char *name)
{
    static char buf[256];
    return t_field(r, table, id, name, buf, sizeof(buf));
}

static const cJSON *change_at(const cJSON *batch, int i)
{
    const cJSON *ch = cJSON_GetArrayItem(t_item(batch, "changes"), i);
    if (!ch)
        FSY_FAIL("batch has no change %d", i);
    return ch;
}

/* Apply {"schema":2,"results":[{"s":s,<rest>}]}: one result for change s. */
static void ack_one(fsy_replica *r, double s, const char *rest)
{
    char ack[1024];
    snprintf(ack, sizeof(ack), "{\"schema\":2,\"results\":[{\"s\":%.0f,%s}]}", s, rest);
    ASSERT_OK(r, t_apply_ack(r, ack));
}

static void exec_sql(fsy_replica *r, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(r->db, sql, NULL, NULL, &err) != SQLITE_OK)
        FSY_FAIL("%s: %s", sql, err ? err : "?");
}

/* ---- push ------------------------------------------------------------------- */

static void test_sync__push_batch_has_the_documented_shape(void)
{
    char path[512], cust[FSY_ID_LEN + 1];
    fsy_replica *r = with_customer(path, sizeof(path), "shape");
    t_customer(r, "Neu", "south", cust);
    ASSERT_OK(r, fsy_replica_update(r, "customers", C1, "{\"phone\":\"+49 30 2\",\"tier\":\"A\"}"));
    ASSERT_OK(r, fsy_replica_delete(r, "customers", cust));

    char *text = NULL;
    size_t len = 0;
    int n = 0;
    ASSERT_OK(r, fsy_push_export(r, 0, 0, &text, &len, &n));
    ASSERT_EQ(n, 3);
    ASSERT_EQ(len, strlen(text));
    cJSON *b = t_json(text);
    ASSERT_EQ(t_num(b, "schema"), FSY_SCHEMA_VERSION);
    ASSERT_STREQ(t_str(b, "device"), T_DEVICE);
    const cJSON *c0 = change_at(b, 0), *c1 = change_at(b, 1), *c2 = change_at(b, 2);
    ASSERT_TRUE(t_num(c0, "s") < t_num(c1, "s") && t_num(c1, "s") < t_num(c2, "s"));
    ASSERT_STREQ(t_str(c0, "t"), "customers");
    ASSERT_STREQ(t_str(c0, "id"), cust);
    ASSERT_STREQ(t_str(c0, "op"), "c");
    ASSERT_EQ(strlen(t_str(c0, "h")), 16);
    ASSERT_STREQ(t_str(t_item(c0, "f"), "name"), "Neu");
    ASSERT_TRUE(cJSON_GetObjectItemCaseSensitive(c0, "b") == NULL);
    ASSERT_TRUE(cJSON_GetObjectItemCaseSensitive(c0, "fh") == NULL);
    ASSERT_STREQ(t_str(c1, "op"), "u");
    ASSERT_STREQ(t_str(c1, "id"), C1);
    ASSERT_EQ(cJSON_GetArraySize(t_item(c1, "f")), 2);
    /* Only fields that had a server version carry a base. */
    ASSERT_EQ(t_num(t_item(c1, "b"), "phone"), 17);
    ASSERT_EQ(cJSON_GetArraySize(t_item(c1, "b")), 1);
    ASSERT_STREQ(t_str(c2, "op"), "d");
    ASSERT_TRUE(cJSON_IsTrue(t_item(t_item(c2, "f"), "_deleted")));
    ASSERT_TRUE(strcmp(t_str(c0, "h"), t_str(c2, "h")) < 0);
    cJSON_Delete(b);
    fsy_free(text);
    t_close(r, path);
}

static void test_sync__nothing_pending_exports_nothing(void)
{
    char path[512], *text = (char *)"sentinel";
    size_t len = 99;
    int n = 99;
    fsy_replica *r = with_customer(path, sizeof(path), "empty");
    ASSERT_OK(r, fsy_push_export(r, 0, 0, &text, &len, &n));
    ASSERT_TRUE(text == NULL);
    ASSERT_EQ(len, 0);
    ASSERT_EQ(n, 0);
    /* len_out and n_out may be NULL. */
    ASSERT_OK(r, fsy_push_export(r, 0, 0, &text, NULL, NULL));
    ASSERT_TRUE(text == NULL);
    t_close(r, path);
}

static void test_sync__push_needs_an_enrolled_device(void)
{
    char path[512], *text = NULL;
    fsy_test_tmp(path, sizeof(path), "noid");
    fsy_replica *r = t_reopen(path, NULL);
    t_customer(r, "Offline first", "north", NULL);
    ASSERT_EQ(fsy_push_export(r, 0, 0, &text, NULL, NULL), FSY_EMISUSE);
    ASSERT_CONTAINS(fsy_replica_errmsg(r), "not enrolled");
    ASSERT_TRUE(text == NULL);
    ASSERT_OK(r, fsy_replica_set_identity(r, T_DEVICE, T_USER));
    cJSON *b = t_export(r, NULL);
    ASSERT_EQ(cJSON_GetArraySize(t_item(b, "changes")), 1);
    cJSON_Delete(b);
    t_close(r, path);
}

static void test_sync__push_batches_are_bounded_by_count_and_bytes(void)
{
    enum { N = 25 };
    char path[512], ids[N][FSY_ID_LEN + 1];
    fsy_replica *r = t_open(path, sizeof(path), "bounded", NULL);
    for (int i = 0; i < N; i++)
        t_customer(r, "Filiale mit einem recht langen Namen", "north", ids[i]);

    char *text = NULL;
    size_t len = 0;
    int n = 0;
    ASSERT_OK(r, fsy_push_export(r, 7, 0, &text, &len, &n));
    ASSERT_EQ(n, 7);
    cJSON *b = t_json(text);
    ASSERT_EQ(cJSON_GetArraySize(t_item(b, "changes")), 7);
    ASSERT_STREQ(t_str(change_at(b, 0), "id"), ids[0]);
    cJSON_Delete(b);
    fsy_free(text);

    /* Byte cap: push everything in capped batches; each fits and order is kept. */
    const size_t cap = 700;
    int seen = 0, v = 100;
    double last_s = 0;
    while (1) {
        ASSERT_OK(r, fsy_push_export(r, 0, cap, &text, &len, &n));
        if (!text)
            break;
        ASSERT_TRUE(n >= 1);
        ASSERT_TRUE(len <= cap);
        b = t_json(text);
        const cJSON *ch;
        cJSON_ArrayForEach(ch, t_item(b, "changes"))
        {
            ASSERT_STREQ(t_str(ch, "id"), ids[seen]);
            ASSERT_TRUE(t_num(ch, "s") > last_s);
            last_s = t_num(ch, "s");
            seen++;
        }
        char *ack = t_ack_all(b, v);
        v += n;
        ASSERT_OK(r, t_apply_ack(r, ack));
        cJSON_free(ack);
        cJSON_Delete(b);
        fsy_free(text);
    }
    ASSERT_EQ(seen, N);

    /* A single change larger than the cap still goes, alone. */
    t_customer(r, "A", "north", NULL);
    t_customer(r, "B", "north", NULL);
    ASSERT_OK(r, fsy_push_export(r, 0, 10, &text, &len, &n));
    ASSERT_EQ(n, 1);
    ASSERT_TRUE(len > 10);
    fsy_free(text);
    t_close(r, path);
}

static void test_sync__exporting_again_before_the_ack_is_byte_identical(void)
{
    char path[512], *a = NULL, *b = NULL, *c = NULL;
    size_t la = 0, lb = 0;
    int na = 0, nb = 0;
    fsy_replica *r = with_customer(path, sizeof(path), "retry");
    t_customer(r, "Eins", "north", NULL);
    ASSERT_OK(r, fsy_replica_update(r, "customers", C1, "{\"phone\":\"2\"}"));
    ASSERT_OK(r, fsy_push_export(r, 0, 0, &a, &la, &na));
    ASSERT_OK(r, fsy_push_export(r, 0, 0, &b, &lb, &nb));
    ASSERT_EQ(la, lb);
    ASSERT_EQ(na, nb);
    ASSERT_TRUE(memcmp(a, b, la) == 0);
    /* Edits made meanwhile, even of an exported row, become new changes after it. */
    ASSERT_OK(r, fsy_replica_update(r, "customers", C1, "{\"phone\":\"3\"}"));
    fsy_replica_free(r);
    r = t_reopen(path, NULL); /* frozen survives a restart too */
    ASSERT_OK(r, fsy_push_export(r, na, 0, &c, NULL, NULL));
    ASSERT_STREQ(c, a);
    ASSERT_EQ(t_pending(r), 3);
    fsy_free(a);
    fsy_free(b);
    fsy_free(c);
    t_close(r, path);
}

static void test_sync__a_change_left_out_of_a_capped_batch_goes_in_the_next_one(void)
{
    char path[512], *text = NULL, *next = NULL;
    int n = 0;
    fsy_replica *r = with_customer(path, sizeof(path), "capped");
    t_customer(r, "Zweite", "north", NULL);
    ASSERT_OK(r, fsy_replica_update(r, "customers", C1, "{\"phone\":\"2\"}"));
    /* Room for one change only: the update of C1 is not in this batch. */
    ASSERT_OK(r, fsy_push_export(r, 0, 10, &text, NULL, &n));
    ASSERT_EQ(n, 1);
    /* A sync freezes everything pending when it starts (one fsync per sync, not per
     * batch), so a further edit becomes its own change instead of folding in. */
    ASSERT_OK(r, fsy_replica_update(r, "customers", C1, "{\"phone\":\"3\"}"));
    ASSERT_EQ(t_pending(r), 3);
    /* Nothing is lost: the batch after the first still carries the earlier edit. */
    ASSERT_OK(r, fsy_push_export(r, 0, 0, &next, NULL, &n));
    ASSERT_EQ(n, 3);
    ASSERT_CONTAINS(next, "\"phone\":\"2\"");
    ASSERT_CONTAINS(next, "\"phone\":\"3\"");
    fsy_free(text);
    fsy_free(next);
    t_close(r, path);
}

/* ---- acknowledgements --------------------------------------------------------- */

static void test_sync__an_applied_ack_confirms_the_changes(void)
{
    char path[512], cust[FSY_ID_LEN + 1], *status = NULL;
    fsy_replica *r = with_customer(path, sizeof(path), "ack");
    t_customer(r, "Neu", "south", cust);
    ASSERT_OK(r, fsy_replica_update(r, "customers", C1, "{\"tier\":\"B\"}"));
    char *rows_before = NULL;
    ASSERT_OK(r, fsy_replica_export(r, &rows_before));
    cJSON *b = t_export(r, NULL);
    char *ack = t_ack_all(b, 1201);
    ASSERT_OK(r, t_apply_ack(r, ack));
    ASSERT_EQ(t_pending(r), 0);
    /* What the rep sees does not change when the server says yes. */
    char *rows_after = NULL;
    ASSERT_OK(r, fsy_replica_export(r, &rows_after));
    ASSERT_STREQ(rows_after, rows_before);
    ASSERT_OK(r, fsy_sync_status(r, &status));
    cJSON *st = t_json(status);
    ASSERT_EQ(t_num(st, "pending"), 0);
    ASSERT_EQ(t_num(st, "parked"), 0);
    ASSERT_EQ(t_num(st, "conflicts"), 0);
    cJSON_Delete(st);
    char *none = NULL;
    ASSERT_OK(r, fsy_push_export(r, 0, 0, &none, NULL, NULL));
    ASSERT_TRUE(none == NULL);
    /* Confirmed, not forgotten: still there after a reopen. */
    fsy_replica_free(r);
    r = t_reopen(path, NULL);
    ASSERT_STREQ(field(r, "customers", C1, "tier"), "B");
    ASSERT_STREQ(field(r, "customers", cust, "name"), "Neu");
    cJSON_free(ack);
    cJSON_Delete(b);
    fsy_free(rows_before);
    fsy_free(rows_after);
    fsy_free(status);
    t_close(r, path);
}

static void test_sync__own_acknowledged_edit_is_the_base_of_the_next_edit(void)
{
    char path[512];
    fsy_replica *r = with_customer(path, sizeof(path), "trap");
    /* Edit, push, accepted as version 7 before any pull; then edit again. */
    ASSERT_OK(r, fsy_replica_update(r, "customers", C1, "{\"phone\":\"first\"}"));
    cJSON *b = t_export(r, NULL);
    ASSERT_EQ(t_num(t_item(change_at(b, 0), "b"), "phone"), 17);
    ack_one(r, t_num(change_at(b, 0), "s"), "\"ok\":true,\"v\":7017");
    cJSON_Delete(b);
    ASSERT_OK(r, fsy_replica_update(r, "customers", C1, "{\"phone\":\"second\"}"));
    b = t_export(r, NULL);
    ASSERT_EQ(t_num(t_item(change_at(b, 0), "b"), "phone"), 7017);
    cJSON_Delete(b);
    t_close(r, path);
}

static void test_sync__an_edit_made_while_the_push_was_in_flight_is_rebased(void)
{
    char path[512];
    fsy_replica *r = with_customer(path, sizeof(path), "inflight");
    ASSERT_OK(r, fsy_replica_update(r, "customers", C1, "{\"phone\":\"first\",\"tier\":\"A\"}"));
    cJSON *b = t_export(r, NULL);
    /* The rep edits again before the acknowledgement arrives. */
    ASSERT_OK(r, fsy_replica_update(r, "customers", C1, "{\"phone\":\"second\",\"owner\":\"x\"}"));
    ack_one(r, t_num(change_at(b, 0), "s"), "\"ok\":true,\"v\":7017");
    cJSON_Delete(b);
    b = t_export(r, NULL);
    const cJSON *bases = t_item(change_at(b, 0), "b");
    ASSERT_EQ(t_num(bases, "phone"), 7017);
    ASSERT_TRUE(cJSON_GetObjectItemCaseSensitive(bases, "owner") == NULL);
    ASSERT_STREQ(field(r, "customers", C1, "phone"), "second");
    cJSON_Delete(b);
    t_close(r, path);
}

static void test_sync__an_edit_left_out_of_a_capped_batch_is_rebased_too(void)
{
    char path[512], *text = NULL;
    int n = 0;
    fsy_replica *r = with_customer(path, sizeof(path), "inflight-cap");
    ASSERT_OK(r, fsy_replica_update(r, "customers", C1, "{\"phone\":\"first\"}"));
    cJSON *b = t_export(r, NULL); /* freezes the first edit */
    ASSERT_OK(r, fsy_replica_update(r, "customers", C1, "{\"phone\":\"second\"}"));
    t_customer(r, "Andere", "north", NULL);
    /* A retry of the first batch that has room for the first edit only. */
    ASSERT_OK(r, fsy_push_export(r, 0, 10, &text, NULL, &n));
    ASSERT_EQ(n, 1);
    fsy_free(text);
    ack_one(r, t_num(change_at(b, 0), "s"), "\"ok\":true,\"v\":7017");
    cJSON_Delete(b);
    b = t_export(r, NULL);
    ASSERT_STREQ(t_str(t_item(change_at(b, 0), "f"), "phone"), "second");
    ASSERT_EQ(t_num(t_item(change_at(b, 0), "b"), "phone"), 7017);
    cJSON_Delete(b);
    t_close(r, path);
}

static void test_sync__a_lost_conflict_shows_their_value_and_is_recorded(void)
{
    char path[512], *text = NULL;
    fsy_replica *r = with_customer(path, sizeof(path), "lost");
    ASSERT_OK(r, fsy_replica_update(r, "customers", C1, "{\"phone\":\"mine\",\"tier\":\"A\"}"));
    cJSON *b = t_export(r, NULL);
    ack_one(r, t_num(change_at(b, 0), "s"),
            "\"ok\":true,\"v\":1202,\"c\":[{\"f\":\"phone\",\"win\":\"theirs\","
            "\"theirs\":\"+49 30 9999\",\"ver\":1187,\"by\":\"bob\",\"dev\":\"" OTHER "\"}]");
    cJSON_Delete(b);
    ASSERT_EQ(t_pending(r), 0);
    ASSERT_STREQ(field(r, "customers", C1, "phone"), "+49 30 9999");
    ASSERT_STREQ(field(r, "customers", C1, "tier"), "A");

    ASSERT_OK(r, fsy_query_conflicts(r, &text));
    cJSON *cs = t_json(text);
    ASSERT_EQ(cJSON_GetArraySize(cs), 1);
    const cJSON *c = cJSON_GetArrayItem(cs, 0);
    ASSERT_STREQ(t_str(c, "table"), "customers");
    ASSERT_STREQ(t_str(c, "id"), C1);
    ASSERT_STREQ(t_str(c, "field"), "phone");
    ASSERT_STREQ(t_str(c, "mine"), "mine");
    ASSERT_STREQ(t_str(c, "theirs"), "+49 30 9999");
    ASSERT_STREQ(t_str(c, "their_user"), "bob");
    ASSERT_STREQ(t_str(c, "their_device"), OTHER);
    ASSERT_STREQ(t_str(c, "winner"), "theirs");
    ASSERT_EQ(t_num(c, "server_seq"), 1202);
    cJSON_Delete(cs);
    fsy_free(text);

    /* The next edit is made on the value that stands: theirs, at its version. */
    ASSERT_OK(r, fsy_replica_update(r, "customers", C1, "{\"phone\":\"again\",\"tier\":\"B\"}"));
    b = t_export(r, NULL);
    const cJSON *bases = t_item(change_at(b, 0), "b");
    ASSERT_EQ(t_num(bases, "phone"), 1187);
    ASSERT_EQ(t_num(bases, "tier"), 1202);
    cJSON_Delete(b);
    t_close(r, path);
}

static void test_sync__a_won_conflict_keeps_mine_and_is_recorded(void)
{
    char path[512], *text = NULL;
    fsy_replica *r = with_customer(path, sizeof(path), "won");
    ASSERT_OK(r, fsy_replica_update(r, "customers", C1, "{\"phone\":\"mine\"}"));
    cJSON *b = t_export(r, NULL);
    ack_one(r, t_num(change_at(b, 0), "s"),
            "\"ok\":true,\"v\":1202,\"c\":[{\"f\":\"phone\",\"win\":\"mine\","
            "\"theirs\":\"+49 30 9999\",\"by\":\"bob\",\"dev\":\"" OTHER "\"}]");
    cJSON_Delete(b);
    ASSERT_STREQ(field(r, "customers", C1, "phone"), "mine");
    ASSERT_OK(r, fsy_query_conflicts(r, &text));
    cJSON *cs = t_json(text);
    ASSERT_EQ(cJSON_GetArraySize(cs), 1);
    ASSERT_STREQ(t_str(cJSON_GetArrayItem(cs, 0), "winner"), "mine");
    ASSERT_STREQ(t_str(cJSON_GetArrayItem(cs, 0), "theirs"), "+49 30 9999");
    cJSON_Delete(cs);
    fsy_free(text);
    ASSERT_OK(r, fsy_replica_update(r, "customers", C1, "{\"phone\":\"next\"}"));
    b = t_export(r, NULL);
    ASSERT_EQ(t_num(t_item(change_at(b, 0), "b"), "phone"), 1202);
    cJSON_Delete(b);
    t_close(r, path);
}

static void test_sync__a_refused_change_is_parked_and_the_rest_keeps_flowing(void)
{
    char path[512], cust[FSY_ID_LEN + 1], later[FSY_ID_LEN + 1], *text = NULL;
    fsy_replica *r = with_customer(path, sizeof(path), "parked");
    t_customer(r, "Eins", "north", cust);
    ASSERT_OK(r, fsy_replica_update(r, "customers", C1, "{\"phone\":\"refused\"}"));
    t_customer(r, "Drei", "north", NULL);
    cJSON *b = t_export(r, NULL);
    ASSERT_EQ(cJSON_GetArraySize(t_item(b, "changes")), 3);
    double s0 = t_num(change_at(b, 0), "s"), s1 = t_num(change_at(b, 1), "s"),
           s2 = t_num(change_at(b, 2), "s");
    char ack[1024];
    snprintf(ack, sizeof(ack),
             "{\"schema\":2,\"results\":[{\"s\":%.0f,\"ok\":true,\"v\":30},"
             "{\"s\":%.0f,\"ok\":false,\"code\":\"out_of_scope\",\"msg\":\"customers " C1
             " is in territory north; alice works south\"},{\"s\":%.0f,\"ok\":true,\"v\":31}]}",
             s0, s1, s2);
    ASSERT_OK(r, t_apply_ack(r, ack));
    cJSON_Delete(b);

    /* Reverted to the server's value, counted as parked, not as pending. */
    ASSERT_STREQ(field(r, "customers", C1, "phone"), "+49 30 1");
    ASSERT_EQ(t_pending(r), 0);
    ASSERT_OK(r, fsy_query_parked(r, &text));
    cJSON *p = t_json(text);
    ASSERT_EQ(cJSON_GetArraySize(p), 1);
    const cJSON *e = cJSON_GetArrayItem(p, 0);
    ASSERT_EQ(t_num(e, "seq"), s1);
    ASSERT_STREQ(t_str(e, "table"), "customers");
    ASSERT_STREQ(t_str(e, "id"), C1);
    ASSERT_STREQ(t_str(e, "op"), "update");
    ASSERT_STREQ(t_str(t_item(e, "fields"), "phone"), "refused");
    ASSERT_STREQ(t_str(e, "code"), "out_of_scope");
    ASSERT_CONTAINS(t_str(e, "reason"), "alice works south");
    cJSON_Delete(p);
    fsy_free(text);
    ASSERT_OK(r, fsy_sync_status(r, &text));
    p = t_json(text);
    ASSERT_EQ(t_num(p, "parked"), 1);
    ASSERT_EQ(t_num(p, "pending"), 0);
    cJSON_Delete(p);
    fsy_free(text);

    /* New work is pushed; the parked change is not. */
    t_customer(r, "Vier", "north", later);
    b = t_export(r, NULL);
    ASSERT_EQ(cJSON_GetArraySize(t_item(b, "changes")), 1);
    ASSERT_STREQ(t_str(change_at(b, 0), "id"), later);
    cJSON_Delete(b);
    /* Parked survives a restart. */
    fsy_replica_free(r);
    r = t_reopen(path, NULL);
    ASSERT_EQ(t_array_size(r, fsy_query_parked), 1);
    t_close(r, path);
}

static void test_sync__a_refused_create_takes_the_row_off_the_view(void)
{
    char path[512], cust[FSY_ID_LEN + 1];
    fsy_replica *r = t_open(path, sizeof(path), "parked-create", NULL);
    t_customer(r, "Nicht erlaubt", "east", cust);
    cJSON *b = t_export(r, NULL);
    ack_one(r, t_num(change_at(b, 0), "s"),
            "\"ok\":false,\"code\":\"invalid\",\"msg\":\"territory east "
            "does not exist\"");
    cJSON_Delete(b);
    ASSERT_TRUE(!t_exists(r, "customers", cust));
    ASSERT_EQ(t_array_size(r, fsy_query_parked), 1);
    t_close(r, path);
}

static int64_t parked_seq(fsy_replica *r)
{
    char *text = NULL;
    ASSERT_OK(r, fsy_query_parked(r, &text));
    cJSON *p = t_json(text);
    ASSERT_EQ(cJSON_GetArraySize(p), 1);
    int64_t seq = (int64_t)t_num(cJSON_GetArrayItem(p, 0), "seq");
    cJSON_Delete(p);
    fsy_free(text);
    return seq;
}

static void park_first(fsy_replica *r)
{
    cJSON *b = t_export(r, NULL);
    ack_one(r, t_num(change_at(b, 0), "s"),
            "\"ok\":false,\"code\":\"forbidden\",\"msg\":\"not yours\"");
    cJSON_Delete(b);
}

static void test_sync__retrying_a_parked_change_queues_it_again(void)
{
    char path[512];
    fsy_replica *r = with_customer(path, sizeof(path), "retry-parked");
    ASSERT_OK(r, fsy_replica_update(r, "customers", C1, "{\"phone\":\"retry me\"}"));
    park_first(r);
    int64_t seq = parked_seq(r);
    ASSERT_STREQ(field(r, "customers", C1, "phone"), "+49 30 1");

    ASSERT_OK(r, fsy_parked_retry(r, seq));
    ASSERT_STREQ(field(r, "customers", C1, "phone"), "retry me");
    ASSERT_EQ(t_array_size(r, fsy_query_parked), 0);
    ASSERT_EQ(t_pending(r), 1);
    cJSON *b = t_export(r, NULL);
    const cJSON *ch = change_at(b, 0);
    ASSERT_TRUE(t_num(ch, "s") > (double)seq);
    ASSERT_STREQ(t_str(t_item(ch, "f"), "phone"), "retry me");
    ASSERT_EQ(t_num(t_item(ch, "b"), "phone"), 17);
    char *ack = t_ack_all(b, 40);
    ASSERT_OK(r, t_apply_ack(r, ack));
    cJSON_free(ack);
    cJSON_Delete(b);
    ASSERT_STREQ(field(r, "customers", C1, "phone"), "retry me");
    /* Gone from the parked list: retrying again finds nothing. */
    ASSERT_EQ(fsy_parked_retry(r, seq), FSY_ENOTFOUND);
    t_close(r, path);
}

static void test_sync__retrying_a_parked_create_or_delete_restores_it(void)
{
    char path[512], cust[FSY_ID_LEN + 1];
    fsy_replica *r = with_customer(path, sizeof(path), "retry-create");
    t_customer(r, "Neu", "north", cust);
    park_first(r);
    ASSERT_TRUE(!t_exists(r, "customers", cust));
    ASSERT_OK(r, fsy_parked_retry(r, parked_seq(r)));
    ASSERT_STREQ(field(r, "customers", cust, "name"), "Neu");
    cJSON *b = t_export(r, NULL);
    ASSERT_STREQ(t_str(change_at(b, 0), "op"), "c");
    char *ack = t_ack_all(b, 50);
    ASSERT_OK(r, t_apply_ack(r, ack));
    cJSON_free(ack);
    cJSON_Delete(b);

    ASSERT_OK(r, fsy_replica_delete(r, "customers", C1));
    park_first(r);
    ASSERT_TRUE(t_exists(r, "customers", C1)); /* the refused delete is undone */
    ASSERT_OK(r, fsy_parked_retry(r, parked_seq(r)));
    ASSERT_TRUE(!t_exists(r, "customers", C1));
    b = t_export(r, NULL);
    ASSERT_STREQ(t_str(change_at(b, 0), "op"), "d");
    cJSON_Delete(b);
    t_close(r, path);
}

static void test_sync__discarding_a_parked_change_drops_it_for_good(void)
{
    char path[512];
    fsy_replica *r = with_customer(path, sizeof(path), "discard");
    ASSERT_OK(r, fsy_replica_update(r, "customers", C1, "{\"phone\":\"drop me\"}"));
    park_first(r);
    int64_t seq = parked_seq(r);
    ASSERT_OK(r, fsy_parked_discard(r, seq));
    ASSERT_EQ(t_array_size(r, fsy_query_parked), 0);
    ASSERT_STREQ(field(r, "customers", C1, "phone"), "+49 30 1");
    ASSERT_EQ(fsy_parked_discard(r, seq), FSY_ENOTFOUND);
    ASSERT_EQ(fsy_parked_retry(r, seq), FSY_ENOTFOUND);
    /* Only parked changes can be discarded or retried: pending ones are not touched. */
    ASSERT_OK(r, fsy_replica_update(r, "customers", C1, "{\"phone\":\"pending\"}"));
    cJSON *b = t_export(r, NULL);
    int64_t pending_seq = (int64_t)t_num(change_at(b, 0), "s");
    cJSON_Delete(b);
    ASSERT_EQ(fsy_parked_discard(r, pending_seq), FSY_ENOTFOUND);
    ASSERT_EQ(fsy_parked_retry(r, pending_seq), FSY_ENOTFOUND);
    ASSERT_EQ(fsy_parked_discard(r, 0), FSY_ENOTFOUND);
    ASSERT_EQ(fsy_parked_retry(r, -5), FSY_ENOTFOUND);
    ASSERT_EQ(t_pending(r), 1);
    t_close(r, path);
}

static void test_sync__an_ack_applied_twice_changes_nothing(void)
{
    char path[512];
    fsy_replica *r = with_customer(path, sizeof(path), "ack-twice");
    ASSERT_OK(r, fsy_replica_update(r, "customers", C1, "{\"phone\":\"mine\"}"));
    t_customer(r, "Zwei", "north", NULL);
    t_customer(r, "Drei", "north", NULL);
    cJSON *b = t_export(r, NULL);
    char ack[1024];
    snprintf(ack, sizeof(ack),
             "{\"schema\":2,\"results\":[{\"s\":%.0f,\"ok\":true,\"v\":20,\"c\":[{\"f\":\"phone\","
             "\"win\":\"theirs\",\"theirs\":\"x\",\"ver\":19,\"by\":\"bob\"}]},"
             "{\"s\":%.0f,\"ok\":false,\"code\":\"c\",\"msg\":\"m\"},"
             "{\"s\":%.0f,\"ok\":true,\"v\":21}]}",
             t_num(change_at(b, 0), "s"), t_num(change_at(b, 1), "s"), t_num(change_at(b, 2), "s"));
    cJSON_Delete(b);
    ASSERT_OK(r, t_apply_ack(r, ack));
    char *once = t_snapshot(r);
    ASSERT_OK(r, t_apply_ack(r, ack));
    char *twice = t_snapshot(r);
    ASSERT_STREQ(twice, once);
    ASSERT_EQ(t_array_size(r, fsy_query_conflicts), 1);
    /* An ack naming changes this device never had is a no-op too. */
    ASSERT_OK(r, t_apply_ack(r, "{\"schema\":2,\"results\":[{\"s\":99999,\"ok\":true,\"v\":5},"
                                "{\"s\":99998,\"ok\":false,\"code\":\"c\",\"msg\":\"m\"}]}"));
    char *unknown = t_snapshot(r);
    ASSERT_STREQ(unknown, once);
    free(once);
    free(twice);
    free(unknown);
    t_close(r, path);
}

static void test_sync__an_ack_failing_midway_applies_nothing(void)
{
    char path[512];
    fsy_replica *r = with_customer(path, sizeof(path), "ack-midway");
    t_customer(r, "Eins", "north", NULL);
    ASSERT_OK(r, fsy_replica_update(r, "customers", C1, "{\"phone\":\"mine\"}"));
    cJSON *b = t_export(r, NULL);
    char ack[1024];
    snprintf(ack, sizeof(ack),
             "{\"schema\":2,\"results\":[{\"s\":%.0f,\"ok\":true,\"v\":20},"
             "{\"s\":%.0f,\"ok\":true,\"v\":21,\"c\":[{\"f\":\"phone\",\"win\":\"mine\","
             "\"theirs\":\"x\"}]}]}",
             t_num(change_at(b, 0), "s"), t_num(change_at(b, 1), "s"));
    cJSON_Delete(b);
    char *before = t_snapshot(r);
    exec_sql(r, "CREATE TEMP TRIGGER no_conflicts BEFORE INSERT ON fsy_conflicts"
                " BEGIN SELECT RAISE(ABORT, 'disk full'); END;");
    ASSERT_EQ(t_apply_ack(r, ack), FSY_ERROR);
    ASSERT_CONTAINS(fsy_replica_errmsg(r), "disk full");
    char *after = t_snapshot(r);
    ASSERT_STREQ(after, before);
    exec_sql(r, "DROP TRIGGER no_conflicts;");
    ASSERT_OK(r, t_apply_ack(r, ack));
    ASSERT_EQ(t_pending(r), 0);
    free(before);
    free(after);
    t_close(r, path);
}

/* ---- pull ------------------------------------------------------------------------ */

static void test_sync__a_pull_adds_rows_and_moves_the_cursor(void)
{
    char path[512], *text = NULL;
    fsy_replica *r = t_open(path, sizeof(path), "pull", NULL);
    bool more = false;
    static const char doc[] =
        "{\"schema\":2,\"upto\":1250,\"more\":true,\"changes\":["
        "{\"q\":1203,\"t\":\"customers\",\"id\":\"" C1 "\",\"f\":{\"name\":\"Nord\","
        "\"territory\":\"north\",\"tier\":\"A\"},\"h\":\"0192f3a1b2c40001\",\"by\":\"bob\"},"
        "{\"q\":1204,\"t\":\"visits\",\"id\":\"" V1 "\",\"f\":{\"customer_id\":\"" C1 "\","
        "\"rep\":\"bob\",\"status\":\"done\",\"satisfaction\":5,"
        "\"checkin_lat\":52.5,\"planned_at\":\"2024-05-01T09:00:00Z\"}}]}";
    ASSERT_OK(r, fsy_pull_apply(r, doc, strlen(doc), &more));
    ASSERT_TRUE(more);
    int64_t cursor = 0;
    ASSERT_OK(r, fsy_pull_cursor(r, &cursor));
    ASSERT_EQ(cursor, 1250);
    ASSERT_EQ(t_pending(r), 0);
    ASSERT_STREQ(field(r, "customers", C1, "tier"), "A");
    cJSON *v = t_row(r, "visits", V1);
    ASSERT_EQ(t_num(v, "satisfaction"), 5);
    ASSERT_TRUE(t_num(v, "checkin_lat") == 52.5);
    ASSERT_STREQ(t_str(v, "planned_at"), "2024-05-01T09:00:00Z");
    cJSON_Delete(v);
    /* more_out may be NULL; no "more" means false. */
    static const char empty[] = "{\"schema\":2,\"upto\":1251,\"changes\":[]}";
    ASSERT_OK(r, fsy_pull_apply(r, empty, strlen(empty), &more));
    ASSERT_TRUE(!more);
    ASSERT_OK(r, fsy_sync_status(r, &text));
    cJSON *st = t_json(text);
    ASSERT_EQ(t_num(st, "cursor"), 1251);
    cJSON_Delete(st);
    fsy_free(text);
    t_close(r, path);
}

static void test_sync__a_pull_applied_twice_changes_nothing(void)
{
    char path[512];
    fsy_replica *r = with_customer(path, sizeof(path), "pull-twice");
    static const char doc[] =
        "{\"schema\":2,\"upto\":30,\"changes\":["
        "{\"q\":21,\"t\":\"customers\",\"id\":\"" C1 "\",\"f\":{\"phone\":\"21\"}},"
        "{\"q\":22,\"t\":\"customers\",\"id\":\"" C2 "\",\"f\":{\"name\":\"Zwei\","
        "\"territory\":\"north\"}},"
        "{\"q\":23,\"t\":\"customers\",\"id\":\"" C3 "\",\"gone\":true},"
        "{\"q\":24,\"t\":\"customers\",\"id\":\"" C2 "\",\"f\":{\"tier\":\"C\"}}]}";
    ASSERT_OK(r, t_pull(r, doc));
    char *once = t_snapshot(r);
    ASSERT_OK(r, t_pull(r, doc));
    char *twice = t_snapshot(r);
    ASSERT_STREQ(twice, once);
    free(once);
    free(twice);
    t_close(r, path);
}

static void test_sync__an_older_pull_after_a_newer_one_changes_nothing(void)
{
    char path[512];
    fsy_replica *r = with_customer(path, sizeof(path), "pull-older");
    pull_ok(r, 40, "{\"q\":40,\"t\":\"customers\",\"id\":\"" C1 "\",\"f\":{\"phone\":\"new\"}}");
    char *before = t_snapshot(r);
    /* A delayed older batch: the same field at a lower version, and an older cursor. */
    pull_ok(r, 30,
            "{\"q\":30,\"t\":\"customers\",\"id\":\"" C1 "\",\"f\":{\"phone\":\"old\"}},"
            "{\"q\":31,\"t\":\"customers\",\"id\":\"" C1 "\",\"f\":{\"name\":\"Old\"},"
            "\"vs\":{\"name\":10}}");
    char *after = t_snapshot(r);
    ASSERT_STREQ(after, before);
    ASSERT_STREQ(field(r, "customers", C1, "phone"), "new");
    free(before);
    free(after);
    t_close(r, path);
}

static void test_sync__a_pending_edit_stays_on_top_of_pulled_changes(void)
{
    char path[512];
    fsy_replica *r = with_customer(path, sizeof(path), "overlay");
    ASSERT_OK(r, fsy_replica_update(r, "customers", C1, "{\"phone\":\"mine\"}"));
    /* Another field: both show. */
    pull_ok(r, 20, "{\"q\":20,\"t\":\"customers\",\"id\":\"" C1 "\",\"f\":{\"tier\":\"B\"}}");
    ASSERT_STREQ(field(r, "customers", C1, "phone"), "mine");
    ASSERT_STREQ(field(r, "customers", C1, "tier"), "B");
    /* The same field: the rep's unsynced edit does not vanish. */
    pull_ok(r, 21, "{\"q\":21,\"t\":\"customers\",\"id\":\"" C1 "\",\"f\":{\"phone\":\"theirs\"}}");
    ASSERT_STREQ(field(r, "customers", C1, "phone"), "mine");
    ASSERT_EQ(t_pending(r), 1);
    /* The pushed change still carries the base the rep saw. */
    cJSON *b = t_export(r, NULL);
    ASSERT_EQ(t_num(t_item(change_at(b, 0), "b"), "phone"), 17);
    /* Once refused, the server's latest value shows. */
    ack_one(r, t_num(change_at(b, 0), "s"), "\"ok\":false,\"code\":\"c\",\"msg\":\"m\"");
    ASSERT_STREQ(field(r, "customers", C1, "phone"), "theirs");
    cJSON_Delete(b);
    t_close(r, path);
}

static void test_sync__an_acknowledged_edit_does_not_flicker_back(void)
{
    char path[512];
    fsy_replica *r = with_customer(path, sizeof(path), "flicker");
    ASSERT_OK(r, fsy_replica_update(r, "customers", C1, "{\"phone\":\"mine\"}"));
    cJSON *b = t_export(r, NULL);
    ack_one(r, t_num(change_at(b, 0), "s"), "\"ok\":true,\"v\":50");
    cJSON_Delete(b);
    /* A pull written before our change arrives afterwards. */
    pull_ok(r, 45, "{\"q\":45,\"t\":\"customers\",\"id\":\"" C1 "\",\"f\":{\"phone\":\"older\"}}");
    ASSERT_STREQ(field(r, "customers", C1, "phone"), "mine");
    /* The pull carrying our own change is a no-op; a later one wins. */
    pull_ok(r, 50, "{\"q\":50,\"t\":\"customers\",\"id\":\"" C1 "\",\"f\":{\"phone\":\"mine\"}}");
    ASSERT_STREQ(field(r, "customers", C1, "phone"), "mine");
    pull_ok(r, 51, "{\"q\":51,\"t\":\"customers\",\"id\":\"" C1 "\",\"f\":{\"phone\":\"newer\"}}");
    ASSERT_STREQ(field(r, "customers", C1, "phone"), "newer");
    t_close(r, path);
}

static void test_sync__gone_removes_a_row_until_a_later_change_brings_it_back(void)
{
    char path[512];
    fsy_replica *r = with_customer(path, sizeof(path), "gone");
    pull_ok(r, 18,
            "{\"q\":18,\"t\":\"contacts\",\"id\":\"" C2 "\",\"f\":{\"customer_id\":\"" C1 "\","
            "\"name\":\"Frau Weber\"}}");
    pull_ok(r, 50, "{\"q\":50,\"t\":\"customers\",\"id\":\"" C1 "\",\"gone\":true}");
    ASSERT_TRUE(!t_exists(r, "customers", C1));
    /* An older change of the row is not enough to bring it back. */
    pull_ok(r, 51, "{\"q\":45,\"t\":\"customers\",\"id\":\"" C1 "\",\"f\":{\"tier\":\"A\"}}");
    ASSERT_TRUE(!t_exists(r, "customers", C1));
    /* Re-entering the scope sends the whole row with a higher q. */
    pull_ok(r, 60,
            "{\"q\":60,\"t\":\"customers\",\"id\":\"" C1 "\",\"f\":{\"name\":\"Kaufhaus Nord\","
            "\"territory\":\"south\",\"tier\":\"B\"},\"vs\":{\"name\":12,\"territory\":60,"
            "\"tier\":40}}");
    cJSON *row = t_row(r, "customers", C1);
    ASSERT_STREQ(t_str(row, "territory"), "south");
    ASSERT_STREQ(t_str(row, "tier"), "B");
    /* Whole state, not a merge with what we had before it left. */
    ASSERT_TRUE(t_is_null(row, "phone"));
    cJSON_Delete(row);
    /* Field versions come from "vs": the next edit's base shows them. */
    ASSERT_OK(r, fsy_replica_update(r, "customers", C1, "{\"name\":\"x\",\"tier\":\"C\"}"));
    cJSON *b = t_export(r, NULL);
    ASSERT_EQ(t_num(t_item(change_at(b, 0), "b"), "name"), 12);
    ASSERT_EQ(t_num(t_item(change_at(b, 0), "b"), "tier"), 40);
    cJSON_Delete(b);
    t_close(r, path);
}

static void test_sync__pending_edits_of_a_gone_row_are_still_pushed(void)
{
    char path[512];
    fsy_replica *r = with_customer(path, sizeof(path), "gone-pending");
    ASSERT_OK(r, fsy_replica_update(r, "customers", C1, "{\"phone\":\"unsynced\"}"));
    pull_ok(r, 50, "{\"q\":50,\"t\":\"customers\",\"id\":\"" C1 "\",\"gone\":true}");
    ASSERT_TRUE(!t_exists(r, "customers", C1));
    ASSERT_EQ(t_pending(r), 1);
    cJSON *b = t_export(r, NULL);
    ASSERT_STREQ(t_str(t_item(change_at(b, 0), "f"), "phone"), "unsynced");
    /* The server refuses it: it is parked, visible, not lost. */
    ack_one(r, t_num(change_at(b, 0), "s"),
            "\"ok\":false,\"code\":\"out_of_scope\",\"msg\":\"moved\"");
    cJSON_Delete(b);
    ASSERT_EQ(t_array_size(r, fsy_query_parked), 1);
    ASSERT_TRUE(!t_exists(r, "customers", C1));
    /* Retrying while the row is away keeps it parked. */
    ASSERT_EQ(fsy_parked_retry(r, parked_seq(r)), FSY_ENOTFOUND);
    ASSERT_EQ(t_array_size(r, fsy_query_parked), 1);
    t_close(r, path);
}

/* The row left the device's scope, then came back on the server, which accepts the
 * pending edit after the removal: the device shows the row again at once with what it
 * knows (the edit), before the pull brings the rest. (Property seed 1795396426: the
 * acknowledgement took the shortcut meant for rows already in the view, and the row
 * stayed invisible while its confirmed state said it existed.) */
static void test_sync__an_edit_of_a_gone_row_accepted_later_brings_it_back(void)
{
    char path[512];
    fsy_replica *r = with_customer(path, sizeof(path), "gone-accepted");
    ASSERT_OK(r, fsy_replica_update(r, "customers", C1, "{\"phone\":\"unsynced\"}"));
    pull_ok(r, 50, "{\"q\":50,\"t\":\"customers\",\"id\":\"" C1 "\",\"gone\":true}");
    ASSERT_TRUE(!t_exists(r, "customers", C1));
    cJSON *b = t_export(r, NULL);
    ack_one(r, t_num(change_at(b, 0), "s"), "\"ok\":true,\"v\":60");
    cJSON_Delete(b);
    ASSERT_EQ(t_pending(r), 0);
    ASSERT_TRUE(t_exists(r, "customers", C1));
    ASSERT_STREQ(field(r, "customers", C1, "phone"), "unsynced");
    t_close(r, path);
}

static void test_sync__a_pulled_tombstone_deletes_the_row(void)
{
    char path[512];
    fsy_replica *r = with_customer(path, sizeof(path), "tombstone");
    pull_ok(r, 30, "{\"q\":30,\"t\":\"customers\",\"id\":\"" C1 "\",\"f\":{\"_deleted\":true}}");
    ASSERT_TRUE(!t_exists(r, "customers", C1));
    char *rows = NULL;
    ASSERT_OK(r, fsy_replica_export(r, &rows));
    cJSON *doc = t_json(rows);
    ASSERT_EQ(cJSON_GetArraySize(t_item(doc, "customers")), 0);
    cJSON_Delete(doc);
    fsy_free(rows);
    /* An older change cannot resurrect it (tombstones are kept). */
    pull_ok(r, 31, "{\"q\":29,\"t\":\"customers\",\"id\":\"" C1 "\",\"f\":{\"tier\":\"A\"}}");
    ASSERT_TRUE(!t_exists(r, "customers", C1));
    /* An undelete by the server at a higher version does. */
    pull_ok(r, 32, "{\"q\":32,\"t\":\"customers\",\"id\":\"" C1 "\",\"f\":{\"_deleted\":false}}");
    ASSERT_STREQ(field(r, "customers", C1, "name"), "Kaufhaus Nord");
    t_close(r, path);
}

static void test_sync__fields_and_values_from_a_newer_schema_are_kept(void)
{
    char path[512];
    fsy_replica *r = with_customer(path, sizeof(path), "newer");
    pull_ok(r, 30,
            "{\"q\":30,\"t\":\"customers\",\"id\":\"" C1 "\",\"f\":{\"loyalty_points\":1200,"
            "\"segment\":{\"code\":\"X\"},\"status\":\"strategic\"}}");
    cJSON *row = t_row(r, "customers", C1);
    ASSERT_EQ(t_num(row, "loyalty_points"), 1200);
    ASSERT_STREQ(t_str(t_item(row, "segment"), "code"), "X");
    ASSERT_STREQ(t_str(row, "status"), "strategic");
    cJSON_Delete(row);
    /* Local edits and their acknowledgement keep them. */
    ASSERT_OK(r, fsy_replica_update(r, "customers", C1, "{\"tier\":\"A\"}"));
    int64_t v = 40;
    t_sync_all(r, &v);
    fsy_replica_free(r);
    r = t_reopen(path, NULL);
    row = t_row(r, "customers", C1);
    ASSERT_EQ(t_num(row, "loyalty_points"), 1200);
    ASSERT_STREQ(t_str(row, "tier"), "A");
    cJSON_Delete(row);
    t_close(r, path);
}

static void test_sync__a_pull_for_an_unknown_row_creates_it_as_confirmed(void)
{
    char path[512];
    fsy_replica *r = t_open(path, sizeof(path), "unknown-row", NULL);
    /* protocol.md: each change sets the fields in "f"; a row not seen before
     * (created by another device, or entering the scope) simply appears. */
    pull_ok(r, 5,
            "{\"q\":5,\"t\":\"notes\",\"id\":\"" C2 "\",\"f\":{\"customer_id\":\"" C1 "\","
            "\"author\":\"bob\",\"body\":\"Chef mag Fußball\",\"info_level\":3}}");
    cJSON *row = t_row(r, "notes", C2);
    ASSERT_STREQ(t_str(row, "body"), "Chef mag Fußball");
    ASSERT_EQ(t_num(row, "info_level"), 3);
    cJSON_Delete(row);
    ASSERT_EQ(t_pending(r), 0);
    /* A partial change of an unknown row shows what it has. */
    pull_ok(r, 6, "{\"q\":6,\"t\":\"customers\",\"id\":\"" C3 "\",\"f\":{\"tier\":\"B\"}}");
    ASSERT_STREQ(field(r, "customers", C3, "tier"), "B");
    ASSERT_STREQ(field(r, "customers", C3, "name"), "(null)");
    /* "gone" for a row never seen is harmless. */
    pull_ok(r, 7, "{\"q\":7,\"t\":\"visits\",\"id\":\"" V1 "\",\"gone\":true}");
    ASSERT_TRUE(!t_exists(r, "visits", V1));
    t_close(r, path);
}

static void test_sync__malformed_pull_batches_change_nothing(void)
{
    static const char *const bad[] = {
        "",
        "{",
        "[]",
        "null",
        "{\"schema\":2,\"upto\":5,\"changes\":[]} trailing",
        "{\"schema\":2,\"upto\":5,\"changes\":[]}{}",
        "{\"upto\":5,\"changes\":[]}",
        "{\"schema\":\"2\",\"upto\":5,\"changes\":[]}",
        "{\"schema\":0,\"upto\":5,\"changes\":[]}",
        "{\"schema\":2,\"changes\":[]}",
        "{\"schema\":2,\"upto\":-1,\"changes\":[]}",
        "{\"schema\":2,\"upto\":5.5,\"changes\":[]}",
        "{\"schema\":2,\"upto\":\"5\",\"changes\":[]}",
        "{\"schema\":2,\"upto\":1e300,\"changes\":[]}",
        "{\"schema\":2,\"upto\":5}",
        "{\"schema\":2,\"upto\":5,\"changes\":{}}",
        "{\"schema\":2,\"upto\":5,\"more\":\"yes\",\"changes\":[]}",
        "{\"schema\":2,\"upto\":5,\"changes\":[1]}",
        "{\"schema\":2,\"upto\":5,\"changes\":[{\"t\":\"customers\",\"id\":\"" C2 "\",\"f\":{}}]}",
        "{\"schema\":2,\"upto\":5,\"changes\":[{\"q\":0,\"t\":\"customers\",\"id\":\"" C2
        "\",\"f\":{}}]}",
        "{\"schema\":2,\"upto\":5,\"changes\":[{\"q\":\"5\",\"t\":\"customers\",\"id\":\"" C2
        "\",\"f\":{}}]}",
        "{\"schema\":2,\"upto\":5,\"changes\":[{\"q\":5,\"t\":\"orders\",\"id\":\"" C2
        "\",\"f\":{}}]}",
        "{\"schema\":2,\"upto\":5,\"changes\":[{\"q\":5,\"id\":\"" C2 "\",\"f\":{}}]}",
        "{\"schema\":2,\"upto\":5,\"changes\":[{\"q\":5,\"t\":\"customers\",\"id\":\"C2\","
        "\"f\":{}}]}",
        "{\"schema\":2,\"upto\":5,\"changes\":[{\"q\":5,\"t\":\"customers\",\"f\":{}}]}",
        "{\"schema\":2,\"upto\":5,\"changes\":[{\"q\":5,\"t\":\"customers\",\"id\":\"" C2 "\"}]}",
        "{\"schema\":2,\"upto\":5,\"changes\":[{\"q\":5,\"t\":\"customers\",\"id\":\"" C2
        "\",\"f\":[]}]}",
        "{\"schema\":2,\"upto\":5,\"changes\":[{\"q\":5,\"t\":\"customers\",\"id\":\"" C2
        "\",\"f\":{},\"vs\":{\"name\":\"x\"}}]}",
        "{\"schema\":2,\"upto\":5,\"changes\":[{\"q\":5,\"t\":\"customers\",\"id\":\"" C2
        "\",\"f\":{},\"vs\":[]}]}",
        "{\"schema\":2,\"upto\":5,\"changes\":[{\"q\":5,\"t\":\"customers\",\"id\":\"" C2
        "\",\"gone\":\"yes\"}]}",
        "{\"schema\":2,\"upto\":5,\"changes\":[{\"q\":5,\"t\":\"customers\",\"id\":\"" C2
        "\",\"f\":{\"_deleted\":\"yes\"}}]}",
        "{\"schema\":2,\"upto\":5,\"changes\":[{\"q\":5,\"t\":\"customers\",\"id\":\"" C2
        "\",\"f\":{\"name\":5}}]}",
        "{\"schema\":2,\"upto\":5,\"changes\":[{\"q\":5,\"t\":\"visits\",\"id\":\"" C2
        "\",\"f\":{\"satisfaction\":9}}]}",
        "{\"schema\":2,\"upto\":5,\"changes\":[{\"q\":5,\"t\":\"visits\",\"id\":\"" C2
        "\",\"f\":{\"planned_at\":\"tomorrow\"}}]}",
        /* A valid change followed by a bad one: the valid one is not applied either. */
        "{\"schema\":2,\"upto\":5,\"changes\":[{\"q\":5,\"t\":\"customers\",\"id\":\"" C2
        "\",\"f\":{\"name\":\"ok\",\"territory\":\"n\"}},{\"q\":6,\"t\":\"customers\","
        "\"id\":\"" C3 "\",\"f\":{\"name\":null}}]}",
    };
    char path[512];
    fsy_replica *r = with_customer(path, sizeof(path), "bad-pull");
    ASSERT_OK(r, fsy_replica_update(r, "customers", C1, "{\"phone\":\"pending\"}"));
    char *before = t_snapshot(r);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = t_pull(r, bad[i]);
        if (rc != FSY_EINVAL)
            FSY_FAIL("pull %zu '%s': expected FSY_EINVAL, got %d (%s)", i, bad[i], rc,
                     fsy_replica_errmsg(r));
        ASSERT_TRUE(fsy_replica_errmsg(r)[0] != '\0');
    }
    ASSERT_EQ(fsy_pull_apply(r, NULL, 0, NULL), FSY_EINVAL);
    /* The length is what counts, not a terminating NUL. */
    static const char good[] = "{\"schema\":2,\"upto\":5,\"changes\":[]}";
    ASSERT_EQ(fsy_pull_apply(r, good, strlen(good) - 1, NULL), FSY_EINVAL);
    char *after = t_snapshot(r);
    ASSERT_STREQ(after, before);
    free(before);
    free(after);
    t_close(r, path);
}

/* fmt with every "SEQ" replaced by s. */
static void subst_seq(char *out, size_t n, const char *fmt, int s)
{
    char num[16];
    size_t o = 0;
    snprintf(num, sizeof(num), "%d", s);
    while (*fmt && o + 16 < n) {
        if (strncmp(fmt, "SEQ", 3) == 0) {
            memcpy(out + o, num, strlen(num));
            o += strlen(num);
            fmt += 3;
        } else {
            out[o++] = *fmt++;
        }
    }
    out[o] = '\0';
}

static void test_sync__malformed_acks_change_nothing(void)
{
    char path[512];
    fsy_replica *r = with_customer(path, sizeof(path), "bad-ack");
    ASSERT_OK(r, fsy_replica_update(r, "customers", C1, "{\"phone\":\"pending\"}"));
    cJSON *b = t_export(r, NULL);
    int s = (int)t_num(change_at(b, 0), "s");
    cJSON_Delete(b);
    static const char *const fmt[] = {
        "{\"schema\":2,\"results\":[{\"s\":SEQ,\"ok\":true,\"v\":5}]}x",
        "{\"results\":[{\"s\":SEQ,\"ok\":true,\"v\":5}]}",
        "{\"schema\":2,\"results\":{\"s\":SEQ}}",
        "{\"schema\":2,\"results\":[{\"s\":SEQ,\"ok\":\"true\",\"v\":5}]}",
        "{\"schema\":2,\"results\":[{\"s\":SEQ,\"ok\":true}]}",
        "{\"schema\":2,\"results\":[{\"s\":SEQ,\"ok\":true,\"v\":-5}]}",
        "{\"schema\":2,\"results\":[{\"s\":SEQ,\"ok\":true,\"v\":\"5\"}]}",
        "{\"schema\":2,\"results\":[{\"s\":-SEQ,\"ok\":true,\"v\":5}]}",
        "{\"schema\":2,\"results\":[{\"s\":\"SEQ\",\"ok\":true,\"v\":5}]}",
        "{\"schema\":2,\"results\":[{\"s\":SEQ,\"ok\":true,\"v\":5,\"c\":{}}]}",
        "{\"schema\":2,\"results\":[{\"s\":SEQ,\"ok\":true,\"v\":5,\"c\":[{\"win\":\"mine\","
        "\"theirs\":1}]}]}",
        "{\"schema\":2,\"results\":[{\"s\":SEQ,\"ok\":true,\"v\":5,\"c\":[{\"f\":\"phone\","
        "\"win\":\"both\",\"theirs\":1}]}]}",
        "{\"schema\":2,\"results\":[{\"s\":SEQ,\"ok\":true,\"v\":5,\"c\":[{\"f\":\"phone\","
        "\"win\":\"theirs\",\"theirs\":\"x\"}]}]}",
        "{\"schema\":2,\"results\":[{\"s\":SEQ,\"ok\":true,\"v\":5,\"c\":[{\"f\":\"phone\","
        "\"win\":\"mine\"}]}]}",
        "{\"schema\":2,\"results\":[{\"s\":SEQ,\"ok\":false}]}",
        "{\"schema\":2,\"results\":[{\"s\":SEQ,\"ok\":false,\"code\":\"c\"}]}",
        "{\"schema\":2,\"results\":[{\"s\":SEQ,\"ok\":true,\"v\":5},7]}",
    };
    char *before = t_snapshot(r);
    for (size_t i = 0; i < sizeof(fmt) / sizeof(fmt[0]); i++) {
        char ack[512];
        subst_seq(ack, sizeof(ack), fmt[i], s);
        int rc = t_apply_ack(r, ack);
        if (rc != FSY_EINVAL)
            FSY_FAIL("ack %zu '%s': expected FSY_EINVAL, got %d (%s)", i, ack, rc,
                     fsy_replica_errmsg(r));
    }
    ASSERT_EQ(fsy_push_apply_ack(r, NULL, 0), FSY_EINVAL);
    char *after = t_snapshot(r);
    ASSERT_STREQ(after, before);
    free(before);
    free(after);
    t_close(r, path);
}

static void test_sync__batches_over_the_size_cap_are_too_big(void)
{
    char path[512];
    fsy_replica_opts o = t_opts(NULL);
    o.max_batch_bytes = 200;
    fsy_test_tmp(path, sizeof(path), "toobig");
    fsy_replica *r = t_reopen(path, &o);
    ASSERT_OK(r, fsy_replica_set_identity(r, T_DEVICE, T_USER));
    t_customer(r, "Eins", "north", NULL);
    char *before = t_snapshot(r);
    char doc[512];
    snprintf(doc, sizeof(doc),
             "{\"schema\":2,\"upto\":5,\"changes\":[{\"q\":5,\"t\":\"customers\",\"id\":\"" C2
             "\",\"f\":{\"name\":\"%0150d\",\"territory\":\"n\"}}]}",
             0);
    ASSERT_TRUE(strlen(doc) > 200);
    ASSERT_EQ(t_pull(r, doc), FSY_ETOOBIG);
    ASSERT_CONTAINS(fsy_replica_errmsg(r), "200");
    /* The cap counts bytes given, even when most of them are whitespace. */
    char ack[256];
    snprintf(ack, sizeof(ack), "{\"schema\":2,\"results\":[]}%200s", "");
    ASSERT_EQ(t_apply_ack(r, ack), FSY_ETOOBIG);
    char *after = t_snapshot(r);
    ASSERT_STREQ(after, before);
    /* At the cap it is fine. */
    snprintf(ack, sizeof(ack), "{\"schema\":2,\"results\":[]}%*s",
             (int)(200 - strlen("{\"schema\":2,\"results\":[]}")), "");
    ASSERT_EQ(strlen(ack), 200);
    ASSERT_OK(r, t_apply_ack(r, ack));
    free(before);
    free(after);
    t_close(r, path);
}

static void test_sync__a_pull_failing_midway_applies_nothing(void)
{
    char path[512];
    fsy_replica *r = with_customer(path, sizeof(path), "pull-midway");
    char *before = t_snapshot(r);
    exec_sql(r, "CREATE TEMP TRIGGER no_c3 BEFORE INSERT ON fsy_confirmed WHEN NEW.id = '" C3
                "' BEGIN SELECT RAISE(ABORT, 'disk full'); END;");
    static const char doc[] =
        "{\"schema\":2,\"upto\":90,\"changes\":["
        "{\"q\":80,\"t\":\"customers\",\"id\":\"" C1 "\",\"f\":{\"phone\":\"80\"}},"
        "{\"q\":81,\"t\":\"customers\",\"id\":\"" C2 "\",\"f\":{\"name\":\"Zwei\"}},"
        "{\"q\":82,\"t\":\"customers\",\"id\":\"" C3 "\",\"f\":{\"name\":\"Drei\"}}]}";
    ASSERT_EQ(t_pull(r, doc), FSY_ERROR);
    char *after = t_snapshot(r);
    ASSERT_STREQ(after, before);
    exec_sql(r, "DROP TRIGGER no_c3;");
    ASSERT_OK(r, t_pull(r, doc));
    ASSERT_STREQ(field(r, "customers", C3, "name"), "Drei");
    free(before);
    free(after);
    t_close(r, path);
}

static const fsy_unit_case cases[] = {
    FSY_CASE(sync, push_batch_has_the_documented_shape),
    FSY_CASE(sync, nothing_pending_exports_nothing),
    FSY_CASE(sync, push_needs_an_enrolled_device),
    FSY_CASE(sync, push_batches_are_bounded_by_count_and_bytes),
    FSY_CASE(sync, exporting_again_before_the_ack_is_byte_identical),
    FSY_CASE(sync, a_change_left_out_of_a_capped_batch_goes_in_the_next_one),
    FSY_CASE(sync, an_applied_ack_confirms_the_changes),
    FSY_CASE(sync, own_acknowledged_edit_is_the_base_of_the_next_edit),
    FSY_CASE(sync, an_edit_made_while_the_push_was_in_flight_is_rebased),
    FSY_CASE(sync, an_edit_left_out_of_a_capped_batch_is_rebased_too),
    FSY_CASE(sync, a_lost_conflict_shows_their_value_and_is_recorded),
    FSY_CASE(sync, a_won_conflict_keeps_mine_and_is_recorded),
    FSY_CASE(sync, a_refused_change_is_parked_and_the_rest_keeps_flowing),
    FSY_CASE(sync, a_refused_create_takes_the_row_off_the_view),
    FSY_CASE(sync, retrying_a_parked_change_queues_it_again),
    FSY_CASE(sync, retrying_a_parked_create_or_delete_restores_it),
    FSY_CASE(sync, discarding_a_parked_change_drops_it_for_good),
    FSY_CASE(sync, an_ack_applied_twice_changes_nothing),
    FSY_CASE(sync, an_ack_failing_midway_applies_nothing),
    FSY_CASE(sync, a_pull_adds_rows_and_moves_the_cursor),
    FSY_CASE(sync, a_pull_applied_twice_changes_nothing),
    FSY_CASE(sync, an_older_pull_after_a_newer_one_changes_nothing),
    FSY_CASE(sync, a_pending_edit_stays_on_top_of_pulled_changes),
    FSY_CASE(sync, an_acknowledged_edit_does_not_flicker_back),
    FSY_CASE(sync, gone_removes_a_row_until_a_later_change_brings_it_back),
    FSY_CASE(sync, pending_edits_of_a_gone_row_are_still_pushed),
    FSY_CASE(sync, an_edit_of_a_gone_row_accepted_later_brings_it_back),
    FSY_CASE(sync, a_pulled_tombstone_deletes_the_row),
    FSY_CASE(sync, fields_and_values_from_a_newer_schema_are_kept),
    FSY_CASE(sync, a_pull_for_an_unknown_row_creates_it_as_confirmed),
    FSY_CASE(sync, malformed_pull_batches_change_nothing),
    FSY_CASE(sync, malformed_acks_change_nothing),
    FSY_CASE(sync, batches_over_the_size_cap_are_too_big),
    FSY_CASE(sync, a_pull_failing_midway_applies_nothing),
};

int main(int argc, char **argv)
{
    return fsy_unit_main(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
}
