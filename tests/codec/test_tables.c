/* tests/codec/test_tables.c — table quantisation, deterministic math, the
 * density tables and the column serialisation. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "codec/detmath_internal.h"
#include "codec/tables_internal.h"
#include "common/density_layout.h"
#include "common/rng.h"

static void check_valid(const uint32_t *f, uint32_t K, uint32_t p) {
    uint64_t s = 0;
    for (uint32_t k = 0; k < K; k++) {
        assert_true(f[k] >= 1);
        s += f[k];
    }
    assert_int_equal(s, 1ull << p);
}

static double entropy_bits(const uint64_t *c, uint32_t K) {
    double n = 0, h = 0;
    for (uint32_t k = 0; k < K; k++) n += c[k];
    for (uint32_t k = 0; k < K; k++)
        if (c[k]) h -= c[k] * log2(c[k] / n);
    return h;
}

static void test_hist_quantise_valid_and_close(void **state) {
    (void)state;
    cmn_rng r = {3, 1, 0};
    for (int trial = 0; trial < 50; trial++) {
        uint32_t K = 1 + (uint32_t)cmn_rng_below(&r, 300);
        uint64_t *c = calloc(K, sizeof *c);
        for (uint32_t k = 0; k < K; k++) /* heavy-tailed counts with zeros */
            c[k] = cmn_rng_below(&r, 4) == 0 ? 0 : (uint64_t)(1e5 * pow(cmn_rng_next_uniform(&r), 6));
        uint32_t *f = malloc(sizeof *f * K);
        for (uint32_t p = 9; p <= 16; p++) {
            assert_int_equal(codec_hist_quantise(c, K, p, f), 0);
            check_valid(f, K, p);
            double bits = codec_table_data_bits(c, f, K, p), h = entropy_bits(c, K);
            if (p == 16) assert_true(bits <= h * 1.01 + 64);
            assert_true(bits >= h - 1e-6); /* cannot beat the entropy */
        }
        free(c);
        free(f);
    }
    uint64_t c1 = 5;
    uint32_t f1;
    assert_int_equal(codec_hist_quantise(&c1, 1, 0, &f1), 0);
    assert_int_equal(f1, 1);
    uint64_t c3[3] = {1, 1, 1};
    uint32_t f3[3];
    assert_int_equal(codec_hist_quantise(c3, 3, 1, f3), -1); /* K > 2^p */
}

/* Greedy equals the exhaustive optimum on small cases. */
static void test_hist_quantise_optimal(void **state) {
    (void)state;
    cmn_rng r = {4, 1, 0};
    for (int trial = 0; trial < 200; trial++) {
        uint64_t c[3];
        for (int k = 0; k < 3; k++) c[k] = cmn_rng_below(&r, 50);
        const uint32_t p = 4, M = 16;
        uint32_t f[3];
        assert_int_equal(codec_hist_quantise(c, 3, p, f), 0);
        double got = codec_table_data_bits(c, f, 3, p), best = INFINITY;
        for (uint32_t a = 1; a < M; a++)
            for (uint32_t b = 1; a + b < M; b++) {
                uint32_t g[3] = {a, b, M - a - b};
                double v = codec_table_data_bits(c, g, 3, p);
                if (v < best) best = v;
            }
        assert_true(got <= best + 1e-9);
    }
}

static void test_detmath_vs_libm(void **state) {
    (void)state;
    for (double x = -700; x <= 700; x += 0.37) {
        double a = codec_det_exp(x), b = exp(x);
        assert_true(fabs(a - b) <= 8e-16 * b);
    }
    for (double x = -30; x <= 30; x += 0.0137) {
        assert_true(fabs(codec_det_tanh(x) - tanh(x)) <= 8e-16 * fabs(tanh(x)) + 1e-300);
        double sp = log1p(exp(-fabs(x))) + fmax(x, 0);
        assert_true(fabs(codec_det_softplus(x) - sp) <= 8e-16 * sp);
        assert_true(fabs(codec_det_expm1(x / 30) - expm1(x / 30)) <= 8e-16 * fabs(expm1(x / 30)));
    }
    for (double x = -50; x <= 50; x += 0.0731) {
        double sp, sm;
        codec_det_sigmoid_pair(x, &sp, &sm);
        double wp = 1 / (1 + exp(-x)), wm = 1 / (1 + exp(x));
        assert_true(fabs(sp - wp) <= 8e-16 * wp && fabs(sm - wm) <= 8e-16 * wm);
    }
    for (double x = 0; x <= 1; x += 0.001) assert_true(fabs(codec_det_log1p01(x) - log1p(x)) <= 8e-16 * log1p(x));
    assert_true(codec_det_exp(-800) == 0.0);
    assert_true(isinf(codec_det_exp(800)));
    assert_true(codec_det_tanh(1e-20) == 1e-20);
    assert_true(codec_det_exp(-740) > 0); /* subnormal range */
    assert_true(fabs(codec_det_exp(-740) - exp(-740)) <= 1e-323);
}

