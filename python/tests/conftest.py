# SPDX-License-Identifier: MIT
"""Shared set-up of the Python tests.

The tests run on whatever OpenCL devices the environment gives; CI gives POCL's
pthread and basic CPU devices only (python/tests/venv_test.sh, run by CTest), and
HG_TEST_EXPECT names the devices that must be there, as for the C tests.
"""
import os
import sys

# scikit-learn's estimator checks include check_array_api_input for the numpy
# namespace, which runs only with scipy's array API mode on (it must be set before
# scipy is imported); with numpy arrays it changes nothing else.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # reference.py

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def expected_devices():
    """Name substrings of the devices the environment must provide, or None."""
    want = os.environ.get("HG_TEST_EXPECT")
    return [w for w in want.split(",") if w] if want else None
