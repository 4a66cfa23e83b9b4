/* codec/container_write.c — the encoder: epr_encode().
 *
 * Owns: validating the caller's groups and tensors (for codebook groups
 * also every phi against the codebook size), histogramming each
 * group column over all its tensors, asking tables.c for the cheaper
 * table, coding each tensor's phi as one rANS stream and laying out the
 * file (docs/format.md) with its size report.  Calls tables, rans, crc32. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "codec/bytes_internal.h"
#include "codec/container_internal.h"
#include "codec/rans_internal.h"
#include "codec/tables_internal.h"
#include "codec/validate_internal.h"
#include "common/status.h"
#include "epr/codec.h"

static int64_t spec_elements(const epr_tensor_spec *t) {
    int64_t n = 1;
    for (int d = 0; d < t->ndim; d++) {
        if (t->shape[d] < 0 || (t->shape[d] && n > EPR_MAX_ELEMENTS / t->shape[d])) return -1;
        n *= t->shape[d];
    }
    return n;
}

/* What the reader refuses, the writer refuses to write. */
static int check_finite(const float *v, int n, int g, const char *what, epr_err *err) {
    for (int j = 0; j < n; j++)
        RETURN_ERROR_IF(!isfinite(v[j]), err, EPR_EARG, "group %d: %s[%d] is not finite", g, what, j);
    return EPR_OK;
}

static int check_names(const epr_tensor_spec *tensors, int n_tensors, epr_err *err) {
    const char **names = (const char **)malloc(sizeof *names * ((size_t)n_tensors + 1));
    RETURN_ERROR_IF(!names, err, EPR_ENOMEM, "out of memory");
    for (int i = 0; i < n_tensors; i++) names[i] = tensors[i].name;
    int a = 0, b = 0, rc = codec_names_duplicate(names, n_tensors, &a, &b);
    free(names);
    RETURN_ERROR_IF(rc < 0, err, EPR_ENOMEM, "out of memory");
    RETURN_ERROR_IF(rc > 0, err, EPR_EARG, "tensor %d: name '%s' is already tensor %d's", b, tensors[b].name, a);
    return EPR_OK;
}

