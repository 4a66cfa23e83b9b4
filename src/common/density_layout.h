/* common/density_layout.h — parameter layout of one univariate
 * deep-factorized density (Ballé et al. 2018, appendix 6.1; filters 3,3,3,
 * i.e. widths 1 -> 3 -> 3 -> 3 -> 1).  Shared by the epr layer (training,
 * float32) and the codec (table building from stored parameters, double),
 * so that a column's parameters mean the same thing to both.
 *
 * Per column, 43 floats, in this order (matrices row-major [out x in]):
 *   H0[3x1] b0[3] a0[3]  H1[3x3] b1[3] a1[3]  H2[3x3] b2[3] a2[3]  H3[1x3] b3[1]
 * H are raw (used through softplus), a raw (used through tanh).
 * Layer k: x <- softplus(H_k) x + b_k; then, except for the last layer,
 * x <- x + tanh(a_k) * tanh(x).  cdf(y) = sigmoid(logits(y)).
 * Columns of one group are stored one after another: [ell x 43]. */
#ifndef EPR_COMMON_DENSITY_LAYOUT_H
#define EPR_COMMON_DENSITY_LAYOUT_H

#define EPR_DENSITY_NPARAMS 43
#define EPR_DENSITY_H0 0
#define EPR_DENSITY_B0 3
#define EPR_DENSITY_A0 6
#define EPR_DENSITY_H1 9
#define EPR_DENSITY_B1 18
#define EPR_DENSITY_A1 21
#define EPR_DENSITY_H2 24
#define EPR_DENSITY_B2 33
#define EPR_DENSITY_A2 36
#define EPR_DENSITY_H3 39
#define EPR_DENSITY_B3 42

#endif
