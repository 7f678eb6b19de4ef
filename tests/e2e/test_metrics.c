/*
 * test_metrics.c — what the operator watches (DESIGN §5): /healthz answers JSON
 * with the store and the change-log head; /metrics answers Prometheus text with
 * per-endpoint request counters, error counters and latency histograms, and the
 * counts move when devices push and pull.
 */
#include "e2e_support.h"

static char *metrics(e2e_daemon *d)
{
    e2e_resp r;
    e2e_get(d, "/metrics", NULL, &r);
    ASSERT_EQ(r.status, 200);
    ASSERT_CONTAINS(r.content_type, "text/plain");
    char *t = r.body;
    r.body = NULL;
    e2e_resp_free(&r);
    return t;
}

static double m(const char *text, const char *series)
{
    double v = e2e_metric(text, series);
    if (v < 0)
        FSY_FAIL("no sample %s in /metrics", series);
    return v;
}

#define PUSH       "fieldsync_requests_total{endpoint=\"push\"}"
#define PULL       "fieldsync_requests_total{endpoint=\"pull\"}"
#define ENROLL     "fieldsync_requests_total{endpoint=\"enroll\"}"
#define PUSH_ERR   "fieldsync_request_errors_total{endpoint=\"push\"}"
#define PUSH_COUNT "fieldsync_request_duration_seconds_count{endpoint=\"push\"}"
#define PUSH_INF   "fieldsync_request_duration_seconds_bucket{endpoint=\"push\",le=\"+Inf\"}"

int main(int argc, char **argv)
{
    e2e_daemon *d = e2e_setup(argc, argv, "metrics");
    e2e_user(d, "alice", "rep", "south");
    e2e_start(d);

    e2e_resp r;
    e2e_get(d, "/healthz", NULL, &r);
    ASSERT_EQ(r.status, 200);
    ASSERT_CONTAINS(r.content_type, "application/json");
    ASSERT_STREQ(e2e_jstr(r.json, "status"), "ok");
    ASSERT_STREQ(e2e_jstr(r.json, "store"), e2e_is_pg(d) ? "postgresql" : "sqlite");
    ASSERT_TRUE(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(r.json, "log_head")));
    e2e_resp_free(&r);
    printf("ok   /healthz answers {\"status\":\"ok\",\"store\":\"sqlite\",\"log_head\":N}\n");

    char *t0 = metrics(d);
    ASSERT_CONTAINS(t0, "# TYPE fieldsync_requests_total counter");
    ASSERT_CONTAINS(t0, "# TYPE fieldsync_request_duration_seconds histogram");
    ASSERT_EQ(m(t0, PUSH), 0);
    ASSERT_EQ(m(t0, PULL), 0);
    ASSERT_TRUE(m(t0, "fieldsync_requests_total{endpoint=\"healthz\"}") >= 1);
    printf("ok   /metrics is Prometheus text with fieldsync_requests_total{endpoint=\"push\"}\n");

    e2e_device a;
    e2e_enroll(d, "alice", &a);
    char cust[37];
    e2e_insert(&a, "customers", "{\"name\":\"Zahl GmbH\",\"territory\":\"south\",\"tier\":\"C\"}",
               cust);
    ASSERT_EQ(e2e_push(d, &a), 1);
    e2e_pull(d, &a, NULL);
    e2e_post(d, "/v1/push", "0000000000000000000000000000000000000000000000000000000000000000",
             "{}", 2, &r);
    ASSERT_EQ(r.status, 401);
    e2e_resp_free(&r);

    char *t1 = metrics(d);
    ASSERT_EQ(m(t1, PUSH), 2);
    ASSERT_EQ(m(t1, PUSH_ERR), 1);
    ASSERT_EQ(m(t1, PULL), 1);
    ASSERT_EQ(m(t1, ENROLL), m(t0, ENROLL) + 1);
    ASSERT_EQ(m(t1, "fieldsync_enrollments_total"), 1);
    ASSERT_EQ(m(t1, PUSH_COUNT), 2);
    ASSERT_EQ(m(t1, PUSH_INF), 2);
    ASSERT_EQ(m(t1, "fieldsync_changes_applied_total"), 3); /* name, territory, tier */
    ASSERT_EQ(m(t1, "fieldsync_auth_failures_total"), 1);
    ASSERT_EQ(m(t1, "fieldsync_change_log_head"), e2e_log_head(d));
    ASSERT_EQ(m(t1, "fieldsync_change_log_head"), 1);
    ASSERT_TRUE(m(t1, "fieldsync_connections_total") >= 5);
    printf("ok   the counters move after a push, a pull and a refused push\n");

    free(t0);
    free(t1);
    e2e_finish(d);
    return 0;
}
