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

int experiment_check_groups(const cfg_experiment *cfg, const nn_model *net, epr_err *err) {
    for (int i = 0; i < cfg->n_groups; i++) {
        const cfg_group *g = &cfg->groups[i];
        if (strcmp(g->decoder, "conv-affine") || !strcmp(g->transform, "identity")) continue;
        const int line = g->ell_line ? g->ell_line : g->line;
        for (int j = 0; j < g->n_tensors; j++) {
            int ti = nn_model_find_tensor(net, g->tensors[j]);
            if (ti < 0) continue; /* epr_model_create names a missing tensor */
            const nn_param *p = nn_model_tensor((nn_model *)net, ti);
            RETURN_ERROR_IF(p->ndim != 4, err, EPR_EARG,
                            "%s:%d: [group.%s] ell: transform %s needs conv kernels, but %s has %d dimensions",
                            cfg->path, line, g->name, g->transform, g->tensors[j], p->ndim);
            const int kh = p->shape[2], kw = p->shape[3];
            RETURN_ERROR_IF(kh != g->kh || kw != g->kw, err, EPR_EARG,
                            "%s:%d: [group.%s] ell: ell = %d (kernel %dx%d) does not fit the %dx%d kernels of %s: "
                            "transform %s needs ell = %d%s",
                            cfg->path, line, g->name, g->ell, g->kh, g->kw, kh, kw, g->tensors[j], g->transform,
                            kh * kw, kh != kw ? " and kernel = HxW" : "");
        }
    }
    return EPR_OK;
}
