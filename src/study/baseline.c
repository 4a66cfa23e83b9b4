/* study/baseline.c — see baseline.h and docs/baselines.md. */
#include "study/baseline.h"

#include <errno.h>
#include <lzma.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <zlib.h>

#include "common/timeutil.h"
#include "epr/codec.h"
#include "run/bitstream.h"
#include "run/data_sets.h"
#include "run/fsutil.h"
#include "run/h5run.h"
#include "run/prune.h"
#include "run/run_load.h"

/* ---- method names ------------------------------------------------------ */

typedef enum { M_FLOAT32, M_GZIP, M_XZ, M_UNIFORM, M_KMEANS, M_PRUNE_KMEANS } method_kind;

/* Kind and bit count of a name that cfg_baseline_method_ok accepted. */
static method_kind method_of(const char *name, int *bits) {
    *bits = 0;
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
            rc = epr_fail(err, EPR_EARG,
                          "unknown baseline method '%.60s' (float32, gzip, xz, uniform2..uniform16, kmeans1..kmeans16, "
                          "prune-kmeans)",
                          tok);
            break;
        }
        int seen = 0;
        for (int i = 0; i < *n; i++) seen |= !strcmp(names[i], tok);
        if (seen) continue;
        if (*n == max) {
            rc = epr_fail(err, EPR_EARG, "more than %d baseline methods", max);
            break;
        }
        snprintf(names[(*n)++], BASELINE_NAME_LEN, "%s", tok);
    }
    free(copy);
    if (!rc && *n == 0) rc = epr_fail(err, EPR_EARG, "no baseline method given");
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
static int kmeans_codebook(const float *x, size_t n, int k, int zero_exact, float **codebook, int *k_used,
                           int32_t *phi, epr_err *err) {
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
    if (!xs || !a) rc = epr_fail(err, EPR_ENOMEM, "out of memory");
    for (size_t i = 0, j = 0; !rc && i < n; i++)
        if (x[i] != 0.0f) xs[j++] = x[i];
    if (!rc && prune_kmeans_1d(xs, nz, k - 1, BASELINE_KMEANS_ITERS, c, a))
        rc = epr_fail(err, EPR_ENOMEM, "k-means of %zu values into %d clusters failed (out of memory)", nz, k - 1);
    if (!rc) {
        int z = 0; /* where 0 goes among the ascending centroids */
        while (z < k - 1 && c[z] < 0.0f) z++;
        memmove(c + z + 1, c + z, (size_t)(k - 1 - z) * sizeof *c);
        c[z] = 0.0f;
        for (size_t i = 0, j = 0; i < n; i++)
            phi[i] = x[i] == 0.0f ? z : (a[j] < z ? a[j++] : a[j++] + 1);
    }
    free(xs);
    free(a);
    return rc ? rc : drop_unused(c, k_used, phi, n, err);
}

/* ---- the groups of an experiment over a network ------------------------- */

typedef struct {
    int ng;
    int *group_of;    /* per nn tensor: group, or -1 for an extra */
    size_t *offset;   /* per nn tensor: start in its group's values */
    size_t count[CFG_MAX_GROUPS];
} layout;

static void layout_free(layout *L) {
    free(L->group_of);
    free(L->offset);
}

