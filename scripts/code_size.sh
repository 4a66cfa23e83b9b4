#!/bin/bash
# scripts/code_size.sh [N] [--check] — the largest source files and the
# longest functions in src/ (issue 17: no file over 700 lines, no function
# over 120 lines).  Prints the N (default 10) largest of each; with --check
# exits 1 if any file or function is over its limit (and lists them all).
#
# A function is counted from the line at column 0 that starts its
# definition to the closing "}" at column 0 (the project's style: K&R
# braces, definitions start at column 0, bodies are indented).
set -eu
cd "$(dirname "$0")/.."
n=10 check=0
for a in "$@"; do
    case "$a" in
    --check) check=1 ;;
    *) n=$a ;;
    esac
done
FILE_MAX=700 FUNC_MAX=120
files=$(find src -name '*.[ch]' -o -name '*.cu' -o -name '*.cuh' | sort)

echo "== largest files in src/ (lines; limit $FILE_MAX)"
wc -l $files | grep -v ' total$' | sort -rn | head -n "$n"

funcs=$(for f in $files; do
    awk -v file="$f" '
        # a definition starts at column 0 with a name and "(" and is not a
        # declaration, macro, typedef or initialiser
        start == 0 && /^[A-Za-z_][A-Za-z0-9_ \*]*\(/ && !/;[[:space:]]*$/ && !/^(typedef|return|extern)/ {
            start = NR; name = $0; sub(/\(.*/, "", name); k = split(name, w, /[ \*]+/); name = w[k]
            if ($0 ~ /\{.*\}[[:space:]]*$/) { start = 0; next } # a one-line body
            if ($0 ~ /\{[[:space:]]*$/) inbody = 1
            next
        }
        start && !inbody { if ($0 ~ /;[[:space:]]*$/ && $0 !~ /\{/) start = 0; else if ($0 ~ /\{[[:space:]]*$/) inbody = 1; next }
        inbody && /^\}/ { printf "%d %s:%d %s\n", NR - start + 1, file, start, name; start = 0; inbody = 0 }
    ' "$f"
done | sort -rn)
echo "== longest functions in src/ (lines; limit $FUNC_MAX)"
echo "$funcs" | head -n "$n"

if [ $check = 1 ]; then
    bad=0
    over=$(wc -l $files | grep -v ' total$' | awk -v m=$FILE_MAX '$1 > m')
    [ -z "$over" ] || { echo "== files over $FILE_MAX lines:"; echo "$over"; bad=1; }
    over=$(echo "$funcs" | awk -v m=$FUNC_MAX '$1 > m')
    [ -z "$over" ] || { echo "== functions over $FUNC_MAX lines:"; echo "$over"; bad=1; }
    [ $bad = 0 ] && echo "ok: no file over $FILE_MAX lines, no function over $FUNC_MAX lines"
    exit $bad
fi
