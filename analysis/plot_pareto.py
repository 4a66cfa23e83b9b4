#!/usr/bin/python3
"""Plot file size against test error from one or more sweep tables
(sweep.h5 from `epr pareto`): one panel per data set, one series per
(network, data set, method).

usage: plot_pareto.py SWEEP.h5[:LABEL] [SWEEP.h5[:LABEL] ...] [-o OUT.png]
                      [--title T] [--data SET] [--paper SIZE_KB:ERR%[:LABEL]]...
                      [--no-paper] [--no-annotate] [--ymax ERR%] [--dpi N]

x: file size in bytes (log scale; KB = 1000 B): the .epr file of an EPR run,
the file of a baseline method, 4 bytes per parameter for the plain float32
runs.  y: test error in % of the network decoded from that file.

Panels: one per data set (errors of different data sets never share an
axis).  Series: (network, method family) within a panel -- the network is
the built-in model, or a custom network's experiment name; each series has
its own colour (the marker says the method).  Points are the points over
seeds of sweep.h5 /points (runs that differ only in seed): the mean, with
error bars of one standard deviation of size and error where a point has
two or more seeds, the number of seeds beside it; every single run drawn
faintly behind.  EPR series: a line through their front (through the
means), λ beside each front point (labels moved apart where they would
overlap).  Baseline methods of baselines.h5 (uniformN, kmeansN with the bit
count beside each point, float32, gzip, xz, prune-kmeans): markers.  The
plain float32 runs: squares, their mean as a horizontal line with bands up
to +0.3 and +1.0 points (per network).  The paper's Table 1 (read from
data/paper_table1.tsv, the file `epr pareto` embeds): the EPR and float32
points of the matching network and data set only, marked "full MNIST" on
MNIST-10k, none on Fashion-MNIST; --paper SIZE_KB:ERR% (repeatable) adds a
point to every panel, --no-paper draws none.  Points above the y range
(--ymax, default the plain baseline's error + max(3, half of it) points)
are counted in a note.  sweep.h5 files without /points (before issue 14)
plot each run as its own point; schema-1 files (no method column) as
methods "epr" and "plain".  Prints one line per series drawn.  Needs
Debian's python3 with h5py and matplotlib (/usr/bin/python3)."""
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
from epr_results import family, family_key, paper_lookup, s, save_figure  # noqa: E402

# method family -> marker (the colour belongs to the series)
MARKER = {"epr-sq": "o", "epr-dft": "^", "epr-ro": "v", "epr-learned": "<", "epr": "o", "float32": "s", "gzip": "v",
          "xz": "^", "uniformN": "D", "uniformNt": "d", "kmeansN": "P", "kmeansNt": "p", "prune-kmeans": "X"}
PALETTE = list(plt.get_cmap("tab10").colors) + list(plt.get_cmap("Dark2").colors)


def load(path):
    """(runs, points): dicts of numpy columns.  points from /points, or one per run for older files."""
    with h5py.File(path, "r") as f:
        if "runs" not in f:
            raise SystemExit(f"plot_pareto: {path}: no /runs group (not a sweep.h5 from `epr pareto`)")
        r = f["runs"]
        need = ["name", "model", "data_set", "lambda", "size_bytes", "test_error", "epr_enabled", "seed"]
        missing = [k for k in need if k not in r]
        if missing:
            raise SystemExit(f"plot_pareto: {path}: /runs lacks {', '.join(missing)}")
        d = {k: r[k][...] for k in need}
        d["experiment"] = r["experiment"][...] if "experiment" in r else d["model"]
        d["is_baseline"] = r["is_baseline"][...] if "is_baseline" in r else (d["epr_enabled"] == 0)
        d["method"] = r["method"][...] if "method" in r else np.array(["epr" if e else "plain" for e in d["epr_enabled"]])
        p = {k: f["points"][k][...] for k in f["points"]} if "points" in f else None
    for k in ("name", "model", "data_set", "method", "experiment"):
        d[k] = np.array([s(x) for x in d[k]])
    d["network"] = np.array([e if m == "custom" else m for m, e in zip(d["model"], d["experiment"])])
    d["family"] = np.array([family(m) for m in d["method"]])
    if p is None:  # each run its own point
        p = {"network": d["network"], "model": d["model"], "data_set": d["data_set"], "method": d["method"],
             "family": d["family"], "lambda": d["lambda"], "n_seeds": np.ones(len(d["name"]), int),
             "test_error_mean": d["test_error"], "test_error_std": np.full(len(d["name"]), np.nan),
             "size_bytes_mean": d["size_bytes"].astype(float), "size_bytes_std": np.full(len(d["name"]), np.nan),
             "is_reference": d["is_baseline"], "is_front": None}
    else:
        for k in ("network", "model", "data_set", "method", "family"):
            p[k] = np.array([s(x) for x in p[k]])
    if p.get("is_front") is None:
        p["is_front"] = np.zeros(len(p["network"]), int)
        for key in {(n, ds, fa) for n, ds, fa in zip(p["network"], p["data_set"], p["family"])}:
            idx = np.where((p["network"] == key[0]) & (p["data_set"] == key[1]) & (p["family"] == key[2]) &
                           (p["is_reference"] == 0) & (p["method"] != "plain-pruned"))[0]
            p["is_front"][idx[front(p["size_bytes_mean"][idx], 100 * p["test_error_mean"][idx])]] = 1
    return d, p


