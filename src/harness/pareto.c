/* harness/pareto.c — see pareto.h. */
#include "harness/pareto.h"

#include <dirent.h>
#include <errno.h>
#include <hdf5.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness/fsutil.h"
#include "harness/h5run.h"

#ifndef EPR_VERSION
#define EPR_VERSION "unknown"
#endif

/* snprintf that may truncate on purpose (names and paths are bounded). */
static void sfmt(char *dst, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void sfmt(char *dst, size_t cap, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, cap, fmt, ap);
    va_end(ap);
}

/* DESIGN.md §6 (the paper's Table 1).  Sizes in bytes (the paper's MB and
 * KB are decimal: LeNet300-100's 266,610 float32 parameters are "1.06 MB"),
 * errors in percent. */
static const pareto_paper_row PAPER[] = {
    {"lenet300-100", "LeNet300-100 (MNIST)", 1.06e6, 1.6, 8.56e3, 1.9, 124, "SQ"},
    {"lenet5-caffe", "LeNet5-Caffe (MNIST)", 1.72e6, 0.7, 2.84e3, 0.9, 606, "SQ"},
    {"vgg16", "VGG-16 (CIFAR-10)", 60e6, 6.6, 101e3, 10.0, 590, "SQ"},
    {"resnet20-4", "ResNet-20-4 (CIFAR-10)", 17.2e6, 5.0, 128e3, 8.8, 134, "DFT"},
    {"resnet18", "ResNet-18 (ImageNet)", 46.7e6, 30.0, 1.97e6, 30.0, 24, "DFT"},
    {"resnet50", "ResNet-50 (ImageNet)", 102e6, 25.0, 5.49e6, 26.0, 19, "DFT"},
};

const pareto_paper_row *pareto_paper_lookup(const char *model) {
    for (size_t i = 0; i < sizeof PAPER / sizeof PAPER[0]; i++)
        if (!strcmp(PAPER[i].model, model)) return &PAPER[i];
    return NULL;
}

/* ---- reading run files ---- */

static int get_str_attr(h5run *h, const char *obj, const char *name, char *buf, size_t cap, epr_err *err) {
    return h5run_get_str(h, obj, name, buf, cap, err);
}

