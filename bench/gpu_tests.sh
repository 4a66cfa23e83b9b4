#!/bin/bash
# bench/gpu_tests.sh PACK_DIR LOG_DIR [TIMEOUT_S] — the three GPU tests
# against the CPU (test_gpu_nn, test_gpu_epr, test_gpu_train of a pack made
# by bench/gpu_pack.sh), TF32 off, one after another, each with its log in
# LOG_DIR; prints one line per test (exit status, cmocka's PASSED/FAILED
# counts) and its first failures.  Used by gpu_conv_device.sh and
# gpu_device_all.sh on the GPU machine.
P=${1:?pack dir}; O=${2:?log dir}; T=${3:-150}
mkdir -p "$O"
for t in test_gpu_nn test_gpu_epr test_gpu_train; do
    NVIDIA_TF32_OVERRIDE=0 timeout "$T" "$P/$t" > "$O/$t.log" 2>&1
    echo "$t exit $?: $(grep -E '^\[  (PASSED|FAILED)  \]' "$O/$t.log" | tr '\n' ' ')"
    grep -E '^\[  FAILED  \] [a-z]|^\[  ERROR|FAIL$' "$O/$t.log" | head -8
done
