/* SPDX-License-Identifier: MIT */
/*
 * hetgrad-train - train a model with hetgrad on every selected device.
 *
 *   hetgrad-train                      softmax regression on the built-in digits
 *   hetgrad-train --model mlp --hidden 64 --epochs 20
 *   hetgrad-train --json --save model.hgp
 *   hetgrad-train --epochs 20 --checkpoint run.hgc      (then --resume run.hgc)
 *
 * Every device in use computes its share of each minibatch's gradient; the
 * engine is calibrated first and rebalanced after every step.  Each epoch
 * prints the training loss, the validation loss and accuracy, rows/s and
 * each device's share and speed.
 *
 * This file is command-line glue: the model math (initialisation, the host
 * forward pass, the optimizers, the schedules, the file format) is the
 * library's (hetgrad/train.h, hetgrad/checkpoint.h).
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hetgrad.h>
#include <hetgrad/data.h>

#include "cli.h"
#include "pocl_pin.h"
#include "json_out.h"
#include "metrics.h"
#include "predict.h"
#include "train_data.h"
#include "train_hostprof.h"
#include "train_mpi.h"
#include "train_opts.h"
#include "train_trace.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* ---- the command line ------------------------------------------------------------- */

static const char *const model_names[] = {"softmax", "mlp", "linear", NULL};
static const hg_model_kind model_kinds[] = {HG_MODEL_SOFTMAX, HG_MODEL_MLP, HG_MODEL_LINEAR};
static const char *const optimizer_names[] = {"adam", "sgd", NULL};
static const hg_optimizer_kind optimizer_kinds[] = {HG_OPTIMIZER_ADAM, HG_OPTIMIZER_SGD};
static const char *const format_names[] = {"csv", "libsvm", "idx", "npy", NULL};

/* --delimiter's value: one of , ; | or a tab, or its name; 0 when it is none of them. */
static char delimiter_of(const char *v)
{
    static const struct {
        const char *name;
        char        c;
    } names[] = {{",", ','},      {"comma", ','}, {";", ';'},    {"semicolon", ';'},
                 {"|", '|'},      {"pipe", '|'},  {"\t", '\t'}, {"\\t", '\t'},
                 {"tab", '\t'}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(v, names[i].name))
            return names[i].c;
    return 0;
}

static const cli_exit train_exits[] = {
    {0, "success"},
    {1, "the run failed: a data or parameter file, a device, MPI"},
    {2, "usage error"},
    {143, "under MPI: stopped by the launcher (SIGTERM) after another\n"
          "     rank ended early"},
};

static const cli_env train_env[] = {
    {"HETGRAD_DEVICES=EXPR", "device selection (docs/devices.md)"},
    {"HETGRAD_CACHE_DIR=DIR", "compiled programs and device profiles"},
    {"POCL_AFFINITY=0|1", "POCL pins its CPU threads to cores; set to 1\n"
                          "when unset (docs/engine.md)"},
};

/* "constant", "cosine" or "step:EVERY:GAMMA" into *s; false when it is none of them. */
static bool parse_schedule(const char *text, hg_lr_schedule *s)
{
    memset(s, 0, sizeof *s);
    if (!strcmp(text, "constant"))
        return true;
    if (!strcmp(text, "cosine")) {
        s->kind = HG_LR_COSINE;
        return true;
    }
    unsigned long long every;
    double gamma;
    int end = 0;
    if (sscanf(text, "step:%llu:%lf%n", &every, &gamma, &end) != 2 || text[end] != '\0' ||
        strchr(text, '-') || every < 1 || every > 100000000 || !(gamma > 0 && gamma <= 1))
        return false;
    s->kind = HG_LR_STEP;
    s->every = (size_t)every;
    s->gamma = gamma;
    return true;
}

/*
 * The command line into *o and *cmd (cli.h).  Returns CLI_CONTINUE, or the
 * status to exit with (after --help, --version or a usage error).
 */
static int parse_args(int argc, char **argv, train_opts *o, cli *cmd)
{
    int model = -1, optim = -1, format = -1; /* -1: not given */
    const char *schedule = NULL;
    const char *delimiter = NULL;
    size_t every = SIZE_MAX;                 /* SIZE_MAX: --metrics-every not given */
    size_t nhidden = 0;                      /* 0: --hidden not given */
    const cli_option options[] = {
        {.name = "model", .kind = CLI_CHOICE, .target = &model, .choices = model_names,
         .help = "model (default softmax; linear: least squares\n"
                 "on the label column as a number, accuracy =\n"
                 "|error| < 0.5)"},
        {.name = "hidden", .kind = CLI_SIZE_LIST, .target = o->hidden, .count = &nhidden,
         .max_count = HG_MAX_HIDDEN, .metavar = "W[,W...]", .range = "[1,65536]",
         .help = "MLP hidden layer widths (default 64)"},
        {.name = "optimizer", .kind = CLI_CHOICE, .target = &optim,
         .choices = optimizer_names, .help = "(default adam)"},
        {.name = "lr", .kind = CLI_DOUBLE, .target = &o->lr, .metavar = "X", .range = "(0,inf)",
         .help = "learning rate (default 0.05 adam, 0.1 sgd)"},
        {.name = "lr-schedule", .kind = CLI_STRING, .target = &schedule, .metavar = "S",
         .help = "learning rate by epoch: constant (default),\n"
                 "step:EVERY:GAMMA (times GAMMA every EVERY\n"
                 "epochs) or cosine (to 0 over --epochs)"},
        {.name = "momentum", .kind = CLI_DOUBLE, .target = &o->momentum, .metavar = "M",
         .range = "[0,1)", .help = "SGD momentum (default 0.9)"},
        {.name = "l2", .kind = CLI_DOUBLE, .target = &o->l2, .metavar = "X", .range = "[0,1)",
         .help = "L2 penalty X/2 |W|^2 on the weights, not the\nbiases (default 0)"},
        {.name = "epochs", .kind = CLI_SIZE, .target = &o->epochs, .metavar = "N",
         .range = "[0,100000000]",
         .help = "(default 40; 0 with --load and --test: evaluate\n"
                 "the saved model on the test file, no training)"},
        {.name = "batch", .kind = CLI_SIZE, .target = &o->batch, .metavar = "N",
         .range = "[1,100000000]", .help = "minibatch rows (default 128)"},
        {.name = "seed", .kind = CLI_U64, .target = &o->seed, .metavar = "N",
         .help = "shuffling and initialisation seed, 0 included\n(default 1)"},
        {.name = "val", .kind = CLI_DOUBLE, .target = &o->val_frac, .metavar = "F",
         .range = "[0,1)", .help = "validation fraction (default 0.2; 0 needs --test)"},
        {.name = "data", .kind = CLI_STRING, .target = &o->data, .metavar = "FILE",
         .help = "train on FILE instead of the built-in digits"},
        {.name = "format", .kind = CLI_CHOICE, .target = &format, .choices = format_names,
         .help = "file format (default: from the name, a .gz\n"
                 "after it ignored: .npy npy; .svm, .libsvm,\n"
                 ".svmlight libsvm; else idx with --labels,\n"
                 "csv without)"},
        {.name = "header", .kind = CLI_FLAG, .target = &o->header,
         .help = "CSV: the first line is a header"},
        {.name = "label-col", .kind = CLI_LONG, .target = &o->label_col, .metavar = "N",
         .range = "[-1,999999]", .help = "CSV: 0-based label column (default -1: the last)"},
        {.name = "delimiter", .kind = CLI_STRING, .target = &delimiter, .metavar = "D",
         .help = "CSV: the field delimiter, one of , ; | or tab\n"
                 "(also written comma, semicolon, pipe, \\t)\n(default ,)"},
        {.name = "labels", .kind = CLI_STRING, .target = &o->labels, .metavar = "FILE",
         .help = "IDX, npy: the labels file for --data"},
        {.name = "dense", .kind = CLI_FLAG, .target = &o->dense,
         .help = "LIBSVM: densify the rows (default: kept sparse\n"
                 "for the linear and softmax models)"},
        {.name = "test", .kind = CLI_STRING, .target = &o->test, .metavar = "FILE",
         .help = "report accuracy on this held-out file at the end"},
        {.name = "test-labels", .kind = CLI_STRING, .target = &o->test_labels, .metavar = "FILE",
         .help = "IDX, npy: the labels file for --test"},
        {.name = "predict", .kind = CLI_STRING, .target = &o->predict, .metavar = "FILE",
         .help = "predict this file's rows on the devices with\n"
                 "the final parameters (its label column is not\n"
                 "read: any number will do)"},
        {.name = "out", .kind = CLI_STRING, .target = &o->out, .metavar = "PRED.csv",
         .help = "where --predict writes: the class and its\n"
                 "probabilities per row (docs/train.md)"},
        {.name = "devices", .kind = CLI_STRING, .target = &o->devices, .metavar = "EXPR",
         .help = "device selection (syntax of HETGRAD_DEVICES)"},
        {.name = "keep-duplicates", .kind = CLI_FLAG, .target = &o->keep_dups,
         .help = "use every view of the same hardware (default:\none view each)"},
        {.name = "deterministic", .kind = CLI_FLAG, .target = &o->deterministic,
         .help = "the same gradient bits whatever the split and\n"
                 "devices (docs/kernels.md): blocks of\n"
                 "min(512, batch/4) rows (a power of two), so a\n"
                 "seed and batch give the same run"},
        {.name = "save", .kind = CLI_STRING, .target = &o->save, .metavar = "FILE",
         .help = "write the parameters at the end, atomically;\n"
                 "FILE is checked before training (docs/train.md)"},
        {.name = "load", .kind = CLI_STRING, .target = &o->load, .metavar = "FILE",
         .help = "start from these parameters (docs/train.md)"},
        {.name = "checkpoint", .kind = CLI_STRING, .target = &o->checkpoint, .metavar = "FILE",
         .help = "write the whole training state every\n"
                 "--checkpoint-every epochs and at the end,\n"
                 "atomically (docs/checkpoint.md)"},
        {.name = "checkpoint-every", .kind = CLI_SIZE, .target = &o->checkpoint_every,
         .metavar = "N", .range = "[1,100000000]",
         .help = "epochs between checkpoints (default 1)"},
        {.name = "resume", .kind = CLI_STRING, .target = &o->resume, .metavar = "FILE",
         .help = "continue the run of this checkpoint up to\n"
                 "--epochs (same data and options)"},
        {.name = "patience", .kind = CLI_SIZE, .target = &o->patience, .metavar = "N",
         .range = "[0,100000000]",
         .help = "stop after N epochs without a lower validation\n"
                 "loss (default 0: never)"},
        {.name = "trace", .kind = CLI_STRING, .target = &o->trace, .metavar = "FILE",
         .help = "Chrome/Perfetto trace of every step\n(docs/train.md)"},
        {.name = "metrics", .kind = CLI_STRING, .target = &o->metrics, .metavar = "FILE",
         .help = "one JSON line per epoch and per --metrics-every\n"
                 "steps: loss, accuracy, rows/s, each device's\n"
                 "rows, share, busy time and kernel; plot it with\n"
                 "scripts/plot.py (docs/train.md)"},
        {.name = "metrics-every", .kind = CLI_SIZE, .target = &every, .metavar = "N",
         .range = "[0,100000000]",
         .help = "a --metrics step line every N steps (default 10;\n0: epoch lines only)"},
        {.name = "profile-host", .kind = CLI_FLAG, .target = &o->profile_host,
         .help = "time each step's host side (engine before and\n"
                 "after the devices, optimizer, the rest) and\n"
                 "print its mean and median on stderr at the end;\n"
                 "--metrics records add a \"host\" object"},
        {.name = "json", .kind = CLI_FLAG, .target = &o->json,
         .help = "machine-readable summary on stdout"},
        {.name = "mpi", .kind = CLI_FLAG, .target = &o->mpi,
         .help = "start MPI even without an MPI launcher's\n"
                 "environment (under mpirun / mpiexec it starts\n"
                 "by itself; docs/mpi.md)"},
        {.name = "mpi-timeout", .kind = CLI_DOUBLE, .target = &o->mpi_timeout, .metavar = "S",
         .range = "(0,inf)", .help = "seconds a rank waits for the others (default 120)"},
    };
    const cli_spec spec = {
        .prog = "hetgrad-train",
        .synopsis = "[options]",
        .summary = "Train a model with hetgrad on every selected OpenCL device; without\n"
                   "options, softmax regression on the built-in digits.",
        .options = options,
        .noptions = sizeof options / sizeof options[0],
        .quiet_help = "log only errors; no per-epoch lines or progress bar",
        .env = train_env,
        .nenv = sizeof train_env / sizeof train_env[0],
        .exits = train_exits,
        .nexits = sizeof train_exits / sizeof train_exits[0],
    };
    cli_init(cmd, &spec);
    int rc = cli_parse(cmd, argc, argv);
    if (rc != CLI_CONTINUE)
        return rc;
    o->model_given = model >= 0;
    o->kind = model_kinds[model >= 0 ? model : 0];
    o->hidden_given = nhidden > 0;
    if (nhidden)
        o->nhidden = nhidden;
    o->opt_given = optim >= 0;
    o->opt = optimizer_kinds[optim >= 0 ? optim : 0];
    if (schedule && !parse_schedule(schedule, &o->schedule))
        return cli_usage_error(cmd, "--lr-schedule %s: expected constant, cosine or "
                               "step:EVERY:GAMMA (EVERY >= 1, 0 < GAMMA <= 1)", schedule);
    o->format = format >= 0 ? format_names[format] : NULL;
    o->delimiter = delimiter ? delimiter_of(delimiter) : ',';
    if (!o->delimiter)
        return cli_usage_error(cmd, "option --delimiter: '%s' is not one of , ; | tab "
                               "(comma, semicolon, pipe, \\t)", delimiter);
    o->quiet = cmd->quiet > 0;
    o->metrics_every_given = every != SIZE_MAX;
    o->metrics_every = o->metrics_every_given ? every : 10;
    return CLI_CONTINUE;
}

