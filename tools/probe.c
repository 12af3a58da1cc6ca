/* SPDX-License-Identifier: MIT */
/*
 * hetgrad-probe - list every OpenCL platform and device as hetgrad sees them:
 * classified, identified, selected and de-duplicated.  clinfo-style.
 *
 *   hetgrad-probe                a property table per device (devices in use)
 *   hetgrad-probe -l             a platform/device tree
 *   hetgrad-probe --json         the same data as JSON (docs/probe-json.md)
 *   hetgrad-probe --all-devices  also devices set aside or not selected
 *   hetgrad-probe --check        run the self-test kernel on every listed device
 *   hetgrad-probe --profile      calibrate the devices in use on a default workload
 *
 * Options and exit status: main()'s tables, man/hetgrad-probe.1, docs/tools.md.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hetgrad.h>

#include "cli.h"
#include "pocl_pin.h"
#include "json_out.h"
#include "probe_state.h"

/* ---- property rows: one per property, shared by the table and JSON -------- */

typedef enum fmt {
    F_STR, F_U32, F_HEX32, F_U64, F_BYTES, F_SIZE, F_BOOL, F_NS
} fmt;

typedef struct row {
    const char *label;  /* table label */
    hg_prop     prop;   /* guard: prints <error> when the query failed */
    fmt         f;
    size_t      offset; /* field in hg_device_info */
} row;

#define R(label, prop, f, field) {label, HG_PROP_##prop, f, offsetof(hg_device_info, field)}
static const row rows[] = {
    R("Name",                     NAME,                 F_STR,   name),
    R("Vendor",                   VENDOR,               F_STR,   vendor),
    R("Vendor ID",                VENDOR_ID,            F_HEX32, vendor_id),
    R("Available",                AVAILABLE,            F_BOOL,  available),
    R("Driver version",           DRIVER_VERSION,       F_STR,   driver_version),
    R("OpenCL version",           OPENCL_VERSION,       F_STR,   opencl_version),
    R("OpenCL C version",         OPENCL_C_VERSION,     F_STR,   opencl_c_version),
    R("Compute units",            COMPUTE_UNITS,        F_U32,   compute_units),
    R("Max clock (MHz)",          MAX_CLOCK_MHZ,        F_U32,   max_clock_mhz),
    R("Global memory",            GLOBAL_MEM,           F_BYTES, global_mem_bytes),
    R("Global memory cache",      GLOBAL_MEM_CACHE,     F_BYTES, global_mem_cache_bytes),
    R("Local memory",             LOCAL_MEM,            F_BYTES, local_mem_bytes),
    R("Constant memory",          CONSTANT_MEM,         F_BYTES, constant_mem_bytes),
    R("Max allocation",           MAX_ALLOC,            F_BYTES, max_alloc_bytes),
    R("Max work-group size",      MAX_WORK_GROUP_SIZE,  F_SIZE,  max_work_group_size),
    R("Profiling resolution",     PROFILING_RESOLUTION, F_NS,    profiling_resolution_ns),
    R("Host-unified memory",      HOST_UNIFIED_MEMORY,  F_BOOL,  host_unified_memory),
    R("Compiler available",       COMPILER_AVAILABLE,   F_BOOL,  compiler_available),
    R("Linker available",         LINKER_AVAILABLE,     F_BOOL,  linker_available),
    R("Double precision (fp64)",  FP64,                 F_BOOL,  fp64),
    R("Half precision (fp16)",    FP16,                 F_BOOL,  fp16),
};
#undef R

typedef struct probe_opts {
    bool tree, json, all, check, keep_dups, profile;
    const char *devices;
} probe_opts;

/* --profile: each kept device calibrated on the default workload. */
typedef struct profile_result {
    bool   ran;
    bool   valid;
    double fixed_ms, rows_per_s, gflops, share;
    double dispatch_floor_ms; /* one empty kernel's round trip; 0: not measured */
    bool   from_cache;
    char   note[HG_ERROR_MESSAGE_MAX];
    char   kernel[48];                      /* the kernel it computes with */
    char   kernel_why[HG_ERROR_MESSAGE_MAX]; /* each candidate's speed, or the rule */
    double corun_factor;                    /* joint calibration's; 0: not measured */
    char   excluded[256];                   /* why it gets no rows; "" if kept */
    char   fission[256];                    /* the fission decision ("": none) */
    char   duplicates[1024];                /* the set-aside views' decision ("": none) */
} profile_result;

