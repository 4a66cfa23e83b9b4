/* run/h5run.c — see h5run.h: reading a run file (open, attributes, lists,
 * datasets, curves) and what the writer (h5run_write.c) shares with it:
 * the HDF5 error plumbing, the file access list, the element types.
 *
 * Error handling, read me first: every public function switches HDF5's
 * automatic error printing off on entry and restores the caller's handler on
 * exit (h5run_quiet_on/off).  When an HDF5 call fails, h5run_detail() must run
 * before any other HDF5 call, since the next call clears the error stack; it
 * keeps the innermost (most specific) description, e.g. "truncated file" or
 * "name already exists", for the one-line message. */
#include "run/h5run_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "run/fsutil.h"

struct h5run {
    hid_t file;
    char *path;
};

/* ---- HDF5 error plumbing ---- */

void h5run_quiet_on(h5run_quiet *q) {
    q->fn = NULL;
    q->data = NULL;
    H5Eget_auto2(H5E_DEFAULT, &q->fn, &q->data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

void h5run_quiet_off(const h5run_quiet *q) { H5Eset_auto2(H5E_DEFAULT, q->fn, q->data); }

static herr_t walk_innermost(unsigned n, const H5E_error2_t *e, void *cd) {
    char *out = cd;
    if (n == 0 && e && e->desc) snprintf(out, 160, "%s", e->desc);
    return 0;
}

/* The innermost HDF5 error description, on one line ("" if none). */
void h5run_detail(char out[160]) {
    out[0] = 0;
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, walk_innermost, out);
    for (char *p = out; *p; p++)
        if (*p == '\n' || *p == '\r') *p = ' ';
}

/* "<file>: <call>(<obj>) failed: <detail>" */
int h5run_fail_detail(epr_err *err, int code, const char *file, const char *call, const char *obj, const char *det) {
    return cmn_fail(err, code, "%.200s: %s(%.120s) failed%s%.160s", file, call, obj ? obj : "", det[0] ? ": " : "",
                    det);
}

int h5run_fail(epr_err *err, int code, const char *file, const char *call, const char *obj) {
    char det[160];
    h5run_detail(det);
    return h5run_fail_detail(err, code, file, call, obj, det);
}

/* A file access property list: STRONG close degree (closing the file also
 * closes anything an error path left open) and no file locking: h5run files
 * are never modified in place (a write goes to a private temporary, then
 * rename), and flock() fails on some cluster file systems (NFS, Lustre). */
hid_t h5run_fapl(void) {
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0) return -1;
    if (H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG) < 0) {
        H5Pclose(fapl);
        return -1;
    }
#if H5_VERSION_GE(1, 10, 7)
    if (H5Pset_file_locking(fapl, 0, 1) < 0) {
        H5Pclose(fapl);
        return -1;
    }
#endif
    return fapl;
}

/* ---- types ---- */

const char *h5run_type_name(h5run_type t) {
    switch (t) {
    case H5RUN_F32: return "float32";
    case H5RUN_F64: return "float64";
    case H5RUN_I32: return "int32";
    case H5RUN_I64: return "int64";
    case H5RUN_U8: return "uint8";
    }
    return "?";
}

int h5run_type_valid(h5run_type t) { return t >= H5RUN_F32 && t <= H5RUN_U8; }

size_t h5run_type_size(h5run_type t) {
    switch (t) {
    case H5RUN_F32: return 4;
    case H5RUN_F64: return 8;
    case H5RUN_I32: return 4;
    case H5RUN_I64: return 8;
    case H5RUN_U8: return 1;
    }
    return 0;
}

hid_t h5run_mem_type(h5run_type t) {
    switch (t) {
    case H5RUN_F32: return H5T_NATIVE_FLOAT;
    case H5RUN_F64: return H5T_NATIVE_DOUBLE;
    case H5RUN_I32: return H5T_NATIVE_INT32;
    case H5RUN_I64: return H5T_NATIVE_INT64;
    case H5RUN_U8: return H5T_NATIVE_UINT8;
    }
    return -1;
}

