/* model_spec.c — the model spec language: parsing a spec's layer entries
 * ("conv name=conv1 out=20 k=5; maxpool k=2; ..."), checking each key and
 * value, resolving in=/with= to earlier layers and inferring every layer's
 * input and output shape.  nn_model_build (model.c) allocates the model
 * from the layers this returns.
 *
 * Calls libc only.  Only nn_spec_parse allocates (the layer array). */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "nn/nn_internal.h"

const char *nn_op_name(nn_op op) {
    switch (op) {
    case NN_DENSE: return "dense";
    case NN_CONV: return "conv";
    case NN_MAXPOOL: return "maxpool";
    case NN_AVGPOOL: return "avgpool";
    case NN_GAP: return "gap";
    case NN_RELU: return "relu";
    case NN_BATCHNORM: return "batchnorm";
    case NN_ADD: return "add";
    case NN_FLATTEN: return "flatten";
    }
    return "?";
}

/* Keys each layer type accepts (besides name= and in=). */
static const char *allowed_keys(nn_op op) {
    switch (op) {
    case NN_DENSE: return " out bias ";
    case NN_CONV: return " out k stride pad bias ";
    case NN_MAXPOOL: return " k stride pad ";
    case NN_AVGPOOL: return " k stride ";
    case NN_BATCHNORM: return " momentum eps affine ";
    case NN_ADD: return " with ";
    default: return " ";
    }
}

/* ---- spec parsing ---- */

typedef struct {
    nn_layer L;
    char in_name[NN_NAME_MAX], with_name[NN_NAME_MAX];
} proto;

static int parse_int(const char *v, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi) return -1;
    *out = x;
    return 0;
}

static int parse_float(const char *v, float lo, float hi, float *out) {
    char *end;
    errno = 0;
    float x = strtof(v, &end);
    if (errno || end == v || *end || !(x >= lo && x <= hi)) return -1;
    *out = x;
    return 0;
}

/* Parse one non-empty layer entry (NUL-terminated, may be modified). */
static int parse_layer(char *s, int num, proto *p, epr_err *err) {
    memset(p, 0, sizeof *p);
    nn_layer *L = &p->L;
    L->stride = -1;
    L->bias = 1;
    L->momentum = 0.1f;
    L->eps = 1e-5f;
    L->wt = L->bt = L->rmean = L->rvar = -1;
    char *save = NULL, *tok = strtok_r(s, " \t\r", &save);
    static const nn_op ops[] = {NN_DENSE, NN_CONV,      NN_MAXPOOL, NN_AVGPOOL, NN_GAP,
                                NN_RELU,  NN_BATCHNORM, NN_ADD,     NN_FLATTEN};
    int found = 0;
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (strcmp(tok, nn_op_name(ops[i])) == 0) {
            L->op = ops[i];
            found = 1;
        }
    RETURN_ERROR_IF(!found, err, EPR_EARG,
                    "layer %d: unknown layer type '%s' (types: dense, conv, maxpool, avgpool, gap, relu, batchnorm, "
                    "add, flatten)",
                    num, tok);
    const char *type = nn_op_name(L->op);
    while ((tok = strtok_r(NULL, " \t\r", &save))) {
        char *eq = strchr(tok, '=');
        const char *ak = allowed_keys(L->op);
        RETURN_ERROR_IF(!eq || eq == tok, err, EPR_EARG,
                        "layer %d (%s): expected key=value, got '%s' (keys of %s: name in%.*s)", num, type, tok, type,
                        (int)strlen(ak) - 1, ak);
        *eq = '\0';
        const char *key = tok, *val = eq + 1;
        char pat[40];
        snprintf(pat, sizeof pat, " %.30s ", key);
        long iv = 0;
        if (strcmp(key, "name") == 0 || strcmp(key, "in") == 0 || (strcmp(key, "with") == 0 && L->op == NN_ADD)) {
            RETURN_ERROR_IF(!*val || strlen(val) >= NN_NAME_MAX || strchr(val, '.'), err, EPR_EARG,
                            "layer %d (%s): bad value '%s' for %s (1..%d characters, no '.')", num, type, val, key,
                            NN_NAME_MAX - 1);
            char *dst = key[0] == 'n' ? L->name : key[0] == 'i' ? p->in_name : p->with_name;
            strcpy(dst, val);
            continue;
        }
        RETURN_ERROR_IF(!strstr(ak, pat), err, EPR_EARG, "layer %d (%s): unknown key '%s' (keys of %s: name in%.*s)",
                        num, type, key, type, (int)strlen(ak) - 1, ak);
        int bad;
        const char *want = "an integer in 1..65536"; /* k, stride */
        if (strcmp(key, "out") == 0) {
            want = "an integer in 1..16777216";
            bad = parse_int(val, 1, 1 << 24, &iv);
            L->oc = (int)iv;
        } else if (strcmp(key, "k") == 0) {
            bad = parse_int(val, 1, 1 << 16, &iv);
            L->k = (int)iv;
        } else if (strcmp(key, "stride") == 0) {
            bad = parse_int(val, 1, 1 << 16, &iv);
            L->stride = (int)iv;
        } else if (strcmp(key, "pad") == 0) {
            want = "an integer in 0..65536";
            bad = parse_int(val, 0, 1 << 16, &iv);
            L->pad = (int)iv;
        } else if (strcmp(key, "bias") == 0) {
            want = "0 or 1";
            bad = parse_int(val, 0, 1, &iv);
            L->bias = (int)iv;
        } else if (strcmp(key, "affine") == 0) {
            bad = parse_int(val, 0, 1, &iv);
            L->affine = (int)iv;
        } else if (strcmp(key, "momentum") == 0) {
            want = "a number in [0, 1]";
            bad = parse_float(val, 0.0f, 1.0f, &L->momentum);
        } else { /* eps */
            want = "a number in [1e-30, 1]";
            bad = parse_float(val, 1e-30f, 1.0f, &L->eps);
        }
        RETURN_ERROR_IF(bad, err, EPR_EARG, "layer %d (%s): bad value '%s' for %s (%s)", num, type, val, key, want);
    }
    RETURN_ERROR_IF((L->op == NN_DENSE || L->op == NN_CONV) && L->oc == 0, err, EPR_EARG,
                    "layer %d (%s): out= is required", num, type);
    RETURN_ERROR_IF((L->op == NN_CONV || L->op == NN_MAXPOOL || L->op == NN_AVGPOOL) && L->k == 0, err, EPR_EARG,
                    "layer %d (%s): k= is required", num, type);
    RETURN_ERROR_IF(L->op == NN_ADD && !p->with_name[0], err, EPR_EARG, "layer %d (add): with= is required", num);
    if (L->stride < 0) L->stride = (L->op == NN_CONV) ? 1 : L->k;
    L->momentum_spec = L->momentum;
    return 0;
}

