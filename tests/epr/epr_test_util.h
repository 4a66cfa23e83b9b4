/* tests/epr/epr_test_util.h — shared by the epr tests: an independent
 * double-precision oracle of one density column, written straight from the
 * layout comment in common/density_layout.h (not from the library), and the
 * element-wise comparison of analytic against finite-difference gradients.
 * Include after <cmocka.h>. */
#ifndef EPR_TEST_UTIL_H
#define EPR_TEST_UTIL_H

#include <math.h>
#include <string.h>

#include "common/density_layout.h"

static inline double oracle_sp(double x) { return log1p(exp(x)); }
static inline double oracle_sig(double z) { return z >= 0 ? 1.0 / (1.0 + exp(-z)) : exp(z) / (1.0 + exp(z)); }

static inline double oracle_logits(const double *P, double x) {
    const int hoff[4] = {EPR_DENSITY_H0, EPR_DENSITY_H1, EPR_DENSITY_H2, EPR_DENSITY_H3};
    const int boff[4] = {EPR_DENSITY_B0, EPR_DENSITY_B1, EPR_DENSITY_B2, EPR_DENSITY_B3};
    const int aoff[3] = {EPR_DENSITY_A0, EPR_DENSITY_A1, EPR_DENSITY_A2};
    const int width[5] = {1, 3, 3, 3, 1};
    double v[3] = {x, 0, 0}, o[3];
    for (int k = 0; k < 4; k++) {
        for (int i = 0; i < width[k + 1]; i++) {
            double z = P[boff[k] + i];
            for (int j = 0; j < width[k]; j++) z += oracle_sp(P[hoff[k] + i * width[k] + j]) * v[j];
            if (k < 3) z += tanh(P[aoff[k] + i]) * tanh(z);
            o[i] = z;
        }
        memcpy(v, o, sizeof o);
    }
    return v[0];
}

/* Unbounded p(y) = |c(y+1/2) - c(y-1/2)| with the sign trick. */
static inline double oracle_p(const double *P, double y) {
    double l = oracle_logits(P, y - 0.5), u = oracle_logits(P, y + 0.5);
    double s = l + u > 0 ? -1.0 : 1.0;
    return fabs(oracle_sig(s * u) - oracle_sig(s * l));
}

/* -log2 of p bounded below by 1e-9. */
static inline double oracle_bits(const double *P, double y) {
    double p = oracle_p(P, y);
    return -log2(p < 1e-9 ? 1e-9 : p);
}

/* |a - f| <= rtol |f| + atol_rel * max|f| for every k; prints the first failure. */
static inline void check_close(const char *what, const float *a, const double *f, size_t n, double rtol,
                               double atol_rel) {
    double fmax = 0;
    for (size_t k = 0; k < n; k++) fmax = fmax > fabs(f[k]) ? fmax : fabs(f[k]);
    int bad = 0;
    for (size_t k = 0; k < n; k++) {
        double tol = rtol * fabs(f[k]) + atol_rel * fmax + 1e-12;
        if (!(fabs(a[k] - f[k]) <= tol)) {
            if (!bad) print_error("%s[%zu]: analytic %.9g, finite difference %.9g\n", what, k, a[k], f[k]);
            bad++;
        }
    }
    assert_int_equal(bad, 0);
}

#endif