#define PROFILE_ROWS 4096
#define PROFILE_FEATURES 784
#define PROFILE_CLASSES 10

/*
 * Default workload: softmax regression, 784 features, 10 classes (MNIST
 * shaped), 4096 synthetic rows.  Fills out[] by list index; false when the
 * engine could not be made (the message is in out[0].note).
 */
static bool run_profile(const hg_device_list *l, const probe_opts *o, const cli *cmd,
                        profile_result *out, char *fail, size_t failn)
{
    const size_t n = PROFILE_ROWS, d = PROFILE_FEATURES, c = PROFILE_CLASSES;
    hg_model_desc m = {.kind = HG_MODEL_SOFTMAX, .inputs = d, .outputs = c};
    float *x = malloc(n * d * sizeof *x), *params = calloc(d * c + c, sizeof *params),
          *grad = malloc((d * c + c) * sizeof *grad);
    int32_t *lab = malloc(n * sizeof *lab);
    bool ok = false;
    hg_engine *e = NULL;
    hg_error err;
    if (!x || !params || !grad || !lab) {
        snprintf(fail, failn, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n * d; i++)
        x[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
    for (size_t r = 0; r < n; r++)
        lab[r] = (int32_t)(r % c);
    hg_options dev;
    hg_options_init(&dev);
    dev.devices = o->devices;
    dev.keep_duplicates = o->keep_dups;
    cli_apply_log(cmd, &dev);
    /* the device list already logged its warnings once; below info, only errors */
    if (dev.log_level < HG_LOG_INFO)
        dev.log_level = HG_LOG_ERROR;
    hg_engine_options eo;
    hg_engine_options_init(&eo);
    eo.devices = &dev;
    hg_dataset_desc data = {n, d, x, NULL, lab};
    if (hg_engine_create(&eo, &m, &e, &err) != HG_OK ||
        hg_engine_set_data(e, &data, &err) != HG_OK || hg_engine_calibrate(e, &err) != HG_OK ||
        hg_engine_gradient(e, params, 0, n, grad, NULL, &err) != HG_OK) {
        snprintf(fail, failn, "%s: %.440s", hg_status_name(err.status), err.message);
        goto out;
    }
    for (size_t i = 0; i < hg_engine_device_count(e); i++) {
        const hg_device_info *di = hg_engine_device(e, i);
        const hg_device_info *li = hg_device_list_find(l, di->id);
        if (!li)
            continue;
        profile_result *r = &out[li->index];
        hg_device_profile p;
        hg_device_step st;
        hg_engine_device_profile(e, i, &p);
        hg_engine_last_step(e, i, &st);
        r->ran = true;
        r->valid = p.valid;
        r->fixed_ms = p.fixed_ms;
        r->dispatch_floor_ms = p.dispatch_floor_ms;
        r->rows_per_s = p.rows_per_s;
        r->gflops = p.rows_per_s * 4.0 * (double)(d * c) / 1e9;
        r->share = (double)st.rows / (double)n;
        r->from_cache = p.from_cache;
        snprintf(r->kernel, sizeof r->kernel, "%s", p.kernel);
        snprintf(r->kernel_why, sizeof r->kernel_why, "%s", p.kernel_note);
        r->corun_factor = p.corun_factor;
        snprintf(r->excluded, sizeof r->excluded, "%s", p.excluded ? p.excluded_why : "");
        snprintf(r->fission, sizeof r->fission, "%s", hg_engine_fission_note(e, i));
        snprintf(r->duplicates, sizeof r->duplicates, "%s", hg_engine_duplicate_note(e, i));
        const char *why = NULL;
        if (hg_engine_quarantined(e, i, &why))
            snprintf(r->note, sizeof r->note, "quarantined: %.400s", why);
    }
    ok = true;
out:
    hg_engine_destroy(e);
    free(x);
    free(params);
    free(grad);
    free(lab);
    return ok;
}

static const void *field(const hg_device_info *d, size_t off)
{
    return (const char *)d + off;
}

static void format_bytes(char *buf, size_t n, uint64_t v)
{
    static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double x = (double)v;
    size_t u = 0;
    while (x >= 1024.0 && u + 1 < sizeof units / sizeof units[0]) {
        x /= 1024.0;
        u++;
    }
    if (u == 0)
        snprintf(buf, n, "%" PRIu64 " B", v);
    else
        snprintf(buf, n, "%.2f %s (%" PRIu64 " B)", x, units[u], v);
}

static void format_row(char *buf, size_t n, const hg_device_info *d, const row *r)
{
    const void *p = field(d, r->offset);
    if (!hg_device_prop_ok(d, r->prop)) {
        snprintf(buf, n, "<error>");
        return;
    }
    switch (r->f) {
    case F_STR:   snprintf(buf, n, "%s", *(const char *const *)p); break;
    case F_U32:   snprintf(buf, n, "%" PRIu32, *(const uint32_t *)p); break;
    case F_HEX32: snprintf(buf, n, "0x%04" PRIx32, *(const uint32_t *)p); break;
    case F_U64:   snprintf(buf, n, "%" PRIu64, *(const uint64_t *)p); break;
    case F_BYTES: format_bytes(buf, n, *(const uint64_t *)p); break;
    case F_SIZE:  snprintf(buf, n, "%zu", *(const size_t *)p); break;
    case F_BOOL:  snprintf(buf, n, "%s", *(const bool *)p ? "yes" : "no"); break;
    case F_NS:    snprintf(buf, n, "%" PRIu64 " ns", *(const uint64_t *)p); break;
    }
}

static void json_row(json_out *j, const hg_device_info *d, const row *r)
{
    const void *p = field(d, r->offset);
    json_key(j, hg_prop_name(r->prop));
    if (!hg_device_prop_ok(d, r->prop)) {
        json_null(j);
        return;
    }
    switch (r->f) {
    case F_STR:   json_string(j, *(const char *const *)p); break;
    case F_U32:
    case F_HEX32: json_u64(j, *(const uint32_t *)p); break;
    case F_U64:
    case F_BYTES:
    case F_NS:    json_u64(j, *(const uint64_t *)p); break;
    case F_SIZE:  json_u64(j, *(const size_t *)p); break;
    case F_BOOL:  json_bool(j, *(const bool *)p); break;
    }
}

static void pci_text(char *buf, size_t n, const hg_device_info *d)
{
    snprintf(buf, n, "%04x:%02x:%02x.%x", (unsigned)d->pci.domain, (unsigned)d->pci.bus,
             (unsigned)d->pci.device, (unsigned)d->pci.function);
}

static void uuid_text(char *buf, size_t n, const hg_device_info *d)
{
    size_t k = 0;
    for (size_t i = 0; i < 16 && k + 3 < n; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            buf[k++] = '-';
        k += (size_t)snprintf(buf + k, n - k, "%02x", d->uuid[i]);
    }
    buf[k < n ? k : n - 1] = '\0';
}

static void cl_type_text(char *buf, size_t n, uint64_t bits)
{
    static const struct { uint64_t bit; const char *name; } names[] = {
        {1u << 0, "DEFAULT"}, {1u << 1, "CPU"}, {1u << 2, "GPU"},
        {1u << 3, "ACCELERATOR"}, {1u << 4, "CUSTOM"}};
    buf[0] = '\0';
    size_t k = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (bits & names[i].bit)
            k += (size_t)snprintf(buf + k, k < n ? n - k : 0, "%s%s", k ? "|" : "", names[i].name);
}

/*
 * Shown: every device with --all-devices, else those in use: kept by the list, or
 * computed on by the profile's engine (pr, NULL before it ran), which keeps the
 * runtime that measured faster of two on the same hardware (docs/engine.md,
 * "Duplicate runtimes"), so its profile is shown where the list set it aside.
 */
static bool listed(const probe_opts *o, const hg_device_info *d, const profile_result *pr)
{
    return o->all || d->kept || (pr && pr[d->index].ran);
}

/* ---- self-test ------------------------------------------------------------ */

typedef struct check_result {
    bool        ran;
    hg_status   st;
    hg_selftest_result res;
    char        message[HG_ERROR_MESSAGE_MAX];
} check_result;

static int run_checks(const hg_device_list *l, const probe_opts *o, check_result *out)
{
    int failures = 0;
    for (size_t i = 0; i < hg_device_list_count(l); i++) {
        const hg_device_info *d = hg_device_list_get(l, i);
        out[i].ran = false;
        if (!o->check || !listed(o, d, NULL))
            continue;
        hg_error err;
        out[i].ran = true;
        out[i].st = hg_device_selftest(l, i, &out[i].res, &err);
        snprintf(out[i].message, sizeof out[i].message, "%s", err.message);
        failures += out[i].st != HG_OK;
    }
    return failures;
}

static void print_check(const check_result *c)
{
    if (!c->ran)
        return;
    if (c->st == HG_OK)
        printf("  %-28s passed (%zu values checked; build %.1f ms, run %.1f ms)\n",
               "Self-test", c->res.elements, c->res.build_ms, c->res.run_ms);
    else
        printf("  %-28s FAILED: %s: %s\n", "Self-test", hg_status_name(c->st), c->message);
}

/* ---- text output ------------------------------------------------------------ */

/*
 * Device d's state word (probe_state.h), after the profile's engine (pr, NULL when
 * --profile did not run) chose between views of the same hardware; *why: the reason to
 * show instead of the list's (written to buf, bufn bytes), or the list's own.
 */
static const char *state_word(const hg_device_list *l, const hg_device_info *d,
                              const profile_result *pr, char *buf, size_t bufn,
                              const char **why)
{
    size_t n = hg_device_list_count(l);
    bool *computed = pr ? calloc(n ? n : 1, sizeof *computed) : NULL;
    for (size_t k = 0; computed && k < n; k++)
        computed[k] = pr[k].ran;
    const char *w = probe_state_word(l, d->index, computed, buf, bufn);
    free(computed);
    *why = buf[0] ? buf : d->reason;
    return w ? w : "unknown";
}

static void print_profile(const profile_result *p)
{
    if (!p || !p->ran)
        return;
    if (!p->valid) {
        printf("  %-28s none%s%s\n", "Profile", p->note[0] ? ": " : "", p->note);
        return;
    }
    printf("  %-28s fixed %.3f ms (dispatch floor %.4f ms), %.0f rows/s, %.2f GFLOP/s, "
           "share %.1f%%%s%s%s\n",
           "Profile (softmax 784x10)", p->fixed_ms, p->dispatch_floor_ms, p->rows_per_s, p->gflops, 100.0 * p->share,
           p->from_cache ? " (cached)" : "", p->note[0] ? "; " : "", p->note);
    printf("  %-28s %s%s%s\n", "Kernel", p->kernel, p->kernel_why[0] ? ": " : "",
           p->kernel_why);
    if (p->excluded[0])
        printf("  %-28s no rows: %s\n", "Joint calibration", p->excluded);
    else if (p->corun_factor > 0)
        printf("  %-28s %.2fx its cost per row alone, beside the other devices\n",
               "Joint calibration", p->corun_factor);
    if (p->fission[0])
        printf("  %-28s %s\n", "Fission", p->fission);
    if (p->duplicates[0])
        printf("  %-28s %s\n", "Duplicates", p->duplicates);
}

/* --profile in the -l tree: two lines under the device. */
static void print_tree_profile(const profile_result *p)
{
    if (!p || !p->ran)
        return;
    if (!p->valid) {
        printf("     profile: none%s%s\n", p->note[0] ? ": " : "", p->note);
        return;
    }
    printf("     profile (softmax 784x10): fixed %.3f ms (dispatch floor %.4f ms), "
           "%.0f rows/s, %.2f GFLOP/s, share %.1f%%%s%s%s\n", p->fixed_ms,
           p->dispatch_floor_ms, p->rows_per_s, p->gflops, 100.0 * p->share,
           p->from_cache ? " (cached)" : "", p->note[0] ? "; " : "", p->note);
    printf("     kernel: %s%s%s\n", p->kernel, p->kernel_why[0] ? ": " : "", p->kernel_why);
    if (p->excluded[0])
        printf("     joint calibration: no rows: %s\n", p->excluded);
    else if (p->corun_factor > 0)
        printf("     joint calibration: %.2fx its cost per row alone, beside the other "
               "devices\n", p->corun_factor);
    if (p->fission[0])
        printf("     fission: %s\n", p->fission);
    if (p->duplicates[0])
        printf("     duplicates: %s\n", p->duplicates);
}

static void print_tree(const hg_device_list *l, const probe_opts *o, const check_result *c,
                       const profile_result *pr)
{
    size_t np = hg_device_list_platform_count(l);
    for (size_t p = 0; p < np; p++) {
        const hg_platform_info *pi = hg_device_list_platform(l, p);
        printf("Platform #%zu: %s\n", p, pi->name[0] ? pi->name : "(unnamed)");
        if (pi->status != HG_OK) {
            printf(" `-- skipped: %s\n", pi->error ? pi->error : hg_strerror(pi->status));
            continue;
        }
        size_t shown = 0, total = 0;
        for (size_t i = 0; i < hg_device_list_count(l); i++) {
            const hg_device_info *d = hg_device_list_get(l, i);
            if (d->platform == p && listed(o, d, pr))
                total++;
        }
        if (total == 0)
            printf(" `-- (no devices%s)\n",
                   pi->device_count ? " in use; --all-devices shows them" : "");
        for (size_t i = 0; i < hg_device_list_count(l); i++) {
            const hg_device_info *d = hg_device_list_get(l, i);
            if (d->platform != p || !listed(o, d, pr))
                continue;
            shown++;
            char buf[HG_ERROR_MESSAGE_MAX];
            const char *why, *word = state_word(l, d, pr, buf, sizeof buf, &why);
            printf(" %s-- #%zu %s  [%s] %s  %s\n", shown == total ? "`" : "+", d->index,
                   d->name[0] ? d->name : "(unnamed)", hg_device_type_name(d->type), d->id,
                   word);
            if (!d->kept || why != d->reason)
                printf("     %s\n", why);
            if (c[i].ran)
                printf("     self-test: %s%s%s\n", c[i].st == HG_OK ? "passed" : "FAILED",
                       c[i].st == HG_OK ? "" : ": ", c[i].st == HG_OK ? "" : c[i].message);
            print_tree_profile(pr ? &pr[i] : NULL);
        }
    }
}

static void print_table(const hg_device_list *l, const probe_opts *o, const check_result *c,
                        const profile_result *pr)
{
    size_t np = hg_device_list_platform_count(l);
    for (size_t p = 0; p < np; p++) {
        const hg_platform_info *pi = hg_device_list_platform(l, p);
        printf("Platform #%zu\n", p);
        printf("  %-28s %s\n", "Name", pi->name);
        printf("  %-28s %s\n", "Vendor", pi->vendor);
        printf("  %-28s %s\n", "Version", pi->version);
        printf("  %-28s %zu\n", "Devices", pi->device_count);
        if (pi->status != HG_OK)
            printf("  %-28s %s\n", "Skipped", pi->error ? pi->error : hg_strerror(pi->status));
    }
    for (size_t i = 0; i < hg_device_list_count(l); i++) {
        const hg_device_info *d = hg_device_list_get(l, i);
        if (!listed(o, d, pr))
            continue;
        char buf[160];
        printf("\nDevice #%zu  %s\n", d->index, d->id);
        printf("  %-28s %s\n", "Platform", d->platform_name);
        cl_type_text(buf, sizeof buf, d->cl_type);
        printf("  %-28s %s (CL_DEVICE_TYPE %s)\n", "Class", hg_device_type_name(d->type),
               hg_device_prop_ok(d, HG_PROP_TYPE) ? buf : "<error>");
        for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
            format_row(buf, sizeof buf, d, &rows[r]);
            printf("  %-28s %s\n", rows[r].label, buf);
        }
        if (!hg_device_prop_ok(d, HG_PROP_PCI))
            snprintf(buf, sizeof buf, "<error>");
        else if (d->has_pci) {
            char addr[32];
            pci_text(addr, sizeof addr, d);
            snprintf(buf, sizeof buf, "%s (%s)", addr, d->pci_source);
        } else
            snprintf(buf, sizeof buf, "not exposed");
        printf("  %-28s %s\n", "PCI bus", buf);
        if (!hg_device_prop_ok(d, HG_PROP_UUID))
            snprintf(buf, sizeof buf, "<error>");
        else if (d->has_uuid)
            uuid_text(buf, sizeof buf, d);
        else
            snprintf(buf, sizeof buf, "not exposed");
        printf("  %-28s %s\n", "UUID", buf);
        char sbuf[HG_ERROR_MESSAGE_MAX];
        const char *why, *word = state_word(l, d, pr, sbuf, sizeof sbuf, &why);
        printf("  %-28s %s: %s\n", "hetgrad", word, why);
        print_check(&c[i]);
        print_profile(pr ? &pr[i] : NULL);
    }
}

/* ---- JSON output ------------------------------------------------------------ */

/* False when the document could not be written in full (json_finish). */
static bool print_json(const hg_device_list *l, const probe_opts *o, const check_result *c,
                       const profile_result *pr)
{
    json_out j;
    json_init(&j, stdout);
    json_begin_object(&j);
    json_key(&j, "schema");
    json_string(&j, "hetgrad-probe/1");
    json_key(&j, "hetgrad_version");
    json_string(&j, hg_version_string());

    json_key(&j, "platforms");
    json_begin_array(&j);
    for (size_t p = 0; p < hg_device_list_platform_count(l); p++) {
        const hg_platform_info *pi = hg_device_list_platform(l, p);
        json_begin_object(&j);
        json_key(&j, "index");       json_u64(&j, p);
        json_key(&j, "name");        json_string(&j, pi->name);
        json_key(&j, "vendor");      json_string(&j, pi->vendor);
        json_key(&j, "version");     json_string(&j, pi->version);
        json_key(&j, "profile");     json_string(&j, pi->profile);
        json_key(&j, "device_count");json_u64(&j, pi->device_count);
        json_key(&j, "status");      json_string(&j, pi->status == HG_OK ? "ok" : "skipped");
        json_key(&j, "error");       json_string(&j, pi->status == HG_OK ? NULL : pi->error);
        json_end_object(&j);
    }
    json_end_array(&j);

    size_t nlisted = 0;
    json_key(&j, "devices");
    json_begin_array(&j);
    for (size_t i = 0; i < hg_device_list_count(l); i++) {
        const hg_device_info *d = hg_device_list_get(l, i);
        if (!listed(o, d, pr))
            continue;
        nlisted++;
        char buf[64];
        json_begin_object(&j);
        json_key(&j, "id");             json_string(&j, d->id);
        json_key(&j, "index");          json_u64(&j, d->index);
        json_key(&j, "platform_index"); json_u64(&j, d->platform);
        json_key(&j, "platform");       json_string(&j, d->platform_name);
        json_key(&j, "type");           json_string(&j, hg_device_type_name(d->type));
        json_key(&j, "cl_type");
        if (hg_device_prop_ok(d, HG_PROP_TYPE)) {
            cl_type_text(buf, sizeof buf, d->cl_type);
            json_string(&j, buf);
        } else {
            json_null(&j);
        }
        for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++)
            json_row(&j, d, &rows[r]);
        json_key(&j, "pci_bus");
        if (d->has_pci) {
            pci_text(buf, sizeof buf, d);
            json_string(&j, buf);
        } else {
            json_null(&j);
        }
        json_key(&j, "pci_source");     json_string(&j, d->has_pci ? d->pci_source : NULL);
        json_key(&j, "uuid");
        if (d->has_uuid) {
            uuid_text(buf, sizeof buf, d);
            json_string(&j, buf);
        } else {
            json_null(&j);
        }
        json_key(&j, "failed_properties");
        json_begin_array(&j);
        for (int p = 0; p < HG_PROP_COUNT_; p++)
            if (!hg_device_prop_ok(d, (hg_prop)p))
                json_string(&j, hg_prop_name((hg_prop)p));
        json_end_array(&j);
        json_key(&j, "selected");       json_bool(&j, d->selected);
        json_key(&j, "kept");           json_bool(&j, d->kept);
        json_key(&j, "duplicate_of");
        if (d->duplicate_of >= 0)
            json_string(&j, hg_device_list_get(l, (size_t)d->duplicate_of)->id);
        else
            json_null(&j);
        json_key(&j, "reason");         json_string(&j, d->reason);
        if (c[i].ran) {
            json_key(&j, "selftest");
            json_begin_object(&j);
            json_key(&j, "passed");   json_bool(&j, c[i].st == HG_OK);
            json_key(&j, "status");   json_string(&j, hg_status_name(c[i].st));
            json_key(&j, "message");  json_string(&j, c[i].st == HG_OK ? NULL : c[i].message);
            json_key(&j, "build_ms"); json_double(&j, c[i].res.build_ms);
            json_key(&j, "run_ms");   json_double(&j, c[i].res.run_ms);
            json_end_object(&j);
        }
        if (pr && pr[i].ran) {
            json_key(&j, "profile");
            json_begin_object(&j);
            json_key(&j, "workload"); json_string(&j, "softmax 784x10, 4096 rows");
            json_key(&j, "valid"); json_bool(&j, pr[i].valid);
            json_key(&j, "fixed_ms"); json_double(&j, pr[i].valid ? pr[i].fixed_ms : NAN);
            json_key(&j, "dispatch_floor_ms");
            json_double(&j, pr[i].dispatch_floor_ms > 0 ? pr[i].dispatch_floor_ms : NAN);
            json_key(&j, "rows_per_s"); json_double(&j, pr[i].valid ? pr[i].rows_per_s : NAN);
            json_key(&j, "gflops"); json_double(&j, pr[i].valid ? pr[i].gflops : NAN);
            json_key(&j, "share"); json_double(&j, pr[i].share);
            json_key(&j, "from_cache"); json_bool(&j, pr[i].from_cache);
            json_key(&j, "kernel"); json_string(&j, pr[i].kernel);
            json_key(&j, "kernel_why");
            json_string(&j, pr[i].kernel_why[0] ? pr[i].kernel_why : NULL);
            json_key(&j, "corun_factor");
            json_double(&j, pr[i].valid && pr[i].corun_factor > 0 ? pr[i].corun_factor : NAN);
            json_key(&j, "excluded");
            json_string(&j, pr[i].excluded[0] ? pr[i].excluded : NULL);
            json_key(&j, "fission");
            json_string(&j, pr[i].fission[0] ? pr[i].fission : NULL);
            json_key(&j, "duplicates");
            json_string(&j, pr[i].duplicates[0] ? pr[i].duplicates : NULL);
            json_key(&j, "note"); json_string(&j, pr[i].note[0] ? pr[i].note : NULL);
            json_end_object(&j);
        }
        json_end_object(&j);
    }
    json_end_array(&j);

    json_key(&j, "warnings");
    json_begin_array(&j);
    for (size_t w = 0; w < hg_device_list_warning_count(l); w++)
        json_string(&j, hg_device_list_warning(l, w));
    json_end_array(&j);

    json_key(&j, "summary");
    json_begin_object(&j);
    json_key(&j, "platforms"); json_u64(&j, hg_device_list_platform_count(l));
    json_key(&j, "devices");   json_u64(&j, hg_device_list_count(l));
    json_key(&j, "kept");      json_u64(&j, hg_device_list_kept_count(l));
    json_key(&j, "listed");    json_u64(&j, nlisted);
    json_end_object(&j);
    json_end_object(&j);
    return json_finish(&j);
}

