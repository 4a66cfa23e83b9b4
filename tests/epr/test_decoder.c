/* tests/epr/test_decoder.c — affine and conv-affine parameter decoders:
 * forward against double arithmetic, rounding (half away from zero,
 * saturation), init, and finite-difference checks of every gradient.
 *
 * Why a surrogate: round() is piecewise constant, so finite differences of
 * the real decode are zero (or jumps) and cannot check a straight-through
 * gradient.  The STE gradient is the exact gradient of the smooth surrogate
 * in which round(x) is replaced by the identity plus a FROZEN offset,
 * round(x) ~ x + delta, delta = round(x0) - x0 taken at the test point.  The
 * surrogate equals the real decode at the test point, and its derivative in
 * log s keeps the s*(phi - phi_hat) term (plain identity would drop it).
 * So: L = sum w .* theta_surrogate, differentiated centrally in double,
 * against the library backward with d_theta = w. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"
#include "epr/decoder.h"
#include "epr/transform.h"
#include "epr_test_util.h"

static double urand(uint64_t seed, uint64_t k) { return cmn_rng_uniform(seed, 90, k) - 0.5; }

/* ---------------- affine ---------------- */

typedef struct {
    size_t n;
    double *latent, *delta, *w;
    double log_s, b;
} affine_sur;

static double affine_loss(const affine_sur *a) {
    double s = exp(a->log_s), L = 0;
    for (size_t i = 0; i < a->n; i++) L += a->w[i] * (s * (a->latent[i] / s + a->delta[i]) + a->b);
    return L;
}

static void test_affine(void **state) {
    (void)state;
    const size_t n = 50;
    float psi[2] = {-3.7f, 0.013f}, *lat = malloc(sizeof(float) * n), *th = malloc(sizeof(float) * n);
    int32_t *phi = malloc(sizeof(int32_t) * n);
    affine_sur a = {.n = n, .log_s = psi[0], .b = psi[1]};
    a.latent = malloc(sizeof(double) * n), a.delta = malloc(sizeof(double) * n), a.w = malloc(sizeof(double) * n);
    double s = exp(a.log_s);
    for (size_t i = 0; i < n; i++) {
        lat[i] = (float)(0.3 * urand(1, i));
        a.latent[i] = lat[i];
        a.w[i] = urand(2, i);
    }
    rp_affine_decode(psi, lat, n, th, phi);
    for (size_t i = 0; i < n; i++) {
        double phi_hat = a.latent[i] / s;
        assert_true(fabs(phi[i] - phi_hat) <= 0.5 + 1e-4);
        assert_true(fabs(th[i] - (s * phi[i] + a.b)) <= 1e-6);
        a.delta[i] = phi[i] - phi_hat;
    }
    /* backward: accumulate onto non-zero buffers */
    float *dlat = malloc(sizeof(float) * n), dpsi[2] = {0.5f, -0.25f}, *wf = malloc(sizeof(float) * n);
    for (size_t i = 0; i < n; i++) dlat[i] = 1.0f, wf[i] = (float)a.w[i];
    rp_affine_backward(psi, lat, n, wf, dlat, dpsi);
    double *fd = malloc(sizeof(double) * n), fdpsi[2];
    float *got = malloc(sizeof(float) * n);
    const double eps = 1e-6;
    for (size_t i = 0; i < n; i++) {
        double save = a.latent[i];
        a.latent[i] = save + eps;
        double fp = affine_loss(&a);
        a.latent[i] = save - eps;
        double fm = affine_loss(&a);
        a.latent[i] = save;
        fd[i] = (fp - fm) / (2 * eps);
        got[i] = dlat[i] - 1.0f;
    }
    check_close("affine d latent", got, fd, n, 1e-5, 1e-6);
    double save = a.log_s;
    a.log_s = save + eps;
    double fp = affine_loss(&a);
    a.log_s = save - eps;
    double fm = affine_loss(&a);
    a.log_s = save;
    fdpsi[0] = (fp - fm) / (2 * eps);
    save = a.b;
    a.b = save + eps;
    fp = affine_loss(&a);
    a.b = save - eps;
    fm = affine_loss(&a);
    a.b = save;
    fdpsi[1] = (fp - fm) / (2 * eps);
    float gpsi[2] = {dpsi[0] - 0.5f, dpsi[1] + 0.25f};
    check_close("affine d psi", gpsi, fdpsi, 2, 1e-4, 1e-6);
    assert_true(fabs(fdpsi[0]) > 1e-4); /* the s*(phi - phi_hat) term is exercised */

    /* d_latent may be NULL */
    float dpsi2[2] = {0, 0};
    rp_affine_backward(psi, lat, n, wf, NULL, dpsi2);
    assert_true(dpsi2[0] == gpsi[0] + 0.0f || fabsf(dpsi2[0] - gpsi[0]) < 1e-6f);

    /* init */
    float psi0[2], lat0[4];
    const float th0[4] = {0.1f, -0.2f, 0.0f, 0.05f};
    rp_affine_init(-4.0f, th0, 4, psi0, lat0);
    assert_true(psi0[0] == -4.0f && psi0[1] == 0.0f);
    assert_memory_equal(lat0, th0, sizeof th0);

    free(lat), free(th), free(phi), free(a.latent), free(a.delta), free(a.w), free(dlat), free(wf), free(fd), free(got);
}

