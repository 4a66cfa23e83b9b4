/* epr/density_internal.h — the block kernel of the deep-factorized density,
 * shared by density.c and rate.c so that the rate term can feed each value
 * (latent/s + noise) straight into the density without a temporary tensor.
 * Private to src/epr.
 *
 * Speed: the rate runs over every compressed parameter in every training
 * step, so the kernel works on EPR_VL values at once with GCC/Clang vector
 * extensions (portable C; the compiler lowers them to SSE2/AVX/NEON), and
 * uses its own exp, tanh and log2 (libm's are scalar calls).  Every lane
 * performs the same operation sequence, so a value's result does not
 * depend on which lane or block it lands in (the rate's row split across
 * ranks stays bitwise reproducible per element).  The results assume no
 * FMA contraction (-std=c11 implies -ffp-contract=off in GCC); then the
 * SSE2 and AVX2 clones agree bit for bit.
 *
 * "Prepared" parameters v[43] use the 43-float layout of
 * common/density_layout.h but hold softplus(H) in the H slots and tanh(a)
 * in the a slots, computed once per call.  Gradients are accumulated in the
 * same prepared space: per lane in float over at most EPR_VACC_BLOCKS
 * blocks, then folded into double (so hundreds of thousands of terms add up
 * without float32 drift); epr_density_acc_flush() applies the chain rule
 * back to raw H and a. */
#ifndef EPR_EPR_DENSITY_INTERNAL_H
#define EPR_EPR_DENSITY_INTERNAL_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "common/density_layout.h"
#include "epr/density.h"

#define EPR_VL 8
#define EPR_VACC_BLOCKS 32

/* The vectors never cross a non-inlined call (everything below is
 * always_inline), so GCC's warning about the AVX calling convention of
 * 32-byte vector returns does not apply. */
#pragma GCC diagnostic ignored "-Wpsabi"

/* Compile the callers of the block kernel for AVX2 where the CPU has it
 * (same operations, no FMA contraction in ISO C mode: results are bitwise
 * identical across the clones).  -DEPR_NO_CLONES builds the baseline only. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(EPR_NO_CLONES)
#define EPR_DENSITY_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define EPR_DENSITY_CLONES
#endif

typedef float epr_vf __attribute__((vector_size(4 * EPR_VL)));
typedef int32_t epr_vi __attribute__((vector_size(4 * EPR_VL)));

typedef struct {
    float v[EPR_DENSITY_NPARAMS];
} epr_density_prep;

/* double accumulator, prepared space */
typedef struct {
    double g[EPR_DENSITY_NPARAMS];
} epr_density_acc;

/* per-lane float accumulator, prepared space */
typedef struct {
    epr_vf g[EPR_DENSITY_NPARAMS];
    int blocks; /* blocks added since the last fold */
} epr_density_vacc;

void epr_density_prepare(const float *params, epr_density_prep *P);
/* dparams[k] += chain rule of A->g[k] through softplus / tanh. */
void epr_density_acc_flush(const float *params, const epr_density_prep *P, const epr_density_acc *A, float *dparams);

/* Vector helpers.  Vectors go in by pointer (or through these macros), not
 * by value: with -g, GCC otherwise notes that 32-byte by-value parameters
 * changed ABI in GCC 4.6, although everything here is inlined. */
#define EPR_VINLINE static inline __attribute__((always_inline))
#define EPR_VSEL(m, a, b) ((epr_vf)(((m) & (epr_vi)(a)) | (~(m) & (epr_vi)(b))))
#define EPR_VABS(x) ((epr_vf)((epr_vi)(x) & 0x7fffffff))
#define EPR_VCOPYSIGN(mag, sgn) ((epr_vf)(((epr_vi)(mag) & 0x7fffffff) | ((epr_vi)(sgn) & (int32_t)0x80000000u)))

EPR_VINLINE epr_vf epr_vsplat(float x) { return (epr_vf){0} + x; }

/* exp(x) for x <= 0, relative error < 1e-7 (measured on [-86, 0]).  Arguments below -86 are
 * clamped (result ~4e-38 instead of smaller): only sigmoids far below the
 * 1e-9 likelihood bound get there, and it keeps results out of denormals.
 * Cody-Waite reduction x = n ln2 + f, |f| <= ln2/2, degree-7 Taylor. */
