/* run/checkpoint.c — the HDF5 run file of a training run (DESIGN §4):
 * what it holds, written atomically by rank 0 at every checkpoint and at
 * the end, and read back by --resume.
 *
 *   /                      attributes: schema_version, code_version,
 *                          experiment (INI text), experiment_path,
 *                          experiment_name, model, data_set, epr_enabled,
 *                          lambda, seed, world_size, device, device_name,
 *                          steps, step, ...
 *   /model/train_block     float32, the whole train block (DESIGN §2)
 *   /model/ema             float32, EMA of the network segment
 *   /model/buffers/NAME    float32, batch-norm running statistics
 *   /model/latent/GROUP    float32 views of the train block per group
 *   /model/psi/GROUP       (decoder parameters: log s, b or c, [T])
 *   /density/GROUP         float32 [ell x 43] density parameters
 *   /optimizer/...         network optimizer and density Adam state
 *   /rng/state             int64 [seed, step]: every random number is a
 *                          pure function of these (counter-based)
 *   /curves/NAME           float64, chunked and extendible
 *   /final                 attributes, once the run has finished
 * With [train] device = cuda the device state is first copied into the host
 * arrays (t->dops->download), and uploaded again after a resume: the file is
 * the same whichever device wrote it or reads it.
 * May call: h5run, MPI, rp_model, nn. */
#include <math.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

#include "run/h5run.h"
#include "run/run_info.h"
#include "run/train_internal.h"

#define SCHEMA_VERSION 1
#define MAX_DS 512
#define MAX_ATTRS 40

const char *const CURVE_NAMES[N_CURVES] = {
    "step",        "loss",       "cross_entropy", "rate_noisy_bits", "rate_exact_bits",
    "train_error", "test_error", "images_per_s",  "validation_error"};

typedef struct {
    h5run_dataset ds[MAX_DS];
    int n;
    char names[MAX_DS][160];
} ds_list;

static h5run_dataset *add_ds(ds_list *l, const char *prefix, const char *name, h5run_type type, size_t n,
                             const void *data) {
    if (l->n == MAX_DS) return NULL;
    snprintf(l->names[l->n], sizeof l->names[l->n], "%s%s", prefix, name);
    l->ds[l->n] = h5run_array(l->names[l->n], type, n, data);
    return &l->ds[l->n++];
}

/* The /final attributes of a finished run (fin), into f; returns their count. */
static int final_attrs(const trainer *t, const train_result *fin, double wall, h5run_attr *f) {
    const cfg_experiment *cfg = t->cfg;
    int nf = 0;
    const char *slash = strrchr(t->epr_path, '/');
    f[nf++] = h5run_f64("test_error", cfg->epr_enabled ? fin->test_error_file
                                      : fin->chose_raw ? fin->test_error_raw
                                                       : fin->test_error);
    f[nf++] = h5run_f64("test_error_ema", fin->test_error);
    f[nf++] = h5run_f64("test_error_raw", fin->test_error_raw);
    f[nf++] = h5run_f64("validation_error",
                        t->valid.n ? (fin->chose_raw ? fin->validation_error_raw : fin->validation_error_ema) : NAN);
    f[nf++] = h5run_f64("validation_error_ema", fin->validation_error_ema);
    f[nf++] = h5run_f64("validation_error_raw", fin->validation_error_raw);
    f[nf++] = h5run_str("weights", fin->chose_raw || !t->ema ? "raw" : "ema");
    f[nf++] = h5run_str("weights_chosen_on", t->valid.n && t->ema ? "validation" : "none");
    f[nf++] = h5run_i64("size_bytes", cfg->epr_enabled ? fin->file_bytes : (int64_t)(4 * nn_model_num_params(t->net)));
    f[nf++] = h5run_i64("float32_bytes", (int64_t)(4 * nn_model_num_params(t->net)));
    f[nf++] = h5run_i64("n_params", (int64_t)nn_model_num_params(t->net));
    f[nf++] = h5run_i64("n_compressed", cfg->epr_enabled ? (int64_t)rp_model_num_compressed(t->em) : 0);
    f[nf++] = h5run_str("bitstream", cfg->epr_enabled ? (slash ? slash + 1 : t->epr_path) : "");
    f[nf++] = h5run_f64("wall_seconds", wall);
    f[nf++] = h5run_f64("rate_exact_bits", cfg->epr_enabled ? fin->rate_exact_bits : NAN);
    f[nf++] = h5run_i64("predictions_crc32", fin->predictions_crc);
    f[nf++] = h5run_f64("step_images_per_s", t->step_s > 0 ? (double)t->timed_steps * cfg->batch / t->step_s : 0.0);
    f[nf++] = h5run_f64("comm_share", t->step_s > 0 ? t->times.comm / t->step_s : 0.0);
    if (fin->device_predictions_differ >= 0)
        f[nf++] = h5run_i64("device_predictions_differ", fin->device_predictions_differ);
    if (cfg->epr_enabled) f[nf++] = h5run_f64v("size_parts", fin->size_parts, 9);
    if (cfg->epr_enabled)
        f[nf++] = h5run_str("size_parts_names", "header,arch,decoder,tables,index,coded,extras,crc,total");
    return nf;
}

