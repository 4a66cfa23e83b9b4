#!/usr/bin/python3
"""tests/harness/check_rate.py RUN.h5 -- recomputes the exact rate of a
finished EPR run from its checkpoint with numpy alone, following
docs/runfile.md ("Recomputing the rate"), and compares it with
/final.rate_exact_bits and the last exact-rate point of /curves.

It also checks the layout the document states: /model/latent/<g>,
/model/psi/<g> and /density/<g> are the slices of /model/train_block that
the offsets say, /model/ema has network_size floats, the densities are
[ell x 43].  Prints one line per group (its bits) and "OK ..." with the
largest relative difference; exits 1 with one line per failure otherwise.

The tolerance is relative 1e-9: phi must come out exactly as epr computed
it (a flipped rounding would change the total by whole bits), the
remaining difference is libm against numpy in the last bits of exp, log1p,
tanh and log2 (double)."""
import sys

import h5py
import numpy as np

BOUND = np.float64(np.float32(1e-9))  # EPR_DENSITY_LIKELIHOOD_BOUND, a float
PHI_MAX = 1 << 30                      # EPR_PHI_MAX: phi saturate there
NP = 43                                # floats per density column
WIDTHS = (1, 3, 3, 3, 1)
# per layer k: offsets of H_k [out x in], b_k [out], a_k [out] (common/density_layout.h)
H_OFF, B_OFF, A_OFF = (0, 9, 24, 39), (3, 18, 33, 42), (6, 21, 36, None)

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)


def phi_of(latent, inv_s):
    """round(latent * inv_s) in float32, half away from zero, as epr's
    decoder rounds (src/epr/decoder.c), saturated at +-2^30."""
    x = (latent * inv_s).astype(np.float32)
    a = np.abs(x)
    t = np.trunc(a)
    t = t + (a - t >= np.float32(0.5)).astype(np.float32)
    phi = np.copysign(t, x).astype(np.float64)
    phi[np.isnan(x)] = 0
    return np.clip(phi, -PHI_MAX, PHI_MAX)


def softplus(x):
    return np.where(x > 30.0, x, np.log1p(np.exp(np.minimum(x, 30.0))))


def logits(params, y):
    """The deep-factorized density's logits at y (float64), one column:
    x <- softplus(H_k) x + b_k, then x <- x + tanh(a_k) tanh(x) but on the last layer."""
    p = params.astype(np.float64)
    x = [y]
    for k in range(4):
        n_in, n_out = WIDTHS[k], WIDTHS[k + 1]
        out = []
        for i in range(n_out):
            z = np.full_like(y, p[B_OFF[k] + i])
            for j in range(n_in):
                z = z + softplus(p[H_OFF[k] + i * n_in + j]) * x[j]
            if k < 3:
                z = z + np.tanh(p[A_OFF[k] + i]) * np.tanh(z)
            out.append(z)
        x = out
    return x[0]


def sigmoid(z):
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def column_bits(params, phi):
    """Self-information (bits) of integers phi under the column's density:
    P(k) = |sigmoid(s u) - sigmoid(s l)|, l = logits(k - 1/2), u = logits(k + 1/2),
    s = -sign(l + u), bounded below by 1e-9; summed in row order as epr does."""
    support = np.unique(phi)
    l, u = logits(params, support - 0.5), logits(params, support + 0.5)
    s = np.where(l + u > 0.0, -1.0, 1.0)
    p = np.maximum(np.abs(sigmoid(s * u) - sigmoid(s * l)), BOUND)
    bits = -np.log2(p)
    per_value = bits[np.searchsorted(support, phi)]
    return float(np.cumsum(per_value)[-1]) if len(per_value) else 0.0  # sequential, not pairwise


def main(path):
    with h5py.File(path, "r") as f:
        a = f.attrs
        check(int(a["epr_enabled"]) == 1, "not an EPR run (epr_enabled = 0): no rate")
        check("final" in f, "no /final: the run has not finished")
        if failures:
            return
        names = str(a["group_names"]).split(",")
        decoders = str(a["group_decoders"]).split(",")
        block = f["/model/train_block"]
        tb = block[()]
        net_n, dens_off, dens_n = (int(block.attrs[k]) for k in ("network_size", "density_offset", "density_size"))
        check(dens_off == net_n and net_n + dens_n == tb.shape[0], "train_block: %d floats, network %d, density at "
              "%d + %d" % (tb.shape[0], net_n, dens_off, dens_n))
        ema = f["/model/ema"][()]
        check(ema.dtype == np.float32 and ema.shape == (net_n,), "/model/ema: %r, want (%d,) float32" %
              (ema.shape, net_n))
        lat_off = 0
        psi_off = sum(f["/model/latent/" + g].shape[0] for g in names)
        d_off = dens_off
        total = 0.0
        for g, dec in zip(names, decoders):
            latent = f["/model/latent/" + g][()]
            psi = f["/model/psi/" + g][()]
            dens = f["/density/" + g][()]
            ell = dens.shape[0]
            n = latent.shape[0]
            check(dens.shape == (ell, NP) and dens.dtype == np.float32, "/density/%s: %r" % (g, dens.shape))
            check(np.array_equal(latent, tb[lat_off:lat_off + n]), "/model/latent/%s is not train_block[%d:%d]" %
                  (g, lat_off, lat_off + n))
            check(np.array_equal(psi, tb[psi_off:psi_off + psi.shape[0]]), "/model/psi/%s is not train_block[%d:%d]"
                  % (g, psi_off, psi_off + psi.shape[0]))
            check(np.array_equal(dens.reshape(-1), tb[d_off:d_off + ell * NP]), "/density/%s is not train_block[%d:%d]"
                  % (g, d_off, d_off + ell * NP))
            check(n % ell == 0, "group %s: %d latents are not rows of ell = %d" % (g, n, ell))
            # the rate is that of the EMA weights (quantised); the densities are not averaged
            lat_ema = ema[lat_off:lat_off + n].reshape(n // ell, ell)
            n_log_s = 1 if dec == "affine" else ell
            log_s = ema[psi_off:psi_off + n_log_s]
            inv_s = np.exp(-log_s.astype(np.float64)).astype(np.float32)  # expf(-log s), float32
            bits = 0.0
            for col in range(ell):
                phi = phi_of(lat_ema[:, col], inv_s[0 if n_log_s == 1 else col])
                bits += column_bits(dens[col], phi)
            print("group %-12s %s ell=%d %9d params %14.3f bits" % (g, dec, ell, n, bits))
            total += bits
            lat_off += n
            psi_off += psi.shape[0]
            d_off += ell * NP
        final = float(f["/final"].attrs["rate_exact_bits"])
        curve = f["/curves/rate_exact_bits"][()]
        last = curve[~np.isnan(curve)][-1]
        worst = 0.0
        for what, ref in (("/final rate_exact_bits", final), ("last /curves/rate_exact_bits", last)):
            rel = abs(total - ref) / max(abs(ref), 1.0)
            worst = max(worst, rel)
            check(rel <= 1e-9, "%s = %.6f, recomputed %.6f (relative difference %.3g)" % (what, ref, total, rel))
    if not failures:
        print("OK: recomputed %.6f bits, /final %.6f bits, largest relative difference %.3g" % (total, final, worst))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: check_rate.py RUN.h5", file=sys.stderr)
        sys.exit(2)
    try:
        main(sys.argv[1])
    except Exception as e:  # a missing object or attribute is a failure, not a traceback
        failures.append("%s: %s" % (type(e).__name__, e))
    for m in failures:
        print("check_rate: %s: %s" % (sys.argv[1], m))
    sys.exit(1 if failures else 0)
