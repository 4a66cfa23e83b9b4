/* tests/codec/codec_test_util.h — shared by the codec tests: reading a
 * checked-in golden file, opening a buffer and decoding every tensor (the
 * "is this input accepted" probe of the bit-flip and truncation tests), and
 * rewriting a buffer's trailing CRC so that a deliberate corruption reaches
 * the parser.  Include after <cmocka.h>. */
#ifndef EPR_CODEC_TEST_UTIL_H
#define EPR_CODEC_TEST_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "epr/codec.h"

/* tests/data/golden/NAME, malloc'd; fails the test if it cannot be read. */
static inline uint8_t *read_golden(const char *name, size_t *size) {
    char path[4096];
    snprintf(path, sizeof path, "%s/golden/%s", EPR_TEST_DATA, name);
    FILE *fp = fopen(path, "rb");
    if (!fp) fail_msg("cannot open %s", path);
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    uint8_t *buf = malloc((size_t)n);
    assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
    fclose(fp);
    *size = (size_t)n;
    return buf;
}

/* Opens, then decodes every tensor; returns the first error code.  Tensors
 * claiming more than 2^22 elements are skipped: their buffer is the
 * caller's, and a corrupt shape may claim up to 2^40. */
static inline int open_and_decode(const uint8_t *buf, size_t size, epr_err *e) {
    epr_file *f;
    int rc = epr_file_open_memory(buf, size, &f, e);
    if (rc) return rc;
    for (int i = 0; i < epr_file_tensor_count(f) && !rc; i++) {
        epr_tensor_info ti;
        epr_file_tensor_info(f, i, &ti, e);
        if (ti.n_elements > (1 << 22)) continue;
        float *th = malloc(4 * (size_t)ti.n_elements + 4);
        rc = epr_file_decode_tensor(f, i, th, e);
        free(th);
    }
    epr_file_close(f);
    return rc;
}

/* Rewrites the last 4 bytes of buf[size] as the CRC32 of the others. */
static inline void fix_crc(uint8_t *buf, size_t size) {
    uint32_t crc = epr_crc32(buf, size - 4);
    for (int k = 0; k < 4; k++) buf[size - 4 + k] = (uint8_t)(crc >> (8 * k));
}

#endif
