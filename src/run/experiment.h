/* run/experiment — what an experiment's configuration means to the
 * layers below: its [group.NAME] sections as epr group definitions.
 * May call: config, epr_model, nn. */
#ifndef EPR_HARNESS_EXPERIMENT_H
#define EPR_HARNESS_EXPERIMENT_H

#include "epr/epr_model.h"
#include "run/config.h"

/* Fills g[0..cfg->n_groups) (tensor names point into cfg) and returns
 * the number of groups, whether or not [epr] enabled is set. */
int experiment_groups(const cfg_experiment *cfg, epr_group_def *g);

/* Every conv-affine group with a transform (dft, random-orthogonal,
 * learned) against the network: each of its tensors must be a conv kernel
 * of kh x kw = ell (a row of the group is one kernel).  The error names the
 * experiment file, the line of the group's ell key (else of its section)
 * and the key. */
int experiment_check_groups(const cfg_experiment *cfg, const nn_model *net, epr_err *err);

#endif
