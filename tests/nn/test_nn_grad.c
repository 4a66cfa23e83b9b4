/* test_nn_grad — finite-difference checks of every backward pass.
 *
 * For each small model: draw parameters and an input, take the loss
 * L = sum_i r_i y_i (a random projection of the output, in double) or the
 * summed cross-entropy, and compare the analytic gradient of EVERY parameter
 * and EVERY input element with a central difference.  Inputs are chosen away
 * from the kinks (ReLU at 0, max-pool ties) so the difference is exact up to
 * float rounding and a wrong index or sign shows up as an O(1) error. */
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
#include "nn/nn_internal.h"

enum { LOSS_PROJECTION, LOSS_CE };
enum { INPUT_UNIFORM, INPUT_AWAY_FROM_ZERO, INPUT_DISTINCT };

typedef struct {
    const char *spec;
    int c, h, w, n;
    int loss;
    int input;
    int training;
    float eps;
    double atol, rtol;
    float grad_scale; /* CE only */
} grad_case;

typedef struct {
    nn_model *m;
    const grad_case *gc;
    float *x;
    int *labels;
    double *r;        /* projection weights */
    uint64_t pattern; /* kink_pattern at the base point */
} harness;

/* The piecewise-linear pattern of the net: which ReLUs pass and which
 * max-pool inputs win.  A central difference whose two points see a
 * different pattern than the base point straddles a kink and is skipped. */
static uint64_t kink_pattern(const nn_model *m, int n) {
    uint64_t h = 1469598103934665603ULL;
    for (int i = 0; i < m->n_layers; i++) {
        const nn_layer *L = &m->layers[i];
        const size_t N = (size_t)n * L->out_size;
        if (L->op == NN_RELU)
            for (size_t j = 0; j < N; j++) h = (h ^ (uint64_t)(L->y[j] > 0.0f)) * 1099511628211ULL;
        if (L->op == NN_MAXPOOL)
            for (size_t j = 0; j < N; j++) h = (h ^ (uint64_t)L->argmax[j]) * 1099511628211ULL;
    }
    return h;
}

static double eval_loss(harness *H) {
    const grad_case *gc = H->gc;
    double L = nn_forward(H->m, H->x, gc->loss == LOSS_CE ? H->labels : NULL, gc->n, gc->training);
    if (gc->loss == LOSS_CE) return L * gc->grad_scale;
    const float *y = nn_model_logits(H->m);
    size_t N = (size_t)gc->n * nn_model_num_classes(H->m);
    double s = 0.0;
    for (size_t i = 0; i < N; i++) s += H->r[i] * y[i];
    return s;
}

/* Compare analytic g[0..n) with central differences of v[0..n).  Returns
 * the number of mismatches (prints the first few). */
static int check_array(harness *H, const char *what, float *v, const float *g, size_t n, double *max_err,
                       size_t *skipped) {
    const grad_case *gc = H->gc;
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        const float v0 = v[i];
        const float vp = v0 + gc->eps, vm = v0 - gc->eps;
        v[i] = vp;
        double lp = eval_loss(H);
        uint64_t kp = kink_pattern(H->m, gc->n);
        v[i] = vm;
        double lm = eval_loss(H);
        uint64_t km = kink_pattern(H->m, gc->n);
        v[i] = v0;
        if (kp != H->pattern || km != H->pattern) {
            (*skipped)++;
            continue;
        }
        double fd = (lp - lm) / ((double)vp - (double)vm);
        double an = g[i];
        double e = fabs(fd - an), lim = gc->atol + gc->rtol * fmax(fabs(fd), fabs(an));
        if (e / (lim / gc->atol) > *max_err) *max_err = e / (lim / gc->atol);
        if (e > lim) {
            if (bad < 5) fprintf(stderr, "  %s[%zu]: analytic %.6g  numeric %.6g\n", what, i, an, fd);
            bad++;
        }
    }
    return bad;
}

