/* tests/harness/test_h5run.c — the HDF5 run file: round trip of every
 * element type and attribute kind, curves chunked and extendible, atomic
 * replacement (an existing file survives a failed write, no temporary is
 * left), and clear errors (never a crash) on missing, non-HDF5, truncated
 * and mismatching files.  Files live under EPR_BINARY_DIR/h5run_test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <hdf5.h>

#include "run/h5run.h"
#include "harness_test_util.h"

static char tmpdir[1024];

static const char *tmp_path(const char *name) { return test_join(tmpdir, name); }

static int setup_dir(void **state) {
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "%s/h5run_test", EPR_BINARY_DIR);
    mkdir(tmpdir, 0755);
    return 0;
}

/* Number of "<name>.tmp.*" files left in tmpdir. */
static int count_temporaries(const char *name) {
    char prefix[300];
    snprintf(prefix, sizeof prefix, "%s.tmp.", name);
    DIR *d = opendir(tmpdir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (!strncmp(e->d_name, prefix, strlen(prefix))) n++;
    closedir(d);
    return n;
}

static int file_exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

static void assert_msg_has(const epr_err *e, const char *needle) {
    if (!strstr(e->msg, needle)) fail_msg("message \"%s\" does not mention \"%s\"", e->msg, needle);
}

/* ---- a description exercising everything ---- */

#define N32 7
#define R4A 2
#define R4B 3
#define R4C 1
#define R4D 2
#define CLEN 5

typedef struct {
    float f32[N32];
    double f64[2][3];
    int32_t i32[4];
    int64_t i64[3];
    uint8_t u8[R4A * R4B * R4C * R4D];
    double scalar;
    int64_t shape[2];
    double curve_step[CLEN], curve_loss[CLEN];
    char big[100001];
    h5run_attr root[8], fin[4], dsattr[3];
    h5run_dataset ds[8];
    h5run_curve curves[2];
    h5run_desc d;
} sample;

static const char *UTF8 = "λ = 0.01 — Grüße";

static void make_sample(sample *s, int variant) {
    memset(s, 0, sizeof *s);
    for (int i = 0; i < N32; i++) s->f32[i] = 0.25f * (float)i - 3.0f + (float)variant;
    for (int i = 0; i < 6; i++) s->f64[i / 3][i % 3] = 1.0 / (i + 1) + variant;
    for (int i = 0; i < 4; i++) s->i32[i] = (int32_t)(-2000000000 + (int64_t)i * 1000000000 + variant);
    s->i64[0] = INT64_MIN;
    s->i64[1] = 0;
    s->i64[2] = INT64_MAX - variant;
    for (int i = 0; i < R4A * R4B * R4C * R4D; i++) s->u8[i] = (uint8_t)(250 + i + variant);
    s->scalar = M_PI;
    s->shape[0] = 300;
    s->shape[1] = 784;
    for (int i = 0; i < CLEN; i++) {
        s->curve_step[i] = 100.0 * (i + 1);
        s->curve_loss[i] = 2.5 / (i + 1) + variant;
    }
    memset(s->big, 'x', sizeof s->big - 1);
    s->big[0] = '[';
    s->big[sizeof s->big - 2] = ']';

    s->root[0] = h5run_str("code_version", "0.1.0");
    s->root[1] = h5run_str("utf8", UTF8);
    s->root[2] = h5run_str("empty", "");
    s->root[3] = h5run_str("experiment", s->big);
    s->root[4] = h5run_i64("seed", -42 - variant);
    s->root[5] = h5run_f64("lambda", 1e-3);
    s->root[6] = h5run_i64v("shape", s->shape, 2);
    s->root[7] = h5run_f64v("pair", s->f64[0], 3);
    s->dsattr[0] = h5run_str("group", "latent");
    s->dsattr[1] = h5run_i64v("shape", s->shape, 2);
    s->dsattr[2] = h5run_f64("step_size", 0.125);

    s->ds[0] = h5run_array("/model/latent/fc12", H5RUN_F32, N32, s->f32);
    s->ds[0].attrs = s->dsattr;
    s->ds[0].n_attrs = 3;
    s->ds[1] = (h5run_dataset){.path = "/optimizer/m1", .type = H5RUN_F64, .rank = 2, .dims = {2, 3}, .data = s->f64};
    s->ds[2] = h5run_array("/rng/state", H5RUN_I32, 4, s->i32);
    s->ds[3] = h5run_array("/step_i64", H5RUN_I64, 3, s->i64);
    s->ds[4] = (h5run_dataset){
        .path = "/a/b/c/d/rank4", .type = H5RUN_U8, .rank = 4, .dims = {R4A, R4B, R4C, R4D}, .data = s->u8};
    s->ds[5] = (h5run_dataset){.path = "/scalar", .type = H5RUN_F64, .rank = 0, .data = &s->scalar};
    s->ds[6] = h5run_array("/model/empty", H5RUN_F32, 0, NULL);
    s->ds[7] = h5run_array("/density/params", H5RUN_F32, N32, s->f32);

    s->curves[0] = (h5run_curve){"step", s->curve_step};
    s->curves[1] = (h5run_curve){"loss", s->curve_loss};
    s->fin[0] = h5run_f64("test_error", 0.0123);
    s->fin[1] = h5run_i64("file_bytes", 12345);
    s->fin[2] = h5run_str("bitstream", "model.epr");
    s->fin[3] = h5run_i64v("bytes_by_part", s->shape, 2);

    s->d = (h5run_desc){.attrs = s->root,
                        .n_attrs = 8,
                        .datasets = s->ds,
                        .n_datasets = 8,
                        .curves = s->curves,
                        .n_curves = 2,
                        .curve_len = CLEN,
                        .final_attrs = s->fin,
                        .n_final_attrs = 4};
}

/* Reads the file back and compares with make_sample(variant). */
static void check_sample(const char *path, int variant) {
    sample *s = malloc(sizeof *s);
    assert_non_null(s);
    make_sample(s, variant);
    epr_err err = {0};
    h5run *h = NULL;
    if (h5run_open(path, &h, &err)) fail_msg("%s", err.msg);

    char buf[256];
    assert_int_equal(h5run_get_str(h, NULL, "code_version", buf, sizeof buf, &err), 0);
    assert_string_equal(buf, "0.1.0");
    assert_int_equal(h5run_get_str(h, "/", "utf8", buf, sizeof buf, &err), 0);
    assert_string_equal(buf, UTF8);
    assert_int_equal(h5run_get_str(h, "/", "empty", buf, sizeof buf, &err), 0);
    assert_string_equal(buf, "");
    char *big = NULL;
    assert_int_equal(h5run_get_strdup(h, "/", "experiment", &big, &err), 0);
    assert_string_equal(big, s->big);
    free(big);
    int64_t i;
    double x;
    assert_int_equal(h5run_get_i64(h, NULL, "seed", &i, &err), 0);
    assert_int_equal(i, -42 - variant);
    assert_int_equal(h5run_get_f64(h, NULL, "lambda", &x, &err), 0);
    assert_true(x == 1e-3);
    assert_int_equal(h5run_get_f64(h, NULL, "seed", &x, &err), 0); /* integer read as double */
    assert_true(x == -42 - variant);
    int64_t shp[2];
    assert_int_equal(h5run_get_i64v(h, NULL, "shape", shp, 2, &err), 0);
    assert_int_equal(shp[0], 300);
    assert_int_equal(shp[1], 784);
    double pair[3];
    assert_int_equal(h5run_get_f64v(h, NULL, "pair", pair, 3, &err), 0);
    assert_memory_equal(pair, s->f64[0], sizeof pair);

    /* dataset attributes */
    assert_true(h5run_has_attr(h, "/model/latent/fc12", "group"));
    assert_int_equal(h5run_get_str(h, "/model/latent/fc12", "group", buf, sizeof buf, &err), 0);
    assert_string_equal(buf, "latent");
    assert_int_equal(h5run_get_i64v(h, "/model/latent/fc12", "shape", shp, 2, &err), 0);
    assert_int_equal(shp[1], 784);
    assert_int_equal(h5run_get_f64(h, "/model/latent/fc12", "step_size", &x, &err), 0);
    assert_true(x == 0.125);

    /* datasets of every type */
    float f32[N32];
    assert_int_equal(h5run_read(h, "/model/latent/fc12", H5RUN_F32, f32, N32, &err), 0);
    assert_memory_equal(f32, s->f32, sizeof f32);
    double f64[6];
    assert_int_equal(h5run_read(h, "/optimizer/m1", H5RUN_F64, f64, 6, &err), 0);
    assert_memory_equal(f64, s->f64, sizeof f64);
    int32_t i32[4];
    assert_int_equal(h5run_read(h, "/rng/state", H5RUN_I32, i32, 4, &err), 0);
    assert_memory_equal(i32, s->i32, sizeof i32);
    int64_t i64[3];
    assert_int_equal(h5run_read(h, "/step_i64", H5RUN_I64, i64, 3, &err), 0);
    assert_memory_equal(i64, s->i64, sizeof i64);
    uint8_t u8[R4A * R4B * R4C * R4D];
    assert_int_equal(h5run_read(h, "/a/b/c/d/rank4", H5RUN_U8, u8, sizeof u8, &err), 0);
    assert_memory_equal(u8, s->u8, sizeof u8);
    int rank;
    size_t dims[4], n;
    assert_int_equal(h5run_dataset_shape(h, "/a/b/c/d/rank4", &rank, dims, &err), 0);
    assert_int_equal(rank, 4);
    assert_int_equal(dims[0], R4A);
    assert_int_equal(dims[1], R4B);
    assert_int_equal(dims[2], R4C);
    assert_int_equal(dims[3], R4D);
    assert_int_equal(h5run_dataset_shape(h, "/scalar", &rank, dims, &err), 0);
    assert_int_equal(rank, 0);
    assert_int_equal(h5run_dataset_size(h, "/scalar", &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(h5run_read(h, "/scalar", H5RUN_F64, &x, 1, &err), 0);
    assert_true(x == M_PI);
    assert_int_equal(h5run_dataset_size(h, "/model/empty", &n, &err), 0);
    assert_int_equal(n, 0);
    assert_int_equal(h5run_read(h, "/model/empty", H5RUN_F32, NULL, 0, &err), 0);
    assert_int_equal(h5run_dataset_size(h, "/density/params", &n, &err), 0);
    assert_int_equal(n, N32);

    /* curves */
    assert_int_equal(h5run_curve_len(h, "loss", &n, &err), 0);
    assert_int_equal(n, CLEN);
    double c[CLEN];
    assert_int_equal(h5run_curve_read(h, "step", c, CLEN, &err), 0);
    assert_memory_equal(c, s->curve_step, sizeof c);
    assert_int_equal(h5run_curve_read(h, "loss", c, CLEN, &err), 0);
    assert_memory_equal(c, s->curve_loss, sizeof c);

    /* /final */
    assert_int_equal(h5run_get_f64(h, "/final", "test_error", &x, &err), 0);
    assert_true(x == 0.0123);
    assert_int_equal(h5run_get_i64(h, "/final", "file_bytes", &i, &err), 0);
    assert_int_equal(i, 12345);
    assert_int_equal(h5run_get_str(h, "/final", "bitstream", buf, sizeof buf, &err), 0);
    assert_string_equal(buf, "model.epr");

    assert_true(h5run_has(h, "/"));
    assert_true(h5run_has(h, "/model"));
    assert_true(h5run_has(h, "/model/latent/fc12"));
    assert_false(h5run_has(h, "/model/latent/nope"));
    assert_false(h5run_has(h, "/nope/deeper/still"));
    assert_false(h5run_has(h, "/model/latent/fc12/below_a_dataset"));
    assert_false(h5run_has(h, ""));
    h5run_close(h);
    free(s);
}

static void test_round_trip(void **state) {
    (void)state;
    sample *s = malloc(sizeof *s);
    assert_non_null(s);
    make_sample(s, 0);
    const char *p = tmp_path("round.h5");
    epr_err err = {0};
    if (h5run_write(p, &s->d, &err)) fail_msg("%s", err.msg);
    check_sample(p, 0);
    assert_int_equal(count_temporaries("round.h5"), 0);
    /* overwrite an existing file with different content */
    make_sample(s, 1);
    if (h5run_write(p, &s->d, &err)) fail_msg("%s", err.msg);
    check_sample(p, 1);
    assert_int_equal(count_temporaries("round.h5"), 0);
    free(s);
}

/* A relative file name (no '/') writes into the current directory. */
static void test_relative_name(void **state) {
    (void)state;
    char cwd[1024];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(tmpdir), 0);
    int64_t v = 7;
    h5run_dataset ds = h5run_array("/x", H5RUN_I64, 1, &v);
    h5run_desc d = {.datasets = &ds, .n_datasets = 1};
    epr_err err = {0};
    int rc = h5run_write("relative.h5", &d, &err);
    assert_int_equal(chdir(cwd), 0);
    if (rc) fail_msg("%s", err.msg);
    assert_true(file_exists(tmp_path("relative.h5")));
}

static void test_curves_chunked_extendible(void **state) {
    (void)state;
    sample *s = malloc(sizeof *s);
    assert_non_null(s);
    make_sample(s, 0);
    const char *p = tmp_path("curves.h5");
    epr_err err = {0};
    if (h5run_write(p, &s->d, &err)) fail_msg("%s", err.msg);

    hid_t f = H5Fopen(p, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(f >= 0);
    const char *names[] = {"/curves/step", "/curves/loss"};
    for (int k = 0; k < 2; k++) {
        hid_t d = H5Dopen2(f, names[k], H5P_DEFAULT);
        assert_true(d >= 0);
        hid_t dcpl = H5Dget_create_plist(d);
        assert_int_equal(H5Pget_layout(dcpl), H5D_CHUNKED);
        hid_t sp = H5Dget_space(d);
        hsize_t dims, maxdims;
        assert_int_equal(H5Sget_simple_extent_ndims(sp), 1);
        H5Sget_simple_extent_dims(sp, &dims, &maxdims);
        assert_int_equal(dims, CLEN);
        assert_true(maxdims == H5S_UNLIMITED);
        H5Sclose(sp);
        H5Pclose(dcpl);
        /* really extendible: grow by 3 and append */
        hsize_t nd = CLEN + 3;
        assert_true(H5Dset_extent(d, &nd) >= 0);
        H5Dclose(d);
    }
    /* the non-curve datasets are plain contiguous arrays */
    hid_t d = H5Dopen2(f, "/model/latent/fc12", H5P_DEFAULT);
    hid_t dcpl = H5Dget_create_plist(d);
    assert_int_equal(H5Pget_layout(dcpl), H5D_CONTIGUOUS);
    H5Pclose(dcpl);
    H5Dclose(d);
    H5Fclose(f);

    h5run *h = NULL;
    assert_int_equal(h5run_open(p, &h, &err), 0);
    size_t n;
    assert_int_equal(h5run_curve_len(h, "step", &n, &err), 0);
    assert_int_equal(n, CLEN + 3);
    h5run_close(h);

    /* zero-length curves (a run at step 0) are fine too */
    s->d.curve_len = 0;
    const char *p0 = tmp_path("curves0.h5");
    if (h5run_write(p0, &s->d, &err)) fail_msg("%s", err.msg);
    assert_int_equal(h5run_open(p0, &h, &err), 0);
    assert_int_equal(h5run_curve_len(h, "loss", &n, &err), 0);
    assert_int_equal(n, 0);
    assert_int_equal(h5run_curve_read(h, "loss", NULL, 0, &err), 0);
    h5run_close(h);
    free(s);
}

/* Writes a known-good file at p and checks that it survives failure. */
static void write_good(const char *p) {
    sample *s = malloc(sizeof *s);
    assert_non_null(s);
    make_sample(s, 0);
    epr_err err = {0};
    if (h5run_write(p, &s->d, &err)) fail_msg("%s", err.msg);
    free(s);
}

static void test_atomic_hook(void **state) {
    (void)state;
    const char *p = tmp_path("atomic.h5");
    write_good(p);
    sample *s = malloc(sizeof *s);
    assert_non_null(s);
    make_sample(s, 1);
    /* fail after 0, some datasets, all datasets + one curve */
    int afters[] = {0, 3, 9};
    for (int k = 0; k < 3; k++) {
        epr_err err = {0};
        h5run_test_fail_after = afters[k];
        int rc = h5run_write(p, &s->d, &err);
        h5run_test_fail_after = -1;
        assert_int_equal(rc, EPR_EIO);
        assert_msg_has(&err, p);
        assert_msg_has(&err, "test hook");
        assert_int_equal(count_temporaries("atomic.h5"), 0);
        check_sample(p, 0); /* the old content, intact */
    }
    free(s);
}

static void test_atomic_bad_path(void **state) {
    (void)state;
    const char *p = tmp_path("atomic2.h5");
    write_good(p);
    float v[3] = {1, 2, 3};
    h5run_dataset ds[3] = {
        h5run_array("/model/w", H5RUN_F32, 3, v), h5run_array("/model/big", H5RUN_F32, 3, v),
        h5run_array("/model/w/below", H5RUN_F32, 3, v), /* /model/w is a dataset */
    };
    h5run_desc d = {.datasets = ds, .n_datasets = 3};
    epr_err err = {0};
    assert_int_equal(h5run_write(p, &d, &err), EPR_EIO);
    assert_msg_has(&err, p);
    assert_msg_has(&err, "H5Dcreate2");
    assert_msg_has(&err, "/model/w/below");
    assert_msg_has(&err, "/model/w exists and is not a group");
    assert_int_equal(count_temporaries("atomic2.h5"), 0);
    check_sample(p, 0);

    /* duplicate dataset, duplicate attribute */
    ds[1] = h5run_array("/model/w", H5RUN_F32, 3, v);
    d.n_datasets = 2;
    assert_int_equal(h5run_write(p, &d, &err), EPR_EIO);
    assert_msg_has(&err, "/model/w");
    h5run_attr at[2] = {h5run_i64("seed", 1), h5run_f64("seed", 2)};
    d = (h5run_desc){.attrs = at, .n_attrs = 2};
    assert_int_equal(h5run_write(p, &d, &err), EPR_EIO);
    assert_msg_has(&err, "seed");
    /* a curve whose name collides with a dataset under /curves */
    double cv[2] = {1, 2};
    ds[0] = h5run_array("/curves/loss", H5RUN_F64, 2, cv);
    h5run_curve cu = {"loss", cv};
    d = (h5run_desc){.datasets = ds, .n_datasets = 1, .curves = &cu, .n_curves = 1, .curve_len = 2};
    assert_int_equal(h5run_write(p, &d, &err), EPR_EIO);
    assert_msg_has(&err, "/curves/loss");
    assert_int_equal(count_temporaries("atomic2.h5"), 0);
    check_sample(p, 0);
}

static void test_bad_descriptions(void **state) {
    (void)state;
    const char *p = tmp_path("never.h5");
    float v[2] = {0, 0};
    epr_err err = {0};
    h5run_dataset ds = h5run_array("/x", H5RUN_F32, 2, NULL);
    h5run_desc d = {.datasets = &ds, .n_datasets = 1};
    assert_int_equal(h5run_write(p, &d, &err), EPR_EARG);
    assert_msg_has(&err, "/x");
    ds = (h5run_dataset){.path = "/x", .type = H5RUN_F32, .rank = 5, .data = v};
    assert_int_equal(h5run_write(p, &d, &err), EPR_EARG);
    ds = h5run_array("", H5RUN_F32, 2, v);
    assert_int_equal(h5run_write(p, &d, &err), EPR_EARG);
    ds = h5run_array("/x", (h5run_type)99, 2, v);
    assert_int_equal(h5run_write(p, &d, &err), EPR_EARG);
    h5run_curve c = {"a/b", NULL};
    d = (h5run_desc){.curves = &c, .n_curves = 1, .curve_len = 0};
    assert_int_equal(h5run_write(p, &d, &err), EPR_EARG);
    assert_msg_has(&err, "a/b");
    h5run_attr a = h5run_str("name", NULL);
    d = (h5run_desc){.attrs = &a, .n_attrs = 1};
    assert_int_equal(h5run_write(p, &d, &err), EPR_EARG);
    assert_int_equal(h5run_write(p, NULL, &err), EPR_EARG);
    assert_false(file_exists(p));
    assert_int_equal(count_temporaries("never.h5"), 0);

    /* a directory that does not exist: an error naming the file */
    const char *q = tmp_path("no/such/dir/run.h5");
    d = (h5run_desc){0};
    assert_int_equal(h5run_write(q, &d, &err), EPR_EIO);
    assert_msg_has(&err, q);
    assert_msg_has(&err, "H5Fcreate");
}

static void copy_prefix(const char *from, const char *to, long n) {
    FILE *f = fopen(from, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (n < 0) n = size + n;
    char *b = malloc((size_t)size);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    FILE *g = fopen(to, "wb");
    assert_non_null(g);
    assert_int_equal(fwrite(b, 1, (size_t)n, g), (size_t)n);
    fclose(g);
    free(b);
}

static void test_damaged_files(void **state) {
    (void)state;
    epr_err err = {0};
    h5run *h = NULL;
    /* missing */
    const char *m = tmp_path("missing.h5");
    assert_int_equal(h5run_open(m, &h, &err), EPR_EIO);
    assert_null(h);
    assert_msg_has(&err, m);
    assert_msg_has(&err, "No such file");
    /* a directory */
    assert_int_equal(h5run_open(tmpdir, &h, &err), EPR_EIO);
    /* random bytes, and an empty file */
    const char *r = tmp_path("random.h5");
    FILE *f = fopen(r, "wb");
    assert_non_null(f);
    uint32_t x = 12345;
    for (int i = 0; i < 5000; i++) {
        x = x * 1664525u + 1013904223u;
        fputc((int)(x >> 24), f);
    }
    fclose(f);
    assert_int_equal(h5run_open(r, &h, &err), EPR_EFORMAT);
    assert_null(h);
    assert_msg_has(&err, r);
    assert_msg_has(&err, "not an HDF5 file");
    const char *e = tmp_path("empty.h5");
    fclose(fopen(e, "wb"));
    assert_int_equal(h5run_open(e, &h, &err), EPR_EFORMAT);
    assert_msg_has(&err, e);

    /* truncated copies of a valid file: at several lengths */
    const char *good = tmp_path("good.h5");
    write_good(good);
    const char *t = tmp_path("truncated.h5");
    long cuts[] = {-1, -100, -4000, 2048, 512, 100, 8};
    for (int k = 0; k < (int)(sizeof cuts / sizeof cuts[0]); k++) {
        copy_prefix(good, t, cuts[k]);
        int rc = h5run_open(t, &h, &err);
        if (rc == 0) {
            /* HDF5 found nothing wrong at open: every read must still fail cleanly or succeed */
            float f32[N32];
            (void)h5run_read(h, "/model/latent/fc12", H5RUN_F32, f32, N32, &err);
            h5run_close(h);
            fail_msg("truncated copy (cut %ld) opened without error", cuts[k]);
        }
        assert_true(rc == EPR_EFORMAT);
        assert_null(h);
        assert_msg_has(&err, t);
    }
}

static void test_mismatches(void **state) {
    (void)state;
    const char *p = tmp_path("mismatch.h5");
    write_good(p);
    epr_err err = {0};
    h5run *h = NULL;
    assert_int_equal(h5run_open(p, &h, &err), 0);
    float f32[N32 + 1];
    double f64[N32];
    /* missing dataset */
    assert_int_equal(h5run_read(h, "/model/latent/fc99", H5RUN_F32, f32, N32, &err), EPR_EFORMAT);
    assert_msg_has(&err, p);
    assert_msg_has(&err, "no dataset /model/latent/fc99");
    assert_int_equal(h5run_read(h, "/nope/at/all", H5RUN_F32, f32, N32, &err), EPR_EFORMAT);
    assert_msg_has(&err, "/nope/at/all");
    /* wrong size */
    assert_int_equal(h5run_read(h, "/model/latent/fc12", H5RUN_F32, f32, N32 + 1, &err), EPR_EFORMAT);
    assert_msg_has(&err, p);
    assert_msg_has(&err, "/model/latent/fc12 has 7 elements, expected 8");
    /* wrong type: float32 read as float64, as int32; int64 as int32; uint8 as int32 */
    assert_int_equal(h5run_read(h, "/model/latent/fc12", H5RUN_F64, f64, N32, &err), EPR_EFORMAT);
    assert_msg_has(&err, "holds float32, expected float64");
    assert_int_equal(h5run_read(h, "/model/latent/fc12", H5RUN_I32, f32, N32, &err), EPR_EFORMAT);
    assert_msg_has(&err, "holds float32, expected int32");
    assert_int_equal(h5run_read(h, "/step_i64", H5RUN_I32, f32, 3, &err), EPR_EFORMAT);
    assert_msg_has(&err, "holds int64, expected int32");
    assert_int_equal(h5run_read(h, "/a/b/c/d/rank4", H5RUN_I32, f64, 12, &err), EPR_EFORMAT);
    assert_msg_has(&err, "holds uint8, expected int32");
    /* a group is not a dataset */
    assert_int_equal(h5run_read(h, "/model/latent", H5RUN_F32, f32, N32, &err), EPR_EFORMAT);
    assert_msg_has(&err, "not a dataset");
    size_t n;
    assert_int_equal(h5run_dataset_size(h, "/model", &n, &err), EPR_EFORMAT);
    assert_int_equal(h5run_curve_len(h, "nope", &n, &err), EPR_EFORMAT);
    assert_msg_has(&err, "/curves/nope");
    assert_int_equal(h5run_curve_read(h, "loss", f64, CLEN - 1, &err), EPR_EFORMAT);
    assert_msg_has(&err, "expected 4");
    /* attributes: missing, wrong kind, wrong count, too long */
    int64_t i;
    double x;
    char buf[8];
    assert_int_equal(h5run_get_i64(h, NULL, "nope", &i, &err), EPR_EFORMAT);
    assert_msg_has(&err, "no attribute 'nope'");
    assert_int_equal(h5run_get_i64(h, "/nofinal", "x", &i, &err), EPR_EFORMAT);
    assert_msg_has(&err, "no object /nofinal");
    assert_int_equal(h5run_get_i64(h, NULL, "lambda", &i, &err), EPR_EFORMAT);
    assert_msg_has(&err, "float64, expected an integer");
    assert_int_equal(h5run_get_f64(h, NULL, "code_version", &x, &err), EPR_EFORMAT);
    assert_msg_has(&err, "string, expected a number");
    assert_int_equal(h5run_get_str(h, NULL, "seed", buf, sizeof buf, &err), EPR_EFORMAT);
    assert_msg_has(&err, "expected a string");
    assert_int_equal(h5run_get_i64(h, NULL, "shape", &i, &err), EPR_EFORMAT);
    assert_msg_has(&err, "has 2 elements, expected 1");
    assert_int_equal(h5run_get_str(h, NULL, "utf8", buf, sizeof buf, &err), EPR_EFORMAT);
    assert_msg_has(&err, "buffer holds 8");
    assert_false(h5run_has_attr(h, NULL, "nope"));
    assert_false(h5run_has_attr(h, "/nope", "x"));
    assert_true(h5run_has_attr(h, "/final", "test_error"));
    h5run_close(h);
    h5run_close(NULL);
}

/* Flips one byte of the raw data of dataset ds (contiguous) in file p. */
static void flip_raw_byte(const char *p, const char *ds, long at) {
    hid_t f = H5Fopen(p, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(f >= 0);
    hid_t d = H5Dopen2(f, ds, H5P_DEFAULT);
    assert_true(d >= 0);
    haddr_t off = H5Dget_offset(d);
    assert_true(off != HADDR_UNDEF);
    H5Dclose(d);
    H5Fclose(f);
    FILE *fp = fopen(p, "r+b");
    assert_non_null(fp);
    assert_int_equal(fseek(fp, (long)off + at, SEEK_SET), 0);
    int c = fgetc(fp);
    assert_true(c != EOF);
    assert_int_equal(fseek(fp, (long)off + at, SEEK_SET), 0);
    fputc(c ^ 0x10, fp);
    fclose(fp);
}

static void test_checksums(void **state) {
    (void)state;
    sample *s = malloc(sizeof *s);
    assert_non_null(s);
    make_sample(s, 0);
    const char *p = tmp_path("crc.h5");
    epr_err err = {0};
    if (h5run_write(p, &s->d, &err)) fail_msg("%s", err.msg);
    check_sample(p, 0); /* every dataset verifies */
    h5run *h = NULL;
    assert_int_equal(h5run_open(p, &h, &err), 0);
    assert_true(h5run_has_attr(h, "/model/latent/fc12", H5RUN_CRC_ATTR));
    assert_true(h5run_has_attr(h, "/model/empty", H5RUN_CRC_ATTR));
    assert_false(h5run_has_attr(h, "/curves/loss", H5RUN_CRC_ATTR)); /* curves may be extended */
    h5run_close(h);

    flip_raw_byte(p, "/model/latent/fc12", 9);
    float f32[N32];
    assert_int_equal(h5run_open(p, &h, &err), 0);
    assert_int_equal(h5run_read(h, "/model/latent/fc12", H5RUN_F32, f32, N32, &err), EPR_ECRC);
    assert_msg_has(&err, p);
    assert_msg_has(&err, "/model/latent/fc12 fails its CRC-32 check");
    double f64[6];
    assert_int_equal(h5run_read(h, "/optimizer/m1", H5RUN_F64, f64, 6, &err), 0); /* others still fine */
    h5run_close(h);

    /* a dataset without the attribute (another tool's) is read unchecked */
    hid_t f = H5Fopen(p, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(f >= 0);
    assert_true(H5Adelete_by_name(f, "/model/latent/fc12", H5RUN_CRC_ATTR, H5P_DEFAULT) >= 0);
    H5Fclose(f);
    assert_int_equal(h5run_open(p, &h, &err), 0);
    assert_int_equal(h5run_read(h, "/model/latent/fc12", H5RUN_F32, f32, N32, &err), 0);
    assert_memory_not_equal(f32, s->f32, sizeof f32);
    h5run_close(h);
    free(s);
}

/* The module silences HDF5's printing only inside its calls. */
static void test_error_printing_restored(void **state) {
    (void)state;
    H5E_auto2_t before = NULL, after = NULL;
    void *bd = NULL, *ad = NULL;
    H5Eget_auto2(H5E_DEFAULT, &before, &bd);
    assert_non_null(before);
    epr_err err = {0};
    h5run *h = NULL;
    assert_int_equal(h5run_open(tmp_path("random.h5"), &h, &err) != 0, 1);
    h5run_desc d = {0};
    assert_int_equal(h5run_write(tmp_path("no/such/dir/run.h5"), &d, &err), EPR_EIO);
    H5Eget_auto2(H5E_DEFAULT, &after, &ad);
    assert_ptr_equal(before, after);
    assert_ptr_equal(bd, ad);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_relative_name),
        cmocka_unit_test(test_curves_chunked_extendible),
        cmocka_unit_test(test_atomic_hook),
        cmocka_unit_test(test_atomic_bad_path),
        cmocka_unit_test(test_bad_descriptions),
        cmocka_unit_test(test_damaged_files),
        cmocka_unit_test(test_mismatches),
        cmocka_unit_test(test_checksums),
        cmocka_unit_test(test_error_printing_restored),
    };
    return cmocka_run_group_tests(tests, setup_dir, NULL);
}
