/* nn/optim_kernel.h — the per-element arithmetic of the optimizers and the
 * EMA (Adam, SGD with momentum and weight decay, the parameter average),
 * written once for the CPU loops (optim.c) and the CUDA kernels
 * (cuda/context.cu).  With no FMA contraction on either side
 * (-ffp-contract=off, nvcc --fmad=false) and IEEE division and sqrt, an
 * element gives the same bits on both.  Private to src/nn.  Depends on
 * nn/nn.h (the optimizer structs), common/hostdev.h and libm. */
#ifndef EPR_NN_OPTIM_KERNEL_H
#define EPR_NN_OPTIM_KERNEL_H

#include <math.h>

#include "common/hostdev.h"
#include "nn/nn.h"

/* The scalars of one Adam step.  Bias correction is folded into two of them:
 * w -= lr/bc1 * m1 / (sqrt(m2/bc2) + eps) = step * m1 / (sqrt(m2) * rs + eps). */
typedef struct {
    float b1, b2, eps, step, rs;
} nn_adam_coef;

/* Host only: count the step (o->t++) and compute its scalars in double. */
static inline nn_adam_coef nn_adam_begin(nn_adam *o) {
    o->t++;
    const double bc1 = 1.0 - pow(o->beta1, (double)o->t), bc2 = 1.0 - pow(o->beta2, (double)o->t);
    nn_adam_coef k = {o->beta1, o->beta2, o->eps, (float)(o->lr / bc1), (float)(1.0 / sqrt(bc2))};
    return k;
}

/* One Adam element: the moments m1, m2 and the weight w after gradient g. */
EPR_HD static inline void nn_adam_elem(float *w, float g, float *m1, float *m2, nn_adam_coef k) {
    const float a = k.b1 * *m1 + (1.0f - k.b1) * g;
    const float v = k.b2 * *m2 + (1.0f - k.b2) * g * g;
    *m1 = a;
    *m2 = v;
    *w -= k.step * a / (sqrtf(v) * k.rs + k.eps);
}

/* One SGD element (PyTorch's torch.optim.SGD, dampening 0): weight decay
 * into the gradient, the momentum buffer, the step. */
EPR_HD static inline void nn_sgd_elem(float *w, float g, float *buf, float lr, float mu, float wd) {
    const float gi = g + wd * *w;
    const float b = mu * *buf + gi;
    *buf = b;
    *w -= lr * b;
}

/* One EMA element: decay * ema + (1 - decay) * w, with one_minus = 1 - decay
 * computed once in float by the caller. */
EPR_HD static inline float nn_ema_elem(float ema, float w, float decay, float one_minus) {
    return decay * ema + one_minus * w;
}

#endif