hid_t h5run_file_type(h5run_type t) {
    switch (t) {
    case H5RUN_F32: return H5T_IEEE_F32LE;
    case H5RUN_F64: return H5T_IEEE_F64LE;
    case H5RUN_I32: return H5T_STD_I32LE;
    case H5RUN_I64: return H5T_STD_I64LE;
    case H5RUN_U8: return H5T_STD_U8LE;
    }
    return -1;
}

/* A readable name for a stored type: "float32", "int16", "uint64", "string". */
static void describe_type(hid_t t, char *buf, size_t n) {
    H5T_class_t c = H5Tget_class(t);
    size_t sz = H5Tget_size(t);
    if (c == H5T_FLOAT)
        snprintf(buf, n, "float%zu", 8 * sz);
    else if (c == H5T_INTEGER)
        snprintf(buf, n, "%sint%zu", H5Tget_sign(t) == H5T_SGN_NONE ? "u" : "", 8 * sz);
    else if (c == H5T_STRING)
        snprintf(buf, n, "string");
    else if (c == H5T_COMPOUND)
        snprintf(buf, n, "compound");
    else
        snprintf(buf, n, "type class %d", (int)c);
}

static int type_matches(hid_t t, h5run_type want) {
    H5T_class_t c = H5Tget_class(t);
    size_t sz = H5Tget_size(t);
    if (sz != h5run_type_size(want)) return 0;
    switch (want) {
    case H5RUN_F32:
    case H5RUN_F64: return c == H5T_FLOAT;
    case H5RUN_I32:
    case H5RUN_I64: return c == H5T_INTEGER && H5Tget_sign(t) == H5T_SGN_2;
    case H5RUN_U8: return c == H5T_INTEGER && H5Tget_sign(t) == H5T_SGN_NONE;
    }
    return 0;
}

int h5run_host_le(void) {
    const uint16_t one = 1;
    return *(const uint8_t *)&one == 1;
}

/* zlib's CRC-32 of n bytes, in pieces that fit its length type. */
uint32_t h5run_crc32_bytes(const void *p, size_t n) {
    uLong c = crc32(0L, Z_NULL, 0);
    const Bytef *b = p;
    while (n > 0) {
        uInt k = n > (1u << 30) ? (1u << 30) : (uInt)n;
        c = crc32(c, b, k);
        b += k;
        n -= k;
    }
    return (uint32_t)c;
}

/* ---- reading ---- */

const char *h5run_path(const h5run *h) { return h ? h->path : NULL; }

int h5run_open(const char *path, h5run **out, epr_err *err) {
    *out = NULL;
    RETURN_ERROR_IF(!path || !path[0], err, EPR_EARG, "h5run_open: no file name");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    RETURN_ERROR_IF(fd < 0, err, EPR_EIO, "%.200s: cannot open: %s", path, strerror(errno));
    struct stat st;
    int r = fstat(fd, &st);
    close(fd);
    RETURN_ERROR_IF(r != 0 || !S_ISREG(st.st_mode), err, EPR_EIO, "%.200s: not a regular file", path);

    h5run_quiet q;
    h5run_quiet_on(&q);
    int rc = 0;
    hid_t fapl = -1, file = -1;
    htri_t is = H5Fis_hdf5(path);
    if (is == 0)
        rc = cmn_fail(err, EPR_EFORMAT, "%.200s: not an HDF5 file (no HDF5 signature)", path);
    else if (is < 0)
        rc = h5run_fail(err, EPR_EFORMAT, path, "H5Fis_hdf5", path);
    if (!rc) {
        fapl = h5run_fapl();
        if (fapl < 0) rc = h5run_fail(err, EPR_EIO, path, "H5Pcreate", "file access");
    }
    if (!rc) {
        file = H5Fopen(path, H5F_ACC_RDONLY, fapl);
        if (file < 0) rc = h5run_fail(err, EPR_EFORMAT, path, "H5Fopen", "damaged or truncated HDF5 file?");
    }
    if (fapl >= 0) H5Pclose(fapl);
    h5run *h = NULL;
    if (!rc) {
        h = calloc(1, sizeof *h);
        char *p = h ? malloc(strlen(path) + 1) : NULL;
        if (!p) {
            free(h);
            H5Fclose(file);
            rc = cmn_fail(err, EPR_ENOMEM, "%.200s: out of memory", path);
        } else {
            strcpy(p, path);
            h->path = p;
            h->file = file;
            *out = h;
        }
    }
    h5run_quiet_off(&q);
    return rc;
}

