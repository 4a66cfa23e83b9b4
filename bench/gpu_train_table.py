#!/usr/bin/python3
"""bench/gpu_train_table.py — the markdown table of docs/benchmarks.md
("GPU: the whole training step") from the logs of one device call:
bench_train --device cuda (impl=c-cuda lines) and the PyTorch lines of
bench/torch_train.py --device cuda (impl=torch-cuda: the same step, plain and
EPR) and/or bench/torch_gpu_nn.py (impl=torch-fp32 / torch-tf32: forward,
backward and Adam only, plain).  When OURS.log also has impl=c-cuda-im2col
lines (bench_train --im2col: 3x3 convolutions by im2col instead of
Winograd), their img/s is a last column.

  /usr/bin/python3 bench/gpu_train_table.py OURS.log TORCH.log [TORCH2.log ...]"""
import sys


def lines(path):
    for line in open(path):
        if line.startswith("impl="):
            yield dict(kv.split("=", 1) for kv in line.split() if "=" in kv)


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    ours = {(d["net"], int(d["batch"]), d["mode"]): d for d in lines(sys.argv[1]) if d["impl"] == "c-cuda"}
    im2col = {(d["net"], int(d["batch"]), d["mode"]): d for d in lines(sys.argv[1]) if d["impl"] == "c-cuda-im2col"}
    torch = {}
    for path in sys.argv[2:]:
        for d in lines(path):
            mode = d.get("mode", "plain")
            torch.setdefault((d["net"], int(d["batch"]), mode), {})[d["impl"]] = d
    extra = " im2col img/s |" if im2col else ""
    print("| net | batch | mode | epr img/s | epr MB | PyTorch | PyTorch img/s | ratio | PyTorch MB |" + extra)
    print("|-----|-------|------|-----------|--------|---------|---------------|-------|------------|" +
          ("---|" if im2col else ""))
    for key, d in ours.items():
        net, batch, mode = key
        ref = torch.get(key, {})
        tail = ""
        if im2col:
            tail = f" {float(im2col[key]['img/s']):,.0f} |" if key in im2col else " |"
        if not ref:
            print(f"| {net} | {batch} | {mode} | {float(d['img/s']):,.0f} | {float(d['mem_mb']):,.0f} | not measured | | | |{tail}")
        for impl, r in sorted(ref.items()):
            ratio = float(d["img/s"]) / float(r["img/s"])
            print(f"| {net} | {batch} | {mode} | {float(d['img/s']):,.0f} | {float(d['mem_mb']):,.0f} | {impl} | "
                  f"{float(r['img/s']):,.0f} | {ratio:.2f}× | {float(r['mem_mb']):,.0f} |{tail}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
