#!/usr/bin/env bash
# Scaling runs on a machine that lacks OpenBLAS/libinih (e.g. the 16-core
# device machine): the epr binary and the missing shared libraries are built
# and collected on the build machine into DIR (bin/epr, lib/*.so*, data/mnist10k),
# copied over, and this script runs bench/scaling.sh with them.
#   bench/device_scaling.sh DIR            (env: NPS="1 2 4 8 16" STEPS=200 MODE=both)
#   bench/device_scaling.sh --collect DIR  (on the build machine: fill DIR from build/)
set -u
cd "$(dirname "$0")/.."
if [ "${1:-}" = --collect ]; then
  d=${2:?--collect DIR}; mkdir -p "$d/bin" "$d/lib" "$d/data"
  cp build/epr "$d/bin/"
  for l in libopenblas.so.0 libinih.so.1 libgfortran.so.5 libquadmath.so.0; do
    cp -L "$(ldd build/epr | awk -v l=$l '$1==l{print $3}')" "$d/lib/"
  done
  cp -r data/mnist10k "$d/data/"
  exit 0
fi
case "${1:-}" in ""|-h|--help) sed -n '2,8p' "$0"; exit 0 ;; esac
d=$(cd "$1" && pwd)
export LD_LIBRARY_PATH=$d/lib:${LD_LIBRARY_PATH:-}
export EPR_DATA_ROOT=$d/data
if ldd "$d/bin/epr" | grep "not found"; then echo "device_scaling.sh: libraries missing" >&2; exit 1; fi
lscpu | sed -n 's/^Model name: *//p'; nproc; mpirun --version | head -1
bash bench/scaling.sh --epr "$d/bin/epr" --np "${NPS:-1 2 4 8 16}" --steps "${STEPS:-200}" --mode "${MODE:-both}"
