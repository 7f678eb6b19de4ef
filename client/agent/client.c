/*
 * client.c — enrolment and the sync round (client.h). The order matters: push
 * first, so a rep's edits reach the server before a pull can report their rows
 * as gone (DESIGN §4, scope changes); then pull until "more" is false.
 */
#include "client.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PUSH_BATCH 500
#define PULL_BATCH 2000
#define MAX_ROUNDS 100000

static void msg(char *out, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void msg(char *out, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out, n, fmt, ap);
    va_end(ap);
}

int fsy_client_transport(fsy_replica *r, fsy_transport **out, char *err, size_t errlen)
{
    char *url = NULL, *ca = NULL, *pin = NULL;
    *out = NULL;
    if (fsy_replica_config_get(r, FSY_CFG_SERVER, &url) != FSY_OK ||
        fsy_replica_config_get(r, FSY_CFG_CA, &ca) != FSY_OK) {
        msg(err, errlen, "no server configured: run `fieldsync init --server URL --ca FILE`");
        fsy_free(url);
        fsy_free(ca);
        return -1;
    }
    fsy_replica_config_get(r, FSY_CFG_PIN, &pin);
    fsy_transport_opts o = {url, ca, pin, 0, 0, 0, 0};
    int rc = fsy_transport_new(out, &o, err, errlen);
    fsy_free(url);
    fsy_free(ca);
    fsy_free(pin);
    return rc;
}

/* The server's {"error":{"code","message"}} as "code: message". */
static void server_error(const fsy_transport_result *res, char *out, size_t n, bool *wipe)
{
    cJSON *doc = cJSON_Parse(res->body ? res->body : "");
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(doc, "error");
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(e, "code");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(e, "message");
    if (wipe)
        *wipe = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "wipe"));
    if (cJSON_IsString(code))
        msg(out, n, "server said %ld %s: %s", res->status, code->valuestring,
            cJSON_IsString(m) ? m->valuestring : "");
    else
        msg(out, n, "server answered HTTP %ld", res->status);
    cJSON_Delete(doc);
}

