/* run/config.c — see config.h.  The key table below is the single
 * source of truth for keys, types, defaults and help text. */
#include "run/config.h"
#include "run/config_internal.h"
#include "run/schedule.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/nn.h"
#include "run/dataset.h"

#define F(field) offsetof(cfg_experiment, field), sizeof(((cfg_experiment *)0)->field)

const key_def CFG_KEYS[] = {
    {"data", "set", K_STR, F(data_set), "mnist10k", "mnist10k | fashion-mnist | idx | cifar10 | pack"},
    {"data", "root", K_STR, F(data_root), "", "where relative data paths are resolved (default $EPR_DATA_ROOT, else <source>/data)"},
    {"data", "train_images", K_STR, F(train_images), "", "IDX images for set=idx (raw or .gz)"},
    {"data", "train_labels", K_STR, F(train_labels), "", "IDX labels for set=idx"},
    {"data", "test_images", K_STR, F(test_images), "", "IDX images for set=idx"},
    {"data", "test_labels", K_STR, F(test_labels), "", "IDX labels for set=idx"},
    {"data", "cifar_train", K_STR, F(cifar_train), "cifar-10-batches-bin/data_batch_1.bin,cifar-10-batches-bin/data_batch_2.bin,cifar-10-batches-bin/data_batch_3.bin,cifar-10-batches-bin/data_batch_4.bin,cifar-10-batches-bin/data_batch_5.bin", "comma-separated CIFAR-10 batch files for set=cifar10"},
    {"data", "cifar_test", K_STR, F(cifar_test), "cifar-10-batches-bin/test_batch.bin", "CIFAR-10 test batch file(s)"},
    {"data", "augment", K_STR, F(augment), "none", "training augmentation: none | crop-flip (4-pixel padded random crop + horizontal flip) | crop (the same crop, no flip) | rrc-flip (random-resized crop to `crop` + flip; set=pack)"},
    {"data", "pad", K_INT, F(pad), "0", "zero border of P pixels around every image, train and test (28x28 -> 32x32 with 2), before normalisation and augmentation; recorded in the .epr so epr eval pads alike (not with set=pack)"},
    {"data", "normalize", K_BOOL, F(normalize), "false", "normalise inputs per channel with the training set's mean and std"},
    {"data", "train_pack", K_STR, F(train_pack), "imagenet/train.pack", "packed training images for set=pack (docs/imagenet-pack.md)"},
    {"data", "test_pack", K_STR, F(test_pack), "imagenet/val.pack", "packed test images for set=pack"},
    {"data", "validation", K_DOUBLE, F(validation), "0", "training images held out for validation (model choice at the end, validation curve): a count (e.g. 1000) or a fraction < 1 (e.g. 0.1); the same images for every seed (fixed split seed, docs/validation.md); 0 = none"},
    {"data", "crop", K_INT, F(crop), "0", "set=pack: network input HxW (0 = the stored size); test images are centre-cropped"},
    {"model", "name", K_STR, F(model_name), "lenet300-100", "built-in network (lenet300-100, lenet5-caffe, vgg16-cifar, resnet20-4, resnet18, resnet50) or custom"},
    {"model", "layers", K_TEXT, 0, 0, "", "layer list for name=custom, one layer per (indented) line; see `epr train --help`"},
    {"model", "batchnorm_affine", K_BOOL, F(bn_affine), "false", "give every batch norm of the network a learnable gamma (affine=1, tensor NAME.weight), as torchvision's, e.g. to start from a torchvision ResNet with init"},
    {"model", "init", K_STR, F(model_init), "", "start from these weights: an .npz or .safetensors file of float32 tensors named as the network's (python/pt_to_init.py converts a PyTorch state_dict); a relative path is taken from the working directory"},
    {"train", "steps", K_LONG, F(steps), "6000", "optimizer steps"},
    {"train", "batch", K_INT, F(batch), "64", "global batch size (split across ranks)"},
    {"train", "eval_batch", K_INT, F(eval_batch), "100", "batch size for evaluation (epr eval uses the same default)"},
    {"train", "optimizer", K_STR, F(optimizer), "adam", "adam | sgd (momentum)"},
    {"train", "lr", K_FLOAT, F(lr), "1e-3", "learning rate of the network parameters"},
    {"train", "momentum", K_FLOAT, F(momentum), "0.9", "SGD momentum"},
    {"train", "weight_decay", K_FLOAT, F(weight_decay), "0", "SGD weight decay (L2 on the whole network segment, latents included)"},
    {"train", "beta1", K_FLOAT, F(beta1), "0.9", "Adam beta1"},
    {"train", "beta2", K_FLOAT, F(beta2), "0.999", "Adam beta2"},
    {"train", "adam_eps", K_FLOAT, F(adam_eps), "1e-8", "Adam epsilon"},
    {"train", "lr_decay", K_FLOAT, F(lr_decay), "1", "learning-rate factor applied at each milestone"},
    {"train", "lr_milestones", K_LIST_LONG, F(lr_milestones), "", "comma-separated steps where lr is multiplied by lr_decay"},
    {"train", "lr_schedule", K_STR, F(lr_schedule), "step", "step (lr times lr_decay at each of lr_milestones; none: constant) | cosine (from lr down to lr_min at the last step, after the warm-up)"},
    {"train", "warmup_steps", K_LONG, F(warmup_steps), "0", "linear learning-rate warm-up: lr*(t+1)/warmup_steps for the first steps"},
    {"train", "lr_min", K_DOUBLE, F(lr_min), "0", "lr_schedule = cosine: the learning rate at the last step"},
    {"train", "ema", K_FLOAT, F(ema), "0.999", "EMA decay of the network parameters (0 = no EMA)"},
    {"train", "seed", K_U64, F(seed), "1", "seed of initialisation, shuffling and rate noise"},
    {"train", "log_every", K_LONG, F(log_every), "100", "steps between progress lines"},
    {"train", "eval_every", K_LONG, F(eval_every), "1000", "steps between test evaluations (0 = only at the end)"},
    {"train", "checkpoint_every", K_LONG, F(checkpoint_every), "1000", "steps between checkpoints"},
    {"train", "threads", K_INT, F(threads), "1", "OpenBLAS threads per rank"},
    {"train", "device", K_STR, F(device), "cpu", "cpu | cuda: where the step runs (cuda: one GPU per rank, node-local rank mod the node's GPU count; needs a build with -DEPR_CUDA=ON; docs/gpu.md)"},
    {"train", "tf32", K_BOOL, F(tf32), "false", "device = cuda only: cuBLAS may round matrix products' inputs to TF32 on tensor cores (as PyTorch's cuDNN convolutions do by default): faster, about 1e-3 relative error per product; off, the GPU computes in FP32 as the CPU does"},
    {"epr", "enabled", K_BOOL, F(epr_enabled), "false", "train with entropy-penalized reparameterization"},
    {"epr", "lambda", K_DOUBLE, F(lambda), "1e-6", "rate weight: loss = mean CE (nats) + lambda * rate_bits"},
    {"epr", "decoder_lr", K_FLOAT, F(decoder_lr), "1e-3", "with optimizer = sgd: Adam learning rate of the decoder parameters (their gradients sum over whole tensors)"},
    {"epr", "lambda_ramp_steps", K_LONG, F(lambda_ramp_steps), "0", "lambda rises linearly over the first steps: lambda*(lambda_start + (1-lambda_start)*t/lambda_ramp_steps)"},
    {"epr", "lambda_start", K_DOUBLE, F(lambda_start), "0", "the lambda ramp's start, a fraction of lambda in [0, 1]"},
    {"epr", "freeze_phi_steps", K_LONG, F(freeze_phi_steps), "0", "final phase: the last steps train with phi frozen (the EMA model's), only decoder parameters, uncompressed tensors (biases, batch norm) and batch-norm statistics change; densities and the rate stop"},
    {"epr", "density_lr", K_FLOAT, F(density_lr), "1e-3", "Adam learning rate of the densities"},
    {"epr", "uncompressed", K_STR, F(uncompressed), "", "comma-separated tensor names or patterns (e.g. *.bias) kept as float32 extras"},
    {"baseline", "post", K_STR, F(baseline_post), "", "comma-separated post-training baselines written at the end of a plain run, each a file through the codec: float32, gzip, xz (of the float32 file), uniformN (N-bit uniform quantisation per group, N = 2..16, entropy-coded), kmeansN (k-means weight sharing, 2^N entries per group, entropy-coded), prune-kmeans (the codebook of a run with prune/kmeans_bits)"},
    {"baseline", "prune", K_FLOAT, F(prune), "0", "fraction of each group's weights zeroed by magnitude at step prune_at, then fine-tuned with the mask (0 = no pruning; needs epr.enabled = false)"},
    {"baseline", "prune_groups", K_STR, F(prune_groups), "", "per-group fractions that override prune, as Deep Compression prunes each layer at its own rate: comma-separated GROUP:FRACTION (e.g. fc3:0.7, bias:0)"},
    {"baseline", "prune_at", K_LONG, F(prune_at), "0", "step at which pruning happens (1..steps-1)"},
    {"baseline", "kmeans_bits", K_INT, F(kmeans_bits), "0", "weight sharing: at step kmeans_at each group's weights are clustered (1-D k-means, 2^bits entries, one of them 0 when pruning) and only the centroids train afterwards (0 = off)"},
    {"baseline", "kmeans_at", K_LONG, F(kmeans_at), "0", "step at which weights are clustered (prune_at..steps-1)"},
    {"epr", "table_precision", K_INT, F(table_precision), "16", "maximum bits of the coder's frequency tables (<= 16)"},
};
const int CFG_N_KEYS = (int)(sizeof CFG_KEYS / sizeof CFG_KEYS[0]);
#define KEYS CFG_KEYS
#define N_KEYS CFG_N_KEYS

