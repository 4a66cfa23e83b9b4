/* study/baseline — post-training baselines (docs/baselines.md): what a
 * user could do with a trained plain network instead of EPR, each measured
 * as a real file through the codec with the same byte counting, its test
 * error that of the network decoded from the file on disk.
 *
 *   float32       baseline_float32.epr       every tensor a raw float32 extra
 *   gzip          baseline_float32.epr.gz    that file through zlib, gzip wrapper, level 9
 *   xz            baseline_float32.epr.xz    that file through liblzma, preset 9e, CRC64
 *   uniformN      baseline_uniformN.epr      per group, N-bit uniform grid over [min, max]
 *   kmeansN       baseline_kmeansN.epr       per group, 1-D k-means codebook of 2^N entries
 *   uniformNt, kmeansNt                      the same per tensor: each grouped tensor is
 *                                            a group of the file
 *   prune-kmeans  baseline_prune-kmeans.epr  per group, the codebook a run trained with
 *                                            [baseline] prune / kmeans_bits left
 *
 * Groups are the experiment's [group.NAME] sections (the tensor sets EPR
 * compresses); tensors in no group and batch-norm running statistics are
 * float32 extras, exactly as bitstream_encode stores them.  Results go to
 * DIR/baselines.h5 (written atomically; methods computed before and not
 * recomputed are kept).  `epr baseline` and the end of `epr train` (plain
 * runs with [baseline] post) both call baseline_run.
 * May call: codec, nn, config, bitstream, run_load, data_sets, prune, h5run, fsutil,
 * zlib, liblzma. */
#ifndef EPR_HARNESS_BASELINE_H
#define EPR_HARNESS_BASELINE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "run/bitstream.h"
#include "run/config.h"
#include "run/dataset.h"
#include "nn/nn.h"

#define BASELINE_DEFAULT_METHODS "float32,gzip,xz,uniform8,uniform6,uniform4,uniform3,uniform2"
#define BASELINE_MAX_METHODS 64
#define BASELINE_NAME_LEN 32
#define BASELINE_H5 "baselines.h5"
#define BASELINE_KMEANS_ITERS 30
#define BASELINE_PRUNE_ONLY_BITS 5 /* prune-kmeans of a pruning-only run: 2^5 entries, 0 exact */

/* One method's outcome, as baselines.h5 records it under /methods/<method>. */
typedef struct {
    char method[BASELINE_NAME_LEN];
    char file[96];      /* file name inside the run directory */
    int64_t file_bytes; /* stat() of the file on disk */
    double test_error;  /* fraction, of the network decoded from the file */
    double seconds;     /* wall time to make, write, check and evaluate the file */
    char description[1024];
} baseline_result;

/* What baselines.h5 says about the run it came from. */
typedef struct {
    const char *experiment;        /* the experiment text as the run file stores it */
    long steps;                    /* training steps */
    double wall_seconds;           /* training wall time (the run's /final) */
    const bitstream_evaluator *ev; /* who evaluates the decoded files (NULL: the CPU) */
} baseline_source;

/* Splits a comma-separated method list (blanks allowed) into names,
 * dropping repeats; EPR_EARG names an unknown method.  max >= 1. */
int baseline_parse_methods(const char *list, char (*names)[BASELINE_NAME_LEN], int max, int *n, epr_err *err);

/* N-bit uniform quantisation of n values: b = min x, s = (max - min) /
 * (2^N - 1) (1 when max = min), phi = round((x - b) / s) clamped to
 * [0, 2^N - 1], so that s * phi + b is within s/2 of x (up to float32
 * rounding).  bits in 2..16; x finite. */
void baseline_uniform(const float *x, size_t n, int bits, int32_t *phi, float *s, float *b);

/* The .epr bytes of one method (float32, uniformN, kmeansN, prune-kmeans)
 * for the network's current parameters (*bytes malloc'd).  desc (cap
 * bytes) gets the one-line description, with any per-group note. */
int baseline_encode(nn_model *net, const cfg_experiment *cfg, const char *arch, const char *method, void **bytes,
                    size_t *len, char *desc, size_t cap, epr_err *err);

/* gzip (zlib, gzip wrapper, level 9) and xz (liblzma, preset 9 | extreme,
 * CRC64) of a buffer, and back; *out malloc'd. */
int baseline_gzip(const void *in, size_t n, void **out, size_t *out_n, epr_err *err);
int baseline_gunzip(const void *in, size_t n, void **out, size_t *out_n, epr_err *err);
int baseline_xz(const void *in, size_t n, void **out, size_t *out_n, epr_err *err);
int baseline_unxz(const void *in, size_t n, void **out, size_t *out_n, epr_err *err);

/* Every method of the comma-separated list for the network as it stands
 * (the run's final EMA weights): writes the files into dir, evaluates each
 * decoded file on test, prints progress and a table to log (may be NULL)
 * and merges the results into dir/baselines.h5.  arch: the architecture
 * text the run stores.  An existing baselines.h5 that cannot be read is an
 * error (naming it) and is left untouched. */
int baseline_run(nn_model *net, const cfg_experiment *cfg, const char *arch, dataset *test, const char *dir,
                 const char *methods, const baseline_source *src, FILE *log, epr_err *err);

/* The end of `epr train` (rank 0, after /final is written, with the EMA
 * weights in the network): baseline_run with [baseline] post for a plain
 * run; nothing when post is empty; a note (no error) for an EPR run. */
int baseline_after_training(nn_model *net, const cfg_experiment *cfg, const char *arch, dataset *test,
                            const bitstream_evaluator *ev, const char *dir, long steps, double wall_seconds, FILE *log,
                            epr_err *err);

/* `epr baseline RUN.h5`: rebuilds a finished plain run's network from its
 * run file (run_load.h: the EMA weights, as its /final), loads its test
 * set (data_root: overrides [data] root, may be NULL) and runs the methods
 * (NULL: the run's [baseline] post, else BASELINE_DEFAULT_METHODS) into
 * the run file's directory.  EPR runs and unfinished runs are EPR_EARG. */
int baseline_run_file(const char *run_path, const char *methods, const char *data_root, FILE *log, epr_err *err);

/* Reads dir/baselines.h5-style file path: its methods (malloc'd, *n) and
 * its experiment text (malloc'd; may be NULL to skip).  Every attribute is
 * checked; errors name the file. */
int baseline_h5_read(const char *path, baseline_result **res, int *n, char **experiment, epr_err *err);

#endif
