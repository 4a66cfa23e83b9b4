#!/usr/bin/env bash
# Distributed training, checkpoints and failure handling, end to end with
# the real `epr` binary under mpirun (DESIGN.md §3).
#   mpi_tests.sh CASE EPR_BINARY WORKDIR
# Cases: grad_equal resume_bitwise resume_bitwise_np2 resume_bitwise_sgd resume_schedule kill_in_checkpoint
#        rank_failure nan_failure segv_failure config_error_np2
#        prune_kmeans prune_kmeans_np2 prune_kmeans_sgd (Deep Compression baseline, src/run/prune.h)
set -euo pipefail
case_name=$1 epr=$2 work=$3/$1
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
source "$here/../test_lib.sh" # tiny_data, tiny_data_section
rm -rf "$work"; mkdir -p "$work"; cd "$work"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_btl_vader_single_copy_mechanism=none
tiny_data data
{
  tiny_data_section "$work/data"
  cat <<INI
[model]
name = custom
layers = conv out=4 k=3 name=conv1
  relu
  maxpool k=2
  flatten
  dense out=16 name=fc1
  relu
  dense out=10 name=fc2
[train]
steps = 60
batch = 32
eval_batch = 100
log_every = 10
eval_every = 20
checkpoint_every = 20
[epr]
enabled = true
lambda = 1e-4
[group.conv]
tensors = conv1.weight
decoder = conv-affine
transform = dft
ell = 9
[group.fc]
tensors = fc1.weight, fc2.weight
[group.bias]
tensors = conv1.bias, fc1.bias, fc2.bias
INI
} > tiny.ini

fail() { echo "FAIL: $*" >&2; exit 1; }
ini=tiny.ini # the experiment `run` trains
run() { # NP OUT [extra args...]
  local np=$1 out=$2; shift 2
  timeout 120 mpirun -np "$np" "$epr" train "$ini" --out "$out" "$@"
}
curves() { # print /curves without the timing column, for bitwise comparison
  h5dump -d /curves/step -d /curves/loss -d /curves/cross_entropy -d /curves/rate_noisy_bits \
    -d /curves/rate_exact_bits -d /curves/train_error -d /curves/test_error -d /curves/validation_error "$1" | grep -v '^HDF5'
}
dataset() { h5dump -d "$1" "$2" | grep -v '^HDF5'; } # DATASET FILE: its values as text
stop_and_resume() { # NP STOP [extra args...]: a run stopped after step STOP (into part/) and resumed ends
  # bitwise like the uninterrupted run in full/ (model.epr if there is one, curves, weights, EMA, optimizer)
  local np=$1 stop=$2 rc d; shift 2
  rm -rf part
  set +e; EPR_TEST_STOP_AT=$stop run "$np" part "$@" > log_part 2>&1; rc=$?; set -e
  [ $rc = 75 ] || { cat log_part; fail "stopped run exited $rc, expected 75"; }
  grep -q "stopping on signal" log_part || fail "no checkpoint message"
  run "$np" part "$@" --resume part/run.h5 > log_resume 2>&1 || { cat log_resume; fail "resume failed"; }
  grep -q "resumed from part/run.h5 at step $((stop + 1))" log_resume \
    || { cat log_resume; fail "did not resume at step $((stop + 1))"; }
  [ ! -e full/model.epr ] || cmp full/model.epr part/model.epr || fail "model.epr differs after resume"
  cmp <(curves full/run.h5) <(curves part/run.h5) || fail "curves differ after resume"
  for d in /model/train_block /model/ema /optimizer/adam_m /optimizer/adam_v /optimizer/sgd_momentum; do
    h5dump -H -d $d full/run.h5 > /dev/null 2>&1 || continue
    cmp <(dataset $d full/run.h5) <(dataset $d part/run.h5) || fail "$d differs after resume at step $((stop + 1))"
  done
  echo "stopped after step $stop, resumed (np=$np): curves, weights, EMA and optimizer state bitwise identical"
}

case $case_name in
grad_equal)
  # P = 1, 2, 3 see the same global batches: the averaged gradient of a step
  # agrees up to float summation order.
  for np in 1 2 3; do
    EPR_TEST_DUMP_GRAD="$work/g$np.bin:4" run $np r$np --set train.steps=5 > log$np 2>&1 || { cat log$np; fail "np=$np run failed"; }
  done
  python3 - "$work" <<'PY'
