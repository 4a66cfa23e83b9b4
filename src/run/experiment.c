/* run/experiment.c — see experiment.h. */
#include "run/experiment.h"

#include <ctype.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int experiment_groups(const cfg_experiment *cfg, rp_group_def *g) {
    for (int i = 0; i < cfg->n_groups; i++) {
        const cfg_group *c = &cfg->groups[i];
        memset(&g[i], 0, sizeof g[i]);
        snprintf(g[i].name, sizeof g[i].name, "%s", c->name);
        g[i].decoder = strcmp(c->decoder, "affine") ? EPR_DECODER_CONV_AFFINE : EPR_DECODER_AFFINE;
        /* config validated the name, so parsing cannot fail */
        if (rp_transform_parse(c->transform, &g[i].transform, NULL)) g[i].transform = EPR_TRANSFORM_IDENTITY;
        g[i].ell = c->ell;
        g[i].kh = c->kh;
        g[i].kw = c->kw;
        g[i].log_step = c->log_step;
        g[i].n_tensors = c->n_tensors;
        for (int j = 0; j < c->n_tensors; j++) g[i].tensors[j] = c->tensors[j];
    }
    return cfg->n_groups;
}

static int experiment_is_pattern(const char *name) { return strpbrk(name, "*?[") != NULL; }

int experiment_has_patterns(const cfg_experiment *cfg) {
    for (int g = 0; g < cfg->n_groups; g++)
        for (int j = 0; j < cfg->groups[g].n_tensors; j++)
            if (experiment_is_pattern(cfg->groups[g].tensors[j])) return 1;
    return 0;
}

/* 1 if one of groups[0..n) names tensor explicitly. */
static int named_by(const cfg_group *groups, int n, const char *tensor) {
    for (int g = 0; g < n; g++)
        for (int j = 0; j < groups[g].n_tensors; j++)
            if (!experiment_is_pattern(groups[g].tensors[j]) && !strcmp(groups[g].tensors[j], tensor)) return 1;
    return 0;
}

/* The first pattern of group g that matches tensor, or NULL. */
static const char *pattern_of(const cfg_group *g, const char *tensor) {
    for (int j = 0; j < g->n_tensors; j++)
        if (experiment_is_pattern(g->tensors[j]) && fnmatch(g->tensors[j], tensor, 0) == 0) return g->tensors[j];
    return NULL;
}

int experiment_expand_patterns(cfg_experiment *cfg, nn_model *net, epr_err *err) {
    const int nt = nn_model_num_tensors(net);
    int rc = 0, ng = cfg->n_groups;
    /* the groups as written: every check looks at these, not at the groups already expanded */
    cfg_group *orig = malloc(((size_t)ng + 1) * sizeof *orig), *out = orig + ng;
    RETURN_ERROR_IF(!orig, err, EPR_ENOMEM, "out of memory");
    memcpy(orig, cfg->groups, (size_t)ng * sizeof *orig);
    for (int g = 0; g < ng && !rc; g++) {
        const cfg_group *G = &orig[g];
        int any = 0;
        for (int j = 0; j < G->n_tensors; j++) any |= experiment_is_pattern(G->tensors[j]);
        if (!any) continue;
        *out = *G;
        out->n_tensors = 0;
        for (int j = 0; j < G->n_tensors && !rc; j++) {
            const char *entry = G->tensors[j];
            if (!experiment_is_pattern(entry)) {
                if (out->n_tensors == CFG_MAX_TENSORS) break;
                /* the same fixed-size array as G->tensors[j] (snprintf here: a -Wrestrict false positive, as
                 * out and orig are one allocation) */
                memcpy(out->tensors[out->n_tensors++], G->tensors[j], sizeof out->tensors[0]);
                continue;
            }
            int matched = 0;
            for (int i = 0; i < nt && !rc; i++) {
                const char *name = nn_model_tensor(net, i)->name;
                if (fnmatch(entry, name, 0)) continue;
                matched = 1;
                if (named_by(orig, ng, name) || rp_model_name_matches(cfg->uncompressed, name)) continue;
                if (pattern_of(G, name) != entry) continue; /* an earlier pattern of this group took it */
                for (int h = 0; h < ng && !rc; h++)
                    if (h != g && pattern_of(&orig[h], name))
                        rc = cmn_fail(err, EPR_EARG,
                                      "%s:%d: [group.%s] tensors: tensor %s matches pattern '%s' here and '%s' of "
                                      "[group.%s] (line %d)",
                                      cfg->path, G->line, G->name, name, entry, pattern_of(&orig[h], name),
                                      orig[h].name, orig[h].line);
                if (rc) break;
                if (out->n_tensors == CFG_MAX_TENSORS) {
                    rc = cmn_fail(err, EPR_EARG, "%s:%d: [group.%s] tensors: more than %d tensors", cfg->path, G->line,
                                  G->name, CFG_MAX_TENSORS);
                    break;
                }
                snprintf(out->tensors[out->n_tensors++], sizeof out->tensors[0], "%s", name);
            }
            if (!rc && !matched)
                rc = cmn_fail(err, EPR_EARG, "%s:%d: [group.%s] tensors: pattern '%s' matches no tensor of the network",
                              cfg->path, G->line, G->name, entry);
        }
        if (!rc && out->n_tensors == 0)
            rc = cmn_fail(err, EPR_EARG,
                          "%s:%d: [group.%s] tensors: its patterns match only tensors of other groups or of [epr] "
                          "uncompressed",
                          cfg->path, G->line, G->name);
        if (!rc) cfg->groups[g] = *out;
    }
    free(orig);
    return rc;
}

