/* epr/transform.c — transforms T of the conv-affine decoder (transform.h).
 * May call: FFTW3 (fftw3f), libc, libm, common/rng.h. */
#include "epr/transform.h"

#include <fftw3.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"

/* Guard against absurd kernel sizes (ell^2 floats per transform). */
#define TRANSFORM_MAX_ELL 4096

static const char *const transform_names[] = {"identity", "dft", "random-orthogonal", "learned", "explicit"};

const char *rp_transform_name(epr_transform_kind kind) {
    return (unsigned)kind < 5 ? transform_names[kind] : "unknown";
}

int rp_transform_parse(const char *name, epr_transform_kind *kind, epr_err *err) {
    for (int i = 0; i < 4; i++)
        if (name && strcmp(name, transform_names[i]) == 0) {
            *kind = (epr_transform_kind)i;
            return 0;
        }
    return cmn_fail(err, EPR_EARG, "unknown transform '%s' (identity, dft, random-orthogonal, learned)",
                    name ? name : "(null)");
}

int rp_transform_is_trainable(epr_transform_kind kind) { return kind == EPR_TRANSFORM_LEARNED; }

void rp_transform_identity(int ell, float *T) {
    memset(T, 0, sizeof(float) * (size_t)ell * (size_t)ell);
    for (int i = 0; i < ell; i++) T[(size_t)i * ell + i] = 1.0f;
}

int rp_transform_dft(int h, int w, float *T, epr_err *err) {
    RETURN_ERROR_IF(h < 1 || w < 1 || (long)h * w > TRANSFORM_MAX_ELL, err, EPR_EARG, "dft transform: bad size %d x %d",
                    h, w);
    const int ell = h * w;
    /* One batched complex 2-D DFT of the ell unit impulses: image p has its
     * impulse at position p, so out[p][u*W+v] = exp(-2 pi i (u y/H + v x/W))
     * = cos(angle) - i sin(angle) for p = (y, x). */
    fftwf_complex *buf = fftwf_malloc(sizeof(fftwf_complex) * (size_t)ell * (size_t)ell);
    RETURN_ERROR_IF(!buf, err, EPR_ENOMEM, "dft transform: out of memory (%d x %d)", h, w);
    int dims[2] = {h, w};
    fftwf_plan plan =
        fftwf_plan_many_dft(2, dims, ell, buf, NULL, 1, ell, buf, NULL, 1, ell, FFTW_FORWARD, FFTW_ESTIMATE);
    if (!plan) {
        fftwf_free(buf);
        return cmn_fail(err, EPR_ENUM, "dft transform: FFTW could not plan %d x %d", h, w);
    }
    memset(buf, 0, sizeof(fftwf_complex) * (size_t)ell * (size_t)ell);
    for (int p = 0; p < ell; p++) buf[(size_t)p * ell + p][0] = 1.0f;
    fftwf_execute(plan);
    fftwf_destroy_plan(plan);

    const double c1 = 1.0 / sqrt((double)ell), c2 = sqrt(2.0 / ell);
    int col = 0;
    for (int u = 0; u < h; u++)
        for (int v = 0; v < w; v++) {
            const int f = u * w + v;
            const int fc = ((h - u) % h) * w + (w - v) % w; /* conjugate frequency */
            if (fc < f) continue;
            for (int p = 0; p < ell; p++) {
                const fftwf_complex *z = &buf[(size_t)p * ell + f];
                if (fc == f) {
                    T[(size_t)p * ell + col] = (float)(c1 * (*z)[0]);
                } else {
                    T[(size_t)p * ell + col] = (float)(c2 * (*z)[0]);
                    T[(size_t)p * ell + col + 1] = (float)(-c2 * (*z)[1]);
                }
            }
            col += fc == f ? 1 : 2;
        }
    fftwf_free(buf);
    /* The pairing above yields exactly ell columns; anything else is a bug. */
    RETURN_ERROR_IF(col != ell, err, EPR_ENUM, "dft transform: %d columns for ell = %d", col, ell);
    return 0;
}

/* Standard normal from two counters (Box-Muller, cosine branch). */
static double transform_gauss(uint64_t seed, uint64_t k) {
    double u1 = ((double)(cmn_rng_u64(seed, EPR_STREAM_TRANSFORM, 2 * k) >> 11) + 0.5) * 0x1p-53;
    double u2 = (double)(cmn_rng_u64(seed, EPR_STREAM_TRANSFORM, 2 * k + 1) >> 11) * 0x1p-53;
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

int rp_transform_random_orthogonal(int ell, uint64_t seed, float *T, epr_err *err) {
    RETURN_ERROR_IF(ell < 1 || ell > TRANSFORM_MAX_ELL, err, EPR_EARG, "random-orthogonal: bad ell %d", ell);
    double *G = malloc(sizeof(double) * (size_t)ell * (size_t)ell);
    RETURN_ERROR_IF(!G, err, EPR_ENOMEM, "random-orthogonal: out of memory (ell %d)", ell);
    for (size_t k = 0; k < (size_t)ell * ell; k++) G[k] = transform_gauss(seed, k);
    /* Modified Gram-Schmidt on the columns, twice ("twice is enough"), so
     * T^T T = I to double precision before rounding to float. */
    for (int j = 0; j < ell; j++) {
        for (int pass = 0; pass < 2; pass++)
            for (int i = 0; i < j; i++) {
                double dot = 0.0;
                for (int r = 0; r < ell; r++) dot += G[(size_t)r * ell + i] * G[(size_t)r * ell + j];
                for (int r = 0; r < ell; r++) G[(size_t)r * ell + j] -= dot * G[(size_t)r * ell + i];
            }
        double nrm = 0.0;
        for (int r = 0; r < ell; r++) nrm += G[(size_t)r * ell + j] * G[(size_t)r * ell + j];
        nrm = sqrt(nrm);
        if (!(nrm > 1e-12)) {
            free(G);
            return cmn_fail(err, EPR_ENUM, "random-orthogonal: degenerate Gaussian matrix (ell %d)", ell);
        }
        for (int r = 0; r < ell; r++) G[(size_t)r * ell + j] /= nrm;
    }
    for (size_t k = 0; k < (size_t)ell * ell; k++) T[k] = (float)G[k];
    free(G);
    return 0;
}

int rp_transform_build(epr_transform_kind kind, int h, int w, uint64_t seed, float *T, epr_err *err) {
    RETURN_ERROR_IF(h < 1 || w < 1 || (long)h * w > TRANSFORM_MAX_ELL, err, EPR_EARG, "transform: bad size %d x %d", h,
                    w);
    switch (kind) {
    case EPR_TRANSFORM_IDENTITY: rp_transform_identity(h * w, T); return 0;
    case EPR_TRANSFORM_DFT:
    case EPR_TRANSFORM_LEARNED: return rp_transform_dft(h, w, T, err);
    case EPR_TRANSFORM_RANDOM_ORTHOGONAL: return rp_transform_random_orthogonal(h * w, seed, T, err);
    case EPR_TRANSFORM_EXPLICIT: break; /* a stored matrix: nothing to build */
    }
    return cmn_fail(err, EPR_EARG, "transform: cannot build kind %d (%s)", (int)kind, rp_transform_name(kind));
}