static int run_case(const grad_case *gc, uint64_t seed) {
    epr_err err = {0};
    harness H = {0};
    H.gc = gc;
    int rc = nn_model_build(gc->spec, gc->c, gc->h, gc->w, gc->n, &H.m, &err);
    if (rc) fprintf(stderr, "build failed: %s\n", err.msg);
    assert_int_equal(rc, 0);
    assert_int_equal(nn_model_alloc_params(H.m, &err), 0);
    assert_int_equal(nn_model_enable_input_grad(H.m, &err), 0);
    nn_model_init_params(H.m, seed);
    cmn_rng r = {seed, 99, 0};
    /* Non-zero biases, so a bias added at the wrong place is visible. */
    for (int t = 0; t < nn_model_num_tensors(H.m); t++) {
        nn_param *p = nn_model_tensor(H.m, t);
        if (p->kind == NN_PARAM_BIAS)
            for (size_t j = 0; j < p->size; j++) p->w[j] = cmn_rng_next_uniform(&r) - 0.5f;
        /* batch norm's gamma (affine=1) away from its initial 1, and of
         * either sign, so a missing or misplaced factor shows */
        if (p->kind == NN_PARAM_WEIGHT && H.m->layers[p->layer].op == NN_BATCHNORM)
            for (size_t j = 0; j < p->size; j++) p->w[j] = (j % 2 ? -1.0f : 1.0f) * (0.5f + cmn_rng_next_uniform(&r));
    }
    const size_t in = (size_t)gc->n * gc->c * gc->h * gc->w;
    H.x = malloc(sizeof(float) * in);
    if (gc->input == INPUT_DISTINCT) {
        /* A shuffled ramp: every pair of values differs by >= 2/in, far
         * more than 2*eps, so no max-pool window has a near-tie. */
        for (size_t i = 0; i < in; i++) H.x[i] = -1.0f + 2.0f * (float)i / (float)in;
        for (size_t i = in - 1; i > 0; i--) {
            size_t j = cmn_rng_below(&r, i + 1);
            float t = H.x[i];
            H.x[i] = H.x[j];
            H.x[j] = t;
        }
    } else {
        for (size_t i = 0; i < in; i++) {
            float u = 2.0f * cmn_rng_next_uniform(&r) - 1.0f;
            if (gc->input == INPUT_AWAY_FROM_ZERO) u = u < 0 ? u - 0.1f : u + 0.1f;
            H.x[i] = u;
        }
    }
    const int K = nn_model_num_classes(H.m);
    H.labels = malloc(sizeof(int) * gc->n);
    for (int s = 0; s < gc->n; s++) H.labels[s] = (int)cmn_rng_below(&r, K);
    const size_t N = (size_t)gc->n * K;
    H.r = malloc(sizeof(double) * N);
    float *dout = malloc(sizeof(float) * N);
    for (size_t i = 0; i < N; i++) {
        dout[i] = 2.0f * cmn_rng_next_uniform(&r) - 1.0f;
        H.r[i] = dout[i];
    }

    eval_loss(&H);
    H.pattern = kink_pattern(H.m, gc->n);
    if (gc->loss == LOSS_CE)
        nn_backward(H.m, gc->grad_scale);
    else
        nn_backward_from(H.m, dout);
    const size_t np = nn_model_num_params(H.m);
    float *gp = malloc(sizeof(float) * np), *gx = malloc(sizeof(float) * in);
    memcpy(gp, nn_model_grad_block(H.m), sizeof(float) * np);
    memcpy(gx, nn_model_input_grad(H.m), sizeof(float) * in);

    int bad = 0;
    double max_err = 0.0;
    size_t off = 0, skipped = 0;
    for (int t = 0; t < nn_model_num_tensors(H.m); t++) {
        nn_param *p = nn_model_tensor(H.m, t);
        bad += check_array(&H, p->name, p->w, gp + off, p->size, &max_err, &skipped);
        off += p->size;
    }
    bad += check_array(&H, "input", H.x, gx, in, &max_err, &skipped);
    fprintf(stderr, "%-60.60s  %zu params + %zu inputs, worst error/tolerance %.3g, %zu at kinks, %d bad\n", gc->spec,
            np, in, max_err / gc->atol, skipped, bad);
    /* Kinks are rare; many skips would mean the check tested little. */
    if (skipped * 200 > np + in) {
        fprintf(stderr, "  too many elements at kinks\n");
        bad++;
    }
    free(gp);
    free(gx);
    free(dout);
    free(H.r);
    free(H.labels);
    free(H.x);
    nn_model_free(H.m);
    return bad;
}

