#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""train_resume_check.py TRAIN WORKDIR - checkpoints, resuming, early stopping and
learning-rate schedules of hetgrad-train (docs/train.md, docs/checkpoint.md).

A run killed after its second epoch and resumed from its checkpoint must end with the
bits of the uninterrupted run (deterministic mode); damaged or mismatched checkpoints
are refused; --patience stops by its rule; schedules change the run and are checked.
Standard library only.
"""
import json
import os
import struct
import subprocess
import sys

import lsan_rerun  # tests/lsan_rerun.py: LeakSanitizer's tracer crash

TRAIN, WORK = sys.argv[1], sys.argv[2]


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def run(args, rc=0, env=None):
    p = lsan_rerun.run([TRAIN] + args, capture_output=True, text=True, timeout=600,
                       env=dict(os.environ, **(env or {})))
    if p.returncode != rc:
        fail("%s exited %d (wanted %d)\n%s\n%s" % (args, p.returncode, rc, p.stdout, p.stderr))
    return p


def summary(args):
    return json.loads(run(["--json"] + args).stdout)


os.makedirs(WORK, exist_ok=True)
P = lambda name: os.path.join(WORK, name)
for f in os.listdir(WORK):
    os.unlink(P(f))

# ---- resume: the bits of the uninterrupted run ---------------------------------------
# 1438 training rows in batches of 128: 12 steps an epoch, so step 25 is the first of
# epoch 3.  The test hook ends the process there (as a kill would), after the checkpoint
# of epoch 2 was written.
for name, extra in (("adam+cosine", ["--lr-schedule", "cosine"]),
                    ("sgd+step+l2", ["--optimizer", "sgd", "--lr-schedule", "step:1:0.5",
                                     "--l2", "0.001"]),
                    ("mlp", ["--model", "mlp", "--hidden", "16"])):
    base = ["--deterministic", "--seed", "7", "--epochs", "4"] + extra
    full = summary(base + ["--save", P("full.hgp")])
    run(["--quiet", "--checkpoint", P("ck.hgc")] + base, rc=3,
        env={"HG_TEST_MPI_EXIT_AT_STEP": "25"})
    ck = open(P("ck.hgc"), "rb").read()
    if ck[:8] != b"HGPARAM3":
        fail("%s: the checkpoint is not version 3: %r" % (name, ck[:8]))
    res = summary(base + ["--resume", P("ck.hgc"), "--save", P("resumed.hgp")])
    if res["param_hash"] != full["param_hash"] or \
            open(P("resumed.hgp"), "rb").read() != open(P("full.hgp"), "rb").read():
        fail("%s: resumed run ends at %s, the uninterrupted one at %s"
             % (name, res["param_hash"], full["param_hash"]))
    if res["epochs_done"] != 4 or res["val_loss"] != full["val_loss"]:
        fail("%s: resumed summary differs: %s vs %s" % (name, res, full))
    print("resume (%s): same bits as the uninterrupted run (%s)" % (name, full["param_hash"]))

# LIBSVM kept sparse (CSR rows, docs/sparse.md): a 2-epoch checkpoint continued to 4
# epochs ends with the bits of the 4-epoch run; a file of another row count is refused.
def write_svm(path, rows, seed):
    state = seed
    with open(path, "w") as f:
        for r in range(rows):
            y = r % 3
            cols = {1 + 40 * y + r % 9}
            for _ in range(6):
                state = (state * 6364136223846793005 + 1442695040888963407) % 2 ** 64
                cols.add(1 + (state >> 33) % 200)
            f.write("%d %s\n" % (y, " ".join("%d:%s" % (c, "2" if (c - 1) // 40 == y
                                                             else "0.5") for c in sorted(cols))))
write_svm(P("sparse.svm"), 500, 3)
write_svm(P("sparse-other.svm"), 400, 5)
sp = ["--data", P("sparse.svm"), "--deterministic", "--seed", "7"]
full = summary(sp + ["--epochs", "4", "--save", P("sparse-full.hgp")])
if " sparse, " not in full["data"] or full["devices"][0]["kernel"] != "sparse csr":
    fail("LIBSVM data not trained sparse: %s, kernel %s" % (full["data"],
                                                          full["devices"][0]["kernel"]))
run(["--quiet", "--checkpoint", P("sparse.hgc"), "--epochs", "2"] + sp)
res = summary(sp + ["--epochs", "4", "--resume", P("sparse.hgc"), "--save",
                    P("sparse-resumed.hgp")])
if res["param_hash"] != full["param_hash"] or res["val_loss"] != full["val_loss"] or \
        open(P("sparse-resumed.hgp"), "rb").read() != open(P("sparse-full.hgp"), "rb").read():
    fail("sparse: resumed run ends at %s, the uninterrupted one at %s"
         % (res["param_hash"], full["param_hash"]))
p = run(["--data", P("sparse-other.svm"), "--deterministic", "--seed", "7", "--epochs", "4",
         "--resume", P("sparse.hgc")], rc=1)
if "500 rows" not in p.stderr:
    fail("sparse: resuming on another data set: %s" % p.stderr.strip())
print("resume (sparse LIBSVM): same bits as the uninterrupted run (%s)" % full["param_hash"])

# The checkpoint of the last epoch resumes to nothing; --epochs is the total.
base = ["--deterministic", "--seed", "7", "--epochs", "2"]
run(["--quiet", "--checkpoint", P("two.hgc")] + base)
p = run(base + ["--resume", P("two.hgc")], rc=1)
if "has done 2 epochs" not in p.stderr:
    fail("resuming a finished run: %s" % p.stderr.strip())
# 2 more epochs from a 2-epoch checkpoint: as a 4-epoch run with a checkpoint every 2.
# (no schedule: the rates of a constant schedule do not depend on --epochs)
a = summary(["--deterministic", "--seed", "7", "--epochs", "4"])
b = summary(["--deterministic", "--seed", "7", "--epochs", "4", "--resume", P("two.hgc")])
if a["param_hash"] != b["param_hash"]:
    fail("continuing a finished 2-epoch run to 4: %s vs %s" % (b["param_hash"], a["param_hash"]))
# --checkpoint-every 3 of 4 epochs: written at epoch 3 and at the end.
run(["--quiet", "--checkpoint", P("every.hgc"), "--checkpoint-every", "3", "--epochs", "4"],
    rc=3, env={"HG_TEST_MPI_EXIT_AT_STEP": "37"})
if not os.path.exists(P("every.hgc")):
    fail("--checkpoint-every 3: nothing written after epoch 3")
p = run(["--epochs", "4", "--resume", P("every.hgc")])
if "at epoch 3 of 4" not in p.stdout or "epoch   4/4" not in p.stdout:
    fail("--checkpoint-every 3: not resumed at epoch 3: %s" % p.stdout)
run(["--quiet", "--checkpoint", P("every2.hgc"), "--checkpoint-every", "3", "--epochs", "2"])
if not os.path.exists(P("every2.hgc")):
    fail("--checkpoint-every 3 of 2 epochs: the end of the run wrote no checkpoint")

# A checkpoint killed while it is written (the test hook stops the writer part-way)
# leaves the previous one whole, and it still resumes.
before = open(P("two.hgc"), "rb").read()
proc = subprocess.Popen([TRAIN, "--quiet", "--checkpoint", P("two.hgc")] + base,
                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                        env=dict(os.environ, HG_TEST_SAVE_HANG_AFTER="3000"))
line = proc.stderr.readline()
proc.kill()
proc.wait()
if "hanging after" not in line or open(P("two.hgc"), "rb").read() != before:
    fail("a checkpoint killed part-way damaged the previous one: %r" % line)
for f in os.listdir(WORK):
    if f.startswith(".two.hgc."):
        os.unlink(P(f))
print("--checkpoint: a killed write leaves the previous checkpoint whole")

# ---- what --resume refuses ---------------------------------------------------------------
ck = open(P("two.hgc"), "rb").read()
bad = P("bad.hgc")
cases = [("flipped", ck[:-100] + bytes([ck[-100] ^ 1]) + ck[-99:], "checksum"),
         ("truncated", ck[:len(ck) - 40], "truncated"),
         ("foreign", b"HGPARAM9" + ck[8:], "magic")]
for name, content, word in cases:
    open(bad, "wb").write(content)
    p = run(base[:-1] + ["4", "--resume", bad], rc=1)
    if word not in p.stderr or bad not in p.stderr:
        fail("%s checkpoint: unclear error: %s" % (name, p.stderr.strip()))
run(["--quiet", "--epochs", "1", "--save", P("params.hgp")])
for args, word in ((["--resume", P("params.hgp")], "no training state"),
                   (["--resume", P("two.hgc"), "--optimizer", "sgd"], "--optimizer adam"),
                   (["--resume", P("two.hgc"), "--model", "mlp"], "another model"),
                   (["--resume", P("two.hgc"), "--data", P("small.csv")], "rows")):
    if "--data" in args:
        with open(P("small.csv"), "w") as f:
            for i in range(50):
                f.write(",".join(["0.5"] * 64) + ",%d\n" % (i % 10))
    p = run(["--epochs", "4"] + args, rc=1)
    if word not in p.stderr:
        fail("%s: unclear error: %s" % (args, p.stderr.strip()))
# The checkpoint may be loaded as a parameter file (--load, --epochs 0).
with open(P("nine.csv"), "w") as f:
    f.write(",".join(["0.5"] * 64) + ",9\n")
ev = summary(["--epochs", "0", "--load", P("two.hgc"), "--test", P("nine.csv")])
if ev["param_hash"] != summary(base)["param_hash"]:
    fail("--load of a checkpoint: other parameters than the run that wrote it")
# Usage errors (exit 2).
for args, word in ((["--load", P("params.hgp"), "--resume", P("two.hgc")], "--resume"),
                   (["--patience", "2", "--val", "0", "--test", P("nine.csv")], "--patience"),
                   (["--epochs", "0", "--load", P("params.hgp"), "--test", P("nine.csv"),
                     "--checkpoint", P("x.hgc")], "--checkpoint"),
                   (["--checkpoint", "/dev/full"], "/dev/full"),
                   (["--checkpoint-every", "0"], "--checkpoint-every"),
                   (["--lr-schedule", "linear"], "--lr-schedule"),
                   (["--lr-schedule", "step:0:0.5"], "--lr-schedule"),
                   (["--lr-schedule", "step:2:1.5"], "--lr-schedule"),
                   (["--lr-schedule", "step:2"], "--lr-schedule")):
    p = run(args, rc=2)
    if word not in p.stderr:
        fail("%s: unclear usage error: %s" % (args, p.stderr.strip()))
print("--resume: damaged, foreign and mismatched checkpoints refused")

# ---- early stopping ------------------------------------------------------------------------
# A high learning rate makes the validation loss go up and down; the run must stop at the
# first epoch that ends PATIENCE epochs without a new lowest loss, and not before.
def val_losses(stdout):
    return [float(line.split("val loss")[1].split()[0]) for line in stdout.splitlines()
            if line.startswith("epoch ")]

patience = 2
p = run(["--epochs", "60", "--lr", "1", "--patience", str(patience), "--seed", "3"])
losses = val_losses(p.stdout)
best, since, stop = float("inf"), 0, None
for i, v in enumerate(losses):
    if v < best:
        best, since = v, 0
    else:
        since += 1
    if since >= patience:
        stop = i + 1
        break
if stop is None or stop >= 60:
    fail("--patience %d: the validation loss never stalled in %d epochs: %s"
         % (patience, len(losses), losses))
if len(losses) != stop or "early stop after epoch %d" % stop not in p.stdout:
    fail("--patience %d: ran %d epochs, the rule stops after %d: %s"
         % (patience, len(losses), stop, losses))
doc = summary(["--epochs", "60", "--lr", "1", "--patience", str(patience), "--seed", "3"])
if not doc["stopped_early"] or doc["epochs_done"] != stop or doc["epochs"] != 60:
    fail("--patience: JSON summary %s" % doc)
print("--patience %d: stopped after epoch %d of 60 (val losses %s)"
      % (patience, stop, ", ".join("%.3f" % v for v in losses)))

# ---- learning-rate schedules -----------------------------------------------------------------
# step:1:GAMMA with GAMMA = 1 is the constant schedule; a decay changes the run; SGD
# without momentum and a rate halved every epoch moves the parameters less and less.
common = ["--deterministic", "--epochs", "3", "--seed", "5"]
const = summary(common)["param_hash"]
if summary(common + ["--lr-schedule", "step:1:1"])["param_hash"] != const or \
        summary(common + ["--lr-schedule", "constant"])["param_hash"] != const:
    fail("step:1:1 or constant differs from no schedule")
for s in ("cosine", "step:1:0.5", "step:2:0.1"):
    if summary(common + ["--lr-schedule", s])["param_hash"] == const:
        fail("--lr-schedule %s changed nothing" % s)
print("learning-rate schedules: ok")
print("ok")
