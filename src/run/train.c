/* run/train.c — see train.h.  The step, top to bottom:
 *
 *   indices of this rank's slice of global batch t   (sampler)
 *   θ = f(round(ϑ/s)) for compressed tensors          (rp_model_decode)
 *   forward, backward with grad scale 1/B             (nn)
 *   dθ → dϑ, dΨ                                       (rp_model_backward)
 *   λ·∂rate/∂(ϑ, log s, density) on this rank's rows  (rp_model_rate_noisy)
 *   one in-place MPI_Allreduce of the gradient block (+ metric slots)
 *   [baseline] pruning / weight sharing: mask or tie the gradients (prune.h)
 *   network optimizer step, EMA; rank 0: density Adam step, broadcast
 *
 * With [train] device = cuda the same step runs on the GPU: the parts that
 * differ go through t->dops (run/train_cuda.c, train_internal.h); the
 * learning rate and lambda of a step come from t->sched (schedule_at) on both paths.
 * Nothing in the loop allocates (but the two one-off [baseline] events:
 * pruning and weight sharing, prune.h).  Around it: the setup (train_setup.c),
 * the run's loop, checkpoints and final report (train_run.c, checkpoint.c),
 * signals (train_safety.c; SIGTERM/SIGINT/SIGHUP/SIGUSR1: finish the step,
 * checkpoint, exit 75; fatal signals: MPI_Abort with rank and step).
 * This file also owns the evaluation, EMA swap and exact rate "where the
 * step runs" (train_internal.h).  May call: libc, MPI, nn, epr, run/prune,
 * run/phi_hold, run/schedule, run/dataset. */
#include "run/train.h"

#include <math.h>
#include <mpi.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/timeutil.h"
#include "run/train_internal.h"

/* ---- where the step runs ------------------------------------------------ */

/* Test error of the network as it stands (parameters already decoded). */
static double evaluate_host(nn_model *net, const dataset *test, int eval_batch, float *x, int *y, uint32_t *idx) {
    long wrong = 0;
    for (int i = 0; i < test->n; i += eval_batch) {
        int n = test->n - i < eval_batch ? test->n - i : eval_batch;
        for (int j = 0; j < n; j++) idx[j] = (uint32_t)(i + j);
        dataset_gather(test, idx, n, x, y);
        nn_forward(net, x, NULL, n, 0);
        wrong += nn_count_errors(net, y, n, NULL);
    }
    return test->n ? (double)wrong / test->n : 0.0;
}

/* The step's arrays where the step runs (train_internal.h). */
static trainer_arrays arrays(trainer *t) {
    if (t->dev) return t->da;
    return (trainer_arrays){rp_model_params(t->em),
                            rp_model_grads(t->em),
                            t->opt1,
                            t->opt2,
                            t->dec1,
                            t->dec2,
                            t->dens1,
                            t->dens2,
                            t->ema,
                            t->backup};
}

/* The operations that differ between the paths. */
static void do_adam(trainer *t, nn_adam *o, float *w, const float *g, float *m1, float *m2, size_t n) {
    if (t->dev)
        t->dops->adam(t, o, w, g, m1, m2, n);
    else
        nn_adam_step(o, w, g, m1, m2, n);
}

static void do_sgd(trainer *t, const nn_sgd *o, float *w, const float *g, float *buf, size_t n) {
    if (t->dev)
        t->dops->sgd(t, o, w, g, buf, n);
    else
        nn_sgd_step(o, w, g, buf, n);
}

static void copy_host(trainer *t, float *dst, const float *src, size_t n) {
    (void)t;
    memcpy(dst, src, n * sizeof *dst);
}

static void do_copy(trainer *t, float *dst, const float *src, size_t n) {
    if (t->dev)
        t->dops->copy(t, dst, src, n);
    else
        copy_host(t, dst, src, n);
}

void train_decode(trainer *t) {
    if (t->dev)
        t->dops->decode(t);
    else
        rp_model_decode(t->em);
}

