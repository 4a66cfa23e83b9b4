/* model.c — the model graph: buffer allocation (once, for max_batch) from
 * the layers of a parsed spec, parameter binding and initialisation, the
 * forward/backward walk over layers, softmax cross-entropy (ce_kernel.h).
 *
 * Calls model_spec.c for the spec's layers and shapes, layers.c for the
 * arithmetic, common/rng.h for initialisation, libc and libm.  Only
 * nn_model_build, nn_model_alloc_params and nn_model_enable_input_grad
 * allocate. */
#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"
#include "common/timeutil.h"
#include "nn/ce_kernel.h"
#include "nn/nn_internal.h"

static int add_tensor(nn_model *m, int layer, nn_param_kind kind, int ndim, const int *shape, int fan_in, int fan_out) {
    nn_param *t = &m->tensors[m->n_tensors];
    const nn_layer *L = &m->layers[layer];
    snprintf(t->name, sizeof t->name, "%s.%s", L->name, kind == NN_PARAM_WEIGHT ? "weight" : "bias");
    t->kind = kind;
    t->layer = layer;
    t->ndim = ndim;
    t->size = 1;
    for (int d = 0; d < ndim; d++) {
        t->shape[d] = shape[d];
        t->size *= (size_t)shape[d];
    }
    t->fan_in = fan_in;
    t->fan_out = fan_out;
    m->n_params += t->size;
    return m->n_tensors++;
}

static int add_buffer(nn_model *m, int layer, const char *suffix, size_t size) {
    nn_buffer *b = &m->buffers[m->n_buffers];
    snprintf(b->name, sizeof b->name, "%s.%s", m->layers[layer].name, suffix);
    b->layer = layer;
    b->size = size;
    b->data = calloc(size, sizeof(float));
    if (!b->data) return -1;
    return m->n_buffers++;
}

static int alloc_floats(float **p, size_t n) {
    *p = malloc(sizeof(float) * (n ? n : 1));
    return *p ? 0 : -1;
}

