/* tests/gpu/test_gpu_train.c — the trainer's device path ([train] device =
 * cuda, run/train_cuda.c) against the CPU step it mirrors, one rank, no MPI.
 * Skips (exit 77) without a GPU or in a build without the device path.
 *
 *   lenet5_epr: LeNet5-Caffe with the groups of
 *     experiments/lenet5-caffe_mnist10k.ini (Adam, affine decoders), and
 *   resnet_sgd: a small pre-activation ResNet (batch norm, projection
 *     shortcut, residual adds, global pool) with a conv-affine DFT group,
 *     SGD with momentum and Ψ by Adam, a learning-rate milestone,
 *   both from the same initialisation on the CPU and on the GPU, STEPS
 *   steps on the same synthetic batches: per step the summed cross-entropy
 *   and the noisy rate (relative TOL_STEP0 at step 0, where the parameters
 *   are still identical; TOL_METRIC later), then the train block (latents,
 *   Ψ, densities), EMA and batch-norm buffers: BLOCK_FRAC of the elements
 *   within BLOCK_ABS, and every element within the bound of STEPS Adam /
 *   momentum steps (a gradient near 0 may change sign between the two float
 *   orders of summation, and Adam then steps +lr instead of -lr);
 *   the test error of the EMA model agrees within EVAL_TOL.
 *   gpu_to_cpu / cpu_to_gpu: a checkpoint (run.h5) written by one device
 *     resumes on the other: same step, the same bits in every array, and the
 *     next steps agree as above.
 *   gpu_resume_bitwise: a GPU run stopped, checkpointed and resumed gives the
 *     bits of the uninterrupted GPU run (metrics of every step, train block,
 *     EMA, optimizer states, batch-norm buffers).
 *   bn_recalibrate: batch-norm statistics recomputed over training batches
 *     on the CPU and on the GPU from the same weights agree.
 *   file_eval_on_device: a .epr of a GPU run evaluated on the GPU
 *     ([train] file_eval = device) and on the CPU: the same predictions.
 * TF32 is off (the context sets CUBLAS_DEFAULT_MATH; ctest also sets
 * NVIDIA_TF32_OVERRIDE=0). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#ifdef EPR_CUDA
#include <cuda_runtime_api.h>
#endif

#include "run/bitstream.h"
#include "run/config.h"
#include "run/dataset.h"
#include "run/train.h"
#include "run/train_internal.h"

#define STEPS 8
#define TOL_STEP0 1e-5  /* relative: CE sum and rate of step 0 (identical parameters) */
#define TOL_METRIC 2e-3 /* relative: CE sum and rate of later steps */
#define BLOCK_ABS 1e-4  /* |cpu - gpu| of a parameter ... */
#define BLOCK_FRAC 0.99 /* ... for at least this fraction of the elements */
#define EVAL_TOL 0.02   /* test error (fraction) */

#ifndef EPR_SOURCE_DIR
#define EPR_SOURCE_DIR "."
#endif

/* n random images (c x side x side bytes) with random labels of 10 classes. */
static void make_data(dataset *d, int n, int c, int side, uint64_t seed) {
    epr_err err = {0};
    if (dataset_random(d, n, c, side, side, 10, seed, &err)) fail_msg("%s", err.msg);
}

typedef struct {
    const char *name, *tag; /* tag: run directory names */
    const char *ini;        /* file under the source tree, or NULL: text */
    const char *text;
    int c, side;
    const char *ov[6];
    int n_ov;
} net_case;

