/* SPDX-License-Identifier: MIT */
/*
 * cli.c - the command line of every hetgrad tool and benchmark (cli.h).
 *
 * The option table is turned into getopt_long's struct option array and short
 * option string once per parse; values are converted and range-checked here,
 * so every tool reports the same errors in the same words.  getopt's own
 * messages are off (opterr = 0): they name neither the program's conventions
 * nor the value's problem.
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* getopt_long's values for the common options; a tool option without a letter
   gets OPT_BASE + its index. */
enum { OPT_BASE = 256 };

/* By name, not by index: HG_LOG_ERROR is -1 (zero is the default, HG_LOG_WARN). */
static const char *level_name(hg_log_level level)
{
    switch (level) {
    case HG_LOG_ERROR: return "error";
    case HG_LOG_WARN:  return "warning";
    case HG_LOG_INFO:  return "info";
    case HG_LOG_DEBUG: return "debug";
    }
    return "log";
}

/* ---- messages ----------------------------------------------------------------- */

static int usage_errorv(const cli *c, const char *fmt, va_list ap)
{
    fprintf(c->err, "%s: ", c->prog);
    vfprintf(c->err, fmt, ap);
    fprintf(c->err, "\nTry '%s --help' for the options.\n", c->prog);
    return CLI_EXIT_USAGE;
}

int cli_usage_error(const cli *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = usage_errorv(c, fmt, ap);
    va_end(ap);
    return rc;
}

/* A malformed option table: the program's bug, not the user's. */
static int table_error(const cli *c, const char *what, const char *name)
{
    fprintf(c->err, "%s: internal error: option table: %s%s%s\n", c->prog, what,
            name ? ": " : "", name ? name : "");
    return CLI_EXIT_FAILURE;
}

void cli_log(const cli *c, hg_log_level level, const char *fmt, ...)
{
    if (level > c->level)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(c->err, "%s: %s: ", c->prog, level_name(level));
    vfprintf(c->err, fmt, ap);
    fputc('\n', c->err);
    va_end(ap);
}

void cli_note(const cli *c, const char *fmt, ...)
{
    if (c->level < HG_LOG_WARN)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(c->err, "%s: ", c->prog);
    vfprintf(c->err, fmt, ap);
    fputc('\n', c->err);
    va_end(ap);
}

void cli_hg_log(void *user, hg_log_level level, const char *message)
{
    const cli *c = user;
    if (level > c->level)
        return;
    fprintf(c->err, "%s: %s: %s\n", c->prog, level_name(level), message);
}

void cli_apply_log(const cli *c, hg_options *o)
{
    o->log = cli_hg_log;
    o->log_user = (void *)c;
    o->log_level = c->level;
}

void cli_init(cli *c, const cli_spec *spec)
{
    memset(c, 0, sizeof *c);
    c->spec = spec;
    c->prog = spec->prog;
    c->out = stdout;
    c->err = stderr;
    c->level = HG_LOG_WARN;
}

/* ---- ranges ----------------------------------------------------------------- */

/* A parsed range string: "[lo,hi]" with '(' / ')' for open bounds. */
typedef struct range {
    char lo[32], hi[32];
    bool lo_open, hi_open;
} range;

static bool parse_range(const char *s, range *r)
{
    if (!s)
        return false;
    size_t n = strlen(s);
    const char *comma = strchr(s, ',');
    if (n < 5 || (s[0] != '[' && s[0] != '(') || (s[n - 1] != ']' && s[n - 1] != ')') ||
        !comma || strchr(comma + 1, ','))
        return false;
    size_t nlo = (size_t)(comma - s) - 1, nhi = (size_t)(s + n - 1 - comma) - 1;
    if (nlo == 0 || nhi == 0 || nlo >= sizeof r->lo || nhi >= sizeof r->hi)
        return false;
    memcpy(r->lo, s + 1, nlo);
    r->lo[nlo] = '\0';
    memcpy(r->hi, comma + 1, nhi);
    r->hi[nhi] = '\0';
    r->lo_open = s[0] == '(';
    r->hi_open = s[n - 1] == ')';
    return true;
}

