#!/usr/bin/env python3
"""bench/synthetic_pack.py — an ImageNet-shaped pack of random images, written
from the layout table of docs/imagenet-pack.md alone (standard library only:
the GPU machine's python3 has no numpy), for timing `[data] set = pack` runs
where ImageNet itself is not (issue 15).

    python3 bench/synthetic_pack.py [--n N] [--classes K] [--size S] [--seed X] [--force] OUT.pack

N images (default 1280) of 3 x S x S random bytes (default S = 256, the size
`epr-pack` stores), labels uniform in 0..K-1 (default K = 1000); the same
seed gives the same bytes.  Writes OUT.pack.tmp, then renames it; an
existing OUT.pack is refused without --force.
"""
import argparse
import os
import random
import struct
import sys
import zlib


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out")
    ap.add_argument("--n", type=int, default=1280)
    ap.add_argument("--classes", type=int, default=1000)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--force", action="store_true", help="replace an existing OUT")
    a = ap.parse_args()
    if os.path.exists(a.out) and not a.force:
        sys.exit("synthetic_pack.py: %s exists; --force replaces it" % a.out)
    if not 1 <= a.n < 2**31:
        sys.exit("synthetic_pack.py: --n must be in 1 .. 2^31-1")
    if not 1 <= a.classes < 2**16 or not 1 <= a.size < 2**16:
        sys.exit("synthetic_pack.py: --classes and --size must be in 1 .. 65535")
    rng = random.Random(a.seed)
    labels = struct.pack("<%dH" % a.n, *(rng.randrange(a.classes) for _ in range(a.n)))
    header = b"EPR-PACK" + struct.pack("<IIHHHHII", 1, a.n, 3, a.size, a.size, a.classes,
                                       zlib.crc32(labels) & 0xFFFFFFFF, 0)
    assert len(header) == 32
    image = 3 * a.size * a.size
    tmp = a.out + ".tmp"
    with open(tmp, "wb") as f:
        f.write(header)
        f.write(labels)
        for _ in range(a.n):
            f.write(rng.randbytes(image))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, a.out)
    print("wrote %s: %d images of 3x%dx%d, %d classes, %d bytes" % (a.out, a.n, a.size, a.size, a.classes,
                                                                  32 + 2 * a.n + a.n * image))


if __name__ == "__main__":
    main()
