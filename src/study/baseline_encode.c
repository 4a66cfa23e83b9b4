/* study/baseline_encode.c — the methods of `epr baseline` that quantise a
 * network (baseline.h): the method names, the quantisers of one group's
 * values (uniform grid, 1-D k-means, the codebook a pruned run left), the
 * groups of an experiment over a network, and baseline_encode, which writes
 * the .epr bytes through the codec.  May call: libc, libm, codec, nn,
 * run/config, run/bitstream, run/prune. */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "epr/codec.h"
#include "run/bitstream.h"
#include "run/prune.h"
#include "study/baseline_internal.h"

/* Kind, bit count and per-tensor flag of a name that cfg_baseline_method_ok
 * accepted. */
method_kind baseline_method_of(const char *name, int *bits, int *per_tensor) {
    *bits = 0;
    *per_tensor = name[0] && name[strlen(name) - 1] == 't' && (name[0] == 'u' || name[0] == 'k');
    if (!strcmp(name, "float32")) return M_FLOAT32;
    if (!strcmp(name, "gzip")) return M_GZIP;
    if (!strcmp(name, "xz")) return M_XZ;
    if (!strcmp(name, "prune-kmeans")) return M_PRUNE_KMEANS;
    if (!strncmp(name, "uniform", 7)) {
        *bits = atoi(name + 7);
        return M_UNIFORM;
    }
    *bits = atoi(name + 6);
    return M_KMEANS;
}

int baseline_parse_methods(const char *list, char (*names)[BASELINE_NAME_LEN], int max, int *n, epr_err *err) {
    *n = 0;
    size_t len = strlen(list);
    char *copy = malloc(len + 1);
    RETURN_ERROR_IF(!copy, err, EPR_ENOMEM, "out of memory");
    memcpy(copy, list, len + 1);
    int rc = 0;
    for (char *save = NULL, *tok = strtok_r(copy, ", \t\n", &save); tok && !rc; tok = strtok_r(NULL, ", \t\n", &save)) {
        if (!cfg_baseline_method_ok(tok)) {
            rc = cmn_fail(err, EPR_EARG,
                          "unknown baseline method '%.60s' (float32, gzip, xz, uniform2..uniform16, kmeans1..kmeans16, "
                          "either with a t for one grid per tensor, prune-kmeans)",
                          tok);
            break;
        }
        int seen = 0;
        for (int i = 0; i < *n; i++) seen |= !strcmp(names[i], tok);
        if (seen) continue;
        if (*n == max) {
            rc = cmn_fail(err, EPR_EARG, "more than %d baseline methods", max);
            break;
        }
        snprintf(names[(*n)++], BASELINE_NAME_LEN, "%s", tok);
    }
    free(copy);
    if (!rc && *n == 0) rc = cmn_fail(err, EPR_EARG, "no baseline method given");
    return rc;
}

/* ---- quantisers of one group's values ---------------------------------- */

void baseline_uniform(const float *x, size_t n, int bits, int32_t *phi, float *s, float *b) {
    float lo = n ? x[0] : 0.0f, hi = lo;
    for (size_t i = 1; i < n; i++) {
        if (x[i] < lo) lo = x[i];
        if (x[i] > hi) hi = x[i];
    }
    int32_t top = (int32_t)((1u << bits) - 1);
    float step = (float)(((double)hi - (double)lo) / (double)top);
    if (!(hi > lo) || !(step > 0) || !isfinite(step)) step = 1.0f;
    *s = step;
    *b = lo;
    for (size_t i = 0; i < n; i++) {
        double q = nearbyint(((double)x[i] - (double)lo) / (double)step);
        phi[i] = q < 0 ? 0 : q > top ? top : (int32_t)q;
    }
}

/* Drops the codebook entries no phi uses (empty clusters, e.g. k above the
 * number of distinct values): they would cost 4 bytes each and decode
 * nothing.  The order, hence ascending, is kept. */
static int drop_unused(float *c, int *k, int32_t *phi, size_t n, epr_err *err) {
    int32_t *to = calloc((size_t)*k + 1, sizeof *to);
    RETURN_ERROR_IF(!to, err, EPR_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) to[phi[i]] = 1;
    int kept = 0;
    for (int j = 0; j < *k; j++)
        if (to[j]) {
            c[kept] = c[j];
            to[j] = kept++;
        }
    for (size_t i = 0; i < n; i++) phi[i] = to[phi[i]];
    if (kept > 0) *k = kept; /* n = 0 keeps the whole (unused) codebook: K >= 1 */
    free(to);
    return 0;
}

