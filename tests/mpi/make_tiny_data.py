#!/usr/bin/env python3
"""Writes a tiny synthetic IDX data set (12x12 images, 10 classes) for the
MPI/checkpoint tests: each class is a bright 3x3 blob at its own place plus
deterministic noise, so a small network learns it in a few dozen steps.
usage: make_tiny_data.py OUTDIR"""
import os
import struct
import sys


def lcg(seed):
    x = seed
    while True:
        x = (x * 6364136223846793005 + 1442695040888963407) % (1 << 64)
        yield (x >> 33) & 0xFF


def write(outdir, name, n, seed):
    rnd = lcg(seed)
    imgs = bytearray()
    labels = bytearray()
    for i in range(n):
        c = i % 10
        cy, cx = 1 + (c // 5) * 6, 1 + (c % 5) * 2
        for y in range(12):
            for x in range(12):
                v = next(rnd) // 4
                if cy <= y < cy + 4 and cx <= x < cx + 3:
                    v = 200 + next(rnd) // 8
                imgs.append(v)
        labels.append(c)
    with open(os.path.join(outdir, name + "-images-idx3-ubyte"), "wb") as f:
        f.write(struct.pack(">IIII", 0x803, n, 12, 12) + bytes(imgs))
    with open(os.path.join(outdir, name + "-labels-idx1-ubyte"), "wb") as f:
        f.write(struct.pack(">II", 0x801, n) + bytes(labels))


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] in ("-h", "--help"):
        print(__doc__)
        sys.exit(0 if len(sys.argv) == 2 else 2)
    os.makedirs(sys.argv[1], exist_ok=True)
    write(sys.argv[1], "train", 600, 1)
    write(sys.argv[1], "t10k", 200, 2)