static int make_layout(nn_model *net, const cfg_experiment *cfg, layout *L, epr_err *err) {
    int nt = nn_model_num_tensors(net);
    memset(L, 0, sizeof *L);
    L->ng = cfg->n_groups;
    L->group_of = malloc(((size_t)nt + 1) * sizeof *L->group_of);
    L->offset = calloc((size_t)nt + 1, sizeof *L->offset);
    RETURN_ERROR_IF(!L->group_of || !L->offset, err, EPR_ENOMEM, "out of memory");
    for (int i = 0; i < nt; i++) L->group_of[i] = -1;
    for (int g = 0; g < cfg->n_groups; g++) {
        const cfg_group *G = &cfg->groups[g];
        for (int j = 0; j < G->n_tensors; j++) {
            int i = nn_model_find_tensor(net, G->tensors[j]);
            RETURN_ERROR_IF(i < 0, err, EPR_EARG, "%s: [group.%s] names tensor '%s', which the network does not have",
                            cfg->path, G->name, G->tensors[j]);
            RETURN_ERROR_IF(L->group_of[i] >= 0, err, EPR_EARG, "%s: tensor '%s' is in groups %s and %s", cfg->path,
                            G->tensors[j], cfg->groups[L->group_of[i]].name, G->name);
            nn_param *p = nn_model_tensor(net, i);
            for (size_t e = 0; e < p->size; e++)
                RETURN_ERROR_IF(!isfinite(p->w[e]), err, EPR_ENUM, "tensor '%s' holds a non-finite value at %zu",
                                p->name, e);
            L->group_of[i] = g;
            L->offset[i] = L->count[g];
            L->count[g] += p->size;
        }
    }
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
        return epr_fail(err, EPR_ENOMEM, "out of memory (%zu weights)", n);
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

static void describe(method_kind m, int bits, const cfg_experiment *cfg, char *desc, size_t cap) {
    switch (m) {
    case M_FLOAT32: snprintf(desc, cap, "every tensor as a raw float32 extra (no coding)"); break;
    case M_GZIP: snprintf(desc, cap, "float32 file through gzip -9 (zlib)"); break;
    case M_XZ: snprintf(desc, cap, "float32 file through xz -9e (liblzma, CRC64)"); break;
    case M_UNIFORM: snprintf(desc, cap, "%d-bit uniform quantisation per group, histogram-coded", bits); break;
    case M_KMEANS:
        snprintf(desc, cap, "k-means weight sharing, codebook of up to %d entries per group (%d iterations, no "
                            "fine-tuning), histogram-coded indices", 1 << bits, BASELINE_KMEANS_ITERS);
        break;
    case M_PRUNE_KMEANS:
        snprintf(desc, cap, "codebook of the trained weights' distinct values per group (prune %g%s%s, kmeans_bits %d), "
                            "histogram-coded indices", cfg->prune, cfg->prune_groups[0] ? "; " : "", cfg->prune_groups,
                 cfg->kmeans_bits);
        break;
    }
}

int baseline_encode(nn_model *net, const cfg_experiment *cfg, const char *arch, const char *method, void **bytes,
                    size_t *len, char *desc, size_t cap, epr_err *err) {
    *bytes = NULL;
    *len = 0;
    if (cap) desc[0] = 0;
    RETURN_ERROR_IF(!cfg_baseline_method_ok(method), err, EPR_EARG, "unknown baseline method '%s'", method);
    int bits;
    method_kind m = method_of(method, &bits);
    RETURN_ERROR_IF(m == M_GZIP || m == M_XZ, err, EPR_EARG, "baseline %s compresses the float32 file", method);
    describe(m, bits, cfg, desc, cap);
    int nt = nn_model_num_tensors(net), nb = nn_model_num_buffers(net);
    layout L = {0};
    group_q q[CFG_MAX_GROUPS];
    epr_group_spec gs[CFG_MAX_GROUPS + 1];
    memset(q, 0, sizeof q);
    memset(gs, 0, sizeof gs);
    epr_tensor_spec *ts = calloc((size_t)(nt + nb) + 1, sizeof *ts);
    float *x = NULL;
    int rc = ts ? 0 : epr_fail(err, EPR_ENOMEM, "out of memory");
    int ng = m == M_FLOAT32 ? 0 : cfg->n_groups;
    if (!rc && m != M_FLOAT32) {
        if (ng == 0)
            rc = epr_fail(err, EPR_EARG, "%s: baseline %s quantises the experiment's parameter groups, and it has none",
                          cfg->path, method);
        if (!rc) rc = make_layout(net, cfg, &L, err);
    }
    for (int g = 0; !rc && g < ng; g++) {
        size_t n = L.count[g];
        x = malloc((n + 1) * sizeof *x);
        q[g].phi = malloc((n + 1) * sizeof *q[g].phi);
        if (!x || !q[g].phi) {
            rc = epr_fail(err, EPR_ENOMEM, "out of memory");
            break;
        }
        gather(net, &L, g, x);
        rc = quantise_group(m, bits, cfg, cfg->groups[g].name, x, n, &q[g], desc, cap, err);
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
    if (!rc && !phi_of) rc = epr_fail(err, EPR_ENOMEM, "out of memory");
    for (int i = 0; !rc && ng && i < nt; i++)
        if (L.group_of[i] >= 0) phi_of[i] = q[L.group_of[i]].phi + L.offset[i];
    int n = rc ? 0 : bitstream_tensor_specs(net, ng ? L.group_of : NULL, phi_of, ts);
    if (!rc) rc = epr_encode(arch, strlen(arch), gs, ng, ts, n, bytes, len, NULL, err);
    for (int g = 0; g < CFG_MAX_GROUPS; g++) {
        free(q[g].phi);
        free(q[g].codebook);
    }
    free(x);
    free(ts);
    free(phi_of);
    layout_free(&L);
    return rc;
}

/* ---- gzip and xz ------------------------------------------------------- */

int baseline_gzip(const void *in, size_t n, void **out, size_t *out_n, epr_err *err) {
    *out = NULL;
    *out_n = 0;
    RETURN_ERROR_IF(n > (size_t)UINT32_MAX / 2, err, EPR_EUNSUP, "gzip: %zu bytes is too large for one call", n);
    z_stream z;
    memset(&z, 0, sizeof z);
    /* windowBits 15 + 16: a gzip wrapper (header with mtime 0, CRC-32, size) */
    RETURN_ERROR_IF(deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK, err, EPR_ENOMEM,
                    "gzip: deflateInit2 failed");
    size_t cap = deflateBound(&z, (uLong)n) + 32;
    unsigned char *buf = malloc(cap);
    if (!buf) {
        deflateEnd(&z);
        return epr_fail(err, EPR_ENOMEM, "out of memory");
    }
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)n;
    z.next_out = buf;
    z.avail_out = (uInt)cap;
    int r = deflate(&z, Z_FINISH);
    size_t got = cap - z.avail_out;
    deflateEnd(&z);
    if (r != Z_STREAM_END) {
        free(buf);
        return epr_fail(err, EPR_EIO, "gzip: deflate failed (%d)", r);
    }
    *out = buf;
    *out_n = got;
    return 0;
}

int baseline_gunzip(const void *in, size_t n, void **out, size_t *out_n, epr_err *err) {
    *out = NULL;
    *out_n = 0;
    RETURN_ERROR_IF(n > (size_t)UINT32_MAX / 2, err, EPR_EUNSUP, "gunzip: %zu bytes is too large for one call", n);
    z_stream z;
    memset(&z, 0, sizeof z);
    RETURN_ERROR_IF(inflateInit2(&z, 15 + 16) != Z_OK, err, EPR_ENOMEM, "gunzip: inflateInit2 failed");
    size_t cap = 4 * n + 1024, used = 0;
    unsigned char *buf = malloc(cap);
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)n;
    int r = Z_OK;
    while (buf && r == Z_OK) {
        if (used == cap) {
            unsigned char *p = cap < (size_t)UINT32_MAX / 4 ? realloc(buf, 2 * cap) : NULL;
            if (!p) break;
            buf = p;
            cap *= 2;
        }
        z.next_out = buf + used;
        z.avail_out = (uInt)(cap - used);
        r = inflate(&z, Z_NO_FLUSH);
        used = cap - z.avail_out;
        if (r == Z_BUF_ERROR && z.avail_out == 0) r = Z_OK; /* needs room */
    }
    inflateEnd(&z);
    if (r != Z_STREAM_END || z.avail_in != 0) {
        free(buf);
        return epr_fail(err, EPR_EFORMAT, "gunzip: not a whole gzip stream (zlib %d%s)", r,
                        r == Z_STREAM_END ? ", trailing bytes" : "");
    }
    *out = buf;
    *out_n = used;
    return 0;
}

