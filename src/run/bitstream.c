/* run/bitstream.c — see bitstream.h. */
#include "run/bitstream.h"

#include <stdlib.h>
#include <string.h>

char *bitstream_arch_text(const char *layers, const dataset *d) {
    size_t n = strlen(layers) + 512;
    char *t = malloc(n);
    if (!t) return NULL;
    int o = snprintf(t, n, "epr-arch 1\ninput %d %d %d\n", d->c, d->h, d->w);
    if (d->normalize) {
        o += snprintf(t + o, n - (size_t)o, "normalize %d", d->c);
        for (int i = 0; i < d->c; i++) o += snprintf(t + o, n - (size_t)o, " %.9g", d->mean[i]);
        for (int i = 0; i < d->c; i++) o += snprintf(t + o, n - (size_t)o, " %.9g", d->std[i]);
        o += snprintf(t + o, n - (size_t)o, "\n");
    } else {
        o += snprintf(t + o, n - (size_t)o, "normalize 0\n");
    }
    snprintf(t + o, n - (size_t)o, "layers\n%s\n", layers);
    return t;
}

void bitstream_arch_free(bitstream_arch *a) {
    free(a->layers);
    a->layers = NULL;
}

int bitstream_arch_parse(const char *text, size_t len, bitstream_arch *a, epr_err *err) {
    memset(a, 0, sizeof *a);
    char *t = malloc(len + 1);
    RETURN_ERROR_IF(!t, err, EPR_ENOMEM, "out of memory");
    memcpy(t, text, len);
    t[len] = 0;
    int rc = EPR_EFORMAT;
    const char *why = "missing 'epr-arch 1' header";
    char *p = t, *nl;
    int nc = 0;
    if (strncmp(p, "epr-arch 1\n", 11)) goto bad;
    p += 11;
    why = "bad 'input C H W' line";
    if (sscanf(p, "input %d %d %d", &a->c, &a->h, &a->w) != 3 || a->c < 1 || a->c > DATASET_MAX_CHANNELS ||
        a->h < 1 || a->w < 1 || a->h > 4096 || a->w > 4096)
        goto bad;
    if (!(nl = strchr(p, '\n'))) goto bad;
    p = nl + 1;
    why = "bad 'normalize' line";
    if (sscanf(p, "normalize %d", &nc) != 1 || (nc != 0 && nc != a->c)) goto bad;
    if (nc) {
        char *q = p + strlen("normalize ");
        strtol(q, &q, 10);
        for (int i = 0; i < 2 * nc; i++) {
            char *e;
            float v = strtof(q, &e);
            if (e == q) goto bad;
            if (i < nc)
                a->mean[i] = v;
            else
                a->std[i - nc] = v;
            if (i >= nc && !(v > 0)) goto bad;
            q = e;
        }
        a->normalize = 1;
    }
    if (!(nl = strchr(p, '\n'))) goto bad;
    p = nl + 1;
    why = "missing 'layers' line";
    if (strncmp(p, "layers\n", 7)) goto bad;
    p += 7;
    a->layers = strdup(p);
    if (!a->layers) {
        free(t);
        return epr_fail(err, EPR_ENOMEM, "out of memory");
    }
    free(t);
    return 0;
bad:
    free(t);
    return epr_fail(err, rc, "architecture text: %s", why);
}

int bitstream_encode(epr_model *em, const char *arch, void **bytes, size_t *len, epr_encode_report *rep,
                     epr_err *err) {
    nn_model *net = epr_model_net(em);
    int ng = epr_model_num_groups(em), nt = nn_model_num_tensors(net), nb = nn_model_num_buffers(net);
    epr_group_spec *gs = calloc((size_t)ng + 1, sizeof *gs);
    epr_tensor_spec *ts = calloc((size_t)(nt + nb) + 1, sizeof *ts);
    float *vals = calloc((size_t)ng * (2 * 64 + 64 * 64) + 1, sizeof *vals);
    int32_t **phis = calloc((size_t)nt + 1, sizeof *phis);
    int *group_of = malloc(((size_t)nt + 1) * sizeof *group_of);
    int *index_in = malloc(((size_t)nt + 1) * sizeof *index_in);
    int rc = 0;
    if (!gs || !ts || !vals || !phis || !group_of || !index_in) {
        rc = epr_fail(err, EPR_ENOMEM, "out of memory");
        goto done;
    }
    for (int i = 0; i < nt; i++) group_of[i] = -1;
    for (int g = 0; g < ng; g++) {
        const epr_group_def *d = epr_model_group(em, g);
        float *s = vals + (size_t)g * (2 * 64 + 64 * 64), *off = s + 64, *T = s + 128;
        int has_T = d->decoder == EPR_DECODER_CONV_AFFINE && d->transform != EPR_TRANSFORM_IDENTITY;
        epr_model_decoder_values(em, g, s, off, has_T ? T : NULL);
        gs[g].decoder = d->decoder;
        gs[g].ell = d->ell;
        gs[g].transform = d->decoder == EPR_DECODER_CONV_AFFINE ? (int)d->transform : EPR_TRANSFORM_IDENTITY;
        gs[g].dft_h = d->kh;
        gs[g].dft_w = d->kw;
        gs[g].transform_matrix = has_T && d->transform != EPR_TRANSFORM_DFT ? T : NULL;
        gs[g].scale = s;
        gs[g].offset = off;
        gs[g].density = epr_model_density(em, g);
        for (int j = 0; j < d->n_tensors; j++) {
            int ti = epr_model_group_tensor(em, g, j);
            group_of[ti] = g;
            index_in[ti] = j;
        }
    }
    for (int i = 0; i < nt; i++) {
        if (group_of[i] < 0) continue;
        phis[i] = malloc(nn_model_tensor(net, i)->size * sizeof(int32_t) + 1);
        if (!phis[i]) {
            rc = epr_fail(err, EPR_ENOMEM, "out of memory");
            goto done;
        }
        epr_model_phi(em, group_of[i], index_in[i], phis[i]);
    }
    int n = bitstream_tensor_specs(net, group_of, (const int32_t *const *)phis, ts);
    rc = epr_encode(arch, strlen(arch), gs, ng, ts, n, bytes, len, rep, err);
done:
    for (int i = 0; phis && i < nt; i++) free(phis[i]);
    free(phis);
    free(gs);
    free(ts);
    free(vals);
    free(group_of);
    free(index_in);
    return rc;
}