void h5run_close(h5run *h) {
    if (!h) return;
    h5run_quiet q;
    h5run_quiet_on(&q);
    H5Fclose(h->file);
    h5run_quiet_off(&q);
    free(h->path);
    free(h);
}

/* Whether every link on the way to path exists and the last one resolves to
 * an object (H5Lexists on "/a/b" is an error, not 0, when "/a" is missing). */
static int has_path(h5run *h, const char *path) {
    if (!path || !path[0]) return 0;
    if (!strcmp(path, "/") || !strcmp(path, ".")) return 1;
    size_t n = strlen(path);
    char *buf = malloc(n + 1);
    if (!buf) return 0;
    memcpy(buf, path, n + 1);
    int ok = 1;
    for (size_t i = 1; ok && i <= n; i++) {
        if (buf[i] != '/' && buf[i] != 0) continue;
        if (buf[i - 1] == '/') continue; /* "//" or a trailing '/' */
        char c = buf[i];
        buf[i] = 0;
        ok = H5Lexists(h->file, buf, H5P_DEFAULT) > 0;
        buf[i] = c;
    }
    if (ok) ok = H5Oexists_by_name(h->file, path, H5P_DEFAULT) > 0;
    free(buf);
    return ok;
}

int h5run_has(h5run *h, const char *path) {
    if (!h) return 0;
    h5run_quiet q;
    h5run_quiet_on(&q);
    int r = has_path(h, path);
    h5run_quiet_off(&q);
    return r;
}

static const char *obj_name(const char *obj) { return obj && obj[0] ? obj : "/"; }

int h5run_has_attr(h5run *h, const char *obj, const char *name) {
    if (!h || !name) return 0;
    h5run_quiet q;
    h5run_quiet_on(&q);
    int r = has_path(h, obj_name(obj)) && H5Aexists_by_name(h->file, obj_name(obj), name, H5P_DEFAULT) > 0;
    h5run_quiet_off(&q);
    return r;
}

/* Opens attribute name of obj; the messages say which one is missing. */
static hid_t attr_open(h5run *h, const char *obj, const char *name, epr_err *err) {
    obj = obj_name(obj);
    if (!has_path(h, obj)) {
        cmn_fail(err, EPR_EFORMAT, "%.200s: no object %.120s (looking for its attribute '%.80s')", h->path, obj, name);
        return -1;
    }
    if (H5Aexists_by_name(h->file, obj, name, H5P_DEFAULT) <= 0) {
        cmn_fail(err, EPR_EFORMAT, "%.200s: %.120s has no attribute '%.80s'", h->path, obj, name);
        return -1;
    }
    hid_t a = H5Aopen_by_name(h->file, obj, name, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0) {
        char what[240];
        snprintf(what, sizeof what, "%.120s @%.80s", obj, name);
        h5run_fail(err, EPR_EFORMAT, h->path, "H5Aopen_by_name", what);
    }
    return a;
}

/* Numeric attribute of exactly n elements; want_int: integer class only,
 * else float or integer (converted to double). */
