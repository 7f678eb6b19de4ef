/*
 * test_bad_requests.c — bad input at the front door (DESIGN §5 "Every error is
 * JSON with a stable code"): malformed JSON, wrong types, unknown tables, bad
 * ids, a batch naming another device, oversized bodies and batches, bad or
 * missing tokens, wrong methods and paths, and plain HTTP to the TLS port each
 * get a JSON error with a stable code, and change nothing: the change-log head
 * in /healthz, the stored rows and the device's high-water mark stay put, and
 * the device can sync normally afterwards.
 */
#include "e2e_support.h"

#include <inttypes.h>

static e2e_daemon *d;
static e2e_device dev, other;
static char hlc[17];

typedef struct snapshot {
    int64_t head, rows, hwm, results;
} snapshot;

static snapshot snap(void)
{
    snapshot s;
    s.head = e2e_log_head(d);
    s.rows = e2e_sql_int(d, "SELECT count(*) FROM rows");
    s.hwm = e2e_sql_int(d, "SELECT hwm FROM devices WHERE id = '%s'", dev.id);
    s.results = e2e_sql_int(d, "SELECT count(*) FROM push_results");
    return s;
}

static void unchanged(const snapshot *s, const char *what)
{
    snapshot now = snap();
    if (now.head != s->head || now.rows != s->rows || now.hwm != s->hwm ||
        now.results != s->results)
        FSY_FAIL("%s changed the store: head %lld->%lld rows %lld->%lld hwm %lld->%lld", what,
                 (long long)s->head, (long long)now.head, (long long)s->rows, (long long)now.rows,
                 (long long)s->hwm, (long long)now.hwm);
}

/* POST /v1/push with dev's token; expect status + code; nothing changes. */
static void push_expect(const char *what, const char *body, long status, const char *code)
{
    snapshot s = snap();
    e2e_resp r;
    e2e_post(d, "/v1/push", dev.token, body, strlen(body), &r);
    e2e_expect_error_at(__FILE__, __LINE__, &r, status, code);
    e2e_resp_free(&r);
    unchanged(&s, what);
    printf("ok   %-44s -> %ld %s\n", what, status, code);
}

/* POST a one-change push with bob's token: answered 200 with that change refused
 * with `code` (and, if given, a message containing msg_part), the log as it was. */
static void push_refused(const char *body, const char *code, const char *msg_part)
{
    int64_t head = e2e_log_head(d);
    e2e_resp r;
    e2e_post(d, "/v1/push", other.token, body, strlen(body), &r);
    ASSERT_EQ(r.status, 200);
    const cJSON *res = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(r.json, "results"), 0);
    ASSERT_TRUE(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(res, "ok")));
    ASSERT_STREQ(e2e_jstr(res, "code"), code);
    if (msg_part)
        ASSERT_TRUE(strstr(e2e_jstr(res, "msg"), msg_part) != NULL);
    e2e_resp_free(&r);
    ASSERT_EQ(e2e_log_head(d), head);
}

/* A batch of one change whose parts can be replaced. */
static void one_change(char *out, size_t n, const char *device, const char *s, const char *t,
                       const char *id, const char *op, const char *h, const char *f)
{
    snprintf(out, n,
             "{\"schema\":2,\"device\":\"%s\",\"changes\":[{\"s\":%s,\"t\":%s,\"id\":%s,"
             "\"op\":%s,\"h\":%s,\"f\":%s}]}",
             device, s, t, id, op, h, f);
}

#define ID "\"01900000-0000-7000-8000-0000000000aa\""
#define F  "{\"name\":\"X\",\"territory\":\"south\"}"

