#!/usr/bin/env python3
"""Markdown tables of EPR results against the plain baseline, read from the
run files (run.h5) of result directories made by `epr sweep`.

usage: /usr/bin/python3 analysis/results_table.py [--target RATIO:POINTS] [--base-log LOG ...] DIR [DIR ...]
       /usr/bin/python3 analysis/results_table.py --methods [--points P1,P2] DIR [DIR ...]

For each DIR (one network and data set): the plain float32 runs (epr
disabled, no [baseline] prune / kmeans_bits) give the baseline (mean over
seeds); every EPR run is one row: lambda, seed, test error of the network
decoded from its .epr file, the difference to the baseline, the error of the
raw (non-EMA, still quantised) weights, the exact self-information under the
learned densities, the real file size, the ratio to float32, steps and wall
time (a method column when the directory holds EPR runs of several
methods, e.g. SQ and DFT; a validation column when runs held images out,
docs/validation.md).  --target RATIO:POINTS adds a line saying which
runs reach RATIO x at <= baseline + POINTS, and one for the means over
seeds of DIR/sweep.h5 /points (`epr pareto DIR`): the points of two or more
seeds whose mean ratio and mean error reach it.  --base-log LOG (repeatable)
takes the baseline from the training logs of plain runs whose run files are
not in DIR (a later table's rows against an earlier table's baseline): the
line "test error: X% (EMA)" that `epr train` prints at the end, the seed
from the log's name (..._sN.log); the table says where the baseline came
from.

--methods: EPR against the baselines (issue 8), from DIR/sweep.h5 (run
`epr pareto DIR` first: it reads the run files and their baselines.h5 and
checks every file's size).  One row per method family (epr-sq, epr-dft,
float32, gzip, xz, uniformN and kmeansN over all their bit counts,
prune-kmeans): for each threshold (default +0.3 and +1.0 percentage points
over the plain baseline's mean error) the smallest file within it, with its
size (bytes and KB = 1000 bytes), ratio to float32, error, and the steps and
wall time that produced it (for a baseline: the plain run's training plus
the method's own seconds); "—" where no file qualifies.  Then, per
threshold, which method is smallest and whether EPR beats every baseline,
and the paper's Table 1 figure for the network and data set."""
import glob
import os
import re
import sys

try:
    import h5py
except ImportError:  # the pyenv python3 on PATH has no h5py
    sys.exit("results_table.py: needs h5py: run it with /usr/bin/python3")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from epr_results import family, family_key, paper_lookup, paper_table, s  # noqa: E402


def attr(obj, name, default=None):
    v = obj.attrs.get(name, default)
    if isinstance(v, bytes):
        v = v.decode()
    return v


def run_method(f, path):
    """The run's method as `epr train` records it (root attribute "method",
    src/run/run_info.h: plain, plain-pruned, epr-sq, epr-dft, ...)."""
    m = attr(f, "method")
    if m is None:
        raise SystemExit(f"results_table.py: {path}: no 'method' attribute (a run file of an epr before the study "
                         "attributes); `epr pareto` still reads it: use --methods with the sweep.h5 it writes")
    return m


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
                steps=int(attr(f, "steps")), batch=int(attr(f, "batch", 0)), ranks=int(attr(f, "world_size")),
                err=float(attr(fin, "test_error")), err_raw=float(attr(fin, "test_error_raw")),
                size=int(attr(fin, "size_bytes")), f32=int(attr(fin, "float32_bytes")),
                bits=float(attr(fin, "rate_exact_bits", float("nan"))), wall=float(attr(fin, "wall_seconds")),
                ncomp=int(attr(fin, "n_compressed", 0)), method=run_method(f, p),
                val=float(attr(fin, "validation_error", float("nan"))), nval=int(attr(f, "n_validation", 0))))
            runs[-1]["pruned"] = runs[-1]["method"] == "plain-pruned"
    return runs


