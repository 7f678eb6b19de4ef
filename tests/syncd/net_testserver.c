/*
 * net_testserver.c — a stand-in for fieldsyncd used by tests/syncd/e2e: makes
 * certificates with fsy_pki and serves fsy_net with a handler of test routes. Prints
 * "PORT <n>" on stdout once listening; SIGTERM/SIGINT stop it gracefully (exit 0).
 *
 *   net_testserver pki <dir> [dns-or-ip ...]
 *   net_testserver issue <ca_dir> <out_prefix> <not_before_offset_s> <not_after_offset_s>
 *   net_testserver serve <pki_dir> [--cert F --key F --max-header N --max-body N
 *                        --max-inflated N --max-conns N --handshake-ms N --request-ms N
 *                        --idle-ms N --write-ms N --linger-ms N --shutdown-ms N
 *                        --gzip-min N --verbose]
 *
 * Routes: /echo (method, path, query, body length and CRC-32), /big?n=BYTES (a large,
 * compressible JSON body), /slow?ms=N (sleeps in the handler, then echoes), /held (an
 * echo held for batch_end, the group-commit path; ?fail=1 makes that batch fail), /stats
 * (the net counters and held batches), anything else 404.
 */
#include "net.h"
#include "pki.h"

#include "fieldsync.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <zlib.h>

static fsy_net_server *volatile g_server;
static bool g_batch_fails;        /* a /held?fail=1 request is in the current batch */
static unsigned long g_batches;   /* batch_end calls */
static unsigned long g_batch_err; /* of them, failed */

/* Group commit stand-in: the held responses of one wake-up stand or fall together. */
static int batch_end(void *userdata)
{
    (void)userdata;
    int rc = g_batch_fails ? 1 : 0;
    g_batches++;
    g_batch_err += g_batch_fails;
    g_batch_fails = false;
    return rc;
}

static void on_signal(int sig)
{
    (void)sig;
    fsy__net_server_stop(g_server); /* async-signal-safe by contract */
}

static bool parse_u64(const char *s, unsigned long long *out)
{
    char *end = NULL;

    if (!s || !*s || *s == '-')
        return false;
    errno = 0;
    *out = strtoull(s, &end, 10);
    return errno == 0 && end && *end == '\0';
}

static bool parse_ll(const char *s, long long *out)
{
    char *end = NULL;

    if (!s || !*s)
        return false;
    errno = 0;
    *out = strtoll(s, &end, 10);
    return errno == 0 && end && *end == '\0';
}

/* Value of `key` in a query string "a=1&b=2", as a number; def when absent. */
static unsigned long long query_num(const char *query, const char *key, unsigned long long def)
{
    size_t key_len = strlen(key);
    const char *p = query;

    while (p && *p) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);

        if (len > key_len && strncmp(p, key, key_len) == 0 && p[key_len] == '=') {
            char num[32];
            unsigned long long v;

            snprintf(num, sizeof(num), "%.*s", (int)(len - key_len - 1), p + key_len + 1);
            return parse_u64(num, &v) ? v : def;
        }
        p = amp ? amp + 1 : NULL;
    }
    return def;
}

static void reply_json(fsy_http_response *resp, int status, cJSON *root)
{
    char *json = cJSON_PrintUnformatted(root);

    if (!json || fsy__http_response_set_body(resp, status, NULL, json, strlen(json)) != FSY_OK)
        fsy__http_response_set_error(resp, 500, "internal", "out of memory");
    cJSON_free(json);
    cJSON_Delete(root);
}

static void echo(const fsy_http_request *req, fsy_http_response *resp)
{
    cJSON *o = cJSON_CreateObject();
    char crc[16];

    snprintf(crc, sizeof(crc), "%08lx",
             (unsigned long)crc32(0L, (const Bytef *)req->body, (uInt)req->body_len));
    cJSON_AddStringToObject(o, "method", req->method);
    cJSON_AddStringToObject(o, "path", req->path);
    if (req->query)
        cJSON_AddStringToObject(o, "query", req->query);
    cJSON_AddNumberToObject(o, "body_len", (double)req->body_len);
    cJSON_AddNumberToObject(o, "wire_body_len", (double)req->wire_body_len);
    cJSON_AddStringToObject(o, "body_crc32", crc);
    cJSON_AddBoolToObject(o, "gzipped", req->was_gzipped);
    cJSON_AddStringToObject(o, "peer", req->peer);
    if (req->authorization)
        cJSON_AddStringToObject(o, "authorization", req->authorization);
    reply_json(resp, 200, o);
}

