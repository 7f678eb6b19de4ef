/*
 * http.c — the HTTP/1.1 layer of fieldsyncd, without sockets. The request reader wraps
 * http-parser: it collects the request line and header fields into one capped buffer,
 * de-chunks and gunzips the body under the configured caps, and pauses the parser at the
 * end of each request so pipelined requests are answered strictly in order. The writer
 * turns a handler's fsy_http_response into bytes. net.c owns the sockets and TLS.
 */
#include "http.h"

#include "fieldsync.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* Which head callback ran last: decides where one name or value ends. */
enum { CB_NONE, CB_URL, CB_FIELD, CB_VALUE };

/* Bytes charged per header line for ": " and CRLF, and once for the request line's
 * method, spaces, version and CRLF, so max_header_bytes approximates the bytes on the
 * wire without http-parser having to report them. */
#define FIELD_OVERHEAD        4
#define REQUEST_LINE_OVERHEAD 16

/* Response bodies are built by handlers from bounded data; this only guards size_t. */
#define OUT_MAX (SIZE_MAX / 4)

static int fail(fsy__http_reader *r, int status, const char *code, const char *message)
{
    if (r->err.status == 0) { /* keep the first reason; later ones are consequences */
        r->err.status = status;
        r->err.code = code;
        snprintf(r->err.message, sizeof(r->err.message), "%s", message);
    }
    return -1; /* non-zero from a callback stops http-parser */
}

static int fail_header_size(fsy__http_reader *r)
{
    char msg[96];

    snprintf(msg, sizeof(msg), "request line and headers exceed %zu bytes",
             r->limits.max_header_bytes);
    return fail(r, 431, "header_too_large", msg);
}

static int fail_body_size(fsy__http_reader *r, bool is_inflated)
{
    char msg[96];

    if (is_inflated)
        snprintf(msg, sizeof(msg), "request body exceeds %zu bytes after gunzip",
                 r->limits.max_inflated_body_bytes);
    else
        snprintf(msg, sizeof(msg), "request body exceeds %zu bytes", r->limits.max_body_bytes);
    return fail(r, 413, "body_too_large", msg);
}

static size_t head_cap(const fsy__http_reader *r)
{
    /* Counted bytes stay <= max_header_bytes; the rest is NUL terminators and the
     * path/query copies made at headers-complete. */
    return 2 * r->limits.max_header_bytes + 2 * FSY_HTTP_MAX_HEADERS + 64;
}

static int head_add(fsy__http_reader *r, const char *at, size_t len)
{
    int rc;

    r->n_head_bytes += len;
    if (r->n_head_bytes > r->limits.max_header_bytes)
        return fail_header_size(r);
    rc = fsy__buf_append(&r->head, at, len, head_cap(r));
    if (rc == FSY_ENOMEM)
        return fail(r, 503, "overloaded", "out of memory reading the request");
    if (rc != FSY_OK)
        return fail_header_size(r);
    return 0;
}

/* End the current name, value or URL. The NUL is not charged against the limit. */
static int head_terminate(fsy__http_reader *r)
{
    int rc = fsy__buf_append(&r->head, "", 1, head_cap(r));

    if (rc == FSY_ENOMEM)
        return fail(r, 503, "overloaded", "out of memory reading the request");
    return rc == FSY_OK ? 0 : fail_header_size(r);
}

static int on_message_begin(http_parser *p)
{
    fsy__http_reader *r = p->data;

    r->is_started = true;
    r->n_head_bytes = REQUEST_LINE_OVERHEAD;
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    fsy__http_reader *r = p->data;

    r->last_cb = CB_URL;
    return head_add(r, at, len);
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    fsy__http_reader *r = p->data;

    if (r->is_headers_done) {
        /* Chunked trailer fields: nobody reads them, but they still cost bytes. */
        r->n_head_bytes += len + FIELD_OVERHEAD;
        return r->n_head_bytes > r->limits.max_header_bytes ? fail_header_size(r) : 0;
    }
    if (r->last_cb != CB_FIELD) { /* a new field starts: end the URL or previous value */
        if (head_terminate(r) != 0)
            return -1;
        if (++r->n_fields > FSY_HTTP_MAX_HEADERS) {
            char msg[96];

            snprintf(msg, sizeof(msg), "more than %d header fields", FSY_HTTP_MAX_HEADERS);
            return fail(r, 431, "header_too_large", msg);
        }
        r->n_head_bytes += FIELD_OVERHEAD;
    }
    r->last_cb = CB_FIELD;
    return head_add(r, at, len);
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    fsy__http_reader *r = p->data;

    if (r->is_headers_done) {
        r->n_head_bytes += len;
        return r->n_head_bytes > r->limits.max_header_bytes ? fail_header_size(r) : 0;
    }
    if (r->last_cb == CB_FIELD && head_terminate(r) != 0) /* the name is complete */
        return -1;
    r->last_cb = CB_VALUE;
    return head_add(r, at, len);
}

