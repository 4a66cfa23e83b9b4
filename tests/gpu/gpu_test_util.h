/* tests/gpu/gpu_test_util.h — what the GPU test programs share: opening
 * the device, or the exit status that says why not (77 = skipped: no GPU,
 * as ctest's SKIP_RETURN_CODE expects). */
#ifndef EPR_GPU_TEST_UTIL_H
#define EPR_GPU_TEST_UTIL_H

#include <stdio.h>

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

#endif
