/* test_prune — the Deep Compression baseline's training-time parts
 * (harness/prune.h): 1-D k-means on small known cases, the pruning count
 * and order, the tied (centroid) gradient against central differences of
 * the loss in the centroid, the optimizers keeping clusters bit-identical
 * and pruned weights exactly 0, and the resume rule (the state rebuilt from
 * the weights ties gradients exactly as the state built by the events).
 * End to end (training, resume, MPI): tests/mpi/mpi_tests.sh prune_kmeans. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/rng.h"
#include "run/prune.h"

/* ---- k-means ---------------------------------------------------------- */

/* Nearest centroid by brute force, ties to the lower index (the oracle). */
static int32_t brute_nearest(const float *c, int k, float x) {
    int32_t best = 0;
    for (int j = 1; j < k; j++)
        if (fabs((double)x - (double)c[j]) < fabs((double)x - (double)c[best])) best = j;
    return best;
}

static void check_kmeans_result(const float *x, size_t n, int k, const float *c, const int32_t *a) {
    for (int j = 1; j < k; j++) assert_true(c[j - 1] <= c[j]);
    for (size_t i = 0; i < n; i++) {
        assert_true(a[i] >= 0 && a[i] < k);
        assert_int_equal(a[i], brute_nearest(c, k, x[i]));
    }
}

static void test_kmeans_two_blobs(void **st) {
    (void)st;
    float x[100], c[2];
    int32_t a[100];
    double s0 = 0, s1 = 0;
    for (int i = 0; i < 100; i++) { /* interleaved: blob -1 and blob +2 */
        float d = 0.01f * (float)(i % 7) - 0.03f;
        x[i] = i % 2 ? 2.0f + d : -1.0f + d;
        if (i % 2)
            s1 += x[i];
        else
            s0 += x[i];
    }
    int rounds = -1;
    double dist = -1;
    assert_int_equal(prune_kmeans_1d_ex(x, 100, 2, 30, c, a, &rounds, &dist), 0);
    for (int i = 0; i < 100; i++) assert_int_equal(a[i], i % 2);
    assert_float_equal(c[0], (float)(s0 / 50), 1e-6);
    assert_float_equal(c[1], (float)(s1 / 50), 1e-6);
    assert_true(rounds >= 1 && rounds < 30); /* converged */
    double want = 0;
    for (int i = 0; i < 100; i++) want += ((double)x[i] - c[i % 2]) * ((double)x[i] - c[i % 2]);
    assert_float_equal(dist, want, 1e-12);
}

static void test_kmeans_deterministic_nearest(void **st) {
    (void)st;
    enum { N = 5000, K = 15 };
    float *x = malloc(N * sizeof *x), c1[K], c2[K];
    int32_t *a1 = malloc(N * sizeof *a1), *a2 = malloc(N * sizeof *a2);
    cmn_rng r = {7, 1, 0};
    for (int i = 0; i < N; i++) { /* a skewed mixture */
        float u = cmn_rng_next_uniform(&r);
        x[i] = i % 3 ? u * u - 0.5f : 3.0f * u;
    }
    int rounds;
    assert_int_equal(prune_kmeans_1d_ex(x, N, K, 30, c1, a1, &rounds, NULL), 0);
    assert_int_equal(prune_kmeans_1d(x, N, K, 30, c2, a2), 0);
    assert_memory_equal(c1, c2, sizeof c1);
    assert_memory_equal(a1, a2, N * sizeof *a1);
    check_kmeans_result(x, N, K, c1, a1);
    /* converged: every non-empty centroid is its members' mean */
    if (rounds < 30) {
        for (int j = 0; j < K; j++) {
            double s = 0;
            long m = 0;
            for (int i = 0; i < N; i++)
                if (a1[i] == j) s += x[i], m++;
            if (m) assert_float_equal(c1[j], s / (double)m, 1e-6);
        }
    }
    /* the NULL-assign path gives the same centroids */
    assert_int_equal(prune_kmeans_1d(x, N, K, 30, c2, NULL), 0);
    assert_memory_equal(c1, c2, sizeof c1);
    /* few rounds: not converged, but the assignment is still nearest */
    assert_int_equal(prune_kmeans_1d_ex(x, N, K, 2, c1, a1, &rounds, NULL), 0);
    assert_int_equal(rounds, 2);
    check_kmeans_result(x, N, K, c1, a1);
    free(x);
    free(a1);
    free(a2);
}

