/* epr/rate.c — noisy training rate and exact self-information (rate.h).
 * May call: epr/density (its block kernel), libc, libm, common/. */
#include "epr/rate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"
#include "epr/density.h"
#include "epr/density_internal.h"

EPR_DENSITY_CLONES
int rp_rate_noisy(const float *density, const float *latent, size_t rows, int ell, size_t row_begin, size_t row_end,
                  const float *log_s, int n_log_s, const rp_noise_key *key, float weight, double *rate_bits,
                  float *d_latent, float *d_log_s, float *d_density, epr_err *err) {
    RETURN_ERROR_IF(ell < 1, err, EPR_EARG, "rate: ell = %d < 1", ell);
    RETURN_ERROR_IF(n_log_s != 1 && n_log_s != ell, err, EPR_EARG, "rate: n_log_s = %d, want 1 or ell = %d", n_log_s,
                    ell);
    RETURN_ERROR_IF(row_begin > row_end || row_end > rows, err, EPR_EARG, "rate: row range [%zu, %zu) outside [0, %zu)",
                    row_begin, row_end, rows);
    RETURN_ERROR_IF(key->step >= (1ULL << 24), err, EPR_EARG, "rate: step %llu >= 2^24 (noise counter)",
                    (unsigned long long)key->step);
    RETURN_ERROR_IF(key->group_id >= 256, err, EPR_EARG, "rate: group id %u >= 256 (noise counter)",
                    (unsigned)key->group_id);
    RETURN_ERROR_IF(key->elem_base + (uint64_t)rows * (uint64_t)ell > (1ULL << 32), err, EPR_EARG,
                    "rate: group element index beyond 2^32 (noise counter)");

    const int want_grad = d_latent || d_log_s || d_density;
    double total = 0.0;
    for (int col = 0; col < ell; col++) {
        const float *params = density + (size_t)col * EPR_DENSITY_NPARAMS;
        rp_density_prep P;
        rp_density_acc A;
        rp_density_vacc V;
        rp_density_prepare(params, &P);
        memset(&A, 0, sizeof A);
        rp_density_vacc_zero(&V);
        const float inv_s = expf(-log_s[n_log_s == 1 ? 0 : col]);
        double bits = 0.0, d_ls = 0.0;
        /* EPR_VL rows at a time: gather phi_hat + noise, run the density's
         * block kernel, scatter d y back in latent units. */
        for (size_t r0 = row_begin; r0 < row_end; r0 += EPR_VL) {
            const int m = row_end - r0 < EPR_VL ? (int)(row_end - r0) : EPR_VL;
            rp_vf phi_hat = {0}, y = {0}, w = {0}, bv, dy;
            for (int k = 0; k < m; k++) {
                const size_t row = r0 + (size_t)k;
                const float noise =
                    cmn_rng_uniform(key->seed, EPR_STREAM_RATE_NOISE, rp_rate_noise_counter(key, row, ell, col)) - 0.5f;
                phi_hat[k] = latent[row * (size_t)ell + (size_t)col] * inv_s;
                y[k] = phi_hat[k] + noise;
                w[k] = weight; /* padding lanes keep w = 0: no gradient */
            }
            rp_vblock(P.v, &y, &w, &bv, &dy, want_grad ? V.g : NULL);
            for (int k = 0; k < m; k++) bits += bv[k];
            if (!want_grad) continue;
            rp_density_vacc_tick(&V, &A);
            for (int k = 0; k < m; k++) {
                if (d_latent) d_latent[(r0 + (size_t)k) * (size_t)ell + (size_t)col] += dy[k] * inv_s;
                d_ls -= (double)phi_hat[k] * dy[k];
            }
        }
        total += bits;
        rp_density_vacc_fold(&V, &A);
        if (d_density) rp_density_acc_flush(params, &P, &A, d_density + (size_t)col * EPR_DENSITY_NPARAMS);
        if (d_log_s) d_log_s[n_log_s == 1 ? 0 : col] += (float)d_ls;
    }
    if (rate_bits) *rate_bits = total;
    return 0;
}

/* Largest support span for which a column's bits are tabulated once per
 * symbol instead of evaluated per value. */
#define RATE_TABLE_MAX_SPAN 65536

double rp_rate_exact(const float *density, const int32_t *phi, size_t rows, int ell, double *col_bits) {
    double total = 0.0;
    for (int col = 0; col < ell; col++) {
        const float *params = density + (size_t)col * EPR_DENSITY_NPARAMS;
        double bits = 0.0;
        if (rows > 0) {
            int32_t lo = phi[col], hi = phi[col];
            for (size_t r = 1; r < rows; r++) {
                int32_t k = phi[r * (size_t)ell + (size_t)col];
                lo = k < lo ? k : lo;
                hi = k > hi ? k : hi;
            }
            const int64_t span = (int64_t)hi - lo + 1;
            double *table = NULL;
            /* Typical phi have a small support with many repeats: tabulate. */
            if (span <= RATE_TABLE_MAX_SPAN && (size_t)span <= rows) table = malloc(sizeof(double) * (size_t)span);
            if (table) {
                for (int64_t k = 0; k < span; k++) table[k] = -log2(rp_density_likelihood_d(params, (double)(lo + k)));
                for (size_t r = 0; r < rows; r++) bits += table[phi[r * (size_t)ell + (size_t)col] - lo];
                free(table);
            } else {
                for (size_t r = 0; r < rows; r++)
                    bits += -log2(rp_density_likelihood_d(params, (double)phi[r * (size_t)ell + (size_t)col]));
            }
        }
        if (col_bits) col_bits[col] = bits;
        total += bits;
    }
    return total;
}
