/* study/seeds.c — see seeds.h. */
#include "study/seeds.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* r belongs to point p: the same series, λ and steps, the same config_id
 * when both runs recorded one, and a seed p does not have yet. */
static int same_point(const pareto_point *p, const pareto_row *r) {
    if (strcmp(p->network, pareto_network(r)) || strcmp(p->data_set, r->data_set) || strcmp(p->method, r->method) ||
        strcmp(p->experiment, r->experiment) || (r->epr_enabled && p->lambda != r->lambda) || p->steps != r->steps ||
        strcmp(p->config_id, r->config_id))
        return 0;
    char s[32];
    snprintf(s, sizeof s, "%lld", (long long)r->seed);
    for (const char *q = p->seeds; (q = strstr(q, s)); q++)
        if ((q == p->seeds || q[-1] == ',') && (q[strlen(s)] == ',' || !q[strlen(s)])) return 0;
    return 1;
}

/* Mean and sample standard deviation (NaN for one value) of v[0..n). */
static void mean_std(const double *v, int n, double *mean, double *std) {
    double s = 0, q = 0;
    for (int i = 0; i < n; i++) s += v[i];
    *mean = s / n;
    for (int i = 0; i < n; i++) q += (v[i] - *mean) * (v[i] - *mean);
    *std = n > 1 ? sqrt(q / (n - 1)) : NAN;
}

static int on_no_front(const pareto_point *p) {
    return p->is_reference || !strcmp(p->method, "plain-pruned") || !strcmp(p->method, "plain");
}

static void mark_fronts(pareto_point *p, int np) {
    for (int i = 0; i < np; i++) {
        pareto_point *a = &p[i];
        a->is_front = !on_no_front(a) && isfinite(a->test_error_mean);
        for (int j = 0; j < np && a->is_front; j++) {
            const pareto_point *b = &p[j];
            if (j == i || on_no_front(b) || !isfinite(b->test_error_mean) || strcmp(a->network, b->network) ||
                strcmp(a->data_set, b->data_set) || strcmp(a->family, b->family))
                continue;
            const int le = b->size_bytes_mean <= a->size_bytes_mean && b->test_error_mean <= a->test_error_mean;
            const int strict = b->size_bytes_mean < a->size_bytes_mean || b->test_error_mean < a->test_error_mean;
            if (le && strict) a->is_front = 0;
        }
    }
}

int pareto_points(const pareto_row *rows, const int *is_baseline, int n, pareto_point **out) {
    *out = NULL;
    pareto_point *p = calloc((size_t)n + 1, sizeof *p);
    int *of = malloc(((size_t)n + 1) * sizeof *of); /* row -> point */
    double *e = malloc(((size_t)n + 1) * sizeof *e), *sz = malloc(((size_t)n + 1) * sizeof *sz),
           *ra = malloc(((size_t)n + 1) * sizeof *ra);
    if (!p || !of || !e || !sz || !ra) {
        free(p), free(of), free(e), free(sz), free(ra);
        return -1;
    }
    int np = 0;
    for (int i = 0; i < n; i++) {
        const pareto_row *r = &rows[i];
        int k = 0;
        while (k < np && !(same_point(&p[k], r) && p[k].is_reference == is_baseline[i])) k++;
        if (k == np) {
            pareto_point *q = &p[np++];
            snprintf(q->network, sizeof q->network, "%s", pareto_network(r));
            snprintf(q->model, sizeof q->model, "%s", r->model);
            snprintf(q->data_set, sizeof q->data_set, "%s", r->data_set);
            snprintf(q->method, sizeof q->method, "%s", r->method);
            pareto_method_family(r->method, q->family, sizeof q->family);
            snprintf(q->experiment, sizeof q->experiment, "%s", r->experiment);
            snprintf(q->config_id, sizeof q->config_id, "%s", r->config_id);
            q->lambda = r->epr_enabled ? r->lambda : 0; /* λ means nothing to a plain run */
            q->steps = r->steps;
            q->epr_enabled = r->epr_enabled;
            q->is_reference = is_baseline[i];
        }
        of[i] = k;
        pareto_point *q = &p[k];
        size_t l = strlen(q->seeds);
        if (l + 24 < sizeof q->seeds)
            snprintf(q->seeds + l, sizeof q->seeds - l, "%s%lld", l ? "," : "", (long long)r->seed);
        else if (!strstr(q->seeds, "…"))
            snprintf(q->seeds + l, sizeof q->seeds - l, ",…");
        l = strlen(q->runs);
        if (l + strlen(r->name) + 8 < sizeof q->runs)
            snprintf(q->runs + l, sizeof q->runs - l, "%s%s", l ? "," : "", r->name);
        else if (!strstr(q->runs, "…"))
            snprintf(q->runs + l, sizeof q->runs - l, ",…");
        q->n_seeds++;
    }
    for (int k = 0; k < np; k++) {
        int m = 0;
        for (int i = 0; i < n; i++)
            if (of[i] == k) e[m] = rows[i].test_error, sz[m] = (double)rows[i].size_bytes, ra[m++] = rows[i].ratio;
        double ignore;
        mean_std(e, m, &p[k].test_error_mean, &p[k].test_error_std);
        mean_std(sz, m, &p[k].size_bytes_mean, &p[k].size_bytes_std);
        mean_std(ra, m, &p[k].ratio_mean, &ignore);
    }
    free(of), free(e), free(sz), free(ra);
    mark_fronts(p, np);
    *out = p;
    return np;
}

