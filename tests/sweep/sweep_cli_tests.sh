#!/usr/bin/env bash
# `epr sweep`, `epr pareto` and the plotting scripts, end to end.
#   sweep_cli_tests.sh CASE EPR_BINARY REPO WORKDIR
# Cases:
#   pareto   fixture run files (tests/sweep/make_run_fixture.py: fake results
#            in the run-file schema) -> sweep.h5 columns, is_pareto, external
#            links, report sections, rejected/unfinished runs, --baseline,
#            errors; plot_pareto.py / plot_curves.py write PNGs
#   sweep    a tiny real sweep: a complete run is skipped, an interrupted one
#            (EPR_TEST_STOP_AT) exits 75 and is resumed on the next call with
#            the same result as an uninterrupted run; bad tables are rejected
#            naming file:line; --print-args / --list
set -euo pipefail
case_name=$1 epr=$(cd "$(dirname "$2")" && pwd)/$(basename "$2") repo=$3 work=$4/$1
rm -rf "$work"; mkdir -p "$work"; cd "$work"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
export OMPI_MCA_rmaps_base_oversubscribe=1
PY=/usr/bin/python3
FX="$PY $repo/tests/sweep/make_run_fixture.py"
fail() { echo "FAIL: $*" >&2; exit 1; }
expect_in() { grep -qF -- "$1" "$2" || { cat "$2"; fail "'$1' not in $2"; }; }

case $case_name in
pareto)
  $FX d/a --lambda 1e-6 --size 8000 --error 0.020
  $FX d/b --lambda 3e-6 --size 5000 --error 0.025
  $FX d/c --lambda 1e-5 --size 6000 --error 0.030    # dominated by b
  $FX d/d --lambda 3e-5 --size 2000 --error 0.050
  $FX d/e --lambda 3e-5 --size 2000 --error 0.050    # tie with d: both stay
  $FX d/plain --plain --error 0.018
  $FX d/unfinished --incomplete
  $FX d/fash --data fashion-mnist --size 90000 --error 0.15  # its own front
  $FX d/broken --drop test_error
  set +e
  "$epr" pareto d > out.txt 2> err.txt; rc=$?
  set -e
  [ "$rc" = 1 ] || fail "a rejected run file must give exit status 1 (got $rc)"
  expect_in "d/broken/run.h5: /final has no attribute 'test_error'" err.txt
  expect_in "wrote d/sweep.h5" out.txt
  md=d/report.md
  for s in "## Pareto set" "## Uncompressed baseline" "## The paper (Oktay et al., Table 1)" "## All runs" \
           "## Unfinished runs" "## Rejected run files" "| LeNet300-100 (MNIST) | 1.06 MB, 1.6% | 8.56 KB (124×) SQ | 1.9% |" \
           "| plain | lenet300-100 | — (plain) |" "| b | lenet300-100 | 3e-06 | 1 | 5000 | 5.00 KB | 0.150 | 213.3× | 2.50% |" \
           "d/unfinished/run.h5: no /final group" "d/broken/run.h5"; do
    expect_in "$s" "$md"
  done
  $PY - d/sweep.h5 <<'PY'
import math, sys, h5py
f = h5py.File(sys.argv[1], "r")
assert f.attrs["schema_version"] == 1 and f.attrs["kind"] == "epr sweep"
assert f.attrs["baseline_run"] == "plain" and abs(f.attrs["baseline_test_error"] - 0.018) < 1e-12
r = f["runs"]
names = [x.decode() for x in r["name"][...]]
assert sorted(names) == ["a", "b", "c", "d", "e", "fash", "plain"], names
col = lambda k: dict(zip(names, r[k][...].tolist()))
pareto = col("is_pareto")
assert pareto == {"a": 1, "b": 1, "c": 0, "d": 1, "e": 1, "fash": 1, "plain": 0}, pareto
assert col("is_baseline") == {n: int(n == "plain") for n in names}
assert col("size_bytes")["b"] == 5000 and col("size_bytes")["plain"] == 4 * 266610
assert abs(col("ratio")["b"] - 4 * 266610 / 5000) < 1e-9
assert abs(col("bits_per_param")["b"] - 8 * 5000 / 266610) < 1e-12
assert abs(col("lambda")["c"] - 1e-5) < 1e-20 and col("seed")["a"] == 1
assert col("bitstream")["a"] == b"a/model.epr" and col("bitstream")["plain"] == b""
assert col("run_file")["a"] == b"a/run.h5"
for k in ("name", "experiment", "model", "data_set", "lambda", "seed", "size_bytes", "bits_per_param",
          "test_error", "ratio", "is_pareto"):
    assert "description" in r[k].attrs, k
