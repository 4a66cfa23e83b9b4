/* layers.cu — forward and backward of every layer type on the device, the
 * counterpart of src/nn/layers.c (same layouts, same gradient convention:
 * a backward call overwrites its input gradient or, acc=1, adds into it).
 *
 * Convolution and dense layers are im2col + cuBLAS SGEMM (3x3 stride-1
 * convolutions: Winograd, winograd.cu, unless switched off; large 1x1
 * stride-1 ones: one product per sample, conv_direct); everything else
 * is one kernel (or two) per layer.  Scatter-adds (col2im, pooling
 * backward) are written as gathers, one thread per input element summing
 * its contributions in the CPU's order, and the reductions (batch norm,
 * biases) use a fixed thread-to-element map and a fixed tree: no atomics,
 * so the results are the same bits run to run.  Nothing here allocates. */
#include "nn/cuda/nn_cuda_internal.h"

/* ---- im2col / col2im: col is [K, ns*P], row r = (c*k + i)*k + j ---- */
__global__ void k_im2col(const float *x, int ns, int C, int H, int W, int k, int stride, int pad, int OH, int OW,
                         float *col) {
    const unsigned P = (unsigned)OH * OW, ld = (unsigned)ns * P, total = (unsigned)C * k * k * ld;
    GRID_LOOP(idx, total) {
        unsigned r = idx / ld, q = idx % ld;
        int s = (int)(q / P), p = (int)(q % P);
        int j = (int)(r % k), i = (int)((r / k) % k), c = (int)(r / ((unsigned)k * k));
        int oy = p / OW, ox = p % OW;
        int iy = oy * stride - pad + i, ix = ox * stride - pad + j;
        float v = 0.0f;
        if (iy >= 0 && iy < H && ix >= 0 && ix < W) v = x[(((unsigned)s * C + c) * H + iy) * W + ix];
        col[idx] = v;
    }
}

/* One thread per dx element; taps in (i, j) order as col2im in layers.c. */
__global__ void k_col2im(const float *col, int ns, int C, int H, int W, int k, int stride, int pad, int OH, int OW,
                         float *dx, int acc) {
    const unsigned P = (unsigned)OH * OW, ld = (unsigned)ns * P, total = (unsigned)ns * C * H * W;
    GRID_LOOP(idx, total) {
        int ix = (int)(idx % W), iy = (int)((idx / W) % H), c = (int)((idx / ((unsigned)W * H)) % C);
        int s = (int)(idx / ((unsigned)W * H * C));
        float v = acc ? dx[idx] : 0.0f;
        for (int i = 0; i < k; i++) {
            int ty = iy + pad - i;
            if (ty < 0 || ty % stride) continue;
            int oy = ty / stride;
            if (oy >= OH) continue;
            for (int j = 0; j < k; j++) {
                int tx = ix + pad - j;
                if (tx < 0 || tx % stride) continue;
                int ox = tx / stride;
                if (ox >= OW) continue;
                v += col[((unsigned)(c * k + i) * k + j) * ld + (unsigned)s * P + (unsigned)oy * OW + ox];
            }
        }
        dx[idx] = v;
    }
}

/* y[s, o, p] = b[o] for every sample (bias before a beta=1 GEMM). */
__global__ void k_bias_fill(float *y, const float *b, int n, int oc, int P) {
    const unsigned total = (unsigned)n * oc * P;
    GRID_LOOP(idx, total) y[idx] = b[(idx / P) % oc];
}

/* [cn, oc, P] -> [oc, cn*P] */
__global__ void k_gather_chunk(const float *dy, int cn, int oc, int P, float *g) {
    const unsigned N = (unsigned)cn * P, total = (unsigned)oc * N;
    GRID_LOOP(idx, total) {
        unsigned o = idx / N, q = idx % N, s = q / P, p = q % P;
        g[idx] = dy[(s * oc + o) * P + p];
    }
}

