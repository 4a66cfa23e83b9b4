#!/usr/bin/python3
"""tests/interop/torch_resnet18.py — torchvision's ResNet-18 layout (conv1,
bn1, layer1..4 of BasicBlocks with conv1/bn1/conv2/bn2 and downsample.0/1,
fc) written with torch.nn alone (torchvision is not a Debian package here),
so its state_dict keys and shapes are torchvision's.

  make OUT.pt        random weights and batch-norm statistics, saved
  check OUT.pt EXPORTED.npz
                     the export of an epr run started from OUT.pt loads into
                     the module with load_state_dict(strict=True) through
                     eprfile.torch_state_dict, and every weight and bias is
                     the saved one (within 1e-8: one step of lr 1e-9)"""
import sys

import numpy as np
import torch

import eprfile


class Block(torch.nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(cout)
        self.relu = torch.nn.ReLU()
        self.conv2 = torch.nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = torch.nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = torch.nn.Sequential(torch.nn.Conv2d(cin, cout, 1, stride, bias=False),
                                                  torch.nn.BatchNorm2d(cout))


class ResNet18(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(64)
        self.relu = torch.nn.ReLU()
        self.maxpool = torch.nn.MaxPool2d(3, 2, 1)
        w = [64, 128, 256, 512]
        for i in range(4):
            cin = w[i - 1] if i else 64
            setattr(self, "layer%d" % (i + 1),
                    torch.nn.Sequential(Block(cin, w[i], 1 if i == 0 else 2), Block(w[i], w[i], 1)))
        self.avgpool = torch.nn.AdaptiveAvgPool2d(1)
        self.fc = torch.nn.Linear(512, 1000)


def make(out):
    torch.manual_seed(3)
    net = ResNet18()
    with torch.no_grad():
        for name, t in net.state_dict().items():
            if name.endswith("running_var"):
                t.uniform_(0.5, 2.0)
            elif name.endswith("running_mean") or (name.endswith(".bias") and "bn" in name):
                t.uniform_(-0.1, 0.1)
            elif name.endswith(".weight") and t.dim() == 1:  # gamma
                t.uniform_(0.5, 1.5)
    torch.save(net.state_dict(), out)
    print("%s: %d keys" % (out, len(net.state_dict())))


def check(pt, exported):
    want = torch.load(pt)
    with np.load(exported) as z:
        got = {k: z[k] for k in z.files}
    net = ResNet18()
    net.load_state_dict(eprfile.torch_state_dict(got), strict=True)
    sd = net.state_dict()
    worst = 0.0
    for k, v in want.items():
        if k.endswith(("running_mean", "running_var", "num_batches_tracked")):
            continue  # one training step moved them (momentum 0.1)
        worst = max(worst, float((sd[k] - v).abs().max()))
    if worst > 1e-8:
        sys.exit("FAIL: a weight moved by %g" % worst)
    print("torchvision-layout ResNet-18: %d keys loaded strictly; weights within %g" % (len(sd), worst))


if __name__ == "__main__":
    make(sys.argv[2]) if sys.argv[1] == "make" else check(sys.argv[2], sys.argv[3])
