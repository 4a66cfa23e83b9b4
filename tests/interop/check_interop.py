#!/usr/bin/python3
"""tests/interop/check_interop.py — the Python side of interop_tests.sh.

  export DIR MNIST_DIR   DIR/{m.npz, m.safetensors, m.bin, q.npz, c.npz,
                         raw.npz, model.epr, eval.txt}: the NumPy forward
                         pass of the exported tensors predicts eval.txt
  plain NPZ              a plain run's export holds the network's tensors
  reader EPR             eprfile on damaged copies raises EprError
  predict EPR idx|cifar IMAGES PREDICTIONS
                         eprfile.forward predicts what epr eval wrote
  make-bad NPZ           writes bad-missing/bad-shape/bad-nan.npz
  near A B TOL           same names and shapes, max |A - B| <= TOL
  differ A B             some tensor differs (the check above is not vacuous)
Exits non-zero with a message on any failure."""
import json
import os
import struct
import sys

import numpy as np

import eprfile


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def load_npz(path):
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def load_safetensors(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    head = json.loads(raw[8:8 + n])
    out = {}
    for k, v in head.items():
        if k == "__metadata__":
            continue
        if v["dtype"] != "F32":
            fail("%s: %s has dtype %s" % (path, k, v["dtype"]))
        b, e = v["data_offsets"]
        out[k] = np.frombuffer(raw[8 + n + b:8 + n + e], dtype="<f4").reshape(v["shape"])
    return out


def same_tensors(a, b, what):
    if list(a) != list(b):
        fail("%s: names differ: %s vs %s" % (what, list(a), list(b)))
    for k in a:
        if a[k].shape != b[k].shape or a[k].dtype != np.float32 or not np.array_equal(a[k], b[k]):
            fail("%s: tensor %s differs" % (what, k))


def check_export(d, mnist):
    m = eprfile.read(os.path.join(d, "model.epr"))
    npz = load_npz(os.path.join(d, "m.npz"))
    same_tensors(m.tensors, npz, d + "/m.npz vs eprfile.read")
    same_tensors(npz, load_safetensors(os.path.join(d, "m.safetensors")), d + "/m.safetensors")
    same_tensors(npz, load_safetensors(os.path.join(d, "m.bin")), d + "/m.bin (--format safetensors)")
    same_tensors(npz, load_npz(os.path.join(d, "q.npz")), d + "/q.npz (RUN.h5 --quantised)")
    # continuous weights: within s/2 of the quantised ones, and not all equal
    c = load_npz(os.path.join(d, "c.npz"))
    gap = max(float(np.abs(c[k] - npz[k]).max()) for k in npz)
    if not 0 < gap <= 0.5 * np.exp(-4.0) * 1.5:
        fail("%s/c.npz: max |continuous - quantised| = %g" % (d, gap))
    raw = load_npz(os.path.join(d, "raw.npz"))
    if all(np.array_equal(raw[k], npz[k]) for k in npz):
        fail("%s/raw.npz: the raw weights equal the EMA ones" % d)
    images = eprfile.read_idx_images(os.path.join(mnist, "t10k-images-idx3-ubyte"))
    want = np.loadtxt(os.path.join(d, "eval.txt"), dtype=np.int64)
    for name, tensors in (("m.npz", npz), ("eprfile.read", m.tensors)):
        pred = eprfile.forward(tensors, images, m.arch).argmax(1)
        if len(pred) != len(want) or not np.array_equal(pred, want):
            fail("%s %s: %d of %d NumPy predictions differ from epr eval's" % (d, name, int((pred != want).sum()),
                                                                                  len(want)))
    print("%s: %d tensors; NumPy forward pass = epr eval on all %d test images" % (d, len(npz), len(want)))


def check_plain(path):
    t = load_npz(path)
    want = {"fc1.weight": (300, 784), "fc1.bias": (300,), "fc2.weight": (100, 300), "fc2.bias": (100,),
            "fc3.weight": (10, 100), "fc3.bias": (10,)}
    got = {k: v.shape for k, v in t.items()}
    if got != want:
        fail("%s: %s" % (path, got))


def expect_error(data, name, want):
    try:
        eprfile.read_bytes(data, name)
    except eprfile.EprError as e:
        if want not in e.message or name not in e.message or e.code >= 0:
            fail("EprError(%d, %r) lacks %r" % (e.code, e.message, want))
        print("raised: %s" % e.message)
        return
    fail("%s was read without an error" % name)


def check_reader(path):
    data = open(path, "rb").read()
    good = eprfile.read(path)
    if not good.compressed:
        fail("no compressed tensors in %s" % path)
    bad = bytearray(data)
    bad[len(bad) // 2] ^= 0x10
    expect_error(bytes(bad), "flipped.epr", "CRC")
    expect_error(data[:len(data) - 7], "cut.epr", "")
    expect_error(b"not an epr file at all", "text.epr", "")
    try:
        eprfile.read("/nonexistent/x.epr")
        fail("a missing file was read")
    except OSError:
        pass


def make_bad(path):
    t = load_npz(path)
    a = dict(t)
    del a["fc3.bias"]
    a["extra.weight"] = np.zeros(2, np.float32)
    np.savez("bad-missing.npz", **a)
    b = dict(t)
    b["fc2.weight"] = b["fc2.weight"][:, :299]
    np.savez_compressed("bad-shape.npz", **b)  # deflated entries
    c = dict(t)
    c["fc1.bias"] = c["fc1.bias"].copy()
    c["fc1.bias"][7] = np.nan
    np.savez("bad-nan.npz", **c)


def near(a_path, b_path, tol):
    a, b = load_npz(a_path), load_npz(b_path)
    if sorted(a) != sorted(b):
        fail("names differ: %s vs %s" % (sorted(a), sorted(b)))
    gap = 0.0
    for k in a:
        if a[k].shape != b[k].shape:
            fail("%s: shapes differ" % k)
        gap = max(gap, float(np.abs(a[k].astype(np.float64) - b[k]).max()))
    if gap > tol:
        fail("%s vs %s: max difference %g > %g" % (a_path, b_path, gap, tol))
    print("%s vs %s: max difference %g <= %g" % (a_path, b_path, gap, tol))


def differ(a_path, b_path):
    a, b = load_npz(a_path), load_npz(b_path)
    if all(np.array_equal(a[k], b[k]) for k in a):
        fail("%s and %s are equal" % (a_path, b_path))


def gamma(path, name):
    """A learnable gamma was trained (moved away from its initial 1) and stored."""
    t = load_npz(path)
    if name not in t or np.all(t[name] == 1) or name.replace(".weight", ".running_var") not in t:
        fail("%s: %s missing or still all 1" % (path, name))


def predict(epr_path, kind, images_path, want_path):
    """eprfile.forward on IDX or CIFAR-10 binary images predicts what
    `epr eval --predictions` wrote (batch norm, normalisation, add, pooling)."""
    m = eprfile.read(epr_path)
    if kind == "idx":
        images = eprfile.read_idx_images(images_path)
    else:
        images = np.frombuffer(open(images_path, "rb").read(), dtype=np.uint8).reshape(-1, 3073)[:, 1:]
    pred = eprfile.forward(m, images).argmax(1)
    want = np.loadtxt(want_path, dtype=np.int64)
    if not np.array_equal(pred, want):
        fail("%s: %d of %d predictions differ from epr eval's" % (epr_path, int((pred != want).sum()), len(want)))
    print("%s: %d predictions identical to epr eval's" % (os.path.basename(epr_path), len(want)))


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    {"export": lambda: check_export(*args), "plain": lambda: check_plain(*args),
     "reader": lambda: check_reader(*args), "make-bad": lambda: make_bad(*args),
     "near": lambda: near(args[0], args[1], float(args[2])), "differ": lambda: differ(*args), "gamma": lambda: gamma(*args),
     "predict": lambda: predict(*args)}[cmd]()


if __name__ == "__main__":
    main()
