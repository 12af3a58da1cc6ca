# SPDX-License-Identifier: MIT
"""hetgrad.Error: every failure of the library, with its status name and message."""
from . import _abi

# Statuses Python raises itself (argument checks before a call), by name.
_CODES = {"HG_INVALID_ARGUMENT": _abi.HG_INVALID_ARGUMENT, "HG_RANGE": _abi.HG_RANGE}


class Error(Exception):
    """A libhetgrad call failed.

    Attributes:
        status:  the status name, e.g. ``"HG_NO_DEVICE"`` (``hg_status_name``)
        code:    the status as its integer value in ``hg_status``
        cl_code: the OpenCL error behind it, 0 when there is none
        message: the library's message, naming what failed
    """

    def __init__(self, status, message, code=None, cl_code=0):
        self.status = status
        self.code = _CODES.get(status) if code is None else code
        self.cl_code = cl_code
        self.message = message
        super().__init__("%s: %s" % (status, message) if message else status)


class ArgumentError(Error, ValueError):
    """Bad input: ``HG_INVALID_ARGUMENT`` or ``HG_RANGE``, from the library or from the
    checks Python makes before a call (shapes, dtypes, lengths).  Also a ``ValueError``,
    so code written for numpy and scikit-learn catches it as one."""
