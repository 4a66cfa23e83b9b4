#!/usr/bin/env bash
# scripts/format_check.sh [--fix] — checks that every tracked .c/.h/.cu/.cuh
# under src/ include/ tests/ bench/ (not tests/cmocka_min, a vendored-style
# stand-in) is laid out as .clang-format says, with clang-format 14
# (--dry-run --Werror).  Exits 1 listing the files that differ (show one
# with `clang-format-14 FILE | diff FILE -`); --fix formats them in place.
# Exits 2 when clang-format-14 is missing (Debian package clang-format-14).
set -euo pipefail
cd "$(dirname "$0")/.."
fix=0
case "${1:-}" in
    --fix) fix=1 ;;
    "") ;;
    -h|--help) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "format_check.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
esac
cf=$(command -v clang-format-14 || true)
[ -n "$cf" ] || { echo "format_check.sh: clang-format-14 not found (apt-get install clang-format-14)" >&2; exit 2; }

files=()
while IFS= read -r f; do files+=("$f"); done < <(
    git ls-files -- 'src/*.c' 'src/*.h' 'src/*.cu' 'src/*.cuh' 'include/*.h' \
        'tests/*.c' 'tests/*.h' 'tests/*.cu' 'bench/*.c' 'bench/*.h' 'bench/*.cu' |
        grep -v '^tests/cmocka_min/')
[ "${#files[@]}" -gt 0 ] || { echo "format_check.sh: no source files found (not a git checkout?)" >&2; exit 2; }

if [ "$fix" = 1 ]; then
    "$cf" -i --style=file "${files[@]}"
    echo "format_check.sh: formatted ${#files[@]} files"
    exit 0
fi
bad=()
for f in "${files[@]}"; do
    "$cf" --dry-run --Werror --style=file "$f" >/dev/null 2>&1 || bad+=("$f")
done
if [ "${#bad[@]}" -gt 0 ]; then
    echo "format_check.sh: ${#bad[@]} of ${#files[@]} files differ from .clang-format (scripts/format_check.sh --fix):"
    printf '  %s\n' "${bad[@]}"
    exit 1
fi
echo "format_check.sh: ${#files[@]} files match .clang-format"
