/*
 * test_scope_write.c — writes outside a rep's scope (DESIGN §4 "Rejections",
 * "No client reset, ever"): a rep of territory south creating a customer in north,
 * or editing a north customer, is refused with code out_of_scope while the rest
 * of the same batch is applied; the device parks the refused change with its
 * reason and keeps syncing. A customer moved out of the rep's territory by a
 * supervisor turns the rep's pending edit into a parked rejection, then leaves
 * the replica. Reps cannot move customers or write reviews (forbidden).
 */
#include "e2e_support.h"

#include <inttypes.h>

static const cJSON *result_of(const cJSON *ack, int i)
{
    const cJSON *r = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(ack, "results"), i);
    if (!r)
        FSY_FAIL("acknowledgement has no result %d", i);
    return r;
}

static void expect_result(const cJSON *ack, int i, bool ok, const char *code)
{
    const cJSON *r = result_of(ack, i);
    char *t = cJSON_PrintUnformatted(r);
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "ok")) != ok ||
        (code && (!e2e_jstr(r, "code") || strcmp(e2e_jstr(r, "code"), code) != 0)) ||
        (!ok && (!e2e_jstr(r, "msg") || !*e2e_jstr(r, "msg"))))
        FSY_FAIL("result %d: %s; expected ok=%d code=%s", i, t, ok, code ? code : "-");
    free(t);
}

/* The device's parked changes as a JSON array (cJSON_Delete it). */
static cJSON *parked(e2e_device *dev)
{
    char *out = NULL;
    ASSERT_OK(dev->r, fsy_query_parked(dev->r, &out));
    cJSON *j = cJSON_Parse(out);
    fsy_free(out);
    ASSERT_TRUE(cJSON_IsArray(j));
    return j;
}

static const cJSON *parked_for(const cJSON *list, const char *id)
{
    const cJSON *p;
    cJSON_ArrayForEach(p, list)
    {
        if (e2e_jstr(p, "id") && strcmp(e2e_jstr(p, "id"), id) == 0)
            return p;
    }
    return NULL;
}

static char *server_vals(e2e_daemon *d, const char *id)
{
    return e2e_sql_text(d, "SELECT vals FROM rows WHERE id = '%s'", id);
}