static void test_rounding(void **state) {
    (void)state;
    const float lat[9] = {2.5f, -2.5f, 0.5f, -0.5f, 1.49999f, 3.5f, 1e30f, -1e30f, NAN};
    const int32_t want[9] = {3, -3, 1, -1, 1, 4, EPR_PHI_MAX, -EPR_PHI_MAX, 0};
    int32_t phi[9];
    float ls = 0.0f; /* s = 1 exactly */
    rp_decoder_phi(lat, 9, 1, &ls, 1, phi);
    assert_memory_equal(phi, want, sizeof want);
    float psi[2] = {0.0f, 0.0f}, th[6];
    rp_affine_decode(psi, lat, 6, th, phi);
    for (int i = 0; i < 6; i++) assert_true(th[i] == (float)want[i]);
    /* the decoder's rounding is roundf, bit for bit (s = 1, b = 0) */
    enum { NR = 200000 };
    float *x = malloc(sizeof(float) * NR), *y = malloc(sizeof(float) * NR);
    for (int i = 0; i < NR; i++) {
        uint32_t u = (uint32_t)cmn_rng_u64(9, 1, (uint64_t)i);
        float mag = ldexpf((float)(u & 0xffffff), (int)((u >> 24) % 40) - 30); /* 2^-30 .. 2^33 */
        x[i] = (u & 0x80000000u) ? -mag : mag;
        if (i % 4 == 1) x[i] = (float)((int)(u % 2001) - 1000) + ((u & 1) ? 0.5f : -0.5f); /* ties */
        if (i % 4 == 2) x[i] = nextafterf((float)((int)(u % 2001) - 1000) + 0.5f, (u & 2) ? 1e9f : -1e9f);
    }
    x[0] = 0.49999997f, x[3] = -0.49999997f, x[7] = 8388607.5f, x[11] = -0.0f, x[15] = 16777217.0f;
    rp_affine_decode(psi, x, NR, y, NULL);
    for (int i = 0; i < NR; i++) {
        if (!(y[i] == roundf(x[i]))) print_error("round(%.9g): %.9g, roundf %.9g\n", x[i], y[i], roundf(x[i]));
        assert_true(y[i] == roundf(x[i]));
    }
    free(x), free(y);
    /* per-column s */
    float lat2[4] = {0.5f, 0.5f, -1.0f, -1.0f}, ls2[2] = {0.0f, (float)log(4.0)};
    int32_t phi2[4];
    rp_decoder_phi(lat2, 2, 2, ls2, 2, phi2);
    assert_int_equal(phi2[0], 1);
    assert_int_equal(phi2[1], 0);
    assert_int_equal(phi2[2], -1);
    assert_int_equal(phi2[3], 0);
}

/* ---------------- conv-affine ---------------- */

typedef struct {
    int ell;
    size_t rows;
    double *latent, *delta, *w, *log_s, *c, *T; /* T NULL: identity */
} conv_sur;

static double conv_loss(const conv_sur *a) {
    const int ell = a->ell;
    double L = 0, q[64];
    for (size_t r = 0; r < a->rows; r++) {
        for (int j = 0; j < ell; j++) {
            double s = exp(a->log_s[j]);
            q[j] = s * (a->latent[r * ell + j] / s + a->delta[r * ell + j]);
        }
        for (int p = 0; p < ell; p++) {
            double th = a->c[p];
            for (int j = 0; j < ell; j++) th += (a->T ? a->T[p * ell + j] : (double)(p == j)) * q[j];
            L += a->w[r * ell + p] * th;
        }
    }
    return L;
}

static double fd_at(conv_sur *a, double *x, double h) {
    double save = *x;
    *x = save + h;
    double fp = conv_loss(a);
    *x = save - h;
    double fm = conv_loss(a);
    *x = save;
    return (fp - fm) / (2 * h);
}

/* kind: 0 identity (T NULL), 1 dft fixed, 2 random-orthogonal fixed,
 * 3 learned (T in psi). */
