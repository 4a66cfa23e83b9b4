/* run/train.c — see train.h.  The step, top to bottom:
 *
 *   indices of this rank's slice of global batch t   (sampler)
 *   θ = f(round(ϑ/s)) for compressed tensors          (epr_model_decode)
 *   forward, backward with grad scale 1/B             (nn)
 *   dθ → dϑ, dΨ                                       (epr_model_backward)
 *   λ·∂rate/∂(ϑ, log s, density) on this rank's rows  (epr_model_rate_noisy)
 *   one in-place MPI_Allreduce of the gradient block (+ metric slots)
 *   [baseline] pruning / weight sharing: mask or tie the gradients (prune.h)
 *   network optimizer step, EMA; rank 0: density Adam step, broadcast
 *
 * With [train] device = cuda the same step runs on the GPU: the parts that
 * differ go through t->dops (run/train_cuda.c, train_internal.h); the
 * learning rate and lambda of a step come from t->sched (schedule_at) on both paths.
 * Nothing in the loop allocates (but the two one-off [baseline] events:
 * pruning and weight sharing, prune.h).  Around it: checkpoints (checkpoint.c),
 * signals (SIGTERM/SIGINT/SIGHUP/SIGUSR1: finish the step, checkpoint, exit 75; fatal
 * signals: MPI_Abort with rank and step), and the final report. */
#include "run/train.h"

#include <cblas.h>
#include <errno.h>
#include <glob.h>
#include <math.h>
#include <mpi.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/timeutil.h"
#include "run/bitstream.h"
#include "run/data_sets.h"
#include "run/experiment.h"
#include "run/fsutil.h"
#include "run/init_weights.h"
#include "run/train_internal.h"

/* ---- failure handling ---------------------------------------------- */

static volatile sig_atomic_t g_stop_signal; /* SIGTERM / SIGINT / SIGHUP / SIGUSR1 received */
static volatile long g_step = -1;           /* for messages from handlers */
static int g_rank;

/* One message naming the rank, the step and the cause, then the whole job
 * goes down (a plain exit would leave the other ranks in a collective). */
static void fatal(const char *cause) {
    fprintf(stderr, "epr: rank %d: step %ld: %s: aborting the job\n", g_rank, g_step, cause);
    fflush(stderr);
    int mpi_on = 0;
    MPI_Initialized(&mpi_on);
    if (mpi_on) MPI_Abort(MPI_COMM_WORLD, 3);
    _exit(3);
}

static void on_stop_signal(int sig) { g_stop_signal = sig; }

static void on_fatal_signal(int sig) {
    char buf[160];
    const char *name = sig == SIGSEGV ? "SIGSEGV" : sig == SIGBUS ? "SIGBUS" : sig == SIGFPE ? "SIGFPE" : "SIGILL";
    /* snprintf is not async-signal-safe in theory; the process is dying anyway */
    int n = snprintf(buf, sizeof buf, "epr: rank %d: step %ld: fatal signal %s: aborting the job\n", g_rank, g_step,
                     name);
    if (n > 0 && write(2, buf, (size_t)n) < 0) _exit(4);
    MPI_Abort(MPI_COMM_WORLD, 128 + sig);
    _exit(128 + sig);
}

static void install_signal_handlers(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGINT, &sa, NULL); /* Ctrl-C and a closed terminal checkpoint too */
    sigaction(SIGHUP, &sa, NULL);
    sa.sa_handler = on_fatal_signal;
    sa.sa_flags = SA_RESETHAND;
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGBUS, &sa, NULL);
    sigaction(SIGFPE, &sa, NULL);
    sigaction(SIGILL, &sa, NULL);
}

/* Test hook: EPR_TEST_FAIL=RANK:STEP:KIND makes one rank fail at a step
 * (KIND = abort: a local error; nan: a non-finite loss; segv: a crash). */
static struct {
    int rank;
    long step;
    char kind[16];
} g_test_fail = {-1, -1, ""};

/* More test hooks: EPR_TEST_STOP_AT=STEP behaves as if SIGUSR1 reached
 * rank 0 during that step; EPR_TEST_DUMP_GRAD=PATH:STEP makes rank 0 write
 * the allreduced gradient block of that step (raw float32) to PATH. */
static long g_test_stop_at = -1, g_test_dump_step = -1;
static char g_test_dump_path[1024];

static void parse_test_hooks(void) {
    const char *s = getenv("EPR_TEST_FAIL");
    if (s && sscanf(s, "%d:%ld:%15s", &g_test_fail.rank, &g_test_fail.step, g_test_fail.kind) != 3)
        g_test_fail.rank = -1;
    s = getenv("EPR_TEST_STOP_AT");
    if (s) g_test_stop_at = atol(s);
    s = getenv("EPR_TEST_DUMP_GRAD");
    const char *colon = s ? strrchr(s, ':') : NULL;
    if (colon && (size_t)(colon - s) < sizeof g_test_dump_path) {
        memcpy(g_test_dump_path, s, (size_t)(colon - s));
        g_test_dump_path[colon - s] = 0;
        g_test_dump_step = atol(colon + 1);
    }
}

/* ---- helpers ---------------------------------------------------------- */

static void fmt_duration(double s, char *buf, size_t n) {
    if (!(s >= 0) || s > 1e7) s = 0;
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
    else
        snprintf(buf, n, "%ld:%02ld", t / 60, t % 60);
}

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
    return (trainer_arrays){epr_model_params(t->em), epr_model_grads(t->em), t->opt1, t->opt2, t->dec1, t->dec2,
                            t->dens1, t->dens2, t->ema, t->backup};
}

/* The operations that differ between the paths. */
static void do_adam(trainer *t, nn_adam *o, float *w, const float *g, float *m1, float *m2, size_t n) {
    if (t->dev) t->dops->adam(t, o, w, g, m1, m2, n);
    else nn_adam_step(o, w, g, m1, m2, n);
}

