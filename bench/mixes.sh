#!/bin/sh
# SPDX-License-Identifier: MIT
# bench/mixes.sh - issue 16's device mixes, one hetgrad-bench run each (softmax 784x10),
# with a fresh profile cache per run so that calibration is measured cold:
#   indep        POCL pthread + basic, POCL_MAX_PTHREAD_COUNT=1 (one core each), 65,536 rows
#   shared       POCL pthread + basic, default threads (they share the cores), 65,536 rows
#   shared+ocl   the same + Oclgrind, 8,192 rows
#   intel3       Intel's CPU runtime + POCL pthread + basic, 65,536 rows
#   intel3+ocl   the same + Oclgrind, 32,768 rows
#   stale        a profile cached under POCL_MAX_PTHREAD_COUNT=1, reused without it
# Usage: sh bench/mixes.sh [OUTDIR]   (after sh scripts/bench.sh has built build-release;
# the Intel mixes need sh scripts/intel-runtime.sh).  Each run's JSON is kept in OUTDIR
# (default build-release/mixes); one summary line per configuration is printed.
# Run it on a quiet machine: one busy core halves what devices sharing cores can do.
set -eu
cd "$(dirname "$0")/.."
R=$PWD
O=${1:-build-release/mixes}
B=${HG_BENCH:-$R/build-release/hetgrad-bench}
mkdir -p "$O"
O=$(cd "$O" && pwd)
I=$O/icd
pocl=$(ls /usr/lib/*/libpocl.so.2 2>/dev/null | head -1)
intel=$R/build-cache/intel-venv/lib/libintelocl.so
for d in pocl pocl+oclgrind pocl+intel pocl+oclgrind+intel; do
    mkdir -p "$I/$d"
    rm -f "$I/$d"/*.icd
    echo "$pocl" >"$I/$d/pocl.icd"
done
for d in pocl+oclgrind pocl+oclgrind+intel; do
    echo /usr/lib/oclgrind/liboclgrind-rt-icd.so >"$I/$d/oclgrind.icd"
done
for d in pocl+intel pocl+oclgrind+intel; do
    echo "$intel" >"$I/$d/intel.icd"
done
export POCL_DEVICES="pthread basic"

summary() {
    /usr/bin/python3 - "$1" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
print("  calibration %.2f s, set-up %.2f s" % (d["calibration_ms"] / 1e3, d["setup_ms"] / 1e3))
for v in d["devices"]:
    notes = [x for x in (v.get("excluded"), v.get("fission")) if x]
    print("  device %-40s corun %-6s %s" % (v["name"][:40], "%.2f" % v["corun_factor"]
          if v.get("corun_factor") else "-", "; ".join(notes)))
for c in d["configs"]:
    t = c.get("timing") or {}
    paired = c.get("vs_best_solo_paired")
    print("  %-40s %-9s %10.0f rows/s  %.3fx best (paired %s)  balance %.3f  spread %s %s" % (
        c["name"][:40], "measured" if c["measured"] else "predicted", c["rows_per_s"],
        c["vs_best_solo"], "%.3fx" % paired if paired else "-",
        c.get("balance_efficiency") or 0,
        "%.1f%%" % (100 * t["spread"]) if t.get("spread") is not None else "-",
        t.get("flag", "")))
if d.get("timing_wide"):
    print("  TIMING WIDE: a spread is over %.0f%%; do not compare" % (100 * d.get("spread_limit", 0.1)))
PY
}

run() { # name icd-set rows [VAR=value ...]
    name=$1 set=$2 rows=$3
    shift 3
    case $set in *intel*) [ -f "$intel" ] || { echo "== $name: skipped (no $intel)"; return; } ;; esac
    rm -rf "$O/cache-$name"
    mkdir -p "$O/cache-$name"
    echo "== $name ($set, $rows rows) $*"
    env "$@" OCL_ICD_VENDORS="$I/$set" HETGRAD_CACHE_DIR="$O/cache-$name" \
        "$B" --keep-duplicates --rows "$rows" --json >"$O/$name.json"
    summary "$O/$name.json"
}

run indep pocl 65536 POCL_MAX_PTHREAD_COUNT=1
run shared pocl 65536
run shared+ocl pocl+oclgrind 8192
run intel3 pocl+intel 65536 LD_LIBRARY_PATH="$R/build-cache/intel-venv/lib"
run intel3+ocl pocl+oclgrind+intel 32768 LD_LIBRARY_PATH="$R/build-cache/intel-venv/lib"
# stale: cached with one thread per device, reused with the default threads
rm -rf "$O/cache-stale"
mkdir -p "$O/cache-stale"
POCL_MAX_PTHREAD_COUNT=1 OCL_ICD_VENDORS="$I/pocl" HETGRAD_CACHE_DIR="$O/cache-stale" \
    "$B" --keep-duplicates --rows 65536 --json >"$O/stale-prepare.json"
echo "== stale (pocl, 65536 rows): a profile cached with POCL_MAX_PTHREAD_COUNT=1, reused without"
OCL_ICD_VENDORS="$I/pocl" HETGRAD_CACHE_DIR="$O/cache-stale" \
    "$B" --keep-duplicates --rows 65536 --json >"$O/stale.json"
summary "$O/stale.json"
