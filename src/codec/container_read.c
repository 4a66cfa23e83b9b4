/* codec/container_read.c — the decoder library: epr_file_*.
 *
 * Owns: reading a file within the caller's limits, the accessors, the lazy
 * per-group rANS decode tables and the decode loop (whole tensors, or in
 * chunks for the self-information), and applying the parameter decoders f.
 * Parsing and validation at open are container_parse.c's.  Calls tables,
 * rans, dft and libc stdio (epr_file_open only).
 *
 * Untrusted input: the decode tables, whose size depends on the precision
 * rather than on bytes in the file, are capped at EPR_TABLE_BUDGET(file
 * size); nothing else here allocates per element.  Corrupt input gives an
 * error, never a crash. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "codec/bytes_internal.h"
#include "codec/container_internal.h"
#include "codec/reader_internal.h"
#include "common/status.h"
#include "epr/codec.h"

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

/* Takes ownership of data[size] (malloc'd) and parses it. */
static int open_owned(uint8_t *data, size_t size, const epr_read_limits *lim, epr_file **out, epr_err *err) {
    epr_file *f = (epr_file *)calloc(1, sizeof *f);
    if (!f) {
        free(data);
        return cmn_fail(err, EPR_ENOMEM, "out of memory");
    }
    f->data = data;
    f->size = size;
    int rc = codec_file_parse(f, lim, err);
    if (rc) {
        epr_file_close(f);
        return rc;
    }
    *out = f;
    return EPR_OK;
}

int epr_file_open_memory_limited(const void *data, size_t size, const epr_read_limits *lim, epr_file **out,
                                 epr_err *err) {
    RETURN_ERROR_IF(!out || (!data && size), err, EPR_EARG, "epr_file_open_memory: bad arguments");
    *out = NULL;
    const epr_read_limits L = codec_limits_resolve(lim);
    RETURN_ERROR_IF(size > L.max_file_bytes, err, EPR_EUNSUP,
                    "%zu bytes, over the reader's limit of %llu (epr_read_limits.max_file_bytes)", size,
                    (unsigned long long)L.max_file_bytes);
    uint8_t *copy = (uint8_t *)malloc(size ? size : 1);
    RETURN_ERROR_IF(!copy, err, EPR_ENOMEM, "out of memory for %zu bytes", size);
    if (size) memcpy(copy, data, size);
    return open_owned(copy, size, &L, out, err);
}

int epr_file_open_memory(const void *data, size_t size, epr_file **out, epr_err *err) {
    return epr_file_open_memory_limited(data, size, NULL, out, err);
}

/* The first 8 bytes are not "EPR1" and version 1: parsing will refuse the
 * file whatever follows, so reading stops. */
static int header_refused(const uint8_t *b, size_t n) {
    if (n < 8) return 0;
    return memcmp(b, "EPR1", 4) != 0 || b[4] != (EPR_FORMAT_VERSION & 0xff) || b[5] != (EPR_FORMAT_VERSION >> 8);
}

/* Reads fp to its end into *buf (malloc'd), never more than limit bytes
 * (a larger file is refused: a regular file by its size before reading, a
 * stream once it passes the limit). */
