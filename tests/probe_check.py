#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""probe_check.py CHECK PROBE - tests of the hetgrad-probe tool.

Checks (each a CTest test):
  clinfo          --json --all-devices agrees with `clinfo --raw`: same devices per
                  platform, same names, compute units and global memory.
  schema          the JSON has the documented keys and types (docs/probe-json.md);
                  --check reports a passing self-test on every device.
  table           the default table, -l tree, --all-devices listing, and
                  --profile's figures in the table and in the -l tree.
  no-platforms    an empty vendor directory and one with broken .icd files:
                  a clear message, exit 0, valid empty JSON.
  bad-selection   HETGRAD_DEVICES errors and empty selections; bad arguments;
                  clinfo's flags (-a is clinfo's --all-props: not the probe's).
  platform-order  the same drivers listed by the loader in another order give
                  the same devices, in the same order, with the same ids.
Standard library only.
"""
import collections
import json
import os
import re
import subprocess
import sys

import lsan_rerun  # tests/lsan_rerun.py: LeakSanitizer's tracer crash

PROBE = None


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def run(args, env_update=None, expect_rc=0):
    env = dict(os.environ)
    if env_update:
        env.update(env_update)
    p = lsan_rerun.run([PROBE] + args, env=env, capture_output=True, text=True, timeout=500)
    if expect_rc is not None and p.returncode != expect_rc:
        fail("%s exited %d (wanted %d)\nstdout:\n%s\nstderr:\n%s"
             % (args, p.returncode, expect_rc, p.stdout, p.stderr))
    return p


def probe_json(args, env_update=None):
    p = run(["--json"] + args, env_update)
    try:
        return json.loads(p.stdout)
    except json.JSONDecodeError as e:
        fail("invalid JSON from %s: %s\n%s" % (args, e, p.stdout))


def expected_names():
    """HG_TEST_EXPECT's entries: one per device of the test set (tests/test_expect.h)."""
    return [w for w in os.environ["HG_TEST_EXPECT"].split(",") if w]


def expect_matches(entry, device):
    """True when device (a JSON device) is the one entry describes: "platform:TEXT"
    names its platform, any other entry its name; ASCII case is ignored."""
    if entry.lower().startswith("platform:"):
        return entry[len("platform:"):].lower() in device["platform"].lower()
    return entry.lower() in device["name"].lower()


def clinfo_devices():
    """{platform name: Counter((device name, compute units, global mem))}."""
    out = subprocess.run([os.environ.get("HG_CLINFO", "clinfo"), "--raw"],
                         capture_output=True, text=True, timeout=300).stdout
    plat_names = {}
    devs = collections.defaultdict(dict)
    for line in out.splitlines():
        m = re.match(r"\s*\[([^/\]]+)/([^\]]+)\]\s+(CL_\w+)\s+(.*)$", line)
        if not m:
            continue
        pfx, idx, key, val = m.group(1), m.group(2), m.group(3), m.group(4).strip()
        if idx == "*":
            if key == "CL_PLATFORM_NAME":
                plat_names[pfx] = val
            continue
        if key in ("CL_DEVICE_NAME", "CL_DEVICE_MAX_COMPUTE_UNITS", "CL_DEVICE_GLOBAL_MEM_SIZE"):
            devs[(pfx, idx)][key] = val
    result = collections.defaultdict(collections.Counter)
    for (pfx, _), d in devs.items():
        result[plat_names[pfx]][(d["CL_DEVICE_NAME"], int(d["CL_DEVICE_MAX_COMPUTE_UNITS"]),
                                 int(d["CL_DEVICE_GLOBAL_MEM_SIZE"]))] += 1
    return result


def check_clinfo():
    ours = probe_json(["--all-devices"])
    theirs = clinfo_devices()
    mine = collections.defaultdict(collections.Counter)
    for d in ours["devices"]:
        mine[d["platform"]][(d["name"], d["compute_units"], d["global_mem_bytes"])] += 1
    if dict(mine) != dict(theirs):
        fail("probe and clinfo disagree:\nprobe:  %s\nclinfo: %s" % (dict(mine), dict(theirs)))
    if len(ours["platforms"]) != len(theirs):
        fail("platform count: probe %d, clinfo %d" % (len(ours["platforms"]), len(theirs)))
    n = sum(sum(c.values()) for c in theirs.values())
    if n != len(expected_names()):
        fail("clinfo sees %d devices, the test set expects %d" % (n, len(expected_names())))
    print("probe and clinfo agree on %d devices in %d platforms" % (n, len(theirs)))


