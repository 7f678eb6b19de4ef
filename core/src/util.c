/*
 * util.c — small helpers every core file uses: a growable buffer for building
 * JSON without a DOM, bounded string copies and cJSON wrappers with size caps.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void fsy_free(void *p)
{
    free(p);
}

void fsy__strlcpy(char *dst, const char *src, size_t n)
{
    if (n == 0)
        return;
    size_t len = strlen(src);
    if (len >= n)
        len = n - 1;
    memcpy(dst, src, len);
    dst[len] = '\0';
}

char *fsy__strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

static bool reserve(fsy_buf *b, size_t extra)
{
    if (b->failed)
        return false;
    if (b->len + extra + 1 <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *d = realloc(b->data, cap);
    if (!d) {
        b->failed = true;
        return false;
    }
    b->data = d;
    b->cap = cap;
    return true;
}

void fsy__buf_append(fsy_buf *b, const char *s, size_t n)
{
    if (!reserve(b, n))
        return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void fsy__buf_puts(fsy_buf *b, const char *s)
{
    fsy__buf_append(b, s, strlen(s));
}

void fsy__buf_printf(fsy_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void fsy__buf_json_string(fsy_buf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    fsy__buf_append(b, "\"", 1);
    const char *run = s;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        fsy__buf_append(b, run, (size_t)(s - run));
        run = s + 1;
        char esc[7] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xf], 0};
        switch (c) {
        case '"':
            fsy__buf_append(b, "\\\"", 2);
            break;
        case '\\':
            fsy__buf_append(b, "\\\\", 2);
            break;
        case '\n':
            fsy__buf_append(b, "\\n", 2);
            break;
        case '\t':
            fsy__buf_append(b, "\\t", 2);
            break;
        case '\r':
            fsy__buf_append(b, "\\r", 2);
            break;
        default:
            fsy__buf_append(b, esc, 6);
        }
    }
    fsy__buf_append(b, run, (size_t)(s - run));
    fsy__buf_append(b, "\"", 1);
}

char *fsy__buf_take(fsy_buf *b)
{
    if (!reserve(b, 0)) {
        fsy__buf_free(b);
        return NULL;
    }
    char *d = b->data;
    b->data = NULL;
    b->len = b->cap = 0;
    return d;
}

void fsy__buf_free(fsy_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
    b->failed = false;
}

int fsy__json_parse_object(fsy_replica *r, const char *json, size_t len, const char *what,
                           cJSON **out)
{
    size_t cap = r->opts.max_batch_bytes;
    *out = NULL;
    if (!json)
        return fsy__err(r, FSY_EINVAL, "%s: no JSON given", what);
    if (len > cap)
        return fsy__err(r, FSY_ETOOBIG, "%s: %zu bytes, over the %zu-byte limit", what, len, cap);
    const char *end = NULL;
    cJSON *v = cJSON_ParseWithLengthOpts(json, len, &end, false);
    if (!v)
        return fsy__err(r, FSY_EINVAL, "%s: malformed JSON near byte %zu", what,
                        (size_t)(end && end >= json ? end - json : 0));
    /* Only whitespace may follow the document: "{...}garbage" is a damaged body. */
    for (const char *p = end; p && p < json + len; p++) {
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            cJSON_Delete(v);
            return fsy__err(r, FSY_EINVAL,
                            "%s: unexpected data after the JSON document at byte %zu", what,
                            (size_t)(p - json));
        }
    }
    if (!cJSON_IsObject(v)) {
        cJSON_Delete(v);
        return fsy__err(r, FSY_EINVAL, "%s: expected a JSON object", what);
    }
    *out = v;
    return FSY_OK;
}

char *fsy__json_print(const cJSON *v)
{
    return cJSON_PrintUnformatted(v);
}
