/* SPDX-License-Identifier: MIT */
/*
 * select.c - device selection expressions (HETGRAD_DEVICES, hg_options.devices).
 *
 * Syntax (docs/devices.md): comma-separated terms, white space around a term
 * ignored.  A term is an optional '-' or '!' (exclude) and then
 *   cpu | gpu | accelerator | acc | fpga | custom   a class (primary class)
 *   all | *                                          every device
 *   id:<id>                                          exact stable id
 *   name:<text>                                      substring of the device name
 *   platform:<text>                                  substring of the platform name
 *   <text>                                           substring of the device name,
 *                                                    vendor or platform name, or an id
 * Matching is ASCII case-insensitive.  With no include term every device
 * passes; otherwise a device passes when an include term matches it.  An
 * exclude term always wins.  The position of the first include term that
 * matches a device is its preference rank (used by de-duplication).  A text
 * term that matches no device is an error: a typo must not silently select
 * nothing.
 *
 * Pure: no OpenCL calls.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

typedef enum term_kind {
    TERM_TYPE,     /* mask in term.types */
    TERM_ALL,
    TERM_ID,
    TERM_NAME,
    TERM_PLATFORM,
    TERM_TEXT
} term_kind;

typedef struct term {
    term_kind kind;
    unsigned  types;
    bool      exclude;
    char     *text;   /* the term as written, minus '-' / '!' */
    const char *arg;  /* text after a prefix, or text */
} term;

static const struct {
    const char *word;
    unsigned    types;
} type_words[] = {
    {"cpu", HG_DEVICE_CPU},
    {"gpu", HG_DEVICE_GPU},
    {"accelerator", HG_DEVICE_ACCELERATOR},
    {"acc", HG_DEVICE_ACCELERATOR},
    {"fpga", HG_DEVICE_ACCELERATOR},
    {"custom", HG_DEVICE_CUSTOM},
};

static bool has_prefix(const char *s, const char *prefix, const char **rest)
{
    size_t n = strlen(prefix);
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != prefix[i])
            return false;
    }
    *rest = s + n;
    return true;
}

static void classify_term(term *t)
{
    const char *rest;
    t->arg = t->text;
    if (strcmp(t->text, "*") == 0 || hg__iequal(t->text, "all")) {
        t->kind = TERM_ALL;
        return;
    }
    for (size_t i = 0; i < sizeof type_words / sizeof type_words[0]; i++) {
        if (hg__iequal(t->text, type_words[i].word)) {
            t->kind = TERM_TYPE;
            t->types = type_words[i].types;
            return;
        }
    }
    if (has_prefix(t->text, "id:", &rest)) {
        t->kind = TERM_ID;
        t->arg = rest;
    } else if (has_prefix(t->text, "name:", &rest)) {
        t->kind = TERM_NAME;
        t->arg = rest;
    } else if (has_prefix(t->text, "platform:", &rest)) {
        t->kind = TERM_PLATFORM;
        t->arg = rest;
    } else {
        t->kind = TERM_TEXT;
    }
}

static bool term_matches(const term *t, const hg_device_info *d)
{
    switch (t->kind) {
    case TERM_ALL:      return true;
    case TERM_TYPE:     return (t->types & (unsigned)d->type) != 0;
    case TERM_ID:       return hg__iequal(d->id, t->arg);
    case TERM_NAME:     return hg__icontains(d->name, t->arg);
    case TERM_PLATFORM: return hg__icontains(d->platform_name, t->arg);
    case TERM_TEXT:
        return hg__icontains(d->name, t->arg) || hg__icontains(d->vendor, t->arg) ||
               hg__icontains(d->platform_name, t->arg) || hg__iequal(d->id, t->arg);
    }
    return false;
}

static void free_terms(term *terms, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(terms[i].text);
    free(terms);
}

