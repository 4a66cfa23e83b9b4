#!/usr/bin/env bash
# The README's main job: build epr and train LeNet300-100 on MNIST-10k.
# Run scripts/setup.sh first (the README's command does both).
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in -h|--help) sed -n '2,3p' "$0"; exit 0 ;; esac
jobs=$(nproc 2>/dev/null || echo 2)
export OPENBLAS_NUM_THREADS=1
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$jobs" --target epr
out=${EPR_DEMO_OUT:-runs/demo}
mkdir -p "$out"
echo "== plain float32 LeNet300-100 on MNIST-10k =="
build/epr train experiments/lenet300-100_mnist10k.ini --set epr.enabled=false --out "$out/plain"
echo "== EPR LeNet300-100 on MNIST-10k =="
build/epr train experiments/lenet300-100_mnist10k.ini --out "$out/epr"
