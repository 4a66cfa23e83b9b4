#!/bin/bash
# bench/gpu_device_all.sh — everything issue 12 asks of the GPU machine, in
# one call (run from the repository root there, with the pack of
# bench/gpu_pack.sh and data/mnist10k carried):
#   1. the GPU tests against the CPU (test_gpu_nn, test_gpu_epr,
#      test_gpu_train; TF32 off), several ranks on one GPU, a GPU checkpoint
#      resumed on the CPU, bench_train beside bench/torch_train.py
#      (bench/gpu_train_device.sh);
#   2. the real run: LeNet5-Caffe, MNIST-10k, λ 3e-6, the 12,000-step
#      schedule of sweeps/results_lenet5_mnist10k_long.tsv, two seeds, on the
#      GPU, then epr eval of each .epr on the GPU machine's CPU;
#   3. bench_gpu_epr (the EPR part of a step, GPU beside this project's CPU
#      code) and bench_gpu_nn beside bench/torch_gpu_nn.py.
#   [DEADLINE=400] bash bench/gpu_device_all.sh PACK_DIR OUTDIR
# Parts 2-4 start only while fewer than DEADLINE seconds have passed, and
# everything ends before HARD seconds (default 460), logs packed.
# Logs and runs go to a scratch folder; OUTDIR receives few files (the run
# tool returns at most 8): gpu_logs.tgz (every log, no .h5) and the .epr
# files of the real run.  The summary printed is the record.
set -u
R=$(pwd); P=$(cd "${1:?pack dir}" && pwd); F=${2:?out dir}; O=/tmp/gpu_device_all; mkdir -p "$O" "$F"
# the binaries look for the source tree where they were built (/work/main)
[ -e /work/main ] || { mkdir -p /work && ln -s "$R" /work/main; }
ln -sfn "$R/experiments" "$P/experiments"; ln -sfn "$R/bench" "$P/bench"
mkdir -p "$P/data"; ln -sfn "$R/data/mnist10k" "$P/data/mnist10k"
export LD_LIBRARY_PATH=$P/lib:${LD_LIBRARY_PATH:-} OPENBLAS_NUM_THREADS=1 EPR_DATA_ROOT=$R/data
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
t0=$(date +%s); el() { echo "($(($(date +%s) - t0)) s)"; }
echo "commit $(cat "$P/COMMIT"), $(date -u)"

left() { [ $(($(date +%s) - t0)) -lt "${DEADLINE:-400}" ] || { echo "(skipped: past the ${DEADLINE:-400} s budget)"; return 1; }; }

echo "===== 1. the GPU tests against the CPU (TF32 off) $(el)"
bash "$R/bench/gpu_tests.sh" "$P" "$O" 120

echo "===== 2. the real run, 12,000 steps, two seeds $(el)"
L="--set epr.lambda=3e-6 --set train.steps=12000 --set train.lr_milestones=9000 --set train.lr_decay=0.1"
for s in 1 2; do
    left || break
    /usr/bin/time -f "wall %e s" timeout 120 "$P/epr" train experiments/lenet5-caffe_mnist10k.ini $L \
        --set train.seed=$s --set train.device=cuda --out "$O/l5_s$s" > "$O/l5_s$s.log" 2>&1
    echo "seed $s: exit $?"
    grep -E "^done:|^test error|^wrote|^decoded|differ|^wall" "$O/l5_s$s.log"
    OPENBLAS_NUM_THREADS=8 timeout 60 "$P/epr" eval "$O/l5_s$s/model.epr" --data mnist10k 2>&1 | tail -2
done

echo "===== 3. ranks on one GPU, GPU checkpoint resumed on the CPU, bench_train vs torch_train $(el)"
# bounded so that the logs are packed before the call's own limit (HARD s)
rest() { echo $(( ${HARD:-460} - ($(date +%s) - t0) - 25 )); }
left && cp "$R/bench/gpu_train_device.sh" "$P/" &&
    SKIP_TESTS=1 timeout "$(rest)" bash "$P/gpu_train_device.sh" "$O" 2>&1 | tee "$O/part3.log"

echo "===== 4. bench_gpu_epr; bench_gpu_nn beside torch_gpu_nn.py $(el)"
[ "$(rest)" -gt 40 ] && timeout 40 "$P/bench_gpu_epr" --seconds 0.5 2>&1 | tee "$O/bench_gpu_epr.log"
[ "$(rest)" -gt 40 ] && timeout 40 "$P/bench_gpu_nn" --seconds 0.5 2>&1 | tee "$O/bench_gpu_nn.log"
[ "$(rest)" -gt 60 ] && timeout 60 python3 bench/torch_gpu_nn.py --seconds 0.5 2>&1 | grep -v Warning | tee "$O/torch_gpu_nn.log"
echo "===== end $(el)"
tar czf "$F/gpu_logs.tgz" -C "$O" --exclude='*.h5' --exclude='*.bin' --exclude='*.epr' .
for s in 1 2; do [ -f "$O/l5_s$s/model.epr" ] && cp "$O/l5_s$s/model.epr" "$F/l5_s$s.epr"; done
ls -l "$F"
