/* tests/harness/test_dataset_sampler.c — the epoch sampler: each epoch a
 * permutation, determinism in the seed, rank slices that tile the global
 * batch for any rank count, batches straddling epochs, resume at any step.
 * The reference is the definition itself: the concatenation of
 * sampler_epoch_perm(seed, 0), (seed, 1), ... cut into batches of B. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "run/dataset.h"

enum { N = 37, EPOCHS = 12 };

/* The first EPOCHS*N positions of the sequence, built from its definition. */
static uint32_t *reference(uint64_t seed) {
    uint32_t *ref = malloc(sizeof *ref * N * EPOCHS);
    assert_non_null(ref);
    for (int e = 0; e < EPOCHS; e++) sampler_epoch_perm(seed, e, N, ref + e * N);
    return ref;
}

static int is_perm(const uint32_t *p, int n) {
    char seen[N] = {0};
    for (int i = 0; i < n; i++) {
        if (p[i] >= (uint32_t)n || seen[p[i]]) return 0;
        seen[p[i]] = 1;
    }
    return 1;
}

static void test_epochs_are_permutations(void **state) {
    (void)state;
    uint32_t *ref = reference(42);
    int identity = 1;
    for (int e = 0; e < EPOCHS; e++) {
        assert_true(is_perm(ref + e * N, N));
        if (e > 0) assert_memory_not_equal(ref + e * N, ref + (e - 1) * N, N * sizeof *ref);
    }
    for (int i = 0; i < N; i++) identity &= ref[i] == (uint32_t)i;
    assert_false(identity);
    /* n = 1: the only permutation */
    uint32_t one;
    sampler_epoch_perm(42, 5, 1, &one);
    assert_int_equal(one, 0);
    free(ref);
}

static void test_seed_determinism(void **state) {
    (void)state;
    sampler a, b, c;
    epr_err e = {0};
    assert_int_equal(sampler_init(&a, N, 7, &e), 0);
    assert_int_equal(sampler_init(&b, N, 7, &e), 0);
    assert_int_equal(sampler_init(&c, N, 8, &e), 0);
    uint32_t x[16], y[16], z[16];
    int differs = 0;
    for (long t = 0; t < 20; t++) {
        assert_int_equal(sampler_batch(&a, t, 16, 0, 16, x), 0);
        assert_int_equal(sampler_batch(&b, t, 16, 0, 16, y), 0);
        assert_int_equal(sampler_batch(&c, t, 16, 0, 16, z), 0);
        assert_memory_equal(x, y, sizeof x);
        differs |= memcmp(x, z, sizeof x) != 0;
    }
    assert_true(differs);
    sampler_free(&a);
    sampler_free(&b);
    sampler_free(&c);
}

/* Every step's global batch equals the reference, for batch sizes that
 * divide N, do not, and exceed N (a batch spanning several epochs). */
static void test_matches_definition(void **state) {
    (void)state;
    const uint64_t seed = 1234;
    uint32_t *ref = reference(seed);
    const int sizes[] = {1, 10, 37, 64, 100};
    for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++) {
        int B = sizes[si];
        sampler s;
        epr_err e = {0};
        assert_int_equal(sampler_init(&s, N, seed, &e), 0);
        uint32_t out[100];
        for (long t = 0; (t + 1) * B <= N * EPOCHS; t++) {
            assert_int_equal(sampler_batch(&s, t, B, 0, B, out), 0);
            assert_memory_equal(out, ref + t * B, (size_t)B * sizeof *out);
        }
        sampler_free(&s);
    }
    free(ref);
}

static void test_straddles_epochs(void **state) {
    (void)state;
    /* B = 10, N = 37: step 3 is positions 30..39 = epoch 0 [30..36] then
     * epoch 1 [0..2]. */
    uint32_t e0[N], e1[N], out[10];
    sampler_epoch_perm(99, 0, N, e0);
    sampler_epoch_perm(99, 1, N, e1);
    sampler s;
    epr_err e = {0};
    assert_int_equal(sampler_init(&s, N, 99, &e), 0);
    assert_int_equal(sampler_batch(&s, 3, 10, 0, 10, out), 0);
    assert_memory_equal(out, e0 + 30, 7 * sizeof *out);
    assert_memory_equal(out + 7, e1, 3 * sizeof *out);
    /* the same batch again (cache now holds epoch 1) */
    uint32_t again[10];
    assert_int_equal(sampler_batch(&s, 3, 10, 0, 10, again), 0);
    assert_memory_equal(out, again, sizeof out);
    /* a slice entirely in epoch 0, asked after epoch 1 was cached */
    assert_int_equal(sampler_batch(&s, 3, 10, 2, 5, again), 0);
    assert_memory_equal(again, e0 + 32, 3 * sizeof *out);
    sampler_free(&s);
}

