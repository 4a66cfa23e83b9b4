/* Experiment-file parsing: defaults, overrides, and that every bad input is
 * an error naming the file, the line and the key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "nn/nn.h"
#include "run/config.h"
#include "run/experiment.h"

static const char *GOOD = "; a comment\n"
                          "[data]\n"
                          "set = fashion-mnist\n"
                          "[model]\n"
                          "name = lenet5-caffe\n"
                          "[train]\n"
                          "steps = 123\n"
                          "batch = 32\n"
                          "lr = 5e-4\n"
                          "lr_milestones = 10, 20\n"
                          "lr_decay = 0.2\n"
                          "[epr]\n"
                          "enabled = true\n"
                          "lambda = 2.5e-6\n"
                          "[group.conv]\n"
                          "tensors = conv1.weight, conv2.weight\n"
                          "decoder = conv-affine\n"
                          "transform = dft\n"
                          "ell = 25\n"
                          "[group.rest]\n"
                          "tensors = fc1.weight\n";

static void expect_error(const char *text, const char *const *ov, int nov, const char *needle1, const char *needle2) {
    cfg_experiment c;
    epr_err e = {0};
    int rc = cfg_load_string(text, "exp.ini", ov, nov, &c, &e);
    if (rc == 0) fail_msg("expected an error containing '%s'", needle1);
    assert_int_equal(rc, EPR_EARG);
    if (!strstr(e.msg, needle1)) fail_msg("message '%s' lacks '%s'", e.msg, needle1);
    if (needle2 && !strstr(e.msg, needle2)) fail_msg("message '%s' lacks '%s'", e.msg, needle2);
    cfg_free(&c);
}

static void test_good_file(void **state) {
    (void)state;
    cfg_experiment c;
    epr_err e = {0};
    assert_int_equal(cfg_load_string(GOOD, "exp.ini", NULL, 0, &c, &e), 0);
    assert_string_equal(c.data_set, "fashion-mnist");
    assert_string_equal(c.model_name, "lenet5-caffe");
    assert_non_null(c.layers);
    assert_int_equal(c.steps, 123);
    assert_int_equal(c.batch, 32);
    assert_float_equal(c.lr, 5e-4f, 1e-9);
    assert_int_equal(c.n_milestones, 2);
    assert_int_equal(c.lr_milestones[1], 20);
    assert_true(c.epr_enabled);
    assert_float_equal(c.lambda, 2.5e-6, 1e-15);
    assert_int_equal(c.n_groups, 2);
    assert_string_equal(c.groups[0].name, "conv");
    assert_int_equal(c.groups[0].n_tensors, 2);
    assert_string_equal(c.groups[0].tensors[1], "conv2.weight");
    assert_int_equal(c.groups[0].kh, 5); /* derived from ell = 25 */
    assert_int_equal(c.groups[1].ell, 1);
    assert_string_equal(c.groups[1].decoder, "affine");
    assert_string_equal(c.name, "exp");
    /* defaults */
    assert_string_equal(c.optimizer, "adam");
    assert_float_equal(c.ema, 0.999f, 1e-7);
    cfg_free(&c);
}

static void test_overrides(void **state) {
    (void)state;
    const char *ov[] = {"epr.lambda=1e-5", "train.seed=7", "group.rest.log_step=-3", "epr.enabled=false"};
    cfg_experiment c;
    epr_err e = {0};
    assert_int_equal(cfg_load_string(GOOD, "exp.ini", ov, 4, &c, &e), 0);
    assert_float_equal(c.lambda, 1e-5, 1e-15);
    assert_int_equal(c.seed, 7);
    assert_float_equal(c.groups[1].log_step, -3.0f, 0);
    assert_false(c.epr_enabled);
    /* overrides are recorded in the experiment text */
    assert_non_null(strstr(c.text, "--set epr.lambda=1e-5"));
    cfg_free(&c);
}

static void test_unknown_key_names_file_line_key(void **state) {
    (void)state;
    expect_error("[train]\nsteps = 5\nstpes = 6\n", NULL, 0, "exp.ini:3", "stpes");
}

