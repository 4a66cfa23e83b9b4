/* epr/codec.h — read and write .epr bitstreams (libepr-codec).
 *
 * A .epr file holds a network's parameters as entropy-coded integers phi
 * plus the parameter decoders f that turn them back into float weights
 * theta = f(phi), the architecture text the writer chose to store, and
 * uncompressed float32 "extras" (e.g. batch-norm running statistics).
 * The byte layout is documented in docs/format.md.
 *
 * This library depends on libc and libm only, so a deployed program can
 * link it without the training stack.  An epr_file builds its decode
 * tables lazily, so use one epr_file from one thread at a time (open one
 * per thread to decode in parallel).  Every fallible function returns
 * EPR_OK (0) or a negative EPR_E* code and fills the epr_err it is given
 * (which may be NULL).  Nothing here aborts; corrupt input is reported.
 *
 * Decode side (a file is refused at open if it exceeds the reader's
 * limits, epr_read_limits: by default 1 GiB, 2^28 elements per tensor, 2^30
 * in all, so n_elements below is at most 2^28):
 *     epr_file *f; epr_err e;
 *     if (epr_file_open("model.epr", &f, &e)) { puts(e.msg); ... }
 *     for (int i = 0; i < epr_file_tensor_count(f); i++) {
 *         epr_tensor_info ti; epr_file_tensor_info(f, i, &ti);
 *         float *w = malloc(ti.n_elements * sizeof *w);
 *         epr_file_decode_tensor(f, i, w, &e);
 *     }
 *     epr_file_close(f);
 *
 * Encode side: fill epr_group_spec / epr_tensor_spec arrays and call
 * epr_encode(); it picks, per column, the cheaper of a histogram table and
 * a table built from the learned density, codes phi with rANS and returns
 * the file bytes and a size report. */
#ifndef EPR_CODEC_H
#define EPR_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "epr/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define EPR_API __attribute__((visibility("default")))
#else
#define EPR_API
#endif

#define EPR_FORMAT_VERSION 1
#define EPR_MAX_NDIM 4
#define EPR_DENSITY_PARAMS_PER_COLUMN 43
#define EPR_MAX_PRECISION 16 /* table precision p: frequencies sum to 2^p */

/* Parameter decoders f. */
typedef enum {
    EPR_DECODER_AFFINE = 0,      /* theta = s*phi + b, scalars (ell = 1) */
    EPR_DECODER_CONV_AFFINE = 1, /* theta_row = T (s .* phi_row) + c */
    EPR_DECODER_CODEBOOK = 2     /* theta = codebook[phi], K float32 entries, phi in
                                    [0, K) (ell = 1); weight sharing (k-means baseline) */
} epr_decoder_kind;

#define EPR_MAX_CODEBOOK 65536 /* most entries of a codebook group (K = 1..65536) */

/* Transforms T of conv-affine, as the writer knew them.  IDENTITY stores
 * nothing, DFT stores only H and W (the library rebuilds the basis),
 * RANDOM_ORTHOGONAL / LEARNED / EXPLICIT store the ell*ell matrix. */
typedef enum {
    EPR_TRANSFORM_IDENTITY = 0,
    EPR_TRANSFORM_DFT = 1,
    EPR_TRANSFORM_RANDOM_ORTHOGONAL = 2,
    EPR_TRANSFORM_LEARNED = 3,
    EPR_TRANSFORM_EXPLICIT = 4
} epr_transform_kind;

/* Where a column's probability table came from. */
typedef enum {
    EPR_TABLE_HISTOGRAM = 0, /* the column's own counts, frequencies stored */
    EPR_TABLE_DENSITY = 1    /* the learned density, 43 float32 stored */
} epr_table_kind;

/* Bytes of the file by part; the parts add up to `total` exactly. */
typedef struct {
    size_t header;  /* magic, version, counts */
    size_t arch;    /* architecture text and its length field */
    size_t decoder; /* per group: kinds, ell, H/W, s, b/c, explicit T, codebook */
    size_t tables;  /* per column: kind, precision, support, table payload */
    size_t index;   /* per tensor: name, shape, group, stream length */
    size_t coded;   /* the rANS streams of phi */
    size_t extras;  /* raw float32 payloads of uncompressed tensors */
    size_t crc;     /* trailing CRC32 */
    size_t total;
} epr_size_parts;

/* ------------------------------------------------------------------ */
/* Decode side                                                          */
/* ------------------------------------------------------------------ */

