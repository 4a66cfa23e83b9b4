#!/usr/bin/python3
"""bench/torch_train.py — the PyTorch baseline for bench/bench_train.c.

Training throughput, one thread (torch.set_num_threads(1),
torch.set_num_interop_threads(1)), of
  plain: forward, backward, Adam, EMA of the parameters;
  epr:   a straightforward PyTorch EPR step (DESIGN.md section 1): per group a
         latent vartheta in theta units, log s and b; phi_hat = vartheta/s,
         theta = s*round_ST(phi_hat) + b (straight-through round); the deep
         factorized density (filters 3,3,3) of each group evaluated on
         phi_hat + U(-1/2,1/2) for all of the group's values at once;
         loss = mean CE + lambda * bits; backward; Adam on the network
         parameters, a second Adam on the density parameters; EMA.
Written as a competent user would (vectorised over a group's values, no
Python loops over elements); the networks match nn_builtin_spec in
src/nn/model.c, the groups and settings experiments/<net>_mnist10k.ini.

Data: 8,004 random 28x28 images and labels (the mnist10k train split's
shape), a batch drawn per step from a shuffled permutation, as bench_train.

Output: one line per configuration, the format of bench_train:
  impl=torch net=... batch=... mode=... img/s=... ms/step=... min_ms=... ...
Run with /usr/bin/python3 (Debian's python3-torch)."""
import argparse
import math
import statistics
import sys
import time

import torch
import torch.nn.functional as F

# ---- settings of experiments/<net>_mnist10k.ini ----
LR, BETAS, EPS = 1e-3, (0.9, 0.999), 1e-8
DENSITY_LR = 1e-3
LAMBDA = 3e-6
EMA_DECAY = 0.999
LOG_STEP = -4.0
LIKELIHOOD_BOUND = 1e-9

# (name, shape) of every tensor, in the order of src/nn's built-in spec.
SHAPES = {
    "lenet300-100": [
        ("fc1.weight", (300, 784)), ("fc1.bias", (300,)),
        ("fc2.weight", (100, 300)), ("fc2.bias", (100,)),
        ("fc3.weight", (10, 100)), ("fc3.bias", (10,)),
    ],
    "lenet5-caffe": [
        ("conv1.weight", (20, 1, 5, 5)), ("conv1.bias", (20,)),
        ("conv2.weight", (50, 20, 5, 5)), ("conv2.bias", (50,)),
        ("fc1.weight", (500, 800)), ("fc1.bias", (500,)),
        ("fc2.weight", (10, 500)), ("fc2.bias", (10,)),
    ],
}
GROUPS = {
    "lenet300-100": [["fc1.weight", "fc2.weight"], ["fc3.weight"], ["fc1.bias", "fc2.bias", "fc3.bias"]],
    "lenet5-caffe": [["conv1.weight", "conv2.weight"], ["fc1.weight"], ["fc2.weight"],
                     ["conv1.bias", "conv2.bias", "fc1.bias", "fc2.bias"]],
}


def forward(net, p, x):
    """Logits of the built-in net with parameters p (a dict name -> tensor)."""
    if net == "lenet300-100":
        h = F.relu(F.linear(x.flatten(1), p["fc1.weight"], p["fc1.bias"]))
        h = F.relu(F.linear(h, p["fc2.weight"], p["fc2.bias"]))
        return F.linear(h, p["fc3.weight"], p["fc3.bias"])
    # LeNet5-Caffe: no nonlinearity after the convolutions, as in Caffe's example
    h = F.max_pool2d(F.conv2d(x, p["conv1.weight"], p["conv1.bias"]), 2)
    h = F.max_pool2d(F.conv2d(h, p["conv2.weight"], p["conv2.bias"]), 2)
    h = F.relu(F.linear(h.flatten(1), p["fc1.weight"], p["fc1.bias"]))
    return F.linear(h, p["fc2.weight"], p["fc2.bias"])


