/* harness/train.c — see train.h.  The step, top to bottom:
 *
 *   indices of this rank's slice of global batch t   (sampler)
 *   θ = f(round(ϑ/s)) for compressed tensors          (epr_model_decode)
 *   forward, backward with grad scale 1/B             (nn)
 *   dθ → dϑ, dΨ                                       (epr_model_backward)
 *   λ·∂rate/∂(ϑ, log s, density) on this rank's rows  (epr_model_rate_noisy)
 *   one in-place MPI_Allreduce of the gradient block (+ 4 metric slots)
 *   network optimizer step, EMA; rank 0: density Adam step, broadcast
 *
 * Nothing in the loop allocates. */
#include "harness/train.h"

#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "epr/epr_model.h"
#include "harness/bitstream.h"
#include "harness/data_sets.h"
#include "harness/fsutil.h"
#include "nn/nn.h"

enum { SLOT_CE, SLOT_RATE, SLOT_ERRORS, SLOT_SAMPLES, N_SLOTS };

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void fmt_duration(double s, char *buf, size_t n) {
    if (!(s >= 0) || s > 1e7) s = 0;
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
    else
        snprintf(buf, n, "%ld:%02ld", t / 60, t % 60);
}

/* Test error of the network as it stands (parameters already decoded). */
static double evaluate(nn_model *net, const dataset *test, int eval_batch, float *x, int *y, uint32_t *idx) {
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

typedef struct {
    const cfg_experiment *cfg;
    int rank, nranks;
    dataset train, test;
    nn_model *net;
    epr_model *em;
    sampler smp;
    float *x;
    int *y;
    uint32_t *idx;
    float *opt1, *opt2;      /* network optimizer state (Adam m, v / SGD buf) */
    float *dens1, *dens2;    /* density Adam state (rank 0) */
    float *ema, *backup;
    nn_adam net_adam, dens_adam;
    long step;
} trainer;

/* Evaluate with the EMA weights swapped in (quantised when EPR is on). */
static double evaluate_ema(trainer *t) {
    size_t nn = epr_model_net_size(t->em);
    float *p = epr_model_params(t->em);
    if (t->ema) {
        memcpy(t->backup, p, nn * sizeof *p);
        memcpy(p, t->ema, nn * sizeof *p);
    }
    epr_model_decode(t->em);
    double e = evaluate(t->net, &t->test, t->cfg->eval_batch, t->x, t->y, t->idx);
    if (t->ema) memcpy(p, t->backup, nn * sizeof *p);
    epr_model_decode(t->em);
    return e;
}

static void trainer_free(trainer *t) {
    free(t->x);
    free(t->y);
    free(t->idx);
    free(t->opt1);
    free(t->opt2);
    free(t->dens1);
    free(t->dens2);
    free(t->ema);
    free(t->backup);
    sampler_free(&t->smp);
    epr_model_free(t->em);
    nn_model_free(t->net);
    dataset_free(&t->train);
    dataset_free(&t->test);
}

static int groups_from_config(const cfg_experiment *cfg, epr_group_def *g) {
    for (int i = 0; i < cfg->n_groups; i++) {
        const cfg_group *c = &cfg->groups[i];
        memset(&g[i], 0, sizeof g[i]);
        snprintf(g[i].name, sizeof g[i].name, "%s", c->name);
        g[i].decoder = strcmp(c->decoder, "affine") ? EPR_DECODER_CONV_AFFINE : EPR_DECODER_AFFINE;
        g[i].transform = !strcmp(c->transform, "dft")                 ? EPR_TRANSFORM_DFT
                         : !strcmp(c->transform, "random-orthogonal") ? EPR_TRANSFORM_RANDOM_ORTHOGONAL
                         : !strcmp(c->transform, "learned")           ? EPR_TRANSFORM_LEARNED
                                                                      : EPR_TRANSFORM_IDENTITY;
        g[i].ell = c->ell;
        g[i].kh = c->kh;
        g[i].kw = c->kw;
        g[i].log_step = c->log_step;
        g[i].n_tensors = c->n_tensors;
        for (int j = 0; j < c->n_tensors; j++) g[i].tensors[j] = c->tensors[j];
    }
    return cfg->epr_enabled ? cfg->n_groups : 0;
}

#define ALLOC(ptr, count)                                                                    \
    do {                                                                                     \
        (ptr) = calloc((size_t)(count) + 1, sizeof *(ptr));                                  \
        if (!(ptr)) return epr_fail(err, EPR_ENOMEM, "out of memory (%s)", #ptr);             \
    } while (0)

static int trainer_setup(trainer *t, const cfg_experiment *cfg, epr_err *err) {
    t->cfg = cfg;
    MPI_Comm_rank(MPI_COMM_WORLD, &t->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &t->nranks);
    openblas_set_num_threads(cfg->threads);

    CHECK_STATUS(data_load_experiment(cfg, &t->train, &t->test, err));
    int local_max = (cfg->batch + t->nranks - 1) / t->nranks;
    int max_batch = local_max > cfg->eval_batch ? local_max : cfg->eval_batch;
    CHECK_STATUS(nn_model_build(cfg->layers, t->train.c, t->train.h, t->train.w, max_batch, &t->net, err));
    RETURN_ERROR_IF(nn_model_num_classes(t->net) < t->train.n_classes, err, EPR_EARG,
                    "%s: the network has %d outputs but the data set has %d classes", cfg->path,
                    nn_model_num_classes(t->net), t->train.n_classes);

    epr_group_def groups[CFG_MAX_GROUPS];
    int ng = groups_from_config(cfg, groups);
    RETURN_ERROR_IF(cfg->epr_enabled && ng == 0, err, EPR_EARG,
                    "%s: [epr] enabled = true needs at least one [group.NAME] section", cfg->path);
    int rc = epr_model_create(t->net, groups, ng, cfg->seed, &t->em, err);
    if (rc) {
        /* prefix the experiment file so the user knows where to look */
        char m[sizeof err->msg];
        memcpy(m, err->msg, sizeof m);
        snprintf(err->msg, sizeof err->msg, "%.200s: %.300s", cfg->path, m);
        return rc;
    }
    CHECK_STATUS(sampler_init(&t->smp, t->train.n, cfg->seed, err));

    size_t in = (size_t)t->train.c * t->train.h * t->train.w;
    ALLOC(t->x, (size_t)max_batch * in);
    ALLOC(t->y, max_batch);
    ALLOC(t->idx, max_batch);
    size_t nn = epr_model_net_size(t->em), nd = epr_model_density_size(t->em);
    ALLOC(t->opt1, nn);
    if (!strcmp(cfg->optimizer, "adam")) ALLOC(t->opt2, nn);
    if (nd && t->rank == 0) {
        ALLOC(t->dens1, nd);
        ALLOC(t->dens2, nd);
    }
    if (cfg->ema > 0) {
        ALLOC(t->ema, nn);
        ALLOC(t->backup, nn);
        memcpy(t->ema, epr_model_params(t->em), nn * sizeof(float));
    }
    t->net_adam = (nn_adam){cfg->lr, cfg->beta1, cfg->beta2, cfg->adam_eps, 0};
    t->dens_adam = (nn_adam){cfg->density_lr, 0.9f, 0.999f, 1e-8f, 0};
    return 0;
}

/* One optimizer step; returns the global mean cross-entropy etc. in m[]. */
static void train_step(trainer *t, double m[N_SLOTS]) {
    const cfg_experiment *cfg = t->cfg;
    int B = cfg->batch;
    /* contiguous slice of the global batch; slices differ by at most one */
    int begin, end;
    sampler_rank_slice(B, t->rank, t->nranks, &begin, &end);
    int n = end - begin;
    sampler_batch(&t->smp, t->step, B, begin, end, t->idx);
    dataset_gather(&t->train, t->idx, n, t->x, t->y);

    epr_model_decode(t->em);
    double ce = n ? nn_forward(t->net, t->x, t->y, n, 1) : 0.0;
    int wrong = n ? nn_count_errors(t->net, t->y, n, NULL) : 0;
    if (n) nn_backward(t->net, 1.0f / (float)B);
    epr_model_backward(t->em);
    double rate = 0;
    if (cfg->epr_enabled)
        rate = epr_model_rate_noisy(t->em, cfg->seed, t->step, cfg->lambda, t->rank, t->nranks);

    size_t N = epr_model_size(t->em);
    float *g = epr_model_grads(t->em);
    g[N + SLOT_CE] = (float)ce;
    g[N + SLOT_RATE] = (float)rate;
    g[N + SLOT_ERRORS] = (float)wrong;
    g[N + SLOT_SAMPLES] = (float)n;
    if (t->nranks > 1) MPI_Allreduce(MPI_IN_PLACE, g, (int)(N + N_SLOTS), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    for (int i = 0; i < N_SLOTS; i++) m[i] = g[N + i];

    float *p = epr_model_params(t->em);
    size_t nn = epr_model_net_size(t->em);
    float lr = nn_lr_step_schedule(cfg->lr, cfg->lr_decay, cfg->lr_milestones, cfg->n_milestones, t->step);
    if (t->opt2) {
        t->net_adam.lr = lr;
        nn_adam_step(&t->net_adam, p, g, t->opt1, t->opt2, nn);
    } else {
        nn_sgd sgd = {lr, cfg->momentum, cfg->weight_decay};
        nn_sgd_step(&sgd, p, g, t->opt1, nn);
    }
    size_t doff = epr_model_density_offset(t->em), nd = epr_model_density_size(t->em);
    if (nd) {
        if (t->rank == 0) nn_adam_step(&t->dens_adam, p + doff, g + doff, t->dens1, t->dens2, nd);
        if (t->nranks > 1) MPI_Bcast(p + doff, (int)nd, MPI_FLOAT, 0, MPI_COMM_WORLD);
    }
    if (t->ema) {
        /* warm-up as in TensorFlow's ExponentialMovingAverage(num_updates) */
        float d = (float)(1.0 + (double)t->step) / (float)(10.0 + (double)t->step);
        if (d > cfg->ema) d = cfg->ema;
        nn_ema_update(t->ema, p, nn, d);
    }
    t->step++;
}

static void print_rate_report(trainer *t, FILE *f) {
    int ng = epr_model_num_groups(t->em);
    double per[CFG_MAX_GROUPS];
    double total = epr_model_rate_exact(t->em, per);
    for (int g = 0; g < ng; g++)
        fprintf(f, "  group %-10s %9zu params  %12.0f bits  %9.3f KB  %.3f bits/param\n", epr_model_group(t->em, g)->name,
                epr_model_group_num_params(t->em, g), per[g], per[g] / 8192.0,
                per[g] / (double)epr_model_group_num_params(t->em, g));
    fprintf(f, "  total            %9zu params  %12.0f bits  %9.3f KB\n", epr_model_num_compressed(t->em), total,
            total / 8192.0);
}

/* Encode the quantised EMA model into OUT/model.epr (atomically), then
 * decode that file and evaluate it: the error reported for the compressed
 * model is the error of the bytes on disk, computed by the same code as
 * `epr eval`. */
static int write_bitstream(trainer *t, const char *out_dir, train_result *res, FILE *out, epr_err *err) {
    char *arch = bitstream_arch_text(t->cfg->layers, &t->train);
    RETURN_ERROR_IF(!arch, err, EPR_ENOMEM, "out of memory");
    void *bytes = NULL;
    size_t len = 0;
    int rc = bitstream_encode(t->em, arch, &bytes, &len, NULL, err);
    free(arch);
    char path[1200];
    snprintf(path, sizeof path, "%s/model.epr", out_dir);
    if (!rc) rc = fs_mkdir_p(out_dir, err);
    if (!rc) rc = fs_write_atomic(path, bytes, len, err);
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
        res->file_bytes = (long)len;
        res->test_error_file = e;
        res->predictions_crc = epr_crc32(preds, (size_t)t->test.n * sizeof *preds);
        if (out) {
            fprintf(out, "wrote %s: %zu bytes (%.2f KB), %.1fx smaller than float32 (%zu bytes)\n", path, len,
                    len / 1024.0, 4.0 * (double)nn_model_num_params(t->net) / (double)len,
                    4 * nn_model_num_params(t->net));
            bitstream_print_sizes(f, out, 0);
            fprintf(out, "decoded %s: test error %.2f%% (%d/%d wrong), predictions crc32 %08x\n", path, 100 * e,
                    (int)(e * t->test.n + 0.5), t->test.n, res->predictions_crc);
        }
    }
    free(preds);
    epr_file_close(f);
    return rc;
}

int train_run(const cfg_experiment *cfg, const train_opts *opts, train_result *res, epr_err *err) {
    trainer t;
    memset(&t, 0, sizeof t);
    memset(res, 0, sizeof *res);
    int rc = trainer_setup(&t, cfg, err);
    if (rc) {
        trainer_free(&t);
        return rc;
    }
    int root = t.rank == 0 && !opts->quiet;
    FILE *out = stdout;
    if (root) {
        fprintf(out, "epr train %s: %s on %s (%d train / %d test), %d rank%s, batch %d, %ld steps\n", cfg->path,
                cfg->model_name, cfg->data_set, t.train.n, t.test.n, t.nranks, t.nranks > 1 ? "s" : "", cfg->batch,
                cfg->steps);
        fprintf(out, "  %zu parameters (float32 %zu bytes)", nn_model_num_params(t.net),
                4 * nn_model_num_params(t.net));
        if (cfg->epr_enabled)
            fprintf(out, "; EPR: %d groups over %zu parameters, lambda %g (lambda*n = %g), density lr %g",
                    epr_model_num_groups(t.em), epr_model_num_compressed(t.em), cfg->lambda,
                    cfg->lambda * (double)epr_model_num_compressed(t.em), cfg->density_lr);
        fprintf(out, "\n");
        fflush(out);
    }

    double t0 = now_s(), tlast = t0;
    long last_step = t.step;
    double acc[N_SLOTS] = {0};
    while (t.step < cfg->steps) {
        double m[N_SLOTS];
        train_step(&t, m);
        double loss = m[SLOT_CE] / cfg->batch + cfg->lambda * m[SLOT_RATE] * (cfg->epr_enabled ? 1 : 0);
        if (!isfinite(loss)) {
            fprintf(stderr, "epr: rank %d: step %ld: loss is %f (NaN/Inf): aborting\n", t.rank, t.step, loss);
            fflush(stderr);
            MPI_Abort(MPI_COMM_WORLD, 3);
        }
        for (int i = 0; i < N_SLOTS; i++) acc[i] += m[i];
        if (root && (t.step % cfg->log_every == 0 || t.step == cfg->steps)) {
            double tn = now_s();
            double ips = (double)(t.step - last_step) * cfg->batch / (tn - tlast);
            char eta[32];
            fmt_duration((double)(cfg->steps - t.step) * (tn - t0) / (double)t.step, eta, sizeof eta);
            long k = t.step - last_step;
            fprintf(out, "step %6ld/%ld  loss %.4f  ce %.4f  train err %5.2f%%", t.step, cfg->steps,
                    acc[SLOT_CE] / acc[SLOT_SAMPLES] + (cfg->epr_enabled ? cfg->lambda * acc[SLOT_RATE] / k : 0),
                    acc[SLOT_CE] / acc[SLOT_SAMPLES], 100.0 * acc[SLOT_ERRORS] / acc[SLOT_SAMPLES]);
            if (cfg->epr_enabled) fprintf(out, "  rate~ %.0f bits (%.2f KB)", acc[SLOT_RATE] / k, acc[SLOT_RATE] / k / 8192.0);
            fprintf(out, "  %.0f img/s  ETA %s\n", ips, eta);
            fflush(out);
            memset(acc, 0, sizeof acc);
            tlast = tn;
            last_step = t.step;
        }
        if (cfg->eval_every > 0 && t.step % cfg->eval_every == 0 && t.step != cfg->steps && t.rank == 0) {
            double e = evaluate_ema(&t);
            if (root) {
                fprintf(out, "eval step %ld: test error %.2f%% (%s)", t.step, 100 * e,
                        cfg->epr_enabled ? "quantised EMA" : "EMA");
                if (cfg->epr_enabled) {
                    double bits = epr_model_rate_exact(t.em, NULL);
                    fprintf(out, ", exact rate %.0f bits (%.2f KB, raw weights)", bits, bits / 8192);
                }
                fprintf(out, "\n");
                fflush(out);
            }
            tlast = now_s(); /* evaluation time is not training throughput */
        }
    }
    double wall = now_s() - t0;
    if (t.rank == 0) {
        epr_model_decode(t.em);
        res->test_error_raw = evaluate(t.net, &t.test, cfg->eval_batch, t.x, t.y, t.idx);
        res->test_error = evaluate_ema(&t);
        res->steps = t.step;
        if (root) {
            fprintf(out, "done: %ld steps in %.1f s (%.0f img/s)\n", t.step, wall, (double)t.step * cfg->batch / wall);
            fprintf(out, "test error: %.2f%% %s, %.2f%% raw weights\n", 100 * res->test_error,
                    cfg->epr_enabled ? "(quantised EMA)" : (t.ema ? "(EMA)" : ""), 100 * res->test_error_raw);
        }
        if (cfg->epr_enabled) {
            size_t nn = epr_model_net_size(t.em);
            float *p = epr_model_params(t.em);
            if (t.ema) memcpy(p, t.ema, nn * sizeof *p);
            res->rate_exact_bits = epr_model_rate_exact(t.em, NULL);
            if (root) {
                fprintf(out, "exact self-information of the quantised EMA model (learned densities):\n");
                print_rate_report(&t, out);
                fprintf(out, "lambda %g, lambda * compressed params %g\n", cfg->lambda,
                        cfg->lambda * (double)epr_model_num_compressed(t.em));
            }
            rc = write_bitstream(&t, opts->out_dir, res, root ? out : NULL, err);
        }
    }
    if (t.nranks > 1) MPI_Bcast(&rc, 1, MPI_INT, 0, MPI_COMM_WORLD);
    trainer_free(&t);
    return rc;
}
