#!/usr/bin/env python3
"""tests/codec/reference_decoder.py -- a second .epr decoder, written from
docs/format.md alone (no code of libepr-codec consulted), in Python with
numpy: it parses the container, rebuilds the tables (histogram and density,
the latter with the document's deterministic exp/tanh/softplus), decodes
the rANS streams, applies the parameter decoders (the DFT basis by the
document's integer reduction and polynomials), and runs the network of a
harness file (§6-7) on IDX images.  If the document is exact, theta is
bitwise libepr-codec's and the predictions are `epr eval`'s.

usage:
  reference_decoder.py theta FILE.epr        one line per tensor: name n crc32(theta)
  reference_decoder.py predict FILE.epr IMAGES   one predicted class per line
                     (IMAGES: an IDX image file, or a CIFAR-10 batch *.bin)
  reference_decoder.py check-golden DIR      compares with DIR/expected.txt
"""
import math
import struct
import sys
import zlib

import numpy as np

F32 = np.float32


class Reader:
    def __init__(self, data, start, end):
        self.d, self.p, self.end = data, start, end

    def take(self, n, what):
        if self.p + n > self.end:
            raise ValueError("truncated: " + what)
        b = self.d[self.p:self.p + n]
        self.p += n
        return b

    def u8(self, w):
        return self.take(1, w)[0]

    def u16(self, w):
        return struct.unpack("<H", self.take(2, w))[0]

    def u32(self, w):
        return struct.unpack("<I", self.take(4, w))[0]

    def u64(self, w):
        return struct.unpack("<Q", self.take(8, w))[0]

    def f32s(self, n, w):
        return np.frombuffer(self.take(4 * n, w), dtype="<f4").astype(F32)

    def varint(self, w):
        acc = 0
        for i in range(10):
            c = self.u8(w)
            if i == 9 and c > 1:
                raise ValueError("varint over 64 bits: " + w)
            acc |= (c & 0x7F) << (7 * i)
            if not c & 0x80:
                if i > 0 and c == 0:
                    raise ValueError("non-canonical varint: " + w)
                return acc
        raise ValueError("varint too long: " + w)


# ---- §2.2 elementary functions, exactly as the document orders them ----
LN2_HI = 6.93147180369123816490e-01
LN2_LO = 1.90821492927058770002e-10
INV = [0.0] + [1.0 / k for k in range(1, 42)]


def expm1_poly(r):
    a = 1.0
    for k in range(15, 1, -1):
        a = 1.0 + r * a * INV[k]
    return r * a


def det_exp(x):
    if x != x:
        return x
    if x > 709.78:
        return math.inf
    if x < -745.2:
        return 0.0
    kap = x * 1.44269504088896338700
    n = int(kap + 0.5) if kap >= 0 else int(kap - 0.5)
    r = (x - n * LN2_HI) - n * LN2_LO
    e = 1.0 + expm1_poly(r)
    if n > 1023:
        return e * math.ldexp(1.0, 1023) * math.ldexp(1.0, n - 1023)
    if n < -1022:
        return e * math.ldexp(1.0, -1022) * math.ldexp(1.0, n + 1022)
    return e * math.ldexp(1.0, n)


def det_expm1(x):
    if -0.34 < x < 0.34:
        return expm1_poly(x)
    return det_exp(x) - 1.0


def log1p01(x):
    z = x / (2.0 + x)
    z2 = z * z
    a = INV[41]
    for k in range(19, -1, -1):
        a = INV[2 * k + 1] + z2 * a
    return 2.0 * z * a


def det_tanh(x):
    if x != x:
        return x
    ax = abs(x)
    if ax > 22:
        t = 1.0
    else:
        m = det_expm1(2.0 * ax)
        t = m / (m + 2.0)
    return -t if x < 0 else t


def softplus(x):
    return max(x, 0.0) + log1p01(det_exp(-abs(x)))


def sigmoid_pair(x):
    e = det_exp(-abs(x))
    d = 1.0 + e
    big, small = 1.0 / d, e / d
    return (big, small) if x >= 0 else (small, big)


