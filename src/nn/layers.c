/* layers.c — forward and backward kernels of every layer type.
 *
 * Owns the arithmetic only: buffers, shapes and the graph walk belong to
 * model.c.  Calls OpenBLAS (cblas_sgemm) and libc.  Nothing here allocates.
 *
 * Gradient convention: a backward call either overwrites its input-gradient
 * buffer or adds into it (acc=1); model.c decides, so that a layer consumed
 * by several others accumulates without any buffer ever being zeroed in
 * full beforehand. */
#include <assert.h>
#include <cblas.h>
#include <math.h>
#include <string.h>

#include "nn/nn_internal.h"

/* ---- im2col / col2im --------------------------------------------------
 * col has one row per (c, i, j) kernel tap, r = (c*k + i)*k + j, and one
 * column per (sample, oy, ox) of the chunk: [K, ns*P].  Then the conv is a
 * single W[oc,K] x col[K, ns*P] product for the whole chunk. */

/* Copy a short row (8..32 floats in LeNet).  The compiler turns any plain
 * copy loop into a memcpy call, which costs more than the copy itself at
 * these sizes; fixed 16-byte memcpys become single moves, and the empty asm
 * hides the induction variable so the loop is not pattern-matched back. */
static inline void copy_row(float *restrict d, const float *restrict s, int n) {
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        memcpy(d + i, s + i, 16);
#if defined(__GNUC__)
        __asm__("" : "+r"(i));
#endif
    }
    for (; i < n; i++) d[i] = s[i];
}

/* Sum with eight independent partial sums, so the loop vectorises without
 * reassociation flags (and rounds better than one running sum). */
static float sum_floats(const float *x, size_t n) {
    float acc[8] = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) acc[j] += x[i + j];
    float s = 0.0f;
    for (; i < n; i++) s += x[i];
    for (int j = 0; j < 8; j++) s += acc[j];
    return s;
}

/* Blocks of eight so that the project's -O2 (GCC's very-cheap vectoriser)
 * still emits vector stores. */
static void fill_floats(float *y, float v, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) y[i + j] = v;
    for (; i < n; i++) y[i] = v;
}

/* sum (x - mu)^2, and sum d * (x - mu): the batch-norm reductions, with
 * the same eight partial sums. */
static float sum_sq_dev(const float *x, size_t n, float mu) {
    float acc[8] = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) acc[j] += (x[i + j] - mu) * (x[i + j] - mu);
    float s = 0.0f;
    for (; i < n; i++) s += (x[i] - mu) * (x[i] - mu);
    for (int j = 0; j < 8; j++) s += acc[j];
    return s;
}

static float dot_dev(const float *d, const float *x, size_t n, float mu) {
    float acc[8] = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) acc[j] += d[i + j] * (x[i + j] - mu);
    float s = 0.0f;
    for (; i < n; i++) s += d[i] * (x[i] - mu);
    for (int j = 0; j < 8; j++) s += acc[j];
    return s;
}

/* Output columns ox whose input column ox*stride - pad + j lies in [0, W). */
static void valid_range(int W, int OW, int stride, int pad, int j, int *lo, int *hi) {
    int a = pad - j; /* need ox*stride >= a */
    int l = a > 0 ? (a + stride - 1) / stride : 0;
    int b = W - 1 + pad - j; /* need ox*stride <= b */
    int h = b >= 0 ? b / stride + 1 : 0;
    if (h > OW) h = OW;
    if (l > h) l = h;
    *lo = l;
    *hi = h;
}