/* Text that is a whole decimal integer: an optional '-' (when negative_ok), then
   digits, nothing else. */
static bool integer_text(const char *s, bool negative_ok)
{
    if (negative_ok && *s == '-')
        s++;
    if (!isdigit((unsigned char)*s))
        return false;
    while (isdigit((unsigned char)*s))
        s++;
    return *s == '\0';
}

static bool to_ull(const char *s, unsigned long long *v)
{
    if (!integer_text(s, false))
        return false;
    errno = 0;
    *v = strtoull(s, NULL, 10);
    return errno == 0;
}

static bool to_long(const char *s, long *v)
{
    if (!integer_text(s, true))
        return false;
    errno = 0;
    *v = strtol(s, NULL, 10);
    return errno == 0;
}

/* A number strtod reads whole; out of double's range gives +-inf (refused by the
   callers as not finite), not an error here. */
static bool to_double(const char *s, double *v)
{
    char *end;
    if (!*s || isspace((unsigned char)*s))
        return false;
    *v = strtod(s, &end);
    return *end == '\0';
}

/* Closed unsigned bounds of o's range; false for a malformed range. */
static bool ull_bounds(const cli_option *o, unsigned long long top, unsigned long long *lo,
                       unsigned long long *hi)
{
    *lo = 0;
    *hi = top;
    if (!o->range)
        return true;
    range r;
    if (!parse_range(o->range, &r) || !to_ull(r.lo, lo) || !to_ull(r.hi, hi))
        return false;
    if (r.lo_open && (*lo)++ == ULLONG_MAX)
        return false;
    if (r.hi_open && (*hi)-- == 0)
        return false;
    return *lo <= *hi && *hi <= top;
}

static bool ll_bounds(const cli_option *o, long *lo, long *hi)
{
    *lo = LONG_MIN;
    *hi = LONG_MAX;
    if (!o->range)
        return true;
    range r;
    if (!parse_range(o->range, &r) || !to_long(r.lo, lo) || !to_long(r.hi, hi))
        return false;
    if (r.lo_open && (*lo)++ == LONG_MAX)
        return false;
    if (r.hi_open && (*hi)-- == LONG_MIN)
        return false;
    return *lo <= *hi;
}

static bool double_bounds(const cli_option *o, double *lo, double *hi, bool *lo_open,
                          bool *hi_open)
{
    *lo = -INFINITY;
    *hi = INFINITY;
    *lo_open = *hi_open = true;
    if (!o->range)
        return true;
    range r;
    if (!parse_range(o->range, &r) || !to_double(r.lo, lo) || !to_double(r.hi, hi))
        return false;
    *lo_open = r.lo_open;
    *hi_open = r.hi_open;
    return !isnan(*lo) && !isnan(*hi) && *lo <= *hi;
}

/* ---- values --------------------------------------------------------------------- */

/* "'s'" or "'s' in 'whole'" (an item of a list), for messages. */
static void shown(char *buf, size_t n, const char *s, const char *whole)
{
    if (whole && whole != s)
        snprintf(buf, n, "'%.64s' in '%.64s'", s, whole);
    else
        snprintf(buf, n, "'%.128s'", s);
}

/*
 * One unsigned item of option o: a value, or one entry of a list (whole is
 * then the full value).  On failure prints the usage error naming the option
 * and returns false.
 */