static const char RESNET_TEXT[] =
    "[data]\nset = idx\ntrain_images = none\ntrain_labels = none\ntest_images = none\ntest_labels = none\n"
    "[model]\nname = custom\n"
    "layers = conv name=conv1 out=8 k=3 pad=1 bias=0\n"
    "  batchnorm name=b1_bn1 in=conv1; relu name=b1_relu1\n"
    "  conv name=b1_conv1 out=12 k=3 stride=2 pad=1 bias=0; batchnorm name=b1_bn2; relu\n"
    "  conv name=b1_conv2 out=12 k=3 pad=1 bias=0\n"
    "  conv name=b1_shortcut in=b1_relu1 out=12 k=1 stride=2 bias=0\n"
    "  add name=b1 with=b1_conv2\n"
    "  batchnorm name=b2_bn1 in=b1; relu\n"
    "  conv name=b2_conv1 out=12 k=3 pad=1 bias=0; batchnorm name=b2_bn2; relu\n"
    "  conv name=b2_conv2 out=12 k=3 pad=1 bias=0\n"
    "  add name=b2 with=b1\n"
    "  batchnorm name=bn_final; relu; gap; dense name=fc out=10\n"
    "[train]\nsteps = 100\nbatch = 24\neval_batch = 50\noptimizer = sgd\nlr = 0.05\nmomentum = 0.9\n"
    "lr_milestones = 5\nlr_decay = 0.2\nema = 0.99\nseed = 3\n"
    "[epr]\nenabled = true\nlambda = 1e-4\ndecoder_lr = 1e-3\ndensity_lr = 1e-3\nuncompressed = *.bias\n"
    "[group.conv]\ntensors = conv1.weight, b1_conv1.weight, b1_conv2.weight, b2_conv1.weight, b2_conv2.weight\n"
    "decoder = conv-affine\ntransform = dft\nell = 9\n"
    "[group.shortcut]\ntensors = b1_shortcut.weight\n"
    "[group.fc]\ntensors = fc.weight\n";

static const net_case LENET5 = {"lenet5-caffe EPR (Adam)",
                                "lenet5",
                                "experiments/lenet5-caffe_mnist10k.ini",
                                NULL,
                                1,
                                28,
                                {"train.steps=100", "train.eval_batch=100"},
                                2};
static const net_case RESNET = {"small ResNet EPR (SGD, DFT, batch norm)", "resnet", NULL, RESNET_TEXT, 3, 15, {0}, 0};

/* The case's experiment on `device`, with `extra` overrides. */
static void load_case(const net_case *nc, const char *device, cfg_experiment *cfg) {
    const char *ov[8];
    int n = 0;
    for (int i = 0; i < nc->n_ov; i++) ov[n++] = nc->ov[i];
    char dev[64];
    if (device) {
        snprintf(dev, sizeof dev, "train.device=%s", device);
        ov[n++] = dev;
    }
    epr_err err = {0};
    int rc;
    if (nc->ini) {
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", EPR_SOURCE_DIR, nc->ini);
        rc = cfg_load(path, ov, n, cfg, &err);
    } else {
        rc = cfg_load_string(nc->text, "resnet_small.ini", ov, n, cfg, &err);
    }
    if (rc) fail_msg("%s: %s", nc->name, err.msg);
}

static trainer *make(const net_case *nc, const cfg_experiment *cfg, const train_opts *o) {
    dataset train, test;
    make_data(&train, 480, nc->c, nc->side, 5);
    make_data(&test, 200, nc->c, nc->side, 6);
    trainer *t = NULL;
    epr_err err = {0};
    if (trainer_create(cfg, o, &train, &test, &t, &err)) fail_msg("%s: trainer_create: %s", nc->name, err.msg);
    return t;
}

static double rel(double a, double b) { return fabs(a - b) / fmax(fabs(a), 1e-30); }

/* Per-step metrics of two trainers stepping together. */
static void step_both(const char *name, trainer *a, trainer *b, int steps, int first_identical) {
    for (int i = 0; i < steps; i++) {
        double ma[N_SLOTS], mb[N_SLOTS];
        trainer_step(a, ma);
        trainer_step(b, mb);
        double tol = i == 0 && first_identical ? TOL_STEP0 : TOL_METRIC;
        print_message("%s step %ld: CE sum %.7g / %.7g (rel %.2g), rate %.7g / %.7g bits (rel %.2g), errors %g / %g\n",
                      name, trainer_steps(a) - 1, ma[SLOT_CE], mb[SLOT_CE], rel(ma[SLOT_CE], mb[SLOT_CE]),
                      ma[SLOT_RATE], mb[SLOT_RATE], rel(ma[SLOT_RATE], mb[SLOT_RATE]), ma[SLOT_ERRORS],
                      mb[SLOT_ERRORS]);
        assert_true(isfinite(mb[SLOT_CE]) && isfinite(mb[SLOT_RATE]));
        assert_true(rel(ma[SLOT_CE], mb[SLOT_CE]) <= tol);
        assert_true(rel(ma[SLOT_RATE], mb[SLOT_RATE]) <= tol);
        assert_true(fabs(ma[SLOT_ERRORS] - mb[SLOT_ERRORS]) <= 2);
        assert_true(ma[SLOT_SAMPLES] == mb[SLOT_SAMPLES]);
    }
}

