/* tests/epr/test_transform.c — transforms T of the conv-affine decoder:
 * orthonormality (T T^T = I and T^T T = I), the FFTW-built DFT basis
 * against the direct cos/sin formula in double (column order and
 * normalisation are part of the bitstream contract), random-orthogonal
 * reproducibility, names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "epr/codec.h"
#include "epr/transform.h"

static const int sizes[][2] = {{3, 3}, {5, 5}, {4, 4}, {2, 3}, {1, 1}, {3, 2}, {7, 7}, {1, 4}};
#define NSIZES (int)(sizeof sizes / sizeof sizes[0])

static void check_orthonormal(const float *T, int ell, double tol) {
    double worst = 0;
    for (int i = 0; i < ell; i++)
        for (int j = 0; j < ell; j++) {
            double rr = 0, cc = 0; /* row i . row j, col i . col j */
            for (int k = 0; k < ell; k++) {
                rr += (double)T[i * ell + k] * T[j * ell + k];
                cc += (double)T[k * ell + i] * T[k * ell + j];
            }
            double id = i == j ? 1.0 : 0.0;
            worst = fmax(worst, fmax(fabs(rr - id), fabs(cc - id)));
        }
    if (!(worst <= tol)) print_error("ell %d: |T T^T - I| = %g\n", ell, worst);
    assert_true(worst <= tol);
}

/* The documented construction, straight from the formula, in double. */
static void direct_dft(int H, int W, double *T) {
    const int ell = H * W;
    int col = 0;
    for (int u = 0; u < H; u++)
        for (int v = 0; v < W; v++) {
            int idx = u * W + v, cu = (H - u) % H, cv = (W - v) % W, cidx = cu * W + cv;
            if (cidx < idx) continue;
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++) {
                    int p = y * W + x;
                    double ang = 2 * M_PI * ((double)u * y / H + (double)v * x / W);
                    if (cidx == idx) {
                        T[p * ell + col] = cos(ang) / sqrt((double)ell);
                    } else {
                        T[p * ell + col] = sqrt(2.0 / ell) * cos(ang);
                        T[p * ell + col + 1] = sqrt(2.0 / ell) * sin(ang);
                    }
                }
            col += cidx == idx ? 1 : 2;
        }
    assert_int_equal(col, ell);
}

static void test_dft(void **state) {
    (void)state;
    for (int s = 0; s < NSIZES; s++) {
        int H = sizes[s][0], W = sizes[s][1], ell = H * W;
        float *T = malloc(sizeof(float) * ell * ell);
        double *R = malloc(sizeof(double) * ell * ell);
        epr_err err = {0};
        assert_int_equal(rp_transform_dft(H, W, T, &err), 0);
        check_orthonormal(T, ell, 1e-6);
        direct_dft(H, W, R);
        for (int k = 0; k < ell * ell; k++) {
            if (!(fabs(T[k] - R[k]) <= 1e-6)) print_error("%dx%d entry %d: %g vs %g\n", H, W, k, T[k], R[k]);
            assert_true(fabs(T[k] - R[k]) <= 1e-6);
        }
        /* column 0 is the DC basis function */
        for (int p = 0; p < ell; p++) assert_true(fabs(T[p * ell] - 1.0 / sqrt((double)ell)) <= 1e-7);
        /* learned starts at the DFT */
        float *L = malloc(sizeof(float) * ell * ell);
        assert_int_equal(rp_transform_build(EPR_TRANSFORM_LEARNED, H, W, 0, L, &err), 0);
        assert_memory_equal(T, L, sizeof(float) * ell * ell);
        free(T), free(R), free(L);
    }
}

/* The codec library rebuilds the basis from the formula (libm, no FFTW) to
 * decode bitstreams: it must agree with the FFTW-built T column for column. */