static bool parse_ull_item(const cli *c, const cli_option *o, const char *s, const char *whole,
                           unsigned long long top, unsigned long long *out)
{
    unsigned long long lo, hi, v;
    char what[160];
    shown(what, sizeof what, s, whole);
    ull_bounds(o, top, &lo, &hi); /* validate() checked the range */
    if (!to_ull(s, &v)) {
        if (!integer_text(s, true))
            cli_usage_error(c, "option --%s: %s is not an integer", o->name, what);
        else if (o->range)
            cli_usage_error(c, "option --%s: %s is not in %s", o->name, what, o->range);
        else if (*s == '-')
            cli_usage_error(c, "option --%s: %s is negative", o->name, what);
        else
            cli_usage_error(c, "option --%s: %s is too large (at most %llu)", o->name, what,
                            hi);
        return false;
    }
    if (v < lo || v > hi) {
        if (o->range)
            cli_usage_error(c, "option --%s: %s is not in %s", o->name, what, o->range);
        else
            cli_usage_error(c, "option --%s: %s is too large (at most %llu)", o->name, what,
                            hi);
        return false;
    }
    *out = v;
    return true;
}

static bool parse_long(const cli *c, const cli_option *o, const char *s, long *out)
{
    long lo, hi, v;
    ll_bounds(o, &lo, &hi);
    if (!integer_text(s, true)) {
        cli_usage_error(c, "option --%s: '%s' is not an integer", o->name, s);
        return false;
    }
    if (!to_long(s, &v) || v < lo || v > hi) {
        if (o->range)
            cli_usage_error(c, "option --%s: '%s' is not in %s", o->name, s, o->range);
        else
            cli_usage_error(c, "option --%s: '%s' is out of range", o->name, s);
        return false;
    }
    *out = v;
    return true;
}

static bool parse_double(const cli *c, const cli_option *o, const char *s, double *out)
{
    double lo, hi, v;
    bool lo_open, hi_open;
    double_bounds(o, &lo, &hi, &lo_open, &hi_open);
    if (!to_double(s, &v)) {
        cli_usage_error(c, "option --%s: '%s' is not a number", o->name, s);
        return false;
    }
    if (!isfinite(v)) {
        cli_usage_error(c, "option --%s: '%s' is not a finite number", o->name, s);
        return false;
    }
    if ((lo_open ? v <= lo : v < lo) || (hi_open ? v >= hi : v > hi)) {
        cli_usage_error(c, "option --%s: '%s' is not in %s", o->name, s, o->range);
        return false;
    }
    *out = v;
    return true;
}

/* The index of s in o->choices, or -1 after a usage error. */
static int parse_choice(const cli *c, const cli_option *o, const char *s, size_t n,
                        const char *whole)
{
    for (int i = 0; o->choices[i]; i++)
        if (strlen(o->choices[i]) == n && !strncmp(o->choices[i], s, n))
            return i;
    fprintf(c->err, "%s: option --%s: '%.*s'%s%s%s is not one of: ", c->prog, o->name,
            (int)n, s, whole ? " in '" : "", whole ? whole : "", whole ? "'" : "");
    for (int i = 0; o->choices[i]; i++)
        fprintf(c->err, "%s%s", i ? ", " : "", o->choices[i]);
    fprintf(c->err, "\nTry '%s --help' for the options.\n", c->prog);
    return -1;
}

/* A comma-separated list: every item non-empty, at most o->max_count of them. */
static bool parse_list(const cli *c, const cli_option *o, const char *s)
{
    size_t n = 0;
    const char *p = s;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len == 0) {
            cli_usage_error(c, "option --%s: '%s': item %zu is empty", o->name, s, n + 1);
            return false;
        }
        if (n == o->max_count) {
            cli_usage_error(c, "option --%s: '%s': at most %zu values", o->name, s,
                            o->max_count);
            return false;
        }
        if (o->kind == CLI_SIZE_LIST) {
            char item[64];
            unsigned long long v;
            snprintf(item, sizeof item, "%.*s", (int)(len < 63 ? len : 63), p);
            if (len > 63) { /* no integer is that long: report it as text */
                cli_usage_error(c, "option --%s: item %zu of '%s' is not an integer",
                                o->name, n + 1, s);
                return false;
            }
            if (!parse_ull_item(c, o, item, s, SIZE_MAX, &v))
                return false;
            ((size_t *)o->target)[n] = (size_t)v;
        } else {
            int k = parse_choice(c, o, p, len, strchr(s, ',') ? s : NULL);
            if (k < 0)
                return false;
            int *t = o->target;
            for (size_t i = 0; i < n; i++)
                if (t[i] == k) {
                    cli_usage_error(c, "option --%s: '%s' is given twice in '%s'", o->name,
                                    o->choices[k], s);
                    return false;
                }
            t[n] = k;
        }
        n++;
        if (!comma)
            break;
        p = comma + 1;
    }
    *o->count = n;
    return true;
}

