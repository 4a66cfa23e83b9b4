#!/bin/bash
# bench/gpu_conv_device.sh — the GPU machine's part of docs/benchmarks.md
# "GPU: Winograd convolutions" (issue 12), in one command on the same GPU:
#   1. test_gpu_nn, test_gpu_epr, test_gpu_train (TF32 off): the device
#      layers (Winograd and im2col) and the whole step against the CPU;
#   2. bench_gpu_nn (forward + backward + Adam) for the large networks with
#      Winograd and ReLUs in place (the defaults), with --im2col, with
#      --relu-copy, ResNet-50 with other 1x1 thresholds (--direct-min), then
#      --profile;
#   3. bench_train --device cuda (the step of `epr train`, plain and EPR)
#      with Winograd and with --im2col, then bench/torch_train.py --device
#      cuda on the same networks, batches and synthetic resident data.
# Run from the repository root there, with the pack of bench/gpu_pack.sh:
#   bash bench/gpu_conv_device.sh PACK_DIR|PACK.tar.xz OUTDIR
# Prints the summary; full logs go to OUTDIR/conv_logs.tgz.  NETS (default
# "vgg16-cifar resnet20-4 resnet18 resnet50") limits part 3.
set -u
R=$(pwd); P=${1:?pack}; F=${2:?out dir}; O=/tmp/gpu_conv; mkdir -p "$O" "$F"
if [ -f "$P" ]; then mkdir -p /tmp/pack && tar -xJf "$P" -C /tmp/pack && P=$(ls -d /tmp/pack/*/ | head -1); fi
P=$(cd "$P" && pwd)
[ -e /work/main ] || { mkdir -p /work && ln -s "$R" /work/main; }
export LD_LIBRARY_PATH=$P/lib:${LD_LIBRARY_PATH:-} OPENBLAS_NUM_THREADS=1 EPR_DATA_ROOT=$R/data
t0=$(date +%s); el() { echo "($(($(date +%s) - t0)) s)"; }
echo "commit $(cat "$P/COMMIT"), $(date -u), $(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader)"

echo "== 1. GPU tests against the CPU (TF32 off) $(el)"
bash "$R/bench/gpu_tests.sh" "$P" "$O" 150
grep -E "^  wino|^  winograd|vgg16-cifar y fc3|resnet20-4 d input" "$O/test_gpu_nn.log" | grep -E "winograd|y conv1 |d input|fc3" | head -20

echo "== 2. bench_gpu_nn: Winograd, then im2col $(el)"
B="resnet20-4:128 vgg16-cifar:128 resnet18:64 resnet50:64"
timeout 60 "$P/bench_gpu_nn" $B --seconds 1.5 2>&1 | tee "$O/bench_gpu_nn.log"
timeout 60 "$P/bench_gpu_nn" $B --seconds 1.5 --im2col 2>&1 | tee -a "$O/bench_gpu_nn.log"
timeout 60 "$P/bench_gpu_nn" $B --seconds 1.5 --relu-copy 2>&1 | tee -a "$O/bench_gpu_nn.log"
for d in 256 196 1; do timeout 30 "$P/bench_gpu_nn" resnet50:64 --seconds 1.5 --direct-min $d 2>&1 | tee -a "$O/bench_gpu_nn.log"; done
timeout 40 "$P/bench_gpu_nn" resnet20-4:128 vgg16-cifar:128 resnet50:64 --seconds 1 --profile 2>&1 | grep -v "^impl" | tee -a "$O/bench_gpu_nn.log"

echo "== 3. bench_train --device cuda (Winograd, im2col) and torch_train.py --device cuda $(el)"
for n in ${NETS:-vgg16-cifar resnet20-4 resnet18 resnet50}; do
    timeout 60 "$P/bench_train" --device cuda --net "$n" 2>&1 | tee -a "$O/bench_c.log"
    timeout 60 "$P/bench_train" --device cuda --net "$n" --im2col 2>&1 | tee -a "$O/bench_c.log"
    timeout 90 python3 bench/torch_train.py --device cuda --net "$n" 2>&1 | grep -v Warning | tee -a "$O/bench_torch.log"
done
echo "== end $(el)"
tar -czf "$F/conv_logs.tgz" -C "$O" .
