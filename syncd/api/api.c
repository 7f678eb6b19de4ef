/*
 * api.c — routes /v1/enroll, /v1/push, /v1/pull, /healthz and /metrics, and
 * hands /review and /api/review/... to the supervisor review (review/review.c).
 * Every error is JSON {"error":{"code","message"}} with a stable code
 * (docs/protocol.md lists them). Device tokens are random 256-bit values; the
 * store keeps only their SHA-256, so a stolen store cannot impersonate devices.
 */
#include "api.h"
#include "fieldsync.h"
#include "review/review.h"
#include "hlc.h"
#include "schema.h"

#include <inttypes.h>
#include <mbedtls/sha256.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static const double lat_bounds[FSY_LAT_BUCKETS] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                   0.05,   0.1,   0.25,   0.5,   1.0,  2.5};
static const char *const ep_names[FSY_EP_COUNT] = {"healthz", "metrics", "enroll", "push",
                                                   "pull",    "review",  "other"};

void fsy_api_sha256(const void *data, size_t len, unsigned char out[32])
{
    mbedtls_sha256_ret(data, len, out, 0);
}

int fsy_api_random_token(fsy_api *api, char *out, size_t n_bytes)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char buf[64];
    if (n_bytes > sizeof(buf) || mbedtls_ctr_drbg_random(&api->drbg, buf, n_bytes) != 0)
        return FSY_ERROR;
    for (size_t i = 0; i < n_bytes; i++) {
        out[2 * i] = hex[buf[i] >> 4];
        out[2 * i + 1] = hex[buf[i] & 0xf];
    }
    out[2 * n_bytes] = '\0';
    return FSY_OK;
}

int fsy_api_uuid_v7(fsy_api *api, char out[37])
{
    unsigned char rnd[10];
    if (mbedtls_ctr_drbg_random(&api->drbg, rnd, sizeof(rnd)) != 0)
        return FSY_ERROR;
    fsy__uuid_v7_format(fsy_sync_wall_ms(), rnd, out);
    return FSY_OK;
}

int fsy_api_init(fsy_api *api, const fsy_store_ops *ops, void *store, const fsy_sync_limits *lim)
{
    static const char pers[] = "fieldsyncd";
    fsy_sync_limits def = FSY_SYNC_LIMITS_DEFAULT;
    memset(api, 0, sizeof(*api));
    api->sync.ops = ops;
    api->sync.store = store;
    api->sync.lim = lim ? *lim : def;
    api->sync.now_ms = fsy_sync_wall_ms;
    api->is_grouping = ops->version >= 3 && ops->group_begin && ops->group_end;
    mbedtls_entropy_init(&api->entropy);
    mbedtls_ctr_drbg_init(&api->drbg);
    if (mbedtls_ctr_drbg_seed(&api->drbg, mbedtls_entropy_func, &api->entropy,
                              (const unsigned char *)pers, sizeof(pers) - 1) != 0)
        return FSY_ERROR;
    return fsy_review_new(&api->review);
}

void fsy_api_free(fsy_api *api)
{
    fsy_review_free(api->review);
    api->review = NULL;
    mbedtls_ctr_drbg_free(&api->drbg);
    mbedtls_entropy_free(&api->entropy);
}

static void error(fsy_http_response *resp, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void error(fsy_http_response *resp, int status, const char *code, const char *fmt, ...)
{
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fsy__http_response_set_error(resp, status, code, msg);
}

static void json_body(fsy_http_response *resp, int status, char *json)
{
    if (!json) {
        error(resp, 500, "out_of_memory", "out of memory");
        return;
    }
    free(resp->body); /* hand the buffer over: pull bodies can be megabytes */
    resp->status = status;
    resp->content_type = "application/json";
    resp->body = json;
    resp->body_len = strlen(json);
}

static int64_t header_int(const fsy_http_request *req, const char *name)
{
    const char *v = fsy__http_request_header(req, name);
    if (!v)
        return 0;
    char *end = NULL;
    long long n = strtoll(v, &end, 10);
    return end && *end == '\0' && n > 0 ? (int64_t)n : 0;
}

/* A query parameter as an integer; -1 when absent or malformed. */
static int64_t query_int(const char *query, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = query; p && *p;) {
        if (strncmp(p, name, n) == 0 && p[n] == '=') {
            char *end = NULL;
            long long v = strtoll(p + n + 1, &end, 10);
            if (end == p + n + 1 || (*end && *end != '&') || v < 0)
                return -2;
            return v;
        }
        p = strchr(p, '&');
        if (p)
            p++;
    }
    return -1;
}

