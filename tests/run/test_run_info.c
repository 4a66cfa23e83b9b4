/* tests/run/test_run_info.c — the study attributes a run file records
 * (run/run_info.h, h5run.h "Study attributes"): the method of a
 * configuration, the attributes written, and the method of a run file
 * written before the attributes existed (derived from its experiment). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../harness/harness_test_util.h"
#include "run/bitstream.h"
#include "run/config.h"
#include "run/h5run.h"
#include "run/run_info.h"

static const char *const BASE =
    "[model]\nname = custom\nlayers = conv out=4 k=3 name=conv1\n  relu\n  flatten\n  dense out=10 name=fc1\n"
    "[group.conv]\ntensors = conv1.weight\ndecoder = conv-affine\nell = 9\n"
    "[group.fc]\ntensors = fc1.weight, fc1.bias\n";

static void method_of(const char *const *ov, int n, char *m, size_t cap) {
    cfg_experiment cfg;
    epr_err err = {0};
    if (cfg_load_string(BASE, "m.ini", ov, n, &cfg, &err)) fail_msg("%s", err.msg);
    run_method(&cfg, m, cap);
    cfg_free(&cfg);
}

static void test_method(void **state) {
    (void)state;
    struct {
        const char *ov[3];
        const char *want;
    } cases[] = {
        {{"epr.enabled=true"}, "epr-sq"},
        {{"epr.enabled=true", "group.conv.transform=dft"}, "epr-dft"},
        {{"epr.enabled=true", "group.conv.transform=random-orthogonal"}, "epr-ro"},
        {{"epr.enabled=true", "group.conv.transform=learned"}, "epr-learned"},
        {{"epr.enabled=true", "group.conv.transform=identity"}, "epr-sq"},
        {{"epr.enabled=false", "group.conv.transform=dft"}, "plain"},
        {{"baseline.prune=0.9", "baseline.prune_at=10", "train.steps=100"}, "plain-pruned"},
        {{"baseline.kmeans_bits=4", "baseline.kmeans_at=10", "train.steps=100"}, "plain-pruned"},
        {{"baseline.post=float32,gzip"}, "plain"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int n = 0;
        while (n < 3 && cases[i].ov[n]) n++;
        char m[96];
        method_of(cases[i].ov, n, m, sizeof m);
        if (strcmp(m, cases[i].want)) fail_msg("case %zu: method '%s', want '%s'", i, m, cases[i].want);
    }
}

static void test_attrs(void **state) {
    (void)state;
    const char *ov[] = {"epr.enabled=true", "group.conv.transform=dft"};
    cfg_experiment cfg;
    epr_err err = {0};
    assert_int_equal(cfg_load_string(BASE, "m.ini", ov, 2, &cfg, &err), 0);
    char *files[2] = {"a/train-images", "a/train-labels"};
    dataset train = {.n = 80, .nfiles = 2, .files = files}, test = {.n = 20};
    run_info info;
    run_info_fill(&cfg, &train, &test, &info);
    h5run_attr a[RUN_INFO_MAX_ATTRS];
    int n = run_info_attrs(&info, a);
    assert_true(n <= RUN_INFO_MAX_ATTRS);
    const char *want[][2] = {{"method", "epr-dft"},
                             {"group_names", "conv,fc"},
                             {"group_decoders", "conv-affine,affine"},
                             {"group_transforms", "dft,identity"},
                             {"data_train", "a/train-images,a/train-labels"},
                             {"data_test", ""}};
    for (size_t w = 0; w < sizeof want / sizeof want[0]; w++) {
        int found = 0;
        for (int i = 0; i < n; i++)
            if (!strcmp(a[i].name, want[w][0])) {
                assert_int_equal(a[i].kind, H5RUN_ATTR_STR);
                assert_string_equal(a[i].s, want[w][1]);
                found = 1;
            }
        if (!found) fail_msg("no attribute %s", want[w][0]);
    }
    assert_int_equal(info.n_train, 80);
    assert_int_equal(info.n_test, 20);
    assert_true(info.prune == 0 && info.kmeans_bits == 0);
    cfg_free(&cfg);
}

/* A run file with and without the "method" attribute. */
static void write_run(const char *path, const char *text, int64_t epr, const char *method) {
    h5run_attr a[8];
    int n = 0;
    a[n++] = h5run_i64("schema_version", 1);
    a[n++] = h5run_str("experiment", text);
    a[n++] = h5run_str("experiment_path", "old.ini");
    dataset d = {.n = 1, .c = 1, .h = 8, .w = 8, .n_classes = 10};
    char *arch = bitstream_arch_text("conv out=4 k=3 name=conv1\nrelu\nflatten\ndense out=10 name=fc1\n", &d);
    assert_non_null(arch);
    a[n++] = h5run_str("architecture", arch);
    a[n++] = h5run_i64("epr_enabled", epr);
    if (method) a[n++] = h5run_str("method", method);
    h5run_desc desc = {.attrs = a, .n_attrs = n};
    epr_err err = {0};
    int rc = h5run_write(path, &desc, &err);
    free(arch);
    if (rc) fail_msg("%s", err.msg);
}

static void test_old_run_file(void **state) {
    (void)state;
    char dir[256];
    assert_int_equal(test_mkdtemp(dir, sizeof dir, "/tmp/epr_run_info_XXXXXX"), 0);
    const char *p = test_join(dir, "run.h5");
    char text[2048];
    snprintf(text, sizeof text, "%s[epr]\nenabled = true\n; --set group.conv.transform=dft\n", BASE);
    struct {
        int64_t epr;
        const char *method, *want;
    } cases[] = {{1, NULL, "epr-dft"}, {0, NULL, "plain"}, {1, "epr-learned", "epr-learned"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_run(p, text, cases[i].epr, cases[i].method);
        h5run *h;
        epr_err err = {0};
        assert_int_equal(h5run_open(p, &h, &err), 0);
        char m[96] = "";
        int rc = run_info_method(h, p, m, sizeof m, &err);
        h5run_close(h);
        if (rc) fail_msg("%s", err.msg);
        assert_string_equal(m, cases[i].want);
    }
    /* an old file whose experiment does not load: an error that says why */
    write_run(p, "[model]\nname = no-such-model\n", 1, NULL);
    h5run *h;
    epr_err err = {0};
    assert_int_equal(h5run_open(p, &h, &err), 0);
    char m[96];
    assert_int_not_equal(run_info_method(h, p, m, sizeof m, &err), 0);
    h5run_close(h);
    assert_non_null(strstr(err.msg, "no 'method' attribute"));
    assert_int_equal(test_rmtree(dir), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_method),
        cmocka_unit_test(test_attrs),
        cmocka_unit_test(test_old_run_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
