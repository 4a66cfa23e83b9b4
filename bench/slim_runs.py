#!/usr/bin/env python3
"""bench/slim_runs.py [--force] SRC_DIR DST_DIR — copies the finished runs of a sweep
directory (SRC_DIR/<run>/run.h5 with /final) to DST_DIR without the state
that only resuming needs, so that a GPU machine's results fit through a
narrow return channel (the `run` tool's 16 MiB per file).

Per run: run.h5 keeps every root attribute, /final, /curves and /density
(what `epr pareto`, analysis/results_table.py and plot_curves.py read) and
drops /model, /optimizer and /rng (so a slim run cannot be resumed and
`epr baseline` refuses it: "no dataset /model/train_block"; make baselines
before slimming, e.g. with baseline.post on the plain rows); every other
file of the run directory (model.epr, train.log, baselines.h5 and the
baseline files it names) is copied as is, except run.lock.  Unfinished
runs and unreadable run files are listed on stderr and skipped.  DST_DIR
may not be SRC_DIR, and a run already in DST_DIR is refused without
--force.  Needs h5py."""
import os
import shutil
import sys

import h5py

STATE = {"model", "optimizer", "rng"}


def copy_attrs(src, dst):
    for k in src.attrs:
        a = src.attrs.get_id(k)
        dst.attrs.create(k, src.attrs[k], dtype=a.dtype)


def slim(src_path, dst_path):
    tmp = dst_path + ".tmp"
    with h5py.File(src_path, "r") as s, h5py.File(tmp, "w") as d:
        copy_attrs(s, d)
        for name in s:
            if name not in STATE:
                s.copy(s[name], d, name=name)
    os.replace(tmp, dst_path)


def main():
    args = [a for a in sys.argv[1:] if a != "--force"]
    force = len(args) != len(sys.argv) - 1
    if len(args) != 2:
        sys.exit(__doc__)
    src, dst = args
    if not os.path.isdir(src):
        sys.exit(f"slim_runs.py: {src}: not a directory")
    # the slim copy must never replace the full run it is made from
    if os.path.realpath(dst) == os.path.realpath(src):
        sys.exit(f"slim_runs.py: {dst}: is the source directory (the slim run.h5 would replace the full one)")
    n = 0
    for run in sorted(os.listdir(src)):
        rd = os.path.join(src, run)
        rf = os.path.join(rd, "run.h5")
        if not os.path.isfile(rf):
            continue
        try:
            with h5py.File(rf, "r") as f:
                done = "final" in f
        except OSError as e:
            print(f"slim_runs.py: {rf}: cannot be read as HDF5 ({e}), left out", file=sys.stderr)
            continue
        if not done:
            print(f"slim_runs.py: {rf}: unfinished (no /final), left out", file=sys.stderr)
            continue
        od = os.path.join(dst, run)
        if os.path.exists(os.path.join(od, "run.h5")) and not force:
            sys.exit(f"slim_runs.py: {od}/run.h5 exists; --force replaces it")
        os.makedirs(od, exist_ok=True)
        for fn in os.listdir(rd):
            p = os.path.join(rd, fn)
            if fn in ("run.h5", "run.lock") or not os.path.isfile(p):
                continue
            shutil.copy2(p, os.path.join(od, fn))
        slim(rf, os.path.join(od, "run.h5"))
        n += 1
    print(f"slim_runs.py: {n} finished runs of {src} -> {dst}")


if __name__ == "__main__":
    main()
