/* run/prune.c — see prune.h.
 *
 * Per group the state is one int32 per element (the group's tensors
 * concatenated): PRUNED, or a cluster index (0 for every kept element before
 * weight sharing); after sharing also the block positions and clusters of the
 * kept elements alone.  prune_tie_grads is on the step's path: zeroing the
 * pruned gradients is one branch-free (SSE) pass, since the pruned/kept
 * pattern is random, and the cluster sums visit only the kept elements. */
#include "run/prune.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* ---- 1-D k-means ------------------------------------------------------ */

/* For ascending c[0..k): the nearest centroid to x, ties to the lower
 * index.  first[j] is the lowest index holding c[j]'s value. */
static int32_t nearest(const float *c, const int32_t *first, int k, float x) {
    int lo = 0, hi = k; /* first j with c[j] >= x */
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (c[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0) return 0;
    int below = first[lo - 1];
    if (lo == k) return below;
    double dl = (double)x - (double)c[below], dh = (double)c[lo] - (double)x;
    return dl <= dh ? below : lo;
}

/* Assigns every x to its nearest centroid; returns how many changed. */
static size_t assign_all(const float *x, size_t n, const float *c, int32_t *first, int k, int32_t *assign) {
    for (int j = 0; j < k; j++) first[j] = j > 0 && c[j] == c[j - 1] ? first[j - 1] : j;
    size_t changed = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t a = nearest(c, first, k, x[i]);
        changed += a != assign[i];
        assign[i] = a;
    }
    return changed;
}

int prune_kmeans_1d_ex(const float *x, size_t n, int k, int iters, float *centroids, int32_t *assign, int *rounds,
                       double *distortion) {
    if (k < 1) return -1;
    float lo = 0, hi = 0;
    for (size_t i = 0; i < n; i++) {
        if (i == 0 || x[i] < lo) lo = x[i];
        if (i == 0 || x[i] > hi) hi = x[i];
    }
    /* linear initialisation; monotone operations keep it ascending */
    for (int j = 0; j < k; j++)
        centroids[j] = k == 1 ? lo : (float)((double)lo + ((double)hi - (double)lo) * j / (k - 1));

    int32_t *own = assign ? NULL : malloc(n * sizeof *own + 1);
    double *sum = malloc((size_t)k * sizeof *sum);
    size_t *count = malloc((size_t)k * sizeof *count);
    float *mn = malloc((size_t)k * sizeof *mn), *mx = malloc((size_t)k * sizeof *mx);
    int32_t *first = malloc((size_t)k * sizeof *first);
    int rc = -1;
    if ((!assign && !own) || !sum || !count || !mn || !mx || !first) goto done;
    if (!assign) assign = own;
    for (size_t i = 0; i < n; i++) assign[i] = -1;

    int r = 0;
    size_t changed = 1;
    for (; r < iters; r++) {
        changed = assign_all(x, n, centroids, first, k, assign);
        if (!changed) break;
        memset(sum, 0, (size_t)k * sizeof *sum);
        memset(count, 0, (size_t)k * sizeof *count);
        for (size_t i = 0; i < n; i++) {
            int32_t a = assign[i];
            if (!count[a] || x[i] < mn[a]) mn[a] = x[i];
            if (!count[a] || x[i] > mx[a]) mx[a] = x[i];
            sum[a] += x[i];
            count[a]++;
        }
        for (int j = 0; j < k; j++) {
            if (!count[j]) continue; /* an empty cluster keeps its centroid */
            /* clamped into the members' range: the members of two clusters
             * are disjoint intervals, so their centroids stay apart */
            float m = (float)(sum[j] / (double)count[j]);
            centroids[j] = m < mn[j] ? mn[j] : m > mx[j] ? mx[j] : m;
        }
        /* ascending in exact arithmetic; make sure of it under rounding */
        for (int j = 1; j < k; j++)
            for (int i = j; i > 0 && centroids[i] < centroids[i - 1]; i--) {
                float t = centroids[i];
                centroids[i] = centroids[i - 1];
                centroids[i - 1] = t;
            }
    }
    if (changed) assign_all(x, n, centroids, first, k, assign); /* nearest to what is returned */
    if (rounds) *rounds = r;
    if (distortion) {
        double d = 0;
        for (size_t i = 0; i < n; i++) {
            double e = (double)x[i] - (double)centroids[assign[i]];
            d += e * e;
        }
        *distortion = d;
    }
    rc = 0;
done:
    free(own);
    free(sum);
    free(count);
    free(mn);
    free(mx);
    free(first);
    return rc;
}

