/* run/run_load — a run file back in memory: the experiment rebuilt
 * from the text the run stores (its "; --set" override comments applied
 * again), the network with its EMA (or raw) parameters and batch-norm
 * statistics, and for EPR runs its parameter groups.  `epr compress` and
 * `epr baseline` go through here, so both see the network exactly as
 * training left it.
 * May call: config, experiment, h5run, bitstream, rp_model, nn. */
#ifndef EPR_HARNESS_RUN_LOAD_H
#define EPR_HARNESS_RUN_LOAD_H

#include "epr/epr_model.h"
#include "run/bitstream.h"
#include "run/config.h"
#include "run/h5run.h"

typedef struct {
    h5run *h;           /* the run file, open read-only */
    char *text;         /* the experiment text as stored (root attribute "experiment") */
    char *arch;         /* the architecture text as stored ("architecture") */
    int epr_enabled;    /* root attribute "epr_enabled" */
    cfg_experiment cfg; /* rebuilt from text (see run_load_open) */
    bitstream_arch a;   /* arch parsed */
    nn_model *net;      /* after run_load_model */
    rp_model *em;       /* after run_load_model: the run's groups (none for a plain run) */
} run_loaded;

/* Opens a run file and rebuilds its experiment: the stored text up to its
 * first "; --set " comment is what the user's file held, and each such
 * comment line is an override applied again, followed by extra[0..n_extra)
 * (e.g. "data.root=DIR").  *r is filled even on failure; release it with
 * run_load_close. */
int run_load_open(const char *path, const char *const *extra, int n_extra, run_loaded *r, epr_err *err);

/* Builds the network (batch 1: a parameter holder) and the groups the run
 * trained with (none for a plain run, as `epr train` does), then loads the
 * train block, the EMA of the network segment unless use_raw (a run
 * trained with [train] ema = 0 has none; one trained with an EMA but
 * without /model/ema is refused) and the batch-norm buffers. */
int run_load_model(run_loaded *r, int use_raw, epr_err *err);

void run_load_close(run_loaded *r);

#endif