static int fail(const char *msg)
{
    fprintf(stderr, "hetgrad-train: %s\n", msg);
    return 1;
}

/* End the run with status code; MPI_Finalize first when MPI was started. */
static int finish(train_mpi *tm, int code)
{
#ifdef HG_HAVE_MPI
    tm_finish(tm);
#else
    (void)tm;
#endif
    return code;
}

/*
 * A failure before training starts.  With MPI, every rank must hear of it: the failing
 * rank takes part in the start-up agreement with its error (the others reach it once their
 * engines are ready), and every rank prints the agreed message, which names the rank.
 */
static int fail_start_status(train_mpi *tm, hg_status st, const char *msg)
{
#ifdef HG_HAVE_MPI
    if (tm->initialized && tm->size > 1) {
        hg_error local;
        hg_error_clear(&local);
        local.status = st;
        snprintf(local.message, sizeof local.message, "%s", msg);
        char agreed[HG_ERROR_MESSAGE_MAX];
        if (!tm_agree(tm, &local, 0, agreed, sizeof agreed))
            msg = agreed;
        fprintf(stderr, "hetgrad-train: rank %d of %d: %s\n", tm->rank, tm->size, msg);
        return finish(tm, 1);
    }
#endif
    (void)tm;
    (void)st;
    return fail(msg);
}

static int fail_start(train_mpi *tm, const char *msg)
{
    return fail_start_status(tm, HG_INVALID_ARGUMENT, msg);
}

/* A usage error found once MPI may be running: exit 2 alone, every rank told with MPI. */
static int usage_start(train_mpi *tm, const cli *cmd, const char *msg)
{
    if (tm->initialized && tm->size > 1)
        return fail_start(tm, msg);
    return finish(tm, cli_usage_error(cmd, "%s", msg));
}
/* ---- parameter files and checkpoints -------------------------------------------- */

/* The classes as "0, 1, ..., 9" (all of up to 12, else the first 8 and the last). */
static void classes_text(const int32_t *classes, size_t n, char *buf, size_t bufn)
{
    size_t o = 0;
    buf[0] = '\0';
    for (size_t k = 0; k < n && o < bufn; k++) {
        if (n > 12 && k == 8) {
            o += (size_t)snprintf(buf + o, bufn - o, ", ...");
            k = n - 1;
        }
        if (o < bufn)
            o += (size_t)snprintf(buf + o, bufn - o, "%s%d", k ? ", " : "", (int)classes[k]);
    }
}

/*
 * --load or --resume for training: the checkpoint ck read from path must hold model m,
 * and the classes it records must be the training data's (classes: m->outputs values,
 * NULL for linear regression; data_path names them, NULL: the built-in digits).  Copies
 * the parameters into params; false with msg otherwise.
 */
static bool take_params(const hg_checkpoint *ck, const char *path, const hg_model_desc *m,
                        const int32_t *classes, const char *data_path, float *params,
                        char *msg, size_t n)
{
    char a[200], b[200];
    bool recorded;
    const int32_t *has = hg_checkpoint_classes(ck, &recorded);
    size_t count;
    const float *p = hg_checkpoint_params(ck, &count);
    if (!hg_model_same(hg_checkpoint_model(ck), m)) {
        hg_model_describe(hg_checkpoint_model(ck), a, sizeof a);
        hg_model_describe(m, b, sizeof b);
        snprintf(msg, n, "%.120s holds another model than the one requested: %.150s in the "
                 "file, %.150s requested", path, a, b);
        return false;
    }
    if (classes && recorded && memcmp(has, classes, m->outputs * sizeof *classes) != 0) {
        classes_text(has, m->outputs, a, sizeof a);
        classes_text(classes, m->outputs, b, sizeof b);
        snprintf(msg, n, "%.120s was trained on the classes %.120s; %.100s has %.120s", path,
                 a, data_path ? data_path : "the built-in digits", b);
        return false;
    }
    memcpy(params, p, count * sizeof *params);
    return true;
}

/* Save model m with params (and classes, NULL for linear) to path with hg_checkpoint;
   training state from opt when it is not NULL.  false with msg. */
