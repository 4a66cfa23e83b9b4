#!/usr/bin/env bash
# Smoke test of the CIFAR pipeline with batch norm and EPR DFT groups, end to
# end with the real `epr`: synthetic CIFAR-format data (make_cifar_data.py),
# 300 steps of a narrow pre-activation ResNet written in the resnet20-4
# layout (the full width, 4.3M parameters, is ~2 s a step on two shared
# cores), then:
#   - the loss falls (mean of the last two log lines < 0.6 x the first),
#   - `epr train` wrote model.epr and evaluated the decoded file,
#   - `epr eval model.epr --data cifar10 --data-root DIR` reads it back
#     with the same predictions (crc32) and the same test error.
# SGD with momentum as in the paper.  The decoder parameters Ψ are stepped
# by Adam ([epr] decoder_lr): with plain SGD the conv-affine offsets c (one
# per kernel tap, gradient summed over every kernel of the group) took steps
# thousands of times a weight's and training stalled (loss 1.71 vs 0.03).
# Case "pack" instead trains a small net on a packed image file
# (docs/imagenet-pack.md) written here, stored at 40x40, with crop = 32 and
# augment = rrc-flip: the input-size hand-over (the data set reports the
# crop) and the augmentation inside `epr train`, and the decoded model.epr.
#   smoke.sh EPR_BINARY WORKDIR [cifar|pack]
set -euo pipefail
epr=$1 work=$2/bignets-smoke-${3:-cifar} case_name=${3:-cifar}
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$work"; mkdir -p "$work"; cd "$work"
export OPENBLAS_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fail() { echo "FAIL: $*" >&2; exit 1; }
python3 "$here/make_cifar_data.py" data
if [ "$case_name" = pack ]; then
  python3 "$here/make_cifar_data.py" --pack 40 data
fi

# resnet20-4's blocks (see src/nn/model.c) at widths 8/16/32, one block per
# stage: stem conv, a projection block per stage, BN-ReLU, GAP, fc.
block() { # NAME WIDTH STRIDE INPUT
  cat <<L
  batchnorm name=$1_bn1 in=$4
  relu name=$1_relu1
  conv name=$1_conv1 out=$2 k=3 stride=$3 pad=1 bias=0
  batchnorm name=$1_bn2
  relu
  conv name=$1_conv2 out=$2 k=3 pad=1 bias=0
  conv name=$1_shortcut in=$1_relu1 out=$2 k=1 stride=$3 bias=0
  add name=$1 with=$1_conv2
L
}
cat > smoke.ini <<INI
[data]
root = $work/data
normalize = true
$(if [ "$case_name" = pack ]; then
    printf 'set = pack\ntrain_pack = train.pack\ntest_pack = test.pack\ncrop = 32\naugment = rrc-flip\n'
  else
    printf 'set = cifar10\naugment = crop-flip\n'
  fi)
[model]
name = custom
layers = conv name=conv1 out=8 k=3 pad=1 bias=0
$(block layer1_0 8 1 conv1)
$(block layer2_0 16 2 layer1_0)
$(block layer3_0 32 2 layer2_0)
  batchnorm name=bn_final
  relu
  gap
  dense name=fc out=10
[train]
steps = 300
batch = 32
eval_batch = 64
optimizer = sgd
lr = 0.05
momentum = 0.9
lr_decay = 0.2
lr_milestones = 200
log_every = 50
eval_every = 0
checkpoint_every = 1000
[epr]
enabled = true
lambda = 1e-6
density_lr = 1e-3
uncompressed = *.bias
[group.conv]
tensors = conv1.weight, layer1_0_conv1.weight, layer1_0_conv2.weight,
  layer2_0_conv1.weight, layer2_0_conv2.weight,
  layer3_0_conv1.weight, layer3_0_conv2.weight
decoder = conv-affine
transform = dft
ell = 9
kernel = 3x3
[group.shortcut]
tensors = layer1_0_shortcut.weight, layer2_0_shortcut.weight, layer3_0_shortcut.weight
[group.fc]
tensors = fc.weight
INI

timeout 600 "$epr" train smoke.ini --out run > train.log 2>&1 || { cat train.log; fail "epr train failed"; }
cat train.log
[ -s run/model.epr ] || fail "no model.epr"
python3 - train.log <<'PY'
import re, sys
losses = [float(m.group(1)) for m in re.finditer(r"^step +\d+/\d+ +loss ([0-9.]+)", open(sys.argv[1]).read(), re.M)]
assert len(losses) >= 4, f"too few log lines: {losses}"
first, last = losses[0], sum(losses[-2:]) / 2
print(f"loss: first log {first:.4f}, mean of last two {last:.4f}")
assert last < 0.6 * first, f"loss did not fall enough: {losses}"
PY
if [ "$case_name" = pack ]; then
  grep -q "^decoded run/model.epr (evaluated on the CPU): test error" train.log || fail "no decoded evaluation of model.epr"
  # the network was built for the crop, not the stored size
  grep -a -q "^input 3 32 32$" run/model.epr || fail "model.epr does not record a 3x32x32 input"
  # epr eval centre-crops the stored 40x40 test images to the file's 32x32 input, as training did
  crc_train=$(sed -n 's/^decoded .*predictions crc32 \([0-9a-f]*\)$/\1/p' train.log)
  "$epr" eval run/model.epr --data pack --pack data/test.pack > eval.log 2>&1 || { cat eval.log; fail "epr eval --data pack failed"; }
  cat eval.log
  grep -q "predictions crc32 $crc_train\$" eval.log || fail "epr eval --data pack: predictions differ from training's ($crc_train)"
  if "$epr" eval run/model.epr --data mnist10k --pack data/test.pack > bad.log 2>&1; then fail "--pack without --data pack accepted"; fi
  grep -q "needs --data pack" bad.log || { cat bad.log; fail "no clear message for --pack without --data pack"; }
  echo "pack: trained at crop 32 from 40x40 stored images with rrc-flip; model.epr decoded and evaluated, epr eval agrees"
  exit 0
fi
crc_train=$(sed -n 's/^decoded .*predictions crc32 \([0-9a-f]*\)$/\1/p' train.log)
err_train=$(sed -n 's/^decoded .*: test error \([0-9.]*%\).*/\1/p' train.log)
[ -n "$crc_train" ] || fail "training printed no predictions crc32"
"$epr" eval run/model.epr --data cifar10 --data-root "$work/data" > eval.log 2>&1 || { cat eval.log; fail "epr eval failed"; }
cat eval.log
crc_eval=$(sed -n 's/.*predictions crc32 \([0-9a-f]*\)$/\1/p' eval.log)
err_eval=$(sed -n 's/.*test error \([0-9.]*%\).*/\1/p' eval.log)
[ "$crc_train" = "$crc_eval" ] || fail "predictions differ: train crc32 $crc_train, eval crc32 $crc_eval"
[ "$err_train" = "$err_eval" ] || fail "test error differs: train $err_train, eval $err_eval"
echo "round trip: epr eval of model.epr gives the training run's predictions (crc32 $crc_eval, test error $err_eval)"