int bitstream_tensor_specs(nn_model *net, const int *group_of, const int32_t *const *phi_of, epr_tensor_spec *ts) {
    int n = 0;
    for (int i = 0; i < nn_model_num_tensors(net); i++) {
        nn_param *p = nn_model_tensor(net, i);
        epr_tensor_spec *t = &ts[n++];
        memset(t, 0, sizeof *t);
        t->name = p->name;
        t->ndim = p->ndim;
        for (int k = 0; k < p->ndim; k++) t->shape[k] = p->shape[k];
        t->group = group_of ? group_of[i] : -1;
        if (t->group >= 0)
            t->phi = phi_of[i];
        else
            t->raw = p->w;
    }
    for (int i = 0; i < nn_model_num_buffers(net); i++) {
        nn_buffer *b = nn_model_buffer(net, i);
        epr_tensor_spec *t = &ts[n++];
        memset(t, 0, sizeof *t);
        t->name = b->name;
        t->ndim = 1;
        t->shape[0] = (int64_t)b->size;
        t->group = -1;
        t->raw = b->data;
    }
    return n;
}

int bitstream_load_model(epr_file *f, int max_batch, nn_model **out, bitstream_arch *arch, epr_err *err) {
    *out = NULL;
    size_t alen;
    const char *atext = epr_file_arch(f, &alen);
    CHECK_STATUS(bitstream_arch_parse(atext, alen, arch, err));
    nn_model *net;
    int rc = nn_model_build(arch->layers, arch->c, arch->h, arch->w, max_batch, &net, err);
    if (rc) return rc;
    rc = nn_model_alloc_params(net, err);
    for (int i = 0; !rc && i < nn_model_num_tensors(net); i++) {
        nn_param *p = nn_model_tensor(net, i);
        int k = epr_file_find_tensor(f, p->name);
        epr_tensor_info ti;
        if (k < 0) {
            rc = epr_fail(err, EPR_EFORMAT, "the file has no tensor '%s' that its architecture needs", p->name);
            break;
        }
        rc = epr_file_tensor_info(f, k, &ti, err);
        if (!rc && ti.n_elements != (int64_t)p->size)
            rc = epr_fail(err, EPR_EFORMAT, "tensor '%s' has %lld elements in the file, the architecture needs %zu",
                          p->name, (long long)ti.n_elements, p->size);
        if (!rc) rc = epr_file_decode_tensor(f, k, p->w, err);
    }
    for (int i = 0; !rc && i < nn_model_num_buffers(net); i++) {
        nn_buffer *b = nn_model_buffer(net, i);
        int k = epr_file_find_tensor(f, b->name);
        epr_tensor_info ti;
        if (k < 0) {
            rc = epr_fail(err, EPR_EFORMAT, "the file has no buffer '%s' that its architecture needs", b->name);
            break;
        }
        rc = epr_file_tensor_info(f, k, &ti, err);
        if (!rc && ti.n_elements != (int64_t)b->size)
            rc = epr_fail(err, EPR_EFORMAT, "buffer '%s' has %lld elements in the file, needs %zu", b->name,
                          (long long)ti.n_elements, b->size);
        if (!rc) rc = epr_file_decode_tensor(f, k, b->data, err);
    }
    if (rc) {
        nn_model_free(net);
        bitstream_arch_free(arch);
        return rc;
    }
    *out = net;
    return 0;
}

