/* codec/container_read.c — the decoder library: epr_file_*.
 *
 * Owns: parsing and validating a .epr file (docs/format.md), the lazy
 * per-group rANS decode tables, and applying the parameter decoders f.
 * Calls tables, rans, crc32, dft and libc stdio (epr_file_open only).
 *
 * Untrusted input: every count and length is checked against the bytes
 * that remain before anything is allocated, and the decode tables, whose
 * size depends on the precision rather than on bytes in the file, are
 * capped at EPR_TABLE_BUDGET(file size).  A codebook's entries are
 * bounded by its bytes and converted at open time.  Corrupt input gives an
 * error, never a crash. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/bytes_internal.h"
#include "codec/container_internal.h"
#include "codec/rans_internal.h"
#include "codec/tables_internal.h"
#include "common/status.h"
#include "epr/codec.h"

/* Derived memory (decode slots, DFT basis) allowed for a file of n bytes. */
#define EPR_TABLE_BUDGET(n) (((size_t)64 << 20) + 64 * (size_t)(n))

typedef struct {
    int decoder, store, transform, ell, h, w;
    const uint8_t *scale, *offset, *matrix; /* float32 LE in the file */
    float *codebook;           /* CODEBOOK: [codebook_size], converted at open */
    int codebook_size;
    epr_column_desc *cols;
    int64_t n_params;
    size_t decoder_bytes, table_bytes, coded_bytes;
    /* built on first decode */
    int ready;
    float *s, *c, *T;          /* T only for DFT/EXPLICIT */
    epr_rans_slot **slots;     /* [ell]; NULL for one-symbol columns */
    epr_rans_slot *slot_block;
} file_group;

typedef struct {
    char *name;
    int ndim;
    int64_t shape[EPR_MAX_NDIM];
    int64_t n;
    int group;
    const uint8_t *payload;
    size_t payload_len;
} file_tensor;

struct epr_file {
    uint8_t *data;
    size_t size;
    char *arch; /* NUL-terminated copy */
    size_t arch_len;
    int n_groups, n_tensors;
    file_group *groups;
    file_tensor *tensors;
    epr_size_parts parts;
    size_t budget, used; /* derived memory */
};

static float load_f32(const uint8_t *p) {
    uint32_t v = epr_load_u32(p);
    float f;
    memcpy(&f, &v, 4);
    return f;
}

static void group_release_tables(file_group *G) {
    for (int c = 0; G->cols && c < G->ell; c++) {
        if (G->cols[c].t.kind == EPR_TABLE_DENSITY) {
            free(G->cols[c].t.freq);
            G->cols[c].t.freq = NULL;
        }
    }
    free(G->s);
    free(G->c);
    free(G->T);
    free(G->slots);
    free(G->slot_block);
    G->s = G->c = G->T = NULL;
    G->slots = NULL;
    G->slot_block = NULL;
    G->ready = 0;
}

void epr_file_close(epr_file *f) {
    if (!f) return;
    for (int g = 0; f->groups && g < f->n_groups; g++) {
        file_group *G = &f->groups[g];
        group_release_tables(G);
        for (int c = 0; G->cols && c < G->ell; c++) free(G->cols[c].t.freq);
        free(G->cols);
        free(G->codebook);
    }
    for (int i = 0; f->tensors && i < f->n_tensors; i++) free(f->tensors[i].name);
    free(f->groups);
    free(f->tensors);
    free(f->arch);
    free(f->data);
    free(f);
}

#define TRUNC(cond, what, ...) \
    RETURN_ERROR_IF(cond, err, EPR_EFORMAT, "truncated or corrupt file: " what, __VA_ARGS__)

/* CODEBOOK decoder parameters: u32 K (1..EPR_MAX_CODEBOOK), f32[K] finite
 * entries, converted to floats now (K is bounded by the bytes left). */
