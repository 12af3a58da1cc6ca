/* SPDX-License-Identifier: MIT */
/*
 * test_metrics.c - hetgrad-train --metrics (tools/metrics.c) without a device:
 * the records' exact lines for made-up steps (sums, shares, rates, what a record
 * covers), epoch records only with --metrics-every 0, the MPI rank key, and
 * failures: a path that cannot be created, a write that fails, a closed writer.
 */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "metrics.h"

/* A fresh temporary path (the file itself removed). */
static void temp_path(char *buf, size_t n)
{
    snprintf(buf, n, "%s/hg-test-metrics-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    int fd = mkstemp(buf);
    ck_assert_int_ge(fd, 0);
    close(fd);
}

/* The whole file, NUL-terminated (caller frees). */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    static const size_t cap = 1 << 16;
    char *buf = malloc(cap);
    ck_assert_ptr_nonnull(buf);
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* text must be exactly these lines, each ended by a newline (compared one by one, so that
   a failure prints the line that differs). */
static void expect_lines(const char *text, const char *const *lines, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *end = strchr(text, '\n');
        ck_assert_msg(end != NULL, "line %zu missing", i + 1);
        char *got = strndup(text, (size_t)(end - text));
        ck_assert_str_eq(got, lines[i]);
        free(got);
        text = end + 1;
    }
    ck_assert_str_eq(text, "");
}

static void dev_step(metrics *m, size_t i, size_t rows, double host_ms)
{
    hg_device_step st;
    memset(&st, 0, sizeof st);
    st.rows = rows;
    st.host_ms = host_ms;
    st.device_ms = host_ms / 2; /* not recorded: busy time is the worker's wall time */
    metrics_device_step(m, i, &st);
}

static const metrics_device two[] = {
    {.name = "dev \"A\"", .id = "hg-0123456789abcdef", .kernel = "fused r4/b8/k5", .rank = -1},
    {.name = "B", .id = NULL, .kernel = NULL, .rank = -1},
};

/* Four steps, every 2, one epoch of three steps then one step of the next. */
START_TEST(records_cover_their_steps)
{
    char path[256], msg[512];
    temp_path(path, sizeof path);
    metrics m;
    ck_assert(metrics_open(&m, path, 2, msg, sizeof msg));
    ck_assert(metrics_begin(&m, two, 2, msg, sizeof msg));
    dev_step(&m, 0, 30, 2.0);
    dev_step(&m, 1, 10, 1.0);
    metrics_step(&m, 1, 1, 40, 1.5, 4.0);
    dev_step(&m, 0, 20, 2.0);
    dev_step(&m, 1, 20, 3.0);
    metrics_step(&m, 1, 2, 40, 0.5, 4.0);
    dev_step(&m, 0, 40, 8.0);
    dev_step(&m, 1, 0, 0.0);
    metrics_step(&m, 1, 3, 40, 0.25, 2.0);
    metrics_epoch(&m, 1, 3, 0.75, 0.5, NAN);
    dev_step(&m, 0, 0, 0.0);
    dev_step(&m, 1, 40, 4.0);
    metrics_step(&m, 2, 4, 40, 0.125, 8.0);
    ck_assert(metrics_close(&m, msg, sizeof msg));
    char *text = slurp(path);
    const char *const want[] = {
        "{\"schema\":\"hetgrad-train-metrics/1\",\"kind\":\"step\",\"epoch\":1,\"step\":2,"
        "\"steps\":2,\"rows\":80,\"train_ms\":8,\"loss\":1,\"train_accuracy\":null,"
        "\"val_loss\":null,\"val_accuracy\":null,\"rows_per_s\":10000,\"devices\":["
        "{\"name\":\"dev \\\"A\\\"\",\"id\":\"hg-0123456789abcdef\",\"kernel\":\"fused r4/b8/k5\","
        "\"rows\":50,\"share\":0.625,\"busy_ms\":4,\"rows_per_s\":12500},"
        "{\"name\":\"B\",\"id\":null,\"kernel\":null,"
        "\"rows\":30,\"share\":0.375,\"busy_ms\":4,\"rows_per_s\":7500}]}",
        "{\"schema\":\"hetgrad-train-metrics/1\",\"kind\":\"epoch\",\"epoch\":1,\"step\":3,"
        "\"steps\":3,\"rows\":120,\"train_ms\":10,\"loss\":0.75,\"train_accuracy\":null,"
        "\"val_loss\":0.75,\"val_accuracy\":0.5,\"rows_per_s\":12000,\"devices\":["
        "{\"name\":\"dev \\\"A\\\"\",\"id\":\"hg-0123456789abcdef\",\"kernel\":\"fused r4/b8/k5\","
        "\"rows\":90,\"share\":0.75,\"busy_ms\":12,\"rows_per_s\":7500},"
        "{\"name\":\"B\",\"id\":null,\"kernel\":null,"
        "\"rows\":30,\"share\":0.25,\"busy_ms\":4,\"rows_per_s\":7500}]}",
        "{\"schema\":\"hetgrad-train-metrics/1\",\"kind\":\"step\",\"epoch\":2,\"step\":4,"
        "\"steps\":2,\"rows\":80,\"train_ms\":18,\"loss\":0.1875,\"train_accuracy\":null,"
        "\"val_loss\":null,\"val_accuracy\":null,\"rows_per_s\":8000,\"devices\":["
        "{\"name\":\"dev \\\"A\\\"\",\"id\":\"hg-0123456789abcdef\",\"kernel\":\"fused r4/b8/k5\","
        "\"rows\":40,\"share\":0.5,\"busy_ms\":8,\"rows_per_s\":5000},"
        "{\"name\":\"B\",\"id\":null,\"kernel\":null,"
        "\"rows\":40,\"share\":0.5,\"busy_ms\":4,\"rows_per_s\":10000}]}",
    };
    expect_lines(text, want, sizeof want / sizeof want[0]);
    free(text);
    unlink(path);
}
END_TEST

