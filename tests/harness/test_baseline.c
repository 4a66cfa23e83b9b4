/* tests/harness/test_baseline.c — the post-training baselines
 * (harness/baseline.h, docs/baselines.md) on a tiny network and a tiny
 * in-memory test set: method lists, the uniform quantiser's error bound and
 * range, every .epr method decoded from its file (float32 bit-exact,
 * uniform within s/2, k-means onto the nearest codebook entry, prune-kmeans
 * exact or falling back), gzip/xz round trips, and baseline_run's files and
 * baselines.h5 (merging, a corrupt file refused and left untouched).  The
 * end-to-end run through `epr train` / `epr baseline` is
 * tests/harness/baseline_cli_tests.sh.  Files live under
 * EPR_BINARY_DIR/baseline_test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/rng.h"
#include "epr/codec.h"
#include "study/baseline.h"
#include "run/bitstream.h"
#include "run/fsutil.h"
#include "run/h5run.h"

/* conv (grouped with fc) -> batch norm (its bias an extra, its running
 * statistics buffers) -> dense; the biases form a second group. */
static const char *EXPERIMENT =
    "[data]\nset = mnist10k\n"
    "[model]\nname = custom\n"
    "layers = conv out=3 k=3 name=conv1 bias=0\n  batchnorm name=bn1\n  relu\n  flatten\n  dense out=4 name=fc\n"
    "[train]\nsteps = 10\n"
    "[epr]\nenabled = false\n"
    "[group.w]\ntensors = conv1.weight, fc.weight\n"
    "[group.b]\ntensors = fc.bias\n";

typedef struct {
    cfg_experiment cfg;
    nn_model *net;
    dataset test;
    char *arch;
    char dir[1024];
} fixture;

static float uniform01(uint64_t seed, uint64_t i) { return cmn_rng_uniform(seed, 7, i); }

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    epr_err e = {0};
    if (cfg_load_string(EXPERIMENT, "baseline_test.ini", NULL, 0, &f->cfg, &e)) fail_msg("%s", e.msg);
    if (nn_model_build(f->cfg.layers, 1, 6, 6, 16, &f->net, &e)) fail_msg("%s", e.msg);
    if (nn_model_alloc_params(f->net, &e)) fail_msg("%s", e.msg);
    nn_model_init_params(f->net, 3);
    /* non-trivial biases and running statistics */
    int k = 0;
    for (int i = 0; i < nn_model_num_tensors(f->net); i++) {
        nn_param *p = nn_model_tensor(f->net, i);
        if (strstr(p->name, ".bias"))
            for (size_t j = 0; j < p->size; j++) p->w[j] = 0.2f * uniform01(5, (uint64_t)k++) - 0.1f;
    }
    for (int i = 0; i < nn_model_num_buffers(f->net); i++) {
        nn_buffer *b = nn_model_buffer(f->net, i);
        for (size_t j = 0; j < b->size; j++) b->data[j] = 0.5f + uniform01(6, (uint64_t)k++);
    }
    dataset *d = &f->test;
    d->n = 40, d->c = 1, d->h = 6, d->w = 6, d->n_classes = 4;
    d->images = malloc((size_t)d->n * 36);
    d->labels = malloc((size_t)d->n * sizeof *d->labels);
    for (int i = 0; i < d->n * 36; i++) d->images[i] = (uint8_t)(255 * uniform01(8, (uint64_t)i));
    for (int i = 0; i < d->n; i++) d->labels[i] = i % 4;
    f->arch = bitstream_arch_text(f->cfg.layers, d);
    snprintf(f->dir, sizeof f->dir, "%s/baseline_test", EPR_BINARY_DIR);
    mkdir(f->dir, 0755);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    nn_model_free(f->net);
    free(f->test.images);
    free(f->test.labels);
    free(f->arch);
    cfg_free(&f->cfg);
    free(f);
    return 0;
}

/* ---- method lists ------------------------------------------------------ */

