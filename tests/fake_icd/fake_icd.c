/* SPDX-License-Identifier: MIT */
/*
 * fake_icd.c - a fake OpenCL ICD (vendor driver) for hetgrad's tests.
 *
 * The ICD loader (ocl-icd) dlopen()s this library through an .icd file and
 * sees two platforms with seven devices that imitate hardware we do not have
 * (several GPU vendors, one GPU exposed by two drivers, an FPGA, a custom
 * device) plus driver failures we cannot otherwise provoke.  Nothing can be
 * executed: contexts and queues cannot be created.
 *
 * Use:
 *   gcc -std=c11 -Wall -Wextra -Werror -fPIC -shared \
 *       -DCL_TARGET_OPENCL_VERSION=300 -o libhg_fake_icd.so fake_icd.c
 *   echo /abs/path/libhg_fake_icd.so > DIR/hg_fake.icd
 *   OCL_ICD_VENDORS=DIR HG_FAKE_ICD_MODE=gpus ./test
 * (ocl-icd also accepts OCL_ICD_VENDORS=/abs/path/libhg_fake_icd.so: a path
 * that is neither a directory nor ends in ".icd" is loaded as the only ICD.)
 *
 * HG_FAKE_ICD_MODE selects the behaviour; an unset, empty or unknown value
 * means "gpus".  It is read on every call, BUT ocl-icd enumerates platforms
 * only once per process (on the first OpenCL call), so set it before that
 * call and use one process per mode.
 *
 *   gpus               Platform A "Fake Platform A" (OpenCL 3.0):
 *                        1 Fake GPU X   NVIDIA id, cl_khr_pci_bus_info 0:1:0.0,
 *                                       cl_khr_device_uuid 0x11 x16, fp64
 *                        2 Fake GPU Y   AMD id, CL_DEVICE_TOPOLOGY_AMD bus 2
 *                        3 Fake GPU Z   Intel id, cl_khr_device_uuid 0x33 x16
 *                        4 Fake FPGA    accelerator, no compiler/linker
 *                      Platform B "Fake Platform B" (OpenCL 1.2):
 *                        5 Fake GPU X (second driver)  NV attribute query,
 *                                       PCI 0:1:0.0 = same hardware as 1
 *                        6 Fake GPU Z (second driver)  same UUID as 3
 *                        7 Fake Custom  CL_DEVICE_TYPE_CUSTOM
 *   fail_devices       clGetDeviceIDs on platform B -> CL_OUT_OF_RESOURCES.
 *   fail_platform_info clGetPlatformInfo on platform B -> CL_OUT_OF_HOST_MEMORY
 *                      except CL_PLATFORM_EXTENSIONS and
 *                      CL_PLATFORM_ICD_SUFFIX_KHR: ocl-icd queries exactly
 *                      these two when it loads the ICD and silently drops a
 *                      platform if either fails (or if the extensions lack
 *                      "cl_khr_icd").  The loader cannot be told apart from
 *                      the application, so these two work for everyone.
 *   fail_query         Fake GPU Y: GLOBAL_MEM_SIZE, MAX_COMPUTE_UNITS and
 *                      EXTENSIONS -> CL_OUT_OF_RESOURCES.
 *   fail_all_queries   Fake FPGA: every clGetDeviceInfo -> CL_OUT_OF_RESOURCES.
 *   huge_sizes         Fake GPU Z: every string query claims 1 TiB (1 << 40)
 *                      bytes and rejects any smaller buffer (a lying driver).
 *   unterminated       Fake GPU Y: CL_DEVICE_NAME comes back without its NUL.
 *   zero               clIcdGetPlatformIDsKHR reports 0 platforms and returns
 *                      CL_PLATFORM_NOT_FOUND_KHR.  ocl-icd then unloads this
 *                      ICD; with no other ICD, clGetPlatformIDs returns
 *                      CL_PLATFORM_NOT_FOUND_KHR (-1001), *num_platforms = 0.
 *
 * Derived per-device values use the device number n (1..7) above:
 * MAX_COMPUTE_UNITS = 10*n, GLOBAL_MEM_SIZE = n GiB, MAX_CLOCK_FREQUENCY =
 * 1000+100*n MHz, GLOBAL_MEM_CACHE_SIZE = n MiB, MAX_MEM_ALLOC_SIZE = n/4 GiB.
 * CL_DEVICE_TYPE never includes CL_DEVICE_TYPE_DEFAULT (the first device of
 * a platform is the default one); the FPGA reports EMBEDDED_PROFILE, the only
 * profile in which a missing compiler is allowed.  Unknown parameters and
 * queries newer than the device's version return CL_INVALID_VALUE.
 *
 * ocl-icd requirements (checked against ocl-icd 2.3.1):
 *  - dlsym(handle, "clGetExtensionFunctionAddress") must succeed;
 *  - "clIcdGetPlatformIDsKHR" and "clGetPlatformInfo" must be found through
 *    it or by dlsym, otherwise the whole ICD is skipped;
 *  - each platform must answer CL_PLATFORM_EXTENSIONS (containing
 *    "cl_khr_icd") and CL_PLATFORM_ICD_SUFFIX_KHR, each asked twice: size
 *    first, then value;
 *  - with more than one platform in total it sorts them by calling
 *    dispatch->clGetDeviceIDs(GPU, CPU, ALL) with num_entries 0; errors
 *    there are ignored (the platform counts as having 0 devices).  Platforms
 *    are ordered by GPU count, then CPU, then all devices, so next to another
 *    ICD (pocl) the fake platforms come first unless
 *    OCL_ICD_PLATFORM_SORT=none.
 * clinfo never crashes, but it gives up with exit status 1 in
 * fail_devices ("number of devices : error -5") and huge_sizes ("Out of
 * memory" trying to allocate 1 TiB for Fake GPU Z's name).
 * Only clIcdGetPlatformIDsKHR, clGetExtensionFunctionAddress and
 * clGetExtensionFunctionAddressForPlatform are exported; everything else is
 * static and reached through the dispatch table.  Exporting e.g. clGetPlatformInfo
 * would let the dynamic linker bind our own references to libOpenCL's
 * function of that name, which dispatches back to us: endless recursion.
 */