/* BLOCK_FRAC of a[i] within BLOCK_ABS of b[i], all within bound. */
static void close_arrays(const char *what, const float *a, const float *b, size_t n, double bound) {
    size_t far = 0, worst = 0;
    double dmax = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        assert_true(isfinite(b[i]));
        if (d > BLOCK_ABS) far++;
        if (d > dmax) dmax = d, worst = i;
    }
    print_message("  %-14s %9zu values: max |cpu - gpu| %.3g (at %zu: %.7g vs %.7g), %zu (%.3f%%) beyond %g\n", what, n,
                  dmax, worst, n ? a[worst] : 0.0, n ? b[worst] : 0.0, far, n ? 100.0 * far / n : 0.0, BLOCK_ABS);
    assert_true((double)(n - far) >= BLOCK_FRAC * (double)n);
    assert_true(dmax <= bound);
}

/* Compare the whole state of two trainers (b's host copy is refreshed from
 * its device by trainer_model). */
static void close_state(trainer *a, trainer *b, double bound) {
    rp_model *ea = trainer_model(a), *eb = trainer_model(b);
    size_t N = rp_model_size(ea), nn = rp_model_net_size(ea);
    assert_int_equal(N, rp_model_size(eb));
    close_arrays("train block", rp_model_params(ea), rp_model_params(eb), N, bound);
    if (a->ema) close_arrays("EMA", a->ema, b->ema, nn, bound);
    nn_model *na = rp_model_net(ea), *nb = rp_model_net(eb);
    for (int i = 0; i < nn_model_num_buffers(na); i++) {
        nn_buffer *ba = nn_model_buffer(na, i), *bb = nn_model_buffer(nb, i);
        /* running variances grow with the activations: relative */
        double scale = 1;
        for (size_t j = 0; j < ba->size; j++) scale = fmax(scale, fabs(ba->data[j]));
        close_arrays(ba->name, ba->data, bb->data, ba->size, 1e-2 * scale);
    }
}

/* Bound on |Δ| after k steps of the optimizers from the same start: Adam
 * moves an element by at most about lr * 3 per step early on (bias
 * correction), each of the two trainers in either direction. */
static double step_bound(const cfg_experiment *cfg, int k) {
    double lr = fmax(cfg->lr, fmax(cfg->density_lr, cfg->decoder_lr));
    if (!strcmp(cfg->optimizer, "sgd")) lr = fmax(lr, 0.5); /* SGD: no a-priori bound; a loose one */
    return 2.0 * 3.0 * lr * k;
}

static void check_cpu_vs_gpu(const net_case *nc) {
    cfg_experiment cc, cg;
    load_case(nc, NULL, &cc);
    load_case(nc, "cuda", &cg);
    trainer *a = make(nc, &cc, NULL), *b = make(nc, &cg, NULL);
    print_message("%s on %s\n", nc->name, b->device_name);
    /* the same initialisation */
    assert_memory_equal(rp_model_params(trainer_model(a)), rp_model_params(trainer_model(b)),
                        rp_model_size(a->em) * sizeof(float));
    double e0a = trainer_test_error(a, 0), e0b = trainer_test_error(b, 0);
    print_message("  test error before training: cpu %.4f gpu %.4f\n", e0a, e0b);
    assert_true(fabs(e0a - e0b) <= EVAL_TOL);
    step_both(nc->name, a, b, STEPS, 1);
    close_state(a, b, step_bound(&cc, STEPS));
    double ea = trainer_test_error(a, 1), eb = trainer_test_error(b, 1);
    print_message("  test error (EMA, quantised) after %d steps: cpu %.4f gpu %.4f\n", STEPS, ea, eb);
    assert_true(fabs(ea - eb) <= EVAL_TOL);
    double ra = rp_model_rate_exact(trainer_model(a), NULL), rb = b->dops->rate_exact(b, NULL);
    print_message("  exact rate (raw weights): cpu %.1f gpu %.1f bits\n", ra, rb);
    assert_true(rel(ra, rb) <= TOL_METRIC);
    trainer_free(a);
    trainer_free(b);
    cfg_free(&cc);
    cfg_free(&cg);
}

static void test_lenet5_epr(void **state) {
    (void)state;
    check_cpu_vs_gpu(&LENET5);
}

static void test_resnet_sgd(void **state) {
    (void)state;
    check_cpu_vs_gpu(&RESNET);
}

/* ---- checkpoints across devices ---- */

static char g_dir[256];

