/* winograd.cu — 3x3 stride-1 convolutions on the device by Winograd's
 * minimal filtering F(4x4, 3x3) (Lavin & Gray 2016), the fast path beside
 * layers.cu's im2col + SGEMM (nn_cuda_set_winograd; the CPU reference
 * computes the same convolution directly).
 *
 * Each 4x4 block ("tile") of a sample's output is computed from the 6x6
 * input patch under it: with the patch d, the filter g and the constant
 * matrices B (6x6), G (6x3), A (6x4) of the algorithm,
 *     Y = A^T [ (G g G^T) . (B^T d B) ] A,
 * where "." multiplies the 36 transformed values element by element.  Over
 * channels that product is a sum, so the layer is 36 independent matrix
 * products, one per transformed position xi (cuBLAS, strided-batched):
 *     M[xi] (oc x T) = U[xi] (oc x c) V[xi] (c x T),  T = tiles of the chunk,
 * 2.25 multiplications per output instead of the direct form's 9.
 *
 * The backward pass is the exact transpose of these linear maps (so it is
 * the gradient of what the forward computed, not of another rounding of
 * the convolution):
 *     dM = A dY A^T per tile;  dU[xi] = dM[xi] V[xi]^T;  dW = G^T dU G;
 *     dV[xi] = U[xi]^T dM[xi];  dpatch = B dV B^T, each input element
 *     summing the patches that cover it (a gather: no atomics, fixed order).
 * Layouts: V [36][c][T], M and dM [36][oc][T], U and dU [36][oc][c], tile
 * t = (sample * th + ty) * tw + tx.  V lives in the model's col buffer and M
 * in its gather buffer (the im2col path's scratch; one stream, so the two
 * never overlap in time).  Nothing here allocates. */
#include "nn/cuda/nn_cuda_internal.h"

#define XI 36 /* transformed positions: 6 x 6 */