/* Density parameters like a trained model's: random but sane. */
static void make_density(float *q, uint64_t seed) {
    cmn_rng r = {seed, 9, 0};
    for (int i = 0; i < EPR_DENSITY_NPARAMS; i++) q[i] = cmn_rng_next_uniform(&r) - 0.5f;
    /* matrices near log(expm1(1/scale/width)) so the density is broad */
    for (int i = 0; i < 3; i++) q[EPR_DENSITY_H0 + i] += 0.5f;
    q[EPR_DENSITY_B3] = 0.1f;
}

/* The formula evaluated the plain way with libm. */
static double sp(double x) { return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)); }
static double ref_logits(const float *q, double v) {
    double x[3], y[3];
    for (int i = 0; i < 3; i++) {
        x[i] = sp(q[EPR_DENSITY_H0 + i]) * v + q[EPR_DENSITY_B0 + i];
        x[i] += tanh(q[EPR_DENSITY_A0 + i]) * tanh(x[i]);
    }
    const int H[2] = {EPR_DENSITY_H1, EPR_DENSITY_H2}, B[2] = {EPR_DENSITY_B1, EPR_DENSITY_B2},
              A[2] = {EPR_DENSITY_A1, EPR_DENSITY_A2};
    for (int l = 0; l < 2; l++) {
        for (int i = 0; i < 3; i++) {
            y[i] = q[B[l] + i];
            for (int j = 0; j < 3; j++) y[i] += sp(q[H[l] + 3 * i + j]) * x[j];
            y[i] += tanh(q[A[l] + i]) * tanh(y[i]);
        }
        memcpy(x, y, sizeof x);
    }
    double o = q[EPR_DENSITY_B3];
    for (int j = 0; j < 3; j++) o += sp(q[EPR_DENSITY_H3 + j]) * x[j];
    return o;
}
static double sigm(double x) { return 1 / (1 + exp(-x)); }

static void test_density_against_reference(void **state) {
    (void)state;
    for (uint64_t seed = 1; seed <= 20; seed++) {
        float q[EPR_DENSITY_NPARAMS];
        make_density(q, seed);
        const int32_t min = -40;
        const uint32_t K = 81;
        double pmf[81], pmf2[81];
        assert_int_equal(codec_density_pmf(q, min, K, pmf), 0);
        assert_int_equal(codec_density_pmf(q, min, K, pmf2), 0);
        assert_memory_equal(pmf, pmf2, sizeof pmf); /* deterministic */
        for (uint32_t k = 0; k < K; k++) {
            double l = ref_logits(q, min + (double)k - 0.5), u = ref_logits(q, min + (double)k + 0.5);
            double want = fabs(l + u > 0 ? sigm(-l) - sigm(-u) : sigm(u) - sigm(l));
            assert_true(fabs(pmf[k] - want) <= 1e-12 * want + 1e-300);
        }
        uint32_t f[81], f2[81];
        for (uint32_t p = 7; p <= 16; p++) {
            assert_int_equal(codec_density_quantise(pmf, K, p, f), 0);
            assert_int_equal(codec_density_quantise(pmf2, K, p, f2), 0);
            check_valid(f, K, p);
            assert_memory_equal(f, f2, sizeof f);
        }
    }
}

/* The frequencies of a fixed density are pinned: a change in the math that
 * would break old files shows up here. */
static void test_density_pinned(void **state) {
    (void)state;
    float q[EPR_DENSITY_NPARAMS];
    make_density(q, 42);
    double pmf[9];
    uint32_t f[9];
    assert_int_equal(codec_density_pmf(q, -4, 9, pmf), 0);
    assert_int_equal(codec_density_quantise(pmf, 9, 12, f), 0);
    uint32_t h = 2166136261u; /* FNV-1a of the frequencies */
    for (int k = 0; k < 9; k++) h = (h ^ f[k]) * 16777619u;
    print_message("pinned density freqs hash %08x\n", h);
    assert_int_equal(h, 0xda438609u);
}

