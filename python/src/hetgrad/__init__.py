# SPDX-License-Identifier: MIT
"""hetgrad: machine-learning gradients on every OpenCL device at once, from Python.

    hetgrad.devices()             the device list, set-aside devices and reasons included
    hetgrad.Engine(...)           gradients over a resident data set (numpy in and out)
    hetgrad.Model(...)            a model's parameter layout and forward pass (numpy)
    hetgrad.objective(engine)     (loss, grad) for scipy.optimize.minimize(jac=True)
    hetgrad.LogisticRegression, hetgrad.MLPClassifier, hetgrad.LinearRegression
                                  scikit-learn estimators (need scikit-learn)
    hetgrad.Error                 every failure, with .status and .message

The C library (libhetgrad.so) ships inside the package and is called through ctypes.
docs/python.md has the details.
"""
from . import _lib
from ._lib import library_path
from .devices import devices
from .engine import Engine, reference_gradient
from .errors import ArgumentError, Error
from .model import Model
from .optimize import Objective, objective

__version__ = _lib.lib.hg_version_string().decode("ascii")

_ESTIMATORS = ("LogisticRegression", "MLPClassifier", "LinearRegression")


def library_version():
    """Version of the libhetgrad.so loaded, "MAJOR.MINOR.PATCH"."""
    return _lib.lib.hg_version_string().decode("ascii")


def __getattr__(name):
    # The estimators need scikit-learn, which hetgrad itself does not: import them on
    # first use only.
    if name in _ESTIMATORS:
        from . import estimators as _sk
        return getattr(_sk, name)
    raise AttributeError("module 'hetgrad' has no attribute %r" % name)


def __dir__():
    return sorted(list(globals()) + list(_ESTIMATORS))


__all__ = ["devices", "Engine", "Model", "Objective", "objective", "reference_gradient",
           "Error", "ArgumentError", "library_path", "library_version",
           "LogisticRegression", "MLPClassifier", "LinearRegression"]
