#!/usr/bin/env python3
"""train_check.py TRAIN WORKDIR - tests of hetgrad-train on the built-in digits.

Trains with --json and checks the accuracy; saves, reloads and damages the
parameter file; checks bad arguments.  Standard library only.
"""
import json
import os
import subprocess
import sys

TRAIN, WORK = sys.argv[1], sys.argv[2]


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def run(args, rc=0):
    p = subprocess.run([TRAIN] + args, capture_output=True, text=True, timeout=600)
    if p.returncode != rc:
        fail("%s exited %d (wanted %d)\n%s\n%s" % (args, p.returncode, rc, p.stdout, p.stderr))
    return p


os.makedirs(WORK, exist_ok=True)
params = os.path.join(WORK, "digits.hgp")
doc = json.loads(run(["--json", "--save", params]).stdout)
print("default run: val accuracy %.3f, val loss %.4f" % (doc["val_accuracy"], doc["val_loss"]))
if doc["val_accuracy"] < 0.93:
    fail("the default run reached only %.3f validation accuracy" % doc["val_accuracy"])
if not doc["devices"] or abs(sum(d["share_last_epoch"] for d in doc["devices"]) - 1) > 1e-9:
    fail("device shares do not add up: %s" % doc["devices"])

# Same seed, same devices: the same validation split and a close result.
again = json.loads(run(["--json"]).stdout)
if abs(again["val_accuracy"] - doc["val_accuracy"]) > 0.02:
    fail("two runs with the same seed differ: %s vs %s" % (again["val_accuracy"], doc["val_accuracy"]))

# Reload the trained parameters: one more epoch starts from where it was.
cont = json.loads(run(["--json", "--load", params, "--epochs", "1"]).stdout)
if cont["val_accuracy"] < doc["val_accuracy"] - 0.03:
    fail("reloaded parameters lost accuracy: %s" % cont["val_accuracy"])

# A damaged, truncated or foreign parameter file is refused with a clear message.
data = open(params, "rb").read()
bad = os.path.join(WORK, "bad.hgp")
for name, content, word in [("flipped", data[:100] + bytes([data[100] ^ 0x55]) + data[101:], "checksum"),
                            ("truncated", data[: len(data) // 2], "truncated"),
                            ("foreign", b"not a parameter file at all", "magic"),
                            ("empty", b"", "magic")]:
    open(bad, "wb").write(content)
    p = run(["--load", bad, "--epochs", "1"], rc=1)
    if word not in p.stderr or bad not in p.stderr:
        fail("%s file: unclear error: %s" % (name, p.stderr))
p = run(["--load", params, "--model", "mlp", "--epochs", "1"], rc=1)
if "another model" not in p.stderr:
    fail("loading softmax parameters into an MLP: %s" % p.stderr)
p = run(["--load", os.path.join(WORK, "missing.hgp")], rc=1)

# Bad arguments: usage errors, exit 2.
for args in (["--epochs", "0"], ["--lr", "-1"], ["--model", "tree"], ["--hidden", "12,,4"],
             ["--val", "1.5"], ["--frobnicate"], ["--epochs"]):
    run(args, rc=2)

# The MLP trains too.
mlp = json.loads(run(["--json", "--model", "mlp", "--hidden", "32", "--epochs", "15"]).stdout)
if mlp["val_accuracy"] < 0.9:
    fail("MLP reached only %.3f" % mlp["val_accuracy"])
print("MLP: val accuracy %.3f" % mlp["val_accuracy"])
print("ok")
