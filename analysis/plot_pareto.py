#!/usr/bin/python3
"""Plot file size against test error, one series per method, from one or
more sweep tables (sweep.h5 from `epr pareto`).

usage: plot_pareto.py SWEEP.h5[:LABEL] [SWEEP.h5[:LABEL] ...] [-o OUT.png]
                      [--title T] [--data SET] [--paper SIZE_KB:ERR%[:LABEL]]...
                      [--no-paper] [--no-annotate] [--ymax ERR%] [--dpi N]

x: file size in bytes (log scale): the .epr file of an EPR run, the file of a
baseline method, 4 bytes per parameter for the plain float32 runs.  y: test
error in % of the network decoded from that file.

Series, one per method (colour and marker fixed per method, so plots of
different tables compare): EPR methods (epr-sq, epr-dft, ...) as a line
through their Pareto front (labelled with λ) over all their runs drawn faint;
baseline methods of baselines.h5 (float32, gzip, xz, uniformN and kmeansN with
the bit count written beside each point, prune-kmeans) as markers.  The
plain float32 runs: squares, and their mean error as a horizontal line with
bands up to +0.3 and +1.0 points.  The paper's Table 1 figure as a star:
--paper SIZE_KB:ERR% (KB = 1000 bytes, repeatable) gives it; by default
(--paper auto) the EPR and float32 points of Table 1 are drawn for the
networks in the table when the data set is an MNIST one (the paper has no
Fashion-MNIST figures); --no-paper draws none.  Points above the y range
(--ymax, default the plain baseline's error + max(3, half of it) points)
are counted in a note.
Several files go on one figure (give each a label after a colon); sweep.h5
files of `epr pareto` before the method column (schema 1) plot as "epr" and
"plain".  Needs Debian's python3 with h5py and matplotlib (/usr/bin/python3);
writes a PNG without a display."""
import argparse
import os
import re
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import h5py  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from epr_results import family, family_key, s, save_figure  # noqa: E402

# DESIGN.md §6, the paper's Table 1: (label, uncompressed bytes, error %, EPR bytes, EPR error %)
PAPER = {
    "lenet300-100": ("LeNet300-100", 1.06e6, 1.6, 8.56e3, 1.9),
    "lenet5-caffe": ("LeNet5-Caffe", 1.72e6, 0.7, 2.84e3, 0.9),
    "vgg16": ("VGG-16", 60e6, 6.6, 101e3, 10.0),
    "resnet20-4": ("ResNet-20-4", 17.2e6, 5.0, 128e3, 8.8),
    "resnet18": ("ResNet-18", 46.7e6, 30.0, 1.97e6, 30.0),
    "resnet50": ("ResNet-50", 102e6, 25.0, 5.49e6, 26.0),
}
PAPER_DATA = {"lenet300-100": "mnist", "lenet5-caffe": "mnist", "vgg16": "cifar10", "resnet20-4": "cifar10",
              "resnet18": "imagenet", "resnet50": "imagenet"}

# method family -> (colour, marker); EPR first, then the baselines
STYLE = {
    "epr-sq": ("#1f77b4", "o"), "epr-dft": ("#d62728", "^"), "epr-ro": ("#9467bd", "v"),
    "epr-learned": ("#8c564b", "<"), "epr": ("#1f77b4", "o"),
    "float32": ("#7f7f7f", "s"), "gzip": ("#bcbd22", "v"), "xz": ("#17becf", "^"),
    "uniformN": ("#ff7f0e", "D"), "kmeansN": ("#2ca02c", "P"), "prune-kmeans": ("#e377c2", "X"),
}
EXTRA = [("#393b79", "h"), ("#637939", "p"), ("#843c39", "*"), ("#7b4173", "d")]


def load(path):
    with h5py.File(path, "r") as f:
        if "runs" not in f:
            raise SystemExit(f"plot_pareto: {path}: no /runs group (not a sweep.h5 from `epr pareto`)")
        r = f["runs"]
        need = ["name", "model", "data_set", "lambda", "size_bytes", "test_error", "epr_enabled"]
        missing = [k for k in need if k not in r]
        if missing:
            raise SystemExit(f"plot_pareto: {path}: /runs lacks {', '.join(missing)}")
        d = {k: r[k][...] for k in need}
        d["is_baseline"] = r["is_baseline"][...] if "is_baseline" in r else (d["epr_enabled"] == 0)
        if "method" in r:
            d["method"] = r["method"][...]
        else:  # schema 1: EPR or plain
            d["method"] = np.array(["epr" if e else "plain" for e in d["epr_enabled"]])
    for k in ("name", "model", "data_set", "method"):
        d[k] = np.array([s(x) for x in d[k]])
    d["family"] = np.array([family(m) for m in d["method"]])
    return d


