/*
 * test_write.c — local writes (DESIGN §4 "Local write"): insert, update, delete
 * and get; a failed write changes nothing, even when it fails inside the
 * transaction; parents must exist; journal compaction before export; and the
 * visit check-in / check-out rules.
 */
#include "internal.h"
#include "unit_helpers.h"

#include <math.h>
#include <sqlite3.h>

#define T0 1714557600000 /* 2024-05-01T10:00:00.000Z */

static void raw(fsy_replica *r, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(r->db, sql, NULL, NULL, &err) != SQLITE_OK)
        FSY_FAIL("%s: %s", sql, err ? err : "?");
}

/* A visit of a new customer; returns the visit id. */
static void new_visit(fsy_replica *r, char *visit, char *customer_out)
{
    char cust[FSY_ID_LEN + 1], json[256];
    t_customer(r, "Markt Mitte", "south", cust);
    snprintf(json, sizeof(json), "{\"customer_id\":\"%s\",\"kind\":\"existing-customer\"}", cust);
    t_insert(r, "visits", json, visit);
    if (customer_out)
        memcpy(customer_out, cust, sizeof(cust));
}

/* Make customer `id` a confirmed server row whose fields have versions from `q`. */
static void confirm_customer(fsy_replica *r, const char *id, int q, const char *fields)
{
    char json[512];
    snprintf(json, sizeof(json),
             "{\"schema\":2,\"upto\":%d,\"changes\":[{\"q\":%d,\"t\":\"customers\",\"id\":\"%s\","
             "\"f\":%s}]}",
             q, q, id, fields);
    ASSERT_OK(r, t_pull(r, json));
}

static void test_write__insert_then_get_returns_the_row_with_its_id(void)
{
    char path[512], id[FSY_ID_LEN + 1];
    fsy_replica *r = t_open(path, sizeof(path), "insert", NULL);
    t_insert(r, "customers",
             "{\"name\":\"Kaufhaus Nord\",\"territory\":\"north\",\"tier\":\"A\","
             "\"address\":\"Hauptstr. 1\\n10115 Berlin\",\"phone\":\"+49 30 1234\"}",
             id);
    cJSON *row = t_row(r, "customers", id);
    ASSERT_STREQ(t_str(row, "id"), id);
    ASSERT_STREQ(t_str(row, "name"), "Kaufhaus Nord");
    ASSERT_STREQ(t_str(row, "address"), "Hauptstr. 1\n10115 Berlin");
    ASSERT_STREQ(t_str(row, "tier"), "A");
    ASSERT_TRUE(t_is_null(row, "status"));
    ASSERT_TRUE(t_is_null(row, "owner"));
    cJSON_Delete(row);
    ASSERT_EQ(t_pending(r), 1);
    /* id_out may be NULL. */
    ASSERT_OK(r, fsy_replica_insert(r, "customers", "{\"name\":\"B\",\"territory\":\"t\"}", NULL));
    ASSERT_EQ(t_pending(r), 2);
    t_close(r, path);
}

static void test_write__update_changes_only_the_named_fields(void)
{
    char path[512], id[FSY_ID_LEN + 1];
    fsy_replica *r = t_open(path, sizeof(path), "update", NULL);
    t_insert(r, "customers", "{\"name\":\"Alt\",\"territory\":\"north\",\"phone\":\"1\"}", id);
    ASSERT_OK(r, fsy_replica_update(r, "customers", id, "{\"phone\":\"2\",\"tier\":\"B\"}"));
    ASSERT_OK(r, fsy_replica_update(r, "customers", id, "{\"phone\":null}"));
    cJSON *row = t_row(r, "customers", id);
    ASSERT_STREQ(t_str(row, "name"), "Alt");
    ASSERT_STREQ(t_str(row, "territory"), "north");
    ASSERT_STREQ(t_str(row, "tier"), "B");
    ASSERT_TRUE(t_is_null(row, "phone"));
    cJSON_Delete(row);
    t_close(r, path);
}