static int parse_codebook(epr_rbuf *r, file_group *G, int g, epr_err *err) {
    uint32_t k;
    TRUNC(epr_get_u32(r, &k), "group %d codebook size", g);
    RETURN_ERROR_IF(k < 1 || k > EPR_MAX_CODEBOOK, err, EPR_EFORMAT,
                    "group %d: codebook size %u outside 1..%d", g, k, EPR_MAX_CODEBOOK);
    TRUNC(k > epr_rbuf_left(r) / 4, "group %d codebook of %u entries, %zu bytes left", g, k,
          epr_rbuf_left(r));
    G->codebook = (float *)malloc(sizeof(float) * k);
    RETURN_ERROR_IF(!G->codebook, err, EPR_ENOMEM, "group %d: out of memory", g);
    G->codebook_size = (int)k;
    for (uint32_t j = 0; j < k; j++) {
        G->codebook[j] = load_f32(r->p + 4 * (size_t)j);
        RETURN_ERROR_IF(!isfinite(G->codebook[j]), err, EPR_EFORMAT,
                        "group %d: codebook entry %u is not finite", g, j);
    }
    r->p += 4 * (size_t)k;
    return EPR_OK;
}

static int parse_group(epr_file *f, epr_rbuf *r, int g, epr_err *err) {
    file_group *G = &f->groups[g];
    uint32_t dec, store, tr, rsv, ell;
    const uint8_t *start = r->p;
    TRUNC(epr_get_u8(r, &dec) || epr_get_u8(r, &store) || epr_get_u8(r, &tr) ||
              epr_get_u8(r, &rsv) || epr_get_u32(r, &ell),
          "group %d header", g);
    RETURN_ERROR_IF(dec > EPR_DECODER_CODEBOOK || store > EPR_STORE_EXPLICIT ||
                        tr > EPR_TRANSFORM_EXPLICIT || rsv != 0,
                    err, EPR_EFORMAT, "group %d: unknown decoder %u / transform %u,%u", g, dec,
                    store, tr);
    /* Each column takes at least EPR_MIN_COLUMN_BYTES; bound ell first. */
    RETURN_ERROR_IF(ell < 1 || ell > epr_rbuf_left(r) / EPR_MIN_COLUMN_BYTES, err, EPR_EFORMAT,
                    "group %d: ell %u impossible with %zu bytes left", g, ell, epr_rbuf_left(r));
    int expected_store = tr == EPR_TRANSFORM_IDENTITY ? EPR_STORE_NONE
                         : tr == EPR_TRANSFORM_DFT    ? EPR_STORE_DFT
                                                      : EPR_STORE_EXPLICIT;
    if (dec == EPR_DECODER_AFFINE || dec == EPR_DECODER_CODEBOOK) {
        RETURN_ERROR_IF(ell != 1 || store != EPR_STORE_NONE || tr != 0, err, EPR_EFORMAT,
                        "group %d: %s decoder needs ell 1 and no transform (ell %u, transform "
                        "%u,%u)",
                        g, dec == EPR_DECODER_AFFINE ? "affine" : "codebook", ell, store, tr);
    } else {
        RETURN_ERROR_IF((int)store != expected_store, err, EPR_EFORMAT,
                        "group %d: transform kind %u stored as %u", g, tr, store);
    }
    G->decoder = (int)dec;
    G->store = (int)store;
    G->transform = (int)tr;
    G->ell = (int)ell;
    if (store == EPR_STORE_DFT) {
        uint32_t h, w;
        TRUNC(epr_get_u16(r, &h) || epr_get_u16(r, &w), "group %d DFT size", g);
        RETURN_ERROR_IF(h < 1 || w < 1 || h > EPR_MAX_DFT_SIDE || w > EPR_MAX_DFT_SIDE ||
                            h * w != ell,
                        err, EPR_EFORMAT, "group %d: DFT %u x %u does not match ell %u", g, h, w,
                        ell);
        G->h = (int)h;
        G->w = (int)w;
    }
    if (dec == EPR_DECODER_CODEBOOK) {
        CHECK_STATUS(parse_codebook(r, G, g, err));
    } else {
        uint64_t nfloat =
            2 * (uint64_t)ell + (store == EPR_STORE_EXPLICIT ? (uint64_t)ell * ell : 0);
        TRUNC(nfloat > epr_rbuf_left(r) / 4, "group %d decoder parameters (%llu floats)", g,
              (unsigned long long)nfloat);
        G->scale = r->p;
        G->offset = r->p + 4 * (size_t)ell;
        G->matrix = store == EPR_STORE_EXPLICIT ? r->p + 8 * (size_t)ell : NULL;
        r->p += 4 * nfloat;
    }
    G->decoder_bytes = (size_t)(r->p - start);
    f->parts.decoder += G->decoder_bytes;

    G->cols = (epr_column_desc *)calloc(ell, sizeof *G->cols);
    RETURN_ERROR_IF(!G->cols, err, EPR_ENOMEM, "group %d: out of memory", g);
    for (int c = 0; c < (int)ell; c++) {
        CHECK_STATUS(epr_column_read(r, &G->cols[c], err, g, c));
        G->table_bytes += G->cols[c].bytes;
    }
    f->parts.tables += G->table_bytes;
    if (dec == EPR_DECODER_CODEBOOK) {
        /* Every decoded phi lies in its column's support, so checking the
         * support here makes codebook[phi] safe for every tensor. */
        const epr_ctable *t = &G->cols[0].t;
        const int64_t max = (int64_t)t->min + (int64_t)t->K - 1;
        RETURN_ERROR_IF(t->min < 0 || max >= G->codebook_size, err, EPR_EFORMAT,
                        "group %d: phi support [%d, %lld] outside the codebook's [0, %d]", g,
                        t->min, (long long)max, G->codebook_size - 1);
    }
    return EPR_OK;
}

