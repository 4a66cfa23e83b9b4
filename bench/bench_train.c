/* bench/bench_train.c — training throughput of the plain float32 step and of
 * the EPR step, one OpenBLAS thread, and the peak memory of a real training
 * run.  A benchmark: it prints figures, it checks nothing.
 *
 * The step timed here is the step of harness/train.c with one rank, call for
 * call: sampler + gather, epr_model_decode, nn_forward, nn_count_errors,
 * nn_backward(1/B), epr_model_backward, epr_model_rate_noisy (EPR only),
 * Adam on the network segment, Adam on the density segment (EPR only), EMA
 * with the TensorFlow-style warm-up.  Settings (groups, lr, lambda, density
 * lr, EMA decay, seed) come from the experiment files
 * experiments/<net>_mnist10k.ini, read with the harness's own config
 * loader, so the groups are exactly the experiment's.
 *
 * Data for the throughput runs is synthetic: 8,004 random 28x28 byte images
 * with random labels (the size of the mnist10k train split), held as a
 * dataset and gathered by dataset_gather as in training, so no file is
 * needed.  --memory instead trains LeNet5-Caffe on the real Fashion-MNIST
 * files (data/fashion-mnist, made by scripts/setup.sh) in a process that
 * does nothing else, and reports getrusage's ru_maxrss.
 *
 * Output: one line per configuration, "key=value" tokens, e.g.
 *   impl=c net=lenet300-100 batch=64 mode=plain img/s=... ms/step=... ...
 * bench/torch_train.py prints the same line with impl=torch. */
#include <cblas.h>
#include <math.h>
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
#include "run/dataset.h"
#include "nn/nn.h"

#ifndef EPR_SOURCE_DIR
#define EPR_SOURCE_DIR "."
#endif

static void die(const char *what, const epr_err *err) {
    fprintf(stderr, "bench_train: %s: %s\n", what, err ? err->msg : "out of memory");
    exit(1);
}

static void *xcalloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size);
    if (!p) die("calloc", NULL);
    return p;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static long maxrss_kb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss; /* Linux: kilobytes */
}

/* ---- one trainer, the state train.c keeps for one rank ---- */

typedef struct {
    cfg_experiment cfg;
    int epr;            /* 1: the experiment's groups; 0: plain float32 */
    int batch;
    dataset train;
    nn_model *net;
    epr_model *em;
    sampler smp;
    float *x;
    int *y;
    uint32_t *idx;
    float *opt1, *opt2, *dens1, *dens2, *ema;
    nn_adam net_adam, dens_adam;
    long step;
    double t_data, t_net, t_rate, t_opt; /* accumulated wall seconds per phase */
    double c_net, c_rate;                /* and CPU seconds of the two big ones */
    double last_bits;                    /* noisy rate of the last step */
} bench_trainer;

/* 8,004 random 28x28 images, random labels: the mnist10k train split's shape. */
static void synthetic_dataset(dataset *d, int n, uint64_t seed) {
    memset(d, 0, sizeof *d);
    d->n = n;
    d->c = 1, d->h = 28, d->w = 28;
    d->n_classes = 10;
    d->images = xcalloc((size_t)n * 784, 1);
    d->labels = xcalloc((size_t)n, sizeof(int));
    uint64_t s = seed * 0x9e3779b97f4a7c15ULL + 1;
    for (size_t i = 0; i < (size_t)n * 784; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        d->images[i] = (uint8_t)(s >> 24);
    }
    for (int i = 0; i < n; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        d->labels[i] = (int)(s % 10);
    }
}

/* cfg loaded, train set filled: build net, EPR model (groups only if epr),
 * optimizer state and EMA, as trainer_setup does with one rank. */
