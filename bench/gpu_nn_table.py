#!/usr/bin/python3
"""bench/gpu_nn_table.py — the markdown table of docs/benchmarks.md ("GPU")
from the logs of bench/gpu_nn_device.sh: bench_gpu_nn's lines (impl=epr-cuda,
impl=epr-cuda-tf32) and torch_gpu_nn.py's (impl=torch-fp32, impl=torch-tf32).

  bench/gpu_nn_table.py BENCH_LOG TORCH_LOG

Ratios: epr-cuda FP32 over torch with TF32 off (the same arithmetic), and
over torch's defaults (cuDNN convolutions in TF32); epr-cuda-tf32 over
torch's defaults where measured."""
import sys


def read(path):
    rows = {}
    for line in open(path):
        if not line.startswith("impl="):
            continue
        kv = dict(t.split("=", 1) for t in line.split())
        rows[(kv["impl"], kv["net"], int(kv["batch"]), int(kv["size"]))] = kv
    return rows


def main():
    rows = read(sys.argv[1])
    rows.update(read(sys.argv[2]))
    configs = sorted({k[1:] for k in rows}, key=lambda c: (c[2], c[0] not in ("lenet300-100", "lenet5-caffe"), c[0],
                                                           c[1]))
    print("| net | batch | size | epr-cuda FP32 img/s | torch FP32 img/s | ratio | torch default (TF32) img/s "
          "| ratio | epr-cuda TF32 img/s | ratio TF32/TF32 | epr MB | torch MB |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")

    def g(impl, c, key):
        r = rows.get((impl,) + c)
        return float(r[key]) if r else None

    def f(v, fmt):
        return "" if v is None else fmt.format(v)

    for c in configs:
        e, e32 = g("epr-cuda", c, "img/s"), g("epr-cuda-tf32", c, "img/s")
        tf, tt = g("torch-fp32", c, "img/s"), g("torch-tf32", c, "img/s")
        if e is None and e32 is None:
            continue
        print(f"| {c[0]} | {c[1]} | {c[2]} | {f(e, '{:.0f}')} | {f(tf, '{:.0f}')} | "
              f"{f(e / tf if e and tf else None, '{:.2f}x')} | {f(tt, '{:.0f}')} | "
              f"{f(e / tt if e and tt else None, '{:.2f}x')} | {f(e32, '{:.0f}')} | "
              f"{f(e32 / tt if e32 and tt else None, '{:.2f}x')} | {f(g('epr-cuda', c, 'mem_mb'), '{:.0f}')} | "
              f"{f(g('torch-fp32', c, 'mem_mb'), '{:.0f}')} |")


if __name__ == "__main__":
    main()
