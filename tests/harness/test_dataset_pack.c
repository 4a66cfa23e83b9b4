/* test_dataset_pack — the packed image format (docs/imagenet-pack.md):
 * loading small generated files, the centre crop of gather, the
 * random-resized crop + flip (deterministic per key, inside the image, both
 * flips seen), sampled normalisation, and one clear error, naming the file,
 * for every kind of bad input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include <cmocka.h>

#include "run/dataset.h"
#include "harness_test_util.h"

typedef struct {
    uint32_t version, n, reserved;
    unsigned c, h, w, classes;
    int bad_crc, extra_bytes, missing_bytes;
    char magic[9];
} pack_spec;

static char g_dir[256];

static void put16(unsigned char *p, unsigned v) { p[0] = (unsigned char)v, p[1] = (unsigned char)(v >> 8); }
static void put32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* Pixel (image i, channel ch, row y, column x) of the generated files. */
static uint8_t pixel(uint32_t i, unsigned ch, unsigned y, unsigned x) {
    return (uint8_t)(i * 31 + ch * 67 + y * 11 + x * 3);
}

static void write_pack(const char *path, const pack_spec *s, const unsigned *labels) {
    size_t per = (size_t)s->c * s->h * s->w, len = 32 + 2 * (size_t)s->n + (size_t)s->n * per;
    unsigned char *b = calloc(len + 16, 1);
    assert_non_null(b);
    memcpy(b, s->magic[0] ? s->magic : "EPR-PACK", 8);
    put32(b + 8, s->version ? s->version : 1);
    put32(b + 12, s->n);
    put16(b + 16, s->c), put16(b + 18, s->h), put16(b + 20, s->w), put16(b + 22, s->classes);
    put32(b + 28, s->reserved);
    for (uint32_t i = 0; i < s->n; i++) put16(b + 32 + 2 * i, labels ? labels[i] : s->classes ? i % s->classes : 0);
    put32(b + 24, (uint32_t)crc32(0, b + 32, 2 * s->n) ^ (s->bad_crc ? 1u : 0u));
    unsigned char *px = b + 32 + 2 * (size_t)s->n;
    for (uint32_t i = 0; i < s->n; i++)
        for (unsigned ch = 0; ch < s->c; ch++)
            for (unsigned y = 0; y < s->h; y++)
                for (unsigned x = 0; x < s->w; x++) *px++ = pixel(i, ch, y, x);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, len + s->extra_bytes - s->missing_bytes, f), len + s->extra_bytes - s->missing_bytes);
    fclose(f);
    free(b);
}

static pack_spec good(void) {
    pack_spec s;
    memset(&s, 0, sizeof s);
    s.n = 5, s.c = 3, s.h = 12, s.w = 10, s.classes = 4;
    return s;
}

static void path_of(char *out, size_t n, const char *name) { snprintf(out, n, "%s/%s", g_dir, name); }

static int setup(void **st) {
    (void)st;
    return test_mkdtemp(g_dir, sizeof g_dir, "/tmp/epr-pack-test-XXXXXX");
}

static int teardown(void **st) {
    (void)st;
    return test_rmtree(g_dir);
}

static void test_load_and_gather(void **st) {
    (void)st;
    char p[300];
    path_of(p, sizeof p, "good.pack");
    pack_spec s = good();
    write_pack(p, &s, NULL);
    dataset d;
    epr_err err = {0};
    assert_int_equal(dataset_load_pack(p, 0, &d, &err), 0);
    assert_int_equal(d.n, 5);
    assert_int_equal(d.c, 3);
    assert_int_equal(d.h, 12);
    assert_int_equal(d.w, 10);
    assert_int_equal(d.store_h, 0);
    assert_int_equal(d.n_classes, 4);
    assert_int_equal(d.labels[4], 0);
    assert_int_equal(d.labels[3], 3);
    float x[2 * 3 * 12 * 10];
    int y[2];
    uint32_t idx[2] = {4, 1};
    assert_int_equal(dataset_gather(&d, idx, 2, x, y), 0);
    assert_int_equal(y[0], 0);
    assert_float_equal(x[0], pixel(4, 0, 0, 0) / 255.0f, 1e-7);
    assert_float_equal(x[360 + 120 * 2 + 10 * 5 + 7], pixel(1, 2, 5, 7) / 255.0f, 1e-7);
    dataset_free(&d);

    /* crop 8: reports 8x8, gathers the centre (rows 2..9, columns 1..8) */
    assert_int_equal(dataset_load_pack(p, 8, &d, &err), 0);
    assert_int_equal(d.h, 8);
    assert_int_equal(d.w, 8);
    assert_int_equal(d.store_h, 12);
    assert_int_equal(d.store_w, 10);
    assert_int_equal(dataset_sample_bytes(&d), 3 * 64);
    float xc[2 * 3 * 64];
    assert_int_equal(dataset_gather(&d, idx, 2, xc, y), 0);
    for (unsigned ch = 0; ch < 3; ch++)
        for (unsigned r = 0; r < 8; r++)
            for (unsigned c = 0; c < 8; c++) {
                assert_float_equal(xc[ch * 64 + r * 8 + c], pixel(4, ch, r + 2, c + 1) / 255.0f, 1e-7);
                assert_float_equal(xc[192 + ch * 64 + r * 8 + c], pixel(1, ch, r + 2, c + 1) / 255.0f, 1e-7);
            }
    /* crop-flip is for in-memory CIFAR-size sets, not packed crops */
    assert_int_equal(dataset_gather_crop_flip(&d, idx, 2, xc, y, 4, 1, 0, 0), EPR_EARG);
    dataset_free(&d);
}

