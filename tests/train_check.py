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

# --trace: a Chrome / Perfetto trace-event file with a track per device.
trace_path = os.path.join(WORK, "trace.json")
run(["--epochs", "2", "--quiet", "--trace", trace_path])
tr = json.load(open(trace_path))
ev = tr["traceEvents"]
names = {e["name"] for e in ev}
tracks = [e for e in ev if e["ph"] == "M" and e["name"] == "thread_name"]
for want in ("gradient", "host reduction", "optimiser update", "rebalance", "step 1"):
    if want not in names:
        fail("trace lacks %r events: %s" % (want, sorted(names)[:10]))
if len(tracks) < 2:
    fail("trace has no device track")
for e in ev:
    if e["ph"] == "X" and (e["dur"] < 0 or e["ts"] < 0):
        fail("trace event with negative time: %s" % e)
print("trace: %d events, %d tracks" % (len(ev), len(tracks)))

# On a terminal: a progress bar with rows/s, ETA and shares.
import pty
master, slave = pty.openpty()
p = subprocess.Popen([TRAIN, "--epochs", "2"], stdout=slave, stderr=slave)
os.close(slave)
out = b""
while True:
    try:
        chunk = os.read(master, 4096)
    except OSError:
        break
    if not chunk:
        break
    out += chunk
p.wait()
os.close(master)
text = out.decode("utf-8", "replace")
if p.returncode != 0 or "ETA" not in text or "rows/s" not in text or "\r" not in text:
    fail("no progress bar on a terminal: %r" % text[-300:])
print("progress bar on a terminal: ok")

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

# Real file formats: the same synthetic data as CSV, LIBSVM and IDX (raw and gzip).
import gzip
import random
import struct

rng = random.Random(7)
rows = []
for i in range(600):
    c = i % 3
    feats = [rng.gauss(0, 1) + (3.0 if j == c else 0) for j in range(6)]
    rows.append((c, feats))
train_rows, test_rows = rows[:480], rows[480:]


def write_csv(path, data, header):
    with open(path, "w") as f:
        if header:
            f.write("label," + ",".join("f%d" % j for j in range(6)) + "\n")
        for c, feats in data:
            f.write("%d,%s\n" % (c, ",".join("%.6f" % v for v in feats)))


def write_svm(path, data):
    with open(path, "w") as f:
        for c, feats in data:
            f.write("%d %s\n" % (c, " ".join("%d:%.6f" % (j + 1, v) for j, v in enumerate(feats) if v != 0)))


def write_idx(images, labels, data, gz):
    opener = gzip.open if gz else open
    with opener(images, "wb") as f:
        f.write(struct.pack(">IIII", 0x803, len(data), 2, 3))
        f.write(bytes(min(255, max(0, int((v + 3) * 40))) for _, feats in data for v in feats))
    with opener(labels, "wb") as f:
        f.write(struct.pack(">II", 0x801, len(data)))
        f.write(bytes(c for c, _ in data))


P = lambda name: os.path.join(WORK, name)
write_csv(P("train.csv"), train_rows, True)
write_csv(P("test.csv"), test_rows, True)
write_svm(P("train.svm"), train_rows)
write_svm(P("test.svm"), test_rows)
for gz in (False, True):
    sfx = ".gz" if gz else ""
    write_idx(P("train-images.idx" + sfx), P("train-labels.idx" + sfx), train_rows, gz)
    write_idx(P("test-images.idx" + sfx), P("test-labels.idx" + sfx), test_rows, gz)

common = ["--json", "--epochs", "30", "--val", "0"]
runs = {
    "csv": ["--data", P("train.csv"), "--header", "--label-col", "0", "--test", P("test.csv")],
    "libsvm": ["--data", P("train.svm"), "--test", P("test.svm")],
    "idx": ["--data", P("train-images.idx"), "--labels", P("train-labels.idx"),
            "--test", P("test-images.idx"), "--test-labels", P("test-labels.idx")],
    "idx.gz": ["--data", P("train-images.idx.gz"), "--labels", P("train-labels.idx.gz"),
               "--test", P("test-images.idx.gz"), "--test-labels", P("test-labels.idx.gz")],
}
acc = {}
for name, args in runs.items():
    r = json.loads(run(common + args).stdout)
    acc[name] = r["test_accuracy"]
    if r["test_accuracy"] < 0.9:
        fail("%s: test accuracy %.3f" % (name, r["test_accuracy"]))
print("file formats, test accuracy: %s" % acc)
if abs(acc["idx"] - acc["idx.gz"]) > 1e-9:
    fail("IDX raw and gzip differ")

# Malformed files stop with the file, the line and the problem; never a crash.
bad_cases = [
    ("columns.csv", "1,2,3\n1,2\n", "2", "column"),
    ("text.csv", "1,2,3\n1,two,3\n", "2", "two"),
    ("nan.csv", "1,2,3\n1,nan,3\n", "2", "NaN"),
    ("label.csv", "1,2,-3\n", "1", "label"),
    ("empty.csv", "", "", "empty"),
    ("binary.csv", "\x00\x01\x02binary\xff\xfe", "", "binary"),
]
for name, content, line, word in bad_cases:
    path = P(name)
    with open(path, "wb") as f:
        f.write(content.encode("latin-1"))
    p = run(["--data", path, "--epochs", "1"], rc=1)
    if path not in p.stderr or word.lower() not in p.stderr.lower() or (line and (":%s:" % line) not in p.stderr):
        fail("%s: unclear error: %s" % (name, p.stderr.strip()))
with open(P("lying.idx"), "wb") as f:
    f.write(struct.pack(">IIII", 0x803, 1000, 2, 3) + bytes(60))
p = run(["--data", P("lying.idx"), "--labels", P("train-labels.idx"), "--epochs", "1"], rc=1)
if "lying.idx" not in p.stderr or "offset" not in p.stderr:
    fail("lying IDX header: unclear error: %s" % p.stderr.strip())
print("malformed files: clear errors")

# Linear regression on float targets: y = 2 x0 - x1 + 0.5 + noise.
with open(P("reg.csv"), "w") as f:
    for i in range(500):
        x0, x1 = rng.uniform(-1, 1), rng.uniform(-1, 1)
        f.write("%.6f,%.6f,%.6f\n" % (x0, x1, 2 * x0 - x1 + 0.5 + rng.gauss(0, 0.05)))
lin = json.loads(run(["--json", "--model", "linear", "--data", P("reg.csv"), "--epochs", "40",
                      "--lr", "0.02"]).stdout)
print("linear: val loss %.5f" % lin["val_loss"])
if not lin["val_loss"] < 0.01:
    fail("linear regression did not fit: val loss %s" % lin["val_loss"])
print("ok")
