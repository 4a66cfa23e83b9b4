#!/usr/bin/env bash
# Regenerates docs/results.md: runs every sweeps/results_*.tsv with
# `epr sweep` (finished runs are skipped, interrupted ones resumed, complete
# plain runs get the baselines their line asks for), then writes part 1, EPR
# against the plain baseline (analysis/results_table.py), with the notes of
# docs/results-notes.md, and part 2, EPR against the baselines, for the four
# main tables and the two _long ones: `epr pareto DIR`, the methods table (results_table.py
# --methods) and the Pareto plot (analysis/plot_pareto.py -> DIR/pareto.png,
# copied to docs/img/pareto_<table>.png).  Hours of CPU on two cores from scratch.
# The large networks' tables (resnet20-4_fashion, vgg16_fashion: days on the
# CPU) are trained only when asked: --device cuda (a GPU machine), or --only;
# docs/results.md shows them once DIR/<table> exists.
#   scripts/results.sh [--out DIR] [--np P] [--no-run] [--build DIR] [--device D] [--only T,...]
#     --out DIR    where the runs live (default runs/results); one folder per table
#     --np P       ranks per run (default 1)
#     --no-run     only rebuild docs/results.md (and DIR/<table>/sweep.h5, report.md,
#                  pareto.png, docs/img/) from the existing run files
#     --build DIR  the CMake build directory whose epr is used (default build)
#     --device D   train with --set train.device=D (cuda: the GPU path); also runs
#                  the large networks' tables
#     --only T,... run the sweeps of these tables only (names as sweeps/results_T.tsv);
#                  docs/results.md is still written from every table's runs
set -euo pipefail
cd "$(dirname "$0")/.."
out=runs/results np=1 run=1 build=build device="" only=""
while [ $# -gt 0 ]; do
  case $1 in
    --device) device=$2; shift ;;
    --only) only=",$2,"; shift ;;
    --out) out=$2; shift ;;
    --np) np=$2; shift ;;
    --no-run) run=0 ;;
    --build) build=$2; shift ;;
    -h|--help) sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "results.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
