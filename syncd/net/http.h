/*
 * http.h — HTTP/1.1 for fieldsyncd, with no I/O of its own: the request and response
 * types the daemon's handlers see, helpers to fill a response, and (for net.c) a request
 * reader built on http-parser that is fed decrypted bytes and yields one complete,
 * size-checked, gunzipped request at a time, plus the response serialiser.
 */
#ifndef FSY_NET_HTTP_H
#define FSY_NET_HTTP_H

#include "buf.h"
#include "gzip.h"

#include <http_parser.h>
#include <stdbool.h>
#include <stddef.h>

/* Room for handler-added response header lines ("Name: value\r\n" each). */
#define FSY_HTTP_EXTRA_HEADERS_MAX 1024
/* Header fields per request; more is answered 431 like an oversized header block. */
#define FSY_HTTP_MAX_HEADERS 100

typedef struct fsy_http_header {
    const char *name;  /* as received (compare case-insensitively) */
    const char *value; /* leading and trailing whitespace removed */
} fsy_http_header;

/*
 * One complete request. Everything it points to is owned by the connection and stays
 * valid only until the handler returns: copy what must outlive the call.
 */
typedef struct fsy_http_request {
    const char *method;             /* "GET", "POST", ... */
    const char *path;               /* origin-form path, still percent-encoded: "/v1/push" */
    const char *query;              /* text after '?', without it; NULL when absent */
    const char *body;               /* de-chunked and gunzipped; NUL-terminated; "" if none */
    size_t body_len;                /* bytes in body, not counting the terminator */
    const char *authorization;      /* Authorization value or NULL */
    const char *content_type;       /* Content-Type value or NULL */
    const char *peer;               /* "127.0.0.1:50123" or "[::1]:50123" */
    const fsy_http_header *headers; /* every header field, in the order received */
    size_t n_headers;
    int http_minor;       /* HTTP/1.<minor>: 0 or 1 */
    bool is_keep_alive;   /* client wants the connection kept open */
    bool accepts_gzip;    /* Accept-Encoding allows gzip: net compresses large bodies */
    bool was_gzipped;     /* body arrived with Content-Encoding: gzip */
    size_t wire_body_len; /* body bytes as received (compressed size when gzipped) */
} fsy_http_request;

/*
 * The handler's answer. The net layer zeroes it before the call and owns it after: it
 * frees `body` with free(), compresses it when the client accepts gzip, and adds Date,
 * Content-Type, Content-Length and Connection itself.
 */
typedef struct fsy_http_response {
    int status;               /* HTTP status; left 0 by a handler, it becomes 500 */
    const char *content_type; /* static or longer-lived string; NULL = "application/json" */
    char *body;               /* malloc'd; owned by net from the moment it is set */
    size_t body_len;          /* bytes in body */
    char extra_headers[FSY_HTTP_EXTRA_HEADERS_MAX]; /* "Name: value\r\n" lines */
    size_t extra_headers_len;                       /* bytes used in extra_headers */
    bool is_close;                                  /* close the connection after this response */
    bool is_no_gzip; /* never compress this body (already compressed, tiny, ...) */
    /* Hold the response until the server's batch_end says the work behind it is durable
     * (group commit: see fsy_net_opts.batch_end). Ignored when there is no batch_end. */
    bool is_deferred;
} fsy_http_response;

/*
 * Request handler. Runs on the server's worker thread, one request at a time, while the
 * loop thread goes on serving connections; a slow handler delays the requests queued
 * behind it. `resp` is zeroed; set at least `status`.
 */
typedef void (*fsy_http_handler)(const fsy_http_request *req, fsy_http_response *resp,
                                 void *userdata);

/**
 * Set status, content type and a copy of `body` (any previous body is freed).
 * @return FSY_OK, FSY_ENOMEM (the response is then left without a body).
 * Thread-safe: yes (touches only resp).
 */
int fsy__http_response_set_body(fsy_http_response *resp, int status, const char *content_type,
                                const void *body, size_t len);

/**
 * Turn the response into the standard error shape,
 * {"error":{"code":"<code>","message":"<message>"}}, with `status`.
 * @param code     stable machine-readable code, e.g. "body_too_large"
 * @param message  one line for humans; JSON-escaped here
 * @return FSY_OK, FSY_ENOMEM.
 * Thread-safe: yes.
 */
int fsy__http_response_set_error(fsy_http_response *resp, int status, const char *code,
                                 const char *message);

/**
 * Append "name: value\r\n" to the extra headers.
 * @return FSY_OK, FSY_EINVAL (CR, LF or NUL in either, ':' or space in name, empty name),
 *         FSY_ETOOBIG (extra_headers is full).
 * Thread-safe: yes.
 */
