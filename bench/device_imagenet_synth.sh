#!/bin/bash
# bench/device_imagenet_synth.sh — issue 15 deliver 4: timed EPR-DFT runs of
# ResNet-18 and ResNet-50 (experiments/resnet{18,50}_imagenet_dft.ini, as a
# user would run them on ImageNet: batch 256, random-resized crop 224 + flip,
# SGD) on a GPU, on synthetic ImageNet-shaped packs (random images and
# labels, bench/synthetic_pack.py, written from docs/imagenet-pack.md), each
# run alone on the GPU; the written .epr evaluated back on the GPU and on the
# CPU (`epr eval --data pack`).  Run from the repository root there:
#   [STEPS=60] [NTRAIN=1280] [NVAL=500] [NETS="resnet18 resnet50"] [RUN_LIMIT=150] [EVAL_LIMIT=90] \
#       bash bench/device_imagenet_synth.sh PACK OUTDIR
# PACK: a folder (or .tar.xz) made by bench/gpu_pack.sh.  OUTDIR gets
# <net>.log (training), <net>.eval.log (epr eval on the CPU), <net>.mem.log
# (nvidia-smi memory.used every 0.5 s while the run trains), <net>.epr.
# The errors mean nothing (random labels): the throughput, the memory, the
# file's size and that its decode agrees with the GPU's are what it shows.
set -u
R=$(pwd); P=${1:?pack}; F=${2:?out dir}
STEPS=${STEPS:-60}; NTRAIN=${NTRAIN:-1280}; NVAL=${NVAL:-500}; NETS=${NETS:-resnet18 resnet50}
mkdir -p "$F"
if [ -f "$P" ]; then mkdir -p /tmp/pack && tar -xJf "$P" -C /tmp/pack && P=$(ls -d /tmp/pack/*/ | head -1); fi
P=$(cd "$P" && pwd)
[ -e /work/main ] || { mkdir -p /work && ln -s "$R" /work/main; }
export LD_LIBRARY_PATH=$P/lib:${LD_LIBRARY_PATH:-}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
D=/tmp/imagenet_synth
mkdir -p "$D/imagenet"
T0=$(date +%s)
# a pack left by an earlier call is kept when it has the size asked for
pack() { # N SEED FILE
    [ "$(stat -c %s "$3" 2>/dev/null)" = "$((32 + 2 * $1 + $1 * 3 * 256 * 256))" ] ||
        python3 "$R/bench/synthetic_pack.py" --force --n "$1" --seed "$2" "$3"
}
pack "$NTRAIN" 1 "$D/imagenet/train.pack"
pack "$NVAL" 2 "$D/imagenet/val.pack"
echo "[$(($(date +%s) - T0)) s] packs written; GPU memory used before the runs: $(nvidia-smi --query-gpu=memory.used --format=csv,noheader)"
for net in $NETS; do
    out=$D/runs/$net; rm -rf "$out"
    nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 500 > "$F/$net.mem.log" 2>/dev/null &
    smi=$!
    timeout -s USR1 -k 10 "${RUN_LIMIT:-150}" env OPENBLAS_NUM_THREADS=16 "$P/epr" train "$R/experiments/${net}_imagenet_dft.ini" --set data.root="$D" \
        --set train.device=cuda --set train.file_eval=device --set train.steps="$STEPS" \
        --set train.log_every=10 --set train.eval_every=0 --set train.checkpoint_every="$STEPS" \
        --out "$out" > "$F/$net.log" 2>&1
    rc=$?
    kill $smi 2>/dev/null; wait $smi 2>/dev/null
    echo "[$(($(date +%s) - T0)) s] $net: epr train exit $rc; peak GPU memory.used $(sort -n "$F/$net.mem.log" | tail -1) MiB"
    grep -E "^done:|^decoded|^wrote|differ on" "$F/$net.log"
    if [ -f "$out/model.epr" ]; then
        cp "$out/model.epr" "$F/$net.epr"
        s=$(date +%s)
        timeout "${EVAL_LIMIT:-90}" env OPENBLAS_NUM_THREADS=16 "$P/epr" eval "$out/model.epr" --data pack --pack "$D/imagenet/val.pack" \
            --data-root "$D" > "$F/$net.eval.log" 2>&1
        rc=$?
        echo "[$(($(date +%s) - T0)) s] $net: epr eval on the CPU exit $rc in $(($(date +%s) - s)) s: $(grep -i "error" "$F/$net.eval.log" | tail -1)"
    fi
done