/* The 1-D transforms, out[k*so] from in[k*si]. */
__device__ __forceinline__ void bt6(const float *in, int si, float *out, int so) { /* B^T (6 -> 6) */
    const float a0 = in[0], a1 = in[si], a2 = in[2 * si], a3 = in[3 * si], a4 = in[4 * si], a5 = in[5 * si];
    out[0] = 4.0f * a0 - 5.0f * a2 + a4;
    out[so] = -4.0f * (a1 + a2) + a3 + a4;
    out[2 * so] = 4.0f * (a1 - a2) - a3 + a4;
    out[3 * so] = 2.0f * (a3 - a1) - a2 + a4;
    out[4 * so] = 2.0f * (a1 - a3) - a2 + a4;
    out[5 * so] = 4.0f * a1 - 5.0f * a3 + a5;
}
__device__ __forceinline__ void b6(const float *in, int si, float *out, int so) { /* B (6 -> 6), bt6's transpose */
    const float a0 = in[0], a1 = in[si], a2 = in[2 * si], a3 = in[3 * si], a4 = in[4 * si], a5 = in[5 * si];
    out[0] = 4.0f * a0;
    out[so] = 4.0f * (a2 - a1) + 2.0f * (a4 - a3) + 4.0f * a5;
    out[2 * so] = -5.0f * a0 - 4.0f * (a1 + a2) - a3 - a4;
    out[3 * so] = a1 - a2 + 2.0f * (a3 - a4) - 5.0f * a5;
    out[4 * so] = a0 + a1 + a2 + a3 + a4;
    out[5 * so] = a5;
}
__device__ __forceinline__ void g3(const float *in, int si, float *out, int so) { /* G (3 -> 6) */
    const float a0 = in[0], a1 = in[si], a2 = in[2 * si];
    out[0] = 0.25f * a0;
    out[so] = -(a0 + a1 + a2) * (1.0f / 6.0f);
    out[2 * so] = -(a0 - a1 + a2) * (1.0f / 6.0f);
    out[3 * so] = a0 * (1.0f / 24.0f) + a1 * (1.0f / 12.0f) + a2 * (1.0f / 6.0f);
    out[4 * so] = a0 * (1.0f / 24.0f) - a1 * (1.0f / 12.0f) + a2 * (1.0f / 6.0f);
    out[5 * so] = a2;
}
__device__ __forceinline__ void gt6(const float *in, int si, float *out, int so) { /* G^T (6 -> 3) */
    const float a0 = in[0], a1 = in[si], a2 = in[2 * si], a3 = in[3 * si], a4 = in[4 * si], a5 = in[5 * si];
    out[0] = 0.25f * a0 - (a1 + a2) * (1.0f / 6.0f) + (a3 + a4) * (1.0f / 24.0f);
    out[so] = (a2 - a1) * (1.0f / 6.0f) + (a3 - a4) * (1.0f / 12.0f);
    out[2 * so] = (a3 + a4 - a1 - a2) * (1.0f / 6.0f) + a5;
}
__device__ __forceinline__ void at6(const float *in, int si, float *out, int so) { /* A^T (6 -> 4) */
    const float a0 = in[0], a1 = in[si], a2 = in[2 * si], a3 = in[3 * si], a4 = in[4 * si], a5 = in[5 * si];
    out[0] = a0 + a1 + a2 + a3 + a4;
    out[so] = a1 - a2 + 2.0f * (a3 - a4);
    out[2 * so] = a1 + a2 + 4.0f * (a3 + a4);
    out[3 * so] = a1 - a2 + 8.0f * (a3 - a4) + a5;
}
__device__ __forceinline__ void a4(const float *in, int si, float *out, int so) { /* A (4 -> 6), at6's transpose */
    const float a0 = in[0], a1 = in[si], a2 = in[2 * si], a3 = in[3 * si];
    out[0] = a0;
    out[so] = a0 + a1 + a2 + a3;
    out[2 * so] = a0 - a1 + a2 - a3;
    out[3 * so] = a0 + 2.0f * a1 + 4.0f * a2 + 8.0f * a3;
    out[4 * so] = a0 - 2.0f * a1 + 4.0f * a2 - 8.0f * a3;
    out[5 * so] = a3;
}

/* V = B^T d B for every (channel, tile) of a chunk of cn samples. */
__global__ void k_wino_in(const float *x, int cn, int C, int H, int W, int pad, int th, int tw, float *V) {
    const unsigned T = (unsigned)cn * th * tw, total = (unsigned)C * T;
    GRID_LOOP(idx, total) {
        const unsigned t = idx % T, c = idx / T, s = t / ((unsigned)th * tw), r = t % ((unsigned)th * tw);
        const int y0 = (int)(r / tw) * 4 - pad, x0 = (int)(r % tw) * 4 - pad;
        const float *xs = x + ((size_t)s * C + c) * H * W;
        float d[36], e[36];
#pragma unroll
        for (int u = 0; u < 6; u++)
#pragma unroll
            for (int v = 0; v < 6; v++) {
                const int iy = y0 + u, ix = x0 + v;
                d[u * 6 + v] = (iy >= 0 && iy < H && ix >= 0 && ix < W) ? xs[iy * W + ix] : 0.0f;
            }
#pragma unroll
        for (int v = 0; v < 6; v++) bt6(d + v, 6, e + v, 6); /* columns */
#pragma unroll
        for (int i = 0; i < 6; i++) bt6(e + i * 6, 1, d + i * 6, 1); /* rows */
#pragma unroll
        for (int k = 0; k < XI; k++) V[((unsigned)k * C + c) * T + t] = d[k];
    }
}

