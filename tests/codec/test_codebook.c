/* tests/codec/test_codebook.c — the CODEBOOK parameter decoder
 * (theta = codebook[phi], docs/format.md §1.3): round trips next to affine
 * groups and extras with theta bit-exact, the encoder's spec checks, and
 * the reader's rejection of hostile codebook groups (each with its
 * message).  Bit flips and truncations of the codebook golden file are in
 * test_golden.c. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "codec_test_util.h"
#include "common/rng.h"
#include "density_sample.h"
#include "epr/codec.h"

#define K_SHARED 16 /* a k-means codebook */
#define K_WIDE 1024 /* wide enough that a density table beats a histogram */

/* phi of a pruned, weight-shared tensor: entry 0 with probability zero_frac,
 * otherwise uniform over 1..k-1. */
static int32_t *shared_phi(uint64_t seed, int64_t n, int k, double zero_frac) {
    cmn_rng r = {seed, 2, 0};
    int32_t *phi = malloc(sizeof *phi * (size_t)(n ? n : 1));
    for (int64_t i = 0; i < n; i++)
        phi[i] = cmn_rng_next_uniform(&r) < zero_frac ? 0 : 1 + (int32_t)cmn_rng_below(&r, (uint64_t)k - 1);
    return phi;
}

/* A codebook group (two tensors), an affine group and an extra.  With
 * `with_density` the codebook has K_WIDE entries, the column is offered a
 * density and its phi follow it, so the density table is chosen. */