static void big(const fsy_http_request *req, fsy_http_response *resp)
{
    unsigned long long n = query_num(req->query, "n", 100000);
    char *body;
    size_t i;

    if (n < 16 || n > (64ull << 20)) {
        fsy__http_response_set_error(resp, 400, "bad_request", "n must be 16..64 MiB");
        return;
    }
    body = malloc((size_t)n + 1);
    if (!body) {
        fsy__http_response_set_error(resp, 500, "internal", "out of memory");
        return;
    }
    /* {"data":"0123456789abcdef..."}: valid JSON, very compressible. */
    memcpy(body, "{\"data\":\"", 9);
    for (i = 9; i < n - 2; i++)
        body[i] = "0123456789abcdef"[i % 16];
    body[n - 2] = '"';
    body[n - 1] = '}';
    body[n] = '\0';
    resp->status = 200;
    resp->body = body; /* ownership passes to the net layer */
    resp->body_len = (size_t)n;
}

static void stats(fsy_http_response *resp)
{
    fsy_net_stats st;
    cJSON *o = cJSON_CreateObject();

    fsy__net_server_stats(&st, g_server);
#define ADD(f) cJSON_AddNumberToObject(o, #f, (double)st.f)
    ADD(connections_open);
    ADD(connections_total);
    ADD(requests_total);
    ADD(handshake_failures);
    ADD(handshake_timeouts);
    ADD(request_timeouts);
    ADD(idle_closes);
    ADD(write_timeouts);
    ADD(rejected_connections);
    ADD(rejected_tls_required);
    ADD(rejected_header_too_large);
    ADD(rejected_body_too_large);
    ADD(rejected_bad_request);
    ADD(limit_rejections);
#undef ADD
    cJSON_AddNumberToObject(o, "held_batches", (double)g_batches);
    cJSON_AddNumberToObject(o, "held_batches_failed", (double)g_batch_err);
    reply_json(resp, 200, o);
}

static void handle(const fsy_http_request *req, fsy_http_response *resp, void *userdata)
{
    (void)userdata;
    if (strcmp(req->path, "/echo") == 0) {
        echo(req, resp);
    } else if (strcmp(req->path, "/big") == 0) {
        big(req, resp);
    } else if (strcmp(req->path, "/slow") == 0) {
        unsigned long long ms = query_num(req->query, "ms", 1000);
        struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};

        while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
        } /* a SIGTERM lands here: the request must still be answered */
        echo(req, resp);
    } else if (strcmp(req->path, "/held") == 0) {
        if (query_num(req->query, "fail", 0))
            g_batch_fails = true;
        echo(req, resp);
        resp->is_deferred = true;
    } else if (strcmp(req->path, "/stats") == 0) {
        stats(resp);
    } else {
        fsy__http_response_set_error(resp, 404, "not_found", "no such route");
    }
}

static int cmd_pki(int argc, char **argv)
{
    const char *dns[16] = {NULL}, *ips[16] = {NULL};
    size_t n_dns = 0, n_ips = 0;
    char err[256];
    unsigned char bin[16];
    int i;

    for (i = 3; i < argc && n_dns < 15 && n_ips < 15; i++) {
        if (inet_pton(AF_INET, argv[i], bin) == 1 || inet_pton(AF_INET6, argv[i], bin) == 1)
            ips[n_ips++] = argv[i];
        else
            dns[n_dns++] = argv[i];
    }
    if (mkdir(argv[2], 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "pki: cannot create %s: %s\n", argv[2], strerror(errno));
        return 1;
    }
    if (fsy__pki_create(argv[2], dns, ips, err, sizeof(err)) != FSY_OK) {
        fprintf(stderr, "pki: %s\n", err);
        return 1;
    }
    return 0;
}

static int cmd_issue(char **argv)
{
    long long nb, na;
    char err[256];
    int64_t now = (int64_t)time(NULL);

    if (!parse_ll(argv[4], &nb) || !parse_ll(argv[5], &na)) {
        fprintf(stderr, "issue: offsets must be integers (seconds from now)\n");
        return 2;
    }
    if (fsy__pki_issue_server(argv[2], argv[3], NULL, NULL, now + nb, now + na, err, sizeof(err)) !=
        FSY_OK) {
        fprintf(stderr, "issue: %s\n", err);
        return 1;
    }
    return 0;
}