DEVICE_KEYS = {
    "id": str, "index": int, "platform_index": int, "platform": str, "name": str,
    "vendor": str, "vendor_id": int, "type": str, "cl_type": str, "available": bool,
    "driver_version": str, "opencl_version": str, "opencl_c_version": str,
    "compute_units": int, "max_clock_mhz": int, "global_mem_bytes": int,
    "global_mem_cache_bytes": int, "local_mem_bytes": int, "constant_mem_bytes": int,
    "max_alloc_bytes": int, "max_work_group_size": int, "profiling_resolution_ns": int,
    "host_unified_memory": bool, "compiler_available": bool, "linker_available": bool,
    "fp64": bool, "fp16": bool, "pci_bus": (str, type(None)), "pci_source": (str, type(None)),
    "uuid": (str, type(None)), "failed_properties": list, "selected": bool, "kept": bool,
    "duplicate_of": (str, type(None)), "reason": str,
}
PLATFORM_KEYS = {"index": int, "name": str, "vendor": str, "version": str, "profile": str,
                 "device_count": int, "status": str, "error": (str, type(None))}


def check_keys(obj, keys, what):
    for k, t in keys.items():
        if k not in obj:
            fail("%s lacks key %r" % (what, k))
        if not isinstance(obj[k], t) or (t is int and isinstance(obj[k], bool)):
            fail("%s key %r has type %s" % (what, k, type(obj[k]).__name__))


def check_schema():
    full = probe_json(["--all-devices"])
    kept = probe_json([])
    for doc in (full, kept):
        if doc.get("schema") != "hetgrad-probe/1":
            fail("schema is %r" % doc.get("schema"))
        for p in doc["platforms"]:
            check_keys(p, PLATFORM_KEYS, "platform")
        for d in doc["devices"]:
            check_keys(d, DEVICE_KEYS, "device %s" % d.get("name"))
            if d["type"] not in ("cpu", "gpu", "accelerator", "custom"):
                fail("bad type %r" % d["type"])
            if not re.fullmatch(r"hg-[0-9a-f]{16}", d["id"]):
                fail("bad id %r" % d["id"])
            if d["failed_properties"]:
                fail("%s: failed properties %s" % (d["name"], d["failed_properties"]))
            if not d["reason"]:
                fail("%s has no reason" % d["name"])
    s = full["summary"]
    if s["devices"] != len(full["devices"]) or s["listed"] != len(full["devices"]):
        fail("--all-devices lists %d of %d devices" % (len(full["devices"]), s["devices"]))
    if len(kept["devices"]) != s["kept"] or not all(d["kept"] for d in kept["devices"]):
        fail("default listing is not exactly the kept devices")
    ids = {d["id"] for d in full["devices"]}
    for d in full["devices"]:
        if not d["kept"]:
            if d["duplicate_of"] not in ids:
                fail("%s set aside without naming what it duplicates" % d["name"])
    names = [(d["platform"], d["name"]) for d in full["devices"]]
    for w in expected_names():
        if sum(expect_matches(w, d) for d in full["devices"]) != 1:
            fail("expected device %r not listed exactly once in %s" % (w, names))
    cpu = [d for d in full["devices"] if d["type"] == "cpu"]
    if len(cpu) >= 2 and sum(d["kept"] for d in cpu) != 1:
        fail("de-duplication should keep exactly one CPU view")
    for d in full["devices"]:
        if "oclgrind" in d["name"].lower() and d["type"] != "accelerator":
            fail("Oclgrind classified as %s" % d["type"])
    checked = probe_json(["--all-devices", "--check"])
    for d in checked["devices"]:
        st = d.get("selftest")
        if not st or not st["passed"]:
            fail("self-test on %s: %s" % (d["name"], st))
    print("schema ok; self-test passed on %d devices" % len(checked["devices"]))


