/* SPDX-License-Identifier: MIT */
/*
 * harness_json.c - one configuration's harness figures as a JSON object
 * (harness_json.h).
 */
#include "harness_json.h"

void harness_json_timing(json_out *j, const harness_stats *s, size_t warmups)
{
    if (!s) {
        json_null(j);
        return;
    }
    json_begin_object(j);
    json_key(j, "samples"); json_u64(j, s->n);
    json_key(j, "warmups"); json_u64(j, warmups);
    json_key(j, "median_ms"); json_double(j, s->median);
    json_key(j, "q1_ms"); json_double(j, s->q1);
    json_key(j, "q3_ms"); json_double(j, s->q3);
    json_key(j, "min_ms"); json_double(j, s->min);
    json_key(j, "max_ms"); json_double(j, s->max);
    json_key(j, "spread"); json_double(j, s->spread);
    json_key(j, "flag"); json_string(j, harness_flag_name(s->flag));
    json_end_object(j);
}
