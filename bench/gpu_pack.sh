#!/bin/bash
# bench/gpu_pack.sh — gathers what one call on the GPU machine needs (the
# `run` tool copies the repository; the build and the libraries the GPU
# machine lacks travel in an ignored folder):
#   bash bench/gpu_pack.sh BUILD_DIR PACK_DIR
# BUILD_DIR: a -DEPR_CUDA=ON build made with the GPU machine's CUDA major
# version (13; sm_90).  PACK_DIR gets epr, bench_train, bench_gpu_nn,
# bench_gpu_epr, test_gpu_*, lib/ (OpenBLAS, libgfortran, libquadmath,
# libinih, libcmocka: absent there).  Then, with carry [PACK_DIR,
# data/mnist10k]: bash bench/gpu_device_all.sh PACK_DIR $OUT
set -euo pipefail
b=${1:?build dir}; p=${2:?pack dir}
mkdir -p "$p/lib"
for f in epr bench/bench_train bench/bench_gpu_nn bench/bench_gpu_epr tests/test_gpu_nn tests/test_gpu_epr \
         tests/test_gpu_train; do
    src=$(find "$b" -name "$(basename "$f")" -type f -perm -u+x | head -1)
    [ -n "$src" ] || { echo "gpu_pack: $(basename "$f") not built in $b" >&2; exit 1; }
    cp "$src" "$p/"
done
for l in libopenblas.so.0 libgfortran.so.5 libquadmath.so.0 libinih.so.1 libcmocka.so.0; do
    src=$(ldd "$p/epr" "$p/test_gpu_train" | awk -v l="$l" '$1 == l && !done {print $3; done = 1}')
    [ -n "$src" ] && cp -L "$src" "$p/lib/$l"
done
grep -o 'EPR_SOURCE_DIR=[^ ]*' "$b/CMakeCache.txt" 2>/dev/null || true
git -C "$(dirname "$0")/.." rev-parse --short HEAD > "$p/COMMIT"
du -sh "$p"
