/* run/h5run_write.c — h5run_write (see h5run.h): a description of a run
 * file checked in full before anything touches the disk, then written to a
 * private temporary (attributes, datasets with their CRC-32, extensible
 * curves) and committed atomically (run/fsutil).  Error handling as in
 * h5run.c (h5run_internal.h).  May call: libc, POSIX, HDF5, run/fsutil. */
#include <errno.h>
#include <hdf5.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "run/fsutil.h"
#include "run/h5run_internal.h"

int h5run_test_fail_after = -1;

/* Curves are extended a few values at a time: 1024 float64 = 8 KiB chunks. */
#define CURVE_CHUNK 1024

/* ---- validation of a description (before anything touches the disk) ---- */

static int check_attrs(const char *path, const char *where, const h5run_attr *a, int n, epr_err *err) {
    RETURN_ERROR_IF(n < 0 || (n > 0 && !a), err, EPR_EARG, "%.200s: %s: bad attribute list (%d)", path, where, n);
    for (int i = 0; i < n; i++) {
        RETURN_ERROR_IF(!a[i].name || !a[i].name[0], err, EPR_EARG, "%.200s: %s: attribute %d has no name", path, where,
                        i);
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
            return cmn_fail(err, EPR_EARG, "%.200s: %s: attribute '%.80s' has unknown kind %d", path, where, a[i].name,
                            (int)a[i].kind);
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
        RETURN_ERROR_IF(!h5run_type_valid(ds->type), err, EPR_EARG, "%.200s: dataset %.120s: unknown type %d", path,
                        ds->path, (int)ds->type);
        RETURN_ERROR_IF(ds->rank < 0 || ds->rank > H5RUN_MAX_RANK, err, EPR_EARG,
                        "%.200s: dataset %.120s: rank %d (0..%d)", path, ds->path, ds->rank, H5RUN_MAX_RANK);
        size_t count = 1;
        for (int k = 0; k < ds->rank; k++) {
            RETURN_ERROR_IF(ds->dims[k] && count > (SIZE_MAX / 8) / ds->dims[k], err, EPR_EARG,
                            "%.200s: dataset %.120s: size overflows", path, ds->path);
            count *= ds->dims[k];
        }
        RETURN_ERROR_IF(count > 0 && !ds->data, err, EPR_EARG, "%.200s: dataset %.120s: data is NULL", path, ds->path);
        CHECK_STATUS(check_attrs(path, ds->path, ds->attrs, ds->n_attrs, err));
    }
    RETURN_ERROR_IF(d->n_curves < 0 || (d->n_curves > 0 && !d->curves), err, EPR_EARG, "%.200s: bad curve list (%d)",
                    path, d->n_curves);
    for (int i = 0; i < d->n_curves; i++) {
        const h5run_curve *c = &d->curves[i];
        RETURN_ERROR_IF(!c->name || !c->name[0] || strchr(c->name, '/') || !strcmp(c->name, ".") ||
                            !strcmp(c->name, ".."),
                        err, EPR_EARG, "%.200s: curve %d: bad name '%.80s'", path, i, c->name ? c->name : "(null)");
        RETURN_ERROR_IF(d->curve_len > 0 && !c->v, err, EPR_EARG, "%.200s: curve %.80s: values are NULL", path,
                        c->name);
    }
    RETURN_ERROR_IF(d->n_groups < 0 || (d->n_groups > 0 && !d->groups), err, EPR_EARG, "%.200s: bad group list (%d)",
                    path, d->n_groups);
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
    hid_t lcpl;  /* creates intermediate groups */
    int written; /* datasets + curves written, for the test hook */
} writer;

