/* SPDX-License-Identifier: MIT */
/*
 * probe_state.h - the word hetgrad-probe shows for a device's state, and why.
 *
 * The device list keeps one view of each piece of hardware before anything is measured;
 * with --profile, calibration may then compute on another view of the same hardware, the
 * one that measured faster (docs/engine.md, "Duplicate runtimes").  The state word follows
 * what the profile's engine computed on, so it never says "set aside" for the device the
 * engine uses, nor "in use" for the one it does not.
 */
#ifndef HG_PROBE_STATE_H
#define HG_PROBE_STATE_H

#include <stdbool.h>
#include <stddef.h>

#include <hetgrad.h>

/*
 * The state word of list device i of l (a static string):
 *
 *   "not selected"                the selection does not name it;
 *   "in use (faster duplicate)"   the list set it aside as a duplicate, and the profile's
 *                                 engine computed on it instead of the view the list kept;
 *   "set aside (slower duplicate)" the list kept it, and the profile's engine computed on
 *                                 another view of the same hardware instead;
 *   "in use, duplicate"           kept although a duplicate (keep_duplicates);
 *   "set aside"                   a duplicate the list set aside;
 *   "in use"                      otherwise.
 *
 * computed: NULL when no engine ran (no --profile, or it failed); else computed[k] says
 * whether the profile's engine computed on list device k, for every k of l.  why (n
 * bytes, may be NULL) receives the reason for the two swap states, naming the other view
 * (id, name, platform), and "" otherwise (the list's reason stands then).  NULL for l NULL
 * or i out of range.
 */
const char *probe_state_word(const hg_device_list *l, size_t i, const bool *computed,
                             char *why, size_t n);

#endif /* HG_PROBE_STATE_H */
