/* optim.c — optimizers on flat float arrays (Adam, SGD with momentum and
 * weight decay), the step learning-rate schedule and the parameter EMA.
 *
 * Flat arrays because the trainer keeps all parameters, gradients and
 * moments in contiguous blocks (one allreduce, one checkpoint write).
 * Calls libm only.  Semantics follow PyTorch's torch.optim so that runs can
 * be compared with reference scripts.  The arithmetic per element is
 * optim_kernel.h's, shared with the CUDA kernels (cuda/context.cu). */
#include <math.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "nn/nn.h"
#include "nn/optim_kernel.h"

void nn_adam_step(nn_adam *o, float *w, const float *g, float *m1, float *m2, size_t n) {
    const nn_adam_coef k = nn_adam_begin(o);
    size_t i = 0;
#if defined(__SSE2__)
    /* Explicit SSE: sqrtf's errno handling keeps the compiler from
     * vectorising the scalar loop at the project's -O2, and Adam was 40% of
     * a LeNet300 step without this.  Same operations in the same order as
     * nn_adam_elem, so the results are bitwise identical (as long as the
     * compiler does not contract that one into FMAs; -ffp-contract=off, as
     * built here, does not). */
    const __m128 vb1 = _mm_set1_ps(k.b1), vb2 = _mm_set1_ps(k.b2), va1 = _mm_set1_ps(1.0f - k.b1),
                 va2 = _mm_set1_ps(1.0f - k.b2), vstep = _mm_set1_ps(k.step), vrs = _mm_set1_ps(k.rs),
                 veps = _mm_set1_ps(k.eps);
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
    for (; i < n; i++) nn_adam_elem(&w[i], g[i], &m1[i], &m2[i], k);
}

void nn_sgd_step(const nn_sgd *o, float *w, const float *g, float *buf, size_t n) {
    const float lr = o->lr, mu = o->momentum, wd = o->weight_decay;
    for (size_t i = 0; i < n; i++) nn_sgd_elem(&w[i], g[i], &buf[i], lr, mu, wd);
}

float nn_lr_step_schedule(float base, float factor, const long *milestones, int n_milestones, long step) {
    float lr = base;
    for (int i = 0; i < n_milestones; i++)
        if (milestones[i] <= step) lr *= factor;
    return lr;
}

void nn_ema_update(float *ema, const float *w, size_t n, float decay) {
    const float a = 1.0f - decay;
    for (size_t i = 0; i < n; i++) ema[i] = nn_ema_elem(ema[i], w[i], decay, a);
}
