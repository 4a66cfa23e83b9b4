/* run/tensorfile — named float32 tensors in the files other tools use:
 * NumPy's .npz (a zip of .npy arrays, read by numpy.load with no extra
 * package) and Hugging Face's .safetensors (8-byte header length, a JSON
 * header, raw little-endian data).  `epr export` writes them; `[model] init`
 * reads them.
 *
 * Writing: .npz entries are stored (not deflated), one "NAME.npy" per
 * tensor, .npy format 1.0, '<f4', C order; a fixed 1980-01-01 timestamp so
 * the same tensors give the same bytes.  .safetensors: dtype F32, tensors in
 * the order given, the header padded with spaces to a multiple of 8.
 *
 * Reading (external input: every size is checked against the bytes that
 * are there before anything is allocated; errors name the file and the
 * entry): .npz entries stored or deflated (numpy.savez / savez_compressed),
 * .npy versions 1-3 with dtype <f4 or <f8 (converted to float32), C order;
 * .safetensors dtypes F32 or F64.  At most TENSORFILE_MAX_TENSORS tensors of
 * up to 4 dimensions (a scalar has 0), names 1..TENSORFILE_NAME_MAX-1 bytes,
 * and at most TENSORFILE_MAX_BYTES of data in all.
 * May call: zlib, libc, fsutil. */
#ifndef EPR_RUN_TENSORFILE_H
#define EPR_RUN_TENSORFILE_H

#include <stddef.h>
#include <stdint.h>

#include "common/status.h"

#define TENSORFILE_NAME_MAX 128
#define TENSORFILE_MAX_NDIM 4
#define TENSORFILE_MAX_TENSORS 65536
#define TENSORFILE_MAX_BYTES ((uint64_t)1 << 32) /* 4 GiB: also the plain (non-zip64) zip limit */

typedef enum { TENSORFILE_NPZ = 0, TENSORFILE_SAFETENSORS = 1 } tensorfile_format;

typedef struct {
    char name[TENSORFILE_NAME_MAX];
    int ndim;
    int64_t shape[TENSORFILE_MAX_NDIM];
    int64_t n;   /* product of shape (1 for a scalar) */
    float *data; /* reading: malloc'd, owned by the tensorfile; writing: the caller's */
} tensorfile_tensor;

typedef struct {
    int n;
    tensorfile_tensor *t;
} tensorfile;

/* The format named by a path's suffix (.npz, .safetensors); -1 if neither. */
int tensorfile_format_of(const char *path);
/* "npz" | "safetensors" -> the format, -1 otherwise. */
int tensorfile_format_parse(const char *name);

/* The whole file in a malloc'd buffer (*out, *len). */
int tensorfile_encode(tensorfile_format fmt, const tensorfile_tensor *t, int n, void **out, size_t *len, epr_err *err);
/* Encodes and writes atomically (fs_write_atomic). */
int tensorfile_write(const char *path, tensorfile_format fmt, const tensorfile_tensor *t, int n, epr_err *err);

/* Parses bytes (`path` names them in messages); the format from the
 * contents (a zip or a safetensors header). */
int tensorfile_parse(const void *data, size_t len, const char *path, tensorfile *out, epr_err *err);
/* Reads and parses a file (at most TENSORFILE_MAX_BYTES + 64 MiB). */
int tensorfile_read(const char *path, tensorfile *out, epr_err *err);
/* Index of the tensor called name, or -1. */
int tensorfile_find(const tensorfile *tf, const char *name);
void tensorfile_free(tensorfile *tf);

#endif
