/* tests/epr/test_rate.c — the rate term: noisy training rate against a
 * double-precision oracle written here (same documented noise counter),
 * finite-difference checks of d rate / d latent, d log s (one s per group
 * and one per column) and d density; the noise does not depend on how rows
 * are split across calls (ranks) nor on how a group's tensors are cut;
 * exact self-information against an independent implementation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/density_layout.h"
#include "common/rng.h"
#include "epr/density.h"
#include "epr/rate.h"
#include "epr_test_util.h"

/* ---- independent double oracle of one column's density ---- */

/* The documented noise: counter = step<<40 | group<<32 | (base + row*ell + col). */
static double oracle_noise(uint64_t seed, uint64_t step, uint32_t group, uint64_t base, size_t row, int ell, int col) {
    uint64_t c = (step << 40) | ((uint64_t)group << 32) | (base + row * (uint64_t)ell + (uint64_t)col);
    return (double)(cmn_rng_uniform(seed, EPR_STREAM_RATE_NOISE, c) - 0.5f);
}

typedef struct {
    int ell, n_log_s;
    size_t rows;
    double *density; /* [ell x 43] */
    double *latent;  /* [rows x ell] */
    double *log_s;
    rp_noise_key key;
} problem;

static double oracle_rate(const problem *pr, size_t r0, size_t r1) {
    double t = 0;
    for (size_t r = r0; r < r1; r++)
        for (int c = 0; c < pr->ell; c++) {
            double s = exp(pr->log_s[pr->n_log_s == 1 ? 0 : c]);
            double y = pr->latent[r * pr->ell + c] / s +
                       oracle_noise(pr->key.seed, pr->key.step, pr->key.group_id, pr->key.elem_base, r, pr->ell, c);
            t += oracle_bits(pr->density + c * EPR_DENSITY_NPARAMS, y);
        }
    return t;
}

static void to_float(const double *a, float *b, size_t n) {
    for (size_t i = 0; i < n; i++) b[i] = (float)a[i];
}

/* latent ~ s * N-ish(0, 3) in theta units, densities init + perturbation */
static void make_problem(problem *pr, int ell, int n_log_s, size_t rows, uint64_t seed) {
    pr->ell = ell;
    pr->n_log_s = n_log_s;
    pr->rows = rows;
    pr->density = malloc(sizeof(double) * ell * EPR_DENSITY_NPARAMS);
    pr->latent = malloc(sizeof(double) * rows * ell);
    pr->log_s = malloc(sizeof(double) * n_log_s);
    float *tmp = malloc(sizeof(float) * ell * EPR_DENSITY_NPARAMS);
    rp_density_init(tmp, ell, seed);
    for (int k = 0; k < ell * EPR_DENSITY_NPARAMS; k++)
        pr->density[k] = (float)(tmp[k] + 0.6f * (cmn_rng_uniform(seed, 97, (uint64_t)k) - 0.5f));
    free(tmp);
    for (int i = 0; i < n_log_s; i++) pr->log_s[i] = (float)(-4.0 + 0.3 * i);
    for (size_t k = 0; k < rows * ell; k++) {
        double s = exp(pr->log_s[n_log_s == 1 ? 0 : (int)(k % ell)]);
        pr->latent[k] = (float)(s * 6.0 * (cmn_rng_uniform(seed, 96, k) - 0.5f));
    }
    pr->key = (rp_noise_key){.seed = seed * 31 + 5, .step = 12345, .group_id = 3, .elem_base = 1000};
}

static void free_problem(problem *pr) {
    free(pr->density);
    free(pr->latent);
    free(pr->log_s);
}

/* Analytic gradients of weight * rate over [r0, r1) vs central differences
 * of the double oracle in every latent element, every log s and every
 * density parameter. */
