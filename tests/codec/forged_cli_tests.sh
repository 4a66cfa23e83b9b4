#!/bin/bash
# tests/codec/forged_cli_tests.sh EPR FORGE_EPR SRCDIR WORKDIR [sanitize]
# The forged files of issue 18 through the real `epr` binary: each is
# refused with exit status 1 and a message naming the file and the limit,
# within 5 s (the closing measurement asks < 1 s; a loaded CI box gets
# slack) and, outside sanitizer builds, under a 1 GiB address-space limit
# and a peak RSS below 100 MB; a small valid network evaluates (exit 0),
# so the refusals are the limits' doing, and with --max-elements raised the
# 2^30-element tensor is inspected in the same time and memory.
set -u
epr=$1 forge=$2 src=$3 work=$4 san=${5:-}
export OPENBLAS_NUM_THREADS=1
rm -rf "$work" && mkdir -p "$work" || exit 1
"$forge" "$work" "$src/tests/data/golden/affine_hist.epr" || { echo "FAIL: forge_epr"; exit 1; }
fail=0
# check WANT_RC PATTERN CMD...: runs CMD, checks its status, output and cost
check() {
    local want=$1 pat=$2
    shift 2
    local out="$work/out.txt" cost="$work/cost.txt"
    (
        [ -n "$san" ] || ulimit -v 1048576
        exec /usr/bin/time -f "%e %M" -o "$cost" timeout 20 "$@"
    ) >"$out" 2>&1
    local rc=$?
    read -r secs kb < <(tail -n 1 "$cost") || { secs=99; kb=0; }
    echo "exit $rc, $secs s, $kb KB: $* -> $(grep -v 'exited with' "$out" | head -2 | tr '\n' ' ')"
    if [ "$rc" != "$want" ]; then echo "FAIL: exit $rc, wanted $want"; fail=1; fi
    if ! grep -q -- "$pat" "$out"; then echo "FAIL: output lacks '$pat'"; fail=1; fi
    if awk -v s="$secs" 'BEGIN { exit !(s > 5) }'; then echo "FAIL: took $secs s"; fail=1; fi
    if [ -z "$san" ] && [ "$kb" -gt 102400 ]; then echo "FAIL: peak RSS $kb KB"; fail=1; fi
}
cd "$work" || exit 1
imgs=(--images "$work/tiny-images.idx" --labels "$work/tiny-labels.idx")
check 1 "const_2p30.epr: tensor 'w': 1073741824 elements, over the reader's limit of 268435456" \
    "$epr" inspect const_2p30.epr
check 1 "const_2p33.epr: tensor 'w': 8589934592 elements, over the reader's limit" \
    "$epr" inspect const_2p33.epr
check 1 "/dev/zero: not an .epr file: bad magic" "$epr" inspect /dev/zero
check 1 "corrupt_stream.epr: tensor 'fc1.weight': coded stream" "$epr" inspect corrupt_stream.epr
check 1 "const_2p30.epr: tensor 'w': 1073741824 elements" "$epr" eval const_2p30.epr "${imgs[@]}"
check 1 "layers_20000.epr: architecture text: 20001 layers, over the limit of 1024" \
    "$epr" eval layers_20000.epr "${imgs[@]}"
check 1 "input_1x1024x1024.epr: architecture text: input 1x1024x1024 (1048576 values) is over" \
    "$epr" eval input_1x1024x1024.epr "${imgs[@]}"
check 1 "corrupt_net.epr: tensor 'fc.bias': corrupt coded stream (final states" \
    "$epr" eval corrupt_net.epr "${imgs[@]}"
check 0 "test error 33.33% (1/3 wrong)" "$epr" eval small_net.epr "${imgs[@]}"
check 0 "self-information 0 bits" "$epr" inspect small_net.epr
# with the limit raised the 2^30-element tensor is inspected, nothing materialised
check 0 "1073741824 params  coded        8 B  (0.0000 bits/param; self-information 0 bits)" \
    "$epr" inspect const_2p30.epr --max-elements 1073741824
[ $fail -eq 0 ] && echo "ok: every forged file refused"
exit $fail
