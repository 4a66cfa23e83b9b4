/* run/data_sets — resolves the [data] section of an experiment to the
 * files of a data set and loads train and test splits.
 * May call: dataset, config, libc. */
#ifndef EPR_HARNESS_DATA_SETS_H
#define EPR_HARNESS_DATA_SETS_H

#include "run/config.h"
#include "run/dataset.h"

int data_load_experiment(const cfg_experiment *cfg, dataset *train, dataset *test, epr_err *err);

#endif
