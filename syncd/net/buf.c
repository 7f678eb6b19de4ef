/*
 * buf.c — the capped growable buffer behind the HTTP reader, gzip and response writer.
 * Growth doubles (amortised O(1) appends) but never allocates past the caller's cap, so
 * a 16 KiB header limit never costs more than about 16 KiB.
 */
#include "buf.h"

#include "fieldsync.h"

#include <stdlib.h>
#include <string.h>

int fsy__buf_reserve(fsy__buf *b, size_t extra, size_t max_len)
{
    size_t need, cap;
    char *p;

    if (extra > max_len || b->len > max_len - extra)
        return FSY_ETOOBIG;
    need = b->len + extra + 1; /* +1: keep room for the terminator */
    if (need <= b->cap)
        return FSY_OK;
    cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    if (cap > max_len + 1)
        cap = max_len + 1; /* need <= max_len + 1 was checked above */
    p = realloc(b->data, cap);
    if (!p)
        return FSY_ENOMEM;
    b->data = p;
    b->cap = cap;
    return FSY_OK;
}

int fsy__buf_append(fsy__buf *b, const void *data, size_t len, size_t max_len)
{
    int rc = fsy__buf_reserve(b, len, max_len);

    if (rc != FSY_OK)
        return rc;
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return FSY_OK;
}

int fsy__buf_append_str(fsy__buf *b, const char *s, size_t max_len)
{
    return fsy__buf_append(b, s, strlen(s), max_len);
}

void fsy__buf_shrink(fsy__buf *b)
{
    char *p;

    if (!b->data || b->cap <= b->len + 1)
        return;
    p = realloc(b->data, b->len + 1);
    if (p) {
        b->data = p;
        b->cap = b->len + 1;
    }
}

void fsy__buf_free(fsy__buf *b)
{
    if (!b)
        return;
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}
