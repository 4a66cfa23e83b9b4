/* run/experiment.c — see experiment.h. */
#include "run/experiment.h"

#include <stdio.h>
#include <string.h>

int experiment_groups(const cfg_experiment *cfg, epr_group_def *g) {
    for (int i = 0; i < cfg->n_groups; i++) {
        const cfg_group *c = &cfg->groups[i];
        memset(&g[i], 0, sizeof g[i]);
        snprintf(g[i].name, sizeof g[i].name, "%s", c->name);
        g[i].decoder = strcmp(c->decoder, "affine") ? EPR_DECODER_CONV_AFFINE : EPR_DECODER_AFFINE;
        /* config validated the name, so parsing cannot fail */
        if (epr_transform_parse(c->transform, &g[i].transform, NULL)) g[i].transform = EPR_TRANSFORM_IDENTITY;
        g[i].ell = c->ell;
        g[i].kh = c->kh;
        g[i].kw = c->kw;
        g[i].log_step = c->log_step;
        g[i].n_tensors = c->n_tensors;
        for (int j = 0; j < c->n_tensors; j++) g[i].tensors[j] = c->tensors[j];
    }
    return cfg->n_groups;
}