/* k-means codebook of at most k entries over x (ascending, *codebook
 * malloc'd, *k_used entries) and phi = each value's entry.  zero_exact: the
 * exact zeros (pruned weights) get an entry 0 of their own and the others
 * share k - 1 centroids. */
static int kmeans_codebook(const float *x, size_t n, int k, int zero_exact, float **codebook, int *k_used, int32_t *phi,
                           epr_err *err) {
    float *c = malloc(((size_t)k + 1) * sizeof *c);
    RETURN_ERROR_IF(!c, err, EPR_ENOMEM, "out of memory");
    *codebook = c;
    *k_used = k;
    if (!zero_exact) {
        RETURN_ERROR_IF(prune_kmeans_1d(x, n, k, BASELINE_KMEANS_ITERS, c, phi), err, EPR_ENOMEM,
                        "k-means of %zu values into %d clusters failed (out of memory)", n, k);
        return drop_unused(c, k_used, phi, n, err);
    }
    size_t nz = 0;
    for (size_t i = 0; i < n; i++) nz += x[i] != 0.0f;
    float *xs = malloc((nz + 1) * sizeof *xs);
    int32_t *a = malloc((nz + 1) * sizeof *a);
    int rc = 0;
    if (!xs || !a) rc = cmn_fail(err, EPR_ENOMEM, "out of memory");
    for (size_t i = 0, j = 0; !rc && i < n; i++)
        if (x[i] != 0.0f) xs[j++] = x[i];
    if (!rc && prune_kmeans_1d(xs, nz, k - 1, BASELINE_KMEANS_ITERS, c, a))
        rc = cmn_fail(err, EPR_ENOMEM, "k-means of %zu values into %d clusters failed (out of memory)", nz, k - 1);
    if (!rc) {
        int z = 0; /* where 0 goes among the ascending centroids */
        while (z < k - 1 && c[z] < 0.0f) z++;
        memmove(c + z + 1, c + z, (size_t)(k - 1 - z) * sizeof *c);
        c[z] = 0.0f;
        for (size_t i = 0, j = 0; i < n; i++) phi[i] = x[i] == 0.0f ? z : (a[j] < z ? a[j++] : a[j++] + 1);
    }
    free(xs);
    free(a);
    return rc ? rc : drop_unused(c, k_used, phi, n, err);
}

/* ---- the groups of an experiment over a network ------------------------- */

typedef struct {
    int ng;            /* the file's groups: the experiment's, or one per grouped tensor */
    int *group_of;     /* per nn tensor: file group, or -1 for an extra */
    size_t *offset;    /* per nn tensor: start in its group's values */
    size_t *count;     /* per file group: values */
    const char **name; /* per file group: the experiment group's or the tensor's name */
} layout;

static void layout_free(layout *L) {
    free(L->group_of);
    free(L->offset);
    free(L->count);
    free(L->name);
}

/* The first experiment group that names tensor t. */
static const char *first_group_of(const cfg_experiment *cfg, const char *t) {
    for (int g = 0; g < cfg->n_groups; g++)
        for (int j = 0; j < cfg->groups[g].n_tensors; j++)
            if (!strcmp(cfg->groups[g].tensors[j], t)) return cfg->groups[g].name;
    return "";
}

/* The experiment's groups over the network; per_tensor: each of their
 * tensors a group of its own, in the experiment's order. */
