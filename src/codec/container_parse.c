/* codec/container_parse.c — opening a .epr: parsing and validating every
 * header (docs/format.md) into the epr_file of reader_internal.h.
 *
 * Untrusted input: every count and length is checked against the bytes
 * that remain before anything is allocated; a codebook's entries are
 * bounded by its bytes and converted here; the element counts the file
 * claims are checked against the caller's epr_read_limits.  Each refusal
 * names the field (group, column, tensor) that is wrong.  Calls tables
 * (column records), validate (UTF-8, duplicate names), crc32. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "codec/bytes_internal.h"
#include "codec/container_internal.h"
#include "codec/reader_internal.h"
#include "codec/validate_internal.h"
#include "common/status.h"
#include "epr/codec.h"

epr_read_limits codec_limits_resolve(const epr_read_limits *lim) {
    epr_read_limits r = {0, 0, 0, 0};
    if (lim) r = *lim;
    if (!r.max_file_bytes) r.max_file_bytes = EPR_DEFAULT_MAX_FILE_BYTES;
    if (r.max_tensor_elements <= 0) r.max_tensor_elements = EPR_DEFAULT_MAX_TENSOR_ELEMENTS;
    if (r.max_total_elements <= 0) r.max_total_elements = EPR_DEFAULT_MAX_TOTAL_ELEMENTS;
    if (!r.max_arch_bytes) r.max_arch_bytes = EPR_DEFAULT_MAX_ARCH_BYTES;
    return r;
}

#define TRUNC(cond, what, ...) RETURN_ERROR_IF(cond, err, EPR_EFORMAT, "truncated or corrupt file: " what, __VA_ARGS__)

/* CODEBOOK decoder parameters: u32 K (1..EPR_MAX_CODEBOOK), f32[K] finite
 * entries, converted to floats now (K is bounded by the bytes left). */
static int parse_codebook(codec_rbuf *r, file_group *G, int g, epr_err *err) {
    uint32_t k;
    TRUNC(codec_get_u32(r, &k), "group %d codebook size", g);
    RETURN_ERROR_IF(k < 1 || k > EPR_MAX_CODEBOOK, err, EPR_EFORMAT, "group %d: codebook size %u outside 1..%d", g, k,
                    EPR_MAX_CODEBOOK);
    TRUNC(k > codec_rbuf_left(r) / 4, "group %d codebook of %u entries, %zu bytes left", g, k, codec_rbuf_left(r));
    G->codebook = (float *)malloc(sizeof(float) * k);
    RETURN_ERROR_IF(!G->codebook, err, EPR_ENOMEM, "group %d: out of memory", g);
    G->codebook_size = (int)k;
    for (uint32_t j = 0; j < k; j++) {
        G->codebook[j] = codec_load_f32(r->p + 4 * (size_t)j);
        RETURN_ERROR_IF(!isfinite(G->codebook[j]), err, EPR_EFORMAT, "group %d: codebook entry %u is not finite", g, j);
    }
    r->p += 4 * (size_t)k;
    return EPR_OK;
}

/* The four kind bytes: each wrong value gets its own message. */
static int check_kinds(uint32_t dec, uint32_t store, uint32_t tr, uint32_t rsv, int g, epr_err *err) {
    RETURN_ERROR_IF(dec > EPR_DECODER_CODEBOOK, err, EPR_EFORMAT,
                    "group %d: unknown decoder %u (byte 0 of the group; 0..%d known)", g, dec, EPR_DECODER_CODEBOOK);
    RETURN_ERROR_IF(store > EPR_STORE_EXPLICIT, err, EPR_EFORMAT,
                    "group %d: unknown transform storage %u (byte 1 of the group; 0..%d known)", g, store,
                    EPR_STORE_EXPLICIT);
    RETURN_ERROR_IF(tr > EPR_TRANSFORM_EXPLICIT, err, EPR_EFORMAT,
                    "group %d: unknown transform kind %u (byte 2 of the group; 0..%d known)", g, tr,
                    EPR_TRANSFORM_EXPLICIT);
    RETURN_ERROR_IF(rsv != 0, err, EPR_EFORMAT, "group %d: reserved byte 3 of the group is %u, must be 0", g, rsv);
    if (dec == EPR_DECODER_AFFINE || dec == EPR_DECODER_CODEBOOK) {
        RETURN_ERROR_IF(store != EPR_STORE_NONE || tr != 0, err, EPR_EFORMAT,
                        "group %d: %s decoder needs no transform (storage %u, kind %u)", g,
                        dec == EPR_DECODER_AFFINE ? "affine" : "codebook", store, tr);
        return EPR_OK;
    }
    const uint32_t expected = tr == EPR_TRANSFORM_IDENTITY ? EPR_STORE_NONE
                              : tr == EPR_TRANSFORM_DFT    ? EPR_STORE_DFT
                                                           : EPR_STORE_EXPLICIT;
    RETURN_ERROR_IF(store != expected, err, EPR_EFORMAT, "group %d: transform kind %u stored as %u (must be %u)", g, tr,
                    store, expected);
    return EPR_OK;
}

