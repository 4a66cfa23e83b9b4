/* tests/harness/test_dataset.c — IDX and CIFAR-10 loaders and the batch
 * gather, on small files this test writes itself (raw and gzip) under
 * EPR_BINARY_DIR.  Every bad-input case checks the error code and that the
 * one-line message names the file and the problem. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include <cmocka.h>

#include "run/dataset.h"
#include "harness_test_util.h"

#define N_IMG 5
#define ROWS 3
#define COLS 4

static char tmpdir[1024];

static const char *tmp_path(const char *name) { return test_join(tmpdir, name); }

static void write_raw(const char *path, const void *b, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (n) assert_int_equal(fwrite(b, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static void write_gz(const char *path, const void *b, size_t n) {
    gzFile g = gzopen(path, "wb");
    assert_non_null(g);
    if (n) assert_int_equal(gzwrite(g, b, (unsigned)n), (int)n);
    assert_int_equal(gzclose(g), Z_OK);
}

static void put_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint8_t pixel(int i, int k) { return (uint8_t)(i * 37 + k * 11 + 3); }

/* An IDX image file of N_IMG images of ROWS x COLS; returns its size. */
static size_t make_images(uint8_t *buf, uint32_t magic, uint32_t n) {
    put_be32(buf, magic);
    put_be32(buf + 4, n);
    put_be32(buf + 8, ROWS);
    put_be32(buf + 12, COLS);
    for (uint32_t i = 0; i < n; i++)
        for (int k = 0; k < ROWS * COLS; k++) buf[16 + i * ROWS * COLS + k] = pixel((int)i, k);
    return 16 + (size_t)n * ROWS * COLS;
}

static size_t make_labels(uint8_t *buf, uint32_t n) {
    put_be32(buf, 0x00000801);
    put_be32(buf + 4, n);
    for (uint32_t i = 0; i < n; i++) buf[8 + i] = (uint8_t)((i * 3) % 10);
    return 8 + n;
}

static uint8_t img_buf[16 + 64 * ROWS * COLS + 64];
static uint8_t lab_buf[8 + 64 + 64];

/* Good files, written once: good-images(.gz), good-labels(.gz). */
static int setup(void **state) {
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "%s/test_dataset_tmp", EPR_BINARY_DIR);
    mkdir(tmpdir, 0777);
    size_t ni = make_images(img_buf, 0x00000803, N_IMG), nl = make_labels(lab_buf, N_IMG);
    write_raw(tmp_path("good-images"), img_buf, ni);
    write_gz(tmp_path("good-images.gz"), img_buf, ni);
    write_raw(tmp_path("good-labels"), lab_buf, nl);
    write_gz(tmp_path("good-labels.gz"), lab_buf, nl);
    return 0;
}

static void check_good_idx(const dataset *d) {
    assert_int_equal(d->n, N_IMG);
    assert_int_equal(d->c, 1);
    assert_int_equal(d->h, ROWS);
    assert_int_equal(d->w, COLS);
    assert_int_equal(d->n_classes, 10);
    assert_int_equal(d->normalize, 0);
    assert_memory_equal(d->images, img_buf + 16, N_IMG * ROWS * COLS);
    for (int i = 0; i < N_IMG; i++) assert_int_equal(d->labels[i], (i * 3) % 10);
    assert_int_equal(d->nfiles, 2);
}

static void test_idx_good_raw(void **state) {
    (void)state;
    dataset d;
    epr_err e = {0};
    assert_int_equal(dataset_load_idx(tmp_path("good-images"), tmp_path("good-labels"), &d, &e), 0);
    check_good_idx(&d);
    assert_string_equal(d.files[0], tmp_path("good-images"));
    assert_string_equal(d.files[1], tmp_path("good-labels"));
    dataset_free(&d);
    assert_null(d.images);
}

static void test_idx_good_gz(void **state) {
    (void)state;
    dataset d;
    epr_err e = {0};
    assert_int_equal(dataset_load_idx(tmp_path("good-images.gz"), tmp_path("good-labels.gz"), &d, &e), 0);
    check_good_idx(&d);
    dataset_free(&d);
    /* mixed: gzip images, raw labels */
    assert_int_equal(dataset_load_idx(tmp_path("good-images.gz"), tmp_path("good-labels"), &d, &e), 0);
    check_good_idx(&d);
    dataset_free(&d);
}