static int parse_tensor(epr_file *f, epr_rbuf *r, int i, epr_err *err) {
    file_tensor *T = &f->tensors[i];
    const uint8_t *start = r->p;
    uint32_t nlen, ndim, grp;
    uint64_t len;
    TRUNC(epr_get_u16(r, &nlen), "tensor %d name length", i);
    TRUNC(nlen > epr_rbuf_left(r), "tensor %d name", i);
    RETURN_ERROR_IF(memchr(r->p, 0, nlen) != NULL, err, EPR_EFORMAT,
                    "tensor %d: name contains a NUL byte", i);
    T->name = (char *)malloc(nlen + 1);
    RETURN_ERROR_IF(!T->name, err, EPR_ENOMEM, "tensor %d: out of memory", i);
    memcpy(T->name, r->p, nlen);
    T->name[nlen] = 0;
    r->p += nlen;
    TRUNC(epr_get_u8(r, &ndim), "tensor '%s' ndim", T->name);
    RETURN_ERROR_IF(ndim > EPR_MAX_NDIM, err, EPR_EFORMAT, "tensor '%s': ndim %u > %d", T->name,
                    ndim, EPR_MAX_NDIM);
    T->ndim = (int)ndim;
    T->n = 1;
    for (uint32_t d = 0; d < ndim; d++) {
        uint64_t dim;
        TRUNC(epr_get_u64(r, &dim), "tensor '%s' shape", T->name);
        RETURN_ERROR_IF(dim > (uint64_t)EPR_MAX_ELEMENTS ||
                            (dim && T->n > EPR_MAX_ELEMENTS / (int64_t)dim),
                        err, EPR_EFORMAT, "tensor '%s': more than 2^40 elements", T->name);
        T->shape[d] = (int64_t)dim;
        T->n *= (int64_t)dim;
    }
    TRUNC(epr_get_u32(r, &grp) || epr_get_u64(r, &len), "tensor '%s' group/length", T->name);
    T->group = (int)(int32_t)grp;
    RETURN_ERROR_IF(T->group < -1 || T->group >= f->n_groups, err, EPR_EFORMAT,
                    "tensor '%s': group %d of %d", T->name, T->group, f->n_groups);
    TRUNC(len > epr_rbuf_left(r), "tensor '%s' payload of %llu bytes, %zu left", T->name,
          (unsigned long long)len, epr_rbuf_left(r));
    f->parts.index += (size_t)(r->p - start);
    if (T->group < 0) {
        RETURN_ERROR_IF(len != 4 * (uint64_t)T->n, err, EPR_EFORMAT,
                        "tensor '%s': %llu bytes for %lld floats", T->name,
                        (unsigned long long)len, (long long)T->n);
        f->parts.extras += (size_t)len;
    } else {
        file_group *G = &f->groups[T->group];
        RETURN_ERROR_IF(T->n % G->ell, err, EPR_EFORMAT,
                        "tensor '%s': %lld elements not a multiple of ell %d", T->name,
                        (long long)T->n, G->ell);
        RETURN_ERROR_IF(len < 8, err, EPR_EFORMAT, "tensor '%s': coded stream of %llu bytes",
                        T->name, (unsigned long long)len);
        f->parts.coded += (size_t)len;
        G->coded_bytes += (size_t)len;
        G->n_params += T->n;
    }
    T->payload = r->p;
    T->payload_len = (size_t)len;
    r->p += len;
    return EPR_OK;
}

