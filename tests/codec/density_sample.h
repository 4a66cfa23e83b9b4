/* tests/codec/density_sample.h — test helper: broad density parameters and
 * phi drawn from the density's own discretised pmf, so that the density
 * table is the cheaper choice (used by test_container and gen_golden). */
#ifndef EPR_TESTS_DENSITY_SAMPLE_H
#define EPR_TESTS_DENSITY_SAMPLE_H

#include <stdint.h>
#include <stdlib.h>

#include "codec/tables_internal.h"
#include "common/density_layout.h"
#include "common/rng.h"

static void broad_density(float *q, int ell, uint64_t seed, float h0) {
    cmn_rng r = {seed, 9, 0};
    for (int c = 0; c < ell; c++) {
        float *d = q + c * EPR_DENSITY_NPARAMS;
        for (int i = 0; i < EPR_DENSITY_NPARAMS; i++) d[i] = cmn_rng_next_uniform(&r) - 0.5f;
        for (int i = 0; i < 3; i++) d[EPR_DENSITY_H0 + i] = h0 - 0.1f * (float)c;
    }
}

/* rows x ell phi, column c drawn from density column c over [-lim, lim]. */
static int32_t *sample_density(const float *q, int ell, int64_t rows, int32_t lim, uint64_t seed) {
    const uint32_t K = 2 * (uint32_t)lim + 1;
    double *pmf = malloc(sizeof(double) * K);
    int32_t *phi = malloc(sizeof(int32_t) * (size_t)(rows * ell + 1));
    cmn_rng r = {seed, 2, 0};
    for (int c = 0; c < ell; c++) {
        if (codec_density_pmf(q + c * EPR_DENSITY_NPARAMS, -lim, K, pmf)) abort();
        double tot = 0;
        for (uint32_t k = 0; k < K; k++) tot += pmf[k];
        for (int64_t i = 0; i < rows; i++) {
            double u = cmn_rng_next_uniform(&r) * tot, acc = 0;
            uint32_t k = 0;
            while (k + 1 < K && (acc += pmf[k]) < u) k++;
            phi[i * ell + c] = -lim + (int32_t)k;
        }
    }
    free(pmf);
    return phi;
}

#endif
