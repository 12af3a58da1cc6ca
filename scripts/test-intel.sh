#!/bin/sh
# SPDX-License-Identifier: MIT
# scripts/test-intel.sh [CTEST ARGS] - the opt-in test stage on Intel's CPU
# OpenCL runtime, a second real vendor implementation with its own compiler,
# beside POCL's pthread and basic devices (HG_TEST_DEVICES=pocl+intel).
#
# Installs the runtime from PyPI into build-cache/intel-venv (or the
# virtualenv HG_INTEL_VENV names, relative to the repository root) with
# scripts/intel-runtime.sh, builds in build-intel with warnings as errors, and
# runs the whole CTest suite there; extra arguments go to ctest (-R test_engine
# runs the matching tests only).
# The default CI (.ci/run -> scripts/test.sh) does not run this stage, and so
# needs neither PyPI for it nor Intel's runtime; HG_TEST_INTEL=1 sh
# scripts/test.sh runs it after the three default stages.  docs/testing.md.
set -eu
cd "$(dirname "$0")/.."

sh scripts/setup.sh
lib=$(sh scripts/intel-runtime.sh "${HG_INTEL_VENV:-build-cache/intel-venv}")
jobs=$(nproc 2>/dev/null || echo 2)

echo "==== hetgrad tests: POCL + Intel's CPU runtime ($lib) ===="
cmake -S . -B build-intel -DHG_WERROR=ON -DHG_MPI=ON -DHG_POCL_CACHE_DIR="$PWD/build-cache/pocl" \
      -DHG_TEST_DEVICES=pocl+intel -DHG_INTEL_OCL_LIBRARY="$lib"
cmake --build build-intel -j "$jobs"
ctest --test-dir build-intel --output-on-failure -j "$jobs" "$@"
echo "==== hetgrad tests: POCL + Intel's CPU runtime passed ===="
