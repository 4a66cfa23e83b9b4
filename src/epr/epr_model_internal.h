/* epr/epr_model_internal.h — what the device mirror of an rp_model
 * (src/epr/cuda) needs of its layout beyond epr_model.h, so that the GPU
 * uses the host's own rules instead of copies.  Private to src/epr. */
#ifndef EPR_EPR_MODEL_INTERNAL_H
#define EPR_EPR_MODEL_INTERNAL_H

#include <stddef.h>

#include "epr/epr_model.h"

/* Rows [*begin, *end) of a group's `rows` that rank `rank` of `nranks`
 * takes in the noisy rate (contiguous, balanced, independent of anything
 * but the three numbers). */
static inline void rp_model_rows_split(size_t rows, int rank, int nranks, size_t *begin, size_t *end) {
    *begin = (size_t)((unsigned __int128)rows * (unsigned)rank / (unsigned)nranks);
    *end = (size_t)((unsigned __int128)rows * (unsigned)(rank + 1) / (unsigned)nranks);
}

/* Number of log s of group g's decoder (1 for affine, ell for conv-affine). */
int rp_model_group_n_log_s(const rp_model *em, int g);

/* Where nn tensor i is stored: returns 1 with *off its offset in the θ
 * scratch (a compressed tensor), or 0 with *off its offset in the train
 * block (and, the same, in the gradient block). */
int rp_model_tensor_storage(const rp_model *em, int i, size_t *off);
/* Floats of the θ scratch (all compressed tensors). */
size_t rp_model_theta_size(const rp_model *em);

#endif