static void trainer_setup(bench_trainer *t, int max_batch) {
    epr_err err;
    if (nn_model_build(t->cfg.layers, t->train.c, t->train.h, t->train.w, max_batch, &t->net, &err))
        die("nn_model_build", &err);
    epr_group_def groups[CFG_MAX_GROUPS];
    experiment_groups(&t->cfg, groups);
    if (epr_model_create(t->net, groups, t->epr ? t->cfg.n_groups : 0, NULL, t->cfg.seed, &t->em, &err))
        die("epr_model_create", &err);
    if (sampler_init(&t->smp, t->train.n, t->cfg.seed, &err)) die("sampler_init", &err);
    size_t in = (size_t)t->train.c * t->train.h * t->train.w;
    t->x = xcalloc((size_t)max_batch * in, sizeof *t->x);
    t->y = xcalloc((size_t)max_batch, sizeof *t->y);
    t->idx = xcalloc((size_t)max_batch, sizeof *t->idx);
    size_t nn = epr_model_net_size(t->em), nd = epr_model_density_size(t->em);
    t->opt1 = xcalloc(nn, sizeof(float));
    t->opt2 = xcalloc(nn, sizeof(float));
    if (nd) {
        t->dens1 = xcalloc(nd, sizeof(float));
        t->dens2 = xcalloc(nd, sizeof(float));
    }
    t->ema = xcalloc(nn, sizeof(float));
    memcpy(t->ema, epr_model_params(t->em), nn * sizeof(float));
    t->net_adam = (nn_adam){t->cfg.lr, t->cfg.beta1, t->cfg.beta2, t->cfg.adam_eps, 0};
    t->dens_adam = (nn_adam){t->cfg.density_lr, 0.9f, 0.999f, 1e-8f, 0};
}

static void trainer_free(bench_trainer *t) {
    free(t->x);
    free(t->y);
    free(t->idx);
    free(t->opt1);
    free(t->opt2);
    free(t->dens1);
    free(t->dens2);
    free(t->ema);
    sampler_free(&t->smp);
    epr_model_free(t->em);
    nn_model_free(t->net);
}

/* train.c's train_step for rank 0 of 1 (no MPI calls: with one rank it
 * makes none), with the phases timed. */
static void train_step(bench_trainer *t) {
    const cfg_experiment *cfg = &t->cfg;
    int B = t->batch;
    double t0 = epr_now_s();
    sampler_batch(&t->smp, t->step, B, 0, B, t->idx);
    dataset_gather(&t->train, t->idx, B, t->x, t->y);
    double t1 = epr_now_s(), c1 = epr_cpu_s();

    epr_model_decode(t->em);
    volatile double ce = nn_forward(t->net, t->x, t->y, B, 1);
    volatile int wrong = nn_count_errors(t->net, t->y, B, NULL);
    (void)ce, (void)wrong;
    nn_backward(t->net, 1.0f / (float)B);
    epr_model_backward(t->em);
    double t2 = epr_now_s(), c2 = epr_cpu_s();
    if (t->epr) {
        t->last_bits = epr_model_rate_noisy(t->em, cfg->seed, t->step, cfg->lambda, 0, 1);
    }
    double t3 = epr_now_s(), c3 = epr_cpu_s();

    float *p = epr_model_params(t->em);
    float *g = epr_model_grads(t->em);
    size_t nn = epr_model_net_size(t->em);
    t->net_adam.lr = nn_lr_step_schedule(cfg->lr, cfg->lr_decay, cfg->lr_milestones, cfg->n_milestones, t->step);
    nn_adam_step(&t->net_adam, p, g, t->opt1, t->opt2, nn);
    size_t doff = epr_model_density_offset(t->em), nd = epr_model_density_size(t->em);
    if (nd) nn_adam_step(&t->dens_adam, p + doff, g + doff, t->dens1, t->dens2, nd);
    float d = (float)(1.0 + (double)t->step) / (float)(10.0 + (double)t->step);
    if (d > cfg->ema) d = cfg->ema;
    nn_ema_update(t->ema, p, nn, d);
    t->step++;
    double t4 = epr_now_s();
    t->t_data += t1 - t0;
    t->t_net += t2 - t1;
    t->t_rate += t3 - t2;
    t->t_opt += t4 - t3;
    t->c_net += c2 - c1;
    t->c_rate += c3 - c2;
}