static void test_write__delete_removes_the_row_and_pushes_a_tombstone(void)
{
    char path[512], id[FSY_ID_LEN + 1];
    fsy_replica *r = t_open(path, sizeof(path), "delete", NULL);
    t_customer(r, "Gone Soon", "north", id);
    int64_t v = 10;
    t_sync_all(r, &v);
    ASSERT_OK(r, fsy_replica_delete(r, "customers", id));
    ASSERT_TRUE(!t_exists(r, "customers", id));
    char *out = NULL;
    ASSERT_EQ(fsy_replica_get(r, "customers", id, &out), FSY_ENOTFOUND);
    ASSERT_TRUE(out == NULL);
    ASSERT_CONTAINS(fsy_replica_errmsg(r), id);
    ASSERT_EQ(t_pending(r), 1);
    cJSON *b = t_export(r, NULL);
    const cJSON *ch = t_change_for(b, id);
    ASSERT_STREQ(t_str(ch, "op"), "d");
    ASSERT_TRUE(cJSON_IsTrue(t_item(t_item(ch, "f"), "_deleted")));
    cJSON_Delete(b);
    /* A deleted row cannot be edited or deleted again. */
    ASSERT_EQ(fsy_replica_update(r, "customers", id, "{\"tier\":\"A\"}"), FSY_ENOTFOUND);
    ASSERT_EQ(fsy_replica_delete(r, "customers", id), FSY_ENOTFOUND);
    ASSERT_EQ(t_pending(r), 1);
    t_close(r, path);
}

static void test_write__missing_rows_are_not_found_and_bad_ids_invalid(void)
{
    static const char missing[] = "0192f3a0-0000-7000-8000-0000000000ff";
    char path[512], *out = NULL;
    fsy_replica *r = t_open(path, sizeof(path), "missing", NULL);
    ASSERT_EQ(fsy_replica_get(r, "customers", missing, &out), FSY_ENOTFOUND);
    ASSERT_EQ(fsy_replica_update(r, "customers", missing, "{\"tier\":\"A\"}"), FSY_ENOTFOUND);
    ASSERT_CONTAINS(fsy_replica_errmsg(r), missing);
    ASSERT_EQ(fsy_replica_delete(r, "visits", missing), FSY_ENOTFOUND);
    ASSERT_EQ(fsy_replica_get(r, "customers", "nope", &out), FSY_EINVAL);
    ASSERT_EQ(fsy_replica_update(r, "customers", "nope", "{\"tier\":\"A\"}"), FSY_EINVAL);
    ASSERT_EQ(fsy_replica_delete(r, "customers", NULL), FSY_EINVAL);
    ASSERT_EQ(fsy_replica_get(r, "customers", NULL, &out), FSY_EINVAL);
    ASSERT_EQ(t_pending(r), 0);
    t_close(r, path);
}

static void test_write__a_refused_write_changes_nothing(void)
{
    static const char missing[] = "0192f3a0-0000-7000-8000-0000000000ff";
    char path[512], cust[FSY_ID_LEN + 1], visit[FSY_ID_LEN + 1], json[256];
    t_clock clock = {T0};
    fsy_replica_opts o = t_opts(&clock);
    fsy_replica *r = t_open(path, sizeof(path), "nochange", &o);
    new_visit(r, visit, cust);
    ASSERT_OK(r, fsy_replica_update(r, "customers", cust, "{\"tier\":\"C\"}"));
    char *before = t_snapshot(r);

    char id[FSY_ID_LEN + 1];
    ASSERT_EQ(fsy_replica_insert(r, "customers",
                                 "{\"name\":\"x\",\"territory\":\"t\",\"tier\":\"Z\"}", id),
              FSY_EINVAL);
    ASSERT_EQ(fsy_replica_update(r, "customers", cust, "{\"tier\":\"A\",\"status\":\"asleep\"}"),
              FSY_EINVAL);
    ASSERT_EQ(fsy_replica_update(r, "customers", missing, "{\"tier\":\"A\"}"), FSY_ENOTFOUND);
    ASSERT_EQ(fsy_replica_delete(r, "customers", missing), FSY_ENOTFOUND);
    snprintf(json, sizeof(json), "{\"customer_id\":\"%s\",\"name\":\"n\"}", missing);
    ASSERT_EQ(fsy_replica_insert(r, "contacts", json, id), FSY_EINVAL);
    ASSERT_EQ(fsy_visit_check_in(r, visit, 91.0, 0.0), FSY_EINVAL);
    ASSERT_EQ(fsy_visit_check_out(r, visit, 1.0, 1.0, NULL), FSY_EINVAL);
    char *after = t_snapshot(r);
    ASSERT_STREQ(after, before);
    free(after);
    free(before);
    t_close(r, path);
}