/* U = G g G^T for every (out channel, in channel). */
__global__ void k_wino_filter(const float *w, int OC, int C, float *U) {
    const unsigned total = (unsigned)OC * C;
    GRID_LOOP(idx, total) {
        float e[18], u[36];
#pragma unroll
        for (int j = 0; j < 3; j++) g3(w + idx * 9 + j, 3, e + j, 3); /* columns: e[6][3] */
#pragma unroll
        for (int i = 0; i < 6; i++) g3(e + i * 3, 1, u + i * 6, 1);
#pragma unroll
        for (int k = 0; k < XI; k++) U[(unsigned)k * total + idx] = u[k];
    }
}

/* y = A^T M A (+ bias) for every (out channel, tile); outputs past OH/OW
 * (the last tiles of a size not a multiple of 4) are dropped. */
__global__ void k_wino_out(const float *M, const float *b, int cn, int OC, int OH, int OW, int th, int tw, float *y) {
    const unsigned T = (unsigned)cn * th * tw, total = (unsigned)OC * T;
    GRID_LOOP(idx, total) {
        const unsigned t = idx % T, o = idx / T, s = t / ((unsigned)th * tw), r = t % ((unsigned)th * tw);
        const int y0 = (int)(r / tw) * 4, x0 = (int)(r % tw) * 4;
        float mm[36], e[24], out[16];
#pragma unroll
        for (int k = 0; k < XI; k++) mm[k] = M[((unsigned)k * OC + o) * T + t];
#pragma unroll
        for (int j = 0; j < 6; j++) at6(mm + j, 6, e + j, 6); /* e[4][6] */
#pragma unroll
        for (int p = 0; p < 4; p++) at6(e + p * 6, 1, out + p * 4, 1);
        const float bias = b ? b[o] : 0.0f;
        float *ys = y + ((size_t)s * OC + o) * OH * OW;
#pragma unroll
        for (int p = 0; p < 4; p++)
#pragma unroll
            for (int q = 0; q < 4; q++)
                if (y0 + p < OH && x0 + q < OW) ys[(y0 + p) * OW + x0 + q] = b ? out[p * 4 + q] + bias : out[p * 4 + q];
    }
}

/* dM = A dY A^T for every (out channel, tile); dY past OH/OW is zero. */
__global__ void k_wino_dout(const float *dy, int cn, int OC, int OH, int OW, int th, int tw, float *dM) {
    const unsigned T = (unsigned)cn * th * tw, total = (unsigned)OC * T;
    GRID_LOOP(idx, total) {
        const unsigned t = idx % T, o = idx / T, s = t / ((unsigned)th * tw), r = t % ((unsigned)th * tw);
        const int y0 = (int)(r / tw) * 4, x0 = (int)(r % tw) * 4;
        const float *ds = dy + ((size_t)s * OC + o) * OH * OW;
        float g[16], e[24], mm[36];
#pragma unroll
        for (int p = 0; p < 4; p++)
#pragma unroll
            for (int q = 0; q < 4; q++) g[p * 4 + q] = (y0 + p < OH && x0 + q < OW) ? ds[(y0 + p) * OW + x0 + q] : 0.0f;
#pragma unroll
        for (int q = 0; q < 4; q++) a4(g + q, 4, e + q, 4); /* e[6][4] */
#pragma unroll
        for (int i = 0; i < 6; i++) a4(e + i * 4, 1, mm + i * 6, 1);
#pragma unroll
        for (int k = 0; k < XI; k++) dM[((unsigned)k * OC + o) * T + t] = mm[k];
    }
}

/* dW = G^T dU G for every (out channel, in channel): overwrites dW. */
__global__ void k_wino_filter_grad(const float *dU, int OC, int C, float *dw) {
    const unsigned total = (unsigned)OC * C;
    GRID_LOOP(idx, total) {
        float u[36], e[18], g[9];
#pragma unroll
        for (int k = 0; k < XI; k++) u[k] = dU[(unsigned)k * total + idx];
#pragma unroll
        for (int j = 0; j < 6; j++) gt6(u + j, 6, e + j, 6); /* e[3][6] */
#pragma unroll
        for (int i = 0; i < 3; i++) gt6(e + i * 6, 1, g + i * 3, 1);
#pragma unroll
        for (int k = 0; k < 9; k++) dw[idx * 9 + k] = g[k];
    }
}