/* A fresh run directory per case (a directory holding a run is refused). */
static void dir_path(char *buf, size_t n, const net_case *nc, const char *what, const char *sub) {
    snprintf(buf, n, "%s/%s_%s_%s", g_dir, nc->tag, what, sub);
}

/* Every array a checkpoint holds, bitwise. */
static void same_state(trainer *a, trainer *b) {
    rp_model *ea = trainer_model(a), *eb = trainer_model(b);
    size_t N = rp_model_size(ea), nn = rp_model_net_size(ea), nd = rp_model_density_size(ea);
    assert_int_equal(trainer_steps(a), trainer_steps(b));
    assert_memory_equal(rp_model_params(ea), rp_model_params(eb), N * sizeof(float));
    if (a->ema) assert_memory_equal(a->ema, b->ema, nn * sizeof(float));
    assert_memory_equal(a->opt1, b->opt1, nn * sizeof(float));
    if (a->opt2) assert_memory_equal(a->opt2, b->opt2, nn * sizeof(float));
    if (a->dec1) assert_memory_equal(a->dec1, b->dec1, (a->psi_end - a->psi_begin) * sizeof(float));
    if (a->dec2) assert_memory_equal(a->dec2, b->dec2, (a->psi_end - a->psi_begin) * sizeof(float));
    if (nd) assert_memory_equal(a->dens1, b->dens1, nd * sizeof(float));
    if (nd) assert_memory_equal(a->dens2, b->dens2, nd * sizeof(float));
    assert_int_equal(a->net_adam.t, b->net_adam.t);
    assert_int_equal(a->dens_adam.t, b->dens_adam.t);
    nn_model *na = rp_model_net(ea), *nb = rp_model_net(eb);
    for (int i = 0; i < nn_model_num_buffers(na); i++)
        assert_memory_equal(nn_model_buffer(na, i)->data, nn_model_buffer(nb, i)->data,
                            nn_model_buffer(na, i)->size * sizeof(float));
}

/* `from` runs 3 steps on its device and checkpoints; a trainer on the other
 * device resumes from the file; both then step on. */
static void check_cross_resume(const net_case *nc, const char *from, const char *to) {
    cfg_experiment cf, ct;
    load_case(nc, !strcmp(from, "cpu") ? NULL : from, &cf);
    load_case(nc, !strcmp(to, "cpu") ? NULL : to, &ct);
    char da[300], db[300], path[400];
    dir_path(da, sizeof da, nc, to, from); /* e.g. lenet5_cpu_cuda: written on cuda, resumed on cpu */
    dir_path(db, sizeof db, nc, from, to);
    /* the other direction's case left its runs in these directories: replace them */
    train_opts oa = {.out_dir = da, .quiet = 1, .force = 1}, ob = {.out_dir = db, .quiet = 1, .force = 1};
    trainer *a = make(nc, &cf, &oa);
    double m[N_SLOTS];
    for (int i = 0; i < 3; i++) trainer_step(a, m);
    epr_err err = {0};
    if (checkpoint_write(a, NULL, 0.0, &err)) fail_msg("checkpoint_write: %s", err.msg);
    snprintf(path, sizeof path, "%s/run.h5", da);
    trainer *b = make(nc, &ct, &ob);
    if (checkpoint_resume(b, path, &err)) fail_msg("checkpoint_resume (%s -> %s): %s", from, to, err.msg);
    print_message("%s: checkpoint of %s at step %ld resumed on %s\n", nc->name, a->device_name, trainer_steps(b),
                  b->device_name);
    same_state(a, b); /* through the file and, for the GPU, its device and back */
    step_both(nc->name, a, b, 3, 0);
    close_state(a, b, step_bound(&cf, 3));
    trainer_free(a);
    trainer_free(b);
    cfg_free(&cf);
    cfg_free(&ct);
}

static void test_gpu_to_cpu(void **state) {
    (void)state;
    check_cross_resume(&LENET5, "cuda", "cpu");
    check_cross_resume(&RESNET, "cuda", "cpu");
}

static void test_cpu_to_gpu(void **state) {
    (void)state;
    check_cross_resume(&LENET5, "cpu", "cuda");
    check_cross_resume(&RESNET, "cpu", "cuda");
}

/* Uninterrupted GPU run of 2k steps against k steps, checkpoint, a new GPU
 * trainer resumed from it, k steps: the same bits. */