static const char *GROUP_KEYS[][2] = {
    {"tensors", "comma-separated parameter tensors (e.g. fc1.weight, fc2.weight); long lists continue on indented lines"},
    {"decoder", "affine (theta = s*phi + b) | conv-affine (theta_row = T (s . phi_row) + c)"},
    {"transform", "identity | dft | random-orthogonal | learned (conv-affine only)"},
    {"ell", "columns per sample row, one density each (1 for affine; kh*kw for 3x3 conv kernels)"},
    {"kernel", "HxW of the spatial kernel for dft (default: square root of ell)"},
    {"log_step", "initial log of the quantisation step s (default -4)"},
};
#define N_GROUP_KEYS ((int)(sizeof GROUP_KEYS / sizeof GROUP_KEYS[0]))

/* A section header (key "") or a key line, where it was first given. */
typedef struct {
    char section[80], key[80];
    int line;
} cfg_seen;

typedef struct {
    cfg_experiment *cfg;
    const char *path;
    const char *text;
    size_t pos;
    int line;        /* current line (1-based), counted by our reader */
    int long_line;
    int layers_lines;
    char last_section[80], last_key[80]; /* of the previous handler call */
    epr_err *err;
    int failed;
    int indented;   /* the current line starts with white space (a continuation) */
    cfg_seen *seen; /* every section header and key line so far: duplicates are errors */
    int n_seen, cap_seen;
} parse_ctx;