static void test_kmeans_ties_to_lower(void **st) {
    (void)st;
    /* init 0, 2: x = 1 is halfway and goes to cluster 0, so the means are
     * 0.5 and 2 (with ties to the upper cluster they would be 0 and 1.5) */
    float x[3] = {0, 1, 2}, c[2];
    int32_t a[3];
    assert_int_equal(prune_kmeans_1d(x, 3, 2, 30, c, a), 0);
    assert_true(c[0] == 0.5f && c[1] == 2.0f);
    assert_true(a[0] == 0 && a[1] == 0 && a[2] == 1);
}

static void test_kmeans_empty_clusters(void **st) {
    (void)st;
    float x[40], c[5];
    int32_t a[40];
    for (int i = 0; i < 40; i++) x[i] = i % 4 ? 10.0f : 0.0f;
    double dist = -1;
    assert_int_equal(prune_kmeans_1d_ex(x, 40, 5, 30, c, a, NULL, &dist), 0);
    /* linear init 0, 2.5, 5, 7.5, 10: the middle three stay empty and keep it */
    const float want[5] = {0, 2.5f, 5, 7.5f, 10};
    assert_memory_equal(c, want, sizeof want);
    for (int i = 0; i < 40; i++) assert_int_equal(a[i], i % 4 ? 4 : 0);
    assert_true(dist == 0);
}

static void test_kmeans_degenerate(void **st) {
    (void)st;
    float c[8];
    int32_t a[3];
    /* n = 0: the linear initialisation over [0, 0] */
    for (int j = 0; j < 4; j++) c[j] = 99;
    assert_int_equal(prune_kmeans_1d(NULL, 0, 4, 30, c, NULL), 0);
    for (int j = 0; j < 4; j++) assert_true(c[j] == 0);
    assert_int_equal(prune_kmeans_1d(NULL, 0, 0, 30, c, NULL), -1);
    /* k > n: every value gets a centroid equal to itself */
    float x[3] = {3, 1, 2};
    double dist = -1;
    assert_int_equal(prune_kmeans_1d_ex(x, 3, 8, 30, c, a, NULL, &dist), 0);
    check_kmeans_result(x, 3, 8, c, a);
    for (int i = 0; i < 3; i++) assert_true(c[a[i]] == x[i]);
    assert_true(a[1] < a[2] && a[2] < a[0]);
    assert_true(dist == 0);
    /* all equal; k = 1 */
    float y[3] = {-4, -4, -4};
    assert_int_equal(prune_kmeans_1d(y, 3, 3, 30, c, a), 0);
    for (int i = 0; i < 3; i++) assert_int_equal(a[i], 0);
    assert_true(c[0] == -4);
    assert_int_equal(prune_kmeans_1d(x, 3, 1, 30, c, a), 0);
    assert_true(c[0] == 2.0f);
}

static void test_count_and_distinct(void **st) {
    (void)st;
    assert_int_equal(prune_count(0.9f, 265200), 238680); /* 0.9f < 0.9, still 9/10 */
    assert_int_equal(prune_count(0.9f, 10), 9);
    assert_int_equal(prune_count(0.7f, 10), 7);
    assert_int_equal(prune_count(0.3f, 10), 3);
    assert_int_equal(prune_count(0.5f, 3), 1);
    assert_int_equal(prune_count(0.0f, 1000), 0);
    assert_int_equal(prune_count(0.123f, 123456789), 15185185); /* floor(0.123 n) */

    float x[7] = {2, -0.0f, 1, 0.0f, 2, -3, 1}, v[8];
    int32_t idx[7];
    assert_int_equal(prune_distinct(x, 7, v, 8, idx), 4);
    const float want[4] = {-3, 0, 1, 2};
    for (int j = 0; j < 4; j++) assert_true(v[j] == want[j]);
    for (int i = 0; i < 7; i++) assert_true(v[idx[i]] == x[i]);
    assert_int_equal(prune_distinct(x, 7, v, 3, NULL), -1);
}

