#!/bin/bash
# bench/gpu_train_device.sh — the GPU machine's part of docs/gpu-tests.md
# ("The trainer's device path") and docs/benchmarks.md ("GPU: the whole
# training step"), in one command:
#   1. test_gpu_train (+ test_gpu_epr, test_gpu_nn when present), TF32 off;
#   2. several ranks on the GPU: the allreduced gradient block of step 4 of
#      LeNet5-Caffe EPR from 1 CPU rank, 1 GPU rank and 2 GPU ranks
#      (EPR_TEST_DUMP_GRAD), and the time a 2-rank run spends in the
#      host-staged allreduce + broadcast;
#   3. epr train on the GPU stopped at a checkpoint (EPR_TEST_STOP_AT) and
#      resumed on the CPU with --resume (the command line path);
#   4. bench_train --device cuda beside bench/torch_train.py --device cuda,
#      same GPU, same command.
# Run from a folder holding epr, test_gpu_*, bench_train (CUDA 13, sm_90),
# lib/ (the shared libraries the GPU machine lacks), experiments/,
# data/mnist10k and bench/{torch_train,torch_gpu_nn}.py; the binaries look
# for the source tree they were built from (bench/gpu_device_all.sh links it
# and calls this script):
#   bash gpu_train_device.sh OUTDIR
set -u
C=$(cd "$(dirname "$0")" && pwd)
cd "$C"
O=${1:-out}
mkdir -p "$O"
export LD_LIBRARY_PATH=$C/lib:${LD_LIBRARY_PATH:-} OPENBLAS_NUM_THREADS=1 EPR_DATA_ROOT=$C/data
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
t0=$(date +%s)
el() { echo "($(($(date +%s) - t0)) s)"; }
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
ldd ./epr ./test_gpu_train | grep "not found"

if [ -z "${SKIP_TESTS:-}" ]; then # gpu_device_all.sh runs them first
echo "== 1. tests $(el)"
for t in test_gpu_train test_gpu_epr test_gpu_nn; do
    [ -x "./$t" ] || continue
    NVIDIA_TF32_OVERRIDE=0 timeout 90 "./$t" > "$O/$t.log" 2>&1
    echo "$t exit $?: $(grep -E '^\[  (PASSED|FAILED)  \]' "$O/$t.log" | tr '\n' ' ')"
done
grep -E "max \|cpu - gpu\||rel [0-9]|bitwise|resumed on" "$O/test_gpu_train.log" | grep -E "step [07]:|train block|EMA |bitwise|resumed on" | head -24
fi

echo "== 2. several ranks on one GPU $(el)"
L5=experiments/lenet5-caffe_mnist10k.ini
for cfg in "cpu 1" "cuda 1" "cuda 2"; do
    set -- $cfg
    EPR_TEST_DUMP_GRAD="$O/g_$1_$2.bin:4" timeout 60 mpirun -np "$2" ./epr train $L5 --set train.steps=5 \
        --set train.device="$1" --out "$O/grad_$1_$2" > "$O/grad_$1_$2.log" 2>&1 || echo "np=$2 $1 failed: $(tail -3 "$O/grad_$1_$2.log")"
done
python3 - "$O" <<'PY'
import struct, sys
def load(p):
    b = open(p, "rb").read()
    return struct.unpack("<%df" % (len(b) // 4), b)
d = sys.argv[1]
ref = load(f"{d}/g_cpu_1.bin")
scale = max(abs(v) for v in ref)
for name in ("cuda_1", "cuda_2"):
    g = load(f"{d}/g_{name}.bin")
    diff = max(abs(a - b) for a, b in zip(ref, g))
    far = sum(1 for a, b in zip(ref, g) if abs(a - b) > 1e-4 * scale)
    print(f"step-4 gradient block, {name} vs cpu np=1: {len(g)} values, max |diff| {diff:.3g} "
          f"(max |g| {scale:.3g}), {far} beyond 1e-4 * max|g|")
PY
timeout 60 mpirun -np 2 ./epr train $L5 --set train.steps=2000 --set train.device=cuda --set train.eval_every=0 \
    --out "$O/np2" > "$O/np2.log" 2>&1
echo "np=2 on the GPU, 2000 steps: exit $?: $(grep -E '^done:|^test error' "$O/np2.log" | tr '\n' ' ')"
timeout 60 ./epr train $L5 --set train.steps=2000 --set train.device=cuda --set train.eval_every=0 \
    --out "$O/np1" > "$O/np1.log" 2>&1
echo "np=1 on the GPU, 2000 steps: exit $?: $(grep -E '^done:|^test error' "$O/np1.log" | tr '\n' ' ')"

echo "== 3. GPU checkpoint, --resume on the CPU $(el)"
EPR_TEST_STOP_AT=599 timeout 60 ./epr train $L5 --set train.steps=1000 --set train.device=cuda --out "$O/xr" > "$O/xr.log" 2>&1
echo "GPU part: exit $? ($(grep -E 'checkpoint' "$O/xr.log" | tail -1))"
timeout 90 ./epr train $L5 --set train.steps=1000 --out "$O/xr" --resume "$O/xr/run.h5" > "$O/xr_cpu.log" 2>&1
echo "CPU resume: exit $?: $(grep -E 'resumed|^test error|^decoded' "$O/xr_cpu.log" | tr '\n' ' ')"

echo "== 4. bench: bench_train --device cuda, then torch_train.py --device cuda $(el)"
timeout 70 ./bench_train --device cuda > "$O/bench_c.log" 2>&1
echo "bench_train exit $?"
timeout 120 python3 bench/torch_train.py --device cuda > "$O/bench_torch.log" 2>&1
echo "torch_train exit $?"
cat "$O/bench_c.log" "$O/bench_torch.log" | grep -E "^impl|^torch" | awk '{
    line = $1; for (i = 2; i <= NF; i++) if ($i ~ /^(net|batch|mode|img\/s|ms\/step|bits|mem_mb|reserved_mb)=/) line = line " " $i
    print line }'
grep -v "^impl\|^torch" "$O/bench_torch.log" | grep -v Warning | tail -5
echo "== end $(el)"