static char *trim(char *s) {
    while (isspace((unsigned char)*s)) s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1])) *--e = 0;
    return s;
}

static int parse_value(const key_def *k, const char *val, cfg_experiment *cfg, char *why, size_t nwhy) {
    char *base = (char *)cfg;
    char *end = NULL;
    errno = 0;
    switch (k->type) {
    case K_STR:
        if (strlen(val) >= k->size) {
            snprintf(why, nwhy, "value longer than %zu characters", k->size - 1);
            return -1;
        }
        strcpy(base + k->offset, val);
        return 0;
    case K_TEXT: {
        size_t n = strlen(val);
        char *old = cfg->layers;
        size_t on = old ? strlen(old) : 0;
        char *t = realloc(old, on + n + 2);
        if (!t) {
            snprintf(why, nwhy, "out of memory");
            return -1;
        }
        if (on) t[on++] = '\n';
        memcpy(t + on, val, n + 1);
        cfg->layers = t;
        return 0;
    }
    case K_INT:
    case K_LONG: {
        long v = strtol(val, &end, 10);
        if (!*val || *end || errno) {
            snprintf(why, nwhy, "'%s' is not an integer", val);
            return -1;
        }
        if (v < 0) {
            snprintf(why, nwhy, "'%s' must not be negative", val);
            return -1;
        }
        if (k->type == K_INT) {
            if (v > 1000000000L) {
                snprintf(why, nwhy, "'%s' is too large", val);
                return -1;
            }
            *(int *)(base + k->offset) = (int)v;
        } else {
            *(long *)(base + k->offset) = v;
        }
        return 0;
    }
    case K_U64: {
        unsigned long long v = strtoull(val, &end, 10);
        if (!*val || *end || errno || val[0] == '-') {
            snprintf(why, nwhy, "'%s' is not a non-negative integer", val);
            return -1;
        }
        *(uint64_t *)(base + k->offset) = (uint64_t)v;
        return 0;
    }
    case K_FLOAT:
    case K_DOUBLE: {
        double v = strtod(val, &end);
        if (!*val || *end || errno || !isfinite(v)) {
            snprintf(why, nwhy, "'%s' is not a finite number", val);
            return -1;
        }
        if (k->type == K_FLOAT)
            *(float *)(base + k->offset) = (float)v;
        else
            *(double *)(base + k->offset) = v;
        return 0;
    }
    case K_BOOL: {
        int v;
        if (!strcmp(val, "true") || !strcmp(val, "1") || !strcmp(val, "yes") || !strcmp(val, "on"))
            v = 1;
        else if (!strcmp(val, "false") || !strcmp(val, "0") || !strcmp(val, "no") || !strcmp(val, "off"))
            v = 0;
        else {
            snprintf(why, nwhy, "'%s' is not a boolean (true/false)", val);
            return -1;
        }
        *(int *)(base + k->offset) = v;
        return 0;
    }
    case K_LIST_LONG: {
        int n = 0;
        const char *p = val;
        while (*p) {
            while (*p == ' ' || *p == ',') p++;
            if (!*p) break;
            if (n == CFG_MAX_MILESTONES) {
                snprintf(why, nwhy, "more than %d milestones", CFG_MAX_MILESTONES);
                return -1;
            }
            long v = strtol(p, &end, 10);
            if (end == p || errno || v <= 0 || (*end && *end != ',' && *end != ' ')) {
                snprintf(why, nwhy, "'%s' is not a comma-separated list of positive steps", val);
                return -1;
            }
            cfg->lr_milestones[n++] = v;
            p = end;
        }
        cfg->n_milestones = n;
        return 0;
    }
    }
    return -1;
}

