/* epr/cuda/epr_cuda.cu — see epr_cuda.h.  The device mirror of rp_model:
 * layout and binding (from the host model's own accessors,
 * epr_model_internal.h), the decoders and their backward, the fused noisy
 * rate and the exact rate.
 *
 * Reductions: a kernel writes one partial per (chunk of EPR_CUDA_CHUNK
 * rows, column) and k_reduce sums a quantity's partials of one column in a
 * fixed tree (double), so results do not depend on scheduling.  The rate
 * accumulates the density gradient of its chunk in float (as the CPU's
 * lanes do over EPR_VACC_BLOCKS blocks) and folds it into double there.
 *
 * Calls the CUDA runtime, nn_cuda (memory, stream, GEMM) and the shared
 * per-value definitions of src/epr and common/. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/cuda/nn_cuda_internal.h" /* nn_cuda_gemm, nn_cuda_blocks */

extern "C" {
#include "common/rng.h"
#include "epr/decoder.h"
#include "epr/decoder_round.h"
#include "epr/density.h"
#include "epr/density_exact.h"
#include "epr/epr_model_internal.h"
#include "epr/rate.h"
}
#include "epr/cuda/epr_cuda.h"

/* The density block kernel (density_kernel.h), one value per thread. */
#define EPR_DK(name) rp_dk_##name
#define EPR_DK_FN static __device__ __forceinline__
#define EPR_DK_F float
#define EPR_DK_I int32_t
#define EPR_DK_M int
#define EPR_DK_SPLAT(x) ((float)(x))
#define EPR_DK_SEL(m, a, b) ((m) ? (a) : (b))
#define EPR_DK_ONE(m) ((m) ? 1 : 0)
#define EPR_DK_ABS(x) fabsf(x)
#define EPR_DK_COPYSIGN(mag, sgn) copysignf(mag, sgn)
#define EPR_DK_AS_I(x) __float_as_int(x)
#define EPR_DK_AS_F(i) __int_as_float(i)
#define EPR_DK_TO_I(x) ((int32_t)(x))
#define EPR_DK_TO_F(i) ((float)(i))
#include "epr/density_kernel.h"

#define EPR_CUDA_CHUNK 32 /* rows per thread in the column-wise kernels */
#define RED_THREADS 256
#define RATE_NQ (EPR_DENSITY_NPARAMS + 2) /* partials per (chunk, column): G[43], bits, d log s */
#define EXACT_BLOCKS 512

typedef struct {
    epr_decoder_kind decoder;
    epr_transform_kind transform;
    int ell, n_log_s, nt;
    size_t n, rows, latent_off, psi_off, dens_off;
    size_t tsize[EPR_MAX_GROUP_TENSORS], toff[EPR_MAX_GROUP_TENSORS], theta_off[EPR_MAX_GROUP_TENSORS];
    float *T; /* device T: NULL (identity), owned (fixed) or inside params (learned) */
    int T_owned;
} cgroup;

struct rp_cuda_model {
    nn_cuda *c;
    rp_model *host;
    nn_cuda_model *net;
    int ng;
    cgroup *g;
    size_t n, n_theta, comp_end, dens_off, dens_n;
    float *params, *grads, *theta, *dtheta, *work;
    float *prep;        /* prepared density params [64 x 43] */
    float *part_f;      /* rate: G partials [43 x max_part] */
    double *part_d;     /* rate: bits, d log s [2 x max_part]; decoder: [2 x max_part] */
    double *red;        /* per column reductions [64 x RATE_NQ] */
    double *group_bits; /* device [ng] */
    double *h_bits;     /* pinned [ng] */
    double *exact_part; /* [EXACT_BLOCKS] */
    size_t max_part;
};

/* expf of the CPU (glibc's, < 1 ulp) is matched more closely through double. */
static __device__ __forceinline__ float dev_expf(float x) { return (float)exp((double)x); }

static size_t div_up(size_t a, size_t b) { return (a + b - 1) / b; }

/* ---- fixed-order reduction ---- */

/* out[col * nq + q] = sum over chunks of quantity q of column col, where
 * the partial of (chunk, col) is at q*stride + chunk*ell + col in pf
 * (q < nf, float) or pd (q >= nf, double).  One block per (col, q). */