static void test_unknown_section(void **state) {
    (void)state;
    expect_error("[data]\nset = mnist10k\n[trian]\nsteps = 1\n", NULL, 0, "exp.ini:4", "[trian]");
}

static void test_bad_values(void **state) {
    (void)state;
    expect_error("[train]\nsteps = many\n", NULL, 0, "exp.ini:2", "steps");
    expect_error("[train]\nlr = 1e-3x\n", NULL, 0, "exp.ini:2", "lr");
    expect_error("[train]\nsteps = -5\n", NULL, 0, "exp.ini:2", "steps");
    expect_error("[epr]\nenabled = maybe\n", NULL, 0, "exp.ini:2", "enabled");
    expect_error("[train]\nlr = nan\n", NULL, 0, "exp.ini:2", "lr");
    expect_error("[train]\nlr_milestones = 10,x\n", NULL, 0, "exp.ini:2", "lr_milestones");
    expect_error("[data]\nset = imagenet22k\n", NULL, 0, "exp.ini", "imagenet22k");
    expect_error("[model]\nname = alexnet\n", NULL, 0, "exp.ini", "alexnet");
    expect_error("[train]\noptimizer = lbfgs\n", NULL, 0, "exp.ini", "lbfgs");
    expect_error("[train]\nema = 1.5\n", NULL, 0, "exp.ini", "ema");
    expect_error("[epr]\ntable_precision = 20\n", NULL, 0, "exp.ini", "table_precision");
}

/* [train] device: cpu (default) | cuda, settable with --set, recorded in
 * the text; a device override alone does not make another experiment (a
 * checkpoint resumes on either device). */
static void test_device_key(void **state) {
    (void)state;
    cfg_experiment c, d;
    epr_err e = {0};
    assert_int_equal(cfg_load_string(GOOD, "exp.ini", NULL, 0, &c, &e), 0);
    assert_string_equal(c.device, "cpu");
    const char *ov[] = {"train.device=cuda"};
    assert_int_equal(cfg_load_string(GOOD, "exp.ini", ov, 1, &d, &e), 0);
    assert_string_equal(d.device, "cuda");
    assert_non_null(strstr(d.text, "; --set train.device=cuda\n"));
    assert_true(cfg_same_experiment(c.text, d.text));
    assert_true(cfg_same_experiment(d.text, c.text));
    cfg_free(&d);
    const char *ov2[] = {"train.device=cuda", "epr.lambda=1e-5"};
    assert_int_equal(cfg_load_string(GOOD, "exp.ini", ov2, 2, &d, &e), 0);
    assert_false(cfg_same_experiment(c.text, d.text));
    cfg_free(&d);
    assert_true(cfg_same_experiment("a\nb", "a\nb\n; --set train.device=cpu\n"));
    assert_false(cfg_same_experiment("a\nb", "a\n"));
    assert_false(cfg_same_experiment("a\nb\n", "a\nbb\n"));
    cfg_free(&c);
    expect_error("[train]\ndevice = tpu\n", NULL, 0, "exp.ini", "device: unknown 'tpu' (cpu | cuda)");
}

/* [train] file_eval and bn_recalibrate: defaults, refusals, and what they
 * do to the run's fingerprint (file_eval changes no trained bit; a
 * bn_recalibrate left at 0 keeps the fingerprint runs had before the key). */
static void test_end_of_run_keys(void **state) {
    (void)state;
    cfg_experiment c, d;
    epr_err e = {0};
    assert_int_equal(cfg_load_string(GOOD, "exp.ini", NULL, 0, &c, &e), 0);
    assert_string_equal(c.file_eval, "cpu");
    assert_int_equal(c.bn_recalibrate, 0);
    const char *same[] = {"train.file_eval=device", "train.bn_recalibrate=0"};
    assert_int_equal(cfg_load_string(GOOD, "exp.ini", same, 2, &d, &e), 0);
    assert_string_equal(d.file_eval, "device");
    assert_true(cfg_fingerprint(&c) == cfg_fingerprint(&d));
    cfg_free(&d);
    const char *other[] = {"train.bn_recalibrate=200"};
    assert_int_equal(cfg_load_string(GOOD, "exp.ini", other, 1, &d, &e), 0);
    assert_int_equal(d.bn_recalibrate, 200);
    assert_true(cfg_fingerprint(&c) != cfg_fingerprint(&d));
    cfg_free(&d);
    cfg_free(&c);
    const char *bad1[] = {"train.file_eval=gpu"};
    expect_error(GOOD, bad1, 1, "exp.ini", "file_eval: unknown 'gpu' (cpu | device)");
    const char *bad2[] = {"train.bn_recalibrate=-1"};
    expect_error(GOOD, bad2, 1, "--set train.bn_recalibrate=-1", "must not be negative");
    const char *bad3[] = {"train.bn_recalibrate=100001"};
    expect_error(GOOD, bad3, 1, "exp.ini", "bn_recalibrate must be in 0..100000");
}

