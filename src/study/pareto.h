/* study/pareto — `epr pareto`: collect the run files of a sweep
 * directory and the baseline files beside them, mark the Pareto fronts,
 * write DIR/sweep.h5 and DIR/report.md.
 *
 * Owns: reading the /final summary of a run file (schema_version 1, see
 * DESIGN.md §4 and train.c), reading a run's baselines.h5 sidecar (issue 8,
 * `epr baseline`), the method of every point, the Pareto rules, the sweep.h5
 * layout, the report, and the paper's Table 1 figures (DESIGN.md §6).
 * May call: libc, POSIX, HDF5 (serial), harness/h5run, harness/fsutil.
 *
 * Points and methods.  Every finished run file is a point; so is every
 * method of its baselines.h5.  A point's method is
 *   epr-sq        EPR run whose groups all use transform identity
 *   epr-dft       EPR run with a group of transform dft (epr-ro for
 *                 random-orthogonal, epr-learned for learned; several
 *                 different ones join with '+', e.g. epr-dft+learned)
 *   plain         plain float32 run (epr disabled): the reference
 *   <name>        a baselines.h5 method: float32, gzip, xz, uniformN,
 *                 kmeansN, prune-kmeans (as named in the file)
 * a run's being its run file's "method" attribute (run/run_info.h, which
 * also derives it for run files written before the attribute).  A
 * method's family is the method with the bit count of uniformN / kmeansN
 * dropped ("uniformN", "kmeansN"), as EPR's λ is dropped from epr-sq: the
 * fronts per method below are per family.
 *
 * Pareto rules (all within one network and data set, see pareto_network; a
 * point with a non-finite error is
 * on no front and dominates nothing; "dominates" = at most as large and at
 * most as wrong, one of them strictly):
 *   is_pareto         EPR points only, against the other EPR points (the
 *                     rule of schema 1: plain runs are baselines, never on it)
 *   is_method_front   against the points of the same method family
 *   is_overall_front  against every point except the plain reference runs
 *
 * sweep.h5 (h5py-readable; strings are variable-length UTF-8):
 *   /                 attrs schema_version=2, kind="epr sweep", code_version,
 *                     directory, n_runs (rows of /runs), n_run_files,
 *                     methods (comma-separated families present),
 *                     baseline_run ("" if none), baseline_test_error,
 *                     baseline_size_bytes, pareto_rule, front_rule
 *   /runs/<column>    1-D, one element per point, sorted by data set, model,
 *                     experiment, epr_enabled, lambda, seed, name; columns:
 *                     name, experiment, model, data_set, method, source_run,
 *                     run_file, bitstream (strings, paths relative to the
 *                     directory), lambda, test_error, test_error_raw,
 *                     bits_per_param, ratio, wall_seconds, post_seconds,
 *                     rate_exact_bits (float64), seed, size_bytes,
 *                     float32_bytes, n_params, n_compressed, steps,
 *                     world_size (int64), epr_enabled, is_pareto,
 *                     is_method_front, is_overall_front, is_baseline (int8);
 *                     each with a "description" attribute
 *   /links/<name>     for each run (not for baseline-file points): external
 *                     link to <name>/run.h5, object "/" (relative, so the
 *                     directory can be moved as a whole)
 *
 * baselines.h5 (written by `epr baseline` beside a plain run's run.h5):
 *   /                 attrs source (= "run.h5"), steps, float32_bytes,
 *                     n_params (int64), wall_seconds (float64), experiment
 *                     (text)
 *   /methods/<name>   one group (or dataset) per method with attrs method
 *                     (= <name>), file (a file name in the run directory),
 *                     file_bytes (int64, = the file's size on disk),
 *                     test_error (float64, fraction), seconds (float64),
 *                     description (text) */
#ifndef EPR_HARNESS_PARETO_H
#define EPR_HARNESS_PARETO_H

#include <stdint.h>
#include <stdio.h>