int checkpoint_write(trainer *t, const train_result *fin, double wall, epr_err *err) {
    const cfg_experiment *cfg = t->cfg;
    rp_model *em = t->em;
    static ds_list L; /* large: keep it off the stack; rank 0 only, not reentrant */
    L.n = 0;
    if (t->dev) t->dops->download(t); /* the device state into the host arrays written below */
    size_t N = rp_model_size(em), nn = rp_model_net_size(em), nd = rp_model_density_size(em);
    h5run_attr block_attrs[3] = {h5run_i64("network_size", (int64_t)nn),
                                 h5run_i64("density_offset", (int64_t)rp_model_density_offset(em)),
                                 h5run_i64("density_size", (int64_t)nd)};
    h5run_dataset *d = add_ds(&L, "/model/", "train_block", H5RUN_F32, N, rp_model_params(em));
    d->attrs = block_attrs;
    d->n_attrs = 3;
    if (t->ema) add_ds(&L, "/model/", "ema", H5RUN_F32, nn, t->ema);
    for (int i = 0; i < nn_model_num_buffers(t->net); i++) {
        nn_buffer *b = nn_model_buffer(t->net, i);
        add_ds(&L, "/model/buffers/", b->name, H5RUN_F32, b->size, b->data);
    }
    add_ds(&L, "/optimizer/", t->opt2 ? "adam_m" : "sgd_momentum", H5RUN_F32, nn, t->opt1);
    if (t->opt2) add_ds(&L, "/optimizer/", "adam_v", H5RUN_F32, nn, t->opt2);
    if (nd) {
        add_ds(&L, "/optimizer/", "density_adam_m", H5RUN_F32, nd, t->dens1);
        add_ds(&L, "/optimizer/", "density_adam_v", H5RUN_F32, nd, t->dens2);
    }
    if (t->dec1) {
        add_ds(&L, "/optimizer/", "decoder_adam_m", H5RUN_F32, t->psi_end - t->psi_begin, t->dec1);
        add_ds(&L, "/optimizer/", "decoder_adam_v", H5RUN_F32, t->psi_end - t->psi_begin, t->dec2);
    }
    if (t->valid.n) /* which training images were held out (their indices in the loaded training set) */
        add_ds(&L, "/data/", "validation_indices", H5RUN_I32, (size_t)t->valid.n, t->valid.source_index);
    int64_t rng[2] = {(int64_t)cfg->seed, t->step};
    add_ds(&L, "/rng/", "state", H5RUN_I64, 2, rng);
    /* per-group views for readers (h5py users); resume reads train_block */
    const float *p = rp_model_params(em);
    for (int g = 0; g < rp_model_num_groups(em); g++) {
        const rp_group_def *gd = rp_model_group(em, g);
        size_t lat_off, lat_n, psi_off, psi_n, den_off;
        rp_model_group_layout(em, g, &lat_off, &lat_n, &psi_off, &psi_n, &den_off);
        add_ds(&L, "/model/latent/", gd->name, H5RUN_F32, lat_n, p + lat_off);
        add_ds(&L, "/model/psi/", gd->name, H5RUN_F32, psi_n, p + psi_off);
        h5run_dataset *dd = add_ds(&L, "/density/", gd->name, H5RUN_F32, (size_t)gd->ell * 43, p + den_off);
        dd->rank = 2;
        dd->dims[0] = (size_t)gd->ell;
        dd->dims[1] = 43;
    }
    if (L.n == MAX_DS) return cmn_fail(err, EPR_EARG, "%s: too many datasets for a run file", t->run_path);

    h5run_attr a[MAX_ATTRS];
    int na = 0;
    a[na++] = h5run_i64("schema_version", SCHEMA_VERSION);
    a[na++] = h5run_str("code_version", EPR_VERSION);
    a[na++] = h5run_str("experiment", cfg->text);
    a[na++] = h5run_str("experiment_path", cfg->path);
    a[na++] = h5run_str("experiment_name", cfg->name);
    a[na++] = h5run_str("model", cfg->model_name);
    a[na++] = h5run_str("data_set", cfg->data_set);
    a[na++] = h5run_i64("epr_enabled", cfg->epr_enabled);
    a[na++] = h5run_f64("lambda", cfg->lambda);
    a[na++] = h5run_i64("seed", (int64_t)cfg->seed);
    a[na++] = h5run_i64("world_size", t->nranks);
    a[na++] = h5run_str("device", cfg->device); /* of the last writer: a checkpoint resumes on either */
    a[na++] = h5run_str("device_name", t->device_name);
    a[na++] = h5run_i64("steps", cfg->steps);
    a[na++] = h5run_i64("step", t->step);
    a[na++] = h5run_i64("batch", cfg->batch);
    a[na++] = h5run_i64("adam_t", t->net_adam.t);
    a[na++] = h5run_i64("density_adam_t", t->dens_adam.t);
    a[na++] = h5run_i64("decoder_adam_t", t->dec_adam.t);
    a[na++] = h5run_f64v("log_accumulators", t->acc, N_SLOTS);
    a[na++] = h5run_i64("log_accumulated_steps", t->acc_steps);
    a[na++] = h5run_f64("wall_seconds", wall);
    a[na++] = h5run_str("architecture", t->arch_text); /* what a .epr would store */
    run_info info;                                     /* what studies read (h5run.h, "Study attributes") */
    run_info_fill(cfg, &t->train, &t->test, &info);
    info.n_validation = t->valid.n;
    na += run_info_attrs(&info, a + na);

    h5run_curve c[N_CURVES];
    for (int i = 0; i < N_CURVES; i++) c[i] = (h5run_curve){CURVE_NAMES[i], t->curves[i]};

    h5run_attr f[24];
    int nf = fin ? final_attrs(t, fin, wall, f) : 0;
    h5run_desc desc = {.attrs = a,
                       .n_attrs = na,
                       .datasets = L.ds,
                       .n_datasets = L.n,
                       .curves = c,
                       .n_curves = N_CURVES,
                       .curve_len = t->n_rows,
                       .final_attrs = f,
                       .n_final_attrs = nf};
    return h5run_write(t->run_path, &desc, err);
}

