/* study/pareto.c — the driver of `epr pareto` (see pareto.h): find the run
 * files of a sweep directory and the baselines.h5 beside them, add --baseline,
 * mark the fronts, write sweep.h5 and report.md (pareto_internal.h), log a
 * summary.  May call: libc, POSIX, run/fsutil, study/seeds and the other
 * pareto_*.c. */
#include "study/pareto_internal.h"

#include <dirent.h>
#include <errno.h>
#include <glob.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "run/fsutil.h"
#include "study/seeds.h"

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

/* The run directories of DIR (those with a run.h5), sorted by name. */
static int find_runs(const char *dir, str_vec *names, epr_err *err) {
    DIR *d = opendir(dir);
    RETURN_ERROR_IF(!d, err, EPR_EIO, "%s: cannot open the sweep directory: %s", dir, strerror(errno));
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char p[1400];
        snprintf(p, sizeof p, "%s/%s/run.h5", dir, e->d_name);
        if (access(p, F_OK)) continue;
        if (str_push(names, e->d_name)) {
            rc = cmn_fail(err, EPR_ENOMEM, "out of memory");
            break;
        }
    }
    closedir(d);
    if (names->n) qsort(names->v, (size_t)names->n, sizeof *names->v, name_cmp);
    return rc;
}

/* What pareto_run collects: the points, and the files it left out. */
typedef struct {
    row_vec rv;
    str_vec rejected, pending;
    int n_bfiles; /* baselines.h5 files read */
} pareto_inputs;

/* The points of the run directory DIR/NAME: its run file, and the methods of
 * the baselines.h5 beside it.  A file that is unfinished or malformed is
 * noted in in->pending / in->rejected (not an error). */
static int add_run_dir(const pareto_opts *o, const char *name, pareto_inputs *in, epr_err *err) {
    FILE *log = o->log;
    int rc = 0;
    char p[1400];
    snprintf(p, sizeof p, "%s/%s/run.h5", o->dir, name);
    epr_err re = {0};
    pareto_row row;
    int r = pareto_read_run(p, &row, &re);
    if (r == EPR_EUNSUP && strstr(re.msg, "no /final")) {
        if (str_push(&in->pending, re.msg)) rc = cmn_fail(err, EPR_ENOMEM, "out of memory");
        if (log) fprintf(log, "epr pareto: note: %s\n", re.msg);
        return rc;
    }
    if (r) {
        if (str_push(&in->rejected, re.msg)) rc = cmn_fail(err, EPR_ENOMEM, "out of memory");
        fprintf(stderr, "epr pareto: rejected: %s\n", re.msg);
        return rc;
    }
    sfmt(row.name, sizeof row.name, "%s", name);
    sfmt(row.source_run, sizeof row.source_run, "%s", name);
    sfmt(row.rel_file, sizeof row.rel_file, "%s/run.h5", name);
    if (row.bitstream[0]) {
        char tmpb[512];
        sfmt(tmpb, sizeof tmpb, "%s/%s", name, row.bitstream);
        sfmt(row.bitstream, sizeof row.bitstream, "%s", tmpb);
    }
    pareto_row *slot = row_push(&in->rv);
    RETURN_ERROR_IF(!slot, err, EPR_ENOMEM, "out of memory");
    *slot = row;
    /* the baselines written beside a plain run */
    char bp[1400];
    snprintf(bp, sizeof bp, "%s/%s/baselines.h5", o->dir, name);
    if (access(bp, F_OK)) return 0;
    pareto_baselines b;
    int br = pareto_read_baselines(bp, &row, name, &b, &re);
    RETURN_ERROR_IF(br == EPR_ENOMEM, err, EPR_ENOMEM, "out of memory");
    if (br) {
        if (str_push(&in->rejected, re.msg)) rc = cmn_fail(err, EPR_ENOMEM, "out of memory");
        fprintf(stderr, "epr pareto: rejected: %s\n", re.msg);
        return rc;
    }
    in->n_bfiles++;
    for (int k = 0; k < b.n_rejected && !rc; k++) {
        if (str_push(&in->rejected, b.rejected[k])) rc = cmn_fail(err, EPR_ENOMEM, "out of memory");
        fprintf(stderr, "epr pareto: rejected: %s\n", b.rejected[k]);
    }
    for (int k = 0; k < b.n && !rc; k++) {
        pareto_row *bs = row_push(&in->rv);
        if (!bs)
            rc = cmn_fail(err, EPR_ENOMEM, "out of memory");
        else
            *bs = b.rows[k];
    }
    pareto_baselines_free(&b);
    return rc;
}