/* eval_batch 0: the experiment's own */
static void load_cfg(const char *path, int batch, int eval_batch, cfg_experiment *cfg) {
    char ov[2][64];
    snprintf(ov[0], sizeof ov[0], "train.batch=%d", batch);
    snprintf(ov[1], sizeof ov[1], "train.eval_batch=%d", eval_batch);
    const char *ovs[] = {ov[0], ov[1]};
    epr_err err;
    if (cfg_load(path, ovs, eval_batch > 0 ? 2 : 1, cfg, &err)) die(path, &err);
}

/* ---- throughput ---- */

static void bench_throughput(const char *net, int batch, int epr, int steps, int warmup, int repeats) {
    bench_trainer t;
    memset(&t, 0, sizeof t);
    char path[2048];
    snprintf(path, sizeof path, "%s/experiments/%s_mnist10k.ini", EPR_SOURCE_DIR, net);
    load_cfg(path, batch, 0, &t.cfg);
    t.epr = epr;
    t.batch = batch;
    synthetic_dataset(&t.train, 8004, 1);
    trainer_setup(&t, batch);

    for (int i = 0; i < warmup; i++) train_step(&t);
    double *ms = xcalloc((size_t)repeats, sizeof(double)), *cpu = xcalloc((size_t)repeats, sizeof(double));
    double *f_net = xcalloc((size_t)repeats, sizeof(double)), *f_rate = xcalloc((size_t)repeats, sizeof(double));
    double *f_data = xcalloc((size_t)repeats, sizeof(double)), *f_opt = xcalloc((size_t)repeats, sizeof(double));
    double *c_net = xcalloc((size_t)repeats, sizeof(double)), *c_rate = xcalloc((size_t)repeats, sizeof(double));
    for (int r = 0; r < repeats; r++) {
        t.t_data = t.t_net = t.t_rate = t.t_opt = t.c_net = t.c_rate = 0;
        double t0 = epr_now_s(), c0 = epr_cpu_s();
        for (int i = 0; i < steps; i++) train_step(&t);
        double wall = epr_now_s() - t0;
        ms[r] = 1e3 * wall / steps;
        cpu[r] = 1e3 * (epr_cpu_s() - c0) / steps;
        f_data[r] = 1e3 * t.t_data / steps;
        f_net[r] = 1e3 * t.t_net / steps;
        f_rate[r] = 1e3 * t.t_rate / steps;
        f_opt[r] = 1e3 * t.t_opt / steps;
        c_net[r] = 1e3 * t.c_net / steps;
        c_rate[r] = 1e3 * t.c_rate / steps;
    }
    double lo = ms[0], hi = ms[0];
    for (int r = 1; r < repeats; r++) lo = ms[r] < lo ? ms[r] : lo, hi = ms[r] > hi ? ms[r] : hi;
    double m = median(ms, repeats);
    printf("impl=c net=%s batch=%d mode=%s img/s=%.1f ms/step=%.3f min_ms=%.3f max_ms=%.3f cpu_ms=%.3f repeats=%d"
           " steps=%d bits=%.0f data_ms=%.3f net_ms=%.3f rate_ms=%.3f opt_ms=%.3f"
           " net_cpu_ms=%.3f rate_cpu_ms=%.3f\n",
           net, batch, epr ? "epr" : "plain", batch * 1e3 / m, m, lo, hi, median(cpu, repeats), repeats, steps,
           t.last_bits, median(f_data, repeats), median(f_net, repeats), median(f_rate, repeats),
           median(f_opt, repeats), median(c_net, repeats), median(c_rate, repeats));
    fflush(stdout);
    free(ms);
    free(cpu);
    free(f_net);
    free(f_rate);
    free(f_data);
    free(f_opt);
    free(c_net);
    free(c_rate);
    trainer_free(&t);
    dataset_free(&t.train);
    cfg_free(&t.cfg);
}

