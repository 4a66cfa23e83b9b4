#!/usr/bin/env bash
# Nothing lost by accident (issue 18, the run/study half), end to end with
# the real binary on the tiny synthetic data set (tests/test_lib.sh).
#   safety_cli_tests.sh CASE EPR_BINARY REPO WORKDIR
# Cases:
#   overwrite  `epr train --out` on a finished and on an interrupted run is
#              refused (sha256 of every file before = after), --resume and
#              --force go through; `epr compress X -o X` (also through a
#              symbolic link and a hard link), `epr baseline` and `epr pareto
#              --h5/--report` onto an input and `epr eval --predictions` onto
#              the model are refused with the files intact; compress/baseline
#              of a run file whose /model/ema was removed are refused
#   lock       a second `epr train` into a directory a live one trains in is
#              refused naming the owner's pid (even with --force/--resume), and
#              so is a sweep's run there (reported failed);
#              SIGTERM stops the first (exit 75) and frees the lock; the lock
#              file left by a SIGKILLed run does not block its resume
#   config     through `epr train`: a duplicate key, a duplicate [group.X], an
#              unterminated header and a misspelt layer are refused naming
#              file and line; groups given as patterns (fc*.weight, *.bias)
#              train, and `epr compress` of that run rebuilds the same model.epr
#   signals    a bare `epr train` stopped by SIGINT (Ctrl-C) or SIGHUP writes a
#              checkpoint and exits 75 like SIGTERM; its resume ends as an
#              uninterrupted run (model.epr byte for byte)
#   sweep_hup  `epr sweep` (P = 1) gets SIGHUP while a run trains: it exits 75,
#              no epr process of the sweep is left (polled for 10 s), and the
#              rerun's files are those of an uninterrupted sweep
#              (compare_runs.py)
#   runfile    docs/runfile.md is enough to recompute the exact rate: a run with
#              an affine and a conv-affine DFT group (ell 9), check_rate.py
#              recomputes /final rate_exact_bits from the checkpoint with
#              numpy alone; a copy with /final off by one bit, or with one EMA
#              latent moved by one quantisation step, is caught
#   sweep_kill the same with SIGKILL to the sweep and P = 2 (mpirun): the
#              kernel's SIGUSR1 (PR_SET_PDEATHSIG) reaches mpirun, the ranks
#              checkpoint and stop, nothing is left training
set -euo pipefail
case_name=$1 epr=$(cd "$(dirname "$2")" && pwd)/$(basename "$2") repo=$3 work=$4/$1
source "$repo/tests/test_lib.sh" # tiny_data, tiny_dense_ini, fail, expect_in, expect_status
rm -rf "$work"; mkdir -p "$work"; cd "$work"
mpi_test_env
PY=/usr/bin/python3
# ours: "PID STATE COMMAND" of every live (not zombie) epr / mpirun / orted
# process whose working directory is this test's (what a sweep started here
# runs: its children inherit the directory)
ours() {
  $PY - "$work" <<'PY'
import os, sys
for p in filter(str.isdigit, os.listdir("/proc")):
    try:
        if os.readlink("/proc/%s/cwd" % p) != sys.argv[1]:
            continue
        comm = open("/proc/%s/comm" % p).read().strip()
        state = [l.split()[1] for l in open("/proc/%s/status" % p) if l.startswith("State:")][0]
    except (OSError, IndexError):
        continue  # gone meanwhile
    if (comm in ("epr", "mpirun", "orterun", "orted") or comm.startswith("prte")) and state != "Z":
        print(p, state, comm)
PY
}
sums() { (cd "$1" && find . -type f | sort | xargs sha256sum); } # DIR: checksums of all its files
tiny_data data > /dev/null