static bool save_file(const char *path, const hg_model_desc *m, const float *params,
                      const int32_t *classes, const hg_optimizer *opt, uint64_t epoch,
                      const hg_rng *rng, const size_t *order, size_t norder, double best,
                      uint64_t since_best, char *msg, size_t n)
{
    hg_checkpoint *ck = NULL;
    hg_error err;
    hg_status st = hg_checkpoint_create(m, params, classes, &ck, &err);
    if (st == HG_OK && opt)
        st = hg_checkpoint_set_training(ck, opt, epoch, rng, order, norder, best, since_best,
                                        &err);
    if (st == HG_OK)
        st = hg_checkpoint_save(ck, path, &err);
    hg_checkpoint_destroy(ck);
    if (st != HG_OK)
        snprintf(msg, n, "%s", err.message);
    return st == HG_OK;
}

static const char *model_name(hg_model_kind k)
{
    return k == HG_MODEL_MLP ? "mlp" : k == HG_MODEL_LINEAR ? "linear" : "softmax";
}

static const char *optimizer_name(hg_optimizer_kind k)
{
    return k == HG_OPTIMIZER_SGD ? "sgd" : "adam";
}

/* rows 0..n-1 of d as the library's dataset description for model kind */
static hg_dataset_desc dataset_of(const data *d, hg_model_kind kind)
{
    hg_dataset_desc ds = {d->rows, d->features, d->x,
                          kind == HG_MODEL_LINEAR ? d->targets : NULL,
                          kind == HG_MODEL_LINEAR ? NULL : d->labels};
    return ds;
}

/* d's CSR rows (d->csr not NULL) as the library's description for model kind */
static hg_csr_desc csr_of(const data *d, hg_model_kind kind)
{
    hg_csr_desc cs;
    hg_csr_desc_of(d->csr, &cs);
    cs.targets = kind == HG_MODEL_LINEAR ? d->targets : NULL;
    cs.labels = kind == HG_MODEL_LINEAR ? NULL : d->labels;
    return cs;
}

/* The host evaluation (loss sum, correct rows) of model m with params over rows
   idx[0..count) of d (NULL: the first count), dense or CSR (hetgrad/train.h,
   hetgrad/sparse.h). */
static hg_status evaluate(const hg_model_desc *m, const float *params, const data *d,
                          const size_t *idx, size_t count, double *loss, size_t *correct,
                          hg_error *err)
{
    if (d->csr) {
        hg_csr_desc cs = csr_of(d, m->kind);
        return hg_model_evaluate_host_csr(m, params, &cs, idx, count, loss, correct, err);
    }
    hg_dataset_desc ds = dataset_of(d, m->kind);
    return hg_model_evaluate_host(m, params, &ds, idx, count, loss, correct, err);
}

/* The --predict file: features rows of the model's width; its label column may hold
   any number (a placeholder): it is read as a regression target and never used. */
static bool load_predict_file(const train_opts *o, const char *fmt, size_t features,
                              data *d, char *msg, size_t n)
{
    hg_data_schema sc;
    hg_data_schema_init(&sc);
    sc.features = features;
    sc.source = "the model";
    return load_dense_file(o, o->predict, NULL, fmt, HG_MODEL_LINEAR, &sc, d, msg, n);
}

/* The evaluation of test and the predictions of pred (NULL: none) on the devices, on
   engine or on an engine of --devices (tools/predict.c); false with msg. */
static bool train_predict(const train_opts *o, predict_job *pj, const data *test,
                          const data *pred, hg_engine *engine, char *msg, size_t n)
{
    hg_options dev;
    hg_options_init(&dev);
    dev.devices = o->devices;
    dev.devices_source = "--devices";
    dev.keep_duplicates = o->keep_dups;
    bool lin = pj->model->kind == HG_MODEL_LINEAR;
    hg_dataset_desc t = {0}, p = {0};
    if (test)
        t = (hg_dataset_desc){test->rows, test->features, test->x, lin ? test->targets : NULL,
                              lin ? NULL : test->labels};
    if (pred)
        p = (hg_dataset_desc){pred->rows, pred->features, pred->x, NULL, NULL};
    pj->engine = engine;
    pj->devices = &dev;
    pj->test = test ? &t : NULL;
    pj->predict = pred ? &p : NULL;
    return predict_job_run(pj, msg, n);
}

/* --predict after training: the file's rows (with d's features and classes) through
   the final parameters on the training's engine e.  false with msg. */
static bool train_predict_file(const train_opts *o, const char *fmt, const hg_model_desc *m,
                               const float *params, const data *d, hg_engine *e, char *msg,
                               size_t n)
{
    data pred = {0};
    if (!load_predict_file(o, fmt, d->features, &pred, msg, n))
        return false;
    predict_job pj = {.model = m, .params = params, .classes = d->class_labels, .out = o->out};
    bool ok = train_predict(o, &pj, NULL, &pred, e, msg, n);
    data_free(&pred);
    return ok;
}

/*
 * --epochs 0: the model of --load evaluated on --test and its predictions of --predict
 * written to --out, on the devices (tools/predict.c), and printed,
 * or reported with --json; --save writes it again (in the current format).  The file
 * defines the model, its features and its classes; --model and --hidden, when given,
 * must agree with it.  talk: this process prints (MPI rank 0).  Returns the exit status.
 */
static int evaluate_only(const train_opts *o, const char *test_fmt, const char *pred_fmt,
                         const train_mpi *tm, bool talk)
{
    char msg[HG_ERROR_MESSAGE_MAX], desc[200];
    double t0 = now_ms();
    hg_checkpoint *ck;
    hg_error err;
    if (hg_checkpoint_load(o->load, &ck, &err) != HG_OK)
        return fail(err.message);
    int rc = 1;
    data test = {0}, topredict = {0};
    const hg_model_desc *m = hg_checkpoint_model(ck);
    size_t count;
    const float *params = hg_checkpoint_params(ck, &count);
    const int32_t *classes = hg_checkpoint_classes(ck, NULL);
    hg_model_describe(m, desc, sizeof desc);
    bool hidden_differs = m->nhidden != o->nhidden;
    for (size_t h = 0; !hidden_differs && h < m->nhidden; h++)
        hidden_differs = m->hidden[h] != o->hidden[h];
    if ((o->model_given && m->kind != o->kind) ||
        (o->hidden_given && m->kind == HG_MODEL_MLP && hidden_differs)) {
        snprintf(msg, sizeof msg, "%.200s holds another model than --model/--hidden ask "
                 "for: %s", o->load, desc);
        fail(msg);
        goto out;
    }
    hg_data_schema sc;
    hg_data_schema_init(&sc);
    sc.features = m->inputs;
    if (m->kind != HG_MODEL_LINEAR) {
        sc.classes = classes;
        sc.nclasses = m->outputs;
    }
    sc.source = o->load;
    if ((o->test && !load_dense_file(o, o->test, o->test_labels, test_fmt, m->kind, &sc,
                                     &test, msg, sizeof msg)) ||
        (o->predict && !load_predict_file(o, pred_fmt, m->inputs, &topredict, msg,
                                          sizeof msg))) {
        fail(msg);
        goto out;
    }
    /* on the devices (tools/predict.c) */
    predict_job pj = {.model = m, .params = params, .classes = classes, .out = o->out};
    if (!train_predict(o, &pj, o->test ? &test : NULL, o->predict ? &topredict : NULL, NULL,
                       msg, sizeof msg)) {
        fail(msg);
        goto out;
    }
    double acc = pj.accuracy, mean = pj.loss;
    if (o->save && !save_file(o->save, m, params, classes, NULL, 0, NULL, NULL, 0, 0, 0, msg,
                              sizeof msg)) {
        fail(msg);
        goto out;
    }
    uint64_t hash = hg_fnv1a64(params, count * sizeof *params);
    if (o->json && talk) {
        json_out j;
        json_init(&j, stdout);
        json_begin_object(&j);
        json_key(&j, "schema"); json_string(&j, "hetgrad-train/1");
        json_key(&j, "data"); json_null(&j);
        json_key(&j, "model"); json_string(&j, model_name(m->kind));
        json_key(&j, "epochs"); json_u64(&j, 0);
        json_key(&j, "train_rows"); json_u64(&j, 0);
        json_key(&j, "val_rows"); json_u64(&j, 0);
        json_key(&j, "final_loss"); json_null(&j);
        json_key(&j, "val_loss"); json_null(&j);
        json_key(&j, "val_accuracy"); json_null(&j);
        json_key(&j, "test_loss"); o->test ? json_double(&j, mean) : json_null(&j);
        json_key(&j, "test_accuracy"); o->test ? json_double(&j, acc) : json_null(&j);
        json_key(&j, "setup_ms"); json_double(&j, now_ms() - t0);
        json_key(&j, "train_ms"); json_double(&j, 0);
        json_key(&j, "rows_per_s"); json_null(&j);
        char hex[24];
        snprintf(hex, sizeof hex, "%016llx", (unsigned long long)hash);
        json_key(&j, "param_hash"); json_string(&j, hex);
        json_key(&j, "ranks"); json_u64(&j, (uint64_t)tm->size);
        json_key(&j, "deterministic"); json_bool(&j, o->deterministic);
        json_key(&j, "epochs_done"); json_u64(&j, 0);
        json_key(&j, "stopped_early"); json_bool(&j, false);
        json_key(&j, "devices");
        json_begin_array(&j);
        json_end_array(&j);
        json_end_object(&j);
        if (!json_finish(&j)) {
            fail("writing the JSON summary to stdout failed");
            goto out;
        }
    } else if (talk) {
        if (o->test) {
            printf("hetgrad-train: %s from %s, evaluated on %s (%zu rows) on the devices; "
                   "no training (--epochs 0)\n", desc, o->load, o->test, test.rows);
            printf("test (%s): accuracy %.1f%%, loss %.4f\n", o->test, 100 * acc, mean);
        }
        if (o->predict)
            printf("predictions of %s (%zu rows) written to %s\n", o->predict,
                   topredict.rows, o->out);
    }
    fflush(stdout);
    rc = 0;
out:
    data_free(&test);
    data_free(&topredict);
    hg_checkpoint_destroy(ck);
    return rc;
}

