/* SPDX-License-Identifier: MIT */
/*
 * device_list.c - build the device list: enumerate platforms and devices,
 * snapshot them, give them stable ids, select and de-duplicate.
 *
 * Expected workload: once per process (a probe, a context creation), a
 * handful of platforms and devices.  Failures of one platform or one query
 * never stop the enumeration; only running out of host memory, a bad
 * selection expression or a loader that fails outright do.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clutil.h"
#include "platlock.h"

struct hg_device_list {
    hg_platform_info *platforms;    /* nplatforms entries, sorted */
    cl_platform_id   *cl_platforms; /* same order */
    size_t            nplatforms;
    hg_device_info   *devices;      /* ndevices entries */
    cl_device_id     *cl_devices;   /* same order */
    size_t            ndevices;
    size_t            nkept;
    size_t           *rank;         /* ndevices entries: each device's selection rank
                                       (SIZE_MAX: named by no expression); NULL before
                                       selection */
    char            **pool;         /* every string the list owns */
    size_t            npool, cappool;
    char            **warnings;     /* pointers into pool */
    size_t            nwarnings, capwarnings;
    hg__logger        log;
};

/* hg_options as first released (0.2.0) ends with devices_source. */
#define OPTIONS_MIN_SIZE HG__FIELD_END(hg_options, devices_source)

void hg_options_init_sized(hg_options *opt, size_t size)
{
    if (!hg__sized_init(opt, size))
        return;
    /* Every other field's default is its zero. */
    if (HG__SIZED_HAS(hg_options, use_environment, size))
        opt->use_environment = true;
}

hg_status hg__options_read(const hg_options *in, hg_options *out, hg_error *err)
{
    hg_options_init_sized(out, sizeof *out);
    if (!in)
        return HG_OK;
    return hg__sized_read(out, sizeof *out, in, in->struct_size, OPTIONS_MIN_SIZE,
                          "hg_options", "hg_options_init", err);
}

/* Take ownership of s (malloc'ed) into the pool; false (s freed) on failure. */
static bool pool_keep(void *user, char *s)
{
    hg_device_list *l = user;
    if (l->npool == l->cappool) {
        size_t cap = l->cappool ? 2 * l->cappool : 64;
        char **p = realloc(l->pool, cap * sizeof *p);
        if (!p) {
            free(s);
            return false;
        }
        l->pool = p;
        l->cappool = cap;
    }
    l->pool[l->npool++] = s;
    return true;
}

/* Keep s, or "" when s is NULL (a failed query); HG_OUT_OF_MEMORY on failure. */
static hg_status pool_string(hg_device_list *l, char *s, const char **out)
{
    *out = "";
    if (!s)
        return HG_OK;
    if (!pool_keep(l, s))
        return HG_OUT_OF_MEMORY;
    *out = s;
    return HG_OK;
}

/* Log a warning and keep it in the list.  Takes ownership of msg. */
static hg_status add_warning(hg_device_list *l, char *msg)
{
    if (!msg)
        return HG_OUT_OF_MEMORY;
    hg__log(&l->log, HG_LOG_WARN, "%s", msg);
    if (l->nwarnings == l->capwarnings) {
        size_t cap = l->capwarnings ? 2 * l->capwarnings : 8;
        char **p = realloc(l->warnings, cap * sizeof *p);
        if (!p) {
            free(msg);
            return HG_OUT_OF_MEMORY;
        }
        l->warnings = p;
        l->capwarnings = cap;
    }
    if (!pool_keep(l, msg))
        return HG_OUT_OF_MEMORY;
    l->warnings[l->nwarnings++] = msg;
    return HG_OK;
}

void hg_device_list_destroy(hg_device_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->npool; i++)
        free(l->pool[i]);
    free(l->pool);
    free(l->warnings);
    free(l->platforms);
    free(l->cl_platforms);
    free(l->devices);
    free(l->cl_devices);
    free(l->rank);
    free(l);
}

/* ---- platforms --------------------------------------------------------- */

