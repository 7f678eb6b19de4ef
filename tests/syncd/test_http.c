/*
 * test_http.c — unit tests for syncd/net/http.c without sockets: the request reader fed
 * byte strings (split at every point, pipelined, chunked, gzipped, oversized, malformed)
 * and the response writer. Fast, so it runs on every ctest (label unit).
 */
#include "http.h"

#include "fieldsync.h"
#include "tassert.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static const fsy__http_limits big_limits = {16384, 1 << 20, 4 << 20};

static const char post_req[] = "POST /v1/push?device=d1&x=%20 HTTP/1.1\r\n"
                               "Host: localhost\r\n"
                               "Authorization: Bearer tok123\r\n"
                               "Content-Type: application/json\r\n"
                               "Accept-Encoding: deflate, gzip;q=0.5\r\n"
                               "X-Empty:\r\n"
                               "X-Spaces:   padded value \t \r\n"
                               "Content-Length: 11\r\n"
                               "\r\n"
                               "{\"a\":12345}";

/* Checks every field the reader should produce for post_req. */
static void check_post(fsy_http_request *req)
{
    T_CHECK(req != NULL);
    T_EQ_STR(req->method, "POST");
    T_EQ_STR(req->path, "/v1/push");
    T_EQ_STR(req->query, "device=d1&x=%20");
    T_EQ_STR(req->authorization, "Bearer tok123");
    T_EQ_STR(req->content_type, "application/json");
    T_EQ_INT(req->body_len, 11);
    T_EQ_STR(req->body, "{\"a\":12345}");
    T_EQ_INT(req->n_headers, 7);
    T_EQ_STR(req->headers[0].name, "Host");
    T_EQ_STR(fsy__http_request_header(req, "x-empty"), "");
    T_EQ_STR(fsy__http_request_header(req, "X-SPACES"), "padded value");
    T_EQ_STR(fsy__http_request_header(req, "content-length"), "11");
    T_CHECK(fsy__http_request_header(req, "X-Missing") == NULL);
    T_CHECK(req->is_keep_alive);
    T_CHECK(req->accepts_gzip);
    T_CHECK(!req->was_gzipped);
    T_EQ_INT(req->http_minor, 1);
}

static void test_http__post_in_one_piece(void)
{
    fsy__http_reader r;
    size_t used = 0;

    fsy__http_reader_init(&r, &big_limits);
    T_EQ_INT(fsy__http_reader_feed(&r, post_req, strlen(post_req), &used), FSY__HTTP_READY);
    T_EQ_INT(used, strlen(post_req));
    check_post(fsy__http_reader_request(&r));
    fsy__http_reader_free(&r);
}

/* Whatever way TLS records split a request, the result is the same. */
static void test_http__post_split_at_every_point(void)
{
    size_t len = strlen(post_req), k;

    for (k = 1; k < len; k++) {
        fsy__http_reader r;
        size_t used = 0;

        fsy__http_reader_init(&r, &big_limits);
        T_EQ_INT(fsy__http_reader_feed(&r, post_req, k, &used), FSY__HTTP_MORE);
        T_EQ_INT(used, k);
        T_EQ_INT(fsy__http_reader_feed(&r, post_req + k, len - k, &used), FSY__HTTP_READY);
        T_EQ_INT(used, len - k);
        check_post(fsy__http_reader_request(&r));
        fsy__http_reader_free(&r);
        if (t_case_failed) {
            fprintf(stderr, "  (split at %zu)\n", k);
            return;
        }
    }
}

static void test_http__post_byte_by_byte(void)
{
    fsy__http_reader r;
    size_t len = strlen(post_req), i, used = 0;

    fsy__http_reader_init(&r, &big_limits);
    for (i = 0; i + 1 < len; i++)
        T_EQ_INT(fsy__http_reader_feed(&r, post_req + i, 1, &used), FSY__HTTP_MORE);
    T_EQ_INT(fsy__http_reader_feed(&r, post_req + i, 1, &used), FSY__HTTP_READY);
    check_post(fsy__http_reader_request(&r));
    fsy__http_reader_free(&r);
}