/* Store option o's value s; false after a usage error. */
static bool set_value(const cli *c, const cli_option *o, const char *s)
{
    unsigned long long v;
    switch (o->kind) {
    case CLI_FLAG:
        *(bool *)o->target = true;
        return true;
    case CLI_SIZE:
        if (!parse_ull_item(c, o, s, s, SIZE_MAX, &v))
            return false;
        *(size_t *)o->target = (size_t)v;
        return true;
    case CLI_U64:
        if (!parse_ull_item(c, o, s, s, ULLONG_MAX, &v))
            return false;
        *(unsigned long long *)o->target = v;
        return true;
    case CLI_LONG:
        return parse_long(c, o, s, o->target);
    case CLI_DOUBLE:
        return parse_double(c, o, s, o->target);
    case CLI_STRING:
        *(const char **)o->target = s;
        return true;
    case CLI_CHOICE: {
        int k = parse_choice(c, o, s, strlen(s), NULL);
        if (k < 0)
            return false;
        *(int *)o->target = k;
        return true;
    }
    case CLI_SIZE_LIST:
    case CLI_CHOICE_LIST:
        return parse_list(c, o, s);
    }
    return false;
}

/* ---- the table ---------------------------------------------------------------- */

static bool takes_value(const cli_option *o)
{
    return o->kind != CLI_FLAG;
}

static bool name_ok(const char *n)
{
    if (!n || !islower((unsigned char)*n))
        return false;
    for (; *n; n++)
        if (!islower((unsigned char)*n) && !isdigit((unsigned char)*n) && *n != '-')
            return false;
    return true;
}

static const char *const common_names[] = {"help", "version", "verbose", "quiet"};
static const char common_letters[] = "hVvq";

/* 0 when the table is well-formed; otherwise table_error()'s status. */
static int validate(const cli *c)
{
    const cli_spec *s = c->spec;
    for (size_t i = 0; i < s->noptions; i++) {
        const cli_option *o = &s->options[i];
        if (!name_ok(o->name) || (o->alias && !name_ok(o->alias)))
            return table_error(c, "bad long name", o->name);
        if (!o->target)
            return table_error(c, "no target", o->name);
        if (o->letter && (!isalnum((unsigned char)o->letter) ||
                          strchr(common_letters, o->letter)))
            return table_error(c, "bad or reserved letter", o->name);
        for (size_t k = 0; k < sizeof common_names / sizeof common_names[0]; k++)
            if (!strcmp(o->name, common_names[k]) ||
                (o->alias && !strcmp(o->alias, common_names[k])))
                return table_error(c, "reserved name", o->name);
        for (size_t j = 0; j < i; j++) {
            const cli_option *p = &s->options[j];
            if (!strcmp(o->name, p->name) || (o->alias && !strcmp(o->alias, p->name)) ||
                (p->alias && !strcmp(o->name, p->alias)) ||
                (o->alias && p->alias && !strcmp(o->alias, p->alias)))
                return table_error(c, "name given twice", o->name);
            if (o->letter && o->letter == p->letter)
                return table_error(c, "letter given twice", o->name);
        }
        bool is_choice = o->kind == CLI_CHOICE || o->kind == CLI_CHOICE_LIST;
        if (is_choice && (!o->choices || !o->choices[0]))
            return table_error(c, "no choices", o->name);
        bool is_list = o->kind == CLI_SIZE_LIST || o->kind == CLI_CHOICE_LIST;
        if (is_list && (!o->count || o->max_count == 0))
            return table_error(c, "list without count or capacity", o->name);
        unsigned long long ulo, uhi;
        long llo, lhi;
        double dlo, dhi;
        bool a, b;
        bool range_ok = true;
        switch (o->kind) {
        case CLI_SIZE:
        case CLI_SIZE_LIST: range_ok = ull_bounds(o, SIZE_MAX, &ulo, &uhi); break;
        case CLI_U64: range_ok = ull_bounds(o, ULLONG_MAX, &ulo, &uhi); break;
        case CLI_LONG: range_ok = ll_bounds(o, &llo, &lhi); break;
        case CLI_DOUBLE: range_ok = double_bounds(o, &dlo, &dhi, &a, &b); break;
        default: range_ok = o->range == NULL; break;
        }
        if (!range_ok)
            return table_error(c, "bad range", o->name);
    }
    return 0;
}

