#!/usr/bin/python3
"""tests/harness/compare_runs.py DIR_A DIR_B -- are two sweep (or run)
directories the same results?  The same files (train.log and run.lock
aside: logs say when and how a run was resumed); every .epr and other
non-HDF5 file byte for byte; every .h5 file with the same objects, every
dataset bitwise equal and every attribute equal, except the ones that
measure time (wall_seconds, step_images_per_s, comm_share, the
images_per_s curve; docs/runfile.md).  Prints one line per difference and
exits 1, or prints "same: N files" and exits 0."""
import os
import sys

import h5py
import numpy as np

TIMING = {"wall_seconds", "step_images_per_s", "comm_share", "images_per_s", "seconds"}
SKIP_FILES = {"train.log", "run.lock"}


def files(root):
    out = set()
    for d, _, names in os.walk(root):
        for n in names:
            if n not in SKIP_FILES:
                out.add(os.path.relpath(os.path.join(d, n), root))
    return out


def same_value(a, b):
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype.kind != b.dtype.kind:
        return False
    if a.dtype.kind == "f":
        return a.tobytes() == b.tobytes()  # bitwise: NaN == NaN, -0 != 0
    return bool(np.all(a == b))


def compare_h5(pa, pb, rel, diffs):
    with h5py.File(pa, "r") as fa, h5py.File(pb, "r") as fb:
        objs = {}
        for f, key in ((fa, 0), (fb, 1)):
            f.visit(lambda name, key=key: objs.setdefault(name, set()).add(key))
        for name in ["/"] + sorted(objs):
            if name != "/" and objs[name] != {0, 1}:
                diffs.append("%s: /%s only in %s" % (rel, name, "A" if 0 in objs[name] else "B"))
                continue
            oa, ob = fa[name], fb[name]
            if os.path.basename(name) in TIMING:
                continue
            if isinstance(oa, h5py.Dataset) and not same_value(oa[()], ob[()]):
                diffs.append("%s: dataset /%s differs" % (rel, name))
            for k in sorted(set(oa.attrs) | set(ob.attrs)):
                if k in TIMING:
                    continue
                if k not in oa.attrs or k not in ob.attrs:
                    diffs.append("%s: attribute %s of /%s in one file only" % (rel, k, name.lstrip("/")))
                elif not same_value(oa.attrs[k], ob.attrs[k]):
                    diffs.append("%s: attribute %s of /%s: %r vs %r" % (rel, k, name.lstrip("/"), oa.attrs[k],
                                                                        ob.attrs[k]))


def main(a, b):
    fa, fb = files(a), files(b)
    diffs = ["%s only in %s" % (f, a) for f in sorted(fa - fb)] + ["%s only in %s" % (f, b) for f in sorted(fb - fa)]
    for rel in sorted(fa & fb):
        pa, pb = os.path.join(a, rel), os.path.join(b, rel)
        if rel.endswith(".h5"):
            compare_h5(pa, pb, rel, diffs)
        elif open(pa, "rb").read() != open(pb, "rb").read():
            diffs.append("%s: bytes differ" % rel)
    for d in diffs:
        print("compare_runs: " + d)
    if not diffs:
        print("same: %d files (%s)" % (len(fa), ", ".join(sorted(fa))))
    return 1 if diffs else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print("usage: compare_runs.py DIR_A DIR_B", file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1], sys.argv[2]))
