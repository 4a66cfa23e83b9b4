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

/* The arrays a step updates, as one view: host pointers on the CPU path,
 * device pointers on the device path.  p, g: train and gradient block
 * (epr_model layout); opt1/opt2: network optimizer state; dec1/dec2: Ψ Adam
 * state under SGD; dens1/dens2: density Adam state (rank 0); ema/backup:
 * network segment (NULL without EMA). */
typedef struct {
    float *p, *g, *opt1, *opt2, *dec1, *dec2, *dens1, *dens2, *ema, *backup;
} trainer_arrays;

/* ---- the device path (run/train_cuda.c, compiled with -DEPR_CUDA=ON) ----
 * train.c runs the same step on either side: the parts that differ go
 * through these operations; t->dev is NULL on the CPU path. */
typedef struct trainer_dev trainer_dev;
typedef struct {
    /* this step's input batch on the device (prefetched during the last
     * step when possible); returns the rank's sample count */
    int (*batch)(trainer *t);
    /* decode, forward (training), backward (scale 1/batch), decoder
     * backward; the next step's batch is prefetched meanwhile */
    void (*net)(trainer *t, int n, double *ce, int *wrong);
    double (*rate)(trainer *t, double lambda); /* noisy rate of this rank's rows (lambda: t->sched's) */
    /* copy n floats at off of the train block (grads = 0) or gradient
     * block (grads = 1) between the host epr_model and the device */
    void (*to_host)(trainer *t, int grads, size_t off, size_t n);
    void (*to_device)(trainer *t, int grads, size_t off, size_t n);
    void (*adam)(trainer *t, nn_adam *o, float *w, const float *g, float *m1, float *m2, size_t n);
    void (*sgd)(trainer *t, const nn_sgd *o, float *w, const float *g, float *buf, size_t n);
    void (*ema)(trainer *t, float *ema, const float *w, size_t n, float decay);
    void (*copy)(trainer *t, float *dst, const float *src, size_t n); /* device to device */
    void (*decode)(trainer *t);
    /* error on d (the test or validation set) of the network as it stands
     * (decoded); preds (host, may be NULL) gets the predicted classes */
    double (*evaluate)(trainer *t, const dataset *d, int *preds);
    double (*rate_exact)(trainer *t, double *per_group);
    /* the whole device state (train block, optimizer states, EMA, batch-norm
     * buffers) into the host arrays (checkpoints, the final .epr), and back */
    void (*download)(trainer *t);
    void (*upload)(trainer *t);
    void (*free)(trainer *t);
} trainer_dev_ops;

/* Set up the device path of a trainer whose host state is complete (run/
 * train_cuda.c): picks the GPU (node-local rank mod device count), mirrors
 * the network and EPR model, uploads the state; fills t->dev, t->dops,
 * t->da and t->device_name. */
int trainer_dev_create(trainer *t, epr_err *err);

struct trainer {
    const cfg_experiment *cfg;
    cfg_experiment *cfg_own; /* cfg with the groups' tensor patterns expanded (when it has any), else NULL */
    const train_opts *opts;
    int rank, nranks;
    int local_rank; /* rank within the node (MPI_COMM_TYPE_SHARED): picks the GPU */
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
    /* [train] device = cuda: the device state and its operations, else NULL */
    trainer_dev *dev;
    const trainer_dev_ops *dops;
    trainer_arrays da;     /* device pointers of the step's arrays */
    char device_name[128]; /* "cpu", or the GPU's name */
};

/* Gather rank `t->rank`'s slice of global batch `step` (with the
 * experiment's augmentation) into x, y (idx: scratch of the slice's size);
 * returns the slice's size.  Pure function of (seed, step, rank count). */
int trainer_gather(trainer *t, long step, float *x, int *y, uint32_t *idx);

/* Write OUT/run.h5 atomically: configuration, train block, EMA, optimizer
 * state, batch-norm buffers, curves; /final when fin != NULL.  Rank 0. */
int checkpoint_write(trainer *t, const train_result *fin, double wall, epr_err *err);
/* Restore a trainer (already set up from the same experiment) from a run
 * file.  Rank 0 reads; everything every rank holds is broadcast. */
int checkpoint_resume(trainer *t, const char *path, epr_err *err);

#endif
