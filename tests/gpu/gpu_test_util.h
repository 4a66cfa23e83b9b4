/* tests/gpu/gpu_test_util.h — what the GPU test programs share: opening
 * the device, or the exit status that says why not (77 = skipped: no GPU,
 * as ctest's SKIP_RETURN_CODE expects). */
#ifndef EPR_GPU_TEST_UTIL_H
#define EPR_GPU_TEST_UTIL_H

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "nn/cuda/nn_cuda.h"

/* Opens device 0 into *g; returns 0, or the status main should exit with. */
static int gpu_test_open(const char *prog, nn_cuda **g) {
    epr_err err = {0};
    int rc = nn_cuda_open(0, g, &err);
    if (rc == NN_CUDA_ENODEV) {
        printf("%s: skipped: %s\n", prog, err.msg);
        return 77;
    }
    if (rc) {
        fprintf(stderr, "%s: %s\n", prog, err.msg);
        return 1;
    }
    return 0;
}

/* GPU result against the CPU reference: max |gpu - cpu| / max |cpu|
 * (emax), relative L2 error (el2), the worst element, how many elements
 * are bitwise equal.  floor: the scale below which differences are
 * rounding noise (max |cpu| and the L2 norm are taken at least that large;
 * 0 = none). */
typedef struct {
    double emax, el2;
    size_t worst, same;
} gpu_diff;

static gpu_diff gpu_test_diff(const float *gpu, const float *cpu, size_t n, double floor) {
    double dmax = 0, cmax = 0, d2 = 0, c2 = 0;
    gpu_diff r = {0, 0, 0, 0};
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)gpu[i] - cpu[i]);
        if (d > dmax) dmax = d, r.worst = i;
        if (fabs(cpu[i]) > cmax) cmax = fabs(cpu[i]);
        d2 += d * d;
        c2 += (double)cpu[i] * cpu[i];
        r.same += memcmp(gpu + i, cpu + i, sizeof(float)) == 0;
    }
    if (cmax < floor) cmax = floor;
    if (c2 < floor * floor * (double)n) c2 = floor * floor * (double)n;
    r.emax = cmax > 0 ? dmax / cmax : dmax;
    r.el2 = c2 > 0 ? sqrt(d2 / c2) : sqrt(d2);
    return r;
}

#endif