static int find_layer(const proto *ps, int n, const char *name) {
    if (strcmp(name, "input") == 0) return -1;
    for (int i = 0; i < n; i++)
        if (strcmp(ps[i].L.name, name) == 0) return i;
    return -2;
}

/* Resolve in=/with=, infer the output shape of layer i. */
static int shape_layer(proto *ps, int i, int c, int h, int w, epr_err *err) {
    nn_layer *L = &ps[i].L;
    const int num = i + 1;
    const char *type = nn_op_name(L->op);
    if (ps[i].in_name[0]) {
        L->in = find_layer(ps, i, ps[i].in_name);
        RETURN_ERROR_IF(L->in == -2, err, EPR_EARG, "layer %d (%s): unknown in=%s (must name an earlier layer)", num,
                        type, ps[i].in_name);
    } else {
        L->in = i - 1;
    }
    L->with = -1;
    if (L->op == NN_ADD) {
        L->with = find_layer(ps, i, ps[i].with_name);
        RETURN_ERROR_IF(L->with == -2, err, EPR_EARG, "layer %d (add): unknown with=%s (must name an earlier layer)",
                        num, ps[i].with_name);
    }
    if (L->in >= 0) {
        const nn_layer *P = &ps[L->in].L;
        c = P->oc, h = P->oh, w = P->ow;
    }
    L->c = c, L->h = h, L->w = w;
    L->in_size = (size_t)c * h * w;
    switch (L->op) {
    case NN_DENSE:
        L->oh = L->ow = 1;
        L->k = L->stride = 0;
        break;
    case NN_CONV:
        RETURN_ERROR_IF(h + 2 * L->pad < L->k || w + 2 * L->pad < L->k, err, EPR_EARG,
                        "layer %d (conv): kernel %d does not fit input %dx%d with pad %d", num, L->k, h, w, L->pad);
        L->oh = (h + 2 * L->pad - L->k) / L->stride + 1;
        L->ow = (w + 2 * L->pad - L->k) / L->stride + 1;
        break;
    case NN_MAXPOOL:
    case NN_AVGPOOL:
        /* pad <= k/2 (as PyTorch): every window then holds a real pixel. */
        RETURN_ERROR_IF(2 * L->pad > L->k, err, EPR_EARG, "layer %d (%s): pad %d is more than half the window %d", num,
                        type, L->pad, L->k);
        RETURN_ERROR_IF(h + 2 * L->pad < L->k || w + 2 * L->pad < L->k, err, EPR_EARG,
                        "layer %d (%s): window %d does not fit input %dx%d", num, type, L->k, h, w);
        L->oc = c;
        L->oh = (h + 2 * L->pad - L->k) / L->stride + 1;
        L->ow = (w + 2 * L->pad - L->k) / L->stride + 1;
        break;
    case NN_GAP: L->oc = c, L->oh = L->ow = 1; break;
    case NN_FLATTEN: L->oc = c * h * w, L->oh = L->ow = 1; break;
    case NN_ADD: {
        int wc = c, wh = h, ww = w; /* with=input */
        if (L->with >= 0) {
            const nn_layer *Q = &ps[L->with].L;
            wc = Q->oc, wh = Q->oh, ww = Q->ow;
        }
        RETURN_ERROR_IF(wc != c || wh != h || ww != w, err, EPR_EARG,
                        "layer %d (add): shapes differ: [%d,%d,%d] + %s [%d,%d,%d]", num, c, h, w, ps[i].with_name, wc,
                        wh, ww);
    } /* fall through */
    case NN_RELU:
    case NN_BATCHNORM: L->oc = c, L->oh = h, L->ow = w; break;
    }
    L->out_size = (size_t)L->oc * L->oh * L->ow;
    /* Kernels index one sample, and a weight row, with int. */
    const size_t fan = L->op == NN_CONV ? (size_t)c * L->k * L->k * L->oh * L->ow : L->in_size;
    RETURN_ERROR_IF(L->out_size > INT_MAX / 2 || fan > INT_MAX / 2, err, EPR_EARG,
                    "layer %d (%s): output [%d,%d,%d] is too large", num, type, L->oc, L->oh, L->ow);
    return 0;
}

