#!/usr/bin/env bash
# slurm/submit.sh — submit a λ sweep to Slurm: an array job (task N = run N
# of the sweep table, at most K at a time) and a merge job that runs after
# all of them succeeded and writes OUT/sweep.h5, OUT/report.md and the plots.
# Works unchanged on a real cluster: everything site-specific comes from
# options or environment variables.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

usage() {
    cat <<EOF2
usage: slurm/submit.sh SWEEP.tsv [options]

  --out DIR          results directory          (\$EPR_SWEEP_OUT, default runs/<sweep stem>)
  --ranks R          MPI ranks per run          (\$EPR_RANKS, default 1)
  --max-parallel K   array tasks running at once (\$EPR_MAX_PARALLEL, default 4)
  --partition P      Slurm partition            (\$EPR_PARTITION, default: the cluster's)
  --account A        Slurm account              (\$EPR_ACCOUNT, default: none)
  --time T           time limit per run         (\$EPR_TIME, default 02:00:00); a run
                     that hits it checkpoints, requeues itself and resumes
  --merge-time T     time limit of the merge    (\$EPR_MERGE_TIME, default 00:15:00)
  --epr PATH         the epr binary             (\$EPR_BIN, default $REPO/build/epr)
  --baseline RUN.h5  plain run for the report   (\$EPR_BASELINE)
  --set K=V          add "--set K=V" to every run (repeatable), e.g. --set train.steps=200
  --gpus             train on GPUs, one per rank (\$EPR_GPUS=1): the array job asks for
                     --gpus-per-task=1 and every run gets --set train.device=cuda (epr
                     built with -DEPR_CUDA=ON, e.g. --epr build-cuda/epr; docs/gpu.md)
  --sbatch-arg ARG   extra sbatch option for both jobs, repeatable
                     (\$EPR_SBATCH_ARGS, space-separated), e.g. --sbatch-arg=--qos=short
  --dry-run          print the sbatch commands, submit nothing
  -h, --help         this text

Logs: OUT/slurm/epr-sweep_<array job>_<task>.out and OUT/slurm/epr-merge_<job>.out.
Runs: OUT/<run>/ (run.h5, model.epr, train.log); then OUT/sweep.h5, OUT/report.md,
OUT/pareto.png.  Resubmitting the same table skips complete runs and resumes
interrupted ones.  Prints "array <id>" and "merge <id>" lines (for scripts).
EOF2
}

die() { echo "submit.sh: error: $*" >&2; exit 2; }

sweep="" out=${EPR_SWEEP_OUT:-} ranks=${EPR_RANKS:-1} maxpar=${EPR_MAX_PARALLEL:-4}
partition=${EPR_PARTITION:-} account=${EPR_ACCOUNT:-} time_limit=${EPR_TIME:-02:00:00}
merge_time=${EPR_MERGE_TIME:-00:15:00} epr=${EPR_BIN:-$REPO/build/epr} baseline=${EPR_BASELINE:-}
dry=0 gpus=${EPR_GPUS:-0}
sets=()
read -r -a extra <<< "${EPR_SBATCH_ARGS:-}"
while [ $# -gt 0 ]; do
    case "$1" in
        -h|--help) usage; exit 0 ;;
        --out) out=${2:?--out needs a value}; shift ;;
        --ranks) ranks=${2:?--ranks needs a value}; shift ;;
        --max-parallel) maxpar=${2:?--max-parallel needs a value}; shift ;;
        --partition) partition=${2:?--partition needs a value}; shift ;;
        --account) account=${2:?--account needs a value}; shift ;;
        --time) time_limit=${2:?--time needs a value}; shift ;;
        --merge-time) merge_time=${2:?--merge-time needs a value}; shift ;;
        --epr) epr=${2:?--epr needs a value}; shift ;;
        --baseline) baseline=${2:?--baseline needs a value}; shift ;;
        --sbatch-arg) extra+=("${2:?--sbatch-arg needs a value}"); shift ;;
        --sbatch-arg=*) extra+=("${1#--sbatch-arg=}") ;;
        --set) sets+=("${2:?--set needs a value}"); shift ;;
        --gpus) gpus=1 ;;
        --dry-run) dry=1 ;;
        -*) usage >&2; die "unknown option '$1'" ;;
        *) [ -z "$sweep" ] || die "unexpected argument '$1'"; sweep=$1 ;;
    esac
    shift