/* --metrics-every 0: epoch records only; a device without rows has a null rate;
   under MPI each device names its rank. */
START_TEST(epoch_records_only_and_ranks)
{
    char path[256], msg[512];
    temp_path(path, sizeof path);
    const metrics_device ranks[] = {
        {.name = "here", .id = "hg-0000000000000001", .kernel = "naive", .rank = 0},
        {.name = "there", .id = NULL, .kernel = NULL, .rank = 1},
    };
    metrics m;
    ck_assert(metrics_open(&m, path, 0, msg, sizeof msg));
    ck_assert(metrics_begin(&m, ranks, 2, msg, sizeof msg));
    for (uint64_t s = 1; s <= 5; s++) {
        dev_step(&m, 0, 8, 1.0);
        dev_step(&m, 1, 0, 0.0);
        metrics_step(&m, 1, s, 8, 2.0, 1.0);
    }
    metrics_epoch(&m, 1, 5, NAN, NAN, 0.25);
    ck_assert(metrics_close(&m, msg, sizeof msg));
    char *text = slurp(path);
    const char *const want[] = {
        "{\"schema\":\"hetgrad-train-metrics/1\",\"kind\":\"epoch\",\"epoch\":1,\"step\":5,"
        "\"steps\":5,\"rows\":40,\"train_ms\":5,\"loss\":2,\"train_accuracy\":0.25,"
        "\"val_loss\":null,\"val_accuracy\":null,\"rows_per_s\":8000,\"devices\":["
        "{\"name\":\"here\",\"id\":\"hg-0000000000000001\",\"rank\":0,\"kernel\":\"naive\","
        "\"rows\":40,\"share\":1,\"busy_ms\":5,\"rows_per_s\":8000},"
        "{\"name\":\"there\",\"id\":null,\"rank\":1,\"kernel\":null,"
        "\"rows\":0,\"share\":0,\"busy_ms\":0,\"rows_per_s\":null}]}",
    };
    expect_lines(text, want, sizeof want / sizeof want[0]);
    free(text);
    unlink(path);
}
END_TEST

/* Each line is on disk as soon as it is written (the file can be drawn during the run). */
START_TEST(lines_are_flushed)
{
    char path[256], msg[512];
    temp_path(path, sizeof path);
    metrics m;
    ck_assert(metrics_open(&m, path, 1, msg, sizeof msg));
    ck_assert(metrics_begin(&m, two, 2, msg, sizeof msg));
    dev_step(&m, 0, 1, 1.0);
    metrics_step(&m, 1, 1, 1, 1.0, 1.0);
    char *text = slurp(path);
    ck_assert_ptr_nonnull(strstr(text, "\"kind\":\"step\""));
    ck_assert_int_eq(text[strlen(text) - 1], '\n');
    free(text);
    ck_assert(metrics_close(&m, msg, sizeof msg));
    unlink(path);
}
END_TEST

/* A path that cannot be created: false, the path and the reason, nothing left open. */
START_TEST(open_failure_names_the_path)
{
    char msg[512];
    metrics m;
    ck_assert(!metrics_open(&m, "/nonexistent-dir/m.jsonl", 1, msg, sizeof msg));
    ck_assert_str_eq(msg, "/nonexistent-dir/m.jsonl: No such file or directory");
    ck_assert_ptr_null(m.f);
    ck_assert(metrics_close(&m, msg, sizeof msg)); /* a closed writer: nothing to report */
}
END_TEST

