/* SPDX-License-Identifier: MIT */
/*
 * test_cli.c - the tools' command-line module (tools/cli.c): values and their
 * ranges, every kind of usage error and its message, --help / --version, the
 * log level from -v, -q and HETGRAD_LOG, and malformed option tables.
 * No device.
 */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* The options every test parses against. */
typedef struct vals {
    bool   flag;
    size_t n;
    unsigned long long seed;
    long   col;
    double frac, lr;
    const char *name;
    int    mode;
    size_t widths[3], nwidths;
    int    picks[3];
    size_t npicks;
} vals;

static const char *const modes[] = {"fast", "slow", "exact", NULL};
static const char *const picks[] = {"linear", "softmax", "mlp", NULL};

typedef struct run {
    vals  v;
    cli   c;
    int   rc;
    char *out, *err;   /* what went to c.out and c.err */
} run;

#define MAX_ARGS 16

/* Parse the NULL-terminated arguments after the program name into r. */
static void parse_with(run *r, const cli_option *table, size_t n, const char *const *args)
{
    cli_spec spec = {.prog = "hg-test", .synopsis = "[options]", .summary = "a test tool",
                     .options = table, .noptions = n,
                     .exits = (const cli_exit[]){{0, "success"}, {2, "usage error"}},
                     .nexits = 2};
    char *argv[MAX_ARGS + 2] = {(char *)"hg-test"};
    int argc = 1;
    for (; args[argc - 1]; argc++) {
        ck_assert_int_lt(argc, MAX_ARGS);
        argv[argc] = (char *)args[argc - 1];
    }
    argv[argc] = NULL;
    size_t nout = 0, nerr = 0;
    FILE *out = open_memstream(&r->out, &nout), *err = open_memstream(&r->err, &nerr);
    ck_assert(out && err);
    cli_init(&r->c, &spec);
    r->c.out = out;
    r->c.err = err;
    r->rc = cli_parse(&r->c, argc, argv);
    r->c.spec = NULL; /* spec goes out of scope: nothing may read it now */
    r->c.out = r->c.err = NULL;
    fclose(out);
    fclose(err);
}

static void parse(run *r, const char *const *args)
{
    memset(&r->v, 0, sizeof r->v);
    r->v.lr = -1;
    vals *v = &r->v;
    const cli_option table[] = {
        {.name = "flag", .letter = 'f', .kind = CLI_FLAG, .target = &v->flag, .help = "a flag"},
        {.name = "count", .letter = 'n', .kind = CLI_SIZE, .target = &v->n, .metavar = "N",
         .range = "[1,100]", .help = "a count"},
        {.name = "seed", .kind = CLI_U64, .target = &v->seed, .metavar = "N", .help = "any"},
        {.name = "col", .kind = CLI_LONG, .target = &v->col, .metavar = "N",
         .range = "[-1,10)", .help = "a column"},
        {.name = "frac", .kind = CLI_DOUBLE, .target = &v->frac, .metavar = "F",
         .range = "[0,1)", .help = "a fraction"},
        {.name = "lr", .kind = CLI_DOUBLE, .target = &v->lr, .metavar = "X",
         .range = "(0,inf)", .help = "a rate"},
        {.name = "name", .kind = CLI_STRING, .target = &v->name, .metavar = "TEXT",
         .help = "a name", .alias = "label"},
        {.name = "mode", .kind = CLI_CHOICE, .target = &v->mode, .choices = modes,
         .help = "a mode"},
        {.name = "widths", .kind = CLI_SIZE_LIST, .target = v->widths, .count = &v->nwidths,
         .max_count = 3, .metavar = "W[,W...]", .range = "[1,65536]", .help = "widths"},
        {.name = "models", .kind = CLI_CHOICE_LIST, .target = v->picks, .count = &v->npicks,
         .max_count = 3, .choices = picks, .help = "models"},
        {.name = "model-file", .kind = CLI_STRING, .target = &v->name, .metavar = "FILE",
         .help = "shares a prefix with --models"},
    };
    parse_with(r, table, sizeof table / sizeof table[0], args);
}

