/* bench/bench_gpu_nn.c — training-step throughput of the device nn
 * (src/nn/cuda) on synthetic data resident on the GPU.  A benchmark: it
 * prints figures, it checks nothing (tests/gpu/test_gpu_nn checks).
 *
 *   bench_gpu_nn [NET:BATCH[:SIZE] ...] [--seconds S] [--profile] [--tf32] [--im2col] [--relu-copy]
 *                [--direct-min P]
 *   --im2col: 3x3 stride-1 convolutions by im2col + SGEMM instead of
 *   Winograd (nn_cuda_set_winograd 0); the line says impl=epr-cuda-im2col
 *   --relu-copy: every ReLU in a buffer of its own instead of in place over
 *   its input (nn_cuda_set_relu_inplace 0); the line says impl=epr-cuda-relucopy
 *   --direct-min P: 1x1 convolutions of >= P output pixels by per-sample
 *   products (nn_cuda_set_direct_min; default NN_CUDA_DIRECT_P, 49); the line says impl=epr-cuda-dP
 *   --tf32: cuBLAS may use TF32 tensor cores (nn_cuda_set_tf32), as
 *   PyTorch's cuDNN convolutions do by default; the line says impl=epr-cuda-tf32
 *   default: lenet300-100:64 lenet300-100:128 lenet5-caffe:64
 *            lenet5-caffe:128 resnet20-4:128 vgg16-cifar:128
 *
 * One step: nn_cuda_forward_async (training, labels) + nn_cuda_backward
 * (1/B) + nn_cuda_adam_step over the one parameter block; the loss stays on
 * the device (read once at the end), as bench/torch_gpu_nn.py does not call
 * .item() per step.  Input: uniform [0,1) images and random labels, made
 * once on the host and uploaded.  Timing: warm-up steps, then steps until S
 * seconds (default 2) have passed, the stream synchronised before reading
 * the clock.  Memory: device memory in use (cudaMemGetInfo) after the model,
 * its parameters, the Adam moments and the data are allocated, minus the
 * figure before (the cuBLAS workspace appears after the first GEMM and is
 * counted: the figure is taken after the warm-up).
 *
 * Output: one line per configuration,
 *   impl=epr-cuda net=... batch=... img/s=... ms/step=... steps=... mem_mb=... loss=... */
#include <cuda_runtime_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"
#include "common/timeutil.h"
#include "nn/cuda/nn_cuda.h"
#include "nn/nn.h"

static void die(const char *what, const char *msg) {
    fprintf(stderr, "bench_gpu_nn: %s: %s\n", what, msg);
    exit(1);
}

static double used_mb(void) {
    size_t free_b = 0, total_b = 0;
    cudaMemGetInfo(&free_b, &total_b);
    return (double)(total_b - free_b) / (1024.0 * 1024.0);
}

static int tf32, im2col, relu_copy, direct_min;

