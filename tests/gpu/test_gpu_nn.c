/* test_gpu_nn — the device nn (src/nn/cuda) against the CPU reference
 * (src/nn, itself checked against finite differences by test_nn_grad).
 *
 * Each case builds the same model on both sides from the same parameters,
 * running statistics and input, runs forward (training or eval) and
 * backward (cross-entropy or an arbitrary output gradient), and compares
 * every layer's output, the loss, the predictions, every parameter
 * gradient, the input gradient and the updated running statistics.  Then
 * it repeats the device pass and requires the same bits (determinism).
 * Whole models run the CPU backward from the GPU's forward state (its
 * activations, argmax, batch statistics, softmax: see transplant()), because
 * the two forwards agree only to rounding and one ReLU or max-pool that
 * decides the other way on a near-tie (seen: 1 of 16,000 ReLUs in LeNet5
 * at batch 32) moves a whole gradient column by percents; the number of
 * such decisions is printed and must stay below 1 in 10,000.
 *
 * Tolerances (TF32 off: cuBLAS default math, NVIDIA_TF32_OVERRIDE=0):
 *  - single layers: max |gpu - cpu| <= 1e-4 * max |cpu| over each tensor
 *    (sums of up to a few hundred float terms in another order; an index
 *    or sign error is O(1)); loss relative 1e-5;
 *  - whole models: relative L2 error ||gpu - cpu|| / ||cpu|| <= 1e-4 for
 *    layer outputs, 1e-3 for gradients, loss relative 1e-4 (rounding
 *    differences pass through up to 60 layers and batch norm over small
 *    batches), at most one prediction of the batch different; each model
 *    runs twice, 3x3 convolutions by im2col and by Winograd F(4x4, 3x3)
 *    (winograd.cu, the training default), whose rounding error is about 10x
 *    im2col's (single layers: max/|max| 1-3e-6 against 1-2e-7): with it the
 *    layer-output and running-statistics tolerances are 10x (seen on the
 *    H200: VGG-16 at batch 4, whose last batch norms average 16 values,
 *    1.6e-4 at fc3 against 2.1e-5 with im2col);
 *  - gradients: differences below 1e-3 * (the case's largest gradient
 *    element) count as rounding noise (a gradient that is zero in exact
 *    arithmetic is noise on both sides);
 *  - optimizers and EMA: bitwise equal (the same float operations, no FMA).
 * Every comparison is printed with its error.  Exit 77 (skipped) when no
 * CUDA device is present.  EPR_TEST_FILTER=PATTERN runs only the matching
 * tests (cmocka_set_test_filter, e.g. "test_conv*"). */
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
#include "nn/cuda/nn_cuda.h"
#include "gpu_test_util.h"
#include "nn/nn_internal.h"

static nn_cuda *G;

enum { IN_UNIFORM, IN_AWAY_FROM_ZERO, IN_DISTINCT, IN_IMAGE };

typedef struct {
    const char *name, *spec;
    int c, h, w, n;
    int training;
    int ce; /* 1: cross-entropy backward with grad_scale; 0: random dout */
    float gs;
    int input;
    int model;    /* 1: whole-model tolerances (relative L2) */
    int winograd; /* whole models: run with 3x3 convolutions by Winograd (else im2col) */
} cmp_case;

/* Compares one tensor; returns 1 when out of tolerance.  Reports the max
 * error relative to max |cpu| and the relative L2 error. */
static int compare(const cmp_case *cc, const char *what, const float *gpu, const float *cpu, size_t n, double tol,
                   double floor, int quiet, int *bitwise) {
    /* floor: a gradient that is zero in exact arithmetic (e.g. a bias
     * before batch norm) is rounding noise on both sides. */
    const gpu_diff df = gpu_test_diff(gpu, cpu, n, floor);
    if (bitwise && df.same != n) *bitwise = 0;
    const double emax = df.emax, el2 = df.el2;
    const size_t worst = df.worst;
    const double e = cc->model ? el2 : emax;
    const int bad = !(e <= tol);
    if (bad || !quiet)
        fprintf(stderr, "  %-8s %-28.28s n=%-8zu max/|max| %.2e  relL2 %.2e  (tol %.0e)%s\n", cc->name, what, n, emax,
                el2, tol, bad ? "  FAIL" : "");
    if (bad) fprintf(stderr, "    worst [%zu]: gpu %.9g cpu %.9g\n", worst, (double)gpu[worst], (double)cpu[worst]);
    return bad;
}

static float *dl(const float *d, size_t n) {
    float *h = malloc(sizeof(float) * (n ? n : 1));
    assert_non_null(h);
    assert_int_equal(nn_cuda_download(G, h, d, sizeof(float) * n), 0);
    return h;
}

static void *up(const void *h, size_t bytes) {
    void *d = NULL;
    epr_err err = {0};
    assert_int_equal(nn_cuda_malloc(G, &d, bytes, &err), 0);
    assert_int_equal(nn_cuda_upload(G, d, h, bytes), 0);
    return d;
}