static cfg_group *find_group(cfg_experiment *cfg, const char *name, int create, int line) {
    for (int i = 0; i < cfg->n_groups; i++)
        if (!strcmp(cfg->groups[i].name, name)) return &cfg->groups[i];
    if (!create || cfg->n_groups == CFG_MAX_GROUPS) return NULL;
    cfg_group *g = &cfg->groups[cfg->n_groups++];
    memset(g, 0, sizeof *g);
    snprintf(g->name, sizeof g->name, "%s", name);
    strcpy(g->decoder, "affine");
    strcpy(g->transform, "identity");
    g->ell = 1;
    g->log_step = -4.0f;
    g->line = line;
    return g;
}

static int set_group_key(cfg_group *g, const char *key, const char *val, int append, char *why, size_t nwhy) {
    char *end;
    if (!strcmp(key, "tensors")) {
        if (!append) g->n_tensors = 0;
        char buf[4096];
        snprintf(buf, sizeof buf, "%s", val);
        for (char *tok = strtok(buf, ", \t"); tok; tok = strtok(NULL, ", \t")) {
            if (g->n_tensors == CFG_MAX_TENSORS) {
                snprintf(why, nwhy, "more than %d tensors", CFG_MAX_TENSORS);
                return -1;
            }
            if (strlen(tok) >= sizeof g->tensors[0]) {
                snprintf(why, nwhy, "tensor name '%s' too long", tok);
                return -1;
            }
            strcpy(g->tensors[g->n_tensors++], tok);
        }
        if (!g->n_tensors) {
            snprintf(why, nwhy, "empty tensor list");
            return -1;
        }
        return 0;
    }
    if (!strcmp(key, "decoder")) {
        if (strcmp(val, "affine") && strcmp(val, "conv-affine")) {
            snprintf(why, nwhy, "unknown decoder '%s' (affine | conv-affine)", val);
            return -1;
        }
        snprintf(g->decoder, sizeof g->decoder, "%s", val);
        return 0;
    }
    if (!strcmp(key, "transform")) {
        if (strcmp(val, "identity") && strcmp(val, "dft") && strcmp(val, "random-orthogonal") &&
            strcmp(val, "learned")) {
            snprintf(why, nwhy, "unknown transform '%s' (identity | dft | random-orthogonal | learned)", val);
            return -1;
        }
        snprintf(g->transform, sizeof g->transform, "%s", val);
        return 0;
    }
    if (!strcmp(key, "ell")) {
        long v = strtol(val, &end, 10);
        if (!*val || *end || v < 1 || v > 64) {
            snprintf(why, nwhy, "'%s' is not an integer in 1..64", val);
            return -1;
        }
        g->ell = (int)v;
        return 0;
    }
    if (!strcmp(key, "kernel")) {
        int h, w;
        char c;
        if (sscanf(val, "%dx%d%c", &h, &w, &c) != 2 || h < 1 || w < 1 || h * w > 64) {
            snprintf(why, nwhy, "'%s' is not HxW (e.g. 3x3)", val);
            return -1;
        }
        g->kh = h;
        g->kw = w;
        return 0;
    }
    if (!strcmp(key, "log_step")) {
        double v = strtod(val, &end);
        if (!*val || *end || !isfinite(v) || v < -20 || v > 5) {
            snprintf(why, nwhy, "'%s' is not a number in [-20, 5]", val);
            return -1;
        }
        g->log_step = (float)v;
        return 0;
    }
    snprintf(why, nwhy, "unknown key (group keys: tensors, decoder, transform, ell, kernel, log_step)");
    return -1;
}

