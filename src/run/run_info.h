/* run/run_info — what a study needs to know about a run, recorded by the
 * run itself (root attributes of its run file, see h5run.h "Study
 * attributes"), so that no study re-parses the stored experiment text.
 *
 * method: the series a run belongs to, from its configuration:
 *   plain          a float32 run ([epr] enabled = false)
 *   plain-pruned   a plain run with [baseline] prune or kmeans_bits
 *                  (the Deep Compression baseline)
 *   epr-sq         an EPR run whose groups all use the identity transform
 *   epr-T[+T...]   an EPR run using the transforms T (dft, ro =
 *                  random-orthogonal, learned, in that order)
 * May call: config, dataset, h5run, run_load (older run files). */
#ifndef EPR_RUN_RUN_INFO_H
#define EPR_RUN_RUN_INFO_H

#include <stddef.h>

#include "run/config.h"
#include "run/dataset.h"
#include "run/h5run.h"
#include "run/schedule.h"

#define RUN_INFO_MAX_ATTRS 14

typedef struct {
    char method[96];
    char group_names[1100];     /* comma-separated, in [group.NAME] order ("" for a run without groups) */
    char group_decoders[600];   /* the decoder of each group, same order */
    char group_transforms[600]; /* the transform of each group, same order */
    double prune;               /* [baseline] prune (0: none) */
    long kmeans_bits;           /* [baseline] kmeans_bits (0: none) */
    char data_train[2200];      /* the training split's files, comma-separated */
    char data_test[2200];       /* the test split's files */
    long n_train, n_test;       /* and their sizes */
    long n_validation;          /* [data] validation: images held out of the training files (0: none;
                                    run_info_fill leaves it 0, the trainer sets it) */
    char schedule[512];         /* lr, λ and frozen-φ schedule in words (schedule_describe) */
    char config_id[20];         /* cfg_fingerprint in 16 hex digits: equal = the runs differ at most in seed */
} run_info;

/* The method of a configuration (see above) into buf[cap]. */
void run_method(const cfg_experiment *cfg, char *buf, size_t cap);

/* Fills *info from a configuration and the data sets it trains on. */
void run_info_fill(const cfg_experiment *cfg, const dataset *train, const dataset *test, run_info *info);

/* The root attributes of *info (pointing into it) into a[0..RUN_INFO_MAX_ATTRS);
 * returns how many. */
int run_info_attrs(const run_info *info, h5run_attr *a);

/* The method of an open run file: its "method" attribute, or for a file
 * written before the study attributes existed (schema_version 1 without
 * "method"), the method of its experiment rebuilt as run_load_open does. */
int run_info_method(h5run *h, const char *path, char *buf, size_t cap, epr_err *err);

#endif
