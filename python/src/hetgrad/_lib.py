# SPDX-License-Identifier: MIT
"""Loading libhetgrad.so and declaring the C functions Python calls.

The library is the one shipped inside the package (``hetgrad/libhetgrad.so``, built by
``pip install``), or the file named by ``HETGRAD_LIBRARY`` (a path to a
``libhetgrad.so*``, or a build directory holding one): for running from the source tree.

It is loaded with ``ctypes.CDLL``, which releases the GIL for the duration of every
call, so other Python threads run while a device computes.  Every function gets its
argument and result types here, once; pointers to arrays travel as plain addresses
(``c_void_p``), which is the cheapest conversion ctypes has.
"""
import ctypes
import glob
import os
from ctypes import POINTER, c_bool, c_char_p, c_double, c_int, c_size_t, c_uint, c_uint64, c_void_p

from . import _abi
from .errors import ArgumentError, Error

_P = c_void_p  # an opaque handle or an array address
_ERR = POINTER(_abi.HgError)

# name: (result type, argument types)
_PROTOTYPES = {
    "hg_version_string": (c_char_p, []),
    "hg_status_name": (c_char_p, [c_int]),
    "hg_strerror": (c_char_p, [c_int]),
    "hg_options_init_sized": (None, [POINTER(_abi.HgOptions), c_size_t]),
    "hg_device_list_create": (c_int, [POINTER(_abi.HgOptions), POINTER(c_void_p), _ERR]),
    "hg_device_list_destroy": (None, [_P]),
    "hg_device_list_platform_count": (c_size_t, [_P]),
    "hg_device_list_platform": (POINTER(_abi.HgPlatformInfo), [_P, c_size_t]),
    "hg_device_list_count": (c_size_t, [_P]),
    "hg_device_list_get": (POINTER(_abi.HgDeviceInfo), [_P, c_size_t]),
    "hg_device_list_warning_count": (c_size_t, [_P]),
    "hg_device_list_warning": (c_char_p, [_P, c_size_t]),
    "hg_device_type_name": (c_char_p, [c_uint]),
    "hg_prop_name": (c_char_p, [c_int]),
    "hg_device_prop_ok": (c_bool, [POINTER(_abi.HgDeviceInfo), c_int]),
    "hg_model_param_count": (c_size_t, [POINTER(_abi.HgModelDesc)]),
    "hg_model_validate": (c_int, [POINTER(_abi.HgModelDesc), _ERR]),
    "hg_reference_loss_grad": (c_int, [POINTER(_abi.HgModelDesc), _P,
                                       POINTER(_abi.HgDatasetDesc), c_size_t, c_size_t, _P,
                                       POINTER(c_double), _P, _ERR]),
    "hg_engine_options_init_sized": (None, [POINTER(_abi.HgEngineOptions), c_size_t]),
    "hg_engine_create": (c_int, [POINTER(_abi.HgEngineOptions), POINTER(_abi.HgModelDesc),
                                 POINTER(c_void_p), _ERR]),
    "hg_engine_destroy": (None, [_P]),
    "hg_engine_device_count": (c_size_t, [_P]),
    "hg_engine_device": (POINTER(_abi.HgDeviceInfo), [_P, c_size_t]),
    "hg_engine_set_data": (c_int, [_P, POINTER(_abi.HgDatasetDesc), _ERR]),
    "hg_engine_set_weights": (c_int, [_P, _P, c_size_t, _ERR]),
    "hg_engine_gradient": (c_int, [_P, _P, c_size_t, c_size_t, _P, _P, _P]),
    "hg_engine_gradient_rows": (c_int, [_P, _P, _P, c_size_t, _P, _P, _P]),
    "hg_engine_predict": (c_int, [_P, _P, POINTER(_abi.HgDatasetDesc), _P, _P, _ERR]),
    "hg_engine_evaluate": (c_int, [_P, _P, POINTER(_abi.HgDatasetDesc), POINTER(c_double),
                                   POINTER(c_double), _ERR]),
    "hg_engine_calibrate": (c_int, [_P, _ERR]),
    "hg_engine_device_profile_sized": (c_int, [_P, c_size_t, POINTER(_abi.HgDeviceProfile),
                                               c_size_t]),
    "hg_engine_set_split": (c_int, [_P, c_int, _ERR]),
    "hg_engine_recovered_steps": (c_uint64, [_P]),
    "hg_engine_last_step_sized": (c_int, [_P, c_size_t, POINTER(_abi.HgDeviceStep),
                                          c_size_t]),
    "hg_engine_last_step_ms": (c_double, [_P]),
    "hg_engine_quarantined": (c_bool, [_P, c_size_t, POINTER(c_char_p)]),
    "hg_engine_program_origin": (c_char_p, [_P, c_size_t]),
    "hg_engine_fission_note": (c_char_p, [_P, c_size_t]),
    "hg_engine_duplicate_note": (c_char_p, [_P, c_size_t]),
}