/* Apply one section/key/value; where = "FILE:LINE" or "--set".  append: the
 * value continues the previous line's (an indented continuation line). */
static int apply(cfg_experiment *cfg, const char *section, const char *key, const char *value,
                 const char *where, int line, int append, epr_err *err) {
    char why[256] = "";
    if (!strncmp(section, "group.", 6)) {
        const char *gname = section + 6;
        RETURN_ERROR_IF(!*gname, err, EPR_EARG, "%s: [%s] needs a group name, e.g. [group.fc]", where, section);
        cfg_group *g = find_group(cfg, gname, 1, line);
        RETURN_ERROR_IF(!g, err, EPR_EARG, "%s: [%s]: more than %d groups", where, section, CFG_MAX_GROUPS);
        if (set_group_key(g, key, value, append, why, sizeof why))
            return epr_fail(err, EPR_EARG, "%s: [%s] %s: %s", where, section, key, why);
        if (!strcmp(key, "ell")) g->ell_line = line;
        if (!strcmp(key, "transform")) g->transform_line = line;
        return 0;
    }
    int section_known = 0;
    for (int i = 0; i < N_KEYS; i++) {
        if (strcmp(KEYS[i].section, section)) continue;
        section_known = 1;
        if (strcmp(KEYS[i].key, key)) continue;
        if (parse_value(&KEYS[i], value, cfg, why, sizeof why))
            return epr_fail(err, EPR_EARG, "%s: [%s] %s: %s", where, section, key, why);
        return 0;
    }
    if (!section_known)
        return epr_fail(err, EPR_EARG,
                        "%s: unknown section [%s] (sections: data, model, train, epr, baseline, group.NAME)", where, section);
    return epr_fail(err, EPR_EARG, "%s: [%s] unknown key '%s' (see `epr train --help`)", where, section, key);
}

/* Records a section header (name "") or a key line; a second one of the
 * same name is an error naming both lines. */
static int note_seen(parse_ctx *c, const char *section, const char *key) {
    for (int i = 0; i < c->n_seen; i++) {
        const cfg_seen *s = &c->seen[i];
        if (strcmp(s->section, section) || strcmp(s->key, key)) continue;
        if (key[0])
            epr_fail(c->err, EPR_EARG, "%s:%d: [%s] %s is given twice (first at line %d)", c->path, c->line, section,
                     key, s->line);
        else
            epr_fail(c->err, EPR_EARG, "%s:%d: section [%s] is given twice (first at line %d); merge the two", c->path,
                     c->line, section, s->line);
        c->failed = 1;
        return 1;
    }
    if (c->n_seen == c->cap_seen) {
        int cap = c->cap_seen ? 2 * c->cap_seen : 64;
        cfg_seen *t = realloc(c->seen, (size_t)cap * sizeof *t);
        if (!t) {
            epr_fail(c->err, EPR_ENOMEM, "out of memory");
            c->failed = 1;
            return 1;
        }
        c->seen = t;
        c->cap_seen = cap;
    }
    cfg_seen *s = &c->seen[c->n_seen++];
    snprintf(s->section, sizeof s->section, "%s", section);
    snprintf(s->key, sizeof s->key, "%s", key);
    s->line = c->line;
    return 0;
}

/* [model] layers grew by one line of the file (its text was `before`
 * bytes long): the line of that piece, for experiment_layers_error. */
static void note_layer_line(cfg_experiment *cfg, size_t before, int line) {
    if (before == 0) cfg->n_layer_lines = 0; /* an empty first piece is merged with the next */
    if (cfg->n_layer_lines < CFG_MAX_LAYER_LINES) cfg->layer_lines[cfg->n_layer_lines++] = line;
}

/* A section header line of the file (the reader sees it before inih):
 * one without its ']' is an error at its own line, and a section given
 * twice (e.g. two [group.fc]) is an error naming both lines. */
static void check_header(parse_ctx *c, const char *line) {
    const char *p = line;
    while (*p == ' ' || *p == '\t') p++;
    if (*p != '[' || (p > line && c->last_key[0])) return; /* an indented line after a key continues it */
    const char *close = strchr(p, ']');
    if (!close) {
        char shown[64];
        snprintf(shown, sizeof shown, "%.*s", (int)strcspn(p, "\r\n"), p);
        epr_fail(c->err, EPR_EARG, "%s:%d: unterminated section header '%s' (expected [NAME])", c->path, c->line,
                 shown);
        c->failed = 1;
        return;
    }
    char name[80];
    snprintf(name, sizeof name, "%.*s", (int)(close - p - 1), p + 1);
    note_seen(c, trim(name), "");
}