EPR_VINLINE epr_vf epr_vexp_neg(const epr_vf *xp) {
    const epr_vf lo = epr_vsplat(-86.0f);
    const epr_vf x = EPR_VSEL(*xp < lo, lo, *xp);
    epr_vf r = (x * 1.44269504f + 12582912.0f) - 12582912.0f; /* round to nearest */
    epr_vf f = (x - r * 0.693145752f) - r * 1.42860677e-6f;
    epr_vf p = epr_vsplat(1.0f / 5040.0f);
    p = p * f + 1.0f / 720.0f;
    p = p * f + 1.0f / 120.0f;
    p = p * f + 1.0f / 24.0f;
    p = p * f + 1.0f / 6.0f;
    p = p * f + 0.5f;
    p = p * f + 1.0f;
    p = p * f + 1.0f;
    epr_vi n = __builtin_convertvector(r, epr_vi);
    return p * (epr_vf)((n + 127) << 23);
}

/* log2(x) for normal x > 0: exponent plus an atanh series of the
 * mantissa in [sqrt(1/2), sqrt(2)); error ~1e-6 absolute for |log2 x|
 * up to 30, i.e. within rounding of the float result. */
EPR_VINLINE epr_vf epr_vlog2(const epr_vf *xp) {
    epr_vi b = (epr_vi)*xp;
    epr_vi e = ((b >> 23) & 0xff) - 127;
    epr_vf m = (epr_vf)((b & 0x7fffff) | 0x3f800000);
    epr_vi big = m > 1.41421356f;
    m = EPR_VSEL(big, m * 0.5f, m);
    e = e - big; /* big is -1 where true */
    epr_vf t = (m - 1.0f) / (m + 1.0f), t2 = t * t;
    epr_vf s = epr_vsplat(1.0f / 9.0f);
    s = s * t2 + 1.0f / 7.0f;
    s = s * t2 + 1.0f / 5.0f;
    s = s * t2 + 1.0f / 3.0f;
    s = s * t2 + 1.0f;
    return __builtin_convertvector(e, epr_vf) + (2.0f * 1.44269504088896341f) * t * s;
}

/* tanh through one exp; absolute error < 1e-7, which is what matters in
 * x + tanh(a)*tanh(x). */
EPR_VINLINE epr_vf epr_vtanh(const epr_vf *z) {
    const epr_vf a = -2.0f * EPR_VABS(*z);
    const epr_vf e = epr_vexp_neg(&a);
    return EPR_VCOPYSIGN((1.0f - e) / (1.0f + e), *z);
}

/* sigma(z) and sigma'(z) = sigma(z) sigma(-z) from one exp, accurate in
 * both tails. */
EPR_VINLINE void epr_vsigmoid(const epr_vf *z, epr_vf *sig, epr_vf *dsig) {
    const epr_vf a = -EPR_VABS(*z);
    const epr_vf e = epr_vexp_neg(&a);
    const epr_vf r = 1.0f / (1.0f + e);
    *sig = EPR_VSEL(*z >= 0.0f, r, e * r);
    *dsig = e * r * r;
}

/* What the backward of one logits evaluation needs: the input, the tanh of
 * each pre-activation z_k and each layer's output x_{k+1}. */
typedef struct {
    epr_vf x0;
    epr_vf h0[3], x1[3], h1[3], x2[3], h2[3], x3[3];
} epr_density_vtrace;

