/* SPDX-License-Identifier: MIT */
/*
 * cli.h - the command line of every hetgrad tool and benchmark, on glibc's
 * getopt_long (docs/tools.md).
 *
 * A tool describes its options in one table (cli_option): the long name, an
 * optional short letter, the kind of value, where the value goes and its help
 * text.  cli_parse() reads argv against the table and gives every tool the
 * same behaviour:
 *
 *   --opt value and --opt=value; -x value and -xvalue; long options may be
 *   abbreviated to a unique prefix;
 *   -h/--help      usage on stdout, exit 0;
 *   -V/--version   "PROG VERSION" (the library's version) on stdout, exit 0;
 *   -v/--verbose   log level info (twice: debug);
 *   -q/--quiet     log level error;
 *   HETGRAD_LOG    debug|info|warn|error: the log level when neither -v nor -q
 *                  is given (the command line wins);
 *   a usage error  "PROG: <what>" and "Try 'PROG --help'." on stderr, exit 2:
 *                  an unknown or ambiguous option, a missing value, a value
 *                  that is not of the option's kind or out of its range, an
 *                  argument that is not an option, a bad HETGRAD_LOG.
 *
 * Values are checked when they are read: integers are decimal, with nothing
 * after the digits; numbers are finite; a range such as "[0,1)" bounds both.
 * The table is the program's own: a malformed row (a bad range string, a
 * missing target) is a programming error that cli_parse() reports as exit
 * status 1 (EX_SOFTWARE would need sysexits.h), never a crash.
 *
 * The parsed state (cli) also carries the log level, and routes the library's
 * messages (cli_hg_log) and the tool's own (cli_log, cli_note) to stderr as
 * "PROG: LEVEL: message".
 */
#ifndef HG_TOOLS_CLI_H
#define HG_TOOLS_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <hetgrad.h>

typedef enum cli_kind {
    CLI_FLAG,        /* no value; target bool *, set to true */
    CLI_SIZE,        /* target size_t *: a decimal integer, range default [0, SIZE_MAX] */
    CLI_U64,         /* target unsigned long long *: range default [0, ULLONG_MAX] */
    CLI_LONG,        /* target long *: may be negative; range default [LONG_MIN, LONG_MAX] */
    CLI_DOUBLE,      /* target double *: a finite number; range default any finite */
    CLI_STRING,      /* target const char **: points into argv; any text, even "" */
    CLI_CHOICE,      /* target int *: the index of the value in choices */
    CLI_SIZE_LIST,   /* target size_t[max_count]: "N[,N...]", each in range; count set */
    CLI_CHOICE_LIST  /* target int[max_count]: "A[,B...]" from choices, each at most once */
} cli_kind;

typedef struct cli_option {
    const char *name;        /* long name without "--"; lower case, digits, '-' */
    char        letter;      /* short option letter, 0 for none; never h, V, v or q */
    cli_kind    kind;
    const char *metavar;     /* the value in the help ("N", "FILE"); NULL for flags and
                                for choices (then "a|b|c" is shown) */
    const char *help;        /* help text; '\n' starts another line */
    void       *target;      /* where the value goes (see cli_kind); never NULL */
    const char *range;       /* numbers and size lists: "[lo,hi]", "(lo,hi]", ... with
                                "inf" allowed for a double's bound; NULL: the kind's
                                whole range */
    const char *const *choices; /* choice kinds: NULL-terminated names */
    size_t     *count;       /* list kinds: number of entries written */
    size_t      max_count;   /* list kinds: entries the target holds */
    const char *alias;       /* another long name for the same option, or NULL */
} cli_option;

/* One documented exit status of a tool. */
typedef struct cli_exit {
    int         code;
    const char *meaning;
} cli_exit;

/* One environment variable the tool reads (besides HETGRAD_LOG). */
typedef struct cli_env {
    const char *name;     /* as shown: "HETGRAD_DEVICES=EXPR" */
    const char *meaning;  /* '\n' starts another line */
} cli_env;

/* A tool's command line: everything --help prints comes from here. */
typedef struct cli_spec {
    const char       *prog;       /* program name in messages: "hetgrad-train" */
    const char       *synopsis;   /* after the program name in "usage:", e.g. "[options]" */
    const char       *summary;    /* what the tool does; '\n' separates lines */
    const cli_option *options;
    size_t            noptions;
    const char       *quiet_help; /* -q's help when the tool does more than log less;
                                     NULL: "log only errors" */
    const cli_env    *env;        /* environment variables besides HETGRAD_LOG */
    size_t            nenv;
    const cli_exit   *exits;      /* every exit status the tool uses, 2 included */
    size_t            nexits;
} cli_spec;

/* The parsed command line's common state.  Plain data: nothing to free. */
typedef struct cli {
    const cli_spec *spec;     /* read by cli_parse() and cli_help() only: it may go
                                 out of scope after parsing */
    const char     *prog;     /* spec->prog (a string that outlives c) */
    FILE           *out;      /* --help and --version; stdout unless set before parsing */
    FILE           *err;      /* messages; stderr unless set before parsing */
    int             verbose;  /* times -v was given */
    int             quiet;    /* times -q was given */
    hg_log_level    level;    /* the log level: -v / -q, else HETGRAD_LOG, else warn */
} cli;

/* Exit statuses every tool shares (docs/tools.md). */
#define CLI_EXIT_OK      0
#define CLI_EXIT_FAILURE 1
#define CLI_EXIT_USAGE   2

/* Return value of cli_parse() when the tool should go on. */
#define CLI_CONTINUE (-1)

/* Make c ready for spec: out = stdout, err = stderr, level warn. */
void cli_init(cli *c, const cli_spec *spec);

/*
 * Parse argv[1..argc) into the options' targets and c.  Reads HETGRAD_LOG from
 * the environment.  Returns CLI_CONTINUE when the tool should run; otherwise
 * the status the tool should exit with: 0 after --help or --version (printed
 * on c->out), 2 after a usage error (printed on c->err), 1 for a malformed
 * option table.  getopt_long may permute argv.  getopt keeps its state in
 * libc's process-wide optind, which this resets first: one parse at a time
 * (the tools parse once, in main; the unit test parses again and again).
 */
int cli_parse(cli *c, int argc, char **argv);

/* Print the help text on f. */
void cli_help(const cli *c, FILE *f);

/*
 * A usage error found after parsing (options that do not go together):
 * prints "PROG: message" and the --help hint on c->err; returns 2.
 */
int cli_usage_error(const cli *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The tool's own message at level: "PROG: LEVEL: message" on c->err when level is
   at or below c->level ("PROG: error: ..." always shows). */
void cli_log(const cli *c, hg_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A progress note, "PROG: message" on c->err, shown at log level warn and above
   (hidden by -q or HETGRAD_LOG=error). */
void cli_note(const cli *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* hg_log_fn for the library's messages; user is the const cli *. */
void cli_hg_log(void *user, hg_log_level level, const char *message);

/* Route o's library messages through c: o->log, o->log_user, o->log_level. */
void cli_apply_log(const cli *c, hg_options *o);

#endif /* HG_TOOLS_CLI_H */
