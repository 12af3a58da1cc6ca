#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""exit_check.py BINDIR WORKDIR [RUN...] - every tool exits cleanly with its output in a file.

Runs hetgrad-train, hetgrad-bench, hetgrad-bench --drill and hetgrad-probe
--profile with standard output redirected to a file, as a script or a job
would.  Each must exit 0 and its file must hold its output up to the last
line.  CTest runs this with an ICD vendor directory whose POCL .icd names the
bare soname (libpocl.so.2), as distributions write it: CLBlast's program
cache, left uncleared, made every tool abort at exit there (exit 134, and a
redirected output lost), while an .icd naming the full path hid it.  The
tools' standard error is passed on, so CTest's Oclgrind patterns see it.
RUN names the runs to make (train, bench, drill, probe); default all.
Standard library only.
"""
import os
import subprocess
import sys

import lsan_rerun  # tests/lsan_rerun.py: LeakSanitizer's tracer crash

BIN, WORK, ONLY = sys.argv[1], sys.argv[2], set(sys.argv[3:])
os.makedirs(WORK, exist_ok=True)

SMALL = ["--rows", "512", "--features", "16", "--classes", "4", "--steps", "3"]
RUNS = [
    # name, arguments, text the last line of output starts with, text it holds
    ("train", ["hetgrad-train", "--epochs", "1"], "done: val accuracy", "epoch   1/1"),
    ("bench", ["hetgrad-bench"] + SMALL, "dynamic ", "config "),
    # both POCL devices, so that one is left when the other fails (as bench.drill)
    ("drill", ["hetgrad-bench", "--drill", "--keep-duplicates"] + SMALL,
     "steps recovered: 1", "fault drill:"),
    ("probe", ["hetgrad-probe", "--profile"], None, "Profile (softmax 784x10)"),
]

print("OCL_ICD_VENDORS=%s" % os.environ.get("OCL_ICD_VENDORS"))
for d in sorted(os.listdir(os.environ["OCL_ICD_VENDORS"])):
    with open(os.path.join(os.environ["OCL_ICD_VENDORS"], d)) as f:
        print("  %s: %s" % (d, f.read().strip()))
failures = []
for name, args, last_starts, holds in RUNS:
    if ONLY and name not in ONLY:
        print("skip %s" % " ".join(args))
        continue
    out_path = os.path.join(WORK, name + ".out")
    with open(out_path, "w") as out:
        p = lsan_rerun.run([os.path.join(BIN, args[0])] + args[1:], stdout=out,
                           stderr=subprocess.PIPE, text=True, timeout=900)
    sys.stderr.write(p.stderr)
    with open(out_path) as f:
        text = f.read()
    lines = text.rstrip("\n").split("\n") if text.strip() else []
    last = lines[-1] if lines else ""
    problems = []
    if p.returncode != 0:
        problems.append("exit status %d" % p.returncode)
    if holds not in text:
        problems.append("the output lacks %r" % holds)
    if last_starts is not None and not last.startswith(last_starts):
        problems.append("the last line is %r, not %r..." % (last, last_starts))
    if last_starts is None and "platform(s)" not in last:
        problems.append("the last line is %r, not the platform summary" % last)
    if problems:
        tail = "\n".join(p.stderr.strip().split("\n")[-5:])
        failures.append("%s: %s (%d lines in %s); stderr ends:\n%s" %
                        (" ".join(args), "; ".join(problems), len(lines), out_path, tail))
        print("FAIL %s" % " ".join(args))
    else:
        print("ok   %s: exit 0, %d lines, last: %s" % (" ".join(args), len(lines), last[:70]))
if failures:
    print("\n".join("FAIL: " + f for f in failures))
    sys.exit(1)
