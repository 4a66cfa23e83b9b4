/* study/pareto_internal.h — what the pieces of `epr pareto` share (private
 * to the study layer): the point predicates, the row order, the method
 * families of a table, and the two writers the driver calls.
 *
 * pareto.c (driver: collect the run files, mark, write) calls
 * pareto_read.c (run files and baselines.h5), pareto_front.c (methods and
 * the Pareto rules), pareto_h5.c (sweep.h5) and pareto_report.c (report.md). */
#ifndef EPR_STUDY_PARETO_INTERNAL_H
#define EPR_STUDY_PARETO_INTERNAL_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "study/pareto.h"

#ifndef EPR_VERSION
#define EPR_VERSION "unknown"
#endif

/* snprintf that may truncate on purpose (names and paths are bounded). */
static inline void sfmt(char *dst, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static inline void sfmt(char *dst, size_t cap, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, cap, fmt, ap);
    va_end(ap);
}

static inline int is_reference(const pareto_row *r) {
    return !r->epr_enabled && (!r->method[0] || !strcmp(r->method, "plain"));
}
/* Runs whose own point is 4 bytes per parameter: the reference, and the
 * float32 weights of a pruned / clustered training run (its file is the
 * prune-kmeans point of its baselines.h5).  On no front. */
static inline int off_front(const pareto_row *r) { return is_reference(r) || !strcmp(r->method, "plain-pruned"); }
/* A point of a baselines.h5 file (not a run of its own). */
static inline int is_file_point(const pareto_row *r) { return r->source_run[0] && strcmp(r->source_run, r->name); }

/* Order of the rows of sweep.h5 and the report: data set, model,
 * experiment, epr_enabled, lambda, seed, name (a qsort comparator). */
int pareto_row_cmp(const void *pa, const void *pb);

/* The distinct method families of ROWS (with SET: only the rows of that data
 * set that are on a front, see off_front), at most 64, in the report's order
 * (EPR ones first, then the baselines from the least to the most elaborate):
 * their names go to FAMS, FAMP[i] points at each.  Returns their count. */
int pareto_collect_families(const pareto_row *rows, int n, const char *set, char fams[64][32], const char *famp[64]);

/* DIR/sweep.h5 (layout in pareto.h), written atomically to PATH; link_target[i]:
 * the external link of row i (NULL: none); baseline_desc: the plain runs'
 * names, comma-separated. */
int pareto_write_sweep_h5(const char *path, const char *dir, const pareto_row *rows, const int *is_baseline,
                          const char **link_target, int n, const char *baseline_desc, epr_err *err);

/* DIR/report.md, written atomically to PATH; h5_path is named in it; the
 * rejected and pending (unfinished) files are listed. */
int pareto_write_report(const char *path, const char *dir, const char *h5_path, const pareto_row *rows,
                        const int *is_baseline, int n, char **rejected, int n_rejected, char **pending, int n_pending,
                        epr_err *err);

#endif
