# SPDX-License-Identifier: MIT
"""The C structs and constants of libhetgrad that Python mirrors, all in this one module.

ctypes cannot read C headers, so every struct whose fields Python reads or writes is
written out again here, field for field, in header order.  Everything else goes through
functions (``hg_*_init`` fill option structs with their defaults, ``hg_status_name``
names a status, ``hg_prop_name`` lists the properties), so Python relies on as little
layout as possible.

A layout that drifts from the headers would corrupt memory silently, so
``tests/test_abi.py`` compiles a C program against ``include/`` that prints
``sizeof``, ``_Alignof`` and ``offsetof`` of every field of every struct in
``STRUCTS`` and the value of every name in ``CONSTANTS``, and fails on any
difference.  Change a public struct in C, and that test names the field to fix here.
"""
import ctypes
from ctypes import (
    c_bool,
    c_char,
    c_char_p,
    c_double,
    c_int,
    c_int32,
    c_size_t,
    c_uint,
    c_uint8,
    c_uint32,
    c_uint64,
    c_void_p,
)

# ---- constants (checked against the headers) ----------------------------------------
HG_OK = 0
HG_INVALID_ARGUMENT = 1
HG_RANGE = 8
HG_ERROR_MESSAGE_MAX = 512
HG_MAX_HIDDEN = 16

HG_MODEL_LINEAR = 1
HG_MODEL_SOFTMAX = 2
HG_MODEL_MLP = 3

HG_SPLIT_WEIGHTS = 0
HG_SPLIT_MODEL = 1
HG_SPLIT_DYNAMIC = 2

HG_DEVICE_CPU = 1
HG_DEVICE_GPU = 2
HG_DEVICE_ACCELERATOR = 4
HG_DEVICE_CUSTOM = 8

HG_LOG_ERROR = -1
HG_LOG_WARN = 0
HG_LOG_INFO = 1
HG_LOG_DEBUG = 2

# Python name -> C expression, for tests/test_abi.py.
CONSTANTS = {
    "HG_OK": "HG_OK",
    "HG_INVALID_ARGUMENT": "HG_INVALID_ARGUMENT",
    "HG_RANGE": "HG_RANGE",
    "HG_ERROR_MESSAGE_MAX": "HG_ERROR_MESSAGE_MAX",
    "HG_MAX_HIDDEN": "HG_MAX_HIDDEN",
    "HG_MODEL_LINEAR": "HG_MODEL_LINEAR",
    "HG_MODEL_SOFTMAX": "HG_MODEL_SOFTMAX",
    "HG_MODEL_MLP": "HG_MODEL_MLP",
    "HG_SPLIT_WEIGHTS": "HG_SPLIT_WEIGHTS",
    "HG_SPLIT_MODEL": "HG_SPLIT_MODEL",
    "HG_SPLIT_DYNAMIC": "HG_SPLIT_DYNAMIC",
    "HG_DEVICE_CPU": "HG_DEVICE_CPU",
    "HG_DEVICE_GPU": "HG_DEVICE_GPU",
    "HG_DEVICE_ACCELERATOR": "HG_DEVICE_ACCELERATOR",
    "HG_DEVICE_CUSTOM": "HG_DEVICE_CUSTOM",
    "HG_LOG_ERROR": "HG_LOG_ERROR",
    "HG_LOG_WARN": "HG_LOG_WARN",
    "HG_LOG_INFO": "HG_LOG_INFO",
    "HG_LOG_DEBUG": "HG_LOG_DEBUG",
}

# C enums are int-sized on every ABI hetgrad builds for (the values fit in an int).
c_enum = c_int


# ---- status.h -------------------------------------------------------------------------
class HgError(ctypes.Structure):
    _fields_ = [
        ("status", c_enum),
        ("cl_code", c_int32),
        ("message", c_char * HG_ERROR_MESSAGE_MAX),
    ]


# ---- device.h -------------------------------------------------------------------------
class HgPciAddress(ctypes.Structure):
    _fields_ = [
        ("domain", c_uint32),
        ("bus", c_uint32),
        ("device", c_uint32),
        ("function", c_uint32),
    ]


class HgPlatformInfo(ctypes.Structure):
    _fields_ = [
        ("name", c_char_p),
        ("vendor", c_char_p),
        ("version", c_char_p),
        ("profile", c_char_p),
        ("extensions", c_char_p),
        ("device_count", c_size_t),
        ("status", c_enum),
        ("error", c_char_p),
    ]