case $case_name in
overwrite)
  tiny_dense_ini "$work/data" 20 0 10 true > tiny.ini
  expect_status 0 a.log "$epr" train tiny.ini --out r --quiet
  [ -e r/run.h5 ] && [ -e r/model.epr ] || fail "the run wrote no run.h5 / model.epr"
  [ ! -e r/run.lock ] || fail "a finished run left its lock file"
  sums r > before.txt
  expect_status 1 again.log "$epr" train tiny.ini --out r --quiet
  expect_in "r holds a run (r/run.h5): continue it with --resume r/run.h5, or replace it with --force" again.log
  sums r | diff before.txt - || fail "a refused train changed the finished run"
  # under mpirun: rank 0 refuses, the job ends, the directory is as it was (no run.lock left)
  rc=0; timeout 120 mpirun -np 2 "$epr" train tiny.ini --out r --quiet > mpi.log 2>&1 || rc=$?
  [ $rc != 0 ] || fail "mpirun -np 2 epr train into a finished run exited 0"
  expect_in "r holds a run (r/run.h5)" mpi.log
  sums r | diff before.txt - || fail "a refused train under mpirun changed the finished run"
  echo "train --out on a finished run: refused, checksums before = after:"; cat before.txt
  # an interrupted run (a checkpoint, no /final) is refused too; --resume finishes it
  set +e; EPR_TEST_STOP_AT=5 "$epr" train tiny.ini --out part --quiet > stop.log 2>&1; rc=$?; set -e
  [ $rc = 75 ] || { cat stop.log; fail "stopped run exited $rc"; }
  sums part > pbefore.txt
  expect_status 1 p2.log "$epr" train tiny.ini --out part --quiet
  expect_in "part holds a run (part/run.h5)" p2.log
  sums part | diff pbefore.txt - || fail "a refused train changed the interrupted run"
  expect_status 0 p3.log "$epr" train tiny.ini --out part --resume part/run.h5 --quiet
  cmp r/model.epr part/model.epr || fail "the resumed run differs from the uninterrupted one"
  # a checkpoint being written when its run was killed counts as a run
  mkdir tmponly && : > tmponly/run.h5.tmp.123
  expect_status 1 t.log "$epr" train tiny.ini --out tmponly --quiet
  expect_in "tmponly holds a run (tmponly/run.h5.tmp.123)" t.log
  # --force replaces the run: the same bits as a fresh one
  cp -r r forced
  echo stale > forced/baselines.h5
  expect_status 0 f.log "$epr" train tiny.ini --out forced --force --quiet
  cmp r/model.epr forced/model.epr || fail "--force did not train anew"
  [ ! -e forced/baselines.h5 ] || fail "--force kept the old run's baselines.h5"
  mkdir odd && cp tiny.ini odd/run.h5 # an experiment file called run.h5: --force must not delete it
  expect_status 1 odd.log "$epr" train odd/run.h5 --out odd --force --quiet
  expect_in "odd/run.h5 is the same file as the experiment file odd/run.h5" odd.log
  cmp tiny.ini odd/run.h5 || fail "--force deleted or changed the experiment file"

  # no command writes its output over one of its inputs
  sums r > before.txt
  expect_status 1 c.log "$epr" compress r/run.h5 -o r/run.h5
  expect_in "r/run.h5 is the same file as the run file r/run.h5: refusing to write the output over its input" c.log
  ln -s run.h5 r/alias.h5
  ln r/run.h5 hard.h5
  expect_status 1 c2.log "$epr" compress r/run.h5 -o r/alias.h5
  expect_in "refusing to write the output over its input" c2.log
  expect_status 1 c3.log "$epr" compress hard.h5 -o r/run.h5
  expect_in "refusing to write the output over its input" c3.log
  rm r/alias.h5 hard.h5
  sums r | diff before.txt - || fail "a refused compress changed the run"
  echo "compress X -o X: refused, checksums before = after:"; cat before.txt
  expect_status 0 c4.log "$epr" compress r/run.h5 -o other.epr
  expect_status 2 e.log "$epr" eval r/model.epr --data idx --predictions r/model.epr
  expect_in "--predictions: r/model.epr is the same file as the input r/model.epr" e.log
  sums r | diff before.txt - || fail "a refused eval changed the run"
  # a plain run: its baselines may not land on the run file
  tiny_dense_ini "$work/data" 20 0 20 false > plain.ini
  expect_status 0 pl.log "$epr" train plain.ini --out pl --quiet
  mkdir pb && cp pl/run.h5 pb/run.h5 && ln -s run.h5 pb/baselines.h5
  sums pb > bbefore.txt
  expect_status 1 b.log "$epr" baseline pb/run.h5 --methods float32
  expect_in "pb/baselines.h5 is the same file as the run file pb/run.h5" b.log
  sums pb | diff bbefore.txt - || fail "a refused baseline changed the run"
  expect_status 1 pa.log "$epr" pareto . --h5 r/run.h5 --quiet
  expect_in "refusing to write the output over its input" pa.log
  expect_status 1 pa2.log "$epr" pareto . --report pl/run.h5 --quiet
  expect_in "refusing to write the output over its input" pa2.log
  sums r | diff before.txt - || fail "a refused pareto changed a run"
  # /model/ema missing from a run that trained with an EMA: refused, not raw weights
  cp r/run.h5 noema.h5
  $PY - noema.h5 <<'PY'