int prune_kmeans_1d(const float *x, size_t n, int k, int iters, float *centroids, int32_t *assign) {
    return prune_kmeans_1d_ex(x, n, k, iters, centroids, assign, NULL, NULL);
}

size_t prune_count(float prune, size_t n) {
    if (!(prune > 0)) return 0;
    uint64_t q = (uint64_t)llround((double)prune * 1e7); /* prune to 7 decimals, as q / 10^7 */
    if (q >= 10000000u) return n;
    /* q < 2^24: q·n fits in 64 bits for any group below 2^40 elements */
    return (size_t)(((uint64_t)n / 10000000u) * q + ((uint64_t)n % 10000000u) * q / 10000000u);
}

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

long prune_distinct(const float *x, size_t n, float *values, long max, int32_t *index) {
    float *s = malloc(n * sizeof *s + 1);
    if (!s) return -2;
    memcpy(s, x, n * sizeof *s);
    qsort(s, n, sizeof *s, cmp_float);
    long m = 0;
    for (size_t i = 0; i < n; i++) {
        if (m && s[i] == values[m - 1]) continue;
        if (m == max) {
            m = -1;
            break;
        }
        values[m++] = s[i];
    }
    free(s);
    if (m < 0 || !index) return m;
    for (size_t i = 0; i < n; i++) { /* x[i] is one of values[]: binary search */
        long lo = 0, hi = m - 1;
        while (lo < hi) {
            long mid = lo + (hi - lo) / 2;
            if (values[mid] < x[i])
                lo = mid + 1;
            else
                hi = mid;
        }
        index[i] = (int32_t)lo;
    }
    return m;
}

/* ---- training state --------------------------------------------------- */

#define PRUNED (-1)

typedef struct {
    char name[64];
    float prune; /* this group's pruning fraction (when pruning is on) */
    int n_ranges;
    size_t off[PRUNE_MAX_TENSORS], len[PRUNE_MAX_TENSORS];
    size_t n;     /* elements */
    int32_t *cls; /* [n]: PRUNED or cluster */
    int k;        /* clusters (0 before sharing) */
    double *sum;  /* [4 x max clusters] scratch of prune_tie_grads */
    size_t n_pruned;
    size_t *kept_pos;  /* after sharing: block positions of the kept elements */
    int32_t *kept_cls; /* and their clusters */
} pgroup;

struct prune_state {
    float prune;
    int kmeans_bits, max_clusters;
    int phase; /* 0: nothing yet, 1: pruned, 2: shared */
    int n_groups;
    pgroup *g;
};

/* Visit group elements: e is the element, i its position in the block. */
#define FOR_ELEMENTS(G, e, i)                                    \
    for (size_t r_ = 0, e = 0; r_ < (size_t)(G)->n_ranges; r_++) \
        for (size_t i = (G)->off[r_], end_ = i + (G)->len[r_]; i < end_; i++, e++)

