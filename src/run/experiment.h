/* run/experiment — what an experiment's configuration means to the
 * layers below: its [group.NAME] sections as epr group definitions (their
 * tensor patterns expanded against the network), and nn's layer errors
 * mapped back to the lines of [model] layers, and the groups' transforms
 * checked against the kernels they code.
 * May call: config, rp_model, nn, libc (fnmatch). */
#ifndef EPR_HARNESS_EXPERIMENT_H
#define EPR_HARNESS_EXPERIMENT_H

#include "epr/epr_model.h"
#include "run/config.h"

/* Fills g[0..cfg->n_groups) (tensor names point into cfg) and returns
 * the number of groups, whether or not [epr] enabled is set. */
int experiment_groups(const cfg_experiment *cfg, rp_group_def *g);

/* 1 if a group's tensor list holds a pattern (an entry with *, ? or [). */
int experiment_has_patterns(const cfg_experiment *cfg);

/* The groups' tensor patterns (e.g. fc*.bias), as [epr] uncompressed takes
 * them, replaced in place by the network's tensors they match, in network
 * order.  A tensor a group names explicitly, or one [epr] uncompressed
 * matches, is left to that; one matched by patterns of two groups, a
 * pattern that matches nothing, or more than CFG_MAX_TENSORS in a group is
 * an error naming the file, the section's line and the pattern. */
int experiment_expand_patterns(cfg_experiment *cfg, nn_model *net, epr_err *err);

/* After nn_model_build(cfg->layers, ...) failed with err: the message
 * ("layer N (type): ...", the nn layer knows no files) gets where layer N
 * is written: "FILE:LINE: [model] layers: layer N ...", or the built-in
 * network / the --set it came from (cfg->layer_lines).  Returns err->code. */
int experiment_layers_error(const cfg_experiment *cfg, epr_err *err);
/* Every conv-affine group with a transform (dft, random-orthogonal,
 * learned) against the network: each of its tensors must be a conv kernel
 * of kh x kw = ell (a row of the group is one kernel).  The error names the
 * experiment file, the line of the group's ell key (else of its section)
 * and the key. */
int experiment_check_groups(const cfg_experiment *cfg, const nn_model *net, epr_err *err);

#endif