def base_from_logs(logs):
    """Plain runs read from their `epr train` logs: [{'err', 'seed', 'log'}].  A plain run
    ends with "test error: X% (EMA)"; an EPR run's line says "(quantised EMA)" and is refused."""
    out = []
    for p in logs:
        try:
            with open(p, encoding="utf-8", errors="replace") as f:
                text = f.read()
        except OSError as e:
            sys.exit(f"results_table.py: --base-log {p}: {e.strerror}")
        m = re.search(r"^test error: ([0-9.]+)% \(EMA\)", text, re.M)
        sd = re.search(r"_s([0-9]+)\.log$", p)
        if not m or not sd:
            sys.exit(f"results_table.py: --base-log {p}: not the log of a finished plain run (no line 'test error: X% "
                     "(EMA)'; an EPR run's says '(quantised EMA)'), or no _sN seed in its name")
        if any(r["seed"] == int(sd.group(1)) for r in out):
            sys.exit(f"results_table.py: --base-log {p}: seed {sd.group(1)} given twice")
        out.append(dict(err=float(m.group(1)) / 100, seed=int(sd.group(1)), log=p))
    return out


def table(d, target, base_logs=()):
    runs = load(d)
    base = [r for r in runs if not r["epr"] and not r["pruned"]]
    logged = base_from_logs(base_logs) if base_logs else []
    epr = sorted((r for r in runs if r["epr"]), key=lambda r: (r["lam"], r["seed"]))
    if not runs:
        return f"(no finished runs in {d})\n"
    r0 = runs[0]
    out = [f"### {r0['model']} on {r0['data']} (`{os.path.basename(os.path.normpath(d))}`)\n"]
    if logged and base:
        sys.exit(f"results_table.py: {d} has plain runs of its own ({', '.join(r['name'] for r in base)}): "
                 "--base-log is for a directory without them")
    if logged:
        b = sum(r["err"] for r in logged) / len(logged)
        out.append("Plain float32 baseline from the logs of runs not in this directory: " + ", ".join(
            f"{100 * r['err']:.2f}% (seed {r['seed']}, `{r['log']}`)" for r in logged) + f"; mean **{100 * b:.2f}%**.\n")
    elif base:
        b = sum(r["err"] for r in base) / len(base)
        out.append(f"Plain float32 baseline ({r0['f32']:,} bytes), EMA weights, {base[0]['steps']} steps, batch "
                   f"{base[0]['batch']}: " + ", ".join(f"{100 * r['err']:.2f}% (seed {r['seed']})" for r in base)
                   + f"; mean **{100 * b:.2f}%**.\n")
    else:
        b = None
        out.append("No plain baseline run in this directory.\n")
    several = len({r["method"] for r in epr}) > 1
    if several:
        epr.sort(key=lambda r: (r["method"], r["lam"], r["seed"]))
    mh, ms = ("method | ", "---|") if several else ("", "")
    has_val = any(r["val"] == r["val"] for r in epr)  # a validation split somewhere (NaN != NaN)
    vh, vs = (" validation error |", "---|") if has_val else ("", "")
    out.append(f"| {mh}λ | λ·n | seed | steps | test error (decoded .epr) | Δ vs baseline | raw weights | "
               f"self-information | file size | × float32 | wall |{vh}")
    out.append(f"|{ms}---|---|---|---|---|---|---|---|---|---|---|{vs}")
    for r in epr:
        delta = f"{100 * (r['err'] - b):+.2f}" if b is not None else "–"
        mc = f"{r['method']} | " if several else ""
        out.append(f"| {mc}{r['lam']:g} | {r['lam'] * r['ncomp']:.3g} | {r['seed']} | {r['steps']} | {100 * r['err']:.2f}% | "
                   f"{delta} | {100 * r['err_raw']:.2f}% | {r['bits'] / 8e3:.2f} KB | {r['size']:,} B | "
                   f"{r['f32'] / r['size']:.0f}× | {r['wall']:.0f} s |"
                   + (f" {100 * r['val']:.2f}% ({r['nval']} images) |" if has_val and r["val"] == r["val"] else
                      " — |" if has_val else ""))
    if target and b is not None:
        ratio, pts = target
        ok = [r for r in epr if r["f32"] / r["size"] >= ratio and 100 * (r["err"] - b) <= pts]
        if ok:
            out.append(f"\nTarget ≥ {ratio:g}× at ≤ +{pts:g} points: **met** by " + ", ".join(
                f"λ {r['lam']:g} seed {r['seed']} ({r['f32'] / r['size']:.0f}×, {100 * (r['err'] - b):+.2f})" for r in ok)
                + ".")
        else:
            out.append(f"\nTarget ≥ {ratio:g}× at ≤ +{pts:g} points: **not met** by any run here.")
        out.append(seed_means_line(d, ratio, pts, b))
    if has_val:
        out.append("\nTest errors are on the test split; the validation error is on the images each run held out "
                   "of its training set, on which it chose the weights it wrote (docs/validation.md).")
    return "\n".join(out) + "\n"


