/* nn — tensors, layers (forward and backward), the model graph built from a
 * layer spec, optimizers and EMA.
 *
 * May call: OpenBLAS (cblas_sgemm), libc, libm, common/.  Knows nothing of
 * EPR, MPI, HDF5 or the config file.
 *
 * Memory: a model is built once for a maximum batch; every activation and
 * gradient buffer is allocated then.  Forward/backward never allocate.
 * Parameters live wherever the caller binds them (nn_model_bind): the
 * trainer points uncompressed tensors into its one contiguous train block
 * and compressed tensors into a scratch block that the EPR decoders fill.
 * nn_model_alloc_params() is the simple path: one contiguous block for all.
 *
 * Layouts (row-major):
 *   activations  [n, C, H, W]    (dense layers see [n, C*H*W])
 *   dense weight [out, in]       bias [out]
 *   conv weight  [out, in, kh, kw]  (so a [d x kh*kw] reshape has one
 *                                     spatial kernel per row)   bias [out]
 *   batch norm   beta [C] (gamma fixed at 1, or with affine=1 a tensor gamma [C]),
 *                running mean/var [C]
 */
#ifndef EPR_NN_H
#define EPR_NN_H

#include <stddef.h>
#include <stdint.h>

#include "common/status.h"

typedef enum {
    NN_DENSE,
    NN_CONV,
    NN_MAXPOOL,
    NN_AVGPOOL,
    NN_GAP, /* global average pool -> [n, C, 1, 1] */
    NN_RELU,
    NN_BATCHNORM,
    NN_ADD, /* residual add: previous/in= output + with= output */
    NN_FLATTEN
} nn_op;

typedef enum { NN_PARAM_WEIGHT, NN_PARAM_BIAS } nn_param_kind;

/* One trainable tensor.  name is "<layer>.weight" or "<layer>.bias". */
typedef struct {
    char name[64];
    nn_param_kind kind;
    int layer; /* index of the owning layer */
    int ndim;
    int shape[4];
    size_t size; /* product of shape */
    int fan_in, fan_out;
    float *w, *dw; /* bound storage (NULL until bound) */
} nn_param;

/* A non-trained state tensor (batch-norm running mean / variance). */
typedef struct {
    char name[64];
    int layer;
    size_t size;
    float *data; /* owned by the model */
} nn_buffer;

typedef struct nn_model nn_model;

/* Built-in specs: "lenet300-100", "lenet5-caffe" (MNIST, 1x28x28),
 * "vgg16-cifar", "resnet20-4" (CIFAR-10, 3x32x32), "resnet18", "resnet50"
 * (ImageNet, 3x224x224; any input from 32x32 up builds).  model.c states
 * each architecture and its parameter count.  Returns NULL for an unknown
 * name. */
const char *nn_builtin_spec(const char *name);

/* Parse a layer spec and build the model for inputs [max_batch, c, h, w].
 * Spec: layers separated by ';' or newlines, each "TYPE key=value ...":
 *   dense   out=N [name=S] [bias=0|1]
 *   conv    out=N k=K [stride=S] [pad=P] [name=S] [bias=0|1]
 *   maxpool k=K [stride=S] [pad=P]  avgpool k=K [stride=S]  gap
 *     (max-pool padding counts as -infinity; P <= K/2)
 *   relu    batchnorm [name=S] [momentum=0.1] [eps=1e-5] [affine=0|1]
 *   flatten add with=LAYERNAME
 * Every layer may carry name=S and in=LAYERNAME (default: previous layer);
 * in=/with= may also name "input", the model input.  Unnamed layers get
 * "<type><index>" (1-based, e.g. relu2).  '#' starts a comment to the end
 * of the line; empty entries are skipped.  Pools default to stride=k, conv
 * to stride=1 pad=0; dense flattens its input.  Batch norm has one tensor,
 * beta, named "<layer>.bias" (with affine=1 also gamma, "<layer>.weight",
 * initialised to 1: y = xhat * gamma + beta), and buffers "<layer>.running_mean" /
 * "<layer>.running_var" (momentum as in PyTorch: new = (1-m)*old + m*batch,
 * running variance unbiased).  The last layer's output is the logits; its
 * size is the number of classes.  On error returns EPR_EARG and a message
 * naming the layer (1-based) and the problem. */
