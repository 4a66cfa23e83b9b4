/* test_experiments — every shipped experiment file (experiments/NAME.ini) parses, and its groups
 * validate against its own network: the model is built and
 * rp_model_create is called with the file's groups and uncompressed
 * patterns, which rejects an unknown tensor name, a tensor in two groups,
 * an ell that does not divide a tensor, and a tensor left in no group.
 * Also: group tensor lists continue over indented lines.
 *
 * Conv-net tensor shapes do not depend on the input size, so set=pack
 * (ImageNet, crop 224) networks are built at 64x64 to keep this quick. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "epr/epr_model.h"
#include "run/config.h"
#include "run/experiment.h"
#include "nn/nn.h"

static void input_shape(const cfg_experiment *cfg, int *c, int *hw) {
    if (!strcmp(cfg->data_set, "cifar10"))
        *c = 3, *hw = 32;
    else if (!strcmp(cfg->data_set, "pack"))
        *c = 3, *hw = 64;
    else
        *c = 1, *hw = 28;
    *hw += 2 * cfg->pad; /* [data] pad: the network takes the padded image */
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void check_experiment(const char *path) {
    cfg_experiment cfg;
    epr_err err = {0};
    int rc = cfg_load(path, NULL, 0, &cfg, &err);
    if (rc) fail_msg("%s", err.msg);
    int c, hw;
    input_shape(&cfg, &c, &hw);
    nn_model *net = NULL;
    rc = nn_model_build(cfg.layers, c, hw, hw, 1, &net, &err);
    if (rc) fail_msg("%s: network: %s", path, err.msg);
    rp_group_def groups[CFG_MAX_GROUPS];
    experiment_groups(&cfg, groups);
    if (cfg.epr_enabled) assert_true(cfg.n_groups > 0);
    rp_model *em = NULL;
    rc = rp_model_create(net, groups, cfg.epr_enabled ? cfg.n_groups : 0, cfg.epr_enabled ? cfg.uncompressed : NULL,
                         cfg.seed, &em, &err);
    if (rc) fail_msg("%s: groups: %s", path, err.msg);
    size_t compressed = rp_model_num_compressed(em);
    printf("  %-40s %-13s %9zu params, %d groups, %9zu compressed\n", path + strlen(EPR_SOURCE_DIR) + 1, cfg.model_name,
           nn_model_num_params(net), rp_model_num_groups(em), compressed);
    /* The big nets compress every weight: what stays float32 is only the
     * biases / BN betas. */
    if (cfg.epr_enabled && strncmp(cfg.model_name, "lenet", 5)) {
        size_t biases = 0;
        for (int t = 0; t < nn_model_num_tensors(net); t++)
            if (nn_model_tensor(net, t)->kind == NN_PARAM_BIAS) biases += nn_model_tensor(net, t)->size;
        assert_int_equal(compressed + biases, nn_model_num_params(net));
    }
    rp_model_free(em);
    nn_model_free(net);
    cfg_free(&cfg);
}

static void test_shipped_experiments(void **st) {
    (void)st;
    const char *dir = EPR_SOURCE_DIR "/experiments";
    DIR *d = opendir(dir);
    assert_non_null(d);
    char *names[256];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 256) {
        size_t l = strlen(e->d_name);
        if (l > 4 && !strcmp(e->d_name + l - 4, ".ini")) names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    const char *required[] = {"vgg16_cifar10_sq.ini",       "vgg16_cifar10_dft.ini",     "resnet20-4_cifar10_sq.ini",
                              "resnet20-4_cifar10_dft.ini", "resnet18_imagenet_dft.ini", "resnet50_imagenet_dft.ini"};
    for (size_t r = 0; r < sizeof required / sizeof required[0]; r++) {
        int found = 0;
        for (int i = 0; i < n; i++) found |= !strcmp(names[i], required[r]);
        if (!found) fail_msg("experiments/%s is missing", required[r]);
    }
    for (int i = 0; i < n; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        check_experiment(path);
        free(names[i]);
    }
}