/* Error on d of the network as it stands (decoded), where the step runs. */
double train_evaluate(trainer *t, const dataset *d, int *preds) {
    if (t->dev) return t->dops->evaluate(t, d, preds);
    return evaluate_host(t->net, d, t->cfg->eval_batch, t->x, t->y, t->idx);
}

/* Swap the EMA values into the network segment (and back): where the step
 * runs, or (host) in the host arrays, which the bitstream writer reads. */
static void swap_ema_in(trainer *t, int in, int host) {
    if (!t->ema) return;
    int dev = t->dev && !host;
    trainer_arrays a = dev ? t->da : (trainer_arrays){.p = rp_model_params(t->em), .ema = t->ema, .backup = t->backup};
    size_t nn = rp_model_net_size(t->em);
    void (*copy)(trainer *, float *, const float *, size_t) = dev ? do_copy : copy_host;
    if (in) {
        copy(t, a.backup, a.p, nn);
        copy(t, a.p, a.ema, nn);
    } else {
        copy(t, a.p, a.backup, nn);
    }
    if (dev)
        train_decode(t);
    else
        rp_model_decode(t->em);
}
void train_swap_ema(trainer *t, int in) { swap_ema_in(t, in, 0); }
void train_swap_ema_host(trainer *t, int in) { swap_ema_in(t, in, 1); }

/* The batch-norm running statistics of the network's current weights
 * (decoded here) recomputed as the plain average over K training batches,
 * those of steps t->step .. t->step + K - 1 (momentum 1/k for the k-th),
 * where the step runs; the host model's buffers receive them. */
void train_recalibrate_bn(trainer *t, int K) {
    train_decode(t);
    for (int k = 0; k < K; k++) {
        const float momentum = 1.0f / (float)(k + 1);
        if (t->dev) {
            t->dops->bn_forward(t, t->step + k, momentum, k == K - 1);
        } else {
            int n = trainer_gather(t, t->step + k, t->x, t->y, t->idx);
            nn_model_set_bn_momentum(t->net, momentum);
            if (n) nn_forward(t->net, t->x, NULL, n, 1);
            nn_model_set_bn_momentum(t->net, -1.0f);
        }
    }
}

/* Error on d with the EMA weights swapped in (quantised when EPR is on). */
double train_evaluate_ema_on(trainer *t, const dataset *d, int *preds) {
    train_swap_ema(t, 1);
    train_decode(t);
    double e = train_evaluate(t, d, preds);
    train_swap_ema(t, 0);
    return e;
}

double train_evaluate_ema(trainer *t, int *preds) { return train_evaluate_ema_on(t, &t->test, preds); }

/* Exact rate of the model as it stands, where the step runs. */
double train_rate_exact(trainer *t, double *per_group) {
    if (t->dev) return t->dops->rate_exact(t, per_group);
    return rp_model_rate_exact(t->em, per_group);
}

/* ---- Deep Compression baseline (prune.h, docs/baselines.md) ------------ */

/* At the start of step prune_at: magnitude pruning of the raw weights (EMA
 * and optimizer state of the pruned elements to 0).  At the start of step
 * kmeans_at: weight sharing of the EMA weights (raw without EMA), optimizer
 * state of the groups reset.  Every rank does the same. */
