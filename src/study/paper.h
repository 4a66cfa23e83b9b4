/* study/paper — the paper's Table 1 (Oktay et al., DESIGN.md §6) from its
 * one copy, data/paper_table1.tsv, whose bytes the build embeds (the
 * Python analysis reads the same file).  Sizes in bytes (the paper's KB and
 * MB are decimal), errors in percent.
 * May call: libc. */
#ifndef EPR_STUDY_PAPER_H
#define EPR_STUDY_PAPER_H

#include <stddef.h>

typedef struct {
    char model[32];    /* our built-in network name, e.g. lenet300-100 */
    char data[16];     /* the paper's data set: mnist (full), cifar10, imagenet */
    char label[48];    /* e.g. LeNet300-100 */
    char transform[8]; /* SQ | DFT */
    double float32_bytes, float32_error, epr_bytes, epr_error, ratio;
} paper_row;

/* All rows (parsed once); *n their count.  NULL with a message in why
 * (and *n = 0) when the embedded table is malformed (a build from a broken
 * data/paper_table1.tsv; tests/sweep/test_paper.c guards the file). */
const paper_row *paper_table(int *n, char *why, size_t cap);

/* The row for a network trained on one of our data sets, or NULL when the
 * paper has no figure for that pair (Fashion-MNIST: never).  *note: "" when
 * the data are the paper's, "full MNIST" for our mnist10k (the paper's is
 * the full MNIST: its figures are orientation, not a like-for-like
 * comparison). */
const paper_row *paper_lookup(const char *model, const char *data_set, const char **note);

/* The paper's data set that ours is compared with ("mnist" for mnist10k),
 * or NULL. */
const char *paper_data_of(const char *data_set);

#endif
