/* SPDX-License-Identifier: MIT */
/*
 * test_hostcache.c - the host's L2 size (src/util/hostcache.c): sysfs's size
 * strings parsed, malformed ones refused, and the size read agreeing with
 * sysfs's own index of level 2.  No device.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hostcache.h"

START_TEST(sizes_parse)
{
    ck_assert_uint_eq(hg__cache_size_parse("512K\n"), 512u << 10);
    ck_assert_uint_eq(hg__cache_size_parse("1024K"), 1u << 20);
    ck_assert_uint_eq(hg__cache_size_parse("2M\n"), 2u << 20);
    ck_assert_uint_eq(hg__cache_size_parse("32m"), 32u << 20);
    ck_assert_uint_eq(hg__cache_size_parse("1G"), (size_t)1 << 30);
    ck_assert_uint_eq(hg__cache_size_parse("48"), 48);
    const char *bad[] = {"", "\n", "K", "-512K", " 512K", "512KB", "512 K", "0K", "0",
                         "512K\n\n", "12Q", "99999999999999999999K", "18014398509481984M"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(hg__cache_size_parse(bad[i]) == 0, "\"%s\" parsed as %zu", bad[i],
                      hg__cache_size_parse(bad[i]));
    ck_assert_uint_eq(hg__cache_size_parse(NULL), 0);
}
END_TEST

/* The size read is the first level-2 data or unified cache sysfs lists for
   CPU 0, where sysfs lists one. */
START_TEST(l2_from_sysfs)
{
    size_t want = 0;
    for (int i = 0; i < 16 && !want; i++) {
        char path[128], level[16] = "", type[32] = "", size[32] = "";
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/level", i);
        FILE *f = fopen(path, "r");
        if (!f)
            break;
        ck_assert(fgets(level, sizeof level, f));
        fclose(f);
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/type", i);
        if ((f = fopen(path, "r"))) {
            ck_assert(fgets(type, sizeof type, f));
            fclose(f);
        }
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/size", i);
        if (atoi(level) == 2 && strncmp(type, "Instruction", 11) && (f = fopen(path, "r"))) {
            ck_assert(fgets(size, sizeof size, f));
            fclose(f);
            want = strtoull(size, NULL, 10) << 10; /* sysfs writes KiB: "512K" */
        }
    }
    size_t got = hg__host_l2_bytes();
    if (want)
        ck_assert_uint_eq(got, want);
    else
        ck_assert_msg(got == 0 || got >= 16 << 10, "an L2 of %zu bytes", got);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("hostcache");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, sizes_parse);
    tcase_add_test(tc, l2_from_sysfs);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
