/* study/pareto.c — see pareto.h. */
#include "study/pareto.h"

#include <dirent.h>
#include <glob.h>
#include <errno.h>
#include <hdf5.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "run/fsutil.h"
#include "run/h5run.h"
#include "run/run_info.h"
#include "study/h5w.h"
#include "study/paper.h"
#include "study/seeds.h"

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

/* ---- methods ---- */

void pareto_method_family(const char *method, char *buf, size_t cap) {
    const char *fam[] = {"uniform", "kmeans"};
    for (size_t i = 0; i < 2; i++) {
        size_t l = strlen(fam[i]);
        if (!strncmp(method, fam[i], l) && method[l] >= '0' && method[l] <= '9' &&
            strspn(method + l, "0123456789") == strlen(method + l)) {
            snprintf(buf, cap, "%sN", fam[i]);
            return;
        }
    }
    snprintf(buf, cap, "%s", method);
}

static int is_reference(const pareto_row *r) { return !r->epr_enabled && (!r->method[0] || !strcmp(r->method, "plain")); }
/* Runs whose own point is 4 bytes per parameter: the reference, and the
 * float32 weights of a pruned / clustered training run (its file is the
 * prune-kmeans point of its baselines.h5).  On no front. */
static int off_front(const pareto_row *r) { return is_reference(r) || !strcmp(r->method, "plain-pruned"); }
/* A point of a baselines.h5 file (not a run of its own). */
static int is_file_point(const pareto_row *r) { return r->source_run[0] && strcmp(r->source_run, r->name); }

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
    TRY(run_info_method(h, path, r->method, sizeof r->method, err)); /* run/run_info.h */
    TRY(h5run_get_f64(h, "/final", "wall_seconds", &r->wall_seconds, err));
    TRY(h5run_get_f64(h, "/final", "rate_exact_bits", &r->rate_exact_bits, err));
    if (!rc && h5run_has_attr(h, NULL, "config_id")) TRY(get_str_attr(h, NULL, "config_id", r->config_id, sizeof r->config_id, err));
    r->validation_error = NAN; /* run files before the validation split have neither */
    if (!rc && h5run_has_attr(h, "/final", "validation_error"))
        TRY(h5run_get_f64(h, "/final", "validation_error", &r->validation_error, err));
    if (!rc && h5run_has_attr(h, NULL, "n_validation")) TRY(h5run_get_i64(h, NULL, "n_validation", &r->n_validation, err));
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

/* ---- baselines.h5 ---- */

static int method_name_ok(const char *s) {
    size_t n = strlen(s);
    if (!n || n >= 32 || !strcmp(s, "plain") || !strncmp(s, "epr", 3) || !strcmp(s, ".") || !strcmp(s, "..")) return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || strchr("._+-", *s)))
            return 0;
    return 1;
}

void pareto_baselines_free(pareto_baselines *b) {
    if (!b) return;
    for (int i = 0; i < b->n_rejected; i++) free(b->rejected[i]);
    free(b->rejected);
    free(b->rows);
    memset(b, 0, sizeof *b);
}

static int add_rejected(pareto_baselines *b, const char *msg) {
    char **nr = realloc(b->rejected, (size_t)(b->n_rejected + 1) * sizeof *nr);
    if (!nr) return -1;
    b->rejected = nr;
    if (!(b->rejected[b->n_rejected] = strdup(msg))) return -1;
    b->n_rejected++;
    return 0;
}