static int read_bounded(FILE *fp, uint64_t limit, uint8_t **buf, size_t *n_out, epr_err *err) {
    if (limit > SIZE_MAX / 4) limit = SIZE_MAX / 4;
    struct stat st;
    size_t first = (size_t)1 << 16;
    if (fstat(fileno(fp), &st) == 0 && S_ISREG(st.st_mode)) {
        RETURN_ERROR_IF((uint64_t)st.st_size > limit, err, EPR_EUNSUP,
                        "%lld bytes, over the reader's limit of %llu "
                        "(epr_read_limits.max_file_bytes)",
                        (long long)st.st_size, (unsigned long long)limit);
        first = (size_t)st.st_size + 1; /* + 1 notices a file that grew */
    }
    if (first > limit + 1) first = (size_t)limit + 1;
    uint8_t *b = NULL;
    size_t n = 0, have = 0;
    for (;;) {
        if (n == have) {
            if (have > limit) { /* limit + 1 bytes read */
                free(b);
                return cmn_fail(err, EPR_EUNSUP,
                                "more than %llu bytes, over the reader's limit "
                                "(epr_read_limits.max_file_bytes)",
                                (unsigned long long)limit);
            }
            size_t want = !have ? first : have > limit / 2 ? (size_t)limit + 1 : 2 * have;
            uint8_t *q = (uint8_t *)realloc(b, want);
            if (!q) {
                free(b);
                return cmn_fail(err, EPR_ENOMEM, "out of memory for %zu bytes", want);
            }
            b = q;
            have = want;
        }
        size_t got = fread(b + n, 1, have - n, fp);
        n += got;
        if (got == 0 || header_refused(b, n)) break;
    }
    if (ferror(fp)) {
        free(b);
        return cmn_fail(err, EPR_EIO, "read error");
    }
    *buf = b;
    *n_out = n;
    return EPR_OK;
}

