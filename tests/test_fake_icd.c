/* SPDX-License-Identifier: MIT */
/*
 * test_fake_icd.c MODE - the device manager against tests/fake_icd, a fake
 * OpenCL driver loaded through the real ICD loader.  It provides hardware
 * the CI machine lacks (GPUs with PCI addresses from three vendor
 * mechanisms, UUIDs, an FPGA without a compiler, a custom device) and the
 * failures a real driver only shows on a bad day.  MODE is also exported as
 * HG_FAKE_ICD_MODE by CTest; the driver reads it.
 *
 * Fake Platform A: Fake GPU X (khr pci 0:1:0.0, uuid 11..), Fake GPU Y (AMD
 * topology bus 2), Fake GPU Z (uuid 33..), Fake FPGA (no compiler).
 * Fake Platform B: Fake GPU X (second driver) (NV bus id 1 -> same as X),
 * Fake GPU Z (second driver) (uuid 33.. -> same as Z), Fake Custom.
 */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static const char *mode;

static hg_device_list *make(bool keep_dups)
{
    hg_options o;
    hg_options_init(&o);
    o.use_environment = false;
    o.keep_duplicates = keep_dups;
    o.log_level = HG_LOG_ERROR; /* warnings are checked through the list */
    hg_device_list *l = NULL;
    hg_error e;
    hg_status st = hg_device_list_create(&o, &l, &e);
    ck_assert_msg(st == HG_OK, "%s: %s", hg_status_name(st), e.message);
    return l;
}

static const hg_device_info *named(const hg_device_list *l, const char *name)
{
    for (size_t i = 0; i < hg_device_list_count(l); i++)
        if (strcmp(hg_device_list_get(l, i)->name, name) == 0)
            return hg_device_list_get(l, i);
    return NULL;
}

static const hg_device_info *must(const hg_device_list *l, const char *name)
{
    const hg_device_info *d = named(l, name);
    ck_assert_msg(d != NULL, "device \"%s\" missing", name);
    return d;
}

static bool warned(const hg_device_list *l, const char *a, const char *b)
{
    for (size_t i = 0; i < hg_device_list_warning_count(l); i++) {
        const char *w = hg_device_list_warning(l, i);
        if (strstr(w, a) && (!b || strstr(w, b)))
            return true;
    }
    return false;
}

/* mode gpus: classification, PCI from three mechanisms, UUID, dedup. */
START_TEST(gpus)
{
    hg_device_list *l = make(false);
    ck_assert_uint_eq(hg_device_list_platform_count(l), 2);
    ck_assert_str_eq(hg_device_list_platform(l, 0)->name, "Fake Platform A");
    ck_assert_uint_eq(hg_device_list_count(l), 7);
    ck_assert_uint_eq(hg_device_list_warning_count(l), 0);

    const hg_device_info *x = must(l, "Fake GPU X"), *y = must(l, "Fake GPU Y"),
                         *z = must(l, "Fake GPU Z"), *fpga = must(l, "Fake FPGA"),
                         *x2 = must(l, "Fake GPU X (second driver)"),
                         *z2 = must(l, "Fake GPU Z (second driver)"),
                         *custom = must(l, "Fake Custom");
    ck_assert_int_eq(x->type, HG_DEVICE_GPU);
    ck_assert_int_eq(fpga->type, HG_DEVICE_ACCELERATOR);
    ck_assert_int_eq(custom->type, HG_DEVICE_CUSTOM);
    ck_assert(!fpga->compiler_available);
    ck_assert(hg_device_prop_ok(fpga, HG_PROP_COMPILER_AVAILABLE));

    ck_assert(x->has_pci);
    ck_assert_str_eq(x->pci_source, "cl_khr_pci_bus_info");
    ck_assert_uint_eq(x->pci.bus, 1);
    ck_assert(x->has_uuid);
    ck_assert_uint_eq(x->uuid[0], 0x11);
    ck_assert(y->has_pci);
    ck_assert_str_eq(y->pci_source, "cl_amd_device_attribute_query");
    ck_assert_uint_eq(y->pci.bus, 2);
    ck_assert(x2->has_pci);
    ck_assert_str_eq(x2->pci_source, "cl_nv_device_attribute_query");
    ck_assert_uint_eq(x2->pci.bus, 1);
    ck_assert_uint_eq(x2->pci.device, 0);
    ck_assert(!z->has_pci);
    ck_assert(z->has_uuid);
    ck_assert(!fpga->has_pci && !fpga->has_uuid);
    ck_assert(x->fp64);

    /* De-duplication: X2 is X (PCI), Z2 is Z (UUID). */
    ck_assert(x->kept && y->kept && z->kept && fpga->kept && custom->kept);
    ck_assert(!x2->kept);
    ck_assert_int_eq(x2->duplicate_of, (long)x->index);
    ck_assert_ptr_nonnull(strstr(x2->reason, "PCI 0000:01:00.0"));
    ck_assert(!z2->kept);
    ck_assert_int_eq(z2->duplicate_of, (long)z->index);
    ck_assert_ptr_nonnull(strstr(z2->reason, "UUID"));
    ck_assert_uint_eq(hg_device_list_kept_count(l), 5);

    /* The same GPU through two drivers keeps two different ids. */
    ck_assert_str_ne(x->id, x2->id);

    /* The device's driver cannot create contexts: a clear error, no crash. */
    hg_error e;
    ck_assert_int_eq(hg_device_selftest(l, x->index, NULL, &e), HG_OPENCL);
    ck_assert_ptr_nonnull(strstr(e.message, "clCreateContext"));
    ck_assert_ptr_nonnull(strstr(e.message, "CL_DEVICE_NOT_AVAILABLE"));
    hg_device_list_destroy(l);

    l = make(true);
    ck_assert_uint_eq(hg_device_list_kept_count(l), 7);
    hg_device_list_destroy(l);
}
END_TEST

