/* codec/detmath.c — deterministic exp/expm1/log1p/tanh/softplus/sigmoid.
 * See detmath_internal.h for why.  Calls nothing but memcpy. */
#include "codec/detmath_internal.h"

#include <stdint.h>
#include <string.h>

/* ln 2 split so that n*LN2_HI is exact for |n| < 2^11 (fdlibm's split). */
static const double LN2_HI = 6.93147180369123816490e-01;
static const double LN2_LO = 1.90821492927058770002e-10;
static const double INV_LN2 = 1.44269504088896338700e+00;

/* 2^m for m in [-1022, 1023], built from its bit pattern (exact). */
static double pow2i(int m) {
    uint64_t bits = (uint64_t)(m + 1023) << 52;
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

/* 1/k for the series below: constants the compiler rounds once, so the
 * loops multiply instead of divide (a division costs ~10 multiplies). */
static const double INV[42] = {0,       1,       1. / 2,  1. / 3,  1. / 4,  1. / 5,  1. / 6,  1. / 7,  1. / 8,
                               1. / 9,  1. / 10, 1. / 11, 1. / 12, 1. / 13, 1. / 14, 1. / 15, 1. / 16, 1. / 17,
                               1. / 18, 1. / 19, 1. / 20, 1. / 21, 1. / 22, 1. / 23, 1. / 24, 1. / 25, 1. / 26,
                               1. / 27, 1. / 28, 1. / 29, 1. / 30, 1. / 31, 1. / 32, 1. / 33, 1. / 34, 1. / 35,
                               1. / 36, 1. / 37, 1. / 38, 1. / 39, 1. / 40, 1. / 41};

/* exp(r) - 1 for |r| <= 0.35 by its Taylor series to r^15
 * (truncation < 0.35^16/16! ~ 2e-21, far below an ulp). */
static double expm1_poly(double r) {
    /* Horner on c_k = 1/k!: r*(1 + r/2*(1 + r/3*(1 + ...))) */
    double acc = 1.0;
    for (int k = 15; k >= 2; k--) acc = 1.0 + r * acc * INV[k];
    return r * acc;
}

double codec_det_exp(double x) {
    if (x != x) return x;
    if (x > 709.78) return 1.0 / 0.0;
    if (x < -745.2) return 0.0;
    double k = x * INV_LN2;
    int n = (int)(k >= 0 ? k + 0.5 : k - 0.5);
    double r = (x - (double)n * LN2_HI) - (double)n * LN2_LO;
    double e = 1.0 + expm1_poly(r);
    /* Scale in two steps when 2^n alone is not a normal double. */
    if (n > 1023) return e * pow2i(1023) * pow2i(n - 1023);
    if (n < -1022) return e * pow2i(-1022) * pow2i(n + 1022);
    return e * pow2i(n);
}

double codec_det_expm1(double x) {
    if (x != x) return x;
    if (x > -0.34 && x < 0.34) return expm1_poly(x);
    return codec_det_exp(x) - 1.0;
}

double codec_det_log1p01(double x) {
    /* log(1+x) = 2 atanh(z), z = x/(2+x) in [0, 1/3]; the odd series
     * sum z^(2k+1)/(2k+1) to k = 20 leaves < (1/9)^21 ~ 1e-20. */
    double z = x / (2.0 + x);
    double z2 = z * z;
    double acc = INV[41];
    for (int k = 19; k >= 0; k--) acc = INV[2 * k + 1] + z2 * acc;
    return 2.0 * z * acc;
}

double codec_det_tanh(double x) {
    if (x != x) return x;
    double ax = x < 0 ? -x : x;
    double r;
    if (ax > 22.0) {
        r = 1.0; /* tanh(22) rounds to 1 in double */
    } else {
        double t = codec_det_expm1(2.0 * ax);
        r = t / (t + 2.0);
    }
    return x < 0 ? -r : r;
}

double codec_det_softplus(double x) {
    if (x != x) return x;
    double ax = x < 0 ? -x : x;
    double m = x > 0 ? x : 0.0;
    return m + codec_det_log1p01(codec_det_exp(-ax));
}

void codec_det_sigmoid_pair(double x, double *sp, double *sm) {
    /* exp of -|x| only: never overflows, one exp for both values. */
    double e = codec_det_exp(x >= 0 ? -x : x), d = 1.0 + e;
    double big = 1.0 / d, small = e / d;
    *sp = x >= 0 ? big : small;
    *sm = x >= 0 ? small : big;
}
