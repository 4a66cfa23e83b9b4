/* study/pareto_front.c — the methods and the Pareto rules of `epr pareto`:
 * a method's family, the network of a series, domination within one
 * (network, data set), the three fronts (pareto_mark), the row order and the
 * families of a table.  May call: libc, libm, run/config (the baseline
 * method names). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "run/config.h"
#include "study/pareto_internal.h"

void pareto_method_family(const char *method, char *buf, size_t cap) {
    /* a method name epr baseline accepts (config's check): uniform6 -> uniformN, uniform6t -> uniformNt */
    int u = !strncmp(method, "uniform", 7), k = !strncmp(method, "kmeans", 6);
    if ((u || k) && cfg_baseline_method_ok(method)) {
        snprintf(buf, cap, "%sN%s", u ? "uniform" : "kmeans", method[strlen(method) - 1] == 't' ? "t" : "");
        return;
    }
    snprintf(buf, cap, "%s", method);
}

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
            if (j == i || off_front(b) || !same_series_space(a, b) || !isfinite(b->test_error) || !dominates(b, a))
                continue;
            a->is_overall_front = 0;
            if (b->epr_enabled && a->epr_enabled) a->is_pareto = 0;
            char fb[32];
            pareto_method_family(b->method, fb, sizeof fb);
            if (!strcmp(fa, fb)) a->is_method_front = 0;
        }
    }
}

int pareto_row_cmp(const void *pa, const void *pb) {
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
    static const char *ORDER[] = {"float32",   "gzip",    "xz",       "uniformN",
                                  "uniformNt", "kmeansN", "kmeansNt", "prune-kmeans"};
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

int pareto_collect_families(const pareto_row *rows, int n, const char *set, char fams[64][32], const char *famp[64]) {
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
