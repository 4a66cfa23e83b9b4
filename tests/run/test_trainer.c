/* tests/run/test_trainer.c — the exported training step (run/train.h):
 * trainer_create / trainer_step / trainer_test_error on a synthetic data
 * set, one rank, no MPI.  `epr train` runs this same step (its end-to-end
 * and resume-is-bitwise tests are tests/mpi/); here: it learns, it is
 * deterministic (same inputs => same bits) on every optimizer path (Adam,
 * SGD with Ψ by Adam and a step schedule, Deep Compression pruning and
 * weight sharing), its metrics and phase timers are what they say. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/rng.h"
#include "run/config.h"
#include "run/dataset.h"
#include "run/train.h"
#include "run/train_internal.h"

#define SIDE 8
#define CLASSES 4

/* Class k: a bright 3x3 block in quadrant k of an 8x8 image, on noise. */
static void make_data(dataset *d, int n, uint64_t seed) {
    memset(d, 0, sizeof *d);
    d->n = n, d->c = 1, d->h = SIDE, d->w = SIDE, d->n_classes = CLASSES;
    d->images = calloc((size_t)n * SIDE * SIDE, 1);
    d->labels = calloc((size_t)n, sizeof(int));
    assert_non_null(d->images);
    assert_non_null(d->labels);
    cmn_rng r = {seed, 0, 0};
    for (int i = 0; i < n; i++) {
        int k = (int)cmn_rng_below(&r, CLASSES);
        d->labels[i] = k;
        uint8_t *img = d->images + (size_t)i * SIDE * SIDE;
        for (int j = 0; j < SIDE * SIDE; j++) img[j] = (uint8_t)cmn_rng_below(&r, 96);
        int y0 = (k / 2) * 4 + 1, x0 = (k % 2) * 4 + 1;
        for (int y = 0; y < 3; y++)
            for (int x = 0; x < 3; x++) img[(y0 + y) * SIDE + x0 + x] = 255;
    }
}

static const char *const EXPERIMENT =
    "[data]\nset = idx\ntrain_images = none\ntrain_labels = none\ntest_images = none\ntest_labels = none\n"
    "[model]\nname = custom\n"
    "layers = conv out=4 k=3 name=conv1\n  relu\n  flatten\n  dense out=16 name=fc1\n  relu\n"
    "  dense out=4 name=fc2\n"
    "[train]\nsteps = 400\nbatch = 32\neval_batch = 64\nlr = 0.01\n"
    "[epr]\nenabled = true\nlambda = 1e-4\n"
    "[group.conv]\ntensors = conv1.weight\ndecoder = conv-affine\ntransform = dft\nell = 9\n"
    "[group.fc]\ntensors = fc1.weight, fc2.weight\n"
    "[group.bias]\ntensors = conv1.bias, fc1.bias, fc2.bias\n";

static void load(cfg_experiment *cfg, const char *const *ov, int n) {
    epr_err err = {0};
    int rc = cfg_load_string(EXPERIMENT, "test_trainer.ini", ov, n, cfg, &err);
    if (rc) fail_msg("%s", err.msg);
}

static trainer *make(const cfg_experiment *cfg, int n_train, int n_test) {
    dataset train, test;
    make_data(&train, n_train, 11);
    make_data(&test, n_test, 12);
    trainer *t = NULL;
    epr_err err = {0};
    if (trainer_create(cfg, NULL, &train, &test, &t, &err)) fail_msg("%s", err.msg);
    assert_null(train.images); /* moved into the trainer */
    return t;
}

static void test_learns(void **state) {
    (void)state;
    cfg_experiment cfg;
    load(&cfg, NULL, 0);
    trainer *t = make(&cfg, 512, 256);
    double before = trainer_test_error(t, 0);
    double m[N_SLOTS];
    double rate0 = 0;
    for (int i = 0; i < 150; i++) {
        trainer_step(t, m);
        assert_int_equal((int)m[SLOT_SAMPLES], cfg.batch);
        assert_true(m[SLOT_ERRORS] >= 0 && m[SLOT_ERRORS] <= cfg.batch);
        assert_true(isfinite(m[SLOT_CE]) && m[SLOT_CE] > 0);
        assert_true(m[SLOT_RATE] > 0); /* EPR on: the noisy rate in bits */
        assert_true(m[SLOT_STOP] == 0 && m[SLOT_FAIL] == 0);
        if (i == 0) rate0 = m[SLOT_RATE];
    }
    assert_int_equal(trainer_steps(t), 150);
    double raw = trainer_test_error(t, 0), ema = trainer_test_error(t, 1);
    print_message("test error: %.3f before, %.3f raw, %.3f EMA after 150 steps; rate %.0f -> %.0f bits\n", before, raw,
                  ema, rate0, m[SLOT_RATE]);
    assert_true(before > 0.4); /* 4 classes: chance is 0.75 */
    assert_true(raw < 0.1);
    assert_true(ema < 0.2);
    assert_true(m[SLOT_RATE] < rate0);
    const trainer_times *tm = trainer_phase_times(t);
    assert_true(tm->net > 0 && tm->rate > 0 && tm->batch > 0 && tm->update > 0);
    assert_true(tm->comm >= 0 && tm->net_cpu == 0); /* phase_cpu off (opts NULL) */
    trainer_free(t);
    cfg_free(&cfg);
}

