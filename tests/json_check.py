#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""json_check.py CHECK TOOL WORKDIR - every JSON output, parsed strictly and
validated against its schema (docs/schemas/), with device and platform names
that hold every kind of character a JSON writer must handle.

The names come from tests/odd_names_layer: an OpenCL loader layer (named by
OPENCL_LAYERS in the environment CTest gives) that puts ODD below in front of
every device and platform name while POCL still runs every kernel.  So each
tool runs end to end and writes the odd names where it writes names.

Checks (each a CTest test):
  probe           hetgrad-probe --json --all --check --profile on POCL through
                  the layer; then --json --all on the fake ICD (tests/fake_icd:
                  PCI ids, UUIDs, failed properties, a device set aside) in the
                  modes named in HG_FAKE_MODES, without the layer.
  train           hetgrad-train --json --trace FILE --metrics FILE on a CSV file
                  whose name holds the same kinds of characters; the summary, the
                  trace, and every line of the metrics file (JSON Lines: each
                  record one line, its devices' rows adding up to its rows);
                  then --epochs 0 --load (the evaluation-only summary).
  bench           hetgrad-bench --json, 3 rounds.
  bench-apart     hetgrad-bench --json with POCL and Oclgrind (HG_APART_ICD_DIR):
                  Oclgrind alone and equal timed apart, in 2 rounds, the rest
                  in the 3 main rounds.
  bench-startup   bench_startup --json; then on the fake ICD, where every
                  self-test fails: exit status 1, each device with its error.
  bench-gradient  bench_gradient --json --quick --models softmax --repeats 3.
  bench-train     bench_train --json --rows 512 --epochs 1 (the smoke run of the
                  training benchmark): the four configurations, both ways with
                  rows/s > 0, the hetgrad device shares adding up to 1, the
                  first step's gradients and the two optimizers' updates within
                  their tolerances, and the two ways' final losses within the
                  tolerance the document states (recomputed here, not taken
                  from "agree").  No timing is judged.
  For bench and bench-gradient, every timed configuration's harness figures must agree
  with each other (docs/tools.md, "The benchmark harness"): as many samples as
  rounds (2 for a hetgrad-bench configuration timed apart, which only a device
  alone or equal may be), min <= q1 <= median <= q3 <= max, the median is ms_per_step, the
  spread is (q3 - q1) / median and the flag follows from it and the limit.
  bench-starpu    bench_starpu --json --quick --mix pair (only where StarPU is
                  installed): both devices, every check passed.  Without the
                  layer: StarPU 1.3 aborts on device names of 64 bytes or more,
                  so with it (the prefix written twice, HG_ODD_NAMES_REPEAT=2:
                  long names on any machine) bench_starpu must refuse (exit 3,
                  the reason named, still one valid document).

Each check: the output must be UTF-8 and strict JSON (no NaN, no duplicate
key), must match its schema, and every device name in it must be ODD followed
by the driver's own name, decoded as docs/json.md says (bytes that are not
UTF-8 become the Latin-1 character of the same value).

Environment: HG_SCHEMA_DIR (docs/schemas), OPENCL_LAYERS, the test device
environment, HG_FAKE_ICD_DIR; for probe also HG_FAKE_MODES.
Standard library only.
"""
import codecs
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import json_schema  # noqa: E402
import lsan_rerun  # tests/lsan_rerun.py: LeakSanitizer's tracer crash

# The bytes odd_names_layer.c puts in front of every name (its ODD_PREFIX).
ODD = (b'odd "q" \\ \t \x01 \x7f G\xc3\xbc \xe6\x97\xa5\xe6\x9c\xac '
       b'\xf0\x9f\x98\x80 \xff \xe6\x97 | ')
# The same kinds of bytes in a file name ('/' and NUL cannot be in one).
ODD_FILE = b'odd "q" \\ \t \x01 \x7f G\xc3\xbc \xe6\x97\xa5 \xff \xe6\x97.csv'


def _latin1_fallback(err):
    """The writer's rule for a byte that is not UTF-8: U+0000 + its value."""
    return (chr(err.object[err.start]), err.start + 1)