int pareto_read_run(const char *path, pareto_row *r, epr_err *err) {
    memset(r, 0, sizeof *r);
    snprintf(r->run_file, sizeof r->run_file, "%s", path);
    h5run *h;
    CHECK_STATUS(h5run_open(path, &h, err));
    int rc = 0;
    int64_t schema = 0;
#define TRY(x) \
    if (!rc) rc = (x)
    TRY(h5run_get_i64(h, NULL, "schema_version", &schema, err));
    if (!rc && schema != 1)
        rc = epr_fail(err, EPR_EUNSUP, "%s: schema_version %lld, this epr reads version 1", path, (long long)schema);
    if (!rc && !h5run_has(h, "/final"))
        rc = epr_fail(err, EPR_EUNSUP, "%s: no /final group (the run has not finished)", path);
    int64_t epr = 0;
    TRY(get_str_attr(h, NULL, "experiment_name", r->experiment, sizeof r->experiment, err));
    TRY(get_str_attr(h, NULL, "model", r->model, sizeof r->model, err));
    TRY(get_str_attr(h, NULL, "data_set", r->data_set, sizeof r->data_set, err));
    TRY(h5run_get_i64(h, NULL, "epr_enabled", &epr, err));
    TRY(h5run_get_f64(h, NULL, "lambda", &r->lambda, err));
    TRY(h5run_get_i64(h, NULL, "seed", &r->seed, err));
    TRY(h5run_get_i64(h, NULL, "world_size", &r->world_size, err));
    TRY(h5run_get_i64(h, NULL, "steps", &r->steps, err));
    TRY(h5run_get_f64(h, "/final", "test_error", &r->test_error, err));
    TRY(h5run_get_f64(h, "/final", "test_error_raw", &r->test_error_raw, err));
    TRY(h5run_get_i64(h, "/final", "size_bytes", &r->size_bytes, err));
    TRY(h5run_get_i64(h, "/final", "float32_bytes", &r->float32_bytes, err));
    TRY(h5run_get_i64(h, "/final", "n_params", &r->n_params, err));
    TRY(h5run_get_i64(h, "/final", "n_compressed", &r->n_compressed, err));
    char bs[256] = "";
    TRY(get_str_attr(h, "/final", "bitstream", bs, sizeof bs, err));
    TRY(h5run_get_f64(h, "/final", "wall_seconds", &r->wall_seconds, err));
    TRY(h5run_get_f64(h, "/final", "rate_exact_bits", &r->rate_exact_bits, err));
#undef TRY
    h5run_close(h);
    if (rc) return rc;
    r->epr_enabled = epr != 0;
    RETURN_ERROR_IF(epr != 0 && epr != 1, err, EPR_EFORMAT, "%s: epr_enabled is %lld, expected 0 or 1", path,
                    (long long)epr);
    RETURN_ERROR_IF(!(r->test_error >= 0 && r->test_error <= 1), err, EPR_EFORMAT,
                    "%s: /final test_error %g is not a fraction in [0, 1]", path, r->test_error);
    RETURN_ERROR_IF(r->size_bytes <= 0 || r->float32_bytes <= 0 || r->n_params <= 0 || r->n_compressed < 0 ||
                        r->n_compressed > r->n_params,
                    err, EPR_EFORMAT,
                    "%s: /final sizes are inconsistent (size_bytes %lld, float32_bytes %lld, n_params %lld, n_compressed %lld)",
                    path, (long long)r->size_bytes, (long long)r->float32_bytes, (long long)r->n_params,
                    (long long)r->n_compressed);
    RETURN_ERROR_IF(!isfinite(r->lambda) || r->lambda < 0, err, EPR_EFORMAT, "%s: lambda %g is not >= 0", path,
                    r->lambda);
    RETURN_ERROR_IF(r->epr_enabled && !bs[0], err, EPR_EFORMAT, "%s: EPR run without a /final bitstream name", path);
    RETURN_ERROR_IF(bs[0] && (strchr(bs, '/') || !strcmp(bs, "..")), err, EPR_EFORMAT,
                    "%s: /final bitstream '%s' must be a file name inside the run directory", path, bs);
    if (bs[0]) {
        /* the size reported must be the size of the bytes on disk */
        char dir[1400], bpath[1700];
        snprintf(dir, sizeof dir, "%s", path);
        char *slash = strrchr(dir, '/');
        if (slash)
            *slash = 0;
        else
            snprintf(dir, sizeof dir, ".");
        snprintf(bpath, sizeof bpath, "%s/%s", dir, bs);
        struct stat st;
        RETURN_ERROR_IF(stat(bpath, &st) != 0, err, EPR_EFORMAT, "%s: its bitstream %s is missing", path, bpath);
        RETURN_ERROR_IF((int64_t)st.st_size != r->size_bytes, err, EPR_EFORMAT,
                        "%s: /final size_bytes %lld but %s has %lld bytes", path, (long long)r->size_bytes, bpath,
                        (long long)st.st_size);
    }
    snprintf(r->bitstream, sizeof r->bitstream, "%s", bs);
    r->bits_per_param = 8.0 * (double)r->size_bytes / (double)r->n_params;
    r->ratio = (double)r->float32_bytes / (double)r->size_bytes;
    return 0;
}

/* ---- the Pareto rule ---- */

void pareto_mark(pareto_row *rows, int n) {
    for (int i = 0; i < n; i++) {
        pareto_row *a = &rows[i];
        a->is_pareto = a->epr_enabled && isfinite(a->test_error);
        for (int j = 0; j < n && a->is_pareto; j++) {
            const pareto_row *b = &rows[j];
            if (j == i || !b->epr_enabled || strcmp(a->data_set, b->data_set) || !isfinite(b->test_error)) continue;
            int le = b->size_bytes <= a->size_bytes && b->test_error <= a->test_error;
            int strict = b->size_bytes < a->size_bytes || b->test_error < a->test_error;
            if (le && strict) a->is_pareto = 0;
        }
    }
}

static int row_cmp(const void *pa, const void *pb) {
    const pareto_row *a = pa, *b = pb;
    int c;
    if ((c = strcmp(a->data_set, b->data_set))) return c;
    if ((c = strcmp(a->model, b->model))) return c;
    if ((c = strcmp(a->experiment, b->experiment))) return c;
    if (a->epr_enabled != b->epr_enabled) return a->epr_enabled - b->epr_enabled;
    if (a->lambda != b->lambda) return a->lambda < b->lambda ? -1 : 1;
    if (a->seed != b->seed) return a->seed < b->seed ? -1 : 1;
    return strcmp(a->name, b->name);
}

/* ---- sweep.h5 ---- */

typedef struct {
    hid_t file;
    int failed;
    char where[256];
} h5w;

