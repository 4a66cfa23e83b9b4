/* run/train_internal.h — the trainer's state, shared by the training
 * loop (train.c) and the run file / checkpoint code (checkpoint.c). */
#ifndef EPR_HARNESS_TRAIN_INTERNAL_H
#define EPR_HARNESS_TRAIN_INTERNAL_H

#include <stdio.h>

#include "epr/epr_model.h"
#include "run/config.h"
#include "run/dataset.h"
#include "run/phi_hold.h"
#include "run/prune.h"
#include "run/fsutil.h"
#include "run/schedule.h"
#include "run/train.h"
#include "nn/nn.h"

/* One row per log point (and per evaluation between them). */
enum {
    CURVE_STEP,
    CURVE_LOSS,
    CURVE_CE,
    CURVE_RATE_NOISY,
    CURVE_RATE_EXACT,
    CURVE_TRAIN_ERROR,
    CURVE_TEST_ERROR,
    CURVE_IMAGES_PER_S,
    CURVE_VALIDATION_ERROR,
    N_CURVES
};
extern const char *const CURVE_NAMES[N_CURVES];

struct trainer {
    const cfg_experiment *cfg;
    cfg_experiment *cfg_own; /* cfg with the groups' tensor patterns expanded (when it has any), else NULL */
    const train_opts *opts;
    int rank, nranks;
    dataset train, test;
    dataset valid; /* [data] validation: held out of the training set (n = 0: none) */
    nn_model *net;
    epr_model *em;
    sampler smp;
    float *x;
    int *y;
    uint32_t *idx;
    float *opt1, *opt2;   /* network optimizer state (Adam m, v / SGD buf) */
    float *dens1, *dens2; /* density Adam state (rank 0 only, DESIGN §3) */
    float *dec1, *dec2;   /* Ψ Adam state when the network optimizer is SGD */
    size_t psi_begin, psi_end;
    float *ema, *backup;
    prune_state *pr; /* Deep Compression baseline ([baseline] prune / kmeans_bits), else NULL */
    nn_adam net_adam, dens_adam, dec_adam;
    schedule_point sched; /* lr, λ and phase of the current step (run/schedule.h) */
    phi_hold *hold;       /* [epr] freeze_phi_steps > 0, else NULL */
    long step;
    /* log accumulators since the last log point (part of the checkpoint so
     * that a resumed run logs the same numbers) */
    double acc[N_SLOTS];
    long acc_steps;
    /* curves (rank 0), preallocated for the whole run */
    double *curves[N_CURVES];
    size_t n_rows, cap_rows;
    double wall_before; /* training seconds of the runs before a resume */
    double step_s;        /* time in trainer_step */
    trainer_times times;  /* and in its parts (comm: allreduce + broadcast) */
    long timed_steps;
    char run_path[1200], epr_path[1200];
    fs_lock lock;    /* rank 0: the run directory's (fsutil.h), held while the trainer lives */
    char *arch_text; /* bitstream architecture text (input shape, normalisation, layers) */
};

/* Write OUT/run.h5 atomically: configuration, train block, EMA, optimizer
 * state, batch-norm buffers, curves; /final when fin != NULL.  Rank 0. */
int checkpoint_write(trainer *t, const train_result *fin, double wall, epr_err *err);
/* Restore a trainer (already set up from the same experiment) from a run
 * file.  Rank 0 reads; everything every rank holds is broadcast. */
int checkpoint_resume(trainer *t, const char *path, epr_err *err);

#endif
