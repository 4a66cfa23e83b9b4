#!/usr/bin/python3
"""bench/torch_gpu_nn.py — the PyTorch eager baseline for bench/bench_gpu_nn.c.

The same networks as nn_builtin_spec (src/nn/model.c): lenet300-100,
lenet5-caffe, resnet20-4 (pre-activation, x4 wide), vgg16-cifar (13 conv +
3 fc), resnet18/resnet50 (torchvision's layout, written out here); batch
norm has gamma fixed at 1 (requires_grad False) as in epr, convolutions
before batch norm have no bias.  One step: forward, cross-entropy (mean),
backward, Adam (torch.optim.Adam, its default foreach implementation on
CUDA).  Synthetic data made once on the GPU; no .item() per step.
cudnn.benchmark = True (a competent user's setting).  Each configuration is
timed twice: torch's defaults (cuDNN convolutions may use TF32) and with
TF32 off everywhere (the precision epr-cuda computes in).

  python3 bench/torch_gpu_nn.py [NET:BATCH[:SIZE] ...] [--seconds S]

Output: impl=torch-<tf32|fp32> net=... batch=... img/s=... ms/step=... steps=... mem_mb=...
(mem_mb: torch.cuda.max_memory_allocated, the caching allocator's peak)."""
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def bn(c, d2=True):
    b = nn.BatchNorm2d(c) if d2 else nn.BatchNorm1d(c)
    b.weight.requires_grad_(False)
    return b


def lenet300():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 300), nn.ReLU(), nn.Linear(300, 100), nn.ReLU(),
                         nn.Linear(100, 10))


def lenet5():
    return nn.Sequential(nn.Conv2d(1, 20, 5), nn.MaxPool2d(2), nn.Conv2d(20, 50, 5), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(800, 500), nn.ReLU(), nn.Linear(500, 10))


def vgg16():
    layers, c = [], 3
    for v in [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]:
        if v == "M":
            layers.append(nn.MaxPool2d(2))
        else:
            layers += [nn.Conv2d(c, v, 3, padding=1, bias=False), bn(v), nn.ReLU(inplace=True)]
            c = v
    layers += [nn.Flatten(), nn.Linear(512, 512, bias=False), bn(512, False), nn.ReLU(inplace=True),
               nn.Linear(512, 512, bias=False), bn(512, False), nn.ReLU(inplace=True), nn.Linear(512, 10)]
    return nn.Sequential(*layers)


class PreAct(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.bn1, self.conv1 = bn(cin), nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn2, self.conv2 = bn(cout), nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.short = nn.Conv2d(cin, cout, 1, stride, bias=False) if stride != 1 or cin != cout else None

    def forward(self, x):
        a = F.relu(self.bn1(x))
        y = self.conv2(F.relu(self.bn2(self.conv1(a))))
        return y + (self.short(a) if self.short is not None else x)


class ResNet20x4(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        blocks, c = [], 16
        for w, s in [(64, 1), (128, 2), (256, 2)]:
            for i in range(3):
                blocks.append(PreAct(c, w, s if i == 0 else 1))
                c = w
        self.blocks, self.bn, self.fc = nn.Sequential(*blocks), bn(256), nn.Linear(256, 10)

    def forward(self, x):
        h = F.relu(self.bn(self.blocks(self.conv1(x))))
        return self.fc(F.adaptive_avg_pool2d(h, 1).flatten(1))


class Basic(nn.Module):
    exp = 1

    def __init__(self, cin, c, stride):
        super().__init__()
        self.c1, self.b1 = nn.Conv2d(cin, c, 3, stride, 1, bias=False), bn(c)
        self.c2, self.b2 = nn.Conv2d(c, c, 3, 1, 1, bias=False), bn(c)
        self.down = (nn.Sequential(nn.Conv2d(cin, c, 1, stride, bias=False), bn(c))
                     if stride != 1 or cin != c else None)

    def forward(self, x):
        y = self.b2(self.c2(F.relu(self.b1(self.c1(x)))))
        return F.relu(y + (self.down(x) if self.down is not None else x))


class Bottle(nn.Module):
    exp = 4

    def __init__(self, cin, c, stride):
        super().__init__()
        self.c1, self.b1 = nn.Conv2d(cin, c, 1, bias=False), bn(c)
        self.c2, self.b2 = nn.Conv2d(c, c, 3, stride, 1, bias=False), bn(c)
        self.c3, self.b3 = nn.Conv2d(c, 4 * c, 1, bias=False), bn(4 * c)
        self.down = (nn.Sequential(nn.Conv2d(cin, 4 * c, 1, stride, bias=False), bn(4 * c))
                     if stride != 1 or cin != 4 * c else None)

    def forward(self, x):
        y = F.relu(self.b1(self.c1(x)))
        y = self.b3(self.c3(F.relu(self.b2(self.c2(y)))))
        return F.relu(y + (self.down(x) if self.down is not None else x))


def imagenet_resnet(block, counts):
    layers = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), bn(64), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1)]
    cin = 64
    for i, (w, n) in enumerate(zip([64, 128, 256, 512], counts)):
        for j in range(n):
            layers.append(block(cin, w, 2 if (i > 0 and j == 0) else 1))
            cin = w * block.exp
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, 1000)]
    return nn.Sequential(*layers)


