/* SPDX-License-Identifier: MIT */
/*
 * hetgrad/device.h - the device manager: find, describe, select and
 * de-duplicate every OpenCL device behind the ICD loader.
 *
 * A device list is a snapshot taken once by hg_device_list_create().  It holds
 * every platform and every device the loader reports, in a stable order
 * (platforms sorted by name, vendor and version; devices in the order their
 * platform gives them), with each device's properties, its class, a stable
 * identity and the outcome of selection and de-duplication.  Nothing in it
 * changes after creation, so it may be read from several threads at once.
 *
 * Zero platforms (no ICD installed, OCL_ICD_VENDORS pointing at an empty
 * directory) is a normal, empty list.  A platform whose queries fail is kept in
 * the platform list with its error and contributes no devices; the failure is
 * logged as a warning naming the platform.  A device property that cannot be
 * queried is marked failed (see hg_device_prop_ok) and the snapshot goes on.
 */
#ifndef HETGRAD_DEVICE_H
#define HETGRAD_DEVICE_H

#include <stdbool.h>

#include "common.h"
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Device classes.  Used one at a time as a device's class and or-ed together
 * as a type mask in hg_options.device_types.
 *
 * A device that reports several CL_DEVICE_TYPE bits at once (Oclgrind reports
 * ACCELERATOR | GPU | CPU) gets the first that applies in this priority:
 * ACCELERATOR, GPU, CPU, CUSTOM.  The rarest, most specific claim wins: a
 * device that says it is an accelerator is not "just" a CPU, and CPU is the
 * catch-all every OpenCL implementation on a host can claim.
 */
typedef enum hg_device_type {
    HG_DEVICE_CPU         = 1u << 0,
    HG_DEVICE_GPU         = 1u << 1,
    HG_DEVICE_ACCELERATOR = 1u << 2, /* FPGAs and other fixed-function cards */
    HG_DEVICE_CUSTOM      = 1u << 3,
    HG_DEVICE_ALL         = 0xfu
} hg_device_type;

/* Device properties, for hg_device_prop_ok().  X(NAME, json key) */
#define HG_PROP_MAP(X)                                   \
    X(NAME,                 "name")                      \
    X(VENDOR,               "vendor")                    \
    X(VENDOR_ID,            "vendor_id")                 \
    X(TYPE,                 "type")                      \
    X(AVAILABLE,            "available")                 \
    X(DRIVER_VERSION,       "driver_version")            \
    X(OPENCL_VERSION,       "opencl_version")            \
    X(OPENCL_C_VERSION,     "opencl_c_version")          \
    X(COMPUTE_UNITS,        "compute_units")             \
    X(MAX_CLOCK_MHZ,        "max_clock_mhz")             \
    X(GLOBAL_MEM,           "global_mem_bytes")          \
    X(GLOBAL_MEM_CACHE,     "global_mem_cache_bytes")    \
    X(LOCAL_MEM,            "local_mem_bytes")           \
    X(CONSTANT_MEM,         "constant_mem_bytes")        \
    X(MAX_ALLOC,            "max_alloc_bytes")           \
    X(MAX_WORK_GROUP_SIZE,  "max_work_group_size")       \
    X(PROFILING_RESOLUTION, "profiling_resolution_ns")   \
    X(HOST_UNIFIED_MEMORY,  "host_unified_memory")       \
    X(COMPILER_AVAILABLE,   "compiler_available")        \
    X(LINKER_AVAILABLE,     "linker_available")          \
    X(EXTENSIONS,           "extensions")                \
    X(FP64,                 "fp64")                      \
    X(FP16,                 "fp16")                      \
    X(PCI,                  "pci_bus")                   \
    X(UUID,                 "uuid")

typedef enum hg_prop {
#define HG__PROP_ENUM(name, key) HG_PROP_##name,
    HG_PROP_MAP(HG__PROP_ENUM)
#undef HG__PROP_ENUM
    HG_PROP_COUNT_ /* not a property: number of properties */
} hg_prop;

/* A PCI address (domain:bus:device.function). */
typedef struct hg_pci_address {
    uint32_t domain;
    uint32_t bus;
    uint32_t device;
    uint32_t function;
} hg_pci_address;

/* One platform as the ICD loader reported it. */
typedef struct hg_platform_info {
    const char *name;        /* CL_PLATFORM_NAME ("" if it failed to query) */
    const char *vendor;      /* CL_PLATFORM_VENDOR */
    const char *version;     /* CL_PLATFORM_VERSION, "OpenCL 3.0 PoCL ..." */
    const char *profile;     /* CL_PLATFORM_PROFILE */
    const char *extensions;  /* CL_PLATFORM_EXTENSIONS */
    size_t      device_count;/* devices of this platform in the list */
    hg_status   status;      /* HG_OK, or why the platform was skipped */
    const char *error;       /* message when status != HG_OK, else NULL */
} hg_platform_info;

