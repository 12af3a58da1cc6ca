#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""docs_check.py CHECK SOURCE_DIR BUILD_DIR WORKDIR - README.md and docs/*.md
must say what the code does.  Each check is a CTest test (docs.CHECK):

  commands  Runs every shell command the documents show: each line of a
            ```sh block and each "$ command" line of any block.  They run in
            WORKDIR, where build and build-release are links to BUILD_DIR and
            BUILD_DIR comes first on PATH, on POCL's two devices, and must exit
            0.  A command that names Oclgrind runs with POCL and Oclgrind
            (HG_OCLGRIND_ICD_DIR), and not at all with HG_TEST_DEVICES=pocl.  Four rewrites keep them off this machine's state:
            "-S ." names SOURCE_DIR, "-B DIR" a fresh directory under WORKDIR,
            "--prefix DIR" one too, and "scripts/X" (a script the sources
            hold) SOURCE_DIR's; WORKDIR has a docs/img/ for the pictures the
            commands make.  EXCLUDED lists the commands that are not
            run (or their first words), each with its reason; an entry that
            matches no command the documents show is an error, so the list
            cannot rot.  mpirun commands need the MPI
            layer (HG_HAVE_MPI=1 in the environment), and commands that run
            ./build/bench/ programs the benchmarks (HG_HAVE_BENCH=1).
  sample    Compiles the README's library example (the ```c block under
            "Using the library") against BUILD_DIR with -Wall -Wextra -Werror,
            and runs it.
  flags     Every --option the documents show in code (shell blocks, "$"
            lines and `spans`; not the output blocks, which may show errors)
            is one a hetgrad tool accepts (its usage text names it; for a tool
            this build leaves out, its source), or one of another program's in
            FOREIGN_FLAGS; or a prefix that names one option of a tool, as
            getopt_long allows.  A span that starts with a tool's name is
            checked against that tool alone.
  build     The README's option table lists exactly the cache options the
            CMake files define (HG_*), and names every package
            scripts/setup.sh installs.
  json      Every key of each JSON schema (docs/schemas/) is named in the
            page that describes its output, and every key a table there
            describes is in the schema (docs/json.md).
  links     Every relative link in README.md and docs/*.md names a file that
            exists and, with #anchor, a heading in it.

Environment: the test device environment; HG_CC and HG_CFLAGS for sample;
HG_HAVE_MPI and HG_HAVE_BENCH for commands.  Standard library only.
"""
import os
import re
import shlex
import shutil
import subprocess
import sys

TOOLS = {  # name in the docs: (path under BUILD_DIR, source under SOURCE_DIR)
    "hetgrad-probe": ("hetgrad-probe", "tools/probe.c"),
    "hetgrad-train": ("hetgrad-train", "tools/train.c"),
    "hetgrad-bench": ("hetgrad-bench", "tools/bench.c"),
    "bench_gradient": ("bench/bench_gradient", "bench/bench_gradient.c"),
    "bench_startup": ("bench/bench_startup", "bench/bench_startup.c"),
    "bench_train": ("bench/bench_train", "bench/bench_train.c"),
    "bench_starpu": ("bench/bench_starpu", "bench/bench_starpu.c"),
}

# Commands shown but not run, and why: the command as written (comments dropped),
# or its first words.
EXCLUDED = {
    "sh scripts/run.sh": "installs packages and makes its own Release build",
    "sh scripts/test.sh": "installs packages and runs the whole suite in three builds",
    "sh scripts/bench.sh": "installs packages, makes a Release build and runs every "
                           "benchmark at full size (minutes)",
    "apt-get install libopenmpi-dev openmpi-bin": "installs packages",
    "cmake --build build -j2": "a full build (minutes); this test runs from the build "
                               "CTest is testing",
    "ctest --test-dir build --output-on-failure": "the whole test suite, this test included",
    "cat > hosts <<HOSTS": "writes the host file for the mpirun below it",
    "sh scripts/setup.sh": "installs packages",
    "python3 -m venv .venv": "builds the Python package into a virtualenv from PyPI (a "
                             "minute); CTest python.package does that with -DHG_PYTHON_TESTS=ON",
    "cmake -S . -B build -DHG_PYTHON_TESTS=ON": "a build with the Python package's tests "
                                                "(minutes, PyPI); CTest python.package",
    "mpirun --hostfile hosts": "needs the machines the host file names",
    "HETGRAD_DEVICES=pthread ./build/bench/bench_train": "every configuration at full size "
                                                         "(6 s alone, minutes under load); "
                                                         "CTest json.bench-train runs it small",
    "./build/bench/bench_starpu": "built only where StarPU is installed (HG_STARPU), and it "
                                  "keeps both cores busy; CTest bench.starpu-quick runs it",
}

# Options of other programs that the documents show.
FOREIGN_FLAGS = {
    "--build": "cmake", "--install": "cmake", "--prefix": "cmake", "--test-dir": "ctest",
    "--output-on-failure": "ctest", "--oversubscribe": "mpirun",
    "--allow-run-as-root": "mpirun", "--hostfile": "mpirun", "--map-by": "mpirun",
    "--cflags": "pkg-config", "--libs": "pkg-config", "--raw": "clinfo",
    "--all-props": "clinfo", "--warnings": "man",
    "--opt": "docs/tools.md's name for any option",
    "--enable-blocking-drivers": "StarPU's configure",
    "--size": "scripts/plot.py", "--title": "scripts/plot.py",
}

SCHEMA_DOCS = {  # schema file: (page, heading that starts its section, or None: the page)
    "hetgrad-probe-1": ("docs/probe-json.md", None),
    "hetgrad-train-1": ("docs/json.md", "## `hetgrad-train --json`"),
    "hetgrad-train-trace": ("docs/json.md", "## `hetgrad-train --trace FILE`"),
    "hetgrad-train-metrics-1": ("docs/json.md", "## `hetgrad-train --metrics FILE`"),
    "hetgrad-bench-1": ("docs/json.md", "## `hetgrad-bench --json`"),
    "hetgrad-bench-gradient-3": ("docs/json.md", "## `bench_gradient --json`"),
    "hetgrad-bench-startup-1": ("docs/json.md", "## `bench_startup --json`"),
    "hetgrad-bench-train-1": ("docs/json.md", "## `bench_train --json`"),
    "hetgrad-bench-starpu-1": ("docs/json.md", "## `bench_starpu --json`"),
}

SRC = BUILD = WORK = None


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def documents():
    """README.md and docs/*.md: [(relative path, text)]."""
    paths = ["README.md"] + sorted(
        os.path.join("docs", f) for f in os.listdir(os.path.join(SRC, "docs"))
        if f.endswith(".md"))
    out = []
    for p in paths:
        with open(os.path.join(SRC, p), encoding="utf-8") as f:
            out.append((p, f.read()))
    return out


def fenced_blocks(text):
    """[(info string, [lines])] of every ``` block."""
    blocks, cur, info = [], None, None
    for line in text.splitlines():
        m = re.match(r"^\s*```(.*)$", line)
        if m and cur is None:
            cur, info = [], m.group(1).strip()
        elif m and cur is not None:
            blocks.append((info, cur))
            cur = None
        elif cur is not None:
            cur.append(line)
    return blocks


def outside_blocks(text):
    """The text with every ``` block removed."""
    return re.sub(r"^\s*```.*?^\s*```[^\n]*$", "", text, flags=re.S | re.M)


def shown_commands():
    """[(document, command as written)] in document order."""
    cmds = []
    for doc, text in documents():
        for info, lines in fenced_blocks(text):
            if info in ("sh", "shell", "bash"):
                joined = []
                buf = ""
                heredoc = None
                for line in lines:
                    if heredoc is not None:  # the heredoc's body belongs to its command
                        if line.strip() == heredoc:
                            heredoc = None
                        continue
                    if line.rstrip().endswith("\\"):
                        buf += line.rstrip()[:-1] + " "
                        continue
                    buf += line
                    if buf.strip():
                        joined.append(buf.strip())
                    m = re.search(r"<<\s*'?(\w+)'?", buf)
                    if m:
                        heredoc = m.group(1)
                    buf = ""
                cmds += [(doc, c) for c in joined]
            else:
                cmds += [(doc, l.strip()[2:]) for l in lines if l.strip().startswith("$ ")]
    return cmds


def canonical(cmd):
    """The command without its comment, white space normalised."""
    return " ".join(shlex.split(cmd, comments=True))


def excluded_by(key, entry):
    """The canonical command key is entry, or starts with entry's words."""
    return key == entry or key.startswith(entry + " ")


def rewrite(cmd, n):
    """Point -S ., -B DIR and --prefix DIR away from this machine's state."""
    words = shlex.split(cmd, comments=True)
    out = []
    i = 0
    while i < len(words):
        w = words[i]
        if w == "-S" and i + 1 < len(words) and words[i + 1] == ".":
            out += ["-S", SRC]
            i += 2
        elif w in ("-B", "--prefix") and i + 1 < len(words):
            out += [w, os.path.join(WORK, "cmd%d-%s" % (n, w.strip("-")))]
            i += 2
        elif w.startswith("scripts/") and os.path.isfile(os.path.join(SRC, w)):
            out.append(os.path.join(SRC, w))
            i += 1
        else:
            out.append(w)
            i += 1
    return " ".join(quote_word(w) for w in out)


SHELL_OPERATORS = {">", ">>", "<", "2>", "2>&1", "|", "&&", "||", ";"}


def quote_word(w):
    """w quoted for sh; a redirection or a control operator (written apart: cmd > file)
    stays one, and so does an assignment (VAR=value, as in VAR=value command), with
    only its value quoted."""
    if w in SHELL_OPERATORS:
        return w
    m = re.match(r"^([A-Za-z_]\w*=)(.*)$", w, flags=re.S)
    return m.group(1) + shlex.quote(m.group(2)) if m else shlex.quote(w)


def check_commands():
    cmds = shown_commands()
    seen = [canonical(c) for _, c in cmds]
    stale = [x for x in EXCLUDED if not any(excluded_by(c, x) for c in seen)]
    if stale:
        fail("EXCLUDED names commands no document shows any more: %s" % stale)
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(os.path.join(WORK, "docs", "img"))
    for link in ("build", "build-release"):
        os.symlink(BUILD, os.path.join(WORK, link))
    env = dict(os.environ)
    env["PATH"] = BUILD + os.pathsep + env.get("PATH", "")
    ran = 0
    for n, (doc, cmd) in enumerate(cmds):
        key = canonical(cmd)
        why = [EXCLUDED[x] for x in EXCLUDED if excluded_by(key, x)]
        if why:
            print("not run (%s): %s: %s" % (why[0], doc, cmd))
            continue
        if key.startswith("mpirun") and os.environ.get("HG_HAVE_MPI") != "1":
            print("not run (built without MPI): %s: %s" % (doc, cmd))
            continue
        if "build/bench/" in key and os.environ.get("HG_HAVE_BENCH") != "1":
            print("not run (built without the benchmarks, HG_BUILD_BENCH=OFF): %s: %s"
                  % (doc, cmd))
            continue
        cenv = env
        if "oclgrind" in key.lower():  # it names Oclgrind: the device set with it
            if not os.environ.get("HG_OCLGRIND_ICD_DIR"):
                print("not run (names Oclgrind; the test devices are POCL alone): %s: %s"
                      % (doc, cmd))
                continue
            cenv = dict(env, OCL_ICD_VENDORS=os.environ["HG_OCLGRIND_ICD_DIR"])
        run = rewrite(cmd, n)
        p = subprocess.run(["sh", "-c", run], cwd=WORK, env=cenv, capture_output=True,
                           timeout=300)
        if p.returncode != 0:
            fail("%s: `%s` exited %d\nran: %s\nstdout:\n%s\nstderr:\n%s"
                 % (doc, cmd, p.returncode, run, p.stdout.decode("utf-8", "replace")[-3000:],
                    p.stderr.decode("utf-8", "replace")[-3000:]))
        print("ok: %s: %s" % (doc, cmd))
        ran += 1
    if ran == 0:
        fail("no command ran")
    print("%d of %d commands ran and exited 0" % (ran, len(cmds)))


def check_sample():
    text = dict(documents())["README.md"]
    m = re.search(r"^## Using the library\n(.*?)^## ", text, flags=re.S | re.M)
    blocks = [lines for info, lines in fenced_blocks(m.group(1) if m else "") if info == "c"]
    if not blocks:
        fail("README.md: no ```c block under 'Using the library'")
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    src = os.path.join(WORK, "sample.c")
    exe = os.path.join(WORK, "sample")
    with open(src, "w", encoding="utf-8") as f:
        f.write("\n".join(blocks[0]) + "\n")
    cc = [os.environ.get("HG_CC", "cc"), "-std=c11", "-Wall", "-Wextra", "-Werror"]
    cc += shlex.split(os.environ.get("HG_CFLAGS", ""))
    cc += ["-I" + os.path.join(SRC, "include"), "-I" + os.path.join(BUILD, "include"),
           src, "-o", exe, "-L" + BUILD, "-lhetgrad", "-Wl,-rpath," + BUILD]
    p = subprocess.run(cc, capture_output=True, text=True)
    if p.returncode != 0:
        fail("the README's library example does not compile:\n%s\n%s" % (" ".join(cc), p.stderr))
    p = subprocess.run([exe], capture_output=True, text=True, timeout=300)
    if p.returncode != 0 or "loss" not in p.stdout:
        fail("the README's library example exited %d:\n%s%s" % (p.returncode, p.stdout, p.stderr))
    print("README library example: compiles and runs: %s" % p.stdout.strip())


def tool_flags():
    """{tool: set of --options its usage text names}.  A tool this build
    leaves out (HG_BUILD_BENCH=OFF): the options its source names, and the
    ones tools/cli.c gives every tool."""
    flags = {}
    for name, (rel, source) in TOOLS.items():
        path = os.path.join(BUILD, rel)
        if not os.path.exists(path):
            with open(os.path.join(SRC, source), encoding="utf-8") as f:
                code = f.read()
            flags[name] = set(re.findall(r'"(--[a-z][a-z0-9-]*)', code))
            flags[name] |= {"--" + n for n in  # tools/cli.h option tables
                            re.findall(r'\.name\s*=\s*"([a-z][a-z0-9-]*)"', code)}
            flags[name] |= {"--help", "--version", "--verbose", "--quiet"}  # every tool's
            print("%s is not built: its options from %s" % (name, source))
            continue
        p = subprocess.run([path, "--help"], capture_output=True, text=True, timeout=60)
        flags[name] = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", p.stdout + p.stderr))
        if p.returncode == 0:  # --help itself works
            flags[name].add("--help")
    return flags


def check_flags():
    flags = tool_flags()
    if "hetgrad-probe" not in flags:
        fail("no hetgrad-probe in %s" % BUILD)
    bad = []
    for doc, text in documents():
        pieces = []  # shell blocks, "$ command" lines, and `spans`; not output
        for info, lines in fenced_blocks(text):
            if info in ("sh", "shell", "bash"):
                pieces.append((None, "\n".join(lines)))
            else:
                pieces += [(None, l) for l in lines if l.strip().startswith("$ ")]
        for span in re.findall(r"`([^`\n]+)`", outside_blocks(text)):
            first = span.split()[0] if span.split() else ""
            pieces.append((first if first in flags else None, span))
        for tool, piece in pieces:
            for flag in re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", piece):
                if flag in FOREIGN_FLAGS:
                    continue
                names = [flags[tool]] if tool else list(flags.values())
                # getopt_long also takes a prefix that names one option (--epo)
                ok = any(flag in n or len([f for f in n if f.startswith(flag)]) == 1
                         for n in names)
                if not ok:
                    bad.append("%s: %s in `%s`" % (doc, flag, piece.strip()[:80]))
    if bad:
        fail("options the tools do not take:\n  " + "\n  ".join(sorted(set(bad))))
    print("every --option in the documents is taken by its tool (%d tools)" % len(flags))


def cmake_options():
    """HG_* cache options the CMake files define."""
    names = set()
    for root, _, files in os.walk(SRC):
        top = os.path.relpath(root, SRC).split(os.sep)[0]
        if top != "." and top.startswith(("build", ".")):
            continue
        for f in files:
            if f == "CMakeLists.txt" or f.endswith(".cmake"):
                with open(os.path.join(root, f), encoding="utf-8") as fh:
                    text = fh.read()
                names |= set(re.findall(r"\boption\(\s*(HG_\w+)", text))
                names |= set(re.findall(r"\bset\(\s*(HG_\w+)\s+[^)]*?\bCACHE\b", text, flags=re.S))
    return names


def check_build():
    text = dict(documents())["README.md"]
    m = re.search(r"^## Building by hand\n(.*?)^## ", text, flags=re.S | re.M)
    if not m:
        fail("README.md has no 'Building by hand' section")
    section = m.group(1)
    documented = set(re.findall(r"^\|\s*`(HG_\w+)`", section, flags=re.M))
    defined = cmake_options()
    if documented != defined:
        fail("README options table: missing %s, not options %s"
             % (sorted(defined - documented), sorted(documented - defined)))
    with open(os.path.join(SRC, "scripts", "setup.sh"), encoding="utf-8") as f:
        setup = f.read()
    m = re.search(r'PKGS="(.*?)"', setup, flags=re.S)
    pkgs = m.group(1).replace("\\", " ").split()
    missing = [p for p in pkgs if "`%s`" % p not in section]
    if missing:
        fail("README 'Building by hand' does not name the packages %s" % missing)
    print("README: %d options and %d packages, as in the CMake files and setup.sh"
          % (len(defined), len(pkgs)))


def section_of(text, heading):
    if heading is None:
        return text
    start = text.find("\n" + heading)
    if start < 0:
        fail("no heading %r" % heading)
    end = text.find("\n## ", start + 1)
    return text[start:end if end >= 0 else len(text)]


def check_json():
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import json_schema
    docs = dict(documents())
    schema_dir = os.path.join(SRC, "docs", "schemas")
    files = {f[:-len(".schema.json")] for f in os.listdir(schema_dir) if f.endswith(".schema.json")}
    if files != set(SCHEMA_DOCS):
        fail("schema files %s, described %s" % (sorted(files), sorted(SCHEMA_DOCS)))
    for name, (page, heading) in SCHEMA_DOCS.items():
        with open(os.path.join(schema_dir, name + ".schema.json"), "rb") as f:
            schema = json_schema.read_strict(f.read())
        json_schema.Validator(schema)  # well formed, known keywords only
        keys = json_schema.property_names(schema)
        section = section_of(docs[page], heading)
        named = set(re.findall(r"`([^`\s]+)`", section))
        for _, lines in fenced_blocks(section):  # "key": in an example document
            named |= set(re.findall(r'"([a-z_][a-z0-9_]*)"\s*:', "\n".join(lines)))
        undocumented = sorted(k for k in keys if k not in named)
        described = set()
        for row in re.findall(r"^\|([^|\n]+)\|", section, flags=re.M):
            described |= set(re.findall(r"`([a-z_][a-z0-9_]*)`", row))
        unknown = sorted(described - keys)
        if undocumented or unknown:
            fail("%s vs %s: keys not described there %s; described keys not in the schema %s"
                 % (name, page, undocumented, unknown))
        print("%s: %d keys, all described in %s" % (name, len(keys), page))


def slug(heading):
    """GitHub's anchor for a heading."""
    s = heading.strip().lower()
    s = re.sub(r"[^\w\- ]", "", s)
    return s.replace(" ", "-")


def check_links():
    docs = dict(documents())
    bad = []
    for doc, text in docs.items():
        for target in re.findall(r"\]\(([^)\s]+)\)", outside_blocks(text)):
            if re.match(r"^[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            full = os.path.normpath(os.path.join(SRC, os.path.dirname(doc), path)) if path \
                else os.path.join(SRC, doc)
            if not os.path.exists(full):
                bad.append("%s: %s: no such file" % (doc, target))
                continue
            if anchor and full.endswith(".md"):
                with open(full, encoding="utf-8") as f:
                    heads = {slug(h) for h in re.findall(r"^#+ (.*)$", outside_blocks(f.read()),
                                                          flags=re.M)}
                if anchor not in heads:
                    bad.append("%s: %s: no such heading" % (doc, target))
    if bad:
        fail("broken links:\n  " + "\n  ".join(bad))
    print("every relative link resolves")


CHECKS = {"commands": check_commands, "sample": check_sample, "flags": check_flags,
          "build": check_build, "json": check_json, "links": check_links}


def main():
    global SRC, BUILD, WORK
    if len(sys.argv) != 5 or sys.argv[1] not in CHECKS:
        print("usage: docs_check.py {%s} SOURCE_DIR BUILD_DIR WORKDIR" % ",".join(CHECKS))
        return 2
    SRC, BUILD, WORK = (os.path.abspath(a) for a in sys.argv[2:])
    CHECKS[sys.argv[1]]()
    return 0


if __name__ == "__main__":
    sys.exit(main())