/* dpatch = B dV B^T for every (channel, tile), in place (each thread reads
 * and writes only its own 36 values). */
__global__ void k_wino_patch(float *V, int C, unsigned T) {
    const unsigned total = (unsigned)C * T;
    GRID_LOOP(idx, total) {
        const unsigned t = idx % T, c = idx / T;
        float d[36], e[36];
#pragma unroll
        for (int k = 0; k < XI; k++) d[k] = V[((unsigned)k * C + c) * T + t];
#pragma unroll
        for (int j = 0; j < 6; j++) b6(d + j, 6, e + j, 6);
#pragma unroll
        for (int u = 0; u < 6; u++) b6(e + u * 6, 1, d + u * 6, 1);
#pragma unroll
        for (int k = 0; k < XI; k++) V[((unsigned)k * C + c) * T + t] = d[k];
    }
}

/* dx: each input element sums the (at most 2 x 2) patches covering it, in
 * tile order; acc = 1 adds into dx. */
__global__ void k_wino_gather(const float *P, int cn, int C, int H, int W, int pad, int th, int tw, float *dx,
                              int acc) {
    const unsigned T = (unsigned)cn * th * tw, total = (unsigned)cn * C * H * W;
    GRID_LOOP(idx, total) {
        const int ix = (int)(idx % W), iy = (int)((idx / W) % H), c = (int)((idx / ((unsigned)W * H)) % C);
        const unsigned s = idx / ((unsigned)W * H * C);
        const int py = iy + pad, px = ix + pad;
        float v = acc ? dx[idx] : 0.0f;
        for (int ty = py / 4 - 1; ty <= py / 4; ty++) {
            const int u = py - 4 * ty;
            if (ty < 0 || ty >= th || u > 5) continue;
            for (int tx = px / 4 - 1; tx <= px / 4; tx++) {
                const int q = px - 4 * tx;
                if (tx < 0 || tx >= tw || q > 5) continue;
                const unsigned t = (s * th + ty) * tw + tx;
                v += P[((unsigned)(u * 6 + q) * C + c) * T + t];
            }
        }
        dx[idx] = v;
    }
}

int nn_cuda_wino_layer(const nn_layer *L) {
    return L->op == NN_CONV && L->k == 3 && L->stride == 1 && L->pad <= 2 && L->oh > 0 && L->ow > 0;
}

/* Samples per chunk: V within NN_CUDA_COL_CAP floats (the im2col buffer's
 * cap) and M within half of it (M lives in the gather buffer, which the
 * im2col path keeps small: memory). */
int nn_cuda_wino_chunk(const nn_layer *L, int n) {
    const size_t tiles = (size_t)((L->oh + 3) / 4) * ((L->ow + 3) / 4);
    size_t ch = NN_CUDA_COL_CAP / ((size_t)XI * L->c * tiles), chm = NN_CUDA_COL_CAP / 2 / ((size_t)XI * L->oc * tiles);
    if (chm < ch) ch = chm;
    if (ch < 1) ch = 1;
    return (size_t)n < ch ? n : (int)ch;
}

void nn_cuda_wino_sizes(const nn_layer *L, int max_batch, size_t *v, size_t *mm, size_t *u) {
    const size_t T = (size_t)nn_cuda_wino_chunk(L, max_batch) * ((L->oh + 3) / 4) * ((L->ow + 3) / 4);
    *v = (size_t)XI * L->c * T;
    *mm = (size_t)XI * L->oc * T;
    *u = (size_t)XI * L->oc * L->c;
}