codecs.register_error("hg_latin1_fallback", _latin1_fallback)


def decoded(b):
    """What a string of these bytes reads as after the JSON writer."""
    return b.decode("utf-8", errors="hg_latin1_fallback")


ODD_TEXT = decoded(ODD)


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def run(cmd, env=None, timeout=500, ok_codes=(0,)):
    p = lsan_rerun.run(cmd, env=env, capture_output=True, timeout=timeout)
    if p.returncode not in ok_codes:
        fail("%r exited %d\nstdout:\n%s\nstderr:\n%s"
             % (cmd, p.returncode, p.stdout.decode("utf-8", "replace"),
                p.stderr.decode("utf-8", "replace")))
    return p


def schema(name):
    path = os.path.join(os.environ["HG_SCHEMA_DIR"], name + ".schema.json")
    with open(path, "rb") as f:
        return json_schema.Validator(json_schema.read_strict(f.read()))


def parse_valid(data, schema_name, what):
    try:
        doc = json_schema.read_strict(data)
    except ValueError as e:
        fail("%s: %s\n%s" % (what, e, data[:4000].decode("utf-8", "replace")))
    try:
        schema(schema_name).validate(doc)
    except json_schema.Invalid as e:
        fail("%s does not match %s: %s" % (what, schema_name, e))
    return doc


def odd_name(s, what):
    """s must be ODD + a real driver name."""
    if not isinstance(s, str) or not s.startswith(ODD_TEXT) or len(s) == len(ODD_TEXT):
        fail("%s: %r is not %r + the driver's name" % (what, s, ODD_TEXT))


def check_probe(probe, work):
    p = run([probe, "--json", "--all", "--check", "--profile"])
    doc = parse_valid(p.stdout, "hetgrad-probe-1", "hetgrad-probe --json --all --check --profile")
    if not doc["devices"]:
        fail("hetgrad-probe lists no device")
    for pl in doc["platforms"]:
        odd_name(pl["name"], "platform name")
    for d in doc["devices"]:
        odd_name(d["name"], "device name")
        odd_name(d["platform"], "device's platform")
        if not d["selftest"]["passed"]:
            fail("%r: self-test failed: %s" % (d["name"], d["selftest"]["message"]))
    print("hetgrad-probe: %d devices, odd names intact, schema ok" % len(doc["devices"]))

    env = dict(os.environ)
    env.pop("OPENCL_LAYERS", None)
    env["OCL_ICD_VENDORS"] = os.environ["HG_FAKE_ICD_DIR"]
    for mode in os.environ["HG_FAKE_MODES"].split(","):
        env["HG_FAKE_ICD_MODE"] = mode
        p = run([probe, "--json", "--all"], env=env)
        doc = parse_valid(p.stdout, "hetgrad-probe-1", "fake ICD %s: hetgrad-probe --json --all"
                          % mode)
        print("fake ICD %s: %d devices, schema ok" % (mode, len(doc["devices"])))


def write_csv(path):
    """60 rows, 4 features, 3 classes that a softmax model can learn."""
    lines = []
    for r in range(60):
        c = r % 3
        feats = [((r * 7 + k * 3) % 10) / 10.0 + (2.0 if k == c else 0.0) for k in range(4)]
        lines.append(",".join("%.2f" % v for v in feats) + ",%d" % c)
    with open(path, "wb") as f:
        f.write(("\n".join(lines) + "\n").encode())


