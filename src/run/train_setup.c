/* run/train_setup.c — a trainer from an experiment (train_setup) and back
 * (train_release): the ranks, the run directory (lock, --out refusal,
 * stale checkpoint temporaries), the data sets, the network and the EPR
 * model, the Deep Compression baseline's state, every array the step
 * uses (nothing in the loop allocates), and the device path.  May call:
 * libc, MPI, OpenBLAS (threads), nn, epr, run/data_sets, run/experiment,
 * run/init_weights, run/bitstream (architecture text), run/prune,
 * run/phi_hold, run/fsutil, run/train_cuda.c (trainer_dev_create). */
#include <cblas.h>
#include <glob.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "run/bitstream.h"
#include "run/data_sets.h"
#include "run/experiment.h"
#include "run/fsutil.h"
#include "run/init_weights.h"
#include "run/train_internal.h"

void train_release(trainer *t) {
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
    rp_model_free(t->em);
    nn_model_free(t->net);
    dataset_free(&t->train);
    dataset_free(&t->test);
    free(t->cfg_own);
    fs_unlock_dir(&t->lock);
    dataset_free(&t->valid);
}

#define ALLOC(ptr, count)                                                         \
    do {                                                                          \
        (ptr) = calloc((size_t)(count) + 1, sizeof *(ptr));                       \
        if (!(ptr)) return cmn_fail(err, EPR_ENOMEM, "out of memory (%s)", #ptr); \
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
    return prune_create(t->net, rp_model_params(t->em), rp_model_net_size(t->em), defs, cfg->n_groups, cfg->prune,
                        cfg->kmeans_bits, &t->pr, err);
}

/* [train] device: "cpu", or the device path (run/train_cuda.c) once the
 * host state is complete; what it does not do is refused by name. */
static int setup_device(trainer *t, epr_err *err) {
    const cfg_experiment *cfg = t->cfg;
    snprintf(t->device_name, sizeof t->device_name, "cpu");
    if (!strcmp(cfg->device, "cuda")) {
        RETURN_ERROR_IF(t->pr, err, EPR_EUNSUP,
                        "%s: [baseline] prune / kmeans_bits run on the CPU only: set train.device = cpu", cfg->path);
        RETURN_ERROR_IF(
            t->hold, err, EPR_EUNSUP,
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
        return cmn_fail(err, EPR_EUNSUP,
                        "%s: [train] device = cuda, but this epr was built without CUDA: rebuild with -DEPR_CUDA=ON "
                        "(docs/gpu.md), or set train.device = cpu",
                        cfg->path);
#endif
    }
    return 0;
}

/* train / test: see trainer_create. */
int train_setup(trainer *t, const cfg_experiment *cfg, const train_opts *opts, dataset *train, dataset *test,
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
        if (train_claim_run_dir(t, opts, err)) {
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

    rp_group_def groups[CFG_MAX_GROUPS];
    int ng = cfg->epr_enabled ? experiment_groups(cfg, groups) : 0;
    RETURN_ERROR_IF(cfg->epr_enabled && ng == 0, err, EPR_EARG,
                    "%s: [epr] enabled = true needs at least one [group.NAME] section", cfg->path);
    int rc = rp_model_create(t->net, groups, ng, cfg->epr_enabled ? cfg->uncompressed : NULL, cfg->seed, &t->em, err);
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
    size_t nn = rp_model_net_size(t->em), nd = rp_model_density_size(t->em);
    ALLOC(t->opt1, nn);
    if (!strcmp(cfg->optimizer, "adam")) ALLOC(t->opt2, nn);
    rp_model_psi_range(t->em, &t->psi_begin, &t->psi_end);
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
        memcpy(t->ema, rp_model_params(t->em), nn * sizeof(float));
    }
    t->cap_rows =
        (size_t)(cfg->steps / cfg->log_every) + (cfg->eval_every ? (size_t)(cfg->steps / cfg->eval_every) : 0) + 4;
    for (int i = 0; i < N_CURVES; i++) ALLOC(t->curves[i], t->cap_rows);
    t->net_adam = (nn_adam){cfg->lr, cfg->beta1, cfg->beta2, cfg->adam_eps, 0};
    t->dens_adam = (nn_adam){cfg->density_lr, 0.9f, 0.999f, 1e-8f, 0};
    t->dec_adam = (nn_adam){cfg->decoder_lr, 0.9f, 0.999f, 1e-8f, 0};
    return setup_device(t, err);
}