#define CASE(...) (&(grad_case){__VA_ARGS__})
#define LIN .eps = 1.0f / 128, .atol = 2e-4, .rtol = 1e-4

static void test_dense(void **st) {
    (void)st;
    assert_int_equal(run_case(CASE(.spec = "dense out=5", .c = 3, .h = 2, .w = 2, .n = 3, LIN), 1), 0);
    assert_int_equal(run_case(CASE(.spec = "dense out=4 bias=0; dense out=3", .c = 7, .h = 1, .w = 1, .n = 2, LIN), 2),
                     0);
}

static void test_conv(void **st) {
    (void)st;
    /* Non-square input, stride 2 with padding 1: exercises every border
     * case of im2col/col2im. */
    assert_int_equal(run_case(CASE(.spec = "conv out=3 k=3 stride=2 pad=1", .c = 2, .h = 7, .w = 6, .n = 2, LIN), 3),
                     0);
    assert_int_equal(run_case(CASE(.spec = "conv out=4 k=2 bias=0", .c = 3, .h = 5, .w = 4, .n = 2, LIN), 4), 0);
    assert_int_equal(run_case(CASE(.spec = "conv out=2 k=4 stride=3 pad=2", .c = 2, .h = 9, .w = 5, .n = 3, LIN), 5),
                     0);
    assert_int_equal(run_case(CASE(.spec = "conv out=3 k=1", .c = 4, .h = 3, .w = 5, .n = 2, LIN), 6), 0);
    /* Conv feeding conv: the second layer's dX path (col2im) is used, and
     * the shared im2col buffer must be rebuilt for the first in backward. */
    assert_int_equal(
        run_case(CASE(.spec = "conv out=3 k=3 pad=1; conv out=2 k=3 stride=2", .c = 2, .h = 6, .w = 7, .n = 2, LIN), 7),
        0);
}

/* A batch split into several im2col chunks must give exactly what the same
 * layer gives one sample at a time (forward, dX, and dW/db summed). */
static void check_chunked(const char *spec, int c, int h, int w, int n) {
    epr_err err;
    nn_model *m;
    assert_int_equal(nn_model_build(spec, c, h, w, n, &m, &err), 0);
    const int chunk = nn_conv_chunk(&m->layers[0], n);
    assert_true(chunk < n);
    assert_int_equal(nn_model_alloc_params(m, &err), 0);
    assert_int_equal(nn_model_enable_input_grad(m, &err), 0);
    nn_model_init_params(m, 11);
    nn_param *W = nn_model_tensor(m, 0), *B = nn_model_tensor(m, 1);
    for (size_t i = 0; i < B->size; i++) B->w[i] = 0.1f * (float)i - 0.2f;
    const size_t in = (size_t)c * h * w, out = m->layers[0].out_size;
    float *x = malloc(sizeof(float) * n * in), *d = malloc(sizeof(float) * n * out);
    cmn_rng r = {5, 1, 0};
    for (size_t i = 0; i < n * in; i++) x[i] = cmn_rng_next_uniform(&r) - 0.5f;
    for (size_t i = 0; i < n * out; i++) d[i] = cmn_rng_next_uniform(&r) - 0.5f;
    nn_forward(m, x, NULL, n, 1);
    float *y = malloc(sizeof(float) * n * out), *gx = malloc(sizeof(float) * n * in);
    float *gw = malloc(sizeof(float) * W->size), *aw = calloc(W->size, sizeof(float));
    float *gb = malloc(sizeof(float) * B->size), *ab = calloc(B->size, sizeof(float));
    memcpy(y, nn_model_logits(m), sizeof(float) * n * out);
    nn_backward_from(m, d);
    memcpy(gx, nn_model_input_grad(m), sizeof(float) * n * in);
    memcpy(gw, W->dw, sizeof(float) * W->size);
    memcpy(gb, B->dw, sizeof(float) * B->size);
    for (int s = 0; s < n; s++) {
        nn_forward(m, x + s * in, NULL, 1, 1);
        for (size_t i = 0; i < out; i++) assert_float_equal(nn_model_logits(m)[i], y[s * out + i], 1e-5);
        nn_backward_from(m, d + s * out);
        for (size_t i = 0; i < in; i++) assert_float_equal(nn_model_input_grad(m)[i], gx[s * in + i], 1e-5);
        for (size_t i = 0; i < W->size; i++) aw[i] += W->dw[i];
        for (size_t i = 0; i < B->size; i++) ab[i] += B->dw[i];
    }
    for (size_t i = 0; i < W->size; i++) assert_float_equal(aw[i], gw[i], 1e-3 * (1 + fabsf(gw[i])));
    for (size_t i = 0; i < B->size; i++) assert_float_equal(ab[i], gb[i], 1e-3 * (1 + fabsf(gb[i])));
    free(x), free(d), free(y), free(gx), free(gw), free(aw), free(gb), free(ab);
    nn_model_free(m);
}

