#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""abi_check.py - the ABI of a freshly built library against a release's baseline.

    abi_check.py dump LIBRARY OUT.abi HEADER_DIR...
        Write LIBRARY's ABI (public types only) as abidw XML; scripts/abi-baseline.sh
        makes the release baselines with it, the check below the fresh side.

    abi_check.py check BASELINE.abi LIBRARY SUPPRESSIONS WORK_DIR HEADER_DIR...
        Fail (exit 1, naming each problem) on any change docs/abi.md does not allow
        within one SONAME; exit 0 otherwise.

The check is two tools, because neither is enough alone:

  1. abidiff (libabigail), with --no-added-syms and the SUPPRESSIONS file: every
     removed or changed function, every changed type, another SONAME.  New functions
     and new enumerators pass.  The suppressions let the growable structs grow and
     the *_COUNT_ sentinels move -- but libabigail's "data member inserted at end"
     suppression also hides changes to the EXISTING members of those structs (a
     member whose type or offset changed, members reordered), so:
  2. the growth rule, checked here on the two XML files: for every struct the
     suppressions name (type_kind = struct), each member of the baseline must still
     be there with the same name, offset and type, new members may only follow the
     last old one, and the struct may only get larger.

The abidw and abidiff programs are found on PATH, or by $ABIDW / $ABIDIFF.
"""
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

# Only what the exported functions reach, from the public headers, without paths that
# depend on the machine: the baseline changes only when the ABI does.
DUMP_FLAGS = ["--exported-interfaces-only", "--drop-private-types", "--no-corpus-path",
              "--no-comp-dir-path", "--short-locs", "--type-id-style", "hash"]


def tool(name):
    return os.environ.get(name.upper(), name)


def dump(library, out, header_dirs):
    cmd = [tool("abidw")] + DUMP_FLAGS
    for d in header_dirs:
        cmd += ["--headers-dir", d]
    cmd += ["--out-file", out, library]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"abi_check: {' '.join(cmd)} failed ({r.returncode}): {r.stderr}")


# ---- the growth rule ------------------------------------------------------------

def growable_structs(suppressions):
    """Names of the [suppress_type] sections with type_kind = struct."""
    names, section = [], None
    with open(suppressions, encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line.startswith("["):
                if section and section.get("type_kind") == "struct" and "name" in section:
                    names.append(section["name"])
                section = {} if line == "[suppress_type]" else None
            elif section is not None and "=" in line:
                k, v = (s.strip() for s in line.split("=", 1))
                section[k] = v
    if section and section.get("type_kind") == "struct" and "name" in section:
        names.append(section["name"])
    return names


class Corpus:
    """Types of one abidw XML file, by id, and the struct definitions by name."""

    def __init__(self, path):
        self.path = path
        self.by_id = {}
        self.structs = {}
        for el in ET.parse(path).getroot().iter():
            tid = el.get("id")
            if tid and tid not in self.by_id:
                self.by_id[tid] = el
            if el.tag == "class-decl" and el.get("name") and \
                    el.get("is-declaration-only") != "yes" and \
                    el.get("name") not in self.structs:
                self.structs[el.get("name")] = el

    def type_name(self, tid, depth=0):
        el = self.by_id.get(tid)
        if el is None or depth > 20:
            return f"<{tid}>"
        t = el.tag
        if t in ("type-decl", "typedef-decl", "class-decl", "union-decl", "enum-decl"):
            return el.get("name") or f"<anonymous {t}>"
        inner = self.type_name(el.get("type-id"), depth + 1)
        if t == "pointer-type-def":
            return inner + "*"
        if t == "qualified-type-def":
            quals = [q for q in ("const", "volatile", "restrict") if el.get(q) == "yes"]
            return " ".join(quals + [inner])
        if t == "array-type-def":
            dims = "".join(f"[{s.get('length')}]" for s in el.findall("subrange"))
            return inner + dims
        if t == "function-type":
            return f"function returning {self.type_name(el.find('return').get('type-id'))}" \
                if el.find("return") is not None else "function"
        return f"<{t}>"

    def members(self, struct):
        out = []
        for dm in struct.findall("data-member"):
            var = dm.find("var-decl")
            out.append((var.get("name"), int(dm.get("layout-offset-in-bits", "0")),
                        self.type_name(var.get("type-id"))))
        return out


def growth_problems(baseline, fresh, names):
    problems, checked = [], 0
    for name in names:
        old = baseline.structs.get(name)
        new = fresh.structs.get(name)
        if old is None:
            if new is not None:
                problems.append(f"{name}: not in the baseline {baseline.path}")
            continue  # a struct of the other library (libhetgrad / libhetgrad_mpi)
        checked += 1
        if new is None:
            problems.append(f"{name}: gone from the library (or the library has no debug "
                            "info: build it with -g)")
            continue
        om, nm = baseline.members(old), fresh.members(new)
        for i, m in enumerate(om):
            if i >= len(nm) or nm[i] != m:
                got = nm[i] if i < len(nm) else "nothing"
                problems.append(f"{name}: member {i} was {m} (name, bit offset, type), "
                                f"is now {got}: existing members must not change")
                break
        else:
            last = om[-1][1] if om else -1
            for m in nm[len(om):]:
                if m[1] <= last:
                    problems.append(f"{name}: new member {m} is not after the old ones")
        osize, nsize = int(old.get("size-in-bits", "0")), int(new.get("size-in-bits", "0"))
        if nsize < osize:
            problems.append(f"{name}: shrank from {osize} to {nsize} bits")
    if checked == 0:
        problems.append(f"none of the growable structs {names} is in {baseline.path}")
    return problems, checked


# ---- abidiff --------------------------------------------------------------------

def run_abidiff(baseline, fresh_abi, suppressions):
    cmd = [tool("abidiff"), "--no-added-syms", "--suppressions", suppressions,
           baseline, fresh_abi]
    r = subprocess.run(cmd, capture_output=True, text=True)
    print("$ " + " ".join(cmd))
    sys.stdout.write(r.stdout + r.stderr)
    rc = r.returncode
    # abidiff(1): the exit status is a bit field: 1 error, 2 usage error,
    # 4 the ABIs differ, 8 the difference is known to be incompatible.
    if rc == 0:
        return []
    if rc < 0 or rc >= 16:
        return [f"abidiff exited with {rc}, which abidiff(1) does not define"]
    why = []
    if rc & 1:
        why.append("abidiff failed to compare")
    if rc & 2:
        why.append("abidiff was called wrongly")
    if rc & 8:
        why.append("the ABI changed INCOMPATIBLY (a function removed or another SONAME)")
    elif rc & 4:
        why.append("the ABI changed in a way docs/abi.md does not allow within one SONAME "
                   "(see abidiff's report above)")
    return [f"abidiff exit status {rc}: " + "; ".join(why)]


def check(baseline, library, suppressions, work, header_dirs):
    os.makedirs(work, exist_ok=True)
    fresh_abi = os.path.join(work, os.path.basename(library) + ".abi")
    dump(library, fresh_abi, header_dirs)
    problems = run_abidiff(baseline, fresh_abi, suppressions)
    names = growable_structs(suppressions)
    grown, checked = growth_problems(Corpus(baseline), Corpus(fresh_abi), names)
    problems += grown
    if problems:
        for p in problems:
            print("abi_check: " + p)
        print("abi_check: if the change is intended: a field appended to a growable struct "
              "needs the struct listed in abi/hetgrad.suppr; an incompatible change needs "
              "HG_ABI_VERSION + 1 in CMakeLists.txt and a new baseline "
              "(sh scripts/abi-baseline.sh); see docs/abi.md")
        return 1
    print(f"abi_check: {library} keeps the ABI of {baseline} "
          f"({checked} growable structs checked member by member)")
    return 0


def main(argv):
    if len(argv) >= 4 and argv[1] == "dump":
        dump(argv[2], argv[3], argv[4:])
        return 0
    if len(argv) >= 6 and argv[1] == "check":
        return check(argv[2], argv[3], argv[4], argv[5], argv[6:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