int bitstream_evaluate(epr_file *f, dataset *test, int eval_batch, double *error, int *preds, epr_err *err) {
    nn_model *net;
    bitstream_arch a;
    CHECK_STATUS(bitstream_load_model(f, eval_batch, &net, &a, err));
    int rc = 0;
    if (a.c != test->c || a.h != test->h || a.w != test->w) {
        rc = epr_fail(err, EPR_EARG, "the model takes %dx%dx%d inputs but the data has %dx%dx%d", a.c, a.h, a.w,
                      test->c, test->h, test->w);
    }
    float *x = NULL;
    int *y = NULL;
    uint32_t *idx = NULL;
    if (!rc) {
        x = malloc((size_t)eval_batch * dataset_sample_bytes(test) * sizeof(float));
        y = malloc((size_t)eval_batch * sizeof(int));
        idx = malloc((size_t)eval_batch * sizeof(uint32_t));
        if (!x || !y || !idx) rc = epr_fail(err, EPR_ENOMEM, "out of memory");
    }
    if (!rc) {
        /* the file's normalisation, not the data set's own */
        int saved = test->normalize;
        float sm[DATASET_MAX_CHANNELS], ss[DATASET_MAX_CHANNELS];
        memcpy(sm, test->mean, sizeof sm);
        memcpy(ss, test->std, sizeof ss);
        test->normalize = a.normalize;
        memcpy(test->mean, a.mean, sizeof sm);
        memcpy(test->std, a.std, sizeof ss);
        long wrong = 0;
        for (int i = 0; i < test->n; i += eval_batch) {
            int n = test->n - i < eval_batch ? test->n - i : eval_batch;
            for (int j = 0; j < n; j++) idx[j] = (uint32_t)(i + j);
            dataset_gather(test, idx, n, x, y);
            nn_forward(net, x, NULL, n, 0);
            wrong += nn_count_errors(net, y, n, preds ? preds + i : NULL);
        }
        test->normalize = saved;
        memcpy(test->mean, sm, sizeof sm);
        memcpy(test->std, ss, sizeof ss);
        *error = test->n ? (double)wrong / test->n : 0;
    }
    free(x);
    free(y);
    free(idx);
    nn_model_free(net);
    bitstream_arch_free(&a);
    return rc;
}

static const char *table_name(int k) { return k == EPR_TABLE_DENSITY ? "density" : "histogram"; }

void bitstream_print_sizes(epr_file *f, FILE *out, int per_column) {
    epr_size_parts p;
    epr_file_sizes(f, &p);
    int64_t n_comp = 0, n_extra = 0;
    for (int i = 0; i < epr_file_tensor_count(f); i++) {
        epr_tensor_info ti;
        if (epr_file_tensor_info(f, i, &ti, NULL)) continue;
        if (ti.compressed)
            n_comp += ti.n_elements;
        else
            n_extra += ti.n_elements;
    }
    fprintf(out, "size %zu bytes (%.2f KB): header %zu, architecture %zu, decoder params %zu, tables %zu, "
                 "tensor index %zu, coded phi %zu, extras %zu, crc %zu\n",
            p.total, p.total / 1024.0, p.header, p.arch, p.decoder, p.tables, p.index, p.coded, p.extras, p.crc);
    fprintf(out, "  %lld compressed parameters at %.4f bits/param (whole file); %lld uncompressed floats in extras\n",
            (long long)n_comp, n_comp ? 8.0 * (double)p.total / (double)n_comp : 0.0, (long long)n_extra);
    for (int g = 0; g < epr_file_group_count(f); g++) {
        epr_group_info gi;
        if (epr_file_group_info(f, g, &gi, NULL)) continue;
        int nh = 0, nd = 0;
        for (int c = 0; c < gi.ell; c++) {
            epr_column_info ci;
            if (epr_file_column_info(f, g, c, &ci, NULL)) continue;
            if (ci.table_kind == EPR_TABLE_DENSITY)
                nd++;
            else
                nh++;
        }
        char kind[32];
        if (gi.decoder == EPR_DECODER_CODEBOOK)
            snprintf(kind, sizeof kind, "codebook K=%d", gi.codebook_size);
        else
            snprintf(kind, sizeof kind, "%s", gi.decoder == EPR_DECODER_AFFINE ? "affine" : "conv-affine");
        fprintf(out, "  group %d: %s ell=%d %lld params: decoder %zu B, tables %zu B (%d histogram, %d density), "
                     "coded %zu B, %.4f bits/param\n",
                g, kind, gi.ell, (long long)gi.n_params,
                gi.decoder_bytes, gi.table_bytes, nh, nd, gi.coded_bytes,
                gi.n_params ? 8.0 * (double)(gi.decoder_bytes + gi.table_bytes + gi.coded_bytes) / (double)gi.n_params
                            : 0.0);
        if (per_column)
            for (int c = 0; c < gi.ell; c++) {
                epr_column_info ci;
                if (epr_file_column_info(f, g, c, &ci, NULL)) continue;
                fprintf(out, "    column %2d: %-9s table, p=%2d, support [%d, %d], %zu B\n", c,
                        table_name(ci.table_kind), ci.precision, ci.min, ci.max, ci.table_bytes);
            }
    }
}