def seed_means_line(d, ratio, pts, b):
    """The target on the means over seeds (DIR/sweep.h5 /points, `epr pareto`): points of two or more seeds."""
    path = os.path.join(d, "sweep.h5")
    if not os.path.exists(path):
        return "On the means over seeds: no sweep.h5 (run `epr pareto` on the directory)."
    with h5py.File(path, "r") as f:
        if "points" not in f:
            return "On the means over seeds: this sweep.h5 has no /points (an `epr pareto` before issue 14)."
        P = {k: f["points"][k][()] for k in f["points"]}
    ok, multi = [], 0
    for i in range(len(P["n_seeds"])):
        if not P["epr_enabled"][i] or P["n_seeds"][i] < 2:
            continue
        multi += 1
        r = P["ratio_mean"][i]
        de = 100 * (P["test_error_mean"][i] - b)
        if r >= ratio and de <= pts:
            ok.append(f"λ {P['lambda'][i]:g}, seeds {s(P['seeds'][i])} ({r:.0f}×, {de:+.2f} ± "
                      f"{100 * P['test_error_std'][i]:.2f})")
    if not multi:
        return "On the means over seeds: no EPR point has two or more seeds."
    if ok:
        return f"On the means of two or more seeds: **met** by " + ", ".join(ok) + "."
    return f"On the means of two or more seeds: **not met** by any of the {multi} points with two or more seeds."


# ---- --methods: EPR against the baselines ----

def paper_figure(model, data):
    """The paper's Table 1 figure for the pair (data/paper_table1.tsv), in words."""
    if "fashion" in data:
        cifar = [r for r in paper_table() if r["model"] == model and r["data"] == "cifar10"]
        if cifar:  # the large networks: CIFAR-10 figures for scale only (issue 15)
            r = cifar[0]
            return (f"— on Fashion-MNIST; for scale only, CIFAR-10 (not comparable data): EPR ({r['transform']}) "
                    f"{r['epr_bytes'] / 1e3:g} KB, {r['ratio']:g}×, {r['epr_error']:g}% error; "
                    f"float32 {r['float32_bytes'] / 1e6:g} MB, {r['float32_error']:g}% error")
    if "fashion" in data:
        return "— (the paper has no Fashion-MNIST figures)"
    r, note = paper_lookup(model, data)
    if r is None:
        return "— (no figure for this pair)"
    kb = lambda b: f"{b / 1e6:.2f} MB" if b >= 1e6 else f"{b / 1e3:.2f} KB"
    text = (f"EPR ({r['transform']}) {kb(r['epr_bytes'])}, {r['ratio']:g}×, {r['epr_error']:g}% error; "
            f"float32 {kb(r['float32_bytes'])}, {r['float32_error']:g}% error")
    return text + (" (full MNIST, 60,000 training images)" if note else "")


