/*
 * transport.c — libcurl behind transport.h. One easy handle per transport, so
 * libcurl keeps the TLS connection alive between the pushes and pulls of a sync.
 */
#include "transport.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define GZIP_MIN_BYTES     512
#define MAX_RESPONSE_BYTES (64u << 20)

struct fsy_transport {
    CURL *curl;
    char *base_url;
};

int fsy_transport_new(fsy_transport **out, const fsy_transport_opts *o, char *err, size_t errlen)
{
    *out = NULL;
    if (!o->base_url || strncmp(o->base_url, "https://", 8) != 0) {
        snprintf(err, errlen, "server URL must start with https://");
        return -1;
    }
    if (!o->ca_file) {
        snprintf(err, errlen, "no CA certificate to pin");
        return -1;
    }
    fsy_transport *t = calloc(1, sizeof(*t));
    if (!t || !(t->curl = curl_easy_init()) || !(t->base_url = strdup(o->base_url))) {
        snprintf(err, errlen, "out of memory");
        fsy_transport_free(t);
        return -1;
    }
    size_t n = strlen(t->base_url);
    while (n > 0 && t->base_url[n - 1] == '/')
        t->base_url[--n] = '\0';
    CURL *c = t->curl;
    /* Trust exactly the daemon's CA: no system store, no CA path. */
    curl_easy_setopt(c, CURLOPT_CAINFO, o->ca_file);
    curl_easy_setopt(c, CURLOPT_CAPATH, NULL);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    if (o->pinned_pubkey)
        curl_easy_setopt(c, CURLOPT_PINNEDPUBLICKEY, o->pinned_pubkey);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "gzip");
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                     o->connect_timeout_ms ? o->connect_timeout_ms : 10000L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, o->timeout_ms ? o->timeout_ms : 120000L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, o->low_speed_bytes ? o->low_speed_bytes : 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, o->low_speed_secs ? o->low_speed_secs : 30L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "fieldsync/0.1.0");
    *out = t;
    return 0;
}

void fsy_transport_free(fsy_transport *t)
{
    if (!t)
        return;
    if (t->curl)
        curl_easy_cleanup(t->curl);
    free(t->base_url);
    free(t);
}

void fsy_transport_result_free(fsy_transport_result *res)
{
    free(res->body);
    memset(res, 0, sizeof(*res));
}

typedef struct sink {
    char *data;
    size_t len, cap;
    bool too_big;
} sink;

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
    sink *s = ud;
    size_t n = size * nmemb;
    if (s->len + n + 1 > MAX_RESPONSE_BYTES) {
        s->too_big = true;
        return 0; /* aborts the transfer */
    }
    if (s->len + n + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 16384;
        while (cap < s->len + n + 1)
            cap *= 2;
        char *d = realloc(s->data, cap);
        if (!d)
            return 0;
        s->data = d;
        s->cap = cap;
    }
    memcpy(s->data + s->len, ptr, n);
    s->len += n;
    s->data[s->len] = '\0';
    return n;
}

/* gzip (RFC 1952) in one go; NULL on failure. */
static unsigned char *gzip_buf(const char *in, size_t len, size_t *out_len)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return NULL;
    uLong bound = deflateBound(&z, (uLong)len) + 32;
    unsigned char *out = malloc(bound);
    if (!out) {
        deflateEnd(&z);
        return NULL;
    }
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)len;
    z.next_out = out;
    z.avail_out = (uInt)bound;
    int rc = deflate(&z, Z_FINISH);
    *out_len = bound - z.avail_out;
    deflateEnd(&z);
    if (rc != Z_STREAM_END) {
        free(out);
        return NULL;
    }
    return out;
}

int fsy_transport_request(fsy_transport *t, const char *method, const char *path,
                          const char *bearer, const char *body, size_t len,
                          const char *const *extra_headers, fsy_transport_result *res)
{
    CURL *c = t->curl;
    struct curl_slist *hdrs = NULL;
    unsigned char *gz = NULL;
    size_t gz_len = 0;
    sink s = {NULL, 0, 0, false};
    char url[1024], auth[160];
    memset(res, 0, sizeof(*res));

    snprintf(url, sizeof(url), "%s%s", t->base_url, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    hdrs = curl_slist_append(hdrs, "Accept: application/json");
    if (bearer) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", bearer);
        hdrs = curl_slist_append(hdrs, auth);
    }
    for (const char *const *h = extra_headers; h && *h; h++)
        hdrs = curl_slist_append(hdrs, *h);
    if (body) {
        hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
        if (len >= GZIP_MIN_BYTES && (gz = gzip_buf(body, len, &gz_len)) != NULL) {
            hdrs = curl_slist_append(hdrs, "Content-Encoding: gzip");
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, gz);
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)gz_len);
            res->bytes_up = gz_len;
        } else {
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
            res->bytes_up = len;
        }
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    } else {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, NULL);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);

    CURLcode cc = curl_easy_perform(c);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hdrs);
    free(gz);
    if (cc != CURLE_OK) {
        res->is_network_error = true;
        res->is_tls_error = cc == CURLE_PEER_FAILED_VERIFICATION ||
                            cc == CURLE_SSL_CACERT_BADFILE ||
                            cc == CURLE_SSL_PINNEDPUBKEYNOTMATCH || cc == CURLE_SSL_CERTPROBLEM;
        snprintf(res->error, sizeof(res->error), "%s%s", curl_easy_strerror(cc),
                 s.too_big ? " (response over 64 MiB)" : "");
        free(s.data);
        return -1;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &res->status);
    curl_off_t down = 0;
    curl_easy_getinfo(c, CURLINFO_SIZE_DOWNLOAD_T, &down);
    res->bytes_down = (size_t)down;
    res->body = s.data ? s.data : strdup("");
    res->body_len = s.len;
    return 0;
}