int prune_create(nn_model *net, const float *block, size_t block_n, const prune_group_def *groups, int n_groups,
                 float prune, int kmeans_bits, prune_state **out, epr_err *err) {
    *out = NULL;
    RETURN_ERROR_IF(!(prune >= 0 && prune < 1), err, EPR_EARG, "prune fraction %g is not in [0, 1)", prune);
    RETURN_ERROR_IF(kmeans_bits < 0 || kmeans_bits > 16 || (prune > 0 && kmeans_bits == 1), err, EPR_EARG,
                    "kmeans_bits %d is not in 0..16 (2..16 with pruning)", kmeans_bits);
    prune_state *ps = calloc(1, sizeof *ps);
    if (ps) ps->g = calloc((size_t)(n_groups > 0 ? n_groups : 1), sizeof *ps->g);
    if (!ps || !ps->g) {
        free(ps);
        return cmn_fail(err, EPR_ENOMEM, "out of memory");
    }
    ps->prune = prune;
    ps->kmeans_bits = kmeans_bits;
    ps->max_clusters = kmeans_bits ? (1 << kmeans_bits) - (prune > 0) : 0;
    ps->n_groups = n_groups;
    int rc = 0;
    for (int gi = 0; gi < n_groups && !rc; gi++) {
        const prune_group_def *d = &groups[gi];
        pgroup *G = &ps->g[gi];
        snprintf(G->name, sizeof G->name, "%s", d->name);
        G->prune = d->has_prune ? d->prune : prune;
        if (!(G->prune >= 0 && G->prune < 1)) {
            rc = cmn_fail(err, EPR_EARG, "group %s: prune fraction %g is not in [0, 1)", d->name, G->prune);
            break;
        }
        if (d->n_tensors < 1 || d->n_tensors > PRUNE_MAX_TENSORS) {
            rc = cmn_fail(err, EPR_EARG, "group %s: %d tensors (1..%d)", d->name, d->n_tensors, PRUNE_MAX_TENSORS);
            break;
        }
        for (int j = 0; j < d->n_tensors && !rc; j++) {
            int t = nn_model_find_tensor(net, d->tensors[j]);
            nn_param *p = t < 0 ? NULL : nn_model_tensor(net, t);
            if (!p) {
                rc = cmn_fail(err, EPR_EARG, "group %s: the network has no tensor '%s'", d->name, d->tensors[j]);
            } else if (p->w < block || p->w + p->size > block + block_n) {
                rc = cmn_fail(err, EPR_EARG, "group %s: tensor %s is not in the trained block", d->name, p->name);
            } else {
                G->off[j] = (size_t)(p->w - block);
                G->len[j] = p->size;
                G->n += p->size;
                G->n_ranges = j + 1;
                /* overlap with a range listed before, in this group or another */
                for (int h = 0; h <= gi && !rc; h++)
                    for (int q = 0; q < ps->g[h].n_ranges - (h == gi) && !rc; q++)
                        if (ps->g[h].off[q] == G->off[j])
                            rc = cmn_fail(err, EPR_EARG, "tensor %s is in group %s and in group %s", p->name,
                                          ps->g[h].name, d->name);
            }
        }
        if (!rc) {
            G->cls = calloc(G->n + 1, sizeof *G->cls);
            G->sum = calloc(4 * (size_t)ps->max_clusters + 1, sizeof *G->sum);
            if (!G->cls || !G->sum) rc = cmn_fail(err, EPR_ENOMEM, "out of memory (group %s)", G->name);
        }
    }
    if (rc) {
        prune_free(ps);
        return rc;
    }
    *out = ps;
    return 0;
}

void prune_free(prune_state *ps) {
    if (!ps) return;
    for (int i = 0; i < ps->n_groups; i++) {
        free(ps->g[i].cls);
        free(ps->g[i].sum);
        free(ps->g[i].kept_pos);
        free(ps->g[i].kept_cls);
    }
    free(ps->g);
    free(ps);
}

int prune_num_groups(const prune_state *ps) { return ps->n_groups; }
size_t prune_group_size(const prune_state *ps, int g) { return ps->g[g].n; }
size_t prune_group_pruned(const prune_state *ps, int g) { return ps->g[g].n_pruned; }
int prune_group_clusters(const prune_state *ps, int g) { return ps->g[g].k; }

