# SPDX-License-Identifier: MIT
"""CTest lsan_rerun.py-selftest: tests/lsan_rerun.py's run() runs a program again
without leak detection only after LeakSanitizer's own crash, and returns every
other outcome as it is (a leak report, a failure, a success), as
tests/lsan_rerun_check.sh checks for the shell version."""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lsan_rerun  # noqa: E402

CRASH = """echo "Tracer caught signal 11: addr=0x520" >&2
echo "==1==LeakSanitizer has encountered a fatal error." >&2
echo "ran with $ASAN_OPTIONS"
case $ASAN_OPTIONS in *detect_leaks=0*) exit 0 ;; esac
exit 1"""
LEAK = """echo "==1==ERROR: LeakSanitizer: detected memory leaks" >&2
echo "==1==LeakSanitizer has encountered a fatal error." >&2
case $ASAN_OPTIONS in *detect_leaks=0*) exit 0 ;; esac
exit 1"""

env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=0")
bad = 0


def expect(want, what, script, **kw):
    global bad
    p = lsan_rerun.run(["sh", "-c", script], env=env, **kw)
    if p.returncode != want:
        print("lsan_rerun.py: %s: exit %d, want %d" % (what, p.returncode, want))
        bad = 1
    return p


p = expect(0, "the tracer's crash, then a clean run without leak detection", CRASH,
           capture_output=True, text=True)
if "detect_leaks=0:abort_on_error=0" not in p.stdout:
    print("lsan_rerun.py: the rerun's options were %r" % p.stdout)
    bad = 1
expect(0, "the same, output as bytes", CRASH, capture_output=True)
expect(1, "a leak report", LEAK, capture_output=True, text=True)
expect(3, "another failure", "exit 3", capture_output=True, text=True)
expect(0, "a success", "exit 0", capture_output=True, text=True)
expect(1, "stderr not captured: no rerun", CRASH, stdout=subprocess.DEVNULL,
       stderr=subprocess.DEVNULL)
with tempfile.TemporaryFile("w+") as f:  # the rerun's output replaces the first run's
    expect(0, "a stdout file", CRASH, stdout=f, stderr=subprocess.PIPE, text=True)
    f.seek(0)
    lines = f.read().splitlines()
    if lines != ["ran with detect_leaks=0:abort_on_error=0"]:
        print("lsan_rerun.py: the stdout file holds %r" % lines)
        bad = 1
if not bad:
    print("lsan_rerun.py: 7 cases as documented")
sys.exit(bad)
