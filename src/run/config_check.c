/* run/config_check.c — the checks of a loaded experiment (cfg_validate,
 * config_internal.h): the data set, the network spec, the groups and their
 * tensors, the schedule (run/schedule.h), the Deep Compression baseline's
 * keys; and the names of baseline methods (cfg_baseline_method_ok) and the
 * per-group pruning fractions (cfg_group_prune).  Each message names the
 * file and the key.  May call: libc, nn (the built-in specs), run/dataset (limits), run/schedule. */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/nn.h"
#include "run/config.h"
#include "run/config_internal.h"
#include "run/dataset.h"
#include "run/schedule.h"

int cfg_baseline_method_ok(const char *name) {
    if (!strcmp(name, "float32") || !strcmp(name, "gzip") || !strcmp(name, "xz") || !strcmp(name, "prune-kmeans"))
        return 1;
    int lo, hi;
    const char *d;
    if (!strncmp(name, "uniform", 7))
        d = name + 7, lo = 2, hi = 16;
    else if (!strncmp(name, "kmeans", 6))
        d = name + 6, lo = 1, hi = 16;
    else
        return 0;
    size_t nd = strspn(d, "0123456789"); /* N, then "t" for one grid / codebook per tensor */
    if (nd < 1 || nd > 2 || d[0] == '0' || (d[nd] && strcmp(d + nd, "t"))) return 0;
    int n = atoi(d);
    return n >= lo && n <= hi;
}

/* Walks "name:fraction" entries of prune_groups; returns the entry count or
 * -1 with *bad set to the offending entry (copied into badbuf). */
static int parse_prune_groups(const char *list, const char *want, float *frac, char *badbuf, size_t badcap) {
    char buf[sizeof((cfg_experiment *)0)->prune_groups];
    snprintf(buf, sizeof buf, "%s", list);
    int n = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)) {
        char *colon = strchr(tok, ':'), *end = NULL;
        double v = colon ? strtod(colon + 1, &end) : 0;
        if (!colon || colon == tok || end == colon + 1 || *end || !(v >= 0 && v < 1)) {
            snprintf(badbuf, badcap, "%s", tok);
            return -1;
        }
        *colon = 0;
        if (want && !strcmp(tok, want)) *frac = (float)v;
        n++;
    }
    return n;
}

float cfg_group_prune(const cfg_experiment *cfg, int g, int *own) {
    float f = -1;
    char bad[128];
    parse_prune_groups(cfg->prune_groups, cfg->groups[g].name, &f, bad, sizeof bad);
    if (own) *own = f >= 0;
    return f >= 0 ? f : cfg->prune;
}