/* Block-wide sums of per-thread partials, in double, in a fixed tree. */
template <int NT> __device__ double block_sum(double v, double *sh) {
    sh[threadIdx.x] = v;
    __syncthreads();
    for (int w = NT / 2; w > 0; w >>= 1) {
        if ((int)threadIdx.x < w) sh[threadIdx.x] += sh[threadIdx.x + w];
        __syncthreads();
    }
    double r = sh[0];
    __syncthreads();
    return r;
}

#define RED_T 256
/* Per-channel sum of a [n, C, P] tensor: one block per channel.  Each
 * thread sums its elements in float (as layers.c sums within a plane),
 * the block combines the partials in double. */
__global__ void k_channel_sum(const float *d, int n, int C, int P, float *out) {
    __shared__ double sh[RED_T];
    const int c = blockIdx.x;
    const unsigned cnt = (unsigned)n * P;
    float acc = 0.0f;
    for (unsigned q = threadIdx.x; q < cnt; q += RED_T) acc += d[((q / P) * C + c) * P + q % P];
    double s = block_sum<RED_T>((double)acc, sh);
    if (threadIdx.x == 0) out[c] = (float)s;
}

/* Dense bias gradient: db[o] = sum_s dy[s, o], in sample order (the CPU's
 * order exactly). */
__global__ void k_col_sum(const float *dy, int n, int out, float *db) {
    GRID_LOOP(o, (unsigned)out) {
        float s = 0.0f;
        for (int i = 0; i < n; i++) s += dy[(unsigned)i * out + o];
        db[o] = s;
    }
}

int nn_cuda_conv_chunk(const nn_layer *L, int n) {
    const size_t per = (size_t)L->c * L->k * L->k * L->oh * L->ow;
    size_t ch = NN_CUDA_COL_CAP / per;
    if (ch < 1) ch = 1;
    return (size_t)n < ch ? n : (int)ch;
}

/* [oc, cn*P] (+ bias) -> y[cn, oc, P] */
__global__ void k_scatter_chunk(const float *g, const float *b, int cn, int oc, int P, float *y) {
    const unsigned N = (unsigned)cn * P, total = (unsigned)oc * N;
    GRID_LOOP(idx, total) { /* idx runs over y's layout: coalesced writes */
        unsigned p = idx % P, o = (idx / P) % oc, s = idx / ((unsigned)P * oc);
        float v = g[o * N + s * P + p];
        y[idx] = b ? v + b[o] : v;
    }
}

/* A 1x1 stride-1 convolution without padding is one product per sample,
 * y_s[oc, P] = W[oc, c] x_s[c, P], in x's and y's own layouts: where P is
 * large enough to keep cuBLAS busy, one strided-batched call over the
 * samples replaces the im2col copy, the wide GEMM and the reorder (and, in
 * the backward pass, dx_s = W^T dy_s replaces dcol and col2im).  The
 * threshold (nn_cuda_set_direct_min, default NN_CUDA_DIRECT_P = 49 pixels:
 * all of ResNet-50's 1x1 stride-1 layers, down to 7x7) was measured with
 * bench_gpu_nn --direct-min: 1.7% more img/s than 256 (which left the 14x14
 * and 7x7 ones to im2col); smaller outputs keep the wide GEMM. */
static int conv_direct(const nn_cuda_model *m, const nn_layer *L) {
    return L->k == 1 && L->stride == 1 && L->pad == 0 && L->oh * L->ow >= m->c->direct_min;
}

int nn_cuda_profile_key(const nn_cuda_model *m, const nn_layer *L) {
    if (L->op != NN_CONV) return (int)L->op;
    if (m->c->winograd && m->wino_u && nn_cuda_wino_layer(L)) return NN_CUDA_PROF_WINO;
    return conv_direct(m, L) ? NN_CUDA_PROF_DIRECT : NN_CUDA_PROF_IM2COL;
}

/* One im2col and one GEMM W[oc, K] x col[K, cn*P] per chunk of samples
 * (a wide product: cuBLAS is far more efficient on N = cn*P than on cn
 * products of N = P), then a reorder into y's [n, oc, P] with the bias. */
