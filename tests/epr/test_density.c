/* tests/epr/test_density.c — the deep-factorized density: init, likelihood
 * against an independent double-precision implementation written here,
 * finite-difference checks of every gradient of the fused kernel (43
 * parameters and the input), the lower bound and its gradient rule. */
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
#include "epr_test_util.h"

/* ---- independent oracle: the density straight from the layout comment ---- */

/* A non-trivial column: the init plus a seeded perturbation so that the
 * factors a_k are non-zero (their tanh' paths get exercised). */
static void make_params(float *P, uint64_t seed) {
    rp_density_init(P, 1, seed);
    for (int k = 0; k < EPR_DENSITY_NPARAMS; k++) P[k] += 0.6f * (cmn_rng_uniform(seed, 99, (uint64_t)k) - 0.5f);
}

static void test_init(void **state) {
    (void)state;
    float P[3 * EPR_DENSITY_NPARAMS], Q[EPR_DENSITY_NPARAMS];
    rp_density_init(P, 3, 1234);
    rp_density_init(Q, 1, 1234);
    assert_memory_equal(P, Q, sizeof Q); /* column 0 independent of ell */
    const double scale = pow(10.0, 0.25);
    const float h3 = (float)log(expm1(1.0 / scale / 3.0)), h1 = (float)log(expm1(1.0 / scale));
    for (int c = 0; c < 3; c++) {
        const float *p = P + c * EPR_DENSITY_NPARAMS;
        for (int k = 0; k < 3; k++) assert_float_equal(p[EPR_DENSITY_H0 + k], h3, 1e-7);
        for (int k = 0; k < 9; k++) {
            assert_float_equal(p[EPR_DENSITY_H1 + k], h3, 1e-7);
            assert_float_equal(p[EPR_DENSITY_H2 + k], h3, 1e-7);
        }
        for (int k = 0; k < 3; k++) assert_float_equal(p[EPR_DENSITY_H3 + k], h1, 1e-7);
        const int aoff[3] = {EPR_DENSITY_A0, EPR_DENSITY_A1, EPR_DENSITY_A2};
        const int boff[4] = {EPR_DENSITY_B0, EPR_DENSITY_B1, EPR_DENSITY_B2, EPR_DENSITY_B3};
        for (int l = 0; l < 3; l++)
            for (int k = 0; k < 3; k++) assert_true(p[aoff[l] + k] == 0.0f);
        for (int l = 0; l < 4; l++)
            for (int k = 0; k < (l == 3 ? 1 : 3); k++) {
                float b = p[boff[l] + k];
                assert_true(b >= -0.5f && b < 0.5f);
                float want = cmn_rng_uniform(1234, EPR_STREAM_DENSITY_INIT,
                                             (uint64_t)c * EPR_DENSITY_NPARAMS + (uint64_t)(boff[l] + k)) -
                             0.5f;
                assert_true(b == want);
            }
    }
    /* the three columns differ (different biases) */
    assert_true(memcmp(P, P + EPR_DENSITY_NPARAMS, sizeof Q) != 0);
    /* the init density is a proper-looking pmf over the integers */
    double total = 0;
    for (int k = -200; k <= 200; k++) total += rp_density_likelihood_d(P, k);
    assert_true(fabs(total - 1.0) < 1e-3);
}

static void test_likelihood_matches_oracle(void **state) {
    (void)state;
    float P[EPR_DENSITY_NPARAMS];
    double Pd[EPR_DENSITY_NPARAMS];
    make_params(P, 7);
    for (int k = 0; k < EPR_DENSITY_NPARAMS; k++) Pd[k] = P[k];
    for (double y = -12.0; y <= 12.0; y += 0.37) {
        double want = oracle_p(Pd, y);
        if (want < 1e-9) want = 1e-9;
        float got = rp_density_likelihood(P, (float)y);
        assert_true(fabs(got - want) <= 2e-5 * want);
        assert_true(fabs(rp_density_likelihood_d(P, y) - want) <= 1e-12 * want);
        assert_true(fabs(rp_density_logits(P, (float)y) - oracle_logits(Pd, y)) <=
                    1e-5 * (1 + fabs(oracle_logits(Pd, y))));
        assert_true(fabs(rp_density_logits_d(P, y) - oracle_logits(Pd, y)) <= 1e-12 * (1 + fabs(oracle_logits(Pd, y))));
    }
}

