#!/usr/bin/env bash
# Issue 16 end to end: `epr export`, the Python reader (python/eprfile),
# `[model] init`, with the real binary on the bundled MNIST-10k (skipped when
# scripts/setup.sh has not prepared it, or when /usr/bin/python3 lacks numpy;
# the round trip also needs torch).
#   interop_tests.sh CASE EPR_BINARY REPO WORKDIR
# Cases:
#   export     LeNet300-100 and LeNet5-Caffe EPR runs of 20 steps: `epr export`
#              of model.epr to .npz and .safetensors; a NumPy forward pass over
#              the exported tensors (and over eprfile.read) predicts what
#              `epr eval --predictions` does; `epr export RUN.h5 --quantised`
#              equals the .epr's tensors bitwise; the continuous export differs
#              from it by at most s/2; a plain run's export; refusals (over
#              the input, over an existing file, --quantised of a plain run)
#   reader     eprfile on a damaged file (a flipped byte, a truncation, not an
#              .epr) raises EprError carrying libepr-codec's message;
#              eprfile.forward = epr eval on the eval corpus's batch-norm and
#              ResNet smoke files (normalisation, add, global pooling)
#   init       `[model] init` errors name the file and the mismatch; an init
#              from an exported plain run starts where that run ended
#   resnet18   a ResNet-18 in torchvision's layout (random weights, gamma and
#              statistics) -> pt_to_init -> `[model] name = resnet18`,
#              batchnorm_affine = true, init = ... -> one step (lr 1e-9) on
#              synthetic CIFAR -> export -> load_state_dict(strict=True) into
#              the torch module, weights unchanged
#   roundtrip  LeNet5-Caffe trained 100 steps in PyTorch -> pt_to_init ->
#              `init =` -> EPR training 100 steps -> model.epr -> eprfile ->
#              PyTorch predictions identical to `epr eval`'s
set -euo pipefail
case_name=$1 epr=$(cd "$(dirname "$2")" && pwd)/$(basename "$2") repo=$3 work=$4/$1
root=${EPR_DATA_ROOT:-$repo/data}
PY=/usr/bin/python3
if [ -n "${EPR_PY_PRELOAD:-}" ]; then # sanitizer build: see extra.cmake
  PY="env LD_PRELOAD=$EPR_PY_PRELOAD ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0 /usr/bin/python3"
fi
if [ ! -e "$root/mnist10k/t10k-images-idx3-ubyte" ]; then
  echo "SKIPPED: $root/mnist10k not prepared (run scripts/setup.sh)"; exit 0
fi
$PY -c "import numpy" 2>/dev/null || { echo "SKIPPED: $PY has no numpy"; exit 0; }
if [ "$case_name" = roundtrip ] || [ "$case_name" = resnet18 ]; then
  $PY -c "import torch" 2>/dev/null || { echo "SKIPPED: $PY has no torch (python3-torch)"; exit 0; }
fi
rm -rf "$work"; mkdir -p "$work"; cd "$work"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
export EPR_CODEC_LIB=${EPR_CODEC_LIB:-$(dirname "$epr")/libepr-codec.so} PYTHONPATH=$repo/python
CHECK=$repo/tests/interop/check_interop.py
TINY=(--set train.steps=20 --set train.log_every=10 --set train.eval_every=0 --set train.checkpoint_every=20 --quiet)
fail() { echo "FAIL: $*" >&2; exit 1; }
expect_status() {
  local want=$1 log=$2; shift 2
  set +e; "$@" > "$log" 2>&1; local rc=$?; set -e
  [ "$rc" = "$want" ] || { cat "$log"; fail "'$*' exited $rc, expected $want"; }
}
expect_in() { grep -qF -- "$1" "$2" || { cat "$2"; fail "'$1' not in $2"; }; }

case $case_name in
export)
  # export_net EXPERIMENT DIR: train 20 steps, eval, export every way, check
  export_net() {
    local net=$2
    "$epr" train "$1" "${TINY[@]}" --out "$net"
    "$epr" eval "$net/model.epr" --data mnist10k --data-root "$root" --predictions "$net/eval.txt" > "$net/eval.log"
    "$epr" export "$net/model.epr" -o "$net/m.npz"
    "$epr" export "$net/model.epr" -o "$net/m.safetensors"
    "$epr" export "$net/model.epr" -o "$net/m.bin" --format safetensors
    "$epr" export "$net/run.h5" -o "$net/q.npz" --quantised
    "$epr" export "$net/run.h5" -o "$net/c.npz"
    "$epr" export "$net/run.h5" -o "$net/raw.npz" --raw --quantised
    $PY "$CHECK" export "$net" "$root/mnist10k"
  }
  for net in lenet300-100 lenet5-caffe; do export_net "$repo/experiments/${net}_mnist10k.ini" "$net"; done
  # batch norm with a learnable gamma: gamma compressed in its own group
  cat > bnaffine.ini <<INI
