/* run/train — the training loop of `epr train` (one readable loop:
 * batch, decode, forward, backward, rate, allreduce, update, EMA), its
 * evaluation and its final report.
 * May call: every lower layer, MPI, HDF5 (run files), config, data. */
#ifndef EPR_HARNESS_TRAIN_H
#define EPR_HARNESS_TRAIN_H

#include <stdio.h>

#include "epr/epr_model.h"
#include "nn/nn.h"
#include "run/bitstream.h"
#include "run/config.h"
#include "run/dataset.h"

/* What runs after training on rank 0, once /final is written, with the EMA
 * weights in the network: the study layer's post-training baselines
 * ([baseline] post; `epr train` passes study/baseline.h's
 * baseline_after_training).  The run layer cannot call the study layer, so
 * the command line hands it down.  ev: who evaluates the files it writes
 * (the run's GPU with [train] file_eval = device; NULL: the CPU). */
typedef int (*train_after_fn)(nn_model *net, const cfg_experiment *cfg, const char *arch, dataset *test,
                              const bitstream_evaluator *ev, const char *dir, long steps, double wall_seconds,
                              FILE *log, epr_err *err);

typedef struct {
    const char *out_dir; /* run directory (created); NULL for a trainer without run files */
    const char *resume;  /* checkpoint to resume from, or NULL */
    int force;           /* out_dir may hold a run (run.h5, model.epr): replace it (epr train --force);
                              without it and without resume such a directory is refused */
    int quiet;
    train_after_fn after_training; /* NULL: nothing after training */
    int phase_cpu;                 /* trainer_times: also process CPU seconds (benchmarks) */
} train_opts;

typedef struct {
    double test_error;              /* EMA weights (quantised when EPR is on), fraction */
    double test_error_raw;          /* raw (non-EMA) weights */
    double rate_exact_bits;         /* EPR only */
    long file_bytes;                /* .epr size, EPR only */
    double test_error_file;         /* error of the network decoded from the .epr */
    unsigned predictions_crc;       /* CRC32 of the decoded network's test predictions */
    long device_predictions_differ; /* [train] device = cuda, EPR: test predictions of the device's final
                                       evaluation (quantised EMA) that differ from those of the .epr decoded
                                       on the CPU; -1 otherwise */
    double size_parts[9];           /* .epr bytes: header, arch, decoder, tables, index, coded, extras, crc, total */
    long steps;
    /* [data] validation (docs/validation.md): the errors of both weight sets
     * on the held-out images, and which one was written (chosen on
     * validation; without it: the EMA when there is one) */
    double validation_error_ema, validation_error_raw; /* NaN without validation */
    int chose_raw;
} train_result;

/* train_run returns this (> 0) when SIGTERM/SIGUSR1 stopped the run after a
 * checkpoint; `epr train` exits with status 75 then (EX_TEMPFAIL). */
#define TRAIN_STOPPED 75

/* Runs on every rank of MPI_COMM_WORLD (MPI must be initialised). */
int train_run(const cfg_experiment *cfg, const train_opts *opts, train_result *res, epr_err *err);

/* ---- the training step: one home for `epr train`, bench_train and the tests ----
 *
 * A trainer is one rank's state (network, EPR model, optimizer states, EMA,
 * sampler, data).  trainer_step is the step of the design (DESIGN.md §2):
 *   batch       sampler slice of global batch t, gather (+ augmentation)
 *   decode      θ = f(round(ϑ/s)) for compressed tensors
 *   forward, backward (gradient scale 1/B), decoder backward dθ → dϑ, dΨ
 *   rate        λ·∂rate/∂(ϑ, log s, density) on this rank's rows
 *   allreduce   one in-place MPI_Allreduce of the gradient block + metrics
 *   update      network optimizer (Ψ by Adam under SGD), rank 0 density
 *               Adam + broadcast, pruning / weight sharing ties
 *   EMA         TensorFlow-style warm-up, capped at [train] ema
 * With MPI not initialised a trainer is rank 0 of 1 and makes no MPI call.
 * With [train] device = cuda (a build with -DEPR_CUDA=ON) the step runs on
 * the rank's GPU and only the input batch and a few scalars move per step
 * (several ranks: the gradient block is staged through the host for the
 * allreduce); see docs/gpu.md. */

/* Per-step metrics, summed over ranks by the allreduce. */
enum { SLOT_CE, SLOT_RATE, SLOT_ERRORS, SLOT_SAMPLES, SLOT_STOP, SLOT_FAIL, N_SLOTS };

/* Wall seconds in each part of trainer_step, summed over the steps taken
 * (the *_cpu ones only with train_opts.phase_cpu). */
typedef struct {
    double batch, net, rate, comm, update;
    double net_cpu, rate_cpu;
} trainer_times;

typedef struct trainer trainer;

/* A trainer for cfg.  train / test: data sets to use (moved into the
 * trainer, even on failure: *train and *test are left empty; test may be
 * NULL: no test set), or train NULL to load the experiment's [data].  opts may be NULL (quiet, no
 * run directory); opts->out_dir, when set, is created (rank 0).  cfg and
 * opts must outlive the trainer.  *out is NULL on failure. */
int trainer_create(const cfg_experiment *cfg, const train_opts *opts, dataset *train, dataset *test, trainer **out,
                   epr_err *err);
/* One optimizer step; m[] receives the step's metrics summed over ranks. */
void trainer_step(trainer *t, double m[N_SLOTS]);
/* Test error (fraction) of the network as it stands, or (ema) with the EMA
 * weights swapped in (quantised when EPR is on). */
double trainer_test_error(trainer *t, int ema);
long trainer_steps(const trainer *t);
/* The EPR model (train block) as it stands; with [train] device = cuda the
 * device state is first copied into the host arrays (train block,
 * optimizer states, EMA, batch-norm buffers). */
rp_model *trainer_model(trainer *t);
const trainer_times *trainer_phase_times(const trainer *t);
void trainer_free(trainer *t);

#endif