/* Images whose pixel is its column (0..W-1, one channel value per image)
 * make the crop's geometry visible in the output. */
static void test_rrc_flip(void **st) {
    (void)st;
    char p[300];
    path_of(p, sizeof p, "ramp.pack");
    const unsigned H = 40, W = 48, N = 16;
    size_t per = 3 * H * W, len = 32 + 2 * N + N * per;
    unsigned char *b = calloc(len, 1);
    memcpy(b, "EPR-PACK", 8);
    put32(b + 8, 1), put32(b + 12, N);
    put16(b + 16, 3), put16(b + 18, H), put16(b + 20, W), put16(b + 22, 10);
    for (unsigned i = 0; i < N; i++) put16(b + 32 + 2 * i, i % 10);
    put32(b + 24, (uint32_t)crc32(0, b + 32, 2 * N));
    for (unsigned i = 0; i < N; i++)
        for (unsigned ch = 0; ch < 3; ch++)
            for (unsigned y = 0; y < H; y++)
                for (unsigned x = 0; x < W; x++) b[32 + 2 * N + i * per + ch * H * W + y * W + x] = (uint8_t)(x * 5);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, len, f), len);
    fclose(f);
    free(b);

    dataset d;
    epr_err err = {0};
    assert_int_equal(dataset_load_pack(p, 24, &d, &err), 0);
    enum { C = 24 };
    float *x = malloc(sizeof(float) * N * 3 * C * C), *x2 = malloc(sizeof(float) * N * 3 * C * C);
    uint32_t idx[16];
    int y[16];
    for (unsigned i = 0; i < N; i++) idx[i] = i;
    assert_int_equal(dataset_gather_rrc_flip(&d, idx, N, x, y, 7, 3, 0), 0);
    assert_int_equal(y[11], 1);
    /* deterministic per (seed, step, position) */
    assert_int_equal(dataset_gather_rrc_flip(&d, idx + 5, 1, x2, NULL, 7, 3, 5), 0);
    assert_memory_equal(x + 5 * 3 * C * C, x2, sizeof(float) * 3 * C * C);
    /* another step draws other crops */
    assert_int_equal(dataset_gather_rrc_flip(&d, idx, N, x2, NULL, 7, 4, 0), 0);
    assert_true(memcmp(x, x2, sizeof(float) * N * 3 * C * C) != 0);
    int up = 0, down = 0;
    for (unsigned i = 0; i < N; i++) {
        const float *q = x + (size_t)i * 3 * C * C;
        /* every row is the same ramp, within the image's range, monotone */
        int inc = q[C - 1] > q[0], dec = q[C - 1] < q[0];
        up += inc, down += dec;
        for (int r = 0; r < C; r++)
            for (int c = 0; c < C; c++) {
                float v = q[r * C + c];
                assert_true(v >= 0.0f && v <= (W - 1) * 5 / 255.0f + 1e-6f);
                assert_float_equal(v, q[c], 1e-6);
                if (c) {
                    if (inc) assert_true(v >= q[r * C + c - 1] - 1e-6f);
                    if (dec) assert_true(v <= q[r * C + c - 1] + 1e-6f);
                }
            }
    }
    assert_true(up >= 2 && down >= 2); /* both flips seen among 16 samples */
    assert_int_equal(dataset_gather_rrc_flip(&d, idx, 1, x, y, 7, -1, 0), EPR_EARG);
    idx[0] = N;
    assert_int_equal(dataset_gather_rrc_flip(&d, idx, 1, x, y, 7, 0, 0), EPR_EARG);
    free(x);
    free(x2);
    dataset_free(&d);
}

