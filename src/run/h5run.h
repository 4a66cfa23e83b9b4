/* run/h5run.h — the HDF5 run file: an atomic, description-driven writer
 * and a checking reader.
 *
 * Owns: turning an h5run_desc (attributes, datasets at arbitrary paths,
 * curves, /final attributes) into one HDF5 file, atomically; reading such a
 * file back with every element type and element count checked.  It knows
 * HDF5, not training: which tensors, curves and attributes a run holds is
 * the trainer's choice (DESIGN.md §4 gives the layout it should choose).
 * May call: libc, POSIX (unlink), fsutil (the atomic replace), HDF5 (serial), zlib
 * (crc32), common/status.h.  Never exits and never prints: HDF5's automatic
 * error printing is switched off inside every call (and restored
 * afterwards), and every failure comes back as an EPR_E* code with a
 * one-line message naming the file, the object and the HDF5 call that
 * failed.  Files are opened without HDF5 file locking (they are never
 * modified in place, and flock fails on some cluster file systems).
 *
 * File layout written by h5run_write:
 *   /                  root attributes (d->attrs)
 *   <dataset paths>    contiguous datasets, intermediate groups created,
 *                      each with attribute "h5run_crc32" (see below)
 *   /curves/<name>     1-D float64, chunked, maxdims unlimited (extendible),
 *                      all of length d->curve_len (only if n_curves > 0)
 *   /final             group with attributes d->final_attrs (only if any)
 *   <group paths>      groups with attributes (d->groups), parents created
 * Strings are variable-length UTF-8 (h5py reads them as str).  File types are
 * little-endian IEEE / two's-complement whatever the host.
 *
 * Study attributes.  What studies (sweeps, Pareto fronts, reports,
 * the analysis/ scripts) read about a run is in root attributes that `epr train`
 * writes with every checkpoint (checkpoint.c, run/run_info.h); nothing
 * reads the stored experiment text to find it out:
 *   model, data_set      [model] name, [data] set
 *   method               plain | plain-pruned | epr-sq | epr-dft | epr-ro |
 *                        epr-learned | joined, e.g. epr-dft+learned
 *                        (run_info.h); a Pareto series is the triple
 *                        (model, data_set, method)
 *   epr_enabled, lambda, seed, world_size, steps, batch
 *   group_names          [group.NAME] names, comma-separated, file order
 *   group_decoders       each group's decoder (affine | conv-affine), same order
 *   group_transforms     each group's transform (identity | dft |
 *                        random-orthogonal | learned), same order
 *   prune, kmeans_bits   [baseline] pruning fraction and weight-sharing bits
 *                        (0 = off)
 *   data_train, data_test  the files each split was read from, comma-separated
 *   n_train, n_test      the number of samples of each split
 *   config_id            cfg_fingerprint (16 hex digits): runs with equal ids
 *                        differ at most in their seed (study/seeds.h)
 *   n_validation         images held out of the training set ([data] validation)
 *   schedule             the learning-rate, λ and frozen-φ schedule in words
 *                        (run/schedule.h; the keys are in the experiment)
 *   device, device_name  [train] device (cpu | cuda) and the device of the
 *                        checkpoint's writer, e.g. "cuda:0 (NVIDIA H200)"
 *                        (docs/gpu.md); /final device_predictions_differ:
 *                        test predictions of the GPU's final evaluation that
 *                        differ from the CPU's decode of the .epr (EPR, cuda)
 * Run files written before method, group_*, prune, kmeans_bits, data_*
 * and n_* existed (the same schema_version 1) lack those; run_info_method
 * gives their method from their stored experiment (run_load.h).
 *
 * Atomicity, read me first: h5run_write creates "<path>.tmp.<pid>" in the
 * same directory, writes everything, H5Fflush, H5Fclose, fsync(file),
 * rename() over <path>, fsync(directory).  On any failure the temporary is
 * removed and <path> is untouched: a reader sees the old file or the new one,
 * never a half-written one.  A crash (SIGKILL, power loss) may leave a stale
 * "*.tmp.<pid>" next to <path>; <path> itself is still whole.  Should the
 * final fsync of the directory fail, the error is returned although <path>
 * already holds the new file (the rename cannot be undone).
 *
 * Damaged files: missing, empty, non-HDF5 and truncated files, missing
 * objects and wrong types or sizes are clean errors (tested).  Arbitrary
 * bit flips inside HDF5 metadata can still hang or crash libhdf5 itself
 * (1.10.8: 4 of 400 randomly corrupted copies did), beyond this module's
 * reach; flips in raw data are caught by the checksums below.
 *
 * Not thread-safe (serial HDF5 is not either). */