static int validate_baseline(cfg_experiment *cfg, epr_err *err) {
    const char *p = cfg->path;
    char bad[128];
    RETURN_ERROR_IF(parse_prune_groups(cfg->prune_groups, NULL, NULL, bad, sizeof bad) < 0, err, EPR_EARG,
                    "%s: [baseline] prune_groups: '%s' is not GROUP:FRACTION with a fraction in [0, 1)", p, bad);
    {
        char buf[sizeof cfg->prune_groups];
        snprintf(buf, sizeof buf, "%s", cfg->prune_groups);
        for (char *save = NULL, *tok = strtok_r(buf, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)) {
            *strchr(tok, ':') = 0;
            int found = 0;
            for (int g = 0; g < cfg->n_groups; g++) found |= !strcmp(cfg->groups[g].name, tok);
            RETURN_ERROR_IF(!found, err, EPR_EARG, "%s: [baseline] prune_groups: no group named '%s'", p, tok);
            char key[80];
            snprintf(key, sizeof key, "%s:", tok);
            int entries = 0; /* occurrences of "name:" that start an entry (not the tail of a longer name) */
            for (const char *at = strstr(cfg->prune_groups, key); at; at = strstr(at + 1, key))
                entries += at == cfg->prune_groups || strchr(", \t", at[-1]) != NULL;
            RETURN_ERROR_IF(entries > 1, err, EPR_EARG, "%s: [baseline] prune_groups: group '%s' is given twice", p,
                            tok);
        }
    }
    RETURN_ERROR_IF(cfg->prune_groups[0] && !(cfg->prune > 0), err, EPR_EARG,
                    "%s: [baseline] prune_groups needs prune > 0 (the fraction of the groups it does not name)", p);
    char list[sizeof cfg->baseline_post];
    memcpy(list, cfg->baseline_post, sizeof list);
    for (char *save = NULL, *tok = strtok_r(list, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save))
        RETURN_ERROR_IF(!cfg_baseline_method_ok(tok), err, EPR_EARG,
                        "%s: [baseline] post: unknown method '%s' (float32, gzip, xz, uniform2..uniform16, "
                        "kmeans1..kmeans16, either with a t for one grid per tensor, prune-kmeans)",
                        p, tok);
    RETURN_ERROR_IF(!(cfg->prune >= 0 && cfg->prune < 1), err, EPR_EARG, "%s: [baseline] prune must be in [0, 1)", p);
    RETURN_ERROR_IF(cfg->kmeans_bits < 0 || cfg->kmeans_bits > 16, err, EPR_EARG,
                    "%s: [baseline] kmeans_bits must be in 0..16", p);
    if (cfg->prune > 0) {
        RETURN_ERROR_IF(cfg->prune_at < 1 || cfg->prune_at >= cfg->steps, err, EPR_EARG,
                        "%s: [baseline] prune_at must be in 1..steps-1 (%ld) when prune > 0", p, cfg->steps - 1);
    } else {
        RETURN_ERROR_IF(cfg->prune_at, err, EPR_EARG, "%s: [baseline] prune_at is set but prune is 0", p);
    }
    if (cfg->kmeans_bits) {
        RETURN_ERROR_IF(cfg->kmeans_at < 1 || cfg->kmeans_at >= cfg->steps, err, EPR_EARG,
                        "%s: [baseline] kmeans_at must be in 1..steps-1 (%ld) when kmeans_bits > 0", p, cfg->steps - 1);
        RETURN_ERROR_IF(cfg->prune > 0 && cfg->kmeans_at < cfg->prune_at, err, EPR_EARG,
                        "%s: [baseline] kmeans_at (%ld) must not come before prune_at (%ld)", p, cfg->kmeans_at,
                        cfg->prune_at);
        RETURN_ERROR_IF(cfg->prune > 0 && cfg->kmeans_bits < 2, err, EPR_EARG,
                        "%s: [baseline] kmeans_bits must be >= 2 with pruning (one entry is the 0 of pruned weights)",
                        p);
    } else {
        RETURN_ERROR_IF(cfg->kmeans_at, err, EPR_EARG, "%s: [baseline] kmeans_at is set but kmeans_bits is 0", p);
    }
    RETURN_ERROR_IF((cfg->prune > 0 || cfg->kmeans_bits) && cfg->epr_enabled, err, EPR_EARG,
                    "%s: [baseline] prune / kmeans_bits train a plain network: set epr.enabled = false", p);
    RETURN_ERROR_IF((cfg->prune > 0 || cfg->kmeans_bits || cfg->baseline_post[0]) && !cfg->n_groups, err, EPR_EARG,
                    "%s: [baseline] methods work on the experiment's parameter groups, and it has none", p);
    return EPR_OK;
}

/* The layer spec with " affine=1" added to every batchnorm entry that does
 * not set affine ([model] batchnorm_affine).  Entries end at ';' or a
 * newline; the key goes before a '#' comment.  malloc'd, NULL when out of
 * memory. */
static char *spec_bn_affine(const char *spec) {
    size_t n = strlen(spec), entries = 1;
    for (size_t i = 0; i < n; i++) entries += spec[i] == ';' || spec[i] == '\n';
    char *out = malloc(n + 10 * entries + 1);
    if (!out) return NULL;
    size_t o = 0;
    const char *p = spec;
    for (;;) {
        size_t len = strcspn(p, ";\n"), code = strcspn(p, "#;\n");
        const char *q = p;
        while (q < p + code && isspace((unsigned char)*q)) q++;
        const int bn = !strncmp(q, "batchnorm", 9) && (q + 9 == p + code || isspace((unsigned char)q[9]));
        int has = 0;
        for (const char *k = q; bn && k + 7 <= p + code; k++) has |= !strncmp(k, "affine=", 7);
        size_t end = code; /* the key goes after the entry's last token */
        while (end > 0 && isspace((unsigned char)p[end - 1])) end--;
        memcpy(out + o, p, end);
        o += end;
        if (bn && !has) {
            memcpy(out + o, " affine=1", 9);
            o += 9;
        }
        memcpy(out + o, p + end, len - end);
        o += len - end;
        if (!p[len]) break;
        out[o++] = p[len];
        p += len + 1;
    }
    out[o] = 0;
    return out;
}

