#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""check_exports.py - a shared library exports exactly its public API.

    check_exports.py LIBRARY HEADER...

Every symbol LIBRARY defines in its dynamic symbol table must be a function
declared HG_EXTERN in one of the HEADERs, and every HG_EXTERN function of
the HEADERs must be exported: internal functions (hg__ names, static
helpers, the pure modules compiled into the library) stay hidden, and no
public function is forgotten.  Exits 0 when both hold, 1 naming every
difference otherwise.
"""
import re
import subprocess
import sys


def declared(headers):
    names = set()
    for path in headers:
        with open(path, encoding="utf-8") as f:
            # not the preprocessor lines: common.h defines HG_EXTERN itself
            text = "".join(l for l in f if not l.lstrip().startswith("#"))
        # HG_EXTERN <type and qualifiers> name(  -- declarations may span lines
        for m in re.finditer(r"\bHG_EXTERN\b([^;{]*?)\b(\w+)\s*\(", text):
            names.add(m.group(2))
    return names


def exported(library):
    out = subprocess.run(["nm", "-D", "--defined-only", library], check=True,
                         capture_output=True, text=True).stdout
    names = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[1] in "TtDdBbRrVvWwiu":
            names.add(parts[2].split("@")[0])
    # the linker's own symbols, not ours
    return {n for n in names if not n.startswith("_")}


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    library, headers = sys.argv[1], sys.argv[2:]
    want, have = declared(headers), exported(library)
    if not want:
        print(f"check_exports: no HG_EXTERN declaration found in {headers}", file=sys.stderr)
        return 1
    bad = False
    for name in sorted(have - want):
        why = "an internal (hg__) function" if name.startswith("hg__") else \
              "not declared HG_EXTERN in the public headers"
        print(f"check_exports: {library} exports {name}: {why}")
        bad = True
    for name in sorted(want - have):
        print(f"check_exports: {name} is declared HG_EXTERN but {library} does not export it")
        bad = True
    for name in sorted(have & want):
        if not name.startswith("hg_") or name.startswith("hg__"):
            print(f"check_exports: public function {name} lacks the hg_ prefix")
            bad = True
    if not bad:
        print(f"check_exports: {library}: {len(have)} symbols, exactly the public API")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
