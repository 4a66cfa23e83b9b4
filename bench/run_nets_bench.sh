#!/usr/bin/env bash
# Runs bench_nets for every big network, plain and EPR, one process each
# (so ru_maxrss is that configuration's peak), and prints one line per run.
#   bench/run_nets_bench.sh BUILD_DIR [STEPS]
set -euo pipefail
b=$1/bench/bench_nets steps=${2:-2}
export OPENBLAS_NUM_THREADS=1
for cfg in "vgg16-cifar 128 32" "resnet20-4 128 32" "resnet18 16 224" "resnet50 8 224"; do
  set -- $cfg
  for mode in plain epr; do
    "$b" --net "$1" --batch "$2" --size "$3" --mode $mode --steps "$steps" --warmup 1
  done
done
