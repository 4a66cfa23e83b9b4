/* test_nn_model — spec parsing and its errors, built-in nets (parameter
 * counts, names, shapes), initialisation, hand-computed forwards, batch norm
 * statistics, and a tiny net learning a separable problem with Adam. */
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

static nn_model *build_ok(const char *spec, int c, int h, int w, int batch) {
    epr_err err = {0};
    nn_model *m = NULL;
    int rc = nn_model_build(spec, c, h, w, batch, &m, &err);
    if (rc) fprintf(stderr, "unexpected build error: %s\n", err.msg);
    assert_int_equal(rc, 0);
    assert_non_null(m);
    return m;
}

static void test_builtin_lenet300(void **st) {
    (void)st;
    nn_model *m = build_ok(nn_builtin_spec("lenet300-100"), 1, 28, 28, 64);
    assert_int_equal(nn_model_num_params(m), 266610);
    assert_int_equal(nn_model_num_classes(m), 10);
    assert_int_equal(nn_model_num_tensors(m), 6);
    assert_int_equal(nn_model_num_buffers(m), 0);
    assert_int_equal(nn_model_max_batch(m), 64);
    int i = nn_model_find_tensor(m, "fc1.weight");
    assert_int_equal(i, 0);
    nn_param *p = nn_model_tensor(m, i);
    assert_int_equal(p->ndim, 2);
    assert_int_equal(p->shape[0], 300);
    assert_int_equal(p->shape[1], 784);
    assert_int_equal(p->fan_in, 784);
    assert_int_equal(p->fan_out, 300);
    assert_int_equal(p->kind, NN_PARAM_WEIGHT);
    assert_int_equal(nn_model_tensor(m, nn_model_find_tensor(m, "fc3.bias"))->size, 10);
    assert_int_equal(nn_model_find_tensor(m, "fc4.weight"), -1);
    nn_model_free(m);
}

static void test_builtin_lenet5(void **st) {
    (void)st;
    nn_model *m = build_ok(nn_builtin_spec("lenet5-caffe"), 1, 28, 28, 64);
    assert_int_equal(nn_model_num_params(m), 431080);
    assert_int_equal(nn_model_num_classes(m), 10);
    const char *names[] = {"conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias",
                           "fc1.weight",   "fc1.bias",   "fc2.weight",   "fc2.bias"};
    const size_t sizes[] = {500, 20, 25000, 50, 400000, 500, 5000, 10};
    assert_int_equal(nn_model_num_tensors(m), 8);
    for (int i = 0; i < 8; i++) {
        assert_int_equal(nn_model_find_tensor(m, names[i]), i);
        assert_int_equal(nn_model_tensor(m, i)->size, sizes[i]);
    }
    nn_param *c2 = nn_model_tensor(m, 2);
    assert_int_equal(c2->ndim, 4);
    assert_int_equal(c2->shape[0], 50);
    assert_int_equal(c2->shape[1], 20);
    assert_int_equal(c2->shape[2], 5);
    assert_int_equal(c2->shape[3], 5);
    assert_int_equal(c2->fan_in, 500);
    /* fc1 sees 50 x 4 x 4 = 800 inputs. */
    assert_int_equal(nn_model_tensor(m, 4)->shape[1], 800);
    char buf[4096] = {0};
    FILE *f = fmemopen(buf, sizeof buf - 1, "w");
    nn_model_print(m, f);
    fclose(f);
    assert_non_null(strstr(buf, "conv1"));
    assert_non_null(strstr(buf, "-> [20,24,24] params 520"));
    assert_non_null(strstr(buf, "-> [50,4,4] params 0"));
    assert_non_null(strstr(buf, "total params 431080"));
    assert_null(nn_builtin_spec("lenet6"));
    nn_model_free(m);
}

