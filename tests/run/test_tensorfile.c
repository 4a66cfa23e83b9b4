/* tests/run/test_tensorfile.c — .npz and .safetensors (run/tensorfile.h):
 * the writer's bytes read back to the same tensors (names, shapes, bits),
 * every truncation and every single-byte change of a written file is
 * either refused with a message naming the file or (for a change that
 * the format cannot see, e.g. inside a safetensors float) read with the
 * right names and shapes, never a crash; hand-made damaged headers are
 * refused with the expected reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "run/tensorfile.h"

static float w2[6] = {1.5f, -2.0f, 0.0f, 3.25f, -0.0f, 1e-30f};
static float b1[3] = {0.1f, 0.2f, 0.3f};
static float s0[1] = {42.0f};
static float w4[2 * 1 * 2 * 2] = {1, 2, 3, 4, 5, 6, 7, 8};

static int sample(tensorfile_tensor *t) {
    memset(t, 0, 4 * sizeof *t);
    snprintf(t[0].name, sizeof t[0].name, "fc1.weight");
    t[0].ndim = 2, t[0].shape[0] = 2, t[0].shape[1] = 3, t[0].n = 6, t[0].data = w2;
    snprintf(t[1].name, sizeof t[1].name, "layer1_0_bn1.running_mean");
    t[1].ndim = 1, t[1].shape[0] = 3, t[1].n = 3, t[1].data = b1;
    snprintf(t[2].name, sizeof t[2].name, "scalar");
    t[2].ndim = 0, t[2].n = 1, t[2].data = s0;
    snprintf(t[3].name, sizeof t[3].name, "conv1.weight");
    t[3].ndim = 4, t[3].shape[0] = 2, t[3].shape[1] = 1, t[3].shape[2] = 2, t[3].shape[3] = 2, t[3].n = 8,
    t[3].data = w4;
    return 4;
}

static void same(const tensorfile *got, const tensorfile_tensor *want, int n) {
    assert_int_equal(got->n, n);
    for (int i = 0; i < n; i++) {
        const tensorfile_tensor *g = &got->t[i];
        assert_string_equal(g->name, want[i].name);
        assert_int_equal(g->ndim, want[i].ndim);
        for (int d = 0; d < g->ndim; d++) assert_int_equal(g->shape[d], want[i].shape[d]);
        assert_int_equal(g->n, want[i].n);
        assert_memory_equal(g->data, want[i].data, (size_t)g->n * sizeof(float));
        assert_int_equal(tensorfile_find(got, want[i].name), i);
    }
}

static void round_trip(tensorfile_format fmt) {
    tensorfile_tensor t[4];
    int n = sample(t);
    void *bytes;
    size_t len;
    epr_err err = {0};
    assert_int_equal(tensorfile_encode(fmt, t, n, &bytes, &len, &err), 0);
    tensorfile tf;
    if (tensorfile_parse(bytes, len, "x", &tf, &err)) fail_msg("%s", err.msg);
    same(&tf, t, n);
    tensorfile_free(&tf);
    /* the same tensors give the same bytes */
    void *again;
    size_t len2;
    assert_int_equal(tensorfile_encode(fmt, t, n, &again, &len2, &err), 0);
    assert_int_equal(len, len2);
    assert_memory_equal(bytes, again, len);
    free(again);

    /* every truncation is refused, naming the file */
    for (size_t cut = 0; cut < len; cut++) {
        err.msg[0] = 0;
        int rc = tensorfile_parse(bytes, cut, "cut.bin", &tf, &err);
        if (!rc) fail_msg("a file cut to %zu of %zu bytes was accepted", cut, len);
        assert_non_null(strstr(err.msg, "cut.bin"));
    }
    /* every changed byte: refused with a message, or read with the
     * original names and shapes (a change inside the raw data of a
     * safetensors file, which has no checksum) */
    unsigned char *b = bytes;
    /* npz: the bytes of every .npy entry (magic, header, data) are under its
     * CRC-32, so every change there must be refused */
    char *covered = calloc(len, 1);
    assert_non_null(covered);
    for (size_t i = 0, k = 0; fmt == TENSORFILE_NPZ && i + 6 <= len && k < (size_t)n; i++)
        if (!memcmp(b + i, "\x93NUMPY", 6)) {
            memset(covered + i, 1, 64 + 4 * (size_t)t[k].n);
            k++;
        }
    size_t n_covered = 0, want_covered = 0;
    for (size_t i = 0; i < len; i++) n_covered += (size_t)covered[i];
    for (int i = 0; fmt == TENSORFILE_NPZ && i < n; i++) want_covered += 64 + 4 * (size_t)t[i].n;
    assert_int_equal(n_covered, want_covered);
    for (size_t i = 0; i < len; i++) {
        unsigned char keep = b[i];
        b[i] ^= 0x5a;
        err.msg[0] = 0;
        if (tensorfile_parse(b, len, "bad.bin", &tf, &err)) {
            assert_non_null(strstr(err.msg, "bad.bin"));
        } else {
            if (covered[i]) fail_msg("a change of byte %zu (inside an entry) was accepted", i);
            assert_int_equal(tf.n, n);
            tensorfile_free(&tf);
        }
        b[i] = keep;
    }
    free(covered);
    free(bytes);
}