static int parse(epr_file *f, epr_err *err) {
    RETURN_ERROR_IF(f->size < EPR_HEADER_BYTES + 4 + EPR_CRC_BYTES, err, EPR_EFORMAT,
                    "not an .epr file: %zu bytes is too short", f->size);
    RETURN_ERROR_IF(memcmp(f->data, EPR_MAGIC, 4) != 0, err, EPR_EFORMAT,
                    "not an .epr file: bad magic");
    epr_rbuf r = {f->data + 4, f->data + f->size - EPR_CRC_BYTES};
    uint32_t version = 0, flags = 0, ng = 0, nt = 0, alen = 0;
    epr_get_u16(&r, &version);
    epr_get_u16(&r, &flags);
    RETURN_ERROR_IF(version != EPR_FORMAT_VERSION, err, EPR_EUNSUP,
                    "format version %u not supported (this library reads %d)", version,
                    EPR_FORMAT_VERSION);
    uint32_t stored = epr_load_u32(f->data + f->size - EPR_CRC_BYTES);
    uint32_t crc = epr_crc32(f->data, f->size - EPR_CRC_BYTES);
#ifndef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
    RETURN_ERROR_IF(stored != crc, err, EPR_ECRC,
                    "CRC32 mismatch (stored %08x, computed %08x): file corrupt or truncated",
                    stored, crc);
#else
    /* The fuzzer cannot forge checksums, so its build parses regardless. */
    (void)stored;
    (void)crc;
#endif
    RETURN_ERROR_IF(flags != 0, err, EPR_EUNSUP, "unknown flags %04x", flags);
    epr_get_u32(&r, &ng);
    epr_get_u32(&r, &nt);
    f->parts.header = EPR_HEADER_BYTES;
    TRUNC(epr_get_u32(&r, &alen) || alen > epr_rbuf_left(&r), "architecture text (%u bytes)",
          alen);
    f->arch = (char *)malloc((size_t)alen + 1);
    RETURN_ERROR_IF(!f->arch, err, EPR_ENOMEM, "out of memory");
    memcpy(f->arch, r.p, alen);
    f->arch[alen] = 0;
    f->arch_len = alen;
    r.p += alen;
    f->parts.arch = 4 + (size_t)alen;

    TRUNC(ng > epr_rbuf_left(&r) / EPR_MIN_GROUP_BYTES, "%u groups", ng);
    f->n_groups = (int)ng;
    f->groups = (file_group *)calloc(ng ? ng : 1, sizeof *f->groups);
    RETURN_ERROR_IF(!f->groups, err, EPR_ENOMEM, "out of memory");
    for (int g = 0; g < (int)ng; g++) CHECK_STATUS(parse_group(f, &r, g, err));

    TRUNC(nt > epr_rbuf_left(&r) / EPR_MIN_TENSOR_BYTES, "%u tensors", nt);
    f->n_tensors = (int)nt;
    f->tensors = (file_tensor *)calloc(nt ? nt : 1, sizeof *f->tensors);
    RETURN_ERROR_IF(!f->tensors, err, EPR_ENOMEM, "out of memory");
    for (int i = 0; i < (int)nt; i++) CHECK_STATUS(parse_tensor(f, &r, i, err));
    RETURN_ERROR_IF(epr_rbuf_left(&r) != 0, err, EPR_EFORMAT,
                    "%zu unexpected bytes before the CRC", epr_rbuf_left(&r));
    f->parts.crc = EPR_CRC_BYTES;
    f->parts.total = f->size;
    f->budget = EPR_TABLE_BUDGET(f->size);
    return EPR_OK;
}