static void conv_forward(nn_cuda_model *m, nn_layer *L, const float *x, int n) {
    const nn_param *Wt = &m->tensors[L->wt];
    const float *b = L->bt >= 0 ? m->tensors[L->bt].w : NULL;
    if (m->c->winograd && m->wino_u && nn_cuda_wino_layer(L)) {
        nn_cuda_wino_forward(m, L, x, n);
        return;
    }
    const int K = L->c * L->k * L->k, P = L->oh * L->ow, chunk = nn_cuda_conv_chunk(L, n);
    if (conv_direct(m, L)) { /* col is not touched: its owner stays valid */
        if (b) k_bias_fill<<<LAUNCH((size_t)n * L->out_size)>>>(L->y, b, n, L->oc, P);
        nn_cuda_gemm_batched(m->c, 0, 0, L->oc, P, L->c, 1.0f, Wt->w, L->c, 0, x, P, (long long)L->in_size,
                             b ? 1.0f : 0.0f, L->y, P, (long long)L->out_size, n);
        return;
    }
    for (int s0 = 0; s0 < n; s0 += chunk) {
        int cn = n - s0 < chunk ? n - s0 : chunk, N = cn * P;
        float *y = L->y + (size_t)s0 * L->out_size;
        k_im2col<<<LAUNCH((size_t)K * N)>>>(x + (size_t)s0 * L->in_size, cn, L->c, L->h, L->w, L->k, L->stride, L->pad,
                                            L->oh, L->ow, m->col);
        if (cn == 1) { /* [oc, P] is y's layout already */
            if (b) k_bias_fill<<<LAUNCH(L->out_size)>>>(y, b, 1, L->oc, P);
            nn_cuda_gemm(m->c, 0, 0, L->oc, P, K, 1.0f, Wt->w, K, m->col, P, b ? 1.0f : 0.0f, y, P);
            continue;
        }
        nn_cuda_gemm(m->c, 0, 0, L->oc, N, K, 1.0f, Wt->w, K, m->col, N, 0.0f, m->gather, N);
        k_scatter_chunk<<<LAUNCH((size_t)L->oc * N)>>>(m->gather, b, cn, L->oc, P, y);
    }
    m->col_owner = (chunk >= n) ? (int)(L - m->layers) : -1;
    m->col_wino = 0;
    m->col_x = x;
    m->col_n = n;
}

static void conv_backward(nn_cuda_model *m, nn_layer *L, const float *x, float *dx, int acc, int n) {
    const nn_param *Wt = &m->tensors[L->wt];
    float *dW = Wt->dw, *db = L->bt >= 0 ? m->tensors[L->bt].dw : NULL;
    const int K = L->c * L->k * L->k, P = L->oh * L->ow, chunk = nn_cuda_conv_chunk(L, n);
    const int self = (int)(L - m->layers);
    if (db) k_channel_sum<<<L->oc, RED_T, 0, m->c->stream>>>(L->dy, n, L->oc, P, db);
    if (!dW && !dx) return;
    if (m->c->winograd && m->wino_u && nn_cuda_wino_layer(L)) {
        nn_cuda_wino_backward(m, L, x, dx, acc, n);
        return;
    }
    if (conv_direct(m, L) && dx) { /* dx_s = W^T dy_s per sample; dW below */
        nn_cuda_gemm_batched(m->c, 1, 0, L->c, P, L->oc, 1.0f, Wt->w, L->c, 0, L->dy, P, (long long)L->out_size,
                             acc ? 1.0f : 0.0f, dx, P, (long long)L->in_size, n);
        dx = NULL;
        if (!dW) return;
    }
    for (int s0 = 0; s0 < n; s0 += chunk) {
        int cn = n - s0 < chunk ? n - s0 : chunk, N = cn * P;
        const float *g = L->dy + (size_t)s0 * L->out_size; /* dY of the chunk as [oc, cn*P] */
        if (cn > 1) {
            k_gather_chunk<<<LAUNCH((size_t)L->oc * N)>>>(g, cn, L->oc, P, m->gather);
            g = m->gather;
        }
        if (dW) {
            /* The col buffer still holds this layer's forward im2col only if
             * no later conv ran since; otherwise rebuild it, and then it
             * holds no owner's im2col any more (a layer after the owner
             * whose forward left col alone, a 1x1 one, runs backward
             * first). */
            if (!(m->col_owner == self && !m->col_wino && m->col_x == x && m->col_n == n)) {
                k_im2col<<<LAUNCH((size_t)K * N)>>>(x + (size_t)s0 * L->in_size, cn, L->c, L->h, L->w, L->k, L->stride,
                                                    L->pad, L->oh, L->ow, m->col);
                m->col_owner = -1;
            }
            nn_cuda_gemm(m->c, 0, 1, L->oc, K, N, 1.0f, g, N, m->col, N, s0 == 0 ? 0.0f : 1.0f, dW, K);
        }
        if (dx) {
            /* dcol = W^T dY overwrites col: it is no longer needed. */
            nn_cuda_gemm(m->c, 1, 0, K, N, L->oc, 1.0f, Wt->w, K, g, N, 0.0f, m->col, N);
            m->col_owner = -1;
            k_col2im<<<LAUNCH((size_t)cn * L->in_size)>>>(m->col, cn, L->c, L->h, L->w, L->k, L->stride, L->pad, L->oh,
                                                          L->ow, dx + (size_t)s0 * L->in_size, acc);
        }
    }
}