int baseline_xz(const void *in, size_t n, void **out, size_t *out_n, epr_err *err) {
    *out = NULL;
    *out_n = 0;
    size_t cap = lzma_stream_buffer_bound(n), pos = 0;
    RETURN_ERROR_IF(cap == 0, err, EPR_EUNSUP, "xz: %zu bytes is too large", n);
    unsigned char *buf = malloc(cap);
    RETURN_ERROR_IF(!buf, err, EPR_ENOMEM, "out of memory");
    lzma_ret r = lzma_easy_buffer_encode(9 | LZMA_PRESET_EXTREME, LZMA_CHECK_CRC64, NULL, in, n, buf, &pos, cap);
    if (r != LZMA_OK) {
        free(buf);
        return epr_fail(err, r == LZMA_MEM_ERROR ? EPR_ENOMEM : EPR_EIO, "xz: lzma_easy_buffer_encode failed (%d)",
                        (int)r);
    }
    *out = buf;
    *out_n = pos;
    return 0;
}

int baseline_unxz(const void *in, size_t n, void **out, size_t *out_n, epr_err *err) {
    *out = NULL;
    *out_n = 0;
    lzma_stream z = LZMA_STREAM_INIT;
    RETURN_ERROR_IF(lzma_stream_decoder(&z, UINT64_MAX, 0) != LZMA_OK, err, EPR_ENOMEM,
                    "unxz: lzma_stream_decoder failed");
    size_t cap = 4 * n + 1024;
    unsigned char *buf = malloc(cap);
    z.next_in = in;
    z.avail_in = n;
    lzma_ret r = LZMA_OK;
    while (buf && r == LZMA_OK) {
        if (z.total_out == cap) {
            unsigned char *p = realloc(buf, 2 * cap);
            if (!p) break;
            buf = p;
            cap *= 2;
        }
        z.next_out = buf + z.total_out;
        z.avail_out = cap - z.total_out;
        r = lzma_code(&z, LZMA_FINISH);
        if (r == LZMA_BUF_ERROR && z.avail_out == 0) r = LZMA_OK;
    }
    size_t got = (size_t)z.total_out;
    lzma_end(&z);
    if (r != LZMA_STREAM_END || z.avail_in != 0) {
        free(buf);
        return epr_fail(err, EPR_EFORMAT, "unxz: not a whole xz stream (liblzma %d)", (int)r);
    }
    *out = buf;
    *out_n = got;
    return 0;
}