/* Slices for P = 1, 2, 3 (each rank its own sampler, as on separate
 * processes) concatenate to the same global batch. */
static void test_rank_slices(void **state) {
    (void)state;
    const int B = 16;
    sampler global;
    epr_err e = {0};
    assert_int_equal(sampler_init(&global, N, 5, &e), 0);
    for (int P = 1; P <= 3; P++) {
        sampler rank[3];
        for (int r = 0; r < P; r++) assert_int_equal(sampler_init(&rank[r], N, 5, &e), 0);
        for (long t = 0; t < 30; t++) {
            uint32_t want[16], got[16];
            assert_int_equal(sampler_batch(&global, t, B, 0, B, want), 0);
            int next = 0;
            for (int r = 0; r < P; r++) {
                int b, end;
                sampler_rank_slice(B, r, P, &b, &end);
                assert_int_equal(b, next);
                assert_int_equal(sampler_batch(&rank[r], t, B, b, end, got + b), 0);
                next = end;
            }
            assert_int_equal(next, B);
            assert_memory_equal(got, want, sizeof want);
        }
        for (int r = 0; r < P; r++) sampler_free(&rank[r]);
    }
    sampler_free(&global);
}

/* Resuming at an arbitrary step gives what a run from step 0 gave there,
 * also far beyond the reference's epochs and after jumping backwards. */
static void test_resume(void **state) {
    (void)state;
    const int B = 10;
    const long steps[] = {0, 1, 3, 7, 11, 36, 37, 999, 123456, 5, 123455};
    sampler walk;
    epr_err e = {0};
    assert_int_equal(sampler_init(&walk, N, 2024, &e), 0);
    uint32_t *seq = malloc(sizeof *seq * (size_t)B * 123457);
    assert_non_null(seq);
    for (long t = 0; t <= 123456; t++) assert_int_equal(sampler_batch(&walk, t, B, 0, B, seq + t * B), 0);
    for (size_t k = 0; k < sizeof steps / sizeof *steps; k++) {
        sampler fresh;
        assert_int_equal(sampler_init(&fresh, N, 2024, &e), 0);
        uint32_t out[10];
        assert_int_equal(sampler_batch(&fresh, steps[k], B, 0, B, out), 0);
        assert_memory_equal(out, seq + steps[k] * B, sizeof out);
        /* and a long-lived sampler jumping around */
        assert_int_equal(sampler_batch(&walk, steps[k], B, 0, B, out), 0);
        assert_memory_equal(out, seq + steps[k] * B, sizeof out);
        sampler_free(&fresh);
    }
    /* every epoch of the walk is a permutation */
    for (long p = 0; p + N <= 123457L * B; p += N) assert_true(is_perm(seq + p, N));
    free(seq);
    sampler_free(&walk);
}

static void test_bad_args(void **state) {
    (void)state;
    sampler s;
    epr_err e = {0};
    assert_int_equal(sampler_init(&s, 0, 1, &e), EPR_EARG);
    assert_int_equal(e.code, EPR_EARG);
    assert_int_equal(sampler_init(&s, N, 1, &e), 0);
    uint32_t out[8];
    assert_int_equal(sampler_batch(&s, -1, 8, 0, 8, out), EPR_EARG);
    assert_int_equal(sampler_batch(&s, 0, 0, 0, 0, out), EPR_EARG);
    assert_int_equal(sampler_batch(&s, 0, 8, 5, 4, out), EPR_EARG);
    assert_int_equal(sampler_batch(&s, 0, 8, 0, 9, out), EPR_EARG);
    assert_int_equal(sampler_batch(&s, 0, 8, -1, 4, out), EPR_EARG);
    assert_int_equal(sampler_batch(&s, 0, 8, 4, 4, out), 0); /* empty slice */
    sampler_free(&s);
    sampler_free(&s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_epochs_are_permutations),
        cmocka_unit_test(test_seed_determinism),
        cmocka_unit_test(test_matches_definition),
        cmocka_unit_test(test_straddles_epochs),
        cmocka_unit_test(test_rank_slices),
        cmocka_unit_test(test_resume),
        cmocka_unit_test(test_bad_args),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