void nn_cuda_wino_forward(nn_cuda_model *m, nn_layer *L, const float *x, int n) {
    const float *b = L->bt >= 0 ? m->tensors[L->bt].w : NULL;
    const int th = (L->oh + 3) / 4, tw = (L->ow + 3) / 4, chunk = nn_cuda_wino_chunk(L, n);
    const int C = L->c, OC = L->oc;
    k_wino_filter<<<LAUNCH((size_t)OC * C)>>>(m->tensors[L->wt].w, OC, C, m->wino_u);
    for (int s0 = 0; s0 < n; s0 += chunk) {
        const int cn = n - s0 < chunk ? n - s0 : chunk, T = cn * th * tw;
        k_wino_in<<<LAUNCH((size_t)C * T)>>>(x + (size_t)s0 * L->in_size, cn, C, L->h, L->w, L->pad, th, tw, m->col);
        nn_cuda_gemm_batched(m->c, 0, 0, OC, T, C, 1.0f, m->wino_u, C, (long long)OC * C, m->col, T, (long long)C * T,
                             0.0f, m->gather, T, (long long)OC * T, XI);
        k_wino_out<<<LAUNCH((size_t)OC * T)>>>(m->gather, b, cn, OC, L->oh, L->ow, th, tw,
                                               L->y + (size_t)s0 * L->out_size);
    }
    /* col holds the last chunk's V: reusable by the backward pass when
     * that chunk was the whole batch. */
    m->col_owner = chunk >= n ? (int)(L - m->layers) : -1;
    m->col_wino = 1;
    m->col_x = x;
    m->col_n = n;
}

void nn_cuda_wino_backward(nn_cuda_model *m, nn_layer *L, const float *x, float *dx, int acc, int n) {
    float *dW = m->tensors[L->wt].dw;
    const int th = (L->oh + 3) / 4, tw = (L->ow + 3) / 4, chunk = nn_cuda_wino_chunk(L, n);
    const int C = L->c, OC = L->oc, self = (int)(L - m->layers);
    if (dx) k_wino_filter<<<LAUNCH((size_t)OC * C)>>>(m->tensors[L->wt].w, OC, C, m->wino_u);
    for (int s0 = 0; s0 < n; s0 += chunk) {
        const int cn = n - s0 < chunk ? n - s0 : chunk, T = cn * th * tw;
        k_wino_dout<<<LAUNCH((size_t)OC * T)>>>(L->dy + (size_t)s0 * L->out_size, cn, OC, L->oh, L->ow, th, tw,
                                                m->gather);
        if (dW) {
            if (!(m->col_owner == self && m->col_wino && m->col_x == x && m->col_n == n)) {
                k_wino_in<<<LAUNCH((size_t)C * T)>>>(x + (size_t)s0 * L->in_size, cn, C, L->h, L->w, L->pad, th, tw,
                                                     m->col);
                m->col_owner = -1; /* col no longer holds its owner's data */
            }
            nn_cuda_gemm_batched(m->c, 0, 1, OC, C, T, 1.0f, m->gather, T, (long long)OC * T, m->col, T,
                                 (long long)C * T, s0 == 0 ? 0.0f : 1.0f, m->wino_du, C, (long long)OC * C, XI);
        }
        if (dx) {
            /* dV = U^T dM overwrites V (no longer needed), then the patches
             * replace it in place. */
            nn_cuda_gemm_batched(m->c, 1, 0, C, T, OC, 1.0f, m->wino_u, C, (long long)OC * C, m->gather, T,
                                 (long long)OC * T, 0.0f, m->col, T, (long long)C * T, XI);
            m->col_owner = -1;
            k_wino_patch<<<LAUNCH((size_t)C * T)>>>(m->col, C, (unsigned)T);
            k_wino_gather<<<LAUNCH((size_t)cn * L->in_size)>>>(m->col, cn, C, L->h, L->w, L->pad, th, tw,
                                                               dx + (size_t)s0 * L->in_size, acc);
        }
    }
    if (dW) k_wino_filter_grad<<<LAUNCH((size_t)OC * C)>>>(m->wino_du, OC, C, dW);
}