__global__ void k_reduce(const float *pf, const double *pd, int nf, size_t stride, size_t nchunk, int ell, int nq,
                         double *out) {
    __shared__ double sh[RED_THREADS];
    const int col = blockIdx.x, q = blockIdx.y;
    double acc = 0.0;
    for (size_t ch = threadIdx.x; ch < nchunk; ch += RED_THREADS) {
        size_t idx = ch * (size_t)ell + (size_t)col;
        acc += q < nf ? (double)pf[(size_t)q * stride + idx] : pd[(size_t)(q - nf) * stride + idx];
    }
    sh[threadIdx.x] = acc;
    __syncthreads();
    for (int s = RED_THREADS / 2; s > 0; s >>= 1) {
        if ((int)threadIdx.x < s) sh[threadIdx.x] += sh[threadIdx.x + s];
        __syncthreads();
    }
    if (threadIdx.x == 0) out[(size_t)col * nq + q] = sh[0];
}

/* ---- decoders ---- */

/* out = s . round(latent / s) (+ off), column-wise over [rows x ell]; s and
 * off per column (n_log_s = ell) or one (n_log_s = 1); off may be NULL. */
__global__ void k_coeffs(const float *latent, size_t n, int ell, const float *log_s, int n_log_s, const float *off,
                         float *out) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        const int k = n_log_s == 1 ? 0 : (int)(i % (size_t)ell);
        const float s = dev_expf(log_s[k]), inv_s = dev_expf(-log_s[k]);
        float v = s * rp_decoder_round(latent[i] * inv_s);
        if (off) v = v + off[k];
        out[i] = v;
    }
}

/* theta rows = c (before theta += Q T^T). */
__global__ void k_fill_rows(float *theta, size_t n, int ell, const float *c) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        theta[i] = c[i % (size_t)ell];
}

/* Straight-through backward of one tensor [rows x ell], thread per (chunk,
 * col): d_latent += dQ; partials of d log s (from dQ) and of d offset (sum
 * of d_theta).  affine: one s, the CPU's float product g*(phi - phi_hat)
 * before the double sum; conv-affine: (double)g * s * (phi - phi_hat). */
__global__ void k_dec_back(const float *latent, const float *dQ, const float *dtheta, size_t rows, int ell,
                           const float *log_s, int affine, float *d_latent, double *part, size_t stride) {
    const size_t t = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (t >= stride) return;
    const int col = (int)(t % (size_t)ell);
    const size_t r0 = (t / (size_t)ell) * EPR_CUDA_CHUNK;
    const size_t r1 = r0 + EPR_CUDA_CHUNK < rows ? r0 + EPR_CUDA_CHUNK : rows;
    const float ls = log_s[affine ? 0 : col];
    const float s = dev_expf(ls), inv_s = dev_expf(-ls);
    double acc_s = 0.0, acc_b = 0.0;
    for (size_t r = r0; r < r1; r++) {
        const size_t i = r * (size_t)ell + (size_t)col;
        const float phi_hat = latent[i] * inv_s, g = dQ[i];
        if (d_latent) d_latent[i] += g;
        if (affine)
            acc_s += (double)(g * (rp_decoder_round(phi_hat) - phi_hat));
        else
            acc_s += (double)g * s * (rp_decoder_round(phi_hat) - phi_hat);
        acc_b += (double)dtheta[i];
    }
    part[t] = acc_s;
    part[stride + t] = acc_b;
}

/* Adds the reduced sums of one tensor into Ψ's gradient, in the CPU's
 * order and roundings. */
__global__ void k_dec_finish(const double *red, int ell, const float *log_s, int affine, float *d_psi) {
    if (threadIdx.x != 0 || blockIdx.x != 0) return;
    if (affine) {
        d_psi[0] += (float)(red[0] * dev_expf(log_s[0]));
        d_psi[1] += (float)red[1];
        return;
    }
    for (int col = 0; col < ell; col++) {
        d_psi[col] += (float)red[2 * col];
        d_psi[ell + col] += (float)red[2 * col + 1];
    }
}

/* ---- rate ---- */

__global__ void k_prep(const float *dens, int n, float *prep) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) prep[i] = rp_density_prep_value(i % EPR_DENSITY_NPARAMS, dens[i]);
}

