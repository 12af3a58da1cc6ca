#!/bin/sh
# SPDX-License-Identifier: MIT
# tests/bundle_check.sh SRC BUILD - scripts/portable-bundle.sh end to end: pack
# BUILD, unpack it elsewhere, and run test_devices and the probe's self-test
# through its bundle-env.sh on the bundle's own POCL, once with this machine's
# glibc and once through the bundled loader (as on a machine whose glibc is
# older).  POCL's devices only: OCL_ICD_VENDORS is emptied, so bundle-env.sh
# writes its own vendor directory.
set -eu
src=$1
build=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
BUNDLE_XZ_LEVEL=-0 sh "$src/scripts/portable-bundle.sh" "$build" "$tmp/b.tar.xz"
mkdir "$tmp/x"
tar -xJf "$tmp/b.tar.xz" -C "$tmp/x"
b=$tmp/x
export OCL_ICD_VENDORS='' POCL_DEVICES="pthread basic" HG_TEST_EXPECT=pthread,basic HETGRAD_DEVICES=''
export HETGRAD_CACHE_DIR="$tmp/cache"
for mode in native loader; do
    [ "$mode" = loader ] && echo 99.0 > "$b/glibc/VERSION" # the machine's glibc is "older"
    sh "$b/bundle-env.sh" tests/test_devices
    sh "$b/bundle-env.sh" hetgrad-probe -l --all-devices --check > "$tmp/probe.txt"
    grep -q 'self-test: passed' "$tmp/probe.txt" || { cat "$tmp/probe.txt"; exit 1; }
    if grep -q 'self-test: failed' "$tmp/probe.txt"; then cat "$tmp/probe.txt"; exit 1; fi
    echo "bundle_check: $mode: test_devices and the self-tests passed"
done
# the vendor directory names the bundle's POCL, the one relocated with its kernel library
[ "$(cat "$b/icd/pocl.icd")" = "$b/usr/lib/x86_64-linux-gnu/libpocl.so.2" ]
[ -f "$b/usr/share/pocl/include/_kernel.h" ]