/* ---- training state on a small network ------------------------------- */

typedef struct {
    nn_model *m;
    float *w, *g;
    size_t np;
    float *x;
    int *labels;
    int n;
} net;

static void net_build(net *N, const char *spec, int in, int n, uint64_t seed) {
    epr_err err = {0};
    memset(N, 0, sizeof *N);
    assert_int_equal(nn_model_build(spec, in, 1, 1, n, &N->m, &err), 0);
    assert_int_equal(nn_model_alloc_params(N->m, &err), 0);
    nn_model_init_params(N->m, seed);
    N->w = nn_model_param_block(N->m);
    N->g = nn_model_grad_block(N->m);
    N->np = nn_model_num_params(N->m);
    N->n = n;
    N->x = malloc((size_t)n * in * sizeof *N->x);
    N->labels = malloc((size_t)n * sizeof *N->labels);
    cmn_rng r = {seed, 5, 0};
    for (int i = 0; i < n * in; i++) N->x[i] = 2.0f * cmn_rng_next_uniform(&r) - 1.0f;
    for (int i = 0; i < n; i++) N->labels[i] = (int)cmn_rng_below(&r, (uint64_t)nn_model_num_classes(N->m));
}

static void net_free(net *N) {
    nn_model_free(N->m);
    free(N->x);
    free(N->labels);
}

/* Mean cross-entropy of the batch, and (grad) its gradient into N->g. */
static double net_loss(net *N, int grad) {
    double L = nn_forward(N->m, N->x, N->labels, N->n, 1) / N->n;
    if (grad) nn_backward(N->m, 1.0f / (float)N->n);
    return L;
}

/* Block positions of a group's elements, in the group's element order. */
static size_t group_positions(net *N, const prune_group_def *d, size_t *pos) {
    size_t k = 0;
    for (int t = 0; t < d->n_tensors; t++) {
        nn_param *p = nn_model_tensor(N->m, nn_model_find_tensor(N->m, d->tensors[t]));
        for (size_t j = 0; j < p->size; j++) pos[k++] = (size_t)(p->w - N->w) + j;
    }
    return k;
}

static const prune_group_def FC_GROUP = {"fc", 2, {"fc1.weight", "fc2.weight"}, 0, 0};
#define SMALL_NET "dense out=8 name=fc1; dense out=3 name=fc2" /* smooth: no kinks for the differences */