static void roundtrip(int with_density) {
    const int K = with_density ? K_WIDE : K_SHARED;
    const int64_t rows = with_density ? 150 : 50;
    float cb[K_WIDE], s = 0.01f, b = -0.02f, extra[4] = {1.0f, -2.0f, 0.5f, 3.0f};
    float dens[EPR_DENSITY_PARAMS_PER_COLUMN];
    cmn_rng r = {7, 5, 0};
    cb[0] = 0.0f;
    for (int j = 1; j < K; j++) cb[j] = cmn_rng_next_uniform(&r) - 0.5f;
    broad_density(dens, 1, 3, -6.0f);
    int32_t *w, *w2;
    if (with_density) {
        /* drawn from the density over [-400, 400], then moved to [0, 800]
         * together with the density: x0 = h0 (v - 400) + b0 */
        w = sample_density(dens, 1, rows * 20, 400, 3);
        w2 = sample_density(dens, 1, 7, 400, 4);
        for (int64_t i = 0; i < rows * 20; i++) w[i] += 400;
        for (int i = 0; i < 7; i++) w2[i] += 400;
        for (int i = 0; i < 3; i++)
            dens[EPR_DENSITY_B0 + i] -= (float)(400.0 * log1p(exp((double)dens[EPR_DENSITY_H0 + i])));
    } else {
        w = shared_phi(1, rows * 20, K, 0.6);
        w2 = shared_phi(2, 7, K, 0.0);
    }
    int32_t ab[30];
    for (int i = 0; i < 30; i++) ab[i] = i % 7 - 3;
    epr_group_spec g[2] = {{EPR_DECODER_CODEBOOK, 1, 0, 0, 0, NULL, NULL, NULL, with_density ? dens : NULL, cb, K},
                           {EPR_DECODER_AFFINE, 1, 0, 0, 0, NULL, &s, &b, NULL, NULL, 0}};
    epr_tensor_spec t[4] = {{"fc.weight", 2, {rows, 20}, 0, w, NULL},
                            {"fc.bias", 1, {30}, 1, ab, NULL},
                            {"fc2.weight", 1, {7}, 0, w2, NULL},
                            {"bn.mean", 1, {4}, -1, NULL, extra}};
    void *buf;
    size_t size;
    epr_encode_report rep;
    epr_err e;
    if (epr_encode("a", 1, g, 2, t, 4, &buf, &size, &rep, &e)) fail_msg("%s", e.msg);
    const epr_size_parts *P = &rep.parts;
    assert_int_equal(P->header + P->arch + P->decoder + P->tables + P->index + P->coded + P->extras + P->crc, size);
    /* codebook group: 4 kind bytes + ell + K + K entries; affine: 8 + s + b */
    assert_int_equal(rep.groups[0].decoder_bytes, 8 + 4 + 4 * K);
    assert_int_equal(P->decoder, (8 + 4 + 4 * K) + (8 + 8));

    epr_file *f;
    if (epr_file_open_memory(buf, size, &f, &e)) fail_msg("%s", e.msg);
    epr_size_parts Q;
    epr_file_sizes(f, &Q);
    assert_memory_equal(&Q, P, sizeof Q);
    epr_group_info gi;
    assert_int_equal(epr_file_group_info(f, 0, &gi, &e), 0);
    assert_int_equal(gi.decoder, EPR_DECODER_CODEBOOK);
    assert_int_equal(gi.ell, 1);
    assert_int_equal(gi.transform, EPR_TRANSFORM_IDENTITY);
    assert_int_equal(gi.codebook_size, K);
    assert_int_equal(gi.n_params, rows * 20 + 7);
    assert_int_equal(gi.decoder_bytes, rep.groups[0].decoder_bytes);
    assert_int_equal(epr_file_group_info(f, 1, &gi, &e), 0);
    assert_int_equal(gi.codebook_size, 0);
    epr_column_info ci;
    assert_int_equal(epr_file_column_info(f, 0, 0, &ci, &e), 0);
    assert_int_equal(ci.table_kind, rep.groups[0].columns[0].table_kind);
    print_message("codebook column: %s table, p %d, support [%d, %d] (histogram %.0f, density %.0f "
                  "bits); %zu bytes in all\n",
                  ci.table_kind == EPR_TABLE_DENSITY ? "density" : "histogram", ci.precision, ci.min, ci.max,
                  rep.groups[0].columns[0].histogram_bits, rep.groups[0].columns[0].density_bits, size);
    assert_int_equal(ci.table_kind, with_density ? EPR_TABLE_DENSITY : EPR_TABLE_HISTOGRAM);

    const float *got;
    int k = -1;
    assert_int_equal(epr_file_group_codebook(f, 0, &got, &k, &e), 0);
    assert_int_equal(k, K);
    assert_memory_equal(got, cb, sizeof(float) * (size_t)K);
    assert_int_equal(epr_file_group_codebook(f, 1, &got, &k, &e), EPR_EARG);
    assert_non_null(strstr(e.msg, "no codebook"));
    assert_int_equal(epr_file_group_codebook(f, 2, &got, &k, &e), EPR_EARG);
    assert_int_equal(epr_file_group_codebook(f, -1, &got, &k, &e), EPR_EARG);
    assert_int_equal(epr_file_group_codebook(f, 0, NULL, &k, &e), EPR_EARG);

    for (int i = 0; i < 4; i++) {
        epr_tensor_info ti;
        assert_int_equal(epr_file_tensor_info(f, i, &ti, &e), 0);
        const int64_t n = ti.n_elements;
        float *theta = malloc(sizeof(float) * (size_t)n), *want = malloc(sizeof(float) * (size_t)n);
        int32_t *phi = malloc(sizeof(int32_t) * (size_t)n);
        assert_int_equal(epr_file_decode_tensor(f, i, theta, &e), 0);
        if (ti.group < 0) {
            memcpy(want, extra, sizeof extra);
        } else {
            assert_int_equal(epr_file_decode_phi(f, i, phi, &e), 0);
            assert_memory_equal(phi, t[i].phi, sizeof(int32_t) * (size_t)n);
            for (int64_t j = 0; j < n; j++) want[j] = ti.group == 0 ? cb[phi[j]] : s * (float)phi[j] + b;
        }
        assert_memory_equal(theta, want, sizeof(float) * (size_t)n); /* bit-exact */
        free(theta);
        free(want);
        free(phi);
    }
    epr_file_close(f);
    epr_encode_report_free(&rep);
    free(buf);
    free(w);
    free(w2);
}