def load_points(d):
    path = os.path.join(d, "sweep.h5")
    if not os.path.exists(path):
        raise SystemExit(f"results_table.py: {path}: missing: run `epr pareto {d}` first")
    with h5py.File(path, "r") as f:
        r = f["runs"]
        if "method" not in r:
            raise SystemExit(f"results_table.py: {path}: no method column (written by an older `epr pareto`): "
                             f"run `epr pareto {d}` again")
        n = len(r["name"])
        col = lambda k, default=None: [r[k][i] for i in range(n)] if k in r else [default] * n  # noqa: E731
        pts = []
        for i, (name, method, model, data, size, f32, err, steps, wall, post, seed, base, lam, src) in enumerate(zip(
                col("name"), col("method"), col("model"), col("data_set"), col("size_bytes"), col("float32_bytes"),
                col("test_error"), col("steps"), col("wall_seconds"), col("post_seconds", 0.0), col("seed"),
                col("is_baseline"), col("lambda"), col("source_run", b""))):
            pts.append(dict(name=s(name), method=s(method), family=family(s(method)), model=s(model), data=s(data),
                            size=int(size), f32=int(f32), err=float(err), steps=int(steps), wall=float(wall),
                            post=float(post), seed=int(seed), ref=bool(base), lam=float(lam), source=s(src)))
    newest = max((os.path.getmtime(p) for p in glob.glob(os.path.join(d, "*", "run.h5"))
                  + glob.glob(os.path.join(d, "*", "baselines.h5"))), default=0)
    if newest > os.path.getmtime(path):
        print(f"results_table.py: warning: {path} is older than some run files: rerun `epr pareto {d}`",
              file=sys.stderr)
    return pts


def fmt_size(b):
    return f"{b:,} B ({b / 1e3:.2f} KB)" if b < 1e6 else f"{b:,} B ({b / 1e6:.2f} MB)"


def fmt_cost(p):
    if p["family"].startswith("epr") or p["method"] == "plain":
        return f"{p['steps']}, {p['wall']:.0f} s"
    post = f"{p['post']:.1f}" if p["post"] < 10 else f"{p['post']:.0f}"
    return f"{p['steps']}, {p['wall']:.0f} + {post} s"


def fmt_point(p):
    if p["family"].startswith("epr"):
        return f"λ {p['lam']:g}, seed {p['seed']}"
    return f"`{p['name']}`"


def fmt_pts(t):
    return f"{t:.1f}" if round(t, 1) == t else f"{t:g}"


