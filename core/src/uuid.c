/*
 * uuid.c — UUIDv7 row ids (RFC 9562): 48 bits of Unix milliseconds, then random
 * bits from the replica's own CTR-DRBG, so ids sort by creation time and need no
 * server round trip.
 */
#include "internal.h"
#include "schema.h"

int fsy__uuid_v7(fsy_replica *r, char out[FSY_ID_LEN + 1])
{
    unsigned char rnd[10];
    if (mbedtls_ctr_drbg_random(&r->drbg, rnd, sizeof(rnd)) != 0)
        return fsy__err(r, FSY_ERROR, "cannot draw random bits for a row id");
    fsy__uuid_v7_format(fsy__now_ms(r), rnd, out);
    return FSY_OK;
}
