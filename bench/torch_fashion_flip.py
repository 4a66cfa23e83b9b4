#!/usr/bin/env python3
"""bench/torch_fashion_flip.py — does the horizontal flip help or hurt
ResNet-20-4 on Fashion-MNIST?  A PyTorch check for the choice of
`[data] augment` in experiments/resnet20-4_fashion_*.ini (issue 15), made
on a GPU machine before epr's own GPU training path exists.

It is not epr: the network is written again in PyTorch after
src/nn/model.c's resnet20-4 (pre-activation, widths 16 / 64-128-256,
projection shortcuts from the pre-activated input, batch norm with gamma
fixed at 1, convolutions without bias; He-normal convolutions,
Glorot-uniform classifier), with the experiment file's data and schedule:
28x28 images zero-padded to 32x32 ([data] pad = 2), normalised with the
padded training set's mean and std, a random crop of the image padded by 4
more pixels (the padding is byte 0, normalised) with or without a
horizontal flip of probability 1/2; SGD momentum 0.9, lr 0.1, x0.2 at 1/2,
3/4 and 7/8 of the steps, batch 128, no weight decay; test error of the
EMA (0.999) weights with the live batch-norm statistics, as `epr train`
reports.  bf16 autocast (speed; epr trains in float32).

All configurations (augment x seed) train in lock step in one process;
the step count is --steps, or what fits in --seconds at the speed measured
over the first 30 steps (the schedule is laid out for that count).  Prints
one line per evaluation and a summary table; --out writes it as JSON.

    python3 bench/torch_fashion_flip.py --data data/fashion-mnist --seconds 420 --seeds 1,2
"""
import argparse
import gzip
import json
import math
import os
import struct
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def read_idx(path, images):
    raw = gzip.open(path).read()
    if images:
        magic, n, h, w = struct.unpack(">IIII", raw[:16])
        assert magic == 0x803, path
        return np.frombuffer(raw, np.uint8, offset=16).reshape(n, 1, h, w)
    magic, n = struct.unpack(">II", raw[:8])
    assert magic == 0x801, path
    return np.frombuffer(raw, np.uint8, offset=8).astype(np.int64)


def bn(c):
    b = nn.BatchNorm2d(c, momentum=0.1, eps=1e-5)
    b.weight.requires_grad_(False)  # gamma = 1 (src/nn/model.c)
    return b


class Block(nn.Module):
    def __init__(self, cin, cout, stride, proj):
        super().__init__()
        self.bn1, self.conv1 = bn(cin), nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn2, self.conv2 = bn(cout), nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.shortcut = nn.Conv2d(cin, cout, 1, stride, bias=False) if proj else None

    def forward(self, x):
        a = F.relu(self.bn1(x))
        y = self.conv2(F.relu(self.bn2(self.conv1(a))))
        return y + (self.shortcut(a) if self.shortcut is not None else x)


