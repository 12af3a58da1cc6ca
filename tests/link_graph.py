#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""link_graph.py - fail when the library's source files depend on each other in a cycle,
or when the scheduler (src/sched/) is not pure.

Usage: link_graph.py NM SOURCE_DIR OBJECTS [OBJECTS ...]

OBJECTS: object files, or comma-separated lists of them (CMake passes each library's
$<TARGET_OBJECTS>, so objects of files no longer built are not looked at), or
directories searched for *.o.  Every object file is one node: the source file it was
compiled from.  File A depends on file B when A references a symbol B defines (from
`nm`: an undefined symbol in A, a defined text/data/bss/read-only symbol in B).  A
strongly connected component of more than one file (or a file that is its own
dependency through others) is a cycle: the files in it cannot be understood, tested or
linked one without the other, and src/ is layered so that none exists (docs/engine.md,
"Layers").  The MPI layer's objects (src/mpi) count too: a symbol defined in both
libraries (the shared scheduler objects, error.c's copy of hg__error_set) is resolved
inside the object's own library first.

The scheduler is pure (docs/engine.md, "The scheduler"): its files include neither
engine_internal.h nor clutil.h nor an OpenCL header, reference no OpenCL function (cl*),
and use nothing of the other source files but hg__error_set and hg_error_clear.  Files
outside it use the scheduler only through its interface (SCHED_API below): sched.h's
hg__sched_*, the models of costmodel.h (hg__cost_*) and corun.h (hg__corun_*, the
co-run model joint calibration fits) and, for calibration's what-if splits, planner.h's
hg__plan_affine; the balancer, the partition and the rest are the scheduler's own, so the
engine and the MPI ranks plan through one policy interface.

The folders of src/ are layers (README.md, "Layout"; docs/engine.md, "Layers"): a file
may use only the folders its own folder is allowed (FOLDER_USES below): util/ nothing;
device/, data/ and sched/ util/; model/ util/ and data/; calib/ and exec/ every folder
but mpi/ (the engine's API in exec/engine.c calibrates, and calibration runs steps);
mpi/ everything.

Exit status: 0 with no cycle and a pure scheduler, 1 with the faults listed, 2 on bad
usage or no objects.
"""
import os
import re
import subprocess
import sys

PURE = "src/sched/"
SCHED_API = re.compile(r"hg__sched_|hg__cost_|hg__corun_|hg__plan_affine$")
FOLDER_USES = {
    "util": set(),
    "device": {"util"},
    "data": {"util"},
    "sched": {"util"},
    "model": {"util", "data"},
    "calib": {"util", "device", "data", "sched", "model", "exec"},
    "exec": {"util", "device", "data", "sched", "model", "calib"},
    "mpi": {"util", "device", "data", "sched", "model", "calib", "exec"},
}
PURE_MAY_USE = {"hg__error_set", "hg_error_clear"}
PURE_MAY_NOT_INCLUDE = re.compile(r'#\s*include\s*[<"](engine_internal\.h|clutil\.h|CL/[^>"]*)[>"]')


def objects(args):
    found = []
    for arg in args:
        for d in (p for p in arg.split(",") if p):
            if os.path.isfile(d):
                found.append(d)
                continue
            for root, _, files in os.walk(d):
                for f in files:
                    if f.endswith(".o"):
                        found.append(os.path.join(root, f))
    return sorted(set(found))


def node_name(path):
    """'.../hetgrad_objects.dir/src/exec/engine.c.o' -> 'src/exec/engine.c'."""
    p = path.replace(os.sep, "/")
    k = p.find(".dir/")
    name = p[k + 5:] if k >= 0 else os.path.basename(p)
    return name[:-2] if name.endswith(".o") else name


def library_of(path):
    """The object library (CMake target directory) an object belongs to."""
    p = path.replace(os.sep, "/")
    k = p.find(".dir/")
    return os.path.basename(p[:k]) if k >= 0 else ""


def symbols(nm, path):
    out = subprocess.run([nm, "-P", path], check=True, capture_output=True,
                         text=True).stdout
    defined, undefined = set(), set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue
        name, kind = parts[0], parts[1]
        if kind == "U":
            undefined.add(name)
        elif kind in "TDBRVWGSC":  # global definitions (lower case: file-local)
            defined.add(name)
    return defined, undefined


def sccs(graph):
    """Tarjan's strongly connected components, iteratively."""
    index, low, on, stack, out = {}, {}, set(), [], []
    counter = [0]
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            advanced = False
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                    advanced = True
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                out.append(sorted(comp))
    return out


def impure_includes(src):
    """Lines of src/sched/ files that include what the scheduler must not."""
    faults = []
    top = os.path.join(src, PURE)
    for root, _, files in os.walk(top):
        for f in sorted(files):
            if not f.endswith((".c", ".h")):
                continue
            path = os.path.join(root, f)
            with open(path, encoding="utf-8") as fh:
                for n, line in enumerate(fh, 1):
                    if PURE_MAY_NOT_INCLUDE.search(line):
                        rel = os.path.relpath(path, src).replace(os.sep, "/")
                        faults.append("%s:%d: %s" % (rel, n, line.strip()))
    return faults


def folder(name):
    """'src/exec/engine.c' -> 'exec'; None for a file directly in src/ or elsewhere.
    src/mpi/error.c is the MPI library's copy of util/status.c's error helpers, so it
    counts as util/ (the shared objects of sched/ and util/sized.c resolve to it there)."""
    if name == "src/mpi/error.c":
        return "util"
    parts = name.split("/")
    return parts[1] if len(parts) > 2 and parts[0] == "src" else None


def layer_faults(graph, why):
    """Print and count the dependencies that go against FOLDER_USES."""
    faults = 0
    for a in sorted(graph):
        fa = folder(a)
        for b in sorted(graph[a]):
            fb = folder(b)
            if fa == fb or fa is None or fb is None:
                continue
            if fa not in FOLDER_USES:
                print("layers: %s is in src/%s/, a folder FOLDER_USES does not know" % (a, fa))
                faults += 1
            elif fb not in FOLDER_USES[fa]:
                print("layers: %s (src/%s/) uses %s from %s (src/%s/): src/%s/ may use %s"
                      % (a, fa, why[(a, b)], b, fb, fa,
                         ", ".join(sorted(FOLDER_USES[fa])) or "no other folder"))
                faults += 1
    return faults


def main(argv):
    if len(argv) < 4:
        print(__doc__.strip().splitlines()[3], file=sys.stderr)
        return 2
    nm, src, dirs = argv[1], argv[2], argv[3:]
    objs = objects(dirs)
    if not objs:
        print("link_graph: no object files under " + ", ".join(dirs), file=sys.stderr)
        return 2
    info = {}
    for o in objs:
        info[o] = symbols(nm, o)
    # symbol -> defining objects, per library and overall
    by_lib, anywhere = {}, {}
    for o, (defs, _) in info.items():
        for s in defs:
            by_lib.setdefault((library_of(o), s), []).append(o)
            anywhere.setdefault(s, []).append(o)
    graph = {node_name(o): set() for o in objs}
    why = {}
    for o, (_, undefs) in info.items():
        a = node_name(o)
        for s in undefs:
            targets = by_lib.get((library_of(o), s)) or anywhere.get(s) or []
            for t in targets:
                b = node_name(t)
                if b != a:
                    graph[a].add(b)
                    why.setdefault((a, b), s)
    faults = 0
    for c in (c for c in sccs(graph) if len(c) > 1):
        faults += 1
        print("cycle among: " + ", ".join(c))
        members = set(c)
        for a in c:
            for b in sorted(graph[a] & members):
                print("  %s -> %s (%s)" % (a, b, why[(a, b)]))

    faults += layer_faults(graph, why)

    pure = [o for o in objs if node_name(o).startswith(PURE)]
    if not pure:
        print("link_graph: no object of %s among the objects" % PURE)
        faults += 1
    for o in pure:
        a = node_name(o)
        for s in sorted(info[o][1]):
            outside = [node_name(t) for t in anywhere.get(s, [])
                       if not node_name(t).startswith(PURE)]
            if re.match(r"cl[A-Z]", s):
                print("impure: %s calls OpenCL (%s)" % (a, s))
                faults += 1
            elif outside and s not in PURE_MAY_USE:
                print("impure: %s uses %s from %s" % (a, s, outside[0]))
                faults += 1
    for o in objs:
        a = node_name(o)
        if a.startswith(PURE):
            continue
        for s in sorted(info[o][1]):
            inside = [node_name(t) for t in anywhere.get(s, []) if node_name(t).startswith(PURE)]
            if inside and not SCHED_API.match(s):
                print("scheduler interface: %s uses %s from %s, not sched.h, costmodel.h, "
                      "corun.h or hg__plan_affine" % (a, s, inside[0]))
                faults += 1
    for line in impure_includes(src):
        print("impure include: " + line)
        faults += 1
    if faults:
        return 1
    print("link_graph: %d files, no dependency cycle, folders in their layers; %s is pure"
          % (len(graph), PURE))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