static int get_num(h5run *h, const char *obj, const char *name, int want_int, void *out, size_t n, epr_err *err) {
    RETURN_ERROR_IF(!h || !name || !out, err, EPR_EARG, "h5run: attribute read: bad arguments");
    h5run_quiet q;
    h5run_quiet_on(&q);
    int rc = 0;
    hid_t a = attr_open(h, obj, name, err), t = -1, s = -1;
    if (a < 0) rc = err ? err->code : EPR_EFORMAT;
    if (!rc) {
        t = H5Aget_type(a);
        s = H5Aget_space(a);
        if (t < 0 || s < 0) rc = h5run_fail(err, EPR_EFORMAT, h->path, "H5Aget_type", name);
    }
    if (!rc) {
        H5T_class_t c = H5Tget_class(t);
        if (!(c == H5T_INTEGER || (!want_int && c == H5T_FLOAT))) {
            char found[32];
            describe_type(t, found, sizeof found);
            rc = cmn_fail(err, EPR_EFORMAT, "%.200s: attribute '%.80s' of %.120s is %s, expected %s", h->path, name,
                          obj_name(obj), found, want_int ? "an integer" : "a number");
        }
    }
    if (!rc) {
        hssize_t np = H5Sget_simple_extent_npoints(s);
        if (np < 0 || (size_t)np != n)
            rc = cmn_fail(err, EPR_EFORMAT, "%.200s: attribute '%.80s' of %.120s has %lld elements, expected %zu",
                          h->path, name, obj_name(obj), (long long)np, n);
    }
    if (!rc && H5Aread(a, want_int ? H5T_NATIVE_INT64 : H5T_NATIVE_DOUBLE, out) < 0)
        rc = h5run_fail(err, EPR_EFORMAT, h->path, "H5Aread", name);
    if (s >= 0) H5Sclose(s);
    if (t >= 0) H5Tclose(t);
    if (a >= 0) H5Aclose(a);
    h5run_quiet_off(&q);
    return rc;
}

int h5run_get_i64(h5run *h, const char *obj, const char *name, int64_t *v, epr_err *err) {
    return get_num(h, obj, name, 1, v, 1, err);
}
int h5run_get_f64(h5run *h, const char *obj, const char *name, double *v, epr_err *err) {
    return get_num(h, obj, name, 0, v, 1, err);
}
int h5run_get_i64v(h5run *h, const char *obj, const char *name, int64_t *v, size_t n, epr_err *err) {
    return get_num(h, obj, name, 1, v, n, err);
}
int h5run_get_f64v(h5run *h, const char *obj, const char *name, double *v, size_t n, epr_err *err) {
    return get_num(h, obj, name, 0, v, n, err);
}

int h5run_get_strdup(h5run *h, const char *obj, const char *name, char **out, epr_err *err) {
    RETURN_ERROR_IF(!h || !name || !out, err, EPR_EARG, "h5run: string attribute read: bad arguments");
    *out = NULL;
    h5run_quiet q;
    h5run_quiet_on(&q);
    int rc = 0;
    hid_t a = attr_open(h, obj, name, err), t = -1, s = -1, mt = -1;
    if (a < 0) rc = err ? err->code : EPR_EFORMAT;
    if (!rc) {
        t = H5Aget_type(a);
        s = H5Aget_space(a);
        if (t < 0 || s < 0) rc = h5run_fail(err, EPR_EFORMAT, h->path, "H5Aget_type", name);
    }
    if (!rc && H5Tget_class(t) != H5T_STRING) {
        char found[32];
        describe_type(t, found, sizeof found);
        rc = cmn_fail(err, EPR_EFORMAT, "%.200s: attribute '%.80s' of %.120s is %s, expected a string", h->path, name,
                      obj_name(obj), found);
    }
    if (!rc && H5Sget_simple_extent_npoints(s) != 1)
        rc = cmn_fail(err, EPR_EFORMAT, "%.200s: attribute '%.80s' of %.120s is not a single string", h->path, name,
                      obj_name(obj));
    if (!rc) {
        htri_t vl = H5Tis_variable_str(t);
        mt = H5Tcopy(H5T_C_S1);
        /* same character set as stored: HDF5 does not convert between sets */
        if (vl < 0 || mt < 0 || H5Tset_cset(mt, H5Tget_cset(t)) < 0) {
            rc = h5run_fail(err, EPR_EFORMAT, h->path, "H5Tcopy", name);
        } else if (vl > 0) {
            char *p = NULL;
            if (H5Tset_size(mt, H5T_VARIABLE) < 0 || H5Aread(a, mt, &p) < 0) {
                rc = h5run_fail(err, EPR_EFORMAT, h->path, "H5Aread", name);
            } else {
                size_t n = p ? strlen(p) : 0;
                *out = malloc(n + 1);
                if (*out) {
                    if (n) memcpy(*out, p, n);
                    (*out)[n] = 0;
                }
                if (p) H5free_memory(p);
                if (!*out) rc = cmn_fail(err, EPR_ENOMEM, "%.200s: out of memory", h->path);
            }
        } else {
            size_t n = H5Tget_size(t);
            char *p = n ? calloc(n + 1, 1) : NULL;
            if (!p)
                rc = cmn_fail(err, EPR_ENOMEM, "%.200s: out of memory", h->path);
            else if (H5Tset_size(mt, n) < 0 || H5Tset_strpad(mt, H5Tget_strpad(t)) < 0 || H5Aread(a, mt, p) < 0) {
                rc = h5run_fail(err, EPR_EFORMAT, h->path, "H5Aread", name);
                free(p);
            } else {
                *out = p;
            }
        }
    }
    if (mt >= 0) H5Tclose(mt);
    if (s >= 0) H5Sclose(s);
    if (t >= 0) H5Tclose(t);
    if (a >= 0) H5Aclose(a);
    h5run_quiet_off(&q);
    return rc;
}