#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 300
#endif
#define CL_USE_DEPRECATED_OPENCL_1_0_APIS
#define CL_USE_DEPRECATED_OPENCL_1_1_APIS
#define CL_USE_DEPRECATED_OPENCL_1_2_APIS
#define CL_USE_DEPRECATED_OPENCL_2_0_APIS
#define CL_USE_DEPRECATED_OPENCL_2_1_APIS
#define CL_USE_DEPRECATED_OPENCL_2_2_APIS

#include <CL/cl.h>
#include <CL/cl_ext.h>
#include <CL/cl_icd.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* cl_nv_device_attribute_query PCI location (not in the Khronos headers). */
#ifndef CL_DEVICE_PCI_BUS_ID_NV
#define CL_DEVICE_PCI_BUS_ID_NV 0x4008
#endif
#ifndef CL_DEVICE_PCI_SLOT_ID_NV
#define CL_DEVICE_PCI_SLOT_ID_NV 0x4009
#endif
#ifndef CL_DEVICE_PCI_DOMAIN_ID_NV
#define CL_DEVICE_PCI_DOMAIN_ID_NV 0x400A
#endif

#define EXPORT __attribute__((visibility("default")))
/* Function pointer -> void * without the ISO C warning about it. */
#define FN_ADDR(f) ((void *)(uintptr_t)(f))

/* ---------------------------------------------------------------- modes */

enum mode {
  MODE_GPUS, MODE_FAIL_DEVICES, MODE_FAIL_PLATFORM_INFO, MODE_FAIL_QUERY,
  MODE_FAIL_ALL_QUERIES, MODE_HUGE_SIZES, MODE_UNTERMINATED, MODE_ZERO
};

static enum mode get_mode(void) {
  static const struct { const char *name; enum mode mode; } modes[] = {
    {"gpus", MODE_GPUS},
    {"fail_devices", MODE_FAIL_DEVICES},
    {"fail_platform_info", MODE_FAIL_PLATFORM_INFO},
    {"fail_query", MODE_FAIL_QUERY},
    {"fail_all_queries", MODE_FAIL_ALL_QUERIES},
    {"huge_sizes", MODE_HUGE_SIZES},
    {"unterminated", MODE_UNTERMINATED},
    {"zero", MODE_ZERO},
  };
  const char *s = getenv("HG_FAKE_ICD_MODE");
  for (size_t i = 0; s && i < sizeof modes / sizeof modes[0]; i++)
    if (strcmp(s, modes[i].name) == 0) return modes[i].mode;
  return MODE_GPUS;
}

/* -------------------------------------------------------------- objects */

/* cl_khr_icd: the first member of every object is the dispatch table. */
struct _cl_platform_id {
  const cl_icd_dispatch *dispatch;
  const char *name, *version;
  cl_version numeric_version;
  unsigned char driver_uuid;  /* CL_DRIVER_UUID_KHR fill byte */
  unsigned first, count;      /* slice of fake_devices[] */
};

