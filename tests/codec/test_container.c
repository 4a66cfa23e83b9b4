/* tests/codec/test_container.c — epr_encode -> epr_file_* round trips:
 * phi exactly, theta exactly as a reference loop computes it, sizes that
 * add up, the rANS overhead bound, and argument/format errors. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/density_layout.h"
#include "density_sample.h"
#include "common/rng.h"
#include "epr/codec.h"

static int32_t *random_phi(uint64_t seed, int64_t n, double spread, double zero_frac) {
    cmn_rng r = {seed, 1, 0};
    int32_t *phi = malloc(sizeof *phi * (size_t)(n ? n : 1));
    for (int64_t i = 0; i < n; i++) {
        if (cmn_rng_next_uniform(&r) < zero_frac) {
            phi[i] = 0;
            continue;
        }
        /* Laplace-ish: sign * geometric */
        double u = cmn_rng_next_uniform(&r) + 1e-7;
        int32_t v = (int32_t)floor(-log(u) * spread);
        phi[i] = (cmn_rng_next(&r) & 1) ? v : -v;
    }
    return phi;
}

static void make_density(float *q, int ell, uint64_t seed) {
    cmn_rng r = {seed, 9, 0};
    for (int c = 0; c < ell; c++) {
        float *d = q + c * EPR_DENSITY_NPARAMS;
        for (int i = 0; i < EPR_DENSITY_NPARAMS; i++) d[i] = cmn_rng_next_uniform(&r) - 0.5f;
        for (int i = 0; i < 3; i++) d[EPR_DENSITY_H0 + i] -= 1.0f; /* broad density */
    }
}

/* Everything a test needs to compare against. */
typedef struct {
    epr_group_spec g[3];
    epr_tensor_spec t[5];
    float s_aff, b_aff, s9[9], c9[9], T9[81], dens9[9 * EPR_DENSITY_NPARAMS], extra[7];
    int32_t *phi[4];
} fixture;

static void fixture_init(fixture *F, int transform) {
    memset(F, 0, sizeof *F);
    F->s_aff = 0.0183f;
    F->b_aff = -0.001f;
    for (int j = 0; j < 9; j++) {
        F->s9[j] = 0.01f * (j + 1);
        F->c9[j] = 0.001f * j - 0.003f;
    }
    cmn_rng r = {11, 3, 0};
    for (int j = 0; j < 81; j++) F->T9[j] = cmn_rng_next_uniform(&r) - 0.5f;
    for (int j = 0; j < 7; j++) F->extra[j] = 1.5f * j - 2.0f;
    make_density(F->dens9, 9, 5);
    F->g[0] = (epr_group_spec){EPR_DECODER_AFFINE, 1, 0, 0, 0, NULL, &F->s_aff, &F->b_aff, NULL, NULL, 0};
    F->g[1] = (epr_group_spec){EPR_DECODER_CONV_AFFINE,
                               9,
                               transform,
                               3,
                               3,
                               transform >= EPR_TRANSFORM_RANDOM_ORTHOGONAL ? F->T9 : NULL,
                               F->s9,
                               F->c9,
                               F->dens9,
                               NULL,
                               0};
    F->phi[0] = random_phi(1, 300 * 100, 1.5, 0.8);
    F->phi[1] = random_phi(2, 100, 1.5, 0.5);
    F->phi[2] = random_phi(3, 16 * 8 * 9, 3.0, 0.2);
    F->phi[3] = random_phi(4, 0, 1, 0);
    F->t[0] = (epr_tensor_spec){"fc1.weight", 2, {300, 100}, 0, F->phi[0], NULL};
    F->t[1] = (epr_tensor_spec){"fc1.bias", 1, {100}, 0, F->phi[1], NULL};
    F->t[2] = (epr_tensor_spec){"conv2.weight", 4, {16, 8, 3, 3}, 1, F->phi[2], NULL};
    F->t[3] = (epr_tensor_spec){"empty", 2, {0, 9}, 1, F->phi[3], NULL};
    F->t[4] = (epr_tensor_spec){"bn.running_mean", 1, {7}, -1, NULL, F->extra};
}
static void fixture_free(fixture *F) {
    for (int i = 0; i < 4; i++) free(F->phi[i]);
}

static const char ARCH[] = "dense 784 300\nrelu\n";