def front(size, err):
    """Indices of the points no other point beats in both (size, then error)."""
    idx = [i for i in range(len(size)) if np.isfinite(err[i])]
    out = [i for i in idx
           if not any(size[j] <= size[i] and err[j] <= err[i] and (size[j] < size[i] or err[j] < err[i]) for j in idx)]
    return sorted(out, key=lambda i: (size[i], err[i]))


def fmt_lambda(v):
    """3e-07 -> 3e-7, 2.5e-07 -> 2.5e-7 (up to three digits: a λ is never rounded to a neighbour's)."""
    m, e = f"{v:.2e}".split("e")
    return f"{m.rstrip('0').rstrip('.')}e{int(e)}"


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


def spread_labels(fig, ax, texts, passes=30):
    """Move annotations apart vertically (in points) until their boxes no longer overlap."""
    if len(texts) < 2:
        return
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    for _ in range(passes):
        moved = False
        boxes = [t.get_window_extent(r).expanded(1.05, 1.15) for t in texts]
        for i in range(len(texts)):
            for j in range(i):
                if boxes[i].overlaps(boxes[j]):
                    x, y = texts[i].get_position()
                    step = boxes[i].height * 72.0 / fig.dpi
                    texts[i].set_position((x, y - step if boxes[i].y0 <= boxes[j].y0 else y + step))
                    boxes[i] = texts[i].get_window_extent(r).expanded(1.05, 1.15)
                    moved = True
        if not moved:
            return


class Panel:
    def __init__(self, ax, data_set):
        self.ax, self.data_set, self.err, self.refs, self.labels, self.networks = ax, data_set, [], [], [], set()


def draw_series(a, pan, d, p, net, fam, colour, pre):
    ax, ds = pan.ax, pan.data_set
    mk = MARKER.get(fam, "h")
    sel = (p["network"] == net) & (p["data_set"] == ds) & (p["family"] == fam) & (p["is_reference"] == 0)
    idx = np.where(sel)[0]
    size, err = p["size_bytes_mean"][idx], 100 * p["test_error_mean"][idx]
    ssd, esd, ns = p["size_bytes_std"][idx], 100 * p["test_error_std"][idx], p["n_seeds"][idx]
    runs = np.where((d["network"] == net) & (d["data_set"] == ds) & (d["family"] == fam) & (d["is_baseline"] == 0))[0]
    # single seeds, faint; then the means (error bars where there are two or more seeds)
    ax.scatter(d["size_bytes"][runs], 100 * d["test_error"][runs], s=14, color=colour, alpha=0.25,
               edgecolors="none", zorder=3)
    multi = ns >= 2
    if multi.any():
        ax.errorbar(size[multi], err[multi], xerr=np.nan_to_num(ssd[multi]), yerr=np.nan_to_num(esd[multi]),
                    fmt="none", ecolor=colour, elinewidth=1.0, capsize=2.5, alpha=0.8, zorder=4)
    fr = idx[p["is_front"][idx] == 1]
    fr = fr[np.argsort(p["size_bytes_mean"][fr])]
    is_epr = fam.startswith("epr")
    label = f"{pre}{net} {fam}: {len(idx)} point{'s' if len(idx) != 1 else ''}, {len(runs)} run{'s' if len(runs) != 1 else ''}"
    if is_epr:
        ax.scatter(size, err, s=22, marker=mk, color=colour, alpha=0.55, edgecolors="none", zorder=4)
        ax.plot(p["size_bytes_mean"][fr], 100 * p["test_error_mean"][fr], marker=mk, color=colour, lw=1.8, ms=6,
                zorder=5, label=label + ", front through the means")
    else:
        ax.scatter(size, err, s=44, marker=mk, color=colour, edgecolors="black", linewidths=0.5, zorder=5, label=label)
    print(f"series: {pre}{net} {fam} ({len(idx)} point{'s' if len(idx) != 1 else ''}, {len(runs)} run"
          f"{'s' if len(runs) != 1 else ''}) on {ds}")
    pan.err.extend(err)
    if a.no_annotate:
        return
    for k in (fr if is_epr else idx):
        txt = (f"λ={fmt_lambda(p['lambda'][k])}" if is_epr else re.sub(r"\D", "", p["method"][k])) or ""
        if p["n_seeds"][k] >= 2:
            txt += f" (n={p['n_seeds'][k]})"
        if txt:
            pan.labels.append(ax.annotate(txt, (p["size_bytes_mean"][k], 100 * p["test_error_mean"][k]),
                                          textcoords="offset points", xytext=(6, 3), fontsize=7, color=colour,
                                          zorder=7, annotation_clip=True))
            pan.labels[-1].set_in_layout(False)