int epr_file_open_memory(const void *data, size_t size, epr_file **out, epr_err *err) {
    RETURN_ERROR_IF(!out || (!data && size), err, EPR_EARG, "epr_file_open_memory: bad arguments");
    *out = NULL;
    epr_file *f = (epr_file *)calloc(1, sizeof *f);
    RETURN_ERROR_IF(!f, err, EPR_ENOMEM, "out of memory");
    f->data = (uint8_t *)malloc(size ? size : 1);
    if (!f->data) {
        free(f);
        return epr_fail(err, EPR_ENOMEM, "out of memory for %zu bytes", size);
    }
    if (size) memcpy(f->data, data, size);
    f->size = size;
    int rc = parse(f, err);
    if (rc) {
        epr_file_close(f);
        return rc;
    }
    *out = f;
    return EPR_OK;
}

int epr_file_open(const char *path, epr_file **out, epr_err *err) {
    RETURN_ERROR_IF(!path || !out, err, EPR_EARG, "epr_file_open: bad arguments");
    *out = NULL;
    FILE *fp = fopen(path, "rb");
    RETURN_ERROR_IF(!fp, err, EPR_EIO, "%s: cannot open: %s", path, strerror(errno));
    uint8_t *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) {
            size_t ncap = cap ? 2 * cap : 1 << 16;
            uint8_t *q = (uint8_t *)realloc(buf, ncap);
            if (!q) {
                free(buf);
                fclose(fp);
                return epr_fail(err, EPR_ENOMEM, "%s: out of memory", path);
            }
            buf = q;
            cap = ncap;
        }
        size_t got = fread(buf + n, 1, cap - n, fp);
        n += got;
        if (got == 0) break;
    }
    int bad = ferror(fp);
    fclose(fp);
    if (bad) {
        free(buf);
        return epr_fail(err, EPR_EIO, "%s: read error", path);
    }
    int rc = epr_file_open_memory(buf, n, out, err);
    free(buf);
    if (rc && err) { /* prefix the path: "<path>: <message>", truncated to fit */
        char msg[sizeof err->msg];
        size_t pl = strlen(path), ml = strlen(err->msg), n = 0;
        if (pl > sizeof msg - 3) pl = sizeof msg - 3;
        memcpy(msg, path, pl);
        n = pl;
        msg[n++] = ':';
        msg[n++] = ' ';
        if (ml > sizeof msg - 1 - n) ml = sizeof msg - 1 - n;
        memcpy(msg + n, err->msg, ml);
        msg[n + ml] = 0;
        memcpy(err->msg, msg, sizeof msg);
    }
    return rc;
}

const char *epr_file_arch(const epr_file *f, size_t *len) {
    if (len) *len = f ? f->arch_len : 0;
    return f ? f->arch : NULL;
}
int epr_file_tensor_count(const epr_file *f) { return f ? f->n_tensors : 0; }
int epr_file_group_count(const epr_file *f) { return f ? f->n_groups : 0; }
void epr_file_sizes(const epr_file *f, epr_size_parts *parts) {
    if (f && parts) *parts = f->parts;
}

int epr_file_find_tensor(const epr_file *f, const char *name) {
    for (int i = 0; f && name && i < f->n_tensors; i++)
        if (strcmp(f->tensors[i].name, name) == 0) return i;
    return -1;
}

int epr_file_tensor_info(const epr_file *f, int i, epr_tensor_info *info, epr_err *err) {
    RETURN_ERROR_IF(!f || !info || i < 0 || i >= f->n_tensors, err, EPR_EARG,
                    "tensor index %d out of range", i);
    const file_tensor *T = &f->tensors[i];
    memset(info, 0, sizeof *info);
    info->name = T->name;
    info->ndim = T->ndim;
    memcpy(info->shape, T->shape, sizeof T->shape);
    info->n_elements = T->n;
    info->group = T->group;
    info->compressed = T->group >= 0;
    info->stored_bytes = T->payload_len;
    return EPR_OK;
}