typedef struct raw_platform {
    cl_platform_id id;
    char *name, *vendor, *version, *profile, *extensions; /* owned until moved */
    cl_int name_rc;
} raw_platform;

static int compare_str(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "");
}

static int compare_platforms(const void *pa, const void *pb)
{
    const raw_platform *a = pa, *b = pb;
    int c = compare_str(a->name, b->name);
    if (!c)
        c = compare_str(a->vendor, b->vendor);
    if (!c)
        c = compare_str(a->version, b->version);
    return c;
}

static void free_raw(raw_platform *raw, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(raw[i].name);
        free(raw[i].vendor);
        free(raw[i].version);
        free(raw[i].profile);
        free(raw[i].extensions);
    }
    free(raw);
}

/* All platforms, queried and sorted; zero platforms is success. */
static hg_status get_platforms(raw_platform **out, size_t *nout, hg_error *err)
{
    *out = NULL;
    *nout = 0;
    cl_uint n = 0;
    hg__opencl_first_use(); /* drivers initialise themselves once, alone */
    cl_int rc = clGetPlatformIDs(0, NULL, &n);
    if (rc == CL_PLATFORM_NOT_FOUND_KHR || (rc == CL_SUCCESS && n == 0))
        return HG_OK;
    if (rc != CL_SUCCESS)
        return hg__cl_fail(err, rc, "clGetPlatformIDs (counting platforms)");

    cl_platform_id *ids = calloc(n, sizeof *ids);
    raw_platform *raw = calloc(n, sizeof *raw);
    if (!ids || !raw) {
        free(ids);
        free(raw);
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "listing %u platforms", (unsigned)n);
    }
    cl_uint got = 0;
    rc = clGetPlatformIDs(n, ids, &got);
    if (rc != CL_SUCCESS) {
        free(ids);
        free(raw);
        return hg__cl_fail(err, rc, "clGetPlatformIDs (listing %u platforms)", (unsigned)n);
    }
    if (got < n)
        n = got;
    for (cl_uint i = 0; i < n; i++) {
        raw[i].id = ids[i];
        raw[i].name_rc = hg__platform_string(ids[i], CL_PLATFORM_NAME, &raw[i].name);
        hg__platform_string(ids[i], CL_PLATFORM_VENDOR, &raw[i].vendor);
        hg__platform_string(ids[i], CL_PLATFORM_VERSION, &raw[i].version);
        hg__platform_string(ids[i], CL_PLATFORM_PROFILE, &raw[i].profile);
        hg__platform_string(ids[i], CL_PLATFORM_EXTENSIONS, &raw[i].extensions);
    }
    free(ids);
    qsort(raw, n, sizeof *raw, compare_platforms);
    *out = raw;
    *nout = n;
    return HG_OK;
}

/* ---- devices ----------------------------------------------------------- */