/* s, c (or the affine s, b) and an explicit T must be finite floats. */
static int check_decoder_floats(const file_group *G, int g, epr_err *err) {
    const size_t ell = (size_t)G->ell;
    const int affine = G->decoder == EPR_DECODER_AFFINE;
    for (size_t j = 0; j < ell; j++) {
        RETURN_ERROR_IF(!isfinite(codec_load_f32(G->scale + 4 * j)), err, EPR_EFORMAT,
                        "group %d: scale s[%zu] is not finite", g, j);
        RETURN_ERROR_IF(!isfinite(codec_load_f32(G->offset + 4 * j)), err, EPR_EFORMAT,
                        "group %d: offset %s[%zu] is not finite", g, affine ? "b" : "c", j);
    }
    for (size_t j = 0; G->matrix && j < ell * ell; j++)
        RETURN_ERROR_IF(!isfinite(codec_load_f32(G->matrix + 4 * j)), err, EPR_EFORMAT,
                        "group %d: transform T[%zu][%zu] is not finite", g, j / ell, j % ell);
    return EPR_OK;
}

static int parse_group(epr_file *f, codec_rbuf *r, int g, epr_err *err) {
    file_group *G = &f->groups[g];
    uint32_t dec, store, tr, rsv, ell;
    const uint8_t *start = r->p;
    TRUNC(codec_get_u8(r, &dec) || codec_get_u8(r, &store) || codec_get_u8(r, &tr) || codec_get_u8(r, &rsv) ||
              codec_get_u32(r, &ell),
          "group %d header", g);
    CHECK_STATUS(check_kinds(dec, store, tr, rsv, g, err));
    /* Each column takes at least EPR_MIN_COLUMN_BYTES; bound ell first. */
    RETURN_ERROR_IF(ell < 1 || ell > codec_rbuf_left(r) / EPR_MIN_COLUMN_BYTES, err, EPR_EFORMAT,
                    "group %d: ell %u impossible with %zu bytes left", g, ell, codec_rbuf_left(r));
    RETURN_ERROR_IF(dec != EPR_DECODER_CONV_AFFINE && ell != 1, err, EPR_EFORMAT,
                    "group %d: %s decoder needs ell 1, got %u", g, dec == EPR_DECODER_AFFINE ? "affine" : "codebook",
                    ell);
    G->decoder = (int)dec;
    G->store = (int)store;
    G->transform = (int)tr;
    G->ell = (int)ell;
    if (store == EPR_STORE_DFT) {
        uint32_t h, w;
        TRUNC(codec_get_u16(r, &h) || codec_get_u16(r, &w), "group %d DFT size", g);
        RETURN_ERROR_IF(h < 1 || w < 1 || h > EPR_MAX_DFT_SIDE || w > EPR_MAX_DFT_SIDE || h * w != ell, err,
                        EPR_EFORMAT, "group %d: DFT %u x %u does not match ell %u", g, h, w, ell);
        G->h = (int)h;
        G->w = (int)w;
    }
    if (dec == EPR_DECODER_CODEBOOK) {
        CHECK_STATUS(parse_codebook(r, G, g, err));
    } else {
        uint64_t nfloat = 2 * (uint64_t)ell + (store == EPR_STORE_EXPLICIT ? (uint64_t)ell * ell : 0);
        TRUNC(nfloat > codec_rbuf_left(r) / 4, "group %d decoder parameters (%llu floats)", g,
              (unsigned long long)nfloat);
        G->scale = r->p;
        G->offset = r->p + 4 * (size_t)ell;
        G->matrix = store == EPR_STORE_EXPLICIT ? r->p + 8 * (size_t)ell : NULL;
        r->p += 4 * nfloat;
        CHECK_STATUS(check_decoder_floats(G, g, err));
    }
    G->decoder_bytes = (size_t)(r->p - start);
    f->parts.decoder += G->decoder_bytes;

    G->cols = (codec_column_desc *)calloc(ell, sizeof *G->cols);
    RETURN_ERROR_IF(!G->cols, err, EPR_ENOMEM, "group %d: out of memory", g);
    for (int c = 0; c < (int)ell; c++) {
        CHECK_STATUS(codec_column_read(r, &G->cols[c], err, g, c));
        G->table_bytes += G->cols[c].bytes;
    }
    f->parts.tables += G->table_bytes;
    if (dec == EPR_DECODER_CODEBOOK) {
        /* Every decoded phi lies in its column's support, so checking the
         * support here makes codebook[phi] safe for every tensor. */
        const codec_ctable *t = &G->cols[0].t;
        const int64_t max = (int64_t)t->min + (int64_t)t->K - 1;
        RETURN_ERROR_IF(t->min < 0 || max >= G->codebook_size, err, EPR_EFORMAT,
                        "group %d: phi support [%d, %lld] outside the codebook's [0, %d]", g, t->min, (long long)max,
                        G->codebook_size - 1);
    }
    return EPR_OK;
}