/* Bearer token -> active device and its user. Revoked devices are told to wipe. */
static bool authenticate(fsy_api *api, const fsy_http_request *req, fsy_http_response *resp,
                         fsy_device *dev, fsy_user *user)
{
    const fsy_store_ops *ops = api->sync.ops;
    const char *auth = req->authorization;
    if (!auth || strncasecmp(auth, "Bearer ", 7) != 0 || strlen(auth + 7) != 64) {
        api->auth_failures++;
        error(resp, 401, "bad_token", "a device token is required: Authorization: Bearer <token>");
        return false;
    }
    unsigned char hash[32];
    fsy_api_sha256(auth + 7, 64, hash);
    int rc = ops->device_by_token(api->sync.store, hash, dev);
    if (rc == FSY_ENOTFOUND) {
        api->auth_failures++;
        error(resp, 401, "bad_token", "unknown device token");
        return false;
    }
    if (rc != FSY_OK) {
        error(resp, 503, "store_unavailable", "%s", ops->errmsg(api->sync.store));
        fsy__http_response_add_header(resp, "Retry-After", "5");
        return false;
    }
    if (dev->revoked_ms) {
        api->auth_failures++;
        char *body = NULL;
        cJSON *doc = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(doc, "error");
        cJSON_AddStringToObject(e, "code", "device_revoked");
        cJSON_AddStringToObject(e, "message",
                                "this device was revoked by an administrator; wipe its replica");
        cJSON_AddTrueToObject(e, "wipe");
        body = cJSON_PrintUnformatted(doc);
        cJSON_Delete(doc);
        json_body(resp, 401, body);
        ops->event_put(api->sync.store, "revoked_device_used", dev->id, req->peer,
                       fsy_sync_wall_ms());
        return false;
    }
    if ((rc = ops->user_get(api->sync.store, dev->user, user)) != FSY_OK) {
        error(resp, 401, "bad_token", "the device's user no longer exists");
        return false;
    }
    const char *app = fsy__http_request_header(req, "Fsy-App-Version");
    if (app)
        snprintf(dev->app_version, sizeof(dev->app_version), "%s", app);
    return true;
}

static void handle_enroll(fsy_api *api, const fsy_http_request *req, fsy_http_response *resp)
{
    const fsy_store_ops *ops = api->sync.ops;
    void *st = api->sync.store;
    cJSON *doc = cJSON_ParseWithLength(req->body, req->body_len);
    const cJSON *user = cJSON_GetObjectItemCaseSensitive(doc, "user");
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(doc, "code");
    char owner[101], token[65];
    fsy_device dev;
    fsy_user u;
    int rc;

    if (!cJSON_IsObject(doc) || !cJSON_IsString(user) || !cJSON_IsString(code) ||
        strlen(code->valuestring) > 64 || strlen(user->valuestring) > 100) {
        error(resp, 400, "bad_request", "enrol with {\"user\": \"...\", \"code\": \"...\"}");
        goto out;
    }
    unsigned char hash[32];
    fsy_api_sha256(code->valuestring, strlen(code->valuestring), hash);
    if ((rc = ops->begin(st)) != FSY_OK)
        goto store_fail;
    rc = ops->code_take(st, hash, fsy_sync_wall_ms(), owner);
    if (rc == FSY_ENOTFOUND || (rc == FSY_OK && strcmp(owner, user->valuestring) != 0)) {
        ops->rollback(st);
        api->auth_failures++;
        /* One message for both: do not confirm which user a code belongs to. */
        error(resp, 403, "bad_enrollment_code",
              "enrolment code is unknown, used, expired or for another user");
        goto out;
    }
    if (rc != FSY_OK || (rc = ops->user_get(st, owner, &u)) != FSY_OK)
        goto store_fail_tx;
    memset(&dev, 0, sizeof(dev));
    if (fsy_api_uuid_v7(api, dev.id) != FSY_OK || fsy_api_random_token(api, token, 32) != FSY_OK) {
        ops->rollback(st);
        error(resp, 500, "rng_failure", "cannot draw random bits");
        goto out;
    }
    snprintf(dev.user, sizeof(dev.user), "%s", owner);
    fsy_api_sha256(token, 64, dev.token_hash);
    dev.created_ms = fsy_sync_wall_ms();
    /* A new device starts at the head of history: its first pull sends its whole scope. */
    const cJSON *app = cJSON_GetObjectItemCaseSensitive(doc, "app_version");
    if (cJSON_IsString(app))
        snprintf(dev.app_version, sizeof(dev.app_version), "%s", app->valuestring);
    if ((rc = ops->device_put(st, &dev)) != FSY_OK || (rc = ops->commit(st)) != FSY_OK)
        goto store_fail_tx;
    api->enrollments++;
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "device_id", dev.id);
    cJSON_AddStringToObject(out, "token", token);
    cJSON_AddStringToObject(out, "user", u.name);
    cJSON_AddStringToObject(out, "role",
                            u.role == FSY_ROLE_ADMIN        ? "admin"
                            : u.role == FSY_ROLE_SUPERVISOR ? "supervisor"
                                                            : "rep");
    cJSON_AddStringToObject(out, "territory", u.territory);
    cJSON_AddNumberToObject(out, "schema", FSY_SCHEMA_VERSION);
    json_body(resp, 200, cJSON_PrintUnformatted(out));
    cJSON_Delete(out);
    memset(token, 0, sizeof(token));
    goto out;