static void test_norm_sampled(void **st) {
    (void)st;
    char p[300];
    path_of(p, sizeof p, "norm.pack");
    pack_spec s = good();
    write_pack(p, &s, NULL);
    dataset a, b;
    epr_err err = {0};
    assert_int_equal(dataset_load_pack(p, 0, &a, &err), 0);
    assert_int_equal(dataset_load_pack(p, 6, &b, &err), 0);
    assert_int_equal(dataset_set_norm_from_data(&a, &err), 0);
    assert_int_equal(dataset_set_norm_sampled(&b, 100, &err), 0); /* all 5 images, stored size */
    for (int ch = 0; ch < 3; ch++) {
        assert_float_equal(a.mean[ch], b.mean[ch], 1e-6);
        assert_float_equal(a.std[ch], b.std[ch], 1e-6);
    }
    assert_true(b.normalize);
    dataset_free(&a);
    dataset_free(&b);
}

static void expect_bad(const char *name, const pack_spec *s, const unsigned *labels, int crop, int code,
                       const char *needle) {
    char p[300];
    path_of(p, sizeof p, name);
    if (s) write_pack(p, s, labels);
    dataset d;
    epr_err err = {0};
    int rc = dataset_load_pack(p, crop, &d, &err);
    if (rc != code || !strstr(err.msg, needle) || !strstr(err.msg, p))
        fail_msg("%s: rc %d (want %d), message '%s' (want '%s' and the path)", name, rc, code, err.msg, needle);
    assert_null(d.images);
    assert_null(d.labels);
    dataset_free(&d);
}

static void test_bad_inputs(void **st) {
    (void)st;
    pack_spec s = good();
    memcpy(s.magic, "EPR-PACX", 9);
    expect_bad("magic.pack", &s, NULL, 0, EPR_EFORMAT, "magic");
    s = good(), s.version = 2;
    expect_bad("version.pack", &s, NULL, 0, EPR_EFORMAT, "version 2");
    s = good(), s.c = 0;
    expect_bad("channels.pack", &s, NULL, 0, EPR_EFORMAT, "image shape");
    s = good(), s.c = 5;
    expect_bad("channels5.pack", &s, NULL, 0, EPR_EFORMAT, "image shape");
    s = good(), s.classes = 0;
    expect_bad("classes.pack", &s, NULL, 0, EPR_EFORMAT, "zero classes");
    s = good(), s.reserved = 7;
    expect_bad("reserved.pack", &s, NULL, 0, EPR_EFORMAT, "reserved");
    s = good(), s.missing_bytes = 1;
    expect_bad("truncated.pack", &s, NULL, 0, EPR_EFORMAT, "truncated or trailing");
    s = good(), s.extra_bytes = 3;
    expect_bad("trailing.pack", &s, NULL, 0, EPR_EFORMAT, "truncated or trailing");
    s = good(), s.bad_crc = 1;
    expect_bad("crc.pack", &s, NULL, 0, EPR_EFORMAT, "CRC32");
    s = good();
    unsigned labels[5] = {0, 1, 2, 4, 0};
    expect_bad("label.pack", &s, labels, 0, EPR_EFORMAT, "label 4 of image 3");
    s = good();
    expect_bad("crop.pack", &s, NULL, 11, EPR_EARG, "crop 11");
    s = good(), s.n = 0;
    expect_bad("empty.pack", &s, NULL, 0, EPR_EFORMAT, "image count 0");
    /* n so large that the image bytes overflow any size: still a clean error */
    s = good(), s.n = 0x7fffffff, s.missing_bytes = 0;
    {
        char p[300];
        path_of(p, sizeof p, "huge.pack");
        unsigned char h[40] = {0};
        memcpy(h, "EPR-PACK", 8);
        put32(h + 8, 1), put32(h + 12, 0x7fffffffu);
        put16(h + 16, 4), put16(h + 18, 65535), put16(h + 20, 65535), put16(h + 22, 10);
        FILE *f = fopen(p, "wb");
        fwrite(h, 1, sizeof h, f);
        fclose(f);
        expect_bad("huge.pack", NULL, NULL, 0, EPR_EFORMAT, "need exactly");
    }
    {
        char p[300];
        path_of(p, sizeof p, "short.pack");
        FILE *f = fopen(p, "wb");
        fwrite("EPR-PACK", 1, 8, f);
        fclose(f);
        expect_bad("short.pack", NULL, NULL, 0, EPR_EFORMAT, "shorter than the 32-byte pack header");
    }
    expect_bad("missing.pack", NULL, NULL, 0, EPR_EIO, "cannot open");
    expect_bad("", NULL, NULL, 0, EPR_EIO, "not a regular file"); /* the directory itself */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_and_gather),
        cmocka_unit_test(test_rrc_flip),
        cmocka_unit_test(test_norm_sampled),
        cmocka_unit_test(test_bad_inputs),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