def check_train(train, work):
    os.makedirs(work, exist_ok=True)
    data = os.path.join(os.fsencode(work), ODD_FILE)
    trace = os.path.join(work, "trace.json")
    metrics = os.path.join(work, "metrics.jsonl")
    model = os.path.join(work, "model.hgp")
    write_csv(data)
    p = run([os.fsencode(train), b"--json", b"--epochs", b"3", b"--batch", b"16",
             b"--data", data, b"--trace", os.fsencode(trace), b"--save", os.fsencode(model),
             b"--metrics", os.fsencode(metrics), b"--metrics-every", b"2",
             b"--profile-host"])  # the records' "host" objects validated too
    doc = parse_valid(p.stdout, "hetgrad-train-1", "hetgrad-train --json")
    want = decoded(data[:300])  # hetgrad-train names at most 300 bytes of the path
    if not doc["data"].startswith(want):
        fail("data is %r, wanted it to start with %r" % (doc["data"], want))
    for d in doc["devices"]:
        odd_name(d["name"], "device name")
    with open(trace, "rb") as f:
        tr = parse_valid(f.read(), "hetgrad-train-trace", "hetgrad-train --trace")
    tracks = [e["args"]["name"] for e in tr["traceEvents"]
              if e["ph"] == "M" and e["tid"] > 0]
    if len(tracks) != len(doc["devices"]):
        fail("trace has %d device tracks, the summary %d devices"
             % (len(tracks), len(doc["devices"])))
    for t in tracks:
        if ODD_TEXT not in t:
            fail("trace track %r lacks the device's odd name" % t)
    check_metrics(metrics, doc)
    print("hetgrad-train: summary, trace and metrics valid; data name and %d device names "
          "intact" % len(doc["devices"]))

    # --epochs 0: the saved model evaluated on a test file, the same schema.
    p = run([os.fsencode(train), b"--json", b"--epochs", b"0", b"--load", os.fsencode(model),
             b"--test", data])
    ev = parse_valid(p.stdout, "hetgrad-train-1", "hetgrad-train --json --epochs 0")
    if ev["data"] is not None or ev["devices"] or ev["param_hash"] != doc["param_hash"] \
            or ev["test_accuracy"] is None:
        fail("--epochs 0: %r (the trained run's hash %s)" % (ev, doc["param_hash"]))
    print("hetgrad-train --epochs 0: valid; the saved model's hash %s" % ev["param_hash"])


def check_metrics(path, summary):
    """hetgrad-train --metrics FILE of the run that printed summary: 60 rows,
    --val 0.2 (48 training rows), --batch 16, 3 epochs, --metrics-every 2."""
    with open(path, "rb") as f:
        data = f.read()
    if not data.endswith(b"\n"):
        fail("metrics file does not end with a newline")
    lines = data.split(b"\n")[:-1]
    recs = [parse_valid(l, "hetgrad-train-metrics-1", "metrics line %d" % (i + 1))
            for i, l in enumerate(lines)]
    kinds = [(r["kind"], r["step"]) for r in recs]
    # 3 steps an epoch: a step record at steps 2, 4, 6, 8; an epoch record at 3, 6, 9
    want = [("step", 2), ("epoch", 3), ("step", 4), ("step", 6), ("epoch", 6),
            ("step", 8), ("epoch", 9)]
    if kinds != want:
        fail("metrics records %r, wanted %r" % (kinds, want))
    for i, r in enumerate(recs):
        what = "metrics line %d" % (i + 1)
        if "host" not in r:  # the run passes --profile-host
            fail("%s: no host object with --profile-host" % what)
        if len(r["devices"]) != len(summary["devices"]):
            fail("%s: %d devices, the summary %d" % (what, len(r["devices"]),
                                                     len(summary["devices"])))
        if sum(d["rows"] for d in r["devices"]) != r["rows"] or \
                abs(sum(d["share"] for d in r["devices"]) - 1) > 1e-9:
            fail("%s: the devices' rows or shares do not add up: %r" % (what, r))
        for d in r["devices"]:
            odd_name(d["name"], what + ": device name")
        epoch_rec = r["kind"] == "epoch"
        if epoch_rec != (r["val_accuracy"] is not None) or \
                epoch_rec != (r["train_accuracy"] is not None):
            fail("%s: accuracies %r / %r on a %s record" % (what, r["train_accuracy"],
                                                            r["val_accuracy"], r["kind"]))
    last = recs[-1]
    if last["rows"] != summary["train_rows"] or last["loss"] != summary["final_loss"] or \
            last["val_accuracy"] != summary["val_accuracy"]:
        fail("the last epoch record %r disagrees with the summary %r" % (last, summary))


