/*
 * test_conflict.c — concurrent edits (DESIGN §4): two devices edit the same field
 * offline; the later hybrid clock wins, exactly one conflict record keeps both
 * values, authors and devices, the losing device is told (fsy_query_conflicts),
 * and both replicas converge after a pull. Edits of different fields of the
 * same row merge without a conflict, and a device editing on top of its own
 * acknowledged edit is never in conflict with itself (DESIGN §9).
 */
#include "e2e_support.h"

static cJSON *push_one(e2e_daemon *d, e2e_device *dev)
{
    cJSON *ack = e2e_push_batch(d, dev);
    ASSERT_TRUE(ack != NULL);
    return ack;
}

static int ack_conflicts(const cJSON *ack)
{
    int n = 0;
    const cJSON *res;
    cJSON_ArrayForEach(res, cJSON_GetObjectItemCaseSensitive(ack, "results"))
    {
        ASSERT_TRUE(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(res, "ok")));
        n += cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(res, "c"));
    }
    return n;
}

static void expect_field(e2e_device *dev, const char *id, const char *field, const char *json)
{
    char *v = e2e_field(dev, "customers", id, field);
    if (!v || strcmp(v, json) != 0)
        FSY_FAIL("%s: customers.%s is %s, expected %s", dev->user, field, v ? v : "(absent)", json);
    free(v);
}

