/* run/export.c — see export.h. */
#include "run/export.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "epr/codec.h"
#include "run/run_load.h"
#include "run/tensorfile.h"

typedef struct {
    int n;
    tensorfile_tensor *t;
} export_list;

static void list_free(export_list *l) {
    for (int i = 0; i < l->n; i++) free(l->t[i].data);
    free(l->t);
}

/* Every tensor of an open .epr file, decoded. */
static int from_epr(const char *path, export_list *l, epr_err *err) {
    epr_file *f;
    CHECK_STATUS(epr_file_open(path, &f, err));
    int rc = 0, n = epr_file_tensor_count(f);
    l->t = calloc((size_t)n + 1, sizeof *l->t);
    if (!l->t) rc = cmn_fail(err, EPR_ENOMEM, "out of memory");
    for (int i = 0; !rc && i < n; i++) {
        epr_tensor_info ti;
        rc = epr_file_tensor_info(f, i, &ti, err);
        if (rc) break;
        tensorfile_tensor *t = &l->t[l->n];
        if (strlen(ti.name) >= sizeof t->name) {
            rc = cmn_fail(err, EPR_EUNSUP, "%s: tensor name '%.60s...' is too long to export", path, ti.name);
            break;
        }
        snprintf(t->name, sizeof t->name, "%s", ti.name);
        t->ndim = ti.ndim;
        for (int d = 0; d < ti.ndim; d++) t->shape[d] = ti.shape[d];
        t->n = ti.n_elements;
        /* bounded by the reader's element limits (epr_read_limits) */
        t->data = malloc((size_t)ti.n_elements * sizeof(float) + 1);
        if (!t->data) {
            rc = cmn_fail(err, EPR_ENOMEM, "%s: out of memory for tensor %s", path, ti.name);
            break;
        }
        l->n++;
        rc = epr_file_decode_tensor(f, i, t->data, err);
    }
    epr_file_close(f);
    return rc;
}

static int add_copy(export_list *l, const char *name, int ndim, const int64_t *shape, const float *v, size_t n,
                    epr_err *err) {
    tensorfile_tensor *t = &l->t[l->n];
    RETURN_ERROR_IF(strlen(name) >= sizeof t->name, err, EPR_EUNSUP, "tensor name %s is too long", name);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ndim = ndim;
    for (int d = 0; d < ndim; d++) t->shape[d] = shape[d];
    t->n = (int64_t)n;
    t->data = malloc(n * sizeof(float) + 1);
    RETURN_ERROR_IF(!t->data, err, EPR_ENOMEM, "out of memory");
    memcpy(t->data, v, n * sizeof(float));
    l->n++;
    return 0;
}

/* The network of a run file: tensors then buffers, as a .epr orders them. */
static int from_run(const char *path, int flags, export_list *l, const char **what, epr_err *err) {
    run_loaded r;
    int rc = run_load_open(path, NULL, 0, &r, err);
    if (!rc && (flags & EXPORT_QUANTISED) && !r.epr_enabled)
        rc = cmn_fail(err, EPR_EARG, "%s: a plain (float32) run has no quantised weights (drop --quantised)", path);
    if (!rc) rc = run_load_model(&r, flags & EXPORT_RAW, err);
    if (!rc && r.epr_enabled && !(flags & EXPORT_QUANTISED)) rp_model_decode_latent(r.em);
    *what = !r.epr_enabled ? "float32" : (flags & EXPORT_QUANTISED) ? "quantised" : "continuous (unquantised)";
    nn_model *net = r.net;
    const int nt = rc ? 0 : nn_model_num_tensors(net), nb = rc ? 0 : nn_model_num_buffers(net);
    if (!rc && !(l->t = calloc((size_t)(nt + nb) + 1, sizeof *l->t))) rc = cmn_fail(err, EPR_ENOMEM, "out of memory");
    for (int i = 0; !rc && i < nt; i++) {
        nn_param *p = nn_model_tensor(net, i);
        int64_t shape[4];
        for (int d = 0; d < p->ndim; d++) shape[d] = p->shape[d];
        rc = add_copy(l, p->name, p->ndim, shape, p->w, p->size, err);
    }
    for (int i = 0; !rc && i < nb; i++) {
        nn_buffer *b = nn_model_buffer(net, i);
        int64_t shape[1] = {(int64_t)b->size};
        rc = add_copy(l, b->name, 1, shape, b->data, b->size, err);
    }
    run_load_close(&r);
    return rc;
}

/* 1 if a and b are the same existing file. */
static int same_file(const char *a, const char *b) {
    struct stat sa, sb;
    return !stat(a, &sa) && !stat(b, &sb) && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

int export_weights(const char *in_path, const char *out_path, int format, int flags, FILE *report, epr_err *err) {
    if (format < 0) format = tensorfile_format_of(out_path);
    RETURN_ERROR_IF(format < 0, err, EPR_EARG,
                    "%s: cannot tell the format from the name (.npz or .safetensors, or give --format)", out_path);
    RETURN_ERROR_IF(same_file(in_path, out_path), err, EPR_EARG, "%s: refusing to write over the input", out_path);
    struct stat st;
    RETURN_ERROR_IF(!(flags & EXPORT_FORCE) && !stat(out_path, &st), err, EPR_EARG,
                    "%s exists; refusing to overwrite it without --force", out_path);
    FILE *f = fopen(in_path, "rb");
    RETURN_ERROR_IF(!f, err, EPR_EIO, "%s: cannot open: %s", in_path, strerror(errno));
    unsigned char magic[8] = {0};
    size_t got = fread(magic, 1, sizeof magic, f);
    fclose(f);
    const int is_epr = got >= 4 && !memcmp(magic, "EPR1", 4);
    const int is_h5 = got == 8 && !memcmp(magic, "\x89HDF\r\n\x1a\n", 8);
    RETURN_ERROR_IF(!is_epr && !is_h5, err, EPR_EFORMAT, "%s: neither a .epr bitstream nor an HDF5 run file", in_path);
    RETURN_ERROR_IF(is_epr && (flags & (EXPORT_RAW | EXPORT_QUANTISED)), err, EPR_EARG,
                    "%s: --raw and --quantised apply to run files; a .epr holds one set of (quantised) weights",
                    in_path);
    export_list l = {0, NULL};
    const char *what = "decoded";
    int rc = is_epr ? from_epr(in_path, &l, err) : from_run(in_path, flags, &l, &what, err);
    if (!rc) rc = tensorfile_write(out_path, (tensorfile_format)format, l.t, l.n, err);
    if (!rc && report) {
        int64_t total = 0;
        for (int i = 0; i < l.n; i++) total += l.t[i].n;
        fprintf(report, "wrote %s (%s): %d tensors, %lld float32 values, %s weights of %s%s\n", out_path,
                format == TENSORFILE_NPZ ? "npz" : "safetensors", l.n, (long long)total, what, in_path,
                is_h5 ? (flags & EXPORT_RAW ? " (raw)" : " (EMA)") : "");
    }
    list_free(&l);
    return rc;
}