static void test_parse_methods(void **state) {
    (void)state;
    char names[8][BASELINE_NAME_LEN];
    int n = 0;
    epr_err e = {0};
    assert_int_equal(baseline_parse_methods(" float32, xz,uniform4 ,float32,kmeans16,prune-kmeans", names, 8, &n, &e),
                     0);
    assert_int_equal(n, 5);
    assert_string_equal(names[0], "float32");
    assert_string_equal(names[1], "xz");
    assert_string_equal(names[2], "uniform4");
    assert_string_equal(names[3], "kmeans16");
    assert_string_equal(names[4], "prune-kmeans");
    assert_int_equal(baseline_parse_methods("uniform4t,kmeans16t,uniform4", names, 8, &n, &e), 0);
    assert_int_equal(n, 3);
    assert_string_equal(names[0], "uniform4t");
    assert_string_equal(names[1], "kmeans16t");
    const char *bad[] = {"uniform1",     "uniform17", "kmeans0",  "kmeans17",     "gz",
                         "float32,zstd", "uniform04", "uniformt", "uniform4tt",   "uniform1t",
                         "kmeans0t",     "uniform4x", "float32t", "prune-kmeanst"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(baseline_parse_methods(bad[i], names, 8, &n, &e), EPR_EARG);
        assert_non_null(strstr(e.msg, "unknown baseline method"));
    }
    assert_int_equal(baseline_parse_methods(" , ", names, 8, &n, &e), EPR_EARG);
    assert_int_equal(baseline_parse_methods("uniform2,uniform3,uniform4", names, 2, &n, &e), EPR_EARG);
    assert_int_equal(baseline_parse_methods(BASELINE_DEFAULT_METHODS, names, 8, &n, &e), 0);
    assert_int_equal(n, 8);
}

/* ---- uniform quantisation ---------------------------------------------- */

static void test_uniform_bound_and_range(void **state) {
    (void)state;
    enum { N = 5000 };
    float *x = malloc(N * sizeof *x);
    int32_t *phi = malloc(N * sizeof *phi);
    for (int bits = 2; bits <= 16; bits++) {
        float lo = -0.3f * (float)bits, hi = 0.05f * (float)bits * (float)bits;
        for (int i = 0; i < N; i++) x[i] = lo + (hi - lo) * uniform01((uint64_t)bits, (uint64_t)i);
        x[17] = lo; /* the extremes are present */
        x[99] = hi;
        float s, b;
        baseline_uniform(x, N, bits, phi, &s, &b);
        int32_t top = (1 << bits) - 1;
        assert_true(s > 0);
        assert_true(b == lo);
        assert_int_equal(phi[17], 0);
        assert_int_equal(phi[99], top);
        double worst = 0;
        for (int i = 0; i < N; i++) {
            assert_true(phi[i] >= 0 && phi[i] <= top);
            float theta = s * (float)phi[i] + b; /* the codec's affine decoder, in float32 */
            double d = fabs((double)theta - (double)x[i]);
            if (d > worst) worst = d;
        }
        /* s/2, plus float32 rounding of s*phi + b (a few ulps of the largest |theta|) */
        double tol = 0.5 * s + 4 * ldexp(1.0, -23) * fmax(fabs(lo), fabs(hi));
        if (worst > tol) fail_msg("bits %d: max error %.9g > s/2 = %.9g", bits, worst, 0.5 * s);
    }
    /* constant input: s = 1, phi = 0, exact */
    for (int i = 0; i < 10; i++) x[i] = 0.25f;
    float s, b;
    baseline_uniform(x, 10, 4, phi, &s, &b);
    assert_true(s == 1.0f && b == 0.25f);
    for (int i = 0; i < 10; i++) assert_int_equal(phi[i], 0);
    free(x);
    free(phi);
}

/* ---- .epr methods, decoded ---------------------------------------------- */

typedef struct {
    epr_file *f;
    void *bytes;
    char desc[1024];
} encoded;

static void encode(fixture *fx, const char *method, encoded *out) {
    size_t len;
    epr_err e = {0};
    if (baseline_encode(fx->net, &fx->cfg, fx->arch, method, &out->bytes, &len, out->desc, sizeof out->desc, &e))
        fail_msg("%s: %s", method, e.msg);
    if (epr_file_open_memory(out->bytes, len, &out->f, &e)) fail_msg("%s: %s", method, e.msg);
    size_t alen;
    assert_string_equal(epr_file_arch(out->f, &alen), fx->arch);
}

static void release(encoded *x) {
    epr_file_close(x->f);
    free(x->bytes);
}

/* Decoded values of a tensor or buffer (malloc'd). */
static float *decoded(epr_file *f, const char *name, size_t n) {
    int i = epr_file_find_tensor(f, name);
    if (i < 0) fail_msg("no tensor %s in the file", name);
    epr_tensor_info ti;
    epr_err e = {0};
    assert_int_equal(epr_file_tensor_info(f, i, &ti, &e), 0);
    assert_int_equal(ti.n_elements, (int64_t)n);
    float *v = malloc(n * sizeof *v + 1);
    if (epr_file_decode_tensor(f, i, v, &e)) fail_msg("%s: %s", name, e.msg);
    return v;
}