def check_timing(c, rounds, limit, what):
    """A configuration's harness figures (TIMING) against each other; returns
    whether it is flagged wide."""
    t = c["timing"]
    where = "%s: %s: timing %r" % (what, c["name"], t)
    if t["samples"] != rounds or t["warmups"] < 1:
        fail("%s: %d rounds, at least one warm-up expected" % (where, rounds))
    order = [t["min_ms"], t["q1_ms"], t["median_ms"], t["q3_ms"], t["max_ms"]]
    if any(v is None for v in order) or order != sorted(order):
        fail("%s: not min <= q1 <= median <= q3 <= max" % where)
    if t["median_ms"] != c["ms_per_step"]:
        fail("%s: median_ms is not ms_per_step %r" % (where, c["ms_per_step"]))
    spread = (t["q3_ms"] - t["q1_ms"]) / t["median_ms"]
    if abs(t["spread"] - spread) > 1e-9 * max(1.0, spread):
        fail("%s: spread is not (q3 - q1) / median = %r" % (where, spread))
    flag = "few" if rounds < 3 else "wide" if spread > limit else "ok"
    if t["flag"] != flag:
        fail("%s: flag %r, expected %r" % (where, t["flag"], flag))
    return flag == "wide"


def check_bench(bench, work):
    p = run([bench, "--json", "--rows", "2000", "--steps", "3"])
    doc = parse_valid(p.stdout, "hetgrad-bench-1", "hetgrad-bench --json")
    wide = False
    for c in doc["configs"]:
        if c["measured"] and not c["timed_apart"]:
            if c["rows"] != doc["rows"]:
                fail("hetgrad-bench: %s: %d rows in the main rounds of %d-row steps"
                     % (c["name"], c["rows"], doc["rows"]))
            wide |= check_timing(c, 3, doc["spread_limit"], "hetgrad-bench")
        elif c["measured"]:
            if not c["name"].startswith("solo:") and c["name"] != "equal":
                fail("hetgrad-bench: %s timed apart" % c["name"])
            wide |= check_timing(c, 2, doc["spread_limit"], "hetgrad-bench")
        elif c["timing"] is not None and not c["measured"]:
            fail("hetgrad-bench: %s: a prediction with timing %r" % (c["name"], c["timing"]))
    if wide != doc["timing_wide"]:
        fail("hetgrad-bench: timing_wide %r, the configurations' flags say %r"
             % (doc["timing_wide"], wide))
    for d in doc["devices"]:
        odd_name(d["name"], "device name")
    solo = [c["name"] for c in doc["configs"] if c["name"].startswith("solo:")]
    for name in solo:
        odd_name(name[len("solo:"):], "config name")
    if len(solo) != len(doc["devices"]):
        fail("%d solo configs for %d devices" % (len(solo), len(doc["devices"])))
    check_whole(doc, [])
    print("hetgrad-bench: valid; %d device names intact" % len(doc["devices"]))
    # A device calibration fissioned is also timed alone as a whole device (whole:NAME,
    # an engine calibrated with fission off), and the best device alone counts it.
    # (a fresh profile cache: a warm start, every profile from the cache, has no trial)
    cache = os.path.join(work, "fission-cache")
    shutil.rmtree(cache, ignore_errors=True)
    os.makedirs(cache, mode=0o700)
    env = dict(os.environ, HETGRAD_FISSION="force", HETGRAD_CACHE_DIR=cache)
    p = run([bench, "--json", "--rows", "2000", "--steps", "3", "--keep-duplicates",
             "--devices", "platform:Portable"], env=env)
    doc = parse_valid(p.stdout, "hetgrad-bench-1", "hetgrad-bench --json (fission forced)")
    fissioned = [i for i, d in enumerate(doc["devices"])
                 if (d["fission"] or "").startswith("fissioned to ")]
    if not fissioned:
        fail("hetgrad-bench with HETGRAD_FISSION=force fissioned no device: %r"
             % [d["fission"] for d in doc["devices"]])
    check_whole(doc, fissioned)
    alone = [c for c in doc["configs"] if c["name"].startswith(("solo:", "whole:"))]
    best = max(c["rows_per_s"] for c in alone)
    for c in doc["configs"]:
        if c["vs_best_solo"] is not None and abs(c["vs_best_solo"] * best - c["rows_per_s"]) \
                > 1e-6 * c["rows_per_s"]:
            fail("hetgrad-bench: %s: vs_best_solo %r is not over the best device alone "
                 "(%r rows/s, whole devices included)" % (c["name"], c["vs_best_solo"], best))
    print("hetgrad-bench: fission forced: whole:%s timed" % doc["devices"][fissioned[0]]["name"])