struct _cl_device_id {
  const cl_icd_dispatch *dispatch;
  unsigned n;                 /* device number 1..7, see the top comment */
  cl_platform_id platform;
  const char *name, *vendor, *extensions;
  cl_device_type type;
  cl_uint vendor_id;
  cl_bool compiler;           /* COMPILER_AVAILABLE and LINKER_AVAILABLE */
  cl_uint pci_bus;            /* domain, device and function are always 0 */
  unsigned char uuid;         /* CL_DEVICE_UUID_KHR fill byte */
};

static const cl_icd_dispatch fake_dispatch; /* defined at the bottom */

enum { PLAT_A, PLAT_B, NUM_PLATFORMS };
/* Device numbers the failure modes refer to. */
enum { DEV_X = 1, DEV_Y, DEV_Z, DEV_FPGA, DEV_X2, DEV_Z2, DEV_CUSTOM };

static struct _cl_platform_id fake_platforms[NUM_PLATFORMS] = {
  {&fake_dispatch, "Fake Platform A", "OpenCL 3.0 fake-a",
   CL_MAKE_VERSION(3, 0, 0), 0xa0, 0, 4},
  {&fake_dispatch, "Fake Platform B", "OpenCL 1.2 fake-b",
   CL_MAKE_VERSION(1, 2, 0), 0xb0, 4, 3},
};

#define PA (&fake_platforms[PLAT_A])
#define PB (&fake_platforms[PLAT_B])
static struct _cl_device_id fake_devices[] = {
  {&fake_dispatch, DEV_X, PA, "Fake GPU X", "Fake NVIDIA",
   "cl_khr_pci_bus_info cl_khr_device_uuid cl_khr_fp64",
   CL_DEVICE_TYPE_GPU, 0x10de, CL_TRUE, 1, 0x11},
  {&fake_dispatch, DEV_Y, PA, "Fake GPU Y", "Fake AMD",
   "cl_amd_device_attribute_query",
   CL_DEVICE_TYPE_GPU, 0x1002, CL_TRUE, 2, 0},
  {&fake_dispatch, DEV_Z, PA, "Fake GPU Z", "Fake Intel",
   "cl_khr_device_uuid",
   CL_DEVICE_TYPE_GPU, 0x8086, CL_TRUE, 0, 0x33},
  {&fake_dispatch, DEV_FPGA, PA, "Fake FPGA", "Fake FPGA vendor", "",
   CL_DEVICE_TYPE_ACCELERATOR, 0x1172, CL_FALSE, 0, 0},
  {&fake_dispatch, DEV_X2, PB, "Fake GPU X (second driver)", "Fake NVIDIA",
   "cl_nv_device_attribute_query",
   CL_DEVICE_TYPE_GPU, 0x10de, CL_TRUE, 1, 0},
  {&fake_dispatch, DEV_Z2, PB, "Fake GPU Z (second driver)", "Fake Intel",
   "cl_khr_device_uuid",
   CL_DEVICE_TYPE_GPU, 0x8086, CL_TRUE, 0, 0x33},
  {&fake_dispatch, DEV_CUSTOM, PB, "Fake Custom", "Fake custom vendor", "",
   CL_DEVICE_TYPE_CUSTOM, 0, CL_TRUE, 0, 0},
};
#undef PA
#undef PB

static int valid_platform(cl_platform_id p) {
  return p == &fake_platforms[PLAT_A] || p == &fake_platforms[PLAT_B];
}

static int valid_device(cl_device_id d) {
  for (size_t i = 0; i < sizeof fake_devices / sizeof fake_devices[0]; i++)
    if (d == &fake_devices[i]) return 1;
  return 0;
}

/* Whole-word match in a space separated extension list. */
static int has_ext(const char *list, const char *ext) {
  size_t len = strlen(ext);
  for (const char *p = list; (p = strstr(p, ext)) != NULL; p += len)
    if ((p == list || p[-1] == ' ') && (p[len] == ' ' || p[len] == '\0'))
      return 1;
  return 0;
}

/* ------------------------------------------------ clGet*Info plumbing */

/* Where a clGet*Info answer goes: (param_value_size, param_value,
 * param_value_size_ret) of the call. */
struct out { size_t size; void *value; size_t *size_ret; };

/* The OpenCL rules: value may be NULL (only the size is reported); a
 * too-small buffer is CL_INVALID_VALUE and nothing is written. */