def density_freqs(q, mn, K, p):
    q = [float(v) for v in q]  # float32 -> double, exact
    h0 = [softplus(q[i]) for i in range(3)]
    b0 = q[3:6]
    t0 = [det_tanh(v) for v in q[6:9]]
    h1 = [softplus(v) for v in q[9:18]]
    b1 = q[18:21]
    t1 = [det_tanh(v) for v in q[21:24]]
    h2 = [softplus(v) for v in q[24:33]]
    b2 = q[33:36]
    t2 = [det_tanh(v) for v in q[36:39]]
    h3 = [softplus(v) for v in q[39:42]]
    b3 = q[42]

    def logits(v):
        x = [0.0] * 3
        for i in range(3):
            x[i] = h0[i] * v + b0[i]
            x[i] = x[i] + t0[i] * det_tanh(x[i])
        for h, b, t in ((h1, b1, t1), (h2, b2, t2)):
            y = [0.0] * 3
            for i in range(3):
                y[i] = ((0.0 + h[3 * i] * x[0]) + h[3 * i + 1] * x[1]) + h[3 * i + 2] * x[2]
                y[i] = y[i] + b[i]
                y[i] = y[i] + t[i] * det_tanh(y[i])
            x = y
        return (((0.0 + h3[0] * x[0]) + h3[1] * x[1]) + h3[2] * x[2]) + b3

    u = [logits(float(mn + j) - 0.5) for j in range(K + 1)]
    P = []
    S = 0.0
    for k in range(K):
        lo, hi = u[k], u[k + 1]
        if lo + hi > 0:
            pk = sigmoid_pair(lo)[1] - sigmoid_pair(hi)[1]
        else:
            pk = sigmoid_pair(hi)[0] - sigmoid_pair(lo)[0]
        pk = abs(pk)
        if pk != pk or pk > 1:
            raise ValueError("invalid density table")
        P.append(pk)
        S = S + pk
    if not S > 0 or S > K:
        raise ValueError("invalid density table")
    M = 1 << p
    if K == 1:
        return [M]
    spare = M - K
    f, r = [], []
    for k in range(K):
        qk = P[k] / S * spare
        if not qk >= 0:
            qk = 0.0
        qk = min(qk, float(spare))
        fl = math.floor(qk)
        f.append(1 + fl)
        r.append(qk - fl)
    while sum(f) > M:
        f[max(range(K), key=lambda k: (f[k], -k))] -= 1
    if sum(f) < M:
        order = sorted(range(K), key=lambda k: (-r[k], k))
        i = 0
        while sum(f) < M:
            f[order[i % K]] += 1
            i += 1
    return f


# ---- §2 column tables ----
def read_column(r):
    kind, p = r.u8("kind"), r.u8("p")
    z = r.varint("zigzag(min)")
    mn = (z >> 1) ^ -(z & 1)
    K = r.varint("K-1") + 1
    if p > 16 or K > (1 << p):
        raise ValueError("bad support")
    if kind == 1:
        return {"p": p, "min": mn, "K": K, "freq": density_freqs(r.f32s(43, "density"), mn, K, p)}
    if K == 1:
        return {"p": p, "min": mn, "K": 1, "freq": [1 << p]}
    bits = {"byte": 0, "n": 0}

    def bit():
        if bits["n"] == 0:
            bits["byte"], bits["n"] = r.u8("frequencies"), 8
        b = bits["byte"] & 1
        bits["byte"] >>= 1
        bits["n"] -= 1
        return b

    k = 0
    for _ in range(4):
        k = k << 1 | bit()
    freq, total = [], 0
    for _ in range(K - 1):
        zeros = 0
        while bit() == 0:
            zeros += 1
        v = 1
        for _ in range(zeros + k):
            v = v << 1 | bit()
        freq.append(v - (1 << k) + 1)
        total += freq[-1]
    if bits["byte"]:
        raise ValueError("non-zero padding bits")
    freq.append((1 << p) - total)
    if freq[-1] < 1:
        raise ValueError("frequencies exceed 2^p")
    return {"p": p, "min": mn, "K": K, "freq": freq}


# ---- §4 DFT basis ----
HALF_PI = 1.57079632679489661923


def cos_sin(m, N):
    q, r = divmod(4 * m, N)
    swap = 2 * r > N
    rr = N - r if swap else r
    x = HALF_PI * (float(rr) / float(N))
    x2 = x * x
    ac = as_ = 1.0
    for k in range(11, 0, -1):
        ac = 1.0 - x2 * ac / (float(2 * k - 1) * float(2 * k))
        as_ = 1.0 - x2 * as_ / (float(2 * k) * float(2 * k + 1))
    C, S = ac, x * as_
    if swap:
        C, S = S, C
    return [(C, S), (-S, C), (-C, -S), (S, -C)][q]