for n in names:                          # the external links resolve to the run files
    lk = f["links"].get(n, getlink=True)
    assert isinstance(lk, h5py.ExternalLink) and lk.filename == f"{n}/run.h5", (n, lk)
    assert f["links"][n]["final"].attrs["size_bytes"] == col("size_bytes")[n]
print("sweep.h5 ok")
PY
  # the directory can move as a whole: links are relative
  mv d moved && $PY -c "import h5py; f = h5py.File('moved/sweep.h5'); assert 'final' in f['links/a']" \
    || fail "external links do not survive moving the directory"
  mv moved d
  # a table written elsewhere links the run files by absolute path
  "$epr" pareto d --h5 elsewhere.h5 --report elsewhere.md > /dev/null 2>&1 || true
  $PY -c "import h5py; f = h5py.File('elsewhere.h5'); assert 'final' in f['links/b']" || fail "--h5 elsewhere: links"
  [ -s elsewhere.md ] || fail "--report elsewhere.md"
  # --baseline from elsewhere; a DIR without plain runs
  mkdir -p e2 && cp -r d/a d/b e2/ && $FX base/plainrun --plain --error 0.017
  "$epr" pareto e2 > /dev/null
  expect_in "None: no run in this directory has EPR disabled" e2/report.md
  "$epr" pareto e2 --baseline base/plainrun/run.h5 > /dev/null
  expect_in "| plainrun | lenet300-100 | — (plain) |" e2/report.md
  expect_in "+0.80" e2/report.md     # b against the 1.7% baseline
  set +e
  "$epr" pareto e2 --baseline d/a/run.h5 > o 2>&1; rc=$?
  set -e
  [ "$rc" = 1 ] && grep -q "not a plain float32 run" o || fail "an EPR run as --baseline must be refused"
  mkdir -p empty
  if "$epr" pareto empty > o 2>&1; then fail "a directory without runs must fail"; fi
  expect_in "no finished run files" o
  if "$epr" pareto nonexistent > o 2>&1; then fail "a missing directory must fail"; fi
  expect_in "nonexistent: cannot open the sweep directory" o
  # plots
  $PY "$repo/analysis/plot_pareto.py" --help > /dev/null
  $PY "$repo/analysis/plot_curves.py" --help > /dev/null
  $PY "$repo/analysis/plot_pareto.py" d/sweep.h5:fixtures e2/sweep.h5:second --data mnist10k -o p.png
  $PY "$repo/analysis/plot_curves.py" d/sweep.h5 -o c.png
  [ -s p.png ] && [ -s c.png ] || fail "no PNG"
  if $PY "$repo/analysis/plot_pareto.py" d/a/run.h5 -o x.png > o 2>&1; then fail "a run file is not a sweep.h5"; fi
  expect_in "no /runs group" o
  ;;

sweep)
  $PY "$repo/tests/mpi/make_tiny_data.py" data > /dev/null
  cat > tiny.ini <<INI
; test experiment: a two-layer network on 12x12 synthetic images
[data]
set = idx
root = $work/data
train_images = train-images-idx3-ubyte
train_labels = train-labels-idx1-ubyte
test_images = t10k-images-idx3-ubyte
test_labels = t10k-labels-idx1-ubyte
[model]
name = custom
layers = dense out=16 name=fc1
  relu
  dense out=10 name=fc2
