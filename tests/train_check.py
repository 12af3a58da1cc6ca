#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""train_check.py TRAIN WORKDIR - tests of hetgrad-train on the built-in digits.

Trains with --json and checks the accuracy; saves, reloads and damages the
parameter file; checks bad arguments; reads test files with the training data's
classes and features; evaluates a saved model alone (--epochs 0); kills a save
part-way.  Standard library only.
"""
import json
import os
import subprocess
import sys

import lsan_rerun  # tests/lsan_rerun.py: LeakSanitizer's tracer crash

TRAIN, WORK = sys.argv[1], sys.argv[2]


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def run(args, rc=0):
    p = lsan_rerun.run([TRAIN] + args, capture_output=True, text=True, timeout=600)
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
                            ("class flipped", data[:30] + bytes([data[30] ^ 1]) + data[31:], "checksum"),
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

# LIBSVM stays sparse (CSR rows, the sparse kernel) unless --dense; both learn alike.
sparse = json.loads(run(common + runs["libsvm"]).stdout)
dense = json.loads(run(common + runs["libsvm"] + ["--dense"]).stdout)
if " sparse, " not in sparse["data"] or " sparse, " in dense["data"]:
    fail("LIBSVM data: %r by default, %r with --dense" % (sparse["data"], dense["data"]))
if sparse["devices"][0]["kernel"] != "sparse csr" or dense["devices"][0]["kernel"] == "sparse csr":
    fail("kernels: %r sparse, %r dense" % (sparse["devices"][0]["kernel"],
                                          dense["devices"][0]["kernel"]))
if abs(sparse["test_accuracy"] - dense["test_accuracy"]) > 0.02:
    fail("LIBSVM test accuracy: %.3f sparse, %.3f --dense" % (sparse["test_accuracy"],
                                                            dense["test_accuracy"]))
print("LIBSVM sparse %.3f, --dense %.3f" % (sparse["test_accuracy"], dense["test_accuracy"]))

# Malformed files stop with the file, the line and the problem; never a crash.
bad_cases = [
    ("columns.csv", "1,2,3\n1,2\n", "2", "column"),
    ("text.csv", "1,2,3\n1,two,3\n", "2", "two"),
    ("nan.csv", "1,2,3\n1,nan,3\n", "2", "NaN"),
    ("label.csv", "1,2,-3\n", "1", "label"),
    ("empty.csv", "", "", "empty"),
    ("binary.csv", "\x00\x01\x02binary\xff\xfe", "", "binary"),
    ("hex.csv", "1,2,3\n1,0x1p3,3\n", "2", "0x1p3"),             # strtod's hex floats
    ("infinity.csv", "1,2,3\n1,-Infinity,3\n", "2", "-Infinity"),
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
p = run(["--model", "linear", "--data", P("reg.csv"), "--epochs", "1"])
if "1 classes" in p.stdout or "one target" not in p.stdout:
    fail("linear regression's banner: %s" % p.stdout.splitlines()[0])

# ---- test files are read with the training data's classes and features ----------------
# A LIBSVM test file without class 0 used to re-rank its labels (accuracy near 0%); it
# must score as the same rows in CSV do.
no0 = [r for r in test_rows if r[0] != 0]
write_csv(P("test-no0.csv"), no0, True)
write_svm(P("test-no0.svm"), no0)
base = ["--json", "--epochs", "10", "--val", "0", "--quiet"]
a_csv = json.loads(run(base + ["--data", P("train.csv"), "--header", "--label-col", "0",
                               "--test", P("test-no0.csv")]).stdout)["test_accuracy"]
a_svm = json.loads(run(base + ["--data", P("train.svm"), "--test", P("test-no0.svm")]).stdout)["test_accuracy"]
if a_csv < 0.9 or abs(a_svm - a_csv) > 1e-9:
    fail("a test file without class 0: CSV %.3f, LIBSVM %.3f" % (a_csv, a_svm))
print("test file without class 0: CSV %.3f, LIBSVM %.3f" % (a_csv, a_svm))

# A LIBSVM test file whose largest index is below the training file's is read with the
# training width; one above it is refused with its line.
with open(P("narrow.svm"), "w") as f:
    f.write("1 1:0.5 2:3\n2 3:3\n0 1:3\n")
narrow = json.loads(run(base + ["--data", P("train.svm"), "--test", P("narrow.svm")]).stdout)
if narrow["test_accuracy"] is None:
    fail("narrow LIBSVM test file: %s" % narrow)
with open(P("wide.svm"), "w") as f:
    f.write("1 1:0.5\n2 7:3\n")
p = run(["--data", P("train.svm"), "--test", P("wide.svm"), "--val", "0", "--epochs", "1"], rc=1)
if P("wide.svm") + ":2:" not in p.stderr or "above the 6 features of " + P("train.svm") not in p.stderr:
    fail("LIBSVM test index above the training features: %s" % p.stderr.strip())

# A test label the training never saw is an error naming the file, the line and the
# label (it used to add an output to the model); with --load too, where it was reported
# as "another model".
with open(P("unseen.csv"), "w") as f:
    f.write("label,f0,f1,f2,f3,f4,f5\n0,1,2,3,4,5,6\n3,1,2,3,4,5,6\n")
p = run(["--data", P("train.csv"), "--header", "--label-col", "0", "--test", P("unseen.csv"),
         "--val", "0", "--epochs", "1"], rc=1)
if P("unseen.csv") + ":3:" not in p.stderr or "label 3 is not one of the 3 classes" not in p.stderr:
    fail("unseen CSV test label: %s" % p.stderr.strip())
with open(P("unseen.svm"), "w") as f:
    f.write("0 1:1\n1 2:1\n\n3 3:1\n")
p = run(["--data", P("train.svm"), "--test", P("unseen.svm"), "--val", "0", "--epochs", "1"], rc=1)
if P("unseen.svm") + ":4:" not in p.stderr or "label 3 is not one of the 3 classes" not in p.stderr:
    fail("unseen LIBSVM test label: %s" % p.stderr.strip())
with open(P("ten.csv"), "w") as f:
    for c in (3, 9, 10):
        f.write(",".join(["0.5"] * 64) + ",%d\n" % c)
for epochs in ("1", "0"):
    p = run(["--load", params, "--test", P("ten.csv"), "--epochs", epochs], rc=1)
    if P("ten.csv") + ":3:" not in p.stderr or "label 10 is not one of the 10 classes" not in p.stderr \
            or "another model" in p.stderr:
        fail("--load, --epochs %s, test label 10: %s" % (epochs, p.stderr.strip()))
print("test files: training classes and features")

# ---- evaluate only: --epochs 0 --load F --test T -----------------------------------------
# The same numbers as the training run that saved F reported for T: the training run
# evaluates T on the host in double, --epochs 0 on the devices in float (hg_engine_evaluate),
# so the losses agree to a relative 1e-5.
saved = P("eval.hgp")
trained = json.loads(run(base + ["--data", P("train.csv"), "--header", "--label-col", "0",
                                 "--test", P("test.csv"), "--save", saved]).stdout)
ev = json.loads(run(["--json", "--epochs", "0", "--load", saved, "--header", "--label-col", "0",
                     "--test", P("test.csv")]).stdout)
if ev["epochs"] != 0 or ev["test_accuracy"] != trained["test_accuracy"] or \
        abs(ev["test_loss"] - trained["test_loss"]) > 1e-5 * abs(trained["test_loss"]) or \
        ev["param_hash"] != trained["param_hash"]:
    fail("evaluate-only differs from the training run: %s vs %s" % (ev, trained))
p = run(["--epochs", "0", "--load", saved, "--header", "--label-col", "0", "--test", P("test.csv")])
if "test (%s): accuracy %.1f%%" % (P("test.csv"), 100 * trained["test_accuracy"]) not in p.stdout:
    fail("evaluate-only prints no result: %s" % p.stdout)
# The file records its classes: LIBSVM labels -1, 5, 9 map back without the training file,
# also for a test file lacking one of them.
relabel = {0: -1, 1: 5, 2: 9}
write_svm(P("pm-train.svm"), [(relabel[c], f) for c, f in train_rows])
write_svm(P("pm-test.svm"), [(relabel[c], f) for c, f in no0])
trained = json.loads(run(base + ["--data", P("pm-train.svm"), "--test", P("pm-test.svm"),
                                 "--save", saved]).stdout)
ev = json.loads(run(["--json", "--epochs", "0", "--load", saved, "--test", P("pm-test.svm")]).stdout)
if trained["test_accuracy"] < 0.9 or ev["test_accuracy"] != trained["test_accuracy"]:
    fail("LIBSVM classes -1, 5, 9 after --load: %s vs %s" % (ev["test_accuracy"], trained["test_accuracy"]))
# An MLP: the file says its layers; --model/--hidden, when given, must agree.
run(["--quiet", "--model", "mlp", "--hidden", "8", "--epochs", "1", "--save", saved])
run(["--epochs", "0", "--load", saved, "--test", P("ten.csv")], rc=1)  # label 10, not the model
with open(P("digits9.csv"), "w") as f:
    f.write(",".join(["0.5"] * 64) + ",9\n")
run(["--epochs", "0", "--load", saved, "--test", P("digits9.csv")])
run(["--epochs", "0", "--load", saved, "--test", P("digits9.csv"), "--model", "mlp", "--hidden", "8"])
p = run(["--epochs", "0", "--load", saved, "--test", P("digits9.csv"), "--hidden", "9"], rc=1)
if "another model" not in p.stderr or "hidden 8" not in p.stderr:
    fail("evaluate-only with another --hidden: %s" % p.stderr.strip())
# Version 1 files (no class table, checksum over the parameters only) are still read.
raw = open(params, "rb").read()
if raw[:8] != b"HGPARAM2" or struct.unpack("<I", raw[24:28])[0] != 10:
    fail("--save did not write version 2 with 10 classes")
payload = raw[76:-8]  # the 650 floats after the 10 class labels and the count
h = 0xcbf29ce484222325
for byte in payload:
    h = ((h ^ byte) * 0x100000001b3) & 0xffffffffffffffff
v1 = P("v1.hgp")
open(v1, "wb").write(b"HGPARAM1" + raw[8:24] + raw[68:76] + payload + struct.pack("<Q", h))
e1, e2 = (json.loads(run(["--json", "--epochs", "0", "--load", f, "--test", P("digits9.csv")]).stdout)
          for f in (v1, params))
if e1["test_loss"] != e2["test_loss"] or e1["param_hash"] != e2["param_hash"]:
    fail("version 1 file: %s vs %s" % (e1, e2))
for args, word in ((["--epochs", "0", "--test", P("digits9.csv")], "--load"),
                   (["--epochs", "0", "--load", saved], "--test"),
                   (["--epochs", "0", "--load", saved, "--test", P("digits9.csv"), "--data",
                     P("train.csv")], "--data")):
    p = run(args, rc=2)
    if word not in p.stderr:
        fail("%s: unclear usage error: %s" % (args, p.stderr.strip()))
print("evaluate only (--epochs 0): ok")

# ---- --save: checked before training, replaced atomically -----------------------------
# A device or a directory that cannot take a new file fails at once (exit 2), not after
# the training.
for target in ("/dev/full", WORK):
    p = run(["--save", target], rc=2)
    if target not in p.stderr or "epoch" in p.stdout or "set-up" in p.stdout:
        fail("--save %s: not refused before training: %s %s" % (target, p.stdout, p.stderr))
ro = P("read-only")
os.makedirs(ro, exist_ok=True)
os.chmod(ro, 0o555)
drop = None
if os.geteuid() == 0:  # root writes anywhere: run as nobody
    def drop():
        os.setgid(65534)
        os.setuid(65534)
def save_refused(directory, preexec):
    p = lsan_rerun.run([TRAIN, "--save", os.path.join(directory, "x.hgp")],
                       capture_output=True, text=True, timeout=600, preexec_fn=preexec)
    if (p.returncode != 2 or directory not in p.stderr or "epoch" in p.stdout
            or "set-up" in p.stdout):
        fail("--save into %s: exit %d: %s %s" % (directory, p.returncode, p.stdout, p.stderr))
try:
    save_refused(ro, drop)
except PermissionError:
    # root, with the build where nobody cannot reach it (a clone in root's home, mode
    # 700 on Debian): a directory in which no user can create a file instead
    save_refused("/proc", None)
    print("--save into a read-only directory: /proc (nobody cannot run %s)" % TRAIN)
# Killed while writing (a test hook stops the writer part-way), the previous file is intact.
atomic = P("atomic.hgp")
for leftover in os.listdir(WORK):
    if leftover.startswith(".atomic.hgp."):
        os.unlink(P(leftover))
run(["--quiet", "--epochs", "1", "--save", atomic])
before = open(atomic, "rb").read()
proc = subprocess.Popen([TRAIN, "--quiet", "--epochs", "3", "--save", atomic],
                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                        env=dict(os.environ, HG_TEST_SAVE_HANG_AFTER="1000"))
line = proc.stderr.readline()
mid = open(atomic, "rb").read()
proc.kill()
proc.wait()
after = open(atomic, "rb").read()
if "hanging after" not in line:
    fail("the save was not stopped part-way: %r" % line)
if mid != before or after != before:
    fail("a killed save damaged the previous file: %d bytes before, %d during, %d after"
         % (len(before), len(mid), len(after)))
temps = [f for f in os.listdir(WORK) if f.startswith(".atomic.hgp.")]
if not temps:
    fail("no temporary file beside the target: was the save written in place?")
for f in temps:
    os.unlink(P(f))
run(["--quiet", "--epochs", "3", "--save", atomic])
if open(atomic, "rb").read() == before:
    fail("a later save did not replace the file")
run(["--quiet", "--epochs", "1", "--load", atomic])
print("--save: checked first, atomic")

# ---- smaller defects ----------------------------------------------------------------------
p = run(["--data", P("train.csv"), "--header", "--label-col", "0", "--test", P("test.csv"),
         "--val", "0", "--epochs", "2"])
if "nan" in p.stdout.lower():
    fail("--val 0 prints nan: %s" % p.stdout)
for args in (["--data", P("train-images.idx"), "--format", "idx"],
             ["--data", P("train-images.idx"), "--labels", P("train-labels.idx"),
              "--test", P("test-images.idx")],
             ["--data", P("train.csv"), "--format", "arff"]):
    p = run(args, rc=2)
    if "--labels" not in p.stderr and "--test-labels" not in p.stderr and "--format" not in p.stderr:
        fail("%s: %s" % (args, p.stderr.strip()))
p = run(["--devices", "nonsense", "--epochs", "1"], rc=1)
if "--devices" not in p.stderr or "hg_options" in p.stderr:
    fail("--devices nonsense: %s" % p.stderr.strip())
open(bad, "wb").write(data[:13])
p = run(["--load", bad, "--epochs", "1"], rc=1)
if "truncated" not in p.stderr or "another model" in p.stderr:
    fail("13-byte parameter file: %s" % p.stderr.strip())
with open(P("two.csv"), "w") as f:
    f.write("1,2,0\n3,4,1\n")
p = run(["--data", P("two.csv"), "--epochs", "1"], rc=1)
if P("two.csv") not in p.stderr or "--val 0" not in p.stderr:
    fail("a 2-row file: %s" % p.stderr.strip())
print("ok")
