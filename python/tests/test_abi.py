# SPDX-License-Identifier: MIT
"""The ctypes mirrors of hetgrad's C structs (hetgrad/_abi.py) against the C compiler.

A C program built against include/ prints sizeof, _Alignof and, per field, offsetof
and sizeof of every struct the package mirrors, and the value of every constant; any
difference fails, naming the struct and field.  So a change to a public struct in C
fails here instead of corrupting memory through ctypes.
"""
import ctypes
import os
import shutil
import subprocess

import pytest

from hetgrad import _abi

HERE = os.path.dirname(os.path.abspath(__file__))


def include_dir():
    d = os.environ.get("HETGRAD_INCLUDE_DIR") or os.path.join(HERE, "..", "..", "include")
    if not os.path.isfile(os.path.join(d, "hetgrad", "engine.h")):
        pytest.fail("hetgrad's headers are not at %s: set HETGRAD_INCLUDE_DIR" % d)
    return d


def c_program(structs, constants):
    lines = ["#include <stddef.h>", "#include <stdio.h>"]
    lines += ["#include <%s>" % h for h in _abi.HEADERS]
    lines.append("int main(void) {")
    for cname, cls in structs.items():
        lines.append('printf("struct %s %%zu %%zu\\n", sizeof(%s), _Alignof(%s));'
                     % (cname, cname, cname))
        for field, _ in cls._fields_:
            lines.append('printf("field %s %s %%zu %%zu\\n", offsetof(%s, %s), '
                         'sizeof(((%s *)0)->%s));'
                         % (cname, field, cname, field, cname, field))
    for pyname, expr in constants.items():
        lines.append('printf("const %s %%lld\\n", (long long)(%s));' % (pyname, expr))
    lines.append("return 0; }")
    return "\n".join(lines) + "\n"


def c_layout(tmp_path, structs, constants):
    """What the C compiler says: {("struct", name): (size, align),
    ("field", struct, field): (offset, size), ("const", name): value}."""
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not cc:
        pytest.fail("no C compiler (cc) to check the struct layouts with")
    src = tmp_path / "layout.c"
    exe = tmp_path / "layout"
    src.write_text(c_program(structs, constants))
    subprocess.run([cc, "-std=c11", "-I", include_dir(), "-o", str(exe), str(src)],
                   check=True, capture_output=True, text=True)
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout
    layout = {}
    for line in out.splitlines():
        kind, *rest = line.split()
        if kind == "struct":
            layout[("struct", rest[0])] = (int(rest[1]), int(rest[2]))
        elif kind == "field":
            layout[("field", rest[0], rest[1])] = (int(rest[2]), int(rest[3]))
        else:
            layout[("const", rest[0])] = int(rest[1])
    return layout


def differences(layout, structs, constants):
    """Every way the ctypes mirrors differ from the C layout, in words."""
    diff = []
    for cname, cls in structs.items():
        want = layout[("struct", cname)]
        have = (ctypes.sizeof(cls), ctypes.alignment(cls))
        if have != want:
            diff.append("%s: ctypes size/alignment %s, C %s" % (cname, have, want))
        for field, _ in cls._fields_:
            f = getattr(cls, field)
            want = layout[("field", cname, field)]
            if (f.offset, f.size) != want:
                diff.append("%s.%s: ctypes offset/size %s, C %s"
                            % (cname, field, (f.offset, f.size), want))
    for pyname in constants:
        if getattr(_abi, pyname) != layout[("const", pyname)]:
            diff.append("%s: Python %r, C %r" % (pyname, getattr(_abi, pyname),
                                                 layout[("const", pyname)]))
    return diff


def test_mirrors_match_the_c_headers(tmp_path):
    layout = c_layout(tmp_path, _abi.STRUCTS, _abi.CONSTANTS)
    diff = differences(layout, _abi.STRUCTS, _abi.CONSTANTS)
    assert not diff, "hetgrad/_abi.py differs from the headers:\n" + "\n".join(diff)


def test_every_field_of_the_mirrored_structs_is_mirrored(tmp_path):
    # The last field ends where the struct ends (up to padding): a field added to the C
    # struct after the last mirrored one makes the C struct larger than the mirror.
    layout = c_layout(tmp_path, _abi.STRUCTS, {})
    for cname, cls in _abi.STRUCTS.items():
        assert ctypes.sizeof(cls) == layout[("struct", cname)][0], cname


def test_the_check_catches_a_wrong_mirror(tmp_path):
    # The same check on a deliberately wrong mirror of hg_device_step (two fields
    # swapped: the sizes still add up) must report the difference.
    fields = list(_abi.HgDeviceStep._fields_)
    fields[1], fields[2] = fields[2], fields[1]
    wrong = type("WrongStep", (ctypes.Structure,), {"_fields_": fields})
    structs = {"hg_device_step": wrong}
    layout = c_layout(tmp_path, structs, {})
    diff = differences(layout, structs, {})
    assert any("hg_device_step.pieces" in d for d in diff), diff
    assert any("hg_device_step.host_ms" in d for d in diff), diff
