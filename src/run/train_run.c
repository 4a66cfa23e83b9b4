/* run/train_run.c — `epr train`'s run (train_run, train.h): set up or
 * resume a trainer, the loop of steps with its log lines, curves,
 * evaluations and checkpoints, and the end of the run: the errors of the
 * raw and EMA weights (the written ones chosen on validation), the exact
 * rate, model.epr written, decoded and evaluated, the final run file.
 * May call: libc, MPI, nn, epr, run/bitstream, run/checkpoint.c
 * (train_internal.h), run/prune, run/schedule, run/fsutil. */
#include <math.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/timeutil.h"
#include "run/bitstream.h"
#include "run/fsutil.h"
#include "run/train_internal.h"

static void fmt_duration(double s, char *buf, size_t n) {
    if (!(s >= 0) || s > 1e7) s = 0;
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
    else
        snprintf(buf, n, "%ld:%02ld", t / 60, t % 60);
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
    int ng = rp_model_num_groups(t->em);
    double per[CFG_MAX_GROUPS];
    double total = rp_model_rate_exact(t->em, per);
    for (int g = 0; g < ng; g++)
        fprintf(f, "  group %-10s %9zu params  %12.0f bits  %9.3f KB  %.3f bits/param\n",
                rp_model_group(t->em, g)->name, rp_model_group_num_params(t->em, g), per[g], per[g] / 8e3,
                per[g] / (double)rp_model_group_num_params(t->em, g));
    fprintf(f, "  total            %9zu params  %12.0f bits  %9.3f KB\n", rp_model_num_compressed(t->em), total,
            total / 8e3);
}

static int evaluate_on_device(void *ctx, nn_model *net, const dataset *d, int eval_batch, long *wrong, int *preds,
                              epr_err *err) {
    trainer *t = ctx;
    return t->dops->evaluate_host_net(t, net, d, eval_batch, wrong, preds, err);
}

/* Who evaluates the files the end of the run writes: the GPU with
 * [train] file_eval = device on the device path (ev filled), else the CPU
 * (NULL). */
static const bitstream_evaluator *file_evaluator(trainer *t, bitstream_evaluator *ev) {
    if (!t->dev || strcmp(t->cfg->file_eval, "device")) return NULL;
    *ev = (bitstream_evaluator){evaluate_on_device, t, t->device_name};
    return ev;
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
        if (!preds) rc = cmn_fail(err, EPR_ENOMEM, "out of memory");
    }
    double e = 0;
    bitstream_evaluator evs;
    const bitstream_evaluator *ev = file_evaluator(t, &evs);
    if (!rc) rc = bitstream_evaluate_with(f, &t->test, t->cfg->eval_batch, ev, &e, preds, err);
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
            fprintf(out, "decoded %s (evaluated on %s): test error %.2f%% (%d/%d wrong), predictions crc32 %08x\n",
                    t->epr_path, ev ? ev->where : "the CPU", 100 * e, (int)(e * t->test.n + 0.5), t->test.n,
                    res->predictions_crc);
            if (dev_preds && ev)
                fprintf(out,
                        "%s's final evaluation of the written (quantised) weights and its evaluation in FP32 of "
                        "the weights decoded from %s differ on %ld of %d test predictions (`epr eval %s` "
                        "evaluates the file on the CPU)\n",
                        t->device_name, t->epr_path, res->device_predictions_differ, t->test.n, t->epr_path);
            else if (dev_preds)
                fprintf(out,
                        "%s's final evaluation of the written (quantised) weights and the CPU's decode of %s "
                        "differ on %ld of %d test predictions\n",
                        t->device_name, t->epr_path, res->device_predictions_differ, t->test.n);
        }
    }
    free(preds);
    epr_file_close(f);
    return rc;
}

/* [train] bn_recalibrate (train_recalibrate_bn), then the test error of
 * the weights that are written measured again. */
