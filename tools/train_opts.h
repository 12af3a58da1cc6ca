/* SPDX-License-Identifier: MIT */
/*
 * train_opts.h - hetgrad-train's options, as parsed from its command line (train.c).
 */
#ifndef HG_TOOLS_TRAIN_OPTS_H
#define HG_TOOLS_TRAIN_OPTS_H

#include <stdbool.h>
#include <stddef.h>

#include <hetgrad.h>

typedef struct train_opts {
    hg_model_kind kind;
    size_t hidden[HG_MAX_HIDDEN], nhidden;
    hg_optimizer_kind opt;
    double lr, momentum, l2;
    hg_lr_schedule schedule;  /* --lr-schedule */
    size_t epochs, batch;
    size_t patience;          /* --patience: 0 = no early stopping */
    size_t checkpoint_every;  /* --checkpoint-every */
    unsigned long long seed;
    double val_frac;
    bool json, quiet, keep_dups, header, deterministic;
    bool dense;         /* --dense: densify LIBSVM data even where the model can use CSR */
    bool model_given, hidden_given; /* --model, --hidden given (--epochs 0 checks the file) */
    bool opt_given;           /* --optimizer given */
    bool mpi;           /* --mpi: start MPI even without a launcher's environment */
    double mpi_timeout; /* --mpi-timeout: seconds a rank waits for the others */
    const char *devices, *save, *load, *trace, *checkpoint, *resume;
    const char *metrics;      /* --metrics FILE (tools/metrics.h) */
    size_t metrics_every;     /* --metrics-every N: a step record every N steps */
    bool metrics_every_given;
    bool profile_host;        /* --profile-host: time the host side of every step */
    const char *data, *format, *labels, *test, *test_labels;
    const char *predict, *out; /* --predict FILE --out PRED.csv (tools/predict.c) */
    long label_col;
    char delimiter; /* --delimiter: ',' (default), ';', '|' or '\t' */
} train_opts;

#endif /* HG_TOOLS_TRAIN_OPTS_H */