static void roundtrip(int transform) {
    fixture F;
    fixture_init(&F, transform);
    void *buf;
    size_t size;
    epr_encode_report rep;
    epr_err e;
    int rc = epr_encode(ARCH, strlen(ARCH), F.g, 2, F.t, 5, &buf, &size, &rep, &e);
    if (rc) fail_msg("%s", e.msg);
    const epr_size_parts *P = &rep.parts;
    assert_int_equal(P->total, size);
    assert_int_equal(P->header + P->arch + P->decoder + P->tables + P->index + P->coded + P->extras + P->crc, size);
    assert_int_equal(P->extras, 28);
    assert_int_equal(P->arch, 4 + strlen(ARCH));

    epr_file *f;
    rc = epr_file_open_memory(buf, size, &f, &e);
    if (rc) fail_msg("%s", e.msg);
    epr_size_parts Q;
    epr_file_sizes(f, &Q);
    assert_memory_equal(&Q, P, sizeof Q);
    size_t alen;
    const char *arch = epr_file_arch(f, &alen);
    assert_int_equal(alen, strlen(ARCH));
    assert_string_equal(arch, ARCH);
    assert_int_equal(epr_file_tensor_count(f), 5);
    assert_int_equal(epr_file_group_count(f), 2);
    assert_int_equal(epr_file_find_tensor(f, "conv2.weight"), 2);
    assert_int_equal(epr_file_find_tensor(f, "nope"), -1);

    for (int i = 0; i < 5; i++) {
        epr_tensor_info ti;
        assert_int_equal(epr_file_tensor_info(f, i, &ti, &e), 0);
        assert_string_equal(ti.name, F.t[i].name);
        assert_int_equal(ti.ndim, F.t[i].ndim);
        int64_t n = 1;
        for (int d = 0; d < ti.ndim; d++) {
            assert_int_equal(ti.shape[d], F.t[i].shape[d]);
            n *= ti.shape[d];
        }
        assert_int_equal(ti.n_elements, n);
        assert_int_equal(ti.group, F.t[i].group);
        float *theta = malloc(sizeof(float) * (size_t)(n + 1));
        float *want = malloc(sizeof(float) * (size_t)(n + 1));
        assert_int_equal(epr_file_decode_tensor(f, i, theta, &e), 0);
        if (ti.group < 0) {
            assert_false(ti.compressed);
            assert_memory_equal(theta, F.extra, sizeof F.extra);
            int32_t dummy[7];
            assert_int_equal(epr_file_decode_phi(f, i, dummy, &e), EPR_EARG);
        } else {
            assert_true(ti.compressed);
            int32_t *phi = malloc(sizeof(int32_t) * (size_t)(n + 1));
            assert_int_equal(epr_file_decode_phi(f, i, phi, &e), 0);
            if (n) assert_memory_equal(phi, F.t[i].phi, sizeof(int32_t) * (size_t)n);
            /* reference decoders */
            if (ti.group == 0) {
                for (int64_t k = 0; k < n; k++) want[k] = F.s_aff * (float)phi[k] + F.b_aff;
            } else {
                float T[81];
                if (transform == EPR_TRANSFORM_DFT)
                    assert_int_equal(epr_dft_basis(3, 3, T, &e), 0);
                else
                    memcpy(T, F.T9, sizeof T);
                for (int64_t r = 0; r < n; r += 9)
                    for (int q = 0; q < 9; q++) {
                        if (transform == EPR_TRANSFORM_IDENTITY) {
                            want[r + q] = F.s9[q] * (float)phi[r + q] + F.c9[q];
                            continue;
                        }
                        float acc = 0.0f;
                        for (int j = 0; j < 9; j++) {
                            volatile float prod = T[q * 9 + j] * (F.s9[j] * (float)phi[r + j]);
                            acc = acc + prod; /* volatile: no FMA contraction here either */
                        }
                        want[r + q] = acc + F.c9[q];
                    }
            }
            if (n) assert_memory_equal(theta, want, sizeof(float) * (size_t)n);
            /* rANS overhead bound against the exact self-information */
            double bits;
            assert_int_equal(epr_file_tensor_self_info(f, i, &bits, &e), 0);
            print_message("%-14s n=%6lld coded %6zu B  self-info %9.1f B\n", ti.name, (long long)n, ti.stored_bytes,
                          bits / 8);
            assert_true((double)ti.stored_bytes <= bits / 8 * 1.002 + 8);
            free(phi);
        }
        free(theta);
        free(want);
    }
    /* report vs file */
    double self = 0;
    for (int g = 0; g < 2; g++) {
        epr_group_info gi;
        assert_int_equal(epr_file_group_info(f, g, &gi, &e), 0);
        assert_int_equal(gi.table_bytes, rep.groups[g].table_bytes);
        assert_int_equal(gi.coded_bytes, rep.groups[g].coded_bytes);
        assert_int_equal(gi.decoder_bytes, rep.groups[g].decoder_bytes);
        assert_int_equal(gi.n_params, rep.groups[g].n_params);
        for (int c = 0; c < gi.ell; c++) {
            epr_column_info ci;
            const epr_column_report *cr = &rep.groups[g].columns[c];
            assert_int_equal(epr_file_column_info(f, g, c, &ci, &e), 0);
            assert_int_equal(ci.table_kind, cr->table_kind);
            assert_int_equal(ci.precision, cr->precision);
            assert_int_equal(ci.min, cr->min);
            assert_int_equal(ci.max, cr->max);
            assert_int_equal(ci.table_bytes, cr->table_bytes);
            self += cr->coded_bits;
            if (g == 1 && c == 0)
                print_message("group 1 col 0: kind %d p %d hist %.0f dens %.0f bits\n", cr->table_kind, cr->precision,
                              cr->histogram_bits, cr->density_bits);
        }
        print_message("group %d: %.3f bits/param\n", g, rep.groups[g].bits_per_param);
    }
    assert_true(fabs(self - rep.self_info_bits) < 1e-6 * self + 1e-9);
    epr_file_close(f);
    epr_encode_report_free(&rep);
    free(buf);
    fixture_free(&F);
}

