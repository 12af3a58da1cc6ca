#!/bin/sh
# SPDX-License-Identifier: MIT
# scripts/test.sh - set everything up and run hetgrad's whole test suite.
#
#   1. POCL (pthread + basic) and Oclgrind: three devices, two platforms
#   2. POCL alone: the "POCL-only CI" promise to downstream projects; also the Python
#      package (python/): pip-installed into a virtualenv, its pytest suite on POCL
#      (CTest python.package; the test requirements come from PyPI)
#   3. POCL and Oclgrind again, built with AddressSanitizer + UBSan
# (after a Release build with warnings as errors, the build scripts/run.sh makes)
# With HG_TEST_INTEL=1, a fourth, opt-in stage follows: POCL and Intel's CPU OpenCL
# runtime, installed from PyPI (scripts/test-intel.sh).  Without it, this script never
# installs or runs Intel's runtime: the default CI stays POCL + Oclgrind.
# Every stage builds the MPI layer (-DHG_MPI=ON: no MPI is a configuration error) and
# runs its tests with two ranks under mpirun (docs/mpi.md).
#
# Every build treats warnings as errors.  Exits non-zero on the first failure.
set -eu
cd "$(dirname "$0")/.."

sh scripts/setup.sh
jobs=$(nproc 2>/dev/null || echo 2)

stage() {
    name=$1 dir=$2
    shift 2
    echo "==== hetgrad tests: $name ===="
    cmake -S . -B "$dir" -DHG_WERROR=ON -DHG_MPI=ON -DHG_POCL_CACHE_DIR="$PWD/build-cache/pocl" "$@"
    cmake --build "$dir" -j "$jobs"
    ctest --test-dir "$dir" --output-on-failure -j "$jobs"
}

# What scripts/run.sh builds (Release, -O3) must compile without warnings too.
echo "==== hetgrad: Release build, warnings as errors ===="
cmake -S . -B build-release-check -DCMAKE_BUILD_TYPE=Release -DHG_WERROR=ON -DHG_MPI=ON -DHG_BUILD_TESTS=OFF
cmake --build build-release-check -j "$jobs"

stage "POCL + Oclgrind" build -DHG_TEST_DEVICES=pocl+oclgrind
stage "POCL only" build-pocl -DHG_TEST_DEVICES=pocl -DHG_PYTHON_TESTS=ON
stage "POCL + Oclgrind, ASan + UBSan" build-asan -DHG_TEST_DEVICES=pocl+oclgrind \
      -DHG_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug -DHG_BUILD_BENCH=OFF
if [ "${HG_TEST_INTEL:-0}" = 1 ]; then
    sh scripts/test-intel.sh
fi
echo "==== hetgrad tests: all stages passed ===="