static void expect_error(const char *spec, int c, int h, int w, const char *needle) {
    epr_err err = {0};
    nn_model *m = (nn_model *)1;
    int rc = nn_model_build(spec, c, h, w, 4, &m, &err);
    if (rc != EPR_EARG || !strstr(err.msg, needle))
        fprintf(stderr, "spec '%s': rc %d, message '%s', expected '%s'\n", spec, rc, err.msg, needle);
    assert_int_equal(rc, EPR_EARG);
    assert_int_equal(err.code, EPR_EARG);
    assert_null(m);
    assert_non_null(strstr(err.msg, needle));
}

static void test_spec_errors(void **st) {
    (void)st;
    expect_error("dense out=5; bogus", 1, 4, 4,
                 "layer 2: unknown layer type 'bogus' (types: dense, conv, maxpool, avgpool, gap, relu, batchnorm, "
                 "add, flatten)");
    expect_error("dense out=5 foo=1", 1, 4, 4, "layer 1 (dense): unknown key 'foo' (keys of dense: name in out bias)");
    expect_error("conv out=5 kernel=3", 1, 4, 4,
                 "layer 1 (conv): unknown key 'kernel' (keys of conv: name in out k stride pad bias)");
    expect_error("relu; conv out=0 k=3", 1, 4, 4, "layer 2 (conv): bad value '0' for out");
    expect_error("conv out=3 k=3 stride=x", 1, 4, 4, "layer 1 (conv): bad value 'x' for stride");
    expect_error("conv out=3 k=3 pad=-1", 1, 4, 4, "layer 1 (conv): bad value '-1' for pad");
    expect_error("conv out=3 k=3 bias=2", 1, 4, 4, "bad value '2' for bias");
    expect_error("relu\nbatchnorm momentum=1.5", 1, 4, 4, "layer 2 (batchnorm): bad value '1.5' for momentum");
    expect_error("relu; relu; conv out=4 k=9", 1, 5, 5, "layer 3 (conv): kernel 9 does not fit input 5x5");
    expect_error("maxpool k=2; maxpool k=2; maxpool k=2", 1, 5, 5,
                 "layer 3 (maxpool): window 2 does not fit input 1x1");
    expect_error("relu in=nope", 1, 4, 4, "layer 1 (relu): unknown in=nope");
    expect_error("relu name=a; relu in=b name=b", 1, 4, 4, "layer 2 (relu): unknown in=b");
    expect_error("conv out=3 k=3; add with=zzz", 1, 5, 5, "layer 2 (add): unknown with=zzz");
    expect_error("conv name=a out=3 k=3; conv out=4 k=1; add with=a", 1, 5, 5, "layer 3 (add): shapes differ");
    expect_error("relu; add", 1, 4, 4, "layer 2 (add): with= is required");
    expect_error("dense", 1, 4, 4, "layer 1 (dense): out= is required");
    expect_error("maxpool stride=2", 1, 4, 4, "layer 1 (maxpool): k= is required");
    expect_error("relu name=x; relu name=x", 1, 4, 4, "layer 2 (relu): duplicate or reserved name 'x'");
    expect_error("relu k=3", 1, 4, 4, "layer 1 (relu): unknown key 'k' (keys of relu: name in)");
    expect_error("dense out=0", 1, 4, 4, "layer 1 (dense): bad value '0' for out (an integer in 1..16777216)");
    expect_error("conv out=2 k=3 bias=2", 1, 4, 4, "layer 1 (conv): bad value '2' for bias (0 or 1)");
    expect_error("dense 16", 1, 4, 4,
                 "layer 1 (dense): expected key=value, got '16' (keys of dense: name in out bias)");
    expect_error("relu with=a", 1, 4, 4, "layer 1 (relu): unknown key 'with'");
    expect_error("relu oops", 1, 4, 4, "layer 1 (relu): expected key=value, got 'oops'");
    expect_error("relu name=a.b", 1, 4, 4, "layer 1 (relu): bad value 'a.b' for name");
    expect_error("  ;\n # only a comment\n", 1, 4, 4, "no layers");
}

