/* nn/ce_kernel.h — softmax cross-entropy, its gradient and the predicted
 * class, per sample, written once for the CPU loop (model.c) and the CUDA
 * kernels (cuda/model.cu): both run the same operations in the same order
 * (no FMA contraction on either side), so the only CPU/GPU difference left
 * is the device's expf/log.  Private to src/nn.  Depends on
 * common/hostdev.h and libm. */
#ifndef EPR_NN_CE_KERNEL_H
#define EPR_NN_CE_KERNEL_H

#include <math.h>

#include "common/hostdev.h"

/* The predicted class of logits z[K]: the first maximum. */
EPR_HD static inline int nn_argmax(const float *z, int K) {
    int best = 0;
    for (int k = 1; k < K; k++)
        if (z[k] > z[best]) best = k;
    return best;
}

/* Softmax of logits z[K] into p[K] and the cross-entropy -log p[label],
 * computed as log(sum) + max - z[label] in double (the sum of exp(z - max)
 * is accumulated in double from the float terms). */
EPR_HD static inline double nn_softmax_ce(const float *z, int K, int label, float *p) {
    float mx = z[0];
    for (int k = 1; k < K; k++) mx = z[k] > mx ? z[k] : mx;
    double sum = 0.0;
    for (int k = 0; k < K; k++) {
        p[k] = expf(z[k] - mx);
        sum += p[k];
    }
    const float inv = (float)(1.0 / sum);
    for (int k = 0; k < K; k++) p[k] *= inv;
    return log(sum) + (double)mx - (double)z[label];
}

/* One element of the loss gradient scaled by gs: gs * (p - [k == label]),
 * rounded as gs * p first. */
EPR_HD static inline float nn_ce_grad(float p, int is_label, float gs) {
    const float v = gs * p;
    return is_label ? v - gs : v;
}

#endif