__global__ void k_row_fill(float *y, const float *b, int n, int out) {
    GRID_LOOP(idx, (unsigned)n * out) y[idx] = b[idx % out];
}

static void dense_forward(nn_cuda_model *m, nn_layer *L, const float *x, int n) {
    const nn_param *Wt = &m->tensors[L->wt];
    const int in = (int)L->in_size, out = (int)L->out_size;
    float beta = 0.0f;
    if (L->bt >= 0) {
        k_row_fill<<<LAUNCH((size_t)n * out)>>>(L->y, m->tensors[L->bt].w, n, out);
        beta = 1.0f;
    }
    nn_cuda_gemm(m->c, 0, 1, n, out, in, 1.0f, x, in, Wt->w, in, beta, L->y, out);
}

static void dense_backward(nn_cuda_model *m, nn_layer *L, const float *x, float *dx, int acc, int n) {
    const nn_param *Wt = &m->tensors[L->wt];
    const int in = (int)L->in_size, out = (int)L->out_size;
    if (Wt->dw) nn_cuda_gemm(m->c, 1, 0, out, in, n, 1.0f, L->dy, out, x, in, 0.0f, Wt->dw, in);
    if (L->bt >= 0 && m->tensors[L->bt].dw) k_col_sum<<<LAUNCH((size_t)out)>>>(L->dy, n, out, m->tensors[L->bt].dw);
    if (dx) nn_cuda_gemm(m->c, 0, 0, n, in, out, 1.0f, L->dy, out, Wt->w, in, acc ? 1.0f : 0.0f, dx, in);
}

/* ---- pools ---- */
/* Max over the window clipped to the image (padding = -inf); the first
 * maximum in row-major order wins, as in layers.c (its 2x2 fast path picks
 * the same element). */
__global__ void k_maxpool(const float *x, unsigned planes, int H, int W, int OH, int OW, int k, int st, int pad,
                          float *y, int *argmax) {
    GRID_LOOP(idx, planes * OH * OW) {
        const unsigned q = idx / ((unsigned)OH * OW);
        const int o = (int)(idx % ((unsigned)OH * OW)), oy = o / OW, ox = o % OW;
        const float *xp = x + q * H * W;
        const int y0 = oy * st - pad, i0 = y0 < 0 ? -y0 : 0, i1 = y0 + k > H ? H - y0 : k;
        const int x0 = ox * st - pad, j0 = x0 < 0 ? -x0 : 0, j1 = x0 + k > W ? W - x0 : k;
        int best = (y0 + i0) * W + x0 + j0;
        float v = xp[best];
        for (int i = i0; i < i1; i++)
            for (int j = j0; j < j1; j++) {
                int a = (y0 + i) * W + x0 + j;
                if (xp[a] > v) {
                    v = xp[a];
                    best = a;
                }
            }
        y[idx] = v;
        argmax[idx] = best;
    }
}