/* Test-only hooks (tests/mpi_check.py, tests/train_resume_check.py): this rank exits, or
   hangs, at the given step. */
static void test_hooks(uint64_t step)
{
    const char *x = getenv("HG_TEST_MPI_EXIT_AT_STEP"), *h = getenv("HG_TEST_MPI_HANG_AT_STEP");
    if (x && strtoull(x, NULL, 10) == step) {
        fprintf(stderr, "hetgrad-train: HG_TEST_MPI_EXIT_AT_STEP: exiting at step %llu\n",
                (unsigned long long)step);
        fflush(stderr);
        _exit(3);
    }
    if (h && strtoull(h, NULL, 10) == step) {
        fprintf(stderr, "hetgrad-train: HG_TEST_MPI_HANG_AT_STEP: hanging at step %llu\n",
                (unsigned long long)step);
        fflush(stderr);
        for (;;)
            pause();
    }
}
/* ---- a training run ---------------------------------------------------------------- */

/* Everything a run holds; run_free() releases it whatever the phase it reached. */
typedef struct run {
    const train_opts *o;
    const cli *cmd;
    train_mpi        *tm;
    const char       *pred_fmt;   /* --predict's format (NULL: no --predict) */
    bool              talk;       /* this process prints (MPI rank 0) */
    char              msg[HG_ERROR_MESSAGE_MAX];
    data              d, test;
    char              data_name[400];
    hg_model_desc     m;
    size_t            P;
    float            *params, *grad;
    hg_optimizer     *opt;
    hg_rng            rng;        /* the seed's generator: initialisation, split, epochs */
    size_t           *order;      /* d.rows: the training rows (shuffled every epoch),
                                     then the validation rows */
    size_t            ntrain, nval;
    trace             tr;
    metrics           mx;         /* --metrics (closed: every call a no-op) */
    hostprof          hp;         /* --profile-host (off: every call a no-op) */
    double            hp_mark;    /* --profile-host: the clock at the previous step's end */
    hg_device_step   *hp_dev;     /* --profile-host: per device of the engine, scratch */
    double            bar_ms;     /* the clock when the progress bar was last drawn */
    hg_engine        *e;
    hg_mpi           *ctx;        /* NULL: a single process */
    cols              cl;
    double            t0, setup_ms, train_ms;
    double           *dev_rows, *dev_ms; /* per column, the last epoch */
    uint64_t          step;
    size_t            first_epoch, last_epoch; /* this process trains first..last */
    double            best;       /* lowest validation loss so far, NAN: none */
    uint64_t          since_best; /* epochs since it */
    bool              stopped_early;
    double            final_loss, final_val_loss, final_acc, test_loss, test_acc;
    uint64_t          param_hash;
} run;

static void run_free(run *r)
{
#ifdef HG_HAVE_MPI
    if (r->tm->initialized) /* after MPI_Finalize (a failure ended MPI), it is left */
        hg_mpi_destroy(r->ctx);
#endif
    r->ctx = NULL;
    cols_free(&r->cl);
    hg_engine_destroy(r->e);
    if (r->tr.f)
        fclose(r->tr.f);
    free(r->tr.last_rows);
    char msg[HG_ERROR_MESSAGE_MAX];
    metrics_close(&r->mx, msg, sizeof msg); /* a failure was reported already */
    hostprof_free(&r->hp);
    free(r->hp_dev);
    hg_optimizer_destroy(r->opt);
    free(r->params);
    free(r->grad);
    free(r->order);
    free(r->dev_rows);
    free(r->dev_ms);
    data_free(&r->d);
    data_free(&r->test);
}

/* A failure of the run on this rank after MPI started: with MPI, hg_mpi_destroy first
   (HG_IO: the ranks cannot agree any more, the job ends). */
static int run_fail(run *r, hg_status st, const char *msg)
{
#ifdef HG_HAVE_MPI
    if (r->ctx) {
        if (st == HG_IO)
            tm_abort(r->tm, msg);
        fprintf(stderr, "hetgrad-train: rank %d of %d: %s\n", r->tm->rank, r->tm->size, msg);
        hg_mpi_destroy(r->ctx);
        r->ctx = NULL;
        return finish(r->tm, 1);
    }
#endif
    (void)st;
    return finish(r->tm, fail(msg));
}

/* The training data (and the test file, read with its features and classes). */
static int setup_data(run *r, const char *data_fmt, const char *test_fmt)
{
    const train_opts *o = r->o;
    data *d = &r->d;
    /* --metrics: created before any work (a bad path stops the run at once). */
    if (o->metrics && !metrics_open(&r->mx, o->metrics, o->metrics_every, r->msg,
                                    sizeof r->msg))
        return fail_start(r->tm, r->msg);
    if (o->data) {
        if (!load_file(o, o->data, o->labels, data_fmt, o->kind, NULL, d, r->msg,
                       sizeof r->msg))
            return fail_start(r->tm, r->msg);
        if (o->kind == HG_MODEL_LINEAR)
            snprintf(r->data_name, sizeof r->data_name, "%.300s (%zu x %zu%s, one target)",
                     o->data, d->rows, d->features, d->csr ? " sparse" : "");
        else
            snprintf(r->data_name, sizeof r->data_name, "%.300s (%zu x %zu%s, %zu classes)",
                     o->data, d->rows, d->features, d->csr ? " sparse" : "", d->classes);
    } else {
        if (!load_builtin(d, r->msg, sizeof r->msg))
            return fail_start(r->tm, r->msg);
        snprintf(r->data_name, sizeof r->data_name, "built-in digits (1797 x 64, %s)",
                 o->kind == HG_MODEL_LINEAR ? "the digit as target" : "10 classes");
    }
    if (o->kind == HG_MODEL_LINEAR) {
        d->classes = 1; /* one regression target: the label column as a number */
        free(d->class_labels);
        d->class_labels = NULL;
    }
    if (o->test) {
        /* the training data's features and classes, whatever the test file holds */
        hg_data_schema sc;
        hg_data_schema_init(&sc);
        sc.features = d->features;
        sc.classes = d->class_labels;
        sc.nclasses = d->class_labels ? d->classes : 0;
        sc.source = o->data ? o->data : "the built-in digits";
        if (!load_file(o, o->test, o->test_labels, test_fmt, o->kind, &sc, &r->test, r->msg,
                       sizeof r->msg))
            return fail_start(r->tm, r->msg);
    }
    return CLI_CONTINUE;
}

/*
 * --resume: the parameters, the optimizer, the generator, the row order, the epoch and
 * early stopping's state of the checkpoint replace the fresh run's.
 */
static int resume(run *r)
{
    const train_opts *o = r->o;
    hg_checkpoint *ck;
    hg_error err;
    if (hg_checkpoint_load(o->resume, &ck, &err) != HG_OK)
        return fail_start(r->tm, err.message);
    uint64_t epoch = 0;
    const size_t *order = NULL;
    size_t norder = 0;
    hg_optimizer *opt = NULL;
    hg_optimizer_options oo;
    hg_optimizer_options_init(&oo);
    bool ok = false;
    if (!hg_checkpoint_has_training(ck))
        snprintf(r->msg, sizeof r->msg, "%.300s holds parameters but no training state (a "
                 "--save file): --load FILE starts from them; --resume needs a --checkpoint "
                 "file", o->resume);
    else if (take_params(ck, o->resume, &r->m, r->d.class_labels, o->data, r->params, r->msg,
                         sizeof r->msg) &&
             hg_checkpoint_training(ck, &epoch, NULL, &r->rng, &order, &norder, &r->best,
                                    &r->since_best, &err) == HG_OK &&
             hg_checkpoint_optimizer(ck, &opt, &err) == HG_OK) {
        hg_optimizer_get_options(opt, &oo);
        if (norder != r->d.rows)
            snprintf(r->msg, sizeof r->msg, "%.300s was written for a data set of %zu rows; "
                     "this one has %zu", o->resume, norder, r->d.rows);
        else if (epoch >= o->epochs)
            snprintf(r->msg, sizeof r->msg, "%.300s has done %llu epochs: --epochs %zu leaves "
                     "none to run (--epochs is the total, not the epochs to add)", o->resume,
                     (unsigned long long)epoch, o->epochs);
        else if (oo.kind != o->opt)
            snprintf(r->msg, sizeof r->msg, "%.300s was written by a run with --optimizer %s, "
                     "this one has --optimizer %s", o->resume, optimizer_name(oo.kind),
                     optimizer_name(o->opt));
        else
            ok = true;
    } else if (!r->msg[0]) {
        snprintf(r->msg, sizeof r->msg, "%s", err.message);
    }
    if (ok) {
        memcpy(r->order, order, norder * sizeof *order);
        hg_optimizer_destroy(r->opt);
        r->opt = opt;
        r->step = hg_optimizer_steps(opt);
        r->first_epoch = (size_t)epoch + 1;
    } else {
        hg_optimizer_destroy(opt);
    }
    hg_checkpoint_destroy(ck);
    return ok ? CLI_CONTINUE : fail_start(r->tm, r->msg);
}

