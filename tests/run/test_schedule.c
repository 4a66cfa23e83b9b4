/* tests/run/test_schedule.c — run/schedule.h: the learning rate (warm-up,
 * step decay, cosine), the λ ramp and the frozen-φ phase as functions of
 * the step, their configuration errors; and the phase itself through the
 * exported training step (run/phi_hold.h): φ of every compressed tensor
 * stays as it was at the phase's first step while the decoder's s moves
 * and the float32 tensors train.  (Resume inside a schedule is bitwise:
 * tests/mpi/mpi_tests.sh resume_schedule.) */
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
#include "nn/nn.h"
#include "run/config.h"
#include "run/schedule.h"
#include "run/train.h"

static const char *const BASE =
    "[data]\nset = idx\ntrain_images = none\ntrain_labels = none\ntest_images = none\ntest_labels = none\n"
    "[model]\nname = custom\n"
    "layers = conv out=4 k=3 name=conv1\n  relu\n  flatten\n  dense out=16 name=fc1\n  relu\n"
    "  dense out=4 name=fc2\n"
    "[train]\nsteps = 1000\nbatch = 32\neval_batch = 64\nlr = 0.01\n"
    "[epr]\nenabled = true\nlambda = 1e-4\n"
    "[group.conv]\ntensors = conv1.weight\ndecoder = conv-affine\ntransform = dft\nell = 9\n"
    "[group.fc]\ntensors = fc1.weight, fc2.weight\n";

static void load(cfg_experiment *cfg, const char *const *ov, int n) {
    epr_err err = {0};
    if (cfg_load_string(BASE, "sched.ini", ov, n, cfg, &err)) fail_msg("%s", err.msg);
}

static void expect_error(const char *const *ov, int n, const char *needle) {
    cfg_experiment cfg;
    epr_err err = {0};
    assert_int_not_equal(cfg_load_string(BASE, "sched.ini", ov, n, &cfg, &err), 0);
    if (!strstr(err.msg, needle)) fail_msg("message '%s' lacks '%s'", err.msg, needle);
    cfg_free(&cfg);
}

static void test_default_is_the_old_step_schedule(void **st) {
    (void)st;
    const char *ov[] = {"train.lr_milestones=300,600", "train.lr_decay=0.1"};
    cfg_experiment c;
    load(&c, ov, 2);
    for (long s = 0; s < 1000; s += 7) {
        /* bit for bit what training used before schedules existed */
        const float old = nn_lr_step_schedule(c.lr, c.lr_decay, c.lr_milestones, c.n_milestones, s);
        const float lr = schedule_lr(&c, s);
        assert_memory_equal(&lr, &old, sizeof lr);
        assert_true(schedule_lambda(&c, s) == c.lambda);
        assert_false(schedule_at(&c, s).phi_frozen);
    }
    assert_int_equal(schedule_freeze_start(&c), 1000);
    cfg_free(&c);
}

static void test_warmup_and_cosine(void **st) {
    (void)st;
    const char *ov[] = {"train.warmup_steps=100", "train.lr_schedule=cosine", "train.lr_min=0.001"};
    cfg_experiment c;
    load(&c, ov, 3);
    assert_float_equal(schedule_lr(&c, 0), 0.01f / 100, 1e-9);
    assert_float_equal(schedule_lr(&c, 49), 0.01f * 50 / 100, 1e-8);
    assert_float_equal(schedule_lr(&c, 100), 0.01f, 1e-8);   /* the cosine's start */
    assert_float_equal(schedule_lr(&c, 550), 0.0055f, 1e-7); /* halfway: (lr + lr_min) / 2 */
    assert_float_equal(schedule_lr(&c, 1000), 0.001f, 1e-8); /* lr_min at the last step */
    for (long s = 1; s < 100; s++) assert_true(schedule_lr(&c, s) > schedule_lr(&c, s - 1));
    for (long s = 101; s <= 1000; s++) assert_true(schedule_lr(&c, s) <= schedule_lr(&c, s - 1));
    char d[512];
    schedule_describe(&c, d, sizeof d);
    assert_string_equal(d, "lr 0.01, linear warm-up over 100 steps, cosine to 0.001 at step 1000; lambda 0.0001");
    cfg_free(&c);
}

static void test_lambda_ramp_and_freeze(void **st) {
    (void)st;
    const char *ov[] = {"epr.lambda_ramp_steps=200", "epr.lambda_start=0.25", "epr.freeze_phi_steps=100"};
    cfg_experiment c;
    load(&c, ov, 3);
    assert_true(schedule_lambda(&c, 0) == 0.25e-4);
    assert_float_equal(schedule_lambda(&c, 100), 0.625e-4, 1e-12);
    assert_true(schedule_lambda(&c, 200) == 1e-4 && schedule_lambda(&c, 899) == 1e-4);
    assert_int_equal(schedule_freeze_start(&c), 900);
    assert_false(schedule_at(&c, 899).phi_frozen);
    schedule_point p = schedule_at(&c, 900);
    assert_true(p.phi_frozen && p.lambda == 0);
    assert_true(p.lr == c.lr); /* the learning rate goes on */
    char d[512];
    schedule_describe(&c, d, sizeof d);
    assert_non_null(
        strstr(d, "ramped from 0.25*lambda over 200 steps; phi frozen for the last 100 steps (from step 900)"));
    cfg_free(&c);
}