static void test_spec_syntax(void **st) {
    (void)st;
    /* Newlines, comments, blank entries, in= to an earlier layer and to the
     * input, default names. */
    nn_model *m = build_ok("# a net\n conv out=4 k=3 pad=1 name=c1 ;; \n relu\n"
                           "conv out=4 k=1 in=input name=proj\n add with=relu2\n gap\n dense out=3 bias=0",
                           2, 6, 6, 2);
    assert_int_equal(m->n_layers, 6);
    assert_string_equal(m->layers[1].name, "relu2");
    assert_int_equal(m->layers[2].in, -1);
    assert_int_equal(m->layers[3].in, 2);
    assert_int_equal(m->layers[3].with, 1);
    assert_int_equal(nn_model_find_tensor(m, "dense6.weight"), 4);
    assert_int_equal(nn_model_find_tensor(m, "dense6.bias"), -1);
    assert_int_equal(nn_model_num_classes(m), 3);
    nn_model_free(m);
}

static void test_init(void **st) {
    (void)st;
    epr_err err;
    nn_model *a = build_ok(nn_builtin_spec("lenet5-caffe"), 1, 28, 28, 1);
    nn_model *b = build_ok(nn_builtin_spec("lenet5-caffe"), 1, 28, 28, 1);
    assert_int_equal(nn_model_alloc_params(a, &err), 0);
    assert_int_equal(nn_model_alloc_params(b, &err), 0);
    nn_model_init_params(a, 42);
    nn_model_init_params(b, 42);
    size_t n = nn_model_num_params(a);
    assert_memory_equal(nn_model_param_block(a), nn_model_param_block(b), n * sizeof(float));
    nn_model_init_params(b, 43);
    assert_memory_not_equal(nn_model_param_block(a), nn_model_param_block(b), n * sizeof(float));
    for (int t = 0; t < nn_model_num_tensors(a); t++) {
        nn_param *p = nn_model_tensor(a, t);
        double s = 0, ss = 0, mx = 0;
        for (size_t i = 0; i < p->size; i++) {
            s += p->w[i];
            ss += (double)p->w[i] * p->w[i];
            mx = fmax(mx, fabs(p->w[i]));
        }
        double mean = s / p->size, sd = sqrt(ss / p->size - mean * mean);
        if (p->kind == NN_PARAM_BIAS) {
            assert_true(mx == 0.0);
        } else if (p->ndim == 4) { /* He-normal */
            double want = sqrt(2.0 / p->fan_in);
            assert_true(fabs(sd / want - 1) < (p->size > 1000 ? 0.03 : 0.15));
            assert_true(fabs(mean) < 4 * want / sqrt((double)p->size));
        } else { /* Glorot-uniform: sd = limit / sqrt(3) */
            double lim = sqrt(6.0 / (p->fan_in + p->fan_out));
            assert_true(mx <= lim);
            assert_true(mx > 0.95 * lim);
            assert_true(fabs(sd / (lim / sqrt(3.0)) - 1) < 0.05);
        }
    }
    nn_model_free(a);
    nn_model_free(b);
}