static void test_syntax_error(void **state) {
    (void)state;
    expect_error("[train]\nsteps = 5\nthis line has no equals sign\n", NULL, 0, "exp.ini:3", "syntax");
}

static void test_long_line(void **state) {
    (void)state;
    char text[600] = "[model]\nname = custom\nlayers = dense out=10";
    size_t n = strlen(text);
    while (n < 400) text[n++] = ' ';
    strcpy(text + n, "\n");
    expect_error(text, NULL, 0, "exp.ini:3", "too long");
}

static void test_group_errors(void **state) {
    (void)state;
    expect_error("[group.a]\ntensors = fc1.weight\ntransform = fourier\n", NULL, 0, "exp.ini:3", "fourier");
    expect_error("[group.a]\ntensors = fc1.weight\ndecoder = mlp\n", NULL, 0, "exp.ini:3", "mlp");
    expect_error("[group.a]\ntensors = fc1.weight\n[group.b]\ntensors = fc2.weight, fc1.weight\n", NULL, 0,
                 "fc1.weight", "in group a and in group b");
    expect_error("[group.a]\ntensors = fc1.weight\ntransform = dft\n", NULL, 0, "group.a", "conv-affine");
    expect_error("[group.a]\ntensors = conv1.weight\ndecoder = conv-affine\ntransform = dft\nell = 6\n", NULL, 0,
                 "group.a", "kernel");
    expect_error("[group.a]\ntensors = fc1.weight\nell = 0\n", NULL, 0, "exp.ini:3", "ell");
    /* a transform with ell omitted (1): named at the transform's line; with ell = 1 at ell's */
    expect_error("[group.a]\ntensors = conv1.weight\ndecoder = conv-affine\ntransform = dft\n", NULL, 0,
                 "exp.ini:4: [group.a] ell", "omitted");
    expect_error("[group.a]\ntensors = conv1.weight\ndecoder = conv-affine\nell = 1\ntransform = learned\n", NULL, 0,
                 "exp.ini:4: [group.a] ell", "needs ell = the kernel");
    expect_error("[group.a]\ntensors = fc1.weight\nsize = 3\n", NULL, 0, "exp.ini:3", "size");
    expect_error("[group.]\ntensors = fc1.weight\n", NULL, 0, "exp.ini:2", "group name");
}

static void test_bad_overrides(void **state) {
    (void)state;
    const char *a[] = {"lambda=1"};
    expect_error("", a, 1, "--set lambda=1", "section.key=value");
    const char *b[] = {"epr.lambda"};
    expect_error("", b, 1, "--set epr.lambda", "section.key=value");
    const char *c[] = {"epr.lamda=1e-6"};
    expect_error("", c, 1, "--set epr.lamda=1e-6", "lamda");
}

static void test_custom_layers_multiline(void **state) {
    (void)state;
    const char *t = "[model]\nname = custom\nlayers = dense out=100 name=h\n  relu\n  dense out=10 name=out\n";
    cfg_experiment c;
    epr_err e = {0};
    assert_int_equal(cfg_load_string(t, "exp.ini", NULL, 0, &c, &e), 0);
    assert_string_equal(c.layers, "dense out=100 name=h\nrelu\ndense out=10 name=out");
    cfg_free(&c);
    expect_error("[model]\nname = lenet300-100\nlayers = dense out=10\n", NULL, 0, "exp.ini", "custom");
    expect_error("[model]\nname = custom\n", NULL, 0, "exp.ini", "layers");
}

