/* epr/density_exact.h — the deep-factorized density in double precision
 * (the exact rate at evaluation), the kinds of its 43 parameters and
 * their preparation (softplus / tanh) with its derivative, as
 * EPR_HD inline functions: density.c and rate.c run them on the CPU, the
 * CUDA sources (src/epr/cuda) on the device, from this one definition.
 * Private to src/epr.  Depends on libm and common/. */
#ifndef EPR_EPR_DENSITY_EXACT_H
#define EPR_EPR_DENSITY_EXACT_H

#include <math.h>

#include "common/density_layout.h"
#include "common/hostdev.h"

/* Parameter k of a column is an H (used through softplus) / an a (through tanh). */
static inline EPR_HD int rp_density_is_h(int k) {
    return (k >= EPR_DENSITY_H0 && k < EPR_DENSITY_B0) || (k >= EPR_DENSITY_H1 && k < EPR_DENSITY_B1) ||
           (k >= EPR_DENSITY_H2 && k < EPR_DENSITY_B2) || (k >= EPR_DENSITY_H3 && k < EPR_DENSITY_B3);
}
static inline EPR_HD int rp_density_is_a(int k) {
    return (k >= EPR_DENSITY_A0 && k < EPR_DENSITY_H1) || (k >= EPR_DENSITY_A1 && k < EPR_DENSITY_H2) ||
           (k >= EPR_DENSITY_A2 && k < EPR_DENSITY_H3);
}

/* Prepared value of parameter k (softplus of an H, tanh of an a, else
 * itself), float as in training, and d(prepared)/d(raw) in double for the
 * chain rule of the accumulated gradients.  Evaluated in double and
 * rounded once: glibc's and CUDA's float log1pf/expf/tanhf differ in the
 * last bit for some arguments, their double versions agree to far below
 * float rounding, so the CPU and the GPU prepare the same floats and the
 * block kernel then gives the same bits per value on both. */
static inline EPR_HD float rp_density_prep_value(int k, float x) {
    if (rp_density_is_h(k)) return x > 15.0f ? x : (float)log1p(exp((double)x));
    return rp_density_is_a(k) ? (float)tanh((double)x) : x;
}
static inline EPR_HD double rp_density_prep_deriv(int k, float x, float prepared) {
    if (rp_density_is_h(k)) return 1.0 / (1.0 + exp(-(double)x));     /* softplus' = sigmoid */
    if (rp_density_is_a(k)) return 1.0 - (double)prepared * prepared; /* tanh' */
    return 1.0;
}

static inline EPR_HD double rp_density_softplus_d(double x) { return x > 30.0 ? x : log1p(exp(x)); }
static inline EPR_HD double rp_density_sigmoid_d(double z) {
    return z >= 0 ? 1.0 / (1.0 + exp(-z)) : exp(z) / (1.0 + exp(z));
}

/* Cumulative logits of one column at x, in double. */
static inline EPR_HD double rp_density_logits_dd(const float *params, double x) {
    const int width[5] = {1, 3, 3, 3, 1};
    const int h_off[4] = {EPR_DENSITY_H0, EPR_DENSITY_H1, EPR_DENSITY_H2, EPR_DENSITY_H3};
    const int b_off[4] = {EPR_DENSITY_B0, EPR_DENSITY_B1, EPR_DENSITY_B2, EPR_DENSITY_B3};
    const int a_off[3] = {EPR_DENSITY_A0, EPR_DENSITY_A1, EPR_DENSITY_A2};
    double in[3] = {x, 0, 0};
    int n_in = 1;
    for (int k = 0; k < 4; k++) {
        int n_out = width[k + 1];
        double out[3] = {0, 0, 0};
        for (int i = 0; i < n_out; i++) {
            double z = params[b_off[k] + i];
            for (int j = 0; j < n_in; j++) z += rp_density_softplus_d(params[h_off[k] + i * n_in + j]) * in[j];
            if (k < 3) z += tanh((double)params[a_off[k] + i]) * tanh(z);
            out[i] = z;
        }
        for (int i = 0; i < 3; i++) in[i] = out[i];
        n_in = n_out;
    }
    return in[0];
}

/* Bounded likelihood p(y) in double (sign trick and bound as in training). */
static inline EPR_HD double rp_density_likelihood_dd(const float *params, double y, double bound) {
    double l = rp_density_logits_dd(params, y - 0.5), u = rp_density_logits_dd(params, y + 0.5);
    double s = (l + u > 0.0) ? -1.0 : 1.0;
    double p = fabs(rp_density_sigmoid_d(s * u) - rp_density_sigmoid_d(s * l));
    return p < bound ? bound : p;
}

#endif
