/* SPDX-License-Identifier: MIT */
/* test_identity.c - classification priority, stable ids, embedded kernels. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_devices.h"

/* OpenCL's CL_DEVICE_TYPE bits, repeated so this test needs no CL headers. */
enum { T_DEFAULT = 1, T_CPU = 2, T_GPU = 4, T_ACC = 8, T_CUSTOM = 16 };

START_TEST(classification_priority)
{
    ck_assert_int_eq(hg__classify(T_CPU), HG_DEVICE_CPU);
    ck_assert_int_eq(hg__classify(T_GPU), HG_DEVICE_GPU);
    ck_assert_int_eq(hg__classify(T_ACC), HG_DEVICE_ACCELERATOR);
    ck_assert_int_eq(hg__classify(T_CUSTOM), HG_DEVICE_CUSTOM);
    /* Oclgrind: ACCELERATOR | GPU | CPU | DEFAULT -> accelerator */
    ck_assert_int_eq(hg__classify(T_ACC | T_GPU | T_CPU | T_DEFAULT), HG_DEVICE_ACCELERATOR);
    ck_assert_int_eq(hg__classify(T_GPU | T_CPU | T_DEFAULT), HG_DEVICE_GPU);
    ck_assert_int_eq(hg__classify(T_CPU | T_DEFAULT), HG_DEVICE_CPU);
    ck_assert_int_eq(hg__classify(T_CPU | T_CUSTOM), HG_DEVICE_CPU);
    ck_assert_int_eq(hg__classify(T_DEFAULT), HG_DEVICE_CUSTOM);
    ck_assert_int_eq(hg__classify(0), HG_DEVICE_CUSTOM);
    ck_assert_str_eq(hg_device_type_name(HG_DEVICE_ACCELERATOR), "accelerator");
    ck_assert_str_eq(hg_device_type_name(HG_DEVICE_CPU), "cpu");
    ck_assert_str_eq(hg_device_type_name((hg_device_type)0), "unknown");
}
END_TEST

static void assign(hg_device_info *d, size_t n, char **ids)
{
    ck_assert_int_eq(hg__assign_ids(d, n, ids), HG_OK);
}

START_TEST(ids_are_stable_and_distinct)
{
    hg_device_info a[3], b[3];
    char *ia[3], *ib[3];
    a[0] = fake_device(0, "", "PoCL", "pthread", HG_DEVICE_CPU, 2);
    a[1] = fake_device(1, "", "PoCL", "basic", HG_DEVICE_CPU, 1);
    a[2] = fake_device(2, "", "Oclgrind", "Oclgrind Simulator", HG_DEVICE_ACCELERATOR, 1);
    /* Same devices, other platform order. */
    b[0] = a[2];
    b[1] = a[0];
    b[2] = a[1];
    assign(a, 3, ia);
    assign(b, 3, ib);
    ck_assert_str_eq(a[0].id, b[1].id);
    ck_assert_str_eq(a[1].id, b[2].id);
    ck_assert_str_eq(a[2].id, b[0].id);
    ck_assert_str_ne(a[0].id, a[1].id);
    ck_assert_uint_eq(strlen(a[0].id), 19);
    ck_assert(strncmp(a[0].id, "hg-", 3) == 0);
    for (int i = 0; i < 3; i++) {
        free(ia[i]);
        free(ib[i]);
    }
}
END_TEST

START_TEST(ids_use_pci_and_ordinals)
{
    hg_device_info d[4];
    char *ids[4];
    d[0] = fake_device(0, "", "Vendor", "GPU", HG_DEVICE_GPU, 80);
    d[1] = fake_device(1, "", "Vendor", "GPU", HG_DEVICE_GPU, 80);
    fake_pci(&d[0], 1);
    fake_pci(&d[1], 2);
    d[2] = fake_device(2, "", "Vendor", "Card", HG_DEVICE_ACCELERATOR, 1);
    d[3] = fake_device(3, "", "Vendor", "Card", HG_DEVICE_ACCELERATOR, 1);
    assign(d, 4, ids);
    ck_assert_str_ne(d[0].id, d[1].id); /* two identical GPUs in different slots */
    ck_assert_str_ne(d[2].id, d[3].id); /* no PCI: told apart by ordinal */

    /* The PCI address, not the position, names a GPU. */
    hg_device_info e[1];
    char *eid[1];
    e[0] = d[1];
    assign(e, 1, eid);
    ck_assert_str_eq(e[0].id, ids[1]);

    /* A driver update gives a new id (profiles keyed by id go stale). */
    e[0].driver_version = "2.0";
    free(eid[0]);
    assign(e, 1, eid);
    ck_assert_str_ne(e[0].id, ids[1]);
    free(eid[0]);
    for (int i = 0; i < 4; i++)
        free(ids[i]);
}
END_TEST

START_TEST(fnv_fields_do_not_run_together)
{
    hg_device_info a[1], b[1];
    char *ia[1], *ib[1];
    a[0] = fake_device(0, "", "ab", "c", HG_DEVICE_CPU, 1);
    b[0] = fake_device(0, "", "a", "bc", HG_DEVICE_CPU, 1);
    assign(a, 1, ia);
    assign(b, 1, ib);
    ck_assert_str_ne(ia[0], ib[0]);
    free(ia[0]);
    free(ib[0]);
}
END_TEST

/* Every embedded kernel is byte-identical to its file in cl/. */
START_TEST(kernels_embedded_verbatim)
{
    ck_assert_uint_ge(hg__kernel_count(), 1);
    ck_assert_ptr_nonnull(hg__kernel_source("selftest", NULL));
    ck_assert_ptr_null(hg__kernel_source("no-such-kernel", NULL));
    ck_assert_ptr_null(hg__kernel_name(hg__kernel_count()));
    for (size_t i = 0; i < hg__kernel_count(); i++) {
        const char *name = hg__kernel_name(i);
        size_t len = 0;
        const char *src = hg__kernel_source(name, &len);
        char path[1024];
        snprintf(path, sizeof path, "%s/%s.cl", HG_KERNEL_DIR, name);
        FILE *f = fopen(path, "rb");
        ck_assert_msg(f != NULL, "cannot open %s", path);
        char *buf = malloc(len + 2);
        ck_assert_ptr_nonnull(buf);
        size_t got = fread(buf, 1, len + 1, f);
        fclose(f);
        /* compared before the asserts, so that a failing one leaks nothing
           (a leak report would hide which kernel differs) */
        bool same = got == len && memcmp(buf, src, len) == 0;
        free(buf);
        ck_assert_msg(same, "%s: the embedded kernel differs from the file (%zu bytes read, "
                      "%zu embedded): rebuild", path, got, len);
        ck_assert_int_eq(src[len], '\0');
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("identity");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, classification_priority);
    tcase_add_test(tc, ids_are_stable_and_distinct);
    tcase_add_test(tc, ids_use_pci_and_ordinals);
    tcase_add_test(tc, fnv_fields_do_not_run_together);
    tcase_add_test(tc, kernels_embedded_verbatim);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