static void test_dft_matches_codec(void **state) {
    (void)state;
    for (int s = 0; s < NSIZES; s++) {
        int H = sizes[s][0], W = sizes[s][1], ell = H * W;
        float *T = malloc(sizeof(float) * ell * ell), *C = malloc(sizeof(float) * ell * ell);
        epr_err err = {0};
        assert_int_equal(rp_transform_dft(H, W, T, &err), 0);
        assert_int_equal(epr_dft_basis(H, W, C, &err), 0);
        for (int k = 0; k < ell * ell; k++) assert_true(fabsf(T[k] - C[k]) <= 1e-6f);
        free(T), free(C);
    }
}

static void test_random_orthogonal(void **state) {
    (void)state;
    for (int s = 0; s < NSIZES; s++) {
        int ell = sizes[s][0] * sizes[s][1];
        float *A = malloc(sizeof(float) * ell * ell), *B = malloc(sizeof(float) * ell * ell),
              *C = malloc(sizeof(float) * ell * ell);
        epr_err err = {0};
        assert_int_equal(rp_transform_random_orthogonal(ell, 17, A, &err), 0);
        assert_int_equal(rp_transform_build(EPR_TRANSFORM_RANDOM_ORTHOGONAL, sizes[s][0], sizes[s][1], 17, B, &err), 0);
        assert_int_equal(rp_transform_random_orthogonal(ell, 18, C, &err), 0);
        check_orthonormal(A, ell, 1e-6);
        check_orthonormal(C, ell, 1e-6);
        assert_memory_equal(A, B, sizeof(float) * ell * ell);      /* reproducible */
        assert_true(memcmp(A, C, sizeof(float) * ell * ell) != 0); /* seed matters */
        free(A), free(B), free(C);
    }
    /* A pinned entry, so an unnoticed change of the construction fails. */
    static const float pinned[9] = {-0.951221645f, -0.182619423f, -0.248651311f, 0.302889645f, -0.399694413f,
                                    -0.865160227f, 0.0586105175f, -0.898273051f, 0.435511529f};
    float T[9];
    assert_int_equal(rp_transform_random_orthogonal(3, 17, T, NULL), 0);
    for (int k = 0; k < 9; k++) assert_true(fabsf(T[k] - pinned[k]) <= 1e-6f);
}

static void test_identity_and_names(void **state) {
    (void)state;
    float T[16];
    epr_err err = {0};
    assert_int_equal(rp_transform_build(EPR_TRANSFORM_IDENTITY, 2, 2, 0, T, &err), 0);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) assert_true(T[i * 4 + j] == (i == j ? 1.0f : 0.0f));
    const char *names[] = {"identity", "dft", "random-orthogonal", "learned"};
    for (int k = 0; k < 4; k++) {
        epr_transform_kind kind;
        assert_int_equal(rp_transform_parse(names[k], &kind, &err), 0);
        assert_int_equal((int)kind, k);
        assert_string_equal(rp_transform_name(kind), names[k]);
        assert_int_equal(rp_transform_is_trainable(kind), k == 3);
    }
    epr_transform_kind kind;
    assert_int_equal(rp_transform_parse("fft", &kind, &err), EPR_EARG);
    assert_non_null(strstr(err.msg, "fft"));
    assert_int_equal(rp_transform_parse("explicit", &kind, &err), EPR_EARG);
    assert_string_equal(rp_transform_name(EPR_TRANSFORM_EXPLICIT), "explicit");
    assert_int_equal(rp_transform_build(EPR_TRANSFORM_EXPLICIT, 2, 2, 0, T, &err), EPR_EARG);
    assert_int_equal(rp_transform_dft(0, 3, T, &err), EPR_EARG);
    assert_int_equal(rp_transform_random_orthogonal(0, 1, T, &err), EPR_EARG);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dft),
        cmocka_unit_test(test_dft_matches_codec),
        cmocka_unit_test(test_random_orthogonal),
        cmocka_unit_test(test_identity_and_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