EPR_VINLINE epr_vf epr_density_veval(const float *v, const epr_vf *xp, epr_density_vtrace *t) {
    const epr_vf x = *xp;
    const float *K0 = v + EPR_DENSITY_H0, *b0 = v + EPR_DENSITY_B0, *a0 = v + EPR_DENSITY_A0;
    const float *K1 = v + EPR_DENSITY_H1, *b1 = v + EPR_DENSITY_B1, *a1 = v + EPR_DENSITY_A1;
    const float *K2 = v + EPR_DENSITY_H2, *b2 = v + EPR_DENSITY_B2, *a2 = v + EPR_DENSITY_A2;
    const float *K3 = v + EPR_DENSITY_H3;
    t->x0 = x;
    for (int i = 0; i < 3; i++) {
        epr_vf z = K0[i] * x + b0[i];
        epr_vf h = epr_vtanh(&z);
        t->h0[i] = h;
        t->x1[i] = z + a0[i] * h;
    }
    for (int i = 0; i < 3; i++) {
        epr_vf z = K1[3 * i] * t->x1[0] + K1[3 * i + 1] * t->x1[1] + K1[3 * i + 2] * t->x1[2] + b1[i];
        epr_vf h = epr_vtanh(&z);
        t->h1[i] = h;
        t->x2[i] = z + a1[i] * h;
    }
    for (int i = 0; i < 3; i++) {
        epr_vf z = K2[3 * i] * t->x2[0] + K2[3 * i + 1] * t->x2[1] + K2[3 * i + 2] * t->x2[2] + b2[i];
        epr_vf h = epr_vtanh(&z);
        t->h2[i] = h;
        t->x3[i] = z + a2[i] * h;
    }
    return K3[0] * t->x3[0] + K3[1] * t->x3[1] + K3[2] * t->x3[2] + v[EPR_DENSITY_B3];
}

/* Backward of one logits evaluation with upstream gradient g = dL/dlogits:
 * adds dL/d(prepared params) into G, returns dL/dx. */
EPR_VINLINE epr_vf epr_density_vback(const float *v, const epr_density_vtrace *t, const epr_vf *gp, epr_vf *G) {
    const epr_vf g = *gp;
    const float *K0 = v + EPR_DENSITY_H0, *a0 = v + EPR_DENSITY_A0;
    const float *K1 = v + EPR_DENSITY_H1, *a1 = v + EPR_DENSITY_A1;
    const float *K2 = v + EPR_DENSITY_H2, *a2 = v + EPR_DENSITY_A2;
    const float *K3 = v + EPR_DENSITY_H3;
    epr_vf dx[3], dz[3];

    G[EPR_DENSITY_B3] += g;
    for (int j = 0; j < 3; j++) {
        G[EPR_DENSITY_H3 + j] += g * t->x3[j];
        dx[j] = g * K3[j];
    }
    /* layer 2: x3 = z2 + tanh(a2)*tanh(z2), z2 = K2 x2 + b2 */
    for (int i = 0; i < 3; i++) {
        dz[i] = dx[i] * (1.0f + a2[i] * (1.0f - t->h2[i] * t->h2[i]));
        G[EPR_DENSITY_A2 + i] += dx[i] * t->h2[i];
        G[EPR_DENSITY_B2 + i] += dz[i];
        for (int j = 0; j < 3; j++) G[EPR_DENSITY_H2 + 3 * i + j] += dz[i] * t->x2[j];
    }
    for (int j = 0; j < 3; j++) dx[j] = K2[j] * dz[0] + K2[3 + j] * dz[1] + K2[6 + j] * dz[2];
    /* layer 1 */
    for (int i = 0; i < 3; i++) {
        dz[i] = dx[i] * (1.0f + a1[i] * (1.0f - t->h1[i] * t->h1[i]));
        G[EPR_DENSITY_A1 + i] += dx[i] * t->h1[i];
        G[EPR_DENSITY_B1 + i] += dz[i];
        for (int j = 0; j < 3; j++) G[EPR_DENSITY_H1 + 3 * i + j] += dz[i] * t->x1[j];
    }
    for (int j = 0; j < 3; j++) dx[j] = K1[j] * dz[0] + K1[3 + j] * dz[1] + K1[6 + j] * dz[2];
    /* layer 0: K0 is [3x1] */
    epr_vf dx0 = K0[0] * (dz[0] = dx[0] * (1.0f + a0[0] * (1.0f - t->h0[0] * t->h0[0])));
    dz[1] = dx[1] * (1.0f + a0[1] * (1.0f - t->h0[1] * t->h0[1]));
    dz[2] = dx[2] * (1.0f + a0[2] * (1.0f - t->h0[2] * t->h0[2]));
    dx0 += K0[1] * dz[1] + K0[2] * dz[2];
    for (int i = 0; i < 3; i++) {
        G[EPR_DENSITY_A0 + i] += dx[i] * t->h0[i];
        G[EPR_DENSITY_B0 + i] += dz[i];
        G[EPR_DENSITY_H0 + i] += dz[i] * t->x0;
    }
    return dx0;
}

