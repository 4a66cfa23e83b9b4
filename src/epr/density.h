/* epr/density.h — the univariate deep-factorized density of one column of a
 * group (Ballé et al. 2018, appendix 6.1, as in tensorflow/compression v1),
 * on raw parameter arrays laid out per common/density_layout.h.
 *
 * Owns: initialisation of the 43 density parameters per column, the
 * cumulative logits, the noisy likelihood p(y) = |c(y+1/2) - c(y-1/2)| with
 * its lower bound, and the fused forward+backward that the rate term runs
 * in every training step.  Knows nothing of the model graph, MPI or files.
 * May call: libc, libm, common/.
 *
 * Conventions
 * - params points at one column's 43 floats; a group with ell columns has
 *   [ell x 43] floats, column i at params + i*EPR_DENSITY_NPARAMS.
 * - Gradients are always ACCUMULATED (+=) into caller buffers, so the rate
 *   of several tensors of one group can share one gradient block.
 * - Likelihoods are bounded below by EPR_DENSITY_LIKELIHOOD_BOUND.  As
 *   tfc's lower_bound: the bounded value's gradient passes to p where
 *   p >= bound, or where it points towards increasing p (for the rate
 *   -weight*log2 p that is every value when weight > 0).
 * - The sign trick s = -sign(l + u) keeps both sigmoids in the lower tail,
 *   so p stays accurate far from the mode; s is a constant for the
 *   gradient.  When l + u == 0 we take s = +1 (tf.sign would give 0 and
 *   collapse p to the bound; that case is measure-zero anyway). */
#ifndef EPR_EPR_DENSITY_H
#define EPR_EPR_DENSITY_H

#include <stddef.h>
#include <stdint.h>

#include "common/density_layout.h"

#define EPR_DENSITY_LIKELIHOOD_BOUND 1e-9f
#define EPR_DENSITY_INIT_SCALE 10.0

/* Initialise ell columns: H_k = log(expm1(1/scale/width_{k+1})) with
 * scale = init_scale^(1/4), biases U(-1/2,1/2), factors a_k = 0.  Bias j of
 * column i is cmn_rng_uniform(seed, EPR_STREAM_DENSITY_INIT, i*43 + j) - 1/2
 * (j its index in the 43-float layout), so a column's init does not depend
 * on ell. */
void rp_density_init(float *params, int ell, uint64_t seed);

/* Cumulative logits of one column at x (cdf = sigmoid), float32 as in
 * training; and in double (for reporting and tests). */
float rp_density_logits(const float *params, float x);
double rp_density_logits_d(const float *params, double x);

/* Bounded likelihood p(y) = max(|sigma(s*u) - sigma(s*l)|, bound) of the
 * noisy (continuous) density at y; the same number is the discrete
 * probability P(k) for integer y = k. */
float rp_density_likelihood(const float *params, float y);
double rp_density_likelihood_d(const float *params, double y);

/* Fused forward+backward over n values y[i*stride] of one column:
 * returns sum_i -log2 p(y_i) (float32 arithmetic, total in double) and
 * accumulates the gradient of weight * sum_i -log2 p(y_i):
 *   dy[i*stride] += d/dy_i     (dy may be NULL)
 *   dparams[0..43) += d/dparams (dparams may be NULL).
 * One pass, no temporaries: softplus(H) and tanh(a) are computed once per
 * call; values go through the vectorised block kernel (density_internal.h)
 * 8 at a time, both logits evaluations, the likelihood, -log2 p and the
 * backward in registers; parameter gradients end up accumulated in double.
 * With dy and dparams both NULL only the forward runs. */
double rp_density_bits_grad(const float *params, const float *y, size_t n, size_t stride, float weight, float *dy,
                            float *dparams);

#endif
