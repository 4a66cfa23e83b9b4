#!/bin/bash
# tests/codec/reference_decoder_tests.sh EPR SRCDIR WORKDIR — the decoder
# written from docs/format.md alone (reference_decoder.py) against
# libepr-codec and `epr eval`: theta of every golden tensor bitwise (DFT,
# density, explicit, codebook groups), and the predictions of three
# harness files (a DFT conv net, a batch-norm net, the ResNet smoke model
# with normalisation, add and global pooling; a net trained with [data]
# pad = 2) identical to epr eval's.
set -u
epr=$1 src=$2 work=$3
py=/usr/bin/python3
if ! $py -c "import numpy" 2>/dev/null; then echo "SKIPPED: $py has no numpy"; exit 0; fi
export OPENBLAS_NUM_THREADS=1
dec="$src/tests/codec/reference_decoder.py"
rm -rf "$work" && mkdir -p "$work" && cd "$work" || exit 1
fail=0
$py "$dec" check-golden "$src/tests/data/golden" || fail=1
$py - <<'PY' || exit 1
import numpy as np, struct
rng = np.random.default_rng(7)
for s in (12, 6):
    n = 300
    img = rng.integers(0, 256, size=(n, s, s), dtype=np.uint8)
    open("rand%d-images.idx" % s, "wb").write(struct.pack(">IIII", 0x803, n, s, s) + img.tobytes())
    lab = rng.integers(0, 4, size=n, dtype=np.uint8)
    open("rand%d-labels.idx" % s, "wb").write(struct.pack(">II", 0x801, n) + lab.tobytes())
PY
$py "$src/tests/bignets/make_cifar_data.py" "$work/cifar" >/dev/null || exit 1
compare() { # FILE IMAGES EVAL-ARGS...
    local f=$1 images=$2
    shift 2
    "$epr" eval "$f" "$@" --predictions c.txt >/dev/null || { echo "FAIL: epr eval $f"; fail=1; return; }
    $py "$dec" predict "$f" "$images" >py.txt || { echo "FAIL: reference decoder on $f"; fail=1; return; }
    if cmp -s c.txt py.txt; then
        echo "ok: $(basename "$f"): $(wc -l <c.txt) predictions identical"
    else
        echo "FAIL: $(basename "$f"): predictions differ"; fail=1
    fi
}
corpus="$src/fuzz/corpus-eval"
compare "$corpus/dft_conv_net.epr" rand12-images.idx --images "$work/rand12-images.idx" --labels "$work/rand12-labels.idx"
compare "$corpus/bn_uniform4.epr" rand6-images.idx --images "$work/rand6-images.idx" --labels "$work/rand6-labels.idx"
compare "$corpus/resnet_smoke.epr" cifar/cifar-10-batches-bin/test_batch.bin --data cifar10 --data-root "$work/cifar"
# a file with `pad 2` (docs/format.md §6-7): 6x6 images zero-padded to 10x10
cat > pad.ini <<INI
[data]
set = idx
train_images = $work/rand6-images.idx
train_labels = $work/rand6-labels.idx
test_images = $work/rand6-images.idx
test_labels = $work/rand6-labels.idx
pad = 2
normalize = true
[model]
name = custom
layers = conv name=conv1 out=4 k=3 pad=1
  relu
  maxpool k=2
  flatten
  dense name=fc out=10
[train]
steps = 30
batch = 16
eval_every = 0
log_every = 10
[epr]
enabled = true
lambda = 1e-4
uncompressed = *.bias
[group.all]
tensors = conv1.weight, fc.weight
INI
if "$epr" train pad.ini --out padrun >pad.log 2>&1; then
    grep -a -q "^pad 2$" padrun/model.epr || { echo "FAIL: padrun/model.epr has no 'pad 2' line"; fail=1; }
    compare padrun/model.epr rand6-images.idx --images "$work/rand6-images.idx" --labels "$work/rand6-labels.idx"
else
    cat pad.log; echo "FAIL: epr train pad.ini"; fail=1
fi
exit $fail