/* ---- peak memory: LeNet5-Caffe EPR training on Fashion-MNIST ---- */

static int bench_memory(int batch, int eval_batch, int steps) {
    long rss0 = maxrss_kb();
    bench_trainer t;
    memset(&t, 0, sizeof t);
    char path[2048], ti[2048], tl[2048], vi[2048], vl[2048];
    snprintf(path, sizeof path, "%s/experiments/lenet5-caffe_fashion.ini", EPR_SOURCE_DIR);
    load_cfg(path, batch, eval_batch, &t.cfg);
    const char *dir = EPR_SOURCE_DIR "/data/fashion-mnist";
    snprintf(ti, sizeof ti, "%s/train-images-idx3-ubyte.gz", dir);
    snprintf(tl, sizeof tl, "%s/train-labels-idx1-ubyte.gz", dir);
    snprintf(vi, sizeof vi, "%s/t10k-images-idx3-ubyte.gz", dir);
    snprintf(vl, sizeof vl, "%s/t10k-labels-idx1-ubyte.gz", dir);
    dataset test;
    epr_err err;
    if (dataset_load_idx(ti, tl, &t.train, &err)) {
        fprintf(stderr, "bench_train: %s (run scripts/setup.sh to prepare data/fashion-mnist)\n", err.msg);
        return 1;
    }
    if (dataset_load_idx(vi, vl, &test, &err)) {
        fprintf(stderr, "bench_train: %s\n", err.msg);
        return 1;
    }
    long rss_data = maxrss_kb();
    t.epr = t.cfg.epr_enabled;
    t.batch = batch;
    /* as trainer_setup: the model is built for max(batch, eval_batch) */
    int max_batch = batch > t.cfg.eval_batch ? batch : t.cfg.eval_batch;
    trainer_setup(&t, max_batch);
    long rss_setup = maxrss_kb();
    double t0 = epr_now_s();
    for (int i = 0; i < steps; i++) train_step(&t);
    double wall = epr_now_s() - t0;
    long rss_train = maxrss_kb();
    /* one evaluation pass over the test set at eval_batch, as at eval_every */
    long wrong = 0;
    for (int i = 0; i < test.n; i += t.cfg.eval_batch) {
        int n = test.n - i < t.cfg.eval_batch ? test.n - i : t.cfg.eval_batch;
        for (int j = 0; j < n; j++) t.idx[j] = (uint32_t)(i + j);
        dataset_gather(&test, t.idx, n, t.x, t.y);
        nn_forward(t.net, t.x, NULL, n, 0);
        wrong += nn_count_errors(t.net, t.y, n, NULL);
    }
    long rss = maxrss_kb();
    printf("impl=c net=lenet5-caffe data=fashion-mnist batch=%d eval_batch=%d mode=%s steps=%d train=%d test=%d"
           " maxrss_mb=%.1f (peak at start %.1f, after data %.1f, after setup %.1f, after training %.1f, after"
           " eval %.1f; MB = 2^20 bytes) target_mb=120 %s ms/step=%.2f test_err=%.2f%%\n",
           batch, t.cfg.eval_batch, t.epr ? "epr" : "plain", steps, t.train.n, test.n, rss / 1024.0, rss0 / 1024.0, rss_data / 1024.0,
           rss_setup / 1024.0, rss_train / 1024.0, rss / 1024.0, rss / 1024.0 <= 120.0 ? "met" : "NOT-met", 1e3 * wall / steps,
           100.0 * wrong / test.n);
    trainer_free(&t);
    dataset_free(&t.train);
    dataset_free(&test);
    cfg_free(&t.cfg);
    return 0;
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: bench_train [--net lenet300-100|lenet5-caffe|all] [--batch N|all] [--mode plain|epr|all]\n"
            "                   [--steps N] [--warmup N] [--repeats N]\n"
            "       bench_train --memory [--batch N] [--eval-batch N] [--steps N]\n"
            "\n"
            "Training throughput, one OpenBLAS thread, synthetic data (8,004 random 28x28 images):\n"
            "the step of harness/train.c with the settings and groups of experiments/<net>_mnist10k.ini.\n"
            "Defaults: all nets, batches 64 and 128, both modes; warm-up 10 steps (plain) / 3 (epr);\n"
            "then the median over --repeats (5) runs of --steps steps (plain 100, epr 20).\n"
            "One line per configuration: img/s, ms/step (median, min, max) and the per-step split\n"
            "data (sampler+gather), net (decode+forward+backward+decoder backward), rate, opt (Adams+EMA),\n"
            "in wall ms, and net and rate also in process CPU ms (steadier on a shared machine).\n"
            "\n"
            "--memory: in this process only, LeNet5-Caffe EPR training on Fashion-MNIST\n"
            "(experiments/lenet5-caffe_fashion.ini, data/fashion-mnist from scripts/setup.sh) for --steps\n"
            "steps (default 100) at --batch (default 64), one test evaluation at --eval-batch (default:\n"
            "the experiment's, 500; the model is built for max(batch, eval_batch) as in harness/train.c),\n"
            "then getrusage ru_maxrss.\n");
}