/* The model, its first parameters (seeded, --load or --resume), the optimizer and the
   train / validation split. */
static int setup_model(run *r)
{
    const train_opts *o = r->o;
    data *d = &r->d;
    hg_model_desc m = {.kind = o->kind, .inputs = d->features, .outputs = d->classes};
    if (o->kind == HG_MODEL_MLP) {
        m.nhidden = o->nhidden;
        memcpy(m.hidden, o->hidden, sizeof o->hidden);
    }
    r->m = m;
    hg_error err;
    if (hg_model_validate(&m, &err) != HG_OK)
        return fail_start(r->tm, err.message);
    r->P = hg_model_param_count(&m);
    r->params = malloc(r->P * sizeof *r->params);
    r->grad = malloc(r->P * sizeof *r->grad);
    r->order = malloc(d->rows * sizeof *r->order);
    if (!r->params || !r->grad || !r->order)
        return fail_start(r->tm, "out of memory");
    hg_optimizer_options oo;
    hg_optimizer_options_init(&oo);
    oo.kind = o->opt;
    oo.lr = o->lr;
    oo.momentum = o->momentum;
    oo.weight_decay = o->l2;
    hg_rng_seed(&r->rng, o->seed);
    if (hg_optimizer_create(&oo, &m, &r->opt, &err) != HG_OK ||
        hg_model_init_params(&m, &r->rng, r->params, &err) != HG_OK)
        return fail_start(r->tm, err.message);
    if (o->load) {
        hg_checkpoint *ck;
        if (hg_checkpoint_load(o->load, &ck, &err) != HG_OK)
            return fail_start(r->tm, err.message);
        bool ok = take_params(ck, o->load, &m, d->class_labels, o->data, r->params, r->msg,
                              sizeof r->msg);
        hg_checkpoint_destroy(ck);
        if (!ok)
            return fail_start(r->tm, r->msg);
    }
    /* Train / validation split. */
    for (size_t i = 0; i < d->rows; i++)
        r->order[i] = i;
    hg_rng_shuffle(&r->rng, r->order, d->rows);
    r->nval = (size_t)((double)d->rows * o->val_frac);
    if ((o->val_frac > 0 && r->nval == 0) || r->nval >= d->rows) {
        snprintf(r->msg, sizeof r->msg, "%.300s has %zu row%s: --val %g leaves %s; use more "
                 "rows, or --val 0 with --test FILE", o->data ? o->data : "the built-in data set",
                 d->rows, d->rows == 1 ? "" : "s", o->val_frac,
                 r->nval == 0 ? "no validation row" : "no training row");
        return fail_start(r->tm, r->msg);
    }
    r->ntrain = d->rows - r->nval;
    r->first_epoch = 1;
    r->best = NAN;
    return o->resume ? resume(r) : CLI_CONTINUE;
}

/* --metrics: the records list the run's devices (tools/metrics.h); true when m is not
   open, false with msg when out of memory. */
static bool metrics_start(metrics *m, const cols *c, char *msg, size_t n)
{
    if (!m->f)
        return true;
    metrics_device *md = calloc(c->n ? c->n : 1, sizeof *md);
    hg_device_profile *pf = calloc(c->n ? c->n : 1, sizeof *pf);
    bool ok = md && pf;
    for (size_t k = 0; ok && k < c->n; k++) {
        bool here = c->rank[k] == 0; /* with MPI, rank 0 alone writes the records */
        md[k].name = cols_name(c, k);
        md[k].id = here ? hg_engine_device(c->e, c->dev[k])->id : NULL;
        md[k].kernel = here && hg_engine_device_profile(c->e, c->dev[k], &pf[k]) == HG_OK
                           ? pf[k].kernel : NULL;
        md[k].rank = c->ctx ? c->rank[k] : -1;
    }
    if (ok)
        ok = metrics_begin(m, md, c->n, msg, n);
    else
        snprintf(msg, n, "out of memory");
    free(md);
    free(pf);
    return ok;
}

/* The engine on every selected device, calibrated and rebalanced every step; with MPI,
   the ranks combined and checked to hold the same data, split and parameters. */
static int setup_engine(run *r)
{
    const train_opts *o = r->o;
    const data *d = &r->d;
    /* The trace file first: a bad path stops the run before any work. */
    if (o->trace && !trace_open(&r->tr, o->trace)) {
        snprintf(r->msg, sizeof r->msg, "%s: %s", o->trace, strerror(errno));
        return fail_start(r->tm, r->msg);
    }
    r->t0 = now_ms();
    hg_options dev;
    hg_options_init(&dev);
    dev.devices = o->devices;
    dev.devices_source = "--devices";
    dev.keep_duplicates = o->keep_dups;
    cli_apply_log(r->cmd, &dev);
    hg_engine_options eo;
    hg_engine_options_init(&eo);
    eo.devices = &dev;
    eo.deterministic = o->deterministic;
    eo.batch_rows = o->batch; /* kernels chosen at the minibatch's size */
    /* the job: every epoch left over every row (the validation rows too, evaluated
       each epoch); a job shorter than a race keeps the default kernels */
    eo.work_rows = (o->epochs - (r->first_epoch - 1)) * d->rows;
    if (o->deterministic) {
        /* blocks from the batch alone (never from the devices): four per batch */
        size_t b = 16;
        while (b * 2 <= o->batch / 4 && b < 512)
            b *= 2;
        eo.block_rows = b;
    }
    hg_error err;
    hg_dataset_desc ds = dataset_of(d, o->kind);
    hg_csr_desc cs = d->csr ? csr_of(d, o->kind) : (hg_csr_desc){0}; /* LIBSVM kept sparse */
    if (hg_engine_create(&eo, &r->m, &r->e, &err) != HG_OK ||
        (d->csr ? hg_engine_set_data_csr(r->e, &cs, &err) : hg_engine_set_data(r->e, &ds, &err))
            != HG_OK ||
        hg_engine_calibrate(r->e, &err) != HG_OK ||
        hg_engine_set_split(r->e, HG_SPLIT_DYNAMIC, &err) != HG_OK) {
        if (r->tm->initialized)
            return fail_start_status(r->tm, err.status, err.message);
        snprintf(r->msg, sizeof r->msg, "%s: %.400s", hg_status_name(err.status), err.message);
        return fail(r->msg);
    }
#ifdef HG_HAVE_MPI
    if (r->tm->initialized) {
        hg_error ok;
        hg_error_clear(&ok);
        if (!tm_agree(r->tm, &ok, o->mpi_timeout, r->msg, sizeof r->msg)) {
            fprintf(stderr, "hetgrad-train: rank %d of %d: %s\n", r->tm->rank, r->tm->size,
                    r->msg);
            return finish(r->tm, 1);
        }
        hg_mpi_options mo;
        hg_mpi_options_init(&mo);
        mo.timeout_s = o->mpi_timeout;
        hg_status st = hg_mpi_create(MPI_COMM_WORLD, r->e, &r->m, &mo, &r->ctx, &err);
        if (st == HG_OK) {
            uint64_t h[3] = {d->csr ? hg_fnv1a64(d->csr->vals, d->csr->nnz * sizeof *d->csr->vals) ^
                                          hg_fnv1a64(d->csr->cols, d->csr->nnz * sizeof *d->csr->cols)
                                    : hg_fnv1a64(d->x, d->rows * d->features * sizeof *d->x),
                             hg_fnv1a64(r->order, d->rows * sizeof *r->order),
                             hg_fnv1a64(r->params, r->P * sizeof *r->params)};
            uint64_t start_hash = hg_fnv1a64(h, sizeof h);
            st = hg_mpi_check_same(r->ctx, "the data set, its split or the initial parameters",
                                   &start_hash, sizeof start_hash, NULL, &err);
        }
        if (st != HG_OK)
            return run_fail(r, st, err.message);
    }
#endif
    r->setup_ms = now_ms() - r->t0;
    if (!cols_init(&r->cl, r->e, r->ctx))
        return finish(r->tm, fail("out of memory"));
    size_t nd = r->cl.n ? r->cl.n : 1;
    r->dev_rows = calloc(nd, sizeof *r->dev_rows);
    r->dev_ms = calloc(nd, sizeof *r->dev_ms);
    if (!r->dev_rows || !r->dev_ms || (r->tr.f && !trace_begin(&r->tr, &r->cl, r->t0)))
        return finish(r->tm, fail("out of memory"));
    if (!metrics_start(&r->mx, &r->cl, r->msg, sizeof r->msg))
        return finish(r->tm, fail(r->msg));
    r->hp.on = o->profile_host;
    size_t nloc = hg_engine_device_count(r->e);
    if (r->hp.on && !(r->hp_dev = calloc(nloc ? nloc : 1, sizeof *r->hp_dev)))
        return finish(r->tm, fail("out of memory"));
    return CLI_CONTINUE;
}

