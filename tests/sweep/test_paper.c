/* tests/sweep/test_paper.c — the paper's Table 1 as `epr pareto` sees it
 * (study/paper.h): data/paper_table1.tsv, embedded at build time, parses
 * into its six rows with the figures of DESIGN.md §6; a network is matched
 * on its own data set only (MNIST-10k against the full MNIST, marked so;
 * never Fashion-MNIST). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "study/paper.h"

static void test_table(void **st) {
    (void)st;
    int n = 0;
    char why[160] = "";
    const paper_row *r = paper_table(&n, why, sizeof why);
    if (!r) fail_msg("%s", why);
    assert_int_equal(n, 6);
    assert_string_equal(r[0].model, "lenet300-100");
    assert_true(r[0].epr_bytes == 8560 && r[0].epr_error == 1.9 && r[0].ratio == 124);
    assert_true(r[0].float32_bytes == 1.06e6 && r[0].float32_error == 1.6);
    assert_string_equal(r[1].model, "lenet5-caffe");
    assert_true(r[1].epr_bytes == 2840 && r[1].ratio == 606);
    assert_string_equal(r[3].transform, "DFT");
}

static void test_lookup(void **st) {
    (void)st;
    const char *note = NULL;
    const paper_row *r = paper_lookup("lenet300-100", "mnist10k", &note);
    assert_non_null(r);
    assert_string_equal(note, "full MNIST");
    assert_string_equal(r->label, "LeNet300-100");
    assert_null(paper_lookup("lenet300-100", "fashion-mnist", &note)); /* the paper has none */
    assert_null(paper_lookup("lenet300-100", "cifar10", &note));       /* not the paper's pair */
    assert_null(paper_lookup("custom", "mnist10k", &note));
    assert_null(paper_lookup("resnet18", "pack", &note)); /* packed images: unknown which */
    r = paper_lookup("vgg16-cifar", "cifar10", &note);
    assert_non_null(r);
    assert_string_equal(note, "");
    assert_true(r->epr_bytes == 101e3 && r->epr_error == 10.0);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_table), cmocka_unit_test(test_lookup)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
