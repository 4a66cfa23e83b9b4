#!/usr/bin/env bash
# Writes docs/results-study.md (issues 14 and 15) from the GPU runs of the
# study tables: sweeps/study_*.tsv (LeNets, validation split, cosine lr
# with warm-up, lambda ramp, two seeds) and sweeps/gpu_*_fashion.tsv (large
# networks).  The runs are trained on a GPU machine with
# bench/device_sweeps.sh (docs/sweeps.md) and brought back as slim run
# directories under DIR/<table> (default runs/gpu); this script trains
# nothing: per table `epr pareto`, the EPR table with the issue's target,
# the methods table and the Pareto plot (docs/img/pareto_<table>.png).
# A table whose runs are not under DIR (runs/ is not kept in git, so a new
# checkout has only what its own calls brought back) keeps the section that
# docs/results-study.md already has, marked as such.  Runs of a table
# brought back by a later call go to DIR/<table>_<part> (a section of its
# own: `parts` below), so that the earlier section stays as generated.
#   scripts/results_study.sh [--out DIR] [--build DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
out=runs/gpu build=build
while [ $# -gt 0 ]; do
  case $1 in
    --out) out=$2; shift ;;
    --build) build=$2; shift ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "results_study.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
epr=$build/epr py=/usr/bin/python3 doc=docs/results-study.md
[ -x "$epr" ] || { echo "results_study.sh: $epr not built (cmake --build $build --target epr)" >&2; exit 1; }
# table -> "ratio:points" target of issue 14 / 15, and a title
declare -A target=([study_lenet300_mnist10k]=400:0.3 [study_lenet300_mnist10k_40k]=400:0.3 [study_lenet5_mnist10k]=800:0.3
                   [study_lenet5_mnist10k_40k]=800:0.3 [study_lenet300_fashion]=60:0.5 [study_lenet5_fashion]=120:0.5
                   [gpu_resnet20-4_fashion]=100:0.5 [gpu_vgg16_fashion]=200:0.5 [gpu_vgg16_fashion_ramp]=200:0.5 [gpu_resnet20-4_fashion_8k]=100:0.5
                   [gpu_resnet20-4_fashion_8k_call3]=100:0.5 [gpu_vgg16_fashion_fixpsi]=200:0.5 [gpu_vgg16_fashion_fix3]=200:0.5
                   [gpu_vgg16_fashion_fix27]=200:0.5 [gpu_vgg16_fashion_fix25]=200:0.5 [gpu_vgg16_fashion_fix23]=200:0.5
                   [gpu_vgg16_fashion_dlr]=200:0.5 [gpu_resnet20-4_fashion_8k_fix27]=100:0.5)
declare -A title=([study_lenet300_mnist10k]="LeNet300-100, MNIST-10k, 20k steps" [study_lenet300_mnist10k_40k]="LeNet300-100, MNIST-10k, 40k steps"
                  [study_lenet5_mnist10k]="LeNet5-Caffe, MNIST-10k, 20k steps" [study_lenet5_mnist10k_40k]="LeNet5-Caffe, MNIST-10k, 40k steps"
                  [study_lenet300_fashion]="LeNet300-100, Fashion-MNIST, 40k steps" [study_lenet5_fashion]="LeNet5-Caffe, Fashion-MNIST, 40k steps"
                  [gpu_resnet20-4_fashion]="ResNet-20-4, Fashion-MNIST, 4k steps" [gpu_vgg16_fashion]="VGG-16, Fashion-MNIST, 6k steps"
                  [gpu_vgg16_fashion_ramp]="VGG-16, Fashion-MNIST, 6k steps, lambda ramp and lr warm-up"
                  [gpu_resnet20-4_fashion_8k]="ResNet-20-4, Fashion-MNIST, 8k steps"
                  [gpu_resnet20-4_fashion_8k_call3]="ResNet-20-4, Fashion-MNIST, 8k steps, the third call's rows"
                  [gpu_vgg16_fashion_fixpsi]="VGG-16, Fashion-MNIST, 6k steps, lambda ramp, lr warm-up, decoder parameters fixed"
                  [gpu_vgg16_fashion_fix3]="VGG-16, Fashion-MNIST, 6k steps, as above with the step fixed at s = e^-3 = 0.050"
                  [gpu_vgg16_fashion_fix27]="VGG-16, Fashion-MNIST, 6k steps, as above with the step fixed at s = e^-2.7 = 0.067"
                  [gpu_vgg16_fashion_fix25]="VGG-16, Fashion-MNIST, 6k steps, as above with the step fixed at s = e^-2.5 = 0.082"
                  [gpu_vgg16_fashion_fix23]="VGG-16, Fashion-MNIST, 6k steps, as above with the step fixed at s = e^-2.3 = 0.100"
                  [gpu_vgg16_fashion_dlr]="VGG-16, Fashion-MNIST, 6k steps, as above with the steps trained at decoder_lr 1e-4"
                  [gpu_resnet20-4_fashion_8k_fix27]="ResNet-20-4, Fashion-MNIST, 8k steps, the step fixed at s = e^-2.7 = 0.067")