/* The option getopt_long returned as val, or NULL for a common option. */
static const cli_option *by_val(const cli_spec *s, int val)
{
    if (val >= OPT_BASE && (size_t)(val - OPT_BASE) < s->noptions)
        return &s->options[val - OPT_BASE];
    for (size_t i = 0; i < s->noptions; i++)
        if (s->options[i].letter && s->options[i].letter == val)
            return &s->options[i];
    return NULL;
}

static int option_val(const cli_spec *s, size_t i)
{
    return s->options[i].letter ? s->options[i].letter : OPT_BASE + (int)i;
}

/* Every long name (aliases included) of the table and the common options that
   starts with the n characters of p; the first match in *first. */
static size_t prefix_matches(const cli_spec *s, const char *p, size_t n, const char **first)
{
    size_t k = 0;
    *first = NULL;
    for (size_t i = 0; i < s->noptions; i++) {
        const char *names[2] = {s->options[i].name, s->options[i].alias};
        for (int j = 0; j < 2; j++)
            if (names[j] && !strncmp(names[j], p, n)) {
                if (!k++)
                    *first = names[j];
                break; /* an alias is the same option */
            }
    }
    for (size_t i = 0; i < sizeof common_names / sizeof common_names[0]; i++)
        if (!strncmp(common_names[i], p, n) && !k++)
            *first = common_names[i];
    return k;
}

/* The long name of the option getopt_long calls val, or NULL. */
static const char *long_name(const cli_spec *s, int val)
{
    const cli_option *o = by_val(s, val);
    if (o)
        return o->name;
    const char *k = val > 0 && val < 256 ? strchr(common_letters, val) : NULL;
    return k ? common_names[k - common_letters] : NULL;
}

/*
 * getopt_long returned '?'.  optopt says which case: the value of a known
 * long option given "=value" that takes none; an unknown short option's
 * letter; or 0 for an unknown or ambiguous long option, which getopt_long has
 * stepped over (argv[idx - 1]).
 */
static int bad_option(const cli *c, char **argv, int idx)
{
    const cli_spec *s = c->spec;
    if (optopt) {
        const char *name = long_name(s, optopt);
        if (name)
            return cli_usage_error(c, "option --%s takes no value", name);
        if (optopt < 256 && isprint(optopt))
            return cli_usage_error(c, "unknown option -%c", optopt);
        return cli_usage_error(c, "unknown option");
    }
    const char *arg = idx > 0 && idx <= optind ? argv[idx - 1] : "";
    if (strncmp(arg, "--", 2) || !arg[2])
        return cli_usage_error(c, "unknown option '%s'", arg);
    const char *name = arg + 2, *eq = strchr(name, '=');
    size_t n = eq ? (size_t)(eq - name) : strlen(name);
    const char *first;
    if (prefix_matches(s, name, n, &first) < 2)
        return cli_usage_error(c, "unknown option --%.*s", (int)n, name);
    fprintf(c->err, "%s: ambiguous option --%.*s (could be", c->prog, (int)n, name);
    for (size_t i = 0; i < s->noptions; i++) {
        const cli_option *o = &s->options[i];
        if (!strncmp(o->name, name, n))
            fprintf(c->err, " --%s", o->name);
        else if (o->alias && !strncmp(o->alias, name, n))
            fprintf(c->err, " --%s", o->alias);
    }
    for (size_t i = 0; i < sizeof common_names / sizeof common_names[0]; i++)
        if (!strncmp(common_names[i], name, n))
            fprintf(c->err, " --%s", common_names[i]);
    fprintf(c->err, ")\nTry '%s --help' for the options.\n", c->prog);
    return CLI_EXIT_USAGE;
}