int epr_file_group_info(const epr_file *f, int g, epr_group_info *info, epr_err *err) {
    RETURN_ERROR_IF(!f || !info || g < 0 || g >= f->n_groups, err, EPR_EARG,
                    "group index %d out of range", g);
    const file_group *G = &f->groups[g];
    memset(info, 0, sizeof *info);
    info->decoder = G->decoder;
    info->ell = G->ell;
    info->transform = G->transform;
    info->dft_h = G->h;
    info->dft_w = G->w;
    info->codebook_size = G->codebook_size;
    info->n_params = G->n_params;
    info->decoder_bytes = G->decoder_bytes;
    info->table_bytes = G->table_bytes;
    info->coded_bytes = G->coded_bytes;
    return EPR_OK;
}

int epr_file_group_codebook(const epr_file *f, int g, const float **codebook, int *k,
                            epr_err *err) {
    RETURN_ERROR_IF(!f || !codebook || !k || g < 0 || g >= f->n_groups, err, EPR_EARG,
                    "group index %d out of range", g);
    const file_group *G = &f->groups[g];
    RETURN_ERROR_IF(G->decoder != EPR_DECODER_CODEBOOK, err, EPR_EARG,
                    "group %d has no codebook (decoder %d)", g, G->decoder);
    *codebook = G->codebook;
    *k = G->codebook_size;
    return EPR_OK;
}

int epr_file_column_info(const epr_file *f, int g, int column, epr_column_info *info,
                         epr_err *err) {
    RETURN_ERROR_IF(!f || !info || g < 0 || g >= f->n_groups || column < 0 ||
                        column >= f->groups[g].ell,
                    err, EPR_EARG, "group %d column %d out of range", g, column);
    const epr_column_desc *c = &f->groups[g].cols[column];
    info->precision = (int)c->t.p;
    info->table_kind = c->t.kind;
    info->min = c->t.min;
    info->max = (int32_t)(c->t.min + (int64_t)c->t.K - 1);
    info->table_bytes = c->bytes;
    return EPR_OK;
}

/* Decode slots (and the float decoder parameters) of group g, within the
 * derived-memory budget; other groups' tables are dropped if needed. */
static int group_prepare(epr_file *f, int g, epr_err *err) {
    file_group *G = &f->groups[g];
    if (G->ready) return EPR_OK;
    const size_t ell = (size_t)G->ell;
    size_t need = 0;
    for (size_t c = 0; c < ell; c++) {
        if (G->cols[c].t.K > 1) need += sizeof(epr_rans_slot) << G->cols[c].t.p;
        /* density frequencies and their temporary double pmf */
        if (G->cols[c].t.kind == EPR_TABLE_DENSITY) need += 12 * (size_t)G->cols[c].t.K;
    }
    if (G->store != EPR_STORE_NONE) need += 4 * ell * ell;
    RETURN_ERROR_IF(need > f->budget, err, EPR_EUNSUP,
                    "group %d: decode tables need %zu bytes, over the %zu allowed for a "
                    "%zu-byte file",
                    g, need, f->budget, f->size);
    if (f->used + need > f->budget) {
        for (int o = 0; o < f->n_groups; o++) group_release_tables(&f->groups[o]);
        f->used = 0;
    }
    for (size_t c = 0; c < ell; c++) {
        epr_column_desc *cd = &G->cols[c];
        if (cd->t.kind == EPR_TABLE_DENSITY && !cd->t.freq) {
            int rc = epr_column_build_density(cd, err, g, (int)c);
            if (rc) {
                group_release_tables(G);
                return rc;
            }
        }
    }
    /* A codebook group has no s, c: its entries were converted at open. */
    const int has_sc = G->decoder != EPR_DECODER_CODEBOOK;
    if (has_sc) {
        G->s = (float *)malloc(4 * ell);
        G->c = (float *)malloc(4 * ell);
    }
    G->slots = (epr_rans_slot **)calloc(ell, sizeof *G->slots);
    size_t nslots = 0;
    for (size_t c = 0; c < ell; c++)
        if (G->cols[c].t.K > 1) nslots += (size_t)1 << G->cols[c].t.p;
    G->slot_block = (epr_rans_slot *)malloc(sizeof(epr_rans_slot) * (nslots ? nslots : 1));
    if (G->store != EPR_STORE_NONE) G->T = (float *)malloc(4 * ell * ell);
    if ((has_sc && (!G->s || !G->c)) || !G->slots || !G->slot_block ||
        (G->store != EPR_STORE_NONE && !G->T)) {
        group_release_tables(G);
        return epr_fail(err, EPR_ENOMEM, "group %d: out of memory for decode tables", g);
    }
    for (size_t j = 0; has_sc && j < ell; j++) {
        G->s[j] = load_f32(G->scale + 4 * j);
        G->c[j] = load_f32(G->offset + 4 * j);
    }
    if (G->store == EPR_STORE_EXPLICIT)
        for (size_t j = 0; j < ell * ell; j++) G->T[j] = load_f32(G->matrix + 4 * j);
    if (G->store == EPR_STORE_DFT) {
        int rc = epr_dft_basis(G->h, G->w, G->T, err);
        if (rc) {
            group_release_tables(G);
            return rc;
        }
    }
    size_t off = 0;
    for (size_t c = 0; c < ell; c++) {
        if (G->cols[c].t.K < 2) continue;
        G->slots[c] = G->slot_block + off;
        epr_slots_build(&G->cols[c].t, G->slots[c]);
        off += (size_t)1 << G->cols[c].t.p;
    }
    G->ready = 1;
    f->used += need;
    return EPR_OK;
}

