/* bench/bench_train.c — training throughput of the plain float32 step and of
 * the EPR step, one OpenBLAS thread, and the peak memory of a real training
 * run.  A benchmark: it prints figures, it checks nothing.
 *
 * The step timed here is the step of `epr train` itself: run/train.h's
 * trainer_step, on one rank without MPI (batch, decode, forward, backward,
 * rate, update, EMA), with its own per-part timers.  Settings (groups, lr,
 * lambda, density lr, EMA decay, seed) come from the experiment files
 * experiments/<net>_mnist10k.ini, read with the run layer's config loader;
 * mode=plain is the same experiment with epr.enabled = false.
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
 * bench/torch_train.py prints the same line with impl=torch.
 *
 * --device cuda ([train] device = cuda, a build with -DEPR_CUDA=ON): the same
 * trainer_step on the GPU (docs/gpu.md), impl=c-cuda, plus the big networks
 * (vgg16-cifar and resnet20-4 on 3x32x32, resnet18 and resnet50 on
 * 3x224x224, with the groups and optimizer of their *_dft.ini experiment,
 * augmentation off) and mem_mb: device memory the trainer holds after the
 * timed steps (cudaMemGetInfo: free memory after the CUDA context was made
 * minus free memory then; the trainer allocates everything up front, so this
 * is its peak).  The input batch is gathered on the host and copied every
 * step, as in `epr train` (overlapped with the previous step's compute). */
#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "common/timeutil.h"
#include "run/config.h"
#include "run/data_sets.h"
#include "run/dataset.h"
#include "run/train.h"

#ifdef EPR_CUDA
#include <cuda_runtime_api.h>
#endif

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

/* The networks: experiment file, input shape, classes, synthetic train set size. */
typedef struct {
    const char *net, *experiment;
    int c, side, classes, n_train;
} bench_net;

static const bench_net NETS[] = {
    {"lenet300-100", "lenet300-100_mnist10k.ini", 1, 28, 10, 8004},
    {"lenet5-caffe", "lenet5-caffe_mnist10k.ini", 1, 28, 10, 8004},
    {"vgg16-cifar", "vgg16_cifar10_dft.ini", 3, 32, 10, 8004},
    {"resnet20-4", "resnet20-4_cifar10_dft.ini", 3, 32, 10, 8004},
    {"resnet18", "resnet18_imagenet_dft.ini", 3, 224, 1000, 512},
    {"resnet50", "resnet50_imagenet_dft.ini", 3, 224, 1000, 512},
};
#define N_NETS ((int)(sizeof NETS / sizeof NETS[0]))

static const bench_net *find_net(const char *name) {
    for (int i = 0; i < N_NETS; i++)
        if (!strcmp(NETS[i].net, name)) return &NETS[i];
    return NULL;
}

/* n random c x side x side images, random labels (8,004 28x28 ones: the
 * mnist10k train split's shape). */
static void synthetic_dataset(dataset *d, int n, int c, int side, int classes, uint64_t seed) {
    epr_err err;
    if (dataset_random(d, n, c, side, side, classes, seed, &err)) die("dataset_random", &err);
}

/* Free device memory (bytes) once the CUDA context exists; 0 without CUDA. */
static double device_free_bytes(void) {
#ifdef EPR_CUDA
    size_t fr = 0, total = 0;
    cudaFree(0); /* make the context first: its memory is not the trainer's */
    if (cudaMemGetInfo(&fr, &total) == cudaSuccess) return (double)fr;
#endif
    return 0;
}

static trainer *make_trainer(const cfg_experiment *cfg, const train_opts *o, dataset *train, dataset *test) {
    trainer *t;
    epr_err err;
    if (trainer_create(cfg, o, train, test, &t, &err)) die("trainer_create", &err);
    return t;
}

/* eval_batch 0: the experiment's own; epr 0: epr.enabled = false, 1: as the file says;
 * device: [train] device (NULL: the file's) */
static int im2col; /* --im2col: [train] winograd = false */