/* u16 length, then the name: UTF-8 without NUL bytes. */
static int parse_name(codec_rbuf *r, file_tensor *T, int i, epr_err *err) {
    uint32_t nlen;
    TRUNC(codec_get_u16(r, &nlen), "tensor %d name length", i);
    TRUNC(nlen > codec_rbuf_left(r), "tensor %d name of %u bytes, %zu left", i, nlen, codec_rbuf_left(r));
    const uint8_t *nul = (const uint8_t *)memchr(r->p, 0, nlen);
    RETURN_ERROR_IF(nul != NULL, err, EPR_EFORMAT, "tensor %d: name has a NUL byte at offset %zu", i,
                    (size_t)(nul - r->p));
    size_t bad = codec_utf8_invalid_at(r->p, nlen);
    RETURN_ERROR_IF(bad != nlen, err, EPR_EFORMAT, "tensor %d: name is not valid UTF-8 (byte 0x%02x at offset %zu)", i,
                    r->p[bad], bad);
    T->name = (char *)malloc(nlen + 1);
    RETURN_ERROR_IF(!T->name, err, EPR_ENOMEM, "tensor %d: out of memory", i);
    memcpy(T->name, r->p, nlen);
    T->name[nlen] = 0;
    r->p += nlen;
    return EPR_OK;
}