/* Output windows (oy range) that contain input row iy. */
__device__ void windows_of(int iy, int k, int st, int pad, int OH, int *lo, int *hi) {
    int t = iy + pad - k + 1; /* oy*st >= t */
    int l = t > 0 ? (t + st - 1) / st : 0;
    int h = (iy + pad) / st; /* oy*st <= iy + pad */
    if (h > OH - 1) h = OH - 1;
    *lo = l;
    *hi = h;
}

__global__ void k_maxpool_back(const float *dy, const int *argmax, unsigned planes, int H, int W, int OH, int OW, int k,
                               int st, int pad, float *dx, int acc) {
    GRID_LOOP(idx, planes * H * W) {
        const unsigned q = idx / ((unsigned)H * W);
        const int a = (int)(idx % ((unsigned)H * W)), iy = a / W, ix = a % W;
        int ylo, yhi, xlo, xhi;
        windows_of(iy, k, st, pad, OH, &ylo, &yhi);
        windows_of(ix, k, st, pad, OW, &xlo, &xhi);
        const float *d = dy + q * OH * OW;
        const int *ap = argmax + q * OH * OW;
        float v = acc ? dx[idx] : 0.0f;
        for (int oy = ylo; oy <= yhi; oy++)
            for (int ox = xlo; ox <= xhi; ox++)
                if (ap[oy * OW + ox] == a) v += d[oy * OW + ox];
        dx[idx] = v;
    }
}

__global__ void k_avgpool(const float *x, unsigned planes, int H, int W, int OH, int OW, int k, int st, float *y) {
    const float inv = 1.0f / (float)(k * k);
    GRID_LOOP(idx, planes * OH * OW) {
        const unsigned q = idx / ((unsigned)OH * OW);
        const int o = (int)(idx % ((unsigned)OH * OW)), oy = o / OW, ox = o % OW;
        const float *xp = x + q * H * W;
        float s = 0.0f;
        for (int i = 0; i < k; i++)
            for (int j = 0; j < k; j++) s += xp[(oy * st + i) * W + ox * st + j];
        y[idx] = s * inv;
    }
}

__global__ void k_avgpool_back(const float *dy, unsigned planes, int H, int W, int OH, int OW, int k, int st, float *dx,
                               int acc) {
    const float inv = 1.0f / (float)(k * k);
    GRID_LOOP(idx, planes * H * W) {
        const unsigned q = idx / ((unsigned)H * W);
        const int a = (int)(idx % ((unsigned)H * W)), iy = a / W, ix = a % W;
        int ylo, yhi, xlo, xhi;
        windows_of(iy, k, st, 0, OH, &ylo, &yhi);
        windows_of(ix, k, st, 0, OW, &xlo, &xhi);
        const float *d = dy + q * OH * OW;
        float v = acc ? dx[idx] : 0.0f;
        for (int oy = ylo; oy <= yhi; oy++)
            for (int ox = xlo; ox <= xhi; ox++) v += d[oy * OW + ox] * inv;
        dx[idx] = v;
    }
}

/* Global average pool: one thread per plane, summing in order (layers.c). */
__global__ void k_gap(const float *x, unsigned planes, int ip, float *y) {
    const float inv = 1.0f / (float)ip;
    GRID_LOOP(q, planes) {
        const float *xp = x + q * ip;
        float s = 0.0f;
        for (int i = 0; i < ip; i++) s += xp[i];
        y[q] = s * inv;
    }
}

__global__ void k_gap_back(const float *dy, unsigned planes, int ip, float *dx, int acc) {
    const float inv = 1.0f / (float)ip;
    GRID_LOOP(idx, planes * ip) {
        float g = dy[idx / ip] * inv;
        dx[idx] = acc ? dx[idx] + g : g;
    }
}

/* ---- element-wise ---- */
__global__ void k_relu(const float *x, float *y, unsigned n) { GRID_LOOP(i, n) y[i] = x[i] > 0.0f ? x[i] : 0.0f; }