static int validate(const epr_group_spec *groups, int n_groups, const epr_tensor_spec *tensors, int n_tensors,
                    epr_err *err) {
    RETURN_ERROR_IF(n_groups < 0 || n_tensors < 0 || (n_groups && !groups) || (n_tensors && !tensors), err, EPR_EARG,
                    "epr_encode: bad group/tensor arrays");
    for (int g = 0; g < n_groups; g++) {
        const epr_group_spec *G = &groups[g];
        RETURN_ERROR_IF(G->ell < 1 || G->ell > (1 << 16), err, EPR_EARG, "group %d: ell %d", g, G->ell);
        if (G->decoder == EPR_DECODER_CODEBOOK) {
            RETURN_ERROR_IF(G->ell != 1, err, EPR_EARG, "group %d: codebook decoder needs ell = 1, got %d", g, G->ell);
            RETURN_ERROR_IF(!G->codebook, err, EPR_EARG, "group %d: codebook missing", g);
            RETURN_ERROR_IF(G->codebook_size < 1 || G->codebook_size > EPR_MAX_CODEBOOK, err, EPR_EARG,
                            "group %d: codebook size %d outside 1..%d", g, G->codebook_size, EPR_MAX_CODEBOOK);
            for (int j = 0; j < G->codebook_size; j++)
                RETURN_ERROR_IF(!isfinite(G->codebook[j]), err, EPR_EARG, "group %d: codebook entry %d is not finite",
                                g, j);
            continue; /* no scale/offset; phi is checked with its tensors */
        }
        RETURN_ERROR_IF(!G->scale || !G->offset, err, EPR_EARG, "group %d: scale/offset missing", g);
        if (G->decoder == EPR_DECODER_AFFINE) {
            RETURN_ERROR_IF(G->ell != 1, err, EPR_EARG, "group %d: affine needs ell = 1, got %d", g, G->ell);
        } else if (G->decoder == EPR_DECODER_CONV_AFFINE) {
            switch (G->transform) {
            case EPR_TRANSFORM_IDENTITY: break;
            case EPR_TRANSFORM_DFT:
                RETURN_ERROR_IF(G->dft_h < 1 || G->dft_w < 1 || G->dft_h > EPR_MAX_DFT_SIDE ||
                                    G->dft_w > EPR_MAX_DFT_SIDE || G->dft_h * G->dft_w != G->ell,
                                err, EPR_EARG, "group %d: DFT %d x %d does not match ell %d", g, G->dft_h, G->dft_w,
                                G->ell);
                break;
            case EPR_TRANSFORM_RANDOM_ORTHOGONAL:
            case EPR_TRANSFORM_LEARNED:
            case EPR_TRANSFORM_EXPLICIT:
                RETURN_ERROR_IF(!G->transform_matrix, err, EPR_EARG, "group %d: transform matrix missing", g);
                break;
            default: return cmn_fail(err, EPR_EARG, "group %d: unknown transform kind %d", g, G->transform);
            }
        } else {
            return cmn_fail(err, EPR_EARG, "group %d: unknown decoder kind %d", g, G->decoder);
        }
        /* ell is now known to match the decoder: the arrays have ell (or
         * ell^2) values */
        CHECK_STATUS(check_finite(G->scale, G->ell, g, "scale s", err));
        CHECK_STATUS(check_finite(G->offset, G->ell, g, "offset", err));
        if (G->decoder == EPR_DECODER_CONV_AFFINE && G->transform_matrix && G->transform != EPR_TRANSFORM_IDENTITY &&
            G->transform != EPR_TRANSFORM_DFT)
            CHECK_STATUS(check_finite(G->transform_matrix, G->ell * G->ell, g, "transform T", err));
    }
    for (int i = 0; i < n_tensors; i++) {
        const epr_tensor_spec *T = &tensors[i];
        RETURN_ERROR_IF(!T->name || strlen(T->name) > EPR_MAX_NAME, err, EPR_EARG,
                        "tensor %d: name missing or longer than %d bytes", i, EPR_MAX_NAME);
        const size_t nlen = strlen(T->name);
        RETURN_ERROR_IF(codec_utf8_invalid_at((const uint8_t *)T->name, nlen) != nlen, err, EPR_EARG,
                        "tensor %d: name is not valid UTF-8", i);
        RETURN_ERROR_IF(T->ndim < 0 || T->ndim > EPR_MAX_NDIM, err, EPR_EARG, "tensor '%s': ndim %d", T->name, T->ndim);
        int64_t n = spec_elements(T);
        RETURN_ERROR_IF(n < 0, err, EPR_EARG, "tensor '%s': bad shape", T->name);
        RETURN_ERROR_IF(T->group < -1 || T->group >= n_groups, err, EPR_EARG, "tensor '%s': group %d of %d", T->name,
                        T->group, n_groups);
        if (T->group >= 0) {
            RETURN_ERROR_IF(n && !T->phi, err, EPR_EARG, "tensor '%s': phi missing", T->name);
            const epr_group_spec *G = &groups[T->group];
            RETURN_ERROR_IF(n % G->ell, err, EPR_EARG, "tensor '%s': %lld elements not a multiple of ell %d", T->name,
                            (long long)n, G->ell);
            for (int64_t e = 0; G->decoder == EPR_DECODER_CODEBOOK && e < n; e++)
                RETURN_ERROR_IF(T->phi[e] < 0 || T->phi[e] >= G->codebook_size, err, EPR_EARG,
                                "tensor '%s': phi[%lld] = %d outside codebook group %d's "
                                "[0, %d)",
                                T->name, (long long)e, T->phi[e], T->group, G->codebook_size);
        } else {
            RETURN_ERROR_IF(n && !T->raw, err, EPR_EARG, "tensor '%s': raw data missing", T->name);
        }
    }
    return check_names(tensors, n_tensors, err);
}

/* Per-group state while encoding. */
typedef struct {
    int ell;
    int64_t n_params;
    codec_column_choice *cols; /* [ell] */
    uint32_t **cum;            /* [ell][K] cumulative frequencies */
} enc_group;

static void free_groups(enc_group *eg, int n) {
    if (!eg) return;
    for (int g = 0; g < n; g++) {
        for (int c = 0; eg[g].cols && c < eg[g].ell; c++) {
            free(eg[g].cols[c].t.freq);
            if (eg[g].cum) free(eg[g].cum[c]);
        }
        free(eg[g].cols);
        free(eg[g].cum);
    }
    free(eg);
}