/* Loads and expects failure `code` with a one-line message naming `file`
 * and containing `problem`; the dataset must come back empty. */
static void expect_idx_fail(const char *images, const char *labels, int code, const char *file, const char *problem) {
    dataset d;
    epr_err e = {0};
    int rc = dataset_load_idx(images, labels, &d, &e);
    if (rc != code || !strstr(e.msg, file) || !strstr(e.msg, problem) || strchr(e.msg, '\n'))
        fail_msg("rc %d (want %d), message \"%s\" (want file %s, problem \"%s\")", rc, code, e.msg, file, problem);
    assert_int_equal(e.code, code);
    assert_null(d.images);
    assert_null(d.labels);
    assert_null(d.files);
    assert_int_equal(d.n, 0);
    dataset_free(&d);
}

static void test_idx_bad_magic(void **state) {
    (void)state;
    uint8_t b[sizeof img_buf];
    size_t n = make_images(b, 0x12340803, N_IMG);
    const char *p = tmp_path("bad-magic");
    write_raw(p, b, n);
    expect_idx_fail(p, tmp_path("good-labels"), EPR_EFORMAT, p, "bad magic 0x12340803");
    const char *g = tmp_path("bad-magic.gz");
    write_gz(g, b, n);
    expect_idx_fail(g, tmp_path("good-labels"), EPR_EFORMAT, g, "(gzip): bad magic");
    /* element type other than unsigned byte */
    make_images(b, 0x00000d03, N_IMG);
    const char *t = tmp_path("bad-type");
    write_raw(t, b, n);
    expect_idx_fail(t, tmp_path("good-labels"), EPR_EUNSUP, t, "element type 0x0d");
}

static void test_idx_wrong_dims(void **state) {
    (void)state;
    uint8_t b[sizeof img_buf];
    size_t n = make_images(b, 0x00000804, N_IMG);
    const char *p = tmp_path("wrong-dims");
    write_raw(p, b, n);
    expect_idx_fail(p, tmp_path("good-labels"), EPR_EFORMAT, p, "wrong dimension count 4");
    /* labels and images swapped */
    expect_idx_fail(tmp_path("good-labels"), tmp_path("good-images"), EPR_EFORMAT, tmp_path("good-labels"),
                    "wrong dimension count 1");
    expect_idx_fail(tmp_path("good-images"), tmp_path("good-images"), EPR_EFORMAT, tmp_path("good-images"),
                    "wrong dimension count 3");
    /* zero rows */
    make_images(b, 0x00000803, N_IMG);
    put_be32(b + 8, 0);
    const char *z = tmp_path("zero-rows");
    write_raw(z, b, 16);
    expect_idx_fail(z, tmp_path("good-labels"), EPR_EFORMAT, z, "implausible image size 0x4");
}

static void test_idx_truncated(void **state) {
    (void)state;
    size_t n = make_images(img_buf, 0x00000803, N_IMG);
    const char *p = tmp_path("truncated");
    write_raw(p, img_buf, n - 5);
    expect_idx_fail(p, tmp_path("good-labels"), EPR_EFORMAT, p, "truncated: 55 bytes of pixels");
    const char *g = tmp_path("truncated.gz");
    write_gz(g, img_buf, n - 5);
    expect_idx_fail(g, tmp_path("good-labels"), EPR_EFORMAT, g, "(gzip): truncated: 55 bytes");
    /* header cut short */
    const char *h = tmp_path("truncated-header");
    write_raw(h, img_buf, 10);
    expect_idx_fail(h, tmp_path("good-labels"), EPR_EFORMAT, h, "truncated IDX header");
    /* a huge count in the header, a tiny file: refused without a huge allocation */
    uint8_t b[16];
    memcpy(b, img_buf, 16);
    put_be32(b + 4, 0x7fffffff);
    put_be32(b + 8, 4096);
    const char *big = tmp_path("huge-count");
    write_raw(big, b, 16);
    expect_idx_fail(big, tmp_path("good-labels"), EPR_EFORMAT, big, "truncated: 0 bytes");
    /* labels truncated */
    size_t nl = make_labels(lab_buf, N_IMG);
    const char *l = tmp_path("truncated-labels");
    write_raw(l, lab_buf, nl - 1);
    expect_idx_fail(tmp_path("good-images"), l, EPR_EFORMAT, l, "truncated: 4 label bytes");
}

