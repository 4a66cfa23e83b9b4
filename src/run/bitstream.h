/* run/bitstream — between a trained epr_model and a .epr file: the
 * architecture text, encoding through the codec, rebuilding a runnable
 * network from a file alone, and evaluating it.  `epr train` (at the end of
 * an EPR run), `epr compress`, `epr eval` and `epr inspect` all go through
 * here, so the quantised model's error printed by training and the error
 * of `epr eval` come from the same code on the same decoded weights.
 *
 * Architecture text (UTF-8, stored verbatim in the file):
 *     epr-arch 1
 *     input C H W
 *     normalize 0 | normalize C mean_1..mean_C std_1..std_C   (%.9g)
 *     layers
 *     <the nn layer spec, one layer per line>
 * May call: codec, nn, epr, dataset, libc. */
#ifndef EPR_HARNESS_BITSTREAM_H
#define EPR_HARNESS_BITSTREAM_H

#include <stddef.h>

#include "epr/codec.h"
#include "epr/epr_model.h"
#include "run/dataset.h"

typedef struct {
    int c, h, w;
    int normalize;
    float mean[DATASET_MAX_CHANNELS], std[DATASET_MAX_CHANNELS];
    char *layers; /* malloc'd */
} bitstream_arch;

/* malloc'd architecture text for a network spec and its input data. */
char *bitstream_arch_text(const char *layers, const dataset *data);
int bitstream_arch_parse(const char *text, size_t len, bitstream_arch *a, epr_err *err);
void bitstream_arch_free(bitstream_arch *a);

/* Encode the model's current parameters (call with the EMA values in the
 * train block).  Uncompressed tensors and batch-norm running statistics are
 * stored as float32 extras.  *bytes is malloc'd. */
int bitstream_encode(epr_model *em, const char *arch, void **bytes, size_t *len, epr_encode_report *rep,
                     epr_err *err);

/* The tensor list of a .epr for a network, in the order every writer
 * uses: the network's tensors, then its buffers (batch-norm running
 * statistics) as float32 extras.  Tensor i goes to group group_of[i] with
 * phi phi_of[i] when group_of[i] >= 0, else it is a float32 extra (group_of
 * NULL: all extras).  ts has room for tensors + buffers; returns the count. */
int bitstream_tensor_specs(nn_model *net, const int *group_of, const int32_t *const *phi_of, epr_tensor_spec *ts);

/* Build the network described by an open file for batches up to
 * max_batch, and fill every tensor and buffer from the file. */
int bitstream_load_model(epr_file *f, int max_batch, nn_model **net, bitstream_arch *arch, epr_err *err);

/* Test error of an open file's network on a data set (fraction).  The
 * data set must have the file's input shape; the file's normalisation is
 * applied.  preds (may be NULL) receives test->n predicted classes. */
int bitstream_evaluate(epr_file *f, dataset *test, int eval_batch, double *error, int *preds, epr_err *err);

/* Human-readable size breakdown of a file (for inspect and train). */
void bitstream_print_sizes(epr_file *f, FILE *out, int per_column);

#endif