/* Thread per (chunk, col) of rows [row_b, row_e): the noisy value's bits,
 * d/dy (into d_latent at once) and the density gradient of the chunk. */
__global__ void __launch_bounds__(128)
    k_rate(const float *prep, const float *latent, int ell, size_t row_b, size_t row_e, const float *log_s, int n_log_s,
           rp_noise_key key, float weight, float *d_latent, float *part_f, double *part_d, size_t stride) {
    const size_t t = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (t >= stride) return;
    const int col = (int)(t % (size_t)ell);
    const size_t r0 = row_b + (t / (size_t)ell) * EPR_CUDA_CHUNK;
    const size_t r1 = r0 + EPR_CUDA_CHUNK < row_e ? r0 + EPR_CUDA_CHUNK : row_e;
    float v[EPR_DENSITY_NPARAMS], G[EPR_DENSITY_NPARAMS];
#pragma unroll
    for (int k = 0; k < EPR_DENSITY_NPARAMS; k++) {
        v[k] = prep[col * EPR_DENSITY_NPARAMS + k];
        G[k] = 0.0f;
    }
    const float inv_s = dev_expf(-log_s[n_log_s == 1 ? 0 : col]);
    double bits = 0.0, d_ls = 0.0;
    for (size_t row = r0; row < r1; row++) {
        const size_t i = row * (size_t)ell + (size_t)col;
        const float noise =
            cmn_rng_uniform(key.seed, EPR_STREAM_RATE_NOISE, rp_rate_noise_counter(&key, row, ell, col)) - 0.5f;
        const float phi_hat = latent[i] * inv_s;
        const float y = phi_hat + noise;
        float b, dy;
        rp_dk_block(v, &y, &weight, &b, &dy, G);
        bits += b;
        d_latent[i] += dy * inv_s;
        d_ls -= (double)phi_hat * dy;
    }
#pragma unroll
    for (int k = 0; k < EPR_DENSITY_NPARAMS; k++) part_f[(size_t)k * stride + t] = G[k];
    part_d[t] = bits;
    part_d[stride + t] = d_ls;
}

/* Density gradient through the preparation (as rp_density_acc_flush), the
 * log s gradient and the group's bits, columns in the CPU's order. */
__global__ void k_rate_finish(const double *red, const float *dens, const float *prep, int ell, int n_log_s,
                              float *d_dens, float *d_log_s, double *bits_out) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < ell * EPR_DENSITY_NPARAMS) {
        const int col = i / EPR_DENSITY_NPARAMS, k = i % EPR_DENSITY_NPARAMS;
        d_dens[i] += (float)(red[(size_t)col * RATE_NQ + k] * rp_density_prep_deriv(k, dens[i], prep[i]));
    }
    if (i == 0) {
        double total = 0.0;
        for (int col = 0; col < ell; col++) {
            total += red[(size_t)col * RATE_NQ + EPR_DENSITY_NPARAMS];
            d_log_s[n_log_s == 1 ? 0 : col] += (float)red[(size_t)col * RATE_NQ + EPR_DENSITY_NPARAMS + 1];
        }
        *bits_out = total;
    }
}

/* ---- exact rate ---- */

__global__ void k_exact(const float *dens, const float *latent, size_t n, int ell, const float *log_s, int n_log_s,
                        double *part) {
    __shared__ double sh[RED_THREADS];
    double acc = 0.0;
    for (size_t i = blockIdx.x * (size_t)RED_THREADS + threadIdx.x; i < n; i += (size_t)gridDim.x * RED_THREADS) {
        const int col = (int)(i % (size_t)ell);
        const float inv_s = dev_expf(-log_s[n_log_s == 1 ? 0 : col]);
        const int32_t phi = rp_decoder_to_int(rp_decoder_round(latent[i] * inv_s));
        acc += -log2(rp_density_likelihood_dd(dens + (size_t)col * EPR_DENSITY_NPARAMS, (double)phi,
                                              (double)EPR_DENSITY_LIKELIHOOD_BOUND));
    }
    sh[threadIdx.x] = acc;
    __syncthreads();
    for (int s = RED_THREADS / 2; s > 0; s >>= 1) {
        if ((int)threadIdx.x < s) sh[threadIdx.x] += sh[threadIdx.x + s];
        __syncthreads();
    }
    if (threadIdx.x == 0) part[blockIdx.x] = sh[0];
}