def dft_basis(H, W):
    ell = H * W
    T = np.zeros((ell, ell), dtype=F32)
    s_self, s_pair = 1.0 / math.sqrt(float(ell)), math.sqrt(2.0 / float(ell))
    col = 0
    for u in range(H):
        for v in range(W):
            idx, cidx = u * W + v, ((H - u) % H) * W + (W - v) % W
            if cidx < idx:
                continue
            self_c = cidx == idx
            for y in range(H):
                for x in range(W):
                    m = ((u * y % H) * W + (v * x % W) * H) % ell
                    c, s = cos_sin(m, ell)
                    if self_c:
                        T[y * W + x, col] = F32(s_self * c) + F32(0)
                    else:
                        T[y * W + x, col] = F32(s_pair * c) + F32(0)
                        T[y * W + x, col + 1] = F32(s_pair * s) + F32(0)
            col += 1 if self_c else 2
    return T


# ---- §1 container, §3 rANS, §4 decoders ----
L = 1 << 23


def decode_phi(payload, n, cols):
    ell = len(cols)
    x = [struct.unpack("<I", payload[0:4])[0], struct.unpack("<I", payload[4:8])[0]]
    pos, end = 8, len(payload)
    tabs = []
    for c in cols:  # slot -> symbol, cum
        if c["K"] == 1:
            tabs.append(None)
            continue
        sym = np.repeat(np.arange(c["K"]), c["freq"])
        cum = np.concatenate([[0], np.cumsum(c["freq"])])
        tabs.append((sym.tolist(), cum.tolist(), c["freq"], c["p"], (1 << c["p"]) - 1))
    phi = np.empty(n, dtype=np.int64)
    for e in range(n):
        c = e % ell
        t = tabs[c]
        if t is None:
            phi[e] = cols[c]["min"]
            continue
        sym, cum, freq, p, mask = t
        st = x[e & 1]
        slot = st & mask
        s = sym[slot]
        st = freq[s] * (st >> p) + slot - cum[s]
        while st < L:
            if pos == end:
                raise ValueError("stream ends early")
            st = (st << 8) | payload[pos]
            pos += 1
        x[e & 1] = st
        phi[e] = cols[c]["min"] + s
    if x != [L, L] or pos != end:
        raise ValueError("corrupt stream")
    return phi


def parse(data):
    if data[:4] != b"EPR1" or struct.unpack("<H", data[4:6])[0] != 1:
        raise ValueError("not an EPR1 version 1 file")
    if struct.unpack("<I", data[-4:])[0] != zlib.crc32(data[:-4]):
        raise ValueError("CRC mismatch")
    r = Reader(data, 6, len(data) - 4)
    if r.u16("flags"):
        raise ValueError("flags")
    ng, nt = r.u32("n_groups"), r.u32("n_tensors")
    arch = r.take(r.u32("arch length"), "arch").decode("utf-8")
    groups = []
    for _ in range(ng):
        dec, store, kind, rsv, ell = r.u8("dec"), r.u8("store"), r.u8("kind"), r.u8("rsv"), r.u32("ell")
        if rsv:
            raise ValueError("reserved byte")
        g = {"dec": dec, "ell": ell, "T": None}
        if store == 1:
            g["T"] = dft_basis(r.u16("H"), r.u16("W"))
        if dec == 2:
            g["codebook"] = r.f32s(r.u32("K"), "codebook")
        else:
            g["s"], g["c"] = r.f32s(ell, "s"), r.f32s(ell, "c")
            if store == 2:
                g["T"] = r.f32s(ell * ell, "T").reshape(ell, ell)
        g["cols"] = [read_column(r) for _ in range(ell)]
        groups.append(g)
    tensors = []
    for _ in range(nt):
        name = r.take(r.u16("name length"), "name").decode("utf-8")
        ndim = r.u8("ndim")
        shape = [r.u64("shape") for _ in range(ndim)]
        grp = struct.unpack("<i", r.take(4, "group"))[0]
        payload = r.take(r.u64("length"), "payload")
        tensors.append({"name": name, "shape": shape, "group": grp, "payload": payload})
    if r.p != r.end:
        raise ValueError("bytes before the CRC")
    return arch, groups, tensors