static void load_cfg(const char *path, int batch, int eval_batch, int epr, const char *device, cfg_experiment *cfg) {
    char ov[6][64];
    const char *ovs[6];
    int n = 0;
    snprintf(ov[n], sizeof ov[n], "train.batch=%d", batch), ovs[n] = ov[n], n++;
    if (!epr) snprintf(ov[n], sizeof ov[n], "epr.enabled=false"), ovs[n] = ov[n], n++;
    if (eval_batch > 0) snprintf(ov[n], sizeof ov[n], "train.eval_batch=%d", eval_batch), ovs[n] = ov[n], n++;
    if (device) snprintf(ov[n], sizeof ov[n], "train.device=%s", device), ovs[n] = ov[n], n++;
    if (im2col) snprintf(ov[n], sizeof ov[n], "train.winograd=false"), ovs[n] = ov[n], n++;
    /* synthetic data in memory: no augmentation (as the PyTorch side) */
    snprintf(ov[n], sizeof ov[n], "data.augment=none"), ovs[n] = ov[n], n++;
    epr_err err;
    if (cfg_load(path, ovs, n, cfg, &err)) die(path, &err);
}

/* ---- throughput ---- */

static void bench_throughput(const bench_net *bn, int batch, int epr, int steps, int warmup, int repeats,
                             const char *device) {
    const char *net = bn->net;
    int cuda = !strcmp(device, "cuda");
    cfg_experiment cfg;
    char path[2048];
    snprintf(path, sizeof path, "%s/experiments/%s", EPR_SOURCE_DIR, bn->experiment);
    /* on the GPU the model is built for max(batch, eval_batch): evaluate at the batch (no test set here) */
    load_cfg(path, batch, cuda ? batch : 0, epr, cuda ? "cuda" : NULL, &cfg);
    if (epr && !cfg.epr_enabled) die("the experiment has [epr] enabled = false", NULL);
    dataset train;
    synthetic_dataset(&train, bn->n_train, bn->c, bn->side, bn->classes, 1);
    train_opts o = {.quiet = 1, .phase_cpu = 1};
    double free0 = cuda ? device_free_bytes() : 0;
    trainer *t = make_trainer(&cfg, &o, &train, NULL);

    double m[N_SLOTS] = {0};
    for (int i = 0; i < warmup; i++) trainer_step(t, m);
    double *ms = xcalloc((size_t)repeats, sizeof(double)), *cpu = xcalloc((size_t)repeats, sizeof(double));
    double *f_net = xcalloc((size_t)repeats, sizeof(double)), *f_rate = xcalloc((size_t)repeats, sizeof(double));
    double *f_data = xcalloc((size_t)repeats, sizeof(double)), *f_opt = xcalloc((size_t)repeats, sizeof(double));
    double *c_net = xcalloc((size_t)repeats, sizeof(double)), *c_rate = xcalloc((size_t)repeats, sizeof(double));
    for (int r = 0; r < repeats; r++) {
        trainer_times p0 = *trainer_phase_times(t);
        double t0 = cmn_now_s(), c0 = cmn_cpu_s();
        for (int i = 0; i < steps; i++) trainer_step(t, m);
        double wall = cmn_now_s() - t0;
        const trainer_times *p1 = trainer_phase_times(t);
        ms[r] = 1e3 * wall / steps;
        cpu[r] = 1e3 * (cmn_cpu_s() - c0) / steps;
        f_data[r] = 1e3 * (p1->batch - p0.batch) / steps;
        f_net[r] = 1e3 * (p1->net - p0.net) / steps;
        f_rate[r] = 1e3 * (p1->rate - p0.rate) / steps;
        f_opt[r] = 1e3 * (p1->update + p1->comm - p0.update - p0.comm) / steps;
        c_net[r] = 1e3 * (p1->net_cpu - p0.net_cpu) / steps;
        c_rate[r] = 1e3 * (p1->rate_cpu - p0.rate_cpu) / steps;
    }
    double lo = ms[0], hi = ms[0];
    for (int r = 1; r < repeats; r++) lo = ms[r] < lo ? ms[r] : lo, hi = ms[r] > hi ? ms[r] : hi;
    double med = median(ms, repeats);
    char mem[64] = "";
    if (cuda) snprintf(mem, sizeof mem, " mem_mb=%.1f", (free0 - device_free_bytes()) / 1048576.0);
    printf("impl=%s net=%s batch=%d mode=%s img/s=%.1f ms/step=%.3f min_ms=%.3f max_ms=%.3f cpu_ms=%.3f repeats=%d"
           " steps=%d bits=%.0f data_ms=%.3f net_ms=%.3f rate_ms=%.3f opt_ms=%.3f"
           " net_cpu_ms=%.3f rate_cpu_ms=%.3f%s\n",
           cuda ? (im2col ? "c-cuda-im2col" : "c-cuda") : "c", net, batch, epr ? "epr" : "plain", batch * 1e3 / med,
           med, lo, hi, median(cpu, repeats), repeats, steps, m[SLOT_RATE], median(f_data, repeats),
           median(f_net, repeats), median(f_rate, repeats), median(f_opt, repeats), median(c_net, repeats),
           median(c_rate, repeats), mem);
    fflush(stdout);
    free(ms);
    free(cpu);
    free(f_net);
    free(f_rate);
    free(f_data);
    free(f_opt);
    free(c_net);
    free(c_rate);
    trainer_free(t);
    cfg_free(&cfg);
}

