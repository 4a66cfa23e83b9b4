/* tests/harness/test_bitstream_limits.c — the evaluator refuses what an
 * architecture text may not ask for before it builds anything: 20,000
 * layers, a 1x1024x1024 input, a shape the data does not have, tensors the
 * file lacks; each in well under a second without growing the peak memory
 * by 100 MB.  A small forged network (tests/codec/forge.h) evaluates, so
 * the refusals are the limits' doing; the limits are settable; a layer
 * spec nn refuses leaks nothing (the sanitizer build checks). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../codec/forge.h"
#include "run/bitstream.h"

/* Three c x h x w samples, labels 0, 1, 0. */
typedef struct {
    dataset d;
    uint8_t px[3 * 16];
    int labels[3];
} tiny_set;

static void tiny_init(tiny_set *t, int c, int h, int w) {
    memset(t, 0, sizeof *t);
    for (size_t i = 0; i < sizeof t->px; i++) t->px[i] = (uint8_t)(17 * i);
    t->labels[1] = 1;
    t->d.n = 3;
    t->d.c = c, t->d.h = h, t->d.w = w;
    t->d.n_classes = 10;
    t->d.images = t->px;
    t->d.labels = t->labels;
}

static epr_file *open_forged(uint8_t *bytes, size_t size) {
    epr_file *f;
    epr_err e;
    if (epr_file_open_memory(bytes, size, &f, &e)) fail_msg("%s", e.msg);
    free(bytes);
    return f;
}

/* bitstream_evaluate on the tiny set; returns its code, message in e. */
static int evaluate(epr_file *f, int c, int h, int w, double *error, epr_err *e) {
    tiny_set t;
    tiny_init(&t, c, h, w);
    int preds[3];
    return bitstream_evaluate(f, &t.d, 2, error, preds, e);
}

static void expect_refused(uint8_t *bytes, size_t size, int c, int h, int w, int code, const char *needle) {
    epr_file *f = open_forged(bytes, size);
    double error;
    epr_err e = {0, ""};
    const long rss0 = forge_max_rss_kb();
    const double t0 = cmn_now_s();
    assert_int_equal(evaluate(f, c, h, w, &error, &e), code);
    const double dt = cmn_now_s() - t0;
    print_message("refused in %.3f s (+%ld KB peak): %s\n", dt, forge_max_rss_kb() - rss0, e.msg);
    if (!strstr(e.msg, needle)) fail_msg("message '%s' lacks '%s'", e.msg, needle);
    assert_true(dt < 1.0);
    assert_true(forge_max_rss_kb() - rss0 < 100 * 1024);
    epr_file_close(f);
}

static void test_small_network_evaluates(void **st) {
    (void)st;
    size_t size;
    uint8_t *b = forge_network_file(1, 2, 2, 3, &size);
    epr_file *f = open_forged(b, size);
    double error = -1;
    epr_err e;
    if (evaluate(f, 1, 2, 2, &error, &e)) fail_msg("%s", e.msg);
    /* all weights 0: every logit 0, every prediction class 0; labels 0 1 0 */
    assert_true(error > 0.33 && error < 0.34);
    epr_file_close(f);
}

/* Forged networks (input C x H x W, relus) evaluated on data of another
 * or the same shape: refused, each by its own check. */
