/* tests/codec/test_golden.c — the checked-in golden files decode to the
 * recorded CRC32s, the encoder still writes them byte for byte (so a rate
 * or format change is visible), and every single bit flip and every
 * truncation of them is rejected with a message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "codec_test_util.h"
#include "golden_inputs.h"

static void test_decode_matches_expected(void **state) {
    (void)state;
    char path[4096];
    snprintf(path, sizeof path, "%s/golden/expected.txt", EPR_TEST_DATA);
    FILE *ex = fopen(path, "r");
    assert_non_null(ex);
    char line[1024];
    int checked = 0;
    while (fgets(line, sizeof line, ex)) {
        if (line[0] == '#') continue;
        char file[256], tensor[256], phicrc[16];
        long long n;
        unsigned theta_crc;
        assert_int_equal(sscanf(line, "%255s %255s %lld %x %15s", file, tensor, &n, &theta_crc, phicrc), 5);
        size_t size;
        uint8_t *buf = read_golden(file, &size);
        epr_file *f;
        epr_err e;
        if (epr_file_open_memory(buf, size, &f, &e)) fail_msg("%s: %s", file, e.msg);
        int i = epr_file_find_tensor(f, tensor);
        assert_true(i >= 0);
        epr_tensor_info ti;
        assert_int_equal(epr_file_tensor_info(f, i, &ti, &e), 0);
        assert_int_equal(ti.n_elements, n);
        float *th = malloc(4 * (size_t)n + 4);
        assert_int_equal(epr_file_decode_tensor(f, i, th, &e), 0);
        assert_int_equal(epr_crc32(th, 4 * (size_t)n), theta_crc);
        if (strcmp(phicrc, "-") != 0) {
            int32_t *ph = malloc(4 * (size_t)n + 4);
            assert_int_equal(epr_file_decode_phi(f, i, ph, &e), 0);
            assert_int_equal(epr_crc32(ph, 4 * (size_t)n), (uint32_t)strtoul(phicrc, NULL, 16));
            free(ph);
        }
        free(th);
        epr_file_close(f);
        free(buf);
        checked++;
    }
    fclose(ex);
    assert_true(checked >= 8);
}

static void test_encoder_reproduces_golden(void **state) {
    (void)state;
    for (int w = 0; w < GOLDEN_COUNT; w++) {
        size_t size, gsize;
        uint8_t *golden = read_golden(golden_names[w], &gsize);
        void *buf;
        epr_err e;
        assert_int_equal(golden_build(w, &buf, &size, &e), 0);
        print_message("%s: %zu bytes (golden %zu)\n", golden_names[w], size, gsize);
        assert_int_equal(size, gsize);
        assert_memory_equal(buf, golden, size);
        free(buf);
        free(golden);
    }
}

static void test_every_bit_flip_rejected(void **state) {
    (void)state;
    for (int w = 0; w < GOLDEN_COUNT; w++) {
        size_t size;
        uint8_t *buf = read_golden(golden_names[w], &size);
        for (size_t bit = 0; bit < 8 * size; bit++) {
            buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
            epr_err e = {0, ""};
            int rc = open_and_decode(buf, size, &e);
            if (rc == 0) fail_msg("%s: flip of bit %zu accepted", golden_names[w], bit);
            assert_true(e.msg[0] != 0 && e.code == rc);
            buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        }
        epr_err e;
        assert_int_equal(open_and_decode(buf, size, &e), 0);
        free(buf);
    }
}

static void test_every_truncation_rejected(void **state) {
    (void)state;
    for (int w = 0; w < GOLDEN_COUNT; w++) {
        size_t size;
        uint8_t *buf = read_golden(golden_names[w], &size);
        for (size_t cut = 0; cut < size; cut++) {
            /* a fresh exact-size copy, so ASan sees any read past the end */
            uint8_t *t = malloc(cut ? cut : 1);
            memcpy(t, buf, cut);
            epr_err e = {0, ""};
            int rc = open_and_decode(t, cut, &e);
            if (rc == 0) fail_msg("%s: truncation to %zu bytes accepted", golden_names[w], cut);
            assert_true(e.msg[0] != 0);
            if (cut == size - 1) print_message("%s cut by 1: %s\n", golden_names[w], e.msg);
            free(t);
        }
        free(buf);
    }
}

/* The same flips with the CRC recomputed, so they reach the parser and the
 * coder: any result is allowed except a crash or an out-of-bounds access
 * (run this under ASan: build-codec-asan). */
static void test_bit_flips_past_the_crc(void **state) {
    (void)state;
    int rejected = 0, total = 0;
    for (int w = 0; w < GOLDEN_COUNT; w++) {
        size_t size;
        uint8_t *buf = read_golden(golden_names[w], &size);
        uint8_t *t = malloc(size);
        /* Every bit of the small files; the density file rebuilds 9 density
         * tables (~70k evaluations) per open, so there only every 937th bit. */
        const size_t step = size > 2000 ? 937 : 1;
        for (size_t bit = 0; bit < 8 * (size - 4); bit += step) {
            memcpy(t, buf, size);
            t[bit / 8] ^= (uint8_t)(1u << (bit % 8));
            fix_crc(t, size);
            epr_err e;
            int rc = open_and_decode(t, size, &e);
            rejected += rc != 0;
            total++;
            if (rc) assert_true(e.msg[0] != 0 && e.code == rc);
        }
        free(t);
        free(buf);
    }
    print_message("%d of %d CRC-fixed flips rejected by the structure checks\n", rejected, total);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_matches_expected), cmocka_unit_test(test_encoder_reproduces_golden),
        cmocka_unit_test(test_every_bit_flip_rejected), cmocka_unit_test(test_every_truncation_rejected),
        cmocka_unit_test(test_bit_flips_past_the_crc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
