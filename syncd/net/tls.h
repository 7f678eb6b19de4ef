/*
 * tls.h — the mbedTLS side of fsy_net: one server configuration (TLS 1.2, ECDHE-ECDSA
 * with AES-GCM or ChaCha20-Poly1305 only) shared by every connection, and per-connection
 * contexts that talk to a non-blocking socket through our own BIO callbacks.
 */
#ifndef FSY_NET_TLS_H
#define FSY_NET_TLS_H

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fsy__tls_ctx {
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg; /* used from the loop thread only: no locking */
    mbedtls_x509_crt cert;         /* server chain as loaded from cert_file */
    mbedtls_pk_context key;
    mbedtls_ssl_config conf;
    bool is_init; /* the mbedTLS structs above were initialised */
} fsy__tls_ctx;

/* What the BIO callbacks see: the socket and a count of raw bytes received, which
 * net.c uses to start the request timer at the first byte of a TLS record. */
typedef struct fsy__tls_io {
    int fd;
    uint64_t n_rx; /* raw bytes read from the socket so far */
} fsy__tls_io;

/* Load the PEM chain and EC key, build the server config. Returns FSY_OK, FSY_EINVAL
 * (unreadable or mismatched files, key not EC), FSY_ERROR (RNG seeding); message in err. */
int fsy__tls_ctx_init(fsy__tls_ctx *t, const char *cert_file, const char *key_file, char *err,
                      size_t errlen);
/* NULL-safe; safe on a zeroed struct. */
void fsy__tls_ctx_free(fsy__tls_ctx *t);

/* New server-side session bound to io. Returns FSY_OK, FSY_ENOMEM. */
int fsy__tls_conn_new(mbedtls_ssl_context **out, fsy__tls_ctx *t, fsy__tls_io *io);
/* NULL-safe. */
void fsy__tls_conn_free(mbedtls_ssl_context *ssl);

/* mbedTLS error text, e.g. "SSL - The peer notified us that the connection is going to be
 * closed". */
void fsy__tls_strerror(int ret, char *buf, size_t len);

#endif
