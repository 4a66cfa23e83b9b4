#!/usr/bin/python3
"""Plot size vs test error of one or more λ sweeps (sweep.h5 from `epr pareto`).

usage: plot_pareto.py SWEEP.h5[:LABEL] [SWEEP.h5[:LABEL] ...] [-o OUT.png]
                      [--title T] [--no-paper] [--no-annotate] [--data SET]

Every run is a faint dot, each sweep's Pareto front a line through its
Pareto runs (labelled with λ), the plain float32 baseline(s) a square, and
the paper's Table 1 figure for the same network a star (its uncompressed
model a hollow star).  x: model size in KB (1000 bytes, log scale), y: test
error in %.  Several files go on one figure (e.g. SQ vs DFT, EPR vs
baselines): give each a label after a colon.  Needs Debian's python3 with
h5py and matplotlib (/usr/bin/python3); writes a PNG without a display."""
import argparse
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import h5py  # noqa: E402
import numpy as np  # noqa: E402

# DESIGN.md §6, the paper's Table 1: (label, uncompressed bytes, error %, EPR bytes, EPR error %)
PAPER = {
    "lenet300-100": ("LeNet300-100", 1.06e6, 1.6, 8.56e3, 1.9),
    "lenet5-caffe": ("LeNet5-Caffe", 1.72e6, 0.7, 2.84e3, 0.9),
    "vgg16": ("VGG-16", 60e6, 6.6, 101e3, 10.0),
    "resnet20-4": ("ResNet-20-4", 17.2e6, 5.0, 128e3, 8.8),
    "resnet18": ("ResNet-18", 46.7e6, 30.0, 1.97e6, 30.0),
    "resnet50": ("ResNet-50", 102e6, 25.0, 5.49e6, 26.0),
}


def s(x):
    return x.decode() if isinstance(x, bytes) else str(x)


def load(path):
    with h5py.File(path, "r") as f:
        if "runs" not in f:
            raise SystemExit(f"plot_pareto: {path}: no /runs group (not a sweep.h5 from `epr pareto`)")
        r = f["runs"]
        need = ["name", "model", "data_set", "lambda", "size_bytes", "test_error", "is_pareto", "epr_enabled"]
        missing = [k for k in need if k not in r]
        if missing:
            raise SystemExit(f"plot_pareto: {path}: /runs lacks {', '.join(missing)}")
        d = {k: r[k][...] for k in need}
        d["is_baseline"] = r["is_baseline"][...] if "is_baseline" in r else (d["epr_enabled"] == 0)
    for k in ("name", "model", "data_set"):
        d[k] = np.array([s(x) for x in d[k]])
    return d


def fmt_lambda(v):
    m, e = f"{v:.0e}".split("e")
    return f"{m}e{int(e)}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sweeps", nargs="+", metavar="SWEEP.h5[:LABEL]")
    ap.add_argument("-o", "--output", default="pareto.png", help="PNG to write (default pareto.png)")
    ap.add_argument("--title", default=None)
    ap.add_argument("--data", default=None, help="only runs on this data set")
    ap.add_argument("--no-paper", action="store_true", help="do not mark the paper's Table 1 point")
    ap.add_argument("--no-annotate", action="store_true", help="do not write λ next to the Pareto points")
    ap.add_argument("--dpi", type=int, default=130)
    a = ap.parse_args(argv)

    fig, ax = plt.subplots(figsize=(8.5, 5.5))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    models, data_sets = set(), set()
    baseline_drawn = False
    for i, spec in enumerate(a.sweeps):
        path, label = (spec.rsplit(":", 1) + [None])[:2] if ":" in spec and not os.path.exists(spec) else (spec, None)
        if not os.path.exists(path):
            raise SystemExit(f"plot_pareto: {path}: no such file")
        d = load(path)
        label = label or os.path.basename(os.path.dirname(os.path.abspath(path))) or path
        sel = np.ones(len(d["name"]), bool) if a.data is None else d["data_set"] == a.data
        c = colors[i % len(colors)]
        kb = d["size_bytes"] / 1e3
        err = 100 * d["test_error"]
        epr = sel & (d["epr_enabled"] == 1)
        models.update(d["model"][sel])
        data_sets.update(d["data_set"][sel])
        ax.scatter(kb[epr], err[epr], s=22, color=c, alpha=0.3, edgecolors="none")
        front = np.where(epr & (d["is_pareto"] == 1))[0]
        front = front[np.argsort(kb[front])]
        ls, mk = ["-", "--", "-.", ":"][i % 4], ["o", "^", "D", "v"][i % 4]
        ax.plot(kb[front], err[front], linestyle=ls, marker=mk, color=c, lw=1.8, ms=5, label=f"{label}: Pareto front ({len(front)} of {int(epr.sum())} runs)")
        if not a.no_annotate:
            for k, j in enumerate(front):  # alternate sides so neighbours do not collide
                ax.annotate(f"λ={fmt_lambda(d['lambda'][j])}", (kb[j], err[j]), textcoords="offset points",
                            xytext=(6, 4) if k % 2 == 0 else (-8, -13), ha="left" if k % 2 == 0 else "right",
                            fontsize=8, color=c)
        base = np.where(sel & (d["is_baseline"] == 1))[0]
        for j in base:
            ax.scatter([kb[j]], [err[j]], marker="s", s=70, color=c, edgecolors="black", zorder=5,
                       label=f"{label}: float32 baseline ({err[j]:.2f}%)")
            baseline_drawn = True
    if not a.no_paper:
        for m in sorted(models):
            if m in PAPER:
                name, ub, ue, eb, ee = PAPER[m]
                ax.scatter([eb / 1e3], [ee], marker="*", s=220, color="gold", edgecolors="black", zorder=6,
                           label=f"paper: {name} EPR ({eb / 1e3:.2f} KB, {ee}%)")
                ax.scatter([ub / 1e3], [ue], marker="*", s=220, facecolors="none", edgecolors="black", zorder=6,
                           label=f"paper: {name} float32 ({ub / 1e6:.2f} MB, {ue}%)")
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_xlabel("model size (KB = 1000 bytes, log scale; .epr file, or 4 B/parameter for float32)")
    ax.set_ylabel("test error (%)")
    title = a.title or ("size vs test error: " + ", ".join(sorted(models)) + " on " + ", ".join(sorted(data_sets)))
    ax.set_title(title, fontsize=11)
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(fontsize=8, loc="upper right" if not baseline_drawn else "best", framealpha=0.9)
    fig.tight_layout()
    fig.savefig(a.output, dpi=a.dpi)
    print(f"wrote {a.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