/* Every tensor in no group and every buffer is a bit-exact float32 extra. */
static void check_extras(fixture *fx, epr_file *f, int all_extras) {
    for (int i = 0; i < nn_model_num_tensors(fx->net); i++) {
        nn_param *p = nn_model_tensor(fx->net, i);
        int grouped = !strcmp(p->name, "conv1.weight") || !strcmp(p->name, "fc.weight") || !strcmp(p->name, "fc.bias");
        if (grouped && !all_extras) continue;
        epr_tensor_info ti;
        assert_int_equal(epr_file_tensor_info(f, epr_file_find_tensor(f, p->name), &ti, NULL), 0);
        assert_int_equal(ti.group, -1);
        float *v = decoded(f, p->name, p->size);
        assert_memory_equal(v, p->w, p->size * sizeof *v);
        free(v);
    }
    for (int i = 0; i < nn_model_num_buffers(fx->net); i++) {
        nn_buffer *b = nn_model_buffer(fx->net, i);
        float *v = decoded(f, b->name, b->size);
        assert_memory_equal(v, b->data, b->size * sizeof *v);
        free(v);
    }
    assert_int_equal(epr_file_tensor_count(f), nn_model_num_tensors(fx->net) + nn_model_num_buffers(fx->net));
}

static void test_float32_bit_exact(void **state) {
    fixture *fx = *state;
    encoded x;
    encode(fx, "float32", &x);
    assert_int_equal(epr_file_group_count(x.f), 0);
    check_extras(fx, x.f, 1);
    epr_size_parts parts;
    epr_file_sizes(x.f, &parts);
    assert_int_equal(parts.coded, 0);
    assert_int_equal(parts.extras, 4 * (nn_model_num_params(fx->net) + 2 * 3)); /* + bn1's running mean and variance */
    release(&x);
}

/* The values of a group, gathered tensor after tensor. */
static size_t group_values(fixture *fx, const char *const *names, int nt, float *out) {
    size_t n = 0;
    for (int j = 0; j < nt; j++) {
        nn_param *p = nn_model_tensor(fx->net, nn_model_find_tensor(fx->net, names[j]));
        memcpy(out + n, p->w, p->size * sizeof *out);
        n += p->size;
    }
    return n;
}

static const char *const GROUP_W[] = {"conv1.weight", "fc.weight"};
static const char *const GROUP_B[] = {"fc.bias"};

static void test_uniform_file(void **state) {
    fixture *fx = *state;
    for (int bits = 2; bits <= 8; bits += 3) {
        char m[32];
        snprintf(m, sizeof m, "uniform%d", bits);
        encoded x;
        encode(fx, m, &x);
        assert_non_null(strstr(x.desc, "uniform"));
        assert_int_equal(epr_file_group_count(x.f), 2);
        check_extras(fx, x.f, 0);
        for (int g = 0; g < 2; g++) {
            const char *const *names = g ? GROUP_B : GROUP_W;
            int nt = g ? 1 : 2;
            epr_group_info gi;
            assert_int_equal(epr_file_group_info(x.f, g, &gi, NULL), 0);
            assert_int_equal(gi.decoder, EPR_DECODER_AFFINE);
            float all[512];
            size_t n = group_values(fx, names, nt, all);
            float lo = all[0], hi = all[0];
            for (size_t i = 0; i < n; i++) lo = fminf(lo, all[i]), hi = fmaxf(hi, all[i]);
            double half = 0.5 * ((double)hi - lo) / ((1 << bits) - 1) + 1e-6;
            for (int j = 0; j < nt; j++) {
                nn_param *p = nn_model_tensor(fx->net, nn_model_find_tensor(fx->net, names[j]));
                float *v = decoded(x.f, p->name, p->size);
                int32_t *phi = malloc(p->size * sizeof *phi);
                assert_int_equal(epr_file_decode_phi(x.f, epr_file_find_tensor(x.f, p->name), phi, NULL), 0);
                for (size_t e = 0; e < p->size; e++) {
                    assert_true(phi[e] >= 0 && phi[e] < (1 << bits));
                    if (fabs((double)v[e] - p->w[e]) > half)
                        fail_msg("%s %s[%zu]: %g decoded as %g (s/2 = %g)", m, p->name, e, p->w[e], v[e], half);
                }
                free(phi);
                free(v);
            }
        }
        release(&x);
    }
}