store_fail_tx:
    ops->rollback(st);
store_fail:
    error(resp, 503, "store_unavailable", "%s", ops->errmsg(st));
    fsy__http_response_add_header(resp, "Retry-After", "5");
out:
    cJSON_Delete(doc);
}

static void sync_error(fsy_http_response *resp, const fsy_api_error *e)
{
    fsy__http_response_set_error(resp, e->http ? e->http : 500, e->code ? e->code : "error",
                                 e->message);
    if (e->http == 503)
        fsy__http_response_add_header(resp, "Retry-After", "5");
}

/* Optional Fsy-Pending / Fsy-Parked headers: what the device's queue held when it synced,
 * stored by the push or pull in its own transaction. */
static void take_report(fsy_api *api, const fsy_http_request *req)
{
    api->sync.has_report =
        fsy__http_request_header(req, "Fsy-Pending") || fsy__http_request_header(req, "Fsy-Parked");
    api->sync.report_pending = header_int(req, "Fsy-Pending");
    api->sync.report_parked = header_int(req, "Fsy-Parked");
}

static void handle_push(fsy_api *api, const fsy_http_request *req, fsy_http_response *resp)
{
    fsy_device dev;
    fsy_user u;
    fsy_api_error err = {0};
    char *ack = NULL;
    if (!authenticate(api, req, resp, &dev, &u))
        return;
    char app[41];
    snprintf(app, sizeof(app), "%s", dev.app_version);
    take_report(api, req);
    if (fsy_sync_push(&api->sync, &dev, &u, req->body, req->body_len,
                      header_int(req, "Fsy-Device-Time"), &ack, &err) != FSY_OK) {
        sync_error(resp, &err);
        return;
    }
    json_body(resp, 200, ack);
}

static void handle_pull(fsy_api *api, const fsy_http_request *req, fsy_http_response *resp)
{
    fsy_device dev;
    fsy_user u;
    fsy_api_error err = {0};
    char *out = NULL;
    if (!authenticate(api, req, resp, &dev, &u))
        return;
    int64_t after = query_int(req->query, "after"), limit = query_int(req->query, "limit");
    if (after == -2 || limit == -2 || limit > 1000000) {
        error(resp, 400, "bad_request", "pull takes ?after=<cursor>&limit=<n> (integers)");
        return;
    }
    take_report(api, req);
    if (fsy_sync_pull(&api->sync, &dev, &u, after < 0 ? 0 : after, limit < 0 ? 0 : (int)limit,
                      header_int(req, "Fsy-Device-Time"), &out, &err) != FSY_OK) {
        sync_error(resp, &err);
        return;
    }
    json_body(resp, 200, out);
}

static void handle_healthz(fsy_api *api, fsy_http_response *resp)
{
    char body[160];
    /* A load balancer's health check: the store must answer, not just the process
     * (PostgreSQL may be down while the daemon runs). */
    const fsy_store_ops *ops = api->sync.ops;
    if (ops->begin(api->sync.store) != FSY_OK) {
        error(resp, 503, "store_unavailable", "%s", ops->errmsg(api->sync.store));
        fsy__http_response_add_header(resp, "Retry-After", "5");
        return;
    }
    int64_t q = ops->log_max(api->sync.store);
    ops->rollback(api->sync.store);
    snprintf(body, sizeof(body), "{\"status\":\"ok\",\"store\":\"%s\",\"log_head\":%" PRId64 "}",
             ops->name, q);
    fsy__http_response_set_body(resp, 200, "application/json", body, strlen(body));
}

/* A growable text buffer for the metrics page; an allocation failure truncates it. */
typedef struct tbuf {
    char *data;
    size_t len, cap;
} tbuf;