int nn_spec_parse(const char *spec, int c, int h, int w, nn_layer **layers, int *n_layers, epr_err *err) {
    *layers = NULL;
    *n_layers = 0;
    char *text = strdup(spec);
    RETURN_ERROR_IF(!text, err, EPR_ENOMEM, "out of memory parsing the model spec");
    /* Strip comments: '#' to end of line. */
    for (char *p = text; *p; p++)
        if (*p == '#')
            while (*p && *p != '\n') *p++ = ' ';

    proto *ps = NULL;
    int n = 0, cap = 0, rc = 0;
    char *save = NULL;
    for (char *e = strtok_r(text, ";\n", &save); e; e = strtok_r(NULL, ";\n", &save)) {
        char *q = e;
        while (isspace((unsigned char)*q)) q++;
        if (!*q) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            proto *np = realloc(ps, sizeof *ps * cap);
            if (!np) {
                rc = cmn_fail(err, EPR_ENOMEM, "out of memory parsing the model spec");
                goto done;
            }
            ps = np;
        }
        if ((rc = parse_layer(q, n + 1, &ps[n], err))) goto done;
        nn_layer *L = &ps[n].L;
        if (!L->name[0]) snprintf(L->name, sizeof L->name, "%s%d", nn_op_name(L->op), n + 1);
        if (strcmp(L->name, "input") == 0 || find_layer(ps, n, L->name) >= 0) {
            rc = cmn_fail(err, EPR_EARG, "layer %d (%s): duplicate or reserved name '%s'", n + 1, nn_op_name(L->op),
                          L->name);
            goto done;
        }
        if ((rc = shape_layer(ps, n, c, h, w, err))) goto done;
        n++;
    }
    if (n == 0) {
        rc = cmn_fail(err, EPR_EARG, "model spec has no layers");
        goto done;
    }
    *layers = malloc(sizeof **layers * n);
    if (!*layers) {
        rc = cmn_fail(err, EPR_ENOMEM, "out of memory parsing the model spec");
        goto done;
    }
    for (int i = 0; i < n; i++) (*layers)[i] = ps[i].L;
    *n_layers = n;
done:
    free(ps);
    free(text);
    return rc;
}
