/* epr/rate.h — the rate term of one group's latent matrix, in bits.
 *
 * Owns: the noisy training rate sum -log2 p(phi_hat + n) with its gradients
 * (into the latent, log s and the density parameters, scaled by lambda),
 * and the exact discrete self-information of integer phi for reporting.
 * Works on raw arrays; the caller maps groups to tensors.
 * May call: epr/density, libc, libm, common/.
 *
 * Units (DESIGN.md section 1): the latent vartheta lives in transform-
 * coefficient (theta) units and phi_hat = vartheta / s column-wise, with
 * s = exp(log s) either one per group (n_log_s = 1, affine) or one per
 * column (n_log_s = ell, conv-affine).  The noise is added to phi_hat, so
 * at fixed vartheta
 *     d rate / d vartheta = (1/s) d rate / d y,
 *     d rate / d log s    = -sum phi_hat * d rate / d y,   y = phi_hat + n.
 *
 * Noise counter: n = cmn_rng_uniform(seed, EPR_STREAM_RATE_NOISE, c) - 1/2
 * with
 *     c = step << 40 | group_id << 32 | (elem_base + row*ell + col)
 * where elem_base is the group-level index of this matrix's element
 * (0, 0) (the caller numbers a group's tensors consecutively).  So n is a
 * pure function of (seed, step, group, element), whatever the split of
 * rows across ranks.  Limits (checked): step < 2^24, group_id < 256,
 * group element index < 2^32. */
#ifndef EPR_EPR_RATE_H
#define EPR_EPR_RATE_H

#include <stddef.h>
#include <stdint.h>

#include "common/hostdev.h"
#include "common/status.h"

typedef struct {
    uint64_t seed;      /* the run's seed */
    uint64_t step;      /* training step, < 2^24 */
    uint32_t group_id;  /* < 256 */
    uint64_t elem_base; /* group-level index of element (0,0) of the matrix */
} rp_noise_key;

/* The noise counter of element (row, col) of a matrix with ell columns;
 * exposed so that tests and other code can reproduce the noise. */
static inline EPR_HD uint64_t rp_rate_noise_counter(const rp_noise_key *k, size_t row, int ell, int col) {
    return k->step << 40 | (uint64_t)k->group_id << 32 | (k->elem_base + (uint64_t)row * (uint64_t)ell + (uint64_t)col);
}

/* Noisy training rate of rows [row_begin, row_end) of the latent matrix
 * [rows x ell] (row-major; only the rows in range are read), density
 * params [ell x 43], log_s [n_log_s] with n_log_s = 1 or ell.
 * *rate_bits receives sum -log2 p(latent/s + n) over the range (unweighted).
 * Gradients of weight * rate_bits (weight = lambda) are ACCUMULATED into
 *   d_latent [rows x ell] (only the range is touched; NULL to skip),
 *   d_log_s  [n_log_s]   (NULL to skip),
 *   d_density [ell x 43] (NULL to skip).
 * Returns 0, or EPR_EARG (bad shape, range or key limits). */
int rp_rate_noisy(const float *density, const float *latent, size_t rows, int ell, size_t row_begin, size_t row_end,
                  const float *log_s, int n_log_s, const rp_noise_key *key, float weight, double *rate_bits,
                  float *d_latent, float *d_log_s, float *d_density, epr_err *err);

/* Exact self-information sum -log2 P(phi) of an integer matrix [rows x ell]
 * under the discretised density P(k) = c(k+1/2) - c(k-1/2) of each column
 * (same sign trick and lower bound as training), evaluated in double.
 * col_bits [ell] (may be NULL) receives the per-column totals. */
double rp_rate_exact(const float *density, const int32_t *phi, size_t rows, int ell, double *col_bits);

#endif