static void test_missing_file(void **state) {
    (void)state;
    cfg_experiment c;
    epr_err e = {0};
    assert_int_equal(cfg_load("/nonexistent/dir/x.ini", NULL, 0, &c, &e), EPR_EIO);
    assert_non_null(strstr(e.msg, "/nonexistent/dir/x.ini"));
}

/* [baseline]: methods, pruning schedule, per-group fractions. */
static void test_baseline_keys(void **state) {
    (void)state;
    const char *plain = "epr.enabled=false";
    const char *o1[] = {plain, "baseline.post=float32,uniform4,uniform1"};
    expect_error(GOOD, o1, 2, "exp.ini", "unknown method 'uniform1'");
    const char *o2[] = {plain, "baseline.prune=0.9"};
    expect_error(GOOD, o2, 2, "exp.ini", "prune_at must be in 1..steps-1");
    const char *o3[] = {plain, "baseline.prune=0.9", "baseline.prune_at=50", "baseline.kmeans_bits=4",
                        "baseline.kmeans_at=40"};
    expect_error(GOOD, o3, 5, "exp.ini", "must not come before prune_at");
    const char *o4[] = {"baseline.prune=0.9", "baseline.prune_at=50"};
    expect_error(GOOD, o4, 2, "exp.ini", "epr.enabled = false");
    const char *o5[] = {plain, "baseline.prune=0.9", "baseline.prune_at=50", "baseline.prune_groups=rest:0.5,fc9:0.1"};
    expect_error(GOOD, o5, 4, "exp.ini", "no group named 'fc9'");
    const char *o6[] = {plain, "baseline.prune=0.9", "baseline.prune_at=50", "baseline.prune_groups=rest:1"};
    expect_error(GOOD, o6, 4, "exp.ini", "'rest:1' is not GROUP:FRACTION");
    const char *o8[] = {plain, "baseline.prune=0.9", "baseline.prune_at=50",
                        "baseline.prune_groups=rest:0.5, rest:0.2"};
    expect_error(GOOD, o8, 4, "exp.ini", "group 'rest' is given twice");
    const char *o7[] = {plain, "baseline.prune_groups=rest:0.5"};
    expect_error(GOOD, o7, 2, "exp.ini", "needs prune > 0");
    const char *ok[] = {plain, "baseline.prune=0.9", "baseline.prune_at=50", "baseline.prune_groups=rest:0.25"};
    cfg_experiment c;
    epr_err e = {0};
    assert_int_equal(cfg_load_string(GOOD, "exp.ini", ok, 4, &c, &e), 0);
    int own = -1;
    assert_float_equal(cfg_group_prune(&c, 0, &own), 0.9f, 1e-7); /* conv: the global fraction */
    assert_int_equal(own, 0);
    assert_float_equal(cfg_group_prune(&c, 1, &own), 0.25f, 1e-7); /* rest: its own */
    assert_int_equal(own, 1);
    cfg_free(&c);
}

static void test_shipped_experiments_parse(void **state) {
    (void)state;
    const char *names[] = {"lenet300-100_mnist10k", "lenet300-100_fashion",      "lenet5-caffe_mnist10k",
                           "lenet5-caffe_fashion",  "lenet5-caffe_mnist10k_dft", "lenet5-caffe_fashion_dft"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/experiments/%s.ini", EPR_SOURCE_DIR, names[i]);
        cfg_experiment c;
        epr_err e = {0};
        int rc = cfg_load(path, NULL, 0, &c, &e);
        if (rc) fail_msg("%s: %s", path, e.msg);
        assert_true(c.epr_enabled);
        assert_true(c.n_groups >= 3);
        cfg_free(&c);
    }
}

/* Duplicate keys and sections are errors naming both lines; a header
 * without its ']' is an error at its own line. */