export OPENBLAS_NUM_THREADS=1
[ "$(id -u)" = 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# epr pareto writes the method column part 2 reads: build epr even with --no-run
# (quick when it is up to date)
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j"$(nproc)" --target epr >/dev/null
epr=$build/epr
py=/usr/bin/python3
# table name -> target "ratio:points" of the issue
declare -A target=([lenet300_mnist10k]=300:0.3 [lenet300_fashion]=50:0.5 [lenet300_fashion_decay]=50:0.5 [lenet300_fashion_long]=50:0.5
                   [lenet5_mnist10k]=450:0.3 [lenet5_fashion]=100:0.5 [lenet5_mnist10k_decay]=450:0.3
                   [lenet5_mnist10k_long]=450:0.3 [resnet20-4_fashion]=100:0.5 [vgg16_fashion]=200:0.5)
tables="lenet300_mnist10k lenet300_fashion lenet300_fashion_decay lenet300_fashion_long lenet5_mnist10k lenet5_mnist10k_decay
        lenet5_mnist10k_long lenet5_fashion resnet20-4_fashion vgg16_fashion"
# trained only with --device (not cpu) or when named by --only
big_tables=" resnet20-4_fashion vgg16_fashion "
sweep_set=()
[ -n "$device" ] && sweep_set=(--set "train.device=$device")
# part 2: the four main tables, the two longer schedules and the large networks, with a title for the
# plot (plot_pareto.py draws the paper's Table 1 points itself, from data/paper_table1.tsv, on the
# matching network and data set only: marked "full MNIST" on MNIST-10k, none on Fashion-MNIST; the
# CIFAR-10 figures of the large networks are quoted in the tables' notes, for scale)
main_tables="lenet300_mnist10k lenet300_fashion lenet300_fashion_long lenet5_mnist10k lenet5_mnist10k_long lenet5_fashion
             resnet20-4_fashion vgg16_fashion"
declare -A title=([lenet300_mnist10k]="LeNet300-100 on MNIST-10k" [lenet300_fashion]="LeNet300-100 on Fashion-MNIST"
                  [lenet5_mnist10k]="LeNet5-Caffe on MNIST-10k" [lenet5_fashion]="LeNet5-Caffe on Fashion-MNIST"
                  [lenet300_fashion_long]="LeNet300-100 on Fashion-MNIST, 20k steps + lr decay"
                  [lenet5_mnist10k_long]="LeNet5-Caffe on MNIST-10k, 12k steps + lr decay"
                  [resnet20-4_fashion]="ResNet-20-4 on Fashion-MNIST (padded to 32x32), 20k steps"
                  [vgg16_fashion]="VGG-16 on Fashion-MNIST (padded to 32x32), 20k steps")
doc=docs/results.md
mkdir -p docs/img
{
  echo "# Results: EPR against the plain float32 baseline"
  echo
  echo "The GPU runs of the issue-14 study and the large networks (issue 15: ResNet-20-4 and VGG-16 on Fashion-MNIST, one section per table with its EPR table, methods table and Pareto plot, the paper's CIFAR-10 figures for scale, and the notes with the targets: both met with the quantisation step fixed, sections \"step fixed at s = e^-2.7 = 0.067\") are in docs/results-study.md (\`scripts/results_study.sh\`); the tables below are the earlier CPU runs, whose run files are not kept (their self-information column uses KB = 1024 B)."
  echo
  echo "Generated by \`scripts/results.sh\` from the run files under \`$out/\` (tables) and"
  echo "\`docs/results-notes.md\` (notes).  Every size is the size of the \`.epr\` file on"
  echo "disk; every error is the test error of the network decoded from that file"
  echo "(quantised EMA weights).  Self-information is the exact rate of the integer"
  echo "φ under the learned densities; the file can be smaller, since each column"
  echo "keeps the cheaper of a density table and its own histogram."
  echo
  for t in $tables; do
    tsv=sweeps/results_$t.tsv
    train=$run
    if [ -n "$only" ]; then
      case $only in *",$t,"*) ;; *) train=0 ;; esac
    elif [[ "$big_tables" == *" $t "* ]] && { [ -z "$device" ] || [ "$device" = cpu ]; }; then
      train=0 # days on the CPU: only with --device or --only
    fi
    if [ $train = 1 ]; then "$epr" sweep "$tsv" --out "$out/$t" --np "$np" "${sweep_set[@]}" >&2 || true; fi
    # a large network's table appears once it has runs (no placeholder)
    [[ "$big_tables" == *" $t "* ]] && [ ! -d "$out/$t" ] && continue
    if [[ "$big_tables" == *" $t "* ]]; then
      echo "Command: \`build/epr sweep $tsv --out $out/$t --set train.device=cuda\` (on a GPU machine, docs/sweeps.md)"
    else
      echo "Command: \`build/epr sweep $tsv --out $out/$t\`"
    fi
    echo
    if [ -d "$out/$t" ]; then
      # sweep.h5 /points: the target on the means over seeds (exit status 1 = a file rejected, see its report)
      "$epr" pareto "$out/$t" --quiet || true
      $py analysis/results_table.py --target "${target[$t]}" "$out/$t"
    else
      echo "(not run yet: no \`$out/$t\`)"
      echo
    fi
  done
  [ -f docs/results-notes.md ] && cat docs/results-notes.md
  echo
  echo "## EPR against baselines"
  echo
  echo "The same runs against what a user could do instead of EPR with the plain"
  echo "network (docs/baselines.md): every baseline is a real file written by"
  echo "\`epr baseline\` beside a plain run (\`baseline.post\` on the plain rows of"
  echo "the sweep tables; \`epr sweep\` makes them for finished runs), measured like"
  echo "\`model.epr\`: its size on disk, the test error of the network decoded from"
  echo "it.  Methods: **epr-sq** (EPR, all groups identity), **epr-dft** (a group"
  echo "with the DFT), **float32**, **gzip**, **xz** (of the float32 file),"
  echo "**uniformN** and **kmeansN** (N-bit uniform grid / 2^N-entry k-means"
  echo "codebook per group, entropy coded: one row for all N, as one row for all λ),"
  echo "**prune-kmeans** (Deep Compression: magnitude pruning and k-means weight"
  echo "sharing during training).  Per method, the smallest file within +0.3 and"
  echo "+1.0 points of the plain baseline's mean error (\"—\": none), then which"
  echo "method is smallest at each threshold.  Plots: x the file size in bytes (log),"
  echo "y the test error; EPR as lines through their Pareto fronts, baselines as"
  echo "markers, the plain baseline's mean as a line with bands up to +0.3 and +1.0"
  echo "points; the gold star is the paper's Table 1 EPR point (full MNIST; for ResNet-20-4 and"
  echo "VGG-16 its CIFAR-10 point, for scale only: other data)."
  echo
  for t in $main_tables; do
    d=$out/$t
    [[ "$big_tables" == *" $t "* ]] && [ ! -d "$d" ] && continue
    if [ ! -d "$d" ]; then
      echo "### $t"; echo; echo "(not run yet: no \`$d\`)"; echo
      continue
    fi
    # exit status 1 = some file was rejected (named on stderr, listed in DIR/report.md)
    "$epr" pareto "$d" --quiet || echo "results.sh: epr pareto $d: exit status $? (see $d/report.md)" >&2
    if [ ! -f "$d/sweep.h5" ]; then
      echo "### $t"; echo; echo "(no finished runs in \`$d\`)"; echo
      continue
    fi
    $py analysis/results_table.py --methods "$d"
    $py analysis/plot_pareto.py "$d/sweep.h5" -o "$d/pareto.png" \
        --title "${title[$t]}: file size against test error" >&2
    cp "$d/pareto.png" "docs/img/pareto_$t.png"
    echo "![${title[$t]}: file size against test error, per method](img/pareto_$t.png)"
    echo
    echo "Commands: \`build/epr pareto $d\`; \`/usr/bin/python3 analysis/results_table.py --methods $d\`;"
    echo "\`/usr/bin/python3 analysis/plot_pareto.py $d/sweep.h5 -o $d/pareto.png\`."
    echo
  done
  [ -f docs/results-notes-baselines.md ] && cat docs/results-notes-baselines.md
} > "$doc.tmp"
mv "$doc.tmp" "$doc"
echo "wrote $doc"