def theta(t, groups):
    n = int(np.prod(t["shape"])) if t["shape"] else 1
    if t["group"] < 0:
        return np.frombuffer(t["payload"], dtype="<f4").astype(F32)
    g = groups[t["group"]]
    phi = decode_phi(t["payload"], n, g["cols"])
    if g["dec"] == 2:
        return g["codebook"][phi]
    ell = g["ell"]
    v = g["s"][None, :] * phi.reshape(-1, ell).astype(F32)  # float32 products
    if g["T"] is None:
        return (v + g["c"][None, :]).reshape(-1)
    out = np.empty_like(v)
    for q in range(ell):
        acc = np.zeros(v.shape[0], dtype=F32)
        for j in range(ell):
            acc = acc + g["T"][q, j] * v[:, j]
        out[:, q] = acc + g["c"][q]
    return out.reshape(-1)


# ---- §6-7 the network ----
def parse_arch(text):
    lines = text.split("\n")
    assert lines[0] == "epr-arch 1"
    c, h, w = (int(v) for v in lines[1].split()[1:4])
    pad = 0
    if lines[2].split()[:1] == ["pad"]:  # optional, P > 0 (§6)
        pad = int(lines[2].split()[1])
        assert 1 <= pad <= 64 and 2 * pad < h and 2 * pad < w
        del lines[2]
    nz = lines[2].split()
    mean = std = None
    if int(nz[1]):
        k = int(nz[1])
        mean = np.array([float(v) for v in nz[2:2 + k]], dtype=F32)
        std = np.array([float(v) for v in nz[2 + k:2 + 2 * k]], dtype=F32)
    assert lines[3] == "layers"
    spec = "\n".join(lines[4:])
    spec = "\n".join(l.split("#")[0] for l in spec.split("\n"))
    layers = []
    for e in spec.replace(";", "\n").split("\n"):
        tok = e.replace("\t", " ").replace("\r", " ").split()
        if not tok:
            continue
        L_ = {"type": tok[0]}
        for kv in tok[1:]:
            k, v = kv.split("=", 1)
            L_[k] = v
        L_.setdefault("name", "%s%d" % (tok[0], len(layers) + 1))
        layers.append(L_)
    return (c, h, w), pad, mean, std, layers