static void test_duplicates(void **state) {
    (void)state;
    expect_error("[train]\nsteps = 5\nbatch = 3\nsteps = 6\n", NULL, 0, "exp.ini:4: [train] steps is given twice",
                 "(first at line 2)");
    expect_error("[train]\nsteps = 5\nsteps = 6\n", NULL, 0, "exp.ini:3: [train] steps is given twice", "line 2");
    expect_error("[train]\nsteps = 5\n[epr]\nlambda = 1\n[train]\nbatch = 3\n", NULL, 0,
                 "exp.ini:5: section [train] is given twice", "(first at line 1)");
    expect_error("[group.fc]\ntensors = fc1.weight\n[group.b]\ntensors = fc1.bias\n[group.fc]\nell = 1\n", NULL, 0,
                 "exp.ini:5: section [group.fc] is given twice", "(first at line 1)");
    expect_error("[group.fc]\ntensors = fc1.weight\ntensors = fc2.weight\n", NULL, 0,
                 "exp.ini:3: [group.fc] tensors is given twice", "(first at line 2)");
    expect_error("[data]\nset = idx\n[train\nsteps = 5\n", NULL, 0, "exp.ini:3: unterminated section header '[train'",
                 NULL);
    /* continuation lines are not duplicates; a --set is an override, not a duplicate */
    const char *ok = "[model]\nname = custom\nlayers = dense out=16 name=fc1\n  relu\n  dense out=10 name=fc2\n"
                     "[group.fc]\ntensors = fc1.weight,\n  fc2.weight\n[group.bias]\ntensors = fc1.bias, fc2.bias\n";
    const char *ov[] = {"train.steps=7", "train.steps=8"};
    cfg_experiment c;
    epr_err e = {0};
    assert_int_equal(cfg_load_string(ok, "exp.ini", ov, 2, &c, &e), 0);
    assert_int_equal(c.steps, 8);
    assert_int_equal(c.groups[0].n_tensors, 2);
    assert_int_equal(c.n_layer_lines, 3);
    assert_int_equal(c.layer_lines[2], 5);
    cfg_free(&c);
}

/* A layer the nn layer refuses is named by file and line (experiment_layers_error),
 * with the valid types or keys. */
static void expect_layer_error(const char *text, const char *const *ov, int nov, const char *needle1,
                               const char *needle2) {
    cfg_experiment c;
    epr_err e = {0};
    assert_int_equal(cfg_load_string(text, "exp.ini", ov, nov, &c, &e), 0);
    nn_model *net = NULL;
    int rc = nn_model_build(c.layers, 1, 12, 12, 4, &net, &e);
    assert_int_equal(rc, EPR_EARG);
    assert_int_equal(experiment_layers_error(&c, &e), EPR_EARG);
    if (!strstr(e.msg, needle1)) fail_msg("message '%s' lacks '%s'", e.msg, needle1);
    if (needle2 && !strstr(e.msg, needle2)) fail_msg("message '%s' lacks '%s'", e.msg, needle2);
    cfg_free(&c);
}

static void test_layer_errors_name_lines(void **state) {
    (void)state;
    expect_layer_error("[data]\nset = idx\ntrain_images = a\ntrain_labels = b\ntest_images = c\ntest_labels = d\n"
                       "[model]\nname = custom\nlayers = dense out=16 name=fc1\n  # a comment line\n\n  reluu\n"
                       "  dense out=10\n",
                       NULL, 0, "exp.ini:12: [model] layers: layer 2: unknown layer type 'reluu' (types: dense, conv,",
                       NULL);
    expect_layer_error("[model]\nname = custom\nlayers = dense out=16;relu\n  conv out=4 kernel=3\n", NULL, 0,
                       "exp.ini:4: [model] layers: layer 3 (conv): unknown key 'kernel'",
                       "(keys of conv: name in out k stride pad bias)");
    expect_layer_error("[model]\nname = custom\nlayers =\n  dense out=16\n  conv out=4 k=30\n", NULL, 0,
                       "exp.ini:5: [model] layers: layer 2 (conv)", NULL);
    const char *ov[] = {"model.layers=dense out=4; relu k=2"};
    expect_layer_error("[model]\nname = custom\nlayers = dense out=16\n", ov, 1,
                       "exp.ini: --set model.layers: layer 2 (relu): unknown key 'k'", NULL);
}