import struct, sys
def load(p):
    b = open(p, "rb").read()
    return struct.unpack("<%df" % (len(b) // 4), b)
g1, g2, g3 = (load(f"{sys.argv[1]}/g{n}.bin") for n in (1, 2, 3))
assert len(g1) == len(g2) == len(g3) and len(g1) > 1000, "gradient sizes differ"
scale = max(abs(v) for v in g1)
for name, g in (("np2", g2), ("np3", g3)):
    d = max(abs(a - b) for a, b in zip(g1, g))
    print(f"{name}: max |diff| = {d:.3g} (max |g| = {scale:.3g})")
    assert d <= 1e-4 * scale, f"{name} gradient differs from np1 by {d} (scale {scale})"
    nz = sum(1 for a in g if a != 0.0)
    assert nz > len(g) // 2, "gradient mostly zero: the test would not see a difference"
PY
  ;;
resume_bitwise|resume_bitwise_np2|resume_bitwise_sgd)
  np=1; [ $case_name = resume_bitwise_np2 ] && np=2
  extra=(); [ $case_name = resume_bitwise_sgd ] && extra=(--set train.optimizer=sgd --set train.lr=0.05)
  run $np full "${extra[@]}" > log_full 2>&1 || { cat log_full; fail "uninterrupted run failed"; }
  [ -e full/model.epr ] || fail "the EPR run wrote no model.epr"
  stop_and_resume $np 29 "${extra[@]}"
  ;;
resume_schedule)
  # Schedules (src/run/schedule.h): warm-up over 40 of 60 steps, cosine
  # decay, λ ramped from 0.2λ over 30 steps, φ frozen for the last 15.
  # Stopped mid-warm-up (after step 10) and inside the frozen-φ phase
  # (after step 50), the resumed run is bitwise the uninterrupted one (with a
  # validation split: its curve and the weights chosen on it too).
  sched=(--set train.warmup_steps=40 --set train.lr_schedule=cosine --set train.lr_min=1e-4
         --set epr.lambda_ramp_steps=30 --set epr.lambda_start=0.2 --set epr.freeze_phi_steps=15
         --set data.validation=0.1)
  run 1 full "${sched[@]}" > log_full 2>&1 || { cat log_full; fail "uninterrupted run failed"; }
  grep -q "schedule: lr 0.001, linear warm-up over 40 steps, cosine to 0.0001 at step 60; lambda 0.0001, ramped from 0.2\*lambda over 30 steps; phi frozen for the last 15 steps (from step 45)" log_full \
    || { cat log_full; fail "schedule line missing"; }
  h5dump -a /schedule full/run.h5 | grep -q "phi frozen for the last 15 steps" || fail "run file lacks the schedule"
  h5dump -d /curves/validation_error full/run.h5 | grep -q "DATA" || fail "no validation curve"
  for stop in 9 49; do stop_and_resume 1 $stop "${sched[@]}"; done
  ;;
prune_kmeans|prune_kmeans_np2|prune_kmeans_sgd)
  # Deep Compression during training on LeNet300-100 / mnist10k: prune 0.9
  # at step 20, 3-bit weight sharing at step 40 of 60.  At the end every
  # group has exactly its mask's zeros and at most 2^3 distinct values (raw
  # and EMA); stopped and resumed around both events, the run is bitwise
  # the same (the mask and the clusters are rebuilt from the weights).
  # _sgd: SGD with momentum and weight decay, no EMA (raw weights clustered).
  np=1; [ $case_name = prune_kmeans_np2 ] && np=2
  [ -e "$root/data/mnist10k/train-images-idx3-ubyte" ] || { echo "SKIPPED: no data/mnist10k (scripts/setup.sh)"; exit 77; }
  ini=$root/experiments/lenet300-100_mnist10k.ini
  dc=(--set epr.enabled=false --set train.steps=60 --set train.log_every=10 --set train.eval_every=0
      --set train.checkpoint_every=20 --set baseline.prune=0.9 --set baseline.prune_at=20
      --set baseline.kmeans_bits=3 --set baseline.kmeans_at=40)
  [ $case_name = prune_kmeans_sgd ] && dc+=(--set train.optimizer=sgd --set train.lr=0.05
      --set train.weight_decay=1e-3 --set train.ema=0)
  run $np full "${dc[@]}" > log_full 2>&1 || { cat log_full; fail "uninterrupted run failed"; }
  h5dump -d /model/train_block -b LE -o w.bin full/run.h5 > /dev/null
  ema=w.bin; [ $case_name = prune_kmeans_sgd ] || { h5dump -d /model/ema -b LE -o ema.bin full/run.h5 > /dev/null; ema=ema.bin; }
  python3 - log_full w.bin $ema <<'PY'