def check_table():
    doc = probe_json(["--all-devices"])
    out = run([]).stdout
    for label in ("Platform #0", "Global memory", "Compute units", "Max allocation",
                  "Compiler available", "PCI bus", "hetgrad"):
        if label not in out:
            fail("table lacks %r:\n%s" % (label, out))
    for d in doc["devices"]:
        if d["kept"] and d["name"] not in out:
            fail("table lacks device %s" % d["name"])
        if not d["kept"] and ("Device #%d " % d["index"]) in out:
            fail("table lists set-aside device %s without --all-devices" % d["name"])
    tree = run(["-l", "--all-devices"]).stdout
    for d in doc["devices"]:
        if d["name"] not in tree or d["id"] not in tree:
            fail("tree lacks %s" % d["name"])
    if any(not d["kept"] for d in doc["devices"]) and "set aside" not in tree:
        fail("tree does not mark set-aside devices:\n" + tree)
    for p in doc["platforms"]:
        if "Platform #%d: %s" % (p["index"], p["name"]) not in tree:
            fail("tree lacks platform %s" % p["name"])
    print(tree)
    # --profile: the calibration's figures, in the table and in the -l tree.
    for args, want in ((["--profile"], ("Profile (softmax 784x10)", "Kernel")),
                       (["-l", "--profile"], ("profile (softmax 784x10): fixed", "kernel: "))):
        out = run(args + ["--devices", "pthread"]).stdout
        for w in want:
            if w not in out:
                fail("%s lacks %r:\n%s" % (args, w, out))
    print("--profile shows in the table and in the -l tree")


def check_no_platforms():
    root = os.environ["HG_ICD_ROOT"]
    for sub in ("empty", "not-an-icd"):
        env = {"OCL_ICD_VENDORS": os.path.join(root, sub)}
        p = run([], env)
        if "No OpenCL platform found" not in p.stdout:
            fail("%s: no clear message:\n%s" % (sub, p.stdout))
        run(["-l"], env)
        doc = probe_json(["--all-devices", "--check"], env)
        if doc["platforms"] or doc["devices"] or doc["summary"]["devices"] != 0:
            fail("%s: expected an empty listing: %s" % (sub, doc))
    print("empty and broken vendor directories give an empty listing, exit 0")


def check_bad_selection():
    p = run([], {"HETGRAD_DEVICES": "cpu,bogus"}, expect_rc=3)
    if "bogus" not in p.stderr or "HG_BAD_SELECTION" not in p.stderr:
        fail("unclear selection error: %s" % p.stderr)
    p = run(["--json"], {"HETGRAD_DEVICES": "cpu,,gpu"}, expect_rc=3)
    if "empty term" not in p.stderr:
        fail("unclear empty-term error: %s" % p.stderr)
    p = run([], {"HETGRAD_DEVICES": "gpu"})
    if "No device is selected" not in p.stdout:
        fail("empty selection not explained:\n%s" % p.stdout)
    doc = probe_json(["--devices", "basic"])
    if [d["name"].split("-")[0] for d in doc["devices"]] != ["basic"]:
        fail("--devices basic listed %s" % [d["name"] for d in doc["devices"]])
    doc = probe_json(["--keep-duplicates"])
    if len(doc["devices"]) != len(expected_names()):
        fail("--keep-duplicates lists %d devices" % len(doc["devices"]))
    run(["--frobnicate"], expect_rc=2)
    run(["-l", "--json"], expect_rc=2)
    run(["--devices"], expect_rc=2)
    # clinfo's flags: -l and --json mean what they mean there; -a is clinfo's
    # --all-props, so it is not the probe's "all devices" (--all-devices, --all).
    p = run(["-a"], expect_rc=2)
    if "unknown option -a" not in p.stderr:
        fail("-a: %s" % p.stderr)
    full = probe_json(["--all-devices"])
    alias = probe_json(["--all"])
    if [d["id"] for d in full["devices"]] != [d["id"] for d in alias["devices"]]:
        fail("--all and --all-devices list different devices")
    print("selection errors are clear")


def check_platform_order():
    root = os.environ["HG_ICD_ROOT"]
    a = probe_json(["--all-devices"], {"OCL_ICD_VENDORS": os.path.join(root, "pocl+oclgrind")})
    b = probe_json(["--all-devices"], {"OCL_ICD_VENDORS": os.path.join(root, "reversed")})
    ka = [(d["id"], d["name"], d["kept"]) for d in a["devices"]]
    kb = [(d["id"], d["name"], d["kept"]) for d in b["devices"]]
    if ka != kb:
        fail("device order or ids depend on the loader's order:\n%s\n%s" % (ka, kb))
    print("same ids and order: %s" % ka)


def main():
    global PROBE
    if len(sys.argv) != 3:
        print(__doc__)
        sys.exit(2)
    PROBE = sys.argv[2]
    checks = {"clinfo": check_clinfo, "schema": check_schema, "table": check_table,
              "no-platforms": check_no_platforms, "bad-selection": check_bad_selection,
              "platform-order": check_platform_order}
    checks[sys.argv[1]]()


if __name__ == "__main__":
    main()
