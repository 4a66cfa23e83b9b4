/* study/pareto_h5.c — DIR/sweep.h5 of `epr pareto` (layout in pareto.h):
 * root attributes, the /runs columns, the /points over seeds (seeds.h) and
 * the external /links to the run files; written to a temporary name and
 * committed atomically.  May call: libc, POSIX, HDF5 (serial, through
 * study/h5w.h), run/fsutil, study/seeds. */
#include <hdf5.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "run/fsutil.h"
#include "study/h5w.h"
#include "study/pareto_internal.h"
#include "study/seeds.h"

static void write_columns(h5w *w, hid_t g, const pareto_row *rows, const int *is_baseline, int n) {
    h5w_scratch sc;
    if (!h5w_scratch_init(w, &sc, n)) {
        COL_STR(name, "run name (its directory); /links/<name> is the run file");
        COL_STR(experiment, "experiment name (the INI file's stem)");
        COL_STR(model, "network");
        COL_STR(data_set, "data set (errors are comparable within one data set only)");
        COL_STR(
            method,
            "epr-sq | epr-dft | epr-ro | epr-learned (EPR runs, by their groups' transforms), plain (the "
            "float32 reference run), or a baselines.h5 method (float32, gzip, xz, uniformN, kmeansN, prune-kmeans)");
        COL_STR(source_run,
                "the run the point comes from: the row's own name for runs, the plain run for baselines.h5 methods");
        for (int i = 0; i < n; i++) sc.strs[i] = rows[i].rel_file;
        column(w, g, "run_file", sc.vstr, sc.vstr, sc.strs, (hsize_t)n, "run file, relative to the sweep directory");
        COL_STR(bitstream, "the file whose size is size_bytes, relative to the sweep directory (\"\" for plain runs)");
        COL_STR(config_id,
                "the run's fingerprint of every setting but the seed (\"\" before run files had it): equal = "
                "the runs differ only in seed");
        COL_I8(epr_enabled, "1: trained with EPR (size = .epr bytes); 0: plain float32");
        COL_F64(lambda, "rate weight: loss = mean cross-entropy (nats) + lambda * rate (bits)");
        COL_I64(seed, "train.seed");
        COL_I64(size_bytes,
                "model size in bytes: the .epr file for EPR runs, the method's file for baselines, 4 x parameters "
                "for plain runs");
        COL_I64(float32_bytes, "4 x parameters");
        COL_I64(n_params, "parameters of the network");
        COL_I64(n_compressed, "parameters coded through EPR groups");
        COL_F64(bits_per_param, "8 x size_bytes / n_params");
        COL_F64(ratio, "float32_bytes / size_bytes");
        COL_F64(test_error, "test error (fraction) of the network decoded from the file (EPR, baselines) or the EMA "
                            "model (plain)");
        COL_F64(test_error_raw, "test error (fraction) of the raw, non-EMA weights (NaN for baselines.h5 methods)");
        COL_F64(rate_exact_bits, "exact self-information of the quantised model under the learned densities (bits)");
        COL_F64(validation_error, "error (fraction) on the images held out of the training set ([data] validation) of "
                                  "the weights written, which were chosen on it; NaN without a validation split");
        COL_I64(n_validation, "images held out of the training set for validation (0: none)");
        COL_F64(wall_seconds, "training wall time (s) of the run (for a baseline: of the plain run it comes from)");
        COL_F64(post_seconds, "seconds the baselines.h5 method took after training (0 for runs)");
        COL_I64(steps, "optimizer steps");
        COL_I64(world_size, "MPI ranks");
        COL_I8(is_pareto, "1: no EPR run of the same network on the same data set is at most as large and at most "
                          "as wrong, one strictly");
        COL_I8(is_method_front, "1: no point of the same method family (uniformN, kmeansN: all N) of the same network "
                                "on the same data set is at most as large and at most as wrong, one strictly");
        COL_I8(is_overall_front, "1: no point of any method (plain reference runs aside) of the same network on the "
                                 "same data set is at most as large and at most as wrong, one strictly");
        for (int i = 0; i < n; i++) sc.i8[i] = (signed char)is_baseline[i];
        column(w, g, "is_baseline", H5T_STD_I8LE, H5T_NATIVE_SCHAR, sc.i8, (hsize_t)n,
               "1: a plain float32 run used as the uncompressed reference (method plain)");
    }
    h5w_scratch_free(&sc);
}