/*
 * One device's snapshot.  Strings are owned by the list and live until it is
 * destroyed; they are never NULL ("" when unknown).  Numeric fields are 0 and
 * booleans false when their query failed: check hg_device_prop_ok() to tell
 * "failed" from a real zero.  New fields are only ever appended.
 */
typedef struct hg_device_info {
    /* identity */
    const char *id;            /* stable id, "hg-" + 16 hex digits: a hash of
                                  platform, vendor, name, driver version and PCI
                                  address or UUID (plus an ordinal among
                                  otherwise identical devices); independent of
                                  the order in which the loader lists platforms */
    size_t      index;         /* position in this list */
    size_t      platform;      /* index of its platform in this list */
    const char *platform_name; /* same as the platform's name */

    /* class */
    hg_device_type type;       /* primary class, one bit (see priority above) */
    uint64_t    cl_type;       /* raw CL_DEVICE_TYPE bits as reported */

    /* description */
    const char *name;
    const char *vendor;
    uint32_t    vendor_id;     /* PCI vendor id, or the Khronos vendor id */
    bool        available;     /* CL_DEVICE_AVAILABLE */
    const char *driver_version;   /* CL_DRIVER_VERSION */
    const char *opencl_version;   /* CL_DEVICE_VERSION, "OpenCL 3.0 PoCL ..." */
    const char *opencl_c_version; /* CL_DEVICE_OPENCL_C_VERSION */
    const char *extensions;       /* CL_DEVICE_EXTENSIONS, space separated */
    uint32_t    compute_units;
    uint32_t    max_clock_mhz;
    uint64_t    global_mem_bytes;
    uint64_t    global_mem_cache_bytes;
    uint64_t    local_mem_bytes;
    uint64_t    constant_mem_bytes;
    uint64_t    max_alloc_bytes;  /* largest single buffer */
    size_t      max_work_group_size;
    uint64_t    profiling_resolution_ns;
    bool        host_unified_memory;
    bool        compiler_available; /* false on FPGAs: prebuilt binaries only */
    bool        linker_available;
    bool        fp64;
    bool        fp16;
    bool        has_pci;        /* pci is meaningful */
    hg_pci_address pci;
    const char *pci_source;     /* "cl_khr_pci_bus_info", "cl_amd_device_attribute_query",
                                   "cl_nv_device_attribute_query", or "" */
    bool        has_uuid;       /* uuid is meaningful (cl_khr_device_uuid) */
    uint8_t     uuid[16];
    uint64_t    prop_failed;    /* bit (1 << hg_prop) set when that query failed */

    /* selection and de-duplication */
    bool        selected;       /* passed the type mask and selection expressions */
    bool        kept;           /* selected and not a duplicate: the devices to use */
    long        duplicate_of;   /* index of the kept device it duplicates, or -1 */
    const char *reason;         /* why it was kept, set aside or not selected */
} hg_device_info;

/*
 * Message levels, in order: a logger set to a level receives the messages at
 * that level and below.  Zero is the default (HG_LOG_WARN), so a zeroed
 * log_level means the default; ERROR is therefore negative.
 */
typedef enum hg_log_level {
    HG_LOG_ERROR = -1,
    HG_LOG_WARN  = 0,
    HG_LOG_INFO  = 1,
    HG_LOG_DEBUG = 2
} hg_log_level;

/* Receives every message at or below hg_options.log_level. */
typedef void (*hg_log_fn)(void *user, hg_log_level level, const char *message);

/*
 * Options for creating a device list.  Always start from hg_options_init(),
 * which sets struct_size; later versions only append fields, and the library
 * reads only the first struct_size bytes (defaults for the rest), so a program
 * built against older headers keeps working (docs/abi.md).
 */
typedef struct hg_options {
    size_t      struct_size;      /* sizeof(hg_options) as the caller was compiled:
                                     set by hg_options_init(); 0 (not initialised)
                                     is HG_INVALID_ARGUMENT */
    unsigned    device_types;     /* mask of hg_device_type; 0 = every type */
    const char *devices;          /* selection expression, same syntax as
                                     HETGRAD_DEVICES (docs/devices.md); NULL or
                                     "" selects every device */
    bool        use_environment;  /* apply HETGRAD_DEVICES too (default true);
                                     a device must pass both expressions */
    bool        keep_duplicates;  /* keep every selected device, even several
                                     views of the same hardware (default false) */
    hg_log_fn   log;              /* NULL: messages go to stderr */
    void       *log_user;         /* passed to log */
    hg_log_level log_level;       /* default HG_LOG_WARN (0) */
    const char *devices_source;   /* what messages call devices, e.g. "--devices"
                                     for a tool's option; NULL (default):
                                     "hg_options.devices" */
} hg_options;

