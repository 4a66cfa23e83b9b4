/* run/config_id.c — cfg_fingerprint (config.h): the values of the key
 * table, hashed. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "run/config.h"
#include "run/config_internal.h"

static uint64_t fnv(uint64_t h, const char *s) {
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
    return h;
}

uint64_t cfg_fingerprint(const cfg_experiment *cfg) {
    static const char *const SKIP[] = {
        "data.root",     "train.seed",   "train.log_every", "train.eval_every", "train.checkpoint_every",
        "train.threads", "train.device", "train.file_eval", "baseline.post"};
    static const char *const LATE[] = {"train.bn_recalibrate"};
    uint64_t h = 0xcbf29ce484222325ULL;
    const char *base = (const char *)cfg;
    char v[1200];
    for (int i = 0; i < CFG_N_KEYS; i++) {
        const key_def *k = &CFG_KEYS[i];
        char name[64];
        snprintf(name, sizeof name, "%s.%s", k->section, k->key);
        int skip = 0;
        for (size_t j = 0; j < sizeof SKIP / sizeof SKIP[0]; j++) skip |= !strcmp(name, SKIP[j]);
        if (skip || k->type == K_TEXT) continue;
        const void *p = base + k->offset;
        switch (k->type) {
        case K_STR: snprintf(v, sizeof v, "%s", (const char *)p); break;
        case K_INT:
        case K_BOOL: snprintf(v, sizeof v, "%d", *(const int *)p); break;
        case K_LONG: snprintf(v, sizeof v, "%ld", *(const long *)p); break;
        case K_U64: snprintf(v, sizeof v, "%llu", (unsigned long long)*(const uint64_t *)p); break;
        case K_FLOAT: snprintf(v, sizeof v, "%.9g", *(const float *)p); break;
        case K_DOUBLE: snprintf(v, sizeof v, "%.17g", *(const double *)p); break;
        case K_LIST_LONG: {
            size_t o = 0;
            v[0] = 0;
            for (int m = 0; m < cfg->n_milestones && o < sizeof v; m++)
                o += (size_t)snprintf(v + o, sizeof v - o, "%ld,", cfg->lr_milestones[m]);
            break;
        }
        case K_TEXT: break;
        }
        /* keys added later count only when set away from their default, so
         * that the runs made before them keep their fingerprint */
        int late = 0;
        for (size_t j = 0; j < sizeof LATE / sizeof LATE[0]; j++) late |= !strcmp(name, LATE[j]);
        if (late && !strcmp(v, k->def)) continue;
        h = fnv(fnv(fnv(h, name), "="), v);
        h = fnv(h, "\n");
    }
    h = fnv(fnv(h, "layers="), cfg->layers ? cfg->layers : "");
    for (int g = 0; g < cfg->n_groups; g++) {
        const cfg_group *gr = &cfg->groups[g];
        snprintf(v, sizeof v, "\n[group.%s] %s %s %d %dx%d %.9g", gr->name, gr->decoder, gr->transform, gr->ell, gr->kh,
                 gr->kw, gr->log_step);
        h = fnv(h, v);
        for (int t = 0; t < gr->n_tensors; t++) h = fnv(fnv(h, " "), gr->tensors[t]);
    }
    return h;
}
