/* run/dataset_gather.c — batches of a loaded data set (dataset.h): the
 * gather into float input (normalised), the augmentations (padded random
 * crop, horizontal flip, random-resized crop), each a pure function of
 * (seed, step, position in the global batch), and the epoch sampler.
 * May call: libc, libm, common/rng.h. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"
#include "run/dataset.h"

int dataset_gather(const dataset *d, const uint32_t *idx, int n, float *x, int *y) {
    if (!d || n < 0 || (n > 0 && !idx)) return EPR_EARG;
    if (d->c < 1 || d->c > DATASET_MAX_CHANNELS) return EPR_EARG;
    for (int i = 0; i < n; i++)
        if (idx[i] >= (uint32_t)d->n) return EPR_EARG;
    size_t hw = (size_t)d->h * (size_t)d->w, per = dataset_sample_bytes(d);
    if (x) {
        /* A table per channel: the same float for the same byte, always. */
        float lut[DATASET_MAX_CHANNELS][256];
        for (int ch = 0; ch < d->c; ch++)
            for (int v = 0; v < 256; v++) {
                float f = (float)v / 255.0f;
                lut[ch][v] = d->normalize ? (f - d->mean[ch]) / d->std[ch] : f;
            }
        if (d->store_h) { /* packed: the centre h x w of the stored image */
            const int SW = d->store_w, oy = (d->store_h - d->h) / 2, ox = (SW - d->w) / 2;
            const size_t sp = (size_t)d->store_h * SW, sper = (size_t)d->c * sp;
            for (int i = 0; i < n; i++) {
                const uint8_t *p = d->images + (size_t)idx[i] * sper + (size_t)oy * SW + ox;
                float *q = x + (size_t)i * per;
                for (int ch = 0; ch < d->c; ch++, p += sp)
                    for (int r = 0; r < d->h; r++, q += d->w)
                        for (int k = 0; k < d->w; k++) q[k] = lut[ch][p[(size_t)r * SW + k]];
            }
        } else {
            for (int i = 0; i < n; i++) {
                const uint8_t *p = d->images + (size_t)idx[i] * per;
                float *q = x + (size_t)i * per;
                for (int ch = 0; ch < d->c; ch++, p += hw, q += hw)
                    for (size_t k = 0; k < hw; k++) q[k] = lut[ch][p[k]];
            }
        }
    }
    if (y)
        for (int i = 0; i < n; i++) y[i] = d->labels[idx[i]];
    return 0;
}

int dataset_gather_crop_flip(const dataset *d, const uint32_t *idx, int n, float *x, int *y, int pad, uint64_t seed,
                             long step, int position) {
    return dataset_gather_crop(d, idx, n, x, y, pad, 1, seed, step, position);
}

int dataset_gather_crop(const dataset *d, const uint32_t *idx, int n, float *x, int *y, int pad, int allow_flip,
                        uint64_t seed, long step, int position) {
    if (pad < 0 || pad > 64 || step < 0 || position < 0 || d->store_h) return EPR_EARG;
    CHECK_STATUS(dataset_gather(d, idx, n, x, y));
    if (!x) return 0;
    int H = d->h, W = d->w;
    size_t hw = (size_t)H * (size_t)W, per = dataset_sample_bytes(d);
    for (int i = 0; i < n; i++) {
        uint64_t r = cmn_rng_u64(seed, EPR_STREAM_AUGMENT, (uint64_t)step << 32 | (uint64_t)(position + i));
        int dy = (int)(r % (uint64_t)(2 * pad + 1)) - pad;
        int dx = (int)((r >> 16) % (uint64_t)(2 * pad + 1)) - pad;
        int flip = allow_flip && (int)((r >> 32) & 1);
        if (!dx && !dy && !flip) continue;
        float *q = x + (size_t)i * per;
        for (int ch = 0; ch < d->c; ch++, q += hw) {
            /* padded pixels are byte 0, normalised like any other pixel */
            float zero = d->normalize ? (0.0f - d->mean[ch]) / d->std[ch] : 0.0f;
            float tmp[64 * 64];
            float *src = hw <= sizeof tmp / sizeof tmp[0] ? tmp : NULL;
            if (!src) return EPR_EARG; /* crop-flip is for small images (CIFAR) */
            memcpy(src, q, hw * sizeof(float));
            for (int yy = 0; yy < H; yy++)
                for (int xx = 0; xx < W; xx++) {
                    int sy = yy + dy, sx = (flip ? W - 1 - xx : xx) + dx;
                    q[(size_t)yy * W + xx] = sy < 0 || sy >= H || sx < 0 || sx >= W ? zero : src[(size_t)sy * W + sx];
                }
        }
    }
    return 0;
}

