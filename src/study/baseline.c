/* study/baseline.c — see baseline.h and docs/baselines.md: the driver of
 * the post-training baselines (baseline_run, baseline_run_file,
 * baseline_after_training): each method's file written and its error
 * measured on the decoded file, baselines.h5 read and written (methods
 * computed before are kept).  The quantising methods: baseline_encode.c;
 * gzip and xz: baseline_zip.c. */
#include "study/baseline_internal.h"

#include <errno.h>
#include <lzma.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <zlib.h>

#include "common/timeutil.h"
#include "epr/codec.h"
#include "run/bitstream.h"
#include "run/data_sets.h"
#include "run/fsutil.h"
#include "run/h5run.h"
#include "run/prune.h"
#include "run/run_load.h"

/* ---- files ------------------------------------------------------------- */

static int file_size(const char *path, int64_t *n, epr_err *err) {
    struct stat st;
    RETURN_ERROR_IF(stat(path, &st), err, EPR_EIO, "%s: cannot stat: %s", path, strerror(errno));
    *n = (int64_t)st.st_size;
    return 0;
}

/* Test error of the network decoded from the .epr file at path. */
static int evaluate_file(const char *path, dataset *test, int eval_batch, const bitstream_evaluator *ev, double *error,
                         epr_err *err) {
    epr_file *f;
    CHECK_STATUS(epr_file_open(path, &f, err));
    int rc = bitstream_evaluate_with(f, test, eval_batch, ev, error, NULL, err);
    epr_file_close(f);
    return rc;
}

typedef struct {
    nn_model *net;
    const cfg_experiment *cfg;
    const char *arch;
    dataset *test;
    const bitstream_evaluator *ev; /* NULL: the CPU */
    const char *dir;
    int have_float32;
    baseline_result float32; /* the float32 file, once written */
} ctx;

static void path_in(const ctx *c, const char *file, char *buf, size_t cap) {
    snprintf(buf, cap, "%s/%s", c->dir, file);
}

/* Writes an .epr method's file and evaluates the decoded file. */
static int run_epr_method(ctx *c, const char *method, baseline_result *r, epr_err *err) {
    double t0 = cmn_now_s();
    void *bytes = NULL;
    size_t len = 0;
    char path[1400];
    snprintf(r->method, sizeof r->method, "%s", method);
    snprintf(r->file, sizeof r->file, "baseline_%s.epr", method);
    path_in(c, r->file, path, sizeof path);
    int rc = baseline_encode(c->net, c->cfg, c->arch, method, &bytes, &len, r->description, sizeof r->description, err);
    if (!rc) rc = fs_write_atomic(path, bytes, len, err);
    free(bytes);
    if (!rc) rc = file_size(path, &r->file_bytes, err);
    if (!rc) rc = evaluate_file(path, c->test, c->cfg->eval_batch, c->ev, &r->test_error, err);
    r->seconds = cmn_now_s() - t0;
    return rc;
}

static int ensure_float32(ctx *c, epr_err *err) {
    if (c->have_float32) return 0;
    CHECK_STATUS(run_epr_method(c, "float32", &c->float32, err));
    c->have_float32 = 1;
    return 0;
}

/* gzip or xz of the float32 file, checked by decompressing the file written
 * and comparing with the float32 file's bytes on disk. */
