/* run/h5run.c — see h5run.h.
 *
 * Error handling, read me first: every public function switches HDF5's
 * automatic error printing off on entry and restores the caller's handler on
 * exit (quiet_on/quiet_off).  When an HDF5 call fails, h5_detail() must run
 * before any other HDF5 call, since the next call clears the error stack; it
 * keeps the innermost (most specific) description, e.g. "truncated file" or
 * "name already exists", for the one-line message. */
#include "run/h5run.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "run/fsutil.h"

int h5run_test_fail_after = -1;

/* Curves are extended a few values at a time: 1024 float64 = 8 KiB chunks. */
#define CURVE_CHUNK 1024

struct h5run {
    hid_t file;
    char *path;
};

/* ---- HDF5 error plumbing ---- */

typedef struct {
    H5E_auto2_t fn;
    void *data;
} quiet;

static void quiet_on(quiet *q) {
    q->fn = NULL;
    q->data = NULL;
    H5Eget_auto2(H5E_DEFAULT, &q->fn, &q->data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

static void quiet_off(const quiet *q) { H5Eset_auto2(H5E_DEFAULT, q->fn, q->data); }

static herr_t walk_innermost(unsigned n, const H5E_error2_t *e, void *cd) {
    char *out = cd;
    if (n == 0 && e && e->desc) snprintf(out, 160, "%s", e->desc);
    return 0;
}

/* The innermost HDF5 error description, on one line ("" if none). */
static void h5_detail(char out[160]) {
    out[0] = 0;
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, walk_innermost, out);
    for (char *p = out; *p; p++)
        if (*p == '\n' || *p == '\r') *p = ' ';
}

/* "<file>: <call>(<obj>) failed: <detail>" */
static int h5_fail_detail(epr_err *err, int code, const char *file, const char *call, const char *obj,
                          const char *det) {
    return epr_fail(err, code, "%.200s: %s(%.120s) failed%s%.160s", file, call, obj ? obj : "",
                    det[0] ? ": " : "", det);
}

static int h5_fail(epr_err *err, int code, const char *file, const char *call, const char *obj) {
    char det[160];
    h5_detail(det);
    return h5_fail_detail(err, code, file, call, obj, det);
}

/* A file access property list: STRONG close degree (closing the file also
 * closes anything an error path left open) and no file locking: h5run files
 * are never modified in place (a write goes to a private temporary, then
 * rename), and flock() fails on some cluster file systems (NFS, Lustre). */
static hid_t make_fapl(void) {
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

static int type_valid(h5run_type t) { return t >= H5RUN_F32 && t <= H5RUN_U8; }

static size_t type_size(h5run_type t) {
    switch (t) {
    case H5RUN_F32: return 4;
    case H5RUN_F64: return 8;
    case H5RUN_I32: return 4;
    case H5RUN_I64: return 8;
    case H5RUN_U8: return 1;
    }
    return 0;
}

static hid_t mem_type(h5run_type t) {
    switch (t) {
    case H5RUN_F32: return H5T_NATIVE_FLOAT;
    case H5RUN_F64: return H5T_NATIVE_DOUBLE;
    case H5RUN_I32: return H5T_NATIVE_INT32;
    case H5RUN_I64: return H5T_NATIVE_INT64;
    case H5RUN_U8: return H5T_NATIVE_UINT8;
    }
    return -1;
}

static hid_t file_type(h5run_type t) {
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
    if (sz != type_size(want)) return 0;
    switch (want) {
    case H5RUN_F32:
    case H5RUN_F64: return c == H5T_FLOAT;
    case H5RUN_I32:
    case H5RUN_I64: return c == H5T_INTEGER && H5Tget_sign(t) == H5T_SGN_2;
    case H5RUN_U8: return c == H5T_INTEGER && H5Tget_sign(t) == H5T_SGN_NONE;
    }
    return 0;
}

static int host_little_endian(void) {
    const uint16_t one = 1;
    return *(const uint8_t *)&one == 1;
}

/* zlib's CRC-32 of n bytes, in pieces that fit its length type. */
static uint32_t crc32_bytes(const void *p, size_t n) {
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

/* ---- validation of a description (before anything touches the disk) ---- */

static int check_attrs(const char *path, const char *where, const h5run_attr *a, int n, epr_err *err) {
    RETURN_ERROR_IF(n < 0 || (n > 0 && !a), err, EPR_EARG, "%.200s: %s: bad attribute list (%d)", path, where, n);
    for (int i = 0; i < n; i++) {
        RETURN_ERROR_IF(!a[i].name || !a[i].name[0], err, EPR_EARG, "%.200s: %s: attribute %d has no name", path,
                        where, i);
        switch (a[i].kind) {
        case H5RUN_ATTR_STR:
            RETURN_ERROR_IF(!a[i].s, err, EPR_EARG, "%.200s: %s: string attribute '%.80s' is NULL", path, where,
                            a[i].name);
            break;
        case H5RUN_ATTR_I64:
        case H5RUN_ATTR_F64: break;
        case H5RUN_ATTR_I64V:
        case H5RUN_ATTR_F64V:
            RETURN_ERROR_IF(a[i].n == 0 || (a[i].kind == H5RUN_ATTR_I64V ? !a[i].iv : !a[i].dv), err, EPR_EARG,
                            "%.200s: %s: array attribute '%.80s' has no values", path, where, a[i].name);
            break;
        default:
            return epr_fail(err, EPR_EARG, "%.200s: %s: attribute '%.80s' has unknown kind %d", path, where,
                            a[i].name, (int)a[i].kind);
        }
    }
    return 0;
}

static int check_desc(const char *path, const h5run_desc *d, epr_err *err) {
    RETURN_ERROR_IF(!path || !path[0], err, EPR_EARG, "h5run_write: no file name");
    RETURN_ERROR_IF(!d, err, EPR_EARG, "%.200s: h5run_write: no description", path);
    CHECK_STATUS(check_attrs(path, "root", d->attrs, d->n_attrs, err));
    CHECK_STATUS(check_attrs(path, "/final", d->final_attrs, d->n_final_attrs, err));
    RETURN_ERROR_IF(d->n_datasets < 0 || (d->n_datasets > 0 && !d->datasets), err, EPR_EARG,
                    "%.200s: bad dataset list (%d)", path, d->n_datasets);
    for (int i = 0; i < d->n_datasets; i++) {
        const h5run_dataset *ds = &d->datasets[i];
        RETURN_ERROR_IF(!ds->path || !ds->path[0] || !strcmp(ds->path, "/"), err, EPR_EARG,
                        "%.200s: dataset %d has no path", path, i);
        RETURN_ERROR_IF(!type_valid(ds->type), err, EPR_EARG, "%.200s: dataset %.120s: unknown type %d", path,
                        ds->path, (int)ds->type);
        RETURN_ERROR_IF(ds->rank < 0 || ds->rank > H5RUN_MAX_RANK, err, EPR_EARG,
                        "%.200s: dataset %.120s: rank %d (0..%d)", path, ds->path, ds->rank, H5RUN_MAX_RANK);
        size_t count = 1;
        for (int k = 0; k < ds->rank; k++) {
            RETURN_ERROR_IF(ds->dims[k] && count > (SIZE_MAX / 8) / ds->dims[k], err, EPR_EARG,
                            "%.200s: dataset %.120s: size overflows", path, ds->path);
            count *= ds->dims[k];
        }
        RETURN_ERROR_IF(count > 0 && !ds->data, err, EPR_EARG, "%.200s: dataset %.120s: data is NULL", path,
                        ds->path);
        CHECK_STATUS(check_attrs(path, ds->path, ds->attrs, ds->n_attrs, err));
    }
    RETURN_ERROR_IF(d->n_curves < 0 || (d->n_curves > 0 && !d->curves), err, EPR_EARG,
                    "%.200s: bad curve list (%d)", path, d->n_curves);
    for (int i = 0; i < d->n_curves; i++) {
        const h5run_curve *c = &d->curves[i];
        RETURN_ERROR_IF(!c->name || !c->name[0] || strchr(c->name, '/') || !strcmp(c->name, ".") ||
                            !strcmp(c->name, ".."),
                        err, EPR_EARG, "%.200s: curve %d: bad name '%.80s'", path, i, c->name ? c->name : "(null)");
        RETURN_ERROR_IF(d->curve_len > 0 && !c->v, err, EPR_EARG, "%.200s: curve %.80s: values are NULL", path,
                        c->name);
    }
    RETURN_ERROR_IF(d->n_groups < 0 || (d->n_groups > 0 && !d->groups), err, EPR_EARG,
                    "%.200s: bad group list (%d)", path, d->n_groups);
    for (int i = 0; i < d->n_groups; i++) {
        const h5run_group *g = &d->groups[i];
        RETURN_ERROR_IF(!g->path || g->path[0] != '/' || !strcmp(g->path, "/"), err, EPR_EARG,
                        "%.200s: group %d: bad path '%.120s' (absolute, not the root)", path, i,
                        g->path ? g->path : "(null)");
        CHECK_STATUS(check_attrs(path, g->path, g->attrs, g->n_attrs, err));
    }
    return 0;
}

/* ---- writing ---- */

typedef struct {
    const char *path; /* the final name, for messages */
    epr_err *err;
    hid_t lcpl;       /* creates intermediate groups */
    int written;      /* datasets + curves written, for the test hook */
} writer;

static int hook(writer *w, const char *obj) {
    w->written++;
    if (h5run_test_fail_after >= 0 && w->written > h5run_test_fail_after)
        return epr_fail(w->err, EPR_EIO, "%.200s: test hook: failing after %d objects (at %.120s)", w->path,
                        h5run_test_fail_after, obj);
    return 0;
}

static int write_attr(writer *w, hid_t loc, const char *loc_name, const h5run_attr *a) {
    hid_t space = -1, ftype = -1, attr = -1;
    const char *call = "H5Screate";
    int rc = 0;
    herr_t s = -1;
    hsize_t n = a->n;
    if (a->kind == H5RUN_ATTR_I64V || a->kind == H5RUN_ATTR_F64V)
        space = H5Screate_simple(1, &n, NULL);
    else
        space = H5Screate(H5S_SCALAR);
    if (space < 0) goto fail;
    if (a->kind == H5RUN_ATTR_STR) {
        call = "H5Tcopy";
        ftype = H5Tcopy(H5T_C_S1);
        if (ftype < 0 || H5Tset_size(ftype, H5T_VARIABLE) < 0 || H5Tset_cset(ftype, H5T_CSET_UTF8) < 0) goto fail;
    } else {
        ftype = H5Tcopy(a->kind == H5RUN_ATTR_I64 || a->kind == H5RUN_ATTR_I64V ? H5T_STD_I64LE : H5T_IEEE_F64LE);
        if (ftype < 0) goto fail;
    }
    call = "H5Acreate2";
    attr = H5Acreate2(loc, a->name, ftype, space, H5P_DEFAULT, H5P_DEFAULT);
    if (attr < 0) goto fail;
    call = "H5Awrite";
    switch (a->kind) {
    case H5RUN_ATTR_STR: s = H5Awrite(attr, ftype, &a->s); break;
    case H5RUN_ATTR_I64: s = H5Awrite(attr, H5T_NATIVE_INT64, &a->i); break;
    case H5RUN_ATTR_F64: s = H5Awrite(attr, H5T_NATIVE_DOUBLE, &a->d); break;
    case H5RUN_ATTR_I64V: s = H5Awrite(attr, H5T_NATIVE_INT64, a->iv); break;
    case H5RUN_ATTR_F64V: s = H5Awrite(attr, H5T_NATIVE_DOUBLE, a->dv); break;
    }
    if (s < 0) goto fail;
    goto done;
fail: {
    char obj[240];
    snprintf(obj, sizeof obj, "%.120s @%.100s", loc_name, a->name);
    rc = h5_fail(w->err, EPR_EIO, w->path, call, obj);
}
done:
    if (attr >= 0) H5Aclose(attr);
    if (ftype >= 0) H5Tclose(ftype);
    if (space >= 0) H5Sclose(space);
    return rc;
}

static int write_attrs(writer *w, hid_t loc, const char *loc_name, const h5run_attr *a, int n) {
    for (int i = 0; i < n; i++) CHECK_STATUS(write_attr(w, loc, loc_name, &a[i]));
    return 0;
}

/* Copies into bad the first proper prefix of path ("/a" of "/a/b/c") that
 * exists and is not a group; returns 0 if there is none. */
static int non_group_prefix(hid_t file, const char *path, char *bad, size_t cap) {
    size_t n = strlen(path);
    if (n + 1 > cap) return 0;
    memcpy(bad, path, n + 1);
    for (size_t i = 1; i < n; i++) {
        if (bad[i] != '/' || bad[i - 1] == '/') continue;
        bad[i] = 0;
        if (H5Lexists(file, bad, H5P_DEFAULT) <= 0) return 0;
        hid_t o = H5Oopen(file, bad, H5P_DEFAULT);
        int is_group = o >= 0 && H5Iget_type(o) == H5I_GROUP;
        if (o >= 0) H5Oclose(o);
        if (!is_group) return 1;
        bad[i] = '/';
    }
    return 0;
}

static int write_dataset(writer *w, hid_t file, const h5run_dataset *ds) {
    hsize_t dims[H5RUN_MAX_RANK];
    size_t count = 1;
    for (int k = 0; k < ds->rank; k++) {
        dims[k] = ds->dims[k];
        count *= ds->dims[k];
    }
    hid_t space = ds->rank == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(ds->rank, dims, NULL);
    if (space < 0) return h5_fail(w->err, EPR_EIO, w->path, "H5Screate_simple", ds->path);
    int rc = 0;
    hid_t dset = H5Dcreate2(file, ds->path, file_type(ds->type), space, w->lcpl, H5P_DEFAULT, H5P_DEFAULT);
    if (dset < 0) {
        char det[160];
        h5_detail(det);
        /* HDF5 says "message type not found" when a parent is a dataset */
        char bad[200];
        if (non_group_prefix(file, ds->path, bad, sizeof bad))
            snprintf(det, sizeof det, "%.120s exists and is not a group", bad);
        rc = h5_fail_detail(w->err, EPR_EIO, w->path, "H5Dcreate2", ds->path, det);
    } else if (count > 0 && H5Dwrite(dset, mem_type(ds->type), H5S_ALL, H5S_ALL, H5P_DEFAULT, ds->data) < 0)
        rc = h5_fail(w->err, EPR_EIO, w->path, "H5Dwrite", ds->path);
    if (!rc) rc = write_attrs(w, dset, ds->path, ds->attrs, ds->n_attrs);
    if (!rc && host_little_endian()) {
        h5run_attr crc = h5run_i64(H5RUN_CRC_ATTR, (int64_t)crc32_bytes(ds->data, count * type_size(ds->type)));
        rc = write_attr(w, dset, ds->path, &crc);
    }
    if (dset >= 0) H5Dclose(dset);
    H5Sclose(space);
    if (!rc) rc = hook(w, ds->path);
    return rc;
}

/* Opens the group at name, creating it (and its parents) if absent. */
static hid_t open_or_create_group(writer *w, hid_t file, const char *name) {
    htri_t e = H5Lexists(file, name, H5P_DEFAULT);
    hid_t g = e > 0 ? H5Gopen2(file, name, H5P_DEFAULT) : H5Gcreate2(file, name, w->lcpl, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0) h5_fail(w->err, EPR_EIO, w->path, e > 0 ? "H5Gopen2" : "H5Gcreate2", name);
    return g;
}

static int write_curves(writer *w, hid_t file, const h5run_desc *d) {
    hid_t grp = open_or_create_group(w, file, "/curves");
    if (grp < 0) return EPR_EIO;
    hsize_t dims = d->curve_len, maxdims = H5S_UNLIMITED, chunk = CURVE_CHUNK;
    hid_t space = H5Screate_simple(1, &dims, &maxdims);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    int rc = 0;
    if (space < 0 || dcpl < 0 || H5Pset_chunk(dcpl, 1, &chunk) < 0)
        rc = h5_fail(w->err, EPR_EIO, w->path, "H5Pset_chunk", "/curves");
    for (int i = 0; !rc && i < d->n_curves; i++) {
        char obj[300];
        snprintf(obj, sizeof obj, "/curves/%.200s", d->curves[i].name);
        hid_t dset = H5Dcreate2(grp, d->curves[i].name, H5T_IEEE_F64LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
        if (dset < 0)
            rc = h5_fail(w->err, EPR_EIO, w->path, "H5Dcreate2", obj);
        else if (d->curve_len > 0 &&
                 H5Dwrite(dset, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, d->curves[i].v) < 0)
            rc = h5_fail(w->err, EPR_EIO, w->path, "H5Dwrite", obj);
        if (dset >= 0) H5Dclose(dset);
        if (!rc) rc = hook(w, obj);
    }
    if (dcpl >= 0) H5Pclose(dcpl);
    if (space >= 0) H5Sclose(space);
    H5Gclose(grp);
    return rc;
}

static int write_contents(writer *w, hid_t file, const h5run_desc *d) {
    /* root attributes: an attribute created on the file id lands on "/" */
    CHECK_STATUS(write_attrs(w, file, "/", d->attrs, d->n_attrs));
    for (int i = 0; i < d->n_datasets; i++) CHECK_STATUS(write_dataset(w, file, &d->datasets[i]));
    if (d->n_curves > 0) CHECK_STATUS(write_curves(w, file, d));
    if (d->n_final_attrs > 0) {
        hid_t g = open_or_create_group(w, file, "/final");
        if (g < 0) return EPR_EIO;
        int rc = write_attrs(w, g, "/final", d->final_attrs, d->n_final_attrs);
        H5Gclose(g);
        CHECK_STATUS(rc);
    }
    for (int i = 0; i < d->n_groups; i++) {
        const h5run_group *gd = &d->groups[i];
        hid_t g = open_or_create_group(w, file, gd->path);
        if (g < 0) return EPR_EIO;
        int rc = write_attrs(w, g, gd->path, gd->attrs, gd->n_attrs);
        H5Gclose(g);
        CHECK_STATUS(rc);
    }
    return 0;
}

int h5run_write(const char *path, const h5run_desc *d, epr_err *err) {
    CHECK_STATUS(check_desc(path, d, err));
    size_t len = strlen(path);
    char *tmp = malloc(len + 32);
    RETURN_ERROR_IF(!tmp, err, EPR_ENOMEM, "%.200s: out of memory", path);
    fs_tmp_name(path, tmp, len + 32);

    quiet q;
    quiet_on(&q);
    writer w = {path, err, -1, 0};
    int rc = 0;
    hid_t fapl = make_fapl();
    w.lcpl = H5Pcreate(H5P_LINK_CREATE);
    if (fapl < 0 || w.lcpl < 0 || H5Pset_create_intermediate_group(w.lcpl, 1) < 0)
        rc = h5_fail(err, EPR_EIO, path, "H5Pcreate", "property lists");
    hid_t file = -1;
    if (!rc) {
        file = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
        if (file < 0) rc = h5_fail(err, EPR_EIO, path, "H5Fcreate", tmp);
    }
    if (!rc) rc = write_contents(&w, file, d);
    if (!rc && H5Fflush(file, H5F_SCOPE_GLOBAL) < 0) rc = h5_fail(err, EPR_EIO, path, "H5Fflush", tmp);
    if (file >= 0 && H5Fclose(file) < 0 && !rc) rc = h5_fail(err, EPR_EIO, path, "H5Fclose", tmp);
    if (rc)
        unlink(tmp); /* H5Fcreate may have created it before failing: remove regardless */
    else
        rc = fs_commit(tmp, path, err); /* fsync, rename, fsync of the directory (fsutil.h) */
    if (w.lcpl >= 0) H5Pclose(w.lcpl);
    if (fapl >= 0) H5Pclose(fapl);
    quiet_off(&q);
    free(tmp);
    return rc;
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

    quiet q;
    quiet_on(&q);
    int rc = 0;
    hid_t fapl = -1, file = -1;
    htri_t is = H5Fis_hdf5(path);
    if (is == 0)
        rc = epr_fail(err, EPR_EFORMAT, "%.200s: not an HDF5 file (no HDF5 signature)", path);
    else if (is < 0)
        rc = h5_fail(err, EPR_EFORMAT, path, "H5Fis_hdf5", path);
    if (!rc) {
        fapl = make_fapl();
        if (fapl < 0)
            rc = h5_fail(err, EPR_EIO, path, "H5Pcreate", "file access");
    }
    if (!rc) {
        file = H5Fopen(path, H5F_ACC_RDONLY, fapl);
        if (file < 0) rc = h5_fail(err, EPR_EFORMAT, path, "H5Fopen", "damaged or truncated HDF5 file?");
    }
    if (fapl >= 0) H5Pclose(fapl);
    h5run *h = NULL;
    if (!rc) {
        h = calloc(1, sizeof *h);
        char *p = h ? malloc(strlen(path) + 1) : NULL;
        if (!p) {
            free(h);
            H5Fclose(file);
            rc = epr_fail(err, EPR_ENOMEM, "%.200s: out of memory", path);
        } else {
            strcpy(p, path);
            h->path = p;
            h->file = file;
            *out = h;
        }
    }
    quiet_off(&q);
    return rc;
}

void h5run_close(h5run *h) {
    if (!h) return;
    quiet q;
    quiet_on(&q);
    H5Fclose(h->file);
    quiet_off(&q);
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
    quiet q;
    quiet_on(&q);
    int r = has_path(h, path);
    quiet_off(&q);
    return r;
}

static const char *obj_name(const char *obj) { return obj && obj[0] ? obj : "/"; }

int h5run_has_attr(h5run *h, const char *obj, const char *name) {
    if (!h || !name) return 0;
    quiet q;
    quiet_on(&q);
    int r = has_path(h, obj_name(obj)) && H5Aexists_by_name(h->file, obj_name(obj), name, H5P_DEFAULT) > 0;
    quiet_off(&q);
    return r;
}

/* Opens attribute name of obj; the messages say which one is missing. */
static hid_t attr_open(h5run *h, const char *obj, const char *name, epr_err *err) {
    obj = obj_name(obj);
    if (!has_path(h, obj)) {
        epr_fail(err, EPR_EFORMAT, "%.200s: no object %.120s (looking for its attribute '%.80s')", h->path, obj,
                 name);
        return -1;
    }
    if (H5Aexists_by_name(h->file, obj, name, H5P_DEFAULT) <= 0) {
        epr_fail(err, EPR_EFORMAT, "%.200s: %.120s has no attribute '%.80s'", h->path, obj, name);
        return -1;
    }
    hid_t a = H5Aopen_by_name(h->file, obj, name, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0) {
        char what[240];
        snprintf(what, sizeof what, "%.120s @%.80s", obj, name);
        h5_fail(err, EPR_EFORMAT, h->path, "H5Aopen_by_name", what);
    }
    return a;
}

/* Numeric attribute of exactly n elements; want_int: integer class only,
 * else float or integer (converted to double). */
static int get_num(h5run *h, const char *obj, const char *name, int want_int, void *out, size_t n, epr_err *err) {
    RETURN_ERROR_IF(!h || !name || !out, err, EPR_EARG, "h5run: attribute read: bad arguments");
    quiet q;
    quiet_on(&q);
    int rc = 0;
    hid_t a = attr_open(h, obj, name, err), t = -1, s = -1;
    if (a < 0) rc = err ? err->code : EPR_EFORMAT;
    if (!rc) {
        t = H5Aget_type(a);
        s = H5Aget_space(a);
        if (t < 0 || s < 0) rc = h5_fail(err, EPR_EFORMAT, h->path, "H5Aget_type", name);
    }
    if (!rc) {
        H5T_class_t c = H5Tget_class(t);
        if (!(c == H5T_INTEGER || (!want_int && c == H5T_FLOAT))) {
            char found[32];
            describe_type(t, found, sizeof found);
            rc = epr_fail(err, EPR_EFORMAT, "%.200s: attribute '%.80s' of %.120s is %s, expected %s", h->path, name,
                          obj_name(obj), found, want_int ? "an integer" : "a number");
        }
    }
    if (!rc) {
        hssize_t np = H5Sget_simple_extent_npoints(s);
        if (np < 0 || (size_t)np != n)
            rc = epr_fail(err, EPR_EFORMAT, "%.200s: attribute '%.80s' of %.120s has %lld elements, expected %zu",
                          h->path, name, obj_name(obj), (long long)np, n);
    }
    if (!rc && H5Aread(a, want_int ? H5T_NATIVE_INT64 : H5T_NATIVE_DOUBLE, out) < 0)
        rc = h5_fail(err, EPR_EFORMAT, h->path, "H5Aread", name);
    if (s >= 0) H5Sclose(s);
    if (t >= 0) H5Tclose(t);
    if (a >= 0) H5Aclose(a);
    quiet_off(&q);
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
    quiet q;
    quiet_on(&q);
    int rc = 0;
    hid_t a = attr_open(h, obj, name, err), t = -1, s = -1, mt = -1;
    if (a < 0) rc = err ? err->code : EPR_EFORMAT;
    if (!rc) {
        t = H5Aget_type(a);
        s = H5Aget_space(a);
        if (t < 0 || s < 0) rc = h5_fail(err, EPR_EFORMAT, h->path, "H5Aget_type", name);
    }
    if (!rc && H5Tget_class(t) != H5T_STRING) {
        char found[32];
        describe_type(t, found, sizeof found);
        rc = epr_fail(err, EPR_EFORMAT, "%.200s: attribute '%.80s' of %.120s is %s, expected a string", h->path, name,
                      obj_name(obj), found);
    }
    if (!rc && H5Sget_simple_extent_npoints(s) != 1)
        rc = epr_fail(err, EPR_EFORMAT, "%.200s: attribute '%.80s' of %.120s is not a single string", h->path, name,
                      obj_name(obj));
    if (!rc) {
        htri_t vl = H5Tis_variable_str(t);
        mt = H5Tcopy(H5T_C_S1);
        /* same character set as stored: HDF5 does not convert between sets */
        if (vl < 0 || mt < 0 || H5Tset_cset(mt, H5Tget_cset(t)) < 0) {
            rc = h5_fail(err, EPR_EFORMAT, h->path, "H5Tcopy", name);
        } else if (vl > 0) {
            char *p = NULL;
            if (H5Tset_size(mt, H5T_VARIABLE) < 0 || H5Aread(a, mt, &p) < 0) {
                rc = h5_fail(err, EPR_EFORMAT, h->path, "H5Aread", name);
            } else {
                size_t n = p ? strlen(p) : 0;
                *out = malloc(n + 1);
                if (*out) {
                    if (n) memcpy(*out, p, n);
                    (*out)[n] = 0;
                }
                if (p) H5free_memory(p);
                if (!*out) rc = epr_fail(err, EPR_ENOMEM, "%.200s: out of memory", h->path);
            }
        } else {
            size_t n = H5Tget_size(t);
            char *p = n ? calloc(n + 1, 1) : NULL;
            if (!p)
                rc = epr_fail(err, EPR_ENOMEM, "%.200s: out of memory", h->path);
            else if (H5Tset_size(mt, n) < 0 || H5Tset_strpad(mt, H5Tget_strpad(t)) < 0 || H5Aread(a, mt, p) < 0) {
                rc = h5_fail(err, EPR_EFORMAT, h->path, "H5Aread", name);
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
    quiet_off(&q);
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
        rc = epr_fail(err, EPR_EFORMAT, "%.200s: attribute '%.80s' of %.120s is %zu bytes, buffer holds %zu",
                      h->path, name, obj_name(obj), n + 1, cap);
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
    quiet q;
    quiet_on(&q);
    int rc = 0;
    hid_t g = -1;
    if (!has_path(h, path)) {
        rc = epr_fail(err, EPR_EFORMAT, "%.200s: no group %.200s", h->path, path);
    } else {
        hid_t o = H5Oopen(h->file, path, H5P_DEFAULT);
        if (o < 0)
            rc = h5_fail(err, EPR_EFORMAT, h->path, "H5Oopen", path);
        else if (H5Iget_type(o) != H5I_GROUP)
            rc = epr_fail(err, EPR_EFORMAT, "%.200s: %.200s is not a group", h->path, path);
        if (o >= 0 && rc) H5Oclose(o);
        if (!rc) g = o; /* an object id of a group is a group id */
    }
    H5G_info_t gi;
    char **l = NULL;
    int k = 0;
    if (!rc && H5Gget_info(g, &gi) < 0) rc = h5_fail(err, EPR_EFORMAT, h->path, "H5Gget_info", path);
    if (!rc && gi.nlinks > (hsize_t)1 << 24)
        rc = epr_fail(err, EPR_EFORMAT, "%.200s: %.200s has %llu links", h->path, path, (unsigned long long)gi.nlinks);
    if (!rc && !(l = calloc((size_t)gi.nlinks + 1, sizeof *l))) rc = epr_fail(err, EPR_ENOMEM, "%.200s: out of memory", h->path);
    for (; !rc && (hsize_t)k < gi.nlinks; k++) {
        ssize_t len = H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, (hsize_t)k, NULL, 0, H5P_DEFAULT);
        if (len < 0) {
            rc = h5_fail(err, EPR_EFORMAT, h->path, "H5Lget_name_by_idx", path);
        } else if (!(l[k] = malloc((size_t)len + 1))) {
            rc = epr_fail(err, EPR_ENOMEM, "%.200s: out of memory", h->path);
        } else if (H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, (hsize_t)k, l[k], (size_t)len + 1,
                                      H5P_DEFAULT) < 0) {
            rc = h5_fail(err, EPR_EFORMAT, h->path, "H5Lget_name_by_idx", path);
        }
    }
    if (g >= 0) H5Oclose(g);
    if (rc) {
        h5run_list_free(l, k + 1);
    } else {
        *names = l;
        *n = k;
    }
    quiet_off(&q);
    return rc;
}

/* Opens the dataset at path; says whether it is missing or not a dataset. */
static hid_t dataset_open(h5run *h, const char *path, epr_err *err) {
    if (!path || !has_path(h, path)) {
        epr_fail(err, EPR_EFORMAT, "%.200s: no dataset %.200s", h->path, path ? path : "(null)");
        return -1;
    }
    hid_t o = H5Oopen(h->file, path, H5P_DEFAULT);
    if (o < 0) {
        h5_fail(err, EPR_EFORMAT, h->path, "H5Oopen", path);
        return -1;
    }
    if (H5Iget_type(o) != H5I_DATASET) {
        H5Oclose(o);
        epr_fail(err, EPR_EFORMAT, "%.200s: %.200s is not a dataset (a group?)", h->path, path);
        return -1;
    }
    return o; /* an object id of a dataset is a dataset id */
}

static int shape_of(h5run *h, hid_t d, const char *path, int *rank, hsize_t dims[H5RUN_MAX_RANK], size_t *count,
                    epr_err *err) {
    hid_t s = H5Dget_space(d);
    if (s < 0) return h5_fail(err, EPR_EFORMAT, h->path, "H5Dget_space", path);
    int r = H5Sget_simple_extent_ndims(s);
    hssize_t np = H5Sget_simple_extent_npoints(s);
    int rc = 0;
    if (r < 0 || np < 0)
        rc = h5_fail(err, EPR_EFORMAT, h->path, "H5Sget_simple_extent_ndims", path);
    else if (r > H5RUN_MAX_RANK)
        rc = epr_fail(err, EPR_EUNSUP, "%.200s: dataset %.200s has rank %d (at most %d supported)", h->path, path, r,
                      H5RUN_MAX_RANK);
    else if (H5Sget_simple_extent_dims(s, dims, NULL) < 0)
        rc = h5_fail(err, EPR_EFORMAT, h->path, "H5Sget_simple_extent_dims", path);
    H5Sclose(s);
    if (!rc) {
        *rank = r;
        *count = (size_t)np;
    }
    return rc;
}

int h5run_dataset_shape(h5run *h, const char *path, int *rank, size_t dims[H5RUN_MAX_RANK], epr_err *err) {
    RETURN_ERROR_IF(!h || !rank || !dims, err, EPR_EARG, "h5run_dataset_shape: bad arguments");
    quiet q;
    quiet_on(&q);
    int rc = 0;
    hid_t d = dataset_open(h, path, err);
    if (d < 0) rc = err ? err->code : EPR_EFORMAT;
    hsize_t hd[H5RUN_MAX_RANK] = {0};
    size_t count = 0;
    if (!rc) rc = shape_of(h, d, path, rank, hd, &count, err);
    if (!rc)
        for (int k = 0; k < H5RUN_MAX_RANK; k++) dims[k] = k < *rank ? (size_t)hd[k] : 0;
    if (d >= 0) H5Dclose(d);
    quiet_off(&q);
    return rc;
}

int h5run_dataset_size(h5run *h, const char *path, size_t *n, epr_err *err) {
    RETURN_ERROR_IF(!h || !n, err, EPR_EARG, "h5run_dataset_size: bad arguments");
    quiet q;
    quiet_on(&q);
    int rc = 0, rank = 0;
    hid_t d = dataset_open(h, path, err);
    if (d < 0) rc = err ? err->code : EPR_EFORMAT;
    hsize_t hd[H5RUN_MAX_RANK];
    if (!rc) rc = shape_of(h, d, path, &rank, hd, n, err);
    if (d >= 0) H5Dclose(d);
    quiet_off(&q);
    return rc;
}

int h5run_read(h5run *h, const char *path, h5run_type type, void *buf, size_t expected_count, epr_err *err) {
    RETURN_ERROR_IF(!h || !type_valid(type) || (expected_count && !buf), err, EPR_EARG,
                    "h5run_read(%.200s): bad arguments", path ? path : "(null)");
    quiet q;
    quiet_on(&q);
    int rc = 0, rank = 0;
    hid_t d = dataset_open(h, path, err), t = -1;
    if (d < 0) rc = err ? err->code : EPR_EFORMAT;
    if (!rc) {
        t = H5Dget_type(d);
        if (t < 0) rc = h5_fail(err, EPR_EFORMAT, h->path, "H5Dget_type", path);
    }
    if (!rc && !type_matches(t, type)) {
        char found[32];
        describe_type(t, found, sizeof found);
        rc = epr_fail(err, EPR_EFORMAT, "%.200s: dataset %.200s holds %s, expected %s", h->path, path, found,
                      h5run_type_name(type));
    }
    hsize_t hd[H5RUN_MAX_RANK];
    size_t count = 0;
    if (!rc) rc = shape_of(h, d, path, &rank, hd, &count, err);
    if (!rc && count != expected_count)
        rc = epr_fail(err, EPR_EFORMAT, "%.200s: dataset %.200s has %zu elements, expected %zu", h->path, path, count,
                      expected_count);
    if (!rc && count > 0 && H5Dread(d, mem_type(type), H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
        rc = h5_fail(err, EPR_EFORMAT, h->path, "H5Dread", path);
    if (!rc && host_little_endian() && H5Aexists(d, H5RUN_CRC_ATTR) > 0) {
        int64_t stored = -1;
        hid_t a = H5Aopen(d, H5RUN_CRC_ATTR, H5P_DEFAULT);
        if (a < 0 || H5Aread(a, H5T_NATIVE_INT64, &stored) < 0)
            rc = h5_fail(err, EPR_EFORMAT, h->path, "H5Aread", H5RUN_CRC_ATTR);
        if (a >= 0) H5Aclose(a);
        uint32_t computed = rc ? 0 : crc32_bytes(buf, count * type_size(type));
        if (!rc && (uint64_t)stored != computed)
            rc = epr_fail(err, EPR_ECRC,
                          "%.200s: dataset %.200s fails its CRC-32 check (stored %08llx, computed %08x): the file is "
                          "damaged",
                          h->path, path, (unsigned long long)stored, (unsigned)computed);
    }
    if (t >= 0) H5Tclose(t);
    if (d >= 0) H5Dclose(d);
    quiet_off(&q);
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
