/* run/bitstream.c — see bitstream.h. */
#include "run/bitstream.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define PAD_TEXT_(x) #x
#define PAD_TEXT(x) PAD_TEXT_(x)
#define PAD_MAX_TEXT PAD_TEXT(DATASET_MAX_PAD)

char *bitstream_arch_text(const char *layers, const dataset *d) {
    size_t n = strlen(layers) + 512;
    char *t = malloc(n);
    if (!t) return NULL;
    int o = snprintf(t, n, "epr-arch 1\ninput %d %d %d\n", d->c, d->h, d->w);
    /* only padded data adds a line: every other text stays as it was */
    if (d->pad) o += snprintf(t + o, n - (size_t)o, "pad %d\n", d->pad);
    if (d->normalize) {
        o += snprintf(t + o, n - (size_t)o, "normalize %d", d->c);
        for (int i = 0; i < d->c; i++) o += snprintf(t + o, n - (size_t)o, " %.9g", d->mean[i]);
        for (int i = 0; i < d->c; i++) o += snprintf(t + o, n - (size_t)o, " %.9g", d->std[i]);
        o += snprintf(t + o, n - (size_t)o, "\n");
    } else {
        o += snprintf(t + o, n - (size_t)o, "normalize 0\n");
    }
    o += snprintf(t + o, n - (size_t)o, "layers\n");
    /* a comment of the layer spec (older readers skip it): what epr eval checks the data against */
    if (d->name[0]) o += snprintf(t + o, n - (size_t)o, "# data %.31s %d\n", d->name, d->n_classes);
    snprintf(t + o, n - (size_t)o, "%s\n", layers);
    return t;
}

int bitstream_arch_data(const char *layers, char *set, size_t cap, int *classes) {
    char name[32];
    int k;
    if (!layers || strncmp(layers, "# data ", 7) || sscanf(layers + 7, "%31s %d", name, &k) != 2 || k < 1) return 0;
    snprintf(set, cap, "%s", name);
    *classes = k;
    return 1;
}

int bitstream_check_data(epr_file *f, const dataset *test, char *why, size_t cap) {
    bitstream_arch a;
    size_t alen;
    const char *atext = epr_file_arch(f, &alen);
    epr_err e = {0};
    if (bitstream_arch_parse(atext, alen, &a, &e)) return 0; /* bitstream_evaluate reports it */
    char set[32];
    int classes = 0, bad = 0;
    const int recorded = bitstream_arch_data(a.layers, set, sizeof set, &classes);
    if (recorded && test->name[0] && strcmp(test->name, "idx") && strcmp(set, "idx") && strcmp(set, test->name)) {
        snprintf(why, cap, "the file was trained on %s (%d classes), the data is %s", set, classes, test->name);
        bad = 1;
    } else if (recorded && classes != test->n_classes) {
        snprintf(why, cap, "the file was trained on %s with %d classes, the data has %d", set, classes,
                 test->n_classes);
        bad = 1;
    } else if (!recorded && a.c == test->c && a.h == test->h && a.w == test->w) {
        /* older files: the labels present against the network's outputs (no
         * parameters allocated); IDX data say 10 classes whatever they hold */
        int top = -1;
        for (int i = 0; i < test->n; i++)
            if (test->labels[i] > top) top = test->labels[i];
        nn_model *net = NULL;
        if (!nn_model_build(a.layers, a.c, a.h, a.w, 1, &net, &e) && nn_model_num_classes(net) <= top) {
            snprintf(why, cap, "the network has %d outputs, the data has labels up to %d", nn_model_num_classes(net),
                     top);
            bad = 1;
        }
        nn_model_free(net);
    }
    bitstream_arch_free(&a);
    return bad;
}

void bitstream_arch_free(bitstream_arch *a) {
    free(a->layers);
    a->layers = NULL;
}

/* Layer entries of an nn layer spec as nn_model_build splits it: ';' or
 * newline separated, '#' to the end of the line a comment, blank entries
 * skipped.  One pass, no allocation. */