/* Append the devices of platform p (index pi) to the list. */
static hg_status add_platform_devices(hg_device_list *l, size_t pi, size_t *cap)
{
    hg_platform_info *pinfo = &l->platforms[pi];
    cl_platform_id pid = l->cl_platforms[pi];
    const char *pname = pinfo->name[0] ? pinfo->name : "(unnamed)";

    cl_uint n = 0;
    cl_int rc = clGetDeviceIDs(pid, CL_DEVICE_TYPE_ALL, 0, NULL, &n);
    if (rc == CL_DEVICE_NOT_FOUND || (rc == CL_SUCCESS && n == 0))
        return HG_OK;
    cl_device_id *ids = NULL;
    if (rc == CL_SUCCESS) {
        ids = calloc(n, sizeof *ids);
        if (!ids)
            return HG_OUT_OF_MEMORY;
        cl_uint got = 0;
        rc = clGetDeviceIDs(pid, CL_DEVICE_TYPE_ALL, n, ids, &got);
        if (rc == CL_SUCCESS && got < n)
            n = got;
    }
    if (rc != CL_SUCCESS) {
        free(ids);
        char *msg = hg__asprintf("skipping platform \"%s\" (%s): clGetDeviceIDs: %s (%d)",
                                 pname, pinfo->vendor, hg_cl_error_name(rc), (int)rc);
        pinfo->status = rc == CL_OUT_OF_HOST_MEMORY ? HG_OUT_OF_MEMORY : HG_OPENCL;
        hg_status st = add_warning(l, msg);
        pinfo->error = msg ? msg : "";
        return st;
    }

    if (l->ndevices + n > *cap) {
        size_t ncap = (l->ndevices + n) * 2;
        hg_device_info *d = realloc(l->devices, ncap * sizeof *d);
        if (d)
            l->devices = d;
        cl_device_id *c = realloc(l->cl_devices, ncap * sizeof *c);
        if (c)
            l->cl_devices = c;
        if (!d || !c) {
            free(ids);
            return HG_OUT_OF_MEMORY;
        }
        *cap = ncap;
    }

    hg_status st = HG_OK;
    for (cl_uint k = 0; k < n && st == HG_OK; k++) {
        hg_device_info *info = &l->devices[l->ndevices];
        memset(info, 0, sizeof *info);
        info->index = l->ndevices;
        info->platform = pi;
        info->platform_name = pinfo->name;
        info->duplicate_of = -1;
        info->reason = "";
        info->id = "";
        l->cl_devices[l->ndevices] = ids[k];
        l->ndevices++;
        pinfo->device_count++;

        char *failed = NULL;
        st = hg__snapshot_device(ids[k], info, pool_keep, l, &failed);
        if (st == HG_OK)
            info->type = hg__classify(info->cl_type);
        if (st == HG_OK && failed) {
            st = add_warning(l, hg__asprintf("device %u of platform \"%s\" (%s): "
                                             "some properties could not be read: %s",
                                             (unsigned)k, pname,
                                             info->name[0] ? info->name : "name unknown",
                                             failed));
        }
        free(failed);
    }
    free(ids);
    return st;
}

/* Move sorted raw platforms into the list and enumerate their devices. */
static hg_status build_platforms(hg_device_list *l, raw_platform *raw, size_t n)
{
    l->platforms = calloc(n ? n : 1, sizeof *l->platforms);
    l->cl_platforms = calloc(n ? n : 1, sizeof *l->cl_platforms);
    if (!l->platforms || !l->cl_platforms)
        return HG_OUT_OF_MEMORY;
    l->nplatforms = n;
    hg_status st = HG_OK;
    for (size_t i = 0; i < n && st == HG_OK; i++) {
        hg_platform_info *p = &l->platforms[i];
        l->cl_platforms[i] = raw[i].id;
        p->status = HG_OK;
        p->error = NULL;
        st = pool_string(l, raw[i].name, &p->name);
        raw[i].name = NULL;
        if (st == HG_OK)
            st = pool_string(l, raw[i].vendor, &p->vendor);
        raw[i].vendor = NULL;
        if (st == HG_OK)
            st = pool_string(l, raw[i].version, &p->version);
        raw[i].version = NULL;
        if (st == HG_OK)
            st = pool_string(l, raw[i].profile, &p->profile);
        raw[i].profile = NULL;
        if (st == HG_OK)
            st = pool_string(l, raw[i].extensions, &p->extensions);
        raw[i].extensions = NULL;
    }
    size_t cap = 0;
    for (size_t i = 0; i < n && st == HG_OK; i++) {
        hg_platform_info *p = &l->platforms[i];
        if (raw[i].name_rc != CL_SUCCESS) {
            char *msg = hg__asprintf("skipping platform %zu (vendor \"%s\"): "
                                     "clGetPlatformInfo(CL_PLATFORM_NAME): %s (%d)",
                                     i, p->vendor, hg_cl_error_name(raw[i].name_rc),
                                     (int)raw[i].name_rc);
            p->status = HG_OPENCL;
            st = add_warning(l, msg);
            p->error = msg ? msg : "";
            continue;
        }
        /* device queries too go through a non-thread-safe platform's lock */
        pthread_mutex_t *serial = hg__platform_lock(p->name);
        hg__platform_enter(serial);
        st = add_platform_devices(l, i, &cap);
        hg__platform_leave(serial);
    }
    return st;
}

