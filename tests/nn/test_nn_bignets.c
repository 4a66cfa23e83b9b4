/* test_nn_bignets — the paper's CIFAR and ImageNet networks as built-in
 * specs: parameter counts pinned against the float32 sizes of Table 1,
 * tensor names and shapes (what experiment groups refer to), the shape of
 * the activations stage by stage, and one training-mode forward + backward
 * of each network at batch 2 (ResNet-50 at 64x64, to keep the run under
 * AddressSanitizer short; the spec is the same at every input size).
 *
 * Table 1 counts BN's gamma; here gamma is fixed at 1 (DESIGN §1), so each
 * network has one scalar fewer per batch-norm channel than its float32 size
 * suggests.  The expected counts are therefore written as
 * (Table-1-sized count) - (BN channels). */
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

static nn_model *build_ok(const char *name, int h, int w, int batch) {
    epr_err err = {0};
    nn_model *m = NULL;
    const char *spec = nn_builtin_spec(name);
    assert_non_null(spec);
    int rc = nn_model_build(spec, 3, h, w, batch, &m, &err);
    if (rc) fprintf(stderr, "%s: unexpected build error: %s\n", name, err.msg);
    assert_int_equal(rc, 0);
    return m;
}

static const nn_layer *layer(const nn_model *m, const char *name) {
    for (int i = 0; i < m->n_layers; i++)
        if (!strcmp(m->layers[i].name, name)) return &m->layers[i];
    fprintf(stderr, "no layer %s\n", name);
    fail();
    return NULL;
}

static void expect_out(const nn_model *m, const char *name, int c, int h, int w) {
    const nn_layer *L = layer(m, name);
    if (L->oc != c || L->oh != h || L->ow != w)
        fprintf(stderr, "%s: [%d,%d,%d], expected [%d,%d,%d]\n", name, L->oc, L->oh, L->ow, c, h, w);
    assert_int_equal(L->oc, c);
    assert_int_equal(L->oh, h);
    assert_int_equal(L->ow, w);
}

static void expect_tensor(nn_model *m, const char *name, int ndim, int d0, int d1, int d2, int d3) {
    int i = nn_model_find_tensor(m, name);
    if (i < 0) fprintf(stderr, "no tensor %s\n", name);
    assert_true(i >= 0);
    const nn_param *p = nn_model_tensor(m, i);
    const int d[4] = {d0, d1, d2, d3};
    assert_int_equal(p->ndim, ndim);
    for (int k = 0; k < ndim; k++) assert_int_equal(p->shape[k], d[k]);
}

/* Sums over the model: BN channels, scalars in 3x3 / 1x1 / other conv
 * weights, and how many conv layers carry a bias (none should). */
typedef struct {
    size_t bn_channels, conv3, conv1, conv_other, dense_w, biases;
    int n_conv3, n_conv1, conv_with_bias;
} census;

static census count(nn_model *m) {
    census c = {0};
    for (int i = 0; i < m->n_layers; i++) {
        const nn_layer *L = &m->layers[i];
        if (L->op == NN_BATCHNORM) c.bn_channels += (size_t)L->c;
        if (L->op == NN_CONV) {
            size_t s = nn_model_tensor(m, L->wt)->size;
            if (L->k == 3)
                c.conv3 += s, c.n_conv3++;
            else if (L->k == 1)
                c.conv1 += s, c.n_conv1++;
            else
                c.conv_other += s;
            c.conv_with_bias += L->bt >= 0;
        }
        if (L->op == NN_DENSE) c.dense_w += nn_model_tensor(m, L->wt)->size;
    }
    for (int t = 0; t < nn_model_num_tensors(m); t++)
        if (nn_model_tensor(m, t)->kind == NN_PARAM_BIAS) c.biases += nn_model_tensor(m, t)->size;
    return c;
}