/* Device forward + backward; the gradients and logits go to *g, *z. */
static void gpu_pass(const cmp_case *cc, nn_cuda_model *dm, const float *dx, const int *dlab, const float *ddout,
                     double *loss) {
    *loss = nn_cuda_forward(dm, dx, cc->ce ? dlab : NULL, cc->n, cc->training);
    if (cc->ce)
        nn_cuda_backward(dm, cc->gs);
    else
        nn_cuda_backward_from(dm, ddout);
    epr_err err = {0};
    assert_int_equal(nn_cuda_sync(G, &err), 0);
}

static void dl_into(void *h, const void *d, size_t bytes) { assert_int_equal(nn_cuda_download(G, h, d, bytes), 0); }

/* Copies the GPU's forward state (every layer's output, max-pool argmax,
 * batch-norm statistics, softmax) into the CPU model, counting the ReLU
 * and max-pool decisions that differ (near-ties: the two forwards agree
 * only to rounding).  The CPU backward then differentiates at the same
 * point as the GPU's.  Single-layer cases do not do this, so they check
 * the GPU's argmax and statistics themselves. */
static void transplant(const cmp_case *cc, nn_model *m, nn_cuda_model *dm, int n) {
    size_t relu = 0, relu_flip = 0, pool = 0, pool_flip = 0;
    for (int i = 0; i < m->n_layers; i++) {
        nn_layer *L = &m->layers[i];
        if (L->op == NN_FLATTEN) continue;
        const size_t N = (size_t)n * L->out_size;
        float *y = dl(nn_cuda_model_layer_output(dm, i), N);
        if (L->op == NN_RELU) {
            for (size_t j = 0; j < N; j++) relu_flip += (y[j] > 0.0f) != (L->y[j] > 0.0f);
            relu += N;
        }
        memcpy(L->y, y, sizeof(float) * N);
        free(y);
        const int *am;
        const float *bm, *bi;
        nn_cuda_model_layer_state(dm, i, &am, &bm, &bi);
        if (am) {
            int *a = malloc(sizeof(int) * N);
            assert_non_null(a);
            dl_into(a, am, sizeof(int) * N);
            for (size_t j = 0; j < N; j++) pool_flip += a[j] != L->argmax[j];
            pool += N;
            memcpy(L->argmax, a, sizeof(int) * N);
            free(a);
        }
        if (bm) {
            dl_into(L->bn_mean, bm, sizeof(float) * L->c);
            dl_into(L->bn_invstd, bi, sizeof(float) * L->c);
        }
    }
    dl_into(m->probs, nn_cuda_model_probs(dm), sizeof(float) * n * nn_model_num_classes(m));
    m->col_owner = -1; /* the CPU's cached im2col is of its own activations */
    fprintf(stderr, "  %-8s forward decisions that differ: %zu of %zu ReLU, %zu of %zu max-pool\n", cc->name, relu_flip,
            relu, pool_flip, pool);
    /* more than a few would be a forward error, not near-ties */
    assert_true(relu_flip * 10000 <= relu + 10000 && pool_flip * 10000 <= pool + 10000);
}