#define STREAM_ENDS_EARLY(e)                                                             \
    epr_fail(err, EPR_EFORMAT, "tensor '%s': coded stream ends early (element %lld)", T->name, \
             (long long)(e))

/* The rANS decode loop: one stream, element e coded with column e % ell by
 * state e & 1 (see rans_internal.h). */
static int decode_stream(const file_group *G, const file_tensor *T, int32_t *phi, epr_err *err) {
    epr_rans2_dec d;
    RETURN_ERROR_IF(T->payload_len < 8, err, EPR_EFORMAT,
                    "tensor '%s': coded stream of %zu bytes, shorter than its two states",
                    T->name, T->payload_len);
    RETURN_ERROR_IF(epr_rans2_dec_init(&d, T->payload, T->payload_len), err, EPR_EFORMAT,
                    "tensor '%s': corrupt coded stream (initial state)", T->name);
    const int ell = G->ell;
    const int64_t n = T->n;
    if (ell == 1 && G->cols[0].t.K > 1) {
        /* The common affine case, with the table hoisted: two elements per
         * iteration so the two state chains overlap. */
        const epr_rans_slot *slots = G->slots[0];
        const uint32_t pb = G->cols[0].t.p;
        const int32_t min = G->cols[0].t.min;
        int64_t e = 0;
        for (; e + 1 < n; e += 2) {
            int32_t a = epr_rans2_dec_get(&d, 0, slots, pb);
            int32_t b = epr_rans2_dec_get(&d, 1, slots, pb);
            if ((a | b) < 0) return STREAM_ENDS_EARLY(e);
            phi[e] = min + a;
            phi[e + 1] = min + b;
        }
        if (e < n) {
            int32_t a = epr_rans2_dec_get(&d, 0, slots, pb);
            if (a < 0) return STREAM_ENDS_EARLY(e);
            phi[e] = min + a;
        }
    } else {
        int c = 0;
        for (int64_t e = 0; e < n; e++) {
            const epr_ctable *t = &G->cols[c].t;
            if (t->K == 1) {
                phi[e] = t->min;
            } else {
                int32_t a = epr_rans2_dec_get(&d, (uint64_t)e, G->slots[c], t->p);
                if (a < 0) return STREAM_ENDS_EARLY(e);
                phi[e] = (int32_t)(t->min + (int64_t)a);
            }
            if (++c == ell) c = 0;
        }
    }
    RETURN_ERROR_IF(!epr_rans2_dec_done(&d), err, EPR_EFORMAT,
                    "tensor '%s': corrupt coded stream (final states %08x %08x, %zu bytes unused)",
                    T->name, d.x[0], d.x[1], (size_t)(d.end - d.p));
    return EPR_OK;
}

int epr_file_decode_phi(epr_file *f, int i, int32_t *phi, epr_err *err) {
    RETURN_ERROR_IF(!f || i < 0 || i >= f->n_tensors || (!phi && f->tensors[i].n), err, EPR_EARG,
                    "decode_phi: tensor index %d out of range", i);
    const file_tensor *T = &f->tensors[i];
    RETURN_ERROR_IF(T->group < 0, err, EPR_EARG, "tensor '%s' is an uncompressed extra",
                    T->name);
    CHECK_STATUS(group_prepare(f, T->group, err));
    return decode_stream(&f->groups[T->group], T, phi, err);
}

