#!/usr/bin/env python3
"""Writes a small synthetic CIFAR-10 binary data set for the big-network
smoke test: OUTDIR/cifar-10-batches-bin/data_batch_{1..5}.bin (512 records
in all) and test_batch.bin (128), records of 1 label byte + 3x32x32 pixels
(CHW).  Class k has its own colour (a palette of ten) with stripes of
period 2 + k // 3 * 2, horizontal for even k and vertical for odd, over
deterministic noise: a small ResNet tells the classes apart within a few
hundred steps, and crop/flip augmentation does not mix them up.
usage: make_cifar_data.py OUTDIR
       make_cifar_data.py --pack SIZE OUTDIR   (train.pack 512 / test.pack 128
       images of the same classes at SIZE x SIZE, docs/imagenet-pack.md)"""
import os
import struct
import sys
import zlib


def lcg(seed):
    x = seed
    while True:
        x = (x * 6364136223846793005 + 1442695040888963407) % (1 << 64)
        yield (x >> 33) & 0xFF


# a distinct colour per class: levels (0, 1, 2) per channel
PALETTE = [(2, 0, 0), (0, 2, 0), (0, 0, 2), (2, 2, 0), (2, 0, 2),
           (0, 2, 2), (1, 1, 1), (2, 1, 0), (0, 1, 2), (1, 0, 2)]


def record(k, rnd, size=32):
    period = 2 + (k // 3) * 2
    out = bytearray([k])
    phase = next(rnd) % period
    for ch in range(3):
        base = 30 + 60 * PALETTE[k][ch]
        for y in range(size):
            for x in range(size):
                v = base + next(rnd) // 4
                t = y if k % 2 == 0 else x
                if (t + phase) % period < max(1, period // 2):
                    v += 40
                out.append(min(v, 255))
    return out


def write_pack(path, n, size, rnd, label_of):
    """docs/imagenet-pack.md, version 1: the class patterns at size x size."""
    labels = bytearray()
    pixels = bytearray()
    for i in range(n):
        k = label_of(i)
        labels += struct.pack("<H", k)
        rec = record(k, rnd, size)
        pixels += rec[1:]
    header = b"EPR-PACK" + struct.pack("<IIHHHHII", 1, n, 3, size, size, 10, zlib.crc32(labels), 0)
    with open(path, "wb") as f:
        f.write(header + labels + pixels)


def main():
    if sys.argv[1] == "--pack":
        size, out = int(sys.argv[2]), sys.argv[3]
        rnd = lcg(777)
        write_pack(os.path.join(out, "train.pack"), 512, size, rnd, lambda i: i % 10)
        write_pack(os.path.join(out, "test.pack"), 128, size, rnd, lambda j: (j * 7) % 10)
        return
    d = os.path.join(sys.argv[1], "cifar-10-batches-bin")
    os.makedirs(d, exist_ok=True)
    rnd = lcg(12345)
    sizes = [103, 103, 102, 102, 102]
    i = 0
    for b, n in enumerate(sizes, 1):
        with open(os.path.join(d, f"data_batch_{b}.bin"), "wb") as f:
            for _ in range(n):
                f.write(record(i % 10, rnd))
                i += 1
    with open(os.path.join(d, "test_batch.bin"), "wb") as f:
        for j in range(128):
            f.write(record((j * 7) % 10, rnd))


main()
