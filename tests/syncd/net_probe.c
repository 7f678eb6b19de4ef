/*
 * net_probe.c — a small mbedTLS client for the fsy_net e2e tests, for what curl cannot
 * do: hold many idle TLS connections, send a request one byte (one TLS record) per
 * interval, dawdle in the handshake, pipeline requests in one write, stop half-way
 * through a body until told to go on. Every mode has its own upper time bound.
 *
 *   net_probe hold     PORT CAFILE N HOLD_MS         -> "READY ok=A failed=B", then holds
 *   net_probe slow     PORT CAFILE INTERVAL_MS MAX_MS -> "dropped_after_ms=T status=S"
 *   net_probe slowhs   PORT INTERVAL_MS MAX_MS        -> "dropped_after_ms=T"
 *   net_probe idle     PORT CAFILE MAX_MS             -> "closed_after_ms=T"
 *   net_probe pipeline PORT CAFILE N                  -> "responses=N in_order=1"
 *   net_probe partial  PORT CAFILE GO_FILE            -> "PARTIAL", waits for GO_FILE,
 *                                                        then "status=S body_len=L"
 *   net_probe noread   PORT CAFILE PATH HOLD_MS       -> "SENT": GET PATH, then never reads
 *   net_probe heldreset PORT CAFILE N MS              -> "answered=1": N connections with
 *                                                        a /slow?ms=MS request each, closed
 *                                                        or reset while it is held or as it
 *                                                        is answered; then a request on a
 *                                                        new connection
 *   net_probe heldpipe PORT CAFILE MS                 -> "responses=2 in_order=1": GET
 *                                                        /slow?ms=MS, and a second request
 *                                                        on the same connection while the
 *                                                        first is with the handler
 * Exit 0 when the observation matches the mode's expectation, 1 otherwise.
 */
#include <errno.h>
#include <http_parser.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static mbedtls_entropy_context entropy;
static mbedtls_ctr_drbg_context drbg;
static mbedtls_x509_crt ca;
static mbedtls_ssl_config conf;

typedef struct client {
    mbedtls_net_context net;
    mbedtls_ssl_context ssl;
    bool has_ssl;
} client;

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static bool parse_int(const char *s, int *out)
{
    char *end = NULL;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || !end || *end || v < 0 || v > 100000000)
        return false;
    *out = (int)v;
    return true;
}

static void die_mbed(const char *what, int ret)
{
    char buf[160];

    mbedtls_strerror(ret, buf, sizeof(buf));
    fprintf(stderr, "net_probe: %s: %s\n", what, buf);
    exit(1);
}

/* TLS 1.2 client trusting only cafile; reads give up after read_timeout_ms. */
static void setup(const char *cafile, uint32_t read_timeout_ms)
{
    int ret;

    mbedtls_entropy_init(&entropy);
    mbedtls_ctr_drbg_init(&drbg);
    mbedtls_x509_crt_init(&ca);
    mbedtls_ssl_config_init(&conf);
    ret = mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy, NULL, 0);
    if (ret)
        die_mbed("seed", ret);
    if (cafile && (ret = mbedtls_x509_crt_parse_file(&ca, cafile)) != 0)
        die_mbed(cafile, ret);
    ret = mbedtls_ssl_config_defaults(&conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
                                      MBEDTLS_SSL_PRESET_DEFAULT);
    if (ret)
        die_mbed("config", ret);
    mbedtls_ssl_conf_authmode(&conf, MBEDTLS_SSL_VERIFY_REQUIRED);
    mbedtls_ssl_conf_ca_chain(&conf, &ca, NULL);
    mbedtls_ssl_conf_rng(&conf, mbedtls_ctr_drbg_random, &drbg);
    mbedtls_ssl_conf_read_timeout(&conf, read_timeout_ms);
}

