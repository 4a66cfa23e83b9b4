/* nn_cuda — the nn layer on one CUDA device: every layer's forward and
 * backward, softmax cross-entropy and error count, optimizers and EMA, on
 * device arrays.  The CPU code in src/nn is the reference this is tested
 * against (tests/gpu/test_gpu_nn.c).
 *
 * May call: the CUDA runtime, cuBLAS, src/nn (to read a host model's
 * description), libc.  Knows nothing of EPR, MPI, HDF5 or the config.
 * Plain C API (usable from C11): no CUDA type appears here; the stream and
 * the cuBLAS handle are handed out as void * (cudaStream_t, cublasHandle_t).
 *
 * Model: a host nn_model (nn_model_build) is the description.  The device
 * model mirrors it (same layers, same max batch) and allocates every
 * activation, gradient and scratch buffer on the device ONCE, in
 * nn_cuda_model_create.  Parameters are bound by the caller, as on the host
 * (nn_cuda_model_bind with DEVICE pointers), so the EPR layer can own one
 * device train block exactly as the CPU trainer does.  Forward, backward,
 * optimizer and EMA calls never allocate; all of them are queued on the
 * context's one stream, in order.
 *
 * Semantics are those of nn.h: nn_cuda_forward returns the SUM of the
 * cross-entropy, nn_cuda_backward overwrites every bound dw with
 * grad_scale * d(sum CE)/dw, batch norm in training mode uses batch
 * statistics and updates the running ones (unbiased variance, PyTorch
 * momentum), after a training=0 forward batch norm backpropagates as the
 * fixed affine map it was.  Reductions are deterministic (no atomics): same
 * inputs give the same bits run to run.  TF32 is off unless asked for
 * (nn_cuda_set_tf32): results then match the CPU to float rounding. */
#ifndef EPR_NN_CUDA_H
#define EPR_NN_CUDA_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" { /* nn.h's functions have C linkage when a .cu includes this */
#endif

#include "nn/nn.h"

/* nn_cuda_open's code when no usable CUDA device is present (tests map it
 * to exit 77, "skipped"). */
#define NN_CUDA_ENODEV EPR_EUNSUP

/* ---- context: one device, one stream, one cuBLAS handle ---- */
typedef struct nn_cuda nn_cuda;
/* device < 0 picks device 0.  Fails with NN_CUDA_ENODEV (message says why)
 * when the driver reports no device or device is out of range. */
int nn_cuda_open(int device, nn_cuda **out, epr_err *err);
void nn_cuda_close(nn_cuda *c);
int nn_cuda_device(const nn_cuda *c);
void *nn_cuda_stream(nn_cuda *c); /* cudaStream_t */
void *nn_cuda_cublas(nn_cuda *c); /* cublasHandle_t, bound to the stream */
/* GEMM precision: 0 (the default) plain FP32, as the CPU; 1 lets cuBLAS
 * use TF32 tensor cores (10-bit mantissa products, FP32 sums: PyTorch's
 * default for convolutions; several times faster on large layers, results
 * no longer within float rounding of the CPU's). */
void nn_cuda_set_tf32(nn_cuda *c, int on);
/* Convolution algorithm for 3x3 stride-1 layers: 1 (the default)
 * Winograd's F(4x4, 3x3) (winograd.cu: 2.25 instead of 9 multiplications
 * per output; within float rounding of the direct form, about ten times
 * im2col's rounding error: tests/gpu/test_gpu_nn.c), 0 im2col + SGEMM.
 * Takes effect at the next pass (forward or backward) of a model created
 * while it was on: a model created with it off has no Winograd scratch
 * (less device memory) and always uses im2col. */
void nn_cuda_set_winograd(nn_cuda *c, int on);
/* ReLUs in place, 1 (the default) or 0; read at model creation.  On, a
 * ReLU that is its input's only reader and follows a batch norm, add, conv
 * or dense layer (whose backward reads its input, not its output) writes
 * over that layer's output, which saves one activation buffer per such
 * ReLU; after a batch norm or add the ReLU is applied by that layer's own
 * kernel (one pass less).  The arithmetic is the same bits either way
 * (tests/gpu/test_gpu_nn.c test_relu_inplace); what changes is that
 * nn_cuda_model_layer_output of the producer then returns the ReLU's
 * output.  Off: every layer keeps its own output (the layer-by-layer
 * comparisons with the CPU). */