static int run_cmp(const cmp_case *cc, uint64_t seed) {
    epr_err err = {0};
    nn_model *m = NULL;
    int rc = nn_model_build(cc->spec, cc->c, cc->h, cc->w, cc->n, &m, &err);
    if (rc) fprintf(stderr, "build failed: %s\n", err.msg);
    assert_int_equal(rc, 0);
    assert_int_equal(nn_model_alloc_params(m, &err), 0);
    assert_int_equal(nn_model_enable_input_grad(m, &err), 0);
    nn_model_init_params(m, seed);
    cmn_rng r = {seed, 77, 0};
    for (int t = 0; t < nn_model_num_tensors(m); t++) { /* non-zero biases */
        nn_param *p = nn_model_tensor(m, t);
        if (p->kind == NN_PARAM_BIAS)
            for (size_t j = 0; j < p->size; j++) p->w[j] = 0.2f * (cmn_rng_next_uniform(&r) - 0.5f);
    }
    for (int b = 0; b < nn_model_num_buffers(m); b++) { /* eval mode sees these */
        nn_buffer *B = nn_model_buffer(m, b);
        int var = strstr(B->name, "running_var") != NULL;
        for (size_t j = 0; j < B->size; j++)
            B->data[j] = var ? 0.5f + cmn_rng_next_uniform(&r) : 0.4f * (cmn_rng_next_uniform(&r) - 0.5f);
    }
    const int n = cc->n, K = nn_model_num_classes(m);
    const size_t in = (size_t)n * m->in_size, np = nn_model_num_params(m), nk = (size_t)n * K;
    float *x = malloc(sizeof(float) * in), *dout = malloc(sizeof(float) * nk);
    int *lab = malloc(sizeof(int) * n);
    assert_true(x && dout && lab);
    if (cc->input == IN_DISTINCT) {
        for (size_t i = 0; i < in; i++) x[i] = -1.0f + 2.0f * (float)i / (float)in;
        for (size_t i = in - 1; i > 0; i--) {
            size_t j = cmn_rng_below(&r, i + 1);
            float t = x[i];
            x[i] = x[j];
            x[j] = t;
        }
    } else {
        for (size_t i = 0; i < in; i++) {
            float u = cmn_rng_next_uniform(&r);
            if (cc->input != IN_IMAGE) u = 2.0f * u - 1.0f;
            if (cc->input == IN_AWAY_FROM_ZERO) u = u < 0 ? u - 0.1f : u + 0.1f;
            x[i] = u;
        }
    }
    for (int s = 0; s < n; s++) lab[s] = (int)cmn_rng_below(&r, K);
    for (size_t i = 0; i < nk; i++) dout[i] = 2.0f * cmn_rng_next_uniform(&r) - 1.0f;

    /* Device mirror: same parameters, same running statistics. */
    nn_cuda_model *dm = NULL;
    assert_int_equal(nn_cuda_model_create(G, m, &dm, &err), 0);
    assert_int_equal(nn_cuda_model_alloc_params(dm, &err), 0);
    assert_int_equal(nn_cuda_model_enable_input_grad(dm, &err), 0);
    assert_int_equal(nn_cuda_upload(G, nn_cuda_model_param_block(dm), nn_model_param_block(m), sizeof(float) * np), 0);
    float *dx = up(x, sizeof(float) * in), *ddout = up(dout, sizeof(float) * nk);
    int *dlab = up(lab, sizeof(int) * n);
    /* The running statistics before the pass (for the determinism rerun). */
    const int nb = nn_model_num_buffers(m);
    float **rs0 = calloc(nb ? nb : 1, sizeof *rs0), **rs1 = calloc(nb ? nb : 1, sizeof *rs1);
    for (int b = 0; b < nb; b++) {
        nn_buffer *B = nn_model_buffer(m, b);
        rs0[b] = malloc(sizeof(float) * B->size);
        memcpy(rs0[b], B->data, sizeof(float) * B->size);
    }

    /* Forward on both sides. */
    double loss_c = nn_forward(m, x, cc->ce ? lab : NULL, n, cc->training);
    int *pred_c = malloc(sizeof(int) * n), *pred_g = malloc(sizeof(int) * n);
    int err_c = nn_count_errors(m, lab, n, pred_c);
    for (int b = 0; b < nb; b++) { /* CPU's updated statistics */
        nn_buffer *B = nn_model_buffer(m, b);
        rs1[b] = malloc(sizeof(float) * B->size);
        memcpy(rs1[b], B->data, sizeof(float) * B->size);
    }
    double loss_g = nn_cuda_forward(dm, dx, cc->ce ? dlab : NULL, n, cc->training);
    int err_g = nn_cuda_count_errors(dm, dlab, n, pred_g);
    if (cc->ce) { /* the forward's own loss and error count survive count_errors */
        double l2;
        int e2;
        nn_cuda_last_loss(dm, &l2, &e2);
        assert_true(l2 == loss_g);
        assert_int_equal(e2, err_g);
    }

    int bad = 0, bw_fwd = 1, bw_grad = 1;
    /* Whole models with Winograd convolutions: 10x the output and running-
     * statistics tolerances (see the header). */
    const double loose = cc->model && cc->winograd ? 10.0 : 1.0;
    const double tol_y = 1e-4 * loose, tol_g = cc->model ? 1e-3 : 1e-4, tol_loss = cc->model ? 1e-4 : 1e-5;
    /* every layer's output */
    for (int i = 0; i < m->n_layers; i++) {
        const nn_layer *L = &m->layers[i];
        float *yg = dl(nn_cuda_model_layer_output(dm, i), (size_t)n * L->out_size);
        char what[80];
        snprintf(what, sizeof what, "y %s", L->name);
        bad +=
            compare(cc, what, yg, L->y, (size_t)n * L->out_size, tol_y, 0, cc->model && i < m->n_layers - 1, &bw_fwd);
        free(yg);
    }
    if (cc->ce) {
        double e = fabs(loss_g - loss_c) / fmax(fabs(loss_c), 1e-30);
        fprintf(stderr, "  %-8s loss cpu %.9g gpu %.9g rel %.2e (tol %.0e)%s\n", cc->name, loss_c, loss_g, e, tol_loss,
                e > tol_loss ? "  FAIL" : "");
        bad += e > tol_loss;
    }
    int diff = 0;
    for (int s = 0; s < n; s++) diff += pred_c[s] != pred_g[s];
    fprintf(stderr, "  %-8s errors cpu %d gpu %d, %d of %d predictions differ%s\n", cc->name, err_c, err_g, diff, n,
            diff > (cc->model ? 1 : 0) ? "  FAIL" : "");
    bad += diff > (cc->model ? 1 : 0);
    /* Whole models: the CPU backward runs from the GPU's forward state. */
    if (cc->model) transplant(cc, m, dm, n);

    /* Backward on both sides. */
    if (cc->ce)
        nn_backward(m, cc->gs);
    else
        nn_backward_from(m, dout);
    if (cc->ce)
        nn_cuda_backward(dm, cc->gs);
    else
        nn_cuda_backward_from(dm, ddout);
    assert_int_equal(nn_cuda_sync(G, &err), 0);
    /* gradients */
    float *gg = dl(nn_cuda_model_grad_block(dm), np);
    double gmax = 0; /* the largest gradient element of the case, for the noise floor */
    for (size_t i = 0; i < np; i++) gmax = fmax(gmax, fabs(nn_model_grad_block(m)[i]));
    for (size_t i = 0; i < in; i++) gmax = fmax(gmax, fabs(nn_model_input_grad(m)[i]));
    const double floor = 1e-3 * gmax;
    size_t off = 0;
    for (int t = 0; t < nn_model_num_tensors(m); t++) {
        nn_param *p = nn_model_tensor(m, t);
        char what[80];
        snprintf(what, sizeof what, "d %s", p->name);
        bad += compare(cc, what, gg + off, p->dw, p->size, tol_g, floor, cc->model, &bw_grad);
        off += p->size;
    }
    float *gx = dl(nn_cuda_model_input_grad(dm), in);
    bad += compare(cc, "d input", gx, nn_model_input_grad(m), in, tol_g, floor, 0, &bw_grad);
    /* running statistics (updated in training mode, unchanged in eval) */
    nn_cuda_buffers_download(dm, m);
    for (int b = 0; b < nb; b++) {
        nn_buffer *B = nn_model_buffer(m, b);
        bad += compare(cc, B->name, B->data, rs1[b], B->size, 1e-5 * loose, 0, 1, NULL);
    }
    fprintf(stderr, "  %-8s %-40.40s outputs %s, gradients %s bitwise equal to the CPU's\n", cc->name,
            cc->model ? cc->spec : cc->spec, bw_fwd ? "ARE" : "not", bw_grad ? "ARE" : "not");

    /* Determinism: the same pass again from the same state, same bits. */
    for (int b = 0; b < nb; b++)
        memcpy(nn_model_buffer(m, b)->data, rs0[b], sizeof(float) * nn_model_buffer(m, b)->size);
    nn_cuda_buffers_upload(dm, m);
    float *z1 = dl(nn_cuda_model_logits(dm), nk);
    double loss_g2;
    gpu_pass(cc, dm, dx, dlab, ddout, &loss_g2);
    float *gg2 = dl(nn_cuda_model_grad_block(dm), np), *gx2 = dl(nn_cuda_model_input_grad(dm), in);
    float *z2 = dl(nn_cuda_model_logits(dm), nk);
    int same = memcmp(gg, gg2, sizeof(float) * np) == 0 && memcmp(gx, gx2, sizeof(float) * in) == 0 &&
               memcmp(z1, z2, sizeof(float) * nk) == 0 && loss_g == loss_g2;
    if (!same) fprintf(stderr, "  %-8s rerun on the GPU gave different bits  FAIL\n", cc->name);
    bad += !same;

    free(z1), free(z2), free(gg2), free(gx2), free(gg), free(gx);
    for (int b = 0; b < nb; b++) free(rs0[b]), free(rs1[b]);
    free(rs0), free(rs1), free(pred_c), free(pred_g);
    nn_cuda_free(G, dx), nn_cuda_free(G, ddout), nn_cuda_free(G, dlab);
    nn_cuda_model_free(dm);
    free(x), free(dout), free(lab);
    nn_model_free(m);
    if (bad) fprintf(stderr, "  %s: %s: %d comparisons out of tolerance\n", cc->name, cc->spec, bad);
    return bad;
}