static void test_roundtrip_histogram(void **st) {
    (void)st;
    roundtrip(0);
}
static void test_roundtrip_density(void **st) {
    (void)st;
    roundtrip(1);
}

/* One codebook group of 1 element plus a spec change; expects EPR_EARG and
 * `needle` in the message. */
static void expect_encode_error(const epr_group_spec *g, const int32_t *phi, int n, const char *needle) {
    epr_tensor_spec t = {"w", 1, {n}, 0, phi, NULL};
    void *buf = NULL;
    size_t size;
    epr_err e = {0, ""};
    assert_int_equal(epr_encode("", 0, g, 1, &t, 1, &buf, &size, NULL, &e), EPR_EARG);
    assert_null(buf);
    print_message("rejected: %s\n", e.msg);
    if (!strstr(e.msg, needle)) fail_msg("message '%s' lacks '%s'", e.msg, needle);
}

static void test_encoder_rejects_bad_specs(void **st) {
    (void)st;
    float cb[4] = {0.0f, 1.0f, -1.0f, 2.0f};
    int32_t phi[4] = {0, 1, 2, 3};
    const epr_group_spec ok = {EPR_DECODER_CODEBOOK, 1, 0, 0, 0, NULL, NULL, NULL, NULL, cb, 4};
    epr_tensor_spec t = {"w", 1, {4}, 0, phi, NULL};
    void *buf;
    size_t size;
    epr_err e;
    assert_int_equal(epr_encode("", 0, &ok, 1, &t, 1, &buf, &size, NULL, &e), 0); /* scale/offset unused */
    free(buf);

    epr_group_spec g = ok;
    g.codebook = NULL;
    expect_encode_error(&g, phi, 4, "codebook missing");
    g = ok;
    g.codebook_size = 0;
    expect_encode_error(&g, phi, 4, "codebook size 0 outside 1..65536");
    g.codebook_size = EPR_MAX_CODEBOOK + 1;
    expect_encode_error(&g, phi, 4, "codebook size 65537 outside");
    g = ok;
    g.ell = 2;
    expect_encode_error(&g, phi, 4, "codebook decoder needs ell = 1");
    g = ok;
    cb[2] = NAN;
    expect_encode_error(&g, phi, 4, "codebook entry 2 is not finite");
    cb[2] = -INFINITY;
    expect_encode_error(&g, phi, 4, "codebook entry 2 is not finite");
    cb[2] = -1.0f;
    phi[3] = 4; /* == K */
    expect_encode_error(&g, phi, 4, "phi[3] = 4 outside codebook group 0's [0, 4)");
    phi[3] = -1;
    expect_encode_error(&g, phi, 4, "phi[3] = -1 outside codebook group 0's [0, 4)");
}

/* A small valid file with no architecture text: one codebook group of
 * K_SMALL entries whose phi covers 0..K_SMALL-1, one tensor.  Offsets of
 * its fields (docs/format.md §1): */
#define K_SMALL 4
#define OFF_GROUP 20 /* header 16 + u32 arch length 0 */
#define OFF_STORE (OFF_GROUP + 1)
#define OFF_ELL (OFF_GROUP + 4)
#define OFF_K (OFF_GROUP + 8)
#define OFF_ENTRY(j) (OFF_GROUP + 12 + 4 * (j))
#define OFF_MIN (OFF_ENTRY(K_SMALL) + 2) /* table: kind, p, varint zigzag(min) */

static uint8_t *small_file(size_t *size) {
    const float cb[K_SMALL] = {0.0f, 0.5f, -0.5f, 1.0f};
    int32_t phi[12] = {0, 1, 2, 3, 0, 0, 1, 0, 0, 2, 0, 0};
    epr_group_spec g = {EPR_DECODER_CODEBOOK, 1, 0, 0, 0, NULL, NULL, NULL, NULL, cb, K_SMALL};
    epr_tensor_spec t = {"w", 1, {12}, 0, phi, NULL};
    void *buf;
    epr_err e;
    assert_int_equal(epr_encode("", 0, &g, 1, &t, 1, &buf, size, NULL, &e), 0);
    uint8_t *p = buf;
    assert_int_equal(p[OFF_GROUP], EPR_DECODER_CODEBOOK);
    assert_int_equal(p[OFF_K], K_SMALL);
    assert_int_equal(p[OFF_MIN], 0); /* zigzag(0) */
    epr_err e2;
    assert_int_equal(open_and_decode(p, *size, &e2), 0);
    return p;
}