[data]
set = mnist10k
root = $root
[model]
name = custom
layers = conv name=c1 out=6 k=5 bias=0
  batchnorm name=bn1 affine=1
  relu
  maxpool k=2
  dense name=fc out=10
[train]
steps = 20
[epr]
enabled = true
lambda = 3e-6
[group.w]
tensors = c1.weight, fc.weight
[group.bn]
tensors = bn1.weight, bn1.bias, fc.bias
INI
  export_net bnaffine.ini bnaffine
  $PY "$CHECK" gamma bnaffine/m.npz bn1.weight
  "$epr" train "$repo/experiments/lenet300-100_mnist10k.ini" "${TINY[@]}" --set epr.enabled=false --out plain
  "$epr" export plain/run.h5 -o plain/p.npz
  $PY "$CHECK" plain plain/p.npz
  expect_status 1 e1.log "$epr" export lenet5-caffe/model.epr -o lenet5-caffe/model.epr --format npz
  expect_in "refusing to write over the input" e1.log
  expect_status 1 e2.log "$epr" export lenet5-caffe/model.epr -o lenet5-caffe/m.npz
  expect_in "exists; refusing to overwrite it without --force" e2.log
  "$epr" export lenet5-caffe/model.epr -o lenet5-caffe/m.npz --force > /dev/null
  expect_status 1 e3.log "$epr" export plain/run.h5 -o plain/q.npz --quantised
  expect_in "a plain (float32) run has no quantised weights" e3.log
  expect_status 1 e4.log "$epr" export lenet5-caffe/model.epr -o x.txt
  expect_in "cannot tell the format" e4.log
  expect_status 1 e5.log "$epr" export plain/p.npz -o y.npz
  expect_in "neither a .epr bitstream nor an HDF5 run file" e5.log
  expect_status 2 e6.log "$epr" export lenet5-caffe/model.epr -o z.npz --format zip
  [ ! -e x.txt ] && [ ! -e y.npz ] && [ ! -e z.npz ] || fail "a refused export wrote a file"
  ;;
reader)
  "$epr" train "$repo/experiments/lenet300-100_mnist10k.ini" "${TINY[@]}" --out r
  $PY "$CHECK" reader r/model.epr
  # eprfile.forward on the eval corpus: batch norm (6x6 IDX), normalisation,
  # add and global pooling (the ResNet smoke model on synthetic CIFAR)
  $PY - <<'PY'
import numpy as np, struct
rng = np.random.default_rng(7)
n = 300
img = rng.integers(0, 256, size=(n, 6, 6), dtype=np.uint8)
open("rand6-images.idx", "wb").write(struct.pack(">IIII", 0x803, n, 6, 6) + img.tobytes())
open("rand6-labels.idx", "wb").write(struct.pack(">II", 0x801, n) + rng.integers(0, 4, n, dtype=np.uint8).tobytes())
PY
  $PY "$repo/tests/bignets/make_cifar_data.py" cifar > /dev/null
  corpus=$repo/fuzz/corpus-eval
  "$epr" eval "$corpus/bn_uniform4.epr" --images "$work/rand6-images.idx" --labels "$work/rand6-labels.idx" --predictions bn.txt > /dev/null
  $PY "$CHECK" predict "$corpus/bn_uniform4.epr" idx rand6-images.idx bn.txt
  "$epr" eval "$corpus/resnet_smoke.epr" --data cifar10 --data-root "$work/cifar" --predictions rs.txt > /dev/null
  $PY "$CHECK" predict "$corpus/resnet_smoke.epr" cifar cifar/cifar-10-batches-bin/test_batch.bin rs.txt
  ;;
