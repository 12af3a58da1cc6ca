#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""predict_check.py TRAIN WORKDIR - hetgrad-train's predictions against numpy.

For a softmax model, an MLP and linear regression on small CSV files:
  - a training run with --save M --predict P --out A writes predictions that
    equal a numpy forward pass (float64) of the parameters in M, read with
    numpy from the documented file format (docs/train.md), within 1e-5:
    probabilities (absolute), values (relative to the largest), and the class
    (a most probable one, as the label value the training file uses);
  - --epochs 0 --load M --predict P --out B gives the same predictions, and
    --test T --json the mean loss (relative 1e-5) and the accuracy of numpy's
    forward pass over T;
  - the file to predict may hold any number in its label column (-1 here, not a
    class); the CSV header names the classes; --predict without --out, and --epochs 0
    without --test or --predict, are usage errors (exit 2), and a failed run
    leaves no PRED.csv behind.
Needs numpy (Debian's python3-numpy, installed by scripts/setup.sh).
"""
import json
import os
import random
import struct
import subprocess
import sys

import numpy as np

import lsan_rerun  # tests/lsan_rerun.py: LeakSanitizer's tracer crash

TRAIN, WORK = sys.argv[1:3]
os.makedirs(WORK, exist_ok=True)
TOL = 1e-5


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def run(args, want=0):
    p = lsan_rerun.run([TRAIN] + args, capture_output=True, text=True, timeout=600)
    if p.returncode != want:
        fail("%s exited %d, expected %d:\n%s%s" % (" ".join(args), p.returncode, want,
                                                   p.stdout, p.stderr))
    return p.stdout


def write_csv(path, rows, linear, seed, placeholder=None):
    """placeholder: the label column's text on every row (a file to predict)."""
    rnd = random.Random(seed)
    with open(path, "w") as f:
        for r in range(rows):
            c = r % 3
            x = [rnd.uniform(-1, 1) + (1.5 if j == c else 0) for j in range(4)]
            y = "%.4f" % (0.7 * x[0] - 0.4 * x[2] + 0.1) if linear else str(2 * c + 1)
            y = placeholder if placeholder is not None else y
            f.write(",".join("%.4f" % v for v in x) + "," + y + "\n")


def read_csv_x(path):
    data = np.loadtxt(path, delimiter=",", ndmin=2)
    return data[:, :-1].astype(np.float32).astype(np.float64), data[:, -1]


def fnv1a64(b):
    h = 0xcbf29ce484222325
    for byte in b:
        h = ((h ^ byte) * 0x100000001b3) & 0xffffffffffffffff
    return h


def read_params(path):
    """The parameter file (docs/train.md, version 2), little-endian."""
    b = open(path, "rb").read()
    if b[:8] != b"HGPARAM2":
        fail("%s: magic %r" % (path, b[:8]))
    kind, inputs, outputs, nh = struct.unpack_from("<4I", b, 8)
    off = 24
    hidden = list(struct.unpack_from("<%dI" % nh, b, off))
    off += 4 * nh
    (k,) = struct.unpack_from("<I", b, off)
    off += 4
    classes = list(struct.unpack_from("<%di" % k, b, off))
    off += 4 * k
    (count,) = struct.unpack_from("<Q", b, off)
    off += 8
    params = np.frombuffer(b, dtype="<f4", count=count, offset=off).astype(np.float64)
    off += 4 * count
    (check,) = struct.unpack_from("<Q", b, off)
    if check != fnv1a64(b[:off]) or off + 8 != len(b):
        fail("%s: checksum or length" % path)
    return kind, inputs, outputs, hidden, classes, params


def forward(kind, inputs, outputs, hidden, params, x):
    """Outputs of model.h's layout: probabilities (softmax, MLP) or values."""
    widths = [inputs] + (hidden if kind == 3 else []) + [outputs]
    a, off = x, 0
    for l in range(len(widths) - 1):
        i, o = widths[l], widths[l + 1]
        w = params[off:off + i * o].reshape(i, o)
        bias = params[off + i * o:off + i * o + o]
        off += i * o + o
        a = a @ w + bias
        if l + 2 < len(widths):
            a = np.maximum(a, 0)
    if kind == 1:
        return a, None
    z = a - a.max(axis=1, keepdims=True)
    lse = np.log(np.exp(z).sum(axis=1, keepdims=True))
    return np.exp(z - lse), a


def read_pred(path, linear):
    with open(path) as f:
        header = f.readline().strip().split(",")
    data = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    if linear:
        if header != ["value"]:
            fail("%s: header %s" % (path, header))
        return None, data, header
    if header[0] != "class":
        fail("%s: header %s" % (path, header))
    return data[:, 0].astype(int), data[:, 1:], header


def check(name, model_args, linear):
    d = os.path.join(WORK, name)
    os.makedirs(d, exist_ok=True)
    train, test, new = (os.path.join(d, f) for f in ("train.csv", "test.csv", "new.csv"))
    write_csv(train, 240, linear, 1)
    write_csv(test, 60, linear, 2)
    write_csv(new, 45, linear, 3, "-1")  # not a class: the column is not read
    m, a, b = (os.path.join(d, f) for f in ("m.hgp", "a.csv", "b.csv"))
    run(model_args + ["--data", train, "--epochs", "3", "--save", m, "--predict", new,
                      "--out", a, "--quiet"])
    kind, inputs, outputs, hidden, classes, params = read_params(m)
    x, _ = read_csv_x(new)
    ref, _ = forward(kind, inputs, outputs, hidden, params, x)
    for path in (a, b):
        if path == b:
            run(["--epochs", "0", "--load", m, "--predict", new, "--out", b])
        cls, out, header = read_pred(path, linear)
        if out.shape != ref.shape:
            fail("%s: %s: shape %s, numpy %s" % (name, path, out.shape, ref.shape))
        err = np.abs(out - ref).max()
        tol = TOL if not linear else TOL * np.abs(ref).max()
        if err > tol:
            fail("%s: %s: predictions off numpy by %.3g (tolerance %.3g)" % (name, path, err,
                                                                             tol))
        if not linear:
            if header[1:] != ["p_%d" % c for c in classes]:
                fail("%s: header %s, classes %s" % (name, header, classes))
            for r in range(len(cls)):
                k = classes.index(cls[r]) if cls[r] in classes else -1
                if k < 0 or ref[r, k] < ref[r].max() - TOL:
                    fail("%s: %s row %d: class %d, numpy probabilities %s" % (
                        name, path, r, cls[r], ref[r]))
        print("ok: %s: %s within %.2g of numpy" % (name, os.path.basename(path), err))
    if open(a).read() != open(b).read():
        # the same parameters through the same kernels: the same text
        fail("%s: predictions after training differ from those of --load" % name)

    # --test: loss and accuracy of numpy's forward pass
    s = json.loads(run(["--epochs", "0", "--load", m, "--test", test, "--json"]))
    xt, yt = read_csv_x(test)
    pt, zt = forward(kind, inputs, outputs, hidden, params, xt)
    if linear:
        e = pt[:, 0] - yt.astype(np.float32).astype(np.float64)
        loss = float(np.mean(0.5 * e * e))
        acc = float(np.mean(np.abs(e) < 0.5))
    else:
        idx = np.array([classes.index(int(v)) for v in yt])
        z = zt - zt.max(axis=1, keepdims=True)
        lse = np.log(np.exp(z).sum(axis=1))
        loss = float(np.mean(lse - z[np.arange(len(idx)), idx]))
        acc = float(np.mean(np.argmax(zt, axis=1) == idx))
    if abs(s["test_loss"] - loss) > TOL * abs(loss):
        fail("%s: test loss %.9g, numpy %.9g" % (name, s["test_loss"], loss))
    if abs(s["test_accuracy"] - acc) > 1.5 / len(yt):
        fail("%s: test accuracy %.6f, numpy %.6f" % (name, s["test_accuracy"], acc))
    print("ok: %s: test loss %.6f and accuracy %.4f as numpy's" % (name, loss, acc))


check("softmax", ["--model", "softmax"], False)
check("mlp", ["--model", "mlp", "--hidden", "8,5"], False)
check("linear", ["--model", "linear"], True)

# usage errors, and no file left by a failure
work_csv = os.path.join(WORK, "softmax", "new.csv")
m = os.path.join(WORK, "softmax", "m.hgp")
run(["--epochs", "0", "--load", m, "--predict", work_csv], want=2)
run(["--epochs", "0", "--load", m, "--out", os.path.join(WORK, "x.csv")], want=2)
run(["--epochs", "0", "--load", m], want=2)
bad = os.path.join(WORK, "bad.csv")
with open(bad, "w") as f:
    f.write("1,2,3,4,1\n1,2,3,1\n")
gone = os.path.join(WORK, "gone.csv")
run(["--epochs", "0", "--load", m, "--predict", bad, "--out", gone], want=1)
if os.path.exists(gone):
    fail("a failed --predict left %s behind" % gone)
print("ok: usage errors and failures")
