#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""mpi_check.py CHECK MPIEXEC TRAIN WORKDIR - hetgrad-train over MPI, two ranks on localhost.

Rank 0 uses POCL's pthread device and rank 1 POCL's basic device (HETGRAD_DEVICES per
rank, mpirun's MPMD syntax).  CHECK is one of:

  train      two ranks vs the single process: same data and seed, final loss within
             1e-3 (relative) and validation accuracy within one row; rank 0 alone prints;
             every rank ends with the same parameters (the hash line); per-rank device
             shares in the summary, the JSON, the --trace file and the --metrics file
             (rank 0 writes it, with both ranks' devices)
  no-device  rank 1 selects no device: every rank ends within the bound, naming rank 1
  rank-exits rank 1 exits at step 5: the job ends within the bound with a clear message
  rank-hangs rank 1 hangs at step 5: rank 0 names it after --mpi-timeout and aborts

Standard library only.
"""
import json
import os
import re
import subprocess
import sys
import time

CHECK, MPIEXEC, TRAIN, WORK = sys.argv[1:5]
BOUND_S = 90  # a failing job must end within this (timeouts below are far shorter)
os.makedirs(WORK, exist_ok=True)


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def mpirun(rank_args, timeout=600):
    """rank_args: per rank, (extra env dict, argument list)."""
    cmd = [MPIEXEC, "--oversubscribe"]
    for i, (env, args) in enumerate(rank_args):
        if i:
            cmd.append(":")
        cmd += ["-np", "1"]
        for k, v in env.items():
            cmd += ["-x", "%s=%s" % (k, v)]
        cmd += [TRAIN] + args
    t0 = time.monotonic()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                           start_new_session=True)
    except subprocess.TimeoutExpired as e:
        fail("mpirun did not end within %d s: %s\n%s" % (timeout, cmd, e.stdout))
    took = time.monotonic() - t0
    print("$ %s\n(exit %d, %.1f s)\n--- stdout\n%s--- stderr\n%s" %
          (" ".join(cmd), p.returncode, took, p.stdout, p.stderr))
    return p, took


def single(args):
    p = subprocess.run([TRAIN] + args, capture_output=True, text=True, timeout=600,
                       env=dict(os.environ, HETGRAD_DEVICES="pthread"))
    if p.returncode != 0:
        fail("single process %s exited %d\n%s%s" % (args, p.returncode, p.stdout, p.stderr))
    return p


TRAIN_ARGS = ["--epochs", "8", "--seed", "3"]
R0 = {"HETGRAD_DEVICES": "pthread"}
R1 = {"HETGRAD_DEVICES": "basic"}

if CHECK == "train":
    one = json.loads(single(TRAIN_ARGS + ["--json"]).stdout)
    p, _ = mpirun([(R0, TRAIN_ARGS + ["--json"]), (R1, TRAIN_ARGS + ["--json"])])
    if p.returncode != 0:
        fail("two-rank run failed")
    two = json.loads(p.stdout)  # exactly one JSON document: rank 1 printed nothing
    print("single: loss %.6f val loss %.6f val acc %.4f hash %s" %
          (one["final_loss"], one["val_loss"], one["val_accuracy"], one["param_hash"]))
    print("2 ranks: loss %.6f val loss %.6f val acc %.4f hash %s" %
          (two["final_loss"], two["val_loss"], two["val_accuracy"], two["param_hash"]))
    for key in ("final_loss", "val_loss"):
        if abs(one[key] - two[key]) > 1e-3 * abs(one[key]):
            fail("%s: single %.6f, two ranks %.6f" % (key, one[key], two[key]))
    if abs(one["val_accuracy"] - two["val_accuracy"]) > 1.5 / one["val_rows"]:
        fail("validation accuracy: single %.4f, two ranks %.4f"
             % (one["val_accuracy"], two["val_accuracy"]))
    if two["ranks"] != 2 or sorted(d["rank"] for d in two["devices"]) != [0, 1]:
        fail("JSON does not list both ranks' devices: %s" % two["devices"])
    if "pthread" not in two["devices"][0]["name"] or "basic" not in two["devices"][1]["name"]:
        fail("rank devices: %s" % two["devices"])
    if abs(sum(d["share_last_epoch"] for d in two["devices"]) - 1) > 1e-9:
        fail("shares do not add up: %s" % two["devices"])
    # Text output with a trace: printed once, shares per rank, the hash agreement.
    trace = os.path.join(WORK, "mpi-trace.json")
    metrics = os.path.join(WORK, "mpi-metrics.jsonl")
    extra = ["--trace", trace, "--metrics", metrics, "--metrics-every", "5"]
    p, _ = mpirun([(R0, TRAIN_ARGS + extra), (R1, TRAIN_ARGS + extra)])
    if p.returncode != 0:
        fail("two-rank text run failed")
    out = p.stdout
    for pat in (r"^ranks: 2 \(MPI\)", r"^rank 0: +[0-9.]+% of the rows \| \[0:0\]",
                r"^rank 1: +[0-9.]+% of the rows \| \[1:0\]",
                r"^parameters: identical on all 2 ranks \(FNV-1a 64 [0-9a-f]{16}\)$"):
        if not re.search(pat, out, re.M):
            fail("no line matching %r in the two-rank output" % pat)
    # (mpirun gives the ranks a terminal, so rank 0 also draws its progress bar)
    if out.count("done: val accuracy") != 1 or out.count("epoch   8/8  loss") != 1:
        fail("the summary is not printed exactly once (rank 1 must be quiet)")
    ev = json.load(open(trace))["traceEvents"]
    names = [e["args"]["name"] for e in ev if e.get("ph") == "M"]
    if not any(n.startswith("rank 1 [1:0]") for n in names):
        fail("no track for rank 1's device in the trace: %s" % names)
    r1 = [e for e in ev if e.get("name") == "gradient" and e["args"].get("rank") == 1]
    if not r1 or sum(e["args"]["rows"] for e in r1) == 0:
        fail("rank 1's device did no rows in the trace")
    with open(metrics) as f:
        recs = [json.loads(line) for line in f]
    if [r["epoch"] for r in recs if r["kind"] == "epoch"] != list(range(1, 9)):
        fail("metrics: epoch records %r" % [(r["kind"], r["epoch"]) for r in recs])
    for r in recs:
        ranks = [(d.get("rank"), d["id"] is None, d["kernel"] is None) for d in r["devices"]]
        if ranks != [(0, False, False), (1, True, True)] or \
                sum(d["rows"] for d in r["devices"]) != r["rows"]:
            fail("metrics record with other devices than rank 0's and rank 1's: %r" % r)
    if sum(r["devices"][1]["rows"] for r in recs if r["kind"] == "epoch") == 0:
        fail("rank 1's device did no rows in the metrics")
    print("ok: two ranks agree with the single process")

elif CHECK == "no-device":
    p, took = mpirun([(R0, ["--epochs", "2"]), ({"HETGRAD_DEVICES": "gpu"}, ["--epochs", "2"])],
                     timeout=BOUND_S)
    if p.returncode == 0:
        fail("the job succeeded without a device on rank 1")
    for r in (0, 1):
        pat = r"rank %d of 2: rank 1 of 2 \([^)]*\): HG_NO_DEVICE" % r
        if not re.search(pat, p.stderr):
            fail("rank %d did not report rank 1's missing device (%r)" % (r, pat))
    print("ok: ended in %.1f s, every rank named rank 1" % took)

elif CHECK == "rank-exits":
    p, took = mpirun([(R0, ["--epochs", "3", "--mpi-timeout", "20"]),
                      (dict(R1, HG_TEST_MPI_EXIT_AT_STEP="5"), ["--epochs", "3", "--mpi-timeout", "20"])],
                     timeout=BOUND_S)
    if p.returncode == 0:
        fail("the job succeeded although rank 1 exited")
    if "exiting at step 5" not in p.stderr:
        fail("rank 1 did not reach the exit hook")
    said = ("rank 0 of 2: stopped by the MPI launcher" in p.stderr or
            re.search(r"rank 0 of 2: .*no answer from rank 1", p.stderr))
    if not said:
        fail("the surviving rank 0 gave no message")
    print("ok: ended in %.1f s with a message from rank 0" % took)

elif CHECK == "rank-hangs":
    p, took = mpirun([(R0, ["--epochs", "3", "--mpi-timeout", "5"]),
                      (dict(R1, HG_TEST_MPI_HANG_AT_STEP="5"), ["--epochs", "3", "--mpi-timeout", "5"])],
                     timeout=BOUND_S)
    if p.returncode == 0:
        fail("the job succeeded although rank 1 hung")
    if not re.search(r"rank 0 of 2: .*step 5: no answer from rank 1 within 5 s", p.stderr):
        fail("rank 0 did not name the silent rank 1")
    print("ok: ended in %.1f s, rank 0 named rank 1" % took)

else:
    fail("unknown check %r" % CHECK)
