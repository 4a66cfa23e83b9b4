/* epr/density.c — deep-factorized density: init, logits, likelihood and the
 * fused forward+backward over one column (see density.h).
 * May call: libc, libm, common/rng.h. */
#include "epr/density.h"

#include <math.h>
#include <string.h>

#include "common/rng.h"
#include "epr/density_internal.h"

/* widths 1 -> 3 -> 3 -> 3 -> 1 (filters 3,3,3) */
static const int density_width[5] = {1, 3, 3, 3, 1};
static const int density_h_off[4] = {EPR_DENSITY_H0, EPR_DENSITY_H1, EPR_DENSITY_H2, EPR_DENSITY_H3};
static const int density_b_off[4] = {EPR_DENSITY_B0, EPR_DENSITY_B1, EPR_DENSITY_B2, EPR_DENSITY_B3};
static const int density_a_off[3] = {EPR_DENSITY_A0, EPR_DENSITY_A1, EPR_DENSITY_A2};

void epr_density_init(float *params, int ell, uint64_t seed) {
    const double scale = pow(EPR_DENSITY_INIT_SCALE, 1.0 / 4.0);
    for (int col = 0; col < ell; col++) {
        float *P = params + (size_t)col * EPR_DENSITY_NPARAMS;
        for (int k = 0; k < 4; k++) {
            int out = density_width[k + 1], in = density_width[k];
            float h = (float)log(expm1(1.0 / scale / out));
            for (int j = 0; j < out * in; j++) P[density_h_off[k] + j] = h;
            for (int j = 0; j < out; j++) {
                int idx = density_b_off[k] + j;
                P[idx] = epr_rng_uniform(seed, EPR_STREAM_DENSITY_INIT, (uint64_t)col * EPR_DENSITY_NPARAMS + idx) - 0.5f;
            }
            if (k < 3)
                for (int j = 0; j < out; j++) P[density_a_off[k] + j] = 0.0f;
        }
    }
}

static inline float softplusf(float x) { return x > 15.0f ? x : log1pf(expf(x)); }
static inline double softplus_d(double x) { return x > 30.0 ? x : log1p(exp(x)); }

static int density_is_h(int k) {
    return (k >= EPR_DENSITY_H0 && k < EPR_DENSITY_B0) || (k >= EPR_DENSITY_H1 && k < EPR_DENSITY_B1) ||
           (k >= EPR_DENSITY_H2 && k < EPR_DENSITY_B2) || (k >= EPR_DENSITY_H3 && k < EPR_DENSITY_B3);
}
static int density_is_a(int k) {
    return (k >= EPR_DENSITY_A0 && k < EPR_DENSITY_H1) || (k >= EPR_DENSITY_A1 && k < EPR_DENSITY_H2) ||
           (k >= EPR_DENSITY_A2 && k < EPR_DENSITY_H3);
}

void epr_density_prepare(const float *params, epr_density_prep *P) {
    for (int k = 0; k < EPR_DENSITY_NPARAMS; k++) {
        float x = params[k];
        P->v[k] = density_is_h(k) ? softplusf(x) : density_is_a(k) ? tanhf(x) : x;
    }
}

void epr_density_acc_flush(const float *params, const epr_density_prep *P, const epr_density_acc *A, float *dparams) {
    for (int k = 0; k < EPR_DENSITY_NPARAMS; k++) {
        double g = A->g[k];
        if (density_is_h(k)) g *= 1.0 / (1.0 + exp(-(double)params[k])); /* softplus' = sigmoid */
        else if (density_is_a(k)) g *= 1.0 - (double)P->v[k] * P->v[k];  /* tanh' */
        dparams[k] += (float)g;
    }
}

float epr_density_logits(const float *params, float x) {
    epr_density_prep P;
    epr_density_vtrace t;
    const epr_vf xv = epr_vsplat(x);
    epr_density_prepare(params, &P);
    return epr_density_veval(P.v, &xv, &t)[0];
}

double epr_density_logits_d(const float *params, double x) {
    double in[3] = {x, 0, 0};
    int n_in = 1;
    for (int k = 0; k < 4; k++) {
        int n_out = density_width[k + 1];
        double out[3];
        for (int i = 0; i < n_out; i++) {
            double z = params[density_b_off[k] + i];
            for (int j = 0; j < n_in; j++) z += softplus_d(params[density_h_off[k] + i * n_in + j]) * in[j];
            if (k < 3) z += tanh((double)params[density_a_off[k] + i]) * tanh(z);
            out[i] = z;
        }
        memcpy(in, out, sizeof(double) * (size_t)n_out);
        n_in = n_out;
    }
    return in[0];
}

static double sigmoid_d(double z) { return z >= 0 ? 1.0 / (1.0 + exp(-z)) : exp(z) / (1.0 + exp(z)); }

double epr_density_likelihood_d(const float *params, double y) {
    double l = epr_density_logits_d(params, y - 0.5), u = epr_density_logits_d(params, y + 0.5);
    double s = (l + u > 0.0) ? -1.0 : 1.0;
    double p = fabs(sigmoid_d(s * u) - sigmoid_d(s * l));
    return p < (double)EPR_DENSITY_LIKELIHOOD_BOUND ? (double)EPR_DENSITY_LIKELIHOOD_BOUND : p;
}

float epr_density_likelihood(const float *params, float y) {
    epr_density_prep P;
    const epr_vf yv = epr_vsplat(y);
    epr_density_prepare(params, &P);
    return epr_density_vp(P.v, &yv)[0];
}

EPR_DENSITY_CLONES
double epr_density_bits_grad(const float *params, const float *y, size_t n, size_t stride, float weight,
                             float *dy, float *dparams) {
    epr_density_prep P;
    epr_density_acc A;
    epr_density_vacc V;
    epr_density_prepare(params, &P);
    memset(&A, 0, sizeof A);
    epr_density_vacc_zero(&V);
    const int want_grad = dy || dparams;
    double bits = 0.0;
    for (size_t i0 = 0; i0 < n; i0 += EPR_VL) {
        const int m = n - i0 < EPR_VL ? (int)(n - i0) : EPR_VL;
        epr_vf yv = {0}, wv = {0}, bv, gv;
        for (int k = 0; k < m; k++) {
            yv[k] = y[(i0 + (size_t)k) * stride];
            wv[k] = weight; /* padding lanes keep w = 0: no gradient */
        }
        epr_density_vblock(P.v, &yv, &wv, &bv, &gv, want_grad ? V.g : NULL);
        for (int k = 0; k < m; k++) bits += bv[k];
        if (!want_grad) continue;
        epr_density_vacc_tick(&V, &A);
        if (dy)
            for (int k = 0; k < m; k++) dy[(i0 + (size_t)k) * stride] += gv[k];
    }
    epr_density_vacc_fold(&V, &A);
    if (dparams) epr_density_acc_flush(params, &P, &A, dparams);
    return bits;
}