int main(int argc, char **argv)
{
    e2e_daemon *d = e2e_setup(argc, argv, "scope_write");
    e2e_user(d, "sam", "rep", "south");
    e2e_user(d, "nora", "rep", "north");
    e2e_user(d, "sue", "supervisor", NULL);
    e2e_start(d);
    e2e_device s, s2, n, u;
    e2e_enroll(d, "sam", &s);
    e2e_enroll(d, "sam", &s2);
    e2e_enroll(d, "nora", &n);
    e2e_enroll(d, "sue", &u);

    /* nora's customer in north. */
    char north[37];
    e2e_insert(&n, "customers", "{\"name\":\"Nordbau\",\"territory\":\"north\",\"phone\":\"+1\"}",
               north);
    e2e_sync(d, &n);

    /* sam creates a customer in north, then one in south with a visit: one batch. */
    char xn[37], xs[37], xv[37], fields[256];
    e2e_insert(&s, "customers", "{\"name\":\"Fremd AG\",\"territory\":\"north\"}", xn);
    e2e_insert(&s, "customers", "{\"name\":\"Sued GmbH\",\"territory\":\"south\"}", xs);
    snprintf(fields, sizeof(fields), "{\"customer_id\":\"%s\",\"purpose\":\"intro\"}", xs);
    e2e_insert(&s, "visits", fields, xv);
    int64_t head0 = e2e_log_head(d);
    cJSON *ack = e2e_push_batch(d, &s);
    ASSERT_EQ(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(ack, "results")), 3);
    expect_result(ack, 0, false, "out_of_scope");
    expect_result(ack, 1, true, NULL);
    expect_result(ack, 2, true, NULL);
    cJSON_Delete(ack);
    ASSERT_EQ(e2e_log_head(d), head0 + 2);
    ASSERT_EQ(e2e_sql_int(d, "SELECT count(*) FROM rows WHERE id = '%s'", xn), 0);
    ASSERT_EQ(e2e_sql_int(d, "SELECT count(*) FROM rows WHERE id IN ('%s','%s')", xs, xv), 2);
    printf("ok   creating a north customer is refused (out_of_scope); the rest of the batch "
           "is applied\n");

    /* The device parked it: visible with its code, not pending, the rest flows. */
    ASSERT_EQ(e2e_pending(&s), 0);
    cJSON *pk = parked(&s);
    const cJSON *p = parked_for(pk, xn);
    ASSERT_TRUE(p != NULL);
    ASSERT_STREQ(e2e_jstr(p, "code"), "out_of_scope");
    ASSERT_STREQ(e2e_jstr(p, "table"), "customers");
    ASSERT_TRUE(e2e_jstr(p, "reason") && *e2e_jstr(p, "reason"));
    ASSERT_EQ(cJSON_GetArraySize(pk), 1);
    cJSON_Delete(pk);
    e2e_sync(d, &s);
    ASSERT_TRUE(e2e_push(d, &s) == 0); /* a parked change is not retried forever */
    cJSON *row = e2e_row(&s, "customers", xs);
    ASSERT_TRUE(row != NULL);
    cJSON_Delete(row);
    e2e_pull(d, &n, NULL);
    ASSERT_TRUE(e2e_row(&n, "customers", xn) == NULL);
    printf("ok   the device parks the refused change with its code and keeps syncing\n");

    /* Editing nora's north customer (a batch sent by sam's second tablet, which
     * never had the row): refused, the other change of the batch applied. */
    char *before = server_vals(d, north);
    int64_t ver = e2e_sql_int(d, "SELECT ver FROM rows WHERE id = '%s'", north);
    char batch[2048], hlc[17];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    snprintf(hlc, sizeof(hlc), "%016" PRIx64, ms << 16);
    const char *fresh = "01900000-0000-7000-8000-00000000abcd";
    snprintf(batch, sizeof(batch),
             "{\"schema\":2,\"device\":\"%s\",\"changes\":["
             "{\"s\":1,\"t\":\"customers\",\"id\":\"%s\",\"op\":\"u\",\"h\":\"%s\","
             "\"f\":{\"phone\":\"+9 sam\"},\"b\":{\"phone\":%lld}},"
             "{\"s\":2,\"t\":\"customers\",\"id\":\"%s\",\"op\":\"c\",\"h\":\"%s\","
             "\"f\":{\"name\":\"Zweit KG\",\"territory\":\"south\"}}]}",
             s2.id, north, hlc, (long long)ver, fresh, hlc);
    e2e_resp r;
    head0 = e2e_log_head(d);
    e2e_post(d, "/v1/push", s2.token, batch, strlen(batch), &r);
    ASSERT_EQ(r.status, 200);
    expect_result(r.json, 0, false, "out_of_scope");
    expect_result(r.json, 1, true, NULL);
    e2e_resp_free(&r);
    ASSERT_EQ(e2e_log_head(d), head0 + 1);
    char *after = server_vals(d, north);
    ASSERT_STREQ(after, before);
    free(after);
    free(before);
    ASSERT_EQ(e2e_sql_int(d, "SELECT count(*) FROM rows WHERE id = '%s'", fresh), 1);
    e2e_pull(d, &n, NULL);
    char *phone = e2e_field(&n, "customers", north, "phone");
    ASSERT_STREQ(phone, "\"+1\"");
    free(phone);
    printf("ok   editing a north customer is refused (out_of_scope); the rest is applied\n");

    /* Naming himself the owner does not let sam create a customer in north. */
    char own_north[37];
    e2e_insert(&s, "customers",
               "{\"name\":\"Mein Nord\",\"territory\":\"north\",\"owner\":\"sam\"}", own_north);
    head0 = e2e_log_head(d);
    ack = e2e_push_batch(d, &s);
    expect_result(ack, 0, false, "out_of_scope");
    cJSON_Delete(ack);
    ASSERT_EQ(e2e_log_head(d), head0);
    ASSERT_EQ(e2e_sql_int(d, "SELECT count(*) FROM rows WHERE id = '%s'", own_north), 0);
    /* Nor hang a visit or a note (his own records) off nora's north customer, whose
     * id leaked to him: sent by his second tablet, as the core refuses to write a
     * child of a customer the replica does not have. */
    const char *vn = "01900000-0000-7000-8000-00000000bbb1";
    const char *nn = "01900000-0000-7000-8000-00000000bbb2";
    snprintf(batch, sizeof(batch),
             "{\"schema\":2,\"device\":\"%s\",\"changes\":["
             "{\"s\":3,\"t\":\"visits\",\"id\":\"%s\",\"op\":\"c\",\"h\":\"%s\","
             "\"f\":{\"customer_id\":\"%s\",\"rep\":\"sam\",\"status\":\"planned\"}},"
             "{\"s\":4,\"t\":\"notes\",\"id\":\"%s\",\"op\":\"c\",\"h\":\"%s\","
             "\"f\":{\"customer_id\":\"%s\",\"author\":\"sam\",\"body\":\"x\","
             "\"info_level\":1}}]}",
             s2.id, vn, hlc, north, nn, hlc, north);
    e2e_post(d, "/v1/push", s2.token, batch, strlen(batch), &r);
    ASSERT_EQ(r.status, 200);
    expect_result(r.json, 0, false, "out_of_scope");
    expect_result(r.json, 1, false, "out_of_scope");
    e2e_resp_free(&r);
    ASSERT_EQ(e2e_log_head(d), head0);
    ASSERT_EQ(e2e_sql_int(d, "SELECT count(*) FROM rows WHERE id IN ('%s','%s')", vn, nn), 0);
    e2e_pull(d, &n, NULL);
    ASSERT_TRUE(e2e_row(&n, "visits", vn) == NULL);
    ASSERT_TRUE(e2e_row(&n, "notes", nn) == NULL);
    pk = parked(&s);
    ASSERT_EQ(cJSON_GetArraySize(pk), 2);
    cJSON_Delete(pk);
    printf("ok   no creating in north by naming oneself owner or via a leaked customer id\n");

    /* A rep may not move a customer to another territory, nor write reviews. */
    e2e_update(&s, "customers", xs, "{\"territory\":\"north\"}");
    char review[37];
    snprintf(fields, sizeof(fields), "{\"visit_id\":\"%s\",\"state\":\"reviewed\"}", xv);
    e2e_insert(&s, "reviews", fields, review);
    ack = e2e_push_batch(d, &s);
    expect_result(ack, 0, false, "forbidden");
    expect_result(ack, 1, false, "forbidden");
    cJSON_Delete(ack);
    char *terr = e2e_sql_text(d, "SELECT territory FROM rows WHERE id = '%s'", xs);
    ASSERT_STREQ(terr, "south");
    free(terr);
    ASSERT_EQ(e2e_sql_int(d, "SELECT count(*) FROM rows WHERE id = '%s'", review), 0);
    pk = parked(&s);
    ASSERT_EQ(cJSON_GetArraySize(pk), 4);
    cJSON_Delete(pk);
    e2e_sync(d, &s);
    terr = e2e_field(&s, "customers", xs, "territory");
    ASSERT_STREQ(terr, "\"south\"");
    free(terr);
    printf("ok   reps cannot move customers or write reviews (forbidden, parked)\n");

    /* The supervisor's review reaches the rep's tablet. */
    e2e_pull(d, &u, NULL);
    snprintf(fields, sizeof(fields),
             "{\"visit_id\":\"%s\",\"state\":\"needs-follow-up\",\"comment\":\"call back\"}", xv);
    e2e_insert(&u, "reviews", fields, review);
    e2e_sync(d, &u);
    ASSERT_EQ(e2e_pending(&u), 0);
    e2e_pull(d, &s, NULL);
    char *comment = e2e_field(&s, "reviews", review, "comment");
    ASSERT_STREQ(comment, "\"call back\"");
    free(comment);
    printf("ok   a supervisor's review reaches the rep\n");

    /* The supervisor moves sam's customer to north while sam edits it offline:
     * sam's push is refused and parked, then the row leaves his replica. */
    e2e_update(&s, "customers", xs, "{\"phone\":\"+49 offline\"}");
    e2e_update(&u, "customers", xs, "{\"territory\":\"north\"}");
    e2e_sync(d, &u);
    ASSERT_EQ(e2e_pending(&u), 0);
    ack = e2e_push_batch(d, &s);
    expect_result(ack, 0, false, "out_of_scope");
    cJSON_Delete(ack);
    e2e_pull(d, &s, NULL);
    ASSERT_TRUE(e2e_row(&s, "customers", xs) == NULL);
    /* sam's own visit of that customer stays his (fsy_sync_visible: own records). */
    row = e2e_row(&s, "visits", xv);
    ASSERT_TRUE(row != NULL);
    cJSON_Delete(row);
    pk = parked(&s);
    p = NULL;
    const cJSON *it;
    cJSON_ArrayForEach(it, pk)
    {
        if (e2e_jstr(it, "id") && strcmp(e2e_jstr(it, "id"), xs) == 0 && e2e_jstr(it, "code") &&
            strcmp(e2e_jstr(it, "code"), "out_of_scope") == 0)
            p = it;
    }
    ASSERT_TRUE(p != NULL);
    char *pf = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(p, "fields"));
    ASSERT_CONTAINS(pf, "+49 offline");
    free(pf);
    cJSON_Delete(pk);
    char *vals = server_vals(d, xs);
    ASSERT_TRUE(vals && !strstr(vals, "+49 offline"));
    free(vals);
    /* nora now has it, with its visit. */
    e2e_pull(d, &n, NULL);
    row = e2e_row(&n, "customers", xs);
    ASSERT_TRUE(row != NULL);
    cJSON_Delete(row);
    row = e2e_row(&n, "visits", xv);
    ASSERT_TRUE(row != NULL);
    cJSON_Delete(row);
    printf("ok   a customer moved away: the rep's edit is parked, the row leaves his replica\n");

    e2e_finish(d);
    return 0;
}