class HgDeviceInfo(ctypes.Structure):
    _fields_ = [
        ("id", c_char_p),
        ("index", c_size_t),
        ("platform", c_size_t),
        ("platform_name", c_char_p),
        ("type", c_uint),
        ("cl_type", c_uint64),
        ("name", c_char_p),
        ("vendor", c_char_p),
        ("vendor_id", c_uint32),
        ("available", c_bool),
        ("driver_version", c_char_p),
        ("opencl_version", c_char_p),
        ("opencl_c_version", c_char_p),
        ("extensions", c_char_p),
        ("compute_units", c_uint32),
        ("max_clock_mhz", c_uint32),
        ("global_mem_bytes", c_uint64),
        ("global_mem_cache_bytes", c_uint64),
        ("local_mem_bytes", c_uint64),
        ("constant_mem_bytes", c_uint64),
        ("max_alloc_bytes", c_uint64),
        ("max_work_group_size", c_size_t),
        ("profiling_resolution_ns", c_uint64),
        ("host_unified_memory", c_bool),
        ("compiler_available", c_bool),
        ("linker_available", c_bool),
        ("fp64", c_bool),
        ("fp16", c_bool),
        ("has_pci", c_bool),
        ("pci", HgPciAddress),
        ("pci_source", c_char_p),
        ("has_uuid", c_bool),
        ("uuid", c_uint8 * 16),
        ("prop_failed", c_uint64),
        ("selected", c_bool),
        ("kept", c_bool),
        ("duplicate_of", ctypes.c_long),
        ("reason", c_char_p),
    ]


class HgOptions(ctypes.Structure):
    _fields_ = [
        ("struct_size", c_size_t),
        ("device_types", c_uint),
        ("devices", c_char_p),
        ("use_environment", c_bool),
        ("keep_duplicates", c_bool),
        ("log", c_void_p),
        ("log_user", c_void_p),
        ("log_level", c_enum),
        ("devices_source", c_char_p),
    ]


# ---- model.h --------------------------------------------------------------------------
class HgModelDesc(ctypes.Structure):
    _fields_ = [
        ("kind", c_enum),
        ("inputs", c_size_t),
        ("outputs", c_size_t),
        ("nhidden", c_size_t),
        ("hidden", c_size_t * HG_MAX_HIDDEN),
        ("custom_source", c_char_p),
        ("custom_kernel", c_char_p),
        ("custom_params", c_size_t),
    ]


class HgDatasetDesc(ctypes.Structure):
    _fields_ = [
        ("rows", c_size_t),
        ("inputs", c_size_t),
        ("x", c_void_p),
        ("targets", c_void_p),
        ("labels", c_void_p),
    ]


# ---- engine.h -------------------------------------------------------------------------
class HgEngineOptions(ctypes.Structure):
    _fields_ = [
        ("struct_size", c_size_t),
        ("devices", ctypes.POINTER(HgOptions)),
        ("device_mem_limit", c_size_t),
        ("gemm", c_enum),
        ("deterministic", c_bool),
        ("block_rows", c_size_t),
        ("cache_dir", c_char_p),
        ("no_program_cache", c_bool),
        ("no_profile_cache", c_bool),
        ("binary_dir", c_char_p),
        ("deadline_factor", c_double),
        ("fault_hook", c_void_p),
        ("fault_user", c_void_p),
        ("batch_rows", c_size_t),
        ("work_rows", c_size_t),
    ]


class HgDeviceStep(ctypes.Structure):
    _fields_ = [
        ("rows", c_size_t),
        ("pieces", c_size_t),
        ("host_ms", c_double),
        ("device_ms", c_double),
        ("transfer_ms", c_double),
        ("recovered_rows", c_size_t),
        ("failed", c_bool),
        ("start_ms", c_double),
        ("end_ms", c_double),
    ]


class HgDeviceProfile(ctypes.Structure):
    _fields_ = [
        ("valid", c_bool),
        ("fixed_ms", c_double),
        ("ms_per_row", c_double),
        ("rows_per_s", c_double),
        ("samples", c_size_t),
        ("rejected", c_size_t),
        ("from_cache", c_bool),
        ("kernel", c_char * 48),
        ("kernel_note", c_char * HG_ERROR_MESSAGE_MAX),
        ("corun_factor", c_double),
        ("excluded", c_bool),
        ("excluded_why", c_char * 256),
        ("dispatch_floor_ms", c_double),
    ]


# ---- sparse.h -------------------------------------------------------------------------
class HgCsrDesc(ctypes.Structure):
    _fields_ = [
        ("struct_size", c_size_t),
        ("rows", c_size_t),
        ("inputs", c_size_t),
        ("row_ptr", c_void_p),
        ("cols", c_void_p),
        ("vals", c_void_p),
        ("targets", c_void_p),
        ("labels", c_void_p),
    ]


# C typedef name -> mirror, for tests/test_abi.py.
STRUCTS = {
    "hg_error": HgError,
    "hg_pci_address": HgPciAddress,
    "hg_platform_info": HgPlatformInfo,
    "hg_device_info": HgDeviceInfo,
    "hg_options": HgOptions,
    "hg_model_desc": HgModelDesc,
    "hg_dataset_desc": HgDatasetDesc,
    "hg_engine_options": HgEngineOptions,
    "hg_device_step": HgDeviceStep,
    "hg_device_profile": HgDeviceProfile,
    "hg_csr_desc": HgCsrDesc,
}

# Headers that declare them, relative to include/.
HEADERS = ["hetgrad/status.h", "hetgrad/device.h", "hetgrad/model.h", "hetgrad/engine.h",
           "hetgrad/sparse.h"]
