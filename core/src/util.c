/*
 * util.c — small helpers every core file uses: a growable buffer for building
 * JSON without a DOM, bounded string copies and cJSON wrappers with size caps.
 */
#include "internal.h"

#include <math.h>
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

static void print_number(fsy_buf *b, double d)
{
    char tmp[32];
    if (d == (double)(long long)d && d > -9007199254740992.0 && d < 9007199254740992.0) {
        /* Integers (versions, ratings, levels) without a round trip through printf. */
        long long n = (long long)d;
        char *p = tmp + sizeof(tmp);
        unsigned long long u = n < 0 ? 0ull - (unsigned long long)n : (unsigned long long)n;
        *--p = '\0';
        do {
            *--p = (char)('0' + u % 10);
            u /= 10;
        } while (u);
        if (n < 0)
            *--p = '-';
        fsy__buf_puts(b, p);
        return;
    }
    if (d != d || d == HUGE_VAL || d == -HUGE_VAL) {
        fsy__buf_puts(b, "null"); /* JSON has no NaN or infinity; cJSON prints null too */
        return;
    }
    /* The shortest of 15 or 17 digits that reads back exactly, as cJSON does. */
    snprintf(tmp, sizeof(tmp), "%.15g", d);
    if (strtod(tmp, NULL) != d)
        snprintf(tmp, sizeof(tmp), "%.17g", d);
    fsy__buf_puts(b, tmp);
}

static void print_value(fsy_buf *b, const cJSON *v)
{
    const cJSON *c;
    switch (v->type & 0xff) {
    case cJSON_NULL:
        fsy__buf_append(b, "null", 4);
        break;
    case cJSON_False:
        fsy__buf_append(b, "false", 5);
        break;
    case cJSON_True:
        fsy__buf_append(b, "true", 4);
        break;
    case cJSON_Number:
        print_number(b, v->valuedouble);
        break;
    case cJSON_String:
        fsy__buf_json_string(b, v->valuestring ? v->valuestring : "");
        break;
    case cJSON_Array:
        fsy__buf_append(b, "[", 1);
        for (c = v->child; c; c = c->next) {
            if (c != v->child)
                fsy__buf_append(b, ",", 1);
            print_value(b, c);
        }
        fsy__buf_append(b, "]", 1);
        break;
    case cJSON_Object:
        fsy__buf_append(b, "{", 1);
        for (c = v->child; c; c = c->next) {
            if (c != v->child)
                fsy__buf_append(b, ",", 1);
            fsy__buf_json_string(b, c->string ? c->string : "");
            fsy__buf_append(b, ":", 1);
            print_value(b, c);
        }
        fsy__buf_append(b, "}", 1);
        break;
    case cJSON_Raw:
        fsy__buf_puts(b, v->valuestring ? v->valuestring : "null");
        break;
    default:
        fsy__buf_append(b, "null", 4);
    }
}

/* Compact JSON without cJSON's printf-and-scanf per number: the write path's
 * journal entries and confirmed rows are printed here. NULL on ENOMEM. */
char *fsy__json_print(const cJSON *v)
{
    fsy_buf b = {0};
    if (!v)
        return NULL;
    print_value(&b, v);
    return fsy__buf_take(&b);
}