/* ---- files ------------------------------------------------------------- */

static int file_size(const char *path, int64_t *n, epr_err *err) {
    struct stat st;
    RETURN_ERROR_IF(stat(path, &st), err, EPR_EIO, "%s: cannot stat: %s", path, strerror(errno));
    *n = (int64_t)st.st_size;
    return 0;
}

/* Test error of the network decoded from the .epr file at path. */
static int evaluate_file(const char *path, dataset *test, int eval_batch, double *error, epr_err *err) {
    epr_file *f;
    CHECK_STATUS(epr_file_open(path, &f, err));
    int rc = bitstream_evaluate(f, test, eval_batch, error, NULL, err);
    epr_file_close(f);
    return rc;
}

typedef struct {
    nn_model *net;
    const cfg_experiment *cfg;
    const char *arch;
    dataset *test;
    const char *dir;
    int have_float32;
    baseline_result float32; /* the float32 file, once written */
} ctx;

static void path_in(const ctx *c, const char *file, char *buf, size_t cap) { snprintf(buf, cap, "%s/%s", c->dir, file); }

/* Writes an .epr method's file and evaluates the decoded file. */
static int run_epr_method(ctx *c, const char *method, baseline_result *r, epr_err *err) {
    double t0 = epr_now_s();
    void *bytes = NULL;
    size_t len = 0;
    char path[1400];
    snprintf(r->method, sizeof r->method, "%s", method);
    snprintf(r->file, sizeof r->file, "baseline_%s.epr", method);
    path_in(c, r->file, path, sizeof path);
    int rc = baseline_encode(c->net, c->cfg, c->arch, method, &bytes, &len, r->description, sizeof r->description, err);
    if (!rc) rc = fs_write_atomic(path, bytes, len, err);
    free(bytes);
    if (!rc) rc = file_size(path, &r->file_bytes, err);
    if (!rc) rc = evaluate_file(path, c->test, c->cfg->eval_batch, &r->test_error, err);
    r->seconds = epr_now_s() - t0;
    return rc;
}

