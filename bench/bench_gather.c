/* bench/bench_gather.c — the input pipeline of `[data] augment = rrc-flip`
 * (random-resized crop + flip + bilinear resize of stored 256x256 images to
 * 224x224, dataset_gather_rrc_flip): images/s of one rank's gather, which
 * runs on the rank's one thread, beside the GPU step on the device path.
 * The data are random images made in memory (dataset_random), so this
 * measures the crop and resize, not the disk.
 *   bench_gather [--batch B] [--batches K] [--size S] [--crop C]
 * Defaults: B = 256, K = 16, S = 256, C = 224. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/timeutil.h"
#include "run/dataset.h"

static void usage(void) {
    fprintf(stderr, "usage: bench_gather [--batch B] [--batches K] [--size S] [--crop C]\n");
    exit(2);
}

/* Seconds for K batches of B images into x (batch k: images k*B ...). */
static double run(const dataset *d, uint32_t *idx, int B, int K, float *x, int *y) {
    double t0 = cmn_now_s();
    for (int k = 0; k < K; k++) {
        for (int i = 0; i < B; i++) idx[i] = (uint32_t)(((size_t)k * B + i) % (size_t)d->n);
        if (dataset_gather_rrc_flip(d, idx, B, x, y, 1, k, 0)) {
            fprintf(stderr, "bench_gather: gather failed\n");
            exit(1);
        }
    }
    return cmn_now_s() - t0;
}

int main(int argc, char **argv) {
    int B = 256, K = 16, S = 256, C = 224;
    for (int i = 1; i < argc; i += 2) {
        if (i + 1 >= argc) usage();
        int v = atoi(argv[i + 1]);
        if (!strcmp(argv[i], "--batch"))
            B = v;
        else if (!strcmp(argv[i], "--batches"))
            K = v;
        else if (!strcmp(argv[i], "--size"))
            S = v;
        else if (!strcmp(argv[i], "--crop"))
            C = v;
        else
            usage();
    }
    if (B < 1 || K < 1 || S < 1 || C < 1 || C > S || B > 65536 || S > 4096) usage();
    dataset d;
    epr_err err = {0};
    const int n = B < 512 ? 512 : B;
    if (dataset_random(&d, n, 3, S, S, 1000, 1, &err)) {
        fprintf(stderr, "bench_gather: %s\n", err.msg);
        return 1;
    }
    /* the network sees C x C; the stored images stay S x S (a pack with crop = C) */
    d.store_h = S, d.store_w = S, d.h = C, d.w = C;
    float *x = malloc((size_t)B * 3 * C * C * sizeof(float));
    uint32_t *idx = malloc((size_t)B * sizeof *idx);
    int *y = malloc((size_t)B * sizeof *y);
    if (!x || !idx || !y) {
        fprintf(stderr, "bench_gather: out of memory\n");
        return 1;
    }
    run(&d, idx, B, 1, x, y); /* warm-up: page in the images */
    double s = run(&d, idx, B, K, x, y);
    printf("rrc-flip gather on one thread, %d batches of %d images, 3x%dx%d stored -> 3x%dx%d: %.1f img/s "
           "(%.1f ms per batch)\n",
           K, B, S, S, C, C, K * B / s, 1e3 * s / K);
    free(x);
    free(idx);
    free(y);
    dataset_free(&d);
    return 0;
}