#define CASE(NM, SP, C, H, W, N, ...) (&(cmp_case){.name = NM, .spec = SP, .c = C, .h = H, .w = W, .n = N, __VA_ARGS__})

static void test_dense(void **st) {
    (void)st;
    assert_int_equal(run_cmp(CASE("dense", "dense out=5", 3, 2, 2, 3), 1), 0);
    assert_int_equal(run_cmp(CASE("dense", "dense out=7 bias=0; dense out=3", 13, 1, 1, 5), 2), 0);
    assert_int_equal(run_cmp(CASE("dense", "dense out=300", 1, 28, 28, 37), 3), 0);
}

static void test_conv(void **st) {
    (void)st;
    assert_int_equal(run_cmp(CASE("conv", "conv out=3 k=3 stride=2 pad=1", 2, 5, 7, 3), 4), 0);
    assert_int_equal(run_cmp(CASE("conv", "conv out=5 k=3 pad=1 bias=0", 3, 5, 7, 3), 5), 0);
    assert_int_equal(run_cmp(CASE("conv", "conv out=2 k=4 stride=3 pad=2", 2, 9, 5, 3), 6), 0);
    assert_int_equal(run_cmp(CASE("conv", "conv out=6 k=1 stride=2 bias=0", 5, 5, 7, 3), 7), 0);
    assert_int_equal(run_cmp(CASE("conv", "conv out=7 k=5", 3, 12, 11, 3), 8), 0);
    /* 1x1 stride 1: per-sample products where P >= NN_CUDA_DIRECT_P = 49
     * (layers.cu conv_direct), im2col below; dx added into a consumed buffer */
    assert_int_equal(run_cmp(CASE("conv1x1", "conv out=6 k=1", 5, 16, 17, 3), 37), 0);
    assert_int_equal(run_cmp(CASE("conv1x1", "conv out=4 k=1 bias=0", 7, 15, 16, 2), 38), 0);
    assert_int_equal(run_cmp(CASE("conv1x1", "conv out=5 k=1", 6, 7, 7, 3), 41), 0);        /* P = 49 */
    assert_int_equal(run_cmp(CASE("conv1x1", "conv out=4 k=1 bias=0", 7, 6, 8, 2), 42), 0); /* P = 48 */
    assert_int_equal(
        run_cmp(CASE("conv1x1", "conv name=a out=5 k=1; conv out=5 k=1 bias=0; add with=a", 3, 16, 16, 2), 39), 0);
    /* The first convolution's forward data stays in the scratch buffer (its
     * owner: im2col, then Winograd's V); the 1x1 layers after it leave that
     * buffer alone going forward but rebuild it for their dW going
     * backward, before the owner's backward would reuse it. */
    assert_int_equal(
        run_cmp(CASE("conv1x1", "conv out=4 k=3 stride=2 pad=1; conv out=3 k=1; gap; dense out=2", 3, 32, 32, 2), 40),
        0);
    assert_int_equal(
        run_cmp(CASE("conv1x1", "conv out=4 k=3 pad=1; conv out=3 k=1; conv out=3 k=1; gap; dense out=2", 2, 16, 16, 2),
                41),
        0);
}

