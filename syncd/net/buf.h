/*
 * buf.h — a growable byte buffer with a hard cap, used by the HTTP reader (headers, body),
 * the gzip inflater and the response writer. Every append states its cap, so no input
 * from the network can grow a buffer past the limit that applies to it.
 */
#ifndef FSY_NET_BUF_H
#define FSY_NET_BUF_H

#include <stddef.h>

typedef struct fsy__buf {
    char *data; /* malloc'd, NULL while empty; always NUL-terminated when non-NULL */
    size_t len; /* bytes used, excluding the terminator */
    size_t cap; /* bytes allocated, including room for the terminator */
} fsy__buf;

#define FSY__BUF_INIT                                                                              \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

/* Make room for `extra` more bytes. Returns FSY_OK, FSY_ETOOBIG (len + extra > max_len),
 * FSY_ENOMEM. */
int fsy__buf_reserve(fsy__buf *b, size_t extra, size_t max_len);
/* Append `len` bytes; same codes as fsy__buf_reserve. */
int fsy__buf_append(fsy__buf *b, const void *data, size_t len, size_t max_len);
/* Append a C string; same codes as fsy__buf_reserve. */
int fsy__buf_append_str(fsy__buf *b, const char *s, size_t max_len);
/* Give back the room beyond len (a request waiting for the worker keeps its body).
 * Keeps the buffer as it is if the smaller allocation fails. */
void fsy__buf_shrink(fsy__buf *b);
/* Release the memory and reset to empty. NULL-safe. */
void fsy__buf_free(fsy__buf *b);

#endif
