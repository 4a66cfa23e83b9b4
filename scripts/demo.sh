#!/usr/bin/env bash
# The README's main job: build epr, then a λ sweep of LeNet300-100 on
# MNIST-10k on this machine — five λ values and the plain float32 baseline,
# 2 MPI ranks each (sweeps/demo_lenet300_mnist10k.tsv) — then the Pareto
# table (sweep.h5), the report and the plots.  Run scripts/setup.sh first
# (the README's command does both).  A second run skips finished runs and
# resumes interrupted ones (Ctrl-C checkpoints the run in progress).
#   scripts/demo.sh [--np P] [--steps N] [--out DIR] [--fresh]
#     --np P      ranks per run (default 2, $EPR_DEMO_NP)
#     --steps N   steps per run instead of the table's 4000 ($EPR_DEMO_STEPS;
#                 results go to runs/demo_steps<N> then)
#     --out DIR   results directory (default runs/demo, $EPR_DEMO_OUT)
#     --fresh     delete DIR first
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$SECONDS
np=${EPR_DEMO_NP:-2} steps=${EPR_DEMO_STEPS:-} out=${EPR_DEMO_OUT:-} fresh=0
while [ $# -gt 0 ]; do
    case "$1" in
        -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        --np) np=${2:?--np needs a value}; shift ;;
        --steps) steps=${2:?--steps needs a value}; shift ;;
        --out) out=${2:?--out needs a value}; shift ;;
        --fresh) fresh=1 ;;
        *) echo "demo.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
    esac
    shift
done
[ -n "$out" ] || out=runs/demo${steps:+_steps$steps}
sweep=sweeps/demo_lenet300_mnist10k.tsv
py=/usr/bin/python3

for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
    [ -f "data/mnist10k/$f" ] || { echo "demo.sh: data/mnist10k/$f missing: run scripts/setup.sh first" >&2; exit 1; }
done

echo "== build (Release, target epr) =="
jobs=$(nproc 2>/dev/null || echo 2)
bdir=${EPR_DEMO_BUILD:-build}
cmake -S . -B "$bdir" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$bdir" -j"$jobs" --target epr >/dev/null
epr=$bdir/epr
echo "built $epr ($((SECONDS - t0)) s)"

export OPENBLAS_NUM_THREADS=1
if [ "$(id -u)" = 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
[ "$fresh" = 1 ] && rm -rf "$out"

echo "== λ sweep: $sweep, $np ranks per run, results under $out =="
sets=()
[ -n "$steps" ] && sets=(--set "train.steps=$steps")
set +e
"$epr" sweep "$sweep" --out "$out" --np "$np" ${sets[@]+"${sets[@]}"}
rc=$?
set -e
if [ "$rc" = 75 ]; then echo "demo.sh: interrupted; run it again to resume"; exit 75; fi
[ "$rc" = 0 ] || { echo "demo.sh: some runs failed (their train.log is shown above)" >&2; exit 1; }

echo "== Pareto table and report =="
"$epr" pareto "$out"

plots=""
if "$py" -c 'import h5py, matplotlib' 2>/dev/null; then
    echo "== plots =="
    "$py" analysis/plot_pareto.py "$out/sweep.h5:LeNet300-100, MNIST-10k (this demo)" -o "$out/pareto.png" \
        --title "LeNet300-100 on MNIST-10k: size vs test error ($np ranks)"
    "$py" analysis/plot_curves.py "$out/sweep.h5" -o "$out/curves.png" --title "LeNet300-100 on MNIST-10k"
    plots="$out/pareto.png $out/curves.png"
else
    echo "demo.sh: $py lacks h5py/matplotlib (python3-h5py python3-matplotlib): plots skipped"
fi

# The smallest bitstream on the Pareto front, decoded from the file alone.
best=$("$py" - "$out/sweep.h5" <<'PY' 2>/dev/null || true
import sys, h5py
r = h5py.File(sys.argv[1], "r")["runs"]
rows = [(int(r["size_bytes"][i]), r["bitstream"][i].decode()) for i in range(len(r["name"])) if r["is_pareto"][i]]
print(min(rows)[1] if rows else "")
PY
)
if [ -n "$best" ] && [ -f "$out/$best" ]; then
    echo "== the smallest Pareto model, rebuilt from its bitstream alone =="
    "$epr" eval "$out/$best" --data mnist10k
fi

echo
echo "== demo done in $((SECONDS - t0)) s =="
echo "runs (run.h5, model.epr, train.log): $out/<run>/"
echo "bitstreams:  $(ls "$out"/*/model.epr 2>/dev/null | tr '\n' ' ')"
echo "sweep table: $out/sweep.h5"
echo "report:      $out/report.md"
[ -n "$plots" ] && echo "plots:       $plots"
echo "inspect one: $epr inspect $out/lenet300_l5e-6/model.epr"
