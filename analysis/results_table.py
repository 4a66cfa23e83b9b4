#!/usr/bin/env python3
"""Markdown tables of EPR results against the plain baseline, read from the
run files (run.h5) of result directories made by `epr sweep`.

usage: /usr/bin/python3 analysis/results_table.py [--target RATIO:POINTS] DIR [DIR ...]

For each DIR (one network and data set): the plain float32 runs (epr
disabled) give the baseline (mean over seeds); every EPR run is one row:
lambda, seed, test error of the network decoded from its .epr file, the
difference to the baseline, the error of the raw (non-EMA, still quantised)
weights, the exact self-information under the learned densities, the real
file size, the ratio to float32, steps and wall time.  --target RATIO:POINTS
adds a line saying which runs reach RATIO x at <= baseline + POINTS."""
import glob
import os
import sys

try:
    import h5py
except ImportError:  # the pyenv python3 on PATH has no h5py
    sys.exit("results_table.py: needs h5py: run it with /usr/bin/python3")


def attr(obj, name, default=None):
    v = obj.attrs.get(name, default)
    if isinstance(v, bytes):
        v = v.decode()
    return v


def load(d):
    runs = []
    for p in sorted(glob.glob(os.path.join(d, "*", "run.h5"))):
        with h5py.File(p, "r") as f:
            if "final" not in f:
                continue
            fin = f["final"]
            runs.append(dict(
                name=os.path.basename(os.path.dirname(p)),
                experiment=attr(f, "experiment_name"), model=attr(f, "model"), data=attr(f, "data_set"),
                epr=int(attr(f, "epr_enabled")), lam=float(attr(f, "lambda")), seed=int(attr(f, "seed")),
                steps=int(attr(f, "steps")), batch=int(attr(f, "batch")), ranks=int(attr(f, "world_size")),
                err=float(attr(fin, "test_error")), err_raw=float(attr(fin, "test_error_raw")),
                size=int(attr(fin, "size_bytes")), f32=int(attr(fin, "float32_bytes")),
                bits=float(attr(fin, "rate_exact_bits", float("nan"))), wall=float(attr(fin, "wall_seconds")),
                ncomp=int(attr(fin, "n_compressed", 0))))
    return runs


def table(d, target):
    runs = load(d)
    base = [r for r in runs if not r["epr"]]
    epr = sorted((r for r in runs if r["epr"]), key=lambda r: (r["lam"], r["seed"]))
    if not runs:
        return f"(no finished runs in {d})\n"
    r0 = runs[0]
    out = [f"### {r0['model']} on {r0['data']} (`{os.path.basename(os.path.normpath(d))}`)\n"]
    if base:
        b = sum(r["err"] for r in base) / len(base)
        out.append(f"Plain float32 baseline ({r0['f32']:,} bytes), EMA weights, {base[0]['steps']} steps, batch "
                   f"{base[0]['batch']}: " + ", ".join(f"{100 * r['err']:.2f}% (seed {r['seed']})" for r in base)
                   + f"; mean **{100 * b:.2f}%**.\n")
    else:
        b = None
        out.append("No plain baseline run in this directory.\n")
    out.append("| λ | λ·n | seed | steps | test error (decoded .epr) | Δ vs baseline | raw weights | "
               "self-information | file size | × float32 | wall |")
    out.append("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in epr:
        delta = f"{100 * (r['err'] - b):+.2f}" if b is not None else "–"
        out.append(f"| {r['lam']:g} | {r['lam'] * r['ncomp']:.3g} | {r['seed']} | {r['steps']} | {100 * r['err']:.2f}% | "
                   f"{delta} | {100 * r['err_raw']:.2f}% | {r['bits'] / 8192:.2f} KB | {r['size']:,} B | "
                   f"{r['f32'] / r['size']:.0f}× | {r['wall']:.0f} s |")
    if target and b is not None:
        ratio, pts = target
        ok = [r for r in epr if r["f32"] / r["size"] >= ratio and 100 * (r["err"] - b) <= pts]
        if ok:
            out.append(f"\nTarget ≥ {ratio:g}× at ≤ +{pts:g} points: **met** by " + ", ".join(
                f"λ {r['lam']:g} seed {r['seed']} ({r['f32'] / r['size']:.0f}×, {100 * (r['err'] - b):+.2f})" for r in ok)
                + ".")
        else:
            out.append(f"\nTarget ≥ {ratio:g}× at ≤ +{pts:g} points: **not met** by any run here.")
    return "\n".join(out) + "\n"


def main(argv):
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    target = None
    if argv[0] == "--target":
        r, p = argv[1].split(":")
        target = (float(r), float(p))
        argv = argv[2:]
    for d in argv:
        print(table(d, target))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