static void test_config_errors(void **st) {
    (void)st;
    const char *a[] = {"train.lr_schedule=linear"};
    expect_error(a, 1, "lr_schedule: unknown 'linear'");
    const char *b[] = {"train.lr_schedule=cosine", "train.lr_milestones=10"};
    expect_error(b, 2, "lr_milestones belong to lr_schedule = step");
    const char *c[] = {"train.warmup_steps=1000"};
    expect_error(c, 1, "warmup_steps (1000) must be less than steps (1000)");
    const char *d[] = {"epr.lambda_start=1.5"};
    expect_error(d, 1, "lambda_start must be in [0, 1]");
    const char *e[] = {"epr.enabled=false", "epr.freeze_phi_steps=10"};
    expect_error(e, 2, "freeze_phi_steps needs enabled = true");
    const char *f[] = {"train.lr_min=1"};
    expect_error(f, 1, "lr_min must be in [0, lr]");
}

/* Class k: a bright 3x3 block in quadrant k of an 8x8 image, on noise. */
static void make_data(dataset *d, int n, uint64_t seed) {
    memset(d, 0, sizeof *d);
    d->n = n, d->c = 1, d->h = 8, d->w = 8, d->n_classes = 4;
    d->images = calloc((size_t)n * 64, 1);
    d->labels = calloc((size_t)n, sizeof(int));
    assert_true(d->images && d->labels);
    cmn_rng r = {seed, 0, 0};
    for (int i = 0; i < n; i++) {
        int k = (int)cmn_rng_below(&r, 4);
        d->labels[i] = k;
        uint8_t *img = d->images + (size_t)i * 64;
        for (int j = 0; j < 64; j++) img[j] = (uint8_t)cmn_rng_below(&r, 96);
        for (int y = 0; y < 3; y++)
            for (int x = 0; x < 3; x++) img[((k / 2) * 4 + 1 + y) * 8 + (k % 2) * 4 + 1 + x] = 255;
    }
}

/* φ of every group's tensors from the current parameters, concatenated. */
static size_t all_phi(rp_model *em, int32_t *out) {
    size_t o = 0;
    for (int g = 0; g < rp_model_num_groups(em); g++)
        for (int j = 0; j < rp_model_group(em, g)->n_tensors; j++) {
            rp_model_phi(em, g, j, out + o);
            o += nn_model_tensor(rp_model_net(em), rp_model_group_tensor(em, g, j))->size;
        }
    return o;
}

static void test_frozen_phi_phase(void **st) {
    (void)st;
    const char *ov[] = {"train.steps=60", "epr.freeze_phi_steps=30", "epr.uncompressed=*.bias"};
    cfg_experiment c;
    load(&c, ov, 3);
    dataset train, test;
    make_data(&train, 256, 1);
    make_data(&test, 64, 2);
    trainer *t = NULL;
    epr_err err = {0};
    if (trainer_create(&c, NULL, &train, &test, &t, &err)) fail_msg("%s", err.msg);
    rp_model *em = trainer_model(t);
    const size_t nc = rp_model_num_compressed(em);
    int32_t *phi0 = malloc(nc * sizeof *phi0), *phi = malloc(nc * sizeof *phi);
    float s0[9], s[9], off[9];
    const size_t dn = rp_model_density_size(em), nb = nn_model_tensor(rp_model_net(em), 1)->size;
    float *dens0 = malloc(dn * sizeof *dens0), *bias0 = malloc(nb * sizeof *bias0);
    assert_true(phi0 && phi && dens0 && bias0);
    assert_string_equal(nn_model_tensor(rp_model_net(em), 1)->name, "conv1.bias");
    double m[N_SLOTS];
    for (int i = 0; i < 31; i++) trainer_step(t, m); /* 30 steps as usual, the phase's first */
    assert_int_equal(all_phi(em, phi0), nc);
    rp_model_decoder_values(em, 0, s0, off, NULL);
    memcpy(dens0, rp_model_params(em) + rp_model_density_offset(em), dn * sizeof *dens0);
    memcpy(bias0, nn_model_tensor(rp_model_net(em), 1)->w, nb * sizeof *bias0);
    for (int i = 31; i < 60; i++) {
        trainer_step(t, m);
        all_phi(em, phi);
        assert_memory_equal(phi, phi0, nc * sizeof *phi); /* after every step */
    }
    rp_model_decoder_values(em, 0, s, off, NULL);
    int s_moved = 0;
    for (int q = 0; q < 9; q++) s_moved |= s[q] != s0[q];
    assert_true(s_moved); /* the decoder trains */
    assert_memory_equal(dens0, rp_model_params(em) + rp_model_density_offset(em), dn * sizeof *dens0);
    assert_true(memcmp(bias0, nn_model_tensor(rp_model_net(em), 1)->w, nb * sizeof *bias0) != 0);
    print_message("frozen phase: %zu phi unchanged over 29 steps, s[0] %g -> %g, densities fixed, biases trained\n", nc,
                  s0[0], s[0]);
    free(phi0);
    free(phi);
    free(dens0);
    free(bias0);
    trainer_free(t);
    cfg_free(&c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_is_the_old_step_schedule),
        cmocka_unit_test(test_warmup_and_cosine),
        cmocka_unit_test(test_lambda_ramp_and_freeze),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_frozen_phi_phase),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
