/* SPDX-License-Identifier: MIT */
/*
 * props.c - snapshot one device's properties, one table row per property.
 *
 * Each row names the hg_prop, the OpenCL query, how to read it and where it
 * lands in hg_device_info.  A query that fails sets the property's bit in
 * prop_failed and the snapshot goes on; only running out of host memory stops
 * it.  PCI address, UUID and half/double support depend on extensions and are
 * derived after the table.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clutil.h"

/* NVIDIA's attribute query (cl_nv_device_attribute_query); not in cl_ext.h. */
#define HG__CL_DEVICE_PCI_BUS_ID_NV    0x4008
#define HG__CL_DEVICE_PCI_SLOT_ID_NV   0x4009
#define HG__CL_DEVICE_PCI_DOMAIN_ID_NV 0x400A

typedef enum prop_kind {
    PK_STRING, /* const char *          <- char[]        */
    PK_U32,    /* uint32_t              <- cl_uint       */
    PK_U64,    /* uint64_t              <- cl_ulong      */
    PK_SIZE,   /* size_t                <- size_t        */
    PK_SIZE64, /* uint64_t              <- size_t        */
    PK_BOOL,   /* bool                  <- cl_bool       */
    PK_TYPE    /* uint64_t cl_type      <- cl_device_type */
} prop_kind;

typedef struct prop_row {
    hg_prop        prop;
    cl_device_info param;
    const char    *cl_name;
    prop_kind      kind;
    size_t         offset;
} prop_row;