static void do_sgd(trainer *t, const nn_sgd *o, float *w, const float *g, float *buf, size_t n) {
    if (t->dev) t->dops->sgd(t, o, w, g, buf, n);
    else nn_sgd_step(o, w, g, buf, n);
}

static void copy_host(trainer *t, float *dst, const float *src, size_t n) {
    (void)t;
    memcpy(dst, src, n * sizeof *dst);
}

static void do_copy(trainer *t, float *dst, const float *src, size_t n) {
    if (t->dev) t->dops->copy(t, dst, src, n);
    else copy_host(t, dst, src, n);
}

static void do_decode(trainer *t) {
    if (t->dev) t->dops->decode(t);
    else epr_model_decode(t->em);
}

/* Error on d of the network as it stands (decoded), where the step runs. */
static double evaluate(trainer *t, const dataset *d, int *preds) {
    if (t->dev) return t->dops->evaluate(t, d, preds);
    return evaluate_host(t->net, d, t->cfg->eval_batch, t->x, t->y, t->idx);
}

/* Swap the EMA values into the network segment (and back): where the step
 * runs, or (host) in the host arrays, which the bitstream writer reads. */
static void swap_ema_in(trainer *t, int in, int host) {
    if (!t->ema) return;
    int dev = t->dev && !host;
    trainer_arrays a = dev ? t->da : (trainer_arrays){.p = epr_model_params(t->em), .ema = t->ema, .backup = t->backup};
    size_t nn = epr_model_net_size(t->em);
    void (*copy)(trainer *, float *, const float *, size_t) = dev ? do_copy : copy_host;
    if (in) {
        copy(t, a.backup, a.p, nn);
        copy(t, a.p, a.ema, nn);
    } else {
        copy(t, a.p, a.backup, nn);
    }
    if (dev) do_decode(t);
    else epr_model_decode(t->em);
}
static void swap_ema(trainer *t, int in) { swap_ema_in(t, in, 0); }
static void swap_ema_host(trainer *t, int in) { swap_ema_in(t, in, 1); }

/* Error on d with the EMA weights swapped in (quantised when EPR is on). */
static double evaluate_ema_on(trainer *t, const dataset *d, int *preds) {
    swap_ema(t, 1);
    do_decode(t);
    double e = evaluate(t, d, preds);
    swap_ema(t, 0);
    return e;
}

static double evaluate_ema(trainer *t, int *preds) { return evaluate_ema_on(t, &t->test, preds); }

/* Exact rate of the model as it stands, where the step runs. */
static double rate_exact(trainer *t, double *per_group) {
    if (t->dev) return t->dops->rate_exact(t, per_group);
    return epr_model_rate_exact(t->em, per_group);
}

static void trainer_release(trainer *t) {
    if (t->dev) t->dops->free(t);
    t->dev = NULL;
    free(t->x);
    free(t->y);
    free(t->idx);
    free(t->opt1);
    free(t->opt2);
    free(t->dens1);
    free(t->dens2);
    free(t->dec1);
    free(t->dec2);
    free(t->ema);
    free(t->backup);
    for (int i = 0; i < N_CURVES; i++) free(t->curves[i]);
    free(t->arch_text);
    prune_free(t->pr);
    phi_hold_free(t->hold);
    sampler_free(&t->smp);
    epr_model_free(t->em);
    nn_model_free(t->net);
    dataset_free(&t->train);
    dataset_free(&t->test);
    free(t->cfg_own);
    fs_unlock_dir(&t->lock);
    dataset_free(&t->valid);
}

#define ALLOC(ptr, count)                                                                    \
    do {                                                                                     \
        (ptr) = calloc((size_t)(count) + 1, sizeof *(ptr));                                  \
        if (!(ptr)) return epr_fail(err, EPR_ENOMEM, "out of memory (%s)", #ptr);             \
    } while (0)

/* ---- Deep Compression baseline (prune.h, docs/baselines.md) ------------ */

/* The pruning / weight-sharing state over the experiment's groups, which
 * (EPR being off) are plain nn tensors of the network segment. */
static int baseline_setup(trainer *t, epr_err *err) {
    const cfg_experiment *cfg = t->cfg;
    if (!(cfg->prune > 0) && !cfg->kmeans_bits) return 0;
    RETURN_ERROR_IF(!strcmp(cfg->optimizer, "adam") && !(cfg->adam_eps > 0), err, EPR_EARG,
                    "[baseline] prune / kmeans_bits need [train] adam_eps > 0 (a pruned weight's Adam step is 0/eps)");
    prune_group_def defs[CFG_MAX_GROUPS];
    _Static_assert(CFG_MAX_TENSORS <= PRUNE_MAX_TENSORS, "a config group must fit a prune group");
    for (int g = 0; g < cfg->n_groups; g++) {
        defs[g].name = cfg->groups[g].name;
        defs[g].n_tensors = cfg->groups[g].n_tensors;
        for (int j = 0; j < cfg->groups[g].n_tensors; j++) defs[g].tensors[j] = cfg->groups[g].tensors[j];
        defs[g].prune = cfg_group_prune(cfg, g, &defs[g].has_prune);
    }
    return prune_create(t->net, epr_model_params(t->em), epr_model_net_size(t->em), defs, cfg->n_groups, cfg->prune,
                        cfg->kmeans_bits, &t->pr, err);
}

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
    float *p = epr_model_params(t->em);
    float *state[3] = {t->opt1, t->opt2, t->ema};
    epr_err err = {0};
    if (prune_now) {
        if (log)
            fprintf(log, "step %ld: magnitude pruning of %g of each group's weights%s%s%s\n", t->step, cfg->prune,
                    cfg->prune_groups[0] ? " (except " : "", cfg->prune_groups, cfg->prune_groups[0] ? ")" : "");
        if (prune_magnitude(t->pr, p, state, 3, log, &err)) fatal(err.msg);
    }
    if (share_now) {
        if (log)
            fprintf(log, "step %ld: weight sharing, %d-bit codebook per group (1-D k-means of the %s weights)\n", t->step,
                    cfg->kmeans_bits, t->ema ? "EMA" : "raw");
        if (prune_share_weights(t->pr, p, t->ema ? t->ema : p, t->ema, state, 2, PRUNE_KMEANS_ITERS, log, &err))
            fatal(err.msg);
    }
    if (log) fflush(log);
}

