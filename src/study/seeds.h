/* study/seeds — the points of a sweep over seeds: runs (and baselines.h5
 * methods) that differ only in their seed are one point, with the mean and
 * the standard deviation of their test error and size; the fronts drawn
 * through the means.  `epr pareto` writes them to sweep.h5 /points and to
 * the report; analysis/plot_pareto.py draws them.
 *
 * "Differ only in seed": the same network (pareto_network: the model, or a
 * custom network's experiment name), data set, method, experiment, λ,
 * steps and config_id (the run's fingerprint of every setting but the
 * seed, run/config.h cfg_fingerprint; "" in older run files), and no seed
 * twice (a second run with a seed already there starts its own point).  Standard deviations are the sample's (n − 1), NaN for one seed.
 * is_front: no other point of the same (network, data set, method family)
 * has a mean size ≤ and a mean error ≤, one strictly; the plain reference
 * runs and plain-pruned runs are on no front.
 * May call: study/pareto (rows), study/h5w, libc, libm. */
#ifndef EPR_STUDY_SEEDS_H
#define EPR_STUDY_SEEDS_H

#include <stdint.h>
#include <stdio.h>

#include "study/h5w.h"
#include "study/pareto.h"

typedef struct {
    char network[256], model[64], data_set[32], method[32], family[32], experiment[128];
    char config_id[20]; /* of its runs ("" for run files before config_id) */
    double lambda;
    int64_t steps;
    int epr_enabled, is_reference; /* is_reference: plain float32 runs (the baseline) */
    int n_seeds;
    char seeds[160]; /* the seeds, comma-separated ("…" when too many to list) */
    char runs[512];  /* the points' names (runs, or RUN:METHOD), likewise */
    double test_error_mean, test_error_std, size_bytes_mean, size_bytes_std, ratio_mean;
    int is_front;
} pareto_point;

/* The points of rows[0..n) (is_baseline[i]: row i is a plain reference
 * run), in the order of their first row; *out is malloc'd.  Returns the
 * count, or -1 when out of memory. */
int pareto_points(const pareto_row *rows, const int *is_baseline, int n, pareto_point **out);

/* sweep.h5 /points: one column per field above, each with a description. */
void pareto_points_write(h5w *w, hid_t file, const pareto_point *points, int n);

/* The report's "Points over seeds" section: per data set a table of every
 * point (mean ± std of size and error, the number of seeds, the front). */
void pareto_points_report(FILE *f, const pareto_point *points, int n);

#endif
