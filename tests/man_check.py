#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""man_check.py NAME BINARY PAGE - a tool's man page renders and matches its --help.

  - `man --warnings -l PAGE` exits 0, prints the page, and groff warns of nothing;
  - the page has NAME (naming the tool), SYNOPSIS, DESCRIPTION, OPTIONS,
    ENVIRONMENT and EXIT STATUS, and its footer carries the tool's version;
  - the options the page describes (the .TP items of OPTIONS) are exactly the
    options --help lists, long names and letters;
  - the exit statuses the page describes are exactly those --help lists;
  - every environment variable --help lists is described under ENVIRONMENT.
So the page and the option table in the C source cannot drift apart.
Standard library only.
"""
import os
import re
import subprocess
import sys

NAME, BINARY, PAGE = sys.argv[1:4]


def fail(msg):
    print("FAIL: %s: %s" % (NAME, msg))
    sys.exit(1)


# ---- the page, rendered ----
env = dict(os.environ, MANWIDTH="80", MANPAGER="cat", PAGER="cat", LC_ALL="C.UTF-8")
p = subprocess.run(["man", "--warnings", "-l", PAGE], capture_output=True, text=True,
                   env=env, timeout=120)
if p.returncode != 0 or not p.stdout.strip():
    fail("man -l exited %d with %d characters:\n%s" % (p.returncode, len(p.stdout), p.stderr))
if p.stderr.strip():
    fail("groff warnings:\n%s" % p.stderr)
text = p.stdout
sections = re.findall(r"^([A-Z][A-Z ]+)$", text, re.M)
for want in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "ENVIRONMENT", "EXIT STATUS"):
    if want not in sections:
        fail("no %s section (sections: %s)" % (want, sections))
name_body = text.split("\nNAME\n", 1)[1].split("\n\n", 1)[0]
if not " ".join(name_body.split()).startswith(NAME + " - "):
    fail("the NAME section does not name %s: %r" % (NAME, name_body))
version = subprocess.run([BINARY, "--version"], capture_output=True, text=True).stdout.split()[-1]
footer = [line for line in text.splitlines() if line.strip()][-1]
if ("hetgrad " + version) not in footer:
    fail("footer %r lacks 'hetgrad %s'" % (footer, version))

# ---- the page's source: .TP items per section ----
roff = open(PAGE).read().splitlines()


def unescape(line):
    line = re.sub(r"\\f[BIRP]", "", line)
    return line.replace("\\-", "-").replace('"', " ")


def tp_tags(section):
    """The tag line of every .TP item in .SH section (its .SS subsections too)."""
    tags, inside = [], False
    for i, line in enumerate(roff):
        if line.startswith(".SH"):
            inside = line[3:].strip().strip('"') == section
        elif inside and line.startswith(".TP") and i + 1 < len(roff):
            tags.append(unescape(roff[i + 1]))
    return tags


OPTION = re.compile(r"(?<![\w-])(--[a-z0-9][a-z0-9-]*|-[A-Za-z])(?![\w-])")
page_options = set()
for tag in tp_tags("OPTIONS"):
    found = OPTION.findall(tag)
    if not found:
        fail("an OPTIONS item names no option: %r" % tag)
    page_options.update(found)
page_exits = set()
for tag in tp_tags("EXIT STATUS"):
    m = re.fullmatch(r"\.B\s+(\d+)\s*", tag)
    if not m:
        fail("an EXIT STATUS item is not '.B CODE': %r" % tag)
    page_exits.add(int(m.group(1)))
page_env = set(re.sub(r"^\.B\s+", "", t).strip() for t in tp_tags("ENVIRONMENT"))

# ---- --help ----
h = subprocess.run([BINARY, "--help"], capture_output=True, text=True)
if h.returncode != 0:
    fail("--help exited %d" % h.returncode)
help_options, help_exits, help_env, part = set(), set(), set(), None
for line in h.stdout.splitlines():
    if line in ("Options:", "Environment:", "Exit status:"):
        part = line
    elif not line.strip():
        part = None
    elif part == "Options:" and re.match(r"(  -[A-Za-z], |      --)", line):
        left = re.split(r"\s{2,}", line.strip())[0]
        help_options.update(OPTION.findall(left))
    elif part == "Environment:" and re.match(r"  [A-Z]", line):
        help_env.add(line.split()[0].split("=")[0])
    elif part == "Exit status:" and re.match(r"  \d", line):
        help_exits.add(int(line.split()[0]))
if not help_options or not help_exits:
    fail("could not read --help:\n%s" % h.stdout)

if page_options != help_options:
    fail("options differ:\n  only in --help: %s\n  only in the man page: %s"
         % (sorted(help_options - page_options), sorted(page_options - help_options)))
if page_exits != help_exits:
    fail("exit statuses differ: --help %s, man page %s" % (sorted(help_exits), sorted(page_exits)))
if not help_env <= page_env:
    fail("environment variables missing from the page: %s" % sorted(help_env - page_env))
print("%s: the page renders; %d options, exit statuses %s and environment %s agree with --help"
      % (NAME, len(page_options), sorted(page_exits), sorted(help_env)))