/* Hand-computed: 3x3 input, 2x2 kernel, bias, then 2x2 max pool stride 1. */
static void test_conv_pool_by_hand(void **st) {
    (void)st;
    epr_err err;
    nn_model *m = build_ok("conv out=1 k=2 name=c; maxpool k=2 stride=1", 1, 3, 3, 1);
    assert_int_equal(nn_model_alloc_params(m, &err), 0);
    float *w = nn_model_tensor(m, 0)->w, *b = nn_model_tensor(m, 1)->w;
    w[0] = 1, w[1] = 2, w[2] = 3, w[3] = 4;
    b[0] = 0.5f;
    const float x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    nn_forward(m, x, NULL, 1, 0);
    /* conv: [1+4+12+20, 2+6+15+24; 4+10+21+32, 5+12+24+36] + 0.5 */
    assert_float_equal(m->layers[0].y[0], 37.5f, 0);
    assert_float_equal(m->layers[0].y[1], 47.5f, 0);
    assert_float_equal(m->layers[0].y[2], 67.5f, 0);
    assert_float_equal(m->layers[0].y[3], 77.5f, 0);
    assert_float_equal(nn_model_logits(m)[0], 77.5f, 0);
    assert_int_equal(m->layers[1].argmax[0], 3);
    nn_model_free(m);

    /* Stride 2, pad 1 on a 3x3 input with a 3x3 all-ones kernel: each output
     * is the sum of the in-bounds part of its window. */
    m = build_ok("conv out=1 k=3 stride=2 pad=1 bias=0", 1, 3, 3, 1);
    assert_int_equal(nn_model_alloc_params(m, &err), 0);
    for (int i = 0; i < 9; i++) nn_model_tensor(m, 0)->w[i] = 1;
    nn_forward(m, x, NULL, 1, 0);
    const float want[4] = {1 + 2 + 4 + 5, 2 + 3 + 5 + 6, 4 + 5 + 7 + 8, 5 + 6 + 8 + 9};
    for (int i = 0; i < 4; i++) assert_float_equal(nn_model_logits(m)[i], want[i], 0);
    nn_model_free(m);
}

static void test_cross_entropy_value(void **st) {
    (void)st;
    epr_err err;
    nn_model *m = build_ok("dense out=3 bias=0", 2, 1, 1, 2);
    assert_int_equal(nn_model_alloc_params(m, &err), 0);
    float *w = nn_model_tensor(m, 0)->w; /* identity-ish: logits = (x0, x1, 0) */
    const float W[6] = {1, 0, 0, 1, 0, 0};
    memcpy(w, W, sizeof W);
    /* Large logits: the naive exp would overflow. */
    const float x[4] = {1000, 999, 0, 2};
    const int labels[2] = {1, 0};
    double loss = nn_forward(m, x, labels, 2, 0);
    double l0 = log(exp(0.0) + exp(-1.0) + exp(-1000.0)) + 1.0;
    double l1 = log(exp(0.0) + exp(2.0) + exp(0.0)) - 0.0;
    assert_float_equal(loss, l0 + l1, 1e-4);
    int preds[2];
    assert_int_equal(nn_count_errors(m, labels, 2, preds), 2);
    assert_int_equal(preds[0], 0);
    assert_int_equal(preds[1], 1);
    nn_backward(m, 1.0f);
    for (size_t i = 0; i < 6; i++) assert_true(isfinite(nn_model_tensor(m, 0)->dw[i]));
    nn_model_free(m);
}

static void test_batchnorm_stats(void **st) {
    (void)st;
    epr_err err;
    nn_model *m = build_ok("batchnorm name=bn momentum=0.5", 2, 1, 2, 2);
    assert_int_equal(nn_model_alloc_params(m, &err), 0);
    nn_model_init_params(m, 1);
    assert_int_equal(nn_model_num_buffers(m), 2);
    nn_buffer *rm = nn_model_buffer(m, 0), *rv = nn_model_buffer(m, 1);
    assert_string_equal(rm->name, "bn.running_mean");
    assert_string_equal(rv->name, "bn.running_var");
    assert_string_equal(nn_model_tensor(m, 0)->name, "bn.bias");
    nn_model_tensor(m, 0)->w[1] = 3.0f; /* beta of channel 1 */
    /* channel 0 sees {1,3,5,7}: mean 4, var 5 (unbiased 20/3);
     * channel 1 sees {2,2,2,2}: mean 2, var 0. */
    const float x[8] = {1, 3, 2, 2, 5, 7, 2, 2};
    nn_forward(m, x, NULL, 2, 1);
    const float *y = nn_model_logits(m);
    float is = 1.0f / sqrtf(5.0f + 1e-5f);
    assert_float_equal(y[0], -3 * is, 1e-6);
    assert_float_equal(y[5], 3 * is, 1e-6);
    assert_float_equal(y[2], 3.0f, 1e-6);
    assert_float_equal(rm->data[0], 2.0f, 1e-6);             /* 0.5*0 + 0.5*4 */
    assert_float_equal(rv->data[0], 0.5f + 10.0f / 3, 1e-5); /* 0.5*1 + 0.5*20/3 */
    assert_float_equal(rm->data[1], 1.0f, 1e-6);
    assert_float_equal(rv->data[1], 0.5f, 1e-6);
    /* Eval mode uses the running statistics. */
    nn_forward(m, x, NULL, 1, 0);
    assert_float_equal(nn_model_logits(m)[0], (1 - 2.0f) / sqrtf(rv->data[0] + 1e-5f), 1e-6);
    assert_float_equal(nn_model_logits(m)[2], 3.0f + (2 - 1.0f) / sqrtf(0.5f + 1e-5f), 1e-5);
    assert_float_equal(rm->data[0], 2.0f, 0); /* unchanged */
    nn_model_init_params(m, 1);
    assert_float_equal(rm->data[0], 0.0f, 0);
    assert_float_equal(rv->data[0], 1.0f, 0);
    nn_model_free(m);
}

