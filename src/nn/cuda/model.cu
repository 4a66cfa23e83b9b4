/* model.cu — the device mirror of a host nn_model: buffer allocation (once,
 * in nn_cuda_model_create), parameter binding, the forward/backward walk
 * over the layers (the graph logic of src/nn/model.c, unchanged), softmax
 * cross-entropy, error count, batch-norm statistics to and from the host.
 *
 * Calls layers.cu for the arithmetic, the CUDA runtime.  Only
 * nn_cuda_model_create, nn_cuda_model_alloc_params and
 * nn_cuda_model_enable_input_grad allocate. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "common/timeutil.h"
#include "nn/cuda/nn_cuda_internal.h"
extern "C" {
#include "nn/ce_kernel.h"
}

/* 32-bit indices (64-bit division is many times slower on the GPU):
 * nn_cuda_model_create checks that every buffer has < 2^31 elements. */

static int dalloc(void **p, size_t bytes) {
    *p = NULL;
    if (cudaMalloc(p, bytes ? bytes : 4) != cudaSuccess) {
        *p = NULL;
        return -1;
    }
    return 0;
}
#define DALLOC(p, bytes) dalloc((void **)&(p), (bytes))

extern "C" void nn_cuda_model_free(nn_cuda_model *m) {
    if (!m) return;
    if (m->c) cudaStreamSynchronize(m->c->stream);
    for (int i = 0; m->layers && i < m->host->n_layers; i++) {
        nn_layer *L = &m->layers[i];
        if (L->op != NN_FLATTEN && !(m->fuse && nn_cuda_relu_aliased(m, i))) cudaFree(L->y);
        cudaFree(L->argmax);
        cudaFree(L->bn_mean);
        cudaFree(L->bn_invstd);
    }
    for (int b = 0; m->buffers && b < m->host->n_buffers; b++) cudaFree(m->buffers[b].data);
    for (int k = 0; k < m->n_dy_slots; k++) cudaFree(m->dy_slots[k]);
    free(m->dy_slots);
    cudaFree(m->param_block);
    cudaFree(m->grad_block);
    cudaFree(m->col);
    cudaFree(m->gather);
    cudaFree(m->wino_u);
    cudaFree(m->wino_du);
    cudaFree(m->bn_red);
    cudaFree(m->bn_part);
    cudaFree(m->probs);
    cudaFree(m->labels);
    cudaFree(m->sample_loss);
    cudaFree(m->wrong);
    cudaFree(m->d_loss);
    cudaFree(m->dx_input);
    if (m->h_loss) cudaFreeHost(m->h_loss);
    free(m->layers);
    free(m->fuse);
    free(m->tensors);
    free(m->buffers);
    free(m);
}

/* Output gradients share device buffers.  In the backward walk (layer
 * index descending) layer i's dy is live from the backward of its last
 * consumer, which writes it first, down to its own backward, which reads
 * it: the interval [i, last(i)].  Layers whose intervals are disjoint
 * share a slot (greedy, by interval start), which keeps about three
 * activation-sized gradient buffers for a chain instead of one per layer. */
static int assign_dy(nn_cuda_model *m) {
    const int n = m->host->n_layers;
    int *last = (int *)malloc(sizeof(int) * n), *slot = (int *)malloc(sizeof(int) * n);
    int *end = (int *)malloc(sizeof(int) * n); /* per slot: index at which its occupant dies */
    size_t *size = (size_t *)calloc(n, sizeof(size_t));
    int rc = -1;
    if (!last || !slot || !end || !size) goto out;
    for (int i = 0; i < n; i++) last[i] = i;
    for (int j = 0; j < n; j++) {
        const nn_layer *L = &m->layers[j];
        if (L->in >= 0 && j > last[L->in]) last[L->in] = j;
        if (L->op == NN_ADD && L->with >= 0 && j > last[L->with]) last[L->with] = j;
    }
    m->n_dy_slots = 0;
    for (int t = n - 1; t >= 0; t--) /* interval starts, latest first */
        for (int i = 0; i < n; i++) {
            if (last[i] != t) continue;
            const size_t need = (size_t)m->host->max_batch * m->layers[i].out_size;
            int best = -1;
            for (int k = 0; k < m->n_dy_slots; k++) /* free: its occupant died before t */
                if (end[k] > t &&
                    (best < 0 || (size[best] < need ? size[k] > size[best] : size[k] >= need && size[k] < size[best])))
                    best = k;
            if (best < 0) best = m->n_dy_slots++;
            if (size[best] < need) size[best] = need;
            end[best] = i;
            slot[i] = best;
        }
    m->dy_slots = (float **)calloc(m->n_dy_slots ? m->n_dy_slots : 1, sizeof(float *));
    if (!m->dy_slots) goto out;
    for (int k = 0; k < m->n_dy_slots; k++)
        if (DALLOC(m->dy_slots[k], sizeof(float) * size[k])) goto out;
    for (int i = 0; i < n; i++) m->layers[i].dy = m->dy_slots[slot[i]];
    rc = 0;
out:
    free(last), free(slot), free(end), free(size);
    return rc;
}

