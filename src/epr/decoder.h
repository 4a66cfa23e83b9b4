/* epr/decoder.h — parameter decoders f: theta = f(phi), phi = round(latent/s),
 * on one tensor viewed as a row-major matrix [rows x ell].
 *
 * Owns: the forward decode (with the integer phi for the compressor), the
 * straight-through backward into the latent and psi, and initialisation of
 * psi and the latent from an initial theta.  May call: OpenBLAS
 * (cblas_sgemm), libc, libm.
 *
 * The latent vartheta is kept in theta units (DESIGN.md section 1):
 * phi_hat = vartheta / s, phi = round(phi_hat), so one optimiser step moves
 * theta by about lr whatever s is.  s = exp(log s); psi stores log s.
 *
 * Rounding is roundf: round half away from zero.  The straight-through
 * estimator treats round as the identity in the backward pass, so with
 * theta = s*phi + b (affine)
 *     d theta / d vartheta = 1,
 *     d theta / d log s    = s * (phi - phi_hat)   (vartheta fixed),
 * and for conv-affine the same per column of the coefficients s . phi,
 * mapped through T.  Everything is ACCUMULATED (+=) into gradient buffers.
 *
 *   affine:      psi = [log s, b];  theta = s*phi + b (scalars per group).
 *   conv-affine: psi = [log s[ell], c[ell], T[ell x ell] if learned];
 *                theta_row = T (s . phi_row) + c,  T row-major,
 *                T[p*ell + col]; T == NULL means identity.  A learned T
 *                lives in psi (T = psi + 2*ell, d_T = d_psi + 2*ell); a
 *                fixed T is passed alone and d_T is NULL.
 * conv-affine needs a caller work buffer of rows*ell floats (the step loop
 * never allocates); the decode is one sgemm per tensor. */
#ifndef EPR_EPR_DECODER_H
#define EPR_EPR_DECODER_H

#include <stddef.h>
#include <stdint.h>

#include "common/status.h"

#define EPR_AFFINE_NPSI 2
/* Integer phi saturate at +-EPR_PHI_MAX (NaN gives 0): only a diverged run
 * gets there, and the conversion must not be undefined behaviour. */
#define EPR_PHI_MAX (1 << 30)

/* Number of psi floats of a conv-affine decoder. */
static inline size_t rp_conv_affine_npsi(int ell, int learned) {
    return 2 * (size_t)ell + (learned ? (size_t)ell * (size_t)ell : 0);
}

/* phi = round(latent / s) as int32 for n_log_s = 1 (one s) or ell (per
 * column), over a [rows x ell] matrix. */
void rp_decoder_phi(const float *latent, size_t rows, int ell, const float *log_s, int n_log_s, int32_t *phi);

/* ---- affine ---- */
/* psi = [log_s0, 0], latent = theta (b = 0). */
void rp_affine_init(float log_s0, const float *theta, size_t n, float *psi, float *latent);
/* theta = s*round(latent/s) + b; phi (may be NULL) receives the integers. */
void rp_affine_decode(const float *psi, const float *latent, size_t n, float *theta, int32_t *phi);
/* Straight-through backward: d_latent += d_theta (may be NULL),
 * d_psi[0] += sum d_theta * s*(phi - phi_hat), d_psi[1] += sum d_theta. */
void rp_affine_backward(const float *psi, const float *latent, size_t n, const float *d_theta, float *d_latent,
                        float *d_psi);

/* ---- conv-affine ---- */
/* log s = log_s0 for every column, c = 0, latent_row = T^T theta_row
 * (T orthonormal).  psi receives [log s, c] (2*ell floats); a learned T is
 * the caller's to fill (rp_transform_build).  Returns 0 or EPR_EARG. */
int rp_conv_affine_init(int ell, const float *T, float log_s0, const float *theta, size_t rows, float *psi,
                        float *latent, epr_err *err);
/* theta [rows x ell]; phi (may be NULL); work [rows x ell]. */
void rp_conv_affine_decode(int ell, const float *psi, const float *T, const float *latent, size_t rows, float *theta,
                           int32_t *phi, float *work);
/* Given d_theta [rows x ell], accumulate d_latent_row += T^T d_theta_row
 * (NULL to skip), d_psi[0..ell) (d log s), d_psi[ell..2ell) (d c), and
 * d_T += d_theta^T (s . phi) when d_T != NULL (learned T).  work
 * [rows x ell]. */
void rp_conv_affine_backward(int ell, const float *psi, const float *T, const float *latent, size_t rows,
                             const float *d_theta, float *d_latent, float *d_psi, float *d_T, float *work);

#endif
