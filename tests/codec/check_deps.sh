#!/bin/sh
# tests/codec/check_deps.sh LIB [sanitize] — the deployable decoder library
# may need libc and libm only: its NEEDED entries must be libc/libm (plus the
# sanitizer runtimes in a sanitizer build) and every undefined dynamic
# symbol must be defined by libc or libm.  Exits non-zero and says why.
set -eu
lib=$1
san=${2:-}
fail=0
needed=$(readelf -d "$lib" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
for n in $needed; do
    case "$n" in
    libc.so.*|libm.so.*) ;;
    libasan.so.*|libubsan.so.*|libgcc_s.so.*|libstdc++.so.*|libdl.so.*|libpthread.so.*|librt.so.*)
        [ -n "$san" ] || { echo "FAIL: $lib needs $n"; fail=1; } ;;
    *) echo "FAIL: $lib needs $n (only libc and libm are allowed)"; fail=1 ;;
    esac
done
libc=$(ldd "$lib" | awk '/libc\.so/ {print $3}')
libm=$(ldd "$lib" | awk '/libm\.so/ {print $3}')
defs=$(mktemp)
trap 'rm -f "$defs"' EXIT
for l in $libc $libm; do nm -D --defined-only "$l" | awk '{print $3}' | sed 's/@.*//'; done | sort -u >"$defs"
# Strong undefined symbols only ('U'); weak ones ('w') may stay unresolved.
for s in $(nm -D --undefined-only "$lib" | awk '$1 == "U" {print $2}' | sed 's/@.*//'); do
    if [ -z "$san" ] && ! grep -qx "$s" "$defs"; then
        echo "FAIL: undefined symbol $s is not from libc or libm"
        fail=1
    fi
done
[ $fail -eq 0 ] && echo "ok: $lib needs: $(echo $needed | tr '\n' ' ')"
exit $fail