__global__ void k_exact_sum(const double *part, int nb, double *out) {
    __shared__ double sh[RED_THREADS];
    double acc = 0.0;
    for (int b = threadIdx.x; b < nb; b += RED_THREADS) acc += part[b];
    sh[threadIdx.x] = acc;
    __syncthreads();
    for (int s = RED_THREADS / 2; s > 0; s >>= 1) {
        if ((int)threadIdx.x < s) sh[threadIdx.x] += sh[threadIdx.x + s];
        __syncthreads();
    }
    if (threadIdx.x == 0) *out = sh[0];
}

/* ---- model ---- */

extern "C" void rp_cuda_model_free(rp_cuda_model *m) {
    if (!m) return;
    nn_cuda *c = m->c;
    for (int gi = 0; gi < m->ng; gi++)
        if (m->g[gi].T_owned) nn_cuda_free(c, m->g[gi].T);
    free(m->g);
    void *dev[] = {m->params, m->grads,  m->theta, m->dtheta,     m->work,      m->prep,
                   m->part_f, m->part_d, m->red,   m->group_bits, m->exact_part};
    for (size_t i = 0; i < sizeof dev / sizeof dev[0]; i++) nn_cuda_free(c, dev[i]);
    nn_cuda_host_free(c, m->h_bits);
    free(m);
}

static int create_fail(rp_cuda_model *m, int rc) {
    rp_cuda_model_free(m);
    return rc;
}

#define CREATE_ALLOC(ptr, bytes)                                    \
    do {                                                            \
        int rc_ = nn_cuda_malloc(c, (void **)&(ptr), (bytes), err); \
        if (rc_) return create_fail(m, rc_);                        \
    } while (0)

