/* run/compress — `epr compress RUN.h5 -o MODEL.epr`: rebuild a run's
 * network and groups from the experiment text stored in its run file (a
 * finished run or any checkpoint), load its EMA (or raw) parameters and
 * write the bitstream.  May call: run_load, bitstream, fsutil. */
#ifndef EPR_HARNESS_COMPRESS_H
#define EPR_HARNESS_COMPRESS_H

#include <stdio.h>

#include "common/status.h"

int compress_run(const char *run_path, const char *out_path, int use_raw, FILE *report, epr_err *err);

#endif
