#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""data_check.py LIBRARY TRAIN WORKDIR - the data loaders against files that numpy and
Python's gzip module write, through the library (ctypes) and hetgrad-train.

  - .npy: X in float32/float64, C and Fortran order, little- and big-endian, and y in
    every integer width, signed and unsigned, and bool, written by np.save, load to
    exactly X.astype(np.float32) and y; gzip-compressed .npy too;
  - malformed .npy files (np.save output damaged, or numpy arrays numpy can write but
    hetgrad does not read) are errors naming the file, the byte offset and the problem;
  - CSV and LIBSVM compressed by Python's gzip module (under names without .gz) load to
    the same data as the plain files; truncated and corrupt streams are errors naming
    the line in the decompressed text;
  - hetgrad-train trains on X.npy + y.npy, on gzip CSV and LIBSVM, on a
    semicolon/tab/pipe-delimited CSV with --delimiter, and a bad --delimiter or a .npy
    without --labels is a usage error (exit 2).

Needs numpy (Debian's python3-numpy, installed by scripts/setup.sh).
"""
import ctypes
import gzip
import json
import os
import subprocess
import sys

import numpy as np

import lsan_rerun  # tests/lsan_rerun.py: LeakSanitizer's tracer crash

LIB, TRAIN, WORK = sys.argv[1:4]
os.makedirs(WORK, exist_ok=True)
P = lambda name: os.path.join(WORK, name)
lib = ctypes.CDLL(LIB)


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


class HgError(ctypes.Structure):
    _fields_ = [("status", ctypes.c_int), ("cl_code", ctypes.c_int32),
                ("message", ctypes.c_char * 512)]


class HgDataset(ctypes.Structure):  # the leading fields (include/hetgrad/data.h)
    _fields_ = [("rows", ctypes.c_size_t), ("features", ctypes.c_size_t),
                ("x", ctypes.POINTER(ctypes.c_float)), ("labels", ctypes.POINTER(ctypes.c_int32)),
                ("targets", ctypes.POINTER(ctypes.c_float)), ("classes", ctypes.c_size_t),
                ("class_labels", ctypes.POINTER(ctypes.c_int32))]


lib.hg_status_name.restype = ctypes.c_char_p
lib.hg_dataset_free.argtypes = [ctypes.POINTER(HgDataset)]


def call(fn, *args):
    """(status name, message, (X, labels, targets, classes) or None)."""
    d = ctypes.POINTER(HgDataset)()
    e = HgError()
    st = fn(*args, ctypes.byref(d), ctypes.byref(e))
    name = lib.hg_status_name(st).decode()
    if st != 0:
        if d:
            fail("%s failed but returned a data set" % name)
        return name, e.message.decode(), None
    c = d.contents
    x = np.ctypeslib.as_array(c.x, (c.rows, c.features)).copy()
    labels = np.ctypeslib.as_array(c.labels, (c.rows,)).copy() if c.labels else None
    targets = np.ctypeslib.as_array(c.targets, (c.rows,)).copy() if c.targets else None
    classes = c.classes
    lib.hg_dataset_free(d)
    return name, "", (x, labels, targets, classes)


def npy(x_path, y_path=None):
    return call(lib.hg_dataset_load_npy, x_path.encode(), y_path.encode() if y_path else None)


def csv(path, delimiter=","):
    class CsvOptions(ctypes.Structure):
        _fields_ = [("struct_size", ctypes.c_size_t), ("header", ctypes.c_bool),
                    ("label_column", ctypes.c_long), ("delimiter", ctypes.c_char),
                    ("labels_are_classes", ctypes.c_bool)]
    o = CsvOptions()
    lib.hg_csv_options_init_sized(ctypes.byref(o), ctypes.c_size_t(ctypes.sizeof(o)))
    o.delimiter = delimiter.encode()
    return call(lib.hg_dataset_load_csv, path.encode(), ctypes.byref(o))


def svm(path):
    return call(lib.hg_dataset_load_libsvm, path.encode(), ctypes.c_size_t(0))


def expect_ok(res, what):
    if res[0] != "HG_OK":
        fail("%s: %s %s" % (what, res[0], res[1]))
    return res[2]


def expect_error(res, status, words, what):
    if res[0] != status or any(w not in res[1] for w in words):
        fail("%s: got %s %r, want %s with %s" % (what, res[0], res[1], status, words))


rng = np.random.default_rng(3)
# ---- .npy round trips: every dtype, order and byte order np.save writes -------------------
X = rng.normal(size=(37, 5)) * 10.0 ** rng.integers(-3, 4, size=(37, 5))
y = rng.integers(0, 4, size=37)
n = 0
for xdt in ("<f4", ">f4", "<f8", ">f8"):
    for order in "CF":
        xa = np.asarray(X, dtype=xdt, order=order)
        np.save(P("x.npy"), xa)
        for ydt in ("|i1", "|u1", "<i2", ">i2", "<u2", "<i4", ">u4", "<i8", ">i8", "<u8", "|b1"):
            ya = (y % 2 if ydt == "|b1" else y).astype(ydt)
            np.save(P("y.npy"), ya)
            got = expect_ok(npy(P("x.npy"), P("y.npy")), "%s %s, y %s" % (xdt, order, ydt))
            if not np.array_equal(got[0], xa.astype(np.float32)):
                fail("%s %s: X differs" % (xdt, order))
            if not np.array_equal(got[1], ya.astype(np.int64)) or \
                    not np.array_equal(got[2], ya.astype(np.float32)):
                fail("%s %s, y %s: labels differ" % (xdt, order, ydt))
            if got[3] != int(ya.astype(np.int64).max()) + 1:
                fail("y %s: %d classes" % (ydt, got[3]))
            n += 1
# X alone; a 1-row and a 1-column array; a header numpy pads to a 2.0 file
got = expect_ok(npy(P("x.npy")), "X alone")
if got[1] is not None or got[2] is not None:
    fail("X alone has labels")
for shape in ((1, 7), (9, 1)):
    a = rng.normal(size=shape)
    for order in "CF":
        np.save(P("x1.npy"), np.asarray(a, order=order))
        got = expect_ok(npy(P("x1.npy")), "shape %s %s" % (shape, order))
        if not np.array_equal(got[0], a.astype(np.float32)):
            fail("shape %s %s differs" % (shape, order))
import numpy.lib.format as npf
with open(P("v2.npy"), "wb") as f:
    npf.write_array(f, X.astype("<f4"), version=(2, 0))
got = expect_ok(npy(P("v2.npy")), "version 2.0")
if not np.array_equal(got[0], X.astype(np.float32)):
    fail("version 2.0 differs")
# gzip-compressed .npy, under a name that does not say so
np.save(P("x.npy"), X.astype("<f8"))
with open(P("x.npy"), "rb") as f, gzip.open(P("xz.npy"), "wb") as g:
    g.write(f.read())
got = expect_ok(npy(P("xz.npy")), "gzip .npy")
if not np.array_equal(got[0], X.astype(np.float32)):
    fail("gzip .npy differs")
print(".npy: %d numpy-written X/y pairs, 1-row/1-column, v2.0 and gzip load exactly" % n)

# ---- .npy errors: located -------------------------------------------------------------
np.save(P("x.npy"), X.astype("<f4"))
good = open(P("x.npy"), "rb").read()
hdr = good.index(b"\n") + 1  # the payload's offset
bad = [
    ("trunc.npy", good[:-6], None, "HG_IO", ["byte offset %d" % (len(good) - 6), "file ends early"]),
    ("trail.npy", good + b"xx", None, "HG_IO", ["byte offset %d" % len(good), "unexpected data after"]),
    ("magic.npy", b"\x93NUMPZ" + good[6:], None, "HG_IO", ["byte offset 0", "not a .npy file"]),
    ("version.npy", good[:6] + b"\x09\x00" + good[8:], None, "HG_IO", ["byte offset 6", "version 9.0"]),
]
for name, content, _, status, words in bad:
    open(P(name), "wb").write(content)
    expect_error(npy(P(name)), status, [P(name)] + words, name)
nan = X.astype("<f8")
nan[3, 2] = np.nan
np.save(P("nan.npy"), nan)
expect_error(npy(P("nan.npy")), "HG_IO", ["byte offset %d" % (hdr + 8 * (3 * 5 + 2)), "X[3, 2] is NaN"], "NaN")
nan[3, 2] = 1e300
np.save(P("big.npy"), nan)
expect_error(npy(P("big.npy")), "HG_IO", ["X[3, 2] = 1e+300 overflows float"], "1e300")
for name, arr, words in [
        ("f16.npy", X.astype("<f2"), ["'<f2' (2-byte float16): X must be float32"]),
        ("int.npy", X.astype("<i4"), ["'<i4' (4-byte signed integer)"]),
        ("cplx.npy", X.astype("<c8"), ["complex"]),
        ("str.npy", np.array([["a", "b"]]), ["Unicode text"]),
        ("rec.npy", np.zeros(3, dtype=[("a", "<f4"), ("b", "<i4")]), ["structured dtype"]),
        ("one.npy", X[:, 0].copy(), ["shape (37,): X must be 2-D", "X.reshape(-1, 1)"]),
        ("three.npy", np.zeros((2, 3, 4)), ["shape (2, 3, 4)"]),
        ("rows0.npy", np.zeros((0, 3)), ["no data rows"]),
        ("cols0.npy", np.zeros((3, 0)), ["no features"])]:
    np.save(P(name), arr)
    expect_error(npy(P(name)), "HG_IO", [P(name), "byte offset"] + words, name)
np.save(P("obj.npy"), np.array([[1, None]], dtype=object), allow_pickle=True)
expect_error(npy(P("obj.npy")), "HG_IO", ["Python objects"], "object")
np.save(P("x.npy"), X.astype("<f4"))
for name, arr, status, words in [
        ("yf.npy", y.astype("<f8"), "HG_IO", ["y.astype(np.int64)"]),
        ("ycol.npy", y.reshape(-1, 1), "HG_IO", ["y.ravel()"]),
        ("yshort.npy", y[:-1], "HG_IO", ["36 labels, but %s has 37 rows" % P("x.npy")]),
        ("yneg.npy", np.where(np.arange(37) == 5, -1, y), "HG_IO", ["y[5] = -1: a negative label"]),
        ("ybig.npy", np.where(np.arange(37) == 6, 2 ** 40, y), "HG_RANGE", ["y[6] = 1099511627776"])]:
    np.save(P(name), arr)
    expect_error(npy(P("x.npy"), P(name)), status, [P(name), "byte offset"] + words, name)
print(".npy errors: every case names the file, the byte offset and the problem")

# ---- gzip CSV and LIBSVM, written by Python's gzip module -------------------------------
lines = ["%r,%r,%d\n" % (float(a), float(b), int(c)) for a, b, c in
         zip(rng.normal(size=3000), rng.normal(size=3000), rng.integers(0, 3, size=3000))]
text = "".join(lines).encode()
open(P("plain.csv"), "wb").write(text)
with gzip.open(P("packed.csv"), "wb") as g:  # no .gz in the name
    g.write(text)
plain = expect_ok(csv(P("plain.csv")), "plain CSV")
b = expect_ok(csv(P("packed.csv")), "gzip CSV")
if not (np.array_equal(plain[0], b[0]) and np.array_equal(plain[1], b[1])):
    fail("gzip CSV differs from the plain file")
packed = open(P("packed.csv"), "rb").read()
# cut: the error names the line that was cut (the lines before it all decode)
import zlib
cut = packed[: len(packed) // 2]
d = zlib.decompressobj(16 + 15)
whole = d.decompress(cut).count(b"\n")
open(P("cut.csv"), "wb").write(cut)
expect_error(csv(P("cut.csv")), "HG_IO", ["%s:%d:" % (P("cut.csv"), whole + 1), "truncated"], "cut gzip CSV")
# a bad CRC: all 3000 lines decode, the check fails after them
crc = bytearray(packed)
crc[-8] ^= 0xFF
open(P("crc.csv"), "wb").write(bytes(crc))
expect_error(csv(P("crc.csv")), "HG_IO", ["%s:3001:" % P("crc.csv"), "incorrect data check"], "CRC")
# a data error inside: located in the decompressed text
with gzip.open(P("cols.csv"), "wb") as g:
    g.write(text + b"1,2\n")
expect_error(csv(P("cols.csv")), "HG_IO", ["%s:3001:" % P("cols.csv"), "expected 3 columns"], "columns")
svm_text = "".join("%d 1:%r 3:%r\n" % (c, float(v), float(w)) for c, v, w in
                   zip(rng.integers(-1, 2, size=500) * 2 - 1, rng.normal(size=500),
                       rng.normal(size=500))).encode()
open(P("plain.svm"), "wb").write(svm_text)
with gzip.open(P("packed.svm"), "wb") as g:
    g.write(svm_text)
a, b = expect_ok(svm(P("plain.svm")), "plain LIBSVM"), expect_ok(svm(P("packed.svm")), "gzip LIBSVM")
if not (np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])):
    fail("gzip LIBSVM differs from the plain file")
open(P("cut.svm"), "wb").write(open(P("packed.svm"), "rb").read()[:-20])
expect_error(svm(P("cut.svm")), "HG_IO", [P("cut.svm") + ":", "truncated"], "cut gzip LIBSVM")
for delim in (";", "\t", "|"):
    open(P("d.csv"), "w").write(text.decode().replace(",", delim))
    got = expect_ok(csv(P("d.csv"), delim), "delimiter %r" % delim)
    if not (np.array_equal(got[0], plain[0]) and np.array_equal(got[1], plain[1])):
        fail("delimiter %r differs" % delim)
print("gzip CSV/LIBSVM (Python's gzip module): same data; cut, CRC and data errors located")

# ---- hetgrad-train --------------------------------------------------------------------


# Under a sanitizer build the test preloads ASan for Python and turns off its leak check;
# hetgrad-train gets neither (tests/CMakeLists.txt).
CHILD_ENV = dict(os.environ)
CHILD_ENV.pop("LD_PRELOAD", None)
if "HG_CHILD_ASAN_OPTIONS" in CHILD_ENV:
    CHILD_ENV["ASAN_OPTIONS"] = CHILD_ENV["HG_CHILD_ASAN_OPTIONS"]


def run(args, rc=0):
    p = lsan_rerun.run([TRAIN] + args, capture_output=True, text=True, timeout=600,
                       env=CHILD_ENV)
    if p.returncode != rc:
        fail("%s exited %d (wanted %d)\n%s\n%s" % (args, p.returncode, rc, p.stdout, p.stderr))
    return p


# three separable classes
C = rng.integers(0, 3, size=600)
F = rng.normal(size=(600, 6)) + 3.0 * np.eye(6)[C]
np.save(P("train-x.npy"), F[:480].astype(">f8"))
np.save(P("train-y.npy"), C[:480].astype("<u2"))
np.save(P("test-x.npy"), np.asfortranarray(F[480:].astype("<f4")))
np.save(P("test-y.npy"), C[480:].astype(">i8"))
common = ["--json", "--epochs", "20", "--val", "0", "--devices", "pthread"]
r = json.loads(run(common + ["--data", P("train-x.npy"), "--labels", P("train-y.npy"),
                             "--test", P("test-x.npy"), "--test-labels", P("test-y.npy")]).stdout)
if r["test_accuracy"] < 0.9:
    fail("npy: test accuracy %.3f" % r["test_accuracy"])
acc = {"npy": r["test_accuracy"]}
rows = ["%s,%d\n" % (",".join("%r" % float(v) for v in F[i]), C[i]) for i in range(600)]
for name, delim, flag in (("train.csv", ",", []), ("train.ssv", ";", ["--delimiter", ";"]),
                          ("train.tsv", "\t", ["--delimiter", "tab"]),
                          ("train.psv", "|", ["--delimiter=|"])):
    body = "".join(rows).replace(",", delim)
    with gzip.open(P(name), "wt") as g:
        g.write(body[: sum(len(x) for x in rows[:480])])
    with gzip.open(P("test-" + name), "wt") as g:
        g.write("".join(rows[480:]).replace(",", delim))
    r = json.loads(run(common + flag + ["--data", P(name), "--test", P("test-" + name)]).stdout)
    acc[name] = r["test_accuracy"]
    if r["test_accuracy"] < 0.9:
        fail("%s: test accuracy %.3f" % (name, r["test_accuracy"]))
if len({acc[k] for k in acc if k != "npy"}) != 1:
    fail("the same rows with other delimiters gave other accuracies: %s" % acc)
with gzip.open(P("train.svm.gz"), "wt") as g:
    g.write("".join("%d %s\n" % (C[i], " ".join("%d:%r" % (j + 1, float(F[i, j])) for j in range(6)))
                    for i in range(480)))
r = json.loads(run(common + ["--data", P("train.svm.gz"), "--val", "0.2"]).stdout)
if r["val_accuracy"] < 0.9:
    fail("train.svm.gz: validation accuracy %.3f" % r["val_accuracy"])
print("hetgrad-train: test accuracy %s; train.svm.gz (LIBSVM by its name) %.3f"
      % (acc, r["val_accuracy"]))

for args, word in ((["--data", P("train.csv"), "--delimiter", ":"], "--delimiter"),
                   (["--data", P("train-x.npy")], "--labels"),
                   (["--data", P("train-x.npy"), "--labels", P("train-y.npy"),
                     "--test", P("test-x.npy")], "--test-labels")):
    p = run(args, rc=2)
    if word not in p.stderr:
        fail("%s: %s" % (args, p.stderr.strip()))
p = run(["--data", P("train-x.npy"), "--labels", P("yf.npy"), "--epochs", "1"], rc=1)
if P("yf.npy") not in p.stderr or "byte offset" not in p.stderr:
    fail("a float y: %s" % p.stderr.strip())
p = run(["--data", P("cut.csv"), "--epochs", "1"], rc=1)
if "%s:%d:" % (P("cut.csv"), whole + 1) not in p.stderr or "truncated" not in p.stderr:
    fail("a cut gzip CSV: %s" % p.stderr.strip())
print("usage and data errors: clear")
print("ok")