#define ROW(prop, param, kind, field) \
    {HG_PROP_##prop, param, #param, kind, offsetof(hg_device_info, field)}

static const prop_row rows[] = {
    ROW(NAME,                 CL_DEVICE_NAME,                       PK_STRING, name),
    ROW(VENDOR,               CL_DEVICE_VENDOR,                     PK_STRING, vendor),
    ROW(VENDOR_ID,            CL_DEVICE_VENDOR_ID,                  PK_U32,    vendor_id),
    ROW(TYPE,                 CL_DEVICE_TYPE,                       PK_TYPE,   cl_type),
    ROW(AVAILABLE,            CL_DEVICE_AVAILABLE,                  PK_BOOL,   available),
    ROW(DRIVER_VERSION,       CL_DRIVER_VERSION,                    PK_STRING, driver_version),
    ROW(OPENCL_VERSION,       CL_DEVICE_VERSION,                    PK_STRING, opencl_version),
    ROW(OPENCL_C_VERSION,     CL_DEVICE_OPENCL_C_VERSION,           PK_STRING, opencl_c_version),
    ROW(COMPUTE_UNITS,        CL_DEVICE_MAX_COMPUTE_UNITS,          PK_U32,    compute_units),
    ROW(MAX_CLOCK_MHZ,        CL_DEVICE_MAX_CLOCK_FREQUENCY,        PK_U32,    max_clock_mhz),
    ROW(GLOBAL_MEM,           CL_DEVICE_GLOBAL_MEM_SIZE,            PK_U64,    global_mem_bytes),
    ROW(GLOBAL_MEM_CACHE,     CL_DEVICE_GLOBAL_MEM_CACHE_SIZE,      PK_U64,    global_mem_cache_bytes),
    ROW(LOCAL_MEM,            CL_DEVICE_LOCAL_MEM_SIZE,             PK_U64,    local_mem_bytes),
    ROW(CONSTANT_MEM,         CL_DEVICE_MAX_CONSTANT_BUFFER_SIZE,   PK_U64,    constant_mem_bytes),
    ROW(MAX_ALLOC,            CL_DEVICE_MAX_MEM_ALLOC_SIZE,         PK_U64,    max_alloc_bytes),
    ROW(MAX_WORK_GROUP_SIZE,  CL_DEVICE_MAX_WORK_GROUP_SIZE,        PK_SIZE,   max_work_group_size),
    ROW(PROFILING_RESOLUTION, CL_DEVICE_PROFILING_TIMER_RESOLUTION, PK_SIZE64, profiling_resolution_ns),
    ROW(HOST_UNIFIED_MEMORY,  CL_DEVICE_HOST_UNIFIED_MEMORY,        PK_BOOL,   host_unified_memory),
    ROW(COMPILER_AVAILABLE,   CL_DEVICE_COMPILER_AVAILABLE,         PK_BOOL,   compiler_available),
    ROW(LINKER_AVAILABLE,     CL_DEVICE_LINKER_AVAILABLE,           PK_BOOL,   linker_available),
    ROW(EXTENSIONS,           CL_DEVICE_EXTENSIONS,                 PK_STRING, extensions),
};

#undef ROW

typedef struct snap {
    hg_device_info *info;
    bool          (*keep)(void *, char *);
    void           *keep_user;
    char          **failed_text;
    hg_status       st;
} snap;

/* Record a failed query: its bit, and a line for the caller's warning. */
static void record_failure(snap *s, hg_prop prop, const char *cl_name, cl_int rc)
{
    s->info->prop_failed |= (uint64_t)1 << prop;
    char *old = *s->failed_text;
    char *line = hg__asprintf("%s%s%s: %s (%d)", old ? old : "", old ? ", " : "",
                              cl_name, hg_cl_error_name(rc), (int)rc);
    if (!line) {
        s->st = HG_OUT_OF_MEMORY;
        return;
    }
    free(old);
    *s->failed_text = line;
}

/* Store a string into a const char* field through the list's string pool. */
static void store_string(snap *s, size_t offset, char *value)
{
    const char **field = (const char **)((char *)s->info + offset);
    if (!value) {
        *field = "";
        return;
    }
    if (!s->keep(s->keep_user, value)) {
        *field = "";
        s->st = HG_OUT_OF_MEMORY;
        return;
    }
    *field = value;
}

static void read_row(snap *s, cl_device_id d, const prop_row *r)
{
    void *field = (char *)s->info + r->offset;
    cl_int rc = CL_SUCCESS;
    switch (r->kind) {
    case PK_STRING: {
        char *v = NULL;
        rc = hg__device_string(d, r->param, &v);
        store_string(s, r->offset, rc == CL_SUCCESS ? v : NULL);
        break;
    }
    case PK_U32: {
        cl_uint v = 0;
        rc = hg__device_value(d, r->param, &v, sizeof v);
        *(uint32_t *)field = rc == CL_SUCCESS ? v : 0;
        break;
    }
    case PK_U64: {
        cl_ulong v = 0;
        rc = hg__device_value(d, r->param, &v, sizeof v);
        *(uint64_t *)field = rc == CL_SUCCESS ? v : 0;
        break;
    }
    case PK_SIZE: {
        size_t v = 0;
        rc = hg__device_value(d, r->param, &v, sizeof v);
        *(size_t *)field = rc == CL_SUCCESS ? v : 0;
        break;
    }
    case PK_SIZE64: {
        size_t v = 0;
        rc = hg__device_value(d, r->param, &v, sizeof v);
        *(uint64_t *)field = rc == CL_SUCCESS ? (uint64_t)v : 0;
        break;
    }
    case PK_BOOL: {
        cl_bool v = CL_FALSE;
        rc = hg__device_value(d, r->param, &v, sizeof v);
        *(bool *)field = rc == CL_SUCCESS && v != CL_FALSE;
        break;
    }
    case PK_TYPE: {
        cl_device_type v = 0;
        rc = hg__device_value(d, r->param, &v, sizeof v);
        *(uint64_t *)field = rc == CL_SUCCESS ? (uint64_t)v : 0;
        break;
    }
    }
    if (rc != CL_SUCCESS)
        record_failure(s, r->prop, r->cl_name, rc);
}

/* PCI address from whichever vendor mechanism the device offers. */
static void read_pci(snap *s, cl_device_id d)
{
    hg_device_info *info = s->info;
    const char *ext = info->extensions;
    cl_int rc;
    if (hg__has_word(ext, "cl_khr_pci_bus_info")) {
        cl_device_pci_bus_info_khr v;
        rc = hg__device_value(d, CL_DEVICE_PCI_BUS_INFO_KHR, &v, sizeof v);
        if (rc != CL_SUCCESS) {
            record_failure(s, HG_PROP_PCI, "CL_DEVICE_PCI_BUS_INFO_KHR", rc);
            return;
        }
        info->pci = (hg_pci_address){v.pci_domain, v.pci_bus, v.pci_device, v.pci_function};
        info->pci_source = "cl_khr_pci_bus_info";
        info->has_pci = true;
    } else if (hg__has_word(ext, "cl_amd_device_attribute_query")) {
        cl_device_topology_amd v;
        rc = hg__device_value(d, CL_DEVICE_TOPOLOGY_AMD, &v, sizeof v);
        if (rc != CL_SUCCESS) {
            record_failure(s, HG_PROP_PCI, "CL_DEVICE_TOPOLOGY_AMD", rc);
            return;
        }
        if (v.raw.type != CL_DEVICE_TOPOLOGY_TYPE_PCIE_AMD)
            return;
        info->pci = (hg_pci_address){0, (uint8_t)v.pcie.bus, (uint8_t)v.pcie.device,
                                     (uint8_t)v.pcie.function};
        info->pci_source = "cl_amd_device_attribute_query";
        info->has_pci = true;
    } else if (hg__has_word(ext, "cl_nv_device_attribute_query")) {
        cl_uint bus = 0, slot = 0, domain = 0;
        rc = hg__device_value(d, HG__CL_DEVICE_PCI_BUS_ID_NV, &bus, sizeof bus);
        if (rc == CL_SUCCESS)
            rc = hg__device_value(d, HG__CL_DEVICE_PCI_SLOT_ID_NV, &slot, sizeof slot);
        if (rc != CL_SUCCESS) {
            record_failure(s, HG_PROP_PCI, "CL_DEVICE_PCI_BUS_ID_NV", rc);
            return;
        }
        /* Older drivers lack the domain query: domain 0 then. */
        if (hg__device_value(d, HG__CL_DEVICE_PCI_DOMAIN_ID_NV, &domain, sizeof domain) !=
            CL_SUCCESS)
            domain = 0;
        info->pci = (hg_pci_address){domain, bus, slot >> 3, slot & 7};
        info->pci_source = "cl_nv_device_attribute_query";
        info->has_pci = true;
    }
}

static void read_uuid(snap *s, cl_device_id d)
{
    if (!hg__has_word(s->info->extensions, "cl_khr_device_uuid"))
        return;
    cl_uchar v[CL_UUID_SIZE_KHR];
    cl_int rc = hg__device_value(d, CL_DEVICE_UUID_KHR, v, sizeof v);
    if (rc != CL_SUCCESS) {
        record_failure(s, HG_PROP_UUID, "CL_DEVICE_UUID_KHR", rc);
        return;
    }
    memcpy(s->info->uuid, v, sizeof s->info->uuid);
    s->info->has_uuid = true;
}

hg_status hg__snapshot_device(cl_device_id d, hg_device_info *info,
                              bool (*keep)(void *, char *), void *keep_user,
                              char **failed_text)
{
    snap s = {info, keep, keep_user, failed_text, HG_OK};
    info->pci_source = "";
    for (size_t i = 0; i < sizeof rows / sizeof rows[0] && s.st == HG_OK; i++)
        read_row(&s, d, &rows[i]);
    if (s.st != HG_OK)
        return s.st;

    bool ext_ok = !(info->prop_failed & ((uint64_t)1 << HG_PROP_EXTENSIONS));
    /* fp64: the extension, or a non-zero double config (OpenCL 1.2+ core). */
    cl_device_fp_config dbl = 0;
    bool dbl_ok = hg__device_value(d, CL_DEVICE_DOUBLE_FP_CONFIG, &dbl, sizeof dbl) ==
                  CL_SUCCESS;
    info->fp64 = hg__has_word(info->extensions, "cl_khr_fp64") || (dbl_ok && dbl != 0);
    if (!ext_ok && !dbl_ok)
        info->prop_failed |= (uint64_t)1 << HG_PROP_FP64;
    /* fp16: only the extension says so. */
    info->fp16 = hg__has_word(info->extensions, "cl_khr_fp16");
    if (!ext_ok) {
        info->prop_failed |= (uint64_t)1 << HG_PROP_FP16;
        info->prop_failed |= (uint64_t)1 << HG_PROP_PCI;
        info->prop_failed |= (uint64_t)1 << HG_PROP_UUID;
        return s.st;
    }
    read_pci(&s, d);
    if (s.st == HG_OK)
        read_uuid(&s, d);
    return s.st;
}

const char *hg_prop_name(hg_prop prop)
{
    static const char *const names[] = {
#define HG__PROP_NAME(name, key) key,
        HG_PROP_MAP(HG__PROP_NAME)
#undef HG__PROP_NAME
    };
    if ((unsigned)prop >= (unsigned)HG_PROP_COUNT_)
        return NULL;
    return names[prop];
}

bool hg_device_prop_ok(const hg_device_info *dev, hg_prop prop)
{
    if (!dev || (unsigned)prop >= (unsigned)HG_PROP_COUNT_)
        return false;
    return !(dev->prop_failed & ((uint64_t)1 << prop));
}