int nn_model_build(const char *spec, int c, int h, int w, int max_batch, nn_model **out, epr_err *err);
void nn_model_free(nn_model *m);

int nn_model_num_classes(const nn_model *m);
size_t nn_model_num_params(const nn_model *m); /* total trainable scalars */
int nn_model_num_tensors(const nn_model *m);
nn_param *nn_model_tensor(nn_model *m, int i);
int nn_model_find_tensor(const nn_model *m, const char *name); /* -1 if none */
int nn_model_num_buffers(const nn_model *m);
/* Batch-norm layers in the network (0: none). */
int nn_model_num_batchnorm(const nn_model *m);
/* The running-statistics momentum of every batch-norm layer (new = (1-m)*old
 * + m*batch); momentum < 0 gives each layer back the one its spec set.  With
 * 1/k for the k-th of K training forwards the statistics end as the plain
 * average over the K batches (the recalibration at the end of a run). */
void nn_model_set_bn_momentum(nn_model *m, float momentum);
nn_buffer *nn_model_buffer(nn_model *m, int i);
int nn_model_max_batch(const nn_model *m);
/* Human-readable one-line-per-layer summary (for `epr train` and tests). */
void nn_model_print(const nn_model *m, FILE *f);

/* Bind tensor i to caller storage (w and dw of size tensor->size). */
void nn_model_bind(nn_model *m, int i, float *w, float *dw);
/* Allocate one contiguous block for all params and one for all grads and
 * bind every tensor into them, in tensor order.  The model owns them. */
int nn_model_alloc_params(nn_model *m, epr_err *err);
float *nn_model_param_block(nn_model *m); /* NULL unless alloc_params */
float *nn_model_grad_block(nn_model *m);

/* Glorot-uniform for dense weights, He-normal for conv weights, zero biases;
 * reproducible from the seed. Running stats reset to mean 0, var 1. */
void nn_model_init_params(nn_model *m, uint64_t seed);

/* Forward n <= max_batch samples x[n, c*h*w].  training=1 uses batch
 * statistics in batch norm and updates the running ones.  Returns the SUM of
 * the cross-entropy (nats) over the n samples; if labels is NULL the loss is
 * not computed (0 returned).  Logits stay readable with nn_model_logits. */
double nn_forward(nn_model *m, const float *x, const int *labels, int n, int training);
const float *nn_model_logits(const nn_model *m); /* [n, classes] */
/* Number of wrong argmax predictions in the last forward; preds may be NULL
 * or receive n class indices. */
int nn_count_errors(const nn_model *m, const int *labels, int n, int *preds);

/* Backward of the last forward (which must have had labels): sets every
 * bound dw (dw may be NULL: skipped) to grad_scale * d(sum CE)/dw.
 * grad_scale = 1/global_batch gives the mean over a global batch split
 * across ranks.  Overwrites, so no zeroing is needed.  After a training=0
 * forward, batch norm backpropagates as the fixed affine map it was. */
void nn_backward(nn_model *m, float grad_scale);

/* ---- optimizers on flat arrays (torch.optim semantics) ---- */
typedef struct {
    float lr, beta1, beta2, eps;
    long t; /* steps taken; nn_adam_step increments it, so call it once per
              * step per nn_adam (one nn_adam per separately stepped array) */
} nn_adam;
/* Bias-corrected Adam: m1, m2 start at zero, same length n as w and g. */
void nn_adam_step(nn_adam *o, float *w, const float *g, float *m1, float *m2, size_t n);

typedef struct {
    float lr, momentum, weight_decay;
} nn_sgd;
/* g' = g + weight_decay*w; buf = momentum*buf + g'; w -= lr*buf (buf starts 0). */
void nn_sgd_step(const nn_sgd *o, float *w, const float *g, float *buf, size_t n);

/* Step schedule: base * factor^(number of milestones <= step). */
float nn_lr_step_schedule(float base, float factor, const long *milestones, int n_milestones, long step);

/* ema = decay*ema + (1-decay)*w */
void nn_ema_update(float *ema, const float *w, size_t n, float decay);

#endif
