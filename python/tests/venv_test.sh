#!/bin/sh
# SPDX-License-Identifier: MIT
# python/tests/venv_test.sh VENV [BUILD_DIR] - test the Python package as a user gets it.
#
# Creates the virtualenv VENV (with $HG_PYTHON, default /usr/bin/python3) unless it
# exists, installs the test requirements (requirements.txt, from PyPI) and then the
# package with `pip install <repo>/python`, which builds libhetgrad.so with CMake
# (BUILD_DIR: scikit-build-core's build directory, kept between runs so that a rerun
# recompiles only what changed; default: a temporary one).  Runs pytest on this
# directory against the installed package, never the source tree.  Exits non-zero on
# any failure, including pytest collecting no test (its exit status 5).
#
# The OpenCL devices are whatever the environment gives: CTest's python.package runs it
# with POCL's pthread and basic devices only (tests/CMakeLists.txt).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
venv=${1:?usage: venv_test.sh VENV [BUILD_DIR]}
build_dir=${2:-}
python=${HG_PYTHON:-/usr/bin/python3}

if [ ! -x "$venv/bin/python" ]; then
    echo "venv_test: creating $venv with $python"
    "$python" -m venv "$venv"
fi
pip="$venv/bin/python -m pip --disable-pip-version-check"
$pip install -q -r "$here/requirements.txt"
$pip uninstall -q -y hetgrad 2>/dev/null || true
if [ -n "$build_dir" ]; then
    $pip install -q "$root/python" --config-settings=build-dir="$build_dir"
else
    $pip install -q "$root/python"
fi
$pip check

# The installed package only: no override of the library, nothing from the source tree.
unset HETGRAD_LIBRARY PYTHONPATH
export HETGRAD_TEST_INSTALLED=1
cd "$venv"
set +e
"$venv/bin/python" -m pytest -p no:cacheprovider -q -rs "$here"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
    echo "venv_test: pytest collected no tests" >&2
    exit 1
fi
exit "$rc"