static void check_conv(int kind, int H, int W, size_t rows) {
    const int ell = H * W, learned = kind == 3;
    const size_t n = rows * ell, npsi = rp_conv_affine_npsi(ell, learned);
    assert_int_equal(npsi, 2 * ell + (learned ? ell * ell : 0));
    float *psi = malloc(sizeof(float) * npsi), *dpsi = calloc(npsi, sizeof(float));
    float *Tfix = malloc(sizeof(float) * ell * ell), *T = NULL, *dT = NULL;
    epr_err err = {0};
    if (kind == 1 || kind == 3) assert_int_equal(rp_transform_dft(H, W, learned ? psi + 2 * ell : Tfix, &err), 0);
    if (kind == 2) assert_int_equal(rp_transform_random_orthogonal(ell, 3, Tfix, &err), 0);
    if (kind == 1 || kind == 2) T = Tfix;
    if (learned) {
        T = psi + 2 * ell;
        dT = dpsi + 2 * ell;
        for (int k = 0; k < ell * ell; k++) T[k] += (float)(0.1 * urand(8, k)); /* trained away from the DFT */
    }
    for (int j = 0; j < ell; j++) {
        psi[j] = (float)(-4.0 + 0.5 * urand(3, j));
        psi[ell + j] = (float)(0.01 * urand(4, j));
    }
    float *lat = malloc(sizeof(float) * n), *th = malloc(sizeof(float) * n), *work = malloc(sizeof(float) * n);
    float *wf = malloc(sizeof(float) * n), *dlat = malloc(sizeof(float) * n);
    int32_t *phi = malloc(sizeof(int32_t) * n);
    conv_sur a = {.ell = ell, .rows = rows};
    a.latent = malloc(sizeof(double) * n), a.delta = malloc(sizeof(double) * n), a.w = malloc(sizeof(double) * n);
    a.log_s = malloc(sizeof(double) * ell), a.c = malloc(sizeof(double) * ell);
    a.T = T ? malloc(sizeof(double) * ell * ell) : NULL;
    for (int j = 0; j < ell; j++) a.log_s[j] = psi[j], a.c[j] = psi[ell + j];
    if (T)
        for (int k = 0; k < ell * ell; k++) a.T[k] = T[k];
    for (size_t k = 0; k < n; k++) {
        lat[k] = (float)(0.2 * urand(5, k));
        a.latent[k] = lat[k];
        a.w[k] = urand(6, k);
        wf[k] = (float)a.w[k];
        dlat[k] = 0.5f;
    }

    /* forward: phi within 1/2 of phi_hat, theta = T (s . phi) + c */
    rp_conv_affine_decode(ell, psi, T, lat, rows, th, phi, work);
    double thmax = 0, errmax = 0;
    for (size_t r = 0; r < rows; r++)
        for (int p = 0; p < ell; p++) {
            double want = a.c[p];
            for (int j = 0; j < ell; j++) {
                double s = exp(a.log_s[j]);
                double q = s * phi[r * ell + j];
                want += (T ? a.T[p * ell + j] : (double)(p == j)) * q;
            }
            thmax = fmax(thmax, fabs(want));
            errmax = fmax(errmax, fabs(th[r * ell + p] - want));
        }
    assert_true(errmax <= 1e-6 * (1 + thmax));
    for (size_t k = 0; k < n; k++) {
        double phi_hat = a.latent[k] / exp(a.log_s[k % ell]);
        assert_true(fabs(phi[k] - phi_hat) <= 0.5 + 1e-4);
        a.delta[k] = phi[k] - phi_hat;
    }
    /* phi == rp_decoder_phi with per-column s */
    int32_t *phi2 = malloc(sizeof(int32_t) * n);
    rp_decoder_phi(lat, rows, ell, psi, ell, phi2);
    assert_memory_equal(phi, phi2, sizeof(int32_t) * n);

    /* backward */
    rp_conv_affine_backward(ell, psi, T, lat, rows, wf, dlat, dpsi, dT, work);
    if (rows > 50) { /* large: check d latent = T^T w row-wise directly */
        float *got = malloc(sizeof(float) * n);
        double *want = malloc(sizeof(double) * n);
        for (size_t r = 0; r < rows; r++)
            for (int j = 0; j < ell; j++) {
                double g = 0;
                for (int p = 0; p < ell; p++) g += (T ? a.T[p * ell + j] : (double)(p == j)) * a.w[r * ell + p];
                want[r * ell + j] = g;
                got[r * ell + j] = dlat[r * ell + j] - 0.5f;
            }
        check_close("conv d latent (large)", got, want, n, 1e-4, 1e-5);
        free(got), free(want);
    } else {
        const double eps = 1e-6;
        float *got = malloc(sizeof(float) * n);
        double *fd = malloc(sizeof(double) * (n > npsi ? n : npsi));
        for (size_t k = 0; k < n; k++) {
            fd[k] = fd_at(&a, &a.latent[k], eps);
            got[k] = dlat[k] - 0.5f;
        }
        check_close("conv d latent", got, fd, n, 1e-5, 1e-6);
        for (int j = 0; j < ell; j++) fd[j] = fd_at(&a, &a.log_s[j], eps);
        check_close("conv d log s", dpsi, fd, ell, 1e-4, 1e-5);
        for (int j = 0; j < ell; j++) fd[j] = fd_at(&a, &a.c[j], eps);
        check_close("conv d c", dpsi + ell, fd, ell, 1e-5, 1e-6);
        if (learned) {
            for (int k = 0; k < ell * ell; k++) fd[k] = fd_at(&a, &a.T[k], eps);
            check_close("conv d T", dT, fd, ell * ell, 1e-4, 1e-6);
        }
        free(got), free(fd);
    }
    free(psi), free(dpsi), free(Tfix), free(lat), free(th), free(work), free(wf), free(dlat), free(phi), free(phi2);
    free(a.latent), free(a.delta), free(a.w), free(a.log_s), free(a.c), free(a.T);
}