static int ensure_float32(ctx *c, epr_err *err) {
    if (c->have_float32) return 0;
    CHECK_STATUS(run_epr_method(c, "float32", &c->float32, err));
    c->have_float32 = 1;
    return 0;
}

/* gzip or xz of the float32 file, checked by decompressing the file written
 * and comparing with the float32 file's bytes on disk. */
static int run_wrapped(ctx *c, method_kind m, baseline_result *r, epr_err *err) {
    CHECK_STATUS(ensure_float32(c, err));
    double t0 = epr_now_s();
    const char *method = m == M_GZIP ? "gzip" : "xz";
    char src[1400], path[1400];
    snprintf(r->method, sizeof r->method, "%s", method);
    snprintf(r->file, sizeof r->file, "%.80s.%s", c->float32.file, m == M_GZIP ? "gz" : "xz");
    describe(m, 0, c->cfg, r->description, sizeof r->description);
    path_in(c, c->float32.file, src, sizeof src);
    path_in(c, r->file, path, sizeof path);
    void *raw = NULL, *packed = NULL, *back = NULL, *disk = NULL;
    size_t nraw = 0, npacked = 0, nback = 0, ndisk = 0;
    int rc = fs_read_file(src, &raw, &nraw, err);
    if (!rc) rc = (m == M_GZIP ? baseline_gzip : baseline_xz)(raw, nraw, &packed, &npacked, err);
    if (!rc) rc = fs_write_atomic(path, packed, npacked, err);
    if (!rc) rc = fs_read_file(path, &disk, &ndisk, err);
    if (!rc) rc = (m == M_GZIP ? baseline_gunzip : baseline_unxz)(disk, ndisk, &back, &nback, err);
    if (!rc && (nback != nraw || memcmp(back, raw, nraw)))
        rc = epr_fail(err, EPR_ECRC, "%s: does not decompress to the bytes of %s", path, src);
    if (!rc) rc = file_size(path, &r->file_bytes, err);
    r->test_error = c->float32.test_error; /* the same bytes, so the same network */
    r->seconds = epr_now_s() - t0;
    free(raw);
    free(packed);
    free(back);
    free(disk);
    return rc;
}

/* ---- baselines.h5 ------------------------------------------------------ */

static const char *const ATTR_NAMES[] = {"method", "file", "file_bytes", "test_error", "seconds", "description"};

int baseline_h5_read(const char *path, baseline_result **res, int *n, char **experiment, epr_err *err) {
    *res = NULL;
    *n = 0;
    if (experiment) *experiment = NULL;
    h5run *h = NULL;
    char **names = NULL;
    int nn = 0;
    int rc = h5run_open(path, &h, err);
    if (!rc && experiment) rc = h5run_get_strdup(h, "/", "experiment", experiment, err);
    if (!rc) rc = h5run_list(h, "/methods", &names, &nn, err);
    baseline_result *r = NULL;
    if (!rc && !(r = calloc((size_t)nn + 1, sizeof *r))) rc = epr_fail(err, EPR_ENOMEM, "out of memory");
    for (int i = 0; !rc && i < nn; i++) {
        char obj[300];
        snprintf(obj, sizeof obj, "/methods/%.200s", names[i]);
        rc = h5run_get_str(h, obj, ATTR_NAMES[0], r[i].method, sizeof r[i].method, err);
        if (!rc) rc = h5run_get_str(h, obj, ATTR_NAMES[1], r[i].file, sizeof r[i].file, err);
        if (!rc) rc = h5run_get_i64(h, obj, ATTR_NAMES[2], &r[i].file_bytes, err);
        if (!rc) rc = h5run_get_f64(h, obj, ATTR_NAMES[3], &r[i].test_error, err);
        if (!rc) rc = h5run_get_f64(h, obj, ATTR_NAMES[4], &r[i].seconds, err);
        if (!rc) rc = h5run_get_str(h, obj, ATTR_NAMES[5], r[i].description, sizeof r[i].description, err);
        if (!rc && strcmp(r[i].method, names[i]))
            rc = epr_fail(err, EPR_EFORMAT, "%s: %s says method '%s'", path, obj, r[i].method);
    }
    h5run_list_free(names, nn);
    h5run_close(h);
    if (rc) {
        free(r);
        if (experiment) {
            free(*experiment);
            *experiment = NULL;
        }
        return rc;
    }
    *res = r;
    *n = nn;
    return 0;
}