/* 3x3 stride-1 convolutions by Winograd's F(4x4, 3x3) (winograd.cu) and,
 * switched off, by im2col: output sizes that are and are not multiples of
 * the 4x4 tile, pad 0/1/2, one channel, a 1x1 output, and two layers in a
 * chain (the second's input gradient added into a consumed buffer). */
static void test_conv_winograd(void **st) {
    (void)st;
    for (int on = 1; on >= 0; on--) {
        nn_cuda_set_winograd(G, on);
        fprintf(stderr, "  winograd %s\n", on ? "on" : "off (im2col)");
        int bad = run_cmp(CASE("wino", "conv out=5 k=3 pad=1", 3, 8, 8, 3), 30);
        bad += run_cmp(CASE("wino", "conv out=4 k=3 bias=0", 2, 9, 11, 2), 31);
        bad += run_cmp(CASE("wino", "conv out=3 k=3 pad=2", 2, 6, 5, 2), 32);
        bad += run_cmp(CASE("wino", "conv out=7 k=3 pad=1 bias=0", 12, 13, 10, 3), 33);
        bad += run_cmp(CASE("wino", "conv out=2 k=3 pad=1", 1, 1, 1, 3), 34);
        bad += run_cmp(CASE("wino", "conv out=6 k=3 pad=1; conv out=4 k=3 pad=1; gap; dense out=3", 3, 7, 9, 4,
                            .input = IN_AWAY_FROM_ZERO),
                       35);
        assert_int_equal(bad, 0);
    }
    nn_cuda_set_winograd(G, 1);
}

static void test_conv_chunked(void **st) {
    (void)st;
    /* 16*9*64*64 = 590K col floats per sample: 40 samples pass the 16M
     * column cap, so the batch runs in two chunks (dW accumulates). */
    nn_cuda_set_winograd(G, 0);
    assert_int_equal(run_cmp(CASE("conv-chk", "conv out=8 k=3 pad=1", 16, 64, 64, 40), 9), 0);
    nn_cuda_set_winograd(G, 1);
    /* Winograd: 36*48*16*16 = 442K V floats per sample, two chunks. */
    assert_int_equal(run_cmp(CASE("wino-chk", "conv out=16 k=3 pad=1", 48, 64, 64, 40), 36), 0);
}

static void test_pools(void **st) {
    (void)st;
    assert_int_equal(run_cmp(CASE("maxpool", "maxpool k=2", 3, 5, 7, 3, .input = IN_DISTINCT), 10), 0);
    assert_int_equal(run_cmp(CASE("maxpool", "maxpool k=3 stride=2 pad=1", 3, 5, 7, 3, .input = IN_DISTINCT), 11), 0);
    assert_int_equal(run_cmp(CASE("maxpool", "maxpool k=3 stride=1 pad=1", 2, 6, 5, 3, .input = IN_DISTINCT), 12), 0);
    assert_int_equal(run_cmp(CASE("avgpool", "avgpool k=2", 3, 5, 7, 3), 13), 0);
    assert_int_equal(run_cmp(CASE("avgpool", "avgpool k=3 stride=2", 3, 7, 6, 3), 14), 0);
    assert_int_equal(run_cmp(CASE("gap", "gap", 5, 5, 7, 3), 15), 0);
}