/* Bounded likelihood p(y) of EPR_VL values, forward only.  The sign trick
 * s = -sign(l + u) (s = +1 when l + u == 0) keeps both sigmoids in the
 * lower tail. */
EPR_VINLINE epr_vf epr_density_vp(const float *v, const epr_vf *y) {
    epr_density_vtrace tl, tu;
    const epr_vf ylo = *y - 0.5f, yhi = *y + 0.5f;
    epr_vf l = epr_density_veval(v, &ylo, &tl);
    epr_vf u = epr_density_veval(v, &yhi, &tu);
    epr_vf s = EPR_VSEL(l + u > 0.0f, epr_vsplat(-1.0f), epr_vsplat(1.0f));
    epr_vf su, dsu, sl, dsl;
    const epr_vf su_in = s * u, sl_in = s * l;
    epr_vsigmoid(&su_in, &su, &dsu);
    epr_vsigmoid(&sl_in, &sl, &dsl);
    epr_vf p = EPR_VABS(su - sl);
    const epr_vf bound = epr_vsplat(EPR_DENSITY_LIKELIHOOD_BOUND);
    return EPR_VSEL(p < bound, bound, p);
}

/* EPR_VL values y of the noisy density: *bits = -log2 p(y) (p bounded).
 * If G is non-NULL, adds the gradient of w * (-log2 p(y)) (w per lane;
 * w = 0 switches a padding lane off) w.r.t. the prepared parameters into
 * G and stores d/dy in *dy.  The bound follows tfc's lower_bound: the
 * gradient passes where p >= bound or where it pushes p up. */
EPR_VINLINE void epr_density_vblock(const float *v, const epr_vf *y, const epr_vf *w, epr_vf *bits, epr_vf *dy,
                                    epr_vf *G) {
    epr_density_vtrace tl, tu;
    const epr_vf ylo = *y - 0.5f, yhi = *y + 0.5f;
    epr_vf l = epr_density_veval(v, &ylo, &tl);
    epr_vf u = epr_density_veval(v, &yhi, &tu);
    epr_vf s = EPR_VSEL(l + u > 0.0f, epr_vsplat(-1.0f), epr_vsplat(1.0f)); /* constant for the gradient */
    epr_vf su, dsu, sl, dsl;
    const epr_vf su_in = s * u, sl_in = s * l;
    epr_vsigmoid(&su_in, &su, &dsu);
    epr_vsigmoid(&sl_in, &sl, &dsl);
    epr_vf d = su - sl;
    epr_vf p = EPR_VABS(d);
    const epr_vf bound = epr_vsplat(EPR_DENSITY_LIKELIHOOD_BOUND);
    epr_vi below = p < bound;
    epr_vf pb = EPR_VSEL(below, bound, p);
    *bits = -epr_vlog2(&pb);
    if (!G) return;
    epr_vf gp = -*w / (pb * 0.693147180559945309f); /* dL/d(bounded p) */
    /* lower_bound: blocked where p < bound and descent would lower p */
    gp = EPR_VSEL(below & ~(gp < 0.0f), epr_vsplat(0.0f), gp);
    epr_vf sgn_s = EPR_VCOPYSIGN(epr_vsplat(1.0f), d) * s; /* d|d|/dd * s */
    epr_vf gu = gp * sgn_s * dsu;
    epr_vf gl = -gp * sgn_s * dsl;
    *dy = epr_density_vback(v, &tu, &gu, G) + epr_density_vback(v, &tl, &gl, G);
}

static inline void epr_density_vacc_zero(epr_density_vacc *V) { memset(V, 0, sizeof *V); }

/* Fold the per-lane float accumulator into the double one. */
static inline void epr_density_vacc_fold(epr_density_vacc *V, epr_density_acc *A) {
    for (int k = 0; k < EPR_DENSITY_NPARAMS; k++) {
        double t = 0.0;
        for (int lane = 0; lane < EPR_VL; lane++) t += V->g[k][lane];
        A->g[k] += t;
    }
    epr_density_vacc_zero(V);
}

/* Count one block; fold when float accumulation would get long. */
static inline void epr_density_vacc_tick(epr_density_vacc *V, epr_density_acc *A) {
    if (++V->blocks >= EPR_VACC_BLOCKS) epr_density_vacc_fold(V, A);
}

#endif