/* NN_FUSE_* of every layer (nn_cuda_set_relu_inplace): a ReLU fuses with
 * its input layer when it is that layer's only reader and the layer is one
 * whose backward reads its input and not its output. */
static void plan_relu(nn_cuda_model *m) {
    const int n = m->host->n_layers;
    if (!m->c->relu_inplace) return;
    for (int j = 0; j < n; j++) {
        const nn_layer *R = &m->host->layers[j];
        const int i = R->in;
        if (R->op != NN_RELU || i < 0) continue;
        int readers = 0;
        for (int k = 0; k < n; k++) {
            const nn_layer *L = &m->host->layers[k];
            readers += (L->in == i) + (L->op == NN_ADD && L->with == i);
        }
        const int op = m->host->layers[i].op;
        if (readers != 1) continue;
        if (op == NN_BATCHNORM || op == NN_ADD) {
            m->fuse[i] = NN_FUSE_RELU_OUT;
            m->fuse[j] = NN_FUSE_RELU_DONE;
        } else if (op == NN_CONV || op == NN_DENSE) {
            m->fuse[j] = NN_FUSE_RELU_INPLACE;
        }
    }
}

extern "C" int nn_cuda_model_create(nn_cuda *c, const nn_model *host, nn_cuda_model **out, epr_err *err) {
    *out = NULL;
    /* Batch norm with a learnable gamma (`batchnorm affine=1`, issue 16)
     * has no device kernels yet: refused, not run with gamma = 1. */
    for (int i = 0; i < host->n_layers; i++)
        RETURN_ERROR_IF(host->layers[i].op == NN_BATCHNORM && host->layers[i].affine, err, EPR_EUNSUP,
                        "layer %d (batchnorm affine=1): a learnable gamma runs on the CPU only (train.device = cpu)",
                        i + 1);
    nn_cuda_model *m = (nn_cuda_model *)calloc(1, sizeof *m);
    RETURN_ERROR_IF(!m, err, EPR_ENOMEM, "out of memory");
    m->c = c;
    m->host = host;
    m->col_owner = -1;
    m->layers = (nn_layer *)calloc(host->n_layers, sizeof *m->layers);
    m->tensors = (nn_param *)calloc(host->n_tensors ? host->n_tensors : 1, sizeof *m->tensors);
    m->buffers = (nn_buffer *)calloc(host->n_buffers ? host->n_buffers : 1, sizeof *m->buffers);
    m->fuse = (unsigned char *)calloc(host->n_layers, 1);
    if (!m->layers || !m->tensors || !m->buffers || !m->fuse) {
        nn_cuda_model_free(m);
        return cmn_fail(err, EPR_ENOMEM, "out of memory");
    }
    memcpy(m->tensors, host->tensors, sizeof *m->tensors * host->n_tensors);
    for (int i = 0; i < host->n_tensors; i++) m->tensors[i].w = m->tensors[i].dw = NULL;
    memcpy(m->buffers, host->buffers, sizeof *m->buffers * host->n_buffers);
    plan_relu(m);
    int oom = 0, maxc = 1;
    for (int b = 0; b < host->n_buffers; b++) {
        m->buffers[b].data = NULL;
        oom |= DALLOC(m->buffers[b].data, sizeof(float) * m->buffers[b].size);
    }
    const size_t B = (size_t)host->max_batch;
    for (int i = 0; i < host->n_layers; i++) {
        nn_layer *L = &m->layers[i];
        *L = host->layers[i];
        L->y = L->dy = L->bn_mean = L->bn_invstd = NULL;
        L->argmax = NULL;
        if (oom) continue;
        const size_t act = B * L->out_size;
        if (nn_cuda_relu_aliased(m, i))
            L->y = m->layers[L->in].y; /* the ReLU writes over its input (plan_relu) */
        else if (L->op != NN_FLATTEN)
            oom |= DALLOC(L->y, sizeof(float) * act);
        if (L->op == NN_MAXPOOL) oom |= DALLOC(L->argmax, sizeof(int) * act);
        if (L->op == NN_BATCHNORM) {
            oom |= DALLOC(L->bn_mean, sizeof(float) * L->c) | DALLOC(L->bn_invstd, sizeof(float) * L->c);
            if (L->c > maxc) maxc = L->c;
        }
        if (L->op == NN_CONV) {
            size_t chunk = (size_t)nn_cuda_conv_chunk(L, host->max_batch);
            size_t P = (size_t)L->oh * L->ow, per = (size_t)L->c * L->k * L->k * P;
            if (per * chunk > m->col_size) m->col_size = per * chunk;
            if (chunk > 1 && L->oc * P * chunk > m->gather_size) m->gather_size = L->oc * P * chunk;
            if (c->winograd && nn_cuda_wino_layer(L)) { /* the Winograd path's V, M, U and dU */
                size_t v, mm, u;
                nn_cuda_wino_sizes(L, host->max_batch, &v, &mm, &u);
                if (v > m->col_size) m->col_size = v;
                if (mm > m->gather_size) m->gather_size = mm;
                if (u > m->wino_u_size) m->wino_u_size = u;
            }
        }
    }
    if (!oom) oom |= assign_dy(m);
    const size_t K = host->layers[host->n_layers - 1].out_size;
    /* The kernels index with 32 bits: every buffer below 2^31 elements. */
    size_t big = m->col_size > m->gather_size ? m->col_size : m->gather_size;
    for (int i = 0; i < host->n_layers; i++) {
        const nn_layer *L = &host->layers[i];
        size_t a = B * (L->out_size > L->in_size ? L->out_size : L->in_size);
        if (a > big) big = a;
    }
    if (big >= ((size_t)1 << 31)) {
        nn_cuda_model_free(m);
        return cmn_fail(err, EPR_EARG, "CUDA: a buffer of %zu elements at batch %d; the GPU kernels take < 2^31", big,
                        host->max_batch);
    }
    if (!oom) {
        oom |= DALLOC(m->col, sizeof(float) * m->col_size) | DALLOC(m->gather, sizeof(float) * m->gather_size);
        if (m->wino_u_size)
            oom |=
                DALLOC(m->wino_u, sizeof(float) * m->wino_u_size) | DALLOC(m->wino_du, sizeof(float) * m->wino_u_size);
        oom |= DALLOC(m->bn_red, sizeof(float) * 2 * maxc) | DALLOC(m->probs, sizeof(float) * B * K);
        oom |= DALLOC(m->bn_part, sizeof(double) * 2 * maxc * NN_CUDA_BN_SPLIT);
        oom |= DALLOC(m->labels, sizeof(int) * B) | DALLOC(m->sample_loss, sizeof(double) * B);
        oom |= DALLOC(m->wrong, sizeof(int) * 2 * B) | DALLOC(m->d_loss, sizeof(double) * 4);
        if (!oom && cudaMallocHost((void **)&m->h_loss, sizeof(double) * 4) != cudaSuccess) {
            m->h_loss = NULL;
            oom = 1;
        }
    }
    if (oom) {
        nn_cuda_model_free(m);
        return cmn_fail(err, EPR_ENOMEM, "CUDA: out of device memory for the model's buffers at batch %d",
                        host->max_batch);
    }
    nn_cuda_buffers_upload(m, host);
    *out = m;
    return 0;
}

