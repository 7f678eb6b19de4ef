/*
 * test_slow_client.c — a slow client is dropped (DESIGN §5 limits; fieldsyncd.conf
 * request_timeout_ms): with request_timeout_ms = 1000, a TLS client that sends
 * its request one byte per second is disconnected within a few seconds of its
 * first byte, while other clients are served meanwhile; a client that sends its
 * request in pieces but whole within the limit is served. The client is a small
 * mbedTLS one (libcurl cannot pace header bytes), pinning the daemon's CA.
 */
#include "e2e_support.h"

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>
#include <poll.h>

typedef struct tls_client {
    mbedtls_net_context net;
    mbedtls_ssl_context ssl;
    mbedtls_ssl_config conf;
    mbedtls_x509_crt ca;
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
} tls_client;

static void tls_open(tls_client *c, e2e_daemon *d)
{
    char port[16];
    snprintf(port, sizeof(port), "%d", d->port);
    mbedtls_net_init(&c->net);
    mbedtls_ssl_init(&c->ssl);
    mbedtls_ssl_config_init(&c->conf);
    mbedtls_x509_crt_init(&c->ca);
    mbedtls_entropy_init(&c->entropy);
    mbedtls_ctr_drbg_init(&c->drbg);
    if (mbedtls_ctr_drbg_seed(&c->drbg, mbedtls_entropy_func, &c->entropy, NULL, 0) != 0 ||
        mbedtls_x509_crt_parse_file(&c->ca, d->ca) != 0 ||
        mbedtls_ssl_config_defaults(&c->conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
                                    MBEDTLS_SSL_PRESET_DEFAULT) != 0)
        FSY_FAIL("mbedTLS client setup failed");
    mbedtls_ssl_conf_min_version(&c->conf, MBEDTLS_SSL_MAJOR_VERSION_3,
                                 MBEDTLS_SSL_MINOR_VERSION_3); /* TLS 1.2 */
    mbedtls_ssl_conf_authmode(&c->conf, MBEDTLS_SSL_VERIFY_REQUIRED);
    mbedtls_ssl_conf_ca_chain(&c->conf, &c->ca, NULL);
    mbedtls_ssl_conf_rng(&c->conf, mbedtls_ctr_drbg_random, &c->drbg);
    if (mbedtls_ssl_setup(&c->ssl, &c->conf) != 0 ||
        mbedtls_ssl_set_hostname(&c->ssl, "localhost") != 0)
        FSY_FAIL("mbedTLS client setup failed");
    if (mbedtls_net_connect(&c->net, "127.0.0.1", port, MBEDTLS_NET_PROTO_TCP) != 0)
        FSY_FAIL("cannot connect to 127.0.0.1:%s", port);
    mbedtls_ssl_set_bio(&c->ssl, &c->net, mbedtls_net_send, mbedtls_net_recv, NULL);
    mbedtls_ssl_conf_read_timeout(&c->conf, 0);
    double deadline = e2e_now() + 10;
    int rc;
    while ((rc = mbedtls_ssl_handshake(&c->ssl)) != 0) {
        if (rc != MBEDTLS_ERR_SSL_WANT_READ && rc != MBEDTLS_ERR_SSL_WANT_WRITE)
            FSY_FAIL("TLS handshake failed: -0x%04x", (unsigned)-rc);
        if (e2e_now() > deadline)
            FSY_FAIL("TLS handshake took over 10 s");
    }
    if (mbedtls_ssl_get_verify_result(&c->ssl) != 0)
        FSY_FAIL("the server certificate did not verify against %s", d->ca);
}

static void tls_close(tls_client *c)
{
    mbedtls_net_free(&c->net);
    mbedtls_ssl_free(&c->ssl);
    mbedtls_ssl_config_free(&c->conf);
    mbedtls_x509_crt_free(&c->ca);
    mbedtls_ctr_drbg_free(&c->drbg);
    mbedtls_entropy_free(&c->entropy);
}

/* Read what has arrived within wait_ms into buf (appending). Returns -1 when the
 * server closed the connection (EOF, close_notify or reset), else the bytes read. */
