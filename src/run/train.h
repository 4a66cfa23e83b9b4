/* harness/train — the training loop of `epr train` (one readable loop:
 * batch, decode, forward, backward, rate, allreduce, update, EMA), its
 * evaluation and its final report.
 * May call: every lower layer, MPI, HDF5 (run files), config, data. */
#ifndef EPR_HARNESS_TRAIN_H
#define EPR_HARNESS_TRAIN_H

#include <stdio.h>

#include "nn/nn.h"
#include "run/config.h"
#include "run/dataset.h"

/* What runs after training on rank 0, once /final is written, with the EMA
 * weights in the network: the study layer's post-training baselines
 * ([baseline] post; `epr train` passes study/baseline.h's
 * baseline_after_training).  The run layer cannot call the study layer, so
 * the command line hands it down. */
typedef int (*train_after_fn)(nn_model *net, const cfg_experiment *cfg, const char *arch, dataset *test,
                              const char *dir, long steps, double wall_seconds, FILE *log, epr_err *err);

typedef struct {
    const char *out_dir;   /* run directory (created) */
    const char *resume;    /* checkpoint to resume from, or NULL */
    int quiet;
    train_after_fn after_training; /* NULL: nothing after training */
} train_opts;

typedef struct {
    double test_error;        /* EMA weights (quantised when EPR is on), fraction */
    double test_error_raw;    /* raw (non-EMA) weights */
    double rate_exact_bits;   /* EPR only */
    long file_bytes;          /* .epr size, EPR only */
    double test_error_file;   /* error of the network decoded from the .epr */
    unsigned predictions_crc; /* CRC32 of the decoded network's test predictions */
    double size_parts[9];     /* .epr bytes: header, arch, decoder, tables, index, coded, extras, crc, total */
    long steps;
} train_result;

/* train_run returns this (> 0) when SIGTERM/SIGUSR1 stopped the run after a
 * checkpoint; `epr train` exits with status 75 then (EX_TEMPFAIL). */
#define TRAIN_STOPPED 75

/* Runs on every rank of MPI_COMM_WORLD (MPI must be initialised). */
int train_run(const cfg_experiment *cfg, const train_opts *opts, train_result *res, epr_err *err);

#endif
