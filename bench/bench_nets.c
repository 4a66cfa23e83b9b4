/* bench/bench_nets.c — training throughput and peak memory of one of the
 * paper's big networks (vgg16-cifar, resnet20-4, resnet18, resnet50) per
 * rank: one process, one network, one mode, one OpenBLAS thread, synthetic
 * data.  A benchmark: it prints figures, it checks nothing.
 *
 *   bench_nets --net resnet50 [--batch 8] [--size 224] [--mode plain|epr]
 *              [--steps 3] [--warmup 1] [--experiment FILE.ini]
 *
 * The step is harness/train.c's with one rank, call for call, minus the
 * data gather (the batch is a fixed random tensor): rp_model_decode,
 * nn_forward (training), nn_count_errors, nn_backward(1/B),
 * rp_model_backward, rp_model_rate_noisy (EPR only), SGD with momentum
 * on the network segment, Adam on the densities (EPR only), EMA.  EPR uses
 * the groups of the network's DFT experiment file (experiments/
 * {vgg16_cifar10,resnet20-4_cifar10,resnet18_imagenet,resnet50_imagenet}
 * _dft.ini), read with the harness's config loader.
 *
 * Per-layer-type time comes from the nn profile hook (nn_internal.h
 * op_time); "conv" is the im2col + sgemm convolution, forward and backward.
 * Peak memory is getrusage's ru_maxrss of this process (Linux: KiB), which
 * holds one network at one batch, so run one invocation per figure.
 *
 * Output: one line of key=value tokens.  img/s is by the wall clock,
 * cpu_img/s by this process's CPU time (the two agree on an idle machine;
 * on a shared one the second is the figure to compare). */
#include <cblas.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "epr/epr_model.h"
#include "common/timeutil.h"
#include "run/config.h"
#include "run/experiment.h"
#include "nn/nn_internal.h"

#ifndef EPR_SOURCE_DIR
#define EPR_SOURCE_DIR "."
#endif

static void die(const char *what, const char *msg) {
    fprintf(stderr, "bench_nets: %s: %s\n", what, msg);
    exit(1);
}

static void *xcalloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size);
    if (!p) die("calloc", "out of memory");
    return p;
}

static const struct {
    const char *net, *experiment;
    int size, batch; /* defaults */
} NETS[] = {
    {"vgg16-cifar", "vgg16_cifar10_dft.ini", 32, 128},
    {"resnet20-4", "resnet20-4_cifar10_dft.ini", 32, 128},
    {"resnet18", "resnet18_imagenet_dft.ini", 224, 16},
    {"resnet50", "resnet50_imagenet_dft.ini", 224, 8},
};

static void usage(void) {
    fprintf(stderr, "usage: bench_nets --net vgg16-cifar|resnet20-4|resnet18|resnet50 [--batch B] [--size HW]\n"
                    "                  [--mode plain|epr] [--steps N] [--warmup N] [--experiment FILE.ini]\n");
    exit(2);
}