static void check_rate_grads(int ell, int n_log_s, size_t rows, size_t r0, size_t r1) {
    problem pr;
    make_problem(&pr, ell, n_log_s, rows, (uint64_t)(ell * 100 + n_log_s));
    const float weight = 1.7f;
    const size_t nl = rows * ell, nd = (size_t)ell * EPR_DENSITY_NPARAMS;
    float *D = malloc(sizeof(float) * nd), *L = malloc(sizeof(float) * nl), S[64];
    float *dD = calloc(nd, sizeof(float)), *dL = calloc(nl, sizeof(float)), dS[64] = {0};
    double *fdD = malloc(sizeof(double) * nd), *fdL = calloc(nl, sizeof(double)), fdS[64];
    to_float(pr.density, D, nd);
    to_float(pr.latent, L, nl);
    to_float(pr.log_s, S, n_log_s);
    double bits = -1;
    epr_err err = {0};
    assert_int_equal(rp_rate_noisy(D, L, rows, ell, r0, r1, S, n_log_s, &pr.key, weight, &bits, dL, dS, dD, &err), 0);
    double want = oracle_rate(&pr, r0, r1);
    assert_true(fabs(bits - want) <= 1e-5 * want);

    const double eps = 1e-5;
    for (size_t k = 0; k < nl; k++) {
        size_t r = k / ell;
        if (r < r0 || r >= r1) {
            assert_true(dL[k] == 0.0f); /* rows outside the range untouched */
            fdL[k] = 0;
            continue;
        }
        /* latent is in theta units (~s): scale the step by s */
        double h = eps * exp(pr.log_s[n_log_s == 1 ? 0 : (int)(k % ell)]), save = pr.latent[k];
        pr.latent[k] = save + h;
        double fp = oracle_rate(&pr, r0, r1);
        pr.latent[k] = save - h;
        double fm = oracle_rate(&pr, r0, r1);
        pr.latent[k] = save;
        fdL[k] = weight * (fp - fm) / (2 * h);
    }
    for (int i = 0; i < n_log_s; i++) {
        double save = pr.log_s[i];
        pr.log_s[i] = save + eps;
        double fp = oracle_rate(&pr, r0, r1);
        pr.log_s[i] = save - eps;
        double fm = oracle_rate(&pr, r0, r1);
        pr.log_s[i] = save;
        fdS[i] = weight * (fp - fm) / (2 * eps);
    }
    for (size_t k = 0; k < nd; k++) {
        double save = pr.density[k];
        pr.density[k] = save + eps;
        double fp = oracle_rate(&pr, r0, r1);
        pr.density[k] = save - eps;
        double fm = oracle_rate(&pr, r0, r1);
        pr.density[k] = save;
        fdD[k] = weight * (fp - fm) / (2 * eps);
    }
    check_close("d latent", dL, fdL, nl, 2e-3, 1e-4);
    check_close("d log s", dS, fdS, n_log_s, 2e-3, 1e-4);
    check_close("d density", dD, fdD, nd, 2e-3, 1e-4);
    free(D), free(L), free(dD), free(dL), free(fdD), free(fdL);
    free_problem(&pr);
}

static void test_grads_affine(void **state) {
    (void)state;
    check_rate_grads(1, 1, 40, 0, 40);
    check_rate_grads(1, 1, 300, 5, 299); /* > 256 values: accumulator folds */
}
static void test_grads_conv_per_column(void **state) {
    (void)state;
    check_rate_grads(9, 9, 12, 3, 10);
}
static void test_grads_shared_s(void **state) {
    (void)state;
    check_rate_grads(4, 1, 10, 0, 10);
}

/* One call over [0, rows) equals two calls over [0, k) and [k, rows): the
 * latent gradient bitwise (it depends on each element's noise only), the
 * bits and the other gradients to round-off. */