static cl_int put(struct out o, const void *src, size_t n) {
  if (o.value) {
    if (o.size < n) return CL_INVALID_VALUE;
    if (n) memcpy(o.value, src, n);
  }
  if (o.size_ret) *o.size_ret = n;
  return CL_SUCCESS;
}
static cl_int put_uint(struct out o, cl_uint v) { return put(o, &v, sizeof v); }
static cl_int put_ulong(struct out o, cl_ulong v) { return put(o, &v, sizeof v); }
static cl_int put_size(struct out o, size_t v) { return put(o, &v, sizeof v); }
static cl_int put_str(struct out o, const char *s) {
  return put(o, s, strlen(s) + 1); /* the size includes the NUL */
}

/* ----------------------------------------------------- platform layer */

static cl_int CL_API_CALL fake_IcdGetPlatformIDs(cl_uint num_entries,
    cl_platform_id *platforms, cl_uint *num_platforms) {
  if ((num_entries == 0 && platforms) || (!platforms && !num_platforms))
    return CL_INVALID_VALUE;
  if (get_mode() == MODE_ZERO) {
    if (num_platforms) *num_platforms = 0;
    return CL_PLATFORM_NOT_FOUND_KHR;
  }
  for (cl_uint i = 0; platforms && i < num_entries && i < NUM_PLATFORMS; i++)
    platforms[i] = &fake_platforms[i];
  if (num_platforms) *num_platforms = NUM_PLATFORMS;
  return CL_SUCCESS;
}

static cl_int CL_API_CALL fake_GetPlatformInfo(cl_platform_id p,
    cl_platform_info param, size_t size, void *value, size_t *size_ret) {
  struct out o = {size, value, size_ret};
  if (!valid_platform(p)) return CL_INVALID_PLATFORM;
  int v30 = p->numeric_version >= CL_MAKE_VERSION(3, 0, 0);
  switch (param) { /* needed by ocl-icd to accept the platform at all */
  case CL_PLATFORM_EXTENSIONS: return put_str(o, "cl_khr_icd");
  case CL_PLATFORM_ICD_SUFFIX_KHR: return put_str(o, "HGFAKE");
  }
  if (p == &fake_platforms[PLAT_B] && get_mode() == MODE_FAIL_PLATFORM_INFO)
    return CL_OUT_OF_HOST_MEMORY;
  switch (param) {
  case CL_PLATFORM_PROFILE: return put_str(o, "FULL_PROFILE");
  case CL_PLATFORM_VERSION: return put_str(o, p->version);
  case CL_PLATFORM_NAME: return put_str(o, p->name);
  case CL_PLATFORM_VENDOR: return put_str(o, "hetgrad fake");
  }
  if (v30) switch (param) { /* OpenCL 2.1 / 3.0 queries */
  case CL_PLATFORM_HOST_TIMER_RESOLUTION: return put_ulong(o, 0);
  case CL_PLATFORM_NUMERIC_VERSION: return put_uint(o, p->numeric_version);
  case CL_PLATFORM_EXTENSIONS_WITH_VERSION: {
    cl_name_version ext = {CL_MAKE_VERSION(1, 0, 0), "cl_khr_icd"};
    return put(o, &ext, sizeof ext);
  }
  }
  return CL_INVALID_VALUE;
}

static cl_int CL_API_CALL fake_GetDeviceIDs(cl_platform_id p,
    cl_device_type type, cl_uint num_entries, cl_device_id *devices,
    cl_uint *num_devices) {
  const cl_device_type known = CL_DEVICE_TYPE_DEFAULT | CL_DEVICE_TYPE_CPU |
      CL_DEVICE_TYPE_GPU | CL_DEVICE_TYPE_ACCELERATOR | CL_DEVICE_TYPE_CUSTOM;
  if (!valid_platform(p)) return CL_INVALID_PLATFORM;
  if (type != CL_DEVICE_TYPE_ALL && (type == 0 || (type & ~known)))
    return CL_INVALID_DEVICE_TYPE;
  if ((num_entries == 0 && devices) || (!devices && !num_devices))
    return CL_INVALID_VALUE;
  if (p == &fake_platforms[PLAT_B] && get_mode() == MODE_FAIL_DEVICES)
    return CL_OUT_OF_RESOURCES;
  cl_uint found = 0;
  for (unsigned i = 0; i < p->count; i++) {
    cl_device_id d = &fake_devices[p->first + i];
    int match = type == CL_DEVICE_TYPE_ALL || (d->type & type) ||
                (i == 0 && (type & CL_DEVICE_TYPE_DEFAULT));
    if (!match) continue;
    if (devices && found < num_entries) devices[found] = d;
    found++;
  }
  if (found == 0) return CL_DEVICE_NOT_FOUND;
  if (num_devices) *num_devices = found;
  return CL_SUCCESS;
}

/* ------------------------------------------------------- device info */

