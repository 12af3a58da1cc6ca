#!/bin/sh
# SPDX-License-Identifier: MIT
# scripts/run.sh - set everything up, build hetgrad and run the main job:
# list every OpenCL device of this machine as hetgrad sees it, prove each one
# computes (the self-test kernel), then train a model on the built-in digits
# data with every device in use.
set -eu
cd "$(dirname "$0")/.."

sh scripts/setup.sh
jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DHG_BUILD_TESTS=OFF >/dev/null
cmake --build build-release -j "$jobs" >/dev/null

echo "==== hetgrad-probe -l --all-devices ===="
./build-release/hetgrad-probe -l --all-devices
echo
echo "==== hetgrad-probe --check ===="
./build-release/hetgrad-probe --check
echo
echo "==== hetgrad-train (softmax regression, built-in digits) ===="
./build-release/hetgrad-train

# The same on the three-device set hetgrad's tests use: POCL's pthread and
# basic CPU devices and the Oclgrind simulator, through a vendor directory of
# our own (the machine's OpenCL setup is not touched).
icd=build-release/icd-demo
mkdir -p "$icd"
rm -f "$icd"/*.icd
if [ -f /etc/OpenCL/vendors/pocl.icd ]; then
    cp /etc/OpenCL/vendors/pocl.icd "$icd/"
fi
if [ -f /usr/lib/oclgrind/liboclgrind-rt-icd.so ]; then
    echo /usr/lib/oclgrind/liboclgrind-rt-icd.so > "$icd/oclgrind.icd"
fi
echo
echo "==== test device set: POCL pthread + basic, Oclgrind (hetgrad-probe -l --all-devices --check) ===="
OCL_ICD_VENDORS="$PWD/$icd" POCL_DEVICES="pthread basic" ./build-release/hetgrad-probe -l --all-devices --check