static int hook(writer *w, const char *obj) {
    w->written++;
    if (h5run_test_fail_after >= 0 && w->written > h5run_test_fail_after)
        return cmn_fail(w->err, EPR_EIO, "%.200s: test hook: failing after %d objects (at %.120s)", w->path,
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
fail : {
    char obj[240];
    snprintf(obj, sizeof obj, "%.120s @%.100s", loc_name, a->name);
    rc = h5run_fail(w->err, EPR_EIO, w->path, call, obj);
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
    if (space < 0) return h5run_fail(w->err, EPR_EIO, w->path, "H5Screate_simple", ds->path);
    int rc = 0;
    hid_t dset = H5Dcreate2(file, ds->path, h5run_file_type(ds->type), space, w->lcpl, H5P_DEFAULT, H5P_DEFAULT);
    if (dset < 0) {
        char det[160];
        h5run_detail(det);
        /* HDF5 says "message type not found" when a parent is a dataset */
        char bad[200];
        if (non_group_prefix(file, ds->path, bad, sizeof bad))
            snprintf(det, sizeof det, "%.120s exists and is not a group", bad);
        rc = h5run_fail_detail(w->err, EPR_EIO, w->path, "H5Dcreate2", ds->path, det);
    } else if (count > 0 && H5Dwrite(dset, h5run_mem_type(ds->type), H5S_ALL, H5S_ALL, H5P_DEFAULT, ds->data) < 0)
        rc = h5run_fail(w->err, EPR_EIO, w->path, "H5Dwrite", ds->path);
    if (!rc) rc = write_attrs(w, dset, ds->path, ds->attrs, ds->n_attrs);
    if (!rc && h5run_host_le()) {
        h5run_attr crc =
            h5run_i64(H5RUN_CRC_ATTR, (int64_t)h5run_crc32_bytes(ds->data, count * h5run_type_size(ds->type)));
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
    if (g < 0) h5run_fail(w->err, EPR_EIO, w->path, e > 0 ? "H5Gopen2" : "H5Gcreate2", name);
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
        rc = h5run_fail(w->err, EPR_EIO, w->path, "H5Pset_chunk", "/curves");
    for (int i = 0; !rc && i < d->n_curves; i++) {
        char obj[300];
        snprintf(obj, sizeof obj, "/curves/%.200s", d->curves[i].name);
        hid_t dset = H5Dcreate2(grp, d->curves[i].name, H5T_IEEE_F64LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
        if (dset < 0)
            rc = h5run_fail(w->err, EPR_EIO, w->path, "H5Dcreate2", obj);
        else if (d->curve_len > 0 &&
                 H5Dwrite(dset, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, d->curves[i].v) < 0)
            rc = h5run_fail(w->err, EPR_EIO, w->path, "H5Dwrite", obj);
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

    h5run_quiet q;
    h5run_quiet_on(&q);
    writer w = {path, err, -1, 0};
    int rc = 0;
    hid_t fapl = h5run_fapl();
    w.lcpl = H5Pcreate(H5P_LINK_CREATE);
    if (fapl < 0 || w.lcpl < 0 || H5Pset_create_intermediate_group(w.lcpl, 1) < 0)
        rc = h5run_fail(err, EPR_EIO, path, "H5Pcreate", "property lists");
    hid_t file = -1;
    if (!rc) {
        file = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
        if (file < 0) rc = h5run_fail(err, EPR_EIO, path, "H5Fcreate", tmp);
    }
    if (!rc) rc = write_contents(&w, file, d);
    if (!rc && H5Fflush(file, H5F_SCOPE_GLOBAL) < 0) rc = h5run_fail(err, EPR_EIO, path, "H5Fflush", tmp);
    if (file >= 0 && H5Fclose(file) < 0 && !rc) rc = h5run_fail(err, EPR_EIO, path, "H5Fclose", tmp);
    if (rc)
        unlink(tmp); /* H5Fcreate may have created it before failing: remove regardless */
    else
        rc = fs_commit(tmp, path, err); /* fsync, rename, fsync of the directory (fsutil.h) */
    if (w.lcpl >= 0) H5Pclose(w.lcpl);
    if (fapl >= 0) H5Pclose(fapl);
    h5run_quiet_off(&q);
    free(tmp);
    return rc;
}