extern "C" int rp_cuda_model_create(nn_cuda *c, rp_model *host, nn_cuda_model *net, rp_cuda_model **out, epr_err *err) {
    *out = NULL;
    rp_cuda_model *m = (rp_cuda_model *)calloc(1, sizeof *m);
    RETURN_ERROR_IF(!m, err, EPR_ENOMEM, "out of memory");
    m->c = c;
    m->host = host;
    m->net = net;
    m->ng = rp_model_num_groups(host);
    m->g = (cgroup *)calloc((size_t)(m->ng ? m->ng : 1), sizeof *m->g);
    if (!m->g) return create_fail(m, cmn_fail(err, EPR_ENOMEM, "out of memory"));
    m->n = rp_model_size(host);
    m->n_theta = rp_model_theta_size(host);
    m->dens_off = rp_model_density_offset(host);
    m->dens_n = rp_model_density_size(host);
    size_t psi_b, psi_e;
    rp_model_psi_range(host, &psi_b, &psi_e);
    m->comp_end = psi_e;
    nn_model *hnet = rp_model_net(host);

    size_t max_tensor = 1, max_part = 1;
    for (int gi = 0; gi < m->ng; gi++) {
        cgroup *g = &m->g[gi];
        const rp_group_def *d = rp_model_group(host, gi);
        size_t npsi;
        g->decoder = d->decoder;
        g->transform = d->transform;
        g->ell = d->ell;
        g->n_log_s = rp_model_group_n_log_s(host, gi);
        g->nt = d->n_tensors;
        rp_model_group_layout(host, gi, &g->latent_off, &g->n, &g->psi_off, &npsi, &g->dens_off);
        g->rows = g->n / (size_t)g->ell;
        size_t toff = 0;
        for (int j = 0; j < g->nt; j++) {
            int ti = rp_model_group_tensor(host, gi, j);
            g->tsize[j] = nn_model_tensor(hnet, ti)->size;
            g->toff[j] = toff;
            toff += g->tsize[j];
            rp_model_tensor_storage(host, ti, &g->theta_off[j]);
            if (g->tsize[j] > max_tensor) max_tensor = g->tsize[j];
            /* decoder backward partials: affine as [size x 1], conv-affine [rows x ell] */
            size_t ell_d = g->decoder == EPR_DECODER_AFFINE ? 1 : (size_t)g->ell;
            size_t p = div_up(g->tsize[j] / ell_d, EPR_CUDA_CHUNK) * ell_d;
            if (p > max_part) max_part = p;
        }
        size_t p = div_up(g->rows, EPR_CUDA_CHUNK) * (size_t)g->ell;
        if (p > max_part) max_part = p;
    }
    m->max_part = max_part;
    CREATE_ALLOC(m->params, (m->n + 1) * sizeof(float));
    CREATE_ALLOC(m->grads, (m->n + EPR_MODEL_GRAD_TAIL) * sizeof(float));
    CREATE_ALLOC(m->theta, (m->n_theta + 1) * sizeof(float));
    CREATE_ALLOC(m->dtheta, (m->n_theta + 1) * sizeof(float));
    CREATE_ALLOC(m->work, max_tensor * sizeof(float));
    CREATE_ALLOC(m->prep, 64 * EPR_DENSITY_NPARAMS * sizeof(float));
    CREATE_ALLOC(m->part_f, EPR_DENSITY_NPARAMS * max_part * sizeof(float));
    CREATE_ALLOC(m->part_d, 2 * max_part * sizeof(double));
    CREATE_ALLOC(m->red, 64 * RATE_NQ * sizeof(double));
    CREATE_ALLOC(m->group_bits, (size_t)(m->ng + 1) * sizeof(double));
    CREATE_ALLOC(m->exact_part, EXACT_BLOCKS * sizeof(double));
    {
        int rc = nn_cuda_host_alloc(c, (void **)&m->h_bits, (size_t)(m->ng + 1) * sizeof(double), err);
        if (rc) return create_fail(m, rc);
    }
    nn_cuda_memset0(c, m->grads, (m->n + EPR_MODEL_GRAD_TAIL) * sizeof(float));
    nn_cuda_memset0(c, m->dtheta, (m->n_theta + 1) * sizeof(float));

    /* T: a fixed one is copied from the host model, a learned one lives in Ψ */
    for (int gi = 0; gi < m->ng; gi++) {
        cgroup *g = &m->g[gi];
        if (g->decoder != EPR_DECODER_CONV_AFFINE || g->transform == EPR_TRANSFORM_IDENTITY) continue;
        if (g->transform == EPR_TRANSFORM_LEARNED) {
            g->T = m->params + g->psi_off + 2 * (size_t)g->ell;
            continue;
        }
        size_t ell = (size_t)g->ell;
        float *h = (float *)malloc((2 * ell + ell * ell) * sizeof(float));
        if (!h) return create_fail(m, cmn_fail(err, EPR_ENOMEM, "out of memory"));
        rp_model_decoder_values(host, gi, h, h + ell, h + 2 * ell);
        int rc = nn_cuda_malloc(c, (void **)&g->T, ell * ell * sizeof(float), err);
        if (!rc) {
            g->T_owned = 1;
            rc = nn_cuda_upload(c, g->T, h + 2 * ell, ell * ell * sizeof(float));
            if (!rc) rc = nn_cuda_sync(c, err);
        }
        free(h);
        if (rc) return create_fail(m, rc);
    }

    /* bind every nn tensor as the host model does */
    for (int i = 0; i < nn_model_num_tensors(hnet); i++) {
        size_t off;
        if (rp_model_tensor_storage(host, i, &off))
            nn_cuda_model_bind(net, i, m->theta + off, m->dtheta + off);
        else
            nn_cuda_model_bind(net, i, m->params + off, m->grads + off);
    }
    rp_cuda_upload(m);
    rp_cuda_decode(m);
    int rc = nn_cuda_sync(c, err);
    if (rc) return create_fail(m, rc);
    *out = m;
    return 0;
}

extern "C" float *rp_cuda_params(rp_cuda_model *m) { return m->params; }
extern "C" float *rp_cuda_grads(rp_cuda_model *m) { return m->grads; }
extern "C" float *rp_cuda_theta(rp_cuda_model *m) { return m->theta; }
extern "C" float *rp_cuda_dtheta(rp_cuda_model *m) { return m->dtheta; }

extern "C" void rp_cuda_upload(rp_cuda_model *m) {
    nn_cuda_upload(m->c, m->params, rp_model_params(m->host), m->n * sizeof(float));
    nn_cuda_sync(m->c, NULL); /* the host block may change right after */
}

extern "C" void rp_cuda_download(rp_cuda_model *m) {
    nn_cuda_download(m->c, rp_model_params(m->host), m->params, m->n * sizeof(float));
}

