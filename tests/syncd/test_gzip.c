/*
 * test_gzip.c — unit tests for syncd/net/gzip.c: round trip, the inflated-size cap at
 * and just past its value, multi-member streams, corrupt and incomplete input.
 */
#include "gzip.h"

#include "fieldsync.h"
#include "tassert.h"

#include <stdlib.h>
#include <string.h>

static void fill(char *buf, size_t len)
{
    size_t i;
    unsigned x = 12345;

    for (i = 0; i < len; i++) { /* half text, half noise: compresses, but not to nothing */
        x = x * 1103515245u + 12345u;
        buf[i] = (i / 64) % 2 ? (char)('a' + i % 7) : (char)(x >> 24);
    }
}

static void test_gzip__round_trip(void)
{
    static char data[200000];
    char *gz = NULL;
    size_t gz_len = 0;
    fsy__gzip_inflater g;
    fsy__buf out = FSY__BUF_INIT;
    size_t off;

    fill(data, sizeof(data));
    T_EQ_INT(fsy__gzip_compress(&gz, &gz_len, data, sizeof(data), 6), FSY_OK);
    T_CHECK(gz_len > 18 && (unsigned char)gz[0] == 0x1f && (unsigned char)gz[1] == 0x8b);
    T_EQ_INT(fsy__gzip_inflate_init(&g, sizeof(data)), FSY_OK);
    for (off = 0; off < gz_len; off += 999) { /* arbitrary slices */
        size_t n = gz_len - off < 999 ? gz_len - off : 999;

        T_EQ_INT(fsy__gzip_inflate_feed(&g, &out, gz + off, n), FSY_OK);
        T_CHECK(off + n == gz_len || !fsy__gzip_inflate_is_complete(&g));
    }
    T_CHECK(fsy__gzip_inflate_is_complete(&g));
    T_EQ_INT(out.len, sizeof(data));
    T_CHECK(memcmp(out.data, data, sizeof(data)) == 0);
    T_EQ_INT(out.data[out.len], '\0');
    fsy__gzip_inflate_free(&g);
    fsy__buf_free(&out);
    free(gz);
}

static void inflate_with_cap(size_t data_len, size_t cap, int expect_rc)
{
    char *data = calloc(1, data_len), *gz = NULL;
    size_t gz_len = 0;
    fsy__gzip_inflater g;
    fsy__buf out = FSY__BUF_INIT;
    int rc;

    T_CHECK(data != NULL);
    rc = fsy__gzip_compress(&gz, &gz_len, data, data_len, 9);
    free(data);
    T_EQ_INT(rc, FSY_OK);
    T_EQ_INT(fsy__gzip_inflate_init(&g, cap), FSY_OK);
    rc = fsy__gzip_inflate_feed(&g, &out, gz, gz_len);
    T_CHECK(out.cap <= cap + 2); /* never past the cap (+1 to see "over", +1 NUL) */
    fsy__gzip_inflate_free(&g);
    fsy__buf_free(&out);
    free(gz);
    T_EQ_INT(rc, expect_rc);
}

static void test_gzip__cap_exact_and_one_over(void)
{
    inflate_with_cap(100000, 100000, FSY_OK);
    if (t_case_failed)
        return;
    inflate_with_cap(100001, 100000, FSY_ETOOBIG);
    if (t_case_failed)
        return;
    inflate_with_cap(10 << 20, 1 << 20, FSY_ETOOBIG); /* 10 MiB of zeros, 1 MiB cap */
}

static void test_gzip__concatenated_members(void)
{
    char *a = NULL, *b = NULL, both[256];
    size_t a_len = 0, b_len = 0;
    fsy__gzip_inflater g;
    fsy__buf out = FSY__BUF_INIT;

    T_EQ_INT(fsy__gzip_compress(&a, &a_len, "hello ", 6, 6), FSY_OK);
    T_EQ_INT(fsy__gzip_compress(&b, &b_len, "world", 5, 6), FSY_OK);
    T_CHECK(a_len + b_len <= sizeof(both));
    memcpy(both, a, a_len);
    memcpy(both + a_len, b, b_len);
    free(a);
    free(b);
    T_EQ_INT(fsy__gzip_inflate_init(&g, 100), FSY_OK);
    T_EQ_INT(fsy__gzip_inflate_feed(&g, &out, both, a_len + b_len), FSY_OK);
    T_CHECK(fsy__gzip_inflate_is_complete(&g));
    T_EQ_STR(out.data, "hello world");
    fsy__gzip_inflate_free(&g);
    fsy__buf_free(&out);
}

/* A push of a few visits must not cost a large block per request: the buffer grows with
 * what was inflated (a 128 KiB block is mapped and unmapped by malloc every time). */
static void test_gzip__buffer_tracks_output(void)
{
    static char data[3000];
    char *gz = NULL;
    size_t gz_len = 0;
    fsy__gzip_inflater g;
    fsy__buf out = FSY__BUF_INIT;

    fill(data, sizeof(data));
    T_EQ_INT(fsy__gzip_compress(&gz, &gz_len, data, sizeof(data), 6), FSY_OK);
    T_EQ_INT(fsy__gzip_inflate_init(&g, 16 * 1024 * 1024), FSY_OK);
    T_EQ_INT(fsy__gzip_inflate_feed(&g, &out, gz, gz_len), FSY_OK);
    T_CHECK(fsy__gzip_inflate_is_complete(&g));
    T_EQ_INT(out.len, sizeof(data));
    T_CHECK(memcmp(out.data, data, sizeof(data)) == 0);
    T_CHECK(out.cap <= 16384);
    fsy__gzip_inflate_free(&g);
    fsy__buf_free(&out);
    free(gz);
}

static void test_gzip__corrupt_and_incomplete(void)
{
    char *gz = NULL;
    size_t gz_len = 0;
    fsy__gzip_inflater g;
    fsy__buf out = FSY__BUF_INIT;

    T_EQ_INT(fsy__gzip_inflate_init(&g, 1000), FSY_OK);
    T_EQ_INT(fsy__gzip_inflate_feed(&g, &out, "this is not gzip", 16), FSY_EINVAL);
    fsy__gzip_inflate_free(&g);
    fsy__buf_free(&out);

    T_EQ_INT(fsy__gzip_compress(&gz, &gz_len, "some text to compress", 21, 6), FSY_OK);
    gz[gz_len - 1] ^= 0x55; /* damage the length trailer */
    T_EQ_INT(fsy__gzip_inflate_init(&g, 1000), FSY_OK);
    T_EQ_INT(fsy__gzip_inflate_feed(&g, &out, gz, gz_len), FSY_EINVAL);
    fsy__gzip_inflate_free(&g);
    fsy__buf_free(&out);
    gz[gz_len - 1] ^= 0x55;

    T_EQ_INT(fsy__gzip_inflate_init(&g, 1000), FSY_OK);
    T_EQ_INT(fsy__gzip_inflate_feed(&g, &out, gz, gz_len - 3), FSY_OK);
    T_CHECK(!fsy__gzip_inflate_is_complete(&g)); /* the reader turns this into bad_gzip */
    fsy__gzip_inflate_free(&g);
    fsy__gzip_inflate_free(&g); /* twice is fine */
    fsy__buf_free(&out);
    free(gz);
}

int main(void)
{
    T_RUN(test_gzip__round_trip);
    T_RUN(test_gzip__cap_exact_and_one_over);
    T_RUN(test_gzip__concatenated_members);
    T_RUN(test_gzip__corrupt_and_incomplete);
    T_RUN(test_gzip__buffer_tracks_output);
    return t_failed != 0;
}