static long count_layer_entries(const char *p) {
    long n = 0;
    int content = 0, comment = 0;
    for (;; p++) {
        const char ch = *p;
        if (ch == '\0' || ch == ';' || ch == '\n') {
            n += content;
            content = 0;
            if (ch != ';') comment = 0;
            if (ch == '\0') return n;
        } else if (ch == '#') {
            comment = 1;
        } else if (!comment && !isspace((unsigned char)ch)) {
            content = 1;
        }
    }
}

int bitstream_arch_parse(const char *text, size_t len, bitstream_arch *a, epr_err *err) {
    return bitstream_arch_parse_limited(text, len, NULL, a, err);
}

/* The text's input size and layer count against the limits. */
static int arch_check_limits(const bitstream_arch *a, const bitstream_limits *lim, epr_err *err) {
    const long long max_input = lim && lim->max_input > 0 ? lim->max_input : BITSTREAM_MAX_INPUT;
    const long max_layers = lim && lim->max_layers > 0 ? lim->max_layers : BITSTREAM_MAX_LAYERS;
    const long long input = (long long)a->c * a->h * a->w;
    RETURN_ERROR_IF(input > max_input, err, EPR_EUNSUP,
                    "architecture text: input %dx%dx%d (%lld values) is over the limit of %lld", a->c, a->h, a->w,
                    input, max_input);
    const long layers = count_layer_entries(a->layers);
    RETURN_ERROR_IF(layers > max_layers, err, EPR_EUNSUP, "architecture text: %ld layers, over the limit of %ld",
                    layers, max_layers);
    return EPR_OK;
}

int bitstream_arch_parse_limited(const char *text, size_t len, const bitstream_limits *lim, bitstream_arch *a,
                                 epr_err *err) {
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
    if (sscanf(p, "input %d %d %d", &a->c, &a->h, &a->w) != 3 || a->c < 1 || a->c > DATASET_MAX_CHANNELS || a->h < 1 ||
        a->w < 1 || a->h > 4096 || a->w > 4096)
        goto bad;
    if (!(nl = strchr(p, '\n'))) goto bad;
    p = nl + 1;
    why = "bad 'pad P' line (0 < 2P < H, W; P <= " PAD_MAX_TEXT ")";
    if (!strncmp(p, "pad", 3) && (p[3] == ' ' || p[3] == '\n')) {
        char *e;
        if (p[3] != ' ' || !isdigit((unsigned char)p[4])) goto bad;
        long v = strtol(p + 4, &e, 10);
        if (v < 1 || v > DATASET_MAX_PAD || 2 * v >= a->h || 2 * v >= a->w) goto bad;
        a->pad = (int)v;
        if (!(nl = strchr(p, '\n'))) goto bad;
        p = nl + 1;
    }
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
    free(t);
    RETURN_ERROR_IF(!a->layers, err, EPR_ENOMEM, "out of memory");
    rc = arch_check_limits(a, lim, err);
    if (rc) bitstream_arch_free(a);
    return rc;
bad:
    free(t);
    return cmn_fail(err, rc, "architecture text: %s", why);
}

