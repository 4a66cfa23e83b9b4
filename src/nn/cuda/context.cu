/* context.cu — the device context (device, stream, cuBLAS handle), device
 * memory helpers, row-major GEMM wrappers, and the optimizers / EMA on
 * device arrays: one thread per element, each running the element function
 * of nn/optim_kernel.h that src/nn/optim.c runs on the CPU.
 *
 * Calls the CUDA runtime and cuBLAS.  Only nn_cuda_open and the *alloc*
 * functions allocate. */
#include <stdlib.h>

#include "nn/cuda/nn_cuda_internal.h"
extern "C" {
#include "nn/optim_kernel.h"
}

static int cuda_fail(epr_err *err, cudaError_t e, const char *what) {
    return cmn_fail(err, EPR_EIO, "CUDA: %s: %s", what, cudaGetErrorString(e));
}

extern "C" int nn_cuda_open(int device, nn_cuda **out, epr_err *err) {
    *out = NULL;
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess || count == 0)
        return cmn_fail(err, NN_CUDA_ENODEV, "no CUDA device (%s)",
                        e != cudaSuccess ? cudaGetErrorString(e) : "the driver reports none");
    if (device < 0) device = 0;
    RETURN_ERROR_IF(device >= count, err, NN_CUDA_ENODEV, "CUDA device %d asked for, %d present", device, count);
    if ((e = cudaSetDevice(device)) != cudaSuccess) return cuda_fail(err, e, "cudaSetDevice");
    nn_cuda *c = (nn_cuda *)calloc(1, sizeof *c);
    RETURN_ERROR_IF(!c, err, EPR_ENOMEM, "out of memory");
    c->device = device;
    if ((e = cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking)) != cudaSuccess) {
        free(c);
        return cuda_fail(err, e, "cudaStreamCreate");
    }
    if (cublasCreate(&c->blas) != CUBLAS_STATUS_SUCCESS) {
        cudaStreamDestroy(c->stream);
        free(c);
        return cmn_fail(err, EPR_EIO, "cuBLAS: cublasCreate failed");
    }
    cublasSetStream(c->blas, c->stream);
    /* Plain FP32 (no TF32 tensor cores) and no atomics: the results are
     * then deterministic and within float rounding of the CPU's sgemm. */
    cublasSetMathMode(c->blas, CUBLAS_DEFAULT_MATH);
    cublasSetAtomicsMode(c->blas, CUBLAS_ATOMICS_NOT_ALLOWED);
    cublasSetPointerMode(c->blas, CUBLAS_POINTER_MODE_HOST);
    c->winograd = 1;
    c->relu_inplace = 1;
    c->direct_min = NN_CUDA_DIRECT_P;
    *out = c;
    return 0;
}

extern "C" void nn_cuda_close(nn_cuda *c) {
    if (!c) return;
    cudaSetDevice(c->device);
    cudaStreamSynchronize(c->stream);
    cublasDestroy(c->blas);
    cudaStreamDestroy(c->stream);
    free(c);
}

extern "C" void nn_cuda_set_winograd(nn_cuda *c, int on) { c->winograd = on != 0; }

extern "C" void nn_cuda_set_relu_inplace(nn_cuda *c, int on) { c->relu_inplace = on != 0; }

extern "C" void nn_cuda_set_direct_min(nn_cuda *c, int pixels) { c->direct_min = pixels < 1 ? 1 : pixels; }

extern "C" void nn_cuda_set_tf32(nn_cuda *c, int on) {
    cublasSetMathMode(c->blas, on ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH);
}

extern "C" int nn_cuda_device(const nn_cuda *c) { return c->device; }
extern "C" void *nn_cuda_stream(nn_cuda *c) { return (void *)c->stream; }
extern "C" void *nn_cuda_cublas(nn_cuda *c) { return (void *)c->blas; }

extern "C" int nn_cuda_sync(nn_cuda *c, epr_err *err) {
    cudaError_t e = cudaStreamSynchronize(c->stream);
    if (e == cudaSuccess) e = cudaGetLastError();
    if (e != cudaSuccess) return cuda_fail(err, e, "stream");
    if (c->blas_status) {
        int s = c->blas_status;
        c->blas_status = 0;
        return cmn_fail(err, EPR_EIO, "cuBLAS: a GEMM failed with status %d", s);
    }
    return 0;
}

/* The result of an allocation call e that was to put `bytes` bytes at *p
 * (where: "on the device", "of pinned memory"). */
static int alloc_result(cudaError_t e, void **p, size_t bytes, const char *where, epr_err *err) {
    if (e == cudaSuccess) return 0;
    *p = NULL;
    return cmn_fail(err, EPR_ENOMEM, "CUDA: cannot allocate %zu bytes %s: %s", bytes, where, cudaGetErrorString(e));
}

extern "C" int nn_cuda_malloc(nn_cuda *c, void **d_ptr, size_t bytes, epr_err *err) {
    (void)c;
    *d_ptr = NULL;
    return alloc_result(cudaMalloc(d_ptr, bytes ? bytes : 4), d_ptr, bytes, "on the device", err);
}

extern "C" void nn_cuda_free(nn_cuda *c, void *d_ptr) {
    (void)c;
    if (d_ptr) cudaFree(d_ptr);
}

