/* epr/decoder_round.h — the rounding of the decoders (phi = round(latent/s),
 * half away from zero, as roundf) and its saturating conversion to int32,
 * as EPR_HD inline functions: decoder.c runs them on the CPU, the CUDA
 * decoders (src/epr/cuda) on the device, from this one definition.
 * Private to src/epr.  Depends on libm and common/. */
#ifndef EPR_EPR_DECODER_ROUND_H
#define EPR_EPR_DECODER_ROUND_H

#include <math.h>
#include <stdint.h>

#include "common/hostdev.h"
#include "epr/decoder.h"

/* phi as float, for theta = s*phi: the same value as roundf (half away
 * from zero), inline because the libm call was most of the decode time.
 * Exact: for |x| < 2^23, t = trunc|x| and |x| - t is exact (Sterbenz);
 * larger |x| (and inf, NaN) are returned unchanged, as roundf does. */
static inline EPR_HD float rp_decoder_round(float x) {
    /* Branch-free so that the decode loops vectorise (a data-dependent
     * early return kept them scalar at ~10 ns per value). */
    const float a = fabsf(x);
    const int small = a < 8388608.0f; /* false for NaN too */
    const float as = small ? a : 0.0f;
    float t = (float)(int32_t)as;
    t += as - t >= 0.5f ? 1.0f : 0.0f;
    return small ? copysignf(t, x) : x;
}

static inline EPR_HD int32_t rp_decoder_to_int(float phi) {
    if (!(phi == phi)) return 0;
    if (phi > (float)EPR_PHI_MAX) return EPR_PHI_MAX;
    if (phi < -(float)EPR_PHI_MAX) return -EPR_PHI_MAX;
    return (int32_t)phi;
}

#endif
