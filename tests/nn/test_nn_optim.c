/* test_nn_optim — optimizers, schedule and EMA against values computed by
 * hand (the formulas of torch.optim.Adam / SGD, written out step by step). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "nn/nn.h"

static void test_adam(void **st) {
    (void)st;
    nn_adam o = {.lr = 0.1f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .t = 0};
    float w[2] = {1.0f, -2.0f}, m1[2] = {0}, m2[2] = {0};
    const float g1[2] = {0.5f, -4.0f}, g2[2] = {-1.0f, 2.0f};
    /* Step 1: mhat = g, vhat = g^2, so the step is lr * sign(g). */
    nn_adam_step(&o, w, g1, m1, m2, 2);
    assert_int_equal(o.t, 1);
    assert_float_equal(w[0], 0.9f, 1e-6);
    assert_float_equal(w[1], -1.9f, 1e-6);
    assert_float_equal(m1[0], 0.05f, 1e-7);
    assert_float_equal(m2[1], 0.016f, 1e-6); /* (1 - 0.999f) is not exact in float */
    /* Step 2 for element 0:
     *   m = 0.9*0.05 + 0.1*(-1) = -0.055,   mhat = -0.055/0.19
     *   v = 0.999*0.00025 + 0.001*1 = 0.00124975, vhat = v/(1-0.999^2) = v/0.001999
     *   w = 0.9 - 0.1*mhat/(sqrt(vhat)+eps) */
    nn_adam_step(&o, w, g2, m1, m2, 2);
    double mhat = -0.055 / 0.19, vhat = 0.00124975 / 0.001999;
    assert_float_equal(w[0], 0.9 - 0.1 * mhat / (sqrt(vhat) + 1e-8), 1e-6);
    /* element 1: m = 0.9*(-0.4) + 0.2 = -0.16; v = 0.999*0.016 + 0.004 = 0.019984 */
    mhat = -0.16 / 0.19, vhat = 0.019984 / 0.001999;
    assert_float_equal(w[1], -1.9 - 0.1 * mhat / (sqrt(vhat) + 1e-8), 1e-6);
    assert_int_equal(o.t, 2);
}

/* The vector body and the scalar tail must agree bit for bit: the same
 * inputs at element 1 (vector path) and element 5 (tail) give the same w. */
static void test_adam_paths_agree(void **st) {
    (void)st;
    nn_adam o = {.lr = 3e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .t = 0};
    float w[6] = {0, 0.37f, 0, 0, 0, 0.37f}, m1[6] = {0}, m2[6] = {0};
    float g[6] = {0, -0.123f, 0, 0, 0, -0.123f};
    for (int k = 0; k < 50; k++) {
        g[1] = g[5] = 0.3f * sinf((float)k) - 0.05f;
        nn_adam_step(&o, w, g, m1, m2, 6);
        assert_memory_equal(&w[1], &w[5], sizeof(float));
        assert_memory_equal(&m2[1], &m2[5], sizeof(float));
    }
}

static void test_sgd(void **st) {
    (void)st;
    nn_sgd o = {.lr = 0.1f, .momentum = 0.9f, .weight_decay = 0.01f};
    float w[1] = {2.0f}, buf[1] = {0};
    const float g[1] = {1.0f};
    /* g' = 1 + 0.01*2 = 1.02; buf = 1.02; w = 2 - 0.102 = 1.898 */
    nn_sgd_step(&o, w, g, buf, 1);
    assert_float_equal(buf[0], 1.02f, 1e-6);
    assert_float_equal(w[0], 1.898f, 1e-6);
    /* g' = 1 + 0.01*1.898 = 1.01898; buf = 0.9*1.02 + 1.01898 = 1.93698;
     * w = 1.898 - 0.193698 = 1.704302 */
    nn_sgd_step(&o, w, g, buf, 1);
    assert_float_equal(buf[0], 1.93698f, 1e-6);
    assert_float_equal(w[0], 1.704302f, 1e-6);
    nn_sgd plain = {.lr = 0.5f, .momentum = 0.0f, .weight_decay = 0.0f};
    nn_sgd_step(&plain, w, g, buf, 1);
    assert_float_equal(w[0], 1.204302f, 1e-6);
}

static void test_schedule(void **st) {
    (void)st;
    const long ms[3] = {100, 150, 200};
    assert_float_equal(nn_lr_step_schedule(0.1f, 0.1f, ms, 3, 0), 0.1f, 1e-9);
    assert_float_equal(nn_lr_step_schedule(0.1f, 0.1f, ms, 3, 99), 0.1f, 1e-9);
    assert_float_equal(nn_lr_step_schedule(0.1f, 0.1f, ms, 3, 100), 0.01f, 1e-9);
    assert_float_equal(nn_lr_step_schedule(0.1f, 0.1f, ms, 3, 199), 0.001f, 1e-9);
    assert_float_equal(nn_lr_step_schedule(0.1f, 0.1f, ms, 3, 1000), 0.0001f, 1e-10);
    assert_float_equal(nn_lr_step_schedule(0.1f, 0.5f, NULL, 0, 1000), 0.1f, 1e-9);
}

static void test_ema(void **st) {
    (void)st;
    float ema[2] = {1.0f, 0.0f};
    const float w[2] = {3.0f, -1.0f};
    nn_ema_update(ema, w, 2, 0.75f);
    assert_float_equal(ema[0], 1.5f, 1e-7);
    assert_float_equal(ema[1], -0.25f, 1e-7);
    nn_ema_update(ema, w, 2, 0.75f);
    assert_float_equal(ema[0], 1.875f, 1e-7);
    assert_float_equal(ema[1], -0.4375f, 1e-7);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_adam), cmocka_unit_test(test_adam_paths_agree),
        cmocka_unit_test(test_sgd),  cmocka_unit_test(test_schedule),
        cmocka_unit_test(test_ema),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