static void test_write__a_write_failing_inside_its_transaction_leaves_no_trace(void)
{
    char path[512], cust[FSY_ID_LEN + 1], id[FSY_ID_LEN + 1];
    fsy_replica *r = t_open(path, sizeof(path), "rollback", NULL);
    t_customer(r, "Erste", "north", cust);
    char *before = t_snapshot(r);
    /* Fail the journal append, after the view row was already written. */
    raw(r, "CREATE TEMP TRIGGER no_insert BEFORE INSERT ON fsy_journal"
           " BEGIN SELECT RAISE(ABORT, 'injected failure'); END;"
           "CREATE TEMP TRIGGER no_update BEFORE UPDATE ON fsy_journal"
           " BEGIN SELECT RAISE(ABORT, 'injected failure'); END;");
    ASSERT_EQ(fsy_replica_insert(r, "customers", "{\"name\":\"Zweite\",\"territory\":\"n\"}", id),
              FSY_ERROR);
    ASSERT_CONTAINS(fsy_replica_errmsg(r), "injected failure");
    /* The update compacts into the pending create: that path fails too. */
    ASSERT_EQ(fsy_replica_update(r, "customers", cust, "{\"tier\":\"A\"}"), FSY_ERROR);
    ASSERT_EQ(fsy_replica_delete(r, "customers", cust), FSY_ERROR);
    char *after = t_snapshot(r);
    ASSERT_STREQ(after, before);
    /* The replica keeps working once the cause is gone. */
    raw(r, "DROP TRIGGER no_insert; DROP TRIGGER no_update;");
    ASSERT_OK(r, fsy_replica_update(r, "customers", cust, "{\"tier\":\"A\"}"));
    t_customer(r, "Dritte", "north", NULL);
    ASSERT_EQ(t_pending(r), 2);
    int64_t v = 1;
    t_sync_all(r, &v);
    free(after);
    free(before);
    t_close(r, path);
}

static void test_write__a_child_row_needs_its_parent_on_the_device(void)
{
    static const char missing[] = "0192f3a0-0000-7000-8000-0000000000ff";
    char path[512], cust[FSY_ID_LEN + 1], visit[FSY_ID_LEN + 1], contact[FSY_ID_LEN + 1];
    char json[256], id[FSY_ID_LEN + 1];
    fsy_replica *r = t_open(path, sizeof(path), "parent", NULL);
    new_visit(r, visit, cust);
    snprintf(json, sizeof(json), "{\"customer_id\":\"%s\",\"name\":\"Frau Weber\"}", missing);
    ASSERT_EQ(fsy_replica_insert(r, "contacts", json, id), FSY_EINVAL);
    ASSERT_CONTAINS(fsy_replica_errmsg(r), "contacts.customer_id");
    snprintf(json, sizeof(json), "{\"customer_id\":\"%s\",\"body\":\"b\",\"info_level\":1}",
             missing);
    ASSERT_EQ(fsy_replica_insert(r, "notes", json, id), FSY_EINVAL);
    snprintf(json, sizeof(json), "{\"customer_id\":\"%s\"}", missing);
    ASSERT_EQ(fsy_replica_insert(r, "visits", json, id), FSY_EINVAL);
    /* A review hangs on a visit, not on a customer. */
    snprintf(json, sizeof(json), "{\"visit_id\":\"%s\",\"state\":\"reviewed\"}", cust);
    ASSERT_EQ(fsy_replica_insert(r, "reviews", json, id), FSY_EINVAL);
    ASSERT_CONTAINS(fsy_replica_errmsg(r), "reviews.visit_id");
    snprintf(json, sizeof(json), "{\"visit_id\":\"%s\",\"state\":\"reviewed\"}", visit);
    t_insert(r, "reviews", json, id);

    snprintf(json, sizeof(json), "{\"customer_id\":\"%s\",\"name\":\"Frau Weber\"}", cust);
    t_insert(r, "contacts", json, contact);
    /* Moving a contact to a customer that is not here is refused as well. */
    snprintf(json, sizeof(json), "{\"customer_id\":\"%s\"}", missing);
    ASSERT_EQ(fsy_replica_update(r, "contacts", contact, json), FSY_EINVAL);
    char buf[64];
    ASSERT_STREQ(t_field(r, "contacts", contact, "customer_id", buf, sizeof(buf)), cust);
    /* A customer deleted on this device is no parent any more. */
    char other[FSY_ID_LEN + 1];
    t_customer(r, "Deleted", "south", other);
    ASSERT_OK(r, fsy_replica_delete(r, "customers", other));
    snprintf(json, sizeof(json), "{\"customer_id\":\"%s\",\"name\":\"Herr Lang\"}", other);
    ASSERT_EQ(fsy_replica_insert(r, "contacts", json, id), FSY_EINVAL);
    t_close(r, path);
}

