/* pack_jpeg_test — epr-pack end to end: tiny JPEGs written here with
 * libjpeg (solid colours, landscape, portrait, smaller than the stored size,
 * grayscale) in class subdirectories, converted, and read back with
 * dataset_load_pack: class order, label order, stored size, colours (JPEG
 * and resampling keep a solid colour within a few levels), the .classes
 * file and --classes for a validation split; a file that is not a JPEG
 * stops the run with its name in the message, or is left out with
 * --skip-bad.  Registered by tests/bignets/extra.cmake (it needs libjpeg). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <jpeglib.h>

#include "run/dataset.h"
#include "../harness/harness_test_util.h"

static char g_dir[256];

static void write_jpeg(const char *path, int w, int h, int gray, const uint8_t rgb[3]) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr e;
    c.err = jpeg_std_error(&e);
    jpeg_create_compress(&c);
    jpeg_stdio_dest(&c, f);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = gray ? 1 : 3;
    c.in_color_space = gray ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 95, TRUE);
    jpeg_start_compress(&c, TRUE);
    uint8_t *row = malloc((size_t)w * 3);
    for (int x = 0; x < w; x++)
        for (int ch = 0; ch < (gray ? 1 : 3); ch++) row[x * (gray ? 1 : 3) + ch] = rgb[ch];
    while (c.next_scanline < c.image_height) {
        JSAMPROW r = row;
        jpeg_write_scanlines(&c, &r, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    fclose(f);
    free(row);
}

static void mk(const char *rel) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", g_dir, rel);
    assert_int_equal(mkdir(p, 0755), 0);
}

static void jpg(const char *rel, int w, int h, int gray, uint8_t r, uint8_t g, uint8_t b) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", g_dir, rel);
    const uint8_t rgb[3] = {r, g, b};
    write_jpeg(p, w, h, gray, rgb);
}

/* Runs epr-pack with args; returns its exit status, output in g_dir/out.txt. */
static int run_pack(const char *args) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s' %s > '%s/out.txt' 2>&1", EPR_PACK_BIN, args, g_dir);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int output_has(const char *needle) {
    char p[512], buf[8192] = "";
    snprintf(p, sizeof p, "%s/out.txt", g_dir);
    FILE *f = fopen(p, "r");
    if (!f) return 0;
    size_t k = fread(buf, 1, sizeof buf - 1, f);
    buf[k] = 0;
    fclose(f);
    if (!strstr(buf, needle)) fprintf(stderr, "output lacks '%s':\n%s\n", needle, buf);
    return strstr(buf, needle) != NULL;
}

static int setup(void **st) {
    (void)st;
    return test_mkdtemp(g_dir, sizeof g_dir, "/tmp/epr-packjpeg-test-XXXXXX");
}

static int teardown(void **st) {
    (void)st;
    return test_rmtree(g_dir);
}

static void expect_colour(const dataset *d, int i, int r, int g, int b) {
    const size_t hw = (size_t)d->h * d->w;
    const uint8_t *p = d->images + (size_t)i * 3 * hw;
    const int want[3] = {r, g, b};
    for (int ch = 0; ch < 3; ch++)
        for (size_t k = 0; k < hw; k++)
            if (abs((int)p[ch * hw + k] - want[ch]) > 6)
                fail_msg("image %d channel %d pixel %zu: %d, expected about %d", i, ch, k, p[ch * hw + k], want[ch]);
}