/* Split expr into terms; HG_BAD_SELECTION for an empty term. */
static hg_status parse_terms(const char *expr, const char *source, term **out,
                             size_t *nout, hg_error *err)
{
    size_t cap = 1;
    for (const char *p = expr; *p; p++)
        cap += *p == ',';
    term *terms = calloc(cap, sizeof *terms);
    if (!terms)
        return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "%s: out of memory", source);

    size_t n = 0;
    const char *p = expr;
    for (;;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char *raw = hg__strtrim_dup(p, len);
        if (!raw) {
            free_terms(terms, n);
            return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "%s: out of memory", source);
        }
        term *t = &terms[n];
        const char *body = raw;
        if (*body == '-' || *body == '!') {
            t->exclude = true;
            body++;
            while (*body == ' ' || *body == '\t')
                body++;
        }
        if (*body == '\0') {
            free(raw);
            free_terms(terms, n);
            return hg__error_set(err, HG_BAD_SELECTION, 0,
                                 "%s=\"%s\": empty term at position %zu "
                                 "(terms are separated by commas)",
                                 source, expr, n + 1);
        }
        t->text = hg__strdup(body);
        free(raw);
        if (!t->text) {
            free_terms(terms, n);
            return hg__error_set(err, HG_OUT_OF_MEMORY, 0, "%s: out of memory", source);
        }
        classify_term(t);
        n++;
        if (!end)
            break;
        p = end + 1;
    }
    *out = terms;
    *nout = n;
    return HG_OK;
}

static hg_status unmatched(const char *source, const char *expr, const term *t,
                           const hg_device_info *devs, size_t n, hg_error *err)
{
    char names[256] = "";
    size_t used = 0;
    for (size_t i = 0; i < n && used + 4 < sizeof names; i++) {
        int w = snprintf(names + used, sizeof names - used, "%s\"%s\"",
                         i ? ", " : "", devs[i].name);
        if (w < 0)
            break;
        used += (size_t)w;
        if (used >= sizeof names)
            used = sizeof names - 1;
    }
    if (n == 0)
        snprintf(names, sizeof names, "none: no OpenCL device was found");
    if (t->kind == TERM_TEXT)
        return hg__error_set(err, HG_BAD_SELECTION, 0,
                             "%s=\"%s\": \"%s\" is neither a device type (cpu, gpu, "
                             "accelerator, custom, all) nor part of any device's name, "
                             "vendor, platform or id; devices: %s",
                             source, expr, t->text, names);
    const char *what = t->kind == TERM_ID     ? "no device has the id"
                       : t->kind == TERM_NAME ? "no device name contains"
                                              : "no platform name contains";
    return hg__error_set(err, HG_BAD_SELECTION, 0,
                         "%s=\"%s\": \"%s\": %s \"%s\"; devices: %s",
                         source, expr, t->text, what, t->arg, names);
}

hg_status hg__select_apply(const char *expr, const char *source,
                           const hg_device_info *devs, size_t n,
                           bool *pass, size_t *rank, size_t rank_base,
                           hg_error *err)
{
    if (!expr || !source || (n && (!devs || !pass || !rank)))
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                             "device selection: NULL argument");

    bool blank = true;
    for (const char *p = expr; *p; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
            blank = false;
    if (blank) {
        for (size_t i = 0; i < n; i++)
            pass[i] = true;
        return HG_OK;
    }

    term *terms = NULL;
    size_t nterms = 0;
    hg_status st = parse_terms(expr, source, &terms, &nterms, err);
    if (st != HG_OK)
        return st;

    /* Every text term must match something, include or exclude alike. */
    for (size_t t = 0; t < nterms; t++) {
        if (terms[t].kind == TERM_TYPE || terms[t].kind == TERM_ALL)
            continue;
        bool any = false;
        for (size_t i = 0; i < n && !any; i++)
            any = term_matches(&terms[t], &devs[i]);
        if (!any) {
            st = unmatched(source, expr, &terms[t], devs, n, err);
            free_terms(terms, nterms);
            return st;
        }
    }

    bool has_include = false;
    for (size_t t = 0; t < nterms; t++)
        has_include |= !terms[t].exclude;

    for (size_t i = 0; i < n; i++) {
        bool in = !has_include;
        bool out = false;
        for (size_t t = 0; t < nterms; t++) {
            if (!term_matches(&terms[t], &devs[i]))
                continue;
            if (terms[t].exclude) {
                out = true;
            } else {
                in = true;
                if (rank_base + t < rank[i])
                    rank[i] = rank_base + t;
            }
        }
        pass[i] = in && !out;
    }
    free_terms(terms, nterms);
    return HG_OK;
}