/* uniformNt: one grid per tensor, so each grouped tensor is a group of its
 * own (in the experiment's order) and decodes within its own range's s/2;
 * kmeansNt: one codebook per tensor. */
static void test_per_tensor_files(void **state) {
    fixture *fx = *state;
    static const char *const ORDER[] = {"conv1.weight", "fc.weight", "fc.bias"};
    for (int km = 0; km < 2; km++) {
        encoded x;
        encode(fx, km ? "kmeans2t" : "uniform3t", &x);
        assert_non_null(strstr(x.desc, "per tensor"));
        assert_int_equal(epr_file_group_count(x.f), 3);
        check_extras(fx, x.f, 0);
        for (int g = 0; g < 3; g++) {
            nn_param *p = nn_model_tensor(fx->net, nn_model_find_tensor(fx->net, ORDER[g]));
            epr_tensor_info ti;
            assert_int_equal(epr_file_tensor_info(x.f, epr_file_find_tensor(x.f, p->name), &ti, NULL), 0);
            assert_int_equal(ti.group, g);
            float lo = p->w[0], hi = p->w[0];
            for (size_t e = 0; e < p->size; e++) lo = fminf(lo, p->w[e]), hi = fmaxf(hi, p->w[e]);
            float *v = decoded(x.f, p->name, p->size);
            if (km) {
                const float *cb;
                int k;
                assert_int_equal(epr_file_group_codebook(x.f, g, &cb, &k, NULL), 0);
                assert_true(k >= 1 && k <= 4);
                for (size_t e = 0; e < p->size; e++) {
                    float best = INFINITY;
                    for (int c = 0; c < k; c++) best = fminf(best, fabsf(cb[c] - p->w[e]));
                    assert_true(fabsf(v[e] - p->w[e]) <= best + 1e-7f);
                }
            } else {
                double half = 0.5 * ((double)hi - lo) / 7 + 1e-6;
                for (size_t e = 0; e < p->size; e++)
                    if (fabs((double)v[e] - p->w[e]) > half)
                        fail_msg("uniform3t %s[%zu]: %g decoded as %g (s/2 = %g)", p->name, e, p->w[e], v[e], half);
                /* the tensor's own extremes are grid points */
                for (size_t e = 0; e < p->size; e++)
                    if (p->w[e] == lo || p->w[e] == hi)
                        assert_true(fabsf(v[e] - p->w[e]) <= 1e-6f * (1 + fabsf(p->w[e])));
            }
            free(v);
        }
        release(&x);
    }
}

static void test_kmeans_file(void **state) {
    fixture *fx = *state;
    encoded x;
    encode(fx, "kmeans3", &x);
    check_extras(fx, x.f, 0);
    for (int g = 0; g < 2; g++) {
        const float *cb;
        int k;
        assert_int_equal(epr_file_group_codebook(x.f, g, &cb, &k, NULL), 0);
        /* unused entries are dropped: group b has 4 biases, so at most 4 stay */
        if (g == 0)
            assert_int_equal(k, 8);
        else
            assert_true(k >= 1 && k <= 4);
        int *used = calloc((size_t)k, sizeof *used);
        for (int j = 1; j < k; j++) assert_true(cb[j - 1] <= cb[j]);
        const char *const *names = g ? GROUP_B : GROUP_W;
        for (int j = 0; j < (g ? 1 : 2); j++) {
            nn_param *p = nn_model_tensor(fx->net, nn_model_find_tensor(fx->net, names[j]));
            float *v = decoded(x.f, p->name, p->size);
            /* converged Lloyd: each value sits on its nearest centroid */
            for (size_t e = 0; e < p->size; e++) {
                float best = INFINITY;
                for (int c = 0; c < k; c++) {
                    best = fminf(best, fabsf(cb[c] - p->w[e]));
                    used[c] |= cb[c] == v[e];
                }
                assert_true(fabsf(v[e] - p->w[e]) <= best + 1e-7f);
            }
            free(v);
        }
        for (int c = 0; c < k; c++) assert_true(used[c]);
        free(used);
    }
    release(&x);
}