int bitstream_encode(rp_model *em, const char *arch, void **bytes, size_t *len, epr_encode_report *rep, epr_err *err) {
    nn_model *net = rp_model_net(em);
    int ng = rp_model_num_groups(em), nt = nn_model_num_tensors(net), nb = nn_model_num_buffers(net);
    epr_group_spec *gs = calloc((size_t)ng + 1, sizeof *gs);
    epr_tensor_spec *ts = calloc((size_t)(nt + nb) + 1, sizeof *ts);
    float *vals = calloc((size_t)ng * (2 * 64 + 64 * 64) + 1, sizeof *vals);
    int32_t **phis = calloc((size_t)nt + 1, sizeof *phis);
    int *group_of = malloc(((size_t)nt + 1) * sizeof *group_of);
    int *index_in = malloc(((size_t)nt + 1) * sizeof *index_in);
    int rc = 0;
    if (!gs || !ts || !vals || !phis || !group_of || !index_in) {
        rc = cmn_fail(err, EPR_ENOMEM, "out of memory");
        goto done;
    }
    for (int i = 0; i < nt; i++) group_of[i] = -1;
    for (int g = 0; g < ng; g++) {
        const rp_group_def *d = rp_model_group(em, g);
        float *s = vals + (size_t)g * (2 * 64 + 64 * 64), *off = s + 64, *T = s + 128;
        int has_T = d->decoder == EPR_DECODER_CONV_AFFINE && d->transform != EPR_TRANSFORM_IDENTITY;
        rp_model_decoder_values(em, g, s, off, has_T ? T : NULL);
        gs[g].decoder = d->decoder;
        gs[g].ell = d->ell;
        gs[g].transform = d->decoder == EPR_DECODER_CONV_AFFINE ? (int)d->transform : EPR_TRANSFORM_IDENTITY;
        gs[g].dft_h = d->kh;
        gs[g].dft_w = d->kw;
        gs[g].transform_matrix = has_T && d->transform != EPR_TRANSFORM_DFT ? T : NULL;
        gs[g].scale = s;
        gs[g].offset = off;
        gs[g].density = rp_model_density(em, g);
        for (int j = 0; j < d->n_tensors; j++) {
            int ti = rp_model_group_tensor(em, g, j);
            group_of[ti] = g;
            index_in[ti] = j;
        }
    }
    for (int i = 0; i < nt; i++) {
        if (group_of[i] < 0) continue;
        phis[i] = malloc(nn_model_tensor(net, i)->size * sizeof(int32_t) + 1);
        if (!phis[i]) {
            rc = cmn_fail(err, EPR_ENOMEM, "out of memory");
            goto done;
        }
        rp_model_phi(em, group_of[i], index_in[i], phis[i]);
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

/* The file has a tensor called name of exactly size elements. */
static int find_sized(epr_file *f, const char *what, const char *name, size_t size, epr_err *err) {
    const int i = epr_file_find_tensor(f, name);
    RETURN_ERROR_IF(i < 0, err, EPR_EFORMAT, "the file has no %s '%s' that its architecture needs", what, name);
    epr_tensor_info ti;
    CHECK_STATUS(epr_file_tensor_info(f, i, &ti, err));
    RETURN_ERROR_IF(ti.n_elements != (int64_t)size, err, EPR_EFORMAT,
                    "%s '%s' has %lld elements in the file, the architecture needs %zu", what, name,
                    (long long)ti.n_elements, size);
    return EPR_OK;
}

int bitstream_load_model(epr_file *f, int max_batch, const bitstream_limits *lim, nn_model **out, bitstream_arch *arch,
                         epr_err *err) {
    *out = NULL;
    size_t alen;
    const char *atext = epr_file_arch(f, &alen);
    CHECK_STATUS(bitstream_arch_parse_limited(atext, alen, lim, arch, err));
    nn_model *net;
    int rc = nn_model_build(arch->layers, arch->c, arch->h, arch->w, max_batch, &net, err);
    if (rc) {
        bitstream_arch_free(arch);
        return rc;
    }
    /* Every tensor and buffer the network needs is in the file with its
     * size, checked before the parameters are allocated: their memory is
     * then bounded by the file's element limits. */
    const int nt = nn_model_num_tensors(net), nb = nn_model_num_buffers(net);
    for (int i = 0; !rc && i < nt + nb; i++) {
        const int is_t = i < nt;
        const char *name = is_t ? nn_model_tensor(net, i)->name : nn_model_buffer(net, i - nt)->name;
        const size_t size = is_t ? nn_model_tensor(net, i)->size : nn_model_buffer(net, i - nt)->size;
        rc = find_sized(f, is_t ? "tensor" : "buffer", name, size, err);
    }
    if (!rc) rc = nn_model_alloc_params(net, err);
    for (int i = 0; !rc && i < nt + nb; i++) {
        const int is_t = i < nt;
        const char *name = is_t ? nn_model_tensor(net, i)->name : nn_model_buffer(net, i - nt)->name;
        float *dst = is_t ? nn_model_tensor(net, i)->w : nn_model_buffer(net, i - nt)->data;
        int k = epr_file_find_tensor(f, name);
        rc = epr_file_decode_tensor(f, k, dst, err);
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
    return bitstream_evaluate_with(f, test, eval_batch, NULL, error, preds, err);
}

int bitstream_cpu_evaluate(nn_model *net, const dataset *test, int eval_batch, long *wrong, int *preds, epr_err *err) {
    float *x = malloc((size_t)eval_batch * dataset_sample_bytes(test) * sizeof(float));
    int *y = malloc((size_t)eval_batch * sizeof(int));
    uint32_t *idx = malloc((size_t)eval_batch * sizeof(uint32_t));
    int rc = !x || !y || !idx ? cmn_fail(err, EPR_ENOMEM, "out of memory") : 0;
    *wrong = 0;
    for (int i = 0; !rc && i < test->n; i += eval_batch) {
        int n = test->n - i < eval_batch ? test->n - i : eval_batch;
        for (int j = 0; j < n; j++) idx[j] = (uint32_t)(i + j);
        dataset_gather(test, idx, n, x, y);
        nn_forward(net, x, NULL, n, 0);
        *wrong += nn_count_errors(net, y, n, preds ? preds + i : NULL);
    }
    free(x);
    free(y);
    free(idx);
    return rc;
}

int bitstream_evaluate_with(epr_file *f, dataset *test, int eval_batch, const bitstream_evaluator *ev, double *error,
                            int *preds, epr_err *err) {
    nn_model *net;
    bitstream_arch a;
    size_t alen;
    const char *atext = epr_file_arch(f, &alen);
    /* the shape first: a network is not built for data it cannot take */
    CHECK_STATUS(bitstream_arch_parse(atext, alen, &a, err));
    /* the same border as in training too (the caller pads: dataset_pad) */
    const int fits = a.c == test->c && a.h == test->h && a.w == test->w && a.pad == test->pad;
    bitstream_arch_free(&a);
    RETURN_ERROR_IF(!fits && a.pad, err, EPR_EARG,
                    "the model takes %dx%dx%d inputs (%dx%d images zero-padded by %d) but the data has %dx%dx%d "
                    "(padded by %d)",
                    a.c, a.h, a.w, a.h - 2 * a.pad, a.w - 2 * a.pad, a.pad, test->c, test->h, test->w, test->pad);
    RETURN_ERROR_IF(!fits, err, EPR_EARG, "the model takes %dx%dx%d inputs but the data has %dx%dx%d", a.c, a.h, a.w,
                    test->c, test->h, test->w);

    CHECK_STATUS(bitstream_load_model(f, eval_batch, NULL, &net, &a, err));
    /* the file's normalisation, not the data set's own */
    int saved = test->normalize;
    float sm[DATASET_MAX_CHANNELS], ss[DATASET_MAX_CHANNELS];
    memcpy(sm, test->mean, sizeof sm);
    memcpy(ss, test->std, sizeof ss);
    test->normalize = a.normalize;
    memcpy(test->mean, a.mean, sizeof sm);
    memcpy(test->std, a.std, sizeof ss);
    long wrong = 0;
    int rc = ev ? ev->evaluate(ev->ctx, net, test, eval_batch, &wrong, preds, err)
                : bitstream_cpu_evaluate(net, test, eval_batch, &wrong, preds, err);
    test->normalize = saved;
    memcpy(test->mean, sm, sizeof sm);
    memcpy(test->std, ss, sizeof ss);
    if (!rc) *error = test->n ? (double)wrong / test->n : 0;
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
    fprintf(out,
            "size %zu bytes (%.2f KB): header %zu, architecture %zu, decoder params %zu, tables %zu, "
            "tensor index %zu, coded phi %zu, extras %zu, crc %zu\n",
            p.total, p.total / 1e3, p.header, p.arch, p.decoder, p.tables, p.index, p.coded, p.extras, p.crc);
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
        fprintf(out,
                "  group %d: %s ell=%d %lld params: decoder %zu B, tables %zu B (%d histogram, %d density), "
                "coded %zu B, %.4f bits/param\n",
                g, kind, gi.ell, (long long)gi.n_params, gi.decoder_bytes, gi.table_bytes, nh, nd, gi.coded_bytes,
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
