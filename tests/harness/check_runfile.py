#!/usr/bin/python3
"""tests/harness/check_runfile.py FILE -- reads a run file written by
tests/harness/test_h5run_h5py.c with h5py and checks every part of it:
root attributes (variable-length UTF-8 strings, int64, float64, arrays),
datasets of every element type at nested paths with their attributes and
their h5run_crc32 checksums (recomputed with zlib), the
curves (chunked, maxshape == (None,), resizable) and the /final attributes.
The expected values are the formulas of test_h5run_h5py.c (keep in step).
Exit status 0 and "OK" when everything matches; 1 and one line per failed
check otherwise."""
import shutil
import sys
import tempfile
import zlib

import h5py
import numpy as np

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)


def main(path):
    with h5py.File(path, "r") as f:
        a = f.attrs
        check(isinstance(a["code_version"], str) and a["code_version"] == "0.1.0",
              "root attr code_version: %r" % (a.get("code_version"),))
        check(a["utf8"] == "\u03bb = 0.01 \u2014 Gr\u00fc\u00dfe", "root attr utf8: %r" % (a.get("utf8"),))
        check(a["empty"] == "", "root attr empty: %r" % (a.get("empty"),))
        exp = a["experiment"]
        check(isinstance(exp, str) and len(exp) == 70000 and exp.startswith("[data]\n"),
              "root attr experiment (long string)")
        t = h5py.check_string_dtype(a.get_id("utf8").dtype)
        check(t is not None and t.encoding == "utf-8" and t.length is None,
              "utf8 attr is not a variable-length UTF-8 string: %r" % (t,))
        check(a["seed"] == -42 and a["seed"].dtype == np.int64, "root attr seed: %r" % (a.get("seed"),))
        check(a["lambda"] == 1e-3 and a["lambda"].dtype == np.float64, "root attr lambda")
        check(list(a["shape"]) == [300, 784], "root attr shape: %r" % (a.get("shape"),))

        d = f["/model/latent/fc12"]
        want = np.arange(7, dtype=np.float32) * np.float32(0.25) - np.float32(3)
        check(d.dtype == np.float32 and d.shape == (7,) and np.array_equal(d[()], want), "/model/latent/fc12")
        check(d.attrs["group"] == "latent" and list(d.attrs["shape"]) == [300, 784], "/model/latent/fc12 attrs")
        check(d.chunks is None, "/model/latent/fc12 should be contiguous")

        d = f["/optimizer/m1"]
        want = np.array([1.0 / (i + 1) for i in range(6)]).reshape(2, 3)
        check(d.dtype == np.float64 and d.shape == (2, 3) and np.array_equal(d[()], want), "/optimizer/m1")
        d = f["/rng/state"]
        want = np.array([-2000000000 + i * 1000000000 for i in range(4)], dtype=np.int32)
        check(d.dtype == np.int32 and np.array_equal(d[()], want), "/rng/state")
        d = f["/step_i64"]
        want = np.array([-2**63, 0, 2**63 - 1], dtype=np.int64)
        check(d.dtype == np.int64 and np.array_equal(d[()], want), "/step_i64")
        d = f["/a/b/c/d/rank4"]
        want = np.array([(250 + i) % 256 for i in range(12)], dtype=np.uint8).reshape(2, 3, 1, 2)
        check(d.dtype == np.uint8 and d.shape == (2, 3, 1, 2) and np.array_equal(d[()], want), "/a/b/c/d/rank4")
        d = f["/scalar"]
        check(d.shape == () and d[()] == np.pi, "/scalar")

        # every non-curve dataset carries the CRC-32 of its little-endian bytes
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset) and not name.startswith("curves/"):
                le = np.ascontiguousarray(obj[()]).astype(obj.dtype.newbyteorder("<"))
                crc = obj.attrs.get("h5run_crc32")
                check(crc is not None and int(crc) == zlib.crc32(le.tobytes()), "/%s h5run_crc32: %r" % (name, crc))
        f.visititems(visit)
        for name in ("loss", "step"):
            check("h5run_crc32" not in f["/curves/" + name].attrs, "/curves/%s has a checksum" % name)

        names = sorted(f["/curves"].keys())
        check(names == ["loss", "step"], "curves: %r" % (names,))
        for name, want in (("step", [100.0 * (i + 1) for i in range(5)]),
                           ("loss", [2.5 / (i + 1) for i in range(5)])):
            d = f["/curves/" + name]
            check(d.dtype == np.float64 and np.array_equal(d[()], np.array(want)), "/curves/%s values" % name)
            check(d.chunks is not None, "/curves/%s is not chunked" % name)
            check(d.maxshape == (None,), "/curves/%s maxshape %r" % (name, d.maxshape))

        fa = f["/final"].attrs
        check(fa["test_error"] == 0.0123 and fa["file_bytes"] == 12345 and fa["bitstream"] == "model.epr",
              "/final attrs: %r" % (dict(fa),))

    # resizable in practice: grow a curve in a copy
    with tempfile.TemporaryDirectory() as tmp:
        cp = tmp + "/copy.h5"
        shutil.copyfile(path, cp)
        with h5py.File(cp, "r+") as f:
            d = f["/curves/loss"]
            d.resize((8,))
            d[5:] = [7.0, 8.0, 9.0]
        with h5py.File(cp, "r") as f:
            check(f["/curves/loss"].shape == (8,) and f["/curves/loss"][7] == 9.0, "resize of /curves/loss")

    if failures:
        for m in failures:
            print("check_runfile: %s: %s" % (path, m))
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: check_runfile.py FILE", file=sys.stderr)
        sys.exit(2)
    try:
        sys.exit(main(sys.argv[1]))
    except Exception as e:  # a missing object or attribute is a failure, not a traceback
        print("check_runfile: %s: %s: %s" % (sys.argv[1], type(e).__name__, e))
        sys.exit(1)
