#!/usr/bin/env bash
# CPU smoke test of the Fashion-MNIST experiments of the large networks
# (issue 15): the real experiment files experiments/{resnet20-4,vgg16}_fashion_*.ini,
# [data] pad = 2 (28x28 -> 32x32) and crop-flip, on a small IDX subset of the
# real Fashion-MNIST images (the first 64 training and 32 test images, written
# here from data/fashion-mnist; the 10,000 test images take minutes per
# network on two shared cores), a few steps at batch 4:
#   - resnet20-4 EPR-DFT and vgg16-cifar EPR-SQ write model.epr whose
#     architecture text records `input 1 32 32` and `pad 2`;
#   - vgg16-cifar plain with baseline.post = uniform4 writes that baseline;
#   - `epr eval FILE --images --labels` of the 28x28 test subset pads it as
#     training did: the same predictions (crc32) as the run's own decoded
#     evaluation (model.epr) or the baseline's test error;
#   - without the border (data.pad = 0) vgg16-cifar is refused with the
#     layer that does not fit (VGG's fifth 2x2 max-pool on 28x28 input).
# Skips (exit 0, "SKIPPED:") when data/fashion-mnist is not prepared.
# Timing (not part of the test): FASHION_SMOKE_STEPS=20 runs 20 steps of
# each and prints the img/s of each run ("done:" lines).
#   fashion_smoke.sh EPR_BINARY WORKDIR SOURCE_DIR
set -euo pipefail
epr=$1 work=$2/bignets-fashion-smoke src=$3
steps=${FASHION_SMOKE_STEPS:-3}
fm=$src/data/fashion-mnist
[ -f "$fm/train-images-idx3-ubyte.gz" ] || { echo "SKIPPED: $fm not prepared (scripts/setup.sh)"; exit 0; }
rm -rf "$work"; mkdir -p "$work"; cd "$work"
export OPENBLAS_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fail() { echo "FAIL: $*" >&2; exit 1; }

python3 - "$fm" <<'PY'
import gzip, os, struct, sys
src = sys.argv[1]
for split, k in (("train", 64), ("t10k", 32)):
    im = gzip.open(os.path.join(src, f"{split}-images-idx3-ubyte.gz")).read()
    lb = gzip.open(os.path.join(src, f"{split}-labels-idx1-ubyte.gz")).read()
    assert struct.unpack(">IIII", im[:16]) [0] == 0x803 and struct.unpack(">IIII", im[:16])[2:] == (28, 28)
    open(f"{split}-images", "wb").write(struct.pack(">IIII", 0x803, k, 28, 28) + im[16:16 + k * 784])
    open(f"{split}-labels", "wb").write(struct.pack(">II", 0x801, k) + lb[8:8 + k])
PY
data=(--set data.set=idx --set "data.train_images=$work/train-images" --set "data.train_labels=$work/train-labels"
      --set "data.test_images=$work/t10k-images" --set "data.test_labels=$work/t10k-labels")
short=(--set train.steps="$steps" --set train.batch=4 --set train.eval_batch=16 --set train.log_every=1
       --set train.eval_every=0 --set train.checkpoint_every=1000 --set train.lr_milestones=1000)

run() { # NAME EXPERIMENT [--set ...]
  local name=$1 exp=$2; shift 2
  timeout 600 "$epr" train "$src/experiments/$exp" "${data[@]}" "${short[@]}" "$@" --out "$name" > "$name.log" 2>&1 ||
    { cat "$name.log"; fail "$name: epr train failed"; }
  grep "^done:" "$name.log"
}
# the file's test error and predictions equal epr eval's of the 28x28 test images
check_eval() { # NAME FILE
  local name=$1 file=$2
  grep -a -q "^input 1 32 32$" "$file" || fail "$file does not record a 1x32x32 input"
  grep -a -q "^pad 2$" "$file" || fail "$file does not record 'pad 2'"
  "$epr" eval "$file" --images "$work/t10k-images" --labels "$work/t10k-labels" --batch 16 > "$name.eval" 2>&1 ||
    { cat "$name.eval"; fail "$name: epr eval $file failed"; }
  cat "$name.eval"
}

run resnet_dft resnet20-4_fashion_dft.ini
check_eval resnet_dft resnet_dft/model.epr
crc=$(sed -n 's/^decoded .*predictions crc32 \([0-9a-f]*\)$/\1/p' resnet_dft.log)
[ -n "$crc" ] && grep -q "predictions crc32 $crc\$" resnet_dft.eval || fail "resnet_dft: epr eval predictions differ from training's ($crc)"

run vgg_sq vgg16_fashion_sq.ini
check_eval vgg_sq vgg_sq/model.epr
crc=$(sed -n 's/^decoded .*predictions crc32 \([0-9a-f]*\)$/\1/p' vgg_sq.log)
[ -n "$crc" ] && grep -q "predictions crc32 $crc\$" vgg_sq.eval || fail "vgg_sq: epr eval predictions differ from training's ($crc)"

run vgg_plain vgg16_fashion_sq.ini --set epr.enabled=false --set baseline.post=uniform4
check_eval vgg_plain vgg_plain/baseline_uniform4.epr
err=$(sed -n 's/^uniform4 .* \([0-9.]*%\) .*/\1/p' vgg_plain.log | head -1)
[ -n "$err" ] && grep -q "test error $err " vgg_plain.eval || fail "vgg_plain: epr eval error differs from the baseline's ($err)"

if [ "$steps" -gt 3 ]; then # timing: the EPR-SQ/plain pair of resnet too
  run resnet_plain resnet20-4_fashion_sq.ini --set epr.enabled=false
  run resnet_sq resnet20-4_fashion_sq.ini
  run vgg_dft vgg16_fashion_dft.ini
fi

if "$epr" train "$src/experiments/vgg16_fashion_sq.ini" "${data[@]}" "${short[@]}" --set data.pad=0 --out nopad \
    > nopad.log 2>&1; then
  fail "vgg16 on unpadded 28x28 input was accepted"
fi
grep -q "maxpool.*does not fit" nopad.log || { cat nopad.log; fail "no clear message for 28x28 input to vgg16"; }
echo "fashion smoke: resnet20-4 DFT, vgg16 SQ and plain+uniform4 on 1x28x28 padded to 32x32; files evaluated back alike"