/* --- resume --------------------------------------------------------- */

static int read_f32(h5run *h, const char *path, float *buf, size_t n, epr_err *err) {
    return h5run_read(h, path, H5RUN_F32, buf, n, err);
}

static int resume_rank0(trainer *t, const char *path, epr_err *err) {
    const cfg_experiment *cfg = t->cfg;
    h5run *h;
    CHECK_STATUS(h5run_open(path, &h, err));
    int rc = 0;
    char *text = NULL;
    int64_t v;
    rc = h5run_get_strdup(h, "/", "experiment", &text, err);
    if (!rc && !cfg_same_experiment(text, cfg->text))
        rc = cmn_fail(err, EPR_EARG,
                      "%s: the checkpoint was written for a different experiment (its INI text or --set "
                      "overrides differ from %s); resume with the same experiment and options",
                      path, cfg->path);
    free(text);
    if (!rc && !(rc = h5run_get_i64(h, "/", "world_size", &v, err)) && v != t->nranks)
        rc = cmn_fail(err, EPR_EARG,
                      "%s: written by %lld ranks, resuming with %d: results would differ bitwise from an "
                      "uninterrupted run; use mpirun -np %lld",
                      path, (long long)v, t->nranks, (long long)v);
    if (!rc && h5run_has(h, "/final"))
        rc = cmn_fail(err, EPR_EARG, "%s: this run has already finished (it has /final)", path);
    if (!rc) rc = h5run_get_i64(h, "/", "step", &v, err);
    if (!rc && (v < 0 || v > cfg->steps))
        rc = cmn_fail(err, EPR_EFORMAT, "%s: step %lld is outside 0..%ld", path, (long long)v, cfg->steps);
    if (!rc) t->step = (long)v;
    size_t nn = rp_model_net_size(t->em), nd = rp_model_density_size(t->em);
    if (!rc) rc = read_f32(h, "/model/train_block", rp_model_params(t->em), rp_model_size(t->em), err);
    if (!rc && t->ema) rc = read_f32(h, "/model/ema", t->ema, nn, err);
    for (int i = 0; !rc && i < nn_model_num_buffers(t->net); i++) {
        nn_buffer *b = nn_model_buffer(t->net, i);
        char p[200];
        snprintf(p, sizeof p, "/model/buffers/%s", b->name);
        rc = read_f32(h, p, b->data, b->size, err);
    }
    if (!rc) rc = read_f32(h, t->opt2 ? "/optimizer/adam_m" : "/optimizer/sgd_momentum", t->opt1, nn, err);
    if (!rc && t->opt2) rc = read_f32(h, "/optimizer/adam_v", t->opt2, nn, err);
    if (!rc && nd) rc = read_f32(h, "/optimizer/density_adam_m", t->dens1, nd, err);
    if (!rc && nd) rc = read_f32(h, "/optimizer/density_adam_v", t->dens2, nd, err);
    if (!rc && !(rc = h5run_get_i64(h, "/", "adam_t", &v, err))) t->net_adam.t = (long)v;
    if (!rc && !(rc = h5run_get_i64(h, "/", "density_adam_t", &v, err))) t->dens_adam.t = (long)v;
    if (!rc && t->dec1 && !(rc = h5run_get_i64(h, "/", "decoder_adam_t", &v, err))) t->dec_adam.t = (long)v;
    if (!rc && t->dec1) rc = read_f32(h, "/optimizer/decoder_adam_m", t->dec1, t->psi_end - t->psi_begin, err);
    if (!rc && t->dec1) rc = read_f32(h, "/optimizer/decoder_adam_v", t->dec2, t->psi_end - t->psi_begin, err);
    if (!rc) rc = h5run_get_f64v(h, "/", "log_accumulators", t->acc, N_SLOTS, err);
    if (!rc && !(rc = h5run_get_i64(h, "/", "log_accumulated_steps", &v, err))) t->acc_steps = (long)v;
    if (!rc) rc = h5run_get_f64(h, "/", "wall_seconds", &t->wall_before, err);
    size_t len = 0;
    if (!rc) rc = h5run_curve_len(h, CURVE_NAMES[0], &len, err);
    if (!rc && len > t->cap_rows)
        rc =
            cmn_fail(err, EPR_EFORMAT, "%s: %zu curve rows, more than this run can have (%zu)", path, len, t->cap_rows);
    for (int i = 0; !rc && i < N_CURVES; i++) rc = h5run_curve_read(h, CURVE_NAMES[i], t->curves[i], len, err);
    if (!rc) t->n_rows = len;
    h5run_close(h);
    return rc;
}