void nn_cuda_set_relu_inplace(nn_cuda *c, int on);
/* 1x1 stride-1 unpadded convolutions with at least `pixels` output pixels
 * run as one product per sample in the activations' own layout (no im2col
 * copy or reorder); smaller ones as im2col + one wide GEMM.  Default
 * NN_CUDA_DIRECT_P; takes effect at the next pass (forward and backward of
 * one step must see the same value).  Values below 1 mean 1. */
#define NN_CUDA_DIRECT_P 49 /* ResNet-50 b64 (docs/gpu-logs/conv3): 256 952, 196 969, 49 969, 1 966 img/s */
void nn_cuda_set_direct_min(nn_cuda *c, int pixels);

/* Wait for the stream; reports any asynchronous CUDA error (EPR_ENUM is not
 * used: a CUDA failure is EPR_EIO with cudaGetErrorString in the message). */
int nn_cuda_sync(nn_cuda *c, epr_err *err);

/* ---- device memory (allocation: only outside the step loop) ---- */
int nn_cuda_malloc(nn_cuda *c, void **d_ptr, size_t bytes, epr_err *err);
void nn_cuda_free(nn_cuda *c, void *d_ptr);
/* Pinned host memory for inputs copied every step. */
int nn_cuda_host_alloc(nn_cuda *c, void **h_ptr, size_t bytes, epr_err *err);
void nn_cuda_host_free(nn_cuda *c, void *h_ptr);
/* Copies on the stream: upload is asynchronous (host memory must stay
 * valid until the stream passes it: use pinned memory and sync before
 * reuse); download waits for it.  0 or EPR_EIO. */
int nn_cuda_upload(nn_cuda *c, void *d_dst, const void *h_src, size_t bytes);
int nn_cuda_download(nn_cuda *c, void *h_dst, const void *d_src, size_t bytes);
int nn_cuda_copy(nn_cuda *c, void *d_dst, const void *d_src, size_t bytes); /* device to device */
int nn_cuda_memset0(nn_cuda *c, void *d_dst, size_t bytes);

/* ---- model ---- */
typedef struct nn_cuda_model nn_cuda_model;
/* Mirror of host (layers, shapes, max batch, tensor list, buffer list);
 * running statistics are uploaded from host.  host is only read, but the
 * device model keeps referring to it (shapes and counts): free the device
 * model first. */
int nn_cuda_model_create(nn_cuda *c, const nn_model *host, nn_cuda_model **out, epr_err *err);
void nn_cuda_model_free(nn_cuda_model *m);
nn_cuda *nn_cuda_model_context(nn_cuda_model *m);
/* Bind tensor i (host numbering) to DEVICE storage of tensor->size floats
 * (d_dw may be NULL: that gradient is skipped), as nn_model_bind. */
void nn_cuda_model_bind(nn_cuda_model *m, int i, float *d_w, float *d_dw);
/* One contiguous device block for params and one for grads, bound in tensor
 * order (as nn_model_alloc_params); the model owns them. */
int nn_cuda_model_alloc_params(nn_cuda_model *m, epr_err *err);
float *nn_cuda_model_param_block(nn_cuda_model *m); /* NULL unless alloc_params */
float *nn_cuda_model_grad_block(nn_cuda_model *m);

/* Forward n <= max_batch samples; d_x [n, c*h*w] and d_labels [n] are
 * DEVICE pointers (d_labels may be NULL: no loss).  Returns the sum of the
 * cross-entropy in nats (waits for the stream), like nn_forward. */
double nn_cuda_forward(nn_cuda_model *m, const float *d_x, const int *d_labels, int n, int training);
/* The same without waiting: the loss and the error count stay on the
 * device until nn_cuda_last_loss reads them (one copy, one wait). */