/* A directory that holds a run (finished or not) is never replaced by
 * accident: without --resume or --force it is refused; --force removes the
 * old run's files first (a run killed before its first checkpoint must not
 * leave the old run.h5 looking like its own).  Rank 0, lock held. */
static int claim_run_dir(trainer *t, const train_opts *opts, epr_err *err) {
    if (opts->resume) return 0;
    static const char *const files[] = {"run.h5", "model.epr", "baselines.h5"};
    char p[1300], found[1300] = "";
    for (int i = 0; i < 3 && !found[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", opts->out_dir, files[i]);
        if (fs_exists(p)) snprintf(found, sizeof found, "%s", p);
    }
    snprintf(p, sizeof p, "%s.tmp.*", t->run_path);
    glob_t gl;
    if (!found[0] && glob(p, 0, NULL, &gl) == 0) { /* a checkpoint being written when its run was killed */
        snprintf(found, sizeof found, "%s", gl.gl_pathv[0]);
        globfree(&gl);
    }
    if (!found[0]) return 0;
    RETURN_ERROR_IF(!opts->force, err, EPR_EARG,
                    "%s holds a run (%s): continue it with --resume %s, or replace it with --force, or choose "
                    "another --out",
                    opts->out_dir, found, t->run_path);
    for (int i = 0; i < 3; i++) { /* never the experiment file itself, whatever its name */
        snprintf(p, sizeof p, "%s/%s", opts->out_dir, files[i]);
        CHECK_STATUS(fs_check_not_input(p, t->cfg->path, "the experiment file", err));
    }
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", opts->out_dir, files[i]);
        RETURN_ERROR_IF(unlink(p) && errno != ENOENT, err, EPR_EIO, "--force: cannot remove %s: %s", p,
                        strerror(errno));
    }
    return 0;
}

/* [train] device: "cpu", or the device path (run/train_cuda.c) once the
 * host state is complete; what it does not do is refused by name. */
static int setup_device(trainer *t, epr_err *err) {
    const cfg_experiment *cfg = t->cfg;
    snprintf(t->device_name, sizeof t->device_name, "cpu");
    if (!strcmp(cfg->device, "cuda")) {
        RETURN_ERROR_IF(t->pr, err, EPR_EUNSUP,
                        "%s: [baseline] prune / kmeans_bits run on the CPU only: set train.device = cpu", cfg->path);
        RETURN_ERROR_IF(t->hold, err, EPR_EUNSUP,
                        "%s: the frozen-phi phase ([epr] freeze_phi_steps) runs on the CPU only: set train.device = cpu",
                        cfg->path);
#ifdef EPR_CUDA
        int drc = trainer_dev_create(t, err);
        if (drc) {
            char m[sizeof err->msg];
            memcpy(m, err->msg, sizeof m);
            snprintf(err->msg, sizeof err->msg, "%.180s: [train] device = cuda: %.280s", cfg->path, m);
            return drc;
        }
#else
        return epr_fail(err, EPR_EUNSUP,
                        "%s: [train] device = cuda, but this epr was built without CUDA: rebuild with -DEPR_CUDA=ON "
                        "(docs/gpu.md), or set train.device = cpu",
                        cfg->path);
#endif
    }
    return 0;
}