import sys, h5py
with h5py.File(sys.argv[1], "r+") as f:
    del f["/model/ema"]
PY
  expect_status 1 ne.log "$epr" compress noema.h5 -o ne.epr
  expect_in "noema.h5: no /model/ema although the run trained with [train] ema = 0.999" ne.log
  expect_status 0 ne2.log "$epr" compress noema.h5 -o ne.epr --raw
  cp pl/run.h5 plnoema.h5
  $PY - plnoema.h5 <<'PY'
import sys, h5py
with h5py.File(sys.argv[1], "r+") as f:
    del f["/model/ema"]
PY
  expect_status 1 ne3.log "$epr" baseline plnoema.h5 --methods float32
  expect_in "plnoema.h5: no /model/ema" ne3.log
  ;;
lock)
  # long enough to outlive the test (it is stopped): 10^8 steps, a log line every 10^5
  tiny_dense_ini "$work/data" 100000000 0 100000 false | sed 's/^log_every = 10$/log_every = 100000/' > long.ini
  "$epr" train long.ini --out L --quiet > first.log 2>&1 &
  pid=$!
  for _ in $(seq 600); do [ -s L/run.lock ] && break; sleep 0.1; done # 60 s: a loaded box under ASan starts slowly
  [ -s L/run.lock ] || fail "no L/run.lock while training"
  read -r owner _ < L/run.lock
  [ "$owner" = "$pid" ] || fail "L/run.lock names pid $owner, the run is $pid"
  for extra in "" "--force" "--resume L/run.h5"; do
    # shellcheck disable=SC2086
    expect_status 1 second.log "$epr" train long.ini --out L --quiet $extra
    expect_in "L is in use by another epr process (pid and host: $pid " second.log
  done
  # a sweep whose run directory a live process trains in reports that run as failed, never trains it twice
  printf 'experiment\tlambda\tseed\toverrides\nlong.ini\t0\t1\tname=L\n' > s.tsv
  expect_status 1 sweep.log "$epr" sweep s.tsv --out .
  expect_in "L is in use by another epr process (pid and host: $pid " sweep.log
  expect_in "1 failed" sweep.log
  kill -0 $pid || fail "the first run died"
  kill -TERM $pid
  set +e; wait $pid; rc=$?; set -e
  [ $rc = 75 ] || { cat first.log; fail "SIGTERM: exit $rc, expected 75"; }
  [ ! -e L/run.lock ] || fail "the stopped run left its lock file"
  # a SIGKILLed run leaves run.lock behind, but no lock: its resume goes on
  "$epr" train long.ini --out L --resume L/run.h5 --quiet > third.log 2>&1 &
  pid=$!
  # 60 s as above: under ASan on a loaded box 10 s were once too few, and a run killed before it took
  # the lock leaves none (seen in the ASan suite beside other builds)
  for _ in $(seq 600); do [ -s L/run.lock ] && [ "$(cut -d' ' -f1 L/run.lock)" = $pid ] && break; sleep 0.1; done
  [ "$(cut -d' ' -f1 L/run.lock 2>/dev/null)" = $pid ] || fail "the resumed run (pid $pid) took no lock within 60 s"
  kill -KILL $pid; wait $pid 2>/dev/null || true
  [ -e L/run.lock ] || fail "expected the killed run's lock file to stay"
  tiny_dense_ini "$work/data" 30 0 10 false > short.ini
  expect_status 0 fourth.log "$epr" train short.ini --out L2 --quiet
  cp L/run.lock L2/run.lock # a stale lock file in a directory
  expect_status 0 fifth.log "$epr" train short.ini --out L2 --force --quiet
  echo "lock: second run refused while the first lives; stale lock file ignored"
  ;;