static void done(run *r)
{
    free(r->out);
    free(r->err);
}

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* A usage error: exit 2, nothing on out, the message and the --help hint on err. */
static void expect_usage(const char *const *args, const char *message)
{
    run r;
    unsetenv("HETGRAD_LOG");
    parse(&r, args);
    ck_assert_int_eq(r.rc, CLI_EXIT_USAGE);
    ck_assert_str_eq(r.out, "");
    ck_assert_msg(strstr(r.err, message), "wanted '%s' in '%s'", message, r.err);
    ck_assert_msg(!strncmp(r.err, "hg-test: ", 9), "no program name: %s", r.err);
    ck_assert(strstr(r.err, "Try 'hg-test --help'"));
    done(&r);
}

START_TEST(values_both_forms)
{
    run r;
    unsetenv("HETGRAD_LOG");
    parse(&r, ARGS("--count=5", "--seed", "0", "-f", "--col", "-1", "--frac=0", "--lr", "1e-3",
                   "--name=", "--mode", "exact", "--widths=64,32", "--models", "mlp,linear"));
    ck_assert_int_eq(r.rc, CLI_CONTINUE);
    ck_assert_str_eq(r.err, "");
    ck_assert_uint_eq(r.v.n, 5);
    ck_assert(r.v.seed == 0);
    ck_assert(r.v.flag);
    ck_assert_int_eq(r.v.col, -1);
    ck_assert(r.v.frac == 0 && r.v.lr == 1e-3);
    ck_assert_str_eq(r.v.name, "");
    ck_assert_int_eq(r.v.mode, 2);
    ck_assert_uint_eq(r.v.nwidths, 2);
    ck_assert_uint_eq(r.v.widths[0], 64);
    ck_assert_uint_eq(r.v.widths[1], 32);
    ck_assert_uint_eq(r.v.npicks, 2);
    ck_assert_int_eq(r.v.picks[0], 2);
    ck_assert_int_eq(r.v.picks[1], 0);
    done(&r);
    /* short options: -n 7, -n7, clustered -fn8; the largest seed */
    parse(&r, ARGS("-n", "7", "--seed=18446744073709551615"));
    ck_assert_int_eq(r.rc, CLI_CONTINUE);
    ck_assert_uint_eq(r.v.n, 7);
    ck_assert(r.v.seed == 18446744073709551615ull);
    done(&r);
    parse(&r, ARGS("-fn8"));
    ck_assert_int_eq(r.rc, CLI_CONTINUE);
    ck_assert(r.v.flag);
    ck_assert_uint_eq(r.v.n, 8);
    done(&r);
    /* an alias, an abbreviation, the last value wins */
    parse(&r, ARGS("--label", "x", "--cou", "3", "--count", "4"));
    ck_assert_int_eq(r.rc, CLI_CONTINUE);
    ck_assert_str_eq(r.v.name, "x");
    ck_assert_uint_eq(r.v.n, 4);
    done(&r);
    /* a value that starts with '-' is still the value */
    parse(&r, ARGS("--name", "-oclgrind"));
    ck_assert_int_eq(r.rc, CLI_CONTINUE);
    ck_assert_str_eq(r.v.name, "-oclgrind");
    done(&r);
}
END_TEST

