/* bench/bench_gpu_epr.c — the EPR part of a training step on the GPU
 * (src/epr/cuda) and on the CPU (src/epr, one thread) side by side, for
 * the groups of real experiment files.  A benchmark: it prints figures, it
 * checks nothing (tests/gpu/test_gpu_epr checks).
 *
 *   bench_gpu_epr [EXPERIMENT.ini ...] [--seconds S]
 *   default: lenet5-caffe_mnist10k.ini resnet20-4_cifar10_dft.ini, looked
 *   up in $EPR_EXPERIMENTS (default: the source tree's experiments/).
 *
 * Per step and side: decode (θ from round(ϑ/s)), backward (dθ -> dϑ, dΨ;
 * dθ as the nn left it), noisy rate forward + backward (all rows, one rank,
 * gradient into the block), each timed on its own: warm-up, then repeats
 * until S seconds (default 1) per phase, the GPU stream synchronised before
 * the clock is read (the rate call waits for its bits anyway).
 *
 * Output: one line per experiment and side,
 *   impl=cpu|cuda exp=... compressed=N decode_ms=... backward_ms=... rate_ms=... total_ms=...
 *   rate_ns_per_value=...
 * and the CPU/GPU ratio of the totals. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/timeutil.h"
#include "epr/cuda/epr_cuda.h"
#include "epr/epr_model.h"
#include "nn/cuda/nn_cuda.h"
#include "nn/nn.h"
#include "run/config.h"
#include "run/experiment.h"

static void die(const char *what, const char *msg) {
    fprintf(stderr, "bench_gpu_epr: %s: %s\n", what, msg);
    exit(1);
}

typedef enum { PH_DECODE, PH_BACKWARD, PH_RATE } phase;

typedef struct {
    rp_model *em;
    rp_cuda_model *dm; /* NULL: the CPU side */
    nn_cuda *c;
    long step;
} side;

static void run_phase(side *s, phase p) {
    if (p == PH_DECODE) {
        if (s->dm)
            rp_cuda_decode(s->dm);
        else
            rp_model_decode(s->em);
    } else if (p == PH_BACKWARD) {
        if (s->dm)
            rp_cuda_backward(s->dm);
        else
            rp_model_backward(s->em);
    } else {
        s->step++;
        if (s->dm)
            (void)rp_cuda_rate_noisy(s->dm, 1, s->step, 3e-6, 0, 1);
        else
            (void)rp_model_rate_noisy(s->em, 1, s->step, 3e-6, 0, 1);
    }
}

/* Milliseconds per call of phase p. */
static double time_phase(side *s, phase p, double seconds) {
    for (int i = 0; i < 3; i++) run_phase(s, p);
    if (s->dm) nn_cuda_sync(s->c, NULL);
    long n = 0;
    const double t0 = cmn_now_s();
    double t = t0;
    while (t - t0 < seconds || n < 3) {
        run_phase(s, p);
        n++;
        if (s->dm) nn_cuda_sync(s->c, NULL);
        t = cmn_now_s();
    }
    return 1e3 * (t - t0) / (double)n;
}

static void bench(nn_cuda *c, const char *ini, double seconds) {
    epr_err err = {0};
    char path[1024];
    const char *dir = getenv("EPR_EXPERIMENTS");
    snprintf(path, sizeof path, "%s/%s", dir ? dir : EPR_SOURCE_DIR "/experiments", ini);
    cfg_experiment *cfg = calloc(1, sizeof *cfg);
    if (!cfg) die("calloc", "out of memory");
    if (cfg_load(path, NULL, 0, cfg, &err)) die(path, err.msg);
    rp_group_def g[CFG_MAX_GROUPS];
    const int ng = experiment_groups(cfg, g);
    const char *spec = nn_builtin_spec(cfg->model_name);
    if (!spec) die(path, "not a built-in model");
    const int ch = strncmp(cfg->model_name, "lenet", 5) == 0 ? 1 : 3, hw = ch == 1 ? 28 : 32;
    nn_model *net = NULL;
    rp_model *em = NULL;
    nn_cuda_model *dnet = NULL;
    rp_cuda_model *dm = NULL;
    if (nn_model_build(spec, ch, hw, hw, 1, &net, &err) ||
        rp_model_create(net, g, ng, cfg->uncompressed[0] ? cfg->uncompressed : NULL, 1, &em, &err) ||
        nn_cuda_model_create(c, net, &dnet, &err) || rp_cuda_model_create(c, em, dnet, &dm, &err))
        die(path, err.msg);
    /* a non-zero dθ on both sides (as after an nn backward) */
    for (int i = 0; i < nn_model_num_tensors(net); i++) {
        nn_param *p = nn_model_tensor(net, i);
        for (size_t k = 0; k < p->size; k++) p->dw[k] = 1e-3f * (float)((k * 2654435761u) % 1000) - 0.5e-3f * 1000;
    }
    rp_model_backward(em); /* warm the host path */
    side sides[2] = {{em, NULL, c, 0}, {em, dm, c, 0}};
    double tot[2];
    for (int sd = 0; sd < 2; sd++) {
        side *s = &sides[sd];
        double t_dec = time_phase(s, PH_DECODE, seconds), t_back = time_phase(s, PH_BACKWARD, seconds),
               t_rate = time_phase(s, PH_RATE, seconds);
        tot[sd] = t_dec + t_back + t_rate;
        printf("impl=%s exp=%s compressed=%zu groups=%d decode_ms=%.3f backward_ms=%.3f rate_ms=%.3f total_ms=%.3f "
               "rate_ns_per_value=%.2f\n",
               sd ? "cuda" : "cpu", cfg->name, rp_model_num_compressed(em), ng, t_dec, t_back, t_rate, tot[sd],
               1e6 * t_rate / (double)rp_model_num_compressed(em));
        fflush(stdout);
    }
    printf("ratio exp=%s cpu/cuda=%.1f\n", cfg->name, tot[0] / tot[1]);
    rp_cuda_model_free(dm);
    nn_cuda_model_free(dnet);
    rp_model_free(em);
    nn_model_free(net);
    cfg_free(cfg);
    free(cfg);
}

int main(int argc, char **argv) {
    double seconds = 1.0;
    const char *inis[16];
    int n = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
            seconds = atof(argv[++i]);
        else if (n < 16)
            inis[n++] = argv[i];
    }
    if (!n) {
        inis[n++] = "lenet5-caffe_mnist10k.ini";
        inis[n++] = "resnet20-4_cifar10_dft.ini";
    }
    nn_cuda *c = NULL;
    epr_err err = {0};
    if (nn_cuda_open(0, &c, &err)) die("nn_cuda_open", err.msg);
    for (int i = 0; i < n; i++) bench(c, inis[i], seconds);
    nn_cuda_close(c);
    return 0;
}
