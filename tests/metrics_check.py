#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""metrics_check.py TRAIN WORKDIR - hetgrad-train --metrics FILE on the command line.

  * --epochs 2 on the built-in digits (1438 training rows, 128-row batches: 12
    steps an epoch): step records at steps 10 and 20 (the default
    --metrics-every 10), epoch records at 12 and 24, in that order; the last
    epoch record agrees with the --json summary; every record's devices add up.
  * --metrics-every 0: epoch records only.  --val 0 --test: no validation
    figures (null), the training accuracy still there.
  * usage errors (exit 2): --metrics with --epochs 0, --metrics-every without
    --metrics, a bad --metrics-every.
  * a path that cannot be created: exit 1 naming it, before any device work.
  * a file that cannot be written (/dev/full): the run trains and saves, then
    exits 1 naming the file.
POCL's CPU devices (--devices cpu).  Standard library only.
"""
import json
import os
import subprocess
import sys

import lsan_rerun  # tests/lsan_rerun.py: LeakSanitizer's tracer crash

TRAIN, WORK = sys.argv[1], sys.argv[2]
DEV = ["--devices", "cpu", "--keep-duplicates"]


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def run(args, rc=0):
    p = lsan_rerun.run([TRAIN] + args, capture_output=True, text=True, timeout=600)
    if p.returncode != rc:
        fail("%s exited %d (wanted %d)\n%s\n%s" % (args, p.returncode, rc, p.stdout, p.stderr))
    return p


def records(path):
    with open(path) as f:
        text = f.read()
    if not text.endswith("\n"):
        fail("%s does not end with a newline" % path)
    return [json.loads(line) for line in text.splitlines()]


def check_devices(recs):
    for r in recs:
        if sum(d["rows"] for d in r["devices"]) != r["rows"] or \
                abs(sum(d["share"] for d in r["devices"]) - 1) > 1e-9:
            fail("devices do not add up: %r" % r)
        for d in r["devices"]:
            if d["rows"] and not (d["busy_ms"] > 0 and d["rows_per_s"] > 0 and d["kernel"]):
                fail("a device with rows and no busy time, rate or kernel: %r" % d)


os.makedirs(WORK, exist_ok=True)
m = os.path.join(WORK, "digits.jsonl")
doc = json.loads(run(DEV + ["--epochs", "2", "--json", "--metrics", m]).stdout)
recs = records(m)
kinds = [(r["kind"], r["epoch"], r["step"], r["steps"]) for r in recs]
want = [("step", 1, 10, 10), ("epoch", 1, 12, 12), ("step", 2, 20, 10), ("epoch", 2, 24, 12)]
if kinds != want:
    fail("records %r, wanted %r" % (kinds, want))
check_devices(recs)
last = recs[-1]
if (last["rows"], last["loss"], last["val_loss"], last["val_accuracy"]) != \
        (doc["train_rows"], doc["final_loss"], doc["val_loss"], doc["val_accuracy"]) or \
        [d["name"] for d in last["devices"]] != [d["name"] for d in doc["devices"]] or \
        [d["kernel"] for d in last["devices"]] != [d["kernel"] for d in doc["devices"]] or \
        [d["share"] for d in last["devices"]] != [d["share_last_epoch"] for d in doc["devices"]]:
    fail("the last epoch record %r disagrees with the summary %r" % (last, doc))
if abs(last["train_ms"] - doc["train_ms"]) > 1e-6 * doc["train_ms"]:
    fail("train_ms %r, the summary's %r" % (last["train_ms"], doc["train_ms"]))
if not 0.5 < last["train_accuracy"] <= 1:
    fail("training accuracy %r after two epochs" % last["train_accuracy"])
if any(r["val_loss"] is not None or r["train_accuracy"] is not None
       for r in recs if r["kind"] == "step"):
    fail("step records with validation or accuracy figures: %r" % recs)
print("digits, 2 epochs: %r; the last agrees with --json" % kinds)

# --profile-host: every record has a "host" object whose parts add up to its step time,
# and the summary goes to stderr; without it (the run above) no record has one.
if any("host" in r for r in recs):
    fail("records with a host object without --profile-host: %r" % recs)
mh = os.path.join(WORK, "host.jsonl")
p = run(DEV + ["--epochs", "2", "--json", "--metrics", mh, "--profile-host"])
json.loads(p.stdout)  # the summary on stdout is untouched
parts = ["plan_ms", "devices_ms", "transfer_ms", "reduce_ms", "update_ms", "other_ms",
         "step_ms"]
hrecs = records(mh)
for r in hrecs:
    h = r.get("host")
    if not h or sorted(h) != sorted(parts) or any(h[k] < 0 for k in parts):
        fail("--profile-host: record without its host parts: %r" % r)
    total = sum(h[k] for k in parts if k not in ("transfer_ms", "step_ms"))
    if abs(total - h["step_ms"]) > 1e-6 * max(1.0, h["step_ms"]):
        fail("--profile-host: parts add up to %r, step_ms %r" % (total, h["step_ms"]))
lines = p.stderr.splitlines()
if not lines or not lines[0].startswith("host profile: 24 steps") or \
        [ln.split()[0] for ln in lines[1:]] != parts:
    fail("--profile-host: stderr %r" % p.stderr)
print("--profile-host: %d records with their host parts, the summary on stderr" % len(hrecs))

# --metrics-every 0, --val 0 with a test file: epoch records only, no validation figures.
csv = os.path.join(WORK, "three.csv")
with open(csv, "w") as f:
    for r in range(60):
        c = r % 3
        f.write(",".join("%.2f" % (((r * 7 + k * 3) % 10) / 10.0 + (2.0 if k == c else 0.0))
                         for k in range(4)) + ",%d\n" % c)
m0 = os.path.join(WORK, "every0.jsonl")
run(DEV + ["--data", csv, "--val", "0", "--test", csv, "--epochs", "3", "--batch", "16",
           "--metrics-every", "0", "--metrics", m0, "-q"])
recs = records(m0)
if [(r["kind"], r["step"]) for r in recs] != [("epoch", 4), ("epoch", 8), ("epoch", 12)]:
    fail("--metrics-every 0: %r" % [(r["kind"], r["step"]) for r in recs])
if any(r["val_loss"] is not None or r["val_accuracy"] is not None or
       r["train_accuracy"] is None for r in recs):
    fail("--val 0: %r" % recs)
check_devices(recs)
print("--metrics-every 0 --val 0: three epoch records, no validation figures")

# Usage errors.
for args, msg in (
        (["--epochs", "0", "--load", "x.hgp", "--test", csv, "--metrics", m0],
         "--epochs 0 trains nothing, so --metrics is not used"),
        (["--metrics-every", "5"], "--metrics-every sets how often --metrics FILE is written: "
                                   "it needs --metrics FILE"),
        (["--metrics", m0, "--metrics-every", "-1"], "option --metrics-every: '-1'"),
        (["--metrics", m0, "--metrics-every", "x"], "option --metrics-every: 'x' is not")):
    p = run(args, rc=2)
    if msg not in p.stderr:
        fail("%r: stderr %r lacks %r" % (args, p.stderr, msg))
print("usage errors: exit 2")

# A path that cannot be created: exit 1 at once, naming it, before the devices are set up.
bad = os.path.join(WORK, "no-such-dir", "m.jsonl")
p = run(DEV + ["--metrics", bad], rc=1)
if p.stderr != "hetgrad-train: %s: No such file or directory\n" % bad or "set-up" in p.stdout:
    fail("--metrics %s: stdout %r stderr %r" % (bad, p.stdout, p.stderr))
print("an impossible path: exit 1 before any work")

# A full disk: the run trains and saves, then exits 1 naming the file.
saved = os.path.join(WORK, "full.hgp")
if os.path.exists(saved):
    os.unlink(saved)
p = run(DEV + ["--epochs", "1", "--metrics", "/dev/full", "--save", saved, "-q"], rc=1)
if p.stderr != "hetgrad-train: /dev/full: write failed: No space left on device\n" or \
        not os.path.exists(saved):
    fail("--metrics /dev/full: stderr %r, saved %r" % (p.stderr, os.path.exists(saved)))
print("a full disk: trained and saved, then exit 1 naming the file")