static void test_conv_chunked(void **st) {
    (void)st;
    /* One sample per chunk (P = 4096): the product goes straight into y. */
    check_chunked("conv out=2 k=3 pad=1", 3, 64, 64, 5);
    /* Several samples per chunk (P = 16), last chunk partial: the reorder
     * path through the gather buffer. */
    check_chunked("conv out=3 k=3 stride=2 pad=1", 2, 8, 8, 21);
}

static void test_pools(void **st) {
    (void)st;
    assert_int_equal(
        run_case(CASE(.spec = "maxpool k=2", .c = 2, .h = 6, .w = 5, .n = 2, .input = INPUT_DISTINCT, LIN), 8), 0);
    /* Exact tiling; and behind a branch point (two consumers) the second
     * pool's gradient must add into the first's. */
    assert_int_equal(
        run_case(CASE(.spec = "maxpool k=2", .c = 2, .h = 6, .w = 4, .n = 2, .input = INPUT_DISTINCT, LIN), 25), 0);
    assert_int_equal(run_case(CASE(.spec = "conv name=a out=2 k=1; maxpool k=2 name=p; maxpool k=2 in=a; add with=p",
                                   .c = 1, .h = 4, .w = 6, .n = 2, .input = INPUT_DISTINCT, LIN),
                              26),
                     0);
    assert_int_equal(
        run_case(CASE(.spec = "maxpool k=3 stride=2", .c = 2, .h = 7, .w = 8, .n = 2, .input = INPUT_DISTINCT, LIN), 9),
        0);
    /* padded (ResNet stem): border windows are clipped, not zero-filled */
    assert_int_equal(run_case(CASE(.spec = "maxpool k=3 stride=2 pad=1", .c = 2, .h = 7, .w = 6, .n = 2,
                                   .input = INPUT_DISTINCT, LIN),
                              12),
                     0);
    assert_int_equal(run_case(CASE(.spec = "avgpool k=2", .c = 2, .h = 5, .w = 6, .n = 2, LIN), 10), 0);
    assert_int_equal(run_case(CASE(.spec = "avgpool k=3 stride=2", .c = 3, .h = 7, .w = 6, .n = 2, LIN), 11), 0);
    assert_int_equal(run_case(CASE(.spec = "gap", .c = 3, .h = 4, .w = 5, .n = 2, LIN), 12), 0);
}

static void test_relu_flatten(void **st) {
    (void)st;
    assert_int_equal(
        run_case(CASE(.spec = "relu", .c = 2, .h = 3, .w = 4, .n = 3, .input = INPUT_AWAY_FROM_ZERO, LIN), 13), 0);
    assert_int_equal(run_case(CASE(.spec = "flatten; dense out=3", .c = 2, .h = 3, .w = 2, .n = 2, LIN), 14), 0);
    assert_int_equal(
        run_case(CASE(.spec = "conv out=2 k=2; flatten; dense out=3", .c = 2, .h = 4, .w = 3, .n = 2, LIN), 15), 0);
}

