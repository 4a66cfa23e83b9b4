/* tests/harness/test_config_interop.c — the [model] keys of issue 16:
 * batchnorm_affine rewrites every batchnorm entry of the layer spec
 * (built-in or custom, comments and explicit affine= respected), and init
 * is kept as given. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "run/config.h"

static void load(const char *text, cfg_experiment *cfg) {
    epr_err err = {0};
    if (cfg_load_string(text, "t.ini", NULL, 0, cfg, &err)) fail_msg("%s", err.msg);
}

static int count(const char *s, const char *pat) {
    int n = 0;
    for (const char *p = strstr(s, pat); p; p = strstr(p + 1, pat)) n++;
    return n;
}

static void test_custom(void **state) {
    (void)state;
    cfg_experiment cfg;
    load("[model]\nname = custom\nbatchnorm_affine = true\ninit = w.npz\n"
         "layers = conv out=4 k=3 name=c; batchnorm name=b1 # a comment\n"
         "  batchnorm affine=0 name=b2\n  batchnormx\n  relu; batchnorm\n  dense out=10\n",
         &cfg);
    assert_string_equal(cfg.layers, "conv out=4 k=3 name=c; batchnorm name=b1 affine=1 # a comment\n"
                                    "batchnorm affine=0 name=b2\nbatchnormx\nrelu; batchnorm affine=1\ndense out=10");
    assert_string_equal(cfg.model_init, "w.npz");
    cfg_free(&cfg);
    load("[model]\nname = custom\nlayers = batchnorm\n", &cfg);
    assert_string_equal(cfg.layers, "batchnorm");
    assert_string_equal(cfg.model_init, "");
    cfg_free(&cfg);
}

static void test_builtin(void **state) {
    (void)state;
    cfg_experiment cfg;
    load("[model]\nname = resnet18\n", &cfg);
    const int n_bn = count(cfg.layers, "batchnorm");
    assert_int_equal(n_bn, 20); /* bn1 + 2 per basic block x 8 + 3 downsample */
    assert_int_equal(count(cfg.layers, "affine=1"), 0);
    cfg_free(&cfg);
    load("[model]\nname = resnet18\nbatchnorm_affine = true\n", &cfg);
    assert_int_equal(count(cfg.layers, "affine=1"), n_bn);
    cfg_free(&cfg);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_custom),
        cmocka_unit_test(test_builtin),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
