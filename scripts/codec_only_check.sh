#!/bin/bash
# scripts/codec_only_check.sh [BUILD_DIR] — shows that the codec layer builds
# and passes its tests with nothing but a C compiler, libc and libm (CMake
# option EPR_CODEC_ONLY, top-level CMakeLists.txt).
#
# Without a container: as root, in a private mount namespace (unshare -m),
# the headers of MPI, HDF5, OpenBLAS, FFTW, inih, cmocka, zlib and liblzma
# disappear (the include directories are seen through a directory of links
# that leaves them out), the pkg-config and CMake package directories are
# emptied, and pkg-config and the MPI compiler wrappers are replaced by a
# program that fails.
# The rest of the machine is untouched (the mounts die with the namespace).
# In there it first shows that the full build cannot even configure, then
# configures with -DEPR_CODEC_ONLY=ON, builds, and runs ctest.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build-codec-only}
case "$build" in /*) ;; *) build=$PWD/$build ;; esac

if [ -z "${EPR_CODEC_ONLY_STUB:-}" ]; then
    [ "$(id -u)" = 0 ] || { echo "codec_only_check.sh: needs root (unshare -m, bind mounts)" >&2; exit 2; }
    stub=$(mktemp -d)
    rc=0
    EPR_CODEC_ONLY_STUB=$stub unshare -m --propagation private bash "$0" "$build" || rc=$?
    rm -rf "$stub"
    exit $rc
fi

stub=$EPR_CODEC_ONLY_STUB
mount -t tmpfs none "$stub" # gone with the namespace
printf '#!/bin/sh\necho "$0: hidden by codec_only_check.sh" >&2\nexit 127\n' >"$stub/fail"
chmod +x "$stub/fail"
mkdir "$stub/emptydir"
n=0
# shadow DIR PATTERN...: DIR seen through a directory of links to its
# entries, less those matching a pattern (so they do not exist at all).
shadow() {
    local dir=$1 real=$stub/real$n shad=$stub/shadow$n e name p
    shift
    n=$((n + 1))
    mkdir "$real" "$shad"
    mount --rbind "$dir" "$real"
    for e in "$real"/*; do
        name=${e##*/}
        for p in "$@"; do
            # shellcheck disable=SC2254
            case "$name" in $p) continue 2 ;; esac
        done
        ln -s "$e" "$shad/$name"
    done
    mount --bind "$shad" "$dir"
}
hide_dir() { if [ -d "$1" ]; then mount --bind "$stub/emptydir" "$1"; fi; }
hide_prog() { if [ -e "$1" ]; then mount --bind "$stub/fail" "$1"; fi; }

arch=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
lib=/usr/lib/$arch
# The libraries themselves stay (cmake and gcc run on libz.so.1): with the
# headers, pkg-config files and CMake package files gone nothing can use them.
shadow /usr/include/$arch 'openmpi' 'mpi' 'mpi.h' 'openblas*' 'cblas*' 'f77blas.h' 'hdf5*'
shadow /usr/include 'mpi*.h' 'hdf5*' 'H5*' 'cblas*' 'openblas*' 'fftw3*' 'ini.h' 'INIReader.h' 'cmocka*' \
    'zlib.h' 'zconf.h' 'lzma' 'lzma.h'
for d in $lib/openmpi $lib/hdf5 $lib/pkgconfig /usr/share/pkgconfig $lib/cmake/hdf5 /usr/share/cmake/hdf5; do
    hide_dir "$d"
done
for p in pkg-config pkgconf mpicc mpirun mpiexec h5cc; do
    w=$(command -v $p 2>/dev/null) && hide_prog "$(readlink -f "$w")"
done

for h in mpi.h hdf5.h cblas.h fftw3.h ini.h cmocka.h zlib.h lzma.h; do
    echo "#include <$h>" | gcc -fsyntax-only -x c - 2>&1 | grep -m1 -o "$h: No such file or directory" ||
        { echo "FAIL: $h is still visible" >&2; exit 1; }
done
echo "== pkg-config: $(pkg-config --version 2>&1 | head -1)"
echo "== full configure (must fail here):"
rm -rf "$build.full"
if cmake -S "$root" -B "$build.full" >"$stub/full.log" 2>&1; then
    echo "FAIL: the full build configured although its packages are hidden" >&2
    exit 1
fi
grep -m1 -A1 'CMake Error' "$stub/full.log" | tail -1
rm -rf "$build.full"

echo "== codec-only configure, build, test:"
rm -rf "$build"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DEPR_CODEC_ONLY=ON | grep -E 'EPR_CODEC_ONLY|Error' || true
nice cmake --build "$build" -j2 >"$stub/build.log" 2>&1 || { cat "$stub/build.log"; exit 1; }
ctest --test-dir "$build" --output-on-failure