static void bench(nn_cuda *c, const char *net, int batch, int size, double seconds, int profile) {
    epr_err err = {0};
    const char *spec = nn_builtin_spec(net);
    if (!spec) die(net, "unknown network");
    const int ch = strncmp(net, "lenet", 5) == 0 ? 1 : 3;
    if (size <= 0) size = ch == 1 ? 28 : (strncmp(net, "resnet", 6) == 0 && strcmp(net, "resnet20-4") ? 224 : 32);
    if (nn_cuda_sync(c, &err)) die("sync", err.msg);
    const double mem0 = used_mb();
    nn_model *h = NULL;
    if (nn_model_build(spec, ch, size, size, batch, &h, &err) || nn_model_alloc_params(h, &err)) die(net, err.msg);
    nn_model_init_params(h, 1);
    nn_cuda_model *m = NULL;
    if (nn_cuda_model_create(c, h, &m, &err) || nn_cuda_model_alloc_params(m, &err)) die(net, err.msg);
    const size_t np = nn_model_num_params(h), in = (size_t)batch * ch * size * size;
    float *hx = malloc(sizeof(float) * in);
    int *hy = malloc(sizeof(int) * batch);
    if (!hx || !hy) die("malloc", "out of memory");
    cmn_rng r = {7, 1, 0};
    for (size_t i = 0; i < in; i++) hx[i] = cmn_rng_next_uniform(&r);
    for (int s = 0; s < batch; s++) hy[s] = (int)cmn_rng_below(&r, nn_model_num_classes(h));
    void *dx, *dy, *m1, *m2;
    if (nn_cuda_malloc(c, &dx, sizeof(float) * in, &err) || nn_cuda_malloc(c, &dy, sizeof(int) * batch, &err) ||
        nn_cuda_malloc(c, &m1, sizeof(float) * np, &err) || nn_cuda_malloc(c, &m2, sizeof(float) * np, &err))
        die(net, err.msg);
    nn_cuda_upload(c, nn_cuda_model_param_block(m), nn_model_param_block(h), sizeof(float) * np);
    nn_cuda_upload(c, dx, hx, sizeof(float) * in);
    nn_cuda_upload(c, dy, hy, sizeof(int) * batch);
    nn_cuda_memset0(c, m1, sizeof(float) * np);
    nn_cuda_memset0(c, m2, sizeof(float) * np);
    nn_adam opt = {.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .t = 0};
    float *w = nn_cuda_model_param_block(m), *g = nn_cuda_model_grad_block(m);
#define STEP()                                        \
    do {                                              \
        nn_cuda_forward_async(m, dx, dy, batch, 1);   \
        nn_cuda_backward(m, 1.0f / batch);            \
        nn_cuda_adam_step(c, &opt, w, g, m1, m2, np); \
    } while (0)
    for (int i = 0; i < 5; i++) STEP();
    if (nn_cuda_sync(c, &err)) die(net, err.msg);
    const double mem = used_mb() - mem0;
    long steps = 0;
    double t0 = cmn_now_s(), t1 = t0;
    while (t1 - t0 < seconds || steps < 10) {
        for (int i = 0; i < 10; i++) STEP();
        steps += 10;
        if (nn_cuda_sync(c, &err)) die(net, err.msg);
        t1 = cmn_now_s();
    }
    double loss = 0;
    nn_cuda_last_loss(m, &loss, NULL);
    const double ms = 1e3 * (t1 - t0) / steps;
    char dm[24] = "";
    if (direct_min) snprintf(dm, sizeof dm, "-d%d", direct_min);
    printf("impl=epr-cuda%s%s%s%s net=%s batch=%d size=%d img/s=%.1f ms/step=%.3f steps=%ld mem_mb=%.0f loss=%.4f\n",
           im2col ? "-im2col" : "", relu_copy ? "-relucopy" : "", dm, tf32 ? "-tf32" : "", net, batch, size,
           batch * 1e3 / ms, ms, steps, mem, loss / batch);
    if (profile) { /* where the time goes: 10 more steps, synchronised per layer */
        static const char *ops[NN_CUDA_PROFILE_KEYS] = {"dense",   "conv",      "maxpool",  "avgpool",
                                                        "gap",     "relu",      "bn",       "add",
                                                        "flatten", "conv-wino", "conv-1x1", "conv-im2col"};
        double op_time[2 * NN_CUDA_PROFILE_KEYS] = {0};
        nn_cuda_model_profile(m, op_time);
        double a0 = cmn_now_s();
        for (int i = 0; i < 10; i++) {
            nn_cuda_forward_async(m, dx, dy, batch, 1);
            nn_cuda_backward(m, 1.0f / batch);
        }
        nn_cuda_model_profile(m, NULL);
        double b0 = cmn_now_s();
        for (int i = 0; i < 10; i++) nn_cuda_adam_step(c, &opt, w, g, m1, m2, np);
        nn_cuda_sync(c, &err);
        double adam = cmn_now_s() - b0, all = b0 - a0;
        printf("  profile ms/step (fwd/bwd):");
        for (int o = 0; o < NN_CUDA_PROFILE_KEYS; o++)
            if (op_time[2 * o] + op_time[2 * o + 1] > 0)
                printf(" %s %.3f/%.3f", ops[o], 100 * op_time[2 * o], 100 * op_time[2 * o + 1]);
        printf(" adam %.3f (profiled fwd+bwd %.3f)\n", 100 * adam, 100 * all);
    }
    fflush(stdout);
    nn_cuda_free(c, dx), nn_cuda_free(c, dy), nn_cuda_free(c, m1), nn_cuda_free(c, m2);
    nn_cuda_model_free(m);
    nn_model_free(h);
    free(hx), free(hy);
}

int main(int argc, char **argv) {
    static const char *defaults[] = {"lenet300-100:64",  "lenet300-100:128", "lenet5-caffe:64",
                                     "lenet5-caffe:128", "resnet20-4:128",   "vgg16-cifar:128"};
    double seconds = 2.0;
    int profile = 0;
    const char *list[64];
    int n = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
            seconds = atof(argv[++i]);
        else if (strcmp(argv[i], "--profile") == 0)
            profile = 1;
        else if (strcmp(argv[i], "--tf32") == 0)
            tf32 = 1;
        else if (strcmp(argv[i], "--im2col") == 0)
            im2col = 1;
        else if (strcmp(argv[i], "--relu-copy") == 0)
            relu_copy = 1;
        else if (strcmp(argv[i], "--direct-min") == 0 && i + 1 < argc)
            direct_min = atoi(argv[++i]);
        else if (n < 64)
            list[n++] = argv[i];
    }
    if (!n)
        for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++) list[n++] = defaults[i];
    nn_cuda *c = NULL;
    epr_err err = {0};
    int rc = nn_cuda_open(0, &c, &err);
    if (rc) {
        fprintf(stderr, "bench_gpu_nn: %s\n", err.msg);
        return rc == NN_CUDA_ENODEV ? 77 : 1;
    }
    nn_cuda_set_tf32(c, tf32);
    nn_cuda_set_winograd(c, !im2col);
    nn_cuda_set_relu_inplace(c, !relu_copy);
    if (direct_min) nn_cuda_set_direct_min(c, direct_min);
    for (int i = 0; i < n; i++) {
        char net[64];
        int batch = 0, size = 0;
        if (sscanf(list[i], "%63[^:]:%d:%d", net, &batch, &size) < 2 || batch < 1)
            die(list[i], "want NET:BATCH[:SIZE]");
        bench(c, net, batch, size, seconds, profile);
    }
    nn_cuda_close(c);
    return 0;
}