extern "C" void nn_cuda_model_profile(nn_cuda_model *m, double *op_time) { m->op_time = op_time; }

extern "C" nn_cuda *nn_cuda_model_context(nn_cuda_model *m) { return m->c; }

extern "C" void nn_cuda_model_bind(nn_cuda_model *m, int i, float *d_w, float *d_dw) {
    assert(i >= 0 && i < m->host->n_tensors);
    m->tensors[i].w = d_w;
    m->tensors[i].dw = d_dw;
}

extern "C" int nn_cuda_model_alloc_params(nn_cuda_model *m, epr_err *err) {
    cudaFree(m->param_block);
    cudaFree(m->grad_block);
    m->param_block = m->grad_block = NULL;
    const size_t n = m->host->n_params;
    if (DALLOC(m->param_block, sizeof(float) * n) | DALLOC(m->grad_block, sizeof(float) * n)) {
        cudaFree(m->param_block);
        cudaFree(m->grad_block);
        m->param_block = m->grad_block = NULL;
        return cmn_fail(err, EPR_ENOMEM, "CUDA: out of device memory for %zu parameters", n);
    }
    cudaMemsetAsync(m->param_block, 0, sizeof(float) * n, m->c->stream);
    cudaMemsetAsync(m->grad_block, 0, sizeof(float) * n, m->c->stream);
    size_t off = 0;
    for (int i = 0; i < m->host->n_tensors; i++) {
        nn_cuda_model_bind(m, i, m->param_block + off, m->grad_block + off);
        off += m->tensors[i].size;
    }
    return 0;
}

