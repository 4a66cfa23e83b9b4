#!/usr/bin/env bash
# TEST DOUBLE for the epr binary in the sweep's baseline step (`epr sweep
# --epr tests/sweep/fake_epr.sh`): nothing here trains or compresses.
#   fake_epr.sh baseline RUN.h5 --methods LIST
#       writes a fixture baselines.h5 beside RUN.h5 (make_baselines_fixture.py,
#       merged with the methods already there); FAKE_BASELINE=fail exits 3,
#       =nowrite exits 0 without writing, =sleep waits (to be interrupted)
#   fake_epr.sh train ... --out DIR ...
#       writes a finished fixture run file into DIR (plain with
#       epr.enabled=false) and no baselines, as an epr without the
#       end-of-training hook would
# Every call is appended to $FAKE_EPR_LOG when set.
set -u
here=$(cd "$(dirname "$0")" && pwd)
echo "fake epr: $*"
[ -n "${FAKE_EPR_LOG:-}" ] && echo "$*" >> "$FAKE_EPR_LOG"
case ${1:-} in
baseline)
  [ $# = 4 ] && [ "$3" = --methods ] || { echo "fake epr: usage: baseline RUN.h5 --methods LIST" >&2; exit 2; }
  case ${FAKE_BASELINE:-ok} in
    fail) echo "fake epr baseline: failing on purpose" >&2; exit 3 ;;
    nowrite) exit 0 ;;
    sleep) exec sleep 60 ;;
  esac
  specs="" i=0
  for m in $(echo "$4" | tr ',' ' '); do i=$((i + 1)); specs="$specs $m:$((100000 / i)):0.0$((i + 1))"; done
  exec /usr/bin/python3 "$here/make_baselines_fixture.py" "$(dirname "$2")" $specs --merge ;;
train)
  out="" plain="" prev=""
  for a in "$@"; do
    [ "$prev" = --out ] && out=$a
    [ "$a" = epr.enabled=false ] && plain=--plain
    prev=$a
  done
  exec /usr/bin/python3 "$here/make_run_fixture.py" "$out" $plain ;;
esac
echo "fake epr: unknown command ${1:-}" >&2
exit 2
