#!/bin/sh
# SPDX-License-Identifier: MIT
# scripts/portable-bundle.sh BUILD OUT.tar.xz - pack a hetgrad build, with the
# shared libraries it and POCL need, into one tarball that runs on another
# x86-64 Linux machine where none of them is installed (a GPU machine with a
# driver but no package archive, say: docs/gpu.md).
#
#   BUILD        a configured and built hetgrad build directory (Release, tests
#                on if the device tests are to run there)
#   OUT.tar.xz   the tarball; unpack it anywhere and run
#                sh DIR/bundle-env.sh PROGRAM ARGS...
#
# What it holds:
#   build/                  BUILD without its object files
#   lib/                    every shared library the tools, benchmarks, tests
#                           and POCL load (ldd), glibc's own excepted
#   glibc/                  this machine's glibc, used only on a machine whose
#                           glibc is older (POCL's LLVM needs this one's)
#   usr/lib/<triple>/       libpocl.so.2 and its device plugins, and
#   usr/share/pocl/         its kernel library: POCL finds both relative to
#                           libpocl.so.2, so the bundle is relocatable
#   icd/pocl.icd            written by bundle-env.sh on first use
#   bundle-env.sh           runs a program with the bundle's libraries and an
#                           OCL_ICD_VENDORS of POCL plus every .icd file in
#                           /etc/OpenCL/vendors (the machine's own drivers),
#                           unless OCL_ICD_VENDORS is already set
# POCL links each kernel with the host's own ld, which the other machine must
# have (binutils).  Needs ldd, tar and xz here; BUNDLE_XZ_LEVEL (default -6)
# is xz's level (the test, tests/bundle_check.sh, packs with -0).
set -eu
[ $# -eq 2 ] || { echo "usage: $0 BUILD OUT.tar.xz" >&2; exit 2; }
build=$(cd "$1" && pwd)
out=$2
[ -x "$build/hetgrad-probe" ] || { echo "$0: $build holds no built hetgrad-probe" >&2; exit 1; }
pocl=$(ldconfig -p | awk '/libpocl\.so\.2 .*x86-64/ {print $NF; exit}')
[ -n "$pocl" ] || { echo "$0: libpocl.so.2 not found (apt-get install libpocl2)" >&2; exit 1; }
pocl=$(readlink -f "$pocl")
triple_dir=$(dirname "$pocl")            # /usr/lib/x86_64-linux-gnu
share=$(cd "$triple_dir/../../share/pocl" && pwd)

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/lib" "$stage/glibc" "$stage/usr/lib/x86_64-linux-gnu/pocl" "$stage/usr/share"
tar -C "$build" --exclude=CMakeFiles --exclude='*.o' --exclude=hetgrad-cache --exclude=Testing \
    --exclude=pocl-cache --exclude=python-venv --exclude=python-build --exclude='*-work' \
    -cf - . | (mkdir "$stage/build" && tar -C "$stage/build" -xf -)
cp -L "$pocl" "$stage/usr/lib/x86_64-linux-gnu/libpocl.so.2"
cp -L "$triple_dir"/pocl/*.so "$stage/usr/lib/x86_64-linux-gnu/pocl/"
cp -r "$share" "$stage/usr/share/pocl"

# Every library the ELF files load, by ldd, split into glibc and the rest.
find "$stage/build" "$stage/usr" -type f \( -perm -u+x -o -name '*.so*' \) | while read -r f; do
    ldd "$f" 2>/dev/null | awk '/=> \// {print $3} /^\t\/.*ld-linux/ {print $1}'
done | sort -u | while read -r lib; do
    case $(basename "$lib") in
        libhetgrad*|libpocl.so.*) ;; # in build/, and beside POCL's kernel library
        ld-linux*|libc.so.*|libm.so.*|libmvec.so.*|libpthread.so.*|libdl.so.*|librt.so.*|\
libresolv.so.*|libutil.so.*) cp -L "$lib" "$stage/glibc/" ;;
        *) cp -L "$lib" "$stage/lib/" ;;
    esac
done

cat > "$stage/bundle-env.sh" <<'ENV'
#!/bin/sh
# bundle-env.sh PROGRAM ARGS... - run PROGRAM with this bundle's libraries
# (scripts/portable-bundle.sh).  A relative PROGRAM is taken from build/.
set -eu
b=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$b/icd"
echo "$b/usr/lib/x86_64-linux-gnu/libpocl.so.2" > "$b/icd/pocl.icd"
for f in /etc/OpenCL/vendors/*.icd; do
    [ -f "$f" ] && [ "$(basename "$f")" != pocl.icd ] && cp "$f" "$b/icd/"
done
: "${OCL_ICD_VENDORS:=$b/icd}"
export OCL_ICD_VENDORS
prog=$1; shift
case $prog in /*) ;; *) prog=$b/build/$prog ;; esac
libs=$b/lib:$b/usr/lib/x86_64-linux-gnu:$b/build
# The bundle's glibc only where the machine's is older than the one built with.
have=$(getconf GNU_LIBC_VERSION | awk '{print $2}')
need=$(cat "$b/glibc/VERSION")
if [ "$(printf '%s\n%s\n' "$need" "$have" | sort -V | head -1)" = "$need" ]; then
    LD_LIBRARY_PATH=$libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} exec "$prog" "$@"
fi
exec "$b/glibc/ld-linux-x86-64.so.2" --library-path "$b/glibc:$libs" "$prog" "$@"
ENV
getconf GNU_LIBC_VERSION | awk '{print $2}' > "$stage/glibc/VERSION"
tar -C "$stage" -cf - . | xz -T0 "${BUNDLE_XZ_LEVEL:--6}" > "$out"
echo "$out: $(du -h "$out" | cut -f1)"