static void test_write__two_edits_before_export_compact_keeping_the_first_base(void)
{
    static const char cust[] = "0192f3a0-1111-7000-8000-000000000001";
    char path[512], buf[64];
    t_clock clock = {T0};
    fsy_replica_opts o = t_opts(&clock);
    fsy_replica *r = t_open(path, sizeof(path), "compact", &o);
    confirm_customer(r, cust, 17, "{\"name\":\"Nord\",\"territory\":\"north\",\"phone\":\"1\"}");

    ASSERT_OK(r, fsy_replica_update(r, "customers", cust, "{\"phone\":\"2\",\"tier\":\"B\"}"));
    clock.ms += 1000;
    /* Meanwhile the server's phone moved on (a pull); our entry was made on 17. */
    confirm_customer(r, cust, 20, "{\"phone\":\"server\"}");
    ASSERT_STREQ(t_field(r, "customers", cust, "phone", buf, sizeof(buf)), "2");
    clock.ms += 1000;
    ASSERT_OK(r, fsy_replica_update(r, "customers", cust, "{\"phone\":\"3\"}"));
    ASSERT_OK(r, fsy_replica_update(r, "customers", cust, "{\"owner\":\"alice\"}"));
    ASSERT_EQ(t_pending(r), 1);

    cJSON *b = t_export(r, NULL);
    ASSERT_EQ(cJSON_GetArraySize(t_item(b, "changes")), 1);
    const cJSON *ch = t_change_for(b, cust);
    ASSERT_STREQ(t_str(ch, "op"), "u");
    const cJSON *f = t_item(ch, "f");
    ASSERT_STREQ(t_str(f, "phone"), "3");
    ASSERT_STREQ(t_str(f, "tier"), "B");
    ASSERT_STREQ(t_str(f, "owner"), "alice");
    ASSERT_EQ(cJSON_GetArraySize(f), 3);
    /* The base of the first edit stands; tier and owner had no version yet. */
    const cJSON *bases = t_item(ch, "b");
    ASSERT_EQ(t_num(bases, "phone"), 17);
    ASSERT_EQ(cJSON_GetArraySize(bases), 1);
    /* Each field keeps the clock of its own last edit: tier the first, phone the
     * second; owner, edited last, uses the entry's "h". */
    const cJSON *fh = t_item(ch, "fh");
    ASSERT_EQ(cJSON_GetArraySize(fh), 2);
    ASSERT_TRUE(strcmp(t_str(fh, "tier"), t_str(fh, "phone")) < 0);
    ASSERT_TRUE(strcmp(t_str(fh, "phone"), t_str(ch, "h")) < 0);
    ASSERT_EQ(strtoll(t_str(fh, "tier"), NULL, 16) >> 16, T0);
    ASSERT_EQ(strtoll(t_str(fh, "phone"), NULL, 16) >> 16, T0 + 2000);
    ASSERT_TRUE(cJSON_GetObjectItemCaseSensitive(fh, "owner") == NULL);
    cJSON_Delete(b);
    t_close(r, path);
}