static void recalibrate_bn(trainer *t, int use_ema, train_result *res, FILE *out) {
    const int K = t->cfg->bn_recalibrate;
    if (K <= 0 || !nn_model_num_batchnorm(t->net)) return;
    double t0 = cmn_now_s();
    if (use_ema) train_swap_ema(t, 1);
    train_recalibrate_bn(t, K);
    double before = use_ema ? res->test_error : res->test_error_raw;
    double after = train_evaluate(t, &t->test, NULL);
    if (use_ema) {
        res->test_error = after;
        train_swap_ema(t, 0);
    } else {
        res->test_error_raw = after;
    }
    if (out)
        fprintf(out,
                "batch-norm statistics recomputed for the %s weights over %d training batches (%.1f s): test "
                "error %.2f%% (%.2f%% with the running averages of training)\n",
                use_ema ? "EMA" : "raw", K, cmn_now_s() - t0, 100 * after, 100 * before);
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
    train_decode(t);
    res->test_error_raw = train_evaluate(t, &t->test, NULL); /* on the device when the step runs there */
    res->test_error = train_evaluate_ema(t, NULL);
    res->steps = t->step;
    /* which weights are written: chosen on validation, never on test */
    res->validation_error_ema = res->validation_error_raw = NAN;
    if (t->valid.n) {
        train_decode(t);
        res->validation_error_raw = train_evaluate(t, &t->valid, NULL);
        res->validation_error_ema = t->ema ? train_evaluate_ema_on(t, &t->valid, NULL) : res->validation_error_raw;
        res->chose_raw = t->ema && res->validation_error_raw < res->validation_error_ema;
    }
    const int use_ema = t->ema && !res->chose_raw;
    recalibrate_bn(t, use_ema, res, out);
    if (dev_preds) { /* the device's predictions of the weights that are written */
        if (use_ema) {
            train_evaluate_ema(t, dev_preds);
        } else {
            train_decode(t);
            train_evaluate(t, &t->test, dev_preds);
        }
    }
    if (out) {
        fprintf(out,
                "done: %ld steps in %.1f s; %.2f ms/step, %.0f img/s, allreduce + broadcast %.1f%% of step time "
                "(rank 0)\n",
                t->step, wall, 1e3 * t->step_s / (double)(t->timed_steps ? t->timed_steps : 1),
                t->step_s > 0 ? (double)t->timed_steps * cfg->batch / t->step_s : 0.0,
                t->step_s > 0 ? 100.0 * t->times.comm / t->step_s : 0.0);
        fprintf(out, "test error: %.2f%% %s, %.2f%% raw weights\n", 100 * res->test_error,
                cfg->epr_enabled ? "(quantised EMA)" : (t->ema ? "(EMA)" : ""), 100 * res->test_error_raw);
        if (t->valid.n)
            fprintf(out,
                    "validation error (%d held-out training images): %.2f%% EMA, %.2f%% raw: the %s weights "
                    "are written (chosen on validation)\n",
                    t->valid.n, 100 * res->validation_error_ema, 100 * res->validation_error_raw,
                    use_ema ? "EMA" : "raw");
    }
    int rc = 0;
    if (cfg->epr_enabled) {
        if (use_ema) train_swap_ema_host(t, 1);
        res->rate_exact_bits = rp_model_rate_exact(t->em, NULL);
        if (out) {
            fprintf(out, "exact self-information of the quantised %s model (learned densities):\n",
                    use_ema ? "EMA" : "raw");
            print_rate_report(t, out);
            fprintf(out, "lambda %g, lambda * compressed params %g\n", cfg->lambda,
                    cfg->lambda * (double)rp_model_num_compressed(t->em));
        }
        rc = write_bitstream(t, res, dev_preds, out, err);
        if (use_ema) train_swap_ema_host(t, 0);
    }
    free(dev_preds);
    if (!rc) {
        add_row(t, t->step);
        set_cell(t, CURVE_TEST_ERROR,
                 cfg->epr_enabled     ? res->test_error_file
                 : use_ema || !t->ema ? res->test_error
                                      : res->test_error_raw);
        if (t->valid.n)
            set_cell(t, CURVE_VALIDATION_ERROR, use_ema ? res->validation_error_ema : res->validation_error_raw);
        if (cfg->epr_enabled) set_cell(t, CURVE_RATE_EXACT, res->rate_exact_bits);
        rc = checkpoint_write(t, res, wall, err);
    }
    if (!rc && out) fprintf(out, "run file: %s\n", t->run_path);
    if (!rc && t->opts->after_training) { /* e.g. post-training baselines of the written (EMA) weights */
        if (use_ema) train_swap_ema_host(t, 1);
        bitstream_evaluator evs;
        rc = t->opts->after_training(t->net, cfg, t->arch_text, &t->test, file_evaluator(t, &evs), t->opts->out_dir,
                                     res->steps, wall, out, err);
        if (use_ema) train_swap_ema_host(t, 0);
    }
    return rc;
}

/* Set up (or resume) the trainer of `epr train`; with several ranks, a rank
 * that could not start takes the job down (no rank may wait in a collective
 * for it). */
