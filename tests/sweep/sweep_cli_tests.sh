#!/usr/bin/env bash
# `epr sweep`, `epr pareto` and the plotting scripts, end to end.
#   sweep_cli_tests.sh CASE EPR_BINARY REPO WORKDIR
# Cases:
#   pareto   fixture run files (tests/sweep/make_run_fixture.py: fake results
#            in the run-file schema) -> sweep.h5 columns, is_pareto, external
#            links, report sections, rejected/unfinished runs, --baseline,
#            errors; plot_pareto.py / plot_curves.py write PNGs; then methods:
#            SQ and DFT runs, baselines.h5 fixtures (make_baselines_fixture.py,
#            good and malformed), a pruned run -> the method column, fronts,
#            rejections naming the file; results_table.py --methods and the
#            per-method plot on that directory
#   baselines the sweep's baseline step with a fake epr (fake_epr.sh): a
#            complete plain run whose line has baseline.post gets `epr
#            baseline`, a run trained by an epr without the hook too; nothing
#            when all methods are there; a missing method reruns it; failure,
#            exit 0 without the file, --dry-run, --list, an interruption; with
#            the real binary when it has `epr baseline`
#   sweep    a tiny real sweep: a complete run is skipped, an interrupted one
#            (EPR_TEST_STOP_AT) exits 75 and is resumed on the next call with
#            the same result as an uninterrupted run; bad tables are rejected
#            naming file:line; --print-args / --list
#   check    --check: every table shipped in sweeps/ loads (its experiments
#            with their overrides, as epr train reads them); a table with an
#            unknown key, a bad value and a good row: exit 1, the bad rows
#            named with their error, the good one ok
set -euo pipefail
case_name=$1 epr=$(cd "$(dirname "$2")" && pwd)/$(basename "$2") repo=$3 work=$4/$1
source "$repo/tests/test_lib.sh" # tiny_data, tiny_dense_ini, fail, expect_in
rm -rf "$work"; mkdir -p "$work"; cd "$work"
mpi_test_env
PY=/usr/bin/python3
FX="$PY $repo/tests/sweep/make_run_fixture.py"