extern "C" float *nn_cuda_model_param_block(nn_cuda_model *m) { return m->param_block; }
extern "C" float *nn_cuda_model_grad_block(nn_cuda_model *m) { return m->grad_block; }
extern "C" const float *nn_cuda_model_layer_output(const nn_cuda_model *m, int i) {
    return (i >= 0 && i < m->host->n_layers) ? m->layers[i].y : NULL;
}
extern "C" void nn_cuda_model_layer_state(const nn_cuda_model *m, int i, const int **argmax, const float **bn_mean,
                                          const float **bn_invstd) {
    const nn_layer *L = (i >= 0 && i < m->host->n_layers) ? &m->layers[i] : NULL;
    *argmax = L ? L->argmax : NULL;
    *bn_mean = L ? L->bn_mean : NULL;
    *bn_invstd = L ? L->bn_invstd : NULL;
}
extern "C" const float *nn_cuda_model_probs(const nn_cuda_model *m) { return m->probs; }
extern "C" const float *nn_cuda_model_logits(const nn_cuda_model *m) { return m->layers[m->host->n_layers - 1].y; }
extern "C" float *nn_cuda_model_buffer(nn_cuda_model *m, int i) {
    return (i >= 0 && i < m->host->n_buffers) ? m->buffers[i].data : NULL;
}

extern "C" void nn_cuda_buffers_download(nn_cuda_model *m, nn_model *host) {
    for (int b = 0; b < m->host->n_buffers; b++)
        cudaMemcpyAsync(host->buffers[b].data, m->buffers[b].data, sizeof(float) * m->buffers[b].size,
                        cudaMemcpyDeviceToHost, m->c->stream);
    cudaStreamSynchronize(m->c->stream);
}

extern "C" void nn_cuda_buffers_upload(nn_cuda_model *m, const nn_model *host) {
    for (int b = 0; b < m->host->n_buffers; b++)
        cudaMemcpyAsync(m->buffers[b].data, host->buffers[b].data, sizeof(float) * m->buffers[b].size,
                        cudaMemcpyHostToDevice, m->c->stream);
    /* host memory is pageable: the copy is complete when the call returns */
}

/* ---- loss ---- */
/* Per sample: softmax into probs, the cross-entropy in double, and whether
 * the predicted class is wrong (nn/ce_kernel.h, as nn_forward). */
__global__ void k_softmax_ce(const float *z, const int *labels, int n, int K, float *probs, int *lab_copy, double *loss,
                             int *wrong) {
    GRID_LOOP(s, (unsigned)n) {
        const float *zs = z + s * K;
        const int y = labels[s];
        lab_copy[s] = y;
        loss[s] = nn_softmax_ce(zs, K, y, probs + s * K);
        wrong[s] = nn_argmax(zs, K) != y;
    }
}