NETS = {
    "lenet300-100": (lenet300, 1, 28), "lenet5-caffe": (lenet5, 1, 28), "vgg16-cifar": (vgg16, 3, 32),
    "resnet20-4": (ResNet20x4, 3, 32), "resnet18": (lambda: imagenet_resnet(Basic, [2, 2, 2, 2]), 3, 224),
    "resnet50": (lambda: imagenet_resnet(Bottle, [3, 4, 6, 3]), 3, 224),
}


def bench(net, batch, size, seconds, tf32):
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cuda.matmul.allow_tf32 = False  # torch's default
    make, ch, default = NETS[net]
    size = size or default
    torch.manual_seed(1)
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    model = make().cuda().train()
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    x = torch.rand(batch, ch, size, size, device="cuda")
    y = torch.randint(0, 1000 if size == 224 else 10, (batch,), device="cuda")

    def step():
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss

    for _ in range(5):
        step()
    torch.cuda.synchronize()
    steps, t0 = 0, time.perf_counter()
    t1 = t0
    while t1 - t0 < seconds or steps < 10:
        for _ in range(10):
            loss = step()
        steps += 10
        torch.cuda.synchronize()
        t1 = time.perf_counter()
    ms = 1e3 * (t1 - t0) / steps
    mem = torch.cuda.max_memory_allocated() / 2**20
    print(f"impl=torch-{'tf32' if tf32 else 'fp32'} net={net} batch={batch} size={size} img/s={batch * 1e3 / ms:.1f} "
          f"ms/step={ms:.3f} steps={steps} mem_mb={mem:.0f} loss={float(loss.detach()):.4f}", flush=True)
    del model, opt, x, y


def main():
    args, seconds, i = [], 2.0, 1
    while i < len(sys.argv):
        if sys.argv[i] == "--seconds":
            seconds, i = float(sys.argv[i + 1]), i + 2
        else:
            args.append(sys.argv[i])
            i += 1
    args = args or ["lenet300-100:64", "lenet300-100:128", "lenet5-caffe:64", "lenet5-caffe:128",
                    "resnet20-4:128", "vgg16-cifar:128"]
    torch.backends.cudnn.benchmark = True
    print(f"torch {torch.__version__} cuda {torch.version.cuda} cudnn {torch.backends.cudnn.version()} "
          f"device {torch.cuda.get_device_name(0)}", flush=True)
    for a in args:
        parts = a.split(":")
        net, batch, size = parts[0], int(parts[1]), int(parts[2]) if len(parts) > 2 else 0
        for tf32 in (True, False):
            bench(net, batch, size, seconds, tf32)
    return 0


if __name__ == "__main__":
    sys.exit(main())