#ifndef EPR_HARNESS_H5RUN_H
#define EPR_HARNESS_H5RUN_H

#include <stddef.h>
#include <stdint.h>

#include "common/status.h"

#define H5RUN_MAX_RANK 4

/* Element types of datasets. */
typedef enum { H5RUN_F32, H5RUN_F64, H5RUN_I32, H5RUN_I64, H5RUN_U8 } h5run_type;

typedef enum {
    H5RUN_ATTR_STR,  /* .s: NUL-terminated UTF-8, variable-length string */
    H5RUN_ATTR_I64,  /* .i: scalar int64 */
    H5RUN_ATTR_F64,  /* .d: scalar float64 */
    H5RUN_ATTR_I64V, /* .iv[0..n): 1-D int64 array (e.g. a tensor's shape) */
    H5RUN_ATTR_F64V  /* .dv[0..n): 1-D float64 array */
} h5run_attr_kind;

typedef struct {
    const char *name;
    h5run_attr_kind kind;
    const char *s;
    int64_t i;
    double d;
    const int64_t *iv;
    const double *dv;
    size_t n; /* elements of iv / dv (n >= 1) */
} h5run_attr;

typedef struct {
    const char *path; /* e.g. "/model/latent/fc12"; groups on the way are created */
    h5run_type type;
    int rank; /* 0 (scalar, one element) .. H5RUN_MAX_RANK */
    size_t dims[H5RUN_MAX_RANK];
    const void *data;        /* prod(dims) elements, C order; may be NULL only if that is 0 */
    const h5run_attr *attrs; /* optional attributes on the dataset */
    int n_attrs;
} h5run_dataset;

typedef struct {
    const char *name; /* dataset /curves/<name>; no '/' */
    const double *v;  /* curve_len values */
} h5run_curve;

typedef struct {
    const char *path; /* e.g. "/methods/uniform4"; groups on the way are created */
    const h5run_attr *attrs;
    int n_attrs;
} h5run_group;

typedef struct {
    const h5run_attr *attrs; /* root attributes */
    int n_attrs;
    const h5run_dataset *datasets;
    int n_datasets;
    const h5run_curve *curves; /* all of length curve_len (may be 0) */
    int n_curves;
    size_t curve_len;
    const h5run_attr *final_attrs; /* attributes of /final (created iff n_final_attrs > 0) */
    int n_final_attrs;
    const h5run_group *groups; /* groups carrying attributes (written last) */
    int n_groups;
} h5run_desc;

/* Integrity: every dataset h5run_write writes (not the curves, which others
 * may extend in place) gets an int64 attribute H5RUN_CRC_ATTR, zlib's
 * CRC-32 of its little-endian bytes, and h5run_read verifies it (EPR_ECRC):
 * HDF5 detects a truncated file but not silently corrupted raw data.  Cost:
 * about 1 ms per 4 MB, written or read.  A dataset without the attribute
 * (written by other tools) is read unchecked; so is everything on a
 * big-endian host.  Modifying a dataset in place (h5py) means deleting the
 * attribute too. */
#define H5RUN_CRC_ATTR "h5run_crc32"

/* Convenience constructors (the strings/arrays are referenced, not copied). */
static inline h5run_attr h5run_str(const char *name, const char *s) {
    h5run_attr a = {0};
    a.name = name, a.kind = H5RUN_ATTR_STR, a.s = s;
    return a;
}
static inline h5run_attr h5run_i64(const char *name, int64_t v) {
    h5run_attr a = {0};
    a.name = name, a.kind = H5RUN_ATTR_I64, a.i = v;
    return a;
}
static inline h5run_attr h5run_f64(const char *name, double v) {
    h5run_attr a = {0};
    a.name = name, a.kind = H5RUN_ATTR_F64, a.d = v;
    return a;
}
static inline h5run_attr h5run_i64v(const char *name, const int64_t *v, size_t n) {
    h5run_attr a = {0};
    a.name = name, a.kind = H5RUN_ATTR_I64V, a.iv = v, a.n = n;
    return a;
}
static inline h5run_attr h5run_f64v(const char *name, const double *v, size_t n) {
    h5run_attr a = {0};
    a.name = name, a.kind = H5RUN_ATTR_F64V, a.dv = v, a.n = n;
    return a;
}
/* A 1-D dataset of n elements. */
static inline h5run_dataset h5run_array(const char *path, h5run_type type, size_t n, const void *data) {
    h5run_dataset ds = {0};
    ds.path = path, ds.type = type, ds.rank = 1, ds.dims[0] = n, ds.data = data;
    return ds;
}

