#!/usr/bin/python3
"""tests/gpu/emu/transform.py SRC.cu OUT.cpp — rewrites every kernel launch
NAME<<<CFG>>>(ARGS) as emu::run(SYNC, emu::cfg(CFG), [&] { NAME(ARGS); }),
SYNC = 1 when NAME's body calls __syncthreads or block_sum."""
import re
import sys


def match(s, i, open_c, close_c):
    depth = 0
    for j in range(i, len(s)):
        if s[j] == open_c:
            depth += 1
        elif s[j] == close_c:
            depth -= 1
            if depth == 0:
                return j
    raise SystemExit("unbalanced")


def main():
    src = open(sys.argv[1]).read()
    sync = set()
    for m in re.finditer(r"__global__\s+void\s+(\w+)\s*\(", src):
        body_start = src.index("{", m.end())
        body = src[body_start:match(src, body_start, "{", "}") + 1]
        if "__syncthreads" in body or "block_sum" in body:
            sync.add(m.group(1))
    out, i = [], 0
    for m in re.finditer(r"(\w+)<<<", src):
        if m.start() < i:
            continue
        name = m.group(1)
        end_cfg = src.index(">>>", m.end())
        cfg = src[m.end():end_cfg]
        a0 = src.index("(", end_cfg)
        a1 = match(src, a0, "(", ")")
        out.append(src[i:m.start()])
        out.append(f"emu::run({int(name in sync)}, emu::cfg({cfg}), [&] {{ {name}{src[a0:a1 + 1]}; }})")
        i = a1 + 1
    out.append(src[i:])
    open(sys.argv[2], "w").write("".join(out))


if __name__ == "__main__":
    main()