static void test_vgg16_cifar(void **st) {
    (void)st;
    nn_model *m = build_ok("vgg16-cifar", 32, 32, 1);
    census c = count(m);
    /* 13 conv 3x3 (14,710,464) + fc 512-512-512-10 (529,408 weights) + BN
     * beta 5,248 + fc3 bias 10.  With gamma: 15,250,378 = 61.0 MB float32;
     * the paper says 60 MB (the Torch-blog classifier 512-512-10 gives
     * 59.97 MB but has only two FC layers, and the paper's groups need 3). */
    assert_int_equal(nn_model_num_params(m), 15250378 - 5248);
    assert_int_equal(c.bn_channels, 5248);
    assert_int_equal(c.n_conv3, 13);
    assert_int_equal(c.conv3, 14710464);
    assert_int_equal(c.dense_w, 512 * 512 * 2 + 5120);
    assert_int_equal(c.conv_with_bias, 0);
    assert_int_equal(c.biases, 5248 + 10);
    assert_int_equal(nn_model_num_tensors(m), 13 + 15 + 3 + 1);
    assert_int_equal(nn_model_num_buffers(m), 2 * 15);
    assert_int_equal(nn_model_num_classes(m), 10);
    expect_tensor(m, "conv1.weight", 4, 64, 3, 3, 3);
    expect_tensor(m, "conv13.weight", 4, 512, 512, 3, 3);
    expect_tensor(m, "bn13.bias", 1, 512, 0, 0, 0);
    expect_tensor(m, "fc1.weight", 2, 512, 512, 0, 0);
    expect_tensor(m, "fc3.weight", 2, 10, 512, 0, 0);
    expect_tensor(m, "fc3.bias", 1, 10, 0, 0, 0);
    assert_int_equal(nn_model_find_tensor(m, "conv1.bias"), -1);
    assert_int_equal(nn_model_find_tensor(m, "fc1.bias"), -1);
    assert_true(nn_model_find_tensor(m, "bn15.bias") >= 0);
    expect_out(m, "conv2", 64, 32, 32);
    expect_out(m, "conv4", 128, 16, 16);
    expect_out(m, "conv7", 256, 8, 8);
    expect_out(m, "conv10", 512, 4, 4);
    expect_out(m, "conv13", 512, 2, 2);
    expect_out(m, "fc1", 512, 1, 1);
    expect_out(m, "fc3", 10, 1, 1);
    nn_model_free(m);
}

static void test_resnet20_4(void **st) {
    (void)st;
    nn_model *m = build_ok("resnet20-4", 32, 32, 1);
    census c = count(m);
    /* Table 1: 17.2 MB = 4,298,970 scalars with gamma (2,704 BN channels). */
    assert_int_equal(nn_model_num_params(m), 4298970 - 2704);
    assert_int_equal(c.bn_channels, 2704);
    assert_int_equal(c.n_conv3, 19);
    assert_int_equal(c.conv3, 432 + 9216 + 5 * 36864 + 73728 + 5 * 147456 + 294912 + 5 * 589824);
    assert_int_equal(c.n_conv1, 3); /* projection shortcuts */
    assert_int_equal(c.conv1, 16 * 64 + 64 * 128 + 128 * 256);
    assert_int_equal(c.conv_with_bias, 0);
    assert_int_equal(c.biases, 2704 + 10);
    assert_int_equal(nn_model_num_classes(m), 10);
    expect_tensor(m, "conv1.weight", 4, 16, 3, 3, 3);
    expect_tensor(m, "layer1_0_conv1.weight", 4, 64, 16, 3, 3);
    expect_tensor(m, "layer1_0_shortcut.weight", 4, 64, 16, 1, 1);
    expect_tensor(m, "layer2_0_conv1.weight", 4, 128, 64, 3, 3);
    expect_tensor(m, "layer3_2_conv2.weight", 4, 256, 256, 3, 3);
    expect_tensor(m, "layer3_2_bn2.bias", 1, 256, 0, 0, 0);
    expect_tensor(m, "bn_final.bias", 1, 256, 0, 0, 0);
    expect_tensor(m, "fc.weight", 2, 10, 256, 0, 0);
    expect_tensor(m, "fc.bias", 1, 10, 0, 0, 0);
    assert_int_equal(nn_model_find_tensor(m, "layer1_1_shortcut.weight"), -1);
    expect_out(m, "conv1", 16, 32, 32);
    expect_out(m, "layer1_2", 64, 32, 32);
    expect_out(m, "layer2_0", 128, 16, 16);
    expect_out(m, "layer2_0_shortcut", 128, 16, 16);
    expect_out(m, "layer3_2", 256, 8, 8);
    expect_out(m, "fc", 10, 1, 1);
    /* identity blocks add their input; projection blocks their shortcut */
    assert_string_equal(m->layers[layer(m, "layer2_1")->with].name, "layer2_0");
    assert_string_equal(m->layers[layer(m, "layer2_0")->in].name, "layer2_0_shortcut");
    nn_model_free(m);
}

