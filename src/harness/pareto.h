/* harness/pareto — `epr pareto`: collect the run files of a sweep
 * directory, mark the Pareto set, write DIR/sweep.h5 and DIR/report.md.
 *
 * Owns: reading the /final summary of a run file (schema_version 1, see
 * DESIGN.md §4 and train.c), the Pareto rule, the sweep.h5 layout, the
 * report, and the paper's Table 1 figures (DESIGN.md §6).
 * May call: libc, POSIX, HDF5 (serial), harness/h5run, harness/fsutil.
 *
 * Pareto rule: a run is on the front when no other run on the same data set
 * is at most as large AND at most as wrong, one of the two strictly.  Only
 * runs with EPR enabled are candidates; plain float32 runs are baselines.
 *
 * sweep.h5 (h5py-readable; strings are variable-length UTF-8):
 *   /                 attrs schema_version=1, kind="epr sweep", code_version,
 *                     directory, n_runs, baseline_run ("" if none),
 *                     baseline_test_error, baseline_size_bytes, pareto_rule
 *   /runs/<column>    1-D, one element per run, sorted by data set, model,
 *                     experiment, lambda, seed, name; columns: name,
 *                     experiment, model, data_set, run_file, bitstream
 *                     (strings, paths relative to the directory), lambda,
 *                     test_error, test_error_raw, bits_per_param, ratio,
 *                     wall_seconds, rate_exact_bits (float64), seed, size_bytes,
 *                     float32_bytes, n_params, n_compressed, steps, world_size
 *                     (int64), epr_enabled, is_pareto (int8); each with a
 *                     "description" attribute
 *   /links/<name>     external link to <name>/run.h5, object "/" (relative,
 *                     so the directory can be moved as a whole) */
#ifndef EPR_HARNESS_PARETO_H
#define EPR_HARNESS_PARETO_H

#include <stdint.h>
#include <stdio.h>

#include "common/status.h"

typedef struct {
    char name[256];            /* run directory name (or file stem) */
    char run_file[1400];       /* path as read */
    char rel_file[512];        /* relative to the sweep directory */
    char experiment[128], model[64], data_set[32];
    int epr_enabled;
    double lambda;
    int64_t seed, steps, world_size;
    int64_t size_bytes, float32_bytes, n_params, n_compressed;
    double test_error, test_error_raw, wall_seconds, rate_exact_bits;
    double bits_per_param, ratio;
    char bitstream[512];       /* relative to the sweep directory, "" for plain runs */
    int is_pareto;
} pareto_row;

/* Reads one complete run file.  EPR_EUNSUP (with a message) when it has no
 * /final group (an unfinished run); EPR_EFORMAT/EPR_EIO naming the file and
 * the attribute for anything malformed. */
int pareto_read_run(const char *path, pareto_row *r, epr_err *err);

/* Sets is_pareto on every row (rule above). */
void pareto_mark(pareto_row *rows, int n);

/* Paper, Table 1, for a model name (e.g. "lenet300-100"); NULL if absent. */
typedef struct {
    const char *model, *label;
    double uncompressed_bytes, uncompressed_error; /* error in percent */
    double epr_bytes, epr_error, ratio;
    const char *note;
} pareto_paper_row;
const pareto_paper_row *pareto_paper_lookup(const char *model);

typedef struct {
    const char *dir;           /* sweep directory (DIR/ * /run.h5) */
    const char *baseline;      /* optional baseline run file */
    const char *h5_out;        /* default DIR/sweep.h5 */
    const char *report_out;    /* default DIR/report.md */
    FILE *log;                 /* summary (stdout), NULL = quiet */
} pareto_opts;

/* Collects, marks, writes both files.  0 if every run file found was
 * complete and well-formed; 1 if some were rejected (the outputs are still
 * written from the others, and the report lists the rejected ones); a
 * negative EPR_E* code when nothing could be written. */
int pareto_run(const pareto_opts *o, epr_err *err);

#endif