static void tb_printf(tbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void tb_printf(tbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if (b->len + (size_t)n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap < b->len + (size_t)n + 1)
            cap *= 2;
        char *d = realloc(b->data, cap);
        if (!d)
            return;
        b->data = d;
        b->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

static void metric(tbuf *b, const char *name, const char *type, const char *help)
{
    tb_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void handle_metrics(fsy_api *api, fsy_http_response *resp)
{
    tbuf b = {NULL, 0, 0};
    metric(&b, "fieldsync_requests_total", "counter", "HTTP requests by endpoint.");
    for (int i = 0; i < FSY_EP_COUNT; i++)
        tb_printf(&b, "fieldsync_requests_total{endpoint=\"%s\"} %" PRIu64 "\n", ep_names[i],
                  api->ep[i].requests);
    metric(&b, "fieldsync_request_errors_total", "counter",
           "HTTP responses with status >= 400, by endpoint.");
    for (int i = 0; i < FSY_EP_COUNT; i++)
        tb_printf(&b, "fieldsync_request_errors_total{endpoint=\"%s\"} %" PRIu64 "\n", ep_names[i],
                  api->ep[i].errors);
    metric(&b, "fieldsync_request_duration_seconds", "histogram",
           "Time spent handling a request, by endpoint.");
    for (int i = 0; i < FSY_EP_COUNT; i++) {
        uint64_t cum = 0;
        for (int k = 0; k < FSY_LAT_BUCKETS; k++) {
            cum += api->ep[i].bucket[k];
            tb_printf(&b,
                      "fieldsync_request_duration_seconds_bucket{endpoint=\"%s\",le=\"%g\"}"
                      " %" PRIu64 "\n",
                      ep_names[i], lat_bounds[k], cum);
        }
        tb_printf(&b,
                  "fieldsync_request_duration_seconds_bucket{endpoint=\"%s\",le=\"+Inf\"}"
                  " %" PRIu64 "\n",
                  ep_names[i], api->ep[i].requests);
        tb_printf(&b, "fieldsync_request_duration_seconds_sum{endpoint=\"%s\"} %.6f\n", ep_names[i],
                  api->ep[i].seconds_sum);
        tb_printf(&b, "fieldsync_request_duration_seconds_count{endpoint=\"%s\"} %" PRIu64 "\n",
                  ep_names[i], api->ep[i].requests);
    }
    const fsy_sync_stats *s = &api->sync.stats;
    metric(&b, "fieldsync_changes_applied_total", "counter", "Field changes written by pushes.");
    tb_printf(&b, "fieldsync_changes_applied_total %" PRIu64 "\n", s->changes_applied);
    metric(&b, "fieldsync_conflicts_total", "counter", "Concurrent edits recorded as conflicts.");
    tb_printf(&b, "fieldsync_conflicts_total %" PRIu64 "\n", s->conflicts);
    metric(&b, "fieldsync_rejections_total", "counter", "Changes refused with a reason.");
    tb_printf(&b, "fieldsync_rejections_total %" PRIu64 "\n", s->rejections);
    metric(&b, "fieldsync_clock_bounded_total", "counter",
           "Changes whose clock was bounded to server time.");
    tb_printf(&b, "fieldsync_clock_bounded_total %" PRIu64 "\n", s->clock_clamps);
    metric(&b, "fieldsync_security_events_total", "counter", "Security events logged.");
    tb_printf(&b, "fieldsync_security_events_total %" PRIu64 "\n", s->security_events);
    metric(&b, "fieldsync_auth_failures_total", "counter", "Refused tokens and enrolment codes.");
    tb_printf(&b, "fieldsync_auth_failures_total %" PRIu64 "\n", api->auth_failures);
    metric(&b, "fieldsync_group_commits_total", "counter",
           "Store commits, each shared by one batch of requests.");
    tb_printf(&b, "fieldsync_group_commits_total %" PRIu64 "\n", api->group_commits);
    metric(&b, "fieldsync_group_commit_failures_total", "counter",
           "Group commits that failed; every request in them got 503.");
    tb_printf(&b, "fieldsync_group_commit_failures_total %" PRIu64 "\n", api->group_failures);
    metric(&b, "fieldsync_enrollments_total", "counter", "Devices enrolled.");
    tb_printf(&b, "fieldsync_enrollments_total %" PRIu64 "\n", api->enrollments);
    metric(&b, "fieldsync_change_log_head", "gauge", "Highest server sequence number.");
    tb_printf(&b, "fieldsync_change_log_head %" PRId64 "\n",
              api->sync.ops->log_max(api->sync.store));
    if (api->net) {
        fsy_net_stats ns;
        fsy__net_server_stats(&ns, api->net);
        metric(&b, "fieldsync_open_connections", "gauge", "Open client connections.");
        tb_printf(&b, "fieldsync_open_connections %" PRIu64 "\n", ns.connections_open);
        metric(&b, "fieldsync_connections_total", "counter", "Accepted connections.");
        tb_printf(&b, "fieldsync_connections_total %" PRIu64 "\n", ns.connections_total);
        metric(&b, "fieldsync_tls_handshake_failures_total", "counter", "Failed TLS handshakes.");
        tb_printf(&b, "fieldsync_tls_handshake_failures_total %" PRIu64 "\n",
                  ns.handshake_failures);
        metric(&b, "fieldsync_limit_rejections_total", "counter",
               "Connections or requests refused by a limit or timeout.");
        tb_printf(&b, "fieldsync_limit_rejections_total %" PRIu64 "\n", ns.limit_rejections);
    }
    fsy__http_response_set_body(resp, 200, "text/plain; version=0.0.4", b.data, b.len);
    free(b.data);
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void fsy_api_handle(const fsy_http_request *req, fsy_http_response *resp, void *userdata)
{
    fsy_api *api = userdata;
    double t0 = mono_s();
    int ep = FSY_EP_OTHER;
    bool get = strcmp(req->method, "GET") == 0, post = strcmp(req->method, "POST") == 0;

    if (strcmp(req->path, "/healthz") == 0)
        ep = FSY_EP_HEALTHZ;
    else if (strcmp(req->path, "/metrics") == 0)
        ep = FSY_EP_METRICS;
    else if (strcmp(req->path, "/v1/enroll") == 0)
        ep = FSY_EP_ENROLL;
    else if (strcmp(req->path, "/v1/push") == 0)
        ep = FSY_EP_PUSH;
    else if (strcmp(req->path, "/v1/pull") == 0)
        ep = FSY_EP_PULL;
    else if (fsy_review_owns(req->path))
        ep = FSY_EP_REVIEW;

    bool want_post = ep == FSY_EP_ENROLL || ep == FSY_EP_PUSH;
    /* Group commit: the requests of one worker batch (syncd/net) share one transaction
     * and one fsync; net holds their responses until fsy_api_batch_end. */
    bool uses_store =
        ep == FSY_EP_ENROLL || ep == FSY_EP_PUSH || ep == FSY_EP_PULL || ep == FSY_EP_REVIEW;
    if (uses_store && api->is_grouping && !api->in_group)
        api->in_group = api->sync.ops->group_begin(api->sync.store) == FSY_OK;
    if (ep == FSY_EP_REVIEW && !api->review)
        error(resp, 503, "review_unavailable", "the review page is not set up");
    else if (ep == FSY_EP_REVIEW)
        fsy_review_handle(api->review, api, req, resp);
    else if (ep == FSY_EP_OTHER)
        error(resp, 404, "not_found", "no such endpoint: %.100s", req->path);
    else if ((want_post && !post) || (!want_post && !get))
        error(resp, 405, "method_not_allowed", "%s takes %s", req->path,
              want_post ? "POST" : "GET");
    else if (ep == FSY_EP_HEALTHZ)
        handle_healthz(api, resp);
    else if (ep == FSY_EP_METRICS)
        handle_metrics(api, resp);
    else if (ep == FSY_EP_ENROLL)
        handle_enroll(api, req, resp);
    else if (ep == FSY_EP_PUSH)
        handle_push(api, req, resp);
    else
        handle_pull(api, req, resp);

    resp->is_deferred = api->in_group;
    double dt = mono_s() - t0;
    fsy_endpoint_stats *st = &api->ep[ep];
    st->requests++;
    st->seconds_sum += dt;
    if (resp->status >= 400)
        st->errors++;
    for (int k = 0; k < FSY_LAT_BUCKETS; k++)
        if (dt <= lat_bounds[k]) {
            st->bucket[k]++;
            break;
        }
    if (api->log_requests)
        fprintf(stderr, "fieldsyncd: %s %s %d %.1f ms %s\n", req->method, req->path, resp->status,
                dt * 1000, req->peer);
}

int fsy_api_batch_end(void *userdata)
{
    fsy_api *api = userdata;
    if (!api->in_group)
        return 0;
    api->in_group = false;
    int rc = api->sync.ops->group_end(api->sync.store, true);
    if (rc != FSY_OK) {
        api->group_failures++;
        fprintf(stderr, "fieldsyncd: error: a group commit failed, its requests get 503: %s\n",
                api->sync.ops->errmsg(api->sync.store));
    } else {
        api->group_commits++;
    }
    return rc;
}