static void baseline_events(trainer *t) {
    const cfg_experiment *cfg = t->cfg;
    int prune_now = cfg->prune > 0 && t->step == cfg->prune_at;
    int share_now = cfg->kmeans_bits && t->step == cfg->kmeans_at;
    if (!prune_now && !share_now) return;
    FILE *log = t->rank == 0 && !t->opts->quiet ? stdout : NULL;
    float *p = rp_model_params(t->em);
    float *state[3] = {t->opt1, t->opt2, t->ema};
    epr_err err = {0};
    if (prune_now) {
        if (log)
            fprintf(log, "step %ld: magnitude pruning of %g of each group's weights%s%s%s\n", t->step, cfg->prune,
                    cfg->prune_groups[0] ? " (except " : "", cfg->prune_groups, cfg->prune_groups[0] ? ")" : "");
        if (prune_magnitude(t->pr, p, state, 3, log, &err)) train_fatal(err.msg);
    }
    if (share_now) {
        if (log)
            fprintf(log, "step %ld: weight sharing, %d-bit codebook per group (1-D k-means of the %s weights)\n",
                    t->step, cfg->kmeans_bits, t->ema ? "EMA" : "raw");
        if (prune_share_weights(t->pr, p, t->ema ? t->ema : p, t->ema, state, 2, PRUNE_KMEANS_ITERS, log, &err))
            train_fatal(err.msg);
    }
    if (log) fflush(log);
}

/* ---- the step (train.h) ------------------------------------------------ */

int trainer_gather(trainer *t, long step, float *x, int *y, uint32_t *idx) {
    const cfg_experiment *cfg = t->cfg;
    int begin, end;
    sampler_rank_slice(cfg->batch, t->rank, t->nranks, &begin, &end);
    int n = end - begin;
    sampler_batch(&t->smp, step, cfg->batch, begin, end, idx);
    if (!strncmp(cfg->augment, "crop", 4)) { /* crop-flip, or crop alone */
        const int flip = !strcmp(cfg->augment, "crop-flip");
        if (dataset_gather_crop(&t->train, idx, n, x, y, 4, flip, cfg->seed, step, begin))
            train_fatal("augmentation failed (images larger than 64x64?)");
    } else if (!strcmp(cfg->augment, "rrc-flip")) {
        if (dataset_gather_rrc_flip(&t->train, idx, n, x, y, cfg->seed, step, begin))
            train_fatal("augmentation failed (rrc-flip)");
    } else {
        dataset_gather(&t->train, idx, n, x, y);
    }
    return n;
}

/* The metrics into the slots after the gradient block, one in-place
 * allreduce of both, m[] = the summed slots; a non-finite loss on any rank
 * takes the job down (one message). */