/* Two trainers from the same inputs: the same bits after every step; and
 * the parameters did move. */
static void check_deterministic(const char *const *ov, int n_ov, int steps, int rate_on) {
    cfg_experiment cfg;
    load(&cfg, ov, n_ov);
    trainer *a = make(&cfg, 256, 64), *b = make(&cfg, 256, 64);
    rp_model *ma = trainer_model(a), *mb = trainer_model(b);
    size_t n = rp_model_size(ma);
    assert_int_equal(n, rp_model_size(mb));
    float *init = malloc(n * sizeof *init);
    assert_non_null(init);
    memcpy(init, rp_model_params(ma), n * sizeof *init);
    for (int i = 0; i < steps; i++) {
        double m1[N_SLOTS], m2[N_SLOTS];
        trainer_step(a, m1);
        trainer_step(b, m2);
        assert_memory_equal(m1, m2, sizeof m1);
        assert_memory_equal(rp_model_params(ma), rp_model_params(mb), n * sizeof(float));
        assert_true(rate_on ? m1[SLOT_RATE] > 0 : m1[SLOT_RATE] == 0);
    }
    assert_true(memcmp(init, rp_model_params(ma), n * sizeof *init) != 0);
    assert_true(fabs(trainer_test_error(a, 1) - trainer_test_error(b, 1)) == 0);
    free(init);
    trainer_free(a);
    trainer_free(b);
    cfg_free(&cfg);
}

static void test_deterministic_adam_epr(void **state) {
    (void)state;
    check_deterministic(NULL, 0, 12, 1);
}

static void test_deterministic_sgd_psi(void **state) {
    (void)state;
    const char *ov[] = {"train.optimizer=sgd", "train.lr=0.05", "train.lr_milestones=4,8", "train.lr_decay=0.1"};
    check_deterministic(ov, 4, 12, 1);
}

/* [epr] decoder_lr = 0 (the paper's fixed ϕ_W): Ψ keeps its initial bits
 * while the latents move; deterministic; refused with adam. */
static void test_fixed_psi(void **state) {
    (void)state;
    const char *ov[] = {"train.optimizer=sgd", "train.lr=0.05", "epr.decoder_lr=0"};
    check_deterministic(ov, 3, 6, 1);
    cfg_experiment cfg;
    load(&cfg, ov, 3);
    trainer *t = make(&cfg, 256, 64);
    rp_model *em = trainer_model(t);
    size_t b, e, n = rp_model_size(em);
    rp_model_psi_range(em, &b, &e);
    assert_true(e > b);
    float *init = malloc(n * sizeof *init);
    assert_non_null(init);
    memcpy(init, rp_model_params(em), n * sizeof *init);
    double m[N_SLOTS];
    for (int i = 0; i < 6; i++) trainer_step(t, m);
    assert_memory_equal(init + b, rp_model_params(em) + b, (e - b) * sizeof *init);
    assert_true(memcmp(init, rp_model_params(em), b * sizeof *init) != 0); /* the latents (before Ψ) moved */
    free(init);
    trainer_free(t);
    cfg_free(&cfg);
    epr_err err = {0};
    const char *adam[] = {"epr.decoder_lr=0"};
    assert_int_not_equal(cfg_load_string(EXPERIMENT, "test_trainer.ini", adam, 1, &cfg, &err), 0);
    assert_non_null(strstr(err.msg, "decoder_lr = 0"));
    print_message("%s\n", err.msg);
}

static void test_deterministic_plain_prune_share(void **state) {
    (void)state;
    const char *ov[] = {"epr.enabled=false", "baseline.prune=0.5", "baseline.prune_at=4", "baseline.kmeans_bits=3",
                        "baseline.kmeans_at=8"};
    check_deterministic(ov, 5, 12, 0);
}

static void test_create_errors(void **state) {
    (void)state;
    /* a network with fewer outputs than the data set has classes */
    cfg_experiment cfg;
    epr_err err = {0};
    int rc = cfg_load_string("[data]\nset = idx\ntrain_images = none\ntrain_labels = none\n"
                             "test_images = none\ntest_labels = none\n[model]\nname = custom\n"
                             "layers = flatten\n  dense out=2 name=fc1\n",
                             "small.ini", NULL, 0, &cfg, &err);
    assert_int_equal(rc, 0);
    dataset train;
    make_data(&train, 64, 1);
    trainer *t = (trainer *)&err; /* must be reset to NULL */
    rc = trainer_create(&cfg, NULL, &train, NULL, &t, &err);
    assert_int_not_equal(rc, 0);
    assert_null(t);
    assert_null(train.images); /* moved even on failure (and freed) */
    assert_non_null(strstr(err.msg, "2 outputs but the data set has 4 classes"));
    cfg_free(&cfg);
}