/* A write that fails (a full disk): the run goes on, metrics_close says so. */
START_TEST(write_failure_is_reported)
{
    char msg[512];
    metrics m;
    ck_assert(metrics_open(&m, "/dev/full", 1, msg, sizeof msg));
    ck_assert(metrics_begin(&m, two, 2, msg, sizeof msg));
    dev_step(&m, 0, 4, 1.0);
    metrics_step(&m, 1, 1, 4, 1.0, 1.0);
    metrics_epoch(&m, 1, 1, 1.0, 1.0, 1.0);
    ck_assert(!metrics_close(&m, msg, sizeof msg));
    ck_assert_str_eq(msg, "/dev/full: write failed: No space left on device");
    ck_assert_ptr_null(m.f);
}
END_TEST

/* Without --metrics every call is a no-op. */
START_TEST(closed_writer_does_nothing)
{
    char msg[512] = "";
    metrics m;
    memset(&m, 0, sizeof m);
    ck_assert(metrics_begin(&m, two, 2, msg, sizeof msg));
    dev_step(&m, 0, 4, 1.0);
    metrics_step(&m, 1, 1, 4, 1.0, 1.0);
    metrics_epoch(&m, 1, 1, 1.0, 1.0, 1.0);
    ck_assert(metrics_close(&m, msg, sizeof msg));
    ck_assert_str_eq(msg, "");
}
END_TEST

/* --profile-host: the engine call split by the devices' statistics (a device without
   rows left out), and the records' "host" object (the mean of each part). */
START_TEST(host_profile_split_and_records)
{
    hg_device_step st[3];
    memset(st, 0, sizeof st);
    st[0] = (hg_device_step){.rows = 10, .start_ms = 0.5, .end_ms = 3.0, .transfer_ms = 0.25};
    st[1] = (hg_device_step){.rows = 0, .start_ms = 0.0, .end_ms = 9.0}; /* no rows */
    st[2] = (hg_device_step){.rows = 5, .start_ms = 1.0, .end_ms = 4.0, .transfer_ms = 0.5};
    double part[HOSTPROF_PARTS];
    hostprof_split(st, 3, 5.0, part);
    ck_assert(part[HOSTPROF_PLAN] == 0.5 && part[HOSTPROF_DEVICES] == 3.5 &&
              part[HOSTPROF_TRANSFER] == 0.75 && part[HOSTPROF_REDUCE] == 1.0);
    hostprof_split(st + 1, 1, 2.0, part); /* no device with rows: all of it planning */
    ck_assert(part[HOSTPROF_PLAN] == 2.0 && part[HOSTPROF_DEVICES] == 0 &&
              part[HOSTPROF_REDUCE] == 0);
    st[0].end_ms = 7.0; /* past the call's end (another clock's rounding): clamped */
    hostprof_split(st, 1, 5.0, part);
    ck_assert(part[HOSTPROF_DEVICES] == 4.5 && part[HOSTPROF_REDUCE] == 0);

    char path[256], msg[512];
    temp_path(path, sizeof path);
    metrics m;
    ck_assert(metrics_open(&m, path, 2, msg, sizeof msg));
    ck_assert(metrics_begin(&m, two, 1, msg, sizeof msg));
    for (int k = 1; k <= 2; k++) {
        double p[HOSTPROF_PARTS] = {k, 2 * k, k, 3 * k, 4 * k, 5 * k, 14 * k};
        dev_step(&m, 0, 8, 1.0);
        metrics_host_step(&m, p);
        metrics_step(&m, 1, (uint64_t)k, 8, 1.0, 2.0);
    }
    ck_assert(metrics_close(&m, msg, sizeof msg));
    char *text = slurp(path);
    ck_assert_msg(strstr(text, "\"host\":{\"plan_ms\":1.5,\"devices_ms\":3,\"transfer_ms\":1.5,"
                               "\"reduce_ms\":4.5,\"update_ms\":6,\"other_ms\":7.5,"
                               "\"step_ms\":21},\"devices\":") != NULL, "%s", text);
    free(text);
    unlink(path);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("metrics");
    TCase *t = tcase_create("records");
    tcase_add_test(t, records_cover_their_steps);
    tcase_add_test(t, epoch_records_only_and_ranks);
    tcase_add_test(t, lines_are_flushed);
    tcase_add_test(t, open_failure_names_the_path);
    tcase_add_test(t, write_failure_is_reported);
    tcase_add_test(t, closed_writer_does_nothing);
    tcase_add_test(t, host_profile_split_and_records);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *r = srunner_create(suite());
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
