/*
 * net.h — fieldsyncd's server transport: HTTPS (TLS 1.2, mbedTLS) and HTTP/1.1 (http-parser)
 * on one event-loop thread with epoll and non-blocking sockets. The daemon creates a
 * server, listens, and runs the loop; each complete request goes to one handler callback
 * on a worker thread (see http.h for the request and response types). Limits, timeouts, error codes
 * and the threading model are described in docs/syncd-net.md.
 *
 *     fsy_net_server *s = NULL;
 *     fsy_net_opts o = FSY_NET_OPTS_INIT;
 *     o.cert_file = "data/server.crt"; o.key_file = "data/server.key";
 *     o.handler = api_handle; o.userdata = api;
 *     if (fsy__net_server_new(&s) != FSY_OK) return;
 *     if (fsy__net_server_listen(s, &o) != FSY_OK || fsy__net_server_run(s) != FSY_OK)
 *         log("%s", fsy__net_server_errmsg(s));
 *     fsy__net_server_free(s);
 */
#ifndef FSY_NET_NET_H
#define FSY_NET_NET_H

#include "http.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FSY_NET_OPTS_VERSION 1

/* Every limit has a default; a field left 0 takes it, so limits are never off. */
#define FSY_NET_DEFAULT_MAX_HEADER_BYTES        (16 * 1024)
#define FSY_NET_DEFAULT_MAX_BODY_BYTES          (8 * 1024 * 1024)
#define FSY_NET_DEFAULT_MAX_INFLATED_BODY_BYTES (16 * 1024 * 1024)
#define FSY_NET_DEFAULT_MAX_CONNECTIONS         2048
#define FSY_NET_DEFAULT_HANDSHAKE_TIMEOUT_MS    10000
#define FSY_NET_DEFAULT_REQUEST_TIMEOUT_MS      10000
#define FSY_NET_DEFAULT_IDLE_TIMEOUT_MS         60000
#define FSY_NET_DEFAULT_WRITE_TIMEOUT_MS        30000
#define FSY_NET_DEFAULT_LINGER_MS               2000
#define FSY_NET_DEFAULT_SHUTDOWN_TIMEOUT_MS     15000
#define FSY_NET_DEFAULT_GZIP_MIN_BYTES          1024
#define FSY_NET_DEFAULT_GZIP_LEVEL              1

typedef struct fsy_net_server fsy_net_server;

/* One log line, already formatted with timestamp and level, without newline. */
typedef void (*fsy_net_log_fn)(const char *line, void *userdata);

typedef struct fsy_net_opts {
    int version;              /* FSY_NET_OPTS_VERSION */
    const char *bind_addr;    /* numeric IPv4 or IPv6 address; NULL = "127.0.0.1" */
    uint16_t port;            /* 0 = any free port; see fsy__net_server_port */
    const char *cert_file;    /* PEM server certificate (chain), ECDSA; read by listen */
    const char *key_file;     /* PEM EC private key; read by listen */
    fsy_http_handler handler; /* required; runs on the worker thread */
    void *userdata;           /* passed to handler */

    size_t max_header_bytes;        /* request line + header fields; 431 (max 80 KiB) */
    size_t max_body_bytes;          /* body bytes on the wire (after de-chunking); 413 */
    size_t max_inflated_body_bytes; /* body bytes after gunzip; 413 */
    int max_connections;            /* open connections; more are closed at accept */
    int handshake_timeout_ms;       /* accept to end of TLS handshake */
    int request_timeout_ms;         /* first byte of a request to its last byte; 408 */
    int idle_timeout_ms;            /* keep-alive connection with no request in progress */
    int write_timeout_ms;           /* a response write making no progress */
    int linger_ms;                  /* draining input after an error response, before close */
    int shutdown_timeout_ms;        /* stop: how long in-flight requests may still take */
    size_t gzip_min_bytes;          /* compress response bodies at least this large */
    int gzip_level;                 /* libdeflate level 1..9 */

    /* Group commit. Called on the worker thread once after each batch of requests in
     * which a handler deferred a response (fsy_http_response.is_deferred), before any
     * response of the batch is sent: return 0 when the work behind them is durable,
     * nonzero to replace each deferred one by 503 store_error with Retry-After.
     * NULL: nothing is deferred. */
    int (*batch_end)(void *userdata);

    bool is_verbose;    /* also log the success path: listen, one line per request */
    fsy_net_log_fn log; /* NULL = stderr */
    void *log_userdata; /* passed to log */
} fsy_net_opts;