/* train / test: see trainer_create. */
static int trainer_setup(trainer *t, const cfg_experiment *cfg, const train_opts *opts, dataset *train, dataset *test,
                         epr_err *err) {
    t->cfg = cfg;
    t->opts = opts;
    if (train) { /* the caller's data sets: the trainer's from now on */
        t->train = *train;
        memset(train, 0, sizeof *train);
        if (test) {
            t->test = *test;
            memset(test, 0, sizeof *test);
        }
    }
    int mpi_on = 0;
    MPI_Initialized(&mpi_on);
    t->rank = 0, t->nranks = 1;
    if (mpi_on) {
        MPI_Comm_rank(MPI_COMM_WORLD, &t->rank);
        MPI_Comm_size(MPI_COMM_WORLD, &t->nranks);
    }
    t->local_rank = t->rank;
    if (mpi_on && t->nranks > 1 && !strcmp(cfg->device, "cuda")) {
        /* collective: before anything that can fail on one rank only */
        MPI_Comm node;
        MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, t->rank, MPI_INFO_NULL, &node);
        MPI_Comm_rank(node, &t->local_rank);
        MPI_Comm_free(&node);
    }
    openblas_set_num_threads(cfg->threads);
    if (opts->out_dir) {
        snprintf(t->run_path, sizeof t->run_path, "%s/run.h5", opts->out_dir);
        snprintf(t->epr_path, sizeof t->epr_path, "%s/model.epr", opts->out_dir);
    }
    if (t->rank == 0 && opts->out_dir) {
        CHECK_STATUS(fs_mkdir_p(opts->out_dir, err));
        CHECK_STATUS(fs_lock_dir(opts->out_dir, &t->lock, err));
        if (claim_run_dir(t, opts, err)) {
            fs_unlock_dir(&t->lock); /* a refused directory keeps no lock file (MPI_Abort may follow) */
            return err->code;
        }
        /* temporaries of checkpoints that a killed run was writing */
        char pat[1300];
        snprintf(pat, sizeof pat, "%s.tmp.*", t->run_path);
        glob_t gl;
        if (glob(pat, 0, NULL, &gl) == 0) {
            for (size_t i = 0; i < gl.gl_pathc; i++) unlink(gl.gl_pathv[i]);
            globfree(&gl);
        }
    }

    if (!train) CHECK_STATUS(data_load_experiment_val(cfg, &t->train, &t->valid, &t->test, err));
    int local_max = (cfg->batch + t->nranks - 1) / t->nranks;
    int max_batch = local_max > cfg->eval_batch ? local_max : cfg->eval_batch;
    if (nn_model_build(cfg->layers, t->train.c, t->train.h, t->train.w, max_batch, &t->net, err))
        return experiment_layers_error(cfg, err); /* names the INI line of the layer */
    /* tensor patterns in a group (e.g. fc*.bias): this network's tensors */
    if (experiment_has_patterns(cfg)) {
        RETURN_ERROR_IF(!(t->cfg_own = malloc(sizeof *t->cfg_own)), err, EPR_ENOMEM, "out of memory");
        *t->cfg_own = *cfg; /* shares text and layers with the caller's */
        CHECK_STATUS(experiment_expand_patterns(t->cfg_own, t->net, err));
        t->cfg = cfg = t->cfg_own;
    }
    RETURN_ERROR_IF(nn_model_num_classes(t->net) < t->train.n_classes, err, EPR_EARG,
                    "%s: the network has %d outputs but the data set has %d classes", cfg->path,
                    nn_model_num_classes(t->net), t->train.n_classes);
    if (cfg->epr_enabled) CHECK_STATUS(experiment_check_groups(cfg, t->net, err));

    epr_group_def groups[CFG_MAX_GROUPS];
    int ng = cfg->epr_enabled ? experiment_groups(cfg, groups) : 0;
    RETURN_ERROR_IF(cfg->epr_enabled && ng == 0, err, EPR_EARG,
                    "%s: [epr] enabled = true needs at least one [group.NAME] section", cfg->path);
    int rc = epr_model_create(t->net, groups, ng, cfg->epr_enabled ? cfg->uncompressed : NULL, cfg->seed, &t->em, err);
    if (!rc && cfg->model_init[0] && !opts->resume) rc = init_weights_load(t->em, cfg->model_init, cfg->seed, err);
    if (!rc) rc = baseline_setup(t, err);
    if (!rc && cfg->epr_enabled && cfg->freeze_phi_steps > 0) rc = phi_hold_create(t->em, &t->hold, err);
    if (rc) {
        char m[sizeof err->msg];
        memcpy(m, err->msg, sizeof m);
        snprintf(err->msg, sizeof err->msg, "%.200s: %.300s", cfg->path, m);
        return rc;
    }
    CHECK_STATUS(sampler_init(&t->smp, t->train.n, cfg->seed, err));
    t->arch_text = bitstream_arch_text(cfg->layers, &t->train);
    RETURN_ERROR_IF(!t->arch_text, err, EPR_ENOMEM, "out of memory");

    size_t in = (size_t)t->train.c * t->train.h * t->train.w;
    ALLOC(t->x, (size_t)max_batch * in);
    ALLOC(t->y, max_batch);
    ALLOC(t->idx, max_batch);
    size_t nn = epr_model_net_size(t->em), nd = epr_model_density_size(t->em);
    ALLOC(t->opt1, nn);
    if (!strcmp(cfg->optimizer, "adam")) ALLOC(t->opt2, nn);
    epr_model_psi_range(t->em, &t->psi_begin, &t->psi_end);
    if (!t->opt2 && t->psi_end > t->psi_begin) {
        /* Ψ's gradients sum over whole tensors (a conv group's offsets c over
         * every kernel): plain SGD steps on them would be thousands of times
         * a weight's.  Adam's steps do not depend on the gradient's scale. */
        ALLOC(t->dec1, t->psi_end - t->psi_begin);
        ALLOC(t->dec2, t->psi_end - t->psi_begin);
    }
    if (nd && t->rank == 0) {
        ALLOC(t->dens1, nd);
        ALLOC(t->dens2, nd);
    }
    if (cfg->ema > 0) {
        ALLOC(t->ema, nn);
        ALLOC(t->backup, nn);
        memcpy(t->ema, epr_model_params(t->em), nn * sizeof(float));
    }
    t->cap_rows = (size_t)(cfg->steps / cfg->log_every) + (cfg->eval_every ? (size_t)(cfg->steps / cfg->eval_every) : 0) + 4;
    for (int i = 0; i < N_CURVES; i++) ALLOC(t->curves[i], t->cap_rows);
    t->net_adam = (nn_adam){cfg->lr, cfg->beta1, cfg->beta2, cfg->adam_eps, 0};
    t->dens_adam = (nn_adam){cfg->density_lr, 0.9f, 0.999f, 1e-8f, 0};
    t->dec_adam = (nn_adam){cfg->decoder_lr, 0.9f, 0.999f, 1e-8f, 0};
    return setup_device(t, err);
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
            fatal("augmentation failed (images larger than 64x64?)");
    } else if (!strcmp(cfg->augment, "rrc-flip")) {
        if (dataset_gather_rrc_flip(&t->train, idx, n, x, y, cfg->seed, step, begin))
            fatal("augmentation failed (rrc-flip)");
    } else {
        dataset_gather(&t->train, idx, n, x, y);
    }
    return n;
}


/* The metrics into the slots after the gradient block, one in-place
 * allreduce of both, m[] = the summed slots; a non-finite loss on any rank
 * takes the job down (one message). */
