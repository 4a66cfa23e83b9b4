/* optim.c — optimizers on flat float arrays (Adam, SGD with momentum and
 * weight decay), the step learning-rate schedule and the parameter EMA.
 *
 * Flat arrays because the trainer keeps all parameters, gradients and
 * moments in contiguous blocks (one allreduce, one checkpoint write).
 * Calls libm only.  Semantics follow PyTorch's torch.optim so that runs can
 * be compared with reference scripts. */
#include <math.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "nn/nn.h"

void nn_adam_step(nn_adam *o, float *w, const float *g, float *m1, float *m2, size_t n) {
    o->t++;
    const float b1 = o->beta1, b2 = o->beta2, eps = o->eps;
    /* Bias correction folded into two scalars: w -= lr/bc1 * m1 / (sqrt(m2/bc2) + eps). */
    const double bc1 = 1.0 - pow(b1, (double)o->t), bc2 = 1.0 - pow(b2, (double)o->t);
    const float step = (float)(o->lr / bc1), rs = (float)(1.0 / sqrt(bc2));
    size_t i = 0;
#if defined(__SSE2__)
    /* Explicit SSE: sqrtf's errno handling keeps the compiler from
     * vectorising the scalar loop at the project's -O2, and Adam was 40% of
     * a LeNet300 step without this.  Same operations in the same order as
     * the scalar loop below, so the results are bitwise identical (as long
     * as the compiler does not contract the scalar one into FMAs; ISO C
     * mode, as built here, does not). */
    const __m128 vb1 = _mm_set1_ps(b1), vb2 = _mm_set1_ps(b2), va1 = _mm_set1_ps(1.0f - b1),
                 va2 = _mm_set1_ps(1.0f - b2), vstep = _mm_set1_ps(step), vrs = _mm_set1_ps(rs),
                 veps = _mm_set1_ps(eps);
    for (; i + 4 <= n; i += 4) {
        __m128 gi = _mm_loadu_ps(g + i);
        __m128 a = _mm_add_ps(_mm_mul_ps(vb1, _mm_loadu_ps(m1 + i)), _mm_mul_ps(va1, gi));
        __m128 v = _mm_add_ps(_mm_mul_ps(vb2, _mm_loadu_ps(m2 + i)), _mm_mul_ps(_mm_mul_ps(va2, gi), gi));
        _mm_storeu_ps(m1 + i, a);
        _mm_storeu_ps(m2 + i, v);
        __m128 den = _mm_add_ps(_mm_mul_ps(_mm_sqrt_ps(v), vrs), veps);
        _mm_storeu_ps(w + i, _mm_sub_ps(_mm_loadu_ps(w + i), _mm_div_ps(_mm_mul_ps(vstep, a), den)));
    }
#endif
    for (; i < n; i++) {
        float gi = g[i];
        float a = b1 * m1[i] + (1.0f - b1) * gi;
        float v = b2 * m2[i] + (1.0f - b2) * gi * gi;
        m1[i] = a;
        m2[i] = v;
        w[i] -= step * a / (sqrtf(v) * rs + eps);
    }
}

void nn_sgd_step(const nn_sgd *o, float *w, const float *g, float *buf, size_t n) {
    const float lr = o->lr, mu = o->momentum, wd = o->weight_decay;
    for (size_t i = 0; i < n; i++) {
        float gi = g[i] + wd * w[i];
        float b = mu * buf[i] + gi;
        buf[i] = b;
        w[i] -= lr * b;
    }
}

float nn_lr_step_schedule(float base, float factor, const long *milestones, int n_milestones, long step) {
    float lr = base;
    for (int i = 0; i < n_milestones; i++)
        if (milestones[i] <= step) lr *= factor;
    return lr;
}

void nn_ema_update(float *ema, const float *w, size_t n, float decay) {
    const float a = 1.0f - decay;
    for (size_t i = 0; i < n; i++) ema[i] = decay * ema[i] + a * w[i];
}