/* The paper's settings in the CIFAR files. */
static void test_cifar_settings(void **st) {
    (void)st;
    cfg_experiment cfg;
    epr_err err = {0};
    assert_int_equal(cfg_load(EPR_SOURCE_DIR "/experiments/resnet20-4_cifar10_dft.ini", NULL, 0, &cfg, &err), 0);
    assert_string_equal(cfg.data_set, "cifar10");
    assert_string_equal(cfg.augment, "crop-flip");
    assert_true(cfg.normalize);
    assert_string_equal(cfg.optimizer, "sgd");
    assert_int_equal(cfg.batch, 128);
    assert_int_equal(cfg.steps, 512000);
    assert_int_equal(cfg.n_milestones, 3);
    assert_int_equal(cfg.lr_milestones[0], 256000);
    assert_int_equal(cfg.lr_milestones[2], 448000);
    assert_float_equal(cfg.lr_decay, 0.2f, 1e-7);
    assert_float_equal(cfg.momentum, 0.9f, 1e-7);
    assert_string_equal(cfg.groups[0].transform, "dft");
    assert_int_equal(cfg.groups[0].ell, 9);
    assert_int_equal(cfg.groups[0].kh, 3);
    assert_int_equal(cfg.groups[0].n_tensors, 19); /* over four lines */
    assert_string_equal(cfg.groups[0].tensors[18], "layer3_2_conv2.weight");
    cfg_free(&cfg);
}

static void test_tensor_continuation(void **st) {
    (void)st;
    const char *text = "[model]\nname = lenet300-100\n[epr]\nenabled = true\n"
                       "[group.a]\ntensors = fc1.weight,\n  fc2.weight\n   fc3.weight\n"
                       "[group.b]\ntensors = fc1.bias, fc2.bias\n  fc3.bias\n";
    cfg_experiment cfg;
    epr_err err = {0};
    assert_int_equal(cfg_load_string(text, "t.ini", NULL, 0, &cfg, &err), 0);
    assert_int_equal(cfg.groups[0].n_tensors, 3);
    assert_string_equal(cfg.groups[0].tensors[2], "fc3.weight");
    assert_int_equal(cfg.groups[1].n_tensors, 3);
    cfg_free(&cfg);
    /* a repeated key is an error naming both lines (test_config.c: test_duplicates) */
    const char *twice = "[group.b]\ntensors = fc1.bias, fc2.bias\ntensors = fc3.bias\n";
    assert_int_equal(cfg_load_string(twice, "t.ini", NULL, 0, &cfg, &err), EPR_EARG);
    assert_non_null(strstr(err.msg, "t.ini:3: [group.b] tensors is given twice (first at line 2)"));
    /* an override replaces the whole list */
    const char *ov[] = {"group.a.tensors=fc1.weight"};
    assert_int_equal(cfg_load_string(text, "t.ini", ov, 1, &cfg, &err), 0);
    assert_int_equal(cfg.groups[0].n_tensors, 1);
    cfg_free(&cfg);
    /* set=pack keys */
    const char *pk = "[data]\nset = pack\ncrop = 224\naugment = rrc-flip\n";
    assert_int_equal(cfg_load_string(pk, "p.ini", NULL, 0, &cfg, &err), 0);
    assert_int_equal(cfg.crop, 224);
    assert_string_equal(cfg.train_pack, "imagenet/train.pack");
    cfg_free(&cfg);
    const char *bad = "[data]\nset = cifar10\naugment = rrc-flip\n";
    assert_int_equal(cfg_load_string(bad, "b.ini", NULL, 0, &cfg, &err), EPR_EARG);
    assert_non_null(strstr(err.msg, "rrc-flip needs set = pack"));
    cfg_free(&cfg);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shipped_experiments),
        cmocka_unit_test(test_cifar_settings),
        cmocka_unit_test(test_tensor_continuation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