int nn_model_build(const char *spec, int c, int h, int w, int max_batch, nn_model **out, epr_err *err) {
    *out = NULL;
    RETURN_ERROR_IF(!spec, err, EPR_EARG, "model spec is NULL");
    RETURN_ERROR_IF(c < 1 || h < 1 || w < 1 || max_batch < 1, err, EPR_EARG, "bad model input [%d, %d, %d, %d]",
                    max_batch, c, h, w);
    nn_layer *ls = NULL;
    int n = 0;
    int rc = nn_spec_parse(spec, c, h, w, &ls, &n, err);
    if (rc) return rc;
    nn_model *m = calloc(1, sizeof *m);
    if (!m) {
        rc = cmn_fail(err, EPR_ENOMEM, "out of memory building the model");
        goto done;
    }
    m->c = c, m->h = h, m->w = w, m->max_batch = max_batch;
    m->in_size = (size_t)c * h * w;
    m->n_layers = n;
    m->col_owner = -1;
    m->layers = calloc(n, sizeof *m->layers);
    m->tensors = calloc(2 * (size_t)n, sizeof *m->tensors);
    m->buffers = calloc(2 * (size_t)n, sizeof *m->buffers);
    int oom = !m->layers || !m->tensors || !m->buffers;
    for (int i = 0; i < n && !oom; i++) {
        nn_layer *L = &m->layers[i];
        *L = ls[i];
        const size_t act = (size_t)max_batch * L->out_size;
        if (L->op != NN_FLATTEN) oom |= alloc_floats(&L->y, act);
        oom |= alloc_floats(&L->dy, act);
        if (L->op == NN_DENSE) {
            int in = (int)L->in_size;
            L->wt = add_tensor(m, i, NN_PARAM_WEIGHT, 2, (int[]){L->oc, in}, in, L->oc);
            if (L->bias) L->bt = add_tensor(m, i, NN_PARAM_BIAS, 1, (int[]){L->oc}, in, L->oc);
        } else if (L->op == NN_CONV) {
            int kk = L->k * L->k;
            L->wt = add_tensor(m, i, NN_PARAM_WEIGHT, 4, (int[]){L->oc, L->c, L->k, L->k}, L->c * kk, L->oc * kk);
            if (L->bias) L->bt = add_tensor(m, i, NN_PARAM_BIAS, 1, (int[]){L->oc}, L->c * kk, L->oc * kk);
            size_t chunk = (size_t)nn_conv_chunk(L, max_batch), per = (size_t)L->c * kk * L->oh * L->ow;
            if (per * chunk > m->col_size) m->col_size = per * chunk;
            size_t g = (size_t)L->oc * L->oh * L->ow * chunk; /* only used when chunk > 1 */
            if (chunk > 1 && g > m->gather_size) m->gather_size = g;
        } else if (L->op == NN_BATCHNORM) {
            if (L->affine) L->wt = add_tensor(m, i, NN_PARAM_WEIGHT, 1, (int[]){L->c}, L->c, L->c); /* gamma */
            L->bt = add_tensor(m, i, NN_PARAM_BIAS, 1, (int[]){L->c}, L->c, L->c);                  /* beta */
            L->rmean = add_buffer(m, i, "running_mean", L->c);
            L->rvar = add_buffer(m, i, "running_var", L->c);
            oom |= L->rmean < 0 || L->rvar < 0;
            oom |= alloc_floats(&L->bn_mean, L->c) | alloc_floats(&L->bn_invstd, L->c);
        } else if (L->op == NN_MAXPOOL) {
            L->argmax = malloc(sizeof(int) * act);
            oom |= !L->argmax;
        }
    }
    if (!oom && m->col_size) oom |= alloc_floats(&m->col, m->col_size) | alloc_floats(&m->gather, m->gather_size);
    if (!oom) {
        oom |= alloc_floats(&m->probs, (size_t)max_batch * m->layers[n - 1].out_size);
        m->labels = malloc(sizeof(int) * max_batch);
        oom |= !m->labels;
    }
    if (oom) {
        nn_model_free(m);
        rc = cmn_fail(err, EPR_ENOMEM, "out of memory allocating model buffers for batch %d", max_batch);
        goto done;
    }
    for (int b = 0; b < m->n_buffers; b++)
        if (strstr(m->buffers[b].name, ".running_var"))
            for (size_t j = 0; j < m->buffers[b].size; j++) m->buffers[b].data[j] = 1.0f;
    *out = m;
done:
    free(ls);
    return rc;
}

void nn_model_free(nn_model *m) {
    if (!m) return;
    for (int i = 0; m->layers && i < m->n_layers; i++) {
        nn_layer *L = &m->layers[i];
        if (L->op != NN_FLATTEN) free(L->y);
        free(L->dy);
        free(L->argmax);
        free(L->bn_mean);
        free(L->bn_invstd);
    }
    for (int b = 0; m->buffers && b < m->n_buffers; b++) free(m->buffers[b].data);
    free(m->layers);
    free(m->tensors);
    free(m->buffers);
    free(m->param_block);
    free(m->grad_block);
    free(m->col);
    free(m->gather);
    free(m->probs);
    free(m->labels);
    free(m->dx_input);
    free(m);
}

/* ---- accessors ---- */

int nn_model_num_classes(const nn_model *m) { return (int)m->layers[m->n_layers - 1].out_size; }
size_t nn_model_num_params(const nn_model *m) { return m->n_params; }
int nn_model_num_tensors(const nn_model *m) { return m->n_tensors; }
nn_param *nn_model_tensor(nn_model *m, int i) { return (i >= 0 && i < m->n_tensors) ? &m->tensors[i] : NULL; }
int nn_model_find_tensor(const nn_model *m, const char *name) {
    for (int i = 0; i < m->n_tensors; i++)
        if (strcmp(m->tensors[i].name, name) == 0) return i;
    return -1;
}
int nn_model_num_buffers(const nn_model *m) { return m->n_buffers; }