def draw_reference(pan, d, p, net, pre, first):
    ax, ds = pan.ax, pan.data_set
    runs = np.where((d["network"] == net) & (d["data_set"] == ds) & (d["is_baseline"] == 1))[0]
    if not len(runs):
        return
    errs = 100 * d["test_error"][runs]
    b = float(np.mean(errs))
    pan.refs.append(b)
    pan.err.extend(errs)
    ax.scatter(d["size_bytes"][runs], errs, marker="s", s=60, facecolors="white", edgecolors="black", zorder=5,
               label=f"{pre}{net} plain float32: {len(runs)} run{'s' if len(runs) != 1 else ''}, mean {b:.2f}%")
    ax.axhline(b, color="black", lw=1.0, zorder=2)
    ax.axhspan(b, b + 0.3, color="#2ca02c", alpha=0.10, lw=0, zorder=1)
    ax.axhspan(b + 0.3, b + 1.0, color="#ff7f0e", alpha=0.08, lw=0, zorder=1)
    for t, col in ((0.3, "#2ca02c"), (1.0, "#ff7f0e")):
        ax.axhline(b + t, color=col, lw=0.9, ls=":", zorder=2)
        if first:
            ax.annotate(f"+{t:.1f} points", (1.0, b + t), xycoords=("axes fraction", "data"), xytext=(-4, 2),
                        textcoords="offset points", ha="right", fontsize=7, color=col,
                        annotation_clip=True).set_in_layout(False)


def draw_paper(a, pan):
    if a.no_paper:
        return
    for spec in a.paper or []:
        b, e, lab = parse_paper(spec)
        pan.ax.scatter([b], [e], marker="*", s=240, facecolors="gold", edgecolors="black", zorder=6,
                       label=f"{lab or 'paper'} ({b / 1e3:g} KB, {e:g}%)")
        pan.err.append(e)
    if a.paper:
        return
    for net in sorted(pan.networks):
        r, note = paper_lookup(net, pan.data_set)
        if r is None:
            continue
        where = f", {note}" if note else ""
        pan.ax.scatter([r["epr_bytes"]], [r["epr_error"]], marker="*", s=240, facecolors="gold", edgecolors="black",
                       zorder=6, label=f"paper: {r['label']} EPR ({r['transform']}{where}): "
                                       f"{r['epr_bytes'] / 1e3:.2f} KB, {r['epr_error']:g}%")
        pan.ax.scatter([r["float32_bytes"]], [r["float32_error"]], marker="*", s=240, facecolors="none",
                       edgecolors="black", zorder=6,
                       label=f"paper: {r['label']} float32{where}: {r['float32_bytes'] / 1e6:.2f} MB, "
                             f"{r['float32_error']:g}%")
        pan.err.extend([r["epr_error"], r["float32_error"]])


