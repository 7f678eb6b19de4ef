/*
 * http_request_fuzz.c — the daemon's request path without sockets or TLS:
 * fsy__http_reader_feed (syncd/net/http.c on http-parser) with its gzip inflater
 * (syncd/net/gzip.c), fed exactly as net.c feeds it: in pieces, one request at a
 * time, pipelined requests resumed after each READY, until FAIL or the end.
 *
 * Input: byte 0 picks the piece size (1..64 bytes, or everything at once when
 * >= 0xc0), byte 1 picks one of four sets of small limits; the rest is the byte
 * stream a client sends after the TLS handshake.
 *
 * Invariants checked besides ASan/UBSan/LSan:
 *  - a READY request respects the limits: body_len <= max_inflated_body_bytes,
 *    wire_body_len <= max_body_bytes, at most FSY_HTTP_MAX_HEADERS headers, the body
 *    NUL-terminated, method and path set;
 *  - a feed never consumes more than it was given, and MORE consumes everything;
 *  - a FAIL carries a 4xx/5xx status and a code.
 * Every READY request is also answered through fsy__http_response_write, and every
 * FAIL through fsy__http_error_write, as net.c does.
 */
#include "fuzz_support.h"
#include "http.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

static const fsy__http_limits limit_sets[4] = {
    {512, 1024, 2048},
    {2048, 4096, 8192},
    {16384, 65536, 131072},
    {200, 64, 64},
};

static void answer(const fsy_http_request *req)
{
    fsy_http_response resp;
    fsy__buf out = FSY__BUF_INIT;
    memset(&resp, 0, sizeof(resp));
    /* Echo the body back so the gzip path of the writer runs on fuzzed bytes. */
    if (fsy__http_response_set_body(&resp, 200, "application/json", req->body, req->body_len) ==
        0) {
        const char *fsy_time = fsy__http_request_header(req, "Fsy-Device-Time");
        if (fsy_time)
            (void)fsy__http_response_add_header(&resp, "X-Echo", fsy_time);
        fsy__http_write_opts wo = {!req->is_keep_alive,
                                   strcmp(req->method, "HEAD") == 0,
                                   req->accepts_gzip,
                                   req->http_minor,
                                   32,
                                   1};
        (void)fsy__http_response_write(&out, &resp, &wo);
    }
    free(resp.body);
    fsy__buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t piece = data[0] >= 0xc0 ? (size_t)-1 : (size_t)(data[0] % 64) + 1;
    const fsy__http_limits *lim = &limit_sets[data[1] % 4];
    const char *p = (const char *)data + 2;
    size_t left = size - 2;
    fsy__http_reader r;
    fsy__http_reader_init(&r, lim);
    int requests = 0;

    while (left > 0 && requests < 64) {
        size_t n = left < piece ? left : piece, used = 0;
        int st = fsy__http_reader_feed(&r, p, n, &used);
        if (st == FSY__HTTP_FAIL) {
            FSY_FUZZ_CHECK(r.err.status >= 400 && r.err.status < 600 && r.err.code != NULL);
            fsy__buf out = FSY__BUF_INIT;
            (void)fsy__http_error_write(&out, r.err.status, r.err.code, r.err.message);
            fsy__buf_free(&out);
            break;
        }
        FSY_FUZZ_CHECK(used <= n);
        if (st == FSY__HTTP_MORE) {
            FSY_FUZZ_CHECK(used == n);
        } else {
            FSY_FUZZ_CHECK(st == FSY__HTTP_READY);
            fsy_http_request *req = fsy__http_reader_request(&r);
            FSY_FUZZ_CHECK(req != NULL && req->method != NULL && req->path != NULL);
            FSY_FUZZ_CHECK(req->body != NULL && req->body[req->body_len] == '\0');
            FSY_FUZZ_CHECK(req->body_len <= lim->max_inflated_body_bytes);
            FSY_FUZZ_CHECK(req->wire_body_len <= lim->max_body_bytes);
            FSY_FUZZ_CHECK(req->n_headers <= FSY_HTTP_MAX_HEADERS);
            FSY_FUZZ_CHECK(req->was_gzipped || req->body_len == req->wire_body_len);
            for (size_t i = 0; i < req->n_headers; i++)
                FSY_FUZZ_CHECK(req->headers[i].name != NULL && req->headers[i].value != NULL);
            req->peer = "127.0.0.1:50123";
            answer(req);
            requests++;
            fsy__http_reader_next(&r);
        }
        p += used;
        left -= used;
        if (st == FSY__HTTP_READY && used == 0 && left > 0) {
            /* READY without consuming means the request ended exactly at the
             * previous piece: go on with the same bytes. */
            continue;
        }
    }
    fsy__http_reader_free(&r);
    return 0;
}