/* Patterns wherever tensor names are: fc*.bias in a group's tensors. */
static void test_group_patterns(void **state) {
    (void)state;
    const char *base = "[model]\nname = custom\nlayers = dense out=16 name=fc1\n  relu\n  dense out=8 name=fc2\n"
                       "  relu\n  dense out=10 name=out\n[epr]\nenabled = true\n";
    char text[1024];
    snprintf(text, sizeof text, "%s[group.w]\ntensors = *.weight\n[group.b]\ntensors = fc*.bias, out.bias\n", base);
    cfg_experiment c;
    epr_err e = {0};
    nn_model *net = NULL;
    assert_int_equal(cfg_load_string(text, "exp.ini", NULL, 0, &c, &e), 0);
    assert_int_equal(nn_model_build(c.layers, 1, 12, 12, 4, &net, &e), 0);
    assert_true(experiment_has_patterns(&c));
    if (experiment_expand_patterns(&c, net, &e)) fail_msg("%s", e.msg);
    assert_false(experiment_has_patterns(&c));
    assert_int_equal(c.groups[0].n_tensors, 3);
    assert_string_equal(c.groups[0].tensors[0], "fc1.weight");
    assert_string_equal(c.groups[0].tensors[2], "out.weight");
    assert_int_equal(c.groups[1].n_tensors, 3);
    assert_string_equal(c.groups[1].tensors[0], "fc1.bias");
    assert_string_equal(c.groups[1].tensors[1], "fc2.bias");
    assert_string_equal(c.groups[1].tensors[2], "out.bias");
    cfg_free(&c);
    /* an explicit name wins over a pattern; uncompressed tensors are left out */
    snprintf(text, sizeof text, "%s[group.w]\ntensors = *\n[group.o]\ntensors = out.weight\n", base);
    assert_int_equal(cfg_load_string(text, "exp.ini", (const char *[]){"epr.uncompressed=*.bias"}, 1, &c, &e), 0);
    if (experiment_expand_patterns(&c, net, &e)) fail_msg("%s", e.msg);
    assert_int_equal(c.groups[0].n_tensors, 2);
    assert_string_equal(c.groups[0].tensors[1], "fc2.weight");
    cfg_free(&c);
    /* a tensor two groups' patterns match; a pattern that matches nothing */
    snprintf(text, sizeof text, "%s[group.a]\ntensors = fc*\n[group.b]\ntensors = *.bias\n", base);
    assert_int_equal(cfg_load_string(text, "exp.ini", NULL, 0, &c, &e), 0);
    assert_int_not_equal(experiment_expand_patterns(&c, net, &e), 0);
    if (!strstr(e.msg, "exp.ini:11: [group.a] tensors: tensor fc1.bias matches pattern 'fc*' here and '*.bias' of "
                       "[group.b] (line 13)"))
        fail_msg("%s", e.msg);
    cfg_free(&c);
    snprintf(text, sizeof text, "%s[group.a]\ntensors = *\n[group.b]\ntensors = conv*.weight\n", base);
    assert_int_equal(cfg_load_string(text, "exp.ini", NULL, 0, &c, &e), 0);
    assert_int_not_equal(experiment_expand_patterns(&c, net, &e), 0);
    if (!strstr(e.msg, "exp.ini:13: [group.b] tensors: pattern 'conv*.weight' matches no tensor"))
        fail_msg("%s", e.msg);
    cfg_free(&c);
    nn_model_free(net);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_file),
        cmocka_unit_test(test_overrides),
        cmocka_unit_test(test_unknown_key_names_file_line_key),
        cmocka_unit_test(test_unknown_section),
        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_device_key),
        cmocka_unit_test(test_end_of_run_keys),
        cmocka_unit_test(test_syntax_error),
        cmocka_unit_test(test_long_line),
        cmocka_unit_test(test_group_errors),
        cmocka_unit_test(test_bad_overrides),
        cmocka_unit_test(test_custom_layers_multiline),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_baseline_keys),
        cmocka_unit_test(test_shipped_experiments_parse),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_layer_errors_name_lines),
        cmocka_unit_test(test_group_patterns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
