/* codec/reader_internal.h — the decoder's in-memory file, shared by
 * container_parse.c (open-time parsing and validation) and
 * container_read.c (accessors, decode tables, decoding).
 *
 * Everything an open file holds is bounded by its size or by the caller's
 * epr_read_limits: counts are checked against the bytes that remain before
 * anything is allocated, and the decode tables, whose size depends on
 * precisions rather than bytes, are capped at EPR_TABLE_BUDGET(size). */
#ifndef EPR_CODEC_READER_INTERNAL_H
#define EPR_CODEC_READER_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "codec/bytes_internal.h"
#include "codec/rans_internal.h"
#include "codec/tables_internal.h"
#include "epr/codec.h"

/* Derived memory (decode slots, DFT basis) allowed for a file of n bytes. */
#define EPR_TABLE_BUDGET(n) (((size_t)64 << 20) + 64 * (size_t)(n))

typedef struct {
    int decoder, store, transform, ell, h, w;
    const uint8_t *scale, *offset, *matrix; /* float32 LE in the file */
    float *codebook;                        /* CODEBOOK: [codebook_size], converted at open */
    int codebook_size;
    codec_column_desc *cols;
    int64_t n_params;
    size_t decoder_bytes, table_bytes, coded_bytes;
    /* built on first decode */
    int ready;
    float *s, *c, *T;        /* T only for DFT/EXPLICIT */
    codec_rans_slot **slots; /* [ell]; NULL for one-symbol columns */
    codec_rans_slot *slot_block;
} file_group;

typedef struct {
    char *name;
    int ndim;
    int64_t shape[EPR_MAX_NDIM];
    int64_t n;
    int group;
    const uint8_t *payload;
    size_t payload_len;
} file_tensor;

struct epr_file {
    uint8_t *data;
    size_t size;
    char *arch; /* NUL-terminated copy */
    size_t arch_len;
    int n_groups, n_tensors;
    file_group *groups;
    file_tensor *tensors;
    epr_size_parts parts;
    size_t budget, used; /* derived memory */
};

/* Limits with every 0 field replaced by its default (lim may be NULL). */
epr_read_limits codec_limits_resolve(const epr_read_limits *lim);

/* Parses and validates f->data[f->size] into f (docs/format.md). */
int codec_file_parse(epr_file *f, const epr_read_limits *lim, epr_err *err);

static inline float codec_load_f32(const uint8_t *p) {
    uint32_t v = codec_load_u32(p);
    float f;
    memcpy(&f, &v, 4);
    return f;
}

#endif
