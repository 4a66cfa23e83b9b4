#!/bin/bash
# bench/gpu_nn_device.sh — the GPU machine's part of docs/gpu-tests.md and of
# docs/benchmarks.md ("GPU: the nn layer"): test_gpu_nn, then bench_gpu_nn
# beside bench/torch_gpu_nn.py in the same command, on the same GPU.
#
# Run from a folder holding test_gpu_nn and bench_gpu_nn (built with CUDA 13,
# sm_90), torch_gpu_nn.py, and lib/ with the shared libraries the GPU machine
# lacks (libopenblas, libgfortran, libquadmath, libcmocka):
#   bash gpu_nn_device.sh OUTDIR
# Full logs go to OUTDIR; a summary is printed.
set -u
cd "$(dirname "$0")"
out=${1:-out}
mkdir -p "$out"
cb=$(find /usr/local /usr/lib /opt -name 'libcublas.so.13' -print -quit 2>/dev/null)
cr=$(find /usr/local /usr/lib /opt -name 'libcudart.so.13' -print -quit 2>/dev/null)
export LD_LIBRARY_PATH=$PWD/lib:$(dirname "$cb"):$(dirname "$cr"):${LD_LIBRARY_PATH:-}
export OPENBLAS_NUM_THREADS=8
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
ldd ./test_gpu_nn ./bench_gpu_nn | grep -i 'not found'

echo "== test_gpu_nn (NVIDIA_TF32_OVERRIDE=0)"
NVIDIA_TF32_OVERRIDE=0 timeout 150 ./test_gpu_nn > "$out/test_gpu_nn.log" 2>&1
echo "test_gpu_nn exit $?"
grep -E 'FAIL|PASSED|FAILED|bitwise|decisions that differ|predictions differ|model |optim step 4' "$out/test_gpu_nn.log" |
    grep -vE '^  (dense|conv|maxpool|avgpool|gap|relu|flatten|bn-|add|ce)  .* predictions differ$'

echo "== bench: epr-cuda (FP32, then TF32) and PyTorch eager, same GPU"
timeout 50 ./bench_gpu_nn --seconds 1.5 --profile 2>&1 | tee "$out/bench.log"
timeout 25 ./bench_gpu_nn --seconds 1.5 --tf32 resnet20-4:128 vgg16-cifar:128 2>&1 | tee -a "$out/bench.log"
timeout 70 python3 torch_gpu_nn.py --seconds 1.5 2>&1 | grep -v Warning | tee "$out/torch.log"
echo "== 224x224, batch 64"
timeout 30 ./bench_gpu_nn resnet18:64 resnet50:64 --seconds 1 --profile 2>&1 | tee -a "$out/bench.log"
timeout 20 ./bench_gpu_nn resnet18:64 resnet50:64 --seconds 1 --tf32 2>&1 | tee -a "$out/bench.log"
timeout 40 python3 torch_gpu_nn.py resnet18:64 resnet50:64 --seconds 1 2>&1 | grep -v Warning | tee -a "$out/torch.log"