/* The plain run of --baseline as one more point, named after its directory
 * (made unique among the rows). */
static int add_baseline_run(const pareto_opts *o, row_vec *rv, epr_err *err) {
    epr_err re = {0};
    pareto_row row;
    int r = pareto_read_run(o->baseline, &row, &re);
    if (r) return cmn_fail(err, r, "--baseline: %s", re.msg);
    RETURN_ERROR_IF(row.epr_enabled, err, EPR_EARG,
                    "--baseline %s: an EPR run (epr_enabled = 1), not a plain float32 run", o->baseline);
    RETURN_ERROR_IF(!is_reference(&row), err, EPR_EARG,
                    "--baseline %s: a %s run ([baseline] prune / kmeans_bits), not a plain float32 run", o->baseline,
                    row.method);
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
    for (int i = 0; i < rv->n; i++)
        if (!strcmp(rv->rows[i].name, row.name)) {
            sfmt(row.name, sizeof row.name, "%s_baseline", stem);
            break;
        }
    sfmt(row.source_run, sizeof row.source_run, "%s", row.name);
    char abs[4096];
    if (!realpath(o->baseline, abs)) snprintf(abs, sizeof abs, "%s", o->baseline);
    sfmt(row.rel_file, sizeof row.rel_file, "%s", abs);
    row.bitstream[0] = 0;
    pareto_row *slot = row_push(rv);
    RETURN_ERROR_IF(!slot, err, EPR_ENOMEM, "out of memory");
    *slot = row;
    return 0;
}

/* The names of the plain reference runs (comma-separated) into DESC, and
 * each run's link target: relative to sweep.h5's folder (the directory moves
 * as a whole); absolute when the table is written elsewhere (--h5).  Points
 * of a baselines.h5 get no link: their run has one. */
static int link_targets(const pareto_opts *o, const pareto_row *rows, const int *is_baseline, int n, char **targets,
                        char *desc, size_t desc_cap, epr_err *err) {
    int rc = 0;
    desc[0] = 0;
    for (int i = 0; i < n && !rc; i++) {
        if (is_baseline[i]) {
            size_t l = strlen(desc);
            sfmt(desc + l, desc_cap - l, "%s%s", l ? "," : "", rows[i].name);
        }
        if (is_file_point(&rows[i])) continue;
        char absf[4096];
        if (o->h5_out && rows[i].rel_file[0] != '/' && realpath(rows[i].run_file, absf))
            targets[i] = strdup(absf);
        else
            targets[i] = strdup(rows[i].rel_file);
        if (!targets[i]) rc = cmn_fail(err, EPR_ENOMEM, "out of memory");
    }
    return rc;
}