START_TEST(bad_values)
{
    expect_usage(ARGS("--count", "abc"), "option --count: 'abc' is not an integer");
    expect_usage(ARGS("--count=0"), "option --count: '0' is not in [1,100]");
    expect_usage(ARGS("--count", "101"), "'101' is not in [1,100]");
    expect_usage(ARGS("--count", "-3"), "'-3' is not in [1,100]");
    expect_usage(ARGS("--count", " 5"), "' 5' is not an integer");
    expect_usage(ARGS("--count", "5x"), "'5x' is not an integer");
    expect_usage(ARGS("--count", "+5"), "'+5' is not an integer");
    expect_usage(ARGS("--count="), "'' is not an integer");
    expect_usage(ARGS("--seed", "-1"), "option --seed: '-1' is negative");
    expect_usage(ARGS("--seed", "18446744073709551616"), "is too large");
    expect_usage(ARGS("--col", "10"), "option --col: '10' is not in [-1,10)");
    expect_usage(ARGS("--col", "-2"), "'-2' is not in [-1,10)");
    expect_usage(ARGS("--col", "1.5"), "'1.5' is not an integer");
    expect_usage(ARGS("--frac", "1"), "option --frac: '1' is not in [0,1)");
    expect_usage(ARGS("--frac", "-0.1"), "'-0.1' is not in [0,1)");
    expect_usage(ARGS("--frac", "half"), "option --frac: 'half' is not a number");
    expect_usage(ARGS("--lr", "0"), "option --lr: '0' is not in (0,inf)");
    expect_usage(ARGS("--lr", "inf"), "'inf' is not a finite number");
    expect_usage(ARGS("--lr", "nan"), "'nan' is not a finite number");
    expect_usage(ARGS("--lr", "1e999"), "'1e999' is not a finite number");
    expect_usage(ARGS("--mode", "quick"),
                 "option --mode: 'quick' is not one of: fast, slow, exact");
    expect_usage(ARGS("--widths", "12,,4"), "option --widths: '12,,4': item 2 is empty");
    expect_usage(ARGS("--widths", ",4"), "item 1 is empty");
    expect_usage(ARGS("--widths", "4,"), "item 2 is empty");
    expect_usage(ARGS("--widths", "1,2,3,4"), "at most 3 values");
    expect_usage(ARGS("--widths", "3,x"), "option --widths: 'x' in '3,x' is not an integer");
    expect_usage(ARGS("--widths", "3,0"), "'0' in '3,0' is not in [1,65536]");
    expect_usage(ARGS("--models", "mlp,mlp"), "'mlp' is given twice in 'mlp,mlp'");
    expect_usage(ARGS("--models", "mlp,tree"), "'tree' in 'mlp,tree' is not one of: linear");
}
END_TEST

START_TEST(bad_options)
{
    expect_usage(ARGS("--frobnicate"), "hg-test: unknown option --frobnicate\n");
    expect_usage(ARGS("--frobnicate=3"), "hg-test: unknown option --frobnicate\n");
    /* at the end, after an option that takes a value: still unknown, not "needs a value" */
    expect_usage(ARGS("--count", "3", "--frobnicate"), "unknown option --frobnicate\n");
    expect_usage(ARGS("-x"), "hg-test: unknown option -x\n");
    expect_usage(ARGS("-fx"), "unknown option -x\n");
    expect_usage(ARGS("--count"), "hg-test: option --count needs a value\n");
    expect_usage(ARGS("-n"), "option --count needs a value\n");
    expect_usage(ARGS("--flag=1"), "hg-test: option --flag takes no value\n");
    expect_usage(ARGS("--model"), "ambiguous option --model (could be --models --model-file)");
    expect_usage(ARGS("--ver"), "ambiguous option --ver (could be --version --verbose)");
    expect_usage(ARGS("extra"), "unexpected argument 'extra'");
    expect_usage(ARGS("--flag", "--", "--count"), "unexpected argument '--count'");
}
END_TEST

