/* run/run_info.c — see run_info.h. */
#include "run/run_info.h"

#include <stdio.h>
#include <string.h>

#include "run/run_load.h"

void run_method(const cfg_experiment *cfg, char *buf, size_t cap) {
    if (!cfg->epr_enabled) {
        snprintf(buf, cap, "%s", cfg->prune > 0 || cfg->kmeans_bits ? "plain-pruned" : "plain");
        return;
    }
    static const struct {
        const char *transform, *tag;
    } KNOWN[] = {{"dft", "dft"}, {"random-orthogonal", "ro"}, {"learned", "learned"}};
    char out[96] = "epr";
    int any = 0;
    for (size_t k = 0; k < sizeof KNOWN / sizeof KNOWN[0]; k++) { /* the known ones, in a fixed order */
        int used = 0;
        for (int g = 0; g < cfg->n_groups; g++) used |= !strcmp(cfg->groups[g].transform, KNOWN[k].transform);
        if (used) {
            size_t l = strlen(out);
            snprintf(out + l, sizeof out - l, "%s%s", any ? "+" : "-", KNOWN[k].tag);
            any = 1;
        }
    }
    snprintf(buf, cap, "%s", any ? out : "epr-sq");
}

/* Appends s to the comma-separated list buf[cap] (truncated, never overrun). */
static void append(char *buf, size_t cap, const char *s) {
    size_t l = strlen(buf);
    if (l < cap) snprintf(buf + l, cap - l, "%s%s", l ? "," : "", s);
}

static void files_of(const dataset *d, char *buf, size_t cap) {
    buf[0] = 0;
    for (int i = 0; d && i < d->nfiles; i++) append(buf, cap, d->files[i]);
}

void run_info_fill(const cfg_experiment *cfg, const dataset *train, const dataset *test, run_info *info) {
    memset(info, 0, sizeof *info);
    run_method(cfg, info->method, sizeof info->method);
    for (int g = 0; g < cfg->n_groups; g++) {
        append(info->group_names, sizeof info->group_names, cfg->groups[g].name);
        append(info->group_decoders, sizeof info->group_decoders, cfg->groups[g].decoder);
        append(info->group_transforms, sizeof info->group_transforms, cfg->groups[g].transform);
    }
    info->prune = cfg->prune;
    info->kmeans_bits = cfg->kmeans_bits;
    files_of(train, info->data_train, sizeof info->data_train);
    files_of(test, info->data_test, sizeof info->data_test);
    info->n_train = train ? train->n : 0;
    info->n_test = test ? test->n : 0;
    schedule_describe(cfg, info->schedule, sizeof info->schedule);
    snprintf(info->config_id, sizeof info->config_id, "%016llx", (unsigned long long)cfg_fingerprint(cfg));
}

int run_info_attrs(const run_info *info, h5run_attr *a) {
    int n = 0;
    a[n++] = h5run_str("method", info->method);
    a[n++] = h5run_str("group_names", info->group_names);
    a[n++] = h5run_str("group_decoders", info->group_decoders);
    a[n++] = h5run_str("group_transforms", info->group_transforms);
    a[n++] = h5run_f64("prune", info->prune);
    a[n++] = h5run_i64("kmeans_bits", info->kmeans_bits);
    a[n++] = h5run_str("data_train", info->data_train);
    a[n++] = h5run_str("data_test", info->data_test);
    a[n++] = h5run_i64("n_train", info->n_train);
    a[n++] = h5run_i64("n_test", info->n_test);
    a[n++] = h5run_str("schedule", info->schedule);
    a[n++] = h5run_str("config_id", info->config_id);
    a[n++] = h5run_i64("n_validation", info->n_validation);
    return n;
}

int run_info_method(h5run *h, const char *path, char *buf, size_t cap, epr_err *err) {
    if (h5run_has_attr(h, NULL, "method")) return h5run_get_str(h, NULL, "method", buf, cap, err);
    run_loaded r;
    int rc = run_load_open(path, NULL, 0, &r, err);
    if (!rc) {
        r.cfg.epr_enabled = r.epr_enabled; /* the file's own flag, as its "method" would have said */
        run_method(&r.cfg, buf, cap);
    }
    run_load_close(&r);
    if (rc) {
        size_t l = strlen(err->msg);
        snprintf(err->msg + l, sizeof err->msg - l,
                 " (the run file has no 'method' attribute, as files of epr before the study attributes; its method "
                 "is then that of its stored experiment, which must load with this epr)");
    }
    return rc;
}
