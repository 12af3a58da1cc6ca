#!/bin/sh
# SPDX-License-Identifier: MIT
# scripts/abi-baseline.sh - record the ABI of the release being made (docs/abi.md,
# "Making a release").  Writes abi/<version>/:
#   include/            the public headers as released (hetgrad.h, hetgrad/*.h with the
#                       generated version.h): test abi.old-client builds against them
#   libhetgrad.abi      abidw's description of libhetgrad's public ABI
#   libhetgrad_mpi.abi  ... and of libhetgrad_mpi's
# Then set HG_ABI_BASELINE in CMakeLists.txt to <version> and commit abi/<version>/.
#
#   sh scripts/abi-baseline.sh [BUILD_DIR]     (default: build-abi-baseline)
#
# Builds the two libraries with debug info (RelWithDebInfo), the MPI layer required.
set -eu
cd "$(dirname "$0")/.."
dir=${1:-build-abi-baseline}
jobs=$(nproc 2>/dev/null || echo 2)

cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHG_MPI=ON \
      -DHG_BUILD_TESTS=OFF -DHG_BUILD_BENCH=OFF
cmake --build "$dir" -j "$jobs" --target hetgrad hetgrad_mpi

version=$(sed -n 's/^#define HETGRAD_VERSION_STRING "\(.*\)"$/\1/p' \
          "$dir/include/hetgrad/version.h")
[ -n "$version" ] || { echo "abi-baseline: no version in $dir/include/hetgrad/version.h" >&2; exit 1; }
out=abi/$version
rm -rf "$out"
mkdir -p "$out/include/hetgrad"
cp include/hetgrad.h "$out/include/"
cp include/hetgrad/*.h "$dir/include/hetgrad/version.h" "$out/include/hetgrad/"
for lib in hetgrad hetgrad_mpi; do
    /usr/bin/python3 tests/abi/abi_check.py dump "$dir/lib$lib.so" "$out/lib$lib.abi" \
        include "$dir/include"
done
echo "abi-baseline: wrote $out"
if ! grep -q "^set(HG_ABI_BASELINE $version)" CMakeLists.txt; then
    echo "abi-baseline: now set HG_ABI_BASELINE to $version in CMakeLists.txt"
fi
