#!/bin/bash
# tests/layers/check_layers.sh CC SRC_DIR LAYER_ROOT — the layer rule
# "a layer includes only headers of the layers below it" as the build
# enforces it (top-level CMakeLists.txt: build/layers/<layer>/ include roots).
#  1. For every pair lower < upper, `#include "upper/<header>"` compiled
#     with the lower layer's include flags must fail ("No such file"), and
#     `#include "lower/<header>"` must resolve from the upper root.
#  2. No file in src/ reaches around the roots: no "../" or absolute path in
#     an #include "...".
# Prints each violation; exits non-zero if there is any.
set -u
cc=$1 src=$2 roots=$3
layers=(codec nn epr run study) # lowest first (common is below all)
fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for ((i = 0; i < ${#layers[@]}; i++)); do
    lo=${layers[$i]}
    for ((j = i + 1; j < ${#layers[@]}; j++)); do
        up=${layers[$j]}
        h=$(cd "$src/$up" && ls *.h | head -1)
        [ -e "$roots/$up/$lo/$(cd "$src/$lo" && ls *.h | head -1)" ] ||
            { echo "FAIL: $up cannot see $lo's headers"; fail=1; }
        printf '#include "%s/%s"\n' "$up" "$h" >"$tmp/probe.c"
        if "$cc" -fsyntax-only -I"$roots/$lo" -I"$src/../include" "$tmp/probe.c" >"$tmp/out" 2>&1; then
            echo "FAIL: layer $lo can include $up/$h"
            fail=1
        elif ! grep -q "$up/$h: No such file" "$tmp/out"; then
            echo "FAIL: layer $lo including $up/$h failed for another reason:"
            cat "$tmp/out"
            fail=1
        fi
    done
done
if grep -rnE '#[[:space:]]*include[[:space:]]*"(\.\./|/)' "$src"; then
    echo "FAIL: the includes above bypass the layer include roots"
    fail=1
fi
[ $fail -eq 0 ] && echo "ok: ${layers[*]}: no layer can include a header of a layer above it"
exit $fail