static void test_relu_flatten(void **st) {
    (void)st;
    assert_int_equal(run_cmp(CASE("relu", "relu", 3, 5, 7, 3, .input = IN_AWAY_FROM_ZERO), 16), 0);
    assert_int_equal(run_cmp(CASE("flatten", "flatten; dense out=3", 3, 5, 7, 3), 17), 0);
}

static void test_batchnorm(void **st) {
    (void)st;
    assert_int_equal(run_cmp(CASE("bn-train", "batchnorm", 5, 5, 7, 3, .training = 1), 18), 0);
    assert_int_equal(run_cmp(CASE("bn-train", "batchnorm momentum=0.2 eps=1e-3", 6, 1, 1, 3, .training = 1), 19), 0);
    assert_int_equal(run_cmp(CASE("bn-eval", "batchnorm", 5, 5, 7, 3, .training = 0), 20), 0);
    assert_int_equal(
        run_cmp(CASE("bn-conv", "conv out=3 k=3 pad=1 bias=0; batchnorm; dense out=4", 2, 5, 7, 3, .training = 1), 21),
        0);
}

static void test_add(void **st) {
    (void)st;
    assert_int_equal(run_cmp(CASE("add",
                                  "conv name=a out=3 k=3 pad=1; conv name=b out=3 k=3 pad=1;"
                                  " conv name=c out=3 k=1 in=a; add with=b; gap; dense out=2",
                                  2, 5, 7, 3),
                             22),
                     0);
    assert_int_equal(run_cmp(CASE("add", "conv out=3 k=3 pad=1 bias=0; batchnorm name=bn; add with=input", 3, 5, 7, 3,
                                  .training = 1),
                             23),
                     0);
    assert_int_equal(run_cmp(CASE("add", "conv name=a out=2 k=2; add with=a", 1, 5, 7, 3), 24), 0);
}

static void test_cross_entropy(void **st) {
    (void)st;
    assert_int_equal(run_cmp(CASE("ce", "dense out=6", 5, 1, 1, 4, .ce = 1, .gs = 0.25f), 25), 0);
    assert_int_equal(run_cmp(CASE("ce", "dense out=1000", 7, 3, 3, 3, .ce = 1, .gs = 1.0f / 3), 26), 0);
}

/* The whole models of test_models and test_relu_inplace: input shape,
 * the batch of each test, training (1) or eval mode. */
typedef struct {
    const char *name;
    int c, hw, n, n_relu, training;
} model_case;
static const model_case MODELS[] = {
    {"lenet300-100", 1, 28, 64, 16, 1}, {"lenet5-caffe", 1, 28, 32, 8, 1}, {"resnet20-4", 3, 32, 8, 4, 1},
    {"resnet20-4", 3, 32, 5, 3, 0},     {"vgg16-cifar", 3, 32, 4, 2, 1},
};
#define N_MODELS (sizeof MODELS / sizeof MODELS[0])

static void test_models(void **st) {
    (void)st;
    const model_case *ms = MODELS;
    int bad = 0;
    for (size_t i = 0; i < N_MODELS; i++) {
        cmp_case cc = {.name = ms[i].name,
                       .spec = nn_builtin_spec(ms[i].name),
                       .c = ms[i].c,
                       .h = ms[i].hw,
                       .w = ms[i].hw,
                       .n = ms[i].n,
                       .training = ms[i].training,
                       .ce = 1,
                       .gs = 1.0f / ms[i].n,
                       .input = IN_IMAGE,
                       .model = 1};
        for (int on = 1; on >= 0; on--) { /* Winograd (the training default), then im2col */
            cc.winograd = on;
            nn_cuda_set_winograd(G, on);
            fprintf(stderr, "  model %s batch %d %s, 3x3 convolutions by %s\n", ms[i].name, ms[i].n,
                    ms[i].training ? "train" : "eval", on ? "Winograd" : "im2col");
            bad += run_cmp(&cc, 100 + i);
        }
    }
    nn_cuda_set_winograd(G, 1);
    assert_int_equal(bad, 0);
}

/* ---- ReLUs in place (nn_cuda_set_relu_inplace): the same bits ----
 * Each model runs one training (or eval) pass with ReLUs in place and one
 * with every layer in a buffer of its own, from the same parameters, input
 * and statistics: the loss, logits, every parameter and input gradient,
 * the running statistics and every layer's output must be the same bits
 * (a fused batch norm or add's output is the ReLU's).  A producer whose
 * backward read its own output would show here.  Counts the fused ReLUs,
 * so that a model where none fuses cannot pass silently. */
typedef struct {
    double loss;
    float *grads, *gx, *stats, **y;
    const float **yp; /* device pointers, to see which layers share a buffer */
} pass_out;