/* ---- selection ----------------------------------------------------------- */

static hg_status apply_selection(hg_device_list *l, const hg_options *opt, hg_error *err)
{
    size_t n = l->ndevices;
    bool *pass = calloc(n ? n : 1, sizeof *pass);
    size_t *rank = malloc((n ? n : 1) * sizeof *rank);
    char **reasons = calloc(n ? n : 1, sizeof *reasons);
    char **ids = calloc(n ? n : 1, sizeof *ids);
    hg_status st = HG_OK;
    if (!pass || !rank || !reasons || !ids) {
        st = hg__error_set(err, HG_OUT_OF_MEMORY, 0, "selecting among %zu devices", n);
        goto out_free;
    }

    st = hg__assign_ids(l->devices, n, ids);
    for (size_t i = 0; i < n; i++) {
        if (ids[i] && !pool_keep(l, ids[i]))
            st = HG_OUT_OF_MEMORY;
        ids[i] = NULL;
    }
    if (st != HG_OK) {
        hg__error_set(err, st, 0, "assigning device ids");
        goto out_free;
    }

    for (size_t i = 0; i < n; i++) {
        rank[i] = SIZE_MAX;
        l->devices[i].selected = true;
        if (opt->device_types && !(opt->device_types & (unsigned)l->devices[i].type)) {
            l->devices[i].selected = false;
            l->devices[i].reason = "not selected: its class is not in hg_options.device_types";
        }
    }

    const char *env = opt->use_environment ? getenv("HETGRAD_DEVICES") : NULL;
    const char *source = opt->devices_source ? opt->devices_source : "hg_options.devices";
    const char *unpicked = "not selected by hg_options.devices";
    if (opt->devices_source) {
        char *r = hg__asprintf("not selected by %s", opt->devices_source);
        if (!r || !pool_keep(l, r)) {
            st = hg__error_set(err, HG_OUT_OF_MEMORY, 0, "selecting devices");
            goto out_free;
        }
        unpicked = r;
    }
    const struct {
        const char *expr, *source;
    } exprs[2] = {{env, "HETGRAD_DEVICES"}, {opt->devices, source}};
    for (size_t e = 0; e < 2; e++) {
        if (!exprs[e].expr)
            continue;
        for (size_t i = 0; i < n; i++)
            pass[i] = false;
        st = hg__select_apply(exprs[e].expr, exprs[e].source, l->devices, n, pass, rank,
                              e * 1000000, err);
        if (st != HG_OK)
            goto out_free;
        for (size_t i = 0; i < n; i++) {
            if (l->devices[i].selected && !pass[i]) {
                l->devices[i].selected = false;
                l->devices[i].reason = e == 0 ? "not selected by HETGRAD_DEVICES" : unpicked;
            }
        }
    }

    /* Keep the "not selected" reasons of unselected devices. */
    const char **unselected = calloc(n ? n : 1, sizeof *unselected);
    if (!unselected) {
        st = hg__error_set(err, HG_OUT_OF_MEMORY, 0, "selecting among %zu devices", n);
        goto out_free;
    }
    for (size_t i = 0; i < n; i++)
        unselected[i] = l->devices[i].reason;
    st = hg__dedup(l->devices, n, rank, opt->keep_duplicates, reasons);
    for (size_t i = 0; i < n; i++) {
        if (reasons[i] && !pool_keep(l, reasons[i]))
            st = HG_OUT_OF_MEMORY;
        reasons[i] = NULL;
        if (!l->devices[i].selected)
            l->devices[i].reason = unselected[i];
    }
    free(unselected);
    if (st != HG_OK) {
        hg__error_set(err, st, 0, "de-duplicating devices");
        goto out_free;
    }
    l->nkept = 0;
    for (size_t i = 0; i < n; i++)
        l->nkept += l->devices[i].kept;
    free(l->rank);
    l->rank = rank; /* the list keeps it (hg__list_rank) */
    rank = NULL;

out_free:
    if (reasons)
        for (size_t i = 0; i < n; i++)
            free(reasons[i]);
    free(ids);
    free(reasons);
    free(rank);
    free(pass);
    return st;
}

