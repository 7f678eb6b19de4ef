/*
 * test_revoke.c — a lost tablet (DESIGN §4, §5): `fieldsyncd revoke DIR DEVICE`
 * on a running daemon makes the device's next push and pull fail with 401
 * device_revoked and "wipe": true; nothing it sends is applied; the user's other
 * devices keep working and the user can enrol a new one.
 */
#include "e2e_support.h"

static void expect_wipe(const e2e_resp *r)
{
    E2E_EXPECT_ERROR(r, 401, "device_revoked");
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(r->json, "error");
    if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "wipe")))
        FSY_FAIL("no \"wipe\": true in %s", r->body);
}

int main(int argc, char **argv)
{
    e2e_daemon *d = e2e_setup(argc, argv, "revoke");
    e2e_user(d, "alice", "rep", "south");
    e2e_start(d);
    e2e_device lost, other;
    e2e_enroll(d, "alice", &lost);
    e2e_enroll(d, "alice", &other);

    char cust[37];
    e2e_insert(&lost, "customers", "{\"name\":\"Optik Klar\",\"territory\":\"south\"}", cust);
    e2e_sync(d, &lost);
    e2e_pull(d, &other, NULL);

    char out[1024];
    ASSERT_EQ(e2e_admin(d, out, sizeof(out), "revoke", lost.id, NULL), 0);
    ASSERT_CONTAINS(out, "revoked");
    ASSERT_EQ(e2e_admin(d, out, sizeof(out), "revoke", "no-such-device", NULL), 1);

    /* The lost tablet's next push: refused and told to wipe; nothing applied. */
    int64_t head = e2e_log_head(d);
    e2e_update(&lost, "customers", cust, "{\"phone\":\"+49 stolen\"}");
    char *body = NULL;
    size_t len = 0;
    ASSERT_OK(lost.r, fsy_push_export(lost.r, 0, 0, &body, &len, NULL));
    e2e_resp r;
    e2e_post(d, "/v1/push", lost.token, body, len, &r);
    fsy_free(body);
    expect_wipe(&r);
    e2e_resp_free(&r);
    ASSERT_EQ(e2e_log_head(d), head);
    char *vals = e2e_sql_text(d, "SELECT vals FROM rows WHERE id = '%s'", cust);
    ASSERT_TRUE(vals && !strstr(vals, "stolen"));
    free(vals);
    printf("ok   a revoked device's push: 401 device_revoked, wipe: true, nothing applied\n");

    /* Its pull too, from any cursor. */
    e2e_get(d, "/v1/pull?after=0", lost.token, &r);
    expect_wipe(&r);
    ASSERT_TRUE(!strstr(r.body, cust));
    e2e_resp_free(&r);
    e2e_get(d, "/v1/pull?after=1&limit=5", lost.token, &r);
    expect_wipe(&r);
    e2e_resp_free(&r);
    printf("ok   a revoked device's pull: 401 device_revoked, wipe: true\n");

    /* The device obeys: its replica is wiped. */
    ASSERT_OK(lost.r, fsy_replica_wipe(lost.r));
    ASSERT_TRUE(e2e_row(&lost, "customers", cust) == NULL);
    ASSERT_EQ(e2e_pending(&lost), 0);

    /* The operator sees it; the store recorded the revocation and the later use. */
    ASSERT_EQ(e2e_admin(d, out, sizeof(out), "devices", NULL), 0);
    char *line = strstr(out, lost.id);
    ASSERT_TRUE(line != NULL);
    char *eol = strchr(line, '\n');
    if (eol)
        *eol = '\0';
    ASSERT_CONTAINS(line, "REVOKED");
    ASSERT_EQ(e2e_sql_int(d,
                          "SELECT count(*) FROM events WHERE kind = 'device_revoked' AND"
                          " device = '%s'",
                          lost.id),
              1);
    ASSERT_TRUE(e2e_sql_int(d,
                            "SELECT count(*) FROM events WHERE kind = 'revoked_device_used'"
                            " AND device = '%s'",
                            lost.id) >= 1);
    printf("ok   `devices` shows REVOKED; the store keeps the events\n");

    /* The user's other tablet is unaffected; a replacement tablet can enrol. */
    e2e_update(&other, "customers", cust, "{\"phone\":\"+49 ok\"}");
    e2e_sync(d, &other);
    ASSERT_EQ(e2e_pending(&other), 0);
    ASSERT_EQ(e2e_log_head(d), head + 1);
    e2e_device fresh;
    e2e_enroll(d, "alice", &fresh);
    e2e_pull(d, &fresh, NULL);
    char *phone = e2e_field(&fresh, "customers", cust, "phone");
    ASSERT_STREQ(phone, "\"+49 ok\"");
    free(phone);
    printf("ok   the user's other and new devices keep syncing\n");

    e2e_finish(d);
    return 0;
}