int fsy__http_response_add_header(fsy_http_response *resp, const char *name, const char *value);

/**
 * First header field called `name` (case-insensitive), or NULL.
 * Thread-safe: yes.
 */
const char *fsy__http_request_header(const fsy_http_request *req, const char *name);

/**
 * True when an Accept-Encoding value allows gzip: "gzip" or "*" listed without q=0,
 * and gzip not explicitly refused.
 */
bool fsy__http_accepts_gzip(const char *accept_encoding);

/* ---- Used by net.c only ------------------------------------------------------------- */

typedef struct fsy__http_limits {
    size_t max_header_bytes;        /* request line + header fields, see docs/syncd-net.md */
    size_t max_body_bytes;          /* body bytes on the wire, after de-chunking */
    size_t max_inflated_body_bytes; /* body bytes after gunzip */
} fsy__http_limits;

/* What a failed request gets: status plus the stable JSON error code. */
typedef struct fsy__http_error {
    int status;       /* 400, 413, 415, 431, 505 */
    const char *code; /* static: "bad_request", "body_too_large", ... */
    char message[128];
} fsy__http_error;

enum {
    FSY__HTTP_MORE = 0,  /* all bytes consumed; the request is not complete yet */
    FSY__HTTP_READY = 1, /* a request is complete; bytes after it were not consumed */
    FSY__HTTP_FAIL = 2   /* the request is refused; see reader->err; close after answering */
};

typedef struct fsy__http_reader {
    http_parser parser;
    fsy__http_limits limits;
    fsy__buf head;         /* url NUL (name NUL value NUL)*: pointers are made at the end */
    size_t n_head_bytes;   /* counted against max_header_bytes */
    size_t n_fields;       /* header fields seen */
    int last_cb;           /* which head callback ran last (URL, FIELD, VALUE) */
    fsy__buf body;         /* decoded body */
    size_t n_wire_body;    /* body bytes as received */
    fsy__gzip_inflater gz; /* active when is_gzip */
    fsy_http_header *hdrs; /* built at headers-complete */
    fsy_http_request req;  /* valid while is_ready */
    fsy__http_error err;   /* valid after FSY__HTTP_FAIL */
    bool is_started;       /* a byte of this request has been parsed */
    bool is_headers_done;  /* the body (if any) is being read */
    bool is_gzip;          /* body is Content-Encoding: gzip */
    bool is_ready;         /* complete request waiting in req; parser paused */
    bool is_continue_due;  /* client sent Expect: 100-continue and waits for it */
} fsy__http_reader;

void fsy__http_reader_init(fsy__http_reader *r, const fsy__http_limits *limits);

/*
 * Parse `len` bytes. *used_out says how many were consumed: all of them for MORE,
 * those up to the end of the request for READY (feed the rest after
 * fsy__http_reader_next), and an unspecified count for FAIL.
 * Returns FSY__HTTP_MORE, FSY__HTTP_READY or FSY__HTTP_FAIL.
 */
int fsy__http_reader_feed(fsy__http_reader *r, const char *data, size_t len, size_t *used_out);

/* The completed request after READY; the reader owns it. peer is set by the caller. */
fsy_http_request *fsy__http_reader_request(fsy__http_reader *r);

/* True once any byte of the current request has been parsed. */
bool fsy__http_reader_is_started(const fsy__http_reader *r);

/* Drop the current request (freeing its buffers) and get ready for the next one. */
void fsy__http_reader_next(fsy__http_reader *r);

/* Release everything. Safe on a zeroed or already-freed reader. */
void fsy__http_reader_free(fsy__http_reader *r);

typedef struct fsy__http_write_opts {
    bool is_close;         /* send Connection: close */
    bool is_head;          /* HEAD request: headers only */
    bool accepts_gzip;     /* the request allowed gzip */
    int http_minor;        /* request's minor version (1.0 keep-alive needs a header) */
    size_t gzip_min_bytes; /* compress bodies at least this large */
    int gzip_level;        /* libdeflate level 1..9 */
} fsy__http_write_opts;

/*
 * Serialise status line, headers and body into `out` (appended). May replace
 * resp->body with its gzip form. Returns FSY_OK, FSY_ENOMEM.
 */
int fsy__http_response_write(fsy__buf *out, fsy_http_response *resp,
                             const fsy__http_write_opts *opts);

/*
 * Append a complete JSON error response with Connection: close. Used for errors found
 * before a handler could run. Returns FSY_OK, FSY_ENOMEM.
 */
int fsy__http_error_write(fsy__buf *out, int status, const char *code, const char *message);

/* Reason phrase for a status code ("Not Found"); "Unknown" for codes not listed. */
const char *fsy__http_reason(int status);

#endif