static void check_gpu_resume_bitwise(const net_case *nc, int k) {
    cfg_experiment cfg;
    load_case(nc, "cuda", &cfg);
    char dfull[300], dpart[300], dres[300], path[400];
    dir_path(dfull, sizeof dfull, nc, "bitwise", "full");
    dir_path(dpart, sizeof dpart, nc, "bitwise", "part");
    dir_path(dres, sizeof dres, nc, "bitwise", "resumed");
    train_opts of = {.out_dir = dfull, .quiet = 1}, op = {.out_dir = dpart, .quiet = 1},
               orr = {.out_dir = dres, .quiet = 1};
    trainer *full = make(nc, &cfg, &of), *part = make(nc, &cfg, &op);
    double mf[64][N_SLOTS], mr[N_SLOTS];
    assert_true(2 * k <= 64);
    for (int i = 0; i < 2 * k; i++) trainer_step(full, mf[i]);
    for (int i = 0; i < k; i++) trainer_step(part, mr);
    epr_err err = {0};
    if (checkpoint_write(part, NULL, 0.0, &err)) fail_msg("checkpoint_write: %s", err.msg);
    trainer_free(part);
    snprintf(path, sizeof path, "%s/run.h5", dpart);
    trainer *res = make(nc, &cfg, &orr);
    if (checkpoint_resume(res, path, &err)) fail_msg("checkpoint_resume: %s", err.msg);
    for (int i = k; i < 2 * k; i++) {
        trainer_step(res, mr);
        assert_memory_equal(mf[i], mr, sizeof mr);
    }
    same_state(full, res);
    double ef = trainer_test_error(full, 1), er = trainer_test_error(res, 1);
    assert_true(ef == er);
    print_message("%s: GPU run resumed at step %d equals the uninterrupted run bitwise after %d steps (metrics, "
                  "train block, EMA, optimizer states, batch-norm buffers; EMA test error %.4f)\n",
                  nc->name, k, 2 * k, ef);
    trainer_free(full);
    trainer_free(res);
    cfg_free(&cfg);
}

static void test_gpu_resume_bitwise(void **state) {
    (void)state;
    check_gpu_resume_bitwise(&LENET5, 5);
    check_gpu_resume_bitwise(&RESNET, 5);
}

/* Same inputs, two GPU trainers: the same bits (deterministic kernels). */
static void test_gpu_deterministic(void **state) {
    (void)state;
    cfg_experiment cfg;
    load_case(&RESNET, "cuda", &cfg);
    trainer *a = make(&RESNET, &cfg, NULL), *b = make(&RESNET, &cfg, NULL);
    for (int i = 0; i < STEPS; i++) {
        double ma[N_SLOTS], mb[N_SLOTS];
        trainer_step(a, ma);
        trainer_step(b, mb);
        assert_memory_equal(ma, mb, sizeof ma);
    }
    same_state(a, b);
    trainer_free(a);
    trainer_free(b);
    cfg_free(&cfg);
}

/* [train] bn_recalibrate: the batch-norm statistics of the EMA weights
 * recomputed over K training batches on the CPU and on the GPU, from the
 * same initialisation (identical weights, identical batches): every
 * running mean and variance within relative 1e-4 (+1e-6 absolute), and
 * the test errors of the two networks within EVAL_TOL. */
static void test_bn_recalibrate(void **state) {
    (void)state;
    cfg_experiment cc, cg;
    load_case(&RESNET, NULL, &cc);
    load_case(&RESNET, "cuda", &cg);
    trainer *a = make(&RESNET, &cc, NULL), *b = make(&RESNET, &cg, NULL);
    const int K = 6;
    train_swap_ema(a, 1);
    train_swap_ema(b, 1);
    train_recalibrate_bn(a, K);
    train_recalibrate_bn(b, K);
    nn_model *na = a->net, *nb = b->net;
    int nbuf = nn_model_num_buffers(na);
    assert_true(nbuf > 0);
    double worst = 0;
    for (int i = 0; i < nbuf; i++) {
        const nn_buffer *x = nn_model_buffer(na, i), *y = nn_model_buffer(nb, i);
        for (size_t j = 0; j < x->size; j++) {
            double d = fabs((double)x->data[j] - y->data[j]);
            if (d > 1e-4 * fabs((double)x->data[j]) + 1e-6)
                fail_msg("%s[%zu]: CPU %.9g, GPU %.9g", x->name, j, (double)x->data[j], (double)y->data[j]);
            worst = fmax(worst, d / fmax(fabs((double)x->data[j]), 1e-6));
        }
    }
    double ea = train_evaluate(a, &a->test, NULL), eb = train_evaluate(b, &b->test, NULL);
    print_message("%s: batch-norm statistics over %d batches, CPU and GPU: %d buffers, worst relative difference "
                  "%.2e; test error %.4f / %.4f\n",
                  RESNET.name, K, nbuf, worst, ea, eb);
    assert_true(fabs(ea - eb) <= EVAL_TOL);
    train_swap_ema(a, 0);
    train_swap_ema(b, 0);
    trainer_free(a);
    trainer_free(b);
    cfg_free(&cc);
    cfg_free(&cg);
}