static void test_prune_kmeans(void **state) {
    fixture *fx = *state;
    /* weights that already share 3 values (0 for pruned ones) per group */
    static const float shared[] = {0.0f, -0.125f, 0.375f};
    const char *names[] = {"conv1.weight", "fc.weight", "fc.bias"};
    float *backup[3];
    for (int j = 0; j < 3; j++) {
        nn_param *p = nn_model_tensor(fx->net, nn_model_find_tensor(fx->net, names[j]));
        backup[j] = malloc(p->size * sizeof(float));
        memcpy(backup[j], p->w, p->size * sizeof(float));
        for (size_t e = 0; e < p->size; e++) p->w[e] = shared[(e * 7 + (size_t)j) % 3];
    }
    fx->cfg.prune = 0.3f;
    fx->cfg.kmeans_bits = 2;
    encoded x;
    encode(fx, "prune-kmeans", &x);
    assert_null(strstr(x.desc, "fallback"));
    for (int g = 0; g < 2; g++) {
        const float *cb;
        int k;
        assert_int_equal(epr_file_group_codebook(x.f, g, &cb, &k, NULL), 0);
        assert_int_equal(k, 3);
        assert_true(cb[0] == -0.125f && cb[1] == 0.0f && cb[2] == 0.375f);
    }
    for (int j = 0; j < 3; j++) {
        nn_param *p = nn_model_tensor(fx->net, nn_model_find_tensor(fx->net, names[j]));
        float *v = decoded(x.f, p->name, p->size);
        assert_memory_equal(v, p->w, p->size * sizeof *v);
        free(v);
    }
    release(&x);
    /* more distinct values than 2^kmeans_bits in group w: k-means fallback,
     * 0 kept exact for the pruned weights */
    nn_param *fc = nn_model_tensor(fx->net, nn_model_find_tensor(fx->net, "fc.weight"));
    for (size_t e = 0; e < fc->size; e += 3) fc->w[e] = 0.01f * (float)(e % 50) + 0.5f;
    encode(fx, "prune-kmeans", &x);
    assert_non_null(strstr(x.desc, "fallback to k-means with k = 4 (0 kept exact for pruned weights)"));
    /* the groups that fell back are named: w only (b has few distinct values) */
    const char *tail = strstr(x.desc, "distinct values: ");
    assert_non_null(tail);
    assert_string_equal(tail, "distinct values: w");
    const float *cb;
    int k;
    assert_int_equal(epr_file_group_codebook(x.f, 0, &cb, &k, NULL), 0);
    assert_int_equal(k, 4);
    int zero_at = -1;
    for (int c = 0; c < k; c++)
        if (cb[c] == 0.0f) zero_at = c;
    assert_true(zero_at >= 0);
    float *v = decoded(x.f, "conv1.weight", nn_model_tensor(fx->net, 0)->size);
    for (size_t e = 0; e < nn_model_tensor(fx->net, 0)->size; e++)
        if (nn_model_tensor(fx->net, 0)->w[e] == 0.0f) assert_true(v[e] == 0.0f);
    free(v);
    release(&x);
    /* pruning only (kmeans_bits 0): 32 entries */
    fx->cfg.kmeans_bits = 0;
    encode(fx, "prune-kmeans", &x);
    assert_non_null(strstr(x.desc, "k = 32"));
    release(&x);
    for (int j = 0; j < 3; j++) {
        nn_param *p = nn_model_tensor(fx->net, nn_model_find_tensor(fx->net, names[j]));
        memcpy(p->w, backup[j], p->size * sizeof(float));
        free(backup[j]);
    }
    fx->cfg.prune = 0;
}

static void test_group_errors(void **state) {
    fixture *fx = *state;
    void *bytes;
    size_t len;
    char desc[256];
    epr_err e = {0};
    int ng = fx->cfg.n_groups;
    fx->cfg.n_groups = 0;
    assert_int_equal(baseline_encode(fx->net, &fx->cfg, fx->arch, "uniform4", &bytes, &len, desc, sizeof desc, &e),
                     EPR_EARG);
    assert_non_null(strstr(e.msg, "has none"));
    assert_int_equal(baseline_encode(fx->net, &fx->cfg, fx->arch, "float32", &bytes, &len, desc, sizeof desc, &e), 0);
    free(bytes);
    fx->cfg.n_groups = ng;
    char saved[64];
    memcpy(saved, fx->cfg.groups[1].tensors[0], sizeof saved);
    snprintf(fx->cfg.groups[1].tensors[0], sizeof saved, "fc.weight");
    assert_int_equal(baseline_encode(fx->net, &fx->cfg, fx->arch, "uniform4", &bytes, &len, desc, sizeof desc, &e),
                     EPR_EARG);
    assert_non_null(strstr(e.msg, "is in groups w and b"));
    snprintf(fx->cfg.groups[1].tensors[0], sizeof saved, "nope.bias");
    assert_int_equal(baseline_encode(fx->net, &fx->cfg, fx->arch, "kmeans2", &bytes, &len, desc, sizeof desc, &e),
                     EPR_EARG);
    assert_non_null(strstr(e.msg, "nope.bias"));
    memcpy(fx->cfg.groups[1].tensors[0], saved, sizeof saved);
    assert_int_equal(baseline_encode(fx->net, &fx->cfg, fx->arch, "gzip", &bytes, &len, desc, sizeof desc, &e),
                     EPR_EARG);
}