static void test_refusals(void **st) {
    (void)st;
    static const struct {
        int c, h, w;
        long relus;
        int dc, dh, dw, code;
        const char *needle;
    } cases[] = {
        {1, 28, 28, 20000, 1, 28, 28, EPR_EUNSUP, "architecture text: 20001 layers, over the limit of 1024"},
        {1, 1024, 1024, 0, 1, 1024, 1024, EPR_EUNSUP, "input 1x1024x1024 (1048576 values) is over the limit of 786432"},
        {1, 2, 2, 0, 1, 3, 3, EPR_EARG, "the model takes 1x2x2 inputs but the data has 1x3x3"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        size_t size;
        uint8_t *b = forge_network_file(cases[i].c, cases[i].h, cases[i].w, cases[i].relus, &size);
        print_message("%ld relu layers, input %dx%dx%d: %zu bytes\n", cases[i].relus, cases[i].c, cases[i].h,
                      cases[i].w, size);
        expect_refused(b, size, cases[i].dc, cases[i].dh, cases[i].dw, cases[i].code, cases[i].needle);
    }
}

/* 1,000 layers pass the default limit and not a caller's 500. */
static void test_limits_settable(void **st) {
    (void)st;
    size_t size;
    uint8_t *b = forge_network_file(1, 2, 2, 1000, &size);
    epr_file *f = open_forged(b, size);
    nn_model *net;
    bitstream_arch a;
    epr_err e;
    bitstream_limits lim = {500, 0};
    assert_int_equal(bitstream_load_model(f, 1, &lim, &net, &a, &e), EPR_EUNSUP);
    assert_non_null(strstr(e.msg, "1001 layers, over the limit of 500"));
    lim.max_input = 3;
    lim.max_layers = 0;
    assert_int_equal(bitstream_load_model(f, 1, &lim, &net, &a, &e), EPR_EUNSUP);
    assert_non_null(strstr(e.msg, "input 1x2x2 (4 values) is over the limit of 3"));
    if (bitstream_load_model(f, 1, NULL, &net, &a, &e)) fail_msg("%s", e.msg);
    nn_model_free(net);
    bitstream_arch_free(&a);
    epr_file_close(f);
}

/* A file of the architecture text arch and (with_bias) one extra fc.bias
 * of 3 zeros: bitstream_load_model refuses it with code and needle, and
 * hands back no network. */
static void expect_load_refused(const char *arch, int with_bias, int code, const char *needle) {
    forge_buf fb;
    forge_begin(&fb, 0, with_bias ? 1 : 0, arch, strlen(arch));
    const uint64_t shape[1] = {3};
    const float v[3] = {0, 0, 0};
    if (with_bias) forge_extra(&fb, "fc.bias", 1, shape, v);
    size_t size;
    uint8_t *b = forge_end(&fb, &size);
    epr_file *f = open_forged(b, size);
    nn_model *net;
    bitstream_arch a;
    epr_err e;
    assert_int_equal(bitstream_load_model(f, 1, NULL, &net, &a, &e), code);
    if (!strstr(e.msg, needle)) fail_msg("message '%s' lacks '%s'", e.msg, needle);
    assert_null(net);
    epr_file_close(f);
}

/* nn refuses the layer spec: an error, and the parsed text is released
 * (the sanitizer build checks for the leak). */
static void test_bad_layer_spec(void **st) {
    (void)st;
    expect_load_refused("epr-arch 1\ninput 1 2 2\nnormalize 0\nlayers\nreluu\n", 0, EPR_EARG,
                        "unknown layer type 'reluu'");
}

/* A tensor the network needs is missing: refused before the parameters
 * are allocated. */
static void test_missing_tensor(void **st) {
    (void)st;
    expect_load_refused("epr-arch 1\ninput 1 2 2\nnormalize 0\nlayers\ndense name=fc out=3\n", 1, EPR_EFORMAT,
                        "the file has no tensor 'fc.weight' that its architecture needs");
}

/* bitstream_check_data (epr eval's refusal): a file of architecture text
 * arch against data named name with n_classes classes; 1 = refused, the
 * reason containing needle. */
static void expect_data_check(const char *arch, const char *name, int n_classes, int want, const char *needle) {
    forge_buf fb;
    forge_begin(&fb, 0, 0, arch, strlen(arch));
    size_t size;
    uint8_t *b = forge_end(&fb, &size);
    epr_file *f = open_forged(b, size);
    tiny_set t;
    tiny_init(&t, 1, 2, 2);
    snprintf(t.d.name, sizeof t.d.name, "%s", name);
    t.d.n_classes = n_classes;
    t.labels[2] = n_classes - 1; /* the largest label present */
    char why[256] = "";
    assert_int_equal(bitstream_check_data(f, &t.d, why, sizeof why), want);
    print_message("%s on %s/%d: %s\n", name, name, n_classes, want ? why : "accepted");
    if (needle && !strstr(why, needle)) fail_msg("reason '%s' lacks '%s'", why, needle);
    epr_file_close(f);
}

static void test_check_data(void **st) {
    (void)st;
    const char *rec = "epr-arch 1\ninput 1 2 2\nnormalize 0\nlayers\n# data fashion-mnist 10\ndense out=10\n";
    expect_data_check(rec, "fashion-mnist", 10, 0, NULL);
    expect_data_check(rec, "mnist10k", 10, 1, "trained on fashion-mnist (10 classes), the data is mnist10k");
    expect_data_check(rec, "fashion-mnist", 12, 1, "with 10 classes, the data has 12");
    expect_data_check(rec, "idx", 10, 0, NULL); /* any IDX pair may be the same images */
    expect_data_check(rec, "", 10, 0, NULL);
    /* files written before the record: the network's outputs against the classes */
    const char *old3 = "epr-arch 1\ninput 1 2 2\nnormalize 0\nlayers\ndense out=3\n";
    expect_data_check(old3, "mnist10k", 10, 1, "the network has 3 outputs, the data has labels up to 9");
    expect_data_check(old3, "mnist10k", 3, 0, NULL);
    char set[32];
    int k = 0;
    assert_int_equal(bitstream_arch_data("# data cifar10 10\nconv out=4 k=3\n", set, sizeof set, &k), 1);
    assert_string_equal(set, "cifar10");
    assert_int_equal(k, 10);
    assert_int_equal(bitstream_arch_data("# data cifar10 ten\n", set, sizeof set, &k), 0);
    assert_int_equal(bitstream_arch_data("dense out=3\n# data x 2\n", set, sizeof set, &k), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_small_network_evaluates), cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_limits_settable),         cmocka_unit_test(test_bad_layer_spec),
        cmocka_unit_test(test_missing_tensor),          cmocka_unit_test(test_check_data),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
