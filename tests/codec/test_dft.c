/* tests/codec/test_dft.c — the DFT basis is orthonormal (T T^T = I within
 * 1e-6), its columns follow the documented order, its bytes are pinned
 * (CRC32 per size: the basis is part of the format and computed without
 * libm, so these hold on every machine), and every entry is within one
 * float ulp of a long-double reference, exact zeros included. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
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

/* Recorded from this implementation (gcc -O2 and clang -O3
 * -ffp-contract=off give the same bytes); a change here changes theta of
 * every DFT group and needs a format note. */
static void test_basis_bytes_pinned(void **state) {
    (void)state;
    static const struct {
        int h, w;
        uint32_t crc;
    } pins[] = {{1, 1, 0xaca16a6au},   {2, 2, 0x9c4c7c45u},   {3, 3, 0x335aa735u},   {4, 4, 0x1ca73f46u},
                {5, 5, 0xc5ee12b3u},   {7, 7, 0x6aa34a71u},   {3, 5, 0xe34738d6u},   {8, 8, 0xc9feec05u},
                {11, 13, 0x9e94cd74u}, {16, 16, 0xbbab9dd2u}, {1, 256, 0xf897d599u}, {32, 32, 0xe545ec1bu}};
    for (size_t i = 0; i < sizeof pins / sizeof *pins; i++) {
        const size_t ell = (size_t)pins[i].h * pins[i].w;
        float *t = malloc(sizeof(float) * ell * ell);
        assert_int_equal(epr_dft_basis(pins[i].h, pins[i].w, t, NULL), 0);
        uint32_t crc = epr_crc32(t, sizeof(float) * ell * ell);
        if (crc != pins[i].crc)
            fail_msg("%dx%d basis: crc32 %08x, pinned %08x", pins[i].h, pins[i].w, crc, pins[i].crc);
        free(t);
    }
}

/* float(scale * cos or sin) against long double; ulp distance. */
static int ulps(float a, float b) {
    int32_t x, y;
    memcpy(&x, &a, 4);
    memcpy(&y, &b, 4);
    if (x < 0) x = INT32_MIN - x;
    if (y < 0) y = INT32_MIN - y;
    return abs(x - y);
}

static void test_basis_accuracy(void **state) {
    (void)state;
    long entries = 0, off_by_one = 0;
    for (int h = 1; h <= 12; h++)
        for (int w = 1; w <= 12; w++) {
            const int ell = h * w;
            float *t = malloc(sizeof(float) * (size_t)ell * ell);
            assert_int_equal(epr_dft_basis(h, w, t, NULL), 0);
            int col = 0;
            for (int u = 0; u < h; u++)
                for (int v = 0; v < w; v++) {
                    int cidx = ((h - u) % h) * w + (w - v) % w, idx = u * w + v;
                    if (cidx < idx) continue;
                    int self = cidx == idx;
                    long double sc = self ? 1.0L / sqrtl(ell) : sqrtl(2.0L / ell);
                    for (int y = 0; y < h; y++)
                        for (int x = 0; x < w; x++) {
                            int m = (u * y * w + v * x * h) % ell;
                            long double a = 2.0L * 3.14159265358979323846264338327950288L * m / ell;
                            /* exact zeros of cos and sin at quarter turns */
                            long double c = 4 * m == ell || 4 * m == 3 * ell ? 0.0L : cosl(a);
                            long double s = 2 * m == ell || m == 0 ? 0.0L : sinl(a);
                            const float *row = t + (size_t)(y * w + x) * ell;
                            int d = ulps(row[col], (float)(sc * c));
                            if (!self) {
                                int d2 = ulps(row[col + 1], (float)(sc * s));
                                d = d > d2 ? d : d2;
                                entries++;
                            }
                            entries++;
                            if (d > 1) fail_msg("%dx%d (%d,%d) at (%d,%d): %d ulps", h, w, u, v, y, x, d);
                            off_by_one += d;
                        }
                    col += self ? 1 : 2;
                }
            free(t);
        }
    print_message("%ld values, %ld one ulp from the long-double reference\n", entries, off_by_one);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_orthonormal),
        cmocka_unit_test(test_column_order_3x3),
        cmocka_unit_test(test_basis_bytes_pinned),
        cmocka_unit_test(test_basis_accuracy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