static void test_batchnorm(void **st) {
    (void)st;
    /* Train mode is nonlinear in x (batch statistics): smaller step. */
    assert_int_equal(run_case(CASE(.spec = "batchnorm", .c = 3, .h = 4, .w = 3, .n = 4, .training = 1,
                                   .eps = 1.0f / 512, .atol = 1e-3, .rtol = 1e-3),
                              16),
                     0);
    assert_int_equal(run_case(CASE(.spec = "conv out=3 k=3 pad=1; batchnorm momentum=0.2; dense out=4", .c = 2, .h = 5,
                                   .w = 4, .n = 3, .training = 1, .eps = 1.0f / 512, .atol = 1e-3, .rtol = 1e-3),
                              17),
                     0);
    assert_int_equal(run_case(CASE(.spec = "batchnorm", .c = 3, .h = 2, .w = 3, .n = 2, .training = 0, LIN), 18), 0);
    /* learnable gamma (affine=1): d gamma, d beta and dx, both modes */
    assert_int_equal(run_case(CASE(.spec = "batchnorm affine=1", .c = 3, .h = 4, .w = 3, .n = 4, .training = 1,
                                   .eps = 1.0f / 512, .atol = 1e-3, .rtol = 1e-3),
                              23),
                     0);
    assert_int_equal(
        run_case(CASE(.spec = "conv out=3 k=3 pad=1; batchnorm affine=1; relu; dense out=4", .c = 2, .h = 5, .w = 4,
                      .n = 3, .training = 1, .eps = 1.0f / 512, .atol = 1e-3, .rtol = 1e-3),
                 24),
        0);
    assert_int_equal(
        run_case(CASE(.spec = "batchnorm affine=1", .c = 3, .h = 2, .w = 3, .n = 2, .training = 0, LIN), 25), 0);
}

static void test_add(void **st) {
    (void)st;
    /* Residual branch: layer a feeds both b (via the main path) and c
     * (in=a), so its gradient is the sum of two consumers. */
    assert_int_equal(run_case(CASE(.spec = "conv name=a out=3 k=3 pad=1; conv name=b out=3 k=3 pad=1;"
                                           " conv name=c out=3 k=1 in=a; add with=b; gap; dense out=2",
                                   .c = 2, .h = 5, .w = 6, .n = 2, LIN),
                              19),
                     0);
    /* Identity shortcut from the model input, and batch norm on a branch. */
    assert_int_equal(run_case(CASE(.spec = "conv out=2 k=3 pad=1; batchnorm name=bn; add with=input", .c = 2, .h = 4,
                                   .w = 5, .n = 3, .training = 1, .eps = 1.0f / 512, .atol = 1e-3, .rtol = 1e-3),
                              20),
                     0);
    /* A layer added to itself. */
    assert_int_equal(
        run_case(CASE(.spec = "conv name=a out=2 k=2; add with=a", .c = 1, .h = 4, .w = 4, .n = 2, LIN), 21), 0);
}

static void test_cross_entropy(void **st) {
    (void)st;
    assert_int_equal(run_case(CASE(.spec = "dense out=6", .c = 5, .h = 1, .w = 1, .n = 4, .loss = LOSS_CE,
                                   .grad_scale = 0.25f, .eps = 1.0f / 256, .atol = 2e-4, .rtol = 1e-3),
                              22),
                     0);
    assert_int_equal(run_case(CASE(.spec = "dense out=6; relu; dense out=3", .c = 5, .h = 1, .w = 1, .n = 4,
                                   .loss = LOSS_CE, .grad_scale = 1.0f, .eps = 1.0f / 512, .atol = 5e-4, .rtol = 1e-3),
                              23),
                     0);
}

static void test_lenet5_end_to_end(void **st) {
    (void)st;
    /* The LeNet5-Caffe spec on a 16x16 input (conv2 ends at 2x2 and pool2
     * at 1x1) so every one of its ~56K parameters can be checked. */
    assert_int_equal(
        run_case(CASE(.spec = nn_builtin_spec("lenet5-caffe"), .c = 1, .h = 16, .w = 16, .n = 2, .loss = LOSS_CE,
                      .grad_scale = 0.5f, .input = INPUT_DISTINCT, .eps = 1.0f / 1024, .atol = 1e-3, .rtol = 1e-3),
                 24),
        0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dense), cmocka_unit_test(test_conv),          cmocka_unit_test(test_conv_chunked),
        cmocka_unit_test(test_pools), cmocka_unit_test(test_relu_flatten),  cmocka_unit_test(test_batchnorm),
        cmocka_unit_test(test_add),   cmocka_unit_test(test_cross_entropy), cmocka_unit_test(test_lenet5_end_to_end),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
