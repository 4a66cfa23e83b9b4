#!/usr/bin/python3
"""bench/torch_lenet5.py — LeNet5-Caffe in PyTorch, for the round trip of
issue 16 (docs/interop.md):

  train:   train LeNet5-Caffe (epr's built-in spec: conv 5x5x20, max-pool,
           conv 5x5x50, max-pool, fc 800-500, ReLU, fc 500-10) on the
           mnist10k train split with Adam, save the state_dict (.pt);
  predict: load a .epr with python/eprfile (libepr-codec through ctypes),
           put its weights into the same torch module with
           load_state_dict(strict=True) and write one predicted class per
           test image, as `epr eval --predictions` does.

    /usr/bin/python3 bench/torch_lenet5.py train --data data/mnist10k --steps 2000 -o lenet5.pt
    /usr/bin/python3 bench/torch_lenet5.py predict model.epr --data data/mnist10k -o preds.txt

Inputs are scaled as epr does (byte / 255, no normalisation), so the
network trained here sees what `epr train` feeds it.  One thread, seeded."""
import argparse
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
import eprfile  # noqa: E402


class LeNet5Caffe(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 20, 5)
        self.conv2 = torch.nn.Conv2d(20, 50, 5)
        self.fc1 = torch.nn.Linear(800, 500)
        self.fc2 = torch.nn.Linear(500, 10)

    def forward(self, x):
        # no nonlinearity after the convolutions, as in Caffe's example
        h = F.max_pool2d(self.conv1(x), 2)
        h = F.max_pool2d(self.conv2(h), 2)
        return self.fc2(F.relu(self.fc1(h.flatten(1))))


def load_split(data, split):
    pre = "train" if split == "train" else "t10k"
    x = eprfile.read_idx_images(os.path.join(data, pre + "-images-idx3-ubyte"))
    y = eprfile.read_idx_labels(os.path.join(data, pre + "-labels-idx1-ubyte"))
    return torch.from_numpy(x.astype(np.float32) / np.float32(255.0)).unsqueeze(1), torch.from_numpy(y.astype(np.int64))


def predict_all(net, x):
    with torch.no_grad():
        return torch.cat([net(x[i:i + 500]).argmax(1) for i in range(0, len(x), 500)])


def cmd_train(a):
    torch.manual_seed(a.seed)
    x, y = load_split(a.data, "train")
    xt, yt = load_split(a.data, "test")
    net = LeNet5Caffe()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(a.seed)
    perm, pos = torch.randperm(len(x), generator=g), 0
    for step in range(1, a.steps + 1):
        if pos + a.batch > len(x):
            perm, pos = torch.randperm(len(x), generator=g), 0
        idx = perm[pos:pos + a.batch]
        pos += a.batch
        loss = F.cross_entropy(net(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 500 == 0 or step == a.steps:
            err = (predict_all(net, xt) != yt).float().mean().item()
            print("step %d loss %.4f test error %.2f%%" % (step, loss.item(), 100 * err), flush=True)
    if os.path.exists(a.out):
        raise SystemExit("torch_lenet5: %s exists; not overwriting it" % a.out)
    torch.save(net.state_dict(), a.out)
    print("wrote %s" % a.out)


def cmd_predict(a):
    m = eprfile.read(a.model)
    net = LeNet5Caffe()
    net.load_state_dict(eprfile.torch_state_dict(m), strict=True)
    net.eval()
    xt, yt = load_split(a.data, "test")
    p = predict_all(net, xt).numpy()
    with open(a.out, "w") as fh:
        fh.write("".join("%d\n" % v for v in p))
    print("%s: PyTorch test error %.2f%% (%d/%d wrong); predictions in %s"
          % (a.model, 100 * float((p != yt.numpy()).mean()), int((p != yt.numpy()).sum()), len(p), a.out))


def main():
    torch.set_num_threads(1)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("--data", required=True, help="directory of the mnist10k IDX files")
    t.add_argument("--steps", type=int, default=2000)
    t.add_argument("--batch", type=int, default=64)
    t.add_argument("--seed", type=int, default=1)
    t.add_argument("-o", "--out", required=True)
    p = sub.add_parser("predict")
    p.add_argument("model", help="a .epr of LeNet5-Caffe")
    p.add_argument("--data", required=True)
    p.add_argument("-o", "--out", required=True)
    a = ap.parse_args()
    cmd_train(a) if a.cmd == "train" else cmd_predict(a)


if __name__ == "__main__":
    main()
