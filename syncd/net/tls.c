/*
 * tls.c — mbedTLS configuration and BIO for fsy_net. Policy lives here: TLS 1.2 only
 * (mbedTLS 2.28 has no usable 1.3), ECDHE key exchange with an ECDSA certificate and an
 * AEAD cipher, ALPN "http/1.1", no renegotiation. The BIO maps EAGAIN to WANT_READ /
 * WANT_WRITE so every mbedtls_ssl_* call returns instead of blocking the event loop.
 */
#include "tls.h"

#include "fieldsync.h"

#include <errno.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* Forward secrecy (ECDHE), ECDSA certificate, AEAD only. Order: AES-128-GCM first (fast
 * with AES-NI), ChaCha20 for tablets without AES instructions, AES-256-GCM last. */
static const int ciphersuites[] = {
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    0,
};

static const mbedtls_ecp_group_id curves[] = {
    MBEDTLS_ECP_DP_CURVE25519,
    MBEDTLS_ECP_DP_SECP256R1,
    MBEDTLS_ECP_DP_SECP384R1,
    MBEDTLS_ECP_DP_NONE,
};

static const int sig_hashes[] = {MBEDTLS_MD_SHA256, MBEDTLS_MD_SHA384, MBEDTLS_MD_SHA512,
                                 MBEDTLS_MD_NONE};

/* HTTP/1.x only (no h2). A client offering only protocols not listed fails the
 * handshake, so HTTP/1.0 is listed too (curl -0 offers just "http/1.0"). */
static const char *alpn[] = {"http/1.1", "http/1.0", NULL};

static int bio_send(void *ctx, const unsigned char *buf, size_t len)
{
    fsy__tls_io *io = ctx;
    ssize_t n = send(io->fd, buf, len, MSG_NOSIGNAL); /* no SIGPIPE on a closed peer */

    if (n >= 0)
        return (int)n;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        return MBEDTLS_ERR_SSL_WANT_WRITE;
    if (errno == EPIPE || errno == ECONNRESET)
        return MBEDTLS_ERR_NET_CONN_RESET;
    return MBEDTLS_ERR_NET_SEND_FAILED;
}

