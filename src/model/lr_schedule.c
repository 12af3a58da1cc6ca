/* SPDX-License-Identifier: MIT */
/*
 * lr_schedule.c - hg_lr_schedule_rate (hetgrad/train.h): step and cosine
 * learning-rate schedules, functions of the epoch alone.
 *
 * Pure: no OpenCL calls.
 */
#include <math.h>

#include "internal.h"

double hg_lr_schedule_rate(const hg_lr_schedule *s, double base, size_t epoch, size_t epochs)
{
    if (!s)
        return base;
    switch (s->kind) {
    case HG_LR_STEP:
        if (s->every == 0 || !(s->gamma > 0 && s->gamma <= 1))
            return base;
        return base * pow(s->gamma, (double)(epoch / s->every));
    case HG_LR_COSINE:
        if (epochs == 0)
            return base;
        return base * (1 + cos(3.14159265358979323846 * (double)epoch / (double)epochs)) / 2;
    case HG_LR_CONSTANT:
        break;
    }
    return base;
}