/* The banner: model, data, devices (every rank's with MPI), set-up time. */
static void print_banner(const run *r)
{
    const train_opts *o = r->o;
    if (!r->talk || o->json)
        return;
    printf("hetgrad-train: %s on %s; %zu train / %zu validation rows\n",
           o->kind == HG_MODEL_MLP ? "MLP" : o->kind == HG_MODEL_LINEAR ? "linear regression"
                                                                       : "softmax regression",
           r->data_name, r->ntrain, r->nval);
    if (o->resume)
        printf("resumed from %s at epoch %zu of %zu (step %llu)\n", o->resume,
               r->first_epoch - 1, o->epochs, (unsigned long long)r->step);
    if (!r->ctx) {
        printf("devices:");
        for (size_t i = 0; i < r->cl.n; i++) {
            hg_device_profile pr;
            hg_engine_device_profile(r->e, i, &pr);
            /* the calibrated model's speed at a whole batch (a + b n), not its large-batch
               limit 1000 / b: at 128 rows POCL's pthread device makes a tenth of that */
            double ms = pr.fixed_ms + pr.ms_per_row * (double)o->batch;
            printf("%s [%zu] %s (%s, %.0f rows/s calibrated at %zu rows a step)", i ? "," : "",
                   i, hg_engine_device(r->e, i)->name,
                   hg_device_type_name(hg_engine_device(r->e, i)->type),
                   ms > 0 ? 1000.0 * (double)o->batch / ms : pr.rows_per_s, o->batch);
        }
        printf("\n");
    }
#ifdef HG_HAVE_MPI
    if (r->ctx) {
        printf("ranks: %d (MPI), rows split by measured capacity, rebalanced every step\n",
               r->tm->size);
        for (int k = 0; k < r->tm->size; k++) {
            hg_mpi_rank_info in;
            hg_mpi_rank_info_get(r->ctx, k, &in);
            printf("  rank %d (%s): %.0f rows/s calibrated:", k, in.host, in.rows_per_s);
            for (size_t c = 0; c < r->cl.n; c++)
                if (r->cl.rank[c] == k)
                    printf(" [%d:%zu] %s", k, r->cl.dev[c], cols_name(&r->cl, c));
            printf("\n");
        }
    }
#endif
    printf("set-up (devices, data, calibration) %.0f ms\n", r->setup_ms);
}

/* What one epoch measured. */
typedef struct epoch_stats {
    double loss_sum;  /* training loss summed over rows */
    double ms;        /* wall time of the gradient steps */
    double bal_sum;   /* sum over steps of busy / (active devices x slowest) */
    size_t bal_n;
} epoch_stats;

/* The device columns after a step: rows and time per device, and the balance. */
static void count_step(run *r, epoch_stats *es)
{
    double make = 0, busy = 0;
    size_t active = 0;
    for (size_t i = 0; i < r->cl.n; i++) {
        hg_device_step st;
        cols_step(&r->cl, i, &st);
        r->dev_rows[i] += (double)st.rows;
        r->dev_ms[i] += st.host_ms;
        metrics_device_step(&r->mx, i, &st);
        if (st.rows) {
            active++;
            busy += st.host_ms;
            make = st.host_ms > make ? st.host_ms : make;
        }
    }
    if (active && make > 0) {
        es->bal_sum += busy / ((double)active * make);
        es->bal_n++;
    }
}

/* The progress bar's least interval (ms): ten updates a second. */
#define BAR_MS 100.0

/* The progress bar on a terminal, after done rows of epoch ep. */
static void print_bar(const run *r, size_t ep, size_t done, const epoch_stats *es)
{
    const train_opts *o = r->o;
    int w = (int)(30.0 * (double)done / (double)r->ntrain);
    double rate = (double)done / (es->ms / 1e3);
    double eta = (double)(r->ntrain - done + (o->epochs - ep) * r->ntrain) / rate;
    printf("\r epoch %zu/%zu [%.*s%*s] %3.0f%% %7.0f rows/s ETA %4.0fs loss %.4f |", ep,
           o->epochs, w, "==============================", 30 - w, "",
           100.0 * (double)done / (double)r->ntrain, rate, eta, es->loss_sum / (double)done);
    for (size_t i = 0; i < r->cl.n; i++) {
        char tag[48];
        cols_label(&r->cl, i, tag, sizeof tag);
        printf(" %s %3.0f%%", tag, 100 * r->dev_rows[i] / (double)done);
    }
    fflush(stdout);
}

/* --profile-host: the parts of the step that just ran (its engine call took engine_ms,
   its optimizer update update_ms), kept and handed to --metrics. */
static void host_step(run *r, double engine_ms, double update_ms)
{
    double part[HOSTPROF_PARTS], now = now_ms();
    size_t n = hg_engine_device_count(r->e);
    for (size_t i = 0; i < n; i++)
        if (hg_engine_last_step(r->e, i, &r->hp_dev[i]) != HG_OK)
            r->hp_dev[i] = (hg_device_step){0};
    hostprof_split(r->hp_dev, n, engine_ms, part);
    part[HOSTPROF_UPDATE] = update_ms;
    part[HOSTPROF_STEP] = now - r->hp_mark;
    part[HOSTPROF_OTHER] = fmax(0, part[HOSTPROF_STEP] - engine_ms - update_ms);
    r->hp_mark = now;
    hostprof_add(&r->hp, part);
    metrics_host_step(&r->mx, part);
}

/* One pass over the shuffled training rows; CLI_CONTINUE or the exit status. */
static int train_epoch(run *r, size_t ep, bool bar, epoch_stats *es)
{
    const train_opts *o = r->o;
    hg_error err;
    memset(es, 0, sizeof *es);
    memset(r->dev_rows, 0, r->cl.n * sizeof *r->dev_rows);
    memset(r->dev_ms, 0, r->cl.n * sizeof *r->dev_ms);
    double lr = hg_lr_schedule_rate(&o->schedule, o->lr, ep - 1, o->epochs);
    if (hg_optimizer_set_lr(r->opt, lr, &err) != HG_OK) {
        snprintf(r->msg, sizeof r->msg, "epoch %zu: --lr-schedule gives a learning rate of "
                 "%g: %.300s", ep, lr, err.message);
        return run_fail(r, HG_INVALID_ARGUMENT, r->msg);
    }
    r->hp_mark = now_ms(); /* --profile-host: the shuffle is the first step's "other" */
    hg_rng_shuffle(&r->rng, r->order, r->ntrain);
    for (size_t s = 0; s < r->ntrain; s += o->batch) {
        size_t nb = r->ntrain - s < o->batch ? r->ntrain - s : o->batch;
        double loss, ts = now_ms();
        test_hooks(r->step + 1);
        hg_status gs;
        /* one call, gradient and update (hg_engine_step_rows), but across ranks and for
           --profile-host, which times the update apart: the same bits either way */
        bool one_call = !r->hp.on;
#ifdef HG_HAVE_MPI
        one_call = one_call && !r->ctx;
        if (r->ctx)
            gs = hg_mpi_gradient_rows(r->ctx, r->params, r->order + s, nb, r->grad, &loss, &err);
        else
#endif
        if (one_call)
            gs = hg_engine_step_rows(r->e, r->opt, r->params, r->order + s, nb, &loss, &err);
        else
            gs = hg_engine_gradient_rows(r->e, r->params, r->order + s, nb, r->grad, &loss,
                                         &err);
        if (gs != HG_OK) {
            snprintf(r->msg, sizeof r->msg, "epoch %zu: %s: %.400s", ep,
                     hg_status_name(err.status), err.message);
            return run_fail(r, gs, r->msg);
        }
        double wall = now_ms() - ts;
        es->ms += wall;
        es->loss_sum += loss * (double)nb;
        r->step++;
        double tu = now_ms();
        count_step(r, es);
        double tq = now_ms();
        if (!one_call)
            hg_optimizer_step(r->opt, r->params, r->grad);
        if (r->hp.on)
            host_step(r, wall, now_ms() - tq);
        metrics_step(&r->mx, ep, r->step, nb, loss, wall);
        if (r->tr.f)
            trace_step(&r->tr, &r->cl, r->step, ts, wall, now_ms() - tu);
        /* the bar at most every BAR_MS (a line and a flush per step cost more than a
           small step's host work) and at the epoch's last step */
        if (bar && (s + nb == r->ntrain || now_ms() - r->bar_ms >= BAR_MS)) {
            print_bar(r, ep, s + nb, es);
            r->bar_ms = now_ms();
        }
    }
    if (bar)
        printf("\r\033[K");
    return CLI_CONTINUE;
}