/* HETGRAD_LOG: false after a usage error. */
static bool env_level(const cli *c, bool *set, hg_log_level *level)
{
    static const struct { const char *name; hg_log_level level; } names[] = {
        {"debug", HG_LOG_DEBUG}, {"info", HG_LOG_INFO}, {"warn", HG_LOG_WARN},
        {"warning", HG_LOG_WARN}, {"error", HG_LOG_ERROR}};
    const char *v = getenv("HETGRAD_LOG");
    *set = false;
    if (!v || !*v)
        return true;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcasecmp(v, names[i].name)) {
            *set = true;
            *level = names[i].level;
            return true;
        }
    cli_usage_error(c, "HETGRAD_LOG='%s' is not a log level (debug, info, warn, error)", v);
    return false;
}

int cli_parse(cli *c, int argc, char **argv)
{
    const cli_spec *s = c->spec;
    int rc = validate(c);
    if (rc)
        return rc;
    size_t nlong = 2 * s->noptions + 5;
    struct option *lo = calloc(nlong, sizeof *lo);
    char *shorts = malloc(3 * s->noptions + 8);
    if (!lo || !shorts) {
        free(lo);
        free(shorts);
        fprintf(c->err, "%s: out of memory\n", c->prog);
        return CLI_EXIT_FAILURE;
    }
    size_t k = 0, ks = 0;
    shorts[ks++] = ':'; /* ':' (not '?') for a missing value */
    memcpy(shorts + ks, common_letters, 4);
    ks += 4;
    for (size_t i = 0; i < s->noptions; i++) {
        const cli_option *o = &s->options[i];
        int has = takes_value(o) ? required_argument : no_argument;
        lo[k++] = (struct option){o->name, has, NULL, option_val(s, i)};
        if (o->alias)
            lo[k++] = (struct option){o->alias, has, NULL, option_val(s, i)};
        if (o->letter) {
            shorts[ks++] = o->letter;
            if (takes_value(o))
                shorts[ks++] = ':';
        }
    }
    shorts[ks] = '\0';
    lo[k++] = (struct option){"help", no_argument, NULL, 'h'};
    lo[k++] = (struct option){"version", no_argument, NULL, 'V'};
    lo[k++] = (struct option){"verbose", no_argument, NULL, 'v'};
    lo[k++] = (struct option){"quiet", no_argument, NULL, 'q'};
    lo[k] = (struct option){NULL, 0, NULL, 0};

    opterr = 0;
    optind = 0; /* 0: glibc re-initialises (a fresh scan, e.g. in the unit test) */
    rc = CLI_CONTINUE;
    int ch;
    while (rc == CLI_CONTINUE && (ch = getopt_long(argc, argv, shorts, lo, NULL)) != -1) {
        const cli_option *o;
        switch (ch) {
        case 'h':
            cli_help(c, c->out);
            rc = CLI_EXIT_OK;
            break;
        case 'V':
            fprintf(c->out, "%s %s\n", s->prog, hg_version_string());
            rc = CLI_EXIT_OK;
            break;
        case 'v':
            c->verbose++;
            break;
        case 'q':
            c->quiet++;
            break;
        case '?':
            rc = bad_option(c, argv, optind);
            break;
        case ':':
            rc = cli_usage_error(c, "option --%s needs a value",
                                 long_name(s, optopt) ? long_name(s, optopt) : "?");
            break;
        default:
            o = by_val(s, ch);
            if (!o)
                rc = table_error(c, "getopt_long returned an unknown option", NULL);
            else if (!set_value(c, o, optarg))
                rc = CLI_EXIT_USAGE;
            break;
        }
    }
    free(lo);
    free(shorts);
    if (rc != CLI_CONTINUE)
        return rc;
    if (optind < argc)
        return cli_usage_error(c, "unexpected argument '%s' (every argument is an option)",
                               argv[optind]);
    bool set;
    hg_log_level env;
    if (!env_level(c, &set, &env))
        return CLI_EXIT_USAGE;
    if (c->verbose || c->quiet) {
        int l = HG_LOG_WARN + c->verbose - c->quiet;
        c->level = l < HG_LOG_ERROR ? HG_LOG_ERROR : l > HG_LOG_DEBUG ? HG_LOG_DEBUG
                                                                      : (hg_log_level)l;
    } else {
        c->level = set ? env : HG_LOG_WARN;
    }
    return CLI_CONTINUE;
}

