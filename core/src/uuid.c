/*
 * uuid.c — UUIDv7 row ids (RFC 9562): 48 bits of Unix milliseconds, then random
 * bits from the replica's own CTR-DRBG, so ids sort by creation time and need no
 * server round trip.
 */
#include "internal.h"

int fsy__uuid_v7(fsy_replica *r, char out[FSY_ID_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char b[16];
    uint64_t ms = (uint64_t)fsy__now_ms(r);

    if (mbedtls_ctr_drbg_random(&r->drbg, b + 6, 10) != 0)
        return fsy__err(r, FSY_ERROR, "cannot draw random bits for a row id");
    for (int i = 0; i < 6; i++)
        b[i] = (unsigned char)(ms >> (40 - 8 * i));
    b[6] = (unsigned char)(0x70 | (b[6] & 0x0f)); /* version 7 */
    b[8] = (unsigned char)(0x80 | (b[8] & 0x3f)); /* variant 10 */

    int o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[b[i] >> 4];
        out[o++] = hex[b[i] & 0xf];
    }
    out[o] = '\0';
    return FSY_OK;
}