/* Sums of n per-sample losses (loss may be NULL) and error flags, in a
 * fixed order (one block): out[0], out[1]. */
#define SUM_T 256
__global__ void k_sum_loss(const double *loss, const int *wrong, int n, double *out) {
    __shared__ double a[SUM_T], b[SUM_T];
    double s = 0.0, w = 0.0;
    for (int i = threadIdx.x; i < n; i += SUM_T) {
        if (loss) s += loss[i];
        w += wrong[i];
    }
    a[threadIdx.x] = s;
    b[threadIdx.x] = w;
    __syncthreads();
    for (int h = SUM_T / 2; h > 0; h >>= 1) {
        if ((int)threadIdx.x < h) {
            a[threadIdx.x] += a[threadIdx.x + h];
            b[threadIdx.x] += b[threadIdx.x + h];
        }
        __syncthreads();
    }
    if (threadIdx.x == 0) {
        out[0] = a[0];
        out[1] = b[0];
    }
}

__global__ void k_argmax(const float *z, const int *labels, int n, int K, int *preds, int *wrong) {
    GRID_LOOP(s, (unsigned)n) {
        const int best = nn_argmax(z + s * K, K);
        preds[s] = best;
        wrong[s] = labels ? best != labels[s] : 0;
    }
}

typedef struct {
    nn_cuda_model *m;
    int n, training;
} cuda_pass;

static void cuda_forward(void *ctx, nn_layer *L, const float *in, const float *with) {
    const cuda_pass *p = (const cuda_pass *)ctx;
    nn_cuda_model *m = p->m;
    if (m->op_time) {
        cudaStreamSynchronize(m->c->stream);
        double t0 = cmn_now_s();
        nn_cuda_layer_forward(m, L, in, with, p->n, p->training);
        cudaStreamSynchronize(m->c->stream);
        m->op_time[2 * nn_cuda_profile_key(m, L)] += cmn_now_s() - t0;
    } else {
        nn_cuda_layer_forward(m, L, in, with, p->n, p->training);
    }
}

extern "C" void nn_cuda_forward_async(nn_cuda_model *m, const float *d_x, const int *d_labels, int n, int training) {
    assert(n >= 1 && n <= m->host->max_batch);
    m->x = d_x;
    m->n_last = n;
    cuda_pass pass = {m, n, training};
    nn_forward_walk(m->layers, m->host->n_layers, m->tensors, d_x, cuda_forward, &pass);
    m->has_labels = d_labels != NULL;
    if (!d_labels) return;
    const int K = nn_model_num_classes(m->host);
    cudaStream_t st = m->c->stream;
    k_softmax_ce<<<nn_cuda_blocks(n), NN_CUDA_THREADS, 0, st>>>(nn_cuda_model_logits(m), d_labels, n, K, m->probs,
                                                                m->labels, m->sample_loss, m->wrong);
    k_sum_loss<<<1, SUM_T, 0, st>>>(m->sample_loss, m->wrong, n, m->d_loss);
}

extern "C" void nn_cuda_last_loss(nn_cuda_model *m, double *loss, int *errors) {
    if (!m->has_labels) {
        if (loss) *loss = 0.0;
        if (errors) *errors = 0;
        return;
    }
    cudaMemcpyAsync(m->h_loss, m->d_loss, sizeof(double) * 2, cudaMemcpyDeviceToHost, m->c->stream);
    cudaStreamSynchronize(m->c->stream);
    if (loss) *loss = m->h_loss[0];
    if (errors) *errors = (int)m->h_loss[1];
}

extern "C" double nn_cuda_forward(nn_cuda_model *m, const float *d_x, const int *d_labels, int n, int training) {
    nn_cuda_forward_async(m, d_x, d_labels, n, training);
    if (!d_labels) return 0.0;
    double loss;
    nn_cuda_last_loss(m, &loss, NULL);
    return loss;
}