/* ---- help ------------------------------------------------------------------------- */

/* Width of the option column. */
#define HELP_COLUMN 24

/* The option's left column: "-l, --list", "    --epochs N". */
static void left_column(const cli_option *o, char *buf, size_t n)
{
    char value[128] = "";
    if (o->metavar) {
        snprintf(value, sizeof value, " %s", o->metavar);
    } else if (o->choices) {
        size_t k = 0;
        for (int i = 0; o->choices[i] && k + 1 < sizeof value; i++)
            k += (size_t)snprintf(value + k, sizeof value - k, "%c%s", i ? '|' : ' ',
                                  o->choices[i]);
        if (o->kind == CLI_CHOICE_LIST && k + 6 < sizeof value)
            snprintf(value + k, sizeof value - k, "[,...]");
    }
    char alias[64] = "";
    if (o->alias)
        snprintf(alias, sizeof alias, ", --%s", o->alias);
    if (o->letter)
        snprintf(buf, n, "-%c, --%s%s%s", o->letter, o->name, alias, value);
    else
        snprintf(buf, n, "    --%s%s%s", o->name, alias, value);
}

/* "  LEFT   help line 1\n" and the help's further lines under it. */
static void help_item(FILE *f, const char *left, const char *help)
{
    size_t w = strlen(left);
    fprintf(f, "  %s", left);
    if (w >= HELP_COLUMN) {
        fprintf(f, "\n%*s", HELP_COLUMN + 4, "");
    } else {
        fprintf(f, "%*s", (int)(HELP_COLUMN + 2 - w), "");
    }
    for (const char *p = help; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        fprintf(f, "%.*s\n", (int)len, p);
        if (!nl)
            break;
        p = nl + 1;
        fprintf(f, "%*s", HELP_COLUMN + 4, "");
    }
}

void cli_help(const cli *c, FILE *f)
{
    const cli_spec *s = c->spec;
    fprintf(f, "usage: %s %s\n", s->prog, s->synopsis);
    if (s->summary)
        fprintf(f, "%s\n", s->summary);
    fprintf(f, "\nOptions:\n");
    char left[256];
    for (size_t i = 0; i < s->noptions; i++) {
        left_column(&s->options[i], left, sizeof left);
        help_item(f, left, s->options[i].help);
    }
    help_item(f, "-v, --verbose", "log more: info messages (twice: debug)");
    help_item(f, "-q, --quiet", s->quiet_help ? s->quiet_help : "log only errors");
    help_item(f, "-h, --help", "print this help and exit");
    help_item(f, "-V, --version", "print the version and exit");
    fprintf(f, "\nEnvironment:\n");
    help_item(f, "HETGRAD_LOG=LEVEL",
              "debug, info, warn or error: the log level\n"
              "when neither -v nor -q is given (default warn)");
    for (size_t i = 0; i < s->nenv; i++)
        help_item(f, s->env[i].name, s->env[i].meaning);
    fprintf(f, "\nExit status:\n");
    for (size_t i = 0; i < s->nexits; i++)
        fprintf(f, "  %d  %s\n", s->exits[i].code, s->exits[i].meaning);
}
