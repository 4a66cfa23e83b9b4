/* run/data_sets.c — see data_sets.h. */
#include "run/data_sets.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static void resolve(const cfg_experiment *cfg, const char *rel, char *out, size_t n) {
    if (rel[0] == '/')
        snprintf(out, n, "%s", rel);
    else
        snprintf(out, n, "%s/%s", cfg->data_root, rel);
}

static int load_idx_pair(const cfg_experiment *cfg, const char *img, const char *lab, dataset *d, epr_err *err) {
    char a[2100], b[2100];
    resolve(cfg, img, a, sizeof a);
    resolve(cfg, lab, b, sizeof b);
    return dataset_load_idx(a, b, d, err);
}

static int load_cifar_list(const cfg_experiment *cfg, const char *list, dataset *d, epr_err *err) {
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", list);
    static char paths[16][2100];
    const char *ptrs[16];
    int n = 0;
    for (char *tok = strtok(buf, ", "); tok; tok = strtok(NULL, ", ")) {
        RETURN_ERROR_IF(n == 16, err, EPR_EARG, "%s: [data] more than 16 CIFAR files", cfg->path);
        resolve(cfg, tok, paths[n], sizeof paths[n]);
        ptrs[n] = paths[n];
        n++;
    }
    RETURN_ERROR_IF(n == 0, err, EPR_EARG, "%s: [data] empty CIFAR file list", cfg->path);
    return dataset_load_cifar(ptrs, n, d, err);
}

int data_validation_count(const cfg_experiment *cfg, int n) {
    const double v = cfg->validation;
    return v <= 0 ? 0 : v < 1 ? (int)lround(v * n) : (int)v;
}

int data_load_experiment(const cfg_experiment *cfg, dataset *train, dataset *test, epr_err *err) {
    return data_load_experiment_val(cfg, train, NULL, test, err);
}

int data_load_experiment_val(const cfg_experiment *cfg, dataset *train, dataset *val, dataset *test, epr_err *err) {
    const char *s = cfg->data_set;
    if (val) memset(val, 0, sizeof *val);
    const char *hint = "run scripts/setup.sh to prepare the bundled data sets";
    int rc;
    if (!strcmp(s, "mnist10k")) {
        rc = load_idx_pair(cfg, "mnist10k/train-images-idx3-ubyte", "mnist10k/train-labels-idx1-ubyte", train, err);
        if (!rc)
            rc = load_idx_pair(cfg, "mnist10k/t10k-images-idx3-ubyte", "mnist10k/t10k-labels-idx1-ubyte", test, err);
    } else if (!strcmp(s, "fashion-mnist")) {
        rc = load_idx_pair(cfg, "fashion-mnist/train-images-idx3-ubyte.gz", "fashion-mnist/train-labels-idx1-ubyte.gz",
                           train, err);
        if (!rc)
            rc = load_idx_pair(cfg, "fashion-mnist/t10k-images-idx3-ubyte.gz",
                               "fashion-mnist/t10k-labels-idx1-ubyte.gz", test, err);
    } else if (!strcmp(s, "idx")) {
        rc = load_idx_pair(cfg, cfg->train_images, cfg->train_labels, train, err);
        if (!rc) rc = load_idx_pair(cfg, cfg->test_images, cfg->test_labels, test, err);
        hint = NULL;
    } else if (!strcmp(s, "pack")) {
        /* both splits report crop x crop (the network's input) when crop is
         * set; the stored images stay larger (dataset.h) */
        char a[2100], b[2100];
        resolve(cfg, cfg->train_pack, a, sizeof a);
        resolve(cfg, cfg->test_pack, b, sizeof b);
        rc = dataset_load_pack(a, cfg->crop, train, err);
        if (!rc) rc = dataset_load_pack(b, cfg->crop, test, err);
        hint = NULL;
    } else {
        rc = load_cifar_list(cfg, cfg->cifar_train, train, err);
        if (!rc) rc = load_cifar_list(cfg, cfg->cifar_test, test, err);
        hint = NULL;
    }
    if (!rc) {
        snprintf(train->name, sizeof train->name, "%s", s);
        snprintf(test->name, sizeof test->name, "%s", s);
    }
    const int n_val = !rc && val ? data_validation_count(cfg, train->n) : 0;
    if (n_val) {
        if (n_val >= train->n)
            rc = cmn_fail(err, EPR_EARG, "%s: [data] validation: %d of the %d training images leaves none to train on",
                          cfg->path, n_val, train->n);
        else
            rc = dataset_split(train, n_val, DATA_VALIDATION_SEED, val, err);
    }
    if (rc && hint && err && rc == EPR_EIO) {
        size_t l = strlen(err->msg);
        snprintf(err->msg + l, sizeof err->msg - l, " (%s)", hint);
    }
    /* the border first: the statistics then count it as pixels of value 0,
     * the network's input is the padded image (docs/format.md §6) */
    if (!rc && cfg->pad) {
        rc = dataset_pad(train, cfg->pad, err);
        if (!rc) rc = dataset_pad(test, cfg->pad, err);
        if (rc && err) {
            char m[sizeof err->msg];
            memcpy(m, err->msg, sizeof m);
            snprintf(err->msg, sizeof err->msg, "%.200s: [data] pad = %d: %.280s", cfg->path, cfg->pad, m);
        }
    }
    if (!rc && cfg->normalize) {
        /* the training set's statistics, applied to both splits */
        /* a packed set may be far larger than memory: 10,000 images are
         * plenty for three means and deviations */
        rc = strcmp(s, "pack") ? dataset_set_norm_from_data(train, err) : dataset_set_norm_sampled(train, 10000, err);
        if (!rc) {
            test->normalize = 1;
            memcpy(test->mean, train->mean, sizeof test->mean);
            memcpy(test->std, train->std, sizeof test->std);
            if (val && val->n) {
                val->normalize = 1;
                memcpy(val->mean, train->mean, sizeof val->mean);
                memcpy(val->std, train->std, sizeof val->std);
            }
        }
    }
    if (rc) {
        dataset_free(train);
        dataset_free(test);
        if (val) dataset_free(val);
        return rc;
    }
    if (train->c != test->c || train->h != test->h || train->w != test->w)
        rc = cmn_fail(err, EPR_EFORMAT, "%s: train images are %dx%dx%d but test images are %dx%dx%d", cfg->path,
                      train->c, train->h, train->w, test->c, test->h, test->w);
    return rc;
}
