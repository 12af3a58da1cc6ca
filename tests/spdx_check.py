#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Every source file of hetgrad carries an SPDX licence line (LICENSE: MIT).

usage: spdx_check.py SOURCE_DIR [--fix]

Source files are C, OpenCL C, headers, Python, shell, CMake, pkg-config and man
page templates, and the other build and test inputs listed in RULES.  Data
(tests/fuzz/corpus, data/), generated ABI dumps, JSON schemas and Markdown
carry no comment syntax of their own and are left out.  With --fix, the line
is added where it is missing (after a #! line).
"""
import os
import sys

TAG = "SPDX-License-Identifier: MIT"
C_LINE = "/* " + TAG + " */\n"
HASH_LINE = "# " + TAG + "\n"
ROFF_LINE = '.\\" ' + TAG + "\n"

SKIP_DIRS = {".git", "data", "corpus", "__pycache__", ".venv"}


def comment_for(rel):
    name = os.path.basename(rel)
    if name.endswith((".c", ".h", ".cl", ".h.in")):
        return C_LINE
    if name.endswith(".1.in"):
        return ROFF_LINE
    if (name.endswith((".py", ".sh", ".cmake", ".pc.in", ".cmake.in", ".toml", ".suppr",
                       ".supp"))
            or name in ("CMakeLists.txt", "requirements.txt") or rel == os.path.join(".ci", "run")):
        return HASH_LINE
    return None


def sources(root):
    for d, dirs, files in os.walk(root):
        rel_d = os.path.relpath(d, root)
        dirs[:] = sorted(x for x in dirs
                         if x not in SKIP_DIRS and not (rel_d == "." and x.startswith("build")))
        for f in sorted(files):
            rel = os.path.normpath(os.path.join(rel_d, f))
            line = comment_for(rel)
            if line:
                yield rel, line


def main():
    if len(sys.argv) < 2:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    root, fix = sys.argv[1], "--fix" in sys.argv[2:]
    missing, checked = [], 0
    for rel, line in sources(root):
        path = os.path.join(root, rel)
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
        checked += 1
        head = text.split("\n", 3)[:3]
        if any(TAG in h for h in head):
            continue
        if not fix:
            missing.append(rel)
            continue
        if text.startswith("#!"):
            first, _, rest = text.partition("\n")
            text = first + "\n" + line + rest
        else:
            text = line + text
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
        print("added:", rel)
    if checked == 0:
        print("spdx_check: no source file found under", root, file=sys.stderr)
        return 1
    for rel in missing:
        print("no SPDX line in the first three lines:", rel)
    print(f"spdx_check: {checked} files checked, {len(missing)} without an SPDX line")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