static void im2col(const float *restrict x, int ns, int C, int H, int W, int k, int stride, int pad, int OH, int OW,
                   float *restrict col) {
    const size_t P = (size_t)OH * OW, ld = (size_t)ns * P, plane = (size_t)H * W;
    if (stride == 1 && pad == 0) { /* no borders: every tap row is a plain window copy */
        for (int c = 0; c < C; c++)
            for (int i = 0; i < k; i++)
                for (int j = 0; j < k; j++) {
                    float *row = col + ((size_t)(c * k + i) * k + j) * ld;
                    for (int s = 0; s < ns; s++) {
                        const float *src = x + ((size_t)s * C + c) * plane + (size_t)i * W + j;
                        float *d = row + s * P;
                        for (int oy = 0; oy < OH; oy++, d += OW, src += W) copy_row(d, src, OW);
                    }
                }
        return;
    }
    for (int c = 0; c < C; c++)
        for (int i = 0; i < k; i++)
            for (int j = 0; j < k; j++) {
                float *row = col + ((size_t)(c * k + i) * k + j) * ld;
                int lo, hi;
                valid_range(W, OW, stride, pad, j, &lo, &hi);
                for (int s = 0; s < ns; s++) {
                    const float *xs = x + ((size_t)s * C + c) * plane;
                    for (int oy = 0; oy < OH; oy++) {
                        float *d = row + s * P + (size_t)oy * OW;
                        int iy = oy * stride - pad + i;
                        if (iy < 0 || iy >= H) {
                            memset(d, 0, sizeof(float) * OW);
                            continue;
                        }
                        const float *src = xs + (size_t)iy * W - pad + j;
                        for (int ox = 0; ox < lo; ox++) d[ox] = 0.0f;
                        if (stride == 1)
                            copy_row(d + lo, src + lo, hi - lo);
                        else
                            for (int ox = lo; ox < hi; ox++) d[ox] = src[ox * stride];
                        for (int ox = hi; ox < OW; ox++) d[ox] = 0.0f;
                    }
                }
            }
}

/* dx[ns, C, H, W] += scatter of col (overlapping windows add up). */
static void col2im(const float *restrict col, int ns, int C, int H, int W, int k, int stride, int pad, int OH, int OW,
                   float *restrict dx) {
    const size_t P = (size_t)OH * OW, ld = (size_t)ns * P, plane = (size_t)H * W;
    for (int c = 0; c < C; c++)
        for (int i = 0; i < k; i++)
            for (int j = 0; j < k; j++) {
                const float *row = col + ((size_t)(c * k + i) * k + j) * ld;
                int lo, hi;
                valid_range(W, OW, stride, pad, j, &lo, &hi);
                for (int s = 0; s < ns; s++) {
                    float *xs = dx + ((size_t)s * C + c) * plane;
                    for (int oy = 0; oy < OH; oy++) {
                        int iy = oy * stride - pad + i;
                        if (iy < 0 || iy >= H) continue;
                        const float *d = row + s * P + (size_t)oy * OW;
                        float *dst = xs + (size_t)iy * W - pad + j;
                        if (stride == 1)
                            for (int ox = lo; ox < hi; ox++) dst[ox] += d[ox];
                        else
                            for (int ox = lo; ox < hi; ox++) dst[ox * stride] += d[ox];
                    }
                }
            }
}

int nn_conv_chunk(const nn_layer *L, int n) {
    const size_t P = (size_t)L->oh * L->ow, per = (size_t)L->c * L->k * L->k * P;
    size_t ch = (NN_CONV_MIN_N + P - 1) / P, cap = NN_COL_CAP / per;
    /* The cap never pushes N below NN_CONV_MIN_N: ResNet's 7x7 and 8x8
     * stages (P = 49, 64) then run 3 or 2 samples per sgemm instead of one,
     * 21% faster measured on a 512-channel 7x7 conv pair. */
    if (ch > cap && cap * P >= NN_CONV_MIN_N) ch = cap;
    if (ch < 1) ch = 1;
    return (size_t)n < ch ? n : (int)ch;
}

static void conv_forward(nn_model *m, nn_layer *L, const float *x, int n) {
    const nn_param *W = &m->tensors[L->wt];
    const float *b = L->bt >= 0 ? m->tensors[L->bt].w : NULL;
    const int K = L->c * L->k * L->k, P = L->oh * L->ow, chunk = nn_conv_chunk(L, n);
    for (int s0 = 0; s0 < n; s0 += chunk) {
        int cn = n - s0 < chunk ? n - s0 : chunk, N = cn * P;
        im2col(x + (size_t)s0 * L->in_size, cn, L->c, L->h, L->w, L->k, L->stride, L->pad, L->oh, L->ow, m->col);
        if (cn == 1) { /* the product lands in y's layout directly */
            float *y = L->y + (size_t)s0 * L->out_size;
            for (int o = 0; o < L->oc; o++) fill_floats(y + (size_t)o * P, b ? b[o] : 0.0f, P);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, L->oc, P, K, 1.0f, W->w, K, m->col, P, 1.0f, y, P);
            continue;
        }
        /* [oc, K] x [K, cn*P]: one product per chunk, then a cheap reorder to
         * [cn, oc, P] with the bias folded in. */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, L->oc, N, K, 1.0f, W->w, K, m->col, N, 0.0f, m->gather,
                    N);
        for (int s = 0; s < cn; s++)
            for (int o = 0; o < L->oc; o++) {
                const float *g = m->gather + (size_t)o * N + (size_t)s * P;
                float *y = L->y + (size_t)(s0 + s) * L->out_size + (size_t)o * P;
                float bo = b ? b[o] : 0.0f;
                for (int p = 0; p < P; p++) y[p] = g[p] + bo;
            }
    }
    m->col_owner = (chunk >= n) ? (int)(L - m->layers) : -1;
    m->col_x = x;
    m->col_n = n;
}