static void test_write__an_edit_after_export_becomes_a_new_entry(void)
{
    static const char cust[] = "0192f3a0-1111-7000-8000-000000000001";
    char path[512], *first = NULL, *second = NULL;
    fsy_replica *r = t_open(path, sizeof(path), "frozen", NULL);
    confirm_customer(r, cust, 17, "{\"name\":\"Nord\",\"territory\":\"north\",\"phone\":\"1\"}");
    ASSERT_OK(r, fsy_replica_update(r, "customers", cust, "{\"phone\":\"2\"}"));
    cJSON *b1 = t_export(r, &first);
    ASSERT_OK(r, fsy_replica_update(r, "customers", cust, "{\"phone\":\"3\"}"));
    ASSERT_EQ(t_pending(r), 2);
    cJSON *b2 = t_export(r, &second);
    ASSERT_EQ(cJSON_GetArraySize(t_item(b2, "changes")), 2);
    /* The exported entry is frozen: it is re-sent exactly as before. */
    char *c1 = cJSON_PrintUnformatted(cJSON_GetArrayItem(t_item(b1, "changes"), 0));
    char *c2 = cJSON_PrintUnformatted(cJSON_GetArrayItem(t_item(b2, "changes"), 0));
    ASSERT_STREQ(c2, c1);
    const cJSON *later = cJSON_GetArrayItem(t_item(b2, "changes"), 1);
    ASSERT_STREQ(t_str(t_item(later, "f"), "phone"), "3");
    ASSERT_EQ(t_num(t_item(later, "b"), "phone"), 17);
    ASSERT_TRUE(t_num(later, "s") > t_num(cJSON_GetArrayItem(t_item(b2, "changes"), 0), "s"));
    cJSON_free(c1);
    cJSON_free(c2);
    cJSON_Delete(b1);
    cJSON_Delete(b2);
    fsy_free(first);
    fsy_free(second);
    t_close(r, path);
}

static void test_write__edits_of_a_new_row_fold_into_its_create(void)
{
    char path[512], id[FSY_ID_LEN + 1];
    fsy_replica *r = t_open(path, sizeof(path), "fold", NULL);
    t_customer(r, "Neu", "north", id);
    ASSERT_OK(r, fsy_replica_update(r, "customers", id, "{\"tier\":\"A\"}"));
    ASSERT_OK(r, fsy_replica_update(r, "customers", id, "{\"name\":\"Neu GmbH\"}"));
    ASSERT_EQ(t_pending(r), 1);
    cJSON *b = t_export(r, NULL);
    const cJSON *ch = t_change_for(b, id);
    ASSERT_STREQ(t_str(ch, "op"), "c");
    ASSERT_STREQ(t_str(t_item(ch, "f"), "name"), "Neu GmbH");
    ASSERT_STREQ(t_str(t_item(ch, "f"), "tier"), "A");
    ASSERT_TRUE(cJSON_GetObjectItemCaseSensitive(ch, "b") == NULL);
    cJSON_Delete(b);
    /* Deleting it afterwards is its own change, so the server sees both. */
    ASSERT_OK(r, fsy_replica_delete(r, "customers", id));
    b = t_export(r, NULL);
    ASSERT_EQ(cJSON_GetArraySize(t_item(b, "changes")), 2);
    ASSERT_STREQ(t_str(cJSON_GetArrayItem(t_item(b, "changes"), 1), "op"), "d");
    cJSON_Delete(b);
    t_close(r, path);
}

static void test_write__check_in_records_time_position_and_status(void)
{
    char path[512], visit[FSY_ID_LEN + 1];
    t_clock clock = {T0 + 123};
    fsy_replica_opts o = t_opts(&clock);
    fsy_replica *r = t_open(path, sizeof(path), "checkin", &o);
    new_visit(r, visit, NULL);
    ASSERT_OK(r, fsy_visit_check_in(r, visit, 52.520008, 13.404954));
    cJSON *row = t_row(r, "visits", visit);
    ASSERT_STREQ(t_str(row, "checkin_at"), "2024-05-01T10:00:00.123Z");
    ASSERT_TRUE(t_num(row, "checkin_lat") == 52.520008);
    ASSERT_TRUE(t_num(row, "checkin_lon") == 13.404954);
    ASSERT_STREQ(t_str(row, "status"), "in-progress");
    ASSERT_TRUE(t_is_null(row, "checkout_at"));
    cJSON_Delete(row);
    /* Checking in twice would overwrite the first time. */
    ASSERT_EQ(fsy_visit_check_in(r, visit, 1, 1), FSY_EINVAL);
    ASSERT_CONTAINS(fsy_replica_errmsg(r), "already checked in");
    t_close(r, path);
}