config)
  tiny_dense_ini "$work/data" 20 0 20 true > good.ini
  awk '/^steps =/ {print; print "batch = 16"; print "steps = 30"; next} {print}' good.ini > dupkey.ini
  expect_status 1 o1.log "$epr" train dupkey.ini --out d1 --quiet
  expect_in "dupkey.ini:$(grep -n '^steps = 30' dupkey.ini | cut -d: -f1): [train] steps is given twice (first at line $(grep -n '^steps = 20' dupkey.ini | cut -d: -f1))" o1.log
  { cat good.ini; printf '[group.fc]\nell = 1\n'; } > dupsec.ini
  expect_status 1 o2.log "$epr" train dupsec.ini --out d2 --quiet
  expect_in "dupsec.ini:$(grep -c '' dupsec.ini | awk '{print $1 - 1}'): section [group.fc] is given twice (first at line $(grep -n '^\[group.fc\]' dupsec.ini | head -1 | cut -d: -f1))" o2.log
  sed 's/^\[train\]$/[train/' good.ini > bracket.ini
  expect_status 1 o3.log "$epr" train bracket.ini --out d3 --quiet
  expect_in "bracket.ini:$(grep -n '^\[train$' bracket.ini | cut -d: -f1): unterminated section header '[train'" o3.log
  sed 's/^  relu$/  reluu/' good.ini > layer.ini
  expect_status 1 o4.log "$epr" train layer.ini --out d4 --quiet
  expect_in "layer.ini:$(grep -n '^  reluu$' layer.ini | cut -d: -f1): [model] layers: layer 2: unknown layer type 'reluu' (types: dense, conv, maxpool, avgpool, gap, relu, batchnorm, add, flatten)" o4.log
  for d in d1 d2 d3 d4; do [ ! -e $d/run.h5 ] || fail "$d: a refused experiment wrote a run"; done
  # patterns in tensors: the same groups as the explicit names, so the same bits
  sed 's/^tensors = fc1.weight, fc2.weight$/tensors = fc*.weight/; s/^tensors = fc1.bias, fc2.bias$/tensors = *.bias/' \
    good.ini > pat.ini
  grep -q '^tensors = \*.bias$' pat.ini || fail "pat.ini has no pattern"
  expect_status 0 o5.log "$epr" train good.ini --out names --quiet
  expect_status 0 o6.log "$epr" train pat.ini --out pats --quiet
  cmp names/model.epr pats/model.epr || fail "groups by pattern give another model.epr than by names"
  expect_status 0 o7.log "$epr" compress pats/run.h5 -o again.epr
  cmp again.epr pats/model.epr || fail "compress of a run with patterns differs from its model.epr"
  $PY - pats/run.h5 <<'PY' || fail "the groups by pattern do not hold the tensors they match"
import sys, h5py
f = h5py.File(sys.argv[1], "r")
assert f["/model/latent/fc"].shape == (144 * 16 + 16 * 10,), f["/model/latent/fc"].shape
assert f["/model/latent/bias"].shape == (16 + 10,), f["/model/latent/bias"].shape
PY
  ;;
signals)
  # the signal comes right after the first checkpoint (step 500): 95% of the run is still to go
  tiny_dense_ini "$work/data" 10000 0 500 true | sed 's/^log_every = 10$/log_every = 500/' > s.ini
  expect_status 0 ref.log "$epr" train s.ini --out ref --quiet
  for sig in INT HUP; do
    "$epr" train s.ini --out $sig --quiet > $sig.log 2>&1 &
    pid=$!
    for _ in $(seq 1200); do [ -e $sig/run.h5 ] && break; sleep 0.05; done
    kill -$sig $pid || fail "the run ended before SIG$sig"
    set +e; wait $pid; rc=$?; set -e
    [ $rc = 75 ] || { cat $sig.log; fail "SIG$sig: exit $rc, expected 75"; }
    [ -e $sig/run.h5 ] || fail "SIG$sig: no checkpoint"
    step=$($PY -c "import h5py,sys; print(h5py.File(sys.argv[1],'r').attrs['step'])" $sig/run.h5)
    expect_status 0 $sig.resume.log "$epr" train s.ini --out $sig --resume $sig/run.h5 --quiet
    cmp ref/model.epr $sig/model.epr || fail "SIG$sig: the resumed run differs from the uninterrupted one"
    echo "SIG$sig: exit 75 with a checkpoint at step $step; resumed to the same model.epr"
  done
  ;;
