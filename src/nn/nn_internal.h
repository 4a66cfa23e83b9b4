/* nn_internal.h — the model graph's private structures, shared by the nn
 * sources (model.c builds it, layers.c runs it) and by the nn tests, which
 * drive backward from an arbitrary output gradient and read the input
 * gradient to check every layer against finite differences.
 *
 * Not part of the interface other layers of epr code against: use nn.h. */
#ifndef EPR_NN_INTERNAL_H
#define EPR_NN_INTERNAL_H

#include <stdio.h>

#include "nn/nn.h"

#define NN_NAME_MAX 48 /* leaves room for ".running_mean" in 64 bytes */

typedef struct {
    nn_op op;
    char name[NN_NAME_MAX];
    int in, with;   /* producer layer indices; -1 = model input */
    int c, h, w;    /* input shape (per sample) */
    int oc, oh, ow; /* output shape (per sample) */
    size_t in_size, out_size;
    int k, stride, pad, bias;
    float momentum, eps;        /* batch norm */
    float momentum_spec;        /* batch norm: the momentum its spec gave (nn_model_set_bn_momentum restores it) */
    int affine;                 /* batch norm: 1 = learnable gamma (tensor wt), 0 = gamma fixed at 1 */
    int wt, bt;                 /* tensor indices, -1 if none */
    int rmean, rvar;            /* buffer indices (batch norm), -1 if none */
    float *y, *dy;              /* [max_batch, out_size]; flatten's y aliases its input */
    int *argmax;                /* maxpool: input offset within the plane */
    float *bn_mean, *bn_invstd; /* batch norm: statistics of the last forward */
    int bn_training;            /* mode of the last forward */
    int dy_live;                /* backward: dy holds a gradient (else overwrite) */
} nn_layer;

struct nn_model {
    int c, h, w, max_batch;
    size_t in_size;
    int n_layers;
    nn_layer *layers;
    int n_tensors;
    nn_param *tensors;
    int n_buffers;
    nn_buffer *buffers;
    size_t n_params;
    float *param_block, *grad_block; /* alloc_params only */
    float *col;                      /* shared im2col scratch, col_size floats */
    float *gather;                   /* shared [oc, chunk*P] scratch for conv */
    size_t col_size, gather_size;
    int col_owner;      /* conv layer whose whole-batch im2col is in col, or -1 */
    const float *col_x; /* ... of this input and batch size */
    int col_n;
    float *probs; /* softmax of the last forward, [max_batch, classes] */
    int *labels;  /* copy of the last forward's labels */
    int n_last;   /* batch size of the last forward */
    int has_labels;
    const float *x;  /* input of the last forward (caller-owned) */
    float *dx_input; /* optional gradient w.r.t. the model input */
    /* Optional profile (benchmarks; NULL otherwise): the forward and the
     * backward walk add each layer's seconds to op_time[2*op] (forward)
     * and op_time[2*op + 1] (backward), op an nn_op. */
    double *op_time;
};
#define NN_N_OPS (NN_FLATTEN + 1)

/* The layers of a model spec for input [c, h, w] (model_spec.c): parsed,
 * checked, names and in=/with= resolved, shapes inferred; no buffers and no
 * tensors yet.  *layers is malloc'd (the caller frees it). */
int nn_spec_parse(const char *spec, int c, int h, int w, nn_layer **layers, int *n_layers, epr_err *err);
/* The spec's name of a layer type ("dense", "conv", ...). */
const char *nn_op_name(nn_op op);

/* Convolutions run in chunks of whole samples: one im2col + one sgemm per
 * chunk.  A chunk is as small as possible (so col stays in L2 and, for one
 * sample, the product lands in y's layout with no reorder) but wide enough
 * (N = samples * output pixels >= NN_CONV_MIN_N) for sgemm to be efficient,
 * and never over NN_COL_CAP floats unless that width needs more.  Measured
 * on LeNet5 at batch 64: whole-batch im2col was 1.5x slower. */
#ifndef NN_COL_CAP
#define NN_COL_CAP ((size_t)1 << 17)
#endif
#define NN_CONV_MIN_N 128
int nn_conv_chunk(const nn_layer *L, int n);

/* The forward walk (the same sharing): each layer's forward with its input
 * (the model input x or a producer's output) and, for add, its second
 * input; flatten's output becomes a view of its input. */
typedef void (*nn_forward_fn)(void *ctx, nn_layer *L, const float *in, const float *with);
void nn_forward_walk(nn_layer *layers, int n_layers, const nn_param *tensors, const float *x, nn_forward_fn forward,
                     void *ctx);

/* The backward walk over a layer graph, shared by the host model and the
 * device one (src/nn/cuda): layers in reverse, each layer's output gradient
 * complete before its own backward runs; a producer's gradient buffer is
 * overwritten by its first consumer and added into by the others (acc);
 * layers whose output feeds nothing get zero parameter gradients.  x is the
 * model input, dx_input its gradient buffer (may be NULL). */
typedef void (*nn_backward_fn)(void *ctx, nn_layer *L, const float *x, float *dx, int acc, float *dx2, int acc2);
typedef void (*nn_zero_grads_fn)(void *ctx, const nn_layer *L);
void nn_backward_walk(nn_layer *layers, int n_layers, const float *x, float *dx_input, nn_backward_fn backward,
                      nn_zero_grads_fn zero_grads, void *ctx);

/* Backward from an arbitrary gradient of the last layer's output
 * (dout[n, out_size]); nn_backward is this with the cross-entropy gradient. */
void nn_backward_from(nn_model *m, const float *dout);
/* Allocate a gradient buffer for the model input (for tests: off by default
 * because the first layer's dX is wasted work in training). */
int nn_model_enable_input_grad(nn_model *m, epr_err *err);
const float *nn_model_input_grad(const nn_model *m);

/* Layer kernels (layers.c). */
void nn_layer_forward(nn_model *m, nn_layer *L, const float *x, const float *x2, int n, int training);
/* dx/dx2 may be NULL (no gradient wanted); acc/acc2: add into them instead
 * of overwriting. */
void nn_layer_backward(nn_model *m, nn_layer *L, const float *x, float *dx, int acc, float *dx2, int acc2, int n);

#endif