static int evaluate_on_device(void *ctx, nn_model *net, const dataset *d, int eval_batch, long *wrong, int *preds,
                              epr_err *err) {
    trainer *t = ctx;
    return t->dops->evaluate_host_net(t, net, d, eval_batch, wrong, preds, err);
}

/* [train] file_eval = device: a .epr written from a GPU run and decoded
 * from its bytes, evaluated on the GPU (the trainer's evaluate_host_net, in
 * FP32) and on the CPU (bitstream_evaluate, as `epr eval`): the same
 * predictions up to summation order (at most 1% of them may differ on
 * these random images, whose logits are close; none differ in practice). */
static void check_file_eval(const net_case *nc) {
    cfg_experiment cfg;
    load_case(nc, "cuda", &cfg);
    trainer *t = make(nc, &cfg, NULL);
    double m[N_SLOTS];
    for (int i = 0; i < STEPS; i++) trainer_step(t, m);
    t->dops->download(t);
    epr_err err = {0};
    void *bytes = NULL;
    size_t len = 0;
    if (bitstream_encode(t->em, t->arch_text, &bytes, &len, NULL, &err)) fail_msg("bitstream_encode: %s", err.msg);
    epr_file *f = NULL;
    if (epr_file_open_memory(bytes, len, &f, &err)) fail_msg("epr_file_open_memory: %s", err.msg);
    int n = t->test.n, *pc = malloc((size_t)n * sizeof *pc), *pg = malloc((size_t)n * sizeof *pg);
    assert_non_null(pc);
    assert_non_null(pg);
    double ec = -1, eg = -2;
    bitstream_evaluator ev = {evaluate_on_device, t, t->device_name};
    if (bitstream_evaluate(f, &t->test, cfg.eval_batch, &ec, pc, &err)) fail_msg("CPU: %s", err.msg);
    if (bitstream_evaluate_with(f, &t->test, cfg.eval_batch, &ev, &eg, pg, &err)) fail_msg("GPU: %s", err.msg);
    int differ = 0;
    for (int i = 0; i < n; i++) differ += pc[i] != pg[i];
    print_message("%s: %zu-byte file decoded and evaluated on the CPU (%.4f) and on %s (%.4f): %d of %d test "
                  "predictions differ\n",
                  nc->name, len, ec, t->device_name, eg, differ, n);
    assert_true(differ <= n / 100);
    assert_true(fabs(ec - eg) <= 0.01);
    /* the trainer's own evaluation goes on afterwards (its model untouched) */
    double e1 = trainer_test_error(t, 0);
    assert_true(e1 >= 0 && e1 <= 1);
    free(pc);
    free(pg);
    epr_file_close(f);
    free(bytes);
    trainer_free(t);
    cfg_free(&cfg);
}

static void test_file_eval_on_device(void **state) {
    (void)state;
    check_file_eval(&LENET5);
    check_file_eval(&RESNET);
}

int main(void) {
#ifndef EPR_CUDA
    printf("SKIPPED: built without the device path (cmake/cuda-train.cmake needs src/nn/cuda and src/epr/cuda)\n");
    return 77;
#else
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess || count < 1) {
        printf("SKIPPED: no GPU (%s)\n", e != cudaSuccess ? cudaGetErrorString(e) : "0 devices");
        return 77;
    }
    snprintf(g_dir, sizeof g_dir, "%s/test_gpu_train.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(g_dir)) {
        perror("mkdtemp");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lenet5_epr),          cmocka_unit_test(test_resnet_sgd),
        cmocka_unit_test(test_gpu_to_cpu),          cmocka_unit_test(test_cpu_to_gpu),
        cmocka_unit_test(test_gpu_resume_bitwise),  cmocka_unit_test(test_gpu_deterministic),
        cmocka_unit_test(test_file_eval_on_device), cmocka_unit_test(test_bn_recalibrate),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", g_dir);
    return rc;
#endif
}