typedef struct epr_file epr_file;

typedef struct {
    const char *name; /* NUL-terminated, owned by the file */
    int ndim;         /* 0..EPR_MAX_NDIM; 0 means a scalar */
    int64_t shape[EPR_MAX_NDIM];
    int64_t n_elements;
    int group;           /* group index, or -1 for an uncompressed extra */
    int compressed;      /* 1 when phi is entropy coded (group >= 0) */
    size_t stored_bytes; /* coded stream or raw float bytes */
} epr_tensor_info;

typedef struct {
    int precision;      /* p; frequencies sum to 2^p */
    int table_kind;     /* epr_table_kind */
    int32_t min, max;   /* support of phi in this column */
    size_t table_bytes; /* column header + payload bytes in the file */
} epr_column_info;

typedef struct {
    int decoder;       /* epr_decoder_kind */
    int ell;           /* columns */
    int transform;     /* epr_transform_kind as recorded by the writer */
    int dft_h, dft_w;  /* DFT only */
    int codebook_size; /* CODEBOOK only: K entries, else 0 */
    int64_t n_params;  /* elements of all tensors of the group */
    size_t decoder_bytes, table_bytes, coded_bytes;
} epr_group_info;

/* What a reader accepts beyond the format's own bounds.  A field left 0
 * takes its default; a file over a limit is refused with EPR_EUNSUP and a
 * message naming the limit.  Everything the library allocates for an open
 * file is bounded by the file's size (the decode tables by 64 MiB + 64 x
 * the size); these limits bound what a caller allocates to decode it and
 * the time that takes, since a constant column codes any number of
 * elements in no bytes. */
typedef struct {
    uint64_t max_file_bytes;     /* default 2^30 (1 GiB); epr_file_open reads no more */
    int64_t max_tensor_elements; /* elements of one tensor, default 2^28 */
    int64_t max_total_elements;  /* elements of all tensors together, default 2^30 */
    uint64_t max_arch_bytes;     /* architecture text, default 2^20 (1 MiB) */
} epr_read_limits;

#define EPR_DEFAULT_MAX_FILE_BYTES ((uint64_t)1 << 30)
#define EPR_DEFAULT_MAX_TENSOR_ELEMENTS ((int64_t)1 << 28)
#define EPR_DEFAULT_MAX_TOTAL_ELEMENTS ((int64_t)1 << 30)
#define EPR_DEFAULT_MAX_ARCH_BYTES ((uint64_t)1 << 20)

/* Opens a file held in memory; the bytes are copied, so `data` may be freed
 * afterwards.  Checks the CRC and the structure of every header.  Uses the
 * default limits. */
EPR_API int epr_file_open_memory(const void *data, size_t size, epr_file **out, epr_err *err);
/* Reads and opens a file; error messages name the path.  Uses the default
 * limits: a file above 1 GiB is refused before it is read, and a stream
 * (a pipe, /dev/zero) is read no further than the limit or, if it does not
 * start with the magic and version, than its 8 header bytes. */
EPR_API int epr_file_open(const char *path, epr_file **out, epr_err *err);
/* The same with caller-set limits (NULL: all defaults). */
EPR_API int epr_file_open_memory_limited(const void *data, size_t size, const epr_read_limits *limits, epr_file **out,
                                         epr_err *err);
EPR_API int epr_file_open_limited(const char *path, const epr_read_limits *limits, epr_file **out, epr_err *err);
EPR_API void epr_file_close(epr_file *f);

/* The architecture text stored by the writer (not NUL-terminated in the
 * file; the returned pointer is NUL-terminated for convenience). */
EPR_API const char *epr_file_arch(const epr_file *f, size_t *len);

EPR_API int epr_file_tensor_count(const epr_file *f);
EPR_API int epr_file_tensor_info(const epr_file *f, int i, epr_tensor_info *info, epr_err *err);
/* Index of the tensor called `name`, or -1. */
EPR_API int epr_file_find_tensor(const epr_file *f, const char *name);
EPR_API int epr_file_group_count(const epr_file *f);
EPR_API int epr_file_group_info(const epr_file *f, int g, epr_group_info *info, epr_err *err);
EPR_API int epr_file_column_info(const epr_file *f, int g, int column, epr_column_info *info, epr_err *err);
EPR_API void epr_file_sizes(const epr_file *f, epr_size_parts *parts);
/* The K entries of codebook group g (owned by the file, valid until
 * epr_file_close; every entry is finite).  EPR_EARG if g is out of range or
 * not a codebook group. */