/* Along one axis of a crop [start, start + len) scaled by s: where output
 * pixel o samples (pixel centres aligned, half-pixel offsets, edges
 * clamped): its two neighbours i0, i1 and the weight w of i1. */
static void bilinear_src(int o, float s, int start, int len, int *i0, int *i1, float *w) {
    float f = start + ((float)o + 0.5f) * s - 0.5f;
    if (f < start) f = (float)start;
    if (f > start + len - 1) f = (float)(start + len - 1);
    *i0 = (int)f;
    *i1 = *i0 + 1 < start + len ? *i0 + 1 : *i0;
    *w = f - (float)*i0;
}

int dataset_gather_rrc_flip(const dataset *d, const uint32_t *idx, int n, float *x, int *y, uint64_t seed, long step,
                            int position) {
    if (!d || n < 0 || (n > 0 && !idx) || step < 0 || position < 0) return EPR_EARG;
    if (d->c < 1 || d->c > DATASET_MAX_CHANNELS) return EPR_EARG;
    for (int i = 0; i < n; i++)
        if (idx[i] >= (uint32_t)d->n) return EPR_EARG;
    if (y)
        for (int i = 0; i < n; i++) y[i] = d->labels[idx[i]];
    if (!x) return 0;
    const int SH = d->store_h ? d->store_h : d->h, SW = d->store_h ? d->store_w : d->w, H = d->h, W = d->w;
    const size_t sp = (size_t)SH * SW, sper = (size_t)d->c * sp, op = (size_t)H * W;
    float lut[DATASET_MAX_CHANNELS][256];
    for (int ch = 0; ch < d->c; ch++)
        for (int v = 0; v < 256; v++) {
            float f = (float)v / 255.0f;
            lut[ch][v] = d->normalize ? (f - d->mean[ch]) / d->std[ch] : f;
        }
    for (int i = 0; i < n; i++) {
        /* One key per sample, as crop-flip; its draws come from a stream
         * seeded by that key, so any number of them stays keyed by
         * (seed, step, position). */
        uint64_t key = cmn_rng_u64(seed, EPR_STREAM_AUGMENT, (uint64_t)step << 32 | (uint64_t)(position + i));
        cmn_rng r = {key, EPR_STREAM_AUGMENT, 0};
        const double area = (double)SH * SW, lo = log(3.0 / 4.0), hi = log(4.0 / 3.0);
        int cropH = 0, cw = 0, y0 = 0, x0 = 0;
        for (int attempt = 0; attempt < 10 && !cropH; attempt++) {
            double target = area * (0.08 + 0.92 * cmn_rng_next_uniform(&r));
            double ratio = exp(lo + (hi - lo) * cmn_rng_next_uniform(&r));
            int tw = (int)lround(sqrt(target * ratio)), th = (int)lround(sqrt(target / ratio));
            if (tw >= 1 && th >= 1 && tw <= SW && th <= SH) {
                cropH = th, cw = tw;
                y0 = (int)cmn_rng_below(&r, (uint64_t)(SH - th + 1));
                x0 = (int)cmn_rng_below(&r, (uint64_t)(SW - tw + 1));
            }
        }
        if (!cropH) { /* fallback: the whole image at a ratio within [3/4, 4/3] */
            double in_ratio = (double)SW / SH;
            if (in_ratio < 0.75)
                cw = SW, cropH = (int)lround(SW / 0.75);
            else if (in_ratio > 4.0 / 3.0)
                cropH = SH, cw = (int)lround(SH * 4.0 / 3.0);
            else
                cw = SW, cropH = SH;
            if (cropH > SH) cropH = SH;
            if (cw > SW) cw = SW;
            y0 = (SH - cropH) / 2, x0 = (SW - cw) / 2;
        }
        const int flip = (int)(cmn_rng_next(&r) & 1);
        /* Bilinear, pixel centres aligned (half-pixel offsets), edges clamped. */
        const float sy = (float)cropH / (float)H, sx = (float)cw / (float)W;
        const uint8_t *img = d->images + (size_t)idx[i] * sper;
        float *q = x + (size_t)i * (size_t)d->c * op;
        for (int ch = 0; ch < d->c; ch++, q += op) {
            const uint8_t *p = img + (size_t)ch * sp;
            for (int oy = 0; oy < H; oy++) {
                int iy, iy1;
                float wy;
                bilinear_src(oy, sy, y0, cropH, &iy, &iy1, &wy);
                const uint8_t *r0 = p + (size_t)iy * SW, *r1 = p + (size_t)iy1 * SW;
                for (int ox = 0; ox < W; ox++) {
                    int ix, ix1;
                    float wx;
                    bilinear_src(ox, sx, x0, cw, &ix, &ix1, &wx);
                    float top = (1.0f - wx) * lut[ch][r0[ix]] + wx * lut[ch][r0[ix1]];
                    float bot = (1.0f - wx) * lut[ch][r1[ix]] + wx * lut[ch][r1[ix1]];
                    q[(size_t)oy * W + (flip ? W - 1 - ox : ox)] = (1.0f - wy) * top + wy * bot;
                }
            }
        }
    }
    return 0;
}

