/* tests/codec/test_rans.c — the rANS kernel alone: encode in reverse,
 * decode forward, memcmp the symbols; random and skewed data, every
 * precision, one-symbol supports, empty input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "codec/rans_internal.h"
#include "codec/tables_internal.h"
#include "common/rng.h"

/* Codes syms[0..n) with one table and two interleaved states (element i
 * by state i & 1, as the container does), decodes, memcmps; returns the
 * coded bytes. */
static long roundtrip(const codec_ctable *t, const uint16_t *syms, size_t n) {
    uint32_t *cum = malloc(sizeof(uint32_t) * t->K);
    uint32_t s = 0;
    for (uint32_t k = 0; k < t->K; k++) {
        cum[k] = s;
        s += t->freq[k];
    }
    assert_int_equal(s, 1u << t->p);
    size_t cap = EPR_RANS2_BOUND(n);
    uint8_t *buf = malloc(cap);
    codec_rans2_enc enc;
    codec_rans2_enc_init(&enc, buf + cap);
    if (t->K > 1) /* as the container: one-symbol columns are not coded */
        for (size_t i = n; i-- > 0;) codec_rans2_enc_put(&enc, i, cum[syms[i]], t->freq[syms[i]], t->p);
    uint8_t *ptr = codec_rans2_enc_finish(&enc);
    assert_true(ptr >= buf);
    long bytes = (long)(buf + cap - ptr);

    codec_rans_slot *slots = malloc(sizeof *slots << t->p);
    uint16_t *out = malloc(sizeof *out * (n ? n : 1));
    if (t->K > 1) codec_slots_build(t, slots);
    codec_rans2_dec d;
    assert_int_equal(codec_rans2_dec_init(&d, ptr, (size_t)bytes), 0);
    for (size_t i = 0; i < n; i++) {
        if (t->K == 1) {
            out[i] = 0;
            continue;
        }
        int32_t sym = codec_rans2_dec_get(&d, i, slots, t->p);
        assert_true(sym >= 0);
        out[i] = (uint16_t)sym;
    }
    assert_true(codec_rans2_dec_done(&d));
    assert_int_equal(d.x[0], EPR_RANS_L);
    assert_int_equal(d.x[1], EPR_RANS_L);
    assert_ptr_equal(d.p, buf + cap);
    if (n) assert_memory_equal(out, syms, n * sizeof *out);
    /* a stream cut short is detected, not read past */
    if (bytes > 8 && t->K > 1) {
        codec_rans2_dec z;
        assert_int_equal(codec_rans2_dec_init(&z, ptr, (size_t)bytes - 1), 0);
        int failed = 0;
        for (size_t i = 0; i < n && !failed; i++) failed = codec_rans2_dec_get(&z, i, slots, t->p) < 0;
        assert_true(failed || !codec_rans2_dec_done(&z));
    }
    free(cum);
    free(buf);
    free(slots);
    free(out);
    return bytes;
}

static void test_uniform_all_precisions(void **state) {
    (void)state;
    cmn_rng r = {1, 1, 0};
    for (uint32_t p = 1; p <= 16; p++) {
        uint32_t K = p < 8 ? (1u << p) : 200;
        uint64_t *counts = calloc(K, sizeof *counts);
        const size_t n = 20000;
        uint16_t *syms = malloc(sizeof *syms * n);
        for (size_t i = 0; i < n; i++) {
            syms[i] = (uint16_t)cmn_rng_below(&r, K);
            counts[syms[i]]++;
        }
        codec_ctable t = {0, p, 0, K, malloc(sizeof(uint32_t) * K)};
        assert_int_equal(codec_hist_quantise(counts, K, p, t.freq), 0);
        long bytes = roundtrip(&t, syms, n);
        double bits = codec_table_data_bits(counts, t.freq, K, p);
        assert_true(bytes <= bits / 8 * 1.002 + 8);
        free(t.freq);
        free(counts);
        free(syms);
    }
}

static void test_skewed(void **state) {
    (void)state;
    cmn_rng r = {2, 1, 0};
    const uint32_t K = 64;
    const size_t n = 200000;
    uint16_t *syms = malloc(sizeof *syms * n);
    uint64_t counts[64] = {0};
    for (size_t i = 0; i < n; i++) { /* geometric(0.9): mostly zeros */
        uint16_t s = 0;
        while (s < K - 1 && cmn_rng_next_uniform(&r) < 0.1f) s++;
        syms[i] = s;
        counts[s]++;
    }
    for (uint32_t p = 6; p <= 16; p++) {
        codec_ctable t = {0, p, 0, K, malloc(sizeof(uint32_t) * K)};
        assert_int_equal(codec_hist_quantise(counts, K, p, t.freq), 0);
        long bytes = roundtrip(&t, syms, n);
        double bits = codec_table_data_bits(counts, t.freq, K, p);
        assert_true(bytes <= bits / 8 * 1.002 + 8);
        free(t.freq);
    }
    free(syms);
}

static void test_extreme_frequencies(void **state) {
    (void)state;
    /* freq 2^16 - 1 next to freq 1: the largest slot values and the most
     * renormalisation bytes in one symbol. */
    uint32_t freq[2] = {65535, 1};
    codec_ctable t = {0, 16, 0, 2, freq};
    uint16_t syms[1000];
    for (int i = 0; i < 1000; i++) syms[i] = (uint16_t)(i % 7 == 0);
    roundtrip(&t, syms, 1000);
    for (int i = 0; i < 1000; i++) syms[i] = 1;
    roundtrip(&t, syms, 1000);
}

static void test_single_symbol_and_empty(void **state) {
    (void)state;
    uint32_t f1 = 1, f16 = 1u << 16;
    codec_ctable t0 = {0, 0, 5, 1, &f1}, t16 = {0, 16, 5, 1, &f16};
    uint16_t syms[100] = {0};
    assert_int_equal(roundtrip(&t0, syms, 100), 8); /* only the two states */
    assert_int_equal(roundtrip(&t16, syms, 100), 8);
    assert_int_equal(roundtrip(&t0, syms, 0), 8);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uniform_all_precisions),
        cmocka_unit_test(test_skewed),
        cmocka_unit_test(test_extreme_frequencies),
        cmocka_unit_test(test_single_symbol_and_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