static void step_allreduce(trainer *t, double ce, double rate, int wrong, int n, double m[N_SLOTS]) {
    if (t->rank == g_test_fail.rank && t->step == g_test_fail.step) {
        if (!strcmp(g_test_fail.kind, "nan")) ce = NAN;
        if (!strcmp(g_test_fail.kind, "abort")) fatal("forced failure (EPR_TEST_FAIL)");
        if (!strcmp(g_test_fail.kind, "segv")) raise(SIGSEGV);
    }

    size_t N = epr_model_size(t->em);
    float *g = epr_model_grads(t->em); /* the host block: the staging buffer of the device path */
    int dump = t->rank == 0 && t->step == g_test_dump_step;
    if (t->dev && (t->nranks > 1 || dump)) t->dops->to_host(t, 1, 0, N);
    g[N + SLOT_CE] = (float)ce;
    g[N + SLOT_RATE] = (float)rate;
    g[N + SLOT_ERRORS] = (float)wrong;
    g[N + SLOT_SAMPLES] = (float)n;
    g[N + SLOT_STOP] = g_stop_signal || (t->rank == 0 && t->step == g_test_stop_at) ? 1.0f : 0.0f;
    g[N + SLOT_FAIL] = isfinite(ce) && isfinite(rate) ? 0.0f : 1.0f;
    if (t->nranks > 1) MPI_Allreduce(MPI_IN_PLACE, g, (int)(N + N_SLOTS), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    if (t->dev && t->nranks > 1) t->dops->to_device(t, 1, 0, N);
    for (int i = 0; i < N_SLOTS; i++) m[i] = g[N + i];
    if (dump) {
        FILE *f = fopen(g_test_dump_path, "wb");
        if (!f || fwrite(g, sizeof(float), N, f) != N || fclose(f)) fatal("cannot write EPR_TEST_DUMP_GRAD");
    }
    if (m[SLOT_FAIL] > 0 || !isfinite(m[SLOT_CE]) || !isfinite(m[SLOT_RATE])) {
        char msg[160];
        snprintf(msg, sizeof msg, "non-finite loss (cross-entropy sum %g, rate %g bits)%s", m[SLOT_CE], m[SLOT_RATE],
                 isfinite(ce) && isfinite(rate) ? " on another rank" : "");
        int local = !(isfinite(ce) && isfinite(rate));
        /* one message: from the rank whose own loss is bad, or from rank 0
         * when only the sum overflowed */
        if (local || (m[SLOT_FAIL] == 0 && t->rank == 0)) fatal(msg);
        pause(); /* that rank takes the job down */
    }
}

/* The network optimizer on the network segment (Ψ by Adam under SGD). */
static void step_update_net(trainer *t) {
    const cfg_experiment *cfg = t->cfg;
    trainer_arrays a = arrays(t);
    float *p = a.p, *g = a.g;
    size_t nn = epr_model_net_size(t->em);
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
            do_adam(t, &t->dec_adam, p + b, g + b, a.dec1, a.dec2, e - b);
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
    size_t doff = epr_model_density_offset(t->em), nd = epr_model_density_size(t->em);
    if (!nd || t->sched.phi_frozen) return 0; /* the rate of a frozen φ is not trained */
    if (t->rank == 0) do_adam(t, &t->dens_adam, a.p + doff, a.g + doff, a.dens1, a.dens2, nd);
    else t->dens_adam.t++;
    double tc = epr_now_s();
    if (t->nranks > 1) {
        if (t->dev && t->rank == 0) t->dops->to_host(t, 0, doff, nd);
        MPI_Bcast(epr_model_params(t->em) + doff, (int)nd, MPI_FLOAT, 0, MPI_COMM_WORLD);
        if (t->dev && t->rank != 0) t->dops->to_device(t, 0, doff, nd);
    }
    return epr_now_s() - tc;
}

/* EMA of the network segment, warm-up as in TensorFlow's
 * ExponentialMovingAverage(num_updates). */
static void step_ema(trainer *t) {
    if (!t->ema) return;
    float d = (float)((1.0 + (double)t->step) / (10.0 + (double)t->step));
    if (d > t->cfg->ema) d = t->cfg->ema;
    trainer_arrays a = arrays(t);
    if (t->dev) t->dops->ema(t, a.ema, a.p, epr_model_net_size(t->em), d);
    else nn_ema_update(a.ema, a.p, epr_model_net_size(t->em), d);
}

/* The frozen-φ phase (run/phi_hold.h): at its first step training goes on
 * from the EMA weights (the model that will be written); φ of the
 * parameters, which hold φ·s, is captured for phi_hold_apply. */
static void step_hold_begin(trainer *t) {
    float *p = epr_model_params(t->em);
    if (t->step == schedule_freeze_start(t->cfg) && t->ema)
        memcpy(p, t->ema, epr_model_net_size(t->em) * sizeof *p);
    phi_hold_capture(t->hold, p);
}

void trainer_step(trainer *t, double m[N_SLOTS]) {
    const cfg_experiment *cfg = t->cfg;
    trainer_times *tm = &t->times;
    double t0 = epr_now_s();
    t->sched = schedule_at(cfg, t->step); /* every use of lr and λ of this step reads t->sched */
    if (t->sched.phi_frozen && t->hold) step_hold_begin(t); /* CPU only (trainer_setup) */
    if (t->pr) baseline_events(t);
    int n = t->dev ? t->dops->batch(t) : trainer_gather(t, t->step, t->x, t->y, t->idx);

    double t1 = epr_now_s(), c1 = t->opts->phase_cpu ? epr_cpu_s() : 0;
    double ce = 0;
    int wrong = 0;
    if (t->dev) {
        t->dops->net(t, n, &ce, &wrong);
    } else {
        epr_model_decode(t->em);
        ce = n ? nn_forward(t->net, t->x, t->y, n, 1) : 0.0;
        wrong = n ? nn_count_errors(t->net, t->y, n, NULL) : 0;
        if (n) nn_backward(t->net, 1.0f / (float)cfg->batch);
        epr_model_backward(t->em);
    }

    double t2 = epr_now_s(), c2 = t->opts->phase_cpu ? epr_cpu_s() : 0;
    double rate = 0;
    if (cfg->epr_enabled)
        rate = t->dev ? t->dops->rate(t, t->sched.lambda)
                      : epr_model_rate_noisy(t->em, cfg->seed, t->step, t->sched.lambda, t->rank, t->nranks);

    double t3 = epr_now_s(), c3 = t->opts->phase_cpu ? epr_cpu_s() : 0;
    step_allreduce(t, ce, rate, wrong, n, m);

    double t4 = epr_now_s();
    if (t->pr) prune_tie_grads(t->pr, epr_model_grads(t->em)); /* identical on every rank: after the allreduce */
    step_update_net(t);
    double bcast = step_update_density(t);
    step_ema(t);
    if (t->sched.phi_frozen && t->hold) { /* the latents back at φ·s for the new s */
        phi_hold_apply(t->hold, epr_model_params(t->em));
        if (t->ema) phi_hold_apply(t->hold, t->ema);
    }
    t->step++;
    g_step = t->step;

    double t5 = epr_now_s();
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
    int rc = trainer_setup(t, cfg, opts, train, test, err);
    if (rc) {
        trainer_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

double trainer_test_error(trainer *t, int ema) {
    if (ema) return evaluate_ema(t, NULL);
    do_decode(t);
    return evaluate(t, &t->test, NULL);
}

long trainer_steps(const trainer *t) { return t->step; }
epr_model *trainer_model(trainer *t) {
    if (t->dev) t->dops->download(t); /* the host arrays take the device state */
    return t->em;
}
const trainer_times *trainer_phase_times(const trainer *t) { return &t->times; }

void trainer_free(trainer *t) {
    if (!t) return;
    trainer_release(t);
    free(t);
}

/* Make the last curve row the one of `step` (appending a row of NaN if
 * needed); set_cell then fills it. */
static void add_row(trainer *t, long step) {
    if (t->n_rows && t->curves[CURVE_STEP][t->n_rows - 1] == (double)step) return;
    if (t->n_rows == t->cap_rows) return; /* cannot happen: sized for the run */
    for (int i = 0; i < N_CURVES; i++) t->curves[i][t->n_rows] = NAN;
    t->curves[CURVE_STEP][t->n_rows] = (double)step;
    t->n_rows++;
}

static void set_cell(trainer *t, int curve, double v) {
    if (t->n_rows) t->curves[curve][t->n_rows - 1] = v;
}

static void print_rate_report(trainer *t, FILE *f) {
    int ng = epr_model_num_groups(t->em);
    double per[CFG_MAX_GROUPS];
    double total = epr_model_rate_exact(t->em, per);
    for (int g = 0; g < ng; g++)
        fprintf(f, "  group %-10s %9zu params  %12.0f bits  %9.3f KB  %.3f bits/param\n", epr_model_group(t->em, g)->name,
                epr_model_group_num_params(t->em, g), per[g], per[g] / 8e3,
                per[g] / (double)epr_model_group_num_params(t->em, g));
    fprintf(f, "  total            %9zu params  %12.0f bits  %9.3f KB\n", epr_model_num_compressed(t->em), total,
            total / 8e3);
}

/* Encode the quantised EMA model into OUT/model.epr (atomically), then
 * decode that file and evaluate it: the error reported for the compressed
 * model is the error of the bytes on disk, computed by the same code as
 * `epr eval`.  Expects the EMA values in the train block. */
static int write_bitstream(trainer *t, train_result *res, const int *dev_preds, FILE *out, epr_err *err) {
    void *bytes = NULL;
    size_t len = 0;
    int rc = bitstream_encode(t->em, t->arch_text, &bytes, &len, NULL, err);
    if (!rc) rc = fs_write_atomic(t->epr_path, bytes, len, err);
    epr_file *f = NULL;
    if (!rc) rc = epr_file_open_memory(bytes, len, &f, err);
    free(bytes);
    int *preds = NULL;
    if (!rc) {
        preds = malloc((size_t)t->test.n * sizeof *preds + 1);
        if (!preds) rc = epr_fail(err, EPR_ENOMEM, "out of memory");
    }
    double e = 0;
    if (!rc) rc = bitstream_evaluate(f, &t->test, t->cfg->eval_batch, &e, preds, err);
    if (!rc) {
        epr_size_parts p;
        epr_file_sizes(f, &p);
        double parts[9] = {p.header, p.arch, p.decoder, p.tables, p.index, p.coded, p.extras, p.crc, p.total};
        memcpy(res->size_parts, parts, sizeof parts);
        res->file_bytes = (long)len;
        res->test_error_file = e;
        res->predictions_crc = epr_crc32(preds, (size_t)t->test.n * sizeof *preds);
        if (dev_preds) {
            res->device_predictions_differ = 0;
            for (int i = 0; i < t->test.n; i++) res->device_predictions_differ += preds[i] != dev_preds[i];
        }
        if (out) {
            fprintf(out, "wrote %s: %zu bytes (%.2f KB), %.1fx smaller than float32 (%zu bytes)\n", t->epr_path, len,
                    len / 1e3, 4.0 * (double)nn_model_num_params(t->net) / (double)len,
                    4 * nn_model_num_params(t->net));
            bitstream_print_sizes(f, out, 0);
            fprintf(out, "decoded %s: test error %.2f%% (%d/%d wrong), predictions crc32 %08x\n", t->epr_path,
                    100 * e, (int)(e * t->test.n + 0.5), t->test.n, res->predictions_crc);
            if (dev_preds)
                fprintf(out, "%s's final evaluation of the written (quantised) weights and the CPU's decode of %s "
                             "differ on %ld of %d test predictions\n",
                        t->device_name, t->epr_path, res->device_predictions_differ, t->test.n);
        }
    }
    free(preds);
    epr_file_close(f);
    return rc;
}

/* The end of a run (rank 0): errors of the raw and EMA weights, the exact
 * rate, the bitstream and its decoded error, then the final run file. */
static int finish(trainer *t, train_result *res, double wall, FILE *out, epr_err *err) {
    const cfg_experiment *cfg = t->cfg;
    int *dev_preds = NULL;
    res->device_predictions_differ = -1;
    if (t->dev) { /* the host arrays take the device state: the .epr and run file are written from them */
        t->dops->download(t);
        dev_preds = malloc((size_t)t->test.n * sizeof *dev_preds + 1);
        RETURN_ERROR_IF(!dev_preds, err, EPR_ENOMEM, "out of memory");
    }
    do_decode(t);
    res->test_error_raw = evaluate(t, &t->test, NULL); /* on the device when the step runs there */
    res->test_error = evaluate_ema(t, NULL);
    res->steps = t->step;
    /* which weights are written: chosen on validation, never on test */
    res->validation_error_ema = res->validation_error_raw = NAN;
    if (t->valid.n) {
        do_decode(t);
        res->validation_error_raw = evaluate(t, &t->valid, NULL);
        res->validation_error_ema = t->ema ? evaluate_ema_on(t, &t->valid, NULL) : res->validation_error_raw;
        res->chose_raw = t->ema && res->validation_error_raw < res->validation_error_ema;
    }
    const int use_ema = t->ema && !res->chose_raw;
    if (dev_preds) { /* the device's predictions of the weights that are written */
        if (use_ema) {
            evaluate_ema(t, dev_preds);
        } else {
            do_decode(t);
            evaluate(t, &t->test, dev_preds);
        }
    }
    if (out) {
        fprintf(out, "done: %ld steps in %.1f s; %.2f ms/step, %.0f img/s, allreduce + broadcast %.1f%% of step time "
                     "(rank 0)\n",
                t->step, wall, 1e3 * t->step_s / (double)(t->timed_steps ? t->timed_steps : 1),
                t->step_s > 0 ? (double)t->timed_steps * cfg->batch / t->step_s : 0.0,
                t->step_s > 0 ? 100.0 * t->times.comm / t->step_s : 0.0);
        fprintf(out, "test error: %.2f%% %s, %.2f%% raw weights\n", 100 * res->test_error,
                cfg->epr_enabled ? "(quantised EMA)" : (t->ema ? "(EMA)" : ""), 100 * res->test_error_raw);
        if (t->valid.n)
            fprintf(out, "validation error (%d held-out training images): %.2f%% EMA, %.2f%% raw: the %s weights "
                         "are written (chosen on validation)\n",
                    t->valid.n, 100 * res->validation_error_ema, 100 * res->validation_error_raw,
                    use_ema ? "EMA" : "raw");
    }
    int rc = 0;
    if (cfg->epr_enabled) {
        if (use_ema) swap_ema_host(t, 1);
        res->rate_exact_bits = epr_model_rate_exact(t->em, NULL);
        if (out) {
            fprintf(out, "exact self-information of the quantised %s model (learned densities):\n", use_ema ? "EMA" : "raw");
            print_rate_report(t, out);
            fprintf(out, "lambda %g, lambda * compressed params %g\n", cfg->lambda,
                    cfg->lambda * (double)epr_model_num_compressed(t->em));
        }
        rc = write_bitstream(t, res, dev_preds, out, err);
        if (use_ema) swap_ema_host(t, 0);
    }
    free(dev_preds);
    if (!rc) {
        add_row(t, t->step);
        set_cell(t, CURVE_TEST_ERROR,
                 cfg->epr_enabled ? res->test_error_file : use_ema || !t->ema ? res->test_error : res->test_error_raw);
        if (t->valid.n)
            set_cell(t, CURVE_VALIDATION_ERROR, use_ema ? res->validation_error_ema : res->validation_error_raw);
        if (cfg->epr_enabled) set_cell(t, CURVE_RATE_EXACT, res->rate_exact_bits);
        rc = checkpoint_write(t, res, wall, err);
    }
    if (!rc && out) fprintf(out, "run file: %s\n", t->run_path);
    if (!rc && t->opts->after_training) { /* e.g. post-training baselines of the written (EMA) weights */
        if (use_ema) swap_ema_host(t, 1);
        rc = t->opts->after_training(t->net, cfg, t->arch_text, &t->test, t->opts->out_dir, res->steps, wall, out, err);
        if (use_ema) swap_ema_host(t, 0);
    }
    return rc;
}

int train_run(const cfg_experiment *cfg, const train_opts *opts, train_result *res, epr_err *err) {
    trainer t;
    memset(&t, 0, sizeof t);
    memset(res, 0, sizeof *res);
    parse_test_hooks();
    int rc = trainer_setup(&t, cfg, opts, NULL, NULL, err);
    g_rank = t.rank;
    if (!rc && opts->resume) rc = checkpoint_resume(&t, opts->resume, err);
    if (!rc && opts->resume && t.pr) /* the mask and clusters follow from the weights (prune.h) */
        rc = prune_restore(t.pr, epr_model_params(t.em), cfg->prune > 0 && t.step > cfg->prune_at,
                           cfg->kmeans_bits && t.step > cfg->kmeans_at, err);
    if (t.nranks > 1) {
        /* a rank that could not start takes the job down (no rank may wait
         * in a collective for it) */
        int bad = rc != 0, any = 0;
        MPI_Allreduce(&bad, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
        if (bad) fatal(err->msg);
        if (any) pause();
    }
    if (rc) {
        trainer_release(&t);
        return rc;
    }
    g_step = t.step;
    install_signal_handlers();
    int root = t.rank == 0 && !opts->quiet;
    FILE *out = stdout;
    if (root) {
        char vn[48] = "";
        if (t.valid.n) snprintf(vn, sizeof vn, " / %d validation", t.valid.n);
        fprintf(out, "epr train %s: %s on %s (%d train%s / %d test), %d rank%s, batch %d, %ld steps, on %s\n",
                cfg->path, cfg->model_name, cfg->data_set, t.train.n, vn, t.test.n, t.nranks,
                t.nranks > 1 ? "s" : "", cfg->batch, cfg->steps, t.device_name);
        fprintf(out, "  %zu parameters (float32 %zu bytes)", nn_model_num_params(t.net), 4 * nn_model_num_params(t.net));
        if (cfg->epr_enabled)
            fprintf(out, "; EPR: %d groups over %zu parameters, lambda %g (lambda*n = %g), density lr %g",
                    epr_model_num_groups(t.em), epr_model_num_compressed(t.em), cfg->lambda,
                    cfg->lambda * (double)epr_model_num_compressed(t.em), cfg->density_lr);
        fprintf(out, "\n");
        if (t.pr) {
            fprintf(out, "  Deep Compression baseline over %d groups:", cfg->n_groups);
            if (cfg->prune > 0) fprintf(out, " prune %g at step %ld", cfg->prune, cfg->prune_at);
            if (cfg->kmeans_bits) fprintf(out, "%s %d-bit weight sharing at step %ld", cfg->prune > 0 ? "," : "",
                                          cfg->kmeans_bits, cfg->kmeans_at);
            fprintf(out, "\n");
        }
        char sched[512];
        schedule_describe(cfg, sched, sizeof sched);
        fprintf(out, "  schedule: %s\n", sched);
        if (opts->resume) fprintf(out, "resumed from %s at step %ld\n", opts->resume, t.step);
        if (opts->resume && t.pr && ((cfg->prune > 0 && t.step > cfg->prune_at) ||
                                     (cfg->kmeans_bits && t.step > cfg->kmeans_at))) {
            fprintf(out, "  pruning / weight sharing state rebuilt from the restored weights:\n");
            prune_print(t.pr, out);
        }
        fflush(out);
    }

    double t0 = epr_now_s(), tlast = t0;
    long first_step = t.step, last_step = t.step;
    while (t.step < cfg->steps) {
        double m[N_SLOTS];
        double ts = epr_now_s();
        trainer_step(&t, m);
        t.step_s += epr_now_s() - ts;
        t.timed_steps++;
        for (int i = 0; i < N_SLOTS; i++) t.acc[i] += m[i];
        t.acc_steps++;
        int stop = m[SLOT_STOP] > 0;
        if (t.step % cfg->log_every == 0 || t.step == cfg->steps) {
            double tn = epr_now_s();
            double ips = (double)(t.step - last_step) * cfg->batch / (tn - tlast);
            double k = (double)t.acc_steps;
            double ce = t.acc[SLOT_CE] / t.acc[SLOT_SAMPLES], rate = t.acc[SLOT_RATE] / k;
            double loss = ce + (cfg->epr_enabled ? t.sched.lambda * rate : 0); /* λ of the last step */
            double terr = t.acc[SLOT_ERRORS] / t.acc[SLOT_SAMPLES];
            if (t.rank == 0) {
                add_row(&t, t.step);
                set_cell(&t, CURVE_LOSS, loss);
                set_cell(&t, CURVE_CE, ce);
                if (cfg->epr_enabled) set_cell(&t, CURVE_RATE_NOISY, rate);
                set_cell(&t, CURVE_TRAIN_ERROR, terr);
                set_cell(&t, CURVE_IMAGES_PER_S, ips);
            }
            if (root) {
                char eta[32];
                fmt_duration((double)(cfg->steps - t.step) * (tn - t0) / (double)(t.step - first_step), eta,
                             sizeof eta);
                fprintf(out, "step %6ld/%ld  loss %.4f  ce %.4f  train err %5.2f%%", t.step, cfg->steps, loss, ce,
                        100 * terr);
                if (cfg->epr_enabled) fprintf(out, "  rate~ %.0f bits (%.2f KB)", rate, rate / 8e3);
                fprintf(out, "  %.0f img/s  ETA %s\n", ips, eta);
                fflush(out);
            }
            memset(t.acc, 0, sizeof t.acc);
            t.acc_steps = 0;
            tlast = tn;
            last_step = t.step;
        }
        if (cfg->eval_every > 0 && t.step % cfg->eval_every == 0 && t.step != cfg->steps && t.rank == 0) {
            double e = evaluate_ema(&t, NULL), ve = t.valid.n ? evaluate_ema_on(&t, &t.valid, NULL) : NAN;
            add_row(&t, t.step);
            set_cell(&t, CURVE_TEST_ERROR, e);
            set_cell(&t, CURVE_VALIDATION_ERROR, ve);
            double bits = NAN;
            if (cfg->epr_enabled) {
                swap_ema(&t, 1);
                bits = rate_exact(&t, NULL);
                swap_ema(&t, 0);
                set_cell(&t, CURVE_RATE_EXACT, bits);
            }
            if (root) {
                fprintf(out, "eval step %ld: test error %.2f%% (%s)", t.step, 100 * e,
                        cfg->epr_enabled ? "quantised EMA" : "EMA");
                if (t.valid.n) fprintf(out, ", validation %.2f%%", 100 * ve);
                if (cfg->epr_enabled) fprintf(out, ", exact rate %.0f bits (%.2f KB)", bits, bits / 8e3);
                fprintf(out, "\n");
                fflush(out);
            }
            tlast = epr_now_s(); /* evaluation time is not training throughput */
        }
        if (t.step < cfg->steps && (stop || t.step % cfg->checkpoint_every == 0)) {
            if (t.rank == 0) {
                rc = checkpoint_write(&t, NULL, t.wall_before + epr_now_s() - t0, err);
                if (rc) fatal(err->msg);
                if (root) fprintf(out, "checkpoint %s at step %ld%s\n", t.run_path, t.step,
                                  stop ? " (stopping on signal; resume with --resume)" : "");
                fflush(out);
            }
            if (stop) {
                trainer_release(&t);
                return TRAIN_STOPPED;
            }
            tlast = epr_now_s();
        }
    }
    double wall = t.wall_before + epr_now_s() - t0;
    rc = 0;
    if (t.rank == 0) rc = finish(&t, res, wall, root ? out : NULL, err);
    if (t.nranks > 1) MPI_Bcast(&rc, 1, MPI_INT, 0, MPI_COMM_WORLD);
    trainer_release(&t);
    return rc;
}