static void test_density_rejects_garbage(void **state) {
    (void)state;
    float q[EPR_DENSITY_NPARAMS];
    make_density(q, 1);
    double pmf[5];
    q[EPR_DENSITY_B1] = NAN;
    assert_int_equal(codec_density_pmf(q, 0, 5, pmf), -1);
    make_density(q, 1);
    q[EPR_DENSITY_H1] = 1e38f; /* overflows to inf - inf somewhere */
    q[EPR_DENSITY_H3] = 1e38f;
    q[EPR_DENSITY_B3] = -1e38f;
    (void)codec_density_pmf(q, 0, 5, pmf); /* must not crash; result either way */
    make_density(q, 1);
    /* support far in the tail: all probabilities underflow to 0 */
    assert_int_equal(codec_density_pmf(q, 1000000000, 3, pmf), -1);
}

static void test_column_roundtrip(void **state) {
    (void)state;
    cmn_rng r = {5, 1, 0};
    for (int trial = 0; trial < 100; trial++) {
        uint32_t K = 1 + (uint32_t)cmn_rng_below(&r, 500);
        uint64_t *c = calloc(K, sizeof *c);
        for (uint32_t k = 0; k < K; k++) c[k] = cmn_rng_below(&r, 3) ? cmn_rng_below(&r, 1000) : 0;
        int32_t min = (int32_t)cmn_rng_below(&r, 2000) - 1000;
        codec_column_choice ch;
        assert_int_equal(codec_column_choose(c, min, K, NULL, &ch, NULL), 0);
        assert_int_equal(ch.t.kind, EPR_TABLE_HISTOGRAM);
        check_valid(ch.t.freq, K, ch.t.p);
        codec_wbuf b = {0};
        codec_column_write(&b, &ch.t, NULL);
        assert_int_equal(b.n, ch.table_bytes);
        codec_rbuf rb = {b.p, b.p + b.n};
        codec_column_desc d;
        epr_err e;
        assert_int_equal(codec_column_read(&rb, &d, &e, 0, 0), 0);
        assert_ptr_equal(rb.p, b.p + b.n);
        assert_int_equal(d.t.K, K);
        assert_int_equal(d.t.min, min);
        assert_int_equal(d.t.p, ch.t.p);
        assert_memory_equal(d.t.freq, ch.t.freq, K * sizeof(uint32_t));
        /* every truncation of the column is an error, not a crash */
        for (size_t cut = 0; cut < b.n; cut++) {
            codec_rbuf rc = {b.p, b.p + cut};
            codec_column_desc d2;
            assert_int_not_equal(codec_column_read(&rc, &d2, &e, 0, 0), 0);
            free(d2.t.freq);
        }
        free(d.t.freq);
        free(ch.t.freq);
        free(b.p);
        free(c);
    }
}

static void test_choice_prefers_cheaper(void **state) {
    (void)state;
    float q[EPR_DENSITY_NPARAMS];
    make_density(q, 7);
    const int32_t min = -6;
    const uint32_t K = 13;
    double pmf[13];
    assert_int_equal(codec_density_pmf(q, min, K, pmf), 0);
    /* many samples drawn from the density itself: density tables win (no
     * stored frequencies, same data cost) ... */
    uint64_t c[13];
    double tot = 0;
    for (uint32_t k = 0; k < K; k++) tot += pmf[k];
    for (uint32_t k = 0; k < K; k++) c[k] = (uint64_t)(1e6 * pmf[k] / tot) + 1;
    codec_column_choice ch;
    assert_int_equal(codec_column_choose(c, min, K, q, &ch, NULL), 0);
    print_message("density-distributed: hist %.0f bits, density %.0f bits\n", ch.hist_total_bits, ch.dens_total_bits);
    assert_true(ch.dens_total_bits > 0);
    assert_int_equal(ch.t.kind, ch.dens_total_bits < ch.hist_total_bits ? EPR_TABLE_DENSITY : EPR_TABLE_HISTOGRAM);
    free(ch.t.freq);
    /* ... a few samples: the 172-byte density table loses. */
    uint64_t few[13] = {0};
    few[6] = 10;
    few[0] = 1;
    few[12] = 1;
    assert_int_equal(codec_column_choose(few, min, K, q, &ch, NULL), 0);
    assert_int_equal(ch.t.kind, EPR_TABLE_HISTOGRAM);
    free(ch.t.freq);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hist_quantise_valid_and_close),
        cmocka_unit_test(test_hist_quantise_optimal),
        cmocka_unit_test(test_detmath_vs_libm),
        cmocka_unit_test(test_density_against_reference),
        cmocka_unit_test(test_density_pinned),
        cmocka_unit_test(test_density_rejects_garbage),
        cmocka_unit_test(test_column_roundtrip),
        cmocka_unit_test(test_choice_prefers_cheaper),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
