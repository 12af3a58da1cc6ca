#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""cli_check.py NAME BINARY VERSION WORKDIR - one tool's or benchmark's command line.

Every hetgrad tool and benchmark parses its command line with tools/cli.c; this
checks the behaviour a user sees, on the real binary (docs/tools.md):
  --help / -h     exit 0, the usage on stdout, nothing on stderr;
  --version / -V  exit 0, "NAME VERSION" on stdout;
  --opt=value     accepted, and it takes effect (a short real run checks it);
  --seed 0        accepted where there is a seed;
  unknown option  exit 2 naming it, also at the end after an option with a value;
  missing value   exit 2 "needs a value";
  a bad value     exit 2 naming the option and the value;
  HETGRAD_LOG     debug|info|warn|error; anything else exits 2 naming it;
  -v / -q / HETGRAD_LOG change what is logged: info lines appear with -v and
                  HETGRAD_LOG=info and go with -q; warnings go with -q.
Standard library only.
"""
import json
import os
import subprocess
import sys
import tempfile

import lsan_rerun  # tests/lsan_rerun.py: LeakSanitizer's tracer crash

NAME, BINARY, VERSION, WORK = sys.argv[1:5]


def fail(msg):
    print("FAIL: %s: %s" % (NAME, msg))
    sys.exit(1)


def run(args, rc=0, env=None):
    e = dict(os.environ)
    e.pop("HETGRAD_LOG", None)
    if env:
        e.update(env)
    p = lsan_rerun.run([BINARY] + args, capture_output=True, text=True, timeout=500, env=e)
    if rc is not None and p.returncode != rc:
        fail("%s (env %s) exited %d, wanted %d\nstdout:\n%s\nstderr:\n%s"
             % (args, env, p.returncode, rc, p.stdout[-3000:], p.stderr[-3000:]))
    return p


os.makedirs(WORK, exist_ok=True)
# A cache directory that cannot be made (a path under a regular file): every
# engine logs a warning about it.
blocker = os.path.join(WORK, "not-a-directory")
open(blocker, "w").close()
BAD_CACHE = {"HETGRAD_CACHE_DIR": os.path.join(blocker, "cache")}
ICD = os.environ.get("HG_ICD_ROOT", "")

# Per binary: a short real run with --opt=value options and how to see that they
# took effect; an option with a value and a bad value for it; the environment
# that makes it log a warning.
TOOLS = {
    "hetgrad-probe": {
        "run": ["--devices=pthread", "--json"],
        "took": lambda out: [d["name"].split("-")[0] for d in json.loads(out)["devices"]]
        == ["pthread"],
        "valued": "--devices",
        "bad": None,  # --devices takes any text; a bad expression is a run-time error (3)
        "warn_env": {"OCL_ICD_VENDORS": os.path.join(ICD, "fake"),
                     "HG_FAKE_ICD_MODE": "fail_devices"},
        "warn_args": ["-l"],
    },
    "hetgrad-train": {
        "run": ["--epochs=1", "--seed", "0", "--batch=256", "--devices=pthread", "--json"],
        "took": lambda out: json.loads(out)["epochs"] == 1,
        "valued": "--epochs",
        "bad": (["--epochs", "abc"], "option --epochs: 'abc' is not an integer"),
        "warn_env": BAD_CACHE,
    },
    "hetgrad-bench": {
        "run": ["--rows=256", "--steps=1", "--devices=pthread", "--json"],
        "took": lambda out: json.loads(out)["rows"] == 256 and json.loads(out)["steps"] == 1,
        "valued": "--rows",
        "bad": (["--rows", "0"], "option --rows: '0' is not in [1,"),
        "warn_env": BAD_CACHE,
    },
    "bench_startup": {
        "run": ["--repeats=1", "--devices=pthread", "--json"],
        "took": lambda out: json.loads(out)["repeats"] == 1,
        "valued": "--repeats",
        "bad": (["--repeats", "0"], "option --repeats: '0' is not in [1,1000]"),
        "warn_env": BAD_CACHE,
    },
    "bench_gradient": {
        "run": ["--quick", "--models=linear", "--rows=256", "--repeats=1", "--devices=pthread",
                "--json"],
        "took": lambda out: [m["model"] for m in json.loads(out)["models"]] == ["linear"]
        and json.loads(out)["rows"] == 256,
        "valued": "--rows",
        "bad": (["--models", "tree"], "option --models: 'tree' is not one of: linear, softmax, mlp"),
        "warn_env": BAD_CACHE,
        "note": "bench_gradient: 256 rows, 1 repeats",
    },
    "bench_train": {
        "run": ["--rows=256", "--epochs=1", "--models=softmax", "--optimizers=sgd",
                "--devices=pthread", "--json"],
        "took": lambda out: json.loads(out)["rows"] == 256
        and [(c["model"], c["optimizer"]) for c in json.loads(out)["configs"]]
        == [("softmax", "sgd")],
        "valued": "--rows",
        "bad": (["--models", "tree"], "option --models: 'tree' is not one of: softmax, mlp"),
        "warn_env": BAD_CACHE,
        "note": "bench_train: softmax: engine ready in",
    },
    "bench_starpu": {  # only where StarPU is installed
        "run": ["--quick", "--mix=pthread", "--rounds=1", "--json",
                "--starpu-home=" + os.path.join(WORK, "starpu-home")],
        "took": lambda out: json.loads(out)["rounds"] == 1
        and [m["mix"] for m in json.loads(out)["mixes"]] == ["pthread"],
        "valued": "--rounds",
        "bad": (["--rounds", "0"], "option --rounds: '0' is not in [1,64]"),
        "warn_env": BAD_CACHE,
        "warn_args": ["--quick", "--mix=pthread", "--json"],
        "note": "bench_starpu: mix pthread: round 1/1",
    },
}
T = TOOLS[NAME]

# --help and -h: usage on stdout, exit 0, nothing on stderr.
for flag in ("--help", "-h"):
    p = run([flag])
    if not p.stdout.startswith("usage: %s " % NAME) or p.stderr:
        fail("%s: stdout %r..., stderr %r" % (flag, p.stdout[:80], p.stderr))
    for want in ("-v, --verbose", "-q, --quiet", "-h, --help", "-V, --version", "HETGRAD_LOG",
                 "Exit status:", "  2  usage error"):
        if want not in p.stdout:
            fail("%s lacks %r" % (flag, want))
    if any(len(line) > 80 for line in p.stdout.splitlines()):
        fail("%s has lines over 80 columns" % flag)

# --version and -V.
for flag in ("--version", "-V"):
    p = run([flag])
    if p.stdout != "%s %s\n" % (NAME, VERSION) or p.stderr:
        fail("%s printed %r / %r, wanted '%s %s'" % (flag, p.stdout, p.stderr, NAME, VERSION))

# Unknown options, missing values, bad values: exit 2, the name on stderr, nothing on stdout.
def usage_error(args, words, env=None):
    p = run(args, rc=2, env=env)
    if p.stdout:
        fail("%s: a usage error printed on stdout: %r" % (args, p.stdout))
    first = p.stderr.splitlines()[0] if p.stderr else ""
    if not first.startswith(NAME + ": ") or words not in first:
        fail("%s: wanted %r in the first line of stderr, got %r" % (args, words, p.stderr))


usage_error(["--frobnicate"], "unknown option --frobnicate")
usage_error(["--frobnicate=1"], "unknown option --frobnicate")
usage_error([T["valued"], "1", "--frobnicate"], "unknown option --frobnicate")
usage_error(["-Z"], "unknown option -Z")
usage_error([T["valued"]], "option %s needs a value" % T["valued"])
usage_error(["--json=yes"], "option --json takes no value")
usage_error(["stray"], "unexpected argument 'stray'")
if T["bad"]:
    usage_error(*T["bad"])
usage_error([], "HETGRAD_LOG='loud' is not a log level", env={"HETGRAD_LOG": "loud"})
print("%s: --help, --version and usage errors: ok" % NAME)

# A real run with --opt=value: exit 0, the values took effect, nothing logged.
p = run(T["run"])
if not T["took"](p.stdout):
    fail("%s: the options did not take effect:\n%s" % (T["run"], p.stdout[:2000]))
if ": info:" in p.stderr or ": warning:" in p.stderr:
    fail("%s logged at the default level:\n%s" % (T["run"], p.stderr))

# The log level: -v and HETGRAD_LOG=info show info lines, -q hides them again.
info = "%s: info: " % NAME
for args, env, want in ((["-v"], None, True),
                        (["--verbose"], None, True),
                        ([], {"HETGRAD_LOG": "info"}, True),
                        ([], {"HETGRAD_LOG": "debug"}, True),
                        (["-q"], {"HETGRAD_LOG": "info"}, False),
                        ([], {"HETGRAD_LOG": "error"}, False)):
    p = run(T["run"] + args, env=env)
    if (info in p.stderr) != want:
        fail("%s with %s: info lines %s:\n%s" % (args, env, "missing" if want else "shown",
                                                 p.stderr))

# Warnings: shown by default, gone with -q and with HETGRAD_LOG=error.
warn_run = T.get("warn_args", T["run"])
warning = "%s: warning: " % NAME
p = run(warn_run, env=T["warn_env"])
if warning not in p.stderr:
    fail("%s with %s: no warning logged:\n%s" % (warn_run, T["warn_env"], p.stderr))
for args, extra in ((["-q"], {}), (["--quiet"], {}), ([], {"HETGRAD_LOG": "error"})):
    env = dict(T["warn_env"], **extra)
    p = run(warn_run + args, env=env)
    if warning in p.stderr:
        fail("%s with %s: warnings not hidden:\n%s" % (warn_run + args, env, p.stderr))
# Progress notes (bench_gradient): shown by default, gone with -q.
if "note" in T:
    if T["note"] not in run(T["run"]).stderr:
        fail("no progress note %r by default" % T["note"])
    if T["note"] in run(T["run"] + ["-q"]).stderr:
        fail("-q did not hide the progress notes")
print("%s: --opt=value, -v, -q and HETGRAD_LOG: ok" % NAME)
