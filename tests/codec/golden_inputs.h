/* tests/codec/golden_inputs.h — the inputs of the golden .epr files, shared
 * by gen_golden.c (writes them to tests/data/golden/) and test_golden.c
 * (which re-encodes them and insists on identical bytes, pinning the exact
 * compressed sizes).  Everything is a function of fixed seeds. */
#ifndef EPR_TESTS_GOLDEN_INPUTS_H
#define EPR_TESTS_GOLDEN_INPUTS_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"
#include "density_sample.h"
#include "epr/codec.h"

#define GOLDEN_COUNT 4
static const char *const golden_names[GOLDEN_COUNT] = {
    "affine_hist.epr",    /* affine groups, histogram tables, one extra */
    "dft_density.epr",    /* conv-affine DFT 3x3, density tables */
    "explicit_mixed.epr", /* conv-affine learned T + identity, empty tensor, extras */
    "codebook_hist.epr"   /* codebook K = 8 (pruned: mostly entry 0), affine, one extra */
};

static int32_t *golden_laplace(uint64_t seed, int64_t n, double spread, double zero_frac) {
    cmn_rng r = {seed, 1, 0};
    int32_t *phi = (int32_t *)malloc(sizeof *phi * (size_t)(n ? n : 1));
    for (int64_t i = 0; i < n; i++) {
        if (cmn_rng_next_uniform(&r) < zero_frac) {
            phi[i] = 0;
            continue;
        }
        int32_t v = 1 + (int32_t)floor(-log(cmn_rng_next_uniform(&r) + 1e-7) * spread);
        phi[i] = (cmn_rng_next(&r) & 1) ? v : -v;
    }
    return phi;
}

static int golden_build(int which, void **buf, size_t *size, epr_err *e) {
    int rc;
    if (which == 0) {
        static const char arch[] = "input 1 28 28\ndense 784 40\nrelu\ndense 40 10\n";
        float s0 = 0.0183f, b0 = 0.0f, s1 = 0.02f, b1 = -0.01f;
        float extra[5] = {0.5f, -1.25f, 3.0f, 1e-3f, -0.0f};
        epr_group_spec g[2] = {{EPR_DECODER_AFFINE, 1, 0, 0, 0, NULL, &s0, &b0, NULL, NULL, 0},
                               {EPR_DECODER_AFFINE, 1, 0, 0, 0, NULL, &s1, &b1, NULL, NULL, 0}};
        int32_t *w = golden_laplace(1, 40 * 30, 1.2, 0.9), *b = golden_laplace(2, 40, 2.0, 0.3);
        epr_tensor_spec t[3] = {{"fc1.weight", 2, {40, 30}, 0, w, NULL},
                                {"fc1.bias", 1, {40}, 1, b, NULL},
                                {"bn.running_var", 1, {5}, -1, NULL, extra}};
        rc = epr_encode(arch, strlen(arch), g, 2, t, 3, buf, size, NULL, e);
        free(w);
        free(b);
    } else if (which == 1) {
        static const char arch[] = "conv 3x3 1->8";
        float q[9 * EPR_DENSITY_PARAMS_PER_COLUMN], s[9], c[9];
        broad_density(q, 9, 17, -9.0f);
        for (int j = 0; j < 9; j++) {
            s[j] = 0.002f * (float)(j + 1);
            c[j] = 0.0001f * (float)j;
        }
        int32_t *phi = sample_density(q, 9, 200, 4000, 23);
        epr_group_spec g = {EPR_DECODER_CONV_AFFINE, 9, EPR_TRANSFORM_DFT, 3, 3, NULL, s, c, q, NULL, 0};
        epr_tensor_spec t[2] = {{"conv1.weight", 4, {8, 1, 3, 3}, 0, phi, NULL},
                                {"conv2.weight", 4, {24, 8, 3, 3}, 0, phi + 72, NULL}};
        rc = epr_encode(arch, strlen(arch), &g, 1, t, 2, buf, size, NULL, e);
        free(phi);
    } else if (which == 3) {
        static const char arch[] = "dense 20 10 shared";
        const float cb[8] = {0.0f, -0.31f, -0.12f, -0.05f, 0.05f, 0.12f, 0.31f, 0.5f};
        float s1 = 0.02f, b1 = 0.0f, extra[3] = {1.0f, 0.25f, 4.0f};
        epr_group_spec g[2] = {{EPR_DECODER_CODEBOOK, 1, 0, 0, 0, NULL, NULL, NULL, NULL, cb, 8},
                               {EPR_DECODER_AFFINE, 1, 0, 0, 0, NULL, &s1, &b1, NULL, NULL, 0}};
        int32_t w[20 * 10], *b = golden_laplace(8, 10, 1.0, 0.3);
        cmn_rng r = {41, 1, 0};
        for (int i = 0; i < 20 * 10; i++)
            w[i] = cmn_rng_next_uniform(&r) < 0.7f ? 0 : 1 + (int32_t)cmn_rng_below(&r, 7);
        epr_tensor_spec t[3] = {{"fc.weight", 2, {20, 10}, 0, w, NULL},
                                {"fc.bias", 1, {10}, 1, b, NULL},
                                {"bn.var", 1, {3}, -1, NULL, extra}};
        rc = epr_encode(arch, strlen(arch), g, 2, t, 3, buf, size, NULL, e);
        free(b);
    } else {
        static const char arch[] = "conv 2x2 learned";
        float T[16], s[4] = {0.01f, 0.02f, 0.03f, 0.04f}, c[4] = {0, 0.1f, -0.1f, 0};
        float s2[4] = {0.5f, 0.5f, 0.25f, 0.25f}, c2[4] = {0};
        cmn_rng r = {31, 1, 0};
        for (int j = 0; j < 16; j++) T[j] = cmn_rng_next_uniform(&r) - 0.5f;
        float extra[3] = {1.0f, 2.0f, 3.0f};
        epr_group_spec g[2] = {{EPR_DECODER_CONV_AFFINE, 4, EPR_TRANSFORM_LEARNED, 0, 0, T, s, c, NULL, NULL, 0},
                               {EPR_DECODER_CONV_AFFINE, 4, EPR_TRANSFORM_IDENTITY, 0, 0, NULL, s2, c2, NULL, NULL, 0}};
        int32_t *a = golden_laplace(5, 4 * 50, 3.0, 0.4), *z = golden_laplace(6, 4 * 10, 0.5, 0.95);
        epr_tensor_spec t[5] = {{"a", 3, {50, 2, 2}, 0, a, NULL},
                                {"empty", 2, {0, 4}, 0, a, NULL},
                                {"z", 2, {10, 4}, 1, z, NULL},
                                {"bn.mean", 1, {3}, -1, NULL, extra},
                                {"scalar", 0, {0}, -1, NULL, extra}};
        rc = epr_encode(arch, strlen(arch), g, 2, t, 5, buf, size, NULL, e);
        free(a);
        free(z);
    }
    return rc;
}

#endif