/* Pipelined requests come out one at a time, in order, each with its own data. */
static void test_http__pipelined(void)
{
    static const char two[] = "GET /a?n=1 HTTP/1.1\r\nHost: x\r\n\r\n"
                              "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nxyz"
                              "GET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    fsy__http_reader r;
    const char *p = two;
    size_t left = strlen(two), used = 0;
    fsy_http_request *req;

    fsy__http_reader_init(&r, &big_limits);
    T_EQ_INT(fsy__http_reader_feed(&r, p, left, &used), FSY__HTTP_READY);
    req = fsy__http_reader_request(&r);
    T_EQ_STR(req->path, "/a");
    T_EQ_STR(req->query, "n=1");
    T_EQ_INT(req->body_len, 0);
    T_EQ_STR(req->body, "");
    /* Fed again before next(): still the same request, nothing consumed. */
    T_EQ_INT(fsy__http_reader_feed(&r, p + used, left - used, &used), FSY__HTTP_READY);
    T_EQ_INT(used, 0);
    used = strlen("GET /a?n=1 HTTP/1.1\r\nHost: x\r\n\r\n");
    p += used;
    left -= used;
    fsy__http_reader_next(&r);
    T_EQ_INT(fsy__http_reader_feed(&r, p, left, &used), FSY__HTTP_READY);
    req = fsy__http_reader_request(&r);
    T_EQ_STR(req->method, "POST");
    T_EQ_STR(req->path, "/b");
    T_CHECK(req->query == NULL);
    T_EQ_STR(req->body, "xyz");
    p += used;
    left -= used;
    fsy__http_reader_next(&r);
    T_EQ_INT(fsy__http_reader_feed(&r, p, left, &used), FSY__HTTP_READY);
    T_EQ_INT(used, left);
    req = fsy__http_reader_request(&r);
    T_EQ_STR(req->path, "/c");
    T_CHECK(!req->is_keep_alive);
    fsy__http_reader_free(&r);
}

static void test_http__chunked_with_trailer(void)
{
    static const char req_text[] =
        "POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n";
    fsy__http_reader r;
    size_t used = 0;
    fsy_http_request *req;

    fsy__http_reader_init(&r, &big_limits);
    T_EQ_INT(fsy__http_reader_feed(&r, req_text, strlen(req_text), &used), FSY__HTTP_READY);
    req = fsy__http_reader_request(&r);
    T_EQ_STR(req->body, "hello world");
    T_EQ_INT(req->body_len, 11);
    T_EQ_INT(req->wire_body_len, 11);
    T_CHECK(fsy__http_request_header(req, "X-Trailer") == NULL); /* trailers are dropped */
    fsy__http_reader_free(&r);
}

static void test_http__absolute_form_target(void)
{
    static const char req_text[] =
        "GET http://example.com:8443/v1/x?y=2 HTTP/1.1\r\nHost: e\r\n\r\n";
    fsy__http_reader r;
    size_t used = 0;

    fsy__http_reader_init(&r, &big_limits);
    T_EQ_INT(fsy__http_reader_feed(&r, req_text, strlen(req_text), &used), FSY__HTTP_READY);
    T_EQ_STR(fsy__http_reader_request(&r)->path, "/v1/x");
    T_EQ_STR(fsy__http_reader_request(&r)->query, "y=2");
    fsy__http_reader_free(&r);
}

/* Feed text expecting FAIL with the given status and code. */
static void expect_fail(const fsy__http_limits *lim, const char *text, size_t len, int status,
                        const char *code)
{
    fsy__http_reader r;
    size_t used = 0;
    int st;

    fsy__http_reader_init(&r, lim);
    st = fsy__http_reader_feed(&r, text, len, &used);
    if (st != FSY__HTTP_FAIL)
        fsy__http_reader_free(&r);
    T_EQ_INT(st, FSY__HTTP_FAIL);
    T_EQ_INT(r.err.status, status);
    T_EQ_STR(r.err.code, code);
    T_CHECK(r.err.message[0] != '\0');
    /* A failed reader stays failed. */
    T_EQ_INT(fsy__http_reader_feed(&r, "GET / HTTP/1.1\r\n\r\n", 18, &used), FSY__HTTP_FAIL);
    fsy__http_reader_free(&r);
}

