/* epr/decoder.c — affine and conv-affine parameter decoders (decoder.h).
 * May call: OpenBLAS (cblas_sgemm), libc, libm. */
#include "epr/decoder.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#include "epr/decoder_round.h"

void rp_decoder_phi(const float *latent, size_t rows, int ell, const float *log_s, int n_log_s, int32_t *phi) {
    for (int col = 0; col < ell; col++) {
        const float inv_s = expf(-log_s[n_log_s == 1 ? 0 : col]);
        for (size_t r = 0; r < rows; r++) {
            size_t idx = r * (size_t)ell + (size_t)col;
            phi[idx] = rp_decoder_to_int(rp_decoder_round(latent[idx] * inv_s));
        }
    }
}

/* ---- affine ---- */

void rp_affine_init(float log_s0, const float *theta, size_t n, float *psi, float *latent) {
    psi[0] = log_s0;
    psi[1] = 0.0f;
    memcpy(latent, theta, sizeof(float) * n);
}

void rp_affine_decode(const float *psi, const float *latent, size_t n, float *theta, int32_t *phi) {
    const float s = expf(psi[0]), inv_s = expf(-psi[0]), b = psi[1];
    for (size_t i = 0; i < n; i++) theta[i] = s * rp_decoder_round(latent[i] * inv_s) + b;
    if (phi)
        for (size_t i = 0; i < n; i++) phi[i] = rp_decoder_to_int(rp_decoder_round(latent[i] * inv_s));
}

/* Lanes of the d(log s) and d(b) sums: independent partial sums in a fixed
 * order (deterministic) that the compiler can keep in vector registers. */
#define AFFINE_LANES 8

void rp_affine_backward(const float *psi, const float *latent, size_t n, const float *d_theta, float *d_latent,
                        float *d_psi) {
    const float s = expf(psi[0]), inv_s = expf(-psi[0]);
    if (d_latent)
        for (size_t i = 0; i < n; i++) d_latent[i] += d_theta[i];
    double acc_s[AFFINE_LANES] = {0}, acc_b[AFFINE_LANES] = {0};
    size_t i = 0;
    for (; i + AFFINE_LANES <= n; i += AFFINE_LANES)
        for (int k = 0; k < AFFINE_LANES; k++) {
            const float phi_hat = latent[i + k] * inv_s, g = d_theta[i + k];
            acc_s[k] += (double)(g * (rp_decoder_round(phi_hat) - phi_hat));
            acc_b[k] += (double)g;
        }
    for (int k = 0; i < n; i++, k++) {
        const float phi_hat = latent[i] * inv_s, g = d_theta[i];
        acc_s[k] += (double)(g * (rp_decoder_round(phi_hat) - phi_hat));
        acc_b[k] += (double)g;
    }
    double d_log_s = 0.0, d_b = 0.0;
    for (int k = 0; k < AFFINE_LANES; k++) d_log_s += acc_s[k], d_b += acc_b[k];
    d_psi[0] += (float)(d_log_s * s);
    d_psi[1] += (float)d_b;
}

/* ---- conv-affine ---- */

/* Per-column loops run over chunks of at most DECODER_CHUNK columns, rows
 * outermost, so a [rows x ell] matrix is streamed once in memory order. */
#define DECODER_CHUNK 64

/* work = s . round(latent / s), row-wise: the scaled coefficients. */
static void conv_affine_coeffs(int ell, const float *log_s, const float *latent, size_t rows, float *work,
                               int32_t *phi) {
    float s[DECODER_CHUNK], inv_s[DECODER_CHUNK];
    for (int c0 = 0; c0 < ell; c0 += DECODER_CHUNK) {
        const int nc = ell - c0 < DECODER_CHUNK ? ell - c0 : DECODER_CHUNK;
        for (int j = 0; j < nc; j++) s[j] = expf(log_s[c0 + j]), inv_s[j] = expf(-log_s[c0 + j]);
        for (size_t r = 0; r < rows; r++) {
            const size_t base = r * (size_t)ell + (size_t)c0;
            for (int j = 0; j < nc; j++) {
                const float q = rp_decoder_round(latent[base + j] * inv_s[j]);
                work[base + j] = s[j] * q;
                if (phi) phi[base + j] = rp_decoder_to_int(q);
            }
        }
    }
}

