/*
 * transport.h — the rep client's HTTPS transport: libcurl with the daemon's CA
 * pinned (nothing else trusted), optionally its public key too, TLS 1.2+, gzip
 * both ways, connect and transfer timeouts, and one kept-alive connection reused
 * across the requests of a sync. The only libcurl user in the tree.
 */
#ifndef FSY_TRANSPORT_H
#define FSY_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fsy_transport fsy_transport;

typedef struct fsy_transport_opts {
    const char *base_url;      /* "https://host:port", no trailing slash; copied */
    const char *ca_file;       /* PEM of the daemon's CA: the only trusted root; copied */
    const char *pinned_pubkey; /* optional "sha256//base64" of the server key; copied */
    long connect_timeout_ms;   /* 0 = 10 s */
    long timeout_ms;           /* whole request; 0 = 120 s */
    long low_speed_bytes;      /* abort below this rate ... (0 = 1 byte/s) */
    long low_speed_secs;       /* ... for this long (0 = 30 s) */
} fsy_transport_opts;

typedef struct fsy_transport_result {
    long status; /* HTTP status, 0 when no response arrived */
    char *body;  /* response body, NUL-terminated, decoded; free() it */
    size_t body_len;
    size_t bytes_up;       /* request body bytes on the wire (after gzip) */
    size_t bytes_down;     /* response body bytes received */
    bool is_network_error; /* no HTTP response: offline, refused, timeout, TLS failure */
    bool is_tls_error;     /* certificate or handshake refused: not fixed by retrying */
    char error[256];       /* human text when status is 0 */
} fsy_transport_result;

/* Allocate and configure. Returns 0, or -1 with a message in err. */
int fsy_transport_new(fsy_transport **out, const fsy_transport_opts *o, char *err, size_t errlen);
void fsy_transport_free(fsy_transport *t);

/*
 * One request. body may be NULL (GET). Bodies larger than 512 bytes go gzipped.
 * extra_headers: NULL-terminated list of "Name: value" lines, may be NULL.
 * Returns 0 when a response arrived (any status), -1 otherwise (see result).
 */
int fsy_transport_request(fsy_transport *t, const char *method, const char *path,
                          const char *bearer, const char *body, size_t len,
                          const char *const *extra_headers, fsy_transport_result *res);

void fsy_transport_result_free(fsy_transport_result *res);

#endif