static void test_idx_truncated_gzip_stream(void **state) {
    (void)state;
    /* A gzip file cut inside the compressed stream (not a short payload). */
    size_t n = make_images(img_buf, 0x00000803, N_IMG);
    const char *full = tmp_path("cut-full.gz");
    write_gz(full, img_buf, n);
    FILE *f = fopen(full, "rb");
    assert_non_null(f);
    uint8_t z[1024];
    size_t zn = fread(z, 1, sizeof z, f);
    fclose(f);
    assert_true(zn > 20);
    const char *cut = tmp_path("cut.gz");
    write_raw(cut, z, zn - 6); /* drops most of the CRC/length trailer */
    expect_idx_fail(cut, tmp_path("good-labels"), EPR_EFORMAT, cut, "(gzip): truncated");
    /* cut in the middle of the deflate data */
    const char *half = tmp_path("cut-half.gz");
    write_raw(half, z, zn / 2);
    expect_idx_fail(half, tmp_path("good-labels"), EPR_EFORMAT, half, "(gzip): truncated gzip");
    /* a corrupted CRC */
    z[zn - 8] ^= 0xff;
    const char *crc = tmp_path("bad-crc.gz");
    write_raw(crc, z, zn);
    expect_idx_fail(crc, tmp_path("good-labels"), EPR_EFORMAT, crc, "(gzip): corrupt gzip stream");
}

static void test_idx_trailing(void **state) {
    (void)state;
    size_t n = make_images(img_buf, 0x00000803, N_IMG);
    memcpy(img_buf + n, "junk!", 5);
    const char *p = tmp_path("trailing");
    write_raw(p, img_buf, n + 5);
    expect_idx_fail(p, tmp_path("good-labels"), EPR_EFORMAT, p, "5 trailing bytes after 5 images");
    const char *g = tmp_path("trailing.gz");
    write_gz(g, img_buf, n + 200);
    expect_idx_fail(g, tmp_path("good-labels"), EPR_EFORMAT, g, "(gzip): 200 trailing bytes");
    size_t nl = make_labels(lab_buf, N_IMG);
    const char *l = tmp_path("trailing-labels");
    write_raw(l, lab_buf, nl + 1);
    expect_idx_fail(tmp_path("good-images"), l, EPR_EFORMAT, l, "1 trailing bytes after 5 labels");
}

static void test_idx_label_range(void **state) {
    (void)state;
    size_t nl = make_labels(lab_buf, N_IMG);
    lab_buf[8 + 3] = 10;
    const char *l = tmp_path("label-range");
    write_raw(l, lab_buf, nl);
    expect_idx_fail(tmp_path("good-images"), l, EPR_EFORMAT, l, "label 10 at index 3 out of range 0..9");
}

static void test_idx_count_mismatch(void **state) {
    (void)state;
    size_t nl = make_labels(lab_buf, N_IMG + 1);
    const char *l = tmp_path("six-labels");
    write_raw(l, lab_buf, nl);
    char problem[2048];
    snprintf(problem, sizeof problem, "has 6 labels but %s has 5 images", tmp_path("good-images"));
    expect_idx_fail(tmp_path("good-images"), l, EPR_EFORMAT, l, problem);
}

static void test_idx_missing_file(void **state) {
    (void)state;
    const char *p = tmp_path("no-such-file");
    remove(p);
    expect_idx_fail(p, tmp_path("good-labels"), EPR_EIO, p, "cannot open: No such file");
    expect_idx_fail(tmp_path("good-images"), p, EPR_EIO, p, "cannot open: No such file");
    expect_idx_fail(tmpdir, tmp_path("good-labels"), EPR_EIO, tmpdir, "cannot read: Is a directory");
}