static void test_pruning_order_and_zeros(void **st) {
    (void)st;
    net N;
    net_build(&N, "dense out=2 name=fc1; dense out=2 name=fc2", 2, 1, 1);
    float *fc1 = nn_model_tensor(N.m, nn_model_find_tensor(N.m, "fc1.weight"))->w;
    float *fc2 = nn_model_tensor(N.m, nn_model_find_tensor(N.m, "fc2.weight"))->w;
    /* the group lists fc2 first: elements 0-3 are fc2, 4-7 fc1 (block order
     * is the other way round), five ties at |w| = 0.1, four are pruned */
    const float v2[4] = {0.5f, 0.1f, -0.3f, 0.1f}, v1[4] = {0.1f, -0.1f, 0.9f, -0.1f};
    memcpy(fc2, v2, sizeof v2);
    memcpy(fc1, v1, sizeof v1);
    float *ema = malloc(N.np * sizeof *ema), *m1 = malloc(N.np * sizeof *m1);
    for (size_t i = 0; i < N.np; i++) ema[i] = m1[i] = 1.0f;
    prune_group_def d = {"g", 2, {"fc2.weight", "fc1.weight"}, 0, 0};
    prune_state *ps;
    epr_err err = {0};
    assert_int_equal(prune_create(N.m, N.w, N.np, &d, 1, 0.5f, 0, &ps, &err), 0);
    float *zero[3] = {ema, NULL, m1};
    assert_int_equal(prune_magnitude(ps, N.w, zero, 3, NULL, &err), 0);
    assert_int_equal(prune_group_pruned(ps, 0), 4);
    const float w2[4] = {0.5f, 0, -0.3f, 0}, w1[4] = {0, 0, 0.9f, -0.1f};
    assert_memory_equal(fc2, w2, sizeof w2);
    assert_memory_equal(fc1, w1, sizeof w1);
    for (size_t i = 0; i < N.np; i++) {
        int pruned = (N.w + i >= fc1 && N.w + i < fc1 + 4 && fc1[N.w + i - fc1] == 0) ||
                     (N.w + i >= fc2 && N.w + i < fc2 + 4 && fc2[N.w + i - fc2] == 0);
        assert_true(ema[i] == (pruned ? 0.0f : 1.0f) && m1[i] == ema[i]);
    }
    /* an exact zero beyond the count is pruned as well (the resume rule) */
    memcpy(fc2, v2, sizeof v2);
    memcpy(fc1, v1, sizeof v1);
    fc2[0] = fc2[2] = fc1[1] = fc1[2] = fc1[3] = 0.0f;
    assert_int_equal(prune_magnitude(ps, N.w, NULL, 0, NULL, &err), 0);
    assert_int_equal(prune_group_pruned(ps, 0), 5); /* five zeros, though the count is 4 */
    assert_true(fc2[1] == 0.1f && fc2[3] == 0.1f && fc1[0] == 0.1f);
    prune_free(ps);
    free(ema);
    free(m1);
    net_free(&N);
}

/* Each group prunes its own fraction when it has one (Deep Compression's
 * per-layer rates); the others the global one. */
static void test_per_group_fraction(void **st) {
    (void)st;
    net N;
    net_build(&N, "dense out=4 name=fc1; dense out=5 name=fc2", 5, 1, 1);
    for (size_t i = 0; i < N.np; i++) N.w[i] = 0.01f * (float)(i + 1); /* distinct, non-zero */
    prune_group_def d[2] = {{"a", 1, {"fc1.weight"}, 0, 0}, {"b", 1, {"fc2.weight"}, 1, 0.25f}};
    prune_state *ps;
    epr_err err = {0};
    assert_int_equal(prune_create(N.m, N.w, N.np, d, 2, 0.75f, 0, &ps, &err), 0);
    assert_int_equal(prune_magnitude(ps, N.w, NULL, 0, NULL, &err), 0);
    assert_int_equal(prune_group_pruned(ps, 0), 15); /* floor(0.75 * 20) */
    assert_int_equal(prune_group_pruned(ps, 1), 5);  /* floor(0.25 * 20) */
    /* the resume rule uses the same per-group counts */
    assert_int_equal(prune_restore(ps, N.w, 1, 0, &err), 0);
    assert_int_equal(prune_group_pruned(ps, 1), 5);
    prune_free(ps);
    prune_group_def bad[1] = {{"b", 1, {"fc2.weight"}, 1, 1.0f}};
    assert_int_equal(prune_create(N.m, N.w, N.np, bad, 1, 0.5f, 0, &ps, &err), EPR_EARG);
    assert_non_null(strstr(err.msg, "group b: prune fraction 1"));
    net_free(&N);
}