static int bio_recv(void *ctx, unsigned char *buf, size_t len)
{
    fsy__tls_io *io = ctx;
    ssize_t n = recv(io->fd, buf, len, 0);

    if (n >= 0) {
        io->n_rx += (uint64_t)n;
        return (int)n; /* 0 is end of stream, which mbedTLS reports as CONN_EOF */
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        return MBEDTLS_ERR_SSL_WANT_READ;
    if (errno == ECONNRESET)
        return MBEDTLS_ERR_NET_CONN_RESET;
    return MBEDTLS_ERR_NET_RECV_FAILED;
}

void fsy__tls_strerror(int ret, char *buf, size_t len)
{
    mbedtls_strerror(ret, buf, len);
}

static int tls_fail(char *err, size_t errlen, int code, int ret, const char *what, const char *path)
{
    char detail[160];

    detail[0] = '\0';
    if (ret)
        mbedtls_strerror(ret, detail, sizeof(detail));
    snprintf(err, errlen, "%s%s%s%s%s", what, path ? " " : "", path ? path : "",
             detail[0] ? ": " : "", detail);
    return code;
}

int fsy__tls_ctx_init(fsy__tls_ctx *t, const char *cert_file, const char *key_file, char *err,
                      size_t errlen)
{
    static const char pers[] = "fieldsyncd-tls";
    int ret;

    memset(t, 0, sizeof(*t));
    mbedtls_entropy_init(&t->entropy);
    mbedtls_ctr_drbg_init(&t->drbg);
    mbedtls_x509_crt_init(&t->cert);
    mbedtls_pk_init(&t->key);
    mbedtls_ssl_config_init(&t->conf);
    t->is_init = true;

    ret = mbedtls_ctr_drbg_seed(&t->drbg, mbedtls_entropy_func, &t->entropy,
                                (const unsigned char *)pers, sizeof(pers) - 1);
    if (ret != 0)
        return tls_fail(err, errlen, FSY_ERROR, ret, "cannot seed the TLS RNG", NULL);
    ret = mbedtls_x509_crt_parse_file(&t->cert, cert_file);
    if (ret != 0) /* > 0: some certificates in the file did not parse */
        return tls_fail(err, errlen, FSY_EINVAL, ret < 0 ? ret : 0,
                        "cannot load server certificate", cert_file);
    ret = mbedtls_pk_parse_keyfile(&t->key, key_file, NULL);
    if (ret != 0)
        return tls_fail(err, errlen, FSY_EINVAL, ret, "cannot load server key", key_file);
    if (!mbedtls_pk_can_do(&t->key, MBEDTLS_PK_ECKEY))
        return tls_fail(err, errlen, FSY_EINVAL, 0,
                        "server key must be an EC key (only ECDSA suites are offered):", key_file);
    ret = mbedtls_pk_check_pair(&t->cert.pk, &t->key);
    if (ret != 0)
        return tls_fail(err, errlen, FSY_EINVAL, ret, "server key does not match certificate",
                        cert_file);

    ret = mbedtls_ssl_config_defaults(&t->conf, MBEDTLS_SSL_IS_SERVER, MBEDTLS_SSL_TRANSPORT_STREAM,
                                      MBEDTLS_SSL_PRESET_DEFAULT);
    if (ret != 0)
        return tls_fail(err, errlen, FSY_ERROR, ret, "cannot set TLS defaults", NULL);
    mbedtls_ssl_conf_rng(&t->conf, mbedtls_ctr_drbg_random, &t->drbg);
    mbedtls_ssl_conf_min_version(&t->conf, MBEDTLS_SSL_MAJOR_VERSION_3,
                                 MBEDTLS_SSL_MINOR_VERSION_3);
    mbedtls_ssl_conf_max_version(&t->conf, MBEDTLS_SSL_MAJOR_VERSION_3,
                                 MBEDTLS_SSL_MINOR_VERSION_3);
    mbedtls_ssl_conf_ciphersuites(&t->conf, ciphersuites);
    mbedtls_ssl_conf_curves(&t->conf, curves);
    mbedtls_ssl_conf_sig_hashes(&t->conf, sig_hashes);
    mbedtls_ssl_conf_renegotiation(&t->conf, MBEDTLS_SSL_RENEGOTIATION_DISABLED);
    ret = mbedtls_ssl_conf_alpn_protocols(&t->conf, alpn);
    if (ret == 0)
        ret = mbedtls_ssl_conf_own_cert(&t->conf, &t->cert, &t->key);
    if (ret != 0)
        return tls_fail(err, errlen, FSY_ERROR, ret, "cannot configure TLS", NULL);
    return FSY_OK;
}

void fsy__tls_ctx_free(fsy__tls_ctx *t)
{
    if (!t || !t->is_init)
        return;
    mbedtls_ssl_config_free(&t->conf);
    mbedtls_pk_free(&t->key);
    mbedtls_x509_crt_free(&t->cert);
    mbedtls_ctr_drbg_free(&t->drbg);
    mbedtls_entropy_free(&t->entropy);
    t->is_init = false;
}

int fsy__tls_conn_new(mbedtls_ssl_context **out, fsy__tls_ctx *t, fsy__tls_io *io)
{
    mbedtls_ssl_context *ssl = malloc(sizeof(*ssl));

    *out = NULL;
    if (!ssl)
        return FSY_ENOMEM;
    mbedtls_ssl_init(ssl);
    /* Fails only for lack of memory (the record buffers, ~33 KiB). */
    if (mbedtls_ssl_setup(ssl, &t->conf) != 0) {
        mbedtls_ssl_free(ssl);
        free(ssl);
        return FSY_ENOMEM;
    }
    mbedtls_ssl_set_bio(ssl, io, bio_send, bio_recv, NULL);
    *out = ssl;
    return FSY_OK;
}

void fsy__tls_conn_free(mbedtls_ssl_context *ssl)
{
    if (!ssl)
        return;
    mbedtls_ssl_free(ssl);
    free(ssl);
}