def init_params(net, gen):
    """Glorot-uniform dense, He-normal conv, zero biases (as nn_model_init_params)."""
    p = {}
    for name, shape in SHAPES[net]:
        t = torch.empty(shape)
        if name.endswith(".bias"):
            t.zero_()
        elif len(shape) == 4:
            fan_in = shape[1] * shape[2] * shape[3]
            t.normal_(0.0, math.sqrt(2.0 / fan_in), generator=gen)
        else:
            a = math.sqrt(6.0 / (shape[0] + shape[1]))
            t.uniform_(-a, a, generator=gen)
        p[name] = t
    return p


# ---- the deep factorized density, filters (3, 3, 3) ----
class LowerBound(torch.autograd.Function):
    """max(x, bound); the gradient passes where x >= bound or where it
    points towards increasing x (tfc's lower_bound)."""

    @staticmethod
    def forward(ctx, x, bound):
        ctx.save_for_backward(x)
        ctx.bound = bound
        return x.clamp(min=bound)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * ((x >= ctx.bound) | (g < 0)).to(g.dtype), None


class Density(torch.nn.Module):
    """Univariate deep factorized density (Balle et al. 2018, appendix 6.1)."""

    def __init__(self, gen, init_scale=10.0, filters=(3, 3, 3)):
        super().__init__()
        widths = (1,) + tuple(filters) + (1,)
        scale = init_scale ** (1.0 / (len(filters) + 1))
        self.H = torch.nn.ParameterList()
        self.b = torch.nn.ParameterList()
        self.a = torch.nn.ParameterList()
        for k in range(len(filters) + 1):
            init = math.log(math.expm1(1.0 / scale / widths[k + 1]))
            self.H.append(torch.nn.Parameter(torch.full((widths[k + 1], widths[k]), init)))
            self.b.append(torch.nn.Parameter(torch.rand(widths[k + 1], 1, generator=gen) - 0.5))
            if k < len(filters):
                self.a.append(torch.nn.Parameter(torch.zeros(widths[k + 1], 1)))

    def logits(self, x):  # x [1, n] -> cumulative logits [1, n]
        for k in range(len(self.H)):
            x = F.softplus(self.H[k]) @ x + self.b[k]
            if k < len(self.a):
                x = x + torch.tanh(self.a[k]) * torch.tanh(x)
        return x

    def bits(self, y):  # y [n] -> sum of -log2 p(y)
        n = y.numel()
        both = self.logits(torch.cat([y - 0.5, y + 0.5]).unsqueeze(0)).squeeze(0)
        lower, upper = both[:n], both[n:]
        sign = torch.where(lower + upper > 0, -1.0, 1.0).detach()
        p = torch.abs(torch.sigmoid(sign * upper) - torch.sigmoid(sign * lower))
        p = LowerBound.apply(p, LIKELIHOOD_BOUND)
        return -torch.log2(p).sum()


class EPRModel:
    """Per group: latent vartheta (theta units, the group's tensors
    concatenated), log s, b and a density."""

    def __init__(self, net, gen):
        self.net = net
        theta = init_params(net, gen)
        self.shapes = dict(SHAPES[net])
        self.groups = []
        for names in GROUPS[net]:
            latent = torch.cat([theta[n].flatten() for n in names]).clone().requires_grad_()
            log_s = torch.tensor(LOG_STEP, requires_grad=True)
            b = torch.tensor(0.0, requires_grad=True)
            self.groups.append((names, latent, log_s, b, Density(gen)))
        self.net_params = [t for g in self.groups for t in g[1:4]]
        self.density_params = [q for g in self.groups for q in g[4].parameters()]

    def decode(self):
        """theta of every tensor, and the noisy rate in bits (differentiable)."""
        p, bits = {}, 0.0
        for names, latent, log_s, b, density in self.groups:
            s = torch.exp(log_s)
            phi_hat = latent / s
            phi_st = phi_hat + (torch.round(phi_hat) - phi_hat).detach()
            theta = s * phi_st + b
            off = 0
            for n in names:
                size = math.prod(self.shapes[n])
                p[n] = theta[off:off + size].view(self.shapes[n])
                off += size
            noisy = phi_hat + (torch.rand_like(phi_hat) - 0.5)
            bits = bits + density.bits(noisy)
        return p, bits