__global__ void k_relu_back(const float *y, const float *dy, float *dx, unsigned n, int acc) {
    GRID_LOOP(i, n) {
        float g = y[i] > 0.0f ? dy[i] : 0.0f;
        dx[i] = acc ? dx[i] + g : g;
    }
}

/* relu: max(0, a + b), k_relu's expression (NN_FUSE_RELU_OUT) */
__global__ void k_add(const float *a, const float *b, float *y, unsigned n, int relu) {
    GRID_LOOP(i, n) {
        float v = a[i] + b[i];
        y[i] = relu ? (v > 0.0f ? v : 0.0f) : v;
    }
}

__global__ void k_pass(const float *dy, float *dx, unsigned n, int acc) {
    GRID_LOOP(i, n) dx[i] = acc ? dx[i] + dy[i] : dy[i];
}

/* ---- batch norm ----
 * Per-channel reductions in two levels, so that a layer with few channels
 * still fills the GPU: block (c, j) sums the j-th of S equal slices of the
 * channel's n*P values (float per thread, as layers.c sums in float within
 * a plane; double across threads), then one thread per channel adds the S
 * partial sums in order.  Fixed slices and order: deterministic. */
int nn_cuda_bn_split(size_t cnt) {
    size_t s = cnt / 8192;
    if (s < 1) s = 1;
    if (s > NN_CUDA_BN_SPLIT) s = NN_CUDA_BN_SPLIT;
    return (int)s;
}

/* mode 0: sum x; mode 1: sum (x - mean)^2; mode 2: sum dy and sum dy*(x - mean) */
__global__ void k_bn_partial(const float *x, const float *dy, int n, int C, int P, const float *mean, int mode,
                             double *part) {
    __shared__ double sh[RED_T];
    const int c = blockIdx.x, j = blockIdx.y, S = gridDim.y;
    const unsigned cnt = (unsigned)n * P, per = (cnt + S - 1) / S, q0 = (unsigned)j * per,
                   q1 = q0 + per < cnt ? q0 + per : cnt;
    const float mu = mode ? mean[c] : 0.0f;
    float a = 0.0f, b = 0.0f;
    for (unsigned q = q0 + threadIdx.x; q < q1; q += RED_T) {
        unsigned i = q / P, off = (i * C + c) * P + (q - i * P);
        if (mode == 0) {
            a += x[off];
        } else if (mode == 1) {
            float dv = x[off] - mu;
            a += dv * dv;
        } else {
            float d = dy[off];
            a += d;
            b += d * (x[off] - mu);
        }
    }
    double ra = block_sum<RED_T>((double)a, sh);
    if (mode == 2) {
        double rb = block_sum<RED_T>((double)b, sh);
        if (threadIdx.x == 0) part[2 * ((unsigned)c * S + j) + 1] = rb;
    }
    if (threadIdx.x == 0) part[2 * ((unsigned)c * S + j)] = ra;
}

/* Training statistics of every channel from the partial sums, with the
 * formulas of bn_forward: stage 0 the mean, stage 1 1/sqrt(var + eps) and
 * the running-statistics update (unbiased variance). */
__global__ void k_bn_stats_fin(const double *part, int C, int S, unsigned cnt, int stage, float eps, float mom,
                               float *mean, float *invstd, float *rm, float *rv) {
    GRID_LOOP(c, (unsigned)C) {
        double t = 0.0;
        for (int j = 0; j < S; j++) t += part[2 * (c * S + j)];
        if (stage == 0) {
            mean[c] = (float)(t / (double)cnt);
            continue;
        }
        double var = t / (double)cnt;
        invstd[c] = (float)(1.0 / sqrt(var + eps));
        double unb = cnt > 1 ? t / (double)(cnt - 1) : var;
        rm[c] = (1.0f - mom) * rm[c] + mom * mean[c];
        rv[c] = (1.0f - mom) * rv[c] + mom * (float)unb;
    }
}

/* dbeta = sum dy, and the two mean terms of the training-mode gradient
 * (zero in eval mode, where batch norm is a fixed affine map). */