int h5run_get_str(h5run *h, const char *obj, const char *name, char *buf, size_t cap, epr_err *err) {
    RETURN_ERROR_IF(!buf || cap == 0, err, EPR_EARG, "h5run: string attribute read: no buffer");
    buf[0] = 0;
    char *s = NULL;
    CHECK_STATUS(h5run_get_strdup(h, obj, name, &s, err));
    size_t n = strlen(s);
    int rc = 0;
    if (n + 1 > cap)
        rc = cmn_fail(err, EPR_EFORMAT, "%.200s: attribute '%.80s' of %.120s is %zu bytes, buffer holds %zu", h->path,
                      name, obj_name(obj), n + 1, cap);
    else
        memcpy(buf, s, n + 1);
    free(s);
    return rc;
}

void h5run_list_free(char **names, int n) {
    for (int i = 0; names && i < n; i++) free(names[i]);
    free(names);
}

int h5run_list(h5run *h, const char *path, char ***names, int *n, epr_err *err) {
    RETURN_ERROR_IF(!h || !names || !n, err, EPR_EARG, "h5run_list: bad arguments");
    *names = NULL;
    *n = 0;
    path = obj_name(path);
    h5run_quiet q;
    h5run_quiet_on(&q);
    int rc = 0;
    hid_t g = -1;
    if (!has_path(h, path)) {
        rc = cmn_fail(err, EPR_EFORMAT, "%.200s: no group %.200s", h->path, path);
    } else {
        hid_t o = H5Oopen(h->file, path, H5P_DEFAULT);
        if (o < 0)
            rc = h5run_fail(err, EPR_EFORMAT, h->path, "H5Oopen", path);
        else if (H5Iget_type(o) != H5I_GROUP)
            rc = cmn_fail(err, EPR_EFORMAT, "%.200s: %.200s is not a group", h->path, path);
        if (o >= 0 && rc) H5Oclose(o);
        if (!rc) g = o; /* an object id of a group is a group id */
    }
    H5G_info_t gi;
    char **l = NULL;
    int k = 0;
    if (!rc && H5Gget_info(g, &gi) < 0) rc = h5run_fail(err, EPR_EFORMAT, h->path, "H5Gget_info", path);
    if (!rc && gi.nlinks > (hsize_t)1 << 24)
        rc = cmn_fail(err, EPR_EFORMAT, "%.200s: %.200s has %llu links", h->path, path, (unsigned long long)gi.nlinks);
    if (!rc && !(l = calloc((size_t)gi.nlinks + 1, sizeof *l)))
        rc = cmn_fail(err, EPR_ENOMEM, "%.200s: out of memory", h->path);
    for (; !rc && (hsize_t)k < gi.nlinks; k++) {
        ssize_t len = H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, (hsize_t)k, NULL, 0, H5P_DEFAULT);
        if (len < 0) {
            rc = h5run_fail(err, EPR_EFORMAT, h->path, "H5Lget_name_by_idx", path);
        } else if (!(l[k] = malloc((size_t)len + 1))) {
            rc = cmn_fail(err, EPR_ENOMEM, "%.200s: out of memory", h->path);
        } else if (H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, (hsize_t)k, l[k], (size_t)len + 1,
                                      H5P_DEFAULT) < 0) {
            rc = h5run_fail(err, EPR_EFORMAT, h->path, "H5Lget_name_by_idx", path);
        }
    }
    if (g >= 0) H5Oclose(g);
    if (rc) {
        h5run_list_free(l, k + 1);
    } else {
        *names = l;
        *n = k;
    }
    h5run_quiet_off(&q);
    return rc;
}