def methods_table(d, thresholds):
    pts = load_points(d)
    name = os.path.basename(os.path.normpath(d))
    if not pts:
        return f"(no points in {d}/sweep.h5)\n"
    ref = [p for p in pts if p["ref"]]
    model, data = pts[0]["model"], pts[0]["data"]
    out = [f"### {model} on {data} (`{name}`): EPR against baselines\n"]
    if not ref:
        return "\n".join(out + ["No plain float32 run in this directory: no reference error, no thresholds.\n"])
    f32 = ref[0]["f32"]
    b = 100 * sum(p["err"] for p in ref) / len(ref)
    lim = [b + t for t in thresholds]
    out.append(f"Plain float32 reference ({f32:,} bytes): " + ", ".join(
        f"{100 * p['err']:.2f}% (seed {p['seed']})" for p in ref) + f"; mean **{b:.2f}%**. Thresholds: "
        + ", ".join(f"+{fmt_pts(t)} points = {x:.2f}%" for t, x in zip(thresholds, lim))
        + ". For a baseline, steps and wall are the plain run's training plus the method's own seconds.\n")
    cand = [p for p in pts if not p["ref"] and p["method"] != "plain-pruned"]
    fams = sorted({p["family"] for p in cand}, key=family_key)
    head = "| method | files |"
    rule = "|---|---|"
    for t in thresholds:
        head += f" smallest ≤ +{fmt_pts(t)} | size | × float32 | error | steps, wall |"
        rule += "---|---|---|---|---|"
    out += [head, rule]
    best = {}  # (threshold index, family) -> point
    for fam in fams:
        mine = [p for p in cand if p["family"] == fam]
        line = f"| {fam} | {len(mine)} |"
        for k, x in enumerate(lim):
            ok = [p for p in mine if 100 * p["err"] <= x + 1e-9]
            if not ok:
                line += " — | — | — | — | — |"
                continue
            p = min(ok, key=lambda p: (p["size"], p["err"]))
            best[(k, fam)] = p
            line += (f" {fmt_point(p)} | {fmt_size(p['size'])} | {p['f32'] / p['size']:.1f}× | {100 * p['err']:.2f}% | "
                     f"{fmt_cost(p)} |")
        out.append(line)
    out.append("")
    out.append(f"Paper (Table 1) for {model} on {data}: {paper_figure(model, data)}.\n")
    has_base = any(not f.startswith("epr") for f in fams)
    for k, (t, x) in enumerate(zip(thresholds, lim)):
        here = [(fam, p) for (kk, fam), p in best.items() if kk == k]
        epr = [(fam, p) for fam, p in here if fam.startswith("epr")]
        base = [(fam, p) for fam, p in here if not fam.startswith("epr")]
        head = f"- **Within +{fmt_pts(t)} points** (≤ {x:.2f}%): "
        if not here:
            out.append(head + "no file qualifies.")
            continue
        fam0, p0 = min(here, key=lambda fp: (fp[1]["size"], fp[1]["err"]))
        line = head + f"smallest is **{fam0}**: {fmt_point(p0)}, {p0['size']:,} B. "
        if not has_base:
            line += "No baseline files in this directory (nothing to compare EPR with)."
        elif not epr:
            line += "No EPR file qualifies: EPR does not beat the baselines at this threshold."
        elif not base:
            fe, pe = min(epr, key=lambda fp: fp[1]["size"])
            line += f"No baseline file qualifies: EPR ({fe}, {pe['size']:,} B) beats every baseline at this threshold."
        else:
            fe, pe = min(epr, key=lambda fp: fp[1]["size"])
            fb, pb = min(base, key=lambda fp: fp[1]["size"])
            if pe["size"] < pb["size"]:
                line += (f"EPR beats every baseline here: the smallest baseline within it, {fb} "
                         f"({pb['size']:,} B), is {pb['size'] / pe['size']:.1f}× larger than EPR's {pe['size']:,} B.")
            elif pe["size"] == pb["size"]:
                line += f"EPR ({fe}) and {fb} tie at {pe['size']:,} B: EPR does not beat every baseline here."
            else:
                line += (f"A baseline is smaller: {fb} ({pb['size']:,} B) against EPR's smallest, {fe} "
                         f"({pe['size']:,} B, {pe['size'] / pb['size']:.1f}× larger): EPR does not beat every "
                         f"baseline at this threshold.")
        out.append(line)
    return "\n".join(out) + "\n"


def main(argv):
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    target, methods, points, base_logs = None, False, [0.3, 1.0], []
    while argv and argv[0].startswith("--"):
        if argv[0] == "--target" and len(argv) > 1:
            r, p = argv[1].split(":")
            target = (float(r), float(p))
            argv = argv[2:]
        elif argv[0] == "--base-log" and len(argv) > 1:
            base_logs.append(argv[1])
            argv = argv[2:]
        elif argv[0] == "--methods":
            methods = True
            argv = argv[1:]
        elif argv[0] == "--points" and len(argv) > 1:
            points = [float(x) for x in argv[1].split(",") if x]
            argv = argv[2:]
        else:
            sys.exit(f"results_table.py: unknown or incomplete option {argv[0]} (see --help)")
    if not argv:
        sys.exit("results_table.py: no DIR (see --help)")
    for d in argv:
        print(methods_table(d, points) if methods else table(d, target, base_logs))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