/* ---- gzip / xz ------------------------------------------------------------ */

static void test_gzip_xz_round_trip(void **state) {
    (void)state;
    size_t n = 100000;
    unsigned char *in = malloc(n);
    for (size_t i = 0; i < n; i++) in[i] = (unsigned char)(i % 7 == 0 ? 255 * uniform01(9, i) : i / 1000);
    void *z, *back;
    size_t nz, nb;
    epr_err e = {0};
    assert_int_equal(baseline_gzip(in, n, &z, &nz, &e), 0);
    assert_true(nz < n);
    assert_true(((unsigned char *)z)[0] == 0x1f && ((unsigned char *)z)[1] == 0x8b); /* gzip magic */
    assert_int_equal(baseline_gunzip(z, nz, &back, &nb, &e), 0);
    assert_int_equal(nb, n);
    assert_memory_equal(back, in, n);
    free(back);
    assert_int_not_equal(baseline_gunzip(z, nz / 2, &back, &nb, &e), 0); /* truncated */
    assert_null(back);
    free(z);
    assert_int_equal(baseline_xz(in, n, &z, &nz, &e), 0);
    assert_true(nz < n);
    assert_memory_equal(z,
                        "\xFD"
                        "7zXZ\0",
                        6);                          /* xz magic */
    assert_int_equal(((unsigned char *)z)[7], 0x04); /* stream flags: check = CRC64 */
    assert_int_equal(baseline_unxz(z, nz, &back, &nb, &e), 0);
    assert_int_equal(nb, n);
    assert_memory_equal(back, in, n);
    free(back);
    ((unsigned char *)z)[nz / 2] ^= 0x40;
    assert_int_not_equal(baseline_unxz(z, nz, &back, &nb, &e), 0); /* corrupt */
    free(z);
    /* the empty input */
    assert_int_equal(baseline_gzip(in, 0, &z, &nz, &e), 0);
    assert_int_equal(baseline_gunzip(z, nz, &back, &nb, &e), 0);
    assert_int_equal(nb, 0);
    free(z);
    free(back);
    free(in);
}

/* ---- baseline_run: files and baselines.h5 ------------------------------- */

static void path_of(fixture *fx, const char *file, char *buf, size_t cap) {
    snprintf(buf, cap, "%s/%s", fx->dir, file);
}

/* A bitstream_evaluator (the GPU's, in `epr train` with file_eval = device)
 * stood in for by the CPU's, counting its calls. */
static int counting_evaluate(void *ctx, nn_model *net, const dataset *d, int eval_batch, long *wrong, int *preds,
                             epr_err *err) {
    ++*(int *)ctx;
    return bitstream_cpu_evaluate(net, d, eval_batch, wrong, preds, err);
}