static void test_split_ranges(void **state) {
    (void)state;
    problem pr;
    const int ell = 9;
    const size_t rows = 57, k = 23;
    make_problem(&pr, ell, ell, rows, 42);
    const size_t nl = rows * ell, nd = (size_t)ell * EPR_DENSITY_NPARAMS;
    float *D = malloc(sizeof(float) * nd), *L = malloc(sizeof(float) * nl), S[9];
    to_float(pr.density, D, nd);
    to_float(pr.latent, L, nl);
    to_float(pr.log_s, S, ell);
    float *dL1 = calloc(nl, sizeof(float)), *dL2 = calloc(nl, sizeof(float));
    float *dD1 = calloc(nd, sizeof(float)), *dD2 = calloc(nd, sizeof(float));
    float dS1[9] = {0}, dS2[9] = {0};
    double b1, b2a, b2b;
    assert_int_equal(rp_rate_noisy(D, L, rows, ell, 0, rows, S, ell, &pr.key, 0.5f, &b1, dL1, dS1, dD1, NULL), 0);
    assert_int_equal(rp_rate_noisy(D, L, rows, ell, 0, k, S, ell, &pr.key, 0.5f, &b2a, dL2, dS2, dD2, NULL), 0);
    assert_int_equal(rp_rate_noisy(D, L, rows, ell, k, rows, S, ell, &pr.key, 0.5f, &b2b, dL2, dS2, dD2, NULL), 0);
    assert_memory_equal(dL1, dL2, sizeof(float) * nl);
    assert_true(fabs(b1 - (b2a + b2b)) <= 1e-12 * b1);
    for (int i = 0; i < ell; i++) assert_true(fabsf(dS1[i] - dS2[i]) <= 1e-5f * (1 + fabsf(dS1[i])));
    for (size_t i = 0; i < nd; i++) assert_true(fabsf(dD1[i] - dD2[i]) <= 1e-5f * (1 + fabsf(dD1[i])));

    /* Forward only (no gradient buffers) gives the same bits. */
    double b3;
    assert_int_equal(rp_rate_noisy(D, L, rows, ell, 0, rows, S, ell, &pr.key, 0.5f, &b3, NULL, NULL, NULL, NULL), 0);
    assert_true(b3 == b1);

    /* A group cut into two tensors (rows [0,k) and [k,rows)) with
     * elem_base = k*ell for the second sees the same noise as the whole. */
    float *dL3 = calloc(nl, sizeof(float)), dS3[9] = {0};
    rp_noise_key k2 = pr.key;
    k2.elem_base += k * ell;
    assert_int_equal(rp_rate_noisy(D, L, k, ell, 0, k, S, ell, &pr.key, 0.5f, &b2a, dL3, dS3, NULL, NULL), 0);
    assert_int_equal(rp_rate_noisy(D, L + k * ell, rows - k, ell, 0, rows - k, S, ell, &k2, 0.5f, &b2b, dL3 + k * ell,
                                   dS3, NULL, NULL),
                     0);
    assert_memory_equal(dL1, dL3, sizeof(float) * nl);

    /* Another step or group draws other noise. */
    rp_noise_key k3 = pr.key;
    k3.step++;
    double b4;
    assert_int_equal(rp_rate_noisy(D, L, rows, ell, 0, rows, S, ell, &k3, 0.5f, &b4, NULL, NULL, NULL, NULL), 0);
    assert_true(b4 != b1);
    free(D), free(L), free(dL1), free(dL2), free(dD1), free(dD2), free(dL3);
    free_problem(&pr);
}

