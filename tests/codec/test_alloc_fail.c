/* tests/codec/test_alloc_fail.c — the encoder and the decoder when an
 * allocation fails.  Linked with -Wl,--wrap=malloc,--wrap=calloc,
 * --wrap=realloc (tests/codec/extra.cmake), so every allocation of the codec
 * goes through the wrappers below; the N-th allocation of one encode (or
 * of one open + decode of every tensor) returns NULL, for N = 0, 1, ...
 * until a run sees no failure.  Each failing run must return EPR_ENOMEM
 * with an "out of memory" message (naming file:line in Debug builds) and
 * leave nothing allocated (LeakSanitizer checks that under
 * -DEPR_SANITIZE=ON); the run without a failure must give the bytes and
 * values of a run without the wrappers armed. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "golden_inputs.h"

/* ---- the allocation wrappers ---- */

static int g_armed;    /* count (and maybe fail) allocations */
static long g_count;   /* allocations since arming */
static long g_fail_at; /* the one that fails (0-based) */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);

static int fail_now(void) { return g_armed && g_count++ == g_fail_at; }

void *__wrap_malloc(size_t n) { return fail_now() ? NULL : __real_malloc(n); }
void *__wrap_calloc(size_t n, size_t size) { return fail_now() ? NULL : __real_calloc(n, size); }
void *__wrap_realloc(void *p, size_t n) { return fail_now() ? NULL : __real_realloc(p, n); }

/* epr_encode is wrapped too, so that only its own allocations are armed
 * (golden_build allocates its inputs around it). */
int __real_epr_encode(const char *arch, size_t arch_len, const epr_group_spec *groups, int n_groups,
                      const epr_tensor_spec *tensors, int n_tensors, void **out, size_t *out_size,
                      epr_encode_report *report, epr_err *err);
int __wrap_epr_encode(const char *arch, size_t arch_len, const epr_group_spec *groups, int n_groups,
                      const epr_tensor_spec *tensors, int n_tensors, void **out, size_t *out_size,
                      epr_encode_report *report, epr_err *err) {
    g_armed = 1;
    g_count = 0;
    int rc = __real_epr_encode(arch, arch_len, groups, n_groups, tensors, n_tensors, out, out_size, report, err);
    g_armed = 0;
    return rc;
}

static void check_enomem(int rc, const epr_err *e, long n) {
    if (rc != EPR_ENOMEM) fail_msg("allocation %ld failed: rc %d (%s), want EPR_ENOMEM", n, rc, e->msg);
    assert_non_null(strstr(e->msg, "out of memory"));
#ifdef EPR_ERROR_WHERE
    if (!strstr(e->msg, " (at ") || !strstr(e->msg, ".c:")) fail_msg("no file:line in '%s'", e->msg);
#endif
}

static void test_encoder(void **state) {
    (void)state;
    for (int which = 0; which < GOLDEN_COUNT; which++) {
        void *ref = NULL;
        size_t ref_size = 0;
        epr_err e = {0};
        g_fail_at = -1;
        if (golden_build(which, &ref, &ref_size, &e)) fail_msg("%s: %s", golden_names[which], e.msg);
        long n = 0;
        for (;; n++) {
            void *buf = NULL;
            size_t size = 0;
            g_fail_at = n;
            int rc = golden_build(which, &buf, &size, &e);
            if (g_count <= n) { /* no allocation failed: the normal result */
                assert_int_equal(rc, 0);
                assert_int_equal(size, ref_size);
                assert_memory_equal(buf, ref, size);
                free(buf);
                break;
            }
            check_enomem(rc, &e, n);
            assert_null(buf);
        }
        print_message("%s: encoder survived each of its %ld allocations failing\n", golden_names[which], n);
        assert_true(n > 3);
        free(ref);
    }
}

/* Open + decode every tensor (theta and, for coded ones, phi); the values'
 * checksum into *sum.  Allocations are armed throughout. */
static int decode_all(const void *bytes, size_t size, double *sum, epr_err *e) {
    g_armed = 1;
    g_count = 0;
    epr_file *f = NULL;
    int rc = epr_file_open_memory(bytes, size, &f, e);
    *sum = 0;
    for (int i = 0; !rc && i < epr_file_tensor_count(f); i++) {
        epr_tensor_info info;
        rc = epr_file_tensor_info(f, i, &info, e);
        g_armed = 0; /* the test's own buffers */
        float *theta = __real_malloc(sizeof *theta * (size_t)(info.n_elements + 1));
        int32_t *phi = __real_malloc(sizeof *phi * (size_t)(info.n_elements + 1));
        assert_non_null(theta);
        assert_non_null(phi);
        g_armed = 1;
        if (!rc) rc = epr_file_decode_tensor(f, i, theta, e);
        if (!rc && info.compressed) rc = epr_file_decode_phi(f, i, phi, e);
        for (int64_t k = 0; !rc && k < info.n_elements; k++)
            *sum += (double)theta[k] * (double)(k + 1) + (info.compressed ? phi[k] : 0);
        free(theta);
        free(phi);
    }
    epr_file_close(f);
    g_armed = 0;
    return rc;
}

static void test_decoder(void **state) {
    (void)state;
    for (int which = 0; which < GOLDEN_COUNT; which++) {
        void *bytes = NULL;
        size_t size = 0;
        epr_err e = {0};
        g_fail_at = -1;
        if (golden_build(which, &bytes, &size, &e)) fail_msg("%s: %s", golden_names[which], e.msg);
        double ref;
        assert_int_equal(decode_all(bytes, size, &ref, &e), 0);
        long n = 0;
        for (;; n++) {
            double sum;
            g_fail_at = n;
            int rc = decode_all(bytes, size, &sum, &e);
            if (g_count <= n) {
                assert_int_equal(rc, 0);
                assert_true(sum == ref);
                break;
            }
            check_enomem(rc, &e, n);
        }
        g_fail_at = -1;
        print_message("%s: decoder survived each of its %ld allocations failing\n", golden_names[which], n);
        assert_true(n >= 2);
        free(bytes);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encoder),
        cmocka_unit_test(test_decoder),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
