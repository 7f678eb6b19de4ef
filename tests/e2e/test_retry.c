/*
 * test_retry.c — exactly once (DESIGN §4, §8.3): a push retried with the same
 * body (the acknowledgement was lost) changes nothing and returns the
 * byte-identical acknowledgement; the same client_seq with a different body is
 * refused with 409 seq_reused, changes nothing, and leaves a security event.
 */
#include "e2e_support.h"

/* What a pull from scratch returns, without the volatile server clock. */
static char *pull_view(e2e_daemon *d, const e2e_device *dev)
{
    e2e_resp r;
    e2e_get(d, "/v1/pull?after=0", dev->token, &r);
    ASSERT_EQ(r.status, 200);
    cJSON_DeleteItemFromObjectCaseSensitive(r.json, "hlc");
    char *t = cJSON_PrintUnformatted(r.json);
    e2e_resp_free(&r);
    return t;
}

int main(int argc, char **argv)
{
    e2e_daemon *d = e2e_setup(argc, argv, "retry");
    e2e_user(d, "alice", "rep", "south");
    e2e_start(d);
    e2e_device a;
    e2e_enroll(d, "alice", &a);

    char cust[37], visit[37], fields[256];
    e2e_insert(&a, "customers", "{\"name\":\"Baumarkt Ost\",\"territory\":\"south\"}", cust);
    snprintf(fields, sizeof(fields), "{\"customer_id\":\"%s\",\"purpose\":\"intro\"}", cust);
    e2e_insert(&a, "visits", fields, visit);

    char *body = NULL;
    size_t len = 0;
    int n = 0;
    ASSERT_OK(a.r, fsy_push_export(a.r, 0, 0, &body, &len, &n));
    ASSERT_TRUE(body != NULL);
    ASSERT_EQ(n, 2);
    int64_t head0 = e2e_log_head(d);

    /* First delivery: applied. */
    e2e_resp r1, r2;
    e2e_post(d, "/v1/push", a.token, body, len, &r1);
    ASSERT_EQ(r1.status, 200);
    ASSERT_EQ(e2e_log_head(d), head0 + 2);
    int64_t hwm = e2e_sql_int(d, "SELECT hwm FROM devices WHERE id = '%s'", a.id);
    char *view1 = pull_view(d, &a);

    /* The acknowledgement was "lost": the device exports again and gets the same
     * bytes, sends them, and the server answers with the identical acknowledgement. */
    char *again = NULL;
    size_t again_len = 0;
    ASSERT_OK(a.r, fsy_push_export(a.r, 0, 0, &again, &again_len, NULL));
    ASSERT_EQ(again_len, len);
    ASSERT_TRUE(memcmp(again, body, len) == 0);
    e2e_post(d, "/v1/push", a.token, again, again_len, &r2);
    fsy_free(again);
    ASSERT_EQ(r2.status, 200);
    ASSERT_EQ(r2.len, r1.len);
    ASSERT_TRUE(memcmp(r1.body, r2.body, r1.len) == 0);
    ASSERT_EQ(e2e_log_head(d), head0 + 2);
    ASSERT_EQ(e2e_sql_int(d, "SELECT hwm FROM devices WHERE id = '%s'", a.id), hwm);
    ASSERT_EQ(e2e_sql_int(d, "SELECT count(*) FROM changes"), head0 + 2);
    char *view2 = pull_view(d, &a);
    ASSERT_STREQ(view2, view1);
    free(view2);
    printf("ok   a retried push is a no-op with a byte-identical acknowledgement\n");

    /* Applying either acknowledgement (or both) settles the device. */
    ASSERT_OK(a.r, fsy_push_apply_ack(a.r, r1.body, r1.len));
    ASSERT_OK(a.r, fsy_push_apply_ack(a.r, r2.body, r2.len));
    ASSERT_EQ(e2e_pending(&a), 0);
    e2e_resp_free(&r2);

    /* The same client_seq with a different body: refused, nothing changes. */
    cJSON *doc = cJSON_ParseWithLength(body, len);
    cJSON *ch0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(doc, "changes"), 0);
    cJSON *f = cJSON_GetObjectItemCaseSensitive(ch0, "f");
    ASSERT_TRUE(cJSON_GetObjectItemCaseSensitive(f, "name") != NULL);
    cJSON_ReplaceItemInObjectCaseSensitive(f, "name", cJSON_CreateString("Baumarkt West"));
    char *forged = cJSON_PrintUnformatted(doc);
    cJSON_Delete(doc);
    int64_t events0 = e2e_sql_int(d, "SELECT count(*) FROM events WHERE kind = 'seq_reused'");
    ASSERT_EQ(events0, 0);
    e2e_resp r3;
    e2e_post(d, "/v1/push", a.token, forged, strlen(forged), &r3);
    E2E_EXPECT_ERROR(&r3, 409, "seq_reused");
    e2e_resp_free(&r3);
    free(forged);
    ASSERT_EQ(e2e_log_head(d), head0 + 2);
    ASSERT_EQ(e2e_sql_int(d, "SELECT hwm FROM devices WHERE id = '%s'", a.id), hwm);
    view2 = pull_view(d, &a);
    ASSERT_STREQ(view2, view1);
    ASSERT_TRUE(strstr(view2, "Baumarkt Ost") && !strstr(view2, "Baumarkt West"));
    free(view2);
    ASSERT_EQ(e2e_sql_int(d,
                          "SELECT count(*) FROM events WHERE kind = 'seq_reused' AND"
                          " device = '%s'",
                          a.id),
              1);
    printf("ok   the same client_seq with another body is refused: 409 seq_reused, event kept\n");

    /* The original body is still answered with the stored acknowledgement. */
    e2e_post(d, "/v1/push", a.token, body, len, &r2);
    ASSERT_EQ(r2.status, 200);
    ASSERT_EQ(r2.len, r1.len);
    ASSERT_TRUE(memcmp(r1.body, r2.body, r1.len) == 0);
    e2e_resp_free(&r2);

    /* And the device keeps syncing: a new edit goes through. */
    e2e_update(&a, "customers", cust, "{\"phone\":\"+49 40 5\"}");
    e2e_sync(d, &a);
    ASSERT_EQ(e2e_pending(&a), 0);
    ASSERT_EQ(e2e_log_head(d), head0 + 3);
    char *phone = e2e_field(&a, "customers", cust, "phone");
    ASSERT_STREQ(phone, "\"+49 40 5\"");
    free(phone);
    printf("ok   the device keeps syncing afterwards\n");

    free(view1);
    e2e_resp_free(&r1);
    fsy_free(body);
    e2e_finish(d);
    return 0;
}