static int resume_ranks(trainer *t, const char *path, epr_err *err);

int checkpoint_resume(trainer *t, const char *path, epr_err *err) {
    int rc = resume_ranks(t, path, err);
    if (!rc && t->dev) t->dops->upload(t); /* the restored host state onto the device */
    return rc;
}

static int resume_ranks(trainer *t, const char *path, epr_err *err) {
    int rc = 0;
    if (t->rank == 0) rc = resume_rank0(t, path, err);
    if (t->nranks == 1) return rc;
    MPI_Bcast(&rc, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (rc) {
        MPI_Bcast(err->msg, sizeof err->msg, MPI_CHAR, 0, MPI_COMM_WORLD);
        err->code = rc;
        return rc;
    }
    /* every rank holds the network state and its optimizer state */
    long long st[4] = {t->step, t->net_adam.t, t->dens_adam.t, t->dec_adam.t};
    MPI_Bcast(st, 4, MPI_LONG_LONG, 0, MPI_COMM_WORLD);
    t->step = (long)st[0];
    t->net_adam.t = (long)st[1];
    t->dens_adam.t = (long)st[2];
    t->dec_adam.t = (long)st[3];
    if (t->dec1) {
        MPI_Bcast(t->dec1, (int)(t->psi_end - t->psi_begin), MPI_FLOAT, 0, MPI_COMM_WORLD);
        MPI_Bcast(t->dec2, (int)(t->psi_end - t->psi_begin), MPI_FLOAT, 0, MPI_COMM_WORLD);
    }
    size_t nn = rp_model_net_size(t->em);
    MPI_Bcast(rp_model_params(t->em), (int)rp_model_size(t->em), MPI_FLOAT, 0, MPI_COMM_WORLD);
    if (t->ema) MPI_Bcast(t->ema, (int)nn, MPI_FLOAT, 0, MPI_COMM_WORLD);
    MPI_Bcast(t->opt1, (int)nn, MPI_FLOAT, 0, MPI_COMM_WORLD);
    if (t->opt2) MPI_Bcast(t->opt2, (int)nn, MPI_FLOAT, 0, MPI_COMM_WORLD);
    for (int i = 0; i < nn_model_num_buffers(t->net); i++) {
        nn_buffer *b = nn_model_buffer(t->net, i);
        MPI_Bcast(b->data, (int)b->size, MPI_FLOAT, 0, MPI_COMM_WORLD);
    }
    return 0;
}