def run(arch, params, images):
    (C, H, W), P, mean, std, layers = parse_arch(arch)
    images = images.reshape(-1, C, H - 2 * P, W - 2 * P)
    if P:  # zero bytes around the stored image (§7)
        images = np.pad(images, ((0, 0), (0, 0), (P, P), (P, P)))
    x = (images.astype(F32) / F32(255)).reshape(-1, C, H, W)
    if mean is not None:
        x = (x - mean[None, :, None, None]) / std[None, :, None, None]
    outs = {}
    prev = x
    for L_ in layers:
        src = L_.get("in")
        inp = prev if src is None else (x if src == "input" else outs[src])
        t, nm = L_["type"], L_["name"]
        if t == "dense":
            a = inp.reshape(inp.shape[0], -1).astype(np.float64)
            y = a @ params[nm + ".weight"].astype(np.float64).reshape(int(L_["out"]), -1).T
            if int(L_.get("bias", 1)):
                y = y + params[nm + ".bias"]
            y = y.astype(F32).reshape(y.shape[0], -1, 1, 1)
        elif t == "conv":
            k, s, p, o = int(L_["k"]), int(L_.get("stride", 1)), int(L_.get("pad", 0)), int(L_["out"])
            n, c, h, w = inp.shape
            xp = np.pad(inp, ((0, 0), (0, 0), (p, p), (p, p))).astype(np.float64)
            oh, ow = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
            Wt = params[nm + ".weight"].astype(np.float64).reshape(o, c, k, k)
            y = np.zeros((n, o, oh, ow))
            for a in range(k):
                for b in range(k):
                    patch = xp[:, :, a:a + s * (oh - 1) + 1:s, b:b + s * (ow - 1) + 1:s]
                    y += np.einsum("nchw,oc->nohw", patch, Wt[:, :, a, b])
            if int(L_.get("bias", 1)):
                y += params[nm + ".bias"].astype(np.float64)[None, :, None, None]
            y = y.astype(F32)
        elif t == "maxpool":
            k = int(L_["k"]); s = int(L_.get("stride", k)); p = int(L_.get("pad", 0))
            n, c, h, w = inp.shape
            xp = np.pad(inp, ((0, 0), (0, 0), (p, p), (p, p)), constant_values=-np.inf)
            oh, ow = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
            y = np.full((n, c, oh, ow), -np.inf, dtype=F32)
            for a in range(k):
                for b in range(k):
                    y = np.maximum(y, xp[:, :, a:a + s * (oh - 1) + 1:s, b:b + s * (ow - 1) + 1:s])
        elif t == "avgpool":
            k = int(L_["k"]); s = int(L_.get("stride", k))
            n, c, h, w = inp.shape
            oh, ow = (h - k) // s + 1, (w - k) // s + 1
            y = np.zeros((n, c, oh, ow), dtype=F32)
            for a in range(k):
                for b in range(k):
                    y = y + inp[:, :, a:a + s * (oh - 1) + 1:s, b:b + s * (ow - 1) + 1:s]
            y = y * F32(1.0 / (k * k))
        elif t == "gap":
            y = (inp.sum(axis=(2, 3), dtype=F32) * F32(1.0 / (inp.shape[2] * inp.shape[3])))[:, :, None, None]
        elif t == "relu":
            y = np.where(inp > 0, inp, F32(0))
        elif t == "batchnorm":
            eps = F32(float(L_.get("eps", "1e-5")))
            inv = F32(1) / np.sqrt(params[nm + ".running_var"] + eps)
            y = (inp - params[nm + ".running_mean"][None, :, None, None]) * inv[None, :, None, None]
            if L_.get("affine", "0") == "1":  # learnable gamma
                y = y * params[nm + ".weight"][None, :, None, None]
            y = y + params[nm + ".bias"][None, :, None, None]
        elif t == "add":
            y = inp + (x if L_["with"] == "input" else outs[L_["with"]])
        elif t == "flatten":
            y = inp.reshape(inp.shape[0], -1, 1, 1)
        else:
            raise ValueError("unknown layer " + t)
        outs[nm] = y
        prev = y
    logits = prev.reshape(prev.shape[0], -1)
    return np.argmax(logits, axis=1)  # first maximum on ties


def read_idx_images(path):
    d = open(path, "rb").read()
    n, h, w = struct.unpack(">III", d[4:16])
    return np.frombuffer(d[16:16 + n * h * w], dtype=np.uint8).reshape(n, h * w)


def read_cifar_images(path):
    d = np.frombuffer(open(path, "rb").read(), dtype=np.uint8).reshape(-1, 3073)
    return d[:, 1:]  # CHW pixels after the label byte


def main():
    cmd = sys.argv[1]
    if cmd == "theta":
        arch, groups, tensors = parse(open(sys.argv[2], "rb").read())
        for t in tensors:
            th = theta(t, groups)
            print(t["name"], th.size, "%08x" % zlib.crc32(th.astype("<f4").tobytes()))
    elif cmd == "predict":
        arch, groups, tensors = parse(open(sys.argv[2], "rb").read())
        params = {t["name"]: theta(t, groups) for t in tensors}
        path = sys.argv[3]
        images = read_cifar_images(path) if path.endswith(".bin") else read_idx_images(path)
        for p in run(arch, params, images):
            print(int(p))
    elif cmd == "check-golden":
        d = sys.argv[2]
        bad = checked = 0
        for line in open(d + "/expected.txt"):
            if line.startswith("#"):
                continue
            f, name, n, crc = line.split()[:4]
            arch, groups, tensors = parse(open(d + "/" + f, "rb").read())
            t = next(t for t in tensors if t["name"] == name)
            got = "%08x" % zlib.crc32(theta(t, groups).astype("<f4").tobytes())
            checked += 1
            if got != crc.lower().rjust(8, "0"):
                print("MISMATCH %s %s: %s, expected %s" % (f, name, got, crc))
                bad += 1
        print("%d tensors checked, %d mismatches" % (checked, bad))
        sys.exit(1 if bad or not checked else 0)


if __name__ == "__main__":
    main()