static void test_npz_round_trip(void **state) {
    (void)state;
    round_trip(TENSORFILE_NPZ);
}

static void test_safetensors_round_trip(void **state) {
    (void)state;
    round_trip(TENSORFILE_SAFETENSORS);
}

static void expect_refused(const char *bytes, size_t len, const char *why) {
    tensorfile tf;
    epr_err err = {0};
    int rc = tensorfile_parse(bytes, len, "hand.safetensors", &tf, &err);
    if (!rc) fail_msg("accepted; wanted a refusal with '%s'", why);
    if (!strstr(err.msg, why)) fail_msg("message '%s' lacks '%s'", err.msg, why);
}

/* header length + header + data as one buffer */
static size_t st(char *out, const char *json, size_t data_bytes) {
    uint64_t n = strlen(json);
    for (int i = 0; i < 8; i++) out[i] = (char)(n >> (8 * i));
    memcpy(out + 8, json, n);
    memset(out + 8 + n, 0, data_bytes);
    return 8 + n + data_bytes;
}

static void test_safetensors_refusals(void **state) {
    (void)state;
    char b[1024];
    size_t n = st(b, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}}", 24);
    tensorfile tf;
    epr_err err = {0};
    if (tensorfile_parse(b, n, "ok", &tf, &err)) fail_msg("%s", err.msg);
    assert_int_equal(tf.n, 1);
    assert_int_equal(tf.t[0].n, 6);
    tensorfile_free(&tf);
    n = st(b, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,20]}}", 24);
    expect_refused(b, n, "its shape needs 24 bytes");
    n = st(b, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,48]}}", 24);
    expect_refused(b, n, "outside the 24 data bytes");
    n = st(b, "{\"a\":{\"dtype\":\"I64\",\"shape\":[3],\"data_offsets\":[0,24]}}", 24);
    expect_refused(b, n, "dtype I64");
    n = st(b, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1],\"data_offsets\":[0,4]}}", 4);
    expect_refused(b, n, "more than 4 values");
    n = st(b,
           "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
           "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
           4);
    expect_refused(b, n, "appears twice");
    n = st(b, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1099511627776,1099511627776],\"data_offsets\":[0,4]}}", 4);
    expect_refused(b, n, "too many elements");
    /* a header length past the end */
    n = st(b, "{}", 0);
    b[0] = 100;
    expect_refused(b, n, "does not fit the file");
}

static void test_npz_names(void **state) {
    (void)state;
    tensorfile_tensor t[2];
    memset(t, 0, sizeof t);
    snprintf(t[0].name, sizeof t[0].name, "a");
    snprintf(t[1].name, sizeof t[1].name, "a");
    t[0].n = t[1].n = 1, t[0].data = t[1].data = s0;
    void *bytes;
    size_t len;
    epr_err err = {0};
    assert_int_not_equal(tensorfile_encode(TENSORFILE_NPZ, t, 2, &bytes, &len, &err), 0);
    assert_non_null(strstr(err.msg, "given twice"));
    assert_int_equal(tensorfile_format_of("x/y.npz"), TENSORFILE_NPZ);
    assert_int_equal(tensorfile_format_of("y.safetensors"), TENSORFILE_SAFETENSORS);
    assert_int_equal(tensorfile_format_of("y.pt"), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_npz_round_trip),
        cmocka_unit_test(test_safetensors_round_trip),
        cmocka_unit_test(test_safetensors_refusals),
        cmocka_unit_test(test_npz_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
