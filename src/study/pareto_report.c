/* study/pareto_report.c — DIR/report.md of `epr pareto`: the Pareto set,
 * the points over seeds, the fronts by method, the uncompressed baseline, the
 * paper's Table 1 beside ours, every run, and the files it read; written to a
 * temporary name and committed atomically.  May call: libc, libm,
 * run/fsutil, study/paper, study/seeds. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "run/fsutil.h"
#include "study/paper.h"
#include "study/pareto_internal.h"
#include "study/seeds.h"

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
    if (base && base != r) snprintf(delta, sizeof delta, "%+.2f", 100 * (r->test_error - base->test_error));
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
            100 * r->test_error, raw, delta,
            r->is_pareto  ? "**yes**"
            : is_baseline ? "baseline"
                          : "",
            fronts, val);
}

static const char *TABLE_HEAD =
    "| run | model | method | λ | seed | size (bytes) | size | bits/param | vs float32 | test error | raw error | Δ "
    "error vs baseline (points) | Pareto (EPR) | fronts | validation error |\n"
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
    int nf = pareto_collect_families(rows, n, set, fams, famp);
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
                fprintf(f, "%s%s %.2f%% %s (%s)", i ? " · " : "", sz, 100 * sorted[i]->test_error, sorted[i]->method,
                        sorted[i]->name);
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
        fprintf(f, "\nPlain float32 reference: %s, test error %.2f%% (mean of %d run%s).\n", sz, 100 * sum / nref, nref,
                nref == 1 ? "" : "s");
    }
    fputc('\n', f);
}

/* A context of the report's sections: the points, which are the plain
 * references, the data sets present, and room to sort n points. */
typedef struct {
    const pareto_row *rows;
    const int *is_baseline;
    int n;
    const char *sets[64];
    int nsets;
    const pareto_row **sorted;
} report_ctx;

/* "## Pareto set": the EPR points on it, per data set, smallest first. */
static void section_pareto_set(FILE *f, const report_ctx *c) {
    const pareto_row *rows = c->rows;
    int n = c->n;
    fprintf(f, "## Pareto set\n\n");
    fprintf(f, "EPR runs that no other EPR run of the same network on the same data set beats in both size and error "
               "(smallest first).\n\n");
    for (int s = 0; s < c->nsets; s++) {
        int k = 0;
        for (int i = 0; i < n; i++)
            if (rows[i].is_pareto && !strcmp(rows[i].data_set, c->sets[s])) c->sorted[k++] = &rows[i];
        qsort(c->sorted, (size_t)k, sizeof *c->sorted, size_cmp);
        fprintf(f, "### %s\n\n", c->sets[s]);
        if (!k) {
            fprintf(f, "No EPR runs.\n\n");
            continue;
        }
        fputs(TABLE_HEAD, f);
        for (int i = 0; i < k; i++) row_line(f, c->sorted[i], 0, baseline_for(rows, c->is_baseline, n, c->sorted[i]));
        fputc('\n', f);
    }
}

/* "## Fronts by method": per data set, one table per network when there
 * are several. */
static void section_fronts(FILE *f, const report_ctx *c) {
    const pareto_row *rows = c->rows;
    int n = c->n;
    fprintf(f, "## Fronts by method\n\n");
    fprintf(f,
            "Every run file is a point, and so is every method of a plain run's `baselines.h5` (files written by "
            "`epr baseline`). Per method family (uniformN and kmeansN with all their bit counts, as EPR with all its "
            "λ), the points that no other point of the family beats in both size and error, smallest first; then the "
            "front across all methods (the plain reference runs aside).\n\n");
    for (int s = 0; s < c->nsets; s++) {
        const char *nets[64]; /* the networks of the data set: one table each when there are several */
        int nn = 0;
        for (int i = 0; i < n; i++) {
            if (strcmp(rows[i].data_set, c->sets[s])) continue;
            int seen = 0;
            for (int j = 0; j < nn; j++) seen |= !strcmp(nets[j], pareto_network(&rows[i]));
            if (!seen && nn < 64) nets[nn++] = pareto_network(&rows[i]);
        }
        for (int k = 0; k < (nn > 1 ? nn : 1); k++)
            fronts_table(f, rows, c->is_baseline, n, c->sets[s], nn > 1 ? nets[k] : NULL, c->sorted);
    }
}

