/* epr/transform.h — the matrix T of the conv-affine decoder
 * (theta_row = T (s . phi_row) + c), one per group, ell = H*W.
 *
 * Owns: building identity, the orthonormal real 2-D DFT basis (FFTW3),
 * seeded random-orthogonal matrices and the initial value of learned T.
 * May call: FFTW3 (single precision), libc, libm, common/rng.h.
 *
 * T is stored row-major [ell x ell], T[p*ell + col]; row p is the spatial
 * position p = y*W + x, column col a basis function.
 *
 * DFT column order and normalisation (the codec rebuilds T from this same
 * formula, so it must not change): iterate frequencies (u, v) in row-major
 * order (index u*W + v); the conjugate of (u, v) is ((-u) mod H, (-v) mod W);
 * skip (u, v) if its conjugate has a smaller row-major index; if (u, v) is
 * its own conjugate append ONE column cos(2 pi (u y/H + v x/W)) / sqrt(ell),
 * otherwise TWO columns sqrt(2/ell) cos(...) then sqrt(2/ell) sin(...).
 *
 * FFTW planning is not thread-safe: build transforms from one thread. */
#ifndef EPR_EPR_TRANSFORM_H
#define EPR_EPR_TRANSFORM_H

#include <stdint.h>

#include "common/status.h"

/* epr_transform_kind is the codec's (the bitstream records it):
 * IDENTITY, DFT, RANDOM_ORTHOGONAL, LEARNED (trainable, initialised to the
 * DFT) can be built here; EXPLICIT only names a stored matrix. */
#include "epr/codec.h"

/* "identity", "dft", "random-orthogonal", "learned" <-> kind ("explicit"
 * is named but not parsed).  rp_transform_parse returns 0 or EPR_EARG. */
const char *rp_transform_name(epr_transform_kind kind);
int rp_transform_parse(const char *name, epr_transform_kind *kind, epr_err *err);
/* 1 if T is trained (is part of psi), else 0. */
int rp_transform_is_trainable(epr_transform_kind kind);

void rp_transform_identity(int ell, float *T);
/* Orthonormal real DFT basis over h x w (column order above), via FFTW. */
int rp_transform_dft(int h, int w, float *T, epr_err *err);
/* Orthonormal matrix: modified Gram-Schmidt (two passes, in double) of a
 * Gaussian matrix drawn from (seed, EPR_STREAM_TRANSFORM); entry
 * (i, j) of the Gaussian matrix uses counters 2*(i*ell + j) and +1
 * (Box-Muller), so T depends only on (seed, ell). */
int rp_transform_random_orthogonal(int ell, uint64_t seed, float *T, epr_err *err);
/* Dispatch on kind; h*w = ell.  EXPLICIT gives EPR_EARG. */
int rp_transform_build(epr_transform_kind kind, int h, int w, uint64_t seed, float *T, epr_err *err);

#endif
