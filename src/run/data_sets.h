/* run/data_sets — resolves the [data] section of an experiment to the
 * files of a data set and loads train and test splits.
 * May call: dataset, config, libc. */
#ifndef EPR_HARNESS_DATA_SETS_H
#define EPR_HARNESS_DATA_SETS_H

#include "run/config.h"
#include "run/dataset.h"

int data_load_experiment(const cfg_experiment *cfg, dataset *train, dataset *test, epr_err *err);

/* The validation split's seed: fixed, not [train] seed, so that every run
 * of an experiment (all λ and seeds of a sweep) holds out the same images. */
#define DATA_VALIDATION_SEED 0x76616c6964ULL /* "valid" */

/* [data] validation for a training set of n samples: 0 (none), the count,
 * or round(fraction * n). */
int data_validation_count(const cfg_experiment *cfg, int n);

/* As data_load_experiment, and with [data] validation the held-out images
 * (dataset_split with DATA_VALIDATION_SEED, before the normalisation
 * statistics are taken from what remains for training) into *val; *val
 * is empty (n = 0) without it. */
int data_load_experiment_val(const cfg_experiment *cfg, dataset *train, dataset *val, dataset *test, epr_err *err);

#endif