static int run_start(trainer *t, const cfg_experiment *cfg, const train_opts *opts, epr_err *err) {
    train_parse_test_hooks();
    int rc = train_setup(t, cfg, opts, NULL, NULL, err);
    train_rank_now = t->rank;
    if (!rc && opts->resume) rc = checkpoint_resume(t, opts->resume, err);
    if (!rc && opts->resume && t->pr) /* the mask and clusters follow from the weights (prune.h) */
        rc = prune_restore(t->pr, rp_model_params(t->em), cfg->prune > 0 && t->step > cfg->prune_at,
                           cfg->kmeans_bits && t->step > cfg->kmeans_at, err);
    if (t->nranks > 1) {
        int bad = rc != 0, any = 0;
        MPI_Allreduce(&bad, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
        if (bad) train_fatal(err->msg);
        if (any) pause();
    }
    return rc;
}

/* The lines before the first step: the run, the network, EPR or the
 * baseline, the schedule, where a resumed run starts. */
static void print_banner(const trainer *t, const cfg_experiment *cfg, const train_opts *opts, FILE *out) {
    char vn[48] = "";
    if (t->valid.n) snprintf(vn, sizeof vn, " / %d validation", t->valid.n);
    fprintf(out, "epr train %s: %s on %s (%d train%s / %d test), %d rank%s, batch %d, %ld steps, on %s\n", cfg->path,
            cfg->model_name, cfg->data_set, t->train.n, vn, t->test.n, t->nranks, t->nranks > 1 ? "s" : "", cfg->batch,
            cfg->steps, t->device_name);
    fprintf(out, "  %zu parameters (float32 %zu bytes)", nn_model_num_params(t->net), 4 * nn_model_num_params(t->net));
    if (cfg->epr_enabled)
        fprintf(out, "; EPR: %d groups over %zu parameters, lambda %g (lambda*n = %g), density lr %g",
                rp_model_num_groups(t->em), rp_model_num_compressed(t->em), cfg->lambda,
                cfg->lambda * (double)rp_model_num_compressed(t->em), cfg->density_lr);
    fprintf(out, "\n");
    if (t->pr) {
        fprintf(out, "  Deep Compression baseline over %d groups:", cfg->n_groups);
        if (cfg->prune > 0) fprintf(out, " prune %g at step %ld", cfg->prune, cfg->prune_at);
        if (cfg->kmeans_bits)
            fprintf(out, "%s %d-bit weight sharing at step %ld", cfg->prune > 0 ? "," : "", cfg->kmeans_bits,
                    cfg->kmeans_at);
        fprintf(out, "\n");
    }
    char sched[512];
    schedule_describe(cfg, sched, sizeof sched);
    fprintf(out, "  schedule: %s\n", sched);
    if (opts->resume) fprintf(out, "resumed from %s at step %ld\n", opts->resume, t->step);
    if (opts->resume && t->pr &&
        ((cfg->prune > 0 && t->step > cfg->prune_at) || (cfg->kmeans_bits && t->step > cfg->kmeans_at))) {
        fprintf(out, "  pruning / weight sharing state rebuilt from the restored weights:\n");
        prune_print(t->pr, out);
    }
    fflush(out);
}

/* Where the loop stands for its log lines: the start of the run, and the
 * time and step of the last log point. */
typedef struct {
    double t0, tlast;
    long first_step, last_step;
} loop_clock;

/* A log point: the means since the last one into the curves (rank 0) and
 * one line (out, NULL: quiet); the accumulators start again. */
static void log_point(trainer *t, loop_clock *c, FILE *out) {
    const cfg_experiment *cfg = t->cfg;
    double tn = cmn_now_s();
    double ips = (double)(t->step - c->last_step) * cfg->batch / (tn - c->tlast);
    double k = (double)t->acc_steps;
    double ce = t->acc[SLOT_CE] / t->acc[SLOT_SAMPLES], rate = t->acc[SLOT_RATE] / k;
    double loss = ce + (cfg->epr_enabled ? t->sched.lambda * rate : 0); /* λ of the last step */
    double terr = t->acc[SLOT_ERRORS] / t->acc[SLOT_SAMPLES];
    if (t->rank == 0) {
        add_row(t, t->step);
        set_cell(t, CURVE_LOSS, loss);
        set_cell(t, CURVE_CE, ce);
        if (cfg->epr_enabled) set_cell(t, CURVE_RATE_NOISY, rate);
        set_cell(t, CURVE_TRAIN_ERROR, terr);
        set_cell(t, CURVE_IMAGES_PER_S, ips);
    }
    if (out) {
        char eta[32];
        fmt_duration((double)(cfg->steps - t->step) * (tn - c->t0) / (double)(t->step - c->first_step), eta,
                     sizeof eta);
        fprintf(out, "step %6ld/%ld  loss %.4f  ce %.4f  train err %5.2f%%", t->step, cfg->steps, loss, ce, 100 * terr);
        if (cfg->epr_enabled) fprintf(out, "  rate~ %.0f bits (%.2f KB)", rate, rate / 8e3);
        fprintf(out, "  %.0f img/s  ETA %s\n", ips, eta);
        fflush(out);
    }
    memset(t->acc, 0, sizeof t->acc);
    t->acc_steps = 0;
    c->tlast = tn;
    c->last_step = t->step;
}

/* An evaluation between log points (rank 0): test (and validation) error
 * of the EMA weights and their exact rate into the curves and one line. */
static void eval_point(trainer *t, FILE *out) {
    const cfg_experiment *cfg = t->cfg;
    double e = train_evaluate_ema(t, NULL), ve = t->valid.n ? train_evaluate_ema_on(t, &t->valid, NULL) : NAN;
    add_row(t, t->step);
    set_cell(t, CURVE_TEST_ERROR, e);
    set_cell(t, CURVE_VALIDATION_ERROR, ve);
    double bits = NAN;
    if (cfg->epr_enabled) {
        train_swap_ema(t, 1);
        bits = train_rate_exact(t, NULL);
        train_swap_ema(t, 0);
        set_cell(t, CURVE_RATE_EXACT, bits);
    }
    if (out) {
        fprintf(out, "eval step %ld: test error %.2f%% (%s)", t->step, 100 * e,
                cfg->epr_enabled ? "quantised EMA" : "EMA");
        if (t->valid.n) fprintf(out, ", validation %.2f%%", 100 * ve);
        if (cfg->epr_enabled) fprintf(out, ", exact rate %.0f bits (%.2f KB)", bits, bits / 8e3);
        fprintf(out, "\n");
        fflush(out);
    }
}

int train_run(const cfg_experiment *cfg, const train_opts *opts, train_result *res, epr_err *err) {
    trainer t;
    memset(&t, 0, sizeof t);
    memset(res, 0, sizeof *res);
    int rc = run_start(&t, cfg, opts, err);
    if (rc) {
        train_release(&t);
        return rc;
    }
    train_step_now = t.step;
    train_install_signal_handlers();
    int root = t.rank == 0 && !opts->quiet;
    FILE *out = stdout;
    if (root) print_banner(&t, cfg, opts, out);

    loop_clock c = {.t0 = cmn_now_s(), .first_step = t.step, .last_step = t.step};
    c.tlast = c.t0;
    while (t.step < cfg->steps) {
        double m[N_SLOTS];
        double ts = cmn_now_s();
        trainer_step(&t, m);
        t.step_s += cmn_now_s() - ts;
        t.timed_steps++;
        for (int i = 0; i < N_SLOTS; i++) t.acc[i] += m[i];
        t.acc_steps++;
        int stop = m[SLOT_STOP] > 0;
        if (t.step % cfg->log_every == 0 || t.step == cfg->steps) log_point(&t, &c, root ? out : NULL);
        if (cfg->eval_every > 0 && t.step % cfg->eval_every == 0 && t.step != cfg->steps && t.rank == 0) {
            eval_point(&t, root ? out : NULL);
            c.tlast = cmn_now_s(); /* evaluation time is not training throughput */
        }
        if (t.step < cfg->steps && (stop || t.step % cfg->checkpoint_every == 0)) {
            if (t.rank == 0) {
                rc = checkpoint_write(&t, NULL, t.wall_before + cmn_now_s() - c.t0, err);
                if (rc) train_fatal(err->msg);
                if (root)
                    fprintf(out, "checkpoint %s at step %ld%s\n", t.run_path, t.step,
                            stop ? " (stopping on signal; resume with --resume)" : "");
                fflush(out);
            }
            if (stop) {
                train_release(&t);
                return TRAIN_STOPPED;
            }
            c.tlast = cmn_now_s();
        }
    }
    double wall = t.wall_before + cmn_now_s() - c.t0;
    rc = 0;
    if (t.rank == 0) rc = finish(&t, res, wall, root ? out : NULL, err);
    if (t.nranks > 1) MPI_Bcast(&rc, 1, MPI_INT, 0, MPI_COMM_WORLD);
    train_release(&t);
    return rc;
}