def library_path():
    """Path of the libhetgrad.so this package loads (see the module's docstring).
    Raises ImportError when there is none."""
    env = os.environ.get("HETGRAD_LIBRARY")
    if env:
        if os.path.isdir(env):
            found = sorted(glob.glob(os.path.join(env, "libhetgrad.so*")))
            if not found:
                raise ImportError("HETGRAD_LIBRARY=%s: no libhetgrad.so* in that directory"
                                  % env)
            return found[0]
        if not os.path.isfile(env):
            raise ImportError("HETGRAD_LIBRARY=%s: no such file" % env)
        return env
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "libhetgrad.so")
    if not os.path.isfile(path):
        raise ImportError(
            "hetgrad: %s is missing: install the package with pip (pip install ./python "
            "builds the C library), or set HETGRAD_LIBRARY to a built libhetgrad.so" % path)
    return path


def _pocl_started():
    """Whether POCL is already loaded in this process (by another package's OpenCL
    use): it has read its environment then, and setting POCL_AFFINITY would change
    nothing but the profile cache's key.  False where that cannot be told."""
    try:
        with open("/proc/self/maps", "rb") as maps:
            return any(b"libpocl" in line for line in maps)
    except OSError:
        return False


def pin_pocl_threads():
    """Set ``POCL_AFFINITY=1`` in the environment, as the tools do first thing
    (``tools/pocl_pin.c``), so that POCL's pthread device pins its worker thread k to
    CPU k.  Unpinned, Linux can put two of them on one core for many steps, and the
    device runs at half speed (docs/engine.md, "Pinning POCL's threads").  Nothing is
    set when ``POCL_AFFINITY`` is set already (``POCL_AFFINITY=0`` keeps the threads
    unpinned), when this process may not run on every online CPU (``taskset``, a
    container's cpuset: POCL would pin a thread to a CPU it does not have), or when
    POCL is loaded already.  The package calls it once, on import, before loading the
    library.  Returns whether it set the variable."""
    if "POCL_AFFINITY" in os.environ or not hasattr(os, "sched_getaffinity"):
        return False
    try:
        online = os.sysconf("SC_NPROCESSORS_ONLN")
        allowed = os.sched_getaffinity(0)
    except (OSError, ValueError):
        return False
    if online < 1 or any(cpu not in allowed for cpu in range(online)) or _pocl_started():
        return False
    os.environ["POCL_AFFINITY"] = "1"
    return True


def _load():
    path = library_path()
    try:
        lib = ctypes.CDLL(path)
    except OSError as e:
        raise ImportError("hetgrad: cannot load %s: %s (are its dependencies, OpenCL's ICD "
                          "loader and CLBlast, installed? scripts/setup.sh installs them)"
                          % (path, e)) from e
    for name, (restype, argtypes) in _PROTOTYPES.items():
        try:
            fn = getattr(lib, name)
        except AttributeError as e:
            raise ImportError("hetgrad: %s does not export %s: the library and the Python "
                              "package come from different versions" % (path, name)) from e
        fn.restype = restype
        fn.argtypes = argtypes
    return lib, path


pinned_pocl = pin_pocl_threads()  # whether importing the package set POCL_AFFINITY=1
lib, path = _load()


def status_name(status):
    """``"HG_NO_DEVICE"`` for a status value."""
    return lib.hg_status_name(status).decode("ascii")


def error(status, message, cl_code=0):
    """The exception for a failed status: ArgumentError for bad input, else Error."""
    cls = ArgumentError if status in (_abi.HG_INVALID_ARGUMENT, _abi.HG_RANGE) else Error
    return cls(status_name(status), message, code=status, cl_code=cl_code)


def raise_for(status, err):
    """Raise the exception for a call that returned status and filled err (HgError)."""
    if status != _abi.HG_OK:
        raise error(status, err.message.decode("utf-8", "replace"), err.cl_code)


def raise_plain(status, what):
    """Raise for a call without an hg_error: the message is what failed and why."""
    if status != _abi.HG_OK:
        raise error(status, "%s: %s" % (what, lib.hg_strerror(status).decode("ascii")))


def text(b):
    """A C string from the library as str ("" for NULL); bytes that are not UTF-8 are
    replaced, never an exception."""
    return b.decode("utf-8", "replace") if b is not None else ""