void pareto_points_write(h5w *w, hid_t file, const pareto_point *rows, int n) {
    hid_t g = H5Gcreate2(file, "points", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0) {
        h5w_fail(w, "/points");
        return;
    }
    attr_i64(w, g, "n_points", n);
    attr_str(w, g, "rule",
             "one point per (network, data_set, method, experiment, lambda, steps): runs that differ only in seed; "
             "mean and sample standard deviation (NaN for one seed) of test_error and size_bytes; is_front: no point "
             "of the same network, data set and method family has a mean size <= and a mean error <=, one strictly");
    h5w_scratch sc;
    if (!h5w_scratch_init(w, &sc, n)) {
        COL_STR(network, "the network: its model, or a custom network's experiment name; a series is (network, "
                         "data_set, method)");
        COL_STR(model, "[model] name");
        COL_STR(data_set, "data set");
        COL_STR(method, "method (as /runs/method)");
        COL_STR(family, "method family (uniformN, kmeansN: all bit counts)");
        COL_STR(experiment, "experiment name");
        COL_STR(config_id, "the runs' fingerprint of every setting but the seed (\"\" for older run files)");
        COL_F64(lambda, "rate weight (0 for plain runs and baselines)");
        COL_I64(steps, "optimizer steps");
        COL_I8(epr_enabled, "1: EPR runs");
        COL_I8(is_reference, "1: the plain float32 reference runs");
        for (int i = 0; i < n; i++) sc.i64[i] = rows[i].n_seeds;
        column(w, g, "n_seeds", H5T_STD_I64LE, H5T_NATIVE_INT64, sc.i64, (hsize_t)n, "runs (seeds) in the point");
        COL_STR(seeds, "the seeds, comma-separated");
        COL_STR(runs, "the names of the point's runs (or RUN:METHOD for baselines.h5 methods), comma-separated");
        COL_F64(test_error_mean, "mean test error (fraction) over the seeds");
        COL_F64(test_error_std, "sample standard deviation of the test error (NaN for one seed)");
        COL_F64(size_bytes_mean, "mean file size in bytes over the seeds");
        COL_F64(size_bytes_std, "sample standard deviation of the size in bytes (NaN for one seed)");
        COL_F64(ratio_mean, "mean of float32 bytes / size");
        COL_I8(is_front, "1: on the front through the means of its (network, data set, method family)");
    }
    h5w_scratch_free(&sc);
    H5Gclose(g);
}

/* "12,345 ± 67 B" or "12,345 B" (one seed); thousands separated. */
static void bytes_pm(char *buf, size_t cap, double mean, double std) {
    char a[32];
    long long v = llround(mean);
    snprintf(a, sizeof a, "%lld", v);
    char t[48];
    int len = (int)strlen(a), o = 0;
    for (int i = 0; i < len; i++) {
        if (i && (len - i) % 3 == 0) t[o++] = ',';
        t[o++] = a[i];
    }
    t[o] = 0;
    if (isfinite(std))
        snprintf(buf, cap, "%s ± %.0f B", t, std);
    else
        snprintf(buf, cap, "%s B", t);
}

void pareto_points_report(FILE *f, const pareto_point *p, int n) {
    fprintf(f, "## Points over seeds\n\n");
    fprintf(f, "Runs that differ only in their seed (same network, data set, method, experiment, λ, steps) are one "
               "point (and the same config_id, the runs' fingerprint of every other setting): mean ± sample standard "
               "deviation of size and test error, and the number of seeds. The front "
               "(**yes**) is drawn through the means, per network, data set and method family. Sizes in bytes "
               "(KB = 1000 B).\n\n");
    for (int i = 0; i < n; i++) {
        int first = 1;
        for (int j = 0; j < i && first; j++) first = strcmp(p[j].data_set, p[i].data_set) != 0;
        if (!first) continue;
        fprintf(
            f,
            "### %s\n\n| network | method | λ | steps | seeds (n) | size | × float32 | test error | front | runs |\n"
            "|---|---|---|---|---|---|---|---|---|---|\n",
            p[i].data_set);
        for (int k = i; k < n; k++) {
            const pareto_point *q = &p[k];
            if (strcmp(q->data_set, p[i].data_set)) continue;
            char sz[64], err[48], lam[32];
            bytes_pm(sz, sizeof sz, q->size_bytes_mean, q->size_bytes_std);
            if (isfinite(q->test_error_std))
                snprintf(err, sizeof err, "%.2f ± %.2f%%", 100 * q->test_error_mean, 100 * q->test_error_std);
            else
                snprintf(err, sizeof err, "%.2f%%", 100 * q->test_error_mean);
            if (q->epr_enabled)
                snprintf(lam, sizeof lam, "%g", q->lambda);
            else
                snprintf(lam, sizeof lam, "—");
            fprintf(f, "| %s | %s%s | %s | %lld | %s (%d) | %s | %.0f× | %s | %s | %s |\n", q->network, q->method,
                    q->is_reference ? " (reference)" : "", lam, (long long)q->steps, q->seeds, q->n_seeds, sz,
                    q->ratio_mean, err, q->is_front ? "**yes**" : "", q->runs);
        }
        fputc('\n', f);
    }
}