static void test_idx_empty_file(void **state) {
    (void)state;
    const char *p = tmp_path("empty");
    write_raw(p, "", 0);
    expect_idx_fail(p, tmp_path("good-labels"), EPR_EFORMAT, p, "empty file");
    const char *g = tmp_path("empty.gz");
    write_gz(g, "", 0);
    expect_idx_fail(tmp_path("good-images"), g, EPR_EFORMAT, g, "(gzip): empty file");
}

static void test_load_bad_args(void **state) {
    (void)state;
    dataset d;
    epr_err e = {0};
    assert_int_equal(dataset_load_idx(NULL, "x", &d, &e), EPR_EARG);
    assert_int_equal(dataset_load_cifar(NULL, 1, &d, &e), EPR_EARG);
    const char *f[1] = {"x"};
    assert_int_equal(dataset_load_cifar(f, 0, &d, &e), EPR_EARG);
    dataset_free(&d);
    dataset_free(NULL);
}

/* ---- CIFAR-10 ---- */

#define CIFAR_REC 3073

static void make_cifar(uint8_t *b, int nrec, int first) {
    for (int r = 0; r < nrec; r++) {
        b[r * CIFAR_REC] = (uint8_t)((first + r) % 10);
        for (int k = 0; k < 3072; k++) b[r * CIFAR_REC + 1 + k] = pixel(first + r, k);
    }
}

static void expect_cifar_fail(const char **files, int nfiles, int code, const char *file, const char *problem) {
    dataset d;
    epr_err e = {0};
    int rc = dataset_load_cifar(files, nfiles, &d, &e);
    if (rc != code || !strstr(e.msg, file) || !strstr(e.msg, problem) || strchr(e.msg, '\n'))
        fail_msg("rc %d (want %d), message \"%s\" (want file %s, problem \"%s\")", rc, code, e.msg, file, problem);
    assert_null(d.images);
    assert_int_equal(d.n, 0);
    dataset_free(&d);
}

static void test_cifar_good(void **state) {
    (void)state;
    static uint8_t b[7 * CIFAR_REC];
    make_cifar(b, 4, 0);
    make_cifar(b + 4 * CIFAR_REC, 3, 4);
    const char *f[2] = {tmp_path("cifar-a.bin"), tmp_path("cifar-b.bin.gz")};
    write_raw(f[0], b, 4 * CIFAR_REC);
    write_gz(f[1], b + 4 * CIFAR_REC, 3 * CIFAR_REC);
    dataset d;
    epr_err e = {0};
    assert_int_equal(dataset_load_cifar(f, 2, &d, &e), 0);
    assert_int_equal(d.n, 7);
    assert_int_equal(d.c, 3);
    assert_int_equal(d.h, 32);
    assert_int_equal(d.w, 32);
    assert_int_equal(d.n_classes, 10);
    assert_int_equal(d.nfiles, 2);
    assert_string_equal(d.files[1], f[1]);
    for (int r = 0; r < 7; r++) {
        assert_int_equal(d.labels[r], r % 10);
        assert_memory_equal(d.images + (size_t)r * 3072, b + r * CIFAR_REC + 1, 3072);
    }
    /* gather keeps CHW: channel 1, pixel (2,5) of sample 6 */
    uint32_t idx[1] = {6};
    static float x[3072];
    int y;
    assert_int_equal(dataset_gather(&d, idx, 1, x, &y), 0);
    assert_int_equal(y, 6);
    assert_true(x[1024 + 2 * 32 + 5] == (float)pixel(6, 1024 + 2 * 32 + 5) / 255.0f);
    dataset_free(&d);
}

static void test_cifar_not_multiple(void **state) {
    (void)state;
    static uint8_t b[2 * CIFAR_REC + 7];
    make_cifar(b, 2, 0);
    const char *p = tmp_path("cifar-odd.bin");
    write_raw(p, b, sizeof b);
    const char *f[2] = {tmp_path("cifar-a.bin"), p};
    expect_cifar_fail(f, 2, EPR_EFORMAT, p, "size 6153 bytes is not a multiple of the 3073-byte");
}