extern "C" int nn_cuda_host_alloc(nn_cuda *c, void **h_ptr, size_t bytes, epr_err *err) {
    (void)c;
    *h_ptr = NULL;
    return alloc_result(cudaMallocHost(h_ptr, bytes ? bytes : 4), h_ptr, bytes, "of pinned memory", err);
}

extern "C" void nn_cuda_host_free(nn_cuda *c, void *h_ptr) {
    (void)c;
    if (h_ptr) cudaFreeHost(h_ptr);
}

extern "C" int nn_cuda_upload(nn_cuda *c, void *d_dst, const void *h_src, size_t bytes) {
    return cudaMemcpyAsync(d_dst, h_src, bytes, cudaMemcpyHostToDevice, c->stream) == cudaSuccess ? 0 : EPR_EIO;
}

extern "C" int nn_cuda_download(nn_cuda *c, void *h_dst, const void *d_src, size_t bytes) {
    if (cudaMemcpyAsync(h_dst, d_src, bytes, cudaMemcpyDeviceToHost, c->stream) != cudaSuccess) return EPR_EIO;
    return cudaStreamSynchronize(c->stream) == cudaSuccess ? 0 : EPR_EIO;
}

extern "C" int nn_cuda_copy(nn_cuda *c, void *d_dst, const void *d_src, size_t bytes) {
    return cudaMemcpyAsync(d_dst, d_src, bytes, cudaMemcpyDeviceToDevice, c->stream) == cudaSuccess ? 0 : EPR_EIO;
}

extern "C" int nn_cuda_memset0(nn_cuda *c, void *d_dst, size_t bytes) {
    return cudaMemsetAsync(d_dst, 0, bytes, c->stream) == cudaSuccess ? 0 : EPR_EIO;
}

/* ---- GEMM: a row-major C = op(A) op(B) is the column-major
 * C^T = op(B)^T op(A)^T, i.e. the same call with A and B swapped. ---- */
static cublasOperation_t op_of(int t) { return t ? CUBLAS_OP_T : CUBLAS_OP_N; }

void nn_cuda_gemm(nn_cuda *c, int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                  int ldb, float beta, float *C, int ldc) {
    cublasStatus_t s = cublasSgemm(c->blas, op_of(tb), op_of(ta), N, M, K, &alpha, B, ldb, A, lda, &beta, C, ldc);
    if (s != CUBLAS_STATUS_SUCCESS && !c->blas_status) c->blas_status = (int)s;
}

void nn_cuda_gemm_batched(nn_cuda *c, int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                          long long sa, const float *B, int ldb, long long sb, float beta, float *C, int ldc,
                          long long sc, int batch) {
    if (batch == 1) {
        nn_cuda_gemm(c, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    cublasStatus_t s = cublasSgemmStridedBatched(c->blas, op_of(tb), op_of(ta), N, M, K, &alpha, B, ldb, sb, A, lda, sa,
                                                 &beta, C, ldc, sc, batch);
    if (s != CUBLAS_STATUS_SUCCESS && !c->blas_status) c->blas_status = (int)s;
}

/* ---- optimizers and EMA: one thread per element (with --fmad=false the
 * element functions round as they do on the CPU) ---- */
__global__ void k_adam(float *w, const float *g, float *m1, float *m2, size_t n, nn_adam_coef k) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        nn_adam_elem(&w[i], g[i], &m1[i], &m2[i], k);
}

extern "C" void nn_cuda_adam_step(nn_cuda *c, nn_adam *o, float *d_w, const float *d_g, float *d_m1, float *d_m2,
                                  size_t n) {
    const nn_adam_coef k = nn_adam_begin(o);
    if (!n) return;
    k_adam<<<nn_cuda_blocks(n), NN_CUDA_THREADS, 0, c->stream>>>(d_w, d_g, d_m1, d_m2, n, k);
}

__global__ void k_sgd(float *w, const float *g, float *buf, size_t n, float lr, float mu, float wd) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        nn_sgd_elem(&w[i], g[i], &buf[i], lr, mu, wd);
}

extern "C" void nn_cuda_sgd_step(nn_cuda *c, const nn_sgd *o, float *d_w, const float *d_g, float *d_buf, size_t n) {
    if (!n) return;
    k_sgd<<<nn_cuda_blocks(n), NN_CUDA_THREADS, 0, c->stream>>>(d_w, d_g, d_buf, n, o->lr, o->momentum,
                                                                o->weight_decay);
}

__global__ void k_ema(float *ema, const float *w, size_t n, float decay) {
    const float a = 1.0f - decay;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        ema[i] = nn_ema_elem(ema[i], w[i], decay, a);
}

extern "C" void nn_cuda_ema_update(nn_cuda *c, float *d_ema, const float *d_w, size_t n, float decay) {
    if (!n) return;
    k_ema<<<nn_cuda_blocks(n), NN_CUDA_THREADS, 0, c->stream>>>(d_ema, d_w, n, decay);
}

__global__ void k_fill(float *d, float v, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) d[i] = v;
}

void nn_cuda_fill(nn_cuda *c, float *d, float v, size_t n) {
    if (n) k_fill<<<nn_cuda_blocks(n), NN_CUDA_THREADS, 0, c->stream>>>(d, v, n);
}