extern "C" int nn_cuda_count_errors(nn_cuda_model *m, const int *d_labels, int n, int *host_preds) {
    const int K = nn_model_num_classes(m->host);
    cudaStream_t st = m->c->stream;
    int *preds = m->wrong + m->host->max_batch;
    k_argmax<<<nn_cuda_blocks(n), NN_CUDA_THREADS, 0, st>>>(nn_cuda_model_logits(m), d_labels, n, K, preds, m->wrong);
    /* into d_loss[2..3]: the forward's loss in d_loss[0..1] stays readable */
    k_sum_loss<<<1, SUM_T, 0, st>>>(NULL, m->wrong, n, m->d_loss + 2);
    if (host_preds) cudaMemcpyAsync(host_preds, preds, sizeof(int) * n, cudaMemcpyDeviceToHost, st);
    cudaMemcpyAsync(m->h_loss + 2, m->d_loss + 2, sizeof(double) * 2, cudaMemcpyDeviceToHost, st);
    cudaStreamSynchronize(st);
    return (int)m->h_loss[3];
}

/* ---- backward ---- */
static void zero_param_grads(nn_cuda_model *m, const nn_layer *L) {
    int ts[2] = {L->wt, L->bt};
    for (int j = 0; j < 2; j++)
        if (ts[j] >= 0 && m->tensors[ts[j]].dw)
            cudaMemsetAsync(m->tensors[ts[j]].dw, 0, sizeof(float) * m->tensors[ts[j]].size, m->c->stream);
}

static void cuda_zero_grads(void *ctx, const nn_layer *L) { zero_param_grads((nn_cuda_model *)ctx, L); }

static void cuda_backward(void *ctx, nn_layer *L, const float *x, float *dx, int acc, float *dx2, int acc2) {
    nn_cuda_model *m = (nn_cuda_model *)ctx;
    if (m->op_time) {
        cudaStreamSynchronize(m->c->stream);
        double t0 = cmn_now_s();
        nn_cuda_layer_backward(m, L, x, dx, acc, dx2, acc2, m->n_last);
        cudaStreamSynchronize(m->c->stream);
        m->op_time[2 * nn_cuda_profile_key(m, L) + 1] += cmn_now_s() - t0;
    } else {
        nn_cuda_layer_backward(m, L, x, dx, acc, dx2, acc2, m->n_last);
    }
}

/* model.c's walk, with the device kernels (the gradient buffers it picks
 * are this model's device ones). */
static void backprop(nn_cuda_model *m) {
    nn_backward_walk(m->layers, m->host->n_layers, m->x, m->dx_input, cuda_backward, cuda_zero_grads, m);
}

__global__ void k_ce_grad(const float *probs, const int *labels, int n, int K, float gs, float *d) {
    GRID_LOOP(idx, (unsigned)n * K) d[idx] = nn_ce_grad(probs[idx], (int)(idx % K) == labels[idx / K], gs);
}

extern "C" void nn_cuda_backward(nn_cuda_model *m, float grad_scale) {
    assert(m->has_labels);
    const int K = nn_model_num_classes(m->host), n = m->n_last;
    k_ce_grad<<<nn_cuda_blocks((size_t)n * K), NN_CUDA_THREADS, 0, m->c->stream>>>(
        m->probs, m->labels, n, K, grad_scale, m->layers[m->host->n_layers - 1].dy);
    backprop(m);
}

extern "C" void nn_cuda_backward_from(nn_cuda_model *m, const float *d_dout) {
    nn_layer *last = &m->layers[m->host->n_layers - 1];
    cudaMemcpyAsync(last->dy, d_dout, sizeof(float) * m->n_last * last->out_size, cudaMemcpyDeviceToDevice,
                    m->c->stream);
    backprop(m);
}

extern "C" int nn_cuda_model_enable_input_grad(nn_cuda_model *m, epr_err *err) {
    if (m->dx_input) return 0;
    RETURN_ERROR_IF(DALLOC(m->dx_input, sizeof(float) * m->host->max_batch * m->host->in_size), err, EPR_ENOMEM,
                    "CUDA: out of device memory for the input gradient");
    return 0;
}

extern "C" const float *nn_cuda_model_input_grad(const nn_cuda_model *m) { return m->dx_input; }

extern "C" void nn_cuda_model_set_bn_momentum(nn_cuda_model *m, float momentum) {
    for (int i = 0; i < m->host->n_layers; i++)
        if (m->layers[i].op == NN_BATCHNORM)
            m->layers[i].momentum = momentum < 0 ? m->layers[i].momentum_spec : momentum;
}