case $case_name in
check)
  n=0
  for t in "$repo"/sweeps/*.tsv; do
    (cd "$repo" && "$epr" sweep "$t" --check) > chk.txt 2> chk.err || fail "epr sweep $t --check: $(grep -v '	ok	' chk.txt | head -3)"
    [ -s chk.txt ] || fail "$t: --check printed no run"
    ! grep -v '	ok	' chk.txt || fail "$t: a run not ok"
    n=$((n + 1))
  done
  [ "$n" -gt 10 ] || fail "only $n sweep tables found in $repo/sweeps"
  tiny_data data > /dev/null
  tiny_dense_ini "$work/data" 40 20 10 true > tiny.ini
  printf 'experiment\tlambda\tseed\toverrides\ntiny.ini\t1e-4\t1\ttrain.stepz=5\ntiny.ini\t1e-4\t2\ntiny.ini\t1e-4\t3\ttrain.lr=-1\n' > bad.tsv
  set +e; "$epr" sweep bad.tsv --check > bad.txt 2> bad.err; rc=$?; set -e
  [ "$rc" = 1 ] || fail "--check of a bad table: exit $rc, not 1"
  expect_in "unknown key 'stepz'" bad.txt
  grep -q "^1	tiny_l0.0001_s2	ok	line 3$" bad.txt || fail "the good row is not ok: $(cat bad.txt)"
  grep -q "^2	tiny_l0.0001_s3_2	error	line 4	.*lr must be > 0" bad.txt || fail "train.lr=-1 not refused: $(cat bad.txt)"
  expect_in "2 of 3 runs do not load" bad.err
  set +e; "$epr" sweep bad.tsv --check --list > combo.txt 2>&1; rc=$?; set -e
  [ "$rc" = 2 ] || fail "--check --list: exit $rc, not 2"
  expect_in "not with --list" combo.txt
  echo "--check: $n shipped tables load; a bad table's two bad rows named, exit 1"
  ;;
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
           "## Unfinished runs" "## Rejected run files" "| LeNet300-100 | mnist10k; mnist (full MNIST) | 1.06 MB, 1.6% | 8.56 KB (124×) SQ | 1.9% |" \
           "| plain | lenet300-100 | plain | — (plain) |" "| b | lenet300-100 | epr-sq | 3e-06 | 1 | 5000 | 5.00 KB | 0.150 | 213.3× | 2.50% |" \
           "d/unfinished/run.h5: no /final group" "d/broken/run.h5"; do
    expect_in "$s" "$md"
  done
  $PY - d/sweep.h5 <<'PY'
import math, sys, h5py
f = h5py.File(sys.argv[1], "r")
assert f.attrs["schema_version"] == 2 and f.attrs["kind"] == "epr sweep"
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
  expect_in "| plainrun | lenet300-100 | plain | — (plain) |" e2/report.md
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

  # ---- methods: SQ, DFT, a plain run with baselines.h5, a malformed one, a pruned run ----
  BX="$PY $repo/tests/sweep/make_baselines_fixture.py"
  $FX m/sq1 --lambda 1e-6 --size 8000 --error 0.021 --wall 100
  $FX m/sq2 --lambda 1e-5 --size 3000 --error 0.030 --wall 90
  $FX m/dft1 --lambda 1e-6 --size 6000 --error 0.022 --transform dft --experiment x_dft
  $FX m/plain_s1 --plain --error 0.020 --seed 1 --wall 50
  $FX m/plain_s2 --plain --error 0.019 --seed 2 --wall 60
  $FX m/pruned --plain --prune 0.9 --error 0.024
  $BX m/plain_s1 float32:1066500:0.020:1 gzip:990000:0.020:2 xz:950000:0.020:3 uniform8:266700:0.0205 \
      uniform4:133400:0.027 uniform2:66700:0.6 kmeans3:100000:0.024
  $BX m/pruned prune-kmeans:40000:0.025:4
  $BX m/plain_s2 gzip:991000:0.019 kmeans5:166000:0.0195 --break wrong-size   # gzip's file is one byte off
  set +e
  "$epr" pareto m > m.txt 2> m.err; rc=$?
  set -e
  [ "$rc" = 1 ] || { cat m.txt m.err; fail "a malformed baselines.h5 must give exit status 1 (got $rc)"; }
  expect_in "m/plain_s2/baselines.h5: /methods/gzip: file_bytes 991000 but m/plain_s2/baseline_gzip.epr has 991001 bytes" m.err
  expect_in "m/plain_s2/baselines.h5: /methods/gzip" m/report.md     # listed as rejected
  for s in "## Fronts by method" "| epr-sq | 2 | 3.00 KB 3.00% (sq2) · 8.00 KB 2.10% (sq1) |" \
           "| epr-dft | 1 | 6.00 KB 2.20% (dft1) |" "| uniformN | 3 |" "| prune-kmeans | 1 | 40.00 KB 2.50% (pruned:prune-kmeans) |" \
           "| **all methods** | 12 | 3.00 KB 3.00% epr-sq (sq2) · 6.00 KB 2.20% epr-dft (dft1) · 8.00 KB 2.10% epr-sq (sq1) · 166.00 KB 1.95% kmeans5 (plain_s2:kmeans5) |" \
           "| plain_s1:uniform8 | lenet300-100 | uniform8 | — | 1 | 266700 |" "| pruned | lenet300-100 | plain-pruned | — (plain) |" \
           "- \`plain_s1:xz\`: file \`plain_s1/baseline_xz.epr\`, method xz of run \`plain_s1\`, 3.0 s after its training" \
           "Plain float32 reference: 1.07 MB, test error 1.95% (mean of 2 runs)."; do
    expect_in "$s" m/report.md
  done
  $PY - m/sweep.h5 <<'PY'
import math, sys, h5py
f = h5py.File(sys.argv[1], "r")
assert f.attrs["schema_version"] == 2
assert f.attrs["methods"] == "epr-sq,epr-dft,float32,gzip,xz,uniformN,kmeansN,prune-kmeans,plain,plain-pruned", f.attrs["methods"]
assert f.attrs["n_run_files"] == 6 and f.attrs["n_runs"] == 6 + 7 + 1 + 1, (f.attrs["n_runs"], f.attrs["n_run_files"])
assert f.attrs["baseline_run"] == "plain_s1,plain_s2", f.attrs["baseline_run"]
r = f["runs"]
names = [x.decode() for x in r["name"][...]]
col = lambda k: dict(zip(names, [x.decode() if isinstance(x, bytes) else x for x in r[k][...].tolist()]))
m = col("method")
assert m["sq1"] == "epr-sq" and m["dft1"] == "epr-dft" and m["plain_s1"] == "plain" and m["pruned"] == "plain-pruned", m
assert m["plain_s1:uniform8"] == "uniform8" and m["pruned:prune-kmeans"] == "prune-kmeans", m
assert "plain_s2:gzip" not in names and "plain_s2:kmeans5" in names      # the malformed method alone is left out
assert col("is_baseline") == {n: int(n in ("plain_s1", "plain_s2")) for n in names}
assert col("source_run")["plain_s1:xz"] == "plain_s1" and col("source_run")["sq1"] == "sq1"
assert col("bitstream")["plain_s1:xz"] == "plain_s1/baseline_xz.epr"
assert col("size_bytes")["plain_s1:xz"] == 950000 and abs(col("test_error")["plain_s1:xz"] - 0.02) < 1e-12
assert col("post_seconds")["plain_s1:xz"] == 3.0 and col("post_seconds")["sq1"] == 0.0
assert col("wall_seconds")["plain_s1:xz"] == 50.0 and math.isnan(col("test_error_raw")["plain_s1:xz"])
front = {n for n, v in col("is_overall_front").items() if v}
assert front == {"sq2", "dft1", "sq1", "plain_s2:kmeans5"}, front
assert col("is_pareto") == {n: int(n in ("sq1", "sq2", "dft1")) for n in names}
mf = {n for n, v in col("is_method_front").items() if v}
assert {"sq1", "sq2", "dft1", "plain_s1:kmeans3", "plain_s2:kmeans5", "plain_s1:uniform2", "pruned:prune-kmeans"} <= mf, mf
assert "plain_s1:uniform4" in mf and "pruned" not in mf and "plain_s1" not in mf
assert sorted(f["links"].keys()) == ["dft1", "plain_s1", "plain_s2", "pruned", "sq1", "sq2"]   # runs only
for k in ("method", "source_run", "post_seconds", "is_method_front", "is_overall_front"):
    assert "description" in r[k].attrs, k
print("methods sweep.h5 ok")
PY
  # results_table.py --methods, the EPR table mode, the plots
  $PY "$repo/analysis/results_table.py" --methods m > mt.md
  for s in "### lenet300-100 on mnist10k (\`m\`): EPR against baselines" \
           "mean **1.95%**. Thresholds: +0.3 points = 2.25%, +1.0 points = 2.95%." \
           "| epr-sq | 2 | λ 1e-06, seed 1 | 8,000 B (8.00 KB) | 133.3× | 2.10% | 100, 100 s | λ 1e-06, seed 1 |" \
           "| kmeansN | 2 | \`plain_s2:kmeans5\` | 166,000 B (166.00 KB) | 6.4× | 1.95% | 100, 60 + 1.5 s | \`plain_s1:kmeans3\` | 100,000 B (100.00 KB) |" \
           "| prune-kmeans | 1 | — | — | — | — | — | \`pruned:prune-kmeans\` | 40,000 B (40.00 KB) | 26.7× | 2.50% | 100, 12 + 4.0 s |" \
           "| float32 | 1 | \`plain_s1:float32\` | 1,066,500 B (1.07 MB) |" \
           "Paper (Table 1) for lenet300-100 on mnist10k: EPR (SQ) 8.56 KB, 124×, 1.9% error; float32 1.06 MB, 1.6% error" \
           "- **Within +0.3 points** (≤ 2.25%): smallest is **epr-dft**: λ 1e-06, seed 1, 6,000 B. EPR beats every baseline here: the smallest baseline within it, kmeansN (166,000 B), is 27.7× larger than EPR's 6,000 B." \
           "- **Within +1.0 points** (≤ 2.95%): smallest is **epr-dft**: λ 1e-06, seed 1, 6,000 B."; do
    expect_in "$s" mt.md
  done
  # a baseline that beats EPR is said so
  mkdir -p m2 && cp -r m/sq1 m/plain_s1 m2/ && $BX m2/plain_s1 kmeans2:5000:0.021 --merge
  "$epr" pareto m2 > /dev/null
  $PY "$repo/analysis/results_table.py" --methods m2 > m2.md
  expect_in "smallest is **kmeansN**: \`plain_s1:kmeans2\`, 5,000 B. A baseline is smaller: kmeansN (5,000 B) against EPR's smallest, epr-sq (8,000 B, 1.6× larger): EPR does not beat every baseline at this threshold." m2.md
  # the Fashion-MNIST pair has no paper figure
  $FX fm/sq --data fashion-mnist --lambda 1e-6 --size 9000 --error 0.1
  $FX fm/plain --data fashion-mnist --plain --error 0.09
  "$epr" pareto fm > /dev/null
  $PY "$repo/analysis/results_table.py" --methods fm > fm.md
  expect_in "Paper (Table 1) for lenet300-100 on fashion-mnist: — (the paper has no Fashion-MNIST figures)." fm.md
  expect_in "No baseline files in this directory" fm.md
  # the EPR table mode keeps the pruned run out of the baseline and shows the methods
  $PY "$repo/analysis/results_table.py" --target 100:0.3 m > et.md
  expect_in "mean **1.95%**" et.md
  expect_in "| method | λ | λ·n | seed |" et.md
  expect_in "| epr-dft | 1e-06 |" et.md
  # --base-log: the baseline from plain runs' logs, not from the directory's plain runs
  mkdir nb && cp -r m/sq1 m/sq2 nb/
  printf 'step 100/100\ntest error: 1.50%% (EMA), 1.60%% raw weights\n' > t_plain_s4.log
  printf 'test error: 2.50%% (EMA), 2.40%% raw weights\n' > t_plain_s5.log
  $PY "$repo/analysis/results_table.py" --target 100:0.3 --base-log t_plain_s4.log --base-log t_plain_s5.log nb > bl.md
  expect_in "from the logs of runs not in this directory: 1.50% (seed 4, \`t_plain_s4.log\`), 2.50% (seed 5" bl.md
  expect_in "mean **2.00%**" bl.md
  printf 'no result\n' > t_plain_s6.log
  if $PY "$repo/analysis/results_table.py" --target 100:0.3 --base-log t_plain_s6.log nb > o 2>&1; then
    fail "--base-log of an unfinished run accepted"
  fi
  expect_in "t_plain_s6.log: not the log of a finished plain run" o
  printf 'test error: 2.10%% (quantised EMA), 2.00%% raw weights\n' > t_dft_s7.log
  if $PY "$repo/analysis/results_table.py" --target 100:0.3 --base-log t_dft_s7.log nb > o 2>&1; then
    fail "--base-log of an EPR run accepted"
  fi
  expect_in "t_dft_s7.log: not the log of a finished plain run" o
  if $PY "$repo/analysis/results_table.py" --target 100:0.3 --base-log t_plain_s4.log --base-log ./t_plain_s4.log nb > o 2>&1; then
    fail "--base-log with a seed twice accepted"
  fi
  expect_in "seed 4 given twice" o
  if $PY "$repo/analysis/results_table.py" --target 100:0.3 --base-log t_plain_s4.log m > o 2>&1; then
    fail "--base-log on a directory with plain runs accepted"
  fi
  expect_in "has plain runs of its own (plain_s1, plain_s2)" o
  # an older sweep.h5 (schema 1: no method column) is refused by --methods, still plotted
  cp -r e2 old && $PY -c "import h5py; f = h5py.File('old/sweep.h5', 'a'); del f['runs/method']"
  if $PY "$repo/analysis/results_table.py" --methods old > o 2>&1; then fail "a sweep.h5 without methods accepted"; fi
  expect_in "no method column" o
  $PY "$repo/analysis/plot_pareto.py" old/sweep.h5 -o old.png > /dev/null || fail "plot of a schema-1 sweep.h5"
  $PY "$repo/analysis/plot_pareto.py" m/sweep.h5 -o m.png --paper 8.56:1.9
  $PY "$repo/analysis/plot_pareto.py" m/sweep.h5:one m2/sweep.h5:two -o m2.png --no-paper --ymax 5
  [ -s m.png ] && [ -s m2.png ] || fail "no per-method PNG"
  if $PY "$repo/analysis/plot_pareto.py" m/sweep.h5 --paper 8.56 -o x.png > o 2>&1; then fail "--paper without an error"; fi
  expect_in "expected SIZE_KB:ERR%" o
  $PY "$repo/analysis/plot_curves.py" m/sweep.h5 -o mc.png > o 2>&1 || { cat o; fail "plot_curves on a sweep with baselines"; }
  grep -q "skipped" o && { cat o; fail "plot_curves must not try the baseline points"; }
  ;;

points)
  # seeds aggregated (src/study/seeds.h): two seeds of λ 1e-6 are one point
  # (mean, sample std, n = 2); a second run with seed 1 is a point of its
  # own; the front goes through the means, per network and data set; a
  # custom network is named by its experiment and is not LeNet's series
  $FX p/s1 --lambda 1e-6 --seed 1 --size 8000 --error 0.020
  $FX p/s2 --lambda 1e-6 --seed 2 --size 9000 --error 0.030
  $FX p/zdup --lambda 1e-6 --seed 1 --size 7000 --error 0.090
  $FX p/t1 --lambda 1e-5 --seed 1 --size 4000 --error 0.050
  $FX p/t2 --lambda 1e-5 --seed 2 --size 4200 --error 0.040
  $FX p/u1 --lambda 3e-5 --seed 1 --size 6000 --error 0.060   # dominated by the 1e-5 mean
  $FX p/mine --model custom --experiment mlp_tiny --lambda 1e-6 --size 100 --error 0.5
  $FX p/plain1 --plain --seed 1 --error 0.018
  $FX p/plain2 --plain --seed 2 --error 0.020
  "$epr" pareto p > p.txt
  $PY - p/sweep.h5 <<'PY'
import math, sys, h5py
P = h5py.File(sys.argv[1], "r")["points"]
s = lambda k: [x.decode() for x in P[k][...]]
rows = {(n, m, round(l, 12), se): i for i, (n, m, l, se) in
        enumerate(zip(s("network"), s("method"), P["lambda"][...], s("seeds")))}
def get(net, meth, lam, seeds, col):
    return P[col][rows[(net, meth, lam, seeds)]]
assert get("lenet300-100", "epr-sq", 1e-6, "1,2", "n_seeds") == 2
assert abs(get("lenet300-100", "epr-sq", 1e-6, "1,2", "test_error_mean") - 0.025) < 1e-12
assert abs(get("lenet300-100", "epr-sq", 1e-6, "1,2", "size_bytes_mean") - 8500) < 1e-9
assert abs(get("lenet300-100", "epr-sq", 1e-6, "1,2", "size_bytes_std") - math.sqrt(500000)) < 1e-6
assert abs(get("lenet300-100", "epr-sq", 1e-6, "1,2", "test_error_std") - math.sqrt(5e-5)) < 1e-12
assert get("lenet300-100", "epr-sq", 1e-6, "1", "n_seeds") == 1            # the duplicate seed
assert math.isnan(get("lenet300-100", "epr-sq", 1e-6, "1", "test_error_std"))
assert get("lenet300-100", "epr-sq", 1e-5, "1,2", "is_front") == 1          # 4100 B, 4.5%
assert get("lenet300-100", "epr-sq", 3e-5, "1", "is_front") == 0            # 6000 B, 6%: beaten by the mean
assert get("lenet300-100", "epr-sq", 1e-6, "1,2", "is_front") == 1          # 8500 B, 2.5%
assert get("lenet300-100", "epr-sq", 1e-6, "1", "is_front") == 0            # 7000 B, 9%
assert get("mlp_tiny", "epr-sq", 1e-6, "1", "is_front") == 1                # its own series
assert get("lenet300-100", "plain", 0, "1,2", "is_reference") == 1
assert get("lenet300-100", "plain", 0, "1,2", "is_front") == 0
runs = h5py.File(sys.argv[1], "r")["runs"]
names = [x.decode() for x in runs["name"][...]]
mine = names.index("mine")
assert runs["is_method_front"][mine] == 1  # not compared with LeNet's points
print("points over seeds: OK")
PY
  for x in "## Points over seeds" "| lenet300-100 | epr-sq | 1e-06 | 100 | 1,2 (2) | 8,500 ± 707 B | 126× | 2.50 ± 0.71% | **yes** |" \
           "| mlp_tiny | epr-sq | 1e-06 | 100 | 1 (1) | 100 B |" "| lenet300-100 | plain (reference) | — | 100 | 1,2 (2) |" \
           "### mnist10k: mlp_tiny" "### mnist10k: lenet300-100"; do
    expect_in "$x" p/report.md
  done
  $PY "$repo/analysis/results_table.py" --target 100:0.7 p > pt.md
  expect_in "On the means of two or more seeds: **met** by λ 1e-06, seeds 1,2 (126×, +0.60 ± 0.71)." pt.md
  $PY "$repo/analysis/results_table.py" --target 100:0.5 p > pt2.md
  expect_in "On the means of two or more seeds: **not met** by any of the 2 points with two or more seeds." pt2.md
  $PY "$repo/analysis/plot_pareto.py" p/sweep.h5 -o p.png > plot.txt || { cat plot.txt; fail "plot of the points"; }
  expect_in "series: lenet300-100 epr-sq (4 points, 6 runs)" plot.txt
  expect_in "series: mlp_tiny epr-sq (1 point, 1 run)" plot.txt
  [ -s p.png ] || fail "no PNG"
  # the Python side reads the same Table 1 file as epr (tests/sweep/test_paper.c)
  $PY - "$repo/analysis" <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
from epr_results import paper_lookup, paper_table
assert len(paper_table()) == 6
r, note = paper_lookup("lenet5-caffe", "mnist10k")
assert r["epr_bytes"] == 2840 and r["ratio"] == 606 and note == "full MNIST", (r, note)
assert paper_lookup("lenet5-caffe", "fashion-mnist")[0] is None
assert paper_lookup("vgg16-cifar", "cifar10")[1] == ""
PY
  ;;
baselines)
  FAKE=$repo/tests/sweep/fake_epr.sh
  export FAKE_EPR_LOG=$work/calls.log
  printf '[model]\nname = lenet300-100\n' > x.ini
  {
    printf 'experiment\tlambda\tseed\toverrides\n'
    printf 'x.ini\t0\t1\tepr.enabled=false\tbaseline.post=float32,gzip,uniform4\tname=plain\n'
    printf 'x.ini\t1e-6\t1\tbaseline.post=gzip\tname=epr\n'
    printf 'x.ini\t0\t2\tepr.enabled=false\tname=plain2\n'
    printf 'x.ini\t0\t3\tepr.enabled=false\tbaseline.post=xz\tname=new\n'
  } > t.tsv
  $FX out/plain --plain --error 0.02
  $FX out/epr --lambda 1e-6 --size 4000 --error 0.025
  $FX out/plain2 --plain --seed 2 --error 0.021
  "$epr" sweep t.tsv --out out --list > list.txt
  printf '0\tplain\tcomplete\tline 2\tbaselines missing: float32,gzip,uniform4\n1\tepr\tcomplete\tline 3\n2\tplain2\tcomplete\tline 4\n3\tnew\tnew\tline 5\n' \
    | diff - list.txt || fail "--list with baselines"
  "$epr" sweep t.tsv --out out --epr "$FAKE" --dry-run > dry.txt
  expect_in "[1/4] plain: complete; baselines missing from baselines.h5: float32,gzip,uniform4" dry.txt
  expect_in "$FAKE baseline out/plain/run.h5 --methods float32,gzip,uniform4" dry.txt
  [ ! -e calls.log ] && [ ! -e out/plain/baselines.h5 ] || fail "--dry-run ran something"
  echo "earlier training output" > out/plain/train.log
  "$epr" sweep t.tsv --out out --epr "$FAKE" > s1.txt 2>&1 || { cat s1.txt; fail "sweep with baseline steps"; }
  expect_in "[1/4] plain: complete; baselines missing from baselines.h5: float32,gzip,uniform4" s1.txt
  expect_in "[1/4] plain: baselines done in" s1.txt
  expect_in "[2/4] epr: complete, skipped" s1.txt
  expect_in "[2/4] epr: baseline.post ignored: an EPR run" s1.txt
  expect_in "[3/4] plain2: complete, skipped" s1.txt
  expect_in "[4/4] new: starting" s1.txt
  expect_in "[4/4] new: done in" s1.txt
  expect_in "[4/4] new: trained; baselines missing from baselines.h5: xz" s1.txt
  expect_in "[4/4] new: baselines done in" s1.txt
  expect_in "epr sweep: 1 ran, 3 skipped (complete), 0 failed, 2 baseline steps;" s1.txt
  grep -q "plain: complete, skipped" s1.txt && fail "a run whose baselines are missing is not just skipped"
  expect_in "earlier training output" out/plain/train.log          # appended, not replaced
  expect_in "fake epr: baseline out/plain/run.h5 --methods float32,gzip,uniform4" out/plain/train.log
  expect_in "fake epr: baseline out/new/run.h5 --methods xz" out/new/train.log
  [ "$(grep -c '^baseline' calls.log)" = 2 ] || { cat calls.log; fail "two baseline calls expected"; }
  $PY -c "
import h5py
f = h5py.File('out/plain/baselines.h5', 'r')
assert sorted(f['methods']) == ['float32', 'gzip', 'uniform4'], list(f['methods'])"
  # all there: nothing to do
  "$epr" sweep t.tsv --out out --epr "$FAKE" > s2.txt 2>&1 || { cat s2.txt; fail "second sweep"; }
  expect_in "epr sweep: 0 ran, 4 skipped (complete), 0 failed;" s2.txt
  expect_in "[1/4] plain: complete, skipped" s2.txt
  [ "$(grep -c '^baseline' calls.log)" = 2 ] || fail "nothing may run when every method is there"
  # a method missing (its file gone) reruns the step; --set baseline.post= on the command line wins
  rm out/plain/baseline_uniform4.epr
  "$epr" sweep t.tsv --out out --list | grep -q "plain	complete	line 2	baselines missing: uniform4" || fail "--list: uniform4"
  "$epr" sweep t.tsv --out out --epr "$FAKE" --only 0 > s3.txt 2>&1 || { cat s3.txt; fail "rerun of a missing method"; }
  expect_in "[1/1] plain: complete; baselines missing from baselines.h5: uniform4" s3.txt
  "$epr" sweep t.tsv --out out --epr "$FAKE" --only 2 --set baseline.post=kmeans3 > s4.txt 2>&1 || { cat s4.txt; fail "--set"; }
  expect_in "--methods kmeans3" s4.txt
  # a failing step is a failed run (status 1, the end of its log shown); the sweep goes on
  rm out/plain/baseline_gzip.epr
  set +e
  FAKE_BASELINE=fail "$epr" sweep t.tsv --out out --epr "$FAKE" > s5.txt 2>&1; rc=$?
  set -e
  [ "$rc" = 1 ] || { cat s5.txt; fail "a failed baseline step must give status 1 (got $rc)"; }
  expect_in "[1/4] plain: FAILED: epr baseline exited with status 3" s5.txt
  expect_in "fake epr baseline: failing on purpose" s5.txt
  expect_in "failed runs: plain" s5.txt
  expect_in "[4/4] new: complete, skipped" s5.txt
  set +e
  FAKE_BASELINE=nowrite "$epr" sweep t.tsv --out out --epr "$FAKE" --only 0 > s6.txt 2>&1; rc=$?
  set -e
  [ "$rc" = 1 ] || { cat s6.txt; fail "exit 0 without the methods must fail (got $rc)"; }
  expect_in "FAILED: epr baseline exited 0 but out/plain/baselines.h5 still lacks gzip" s6.txt
  # an interruption: the step is stopped, the sweep exits 75, the next call does it
  FAKE_BASELINE=sleep "$epr" sweep t.tsv --out out --epr "$FAKE" > s7.txt 2>&1 &
  pid=$!
  for _ in $(seq 100); do grep -q "baselines missing" s7.txt && break; sleep 0.1; done
  sleep 0.3
  kill -TERM $pid
  set +e
  wait $pid; rc=$?
  set -e
  [ "$rc" = 75 ] || { cat s7.txt; fail "an interrupted baseline step: status $rc, want 75"; }
  expect_in "[1/4] plain: baselines stopped by a signal" s7.txt
  "$epr" sweep t.tsv --out out --epr "$FAKE" > s8.txt 2>&1 || { cat s8.txt; fail "resume after the interruption"; }
  expect_in "[1/4] plain: baselines done in" s8.txt
  # epr pareto reads what the step wrote
  "$epr" pareto out > p.txt 2>&1 || { cat p.txt; fail "pareto on the fixture baselines"; }
  expect_in "| plain:uniform4 | lenet300-100 | uniform4 |" out/report.md
  # the real command, once epr has it
  if "$epr" baseline --help > /dev/null 2>&1; then
    tiny_data data > /dev/null
    tiny_dense_ini "$work/data" 20 20 10 false > tiny.ini
    printf 'experiment\tlambda\tseed\toverrides\ntiny.ini\t0\t1\tname=p\n' > r1.tsv
    "$epr" sweep r1.tsv --out real > r1.txt 2>&1 || { cat r1.txt; fail "real plain run"; }
    printf 'experiment\tlambda\tseed\toverrides\ntiny.ini\t0\t1\tbaseline.post=float32,gzip,uniform4\tname=p\n' > r2.tsv
    "$epr" sweep r2.tsv --out real > r2.txt 2>&1 || { cat r2.txt real/p/train.log; fail "real epr baseline step"; }
    expect_in "[1/1] p: baselines done in" r2.txt
    "$epr" pareto real > rp.txt 2>&1 || { cat rp.txt; fail "pareto on real baselines"; }
    expect_in "| p:uniform4 | custom | uniform4 |" real/report.md
    echo "real epr baseline: ok"
  else
    echo "note: $epr has no 'baseline' command yet: the real-binary part is skipped"
  fi
  ;;

sweep)
  tiny_data data > /dev/null
  tiny_dense_ini "$work/data" 40 20 10 true > tiny.ini
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
  # a run directory that cannot be made (here a dangling symbolic link) is
  # reported as such, not as a bare exit status
  mkdir -p dangling && ln -s ../nowhere/plain dangling/plain
  if "$epr" sweep s.tsv --out dangling --only 2 > o 2>&1; then fail "a dangling run directory must fail"; fi
  expect_in "plain: FAILED to start: dangling/plain: exists but is not a directory" o
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
