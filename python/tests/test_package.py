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