static void put_u32(uint8_t *p, uint32_t v) {
    for (int k = 0; k < 4; k++) p[k] = (uint8_t)(v >> (8 * k));
}

/* buf[size] with its CRC fixed must be refused with EPR_EFORMAT, `needle`
 * in the message, and no file handed out. */
static void expect_open_error(uint8_t *buf, size_t size, const char *needle) {
    fix_crc(buf, size);
    epr_file *f = (epr_file *)buf;
    epr_err e = {0, ""};
    assert_int_equal(epr_file_open_memory(buf, size, &f, &e), EPR_EFORMAT);
    assert_null(f);
    assert_int_equal(e.code, EPR_EFORMAT);
    print_message("rejected: %s\n", e.msg);
    if (!strstr(e.msg, needle)) fail_msg("message '%s' lacks '%s'", e.msg, needle);
}

static void test_reader_rejects_bad_codebooks(void **st) {
    (void)st;
    size_t size;
    uint8_t *orig = small_file(&size), *b = malloc(size);
#define FRESH() memcpy(b, orig, size)
    FRESH();
    put_u32(b + OFF_K, 0);
    expect_open_error(b, size, "group 0: codebook size 0 outside 1..65536");
    FRESH();
    put_u32(b + OFF_K, EPR_MAX_CODEBOOK + 1);
    expect_open_error(b, size, "group 0: codebook size 65537 outside");
    FRESH();
    put_u32(b + OFF_K, EPR_MAX_CODEBOOK); /* valid K, but its entries are not there */
    expect_open_error(b, size, "group 0 codebook of 65536 entries");
    /* the file cut inside the entries (then a CRC): a truncated codebook */
    size_t cut = OFF_ENTRY(2) + 1 + 4;
    uint8_t *c = malloc(cut);
    memcpy(c, orig, cut - 4);
    expect_open_error(c, cut, "truncated or corrupt file: group 0 codebook of 4 entries");
    free(c);
    /* support outside [0, K): min -1 (zigzag 1) and min 1 (max = K) */
    FRESH();
    b[OFF_MIN] = 1;
    expect_open_error(b, size, "group 0: phi support [-1, 2] outside the codebook's [0, 3]");
    FRESH();
    b[OFF_MIN] = 2;
    expect_open_error(b, size, "group 0: phi support [1, 4] outside the codebook's [0, 3]");
    /* non-finite entries */
    FRESH();
    put_u32(b + OFF_ENTRY(1), 0x7fc00000u); /* NaN */
    expect_open_error(b, size, "group 0: codebook entry 1 is not finite");
    FRESH();
    put_u32(b + OFF_ENTRY(3), 0xff800000u); /* -inf */
    expect_open_error(b, size, "group 0: codebook entry 3 is not finite");
    /* a codebook group has ell 1 and no transform */
    FRESH();
    put_u32(b + OFF_ELL, 2);
    expect_open_error(b, size, "group 0: codebook decoder needs ell 1");
    FRESH();
    b[OFF_STORE] = 1;
    expect_open_error(b, size, "group 0: codebook decoder needs no transform (storage 1");
    /* the next decoder number is unknown */
    FRESH();
    b[OFF_GROUP] = EPR_DECODER_CODEBOOK + 1;
    expect_open_error(b, size, "group 0: unknown decoder 3");
#undef FRESH
    free(b);
    free(orig);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_histogram),
        cmocka_unit_test(test_roundtrip_density),
        cmocka_unit_test(test_encoder_rejects_bad_specs),
        cmocka_unit_test(test_reader_rejects_bad_codebooks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
