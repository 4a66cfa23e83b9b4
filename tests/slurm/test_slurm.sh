#!/usr/bin/env bash
# tests/slurm/test_slurm.sh EPR_BIN REPO — the Slurm scripts against a real
# single-node Slurm (munged, slurmctld, slurmd on this machine, all under a
# temporary directory, with their own ports and munge socket).
#
#  1. submits a three-run tiny sweep (two EPR λ values and the plain
#     baseline, 2 ranks each through srun --mpi=pmix) plus the merge job with
#     slurm/submit.sh;
#  2. while run 0 trains, sends USR1 to its batch script (what
#     --signal=B:USR1@120 does before the time limit): the run must
#     checkpoint, exit 75, requeue itself and resume from its checkpoint;
#  3. waits for the jobs (accounting is off: polls squeue, then reads the
#     output files), then checks sweep.h5, report.md, the plot and the logs.
# The daemons are stopped by their PIDs on every exit (trap).  Exit 77 (skip)
# only when the Slurm/munge programs are not installed; any other problem
# fails.  KEEP=1 keeps the temporary directory.
set -uo pipefail
epr=${1:?usage: test_slurm.sh EPR_BIN REPO}
repo=${2:?usage: test_slurm.sh EPR_BIN REPO}
missing=()
for c in munged slurmctld slurmd sbatch squeue scontrol scancel srun sinfo; do
    command -v "$c" >/dev/null 2>&1 || [ -x "/usr/sbin/$c" ] || missing+=("$c")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "SKIP: Slurm/munge not installed (missing: ${missing[*]}); scripts/setup.sh installs slurmctld slurmd slurm-client munge"
    exit 77