/* Opens the dataset at path; says whether it is missing or not a dataset. */
static hid_t dataset_open(h5run *h, const char *path, epr_err *err) {
    if (!path || !has_path(h, path)) {
        cmn_fail(err, EPR_EFORMAT, "%.200s: no dataset %.200s", h->path, path ? path : "(null)");
        return -1;
    }
    hid_t o = H5Oopen(h->file, path, H5P_DEFAULT);
    if (o < 0) {
        h5run_fail(err, EPR_EFORMAT, h->path, "H5Oopen", path);
        return -1;
    }
    if (H5Iget_type(o) != H5I_DATASET) {
        H5Oclose(o);
        cmn_fail(err, EPR_EFORMAT, "%.200s: %.200s is not a dataset (a group?)", h->path, path);
        return -1;
    }
    return o; /* an object id of a dataset is a dataset id */
}

static int shape_of(h5run *h, hid_t d, const char *path, int *rank, hsize_t dims[H5RUN_MAX_RANK], size_t *count,
                    epr_err *err) {
    hid_t s = H5Dget_space(d);
    if (s < 0) return h5run_fail(err, EPR_EFORMAT, h->path, "H5Dget_space", path);
    int r = H5Sget_simple_extent_ndims(s);
    hssize_t np = H5Sget_simple_extent_npoints(s);
    int rc = 0;
    if (r < 0 || np < 0)
        rc = h5run_fail(err, EPR_EFORMAT, h->path, "H5Sget_simple_extent_ndims", path);
    else if (r > H5RUN_MAX_RANK)
        rc = cmn_fail(err, EPR_EUNSUP, "%.200s: dataset %.200s has rank %d (at most %d supported)", h->path, path, r,
                      H5RUN_MAX_RANK);
    else if (H5Sget_simple_extent_dims(s, dims, NULL) < 0)
        rc = h5run_fail(err, EPR_EFORMAT, h->path, "H5Sget_simple_extent_dims", path);
    H5Sclose(s);
    if (!rc) {
        *rank = r;
        *count = (size_t)np;
    }
    return rc;
}

int h5run_dataset_shape(h5run *h, const char *path, int *rank, size_t dims[H5RUN_MAX_RANK], epr_err *err) {
    RETURN_ERROR_IF(!h || !rank || !dims, err, EPR_EARG, "h5run_dataset_shape: bad arguments");
    h5run_quiet q;
    h5run_quiet_on(&q);
    int rc = 0;
    hid_t d = dataset_open(h, path, err);
    if (d < 0) rc = err ? err->code : EPR_EFORMAT;
    hsize_t hd[H5RUN_MAX_RANK] = {0};
    size_t count = 0;
    if (!rc) rc = shape_of(h, d, path, rank, hd, &count, err);
    if (!rc)
        for (int k = 0; k < H5RUN_MAX_RANK; k++) dims[k] = k < *rank ? (size_t)hd[k] : 0;
    if (d >= 0) H5Dclose(d);
    h5run_quiet_off(&q);
    return rc;
}

int h5run_dataset_size(h5run *h, const char *path, size_t *n, epr_err *err) {
    RETURN_ERROR_IF(!h || !n, err, EPR_EARG, "h5run_dataset_size: bad arguments");
    h5run_quiet q;
    h5run_quiet_on(&q);
    int rc = 0, rank = 0;
    hid_t d = dataset_open(h, path, err);
    if (d < 0) rc = err ? err->code : EPR_EFORMAT;
    hsize_t hd[H5RUN_MAX_RANK];
    if (!rc) rc = shape_of(h, d, path, &rank, hd, n, err);
    if (d >= 0) H5Dclose(d);
    h5run_quiet_off(&q);
    return rc;
}