# a section made of a later call's runs of a table: its sweep table
declare -A parts=([gpu_resnet20-4_fashion_8k_call3]=gpu_resnet20-4_fashion_8k)
# a section gathered from the runs of several tables (one setting's runs and the
# plain rows they are measured against): TABLE/RUN-GLOB under DIR, copied into
# DIR/<section> when every table named is there; the heading names the tables
v=gpu_vgg16_fashion plain="gpu_vgg16_fashion_fixpsi/plain_s*"
declare -A gather=([${v}_fix3]="$plain ${v}_psi2/fix3_* ${v}_psi3/fix3_*"
                   [${v}_fix27]="$plain ${v}_psi3/fix27_* ${v}_psi4/fix27_* ${v}_psi5/fix27_*"
                   [${v}_fix25]="$plain ${v}_psi4/fix25_*" [${v}_fix23]="$plain ${v}_psi2/fix23_*"
                   [${v}_dlr]="$plain ${v}_psi2/dlr1e-4_*")
# a table without plain rows of its own: the logs of the plain runs it is
# measured against (committed under docs/gpu-logs; results_table.py --base-log)
l12=docs/gpu-logs/study12/gpu_resnet20-4_fashion_8k__plain
declare -A baselogs=([gpu_resnet20-4_fashion_8k_fix27]="${l12}_s1.log ${l12}_s2.log docs/gpu-logs/study13/logs/gpu_resnet20-4_fashion_8k__plain_s3.log")
# the error axis where the default (baseline + 3 points) would hide a method's front
declare -A ymax=([gpu_vgg16_fashion]=16 [gpu_vgg16_fashion_ramp]=16 [gpu_resnet20-4_fashion]=22 [gpu_resnet20-4_fashion_8k]=22
                 [gpu_resnet20-4_fashion_8k_call3]=22 [gpu_vgg16_fashion_fixpsi]=16 [gpu_vgg16_fashion_fix3]=16
                 [gpu_vgg16_fashion_fix27]=16 [gpu_vgg16_fashion_fix25]=16 [gpu_vgg16_fashion_fix23]=16 [gpu_vgg16_fashion_dlr]=16
                 [gpu_resnet20-4_fashion_8k_fix27]=8)
tables="study_lenet300_mnist10k study_lenet300_mnist10k_40k study_lenet5_mnist10k study_lenet5_mnist10k_40k
        study_lenet300_fashion study_lenet5_fashion gpu_resnet20-4_fashion gpu_resnet20-4_fashion_8k
        gpu_resnet20-4_fashion_8k_call3 gpu_vgg16_fashion gpu_vgg16_fashion_ramp gpu_vgg16_fashion_fixpsi
        gpu_vgg16_fashion_fix3 gpu_vgg16_fashion_fix27 gpu_vgg16_fashion_fix25 gpu_vgg16_fashion_fix23 gpu_vgg16_fashion_dlr
        gpu_resnet20-4_fashion_8k_fix27"