void sampler_epoch_perm(uint64_t seed, int64_t epoch, int n, uint32_t *perm) {
    cmn_rng r = {seed, EPR_STREAM_SHUFFLE, (uint64_t)epoch << 32};
    for (int i = 0; i < n; i++) perm[i] = (uint32_t)i;
    for (int i = n - 1; i > 0; i--) {
        uint32_t j = (uint32_t)cmn_rng_below(&r, (uint64_t)i + 1);
        uint32_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}

int sampler_init(sampler *s, int n, uint64_t seed, epr_err *err) {
    RETURN_ERROR_IF(!s, err, EPR_EARG, "sampler_init: no sampler");
    memset(s, 0, sizeof *s);
    RETURN_ERROR_IF(n <= 0, err, EPR_EARG, "sampler_init: data set size %d", n);
    s->perm = malloc((size_t)n * sizeof *s->perm);
    RETURN_ERROR_IF(!s->perm, err, EPR_ENOMEM, "sampler_init: out of memory (%d samples)", n);
    s->seed = seed;
    s->n = n;
    s->epoch = -1;
    return 0;
}

void sampler_free(sampler *s) {
    if (!s) return;
    free(s->perm);
    memset(s, 0, sizeof *s);
}

int sampler_batch(sampler *s, long step, int B, int begin, int end, uint32_t *out) {
    if (!s || !s->perm || step < 0 || B <= 0 || begin < 0 || begin > end || end > B) return EPR_EARG;
    if (end > begin && !out) return EPR_EARG;
    if ((int64_t)step > (INT64_MAX - B) / B) return EPR_EARG;
    int64_t pos = (int64_t)step * B + begin;
    int k = 0, cnt = end - begin;
    while (k < cnt) {
        int64_t e = pos / s->n;
        int i = (int)(pos % s->n);
        if (e > (int64_t)UINT32_MAX) return EPR_EARG; /* counter space: epochs < 2^32 */
        if (e != s->epoch) {
            sampler_epoch_perm(s->seed, e, s->n, s->perm);
            s->epoch = e;
        }
        int run = s->n - i < cnt - k ? s->n - i : cnt - k;
        memcpy(out + k, s->perm + i, (size_t)run * sizeof *out);
        k += run;
        pos += run;
    }
    return 0;
}