/* Support and histogram of every column of group g, then its tables. */
static int build_group(const epr_group_spec *G, int g, const epr_tensor_spec *tensors, int n_tensors, enc_group *E,
                       epr_err *err) {
    const int ell = G->ell;
    E->ell = ell;
    E->cols = (codec_column_choice *)calloc((size_t)ell, sizeof *E->cols);
    E->cum = (uint32_t **)calloc((size_t)ell, sizeof *E->cum);
    int64_t *mn = (int64_t *)malloc(sizeof(int64_t) * (size_t)ell);
    int64_t *mx = (int64_t *)malloc(sizeof(int64_t) * (size_t)ell);
    int rc = EPR_OK;
    uint64_t *counts = NULL;
    if (!E->cols || !E->cum || !mn || !mx) {
        rc = cmn_fail(err, EPR_ENOMEM, "group %d: out of memory", g);
        goto done;
    }
    for (int c = 0; c < ell; c++) {
        mn[c] = INT64_MAX;
        mx[c] = INT64_MIN;
    }
    for (int i = 0; i < n_tensors; i++) {
        if (tensors[i].group != g) continue;
        int64_t n = spec_elements(&tensors[i]);
        E->n_params += n;
        for (int64_t e = 0; e < n; e++) {
            int c = (int)(e % ell);
            int64_t v = tensors[i].phi[e];
            if (v < mn[c]) mn[c] = v;
            if (v > mx[c]) mx[c] = v;
        }
    }
    counts = (uint64_t *)malloc(sizeof(uint64_t) * EPR_MAX_SUPPORT);
    if (!counts) {
        rc = cmn_fail(err, EPR_ENOMEM, "group %d: out of memory", g);
        goto done;
    }
    for (int c = 0; c < ell; c++) {
        if (mn[c] > mx[c]) mn[c] = mx[c] = 0; /* no samples: a one-symbol table */
        int64_t K = mx[c] - mn[c] + 1;
        if (K > (int64_t)EPR_MAX_SUPPORT) {
            rc = cmn_fail(err, EPR_EUNSUP, "group %d column %d: phi spans [%lld, %lld], more than 2^%d values", g, c,
                          (long long)mn[c], (long long)mx[c], EPR_MAX_PRECISION);
            goto done;
        }
        memset(counts, 0, sizeof(uint64_t) * (size_t)K);
        for (int i = 0; i < n_tensors; i++) {
            if (tensors[i].group != g) continue;
            int64_t n = spec_elements(&tensors[i]);
            for (int64_t e = c; e < n; e += ell) counts[tensors[i].phi[e] - mn[c]]++;
        }
        const float *dens = G->density ? G->density + (size_t)c * EPR_DENSITY_PARAMS_PER_COLUMN : NULL;
        rc = codec_column_choose(counts, (int32_t)mn[c], (uint32_t)K, dens, &E->cols[c], err);
        if (rc) goto done;
        E->cum[c] = (uint32_t *)malloc(sizeof(uint32_t) * (size_t)K);
        if (!E->cum[c]) {
            rc = cmn_fail(err, EPR_ENOMEM, "group %d: out of memory", g);
            goto done;
        }
        uint32_t s = 0;
        for (int64_t k = 0; k < K; k++) {
            E->cum[c][k] = s;
            s += E->cols[c].t.freq[k];
        }
    }
done:
    free(mn);
    free(mx);
    free(counts);
    return rc;
}

/* Codes phi (n elements, row-major [n/ell x ell]) into a fresh buffer. */
static int code_tensor(const enc_group *E, const int32_t *phi, int64_t n, uint8_t **out, size_t *out_len, epr_err *err,
                       const char *name) {
    size_t cap = EPR_RANS2_BOUND(n);
    uint8_t *buf = (uint8_t *)malloc(cap);
    RETURN_ERROR_IF(!buf, err, EPR_ENOMEM, "tensor '%s': out of memory", name);
    codec_rans2_enc enc;
    codec_rans2_enc_init(&enc, buf + cap);
    /* Reverse order: the decoder reads forward (see rans_internal.h). */
    for (int64_t e = n - 1; e >= 0; e--) {
        const int c = (int)(e % E->ell);
        const codec_ctable *t = &E->cols[c].t;
        if (t->K == 1) continue; /* coding the only symbol is the identity */
        uint32_t s = (uint32_t)(phi[e] - t->min);
        codec_rans2_enc_put(&enc, (uint64_t)e, E->cum[c][s], t->freq[s], t->p);
    }
    uint8_t *ptr = codec_rans2_enc_finish(&enc);
    *out_len = (size_t)(buf + cap - ptr);
    memmove(buf, ptr, *out_len);
    *out = buf;
    return EPR_OK;
}

void epr_encode_report_free(epr_encode_report *r) {
    if (!r) return;
    for (int g = 0; g < r->n_groups; g++) free(r->groups[g].columns);
    free(r->groups);
    memset(r, 0, sizeof *r);
}