static void test_create_errors(void **st) {
    (void)st;
    net N;
    net_build(&N, SMALL_NET, 4, 1, 1);
    prune_state *ps = NULL;
    epr_err err = {0};
    prune_group_def bad = {"g", 1, {"fc9.weight"}, 0, 0};
    assert_int_equal(prune_create(N.m, N.w, N.np, &bad, 1, 0.5f, 2, &ps, &err), EPR_EARG);
    assert_non_null(strstr(err.msg, "fc9.weight"));
    prune_group_def two[2] = {{"a", 1, {"fc1.weight"}, 0, 0}, {"b", 2, {"fc2.weight", "fc1.weight"}, 0, 0}};
    assert_int_equal(prune_create(N.m, N.w, N.np, two, 2, 0.5f, 2, &ps, &err), EPR_EARG);
    assert_non_null(strstr(err.msg, "in group a and in group b"));
    prune_group_def dup = {"a", 2, {"fc1.weight", "fc1.weight"}, 0, 0};
    assert_int_equal(prune_create(N.m, N.w, N.np, &dup, 1, 0.5f, 2, &ps, &err), EPR_EARG);
    assert_int_equal(prune_create(N.m, N.w, N.np, &FC_GROUP, 1, 0.5f, 1, &ps, &err), EPR_EARG); /* 1 bit + prune */
    assert_null(ps);
    net_free(&N);
}

/* The events of a run with prune 0.3 and 2-bit sharing (3 clusters + 0). */
static prune_state *pruned_and_shared(net *N, float *ema) {
    prune_state *ps;
    epr_err err = {0};
    assert_int_equal(prune_create(N->m, N->w, N->np, &FC_GROUP, 1, 0.3f, 2, &ps, &err), 0);
    float *zero[1] = {ema};
    assert_int_equal(prune_magnitude(ps, N->w, zero, 1, NULL, &err), 0);
    assert_int_equal(prune_share_weights(ps, N->w, ema ? ema : N->w, ema, NULL, 0, PRUNE_KMEANS_ITERS, NULL, &err), 0);
    return ps;
}

/* d loss / d centroid by central differences (all members moved at once)
 * equals the tied gradient of every member, which is the sum of the
 * members' own gradients. */
static void test_tied_gradient_finite_differences(void **st) {
    (void)st;
    net N;
    net_build(&N, SMALL_NET, 6, 5, 3);
    prune_state *ps = pruned_and_shared(&N, NULL);
    assert_int_equal(prune_group_clusters(ps, 0), 3);
    size_t pos[128];
    size_t n = group_positions(&N, &FC_GROUP, pos);
    assert_int_equal(n, 6 * 8 + 8 * 3);
    assert_int_equal(prune_group_pruned(ps, 0), prune_count(0.3f, n));

    net_loss(&N, 1);
    float *g = malloc(N.np * sizeof *g), *tied = malloc(N.np * sizeof *tied);
    memcpy(g, N.g, N.np * sizeof *g);
    memcpy(tied, g, N.np * sizeof *g);
    prune_tie_grads(ps, tied);
    for (size_t i = 0; i < N.np; i++) { /* tensors outside the group: untouched */
        int grouped = 0;
        for (size_t e = 0; e < n; e++) grouped |= pos[e] == i;
        if (!grouped) assert_true(tied[i] == g[i]);
    }

    float values[4], wv[128];
    for (size_t e = 0; e < n; e++) wv[e] = N.w[pos[e]];
    long nv = prune_distinct(wv, n, values, 4, NULL);
    assert_int_equal(nv, 4); /* 0 and three centroids */
    const float eps = 1.0f / 256;
    for (long v = 0; v < nv; v++) {
        double sum = 0;
        size_t members = 0;
        for (size_t e = 0; e < n; e++)
            if (wv[e] == values[v]) sum += g[pos[e]], members++;
        float first = NAN;
        for (size_t e = 0; e < n; e++) {
            if (wv[e] != values[v]) continue;
            if (isnan(first)) first = tied[pos[e]];
            assert_true(tied[pos[e]] == first); /* one gradient for the cluster */
        }
        if (values[v] == 0)
            assert_true(first == 0 && !signbit(first));
        else
            assert_float_equal(first, sum, 1e-6 * fabs(sum));
        if (values[v] == 0) continue; /* pruned: no gradient at all */
        assert_true(members >= 2);
        const float vp = values[v] + eps, vm = values[v] - eps;
        for (size_t e = 0; e < n; e++)
            if (wv[e] == values[v]) N.w[pos[e]] = vp;
        double lp = net_loss(&N, 0);
        for (size_t e = 0; e < n; e++)
            if (wv[e] == values[v]) N.w[pos[e]] = vm;
        double lm = net_loss(&N, 0);
        for (size_t e = 0; e < n; e++)
            if (wv[e] == values[v]) N.w[pos[e]] = values[v];
        double fd = (lp - lm) / ((double)vp - (double)vm);
        fprintf(stderr, "centroid %+.5f (%zu weights): tied gradient %+.6f, central difference %+.6f\n", values[v],
                members, sum, fd);
        assert_float_equal(fd, sum, 2e-4 + 1e-3 * fabs(sum));
        /* and not the mean: the check can tell them apart */
        assert_true(fabs(fd - sum / (double)members) > 1e-3);
    }
    free(g);
    free(tied);
    prune_free(ps);
    net_free(&N);
}