done
[ -n "$sweep" ] || { usage >&2; die "missing SWEEP.tsv"; }
[ -f "$sweep" ] || die "$sweep: no such sweep table"
[[ "$ranks" =~ ^[1-9][0-9]*$ ]] || die "--ranks '$ranks' is not a positive integer"
[[ "$maxpar" =~ ^[1-9][0-9]*$ ]] || die "--max-parallel '$maxpar' is not a positive integer"
[ -x "$epr" ] || die "$epr: no epr binary (build it: cmake -S . -B build && cmake --build build, or pass --epr)"
[ -z "$baseline" ] || [ -f "$baseline" ] || die "--baseline $baseline: no such file"
[[ "$gpus" =~ ^[01]$ ]] || die "EPR_GPUS='$gpus': expected 0 or 1"
gpu_args=()
if [ "$gpus" = 1 ]; then
    sets+=(train.device=cuda) # one GPU per rank: the rank's node-local index picks it
    gpu_args=(--gpus-per-task=1)
fi
command -v sbatch >/dev/null || [ "$dry" = 1 ] || die "sbatch not found (is this a Slurm login node?)"

abspath() { case "$1" in /*) printf '%s\n' "$1" ;; *) printf '%s/%s\n' "$PWD" "$1" ;; esac; }
sweep=$(abspath "$sweep")
[ -n "$out" ] || { s=$(basename "$sweep"); out=runs/${s%.*}; }
out=$(abspath "$out")
epr=$(abspath "$epr")
[ -z "$baseline" ] || baseline=$(abspath "$baseline")
mkdir -p "$out/slurm"

# Validates the table (every bad line is named) and counts its runs.
set_args=()
for kv in ${sets[@]+"${sets[@]}"}; do set_args+=(--set "$kv"); done
listing=$("$epr" sweep "$sweep" --out "$out" --list ${set_args[@]+"${set_args[@]}"}) || die "$sweep: not a valid sweep table (see above)"
n=$(printf '%s\n' "$listing" | grep -c .)
[ "$n" -ge 1 ] || die "$sweep: no runs"
# Every run's experiment with its overrides loads as epr train reads it
# (unknown keys, bad values), before anything waits in the queue.
checked=$("$epr" sweep "$sweep" --check ${set_args[@]+"${set_args[@]}"} 2>&1) ||
    die "$sweep: runs that epr train would refuse:
$(printf '%s\n' "$checked" | grep -v '	ok	')"

common=(--parsable --chdir="$PWD")
[ -n "$partition" ] && common+=(--partition="$partition")
[ -n "$account" ] && common+=(--account="$account")
common+=(${extra[@]+"${extra[@]}"})

array_cmd=(sbatch "${common[@]}" --array="0-$((n - 1))%$maxpar" --ntasks="$ranks" ${gpu_args[@]+"${gpu_args[@]}"} --time="$time_limit"
    --output="$out/slurm/%x_%A_%a.out" "$REPO/slurm/sweep.sbatch" "$sweep" "$out" "$epr" ${sets[@]+"${sets[@]}"})
echo "sweep $sweep: $n run(s), $ranks rank(s) each${gpu_args[*]:+ (one GPU per rank)}, at most $maxpar at a time"
if [ "$dry" = 1 ]; then
    printf '%q ' "${array_cmd[@]}"; echo
    echo "sbatch ${common[*]} --dependency=afterok:<array id> --time=$merge_time --output=$out/slurm/%x_%j.out $REPO/slurm/merge.sbatch $out $epr $REPO${baseline:+ $baseline}"
    exit 0
fi
array_id=$("${array_cmd[@]}") || die "sbatch of the array job failed"
array_id=${array_id%%;*}
merge_id=$(sbatch "${common[@]}" --dependency=afterok:"$array_id" --time="$merge_time" \
    --output="$out/slurm/%x_%j.out" "$REPO/slurm/merge.sbatch" "$out" "$epr" "$REPO" ${baseline:+"$baseline"}) \
    || die "sbatch of the merge job failed (the array job $array_id is queued: scancel $array_id)"
merge_id=${merge_id%%;*}
echo "array $array_id"
echo "merge $merge_id"
echo "runs:    $out/<run>/ (run.h5, model.epr, train.log)"
echo "logs:    $out/slurm/epr-sweep_${array_id}_<task>.out, $out/slurm/epr-merge_${merge_id}.out"
echo "results: $out/sweep.h5, $out/report.md, $out/pareto.png (after job $merge_id)"
echo "watch:   squeue -j $array_id,$merge_id"
