/* SPDX-License-Identifier: MIT */
/*
 * test_plan.c - src/exec/plan.c, no device: the scheduler's counts run as they are.  Range and
 * index steps place exactly counts[i] rows on device i, inside its window; deterministic
 * steps give exactly counts[i] blocks, each held whole; counts that do not add up or
 * exceed a cap are refused (HG_INTERNAL), never rounded.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"

static void free_plans(hg__dev_plan *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        hg__plan_free(&p[i]);
}

START_TEST(range_counts_run)
{
    /* device 0 and 2: full copies; device 1 holds rows [100, 200) */
    hg__window win[3] = {{0, 1000, true}, {100, 200, false}, {0, 1000, true}};
    size_t caps[3];
    hg__plan_caps(win, 3, 50, 300, NULL, caps);
    ck_assert(caps[0] == SIZE_MAX && caps[1] == 100 && caps[2] == SIZE_MAX);
    hg__dev_plan p[3] = {{0}};
    size_t counts[3] = {123, 77, 100};
    hg_error e;
    ck_assert_int_eq(hg__plan_range(50, 300, counts, 3, win, p, &e), HG_OK);
    for (size_t i = 0; i < 3; i++)
        ck_assert_uint_eq(p[i].rows, counts[i]);
    /* device 1: one range at the start of its window in the step */
    ck_assert_uint_eq(p[1].npieces, 1);
    ck_assert(p[1].pieces[0].first == 100 && p[1].pieces[0].count == 77);
    /* device 0 fills from the step's start around it: [50, 100) and [177, 250) */
    ck_assert_uint_eq(p[0].npieces, 2);
    ck_assert(p[0].pieces[0].first == 50 && p[0].pieces[0].count == 50);
    ck_assert(p[0].pieces[1].first == 177 && p[0].pieces[1].count == 73);
    ck_assert(p[2].pieces[0].first == 250 && p[2].pieces[0].count == 100);

    /* counts that do not add up, or exceed a cap: refused, not rounded */
    size_t short_by_one[3] = {123, 77, 99};
    ck_assert_int_eq(hg__plan_range(50, 300, short_by_one, 3, win, p, &e), HG_INTERNAL);
    ck_assert(strstr(e.message, "add up to 299") != NULL);
    size_t over_cap[3] = {100, 101, 99};
    ck_assert_int_eq(hg__plan_range(50, 300, over_cap, 3, win, p, &e), HG_INTERNAL);
    ck_assert(strstr(e.message, "device 1") != NULL);
    free_plans(p, 3);
}
END_TEST

START_TEST(index_counts_run)
{
    hg__window win[2] = {{0, 10, false}, {0, 100, true}};
    size_t idx[6] = {50, 3, 70, 7, 9, 60};
    size_t caps[2];
    hg__plan_caps(win, 2, 0, 6, idx, caps);
    ck_assert(caps[0] == 3 && caps[1] == SIZE_MAX);
    hg__dev_plan p[2] = {{0}};
    size_t counts[2] = {2, 4};
    hg_error e;
    ck_assert_int_eq(hg__plan_rows(idx, 6, counts, 2, win, p, &e), HG_OK);
    ck_assert(p[0].nidx == 2 && p[0].idx[0] == 3 && p[0].idx[1] == 7);
    ck_assert(p[1].nidx == 4 && p[1].idx[0] == 50 && p[1].idx[1] == 70 &&
              p[1].idx[2] == 9 && p[1].idx[3] == 60);
    size_t over_cap[2] = {4, 2};
    ck_assert_int_eq(hg__plan_rows(idx, 6, over_cap, 2, win, p, &e), HG_INTERNAL);
    free_plans(p, 2);
}
END_TEST

START_TEST(block_counts_run)
{
    /* blocks of 4 rows over rows [2, 18): [2,4) [4,8) [8,12) [12,16) [16,18) */
    hg__block *blk = NULL;
    size_t nblk = 0;
    hg_error e;
    ck_assert_int_eq(hg__step_blocks(2, 16, false, 4, &blk, &nblk, &e), HG_OK);
    ck_assert_uint_eq(nblk, 5);
    /* device 0 holds rows [0, 8): blocks 0 and 1 whole; device 1 everything */
    hg__window win[2] = {{0, 8, false}, {0, 100, true}};
    bool usable[2] = {true, true};
    size_t caps[2];
    ck_assert_int_eq(hg__plan_block_caps(blk, nblk, NULL, usable, 2, win, caps, &e), HG_OK);
    ck_assert(caps[0] == 2 && caps[1] == 5);
    hg__dev_plan p[2] = {{0}};
    size_t counts[2] = {2, 3};
    ck_assert_int_eq(hg__plan_blocks(blk, nblk, NULL, counts, 2, win, p, &e), HG_OK);
    ck_assert(p[0].nblk == 2 && p[0].bkey[0] == 0 && p[0].bkey[1] == 1 && p[0].rows == 6);
    ck_assert(p[1].nblk == 3 && p[1].bkey[0] == 2 && p[1].rows == 10);
    size_t over_cap[2] = {3, 2};
    ck_assert_int_eq(hg__plan_blocks(blk, nblk, NULL, over_cap, 2, win, p, &e), HG_INTERNAL);
    /* a block no usable device holds whole */
    usable[1] = false;
    ck_assert_int_eq(hg__plan_block_caps(blk, nblk, NULL, usable, 2, win, caps, &e),
                     HG_INVALID_ARGUMENT);
    ck_assert(strstr(e.message, "block 2") != NULL);
    free(blk);
    free_plans(p, 2);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("plan");
    TCase *tc = tcase_create("plan");
    tcase_add_test(tc, range_counts_run);
    tcase_add_test(tc, index_counts_run);
    tcase_add_test(tc, block_counts_run);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