def check_bench_apart(bench, work):
    """POCL's two devices and Oclgrind (OCL_ICD_VENDORS from HG_APART_ICD_DIR):
    Oclgrind's step alone and equal's are far longer than POCL's, so both are
    timed in two rounds of their own, and every other
    configuration in the main rounds, each right after an untimed step of its
    own (tools/harness.h)."""
    cache = os.path.join(work, "apart-cache")
    shutil.rmtree(cache, ignore_errors=True)
    os.makedirs(cache, mode=0o700)
    env = dict(os.environ, OCL_ICD_VENDORS=os.environ["HG_APART_ICD_DIR"],
               HETGRAD_CACHE_DIR=cache)
    # Oclgrind 21.10's uninitialised-value plugin crashes in a parameter upload
    # here (MemoryPool::alloc under Uninitialized::hostMemoryStore, the same with
    # the build before this check): the kernels' checks are test_engine's job
    env.pop("OCLGRIND_UNINITIALIZED", None)
    env.pop("OCLGRIND_DATA_RACES", None)  # and the race checks only slow the steps
    # 1500 rows: equal's step (Oclgrind's third, seconds) stays far over the 100 ms that
    # times a step apart and further under --max-step-s (20 s), over which it is only
    # predicted.  With 3000 rows an ASan build on a busy host once did not time equal
    # apart (2026-12-06; the JSON was not kept: likely predicted over 20 s)
    p = run([bench, "--json", "--rows", "1500", "--steps", "3", "--keep-duplicates"], env=env)
    doc = parse_valid(p.stdout, "hetgrad-bench-1", "hetgrad-bench --json (with Oclgrind)")
    ocl = [d["name"] for d in doc["devices"] if "Oclgrind" in d["name"]]
    if len(ocl) != 1 or len(doc["devices"]) != 3:
        fail("hetgrad-bench with Oclgrind: devices %r" % [d["name"] for d in doc["devices"]])
    apart = sorted(c["name"] for c in doc["configs"] if c["timed_apart"])
    if apart != sorted(["solo:" + ocl[0], "equal"]):
        fail("hetgrad-bench with Oclgrind: timed apart %r, expected Oclgrind alone and equal"
             % apart)
    wide = False
    for c in doc["configs"]:
        # (Oclgrind alone may run on fewer rows: a step over --max-step-s / 4)
        if not c["measured"] or c["rows"] > doc["rows"] or \
                (c["rows"] < doc["rows"] and c["name"] != "solo:" + ocl[0]):
            fail("hetgrad-bench with Oclgrind: %s: measured %r on %d rows"
                 % (c["name"], c["measured"], c["rows"]))
        wide |= check_timing(c, 2 if c["timed_apart"] else 3, doc["spread_limit"],
                             "hetgrad-bench with Oclgrind")
        if c["name"] in ("weighted", "dynamic") and c["vs_best_solo_paired"] is None:
            fail("hetgrad-bench with Oclgrind: %s has no paired ratio" % c["name"])
    if wide != doc["timing_wide"]:
        fail("hetgrad-bench with Oclgrind: timing_wide %r, the flags say %r"
             % (doc["timing_wide"], wide))
    print("hetgrad-bench with Oclgrind: %s timed apart" % ", ".join(apart))


