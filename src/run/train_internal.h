/* run/train_internal.h — the trainer's state, shared by the step
 * (train.c), its setup (train_setup.c), the run (train_run.c), its safety
 * (train_safety.c), the device path (train_cuda.c) and the run file /
 * checkpoint code (checkpoint.c). */
#ifndef EPR_HARNESS_TRAIN_INTERNAL_H
#define EPR_HARNESS_TRAIN_INTERNAL_H

#include <signal.h>
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
 * (rp_model layout); opt1/opt2: network optimizer state; dec1/dec2: Ψ Adam
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
     * block (grads = 1) between the host rp_model and the device */
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
    /* wrong predictions on d of a host network (a decoded file's, built
     * for batches up to eval_batch, parameters in one block), evaluated on
     * the device in FP32 (bitstream_evaluator) */
    int (*evaluate_host_net)(trainer *t, nn_model *net, const dataset *d, int eval_batch, long *wrong, int *preds,
                             epr_err *err);
    /* a training-mode forward (no labels, no backward) of the rank's slice
     * of global batch `step`, batch-norm momentum set to `momentum`: the
     * network as it stands (decoded) updates its running statistics; then
     * the statistics into the host model's buffers when last is set */
    void (*bn_forward)(trainer *t, long step, float momentum, int last);
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
    rp_model *em;
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
    double wall_before;  /* training seconds of the runs before a resume */
    double step_s;       /* time in trainer_step */
    trainer_times times; /* and in its parts (comm: allreduce + broadcast) */
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

/* ---- setup and teardown (train_setup.c) ---- */

/* Fills *t (zeroed) for cfg; train / test: see trainer_create. */
int train_setup(trainer *t, const cfg_experiment *cfg, const train_opts *opts, dataset *train, dataset *test,
                epr_err *err);
/* Frees everything train_setup allocated (not t itself); unlocks the run directory. */
void train_release(trainer *t);

/* ---- where the step runs (train.c): the host, or the device path ---- */

void train_decode(trainer *t);                                   /* θ = f(round(ϑ/s)) */
double train_evaluate(trainer *t, const dataset *d, int *preds); /* error on d as it stands (decoded) */
/* Swap the EMA values into the network segment (in = 1) and back (0): where
 * the step runs, or (the _host variant) in the host arrays, which the
 * bitstream writer reads. */
void train_swap_ema(trainer *t, int in);
void train_swap_ema_host(trainer *t, int in);
double train_evaluate_ema_on(trainer *t, const dataset *d, int *preds); /* with the EMA weights */
double train_evaluate_ema(trainer *t, int *preds);                      /* ... on the test set */
double train_rate_exact(trainer *t, double *per_group);
/* Batch-norm running statistics of the network as it stands recomputed as
 * the average over K training batches (steps t->step ...), where the step
 * runs; the host buffers receive them ([train] bn_recalibrate). */
void train_recalibrate_bn(trainer *t, int K);

/* ---- safety (train_safety.c) ---- */

/* One message naming the rank, the step and the cause, then the whole job
 * goes down (a plain exit would leave the other ranks in a collective). */
void train_fatal(const char *cause) __attribute__((noreturn));
/* SIGTERM / SIGINT / SIGHUP / SIGUSR1 set train_stop_signal; SIGSEGV, SIGBUS,
 * SIGFPE, SIGILL abort the job naming train_rank_now and train_step_now. */
void train_install_signal_handlers(void);
extern volatile sig_atomic_t train_stop_signal;
extern volatile long train_step_now; /* for messages from handlers */
extern int train_rank_now;
/* Test hooks, read from the environment by train_parse_test_hooks:
 * EPR_TEST_FAIL=RANK:STEP:KIND (abort | nan | segv) into train_test_fail,
 * EPR_TEST_STOP_AT=STEP, EPR_TEST_DUMP_GRAD=PATH:STEP. */
typedef struct {
    int rank;
    long step;
    char kind[16];
} train_fail_hook;
extern train_fail_hook train_test_fail;
extern long train_test_stop_at, train_test_dump_step;
extern char train_test_dump_path[1024];
void train_parse_test_hooks(void);
/* Refuses (without --resume / --force) an --out directory that holds a run;
 * --force removes the old run's files.  Rank 0, lock held. */
int train_claim_run_dir(trainer *t, const train_opts *opts, epr_err *err);

#endif
