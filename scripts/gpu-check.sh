#!/bin/sh
# SPDX-License-Identifier: MIT
# scripts/gpu-check.sh BUILD RESULTS [RUN] - hetgrad's checks on a machine with a
# GPU beside POCL: the probe, the calibration, the mixes, the GPU alone against
# OpenBLAS, the same bits on every mix, and the device tests with the GPU in
# the set.  docs/gpu.md records one such run (an NVIDIA H200).
#
#   BUILD     a Release build with tests (cmake -DCMAKE_BUILD_TYPE=Release)
#   RESULTS   a directory for the logs, one file per check (the summary goes
#             to standard output: pipe it to tee RESULTS/log.txt to keep it)
#   RUN       how to run a program (default: run it as it is); the bundle of
#             scripts/portable-bundle.sh gives "sh DIR/bundle-env.sh"
#
# The devices come from the OpenCL loader: OCL_ICD_VENDORS, or
# /etc/OpenCL/vendors.  POCL runs its pthread device (and basic for the device
# tests); GPU_EXPECT (default platform:NVIDIA) is the GPU's entry in
# HG_TEST_EXPECT (docs/testing.md).  BUDGET (seconds, default 900) skips the
# checks left once it is spent.  The caches are fresh ones under RESULTS, so
# the first calibration is a cold one.  Exit status: 0, or 1 if a check failed.
set -u
[ $# -ge 2 ] || { echo "usage: $0 BUILD RESULTS [RUN]" >&2; exit 2; }
X=$(cd "$1" && pwd)
R=$2
RUN=${3:-}
mkdir -p "$R" || exit 2
R=$(cd "$R" && pwd)
gpu=${GPU_EXPECT:-platform:NVIDIA}
export POCL_DEVICES=pthread HETGRAD_DEVICES='' POCL_CACHE_DIR="$R/pocl-cache" HETGRAD_CACHE_DIR="$R/hetgrad-cache"
mkdir -p "$HETGRAD_CACHE_DIR" && chmod 700 "$HETGRAD_CACHE_DIR"
t0=$(date +%s)
failed=0


step() { echo; echo "==== [$(( $(date +%s) - t0 ))s] $*"; }
left() {
    [ $(( $(date +%s) - t0 )) -lt "${BUDGET:-900}" ] && return 0
    echo "(skipped: over the budget)"; return 1
}
# check SECONDS NAME PROGRAM ARGS...: run under a time limit into RESULTS/NAME.txt
check() {
    limit=$1 name=$2; shift 2
    a=$(date +%s)
    # shellcheck disable=SC2086 # RUN is a command prefix, split on purpose
    timeout "$limit" $RUN "$@" > "$R/$name.txt" 2>&1
    rc=$?
    echo "[$name: rc $rc, $(( $(date +%s) - a )) s]"
    [ $rc -eq 0 ] || failed=1
    return $rc
}

step "machine"
uname -m; getconf GNU_LIBC_VERSION; nproc
command -v nvidia-smi >/dev/null && nvidia-smi -L
left && { check 120 probe "$X/hetgrad-probe" -l --all-devices --check; cat "$R/probe.txt"; }
left && { check 300 profile-cold "$X/hetgrad-probe" --profile; grep -E 'Name|Profile|Kernel|Joint|Fission' "$R/profile-cold.txt"; }
left && { check 60 profile-warm "$X/hetgrad-probe" --profile; }
left && { check 300 mix-softmax "$X/hetgrad-bench" --rows 262144 --steps 5; tail -8 "$R/mix-softmax.txt"; }
left && { check 600 mix-mlp "$X/hetgrad-bench" --model mlp --rows 16384 --steps 9; tail -8 "$R/mix-mlp.txt"; }
for rows in 16384 128; do
    left && { check 300 "gradient-$rows" "$X/bench/bench_gradient" --devices gpu --models softmax,mlp \
                  --rows "$rows" --repeats 9; grep -E 'memory|solo:|openblas ' "$R/gradient-$rows.txt"; }
done
left && { check 300 train "$X/bench/bench_train" --devices gpu --epochs 1 --blas-threads "$(nproc)"; tail -12 "$R/train.txt"; }

step "the same bits on every mix (deterministic MLP training)"
for d in gpu cpu all; do
    left && check 300 "det-$d" "$X/hetgrad-train" --model mlp --hidden 64 --epochs 3 --deterministic \
        --devices "$d" --save "$R/det-$d.bin" -q
done
for d in cpu all; do
    if cmp "$R/det-gpu.bin" "$R/det-$d.bin"; then echo "gpu and $d: the same bits"; else failed=1; fi
done

step "device tests, $gpu in the set"
export POCL_DEVICES="pthread basic" HG_TEST_EXPECT="pthread,basic,$gpu"
for t in test_devices test_roofline test_reference test_determinism test_mlp_small test_small_batch \
         test_training test_workers test_engine; do
    left || break
    check 300 "$t" "$X/tests/$t"
    grep -E '^[0-9]+%|:F:|:E:' "$R/$t.txt"
done
step "done: $( [ $failed -eq 0 ] && echo 'every check passed' || echo 'a check FAILED')"
exit $failed