__global__ void k_bn_back_fin(const double *part, int C, int S, unsigned cnt, const float *invstd, int training,
                              float *dbeta, float *red) {
    GRID_LOOP(c, (unsigned)C) {
        double sd = 0.0, sdx = 0.0;
        for (int j = 0; j < S; j++) {
            sd += part[2 * (c * S + j)];
            sdx += part[2 * (c * S + j) + 1];
        }
        sdx *= invstd[c];
        if (dbeta) dbeta[c] = (float)sd;
        red[2 * c] = training ? (float)(sd / (double)cnt) : 0.0f;
        red[2 * c + 1] = training ? (float)(sdx / (double)cnt) : 0.0f;
    }
}

__global__ void k_bn_eval_stats(int C, float eps, const float *rm, const float *rv, float *mean_out,
                                float *invstd_out) {
    GRID_LOOP(c, (unsigned)C) {
        mean_out[c] = rm[c];
        invstd_out[c] = 1.0f / sqrtf(rv[c] + eps);
    }
}

/* relu: max(0, output), k_relu's expression (NN_FUSE_RELU_OUT) */
__global__ void k_bn_apply(const float *x, unsigned total, int C, int P, const float *mean, const float *invstd,
                           const float *beta, float *y, int relu) {
    GRID_LOOP(idx, total) {
        int c = (int)((idx / P) % C);
        float b = beta ? beta[c] : 0.0f;
        float v = (x[idx] - mean[c]) * invstd[c] + b;
        y[idx] = relu ? (v > 0.0f ? v : 0.0f) : v;
    }
}

__global__ void k_bn_back_apply(const float *x, const float *dy, unsigned total, int C, int P, const float *mean,
                                const float *invstd, const float *red, float *dx, int acc) {
    GRID_LOOP(idx, total) {
        int c = (int)((idx / P) % C);
        const float is = invstd[c], md = red[2 * c], mdx = red[2 * c + 1];
        float v = is * (dy[idx] - md - (x[idx] - mean[c]) * is * mdx);
        dx[idx] = acc ? dx[idx] + v : v;
    }
}

static void bn_forward(nn_cuda_model *m, nn_layer *L, const float *x, int n, int training, int relu) {
    const int C = L->c, P = L->h * L->w;
    const float *beta = L->bt >= 0 ? m->tensors[L->bt].w : NULL;
    float *rm = m->buffers[L->rmean].data, *rv = m->buffers[L->rvar].data;
    L->bn_training = training;
    if (training) {
        const size_t cnt = (size_t)n * P;
        const int S = nn_cuda_bn_split(cnt);
        const dim3 grid(C, S);
        cudaStream_t st = m->c->stream;
        k_bn_partial<<<grid, RED_T, 0, st>>>(x, NULL, n, C, P, NULL, 0, m->bn_part);
        k_bn_stats_fin<<<LAUNCH((size_t)C)>>>(m->bn_part, C, S, cnt, 0, L->eps, L->momentum, L->bn_mean, L->bn_invstd,
                                              rm, rv);
        k_bn_partial<<<grid, RED_T, 0, st>>>(x, NULL, n, C, P, L->bn_mean, 1, m->bn_part);
        k_bn_stats_fin<<<LAUNCH((size_t)C)>>>(m->bn_part, C, S, cnt, 1, L->eps, L->momentum, L->bn_mean, L->bn_invstd,
                                              rm, rv);
    } else {
        k_bn_eval_stats<<<LAUNCH((size_t)C)>>>(C, L->eps, rm, rv, L->bn_mean, L->bn_invstd);
    }
    const size_t total = (size_t)n * C * P;
    k_bn_apply<<<LAUNCH(total)>>>(x, total, C, P, L->bn_mean, L->bn_invstd, beta, L->y, relu);
}