/* "## Uncompressed baseline": the plain reference runs. */
static void section_baseline(FILE *f, const report_ctx *c) {
    const pareto_row *rows = c->rows;
    const int *is_baseline = c->is_baseline;
    int n = c->n;
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
}

/* "## The paper": per (network, data set) pair of the sweep that the paper
 * has a figure for (data/paper_table1.tsv), its figure beside ours. */
static void section_paper(FILE *f, const report_ctx *c) {
    const pareto_row *rows = c->rows;
    int n = c->n;
    fprintf(f, "## The paper (Oktay et al., Table 1)\n\n");
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
        fprintf(
            f,
            "The paper has no figure for the network and data set pairs of this sweep (none for Fashion-MNIST).\n\n");
    } else {
        fprintf(f,
                "\nThe paper trains on the full data sets for far longer; MNIST-10k (8,004 training images) and short "
                "runs are not the same experiment, so read this as orientation, not a reproduction.\n\n");
    }
}

/* "## All runs", the unfinished and rejected files, "## Runs and files". */
static void section_runs(FILE *f, const report_ctx *c, char **rejected, int n_rejected, char **pending, int n_pending) {
    const pareto_row *rows = c->rows;
    const int *is_baseline = c->is_baseline;
    int n = c->n;
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
            fprintf(f, "- `%s`: run file `%s`%s%s%s, %lld steps on %lld rank%s, %.0f s\n", rows[i].name,
                    rows[i].rel_file, rows[i].bitstream[0] ? ", bitstream `" : "", rows[i].bitstream,
                    rows[i].bitstream[0] ? "`" : "", (long long)rows[i].steps, (long long)rows[i].world_size,
                    rows[i].world_size == 1 ? "" : "s", rows[i].wall_seconds);
}

int pareto_write_report(const char *path, const char *dir, const char *h5_path, const pareto_row *rows,
                        const int *is_baseline, int n, char **rejected, int n_rejected, char **pending, int n_pending,
                        epr_err *err) {
    report_ctx c = {.rows = rows, .is_baseline = is_baseline, .n = n};
    c.sorted = malloc((size_t)n * sizeof *c.sorted + 1);
    RETURN_ERROR_IF(!c.sorted, err, EPR_ENOMEM, "out of memory");
    for (int i = 0; i < n; i++) { /* data sets present */
        int seen = 0;
        for (int j = 0; j < c.nsets; j++) seen |= !strcmp(c.sets[j], rows[i].data_set);
        if (!seen && c.nsets < 64) c.sets[c.nsets++] = rows[i].data_set;
    }
    char tmp[1500];
    fs_tmp_name(path, tmp, sizeof tmp);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        int e = errno;
        free(c.sorted);
        return cmn_fail(err, EPR_EIO, "%s: cannot write: %s", tmp, strerror(e));
    }
    fprintf(f, "# Sweep report: %s\n\n", dir);
    fprintf(f, "Written by `epr pareto` (epr %s) from %d run file%s; table in `%s`.\n", EPR_VERSION, n,
            n == 1 ? "" : "s", h5_path);
    fprintf(f, "Sizes are real bytes on disk (the `.epr` file; 4 bytes per parameter for plain runs); "
               "KB = 1000 bytes and MB = 10⁶ bytes, as in the paper. Errors are test errors (the test split, never "
               "used for a choice) of the decoded file; \"validation error\" is on the images a run held out of its "
               "training set (`[data] validation`), on which it chose the weights it wrote (EMA or raw); \"—\": the "
               "run had no validation split and wrote its EMA weights.\n\n");

    section_pareto_set(f, &c);
    pareto_point *pts = NULL;
    int npts = pareto_points(rows, is_baseline, n, &pts);
    if (npts > 0) pareto_points_report(f, pts, npts);
    free(pts);
    section_fronts(f, &c);
    section_baseline(f, &c);
    section_paper(f, &c);
    section_runs(f, &c, rejected, n_rejected, pending, n_pending);
    free(c.sorted);
    int bad = ferror(f);
    if (fclose(f) || bad) {
        unlink(tmp);
        return cmn_fail(err, EPR_EIO, "%s: write error", tmp);
    }
    return fs_commit(tmp, path, err);
}
