/* codec/detmath_internal.h — deterministic elementary functions in double.
 *
 * Owns: exp, expm1, log1p (on [0,1]), tanh, softplus, sigmoid pairs from
 * + - * / and exact power-of-two scaling only, never libm.  The decoder
 * rebuilds density tables from stored parameters and must reproduce the
 * encoder's frequencies bit for bit on any machine; libm's exp/log/tanh
 * differ between libc versions by an ulp, which can move a frequency.
 * IEEE-754 double with round-to-nearest and no FMA contraction
 * (-ffp-contract=off, set for the codec in CMake) makes these exact
 * functions of their inputs.  Accuracy: a few ulp (tests check vs libm). */
#ifndef EPR_CODEC_DETMATH_INTERNAL_H
#define EPR_CODEC_DETMATH_INTERNAL_H

double codec_det_exp(double x);
double codec_det_expm1(double x);
double codec_det_log1p01(double x); /* log(1+x) for x in [0, 1] */
double codec_det_tanh(double x);
double codec_det_softplus(double x); /* log(1 + e^x) */
/* sigmoid(x) and sigmoid(-x) together, from one exp(-|x|). */
void codec_det_sigmoid_pair(double x, double *sp, double *sm);

#endif