static int is_string_param(cl_device_info param) {
  switch (param) {
  case CL_DEVICE_NAME: case CL_DEVICE_VENDOR: case CL_DRIVER_VERSION:
  case CL_DEVICE_VERSION: case CL_DEVICE_PROFILE: case CL_DEVICE_EXTENSIONS:
  case CL_DEVICE_OPENCL_C_VERSION: case CL_DEVICE_BUILT_IN_KERNELS:
    return 1;
  }
  return 0;
}

static cl_int CL_API_CALL fake_GetDeviceInfo(cl_device_id d,
    cl_device_info param, size_t size, void *value, size_t *size_ret) {
  struct out o = {size, value, size_ret};
  if (!valid_device(d)) return CL_INVALID_DEVICE;
  enum mode mode = get_mode();
  int v30 = d->platform->numeric_version >= CL_MAKE_VERSION(3, 0, 0);
  int gpu = (d->type & CL_DEVICE_TYPE_GPU) != 0;
  const char *exts = d->extensions;
  const cl_ulong GiB = (cl_ulong)1 << 30, MiB = (cl_ulong)1 << 20;

  /* Failure injection, before anything is looked at. */
  if (mode == MODE_FAIL_ALL_QUERIES && d->n == DEV_FPGA)
    return CL_OUT_OF_RESOURCES;
  if (mode == MODE_FAIL_QUERY && d->n == DEV_Y &&
      (param == CL_DEVICE_GLOBAL_MEM_SIZE ||
       param == CL_DEVICE_MAX_COMPUTE_UNITS || param == CL_DEVICE_EXTENSIONS))
    return CL_OUT_OF_RESOURCES;
  if (mode == MODE_HUGE_SIZES && d->n == DEV_Z && is_string_param(param)) {
    if (value) return CL_INVALID_VALUE; /* any real buffer is "too small" */
    if (size_ret) *size_ret = (size_t)1 << 40;
    return CL_SUCCESS;
  }
  if (mode == MODE_UNTERMINATED && d->n == DEV_Y && param == CL_DEVICE_NAME)
    return put(o, d->name, strlen(d->name));

  switch (param) {
  /* Strings. */
  case CL_DEVICE_NAME: return put_str(o, d->name);
  case CL_DEVICE_VENDOR: return put_str(o, d->vendor);
  case CL_DRIVER_VERSION: return put_str(o, "fake 1.0");
  case CL_DEVICE_VERSION:
    return put_str(o, v30 ? "OpenCL 3.0 fake" : "OpenCL 1.2 fake");
  case CL_DEVICE_OPENCL_C_VERSION: return put_str(o, "OpenCL C 1.2 fake");
  case CL_DEVICE_PROFILE:
    return put_str(o, d->compiler ? "FULL_PROFILE" : "EMBEDDED_PROFILE");
  case CL_DEVICE_EXTENSIONS: return put_str(o, exts);
  case CL_DEVICE_BUILT_IN_KERNELS: return put_str(o, "");
  /* Identity. */
  case CL_DEVICE_TYPE: return put(o, &d->type, sizeof d->type);
  case CL_DEVICE_VENDOR_ID: return put_uint(o, d->vendor_id);
  case CL_DEVICE_PLATFORM: return put(o, &d->platform, sizeof d->platform);
  case CL_DEVICE_PARENT_DEVICE: {
    cl_device_id none = NULL;
    return put(o, &none, sizeof none);
  }
  case CL_DEVICE_REFERENCE_COUNT: return put_uint(o, 1);
  case CL_DEVICE_AVAILABLE: return put_uint(o, CL_TRUE);
  case CL_DEVICE_COMPILER_AVAILABLE:
  case CL_DEVICE_LINKER_AVAILABLE: return put_uint(o, d->compiler);
  /* Compute. */
  case CL_DEVICE_MAX_COMPUTE_UNITS: return put_uint(o, 10 * d->n);
  case CL_DEVICE_MAX_CLOCK_FREQUENCY: return put_uint(o, 1000 + 100 * d->n);
  case CL_DEVICE_MAX_WORK_ITEM_DIMENSIONS: return put_uint(o, 3);
  case CL_DEVICE_MAX_WORK_ITEM_SIZES: {
    size_t sizes[3] = {1024, 1024, 64};
    return put(o, sizes, sizeof sizes);
  }
  case CL_DEVICE_MAX_WORK_GROUP_SIZE: return put_size(o, gpu ? 1024 : 256);
  case CL_DEVICE_ADDRESS_BITS: return put_uint(o, 64);
  case CL_DEVICE_ENDIAN_LITTLE: return put_uint(o, CL_TRUE);
  case CL_DEVICE_ERROR_CORRECTION_SUPPORT: return put_uint(o, CL_FALSE);
  case CL_DEVICE_PROFILING_TIMER_RESOLUTION: return put_size(o, 1);
  case CL_DEVICE_EXECUTION_CAPABILITIES: return put_ulong(o, CL_EXEC_KERNEL);
  case CL_DEVICE_QUEUE_PROPERTIES: /* == CL_DEVICE_QUEUE_ON_HOST_PROPERTIES */
    return put_ulong(o, CL_QUEUE_PROFILING_ENABLE);
  case CL_DEVICE_IMAGE_SUPPORT: return put_uint(o, CL_FALSE);
  case CL_DEVICE_MAX_PARAMETER_SIZE: return put_size(o, 1024);
  case CL_DEVICE_MAX_SAMPLERS: return put_uint(o, 0);
  case CL_DEVICE_PRINTF_BUFFER_SIZE: return put_size(o, MiB);
  case CL_DEVICE_PREFERRED_INTEROP_USER_SYNC: return put_uint(o, CL_TRUE);
  /* Floating point. */
  case CL_DEVICE_SINGLE_FP_CONFIG:
    return put_ulong(o, CL_FP_ROUND_TO_NEAREST | CL_FP_INF_NAN | CL_FP_FMA);
  case CL_DEVICE_DOUBLE_FP_CONFIG:
    return put_ulong(o, has_ext(exts, "cl_khr_fp64") ?
        CL_FP_FMA | CL_FP_ROUND_TO_NEAREST | CL_FP_ROUND_TO_ZERO |
        CL_FP_ROUND_TO_INF | CL_FP_INF_NAN | CL_FP_DENORM : 0);
  case CL_DEVICE_HALF_FP_CONFIG: return put_ulong(o, 0);
  case CL_DEVICE_PREFERRED_VECTOR_WIDTH_CHAR:
  case CL_DEVICE_PREFERRED_VECTOR_WIDTH_SHORT:
  case CL_DEVICE_PREFERRED_VECTOR_WIDTH_INT:
  case CL_DEVICE_PREFERRED_VECTOR_WIDTH_LONG:
  case CL_DEVICE_PREFERRED_VECTOR_WIDTH_FLOAT:
  case CL_DEVICE_NATIVE_VECTOR_WIDTH_CHAR:
  case CL_DEVICE_NATIVE_VECTOR_WIDTH_SHORT:
  case CL_DEVICE_NATIVE_VECTOR_WIDTH_INT:
  case CL_DEVICE_NATIVE_VECTOR_WIDTH_LONG:
  case CL_DEVICE_NATIVE_VECTOR_WIDTH_FLOAT: return put_uint(o, 1);
  case CL_DEVICE_PREFERRED_VECTOR_WIDTH_DOUBLE:
  case CL_DEVICE_NATIVE_VECTOR_WIDTH_DOUBLE:
    return put_uint(o, has_ext(exts, "cl_khr_fp64") ? 1 : 0);
  case CL_DEVICE_PREFERRED_VECTOR_WIDTH_HALF:
  case CL_DEVICE_NATIVE_VECTOR_WIDTH_HALF: return put_uint(o, 0);
  /* Memory. */
  case CL_DEVICE_GLOBAL_MEM_SIZE: return put_ulong(o, d->n * GiB);
  case CL_DEVICE_MAX_MEM_ALLOC_SIZE: return put_ulong(o, d->n * GiB / 4);
  case CL_DEVICE_GLOBAL_MEM_CACHE_TYPE:
    return put_uint(o, CL_READ_WRITE_CACHE);
  case CL_DEVICE_GLOBAL_MEM_CACHE_SIZE: return put_ulong(o, d->n * MiB);
  case CL_DEVICE_GLOBAL_MEM_CACHELINE_SIZE: return put_uint(o, 64);
  case CL_DEVICE_LOCAL_MEM_TYPE: return put_uint(o, CL_LOCAL);
  case CL_DEVICE_LOCAL_MEM_SIZE: return put_ulong(o, 64 * 1024);
  case CL_DEVICE_MAX_CONSTANT_BUFFER_SIZE: return put_ulong(o, 64 * 1024);
  case CL_DEVICE_MAX_CONSTANT_ARGS: return put_uint(o, 8);
  case CL_DEVICE_MEM_BASE_ADDR_ALIGN: return put_uint(o, 1024);
  case CL_DEVICE_MIN_DATA_TYPE_ALIGN_SIZE: return put_uint(o, 128);
  case CL_DEVICE_HOST_UNIFIED_MEMORY: /* the "integrated" Intel GPUs */
    return put_uint(o, d->vendor_id == 0x8086 ? CL_TRUE : CL_FALSE);
  /* Partitioning: root devices that cannot be partitioned. */
  case CL_DEVICE_PARTITION_MAX_SUB_DEVICES: return put_uint(o, 0);
  case CL_DEVICE_PARTITION_PROPERTIES: {
    cl_device_partition_property none = 0;
    return put(o, &none, sizeof none);
  }
  case CL_DEVICE_PARTITION_AFFINITY_DOMAIN: return put_ulong(o, 0);
  case CL_DEVICE_PARTITION_TYPE: return put(o, NULL, 0);
  }

  if (v30 && param == CL_DEVICE_NUMERIC_VERSION)
    return put_uint(o, CL_MAKE_VERSION(3, 0, 0));

  /* Vendor extensions, answered only when advertised. */
  if (has_ext(exts, "cl_khr_pci_bus_info") &&
      param == CL_DEVICE_PCI_BUS_INFO_KHR) {
    cl_device_pci_bus_info_khr pci = {0, d->pci_bus, 0, 0};
    return put(o, &pci, sizeof pci);
  }
  if (has_ext(exts, "cl_khr_device_uuid")) {
    unsigned char uuid[CL_UUID_SIZE_KHR], luid[CL_LUID_SIZE_KHR] = {0};
    switch (param) {
    case CL_DEVICE_UUID_KHR:
      memset(uuid, d->uuid, sizeof uuid);
      return put(o, uuid, sizeof uuid);
    case CL_DRIVER_UUID_KHR: /* differs between the two "drivers" */
      memset(uuid, d->platform->driver_uuid, sizeof uuid);
      return put(o, uuid, sizeof uuid);
    case CL_DEVICE_LUID_VALID_KHR: return put_uint(o, CL_FALSE);
    case CL_DEVICE_LUID_KHR: return put(o, luid, sizeof luid);
    case CL_DEVICE_NODE_MASK_KHR: return put_uint(o, 0);
    }
  }
  if (has_ext(exts, "cl_amd_device_attribute_query") &&
      param == CL_DEVICE_TOPOLOGY_AMD) {
    cl_device_topology_amd topo;
    memset(&topo, 0, sizeof topo);
    topo.pcie.type = CL_DEVICE_TOPOLOGY_TYPE_PCIE_AMD;
    topo.pcie.bus = (cl_char)d->pci_bus;
    topo.pcie.device = 0;
    topo.pcie.function = 0;
    return put(o, &topo, sizeof topo);
  }
  if (has_ext(exts, "cl_nv_device_attribute_query")) {
    switch (param) {
    case CL_DEVICE_PCI_BUS_ID_NV: return put_uint(o, d->pci_bus);
    case CL_DEVICE_PCI_SLOT_ID_NV: return put_uint(o, 0); /* device<<3 | fn */
    case CL_DEVICE_PCI_DOMAIN_ID_NV: return put_uint(o, 0);
    }
  }
  return CL_INVALID_VALUE;
}