static cudaStream_t stream_of(rp_cuda_model *m) { return (cudaStream_t)nn_cuda_stream(m->c); }

extern "C" void rp_cuda_decode(rp_cuda_model *m) {
    cudaStream_t st = stream_of(m);
    for (int gi = 0; gi < m->ng; gi++) {
        cgroup *g = &m->g[gi];
        const float *psi = m->params + g->psi_off;
        for (int j = 0; j < g->nt; j++) {
            const size_t size = g->tsize[j];
            const float *latent = m->params + g->latent_off + g->toff[j];
            float *theta = m->theta + g->theta_off[j];
            const unsigned nb = nn_cuda_blocks(size);
            if (g->decoder == EPR_DECODER_AFFINE) {
                k_coeffs<<<nb, NN_CUDA_THREADS, 0, st>>>(latent, size, 1, psi, 1, psi + 1, theta);
            } else if (!g->T) {
                k_coeffs<<<nb, NN_CUDA_THREADS, 0, st>>>(latent, size, g->ell, psi, g->ell, psi + g->ell, theta);
            } else {
                /* Theta = 1 c^T + Q T^T */
                const int rows = (int)(size / (size_t)g->ell);
                k_coeffs<<<nb, NN_CUDA_THREADS, 0, st>>>(latent, size, g->ell, psi, g->ell, NULL, m->work);
                k_fill_rows<<<nb, NN_CUDA_THREADS, 0, st>>>(theta, size, g->ell, psi + g->ell);
                nn_cuda_gemm(m->c, 0, 1, rows, g->ell, g->ell, 1.0f, m->work, g->ell, g->T, g->ell, 1.0f, theta,
                             g->ell);
            }
        }
    }
}

extern "C" void rp_cuda_backward(rp_cuda_model *m) {
    if (!m->ng) return;
    cudaStream_t st = stream_of(m);
    nn_cuda_memset0(m->c, m->grads, m->comp_end * sizeof(float));
    nn_cuda_memset0(m->c, m->grads + m->dens_off, m->dens_n * sizeof(float));
    for (int gi = 0; gi < m->ng; gi++) {
        cgroup *g = &m->g[gi];
        const float *psi = m->params + g->psi_off;
        float *dpsi = m->grads + g->psi_off;
        const int affine = g->decoder == EPR_DECODER_AFFINE;
        const int ell = affine ? 1 : g->ell; /* affine: the tensor as one column */
        for (int j = 0; j < g->nt; j++) {
            const size_t size = g->tsize[j], rows = size / (size_t)ell;
            const float *dtheta = m->dtheta + g->theta_off[j];
            const float *latent = m->params + g->latent_off + g->toff[j];
            float *dlatent = m->grads + g->latent_off + g->toff[j];
            const float *dQ = dtheta;
            if (!affine && g->T) {
                if (g->transform == EPR_TRANSFORM_LEARNED) {
                    /* dT += dTheta^T Q, Q = s . phi recomputed */
                    k_coeffs<<<nn_cuda_blocks(size), NN_CUDA_THREADS, 0, st>>>(latent, size, ell, psi, ell, NULL,
                                                                               m->work);
                    nn_cuda_gemm(m->c, 1, 0, ell, ell, (int)rows, 1.0f, dtheta, ell, m->work, ell, 1.0f,
                                 dpsi + 2 * (size_t)ell, ell);
                }
                /* dQ = dTheta T */
                nn_cuda_gemm(m->c, 0, 0, (int)rows, ell, ell, 1.0f, dtheta, ell, g->T, ell, 0.0f, m->work, ell);
                dQ = m->work;
            }
            const size_t nchunk = div_up(rows, EPR_CUDA_CHUNK), stride = nchunk * (size_t)ell;
            if (!stride) continue;
            k_dec_back<<<(unsigned)div_up(stride, 128), 128, 0, st>>>(latent, dQ, dtheta, rows, ell, psi, affine,
                                                                      dlatent, m->part_d, stride);
            k_reduce<<<dim3((unsigned)ell, 2), RED_THREADS, 0, st>>>(NULL, m->part_d, 0, stride, nchunk, ell, 2,
                                                                     m->red);
            k_dec_finish<<<1, 1, 0, st>>>(m->red, ell, psi, affine, dpsi);
        }
    }
}