START_TEST(gpus_selection_prefers_second_driver)
{
    hg_options o;
    hg_options_init(&o);
    o.use_environment = false;
    o.devices = "platform:Fake Platform B, gpu";
    hg_device_list *l = NULL;
    hg_error e;
    ck_assert_int_eq(hg_device_list_create(&o, &l, &e), HG_OK);
    ck_assert(must(l, "Fake GPU X (second driver)")->kept);
    ck_assert(!must(l, "Fake GPU X")->kept);
    ck_assert(must(l, "Fake Custom")->kept);
    ck_assert(!must(l, "Fake FPGA")->selected);
    hg_device_list_destroy(l);
}
END_TEST

/* mode fail_devices: platform B's clGetDeviceIDs fails; A still listed. */
START_TEST(fail_devices)
{
    hg_device_list *l = make(false);
    ck_assert_uint_eq(hg_device_list_platform_count(l), 2);
    const hg_platform_info *b = hg_device_list_platform(l, 1);
    ck_assert_str_eq(b->name, "Fake Platform B");
    ck_assert_int_eq(b->status, HG_OPENCL);
    ck_assert_ptr_nonnull(strstr(b->error, "CL_OUT_OF_RESOURCES"));
    ck_assert_uint_eq(b->device_count, 0);
    ck_assert(warned(l, "Fake Platform B", "clGetDeviceIDs"));
    ck_assert_uint_eq(hg_device_list_count(l), 4);
    ck_assert(must(l, "Fake GPU X")->kept);
    hg_device_list_destroy(l);
}
END_TEST

/* mode fail_platform_info: platform B's info queries fail. */
START_TEST(fail_platform_info)
{
    hg_device_list *l = make(false);
    /* Platform A is intact whatever the loader did with B. */
    ck_assert_ptr_nonnull(named(l, "Fake GPU X"));
    ck_assert_ptr_nonnull(named(l, "Fake FPGA"));
    for (size_t p = 0; p < hg_device_list_platform_count(l); p++) {
        const hg_platform_info *pi = hg_device_list_platform(l, p);
        if (strcmp(pi->name, "Fake Platform A") != 0) {
            ck_assert_int_ne(pi->status, HG_OK);
            ck_assert_uint_eq(pi->device_count, 0);
            ck_assert(warned(l, "skipping platform", "CL_OUT_OF_HOST_MEMORY"));
        }
    }
    ck_assert_ptr_null(named(l, "Fake Custom"));
    hg_device_list_destroy(l);
}
END_TEST

/* mode fail_query: some of GPU Y's queries fail; the rest is there. */
START_TEST(fail_query)
{
    hg_device_list *l = make(false);
    const hg_device_info *y = must(l, "Fake GPU Y");
    ck_assert(!hg_device_prop_ok(y, HG_PROP_GLOBAL_MEM));
    ck_assert(!hg_device_prop_ok(y, HG_PROP_COMPUTE_UNITS));
    ck_assert(!hg_device_prop_ok(y, HG_PROP_EXTENSIONS));
    ck_assert(!hg_device_prop_ok(y, HG_PROP_PCI)); /* unknowable without extensions */
    ck_assert(hg_device_prop_ok(y, HG_PROP_NAME));
    ck_assert(hg_device_prop_ok(y, HG_PROP_MAX_ALLOC));
    ck_assert_uint_eq(y->global_mem_bytes, 0);
    ck_assert_str_eq(y->extensions, "");
    ck_assert(warned(l, "Fake GPU Y", "CL_DEVICE_GLOBAL_MEM_SIZE: CL_OUT_OF_RESOURCES"));
    ck_assert(must(l, "Fake GPU X")->prop_failed == 0);
    hg_device_list_destroy(l);
}
END_TEST

