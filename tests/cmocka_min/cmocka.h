/* tests/cmocka_min/cmocka.h — the part of cmocka's API that the codec tests
 * use (unit tests without state or fixtures, the assert_* checks,
 * fail_msg, print_message), for the codec-only build (-DEPR_CODEC_ONLY=ON)
 * on a machine without cmocka.  The top-level CMakeLists.txt puts this
 * directory on the include path only when cmocka is not found; with cmocka
 * present the real library is used.  A failed check prints FILE:LINE and
 * what differed, abandons that test (longjmp) and counts it; the program's
 * exit status is the number of failed tests, as with cmocka. */
#ifndef EPR_TESTS_CMOCKA_MIN_H
#define EPR_TESTS_CMOCKA_MIN_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

struct CMUnitTest {
    const char *name;
    void (*test_func)(void **state);
};

#define cmocka_unit_test(f) {#f, f}

static jmp_buf cm_min_jump; /* where a failed check returns to */

static _Noreturn void cm_min_fail(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    fflush(stdout);
    va_start(ap, fmt);
    fprintf(stderr, "%s:%d: error: ", file, line);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    longjmp(cm_min_jump, 1);
}

#define CM_MIN_INT_CMP(a, b, op, text)                                                                     \
    do {                                                                                                   \
        uintmax_t cm_a_ = (uintmax_t)(a), cm_b_ = (uintmax_t)(b);                                          \
        if (!(cm_a_ op cm_b_))                                                                             \
            cm_min_fail(__FILE__, __LINE__, "%s " text " %s (%jd vs %jd)", #a, #b, (intmax_t)cm_a_,         \
                        (intmax_t)cm_b_);                                                                  \
    } while (0)

#define assert_true(c) ((c) ? (void)0 : cm_min_fail(__FILE__, __LINE__, "%s is not true", #c))
#define assert_false(c) (!(c) ? (void)0 : cm_min_fail(__FILE__, __LINE__, "%s is not false", #c))
#define assert_int_equal(a, b) CM_MIN_INT_CMP(a, b, ==, "!=")
#define assert_int_not_equal(a, b) CM_MIN_INT_CMP(a, b, !=, "==")
#define assert_non_null(p) ((p) != NULL ? (void)0 : cm_min_fail(__FILE__, __LINE__, "%s is NULL", #p))
#define assert_null(p) ((p) == NULL ? (void)0 : cm_min_fail(__FILE__, __LINE__, "%s is not NULL", #p))
#define assert_ptr_equal(a, b)                                                                             \
    ((const void *)(a) == (const void *)(b) ? (void)0                                                      \
                                            : cm_min_fail(__FILE__, __LINE__, "%s != %s (pointers)", #a, #b))
#define assert_string_equal(a, b)                                                                          \
    (strcmp((a), (b)) == 0 ? (void)0 : cm_min_fail(__FILE__, __LINE__, "\"%s\" != \"%s\"", (a), (b)))
#define assert_memory_equal(a, b, n)                                                                       \
    (memcmp((a), (b), (n)) == 0 ? (void)0                                                                  \
                                : cm_min_fail(__FILE__, __LINE__, "%s and %s differ in their first %zu bytes", \
                                              #a, #b, (size_t)(n)))
#define fail_msg(...) cm_min_fail(__FILE__, __LINE__, __VA_ARGS__)
#define print_message(...) printf(__VA_ARGS__)

/* Runs every test (group setup/teardown, when given, around them all). */
static int cm_min_run(const char *group, const struct CMUnitTest *tests, size_t n, int (*setup)(void **),
                      int (*teardown)(void **)) {
    void *state = NULL;
    volatile int failed = 0;
    printf("[==========] %s: Running %zu test(s).\n", group, n);
    if (setup && setup(&state) != 0) {
        printf("[  ERROR   ] %s: group setup failed\n", group);
        return (int)n;
    }
    for (volatile size_t i = 0; i < n; i++) {
        printf("[ RUN      ] %s\n", tests[i].name);
        fflush(stdout);
        if (setjmp(cm_min_jump) == 0) {
            tests[i].test_func(&state);
            printf("[       OK ] %s\n", tests[i].name);
        } else {
            printf("[  FAILED  ] %s\n", tests[i].name);
            failed++;
        }
    }
    if (teardown && teardown(&state) != 0) failed++;
    printf("[==========] %s: %zu test(s) run.\n[  PASSED  ] %zu test(s).\n", group, n, n - (size_t)failed);
    if (failed) printf("[  FAILED  ] %d test(s).\n", failed);
    return failed;
}

#define cmocka_run_group_tests(tests, setup, teardown)                                                     \
    cm_min_run(#tests, tests, sizeof(tests) / sizeof((tests)[0]), setup, teardown)

#endif