static int run_wrapped(ctx *c, method_kind m, baseline_result *r, epr_err *err) {
    CHECK_STATUS(ensure_float32(c, err));
    double t0 = cmn_now_s();
    const char *method = m == M_GZIP ? "gzip" : "xz";
    char src[1400], path[1400];
    snprintf(r->method, sizeof r->method, "%s", method);
    snprintf(r->file, sizeof r->file, "%.80s.%s", c->float32.file, m == M_GZIP ? "gz" : "xz");
    baseline_describe(m, 0, 0, c->cfg, r->description, sizeof r->description);
    path_in(c, c->float32.file, src, sizeof src);
    path_in(c, r->file, path, sizeof path);
    void *raw = NULL, *packed = NULL, *back = NULL, *disk = NULL;
    size_t nraw = 0, npacked = 0, nback = 0, ndisk = 0;
    int rc = fs_read_file(src, &raw, &nraw, err);
    if (!rc) rc = (m == M_GZIP ? baseline_gzip : baseline_xz)(raw, nraw, &packed, &npacked, err);
    if (!rc) rc = fs_write_atomic(path, packed, npacked, err);
    if (!rc) rc = fs_read_file(path, &disk, &ndisk, err);
    if (!rc) rc = (m == M_GZIP ? baseline_gunzip : baseline_unxz)(disk, ndisk, &back, &nback, err);
    if (!rc && (nback != nraw || memcmp(back, raw, nraw)))
        rc = cmn_fail(err, EPR_ECRC, "%s: does not decompress to the bytes of %s", path, src);
    if (!rc) rc = file_size(path, &r->file_bytes, err);
    r->test_error = c->float32.test_error; /* the same bytes, so the same network */
    r->seconds = cmn_now_s() - t0;
    free(raw);
    free(packed);
    free(back);
    free(disk);
    return rc;
}

/* ---- baselines.h5 ------------------------------------------------------ */

static const char *const ATTR_NAMES[] = {"method", "file", "file_bytes", "test_error", "seconds", "description"};

int baseline_h5_read(const char *path, baseline_result **res, int *n, char **experiment, epr_err *err) {
    *res = NULL;
    *n = 0;
    if (experiment) *experiment = NULL;
    h5run *h = NULL;
    char **names = NULL;
    int nn = 0;
    int rc = h5run_open(path, &h, err);
    if (!rc && experiment) rc = h5run_get_strdup(h, "/", "experiment", experiment, err);
    if (!rc) rc = h5run_list(h, "/methods", &names, &nn, err);
    baseline_result *r = NULL;
    if (!rc && !(r = calloc((size_t)nn + 1, sizeof *r))) rc = cmn_fail(err, EPR_ENOMEM, "out of memory");
    for (int i = 0; !rc && i < nn; i++) {
        char obj[300];
        snprintf(obj, sizeof obj, "/methods/%.200s", names[i]);
        rc = h5run_get_str(h, obj, ATTR_NAMES[0], r[i].method, sizeof r[i].method, err);
        if (!rc) rc = h5run_get_str(h, obj, ATTR_NAMES[1], r[i].file, sizeof r[i].file, err);
        if (!rc) rc = h5run_get_i64(h, obj, ATTR_NAMES[2], &r[i].file_bytes, err);
        if (!rc) rc = h5run_get_f64(h, obj, ATTR_NAMES[3], &r[i].test_error, err);
        if (!rc) rc = h5run_get_f64(h, obj, ATTR_NAMES[4], &r[i].seconds, err);
        if (!rc) rc = h5run_get_str(h, obj, ATTR_NAMES[5], r[i].description, sizeof r[i].description, err);
        if (!rc && strcmp(r[i].method, names[i]))
            rc = cmn_fail(err, EPR_EFORMAT, "%s: %s says method '%s'", path, obj, r[i].method);
    }
    h5run_list_free(names, nn);
    h5run_close(h);
    if (rc) {
        free(r);
        if (experiment) {
            free(*experiment);
            *experiment = NULL;
        }
        return rc;
    }
    *res = r;
    *n = nn;
    return 0;
}

/* The methods an existing dir/baselines.h5 holds for the same experiment
 * (none if it is absent or was written for another experiment); an
 * unreadable file is an error naming it. */
