/*
 * gzip.c — Content-Encoding: gzip. Request bodies are inflated with zlib as they
 * arrive, into a capped fsy__buf in slices, so memory tracks the output actually
 * produced and stops at the cap (decompression bombs cost at most the cap).
 * Concatenated gzip members are one stream, as RFC 1952 allows. Responses are whole
 * in memory when compressed, which is the job libdeflate is made for: a pull page in
 * two thirds of zlib's time, and smaller (docs/syncd-net.md, "gzip").
 */
#include "gzip.h"

#include "fieldsync.h"

#include <libdeflate.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Output is produced in slices of at most this size, so the buffer grows gradually. */
#define INFLATE_SLICE 65536
/* The first slice: a push of a few visits inflates to 2-10 KiB. */
#define INFLATE_FIRST 4096

int fsy__gzip_inflate_init(fsy__gzip_inflater *g, size_t max_out)
{
    memset(g, 0, sizeof(*g));
    /* 16 + MAX_WBITS: gzip wrapper only; a raw or zlib stream is a client error. */
    if (inflateInit2(&g->z, 16 + MAX_WBITS) != Z_OK)
        return FSY_ENOMEM;
    g->is_init = true;
    g->max_out = max_out;
    return FSY_OK;
}

int fsy__gzip_inflate_feed(fsy__gzip_inflater *g, fsy__buf *out, const void *in, size_t len)
{
    int rc;

    if (!g->is_init || len > UINT_MAX)
        return FSY_EINVAL;
    g->z.next_in = (Bytef *)(uintptr_t)in; /* zlib's API is not const-correct */
    g->z.avail_in = (uInt)len;             /* callers feed at most one read buffer */
    while (g->z.avail_in > 0) {
        size_t room;
        int zr;

        if (g->is_member_end) {
            /* Another member follows: it must be a whole gzip stream of its own. */
            if (inflateReset(&g->z) != Z_OK)
                return FSY_ERROR;
            g->is_member_end = false;
        }
        /* Ask for one byte more than the cap allows so "exactly max_out" is accepted
         * while "max_out + 1" is detected without inflating any further. The buffer
         * doubles from INFLATE_FIRST: reserving a whole slice up front made every push
         * body a 128 KiB block, which glibc maps and unmaps per request, with a TLB
         * shootdown on the other core each time (a fifth of the loop thread's CPU at
         * 1,000 devices). */
        room = out->len < INFLATE_FIRST ? INFLATE_FIRST : out->len;
        if (out->cap > out->len + 1 && out->cap - out->len - 1 >= INFLATE_FIRST / 4)
            room = out->cap - out->len - 1; /* use what is there before growing */
        if (room > INFLATE_SLICE)
            room = INFLATE_SLICE;
        if (room > g->max_out + 1 - out->len)
            room = g->max_out + 1 - out->len;
        rc = fsy__buf_reserve(out, room, g->max_out + 1);
        if (rc == FSY_ETOOBIG)
            return FSY_ETOOBIG;
        if (rc != FSY_OK)
            return rc;
        g->z.next_out = (Bytef *)out->data + out->len;
        g->z.avail_out = (uInt)room;
        zr = inflate(&g->z, Z_NO_FLUSH);
        out->len += room - g->z.avail_out;
        out->data[out->len] = '\0';
        if (out->len > g->max_out)
            return FSY_ETOOBIG;
        if (zr == Z_STREAM_END) {
            g->is_member_end = true;
            continue;
        }
        if (zr == Z_MEM_ERROR)
            return FSY_ENOMEM;
        if (zr != Z_OK && zr != Z_BUF_ERROR)
            return FSY_EINVAL;
        if (zr == Z_BUF_ERROR && g->z.avail_out > 0 && g->z.avail_in > 0)
            return FSY_EINVAL; /* no progress possible with input and room: corrupt */
    }
    return FSY_OK;
}

bool fsy__gzip_inflate_is_complete(const fsy__gzip_inflater *g)
{
    return g->is_init && g->is_member_end;
}

void fsy__gzip_inflate_free(fsy__gzip_inflater *g)
{
    if (!g)
        return;
    if (g->is_init)
        inflateEnd(&g->z);
    g->is_init = false;
    g->is_member_end = false;
}

/* One compressor per thread, kept between bodies: libdeflate allocates its tables when
 * the compressor is made, not per call. */
static _Thread_local struct {
    struct libdeflate_compressor *c;
    int level;
} t_deflate;

void fsy__gzip_thread_end(void)
{
    libdeflate_free_compressor(t_deflate.c);
    memset(&t_deflate, 0, sizeof(t_deflate));
}

int fsy__gzip_compress(char **out, size_t *out_len, const void *in, size_t len, int level)
{
    char *dst;
    size_t cap, n;

    *out = NULL;
    *out_len = 0;
    if (!t_deflate.c || t_deflate.level != level) {
        fsy__gzip_thread_end();
        if (!(t_deflate.c = libdeflate_alloc_compressor(level)))
            return FSY_ENOMEM;
        t_deflate.level = level;
    }
    cap = libdeflate_gzip_compress_bound(t_deflate.c, len);
    if (!(dst = malloc(cap)))
        return FSY_ENOMEM;
    n = libdeflate_gzip_compress(t_deflate.c, in, len, dst, cap);
    if (n == 0) {
        free(dst); /* cannot happen with the bound's room; never send a torn body */
        return FSY_ERROR;
    }
    *out = dst;
    *out_len = n;
    return FSY_OK;
}