void nn_cuda_forward_async(nn_cuda_model *m, const float *d_x, const int *d_labels, int n, int training);
void nn_cuda_last_loss(nn_cuda_model *m, double *loss, int *errors);
const float *nn_cuda_model_logits(const nn_cuda_model *m); /* device [n, classes] */
/* Wrong argmax predictions of the last forward (first maximum wins, as on
 * the CPU); d_labels a DEVICE pointer (may be NULL: 0 errors);
 * host_preds may be NULL or receive n class indices.  Waits. */
int nn_cuda_count_errors(nn_cuda_model *m, const int *d_labels, int n, int *host_preds);
/* Backward of the last forward (which had labels); see nn_backward. */
void nn_cuda_backward(nn_cuda_model *m, float grad_scale);
/* Backward from an arbitrary DEVICE gradient of the last layer's output
 * [n, out_size] (tests; nn_backward_from). */
void nn_cuda_backward_from(nn_cuda_model *m, const float *d_dout);
/* Input gradient [max_batch, in] on the device (tests; off by default). */
int nn_cuda_model_enable_input_grad(nn_cuda_model *m, epr_err *err);
const float *nn_cuda_model_input_grad(const nn_cuda_model *m);
/* Device output of layer i in the last forward (tests compare every layer). */
const float *nn_cuda_model_layer_output(const nn_cuda_model *m, int i); /* see nn_cuda_set_relu_inplace */
/* The rest of the state the backward of layer i reads (NULL where the layer
 * has none): max-pool argmax [n, C, OH, OW] (offset within the input plane),
 * batch-norm mean and 1/std [C]; and the softmax of the last forward
 * [n, classes].  Tests use them to run the CPU backward from the GPU's
 * forward state, so that a ReLU or max-pool that flips on a near-tie
 * between the two forwards does not show up as a backward error. */
void nn_cuda_model_layer_state(const nn_cuda_model *m, int i, const int **argmax, const float **bn_mean,
                               const float **bn_invstd);
const float *nn_cuda_model_probs(const nn_cuda_model *m);

/* Optional profile (benchmarks): with op_time non-NULL (2 *
 * NN_CUDA_PROFILE_KEYS doubles) every layer's forward / backward seconds
 * are added to op_time[2*key] / op_time[2*key + 1], the stream synchronised
 * around each layer (slow: for finding where time goes only).  NULL turns
 * it off.  key: the layer's nn_op, except convolutions, which count by
 * algorithm under NN_CUDA_PROF_WINO (Winograd), NN_CUDA_PROF_DIRECT (1x1,
 * per-sample products) and NN_CUDA_PROF_IM2COL (im2col + GEMM). */
enum { NN_CUDA_PROF_WINO = NN_FLATTEN + 1, NN_CUDA_PROF_DIRECT, NN_CUDA_PROF_IM2COL, NN_CUDA_PROFILE_KEYS };
void nn_cuda_model_profile(nn_cuda_model *m, double *op_time);

/* Batch-norm running statistics, device <-> the host model's buffers
 * (same numbering as nn_model_buffer).  Download waits. */
void nn_cuda_buffers_download(nn_cuda_model *m, nn_model *host);
void nn_cuda_buffers_upload(nn_cuda_model *m, const nn_model *host);
/* Device storage of buffer i (n floats), e.g. for a checkpoint writer. */
float *nn_cuda_model_buffer(nn_cuda_model *m, int i);
/* nn_model_set_bn_momentum for the device model's layers. */
void nn_cuda_model_set_bn_momentum(nn_cuda_model *m, float momentum);

/* ---- optimizers / EMA on device arrays: the semantics (and, with no FMA
 * contraction, the bits) of nn_adam_step, nn_sgd_step, nn_ema_update.  The
 * host structs are reused; nn_cuda_adam_step increments o->t. ---- */
void nn_cuda_adam_step(nn_cuda *c, nn_adam *o, float *d_w, const float *d_g, float *d_m1, float *d_m2, size_t n);
void nn_cuda_sgd_step(nn_cuda *c, const nn_sgd *o, float *d_w, const float *d_g, float *d_buf, size_t n);
void nn_cuda_ema_update(nn_cuda *c, float *d_ema, const float *d_w, size_t n, float decay);

#ifdef __cplusplus
}
#endif

#endif