fi
PATH=$PATH:/usr/sbin
epr=$(cd "$(dirname "$epr")" && pwd)/$(basename "$epr")
fail() { echo "FAIL: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || fail "needs root (slurmd runs jobs as their users; munged runs as user munge)"
[ -x "$epr" ] || fail "$epr: no epr binary"
PY=/usr/bin/python3
source "$repo/tests/test_lib.sh" # tiny_data, tiny_dense_ini

work=$(mktemp -d /tmp/epr-slurm-test.XXXXXX) || fail "mktemp"
chmod 755 "$work"
started=()
cleanup() {
    local rc=$?
    set +e
    if [ -n "${SLURM_CONF:-}" ] && [ -f "$SLURM_CONF" ] && [ -s "$work/slurmctld.pid" ]; then
        # cancel our jobs and let slurmd end their steps before it stops
        scancel --quiet ${array_id:+"$array_id"} ${merge_id:+"$merge_id"} 2>/dev/null
        for _ in $(seq 150); do
            [ -z "$(squeue -h 2>/dev/null)" ] && break
            sleep 0.2
        done
    fi
    # stop the daemons by the PIDs they recorded (slurmd, slurmctld, munged)
    for pf in "$work/slurmd.pid" "$work/slurmctld.pid" "$work/munge/munged.pid"; do
        [ -s "$pf" ] || continue
        pid=$(cat "$pf")
        kill "$pid" 2>/dev/null
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
    done
    # anything of ours still alive (a job step whose working directory is in
    # $work) is ended by its PID
    for p in /proc/[0-9]*; do
        case "$(readlink "$p/cwd" 2>/dev/null)" in
            "$work"|"$work"/*) [ "${p#/proc/}" != $$ ] && kill -9 "${p#/proc/}" 2>/dev/null ;;
        esac
    done
    if [ "$rc" -ne 0 ]; then
        echo "---- slurmctld.log (tail) ----"; tail -20 "$work/slurmctld.log" 2>/dev/null
        echo "---- slurmd.log (tail) ----"; tail -20 "$work/slurmd.log" 2>/dev/null
        for f in "$work"/out/slurm/*.out; do [ -f "$f" ] && { echo "---- $f ----"; grep -v '^step \|^eval step' "$f"; }; done
    fi
    if [ "${KEEP:-0}" = 1 ] || [ "$rc" -ne 0 ]; then echo "work directory kept: $work"; else rm -rf "$work"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# ---- munge: our own daemon and socket (the system's, if any, is left alone) ----
install -d -o munge -g munge -m 755 "$work/munge"
[ -r /etc/munge/munge.key ] || fail "/etc/munge/munge.key missing (package munge creates it)"
runuser -u munge -- /usr/sbin/munged --socket="$work/munge/munge.socket" \
    --pid-file="$work/munge/munged.pid" --log-file="$work/munge/munged.log" \
    --seed-file="$work/munge/munged.seed" || fail "munged did not start ($(cat "$work/munge/munged.log" 2>/dev/null))"

# ---- slurm.conf: one node, one partition, accounting off ----
host=$(hostname -s)
port=$((20000 + RANDOM % 20000))
mkdir -p "$work/spool" "$work/state" "$work/tmpfs"
export SLURM_CONF=$work/slurm.conf
cat > "$SLURM_CONF" <<EOF
ClusterName=eprtest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$work/munge/munge.socket
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SlurmdParameters=config_overrides
MpiDefault=pmix
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
DependencyParameters=kill_invalid_depend
ReturnToService=2
MinJobAge=300
KillWait=5
# job ids and PMIx scratch of their own, so that two test instances (or a
# system Slurm) never share /tmp/spmix_appdir_<uid>_<job>.<step>
FirstJobId=$((1000 + RANDOM * 10))
TmpFS=$work/tmpfs
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
NodeName=$host NodeAddr=127.0.0.1 CPUs=4 State=UNKNOWN
PartitionName=eprtest Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
slurmctld || fail "slurmctld did not start"
slurmd || fail "slurmd did not start"
for i in $(seq 100); do
    st=$(sinfo -h -o %T 2>/dev/null | head -1)
    [ "$st" = idle ] && break
    [ "$i" = 100 ] && fail "the node did not become idle (state '$st')"
    sleep 0.2
done
echo "slurm up: node $host idle, ports $port/$((port + 1))"

# ---- a tiny sweep: 2 EPR runs + the plain baseline, 2 ranks each ----
cd "$work" || fail "cd"
mkdir -p "$work/tmpfs"
tiny_data data >/dev/null || fail "tiny data"
tiny_dense_ini "$work/data" 50 25 25 true > tiny.ini
# run 0 is long enough to be interrupted: it gets USR1 below.
printf 'experiment\tlambda\tseed\toverrides\n' > sweep.tsv
printf 'tiny.ini\t1e-4\t1\ttrain.steps=5000\ttrain.log_every=500\ttrain.eval_every=5000\ttrain.checkpoint_every=100000\tname=long\n' >> sweep.tsv
printf 'tiny.ini\t1e-3\t1\n' >> sweep.tsv
printf 'tiny.ini\t0\t1\tepr.enabled=false\tname=plain\n' >> sweep.tsv

# a table whose run epr train would refuse is refused before anything is queued
printf 'experiment\tlambda\tseed\toverrides\ntiny.ini\t1e-4\t1\ttrain.stepz=5\n' > bad.tsv
if bad=$(EPR_BIN=$epr EPR_PARTITION=eprtest bash "$repo/slurm/submit.sh" bad.tsv --out "$work/bad" 2>&1); then
    fail "submit.sh accepted a table with an unknown key: $bad"
fi
printf '%s\n' "$bad" | grep -q "unknown key 'stepz'" || fail "submit.sh did not name the bad key: $bad"
[ -z "$(squeue -h 2>/dev/null)" ] || fail "submit.sh queued jobs for a refused table"
echo "submit.sh refused a table with an unknown key before queueing"

sub=$(EPR_BIN=$epr EPR_RANKS=2 EPR_MAX_PARALLEL=2 EPR_TIME=00:10:00 EPR_PARTITION=eprtest \
    bash "$repo/slurm/submit.sh" sweep.tsv --out "$work/out" 2>&1) || fail "submit.sh failed: $sub"
echo "$sub"
array_id=$(printf '%s\n' "$sub" | awk '$1 == "array" { print $2 }')
merge_id=$(printf '%s\n' "$sub" | awk '$1 == "merge" { print $2 }')
[[ "$array_id" =~ ^[0-9]+$ ]] && [[ "$merge_id" =~ ^[0-9]+$ ]] || fail "submit.sh printed no job ids"

# ---- interrupt run 0 as the time-limit warning would ----
log0=$work/out/long/train.log
for i in $(seq 600); do
    grep -q '^step ' "$log0" 2>/dev/null && break
    [ "$i" = 600 ] && fail "run 0 never started training ($log0)"
    sleep 0.1
done
scancel --batch --signal=USR1 "${array_id}_0" || fail "scancel --signal=USR1 ${array_id}_0"
echo "sent USR1 to the batch script of ${array_id}_0"
# Slurm holds a requeued job for about two minutes (BeginTime); on a cluster
# that is fine, here it would only slow the test: release it once requeued.
for i in $(seq 600); do
    if [ "$(squeue -h -j "${array_id}_0" -o %r 2>/dev/null)" = BeginTime ]; then
        # slurmd refuses a credential made in the same second as the
        # requeue's revocation ("Job credential revoked"): let it pass
        sleep 3
        scontrol update JobId="${array_id}_0" StartTime=now || fail "scontrol update StartTime=now"
        echo "requeued ${array_id}_0 released"
        break
    fi
    [ "$i" = 600 ] && fail "task 0 was not requeued within 60 s"
    sleep 0.1
done

# ---- wait (accounting is off: poll squeue, then read the files) ----
deadline=$((SECONDS + 600))
while :; do
    q=$(squeue -h -j "$array_id,$merge_id" -o '%i %T %r' 2>/dev/null)
    [ -z "$q" ] && break
    if printf '%s\n' "$q" | grep -q DependencyNeverSatisfied; then fail "an array task failed: the merge can never run"; fi
    [ $SECONDS -gt $deadline ] && fail "jobs still queued after 600 s: $q"
    sleep 1
done
echo "jobs left the queue after ${SECONDS} s"

# ---- checks ----
out=$work/out
for t in 0 1 2; do
    f=$out/slurm/epr-sweep_${array_id}_${t}.out
    [ -f "$f" ] || fail "no log $f"
    grep -q 'epr train exited with status 0' "$f" || fail "task $t did not finish with status 0 (see $f)"
done
f0=$out/slurm/epr-sweep_${array_id}_0.out
grep -q 'USR1 received' "$f0" || fail "task 0 never saw USR1 ($f0)"
grep -q 'exited with status 75' "$f0" || fail "task 0 did not stop with status 75 after USR1 ($f0)"
grep -q 'requeueing' "$f0" || fail "task 0 did not requeue itself ($f0)"
grep -q 'restart 1' "$f0" || fail "task 0 did not run again after its requeue ($f0)"
grep -q 'resumed from' "$log0" || fail "run 0 did not resume from its checkpoint ($log0)"
mlog=$out/slurm/epr-merge_${merge_id}.out
[ -f "$mlog" ] || fail "no merge log $mlog"
[ -f "$out/sweep.h5" ] || fail "no $out/sweep.h5 (merge log: $(cat "$mlog"))"
[ -f "$out/report.md" ] || fail "no report.md"
[ -s "$out/pareto.png" ] || fail "no pareto.png"
for name in long tiny_l0.001_s1 plain; do
    grep -q "| $name |" "$out/report.md" || fail "report.md has no row for $name"
done
grep -q '^## Pareto set' "$out/report.md" || fail "report.md has no Pareto section"
$PY - "$out/sweep.h5" <<'PY' || fail "sweep.h5 contents"
import sys, h5py
f = h5py.File(sys.argv[1], "r")
r = f["runs"]
names = [x.decode() for x in r["name"][...]]
assert sorted(names) == ["long", "plain", "tiny_l0.001_s1"], names
assert int(r["is_pareto"][...].sum()) >= 1
for i, n in enumerate(names):
    g = f["links"][n]                     # external link to the run file
    assert "final" in g, n
    assert int(g.attrs["world_size"]) == 2, n
    assert int(r["size_bytes"][i]) == int(g["final"].attrs["size_bytes"]), n
    assert int(r["steps"][i]) == (5000 if n == "long" else 50), (n, int(r["steps"][i]))
print("sweep.h5:", names, "pareto:", list(r["is_pareto"][...]))
PY
echo "PASS: 3 runs under Slurm (one interrupted by USR1, requeued and resumed), merge wrote sweep.h5, report.md, pareto.png"