sweep_hup|sweep_kill)
  # the signal comes right after the first checkpoint (step 500): 90% of the run is still to go
  np=1 sig=HUP steps=10000; [ $case_name = sweep_kill ] && np=2 sig=KILL steps=5000
  tiny_dense_ini "$work/data" $steps 0 500 true | sed 's/^log_every = 10$/log_every = 500/' > w.ini
  printf 'experiment\tlambda\tseed\toverrides\nw.ini\t1e-4\t1\nw.ini\t0\t1\tepr.enabled=false\ttrain.steps=1000\tname=plain\n' > s.tsv
  expect_status 0 ref.log "$epr" sweep s.tsv --out ref --np $np
  run0=ref/w_l0.0001_s1
  [ -e $run0/model.epr ] && [ -e ref/plain/run.h5 ] || { cat ref.log; fail "the reference sweep is incomplete"; }
  "$epr" sweep s.tsv --out sw --np $np > sw1.log 2>&1 &
  pid=$!
  for _ in $(seq 1200); do [ -e sw/w_l0.0001_s1/run.h5 ] && break; sleep 0.05; done
  [ -e sw/w_l0.0001_s1/run.h5 ] || { cat sw1.log; fail "the first run wrote no checkpoint within 60 s"; }
  [ -n "$(ours)" ] || fail "no training process found before the signal (the check below would be blind)"
  echo "before SIG$sig:"; ours
  kill -$sig $pid || fail "the sweep ended before the signal (the machine is too fast or too busy for this test)"
  set +e; wait $pid; rc=$?; set -e
  if [ $sig = HUP ]; then
    [ $rc = 75 ] || { cat sw1.log; fail "sweep after SIGHUP: exit $rc, expected 75"; }
    expect_in "stopped by a signal" sw1.log
  fi
  # nothing of this sweep may still run (zombies aside): the children stop on their own
  left=""
  for _ in $(seq 100); do
    left=$(ours)
    [ -z "$left" ] && break
    sleep 0.1
  done
  [ -z "$left" ] || { echo "$left"; fail "processes of the killed sweep are still running after 10 s"; }
  echo "SIG$sig to the sweep (np $np): exit $rc; no process of it left 10 s later or sooner:"
  ps -eo pid,ppid,stat,comm | awk '$4 ~ /^(epr|mpirun|orted)$/' || true
  [ -e sw/w_l0.0001_s1/run.h5 ] || fail "the interrupted run left no checkpoint"
  grep -q "stopping on signal" sw/w_l0.0001_s1/train.log \
    || { cat sw1.log sw/w_l0.0001_s1/train.log; fail "the interrupted run did not checkpoint on the signal"; }
  expect_status 0 sw2.log "$epr" sweep s.tsv --out sw --np $np
  expect_in "resuming from its checkpoint" sw2.log
  $PY "$repo/tests/harness/compare_runs.py" ref sw || fail "the resumed sweep's files differ from the uninterrupted sweep's"
  ;;
runfile)
  {
    tiny_data_section "$work/data"
    printf '[model]\nname = custom\nlayers = conv out=4 k=3 name=conv1\n  relu\n  maxpool k=2\n  flatten\n'
    printf '  dense out=16 name=fc1\n  relu\n  dense out=10 name=fc2\n'
    printf '[train]\nsteps = 200\nbatch = 32\nlog_every = 50\neval_every = 100\ncheckpoint_every = 100\n'
    printf '[epr]\nenabled = true\nlambda = 1e-4\n'
    printf '[group.conv]\ntensors = conv1.weight\ndecoder = conv-affine\ntransform = dft\nell = 9\n'
    printf '[group.fc]\ntensors = fc1.weight, fc2.weight\n[group.bias]\ntensors = *.bias\n'
  } > conv.ini
  expect_status 0 conv.log "$epr" train conv.ini --out c --quiet
  $PY "$repo/tests/harness/check_rate.py" c/run.h5 || fail "the rate recomputed from docs/runfile.md differs"
  # the check can fail: /final off by one bit, or one latent moved by one step s
  cp c/run.h5 off.h5
  $PY -c "import h5py,sys; f=h5py.File(sys.argv[1],'r+'); f['/final'].attrs['rate_exact_bits'] += 1" off.h5
  if $PY "$repo/tests/harness/check_rate.py" off.h5 > off.log; then fail "check_rate.py missed a 1-bit error"; fi
  expect_in "/final rate_exact_bits" off.log
  cp c/run.h5 moved.h5
  $PY - moved.h5 <<'PY'
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r+")
n_conv = f["/model/latent/conv"].shape[0]
n_lat = sum(f["/model/latent/" + g].shape[0] for g in ("conv", "fc", "bias"))
e = f["/model/ema"][()]
s = np.exp(e[n_lat + f["/model/psi/conv"].shape[0]])  # group fc's step: exp(log s), its first psi
e[n_conv] += 3 * s  # the first fc latent, three steps away
f["/model/ema"][...] = e
PY
  if $PY "$repo/tests/harness/check_rate.py" moved.h5 > moved.log; then fail "check_rate.py missed a moved latent"; fi
  expect_in "recomputed" moved.log
  ;;
*) fail "unknown case $case_name" ;;
esac
echo "PASS: $case_name"
