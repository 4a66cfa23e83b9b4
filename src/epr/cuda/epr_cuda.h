/* epr/cuda/epr_cuda.h — the device mirror of an rp_model (epr_model.h):
 * one device train block and one gradient block with EXACTLY the host
 * layout (one copy syncs host and device, one allreduce covers the gradient
 * block + EPR_MODEL_GRAD_TAIL metrics), the θ/dθ scratch of the compressed
 * nn tensors, and on the device: the decoders (affine, conv-affine with
 * identity / DFT / random-orthogonal / learned T) with straight-through
 * rounding and their backward, the noisy rate of every group (the deep
 * factorized density forward + backward fused, one pass over the values)
 * and the exact rate.
 *
 * Semantics are those of rp_model_decode, _backward, _rate_noisy and
 * _rate_exact, from the same definitions where the arithmetic is per value
 * (epr/density_kernel.h, density_exact.h, decoder_round.h, common/rng.h:
 * the same noise from the same counters).  Sums are reduced in a fixed
 * order (no atomics): the same inputs give the same bits run to run; they
 * differ from the CPU's sums by rounding only.  Nothing here allocates
 * after rp_cuda_model_create; every call is queued on the nn_cuda
 * context's stream, in order (the rate calls wait for it: they return the
 * bits).
 *
 * May call: the CUDA runtime, cuBLAS (through nn_cuda), src/nn/cuda, src/epr,
 * libc.  Knows nothing of MPI, HDF5 or the config.  Plain C API. */
#ifndef EPR_EPR_CUDA_H
#define EPR_EPR_CUDA_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "epr/epr_model.h"
#include "nn/cuda/nn_cuda.h"

typedef struct rp_cuda_model rp_cuda_model;

/* From a host rp_model (its layout, groups and transforms; its current
 * train block is uploaded) and the device nn model: allocates the device
 * blocks and scratch, binds every nn tensor of net (compressed -> θ/dθ
 * scratch, uncompressed -> the train/grad block) and decodes.  No groups =
 * plain training.  host must outlive the device model. */
int rp_cuda_model_create(nn_cuda *c, rp_model *host, nn_cuda_model *net, rp_cuda_model **out, epr_err *err);
void rp_cuda_model_free(rp_cuda_model *m);

float *rp_cuda_params(rp_cuda_model *m); /* device train block [rp_model_size] */
float *rp_cuda_grads(rp_cuda_model *m);  /* device grad block [rp_model_size + EPR_MODEL_GRAD_TAIL] */
float *rp_cuda_theta(rp_cuda_model *m);  /* device θ of the compressed tensors (tests) */
float *rp_cuda_dtheta(rp_cuda_model *m); /* device dθ (tests) */
void rp_cuda_upload(rp_cuda_model *m);   /* host train block -> device (then decode if needed) */
void rp_cuda_download(rp_cuda_model *m); /* device train block -> host (waits) */

/* θ = f(round(ϑ/s)) of every compressed tensor. */
void rp_cuda_decode(rp_cuda_model *m);
/* After nn_cuda_backward: d(latent), d(Ψ) (and dT of a learned T) from dθ,
 * straight-through; density grads zeroed.  Uncompressed grads stay. */
void rp_cuda_backward(rp_cuda_model *m);
/* Noisy rate of this rank's rows of every group (rows split as on the
 * host); adds lambda * d(bits) into the gradient block; returns the bits. */
double rp_cuda_rate_noisy(rp_cuda_model *m, uint64_t seed, long step, double lambda, int rank, int nranks);
/* The same without waiting: the bits go to the DEVICE double *d_bits (0
 * without groups), e.g. for a step that reads its metrics once. */
void rp_cuda_rate_noisy_async(rp_cuda_model *m, uint64_t seed, long step, double lambda, int rank, int nranks,
                              double *d_bits);
/* Exact self-information (bits, double) of round(φ̂); per_group may be NULL. */
double rp_cuda_rate_exact(rp_cuda_model *m, double *per_group);

#ifdef __cplusplus
}
#endif

#endif