static void relu_pass(nn_model *m, const float *x, const int *lab, int n, int training, int on, pass_out *o) {
    epr_err err = {0};
    nn_cuda_set_relu_inplace(G, on);
    nn_cuda_model *dm = NULL;
    assert_int_equal(nn_cuda_model_create(G, m, &dm, &err), 0);
    nn_cuda_set_relu_inplace(G, 0);
    const size_t np = nn_model_num_params(m), in = (size_t)n * m->in_size;
    assert_int_equal(nn_cuda_model_alloc_params(dm, &err), 0);
    assert_int_equal(nn_cuda_model_enable_input_grad(dm, &err), 0);
    assert_int_equal(nn_cuda_upload(G, nn_cuda_model_param_block(dm), nn_model_param_block(m), sizeof(float) * np), 0);
    float *dx = up(x, sizeof(float) * in);
    int *dlab = up(lab, sizeof(int) * n);
    o->loss = nn_cuda_forward(dm, dx, dlab, n, training);
    o->y = calloc(m->n_layers, sizeof *o->y);
    o->yp = calloc(m->n_layers, sizeof *o->yp);
    assert_true(o->y && o->yp);
    for (int i = 0; i < m->n_layers; i++) { /* before the backward: what the forward left */
        o->yp[i] = nn_cuda_model_layer_output(dm, i);
        o->y[i] = dl(o->yp[i], (size_t)n * m->layers[i].out_size);
    }
    nn_cuda_backward(dm, 1.0f / n);
    assert_int_equal(nn_cuda_sync(G, &err), 0);
    o->grads = dl(nn_cuda_model_grad_block(dm), np);
    o->gx = dl(nn_cuda_model_input_grad(dm), in);
    size_t ns = 0;
    for (int b = 0; b < nn_model_num_buffers(m); b++) ns += nn_model_buffer(m, b)->size;
    o->stats = malloc(sizeof(float) * (ns ? ns : 1));
    assert_non_null(o->stats);
    for (int b = 0, off = 0; b < nn_model_num_buffers(m); off += (int)nn_model_buffer(m, b)->size, b++)
        dl_into(o->stats + off, nn_cuda_model_buffer(dm, b), sizeof(float) * nn_model_buffer(m, b)->size);
    nn_cuda_free(G, dx);
    nn_cuda_free(G, dlab);
    nn_cuda_model_free(dm);
}

static size_t differ(const float *a, const float *b, size_t n) {
    size_t d = 0;
    for (size_t i = 0; i < n; i++) d += memcmp(&a[i], &b[i], sizeof(float)) != 0;
    return d;
}

static void test_relu_inplace(void **st) {
    (void)st;
    const model_case *ms = MODELS;
    int bad = 0;
    for (size_t t = 0; t < N_MODELS; t++) {
        epr_err err = {0};
        nn_model *m = NULL;
        const int n = ms[t].n_relu;
        assert_int_equal(nn_model_build(nn_builtin_spec(ms[t].name), ms[t].c, ms[t].hw, ms[t].hw, n, &m, &err), 0);
        assert_int_equal(nn_model_alloc_params(m, &err), 0);
        nn_model_init_params(m, 300 + t);
        const size_t in = (size_t)n * m->in_size, np = nn_model_num_params(m);
        float *x = malloc(sizeof(float) * in);
        int *lab = malloc(sizeof(int) * n);
        assert_true(x && lab);
        cmn_rng r = {300 + t, 9, 0};
        for (size_t i = 0; i < in; i++) x[i] = cmn_rng_next_uniform(&r) - 0.3f;
        for (int s = 0; s < n; s++) lab[s] = (int)cmn_rng_below(&r, nn_model_num_classes(m));
        pass_out off, on;
        relu_pass(m, x, lab, n, ms[t].training, 0, &off);
        relu_pass(m, x, lab, n, ms[t].training, 1, &on);
        size_t ns = 0, d = 0;
        for (int b = 0; b < nn_model_num_buffers(m); b++) ns += nn_model_buffer(m, b)->size;
        int fused = 0;
        for (int i = 0; i < m->n_layers; i++) {
            const nn_layer *L = &m->layers[i];
            int j = i; /* the off pass's layer whose output layer i's buffer holds after the forward */
            for (int k = i + 1; k < m->n_layers; k++)
                if (m->layers[k].op == NN_RELU && m->layers[k].in == i && on.yp[k] == on.yp[i]) j = k;
            if (L->op == NN_RELU && L->in >= 0 && on.yp[i] == on.yp[L->in]) fused++;
            d += differ(on.y[i], off.y[j], (size_t)n * L->out_size);
        }
        const size_t dg = differ(on.grads, off.grads, np), dx = differ(on.gx, off.gx, in),
                     dst = differ(on.stats, off.stats, ns);
        const int same_loss = memcmp(&on.loss, &off.loss, sizeof(double)) == 0;
        const int ok = d == 0 && dg == 0 && dx == 0 && dst == 0 && same_loss && fused > 0;
        fprintf(stderr,
                "  relu in place %-12s batch %d %s: %d ReLUs fused; elements that differ from the unfused pass: "
                "layer outputs %zu, gradients %zu of %zu, input gradient %zu, statistics %zu, loss %s%s\n",
                ms[t].name, n, ms[t].training ? "train" : "eval", fused, d, dg, np, dx, dst,
                same_loss ? "same" : "differs", ok ? "" : "  FAIL");
        bad += !ok;
        for (int i = 0; i < m->n_layers; i++) free(on.y[i]), free(off.y[i]);
        free(on.y), free(off.y), free(on.yp), free(off.yp);
        free(on.grads), free(off.grads), free(on.gx), free(off.gx), free(on.stats), free(off.stats);
        free(x), free(lab);
        nn_model_free(m);
    }
    assert_int_equal(bad, 0);
}