static int make_layout(nn_model *net, const cfg_experiment *cfg, int per_tensor, layout *L, epr_err *err) {
    int nt = nn_model_num_tensors(net);
    memset(L, 0, sizeof *L);
    L->group_of = malloc(((size_t)nt + 1) * sizeof *L->group_of);
    L->offset = calloc((size_t)nt + 1, sizeof *L->offset);
    L->count = calloc((size_t)nt + CFG_MAX_GROUPS + 1, sizeof *L->count);
    L->name = calloc((size_t)nt + CFG_MAX_GROUPS + 1, sizeof *L->name);
    RETURN_ERROR_IF(!L->group_of || !L->offset || !L->count || !L->name, err, EPR_ENOMEM, "out of memory");
    for (int i = 0; i < nt; i++) L->group_of[i] = -1;
    for (int g = 0; g < cfg->n_groups; g++) {
        const cfg_group *G = &cfg->groups[g];
        for (int j = 0; j < G->n_tensors; j++) {
            int i = nn_model_find_tensor(net, G->tensors[j]);
            RETURN_ERROR_IF(i < 0, err, EPR_EARG, "%s: [group.%s] names tensor '%s', which the network does not have",
                            cfg->path, G->name, G->tensors[j]);
            RETURN_ERROR_IF(L->group_of[i] >= 0, err, EPR_EARG, "%s: tensor '%s' is in groups %s and %s", cfg->path,
                            G->tensors[j], first_group_of(cfg, G->tensors[j]), G->name);
            nn_param *p = nn_model_tensor(net, i);
            for (size_t e = 0; e < p->size; e++)
                RETURN_ERROR_IF(!isfinite(p->w[e]), err, EPR_ENUM, "tensor '%s' holds a non-finite value at %zu",
                                p->name, e);
            int fg = per_tensor ? L->ng++ : g;
            L->group_of[i] = fg;
            L->name[fg] = per_tensor ? p->name : G->name;
            L->offset[i] = L->count[fg];
            L->count[fg] += p->size;
        }
    }
    if (!per_tensor) L->ng = cfg->n_groups;
    return 0;
}

/* The values of group g, tensor after tensor in network order. */
static void gather(nn_model *net, const layout *L, int g, float *x) {
    for (int i = 0; i < nn_model_num_tensors(net); i++)
        if (L->group_of[i] == g) {
            nn_param *p = nn_model_tensor(net, i);
            memcpy(x + L->offset[i], p->w, p->size * sizeof *x);
        }
}

/* One group's decoder and phi for a method. */
typedef struct {
    float s, b;
    float *codebook;
    int k;
    int32_t *phi;
} group_q;