static void conv_backward(nn_model *m, nn_layer *L, const float *x, float *dx, int acc, int n) {
    const nn_param *W = &m->tensors[L->wt];
    float *dW = W->dw, *db = L->bt >= 0 ? m->tensors[L->bt].dw : NULL;
    const int K = L->c * L->k * L->k, P = L->oh * L->ow, chunk = nn_conv_chunk(L, n);
    const int self = (int)(L - m->layers);
    if (db) memset(db, 0, sizeof(float) * L->oc);
    for (int s0 = 0; s0 < n; s0 += chunk) {
        int cn = n - s0 < chunk ? n - s0 : chunk, N = cn * P;
        /* dY of the chunk as [oc, cn*P]; a single sample already is. */
        const float *g = L->dy + (size_t)s0 * L->out_size;
        if (cn > 1) {
            for (int s = 0; s < cn; s++)
                for (int o = 0; o < L->oc; o++)
                    memcpy(m->gather + (size_t)o * N + (size_t)s * P,
                           L->dy + (size_t)(s0 + s) * L->out_size + (size_t)o * P, sizeof(float) * P);
            g = m->gather;
        }
        if (db)
            for (int o = 0; o < L->oc; o++) db[o] += sum_floats(g + (size_t)o * N, N);
        if (dW) {
            /* The shared col buffer still holds this layer's forward im2col
             * only if no later conv ran since; otherwise rebuild it. */
            if (!(m->col_owner == self && m->col_x == x && m->col_n == n))
                im2col(x + (size_t)s0 * L->in_size, cn, L->c, L->h, L->w, L->k, L->stride, L->pad, L->oh, L->ow,
                       m->col);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, L->oc, K, N, 1.0f, g, N, m->col, N,
                        s0 == 0 ? 0.0f : 1.0f, dW, K);
        }
        if (dx) {
            /* dcol = W^T dY overwrites col: it is no longer needed. */
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, N, L->oc, 1.0f, W->w, K, g, N, 0.0f, m->col, N);
            m->col_owner = -1;
            float *dxs = dx + (size_t)s0 * L->in_size;
            if (!acc) memset(dxs, 0, sizeof(float) * cn * L->in_size);
            col2im(m->col, cn, L->c, L->h, L->w, L->k, L->stride, L->pad, L->oh, L->ow, dxs);
        }
    }
}

static void dense_forward(nn_model *m, nn_layer *L, const float *x, int n) {
    const nn_param *W = &m->tensors[L->wt];
    const int in = (int)L->in_size, out = (int)L->out_size;
    float beta = 0.0f;
    if (L->bt >= 0) {
        const float *b = m->tensors[L->bt].w;
        for (int s = 0; s < n; s++) memcpy(L->y + (size_t)s * out, b, sizeof(float) * out);
        beta = 1.0f;
    }
    /* y[n,out] = x[n,in] W[out,in]^T (+ b) */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, out, in, 1.0f, x, in, W->w, in, beta, L->y, out);
}

static void dense_backward(nn_model *m, nn_layer *L, const float *x, float *dx, int acc, int n) {
    const nn_param *W = &m->tensors[L->wt];
    const int in = (int)L->in_size, out = (int)L->out_size;
    if (W->dw) /* dW[out,in] = dy^T x */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, n, 1.0f, L->dy, out, x, in, 0.0f, W->dw, in);
    if (L->bt >= 0 && m->tensors[L->bt].dw) {
        float *db = m->tensors[L->bt].dw;
        memset(db, 0, sizeof(float) * out);
        for (int s = 0; s < n; s++) {
            const float *d = L->dy + (size_t)s * out;
            for (int o = 0; o < out; o++) db[o] += d[o];
        }
    }
    if (dx) /* dx[n,in] = dy W */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, in, out, 1.0f, L->dy, out, W->w, in,
                    acc ? 1.0f : 0.0f, dx, in);
}