static void test_resnet18(void **st) {
    (void)st;
    nn_model *m = build_ok("resnet18", 224, 224, 1);
    census c = count(m);
    /* torchvision resnet18: 11,689,512 with gamma (46.8 MB; paper 46.7 MB). */
    assert_int_equal(nn_model_num_params(m), 11689512 - 4800);
    assert_int_equal(c.bn_channels, 4800);
    assert_int_equal(c.n_conv3, 16);
    assert_int_equal(c.n_conv1, 3);
    assert_int_equal(c.conv1, 64 * 128 + 128 * 256 + 256 * 512);
    assert_int_equal(c.conv_other, 64 * 3 * 49);
    assert_int_equal(c.conv_with_bias, 0);
    assert_int_equal(c.biases, 4800 + 1000);
    assert_int_equal(nn_model_num_classes(m), 1000);
    expect_tensor(m, "conv1.weight", 4, 64, 3, 7, 7);
    expect_tensor(m, "layer1_0_conv1.weight", 4, 64, 64, 3, 3);
    expect_tensor(m, "layer2_0_downsample.weight", 4, 128, 64, 1, 1);
    expect_tensor(m, "layer4_1_conv2.weight", 4, 512, 512, 3, 3);
    expect_tensor(m, "layer4_0_downsample_bn.bias", 1, 512, 0, 0, 0);
    expect_tensor(m, "fc.weight", 2, 1000, 512, 0, 0);
    expect_out(m, "conv1", 64, 112, 112);
    expect_out(m, "maxpool", 64, 56, 56);
    expect_out(m, "layer1_1", 64, 56, 56);
    expect_out(m, "layer2_0", 128, 28, 28);
    expect_out(m, "layer3_0", 256, 14, 14);
    expect_out(m, "layer4_1", 512, 7, 7);
    expect_out(m, "fc", 1000, 1, 1);
    nn_model_free(m);
}

static void test_resnet50(void **st) {
    (void)st;
    nn_model *m = build_ok("resnet50", 224, 224, 1);
    census c = count(m);
    /* torchvision resnet50: 25,557,032 with gamma (102.2 MB; paper 102 MB). */
    assert_int_equal(nn_model_num_params(m), 25557032 - 26560);
    assert_int_equal(c.bn_channels, 26560);
    assert_int_equal(c.n_conv3, 16);
    assert_int_equal(c.n_conv1, 36); /* 3 per block + 4 downsamples */
    assert_int_equal(c.conv_other, 64 * 3 * 49);
    assert_int_equal(c.conv_with_bias, 0);
    assert_int_equal(c.biases, 26560 + 1000);
    assert_int_equal(nn_model_num_tensors(m), 53 + 53 + 2);
    assert_int_equal(nn_model_num_classes(m), 1000);
    expect_tensor(m, "layer1_0_conv1.weight", 4, 64, 64, 1, 1);
    expect_tensor(m, "layer1_0_conv2.weight", 4, 64, 64, 3, 3);
    expect_tensor(m, "layer1_0_conv3.weight", 4, 256, 64, 1, 1);
    expect_tensor(m, "layer1_0_downsample.weight", 4, 256, 64, 1, 1);
    expect_tensor(m, "layer3_5_conv2.weight", 4, 256, 256, 3, 3);
    expect_tensor(m, "layer4_2_conv3.weight", 4, 2048, 512, 1, 1);
    expect_tensor(m, "fc.weight", 2, 1000, 2048, 0, 0);
    expect_out(m, "maxpool", 64, 56, 56);
    expect_out(m, "layer1_2", 256, 56, 56);
    expect_out(m, "layer2_0_conv2", 128, 28, 28); /* stride on the 3x3 */
    expect_out(m, "layer2_0_conv1", 128, 56, 56);
    expect_out(m, "layer2_3", 512, 28, 28);
    expect_out(m, "layer3_5", 1024, 14, 14);
    expect_out(m, "layer4_2", 2048, 7, 7);
    nn_model_free(m);
}