static void test_roundtrip_identity(void **s) {
    (void)s;
    roundtrip(EPR_TRANSFORM_IDENTITY);
}
static void test_roundtrip_dft(void **s) {
    (void)s;
    roundtrip(EPR_TRANSFORM_DFT);
}
static void test_roundtrip_explicit(void **s) {
    (void)s;
    roundtrip(EPR_TRANSFORM_LEARNED);
}

/* Many supports and precisions through the whole container. */
static void test_roundtrip_random_shapes(void **s) {
    (void)s;
    cmn_rng r = {21, 1, 0};
    for (int trial = 0; trial < 40; trial++) {
        float sc = 0.5f, off = 0.25f;
        epr_group_spec g = {EPR_DECODER_AFFINE, 1, 0, 0, 0, NULL, &sc, &off, NULL, NULL, 0};
        int64_t n = (int64_t)cmn_rng_below(&r, 5000);
        double spread = pow(10, cmn_rng_next_uniform(&r) * 4 - 1);
        int32_t *phi = random_phi(100 + trial, n, spread, cmn_rng_next_uniform(&r));
        int32_t shift = (int32_t)cmn_rng_below(&r, 1000000) - 500000;
        for (int64_t k = 0; k < n; k++) phi[k] += shift;
        epr_tensor_spec t = {"w", 1, {n}, 0, phi, NULL};
        void *buf;
        size_t size;
        epr_err e;
        assert_int_equal(epr_encode("", 0, &g, 1, &t, 1, &buf, &size, NULL, &e), 0);
        epr_file *f;
        assert_int_equal(epr_file_open_memory(buf, size, &f, &e), 0);
        int32_t *out = malloc(sizeof(int32_t) * (size_t)(n + 1));
        assert_int_equal(epr_file_decode_phi(f, 0, out, &e), 0);
        if (n) assert_memory_equal(out, phi, sizeof(int32_t) * (size_t)n);
        double bits;
        epr_tensor_info ti;
        epr_file_tensor_info(f, 0, &ti, &e);
        assert_int_equal(epr_file_tensor_self_info(f, 0, &bits, &e), 0);
        assert_true((double)ti.stored_bytes <= bits / 8 * 1.002 + 8);
        epr_file_close(f);
        free(out);
        free(buf);
        free(phi);
    }
}

static void test_encode_errors(void **s) {
    (void)s;
    float sc = 1, off = 0;
    int32_t phi[4] = {0, 1, 2, 70000};
    epr_group_spec g = {EPR_DECODER_AFFINE, 1, 0, 0, 0, NULL, &sc, &off, NULL, NULL, 0};
    epr_tensor_spec t = {"w", 1, {4}, 0, phi, NULL};
    void *buf;
    size_t size;
    epr_err e;
    assert_int_equal(epr_encode("", 0, &g, 1, &t, 1, &buf, &size, NULL, &e), EPR_EUNSUP);
    print_message("%s\n", e.msg);
    phi[3] = 3;
    t.group = 1;
    assert_int_equal(epr_encode("", 0, &g, 1, &t, 1, &buf, &size, NULL, &e), EPR_EARG);
    t.group = 0;
    g.ell = 2;
    assert_int_equal(epr_encode("", 0, &g, 1, &t, 1, &buf, &size, NULL, &e), EPR_EARG);
    g = (epr_group_spec){EPR_DECODER_CONV_AFFINE, 3, EPR_TRANSFORM_DFT, 2, 2, NULL, &sc, &off, NULL, NULL, 0};
    assert_int_equal(epr_encode("", 0, &g, 1, &t, 1, &buf, &size, NULL, &e), EPR_EARG);
    print_message("%s\n", e.msg);
}