static void maxpool_forward(nn_layer *L, const float *x, int n) {
    const int H = L->h, W = L->w, OH = L->oh, OW = L->ow, k = L->k, st = L->stride;
    const size_t planes = (size_t)n * L->c, ip = (size_t)H * W, op = (size_t)OH * OW;
    for (size_t q = 0; q < planes; q++) {
        const float *xp = x + q * ip;
        float *yp = L->y + q * op;
        int *ap = L->argmax + q * op;
        if (k == 2 && st == 2 && L->pad == 0) { /* the common case, kept branch-light */
            for (int oy = 0; oy < OH; oy++) {
                const float *r0 = xp + (size_t)2 * oy * W, *r1 = r0 + W;
                for (int ox = 0; ox < OW; ox++) {
                    int b = 2 * oy * W + 2 * ox;
                    float a0 = r0[2 * ox], a1 = r0[2 * ox + 1], b0 = r1[2 * ox], b1 = r1[2 * ox + 1];
                    float m0 = a1 > a0 ? a1 : a0, m1 = b1 > b0 ? b1 : b0;
                    int i0 = b + (a1 > a0), i1 = b + W + (b1 > b0);
                    /* Select by mask: the comparison is a coin flip on real
                     * data, and a branch here mispredicts half the time. */
                    int c = -(m1 > m0);
                    yp[oy * OW + ox] = m1 > m0 ? m1 : m0;
                    ap[oy * OW + ox] = i0 ^ ((i0 ^ i1) & c);
                }
            }
            continue;
        }
        /* Padding counts as -infinity: the window is clipped to the image
         * (never empty, since pad <= k/2). */
        const int pad = L->pad;
        for (int oy = 0; oy < OH; oy++) {
            const int y0 = oy * st - pad, i0 = y0 < 0 ? -y0 : 0, i1 = y0 + k > H ? H - y0 : k;
            for (int ox = 0; ox < OW; ox++) {
                const int x0 = ox * st - pad, j0 = x0 < 0 ? -x0 : 0, j1 = x0 + k > W ? W - x0 : k;
                int best = (y0 + i0) * W + x0 + j0;
                float v = xp[best];
                for (int i = i0; i < i1; i++) {
                    const float *r = xp + (size_t)(y0 + i) * W + x0;
                    for (int j = j0; j < j1; j++)
                        if (r[j] > v) {
                            v = r[j];
                            best = (y0 + i) * W + x0 + j;
                        }
                }
                yp[oy * OW + ox] = v;
                ap[oy * OW + ox] = best;
            }
        }
    }
}

static void maxpool_backward(nn_layer *L, float *dx, int acc, int n) {
    const size_t planes = (size_t)n * L->c, ip = (size_t)L->h * L->w, op = (size_t)L->oh * L->ow;
    for (size_t q = 0; q < planes; q++) {
        float *dp = dx + q * ip;
        const float *d = L->dy + q * op;
        const int *ap = L->argmax + q * op;
        /* Per plane, so the scatter below hits lines still in cache.  (A
         * memset-free direct write for exact 2x2 tiling measured slower.) */
        if (!acc) memset(dp, 0, sizeof(float) * ip);
        for (size_t o = 0; o < op; o++) dp[ap[o]] += d[o];
    }
}

static void avgpool_forward(nn_layer *L, const float *x, int n) {
    const int W = L->w, OH = L->oh, OW = L->ow, k = L->k, st = L->stride;
    const size_t planes = (size_t)n * L->c, ip = (size_t)L->h * W, op = (size_t)OH * OW;
    const float inv = 1.0f / (float)(k * k);
    for (size_t q = 0; q < planes; q++) {
        const float *xp = x + q * ip;
        float *yp = L->y + q * op;
        for (int oy = 0; oy < OH; oy++)
            for (int ox = 0; ox < OW; ox++) {
                float s = 0.0f;
                for (int i = 0; i < k; i++) {
                    const float *r = xp + (size_t)(oy * st + i) * W + ox * st;
                    for (int j = 0; j < k; j++) s += r[j];
                }
                yp[oy * OW + ox] = s * inv;
            }
    }
}

static void avgpool_backward(nn_layer *L, float *dx, int acc, int n) {
    const int W = L->w, OH = L->oh, OW = L->ow, k = L->k, st = L->stride;
    const size_t planes = (size_t)n * L->c, ip = (size_t)L->h * W, op = (size_t)OH * OW;
    const float inv = 1.0f / (float)(k * k);
    for (size_t q = 0; q < planes; q++) {
        float *dp = dx + q * ip;
        const float *d = L->dy + q * op;
        if (!acc) memset(dp, 0, sizeof(float) * ip);
        for (int oy = 0; oy < OH; oy++)
            for (int ox = 0; ox < OW; ox++) {
                float g = d[oy * OW + ox] * inv;
                for (int i = 0; i < k; i++) {
                    float *r = dp + (size_t)(oy * st + i) * W + ox * st;
                    for (int j = 0; j < k; j++) r[j] += g;
                }
            }
    }
}

