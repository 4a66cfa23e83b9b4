#!/usr/bin/env bash
# Checks the layout (scripts/format_check.sh, where clang-format-14 is
# installed), builds epr and runs every test: once in the normal (Release)
# build and once under AddressSanitizer + UBSan.  Run scripts/setup.sh first (the
# README's test command does both).  Where a CUDA compiler is present (or
# with --cuda) it also builds build-cuda with -DEPR_CUDA=ON and runs
# `ctest -L gpu` there; those tests skip (exit 77) on a machine without a
# GPU, so this checks that the CUDA sources compile and link.
#   scripts/test.sh [--no-asan] [--cuda|--no-cuda]
set -euo pipefail
cd "$(dirname "$0")/.."
asan=1
cuda=auto
for a in "$@"; do
  case "$a" in
    --no-asan) asan=0 ;;
    --cuda) cuda=1 ;;
    --no-cuda) cuda=0 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "test.sh: unknown option $a" >&2; exit 2 ;;
  esac
done
jobs=$(nproc 2>/dev/null || echo 2)
export OPENBLAS_NUM_THREADS=1
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1

echo "== format (scripts/format_check.sh) =="
if command -v clang-format-14 >/dev/null 2>&1; then
  bash scripts/format_check.sh
else
  echo "format check skipped: no clang-format-14 (scripts/setup.sh installs it)"
fi

echo "== build (Release) =="
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$jobs"
echo "== tests (Release) =="
ctest --test-dir build --output-on-failure -j"$jobs"

# The CUDA build: the toolkit in /usr/local/cuda (CUDA 12/13), else nvcc
# on PATH (Debian's 11.8, which wants g++-11 as its host compiler).
nvcc=""
if [ "$cuda" != 0 ]; then
  if [ -x /usr/local/cuda/bin/nvcc ]; then nvcc=/usr/local/cuda/bin/nvcc
  elif command -v nvcc >/dev/null 2>&1; then nvcc=$(command -v nvcc)
  elif [ "$cuda" = 1 ]; then echo "test.sh: --cuda: no nvcc (run scripts/setup.sh --cuda)" >&2; exit 1
  else echo "== CUDA build skipped: no nvcc (scripts/setup.sh --cuda installs it) =="
  fi
fi
if [ -n "$nvcc" ]; then
  major=$("$nvcc" --version | sed -n 's/.*release \([0-9]*\)\..*/\1/p')
  host=()
  if [ "${major:-0}" -lt 12 ]; then host=(-DCMAKE_CUDA_HOST_COMPILER=g++-11); fi
  echo "== build (CUDA, $nvcc, release $major) =="
  t0=$(date +%s)
  cmake -S . -B build-cuda -DCMAKE_BUILD_TYPE=Release -DEPR_CUDA=ON -DCMAKE_CUDA_COMPILER="$nvcc" "${host[@]}" >/dev/null
  # Only what the GPU tests need (the CPU tests were built and run above).
  gpu_targets=(epr bench_train bench_gpu_nn bench_gpu_epr)
  for t in tests/gpu/test_*.c; do gpu_targets+=("$(basename "$t" .c)"); done
  cmake --build build-cuda -j"$jobs" --target "${gpu_targets[@]}"
  echo "== tests (CUDA: ctest -L gpu; they skip without a GPU; build took $(( $(date +%s) - t0 )) s) =="
  ctest --test-dir build-cuda -L gpu --output-on-failure -j"$jobs"
fi

if [ "$asan" = 1 ]; then
  echo "== build (AddressSanitizer + UBSan) =="
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DEPR_SANITIZE=ON >/dev/null
  cmake --build build-asan -j"$jobs"
  echo "== tests (AddressSanitizer + UBSan) =="
  # Open MPI's own allocations at exit are not ours: suppress them for LSan.
  export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
  # Slow unwinding gives LSan whole stacks, so leaks made inside Open MPI's
  # dlopen'ed components still match the libmpi/libopen-pal suppressions.
  export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:fast_unwind_on_malloc=0"
  ctest --test-dir build-asan --output-on-failure -j"$jobs"
fi