def ema_update(ema, params, step):
    d = min(EMA_DECAY, (1.0 + step) / (10.0 + step))  # the trainer's warm-up
    with torch.no_grad():
        for e, q in zip(ema, params):
            e.mul_(d).add_(q, alpha=1.0 - d)


def make_step(net, mode, gen):
    if mode == "plain":
        p = init_params(net, gen)
        params = [t.requires_grad_() for t in p.values()]
        opt = torch.optim.Adam(params, lr=LR, betas=BETAS, eps=EPS)
        ema = [q.detach().clone() for q in params]
        state = {"t": 0}

        def step(x, y):
            loss = F.cross_entropy(forward(net, p, x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            ema_update(ema, params, state["t"])
            state["t"] += 1
            return 0.0
        return step

    model = EPRModel(net, gen)
    opt = torch.optim.Adam(model.net_params, lr=LR, betas=BETAS, eps=EPS)
    dopt = torch.optim.Adam(model.density_params, lr=DENSITY_LR, betas=(0.9, 0.999), eps=1e-8)
    ema = [q.detach().clone() for q in model.net_params]
    state = {"t": 0}

    def step(x, y):
        p, bits = model.decode()
        loss = F.cross_entropy(forward(net, p, x), y) + LAMBDA * bits
        opt.zero_grad(set_to_none=True)
        dopt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        dopt.step()
        ema_update(ema, model.net_params, state["t"])
        state["t"] += 1
        return float(bits)
    return step


def bench(net, batch, mode, steps, warmup, repeats):
    gen = torch.Generator().manual_seed(1)
    images = torch.randint(0, 256, (8004, 1, 28, 28), dtype=torch.uint8, generator=gen)
    labels = torch.randint(0, 10, (8004,), generator=gen)
    perm = torch.randperm(8004, generator=gen)
    pos = 0

    def batch_at():
        nonlocal perm, pos
        if pos + batch > perm.numel():
            perm, pos = torch.randperm(8004, generator=gen), 0
        idx = perm[pos:pos + batch]
        pos += batch
        return images[idx].float().div_(255.0), labels[idx]

    step = make_step(net, mode, gen)
    for _ in range(warmup):
        step(*batch_at())
    ms, cpu, bits = [], [], 0.0
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(steps):
            bits = step(*batch_at())
        ms.append(1e3 * (time.perf_counter() - t0) / steps)
        cpu.append(1e3 * (time.process_time() - c0) / steps)
    m = statistics.median(ms)
    print(f"impl=torch net={net} batch={batch} mode={mode} img/s={batch * 1e3 / m:.1f} ms/step={m:.3f} "
          f"min_ms={min(ms):.3f} max_ms={max(ms):.3f} cpu_ms={statistics.median(cpu):.3f} repeats={repeats} "
          f"steps={steps} bits={bits:.0f}", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--net", default="all", choices=["all", "lenet300-100", "lenet5-caffe"])
    ap.add_argument("--batch", default="all", help="batch size, or 'all' for 64 and 128")
    ap.add_argument("--mode", default="all", choices=["all", "plain", "epr"])
    ap.add_argument("--steps", type=int, default=0, help="steps per repeat (default: plain 100, epr 20)")
    ap.add_argument("--warmup", type=int, default=-1, help="warm-up steps (default: plain 10, epr 3)")
    ap.add_argument("--repeats", type=int, default=5, help="timed repeats; the median is reported")
    ap.add_argument("--memory", action="store_true", help="not implemented for PyTorch (bench_train only)")
    a = ap.parse_args()
    if a.memory:
        print("torch_train.py: --memory is measured by bench_train only", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    nets = ["lenet300-100", "lenet5-caffe"] if a.net == "all" else [a.net]
    batches = [64, 128] if a.batch == "all" else [int(a.batch)]
    modes = ["plain", "epr"] if a.mode == "all" else [a.mode]
    for net in nets:
        for b in batches:
            for mode in modes:
                steps = a.steps or (100 if mode == "plain" else 20)
                warmup = a.warmup if a.warmup >= 0 else (10 if mode == "plain" else 3)
                bench(net, b, mode, steps, warmup, a.repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