static void test_http__header_too_large(void)
{
    static const fsy__http_limits lim = {256, 1024, 1024};
    char text[1024];
    int n;

    n = snprintf(text, sizeof(text), "GET / HTTP/1.1\r\nHost: x\r\nX-Big: %0300d\r\n\r\n", 7);
    expect_fail(&lim, text, (size_t)n, 431, "header_too_large");
    if (t_case_failed)
        return;
    /* A long URL counts too. */
    n = snprintf(text, sizeof(text), "GET /%0300d HTTP/1.1\r\nHost: x\r\n\r\n", 7);
    expect_fail(&lim, text, (size_t)n, 431, "header_too_large");
}

static void test_http__header_just_under_limit(void)
{
    static const fsy__http_limits lim = {256, 1024, 1024};
    char text[1024];
    fsy__http_reader r;
    size_t used = 0;
    int n;

    /* 16 (request line) + 1 ("/") + 4 + 4 ("Host") + 1 + 4 + 5 ("X-Big") + 200 = 235 */
    n = snprintf(text, sizeof(text), "GET / HTTP/1.1\r\nHost: x\r\nX-Big: %0200d\r\n\r\n", 7);
    fsy__http_reader_init(&r, &lim);
    T_EQ_INT(fsy__http_reader_feed(&r, text, (size_t)n, &used), FSY__HTTP_READY);
    fsy__http_reader_free(&r);
}

static void test_http__too_many_header_fields(void)
{
    static char text[8192];
    size_t len = 0;
    int i;

    len += (size_t)snprintf(text, sizeof(text), "GET / HTTP/1.1\r\n");
    for (i = 0; i <= FSY_HTTP_MAX_HEADERS; i++)
        len += (size_t)snprintf(text + len, sizeof(text) - len, "X-%d: v\r\n", i);
    len += (size_t)snprintf(text + len, sizeof(text) - len, "\r\n");
    expect_fail(&big_limits, text, len, 431, "header_too_large");
}

/* A declared oversized body is refused at the headers, before any body byte. */
static void test_http__body_too_large_declared(void)
{
    static const fsy__http_limits lim = {4096, 100, 1000};
    static const char text[] = "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 101\r\n\r\n";

    expect_fail(&lim, text, strlen(text), 413, "body_too_large");
}

static void test_http__body_at_limit_accepted(void)
{
    static const fsy__http_limits lim = {4096, 10, 1000};
    static const char text[] =
        "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789";
    fsy__http_reader r;
    size_t used = 0;

    fsy__http_reader_init(&r, &lim);
    T_EQ_INT(fsy__http_reader_feed(&r, text, strlen(text), &used), FSY__HTTP_READY);
    T_EQ_STR(fsy__http_reader_request(&r)->body, "0123456789");
    fsy__http_reader_free(&r);
}

static void test_http__body_too_large_chunked(void)
{
    static const fsy__http_limits lim = {4096, 8, 1000};
    static const char text[] = "POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                               "5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n";

    expect_fail(&lim, text, strlen(text), 413, "body_too_large");
}

/* Build "POST" + gzip(body) with Content-Encoding: gzip. Returns malloc'd request. */
static char *gzip_request(const void *body, size_t body_len, int level, size_t *len_out)
{
    char *gz = NULL, *req;
    size_t gz_len = 0;
    int head;

    if (fsy__gzip_compress(&gz, &gz_len, body, body_len, level) != FSY_OK)
        return NULL;
    req = malloc(gz_len + 256);
    if (!req) {
        free(gz);
        return NULL;
    }
    head = snprintf(req, 256,
                    "POST /gz HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\n"
                    "Content-Length: %zu\r\n\r\n",
                    gz_len);
    memcpy(req + head, gz, gz_len);
    free(gz);
    *len_out = (size_t)head + gz_len;
    return req;
}