def check_whole(doc, fissioned):
    """whole:NAME configurations: one for each fissioned device, alone on it."""
    whole = [c for c in doc["configs"] if c["name"].startswith("whole:")]
    want = ["whole:" + doc["devices"][i]["name"] for i in fissioned]
    if [c["name"] for c in whole] != want:
        fail("hetgrad-bench: whole configs %r, fissioned devices want %r"
             % ([c["name"] for c in whole], want))
    for c, i in zip(whole, fissioned):
        shares = [round(x, 6) for x in c["shares"]]
        if shares != [1.0 if k == i else 0.0 for k in range(len(shares))]:
            fail("hetgrad-bench: %s ran on shares %r" % (c["name"], c["shares"]))


def check_bench_startup(tool, work):
    p = run([tool, "--json", "--repeats", "1"])
    doc = parse_valid(p.stdout, "hetgrad-bench-startup-1", "bench_startup --json")
    if not doc["devices"]:
        fail("bench_startup lists no device")
    for d in doc["devices"]:
        odd_name(d["name"], "device name")
        if d["error"] is not None:
            fail("%r: %s" % (d["name"], d["error"]))
    print("bench_startup: valid; %d device names intact" % len(doc["devices"]))

    # Devices that cannot run the self-test (the fake driver makes no context):
    # each is listed with its error, the figures are null, the exit status 1.
    env = dict(os.environ)
    env.pop("OPENCL_LAYERS", None)
    env["OCL_ICD_VENDORS"] = os.environ["HG_FAKE_ICD_DIR"]
    env["HG_FAKE_ICD_MODE"] = "gpus"
    p = run([tool, "--json", "--repeats", "1"], env=env, ok_codes=(1,))
    doc = parse_valid(p.stdout, "hetgrad-bench-startup-1", "bench_startup --json, fake ICD")
    if not doc["devices"] or any(d["error"] is None or d["build_ms_median"] is not None
                                 for d in doc["devices"]):
        fail("fake ICD: every device should have failed: %r" % doc["devices"])
    if doc["first_gradient_ms"] != {"first": None, "again": None}:
        fail("fake ICD: first_gradient_ms %r" % doc["first_gradient_ms"])
    print("bench_startup on the fake ICD: exit 1, %d failed devices listed, valid"
          % len(doc["devices"]))


