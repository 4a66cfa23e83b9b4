#!/bin/sh
# bench/run_train_bench.sh — training throughput of epr's C step against the
# PyTorch baseline (bench/torch_train.py), one thread each, and the peak
# memory of LeNet5-Caffe EPR training on Fashion-MNIST.  Prints figures;
# checks nothing.  See docs/benchmarks.md, "Training throughput".
set -eu

usage() {
    cat <<'EOF'
usage: bench/run_train_bench.sh [--rounds N] [--repeats N] [--build-dir DIR] [--no-build]
                                [--from-log FILE] [--help]

Builds bench_train (Release, in DIR, default build-bench), then for
LeNet300-100 and LeNet5-Caffe at batch 64 and 128, plain and EPR, runs
bench_train and bench/torch_train.py (/usr/bin/python3) one after the other,
N rounds (default 3) of the whole set, each run the median of --repeats
(default 5) timed repeats after a warm-up.  Prints every raw line, then a
table of the medians over rounds: img/s of each, the ratio epr/torch by wall
time and by process CPU time (the CPU ratio is the steadier one when other
jobs share the machine), the C EPR step's split (net / rate), and the
memory lines of `bench_train --memory` with the experiment's eval_batch (500)
and with --eval-batch 64 (ru_maxrss, target <= 120 MB).
--from-log FILE: run nothing; print the table from the impl=... lines of a
saved output of this script (e.g. after `... | tee run.log`).
EOF
}

ROUNDS=3 REPEATS=5 BUILD=build-bench DOBUILD=1 FROM=
while [ $# -gt 0 ]; do
    case $1 in
    --rounds) ROUNDS=$2; shift 2 ;;
    --repeats) REPEATS=$2; shift 2 ;;
    --build-dir) BUILD=$2; shift 2 ;;
    --no-build) DOBUILD=0; shift ;;
    --from-log) FROM=$2; DOBUILD=0; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "run_train_bench.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    esac
done

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
if [ "$DOBUILD" = 1 ]; then
    cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$BUILD" --target bench_train -j2 >/dev/null
fi
BENCH=$BUILD/bench/bench_train
PY=/usr/bin/python3
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1

run_all() {
    echo "# machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc --all) cores; $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
    r=1
    while [ "$r" -le "$ROUNDS" ]; do
        for net in lenet300-100 lenet5-caffe; do
            for b in 64 128; do
                for mode in plain epr; do
                    "$BENCH" --net $net --batch $b --mode $mode --repeats "$REPEATS"
                    $PY bench/torch_train.py --net $net --batch $b --mode $mode --repeats "$REPEATS"
                done
            done
        done
        r=$((r + 1))
    done
    echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
    "$BENCH" --memory
    "$BENCH" --memory --eval-batch 64
}

if [ -n "$FROM" ]; then
    RAW=$FROM
    ROUNDS=$(grep -c 'impl=c net=lenet300-100 batch=64 mode=plain ' "$FROM" || true)
    REPEATS=$(grep -o 'repeats=[0-9]*' "$FROM" | head -1 | cut -d= -f2)
else
    RAW=$(mktemp)
    STATUS=$(mktemp)
    trap 'rm -f "$RAW" "$STATUS"' EXIT
    # a pipeline's status is tee's; with set -e the subshell stops at a
    # failing benchmark and leaves no mark
    (run_all; echo ok >"$STATUS") | tee "$RAW"
    if [ ! -s "$STATUS" ]; then
        echo "run_train_bench.sh: a benchmark failed (see above)" >&2
        exit 1
    fi
fi
MEM=$(grep 'data=fashion-mnist' "$RAW" | grep 'eval_batch=500 ' | tail -1 || true)
MEM64=$(grep 'data=fashion-mnist' "$RAW" | grep 'eval_batch=64 ' | tail -1 || true)

echo
echo "Medians over $ROUNDS round(s); each run is itself the median of $REPEATS repeats."
grep '^impl=' "$RAW" | grep -v 'data=fashion-mnist' | awk '
function med(key,   n, i, j, t, a) {
    n = split(vals[key], a, " ")
    for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] + 0 > t + 0; j--) a[j + 1] = a[j]; a[j + 1] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
{
    delete f
    for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
    cfg = f["net"] " " f["batch"] " " f["mode"]
    if (!(cfg in seen)) { seen[cfg] = 1; order[++n] = cfg }
    for (k in f) if (k != "impl" && k != "net" && k != "batch" && k != "mode")
        vals[f["impl"] SUBSEP cfg SUBSEP k] = vals[f["impl"] SUBSEP cfg SUBSEP k] " " f[k]
}
END {
    printf "%-13s %5s %-5s | %10s %10s %7s | %9s %9s %7s | %8s %8s\n", "net", "batch", "mode",
           "C img/s", "torch", "ratio", "C cpu ms", "torch", "ratio", "net ms*", "rate ms*"
    for (i = 1; i <= n; i++) {
        c = order[i]; split(c, p, " ")
        ci = med("c" SUBSEP c SUBSEP "img/s"); ti = med("torch" SUBSEP c SUBSEP "img/s")
        cc = med("c" SUBSEP c SUBSEP "cpu_ms"); tc = med("torch" SUBSEP c SUBSEP "cpu_ms")
        printf "%-13s %5s %-5s | %10.0f %10.0f %6.2fx | %9.2f %9.2f %6.2fx |", p[1], p[2], p[3], ci, ti, ci / ti, cc, tc, tc / cc
        sfx = (("c" SUBSEP c SUBSEP "net_cpu_ms") in vals) ? "_cpu_ms" : "_ms"
        if (p[3] == "epr") printf " %8.2f %8.2f", med("c" SUBSEP c SUBSEP "net" sfx), med("c" SUBSEP c SUBSEP "rate" sfx)
        printf "\n"
    }
}'

echo "ratio: C/torch img/s (wall), torch/C CPU ms per step; * C EPR step split: net (decode+fwd+bwd+decoder bwd) and rate, CPU ms (wall ms in older logs)"
for m in "$MEM" "$MEM64"; do
    echo "$m" | sed -n 's/.*\(eval_batch=[0-9]*\).*\(maxrss_mb=[0-9.]*\).*\(target_mb=120 [A-Za-z-]*\).*/memory (LeNet5-Caffe, Fashion-MNIST, batch 64, EPR, \1): \2, \3/p'
done
