/*
 * hlc.h — the hybrid logical clock of DESIGN §4 as pure functions, shared with
 * fieldsyncd. A clock value packs physical Unix milliseconds in the high 48 bits
 * and a counter in the low 16. It travels as 16 lower-case hex digits, because a
 * JSON number (a double in cJSON) cannot carry 64 bits exactly.
 */
#ifndef FSY_HLC_H
#define FSY_HLC_H

#include <stdbool.h>
#include <stdint.h>

#define FSY_HLC_TEXT_LEN 16

static inline int64_t fsy__hlc_ms(int64_t h)
{
    return (int64_t)((uint64_t)h >> 16);
}

static inline int64_t fsy__hlc_make(int64_t ms, int counter)
{
    return (int64_t)(((uint64_t)ms << 16) | (uint64_t)(counter & 0xffff));
}

/*
 * The next clock after `last` for an event at wall time now_ms: never goes
 * backwards, even when the wall clock does.
 */
int64_t fsy__hlc_next(int64_t last, int64_t now_ms);

/*
 * Merge a received clock: the result is after both `last` and `remote`, but a
 * remote clock more than max_drag_ms ahead of now_ms is clamped so that one
 * device with a wild clock cannot drag everyone's clocks into the future.
 */
int64_t fsy__hlc_recv(int64_t last, int64_t remote, int64_t now_ms, int64_t max_drag_ms);

void fsy__hlc_format(int64_t h, char out[FSY_HLC_TEXT_LEN + 1]);
/* Strictly 16 hex digits; false otherwise. */
bool fsy__hlc_parse(const char *s, int64_t *out);

#endif
