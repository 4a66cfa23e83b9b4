/* tests/codec/test_dft.c — the DFT basis is orthonormal (T T^T = I within
 * 1e-6) and its columns follow the documented order. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "epr/codec.h"

static void check_orthonormal(int h, int w) {
    int ell = h * w;
    float *t = malloc(sizeof(float) * ell * ell);
    epr_err e;
    assert_int_equal(epr_dft_basis(h, w, t, &e), 0);
    for (int i = 0; i < ell; i++)
        for (int j = 0; j < ell; j++) {
            double acc = 0;
            for (int k = 0; k < ell; k++) acc += (double)t[i * ell + k] * t[j * ell + k];
            assert_true(fabs(acc - (i == j)) < 1e-6);
        }
    /* column 0 is the constant (DC) basis vector 1/sqrt(ell) */
    for (int p = 0; p < ell; p++) assert_true(fabsf(t[p * ell] - 1.0f / sqrtf((float)ell)) < 1e-7f);
    free(t);
}

static void test_orthonormal(void **state) {
    (void)state;
    const int sizes[][2] = {{1, 1}, {3, 3}, {5, 5}, {7, 7}, {2, 2}, {4, 4}, {2, 4}, {1, 5}, {3, 1}, {6, 4}};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) check_orthonormal(sizes[i][0], sizes[i][1]);
}

static void test_column_order_3x3(void **state) {
    (void)state;
    /* 3x3: (0,0) self-conjugate -> 1 column; (0,1) -> cos, sin; (0,2) skipped
     * (conjugate (0,1) earlier); (1,0) -> cos, sin; (1,1) -> cos, sin;
     * (1,2) -> cos, sin; rest skipped.  Check column 3 = sqrt(2/9) cos(2 pi y/3). */
    float t[81];
    assert_int_equal(epr_dft_basis(3, 3, t, NULL), 0);
    for (int y = 0; y < 3; y++)
        for (int x = 0; x < 3; x++) {
            double want = sqrt(2.0 / 9) * cos(2 * M_PI * y / 3.0);
            assert_true(fabs(t[(y * 3 + x) * 9 + 3] - want) < 1e-7);
            double want_sin = sqrt(2.0 / 9) * sin(2 * M_PI * (y / 3.0 + x / 3.0));
            assert_true(fabs(t[(y * 3 + x) * 9 + 6] - want_sin) < 1e-7);
        }
    epr_err e;
    assert_int_not_equal(epr_dft_basis(0, 3, t, &e), 0);
    assert_int_equal(e.code, EPR_EARG);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_orthonormal),
        cmocka_unit_test(test_column_order_3x3),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