static void test_http__gzip_body_inflated(void)
{
    char body[5000];
    char *text;
    size_t len = 0, used = 0, i, k;
    fsy_http_request *req;

    for (i = 0; i < sizeof(body); i++)
        body[i] = (char)('a' + i % 26);
    text = gzip_request(body, sizeof(body), 6, &len);
    T_CHECK(text != NULL);
    /* Split points inside the compressed body exercise streaming inflation. */
    for (k = len - 40; k < len; k += 7) {
        fsy__http_reader r;

        fsy__http_reader_init(&r, &big_limits);
        T_EQ_INT(fsy__http_reader_feed(&r, text, k, &used), FSY__HTTP_MORE);
        T_EQ_INT(fsy__http_reader_feed(&r, text + k, len - k, &used), FSY__HTTP_READY);
        req = fsy__http_reader_request(&r);
        T_CHECK(req->was_gzipped);
        T_EQ_INT(req->body_len, sizeof(body));
        T_CHECK(memcmp(req->body, body, sizeof(body)) == 0);
        T_CHECK(req->wire_body_len < sizeof(body));
        fsy__http_reader_free(&r);
    }
    free(text);
}

/* 64 MiB of zeros in ~64 KiB of gzip: refused once the inflated cap is passed, and
 * the body buffer never grows beyond the cap. */
static void test_http__gzip_bomb_refused(void)
{
    static const fsy__http_limits lim = {4096, 1 << 20, 1 << 20};
    static unsigned char zeros[65536], gz[1 << 17];
    char head[256];
    fsy__http_reader r;
    z_stream z;
    size_t used = 0, gz_len, cap;
    int i, n, st, status;

    memset(&z, 0, sizeof(z));
    T_CHECK(deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 9, Z_DEFAULT_STRATEGY) == Z_OK);
    z.next_out = gz;
    z.avail_out = sizeof(gz);
    for (i = 0; i < 1024; i++) {
        z.next_in = zeros;
        z.avail_in = sizeof(zeros);
        deflate(&z, i == 1023 ? Z_FINISH : Z_NO_FLUSH);
    }
    gz_len = sizeof(gz) - z.avail_out;
    deflateEnd(&z);
    T_CHECK(gz_len < sizeof(gz) && gz_len < (1 << 20)); /* small enough to pass the wire cap */

    n = snprintf(head, sizeof(head),
                 "POST /bomb HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\n"
                 "Content-Length: %zu\r\n\r\n",
                 gz_len);
    fsy__http_reader_init(&r, &lim);
    T_EQ_INT(fsy__http_reader_feed(&r, head, (size_t)n, &used), FSY__HTTP_MORE);
    st = fsy__http_reader_feed(&r, (const char *)gz, gz_len, &used);
    cap = r.body.cap;
    status = r.err.status;
    fsy__http_reader_free(&r);
    T_EQ_INT(st, FSY__HTTP_FAIL);
    T_EQ_INT(status, 413);
    T_CHECK(cap <= lim.max_inflated_body_bytes + 2); /* +1 to see "over", +1 NUL */
}

static void test_http__bad_gzip(void)
{
    static const char junk[] = "POST /x HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\n"
                               "Content-Length: 10\r\n\r\nnot gzip!!";
    char body[100], text[512], *gz = NULL;
    size_t gz_len = 0;
    int n;

    expect_fail(&big_limits, junk, strlen(junk), 400, "bad_gzip");
    if (t_case_failed)
        return;
    /* Truncated: a valid gzip prefix without its 8-byte CRC and size trailer. */
    memset(body, 'q', sizeof(body));
    T_EQ_INT(fsy__gzip_compress(&gz, &gz_len, body, sizeof(body), 1), FSY_OK);
    n = snprintf(text, sizeof(text),
                 "POST /gz HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\n"
                 "Content-Length: %zu\r\n\r\n",
                 gz_len - 8);
    if (n < 0 || (size_t)n + gz_len > sizeof(text)) {
        free(gz);
        T_CHECK(!"request fits");
    }
    memcpy(text + n, gz, gz_len - 8);
    free(gz);
    expect_fail(&big_limits, text, (size_t)n + gz_len - 8, 400, "bad_gzip");
}

static void test_http__unsupported_encoding(void)
{
    static const char text[] = "POST /x HTTP/1.1\r\nHost: x\r\nContent-Encoding: br\r\n"
                               "Content-Length: 2\r\n\r\nxx";

    expect_fail(&big_limits, text, strlen(text), 415, "unsupported_encoding");
}