static int tls_poll_read(tls_client *c, int wait_ms, char *buf, size_t cap, size_t *len)
{
    int got = 0;
    double deadline = e2e_now() + wait_ms / 1000.0;
    for (;;) {
        if (mbedtls_ssl_get_bytes_avail(&c->ssl) == 0) {
            int left = (int)((deadline - e2e_now()) * 1000);
            if (left < 0)
                return got;
            struct pollfd p = {c->net.fd, POLLIN, 0};
            int pr = poll(&p, 1, left);
            if (pr == 0)
                return got;
            if (pr < 0)
                continue;
        }
        char tmp[4096];
        int rc = mbedtls_ssl_read(&c->ssl, (unsigned char *)tmp, sizeof(tmp));
        if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE)
            continue;
        if (rc <= 0)
            return -1; /* 0, close_notify, connection reset, ... */
        size_t room = cap - 1 - *len;
        size_t n = (size_t)rc < room ? (size_t)rc : room;
        memcpy(buf + *len, tmp, n);
        *len += n;
        buf[*len] = '\0';
        got += rc;
    }
}

static int tls_write(tls_client *c, const char *data, size_t len)
{
    size_t off = 0;
    while (off < len) {
        int rc = mbedtls_ssl_write(&c->ssl, (const unsigned char *)data + off, len - off);
        if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE)
            continue;
        if (rc < 0)
            return -1;
        off += (size_t)rc;
    }
    return 0;
}

static const char request[] = "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n";

int main(int argc, char **argv)
{
    e2e_daemon *d = e2e_setup(argc, argv, "slow_client");
    e2e_config_set(d, "request_timeout_ms", "1000");
    e2e_start(d);

    /* A request sent in four pieces within 0.5 s is served. */
    tls_client c;
    char buf[8192];
    size_t len = 0;
    tls_open(&c, d);
    size_t piece = (sizeof(request) - 1 + 3) / 4;
    for (size_t off = 0; off < sizeof(request) - 1; off += piece) {
        size_t n = sizeof(request) - 1 - off < piece ? sizeof(request) - 1 - off : piece;
        ASSERT_EQ(tls_write(&c, request + off, n), 0);
        e2e_sleep_ms(120);
    }
    for (double until = e2e_now() + 5; e2e_now() < until && !strstr(buf, "\"status\":\"ok\"");)
        if (tls_poll_read(&c, 200, buf, sizeof(buf), &len) < 0)
            break;
    ASSERT_CONTAINS(buf, "HTTP/1.1 200");
    ASSERT_CONTAINS(buf, "\"status\":\"ok\"");
    tls_close(&c);
    printf("ok   a request sent in pieces within request_timeout_ms is served\n");

    /* One byte per second: dropped soon after request_timeout_ms. */
    tls_open(&c, d);
    len = 0;
    buf[0] = '\0';
    double first = e2e_now(), closed_at = 0;
    bool served_meanwhile = false;
    for (size_t i = 0; i < sizeof(request) - 1 && !closed_at; i++) {
        if (tls_write(&c, request + i, 1) != 0) {
            closed_at = e2e_now();
            break;
        }
        if (i == 0) {
            /* Another client is served while this one dawdles. */
            double t0 = e2e_now();
            e2e_resp r;
            e2e_get(d, "/healthz", NULL, &r);
            served_meanwhile = r.status == 200 && e2e_now() - t0 < 0.9;
            e2e_resp_free(&r);
        }
        double next = first + (double)(i + 1);
        while (!closed_at && e2e_now() < next) {
            int wait = (int)((next - e2e_now()) * 1000) + 1;
            if (tls_poll_read(&c, wait, buf, sizeof(buf), &len) < 0)
                closed_at = e2e_now();
        }
        if (e2e_now() - first > 8)
            break;
    }
    tls_close(&c);
    ASSERT_TRUE(served_meanwhile);
    if (!closed_at)
        FSY_FAIL("a client sending one byte per second was still connected after %.1f s",
                 e2e_now() - first);
    double took = closed_at - first;
    printf("     dropped %.2f s after its first byte%s%.*s\n", took, len ? "; it was told: " : "",
           (int)strcspn(buf, "\r\n"), buf);
    ASSERT_TRUE(took >= 0.5);
    ASSERT_TRUE(took <= 4.0);
    ASSERT_TRUE(!strstr(buf, "200 OK"));
    if (len)
        ASSERT_CONTAINS(buf, "408");
    printf("ok   a client sending one byte per second is dropped within a few seconds\n");

    /* The drop is counted and the daemon carries on. */
    e2e_resp r;
    e2e_get(d, "/metrics", NULL, &r);
    ASSERT_EQ(r.status, 200);
    ASSERT_TRUE(e2e_metric(r.body, "fieldsync_limit_rejections_total") >= 1);
    e2e_resp_free(&r);
    printf("ok   the drop shows in fieldsync_limit_rejections_total\n");

    e2e_finish(d);
    return 0;
}