/* The line of epoch ep. */
static void print_epoch(const run *r, size_t ep, const epoch_stats *es)
{
    const train_opts *o = r->o;
    printf("epoch %3zu/%zu  loss %.4f", ep, o->epochs, r->final_loss);
    if (r->nval) /* --val 0: no validation to report */
        printf("  val loss %.4f  val acc %5.1f%%", r->final_val_loss, 100 * r->final_acc);
    printf("  %7.0f rows/s  balance %.2f |", (double)r->ntrain / (es->ms / 1e3),
           es->bal_n ? es->bal_sum / (double)es->bal_n : 1.0);
    for (size_t i = 0; i < r->cl.n; i++) {
        char tag[48];
        cols_label(&r->cl, i, tag, sizeof tag);
        printf(" %s %4.1f%% %6.0f rows/s", tag, 100 * r->dev_rows[i] / (double)r->ntrain,
               r->dev_ms[i] > 0 ? r->dev_rows[i] / (r->dev_ms[i] / 1e3) : 0);
    }
    printf("\n");
    fflush(stdout);
}

/* After epoch ep: validation, early stopping's count, the epoch's line, the checkpoint.
   CLI_CONTINUE or the exit status. */
static int end_epoch(run *r, size_t ep, const epoch_stats *es)
{
    const train_opts *o = r->o;
    hg_error err;
    r->train_ms += es->ms;
    r->final_loss = es->loss_sum / (double)r->ntrain;
    r->final_val_loss = r->final_acc = NAN;
    if (r->nval) {
        double vloss;
        size_t correct;
        if (evaluate(&r->m, r->params, &r->d, r->order + r->ntrain, r->nval, &vloss, &correct,
                     &err) != HG_OK)
            return run_fail(r, err.status, err.message);
        r->final_val_loss = vloss / (double)r->nval;
        r->final_acc = (double)correct / (double)r->nval;
        if (isnan(r->best) || r->final_val_loss < r->best) {
            r->best = r->final_val_loss;
            r->since_best = 0;
        } else {
            r->since_best++;
        }
    }
    if (r->mx.f) { /* --metrics: the training accuracy too (a host pass over the rows) */
        double tloss;
        size_t tcorrect;
        if (evaluate(&r->m, r->params, &r->d, r->order, r->ntrain, &tloss, &tcorrect,
                     &err) != HG_OK)
            return run_fail(r, err.status, err.message);
        metrics_epoch(&r->mx, ep, r->step, r->final_val_loss, r->final_acc,
                      (double)tcorrect / (double)r->ntrain);
    }
    r->last_epoch = ep;
    r->stopped_early = o->patience && r->since_best >= o->patience && ep < o->epochs;
    if (r->talk && !o->json && !o->quiet)
        print_epoch(r, ep, es);
    if (o->checkpoint &&
        (ep % o->checkpoint_every == 0 || ep == o->epochs || r->stopped_early) &&
        !save_file(o->checkpoint, &r->m, r->params, r->d.class_labels, r->opt, ep, &r->rng,
                   r->order, r->d.rows, r->best, r->since_best, r->msg, sizeof r->msg))
        return run_fail(r, HG_IO, r->msg);
    if (r->stopped_early && r->talk && !o->json && !o->quiet)
        printf("early stop after epoch %zu: no lower validation loss for %zu epochs (best "
               "%.4f)\n", ep, o->patience, r->best);
    return CLI_CONTINUE;
}

/* The epochs: first_epoch to --epochs, or fewer when early stopping ends them. */
static int run_epochs(run *r)
{
    print_banner(r);
    /* no progress bar across ranks: mpirun hands every rank a terminal even
       when the job's own output goes to a pipe or a file */
    bool bar = r->talk && !r->o->json && !r->o->quiet && !r->ctx && isatty(STDOUT_FILENO);
    for (size_t ep = r->first_epoch; ep <= r->o->epochs; ep++) {
        epoch_stats es;
        int rc = train_epoch(r, ep, bar, &es);
        if (rc == CLI_CONTINUE)
            rc = end_epoch(r, ep, &es);
        if (rc != CLI_CONTINUE)
            return rc;
        if (r->stopped_early)
            break;
    }
    return CLI_CONTINUE;
}

/* The --json summary of a run. */
static int print_json(const run *r)
{
    const train_opts *o = r->o;
    const cols *cl = &r->cl;
    json_out j;
    json_init(&j, stdout);
    json_begin_object(&j);
    json_key(&j, "schema"); json_string(&j, "hetgrad-train/1");
    json_key(&j, "data"); json_string(&j, r->data_name);
    json_key(&j, "model"); json_string(&j, model_name(o->kind));
    json_key(&j, "epochs"); json_u64(&j, o->epochs);
    json_key(&j, "train_rows"); json_u64(&j, r->ntrain);
    json_key(&j, "val_rows"); json_u64(&j, r->nval);
    json_key(&j, "final_loss"); json_double(&j, r->final_loss);
    json_key(&j, "val_loss"); json_double(&j, r->final_val_loss);
    json_key(&j, "val_accuracy"); json_double(&j, r->final_acc);
    json_key(&j, "test_loss"); json_double(&j, r->test_loss);
    json_key(&j, "test_accuracy"); json_double(&j, r->test_acc);
    json_key(&j, "setup_ms"); json_double(&j, r->setup_ms);
    json_key(&j, "train_ms"); json_double(&j, r->train_ms);
    size_t ran = r->last_epoch + 1 - r->first_epoch;
    json_key(&j, "rows_per_s");
    json_double(&j, (double)(r->ntrain * ran) / (r->train_ms / 1e3));
    char hex[24];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)r->param_hash);
    json_key(&j, "param_hash"); json_string(&j, hex);
    json_key(&j, "ranks"); json_u64(&j, (uint64_t)r->tm->size);
    json_key(&j, "deterministic"); json_bool(&j, o->deterministic);
    json_key(&j, "epochs_done"); json_u64(&j, r->last_epoch);
    json_key(&j, "stopped_early"); json_bool(&j, r->stopped_early);
    json_key(&j, "devices");
    json_begin_array(&j);
    for (size_t i = 0; i < cl->n; i++) {
        const char *why = NULL;
        bool here = cl->rank[i] == r->tm->rank; /* another rank's devices: name and share */
        json_begin_object(&j);
        json_key(&j, "name"); json_string(&j, cols_name(cl, i));
        json_key(&j, "id"); json_string(&j, here ? hg_engine_device(r->e, cl->dev[i])->id : NULL);
        if (r->ctx) {
            json_key(&j, "rank"); json_u64(&j, (uint64_t)cl->rank[i]);
        }
        json_key(&j, "kernel");
        if (here) {
            hg_device_profile pf;
            hg_engine_device_profile(r->e, cl->dev[i], &pf);
            json_string(&j, pf.kernel);
        } else {
            json_null(&j);
        }
        json_key(&j, "share_last_epoch"); json_double(&j, r->dev_rows[i] / (double)r->ntrain);
        json_key(&j, "rows_per_s_last_epoch");
        json_double(&j, r->dev_ms[i] > 0 ? r->dev_rows[i] / (r->dev_ms[i] / 1e3) : 0);
        json_key(&j, "quarantined");
        if (here)
            json_bool(&j, hg_engine_quarantined(r->e, cl->dev[i], &why));
        else
            json_null(&j);
        json_key(&j, "quarantine_reason"); json_string(&j, why);
        json_end_object(&j);
    }
    json_end_array(&j);
    json_end_object(&j);
    return json_finish(&j) ? 0 : fail("writing the JSON summary to stdout failed");
}

/* A duration for people: "35 ms", "4.2 ms" or "12.3 s" (a short run is not "0.0 s"). */
static const char *duration(char *buf, size_t n, double ms)
{
    if (ms < 10)
        snprintf(buf, n, "%.1f ms", ms);
    else if (ms < 1000)
        snprintf(buf, n, "%.0f ms", ms);
    else
        snprintf(buf, n, "%.1f s", ms / 1e3);
    return buf;
}

/* The closing lines of a run on a terminal (rank 0). */
static void print_done(const run *r)
{
    const train_opts *o = r->o;
    const cols *cl = &r->cl;
    char took[32];
    duration(took, sizeof took, r->train_ms);
    if (r->nval)
        printf("done: val accuracy %.1f%%, val loss %.4f, %s of training\n",
               100 * r->final_acc, r->final_val_loss, took);
    else
        printf("done: training loss %.4f, %s of training (no validation: --val 0)\n",
               r->final_loss, took);
    if (o->test)
        printf("test (%s): accuracy %.1f%%, loss %.4f\n", o->test, 100 * r->test_acc,
               r->test_loss);
    if (!r->ctx)
        return;
    /* Each rank's share of the last epoch, and its devices'. */
    for (int k = 0; k < r->tm->size; k++) {
        double rows = 0;
        for (size_t i = 0; i < cl->n; i++)
            rows += cl->rank[i] == k ? r->dev_rows[i] : 0;
        printf("rank %d: %5.1f%% of the rows |", k, 100 * rows / (double)r->ntrain);
        for (size_t i = 0; i < cl->n; i++)
            if (cl->rank[i] == k)
                printf(" [%d:%zu] %4.1f%% %6.0f rows/s", k, cl->dev[i],
                       100 * r->dev_rows[i] / (double)r->ntrain,
                       r->dev_ms[i] > 0 ? r->dev_rows[i] / (r->dev_ms[i] / 1e3) : 0);
        printf("\n");
    }
    printf("parameters: identical on all %d ranks (FNV-1a 64 %016llx)\n", r->tm->size,
           (unsigned long long)r->param_hash);
}