static void test_cifar_label_range(void **state) {
    (void)state;
    static uint8_t b[3 * CIFAR_REC];
    make_cifar(b, 3, 0);
    b[2 * CIFAR_REC] = 200;
    const char *p = tmp_path("cifar-label.bin");
    write_raw(p, b, sizeof b);
    const char *f[1] = {p};
    expect_cifar_fail(f, 1, EPR_EFORMAT, p, "label 200 in record 2 out of range 0..9");
}

static void test_cifar_empty_and_missing(void **state) {
    (void)state;
    const char *p = tmp_path("cifar-empty.bin");
    write_raw(p, "", 0);
    const char *f[1] = {p};
    expect_cifar_fail(f, 1, EPR_EFORMAT, p, "empty file");
    const char *m = tmp_path("cifar-missing.bin");
    remove(m);
    const char *g[2] = {tmp_path("cifar-a.bin"), m};
    expect_cifar_fail(g, 2, EPR_EIO, m, "cannot open: No such file");
}

/* ---- gather ---- */

static void test_gather(void **state) {
    (void)state;
    dataset d;
    epr_err e = {0};
    assert_int_equal(dataset_load_idx(tmp_path("good-images"), tmp_path("good-labels"), &d, &e), 0);
    uint32_t idx[3] = {4, 0, 4};
    float x[3 * ROWS * COLS];
    int y[3];
    assert_int_equal(dataset_gather(&d, idx, 3, x, y), 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(y[i], (int)(idx[i] * 3) % 10);
        for (int k = 0; k < ROWS * COLS; k++)
            assert_true(x[i * ROWS * COLS + k] == (float)pixel((int)idx[i], k) / 255.0f);
    }
    /* labels only, or pixels only */
    assert_int_equal(dataset_gather(&d, idx, 3, NULL, y), 0);
    assert_int_equal(dataset_gather(&d, idx, 3, x, NULL), 0);
    /* normalisation from the struct's fields */
    d.normalize = 1;
    d.mean[0] = 0.25f;
    d.std[0] = 0.5f;
    assert_int_equal(dataset_gather(&d, idx, 1, x, y), 0);
    for (int k = 0; k < ROWS * COLS; k++) assert_true(x[k] == ((float)pixel(4, k) / 255.0f - 0.25f) / 0.5f);
    /* an index out of range writes nothing */
    uint32_t bad[2] = {1, N_IMG};
    x[0] = -7.0f;
    assert_int_equal(dataset_gather(&d, bad, 2, x, y), EPR_EARG);
    assert_true(x[0] == -7.0f);
    assert_int_equal(dataset_gather(&d, idx, -1, x, y), EPR_EARG);
    dataset_free(&d);
}

static void test_norm_from_data(void **state) {
    (void)state;
    dataset d;
    epr_err e = {0};
    assert_int_equal(dataset_load_idx(tmp_path("good-images"), tmp_path("good-labels"), &d, &e), 0);
    assert_int_equal(dataset_set_norm_from_data(&d, &e), 0);
    double s = 0, s2 = 0;
    int cnt = N_IMG * ROWS * COLS;
    for (int i = 0; i < cnt; i++) {
        double v = d.images[i] / 255.0;
        s += v;
        s2 += v * v;
    }
    double mean = s / cnt, sd = sqrt(s2 / cnt - mean * mean);
    assert_true(d.normalize);
    assert_float_equal(d.mean[0], mean, 1e-6);
    assert_float_equal(d.std[0], sd, 1e-6);
    /* normalised batch over the whole set: mean 0, variance 1 */
    uint32_t all[N_IMG] = {0, 1, 2, 3, 4};
    float x[N_IMG * ROWS * COLS];
    assert_int_equal(dataset_gather(&d, all, N_IMG, x, NULL), 0);
    double m = 0, v = 0;
    for (int i = 0; i < cnt; i++) m += x[i];
    m /= cnt;
    for (int i = 0; i < cnt; i++) v += (x[i] - m) * (x[i] - m);
    assert_float_equal(m, 0.0, 1e-5);
    assert_float_equal(v / cnt, 1.0, 1e-4);
    dataset_free(&d);
}

