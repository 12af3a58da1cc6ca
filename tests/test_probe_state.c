/* SPDX-License-Identifier: MIT */
/*
 * test_probe_state.c - hetgrad-probe's state word (tools/probe_state.c) after the
 * profile's engine computed on the faster of two views of the same hardware.  On the
 * fake ICD (mode gpus), whose "Fake GPU X (second driver)" the device list sets aside as
 * a duplicate of "Fake GPU X": which devices the engine computed on is scripted, so every
 * expectation is exact.  Before the fix the set-aside view the engine computed on was
 * still "set aside", and the view the list kept but the engine left was "in use".
 */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <stdbool.h>
#include <string.h>

#include <hetgrad.h>

#include "probe_state.h"

static hg_device_list *list;
static size_t keeper, dup; /* Fake GPU X, and its second driver's view */

static void setup(void)
{
    hg_options o;
    hg_options_init(&o);
    o.use_environment = false;
    o.log_level = HG_LOG_ERROR;
    hg_error err;
    ck_assert_msg(hg_device_list_create(&o, &list, &err) == HG_OK, "%s", err.message);
    dup = SIZE_MAX;
    for (size_t i = 0; i < hg_device_list_count(list); i++) {
        const hg_device_info *d = hg_device_list_get(list, i);
        if (strcmp(d->name, "Fake GPU X (second driver)") == 0)
            dup = i;
    }
    ck_assert_msg(dup != SIZE_MAX, "the fake ICD's second driver of GPU X is not listed");
    const hg_device_info *d = hg_device_list_get(list, dup);
    ck_assert(!d->kept && d->selected && d->duplicate_of >= 0);
    keeper = (size_t)d->duplicate_of;
    ck_assert_str_eq(hg_device_list_get(list, keeper)->name, "Fake GPU X");
    ck_assert(hg_device_list_get(list, keeper)->kept);
}

static void teardown(void)
{
    hg_device_list_destroy(list);
}

/* The word for device i, with computed[] as given; why checked against want_why. */
static void expect(size_t i, const bool *computed, const char *word, const char *why_has)
{
    char why[512];
    const char *w = probe_state_word(list, i, computed, why, sizeof why);
    ck_assert_ptr_nonnull(w);
    ck_assert_msg(strcmp(w, word) == 0, "device %zu: \"%s\", expected \"%s\"", i, w, word);
    if (!why_has)
        ck_assert_msg(why[0] == '\0', "device %zu: a reason \"%s\" where the list's stands",
                      i, why);
    else
        ck_assert_msg(strstr(why, why_has), "device %zu: \"%s\" does not name %s", i, why,
                      why_has);
}

START_TEST(no_profile_the_list_decides)
{
    expect(keeper, NULL, "in use", NULL);
    expect(dup, NULL, "set aside", NULL);
}
END_TEST

START_TEST(the_engine_kept_the_list_choice)
{
    bool computed[16] = {false};
    ck_assert_uint_le(hg_device_list_count(list), 16);
    computed[keeper] = true;
    expect(keeper, computed, "in use", NULL);
    expect(dup, computed, "set aside", NULL);
}
END_TEST

START_TEST(the_engine_computed_on_the_duplicate)
{
    bool computed[16] = {false};
    ck_assert_uint_le(hg_device_list_count(list), 16);
    computed[dup] = true;
    const char *kid = hg_device_list_get(list, keeper)->id,
               *did = hg_device_list_get(list, dup)->id;
    expect(dup, computed, "in use (faster duplicate)", kid);
    expect(keeper, computed, "set aside (slower duplicate)", did);
    /* the other devices are not touched by it */
    for (size_t i = 0; i < hg_device_list_count(list); i++) {
        const hg_device_info *d = hg_device_list_get(list, i);
        if (i != dup && i != keeper && d->kept)
            expect(i, computed, "in use", NULL);
    }
    /* the engine computed on neither (its profile failed): the list's words */
    memset(computed, 0, sizeof computed);
    expect(keeper, computed, "in use", NULL);
    expect(dup, computed, "set aside", NULL);
}
END_TEST

START_TEST(bad_arguments)
{
    char why[8] = "x";
    ck_assert_ptr_null(probe_state_word(NULL, 0, NULL, why, sizeof why));
    ck_assert_str_eq(why, "");
    ck_assert_ptr_null(probe_state_word(list, hg_device_list_count(list), NULL, NULL, 0));
    /* a short buffer: truncated, terminated */
    bool computed[16] = {false};
    computed[dup] = true;
    ck_assert_str_eq(probe_state_word(list, dup, computed, why, sizeof why),
                     "in use (faster duplicate)");
    ck_assert_uint_eq(strlen(why), sizeof why - 1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("probe_state");
    TCase *tc = tcase_create("fake");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, no_profile_the_list_decides);
    tcase_add_test(tc, the_engine_kept_the_list_choice);
    tcase_add_test(tc, the_engine_computed_on_the_duplicate);
    tcase_add_test(tc, bad_arguments);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