EPR_API int epr_file_group_codebook(const epr_file *f, int g, const float **codebook, int *k, epr_err *err);

/* theta (n_elements floats) of tensor i: decoded phi through the group's
 * decoder f, or the raw floats of an extra. */
EPR_API int epr_file_decode_tensor(epr_file *f, int i, float *theta, epr_err *err);
/* phi (n_elements ints) of a compressed tensor i. */
EPR_API int epr_file_decode_phi(epr_file *f, int i, int32_t *phi, epr_err *err);
/* Self-information of tensor i's phi under the file's tables, in bits:
 * sum over elements of -log2(freq/2^p).  The coded stream is within
 * 0.2% + 8 bytes of bits/8 (rANS overhead).  Decodes the stream in chunks
 * of a few KB (it allocates nothing per element) and checks it as
 * epr_file_decode_phi does, so a corrupt stream is an error; a tensor whose
 * columns all have one symbol costs no decoding at all. */
EPR_API int epr_file_tensor_self_info(epr_file *f, int i, double *bits, epr_err *err);

/* ------------------------------------------------------------------ */
/* Encode side                                                          */
/* ------------------------------------------------------------------ */

typedef struct {
    int decoder;                   /* epr_decoder_kind */
    int ell;                       /* 1 for affine and codebook; H*W for a conv kernel */
    int transform;                 /* epr_transform_kind (conv-affine only) */
    int dft_h, dft_w;              /* DFT: ell = dft_h * dft_w */
    const float *transform_matrix; /* [ell*ell] row-major T[position][coefficient]
                                      for RANDOM_ORTHOGONAL/LEARNED/EXPLICIT, else NULL */
    const float *scale;            /* affine: 1 value s; conv-affine: ell values; codebook: unused */
    const float *offset;           /* affine: 1 value b; conv-affine: ell values c; codebook: unused */
    const float *density;          /* [ell*43] density parameters, or NULL for
                             histogram tables only */
    const float *codebook;         /* CODEBOOK: [codebook_size] finite entries; every phi
                              of the group's tensors must lie in [0, K) */
    int codebook_size;             /* CODEBOOK: K, 1..EPR_MAX_CODEBOOK; else ignored */
} epr_group_spec;

typedef struct {
    const char *name;
    int ndim;
    int64_t shape[EPR_MAX_NDIM];
    int group;          /* index into the groups, or -1 for a raw extra */
    const int32_t *phi; /* compressed tensors: row-major [d x ell] */
    const float *raw;   /* extras */
} epr_tensor_spec;

typedef struct {
    int table_kind; /* the chosen epr_table_kind */
    int precision;
    int32_t min, max;                    /* support */
    size_t table_bytes;                  /* bytes the chosen table takes in the file */
    double coded_bits;                   /* self-information of the column's phi under it */
    double histogram_bits, density_bits; /* table+data bits of each option;
                                            density_bits < 0 if unavailable */
} epr_column_report;

typedef struct {
    int ell;
    int64_t n_params;
    size_t decoder_bytes, table_bytes, coded_bytes;
    double bits_per_param;      /* (decoder + tables + coded) * 8 / n_params */
    epr_column_report *columns; /* [ell] */
} epr_group_report;

typedef struct {
    epr_size_parts parts;
    int n_groups;
    epr_group_report *groups;
    double self_info_bits; /* all coded phi under the chosen tables */
} epr_encode_report;

/* Writes a whole file into a malloc'd buffer (*out, *out_size; free()).
 * report may be NULL; otherwise release it with epr_encode_report_free. */
EPR_API int epr_encode(const char *arch, size_t arch_len, const epr_group_spec *groups, int n_groups,
                       const epr_tensor_spec *tensors, int n_tensors, void **out, size_t *out_size,
                       epr_encode_report *report, epr_err *err);
EPR_API void epr_encode_report_free(epr_encode_report *report);

/* The orthonormal real DFT basis over H x W (ell = H*W), row-major
 * T[position][coefficient], exactly as the file decoder builds it. */
EPR_API int epr_dft_basis(int h, int w, float *t, epr_err *err);

/* CRC32 with zlib's polynomial and conventions (crc32(0, data, n)). */
EPR_API uint32_t epr_crc32(const void *data, size_t n);

#ifdef __cplusplus
}
#endif
#endif
