#!/bin/sh
# SPDX-License-Identifier: MIT
# bench/mpi_exchange.sh - docs/mpi.md's exchange figures: the MPI step's two exchanges
# (HETGRAD_MPI_EXCHANGE=reduce-scatter, the default, and allgather) at 2, 4 and 8 ranks
# on this machine (mpirun --oversubscribe), MLP 784-256-10 (203,530 parameters), every
# rank on POCL's pthread device, batch 128.
#   bytes  what each rank sends per step, counted by Open MPI's pml monitoring
#          (point-to-point and collective messages): a 2-epoch minus a 1-epoch run of
#          512 training rows (4 steps per epoch), divided by 4
#   time   hetgrad-train's gradient step time on rank 0 (train_ms / steps: plan, compute,
#          exchange, reduce), one epoch of 6,554 training rows (52 steps); ROUNDS rounds,
#          the exchanges alternating which goes first, after one discarded warm-up run
# Usage: sh bench/mpi_exchange.sh [ROUNDS [OUTDIR]]   (default 3, build/mpi-exchange), after
# building with -DHG_MPI=ON; HG_TRAIN names another hetgrad-train.  The data (synthetic
# .npy files) are made in OUTDIR.  Prints one line per count and per timed run.
set -eu
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
O=${2:-build/mpi-exchange}
T=${HG_TRAIN:-$PWD/build/hetgrad-train}
mkdir -p "$O"
O=$(cd "$O" && pwd)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

# Synthetic data: ROWS x 784 float32 and int32 labels, 10 classes.
/usr/bin/python3 - "$O" <<'PY'
import array, os, random, struct, sys
def npy(path, descr, shape, data):
    hdr = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, shape)
    hdr += " " * (64 - (10 + len(hdr) + 1) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr)) + hdr.encode())
        f.write(data.tobytes())
for name, rows in (("big", 8192), ("small", 640)):
    if os.path.exists(os.path.join(sys.argv[1], name + "_y.npy")):
        continue
    rng = random.Random(5)
    y = array.array("i", [rng.randrange(10) for _ in range(rows)])
    x = array.array("f", [0.0]) * (rows * 784)
    for r in range(rows):
        for j in range(0, 784, 7):
            x[r * 784 + j] = rng.random()
        for j in range(y[r] * 78, y[r] * 78 + 20):
            x[r * 784 + j] += 1.0
    npy(os.path.join(sys.argv[1], name + "_x.npy"), "<f4", "(%d, 784)" % rows, x)
    npy(os.path.join(sys.argv[1], name + "_y.npy"), "<i4", "(%d,)" % rows, y)
PY

train() { # NP EXCHANGE DATA EPOCHS [mpirun options...]
    np=$1 ex=$2 data=$3 ep=$4
    shift 4
    mpirun --oversubscribe -np "$np" "$@" -x HETGRAD_DEVICES=pthread \
        -x HETGRAD_MPI_EXCHANGE="$ex" "$T" --data "$O/${data}_x.npy" \
        --labels "$O/${data}_y.npy" --model mlp --hidden 256 --epochs "$ep" -q --json
}

for np in 2 4 8; do
    for ex in reduce-scatter allgather; do
        for ep in 1 2; do
            d=$O/mon-$np-$ex-$ep
            rm -rf "$d"
            mkdir -p "$d"
            train "$np" "$ex" small "$ep" --mca pml_monitoring_enable 1 \
                --mca pml_monitoring_enable_output 3 \
                --mca pml_monitoring_filename "$d/p" >"$d/out.json" 2>"$d/err.txt"
        done
        /usr/bin/python3 - "$O" "$np" "$ex" <<'PY'
import glob, re, sys
o, np_, ex = sys.argv[1:4]
def sent(ep):
    tot = {}
    for f in glob.glob("%s/mon-%s-%s-%d/p.*.prof" % (o, np_, ex, ep)):
        tot[f] = sum(int(m.group(1)) for m in
                     (re.match(r"^[EI]\t\d+\t\d+\t(\d+) bytes", l) for l in open(f)) if m)
    return [tot[k] for k in sorted(tot, key=lambda f: int(f.split(".")[-2]))]
per = [(b - a) / 4 for a, b in zip(sent(1), sent(2))]
print("bytes  %d ranks %-14s sent per rank per step: min %.0f max %.0f mean %.0f" %
      (int(np_), ex, min(per), max(per), sum(per) / len(per)), flush=True)
PY
    done
done

train 2 reduce-scatter big 1 >/dev/null 2>&1 # warm-up, discarded
for round in $(seq 1 "$ROUNDS"); do
    for np in 2 4 8; do
        if [ $((round % 2)) -eq 1 ]; then order="reduce-scatter allgather"
        else order="allgather reduce-scatter"; fi
        for ex in $order; do
            train "$np" "$ex" big 1 2>/dev/null | /usr/bin/python3 -c "
import json, math, sys
d = json.load(sys.stdin)
print('time   round %d %d ranks %-14s %.2f ms per step' %
      ($round, $np, '$ex', d['train_ms'] / math.ceil(d['train_rows'] / 128)), flush=True)"
        done
    done
done
