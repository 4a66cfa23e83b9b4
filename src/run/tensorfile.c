/* run/tensorfile.c — see tensorfile.h: the writers (the readers are in
 * tensorfile_read.c).
 *
 * Zip (APPNOTE 6.3): local header, data, ..., central directory, end of
 * central directory (EOCD).  No zip64, no encryption, no data descriptors. */
#include "run/tensorfile.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "run/fsutil.h"

/* ------------------------------------------------------------------ */
/* little-endian bytes and a growable buffer                            */
/* ------------------------------------------------------------------ */

typedef struct {
    unsigned char *p;
    size_t n, cap;
    int oom;
} tbuf;

static void tb_put(tbuf *b, const void *src, size_t n) {
    if (b->oom) return;
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + n) cap *= 2;
        unsigned char *q = realloc(b->p, cap);
        if (!q) {
            b->oom = 1;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}

static void tb_u16(tbuf *b, unsigned v) {
    unsigned char x[2] = {(unsigned char)v, (unsigned char)(v >> 8)};
    tb_put(b, x, 2);
}

static void tb_u32(tbuf *b, uint32_t v) {
    unsigned char x[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    tb_put(b, x, 4);
}

static void tb_u64(tbuf *b, uint64_t v) {
    tb_u32(b, (uint32_t)v);
    tb_u32(b, (uint32_t)(v >> 32));
}

static void tb_str(tbuf *b, const char *s) { tb_put(b, s, strlen(s)); }

/* float32 values as little-endian bytes (the host is checked below). */
static void tb_floats(tbuf *b, const float *v, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &v[i], 4);
        tb_u32(b, u);
    }
}

/* ------------------------------------------------------------------ */
/* formats by name                                                      */
/* ------------------------------------------------------------------ */

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

int tensorfile_format_of(const char *path) {
    if (ends_with(path, ".npz")) return TENSORFILE_NPZ;
    if (ends_with(path, ".safetensors")) return TENSORFILE_SAFETENSORS;
    return -1;
}

int tensorfile_format_parse(const char *name) {
    if (!strcmp(name, "npz")) return TENSORFILE_NPZ;
    if (!strcmp(name, "safetensors")) return TENSORFILE_SAFETENSORS;
    return -1;
}

/* ------------------------------------------------------------------ */
/* writing                                                              */
/* ------------------------------------------------------------------ */

static int check_tensors(const tensorfile_tensor *t, int n, epr_err *err) {
    RETURN_ERROR_IF(n < 0 || n > TENSORFILE_MAX_TENSORS, err, EPR_EARG, "%d tensors (at most %d)", n,
                    TENSORFILE_MAX_TENSORS);
    uint64_t bytes = 0;
    for (int i = 0; i < n; i++) {
        size_t len = strlen(t[i].name);
        RETURN_ERROR_IF(len == 0 || len >= TENSORFILE_NAME_MAX, err, EPR_EARG, "tensor %d: name of %zu bytes", i, len);
        RETURN_ERROR_IF(t[i].ndim < 0 || t[i].ndim > TENSORFILE_MAX_NDIM, err, EPR_EARG, "tensor %s: %d dimensions",
                        t[i].name, t[i].ndim);
        for (int j = 0; j < i; j++)
            RETURN_ERROR_IF(!strcmp(t[i].name, t[j].name), err, EPR_EARG, "tensor name %s given twice", t[i].name);
        bytes += 4 * (uint64_t)t[i].n;
    }
    RETURN_ERROR_IF(bytes > TENSORFILE_MAX_BYTES - 65536 * (uint64_t)(n + 1), err, EPR_EUNSUP,
                    "%llu bytes of tensors: over the 4 GiB limit of a plain zip", (unsigned long long)bytes);
    return 0;
}

/* The .npy bytes of one tensor: format 1.0 header padded so the data starts
 * at a multiple of 64 bytes (numpy's own alignment). */
