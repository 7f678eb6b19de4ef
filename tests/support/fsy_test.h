/*
 * fsy_test.h — the tiny assertion kit every C test uses. A failed assertion
 * prints both sides with file and line and exits non-zero, so ctest reports it.
 * Randomised tests take their seed from FSY_TEST_SEED and print it.
 */
#ifndef FSY_TEST_H
#define FSY_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define FSY_FAIL(...)                                                                              \
    do {                                                                                           \
        fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                                            \
        fprintf(stderr, __VA_ARGS__);                                                              \
        fprintf(stderr, "\n");                                                                     \
        exit(1);                                                                                   \
    } while (0)

#define ASSERT_TRUE(c)                                                                             \
    do {                                                                                           \
        if (!(c))                                                                                  \
            FSY_FAIL("assertion failed: %s", #c);                                                  \
    } while (0)

#define ASSERT_EQ(a, b)                                                                            \
    do {                                                                                           \
        long long va_ = (long long)(a), vb_ = (long long)(b);                                      \
        if (va_ != vb_)                                                                            \
            FSY_FAIL("%s == %s: %lld != %lld", #a, #b, va_, vb_);                                  \
    } while (0)

#define ASSERT_STREQ(a, b)                                                                         \
    do {                                                                                           \
        const char *sa_ = (a), *sb_ = (b);                                                         \
        if (!sa_ || !sb_ || strcmp(sa_, sb_) != 0)                                                 \
            FSY_FAIL("%s == %s:\n  \"%s\"\n  \"%s\"", #a, #b, sa_ ? sa_ : "(null)",                \
                     sb_ ? sb_ : "(null)");                                                        \
    } while (0)

#define ASSERT_CONTAINS(hay, needle)                                                               \
    do {                                                                                           \
        const char *h_ = (hay), *n_ = (needle);                                                    \
        if (!h_ || !strstr(h_, n_))                                                                \
            FSY_FAIL("%s does not contain \"%s\": \"%s\"", #hay, n_, h_ ? h_ : "(null)");          \
    } while (0)

/* An API call that must succeed; on failure prints the replica's message. */
#define ASSERT_OK(r, call)                                                                         \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        if (rc_ != 0)                                                                              \
            FSY_FAIL("%s -> %d (%s): %s", #call, rc_, fsy_strerror(rc_), fsy_replica_errmsg(r));   \
    } while (0)

static inline void fsy_test_rm(const char *path)
{
    char p[1024];
    remove(path);
    snprintf(p, sizeof(p), "%s-wal", path);
    remove(p);
    snprintf(p, sizeof(p), "%s-shm", path);
    remove(p);
}

/* A temp file path unique to this process; removed with its -wal and -shm. */
static inline void fsy_test_tmp(char *out, size_t n, const char *tag)
{
    static unsigned counter;
    const char *dir = getenv("TMPDIR");
    snprintf(out, n, "%s/fsy-%s-%ld-%u.db", dir ? dir : "/tmp", tag, (long)getpid(), counter++);
    fsy_test_rm(out);
}

static inline uint64_t fsy_test_seed(void)
{
    const char *s = getenv("FSY_TEST_SEED");
    uint64_t seed = s ? strtoull(s, NULL, 10) : (uint64_t)time(NULL);
    fprintf(stderr, "FSY_TEST_SEED=%" PRIu64 "\n", seed);
    return seed;
}

/* xorshift64*: a small, seedable generator for randomised tests. */
static inline uint64_t fsy_test_rand(uint64_t *state)
{
    uint64_t x = *state ? *state : 0x9e3779b97f4a7c15ull;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545f4914f6cdd1dull;
}

#endif