int pareto_read_baselines(const char *path, const pareto_row *run, const char *run_dir_rel, pareto_baselines *b,
                          epr_err *err) {
    memset(b, 0, sizeof *b);
    RETURN_ERROR_IF(run->epr_enabled, err, EPR_EFORMAT,
                    "%s: baselines of an EPR run (%s): baselines.h5 belongs beside a plain run", path, run->run_file);
    h5run *h;
    CHECK_STATUS(h5run_open(path, &h, err));
    int rc = 0;
    char source[256] = "";
    int64_t steps = 0, f32 = 0, np = 0;
    double wall = 0;
    char *text = NULL;
#define TRY(x) \
    if (!rc) rc = (x)
    TRY(h5run_get_str(h, NULL, "source", source, sizeof source, err));
    TRY(h5run_get_i64(h, NULL, "steps", &steps, err));
    TRY(h5run_get_f64(h, NULL, "wall_seconds", &wall, err));
    TRY(h5run_get_i64(h, NULL, "float32_bytes", &f32, err));
    TRY(h5run_get_i64(h, NULL, "n_params", &np, err));
    TRY(h5run_get_strdup(h, NULL, "experiment", &text, err));
    free(text);
    if (!rc) {
        const char *base = strrchr(source, '/');
        base = base ? base + 1 : source;
        if (strcmp(base, "run.h5"))
            rc = epr_fail(err, EPR_EFORMAT, "%s: source '%s' is not the run file run.h5", path, source);
    }
    if (!rc && (f32 != run->float32_bytes || np != run->n_params))
        rc = epr_fail(err, EPR_EFORMAT,
                      "%s: float32_bytes %lld and n_params %lld are not those of %s (%lld, %lld): the baselines of another run?",
                      path, (long long)f32, (long long)np, run->run_file, (long long)run->float32_bytes,
                      (long long)run->n_params);
    if (!rc && steps != run->steps)
        rc = epr_fail(err, EPR_EFORMAT, "%s: steps %lld but %s has %lld: stale baselines (rerun epr baseline)", path,
                      (long long)steps, run->run_file, (long long)run->steps);
    if (!rc && !(isfinite(wall) && wall >= 0))
        rc = epr_fail(err, EPR_EFORMAT, "%s: wall_seconds %g is not a time >= 0", path, wall);
    char **names = NULL;
    int nn = 0;
    if (!rc) rc = h5run_list(h, "/methods", &names, &nn, err);
    if (!rc && nn > 4096) rc = epr_fail(err, EPR_EFORMAT, "%s: /methods has %d members", path, nn);
    if (!rc && nn && !(b->rows = calloc((size_t)nn, sizeof *b->rows))) rc = epr_fail(err, EPR_ENOMEM, "out of memory");
    char dir[1400];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = 0;
    else
        snprintf(dir, sizeof dir, ".");
    for (int i = 0; i < nn && !rc; i++) {
        char obj[300], method[64] = "", file[256] = "", *desc = NULL;
        int64_t bytes = 0;
        double terr = NAN, secs = NAN;
        epr_err me = {0};
        int mr = 0;
        sfmt(obj, sizeof obj, "/methods/%s", names[i]);
#define MTRY(x) \
    if (!mr) mr = (x)
        if (!method_name_ok(names[i]))
            mr = epr_fail(&me, EPR_EFORMAT, "%s: /methods/%s: not a method name (letters, digits, . _ + -; not plain or epr*)",
                          path, names[i]);
        MTRY(h5run_get_str(h, obj, "method", method, sizeof method, &me));
        MTRY(h5run_get_str(h, obj, "file", file, sizeof file, &me));
        MTRY(h5run_get_i64(h, obj, "file_bytes", &bytes, &me));
        MTRY(h5run_get_f64(h, obj, "test_error", &terr, &me));
        MTRY(h5run_get_f64(h, obj, "seconds", &secs, &me));
        MTRY(h5run_get_strdup(h, obj, "description", &desc, &me));
        free(desc);
#undef MTRY
        if (!mr && strcmp(method, names[i]))
            mr = epr_fail(&me, EPR_EFORMAT, "%s: %s: attribute method '%s' differs from the group name", path, obj,
                          method);
        if (!mr && !(terr >= 0 && terr <= 1))
            mr = epr_fail(&me, EPR_EFORMAT, "%s: %s: test_error %g is not a fraction in [0, 1]", path, obj, terr);
        if (!mr && !(isfinite(secs) && secs >= 0))
            mr = epr_fail(&me, EPR_EFORMAT, "%s: %s: seconds %g is not a time >= 0", path, obj, secs);
        if (!mr && bytes <= 0)
            mr = epr_fail(&me, EPR_EFORMAT, "%s: %s: file_bytes %lld is not > 0", path, obj, (long long)bytes);
        if (!mr && (!file[0] || strchr(file, '/') || !strcmp(file, ".") || !strcmp(file, "..")))
            mr = epr_fail(&me, EPR_EFORMAT, "%s: %s: file '%s' must be a file name inside the run directory", path,
                          obj, file);
        if (!mr) {
            char fpath[1700];
            struct stat st;
            sfmt(fpath, sizeof fpath, "%s/%s", dir, file);
            if (stat(fpath, &st) != 0 || !S_ISREG(st.st_mode))
                mr = epr_fail(&me, EPR_EFORMAT, "%s: %s: its file %s is missing", path, obj, fpath);
            else if ((int64_t)st.st_size != bytes)
                mr = epr_fail(&me, EPR_EFORMAT, "%s: %s: file_bytes %lld but %s has %lld bytes", path, obj,
                              (long long)bytes, fpath, (long long)st.st_size);
        }
        if (mr) {
            if (mr == EPR_ENOMEM || add_rejected(b, me.msg)) rc = epr_fail(err, EPR_ENOMEM, "out of memory");
            continue;
        }
        pareto_row *p = &b->rows[b->n++];
        *p = *run;
        sfmt(p->name, sizeof p->name, "%s:%s", run->name, method);
        sfmt(p->source_run, sizeof p->source_run, "%s", run->name);
        sfmt(p->method, sizeof p->method, "%s", method);
        if (run_dir_rel && run_dir_rel[0])
            sfmt(p->bitstream, sizeof p->bitstream, "%s/%s", run_dir_rel, file);
        else
            sfmt(p->bitstream, sizeof p->bitstream, "%s", file);
        p->size_bytes = bytes;
        p->test_error = terr;
        p->test_error_raw = NAN;
        p->rate_exact_bits = NAN;
        p->n_compressed = 0;
        p->post_seconds = secs;
        p->bits_per_param = 8.0 * (double)bytes / (double)p->n_params;
        p->ratio = (double)p->float32_bytes / (double)bytes;
        p->is_pareto = p->is_method_front = p->is_overall_front = 0;
    }
#undef TRY
    h5run_list_free(names, nn);
    h5run_close(h);
    if (rc) pareto_baselines_free(b);
    return rc;
}

/* ---- the Pareto rule ---- */

/* The network of a series: the built-in name, or for a custom network its
 * experiment's name (two custom networks are two networks). */
const char *pareto_network(const pareto_row *r) {
    return strcmp(r->model, "custom") || !r->experiment[0] ? r->model : r->experiment;
}