/* ---- optimizers and EMA: bitwise equal to the CPU ---- */
static void test_optimizers(void **st) {
    (void)st;
    const size_t n = 100003; /* not a multiple of 4: the CPU's SSE tail runs too */
    float *w = malloc(sizeof(float) * n), *g = malloc(sizeof(float) * n), *m1 = calloc(n, sizeof(float)),
          *m2 = calloc(n, sizeof(float)), *b = calloc(n, sizeof(float));
    assert_true(w && g && m1 && m2 && b);
    cmn_rng r = {5, 1, 0};
    for (size_t i = 0; i < n; i++) w[i] = cmn_rng_next_uniform(&r) - 0.5f;
    float *dw = up(w, sizeof(float) * n), *dg = up(g, sizeof(float) * n), *dm1 = up(m1, sizeof(float) * n),
          *dm2 = up(m2, sizeof(float) * n), *db = up(b, sizeof(float) * n), *dema = up(w, sizeof(float) * n);
    float *ema = malloc(sizeof(float) * n);
    memcpy(ema, w, sizeof(float) * n);
    nn_adam oc = {.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f}, og = oc;
    nn_sgd sgd = {.lr = 0.05f, .momentum = 0.9f, .weight_decay = 5e-4f};
    int bad = 0;
    for (int step = 0; step < 4; step++) {
        for (size_t i = 0; i < n; i++) g[i] = 2.0f * cmn_rng_next_uniform(&r) - 1.0f;
        assert_int_equal(nn_cuda_upload(G, dg, g, sizeof(float) * n), 0);
        nn_adam_step(&oc, w, g, m1, m2, n);
        nn_cuda_adam_step(G, &og, dw, dg, dm1, dm2, n);
        nn_sgd_step(&sgd, w, g, b, n);
        nn_cuda_sgd_step(G, &sgd, dw, dg, db, n);
        nn_ema_update(ema, w, n, 0.99f);
        nn_cuda_ema_update(G, dema, dw, n, 0.99f);
        epr_err err = {0};
        assert_int_equal(nn_cuda_sync(G, &err), 0);
        assert_int_equal(og.t, oc.t);
        const float *cpu[] = {w, m1, m2, b, ema};
        const float *gpu[] = {dw, dm1, dm2, db, dema};
        const char *names[] = {"w", "adam m1", "adam m2", "sgd buf", "ema"};
        for (int k = 0; k < 5; k++) {
            float *h = dl(gpu[k], n);
            size_t diff = 0;
            for (size_t i = 0; i < n; i++) diff += memcmp(&h[i], &cpu[k][i], sizeof(float)) != 0;
            fprintf(stderr, "  optim step %d %-8s %zu of %zu elements differ from the CPU%s\n", step + 1, names[k],
                    diff, n, diff ? "  FAIL" : "");
            bad += diff != 0;
            free(h);
        }
    }
    assert_int_equal(bad, 0);
    nn_cuda_free(G, dw), nn_cuda_free(G, dg), nn_cuda_free(G, dm1), nn_cuda_free(G, dm2), nn_cuda_free(G, db);
    nn_cuda_free(G, dema);
    free(w), free(g), free(m1), free(m2), free(b), free(ema);
}

int main(void) {
    int rc = gpu_test_open("test_gpu_nn", &G);
    if (rc) return rc;
    if (getenv("EPR_TEST_FILTER")) cmocka_set_test_filter(getenv("EPR_TEST_FILTER")); /* e.g. test_conv* */
    nn_cuda_set_relu_inplace(G, 0); /* every layer's output of its own, to compare with the CPU's */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dense),        cmocka_unit_test(test_conv),   cmocka_unit_test(test_conv_winograd),
        cmocka_unit_test(test_conv_chunked), cmocka_unit_test(test_pools),  cmocka_unit_test(test_relu_flatten),
        cmocka_unit_test(test_batchnorm),    cmocka_unit_test(test_add),    cmocka_unit_test(test_cross_entropy),
        cmocka_unit_test(test_optimizers),   cmocka_unit_test(test_models), cmocka_unit_test(test_relu_inplace),
    };
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    nn_cuda_close(G);
    return rc;
}