static void test_conv_identity(void **state) {
    (void)state;
    check_conv(0, 3, 3, 12);
}
static void test_conv_dft(void **state) {
    (void)state;
    check_conv(1, 3, 3, 12);
    check_conv(1, 2, 3, 7);
}
static void test_conv_random_orthogonal(void **state) {
    (void)state;
    check_conv(2, 3, 3, 10);
}
static void test_conv_learned(void **state) {
    (void)state;
    check_conv(3, 3, 3, 10);
    check_conv(3, 1, 1, 5);
}
static void test_conv_large(void **state) {
    (void)state;
    check_conv(1, 3, 3, 4096);
    check_conv(3, 5, 5, 777);
}

/* init: latent = T^T theta, and decoding at init reproduces theta up to the
 * quantisation error |T (s . (phi - phi_hat))| <= s/2 sqrt(ell) per row. */
static void test_conv_init(void **state) {
    (void)state;
    const int H = 3, W = 3, ell = 9;
    const size_t rows = 64, n = rows * ell;
    float T[81], psi[18], *th = malloc(sizeof(float) * n), *lat = malloc(sizeof(float) * n);
    float *th2 = malloc(sizeof(float) * n), *work = malloc(sizeof(float) * n);
    epr_err err = {0};
    assert_int_equal(rp_transform_dft(H, W, T, &err), 0);
    for (size_t k = 0; k < n; k++) th[k] = (float)(0.2 * urand(7, k));
    assert_int_equal(rp_conv_affine_init(ell, T, -4.0f, th, rows, psi, lat, &err), 0);
    for (int j = 0; j < ell; j++) assert_true(psi[j] == -4.0f && psi[ell + j] == 0.0f);
    for (size_t r = 0; r < rows; r++)
        for (int j = 0; j < ell; j++) {
            double want = 0;
            for (int p = 0; p < ell; p++) want += (double)T[p * ell + j] * th[r * ell + p];
            assert_true(fabs(lat[r * ell + j] - want) <= 1e-6);
        }
    rp_conv_affine_decode(ell, psi, T, lat, rows, th2, NULL, work);
    const double bound = exp(-4.0) / 2 * sqrt((double)ell) + 1e-6;
    for (size_t r = 0; r < rows; r++) {
        double e2 = 0;
        for (int p = 0; p < ell; p++)
            e2 += (th2[r * ell + p] - th[r * ell + p]) * (double)(th2[r * ell + p] - th[r * ell + p]);
        assert_true(sqrt(e2) <= bound);
    }
    /* identity T (NULL): latent = theta */
    assert_int_equal(rp_conv_affine_init(ell, NULL, -4.0f, th, rows, psi, lat, &err), 0);
    assert_memory_equal(lat, th, sizeof(float) * n);
    assert_int_equal(rp_conv_affine_init(0, NULL, -4.0f, th, rows, psi, lat, &err), EPR_EARG);
    free(th), free(lat), free(th2), free(work);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_affine),
        cmocka_unit_test(test_rounding),
        cmocka_unit_test(test_conv_identity),
        cmocka_unit_test(test_conv_dft),
        cmocka_unit_test(test_conv_random_orthogonal),
        cmocka_unit_test(test_conv_learned),
        cmocka_unit_test(test_conv_large),
        cmocka_unit_test(test_conv_init),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