static void test_bad_args(void **state) {
    (void)state;
    float D[EPR_DENSITY_NPARAMS], L[4] = {0}, S[1] = {0};
    rp_density_init(D, 1, 1);
    rp_noise_key key = {.seed = 1, .step = 1, .group_id = 0, .elem_base = 0};
    epr_err err = {0};
    double b;
    assert_int_equal(rp_rate_noisy(D, L, 4, 1, 2, 5, S, 1, &key, 1, &b, NULL, NULL, NULL, &err), EPR_EARG);
    assert_int_equal(rp_rate_noisy(D, L, 4, 1, 3, 2, S, 1, &key, 1, &b, NULL, NULL, NULL, &err), EPR_EARG);
    assert_int_equal(rp_rate_noisy(D, L, 4, 1, 0, 4, S, 2, &key, 1, &b, NULL, NULL, NULL, &err), EPR_EARG);
    key.step = 1ULL << 24;
    assert_int_equal(rp_rate_noisy(D, L, 4, 1, 0, 4, S, 1, &key, 1, &b, NULL, NULL, NULL, &err), EPR_EARG);
    key.step = 0;
    key.group_id = 256;
    assert_int_equal(rp_rate_noisy(D, L, 4, 1, 0, 4, S, 1, &key, 1, &b, NULL, NULL, NULL, &err), EPR_EARG);
    key.group_id = 0;
    key.elem_base = (1ULL << 32) - 3;
    assert_int_equal(rp_rate_noisy(D, L, 4, 1, 0, 4, S, 1, &key, 1, &b, NULL, NULL, NULL, &err), EPR_EARG);
    assert_true(strlen(err.msg) > 0);
    key.elem_base = (1ULL << 32) - 4;
    assert_int_equal(rp_rate_noisy(D, L, 4, 1, 0, 4, S, 1, &key, 1, &b, NULL, NULL, NULL, &err), 0);
    /* empty range */
    assert_int_equal(rp_rate_noisy(D, L, 4, 1, 2, 2, S, 1, &key, 1, &b, NULL, NULL, NULL, &err), 0);
    assert_true(b == 0.0);
}

/* Exact self-information of a fixed integer matrix, recomputed here
 * straightforwardly in double: P(k) = |c(k+1/2) - c(k-1/2)| with the sign
 * trick, bounded by 1e-9.  Columns with a narrow support (tabulated path)
 * and a wide one (per-value path). */
static void test_exact(void **state) {
    (void)state;
    const int ell = 3;
    const size_t rows = 300;
    float D[3 * EPR_DENSITY_NPARAMS];
    double Dd[3 * EPR_DENSITY_NPARAMS];
    rp_density_init(D, ell, 77);
    for (int k = 0; k < 3 * EPR_DENSITY_NPARAMS; k++) {
        D[k] += 0.5f * (cmn_rng_uniform(77, 95, (uint64_t)k) - 0.5f);
        Dd[k] = D[k];
    }
    int32_t *phi = malloc(sizeof(int32_t) * rows * ell);
    for (size_t r = 0; r < rows; r++) {
        uint64_t u = cmn_rng_u64(5, 6, r);
        phi[r * ell + 0] = (int32_t)(u % 7) - 3;                       /* narrow */
        phi[r * ell + 1] = (r % 10 == 0) ? 0 : (int32_t)(u % 21) - 12; /* narrow, mostly */
        phi[r * ell + 2] = (int32_t)((u >> 20) % 2001) - 1000;         /* wide: tails at the bound */
    }
    double want_col[3] = {0, 0, 0};
    for (int c = 0; c < ell; c++)
        for (size_t r = 0; r < rows; r++) {
            const double *P = Dd + c * EPR_DENSITY_NPARAMS;
            double k = phi[r * ell + c];
            double l = oracle_logits(P, k - 0.5), u = oracle_logits(P, k + 0.5);
            double s = l + u > 0 ? -1.0 : 1.0;
            double p = fabs(oracle_sig(s * u) - oracle_sig(s * l));
            if (p < 1e-9) p = 1e-9;
            want_col[c] += -log2(p);
        }
    double got_col[3];
    double got = rp_rate_exact(D, phi, rows, ell, got_col);
    double want = want_col[0] + want_col[1] + want_col[2];
    assert_true(fabs(got - want) <= 1e-4 * want);
    for (int c = 0; c < ell; c++) assert_true(fabs(got_col[c] - want_col[c]) <= 1e-4 * want_col[c]);
    assert_true(rp_rate_exact(D, phi, 0, ell, NULL) == 0.0);
    free(phi);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grads_affine),   cmocka_unit_test(test_grads_conv_per_column),
        cmocka_unit_test(test_grads_shared_s), cmocka_unit_test(test_split_ranges),
        cmocka_unit_test(test_bad_args),       cmocka_unit_test(test_exact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
