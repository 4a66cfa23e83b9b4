/* run/config.c — see config.h: parsing an experiment file (INI, through
 * inih) and its --set overrides into a cfg_experiment by the key table
 * (config_keys.c), with line numbers, continuation lines, duplicate and
 * unknown keys refused; then the checks (config_check.c).  May call: libc,
 * inih. */
#include "run/config.h"
#include "run/config_internal.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define KEYS CFG_KEYS
#define N_KEYS CFG_N_KEYS

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
    int line; /* current line (1-based), counted by our reader */
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
static int apply(cfg_experiment *cfg, const char *section, const char *key, const char *value, const char *where,
                 int line, int append, epr_err *err) {
    char why[256] = "";
    if (!strncmp(section, "group.", 6)) {
        const char *gname = section + 6;
        RETURN_ERROR_IF(!*gname, err, EPR_EARG, "%s: [%s] needs a group name, e.g. [group.fc]", where, section);
        cfg_group *g = find_group(cfg, gname, 1, line);
        RETURN_ERROR_IF(!g, err, EPR_EARG, "%s: [%s]: more than %d groups", where, section, CFG_MAX_GROUPS);
        if (set_group_key(g, key, value, append, why, sizeof why))
            return cmn_fail(err, EPR_EARG, "%s: [%s] %s: %s", where, section, key, why);
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
            return cmn_fail(err, EPR_EARG, "%s: [%s] %s: %s", where, section, key, why);
        return 0;
    }
    if (!section_known)
        return cmn_fail(err, EPR_EARG,
                        "%s: unknown section [%s] (sections: data, model, train, epr, baseline, group.NAME)", where,
                        section);
    return cmn_fail(err, EPR_EARG, "%s: [%s] unknown key '%s' (see `epr train --help`)", where, section, key);
}

/* Records a section header (name "") or a key line; a second one of the
 * same name is an error naming both lines. */
static int note_seen(parse_ctx *c, const char *section, const char *key) {
    for (int i = 0; i < c->n_seen; i++) {
        const cfg_seen *s = &c->seen[i];
        if (strcmp(s->section, section) || strcmp(s->key, key)) continue;
        if (key[0])
            cmn_fail(c->err, EPR_EARG, "%s:%d: [%s] %s is given twice (first at line %d)", c->path, c->line, section,
                     key, s->line);
        else
            cmn_fail(c->err, EPR_EARG, "%s:%d: section [%s] is given twice (first at line %d); merge the two", c->path,
                     c->line, section, s->line);
        c->failed = 1;
        return 1;
    }
    if (c->n_seen == c->cap_seen) {
        int cap = c->cap_seen ? 2 * c->cap_seen : 64;
        cfg_seen *t = realloc(c->seen, (size_t)cap * sizeof *t);
        if (!t) {
            cmn_fail(c->err, EPR_ENOMEM, "out of memory");
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
        cmn_fail(c->err, EPR_EARG, "%s:%d: unterminated section header '%s' (expected [NAME])", c->path, c->line,
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
    RETURN_ERROR_IF(c.long_line, err, EPR_EARG,
                    "%s:%d: line too long (at most %d characters; split layer lists over lines)", path, c.long_line,
                    INI_MAX_LINE - 2);
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
    return cfg_validate(cfg, err);
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
                return cmn_fail(err, EPR_EFORMAT, "%s: experiment file larger than 64 MiB", path);
            }
            char *t = realloc(buf, cap);
            if (!t) {
                free(buf);
                fclose(f);
                return cmn_fail(err, EPR_ENOMEM, "out of memory");
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
        return cmn_fail(err, EPR_EIO, "%s: read error", path);
    }
    buf[n] = 0;
    if (memchr(buf, 0, n)) {
        free(buf);
        return cmn_fail(err, EPR_EFORMAT, "%s: contains NUL bytes (not a text INI file)", path);
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
