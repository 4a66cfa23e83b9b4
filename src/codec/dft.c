/* codec/dft.c — the orthonormal real 2-D DFT basis over H x W.
 *
 * Must match the basis the epr layer builds with FFTW column for column,
 * because coefficient i of a kernel is coded with density column i.
 * Frequencies (u,v) are visited in row-major order; a pair whose
 * conjugate ((-u) mod H, (-v) mod W) comes earlier is skipped; a
 * self-conjugate frequency gives one cosine column scaled 1/sqrt(ell),
 * the others a cosine then a sine column scaled sqrt(2/ell).
 *
 * Every decoder must build the same float bits (docs/format.md §4), so no
 * libm cos/sin (whose last bit differs between libm versions): the angle
 * 2 pi (u y / H + v x / W) is reduced exactly, in integers, to
 * 2 pi m / N with N = H W, then to an octant angle in [0, pi/4] whose
 * cosine and sine come from fixed Taylor polynomials in double (IEEE-754,
 * round to nearest, no FMA: -ffp-contract=off), and the value is rounded
 * to float once.  Only sqrt of ell and of 2/ell is taken, and IEEE-754
 * requires sqrt correctly rounded, so it is the same on every machine.
 * Calls nothing but sqrt. */
#include <math.h>
#include <stdint.h>

#include "common/status.h"
#include "epr/codec.h"

/* pi/2 rounded to double; the reduction below keeps the angle's integer
 * part exact, so this one rounding (and the polynomial's) is all. */
static const double HALF_PI = 1.57079632679489661923;

/* cos and sin of x for 0 <= x <= pi/4, by Taylor series to x^22 / x^23
 * (truncation below 2e-22): Horner form with the constants 1/(k(k+1)). */
static void cos_sin_octant(double x, double *c, double *s) {
    const double x2 = x * x;
    double ac = 1.0, as = 1.0;
    for (int k = 11; k >= 1; k--) {
        ac = 1.0 - x2 * ac / ((double)(2 * k - 1) * (double)(2 * k));
        as = 1.0 - x2 * as / ((double)(2 * k) * (double)(2 * k + 1));
    }
    *c = ac;
    *s = x * as;
}

/* cos and sin of 2 pi m / n, 0 <= m < n <= 65536: quadrant q and the
 * remainder r from 4m = q n + r; the octant angle (pi/2) r' / n with
 * r' = min(r, n - r) <= n/2; symmetries map it back exactly. */
static void cos_sin_turn(uint32_t m, uint32_t n, double *c, double *s) {
    const uint32_t q = 4 * m / n, r = 4 * m % n;
    const int swap = 2 * r > n;
    const uint32_t rr = swap ? n - r : r;
    double co, si;
    cos_sin_octant(HALF_PI * ((double)rr / (double)n), &co, &si);
    if (swap) { /* cos(pi/2 - a) = sin a, sin(pi/2 - a) = cos a */
        double t = co;
        co = si;
        si = t;
    }
    switch (q) { /* rotate by q quarter turns */
    case 0: *c = co, *s = si; break;
    case 1: *c = -si, *s = co; break;
    case 2: *c = -co, *s = -si; break;
    default: *c = si, *s = -co; break;
    }
}

/* scale * v rounded to float; a zero is +0. */
static float basis_value(double scale, double v) { return (float)(scale * v) + 0.0f; }

int epr_dft_basis(int h, int w, float *t, epr_err *err) {
    RETURN_ERROR_IF(h < 1 || w < 1 || h > 256 || w > 256, err, EPR_EARG, "DFT size %d x %d out of range (1..256 each)",
                    h, w);
    const uint32_t H = (uint32_t)h, W = (uint32_t)w, ell = H * W;
    const double s_self = 1.0 / sqrt((double)ell), s_pair = sqrt(2.0 / (double)ell);
    uint32_t col = 0;
    for (uint32_t u = 0; u < H; u++) {
        for (uint32_t v = 0; v < W; v++) {
            const uint32_t cu = (H - u) % H, cv = (W - v) % W;
            const uint32_t idx = u * W + v, cidx = cu * W + cv;
            if (cidx < idx) continue;
            const int self = cidx == idx;
            for (uint32_t y = 0; y < H; y++) {
                for (uint32_t x = 0; x < W; x++) {
                    /* u y / H + v x / W = (u y W + v x H) / ell, modulo 1 */
                    const uint32_t m = (u * y % H * W + v * x % W * H) % ell;
                    double c, s;
                    cos_sin_turn(m, ell, &c, &s);
                    float *row = t + (size_t)(y * W + x) * ell;
                    row[col] = basis_value(self ? s_self : s_pair, c);
                    if (!self) row[col + 1] = basis_value(s_pair, s);
                }
            }
            col += self ? 1u : 2u;
        }
    }
    RETURN_ERROR_IF(col != ell, err, EPR_ENUM, "DFT basis: %u columns for ell %u", col, ell);
    return EPR_OK;
}