int nn_model_num_batchnorm(const nn_model *m) {
    int k = 0;
    for (int i = 0; i < m->n_layers; i++) k += m->layers[i].op == NN_BATCHNORM;
    return k;
}

void nn_model_set_bn_momentum(nn_model *m, float momentum) {
    for (int i = 0; i < m->n_layers; i++)
        if (m->layers[i].op == NN_BATCHNORM)
            m->layers[i].momentum = momentum < 0 ? m->layers[i].momentum_spec : momentum;
}
nn_buffer *nn_model_buffer(nn_model *m, int i) { return (i >= 0 && i < m->n_buffers) ? &m->buffers[i] : NULL; }
int nn_model_max_batch(const nn_model *m) { return m->max_batch; }
float *nn_model_param_block(nn_model *m) { return m->param_block; }
float *nn_model_grad_block(nn_model *m) { return m->grad_block; }
const float *nn_model_logits(const nn_model *m) { return m->layers[m->n_layers - 1].y; }

void nn_model_print(const nn_model *m, FILE *f) {
    fprintf(f, "input [%d,%d,%d]\n", m->c, m->h, m->w);
    for (int i = 0; i < m->n_layers; i++) {
        const nn_layer *L = &m->layers[i];
        size_t np = 0;
        if (L->wt >= 0) np += m->tensors[L->wt].size;
        if (L->bt >= 0) np += m->tensors[L->bt].size;
        char src[2 * NN_NAME_MAX + 8] = "";
        if (L->in != i - 1) snprintf(src, sizeof src, " in=%s", L->in < 0 ? "input" : m->layers[L->in].name);
        if (L->op == NN_ADD) {
            size_t k = strlen(src);
            snprintf(src + k, sizeof src - k, " with=%s", L->with < 0 ? "input" : m->layers[L->with].name);
        }
        char geo[48] = "";
        if (L->op == NN_CONV)
            snprintf(geo, sizeof geo, L->pad ? " k=%d stride=%d pad=%d" : " k=%d stride=%d", L->k, L->stride, L->pad);
        else if (L->op == NN_MAXPOOL || L->op == NN_AVGPOOL)
            snprintf(geo, sizeof geo, L->pad ? " k=%d stride=%d pad=%d" : " k=%d stride=%d", L->k, L->stride, L->pad);
        fprintf(f, "%3d %-9s %-12s -> [%d,%d,%d] params %zu%s%s\n", i + 1, nn_op_name(L->op), L->name, L->oc, L->oh,
                L->ow, np, geo, src);
    }
    fprintf(f, "total params %zu in %d tensors\n", m->n_params, m->n_tensors);
}

/* ---- parameters ---- */

void nn_model_bind(nn_model *m, int i, float *w, float *dw) {
    assert(i >= 0 && i < m->n_tensors);
    m->tensors[i].w = w;
    m->tensors[i].dw = dw;
}

int nn_model_alloc_params(nn_model *m, epr_err *err) {
    free(m->param_block);
    free(m->grad_block);
    m->param_block = calloc(m->n_params ? m->n_params : 1, sizeof(float));
    m->grad_block = calloc(m->n_params ? m->n_params : 1, sizeof(float));
    if (!m->param_block || !m->grad_block) {
        free(m->param_block);
        free(m->grad_block);
        m->param_block = m->grad_block = NULL;
        return cmn_fail(err, EPR_ENOMEM, "out of memory for %zu parameters", m->n_params);
    }
    size_t off = 0;
    for (int i = 0; i < m->n_tensors; i++) {
        nn_model_bind(m, i, m->param_block + off, m->grad_block + off);
        off += m->tensors[i].size;
    }
    return 0;
}