#define FSY_NET_OPTS_INIT                                                                          \
    {                                                                                              \
        .version = FSY_NET_OPTS_VERSION, .bind_addr = "127.0.0.1",                                 \
        .max_header_bytes = FSY_NET_DEFAULT_MAX_HEADER_BYTES,                                      \
        .max_body_bytes = FSY_NET_DEFAULT_MAX_BODY_BYTES,                                          \
        .max_inflated_body_bytes = FSY_NET_DEFAULT_MAX_INFLATED_BODY_BYTES,                        \
        .max_connections = FSY_NET_DEFAULT_MAX_CONNECTIONS,                                        \
        .handshake_timeout_ms = FSY_NET_DEFAULT_HANDSHAKE_TIMEOUT_MS,                              \
        .request_timeout_ms = FSY_NET_DEFAULT_REQUEST_TIMEOUT_MS,                                  \
        .idle_timeout_ms = FSY_NET_DEFAULT_IDLE_TIMEOUT_MS,                                        \
        .write_timeout_ms = FSY_NET_DEFAULT_WRITE_TIMEOUT_MS,                                      \
        .linger_ms = FSY_NET_DEFAULT_LINGER_MS,                                                    \
        .shutdown_timeout_ms = FSY_NET_DEFAULT_SHUTDOWN_TIMEOUT_MS,                                \
        .gzip_min_bytes = FSY_NET_DEFAULT_GZIP_MIN_BYTES, .gzip_level = FSY_NET_DEFAULT_GZIP_LEVEL \
    }

/* Counters for /metrics. Totals count since the server was created. */
typedef struct fsy_net_stats {
    uint64_t connections_open;          /* gauge: sockets currently open (any state) */
    uint64_t connections_total;         /* accepted, including those refused at the limit */
    uint64_t requests_total;            /* requests handed to the handler */
    uint64_t handshake_failures;        /* TLS handshakes that failed (CA, version, cipher, junk) */
    uint64_t handshake_timeouts;        /* TLS handshakes not done within handshake_timeout_ms */
    uint64_t request_timeouts;          /* requests not complete within request_timeout_ms: 408 */
    uint64_t idle_closes;               /* keep-alive connections closed after idle_timeout_ms */
    uint64_t write_timeouts;            /* responses the client stopped reading: reset */
    uint64_t rejected_connections;      /* closed at accept: max_connections reached */
    uint64_t rejected_tls_required;     /* plain HTTP on the TLS port: 400 tls_required */
    uint64_t rejected_header_too_large; /* 431 */
    uint64_t rejected_body_too_large;   /* 413, declared, streamed or inflated */
    uint64_t rejected_bad_request;      /* 400 bad_request / bad_gzip, 415, 505 */
    uint64_t limit_rejections; /* sum: rejected_connections, header, body, the three timeouts */
} fsy_net_stats;

/**
 * Allocate a server. Nothing is opened yet.
 * @return FSY_OK, FSY_ENOMEM, FSY_EMISUSE (out is NULL).
 * Thread-safe: yes.
 */
int fsy__net_server_new(fsy_net_server **out);

/**
 * Load the certificate and key, bind and listen. The options are copied (strings are
 * not needed after the call). Separate from run so the caller can learn the port,
 * write a pid file or drop privileges in between.
 * @return FSY_OK, FSY_EINVAL (bad option, bad certificate or key: see errmsg),
 *         FSY_ERROR (socket, bind, epoll), FSY_EMISUSE (already listening), FSY_ENOMEM.
 * Thread-safe: no.
 */
int fsy__net_server_listen(fsy_net_server *s, const fsy_net_opts *opts);

/**
 * The bound TCP port (useful with port 0), or 0 before listen.
 * Thread-safe: yes.
 */
uint16_t fsy__net_server_port(const fsy_net_server *s);

/**
 * Serve until fsy__net_server_stop: accept, handshake, read requests, call the handler,
 * write responses. On stop it closes the listener and idle connections at once, lets
 * requests in flight finish (their responses carry Connection: close) for up to
 * shutdown_timeout_ms, then closes everything and returns.
 * @return FSY_OK after a stop, FSY_ERROR (epoll failure: see errmsg), FSY_EMISUSE (not
 *         listening).
 * Thread-safe: no; the calling thread becomes the loop thread.
 */
int fsy__net_server_run(fsy_net_server *s);

/**
 * Ask the loop to stop gracefully. Returns at once. Async-signal-safe (it only stores a
 * flag and write()s an eventfd), so a SIGTERM handler may call it; any thread may too.
 * Calling it before run makes run return as soon as it starts.
 * Thread-safe: yes.
 */
void fsy__net_server_stop(fsy_net_server *s);

/**
 * Copy the counters into *out.
 * Thread-safe: yes (each counter is read atomically; the set is not one snapshot).
 */
void fsy__net_server_stats(fsy_net_stats *out, const fsy_net_server *s);

/**
 * Last error message for this server ("" if none). Owned by the server; valid until the
 * next call on it.
 * Thread-safe: no.
 */
const char *fsy__net_server_errmsg(const fsy_net_server *s);

/**
 * Close everything and free the server. NULL is fine. Must not be called while run is
 * executing on another thread.
 */
void fsy__net_server_free(fsy_net_server *s);

#endif