/* nn_model_set_bn_momentum: 1/k for the k-th of K training forwards leaves
 * the plain average of the K batches' statistics (the recalibration at the
 * end of a run); -1 gives the spec's momentum back. */
static void test_batchnorm_average(void **st) {
    (void)st;
    epr_err err;
    nn_model *m = build_ok("batchnorm name=bn momentum=0.3", 1, 1, 1, 3);
    assert_int_equal(nn_model_alloc_params(m, &err), 0);
    nn_model_init_params(m, 1);
    assert_int_equal(nn_model_num_batchnorm(m), 1);
    nn_buffer *rm = nn_model_buffer(m, 0), *rv = nn_model_buffer(m, 1);
    rm->data[0] = 100.0f; /* whatever training left: forgotten at k = 1 */
    rv->data[0] = 100.0f;
    /* batches {1,2,3} (mean 2, unbiased var 1), {4,4,10} (6, 12), {0,0,3} (1, 3) */
    const float x[3][3] = {{1, 2, 3}, {4, 4, 10}, {0, 0, 3}};
    for (int k = 0; k < 3; k++) {
        nn_model_set_bn_momentum(m, 1.0f / (float)(k + 1));
        nn_forward(m, x[k], NULL, 3, 1);
    }
    assert_float_equal(rm->data[0], 3.0f, 1e-5);         /* (2 + 6 + 1) / 3 */
    assert_float_equal(rv->data[0], 16.0f / 3.0f, 1e-5); /* (1 + 12 + 3) / 3 */
    nn_model_set_bn_momentum(m, -1.0f);                  /* the spec's 0.3 again */
    nn_forward(m, x[0], NULL, 3, 1);
    assert_float_equal(rm->data[0], 0.7f * 3.0f + 0.3f * 2.0f, 1e-5);
    nn_model_free(m);
    m = build_ok("dense out=2", 1, 1, 1, 3);
    assert_int_equal(nn_model_num_batchnorm(m), 0);
    nn_model_free(m);
}

/* Params bound by the caller, and a smaller batch than max_batch: results
 * must match the owned-block path exactly. */
static void test_bind_and_partial_batch(void **st) {
    (void)st;
    epr_err err;
    const char *spec = "conv out=3 k=3 pad=1; relu; maxpool k=2; flatten; dense out=4";
    nn_model *a = build_ok(spec, 2, 6, 6, 8), *b = build_ok(spec, 2, 6, 6, 3);
    assert_int_equal(nn_model_alloc_params(a, &err), 0);
    nn_model_init_params(a, 5);
    size_t n = nn_model_num_params(a);
    float *w = malloc(sizeof(float) * n), *g = malloc(sizeof(float) * n);
    size_t off = 0;
    for (int t = 0; t < nn_model_num_tensors(b); t++) {
        nn_model_bind(b, t, w + off, g + off);
        off += nn_model_tensor(b, t)->size;
    }
    assert_null(nn_model_param_block(b));
    memcpy(w, nn_model_param_block(a), sizeof(float) * n);
    float x[3 * 72];
    cmn_rng r = {1, 7, 0};
    for (int i = 0; i < 3 * 72; i++) x[i] = cmn_rng_next_uniform(&r) - 0.5f;
    const int labels[3] = {0, 3, 1};
    double la = nn_forward(a, x, labels, 3, 1), lb = nn_forward(b, x, labels, 3, 1);
    assert_true(la == lb);
    nn_backward(a, 0.5f);
    nn_backward(b, 0.5f);
    assert_memory_equal(nn_model_grad_block(a), g, sizeof(float) * n);
    free(w);
    free(g);
    nn_model_free(a);
    nn_model_free(b);
}