def finish_panel(a, fig, pan):
    ax = pan.ax
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(fmt_bytes))
    ax.set_xlabel("file size in bytes (log; KB = 1000 B): .epr, baseline file, or 4 B/parameter")
    ax.set_ylabel(f"test error on {pan.data_set} (%)")
    finite = [e for e in pan.err if np.isfinite(e)]
    if finite:
        lo = max(0.0, min(finite) - 0.3)
        if a.ymax is not None:
            hi = a.ymax
        elif pan.refs:
            hi = min(max(finite) + 0.3, max(pan.refs) + max(3.0, 0.5 * max(pan.refs)))
        else:
            hi = max(finite) + 0.3
        ax.set_ylim(lo, hi)
        above = sum(e > hi for e in finite)
        if above:
            ax.text(0.01, 0.99, f"{above} point{'s' if above != 1 else ''} above {hi:.1f}% not shown",
                    transform=ax.transAxes, va="top", fontsize=8, color="dimgray")
    ax.set_title(pan.data_set, fontsize=11)
    ax.grid(True, which="both", alpha=0.25)
    # below the axes: a legend inside would hide the points, which crowd near the baseline
    longest = max((len(t) for t in ax.get_legend_handles_labels()[1]), default=0)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2 if longest < 70 else 1,
              framealpha=0.9)
    spread_labels(fig, ax, pan.labels)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sweeps", nargs="+", metavar="SWEEP.h5[:LABEL]")
    ap.add_argument("-o", "--output", default="pareto.png", help="PNG to write (default pareto.png)")
    ap.add_argument("--title", default=None)
    ap.add_argument("--data", default=None, help="only this data set (one panel)")
    ap.add_argument("--paper", action="append", default=None, metavar="SIZE_KB:ERR%[:LABEL]",
                    help="a reference point for every panel (KB = 1000 bytes), repeatable, instead of Table 1's")
    ap.add_argument("--no-paper", action="store_true", help="no paper point")
    ap.add_argument("--no-annotate", action="store_true", help="do not write λ / bit counts beside the points")
    ap.add_argument("--ymax", type=float, default=None, help="top of the error axis in %% (default: from the baseline)")
    ap.add_argument("--dpi", type=int, default=130)
    a = ap.parse_args(argv)

    loaded, caption = [], None
    for spec in a.sweeps:
        path, label = (spec.rsplit(":", 1) + [None])[:2] if ":" in spec and not os.path.exists(spec) else (spec, None)
        if not os.path.exists(path):
            raise SystemExit(f"plot_pareto: {path}: no such file")
        d, p = load(path)
        if len(a.sweeps) == 1:  # one table: its label goes in the panel titles, not in every legend entry
            caption = label
            label = None
        else:
            label = label or os.path.basename(os.path.dirname(os.path.abspath(path)))
        loaded.append((d, p, f"{label}: " if label else ""))
    sets = sorted({ds for d, _, _ in loaded for ds in d["data_set"]})
    if a.data is not None:
        if a.data not in sets:
            raise SystemExit(f"plot_pareto: no points on data set '{a.data}' (the tables have: {', '.join(sets)})")
        sets = [a.data]
    if not sets:
        raise SystemExit("plot_pareto: the tables have no points")
    fig, axes = plt.subplots(1, len(sets), figsize=(9.5 * len(sets), 7.6), squeeze=False)
    panels = [Panel(ax, ds) for ax, ds in zip(axes[0], sets)]
    colours = {}  # series key -> colour, the same in every panel
    for pan in panels:
        for i, (d, p, pre) in enumerate(loaded):
            nets = sorted(set(p["network"][p["data_set"] == pan.data_set]) | set(d["network"][d["data_set"] == pan.data_set]))
            pan.networks.update(nets)
            for net in nets:
                fams = sorted({f for f, n, ds, ref in zip(p["family"], p["network"], p["data_set"], p["is_reference"])
                               if n == net and ds == pan.data_set and not ref and f != "plain-pruned"}, key=family_key)
                for fam in fams:
                    key = (pre, net, fam)
                    colours.setdefault(key, PALETTE[len(colours) % len(PALETTE)])
                    draw_series(a, pan, d, p, net, fam, colours[key], pre)
                draw_reference(pan, d, p, net, pre, i == 0)
        draw_paper(a, pan)
        finish_panel(a, fig, pan)
        if caption:
            pan.ax.set_title(f"{pan.data_set}: {caption}", fontsize=11)
    nets = sorted({n for pan in panels for n in pan.networks})
    fig.suptitle(a.title or ("file size against test error: " + ", ".join(nets)), fontsize=12)
    save_figure(fig, a.output, a.dpi)
    return 0


if __name__ == "__main__":
    sys.exit(main())
