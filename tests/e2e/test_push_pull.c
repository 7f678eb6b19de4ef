/*
 * test_push_pull.c — the basic round trip (DESIGN §4): rep A creates a customer
 * and a visit offline, syncs; rep B of the same territory pulls and sees them on
 * their replica, with the values A typed; an edit by B flows back to A; after
 * everyone has synced the two replicas hold the same rows (DESIGN §8.1).
 */
#include "e2e_support.h"

static void expect_field(e2e_device *dev, const char *table, const char *id, const char *field,
                         const char *json)
{
    char *v = e2e_field(dev, table, id, field);
    if (!v || strcmp(v, json) != 0)
        FSY_FAIL("%s: %s %s.%s is %s, expected %s", dev->user, table, id, field, v ? v : "(absent)",
                 json);
    free(v);
}

/* Every row of the replica (fsy_replica_export), as a malloc'd string. */
static char *export_rows(e2e_device *dev)
{
    char *out = NULL;
    ASSERT_OK(dev->r, fsy_replica_export(dev->r, &out));
    char *copy = strdup(out);
    fsy_free(out);
    return copy;
}

int main(int argc, char **argv)
{
    e2e_daemon *d = e2e_setup(argc, argv, "push_pull");
    e2e_user(d, "alice", "rep", "south");
    e2e_user(d, "bob", "rep", "south");
    e2e_start(d);
    e2e_device a, b;
    e2e_enroll(d, "alice", &a);
    e2e_enroll(d, "bob", &b);

    /* A works offline: a customer and a planned visit. */
    char cust[37], visit[37];
    e2e_insert(&a, "customers",
               "{\"name\":\"Kaufhaus S\\u00fcd\",\"territory\":\"south\",\"phone\":\"+49 89 1\","
               "\"tier\":\"B\",\"owner\":\"alice\"}",
               cust);
    char fields[512];
    snprintf(fields, sizeof(fields),
             "{\"customer_id\":\"%s\",\"purpose\":\"Q4 listing\",\"status\":\"planned\","
             "\"planned_at\":\"2026-03-02T09:30:00Z\",\"kind\":\"existing-customer\"}",
             cust);
    e2e_insert(&a, "visits", fields, visit);
    ASSERT_EQ(e2e_pending(&a), 2);
    int64_t head0 = e2e_log_head(d);

    /* A syncs: everything is acknowledged and lands in the change log. */
    ASSERT_TRUE(e2e_push(d, &a) >= 1);
    ASSERT_EQ(e2e_pending(&a), 0);
    ASSERT_EQ(e2e_log_head(d), head0 + 2);
    e2e_pull(d, &a, NULL);
    ASSERT_EQ(e2e_sql_int(d, "SELECT count(*) FROM rows WHERE id IN ('%s','%s')", cust, visit), 2);
    printf("ok   rep A's offline customer and visit are acknowledged\n");

    /* B pulls and sees both rows with A's values. */
    ASSERT_TRUE(e2e_row(&b, "customers", cust) == NULL);
    ASSERT_TRUE(e2e_pull(d, &b, NULL) >= 2);
    expect_field(&b, "customers", cust, "name",
                 "\"Kaufhaus S\xc3\xbc"
                 "d\"");
    expect_field(&b, "customers", cust, "phone", "\"+49 89 1\"");
    expect_field(&b, "customers", cust, "tier", "\"B\"");
    expect_field(&b, "customers", cust, "territory", "\"south\"");
    char want[64];
    snprintf(want, sizeof(want), "\"%s\"", cust);
    expect_field(&b, "visits", visit, "customer_id", want);
    expect_field(&b, "visits", visit, "purpose", "\"Q4 listing\"");
    expect_field(&b, "visits", visit, "rep", "\"alice\"");
    expect_field(&b, "visits", visit, "planned_at", "\"2026-03-02T09:30:00Z\"");
    ASSERT_EQ(e2e_pending(&b), 0);
    printf("ok   rep B pulls the customer and the visit with A's values\n");

    /* B records the outcome of A's visit; A sees it after syncing. */
    e2e_update(&b, "visits", visit, "{\"outcome\":\"listed 12 SKUs\",\"satisfaction\":4}");
    e2e_sync(d, &b);
    ASSERT_EQ(e2e_pending(&b), 0);
    e2e_sync(d, &a);
    expect_field(&a, "visits", visit, "outcome", "\"listed 12 SKUs\"");
    expect_field(&a, "visits", visit, "satisfaction", "4");
    expect_field(&a, "visits", visit, "purpose", "\"Q4 listing\"");
    printf("ok   B's edit flows back to A\n");

    /* A second pull brings nothing new, and both replicas hold the same rows. */
    e2e_sync(d, &b);
    ASSERT_EQ(e2e_pull(d, &a, NULL), 0);
    ASSERT_EQ(e2e_pull(d, &b, NULL), 0);
    char *ea = export_rows(&a), *eb = export_rows(&b);
    ASSERT_STREQ(ea, eb);
    free(ea);
    free(eb);
    printf("ok   both replicas converge to the same rows\n");

    /* A new tablet pulling in batches of one change gets the same rows. */
    e2e_device c;
    e2e_enroll(d, "alice", &c);
    int rounds = 0, received = 0;
    for (bool more = true; more; rounds++) {
        ASSERT_TRUE(rounds < 100);
        int64_t cur = 0;
        ASSERT_OK(c.r, fsy_pull_cursor(c.r, &cur));
        char path[128];
        snprintf(path, sizeof(path), "/v1/pull?after=%lld&limit=1", (long long)cur);
        e2e_resp r;
        e2e_get(d, path, c.token, &r);
        ASSERT_EQ(r.status, 200);
        int n = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(r.json, "changes"));
        ASSERT_TRUE(n <= 1);
        received += n;
        ASSERT_OK(c.r, fsy_pull_apply(c.r, r.body, r.len, &more));
        e2e_resp_free(&r);
    }
    ASSERT_EQ(received, e2e_log_head(d));
    ASSERT_TRUE(rounds >= received);
    char *ec = export_rows(&c);
    ea = export_rows(&a);
    ASSERT_STREQ(ec, ea);
    free(ec);
    free(ea);
    printf("ok   pulling one change at a time (limit=1, more=true) gives the same rows\n");

    e2e_finish(d);
    return 0;
}
