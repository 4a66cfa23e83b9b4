/* run/bitstream — between a trained rp_model and a .epr file: the
 * architecture text, encoding through the codec, rebuilding a runnable
 * network from a file alone, and evaluating it.  `epr train` (at the end of
 * an EPR run), `epr compress`, `epr eval` and `epr inspect` all go through
 * here, so the quantised model's error printed by training and the error
 * of `epr eval` come from the same code on the same decoded weights.
 *
 * Architecture text (UTF-8, stored verbatim in the file):
 *     epr-arch 1
 *     input C H W
 *     pad P                (only when P > 0: images zero-padded by P pixels)
 *     normalize 0 | normalize C mean_1..mean_C std_1..std_C   (%.9g)
 *     layers
 *     <the nn layer spec, one layer per line>
 * (grammar, layers and input scaling: docs/format.md §6-7).
 * May call: codec, nn, epr, dataset, libc. */
#ifndef EPR_HARNESS_BITSTREAM_H
#define EPR_HARNESS_BITSTREAM_H

#include <stddef.h>

#include "epr/codec.h"
#include "epr/epr_model.h"
#include "run/dataset.h"

/* What an architecture text may ask for, checked when it is parsed, before
 * any network is built (nn_model_build allocates activations for every
 * layer, so the text alone could otherwise claim gigabytes).  A field left
 * 0 takes its default. */
typedef struct {
    int max_layers;      /* layer entries, default BITSTREAM_MAX_LAYERS */
    long long max_input; /* C*H*W of one input, default BITSTREAM_MAX_INPUT */
} bitstream_limits;
#define BITSTREAM_MAX_LAYERS 1024           /* resnet50 has 174 */
#define BITSTREAM_MAX_INPUT (3 * 512 * 512) /* a 512x512 RGB image */

typedef struct {
    int c, h, w; /* the network's input: with the border when pad > 0 */
    int pad;     /* optional line `pad P`: the data's images were zero-padded by P (dataset_pad) */
    int normalize;
    float mean[DATASET_MAX_CHANNELS], std[DATASET_MAX_CHANNELS];
    char *layers; /* malloc'd */
} bitstream_arch;

/* malloc'd architecture text for a network spec and its input data. */
char *bitstream_arch_text(const char *layers, const dataset *data);
/* Parses the text with the default limits (bitstream_arch_parse_limited:
 * the caller's, NULL for the defaults); refuses a text over them. */
int bitstream_arch_parse(const char *text, size_t len, bitstream_arch *a, epr_err *err);
int bitstream_arch_parse_limited(const char *text, size_t len, const bitstream_limits *lim, bitstream_arch *a,
                                 epr_err *err);
void bitstream_arch_free(bitstream_arch *a);

/* Encode the model's current parameters (call with the EMA values in the
 * train block).  Uncompressed tensors and batch-norm running statistics are
 * stored as float32 extras.  *bytes is malloc'd. */
int bitstream_encode(rp_model *em, const char *arch, void **bytes, size_t *len, epr_encode_report *rep, epr_err *err);

/* The tensor list of a .epr for a network, in the order every writer
 * uses: the network's tensors, then its buffers (batch-norm running
 * statistics) as float32 extras.  Tensor i goes to group group_of[i] with
 * phi phi_of[i] when group_of[i] >= 0, else it is a float32 extra (group_of
 * NULL: all extras).  ts has room for tensors + buffers; returns the count. */
int bitstream_tensor_specs(nn_model *net, const int *group_of, const int32_t *const *phi_of, epr_tensor_spec *ts);

/* Build the network described by an open file for batches up to
 * max_batch, and fill every tensor and buffer from the file.  The
 * architecture text is checked against lim (NULL: the defaults) before
 * anything is built. */
int bitstream_load_model(epr_file *f, int max_batch, const bitstream_limits *lim, nn_model **net, bitstream_arch *arch,
                         epr_err *err);

/* The training data set recorded in a layer spec (the first line
 * "# data SET N" that bitstream_arch_text writes when the data set
 * has a name): 1 and *set, *classes, or 0 for files without it. */
int bitstream_arch_data(const char *layers, char *set, size_t cap, int *classes);

/* Whether the data fits the file beyond its input shape: 1 and a reason in
 * why when the file records another data set (both named, neither idx) or
 * another class count, or (files without the record) the data has labels
 * the network cannot output; else 0. */
int bitstream_check_data(epr_file *f, const dataset *test, char *why, size_t cap);

/* Test error of an open file's network on a data set (fraction).  The
 * data set must have the file's input shape and padding (test->pad ==
 * the text's pad; checked before the network is built); the file's
 * normalisation is applied.  preds (may be NULL)
 * receives test->n predicted classes.  Default limits. */
int bitstream_evaluate(epr_file *f, dataset *test, int eval_batch, double *error, int *preds, epr_err *err);

/* Who runs the decoded network over the data (the data set's scaling set
 * to the file's already): evaluate counts the wrong predictions of net (a
 * host model, built for batches up to eval_batch, its parameters in one
 * block) on d and fills preds (may be NULL).  `epr train` on a GPU passes
 * one that evaluates there (train.c); NULL: the CPU. */
typedef struct {
    int (*evaluate)(void *ctx, nn_model *net, const dataset *d, int eval_batch, long *wrong, int *preds, epr_err *err);
    void *ctx;
    const char *where; /* for messages, e.g. "cuda:0 (NVIDIA H200)" */
} bitstream_evaluator;

/* The CPU's evaluator (bitstream_evaluator's signature without ctx): wrong
 * predictions of net on d, eval_batch samples at a time. */
int bitstream_cpu_evaluate(nn_model *net, const dataset *d, int eval_batch, long *wrong, int *preds, epr_err *err);

/* bitstream_evaluate with the network run by ev (NULL: on the CPU). */
int bitstream_evaluate_with(epr_file *f, dataset *test, int eval_batch, const bitstream_evaluator *ev, double *error,
                            int *preds, epr_err *err);

/* Human-readable size breakdown of a file (for inspect and train). */
void bitstream_print_sizes(epr_file *f, FILE *out, int per_column);

#endif
