/* tests/harness/test_dataset_files.c — the prepared data sets load and have
 * the documented shape (scripts/setup.sh makes them; each test is skipped
 * when data/ has not been prepared, so a bare checkout still passes).
 * MNIST-10k: 8,004 / 1,996 images, ordered by class, class D holding the
 * images i of D.json with i % 5 != 4 (train) or == 4 (test).
 * Fashion-MNIST: 60,000 / 10,000, 6,000 / 1,000 per class. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include <cmocka.h>

#include "run/dataset.h"

static const int mnist10k_per_class[10] = {1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978};

/* Loads DATA/dir/{prefix}-images-idx3-ubyte{ext} and the labels, or skips. */
static void load_or_skip(const char *dir, const char *prefix, const char *ext, dataset *d) {
    char img[1024], lab[1024];
    const char *root = EPR_SOURCE_DIR;
    snprintf(img, sizeof img, "%s/data/%s/%s-images-idx3-ubyte%s", root, dir, prefix, ext);
    snprintf(lab, sizeof lab, "%s/data/%s/%s-labels-idx1-ubyte%s", root, dir, prefix, ext);
    if (access(img, R_OK) || access(lab, R_OK)) {
        fprintf(stderr, "skipping: %s not prepared (run scripts/setup.sh)\n", img);
        skip();
    }
    epr_err e = {0};
    if (dataset_load_idx(img, lab, d, &e)) fail_msg("%s", e.msg);
    assert_int_equal(d->c, 1);
    assert_int_equal(d->h, 28);
    assert_int_equal(d->w, 28);
}

static void check_mnist10k(const char *prefix, int test) {
    dataset d;
    load_or_skip("mnist10k", prefix, "", &d);
    int total = 0, pos = 0;
    for (int c = 0; c < 10; c++) {
        int m = mnist10k_per_class[c], n_test = m / 5, /* i % 5 == 4: one per full block of 5 */
            want = test ? n_test : m - n_test;
        total += want;
        for (int k = 0; k < want && pos + k < d.n; k++) assert_int_equal(d.labels[pos + k], c);
        pos += want;
    }
    assert_int_equal(d.n, total);
    assert_int_equal(d.n, test ? 1996 : 8004);
    dataset_free(&d);
}

static void test_mnist10k_train(void **state) {
    (void)state;
    check_mnist10k("train", 0);
}
static void test_mnist10k_test(void **state) {
    (void)state;
    check_mnist10k("t10k", 1);
}

static void check_fashion(const char *prefix, int n) {
    dataset d;
    load_or_skip("fashion-mnist", prefix, ".gz", &d);
    assert_int_equal(d.n, n);
    int count[10] = {0};
    for (int i = 0; i < d.n; i++) count[d.labels[i]]++;
    for (int c = 0; c < 10; c++) assert_int_equal(count[c], n / 10);
    dataset_free(&d);
}

static void test_fashion_train(void **state) {
    (void)state;
    check_fashion("train", 60000);
}
static void test_fashion_test(void **state) {
    (void)state;
    check_fashion("t10k", 10000);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mnist10k_train),
        cmocka_unit_test(test_mnist10k_test),
        cmocka_unit_test(test_fashion_train),
        cmocka_unit_test(test_fashion_test),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