/* ------------------------------------- everything else reachable from a
 * platform or device handle: nothing may be NULL there, or a call through
 * the loader would crash instead of failing. */

static cl_int CL_API_CALL fake_RetainDevice(cl_device_id d) {
  return valid_device(d) ? CL_SUCCESS : CL_INVALID_DEVICE;
}

static cl_int CL_API_CALL fake_ReleaseDevice(cl_device_id d) {
  return valid_device(d) ? CL_SUCCESS : CL_INVALID_DEVICE;
}

static cl_int CL_API_CALL fake_CreateSubDevices(cl_device_id d,
    const cl_device_partition_property *props, cl_uint num_devices,
    cl_device_id *out, cl_uint *num_ret) {
  (void)props; (void)num_devices; (void)out; (void)num_ret;
  return valid_device(d) ? CL_INVALID_VALUE : CL_INVALID_DEVICE;
}

static cl_int CL_API_CALL fake_UnloadPlatformCompiler(cl_platform_id p) {
  return valid_platform(p) ? CL_SUCCESS : CL_INVALID_PLATFORM;
}

static cl_int CL_API_CALL fake_GetDeviceAndHostTimer(cl_device_id d,
    cl_ulong *device_ts, cl_ulong *host_ts) {
  (void)device_ts; (void)host_ts;
  return valid_device(d) ? CL_INVALID_OPERATION : CL_INVALID_DEVICE;
}

