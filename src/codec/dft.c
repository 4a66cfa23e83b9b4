/* codec/dft.c — the orthonormal real 2-D DFT basis over H x W.
 *
 * Must match the basis the epr layer builds with FFTW column for column,
 * because coefficient i of a kernel is coded with density column i.
 * Frequencies (u,v) are visited in row-major order; a pair whose
 * conjugate ((-u) mod H, (-v) mod W) comes earlier is skipped; a
 * self-conjugate frequency gives one cosine column scaled 1/sqrt(ell),
 * the others a cosine then a sine column scaled sqrt(2/ell).  Computed in
 * double with libm cos/sin (an ulp here moves theta by an ulp, never the
 * entropy decoding) and rounded to float.  Calls libm. */
#include <math.h>

#include "common/status.h"
#include "epr/codec.h"

int epr_dft_basis(int h, int w, float *t, epr_err *err) {
    RETURN_ERROR_IF(h < 1 || w < 1 || h > 256 || w > 256, err, EPR_EARG,
                    "DFT size %d x %d out of range (1..256 each)", h, w);
    const int ell = h * w;
    const double two_pi = 6.283185307179586476925286766559;
    int col = 0;
    for (int u = 0; u < h; u++) {
        for (int v = 0; v < w; v++) {
            int cu = (h - u) % h, cv = (w - v) % w;
            int idx = u * w + v, cidx = cu * w + cv;
            if (cidx < idx) continue;
            int self = cidx == idx;
            double scale = self ? 1.0 / sqrt((double)ell) : sqrt(2.0 / (double)ell);
            for (int y = 0; y < h; y++) {
                for (int x = 0; x < w; x++) {
                    double ang = two_pi * ((double)(u * y) / h + (double)(v * x) / w);
                    int p = y * w + x;
                    t[p * ell + col] = (float)(scale * cos(ang));
                    if (!self) t[p * ell + col + 1] = (float)(scale * sin(ang));
                }
            }
            col += self ? 1 : 2;
        }
    }
    RETURN_ERROR_IF(col != ell, err, EPR_ENUM, "DFT basis: %d columns for ell %d", col, ell);
    return EPR_OK;
}