import re, struct, sys
log = open(sys.argv[1]).read()
def load(p):
    b = open(p, "rb").read()
    return struct.unpack("<%df" % (len(b) // 4), b)
w, ema = load(sys.argv[2]), load(sys.argv[3])  # no EMA: the weights twice
# LeNet300-100's tensors in block order, and the experiment's groups
sizes = [("fc1.weight", 300 * 784), ("fc1.bias", 300), ("fc2.weight", 100 * 300), ("fc2.bias", 100),
         ("fc3.weight", 10 * 100), ("fc3.bias", 10)]
assert len(w) == len(ema) == sum(n for _, n in sizes), "train block is not LeNet300-100's"
off, o = {}, 0
for name, n in sizes:
    off[name] = (o, n)
    o += n
groups = {"fc12": ["fc1.weight", "fc2.weight"], "fc3": ["fc3.weight"], "bias": ["fc1.bias", "fc2.bias", "fc3.bias"]}
for g, tensors in groups.items():
    idx = [i for t in tensors for i in range(off[t][0], off[t][0] + off[t][1])]
    n = len(idx)
    m = re.search(r"prune group %s\s+(\d+) of (\d+) weights" % g, log)
    assert m and int(m.group(2)) == n, f"{g}: no pruning line for {n} weights"
    masked = int(m.group(1))
    assert masked == 9 * n // 10, f"{g}: {masked} weights pruned, floor(0.9 * {n}) = {9 * n // 10} expected"
    m = re.search(r"share group %s\s+a centroid was 0: its (\d+) weights" % g, log)
    masked += int(m.group(1)) if m else 0
    zeros = [i for i in idx if w[i] == 0]
    assert len(zeros) == masked, f"{g}: {len(zeros)} zeros at the end, the mask has {masked}"
    assert all(ema[i] == 0 for i in zeros), f"{g}: a pruned weight's EMA is not 0"
    for what, v in (("weights", w), ("EMA", ema)):
        distinct = {v[i] for i in idx}
        assert len(distinct) <= 8, f"{g}: {len(distinct)} distinct {what}, at most 2^3 expected"
    print(f"{g}: {n} weights, {masked} zeros = floor(0.9 n), {len({w[i] for i in idx})} distinct values")
PY
  stops="29 44"; [ $case_name = prune_kmeans ] && stops="19 29 39 44"
  for stop in $stops; do stop_and_resume $np $stop "${dc[@]}"; done
  grep -q "state rebuilt from the restored weights" log_resume || fail "the resumed run did not rebuild the state"
  ;;
kill_in_checkpoint)
  # Checkpoint every step, SIGKILL at random moments: the run file under its
  # final name must always be a whole, readable, resumable checkpoint.
  kills=0
  for i in 1 2 3 4 5 6; do
    rm -rf k; mkdir k
    "$epr" train tiny.ini --out k --set train.checkpoint_every=1 --set train.steps=400 --quiet > /dev/null 2>&1 &
    pid=$!
    sleep "0.$((3 + i))"
    while [ ! -e k/run.h5 ] && kill -0 $pid 2>/dev/null; do sleep 0.05; done
    sleep "0.0$i"
    kill -KILL $pid 2>/dev/null && kills=$((kills + 1)); wait $pid 2>/dev/null || true
    ls k/*.tmp.* >/dev/null 2>&1 && echo "kill $i: a temporary file was left (interrupted write)"
    h5dump -a /step k/run.h5 > /dev/null || fail "kill $i: run.h5 unreadable after SIGKILL"
    step=$(h5dump -a /step k/run.h5 | awk '/\(0\)/{print $2}')
    "$epr" train tiny.ini --out k --set train.checkpoint_every=1 --set train.steps=400 --resume k/run.h5 --quiet \
      > resume.log 2>&1 || { cat resume.log; fail "kill $i: resume from step $step failed"; }
    ! ls k/*.tmp.* >/dev/null 2>&1 || fail "kill $i: the resumed run left the stale temporary file"
    echo "kill $i at step $step: checkpoint readable, resumed to the end"
  done
  [ $kills -ge 3 ] || fail "only $kills runs were killed (too fast?)"
  ;;
rank_failure|nan_failure|segv_failure)
  kind=${case_name%_failure}; [ $kind = rank ] && kind=abort
  set +e; EPR_TEST_FAIL="1:7:$kind" timeout 60 mpirun -np 2 "$epr" train tiny.ini --out f > log 2>&1; rc=$?; set -e
  cat log | tail -20
  [ $rc != 124 ] || fail "the job hung (timeout)"
  [ $rc != 0 ] || fail "the job exited 0 after a rank failed"
  case $kind in
    abort) grep -q "rank 1: step 7: forced failure" log || fail "no message naming rank 1, step 7" ;;
    nan) grep -q "step 7: non-finite loss" log || fail "no message about the non-finite loss" ;;
    segv) grep -q "rank 1: step 7: fatal signal SIGSEGV" log || fail "no message naming the signal" ;;
  esac
  ;;
config_error_np2)
  sed 's/^steps = 60/steps = sixty/' tiny.ini > bad.ini
  set +e; timeout 60 mpirun -np 2 "$epr" train bad.ini --out b > log 2>&1; rc=$?; set -e
  cat log
  [ $rc != 124 ] || fail "hung on a configuration error"
  [ $rc != 0 ] || fail "exit 0 on a configuration error"
  grep -q "bad.ini:[0-9]*: \[train\] steps" log || fail "message does not name file, line and key"
  ;;
*) fail "unknown case $case_name" ;;
esac
echo "PASS $case_name"