static int parse_tensor(epr_file *f, codec_rbuf *r, int i, const epr_read_limits *lim, int64_t *total, epr_err *err) {
    file_tensor *T = &f->tensors[i];
    const uint8_t *start = r->p;
    uint32_t ndim, grp;
    uint64_t len;
    CHECK_STATUS(parse_name(r, T, i, err));
    TRUNC(codec_get_u8(r, &ndim), "tensor '%s' ndim", T->name);
    RETURN_ERROR_IF(ndim > EPR_MAX_NDIM, err, EPR_EFORMAT, "tensor '%s': ndim %u > %d", T->name, ndim, EPR_MAX_NDIM);
    T->ndim = (int)ndim;
    T->n = 1;
    for (uint32_t d = 0; d < ndim; d++) {
        uint64_t dim;
        TRUNC(codec_get_u64(r, &dim), "tensor '%s' shape", T->name);
        RETURN_ERROR_IF(dim > (uint64_t)EPR_MAX_ELEMENTS || (dim && T->n > EPR_MAX_ELEMENTS / (int64_t)dim), err,
                        EPR_EFORMAT, "tensor '%s': more than 2^40 elements", T->name);
        T->shape[d] = (int64_t)dim;
        T->n *= (int64_t)dim;
    }
    RETURN_ERROR_IF(T->n > lim->max_tensor_elements, err, EPR_EUNSUP,
                    "tensor '%s': %lld elements, over the reader's limit of %lld per tensor "
                    "(epr_read_limits.max_tensor_elements)",
                    T->name, (long long)T->n, (long long)lim->max_tensor_elements);
    *total += T->n; /* each term <= 2^40: no overflow for 2^23 tensors */
    RETURN_ERROR_IF(*total > lim->max_total_elements, err, EPR_EUNSUP,
                    "tensors 0..%d hold %lld elements, over the reader's limit of %lld in all "
                    "(epr_read_limits.max_total_elements)",
                    i, (long long)*total, (long long)lim->max_total_elements);
    TRUNC(codec_get_u32(r, &grp) || codec_get_u64(r, &len), "tensor '%s' group/length", T->name);
    T->group = (int)(int32_t)grp;
    RETURN_ERROR_IF(T->group < -1 || T->group >= f->n_groups, err, EPR_EFORMAT, "tensor '%s': group %d of %d", T->name,
                    T->group, f->n_groups);
    TRUNC(len > codec_rbuf_left(r), "tensor '%s' payload of %llu bytes, %zu left", T->name, (unsigned long long)len,
          codec_rbuf_left(r));
    f->parts.index += (size_t)(r->p - start);
    if (T->group < 0) {
        RETURN_ERROR_IF(len != 4 * (uint64_t)T->n, err, EPR_EFORMAT, "tensor '%s': %llu bytes for %lld floats", T->name,
                        (unsigned long long)len, (long long)T->n);
        f->parts.extras += (size_t)len;
    } else {
        file_group *G = &f->groups[T->group];
        RETURN_ERROR_IF(T->n % G->ell, err, EPR_EFORMAT, "tensor '%s': %lld elements not a multiple of ell %d", T->name,
                        (long long)T->n, G->ell);
        RETURN_ERROR_IF(len < 8, err, EPR_EFORMAT, "tensor '%s': coded stream of %llu bytes", T->name,
                        (unsigned long long)len);
        f->parts.coded += (size_t)len;
        G->coded_bytes += (size_t)len;
        G->n_params += T->n;
    }
    T->payload = r->p;
    T->payload_len = (size_t)len;
    r->p += len;
    return EPR_OK;
}

static int check_unique_names(const epr_file *f, epr_err *err) {
    const char **names = (const char **)malloc(sizeof *names * (size_t)(f->n_tensors + 1));
    RETURN_ERROR_IF(!names, err, EPR_ENOMEM, "out of memory");
    for (int i = 0; i < f->n_tensors; i++) names[i] = f->tensors[i].name;
    int a = 0, b = 0, rc = codec_names_duplicate(names, f->n_tensors, &a, &b);
    free(names);
    RETURN_ERROR_IF(rc < 0, err, EPR_ENOMEM, "out of memory");
    RETURN_ERROR_IF(rc > 0, err, EPR_EFORMAT, "tensor %d: name '%s' is already tensor %d's", b, f->tensors[b].name, a);
    return EPR_OK;
}

/* u32 length, then UTF-8 text without NUL bytes, at most the limit. */
static int parse_arch(epr_file *f, codec_rbuf *r, const epr_read_limits *lim, epr_err *err) {
    uint32_t alen = 0;
    TRUNC(codec_get_u32(r, &alen) || alen > codec_rbuf_left(r), "architecture text (%u bytes)", alen);
    RETURN_ERROR_IF(alen > lim->max_arch_bytes, err, EPR_EUNSUP,
                    "architecture text of %u bytes, over the reader's limit of %llu "
                    "(epr_read_limits.max_arch_bytes)",
                    alen, (unsigned long long)lim->max_arch_bytes);
    const uint8_t *nul = (const uint8_t *)memchr(r->p, 0, alen);
    RETURN_ERROR_IF(nul, err, EPR_EFORMAT, "architecture text has a NUL byte at offset %zu", (size_t)(nul - r->p));
    size_t bad = codec_utf8_invalid_at(r->p, alen);
    RETURN_ERROR_IF(bad != alen, err, EPR_EFORMAT, "architecture text is not valid UTF-8 (byte 0x%02x at offset %zu)",
                    r->p[bad], bad);
    f->arch = (char *)malloc((size_t)alen + 1);
    RETURN_ERROR_IF(!f->arch, err, EPR_ENOMEM, "out of memory");
    memcpy(f->arch, r->p, alen);
    f->arch[alen] = 0;
    f->arch_len = alen;
    r->p += alen;
    f->parts.arch = 4 + (size_t)alen;
    return EPR_OK;
}

