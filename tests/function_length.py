#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""function_length.py - fail when a function in src/ is longer than the limit.

Usage: function_length.py SOURCE_DIR [LIMIT]

The project's style (README.md, "How we work"; issue 11): no function in src/ over
about 150 lines.  A function is a body that opens with "{" in column 0 and closes with
"}" in column 0 (the style every file of src/ follows); its length is the number of
lines from the opening brace to the closing one.  Its name is taken from the
signature's line that holds the "(" nearest above the brace.

Exit status: 0 when every function is within LIMIT (default 150) lines, 1 with the long
ones listed (file:line name length), 2 on bad usage.
"""
import os
import re
import sys

NAME = re.compile(r"([A-Za-z_][A-Za-z_0-9]*)\s*\(")


def functions(path):
    """(line of the opening brace, name, length) of every function in path."""
    out = []
    with open(path, encoding="utf-8") as fh:
        lines = fh.read().split("\n")
    start, name = None, "?"
    for n, line in enumerate(lines, 1):
        if line.startswith("{") and start is None:
            start, name = n, "?"
            for back in range(n - 2, max(n - 8, -1), -1):
                m = NAME.search(lines[back])
                if m and not lines[back].startswith((" ", "\t")):
                    name = m.group(1)
                    break
        elif line.startswith("}") and start is not None:
            out.append((start, name, n - start))
            start = None
    return out


def main(argv):
    if len(argv) not in (2, 3):
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    src, limit = argv[1], int(argv[2]) if len(argv) == 3 else 150
    long_ones, count = [], 0
    for root, _, files in os.walk(src):
        for f in sorted(files):
            if not f.endswith(".c"):
                continue
            path = os.path.join(root, f)
            for line, name, length in functions(path):
                count += 1
                if length > limit:
                    rel = os.path.relpath(path, os.path.dirname(src.rstrip("/")))
                    long_ones.append("%s:%d: %s is %d lines" % (rel, line, name, length))
    for msg in sorted(long_ones):
        print(msg)
    if long_ones:
        print("function_length: %d of %d functions over %d lines" % (len(long_ones), count, limit))
        return 1
    if count == 0:
        print("function_length: no function found under %s" % src)
        return 1
    print("function_length: %d functions, none over %d lines" % (count, limit))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