static int read_old(const ctx *c, const baseline_source *src, baseline_result **old, int *n_old, FILE *log,
                    epr_err *err) {
    char path[1400];
    path_in(c, BASELINE_H5, path, sizeof path);
    *old = NULL;
    *n_old = 0;
    if (!fs_exists(path)) return 0;
    char *exp = NULL;
    int rc = baseline_h5_read(path, old, n_old, &exp, err);
    if (rc) {
        char m[sizeof err->msg];
        snprintf(m, sizeof m, "%s", err->msg);
        snprintf(err->msg, sizeof err->msg, "%.300s (%.120s cannot be merged with: move it away to start afresh)", m,
                 path);
        return rc;
    }
    if (strcmp(exp, src->experiment ? src->experiment : "")) {
        if (log)
            fprintf(log, "%s was written for another experiment: its %d method%s will be dropped\n", path, *n_old,
                    *n_old == 1 ? "" : "s");
        *n_old = 0;
    }
    free(exp);
    return 0;
}

/* Writes dir/baselines.h5: the new results and the old ones not recomputed. */
static int write_h5(const ctx *c, const baseline_source *src, const baseline_result *res, int n,
                    const baseline_result *old, int n_old, FILE *log, epr_err *err) {
    char path[1400];
    path_in(c, BASELINE_H5, path, sizeof path);
    int total = n;
    baseline_result *all = calloc((size_t)(n + n_old) + 1, sizeof *all);
    RETURN_ERROR_IF(!all, err, EPR_ENOMEM, "out of memory");
    memcpy(all, res, (size_t)n * sizeof *all);
    for (int i = 0; i < n_old; i++) {
        int again = 0;
        for (int j = 0; j < n; j++) again |= !strcmp(old[i].method, res[j].method);
        if (!again) all[total++] = old[i];
    }
    h5run_attr *attrs = calloc((size_t)total * 6 + 1, sizeof *attrs);
    h5run_group *groups = calloc((size_t)total + 1, sizeof *groups);
    char(*gpath)[64] = calloc((size_t)total + 1, sizeof *gpath);
    int rc = 0;
    if (!attrs || !groups || !gpath) rc = cmn_fail(err, EPR_ENOMEM, "out of memory");
    for (int i = 0; !rc && i < total; i++) {
        h5run_attr *a = attrs + 6 * i;
        a[0] = h5run_str(ATTR_NAMES[0], all[i].method);
        a[1] = h5run_str(ATTR_NAMES[1], all[i].file);
        a[2] = h5run_i64(ATTR_NAMES[2], all[i].file_bytes);
        a[3] = h5run_f64(ATTR_NAMES[3], all[i].test_error);
        a[4] = h5run_f64(ATTR_NAMES[4], all[i].seconds);
        a[5] = h5run_str(ATTR_NAMES[5], all[i].description);
        snprintf(gpath[i], sizeof gpath[i], "/methods/%s", all[i].method);
        groups[i] = (h5run_group){gpath[i], a, 6};
    }
    size_t np = nn_model_num_params(c->net);
    h5run_attr root[] = {
        h5run_str("source", "run.h5"),
        h5run_i64("steps", src->steps),
        h5run_f64("wall_seconds", src->wall_seconds),
        h5run_i64("float32_bytes", (int64_t)(4 * np)),
        h5run_i64("n_params", (int64_t)np),
        h5run_str("experiment", src->experiment ? src->experiment : ""),
    };
    h5run_desc d = {.attrs = root, .n_attrs = (int)(sizeof root / sizeof root[0]), .groups = groups, .n_groups = total};
    if (!rc) rc = h5run_write(path, &d, err);
    if (!rc && log) fprintf(log, "wrote %s (%d method%s)\n", path, total, total == 1 ? "" : "s");
    free(attrs);
    free(groups);
    free(gpath);
    free(all);
    return rc;
}

/* ---- the whole thing --------------------------------------------------- */