/* Copy head[off, off+len) to the end of head as a new NUL-terminated string. Returns
 * its offset, or -1. The source is addressed by offset because the append may move
 * the buffer. */
static long head_copy(fsy__http_reader *r, size_t off, size_t len)
{
    size_t at;

    if (fsy__buf_reserve(&r->head, len + 1, head_cap(r)) != FSY_OK)
        return -1;
    at = r->head.len;
    memmove(r->head.data + at, r->head.data + off, len);
    r->head.data[at + len] = '\0';
    r->head.len += len + 1;
    return (long)at;
}

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* Turn the packed head buffer into the request's pointers and header array. */
static int build_head(fsy__http_reader *r)
{
    struct http_parser_url u;
    size_t url_len, i;
    long path_off = -1, query_off = -1;
    char *p;

    /* End the URL or the last value; a trailing name without a value gets an empty one. */
    if (head_terminate(r) != 0 || (r->last_cb == CB_FIELD && head_terminate(r) != 0))
        return -1;
    if (!r->head.data)
        return fail(r, 400, "bad_request", "missing request target");
    url_len = strlen(r->head.data);
    http_parser_url_init(&u);
    if (http_parser_parse_url(r->head.data, url_len, r->parser.method == HTTP_CONNECT, &u) != 0 ||
        !(u.field_set & (1 << UF_PATH)))
        return fail(r, 400, "bad_request", "request target is not a valid path");
    path_off = head_copy(r, u.field_data[UF_PATH].off, u.field_data[UF_PATH].len);
    if (path_off >= 0 && (u.field_set & (1 << UF_QUERY)))
        query_off = head_copy(r, u.field_data[UF_QUERY].off, u.field_data[UF_QUERY].len);
    if (path_off < 0 || ((u.field_set & (1 << UF_QUERY)) && query_off < 0))
        return fail_header_size(r);

    if (r->n_fields) {
        r->hdrs = calloc(r->n_fields, sizeof(*r->hdrs));
        if (!r->hdrs)
            return fail(r, 503, "overloaded", "out of memory reading the request");
    }
    p = r->head.data + url_len + 1;
    for (i = 0; i < r->n_fields; i++) {
        char *next;
        size_t vlen;

        r->hdrs[i].name = p;
        p += strlen(p) + 1;
        vlen = strlen(p);
        next = p + vlen + 1;                    /* before trimming writes NULs into the value */
        while (vlen > 0 && is_ows(p[vlen - 1])) /* http-parser keeps trailing OWS */
            p[--vlen] = '\0';
        while (*p && is_ows(*p))
            p++;
        r->hdrs[i].value = p;
        p = next;
    }
    r->req.path = r->head.data + path_off;
    r->req.query = query_off >= 0 ? r->head.data + query_off : NULL;
    r->req.headers = r->hdrs;
    r->req.n_headers = r->n_fields;
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    fsy__http_reader *r = p->data;
    const char *enc, *expect;

    if (build_head(r) != 0)
        return -1;
    r->is_headers_done = true;
    r->req.method = http_method_str((enum http_method)p->method);
    r->req.http_minor = p->http_minor;
    r->req.authorization = fsy__http_request_header(&r->req, "Authorization");
    r->req.content_type = fsy__http_request_header(&r->req, "Content-Type");
    r->req.accepts_gzip =
        fsy__http_accepts_gzip(fsy__http_request_header(&r->req, "Accept-Encoding"));
    r->req.body = "";

    if (p->http_major != 1)
        return fail(r, 505, "http_version_not_supported", "only HTTP/1.0 and HTTP/1.1 are served");
    if (p->method == HTTP_CONNECT)
        return fail(r, 400, "bad_request", "CONNECT is not supported");
    /* Refuse a declared oversized body before reading it (and before 100 Continue). */
    if (p->content_length != ULLONG_MAX && p->content_length > r->limits.max_body_bytes)
        return fail_body_size(r, false);

    enc = fsy__http_request_header(&r->req, "Content-Encoding");
    if (enc && (strcasecmp(enc, "gzip") == 0 || strcasecmp(enc, "x-gzip") == 0)) {
        if (fsy__gzip_inflate_init(&r->gz, r->limits.max_inflated_body_bytes) != FSY_OK)
            return fail(r, 503, "overloaded", "out of memory reading the request");
        r->is_gzip = true;
        r->req.was_gzipped = true;
    } else if (enc && *enc && strcasecmp(enc, "identity") != 0) {
        return fail(r, 415, "unsupported_encoding", "Content-Encoding must be gzip or identity");
    }

    expect = fsy__http_request_header(&r->req, "Expect");
    if (expect && strcasecmp(expect, "100-continue") == 0 && p->http_minor >= 1)
        r->is_continue_due = true;
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    fsy__http_reader *r = p->data;
    int rc;

    r->n_wire_body += len;
    if (r->n_wire_body > r->limits.max_body_bytes)
        return fail_body_size(r, false);
    if (!r->is_gzip)
        rc = fsy__buf_append(&r->body, at, len, r->limits.max_body_bytes);
    else
        rc = fsy__gzip_inflate_feed(&r->gz, &r->body, at, len);
    if (rc == FSY_ETOOBIG)
        return fail_body_size(r, r->is_gzip);
    if (rc == FSY_EINVAL)
        return fail(r, 400, "bad_gzip", "request body is not valid gzip");
    if (rc != FSY_OK)
        return fail(r, 503, "overloaded", "out of memory reading the request body");
    return 0;
}