static size_t max_group(const prune_state *ps) {
    size_t m = 0;
    for (int i = 0; i < ps->n_groups; i++)
        if (ps->g[i].n > m) m = ps->g[i].n;
    return m;
}

/* Pruning order: |w| ascending, then the element. */
typedef struct {
    float a;
    uint32_t e;
} mag;

static int cmp_mag(const void *x, const void *y) {
    const mag *a = x, *b = y;
    if (a->a != b->a) return a->a < b->a ? -1 : 1;
    return (a->e > b->e) - (a->e < b->e);
}

int prune_magnitude(prune_state *ps, float *w, float *const *zero, int n_zero, FILE *log, epr_err *err) {
    size_t nmax = max_group(ps);
    RETURN_ERROR_IF(nmax > UINT32_MAX, err, EPR_EARG, "a group of %zu weights is too large to prune", nmax);
    mag *m = malloc(nmax * sizeof *m + 1);
    RETURN_ERROR_IF(!m, err, EPR_ENOMEM, "out of memory for pruning (%zu weights)", nmax);
    for (int gi = 0; gi < ps->n_groups; gi++) {
        pgroup *G = &ps->g[gi];
        FOR_ELEMENTS(G, e, i) m[e] = (mag){fabsf(w[i]), (uint32_t)e};
        qsort(m, G->n, sizeof *m, cmp_mag);
        size_t cut = prune_count(G->prune, G->n);
        while (cut < G->n && m[cut].a == 0) cut++; /* every exact 0 is pruned (prune.h: resume) */
        for (size_t e = 0; e < G->n; e++) G->cls[e] = 0;
        for (size_t j = 0; j < cut; j++) G->cls[m[j].e] = PRUNED;
        G->n_pruned = cut;
        FOR_ELEMENTS(G, e, i) {
            if (G->cls[e] != PRUNED) continue;
            w[i] = 0.0f;
            for (int z = 0; z < n_zero; z++)
                if (zero[z]) zero[z][i] = 0.0f;
        }
        if (log)
            fprintf(log,
                    "  prune group %-10s %zu of %zu weights (%.2f%%) set to 0: |w| <= %.6g, smallest kept |w| %.6g\n",
                    G->name, cut, G->n, G->n ? 100.0 * (double)cut / (double)G->n : 0.0,
                    cut ? (double)m[cut - 1].a : 0.0, cut < G->n ? (double)m[cut].a : 0.0);
    }
    free(m);
    ps->phase = 1;
    return 0;
}

/* The kept elements' positions and clusters, for prune_tie_grads. */
static int index_kept(pgroup *G, epr_err *err) {
    size_t nk = G->n - G->n_pruned;
    free(G->kept_pos);
    free(G->kept_cls);
    G->kept_pos = malloc(nk * sizeof *G->kept_pos + 1);
    G->kept_cls = malloc(nk * sizeof *G->kept_cls + 1);
    RETURN_ERROR_IF(!G->kept_pos || !G->kept_cls, err, EPR_ENOMEM, "out of memory (group %s)", G->name);
    size_t j = 0;
    FOR_ELEMENTS(G, e, i) {
        if (G->cls[e] == PRUNED) continue;
        G->kept_pos[j] = i;
        G->kept_cls[j++] = G->cls[e];
    }
    return 0;
}