static void test_http__malformed(void)
{
    static const char garbage[] = "HELLO WORLD\r\n\r\n";
    static const char bad_cl[] = "POST / HTTP/1.1\r\nContent-Length: 12x\r\n\r\n";
    static const char cl_and_te[] = "POST / HTTP/1.1\r\nContent-Length: 3\r\n"
                                    "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
    static const char v2[] = "GET / HTTP/2.0\r\nHost: x\r\n\r\n";

    expect_fail(&big_limits, garbage, strlen(garbage), 400, "bad_request");
    if (t_case_failed)
        return;
    expect_fail(&big_limits, bad_cl, strlen(bad_cl), 400, "bad_request");
    if (t_case_failed)
        return;
    expect_fail(&big_limits, cl_and_te, strlen(cl_and_te), 400, "bad_request");
    if (t_case_failed)
        return;
    expect_fail(&big_limits, v2, strlen(v2), 505, "http_version_not_supported");
}

static void test_http__keep_alive_rules(void)
{
    static const struct {
        const char *text;
        bool is_keep_alive;
    } cases[] = {
        {"GET / HTTP/1.1\r\nHost: x\r\n\r\n", true},
        {"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", false},
        {"GET / HTTP/1.0\r\n\r\n", false},
        {"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true},
        {"GET / HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", false},
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fsy__http_reader r;
        size_t used = 0;

        fsy__http_reader_init(&r, &big_limits);
        T_EQ_INT(fsy__http_reader_feed(&r, cases[i].text, strlen(cases[i].text), &used),
                 FSY__HTTP_READY);
        T_EQ_INT(fsy__http_reader_request(&r)->is_keep_alive, cases[i].is_keep_alive);
        fsy__http_reader_free(&r);
    }
}

static void test_http__expect_continue(void)
{
    static const char head[] = "POST /x HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                               "Content-Length: 4\r\n\r\n";
    fsy__http_reader r;
    size_t used = 0;

    fsy__http_reader_init(&r, &big_limits);
    T_EQ_INT(fsy__http_reader_feed(&r, head, strlen(head), &used), FSY__HTTP_MORE);
    T_CHECK(r.is_continue_due);
    r.is_continue_due = false; /* net.c sends the 100 and clears it */
    T_EQ_INT(fsy__http_reader_feed(&r, "body", 4, &used), FSY__HTTP_READY);
    T_EQ_STR(fsy__http_reader_request(&r)->body, "body");
    fsy__http_reader_free(&r);
}

static void test_http__accepts_gzip(void)
{
    T_CHECK(fsy__http_accepts_gzip("gzip"));
    T_CHECK(fsy__http_accepts_gzip("GZIP"));
    T_CHECK(fsy__http_accepts_gzip("deflate, gzip"));
    T_CHECK(fsy__http_accepts_gzip("br;q=1.0, gzip;q=0.8, *;q=0.1"));
    T_CHECK(fsy__http_accepts_gzip("*"));
    T_CHECK(fsy__http_accepts_gzip("x-gzip"));
    T_CHECK(fsy__http_accepts_gzip("gzip ; q=0.001"));
    T_CHECK(!fsy__http_accepts_gzip(NULL));
    T_CHECK(!fsy__http_accepts_gzip(""));
    T_CHECK(!fsy__http_accepts_gzip("identity"));
    T_CHECK(!fsy__http_accepts_gzip("gzip;q=0"));
    T_CHECK(!fsy__http_accepts_gzip("gzip;q=0.000"));
    T_CHECK(!fsy__http_accepts_gzip("*;q=0.5, gzip;q=0"));
    T_CHECK(!fsy__http_accepts_gzip("gzipx, xgzip"));
    T_CHECK(!fsy__http_accepts_gzip("deflate"));
}

static void test_http__response_basic(void)
{
    fsy_http_response resp;
    fsy__http_write_opts o = {.http_minor = 1, .gzip_min_bytes = 1024, .gzip_level = 6};
    fsy__buf out = FSY__BUF_INIT;

    memset(&resp, 0, sizeof(resp));
    T_EQ_INT(fsy__http_response_set_body(&resp, 200, NULL, "{}", 2), FSY_OK);
    T_EQ_INT(fsy__http_response_add_header(&resp, "X-Request-Id", "abc"), FSY_OK);
    T_EQ_INT(fsy__http_response_write(&out, &resp, &o), FSY_OK);
    free(resp.body);
    T_CHECK(strncmp(out.data, "HTTP/1.1 200 OK\r\nDate: ", 23) == 0);
    T_CHECK(strstr(out.data, "\r\nContent-Type: application/json\r\n") != NULL);
    T_CHECK(strstr(out.data, "\r\nContent-Length: 2\r\n") != NULL);
    T_CHECK(strstr(out.data, "\r\nX-Request-Id: abc\r\n") != NULL);
    T_CHECK(strstr(out.data, "Connection:") == NULL);
    T_CHECK(strstr(out.data, "Content-Encoding") == NULL);
    T_CHECK(out.len > 6 && strcmp(out.data + out.len - 6, "\r\n\r\n{}") == 0);
    fsy__buf_free(&out);
}

static void test_http__response_head_204_close(void)
{
    fsy_http_response resp;
    fsy__http_write_opts o = {.is_head = true, .http_minor = 1, .gzip_min_bytes = 1024};
    fsy__buf out = FSY__BUF_INIT;

    memset(&resp, 0, sizeof(resp));
    T_EQ_INT(fsy__http_response_set_body(&resp, 200, "text/plain", "hello", 5), FSY_OK);
    T_EQ_INT(fsy__http_response_write(&out, &resp, &o), FSY_OK);
    free(resp.body);
    T_CHECK(strstr(out.data, "Content-Length: 5\r\n") != NULL);
    T_CHECK(out.len > 4 && strcmp(out.data + out.len - 4, "\r\n\r\n") == 0); /* no body */
    fsy__buf_free(&out);

    memset(&resp, 0, sizeof(resp));
    resp.status = 204;
    o.is_head = false;
    o.is_close = true;
    T_EQ_INT(fsy__http_response_write(&out, &resp, &o), FSY_OK);
    T_CHECK(strncmp(out.data, "HTTP/1.1 204 No Content\r\n", 25) == 0);
    T_CHECK(strstr(out.data, "Content-Length") == NULL);
    T_CHECK(strstr(out.data, "Connection: close\r\n") != NULL);
    fsy__buf_free(&out);

    memset(&resp, 0, sizeof(resp)); /* a handler that set nothing is a 500 */
    T_EQ_INT(fsy__http_response_write(&out, &resp, &o), FSY_OK);
    free(resp.body);
    T_CHECK(strncmp(out.data, "HTTP/1.1 500 ", 13) == 0);
    T_CHECK(strstr(out.data, "\"code\":\"internal\"") != NULL);
    fsy__buf_free(&out);
}

static void test_http__response_gzip(void)
{
    fsy_http_response resp;
    fsy__http_write_opts o = {
        .accepts_gzip = true, .http_minor = 1, .gzip_min_bytes = 1024, .gzip_level = 6};
    fsy__buf out = FSY__BUF_INIT, plain = FSY__BUF_INIT;
    fsy__gzip_inflater g;
    char body[8000];
    const char *start;
    size_t i;

    for (i = 0; i < sizeof(body); i++)
        body[i] = "fieldsync "[i % 10];
    memset(&resp, 0, sizeof(resp));
    T_EQ_INT(fsy__http_response_set_body(&resp, 200, NULL, body, sizeof(body)), FSY_OK);
    T_EQ_INT(fsy__http_response_write(&out, &resp, &o), FSY_OK);
    free(resp.body);
    T_CHECK(strstr(out.data, "\r\nContent-Encoding: gzip\r\n") != NULL);
    T_CHECK(strstr(out.data, "\r\nVary: Accept-Encoding\r\n") != NULL);
    start = strstr(out.data, "\r\n\r\n") + 4;
    T_CHECK(fsy__gzip_inflate_init(&g, sizeof(body)) == FSY_OK);
    T_EQ_INT(fsy__gzip_inflate_feed(&g, &plain, start, out.len - (size_t)(start - out.data)),
             FSY_OK);
    T_CHECK(fsy__gzip_inflate_is_complete(&g));
    fsy__gzip_inflate_free(&g);
    T_EQ_INT(plain.len, sizeof(body));
    T_CHECK(memcmp(plain.data, body, sizeof(body)) == 0);
    fsy__buf_free(&plain);
    fsy__buf_free(&out);

    /* Below the threshold: sent as it is. */
    memset(&resp, 0, sizeof(resp));
    T_EQ_INT(fsy__http_response_set_body(&resp, 200, NULL, body, 100), FSY_OK);
    T_EQ_INT(fsy__http_response_write(&out, &resp, &o), FSY_OK);
    free(resp.body);
    T_CHECK(strstr(out.data, "Content-Encoding") == NULL);
    fsy__buf_free(&out);
}

static void test_http__error_json(void)
{
    fsy__buf out = FSY__BUF_INIT;
    cJSON *root, *err;
    const char *body;

    T_EQ_INT(fsy__http_error_write(&out, 413, "body_too_large", "too \"big\"\n"), FSY_OK);
    T_CHECK(strncmp(out.data, "HTTP/1.1 413 Content Too Large\r\n", 32) == 0);
    T_CHECK(strstr(out.data, "Connection: close\r\n") != NULL);
    body = strstr(out.data, "\r\n\r\n") + 4;
    root = cJSON_Parse(body);
    T_CHECK(root != NULL);
    err = cJSON_GetObjectItemCaseSensitive(root, "error");
    T_EQ_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(err, "code")), "body_too_large");
    T_EQ_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(err, "message")),
             "too \"big\"\n");
    cJSON_Delete(root);
    fsy__buf_free(&out);
}