/* ---- peak memory: LeNet5-Caffe EPR training on Fashion-MNIST ---- */

static int bench_memory(int batch, int eval_batch, int steps) {
    long rss0 = maxrss_kb();
    cfg_experiment cfg;
    char path[2048];
    snprintf(path, sizeof path, "%s/experiments/lenet5-caffe_fashion.ini", EPR_SOURCE_DIR);
    load_cfg(path, batch, eval_batch, 1, NULL, &cfg);
    dataset train, test;
    epr_err err;
    if (data_load_experiment(&cfg, &train, &test, &err)) {
        fprintf(stderr, "bench_train: %s (run scripts/setup.sh to prepare data/fashion-mnist)\n", err.msg);
        return 1;
    }
    long rss_data = maxrss_kb();
    int n_train = train.n, n_test = test.n;
    train_opts o = {.quiet = 1};
    trainer *t = make_trainer(&cfg, &o, &train, &test); /* the model is built for max(batch, eval_batch) */
    long rss_setup = maxrss_kb();
    double m[N_SLOTS];
    double t0 = cmn_now_s();
    for (int i = 0; i < steps; i++) trainer_step(t, m);
    double wall = cmn_now_s() - t0;
    long rss_train = maxrss_kb();
    double test_err = trainer_test_error(t, 0); /* one pass over the test set at eval_batch, as at eval_every */
    long rss = maxrss_kb();
    printf("impl=c net=lenet5-caffe data=fashion-mnist batch=%d eval_batch=%d mode=%s steps=%d train=%d test=%d"
           " maxrss_mb=%.1f (peak at start %.1f, after data %.1f, after setup %.1f, after training %.1f, after"
           " eval %.1f; MB = 2^20 bytes) target_mb=120 %s ms/step=%.2f test_err=%.2f%%\n",
           batch, cfg.eval_batch, cfg.epr_enabled ? "epr" : "plain", steps, n_train, n_test, rss / 1024.0,
           rss0 / 1024.0, rss_data / 1024.0, rss_setup / 1024.0, rss_train / 1024.0, rss / 1024.0,
           rss / 1024.0 <= 120.0 ? "met" : "NOT-met", 1e3 * wall / steps, 100.0 * test_err);
    trainer_free(t);
    cfg_free(&cfg);
    return 0;
}

static void usage(FILE *f) {
    fprintf(f, "usage: bench_train [--net NET|all] [--batch N|all] [--mode plain|epr|all] [--device cpu|cuda]\n"
               "                   [--steps N] [--warmup N] [--repeats N] [--im2col]\n"
               "       bench_train --memory [--batch N] [--eval-batch N] [--steps N]\n"
               "\n"
               "Training throughput, one OpenBLAS thread, synthetic data (8,004 random 28x28 images):\n"
               "the step of `epr train` (run/train.h trainer_step) with the settings and groups of "
               "experiments/<net>_mnist10k.ini.\n"
               "Defaults: all nets, batches 64 and 128, both modes; warm-up 10 steps (plain) / 3 (epr);\n"
               "then the median over --repeats (5) runs of --steps steps (plain 100, epr 20).\n"
               "NET: lenet300-100, lenet5-caffe (28x28), vgg16-cifar, resnet20-4 (3x32x32), resnet18, resnet50\n"
               "(3x224x224), each with the settings and groups of its experiment file (the big ones: *_dft.ini).\n"
               "--device cuda (a build with -DEPR_CUDA=ON): the step on the GPU, impl=c-cuda, and mem_mb (device\n"
               "memory the trainer holds); 'all' is then the LeNets at batch 64 and 128, vgg16-cifar and\n"
               "resnet20-4 at 128, resnet18 and resnet50 at 64; defaults warm-up 5 (big nets 2), 50 steps\n"
               "(big nets 10), 3 repeats.  3x3 stride-1 convolutions run by Winograd ([train] winograd, the\n"
               "default); --im2col switches that off (impl=c-cuda-im2col).\n"
               "One line per configuration: img/s, ms/step (median, min, max) and the per-step split\n"
               "data (sampler+gather), net (decode+forward+backward+decoder backward), rate, opt (Adams+EMA),\n"
               "in wall ms, and net and rate also in process CPU ms (steadier on a shared machine).\n"
               "\n"
               "--memory: in this process only, LeNet5-Caffe EPR training on Fashion-MNIST\n"
               "(experiments/lenet5-caffe_fashion.ini, data/fashion-mnist from scripts/setup.sh) for --steps\n"
               "steps (default 100) at --batch (default 64), one test evaluation at --eval-batch (default:\n"
               "the experiment's, 500; the model is built for max(batch, eval_batch) as in `epr train`),\n"
               "then getrusage ru_maxrss.\n");
}

