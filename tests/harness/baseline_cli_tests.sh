#!/usr/bin/env bash
# `epr train` with [baseline] post and `epr baseline`, end to end with the
# real binary on the bundled MNIST-10k (skipped when scripts/setup.sh has
# not prepared it).  The unit tests are test_baseline.c.
#   baseline_cli_tests.sh CASE EPR_BINARY REPO WORKDIR
# Cases:
#   train   a 30-step plain LeNet300-100 run with baseline.post =
#           float32,gzip,xz,uniform4,kmeans3: baselines.h5 against the files
#           on disk and the run file; gzip/xz files checked with the gzip and
#           xz tools; a file re-evaluated with `epr eval`; `epr baseline
#           --methods uniform2` adds a method and keeps the others
#   errors  usage errors (exit 2), an EPR run (and `epr compress` of it, which
#           shares the run loader; and of a copy without the architecture
#           text, as run files before `epr compress` were), an unfinished run, a missing
#           run file, a corrupt baselines.h5 (exit 1, named, untouched); the
#           default method list
set -euo pipefail
case_name=$1 epr=$(cd "$(dirname "$2")" && pwd)/$(basename "$2") repo=$3 work=$4/$1
root=${EPR_DATA_ROOT:-$repo/data}
if [ ! -e "$root/mnist10k/t10k-images-idx3-ubyte" ]; then
  echo "SKIPPED: $root/mnist10k not prepared (run scripts/setup.sh)"
  exit 0
fi
source "$repo/tests/test_lib.sh" # fail, expect_in, expect_status
rm -rf "$work"; mkdir -p "$work"; cd "$work"
mpi_test_env
PY=/usr/bin/python3
EXP=$repo/experiments/lenet300-100_mnist10k.ini
TINY=(--set epr.enabled=false --set train.steps=30 --set train.log_every=10 --set train.eval_every=0
      --set train.checkpoint_every=30)
# summary RUN_DIR: baselines.h5 as one line per method (for before/after comparisons)
summary() {
  $PY - "$1/baselines.h5" <<'PY'
import sys, h5py
with h5py.File(sys.argv[1], "r") as f:
    for k in sorted(f["methods"]):
        a = f["methods"][k].attrs
        print(k, a["file"], int(a["file_bytes"]), repr(float(a["test_error"])), repr(float(a["seconds"])))
PY
}

case $case_name in
train)
  expect_status 0 train.log "$epr" train "$EXP" "${TINY[@]}" --set baseline.post=float32,gzip,xz,uniform4,kmeans3 --out r
  for s in "post-training baselines" "baseline 5/5 kmeans3" "method " "uniform4 " "wrote r/baselines.h5 (5 methods)"; do
    expect_in "$s" train.log
  done
  $PY - r <<'PY'
import os, sys, h5py
d = sys.argv[1]
run = h5py.File(os.path.join(d, "run.h5"), "r")
b = h5py.File(os.path.join(d, "baselines.h5"), "r")
a = b.attrs
assert a["source"] == "run.h5", a["source"]
assert a["steps"] == 30 and a["n_params"] == 266610 and a["float32_bytes"] == 4 * 266610, dict(a)
assert a["wall_seconds"] == run["final"].attrs["wall_seconds"]
assert a["experiment"] == run.attrs["experiment"]
m = b["methods"]
assert sorted(m) == ["float32", "gzip", "kmeans3", "uniform4", "xz"], list(m)
files = {"float32": "baseline_float32.epr", "gzip": "baseline_float32.epr.gz", "xz": "baseline_float32.epr.xz",
         "uniform4": "baseline_uniform4.epr", "kmeans3": "baseline_kmeans3.epr"}
for k, g in m.items():
    x = g.attrs
    assert x["method"] == k and x["file"] == files[k], (k, dict(x))
    assert x["file_bytes"] == os.path.getsize(os.path.join(d, x["file"])), k
    assert 0 <= x["test_error"] <= 1 and x["seconds"] >= 0 and len(x["description"]) > 10, (k, dict(x))