int prune_share_weights(prune_state *ps, float *w, const float *from, float *ema, float *const *reset, int n_reset,
                        int iters, FILE *log, epr_err *err) {
    RETURN_ERROR_IF(!ps->max_clusters, err, EPR_EARG, "weight sharing is off (kmeans_bits = 0)");
    size_t nmax = max_group(ps);
    int k = ps->max_clusters;
    float *x = malloc(nmax * sizeof *x + 1), *c = malloc((size_t)k * sizeof *c);
    int32_t *a = malloc(nmax * sizeof *a + 1);
    int32_t *map = malloc((size_t)k * sizeof *map);
    int rc = 0;
    if (!x || !c || !a || !map) rc = cmn_fail(err, EPR_ENOMEM, "out of memory for k-means (%zu weights)", nmax);
    for (int gi = 0; gi < ps->n_groups && !rc; gi++) {
        pgroup *G = &ps->g[gi];
        size_t nk = 0;
        FOR_ELEMENTS(G, e, i) if (G->cls[e] != PRUNED) x[nk++] = from[i];
        int rounds = 0;
        double dist = 0;
        if (prune_kmeans_1d_ex(x, nk, k, iters, c, a, &rounds, &dist)) {
            rc = cmn_fail(err, EPR_ENOMEM, "out of memory for k-means (group %s)", G->name);
            break;
        }
        /* Number the clusters that have members by ascending centroid,
         * as prune_restore does from the values; with pruning a centroid
         * that is exactly 0 is the pruned entry. */
        memset(map, 0, (size_t)k * sizeof *map);
        for (size_t t = 0; t < nk; t++) map[a[t]] = 1;
        int used = 0, zero_used = 0;
        for (int q = 0; q < k; q++) {
            if (!map[q]) continue;
            if (ps->prune > 0 && c[q] == 0) {
                map[q] = PRUNED;
                zero_used = 1;
            } else {
                map[q] = used++;
            }
        }
        size_t j = 0, newly_pruned = 0;
        FOR_ELEMENTS(G, e, i) {
            for (int z = 0; z < n_reset; z++)
                if (reset[z]) reset[z][i] = 0.0f;
            if (G->cls[e] == PRUNED) continue;
            int32_t q = a[j++];
            G->cls[e] = map[q];
            float v = map[q] == PRUNED ? 0.0f : c[q];
            newly_pruned += map[q] == PRUNED;
            w[i] = v;
            if (ema) ema[i] = v;
        }
        G->n_pruned += newly_pruned;
        G->k = used;
        if ((rc = index_kept(G, err))) break;
        if (log) {
            fprintf(log,
                    "  share group %-10s %zu weights in %d of %d clusters%s, %d k-means rounds%s, "
                    "distortion %.4g (mean squared)\n",
                    G->name, nk, used + zero_used, k, ps->prune > 0 ? " (+ the pruned 0)" : "", rounds,
                    rounds < iters ? " (converged)" : "", nk ? dist / (double)nk : 0.0);
            if (newly_pruned)
                fprintf(log, "  share group %-10s a centroid was 0: its %zu weights join the pruned ones\n", G->name,
                        newly_pruned);
        }
    }
    free(x);
    free(c);
    free(a);
    free(map);
    if (!rc) ps->phase = 2;
    return rc;
}

int prune_restore(prune_state *ps, const float *w, int pruned, int shared, epr_err *err) {
    pruned = pruned && ps->prune > 0;
    shared = shared && ps->max_clusters > 0;
    if (!pruned && !shared) return 0;
    size_t nmax = max_group(ps);
    float *x = malloc(nmax * sizeof *x + 1), *v = malloc(((size_t)ps->max_clusters + 1) * sizeof *v);
    int32_t *idx = malloc(nmax * sizeof *idx + 1);
    int rc = 0;
    if (!x || !v || !idx) rc = cmn_fail(err, EPR_ENOMEM, "out of memory (%zu weights)", nmax);
    for (int gi = 0; gi < ps->n_groups && !rc; gi++) {
        pgroup *G = &ps->g[gi];
        G->n_pruned = 0;
        size_t nk = 0;
        FOR_ELEMENTS(G, e, i) {
            G->cls[e] = pruned && w[i] == 0 ? PRUNED : 0;
            if (G->cls[e] == PRUNED)
                G->n_pruned++;
            else
                x[nk++] = w[i];
        }
        G->k = 0;
        size_t want = prune_count(G->prune, G->n);
        if (pruned && G->n_pruned < want) {
            rc = cmn_fail(err, EPR_EFORMAT,
                          "group %s has %zu weights that are exactly 0, fewer than the %zu that pruning zeroed: not a "
                          "checkpoint of this pruned run",
                          G->name, G->n_pruned, want);
            break;
        }
        if (shared) {
            long m = prune_distinct(x, nk, v, ps->max_clusters, idx);
            if (m == -2) {
                rc = cmn_fail(err, EPR_ENOMEM, "out of memory (%zu weights)", nk);
                break;
            }
            if (m < 0) {
                rc = cmn_fail(err, EPR_EFORMAT,
                              "group %s holds more distinct kept weights than its %d clusters: not a checkpoint of "
                              "this weight-sharing run",
                              G->name, ps->max_clusters);
                break;
            }
            size_t j = 0;
            FOR_ELEMENTS(G, e, i) {
                (void)i;
                if (G->cls[e] != PRUNED) G->cls[e] = idx[j++];
            }
            G->k = (int)m;
            if ((rc = index_kept(G, err))) break;
        }
    }
    free(x);
    free(v);
    free(idx);
    if (!rc) ps->phase = shared ? 2 : 1;
    return rc;
}