static void print_table(const ctx *c, const baseline_result *r, int n, FILE *log) {
    double f32 = 4.0 * (double)nn_model_num_params(c->net);
    fprintf(log, "%-14s %-28s %12s %9s %10s %8s  %s\n", "method", "file", "bytes", "vs f32", "test err", "seconds",
            "description");
    for (int i = 0; i < n; i++)
        fprintf(log, "%-14s %-28s %12lld %8.1fx %9.2f%% %8.1f  %s\n", r[i].method, r[i].file,
                (long long)r[i].file_bytes, r[i].file_bytes ? f32 / (double)r[i].file_bytes : 0.0,
                100 * r[i].test_error, r[i].seconds, r[i].description);
    fflush(log);
}

int baseline_run(nn_model *net, const cfg_experiment *cfg, const char *arch, dataset *test, const char *dir,
                 const char *methods, const baseline_source *src, FILE *log, epr_err *err) {
    char names[BASELINE_MAX_METHODS][BASELINE_NAME_LEN];
    int n = 0;
    CHECK_STATUS(baseline_parse_methods(methods, names, BASELINE_MAX_METHODS, &n, err));
    ctx c = {.net = net, .cfg = cfg, .arch = arch, .test = test, .ev = src ? src->ev : NULL, .dir = dir};
    /* an unreadable baselines.h5 is reported before any work is done */
    baseline_result *old = NULL;
    int n_old = 0;
    CHECK_STATUS(read_old(&c, src, &old, &n_old, log, err));
    size_t np = nn_model_num_params(net);
    if (log) {
        fprintf(log,
                "post-training baselines (docs/baselines.md) of %zu parameters (float32 %zu bytes) into %s: %d "
                "method%s\n",
                np, 4 * np, dir, n, n == 1 ? "" : "s");
        fflush(log);
    }
    baseline_result *res = calloc(BASELINE_MAX_METHODS, sizeof *res);
    if (!res) {
        free(old);
        return cmn_fail(err, EPR_ENOMEM, "out of memory");
    }
    int rc = 0, done = 0;
    for (int i = 0; !rc && i < n; i++) {
        int bits, per_tensor;
        method_kind m = baseline_method_of(names[i], &bits, &per_tensor);
        if (log) {
            fprintf(log, "baseline %d/%d %s ...\n", i + 1, n, names[i]);
            fflush(log);
        }
        if (m == M_GZIP || m == M_XZ) {
            rc = run_wrapped(&c, m, &res[i], err);
        } else if (m == M_FLOAT32) {
            rc = ensure_float32(&c, err);
            res[i] = c.float32;
        } else {
            rc = run_epr_method(&c, names[i], &res[i], err);
        }
        done += !rc;
        if (!rc && log) {
            fprintf(log,
                    "  wrote %s/%s: %lld bytes (float32 / size = %.1fx), test error %.2f%% of the decoded "
                    "file, %.1f s\n",
                    dir, res[i].file, (long long)res[i].file_bytes,
                    res[i].file_bytes ? 4.0 * (double)np / (double)res[i].file_bytes : 0.0, 100 * res[i].test_error,
                    res[i].seconds);
            fflush(log);
        }
        if (rc) {
            char m2[sizeof err->msg];
            snprintf(m2, sizeof m2, "%s", err->msg);
            snprintf(err->msg, sizeof err->msg, "baseline %s: %.400s", names[i], m2);
        }
    }
    if (log && done) print_table(&c, res, done, log);
    /* the methods done before a failure are kept (their files exist) */
    if (done) {
        epr_err werr = {0};
        int wrc = write_h5(&c, src, res, done, old, n_old, log, &werr);
        if (!rc && wrc) {
            rc = wrc;
            *err = werr;
        }
    }
    free(old);
    free(res);
    return rc;
}

int baseline_after_training(nn_model *net, const cfg_experiment *cfg, const char *arch, dataset *test,
                            const bitstream_evaluator *ev, const char *dir, long steps, double wall_seconds, FILE *log,
                            epr_err *err) {
    if (!cfg->baseline_post[0]) return 0;
    if (cfg->epr_enabled) {
        if (log) fprintf(log, "[baseline] post is ignored for an EPR run (baselines are made from plain runs)\n");
        return 0;
    }
    baseline_source src = {cfg->text, steps, wall_seconds, ev};
    return baseline_run(net, cfg, arch, test, dir, cfg->baseline_post, &src, log, err);
}