def check_bench_gradient(tool, work):
    p = run([tool, "--json", "--quick", "--models", "softmax", "--repeats", "3"])
    doc = parse_valid(p.stdout, "hetgrad-bench-gradient-3", "bench_gradient --json")
    if not doc["ok"] or not doc["devices"]:
        fail("bench_gradient: ok %r, devices %r" % (doc["ok"], doc["devices"]))
    for m in doc["models"]:
        wide = [check_timing(c, 3, doc["spread_limit"], "bench_gradient") for c in m["configs"]]
        if any(wide) and not m["timing_wide"]:
            fail("bench_gradient: %s: a configuration is wide, timing_wide is false" % m["model"])
    for name in doc["devices"]:
        odd_name(name, "device name")
    # each model's devices: indices into devices, one per solo configuration, named by it
    for m in doc["models"]:
        solos = [c["name"] for c in m["configs"] if c["name"].startswith("solo:")]
        if len(m["devices"]) != len(solos) or \
                not all(0 <= k < len(doc["devices"]) for k in m["devices"]):
            fail("bench_gradient: %s: devices %r, solo configurations %r, devices %r"
                 % (m["model"], m["devices"], solos, doc["devices"]))
        for k, name in zip(m["devices"], solos):
            if name != "solo:" + doc["devices"][k] and \
                    not name.startswith("solo:" + doc["devices"][k] + "#"):
                fail("bench_gradient: %s: %s computes on %r" % (m["model"], name,
                                                                doc["devices"][k]))
    # the roofs: measured at the start and at the end, the better of the two used, and
    # roofs_steady true exactly when every roof used (the host's read bandwidth, the better
    # of its two kinds of page; each peak; each device's own memory) agrees within 10%
    at = doc["roofs_measured"]
    if [r["at"] for r in at] != ["start", "end"]:
        fail("bench_gradient: roofs measured at %r" % [r["at"] for r in at])
    pairs = []  # (what, at the start, at the end, the value used): each pair's agreement
    for key in ("read_gbs_default_pages", "read_gbs_huge_pages"):
        if doc[key] != max(at[0][key], at[1][key]):
            fail("bench_gradient: %s %r, measured %r and %r" % (key, doc[key], at[0][key],
                                                                at[1][key]))
    host = [max(r["read_gbs_default_pages"], r["read_gbs_huge_pages"]) for r in at]
    pairs.append(("read_gbs", host[0], host[1], doc["read_gbs"]))
    for d in range(len(doc["devices"])):
        pairs.append(("peak_gflops[%d]" % d, at[0]["peak_gflops"][d], at[1]["peak_gflops"][d],
                      doc["peak_gflops"][d]))
        own = max(at[0]["own_mem_gbs"][d], at[1]["own_mem_gbs"][d])
        pairs.append(("own_mem_gbs[%d]" % d, at[0]["own_mem_gbs"][d], at[1]["own_mem_gbs"][d],
                      own))
        if doc["mem_gbs"][d] != (own if own > 0 else doc["read_gbs"]):
            fail("bench_gradient: mem_gbs[%d] %r: own %r, read_gbs %r"
                 % (d, doc["mem_gbs"][d], own, doc["read_gbs"]))
    steady = True
    for key, a, b, used in pairs:
        if used != max(a, b):
            fail("bench_gradient: %s %r, measured %r at the start and %r at the end"
                 % (key, used, a, b))
        if a > 0 and b > 0 and min(a, b) < 0.9 * max(a, b):
            steady = False
    if doc["peak_gflops"] and not all(p > 0 for p in doc["peak_gflops"]):
        fail("bench_gradient: a peak not measured: %r" % doc["peak_gflops"])
    if doc["roofs_steady"] != steady:
        fail("bench_gradient: roofs_steady %r, the pairs %r" % (doc["roofs_steady"], pairs))
    print("bench_gradient: valid; %d device names intact; roofs at start and end, steady %r"
          % (len(doc["devices"]), steady))


def check_bench_train(tool, work):
    p = run([tool, "--json", "--rows", "512", "--epochs", "1"], ok_codes=(0, 1))
    doc = parse_valid(p.stdout, "hetgrad-bench-train-1", "bench_train --json")
    if not doc["devices"]:
        fail("bench_train: no device")
    for name in doc["devices"]:
        odd_name(name, "device name")
    got = [(c["model"], c["optimizer"]) for c in doc["configs"]]
    want = [("softmax", "sgd"), ("softmax", "adam"), ("mlp", "sgd"), ("mlp", "adam")]
    if got != want or doc["rows"] != 512 or doc["steps_per_epoch"] != 4:
        fail("bench_train: configs %r, rows %r, steps per epoch %r"
             % (got, doc["rows"], doc["steps_per_epoch"]))
    tol = doc["loss_tolerance"]
    for c in doc["configs"]:
        what = "%s %s" % (c["model"], c["optimizer"])
        h, o = c["hetgrad"], c["openblas"]
        for way, w in (("hetgrad", h), ("openblas", o)):
            if not (w["rows_per_s"] or 0) > 0 or not (w["step_ms"] or 0) > 0:
                fail("%s %s: rows/s %r, step %r ms" % (what, way, w["rows_per_s"], w["step_ms"]))
            if w["final_loss"] is None or not 0 < w["final_loss"] < 10:
                fail("%s %s: final loss %r" % (what, way, w["final_loss"]))
        if o["shares"] is not None or o["device_ms"] is not None:
            fail("%s: openblas has device figures: %r" % (what, o))
        if h["shares"] is None or abs(sum(h["shares"]) - 1) > 1e-9:
            fail("%s: hetgrad's device shares %r do not add up to 1" % (what, h["shares"]))
        diff = abs(h["final_loss"] - o["final_loss"]) / o["final_loss"]
        if not (c["grad_rel_diff"] <= doc["grad_tolerance"]
                and c["update_rel_diff"] <= doc["update_tolerance"]):
            fail("%s: first gradients differ by %r (tolerance %r), optimizer updates by %r "
                 "(tolerance %r)" % (what, c["grad_rel_diff"], doc["grad_tolerance"],
                                     c["update_rel_diff"], doc["update_tolerance"]))
        if diff > tol or not c["agree"]:
            fail("%s: final loss hetgrad %r, openblas %r: relative difference %.3g (tolerance "
                 "%g), agree %r" % (what, h["final_loss"], o["final_loss"], diff, tol,
                                    c["agree"]))
        print("bench_train: %s: final losses %.6f and %.6f agree (%.1e)"
              % (what, h["final_loss"], o["final_loss"], diff))
    if not doc["ok"] or p.returncode != 0:
        fail("bench_train: ok %r, exit status %d" % (doc["ok"], p.returncode))
    print("bench_train: valid; %d device names intact" % len(doc["devices"]))


