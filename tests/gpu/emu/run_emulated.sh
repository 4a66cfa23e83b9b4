#!/bin/bash
# tests/gpu/emu/run_emulated.sh [BUILD] — builds tests/gpu/test_gpu_nn against
# a CPU emulation of the CUDA runtime and cuBLAS (this folder) and runs it:
# the device kernels' indexing, chunking, buffer sharing and reductions are
# then checked against the CPU layers on a machine without a GPU.  It says
# nothing about real-GPU matters (races between threads, memory
# visibility, launch limits, cuBLAS itself): that is the H200 run's job.
# BUILD: a configured CPU build folder (default build/) whose epr-nn target
# is built (its layers/ include roots and libepr-nn.a are used).  Slow
# (naive GEMM): minutes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
build=$(cd "${1:-$repo/build}" && pwd)
out=$build/gpu-emu
mkdir -p "$out"
inc=(-I "$here" -I "$build/layers/nn" -I "$repo/include")
objs=()
for cu in "$repo"/src/nn/cuda/*.cu; do
    name=$(basename "$cu" .cu)
    /usr/bin/python3 "$here/transform.py" "$cu" "$out/$name.cpp"
    g++ -std=c++17 -O2 -g -ffp-contract=off -w "${inc[@]}" -c "$out/$name.cpp" -o "$out/$name.o"
    objs+=("$out/$name.o")
done
g++ -std=c++17 -O2 -g "${inc[@]}" -c "$here/emu.cpp" -o "$out/emu.o"
gcc -std=c11 -O2 -g -D_GNU_SOURCE -ffp-contract=off "${inc[@]}" -c "$repo/tests/gpu/test_gpu_nn.c" -o "$out/test_gpu_nn.o"
g++ -o "$out/test_gpu_nn_emu" "$out/test_gpu_nn.o" "${objs[@]}" "$out/emu.o" "$build/libepr-nn.a" \
    $(pkg-config --libs openblas cmocka) -lm
echo "run_emulated: $out/test_gpu_nn_emu"
OPENBLAS_NUM_THREADS=1 "$out/test_gpu_nn_emu"