int epr_file_decode_tensor(epr_file *f, int i, float *theta, epr_err *err) {
    RETURN_ERROR_IF(!f || i < 0 || i >= f->n_tensors || (!theta && f->tensors[i].n), err,
                    EPR_EARG, "decode_tensor: tensor index %d out of range", i);
    const file_tensor *T = &f->tensors[i];
    if (T->group < 0) {
        for (int64_t e = 0; e < T->n; e++) theta[e] = load_f32(T->payload + 4 * e);
        return EPR_OK;
    }
    /* phi is decoded into theta's memory (same size) and converted in place,
     * row by row, so no extra buffer of the tensor's size is needed; phi is
     * read back through memcpy, which may alias anything. */
    CHECK_STATUS(epr_file_decode_phi(f, i, (int32_t *)(void *)theta, err));
    const file_group *G = &f->groups[T->group];
    const int64_t ell = G->ell;
    if (G->decoder == EPR_DECODER_AFFINE) {
        const float s = G->s[0], b = G->c[0];
        for (int64_t e = 0; e < T->n; e++) {
            int32_t q;
            memcpy(&q, theta + e, 4);
            float v = s * (float)q;
            theta[e] = v + b;
        }
        return EPR_OK;
    }
    if (G->decoder == EPR_DECODER_CODEBOOK) {
        /* The support was checked against K at open, so phi indexes the
         * codebook; the bound is checked again as it costs nothing. */
        for (int64_t e = 0; e < T->n; e++) {
            int32_t q;
            memcpy(&q, theta + e, 4);
            RETURN_ERROR_IF(q < 0 || q >= G->codebook_size, err, EPR_EFORMAT,
                            "tensor '%s': phi %d outside the codebook of %d entries", T->name, q,
                            G->codebook_size);
            theta[e] = G->codebook[q];
        }
        return EPR_OK;
    }
    float *v = (float *)malloc(sizeof(float) * (size_t)ell);
    RETURN_ERROR_IF(!v, err, EPR_ENOMEM, "out of memory");
    for (int64_t r = 0; r < T->n; r += ell) {
        for (int64_t j = 0; j < ell; j++) {
            int32_t q;
            memcpy(&q, theta + r + j, 4);
            v[j] = G->s[j] * (float)q;
        }
        if (!G->T) {
            for (int64_t j = 0; j < ell; j++) theta[r + j] = v[j] + G->c[j];
            continue;
        }
        /* Fixed order: sum over j ascending from 0, then + c. */
        for (int64_t q = 0; q < ell; q++) {
            const float *row = G->T + q * ell;
            float acc = 0.0f;
            for (int64_t j = 0; j < ell; j++) acc = acc + row[j] * v[j];
            theta[r + q] = acc + G->c[q];
        }
    }
    free(v);
    return EPR_OK;
}

int epr_file_tensor_self_info(epr_file *f, int i, double *bits, epr_err *err) {
    RETURN_ERROR_IF(!f || !bits || i < 0 || i >= f->n_tensors, err, EPR_EARG,
                    "self_info: tensor index %d out of range", i);
    const file_tensor *T = &f->tensors[i];
    RETURN_ERROR_IF(T->group < 0, err, EPR_EARG, "tensor '%s' is an uncompressed extra",
                    T->name);
    int32_t *phi = (int32_t *)malloc(sizeof(int32_t) * (size_t)(T->n ? T->n : 1));
    RETURN_ERROR_IF(!phi, err, EPR_ENOMEM, "out of memory");
    int rc = epr_file_decode_phi(f, i, phi, err);
    if (rc) {
        free(phi);
        return rc;
    }
    const file_group *G = &f->groups[T->group];
    double acc = 0;
    for (int64_t e = 0; e < T->n; e++) {
        const epr_ctable *t = &G->cols[e % G->ell].t;
        acc += (double)t->p - log2((double)t->freq[phi[e] - t->min]);
    }
    free(phi);
    *bits = acc;
    return EPR_OK;
}