/* Every group's decoder parameters and its columns' probability tables,
 * after the header; dec_bytes[g]: the decoder bytes of group g. */
static void write_groups(codec_wbuf *b, const epr_group_spec *groups, int n_groups, const enc_group *eg,
                         size_t *dec_bytes, epr_size_parts *parts) {
    for (int g = 0; g < n_groups; g++) {
        const epr_group_spec *G = &groups[g];
        size_t start = b->n;
        int conv = G->decoder == EPR_DECODER_CONV_AFFINE;
        int store = !conv || G->transform == EPR_TRANSFORM_IDENTITY ? EPR_STORE_NONE
                    : G->transform == EPR_TRANSFORM_DFT             ? EPR_STORE_DFT
                                                                    : EPR_STORE_EXPLICIT;
        codec_put_u8(b, (uint32_t)G->decoder);
        codec_put_u8(b, (uint32_t)store);
        codec_put_u8(b, conv ? (uint32_t)G->transform : 0);
        codec_put_u8(b, 0);
        codec_put_u32(b, (uint32_t)G->ell);
        if (store == EPR_STORE_DFT) {
            codec_put_u16(b, (uint32_t)G->dft_h);
            codec_put_u16(b, (uint32_t)G->dft_w);
        }
        if (G->decoder == EPR_DECODER_CODEBOOK) {
            codec_put_u32(b, (uint32_t)G->codebook_size);
            for (int j = 0; j < G->codebook_size; j++) codec_put_f32(b, G->codebook[j]);
        } else {
            for (int j = 0; j < G->ell; j++) codec_put_f32(b, G->scale[j]);
            for (int j = 0; j < G->ell; j++) codec_put_f32(b, G->offset[j]);
            if (store == EPR_STORE_EXPLICIT)
                for (size_t j = 0; j < (size_t)G->ell * (size_t)G->ell; j++) codec_put_f32(b, G->transform_matrix[j]);
        }
        dec_bytes[g] = b->n - start;
        parts->decoder += dec_bytes[g];
        size_t tstart = b->n;
        for (int c = 0; c < G->ell; c++)
            codec_column_write(b, &eg[g].cols[c].t,
                               G->density ? G->density + (size_t)c * EPR_DENSITY_PARAMS_PER_COLUMN : NULL);
        parts->tables += b->n - tstart;
    }
}

/* Every tensor's index entry, then its bytes: raw float32 for an extra, the
 * rANS stream of its group otherwise (coded_by_group[g] += its length). */
static int write_tensors(codec_wbuf *b, const epr_tensor_spec *tensors, int n_tensors, enc_group *eg,
                         size_t *coded_by_group, epr_size_parts *parts, epr_err *err) {
    for (int i = 0; i < n_tensors; i++) {
        const epr_tensor_spec *T = &tensors[i];
        int64_t n = spec_elements(T);
        size_t start = b->n, nlen = strlen(T->name);
        codec_put_u16(b, (uint32_t)nlen);
        codec_put_bytes(b, T->name, nlen);
        codec_put_u8(b, (uint32_t)T->ndim);
        for (int d = 0; d < T->ndim; d++) codec_put_u64(b, (uint64_t)T->shape[d]);
        codec_put_u32(b, (uint32_t)(int32_t)T->group);
        if (T->group < 0) {
            codec_put_u64(b, 4 * (uint64_t)n);
            parts->index += b->n - start;
            for (int64_t e = 0; e < n; e++) codec_put_f32(b, T->raw[e]);
            parts->extras += 4 * (size_t)n;
        } else {
            uint8_t *stream = NULL;
            size_t len = 0;
            CHECK_STATUS(code_tensor(&eg[T->group], T->phi, n, &stream, &len, err, T->name));
            codec_put_u64(b, len);
            parts->index += b->n - start;
            codec_put_bytes(b, stream, len);
            free(stream);
            parts->coded += len;
            coded_by_group[T->group] += len;
        }
    }
    return EPR_OK;
}

/* The encoder's report of the file written (report.h): sizes by part, and
 * per group and column what was chosen and what it cost.  A report whose
 * allocation failed is left without groups (or columns). */