/* "<path>: <message>", truncated to fit. */
static void prefix_path(epr_err *err, const char *path) {
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

int epr_file_open_limited(const char *path, const epr_read_limits *lim, epr_file **out, epr_err *err) {
    RETURN_ERROR_IF(!path || !out, err, EPR_EARG, "epr_file_open: bad arguments");
    *out = NULL;
    const epr_read_limits L = codec_limits_resolve(lim);
    FILE *fp = fopen(path, "rb");
    RETURN_ERROR_IF(!fp, err, EPR_EIO, "%s: cannot open: %s", path, strerror(errno));
    uint8_t *buf = NULL;
    size_t n = 0;
    int rc = read_bounded(fp, L.max_file_bytes, &buf, &n, err);
    fclose(fp);
    if (!rc) rc = open_owned(buf, n, &L, out, err);
    if (rc && err) prefix_path(err, path);
    return rc;
}

int epr_file_open(const char *path, epr_file **out, epr_err *err) {
    return epr_file_open_limited(path, NULL, out, err);
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
    RETURN_ERROR_IF(!f || !info || i < 0 || i >= f->n_tensors, err, EPR_EARG, "tensor index %d out of range", i);
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
    RETURN_ERROR_IF(!f || !info || g < 0 || g >= f->n_groups, err, EPR_EARG, "group index %d out of range", g);
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

int epr_file_group_codebook(const epr_file *f, int g, const float **codebook, int *k, epr_err *err) {
    RETURN_ERROR_IF(!f || !codebook || !k || g < 0 || g >= f->n_groups, err, EPR_EARG, "group index %d out of range",
                    g);
    const file_group *G = &f->groups[g];
    RETURN_ERROR_IF(G->decoder != EPR_DECODER_CODEBOOK, err, EPR_EARG, "group %d has no codebook (decoder %d)", g,
                    G->decoder);
    *codebook = G->codebook;
    *k = G->codebook_size;
    return EPR_OK;
}

int epr_file_column_info(const epr_file *f, int g, int column, epr_column_info *info, epr_err *err) {
    RETURN_ERROR_IF(!f || !info || g < 0 || g >= f->n_groups || column < 0 || column >= f->groups[g].ell, err, EPR_EARG,
                    "group %d column %d out of range", g, column);
    const codec_column_desc *c = &f->groups[g].cols[column];
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
        if (G->cols[c].t.K > 1) need += sizeof(codec_rans_slot) << G->cols[c].t.p;
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
        codec_column_desc *cd = &G->cols[c];
        if (cd->t.kind == EPR_TABLE_DENSITY && !cd->t.freq) {
            int rc = codec_column_build_density(cd, err, g, (int)c);
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
    G->slots = (codec_rans_slot **)calloc(ell, sizeof *G->slots);
    size_t nslots = 0;
    for (size_t c = 0; c < ell; c++)
        if (G->cols[c].t.K > 1) nslots += (size_t)1 << G->cols[c].t.p;
    G->slot_block = (codec_rans_slot *)malloc(sizeof(codec_rans_slot) * (nslots ? nslots : 1));
    if (G->store != EPR_STORE_NONE) G->T = (float *)malloc(4 * ell * ell);
    if ((has_sc && (!G->s || !G->c)) || !G->slots || !G->slot_block || (G->store != EPR_STORE_NONE && !G->T)) {
        group_release_tables(G);
        return cmn_fail(err, EPR_ENOMEM, "group %d: out of memory for decode tables", g);
    }
    for (size_t j = 0; has_sc && j < ell; j++) {
        G->s[j] = codec_load_f32(G->scale + 4 * j);
        G->c[j] = codec_load_f32(G->offset + 4 * j);
    }
    if (G->store == EPR_STORE_EXPLICIT)
        for (size_t j = 0; j < ell * ell; j++) G->T[j] = codec_load_f32(G->matrix + 4 * j);
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
        codec_slots_build(&G->cols[c].t, G->slots[c]);
        off += (size_t)1 << G->cols[c].t.p;
    }
    G->ready = 1;
    f->used += need;
    return EPR_OK;
}

#define STREAM_ENDS_EARLY(e) \
    cmn_fail(err, EPR_EFORMAT, "tensor '%s': coded stream ends early (element %lld)", T->name, (long long)(e))

/* A position in one tensor's rANS stream: element e (column c) is next,
 * coded with state e & 1 (see rans_internal.h). */
typedef struct {
    codec_rans2_dec d;
    int64_t e;
    int c;
} stream_pos;

static int stream_begin(const file_tensor *T, stream_pos *s, epr_err *err) {
    RETURN_ERROR_IF(T->payload_len < 8, err, EPR_EFORMAT,
                    "tensor '%s': coded stream of %zu bytes, shorter than its two states", T->name, T->payload_len);
    RETURN_ERROR_IF(codec_rans2_dec_init(&s->d, T->payload, T->payload_len), err, EPR_EFORMAT,
                    "tensor '%s': corrupt coded stream (initial state)", T->name);
    s->e = 0;
    s->c = 0;
    return EPR_OK;
}

/* Both states back at L and every byte consumed. */
static int stream_end(const file_tensor *T, const stream_pos *s, epr_err *err) {
    RETURN_ERROR_IF(!codec_rans2_dec_done(&s->d), err, EPR_EFORMAT,
                    "tensor '%s': corrupt coded stream (final states %08x %08x, %zu bytes unused)", T->name, s->d.x[0],
                    s->d.x[1], (size_t)(s->d.end - s->d.p));
    return EPR_OK;
}

/* Decodes the next `count` elements into phi[count]. */
static int stream_next(const file_group *G, const file_tensor *T, stream_pos *s, int32_t *phi, int64_t count,
                       epr_err *err) {
    codec_rans2_dec *d = &s->d;
    const int ell = G->ell;
    const int64_t e0 = s->e;
    if (ell == 1 && G->cols[0].t.K > 1) {
        /* The common affine case, with the table hoisted: two elements per
         * iteration so the two state chains overlap. */
        const codec_rans_slot *slots = G->slots[0];
        const uint32_t pb = G->cols[0].t.p;
        const int32_t min = G->cols[0].t.min;
        int64_t k = 0;
        if ((e0 & 1) && count > 0) {
            int32_t a = codec_rans2_dec_get(d, 1, slots, pb);
            if (a < 0) return STREAM_ENDS_EARLY(e0);
            phi[k++] = min + a;
        }
        for (; k + 1 < count; k += 2) {
            int32_t a = codec_rans2_dec_get(d, 0, slots, pb);
            int32_t b = codec_rans2_dec_get(d, 1, slots, pb);
            if ((a | b) < 0) return STREAM_ENDS_EARLY(e0 + k);
            phi[k] = min + a;
            phi[k + 1] = min + b;
        }
        if (k < count) {
            int32_t a = codec_rans2_dec_get(d, 0, slots, pb);
            if (a < 0) return STREAM_ENDS_EARLY(e0 + k);
            phi[k] = min + a;
        }
    } else {
        int c = s->c;
        for (int64_t k = 0; k < count; k++) {
            const codec_ctable *t = &G->cols[c].t;
            if (t->K == 1) {
                phi[k] = t->min;
            } else {
                int32_t a = codec_rans2_dec_get(d, (uint64_t)(e0 + k), G->slots[c], t->p);
                if (a < 0) return STREAM_ENDS_EARLY(e0 + k);
                phi[k] = (int32_t)(t->min + (int64_t)a);
            }
            if (++c == ell) c = 0;
        }
        s->c = c;
    }
    s->e = e0 + count;
    return EPR_OK;
}

/* The whole stream of T into phi[T->n]. */
static int decode_stream(const file_group *G, const file_tensor *T, int32_t *phi, epr_err *err) {
    stream_pos s;
    CHECK_STATUS(stream_begin(T, &s, err));
    CHECK_STATUS(stream_next(G, T, &s, phi, T->n, err));
    return stream_end(T, &s, err);
}

int epr_file_decode_phi(epr_file *f, int i, int32_t *phi, epr_err *err) {
    RETURN_ERROR_IF(!f || i < 0 || i >= f->n_tensors || (!phi && f->tensors[i].n), err, EPR_EARG,
                    "decode_phi: tensor index %d out of range", i);
    const file_tensor *T = &f->tensors[i];
    RETURN_ERROR_IF(T->group < 0, err, EPR_EARG, "tensor '%s' is an uncompressed extra", T->name);
    CHECK_STATUS(group_prepare(f, T->group, err));
    return decode_stream(&f->groups[T->group], T, phi, err);
}

int epr_file_decode_tensor(epr_file *f, int i, float *theta, epr_err *err) {
    RETURN_ERROR_IF(!f || i < 0 || i >= f->n_tensors || (!theta && f->tensors[i].n), err, EPR_EARG,
                    "decode_tensor: tensor index %d out of range", i);
    const file_tensor *T = &f->tensors[i];
    if (T->group < 0) {
        for (int64_t e = 0; e < T->n; e++) theta[e] = codec_load_f32(T->payload + 4 * e);
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
                            "tensor '%s': phi %d outside the codebook of %d entries", T->name, q, G->codebook_size);
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
    RETURN_ERROR_IF(!f || !bits || i < 0 || i >= f->n_tensors, err, EPR_EARG, "self_info: tensor index %d out of range",
                    i);
    const file_tensor *T = &f->tensors[i];
    RETURN_ERROR_IF(T->group < 0, err, EPR_EARG, "tensor '%s' is an uncompressed extra", T->name);
    *bits = 0;
    CHECK_STATUS(group_prepare(f, T->group, err));
    const file_group *G = &f->groups[T->group];
    stream_pos s;
    CHECK_STATUS(stream_begin(T, &s, err));
    int coded = 0; /* one-symbol columns cost 0 bits and never touch the states */
    for (int c = 0; c < G->ell; c++) coded |= G->cols[c].t.K > 1;
    /* Chunks of an even number of elements; the sum runs over the elements
     * in order, as a whole-tensor decode would. */
    enum { CHUNK = 4096 };
    int32_t phi[CHUNK];
    double acc = 0;
    for (int64_t e = 0; coded && e < T->n; e += CHUNK) {
        const int64_t m = T->n - e < CHUNK ? T->n - e : CHUNK;
        const int c0 = s.c;
        CHECK_STATUS(stream_next(G, T, &s, phi, m, err));
        for (int64_t k = 0, c = c0; k < m; k++) {
            const codec_ctable *t = &G->cols[c].t;
            if (t->K > 1) acc += (double)t->p - log2((double)t->freq[phi[k] - t->min]);
            if (++c == G->ell) c = 0;
        }
    }
    CHECK_STATUS(stream_end(T, &s, err));
    *bits = acc;
    return EPR_OK;
}