[train]
steps = 40
batch = 32
eval_batch = 100
log_every = 10
eval_every = 20
checkpoint_every = 10
[epr]
enabled = true
[group.fc]
tensors = fc1.weight, fc2.weight
[group.bias]
tensors = fc1.bias, fc2.bias
INI
  printf 'experiment\tlambda\tseed\toverrides\n# comment\ntiny.ini\t1e-4\t1\ntiny.ini\t1e-3\t2\ntiny.ini\t0\t1\tepr.enabled=false\tname=plain\n' > s.tsv
  "$epr" sweep --help | grep -q "usage: epr sweep" || fail "--help"
  # run 1 already complete (a fixture with /final): it must be skipped, untouched
  $FX out/tiny_l0.001_s2 --lambda 1e-3 --size 777 --error 0.5
  before=$(sha256sum out/tiny_l0.001_s2/run.h5)
  "$epr" sweep s.tsv --out out --list > list.txt
  printf '0\ttiny_l0.0001_s1\tnew\tline 3\n1\ttiny_l0.001_s2\tcomplete\tline 4\n2\tplain\tnew\tline 5\n' | diff - list.txt \
    || fail "--list"
  [ -z "$("$epr" sweep s.tsv --out out --task 1 --print-args 2>/dev/null)" ] || fail "--print-args of a complete run must be empty"
  "$epr" sweep s.tsv --out out --task 0 --print-args 2>/dev/null | tr '\n' ' ' > args.txt
  expect_in "train tiny.ini --set epr.lambda=0.0001 --set train.seed=1 --out out/tiny_l0.0001_s1 " args.txt
  # run 0 is interrupted at step 15 (as if SIGUSR1 came): the sweep stops with 75
  set +e
  EPR_TEST_STOP_AT=15 "$epr" sweep s.tsv --out out --np 2 > sweep1.txt 2>&1; rc=$?
  set -e
  [ "$rc" = 75 ] || { cat sweep1.txt; fail "interrupted sweep: status $rc, want 75"; }
  expect_in "[1/3] tiny_l0.0001_s1: stopped by a signal" sweep1.txt
  "$epr" sweep s.tsv --out out --list | grep -q "tiny_l0.0001_s1	interrupted" || fail "run 0 should be interrupted"
  "$epr" sweep s.tsv --out out --task 0 --print-args 2>/dev/null | grep -qx -- "--resume" || fail "--print-args must resume run 0"
  # the second call resumes run 0, skips run 1, runs run 2
  "$epr" sweep s.tsv --out out --np 2 > sweep2.txt 2>&1 || { cat sweep2.txt; fail "second sweep failed"; }
  expect_in "[1/3] tiny_l0.0001_s1: resuming from its checkpoint" sweep2.txt
  expect_in "--resume out/tiny_l0.0001_s1/run.h5" sweep2.txt
  expect_in "[2/3] tiny_l0.001_s2: complete, skipped" sweep2.txt
  expect_in "[3/3] plain: done" sweep2.txt
  expect_in "0 failed" sweep2.txt
  expect_in "resumed from out/tiny_l0.0001_s1/run.h5" out/tiny_l0.0001_s1/train.log
  [ "$before" = "$(sha256sum out/tiny_l0.001_s2/run.h5)" ] || fail "the complete run was touched"
  # the resumed run ends as an uninterrupted one would
  "$epr" sweep s.tsv --out ref --np 2 --only 0 > ref.txt 2>&1 || { cat ref.txt; fail "reference run"; }
  cmp out/tiny_l0.0001_s1/model.epr ref/tiny_l0.0001_s1/model.epr || fail "resumed bitstream differs from an uninterrupted run"
  # a third call does nothing
  "$epr" sweep s.tsv --out out --np 2 > sweep3.txt
  expect_in "0 ran, 3 skipped" sweep3.txt
  # P = 1 runs in a child without mpirun
  "$epr" sweep s.tsv --out one --only 2 > one.txt || { cat one.txt; fail "np 1"; }
  grep -q "mpirun" one.txt && fail "np 1 must not use mpirun"
  [ -f one/plain/run.h5 ] || fail "np 1 run file"
  # then the Pareto step reads the real run files
  "$epr" pareto out > p.txt 2>&1 || { cat p.txt; fail "pareto on real runs"; }
  # bad tables: rejected naming file and line, nothing run
  printf 'experiment\tlambda\tseed\ntiny.ini\t1e-4\t1\ntiny.ini\tfast\t1\n' > bad.tsv
  if "$epr" sweep bad.tsv --out bad > o 2>&1; then fail "a bad table must fail"; fi
  expect_in "bad.tsv:3: lambda 'fast' is not a finite number >= 0" o
  [ ! -e bad ] || fail "nothing may run for a bad table"
  printf 'experiment lambda seed\n' > bad2.tsv
  if "$epr" sweep bad2.tsv --out bad > o 2>&1; then fail "a header with spaces must fail"; fi
  expect_in "bad2.tsv:1: expected the header line" o
  if "$epr" sweep s.tsv --out x --np 0 > o 2>&1; then fail "--np 0"; fi
  if "$epr" sweep s.tsv --out x --set steps=3 > o 2>&1; then fail "--set without a section"; fi
  # a run that fails is reported and the sweep goes on, exit status 1
  printf 'experiment\tlambda\tseed\toverrides\ntiny.ini\t1e-4\t1\ttrain.batch=-5\ntiny.ini\t1e-4\t3\n' > failing.tsv
  set +e
  "$epr" sweep failing.tsv --out f > f.txt 2>&1; rc=$?
  set -e
  [ "$rc" = 1 ] || { cat f.txt; fail "a failed run must give status 1 (got $rc)"; }
  expect_in "FAILED with exit status" f.txt
  expect_in "[2/2] tiny_l0.0001_s3: done" f.txt
  ;;
*) fail "unknown case $case_name" ;;
esac
echo "PASS: $case_name"