int main(int argc, char **argv)
{
    d = e2e_setup(argc, argv, "bad_requests");
    e2e_config_set(d, "max_body_bytes", "4096");
    e2e_config_set(d, "max_push_changes", "5");
    e2e_user(d, "alice", "rep", "south");
    e2e_user(d, "bob", "rep", "south");
    e2e_start(d);
    e2e_enroll(d, "alice", &dev);
    e2e_enroll(d, "bob", &other);
    char cust[37];
    e2e_insert(&dev, "customers", "{\"name\":\"Vorher\",\"territory\":\"south\"}", cust);
    e2e_sync(d, &dev);

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    char qh[20];
    snprintf(hlc, sizeof(hlc), "%016" PRIx64, ms << 16);
    snprintf(qh, sizeof(qh), "\"%s\"", hlc);
    char b[8192];

    /* The body. */
    push_expect("malformed JSON", "{\"schema\":2,\"device\":", 400, "bad_json");
    push_expect("a JSON array, not an object", "[1,2]", 400, "bad_json");
    push_expect("empty body", "", 400, "bad_json");
    snprintf(b, sizeof(b), "{\"device\":\"%s\",\"changes\":[]}", dev.id);
    push_expect("no schema", b, 400, "bad_batch");
    snprintf(b, sizeof(b), "{\"schema\":2,\"device\":\"%s\",\"changes\":{}}", dev.id);
    push_expect("changes is not an array", b, 400, "bad_batch");

    /* Wrong types and values inside a change. */
    one_change(b, sizeof(b), dev.id, "\"x\"", "\"customers\"", ID, "\"c\"", qh, F);
    push_expect("\"s\": \"x\"", b, 400, "bad_change");
    one_change(b, sizeof(b), dev.id, "-3", "\"customers\"", ID, "\"c\"", qh, F);
    push_expect("negative s", b, 400, "bad_change");
    one_change(b, sizeof(b), dev.id, "1.5", "\"customers\"", ID, "\"c\"", qh, F);
    push_expect("fractional s", b, 400, "bad_change");
    one_change(b, sizeof(b), dev.id, "100", "\"invoices\"", ID, "\"c\"", qh, F);
    push_expect("unknown table", b, 400, "bad_change");
    one_change(b, sizeof(b), dev.id, "100", "7", ID, "\"c\"", qh, F);
    push_expect("table is a number", b, 400, "bad_change");
    one_change(b, sizeof(b), dev.id, "100", "\"customers\"", "\"not-a-uuid\"", "\"c\"", qh, F);
    push_expect("bad row id", b, 400, "bad_change");
    one_change(b, sizeof(b), dev.id, "100", "\"customers\"", ID, "\"x\"", qh, F);
    push_expect("unknown op", b, 400, "bad_change");
    one_change(b, sizeof(b), dev.id, "100", "\"customers\"", ID, "\"c\"", "12345", F);
    push_expect("clock is a number", b, 400, "bad_change");
    one_change(b, sizeof(b), dev.id, "100", "\"customers\"", ID, "\"c\"", qh, "[]");
    push_expect("fields is an array", b, 400, "bad_change");
    one_change(b, sizeof(b), dev.id, "100", "\"customers\"", ID, "\"c\"", qh, "{}");
    push_expect("no fields", b, 400, "bad_change");
    snprintf(b, sizeof(b),
             "{\"schema\":2,\"device\":\"%s\",\"changes\":[{\"s\":100,\"t\":\"customers\","
             "\"id\":" ID ",\"op\":\"c\",\"h\":%s,\"f\":" F "},{\"s\":100,\"t\":\"customers\","
             "\"id\":" ID ",\"op\":\"c\",\"h\":%s,\"f\":" F "}]}",
             dev.id, qh, qh);
    push_expect("s not increasing", b, 400, "bad_change");
    /* A bad change anywhere refuses the whole batch: the valid first one is not applied. */
    snprintf(b, sizeof(b),
             "{\"schema\":2,\"device\":\"%s\",\"changes\":[{\"s\":100,\"t\":\"customers\","
             "\"id\":" ID ",\"op\":\"c\",\"h\":%s,\"f\":" F "},{\"s\":101,\"t\":\"nope\","
             "\"id\":" ID ",\"op\":\"c\",\"h\":%s,\"f\":" F "}]}",
             dev.id, qh, qh);
    push_expect("valid change, then a bad one", b, 400, "bad_change");

    /* A batch naming another device, sent with this device's token. */
    one_change(b, sizeof(b), other.id, "100", "\"customers\"", ID, "\"c\"", qh, F);
    push_expect("batch names another device", b, 400, "device_mismatch");

    /* Size limits: a body over max_body_bytes, a batch over max_push_changes. */
    int o = snprintf(b, sizeof(b),
                     "{\"schema\":2,\"device\":\"%s\",\"changes\":[{\"s\":100,\"t\":\"customers\","
                     "\"id\":" ID ",\"op\":\"c\",\"h\":%s,\"f\":{\"territory\":\"south\","
                     "\"name\":\"",
                     dev.id, qh);
    memset(b + o, 'x', 5000);
    snprintf(b + o + 5000, sizeof(b) - (size_t)o - 5000, "\"}}]}");
    push_expect("body over max_body_bytes", b, 413, "body_too_large");
    o = snprintf(b, sizeof(b), "{\"schema\":2,\"device\":\"%s\",\"changes\":[", dev.id);
    for (int i = 0; i < 6; i++)
        o += snprintf(b + o, sizeof(b) - (size_t)o,
                      "%s{\"s\":%d,\"t\":\"customers\",\"id\":\"01900000-0000-7000-8000-0000000001"
                      "%02d\",\"op\":\"c\",\"h\":%s,\"f\":" F "}",
                      i ? "," : "", 100 + i, i, qh);
    snprintf(b + o, sizeof(b) - (size_t)o, "]}");
    push_expect("batch over max_push_changes", b, 413, "batch_too_large");

    /* Tokens. */
    one_change(b, sizeof(b), dev.id, "100", "\"customers\"", ID, "\"c\"", qh, F);
    struct {
        const char *what, *header;
    } tokens[] = {
        {"no token", NULL},
        {"unknown token", "Authorization: Bearer "
                          "0000000000000000000000000000000000000000000000000000000000000000"},
        {"short token", "Authorization: Bearer abc"},
        {"basic auth", "Authorization: Basic YWxpY2U6cHc="},
        {"token with a space appended", NULL},
    };
    char spaced[128];
    snprintf(spaced, sizeof(spaced), "Authorization: Bearer %s x", dev.token);
    tokens[4].header = spaced;
    for (size_t i = 0; i < sizeof(tokens) / sizeof(tokens[0]); i++) {
        snapshot s = snap();
        e2e_req req = {"POST", "/v1/push", NULL, b, strlen(b), false, tokens[i].header};
        e2e_resp r;
        e2e_http(d, &req, &r);
        E2E_EXPECT_ERROR(&r, 401, "bad_token");
        e2e_resp_free(&r);
        e2e_req pull = {"GET", "/v1/pull?after=0", NULL, NULL, 0, false, tokens[i].header};
        e2e_http(d, &pull, &r);
        E2E_EXPECT_ERROR(&r, 401, "bad_token");
        ASSERT_TRUE(!strstr(r.body, cust));
        e2e_resp_free(&r);
        unchanged(&s, tokens[i].what);
        printf("ok   %-44s -> 401 bad_token\n", tokens[i].what);
    }

    /* Plain HTTP to the TLS port. */
    {
        snapshot s = snap();
        e2e_req req = {"POST", "/v1/push", dev.token, b, strlen(b), true, NULL};
        e2e_resp r;
        e2e_http(d, &req, &r);
        E2E_EXPECT_ERROR(&r, 400, "tls_required");
        e2e_resp_free(&r);
        e2e_req get = {"GET", "/healthz", NULL, NULL, 0, true, NULL};
        e2e_http(d, &get, &r);
        E2E_EXPECT_ERROR(&r, 400, "tls_required");
        e2e_resp_free(&r);
        unchanged(&s, "plain HTTP");
        printf("ok   %-44s -> 400 tls_required\n", "plain HTTP to the TLS port");
    }

    /* Wrong paths, methods, parameters and encodings. */
    {
        snapshot s = snap();
        e2e_resp r;
        e2e_get(d, "/v1/push", dev.token, &r);
        E2E_EXPECT_ERROR(&r, 405, "method_not_allowed");
        e2e_resp_free(&r);
        e2e_post(d, "/v1/pull?after=0", dev.token, "{}", 2, &r);
        E2E_EXPECT_ERROR(&r, 405, "method_not_allowed");
        e2e_resp_free(&r);
        e2e_get(d, "/v2/push", dev.token, &r);
        E2E_EXPECT_ERROR(&r, 404, "not_found");
        e2e_resp_free(&r);
        e2e_get(d, "/v1/pull?after=abc", dev.token, &r);
        E2E_EXPECT_ERROR(&r, 400, "bad_request");
        e2e_resp_free(&r);
        e2e_get(d, "/v1/pull?after=-1", dev.token, &r);
        E2E_EXPECT_ERROR(&r, 400, "bad_request");
        e2e_resp_free(&r);
        e2e_req gz = {"POST", "/v1/push", dev.token, b, strlen(b), false, "Content-Encoding: gzip"};
        e2e_http(d, &gz, &r);
        E2E_EXPECT_ERROR(&r, 400, "bad_gzip");
        e2e_resp_free(&r);
        unchanged(&s, "wrong paths, methods, parameters");
        printf("ok   %-44s -> 404/405/400 with codes\n", "wrong paths, methods, parameters, gzip");
    }

    /* An invalid value is a per-change refusal, not a request error: 200, the
     * change refused with code invalid, nothing written to the log. (Sent by bob's
     * tablet: a refusal still moves the sender's high-water mark.) */
    {
        one_change(b, sizeof(b), other.id, "100", "\"customers\"", ID, "\"c\"", qh,
                   "{\"name\":\"X\",\"territory\":\"south\",\"tier\":\"Z\"}");
        push_refused(b, "invalid", NULL);
        ASSERT_EQ(
            e2e_sql_int(
                d, "SELECT count(*) FROM rows WHERE id = '01900000-0000-7000-8000-0000000000aa'"),
            0);
        printf("ok   %-44s -> 200, change refused: invalid\n", "an invalid enumeration value");
    }

    /* An edit may not set the tombstone: only a delete does. Refused like an invalid
     * value, the row and the log as they were. */
    {
        char id[48];
        snprintf(id, sizeof(id), "\"%s\"", cust);
        one_change(b, sizeof(b), other.id, "101", "\"customers\"", id, "\"u\"", qh,
                   "{\"phone\":\"+49 9\",\"_deleted\":true}");
        push_refused(b, "invalid", "only set by a delete");
        ASSERT_EQ(e2e_sql_int(d,
                              "SELECT count(*) FROM rows WHERE id = '%s' AND vals LIKE '%%+49 9%%'",
                              cust),
                  0);
        printf("ok   %-44s -> 200, change refused: invalid\n", "an edit that sets _deleted");
    }

    /* After all that, the device syncs normally. */
    e2e_update(&dev, "customers", cust, "{\"phone\":\"+49 1\"}");
    int64_t head = e2e_log_head(d);
    e2e_sync(d, &dev);
    ASSERT_EQ(e2e_pending(&dev), 0);
    ASSERT_EQ(e2e_log_head(d), head + 1);
    e2e_pull(d, &other, NULL);
    char *phone = e2e_field(&other, "customers", cust, "phone");
    ASSERT_STREQ(phone, "\"+49 1\"");
    free(phone);
    char *name = e2e_field(&other, "customers", cust, "name");
    ASSERT_STREQ(name, "\"Vorher\"");
    free(name);
    printf("ok   the daemon and the device carry on normally\n");

    e2e_finish(d);
    return 0;
}
