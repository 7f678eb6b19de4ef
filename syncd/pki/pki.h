/*
 * pki.h — certificates for fieldsyncd, made with mbedTLS: `fieldsyncd init` creates a
 * private CA (the certificate tablets pin) and a server certificate signed by it; the
 * issue function re-issues or test-issues server certificates with chosen validity.
 */
#ifndef FSY_PKI_H
#define FSY_PKI_H

#include <stddef.h>
#include <stdint.h>

/* File names inside the data directory. */
#define FSY_PKI_CA_KEY      "ca.key"
#define FSY_PKI_CA_CERT     "ca.crt"
#define FSY_PKI_SERVER_KEY  "server.key"
#define FSY_PKI_SERVER_CERT "server.crt"

/* Validity. The CA outlives many server certificates, so tablets keep their pin across
 * server renewals; notBefore is back-dated for devices whose clocks run behind. */
#define FSY_PKI_CA_DAYS       3650
#define FSY_PKI_SERVER_DAYS   730
#define FSY_PKI_BACKDATE_SECS (24 * 3600)

/**
 * Create an EC P-256 CA (ca.key, ca.crt: CA:TRUE, pathlen 0, keyCertSign) and a P-256
 * server certificate (server.key, server.crt: serverAuth, SAN DNS:localhost,
 * IP:127.0.0.1 plus the names given) in `dir`, which must exist. Keys are mode 0600,
 * certificates 0644; each file is written to a temporary name and renamed.
 *
 * @param dir        existing directory
 * @param dns_names  extra DNS names, NULL-terminated list, or NULL
 * @param ips        extra IPv4/IPv6 addresses in text form, NULL-terminated, or NULL
 * @param err        receives a one-line message on failure
 * @return FSY_OK, FSY_EINVAL (bad name or address, a CA already exists in dir: it is
 *         never replaced because devices pin it), FSY_ERROR (I/O, crypto), FSY_ENOMEM.
 * Thread-safe: yes.
 */
int fsy__pki_create(const char *dir, const char *const *dns_names, const char *const *ips,
                    char *err, size_t errlen);

/**
 * Issue a server key and certificate signed by the CA in `ca_dir`, valid from
 * not_before to not_after (Unix seconds, UTC), written to <out_prefix>.key and
 * <out_prefix>.crt (replacing them). For renewals and for tests that need a
 * short-lived or already expired certificate. SAN as for fsy__pki_create.
 * @return FSY_OK, FSY_EINVAL (bad names, not_after <= not_before, no CA), FSY_ERROR,
 *         FSY_ENOMEM.
 * Thread-safe: yes.
 */
int fsy__pki_issue_server(const char *ca_dir, const char *out_prefix, const char *const *dns_names,
                          const char *const *ips, int64_t not_before, int64_t not_after, char *err,
                          size_t errlen);

#endif
