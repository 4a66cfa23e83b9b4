/* run/export — `epr export`: the weights of a .epr file or of a run file as
 * named float32 tensors in an .npz or .safetensors file (run/tensorfile),
 * for NumPy, PyTorch and the Hugging Face tools.
 *
 * From a .epr: every tensor decoded (θ = f(φ) of compressed ones, the raw
 * floats of extras such as batch-norm running statistics), under its name
 * in the file.  From a run file (RUN.h5): the network as `epr compress`
 * rebuilds it (run_load): its tensors and batch-norm buffers; the EMA values
 * unless EXPORT_RAW; for an EPR run the continuous weights of the latents
 * unless EXPORT_QUANTISED asks for θ = f(round(ϑ/s)), the weights a .epr of
 * the run holds.  The output is written atomically, never over the input,
 * and over another existing file only with EXPORT_FORCE.
 * May call: codec, run_load, tensorfile, fsutil. */
#ifndef EPR_RUN_EXPORT_H
#define EPR_RUN_EXPORT_H

#include <stdio.h>

#include "common/status.h"

enum { EXPORT_RAW = 1, EXPORT_QUANTISED = 2, EXPORT_FORCE = 4 };

/* format: a tensorfile_format, or -1 for the output's suffix.  report (may
 * be NULL) gets one line per tensor and a summary. */
int export_weights(const char *in_path, const char *out_path, int format, int flags, FILE *report, epr_err *err);

#endif