int h5run_read(h5run *h, const char *path, h5run_type type, void *buf, size_t expected_count, epr_err *err) {
    RETURN_ERROR_IF(!h || !h5run_type_valid(type) || (expected_count && !buf), err, EPR_EARG,
                    "h5run_read(%.200s): bad arguments", path ? path : "(null)");
    h5run_quiet q;
    h5run_quiet_on(&q);
    int rc = 0, rank = 0;
    hid_t d = dataset_open(h, path, err), t = -1;
    if (d < 0) rc = err ? err->code : EPR_EFORMAT;
    if (!rc) {
        t = H5Dget_type(d);
        if (t < 0) rc = h5run_fail(err, EPR_EFORMAT, h->path, "H5Dget_type", path);
    }
    if (!rc && !type_matches(t, type)) {
        char found[32];
        describe_type(t, found, sizeof found);
        rc = cmn_fail(err, EPR_EFORMAT, "%.200s: dataset %.200s holds %s, expected %s", h->path, path, found,
                      h5run_type_name(type));
    }
    hsize_t hd[H5RUN_MAX_RANK];
    size_t count = 0;
    if (!rc) rc = shape_of(h, d, path, &rank, hd, &count, err);
    if (!rc && count != expected_count)
        rc = cmn_fail(err, EPR_EFORMAT, "%.200s: dataset %.200s has %zu elements, expected %zu", h->path, path, count,
                      expected_count);
    if (!rc && count > 0 && H5Dread(d, h5run_mem_type(type), H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
        rc = h5run_fail(err, EPR_EFORMAT, h->path, "H5Dread", path);
    if (!rc && h5run_host_le() && H5Aexists(d, H5RUN_CRC_ATTR) > 0) {
        int64_t stored = -1;
        hid_t a = H5Aopen(d, H5RUN_CRC_ATTR, H5P_DEFAULT);
        if (a < 0 || H5Aread(a, H5T_NATIVE_INT64, &stored) < 0)
            rc = h5run_fail(err, EPR_EFORMAT, h->path, "H5Aread", H5RUN_CRC_ATTR);
        if (a >= 0) H5Aclose(a);
        uint32_t computed = rc ? 0 : h5run_crc32_bytes(buf, count * h5run_type_size(type));
        if (!rc && (uint64_t)stored != computed)
            rc = cmn_fail(err, EPR_ECRC,
                          "%.200s: dataset %.200s fails its CRC-32 check (stored %08llx, computed %08x): the file is "
                          "damaged",
                          h->path, path, (unsigned long long)stored, (unsigned)computed);
    }
    if (t >= 0) H5Tclose(t);
    if (d >= 0) H5Dclose(d);
    h5run_quiet_off(&q);
    return rc;
}

static int curve_path(h5run *h, const char *name, char *buf, size_t n, epr_err *err) {
    RETURN_ERROR_IF(!h || !name || !name[0] || strchr(name, '/'), err, EPR_EARG, "h5run: bad curve name '%.80s'",
                    name ? name : "(null)");
    RETURN_ERROR_IF((size_t)snprintf(buf, n, "/curves/%s", name) >= n, err, EPR_EARG,
                    "h5run: curve name too long '%.80s'", name);
    return 0;
}

int h5run_curve_len(h5run *h, const char *name, size_t *n, epr_err *err) {
    char p[512];
    CHECK_STATUS(curve_path(h, name, p, sizeof p, err));
    return h5run_dataset_size(h, p, n, err);
}

int h5run_curve_read(h5run *h, const char *name, double *buf, size_t expected_len, epr_err *err) {
    char p[512];
    CHECK_STATUS(curve_path(h, name, p, sizeof p, err));
    return h5run_read(h, p, H5RUN_F64, buf, expected_len, err);
}