static void test_convert(void **st) {
    (void)st;
    mk("train");
    mk("train/n02_dog");
    mk("train/n01_cat");
    mk("train/n03_eel");
    jpg("train/n01_cat/b.JPEG", 40, 30, 0, 200, 30, 30);  /* landscape */
    jpg("train/n01_cat/a.JPEG", 30, 50, 0, 30, 200, 30);  /* portrait */
    jpg("train/n02_dog/x.jpg", 10, 12, 0, 30, 30, 200);   /* smaller than 16: enlarged */
    jpg("train/n03_eel/g.jpg", 33, 33, 1, 128, 0, 0);     /* grayscale */
    jpg("train/n03_eel/h.jpg", 200, 160, 0, 90, 160, 10); /* decoded at 1/8 by the DCT scaler */
    char args[1024];
    snprintf(args, sizeof args, "--size 16 '%s/train' '%s/train.pack'", g_dir, g_dir);
    assert_int_equal(run_pack(args), 0);
    assert_true(output_has("5 images of 3x16x16 in 3 classes"));

    char p[512];
    snprintf(p, sizeof p, "%s/train.pack", g_dir);
    dataset d;
    epr_err err = {0};
    if (dataset_load_pack(p, 0, &d, &err)) fail_msg("%s", err.msg);
    assert_int_equal(d.n, 5);
    assert_int_equal(d.h, 16);
    assert_int_equal(d.w, 16);
    assert_int_equal(d.n_classes, 3);
    const int labels[5] = {0, 0, 1, 2, 2}; /* classes and files in byte order */
    for (int i = 0; i < 5; i++) assert_int_equal(d.labels[i], labels[i]);
    expect_colour(&d, 0, 30, 200, 30); /* a.JPEG before b.JPEG */
    expect_colour(&d, 1, 200, 30, 30);
    expect_colour(&d, 2, 30, 30, 200);
    expect_colour(&d, 3, 128, 128, 128);
    expect_colour(&d, 4, 90, 160, 10);
    dataset_free(&d);

    snprintf(p, sizeof p, "%s/train.pack.classes", g_dir);
    FILE *f = fopen(p, "r");
    assert_non_null(f);
    char buf[256] = "";
    size_t k = fread(buf, 1, sizeof buf - 1, f);
    buf[k] = 0;
    fclose(f);
    assert_string_equal(buf, "n01_cat\nn02_dog\nn03_eel\n");

    /* a validation split without n01_cat keeps the training labels */
    mk("val");
    mk("val/n03_eel");
    jpg("val/n03_eel/v.jpg", 20, 20, 0, 10, 10, 10);
    snprintf(args, sizeof args, "--size 16 --classes '%s/train.pack.classes' '%s/val' '%s/val.pack'", g_dir, g_dir,
             g_dir);
    assert_int_equal(run_pack(args), 0);
    snprintf(p, sizeof p, "%s/val.pack", g_dir);
    if (dataset_load_pack(p, 12, &d, &err)) fail_msg("%s", err.msg);
    assert_int_equal(d.n, 1);
    assert_int_equal(d.labels[0], 2);
    assert_int_equal(d.n_classes, 3);
    assert_int_equal(d.h, 12);
    dataset_free(&d);
    /* a class directory missing from the list is an error */
    mk("val/zebra");
    assert_int_equal(run_pack(args), 1);
    assert_true(output_has("class directory 'zebra' is not in the class list"));
}

static void test_bad_files(void **st) {
    (void)st;
    mk("bad");
    mk("bad/c0");
    jpg("bad/c0/ok.jpg", 20, 20, 0, 1, 2, 3);
    char p[512];
    snprintf(p, sizeof p, "%s/bad/c0/not_a_jpeg.JPEG", g_dir);
    FILE *f = fopen(p, "wb");
    fputs("\x89PNG\r\n\x1a\n this is not a JPEG", f);
    fclose(f);
    snprintf(p, sizeof p, "%s/bad/c0/empty.jpg", g_dir);
    fclose(fopen(p, "wb"));
    char args[1024];
    snprintf(args, sizeof args, "--size 16 '%s/bad' '%s/bad.pack'", g_dir, g_dir);
    assert_int_equal(run_pack(args), 1);
    assert_true(output_has("bad/c0/empty.jpg: not a readable JPEG"));
    snprintf(p, sizeof p, "%s/bad.pack", g_dir);
    struct stat sb;
    assert_int_not_equal(stat(p, &sb), 0); /* nothing written */
    snprintf(args, sizeof args, "--skip-bad --size 16 '%s/bad' '%s/bad.pack'", g_dir, g_dir);
    assert_int_equal(run_pack(args), 0);
    assert_true(output_has("skipping"));
    assert_true(output_has("not_a_jpeg.JPEG"));
    assert_true(output_has("2 unreadable files left out"));
    dataset d;
    epr_err err = {0};
    if (dataset_load_pack(p, 0, &d, &err)) fail_msg("%s", err.msg);
    assert_int_equal(d.n, 1);
    dataset_free(&d);
    /* usage errors */
    assert_int_equal(run_pack("--size 3 a b"), 1);
    assert_true(output_has("--size 3: expected an integer in 8..4096"));
    snprintf(args, sizeof args, "'%s/nowhere' '%s/x.pack'", g_dir, g_dir);
    assert_int_equal(run_pack(args), 1);
    assert_true(output_has("cannot open directory"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_convert),
        cmocka_unit_test(test_bad_files),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