/* mode fail_all_queries: the FPGA answers nothing, its name included. */
START_TEST(fail_all_queries)
{
    hg_device_list *l = make(false);
    ck_assert_uint_eq(hg_device_list_count(l), 7);
    const hg_device_info *bad = NULL;
    for (size_t i = 0; i < hg_device_list_count(l); i++)
        if (hg_device_list_get(l, i)->name[0] == '\0')
            bad = hg_device_list_get(l, i);
    ck_assert_ptr_nonnull(bad);
    for (int p = 0; p < HG_PROP_COUNT_; p++)
        if (p != HG_PROP_PCI && p != HG_PROP_UUID)
            ck_assert_msg(!hg_device_prop_ok(bad, (hg_prop)p), "%s ok", hg_prop_name((hg_prop)p));
    ck_assert_int_eq(bad->type, HG_DEVICE_CUSTOM); /* no type bits known */
    ck_assert_uint_eq(strlen(bad->id), 19);       /* still has an id */
    ck_assert(warned(l, "name unknown", NULL));
    ck_assert(must(l, "Fake GPU X")->kept);
    hg_device_list_destroy(l);
}
END_TEST

/* mode huge_sizes: a driver claiming 1 TiB strings is not believed. */
START_TEST(huge_sizes)
{
    hg_device_list *l = make(false);
    const hg_device_info *z = NULL;
    for (size_t i = 0; i < hg_device_list_count(l); i++) {
        const hg_device_info *d = hg_device_list_get(l, i);
        if (d->platform == 0 && d->type == HG_DEVICE_GPU && d->name[0] == '\0')
            z = d;
    }
    ck_assert_ptr_nonnull(z);
    ck_assert(!hg_device_prop_ok(z, HG_PROP_NAME));
    ck_assert(!hg_device_prop_ok(z, HG_PROP_EXTENSIONS));
    ck_assert(hg_device_prop_ok(z, HG_PROP_COMPUTE_UNITS));
    ck_assert(warned(l, "CL_DEVICE_NAME: CL_INVALID_VALUE", NULL));
    hg_device_list_destroy(l);
}
END_TEST

/* mode unterminated: a name without its NUL is terminated by us. */
START_TEST(unterminated)
{
    hg_device_list *l = make(false);
    const hg_device_info *y = must(l, "Fake GPU Y");
    ck_assert(hg_device_prop_ok(y, HG_PROP_NAME));
    ck_assert_uint_eq(strlen(y->name), strlen("Fake GPU Y"));
    hg_device_list_destroy(l);
}
END_TEST

/* mode zero: the driver reports no platform; an empty list, not an error. */
START_TEST(zero)
{
    hg_device_list *l = make(false);
    ck_assert_uint_eq(hg_device_list_count(l), 0);
    ck_assert_uint_eq(hg_device_list_kept_count(l), 0);
    hg_device_list_destroy(l);

    /* Names cannot match anything: still a clear error. */
    hg_options o;
    hg_options_init(&o);
    o.use_environment = false;
    o.devices = "pthread";
    hg_error e;
    ck_assert_int_eq(hg_device_list_create(&o, &l, &e), HG_BAD_SELECTION);
    o.devices = "gpu";
    ck_assert_int_eq(hg_device_list_create(&o, &l, &e), HG_OK);
    hg_device_list_destroy(l);
}
END_TEST

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test_fake_icd MODE\n");
        return 2;
    }
    mode = argv[1];
    setenv("HG_FAKE_ICD_MODE", mode, 1);
    Suite *s = suite_create(mode);
    TCase *tc = tcase_create(mode);
    if (!strcmp(mode, "gpus")) {
        tcase_add_test(tc, gpus);
        tcase_add_test(tc, gpus_selection_prefers_second_driver);
    } else if (!strcmp(mode, "fail_devices")) {
        tcase_add_test(tc, fail_devices);
    } else if (!strcmp(mode, "fail_platform_info")) {
        tcase_add_test(tc, fail_platform_info);
    } else if (!strcmp(mode, "fail_query")) {
        tcase_add_test(tc, fail_query);
    } else if (!strcmp(mode, "fail_all_queries")) {
        tcase_add_test(tc, fail_all_queries);
    } else if (!strcmp(mode, "huge_sizes")) {
        tcase_add_test(tc, huge_sizes);
    } else if (!strcmp(mode, "unterminated")) {
        tcase_add_test(tc, unterminated);
    } else if (!strcmp(mode, "zero")) {
        tcase_add_test(tc, zero);
    } else {
        fprintf(stderr, "test_fake_icd: unknown mode %s\n", mode);
        return 2;
    }
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
