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
Run with /usr/bin/python3 (Debian's python3-torch).

--device cuda: the same step on the GPU (impl=torch-cuda), the counterpart
of `bench_train --device cuda`, eager mode as a competent user writes it:
synthetic data resident on the GPU (uint8 images, a batch gathered per step
by a GPU permutation), no host synchronisation inside the step, fused Adam /
SGD, EMA by torch._foreach_lerp_, cudnn.benchmark on, TF32 off everywhere
(the precision epr's GPU path computes in).  Networks: the LeNets as above,
and vgg16-cifar, resnet20-4 (3x32x32), resnet18, resnet50 (3x224x224) as the
nn.Modules of bench/torch_gpu_nn.py (batch norm gamma fixed at 1).  Their EPR
step (ModuleEPR) follows the groups of experiments/*_dft.ini by rule: every
3x3 convolution in one conv-affine group with the orthonormal real 2-D DFT
over 3x3 (theta_row = T (s * round_ST(vartheta_row / s)) + c, nine columns,
nine densities evaluated at once as a batch of 9), the other convolution
weights one affine group per kernel size, each dense weight its own affine
group, biases and batch-norm betas uncompressed; the network segment by SGD
(momentum 0.9) as those experiments, the decoder parameters and densities
by Adam.  mem_mb: torch.cuda.max_memory_allocated (reserved_mb: the caching
allocator's max_memory_reserved)."""
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


# ---- the GPU step (--device cuda) ----
BIG = {"vgg16-cifar": (3, 32, 10, 8004), "resnet20-4": (3, 32, 10, 8004),
       "resnet18": (3, 224, 1000, 512), "resnet50": (3, 224, 1000, 512)}


class DensityBank(torch.nn.Module):
    """ell deep factorized densities (one per column) evaluated together:
    the Density above with a leading batch dimension of ell."""

    def __init__(self, ell, gen, init_scale=10.0, filters=(3, 3, 3)):
        super().__init__()
        widths = (1,) + tuple(filters) + (1,)
        scale = init_scale ** (1.0 / (len(filters) + 1))
        self.H, self.b, self.a = torch.nn.ParameterList(), torch.nn.ParameterList(), torch.nn.ParameterList()
        for k in range(len(filters) + 1):
            init = math.log(math.expm1(1.0 / scale / widths[k + 1]))
            self.H.append(torch.nn.Parameter(torch.full((ell, widths[k + 1], widths[k]), init)))
            self.b.append(torch.nn.Parameter(torch.rand(ell, widths[k + 1], 1, generator=gen) - 0.5))
            if k < len(filters):
                self.a.append(torch.nn.Parameter(torch.zeros(ell, widths[k + 1], 1)))

    def bits(self, y):  # y [ell, n] -> sum of -log2 p(y)
        n = y.shape[1]
        x = torch.cat([y - 0.5, y + 0.5], dim=1).unsqueeze(1)  # [ell, 1, 2n]
        for k in range(len(self.H)):
            x = torch.baddbmm(self.b[k], F.softplus(self.H[k]), x)
            if k < len(self.a):
                x = x + torch.tanh(self.a[k]) * torch.tanh(x)
        lower, upper = x[:, 0, :n], x[:, 0, n:]
        sign = torch.where(lower + upper > 0, -1.0, 1.0).detach()
        p = torch.abs(torch.sigmoid(sign * upper) - torch.sigmoid(sign * lower))
        return -torch.log2(LowerBound.apply(p, LIKELIHOOD_BOUND)).sum()


def dft3x3():
    """Orthonormal real basis of the 2-D DFT over 3x3 (rows), 9x9."""
    c = [1 / math.sqrt(3)] * 3
    d = [[c[0]] * 3, [math.sqrt(2 / 3) * math.cos(2 * math.pi * k / 3) for k in range(3)],
         [math.sqrt(2 / 3) * math.sin(2 * math.pi * k / 3) for k in range(3)]]
    d1 = torch.tensor(d)
    return torch.kron(d1, d1)


class ModuleEPR:
    """EPR over an nn.Module's parameters (groups by rule, see the module
    docstring); forward through torch.func.functional_call."""

    def __init__(self, model, gen, dev):
        self.model = model
        named = [(n, q) for n, q in model.named_parameters() if q.requires_grad]
        dft = [(n, q) for n, q in named if q.dim() == 4 and tuple(q.shape[2:]) == (3, 3)]
        other = {}
        for n, q in named:
            if q.dim() == 4 and tuple(q.shape[2:]) != (3, 3):
                other.setdefault(tuple(q.shape[2:]), []).append((n, q))
            elif q.dim() == 2:
                other[n] = [(n, q)]
        self.compressed = {n for n, _ in dft} | {n for g in other.values() for n, _ in g}
        self.uncompressed = [q for n, q in named if n not in self.compressed]
        self.groups = []  # (names, shapes, latent, log_s, offset, density, T or None)
        s0 = torch.tensor(LOG_STEP)
        if dft:
            T = dft3x3().to(dev)
            rows = torch.cat([q.detach().reshape(-1, 9) for _, q in dft])
            latent = (rows @ T).clone().requires_grad_()  # T^-1 (theta - c), c = 0
            self.groups.append(([n for n, _ in dft], [q.shape for _, q in dft], latent,
                                torch.full((9,), LOG_STEP, device=dev, requires_grad=True),
                                torch.zeros(9, device=dev, requires_grad=True), DensityBank(9, gen).to(dev), T))
        for g in other.values():
            latent = torch.cat([q.detach().flatten() for _, q in g]).clone().requires_grad_()
            self.groups.append(([n for n, _ in g], [q.shape for _, q in g], latent,
                                s0.clone().to(dev).requires_grad_(), torch.zeros((), device=dev, requires_grad=True),
                                DensityBank(1, gen).to(dev), None))
        self.net_params = [g[2] for g in self.groups] + self.uncompressed
        self.psi_params = [q for g in self.groups for q in (g[3], g[4])]
        self.density_params = [q for g in self.groups for q in g[5].parameters()]

    def decode(self):
        p, bits = {}, 0.0
        for names, shapes, latent, log_s, off, density, T in self.groups:
            s = torch.exp(log_s)
            phi_hat = latent / s
            phi_st = phi_hat + (torch.round(phi_hat) - phi_hat).detach()
            if T is not None:
                theta = (phi_st * s) @ T.t() + off
                noisy = (phi_hat + (torch.rand_like(phi_hat) - 0.5)).t()  # [9, rows]
            else:
                theta = phi_st * s + off
                noisy = (phi_hat + (torch.rand_like(phi_hat) - 0.5)).unsqueeze(0)
            bits = bits + density.bits(noisy)
            flat, k = theta.reshape(-1), 0
            for n, shp in zip(names, shapes):
                size = math.prod(shp)
                p[n] = flat[k:k + size].view(shp)
                k += size
        return p, bits


def ema_lerp(ema, params, d):
    """ema <- d * ema + (1 - d) * params, one foreach call (torch >= 2: lerp)."""
    src = [q.detach() for q in params]
    if hasattr(torch, "_foreach_lerp_"):
        torch._foreach_lerp_(ema, src, 1.0 - d)
    else:  # older torch (the build machine's Debian 1.13), for checking this script
        torch._foreach_mul_(ema, d)
        torch._foreach_add_(ema, src, alpha=1.0 - d)


def functional_call(model, params, args):
    if hasattr(torch, "func"):
        return torch.func.functional_call(model, params, args, strict=False)
    from torch.nn.utils import stateless
    return stateless.functional_call(model, params, args)


def gpu_optimizer(kind, params, lr):
    """Fused (one kernel for all tensors) where this torch and device have it."""
    extra = {"fused": True}
    try:
        if kind == "adam":
            return torch.optim.Adam(params, lr=lr, betas=BETAS, eps=EPS, **extra)
        return torch.optim.SGD(params, lr=lr, momentum=0.9, **extra)
    except (RuntimeError, TypeError):  # no fused variant: torch's default (foreach on CUDA)
        if kind == "adam":
            return torch.optim.Adam(params, lr=lr, betas=BETAS, eps=EPS)
        return torch.optim.SGD(params, lr=lr, momentum=0.9)


def gpu_step(logits_and_bits, opts, ema_params):
    """The step: loss = mean CE + lambda * bits (bits None: plain), backward,
    every optimizer, EMA of ema_params with the trainer's warm-up; returns
    the bits (a tensor: no host synchronisation) or None."""
    ema = [q.detach().clone() for q in ema_params]
    state = {"t": 0}

    def step(x, y):
        logits, bits = logits_and_bits(x)
        loss = F.cross_entropy(logits, y)
        if bits is not None:
            loss = loss + LAMBDA * bits
        for o in opts:
            o.zero_grad(set_to_none=True)
        loss.backward()
        for o in opts:
            o.step()
        d = min(EMA_DECAY, (1.0 + state["t"]) / (10.0 + state["t"]))
        ema_lerp(ema, ema_params, d)
        state["t"] += 1
        return None if bits is None else bits.detach()
    return step


def make_gpu_step(net, mode, gen, dev):
    """One training step on the GPU: step(x, y) -> bits tensor (EPR) or None."""
    if net in BIG:  # SGD with momentum as the *_dft.ini experiments; Ψ and densities by Adam
        import torch_gpu_nn
        model = torch_gpu_nn.NETS[net][0]().to(dev).train()
        sgd_lr = 0.1
        if mode == "plain":
            params = [q for q in model.parameters() if q.requires_grad]
            return gpu_step(lambda x: (model(x), None), [gpu_optimizer("sgd", params, sgd_lr)], params)
        epr = ModuleEPR(model, gen, dev)

        def run(x):
            p, bits = epr.decode()
            return functional_call(model, p, (x,)), bits
        opts = [gpu_optimizer("sgd", epr.net_params, sgd_lr), gpu_optimizer("adam", epr.psi_params, LR),
                gpu_optimizer("adam", epr.density_params, DENSITY_LR)]
        return gpu_step(run, opts, epr.net_params + epr.psi_params)
    # the LeNets: the CPU step above (Adam), its tensors on the GPU
    if mode == "plain":
        p = {k: v.to(dev) for k, v in init_params(net, gen).items()}
        params = [t.requires_grad_() for t in p.values()]
        return gpu_step(lambda x: (forward(net, p, x), None), [gpu_optimizer("adam", params, LR)], params)
    model = EPRModel(net, gen)
    model.groups = [(n, lat.detach().to(dev).requires_grad_(), ls.detach().to(dev).requires_grad_(),
                     b.detach().to(dev).requires_grad_(), dens.to(dev)) for n, lat, ls, b, dens in model.groups]
    model.net_params = [t for g in model.groups for t in g[1:4]]
    model.density_params = [q for g in model.groups for q in g[4].parameters()]

    def run(x):
        p, bits = model.decode()
        return forward(net, p, x), bits
    opts = [gpu_optimizer("adam", model.net_params, LR), gpu_optimizer("adam", model.density_params, DENSITY_LR)]
    return gpu_step(run, opts, model.net_params)


def bench_gpu(net, batch, mode, steps, warmup, repeats):
    dev = torch.device("cuda")
    torch.backends.cudnn.benchmark = True
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    gen = torch.Generator().manual_seed(1)
    c, side, classes, n = BIG.get(net, (1, 28, 10, 8004))
    images = torch.randint(0, 256, (n, c, side, side), dtype=torch.uint8, generator=gen).to(dev)
    labels = torch.randint(0, classes, (n,), generator=gen).to(dev)
    ggen = torch.Generator(device=dev).manual_seed(1)
    perm = torch.randperm(n, device=dev, generator=ggen)
    pos = 0

    def batch_at():
        nonlocal perm, pos
        if pos + batch > n:
            perm, pos = torch.randperm(n, device=dev, generator=ggen), 0
        idx = perm[pos:pos + batch]
        pos += batch
        return images[idx].float().div_(255.0), labels[idx]

    step = make_gpu_step(net, mode, gen, dev)
    for _ in range(warmup):
        step(*batch_at())
    torch.cuda.synchronize()
    ms, cpu, bits = [], [], None
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(steps):
            bits = step(*batch_at())
        torch.cuda.synchronize()
        ms.append(1e3 * (time.perf_counter() - t0) / steps)
        cpu.append(1e3 * (time.process_time() - c0) / steps)
    m = statistics.median(ms)
    print(f"impl=torch-cuda net={net} batch={batch} mode={mode} img/s={batch * 1e3 / m:.1f} ms/step={m:.3f} "
          f"min_ms={min(ms):.3f} max_ms={max(ms):.3f} cpu_ms={statistics.median(cpu):.3f} repeats={repeats} "
          f"steps={steps} bits={float(bits) if bits is not None else 0:.0f} "
          f"mem_mb={torch.cuda.max_memory_allocated() / 2**20:.1f} "
          f"reserved_mb={torch.cuda.max_memory_reserved() / 2**20:.1f}", flush=True)
    del step, images, labels
    torch.cuda.empty_cache()


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
    ap.add_argument("--net", default="all", choices=["all", "lenet300-100", "lenet5-caffe"] + list(BIG))
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"],
                    help="cuda: the step on the GPU (impl=torch-cuda); 'all' adds the big networks")
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
    modes = ["plain", "epr"] if a.mode == "all" else [a.mode]
    if a.device == "cuda":  # the configurations of bench_train --device cuda
        sys.path.insert(0, __file__.rsplit("/", 1)[0] if "/" in __file__ else ".")
        print(f"torch {torch.__version__} cuda {torch.version.cuda} device {torch.cuda.get_device_name(0)}",
              flush=True)
        configs = [("lenet300-100", 64), ("lenet300-100", 128), ("lenet5-caffe", 64), ("lenet5-caffe", 128),
                   ("vgg16-cifar", 128), ("resnet20-4", 128), ("resnet18", 64), ("resnet50", 64)]
        done = set()
        for net, b in configs:
            if (a.net != "all" and net != a.net) or (a.batch != "all" and net in done):
                continue
            done.add(net)
            b = b if a.batch == "all" else int(a.batch)
            for mode in modes:
                big = net in BIG
                bench_gpu(net, b, mode, a.steps or (10 if big else 50), a.warmup if a.warmup >= 0 else (2 if big else 5),
                          a.repeats if a.repeats != 5 else 3)
        return 0
    if a.net in BIG:
        print("torch_train.py: the big networks are benchmarked with --device cuda only", file=sys.stderr)
        return 2
    nets = ["lenet300-100", "lenet5-caffe"] if a.net == "all" else [a.net]
    batches = [64, 128] if a.batch == "all" else [int(a.batch)]
    for net in nets:
        for b in batches:
            for mode in modes:
                steps = a.steps or (100 if mode == "plain" else 20)
                warmup = a.warmup if a.warmup >= 0 else (10 if mode == "plain" else 3)
                bench(net, b, mode, steps, warmup, a.repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