/* [train] device = cuda in a build without CUDA: refused, saying how to get
 * it.  (With -DEPR_CUDA=ON, tests/gpu/test_gpu_train.c covers the device.) */
static void test_device_cuda_refused_without_cuda(void **state) {
    (void)state;
#ifdef EPR_CUDA
    skip();
#else
    const char *ov[] = {"train.device=cuda"};
    cfg_experiment cfg;
    load(&cfg, ov, 1);
    dataset train;
    make_data(&train, 64, 1);
    trainer *t = NULL;
    epr_err err = {0};
    int rc = trainer_create(&cfg, NULL, &train, NULL, &t, &err);
    assert_int_equal(rc, EPR_EUNSUP);
    assert_null(t);
    if (!strstr(err.msg, "test_trainer.ini: [train] device = cuda, but this epr was built without CUDA: rebuild "
                         "with -DEPR_CUDA=ON"))
        fail_msg("message: %s", err.msg);
    cfg_free(&cfg);
#endif
}

/* What the device path does not do is refused by name, in any build:
 * pruning / weight sharing and the frozen-phi phase stay on the CPU. */
static void test_device_cuda_refusals(void **state) {
    (void)state;
    const char *ov1[] = {"train.device=cuda", "epr.enabled=false", "baseline.prune=0.5", "baseline.prune_at=4"};
    const char *ov2[] = {"train.device=cuda", "epr.freeze_phi_steps=10"};
    const char *want[] = {
        "test_trainer.ini: [baseline] prune / kmeans_bits run on the CPU only: set train.device = cpu",
        "test_trainer.ini: the frozen-phi phase ([epr] freeze_phi_steps) runs on the CPU only"};
    for (int k = 0; k < 2; k++) {
        cfg_experiment cfg;
        load(&cfg, k ? ov2 : ov1, k ? 2 : 4);
        dataset train;
        make_data(&train, 64, 1);
        trainer *t = NULL;
        epr_err err = {0};
        assert_int_equal(trainer_create(&cfg, NULL, &train, NULL, &t, &err), EPR_EUNSUP);
        assert_null(t);
        if (!strstr(err.msg, want[k])) fail_msg("message: %s", err.msg);
        cfg_free(&cfg);
    }
}

/* [train] bn_recalibrate on the CPU (train_recalibrate_bn): the running
 * statistics change, and they are the plain average over the K batches
 * alone: whatever the buffers held before, the same K batches give the
 * same bits (momentum 1/k forgets the history; a momentum left at its
 * spec's 0.1 would not). */
static void test_bn_recalibrate_cpu(void **state) {
    (void)state;
    static const char *const ov[] = {
        "model.layers=conv out=4 k=3 name=conv1 bias=0; batchnorm name=bn1; relu; flatten; dense out=4 name=fc",
        "epr.enabled=false", "train.ema=0.9"};
    epr_err err = {0};
    cfg_experiment cfg;
    if (cfg_load_string("[data]\nset = idx\ntrain_images = none\ntrain_labels = none\ntest_images = none\n"
                        "test_labels = none\n[model]\nname = custom\nlayers = dense out=4\n[train]\nsteps = 10\n"
                        "batch = 16\neval_batch = 64\n",
                        "bn.ini", ov, 3, &cfg, &err))
        fail_msg("%s", err.msg);
    trainer *t = make(&cfg, 128, 64);
    double m[N_SLOTS];
    for (int i = 0; i < 3; i++) trainer_step(t, m);
    nn_buffer *rm = nn_model_buffer(t->net, 0), *rv = nn_model_buffer(t->net, 1);
    assert_string_equal(rm->name, "bn1.running_mean");
    float before[8], after[8];
    assert_int_equal(rm->size, 4);
    memcpy(before, rm->data, 4 * sizeof(float));
    memcpy(before + 4, rv->data, 4 * sizeof(float));
    train_recalibrate_bn(t, 5);
    memcpy(after, rm->data, 4 * sizeof(float));
    memcpy(after + 4, rv->data, 4 * sizeof(float));
    assert_true(memcmp(before, after, sizeof before) != 0);
    for (int c = 0; c < 4; c++) rm->data[c] = rv->data[c] = 123.0f; /* any history */
    train_recalibrate_bn(t, 5);
    assert_memory_equal(rm->data, after, 4 * sizeof(float));
    assert_memory_equal(rv->data, after + 4, 4 * sizeof(float));
    trainer_free(t);
    cfg_free(&cfg);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_learns),
        cmocka_unit_test(test_deterministic_adam_epr),
        cmocka_unit_test(test_deterministic_sgd_psi),
        cmocka_unit_test(test_fixed_psi),
        cmocka_unit_test(test_deterministic_plain_prune_share),
        cmocka_unit_test(test_create_errors),
        cmocka_unit_test(test_device_cuda_refused_without_cuda),
        cmocka_unit_test(test_device_cuda_refusals),
        cmocka_unit_test(test_bn_recalibrate_cpu),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