/* Magic, version, CRC, flags: in that order, so that a file of another
 * version is reported as such even if its CRC covers other bytes. */
static int check_header(const epr_file *f, epr_err *err) {
    RETURN_ERROR_IF(f->size < EPR_HEADER_BYTES + 4 + EPR_CRC_BYTES, err, EPR_EFORMAT,
                    "not an .epr file: %zu bytes is too short", f->size);
    RETURN_ERROR_IF(memcmp(f->data, EPR_MAGIC, 4) != 0, err, EPR_EFORMAT, "not an .epr file: bad magic");
    const uint32_t version = (uint32_t)f->data[4] | (uint32_t)f->data[5] << 8;
    const uint32_t flags = (uint32_t)f->data[6] | (uint32_t)f->data[7] << 8;
    RETURN_ERROR_IF(version != EPR_FORMAT_VERSION, err, EPR_EUNSUP,
                    "format version %u not supported (this library reads %d)", version, EPR_FORMAT_VERSION);
    uint32_t stored = codec_load_u32(f->data + f->size - EPR_CRC_BYTES);
    uint32_t crc = epr_crc32(f->data, f->size - EPR_CRC_BYTES);
#ifndef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
    RETURN_ERROR_IF(stored != crc, err, EPR_ECRC,
                    "CRC32 mismatch (stored %08x, computed %08x): file corrupt or truncated", stored, crc);
#else
    /* The fuzzer cannot forge checksums, so its build parses regardless. */
    (void)stored;
    (void)crc;
#endif
    RETURN_ERROR_IF(flags != 0, err, EPR_EUNSUP, "unknown flags %04x", flags);
    return EPR_OK;
}

int codec_file_parse(epr_file *f, const epr_read_limits *limits, epr_err *err) {
    const epr_read_limits lim = codec_limits_resolve(limits);
    RETURN_ERROR_IF(f->size > lim.max_file_bytes, err, EPR_EUNSUP,
                    "%zu bytes, over the reader's limit of %llu (epr_read_limits.max_file_bytes)", f->size,
                    (unsigned long long)lim.max_file_bytes);
    CHECK_STATUS(check_header(f, err));
    codec_rbuf r = {f->data + 8, f->data + f->size - EPR_CRC_BYTES};
    uint32_t ng = 0, nt = 0;
    codec_get_u32(&r, &ng);
    codec_get_u32(&r, &nt);
    f->parts.header = EPR_HEADER_BYTES;
    CHECK_STATUS(parse_arch(f, &r, &lim, err));

    TRUNC(ng > codec_rbuf_left(&r) / EPR_MIN_GROUP_BYTES, "%u groups", ng);
    f->n_groups = (int)ng;
    f->groups = (file_group *)calloc(ng ? ng : 1, sizeof *f->groups);
    RETURN_ERROR_IF(!f->groups, err, EPR_ENOMEM, "out of memory");
    for (int g = 0; g < (int)ng; g++) CHECK_STATUS(parse_group(f, &r, g, err));

    TRUNC(nt > codec_rbuf_left(&r) / EPR_MIN_TENSOR_BYTES, "%u tensors", nt);
    f->n_tensors = (int)nt;
    f->tensors = (file_tensor *)calloc(nt ? nt : 1, sizeof *f->tensors);
    RETURN_ERROR_IF(!f->tensors, err, EPR_ENOMEM, "out of memory");
    int64_t total = 0;
    for (int i = 0; i < (int)nt; i++) CHECK_STATUS(parse_tensor(f, &r, i, &lim, &total, err));
    RETURN_ERROR_IF(codec_rbuf_left(&r) != 0, err, EPR_EFORMAT, "%zu unexpected bytes before the CRC",
                    codec_rbuf_left(&r));
    CHECK_STATUS(check_unique_names(f, err));
    f->parts.crc = EPR_CRC_BYTES;
    f->parts.total = f->size;
    f->budget = EPR_TABLE_BUDGET(f->size);
    return EPR_OK;
}