void nn_model_init_params(nn_model *m, uint64_t seed) {
    for (int i = 0; i < m->n_tensors; i++) {
        nn_param *t = &m->tensors[i];
        if (!t->w) continue;
        /* Each tensor draws from its own counter range, so its values do
         * not depend on the sizes of the tensors before it. */
        cmn_rng r = {seed, EPR_STREAM_INIT, (uint64_t)i << 40};
        const nn_op op = m->layers[t->layer].op;
        if (t->kind == NN_PARAM_BIAS) {
            memset(t->w, 0, sizeof(float) * t->size);
        } else if (op == NN_BATCHNORM) { /* gamma, as PyTorch */
            for (size_t j = 0; j < t->size; j++) t->w[j] = 1.0f;
        } else if (op == NN_CONV) { /* He-normal, fan_in */
            const double sd = sqrt(2.0 / t->fan_in);
            for (size_t j = 0; j < t->size; j += 2) {
                double u1 = 1.0 - cmn_rng_next_uniform(&r), u2 = cmn_rng_next_uniform(&r);
                double rad = sqrt(-2.0 * log(u1)), a = 2.0 * M_PI * u2;
                t->w[j] = (float)(sd * rad * cos(a));
                if (j + 1 < t->size) t->w[j + 1] = (float)(sd * rad * sin(a));
            }
        } else { /* Glorot-uniform */
            const double lim = sqrt(6.0 / (t->fan_in + t->fan_out));
            for (size_t j = 0; j < t->size; j++) t->w[j] = (float)((2.0 * cmn_rng_next_uniform(&r) - 1.0) * lim);
        }
    }
    for (int b = 0; b < m->n_buffers; b++) {
        nn_buffer *B = &m->buffers[b];
        float v = strstr(B->name, ".running_var") ? 1.0f : 0.0f;
        for (size_t j = 0; j < B->size; j++) B->data[j] = v;
    }
}

/* ---- forward / backward ---- */

void nn_forward_walk(nn_layer *layers, int n_layers, const nn_param *tensors, const float *x, nn_forward_fn forward,
                     void *ctx) {
    for (int i = 0; i < n_layers; i++) {
        nn_layer *L = &layers[i];
        if (L->wt >= 0) assert(tensors[L->wt].w);
        if (L->bt >= 0) assert(tensors[L->bt].w);
        (void)tensors;
        const float *in = L->in < 0 ? x : layers[L->in].y;
        const float *with = L->op == NN_ADD ? (L->with < 0 ? x : layers[L->with].y) : NULL;
        /* Flatten is only a change of view; it is never written through. */
        if (L->op == NN_FLATTEN) L->y = (float *)in;
        forward(ctx, L, in, with);
    }
}

typedef struct {
    nn_model *m;
    int n, training;
} cpu_pass;

static void cpu_forward(void *ctx, nn_layer *L, const float *in, const float *with) {
    const cpu_pass *p = ctx;
    nn_model *m = p->m;
    if (m->op_time) {
        double t0 = cmn_now_s();
        nn_layer_forward(m, L, in, with, p->n, p->training);
        m->op_time[2 * L->op] += cmn_now_s() - t0;
    } else {
        nn_layer_forward(m, L, in, with, p->n, p->training);
    }
}

double nn_forward(nn_model *m, const float *x, const int *labels, int n, int training) {
    assert(n >= 1 && n <= m->max_batch);
    m->x = x;
    m->n_last = n;
    cpu_pass pass = {m, n, training};
    nn_forward_walk(m->layers, m->n_layers, m->tensors, x, cpu_forward, &pass);
    m->has_labels = labels != NULL;
    if (!labels) return 0.0;
    const int K = nn_model_num_classes(m);
    const float *z = nn_model_logits(m);
    double loss = 0.0;
    for (int s = 0; s < n; s++) {
        assert(labels[s] >= 0 && labels[s] < K);
        m->labels[s] = labels[s];
        loss += nn_softmax_ce(z + (size_t)s * K, K, labels[s], m->probs + (size_t)s * K);
    }
    return loss;
}

int nn_count_errors(const nn_model *m, const int *labels, int n, int *preds) {
    const int K = nn_model_num_classes(m);
    const float *z = nn_model_logits(m);
    int wrong = 0;
    for (int s = 0; s < n; s++) {
        const int best = nn_argmax(z + (size_t)s * K, K);
        if (preds) preds[s] = best;
        if (labels && best != labels[s]) wrong++;
    }
    return wrong;
}