int pareto_write_sweep_h5(const char *path, const char *dir, const pareto_row *rows, const int *is_baseline,
                          const char **link_target, int n, const char *baseline_desc, epr_err *err) {
    char tmp[1500];
    fs_tmp_name(path, tmp, sizeof tmp);
    H5E_auto2_t old_fn;
    void *old_data;
    H5Eget_auto2(H5E_DEFAULT, &old_fn, &old_data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    h5w w = {0};
    w.file = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (w.file < 0) {
        H5Eset_auto2(H5E_DEFAULT, old_fn, old_data);
        return cmn_fail(err, EPR_EIO, "%s: cannot create (H5Fcreate failed)", tmp);
    }
    char absdir[4096];
    if (!realpath(dir, absdir)) snprintf(absdir, sizeof absdir, "%s", dir);
    attr_i64(&w, w.file, "schema_version", 2);
    attr_str(&w, w.file, "kind", "epr sweep");
    attr_str(&w, w.file, "code_version", EPR_VERSION);
    attr_str(&w, w.file, "directory", absdir);
    attr_i64(&w, w.file, "n_runs", n);
    int64_t n_files = 0;
    for (int i = 0; i < n; i++) n_files += !is_file_point(&rows[i]);
    attr_i64(&w, w.file, "n_run_files", n_files);
    {
        char fams[64][32];
        const char *famp[64];
        int nf = pareto_collect_families(rows, n, NULL, fams, famp);
        char methods[1024] = "";
        for (int i = 0; i < nf; i++) {
            size_t l = strlen(methods);
            sfmt(methods + l, sizeof methods - l, "%s%s", l ? "," : "", famp[i]);
        }
        attr_str(&w, w.file, "methods", methods);
    }
    attr_str(&w, w.file, "pareto_rule",
             "is_pareto: EPR runs only; no other EPR run of the same network on the same data set has size_bytes <= "
             "and test_error <=, one strictly");
    attr_str(&w, w.file, "front_rule",
             "is_method_front: no point of the same method family of the same network on the same data set has "
             "size_bytes <= and test_error <=, one strictly; is_overall_front: the same against the points of every "
             "method (plain reference runs are on no "
             "front and dominate nothing)");
    attr_str(&w, w.file, "baseline_run", baseline_desc);
    double be = NAN;
    int64_t bs = 0;
    for (int i = 0; i < n; i++)
        if (is_baseline[i]) {
            be = rows[i].test_error, bs = rows[i].size_bytes;
            break;
        }
    attr_f64(&w, w.file, "baseline_test_error", be);
    attr_i64(&w, w.file, "baseline_size_bytes", bs);
    hid_t g = H5Gcreate2(w.file, "runs", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0) h5w_fail(&w, "/runs");
    if (g >= 0) {
        attr_i64(&w, g, "n_runs", n);
        write_columns(&w, g, rows, is_baseline, n);
        H5Gclose(g);
    }
    pareto_point *pts = NULL;
    int npts = pareto_points(rows, is_baseline, n, &pts);
    if (npts < 0)
        h5w_fail(&w, "out of memory (/points)");
    else
        pareto_points_write(&w, w.file, pts, npts);
    free(pts);
    hid_t l = H5Gcreate2(w.file, "links", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (l < 0) h5w_fail(&w, "/links");
    for (int i = 0; i < n && l >= 0 && !w.failed; i++)
        if (link_target[i] && H5Lcreate_external(link_target[i], "/", l, rows[i].name, H5P_DEFAULT, H5P_DEFAULT) < 0)
            h5w_fail(&w, rows[i].name);
    if (l >= 0) H5Gclose(l);
    if (H5Fclose(w.file) < 0) h5w_fail(&w, "H5Fclose");
    H5Eset_auto2(H5E_DEFAULT, old_fn, old_data);
    if (w.failed) {
        unlink(tmp);
        return cmn_fail(err, EPR_EIO, "%s: writing '%s' failed", tmp, w.where);
    }
    return fs_commit(tmp, path, err);
}