/* Count the distinct values of the group and check that the partition by
 * value is the one of `ref` (the positions' values after the events). */
static void check_partition(const float *w, const size_t *pos, size_t n, const float *ref, int max_values) {
    float wv[128] = {0}, values[128];
    assert_true(n <= 128);
    for (size_t e = 0; e < n; e++) wv[e] = w[pos[e]];
    long nv = prune_distinct(wv, n, values, 128, NULL);
    assert_true(nv >= 1 && nv <= max_values);
    for (size_t e = 0; e < n; e++)
        for (size_t f = 0; f < n; f++) assert_int_equal(ref[e] == ref[f], wv[e] == wv[f]);
    for (size_t e = 0; e < n; e++)
        if (ref[e] == 0) assert_true(wv[e] == 0 && !signbit(wv[e]));
}

/* Adam and SGD (momentum, weight decay) with tied random gradients: members
 * stay bit-identical, pruned weights exactly +0, EMA alike. */
static void test_optimizers_keep_clusters(void **st) {
    (void)st;
    for (int opt = 0; opt < 2; opt++) {
        net N;
        net_build(&N, SMALL_NET, 6, 1, 4);
        float *ema = malloc(N.np * sizeof *ema), *m1 = calloc(N.np, sizeof *m1), *m2 = calloc(N.np, sizeof *m2);
        memcpy(ema, N.w, N.np * sizeof *ema);
        prune_state *ps = pruned_and_shared(&N, ema);
        size_t pos[128];
        size_t n = group_positions(&N, &FC_GROUP, pos);
        float ref[128];
        for (size_t e = 0; e < n; e++) ref[e] = N.w[pos[e]];
        nn_adam adam = {1e-2f, 0.9f, 0.999f, 1e-8f, 0};
        nn_sgd sgd = {0.05f, 0.9f, 1e-2f};
        cmn_rng r = {11, 2, 0};
        for (int step = 0; step < 50; step++) {
            for (size_t i = 0; i < N.np; i++) N.g[i] = cmn_rng_next_uniform(&r) - 0.5f;
            prune_tie_grads(ps, N.g);
            if (opt == 0)
                nn_adam_step(&adam, N.w, N.g, m1, m2, N.np);
            else
                nn_sgd_step(&sgd, N.w, N.g, m1, N.np);
            nn_ema_update(ema, N.w, N.np, 0.9f);
        }
        check_partition(N.w, pos, n, ref, 4);
        check_partition(ema, pos, n, ref, 4);
        for (size_t e = 0; e < n; e++)
            if (ref[e] != 0) assert_true(N.w[pos[e]] != ref[e]); /* the centroids did train */
        prune_free(ps);
        free(ema);
        free(m1);
        free(m2);
        net_free(&N);
    }
}