/* The summary on o->log: counts, one line per point, the points over seeds. */
static void log_summary(const pareto_opts *o, const pareto_inputs *in, const pareto_row *rows, const int *is_baseline,
                        int n, const char *h5p, const char *mdp) {
    FILE *log = o->log;
    int np = 0, nb = 0, nfp = 0;
    for (int i = 0; i < n; i++) np += rows[i].is_pareto, nb += is_baseline[i], nfp += is_file_point(&rows[i]);
    fprintf(log,
            "epr pareto %s: %d run%s (%d on the Pareto front, %d baseline%s), %d point%s from %d baselines.h5, "
            "%d unfinished, %d rejected\n",
            o->dir, n - nfp, n - nfp == 1 ? "" : "s", np, nb, nb == 1 ? "" : "s", nfp, nfp == 1 ? "" : "s",
            in->n_bfiles, in->pending.n, in->rejected.n);
    fprintf(log, "  %-40s %-14s %10s %9s %9s %8s\n", "run", "method", "bytes", "x f32", "error", "pareto");
    for (int i = 0; i < n; i++)
        fprintf(log, "  %-40s %-14s %10lld %8.1fx %8.2f%% %8s\n", rows[i].name, rows[i].method,
                (long long)rows[i].size_bytes, rows[i].ratio, 100 * rows[i].test_error,
                rows[i].is_pareto          ? "yes"
                : is_baseline[i]           ? "baseline"
                : rows[i].is_overall_front ? "overall"
                                           : "");
    pareto_point *pts = NULL;
    int npts = pareto_points(rows, is_baseline, n, &pts), multi = 0;
    for (int k = 0; k < npts; k++) multi += pts[k].n_seeds > 1;
    if (npts > 0)
        fprintf(log,
                "  %d point%s over seeds, %d with 2 or more seeds (report: \"Points over seeds\", sweep.h5 "
                "/points)\n",
                npts, npts == 1 ? "" : "s", multi);
    free(pts);
    fprintf(log, "wrote %s\nwrote %s\n", h5p, mdp);
}

/* Sorts and marks the points, then writes sweep.h5 and report.md. */
static int write_outputs(const pareto_opts *o, pareto_inputs *in, int *is_baseline, char **targets, epr_err *err) {
    int n = in->rv.n;
    pareto_row *rows = in->rv.rows;
    qsort(rows, (size_t)n, sizeof *rows, pareto_row_cmp);
    for (int i = 0; i < n; i++) is_baseline[i] = is_reference(&rows[i]);
    pareto_mark(rows, n);
    char desc[1024];
    int rc = link_targets(o, rows, is_baseline, n, targets, desc, sizeof desc, err);
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
    if (!rc) rc = pareto_write_sweep_h5(h5p, o->dir, rows, is_baseline, (const char **)targets, n, desc, err);
    if (!rc)
        rc = pareto_write_report(mdp, o->dir, h5p, rows, is_baseline, n, in->rejected.v, in->rejected.n, in->pending.v,
                                 in->pending.n, err);
    if (!rc && o->log) log_summary(o, in, rows, is_baseline, n, h5p, mdp);
    return rc;
}

int pareto_run(const pareto_opts *o, epr_err *err) {
    str_vec names = {0};
    int rc = find_runs(o->dir, &names, err);
    pareto_inputs in = {0};
    for (int i = 0; i < names.n && !rc; i++) rc = add_run_dir(o, names.v[i], &in, err);
    if (!rc && o->baseline) rc = add_baseline_run(o, &in.rv, err);
    int n = in.rv.n;
    if (!rc && n == 0)
        rc = cmn_fail(err, EPR_EARG, "%s: no finished run files (%s/*/run.h5 with a /final group)%s", o->dir, o->dir,
                      in.rejected.n ? "; the ones found were rejected (see above)" : "");
    int *is_baseline = NULL;
    char **targets = NULL;
    if (!rc && (!(is_baseline = calloc((size_t)n + 1, sizeof *is_baseline)) ||
                !(targets = calloc((size_t)n + 1, sizeof *targets))))
        rc = cmn_fail(err, EPR_ENOMEM, "out of memory");
    if (!rc) rc = write_outputs(o, &in, is_baseline, targets, err);
    int n_rej = in.rejected.n;
    str_free(&names);
    str_free(&in.rejected);
    str_free(&in.pending);
    for (int i = 0; targets && i < n; i++) free(targets[i]);
    free(targets);
    free(in.rv.rows);
    free(is_baseline);
    if (rc) return rc;
    return n_rej ? 1 : 0;
}
