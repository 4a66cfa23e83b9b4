/* tests/harness/test_dataset_pad.c — [data] pad (issue 15: 28x28
 * Fashion-MNIST into networks built for 32x32) and augment = crop:
 *   - dataset_pad: the shape, every byte of a padded image (zero border,
 *     the picture in the middle), refusals that leave the set as it was;
 *   - data_load_experiment pads both splits before the normalisation
 *     statistics (the border counts as pixels of value 0);
 *   - crop without flip: every sample a translation of its image, never a
 *     mirror (with flip some are mirrored);
 *   - the architecture text: `pad P` written only for padded data (other
 *     texts byte for byte as before), read back, old texts read as pad 0,
 *     bad lines refused;
 *   - bitstream_evaluate of a saved file with padding: the same predictions
 *     as the network itself on padded data, and a clear refusal of data
 *     that lacks the border. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "nn/nn.h"
#include "run/bitstream.h"
#include "run/config.h"
#include "run/data_sets.h"
#include "run/dataset.h"
#include "harness_test_util.h"

#define N 6
#define H 5
#define W 4

static uint8_t px(int i, int ch, int r, int k) { return (uint8_t)(1 + (i * 53 + ch * 29 + r * 7 + k * 3) % 250); }

/* n images of c x H x W on the heap, as a loader leaves them. */
static void make_set(dataset *d, int n, int c) {
    memset(d, 0, sizeof *d);
    d->n = n;
    d->c = c;
    d->h = H;
    d->w = W;
    d->n_classes = 10;
    d->images = malloc((size_t)n * c * H * W);
    d->labels = malloc((size_t)n * sizeof(int));
    assert_non_null(d->images);
    assert_non_null(d->labels);
    for (int i = 0; i < n; i++) {
        d->labels[i] = i % 10;
        for (int ch = 0; ch < c; ch++)
            for (int r = 0; r < H; r++)
                for (int k = 0; k < W; k++) d->images[(((size_t)i * c + ch) * H + r) * W + k] = px(i, ch, r, k);
    }
    for (int ch = 0; ch < DATASET_MAX_CHANNELS; ch++) d->std[ch] = 1.0f;
}

static void test_pad_bytes(void **state) {
    (void)state;
    dataset d;
    epr_err e = {0};
    make_set(&d, N, 2);
    assert_int_equal(dataset_pad(&d, 0, &e), 0); /* nothing */
    assert_int_equal(d.h, H);
    assert_int_equal(d.pad, 0);
    assert_int_equal(dataset_pad(&d, 2, &e), 0);
    assert_int_equal(d.n, N);
    assert_int_equal(d.c, 2);
    assert_int_equal(d.h, H + 4);
    assert_int_equal(d.w, W + 4);
    assert_int_equal(d.pad, 2);
    for (int i = 0; i < N; i++) {
        assert_int_equal(d.labels[i], i % 10);
        for (int ch = 0; ch < 2; ch++)
            for (int r = 0; r < H + 4; r++)
                for (int k = 0; k < W + 4; k++) {
                    const int inside = r >= 2 && r < H + 2 && k >= 2 && k < W + 2;
                    const uint8_t want = inside ? px(i, ch, r - 2, k - 2) : 0;
                    assert_int_equal(d.images[(((size_t)i * 2 + ch) * (H + 4) + r) * (W + 4) + k], want);
                }
    }
    /* a second call adds to the border */
    assert_int_equal(dataset_pad(&d, 1, &e), 0);
    assert_int_equal(d.h, H + 6);
    assert_int_equal(d.pad, 3);
    assert_int_equal(d.images[(size_t)3 * (W + 6) + 3], px(0, 0, 0, 0));
    assert_int_equal(d.images[(size_t)2 * (W + 6) + 3], 0);
    dataset_free(&d);
}

static void test_pad_refusals(void **state) {
    (void)state;
    dataset d;
    epr_err e = {0};
    make_set(&d, 2, 1);
    assert_int_equal(dataset_pad(&d, -1, &e), EPR_EARG);
    assert_non_null(strstr(e.msg, "out of range"));
    assert_int_equal(dataset_pad(&d, DATASET_MAX_PAD + 1, &e), EPR_EARG);
    assert_int_equal(d.h, H); /* unchanged */
    assert_int_equal(d.pad, 0);
    d.store_h = H; /* a packed set */
    assert_int_equal(dataset_pad(&d, 2, &e), EPR_EARG);
    assert_non_null(strstr(e.msg, "packed"));
    d.store_h = 0;
    dataset_free(&d);
    assert_int_equal(dataset_pad(&d, 2, &e), EPR_EARG); /* empty */
    assert_int_equal(dataset_pad(NULL, 2, &e), EPR_EARG);
}

