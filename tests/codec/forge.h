/* tests/codec/forge.h — writes .epr bytes field by field, straight from
 * docs/format.md and without the encoder, so that tests can forge files no
 * writer would produce: CRC-valid files claiming 2^30 elements in a few
 * bytes, architecture texts of 20,000 layers, non-canonical varints,
 * duplicate names.  Used by test_forged.c, forge_epr.c (the forged files
 * of the CLI tests) and tests/harness/test_bitstream_limits.c.  libc and
 * the codec's public header only. */
#ifndef EPR_TESTS_FORGE_H
#define EPR_TESTS_FORGE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "common/timeutil.h"
#include "epr/codec.h"

/* What a refusal costs: the peak RSS of the process (and cmn_now_s). */
static inline long forge_max_rss_kb(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_maxrss;
}

typedef struct {
    uint8_t *p;
    size_t n, cap;
} forge_buf;

static inline void forge_bytes(forge_buf *b, const void *src, size_t n) {
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n) cap *= 2;
        uint8_t *q = (uint8_t *)realloc(b->p, cap);
        if (!q) abort();
        b->p = q;
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->n, src, n);
    b->n += n;
}
static inline void forge_u8(forge_buf *b, unsigned v) {
    uint8_t c = (uint8_t)v;
    forge_bytes(b, &c, 1);
}
static inline void forge_u16(forge_buf *b, unsigned v) {
    forge_u8(b, v & 0xff);
    forge_u8(b, (v >> 8) & 0xff);
}
static inline void forge_u32(forge_buf *b, uint32_t v) {
    for (int k = 0; k < 4; k++) forge_u8(b, (v >> (8 * k)) & 0xff);
}
static inline void forge_u64(forge_buf *b, uint64_t v) {
    forge_u32(b, (uint32_t)v);
    forge_u32(b, (uint32_t)(v >> 32));
}
static inline void forge_f32(forge_buf *b, float f) {
    uint32_t v;
    memcpy(&v, &f, 4);
    forge_u32(b, v);
}

/* Header (magic, version 1, flags 0, counts) and the architecture text. */
static inline void forge_begin(forge_buf *b, uint32_t n_groups, uint32_t n_tensors, const char *arch, size_t arch_len) {
    memset(b, 0, sizeof *b);
    forge_bytes(b, "EPR1", 4);
    forge_u16(b, 1);
    forge_u16(b, 0);
    forge_u32(b, n_groups);
    forge_u32(b, n_tensors);
    forge_u32(b, (uint32_t)arch_len);
    forge_bytes(b, arch, arch_len);
}

/* An affine group (reserved byte as given) with scalars s, b; its one
 * column must follow. */
static inline void forge_affine_group(forge_buf *b, float s, float off, unsigned reserved) {
    forge_u8(b, EPR_DECODER_AFFINE);
    forge_u8(b, 0);
    forge_u8(b, 0);
    forge_u8(b, reserved);
    forge_u32(b, 1);
    forge_f32(b, s);
    forge_f32(b, off);
}

/* A histogram column with one symbol phi = 0 at p = 0 (no payload). */
static inline void forge_const_column(forge_buf *b) {
    forge_u8(b, EPR_TABLE_HISTOGRAM);
    forge_u8(b, 0);
    forge_u8(b, 0); /* varint zigzag(0) */
    forge_u8(b, 0); /* varint K - 1 = 0 */
}

/* A tensor of group g with a shape of ndim dims whose coded stream is the
 * 8 bytes of two states at L: the whole stream of a tensor whose columns
 * all have one symbol, however many elements it claims. */
static inline void forge_const_tensor(forge_buf *b, const char *name, size_t name_len, int ndim, const uint64_t *shape,
                                      int32_t group) {
    forge_u16(b, (unsigned)name_len);
    forge_bytes(b, name, name_len);
    forge_u8(b, (unsigned)ndim);
    for (int d = 0; d < ndim; d++) forge_u64(b, shape[d]);
    forge_u32(b, (uint32_t)group);
    forge_u64(b, 8);
    forge_u32(b, 1u << 23);
    forge_u32(b, 1u << 23);
}

/* A float32 extra (group -1). */
static inline void forge_extra(forge_buf *b, const char *name, int ndim, const uint64_t *shape, const float *v) {
    uint64_t n = 1;
    forge_u16(b, (unsigned)strlen(name));
    forge_bytes(b, name, strlen(name));
    forge_u8(b, (unsigned)ndim);
    for (int d = 0; d < ndim; d++) {
        forge_u64(b, shape[d]);
        n *= shape[d];
    }
    forge_u32(b, UINT32_MAX);
    forge_u64(b, 4 * n);
    for (uint64_t i = 0; i < n; i++) forge_f32(b, v[i]);
}

/* Appends the CRC; returns the malloc'd bytes (free()). */
static inline uint8_t *forge_end(forge_buf *b, size_t *size) {
    forge_u32(b, epr_crc32(b->p, b->n));
    *size = b->n;
    return b->p;
}

/* One affine group, one constant tensor "w" of n elements (shape [n]). */
static inline uint8_t *forge_constant_file(uint64_t n, size_t *size) {
    forge_buf b;
    static const char arch[] = "forged: one constant tensor";
    forge_begin(&b, 1, 1, arch, sizeof arch - 1);
    forge_affine_group(&b, 0.5f, 0.0f, 0);
    forge_const_column(&b);
    forge_const_tensor(&b, "w", 1, 1, &n, 0);
    return forge_end(&b, size);
}

/* The harness architecture text (src/harness/bitstream.h) for an input
 * C x H x W without normalisation, and `relus` relu layers before a dense
 * layer "fc" of 10 outputs; malloc'd. */
static inline char *forge_arch_text(int c, int h, int w, long relus) {
    size_t cap = 128 + 5 * (size_t)relus;
    char *t = (char *)malloc(cap);
    if (!t) abort();
    int o = snprintf(t, cap, "epr-arch 1\ninput %d %d %d\nnormalize 0\nlayers\n", c, h, w);
    for (long i = 0; i < relus; i++) o += snprintf(t + o, cap - (size_t)o, "relu\n");
    snprintf(t + o, cap - (size_t)o, "dense name=fc out=10\n");
    return t;
}

/* A file holding that architecture and the dense layer's tensors fc.weight
 * [10 x C*H*W] and fc.bias [10] as constant coded tensors (phi = 0, so all
 * weights are 0 and every prediction is class 0). */
static inline uint8_t *forge_network_file(int c, int h, int w, long relus, size_t *size) {
    char *arch = forge_arch_text(c, h, w, relus);
    forge_buf b;
    forge_begin(&b, 1, 2, arch, strlen(arch));
    free(arch);
    forge_affine_group(&b, 0.25f, 0.0f, 0);
    forge_const_column(&b);
    const uint64_t ws[2] = {10, (uint64_t)c * (uint64_t)h * (uint64_t)w}, bs[1] = {10};
    forge_const_tensor(&b, "fc.weight", 9, 2, ws, 0);
    forge_const_tensor(&b, "fc.bias", 7, 1, bs, 0);
    return forge_end(&b, size);
}

static inline int forge_write(const char *path, const uint8_t *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(p, 1, n, f);
    return fclose(f) || w != n ? -1 : 0;
}

#endif
