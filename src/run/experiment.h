/* run/experiment — what an experiment's configuration means to the
 * layers below: its [group.NAME] sections as epr group definitions.
 * May call: config, epr_model. */
#ifndef EPR_HARNESS_EXPERIMENT_H
#define EPR_HARNESS_EXPERIMENT_H

#include "epr/epr_model.h"
#include "run/config.h"

/* Fills g[0..cfg->n_groups) (tensor names point into cfg) and returns
 * the number of groups, whether or not [epr] enabled is set. */
int experiment_groups(const cfg_experiment *cfg, epr_group_def *g);

#endif
