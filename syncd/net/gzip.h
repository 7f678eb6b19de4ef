/*
 * gzip.h — streaming gunzip with an output cap (request bodies) and one-shot gzip
 * (response bodies): zlib inflates, libdeflate compresses. The HTTP reader feeds the
 * inflater as body bytes arrive, so a decompression bomb is refused once it passes
 * the cap, having allocated at most the cap.
 */
#ifndef FSY_NET_GZIP_H
#define FSY_NET_GZIP_H

#include "buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <zlib.h>

typedef struct fsy__gzip_inflater {
    z_stream z;
    bool is_init;       /* inflateInit2 succeeded; inflateEnd is due */
    bool is_member_end; /* the last gzip member ended; more input starts a new member */
    size_t max_out;     /* cap on inflated bytes */
} fsy__gzip_inflater;

/* Prepare for a gzip stream whose inflated size may not exceed max_out bytes.
 * Returns FSY_OK or FSY_ENOMEM. */
int fsy__gzip_inflate_init(fsy__gzip_inflater *g, size_t max_out);
/* Inflate `len` compressed bytes, appending the output to `out`.
 * Returns FSY_OK, FSY_ETOOBIG (output would pass max_out), FSY_EINVAL (not gzip, corrupt),
 * FSY_ENOMEM. */
int fsy__gzip_inflate_feed(fsy__gzip_inflater *g, fsy__buf *out, const void *in, size_t len);
/* True when the input so far ends exactly at the end of a gzip member (a complete body). */
bool fsy__gzip_inflate_is_complete(const fsy__gzip_inflater *g);
/* Release zlib state. NULL-safe, safe on a never-initialised zeroed struct. */
void fsy__gzip_inflate_free(fsy__gzip_inflater *g);

/* Compress `len` bytes into a new gzip member at `level` (1..9, as libdeflate's
 * levels; 0 stores). *out is malloc'd (free()).
 * Returns FSY_OK, FSY_ENOMEM, FSY_ERROR. */
int fsy__gzip_compress(char **out, size_t *out_len, const void *in, size_t len, int level);
/* Free the calling thread's compressor (kept between bodies). Safe to call
 * when there is none; the next compression sets up a new one. */
void fsy__gzip_thread_end(void);

#endif