/* ---- main --------------------------------------------------------------------- */

static const cli_exit probe_exits[] = {
    {0, "success (also when there is no OpenCL platform at all)"},
    {1, "a --check self-test or the --profile calibration failed, or the JSON\n"
        "     could not be written in full"},
    {2, "usage error"},
    {3, "the device list could not be built (a bad HETGRAD_DEVICES or --devices),\n"
        "     or out of memory"},
};

static const cli_env probe_env[] = {
    {"HETGRAD_DEVICES=EXPR", "device selection (docs/devices.md); a device\n"
                             "must pass both it and --devices"},
    {"POCL_AFFINITY=0|1", "POCL pins its CPU threads to cores; set to 1\n"
                          "when unset (docs/engine.md)"},
};

int main(int argc, char **argv)
{
    tool_pin_pocl_threads(); /* before any OpenCL runtime loads (tools/pocl_pin.h) */
    probe_opts o = {0};
    const cli_option options[] = {
        {.name = "list", .letter = 'l', .kind = CLI_FLAG, .target = &o.tree,
         .help = "platform/device tree (as clinfo -l)"},
        {.name = "json", .kind = CLI_FLAG, .target = &o.json,
         .help = "JSON (schema: docs/probe-json.md)"},
        {.name = "all-devices", .alias = "all", .kind = CLI_FLAG, .target = &o.all,
         .help = "also list devices set aside or not selected"},
        {.name = "check", .kind = CLI_FLAG, .target = &o.check,
         .help = "run the self-test kernel on every listed device"},
        {.name = "profile", .kind = CLI_FLAG, .target = &o.profile,
         .help = "calibrate every device in use on a default\n"
                 "workload (softmax 784x10): fixed cost, rows/s,\n"
                 "GFLOP/s, share and kernel, in the table, the -l\n"
                 "tree and --json"},
        {.name = "devices", .kind = CLI_STRING, .metavar = "EXPR", .target = &o.devices,
         .help = "select devices (syntax of HETGRAD_DEVICES,\ndocs/devices.md)"},
        {.name = "keep-duplicates", .kind = CLI_FLAG, .target = &o.keep_dups,
         .help = "keep several views of the same hardware (default:\none view each)"},
    };
    const cli_spec spec = {
        .prog = "hetgrad-probe",
        .synopsis = "[-l | --json] [--all-devices] [--check] [--profile]\n"
                    "                     [--devices EXPR] [--keep-duplicates] [-v | -q]",
        .summary = "List every OpenCL platform and device as hetgrad sees them: classified,\n"
                   "identified, selected and de-duplicated.  Without -l or --json, a table\n"
                   "of properties per device in use, as clinfo prints.",
        .options = options,
        .noptions = sizeof options / sizeof options[0],
        .env = probe_env,
        .nenv = sizeof probe_env / sizeof probe_env[0],
        .exits = probe_exits,
        .nexits = sizeof probe_exits / sizeof probe_exits[0],
    };
    cli cmd;
    cli_init(&cmd, &spec);
    int rc = cli_parse(&cmd, argc, argv);
    if (rc != CLI_CONTINUE)
        return rc;
    if (o.tree && o.json)
        return cli_usage_error(&cmd, "-l and --json do not go together");

    hg_options opt;
    hg_options_init(&opt);
    opt.devices = o.devices;
    opt.keep_duplicates = o.keep_dups;
    cli_apply_log(&cmd, &opt);
    hg_device_list *l = NULL;
    hg_error err;
    hg_status st = hg_device_list_create(&opt, &l, &err);
    if (st != HG_OK) {
        cli_log(&cmd, HG_LOG_ERROR, "%s: %s", hg_status_name(st), err.message);
        return 3;
    }

    size_t n = hg_device_list_count(l);
    check_result *c = calloc(n ? n : 1, sizeof *c);
    if (!c) {
        cli_log(&cmd, HG_LOG_ERROR, "out of memory");
        hg_device_list_destroy(l);
        return 3;
    }
    int failures = run_checks(l, &o, c);
    profile_result *pr = NULL;
    if (o.profile && hg_device_list_kept_count(l) > 0) {
        pr = calloc(n, sizeof *pr);
        char fail[HG_ERROR_MESSAGE_MAX] = "";
        if (!pr || !run_profile(l, &o, &cmd, pr, fail, sizeof fail)) {
            cli_log(&cmd, HG_LOG_ERROR, "--profile: %s", pr ? fail : "out of memory");
            failures++;
        }
    }

    if (o.json) {
        if (!print_json(l, &o, c, pr)) {
            fprintf(stderr, "hetgrad-probe: writing the JSON to stdout failed\n");
            failures++;
        }
    } else if (hg_device_list_platform_count(l) == 0) {
        printf("No OpenCL platform found.\n"
               "hetgrad looks for them through the ICD loader: install a driver (for the CPU:\n"
               "apt-get install pocl-opencl-icd) or point OCL_ICD_VENDORS at a directory of\n"
               ".icd files.\n");
    } else {
        if (o.tree)
            print_tree(l, &o, c, pr);
        else
            print_table(l, &o, c, pr);
        size_t set_aside = n - hg_device_list_kept_count(l);
        printf("\n%zu platform(s), %zu device(s), %zu in use", hg_device_list_platform_count(l),
               n, hg_device_list_kept_count(l));
        if (set_aside && !o.all)
            printf(", %zu set aside or not selected (--all-devices lists them)", set_aside);
        printf(".\n");
        if (n > 0 && hg_device_list_kept_count(l) == 0)
            printf("No device is selected: check HETGRAD_DEVICES / --devices.\n");
    }
    free(c);
    free(pr);
    hg_device_list_destroy(l);
    return failures ? 1 : 0;
}
