#!/usr/bin/python3
"""Plot training curves of the runs of a sweep: exact rate (KB) and test
error (%) against the step, one line per run, coloured by λ.

usage: plot_curves.py SWEEP.h5 [-o OUT.png] [--runs NAME,...] [--title T]
       plot_curves.py RUN.h5 [RUN.h5 ...] [-o OUT.png]

With a sweep.h5 (from `epr pareto`) the runs are read through its
/links/<name> external links (the run files must still be beside it; rows
without a link, the baselines.h5 points, have no curves of their own); run
files can also be given directly.  Reads /curves/{step, rate_exact_bits,
rate_noisy_bits, test_error, train_error, validation_error (dashed, runs with
[data] validation)}; NaN rows (not measured at that
step) are skipped.  Needs Debian's python3 with h5py and matplotlib."""
import argparse
import math
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import h5py  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from epr_results import s, save_figure  # noqa: E402


def read_run(g, name):
    """g: an h5py group holding a run file's root."""
    if "curves" not in g or "step" not in g["curves"]:
        raise ValueError(f"{name}: no /curves/step")
    c = g["curves"]
    get = lambda k: c[k][...].astype(float) if k in c else np.full(c["step"].shape, np.nan)  # noqa: E731
    lam = float(g.attrs.get("lambda", math.nan))
    epr = int(g.attrs.get("epr_enabled", 1))
    return dict(name=name, lam=lam, epr=epr, step=get("step"), rate=get("rate_exact_bits"),
                noisy=get("rate_noisy_bits"), test=get("test_error"), train=get("train_error"),
                valid=get("validation_error"))


def load(paths, only):
    runs = []
    for p in paths:
        if not os.path.exists(p):
            raise SystemExit(f"plot_curves: {p}: no such file")
        f = h5py.File(p, "r")
        if "links" in f and "runs" in f:
            for name in [s(x) for x in f["runs/name"][...]]:
                if only and name not in only:
                    continue
                if name not in f["links"]:  # a baselines.h5 point: its run is plotted already
                    continue
                try:
                    runs.append(read_run(f["links"][name], name))
                except (KeyError, OSError, ValueError) as e:
                    print(f"plot_curves: {p}: run {name} skipped ({e})", file=sys.stderr)
        else:
            name = os.path.basename(os.path.dirname(os.path.abspath(p))) or p
            try:
                runs.append(read_run(f, name))
            except ValueError as e:
                raise SystemExit(f"plot_curves: {p}: {e}")
    if not runs:
        raise SystemExit("plot_curves: no runs to plot")
    return runs


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="+", metavar="SWEEP.h5|RUN.h5")
    ap.add_argument("-o", "--output", default="curves.png", help="PNG to write (default curves.png)")
    ap.add_argument("--runs", default="", help="comma-separated run names to plot (default: all)")
    ap.add_argument("--title", default=None)
    ap.add_argument("--dpi", type=int, default=120)
    a = ap.parse_args(argv)
    runs = load(a.files, set(x for x in a.runs.split(",") if x))
    epr_runs = sorted([r for r in runs if r["epr"]], key=lambda r: r["lam"])
    plain = [r for r in runs if not r["epr"]]
    cmap = plt.get_cmap("viridis")
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.8))
    for i, r in enumerate(epr_runs):
        c = cmap(i / max(1, len(epr_runs) - 1) * 0.9)
        lab = f"λ={r['lam']:.0e}"
        if sum(q["lam"] == r["lam"] for q in epr_runs) > 1:  # seeds or variants of one λ: say which run
            lab = f"{r['name']} ({lab})"
        m = np.isfinite(r["rate"])
        if m.any():
            ax1.plot(r["step"][m], r["rate"][m] / 8e3, "-o", ms=3, color=c, label=lab + " exact")
        m = np.isfinite(r["noisy"])
        if m.any():
            ax1.plot(r["step"][m], r["noisy"][m] / 8e3, ":", color=c, alpha=0.6)
        m = np.isfinite(r["test"])
        if m.any():
            ax2.plot(r["step"][m], 100 * r["test"][m], "-o", ms=3, color=c, label=lab)
        m = np.isfinite(r["valid"])  # runs with [data] validation: the held-out images, dashed
        if m.any():
            ax2.plot(r["step"][m], 100 * r["valid"][m], "--", color=c, alpha=0.7, label=lab + " validation")
    for r in plain:
        m = np.isfinite(r["test"])
        if m.any():
            ax2.plot(r["step"][m], 100 * r["test"][m], "--s", ms=3, color="black", label=f"{r['name']} (float32)")
    ax1.set_yscale("log")
    ax1.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax1.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax1.set_xlabel("step")
    ax1.set_ylabel("rate (KB = 8000 bits, log scale)")
    ax1.set_title("rate: exact (solid) and noisy training estimate (dotted)", fontsize=10)
    ax2.set_xlabel("step")
    ax2.set_ylabel("error (%): test, validation dashed")
    ax2.set_title("test error (quantised EMA model)", fontsize=10)
    for ax in (ax1, ax2):
        ax.grid(True, which="both", alpha=0.25)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8, loc="best")
    if a.title:
        fig.suptitle(a.title)
    save_figure(fig, a.output, a.dpi)
    return 0


if __name__ == "__main__":
    sys.exit(main())
