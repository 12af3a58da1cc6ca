#!/bin/sh
# SPDX-License-Identifier: MIT
# Install every dependency hetgrad needs from Debian 12 packages.
# Idempotent: when everything is already installed it does nothing (no apt-get update).
set -eu

# python3-numpy is for tests/data_check.py (.npy files written by numpy itself).
# python3-matplotlib is for scripts/plot.py (the pictures of hetgrad-train --metrics and
# hetgrad-bench --json) and its tests.
# python3-sklearn is for the scripts that compare with scikit-learn or use its data
# (bench/digits_vs_sklearn.py, bench/sparse_vs_sklearn.py, data/make_digits.py, run with
# /usr/bin/python3); no test uses it: the Python package's tests install their own pinned
# scikit-learn into a virtualenv (python/tests/requirements.txt; Debian 12's 1.2 is older
# than the estimators need).
# libstarpu-dev is for bench/bench_starpu alone (hetgrad vs StarPU, docs/comparison.md):
# CI builds it and runs its smoke test; the library never links StarPU.
PKGS="build-essential cmake pkg-config \
ocl-icd-opencl-dev ocl-icd-libopencl1 opencl-headers opencl-c-headers \
pocl-opencl-icd libclblast-dev check clinfo oclgrind \
libopenblas-dev zlib1g-dev python3 python3-venv python3-numpy python3-matplotlib python3-sklearn \
man-db groff-base \
libopenmpi-dev openmpi-bin \
abigail-tools libstarpu-dev"

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done

if [ -z "$missing" ]; then
    echo "setup: all dependencies present"
    exit 0
fi

echo "setup: installing:$missing"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing
echo "setup: done"