/* The end of a run: the ranks' parameters compared, the test file, --save, the trace,
   the summary.  Returns the exit status. */
static int run_report(run *r)
{
    const train_opts *o = r->o;
    hg_error err;
    /* Every rank must end with the same parameter bits: each hashes its own, rank 0
       checks they agree. */
    r->param_hash = hg_fnv1a64(r->params, r->P * sizeof *r->params);
#ifdef HG_HAVE_MPI
    if (r->ctx && hg_mpi_check_same(r->ctx, "the final parameters", r->params,
                                    r->P * sizeof *r->params, &r->param_hash, &err) != HG_OK)
        return run_fail(r, err.status, err.message);
#endif
    r->test_acc = r->test_loss = NAN;
    if (o->test) {
        size_t correct;
        if (evaluate(&r->m, r->params, &r->test, NULL, r->test.rows, &r->test_loss, &correct,
                     &err) != HG_OK)
            return fail(err.message);
        r->test_acc = (double)correct / (double)r->test.rows;
        r->test_loss /= (double)r->test.rows;
    }
    if (o->save && !save_file(o->save, &r->m, r->params, r->d.class_labels, NULL, 0, NULL,
                              NULL, 0, 0, 0, r->msg, sizeof r->msg))
        return fail(r->msg);
    if (o->predict && r->tm->rank == 0 &&
        !train_predict_file(o, r->pred_fmt, &r->m, r->params, &r->d, r->e, r->msg,
                            sizeof r->msg))
        return fail(r->msg);
    if (!trace_close(&r->tr)) {
        snprintf(r->msg, sizeof r->msg, "%s: write failed", o->trace);
        return fail(r->msg);
    }
    /* a failed --metrics write: the results are still reported, then exit 1 */
    char mx_msg[HG_ERROR_MESSAGE_MAX];
    bool mx_ok = metrics_close(&r->mx, mx_msg, sizeof mx_msg);
    int rc = 0;
    if (o->json)
        rc = print_json(r);
    else if (r->talk)
        print_done(r);
    fflush(stdout);
    if (r->talk)
        hostprof_print(&r->hp, stderr);
    if (!mx_ok)
        rc = fail(mx_msg);
    return rc;
}

/* ---- main ------------------------------------------------------------------------- */

/* Usage errors that need no file read (exit 2), and the formats of --data, --test and
   --predict into *data_fmt, *test_fmt and *pred_fmt.  CLI_CONTINUE or the exit status. */
static int check_usage(train_opts *o, const cli *cmd, const char **data_fmt,
                       const char **test_fmt, const char **pred_fmt)
{
    char msg[HG_ERROR_MESSAGE_MAX];
    if (o->lr < 0)
        o->lr = o->opt == HG_OPTIMIZER_ADAM ? 0.05 : 0.1;
    if (o->epochs == 0 && (!o->load || !(o->test || o->predict)))
        return cli_usage_error(cmd, "--epochs 0 evaluates a saved model without training: "
                               "it needs --load FILE and --test FILE (or --predict FILE)");
    if (!o->predict != !o->out)
        return cli_usage_error(cmd, "--predict FILE and --out PRED.csv go together");
    const char *unused = o->data ? "--data" : o->labels ? "--labels" : o->trace ? "--trace"
                         : o->metrics ? "--metrics" : o->checkpoint ? "--checkpoint"
                         : o->resume ? "--resume" : o->patience ? "--patience" : NULL;
    if (o->epochs == 0 && unused)
        return cli_usage_error(cmd, "--epochs 0 trains nothing, so %s is not used: the "
                               "model, its features and classes come from --load", unused);
    if (o->metrics_every_given && !o->metrics)
        return cli_usage_error(cmd, "--metrics-every sets how often --metrics FILE is "
                               "written: it needs --metrics FILE");
    if (o->epochs > 0 && o->val_frac == 0 && !o->test)
        return cli_usage_error(cmd, "--val 0 needs --test FILE: nothing else would measure "
                               "the model");
    if (o->patience && o->val_frac == 0)
        return cli_usage_error(cmd, "--patience stops on the validation loss: it needs "
                               "validation rows (--val above 0)");
    if (o->load && o->resume)
        return cli_usage_error(cmd, "--load and --resume both give the starting parameters: "
                               "--resume FILE continues a --checkpoint FILE, --load FILE "
                               "starts a new run from a model");
    if (o->data && !(*data_fmt = data_format(o, o->data, o->labels, "--labels", msg, sizeof msg)))
        return cli_usage_error(cmd, "%s", msg);
    if (o->test && !o->format && !o->test_labels && *data_fmt && !strcmp(*data_fmt, "idx"))
        return cli_usage_error(cmd, "%.300s: the training data is IDX, so --test needs its "
                               "labels file too: --test-labels FILE", o->test);
    if (o->test && !(*test_fmt = data_format(o, o->test, o->test_labels, "--test-labels", msg,
                                             sizeof msg)))
        return cli_usage_error(cmd, "%s", msg);
    if (o->predict &&
        !(*pred_fmt = data_format(o, o->predict, NULL, "--predict", msg, sizeof msg)))
        return cli_usage_error(cmd, "%s", msg);
    return CLI_CONTINUE;
}

/* MPI: only under an MPI launcher or with --mpi (docs/mpi.md).  CLI_CONTINUE or the exit
   status. */
static int start_mpi(train_opts *o, train_mpi *tm, int *argc, char ***argv)
{
    char msg[HG_ERROR_MESSAGE_MAX];
    int launched = tm_launched_size();
#ifdef HG_HAVE_MPI
    if (launched > 0 || o->mpi) {
        if (!tm_init(tm, argc, argv, msg, sizeof msg))
            return finish(tm, fail(msg));
        if (tm->rank != 0) { /* rank 0 speaks for the job */
            o->quiet = true;
            o->json = false;
            o->save = NULL;
            o->trace = NULL;
            o->metrics = NULL;
            o->checkpoint = NULL;
        }
    }
#else
    (void)tm;
    (void)argc;
    (void)argv;
    if (o->mpi || launched > 1) {
        snprintf(msg, sizeof msg, "this hetgrad-train was built without MPI%s; rebuild with "
                 "Open MPI installed (docs/mpi.md)", launched > 1 ? ", but an MPI launcher "
                 "started several ranks" : " (--mpi)");
        return fail(msg);
    }
#endif
    return CLI_CONTINUE;
}

/* --save and --checkpoint must be possible before any work is done for them. */
static int check_targets(const train_opts *o, train_mpi *tm, const cli *cmd)
{
    const char *path[2] = {o->save, o->checkpoint};
    for (int i = 0; i < 2; i++) {
        hg_error err;
        if (path[i] && hg_checkpoint_check_target(path[i], &err) != HG_OK)
            return usage_start(tm, cmd, err.message);
    }
    return CLI_CONTINUE;
}

int main(int argc, char **argv)
{
    tool_pin_pocl_threads(); /* before any OpenCL runtime loads (tools/pocl_pin.h) */
    train_opts o = {.label_col = -1, .kind = HG_MODEL_SOFTMAX, .nhidden = 1,
                    .opt = HG_OPTIMIZER_ADAM, .lr = -1, .momentum = 0.9, .epochs = 40,
                    .batch = 128, .seed = 1, .val_frac = 0.2, .mpi_timeout = 120,
                    .checkpoint_every = 1};
    o.hidden[0] = 64;
    cli cmd;
    int rc = parse_args(argc, argv, &o, &cmd);
    const char *data_fmt = NULL, *test_fmt = NULL, *pred_fmt = NULL;
    if (rc == CLI_CONTINUE)
        rc = check_usage(&o, &cmd, &data_fmt, &test_fmt, &pred_fmt);
    if (rc != CLI_CONTINUE)
        return rc;
    train_mpi tm = {.rank = 0, .size = 1, .initialized = false};
    rc = start_mpi(&o, &tm, &argc, &argv);
    if (rc == CLI_CONTINUE)
        rc = check_targets(&o, &tm, &cmd);
    if (rc != CLI_CONTINUE)
        return rc;
    if (o.epochs == 0)
        return finish(&tm, evaluate_only(&o, test_fmt, pred_fmt, &tm, tm.rank == 0));
    run r = {.o = &o, .cmd = &cmd, .tm = &tm, .talk = tm.rank == 0, .pred_fmt = pred_fmt};
    rc = setup_data(&r, data_fmt, test_fmt);
    if (rc == CLI_CONTINUE)
        rc = setup_model(&r);
    if (rc == CLI_CONTINUE)
        rc = setup_engine(&r);
    if (rc == CLI_CONTINUE)
        rc = run_epochs(&r);
    if (rc == CLI_CONTINUE)
        rc = run_report(&r);
    run_free(&r);
    return finish(&tm, rc);
}