/* The methods an existing dir/baselines.h5 holds for the same experiment
 * (none if it is absent or was written for another experiment); an
 * unreadable file is an error naming it. */
static int read_old(const ctx *c, const baseline_source *src, baseline_result **old, int *n_old, FILE *log,
                    epr_err *err) {
    char path[1400];
    path_in(c, BASELINE_H5, path, sizeof path);
    *old = NULL;
    *n_old = 0;
    if (!fs_exists(path)) return 0;
    char *exp = NULL;
    int rc = baseline_h5_read(path, old, n_old, &exp, err);
    if (rc) {
        char m[sizeof err->msg];
        snprintf(m, sizeof m, "%s", err->msg);
        snprintf(err->msg, sizeof err->msg, "%.300s (%.120s cannot be merged with: move it away to start afresh)", m,
                 path);
        return rc;
    }
    if (strcmp(exp, src->experiment ? src->experiment : "")) {
        if (log) fprintf(log, "%s was written for another experiment: its %d method%s will be dropped\n", path,
                         *n_old, *n_old == 1 ? "" : "s");
        *n_old = 0;
    }
    free(exp);
    return 0;
}

/* Writes dir/baselines.h5: the new results and the old ones not recomputed. */
static int write_h5(const ctx *c, const baseline_source *src, const baseline_result *res, int n,
                    const baseline_result *old, int n_old, FILE *log, epr_err *err) {
    char path[1400];
    path_in(c, BASELINE_H5, path, sizeof path);
    int total = n;
    baseline_result *all = calloc((size_t)(n + n_old) + 1, sizeof *all);
    RETURN_ERROR_IF(!all, err, EPR_ENOMEM, "out of memory");
    memcpy(all, res, (size_t)n * sizeof *all);
    for (int i = 0; i < n_old; i++) {
        int again = 0;
        for (int j = 0; j < n; j++) again |= !strcmp(old[i].method, res[j].method);
        if (!again) all[total++] = old[i];
    }
    h5run_attr *attrs = calloc((size_t)total * 6 + 1, sizeof *attrs);
    h5run_group *groups = calloc((size_t)total + 1, sizeof *groups);
    char(*gpath)[64] = calloc((size_t)total + 1, sizeof *gpath);
    int rc = 0;
    if (!attrs || !groups || !gpath) rc = epr_fail(err, EPR_ENOMEM, "out of memory");
    for (int i = 0; !rc && i < total; i++) {
        h5run_attr *a = attrs + 6 * i;
        a[0] = h5run_str(ATTR_NAMES[0], all[i].method);
        a[1] = h5run_str(ATTR_NAMES[1], all[i].file);
        a[2] = h5run_i64(ATTR_NAMES[2], all[i].file_bytes);
        a[3] = h5run_f64(ATTR_NAMES[3], all[i].test_error);
        a[4] = h5run_f64(ATTR_NAMES[4], all[i].seconds);
        a[5] = h5run_str(ATTR_NAMES[5], all[i].description);
        snprintf(gpath[i], sizeof gpath[i], "/methods/%s", all[i].method);
        groups[i] = (h5run_group){gpath[i], a, 6};
    }
    size_t np = nn_model_num_params(c->net);
    h5run_attr root[] = {
        h5run_str("source", "run.h5"),
        h5run_i64("steps", src->steps),
        h5run_f64("wall_seconds", src->wall_seconds),
        h5run_i64("float32_bytes", (int64_t)(4 * np)),
        h5run_i64("n_params", (int64_t)np),
        h5run_str("experiment", src->experiment ? src->experiment : ""),
    };
    h5run_desc d = {.attrs = root, .n_attrs = (int)(sizeof root / sizeof root[0]), .groups = groups, .n_groups = total};
    if (!rc) rc = h5run_write(path, &d, err);
    if (!rc && log) fprintf(log, "wrote %s (%d method%s)\n", path, total, total == 1 ? "" : "s");
    free(attrs);
    free(groups);
    free(gpath);
    free(all);
    return rc;
}