/* ---- through the experiment's [data] section ---- */

static char tmpdir[1024];

static void put_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

static void write_idx(const char *name, int n) {
    uint8_t buf[16 + N * H * W];
    put_be32(buf, 0x803), put_be32(buf + 4, (uint32_t)n), put_be32(buf + 8, H), put_be32(buf + 12, W);
    for (int i = 0; i < n; i++)
        for (int r = 0; r < H; r++)
            for (int k = 0; k < W; k++) buf[16 + (i * H + r) * W + k] = px(i, 0, r, k);
    FILE *f = fopen(test_join(tmpdir, name), "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, 16 + (size_t)n * H * W, f), 16 + (size_t)n * H * W);
    assert_int_equal(fclose(f), 0);
    char lname[64];
    snprintf(lname, sizeof lname, "%s.labels", name);
    uint8_t lb[8 + N];
    put_be32(lb, 0x801), put_be32(lb + 4, (uint32_t)n);
    for (int i = 0; i < n; i++) lb[8 + i] = (uint8_t)(i % 10);
    f = fopen(test_join(tmpdir, lname), "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(lb, 1, 8 + (size_t)n, f), 8 + (size_t)n);
    assert_int_equal(fclose(f), 0);
}

static int load_cfg(const char *extra, cfg_experiment *cfg, epr_err *e) {
    char text[4096];
    snprintf(text, sizeof text,
             "[data]\nset = idx\nroot = %s\ntrain_images = tr\ntrain_labels = tr.labels\ntest_images = te\n"
             "test_labels = te.labels\n%s\n",
             tmpdir, extra);
    return cfg_load_string(text, "pad.ini", NULL, 0, cfg, e);
}

static void test_experiment_pad(void **state) {
    (void)state;
    assert_int_equal(test_mkdtemp(tmpdir, sizeof tmpdir, EPR_BINARY_DIR "/test_dataset_pad_XXXXXX"), 0);
    write_idx("tr", N);
    write_idx("te", 3);
    cfg_experiment cfg;
    epr_err e = {0};
    assert_int_equal(load_cfg("pad = 2\nnormalize = true\naugment = crop", &cfg, &e), 0);
    assert_int_equal(cfg.pad, 2);
    dataset tr, te;
    assert_int_equal(data_load_experiment(&cfg, &tr, &te, &e), 0);
    assert_int_equal(tr.h, H + 4);
    assert_int_equal(te.w, W + 4);
    assert_int_equal(tr.pad, 2);
    assert_int_equal(te.pad, 2);
    /* the statistics count the border: pixels of value 0 */
    double s = 0, s2 = 0;
    for (int i = 0; i < N; i++)
        for (int r = 0; r < H; r++)
            for (int k = 0; k < W; k++) {
                double v = px(i, 0, r, k) / 255.0;
                s += v, s2 += v * v;
            }
    const double cnt = (double)N * (H + 4) * (W + 4), mean = s / cnt, sd = sqrt(s2 / cnt - mean * mean);
    assert_float_equal(tr.mean[0], mean, 1e-6);
    assert_float_equal(tr.std[0], sd, 1e-6);
    assert_true(te.mean[0] == tr.mean[0] && te.std[0] == tr.std[0]);
    /* a gathered test image: border = the normalised 0, the middle = the picture */
    uint32_t idx = 1;
    float x[(H + 4) * (W + 4)];
    assert_int_equal(dataset_gather(&te, &idx, 1, x, NULL), 0);
    const float zero = (0.0f - tr.mean[0]) / tr.std[0];
    assert_true(x[0] == zero && x[(H + 4) * (W + 4) - 1] == zero);
    assert_true(x[2 * (W + 4) + 2] == ((float)px(1, 0, 0, 0) / 255.0f - tr.mean[0]) / tr.std[0]);
    dataset_free(&tr);
    dataset_free(&te);
    cfg_free(&cfg);
    /* refusals, each naming the file and the key */
    assert_int_not_equal(load_cfg("pad = 65", &cfg, &e), 0);
    assert_non_null(strstr(e.msg, "pad.ini: [data] pad must be in 0..64"));
    {
        /* set = pack replaces set = idx (a key given twice in the text is an error of its own) */
        const char *pack[] = {"data.set=pack"};
        char text[4096];
        snprintf(text, sizeof text, "[data]\nset = idx\nroot = %s\npad = 2\n", tmpdir);
        assert_int_not_equal(cfg_load_string(text, "pad.ini", pack, 1, &cfg, &e), 0);
    }
    assert_non_null(strstr(e.msg, "pad does not apply to set = pack"));
    assert_int_not_equal(load_cfg("augment = flip", &cfg, &e), 0);
    assert_non_null(strstr(e.msg, "crop-flip | crop | rrc-flip"));
    assert_int_equal(test_rmtree(tmpdir), 0);
}

/* ---- crop without flip ---- */

/* Is out (h x w) the image in (h x w) shifted by some (dy, dx) in
 * [-p, p]^2, zero where the source falls outside, mirrored or not? */
static int is_shift(const float *out, const float *in, int h, int w, int p, int mirror) {
    for (int dy = -p; dy <= p; dy++)
        for (int dx = -p; dx <= p; dx++) {
            int ok = 1;
            for (int y = 0; ok && y < h; y++)
                for (int x = 0; ok && x < w; x++) {
                    int sy = y + dy, sx = (mirror ? w - 1 - x : x) + dx;
                    float want = sy < 0 || sy >= h || sx < 0 || sx >= w ? 0.0f : in[sy * w + sx];
                    ok = out[y * w + x] == want;
                }
            if (ok) return 1;
        }
    return 0;
}

static void test_crop_no_flip(void **state) {
    (void)state;
    dataset d;
    make_set(&d, N, 1);
    uint32_t idx[N];
    for (int i = 0; i < N; i++) idx[i] = (uint32_t)i;
    float plain[N * H * W], out[N * H * W];
    assert_int_equal(dataset_gather(&d, idx, N, plain, NULL), 0);
    int mirrored = 0, moved = 0;
    for (long step = 0; step < 20; step++) {
        assert_int_equal(dataset_gather_crop(&d, idx, N, out, NULL, 2, 0, 7, step, 0), 0);
        for (int i = 0; i < N; i++) {
            assert_true(is_shift(out + i * H * W, plain + i * H * W, H, W, 2, 0));
            moved += memcmp(out + i * H * W, plain + i * H * W, sizeof(float) * H * W) != 0;
        }
        /* with flip: the same keys, some samples mirrored */
        assert_int_equal(dataset_gather_crop_flip(&d, idx, N, out, NULL, 2, 7, step, 0), 0);
        for (int i = 0; i < N; i++) mirrored += !is_shift(out + i * H * W, plain + i * H * W, H, W, 2, 0);
    }
    assert_true(moved > 0);
    assert_true(mirrored > 0);
    dataset_free(&d);
}

/* ---- the architecture text ---- */

static void test_arch_text(void **state) {
    (void)state;
    dataset d;
    epr_err e = {0};
    make_set(&d, 2, 1);
    char *t0 = bitstream_arch_text("flatten\ndense out=10 name=fc", &d);
    assert_non_null(t0);
    /* unpadded: as every text before [data] pad */
    assert_string_equal(t0, "epr-arch 1\ninput 1 5 4\nnormalize 0\nlayers\nflatten\ndense out=10 name=fc\n");
    bitstream_arch a;
    assert_int_equal(bitstream_arch_parse(t0, strlen(t0), &a, &e), 0);
    assert_int_equal(a.pad, 0);
    bitstream_arch_free(&a);
    assert_int_equal(dataset_pad(&d, 2, &e), 0);
    d.normalize = 1, d.mean[0] = 0.25f, d.std[0] = 0.5f;
    char *t1 = bitstream_arch_text("flatten\ndense out=10 name=fc", &d);
    assert_string_equal(
        t1, "epr-arch 1\ninput 1 9 8\npad 2\nnormalize 1 0.25 0.5\nlayers\nflatten\ndense out=10 name=fc\n");
    assert_int_equal(bitstream_arch_parse(t1, strlen(t1), &a, &e), 0);
    assert_int_equal(a.c, 1);
    assert_int_equal(a.h, 9);
    assert_int_equal(a.w, 8);
    assert_int_equal(a.pad, 2);
    assert_int_equal(a.normalize, 1);
    assert_true(a.mean[0] == 0.25f && a.std[0] == 0.5f);
    assert_string_equal(a.layers, "flatten\ndense out=10 name=fc\n");
    bitstream_arch_free(&a);
    /* bad pad lines */
    const char *bad[] = {"pad 0", "pad -1", "pad x", "pad 4" /* 2*4 >= w = 8 */, "pad 65", "pad"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char t[256];
        snprintf(t, sizeof t, "epr-arch 1\ninput 1 9 8\n%s\nnormalize 0\nlayers\nflatten\n", bad[i]);
        e.msg[0] = 0;
        assert_int_equal(bitstream_arch_parse(t, strlen(t), &a, &e), EPR_EFORMAT);
        assert_non_null(strstr(e.msg, "bad 'pad P' line"));
    }
    free(t0);
    free(t1);
    dataset_free(&d);
}

/* ---- a saved file evaluates with the padding it records ---- */

static void test_evaluate_padded(void **state) {
    (void)state;
    const char *spec = "flatten\ndense out=10 name=fc";
    dataset d;
    epr_err e = {0};
    make_set(&d, N, 1);
    assert_int_equal(dataset_pad(&d, 1, &e), 0); /* 7 x 6 */
    assert_int_equal(dataset_set_norm_from_data(&d, &e), 0);
    nn_model *net;
    assert_int_equal(nn_model_build(spec, 1, H + 2, W + 2, N, &net, &e), 0);
    assert_int_equal(nn_model_alloc_params(net, &e), 0);
    nn_param *p = nn_model_tensor(net, 0);
    for (size_t k = 0; k < p->size; k++) p->w[k] = (float)((k * 2654435761u) % 1000) / 1000.0f - 0.5f;
    /* the network itself on the padded data */
    uint32_t idx[N];
    for (int i = 0; i < N; i++) idx[i] = (uint32_t)i;
    float x[N * (H + 2) * (W + 2)];
    int y[N], want[N], got[N];
    assert_int_equal(dataset_gather(&d, idx, N, x, y), 0);
    nn_forward(net, x, NULL, N, 0);
    nn_count_errors(net, y, N, want);
    /* all tensors as float32 extras, the text with `pad 1` */
    char *arch = bitstream_arch_text(spec, &d);
    assert_non_null(strstr(arch, "\npad 1\n"));
    epr_tensor_spec ts[4];
    int nts = bitstream_tensor_specs(net, NULL, NULL, ts);
    void *bytes;
    size_t len;
    assert_int_equal(epr_encode(arch, strlen(arch), NULL, 0, ts, nts, &bytes, &len, NULL, &e), 0);
    epr_file *f;
    assert_int_equal(epr_file_open_memory(bytes, len, &f, &e), 0);
    double err;
    assert_int_equal(bitstream_evaluate(f, &d, 4, &err, got, &e), 0);
    assert_memory_equal(got, want, sizeof want);
    /* the picture without its border: refused, saying what is missing */
    dataset raw;
    make_set(&raw, N, 1);
    assert_int_equal(bitstream_evaluate(f, &raw, 4, &err, got, &e), EPR_EARG);
    assert_non_null(strstr(e.msg, "the model takes 1x7x6 inputs (5x4 images zero-padded by 1) but the data has 1x5x4"));
    /* data of the right size that was not padded is not taken either */
    raw.h = H + 2, raw.w = W + 2, raw.n = 1; /* (the bytes of the first N*H*W are enough for one image) */
    assert_int_equal(bitstream_evaluate(f, &raw, 4, &err, got, &e), EPR_EARG);
    assert_non_null(strstr(e.msg, "(padded by 0)"));
    epr_file_close(f);
    free(bytes);
    free(arch);
    dataset_free(&raw);
    nn_model_free(net);
    dataset_free(&d);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pad_bytes),      cmocka_unit_test(test_pad_refusals),
        cmocka_unit_test(test_experiment_pad), cmocka_unit_test(test_crop_no_flip),
        cmocka_unit_test(test_arch_text),      cmocka_unit_test(test_evaluate_padded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