/* *out = the groups' bits summed in group order (as the CPU's total). */
__global__ void k_sum_groups(const double *bits, int ng, double *out) {
    double total = 0.0;
    for (int gi = 0; gi < ng; gi++) total += bits[gi];
    *out = total;
}

extern "C" void rp_cuda_rate_noisy_async(rp_cuda_model *m, uint64_t seed, long step, double lambda, int rank,
                                         int nranks, double *d_bits) {
    if (step < 0 || (uint64_t)step >= (1ULL << 24) || m->ng > 256) {
        /* as the CPU: only reachable through a programming error */
        fprintf(stderr, "epr: internal error in the device rate: step %ld or %d groups beyond the noise counter\n",
                step, m->ng);
        abort();
    }
    cudaStream_t st = stream_of(m);
    for (int gi = 0; gi < m->ng; gi++) {
        cgroup *g = &m->g[gi];
        size_t b, e;
        rp_model_rows_split(g->rows, rank, nranks, &b, &e);
        const size_t nchunk = div_up(e - b, EPR_CUDA_CHUNK), stride = nchunk * (size_t)g->ell;
        if (!stride) {
            nn_cuda_memset0(m->c, m->group_bits + gi, sizeof(double));
            continue;
        }
        const int nd = g->ell * EPR_DENSITY_NPARAMS;
        const float *dens = m->params + g->dens_off;
        rp_noise_key key = {seed, (uint64_t)step, (uint32_t)gi, 0};
        k_prep<<<(unsigned)div_up((size_t)nd, 128), 128, 0, st>>>(dens, nd, m->prep);
        k_rate<<<(unsigned)div_up(stride, 128), 128, 0, st>>>(m->prep, m->params + g->latent_off, g->ell, b, e,
                                                              m->params + g->psi_off, g->n_log_s, key, (float)lambda,
                                                              m->grads + g->latent_off, m->part_f, m->part_d, stride);
        k_reduce<<<dim3((unsigned)g->ell, RATE_NQ), RED_THREADS, 0, st>>>(m->part_f, m->part_d, EPR_DENSITY_NPARAMS,
                                                                          stride, nchunk, g->ell, RATE_NQ, m->red);
        k_rate_finish<<<(unsigned)div_up((size_t)nd, 128), 128, 0, st>>>(m->red, dens, m->prep, g->ell, g->n_log_s,
                                                                         m->grads + g->dens_off, m->grads + g->psi_off,
                                                                         m->group_bits + gi);
    }
    k_sum_groups<<<1, 1, 0, st>>>(m->group_bits, m->ng, d_bits);
}

extern "C" double rp_cuda_rate_noisy(rp_cuda_model *m, uint64_t seed, long step, double lambda, int rank, int nranks) {
    if (!m->ng) return 0.0;
    rp_cuda_rate_noisy_async(m, seed, step, lambda, rank, nranks, m->group_bits + m->ng);
    nn_cuda_download(m->c, m->h_bits, m->group_bits + m->ng, sizeof(double));
    return m->h_bits[0];
}

extern "C" double rp_cuda_rate_exact(rp_cuda_model *m, double *per_group) {
    if (!m->ng) return 0.0;
    cudaStream_t st = stream_of(m);
    for (int gi = 0; gi < m->ng; gi++) {
        cgroup *g = &m->g[gi];
        size_t nb = div_up(g->n, RED_THREADS);
        if (nb > EXACT_BLOCKS) nb = EXACT_BLOCKS;
        if (nb < 1) nb = 1;
        k_exact<<<(unsigned)nb, RED_THREADS, 0, st>>>(m->params + g->dens_off, m->params + g->latent_off, g->n, g->ell,
                                                      m->params + g->psi_off, g->n_log_s, m->exact_part);
        k_exact_sum<<<1, RED_THREADS, 0, st>>>(m->exact_part, (int)nb, m->group_bits + gi);
    }
    nn_cuda_download(m->c, m->h_bits, m->group_bits, (size_t)m->ng * sizeof(double));
    double total = 0.0;
    for (int gi = 0; gi < m->ng; gi++) {
        if (per_group) per_group[gi] = m->h_bits[gi];
        total += m->h_bits[gi];
    }
    return total;
}
