# SPDX-License-Identifier: MIT
"""lsan_rerun.py - subprocess.run for the Python test drivers, with the rule of
tests/lsan_rerun.sh: in a sanitizer build LeakSanitizer's stop-the-world tracer
itself crashes now and then at a program's exit, beside the threads the OpenCL
runtimes leave ("Tracer caught signal 11 ... LeakSanitizer has encountered a
fatal error"), after the program did all its work.  Such a run (no leak report)
is run once more with leak detection off, and the driver says so on stderr.  A
leak LeakSanitizer reports ("detected memory leaks") and every other outcome
are returned as they are.  Outside sanitizer builds the message never appears,
so this is subprocess.run.  Detection needs the run's stderr captured
(capture_output or stderr=PIPE); a stdout file given is rewound for the rerun.
"""
import os
import subprocess
import sys

FATAL = "LeakSanitizer has encountered a fatal error"
LEAKS = "LeakSanitizer: detected memory leaks"


def _text(s):
    if s is None:
        return ""
    return s.decode("utf-8", "replace") if isinstance(s, bytes) else s


def tracer_crashed(rc, stderr):
    """True when a run failed only because LeakSanitizer's tracer crashed."""
    err = _text(stderr)
    return rc != 0 and FATAL in err and LEAKS not in err


def run(cmd, **kw):
    p = subprocess.run(cmd, **kw)
    if not tracer_crashed(p.returncode, p.stderr):
        return p
    sys.stderr.write("lsan_rerun: LeakSanitizer's tracer crashed at exit (no leak report); "
                     "running %s again without leak detection\n" % os.path.basename(str(cmd[0])))
    env = dict(kw.get("env") or os.environ)
    opts = env.get("ASAN_OPTIONS", "")
    if "detect_leaks=1" in opts:
        opts = opts.replace("detect_leaks=1", "detect_leaks=0")
    else:
        opts = (opts + ":" if opts else "") + "detect_leaks=0"
    env["ASAN_OPTIONS"] = opts
    kw["env"] = env
    out = kw.get("stdout")
    if hasattr(out, "seek") and hasattr(out, "truncate"):
        out.seek(0)
        out.truncate()
    return subprocess.run(cmd, **kw)
