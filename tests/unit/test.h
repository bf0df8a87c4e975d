/* hangar — unit test macros (test-only; never included from src/).
 *
 * A test file defines tests with HG_TEST(name) and lists them in its own suite table:
 *
 *     HG_TEST(claim_lapses) { ... }
 *     HG_SUITE(fleetiq) = { HG_CASE(claim_lapses), HG_CASE_END };
 *
 * and the suite is named once in tests/unit/test-list.h. The runner forks each test with a
 * timeout, so a crash, a hang or a sanitizer report fails one named test.
 */
#ifndef HG_TEST_H
#define HG_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct hg_test_case {
    const char *name;
    void (*fn)(void);
} hg_test_case_t;

#define HG_TEST(name) static void test_##name(void)
#define HG_CASE(name)                                                                              \
    {                                                                                              \
#name, test_##name                                                                         \
    }
#define HG_CASE_END                                                                                \
    {                                                                                              \
        NULL, NULL                                                                                 \
    }
#define HG_SUITE(suite) const hg_test_case_t hg_suite_##suite[]

#define HG_FAIL_(...)                                                                              \
    do {                                                                                           \
        fprintf(stderr, "  %s:%d: ", __FILE__, __LINE__);                                          \
        fprintf(stderr, __VA_ARGS__);                                                              \
        fprintf(stderr, "\n");                                                                     \
        exit(1);                                                                                   \
    } while (0)

#define ASSERT_TRUE(x)                                                                             \
    do {                                                                                           \
        if (!(x))                                                                                  \
            HG_FAIL_("assertion failed: %s", #x);                                                  \
    } while (0)
#define ASSERT_FALSE(x) ASSERT_TRUE(!(x))

#define ASSERT_EQ_INT(a, b)                                                                        \
    do {                                                                                           \
        long long a_ = (long long)(a), b_ = (long long)(b);                                        \
        if (a_ != b_)                                                                              \
            HG_FAIL_("%s == %s: %lld != %lld", #a, #b, a_, b_);                                    \
    } while (0)
#define ASSERT_NE_INT(a, b)                                                                        \
    do {                                                                                           \
        long long a_ = (long long)(a), b_ = (long long)(b);                                        \
        if (a_ == b_)                                                                              \
            HG_FAIL_("%s != %s: both %lld", #a, #b, a_);                                           \
    } while (0)
#define ASSERT_OK(rc)                                                                              \
    do {                                                                                           \
        int rc_ = (rc);                                                                            \
        if (rc_ != 0)                                                                              \
            HG_FAIL_("%s returned %d", #rc, rc_);                                                  \
    } while (0)
#define ASSERT_STR_EQ(a, b)                                                                        \
    do {                                                                                           \
        const char *a_ = (a), *b_ = (b);                                                           \
        if (a_ == NULL || b_ == NULL || strcmp(a_, b_) != 0)                                       \
            HG_FAIL_("%s == %s: \"%s\" != \"%s\"", #a, #b, a_ ? a_ : "(null)",                     \
                     b_ ? b_ : "(null)");                                                          \
    } while (0)
#define ASSERT_NULL(p) ASSERT_TRUE((p) == NULL)
#define ASSERT_NOT_NULL(p) ASSERT_TRUE((p) != NULL)

#endif