static void gap_forward(nn_layer *L, const float *x, int n) {
    const size_t planes = (size_t)n * L->c, ip = (size_t)L->h * L->w;
    const float inv = 1.0f / (float)ip;
    for (size_t q = 0; q < planes; q++) {
        const float *xp = x + q * ip;
        float s = 0.0f;
        for (size_t i = 0; i < ip; i++) s += xp[i];
        L->y[q] = s * inv;
    }
}

static void gap_backward(nn_layer *L, float *dx, int acc, int n) {
    const size_t planes = (size_t)n * L->c, ip = (size_t)L->h * L->w;
    const float inv = 1.0f / (float)ip;
    for (size_t q = 0; q < planes; q++) {
        float *dp = dx + q * ip, g = L->dy[q] * inv;
        if (acc)
            for (size_t i = 0; i < ip; i++) dp[i] += g;
        else
            for (size_t i = 0; i < ip; i++) dp[i] = g;
    }
}

static void relu_forward(nn_layer *L, const float *x, int n) {
    const size_t N = (size_t)n * L->out_size;
    float *y = L->y;
    for (size_t i = 0; i < N; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

static void relu_backward(nn_layer *L, float *dx, int acc, int n) {
    /* y > 0 exactly where x > 0, so the output doubles as the mask. */
    const size_t N = (size_t)n * L->out_size;
    const float *restrict y = L->y, *restrict dy = L->dy;
    float *restrict g = dx;
    /* dy[i] is loaded unconditionally: a load inside the ?: is one the
     * compiler may not speculate, and the loop then stays scalar with a
     * mispredicted branch per element (it was 5% of a ResNet-20-4 step). */
    if (acc)
        for (size_t i = 0; i < N; i++) {
            float d = dy[i];
            g[i] += y[i] > 0.0f ? d : 0.0f;
        }
    else
        for (size_t i = 0; i < N; i++) {
            float d = dy[i];
            g[i] = y[i] > 0.0f ? d : 0.0f;
        }
}

static void bn_forward(nn_model *m, nn_layer *L, const float *x, int n, int training) {
    const int C = L->c;
    const size_t P = (size_t)L->h * L->w, cnt = (size_t)n * P;
    const float *beta = L->bt >= 0 ? m->tensors[L->bt].w : NULL;
    const float *gamma = L->wt >= 0 ? m->tensors[L->wt].w : NULL;
    float *rm = m->buffers[L->rmean].data, *rv = m->buffers[L->rvar].data;
    L->bn_training = training;
    for (int c = 0; c < C; c++) {
        float mean, invstd;
        if (training) {
            /* Two passes (mean, then squared deviations): float sums within
             * a plane, double across planes, so a large batch or a mean far
             * from zero costs no accuracy. */
            double s = 0.0, ss = 0.0;
            for (int i = 0; i < n; i++) s += sum_floats(x + ((size_t)i * C + c) * P, P);
            const double mu = s / (double)cnt;
            for (int i = 0; i < n; i++) ss += sum_sq_dev(x + ((size_t)i * C + c) * P, P, (float)mu);
            double var = ss / (double)cnt;
            mean = (float)mu;
            invstd = (float)(1.0 / sqrt(var + L->eps));
            /* Running variance is the unbiased estimate, as in PyTorch. */
            double unb = cnt > 1 ? ss / (double)(cnt - 1) : var;
            rm[c] = (1.0f - L->momentum) * rm[c] + L->momentum * mean;
            rv[c] = (1.0f - L->momentum) * rv[c] + L->momentum * (float)unb;
        } else {
            mean = rm[c];
            invstd = 1.0f / sqrtf(rv[c] + L->eps);
        }
        L->bn_mean[c] = mean;
        L->bn_invstd[c] = invstd;
        float b = beta ? beta[c] : 0.0f;
        for (int i = 0; i < n; i++) {
            const float *xp = x + ((size_t)i * C + c) * P;
            float *yp = L->y + ((size_t)i * C + c) * P;
            if (gamma) {
                const float g = gamma[c];
                for (size_t p = 0; p < P; p++) yp[p] = ((xp[p] - mean) * invstd) * g + b;
            } else {
                for (size_t p = 0; p < P; p++) yp[p] = (xp[p] - mean) * invstd + b;
            }
        }
    }
}

static void bn_backward(nn_model *m, nn_layer *L, const float *x, float *dx, int acc, int n) {
    const int C = L->c;
    const size_t P = (size_t)L->h * L->w, cnt = (size_t)n * P;
    float *dbeta = L->bt >= 0 ? m->tensors[L->bt].dw : NULL;
    float *dgamma = L->wt >= 0 ? m->tensors[L->wt].dw : NULL;
    const float *gamma = L->wt >= 0 ? m->tensors[L->wt].w : NULL;
    for (int c = 0; c < C; c++) {
        const float mean = L->bn_mean[c], invstd = L->bn_invstd[c];
        double sd = 0.0, sdx = 0.0; /* sum dy, sum dy * xhat */
        for (int i = 0; i < n; i++) {
            const float *xp = x + ((size_t)i * C + c) * P, *d = L->dy + ((size_t)i * C + c) * P;
            sd += sum_floats(d, P);
            sdx += dot_dev(d, xp, P, mean);
        }
        sdx *= invstd;
        if (dbeta) dbeta[c] = (float)sd;
        if (dgamma) dgamma[c] = (float)sdx; /* sum dy * xhat */
        if (!dx) continue;
        /* Train mode: the batch statistics depend on x, which adds the two
         * mean terms; eval mode is a fixed affine map.  With gamma, d xhat =
         * gamma * dy, so every term scales by gamma. */
        float md = L->bn_training ? (float)(sd / (double)cnt) : 0.0f;
        float mdx = L->bn_training ? (float)(sdx / (double)cnt) : 0.0f;
        const float scale = gamma ? invstd * gamma[c] : invstd;
        for (int i = 0; i < n; i++) {
            const float *xp = x + ((size_t)i * C + c) * P, *d = L->dy + ((size_t)i * C + c) * P;
            float *g = dx + ((size_t)i * C + c) * P;
            for (size_t p = 0; p < P; p++) {
                float v = scale * (d[p] - md - (xp[p] - mean) * invstd * mdx);
                g[p] = acc ? g[p] + v : v;
            }
        }
    }
}

static void pass_grad(const float *dy, float *dx, int acc, size_t N) {
    if (acc)
        for (size_t i = 0; i < N; i++) dx[i] += dy[i];
    else
        memcpy(dx, dy, sizeof(float) * N);
}

void nn_layer_forward(nn_model *m, nn_layer *L, const float *x, const float *x2, int n, int training) {
    switch (L->op) {
    case NN_DENSE: dense_forward(m, L, x, n); break;
    case NN_CONV: conv_forward(m, L, x, n); break;
    case NN_MAXPOOL: maxpool_forward(L, x, n); break;
    case NN_AVGPOOL: avgpool_forward(L, x, n); break;
    case NN_GAP: gap_forward(L, x, n); break;
    case NN_RELU: relu_forward(L, x, n); break;
    case NN_BATCHNORM: bn_forward(m, L, x, n, training); break;
    case NN_ADD: {
        const size_t N = (size_t)n * L->out_size;
        for (size_t i = 0; i < N; i++) L->y[i] = x[i] + x2[i];
        break;
    }
    case NN_FLATTEN: break; /* y aliases the input */
    }
}

void nn_layer_backward(nn_model *m, nn_layer *L, const float *x, float *dx, int acc, float *dx2, int acc2, int n) {
    switch (L->op) {
    case NN_DENSE: dense_backward(m, L, x, dx, acc, n); break;
    case NN_CONV: conv_backward(m, L, x, dx, acc, n); break;
    case NN_BATCHNORM: bn_backward(m, L, x, dx, acc, n); break;
    default:
        if (!dx && !dx2) break;
        switch (L->op) {
        case NN_MAXPOOL: maxpool_backward(L, dx, acc, n); break;
        case NN_AVGPOOL: avgpool_backward(L, dx, acc, n); break;
        case NN_GAP: gap_backward(L, dx, acc, n); break;
        case NN_RELU: relu_backward(L, dx, acc, n); break;
        case NN_FLATTEN: pass_grad(L->dy, dx, acc, (size_t)n * L->out_size); break;
        case NN_ADD:
            if (dx) pass_grad(L->dy, dx, acc, (size_t)n * L->out_size);
            if (dx2) pass_grad(L->dy, dx2, acc2, (size_t)n * L->out_size);
            break;
        default: assert(0);
        }
    }
}