/* d(weight * sum bits)/d(params) and /dy against central differences of
 * the double oracle (eps 1e-5: truncation ~1e-10, round-off ~1e-11).
 * n not a multiple of the kernel's block (padding lanes), a stride, and a
 * long run (> 256 values: the per-lane float accumulators get folded into
 * double more than once). */
static void check_gradients(int n, int stride, uint64_t seed) {
    const float weight = 0.73f;
    float P[EPR_DENSITY_NPARAMS], dP[EPR_DENSITY_NPARAMS] = {0};
    double Pd[EPR_DENSITY_NPARAMS], fdP[EPR_DENSITY_NPARAMS];
    float *y = malloc(sizeof(float) * n * stride), *dy = malloc(sizeof(float) * n * stride);
    float *dyv = malloc(sizeof(float) * n);
    double *fdy = malloc(sizeof(double) * n);
    make_params(P, seed);
    for (int k = 0; k < EPR_DENSITY_NPARAMS; k++) Pd[k] = P[k];
    for (int i = 0; i < n * stride; i++) {
        y[i] = (i % stride) ? 1e30f : 8.0f * (cmn_rng_uniform(seed, 98, (uint64_t)i) - 0.5f); /* 1e30: never read */
        dy[i] = (i % stride) ? -7.0f : 0.25f; /* accumulate, not overwrite */
    }
    double bits = rp_density_bits_grad(P, y, (size_t)n, (size_t)stride, weight, dy, dP);
    double want = 0;
    for (int i = 0; i < n; i++) want += oracle_bits(Pd, y[i * stride]);
    assert_true(fabs(bits - want) <= 1e-5 * want);

    const double eps = 1e-5;
    for (int k = 0; k < EPR_DENSITY_NPARAMS; k++) {
        double save = Pd[k], fp = 0, fm = 0;
        Pd[k] = save + eps;
        for (int i = 0; i < n; i++) fp += oracle_bits(Pd, y[i * stride]);
        Pd[k] = save - eps;
        for (int i = 0; i < n; i++) fm += oracle_bits(Pd, y[i * stride]);
        Pd[k] = save;
        fdP[k] = weight * (fp - fm) / (2 * eps);
    }
    for (int i = 0; i < n; i++) {
        double yi = y[i * stride];
        fdy[i] = weight * (oracle_bits(Pd, yi + eps) - oracle_bits(Pd, yi - eps)) / (2 * eps);
        dyv[i] = dy[i * stride] - 0.25f;
        for (int j = 1; j < stride; j++) assert_true(dy[i * stride + j] == -7.0f);
    }
    check_close("d params", dP, fdP, EPR_DENSITY_NPARAMS, 1e-3, 1e-4);
    check_close("d y", dyv, fdy, n, 1e-3, 1e-4);
    free(y), free(dy), free(dyv), free(fdy);
}

static void test_gradients_fd(void **state) {
    (void)state;
    for (uint64_t seed = 1; seed <= 3; seed++) check_gradients(21, 2, seed);
    check_gradients(1000, 1, 4);
    check_gradients(1, 3, 5);
}

/* Far tail: p underflows the bound.  (a) y far out: p == bound exactly,
 * bits = -log2(1e-9).  (b) y where 1e-15 < p < 1e-10 (sigmoids still
 * representable): with weight > 0 the gradient pushes p up, so it passes:
 * it equals weight * (-1/(bound ln 2)) dp/dtheta of the UNBOUNDED p; with
 * weight < 0 it would push p down and is blocked (zero). */