static int validate_experiment(cfg_experiment *cfg, epr_err *err) {
    const char *p = cfg->path;
    RETURN_ERROR_IF(
        strcmp(cfg->data_set, "mnist10k") && strcmp(cfg->data_set, "fashion-mnist") && strcmp(cfg->data_set, "idx") &&
            strcmp(cfg->data_set, "cifar10") && strcmp(cfg->data_set, "pack"),
        err, EPR_EARG, "%s: [data] set: unknown data set '%s' (mnist10k | fashion-mnist | idx | cifar10 | pack)", p,
        cfg->data_set);
    RETURN_ERROR_IF(strcmp(cfg->augment, "none") && strcmp(cfg->augment, "crop-flip") && strcmp(cfg->augment, "crop") &&
                        strcmp(cfg->augment, "rrc-flip"),
                    err, EPR_EARG, "%s: [data] augment: unknown '%s' (none | crop-flip | crop | rrc-flip)", p,
                    cfg->augment);
    RETURN_ERROR_IF(cfg->pad < 0 || cfg->pad > DATASET_MAX_PAD, err, EPR_EARG, "%s: [data] pad must be in 0..%d", p,
                    DATASET_MAX_PAD);
    RETURN_ERROR_IF(cfg->pad && !strcmp(cfg->data_set, "pack"), err, EPR_EARG,
                    "%s: [data] pad does not apply to set = pack (use crop)", p);
    RETURN_ERROR_IF(!strcmp(cfg->augment, "rrc-flip") && strcmp(cfg->data_set, "pack"), err, EPR_EARG,
                    "%s: [data] augment = rrc-flip needs set = pack", p);
    RETURN_ERROR_IF(cfg->crop && strcmp(cfg->data_set, "pack"), err, EPR_EARG, "%s: [data] crop needs set = pack", p);
    RETURN_ERROR_IF(cfg->crop > 4096, err, EPR_EARG, "%s: [data] crop must be in 0..4096", p);
    RETURN_ERROR_IF(!(cfg->validation >= 0) || (cfg->validation >= 1 && cfg->validation != floor(cfg->validation)) ||
                        cfg->validation > 1e9,
                    err, EPR_EARG, "%s: [data] validation must be 0, a fraction in (0, 1) or a whole number of images",
                    p);
    RETURN_ERROR_IF(cfg->validation > 0 && !strcmp(cfg->data_set, "pack"), err, EPR_EARG,
                    "%s: [data] validation is not available for set = pack", p);
    if (!strcmp(cfg->data_set, "idx"))
        RETURN_ERROR_IF(!cfg->train_images[0] || !cfg->train_labels[0] || !cfg->test_images[0] || !cfg->test_labels[0],
                        err, EPR_EARG, "%s: [data] set=idx needs train_images, train_labels, test_images, test_labels",
                        p);
    if (!strcmp(cfg->model_name, "custom")) {
        RETURN_ERROR_IF(!cfg->layers, err, EPR_EARG, "%s: [model] name=custom needs a layers list", p);
    } else {
        const char *spec = nn_builtin_spec(cfg->model_name);
        RETURN_ERROR_IF(!spec, err, EPR_EARG,
                        "%s: [model] name: unknown network '%s' (built-in: lenet300-100, lenet5-caffe, vgg16-cifar, "
                        "resnet20-4, resnet18, resnet50; or custom)",
                        p, cfg->model_name);
        RETURN_ERROR_IF(cfg->layers, err, EPR_EARG, "%s: [model] layers is given, so name must be 'custom' (not '%s')",
                        p, cfg->model_name);
        cfg->layers = strdup(spec);
        RETURN_ERROR_IF(!cfg->layers, err, EPR_ENOMEM, "out of memory");
    }
    if (cfg->bn_affine) {
        char *t = spec_bn_affine(cfg->layers);
        RETURN_ERROR_IF(!t, err, EPR_ENOMEM, "out of memory");
        free(cfg->layers);
        cfg->layers = t;
    }
    RETURN_ERROR_IF(cfg->steps < 1, err, EPR_EARG, "%s: [train] steps must be >= 1", p);
    RETURN_ERROR_IF(cfg->batch < 1 || cfg->batch > 65536, err, EPR_EARG, "%s: [train] batch must be in 1..65536", p);
    RETURN_ERROR_IF(cfg->eval_batch < 1 || cfg->eval_batch > 65536, err, EPR_EARG,
                    "%s: [train] eval_batch must be in 1..65536", p);
    RETURN_ERROR_IF(strcmp(cfg->optimizer, "adam") && strcmp(cfg->optimizer, "sgd"), err, EPR_EARG,
                    "%s: [train] optimizer: unknown '%s' (adam | sgd)", p, cfg->optimizer);
    RETURN_ERROR_IF(!(cfg->lr > 0), err, EPR_EARG, "%s: [train] lr must be > 0", p);
    RETURN_ERROR_IF(cfg->ema < 0 || cfg->ema >= 1, err, EPR_EARG, "%s: [train] ema must be in [0, 1)", p);
    RETURN_ERROR_IF(cfg->log_every < 1, err, EPR_EARG, "%s: [train] log_every must be >= 1", p);
    RETURN_ERROR_IF(cfg->checkpoint_every < 1, err, EPR_EARG, "%s: [train] checkpoint_every must be >= 1", p);
    RETURN_ERROR_IF(cfg->threads < 1 || cfg->threads > 256, err, EPR_EARG, "%s: [train] threads must be in 1..256", p);
    RETURN_ERROR_IF(strcmp(cfg->device, "cpu") && strcmp(cfg->device, "cuda"), err, EPR_EARG,
                    "%s: [train] device: unknown '%s' (cpu | cuda)", p, cfg->device);
    RETURN_ERROR_IF(cfg->bn_recalibrate < 0 || cfg->bn_recalibrate > 100000, err, EPR_EARG,
                    "%s: [train] bn_recalibrate must be in 0..100000 (training batches)", p);
    RETURN_ERROR_IF(strcmp(cfg->file_eval, "cpu") && strcmp(cfg->file_eval, "device"), err, EPR_EARG,
                    "%s: [train] file_eval: unknown '%s' (cpu | device)", p, cfg->file_eval);
    RETURN_ERROR_IF(cfg->lambda < 0, err, EPR_EARG, "%s: [epr] lambda must be >= 0", p);
    CHECK_STATUS(schedule_validate(cfg, err));
    RETURN_ERROR_IF(!(cfg->density_lr > 0), err, EPR_EARG, "%s: [epr] density_lr must be > 0", p);
    RETURN_ERROR_IF(!(cfg->decoder_lr >= 0), err, EPR_EARG, "%s: [epr] decoder_lr must be >= 0", p);
    RETURN_ERROR_IF(cfg->decoder_lr == 0 && strcmp(cfg->optimizer, "sgd"), err, EPR_EARG,
                    "%s: [epr] decoder_lr = 0 (decoder parameters fixed) needs [train] optimizer = sgd: with adam "
                    "they take the network's Adam steps",
                    p);
    RETURN_ERROR_IF(cfg->table_precision < 8 || cfg->table_precision > 16, err, EPR_EARG,
                    "%s: [epr] table_precision must be in 8..16", p);
    for (int i = 0; i < cfg->n_groups; i++) {
        cfg_group *g = &cfg->groups[i];
        RETURN_ERROR_IF(!g->n_tensors, err, EPR_EARG, "%s:%d: [group.%s] has no tensors", p, g->line, g->name);
        RETURN_ERROR_IF(!strcmp(g->decoder, "affine") && strcmp(g->transform, "identity"), err, EPR_EARG,
                        "%s:%d: [group.%s] transform %s needs decoder = conv-affine", p, g->line, g->name,
                        g->transform);
        if (!strcmp(g->transform, "dft") || !strcmp(g->transform, "learned")) {
            /* a 1x1 "kernel" makes the transform a scalar: almost always ell was forgotten */
            RETURN_ERROR_IF(g->ell == 1 && !g->kh, err, EPR_EARG,
                            "%s:%d: [group.%s] ell: transform %s needs ell = the kernel's kh*kw (e.g. ell = 9 for "
                            "3x3 kernels); ell is %s",
                            p,
                            g->ell_line         ? g->ell_line
                            : g->transform_line ? g->transform_line
                                                : g->line,
                            g->name, g->transform, g->ell_line ? "1" : "omitted (1)");
            if (!g->kh) {
                int r = (int)lround(sqrt((double)g->ell));
                RETURN_ERROR_IF(r * r != g->ell, err, EPR_EARG,
                                "%s:%d: [group.%s] transform %s with ell=%d needs kernel = HxW", p, g->line, g->name,
                                g->transform, g->ell);
                g->kh = g->kw = r;
            }
            RETURN_ERROR_IF(g->kh * g->kw != g->ell, err, EPR_EARG,
                            "%s:%d: [group.%s] kernel %dx%d does not have ell=%d elements", p, g->line, g->name, g->kh,
                            g->kw, g->ell);
        }
        for (int j = 0; j < g->n_tensors; j++)
            for (int k = 0; k < cfg->n_groups; k++)
                for (int l = 0; l < cfg->groups[k].n_tensors; l++)
                    if ((k != i || l != j) && !strcmp(g->tensors[j], cfg->groups[k].tensors[l]))
                        return cmn_fail(err, EPR_EARG, "%s:%d: tensor %s is in group %s and in group %s", p, g->line,
                                        g->tensors[j], g->name, cfg->groups[k].name);
    }
    return 0;
}

int cfg_validate(cfg_experiment *cfg, epr_err *err) {
    int vrc = validate_experiment(cfg, err);
    return vrc ? vrc : validate_baseline(cfg, err);
}