/* A layer whose output nobody consumes still gets (zero) parameter grads. */
static void test_dead_branch(void **st) {
    (void)st;
    epr_err err;
    nn_model *m = build_ok("dense out=3 name=dead; dense out=2 in=input", 4, 1, 1, 2);
    assert_int_equal(nn_model_alloc_params(m, &err), 0);
    nn_model_init_params(m, 3);
    float *g = nn_model_grad_block(m);
    for (size_t i = 0; i < nn_model_num_params(m); i++) g[i] = 7.0f;
    const float x[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    const int labels[2] = {0, 1};
    nn_forward(m, x, labels, 2, 1);
    nn_backward(m, 1.0f);
    for (size_t i = 0; i < 15; i++) assert_float_equal(g[i], 0.0f, 0);
    nn_model_free(m);
}

/* Two Gaussian blobs, linearly separable with a margin: a small MLP trained
 * with Adam must drive the loss near zero and classify all points. */
static void test_toy_training(void **st) {
    (void)st;
    epr_err err;
    const int N = 64;
    nn_model *m = build_ok("dense out=16; relu; dense out=2", 2, 1, 1, N);
    assert_int_equal(nn_model_alloc_params(m, &err), 0);
    nn_model_init_params(m, 9);
    float x[2 * 64];
    int y[64];
    cmn_rng r = {3, 8, 0};
    for (int i = 0; i < N; i++) {
        y[i] = i & 1;
        float u = 2 * cmn_rng_next_uniform(&r) - 1, v = 2 * cmn_rng_next_uniform(&r) - 1;
        float side = y[i] ? 1.0f : -1.0f;
        x[2 * i] = u + 0.3f * side * 2, x[2 * i + 1] = v * 0.5f + side * 1.5f;
    }
    size_t n = nn_model_num_params(m);
    float *m1 = calloc(n, sizeof(float)), *m2 = calloc(n, sizeof(float));
    nn_adam opt = {.lr = 1e-2f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .t = 0};
    double first = 0, last = 0;
    for (int step = 0; step < 300; step++) {
        double loss = nn_forward(m, x, y, N, 1) / N;
        if (step == 0) first = loss;
        last = loss;
        nn_backward(m, 1.0f / N);
        nn_adam_step(&opt, nn_model_param_block(m), nn_model_grad_block(m), m1, m2, n);
    }
    assert_int_equal(opt.t, 300);
    fprintf(stderr, "toy training: loss %.4f -> %.4f\n", first, last);
    assert_true(first > 0.3);
    assert_true(last < 0.02);
    nn_forward(m, x, y, N, 0);
    assert_int_equal(nn_count_errors(m, y, N, NULL), 0);
    free(m1);
    free(m2);
    nn_model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_builtin_lenet300),
        cmocka_unit_test(test_builtin_lenet5),
        cmocka_unit_test(test_spec_errors),
        cmocka_unit_test(test_spec_syntax),
        cmocka_unit_test(test_init),
        cmocka_unit_test(test_conv_pool_by_hand),
        cmocka_unit_test(test_cross_entropy_value),
        cmocka_unit_test(test_batchnorm_stats),
        cmocka_unit_test(test_batchnorm_average),
        cmocka_unit_test(test_bind_and_partial_batch),
        cmocka_unit_test(test_dead_branch),
        cmocka_unit_test(test_toy_training),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