static void test_bound(void **state) {
    (void)state;
    float P[EPR_DENSITY_NPARAMS];
    double Pd[EPR_DENSITY_NPARAMS];
    make_params(P, 11);
    for (int k = 0; k < EPR_DENSITY_NPARAMS; k++) Pd[k] = P[k];
    const double bound_bits = -log2((double)1e-9f);

    float far[2] = {1e4f, -1e4f};
    assert_true(rp_density_likelihood(P, far[0]) == 1e-9f);
    assert_true(rp_density_likelihood(P, far[1]) == 1e-9f);
    float dP[EPR_DENSITY_NPARAMS] = {0}, dfar[2] = {0};
    double b = rp_density_bits_grad(P, far, 2, 1, 1.0f, dfar, dP);
    assert_true(fabs(b - 2 * bound_bits) < 1e-4);
    for (int k = 0; k < EPR_DENSITY_NPARAMS; k++) assert_true(isfinite(dP[k]));

    /* find a y with p in (1e-15, 1e-10) on the right tail */
    double yt = 0;
    for (double y = 0; y < 200; y += 0.01)
        if (oracle_p(Pd, y) < 1e-11) {
            yt = y;
            break;
        }
    assert_true(yt > 0);
    double pt = oracle_p(Pd, yt);
    assert_true(pt > 1e-15 && pt < 1e-10);
    float yv = (float)yt;
    yt = yv;
    assert_true(rp_density_likelihood(P, yv) == 1e-9f);

    /* (b1) weight +1: passes */
    float g[EPR_DENSITY_NPARAMS] = {0}, gy = 0;
    rp_density_bits_grad(P, &yv, 1, 1, 1.0f, &gy, g);
    double fd[EPR_DENSITY_NPARAMS];
    const double gp = -1.0 / (1e-9 * log(2.0)), eps = 1e-6;
    for (int k = 0; k < EPR_DENSITY_NPARAMS; k++) {
        double save = Pd[k];
        Pd[k] = save + eps;
        double pp = oracle_p(Pd, yt);
        Pd[k] = save - eps;
        double pm = oracle_p(Pd, yt);
        Pd[k] = save;
        fd[k] = gp * (pp - pm) / (2 * eps);
    }
    double fdyv = gp * (oracle_p(Pd, yt + eps) - oracle_p(Pd, yt - eps)) / (2 * eps);
    check_close("tail d params", g, fd, EPR_DENSITY_NPARAMS, 2e-3, 1e-4);
    check_close("tail d y", &gy, &fdyv, 1, 2e-3, 0);
    double gnorm = 0;
    for (int k = 0; k < EPR_DENSITY_NPARAMS; k++) gnorm += fabs(g[k]);
    assert_true(gnorm > 0);

    /* (b2) weight -1: blocked */
    float h[EPR_DENSITY_NPARAMS] = {0}, hy = 0;
    rp_density_bits_grad(P, &yv, 1, 1, -1.0f, &hy, h);
    for (int k = 0; k < EPR_DENSITY_NPARAMS; k++) assert_true(h[k] == 0.0f);
    assert_true(hy == 0.0f);

    /* (c) above the bound a negative weight passes as usual */
    float y0 = 0.3f, q[EPR_DENSITY_NPARAMS] = {0}, qn[EPR_DENSITY_NPARAMS] = {0}, qy = 0, qny = 0;
    rp_density_bits_grad(P, &y0, 1, 1, 1.0f, &qy, q);
    rp_density_bits_grad(P, &y0, 1, 1, -1.0f, &qny, qn);
    for (int k = 0; k < EPR_DENSITY_NPARAMS; k++) assert_true(qn[k] == -q[k]);
    assert_true(qny == -qy);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init),
        cmocka_unit_test(test_likelihood_matches_oracle),
        cmocka_unit_test(test_gradients_fd),
        cmocka_unit_test(test_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