/* The '\n'-separated piece of layers that holds layer entry `layer`
 * (1-based), counted as nn_model_build counts them: '#' comments removed,
 * entries split at ';' and newlines, blank ones skipped.  -1 if none. */
static int layer_piece(const char *layers, int layer) {
    char *text = strdup(layers);
    if (!text) return -1;
    for (char *p = text; *p; p++)
        if (*p == '#')
            while (*p && *p != '\n') *p++ = ' ';
    int entry = 0, piece = -1;
    char *save = NULL;
    for (char *e = strtok_r(text, ";\n", &save); e; e = strtok_r(NULL, ";\n", &save)) {
        const char *q = e;
        while (isspace((unsigned char)*q)) q++;
        if (!*q || ++entry < layer) continue;
        piece = 0;
        for (const char *p = layers; p < layers + (e - text); p++) piece += *p == '\n';
        break;
    }
    free(text);
    return piece;
}

int experiment_layers_error(const cfg_experiment *cfg, epr_err *err) {
    if (!err) return EPR_EARG;
    char msg[sizeof err->msg];
    memcpy(msg, err->msg, sizeof msg);
    int layer = 0, piece = -1;
    if (sscanf(msg, "layer %d", &layer) == 1 && cfg->layers) piece = layer_piece(cfg->layers, layer);
    if (strcmp(cfg->model_name, "custom"))
        snprintf(err->msg, sizeof err->msg, "%.120s: [model] name = %.30s (built-in network): %.320s", cfg->path,
                 cfg->model_name, msg);
    else if (!cfg->n_layer_lines)
        snprintf(err->msg, sizeof err->msg, "%.120s: --set model.layers: %.330s", cfg->path, msg);
    else
        snprintf(err->msg, sizeof err->msg, "%.120s:%d: [model] layers: %.330s", cfg->path,
                 cfg->layer_lines[piece >= 0 && piece < cfg->n_layer_lines ? piece : 0], msg);
    return err->code ? err->code : EPR_EARG;
}

int experiment_check_groups(const cfg_experiment *cfg, const nn_model *net, epr_err *err) {
    for (int i = 0; i < cfg->n_groups; i++) {
        const cfg_group *g = &cfg->groups[i];
        if (strcmp(g->decoder, "conv-affine") || !strcmp(g->transform, "identity")) continue;
        const int line = g->ell_line ? g->ell_line : g->line;
        for (int j = 0; j < g->n_tensors; j++) {
            int ti = nn_model_find_tensor(net, g->tensors[j]);
            if (ti < 0) continue; /* rp_model_create names a missing tensor */
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