/* Writes the file atomically (see above).  EPR_EARG for a malformed
 * description (checked before anything touches the disk), EPR_EIO for an
 * HDF5 or file-system failure. */
int h5run_write(const char *path, const h5run_desc *d, epr_err *err);

/* Testing only: when >= 0, h5run_write fails (EPR_EIO, "test hook") once
 * that many datasets + curves have been written.  -1 (default) = off. */
extern int h5run_test_fail_after;

/* ---- reading ---- */
typedef struct h5run h5run;

/* Opens read-only.  Missing file, not HDF5, truncated: EPR_EIO/EPR_EFORMAT
 * with a message naming the file. */
int h5run_open(const char *path, h5run **h, epr_err *err);
void h5run_close(h5run *h); /* NULL is fine */
const char *h5run_path(const h5run *h);

/* 1 if an object (group or dataset) exists at path, else 0. */
int h5run_has(h5run *h, const char *path);
/* 1 if the object at obj ("/" or NULL for the root, "/final", a dataset)
 * has an attribute called name, else 0. */
int h5run_has_attr(h5run *h, const char *obj, const char *name);

/* Attributes of obj (NULL or "/" = root, "/final", any dataset or group).
 * str: a string attribute (variable- or fixed-length) copied with its NUL
 * into buf; EPR_EFORMAT if it does not fit in cap bytes.
 * strdup: the same into a malloc'd string the caller frees.
 * i64: an integer attribute of one element; f64: a float (or integer)
 * attribute of one element.  i64v/f64v: exactly n elements. */
int h5run_get_str(h5run *h, const char *obj, const char *name, char *buf, size_t cap, epr_err *err);
int h5run_get_strdup(h5run *h, const char *obj, const char *name, char **out, epr_err *err);
int h5run_get_i64(h5run *h, const char *obj, const char *name, int64_t *v, epr_err *err);
int h5run_get_f64(h5run *h, const char *obj, const char *name, double *v, epr_err *err);
int h5run_get_i64v(h5run *h, const char *obj, const char *name, int64_t *v, size_t n, epr_err *err);
int h5run_get_f64v(h5run *h, const char *obj, const char *name, double *v, size_t n, epr_err *err);

/* The names of the links directly under group path (a group), in
 * ascending name order, as a malloc'd array of malloc'd strings (*n of
 * them; free with h5run_list_free).  EPR_EFORMAT if path is missing or not
 * a group. */
int h5run_list(h5run *h, const char *path, char ***names, int *n, epr_err *err);
void h5run_list_free(char **names, int n);

/* Element count (product of dims) and shape of a dataset. */
int h5run_dataset_size(h5run *h, const char *path, size_t *n, epr_err *err);
int h5run_dataset_shape(h5run *h, const char *path, int *rank, size_t dims[H5RUN_MAX_RANK], epr_err *err);

/* Reads the whole dataset at path into buf.  Checks that it exists, is a
 * dataset, holds exactly `type` (class, size and signedness: a float64
 * dataset is not silently narrowed into float32) and exactly expected_count
 * elements; the message names file, dataset, expected vs found.  A dataset
 * carrying H5RUN_CRC_ATTR is verified after reading (EPR_ECRC). */
int h5run_read(h5run *h, const char *path, h5run_type type, void *buf, size_t expected_count, epr_err *err);

/* Curves: /curves/<name>. */
int h5run_curve_len(h5run *h, const char *name, size_t *n, epr_err *err);
int h5run_curve_read(h5run *h, const char *name, double *buf, size_t expected_len, epr_err *err);

const char *h5run_type_name(h5run_type t);

#endif