int rp_conv_affine_init(int ell, const float *T, float log_s0, const float *theta, size_t rows, float *psi,
                        float *latent, epr_err *err) {
    RETURN_ERROR_IF(ell < 1, err, EPR_EARG, "conv-affine init: ell = %d < 1", ell);
    for (int i = 0; i < ell; i++) {
        psi[i] = log_s0;
        psi[ell + i] = 0.0f;
    }
    if (rows == 0) return 0;
    if (!T) {
        memcpy(latent, theta, sizeof(float) * rows * (size_t)ell);
        return 0;
    }
    /* latent_row = T^T (theta_row - c) with c = 0, i.e. Latent = Theta T. */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, ell, ell, 1.0f, theta, ell, T, ell, 0.0f, latent,
                ell);
    return 0;
}

void rp_conv_affine_decode(int ell, const float *psi, const float *T, const float *latent, size_t rows, float *theta,
                           int32_t *phi, float *work) {
    const float *c = psi + ell;
    if (rows == 0) return;
    if (!T) {
        conv_affine_coeffs(ell, psi, latent, rows, theta, phi);
        for (size_t r = 0; r < rows; r++)
            for (int p = 0; p < ell; p++) theta[r * (size_t)ell + (size_t)p] += c[p];
        return;
    }
    conv_affine_coeffs(ell, psi, latent, rows, work, phi);
    /* Theta = 1 c^T + Q T^T: one sgemm over all rows of the tensor. */
    for (size_t r = 0; r < rows; r++) memcpy(theta + r * (size_t)ell, c, sizeof(float) * (size_t)ell);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, ell, ell, 1.0f, work, ell, T, ell, 1.0f, theta,
                ell);
}

void rp_conv_affine_backward(int ell, const float *psi, const float *T, const float *latent, size_t rows,
                             const float *d_theta, float *d_latent, float *d_psi, float *d_T, float *work) {
    const float *log_s = psi;
    float *d_log_s = d_psi, *d_c = d_psi + ell;
    if (rows == 0) return;

    if (T && d_T) {
        /* dT += dTheta^T Q, with Q = s . phi recomputed (cheaper than storing). */
        conv_affine_coeffs(ell, log_s, latent, rows, work, NULL);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, ell, ell, (int)rows, 1.0f, d_theta, ell, work, ell, 1.0f,
                    d_T, ell);
    }
    for (int p = 0; p < ell; p++) {
        double acc = 0.0;
        for (size_t r = 0; r < rows; r++) acc += d_theta[r * (size_t)ell + (size_t)p];
        d_c[p] += (float)acc;
    }
    /* dQ = dTheta T (row-wise T^T d_theta_row). */
    const float *dQ = d_theta;
    if (T) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, ell, ell, 1.0f, d_theta, ell, T, ell, 0.0f,
                    work, ell);
        dQ = work;
    }
    /* Q = s . round(latent/s) with round -> identity: dQ/dlatent = 1,
     * dQ/dlog s = s (phi - phi_hat). */
    float s[DECODER_CHUNK], inv_s[DECODER_CHUNK];
    double acc[DECODER_CHUNK];
    for (int c0 = 0; c0 < ell; c0 += DECODER_CHUNK) {
        const int nc = ell - c0 < DECODER_CHUNK ? ell - c0 : DECODER_CHUNK;
        for (int j = 0; j < nc; j++) s[j] = expf(log_s[c0 + j]), inv_s[j] = expf(-log_s[c0 + j]), acc[j] = 0.0;
        for (size_t r = 0; r < rows; r++) {
            const size_t base = r * (size_t)ell + (size_t)c0;
            for (int j = 0; j < nc; j++) {
                const float phi_hat = latent[base + j] * inv_s[j];
                const float g = dQ[base + j];
                if (d_latent) d_latent[base + j] += g;
                acc[j] += (double)g * s[j] * (rp_decoder_round(phi_hat) - phi_hat);
            }
        }
        for (int j = 0; j < nc; j++) d_log_s[c0 + j] += (float)acc[j];
    }
}