static void test_run_and_merge(void **state) {
    fixture *fx = *state;
    char h5[1200], p[1200];
    path_of(fx, BASELINE_H5, h5, sizeof h5);
    unlink(h5);
    int calls = 0;
    bitstream_evaluator ev = {counting_evaluate, &calls, "a counting CPU loop"};
    baseline_source src = {fx->cfg.text, 10, 1.5, &ev};
    epr_err e = {0};
    FILE *log = fopen("/dev/null", "w");
    if (baseline_run(fx->net, &fx->cfg, fx->arch, &fx->test, fx->dir, "gzip,uniform4,xz", &src, log, &e))
        fail_msg("%s", e.msg);
    assert_int_equal(calls, 2); /* the evaluator given evaluates every decoded file: float32, uniform4 */
    /* gzip without float32 still writes the float32 file (its input) */
    path_of(fx, "baseline_float32.epr", p, sizeof p);
    assert_true(fs_exists(p));
    baseline_result *r;
    int n;
    char *exp;
    if (baseline_h5_read(h5, &r, &n, &exp, &e)) fail_msg("%s", e.msg);
    assert_string_equal(exp, fx->cfg.text);
    free(exp);
    assert_int_equal(n, 3); /* float32 not reported: not asked for */
    double f32_error = -1;
    for (int i = 0; i < n; i++) {
        struct stat st;
        path_of(fx, r[i].file, p, sizeof p);
        assert_int_equal(stat(p, &st), 0);
        assert_int_equal(r[i].file_bytes, st.st_size);
        assert_true(r[i].test_error >= 0 && r[i].test_error <= 1 && r[i].seconds >= 0);
        assert_true(strlen(r[i].description) > 10);
        if (!strcmp(r[i].method, "gzip")) {
            assert_string_equal(r[i].file, "baseline_float32.epr.gz");
            f32_error = r[i].test_error;
        }
        if (!strcmp(r[i].method, "xz")) assert_string_equal(r[i].file, "baseline_float32.epr.xz");
        if (!strcmp(r[i].method, "uniform4")) assert_string_equal(r[i].file, "baseline_uniform4.epr");
    }
    /* the float32 file's error is that of the network itself */
    epr_file *f;
    path_of(fx, "baseline_float32.epr", p, sizeof p);
    assert_int_equal(epr_file_open(p, &f, NULL), 0);
    double direct;
    assert_int_equal(bitstream_evaluate(f, &fx->test, 16, &direct, NULL, NULL), 0);
    epr_file_close(f);
    assert_true(direct == f32_error);
    free(r);
    h5run *h;
    assert_int_equal(h5run_open(h5, &h, NULL), 0);
    int64_t v;
    assert_int_equal(h5run_get_i64(h, "/", "n_params", &v, NULL), 0);
    assert_int_equal(v, (int64_t)nn_model_num_params(fx->net));
    assert_int_equal(h5run_get_i64(h, "/", "float32_bytes", &v, NULL), 0);
    assert_int_equal(v, 4 * (int64_t)nn_model_num_params(fx->net));
    assert_int_equal(h5run_get_i64(h, "/", "steps", &v, NULL), 0);
    assert_int_equal(v, 10);
    char s[64];
    assert_int_equal(h5run_get_str(h, "/", "source", s, sizeof s, NULL), 0);
    assert_string_equal(s, "run.h5");
    h5run_close(h);

    /* a second call adds float32 and recomputes uniform4; gzip and xz stay */
    if (baseline_run(fx->net, &fx->cfg, fx->arch, &fx->test, fx->dir, "uniform4,float32", &src, log, &e))
        fail_msg("%s", e.msg);
    assert_int_equal(baseline_h5_read(h5, &r, &n, NULL, &e), 0);
    assert_int_equal(n, 4);
    const char *want[] = {"float32", "gzip", "uniform4", "xz"}; /* HDF5 lists names in order */
    for (int i = 0; i < 4; i++) assert_string_equal(r[i].method, want[i]);
    assert_true(r[0].test_error == f32_error);
    free(r);

    /* another experiment's baselines.h5: its methods are dropped */
    baseline_source other = {"[data]\nset = other\n", 10, 1.5, NULL};
    if (baseline_run(fx->net, &fx->cfg, fx->arch, &fx->test, fx->dir, "uniform2", &other, log, &e))
        fail_msg("%s", e.msg);
    assert_int_equal(baseline_h5_read(h5, &r, &n, NULL, &e), 0);
    assert_int_equal(n, 1);
    assert_string_equal(r[0].method, "uniform2");
    free(r);

    /* a failing method: the error names it, the methods done before it are kept */
    char saved[64];
    memcpy(saved, fx->cfg.groups[1].tensors[0], sizeof saved);
    snprintf(fx->cfg.groups[1].tensors[0], sizeof saved, "nope.bias");
    assert_int_equal(
        baseline_run(fx->net, &fx->cfg, fx->arch, &fx->test, fx->dir, "float32,uniform3,kmeans2", &src, log, &e),
        EPR_EARG);
    memcpy(fx->cfg.groups[1].tensors[0], saved, sizeof saved);
    assert_non_null(strstr(e.msg, "baseline uniform3: "));
    assert_non_null(strstr(e.msg, "nope.bias"));
    assert_int_equal(baseline_h5_read(h5, &r, &n, NULL, &e), 0);
    assert_int_equal(n, 1); /* float32 only: uniform2 was another experiment's */
    assert_string_equal(r[0].method, "float32");
    free(r);
    fclose(log);
}