def check_bench_starpu(tool, work):
    cmd = [tool, "--json", "--quick", "--mix", "pair",
           "--starpu-home", os.path.join(work, "starpu-home")]
    # Odd names longer than StarPU 1.3 can take: a clear refusal.  The prefix
    # twice (78 bytes) makes them long on every machine: once, with a short
    # driver name ("basic-haswell-AMD EPYC", 61 bytes in all), they fitted.
    env = dict(os.environ, HG_ODD_NAMES_REPEAT="2")
    p = run(cmd, env=env, ok_codes=(3,))
    doc = parse_valid(p.stdout, "hetgrad-bench-starpu-1", "bench_starpu --json, odd names")
    if doc["ok"] or doc["mixes"] or b"aborts on OpenCL device names" not in p.stderr:
        fail("bench_starpu with odd names: ok %r, %d mixes, stderr:\n%s"
             % (doc["ok"], len(doc["mixes"]), p.stderr.decode("utf-8", "replace")))
    print("bench_starpu with device names StarPU cannot take: refused, exit 3, valid")
    env = dict(os.environ)
    env.pop("OPENCL_LAYERS", None)
    p = run(cmd, env=env)
    doc = parse_valid(p.stdout, "hetgrad-bench-starpu-1", "bench_starpu --json")
    if not doc["ok"] or [m["mix"] for m in doc["mixes"]] != ["pair"]:
        fail("bench_starpu: ok %r, mixes %r" % (doc["ok"], [m["mix"] for m in doc["mixes"]]))
    devices = doc["mixes"][0]["devices"]
    if len(devices) != 2:
        fail("bench_starpu: the pair mix has %d devices" % len(devices))
    for d in devices:
        if d["starpu_kernel"] != d["hetgrad_kernel"]:
            fail("%r: StarPU ran %r, hetgrad %r" % (d["name"], d["starpu_kernel"],
                                                    d["hetgrad_kernel"]))
    for k in doc["mixes"][0]["kinds"]:
        if [c["name"] for c in k["configs"]] != ["hetgrad-model", "hetgrad-dynamic",
                                                 "starpu-dmda", "starpu-eager"]:
            fail("%s: configs %r" % (k["name"], [c["name"] for c in k["configs"]]))
    print("bench_starpu: valid; %d devices, the same kernels in both systems" % len(devices))


CHECKS = {
    "probe": check_probe,
    "train": check_train,
    "bench": check_bench,
    "bench-apart": check_bench_apart,
    "bench-startup": check_bench_startup,
    "bench-gradient": check_bench_gradient,
    "bench-train": check_bench_train,
    "bench-starpu": check_bench_starpu,
}


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in CHECKS:
        print("usage: json_check.py {%s} TOOL WORKDIR" % ",".join(CHECKS))
        return 2
    if not os.environ.get("OPENCL_LAYERS"):
        fail("OPENCL_LAYERS is not set: the odd-names layer is what this test is about")
    CHECKS[sys.argv[1]](sys.argv[2], sys.argv[3])
    return 0


if __name__ == "__main__":
    sys.exit(main())
