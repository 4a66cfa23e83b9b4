#!/usr/bin/env bash
# Weak-scaling benchmark of `epr train` under mpirun: the batch per rank is
# fixed (global batch = B x P), so ideal scaling keeps ms/step constant and
# multiplies images/s by P.  Prints images/s, the share of step time spent in
# the allreduce + broadcast (rank 0), and the efficiency against P = 1.
#   bench/scaling.sh [--epr EPR_BINARY] [--exp EXPERIMENT.ini] [--np "1 2"]
#                    [--batch-per-rank 64] [--steps 300] [--mode plain|epr|both]
set -euo pipefail
cd "$(dirname "$0")/.."
epr=build/epr exp=experiments/lenet5-caffe_mnist10k.ini nps="1 2" bpr=64 steps=300 mode=both
while [ $# -gt 0 ]; do
  case $1 in
    --epr) epr=$2; shift ;;
    --exp) exp=$2; shift ;;
    --np) nps=$2; shift ;;
    --batch-per-rank) bpr=$2; shift ;;
    --steps) steps=$2; shift ;;
    --mode) mode=$2; shift ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "scaling.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
export OMPI_MCA_rmaps_base_oversubscribe=1
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
modes=$mode; [ "$mode" = both ] && modes="plain epr"
echo "experiment $exp, $bpr images per rank per step, $steps steps; $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores"
printf '%-6s %3s %8s %10s %10s %12s %11s\n' mode P batch ms/step img/s comm-share efficiency
for m in $modes; do
  base=
  for p in $nps; do
    en=true; [ $m = plain ] && en=false
    line=$(mpirun -np "$p" --bind-to core "$epr" train "$exp" --out "$tmp/$m$p" --set epr.enabled=$en \
      --set train.batch=$((bpr * p)) --set train.steps="$steps" --set train.eval_every=0 \
      --set train.checkpoint_every=1000000 --set train.log_every=1000000 2>&1 | grep '^done:') \
      || { echo "run P=$p failed" >&2; exit 1; }
    ms=$(sed -E 's/.* ([0-9.]+) ms\/step.*/\1/' <<<"$line")
    ips=$(sed -E 's/.*, ([0-9.]+) img\/s.*/\1/' <<<"$line")
    share=$(sed -E 's/.*broadcast ([0-9.]+)%.*/\1/' <<<"$line")
    [ -n "$base" ] || base=$ips
    eff=$(awk -v a="$ips" -v b="$base" -v p="$p" 'BEGIN{printf "%.1f%%", 100*a/(b*p)}')
    printf '%-6s %3s %8s %10s %10s %11s%% %11s\n' "$m" "$p" $((bpr * p)) "$ms" "$ips" "$share" "$eff"
  done
done