static int cmd_serve(int argc, char **argv)
{
    fsy_net_opts o = FSY_NET_OPTS_INIT;
    fsy_net_server *s = NULL;
    struct sigaction sa;
    char cert[4096], key[4096];
    int i, rc = 1;

    snprintf(cert, sizeof(cert), "%s/%s", argv[2], FSY_PKI_SERVER_CERT);
    snprintf(key, sizeof(key), "%s/%s", argv[2], FSY_PKI_SERVER_KEY);
    o.cert_file = cert;
    o.key_file = key;
    o.handler = handle;
    o.batch_end = batch_end;
    for (i = 3; i < argc; i++) {
        const char *name = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        unsigned long long v = 0;

        if (strcmp(name, "--verbose") == 0) {
            o.is_verbose = true;
            continue;
        }
        if (!val) {
            fprintf(stderr, "serve: %s needs a value\n", name);
            return 2;
        }
        i++;
        if (strcmp(name, "--cert") == 0) {
            snprintf(cert, sizeof(cert), "%s", val);
            continue;
        }
        if (strcmp(name, "--key") == 0) {
            snprintf(key, sizeof(key), "%s", val);
            continue;
        }
        if (!parse_u64(val, &v) || v > 1ull << 40) {
            fprintf(stderr, "serve: %s: not a number: %s\n", name, val);
            return 2;
        }
        if (strcmp(name, "--max-header") == 0)
            o.max_header_bytes = (size_t)v;
        else if (strcmp(name, "--max-body") == 0)
            o.max_body_bytes = (size_t)v;
        else if (strcmp(name, "--max-inflated") == 0)
            o.max_inflated_body_bytes = (size_t)v;
        else if (strcmp(name, "--max-conns") == 0)
            o.max_connections = (int)v;
        else if (strcmp(name, "--handshake-ms") == 0)
            o.handshake_timeout_ms = (int)v;
        else if (strcmp(name, "--request-ms") == 0)
            o.request_timeout_ms = (int)v;
        else if (strcmp(name, "--idle-ms") == 0)
            o.idle_timeout_ms = (int)v;
        else if (strcmp(name, "--write-ms") == 0)
            o.write_timeout_ms = (int)v;
        else if (strcmp(name, "--linger-ms") == 0)
            o.linger_ms = (int)v;
        else if (strcmp(name, "--shutdown-ms") == 0)
            o.shutdown_timeout_ms = (int)v;
        else if (strcmp(name, "--gzip-min") == 0)
            o.gzip_min_bytes = (size_t)v;
        else {
            fprintf(stderr, "serve: unknown option %s\n", name);
            return 2;
        }
    }

    if (fsy__net_server_new(&s) != FSY_OK) {
        fprintf(stderr, "serve: out of memory\n");
        return 1;
    }
    if (fsy__net_server_listen(s, &o) != FSY_OK) {
        fprintf(stderr, "serve: %s\n", fsy__net_server_errmsg(s));
        goto done;
    }
    g_server = s;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal; /* no SA_RESTART: epoll_wait returns EINTR at once */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    printf("PORT %u\n", (unsigned)fsy__net_server_port(s));
    fflush(stdout);
    if (fsy__net_server_run(s) != FSY_OK) {
        fprintf(stderr, "serve: %s\n", fsy__net_server_errmsg(s));
        goto done;
    }
    rc = 0;

done:
    signal(SIGTERM, SIG_DFL); /* the handler must never see a freed server */
    signal(SIGINT, SIG_DFL);
    g_server = NULL;
    fsy__net_server_free(s);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[1], "pki") == 0)
        return cmd_pki(argc, argv);
    if (argc == 6 && strcmp(argv[1], "issue") == 0)
        return cmd_issue(argv);
    if (argc >= 3 && strcmp(argv[1], "serve") == 0)
        return cmd_serve(argc, argv);
    fprintf(stderr,
            "usage: %s pki DIR [NAME...] | issue CA_DIR OUT_PREFIX NB_S NA_S | serve "
            "PKI_DIR [OPTIONS]\n",
            argv[0]);
    return 2;
}
