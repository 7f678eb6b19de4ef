/*
 * tassert.h — the few asserts the fsy_net/fsy_pki unit tests need (tests/support had
 * none yet). A failed check prints both sides, marks the test failed and returns from
 * the test function; T_RUN prints one line per test; main returns t_failed != 0.
 */
#ifndef FSY_TESTS_SYNCD_TASSERT_H
#define FSY_TESTS_SYNCD_TASSERT_H

#include <stdio.h>
#include <string.h>

static int t_failed;
static int t_case_failed;

#define T_CHECK(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);               \
            t_case_failed = 1;                                                                     \
            return;                                                                                \
        }                                                                                          \
    } while (0)

#define T_EQ_INT(a, b)                                                                             \
    do {                                                                                           \
        long long t_a_ = (long long)(a), t_b_ = (long long)(b);                                    \
        if (t_a_ != t_b_) {                                                                        \
            fprintf(stderr, "%s:%d: %s == %s: %lld != %lld\n", __FILE__, __LINE__, #a, #b, t_a_,   \
                    t_b_);                                                                         \
            t_case_failed = 1;                                                                     \
            return;                                                                                \
        }                                                                                          \
    } while (0)

#define T_EQ_STR(a, b)                                                                             \
    do {                                                                                           \
        const char *t_a_ = (a), *t_b_ = (b);                                                       \
        if (!t_a_ || !t_b_ || strcmp(t_a_, t_b_) != 0) {                                           \
            fprintf(stderr, "%s:%d: %s == %s: \"%s\" != \"%s\"\n", __FILE__, __LINE__, #a, #b,     \
                    t_a_ ? t_a_ : "(null)", t_b_ ? t_b_ : "(null)");                               \
            t_case_failed = 1;                                                                     \
            return;                                                                                \
        }                                                                                          \
    } while (0)

#define T_RUN(fn)                                                                                  \
    do {                                                                                           \
        t_case_failed = 0;                                                                         \
        fn();                                                                                      \
        printf("%s %s\n", t_case_failed ? "FAIL" : "ok  ", #fn);                                   \
        t_failed += t_case_failed;                                                                 \
    } while (0)

#endif