static int on_message_complete(http_parser *p)
{
    fsy__http_reader *r = p->data;

    if (r->is_gzip && r->n_wire_body > 0 && !fsy__gzip_inflate_is_complete(&r->gz))
        return fail(r, 400, "bad_gzip", "request body is truncated gzip");
    /* The request now waits for the worker, maybe behind a thousand others: keep only
     * its body, not the inflater's 40 KB or the 64 KB slices it inflated into. */
    fsy__gzip_inflate_free(&r->gz);
    fsy__buf_shrink(&r->body);
    if (r->body.data) {
        r->req.body = r->body.data;
        r->req.body_len = r->body.len;
    }
    r->req.wire_body_len = r->n_wire_body;
    /* An Upgrade (h2c, websocket) is not served: answer the request, then close. */
    r->req.is_keep_alive = http_should_keep_alive(p) && !p->upgrade;
    r->is_ready = true;
    r->is_continue_due = false;
    /* Stop here so the caller answers this request before the next pipelined one. */
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

void fsy__http_reader_init(fsy__http_reader *r, const fsy__http_limits *limits)
{
    memset(r, 0, sizeof(*r));
    http_parser_init(&r->parser, HTTP_REQUEST);
    r->parser.data = r;
    r->limits = *limits;
}

int fsy__http_reader_feed(fsy__http_reader *r, const char *data, size_t len, size_t *used_out)
{
    enum http_errno e;
    size_t n;

    *used_out = 0;
    if (r->is_ready)
        return FSY__HTTP_READY;
    if (r->err.status)
        return FSY__HTTP_FAIL;
    if (len == 0) /* http-parser reads a zero length as end of stream */
        return FSY__HTTP_MORE;
    n = http_parser_execute(&r->parser, &settings, data, len);
    *used_out = n;
    if (r->err.status)
        return FSY__HTTP_FAIL;
    if (r->is_ready)
        return FSY__HTTP_READY;
    e = HTTP_PARSER_ERRNO(&r->parser);
    if (e == HPE_OK && n == len)
        return FSY__HTTP_MORE;
    if (e == HPE_HEADER_OVERFLOW) {
        fail_header_size(r);
    } else {
        char msg[128];

        snprintf(msg, sizeof(msg), "malformed HTTP request: %s",
                 e == HPE_OK ? "unexpected data" : http_errno_description(e));
        fail(r, 400, "bad_request", msg);
    }
    return FSY__HTTP_FAIL;
}

fsy_http_request *fsy__http_reader_request(fsy__http_reader *r)
{
    return r->is_ready ? &r->req : NULL;
}

bool fsy__http_reader_is_started(const fsy__http_reader *r)
{
    return r->is_started;
}

static void reset_request(fsy__http_reader *r)
{
    fsy__buf_free(&r->head);
    fsy__buf_free(&r->body);
    fsy__gzip_inflate_free(&r->gz);
    free(r->hdrs);
    r->hdrs = NULL;
    memset(&r->req, 0, sizeof(r->req));
    memset(&r->err, 0, sizeof(r->err));
    r->n_head_bytes = 0;
    r->n_fields = 0;
    r->last_cb = CB_NONE;
    r->n_wire_body = 0;
    r->is_started = false;
    r->is_headers_done = false;
    r->is_gzip = false;
    r->is_ready = false;
    r->is_continue_due = false;
}

void fsy__http_reader_next(fsy__http_reader *r)
{
    reset_request(r);
    if (HTTP_PARSER_ERRNO(&r->parser) == HPE_PAUSED) {
        http_parser_pause(&r->parser, 0);
    } else if (HTTP_PARSER_ERRNO(&r->parser) != HPE_OK) {
        /* After a refused request the stream position is unknown: start afresh
         * (http-parser asserts if a parser in error state is unpaused). */
        http_parser_init(&r->parser, HTTP_REQUEST);
        r->parser.data = r;
    }
}

void fsy__http_reader_free(fsy__http_reader *r)
{
    if (r)
        reset_request(r);
}

/* ---- Request helpers -------------------------------------------------------------- */

const char *fsy__http_request_header(const fsy_http_request *req, const char *name)
{
    size_t i;

    if (!req || !name)
        return NULL;
    for (i = 0; i < req->n_headers; i++)
        if (strcasecmp(req->headers[i].name, name) == 0)
            return req->headers[i].value;
    return NULL;
}

/* True for a qvalue that is zero ("0", "0.", "0.000"), per RFC 9110 12.4.2. */
static bool qvalue_is_zero(const char *v, size_t len)
{
    size_t i;

    if (len == 0 || v[0] != '0')
        return false;
    for (i = 1; i < len; i++)
        if (!(v[i] == '.' && i == 1) && v[i] != '0')
            return false;
    return true;
}

bool fsy__http_accepts_gzip(const char *ae)
{
    int gzip = -1, star = -1; /* -1 unset, 0 refused, 1 accepted */
    const char *p = ae;

    if (!ae)
        return false;
    while (*p) {
        const char *tok;
        size_t tok_len;
        bool is_zero = false;

        while (*p == ',' || is_ows(*p))
            p++;
        tok = p;
        while (*p && *p != ',' && *p != ';' && !is_ows(*p))
            p++;
        tok_len = (size_t)(p - tok);
        while (*p && *p != ',') { /* parameters: only q matters */
            const char *name, *val;
            size_t name_len, val_len;

            while (*p == ';' || is_ows(*p))
                p++;
            name = p;
            while (*p && *p != '=' && *p != ';' && *p != ',' && !is_ows(*p))
                p++;
            name_len = (size_t)(p - name);
            while (is_ows(*p))
                p++;
            if (*p != '=')
                continue;
            p++;
            while (is_ows(*p))
                p++;
            val = p;
            while (*p && *p != ';' && *p != ',' && !is_ows(*p))
                p++;
            val_len = (size_t)(p - val);
            if (name_len == 1 && (name[0] == 'q' || name[0] == 'Q'))
                is_zero = qvalue_is_zero(val, val_len);
        }
        if ((tok_len == 4 && strncasecmp(tok, "gzip", 4) == 0) ||
            (tok_len == 6 && strncasecmp(tok, "x-gzip", 6) == 0))
            gzip = !is_zero;
        else if (tok_len == 1 && tok[0] == '*')
            star = !is_zero;
    }
    if (gzip >= 0)
        return gzip == 1;
    return star == 1;
}

/* ---- Response helpers ------------------------------------------------------------- */

int fsy__http_response_set_body(fsy_http_response *resp, int status, const char *content_type,
                                const void *body, size_t len)
{
    char *copy = malloc(len + 1);

    free(resp->body);
    resp->body = NULL;
    resp->body_len = 0;
    resp->status = status;
    resp->content_type = content_type;
    if (!copy)
        return FSY_ENOMEM;
    if (len)
        memcpy(copy, body, len);
    copy[len] = '\0';
    resp->body = copy;
    resp->body_len = len;
    return FSY_OK;
}

int fsy__http_response_set_error(fsy_http_response *resp, int status, const char *code,
                                 const char *message)
{
    cJSON *root = NULL, *err;
    char *json = NULL;
    int rc = FSY_ENOMEM;

    root = cJSON_CreateObject();
    err = cJSON_AddObjectToObject(root, "error");
    if (!err || !cJSON_AddStringToObject(err, "code", code ? code : "internal") ||
        !cJSON_AddStringToObject(err, "message", message ? message : ""))
        goto done;
    json = cJSON_PrintUnformatted(root);
    if (!json)
        goto done;
    /* Copied so the body is plain malloc memory whatever hooks cJSON was given. */
    rc = fsy__http_response_set_body(resp, status, "application/json", json, strlen(json));

done:
    if (rc != FSY_OK)
        resp->status = status;
    cJSON_free(json);
    cJSON_Delete(root);
    return rc;
}

static bool is_tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

int fsy__http_response_add_header(fsy_http_response *resp, const char *name, const char *value)
{
    size_t name_len, value_len, i;
    int n;

    if (!resp || !name || !value || !*name)
        return FSY_EINVAL;
    name_len = strlen(name);
    value_len = strlen(value);
    for (i = 0; i < name_len; i++)
        if (!is_tchar((unsigned char)name[i]))
            return FSY_EINVAL;
    for (i = 0; i < value_len; i++) /* CR or LF would let a value inject header lines */
        if (value[i] == '\r' || value[i] == '\n')
            return FSY_EINVAL;
    if (resp->extra_headers_len + name_len + value_len + 4 >= sizeof(resp->extra_headers))
        return FSY_ETOOBIG;
    n = snprintf(resp->extra_headers + resp->extra_headers_len,
                 sizeof(resp->extra_headers) - resp->extra_headers_len, "%s: %s\r\n", name, value);
    resp->extra_headers_len += (size_t)n;
    return FSY_OK;
}

static bool extra_has(const fsy_http_response *resp, const char *name)
{
    size_t name_len = strlen(name);
    const char *line = resp->extra_headers;
    const char *end = resp->extra_headers + resp->extra_headers_len;

    while (line < end) {
        const char *eol = memchr(line, '\n', (size_t)(end - line));

        if ((size_t)(end - line) > name_len && strncasecmp(line, name, name_len) == 0 &&
            line[name_len] == ':')
            return true;
        if (!eol)
            break;
        line = eol + 1;
    }
    return false;
}

static const struct {
    int status;
    const char *reason;
} reasons[] = {
    {100, "Continue"},
    {200, "OK"},
    {201, "Created"},
    {202, "Accepted"},
    {204, "No Content"},
    {301, "Moved Permanently"},
    {302, "Found"},
    {303, "See Other"},
    {304, "Not Modified"},
    {400, "Bad Request"},
    {401, "Unauthorized"},
    {403, "Forbidden"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {408, "Request Timeout"},
    {409, "Conflict"},
    {410, "Gone"},
    {411, "Length Required"},
    {413, "Content Too Large"},
    {415, "Unsupported Media Type"},
    {422, "Unprocessable Content"},
    {426, "Upgrade Required"},
    {429, "Too Many Requests"},
    {431, "Request Header Fields Too Large"},
    {500, "Internal Server Error"},
    {501, "Not Implemented"},
    {503, "Service Unavailable"},
    {505, "HTTP Version Not Supported"},
};

const char *fsy__http_reason(int status)
{
    size_t i;

    for (i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
        if (reasons[i].status == status)
            return reasons[i].reason;
    return "Unknown";
}

/* IMF-fixdate, built by hand: strftime's day and month names follow the locale. */
static void http_date(char *out, size_t out_len)
{
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t now = time(NULL);
    struct tm tm;

    if (!gmtime_r(&now, &tm)) {
        snprintf(out, out_len, "Thu, 01 Jan 1970 00:00:00 GMT");
        return;
    }
    snprintf(out, out_len, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday % 7], tm.tm_mday,
             months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static int put(fsy__buf *out, const char *s)
{
    return fsy__buf_append_str(out, s, OUT_MAX);
}

int fsy__http_response_write(fsy__buf *out, fsy_http_response *resp,
                             const fsy__http_write_opts *opts)
{
    char line[256], date[40];
    bool has_body, is_eligible, is_gzipped = false;
    int rc;

    if (resp->status < 100 || resp->status > 599) {
        /* A handler that forgot the status is a server bug, not the client's problem. */
        rc = fsy__http_response_set_error(resp, 500, "internal", "handler set no valid status");
        if (rc != FSY_OK)
            return rc;
    }
    has_body = !(resp->status < 200 || resp->status == 204 || resp->status == 304);
    if (!has_body) {
        free(resp->body);
        resp->body = NULL;
        resp->body_len = 0;
    }
    /* Eligible: this body would be compressed for a client that accepts gzip. */
    is_eligible = has_body && !resp->is_no_gzip && resp->body_len >= opts->gzip_min_bytes &&
                  !extra_has(resp, "Content-Encoding");
    if (is_eligible && opts->accepts_gzip) {
        char *gz = NULL;
        size_t gz_len = 0;

        if (fsy__gzip_compress(&gz, &gz_len, resp->body, resp->body_len, opts->gzip_level) ==
                FSY_OK &&
            gz_len < resp->body_len) {
            free(resp->body);
            resp->body = gz;
            resp->body_len = gz_len;
            is_gzipped = true;
        } else {
            free(gz); /* incompressible or out of memory: send it as it is */
        }
    }

    http_date(date, sizeof(date));
    snprintf(line, sizeof(line), "HTTP/1.1 %d %s\r\nDate: %s\r\n", resp->status,
             fsy__http_reason(resp->status), date);
    rc = put(out, line);
    if (rc == FSY_OK && has_body) {
        snprintf(line, sizeof(line), "Content-Type: %.200s\r\nContent-Length: %zu\r\n",
                 resp->content_type ? resp->content_type : "application/json", resp->body_len);
        rc = put(out, line);
    }
    if (rc == FSY_OK && is_gzipped)
        rc = put(out, "Content-Encoding: gzip\r\n");
    if (rc == FSY_OK && is_eligible)
        rc = put(out, "Vary: Accept-Encoding\r\n"); /* caches must key on it */
    if (rc == FSY_OK && opts->is_close)
        rc = put(out, "Connection: close\r\n");
    else if (rc == FSY_OK && opts->http_minor == 0)
        rc = put(out, "Connection: keep-alive\r\n");
    if (rc == FSY_OK)
        rc = fsy__buf_append(out, resp->extra_headers, resp->extra_headers_len, OUT_MAX);
    if (rc == FSY_OK)
        rc = put(out, "\r\n");
    if (rc == FSY_OK && has_body && !opts->is_head)
        rc = fsy__buf_append(out, resp->body, resp->body_len, OUT_MAX);
    return rc == FSY_OK ? FSY_OK : FSY_ENOMEM;
}

int fsy__http_error_write(fsy__buf *out, int status, const char *code, const char *message)
{
    fsy_http_response resp;
    fsy__http_write_opts opts = {.is_close = true, .http_minor = 1};
    int rc;

    memset(&resp, 0, sizeof(resp));
    rc = fsy__http_response_set_error(&resp, status, code, message);
    resp.is_no_gzip = true; /* tiny, and the request's Accept-Encoding may be unknown */
    if (rc == FSY_OK)
        rc = fsy__http_response_add_header(&resp, "Cache-Control", "no-store");
    if (rc == FSY_OK)
        rc = fsy__http_response_write(out, &resp, &opts);
    free(resp.body);
    return rc;
}