static void npy_put(tbuf *b, const tensorfile_tensor *t) {
    char dict[256];
    int o = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (");
    for (int d = 0; d < t->ndim; d++)
        o += snprintf(dict + o, sizeof dict - (size_t)o, "%lld, ", (long long)t->shape[d]);
    if (t->ndim > 1) o -= 2; /* (a, b) but (a,) */
    if (t->ndim == 1) o -= 1;
    o += snprintf(dict + o, sizeof dict - (size_t)o, "), }");
    size_t total = 10 + (size_t)o + 1; /* magic, version, length, dict, '\n' */
    size_t pad = (64 - total % 64) % 64;
    tb_put(b, "\x93NUMPY\x01\x00", 8);
    tb_u16(b, (unsigned)((size_t)o + pad + 1));
    tb_put(b, dict, (size_t)o);
    for (size_t i = 0; i < pad; i++) tb_put(b, " ", 1);
    tb_put(b, "\n", 1);
    tb_floats(b, t->data, t->n);
}

#define ZIP_DOS_DATE 0x0021 /* 1980-01-01, the zip epoch: same tensors, same bytes */

static int npz_encode(const tensorfile_tensor *t, int n, tbuf *b, epr_err *err) {
    uint32_t *offs = malloc(sizeof *offs * (size_t)(n + 1)), *crcs = malloc(sizeof *crcs * (size_t)(n + 1));
    uint32_t *sizes = malloc(sizeof *sizes * (size_t)(n + 1));
    RETURN_ERROR_IF(!offs || !crcs || !sizes, err, EPR_ENOMEM, "out of memory");
    tbuf npy = {0};
    for (int i = 0; i < n; i++) {
        npy.n = 0;
        npy_put(&npy, &t[i]);
        if (npy.oom) break;
        char name[TENSORFILE_NAME_MAX + 8];
        snprintf(name, sizeof name, "%s.npy", t[i].name);
        offs[i] = (uint32_t)b->n;
        crcs[i] = (uint32_t)crc32(0L, npy.p, (uInt)npy.n);
        sizes[i] = (uint32_t)npy.n;
        tb_u32(b, 0x04034b50);
        tb_u16(b, 20); /* version needed: 2.0 */
        tb_u16(b, 0);  /* flags */
        tb_u16(b, 0);  /* stored */
        tb_u16(b, 0);  /* time */
        tb_u16(b, ZIP_DOS_DATE);
        tb_u32(b, crcs[i]);
        tb_u32(b, sizes[i]);
        tb_u32(b, sizes[i]);
        tb_u16(b, (unsigned)strlen(name));
        tb_u16(b, 0);
        tb_str(b, name);
        tb_put(b, npy.p, npy.n);
    }
    const size_t cd_off = b->n;
    for (int i = 0; i < n && !npy.oom; i++) {
        char name[TENSORFILE_NAME_MAX + 8];
        snprintf(name, sizeof name, "%s.npy", t[i].name);
        tb_u32(b, 0x02014b50);
        tb_u16(b, 20); /* made by */
        tb_u16(b, 20); /* needed */
        tb_u16(b, 0);
        tb_u16(b, 0);
        tb_u16(b, 0);
        tb_u16(b, ZIP_DOS_DATE);
        tb_u32(b, crcs[i]);
        tb_u32(b, sizes[i]);
        tb_u32(b, sizes[i]);
        tb_u16(b, (unsigned)strlen(name));
        tb_u16(b, 0); /* extra */
        tb_u16(b, 0); /* comment */
        tb_u16(b, 0); /* disk */
        tb_u16(b, 0); /* internal attributes */
        tb_u32(b, 0); /* external attributes */
        tb_u32(b, offs[i]);
        tb_str(b, name);
    }
    tb_u32(b, 0x06054b50);
    tb_u16(b, 0);
    tb_u16(b, 0);
    tb_u16(b, (unsigned)n);
    tb_u16(b, (unsigned)n);
    tb_u32(b, (uint32_t)(b->n - cd_off - 12));
    tb_u32(b, (uint32_t)cd_off);
    tb_u16(b, 0);
    int oom = npy.oom || b->oom;
    free(npy.p);
    free(offs);
    free(crcs);
    free(sizes);
    RETURN_ERROR_IF(oom, err, EPR_ENOMEM, "out of memory");
    RETURN_ERROR_IF(n > 65535, err, EPR_EUNSUP, "%d tensors: a plain zip holds at most 65535 entries", n);
    return 0;
}

/* A JSON string (names are checked UTF-8-agnostic: control bytes escaped). */
static void json_str(tbuf *b, const char *s) {
    tb_put(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char e[8];
        if (c == '"' || c == '\\') {
            e[0] = '\\', e[1] = (char)c;
            tb_put(b, e, 2);
        } else if (c < 0x20) {
            snprintf(e, sizeof e, "\\u%04x", c);
            tb_put(b, e, 6);
        } else {
            tb_put(b, s, 1);
        }
    }
    tb_put(b, "\"", 1);
}

static int safetensors_encode(const tensorfile_tensor *t, int n, tbuf *b, epr_err *err) {
    tbuf h = {0};
    uint64_t off = 0;
    tb_str(&h, "{\"__metadata__\":{\"format\":\"pt\",\"writer\":\"epr export\"}");
    for (int i = 0; i < n; i++) {
        char s[160];
        tb_str(&h, ",");
        json_str(&h, t[i].name);
        tb_str(&h, ":{\"dtype\":\"F32\",\"shape\":[");
        for (int d = 0; d < t[i].ndim; d++) {
            snprintf(s, sizeof s, "%s%lld", d ? "," : "", (long long)t[i].shape[d]);
            tb_str(&h, s);
        }
        snprintf(s, sizeof s, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off,
                 (unsigned long long)(off + 4 * (uint64_t)t[i].n));
        tb_str(&h, s);
        off += 4 * (uint64_t)t[i].n;
    }
    tb_str(&h, "}");
    while (h.n % 8) tb_put(&h, " ", 1);
    tb_u64(b, h.n);
    if (!h.oom) tb_put(b, h.p, h.n);
    for (int i = 0; i < n; i++) tb_floats(b, t[i].data, t[i].n);
    int oom = h.oom || b->oom;
    free(h.p);
    RETURN_ERROR_IF(oom, err, EPR_ENOMEM, "out of memory");
    return 0;
}

int tensorfile_encode(tensorfile_format fmt, const tensorfile_tensor *t, int n, void **out, size_t *len, epr_err *err) {
    *out = NULL;
    *len = 0;
    CHECK_STATUS(check_tensors(t, n, err));
    tbuf b = {0};
    int rc = fmt == TENSORFILE_NPZ ? npz_encode(t, n, &b, err) : safetensors_encode(t, n, &b, err);
    if (rc) {
        free(b.p);
        return rc;
    }
    *out = b.p;
    *len = b.n;
    return 0;
}

int tensorfile_write(const char *path, tensorfile_format fmt, const tensorfile_tensor *t, int n, epr_err *err) {
    void *bytes;
    size_t len;
    int rc = tensorfile_encode(fmt, t, n, &bytes, &len, err);
    if (rc) {
        char m[sizeof err->msg];
        if (err) {
            memcpy(m, err->msg, sizeof m);
            snprintf(err->msg, sizeof err->msg, "%.200s: %.200s", path, m);
        }
        return rc;
    }
    rc = fs_write_atomic(path, bytes, len, err);
    free(bytes);
    return rc;
}
