# shellcheck shell=bash
# tests/test_lib.sh — shell helpers shared by the end-to-end test scripts
# (tests/mpi/mpi_tests.sh, tests/sweep/sweep_cli_tests.sh, tests/harness/*_cli_tests.sh,
# tests/slurm/test_slurm.sh); sourced, not run.  It sets no shell options (expect_status
# turns set -e off around its command and back on) and
# changes no directory.
#   tiny_data DIR            the synthetic 12x12 IDX data set
#                            (tests/mpi/make_tiny_data.py) under DIR, with
#                            $PY (python3 when unset)
#   tiny_data_section DIR    prints the [data] section of an experiment that
#                            reads tiny_data's DIR (absolute)
#   fail MSG...              FAIL: MSG on stderr, exit 1
#   expect_in TEXT FILE      FILE contains TEXT (else it is shown and the test fails)
#   expect_status RC LOG cmd...  run cmd (stdout+stderr to LOG), demand exit status RC
#   tiny_dense_ini DIR STEPS EVAL_EVERY CHECKPOINT_EVERY EPR_ENABLED
#                            prints a whole experiment: a two-layer dense
#                            network (fc1 16, fc2 10) on DIR, batch 32,
#                            log_every 10, EPR groups fc and bias
#   mpi_test_env             exports what `epr`/mpirun need in a test: Open
#                            MPI as root, oversubscription, one BLAS thread
#   fail MSG...              "FAIL: MSG" on stderr, exit 1
#   expect_in TEXT FILE      FILE contains TEXT (fixed string), else fail
#   expect_status RC LOG CMD...  runs CMD (stdout+stderr to LOG) and fails
#                            (showing LOG) unless it exits with RC
TEST_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

fail() { echo "FAIL: $*" >&2; exit 1; }
expect_in() { grep -qF -- "$1" "$2" || { cat "$2"; fail "'$1' not in $2"; }; }
expect_status() {
  local want=$1 log=$2; shift 2
  set +e; "$@" > "$log" 2>&1; local rc=$?; set -e
  [ "$rc" = "$want" ] || { cat "$log"; fail "'$*' exited $rc, expected $want"; }
}

tiny_data() {
  "${PY:-python3}" "$TEST_LIB_DIR/mpi/make_tiny_data.py" "$1"
}

tiny_data_section() {
  cat <<INI
[data]
set = idx
root = $1
train_images = train-images-idx3-ubyte
train_labels = train-labels-idx1-ubyte
test_images = t10k-images-idx3-ubyte
test_labels = t10k-labels-idx1-ubyte
INI
}

tiny_dense_ini() {
  echo "; test experiment: a two-layer network on 12x12 synthetic images"
  tiny_data_section "$1"
  cat <<INI
[model]
name = custom
layers = dense out=16 name=fc1
  relu
  dense out=10 name=fc2
[train]
steps = $2
batch = 32
eval_batch = 100
log_every = 10
eval_every = $3
checkpoint_every = $4
[epr]
enabled = $5
[group.fc]
tensors = fc1.weight, fc2.weight
[group.bias]
tensors = fc1.bias, fc2.bias
INI
}

mpi_test_env() {
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
  export OMPI_MCA_rmaps_base_oversubscribe=1
}

fail() { echo "FAIL: $*" >&2; exit 1; }

expect_in() { grep -qF -- "$1" "$2" || { cat "$2"; fail "'$1' not in $2"; }; }

expect_status() {
  local want=$1 log=$2; shift 2
  local rc=0
  "$@" > "$log" 2>&1 || rc=$?
  [ "$rc" = "$want" ] || { cat "$log"; fail "'$*' exited $rc, expected $want"; }
}