static cl_int CL_API_CALL fake_GetHostTimer(cl_device_id d, cl_ulong *ts) {
  (void)ts;
  return valid_device(d) ? CL_INVALID_OPERATION : CL_INVALID_DEVICE;
}

/* No context or queue can ever be created. */
static cl_context CL_API_CALL fake_CreateContext(
    const cl_context_properties *props, cl_uint num_devices,
    const cl_device_id *devices,
    void (CL_CALLBACK *notify)(const char *, const void *, size_t, void *),
    void *user_data, cl_int *errcode_ret) {
  (void)props; (void)num_devices; (void)devices; (void)notify; (void)user_data;
  if (errcode_ret) *errcode_ret = CL_DEVICE_NOT_AVAILABLE;
  return NULL;
}

static cl_context CL_API_CALL fake_CreateContextFromType(
    const cl_context_properties *props, cl_device_type type,
    void (CL_CALLBACK *notify)(const char *, const void *, size_t, void *),
    void *user_data, cl_int *errcode_ret) {
  (void)props; (void)type; (void)notify; (void)user_data;
  if (errcode_ret) *errcode_ret = CL_DEVICE_NOT_AVAILABLE;
  return NULL;
}

static cl_command_queue CL_API_CALL fake_CreateCommandQueue(cl_context ctx,
    cl_device_id d, cl_command_queue_properties props, cl_int *errcode_ret) {
  (void)ctx; (void)d; (void)props;
  if (errcode_ret) *errcode_ret = CL_DEVICE_NOT_AVAILABLE;
  return NULL;
}