/* No file the methods write in dir (baselines.h5, baseline_M.epr and the
 * float32 file's .gz / .xz) may be the run file they are made from. */
static int check_outputs(const char *dir, const char *run_path, char names[][BASELINE_NAME_LEN], int n, epr_err *err) {
    char p[1400];
    snprintf(p, sizeof p, "%.1200s/%s", dir, BASELINE_H5);
    CHECK_STATUS(fs_check_not_input(p, run_path, "the run file", err));
    static const char *const f32[3] = {"", ".gz", ".xz"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%.1200s/baseline_float32.epr%s", dir, f32[i]);
        CHECK_STATUS(fs_check_not_input(p, run_path, "the run file", err));
    }
    for (int i = 0; i < n; i++) {
        snprintf(p, sizeof p, "%.1200s/baseline_%.40s.epr", dir, names[i]);
        CHECK_STATUS(fs_check_not_input(p, run_path, "the run file", err));
    }
    return 0;
}

int baseline_run_file(const char *run_path, const char *methods, const char *data_root, FILE *log, epr_err *err) {
    char ov[1200];
    const char *extra[1] = {ov};
    if (data_root) snprintf(ov, sizeof ov, "data.root=%s", data_root);
    run_loaded r;
    int rc = run_load_open(run_path, extra, data_root ? 1 : 0, &r, err);
    if (!rc && r.epr_enabled)
        rc = cmn_fail(err, EPR_EARG,
                      "%s: an EPR run (epr.enabled = true); post-training baselines are made from a plain run "
                      "(epr train ... --set epr.enabled=false)",
                      run_path);
    if (!rc && !h5run_has(r.h, "/final"))
        rc = cmn_fail(err, EPR_EARG,
                      "%s: the run has not finished (no /final); finish it first with epr train --resume", run_path);
    int64_t steps = 0;
    double wall = 0;
    if (!rc) rc = h5run_get_i64(r.h, "/", "step", &steps, err);
    if (!rc) rc = h5run_get_f64(r.h, "/final", "wall_seconds", &wall, err);
    if (!methods) methods = !rc && r.cfg.baseline_post[0] ? r.cfg.baseline_post : BASELINE_DEFAULT_METHODS;
    char names[BASELINE_MAX_METHODS][BASELINE_NAME_LEN];
    int n;
    if (!rc) rc = baseline_parse_methods(methods, names, BASELINE_MAX_METHODS, &n, err);
    if (!rc) rc = run_load_model(&r, 0, err);
    dataset train = {0}, test = {0};
    if (!rc) rc = data_load_experiment(&r.cfg, &train, &test, err);
    dataset_free(&train);
    char *dir = NULL;
    if (!rc) {
        const char *slash = strrchr(run_path, '/');
        size_t dl = slash ? (size_t)(slash - run_path) : 1;
        if (!(dir = malloc(dl + 1)))
            rc = cmn_fail(err, EPR_ENOMEM, "out of memory");
        else if (slash && slash == run_path)
            strcpy(dir, "/");
        else if (slash)
            memcpy(dir, run_path, dl), dir[dl] = 0;
        else
            strcpy(dir, ".");
    }
    if (!rc && log) {
        fprintf(log, "epr baseline %s: %s on %s (%d test images), %lld steps\n", run_path, r.cfg.model_name,
                r.cfg.data_set, test.n, (long long)steps);
        fflush(log);
    }
    if (!rc) rc = check_outputs(dir, run_path, names, n, err);
    baseline_source src = {r.text, (long)steps, wall, NULL};
    if (!rc) rc = baseline_run(r.net, &r.cfg, r.arch, &test, dir, methods, &src, log, err);
    free(dir);
    dataset_free(&test);
    run_load_close(&r);
    return rc;
}
