# SPDX-License-Identifier: MIT
"""hetgrad.devices(): the device manager's snapshot as dicts, as ``hetgrad-probe --json``
shows it (docs/probe-json.md), with the devices set aside and why."""
import ctypes
import os

from . import _abi
from ._lib import lib, raise_for, text
from .errors import ArgumentError

_CL_TYPE_BITS = ((1 << 0, "DEFAULT"), (1 << 1, "CPU"), (1 << 2, "GPU"),
                 (1 << 3, "ACCELERATOR"), (1 << 4, "CUSTOM"))


def _prop_names():
    """Every property's JSON key, in hg_prop order (the library lists them)."""
    names = []
    while True:
        name = lib.hg_prop_name(len(names))
        if name is None:
            return names
        names.append(name.decode("ascii"))


_PROPS = _prop_names()
# Property keys whose value sits under another key of the dict: "type" is the raw
# CL_DEVICE_TYPE (the dict's "type" is the class hetgrad derived from it).
_DICT_KEY = {"type": "cl_type"}


def device_dict(info_ptr, id_of=None):
    """One hg_device_info as a dict with the probe's JSON keys.  A property whose query
    failed is None and named in failed_properties.  id_of(index) names the device that
    duplicate_of points at (None: the engine's devices, which are never duplicates)."""
    d = info_ptr.contents
    failed = [name for i, name in enumerate(_PROPS) if not lib.hg_device_prop_ok(info_ptr, i)]
    out = {
        "id": text(d.id),
        "index": d.index,
        "platform_index": d.platform,
        "platform": text(d.platform_name),
        "type": text(lib.hg_device_type_name(d.type)),
        "cl_type": "|".join(n for bit, n in _CL_TYPE_BITS if d.cl_type & bit),
        "name": text(d.name),
        "vendor": text(d.vendor),
        "vendor_id": d.vendor_id,
        "available": d.available,
        "driver_version": text(d.driver_version),
        "opencl_version": text(d.opencl_version),
        "opencl_c_version": text(d.opencl_c_version),
        "extensions": text(d.extensions),
        "compute_units": d.compute_units,
        "max_clock_mhz": d.max_clock_mhz,
        "global_mem_bytes": d.global_mem_bytes,
        "global_mem_cache_bytes": d.global_mem_cache_bytes,
        "local_mem_bytes": d.local_mem_bytes,
        "constant_mem_bytes": d.constant_mem_bytes,
        "max_alloc_bytes": d.max_alloc_bytes,
        "max_work_group_size": d.max_work_group_size,
        "profiling_resolution_ns": d.profiling_resolution_ns,
        "host_unified_memory": d.host_unified_memory,
        "compiler_available": d.compiler_available,
        "linker_available": d.linker_available,
        "fp64": d.fp64,
        "fp16": d.fp16,
        "pci_bus": ("%04x:%02x:%02x.%x" % (d.pci.domain, d.pci.bus, d.pci.device,
                                           d.pci.function)) if d.has_pci else None,
        "pci_source": text(d.pci_source) if d.has_pci else None,
        "uuid": _uuid(bytes(d.uuid)) if d.has_uuid else None,
        "failed_properties": failed,
        "selected": d.selected,
        "kept": d.kept,
        "duplicate_of": id_of(d.duplicate_of) if id_of and d.duplicate_of >= 0 else None,
        "reason": text(d.reason),
    }
    for key in failed:
        out[_DICT_KEY.get(key, key)] = None
    return out


def _uuid(b):
    h = b.hex()
    return "-".join((h[:8], h[8:12], h[12:16], h[16:20], h[20:]))


# hg_log_level (include/hetgrad/device.h) by the names the tools take in HETGRAD_LOG
_LOG_LEVELS = {"error": _abi.HG_LOG_ERROR, "warn": _abi.HG_LOG_WARN,
               "warning": _abi.HG_LOG_WARN, "info": _abi.HG_LOG_INFO,
               "debug": _abi.HG_LOG_DEBUG}


def _log_level(level, use_environment):
    """The library's hg_log_level for log_level=level: a level's name, or None
    for $HETGRAD_LOG (when use_environment) and else "warn"."""
    source = "log_level"
    if level is None:
        level = os.environ.get("HETGRAD_LOG", "") if use_environment else ""
        source = "HETGRAD_LOG"
        if not level:
            return _LOG_LEVELS["warn"]
    if not isinstance(level, str) or level.lower() not in _LOG_LEVELS:
        raise ArgumentError("HG_INVALID_ARGUMENT", "%s=%r is not a log level "
                            "(debug, info, warn, error)" % (source, level))
    return _LOG_LEVELS[level.lower()]


def devices(selection=None, keep_duplicates=False, use_environment=True, log_level=None):
    """Every OpenCL device behind the ICD loader, as a list of dicts in the device
    manager's order (platforms sorted, docs/devices.md).

    Nothing is filtered out: ``kept`` is True for the devices hetgrad computes on, and
    ``reason`` says why each device was kept, set aside (a duplicate view of the same
    hardware; ``duplicate_of`` is the id of the kept one) or not selected.

    selection: an expression in the syntax of ``HETGRAD_DEVICES`` ("gpu,cpu", "-oclgrind",
        "name:pthread"); None selects every device.
    keep_duplicates: keep every selected device, even several views of the same hardware.
    use_environment: apply ``HETGRAD_DEVICES`` too (a device must pass both).
    log_level: which of the library's messages go to stderr, as for hetgrad.Engine.

    Raises hetgrad.Error (``HG_BAD_SELECTION`` for an expression naming no device).
    """
    opt = _abi.HgOptions()
    lib.hg_options_init_sized(ctypes.byref(opt), ctypes.sizeof(opt))
    sel = _selection_bytes(selection)
    opt.devices = sel
    opt.devices_source = b"hetgrad.devices(selection)"
    opt.keep_duplicates = bool(keep_duplicates)
    opt.use_environment = bool(use_environment)
    opt.log_level = _log_level(log_level, opt.use_environment)
    handle = ctypes.c_void_p()
    err = _abi.HgError()
    raise_for(lib.hg_device_list_create(ctypes.byref(opt), ctypes.byref(handle),
                                        ctypes.byref(err)), err)
    try:
        n = lib.hg_device_list_count(handle)

        def id_of(i):
            return text(lib.hg_device_list_get(handle, i).contents.id)

        return [device_dict(lib.hg_device_list_get(handle, i), id_of) for i in range(n)]
    finally:
        lib.hg_device_list_destroy(handle)


def _selection_bytes(selection):
    """A selection expression as the bytes the library reads (None: select all).  A list
    or tuple of terms is joined with commas."""
    if selection is None:
        return None
    if isinstance(selection, (list, tuple)):
        selection = ",".join(selection)
    if not isinstance(selection, str):
        raise TypeError("devices: expected a selection expression (str), a list of "
                        "terms, or None; got %s" % type(selection).__name__)
    if "\0" in selection:
        raise ValueError("devices: the selection expression holds a NUL character")
    return selection.encode("utf-8")