init)
  EXP=$repo/experiments/lenet300-100_mnist10k.ini
  "$epr" train "$EXP" "${TINY[@]}" --set epr.enabled=false --set train.ema=0 --out a
  "$epr" export a/run.h5 -o a/w.npz
  "$epr" export a/run.h5 -o a/w.safetensors
  $PY "$CHECK" make-bad a/w.npz
  for f in bad-missing bad-shape bad-nan; do
    expect_status 1 $f.log "$epr" train "$EXP" "${TINY[@]}" --set model.init=$f.npz --out $f
  done
  expect_in "bad-missing.npz: does not match the network: 1 of its tensors missing (fc3.bias); 1 in the file unused: extra.weight" bad-missing.log
  expect_in "bad-shape.npz: tensor fc2.weight has shape [100,299] in the file, the network needs [100,300]" bad-shape.log
  expect_in "bad-nan.npz: tensor fc1.bias holds a non-finite value at element 7" bad-nan.log
  expect_status 1 nofile.log "$epr" train "$EXP" "${TINY[@]}" --set model.init=none.npz --out nofile
  expect_in "none.npz: cannot open" nofile.log
  head -c 5000 a/w.safetensors > cut.safetensors
  expect_status 1 cut.log "$epr" train "$EXP" "${TINY[@]}" --set model.init=cut.safetensors --out cut
  expect_in "cut.safetensors: tensor" cut.log
  # one step of lr 1e-9 from an init (steps >= 1): the network is the file's
  for w in w.npz w.safetensors; do
    "$epr" train "$EXP" --set train.steps=1 --set train.lr=1e-9 --set epr.enabled=false --set train.ema=0 --set train.eval_every=0 \
      --set model.init=a/$w --quiet --out from-$w
    "$epr" export from-$w/run.h5 -o from-$w/w.npz
    $PY "$CHECK" near a/w.npz from-$w/w.npz 1e-8
  done
  # EPR from an init: theta = s*round(theta0/s), within s/2 = e^-4/2 of the file
  "$epr" train "$EXP" --set train.steps=1 --set train.lr=1e-9 --set epr.enabled=true --set train.ema=0 --set train.eval_every=0 \
    --set model.init=a/w.npz --quiet --out epr0
  "$epr" export epr0/run.h5 -o epr0/q.npz --quantised
  $PY "$CHECK" near a/w.npz epr0/q.npz 0.00916
  $PY "$CHECK" differ a/w.npz epr0/q.npz
  ;;
resnet18)
  $PY "$repo/tests/bignets/make_cifar_data.py" cifar > /dev/null
  $PY "$repo/tests/interop/torch_resnet18.py" make r18.pt
  $PY "$repo/python/pt_to_init.py" r18.pt -o r18.npz > /dev/null
  cat > r18.ini <<INI
[data]
set = cifar10
root = $work/cifar
[model]
name = resnet18
batchnorm_affine = true
init = r18.npz
[train]
steps = 1
batch = 2
lr = 1e-9
ema = 0
eval_every = 0
checkpoint_every = 1
INI
  "$epr" train r18.ini --quiet --out r18
  "$epr" export r18/run.h5 -o r18/w.npz
  $PY "$repo/tests/interop/torch_resnet18.py" check r18.pt r18/w.npz
  # without batchnorm_affine the file's gamma has nowhere to go
  expect_status 1 nogamma.log "$epr" train r18.ini --set model.batchnorm_affine=false --quiet --out nogamma
  expect_in "20 in the file unused: bn1.weight, layer1_0_bn1.weight" nogamma.log
  ;;
roundtrip)
  $PY "$repo/bench/torch_lenet5.py" train --data "$root/mnist10k" --steps 100 -o l5.pt
  $PY "$repo/python/pt_to_init.py" l5.pt -o l5.npz
  "$epr" train "$repo/experiments/lenet5-caffe_mnist10k.ini" --set model.init=l5.npz --set train.steps=100 \
    --set train.eval_every=0 --set train.checkpoint_every=100 --quiet --out rt
  "$epr" eval rt/model.epr --data mnist10k --data-root "$root" --predictions eval.txt | tee eval.log
  $PY "$repo/bench/torch_lenet5.py" predict rt/model.epr --data "$root/mnist10k" -o torch.txt | tee torch.log
  cmp eval.txt torch.txt || fail "PyTorch predictions differ from epr eval's"
  [ "$(wc -l < torch.txt)" = 1996 ] || fail "expected 1996 predictions"
  echo "identical predictions: $(grep -o 'test error [^;]*' eval.log)"
  ;;
*) fail "unknown case $case_name" ;;
esac
echo "PASS: interop $case_name"
