/* nn_cuda_internal.h — private structures of the device nn (nn_cuda.h),
 * shared by context.cu (context, memory, optimizers), model.cu (mirror,
 * graph walk, loss) and layers.cu (kernels).  CUDA C++ only: never
 * included from C. */
#ifndef EPR_NN_CUDA_INTERNAL_H
#define EPR_NN_CUDA_INTERNAL_H

#include <cublas_v2.h>
#include <cuda_runtime.h>

extern "C" {
#include "nn/nn_internal.h"
}
#include "nn/cuda/nn_cuda.h"

struct nn_cuda {
    int device;
    cudaStream_t stream;
    cublasHandle_t blas;
    int blas_status;  /* first cuBLAS failure since the last sync (0 = none) */
    int winograd;     /* 3x3 stride-1 convolutions by winograd.cu (nn_cuda_set_winograd) */
    int relu_inplace; /* ReLUs over their producer's output (nn_cuda_set_relu_inplace) */
    int direct_min;   /* 1x1 stride-1 convolutions of >= this many pixels by per-sample products */
};

/* nn_cuda_model.fuse[i], decided at model creation (model.cu plan_relu):
 * a ReLU whose input is read by it alone, produced by a layer whose
 * backward does not read its own output (batch norm, add, conv, dense),
 * overwrites that output instead of a buffer of its own. */
enum {
    NN_FUSE_NONE = 0,
    NN_FUSE_RELU_OUT,     /* batch norm or add: its forward writes max(0, output) (the ReLU's work) */
    NN_FUSE_RELU_DONE,    /* ReLU after NN_FUSE_RELU_OUT: y is the producer's y, forward does nothing */
    NN_FUSE_RELU_INPLACE, /* ReLU after a conv or dense: y is the producer's y, applied in place */
};

/* The device model.  host is the model it mirrors: its shapes, counts and
 * max_batch are read there (host->n_layers, host->max_batch, ...), so the
 * host model outlives this one.  layers/tensors/buffers are copies of the
 * host's arrays whose pointers (y, dy, argmax, bn_mean, bn_invstd, w, dw,
 * data) point to DEVICE memory. */
struct nn_cuda_model {
    nn_cuda *c;
    const nn_model *host;
    nn_layer *layers;                /* [host->n_layers] */
    nn_param *tensors;               /* [host->n_tensors] */
    nn_buffer *buffers;              /* [host->n_buffers] */
    unsigned char *fuse;             /* [host->n_layers] NN_FUSE_* */
    float *param_block, *grad_block; /* alloc_params only */
    float **dy_slots;                /* the output-gradient buffers the layers share (model.cu assign_dy) */
    int n_dy_slots;
    float *col, *gather; /* conv scratch: [K, chunk*P], [oc, chunk*P] */
    size_t col_size, gather_size;
    int col_owner; /* conv layer whose whole-batch im2col (or Winograd V) is in col, or -1 */
    int col_wino;  /* col holds a Winograd V, not an im2col */
    const float *col_x;
    int col_n;
    float *wino_u, *wino_du; /* Winograd filter transforms and their gradient: [36, oc, c] */
    size_t wino_u_size;
    float *bn_red;       /* batch-norm backward: per-channel mean terms, 2 * max C */
    double *bn_part;     /* batch-norm partial sums, 2 * max C * NN_CUDA_BN_SPLIT */
    float *probs;        /* [max_batch, classes] */
    int *labels;         /* copy of the last forward's labels */
    double *sample_loss; /* [max_batch] */
    int *wrong;          /* [max_batch] 0/1; preds in wrong + max_batch */
    double *d_loss;      /* device scalars: forward's loss sum and errors, count_errors' errors in [3] */
    double *h_loss;      /* pinned mirror of d_loss (4 doubles) */
    int n_last, has_labels;
    const float *x;
    float *dx_input;
    double *op_time; /* optional profile, see nn_cuda_model_profile */
};

/* Layer i is a ReLU whose y is its input layer's y (not a buffer of its own). */
static inline int nn_cuda_relu_aliased(const nn_cuda_model *m, int i) {
    return m->fuse[i] == NN_FUSE_RELU_DONE || m->fuse[i] == NN_FUSE_RELU_INPLACE;
}

#define NN_CUDA_THREADS 256
/* Grid-stride loop with 32-bit indices (64-bit division is many times
 * slower on the GPU: nn_cuda_model_create checks that every buffer has
 * < 2^31 elements), and the launch configuration for n elements on the
 * stream of the nn_cuda_model `m` in scope. */
#define GRID_LOOP(i, n) \
    for (unsigned i = blockIdx.x * blockDim.x + threadIdx.x; i < (unsigned)(n); i += gridDim.x * blockDim.x)
#define LAUNCH(n) nn_cuda_blocks(n), NN_CUDA_THREADS, 0, m->c->stream
static inline unsigned nn_cuda_blocks(size_t n) {
    size_t b = (n + NN_CUDA_THREADS - 1) / NN_CUDA_THREADS;
    if (b > 65535u * 16u) b = 65535u * 16u; /* kernels loop grid-stride */
    return b ? (unsigned)b : 1u;
}

/* Row-major GEMM with cblas_sgemm's meaning of the arguments:
 * C[M,N] = alpha op(A)[M,K] op(B)[K,N] + beta C. */
void nn_cuda_gemm(nn_cuda *c, int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                  int ldb, float beta, float *C, int ldc);
/* The same for `batch` products, A_i = A + i*sa etc. (row-major strides). */
void nn_cuda_gemm_batched(nn_cuda *c, int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                          long long sa, const float *B, int ldb, long long sb, float beta, float *C, int ldc,
                          long long sc, int batch);

/* Conv chunk (samples per im2col) on the device: the whole batch unless the
 * column buffer would pass NN_CUDA_COL_CAP floats. */
#define NN_CUDA_COL_CAP ((size_t)1 << 24)
int nn_cuda_conv_chunk(const nn_layer *L, int n);

/* winograd.cu: whether a layer takes the Winograd path when it is on (a
 * 3x3 stride-1 convolution, pad <= 2), its scratch sizes in floats at
 * max_batch (V in col, M in gather, U and dU), forward and backward. */
int nn_cuda_wino_layer(const nn_layer *L);
int nn_cuda_wino_chunk(const nn_layer *L, int n);
void nn_cuda_wino_sizes(const nn_layer *L, int max_batch, size_t *v, size_t *mm, size_t *u);
void nn_cuda_wino_forward(nn_cuda_model *m, nn_layer *L, const float *x, int n);
void nn_cuda_wino_backward(nn_cuda_model *m, nn_layer *L, const float *x, float *dx, int acc, int n);

/* Batch-norm reductions: at most this many slices per channel. */
#define NN_CUDA_BN_SPLIT 64
int nn_cuda_bn_split(size_t cnt);

/* nn_cuda_model_profile's key of layer L: its op, or a convolution's algorithm. */
int nn_cuda_profile_key(const nn_cuda_model *m, const nn_layer *L);
void nn_cuda_layer_forward(nn_cuda_model *m, nn_layer *L, const float *x, const float *x2, int n, int training);
void nn_cuda_layer_backward(nn_cuda_model *m, nn_layer *L, const float *x, float *dx, int acc, float *dx2, int acc2,
                            int n);
void nn_cuda_fill(nn_cuda *c, float *d, float v, size_t n);

#endif