static void zero_param_grads(nn_model *m, const nn_layer *L) {
    int ts[2] = {L->wt, L->bt};
    for (int j = 0; j < 2; j++)
        if (ts[j] >= 0 && m->tensors[ts[j]].dw) memset(m->tensors[ts[j]].dw, 0, sizeof(float) * m->tensors[ts[j]].size);
}

/* Where layer L's gradient w.r.t. producer `src` goes, and whether to add. */
static float *grad_target(nn_layer *layers, float *dx_input, int src, int *acc, int *input_live) {
    if (src < 0) {
        *acc = *input_live;
        if (dx_input) *input_live = 1;
        return dx_input;
    }
    nn_layer *P = &layers[src];
    *acc = P->dy_live;
    P->dy_live = 1;
    return P->dy;
}

void nn_backward_walk(nn_layer *layers, int n_layers, const float *x, float *dx_input, nn_backward_fn backward,
                      nn_zero_grads_fn zero_grads, void *ctx) {
    int input_live = 0;
    for (int i = 0; i < n_layers; i++) layers[i].dy_live = 0;
    layers[n_layers - 1].dy_live = 1;
    /* Consumers come after producers, so walking backwards every layer's
     * dy is complete (all consumers have added in) before it is used. */
    for (int i = n_layers - 1; i >= 0; i--) {
        nn_layer *L = &layers[i];
        if (!L->dy_live) { /* output feeds nothing: its params get zero */
            zero_grads(ctx, L);
            continue;
        }
        const float *in = L->in < 0 ? x : layers[L->in].y;
        int acc = 0, acc2 = 0;
        float *dx = grad_target(layers, dx_input, L->in, &acc, &input_live), *dx2 = NULL;
        if (L->op == NN_ADD) dx2 = grad_target(layers, dx_input, L->with, &acc2, &input_live);
        backward(ctx, L, in, dx, acc, dx2, acc2);
    }
}

static void cpu_zero_grads(void *ctx, const nn_layer *L) { zero_param_grads((nn_model *)ctx, L); }

static void cpu_backward(void *ctx, nn_layer *L, const float *x, float *dx, int acc, float *dx2, int acc2) {
    nn_model *m = ctx;
    double t0 = m->op_time ? cmn_now_s() : 0.0;
    nn_layer_backward(m, L, x, dx, acc, dx2, acc2, m->n_last);
    if (m->op_time) m->op_time[2 * L->op + 1] += cmn_now_s() - t0;
}

static void backprop(nn_model *m) {
    nn_backward_walk(m->layers, m->n_layers, m->x, m->dx_input, cpu_backward, cpu_zero_grads, m);
}

void nn_backward(nn_model *m, float grad_scale) {
    assert(m->has_labels);
    const int K = nn_model_num_classes(m), n = m->n_last;
    nn_layer *last = &m->layers[m->n_layers - 1];
    for (int s = 0; s < n; s++) {
        const float *p = m->probs + (size_t)s * K;
        float *d = last->dy + (size_t)s * K;
        for (int k = 0; k < K; k++) d[k] = nn_ce_grad(p[k], k == m->labels[s], grad_scale);
    }
    backprop(m);
}

void nn_backward_from(nn_model *m, const float *dout) {
    nn_layer *last = &m->layers[m->n_layers - 1];
    memcpy(last->dy, dout, sizeof(float) * m->n_last * last->out_size);
    backprop(m);
}

int nn_model_enable_input_grad(nn_model *m, epr_err *err) {
    if (m->dx_input) return 0;
    m->dx_input = malloc(sizeof(float) * m->max_batch * m->in_size);
    RETURN_ERROR_IF(!m->dx_input, err, EPR_ENOMEM, "out of memory for the input gradient");
    return 0;
}

const float *nn_model_input_grad(const nn_model *m) { return m->dx_input; }