#include "common/status.h"

typedef struct {
    char name[256];      /* run directory name (or file stem) */
    char run_file[1400]; /* path as read */
    char rel_file[512];  /* relative to the sweep directory */
    char experiment[128], model[64], data_set[32];
    int epr_enabled;
    double lambda;
    int64_t seed, steps, world_size;
    int64_t size_bytes, float32_bytes, n_params, n_compressed;
    double test_error, test_error_raw, wall_seconds, rate_exact_bits;
    double validation_error; /* /final validation_error of the written weights; NaN without a validation split */
    int64_t n_validation;    /* images held out of the training set (0: none or an older run file) */
    double bits_per_param, ratio;
    char bitstream[512];  /* relative to the sweep directory, "" for plain runs */
    char method[32];      /* epr-sq, epr-dft, ..., plain, or a baselines.h5 method */
    char config_id[20];   /* the run's config_id ("" for run files before it): equal = differ only in seed */
    char source_run[256]; /* the run the point comes from (its own name for runs) */
    double post_seconds;  /* baselines.h5 method: its own seconds after training; 0 for runs */
    int is_pareto, is_method_front, is_overall_front;
} pareto_row;

/* Reads one complete run file.  EPR_EUNSUP (with a message) when it has no
 * /final group (an unfinished run); EPR_EFORMAT/EPR_EIO naming the file and
 * the attribute for anything malformed. */
int pareto_read_run(const char *path, pareto_row *r, epr_err *err);

/* A method's family ("uniform6" -> "uniformN", "kmeans3" -> "kmeansN",
 * anything else itself) into buf. */
void pareto_method_family(const char *method, char *buf, size_t cap);

/* The points of baselines.h5 beside a run: reads `path` (normally
 * <run dir>/baselines.h5) for the run `run` (a row from pareto_read_run,
 * whose name, rel_file... are copied).  Returns 0 with b->rows[0..n) (one
 * per good method, name "<run>:<method>", bitstream "<run dir
 * relative>/<file>", method, size_bytes = file_bytes, ...) and
 * b->rejected[0..n_rejected) (one message per malformed method, naming the
 * file and the method); or an EPR_E* code with a message naming the file
 * when the file as a whole is malformed (not HDF5, a missing or bad root
 * attribute, sizes that are not the run's, no /methods group).  Every
 * method's file must exist in the run directory with file_bytes bytes.
 * run_dir_rel: the run directory relative to the sweep directory (prefix of
 * bitstream); may be NULL (then the file name alone). */
typedef struct {
    pareto_row *rows;
    int n;
    char **rejected;
    int n_rejected;
} pareto_baselines;
int pareto_read_baselines(const char *path, const pareto_row *run, const char *run_dir_rel, pareto_baselines *b,
                          epr_err *err);
void pareto_baselines_free(pareto_baselines *b);

/* The network a point belongs to: its model, or for model "custom" its
 * experiment's name.  A series is (network, data set, method). */
const char *pareto_network(const pareto_row *r);

/* Sets is_pareto, is_method_front and is_overall_front on every row (rules
 * above, each within one network and data set; a row whose method is
 * "plain" is the reference: on no front). */
void pareto_mark(pareto_row *rows, int n);

typedef struct {
    const char *dir;        /* sweep directory (DIR/ * /run.h5) */
    const char *baseline;   /* optional baseline run file */
    const char *h5_out;     /* default DIR/sweep.h5 */
    const char *report_out; /* default DIR/report.md */
    FILE *log;              /* summary (stdout), NULL = quiet */
} pareto_opts;

/* Collects, marks, writes both files.  0 if every run file and baselines.h5
 * found was complete and well-formed; 1 if some were rejected (the outputs
 * are still written from the others, and the report lists the rejected
 * ones); a negative EPR_E* code when nothing could be written. */
int pareto_run(const pareto_opts *o, epr_err *err);

#endif