/* One training step's arithmetic: forward (batch statistics), backward;
 * every gradient finite, every tensor's gradient non-zero somewhere (a
 * wiring mistake leaves a branch without gradient), running stats moved,
 * and an evaluation-mode forward finite as well. */
static void forward_backward(const char *name, int hw, int n) {
    nn_model *m = build_ok(name, hw, hw, n);
    epr_err err = {0};
    assert_int_equal(nn_model_alloc_params(m, &err), 0);
    nn_model_init_params(m, 7);
    const size_t in = (size_t)n * 3 * hw * hw;
    float *x = malloc(sizeof(float) * in);
    assert_non_null(x);
    cmn_rng r = {3, 77, 0};
    for (size_t i = 0; i < in; i++) x[i] = 2.0f * cmn_rng_next_uniform(&r) - 1.0f;
    int labels[2] = {1, 7};
    double loss = nn_forward(m, x, labels, n, 1);
    assert_true(isfinite(loss) && loss > 0);
    nn_backward(m, 1.0f / (float)n);
    for (int t = 0; t < nn_model_num_tensors(m); t++) {
        const nn_param *p = nn_model_tensor(m, t);
        double s = 0;
        for (size_t j = 0; j < p->size; j++) {
            if (!isfinite(p->dw[j])) fprintf(stderr, "%s: %s[%zu] not finite\n", name, p->name, j);
            assert_true(isfinite(p->dw[j]));
            s += fabs(p->dw[j]);
        }
        if (!(s > 0)) fprintf(stderr, "%s: %s has a zero gradient\n", name, p->name);
        assert_true(s > 0);
    }
    int moved = 0;
    for (int b = 0; b < nn_model_num_buffers(m); b++) {
        const nn_buffer *B = nn_model_buffer(m, b);
        if (strstr(B->name, ".running_mean"))
            for (size_t j = 0; j < B->size; j++) moved += B->data[j] != 0.0f;
    }
    assert_true(moved > 0);
    loss = nn_forward(m, x, labels, n, 0);
    assert_true(isfinite(loss));
    free(x);
    nn_model_free(m);
}

static void test_step_vgg16(void **st) {
    (void)st;
    forward_backward("vgg16-cifar", 32, 2);
}
static void test_step_resnet20_4(void **st) {
    (void)st;
    forward_backward("resnet20-4", 32, 2);
}
static void test_step_resnet18(void **st) {
    (void)st;
    forward_backward("resnet18", 224, 2);
}
static void test_step_resnet50(void **st) {
    (void)st;
    forward_backward("resnet50", 64, 2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vgg16_cifar),   cmocka_unit_test(test_resnet20_4),
        cmocka_unit_test(test_resnet18),      cmocka_unit_test(test_resnet50),
        cmocka_unit_test(test_step_vgg16),    cmocka_unit_test(test_step_resnet20_4),
        cmocka_unit_test(test_step_resnet18), cmocka_unit_test(test_step_resnet50),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