/* Resume: the state rebuilt from the weights (zeros, distinct values) ties
 * a gradient bit-identically to the one the events built. */
static void test_restore_matches_events(void **st) {
    (void)st;
    net N;
    net_build(&N, SMALL_NET, 6, 1, 5);
    prune_state *ps = pruned_and_shared(&N, NULL), *re;
    nn_adam adam = {1e-2f, 0.9f, 0.999f, 1e-8f, 0};
    float *m1 = calloc(N.np, sizeof *m1), *m2 = calloc(N.np, sizeof *m2);
    float *g1 = malloc(N.np * sizeof *g1), *g2 = malloc(N.np * sizeof *g2);
    cmn_rng r = {12, 2, 0};
    for (int step = 0; step < 10; step++) { /* the centroids move, and may reorder */
        for (size_t i = 0; i < N.np; i++) N.g[i] = cmn_rng_next_uniform(&r) - 0.5f;
        prune_tie_grads(ps, N.g);
        nn_adam_step(&adam, N.w, N.g, m1, m2, N.np);
    }
    epr_err err = {0};
    assert_int_equal(prune_create(N.m, N.w, N.np, &FC_GROUP, 1, 0.3f, 2, &re, &err), 0);
    assert_int_equal(prune_restore(re, N.w, 1, 1, &err), 0);
    assert_int_equal(prune_group_pruned(re, 0), prune_group_pruned(ps, 0));
    assert_int_equal(prune_group_clusters(re, 0), prune_group_clusters(ps, 0));
    for (size_t i = 0; i < N.np; i++) g1[i] = g2[i] = cmn_rng_next_uniform(&r) - 0.5f;
    prune_tie_grads(ps, g1);
    prune_tie_grads(re, g2);
    assert_memory_equal(g1, g2, N.np * sizeof *g1);
    prune_free(re);

    /* only pruned (between prune_at and kmeans_at): the mask alone */
    assert_int_equal(prune_create(N.m, N.w, N.np, &FC_GROUP, 1, 0.3f, 2, &re, &err), 0);
    assert_int_equal(prune_restore(re, N.w, 1, 0, &err), 0);
    for (size_t i = 0; i < N.np; i++) g1[i] = g2[i] = cmn_rng_next_uniform(&r) - 0.5f;
    prune_tie_grads(re, g2);
    for (size_t i = 0; i < N.np; i++) assert_true(g2[i] == (N.w[i] == 0 ? 0.0f : g1[i]));
    prune_free(re);

    /* weights this recipe did not write are refused */
    assert_int_equal(prune_create(N.m, N.w, N.np, &FC_GROUP, 1, 0.3f, 2, &re, &err), 0);
    nn_model_init_params(N.m, 99);
    assert_int_equal(prune_restore(re, N.w, 0, 1, &err), EPR_EFORMAT);
    assert_non_null(strstr(err.msg, "group fc"));
    assert_int_equal(prune_restore(re, N.w, 1, 0, &err), EPR_EFORMAT);
    prune_free(re);
    prune_free(ps);
    free(m1);
    free(m2);
    free(g1);
    free(g2);
    net_free(&N);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kmeans_two_blobs),
        cmocka_unit_test(test_kmeans_deterministic_nearest),
        cmocka_unit_test(test_kmeans_ties_to_lower),
        cmocka_unit_test(test_kmeans_empty_clusters),
        cmocka_unit_test(test_kmeans_degenerate),
        cmocka_unit_test(test_count_and_distinct),
        cmocka_unit_test(test_pruning_order_and_zeros),
        cmocka_unit_test(test_per_group_fraction),
        cmocka_unit_test(test_create_errors),
        cmocka_unit_test(test_tied_gradient_finite_differences),
        cmocka_unit_test(test_optimizers_keep_clusters),
        cmocka_unit_test(test_restore_matches_events),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