static void test_write__check_in_without_a_fix_stores_no_position(void)
{
    char path[512], visit[FSY_ID_LEN + 1];
    fsy_replica *r = t_open(path, sizeof(path), "nofix", NULL);
    new_visit(r, visit, NULL);
    ASSERT_OK(r, fsy_visit_check_in(r, visit, NAN, NAN));
    cJSON *row = t_row(r, "visits", visit);
    ASSERT_TRUE(t_is_null(row, "checkin_lat"));
    ASSERT_TRUE(t_is_null(row, "checkin_lon"));
    ASSERT_STREQ(t_str(row, "status"), "in-progress");
    cJSON_Delete(row);
    /* Half a fix is no fix either. */
    char v2[FSY_ID_LEN + 1];
    new_visit(r, v2, NULL);
    ASSERT_OK(r, fsy_visit_check_in(r, v2, 10.0, NAN));
    row = t_row(r, "visits", v2);
    ASSERT_TRUE(t_is_null(row, "checkin_lat"));
    cJSON_Delete(row);
    t_close(r, path);
}

static void test_write__check_in_refuses_bad_positions_and_finished_visits(void)
{
    static const double bad[][2] = {{90.0001, 0}, {-91, 0}, {0, 180.5}, {0, -181}};
    char path[512], visit[FSY_ID_LEN + 1];
    fsy_replica *r = t_open(path, sizeof(path), "checkin-bad", NULL);
    new_visit(r, visit, NULL);
    char *before = t_snapshot(r);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ASSERT_EQ(fsy_visit_check_in(r, visit, bad[i][0], bad[i][1]), FSY_EINVAL);
        ASSERT_CONTAINS(fsy_replica_errmsg(r), "out of range");
    }
    ASSERT_EQ(fsy_visit_check_in(r, visit, INFINITY, 0), FSY_EINVAL);
    char *after = t_snapshot(r);
    ASSERT_STREQ(after, before);
    free(after);
    free(before);
    ASSERT_OK(r, fsy_visit_check_in(r, visit, 90, -180)); /* the edges are positions */

    char cancelled[FSY_ID_LEN + 1];
    new_visit(r, cancelled, NULL);
    ASSERT_OK(r, fsy_replica_update(r, "visits", cancelled, "{\"status\":\"cancelled\"}"));
    ASSERT_EQ(fsy_visit_check_in(r, cancelled, 1, 1), FSY_EINVAL);
    ASSERT_CONTAINS(fsy_replica_errmsg(r), "cancelled");
    ASSERT_EQ(fsy_visit_check_in(r, "0192f3a0-0000-7000-8000-0000000000ff", 1, 1), FSY_ENOTFOUND);
    ASSERT_EQ(fsy_visit_check_in(r, "bad", 1, 1), FSY_EINVAL);
    ASSERT_EQ(fsy_visit_check_in(r, NULL, 1, 1), FSY_EINVAL);
    t_close(r, path);
}

static void test_write__check_out_records_the_outcome_in_one_change(void)
{
    char path[512], visit[FSY_ID_LEN + 1];
    t_clock clock = {T0};
    fsy_replica_opts o = t_opts(&clock);
    fsy_replica *r = t_open(path, sizeof(path), "checkout", &o);
    new_visit(r, visit, NULL);
    int64_t v = 1;
    t_sync_all(r, &v);
    ASSERT_OK(r, fsy_visit_check_in(r, visit, 48.1372, 11.5756));
    clock.ms += 45 * 60 * 1000;
    ASSERT_OK(r, fsy_visit_check_out(r, visit, 48.1373, 11.5757,
                                     "{\"outcome\":\"Listing agreed\",\"next_steps\":\"Send "
                                     "offer\",\"satisfaction\":4,\"follow_up\":\"2024-05-15\"}"));
    cJSON *row = t_row(r, "visits", visit);
    ASSERT_STREQ(t_str(row, "checkout_at"), "2024-05-01T10:45:00.000Z");
    ASSERT_STREQ(t_str(row, "status"), "done");
    ASSERT_STREQ(t_str(row, "outcome"), "Listing agreed");
    ASSERT_EQ(t_num(row, "satisfaction"), 4);
    ASSERT_STREQ(t_str(row, "follow_up"), "2024-05-15");
    ASSERT_TRUE(t_num(row, "checkout_lat") == 48.1373);
    ASSERT_STREQ(t_str(row, "checkin_at"), "2024-05-01T10:00:00.000Z");
    cJSON_Delete(row);
    /* Check-in and check-out of one unsynced visit travel as one change. */
    ASSERT_EQ(t_pending(r), 1);
    /* A visit is checked out once. */
    ASSERT_EQ(fsy_visit_check_out(r, visit, 1, 1, NULL), FSY_EINVAL);
    ASSERT_EQ(fsy_visit_check_in(r, visit, 1, 1), FSY_EINVAL);
    t_close(r, path);
}