mkdir -p docs/img
kept="(Kept from the earlier docs/results-study.md: the runs of this table are not in this checkout.)"
# prints table $1's section of the current document (heading to the next heading), marked as kept
keep_section() {
  [ -f "$doc" ] && awk -v h="## ${title[$1]} (" -v k="$kept" '
    index($0, "## ") == 1 { on = index($0, h) == 1; if (on) { print; print ""; print k; print ""; skip = 1; next } }
    on && skip && ($0 == "" || $0 == k) { next }
    on { skip = 0; print }' "$doc"
}
{
  echo "# Results on the GPU: the issue-14 study and the large networks"
  echo
  echo "Generated by \`scripts/results_study.sh\` from the run files under \`$out/\`, trained on"
  echo "one NVIDIA H200 by \`bench/device_sweeps.sh\` (device = cuda; commands in docs/sweeps.md)."
  echo "Every size is the size of the \`.epr\` file; every error is the test error of the network"
  echo "decoded from that file (quantised EMA or raw weights, chosen on the validation split where"
  echo "the table has one): on the CPU for the LeNet tables, on the GPU in FP32 for the large"
  echo "networks (\`[train] file_eval = device\`; the notes say which files were checked on the CPU"
  echo "with \`epr eval\`).  KB = 1000 B.  Several runs shared the GPU (MPS), so the"
  echo "wall times are those of a shared GPU, not of one run alone."
  echo
  [ -f docs/results-study-notes.md ] && cat docs/results-study-notes.md && echo
  for t in $tables; do
    d=$out/$t
    set -f; pats=(${gather[$t]:-}); set +f  # TABLE/GLOB words, expanded under $out below
    srcs=""
    for g in "${pats[@]}"; do case " $srcs " in *" ${g%%/*} "*) ;; *) srcs="$srcs ${g%%/*}" ;; esac; done
    if [ -n "$srcs" ] && (for x in $srcs; do [ -d "$out/$x" ] || exit 1; done); then
      rm -rf "$d" && mkdir -p "$d"
      for g in "${pats[@]}"; do
        n=0
        for r in "$out"/$g; do [ -d "$r" ] && cp -r "$r" "$d/" && n=$((n + 1)); done
        [ $n -gt 0 ] || { echo "results_study.sh: $t: no run $out/$g" >&2; exit 1; }
      done
    fi
    if [ ! -d "$d" ]; then
      sec=$(keep_section "$t")
      if [ -n "$sec" ]; then echo "$sec"; echo; continue; fi
    fi
    src=${parts[$t]:-$t}
    [ -n "$srcs" ] && src=$(echo $srcs | sed 's/ /.tsv`, `sweeps\//g')
    echo "## ${title[$t]} (\`sweeps/$src.tsv\`)"
    echo
    if [ ! -d "$d" ]; then echo "(not run yet: no \`$d\`)"; echo; continue; fi
    "$epr" pareto "$d" --quiet || echo "results_study.sh: epr pareto $d: exit status $? (see $d/report.md)" >&2
    bl=()
    for l in ${baselogs[$t]:-}; do bl+=(--base-log "$l"); done
    $py analysis/results_table.py --target "${target[$t]}" "${bl[@]}" "$d" | sed 1d
    if [ -f "$d/sweep.h5" ]; then
      $py analysis/results_table.py --methods "$d" | sed 1d
      $py analysis/plot_pareto.py "$d/sweep.h5" -o "$d/pareto.png" --title "${title[$t]}: file size against test error" \
        ${ymax[$t]:+--ymax ${ymax[$t]}} >&2
      cp "$d/pareto.png" "docs/img/pareto_$t.png"
      echo "![${title[$t]}](img/pareto_$t.png)"
      echo
    fi
  done
} > "$doc.tmp"
mv "$doc.tmp" "$doc"
echo "wrote $doc"