static void test_http__add_header_validation(void)
{
    fsy_http_response resp;
    char big[2000];

    memset(&resp, 0, sizeof(resp));
    T_EQ_INT(fsy__http_response_add_header(&resp, "X-A", "ok"), FSY_OK);
    T_EQ_INT(fsy__http_response_add_header(&resp, "X-B", "evil\r\nSet-Cookie: x"), FSY_EINVAL);
    T_EQ_INT(fsy__http_response_add_header(&resp, "X B", "v"), FSY_EINVAL);
    T_EQ_INT(fsy__http_response_add_header(&resp, "X:C", "v"), FSY_EINVAL);
    T_EQ_INT(fsy__http_response_add_header(&resp, "", "v"), FSY_EINVAL);
    memset(big, 'v', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    T_EQ_INT(fsy__http_response_add_header(&resp, "X-Big", big), FSY_ETOOBIG);
    T_EQ_STR(resp.extra_headers, "X-A: ok\r\n");
}

int main(void)
{
    T_RUN(test_http__post_in_one_piece);
    T_RUN(test_http__post_split_at_every_point);
    T_RUN(test_http__post_byte_by_byte);
    T_RUN(test_http__pipelined);
    T_RUN(test_http__chunked_with_trailer);
    T_RUN(test_http__absolute_form_target);
    T_RUN(test_http__header_too_large);
    T_RUN(test_http__header_just_under_limit);
    T_RUN(test_http__too_many_header_fields);
    T_RUN(test_http__body_too_large_declared);
    T_RUN(test_http__body_at_limit_accepted);
    T_RUN(test_http__body_too_large_chunked);
    T_RUN(test_http__gzip_body_inflated);
    T_RUN(test_http__gzip_bomb_refused);
    T_RUN(test_http__bad_gzip);
    T_RUN(test_http__unsupported_encoding);
    T_RUN(test_http__malformed);
    T_RUN(test_http__keep_alive_rules);
    T_RUN(test_http__expect_continue);
    T_RUN(test_http__accepts_gzip);
    T_RUN(test_http__response_basic);
    T_RUN(test_http__response_head_204_close);
    T_RUN(test_http__response_gzip);
    T_RUN(test_http__error_json);
    T_RUN(test_http__add_header_validation);
    return t_failed != 0;
}