hg_status hg_device_list_create(const hg_options *opt_in, hg_device_list **out,
                                hg_error *err)
{
    hg_error_clear(err);
    if (!out)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                             "hg_device_list_create: out is NULL");
    *out = NULL;
    hg_options opt;
    hg_status st = hg__options_read(opt_in, &opt, err);
    if (st != HG_OK)
        return st;
    if (opt.device_types & ~(unsigned)HG_DEVICE_ALL)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                             "hg_options.device_types has unknown bits 0x%x",
                             opt.device_types & ~(unsigned)HG_DEVICE_ALL);
    if (opt.log_level < HG_LOG_ERROR || opt.log_level > HG_LOG_DEBUG)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                             "hg_options.log_level is %d, not an hg_log_level",
                             (int)opt.log_level);

    hg_device_list *l = calloc(1, sizeof *l);
    if (!l)
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "allocating the device list");
    l->log = (hg__logger){opt.log, opt.log_user, opt.log_level};

    raw_platform *raw = NULL;
    size_t nraw = 0;
    st = get_platforms(&raw, &nraw, err);
    if (st == HG_OK) {
        st = build_platforms(l, raw, nraw);
        if (st != HG_OK)
            hg__error_set(err, st, 0, "enumerating OpenCL devices");
    }
    free_raw(raw, nraw);
    if (st == HG_OK)
        st = apply_selection(l, &opt, err);
    if (st != HG_OK) {
        hg_device_list_destroy(l);
        return st;
    }
    hg__log(&l->log, HG_LOG_INFO, "%zu platform(s), %zu device(s), %zu kept",
            l->nplatforms, l->ndevices, l->nkept);
    *out = l;
    return HG_OK;
}

/* ---- accessors ----------------------------------------------------------- */

size_t hg_device_list_platform_count(const hg_device_list *l)
{
    return l ? l->nplatforms : 0;
}

const hg_platform_info *hg_device_list_platform(const hg_device_list *l, size_t i)
{
    return l && i < l->nplatforms ? &l->platforms[i] : NULL;
}

size_t hg_device_list_count(const hg_device_list *l)
{
    return l ? l->ndevices : 0;
}

const hg_device_info *hg_device_list_get(const hg_device_list *l, size_t i)
{
    return l && i < l->ndevices ? &l->devices[i] : NULL;
}

size_t hg_device_list_kept_count(const hg_device_list *l)
{
    return l ? l->nkept : 0;
}

const hg_device_info *hg_device_list_find(const hg_device_list *l, const char *id)
{
    if (!l || !id)
        return NULL;
    for (size_t i = 0; i < l->ndevices; i++)
        if (strcmp(l->devices[i].id, id) == 0)
            return &l->devices[i];
    return NULL;
}

size_t hg_device_list_warning_count(const hg_device_list *l)
{
    return l ? l->nwarnings : 0;
}

const char *hg_device_list_warning(const hg_device_list *l, size_t i)
{
    return l && i < l->nwarnings ? l->warnings[i] : NULL;
}

cl_device_id hg__list_cl_device(const hg_device_list *l, size_t i)
{
    return l && i < l->ndevices ? l->cl_devices[i] : NULL;
}

size_t hg__list_rank(const hg_device_list *l, size_t i)
{
    return l && l->rank && i < l->ndevices ? l->rank[i] : SIZE_MAX;
}

cl_platform_id hg__list_cl_platform(const hg_device_list *l, size_t i)
{
    return l && i < l->ndevices ? l->cl_platforms[l->devices[i].platform] : NULL;
}
