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
 * without float32 drift); rp_density_acc_flush() applies the chain rule
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

typedef float rp_vf __attribute__((vector_size(4 * EPR_VL)));
typedef int32_t rp_vi __attribute__((vector_size(4 * EPR_VL)));

typedef struct {
    float v[EPR_DENSITY_NPARAMS];
} rp_density_prep;

/* double accumulator, prepared space */
typedef struct {
    double g[EPR_DENSITY_NPARAMS];
} rp_density_acc;

/* per-lane float accumulator, prepared space */
typedef struct {
    rp_vf g[EPR_DENSITY_NPARAMS];
    int blocks; /* blocks added since the last fold */
} rp_density_vacc;

void rp_density_prepare(const float *params, rp_density_prep *P);
/* dparams[k] += chain rule of A->g[k] through softplus / tanh. */
void rp_density_acc_flush(const float *params, const rp_density_prep *P, const rp_density_acc *A, float *dparams);

/* Vector helpers.  Vectors go in by pointer (or through these macros), not
 * by value: with -g, GCC otherwise notes that 32-byte by-value parameters
 * changed ABI in GCC 4.6, although everything here is inlined. */
#define EPR_VINLINE static inline __attribute__((always_inline))
#define EPR_VSEL(m, a, b) ((rp_vf)(((m) & (rp_vi)(a)) | (~(m) & (rp_vi)(b))))
#define EPR_VABS(x) ((rp_vf)((rp_vi)(x)&0x7fffffff))
#define EPR_VCOPYSIGN(mag, sgn) ((rp_vf)(((rp_vi)(mag)&0x7fffffff) | ((rp_vi)(sgn) & (int32_t)0x80000000u)))

EPR_VINLINE rp_vf rp_vsplat(float x) { return (rp_vf){0} + x; }

/* The block kernel (density_kernel.h) on vectors of EPR_VL lanes:
 * rp_vexp_neg, rp_vlog2, rp_vtanh, rp_vsigmoid, rp_veval (logits with
 * its trace rp_vtrace), rp_vback, rp_vp (bounded likelihood) and
 * rp_vblock (bits, d/dy and the parameter gradient of EPR_VL values). */
#define EPR_DK(name) rp_v##name
#define EPR_DK_FN EPR_VINLINE
#define EPR_DK_F rp_vf
#define EPR_DK_I rp_vi
#define EPR_DK_M rp_vi
#define EPR_DK_SPLAT(x) rp_vsplat(x)
#define EPR_DK_SEL(m, a, b) EPR_VSEL(m, a, b)
#define EPR_DK_ONE(m) (-(m))
#define EPR_DK_ABS(x) EPR_VABS(x)
#define EPR_DK_COPYSIGN(mag, sgn) EPR_VCOPYSIGN(mag, sgn)
#define EPR_DK_AS_I(x) ((rp_vi)(x))
#define EPR_DK_AS_F(i) ((rp_vf)(i))
#define EPR_DK_TO_I(x) __builtin_convertvector(x, rp_vi)
#define EPR_DK_TO_F(i) __builtin_convertvector(i, rp_vf)
#include "epr/density_kernel.h"

static inline void rp_density_vacc_zero(rp_density_vacc *V) { memset(V, 0, sizeof *V); }

/* Fold the per-lane float accumulator into the double one. */
static inline void rp_density_vacc_fold(rp_density_vacc *V, rp_density_acc *A) {
    for (int k = 0; k < EPR_DENSITY_NPARAMS; k++) {
        double t = 0.0;
        for (int lane = 0; lane < EPR_VL; lane++) t += V->g[k][lane];
        A->g[k] += t;
    }
    rp_density_vacc_zero(V);
}

/* Count one block; fold when float accumulation would get long. */
static inline void rp_density_vacc_tick(rp_density_vacc *V, rp_density_acc *A) {
    if (++V->blocks >= EPR_VACC_BLOCKS) rp_density_vacc_fold(V, A);
}

#endif