static void test_write__check_out_needs_a_check_in_and_owns_its_fields(void)
{
    static const char *const owned[] = {"status",     "checkout_at", "checkout_lat", "checkout_lon",
                                        "checkin_at", "checkin_lat", "checkin_lon"};
    char path[512], visit[FSY_ID_LEN + 1];
    fsy_replica *r = t_open(path, sizeof(path), "checkout-bad", NULL);
    new_visit(r, visit, NULL);
    ASSERT_EQ(fsy_visit_check_out(r, visit, 1, 1, NULL), FSY_EINVAL);
    ASSERT_CONTAINS(fsy_replica_errmsg(r), "not checked in");
    ASSERT_OK(r, fsy_visit_check_in(r, visit, 1, 1));
    char *before = t_snapshot(r);
    for (size_t i = 0; i < sizeof(owned) / sizeof(owned[0]); i++) {
        char json[96];
        snprintf(json, sizeof(json), "{\"outcome\":\"ok\",\"%s\":null}", owned[i]);
        ASSERT_EQ(fsy_visit_check_out(r, visit, 1, 1, json), FSY_EINVAL);
        ASSERT_CONTAINS(fsy_replica_errmsg(r), owned[i]);
    }
    ASSERT_EQ(fsy_visit_check_out(r, visit, 1, 1, "{\"satisfaction\":9}"), FSY_EINVAL);
    ASSERT_CONTAINS(fsy_replica_errmsg(r), "visits.satisfaction");
    ASSERT_EQ(fsy_visit_check_out(r, visit, 1, 1, "{\"mood\":\"good\"}"), FSY_EINVAL);
    ASSERT_EQ(fsy_visit_check_out(r, visit, 1, 1, "{\"outcome\":"), FSY_EINVAL);
    ASSERT_EQ(fsy_visit_check_out(r, visit, 95, 1, "{\"outcome\":\"ok\"}"), FSY_EINVAL);
    char *after = t_snapshot(r);
    ASSERT_STREQ(after, before);
    free(after);
    free(before);
    ASSERT_OK(r, fsy_visit_check_out(r, visit, NAN, NAN, NULL));
    cJSON *row = t_row(r, "visits", visit);
    ASSERT_STREQ(t_str(row, "status"), "done");
    ASSERT_TRUE(t_is_null(row, "checkout_lat"));
    cJSON_Delete(row);
    t_close(r, path);
}

static const fsy_unit_case cases[] = {
    FSY_CASE(write, insert_then_get_returns_the_row_with_its_id),
    FSY_CASE(write, update_changes_only_the_named_fields),
    FSY_CASE(write, delete_removes_the_row_and_pushes_a_tombstone),
    FSY_CASE(write, missing_rows_are_not_found_and_bad_ids_invalid),
    FSY_CASE(write, a_refused_write_changes_nothing),
    FSY_CASE(write, a_write_failing_inside_its_transaction_leaves_no_trace),
    FSY_CASE(write, a_child_row_needs_its_parent_on_the_device),
    FSY_CASE(write, two_edits_before_export_compact_keeping_the_first_base),
    FSY_CASE(write, an_edit_after_export_becomes_a_new_entry),
    FSY_CASE(write, edits_of_a_new_row_fold_into_its_create),
    FSY_CASE(write, check_in_records_time_position_and_status),
    FSY_CASE(write, check_in_without_a_fix_stores_no_position),
    FSY_CASE(write, check_in_refuses_bad_positions_and_finished_visits),
    FSY_CASE(write, check_out_records_the_outcome_in_one_change),
    FSY_CASE(write, check_out_needs_a_check_in_and_owns_its_fields),
};

int main(int argc, char **argv)
{
    return fsy_unit_main(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
}