/* ---- the whole thing --------------------------------------------------- */

static void print_table(const ctx *c, const baseline_result *r, int n, FILE *log) {
    double f32 = 4.0 * (double)nn_model_num_params(c->net);
    fprintf(log, "%-14s %-28s %12s %9s %10s %8s  %s\n", "method", "file", "bytes", "vs f32", "test err", "seconds",
            "description");
    for (int i = 0; i < n; i++)
        fprintf(log, "%-14s %-28s %12lld %8.1fx %9.2f%% %8.1f  %s\n", r[i].method, r[i].file,
                (long long)r[i].file_bytes, r[i].file_bytes ? f32 / (double)r[i].file_bytes : 0.0,
                100 * r[i].test_error, r[i].seconds, r[i].description);
    fflush(log);
}

int baseline_run(nn_model *net, const cfg_experiment *cfg, const char *arch, dataset *test, const char *dir,
                 const char *methods, const baseline_source *src, FILE *log, epr_err *err) {
    char names[BASELINE_MAX_METHODS][BASELINE_NAME_LEN];
    int n = 0;
    CHECK_STATUS(baseline_parse_methods(methods, names, BASELINE_MAX_METHODS, &n, err));
    ctx c = {.net = net, .cfg = cfg, .arch = arch, .test = test, .dir = dir};
    /* an unreadable baselines.h5 is reported before any work is done */
    baseline_result *old = NULL;
    int n_old = 0;
    CHECK_STATUS(read_old(&c, src, &old, &n_old, log, err));
    size_t np = nn_model_num_params(net);
    if (log) {
        fprintf(log, "post-training baselines (docs/baselines.md) of %zu parameters (float32 %zu bytes) into %s: %d "
                     "method%s\n",
                np, 4 * np, dir, n, n == 1 ? "" : "s");
        fflush(log);
    }
    baseline_result *res = calloc(BASELINE_MAX_METHODS, sizeof *res);
    if (!res) {
        free(old);
        return epr_fail(err, EPR_ENOMEM, "out of memory");
    }
    int rc = 0, done = 0;
    for (int i = 0; !rc && i < n; i++) {
        int bits;
        method_kind m = method_of(names[i], &bits);
        if (log) {
            fprintf(log, "baseline %d/%d %s ...\n", i + 1, n, names[i]);
            fflush(log);
        }
        if (m == M_GZIP || m == M_XZ) {
            rc = run_wrapped(&c, m, &res[i], err);
        } else if (m == M_FLOAT32) {
            rc = ensure_float32(&c, err);
            res[i] = c.float32;
        } else {
            rc = run_epr_method(&c, names[i], &res[i], err);
        }
        done += !rc;
        if (!rc && log) {
            fprintf(log, "  wrote %s/%s: %lld bytes (float32 / size = %.1fx), test error %.2f%% of the decoded "
                         "file, %.1f s\n",
                    dir, res[i].file, (long long)res[i].file_bytes,
                    res[i].file_bytes ? 4.0 * (double)np / (double)res[i].file_bytes : 0.0, 100 * res[i].test_error,
                    res[i].seconds);
            fflush(log);
        }
        if (rc) {
            char m2[sizeof err->msg];
            snprintf(m2, sizeof m2, "%s", err->msg);
            snprintf(err->msg, sizeof err->msg, "baseline %s: %.400s", names[i], m2);
        }
    }
    if (log && done) print_table(&c, res, done, log);
    /* the methods done before a failure are kept (their files exist) */
    if (done) {
        epr_err werr = {0};
        int wrc = write_h5(&c, src, res, done, old, n_old, log, &werr);
        if (!rc && wrc) {
            rc = wrc;
            *err = werr;
        }
    }
    free(old);
    free(res);
    return rc;
}