/* Appends to a description (truncating at cap). */
static void desc_append(char *desc, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void desc_append(char *desc, size_t cap, const char *fmt, ...) {
    size_t o = strlen(desc);
    if (o + 1 >= cap) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(desc + o, cap - o, fmt, ap);
    va_end(ap);
}

static int quantise_group(method_kind m, int bits, const cfg_experiment *cfg, const char *gname, const float *x,
                          size_t n, group_q *q, char *desc, size_t cap, epr_err *err) {
    if (m == M_UNIFORM) {
        baseline_uniform(x, n, bits, q->phi, &q->s, &q->b);
        return 0;
    }
    if (m == M_KMEANS) {
        return kmeans_codebook(x, n, 1 << bits, 0, &q->codebook, &q->k, q->phi, err);
    }
    /* prune-kmeans: the sorted distinct values (as training's resume rule
     * sees them, prune.h), if there are few enough */
    size_t limit = (size_t)1 << cfg->kmeans_bits;
    float *u = malloc((limit + 1) * sizeof *u);
    RETURN_ERROR_IF(!u, err, EPR_ENOMEM, "out of memory");
    long d = prune_distinct(x, n, u, (long)limit, q->phi);
    if (d == -2) {
        free(u);
        return cmn_fail(err, EPR_ENOMEM, "out of memory (%zu weights)", n);
    }
    if (d > 0) {
        q->codebook = u;
        q->k = (int)d;
        return 0;
    }
    free(u);
    int fb_bits = cfg->kmeans_bits ? cfg->kmeans_bits : BASELINE_PRUNE_ONLY_BITS;
    int zero_exact = 0;
    for (size_t i = 0; cfg->prune > 0 && i < n && !zero_exact; i++) zero_exact = x[i] == 0.0f;
    if (!strstr(desc, "; fallback"))
        desc_append(desc, cap, "; fallback to k-means with k = %d%s where a group has more than %zu distinct values:",
                    1 << fb_bits, cfg->prune > 0 ? " (0 kept exact for pruned weights)" : "", limit);
    desc_append(desc, cap, " %s", gname);
    return kmeans_codebook(x, n, 1 << fb_bits, zero_exact, &q->codebook, &q->k, q->phi, err);
}

void baseline_describe(method_kind m, int bits, int per_tensor, const cfg_experiment *cfg, char *desc, size_t cap) {
    const char *per = per_tensor ? "tensor" : "group";
    switch (m) {
    case M_FLOAT32: snprintf(desc, cap, "every tensor as a raw float32 extra (no coding)"); break;
    case M_GZIP: snprintf(desc, cap, "float32 file through gzip -9 (zlib)"); break;
    case M_XZ: snprintf(desc, cap, "float32 file through xz -9e (liblzma, CRC64)"); break;
    case M_UNIFORM: snprintf(desc, cap, "%d-bit uniform quantisation per %s, histogram-coded", bits, per); break;
    case M_KMEANS:
        snprintf(desc, cap,
                 "k-means weight sharing, codebook of up to %d entries per %s (%d iterations, no "
                 "fine-tuning), histogram-coded indices",
                 1 << bits, per, BASELINE_KMEANS_ITERS);
        break;
    case M_PRUNE_KMEANS:
        snprintf(desc, cap,
                 "codebook of the trained weights' distinct values per group (prune %g%s%s, kmeans_bits %d), "
                 "histogram-coded indices",
                 cfg->prune, cfg->prune_groups[0] ? "; " : "", cfg->prune_groups, cfg->kmeans_bits);
        break;
    }
}

int baseline_encode(nn_model *net, const cfg_experiment *cfg, const char *arch, const char *method, void **bytes,
                    size_t *len, char *desc, size_t cap, epr_err *err) {
    *bytes = NULL;
    *len = 0;
    if (cap) desc[0] = 0;
    RETURN_ERROR_IF(!cfg_baseline_method_ok(method), err, EPR_EARG, "unknown baseline method '%s'", method);
    int bits, per_tensor;
    method_kind m = baseline_method_of(method, &bits, &per_tensor);
    RETURN_ERROR_IF(m == M_GZIP || m == M_XZ, err, EPR_EARG, "baseline %s compresses the float32 file", method);
    baseline_describe(m, bits, per_tensor, cfg, desc, cap);
    int nt = nn_model_num_tensors(net), nb = nn_model_num_buffers(net);
    layout L = {0};
    size_t ngmax = (size_t)nt + CFG_MAX_GROUPS + 1; /* file groups: at most one per tensor or per experiment group */
    group_q *q = calloc(ngmax, sizeof *q);
    epr_group_spec *gs = calloc(ngmax, sizeof *gs);
    epr_tensor_spec *ts = calloc((size_t)(nt + nb) + 1, sizeof *ts);
    float *x = NULL;
    int rc = ts && q && gs ? 0 : cmn_fail(err, EPR_ENOMEM, "out of memory");
    int ng = 0;
    if (!rc && m != M_FLOAT32) {
        if (cfg->n_groups == 0)
            rc = cmn_fail(err, EPR_EARG, "%s: baseline %s quantises the experiment's parameter groups, and it has none",
                          cfg->path, method);
        if (!rc) rc = make_layout(net, cfg, per_tensor, &L, err);
        ng = rc ? 0 : L.ng;
    }
    for (int g = 0; !rc && g < ng; g++) {
        size_t n = L.count[g];
        x = malloc((n + 1) * sizeof *x);
        q[g].phi = malloc((n + 1) * sizeof *q[g].phi);
        if (!x || !q[g].phi) {
            rc = cmn_fail(err, EPR_ENOMEM, "out of memory");
            break;
        }
        gather(net, &L, g, x);
        rc = quantise_group(m, bits, cfg, L.name[g], x, n, &q[g], desc, cap, err);
        free(x);
        x = NULL;
        gs[g].ell = 1;
        gs[g].transform = EPR_TRANSFORM_IDENTITY;
        if (q[g].codebook) {
            gs[g].decoder = EPR_DECODER_CODEBOOK;
            gs[g].codebook = q[g].codebook;
            gs[g].codebook_size = q[g].k;
        } else {
            gs[g].decoder = EPR_DECODER_AFFINE;
            gs[g].scale = &q[g].s;
            gs[g].offset = &q[g].b;
        }
    }
    const int32_t **phi_of = calloc((size_t)nt + 1, sizeof *phi_of);
    if (!rc && !phi_of) rc = cmn_fail(err, EPR_ENOMEM, "out of memory");
    for (int i = 0; !rc && ng && i < nt; i++)
        if (L.group_of[i] >= 0) phi_of[i] = q[L.group_of[i]].phi + L.offset[i];
    int n = rc ? 0 : bitstream_tensor_specs(net, ng ? L.group_of : NULL, phi_of, ts);
    if (!rc) rc = epr_encode(arch, strlen(arch), gs, ng, ts, n, bytes, len, NULL, err);
    for (size_t g = 0; q && g < ngmax; g++) {
        free(q[g].phi);
        free(q[g].codebook);
    }
    free(q);
    free(gs);
    free(x);
    free(ts);
    free(phi_of);
    layout_free(&L);
    return rc;
}
