#!/usr/bin/python3
"""TEST FIXTURE GENERATOR — writes a *fake* baselines.h5 beside a run file, in
the layout `epr baseline` writes (issue 8), with a filler file per method of
the size it records, so `epr pareto`, `epr sweep` and the analysis scripts can
be tested without computing baselines.  Nothing here is a real result.

usage: make_baselines_fixture.py RUN_DIR METHOD:BYTES:ERROR[:SECONDS] ...
           [--merge] [--break KIND]
RUN_DIR/run.h5 must exist (its steps, /final float32_bytes, n_params,
wall_seconds and experiment text are copied).  Each method gets
/methods/<METHOD> and RUN_DIR/baseline_<METHOD>.epr of BYTES bytes.  --merge
keeps the methods of an existing baselines.h5.  --break makes it malformed:
  not-hdf5       the file is text
  no-methods     no /methods group
  bad-source     source = "other.h5"
  wrong-f32      float32_bytes of another network
  stale-steps    steps differ from the run's
  drop-root=A    root attribute A left out
  missing-file   the first method's file is absent
  wrong-size     the first method's file is one byte longer
  bad-error      the first method's test_error is 1.5
  name-mismatch  the first method's attribute method differs from its group
  drop=A         the first method's attribute A left out
  bad-type       the first method's file_bytes is a string"""
import argparse
import os
import sys

import h5py
import numpy as np


def s(x):
    return x.decode() if isinstance(x, bytes) else str(x)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run_dir")
    ap.add_argument("methods", nargs="*", metavar="METHOD:BYTES:ERROR[:SECONDS]")
    ap.add_argument("--merge", action="store_true")
    ap.add_argument("--break", dest="brk", default=None)
    a = ap.parse_args()

    with h5py.File(os.path.join(a.run_dir, "run.h5"), "r") as f:
        steps = int(f.attrs["steps"])
        exp = s(f.attrs["experiment"])
        fin = f["final"].attrs
        f32, n_params, wall = int(fin["float32_bytes"]), int(fin["n_params"]), float(fin["wall_seconds"])
    path = os.path.join(a.run_dir, "baselines.h5")
    methods = {}
    if a.merge and os.path.exists(path):
        with h5py.File(path, "r") as f:
            for name, g in f["methods"].items():
                methods[name] = {k: g.attrs[k] for k in g.attrs}
    for spec in a.methods:
        p = spec.split(":")
        name, size, err = p[0], int(p[1]), float(p[2])
        sec = float(p[3]) if len(p) > 3 else 1.5
        fname = f"baseline_{name}.epr"
        with open(os.path.join(a.run_dir, fname), "wb") as b:
            b.write(b"FIXTURE" + bytes(max(0, size - 7)))
        methods[name] = {"method": name, "file": fname, "file_bytes": np.int64(size), "test_error": err,
                         "seconds": sec, "description": f"TEST FIXTURE: {name}"}
    brk = a.brk or ""
    if brk == "not-hdf5":
        with open(path, "w") as f:
            f.write("not an HDF5 file\n")
        return 0
    first = sorted(methods)[0] if methods else None
    if first and brk in ("missing-file", "wrong-size"):
        fp = os.path.join(a.run_dir, s(methods[first]["file"]))
        if brk == "missing-file":
            os.remove(fp)
        else:
            with open(fp, "ab") as b:
                b.write(b"x")
    tmp = path + ".tmp"
    with h5py.File(tmp, "w") as f:
        root = {"source": "other.h5" if brk == "bad-source" else "run.h5",
                "steps": np.int64(steps + 1 if brk == "stale-steps" else steps),
                "wall_seconds": wall,
                "float32_bytes": np.int64(f32 + 4 if brk == "wrong-f32" else f32),
                "n_params": np.int64(n_params),
                "experiment": exp}
        for k, v in root.items():
            if brk != f"drop-root={k}":
                f.attrs[k] = v
        if brk != "no-methods":
            grp = f.create_group("methods")
            for name in sorted(methods):
                g = grp.create_group(name)
                attrs = dict(methods[name])
                if name == first:
                    if brk == "bad-error":
                        attrs["test_error"] = 1.5
                    if brk == "name-mismatch":
                        attrs["method"] = "something-else"
                    if brk == "bad-type":
                        attrs["file_bytes"] = "12"
                    if brk.startswith("drop="):
                        attrs.pop(brk[5:], None)
                for k, v in attrs.items():
                    g.attrs[k] = v
    os.replace(tmp, path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