class ResNet20x4(nn.Module):
    def __init__(self, cin=1, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, 16, 3, 1, 1, bias=False)
        layers, c = [], 16
        for width, stride in ((64, 1), (128, 2), (256, 2)):
            for j in range(3):
                layers.append(Block(c, width, stride if j == 0 else 1, j == 0))
                c = width
        self.layers = nn.Sequential(*layers)
        self.bn_final, self.fc = bn(256), nn.Linear(256, classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            elif isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        x = F.relu(self.bn_final(self.layers(self.conv1(x))))
        return self.fc(x.mean((2, 3)))


def augment(x, zero, flip, gen):
    """x [B,1,32,32] normalised: a crop of x padded by 4 (value zero), flipped with p 1/2 if flip."""
    b, c, h, w = x.shape
    xp = F.pad(x, (4, 4, 4, 4), value=zero)
    oy = torch.randint(0, 9, (b,), device=x.device, generator=gen)
    ox = torch.randint(0, 9, (b,), device=x.device, generator=gen)
    r = torch.arange(h, device=x.device)
    rows = (oy[:, None] + r[None, :])[:, None, :, None].expand(b, c, h, w + 8)
    cols = ox[:, None] + r[None, :]
    if flip:
        m = torch.rand(b, device=x.device, generator=gen) < 0.5
        cols = torch.where(m[:, None], cols.flip(1), cols)
    xr = torch.gather(xp, 2, rows)
    return torch.gather(xr, 3, cols[:, None, None, :].expand(b, c, h, w))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="data/fashion-mnist")
    ap.add_argument("--steps", type=int, default=0, help="steps (0: what fits in --seconds, at most 20000)")
    ap.add_argument("--seconds", type=float, default=420)
    ap.add_argument("--seeds", default="1,2")
    ap.add_argument("--augments", default="crop-flip,crop")
    ap.add_argument("--evals", type=int, default=4, help="evaluations over the run")
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    dev = torch.device("cuda")
    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    d = a.data
    xtr = read_idx(os.path.join(d, "train-images-idx3-ubyte.gz"), True)
    ytr = read_idx(os.path.join(d, "train-labels-idx1-ubyte.gz"), False)
    xte = read_idx(os.path.join(d, "t10k-images-idx3-ubyte.gz"), True)
    yte = read_idx(os.path.join(d, "t10k-labels-idx1-ubyte.gz"), False)
    pad = lambda v: np.pad(v, ((0, 0), (0, 0), (2, 2), (2, 2)))  # [data] pad = 2, byte 0
    xtr, xte = pad(xtr), pad(xte)
    f = xtr.astype(np.float64) / 255.0
    mean, std = float(f.mean()), float(f.std())
    to = lambda v: ((torch.tensor(v, dtype=torch.float32, device=dev) / 255.0) - mean) / std
    Xtr, Xte = to(xtr), to(xte)
    Ytr, Yte = torch.tensor(ytr, device=dev), torch.tensor(yte, device=dev)
    zero = (0.0 - mean) / std
    print(f"train {tuple(Xtr.shape)} test {tuple(Xte.shape)} mean {mean:.6f} std {std:.6f}", flush=True)

    runs = []
    for aug in a.augments.split(","):
        for s in (int(v) for v in a.seeds.split(",")):
            torch.manual_seed(s)
            net = ResNet20x4().to(dev).to(memory_format=torch.channels_last)
            params = [p for p in net.parameters() if p.requires_grad]
            opt = torch.optim.SGD(params, lr=0.1, momentum=0.9)
            ema = [p.detach().clone() for p in params]
            g = torch.Generator(device=dev)
            g.manual_seed(1000 + s)
            gc = torch.Generator()
            gc.manual_seed(s)
            runs.append(dict(aug=aug, seed=s, net=net, params=params, opt=opt, ema=ema, gen=g, cpu_gen=gc,
                             perm=torch.randperm(len(Ytr), generator=gc).to(dev), pos=0, evals=[]))
    nparam = sum(p.numel() for p in runs[0]["net"].parameters())
    print(f"{len(runs)} runs of ResNet-20-4 ({nparam} parameters incl. frozen gamma)", flush=True)

    def step(r, lr):
        if r["pos"] + 128 > len(Ytr):
            r["perm"], r["pos"] = torch.randperm(len(Ytr), generator=r["cpu_gen"]).to(dev), 0
        idx = r["perm"][r["pos"]:r["pos"] + 128]
        r["pos"] += 128
        x = augment(Xtr[idx], zero, r["aug"] == "crop-flip", r["gen"]).contiguous(memory_format=torch.channels_last)
        for pg in r["opt"].param_groups:
            pg["lr"] = lr
        r["net"].train()
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = F.cross_entropy(r["net"](x), Ytr[idx])
        r["opt"].zero_grad(set_to_none=True)
        loss.backward()
        r["opt"].step()
        with torch.no_grad():
            torch._foreach_mul_(r["ema"], 0.999)
            torch._foreach_add_(r["ema"], r["params"], alpha=0.001)
        return loss

    @torch.no_grad()
    def evaluate(r):
        net = r["net"]
        live = [p.detach().clone() for p in r["params"]]
        for p, e in zip(r["params"], r["ema"]):
            p.copy_(e)
        net.eval()
        wrong = 0
        for i in range(0, len(Yte), 1000):
            with torch.autocast("cuda", dtype=torch.bfloat16):
                out = net(Xte[i:i + 1000].contiguous(memory_format=torch.channels_last))
            wrong += int((out.argmax(1) != Yte[i:i + 1000]).sum())
        for p, l in zip(r["params"], live):
            p.copy_(l)
        return wrong / len(Yte)

    # calibration: 30 lock steps at lr 0.1 (counted as steps of the run)
    t0 = time.time()
    warm = 30
    for k in range(warm):
        for r in runs:
            step(r, 0.1)
    torch.cuda.synchronize()
    t_warm = time.time() - t0
    per_lock = t_warm / warm
    steps = a.steps or max(1000, min(20000, int(a.seconds / (per_lock * 1.08)) // 100 * 100))
    miles = [steps // 2, steps * 3 // 4, steps * 7 // 8]
    print(f"calibration: {per_lock * 1000:.1f} ms per lock step of {len(runs)} runs "
          f"({128 * len(runs) / per_lock:.0f} img/s over all); steps {steps}, milestones {miles}", flush=True)
    eval_at = {int(steps * (k + 1) / a.evals) for k in range(a.evals)}
    t1 = time.time()
    for t in range(warm, steps):
        lr = 0.1 * 0.2 ** sum(t >= m for m in miles)
        for r in runs:
            step(r, lr)
        if t + 1 in eval_at:
            torch.cuda.synchronize()
            el = time.time() - t1
            line = []
            for r in runs:
                e = evaluate(r)
                r["evals"].append((t + 1, e))
                line.append(f"{r['aug']}/s{r['seed']} {100 * e:.2f}%")
            print(f"step {t + 1}/{steps} ({el:.0f} s): " + ", ".join(line), flush=True)
    torch.cuda.synchronize()
    wall = time.time() - t1 + t_warm
    print(f"\n{steps} steps of batch 128 per run, {wall:.0f} s for all {len(runs)} "
          f"({128 * steps * len(runs) / wall:.0f} img/s over all, {128 * steps / wall:.0f} img/s per run in lock step)")
    print("augment     seed  final test error (EMA)")
    summary = {}
    for r in runs:
        e = r["evals"][-1][1]
        summary.setdefault(r["aug"], []).append(e)
        print(f"{r['aug']:<11} {r['seed']:>4}  {100 * e:.2f}%")
    for aug, es in summary.items():
        print(f"{aug:<11} mean  {100 * sum(es) / len(es):.2f}%")
    if a.out:
        json.dump(dict(steps=steps, wall_s=wall, mean=mean, std=std, torch=torch.__version__,
                       device=torch.cuda.get_device_name(),
                       runs=[dict(augment=r["aug"], seed=r["seed"], evals=r["evals"]) for r in runs]),
                  open(a.out, "w"), indent=1)


if __name__ == "__main__":
    main()