static int handler(void *user, const char *section, const char *name, const char *value) {
    parse_ctx *c = user;
    if (c->failed) return 0;
    char where[1100];
    snprintf(where, sizeof where, "%s:%d", c->path, c->line);
    char v[1024];
    snprintf(v, sizeof v, "%s", value);
    /* inih hands an indented continuation line over as the same section
     * and key again; only a group's tensor list accumulates such lines
     * (the layer list does so by itself), every other key keeps the last. */
    int cont = c->indented && !strcmp(c->last_section, section) && !strcmp(c->last_key, name);
    snprintf(c->last_section, sizeof c->last_section, "%s", section);
    snprintf(c->last_key, sizeof c->last_key, "%s", name);
    if (!cont && note_seen(c, section, name)) return 0;
    size_t layers_before = c->cfg->layers ? strlen(c->cfg->layers) : 0;
    if (apply(c->cfg, section, name, trim(v), where, c->line, cont, c->err)) {
        c->failed = 1;
        return 0;
    }
    if (!strcmp(section, "model") && !strcmp(name, "layers")) note_layer_line(c->cfg, layers_before, c->line);
    return 1;
}

/* inih reader that counts lines so messages can name them (the Debian
 * build has no INI_HANDLER_LINENO) and rejects lines inih would split. */
static char *reader(char *str, int num, void *stream) {
    parse_ctx *c = stream;
    if (!c->text[c->pos]) return NULL;
    const char *s = c->text + c->pos;
    const char *nl = strchr(s, '\n');
    size_t len = nl ? (size_t)(nl - s) + 1 : strlen(s);
    c->line++;
    if (len >= (size_t)num) {
        c->long_line = c->line;
        len = (size_t)num - 1;
    }
    memcpy(str, s, len);
    str[len] = 0;
    c->pos += nl ? (size_t)(nl - s) + 1 : strlen(s);
    c->indented = str[0] == ' ' || str[0] == '\t';
    if (!c->failed) check_header(c, str);
    return c->failed ? NULL : str;
}

static void set_defaults(cfg_experiment *cfg) {
    char why[256];
    for (int i = 0; i < N_KEYS; i++)
        if (KEYS[i].type != K_TEXT) parse_value(&KEYS[i], KEYS[i].def, cfg, why, sizeof why);
}

int cfg_baseline_method_ok(const char *name) {
    if (!strcmp(name, "float32") || !strcmp(name, "gzip") || !strcmp(name, "xz") || !strcmp(name, "prune-kmeans"))
        return 1;
    int lo, hi;
    const char *d;
    if (!strncmp(name, "uniform", 7)) d = name + 7, lo = 2, hi = 16;
    else if (!strncmp(name, "kmeans", 6)) d = name + 6, lo = 1, hi = 16;
    else return 0;
    if (!*d || strlen(d) > 2 || !isdigit((unsigned char)d[0]) || (d[1] && !isdigit((unsigned char)d[1])) || d[0] == '0')
        return 0;
    int n = atoi(d);
    return n >= lo && n <= hi;
}

/* Walks "name:fraction" entries of prune_groups; returns the entry count or
 * -1 with *bad set to the offending entry (copied into badbuf). */
static int parse_prune_groups(const char *list, const char *want, float *frac, char *badbuf, size_t badcap) {
    char buf[sizeof ((cfg_experiment *)0)->prune_groups];
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
                        "%s: [baseline] post: unknown method '%s' (float32, gzip, xz, uniform2..uniform16, kmeans1..kmeans16, prune-kmeans)",
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
                        "%s: [baseline] kmeans_bits must be >= 2 with pruning (one entry is the 0 of pruned weights)", p);
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