static cl_command_queue CL_API_CALL fake_CreateCommandQueueWithProperties(
    cl_context ctx, cl_device_id d, const cl_queue_properties *props,
    cl_int *errcode_ret) {
  (void)ctx; (void)d; (void)props;
  if (errcode_ret) *errcode_ret = CL_DEVICE_NOT_AVAILABLE;
  return NULL;
}

/* ------------------------------------------ extension function lookup */

/* ocl-icd asks for clIcdGetPlatformIDsKHR and clGetPlatformInfo here at load
 * time; the latter is not exported (see the top comment). */
static void *CL_API_CALL fake_GetExtensionFunctionAddress(const char *name) {
  if (!name) return NULL;
  if (strcmp(name, "clIcdGetPlatformIDsKHR") == 0)
    return FN_ADDR(fake_IcdGetPlatformIDs);
  if (strcmp(name, "clGetPlatformInfo") == 0)
    return FN_ADDR(fake_GetPlatformInfo);
  return NULL;
}

static void *CL_API_CALL fake_GetExtensionFunctionAddressForPlatform(
    cl_platform_id p, const char *name) {
  return valid_platform(p) ? fake_GetExtensionFunctionAddress(name) : NULL;
}

static const cl_icd_dispatch fake_dispatch = {
  .clGetPlatformIDs = fake_IcdGetPlatformIDs,
  .clGetPlatformInfo = fake_GetPlatformInfo,
  .clGetDeviceIDs = fake_GetDeviceIDs,
  .clGetDeviceInfo = fake_GetDeviceInfo,
  .clCreateContext = fake_CreateContext,
  .clCreateContextFromType = fake_CreateContextFromType,
  .clCreateCommandQueue = fake_CreateCommandQueue,
  .clGetExtensionFunctionAddress = fake_GetExtensionFunctionAddress,
  .clCreateSubDevices = fake_CreateSubDevices,
  .clRetainDevice = fake_RetainDevice,
  .clReleaseDevice = fake_ReleaseDevice,
  .clUnloadPlatformCompiler = fake_UnloadPlatformCompiler,
  .clGetExtensionFunctionAddressForPlatform =
      fake_GetExtensionFunctionAddressForPlatform,
  .clCreateCommandQueueWithProperties = fake_CreateCommandQueueWithProperties,
  .clGetDeviceAndHostTimer = fake_GetDeviceAndHostTimer,
  .clGetHostTimer = fake_GetHostTimer,
};

/* ------------------------------------------------------------- exports */

EXPORT CL_API_ENTRY cl_int CL_API_CALL clIcdGetPlatformIDsKHR(
    cl_uint num_entries, cl_platform_id *platforms, cl_uint *num_platforms) {
  return fake_IcdGetPlatformIDs(num_entries, platforms, num_platforms);
}

EXPORT CL_API_ENTRY void *CL_API_CALL clGetExtensionFunctionAddress(
    const char *name) {
  return fake_GetExtensionFunctionAddress(name);
}

EXPORT CL_API_ENTRY void *CL_API_CALL clGetExtensionFunctionAddressForPlatform(
    cl_platform_id platform, const char *name) {
  return fake_GetExtensionFunctionAddressForPlatform(platform, name);
}