static void step_allreduce(trainer *t, double ce, double rate, int wrong, int n, double m[N_SLOTS]) {
    if (t->rank == train_test_fail.rank && t->step == train_test_fail.step) {
        if (!strcmp(train_test_fail.kind, "nan")) ce = NAN;
        if (!strcmp(train_test_fail.kind, "abort")) train_fatal("forced failure (EPR_TEST_FAIL)");
        if (!strcmp(train_test_fail.kind, "segv")) raise(SIGSEGV);
    }

    size_t N = rp_model_size(t->em);
    float *g = rp_model_grads(t->em); /* the host block: the staging buffer of the device path */
    int dump = t->rank == 0 && t->step == train_test_dump_step;
    if (t->dev && (t->nranks > 1 || dump)) t->dops->to_host(t, 1, 0, N);
    g[N + SLOT_CE] = (float)ce;
    g[N + SLOT_RATE] = (float)rate;
    g[N + SLOT_ERRORS] = (float)wrong;
    g[N + SLOT_SAMPLES] = (float)n;
    g[N + SLOT_STOP] = train_stop_signal || (t->rank == 0 && t->step == train_test_stop_at) ? 1.0f : 0.0f;
    g[N + SLOT_FAIL] = isfinite(ce) && isfinite(rate) ? 0.0f : 1.0f;
    if (t->nranks > 1) MPI_Allreduce(MPI_IN_PLACE, g, (int)(N + N_SLOTS), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    if (t->dev && t->nranks > 1) t->dops->to_device(t, 1, 0, N);
    for (int i = 0; i < N_SLOTS; i++) m[i] = g[N + i];
    if (dump) {
        FILE *f = fopen(train_test_dump_path, "wb");
        if (!f || fwrite(g, sizeof(float), N, f) != N || fclose(f)) train_fatal("cannot write EPR_TEST_DUMP_GRAD");
    }
    if (m[SLOT_FAIL] > 0 || !isfinite(m[SLOT_CE]) || !isfinite(m[SLOT_RATE])) {
        char msg[160];
        snprintf(msg, sizeof msg, "non-finite loss (cross-entropy sum %g, rate %g bits)%s", m[SLOT_CE], m[SLOT_RATE],
                 isfinite(ce) && isfinite(rate) ? " on another rank" : "");
        int local = !(isfinite(ce) && isfinite(rate));
        /* one message: from the rank whose own loss is bad, or from rank 0
         * when only the sum overflowed */
        if (local || (m[SLOT_FAIL] == 0 && t->rank == 0)) train_fatal(msg);
        pause(); /* that rank takes the job down */
    }
}

/* The network optimizer on the network segment (Ψ by Adam under SGD). */
static void step_update_net(trainer *t) {
    const cfg_experiment *cfg = t->cfg;
    trainer_arrays a = arrays(t);
    float *p = a.p, *g = a.g;
    size_t nn = rp_model_net_size(t->em);
    const float lr = t->sched.lr;
    if (t->opt2) {
        t->net_adam.lr = lr;
        do_adam(t, &t->net_adam, p, g, a.opt1, a.opt2, nn);
    } else {
        nn_sgd sgd = {lr, cfg->momentum, cfg->weight_decay};
        if (t->dec1) {
            size_t b = t->psi_begin, e = t->psi_end;
            do_sgd(t, &sgd, p, g, a.opt1, b);
            do_sgd(t, &sgd, p + e, g + e, a.opt1 + e, nn - e);
            t->dec_adam.lr = cfg->decoder_lr * lr / cfg->lr; /* follows the schedule */
            if (cfg->decoder_lr > 0) do_adam(t, &t->dec_adam, p + b, g + b, a.dec1, a.dec2, e - b); /* 0: Ψ fixed */
        } else {
            do_sgd(t, &sgd, p, g, a.opt1, nn);
        }
    }
}

/* The densities: Adam on rank 0 (DESIGN §3), then broadcast (device path:
 * staged through the host train block); returns the seconds spent in the
 * broadcast. */
static double step_update_density(trainer *t) {
    trainer_arrays a = arrays(t);
    size_t doff = rp_model_density_offset(t->em), nd = rp_model_density_size(t->em);
    if (!nd || t->sched.phi_frozen) return 0; /* the rate of a frozen φ is not trained */
    if (t->rank == 0)
        do_adam(t, &t->dens_adam, a.p + doff, a.g + doff, a.dens1, a.dens2, nd);
    else
        t->dens_adam.t++;
    double tc = cmn_now_s();
    if (t->nranks > 1) {
        if (t->dev && t->rank == 0) t->dops->to_host(t, 0, doff, nd);
        MPI_Bcast(rp_model_params(t->em) + doff, (int)nd, MPI_FLOAT, 0, MPI_COMM_WORLD);
        if (t->dev && t->rank != 0) t->dops->to_device(t, 0, doff, nd);
    }
    return cmn_now_s() - tc;
}

/* EMA of the network segment, warm-up as in TensorFlow's
 * ExponentialMovingAverage(num_updates). */
static void step_ema(trainer *t) {
    if (!t->ema) return;
    float d = (float)((1.0 + (double)t->step) / (10.0 + (double)t->step));
    if (d > t->cfg->ema) d = t->cfg->ema;
    trainer_arrays a = arrays(t);
    if (t->dev)
        t->dops->ema(t, a.ema, a.p, rp_model_net_size(t->em), d);
    else
        nn_ema_update(a.ema, a.p, rp_model_net_size(t->em), d);
}

/* The frozen-φ phase (run/phi_hold.h): at its first step training goes on
 * from the EMA weights (the model that will be written); φ of the
 * parameters, which hold φ·s, is captured for phi_hold_apply. */
static void step_hold_begin(trainer *t) {
    float *p = rp_model_params(t->em);
    if (t->step == schedule_freeze_start(t->cfg) && t->ema) memcpy(p, t->ema, rp_model_net_size(t->em) * sizeof *p);
    phi_hold_capture(t->hold, p);
}

void trainer_step(trainer *t, double m[N_SLOTS]) {
    const cfg_experiment *cfg = t->cfg;
    trainer_times *tm = &t->times;
    double t0 = cmn_now_s();
    t->sched = schedule_at(cfg, t->step);                   /* every use of lr and λ of this step reads t->sched */
    if (t->sched.phi_frozen && t->hold) step_hold_begin(t); /* CPU only (trainer_setup) */
    if (t->pr) baseline_events(t);
    int n = t->dev ? t->dops->batch(t) : trainer_gather(t, t->step, t->x, t->y, t->idx);

    double t1 = cmn_now_s(), c1 = t->opts->phase_cpu ? cmn_cpu_s() : 0;
    double ce = 0;
    int wrong = 0;
    if (t->dev) {
        t->dops->net(t, n, &ce, &wrong);
    } else {
        rp_model_decode(t->em);
        ce = n ? nn_forward(t->net, t->x, t->y, n, 1) : 0.0;
        wrong = n ? nn_count_errors(t->net, t->y, n, NULL) : 0;
        if (n) nn_backward(t->net, 1.0f / (float)cfg->batch);
        rp_model_backward(t->em);
    }

    double t2 = cmn_now_s(), c2 = t->opts->phase_cpu ? cmn_cpu_s() : 0;
    double rate = 0;
    if (cfg->epr_enabled)
        rate = t->dev ? t->dops->rate(t, t->sched.lambda)
                      : rp_model_rate_noisy(t->em, cfg->seed, t->step, t->sched.lambda, t->rank, t->nranks);

    double t3 = cmn_now_s(), c3 = t->opts->phase_cpu ? cmn_cpu_s() : 0;
    step_allreduce(t, ce, rate, wrong, n, m);

    double t4 = cmn_now_s();
    if (t->pr) prune_tie_grads(t->pr, rp_model_grads(t->em)); /* identical on every rank: after the allreduce */
    step_update_net(t);
    double bcast = step_update_density(t);
    step_ema(t);
    if (t->sched.phi_frozen && t->hold) { /* the latents back at φ·s for the new s */
        phi_hold_apply(t->hold, rp_model_params(t->em));
        if (t->ema) phi_hold_apply(t->hold, t->ema);
    }
    t->step++;
    train_step_now = t->step;

    double t5 = cmn_now_s();
    tm->batch += t1 - t0;
    tm->net += t2 - t1;
    tm->rate += t3 - t2;
    tm->comm += t4 - t3 + bcast;
    tm->update += t5 - t4 - bcast;
    if (t->opts->phase_cpu) {
        tm->net_cpu += c2 - c1;
        tm->rate_cpu += c3 - c2;
    }
}

int trainer_create(const cfg_experiment *cfg, const train_opts *opts, dataset *train, dataset *test, trainer **out,
                   epr_err *err) {
    static const train_opts defaults = {.quiet = 1};
    if (!opts) opts = &defaults;
    *out = NULL;
    trainer *t = calloc(1, sizeof *t);
    RETURN_ERROR_IF(!t, err, EPR_ENOMEM, "out of memory (trainer)");
    int rc = train_setup(t, cfg, opts, train, test, err);
    if (rc) {
        trainer_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

double trainer_test_error(trainer *t, int ema) {
    if (ema) return train_evaluate_ema(t, NULL);
    train_decode(t);
    return train_evaluate(t, &t->test, NULL);
}

long trainer_steps(const trainer *t) { return t->step; }
rp_model *trainer_model(trainer *t) {
    if (t->dev) t->dops->download(t); /* the host arrays take the device state */
    return t->em;
}
const trainer_times *trainer_phase_times(const trainer *t) { return &t->times; }

void trainer_free(trainer *t) {
    if (!t) return;
    train_release(t);
    free(t);
}