int fsy_client_enroll(fsy_replica *r, const char *user, const char *code, char *err, size_t errlen)
{
    fsy_transport *t = NULL;
    fsy_transport_result res;
    int rc = -1;
    if (fsy_client_transport(r, &t, err, errlen) != 0)
        return -1;
    cJSON *req = cJSON_CreateObject();
    cJSON_AddStringToObject(req, "user", user);
    cJSON_AddStringToObject(req, "code", code);
    cJSON_AddStringToObject(req, "app_version", fsy_version());
    char *body = cJSON_PrintUnformatted(req);
    cJSON_Delete(req);
    if (fsy_transport_request(t, "POST", "/v1/enroll", NULL, body, strlen(body), NULL, &res) != 0) {
        msg(err, errlen, "cannot reach the server: %s", res.error);
        goto done;
    }
    if (res.status != 200) {
        server_error(&res, err, errlen, NULL);
        fsy_transport_result_free(&res);
        goto done;
    }
    cJSON *doc = cJSON_Parse(res.body);
    const cJSON *dev = cJSON_GetObjectItemCaseSensitive(doc, "device_id");
    const cJSON *tok = cJSON_GetObjectItemCaseSensitive(doc, "token");
    const cJSON *who = cJSON_GetObjectItemCaseSensitive(doc, "user");
    if (!cJSON_IsString(dev) || !cJSON_IsString(tok) || !cJSON_IsString(who)) {
        msg(err, errlen, "the server's enrolment answer is malformed");
    } else if (fsy_replica_set_identity(r, dev->valuestring, who->valuestring) != FSY_OK ||
               fsy_replica_config_set(r, FSY_CFG_TOKEN, tok->valuestring) != FSY_OK) {
        msg(err, errlen, "%s", fsy_replica_errmsg(r));
    } else {
        rc = 0;
    }
    cJSON_Delete(doc);
    fsy_transport_result_free(&res);
done:
    free(body);
    fsy_transport_free(t);
    return rc;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    timespec_get(&ts, TIME_UTC);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Classify a failed request: network and 5xx/429 are worth retrying, the rest is not. */
static fsy_sync_outcome failed(fsy_replica *r, const fsy_transport_result *res,
                               fsy_sync_report *rep)
{
    bool wipe = false;
    rep->last_status = res->status;
    if (res->status == 0) {
        msg(rep->message, sizeof(rep->message), "offline: %s", res->error);
        return res->is_tls_error ? FSY_SYNC_FAILED : FSY_SYNC_OFFLINE;
    }
    server_error(res, rep->message, sizeof(rep->message), &wipe);
    if (res->status == 401 && wipe) {
        /* Revoke-and-wipe is the one thing that deletes unsynced work (DESIGN §4). */
        if (fsy_replica_wipe(r) != FSY_OK) {
            msg(rep->message, sizeof(rep->message), "revoked, but the wipe failed: %s",
                fsy_replica_errmsg(r));
            return FSY_SYNC_LOCAL;
        }
        fsy_replica_config_set(r, FSY_CFG_TOKEN, NULL);
        return FSY_SYNC_WIPED;
    }
    if (res->status >= 500 || res->status == 429 || res->status == 408)
        return FSY_SYNC_OFFLINE;
    return FSY_SYNC_FAILED;
}

/* What the queue holds, for the supervisor's sync-health view (Fsy-Pending, Fsy-Parked). */
static void queue_headers(fsy_replica *r, char *pending, size_t pn, char *parked, size_t kn)
{
    char *st = NULL;
    long long np = 0, nk = 0;
    if (fsy_sync_status(r, &st) == FSY_OK && st) {
        cJSON *doc = cJSON_Parse(st);
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(doc, "pending");
        const cJSON *k = cJSON_GetObjectItemCaseSensitive(doc, "parked");
        np = cJSON_IsNumber(p) ? (long long)p->valuedouble : 0;
        nk = cJSON_IsNumber(k) ? (long long)k->valuedouble : 0;
        cJSON_Delete(doc);
    }
    fsy_free(st);
    snprintf(pending, pn, "Fsy-Pending: %lld", np);
    snprintf(parked, kn, "Fsy-Parked: %lld", nk);
}

static fsy_sync_outcome sync_round(fsy_replica *r, fsy_transport *t, volatile sig_atomic_t *stop,
                                   fsy_progress_cb progress, void *ud, fsy_sync_report *rep)
{
    char *token = NULL, *body = NULL;
    char clock_hdr[64], app_hdr[64], pending_hdr[48], parked_hdr[48];
    const char *hdrs[] = {clock_hdr, app_hdr, pending_hdr, parked_hdr, NULL};
    fsy_transport_result res;
    fsy_sync_outcome out = FSY_SYNC_DONE;
    size_t len;
    int n;

    if (fsy_replica_config_get(r, FSY_CFG_TOKEN, &token) != FSY_OK) {
        msg(rep->message, sizeof(rep->message), "not enrolled: run `fieldsync enroll USER CODE`");
        return FSY_SYNC_FAILED;
    }
    snprintf(app_hdr, sizeof(app_hdr), "Fsy-App-Version: fieldsync/%s", fsy_version());

    for (int round = 0; round < MAX_ROUNDS; round++) {
        if (stop && *stop) {
            out = FSY_SYNC_STOPPED;
            goto done;
        }
        if (fsy_push_export(r, PUSH_BATCH, 0, &body, &len, &n) != FSY_OK) {
            msg(rep->message, sizeof(rep->message), "%s", fsy_replica_errmsg(r));
            out = FSY_SYNC_LOCAL;
            goto done;
        }
        if (!body)
            break;
        queue_headers(r, pending_hdr, sizeof(pending_hdr), parked_hdr, sizeof(parked_hdr));
        snprintf(clock_hdr, sizeof(clock_hdr), "Fsy-Device-Time: %lld", (long long)wall_ms());
        int rc = fsy_transport_request(t, "POST", "/v1/push", token, body, len, hdrs, &res);
        fsy_free(body);
        body = NULL;
        rep->requests++;
        rep->bytes_up += res.bytes_up;
        rep->bytes_down += res.bytes_down;
        if (rc != 0 || res.status != 200) {
            out = failed(r, &res, rep);
            fsy_transport_result_free(&res);
            goto done;
        }
        if (fsy_push_apply_ack(r, res.body, res.body_len) != FSY_OK) {
            msg(rep->message, sizeof(rep->message), "applying the acknowledgement: %s",
                fsy_replica_errmsg(r));
            fsy_transport_result_free(&res);
            out = FSY_SYNC_LOCAL;
            goto done;
        }
        cJSON *ack = cJSON_Parse(res.body), *it;
        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(ack, "results"))
        {
            rep->changes_up++;
            if (cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(it, "ok")))
                rep->parked++;
        }
        cJSON_Delete(ack);
        fsy_transport_result_free(&res);
        if (progress)
            progress(rep, ud);
    }

    for (int round = 0; round < MAX_ROUNDS; round++) {
        if (stop && *stop) {
            out = FSY_SYNC_STOPPED;
            goto done;
        }
        int64_t cursor = 0;
        char path[96];
        fsy_pull_cursor(r, &cursor);
        snprintf(path, sizeof(path), "/v1/pull?after=%lld&limit=%d", (long long)cursor, PULL_BATCH);
        queue_headers(r, pending_hdr, sizeof(pending_hdr), parked_hdr, sizeof(parked_hdr));
        snprintf(clock_hdr, sizeof(clock_hdr), "Fsy-Device-Time: %lld", (long long)wall_ms());
        int rc = fsy_transport_request(t, "GET", path, token, NULL, 0, hdrs, &res);
        rep->requests++;
        rep->bytes_down += res.bytes_down;
        if (rc != 0 || res.status != 200) {
            out = failed(r, &res, rep);
            fsy_transport_result_free(&res);
            goto done;
        }
        bool more = false;
        if (fsy_pull_apply(r, res.body, res.body_len, &more) != FSY_OK) {
            msg(rep->message, sizeof(rep->message), "applying a pulled batch: %s",
                fsy_replica_errmsg(r));
            fsy_transport_result_free(&res);
            out = FSY_SYNC_LOCAL;
            goto done;
        }
        cJSON *doc = cJSON_Parse(res.body);
        rep->changes_down += cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(doc, "changes"));
        cJSON_Delete(doc);
        fsy_transport_result_free(&res);
        if (progress)
            progress(rep, ud);
        if (!more)
            break;
    }
    msg(rep->message, sizeof(rep->message), "synced: %lld up (%lld refused), %lld down",
        (long long)rep->changes_up, (long long)rep->parked, (long long)rep->changes_down);
done:
    if (token)
        memset(token, 0, strlen(token));
    fsy_free(token);
    return out;
}

fsy_sync_outcome fsy_client_sync(fsy_replica *r, fsy_transport *t, volatile sig_atomic_t *stop,
                                 fsy_progress_cb progress, void *userdata, fsy_sync_report *rep)
{
    memset(rep, 0, sizeof(*rep));
    fsy_sync_outcome out = sync_round(r, t, stop, progress, userdata, rep);
    if (out != FSY_SYNC_WIPED)
        fsy_sync_record(r, out == FSY_SYNC_DONE, out == FSY_SYNC_DONE ? NULL : rep->message);
    return out;
}