static void test_open_errors(void **s) {
    (void)s;
    epr_file *f;
    epr_err e;
    assert_int_equal(epr_file_open("/nonexistent/model.epr", &f, &e), EPR_EIO);
    assert_non_null(strstr(e.msg, "/nonexistent/model.epr"));
    assert_int_equal(epr_file_open_memory("EPR1", 4, &f, &e), EPR_EFORMAT);
    assert_int_equal(epr_file_open_memory("PNG\0 this is not an epr file at all", 36, &f, &e), EPR_EFORMAT);
    assert_non_null(strstr(e.msg, "magic"));
    /* a valid file with a wrong version */
    float sc = 1, off = 0;
    int32_t phi[3] = {1, 2, 3};
    epr_group_spec g = {EPR_DECODER_AFFINE, 1, 0, 0, 0, NULL, &sc, &off, NULL, NULL, 0};
    epr_tensor_spec t = {"w", 1, {3}, 0, phi, NULL};
    void *buf;
    size_t size;
    assert_int_equal(epr_encode("x", 1, &g, 1, &t, 1, &buf, &size, NULL, &e), 0);
    ((uint8_t *)buf)[4] = 9;
    assert_int_equal(epr_file_open_memory(buf, size, &f, &e), EPR_EUNSUP);
    ((uint8_t *)buf)[4] = 1;
    ((uint8_t *)buf)[size - 1] ^= 1;
    assert_int_equal(epr_file_open_memory(buf, size, &f, &e), EPR_ECRC);
    /* open from a real path */
    char path[] = "/tmp/epr_test_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    ((uint8_t *)buf)[size - 1] ^= 1;
    FILE *fp = fdopen(fd, "wb");
    fwrite(buf, 1, size, fp);
    fclose(fp);
    assert_int_equal(epr_file_open(path, &f, &e), 0);
    assert_int_equal(epr_file_tensor_count(f), 1);
    epr_file_close(f);
    remove(path);
    free(buf);
}

/* phi drawn from the learned density over a wide support: the density
 * table must win for most columns and still decode exactly. */
static void test_density_tables_chosen(void **s) {
    (void)s;
    float q[9 * EPR_DENSITY_NPARAMS], sc[9], off[9];
    for (int j = 0; j < 9; j++) {
        sc[j] = 0.01f;
        off[j] = 0.0f;
    }
    broad_density(q, 9, 3, -6.0f);
    const int64_t rows = 3000;
    int32_t *phi = sample_density(q, 9, rows, 400, 8);
    epr_group_spec g = {EPR_DECODER_CONV_AFFINE, 9, EPR_TRANSFORM_DFT, 3, 3, NULL, sc, off, q, NULL, 0};
    epr_tensor_spec t = {"conv", 4, {rows, 1, 3, 3}, 0, phi, NULL};
    void *buf;
    size_t size;
    epr_encode_report rep;
    epr_err e;
    assert_int_equal(epr_encode("", 0, &g, 1, &t, 1, &buf, &size, &rep, &e), 0);
    int n_density = 0;
    for (int c = 0; c < 9; c++) {
        const epr_column_report *cr = &rep.groups[0].columns[c];
        n_density += cr->table_kind == EPR_TABLE_DENSITY;
        if (c == 0)
            print_message("support [%d,%d] p %d: hist %.0f bits, density %.0f bits\n", cr->min, cr->max, cr->precision,
                          cr->histogram_bits, cr->density_bits);
    }
    print_message("%d of 9 columns use density tables\n", n_density);
    assert_true(n_density >= 5);
    epr_file *f;
    assert_int_equal(epr_file_open_memory(buf, size, &f, &e), 0);
    int32_t *out = malloc(sizeof(int32_t) * rows * 9);
    assert_int_equal(epr_file_decode_phi(f, 0, out, &e), 0);
    assert_memory_equal(out, phi, sizeof(int32_t) * rows * 9);
    double bits;
    assert_int_equal(epr_file_tensor_self_info(f, 0, &bits, &e), 0);
    assert_true(fabs(bits - rep.self_info_bits) < 1e-6 * bits);
    epr_tensor_info ti;
    epr_file_tensor_info(f, 0, &ti, &e);
    assert_true((double)ti.stored_bytes <= bits / 8 * 1.002 + 8);
    epr_file_close(f);
    epr_encode_report_free(&rep);
    free(out);
    free(buf);
    free(phi);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_identity),    cmocka_unit_test(test_roundtrip_dft),
        cmocka_unit_test(test_roundtrip_explicit),    cmocka_unit_test(test_roundtrip_random_shapes),
        cmocka_unit_test(test_density_tables_chosen), cmocka_unit_test(test_encode_errors),
        cmocka_unit_test(test_open_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