# the float32 file is the network itself: the run's EMA error, exactly; gzip and xz share it
f32 = m["float32"].attrs["test_error"]
assert f32 == run["final"].attrs["test_error"], (f32, run["final"].attrs["test_error"])
assert m["gzip"].attrs["test_error"] == f32 and m["xz"].attrs["test_error"] == f32
assert m["float32"].attrs["file_bytes"] > 4 * 266610          # raw floats + names + BN-free extras
assert m["uniform4"].attrs["file_bytes"] < 266610 * 4 / 8     # under 4 bits per parameter
assert "4-bit uniform" in m["uniform4"].attrs["description"]
print("baselines.h5 ok")
PY
  # independent tools: the compressed files decompress to the float32 file
  gzip -dc r/baseline_float32.epr.gz | cmp - r/baseline_float32.epr || fail "gzip -dc differs from the float32 file"
  xz -dc r/baseline_float32.epr.xz | cmp - r/baseline_float32.epr || fail "xz -dc differs from the float32 file"
  # epr eval of a baseline file gives the error baselines.h5 records
  expect_status 0 eval.log "$epr" eval r/baseline_kmeans3.epr --data mnist10k --data-root "$root"
  want=$($PY -c "import h5py; print('%.2f%%' % (100 * h5py.File('r/baselines.h5')['methods/kmeans3'].attrs['test_error']))")
  expect_in "test error $want" eval.log
  summary r > before.txt
  expect_status 0 add.log "$epr" baseline r/run.h5 --methods uniform2 --data-root "$root"
  expect_in "wrote r/baselines.h5 (6 methods)" add.log
  summary r > after.txt
  grep -v '^uniform2 ' after.txt | cmp - before.txt || fail "epr baseline changed methods it did not recompute"
  grep -q '^uniform2 baseline_uniform2.epr ' after.txt || fail "uniform2 missing after epr baseline --methods uniform2"
  [ -s r/baseline_uniform2.epr ] || fail "no baseline_uniform2.epr"
  # per tensor: a file of its own, one group per grouped tensor, and its error is the file's
  expect_status 0 addt.log "$epr" baseline r/run.h5 --methods uniform4t --data-root "$root"
  expect_in "wrote r/baselines.h5 (7 methods)" addt.log
  expect_in "4-bit uniform quantisation per tensor" addt.log
  expect_status 0 inspt.log "$epr" inspect r/baseline_uniform4t.epr
  ng=$($PY -c "
import h5py, re
m = h5py.File('r/baselines.h5')['methods']
assert 'uniform4' in m and 'uniform4t' in m, list(m)
print(len(re.findall(r'^  group \\d+:', open('inspt.log').read(), re.M)))")
  [ "$ng" -gt 1 ] || fail "baseline_uniform4t.epr has $ng groups (one per grouped tensor expected)"
  expect_status 0 evalt.log "$epr" eval r/baseline_uniform4t.epr --data mnist10k --data-root "$root"
  want=$($PY -c "import h5py; print('%.2f%%' % (100 * h5py.File('r/baselines.h5')['methods/uniform4t'].attrs['test_error']))")
  expect_in "test error $want" evalt.log
  echo "train + baselines: 5 methods checked against the files, epr baseline added uniform2 and uniform4t"
  ;;
errors)
  expect_status 0 help.log "$epr" baseline --help
  expect_in "prune-kmeans" help.log
  expect_status 2 e1.log "$epr" baseline
  expect_in "missing RUN.h5" e1.log
  expect_status 2 e2.log "$epr" baseline x/run.h5 --methods float32,uniform1
  expect_in "unknown baseline method 'uniform1'" e2.log
  expect_status 2 e2t.log "$epr" baseline x/run.h5 --methods uniform4tt
  expect_in "unknown baseline method 'uniform4tt'" e2t.log
  expect_status 2 e3.log "$epr" baseline x/run.h5 --bogus
  expect_status 1 e4.log "$epr" baseline missing/run.h5
  expect_in "missing/run.h5" e4.log
  # an EPR run
  expect_status 0 epr.log "$epr" train "$EXP" "${TINY[@]}" --set epr.enabled=true --set train.steps=2 \
    --set train.checkpoint_every=2 --out erun
  expect_status 1 e5.log "$epr" baseline erun/run.h5
  expect_in "erun/run.h5: an EPR run" e5.log
  # epr compress loads runs through the same code (run_load.c): the run's own bitstream again
  expect_status 0 compress.log "$epr" compress erun/run.h5 -o again.epr
  cmp again.epr erun/model.epr || fail "epr compress of a finished run differs from its model.epr"
  # a run file written before `epr compress` (no root attribute 'architecture'): the loader says so
  mkdir old && cp erun/run.h5 old/run.h5
  $PY -c "import h5py; f = h5py.File('old/run.h5', 'r+'); del f.attrs['architecture']; f.close()"
  expect_status 1 e9.log "$epr" compress old/run.h5 -o old.epr
  expect_in "old/run.h5: this run file has no architecture text (written by an epr older than 'epr compress'); retrain the run" e9.log
  [ ! -e old.epr ] || fail "epr compress wrote a file for a run without architecture text"
  # an unfinished run (stopped at step 3 of 30: a checkpoint without /final)
  expect_status 75 stop.log env EPR_TEST_STOP_AT=3 "$epr" train "$EXP" "${TINY[@]}" --out unfinished
  expect_status 1 e6.log "$epr" baseline unfinished/run.h5 --methods float32
  expect_in "unfinished/run.h5: the run has not finished" e6.log
  # a plain run without [baseline] post: the default method list
  expect_status 0 plain.log "$epr" train "$EXP" "${TINY[@]}" --out p
  [ ! -e p/baselines.h5 ] || fail "baselines.h5 written without [baseline] post"
  expect_status 0 default.log "$epr" baseline p/run.h5
  expect_in "wrote p/baselines.h5 (8 methods)" default.log
  for m in float32 gzip xz uniform8 uniform6 uniform4 uniform3 uniform2; do expect_in "$m " default.log; done
  # a corrupt baselines.h5: named, exit 1, left as it was
  head -c 3000 p/baselines.h5 > p/cut.h5 && mv p/cut.h5 p/baselines.h5 && cp p/baselines.h5 corrupt.copy
  expect_status 1 e7.log "$epr" baseline p/run.h5 --methods uniform2
  expect_in "p/baselines.h5" e7.log
  cmp p/baselines.h5 corrupt.copy || fail "a corrupt baselines.h5 was modified"
  echo "garbage" > p/baselines.h5
  expect_status 1 e8.log "$epr" baseline p/run.h5 --methods uniform2
  expect_in "p/baselines.h5: not an HDF5 file" e8.log
  echo "errors: usage, EPR run, run file without architecture text, unfinished run, missing file, corrupt baselines.h5; default methods"
  ;;
*) fail "unknown case $case_name" ;;
esac