int main(int argc, char **argv) {
    const char *net = "all", *mode = "all";
    int batch = 0, steps = 0, warmup = -1, repeats = 5, memory = 0, eval_batch = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--memory")) {
            memory = 1;
        } else if (!strcmp(a, "--net") && has) {
            net = argv[++i];
        } else if (!strcmp(a, "--mode") && has) {
            mode = argv[++i];
        } else if (!strcmp(a, "--batch") && has) {
            i++;
            batch = strcmp(argv[i], "all") ? atoi(argv[i]) : 0;
            if (strcmp(argv[i], "all") && batch < 1) return usage(stderr), 2;
        } else if (!strcmp(a, "--steps") && has) {
            steps = atoi(argv[++i]);
            if (steps < 1) return usage(stderr), 2;
        } else if (!strcmp(a, "--eval-batch") && has) {
            eval_batch = atoi(argv[++i]);
            if (eval_batch < 1) return usage(stderr), 2;
        } else if (!strcmp(a, "--warmup") && has) {
            warmup = atoi(argv[++i]);
        } else if (!strcmp(a, "--repeats") && has) {
            repeats = atoi(argv[++i]);
            if (repeats < 1) return usage(stderr), 2;
        } else {
            fprintf(stderr, "bench_train: unknown or incomplete option '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    openblas_set_num_threads(1);
    if (memory) return bench_memory(batch ? batch : 64, eval_batch, steps ? steps : 100);

    const char *nets[] = {"lenet300-100", "lenet5-caffe"};
    const int batches[] = {64, 128};
    if (strcmp(net, "all") && strcmp(net, nets[0]) && strcmp(net, nets[1])) {
        fprintf(stderr, "bench_train: unknown net '%s'\n", net);
        return 2;
    }
    if (strcmp(mode, "all") && strcmp(mode, "plain") && strcmp(mode, "epr")) {
        fprintf(stderr, "bench_train: unknown mode '%s'\n", mode);
        return 2;
    }
    for (int ni = 0; ni < 2; ni++) {
        if (strcmp(net, "all") && strcmp(net, nets[ni])) continue;
        for (int bi = 0; bi < 2; bi++) {
            int b = batch ? batch : batches[bi];
            if (batch && bi) break;
            for (int e = 0; e < 2; e++) {
                if (strcmp(mode, "all") && strcmp(mode, e ? "epr" : "plain")) continue;
                int s = steps ? steps : (e ? 20 : 100);
                int w = warmup >= 0 ? warmup : (e ? 3 : 10);
                bench_throughput(nets[ni], b, e, s, w, repeats);
            }
        }
    }
    return 0;
}