int baseline_after_training(nn_model *net, const cfg_experiment *cfg, const char *arch, dataset *test,
                            const char *dir, long steps, double wall_seconds, FILE *log, epr_err *err) {
    if (!cfg->baseline_post[0]) return 0;
    if (cfg->epr_enabled) {
        if (log) fprintf(log, "[baseline] post is ignored for an EPR run (baselines are made from plain runs)\n");
        return 0;
    }
    baseline_source src = {cfg->text, steps, wall_seconds};
    return baseline_run(net, cfg, arch, test, dir, cfg->baseline_post, &src, log, err);
}

/* No file the methods write in dir (baselines.h5, baseline_M.epr and the
 * float32 file's .gz / .xz) may be the run file they are made from. */
static int check_outputs(const char *dir, const char *run_path, char names[][BASELINE_NAME_LEN], int n, epr_err *err) {
    char p[1400];
    snprintf(p, sizeof p, "%.1200s/%s", dir, BASELINE_H5);
    CHECK_STATUS(fs_check_not_input(p, run_path, "the run file", err));
    static const char *const f32[3] = {"", ".gz", ".xz"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%.1200s/baseline_float32.epr%s", dir, f32[i]);
        CHECK_STATUS(fs_check_not_input(p, run_path, "the run file", err));
    }
    for (int i = 0; i < n; i++) {
        snprintf(p, sizeof p, "%.1200s/baseline_%.40s.epr", dir, names[i]);
        CHECK_STATUS(fs_check_not_input(p, run_path, "the run file", err));
    }
    return 0;
}

int baseline_run_file(const char *run_path, const char *methods, const char *data_root, FILE *log, epr_err *err) {
    char ov[1200];
    const char *extra[1] = {ov};
    if (data_root) snprintf(ov, sizeof ov, "data.root=%s", data_root);
    run_loaded r;
    int rc = run_load_open(run_path, extra, data_root ? 1 : 0, &r, err);
    if (!rc && r.epr_enabled)
        rc = epr_fail(err, EPR_EARG,
                      "%s: an EPR run (epr.enabled = true); post-training baselines are made from a plain run "
                      "(epr train ... --set epr.enabled=false)",
                      run_path);
    if (!rc && !h5run_has(r.h, "/final"))
        rc = epr_fail(err, EPR_EARG, "%s: the run has not finished (no /final); finish it first with epr train --resume",
                      run_path);
    int64_t steps = 0;
    double wall = 0;
    if (!rc) rc = h5run_get_i64(r.h, "/", "step", &steps, err);
    if (!rc) rc = h5run_get_f64(r.h, "/final", "wall_seconds", &wall, err);
    if (!methods) methods = !rc && r.cfg.baseline_post[0] ? r.cfg.baseline_post : BASELINE_DEFAULT_METHODS;
    char names[BASELINE_MAX_METHODS][BASELINE_NAME_LEN];
    int n;
    if (!rc) rc = baseline_parse_methods(methods, names, BASELINE_MAX_METHODS, &n, err);
    if (!rc) rc = run_load_model(&r, 0, err);
    dataset train = {0}, test = {0};
    if (!rc) rc = data_load_experiment(&r.cfg, &train, &test, err);
    dataset_free(&train);
    char *dir = NULL;
    if (!rc) {
        const char *slash = strrchr(run_path, '/');
        size_t dl = slash ? (size_t)(slash - run_path) : 1;
        if (!(dir = malloc(dl + 1))) rc = epr_fail(err, EPR_ENOMEM, "out of memory");
        else if (slash && slash == run_path) strcpy(dir, "/");
        else if (slash) memcpy(dir, run_path, dl), dir[dl] = 0;
        else strcpy(dir, ".");
    }
    if (!rc && log) {
        fprintf(log, "epr baseline %s: %s on %s (%d test images), %lld steps\n", run_path, r.cfg.model_name,
                r.cfg.data_set, test.n, (long long)steps);
        fflush(log);
    }
    if (!rc) rc = check_outputs(dir, run_path, names, n, err);
    baseline_source src = {r.text, (long)steps, wall};
    if (!rc) rc = baseline_run(r.net, &r.cfg, r.arch, &test, dir, methods, &src, log, err);
    free(dir);
    dataset_free(&test);
    run_load_close(&r);
    return rc;
}