static void h5w_fail(h5w *w, const char *what) {
    if (!w->failed) snprintf(w->where, sizeof w->where, "%s", what);
    w->failed = 1;
}

static void attr_str(h5w *w, hid_t loc, const char *name, const char *v) {
    if (w->failed) return;
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    hid_t s = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(loc, name, t, s, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0 || H5Awrite(a, t, &v) < 0) h5w_fail(w, name);
    if (a >= 0) H5Aclose(a);
    H5Sclose(s);
    H5Tclose(t);
}

static void attr_num(h5w *w, hid_t loc, const char *name, hid_t ftype, hid_t mtype, const void *v) {
    if (w->failed) return;
    hid_t s = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(loc, name, ftype, s, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0 || H5Awrite(a, mtype, v) < 0) h5w_fail(w, name);
    if (a >= 0) H5Aclose(a);
    H5Sclose(s);
}
static void attr_i64(h5w *w, hid_t loc, const char *name, int64_t v) {
    attr_num(w, loc, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &v);
}
static void attr_f64(h5w *w, hid_t loc, const char *name, double v) {
    attr_num(w, loc, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &v);
}

static void column(h5w *w, hid_t g, const char *name, hid_t ftype, hid_t mtype, const void *data, hsize_t n,
                   const char *desc) {
    if (w->failed) return;
    hid_t s = H5Screate_simple(1, &n, NULL);
    hid_t d = H5Dcreate2(g, name, ftype, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (d < 0 || H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0) h5w_fail(w, name);
    if (d >= 0) {
        attr_str(w, d, "description", desc);
        H5Dclose(d);
    }
    H5Sclose(s);
}

#define COL_F64(field, desc)                                                              \
    do {                                                                                  \
        for (int i = 0; i < n; i++) f64[i] = rows[i].field;                               \
        column(w, g, #field, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, f64, (hsize_t)n, desc);    \
    } while (0)
#define COL_I64(field, desc)                                                              \
    do {                                                                                  \
        for (int i = 0; i < n; i++) i64[i] = rows[i].field;                               \
        column(w, g, #field, H5T_STD_I64LE, H5T_NATIVE_INT64, i64, (hsize_t)n, desc);      \
    } while (0)
#define COL_I8(field, desc)                                                               \
    do {                                                                                  \
        for (int i = 0; i < n; i++) i8[i] = (signed char)rows[i].field;                   \
        column(w, g, #field, H5T_STD_I8LE, H5T_NATIVE_SCHAR, i8, (hsize_t)n, desc);        \
    } while (0)
#define COL_STR(field, desc)                                                              \
    do {                                                                                  \
        for (int i = 0; i < n; i++) strs[i] = rows[i].field;                              \
        column(w, g, #field, vstr, vstr, strs, (hsize_t)n, desc);                         \
    } while (0)

static void write_columns(h5w *w, hid_t g, const pareto_row *rows, const int *is_baseline, int n) {
    double *f64 = malloc((size_t)n * sizeof *f64 + 1);
    int64_t *i64 = malloc((size_t)n * sizeof *i64 + 1);
    signed char *i8 = malloc((size_t)n + 1);
    const char **strs = malloc((size_t)n * sizeof *strs + 1);
    hid_t vstr = H5Tcopy(H5T_C_S1);
    H5Tset_size(vstr, H5T_VARIABLE);
    H5Tset_cset(vstr, H5T_CSET_UTF8);
    if (!f64 || !i64 || !i8 || !strs) {
        h5w_fail(w, "out of memory");
    } else {
        COL_STR(name, "run name (its directory); /links/<name> is the run file");
        COL_STR(experiment, "experiment name (the INI file's stem)");
        COL_STR(model, "network");
        COL_STR(data_set, "data set (errors are comparable within one data set only)");
        for (int i = 0; i < n; i++) strs[i] = rows[i].rel_file;
        column(w, g, "run_file", vstr, vstr, strs, (hsize_t)n, "run file, relative to the sweep directory");
        COL_STR(bitstream, "the .epr file, relative to the sweep directory (\"\" for plain runs)");
        COL_I8(epr_enabled, "1: trained with EPR (size = .epr bytes); 0: plain float32");
        COL_F64(lambda, "rate weight: loss = mean cross-entropy (nats) + lambda * rate (bits)");
        COL_I64(seed, "train.seed");
        COL_I64(size_bytes, "model size in bytes: the .epr file for EPR runs, 4 x parameters for plain runs");
        COL_I64(float32_bytes, "4 x parameters");
        COL_I64(n_params, "parameters of the network");
        COL_I64(n_compressed, "parameters coded through EPR groups");
        COL_F64(bits_per_param, "8 x size_bytes / n_params");
        COL_F64(ratio, "float32_bytes / size_bytes");
        COL_F64(test_error, "test error (fraction) of the network decoded from the .epr (EPR) or the EMA model (plain)");
        COL_F64(test_error_raw, "test error (fraction) of the raw, non-EMA weights");
        COL_F64(rate_exact_bits, "exact self-information of the quantised model under the learned densities (bits)");
        COL_F64(wall_seconds, "training wall time (s)");
        COL_I64(steps, "optimizer steps");
        COL_I64(world_size, "MPI ranks");
        COL_I8(is_pareto, "1: no EPR run on the same data set is at most as large and at most as wrong, one strictly");
        for (int i = 0; i < n; i++) i8[i] = (signed char)is_baseline[i];
        column(w, g, "is_baseline", H5T_STD_I8LE, H5T_NATIVE_SCHAR, i8, (hsize_t)n,
               "1: a plain float32 run used as the uncompressed baseline");
    }
    H5Tclose(vstr);
    free(f64);
    free(i64);
    free(i8);
    free(strs);
}

static int write_sweep_h5(const char *path, const char *dir, const pareto_row *rows, const int *is_baseline,
                          const char **link_target, int n, const char *baseline_desc, epr_err *err) {
    char tmp[1500];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    H5E_auto2_t old_fn;
    void *old_data;
    H5Eget_auto2(H5E_DEFAULT, &old_fn, &old_data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    h5w w = {0};
    w.file = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (w.file < 0) {
        H5Eset_auto2(H5E_DEFAULT, old_fn, old_data);
        return epr_fail(err, EPR_EIO, "%s: cannot create (H5Fcreate failed)", tmp);
    }
    char absdir[4096];
    if (!realpath(dir, absdir)) snprintf(absdir, sizeof absdir, "%s", dir);
    attr_i64(&w, w.file, "schema_version", 1);
    attr_str(&w, w.file, "kind", "epr sweep");
    attr_str(&w, w.file, "code_version", EPR_VERSION);
    attr_str(&w, w.file, "directory", absdir);
    attr_i64(&w, w.file, "n_runs", n);
    attr_str(&w, w.file, "pareto_rule",
             "is_pareto: EPR runs only; no other EPR run on the same data set has size_bytes <= and test_error <=, one strictly");
    attr_str(&w, w.file, "baseline_run", baseline_desc);
    double be = NAN;
    int64_t bs = 0;
    for (int i = 0; i < n; i++)
        if (is_baseline[i]) {
            be = rows[i].test_error, bs = rows[i].size_bytes;
            break;
        }
    attr_f64(&w, w.file, "baseline_test_error", be);
    attr_i64(&w, w.file, "baseline_size_bytes", bs);
    hid_t g = H5Gcreate2(w.file, "runs", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0) h5w_fail(&w, "/runs");
    if (g >= 0) {
        attr_i64(&w, g, "n_runs", n);
        write_columns(&w, g, rows, is_baseline, n);
        H5Gclose(g);
    }
    hid_t l = H5Gcreate2(w.file, "links", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (l < 0) h5w_fail(&w, "/links");
    for (int i = 0; i < n && l >= 0 && !w.failed; i++)
        if (H5Lcreate_external(link_target[i], "/", l, rows[i].name, H5P_DEFAULT, H5P_DEFAULT) < 0)
            h5w_fail(&w, rows[i].name);
    if (l >= 0) H5Gclose(l);
    if (H5Fclose(w.file) < 0) h5w_fail(&w, "H5Fclose");
    H5Eset_auto2(H5E_DEFAULT, old_fn, old_data);
    if (w.failed) {
        unlink(tmp);
        return epr_fail(err, EPR_EIO, "%s: writing '%s' failed", tmp, w.where);
    }
    if (rename(tmp, path)) {
        int e = errno;
        unlink(tmp);
        return epr_fail(err, EPR_EIO, "rename %s -> %s: %s", tmp, path, strerror(e));
    }
    return fs_sync_parent_dir(path, err);
}

/* ---- report.md ---- */

static void kb(char *buf, size_t n, double bytes) {
    if (bytes >= 1e6)
        snprintf(buf, n, "%.2f MB", bytes / 1e6);
    else
        snprintf(buf, n, "%.2f KB", bytes / 1e3);
}

static void row_line(FILE *f, const pareto_row *r, int is_baseline, const pareto_row *base) {
    char sz[32];
    kb(sz, sizeof sz, (double)r->size_bytes);
    char lam[32];
    if (r->epr_enabled)
        snprintf(lam, sizeof lam, "%g", r->lambda);
    else
        snprintf(lam, sizeof lam, "— (plain)");
    char delta[32] = "";
    if (base && base != r)
        snprintf(delta, sizeof delta, "%+.2f", 100 * (r->test_error - base->test_error));
    fprintf(f, "| %s | %s | %s | %lld | %lld | %s | %.3f | %.1f× | %.2f%% | %.2f%% | %s | %s |\n", r->name, r->model,
            lam, (long long)r->seed, (long long)r->size_bytes, sz, r->bits_per_param, r->ratio, 100 * r->test_error,
            100 * r->test_error_raw, delta, r->is_pareto ? "**yes**" : is_baseline ? "baseline" : "");
}

static const char *TABLE_HEAD =
    "| run | model | λ | seed | size (bytes) | size | bits/param | vs float32 | test error | raw error | Δ error vs baseline (points) | Pareto |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|\n";

static const pareto_row *baseline_for(const pareto_row *rows, const int *is_baseline, int n, const pareto_row *r) {
    for (int i = 0; i < n; i++)
        if (is_baseline[i] && !strcmp(rows[i].model, r->model) && !strcmp(rows[i].data_set, r->data_set))
            return &rows[i];
    return NULL;
}

static int size_cmp(const void *pa, const void *pb) {
    const pareto_row *a = *(const pareto_row *const *)pa, *b = *(const pareto_row *const *)pb;
    if (a->size_bytes != b->size_bytes) return a->size_bytes < b->size_bytes ? -1 : 1;
    return a->test_error < b->test_error ? -1 : a->test_error > b->test_error;
}

static int write_report(const char *path, const char *dir, const char *h5_path, const pareto_row *rows,
                        const int *is_baseline, int n, char **rejected, int n_rejected, char **pending,
                        int n_pending, epr_err *err) {
    char tmp[1500];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    RETURN_ERROR_IF(!f, err, EPR_EIO, "%s: cannot write: %s", tmp, strerror(errno));
    fprintf(f, "# Sweep report: %s\n\n", dir);
    fprintf(f, "Written by `epr pareto` (epr %s) from %d run file%s; table in `%s`.\n", EPR_VERSION, n,
            n == 1 ? "" : "s", h5_path);
    fprintf(f, "Sizes are real bytes on disk (the `.epr` file; 4 bytes per parameter for plain runs); "
               "KB = 1000 bytes and MB = 10⁶ bytes, as in the paper. Errors are test errors of the decoded file.\n\n");

    /* data sets present */
    const char *sets[64];
    int nsets = 0;
    for (int i = 0; i < n; i++) {
        int seen = 0;
        for (int j = 0; j < nsets; j++) seen |= !strcmp(sets[j], rows[i].data_set);
        if (!seen && nsets < 64) sets[nsets++] = rows[i].data_set;
    }

    fprintf(f, "## Pareto set\n\n");
    fprintf(f, "EPR runs that no other EPR run on the same data set beats in both size and error "
               "(smallest first).\n\n");
    const pareto_row **sorted = malloc((size_t)n * sizeof *sorted + 1);
    if (!sorted) {
        fclose(f);
        unlink(tmp);
        return epr_fail(err, EPR_ENOMEM, "out of memory");
    }
    for (int s = 0; s < nsets; s++) {
        int k = 0;
        for (int i = 0; i < n; i++)
            if (rows[i].is_pareto && !strcmp(rows[i].data_set, sets[s])) sorted[k++] = &rows[i];
        qsort(sorted, (size_t)k, sizeof *sorted, size_cmp);
        fprintf(f, "### %s\n\n", sets[s]);
        if (!k) {
            fprintf(f, "No EPR runs.\n\n");
            continue;
        }
        fputs(TABLE_HEAD, f);
        for (int i = 0; i < k; i++) row_line(f, sorted[i], 0, baseline_for(rows, is_baseline, n, sorted[i]));
        fputc('\n', f);
    }

    fprintf(f, "## Uncompressed baseline\n\n");
    int nb = 0;
    for (int i = 0; i < n; i++) nb += is_baseline[i];
    if (!nb) {
        fprintf(f, "None: no run in this directory has EPR disabled. Train one (`epr train X.ini --set "
                   "epr.enabled=false`, or a sweep line with `epr.enabled=false`) or pass `--baseline RUN.h5`.\n\n");
    } else {
        fputs(TABLE_HEAD, f);
        for (int i = 0; i < n; i++)
            if (is_baseline[i]) row_line(f, &rows[i], 1, NULL);
        fprintf(f, "\n");
        for (int i = 0; i < n; i++)
            if (is_baseline[i] && strncmp(rows[i].rel_file, rows[i].name, strlen(rows[i].name)))
                fprintf(f, "Baseline `%s` is read from `%s`.\n\n", rows[i].name, rows[i].run_file);
    }

    fprintf(f, "## The paper (Oktay et al., Table 1)\n\n");
    const char *models[64];
    int nm = 0;
    for (int i = 0; i < n; i++) {
        int seen = 0;
        for (int j = 0; j < nm; j++) seen |= !strcmp(models[j], rows[i].model);
        if (!seen && nm < 64) models[nm++] = rows[i].model;
    }
    int any_paper = 0;
    for (int m = 0; m < nm; m++) any_paper |= pareto_paper_lookup(models[m]) != NULL;
    if (!any_paper) {
        fprintf(f, "The paper has no figure for the network%s of this sweep.\n\n", nm == 1 ? "" : "s");
    } else {
        fprintf(f, "| model | uncompressed | EPR size | EPR error | ours: smallest run with error ≤ the paper's |\n"
                   "|---|---|---|---|---|\n");
        for (int m = 0; m < nm; m++) {
            const pareto_paper_row *p = pareto_paper_lookup(models[m]);
            if (!p) continue;
            char a[32], b[32];
            kb(a, sizeof a, p->uncompressed_bytes);
            kb(b, sizeof b, p->epr_bytes);
            const pareto_row *best = NULL;
            for (int i = 0; i < n; i++) {
                const pareto_row *r = &rows[i];
                if (!r->epr_enabled || strcmp(r->model, p->model) || 100 * r->test_error > p->epr_error + 1e-9) continue;
                if (!best || r->size_bytes < best->size_bytes) best = r;
            }
            char ours[256];
            if (best) {
                char c[32];
                kb(c, sizeof c, (double)best->size_bytes);
                sfmt(ours, sizeof ours, "%s: %s (%.0f×), %.2f%%", best->name, c, best->ratio,
                         100 * best->test_error);
            } else {
                /* none as accurate: show the run closest to the paper's size */
                const pareto_row *near = NULL;
                for (int i = 0; i < n; i++) {
                    const pareto_row *r = &rows[i];
                    if (!r->epr_enabled || strcmp(r->model, p->model)) continue;
                    if (!near || fabs(log((double)r->size_bytes / p->epr_bytes)) <
                                     fabs(log((double)near->size_bytes / p->epr_bytes)))
                        near = r;
                }
                if (near) {
                    char c[32];
                    kb(c, sizeof c, (double)near->size_bytes);
                    sfmt(ours, sizeof ours, "none; closest in size: %s, %s (%.0f×), %.2f%%", near->name, c,
                         near->ratio, 100 * near->test_error);
                } else {
                    snprintf(ours, sizeof ours, "no EPR run of this network");
                }
            }
            fprintf(f, "| %s | %s, %.1f%% | %s (%.0f×) %s | %.1f%% | %s |\n", p->label, a, p->uncompressed_error, b,
                    p->ratio, p->note, p->epr_error, ours);
        }
        fprintf(f, "\nThe paper trains on the full data sets for far longer; MNIST-10k (8,004 training images) and short "
                   "runs are not the same experiment, so read this as orientation, not a reproduction.\n\n");
    }

    fprintf(f, "## All runs\n\n");
    fputs(TABLE_HEAD, f);
    for (int i = 0; i < n; i++) row_line(f, &rows[i], is_baseline[i], baseline_for(rows, is_baseline, n, &rows[i]));
    fprintf(f, "\n");
    if (n_pending) {
        fprintf(f, "## Unfinished runs (not included)\n\n");
        for (int i = 0; i < n_pending; i++) fprintf(f, "- %s\n", pending[i]);
        fprintf(f, "\n");
    }
    if (n_rejected) {
        fprintf(f, "## Rejected run files (not included)\n\n");
        for (int i = 0; i < n_rejected; i++) fprintf(f, "- %s\n", rejected[i]);
        fprintf(f, "\n");
    }
    fprintf(f, "## Runs and files\n\n");
    for (int i = 0; i < n; i++)
        fprintf(f, "- `%s`: run file `%s`%s%s%s, %lld steps on %lld rank%s, %.0f s\n", rows[i].name, rows[i].rel_file,
                rows[i].bitstream[0] ? ", bitstream `" : "", rows[i].bitstream, rows[i].bitstream[0] ? "`" : "",
                (long long)rows[i].steps, (long long)rows[i].world_size, rows[i].world_size == 1 ? "" : "s",
                rows[i].wall_seconds);
    free(sorted);
    int bad = ferror(f);
    if (fclose(f) || bad) {
        unlink(tmp);
        return epr_fail(err, EPR_EIO, "%s: write error", tmp);
    }
    if (rename(tmp, path)) {
        int e = errno;
        unlink(tmp);
        return epr_fail(err, EPR_EIO, "rename %s -> %s: %s", tmp, path, strerror(e));
    }
    return 0;
}

/* ---- driver ---- */

static int name_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int pareto_run(const pareto_opts *o, epr_err *err) {
    FILE *log = o->log;
    DIR *d = opendir(o->dir);
    RETURN_ERROR_IF(!d, err, EPR_EIO, "%s: cannot open the sweep directory: %s", o->dir, strerror(errno));
    char **names = NULL;
    int nn = 0, cap = 0, rc = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char p[1400];
        snprintf(p, sizeof p, "%s/%s/run.h5", o->dir, e->d_name);
        if (access(p, F_OK)) continue;
        if (nn == cap) {
            cap = cap ? 2 * cap : 32;
            char **nnames = realloc(names, (size_t)cap * sizeof *names);
            if (!nnames) {
                rc = epr_fail(err, EPR_ENOMEM, "out of memory");
                break;
            }
            names = nnames;
        }
        if (!(names[nn] = strdup(e->d_name))) {
            rc = epr_fail(err, EPR_ENOMEM, "out of memory");
            break;
        }
        nn++;
    }
    closedir(d);
    if (nn) qsort(names, (size_t)nn, sizeof *names, name_cmp);

    int total = nn + (o->baseline ? 1 : 0);
    pareto_row *rows = calloc((size_t)total + 1, sizeof *rows);
    int *is_baseline = calloc((size_t)total + 1, sizeof *is_baseline);
    char **rejected = calloc((size_t)total + 1, sizeof *rejected);
    char **pending = calloc((size_t)total + 1, sizeof *pending);
    char **targets = calloc((size_t)total + 1, sizeof *targets);
    if (!rc && (!rows || !is_baseline || !rejected || !pending || !targets)) rc = epr_fail(err, EPR_ENOMEM, "out of memory");
    int n = 0, n_rej = 0, n_pend = 0;
    for (int i = 0; i < nn && !rc; i++) {
        char p[1400];
        snprintf(p, sizeof p, "%s/%s/run.h5", o->dir, names[i]);
        epr_err re = {0};
        int r = pareto_read_run(p, &rows[n], &re);
        if (r == EPR_EUNSUP && strstr(re.msg, "no /final")) {
            pending[n_pend++] = strdup(re.msg);
            if (log) fprintf(log, "epr pareto: note: %s\n", re.msg);
            continue;
        }
        if (r) {
            rejected[n_rej++] = strdup(re.msg);
            fprintf(stderr, "epr pareto: rejected: %s\n", re.msg);
            continue;
        }
        sfmt(rows[n].name, sizeof rows[n].name, "%s", names[i]);
        sfmt(rows[n].rel_file, sizeof rows[n].rel_file, "%s/run.h5", names[i]);
        if (rows[n].bitstream[0]) {
            char tmpb[512];
            sfmt(tmpb, sizeof tmpb, "%s/%s", names[i], rows[n].bitstream);
            sfmt(rows[n].bitstream, sizeof rows[n].bitstream, "%s", tmpb);
        }
        n++;
    }
    if (!rc && o->baseline) {
        epr_err re = {0};
        int r = pareto_read_run(o->baseline, &rows[n], &re);
        if (r) {
            rc = epr_fail(err, r, "--baseline: %s", re.msg);
        } else if (rows[n].epr_enabled) {
            rc = epr_fail(err, EPR_EARG, "--baseline %s: an EPR run (epr_enabled = 1), not a plain float32 run",
                          o->baseline);
        } else {
            /* name: the run's directory, made unique among the rows */
            char dirbuf[1400];
            snprintf(dirbuf, sizeof dirbuf, "%s", o->baseline);
            char *slash = strrchr(dirbuf, '/');
            const char *stem = "baseline";
            if (slash) {
                *slash = 0;
                char *s2 = strrchr(dirbuf, '/');
                stem = s2 ? s2 + 1 : dirbuf;
            }
            sfmt(rows[n].name, sizeof rows[n].name, "%s", stem);
            for (int i = 0; i < n; i++)
                if (!strcmp(rows[i].name, rows[n].name)) {
                    sfmt(rows[n].name, sizeof rows[n].name, "%s_baseline", stem);
                    break;
                }
            char abs[4096];
            if (!realpath(o->baseline, abs)) snprintf(abs, sizeof abs, "%s", o->baseline);
            sfmt(rows[n].rel_file, sizeof rows[n].rel_file, "%s", abs);
            if (rows[n].bitstream[0]) rows[n].bitstream[0] = 0;
            n++;
        }
    }
    if (!rc && n == 0)
        rc = epr_fail(err, EPR_EARG, "%s: no finished run files (%s/*/run.h5 with a /final group)%s", o->dir, o->dir,
                      n_rej ? "; the ones found were rejected (see above)" : "");
    if (!rc) {
        /* keep the baseline flag through the sort: mark plain runs first */
        qsort(rows, (size_t)n, sizeof *rows, row_cmp);
        for (int i = 0; i < n; i++) is_baseline[i] = !rows[i].epr_enabled;
        pareto_mark(rows, n);
        char desc[1024] = "";
        for (int i = 0; i < n; i++) {
            if (is_baseline[i]) {
                size_t l = strlen(desc);
                sfmt(desc + l, sizeof desc - l, "%s%s", l ? "," : "", rows[i].name);
            }
            /* relative to sweep.h5's folder (the directory moves as a whole);
             * absolute when the table is written elsewhere (--h5) */
            char absf[4096];
            if (o->h5_out && rows[i].rel_file[0] != '/' && realpath(rows[i].run_file, absf))
                targets[i] = strdup(absf);
            else
                targets[i] = strdup(rows[i].rel_file);
            if (!targets[i]) rc = epr_fail(err, EPR_ENOMEM, "out of memory");
        }
        char h5p[1400], mdp[1400];
        if (o->h5_out)
            snprintf(h5p, sizeof h5p, "%s", o->h5_out);
        else
            snprintf(h5p, sizeof h5p, "%s/sweep.h5", o->dir);
        if (o->report_out)
            snprintf(mdp, sizeof mdp, "%s", o->report_out);
        else
            snprintf(mdp, sizeof mdp, "%s/report.md", o->dir);
        if (!rc) rc = write_sweep_h5(h5p, o->dir, rows, is_baseline, (const char **)targets, n, desc, err);
        if (!rc) rc = write_report(mdp, o->dir, h5p, rows, is_baseline, n, rejected, n_rej, pending, n_pend, err);
        if (!rc && log) {
            int np = 0, nb = 0;
            for (int i = 0; i < n; i++) np += rows[i].is_pareto, nb += is_baseline[i];
            fprintf(log, "epr pareto %s: %d run%s (%d on the Pareto front, %d baseline%s), %d unfinished, %d rejected\n",
                    o->dir, n, n == 1 ? "" : "s", np, nb, nb == 1 ? "" : "s", n_pend, n_rej);
            fprintf(log, "  %-40s %10s %9s %9s %8s\n", "run", "bytes", "x f32", "error", "pareto");
            for (int i = 0; i < n; i++)
                fprintf(log, "  %-40s %10lld %8.1fx %8.2f%% %8s\n", rows[i].name, (long long)rows[i].size_bytes,
                        rows[i].ratio, 100 * rows[i].test_error,
                        rows[i].is_pareto ? "yes" : is_baseline[i] ? "baseline" : "");
            fprintf(log, "wrote %s\nwrote %s\n", h5p, mdp);
        }
    }
    for (int i = 0; i < nn; i++) free(names[i]);
    free(names);
    for (int i = 0; i < total; i++) {
        if (rejected) free(rejected[i]);
        if (pending) free(pending[i]);
        if (targets) free(targets[i]);
    }
    free(rejected);
    free(pending);
    free(targets);
    free(rows);
    free(is_baseline);
    if (rc) return rc;
    return n_rej ? 1 : 0;
}
