#!/usr/bin/env bash
# Builds epr and runs every test: once in the normal (Release) build and
# once under AddressSanitizer + UBSan.  Run scripts/setup.sh first (the
# README's test command does both).
#   scripts/test.sh [--no-asan] [--fuzz-seconds N]
set -euo pipefail
cd "$(dirname "$0")/.."
asan=1
for a in "$@"; do
  case "$a" in
    --no-asan) asan=0 ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    *) echo "test.sh: unknown option $a" >&2; exit 2 ;;
  esac
done
jobs=$(nproc 2>/dev/null || echo 2)
export OPENBLAS_NUM_THREADS=1
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1

echo "== build (Release) =="
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$jobs"
echo "== tests (Release) =="
ctest --test-dir build --output-on-failure -j"$jobs"

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