static int validate(cfg_experiment *cfg, epr_err *err) {
    const char *p = cfg->path;
    RETURN_ERROR_IF(strcmp(cfg->data_set, "mnist10k") && strcmp(cfg->data_set, "fashion-mnist") &&
                        strcmp(cfg->data_set, "idx") && strcmp(cfg->data_set, "cifar10") &&
                        strcmp(cfg->data_set, "pack"),
                    err, EPR_EARG, "%s: [data] set: unknown data set '%s' (mnist10k | fashion-mnist | idx | cifar10 | pack)",
                    p, cfg->data_set);
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
        RETURN_ERROR_IF(!cfg->train_images[0] || !cfg->train_labels[0] || !cfg->test_images[0] ||
                            !cfg->test_labels[0],
                        err, EPR_EARG, "%s: [data] set=idx needs train_images, train_labels, test_images, test_labels",
                        p);
    if (!strcmp(cfg->model_name, "custom")) {
        RETURN_ERROR_IF(!cfg->layers, err, EPR_EARG, "%s: [model] name=custom needs a layers list", p);
    } else {
        const char *spec = nn_builtin_spec(cfg->model_name);
        RETURN_ERROR_IF(!spec, err, EPR_EARG, "%s: [model] name: unknown network '%s' (built-in: lenet300-100, lenet5-caffe, vgg16-cifar, resnet20-4, resnet18, resnet50; or custom)",
                        p, cfg->model_name);
        RETURN_ERROR_IF(cfg->layers, err, EPR_EARG, "%s: [model] layers is given, so name must be 'custom' (not '%s')", p,
                        cfg->model_name);
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
    RETURN_ERROR_IF(cfg->lambda < 0, err, EPR_EARG, "%s: [epr] lambda must be >= 0", p);
    CHECK_STATUS(schedule_validate(cfg, err));
    RETURN_ERROR_IF(!(cfg->density_lr > 0), err, EPR_EARG, "%s: [epr] density_lr must be > 0", p);
    RETURN_ERROR_IF(!(cfg->decoder_lr > 0), err, EPR_EARG, "%s: [epr] decoder_lr must be > 0", p);
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
                            p, g->ell_line ? g->ell_line : g->transform_line ? g->transform_line : g->line, g->name,
                            g->transform, g->ell_line ? "1" : "omitted (1)");
            if (!g->kh) {
                int r = (int)lround(sqrt((double)g->ell));
                RETURN_ERROR_IF(r * r != g->ell, err, EPR_EARG,
                                "%s:%d: [group.%s] transform %s with ell=%d needs kernel = HxW", p, g->line,
                                g->name, g->transform, g->ell);
                g->kh = g->kw = r;
            }
            RETURN_ERROR_IF(g->kh * g->kw != g->ell, err, EPR_EARG,
                            "%s:%d: [group.%s] kernel %dx%d does not have ell=%d elements", p, g->line, g->name,
                            g->kh, g->kw, g->ell);
        }
        for (int j = 0; j < g->n_tensors; j++)
            for (int k = 0; k < cfg->n_groups; k++)
                for (int l = 0; l < cfg->groups[k].n_tensors; l++)
                    if ((k != i || l != j) && !strcmp(g->tensors[j], cfg->groups[k].tensors[l]))
                        return epr_fail(err, EPR_EARG, "%s:%d: tensor %s is in group %s and in group %s", p, g->line,
                                        g->tensors[j], g->name, cfg->groups[k].name);
    }
    return 0;
}

static int load_string(const char *text, const char *path, const char *const *overrides, int n_overrides,
                       cfg_experiment *cfg, epr_err *err) {
    memset(cfg, 0, sizeof *cfg);
    set_defaults(cfg);
    snprintf(cfg->path, sizeof cfg->path, "%s", path);
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    snprintf(cfg->name, sizeof cfg->name, "%s", base);
    char *dot = strrchr(cfg->name, '.');
    if (dot) *dot = 0;

    parse_ctx c = {.cfg = cfg, .path = path, .text = text, .err = err};
    int rc = ini_parse_stream(reader, &c, handler, &c);
    free(c.seen);
    if (c.failed) return err ? err->code : EPR_EARG;
    RETURN_ERROR_IF(c.long_line, err, EPR_EARG, "%s:%d: line too long (at most %d characters; split layer lists over lines)",
                    path, c.long_line, INI_MAX_LINE - 2);
    RETURN_ERROR_IF(rc > 0, err, EPR_EARG, "%s:%d: syntax error (expected [section] or key = value)", path, rc);
    RETURN_ERROR_IF(rc < 0, err, EPR_EIO, "%s: cannot parse", path);

    /* Overrides are recorded in the experiment text so runs are self-describing. */
    size_t tl = strlen(text) + 64;
    for (int i = 0; i < n_overrides; i++) tl += strlen(overrides[i]) + 16;
    cfg->text = malloc(tl);
    RETURN_ERROR_IF(!cfg->text, err, EPR_ENOMEM, "out of memory");
    size_t off = (size_t)snprintf(cfg->text, tl, "%s", text);
    if (n_overrides && off && cfg->text[off - 1] != '\n') off += (size_t)snprintf(cfg->text + off, tl - off, "\n");
    for (int i = 0; i < n_overrides; i++) {
        const char *o = overrides[i];
        const char *eq = strchr(o, '=');
        char sec[256], key[128];
        const char *dotp = NULL;
        for (const char *q = o; eq && q < eq; q++)
            if (*q == '.') dotp = q;
        RETURN_ERROR_IF(!eq || !dotp || dotp == o || dotp + 1 == eq || (size_t)(dotp - o) >= sizeof sec ||
                            (size_t)(eq - dotp - 1) >= sizeof key,
                        err, EPR_EARG, "--set %s: expected section.key=value (e.g. epr.lambda=1e-6)", o);
        memcpy(sec, o, (size_t)(dotp - o));
        sec[dotp - o] = 0;
        memcpy(key, dotp + 1, (size_t)(eq - dotp - 1));
        key[eq - dotp - 1] = 0;
        char where[300];
        snprintf(where, sizeof where, "--set %s", o);
        if (!strcmp(key, "layers")) {
            free(cfg->layers);
            cfg->layers = NULL;
            cfg->n_layer_lines = 0; /* experiment_layers_error then names the --set */
        }
        CHECK_STATUS(apply(cfg, sec, key, eq + 1, where, 0, 0, err));
        off += (size_t)snprintf(cfg->text + off, tl - off, "; --set %s\n", o);
    }
    if (!cfg->data_root[0]) {
        const char *env = getenv("EPR_DATA_ROOT");
        snprintf(cfg->data_root, sizeof cfg->data_root, "%s", env && *env ? env : EPR_SOURCE_DIR "/data");
    }
    int vrc = validate(cfg, err);
    return vrc ? vrc : validate_baseline(cfg, err);
}

