#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""plot_check.py CHECK TRAIN BENCH PLOT WORKDIR - scripts/plot.py on real runs' files.

Checks (each a CTest test):
  pictures  A short hetgrad-train run with --metrics (POCL's two CPU devices,
            every step recorded) and a short hetgrad-bench --json; plot.py draws
            each as a PNG and an SVG, at the default size and at --size 640x480.
            Each picture must be of exactly that size (the PNG header's width and
            height; the SVG's width and height in points, 0.72 a pixel), and
            must not be blank (the PNG read back has many colours; the SVG has
            many drawn paths).  A metrics file still being written (its last line
            cut short) is drawn too, with a note.
  errors    Malformed inputs: exit status 1, one line on stderr that names the
            file (and the line) and the problem, never a Python traceback, and no
            picture left behind; usage errors exit 2.

matplotlib (python3-matplotlib) reads the PNGs back; it is plot.py's one dependency.
"""
import os
import re
import struct
import subprocess
import sys

import lsan_rerun  # tests/lsan_rerun.py: LeakSanitizer's tracer crash

CHECK, TRAIN, BENCH, PLOT, WORK = sys.argv[1:6]
PY = sys.executable


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def run(cmd, rc=0, stdout=None):
    p = lsan_rerun.run(cmd, stdout=stdout or subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=500)
    if p.returncode != rc:
        fail("%r exited %d, wanted %d\nstdout:\n%s\nstderr:\n%s"
             % (cmd, p.returncode, rc, (p.stdout or b"").decode("utf-8", "replace")[-3000:],
                p.stderr.decode("utf-8", "replace")[-3000:]))
    return p


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    if len(head) < 24 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        fail("%s is not a PNG" % path)
    return struct.unpack(">II", head[16:24])


def check_png(path, w, h):
    got = png_size(path)
    if got != (w, h):
        fail("%s is %dx%d, wanted %dx%d" % (path, got[0], got[1], w, h))
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.image
    img = matplotlib.image.imread(path)
    if img.shape[:2] != (h, w):
        fail("%s reads back as %r" % (path, img.shape))
    colours = len({tuple(px) for px in img.reshape(-1, img.shape[2])[::7].tolist()})
    if colours < 50:
        fail("%s looks blank: %d colours" % (path, colours))
    print("%s: PNG %dx%d, %d colours" % (os.path.basename(path), w, h, colours))


def check_svg(path, w, h):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    m = re.search(r'<svg[^>]*\swidth="([\d.]+)pt"\s+height="([\d.]+)pt"', text)
    if not m:
        fail("%s: no <svg width=...pt height=...pt>" % path)
    got = (float(m.group(1)), float(m.group(2)))
    if abs(got[0] - w * 0.72) > 0.01 or abs(got[1] - h * 0.72) > 0.01:
        fail("%s is %gx%g pt, wanted %gx%g" % (path, got[0], got[1], w * 0.72, h * 0.72))
    paths = text.count("<path")
    if paths < 50 or not text.rstrip().endswith("</svg>"):
        fail("%s looks blank or cut short: %d paths" % (path, paths))
    print("%s: SVG %gx%g pt, %d paths" % (os.path.basename(path), got[0], got[1], paths))


def draw(src, out, size=None):
    cmd = [PY, PLOT, src, "-o", out] + (["--size", size] if size else [])
    return run(cmd)


def check_pictures():
    metrics = os.path.join(WORK, "run.jsonl")
    bench = os.path.join(WORK, "bench.json")
    # POCL's CPU devices (not Oclgrind: its speed would only slow the test down), both
    # views of the CPU, a step record every step: the split moves during the run.
    run([TRAIN, "--devices", "cpu", "--keep-duplicates", "--epochs", "2", "--batch", "256",
         "--metrics-every", "1", "--metrics", metrics, "-q"])
    with open(bench, "wb") as f:
        run([BENCH, "--devices", "cpu", "--keep-duplicates", "--rows", "2000", "--steps", "2",
             "--json"], stdout=f)
    with open(metrics) as f:
        lines = f.read().splitlines()
    if len(lines) < 4:
        fail("the metrics file has %d lines" % len(lines))
    for src, name in ((metrics, "train"), (bench, "bench")):
        for size, (w, h) in ((None, (1200, 800)), ("640x480", (640, 480))):
            tag = "%s-%dx%d" % (name, w, h)
            png, svg = os.path.join(WORK, tag + ".png"), os.path.join(WORK, tag + ".svg")
            draw(src, png, size)
            check_png(png, w, h)
            draw(src, svg, size)
            check_svg(svg, w, h)
    # A file the run is still writing: the last line cut short is left out, with a note.
    partial = os.path.join(WORK, "partial.jsonl")
    with open(partial, "w") as f:
        f.write("\n".join(lines[:-1]) + "\n" + lines[-1][:len(lines[-1]) // 2])
    p = draw(partial, os.path.join(WORK, "partial.png"))
    if b"unfinished last line" not in p.stderr:
        fail("a cut last line: no note on stderr: %r" % p.stderr)
    check_png(os.path.join(WORK, "partial.png"), 1200, 800)
    # Standard input.
    with open(bench, "rb") as f:
        p = subprocess.run([PY, PLOT, "-", "-o", os.path.join(WORK, "stdin.png")], stdin=f,
                           capture_output=True, timeout=300)
    if p.returncode != 0:
        fail("plot.py - (standard input) exited %d: %s" % (p.returncode, p.stderr))
    check_png(os.path.join(WORK, "stdin.png"), 1200, 800)


RECORD = ('{"schema":"hetgrad-train-metrics/1","kind":"epoch","epoch":%d,"step":%d,"steps":1,'
          '"rows":10,"train_ms":1,"loss":0.5,"train_accuracy":0.5,"val_loss":0.5,'
          '"val_accuracy":0.5,"rows_per_s":10,"devices":[{"name":"%s","id":null,'
          '"kernel":null,"rows":10,"share":1,"busy_ms":1,"rows_per_s":10}]}')
GOOD = RECORD % (1, 1, "A")
BENCH_DOC = ('{"schema":"hetgrad-bench/1","model":"softmax","rows":4,"features":2,"classes":2,'
             '"steps":1,"devices":[{"name":"A","kernel":"naive"}],"configs":%s}')
CONFIG = '{"name":"solo:A","measured":true,"rows":4,"rows_per_s":8,"vs_best_solo":1,"shares":%s}'

# (file name, content, what stderr must say after "plot.py: NAME")
BAD = [
    ("empty.jsonl", b"", " is empty"),
    ("blank.jsonl", b"\n \n", " is empty"),
    ("latin1.jsonl", GOOD.encode() + b"\n\xff\n", ":2: not UTF-8"),
    ("garbage.jsonl", b"hello\n", ":1: not JSON"),
    ("middle.jsonl", (GOOD + "\n{oops\n" + RECORD % (2, 2, "A") + "\n").encode(),
     ":2: not JSON"),
    ("nan.jsonl", (GOOD.replace('"loss":0.5', '"loss":NaN') + "\n").encode(), ":1: not JSON"),
    ("twice.jsonl", (GOOD.replace('"loss":0.5', '"loss":0.5,"loss":1') + "\n").encode(),
     ":1: not JSON: key 'loss' appears twice"),
    ("nokey.jsonl", (GOOD + "\n" + GOOD.replace('"rows_per_s":10,"devices"', '"devices"')
                     + "\n").encode(), ":2: no 'rows_per_s' key"),
    ("type.jsonl", (GOOD.replace('"share":1', '"share":"all"') + "\n").encode(),
     ":1: devices[0]: 'share' is \"all\", expected number"),
    ("kind.jsonl", (GOOD.replace('"kind":"epoch"', '"kind":"batch"') + "\n").encode(),
     ":1: 'kind' is \"batch\""),
    ("newer.jsonl", (GOOD.replace("metrics/1", "metrics/2") + "\n").encode(),
     ": schema \"hetgrad-train-metrics/2\": this plot.py reads hetgrad-train-metrics/1"),
    ("other.json", b'{"schema": "hetgrad-probe/1", "devices": []}\n',
     ": schema \"hetgrad-probe/1\" is not one plot.py draws"),
    ("array.json", b"[1, 2]\n", ": expected a JSON object, found an array"),
    ("tworuns.jsonl", (GOOD + "\n" + RECORD % (2, 2, "A") + "\n" + RECORD % (1, 1, "A")
                       + "\n").encode(), ":3: step 1 after step 2: two runs in one file?"),
    ("devices.jsonl", (GOOD + "\n" + RECORD % (2, 2, "B") + "\n").encode(),
     ":2: the devices [\"B\"] differ from line 1's"),
    ("noconfigs.json", (BENCH_DOC % "[]").encode(), ": no configuration to draw"),
    ("shares.json", (BENCH_DOC % ("[" + CONFIG % "[0.5, 0.5]" + "]")).encode(),
     ": configs[0]: 'shares' must hold a number for each of the 1 devices"),
    ("benchkey.json", (BENCH_DOC % "[]").replace('"steps":1,', "").encode(),
     ": no 'steps' key"),
]


def check_errors():
    out = os.path.join(WORK, "never.png")
    for name, content, want in BAD:
        path = os.path.join(WORK, name)
        with open(path, "wb") as f:
            f.write(content)
        p = run([PY, PLOT, path, "-o", out], rc=1)
        err = p.stderr.decode("utf-8", "replace")
        expect = "plot.py: " + path + want
        if not err.startswith(expect) or "Traceback" in err or err.count("\n") != 1:
            fail("%s: stderr %r, wanted one line starting %r" % (name, err, expect))
        if os.path.exists(out) or [f for f in os.listdir(WORK) if f.endswith(".tmp")]:
            fail("%s: a picture or a temporary file was left behind" % name)
        print("refused: %s" % err.strip())
    missing = os.path.join(WORK, "no-such-file.jsonl")
    p = run([PY, PLOT, missing, "-o", out], rc=1)
    if p.stderr.decode() != "plot.py: %s: No such file or directory\n" % missing:
        fail("a missing input: %r" % p.stderr)
    good = os.path.join(WORK, "good.jsonl")
    with open(good, "w") as f:
        f.write(GOOD + "\n")
    p = run([PY, PLOT, good, "-o", os.path.join(WORK, "no-dir", "x.png")], rc=1)
    if not p.stderr.decode().startswith("plot.py: %s: No such file or directory"
                                        % os.path.join(WORK, "no-dir", "x.png")):
        fail("an output in a missing directory: %r" % p.stderr)
    # usage errors: exit 2, the problem named
    for args, want in (([good], "the following arguments are required: -o"),
                       ([good, "-o", out[:-4] + ".jpg"], "must end in .png or .svg"),
                       ([good, "-o", out, "--size", "12x"], "is not WxH in pixels"),
                       ([good, "-o", out, "--size", "50x50"], "is not WxH in pixels")):
        p = run([PY, PLOT] + args, rc=2)
        if want not in p.stderr.decode():
            fail("%r: stderr %r lacks %r" % (args, p.stderr, want))
    print("usage errors: exit 2")
    # the good one-record file is drawn
    run([PY, PLOT, good, "-o", out])
    check_png(out, 1200, 800)
    # Files no short real run gives, drawn all the same: step records alone (no epoch
    # ended yet), no validation (--val 0), a device without rows (null rate), under MPI
    # (rank keys), a benchmark's predicted configuration and one not measured at all.
    step = RECORD.replace('"kind":"epoch"', '"kind":"step"').replace(
        '"train_accuracy":0.5,"val_loss":0.5,"val_accuracy":0.5',
        '"train_accuracy":null,"val_loss":null,"val_accuracy":null')
    two = ('"devices":[{"name":"A","id":null,"rank":0,"kernel":"naive","rows":10,"share":1,'
           '"busy_ms":1,"rows_per_s":10},{"name":"B","id":null,"rank":1,"kernel":null,'
           '"rows":0,"share":0,"busy_ms":0,"rows_per_s":null}]}')
    cases = {
        "steps-only.jsonl": "\n".join(step % (1, k, "A") for k in (1, 2, 3)) + "\n",
        "no-val.jsonl": (RECORD % (1, 1, "A")).replace('"val_loss":0.5,"val_accuracy":0.5',
                                                      '"val_loss":null,"val_accuracy":null')
        + "\n",
        "ranks.jsonl": "\n".join(re.sub(r'"devices":.*$', two, RECORD % (k, k, "A"))
                                 for k in (1, 2)) + "\n",
        "predicted.json": BENCH_DOC % ("[" + CONFIG % "[1]" + "," + CONFIG.replace(
            '"measured":true', '"measured":false').replace('"solo:A"', '"equal"') % "[1]"
            + "," + CONFIG.replace('"rows_per_s":8,"vs_best_solo":1',
                                   '"rows_per_s":null,"vs_best_solo":null') % "[0]" + "]"),
    }
    for name, content in cases.items():
        path = os.path.join(WORK, name)
        with open(path, "w") as f:
            f.write(content)
        pic = os.path.join(WORK, name + ".png")
        p = run([PY, PLOT, path, "-o", pic])
        if p.stderr:
            fail("%s: drawn, but with messages: %r" % (name, p.stderr))
        check_png(pic, 1200, 800)


def main():
    os.makedirs(WORK, exist_ok=True)
    for f in os.listdir(WORK):
        os.unlink(os.path.join(WORK, f))
    {"pictures": check_pictures, "errors": check_errors}[CHECK]()
    return 0


if __name__ == "__main__":
    sys.exit(main())
