#!/bin/sh
# SPDX-License-Identifier: MIT
# scripts/intel-runtime.sh [DIR] - install Intel's CPU OpenCL runtime, a second
# real OpenCL implementation with its own compiler, from PyPI into a virtualenv.
#
#   DIR       the virtualenv (default: build-cache/intel-venv in the repository)
#   DIR/icd/  an ICD vendor directory whose one file, intel.icd, names the
#             venv's lib/libintelocl.so by its absolute path: point
#             OCL_ICD_VENDORS at it, or copy the file beside other .icd files
#             (no LD_LIBRARY_PATH needed: the library finds its own
#             dependencies beside it)
#
# The last line on standard output is the library's absolute path (progress
# goes to standard error), so that
#   lib=$(sh scripts/intel-runtime.sh) && cmake ... -DHG_INTEL_OCL_LIBRARY="$lib"
# works.  Idempotent: when DIR already holds the pinned versions it installs
# nothing and needs no network.  Needs /usr/bin/python3 with venv
# (scripts/setup.sh installs python3-venv) and PyPI; exits 1 with a message
# naming what is missing otherwise.  docs/testing.md, "Intel's CPU runtime".
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)

# intel-opencl-rt ships libintelocl.so; intel-cmplr-lib-rt the compiler
# runtime it links (libimf, libsvml, libirng, libintlc); the other three are
# their dependencies, pinned too so that a run installs what was tested.
PINS="intel-opencl-rt==2026.2.0 intel-cmplr-lib-rt==2026.2.0 intel-cmplr-lic-rt==2026.2.0 \
tbb==2023.2.0 tcmlib==1.6.0"
PY=/usr/bin/python3

dir=${1:-$root/build-cache/intel-venv}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
stamp="$dir/.hetgrad-intel-runtime"
lib="$dir/lib/libintelocl.so"

say() { echo "intel-runtime: $*" >&2; }

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$PINS" ] && [ -f "$lib" ]; then
    say "$dir already holds $PINS"
else
    if [ ! -x "$dir/bin/pip" ]; then
        say "creating the virtualenv $dir"
        if ! "$PY" -m venv "$dir" >&2; then
            say "cannot create a virtualenv with $PY -m venv: install python3-venv (sh scripts/setup.sh)"
            exit 1
        fi
    fi
    say "installing from PyPI: $PINS"
    log="$dir/pip-install.log"
    # shellcheck disable=SC2086
    if ! "$dir/bin/pip" install --disable-pip-version-check --no-input --retries 2 \
            --timeout 30 $PINS >"$log" 2>&1; then
        tail -n 5 "$log" >&2
        say "pip could not install $PINS (is PyPI reachable from here?); its whole output is in $log"
        exit 1
    fi
    if [ ! -f "$lib" ]; then
        say "the packages are installed but $lib is not there: the package layout changed"
        exit 1
    fi
    echo "$PINS" >"$stamp"
fi

# The packages' own etc/OpenCL/vendors/*.icd name a build machine's path
# (/opt/anaconda1anaconda2anaconda3/...), and intel-fpga_emu.icd a library the
# packages do not ship: hetgrad writes its own, with this venv's path.
mkdir -p "$dir/icd"
echo "$lib" >"$dir/icd/intel.icd.tmp"
mv "$dir/icd/intel.icd.tmp" "$dir/icd/intel.icd"

# The runtime must load and list its platform; clinfo comes with scripts/setup.sh.
if command -v clinfo >/dev/null 2>&1; then
    if ! OCL_ICD_VENDORS="$dir/icd" clinfo -l 2>&1 | grep -q "Intel(R) OpenCL"; then
        OCL_ICD_VENDORS="$dir/icd" clinfo -l >&2 || true
        say "$lib does not load as an OpenCL platform (clinfo -l above)"
        exit 1
    fi
fi
say "ICD vendor directory: $dir/icd (intel.icd)"
echo "$lib"
