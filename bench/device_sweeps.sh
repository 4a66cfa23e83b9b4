#!/bin/bash
# bench/device_sweeps.sh — sweep tables trained on one GPU machine inside one
# call of the `run` tool (10 minutes, at most 8 files of 16 MiB back), several
# runs at a time on the one GPU.  Run from the repository root there:
#   [DEADLINE=S] [HARD=S] [TESTS=1] bash bench/device_sweeps.sh PACK OUTDIR QUEUE ...
# PACK     a folder made by `bash bench/gpu_pack.sh build-cuda PACK` (the
#          CUDA-13 epr, the GPU tests and the libraries the machine lacks),
#          or that folder as PACK.tar.xz
# QUEUE    JOBS:TABLE[,TABLE...] — the runs of these sweep tables, in table
#          order, JOBS at a time (epr sweep TABLE --task K --print-args, plus
#          --set train.device=cuda); the queues run side by side
# A run starts only before DEADLINE seconds (default 480) and is stopped at
# HARD seconds (default 560: SIGUSR1, it checkpoints and exits 75); runs that
# finished are copied without their resume state (bench/slim_runs.py) to
# OUTDIR/<table>.tgz (split into 15 MiB parts where larger); every log goes
# to OUTDIR/logs.tgz.  TESTS=1 first starts test_gpu_nn, test_gpu_epr and
# test_gpu_train (TF32 off) beside the queues.  DONE=FILE skips the runs it
# lists as TABLE/RUN (brought back by an earlier call).  MPS=1 starts the CUDA
# MPS daemon first, so that the processes' kernels share the GPU at once
# instead of taking turns (small networks are launch-bound: without it eight
# LeNet runs side by side took as long as one after another).  Data: data/mnist10k and, for
# Fashion-MNIST, data/fashion-mnist/*.gz carried (or .devcarry/*/fashion-mnist).
# Back here: for f in OUTDIR/<table>.tgz*; cat them | tar -xz -C runs/  then
# epr pareto runs/<table> (docs/sweeps.md "Sweeps on a GPU machine").
set -u
R=$(pwd); P=${1:?pack}; F=${2:?out dir}; shift 2
[ $# -gt 0 ] || { echo "device_sweeps.sh: no QUEUE given (JOBS:TABLE[,TABLE...])" >&2; exit 2; }
for q in "$@"; do
    [[ "$q" =~ ^[1-9][0-9]*:[^:]+$ ]] || { echo "device_sweeps.sh: queue '$q' is not JOBS:TABLE[,TABLE...]" >&2; exit 2; }
    for t in $(echo "${q#*:}" | tr , ' '); do
        [ -f "$t" ] || { echo "device_sweeps.sh: queue '$q': no sweep table $t" >&2; exit 2; }
    done
done
O=/tmp/device_sweeps; mkdir -p "$O/runs" "$O/logs" "$F"
if [ -f "$P" ]; then mkdir -p /tmp/pack && tar -xJf "$P" -C /tmp/pack && P=$(ls -d /tmp/pack/*/ | head -1); fi
P=$(cd "$P" && pwd)
# the binaries look for the source tree where they were built (/work/main)
[ -e /work/main ] || { mkdir -p /work && ln -s "$R" /work/main; }
for d in "$R"/.devcarry/*/fashion-mnist; do
    [ -d "$d" ] && [ ! -e "$R/data/fashion-mnist/train-images-idx3-ubyte.gz" ] && { rm -rf "$R/data/fashion-mnist"; ln -s "$d" "$R/data/fashion-mnist"; }
done
export LD_LIBRARY_PATH=$P/lib:${LD_LIBRARY_PATH:-} OPENBLAS_NUM_THREADS=1 EPR_DATA_ROOT=$R/data
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
if [ "${MPS:-0}" = 1 ]; then
    export CUDA_MPS_PIPE_DIRECTORY=/tmp/mps-pipe CUDA_MPS_LOG_DIRECTORY=/tmp/mps-log
    mkdir -p "$CUDA_MPS_PIPE_DIRECTORY" "$CUDA_MPS_LOG_DIRECTORY"
    if nvidia-cuda-mps-control -d; then
        # a GPU test through MPS first; if it fails, without MPS
        if timeout 60 "$P/test_gpu_nn" > /tmp/mps-probe.log 2>&1; then echo "MPS daemon started (test_gpu_nn through it passed)"
        else echo "test_gpu_nn failed through MPS: daemon stopped, runs take turns"; tail -3 /tmp/mps-probe.log
             echo quit | nvidia-cuda-mps-control; MPS=0; fi
    else echo "MPS daemon did not start: runs take turns on the GPU"; MPS=0; fi
fi
export DONE=${DONE:-/dev/null} T0=$(date +%s) P O DEVICE=${DEVICE:-cuda} DEADLINE=${DEADLINE:-480} HARD=${HARD:-560}
echo "commit $(cat "$P/COMMIT" 2>/dev/null), $(date -u), $(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null)"

if [ "${TESTS:-0}" = 1 ]; then
    ( for t in test_gpu_train test_gpu_epr test_gpu_nn; do
          NVIDIA_TF32_OVERRIDE=0 timeout 200 "$P/$t" > "$O/logs/$t.log" 2>&1
          echo "[$(($(date +%s) - T0)) s] $t exit $?: $(grep -E '^\[  (PASSED|FAILED)  \]' "$O/logs/$t.log" | tr '\n' ' ')"
          grep -E '^\[  FAILED  \] [a-z]|^\[  ERROR' "$O/logs/$t.log" | head -5
      done ) &
fi

# one run: TABLE K — its epr train arguments from the table, stopped at HARD
run_one() {
    local table=$1 k=$2 name dir args el
    name=$(basename "$table" .tsv); dir=$O/runs/$name
    el=$(($(date +%s) - T0))
    [ "$el" -lt "$DEADLINE" ] || { echo "[$el s] $name #$k: not started (past $DEADLINE s)"; return 0; }
    mapfile -t args < <("$P/epr" sweep "$table" --out "$dir" --task "$k" --print-args 2>/dev/null)
    # no arguments: the run is finished in $dir already (an earlier call on a still-warm machine)
    [ "${#args[@]}" -gt 0 ] || { echo "[$el s] $name #$k: finished here earlier, skipped"; return 0; }
    local run=${args[-1]}
    grep -Fqx "$name/$(basename "$run")" "$DONE" && { echo "[$el s] $name/$(basename "$run"): done earlier, skipped"; return 0; }
    mkdir -p "$run"
    timeout -s USR1 -k 20 $((HARD - el)) "$P/epr" "${args[@]}" --set train.device="${DEVICE:-cuda}" > "$O/logs/${name}__$(basename "$run").log" 2>&1
    local rc=$?
    cp "$O/logs/${name}__$(basename "$run").log" "$run/train.log" 2>/dev/null
    echo "[$(($(date +%s) - T0)) s] $name/$(basename "$run"): exit $rc in $(($(date +%s) - T0 - el)) s; $(grep -E 'test error' "$run/train.log" | tail -1 | cut -c1-150)"
}
export -f run_one

for q in "$@"; do
    jobs=${q%%:*}; tables=${q#*:}
    ( for t in ${tables//,/ }; do
          n=$("$P/epr" sweep "$t" --out "$O/runs/$(basename "$t" .tsv)" --list | wc -l)
          for k in $(seq 0 $((n - 1))); do echo "$t $k"; done
      done | xargs -P "$jobs" -n 2 bash -c 'run_one "$0" "$1"' ) &
done
wait
echo "===== all queues done at $(($(date +%s) - T0)) s; packing"
[ "${MPS:-0}" = 1 ] && echo quit | nvidia-cuda-mps-control
for d in "$O"/runs/*/; do
    name=$(basename "$d")
    "${PY:-python3}" "$R/bench/slim_runs.py" --force "$d" "$O/slim/$name" >> "$O/logs/slim.log" 2>&1
    [ -d "$O/slim/$name" ] || continue
    tar -czf "$O/$name.tgz" -C "$O/slim" "$name"
    if [ "$(stat -c %s "$O/$name.tgz")" -gt 15728640 ]; then
        split -b 15M -d "$O/$name.tgz" "$F/$name.tgz."
    else
        cp "$O/$name.tgz" "$F/"
    fi
done
tail -n +1 "$O"/logs/slim.log
tar -czf "$F/logs.tgz" -C "$O" logs
ls -la "$F"
