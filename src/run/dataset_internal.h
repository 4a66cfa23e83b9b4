/* run/dataset_internal.h — what the loaders of dataset.c and dataset_pack.c
 * share; private to the run layer. */
#ifndef EPR_RUN_DATASET_INTERNAL_H
#define EPR_RUN_DATASET_INTERNAL_H

#include "run/dataset.h"

/* d->files = copies of files[0..nfiles) (the names a data set came from). */
int dataset_files_copy(dataset *d, const char **files, int nfiles, epr_err *err);
/* No normalisation: mean 0, std 1 in every channel. */
void dataset_norm_default(dataset *d);

#endif
