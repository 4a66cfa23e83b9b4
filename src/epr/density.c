/* epr/density.c — deep-factorized density: init, logits, likelihood and the
 * fused forward+backward over one column (see density.h).
 * May call: libc, libm, common/rng.h. */
#include "epr/density.h"

#include <math.h>
#include <string.h>

#include "common/rng.h"
#include "epr/density_exact.h"
#include "epr/density_internal.h"

/* widths 1 -> 3 -> 3 -> 3 -> 1 (filters 3,3,3) */
static const int density_width[5] = {1, 3, 3, 3, 1};
static const int density_h_off[4] = {EPR_DENSITY_H0, EPR_DENSITY_H1, EPR_DENSITY_H2, EPR_DENSITY_H3};
static const int density_b_off[4] = {EPR_DENSITY_B0, EPR_DENSITY_B1, EPR_DENSITY_B2, EPR_DENSITY_B3};
static const int density_a_off[3] = {EPR_DENSITY_A0, EPR_DENSITY_A1, EPR_DENSITY_A2};

void rp_density_init(float *params, int ell, uint64_t seed) {
    const double scale = pow(EPR_DENSITY_INIT_SCALE, 1.0 / 4.0);
    for (int col = 0; col < ell; col++) {
        float *P = params + (size_t)col * EPR_DENSITY_NPARAMS;
        for (int k = 0; k < 4; k++) {
            int out = density_width[k + 1], in = density_width[k];
            float h = (float)log(expm1(1.0 / scale / out));
            for (int j = 0; j < out * in; j++) P[density_h_off[k] + j] = h;
            for (int j = 0; j < out; j++) {
                int idx = density_b_off[k] + j;
                P[idx] =
                    cmn_rng_uniform(seed, EPR_STREAM_DENSITY_INIT, (uint64_t)col * EPR_DENSITY_NPARAMS + idx) - 0.5f;
            }
            if (k < 3)
                for (int j = 0; j < out; j++) P[density_a_off[k] + j] = 0.0f;
        }
    }
}

void rp_density_prepare(const float *params, rp_density_prep *P) {
    for (int k = 0; k < EPR_DENSITY_NPARAMS; k++) P->v[k] = rp_density_prep_value(k, params[k]);
}

void rp_density_acc_flush(const float *params, const rp_density_prep *P, const rp_density_acc *A, float *dparams) {
    for (int k = 0; k < EPR_DENSITY_NPARAMS; k++)
        dparams[k] += (float)(A->g[k] * rp_density_prep_deriv(k, params[k], P->v[k]));
}

float rp_density_logits(const float *params, float x) {
    rp_density_prep P;
    rp_vtrace t;
    const rp_vf xv = rp_vsplat(x);
    rp_density_prepare(params, &P);
    return rp_veval(P.v, &xv, &t)[0];
}

double rp_density_logits_d(const float *params, double x) { return rp_density_logits_dd(params, x); }

double rp_density_likelihood_d(const float *params, double y) {
    return rp_density_likelihood_dd(params, y, (double)EPR_DENSITY_LIKELIHOOD_BOUND);
}

float rp_density_likelihood(const float *params, float y) {
    rp_density_prep P;
    const rp_vf yv = rp_vsplat(y);
    rp_density_prepare(params, &P);
    return rp_vp(P.v, &yv)[0];
}

EPR_DENSITY_CLONES
double rp_density_bits_grad(const float *params, const float *y, size_t n, size_t stride, float weight, float *dy,
                            float *dparams) {
    rp_density_prep P;
    rp_density_acc A;
    rp_density_vacc V;
    rp_density_prepare(params, &P);
    memset(&A, 0, sizeof A);
    rp_density_vacc_zero(&V);
    const int want_grad = dy || dparams;
    double bits = 0.0;
    for (size_t i0 = 0; i0 < n; i0 += EPR_VL) {
        const int m = n - i0 < EPR_VL ? (int)(n - i0) : EPR_VL;
        rp_vf yv = {0}, wv = {0}, bv, gv;
        for (int k = 0; k < m; k++) {
            yv[k] = y[(i0 + (size_t)k) * stride];
            wv[k] = weight; /* padding lanes keep w = 0: no gradient */
        }
        rp_vblock(P.v, &yv, &wv, &bv, &gv, want_grad ? V.g : NULL);
        for (int k = 0; k < m; k++) bits += bv[k];
        if (!want_grad) continue;
        rp_density_vacc_tick(&V, &A);
        if (dy)
            for (int k = 0; k < m; k++) dy[(i0 + (size_t)k) * stride] += gv[k];
    }
    rp_density_vacc_fold(&V, &A);
    if (dparams) rp_density_acc_flush(params, &P, &A, dparams);
    return bits;
}
