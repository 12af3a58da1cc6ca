#!/bin/sh
# SPDX-License-Identifier: MIT
# scripts/bench.sh - set everything up, build, and run the benchmarks on this
# machine's OpenCL devices plus POCL's two CPU devices (pthread and basic):
# start-up costs, then gradient rows/s and GFLOP/s per model on each device
# alone, on all devices (equal and weighted splits), and the same math with
# OpenBLAS on the host; with the kernel each device chose, the fraction of the
# roofline (read bandwidth and FMA peak measured in the same run), the ratio to
# CLBlast and deterministic mode's cost; then minibatch training through hetgrad
# against a plain OpenBLAS loop (bench_train).  Extra arguments go to bench_gradient
# (--json, --rows N, --models softmax, --quick).  POCL's two CPU devices are
# two views of the same cores: --keep-duplicates keeps both (every tool
# de-duplicates by default).
#
# HG_BENCH_INTEL=1 adds Intel's CPU OpenCL runtime, installed from PyPI into
# build-cache/intel-venv by scripts/intel-runtime.sh: a third view of the same
# cores, with its own compiler, measured beside POCL's in the same run.
set -eu
cd "$(dirname "$0")/.."

sh scripts/setup.sh
jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DHG_BUILD_TESTS=OFF >/dev/null
cmake --build build-release -j "$jobs" >/dev/null

icd=build-release/icd-bench
mkdir -p "$icd"
rm -f "$icd"/*.icd
for f in /etc/OpenCL/vendors/*.icd; do
    [ -f "$f" ] && cp "$f" "$icd/"
done
if [ "${HG_BENCH_INTEL:-0}" = 1 ]; then
    intel=$(sh scripts/intel-runtime.sh)
    echo "$intel" >"$icd/intel.icd"
fi
export OCL_ICD_VENDORS="$PWD/$icd"
export POCL_DEVICES="${POCL_DEVICES:-pthread basic}"

echo "==== hetgrad-bench (solo, equal, weighted, dynamic) ===="
./build-release/hetgrad-bench --keep-duplicates
echo
echo "==== bench_startup ===="
./build-release/bench/bench_startup
echo
echo "==== bench_gradient $* ===="
./build-release/bench/bench_gradient --keep-duplicates "$@"
echo
echo "==== bench_train ===="
./build-release/bench/bench_train