static void test_corrupt_h5(void **state) {
    fixture *fx = *state;
    char h5[1200];
    path_of(fx, BASELINE_H5, h5, sizeof h5);
    static const char junk[] = "this is not an HDF5 file\n";
    epr_err e = {0};
    assert_int_equal(fs_write_atomic(h5, junk, sizeof junk - 1, &e), 0);
    baseline_source src = {fx->cfg.text, 10, 1.5, NULL};
    int rc = baseline_run(fx->net, &fx->cfg, fx->arch, &fx->test, fx->dir, "uniform3", &src, NULL, &e);
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr(e.msg, h5));
    assert_non_null(strstr(e.msg, "not an HDF5 file"));
    void *back;
    size_t n;
    assert_int_equal(fs_read_file(h5, &back, &n, &e), 0); /* untouched */
    assert_int_equal(n, sizeof junk - 1);
    assert_memory_equal(back, junk, n);
    free(back);
    /* an HDF5 file without the expected layout */
    h5run_attr a[] = {h5run_str("experiment", fx->cfg.text)};
    h5run_attr m[] = {h5run_str("method", "uniform3")};
    h5run_group g[] = {{"/methods/uniform3", m, 1}};
    h5run_desc d = {.attrs = a, .n_attrs = 1, .groups = g, .n_groups = 1};
    assert_int_equal(h5run_write(h5, &d, &e), 0);
    rc = baseline_run(fx->net, &fx->cfg, fx->arch, &fx->test, fx->dir, "uniform3", &src, NULL, &e);
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr(e.msg, h5));
    assert_non_null(strstr(e.msg, "/methods/uniform3 has no attribute 'file'"));
    d.n_groups = 0; /* no /methods at all */
    assert_int_equal(h5run_write(h5, &d, &e), 0);
    assert_int_not_equal(baseline_run(fx->net, &fx->cfg, fx->arch, &fx->test, fx->dir, "uniform3", &src, NULL, &e), 0);
    assert_non_null(strstr(e.msg, "no group /methods"));
    unlink(h5);
}

/* h5run's groups with attributes and listing, which baselines.h5 uses. */
static void test_h5run_groups(void **state) {
    fixture *fx = *state;
    char path[1200];
    path_of(fx, "groups.h5", path, sizeof path);
    h5run_attr a1[] = {h5run_i64("k", 1), h5run_str("s", "one")};
    h5run_attr a2[] = {h5run_f64("x", 2.5)};
    h5run_group g[] = {{"/m/zeta", a1, 2}, {"/m/alpha", a2, 1}, {"/m/mid", NULL, 0}};
    h5run_desc d = {.groups = g, .n_groups = 3};
    epr_err e = {0};
    if (h5run_write(path, &d, &e)) fail_msg("%s", e.msg);
    h5run *h;
    assert_int_equal(h5run_open(path, &h, &e), 0);
    char **names;
    int n;
    assert_int_equal(h5run_list(h, "/m", &names, &n, &e), 0);
    assert_int_equal(n, 3);
    assert_string_equal(names[0], "alpha");
    assert_string_equal(names[1], "mid");
    assert_string_equal(names[2], "zeta");
    h5run_list_free(names, n);
    int64_t k;
    double x;
    assert_int_equal(h5run_get_i64(h, "/m/zeta", "k", &k, &e), 0);
    assert_int_equal(k, 1);
    assert_int_equal(h5run_get_f64(h, "/m/alpha", "x", &x, &e), 0);
    assert_true(x == 2.5);
    assert_int_equal(h5run_list(h, "/", &names, &n, &e), 0);
    assert_int_equal(n, 1);
    h5run_list_free(names, n);
    assert_int_equal(h5run_list(h, "/nothing", &names, &n, &e), EPR_EFORMAT);
    assert_non_null(strstr(e.msg, "no group /nothing"));
    h5run_close(h);
    h5run_group bad[] = {{"relative", NULL, 0}};
    d.groups = bad;
    d.n_groups = 1;
    assert_int_equal(h5run_write(path, &d, &e), EPR_EARG);
    unlink(path);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_methods),      cmocka_unit_test(test_uniform_bound_and_range),
        cmocka_unit_test(test_float32_bit_exact),  cmocka_unit_test(test_uniform_file),
        cmocka_unit_test(test_kmeans_file),        cmocka_unit_test(test_per_tensor_files),
        cmocka_unit_test(test_prune_kmeans),       cmocka_unit_test(test_group_errors),
        cmocka_unit_test(test_gzip_xz_round_trip), cmocka_unit_test(test_run_and_merge),
        cmocka_unit_test(test_corrupt_h5),         cmocka_unit_test(test_h5run_groups),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