START_TEST(help_and_version)
{
    run r;
    parse(&r, ARGS("--help"));
    ck_assert_int_eq(r.rc, CLI_EXIT_OK);
    ck_assert_str_eq(r.err, "");
    ck_assert(!strncmp(r.out, "usage: hg-test [options]\n", 25));
    const char *want[] = {"-f, --flag", "-n, --count N", "--name, --label TEXT",
                          "--mode fast|slow|exact", "--models linear|softmax|mlp[,...]",
                          "-v, --verbose", "-q, --quiet", "-h, --help", "-V, --version",
                          "HETGRAD_LOG=LEVEL", "Exit status:\n  0  success\n  2  usage error\n"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        ck_assert_msg(strstr(r.out, want[i]), "help lacks '%s':\n%s", want[i], r.out);
    for (const char *p = r.out; *p;) { /* every line fits 80 columns */
        const char *nl = strchr(p, '\n');
        ck_assert(nl);
        ck_assert_msg(nl - p <= 80, "long help line: %.*s", (int)(nl - p), p);
        p = nl + 1;
    }
    done(&r);
    parse(&r, ARGS("-h", "--frobnicate")); /* help first: the rest is not read */
    ck_assert_int_eq(r.rc, CLI_EXIT_OK);
    done(&r);
    char want_version[64];
    snprintf(want_version, sizeof want_version, "hg-test %s\n", hg_version_string());
    parse(&r, ARGS("--version"));
    ck_assert_int_eq(r.rc, CLI_EXIT_OK);
    ck_assert_str_eq(r.out, want_version);
    ck_assert_str_eq(r.err, "");
    done(&r);
    parse(&r, ARGS("-V"));
    ck_assert_int_eq(r.rc, CLI_EXIT_OK);
    ck_assert_str_eq(r.out, want_version);
    done(&r);
}
END_TEST

/* The level after parsing args with HETGRAD_LOG = env (NULL: unset). */
static hg_log_level level_of(const char *env, const char *const *args)
{
    run r;
    if (env)
        setenv("HETGRAD_LOG", env, 1);
    else
        unsetenv("HETGRAD_LOG");
    parse(&r, args);
    ck_assert_msg(r.rc == CLI_CONTINUE, "%s", r.err);
    done(&r);
    return r.c.level;
}

START_TEST(log_level)
{
    ck_assert_int_eq(level_of(NULL, ARGS("--flag")), HG_LOG_WARN);
    ck_assert_int_eq(level_of(NULL, ARGS("-v")), HG_LOG_INFO);
    ck_assert_int_eq(level_of(NULL, ARGS("-vv")), HG_LOG_DEBUG);
    ck_assert_int_eq(level_of(NULL, ARGS("-v", "-v", "--verbose")), HG_LOG_DEBUG);
    ck_assert_int_eq(level_of(NULL, ARGS("--quiet")), HG_LOG_ERROR);
    ck_assert_int_eq(level_of(NULL, ARGS("-qq")), HG_LOG_ERROR);
    ck_assert_int_eq(level_of("debug", ARGS("--flag")), HG_LOG_DEBUG);
    ck_assert_int_eq(level_of("INFO", ARGS("--flag")), HG_LOG_INFO);
    ck_assert_int_eq(level_of("warn", ARGS("--flag")), HG_LOG_WARN);
    ck_assert_int_eq(level_of("error", ARGS("--flag")), HG_LOG_ERROR);
    ck_assert_int_eq(level_of("", ARGS("--flag")), HG_LOG_WARN);
    /* the command line wins */
    ck_assert_int_eq(level_of("debug", ARGS("-q")), HG_LOG_ERROR);
    ck_assert_int_eq(level_of("error", ARGS("-v")), HG_LOG_INFO);

    run r;
    setenv("HETGRAD_LOG", "loud", 1);
    parse(&r, ARGS("--flag"));
    ck_assert_int_eq(r.rc, CLI_EXIT_USAGE);
    ck_assert_msg(strstr(r.err, "HETGRAD_LOG='loud' is not a log level"), "%s", r.err);
    done(&r);
    unsetenv("HETGRAD_LOG");
}
END_TEST

START_TEST(messages_follow_the_level)
{
    run r;
    unsetenv("HETGRAD_LOG");
    parse(&r, ARGS("-q"));
    size_t n = 0;
    char *text = NULL;
    FILE *err = open_memstream(&text, &n);
    r.c.err = err;
    cli_log(&r.c, HG_LOG_WARN, "hidden %d", 1);
    cli_note(&r.c, "hidden too");
    cli_hg_log(&r.c, HG_LOG_INFO, "hidden as well");
    cli_log(&r.c, HG_LOG_ERROR, "shown %d", 2);
    r.c.level = HG_LOG_INFO;
    cli_note(&r.c, "a note");
    cli_hg_log(&r.c, HG_LOG_INFO, "from the library");
    cli_hg_log(&r.c, HG_LOG_DEBUG, "not at info");
    hg_options o;
    hg_options_init(&o);
    cli_apply_log(&r.c, &o);
    ck_assert(o.log == cli_hg_log && o.log_user == &r.c && o.log_level == HG_LOG_INFO);
    fclose(err);
    ck_assert_str_eq(text, "hg-test: error: shown 2\nhg-test: a note\n"
                           "hg-test: info: from the library\n");
    free(text);
    done(&r);
}
END_TEST

/* A table the program got wrong: status 1 with a message, never a crash. */
static void expect_table_error(const cli_option *o, const char *what)
{
    run r;
    parse_with(&r, o, 1, ARGS("--help"));
    ck_assert_int_eq(r.rc, CLI_EXIT_FAILURE);
    ck_assert_msg(strstr(r.err, what), "wanted '%s' in '%s'", what, r.err);
    done(&r);
}

START_TEST(malformed_tables)
{
    size_t n;
    double d;
    bool b;
    expect_table_error(&(cli_option){.name = "n", .kind = CLI_SIZE, .target = &n,
                                     .range = "1,2"}, "bad range");
    expect_table_error(&(cli_option){.name = "n", .kind = CLI_SIZE, .target = &n,
                                     .range = "[2,1]"}, "bad range");
    expect_table_error(&(cli_option){.name = "n", .kind = CLI_SIZE, .target = &n,
                                     .range = "[0,inf]"}, "bad range");
    expect_table_error(&(cli_option){.name = "d", .kind = CLI_DOUBLE, .target = &d,
                                     .range = "[a,b]"}, "bad range");
    expect_table_error(&(cli_option){.name = "b", .kind = CLI_FLAG, .target = &b,
                                     .range = "[0,1]"}, "bad range");
    expect_table_error(&(cli_option){.name = "b", .kind = CLI_FLAG}, "no target");
    expect_table_error(&(cli_option){.name = "b", .letter = 'v', .kind = CLI_FLAG,
                                     .target = &b}, "reserved letter");
    expect_table_error(&(cli_option){.name = "help", .kind = CLI_FLAG, .target = &b},
                       "reserved name");
    expect_table_error(&(cli_option){.name = "Bad", .kind = CLI_FLAG, .target = &b},
                       "bad long name");
    expect_table_error(&(cli_option){.name = "c", .kind = CLI_CHOICE, .target = &n},
                       "no choices");
    expect_table_error(&(cli_option){.name = "l", .kind = CLI_SIZE_LIST, .target = &n},
                       "list without count");
    run r;
    const cli_option twice[] = {{.name = "a", .kind = CLI_FLAG, .target = &b},
                                {.name = "b", .alias = "a", .kind = CLI_FLAG, .target = &b}};
    parse_with(&r, twice, 2, ARGS("--help"));
    ck_assert_int_eq(r.rc, CLI_EXIT_FAILURE);
    ck_assert(strstr(r.err, "name given twice"));
    done(&r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cli");
    TCase *tc = tcase_create("cli");
    tcase_add_test(tc, values_both_forms);
    tcase_add_test(tc, bad_values);
    tcase_add_test(tc, bad_options);
    tcase_add_test(tc, help_and_version);
    tcase_add_test(tc, log_level);
    tcase_add_test(tc, messages_follow_the_level);
    tcase_add_test(tc, malformed_tables);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