/* g = +0 at the pruned elements of G. */
static void zero_pruned(const pgroup *G, float *g) {
    if (!G->n_pruned) return;
    const int32_t *cls = G->cls;
    for (int r = 0; r < G->n_ranges; cls += G->len[r], r++) {
        float *gr = g + G->off[r];
        size_t n = G->len[r], j = 0;
#if defined(__SSE2__)
        const __m128i pruned = _mm_set1_epi32(PRUNED);
        for (; j + 4 <= n; j += 4) {
            __m128i c = _mm_loadu_si128((const __m128i *)(cls + j));
            __m128 keep = _mm_castsi128_ps(_mm_cmpgt_epi32(c, pruned)); /* cluster >= 0 */
            _mm_storeu_ps(gr + j, _mm_and_ps(_mm_loadu_ps(gr + j), keep));
        }
#endif
        for (; j < n; j++)
            if (cls[j] == PRUNED) gr[j] = 0.0f;
    }
}

void prune_tie_grads(const prune_state *ps, float *g) {
    for (int gi = 0; gi < ps->n_groups && ps->phase; gi++) {
        const pgroup *G = &ps->g[gi];
        zero_pruned(G, g);
        if (ps->phase == 1) continue;
        /* Four partial sums per cluster (kept elements j = 0, 1, 2, 3 mod 4),
         * added as (s0 + s1) + (s2 + s3): consecutive elements of one cluster
         * do not wait for each other's addition. */
        double *s0 = G->sum, *s1 = s0 + G->k, *s2 = s1 + G->k, *s3 = s2 + G->k;
        const size_t *pos = G->kept_pos;
        const int32_t *cl = G->kept_cls;
        size_t nk = G->n - G->n_pruned, j = 0;
        memset(s0, 0, 4 * (size_t)G->k * sizeof *s0);
        for (; j + 4 <= nk; j += 4) {
            s0[cl[j]] += g[pos[j]];
            s1[cl[j + 1]] += g[pos[j + 1]];
            s2[cl[j + 2]] += g[pos[j + 2]];
            s3[cl[j + 3]] += g[pos[j + 3]];
        }
        for (double *s = s0; j < nk; j++, s += G->k) s[cl[j]] += g[pos[j]];
        for (int q = 0; q < G->k; q++) s0[q] = (s0[q] + s1[q]) + (s2[q] + s3[q]);
        for (j = 0; j < nk; j++) g[pos[j]] = (float)s0[cl[j]];
    }
}

void prune_print(const prune_state *ps, FILE *f) {
    for (int gi = 0; gi < ps->n_groups; gi++) {
        const pgroup *G = &ps->g[gi];
        fprintf(f, "  group %-10s %zu weights, %zu pruned", G->name, G->n, G->n_pruned);
        if (ps->phase == 2) fprintf(f, ", %d clusters", G->k);
        fprintf(f, "\n");
    }
}