int main(int argc, char **argv) {
    const char *net_name = NULL, *mode = "plain", *experiment = NULL;
    int batch = 0, size = 0, steps = 3, warmup = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) usage();
        if (!strcmp(a, "--net"))
            net_name = v;
        else if (!strcmp(a, "--mode"))
            mode = v;
        else if (!strcmp(a, "--batch"))
            batch = atoi(v);
        else if (!strcmp(a, "--size"))
            size = atoi(v);
        else if (!strcmp(a, "--steps"))
            steps = atoi(v);
        else if (!strcmp(a, "--warmup"))
            warmup = atoi(v);
        else if (!strcmp(a, "--experiment"))
            experiment = v;
        else
            usage();
        i++;
    }
    int k = -1;
    for (int i = 0; net_name && i < (int)(sizeof NETS / sizeof NETS[0]); i++)
        if (!strcmp(NETS[i].net, net_name)) k = i;
    if (k < 0 || (strcmp(mode, "plain") && strcmp(mode, "epr")) || steps < 1 || warmup < 0 || batch < 0 || size < 0)
        usage();
    if (!batch) batch = NETS[k].batch;
    if (!size) size = NETS[k].size;
    const int epr = !strcmp(mode, "epr");
    openblas_set_num_threads(1);

    char path[1024];
    if (experiment)
        snprintf(path, sizeof path, "%s", experiment);
    else
        snprintf(path, sizeof path, "%s/experiments/%s", EPR_SOURCE_DIR, NETS[k].experiment);
    cfg_experiment cfg;
    epr_err err = {0};
    if (cfg_load(path, NULL, 0, &cfg, &err)) die("config", err.msg);

    nn_model *net = NULL;
    if (nn_model_build(cfg.layers, 3, size, size, batch, &net, &err)) die("nn_model_build", err.msg);
    rp_group_def groups[CFG_MAX_GROUPS];
    experiment_groups(&cfg, groups);
    rp_model *em = NULL;
    if (rp_model_create(net, groups, epr ? cfg.n_groups : 0, epr ? cfg.uncompressed : NULL, cfg.seed, &em, &err))
        die("epr_model_create", err.msg);
    double op_time[2 * NN_N_OPS] = {0};

    const size_t in = (size_t)3 * size * size;
    float *x = xcalloc((size_t)batch * in, sizeof *x);
    int *y = xcalloc((size_t)batch, sizeof *y);
    uint64_t s = 88172645463325252ULL;
    for (size_t i = 0; i < (size_t)batch * in; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        x[i] = (float)((double)(s >> 11) * 0x1.0p-53 * 2.0 - 1.0);
    }
    const int classes = nn_model_num_classes(net);
    for (int i = 0; i < batch; i++) y[i] = i % classes;

    const size_t nn = rp_model_net_size(em), nd = rp_model_density_size(em), doff = rp_model_density_offset(em);
    float *mom = xcalloc(nn, sizeof *mom), *ema = xcalloc(nn, sizeof *ema);
    float *d1 = xcalloc(nd, sizeof *d1), *d2 = xcalloc(nd, sizeof *d2);
    memcpy(ema, rp_model_params(em), nn * sizeof *ema);
    nn_adam dens_adam = {cfg.density_lr, 0.9f, 0.999f, 1e-8f, 0};

    double t_decode = 0, t_fwd = 0, t_bwd = 0, t_epr = 0, t_opt = 0, t_total = 0, t_cpu = 0;
    for (int it = 0; it < warmup + steps; it++) {
        const int timed = it >= warmup;
        net->op_time = timed ? op_time : NULL;
        double c0 = cmn_cpu_s(), t0 = cmn_now_s();
        rp_model_decode(em);
        double t1 = cmn_now_s();
        nn_forward(net, x, y, batch, 1);
        nn_count_errors(net, y, batch, NULL);
        double t2 = cmn_now_s();
        nn_backward(net, 1.0f / (float)batch);
        double t3 = cmn_now_s();
        rp_model_backward(em);
        if (epr) rp_model_rate_noisy(em, cfg.seed, it, cfg.lambda, 0, 1);
        double t4 = cmn_now_s();
        float *p = rp_model_params(em), *g = rp_model_grads(em);
        nn_sgd sgd = {cfg.lr * 0.01f, cfg.momentum, cfg.weight_decay}; /* small lr: random data */
        nn_sgd_step(&sgd, p, g, mom, nn);
        if (nd) nn_adam_step(&dens_adam, p + doff, g + doff, d1, d2, nd);
        nn_ema_update(ema, p, nn, 0.999f);
        double t5 = cmn_now_s();
        if (timed) {
            t_decode += t1 - t0, t_fwd += t2 - t1, t_bwd += t3 - t2, t_epr += t4 - t3, t_opt += t5 - t4;
            t_total += t5 - t0;
            t_cpu += cmn_cpu_s() - c0;
        }
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    const double ms = 1e3 / steps;
    const double conv = op_time[2 * NN_CONV] + op_time[2 * NN_CONV + 1];
    const double bn = op_time[2 * NN_BATCHNORM] + op_time[2 * NN_BATCHNORM + 1];
    const double relu = op_time[2 * NN_RELU] + op_time[2 * NN_RELU + 1];
    const double dense = op_time[2 * NN_DENSE] + op_time[2 * NN_DENSE + 1];
    double other = 0;
    for (int o = 0; o < 2 * NN_N_OPS; o++) other += op_time[o];
    other -= conv + bn + relu + dense;
    printf("net=%s size=%d batch=%d mode=%s threads=1 params=%zu compressed=%zu img/s=%.1f cpu_img/s=%.1f ms/step=%.1f "
           "decode_ms=%.1f fwd_ms=%.1f bwd_ms=%.1f epr_ms=%.1f opt_ms=%.1f conv_ms=%.1f (fwd %.1f bwd %.1f) "
           "conv_share=%.1f%% bn_ms=%.1f relu_ms=%.1f dense_ms=%.1f other_layers_ms=%.1f maxrss_mb=%.0f\n",
           net_name, size, batch, mode, nn_model_num_params(net), rp_model_num_compressed(em), batch * steps / t_total,
           batch * steps / t_cpu, t_total * ms, t_decode * ms, t_fwd * ms, t_bwd * ms, t_epr * ms, t_opt * ms,
           conv * ms, op_time[2 * NN_CONV] * ms, op_time[2 * NN_CONV + 1] * ms, 100.0 * conv / t_total, bn * ms,
           relu * ms, dense * ms, other * ms, ru.ru_maxrss / 1024.0);
    free(x);
    free(y);
    free(mom);
    free(ema);
    free(d1);
    free(d2);
    rp_model_free(em);
    nn_model_free(net);
    cfg_free(&cfg);
    return 0;
}
