/* study/baseline_internal.h — what baseline.c (the driver) and
 * baseline_encode.c (the quantising methods) share; private to the study
 * layer. */
#ifndef EPR_STUDY_BASELINE_INTERNAL_H
#define EPR_STUDY_BASELINE_INTERNAL_H

#include <stddef.h>

#include "study/baseline.h"

typedef enum { M_FLOAT32, M_GZIP, M_XZ, M_UNIFORM, M_KMEANS, M_PRUNE_KMEANS } method_kind;

/* Kind, bit count and per-tensor flag (a trailing t: uniform4t, kmeans3t)
 * of a name that cfg_baseline_method_ok accepted. */
method_kind baseline_method_of(const char *name, int *bits, int *per_tensor);

/* One line on what method M (with BITS, per tensor or per group) does, for
 * baselines.h5's description. */
void baseline_describe(method_kind m, int bits, int per_tensor, const cfg_experiment *cfg, char *desc, size_t cap);

#endif
