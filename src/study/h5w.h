/* study/h5w — writing sweep.h5 (epr pareto): attributes and 1-D columns
 * with a "description" attribute each, the first failure remembered (h5w)
 * so a writer checks once at the end.  The COL_* macros fill a column from
 * the field of the same name of rows[0..n), through the calling function's
 * h5w_scratch sc (h5w_scratch_init / h5w_scratch_free).
 * Used by pareto_h5.c (/runs) and seeds.c (/points).  May call: HDF5. */
#ifndef EPR_STUDY_H5W_H
#define EPR_STUDY_H5W_H

#include <hdf5.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct {
    hid_t file;
    int failed;
    char where[256];
} h5w;

static inline void h5w_fail(h5w *w, const char *what) {
    if (!w->failed) snprintf(w->where, sizeof w->where, "%s", what);
    w->failed = 1;
}

static inline void attr_str(h5w *w, hid_t loc, const char *name, const char *v) {
    if (w->failed) return;
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    hid_t s = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(loc, name, t, s, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0 || H5Awrite(a, t, &v) < 0) h5w_fail(w, name);
    if (a >= 0) H5Aclose(a);
    H5Sclose(s);
    H5Tclose(t);
}

static inline void attr_num(h5w *w, hid_t loc, const char *name, hid_t ftype, hid_t mtype, const void *v) {
    if (w->failed) return;
    hid_t s = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(loc, name, ftype, s, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0 || H5Awrite(a, mtype, v) < 0) h5w_fail(w, name);
    if (a >= 0) H5Aclose(a);
    H5Sclose(s);
}
static inline void attr_i64(h5w *w, hid_t loc, const char *name, int64_t v) {
    attr_num(w, loc, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &v);
}
static inline void attr_f64(h5w *w, hid_t loc, const char *name, double v) {
    attr_num(w, loc, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &v);
}

static inline void column(h5w *w, hid_t g, const char *name, hid_t ftype, hid_t mtype, const void *data, hsize_t n,
                          const char *desc) {
    if (w->failed) return;
    hid_t s = H5Screate_simple(1, &n, NULL);
    hid_t d = H5Dcreate2(g, name, ftype, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (d < 0 || H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0) h5w_fail(w, name);
    if (d >= 0) {
        attr_str(w, d, "description", desc);
        H5Dclose(d);
    }
    H5Sclose(s);
}

#define COL_F64(field, desc)                                                               \
    do {                                                                                   \
        for (int i = 0; i < n; i++) sc.f64[i] = rows[i].field;                             \
        column(w, g, #field, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, sc.f64, (hsize_t)n, desc); \
    } while (0)
#define COL_I64(field, desc)                                                             \
    do {                                                                                 \
        for (int i = 0; i < n; i++) sc.i64[i] = rows[i].field;                           \
        column(w, g, #field, H5T_STD_I64LE, H5T_NATIVE_INT64, sc.i64, (hsize_t)n, desc); \
    } while (0)
#define COL_I8(field, desc)                                                            \
    do {                                                                               \
        for (int i = 0; i < n; i++) sc.i8[i] = (signed char)rows[i].field;             \
        column(w, g, #field, H5T_STD_I8LE, H5T_NATIVE_SCHAR, sc.i8, (hsize_t)n, desc); \
    } while (0)
#define COL_STR(field, desc)                                               \
    do {                                                                   \
        for (int i = 0; i < n; i++) sc.strs[i] = rows[i].field;            \
        column(w, g, #field, sc.vstr, sc.vstr, sc.strs, (hsize_t)n, desc); \
    } while (0)

/* Scratch for n values of each column type and the UTF-8 string type. */
typedef struct {
    double *f64;
    int64_t *i64;
    signed char *i8;
    const char **strs;
    hid_t vstr;
} h5w_scratch;

/* 0, or -1 (out of memory, recorded in w; free it all the same). */
static inline int h5w_scratch_init(h5w *w, h5w_scratch *sc, int n) {
    sc->f64 = malloc((size_t)n * sizeof *sc->f64 + 1);
    sc->i64 = malloc((size_t)n * sizeof *sc->i64 + 1);
    sc->i8 = malloc((size_t)n + 1);
    sc->strs = malloc((size_t)n * sizeof *sc->strs + 1);
    sc->vstr = H5Tcopy(H5T_C_S1);
    H5Tset_size(sc->vstr, H5T_VARIABLE);
    H5Tset_cset(sc->vstr, H5T_CSET_UTF8);
    if (sc->f64 && sc->i64 && sc->i8 && sc->strs) return 0;
    h5w_fail(w, "out of memory");
    return -1;
}

static inline void h5w_scratch_free(h5w_scratch *sc) {
    H5Tclose(sc->vstr);
    free(sc->f64);
    free(sc->i64);
    free(sc->i8);
    free(sc->strs);
}

#endif
