/*
 * hlc.c — hybrid logical clock arithmetic (see hlc.h). Pure functions: the
 * replica persists the state, fieldsyncd reuses the same rules.
 */
#include "hlc.h"

#include <string.h>

int64_t fsy__hlc_next(int64_t last, int64_t now_ms)
{
    int64_t lms = fsy__hlc_ms(last);
    if (now_ms > lms)
        return fsy__hlc_make(now_ms, 0);
    /* Counter overflow borrows the next millisecond rather than wrapping. */
    return last + 1;
}

int64_t fsy__hlc_recv(int64_t last, int64_t remote, int64_t now_ms, int64_t max_drag_ms)
{
    /* Counter 0, not 0xffff: the +1 below must not carry into the next millisecond,
     * or the clock would end up max_drag_ms + 1 ahead of the wall clock. */
    int64_t limit = fsy__hlc_make(now_ms + max_drag_ms, 0);
    if (remote > limit)
        remote = limit;
    int64_t next = fsy__hlc_next(last, now_ms);
    return remote >= next ? remote + 1 : next;
}

void fsy__hlc_format(int64_t h, char out[FSY_HLC_TEXT_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    uint64_t v = (uint64_t)h;
    for (int i = FSY_HLC_TEXT_LEN - 1; i >= 0; i--) {
        out[i] = hex[v & 0xf];
        v >>= 4;
    }
    out[FSY_HLC_TEXT_LEN] = '\0';
}

bool fsy__hlc_parse(const char *s, int64_t *out)
{
    uint64_t v = 0;
    if (!s || strlen(s) != FSY_HLC_TEXT_LEN)
        return false;
    for (int i = 0; i < FSY_HLC_TEXT_LEN; i++) {
        char c = s[i];
        int d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else
            return false;
        v = (v << 4) | (uint64_t)d;
    }
    if (v > (uint64_t)INT64_MAX)
        return false;
    *out = (int64_t)v;
    return true;
}