int main(int argc, char **argv)
{
    e2e_daemon *d = e2e_setup(argc, argv, "conflict");
    e2e_user(d, "alice", "rep", "south");
    e2e_user(d, "bob", "rep", "south");
    e2e_start(d);
    e2e_device a, b;
    e2e_enroll(d, "alice", &a);
    e2e_enroll(d, "bob", &b);

    char cust[37];
    e2e_insert(&a, "customers",
               "{\"name\":\"Elektro Meier\",\"territory\":\"south\",\"phone\":\"+49 0\"}", cust);
    e2e_sync(d, &a);
    e2e_pull(d, &b, NULL);
    expect_field(&b, cust, "phone", "\"+49 0\"");

    /* Both edit the phone offline; bob first, alice a little later (her clock wins). */
    e2e_update(&b, "customers", cust, "{\"phone\":\"+49 bob\"}");
    e2e_sleep_ms(20);
    e2e_update(&a, "customers", cust, "{\"phone\":\"+49 alice\"}");

    /* Alice syncs first: a clean write. Bob's push meets her version. */
    cJSON *ack = push_one(d, &a);
    ASSERT_EQ(ack_conflicts(ack), 0);
    cJSON_Delete(ack);
    ack = push_one(d, &b);
    ASSERT_EQ(ack_conflicts(ack), 1);
    const cJSON *c = cJSON_GetArrayItem(
        cJSON_GetObjectItemCaseSensitive(
            cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(ack, "results"), 0), "c"),
        0);
    ASSERT_STREQ(e2e_jstr(c, "f"), "phone");
    ASSERT_STREQ(e2e_jstr(c, "win"), "theirs");
    ASSERT_STREQ(e2e_jstr(c, "theirs"), "+49 alice");
    ASSERT_STREQ(e2e_jstr(c, "by"), "alice");
    ASSERT_STREQ(e2e_jstr(c, "dev"), a.id);
    cJSON_Delete(ack);
    printf("ok   bob's push is told his edit lost to alice's later one\n");

    /* Exactly one conflict record on the server, with both values, users and devices. */
    ASSERT_EQ(e2e_sql_int(d, "SELECT count(*) FROM conflicts"), 1);
    ASSERT_EQ(e2e_sql_int(d,
                          "SELECT count(*) FROM conflicts WHERE tbl = 0 AND id = '%s' AND"
                          " field = 'phone' AND kept = '\"+49 alice\"' AND"
                          " other = '\"+49 bob\"' AND kept_user = 'alice' AND"
                          " other_user = 'bob' AND kept_device = '%s' AND other_device = '%s'"
                          " AND kept_hlc > other_hlc",
                          cust, a.id, b.id),
              1);
    printf("ok   exactly one conflict record keeps both values, authors and devices\n");

    /* The losing device shows the conflict to its rep. */
    char *conf = NULL;
    ASSERT_OK(b.r, fsy_query_conflicts(b.r, &conf));
    cJSON *list = cJSON_Parse(conf);
    fsy_free(conf);
    ASSERT_EQ(cJSON_GetArraySize(list), 1);
    char *text = cJSON_PrintUnformatted(cJSON_GetArrayItem(list, 0));
    ASSERT_CONTAINS(text, "phone");
    ASSERT_CONTAINS(text, "+49 bob");
    ASSERT_CONTAINS(text, "+49 alice");
    ASSERT_CONTAINS(text, cust);
    free(text);
    cJSON_Delete(list);
    printf("ok   bob's replica lists the conflict (fsy_query_conflicts)\n");

    /* Both converge on the winning value after a pull. */
    e2e_sync(d, &a);
    e2e_sync(d, &b);
    expect_field(&a, cust, "phone", "\"+49 alice\"");
    expect_field(&b, cust, "phone", "\"+49 alice\"");
    ASSERT_EQ(e2e_pending(&a), 0);
    ASSERT_EQ(e2e_pending(&b), 0);
    printf("ok   both replicas converge to the winning value\n");

    /* Different fields of the same row, edited concurrently: merged, no conflict. */
    e2e_update(&a, "customers", cust, "{\"tier\":\"A\"}");
    e2e_update(&b, "customers", cust, "{\"address\":\"Hauptstr. 1\"}");
    ack = push_one(d, &a);
    ASSERT_EQ(ack_conflicts(ack), 0);
    cJSON_Delete(ack);
    ack = push_one(d, &b);
    ASSERT_EQ(ack_conflicts(ack), 0);
    cJSON_Delete(ack);
    e2e_sync(d, &a);
    e2e_sync(d, &b);
    expect_field(&a, cust, "tier", "\"A\"");
    expect_field(&a, cust, "address", "\"Hauptstr. 1\"");
    expect_field(&b, cust, "tier", "\"A\"");
    expect_field(&b, cust, "address", "\"Hauptstr. 1\"");
    ASSERT_EQ(e2e_sql_int(d, "SELECT count(*) FROM conflicts"), 1);
    printf("ok   edits of different fields merge without a conflict\n");

    /* Alice edits the phone, pushes, edits it again before pulling: her second
     * edit's base is her own acknowledged version, not a conflict with herself. */
    e2e_update(&a, "customers", cust, "{\"phone\":\"+49 a2\"}");
    ack = push_one(d, &a);
    ASSERT_EQ(ack_conflicts(ack), 0);
    cJSON_Delete(ack);
    e2e_update(&a, "customers", cust, "{\"phone\":\"+49 a3\"}");
    ack = push_one(d, &a);
    ASSERT_EQ(ack_conflicts(ack), 0);
    cJSON_Delete(ack);
    ASSERT_EQ(e2e_sql_int(d, "SELECT count(*) FROM conflicts"), 1);
    e2e_sync(d, &a);
    e2e_sync(d, &b);
    expect_field(&a, cust, "phone", "\"+49 a3\"");
    expect_field(&b, cust, "phone", "\"+49 a3\"");
    char *ea = NULL, *eb = NULL;
    ASSERT_OK(a.r, fsy_replica_export(a.r, &ea));
    ASSERT_OK(b.r, fsy_replica_export(b.r, &eb));
    ASSERT_STREQ(ea, eb);
    fsy_free(ea);
    fsy_free(eb);
    printf("ok   an edit on top of one's own acknowledged edit is not a conflict\n");

    /* An edit racing a delete: kept in a conflict record, the row stays deleted on
     * both replicas (DESIGN §4), and the editing rep is told. */
    char visit[37], vf[256];
    snprintf(vf, sizeof(vf), "{\"customer_id\":\"%s\",\"purpose\":\"demo\"}", cust);
    e2e_insert(&a, "visits", vf, visit);
    e2e_sync(d, &a);
    e2e_pull(d, &b, NULL);
    cJSON *vrow = e2e_row(&b, "visits", visit);
    ASSERT_TRUE(vrow != NULL);
    cJSON_Delete(vrow);
    ASSERT_OK(a.r, fsy_replica_delete(a.r, "visits", visit));
    e2e_update(&b, "visits", visit, "{\"outcome\":\"signed\"}");
    ack = push_one(d, &a);
    ASSERT_EQ(ack_conflicts(ack), 0);
    cJSON_Delete(ack);
    ack = push_one(d, &b);
    ASSERT_EQ(ack_conflicts(ack), 1);
    c = cJSON_GetArrayItem(
        cJSON_GetObjectItemCaseSensitive(
            cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(ack, "results"), 0), "c"),
        0);
    ASSERT_STREQ(e2e_jstr(c, "f"), "_deleted");
    ASSERT_STREQ(e2e_jstr(c, "win"), "theirs");
    cJSON_Delete(ack);
    ASSERT_EQ(e2e_sql_int(d, "SELECT count(*) FROM conflicts"), 2);
    ASSERT_EQ(e2e_sql_int(d,
                          "SELECT count(*) FROM conflicts WHERE id = '%s' AND"
                          " field = '_deleted' AND other_user = 'bob' AND"
                          " other LIKE '%%signed%%'",
                          visit),
              1);
    e2e_sync(d, &a);
    e2e_sync(d, &b);
    ASSERT_TRUE(e2e_row(&a, "visits", visit) == NULL);
    ASSERT_TRUE(e2e_row(&b, "visits", visit) == NULL);
    ASSERT_OK(b.r, fsy_query_conflicts(b.r, &conf));
    ASSERT_CONTAINS(conf, visit);
    fsy_free(conf);
    printf("ok   an edit racing a delete is recorded as a conflict; the row stays deleted\n");

    e2e_finish(d);
    return 0;
}