def front(size, err):
    """Indices of the points no other point beats in both (size, then error)."""
    idx = [i for i in range(len(size)) if np.isfinite(err[i])]
    out = []
    for i in idx:
        if not any((size[j] <= size[i] and err[j] <= err[i]) and (size[j] < size[i] or err[j] < err[i]) for j in idx):
            out.append(i)
    return sorted(out, key=lambda i: (size[i], err[i]))


def fmt_lambda(v):
    m, e = f"{v:.0e}".split("e")
    return f"{m}e{int(e)}"


def fmt_bytes(v, _=None):
    if v >= 1e6:
        return f"{v / 1e6:g} MB"
    if v >= 1e3:
        return f"{v / 1e3:g} KB"
    return f"{v:g} B"


def parse_paper(spec):
    p = spec.split(":", 2)
    try:
        kb, err = float(p[0]), float(p[1].rstrip("%"))
    except (ValueError, IndexError):
        raise SystemExit(f"plot_pareto: --paper {spec}: expected SIZE_KB:ERR% (e.g. 8.56:1.9)")
    return kb * 1e3, err, p[2] if len(p) > 2 else None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sweeps", nargs="+", metavar="SWEEP.h5[:LABEL]")
    ap.add_argument("-o", "--output", default="pareto.png", help="PNG to write (default pareto.png)")
    ap.add_argument("--title", default=None)
    ap.add_argument("--data", default=None, help="only points on this data set")
    ap.add_argument("--paper", action="append", default=None, metavar="SIZE_KB:ERR%[:LABEL]",
                    help="the paper's point (KB = 1000 bytes), repeatable; 'auto' (default): Table 1 by network")
    ap.add_argument("--no-paper", action="store_true", help="no paper point")
    ap.add_argument("--no-annotate", action="store_true", help="do not write λ / bit counts beside the points")
    ap.add_argument("--ymax", type=float, default=None, help="top of the error axis in %% (default: from the baseline)")
    ap.add_argument("--dpi", type=int, default=130)
    a = ap.parse_args(argv)

    fig, ax = plt.subplots(figsize=(9.5, 6.0))
    models, data_sets = set(), set()
    extra_styles, drawn_err, ref_errs = {}, [], []
    several = len(a.sweeps) > 1
    for i, spec in enumerate(a.sweeps):
        path, label = (spec.rsplit(":", 1) + [None])[:2] if ":" in spec and not os.path.exists(spec) else (spec, None)
        if not os.path.exists(path):
            raise SystemExit(f"plot_pareto: {path}: no such file")
        d = load(path)
        pre = f"{label}: " if label or several else ""
        label = label or os.path.basename(os.path.dirname(os.path.abspath(path))) or path
        pre = f"{label}: " if pre else ""
        sel = np.ones(len(d["name"]), bool) if a.data is None else d["data_set"] == a.data
        size = d["size_bytes"].astype(float)
        err = 100 * d["test_error"]
        models.update(d["model"][sel])
        data_sets.update(d["data_set"][sel])
        ls = ["-", "--", "-.", ":"][i % 4]
        fams = sorted({f for f, ok, b in zip(d["family"], sel, d["is_baseline"])
                       if ok and not b and f != "plain-pruned"}, key=family_key)
        for fam in fams:
            if fam not in STYLE and fam not in extra_styles:
                extra_styles[fam] = EXTRA[len(extra_styles) % len(EXTRA)]
            c, mk = STYLE.get(fam) or extra_styles[fam]
            pts = np.where(sel & (d["family"] == fam) & (d["is_baseline"] == 0))[0]
            if fam.startswith("epr"):
                ax.scatter(size[pts], err[pts], s=20, color=c, alpha=0.3, edgecolors="none", zorder=3)
                fr = pts[front(size[pts], err[pts])]
                ax.plot(size[fr], err[fr], linestyle=ls, marker=mk, color=c, lw=1.8, ms=6, zorder=4,
                        label=f"{pre}{fam}: Pareto front ({len(fr)} of {len(pts)} runs)")
                drawn_err.extend(err[pts])
                if not a.no_annotate:
                    for k, j in enumerate(fr):  # alternate sides so neighbours do not collide
                        ax.annotate(f"λ={fmt_lambda(d['lambda'][j])}", (size[j], err[j]), textcoords="offset points",
                                    xytext=(6, 4) if k % 2 == 0 else (-8, -13), ha="left" if k % 2 == 0 else "right",
                                    fontsize=7, color=c)
            else:
                ax.scatter(size[pts], err[pts], s=46, marker=mk, color=c, edgecolors="black", linewidths=0.5,
                           zorder=5, label=f"{pre}{fam} ({len(pts)} file{'s' if len(pts) != 1 else ''})")
                drawn_err.extend(err[pts])
                if not a.no_annotate and fam in ("uniformN", "kmeansN"):
                    for j in pts:
                        ax.annotate(re.sub(r"\D", "", d["method"][j]), (size[j], err[j]), textcoords="offset points",
                                    xytext=(5, -3), fontsize=7, color=c)
        base = np.where(sel & (d["is_baseline"] == 1))[0]
        if len(base):
            b = float(np.mean(err[base]))
            ref_errs.append(b)
            ax.scatter(size[base], err[base], marker="s", s=60, facecolors="white", edgecolors="black", zorder=5,
                       label=f"{pre}plain float32 runs ({', '.join(f'{e:.2f}%' for e in err[base])})")
            ax.axhline(b, color="black", lw=1.0, ls=ls, zorder=2,
                       label=f"{pre}plain float32 baseline, mean {b:.2f}%")
            ax.axhspan(b, b + 0.3, color="#2ca02c", alpha=0.10, lw=0, zorder=1)
            ax.axhspan(b + 0.3, b + 1.0, color="#ff7f0e", alpha=0.08, lw=0, zorder=1)
            for t, col in ((0.3, "#2ca02c"), (1.0, "#ff7f0e")):
                ax.axhline(b + t, color=col, lw=0.9, ls=":", zorder=2)
            if i == 0:
                ax.annotate("+0.3 points", (1.0, b + 0.3), xycoords=("axes fraction", "data"), xytext=(-4, 2),
                            textcoords="offset points", ha="right", fontsize=7, color="#2ca02c")
                ax.annotate("+1.0 points", (1.0, b + 1.0), xycoords=("axes fraction", "data"), xytext=(-4, 2),
                            textcoords="offset points", ha="right", fontsize=7, color="#ff7f0e")
            drawn_err.extend(err[base])

    papers = []
    if not a.no_paper:
        specs = a.paper or ["auto"]
        for spec in specs:
            if spec != "auto":
                b, e, lab = parse_paper(spec)
                papers.append((b, e, f"{lab or 'paper, Table 1'} ({b / 1e3:g} KB, {e:g}%)", "gold"))
                continue
            for m in sorted(models):
                if m in PAPER and any(PAPER_DATA[m] in ds and "fashion" not in ds for ds in data_sets):
                    name, ub, ue, eb, ee = PAPER[m]
                    papers.append((eb, ee, f"paper: {name} EPR ({eb / 1e3:.2f} KB, {ee}%)", "gold"))
                    papers.append((ub, ue, f"paper: {name} float32 ({ub / 1e6:.2f} MB, {ue}%)", "none"))
    for b, e, lab, fc in papers:
        ax.scatter([b], [e], marker="*", s=240, facecolors=fc, edgecolors="black", zorder=6, label=lab)
        drawn_err.append(e)

    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(fmt_bytes))
    ax.set_xlabel("file size in bytes (log scale; KB = 1000 B): .epr file, baseline file, or 4 B/parameter (float32)")
    ax.set_ylabel("test error (%)")
    # the error axis: from the best point to a few points above the baseline,
    # so that a 50%-error 2-bit quantisation does not flatten the rest
    finite = [e for e in drawn_err if np.isfinite(e)]
    if finite:
        lo = max(0.0, min(finite) - 0.3)
        if a.ymax is not None:
            hi = a.ymax
        elif ref_errs:
            hi = min(max(finite) + 0.3, max(ref_errs) + max(3.0, 0.5 * max(ref_errs)))
        else:
            hi = max(finite) + 0.3
        ax.set_ylim(lo, hi)
        above = sum(e > hi for e in finite)
        if above:
            ax.text(0.01, 0.99, f"{above} point{'s' if above != 1 else ''} above {hi:.1f}% not shown",
                    transform=ax.transAxes, va="top", fontsize=8, color="dimgray")
    title = a.title or ("size vs test error: " + ", ".join(sorted(models)) + " on " + ", ".join(sorted(data_sets)))
    ax.set_title(title, fontsize=11)
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(fontsize=7.5, loc="upper right", framealpha=0.9)
    save_figure(fig, a.output, a.dpi)
    return 0


if __name__ == "__main__":
    sys.exit(main())