int main(int argc, char **argv) {
    const char *net = "all", *mode = "all", *device = "cpu";
    int batch = 0, steps = 0, warmup = -1, repeats = 5, repeats_set = 0, memory = 0, eval_batch = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--im2col")) {
            im2col = 1;
        } else if (!strcmp(a, "--memory")) {
            memory = 1;
        } else if (!strcmp(a, "--net") && has) {
            net = argv[++i];
        } else if (!strcmp(a, "--mode") && has) {
            mode = argv[++i];
        } else if (!strcmp(a, "--device") && has) {
            device = argv[++i];
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
            repeats_set = 1;
            if (repeats < 1) return usage(stderr), 2;
        } else {
            fprintf(stderr, "bench_train: unknown or incomplete option '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    openblas_set_num_threads(1);
    if (memory) return bench_memory(batch ? batch : 64, eval_batch, steps ? steps : 100);

    if (strcmp(device, "cpu") && strcmp(device, "cuda")) {
        fprintf(stderr, "bench_train: unknown device '%s' (cpu | cuda)\n", device);
        return 2;
    }
    int cuda = !strcmp(device, "cuda");
    if (strcmp(net, "all") && !find_net(net)) {
        fprintf(stderr, "bench_train: unknown net '%s'\n", net);
        return 2;
    }
    if (strcmp(mode, "all") && strcmp(mode, "plain") && strcmp(mode, "epr")) {
        fprintf(stderr, "bench_train: unknown mode '%s'\n", mode);
        return 2;
    }
    /* "all": the LeNets at 64 and 128 (CPU and GPU), the big nets on the GPU */
    static const struct {
        const char *net;
        int batch, gpu_only;
    } ALL[] = {{"lenet300-100", 64, 0}, {"lenet300-100", 128, 0}, {"lenet5-caffe", 64, 0}, {"lenet5-caffe", 128, 0},
               {"vgg16-cifar", 128, 1}, {"resnet20-4", 128, 1},   {"resnet18", 64, 1},     {"resnet50", 64, 1}};
    int done_net[N_NETS] = {0};
    for (int k = 0; k < (int)(sizeof ALL / sizeof ALL[0]); k++) {
        const bench_net *bn = find_net(ALL[k].net);
        int ni = (int)(bn - NETS);
        if (strcmp(net, "all") ? strcmp(net, bn->net) != 0 : ALL[k].gpu_only && !cuda) continue;
        if (batch && done_net[ni]) continue; /* --batch N: once per net */
        done_net[ni] = 1;
        int b = batch ? batch : ALL[k].batch;
        int big = bn->side > 28;
        for (int e = 0; e < 2; e++) {
            if (strcmp(mode, "all") && strcmp(mode, e ? "epr" : "plain")) continue;
            int s = steps ? steps : cuda ? (big ? 10 : 50) : (e ? 20 : 100);
            int w = warmup >= 0 ? warmup : cuda ? (big ? 2 : 5) : (e ? 3 : 10);
            int r = repeats_set ? repeats : cuda ? 3 : repeats;
            bench_throughput(bn, b, e, s, w, r, device);
        }
    }
    return 0;
}
