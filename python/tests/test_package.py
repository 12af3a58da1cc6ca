# SPDX-License-Identifier: MIT
"""The package as installed: where it loads the library from, what it depends on, and
that its source stays valid Python 3.9."""
import ast
import os
import subprocess
import sys

import pytest

import hetgrad

PKG_DIR = os.path.dirname(os.path.abspath(hetgrad.__file__))


@pytest.mark.skipif(os.environ.get("HETGRAD_TEST_INSTALLED") != "1",
                    reason="only where the installed package is under test "
                           "(python/tests/venv_test.sh sets HETGRAD_TEST_INSTALLED=1)")
def test_the_installed_package_is_under_test():
    # The tests run against what pip installed, not the source tree: the package is in
    # site-packages and loads the libhetgrad.so built into it.
    assert "site-packages" in PKG_DIR, PKG_DIR
    assert "HETGRAD_LIBRARY" not in os.environ
    assert hetgrad.library_path() == os.path.join(PKG_DIR, "libhetgrad.so")
    assert os.path.isfile(hetgrad.library_path())
    from importlib.metadata import requires, version
    assert version("hetgrad") == hetgrad.__version__
    # numpy is the only dependency outside the optional extras
    plain = [r for r in requires("hetgrad") if "extra ==" not in r]
    assert [r.split(">")[0].split("=")[0].strip() for r in plain] == ["numpy"]


def test_version_is_the_library_version():
    assert hetgrad.__version__ == hetgrad.library_version()
    assert hetgrad.__version__.count(".") == 2


def test_source_is_python_3_9():
    # requires-python = ">=3.9": no syntax from later versions (match, except*, ...)
    for name in sorted(os.listdir(PKG_DIR)):
        if name.endswith(".py"):
            with open(os.path.join(PKG_DIR, name)) as f:
                ast.parse(f.read(), filename=name, feature_version=(3, 9))


def test_import_needs_neither_scikit_learn_nor_scipy():
    code = ("import sys, hetgrad; hetgrad.devices; hetgrad.Engine; "
            "bad = [m for m in ('sklearn', 'scipy') if m in sys.modules]; "
            "assert not bad, bad; "
            "hetgrad.LogisticRegression; assert 'sklearn' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
    assert set(hetgrad._ESTIMATORS) <= set(dir(hetgrad))
    with pytest.raises(AttributeError, match="no attribute 'Nothing'"):
        hetgrad.Nothing


def test_library_override_is_checked(tmp_path):
    env = dict(os.environ, HETGRAD_LIBRARY=str(tmp_path / "missing.so"))
    r = subprocess.run([sys.executable, "-c", "import hetgrad"], env=env,
                       capture_output=True, text=True)
    assert r.returncode != 0 and "no such file" in r.stderr
    env["HETGRAD_LIBRARY"] = str(tmp_path)
    r = subprocess.run([sys.executable, "-c", "import hetgrad"], env=env,
                       capture_output=True, text=True)
    assert r.returncode != 0 and "no libhetgrad.so" in r.stderr


def _import_in_child(before="", **env_changes):
    """Import hetgrad in a child process (after running `before`) and return what the
    import did: (hetgrad._lib.pinned_pocl, POCL_AFFINITY afterwards or None)."""
    env = {k: v for k, v in os.environ.items() if k != "POCL_AFFINITY"}
    env.update(env_changes)
    code = (before + "\nimport os, hetgrad\n"
            "print(hetgrad._lib.pinned_pocl, os.environ.get('POCL_AFFINITY'))")
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                       text=True, check=True)
    pinned, value = r.stdout.split()
    return pinned == "True", None if value == "None" else value


def _may_run_everywhere():
    online = os.sysconf("SC_NPROCESSORS_ONLN")
    return all(c in os.sched_getaffinity(0) for c in range(online))


def test_import_pins_pocl_threads_as_the_tools_do():
    # Unpinned, POCL's pthread device can run at half speed for many steps
    # (docs/python.md): importing the package sets POCL_AFFINITY=1 as the tools do,
    # where this process may run on every online CPU.
    everywhere = _may_run_everywhere()
    assert _import_in_child() == ((True, "1") if everywhere else (False, None))
    # the user's choice stands, either way
    assert _import_in_child(POCL_AFFINITY="0") == (False, "0")
    assert _import_in_child(POCL_AFFINITY="1") == (False, "1")


@pytest.mark.skipif(os.sysconf("SC_NPROCESSORS_ONLN") < 2, reason="one CPU: nothing to leave out")
def test_import_does_not_pin_in_a_cpuset():
    # POCL pins its thread k to CPU k: a process that may not run on CPU 1 (taskset, a
    # container's cpuset) must not have it pin there.
    assert _import_in_child("import os; os.sched_setaffinity(0, {0})") == (False, None)


def test_import_does_not_pin_after_pocl_started():
    # POCL read its environment when it was loaded: setting the variable afterwards
    # would change nothing but the profile cache's key (which records it).
    import ctypes.util
    pocl = ctypes.util.find_library("pocl")
    if pocl is None:
        pytest.skip("no libpocl here to load first")
    assert _import_in_child("import ctypes; ctypes.CDLL(%r)" % pocl) == (False, None)
