#!/usr/bin/env bash
# Issue 14 item 5, end to end with the real binary on the bundled data sets
# (skipped when scripts/setup.sh has not prepared them).
#   checks_cli_tests.sh CASE EPR_BINARY REPO WORKDIR
# Cases:
#   eval_data  a 20-step Fashion-MNIST EPR file: `epr eval` on mnist10k is
#              refused (exit 1, the message names the file and both data
#              sets), evaluates with --force (a warning), evaluates on its
#              own data without a word (other class counts:
#              test_bitstream_limits.c, as IDX data always has 10); its
#              size in KB is bytes / 1000 in inspect and train
#   dft_ell    conv-affine + dft with ell omitted, and ell = 4 on LeNet5's
#              5x5 kernels: `epr train` exits 1 naming FILE:LINE of the key
#   validation [data] validation = 500 and = 0.1 on MNIST-10k (8004 training
#              images): the run file records the held-out indices (sorted,
#              distinct, the same for another seed), n_train/n_validation,
#              the validation curve, both validation errors and the weights
#              chosen on them; a bad value is an error
set -euo pipefail
case_name=$1 epr=$(cd "$(dirname "$2")" && pwd)/$(basename "$2") repo=$3 work=$4/$1
root=${EPR_DATA_ROOT:-$repo/data}
for s in mnist10k/t10k-images-idx3-ubyte fashion-mnist/t10k-images-idx3-ubyte.gz; do
  [ -e "$root/$s" ] || { echo "SKIPPED: $root/$s not prepared (run scripts/setup.sh)"; exit 0; }
done
rm -rf "$work"; mkdir -p "$work"; cd "$work"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
source "$repo/tests/test_lib.sh" # fail, expect_in, expect_status

case $case_name in
eval_data)
  expect_status 0 train.log "$epr" train "$repo/experiments/lenet300-100_fashion.ini" --set train.steps=20 \
    --set train.eval_every=0 --set train.log_every=10 --out f
  expect_status 1 eval1.log "$epr" eval f/model.epr --data mnist10k
  expect_in "epr eval: error: f/model.epr: the file was trained on fashion-mnist (10 classes), the data is mnist10k" eval1.log
  expect_in "(--force evaluates anyway)" eval1.log
  grep -q "test error" eval1.log && fail "a refused evaluation printed an error rate"
  expect_status 0 eval2.log "$epr" eval f/model.epr --data mnist10k --force
  expect_in "warning: f/model.epr: the file was trained on fashion-mnist" eval2.log
  expect_in "on mnist10k" eval2.log
  expect_status 0 eval3.log "$epr" eval f/model.epr --data fashion-mnist
  grep -q "warning\|error:" eval3.log && { cat eval3.log; fail "own data set gave a warning"; }
  expect_in "on fashion-mnist" eval3.log
  # one size unit: KB = 1000 bytes in `epr inspect` and `epr train`
  "$epr" inspect f/model.epr > inspect.log
  bytes=$(sed -n 's/^size \([0-9]*\) bytes (\([0-9.]*\) KB).*/\1 \2/p' inspect.log)
  [ -n "$bytes" ] || { cat inspect.log; fail "no 'size N bytes (X KB)' line"; }
  set -- $bytes
  [ "$(awk -v b="$1" 'BEGIN { printf "%.2f", b / 1000 }')" = "$2" ] || fail "inspect: $1 bytes shown as $2 KB (KB = 1000 B)"
  expect_in "wrote f/model.epr: $1 bytes ($2 KB)" train.log
  ;;
dft_ell)
  exp=$repo/experiments/lenet5-caffe_mnist10k_dft.ini
  grep -v '^kernel' "$exp" | sed 's/^ell = 25$/ell = 4/' > ell4.ini
  grep -v '^kernel\|^ell = 25$' "$exp" > ell1.ini
  line4=$(grep -n '^ell = 4$' ell4.ini | head -1 | cut -d: -f1)
  line1=$(grep -n '^transform = dft$' ell1.ini | head -1 | cut -d: -f1)
  expect_status 1 t4.log "$epr" train ell4.ini --set train.steps=2 --out r4
  expect_in "ell4.ini:$line4: [group.conv] ell: ell = 4 (kernel 2x2) does not fit the 5x5 kernels of conv1.weight" t4.log
  expect_status 1 t1.log "$epr" train ell1.ini --set train.steps=2 --out r1
  expect_in "ell1.ini:$line1: [group.conv] ell: transform dft needs ell = the kernel's kh*kw" t1.log
  [ ! -e r4/run.h5 ] && [ ! -e r1/run.h5 ] || fail "a refused experiment wrote a run file"
  ;;
validation)
  exp=$repo/experiments/lenet300-100_mnist10k.ini
  tiny=(--set train.steps=40 --set train.eval_every=20 --set train.log_every=20)
  expect_status 0 v1.log "$epr" train "$exp" "${tiny[@]}" --set data.validation=500 --out v1
  expect_in "(7504 train / 500 validation / 1996 test)" v1.log
  expect_in "validation error (500 held-out training images):" v1.log
  expect_in "(chosen on validation)" v1.log
  expect_status 0 v2.log "$epr" train "$exp" "${tiny[@]}" --set data.validation=0.1 --set train.seed=2 --out v2
  expect_in "(7204 train / 800 validation / 1996 test)" v2.log
  expect_status 0 v0.log "$epr" train "$exp" "${tiny[@]}" --set epr.enabled=false --out v0
  /usr/bin/python3 - <<'PY'
import h5py, numpy as np
a, b, z = (h5py.File(p + "/run.h5", "r") for p in ("v1", "v2", "v0"))
ia, ib = a["data/validation_indices"][()], b["data/validation_indices"][()]
assert len(ia) == 500 and len(ib) == 800, (len(ia), len(ib))
assert np.all(np.diff(ia) > 0) and ia[0] >= 0 and ia[-1] < 8004
# one split for all seeds: the 500 are the first 500 of the same permutation as the 800
assert len(np.intersect1d(ia, ib)) == 500, "the splits of seed 1 and 2 differ"
assert a.attrs["n_train"] == 7504 and a.attrs["n_validation"] == 500
assert z.attrs["n_validation"] == 0 and "data" not in z
f = a["final"].attrs
assert f["weights"] in ("ema", "raw") and f["weights_chosen_on"] == "validation"
want = f["validation_error_ema"] if f["weights"] == "ema" else f["validation_error_raw"]
assert f["validation_error"] == want and 0 <= want <= 1
v = a["curves/validation_error"][()]
assert np.isfinite(v).sum() == 2, v   # eval at step 20 and the end
assert z["final"].attrs["weights_chosen_on"] == "none" and np.isnan(z["final"].attrs["validation_error"])
print("validation split recorded:", len(ia), "indices, weights", f["weights"], "validation error", want)
PY
  expect_status 1 bad.log "$epr" train "$exp" --set data.validation=1.5 --out bad
  expect_in "[data] validation must be 0, a fraction in (0, 1) or a whole number of images" bad.log
  expect_status 1 bad2.log "$epr" train "$exp" --set data.validation=8004 --out bad2
  expect_in "[data] validation: 8004 of the 8004 training images leaves none to train on" bad2.log
  ;;
*) fail "unknown case $case_name" ;;
esac
echo "PASS: $case_name"