/* Connect and (when do_tls) handshake. Returns 0 or an mbedTLS error. */
static int client_open(client *c, const char *port, bool do_tls)
{
    int ret, one = 1;

    memset(c, 0, sizeof(*c));
    mbedtls_net_init(&c->net);
    ret = mbedtls_net_connect(&c->net, "127.0.0.1", port, MBEDTLS_NET_PROTO_TCP);
    if (ret || !do_tls)
        return ret;
    /* mbedTLS writes each handshake message on its own; without this, Nagle and delayed
     * ACKs add ~40 ms to every handshake. */
    setsockopt(c->net.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    mbedtls_ssl_init(&c->ssl);
    c->has_ssl = true;
    ret = mbedtls_ssl_setup(&c->ssl, &conf);
    if (ret == 0)
        ret = mbedtls_ssl_set_hostname(&c->ssl, "localhost");
    if (ret)
        return ret;
    mbedtls_ssl_set_bio(&c->ssl, &c->net, mbedtls_net_send, mbedtls_net_recv,
                        mbedtls_net_recv_timeout);
    while ((ret = mbedtls_ssl_handshake(&c->ssl)) != 0)
        if (ret != MBEDTLS_ERR_SSL_WANT_READ && ret != MBEDTLS_ERR_SSL_WANT_WRITE)
            return ret;
    return 0;
}

static void client_close(client *c)
{
    if (c->has_ssl)
        mbedtls_ssl_free(&c->ssl);
    c->has_ssl = false;
    mbedtls_net_free(&c->net);
}

static int write_all(client *c, const char *data, size_t len)
{
    while (len > 0) {
        int n = mbedtls_ssl_write(&c->ssl, (const unsigned char *)data, len);

        if (n == MBEDTLS_ERR_SSL_WANT_READ || n == MBEDTLS_ERR_SSL_WANT_WRITE)
            continue;
        if (n < 0)
            return n;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* A read that ended the connection (as opposed to a timeout or data). */
static bool is_closed(int ret)
{
    return ret == 0 || (ret < 0 && ret != MBEDTLS_ERR_SSL_TIMEOUT &&
                        ret != MBEDTLS_ERR_SSL_WANT_READ && ret != MBEDTLS_ERR_SSL_WANT_WRITE);
}

static int status_of(const char *resp)
{
    int status = 0;

    if (strncmp(resp, "HTTP/1.1 ", 9) == 0)
        status = (resp[9] - '0') * 100 + (resp[10] - '0') * 10 + (resp[11] - '0');
    return status;
}

static int cmd_hold(const char *port, int n, int hold_ms)
{
    client *cs = calloc((size_t)n, sizeof(*cs));
    int i, ok = 0, failed = 0;

    if (!cs)
        return 1;
    for (i = 0; i < n; i++) {
        int ret = client_open(&cs[i], port, true);

        if (cs[i].has_ssl) { /* keep only the socket: an idle TLS peer needs no state */
            mbedtls_ssl_free(&cs[i].ssl);
            cs[i].has_ssl = false;
        }
        if (ret == 0) {
            ok++;
        } else {
            failed++;
            client_close(&cs[i]);
        }
    }
    printf("READY ok=%d failed=%d\n", ok, failed);
    fflush(stdout);
    sleep_ms(hold_ms);
    for (i = 0; i < n; i++)
        client_close(&cs[i]);
    free(cs);
    return 0;
}

/* The pause between bytes is the read timeout set up in main (interval_ms). */
static int cmd_slow(const char *port, int max_ms)
{
    static const char req[] = "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 20\r\n\r\n"
                              "01234567890123456789";
    char resp[4096] = "";
    size_t resp_len = 0, i = 0;
    client c;
    int64_t start;
    int ret = client_open(&c, port, true);

    if (ret)
        die_mbed("connect/handshake", ret);
    start = now_ms();
    for (;;) {
        if (now_ms() - start > max_ms) {
            printf("not_dropped after %d ms (%zu bytes sent)\n", max_ms, i);
            return 1;
        }
        if (i < sizeof(req) - 1) {
            ret = mbedtls_ssl_write(&c.ssl, (const unsigned char *)req + i, 1);
            if (ret < 0 && ret != MBEDTLS_ERR_SSL_WANT_WRITE)
                break; /* the server is gone */
            if (ret == 1)
                i++;
        }
        ret =
            mbedtls_ssl_read(&c.ssl, (unsigned char *)resp + resp_len, sizeof(resp) - 1 - resp_len);
        if (ret > 0) {
            resp_len += (size_t)ret;
            resp[resp_len] = '\0';
            continue;
        }
        if (is_closed(ret))
            break;
    }
    printf("dropped_after_ms=%lld status=%d bytes_sent=%zu\n", (long long)(now_ms() - start),
           status_of(resp), i);
    client_close(&c);
    return i < sizeof(req) - 1 ? 0 : 1; /* dropped before the request was complete */
}

static int cmd_slowhs(const char *port, int interval_ms, int max_ms)
{
    /* The start of a TLS 1.2 ClientHello record, then filler, dribbled out. */
    static const unsigned char hello[] = {0x16, 0x03, 0x01, 0x00, 0xc8, 0x01, 0x00, 0x00, 0xc4,
                                          0x03, 0x03, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77};
    client c;
    unsigned char buf[256];
    size_t i = 0;
    int64_t start;
    int ret = client_open(&c, port, false);

    if (ret)
        die_mbed("connect", ret);
    start = now_ms();
    for (;;) {
        if (now_ms() - start > max_ms) {
            printf("not_dropped after %d ms\n", max_ms);
            return 1;
        }
        ret = mbedtls_net_send(&c.net, hello + (i % sizeof(hello)), 1);
        if (ret < 0)
            break;
        i++;
        ret = mbedtls_net_recv_timeout(&c.net, buf, sizeof(buf), (uint32_t)interval_ms);
        if (ret == MBEDTLS_ERR_SSL_TIMEOUT)
            continue;
        if (ret <= 0)
            break; /* closed or reset */
    }
    printf("dropped_after_ms=%lld bytes_sent=%zu\n", (long long)(now_ms() - start), i);
    client_close(&c);
    return 0;
}

static int cmd_idle(const char *port, int max_ms)
{
    client c;
    unsigned char buf[256];
    int64_t start;
    int ret = client_open(&c, port, true);

    if (ret)
        die_mbed("connect/handshake", ret);
    start = now_ms();
    do {
        ret = mbedtls_ssl_read(&c.ssl, buf, sizeof(buf));
    } while (ret > 0 || ret == MBEDTLS_ERR_SSL_WANT_READ ||
             (ret == MBEDTLS_ERR_SSL_TIMEOUT && now_ms() - start < max_ms));
    if (ret == MBEDTLS_ERR_SSL_TIMEOUT) {
        printf("still_open after %d ms\n", max_ms);
        return 1;
    }
    printf("closed_after_ms=%lld\n", (long long)(now_ms() - start));
    client_close(&c);
    return 0;
}

/* Response counting for pipelining: http-parser in response mode. */
typedef struct resp_count {
    int n_done;
    int next_expected;
    bool is_in_order;
    char body[512];
    size_t body_len;
} resp_count;

static int on_resp_body(http_parser *p, const char *at, size_t len)
{
    resp_count *rc = p->data;

    if (rc->body_len + len < sizeof(rc->body)) {
        memcpy(rc->body + rc->body_len, at, len);
        rc->body_len += len;
        rc->body[rc->body_len] = '\0';
    }
    return 0;
}

static int on_resp_done(http_parser *p)
{
    resp_count *rc = p->data;
    char want[32];

    snprintf(want, sizeof(want), "\"query\":\"i=%d\"", rc->next_expected);
    if (p->status_code != 200 || !strstr(rc->body, want))
        rc->is_in_order = false;
    rc->next_expected++;
    rc->n_done++;
    rc->body_len = 0;
    rc->body[0] = '\0';
    return 0;
}

/* Answers to GET /echo?i=0, i=1, ... in that order. */
static const http_parser_settings echo_settings = {.on_body = on_resp_body,
                                                   .on_message_complete = on_resp_done};

/* Feed what arrives on c to a response parser until n responses are complete, the
 * connection ends, or max_ms pass. */
static void read_responses(client *c, const http_parser_settings *settings, resp_count *rc, int n,
                           int max_ms)
{
    http_parser parser;
    int64_t start = now_ms();

    http_parser_init(&parser, HTTP_RESPONSE);
    parser.data = rc;
    while (rc->n_done < n && now_ms() - start < max_ms) {
        unsigned char buf[4096];
        int ret = mbedtls_ssl_read(&c->ssl, buf, sizeof(buf));

        if (ret == MBEDTLS_ERR_SSL_WANT_READ)
            continue;
        if (ret <= 0)
            break;
        if (http_parser_execute(&parser, settings, (const char *)buf, (size_t)ret) != (size_t)ret)
            break;
    }
}

static int cmd_pipeline(const char *port, int n)
{
    char *reqs = malloc((size_t)n * 64 + 1);
    size_t len = 0;
    resp_count rc = {0, 0, true, "", 0};
    client c;
    int i, ret;

    if (!reqs)
        return 1;
    for (i = 0; i < n; i++)
        len += (size_t)snprintf(reqs + len, 64, "GET /echo?i=%d HTTP/1.1\r\nHost: x\r\n\r\n", i);
    ret = client_open(&c, port, true);
    if (ret)
        die_mbed("connect/handshake", ret);
    ret = write_all(&c, reqs, len); /* all requests before reading any response */
    free(reqs);
    if (ret)
        die_mbed("write", ret);
    read_responses(&c, &echo_settings, &rc, n, 60000); /* the read timeout ends it first */
    printf("responses=%d in_order=%d\n", rc.n_done, rc.is_in_order ? 1 : 0);
    client_close(&c);
    return rc.n_done == n && rc.is_in_order ? 0 : 1;
}

static int cmd_partial(const char *port, const char *go_file)
{
    static const char head[] = "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\n"
                               "\r\n01234";
    char resp[4096] = "";
    size_t resp_len = 0;
    int64_t start;
    client c;
    int ret = client_open(&c, port, true);

    if (ret)
        die_mbed("connect/handshake", ret);
    if ((ret = write_all(&c, head, sizeof(head) - 1)) != 0)
        die_mbed("write", ret);
    printf("PARTIAL\n");
    fflush(stdout);
    start = now_ms();
    while (access(go_file, F_OK) != 0) {
        if (now_ms() - start > 10000) {
            printf("no go signal\n");
            return 1;
        }
        sleep_ms(20);
    }
    if ((ret = write_all(&c, "56789", 5)) != 0)
        die_mbed("write rest", ret);
    for (;;) {
        ret =
            mbedtls_ssl_read(&c.ssl, (unsigned char *)resp + resp_len, sizeof(resp) - 1 - resp_len);
        if (ret > 0) {
            resp_len += (size_t)ret;
            resp[resp_len] = '\0';
            continue;
        }
        if (is_closed(ret) || now_ms() - start > 15000)
            break;
    }
    printf("status=%d body_len_10=%d close=%d\n", status_of(resp),
           strstr(resp, "\"body_len\":10") ? 1 : 0, strstr(resp, "Connection: close") ? 1 : 0);
    client_close(&c);
    return status_of(resp) == 200 ? 0 : 1;
}

/* heldpipe: each answer's path, in arrival order. */
static int on_held_done(http_parser *p)
{
    resp_count *rc = p->data;
    static const char *const want[] = {"\"path\":\"/slow\"", "\"query\":\"i=1\""};

    if (p->status_code != 200 || rc->n_done > 1 || !strstr(rc->body, want[rc->n_done]))
        rc->is_in_order = false;
    rc->n_done++;
    rc->body_len = 0;
    rc->body[0] = '\0';
    return 0;
}

/* A second request arrives while the first is with the worker thread: the server must
 * neither lose it nor spin on its readable socket, and answer both in order. */
static int cmd_heldpipe(const char *port, int ms)
{
    static const http_parser_settings settings = {.on_body = on_resp_body,
                                                  .on_message_complete = on_held_done};
    static const char second[] = "GET /echo?i=1 HTTP/1.1\r\nHost: x\r\n\r\n";
    char first[128];
    resp_count rc = {0, 0, true, "", 0};
    client c;
    int ret, n;

    n = snprintf(first, sizeof(first), "GET /slow?ms=%d HTTP/1.1\r\nHost: x\r\n\r\n", ms);
    if ((ret = client_open(&c, port, true)) != 0)
        die_mbed("connect/handshake", ret);
    if ((ret = write_all(&c, first, (size_t)n)) != 0)
        die_mbed("write", ret);
    sleep_ms(ms / 4); /* the first request is in the handler now */
    if ((ret = write_all(&c, second, sizeof(second) - 1)) != 0)
        die_mbed("write", ret);
    read_responses(&c, &settings, &rc, 2, 10000 + ms);
    printf("responses=%d in_order=%d\n", rc.n_done, rc.is_in_order ? 1 : 0);
    client_close(&c);
    return rc.n_done == 2 && rc.is_in_order ? 0 : 1;
}

/* Clients that vanish (a tablet losing signal, a killed app) while their request is
 * with the worker, some before and some just as it is answered: the server must neither
 * spin on their sockets nor touch a connection it has already closed. */
static int cmd_heldreset(const char *port, int n, int ms)
{
    static const char echo[] = "GET /echo?i=0 HTTP/1.1\r\nHost: x\r\n\r\n";
    char req[128];
    resp_count rc = {0, 0, true, "", 0};
    client c;
    int i, ret;

    for (i = 0; i < n; i++) {
        struct linger lg = {1, 0};
        int len = snprintf(req, sizeof(req), "GET /slow?ms=%d HTTP/1.1\r\nHost: x\r\n\r\n", ms);

        if ((ret = client_open(&c, port, true)) != 0)
            die_mbed("connect/handshake", ret);
        if ((ret = write_all(&c, req, (size_t)len)) != 0)
            die_mbed("write", ret);
        /* One client: it resets a quarter of the way into its request. Several: each
         * leaves somewhere around the time its answer is due, every other one with a
         * reset instead of a close, as a killed app's kernel may. */
        sleep_ms(n == 1 ? ms / 4 : ms / 2 + (i * 7) % (ms + 1));
        if (n == 1 || i % 2)
            setsockopt(c.net.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        client_close(&c);
    }
    if (n == 1)
        sleep_ms(ms); /* the answer meets the reset socket meanwhile */
    if ((ret = client_open(&c, port, true)) != 0)
        die_mbed("connect/handshake after the resets", ret);
    if ((ret = write_all(&c, echo, sizeof(echo) - 1)) != 0)
        die_mbed("write", ret);
    read_responses(&c, &echo_settings, &rc, 1, 10000);
    client_close(&c);
    printf("answered=%d\n", rc.n_done == 1 && rc.is_in_order ? 1 : 0);
    return rc.n_done == 1 && rc.is_in_order ? 0 : 1;
}

/* A client that asks for a large response and then stops reading. */
static int cmd_noread(const char *port, const char *path, int hold_ms)
{
    char req[512];
    client c;
    int n, ret = client_open(&c, port, true);

    if (ret)
        die_mbed("connect/handshake", ret);
    n = snprintf(req, sizeof(req), "GET %.400s HTTP/1.1\r\nHost: localhost\r\n\r\n", path);
    if ((ret = write_all(&c, req, (size_t)n)) != 0)
        die_mbed("write", ret);
    printf("SENT\n");
    fflush(stdout);
    sleep_ms(hold_ms);
    client_close(&c);
    return 0;
}

int main(int argc, char **argv)
{
    int a = 0, b = 0;

    signal(SIGPIPE, SIG_IGN); /* a server that hangs up is an outcome, not a crash */
    if (argc == 6 && strcmp(argv[1], "hold") == 0 && parse_int(argv[4], &a) &&
        parse_int(argv[5], &b)) {
        setup(argv[3], 10000);
        return cmd_hold(argv[2], a, b);
    }
    if (argc == 6 && strcmp(argv[1], "slow") == 0 && parse_int(argv[4], &a) &&
        parse_int(argv[5], &b)) {
        setup(argv[3], (uint32_t)a);
        return cmd_slow(argv[2], b);
    }
    if (argc == 5 && strcmp(argv[1], "slowhs") == 0 && parse_int(argv[3], &a) &&
        parse_int(argv[4], &b)) {
        setup(NULL, (uint32_t)a);
        return cmd_slowhs(argv[2], a, b);
    }
    if (argc == 5 && strcmp(argv[1], "idle") == 0 && parse_int(argv[4], &a)) {
        setup(argv[3], 200);
        return cmd_idle(argv[2], a);
    }
    if (argc == 5 && strcmp(argv[1], "pipeline") == 0 && parse_int(argv[4], &a) && a > 0) {
        setup(argv[3], 10000);
        return cmd_pipeline(argv[2], a);
    }
    if (argc == 5 && strcmp(argv[1], "partial") == 0) {
        setup(argv[3], 200);
        return cmd_partial(argv[2], argv[4]);
    }
    if (argc == 6 && strcmp(argv[1], "noread") == 0 && parse_int(argv[5], &a)) {
        setup(argv[3], 1000);
        return cmd_noread(argv[2], argv[4], a);
    }
    if (argc == 6 && strcmp(argv[1], "heldreset") == 0 && parse_int(argv[4], &a) && a > 0 &&
        parse_int(argv[5], &b) && b > 0) {
        setup(argv[3], 10000);
        return cmd_heldreset(argv[2], a, b);
    }
    if (argc == 5 && strcmp(argv[1], "heldpipe") == 0 && parse_int(argv[4], &a) && a > 0) {
        setup(argv[3], 10000);
        return cmd_heldpipe(argv[2], a);
    }
    fprintf(stderr, "usage: see the comment at the top of net_probe.c\n");
    return 2;
}
