/* tests/codec/gen_golden.c — writes the golden .epr files and the expected
 * CRC32 of every decoded tensor (theta floats and phi ints) into a folder,
 * and optionally fuzz seed variants into a second one:
 *     gen_golden tests/data/golden [fuzz/corpus]
 * Not a test: run it when the format changes on purpose, and check in
 * what it writes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "golden_inputs.h"

static int write_file(const char *dir, const char *name, const void *buf, size_t size) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *fp = fopen(path, "wb");
    if (!fp || fwrite(buf, 1, size, fp) != size || fclose(fp)) {
        perror(path);
        return 1;
    }
    return 0;
}

/* Seeds for the fuzzer besides the golden files: the smallest files, a
 * one-symbol column, and golden files with one byte changed (their CRC no
 * longer matches, which the fuzz build lets through). */
static int write_corpus(const char *dir) {
    void *buf;
    size_t size;
    epr_err e;
    float s = 1.0f, b = 0.0f, extra[2] = {1.0f, -1.0f};
    int32_t zeros[1000] = {0};
    epr_group_spec g = {EPR_DECODER_AFFINE, 1, 0, 0, 0, NULL, &s, &b, NULL, NULL, 0};
    epr_tensor_spec t[2] = {{"zeros", 1, {1000}, 0, zeros, NULL}, {"x", 1, {2}, -1, NULL, extra}};
    struct {
        const char *name;
        int ng, nt;
        const epr_tensor_spec *t;
    } v[3] = {{"seed_empty.epr", 0, 0, NULL}, {"seed_extra.epr", 0, 1, t + 1}, {"seed_zeros.epr", 1, 2, t}};
    for (int i = 0; i < 3; i++) {
        if (epr_encode("a", 1, &g, v[i].ng, v[i].t, v[i].nt, &buf, &size, NULL, &e)) {
            fprintf(stderr, "%s\n", e.msg);
            return 1;
        }
        if (write_file(dir, v[i].name, buf, size)) return 1;
        free(buf);
    }
    for (int w = 0; w < GOLDEN_COUNT; w++) {
        char name[256];
        if (golden_build(w, &buf, &size, &e)) return 1;
        if (write_file(dir, golden_names[w], buf, size)) return 1;
        ((uint8_t *)buf)[size / 2] ^= 0x10;
        snprintf(name, sizeof name, "mut_%s", golden_names[w]);
        if (write_file(dir, name, buf, size)) return 1;
        free(buf);
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 2 && argc != 3) {
        fprintf(stderr, "usage: %s OUTDIR [CORPUSDIR]\n", argv[0]);
        return 2;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/expected.txt", argv[1]);
    FILE *ex = fopen(path, "w");
    if (!ex) {
        perror(path);
        return 1;
    }
    fprintf(ex, "# file tensor n_elements crc32(theta float32 LE bytes) crc32(phi int32 LE bytes or -)\n");
    for (int w = 0; w < GOLDEN_COUNT; w++) {
        void *buf;
        size_t size;
        epr_err e;
        if (golden_build(w, &buf, &size, &e)) {
            fprintf(stderr, "%s\n", e.msg);
            return 1;
        }
        snprintf(path, sizeof path, "%s/%s", argv[1], golden_names[w]);
        FILE *fp = fopen(path, "wb");
        if (!fp || fwrite(buf, 1, size, fp) != size || fclose(fp)) {
            perror(path);
            return 1;
        }
        epr_file *f;
        if (epr_file_open_memory(buf, size, &f, &e)) {
            fprintf(stderr, "%s\n", e.msg);
            return 1;
        }
        for (int i = 0; i < epr_file_tensor_count(f); i++) {
            epr_tensor_info ti;
            epr_file_tensor_info(f, i, &ti, &e);
            float *th = malloc(4 * (size_t)ti.n_elements + 4);
            int32_t *ph = malloc(4 * (size_t)ti.n_elements + 4);
            if (epr_file_decode_tensor(f, i, th, &e)) {
                fprintf(stderr, "%s\n", e.msg);
                return 1;
            }
            fprintf(ex, "%s %s %lld %08x ", golden_names[w], ti.name, (long long)ti.n_elements,
                    epr_crc32(th, 4 * (size_t)ti.n_elements));
            if (ti.compressed) {
                if (epr_file_decode_phi(f, i, ph, &e)) {
                    fprintf(stderr, "%s\n", e.msg);
                    return 1;
                }
                fprintf(ex, "%08x\n", epr_crc32(ph, 4 * (size_t)ti.n_elements));
            } else {
                fprintf(ex, "-\n");
            }
            free(th);
            free(ph);
        }
        for (int g = 0; g < epr_file_group_count(f); g++)
            for (int c = 0;; c++) {
                epr_column_info ci;
                if (epr_file_column_info(f, g, c, &ci, NULL)) break;
                printf("%s group %d column %d: %s p=%d [%d,%d] %zu B\n", golden_names[w], g, c,
                       ci.table_kind ? "density" : "histogram", ci.precision, ci.min, ci.max, ci.table_bytes);
            }
        printf("%s: %zu bytes\n", golden_names[w], size);
        epr_file_close(f);
        free(buf);
    }
    fclose(ex);
    return argc == 3 ? write_corpus(argv[2]) : 0;
}