/* A validation split: sizes, disjoint and complete, the held-out indices
 * ascending and a function of the seed alone, every sample with its label,
 * the kept ones in their order; bad sizes and packed sets refused. */
static void make_numbered(dataset *d, int n) {
    memset(d, 0, sizeof *d);
    d->n = n, d->c = 1, d->h = 1, d->w = 2, d->n_classes = 10;
    d->images = malloc((size_t)n * 2);
    d->labels = malloc((size_t)n * sizeof(int));
    assert_true(d->images && d->labels);
    for (int i = 0; i < n; i++) { /* sample i: pixels (i, i>>8), label i % 10 */
        d->images[2 * i] = (uint8_t)i;
        d->images[2 * i + 1] = (uint8_t)(i >> 8);
        d->labels[i] = i % 10;
    }
    snprintf(d->name, sizeof d->name, "numbers");
}

static void test_split(void **state) {
    (void)state;
    dataset d, v, d2, v2;
    epr_err err = {0};
    make_numbered(&d, 500);
    make_numbered(&d2, 500);
    assert_int_equal(dataset_split(&d, 100, 42, &v, &err), 0);
    assert_int_equal(dataset_split(&d2, 100, 42, &v2, &err), 0);
    assert_int_equal(d.n, 400);
    assert_int_equal(v.n, 100);
    assert_string_equal(v.name, "numbers");
    assert_int_equal(v.n_classes, 10);
    assert_memory_equal(v.source_index, v2.source_index, 100 * sizeof(uint32_t)); /* the seed decides */
    dataset_free(&v2);
    dataset_free(&d2);
    int seen[500] = {0};
    for (int i = 0; i < v.n; i++) {
        const int k = v.images[2 * i] | v.images[2 * i + 1] << 8;
        assert_int_equal(k, (int)v.source_index[i]);
        assert_int_equal(v.labels[i], k % 10);
        if (i) assert_true(v.source_index[i] > v.source_index[i - 1]);
        seen[k]++;
    }
    int prev = -1;
    for (int i = 0; i < d.n; i++) {
        const int k = d.images[2 * i] | d.images[2 * i + 1] << 8;
        assert_int_equal(d.labels[i], k % 10);
        assert_true(k > prev); /* kept in order */
        prev = k;
        seen[k]++;
    }
    for (int k = 0; k < 500; k++) assert_int_equal(seen[k], 1);
    /* not the first 100 images: spread over the set */
    assert_true(v.source_index[99] > 300 && v.source_index[0] < 100);
    dataset d3, v3;
    make_numbered(&d3, 500);
    assert_int_equal(dataset_split(&d3, 100, 43, &v3, &err), 0);
    assert_true(memcmp(v.source_index, v3.source_index, 100 * sizeof(uint32_t)) != 0);
    assert_int_equal(dataset_split(&d3, 400, 1, &v2, &err), EPR_EARG); /* d3 has 400 left: none would remain */
    assert_non_null(strstr(err.msg, "validation split of 400 of 400"));
    assert_int_equal(dataset_split(&d3, 0, 1, &v2, &err), EPR_EARG);
    dataset_free(&d);
    dataset_free(&v);
    dataset_free(&v3);
    dataset_free(&d3);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idx_good_raw),
        cmocka_unit_test(test_idx_good_gz),
        cmocka_unit_test(test_idx_bad_magic),
        cmocka_unit_test(test_idx_wrong_dims),
        cmocka_unit_test(test_idx_truncated),
        cmocka_unit_test(test_idx_truncated_gzip_stream),
        cmocka_unit_test(test_idx_trailing),
        cmocka_unit_test(test_idx_label_range),
        cmocka_unit_test(test_idx_count_mismatch),
        cmocka_unit_test(test_idx_missing_file),
        cmocka_unit_test(test_idx_empty_file),
        cmocka_unit_test(test_load_bad_args),
        cmocka_unit_test(test_cifar_good),
        cmocka_unit_test(test_cifar_not_multiple),
        cmocka_unit_test(test_cifar_label_range),
        cmocka_unit_test(test_cifar_empty_and_missing),
        cmocka_unit_test(test_gather),
        cmocka_unit_test(test_norm_from_data),
        cmocka_unit_test(test_split),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