static void fill_report(epr_encode_report *report, const epr_size_parts *parts, const enc_group *eg, int n_groups,
                        const size_t *dec_bytes, const size_t *coded_by_group) {
    double self_info = 0;
    for (int g = 0; g < n_groups; g++)
        for (int c = 0; c < eg[g].ell; c++) self_info += eg[g].cols[c].data_bits;
    report->parts = *parts;
    report->self_info_bits = self_info;
    report->n_groups = n_groups;
    report->groups = (epr_group_report *)calloc((size_t)(n_groups ? n_groups : 1), sizeof *report->groups);
    for (int g = 0; report->groups && g < n_groups; g++) {
        epr_group_report *R = &report->groups[g];
        R->ell = eg[g].ell;
        R->n_params = eg[g].n_params;
        R->decoder_bytes = dec_bytes[g];
        R->coded_bytes = coded_by_group[g];
        R->columns = (epr_column_report *)calloc((size_t)R->ell, sizeof *R->columns);
        for (int c = 0; c < R->ell; c++) {
            const codec_column_choice *ch = &eg[g].cols[c];
            R->table_bytes += ch->table_bytes;
            if (!R->columns) continue;
            epr_column_report *C = &R->columns[c];
            C->table_kind = ch->t.kind;
            C->precision = (int)ch->t.p;
            C->min = ch->t.min;
            C->max = (int32_t)(ch->t.min + (int64_t)ch->t.K - 1);
            C->table_bytes = ch->table_bytes;
            C->coded_bits = ch->data_bits;
            C->histogram_bits = ch->hist_total_bits;
            C->density_bits = ch->dens_total_bits;
        }
        R->bits_per_param =
            R->n_params ? 8.0 * (double)(R->decoder_bytes + R->table_bytes + R->coded_bytes) / (double)R->n_params
                        : 0.0;
    }
}

int epr_encode(const char *arch, size_t arch_len, const epr_group_spec *groups, int n_groups,
               const epr_tensor_spec *tensors, int n_tensors, void **out, size_t *out_size, epr_encode_report *report,
               epr_err *err) {
    RETURN_ERROR_IF(!out || !out_size || (arch_len && !arch) || arch_len > UINT32_MAX, err, EPR_EARG,
                    "epr_encode: bad arguments");
    *out = NULL;
    *out_size = 0;
    if (report) memset(report, 0, sizeof *report);
    CHECK_STATUS(validate(groups, n_groups, tensors, n_tensors, err));

    int rc = EPR_OK;
    codec_wbuf b = {0};
    epr_size_parts parts = {0};
    size_t ng = (size_t)(n_groups ? n_groups : 1);
    enc_group *eg = (enc_group *)calloc(ng, sizeof *eg);
    size_t *coded_by_group = (size_t *)calloc(ng, sizeof(size_t));
    size_t *dec_bytes = (size_t *)calloc(ng, sizeof(size_t));
    if (!eg || !coded_by_group || !dec_bytes) { /* any may have succeeded */
        free(eg);
        free(coded_by_group);
        free(dec_bytes);
        return cmn_fail(err, EPR_ENOMEM, "epr_encode: out of memory");
    }
    for (int g = 0; g < n_groups && !rc; g++) rc = build_group(&groups[g], g, tensors, n_tensors, &eg[g], err);
    if (rc) goto fail;

    codec_put_bytes(&b, EPR_MAGIC, 4);
    codec_put_u16(&b, EPR_FORMAT_VERSION);
    codec_put_u16(&b, 0);
    codec_put_u32(&b, (uint32_t)n_groups);
    codec_put_u32(&b, (uint32_t)n_tensors);
    parts.header = b.n;
    codec_put_u32(&b, (uint32_t)arch_len);
    codec_put_bytes(&b, arch, arch_len);
    parts.arch = b.n - parts.header;
    write_groups(&b, groups, n_groups, eg, dec_bytes, &parts);
    rc = write_tensors(&b, tensors, n_tensors, eg, coded_by_group, &parts, err);
    if (rc) goto fail;
    if (!b.oom) codec_put_u32(&b, epr_crc32(b.p, b.n));
    parts.crc = EPR_CRC_BYTES;
    if (b.oom) {
        rc = cmn_fail(err, EPR_ENOMEM, "epr_encode: out of memory");
        goto fail;
    }
    parts.total = b.n;
    if (report) fill_report(report, &parts, eg, n_groups, dec_bytes, coded_by_group);
    free(dec_bytes);
    free_groups(eg, n_groups);
    free(coded_by_group);
    *out = b.p;
    *out_size = b.n;
    return EPR_OK;
fail:
    free(b.p);
    free(dec_bytes);
    free_groups(eg, n_groups);
    free(coded_by_group);
    return rc;
}
