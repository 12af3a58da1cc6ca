/* SPDX-License-Identifier: MIT */
/*
 * harness_json.h - the benchmark harness's figures in a tool's JSON document
 * (docs/json.md, "TIMING"), so every benchmark writes them alike.
 */
#ifndef HG_HARNESS_JSON_H
#define HG_HARNESS_JSON_H

#include "harness.h"
#include "json_out.h"

/*
 * Write, as the value of the key the caller has just written, the TIMING
 * object of one configuration: samples, warmups, median_ms, q1_ms, q3_ms,
 * min_ms, max_ms, spread, flag.  s NULL (a configuration that was not timed)
 * writes null.
 */
void harness_json_timing(json_out *j, const harness_stats *s, size_t warmups);

#endif /* HG_HARNESS_JSON_H */