typedef struct hg_device_list hg_device_list;

/*
 * Fill the first size bytes of *opt with the defaults described above (zero
 * past the fields this library knows) and set struct_size = size.  Call it
 * through hg_options_init(), which passes the size the caller was compiled
 * with; NULL or a size below sizeof(size_t) is a no-op.
 */
HG_EXTERN void hg_options_init_sized(hg_options *opt, size_t size);

/* Fill *opt with the defaults: hg_options_init_sized(opt, sizeof *opt). */
static inline void hg_options_init(hg_options *opt)
{
    hg_options_init_sized(opt, sizeof *opt);
}

/*
 * Enumerate platforms and devices, snapshot them, apply selection and
 * de-duplication.  opt may be NULL (defaults).  On success *out owns a new list
 * (possibly with zero devices).  Fails with HG_BAD_SELECTION for a selection
 * expression with an unknown word, HG_OUT_OF_MEMORY, HG_OPENCL when the loader
 * itself fails (zero platforms is not a failure), HG_INVALID_ARGUMENT for a
 * NULL out or bad options (struct_size 0 or below the first released layout,
 * unknown device_types bits, non-zero fields past the ones this library knows);
 * *out is then NULL and err (may be NULL) says why.
 */
HG_EXTERN hg_status hg_device_list_create(const hg_options *opt,
                                          hg_device_list **out, hg_error *err);

/* Free the list and everything it owns; NULL is a no-op. */
HG_EXTERN void hg_device_list_destroy(hg_device_list *list);

HG_EXTERN size_t hg_device_list_platform_count(const hg_device_list *list);
/* NULL when i is out of range. */
HG_EXTERN const hg_platform_info *hg_device_list_platform(const hg_device_list *list,
                                                          size_t i);

/* Every device found, selected or not, kept or not. */
HG_EXTERN size_t hg_device_list_count(const hg_device_list *list);
/* NULL when i is out of range. */
HG_EXTERN const hg_device_info *hg_device_list_get(const hg_device_list *list, size_t i);
/* Number of devices with kept == true. */
HG_EXTERN size_t hg_device_list_kept_count(const hg_device_list *list);
/* The device with this id, or NULL. */
HG_EXTERN const hg_device_info *hg_device_list_find(const hg_device_list *list,
                                                   const char *id);

/* Warnings raised while building the list (skipped platforms, failed queries). */
HG_EXTERN size_t hg_device_list_warning_count(const hg_device_list *list);
HG_EXTERN const char *hg_device_list_warning(const hg_device_list *list, size_t i);

/* "cpu", "gpu", "accelerator", "custom"; "unknown" otherwise. */
HG_EXTERN const char *hg_device_type_name(hg_device_type type);

/* JSON key of a property ("global_mem_bytes"); NULL out of range. */
HG_EXTERN const char *hg_prop_name(hg_prop prop);

/* True when the property was queried successfully. */
HG_EXTERN bool hg_device_prop_ok(const hg_device_info *dev, hg_prop prop);

/* Result of hg_device_selftest().  Fields may be appended in later versions. */
typedef struct hg_selftest_result {
    double build_ms;     /* program build, host wall clock */
    double run_ms;       /* kernel enqueue to completion, host wall clock */
    size_t elements;     /* elements checked */
} hg_selftest_result;

/*
 * Build hetgrad's embedded self-test kernel on device i, run it on a small
 * problem (a strided affine update and a work-group tree reduction using local
 * memory and barriers) and check every element against the host.  Returns
 * HG_OK, HG_BUILD, HG_OPENCL, HG_DEVICE_FAILED (wrong result), HG_RANGE, or
 * HG_INVALID_ARGUMENT (NULL list, res_size too small); err names the failing
 * call.  res may be NULL.  The library writes res_size bytes at most (zeros
 * past the fields it knows): call it through hg_device_selftest(), which
 * passes sizeof *res.
 */
HG_EXTERN hg_status hg_device_selftest_sized(const hg_device_list *list, size_t i,
                                             hg_selftest_result *res, size_t res_size,
                                             hg_error *err);

static inline hg_status hg_device_selftest(const hg_device_list *list, size_t i,
                                           hg_selftest_result *res, hg_error *err)
{
    return hg_device_selftest_sized(list, i, res, sizeof *res, err);
}

#ifdef __cplusplus
}
#endif

#endif /* HETGRAD_DEVICE_H */
