/* run/init_weights.c — see init_weights.h. */
#include "run/init_weights.h"

#include <stdlib.h>
#include <string.h>

#include "run/tensorfile.h"

/* "[a,b,c]" */
static void shape_text(char *s, size_t cap, int ndim, const int64_t *shape) {
    int o = snprintf(s, cap, "[");
    for (int d = 0; d < ndim && (size_t)o < cap; d++)
        o += snprintf(s + o, cap - (size_t)o, "%s%lld", d ? "," : "", (long long)shape[d]);
    if ((size_t)o < cap) snprintf(s + o, cap - (size_t)o, "]");
}

/* Appends name to a comma-separated list of at most ~400 bytes. */
static void list_add(char *list, size_t cap, int *count, const char *name) {
    size_t n = strlen(list);
    if (n + strlen(name) + 8 < cap)
        snprintf(list + n, cap - n, "%s%s", *count ? ", " : "", name);
    else if (!strstr(list, "..."))
        snprintf(list + n, cap - n, ", ...");
    ++*count;
}

int init_weights_load(rp_model *em, const char *path, uint64_t seed, epr_err *err) {
    nn_model *net = rp_model_net(em);
    const int nt = nn_model_num_tensors(net), nb = nn_model_num_buffers(net);
    tensorfile tf;
    CHECK_STATUS(tensorfile_read(path, &tf, err));
    char *used = calloc((size_t)tf.n + 1, 1);
    int rc = used ? 0 : cmn_fail(err, EPR_ENOMEM, "out of memory");
    char missing[420] = "", extra[420] = "";
    int n_missing = 0, n_extra = 0;
    /* shapes first, nothing written until everything matches */
    for (int i = 0; !rc && i < nt + nb; i++) {
        const char *name;
        int ndim;
        int64_t shape[4];
        if (i < nt) {
            nn_param *p = nn_model_tensor(net, i);
            name = p->name;
            ndim = p->ndim;
            for (int d = 0; d < ndim; d++) shape[d] = p->shape[d];
        } else {
            nn_buffer *b = nn_model_buffer(net, i - nt);
            name = b->name;
            ndim = 1;
            shape[0] = (int64_t)b->size;
        }
        const int k = tensorfile_find(&tf, name);
        if (k < 0) {
            list_add(missing, sizeof missing, &n_missing, name);
            continue;
        }
        used[k] = 1;
        const tensorfile_tensor *t = &tf.t[k];
        int same = t->ndim == ndim;
        for (int d = 0; same && d < ndim; d++) same = t->shape[d] == shape[d];
        if (!same) {
            char want[96], got[96];
            shape_text(want, sizeof want, ndim, shape);
            shape_text(got, sizeof got, t->ndim, t->shape);
            rc = cmn_fail(err, EPR_EARG, "%.300s: tensor %s has shape %s in the file, the network needs %s", path, name,
                          got, want);
        }
    }
    for (int k = 0; !rc && k < tf.n; k++)
        if (!used[k]) list_add(extra, sizeof extra, &n_extra, tf.t[k].name);
    if (!rc && (n_missing || n_extra)) {
        char a[600] = "", b[600] = "";
        if (n_missing)
            snprintf(a, sizeof a, "%d of its tensors missing (%s)%s", n_missing, missing, n_extra ? "; " : "");
        if (n_extra) snprintf(b, sizeof b, "%d in the file unused: %s", n_extra, extra);
        rc = cmn_fail(err, EPR_EARG, "%.100s: does not match the network: %.190s%.190s", path, a, b);
    }
    for (int i = 0; !rc && i < nt + nb; i++) {
        const char *name = i < nt ? nn_model_tensor(net, i)->name : nn_model_buffer(net, i - nt)->name;
        float *dst = i < nt ? nn_model_tensor(net, i)->w : nn_model_buffer(net, i - nt)->data;
        const tensorfile_tensor *t = &tf.t[tensorfile_find(&tf, name)];
        for (int64_t j = 0; j < t->n; j++)
            if (!(t->data[j] - t->data[j] == 0.0f)) {
                rc = cmn_fail(err, EPR_EARG, "%.300s: tensor %s holds a non-finite value at element %lld", path, name,
                              (long long)j);
                break;
            }
        if (!rc) memcpy(dst, t->data, (size_t)t->n * sizeof(float));
    }
    free(used);
    tensorfile_free(&tf);
    if (!rc) rc = rp_model_init_from_theta(em, seed, err);
    return rc;
}