int cfg_load_string(const char *text, const char *path, const char *const *overrides, int n_overrides,
                    cfg_experiment *cfg, epr_err *err) {
    int rc = load_string(text, path, overrides, n_overrides, cfg, err);
    if (rc) cfg_free(cfg); /* a refused experiment holds nothing */
    return rc;
}

/* The next line of *s that is not a device override; NULL at the end. */
static const char *next_line(const char **s, size_t *len) {
    static const char dev[] = "; --set train.device=";
    while (**s) {
        const char *b = *s, *e = strchr(b, '\n');
        size_t n = e ? (size_t)(e - b) : strlen(b);
        *s = e ? e + 1 : b + n;
        if (strncmp(b, dev, sizeof dev - 1)) {
            *len = n;
            return b;
        }
    }
    return NULL;
}

int cfg_same_experiment(const char *a, const char *b) {
    for (;;) {
        size_t na = 0, nb = 0;
        const char *la = next_line(&a, &na), *lb = next_line(&b, &nb);
        if (!la || !lb) return !la && !lb;
        if (na != nb || memcmp(la, lb, na)) return 0;
    }
}

int cfg_load(const char *path, const char *const *overrides, int n_overrides, cfg_experiment *cfg, epr_err *err) {
    memset(cfg, 0, sizeof *cfg);
    FILE *f = fopen(path, "rb");
    RETURN_ERROR_IF(!f, err, EPR_EIO, "%s: cannot open experiment file: %s", path, strerror(errno));
    char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            if (cap > (64u << 20)) {
                free(buf);
                fclose(f);
                return epr_fail(err, EPR_EFORMAT, "%s: experiment file larger than 64 MiB", path);
            }
            char *t = realloc(buf, cap);
            if (!t) {
                free(buf);
                fclose(f);
                return epr_fail(err, EPR_ENOMEM, "out of memory");
            }
            buf = t;
        }
        size_t r = fread(buf + n, 1, 4096, f);
        n += r;
        if (r < 4096) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return epr_fail(err, EPR_EIO, "%s: read error", path);
    }
    buf[n] = 0;
    if (memchr(buf, 0, n)) {
        free(buf);
        return epr_fail(err, EPR_EFORMAT, "%s: contains NUL bytes (not a text INI file)", path);
    }
    int rc = cfg_load_string(buf, path, overrides, n_overrides, cfg, err);
    free(buf);
    return rc;
}

void cfg_free(cfg_experiment *cfg) {
    free(cfg->text);
    free(cfg->layers);
    cfg->text = cfg->layers = NULL;
}

void cfg_print_reference(FILE *f) {
    const char *sec = "";
    for (int i = 0; i < N_KEYS; i++) {
        if (strcmp(sec, KEYS[i].section)) {
            sec = KEYS[i].section;
            fprintf(f, "  [%s]\n", sec);
        }
        fprintf(f, "    %-16s %s", KEYS[i].key, KEYS[i].help);
        if (KEYS[i].def && *KEYS[i].def && KEYS[i].type != K_TEXT && strlen(KEYS[i].def) < 40)
            fprintf(f, " (default %s)", KEYS[i].def);
        fputc('\n', f);
    }
    fprintf(f, "  [group.NAME]     one section per parameter group (EPR)\n");
    for (int i = 0; i < N_GROUP_KEYS; i++) fprintf(f, "    %-16s %s\n", GROUP_KEYS[i][0], GROUP_KEYS[i][1]);
}