static void bn_backward(nn_cuda_model *m, nn_layer *L, const float *x, float *dx, int acc, int n) {
    const int C = L->c, P = L->h * L->w;
    float *dbeta = L->bt >= 0 ? m->tensors[L->bt].dw : NULL;
    if (!dbeta && !dx) return;
    const size_t cnt = (size_t)n * P;
    const int S = nn_cuda_bn_split(cnt);
    k_bn_partial<<<dim3(C, S), RED_T, 0, m->c->stream>>>(x, L->dy, n, C, P, L->bn_mean, 2, m->bn_part);
    k_bn_back_fin<<<LAUNCH((size_t)C)>>>(m->bn_part, C, S, cnt, L->bn_invstd, L->bn_training, dbeta, m->bn_red);
    if (!dx) return;
    const size_t total = cnt * C;
    k_bn_back_apply<<<LAUNCH(total)>>>(x, L->dy, total, C, P, L->bn_mean, L->bn_invstd, m->bn_red, dx, acc);
}

void nn_cuda_layer_forward(nn_cuda_model *m, nn_layer *L, const float *x, const float *x2, int n, int training) {
    const size_t N = (size_t)n * L->out_size, planes = (size_t)n * L->c;
    const int fuse = m->fuse[L - m->layers], relu = fuse == NN_FUSE_RELU_OUT;
    switch (L->op) {
    case NN_DENSE: dense_forward(m, L, x, n); break;
    case NN_CONV: conv_forward(m, L, x, n); break;
    case NN_MAXPOOL:
        k_maxpool<<<LAUNCH(N)>>>(x, planes, L->h, L->w, L->oh, L->ow, L->k, L->stride, L->pad, L->y, L->argmax);
        break;
    case NN_AVGPOOL: k_avgpool<<<LAUNCH(N)>>>(x, planes, L->h, L->w, L->oh, L->ow, L->k, L->stride, L->y); break;
    case NN_GAP: k_gap<<<LAUNCH(planes)>>>(x, planes, L->h * L->w, L->y); break;
    case NN_RELU: /* in place when x == L->y (NN_FUSE_RELU_INPLACE) */
        if (fuse != NN_FUSE_RELU_DONE) k_relu<<<LAUNCH(N)>>>(x, L->y, N);
        break;
    case NN_BATCHNORM: bn_forward(m, L, x, n, training, relu); break;
    case NN_ADD: k_add<<<LAUNCH(N)>>>(x, x2, L->y, N, relu); break;
    case NN_FLATTEN: break; /* y aliases the input */
    }
}

void nn_cuda_layer_backward(nn_cuda_model *m, nn_layer *L, const float *x, float *dx, int acc, float *dx2, int acc2,
                            int n) {
    const size_t N = (size_t)n * L->out_size, planes = (size_t)n * L->c, IN = (size_t)n * L->in_size;
    switch (L->op) {
    case NN_DENSE: dense_backward(m, L, x, dx, acc, n); break;
    case NN_CONV: conv_backward(m, L, x, dx, acc, n); break;
    case NN_BATCHNORM: bn_backward(m, L, x, dx, acc, n); break;
    default:
        if (!dx && !dx2) break;
        switch (L->op) {
        case NN_MAXPOOL:
            k_maxpool_back<<<LAUNCH(IN)>>>(L->dy, L->argmax, planes, L->h, L->w, L->oh, L->ow, L->k, L->stride, L->pad,
                                           dx, acc);
            break;
        case NN_AVGPOOL:
            k_avgpool_back<<<LAUNCH(IN)>>>(L->dy, planes, L->h, L->w, L->oh, L->ow, L->k, L->stride, dx, acc);
            break;
        case NN_GAP: k_gap_back<<<LAUNCH(IN)>>>(L->dy, planes, L->h * L->w, dx, acc); break;
        case NN_RELU: k_relu_back<<<LAUNCH(N)>>>(L->y, L->dy, dx, N, acc); break;
        case NN_FLATTEN: k_pass<<<LAUNCH(N)>>>(L->dy, dx, N, acc); break;
        case NN_ADD:
            if (dx) k_pass<<<LAUNCH(N)>>>(L->dy, dx, N, acc);
            if (dx2) k_pass<<<LAUNCH(N)>>>(L->dy, dx2, N, acc2);
            break;
        default: break;
        }
    }
}