/* Points of one (network, data set): the fronts never compare across them. */
static int same_series_space(const pareto_row *a, const pareto_row *b) {
    return !strcmp(a->data_set, b->data_set) && !strcmp(pareto_network(a), pareto_network(b));
}

static int dominates(const pareto_row *b, const pareto_row *a) {
    int le = b->size_bytes <= a->size_bytes && b->test_error <= a->test_error;
    int strict = b->size_bytes < a->size_bytes || b->test_error < a->test_error;
    return le && strict;
}

void pareto_mark(pareto_row *rows, int n) {
    for (int i = 0; i < n; i++) {
        pareto_row *a = &rows[i];
        int ok = isfinite(a->test_error) && !off_front(a);
        char fa[32];
        pareto_method_family(a->method, fa, sizeof fa);
        a->is_pareto = ok && a->epr_enabled;
        a->is_method_front = ok;
        a->is_overall_front = ok;
        for (int j = 0; j < n && ok; j++) {
            const pareto_row *b = &rows[j];
            if (j == i || off_front(b) || !same_series_space(a, b) || !isfinite(b->test_error) ||
                !dominates(b, a))
                continue;
            a->is_overall_front = 0;
            if (b->epr_enabled && a->epr_enabled) a->is_pareto = 0;
            char fb[32];
            pareto_method_family(b->method, fb, sizeof fb);
            if (!strcmp(fa, fb)) a->is_method_front = 0;
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

/* Order of method families in the report: EPR ones first, then the
 * baselines from the least to the most elaborate, then anything else. */
static int family_rank(const char *fam) {
    static const char *ORDER[] = {"float32", "gzip", "xz", "uniformN", "kmeansN", "prune-kmeans"};
    static const char *EPR_ORDER[] = {"epr-sq", "epr-dft", "epr-ro", "epr-learned"};
    for (int i = 0; i < (int)(sizeof EPR_ORDER / sizeof EPR_ORDER[0]); i++)
        if (!strcmp(fam, EPR_ORDER[i])) return i;
    if (!strncmp(fam, "epr", 3)) return 9;
    if (!strcmp(fam, "plain") || !strcmp(fam, "plain-pruned")) return 50;
    for (int i = 0; i < (int)(sizeof ORDER / sizeof ORDER[0]); i++)
        if (!strcmp(fam, ORDER[i])) return 10 + i;
    return 100;
}

static int family_cmp(const void *pa, const void *pb) {
    const char *a = *(const char *const *)pa, *b = *(const char *const *)pb;
    int ra = family_rank(a), rb = family_rank(b);
    return ra != rb ? ra - rb : strcmp(a, b);
}

/* The distinct method families of ROWS (with SET: only the rows of that data
 * set that are on a front, see off_front), at most 64, in family_cmp order:
 * their names go to FAMS, FAMP[i] points at each.  Returns their count. */
static int collect_families(const pareto_row *rows, int n, const char *set, char fams[64][32], const char *famp[64]) {
    int nf = 0;
    for (int i = 0; i < n; i++) {
        if (set && (strcmp(rows[i].data_set, set) || off_front(&rows[i]))) continue;
        char fam[32];
        pareto_method_family(rows[i].method, fam, sizeof fam);
        int seen = 0;
        for (int j = 0; j < nf; j++) seen |= !strcmp(fams[j], fam);
        if (!seen && nf < 64) snprintf(fams[nf], sizeof fams[nf], "%s", fam), famp[nf] = fams[nf], nf++;
    }
    qsort(famp, (size_t)nf, sizeof *famp, family_cmp);
    return nf;
}

/* ---- sweep.h5 ---- */

static void write_columns(h5w *w, hid_t g, const pareto_row *rows, const int *is_baseline, int n) {
    h5w_scratch sc;
    if (!h5w_scratch_init(w, &sc, n)) {
        COL_STR(name, "run name (its directory); /links/<name> is the run file");
        COL_STR(experiment, "experiment name (the INI file's stem)");
        COL_STR(model, "network");
        COL_STR(data_set, "data set (errors are comparable within one data set only)");
        COL_STR(method, "epr-sq | epr-dft | epr-ro | epr-learned (EPR runs, by their groups' transforms), plain (the "
                        "float32 reference run), or a baselines.h5 method (float32, gzip, xz, uniformN, kmeansN, prune-kmeans)");
        COL_STR(source_run, "the run the point comes from: the row's own name for runs, the plain run for baselines.h5 methods");
        for (int i = 0; i < n; i++) sc.strs[i] = rows[i].rel_file;
        column(w, g, "run_file", sc.vstr, sc.vstr, sc.strs, (hsize_t)n, "run file, relative to the sweep directory");
        COL_STR(bitstream, "the file whose size is size_bytes, relative to the sweep directory (\"\" for plain runs)");
        COL_STR(config_id, "the run's fingerprint of every setting but the seed (\"\" before run files had it): equal = "
                           "the runs differ only in seed");
        COL_I8(epr_enabled, "1: trained with EPR (size = .epr bytes); 0: plain float32");
        COL_F64(lambda, "rate weight: loss = mean cross-entropy (nats) + lambda * rate (bits)");
        COL_I64(seed, "train.seed");
        COL_I64(size_bytes, "model size in bytes: the .epr file for EPR runs, the method's file for baselines, 4 x parameters "
                            "for plain runs");
        COL_I64(float32_bytes, "4 x parameters");
        COL_I64(n_params, "parameters of the network");
        COL_I64(n_compressed, "parameters coded through EPR groups");
        COL_F64(bits_per_param, "8 x size_bytes / n_params");
        COL_F64(ratio, "float32_bytes / size_bytes");
        COL_F64(test_error, "test error (fraction) of the network decoded from the file (EPR, baselines) or the EMA "
                            "model (plain)");
        COL_F64(test_error_raw, "test error (fraction) of the raw, non-EMA weights (NaN for baselines.h5 methods)");
        COL_F64(rate_exact_bits, "exact self-information of the quantised model under the learned densities (bits)");
        COL_F64(validation_error, "error (fraction) on the images held out of the training set ([data] validation) of "
                                  "the weights written, which were chosen on it; NaN without a validation split");
        COL_I64(n_validation, "images held out of the training set for validation (0: none)");
        COL_F64(wall_seconds, "training wall time (s) of the run (for a baseline: of the plain run it comes from)");
        COL_F64(post_seconds, "seconds the baselines.h5 method took after training (0 for runs)");
        COL_I64(steps, "optimizer steps");
        COL_I64(world_size, "MPI ranks");
        COL_I8(is_pareto, "1: no EPR run of the same network on the same data set is at most as large and at most "
                          "as wrong, one strictly");
        COL_I8(is_method_front, "1: no point of the same method family (uniformN, kmeansN: all N) of the same network "
                                "on the same data set is at most as large and at most as wrong, one strictly");
        COL_I8(is_overall_front, "1: no point of any method (plain reference runs aside) of the same network on the "
                                 "same data set is at most as large and at most as wrong, one strictly");
        for (int i = 0; i < n; i++) sc.i8[i] = (signed char)is_baseline[i];
        column(w, g, "is_baseline", H5T_STD_I8LE, H5T_NATIVE_SCHAR, sc.i8, (hsize_t)n,
               "1: a plain float32 run used as the uncompressed reference (method plain)");
    }
    h5w_scratch_free(&sc);
}

static int write_sweep_h5(const char *path, const char *dir, const pareto_row *rows, const int *is_baseline,
                          const char **link_target, int n, const char *baseline_desc, epr_err *err) {
    char tmp[1500];
    fs_tmp_name(path, tmp, sizeof tmp);
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
    attr_i64(&w, w.file, "schema_version", 2);
    attr_str(&w, w.file, "kind", "epr sweep");
    attr_str(&w, w.file, "code_version", EPR_VERSION);
    attr_str(&w, w.file, "directory", absdir);
    attr_i64(&w, w.file, "n_runs", n);
    int64_t n_files = 0;
    for (int i = 0; i < n; i++) n_files += !is_file_point(&rows[i]);
    attr_i64(&w, w.file, "n_run_files", n_files);
    {
        char fams[64][32];
        const char *famp[64];
        int nf = collect_families(rows, n, NULL, fams, famp);
        char methods[1024] = "";
        for (int i = 0; i < nf; i++) {
            size_t l = strlen(methods);
            sfmt(methods + l, sizeof methods - l, "%s%s", l ? "," : "", famp[i]);
        }
        attr_str(&w, w.file, "methods", methods);
    }
    attr_str(&w, w.file, "pareto_rule",
             "is_pareto: EPR runs only; no other EPR run of the same network on the same data set has size_bytes <= "
             "and test_error <=, one strictly");
    attr_str(&w, w.file, "front_rule",
             "is_method_front: no point of the same method family of the same network on the same data set has "
             "size_bytes <= and test_error <=, one strictly; is_overall_front: the same against the points of every method (plain reference runs are on no "
             "front and dominate nothing)");
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
    pareto_point *pts = NULL;
    int npts = pareto_points(rows, is_baseline, n, &pts);
    if (npts < 0) h5w_fail(&w, "out of memory (/points)");
    else pareto_points_write(&w, w.file, pts, npts);
    free(pts);
    hid_t l = H5Gcreate2(w.file, "links", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (l < 0) h5w_fail(&w, "/links");
    for (int i = 0; i < n && l >= 0 && !w.failed; i++)
        if (link_target[i] && H5Lcreate_external(link_target[i], "/", l, rows[i].name, H5P_DEFAULT, H5P_DEFAULT) < 0)
            h5w_fail(&w, rows[i].name);
    if (l >= 0) H5Gclose(l);
    if (H5Fclose(w.file) < 0) h5w_fail(&w, "H5Fclose");
    H5Eset_auto2(H5E_DEFAULT, old_fn, old_data);
    if (w.failed) {
        unlink(tmp);
        return epr_fail(err, EPR_EIO, "%s: writing '%s' failed", tmp, w.where);
    }
    return fs_commit(tmp, path, err);
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
    else if (is_file_point(r))
        snprintf(lam, sizeof lam, "—");
    else
        snprintf(lam, sizeof lam, "— (plain)");
    char delta[32] = "";
    if (base && base != r)
        snprintf(delta, sizeof delta, "%+.2f", 100 * (r->test_error - base->test_error));
    char raw[32];
    if (isfinite(r->test_error_raw))
        snprintf(raw, sizeof raw, "%.2f%%", 100 * r->test_error_raw);
    else
        snprintf(raw, sizeof raw, "—");
    const char *fronts = r->is_method_front && r->is_overall_front ? "method, overall"
                         : r->is_method_front                      ? "method"
                         : r->is_overall_front                     ? "overall"
                                                                   : "";
    char val[48] = "—";
    if (isfinite(r->validation_error))
        snprintf(val, sizeof val, "%.2f%% (%lld images)", 100 * r->validation_error, (long long)r->n_validation);
    fprintf(f, "| %s | %s | %s | %s | %lld | %lld | %s | %.3f | %.1f× | %.2f%% | %s | %s | %s | %s | %s |\n", r->name,
            r->model, r->method, lam, (long long)r->seed, (long long)r->size_bytes, sz, r->bits_per_param, r->ratio,
            100 * r->test_error, raw, delta, r->is_pareto ? "**yes**" : is_baseline ? "baseline" : "", fronts, val);
}

static const char *TABLE_HEAD =
    "| run | model | method | λ | seed | size (bytes) | size | bits/param | vs float32 | test error | raw error | Δ error vs baseline (points) | Pareto (EPR) | fronts | validation error |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";


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

/* One line of the report's Table 1 section: the paper's figure and our
 * smallest EPR run of the pair at or below its error (else the closest in size). */
static void paper_line(FILE *f, const pareto_row *rows, int n, const paper_row *p, const char *set, const char *note) {
    char a[32], b[32], ours[256];
    kb(a, sizeof a, p->float32_bytes);
    kb(b, sizeof b, p->epr_bytes);
    const pareto_row *best = NULL, *near = NULL;
    for (int i = 0; i < n; i++) {
        const pareto_row *r = &rows[i];
        if (!r->epr_enabled || strcmp(r->model, p->model) || strcmp(r->data_set, set)) continue;
        if (100 * r->test_error <= p->epr_error + 1e-9 && (!best || r->size_bytes < best->size_bytes)) best = r;
        if (!near ||
            fabs(log((double)r->size_bytes / p->epr_bytes)) < fabs(log((double)near->size_bytes / p->epr_bytes)))
            near = r;
    }
    const pareto_row *r = best ? best : near;
    if (r) {
        char c[32];
        kb(c, sizeof c, (double)r->size_bytes);
        sfmt(ours, sizeof ours, "%s%s: %s (%.0f×), %.2f%%", best ? "" : "none; closest in size: ", r->name, c, r->ratio,
             100 * r->test_error);
    } else {
        snprintf(ours, sizeof ours, "no EPR run of this network on %s", set);
    }
    fprintf(f, "| %s | %s; %s%s%s%s | %s, %.1f%% | %s (%.0f×) %s | %.1f%% | %s |\n", p->label, set, p->data,
            note[0] ? " (" : "", note, note[0] ? ")" : "", a, p->float32_error, b, p->ratio, p->transform, p->epr_error,
            ours);
}

/* A point of the table of data set `set` and network `net` (NULL: all). */
static int in_table(const pareto_row *r, const char *set, const char *net) {
    return !strcmp(r->data_set, set) && (!net || !strcmp(pareto_network(r), net));
}

/* The report's "Fronts by method" table of one data set (and network). */
static void fronts_table(FILE *f, const pareto_row *rows, const int *is_baseline, int n, const char *set,
                         const char *net, const pareto_row **sorted) {
    char fams[64][32];
    const char *famp[64];
    int nf = collect_families(rows, n, set, fams, famp);
    if (net)
        fprintf(f, "### %s: %s\n\n", set, net);
    else
        fprintf(f, "### %s\n\n", set);
    if (!nf) {
        fprintf(f, "No compressed points.\n\n");
        return;
    }
    fprintf(f, "| method | points | front, smallest first: size, test error (point) |\n|---|---|---|\n");
    for (int m = 0; m <= nf; m++) {
        int k = 0, total = 0;
        for (int i = 0; i < n; i++) {
            if (!in_table(&rows[i], set, net) || off_front(&rows[i])) continue;
            char fam[32];
            pareto_method_family(rows[i].method, fam, sizeof fam);
            if (m < nf && strcmp(fam, famp[m])) continue;
            total++;
            if (m < nf ? rows[i].is_method_front : rows[i].is_overall_front) sorted[k++] = &rows[i];
        }
        qsort(sorted, (size_t)k, sizeof *sorted, size_cmp);
        if (net && !total) continue; /* a family of another network of the data set */
        fprintf(f, "| %s | %d | ", m < nf ? famp[m] : "**all methods**", total);
        for (int i = 0; i < k; i++) {
            char sz[32];
            kb(sz, sizeof sz, (double)sorted[i]->size_bytes);
            if (m < nf)
                fprintf(f, "%s%s %.2f%% (%s)", i ? " · " : "", sz, 100 * sorted[i]->test_error, sorted[i]->name);
            else
                fprintf(f, "%s%s %.2f%% %s (%s)", i ? " · " : "", sz, 100 * sorted[i]->test_error,
                        sorted[i]->method, sorted[i]->name);
        }
        fprintf(f, "%s|\n", k ? " " : "— ");
    }
    const pareto_row *ref = NULL;
    double sum = 0;
    int nref = 0;
    for (int i = 0; i < n; i++)
        if (is_baseline[i] && in_table(&rows[i], set, net)) sum += rows[i].test_error, nref++, ref = &rows[i];
    if (ref) {
        char sz[32];
        kb(sz, sizeof sz, (double)ref->size_bytes);
        fprintf(f, "\nPlain float32 reference: %s, test error %.2f%% (mean of %d run%s).\n", sz, 100 * sum / nref,
                nref, nref == 1 ? "" : "s");
    }
    fputc('\n', f);
}

static int write_report(const char *path, const char *dir, const char *h5_path, const pareto_row *rows,
                        const int *is_baseline, int n, char **rejected, int n_rejected, char **pending,
                        int n_pending, epr_err *err) {
    char tmp[1500];
    fs_tmp_name(path, tmp, sizeof tmp);
    FILE *f = fopen(tmp, "w");
    RETURN_ERROR_IF(!f, err, EPR_EIO, "%s: cannot write: %s", tmp, strerror(errno));
    fprintf(f, "# Sweep report: %s\n\n", dir);
    fprintf(f, "Written by `epr pareto` (epr %s) from %d run file%s; table in `%s`.\n", EPR_VERSION, n,
            n == 1 ? "" : "s", h5_path);
    fprintf(f, "Sizes are real bytes on disk (the `.epr` file; 4 bytes per parameter for plain runs); "
               "KB = 1000 bytes and MB = 10⁶ bytes, as in the paper. Errors are test errors (the test split, never "
               "used for a choice) of the decoded file; \"validation error\" is on the images a run held out of its "
               "training set (`[data] validation`), on which it chose the weights it wrote (EMA or raw); \"—\": the "
               "run had no validation split and wrote its EMA weights.\n\n");

    /* data sets present */
    const char *sets[64];
    int nsets = 0;
    for (int i = 0; i < n; i++) {
        int seen = 0;
        for (int j = 0; j < nsets; j++) seen |= !strcmp(sets[j], rows[i].data_set);
        if (!seen && nsets < 64) sets[nsets++] = rows[i].data_set;
    }

    fprintf(f, "## Pareto set\n\n");
    fprintf(f, "EPR runs that no other EPR run of the same network on the same data set beats in both size and error "
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

    {
        pareto_point *pts = NULL;
        int npts = pareto_points(rows, is_baseline, n, &pts);
        if (npts > 0) pareto_points_report(f, pts, npts);
        free(pts);
    }

    fprintf(f, "## Fronts by method\n\n");
    fprintf(f, "Every run file is a point, and so is every method of a plain run's `baselines.h5` (files written by "
               "`epr baseline`). Per method family (uniformN and kmeansN with all their bit counts, as EPR with all its "
               "λ), the points that no other point of the family beats in both size and error, smallest first; then the "
               "front across all methods (the plain reference runs aside).\n\n");
    for (int s = 0; s < nsets; s++) {
        const char *nets[64]; /* the networks of the data set: one table each when there are several */
        int nn = 0;
        for (int i = 0; i < n; i++) {
            if (strcmp(rows[i].data_set, sets[s])) continue;
            int seen = 0;
            for (int j = 0; j < nn; j++) seen |= !strcmp(nets[j], pareto_network(&rows[i]));
            if (!seen && nn < 64) nets[nn++] = pareto_network(&rows[i]);
        }
        for (int k = 0; k < (nn > 1 ? nn : 1); k++)
            fronts_table(f, rows, is_baseline, n, sets[s], nn > 1 ? nets[k] : NULL, sorted);
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
    /* per (network, data set) pair of the sweep that the paper has a figure for (data/paper_table1.tsv) */
    int any_paper = 0;
    for (int i = 0; i < n; i++) {
        int first = 1;
        for (int j = 0; j < i && first; j++)
            first = strcmp(rows[j].model, rows[i].model) || strcmp(rows[j].data_set, rows[i].data_set);
        const char *note;
        const paper_row *p = first ? paper_lookup(rows[i].model, rows[i].data_set, &note) : NULL;
        if (!p) continue;
        if (!any_paper++)
            fprintf(f, "| model | data (ours; the paper's) | uncompressed | EPR size | EPR error | ours: smallest run "
                       "with error ≤ the paper's |\n|---|---|---|---|---|---|\n");
        paper_line(f, rows, n, p, rows[i].data_set, note);
    }
    if (!any_paper) {
        fprintf(f, "The paper has no figure for the network and data set pairs of this sweep (none for Fashion-MNIST).\n\n");
    } else {
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
        fprintf(f, "## Rejected run files and baseline methods (not included)\n\n");
        for (int i = 0; i < n_rejected; i++) fprintf(f, "- %s\n", rejected[i]);
        fprintf(f, "\n");
    }
    fprintf(f, "## Runs and files\n\n");
    for (int i = 0; i < n; i++)
        if (is_file_point(&rows[i]))
            fprintf(f, "- `%s`: file `%s`, method %s of run `%s`, %.1f s after its training\n", rows[i].name,
                    rows[i].bitstream, rows[i].method, rows[i].source_run, rows[i].post_seconds);
        else
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
    return fs_commit(tmp, path, err);
}

/* ---- driver ---- */

static int name_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

typedef struct {
    pareto_row *rows;
    int n, cap;
} row_vec;

static pareto_row *row_push(row_vec *v) {
    if (v->n == v->cap) {
        int nc = v->cap ? 2 * v->cap : 32;
        pareto_row *nr = realloc(v->rows, (size_t)nc * sizeof *nr);
        if (!nr) return NULL;
        v->rows = nr, v->cap = nc;
    }
    pareto_row *r = &v->rows[v->n++];
    memset(r, 0, sizeof *r);
    return r;
}

typedef struct {
    char **v;
    int n, cap;
} str_vec;

static int str_push(str_vec *v, const char *s) {
    if (v->n == v->cap) {
        int nc = v->cap ? 2 * v->cap : 16;
        char **nv = realloc(v->v, (size_t)nc * sizeof *nv);
        if (!nv) return -1;
        v->v = nv, v->cap = nc;
    }
    if (!(v->v[v->n] = strdup(s))) return -1;
    v->n++;
    return 0;
}

static void str_free(str_vec *v) {
    for (int i = 0; i < v->n; i++) free(v->v[i]);
    free(v->v);
    memset(v, 0, sizeof *v);
}

/* Neither output may be one of the files it is made from (DIR/x/run.h5,
 * DIR/x/baselines.h5, --baseline), nor the other output. */
static int check_outputs(const pareto_opts *o, const char *h5p, const char *mdp, epr_err *err) {
    RETURN_ERROR_IF(fs_same_file(h5p, mdp), err, EPR_EARG, "%s and %s are the same file", h5p, mdp);
    const char *outs[2] = {h5p, mdp};
    for (int k = 0; k < 2; k++) {
        if (o->baseline) CHECK_STATUS(fs_check_not_input(outs[k], o->baseline, "the --baseline run file", err));
        static const char *const pats[2] = {"%s/*/run.h5", "%s/*/"
                                                           "baselines.h5"};
        for (int j = 0; j < 2; j++) {
            char pat[1400];
            snprintf(pat, sizeof pat, pats[j], o->dir);
            glob_t gl;
            if (glob(pat, 0, NULL, &gl)) continue;
            int rc = 0;
            for (size_t i = 0; i < gl.gl_pathc && !rc; i++)
                rc = fs_check_not_input(outs[k], gl.gl_pathv[i], "the input", err);
            globfree(&gl);
            CHECK_STATUS(rc);
        }
    }
    return 0;
}

int pareto_run(const pareto_opts *o, epr_err *err) {
    FILE *log = o->log;
    DIR *d = opendir(o->dir);
    RETURN_ERROR_IF(!d, err, EPR_EIO, "%s: cannot open the sweep directory: %s", o->dir, strerror(errno));
    str_vec names = {0}, rejected = {0}, pending = {0};
    row_vec rv = {0};
    int rc = 0, n_bfiles = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char p[1400];
        snprintf(p, sizeof p, "%s/%s/run.h5", o->dir, e->d_name);
        if (access(p, F_OK)) continue;
        if (str_push(&names, e->d_name)) {
            rc = epr_fail(err, EPR_ENOMEM, "out of memory");
            break;
        }
    }
    closedir(d);
    if (names.n) qsort(names.v, (size_t)names.n, sizeof *names.v, name_cmp);

    for (int i = 0; i < names.n && !rc; i++) {
        char p[1400];
        snprintf(p, sizeof p, "%s/%s/run.h5", o->dir, names.v[i]);
        epr_err re = {0};
        pareto_row row;
        int r = pareto_read_run(p, &row, &re);
        if (r == EPR_EUNSUP && strstr(re.msg, "no /final")) {
            if (str_push(&pending, re.msg)) rc = epr_fail(err, EPR_ENOMEM, "out of memory");
            if (log) fprintf(log, "epr pareto: note: %s\n", re.msg);
            continue;
        }
        if (r) {
            if (str_push(&rejected, re.msg)) rc = epr_fail(err, EPR_ENOMEM, "out of memory");
            fprintf(stderr, "epr pareto: rejected: %s\n", re.msg);
            continue;
        }
        sfmt(row.name, sizeof row.name, "%s", names.v[i]);
        sfmt(row.source_run, sizeof row.source_run, "%s", names.v[i]);
        sfmt(row.rel_file, sizeof row.rel_file, "%s/run.h5", names.v[i]);
        if (row.bitstream[0]) {
            char tmpb[512];
            sfmt(tmpb, sizeof tmpb, "%s/%s", names.v[i], row.bitstream);
            sfmt(row.bitstream, sizeof row.bitstream, "%s", tmpb);
        }
        pareto_row *slot = row_push(&rv);
        if (!slot) {
            rc = epr_fail(err, EPR_ENOMEM, "out of memory");
            break;
        }
        *slot = row;
        /* the baselines written beside a plain run */
        char bp[1400];
        snprintf(bp, sizeof bp, "%s/%s/baselines.h5", o->dir, names.v[i]);
        if (access(bp, F_OK)) continue;
        pareto_baselines b;
        int br = pareto_read_baselines(bp, &row, names.v[i], &b, &re);
        if (br == EPR_ENOMEM) {
            rc = epr_fail(err, EPR_ENOMEM, "out of memory");
            break;
        }
        if (br) {
            if (str_push(&rejected, re.msg)) rc = epr_fail(err, EPR_ENOMEM, "out of memory");
            fprintf(stderr, "epr pareto: rejected: %s\n", re.msg);
            continue;
        }
        n_bfiles++;
        for (int k = 0; k < b.n_rejected && !rc; k++) {
            if (str_push(&rejected, b.rejected[k])) rc = epr_fail(err, EPR_ENOMEM, "out of memory");
            fprintf(stderr, "epr pareto: rejected: %s\n", b.rejected[k]);
        }
        for (int k = 0; k < b.n && !rc; k++) {
            pareto_row *bs = row_push(&rv);
            if (!bs)
                rc = epr_fail(err, EPR_ENOMEM, "out of memory");
            else
                *bs = b.rows[k];
        }
        pareto_baselines_free(&b);
    }
    if (!rc && o->baseline) {
        epr_err re = {0};
        pareto_row row;
        int r = pareto_read_run(o->baseline, &row, &re);
        if (r) {
            rc = epr_fail(err, r, "--baseline: %s", re.msg);
        } else if (row.epr_enabled) {
            rc = epr_fail(err, EPR_EARG, "--baseline %s: an EPR run (epr_enabled = 1), not a plain float32 run",
                          o->baseline);
        } else if (!is_reference(&row)) {
            rc = epr_fail(err, EPR_EARG, "--baseline %s: a %s run ([baseline] prune / kmeans_bits), not a plain float32 run",
                          o->baseline, row.method);
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
            sfmt(row.name, sizeof row.name, "%s", stem);
            for (int i = 0; i < rv.n; i++)
                if (!strcmp(rv.rows[i].name, row.name)) {
                    sfmt(row.name, sizeof row.name, "%s_baseline", stem);
                    break;
                }
            sfmt(row.source_run, sizeof row.source_run, "%s", row.name);
            char abs[4096];
            if (!realpath(o->baseline, abs)) snprintf(abs, sizeof abs, "%s", o->baseline);
            sfmt(row.rel_file, sizeof row.rel_file, "%s", abs);
            row.bitstream[0] = 0;
            pareto_row *slot = row_push(&rv);
            if (!slot)
                rc = epr_fail(err, EPR_ENOMEM, "out of memory");
            else
                *slot = row;
        }
    }
    int n = rv.n;
    pareto_row *rows = rv.rows;
    if (!rc && n == 0)
        rc = epr_fail(err, EPR_EARG, "%s: no finished run files (%s/*/run.h5 with a /final group)%s", o->dir, o->dir,
                      rejected.n ? "; the ones found were rejected (see above)" : "");
    int *is_baseline = NULL;
    char **targets = NULL;
    if (!rc && (!(is_baseline = calloc((size_t)n + 1, sizeof *is_baseline)) ||
                !(targets = calloc((size_t)n + 1, sizeof *targets))))
        rc = epr_fail(err, EPR_ENOMEM, "out of memory");
    if (!rc) {
        qsort(rows, (size_t)n, sizeof *rows, row_cmp);
        for (int i = 0; i < n; i++) is_baseline[i] = is_reference(&rows[i]);
        pareto_mark(rows, n);
        char desc[1024] = "";
        for (int i = 0; i < n && !rc; i++) {
            if (is_baseline[i]) {
                size_t l = strlen(desc);
                sfmt(desc + l, sizeof desc - l, "%s%s", l ? "," : "", rows[i].name);
            }
            if (is_file_point(&rows[i])) continue; /* no link: its run has one */
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
        if (!rc) rc = check_outputs(o, h5p, mdp, err);
        if (!rc) rc = write_sweep_h5(h5p, o->dir, rows, is_baseline, (const char **)targets, n, desc, err);
        if (!rc)
            rc = write_report(mdp, o->dir, h5p, rows, is_baseline, n, rejected.v, rejected.n, pending.v, pending.n,
                              err);
        if (!rc && log) {
            int np = 0, nb = 0, nfp = 0;
            for (int i = 0; i < n; i++) np += rows[i].is_pareto, nb += is_baseline[i], nfp += is_file_point(&rows[i]);
            fprintf(log,
                    "epr pareto %s: %d run%s (%d on the Pareto front, %d baseline%s), %d point%s from %d baselines.h5, "
                    "%d unfinished, %d rejected\n",
                    o->dir, n - nfp, n - nfp == 1 ? "" : "s", np, nb, nb == 1 ? "" : "s", nfp, nfp == 1 ? "" : "s",
                    n_bfiles, pending.n, rejected.n);
            fprintf(log, "  %-40s %-14s %10s %9s %9s %8s\n", "run", "method", "bytes", "x f32", "error", "pareto");
            for (int i = 0; i < n; i++)
                fprintf(log, "  %-40s %-14s %10lld %8.1fx %8.2f%% %8s\n", rows[i].name, rows[i].method,
                        (long long)rows[i].size_bytes, rows[i].ratio, 100 * rows[i].test_error,
                        rows[i].is_pareto ? "yes" : is_baseline[i] ? "baseline" : rows[i].is_overall_front ? "overall" : "");
            pareto_point *pts = NULL;
            int npts = pareto_points(rows, is_baseline, n, &pts), multi = 0;
            for (int k = 0; k < npts; k++) multi += pts[k].n_seeds > 1;
            if (npts > 0)
                fprintf(log, "  %d point%s over seeds, %d with 2 or more seeds (report: \"Points over seeds\", sweep.h5 "
                             "/points)\n", npts, npts == 1 ? "" : "s", multi);
            free(pts);
            fprintf(log, "wrote %s\nwrote %s\n", h5p, mdp);
        }
    }
    int n_rej = rejected.n;
    str_free(&names);
    str_free(&rejected);
    str_free(&pending);
    for (int i = 0; targets && i < n; i++) free(targets[i]);
    free(targets);
    free(rows);
    free(is_baseline);
    if (rc) return rc;
    return n_rej ? 1 : 0;
}
