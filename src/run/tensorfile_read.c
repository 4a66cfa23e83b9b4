/* run/tensorfile_read.c — the readers of tensorfile.h: .npz (zip of
 * .npy) and .safetensors, external input.  The zip's central directory gives
 * the names, methods and sizes; each local header must agree, and every
 * entry's CRC-32 must match.  No zip64, no encryption. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "run/fsutil.h"
#include "run/tensorfile.h"

static uint32_t rd_u16(const unsigned char *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t rd_u32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t rd_u64(const unsigned char *p) { return (uint64_t)rd_u32(p) | (uint64_t)rd_u32(p + 4) << 32; }

void tensorfile_free(tensorfile *tf) {
    if (!tf) return;
    for (int i = 0; i < tf->n; i++) free(tf->t[i].data);
    free(tf->t);
    tf->t = NULL;
    tf->n = 0;
}

int tensorfile_find(const tensorfile *tf, const char *name) {
    for (int i = 0; i < tf->n; i++)
        if (!strcmp(tf->t[i].name, name)) return i;
    return -1;
}

/* A new tensor slot in tf named name[0..len): a unique, valid name. */
static int add_slot(tensorfile *tf, int cap, const char *path, const char *name, size_t len, tensorfile_tensor **out,
                    epr_err *err) {
    RETURN_ERROR_IF(tf->n >= cap, err, EPR_EFORMAT, "%s: more than %d tensors", path, cap);
    RETURN_ERROR_IF(len == 0 || len >= TENSORFILE_NAME_MAX, err, EPR_EFORMAT,
                    "%s: a tensor name of %zu bytes (1..%d allowed)", path, len, TENSORFILE_NAME_MAX - 1);
    for (size_t i = 0; i < len; i++)
        RETURN_ERROR_IF(name[i] == 0 || (unsigned char)name[i] < 0x20, err, EPR_EFORMAT,
                        "%s: a tensor name holds a control byte", path);
    tensorfile_tensor *t = &tf->t[tf->n];
    memset(t, 0, sizeof *t);
    memcpy(t->name, name, len);
    RETURN_ERROR_IF(tensorfile_find(tf, t->name) >= 0, err, EPR_EFORMAT, "%s: tensor '%s' appears twice", path,
                    t->name);
    tf->n++;
    *out = t;
    return 0;
}

/* shape[] -> n elements, bounded: the caller checks n * itemsize against
 * the bytes present before allocating. */
static int shape_count(const tensorfile_tensor *t, const char *path, int64_t *n, epr_err *err) {
    int64_t c = 1;
    for (int d = 0; d < t->ndim; d++) {
        RETURN_ERROR_IF(t->shape[d] < 0 || t->shape[d] > ((int64_t)1 << 40), err, EPR_EFORMAT,
                        "%s: tensor '%s': dimension %d is %lld", path, t->name, d, (long long)t->shape[d]);
        if (t->shape[d] && c > ((int64_t)1 << 40) / t->shape[d])
            return cmn_fail(err, EPR_EFORMAT, "%s: tensor '%s' has too many elements", path, t->name);
        c *= t->shape[d];
    }
    *n = c;
    return 0;
}

/* Values of an array of itemsize 4 or 8 (little-endian floats) into t->data. */
static int take_values(tensorfile_tensor *t, const unsigned char *p, size_t bytes, int itemsize, const char *path,
                       epr_err *err) {
    CHECK_STATUS(shape_count(t, path, &t->n, err));
    RETURN_ERROR_IF((uint64_t)t->n * (uint64_t)itemsize != bytes, err, EPR_EFORMAT,
                    "%s: tensor '%s': its shape needs %llu bytes of data, the file has %zu", path, t->name,
                    (unsigned long long)((uint64_t)t->n * (uint64_t)itemsize), bytes);
    t->data = malloc((size_t)t->n * sizeof(float) + 1);
    RETURN_ERROR_IF(!t->data, err, EPR_ENOMEM, "%s: out of memory for tensor '%s'", path, t->name);
    for (int64_t i = 0; i < t->n; i++) {
        if (itemsize == 4) {
            uint32_t u = rd_u32(p + 4 * i);
            memcpy(&t->data[i], &u, 4);
        } else {
            uint64_t u = rd_u64(p + 8 * i);
            double d;
            memcpy(&d, &u, 8);
            t->data[i] = (float)d;
        }
    }
    return 0;
}

/* ---- .npy ---- */

/* The value after 'key': in a .npy header dict, or NULL. */
static const char *npy_key(const char *dict, const char *key) {
    char pat[40];
    snprintf(pat, sizeof pat, "'%s'", key);
    const char *p = strstr(dict, pat);
    if (!p) return NULL;
    p += strlen(pat);
    while (*p == ' ') p++;
    if (*p != ':') return NULL;
    p++;
    while (*p == ' ') p++;
    return p;
}

static int npy_parse(const unsigned char *p, size_t len, const char *path, tensorfile_tensor *t, epr_err *err) {
    RETURN_ERROR_IF(len < 10 || memcmp(p, "\x93NUMPY", 6), err, EPR_EFORMAT, "%s: entry '%s.npy' is not a .npy array",
                    path, t->name);
    const int major = p[6];
    RETURN_ERROR_IF(major < 1 || major > 3, err, EPR_EUNSUP, "%s: entry '%s.npy': .npy version %d", path, t->name,
                    major);
    size_t hl, start;
    if (major == 1) {
        hl = rd_u16(p + 8);
        start = 10;
    } else {
        RETURN_ERROR_IF(len < 12, err, EPR_EFORMAT, "%s: entry '%s.npy' is truncated", path, t->name);
        hl = rd_u32(p + 8);
        start = 12;
    }
    RETURN_ERROR_IF(hl > 65536 || start + hl > len, err, EPR_EFORMAT, "%s: entry '%s.npy': header of %zu bytes", path,
                    t->name, hl);
    char dict[65537];
    memcpy(dict, p + start, hl);
    dict[hl] = 0;
    const char *descr = npy_key(dict, "descr"), *fo = npy_key(dict, "fortran_order"), *sh = npy_key(dict, "shape");
    RETURN_ERROR_IF(!descr || !fo || !sh, err, EPR_EFORMAT,
                    "%s: entry '%s.npy': header lacks descr, fortran_order "
                    "or shape",
                    path, t->name);
    int itemsize = 0;
    if (!strncmp(descr, "'<f4'", 5)) itemsize = 4;
    if (!strncmp(descr, "'<f8'", 5)) itemsize = 8;
    RETURN_ERROR_IF(!itemsize, err, EPR_EUNSUP,
                    "%s: entry '%s.npy': dtype %.12s (float32 '<f4' or float64 '<f8' "
                    "wanted)",
                    path, t->name, descr);
    RETURN_ERROR_IF(strncmp(fo, "False", 5), err, EPR_EUNSUP, "%s: entry '%s.npy' is in Fortran order", path, t->name);
    RETURN_ERROR_IF(*sh != '(', err, EPR_EFORMAT, "%s: entry '%s.npy': bad shape", path, t->name);
    sh++;
    t->ndim = 0;
    for (;;) {
        while (*sh == ' ') sh++;
        if (*sh == ')') break;
        RETURN_ERROR_IF(t->ndim == TENSORFILE_MAX_NDIM, err, EPR_EUNSUP,
                        "%s: entry '%s.npy' has more than %d "
                        "dimensions",
                        path, t->name, TENSORFILE_MAX_NDIM);
        char *e;
        errno = 0;
        long long v = strtoll(sh, &e, 10);
        RETURN_ERROR_IF(e == sh || errno || v < 0, err, EPR_EFORMAT, "%s: entry '%s.npy': bad shape", path, t->name);
        t->shape[t->ndim++] = v;
        sh = e;
        while (*sh == ' ') sh++;
        if (*sh == ',')
            sh++;
        else
            RETURN_ERROR_IF(*sh != ')', err, EPR_EFORMAT, "%s: entry '%s.npy': bad shape", path, t->name);
    }
    return take_values(t, p + start + hl, len - start - hl, itemsize, path, err);
}

/* ---- .npz ---- */

#define ZIP_LOCAL 30
#define ZIP_CENTRAL 46
#define ZIP_EOCD 22

static int zip_entry(const unsigned char *z, size_t len, const char *path, const unsigned char *cd,
                     tensorfile_tensor *t, epr_err *err) {
    const unsigned method = rd_u16(cd + 10), flags = rd_u16(cd + 8);
    const uint32_t crc = rd_u32(cd + 16), csize = rd_u32(cd + 20), usize = rd_u32(cd + 24);
    const uint32_t loff = rd_u32(cd + 42);
    RETURN_ERROR_IF(flags & 1, err, EPR_EUNSUP, "%s: entry '%s.npy' is encrypted", path, t->name);
    RETURN_ERROR_IF(method != 0 && method != 8, err, EPR_EUNSUP,
                    "%s: entry '%s.npy' uses zip method %u (stored or deflated wanted)", path, t->name, method);
    RETURN_ERROR_IF(csize == 0xffffffffu || usize == 0xffffffffu || loff == 0xffffffffu, err, EPR_EUNSUP,
                    "%s: zip64 entries are not supported", path);
    RETURN_ERROR_IF((uint64_t)loff + ZIP_LOCAL > len || rd_u32(z + loff) != 0x04034b50, err, EPR_EFORMAT,
                    "%s: entry '%s.npy': no local header at offset %u", path, t->name, loff);
    const unsigned char *lh = z + loff;
    const uint64_t data = (uint64_t)loff + ZIP_LOCAL + rd_u16(lh + 26) + rd_u16(lh + 28);
    RETURN_ERROR_IF(data + csize > len, err, EPR_EFORMAT, "%s: entry '%s.npy': %u bytes run past the end of the file",
                    path, t->name, csize);
    RETURN_ERROR_IF(rd_u16(lh + 8) != method, err, EPR_EFORMAT,
                    "%s: entry '%s.npy': local and central headers disagree", path, t->name);
    const unsigned char *src = z + data;
    unsigned char *buf = NULL;
    if (method == 0) {
        RETURN_ERROR_IF(csize != usize, err, EPR_EFORMAT, "%s: entry '%s.npy': stored with two sizes", path, t->name);
    } else {
        /* deflate expands at most 1032:1, so usize is bounded by the input */
        RETURN_ERROR_IF((uint64_t)usize > 1032 * (uint64_t)csize + 1024, err, EPR_EFORMAT,
                        "%s: entry '%s.npy' claims %u bytes from %u deflated", path, t->name, usize, csize);
        buf = malloc((size_t)usize + 1);
        RETURN_ERROR_IF(!buf, err, EPR_ENOMEM, "%s: out of memory", path);
        z_stream s;
        memset(&s, 0, sizeof s);
        int zr = inflateInit2(&s, -MAX_WBITS);
        if (zr == Z_OK) {
            s.next_in = (Bytef *)src;
            s.avail_in = csize;
            s.next_out = buf;
            s.avail_out = usize;
            zr = inflate(&s, Z_FINISH);
            if (zr == Z_STREAM_END && s.total_out != usize) zr = Z_DATA_ERROR;
            inflateEnd(&s);
        }
        if (zr != Z_STREAM_END) {
            free(buf);
            return cmn_fail(err, EPR_EFORMAT, "%s: entry '%s.npy' does not inflate to its %u bytes", path, t->name,
                            usize);
        }
        src = buf;
    }
    int rc = 0;
    if ((uint32_t)crc32(0L, src, usize) != crc)
        rc = cmn_fail(err, EPR_EFORMAT, "%s: entry '%s.npy': CRC-32 mismatch (damaged file)", path, t->name);
    if (!rc) rc = npy_parse(src, usize, path, t, err);
    free(buf);
    return rc;
}

static int npz_parse(const unsigned char *z, size_t len, const char *path, tensorfile *tf, epr_err *err) {
    /* the EOCD: the last signature within the final 22 + 65535 bytes */
    size_t e = len >= ZIP_EOCD ? len - ZIP_EOCD + 1 : 0, stop = len > ZIP_EOCD + 65535 ? len - ZIP_EOCD - 65535 : 0;
    int found = 0;
    while (e-- > stop)
        if (rd_u32(z + e) == 0x06054b50) {
            found = 1;
            break;
        }
    RETURN_ERROR_IF(!found, err, EPR_EFORMAT, "%s: not a zip file (no end of central directory)", path);
    const unsigned entries = rd_u16(z + e + 10);
    const uint32_t cd_size = rd_u32(z + e + 12), cd_off = rd_u32(z + e + 16);
    RETURN_ERROR_IF(rd_u16(z + e + 4) || rd_u16(z + e + 6) || rd_u16(z + e + 8) != entries, err, EPR_EUNSUP,
                    "%s: multi-disk zip", path);
    RETURN_ERROR_IF((uint64_t)cd_off + cd_size > e || (uint64_t)entries * ZIP_CENTRAL > cd_size, err, EPR_EFORMAT,
                    "%s: the central directory (%u entries, %u bytes at %u) does not fit the file", path, entries,
                    cd_size, cd_off);
    tf->t = calloc((size_t)entries + 1, sizeof *tf->t);
    RETURN_ERROR_IF(!tf->t, err, EPR_ENOMEM, "%s: out of memory", path);
    const unsigned char *cd = z + cd_off, *end = z + cd_off + cd_size;
    for (unsigned i = 0; i < entries; i++) {
        RETURN_ERROR_IF(end - cd < ZIP_CENTRAL || rd_u32(cd) != 0x02014b50, err, EPR_EFORMAT,
                        "%s: central directory entry %u is damaged", path, i);
        const size_t nl = rd_u16(cd + 28), xl = rd_u16(cd + 30), cl = rd_u16(cd + 32);
        RETURN_ERROR_IF((size_t)(end - cd) < ZIP_CENTRAL + nl + xl + cl, err, EPR_EFORMAT,
                        "%s: central directory entry %u runs past the directory", path, i);
        const char *name = (const char *)cd + ZIP_CENTRAL;
        RETURN_ERROR_IF(nl < 5 || memcmp(name + nl - 4, ".npy", 4), err, EPR_EFORMAT,
                        "%s: entry %u ('%.*s') is not a .npy array", path, i, (int)(nl < 200 ? nl : 200), name);
        tensorfile_tensor *t;
        CHECK_STATUS(add_slot(tf, (int)entries, path, name, nl - 4, &t, err));
        CHECK_STATUS(zip_entry(z, len, path, cd, t, err));
        cd += ZIP_CENTRAL + nl + xl + cl;
    }
    return 0;
}

/* ---- .safetensors: a JSON object of objects, parsed for exactly that ---- */

typedef struct {
    const char *p, *end, *start, *path;
    epr_err *err;
} jparse;

static void jws(jparse *j) {
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')) j->p++;
}

static int jexpect(jparse *j, char c) {
    jws(j);
    RETURN_ERROR_IF(j->p >= j->end || *j->p != c, j->err, EPR_EFORMAT,
                    "%s: safetensors header: '%c' expected at byte %ld", j->path, c, (long)(j->p - j->start) + 8);
    j->p++;
    return 0;
}

/* A string without escapes other than \" \\ \/ (names are plain). */
static int jstring(jparse *j, char *out, size_t cap, size_t *len) {
    CHECK_STATUS(jexpect(j, '"'));
    size_t n = 0;
    while (j->p < j->end && *j->p != '"') {
        char c = *j->p++;
        if (c == '\\') {
            RETURN_ERROR_IF(j->p >= j->end || !strchr("\"\\/", *j->p), j->err, EPR_EUNSUP,
                            "%s: safetensors header: unsupported escape in a string", j->path);
            c = *j->p++;
        }
        RETURN_ERROR_IF(n + 1 >= cap, j->err, EPR_EFORMAT, "%s: safetensors header: a string of more than %zu bytes",
                        j->path, cap - 1);
        out[n++] = c;
    }
    RETURN_ERROR_IF(j->p >= j->end, j->err, EPR_EFORMAT, "%s: safetensors header: unterminated string", j->path);
    j->p++;
    out[n] = 0;
    *len = n;
    return 0;
}

static int jint(jparse *j, uint64_t *v) {
    jws(j);
    RETURN_ERROR_IF(j->p >= j->end || *j->p < '0' || *j->p > '9', j->err, EPR_EFORMAT,
                    "%s: safetensors header: a non-negative integer expected", j->path);
    uint64_t x = 0;
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
        RETURN_ERROR_IF(x > ((uint64_t)1 << 50), j->err, EPR_EFORMAT, "%s: safetensors header: integer too large",
                        j->path);
        x = x * 10 + (uint64_t)(*j->p++ - '0');
    }
    *v = x;
    return 0;
}

/* [a, b, ...] of at most max integers. */
static int jints(jparse *j, uint64_t *v, int max, int *n) {
    CHECK_STATUS(jexpect(j, '['));
    *n = 0;
    jws(j);
    if (j->p < j->end && *j->p == ']') {
        j->p++;
        return 0;
    }
    for (;;) {
        RETURN_ERROR_IF(*n == max, j->err, EPR_EUNSUP, "%s: safetensors header: more than %d values in a list", j->path,
                        max);
        CHECK_STATUS(jint(j, &v[(*n)++]));
        jws(j);
        if (j->p < j->end && *j->p == ',') {
            j->p++;
            continue;
        }
        return jexpect(j, ']');
    }
}

/* The __metadata__ object: string values only, skipped. */
static int jskip_metadata(jparse *j) {
    CHECK_STATUS(jexpect(j, '{'));
    jws(j);
    if (j->p < j->end && *j->p == '}') return j->p++, 0;
    for (;;) {
        char s[4096];
        size_t n;
        CHECK_STATUS(jstring(j, s, sizeof s, &n));
        CHECK_STATUS(jexpect(j, ':'));
        CHECK_STATUS(jstring(j, s, sizeof s, &n));
        jws(j);
        if (j->p < j->end && *j->p == ',') {
            j->p++;
            continue;
        }
        return jexpect(j, '}');
    }
}

static int safetensors_parse(const unsigned char *b, size_t len, const char *path, tensorfile *tf, epr_err *err) {
    RETURN_ERROR_IF(len < 8, err, EPR_EFORMAT, "%s: too short for a safetensors file", path);
    const uint64_t hn = rd_u64(b);
    RETURN_ERROR_IF(hn < 2 || hn > len - 8 || hn > ((uint64_t)100 << 20), err, EPR_EFORMAT,
                    "%s: safetensors header length %llu does not fit the file of %zu bytes", path,
                    (unsigned long long)hn, len);
    const unsigned char *data = b + 8 + hn;
    const size_t data_len = len - 8 - (size_t)hn;
    /* every tensor entry takes at least ~40 header bytes: bound the slots */
    const int cap = (int)(hn / 32 + 1 < TENSORFILE_MAX_TENSORS ? hn / 32 + 1 : TENSORFILE_MAX_TENSORS);
    tf->t = calloc((size_t)cap + 1, sizeof *tf->t);
    RETURN_ERROR_IF(!tf->t, err, EPR_ENOMEM, "%s: out of memory", path);
    jparse j = {(const char *)b + 8, (const char *)b + 8 + hn, (const char *)b + 8, path, err};
    CHECK_STATUS(jexpect(&j, '{'));
    jws(&j);
    int more = !(j.p < j.end && *j.p == '}');
    if (!more) j.p++;
    while (more) {
        char name[TENSORFILE_NAME_MAX + 16];
        size_t nl;
        CHECK_STATUS(jstring(&j, name, sizeof name, &nl));
        CHECK_STATUS(jexpect(&j, ':'));
        if (!strcmp(name, "__metadata__")) {
            CHECK_STATUS(jskip_metadata(&j));
        } else {
            tensorfile_tensor *t;
            CHECK_STATUS(add_slot(tf, cap, path, name, nl, &t, err));
            char dtype[16] = "";
            uint64_t shape[8], offs[2];
            int ns = -1, no = -1;
            CHECK_STATUS(jexpect(&j, '{'));
            for (int k = 0; k < 3; k++) {
                char key[32];
                size_t kl;
                CHECK_STATUS(jstring(&j, key, sizeof key, &kl));
                CHECK_STATUS(jexpect(&j, ':'));
                if (!strcmp(key, "dtype")) {
                    CHECK_STATUS(jstring(&j, dtype, sizeof dtype, &kl));
                } else if (!strcmp(key, "shape")) {
                    CHECK_STATUS(jints(&j, shape, TENSORFILE_MAX_NDIM, &ns));
                } else if (!strcmp(key, "data_offsets")) {
                    CHECK_STATUS(jints(&j, offs, 2, &no));
                } else {
                    return cmn_fail(err, EPR_EFORMAT, "%s: tensor '%s': unknown key '%s'", path, t->name, key);
                }
                if (k < 2) CHECK_STATUS(jexpect(&j, ','));
            }
            CHECK_STATUS(jexpect(&j, '}'));
            RETURN_ERROR_IF(!dtype[0] || ns < 0 || no != 2, err, EPR_EFORMAT,
                            "%s: tensor '%s' needs dtype, shape and two data_offsets", path, t->name);
            int itemsize = !strcmp(dtype, "F32") ? 4 : !strcmp(dtype, "F64") ? 8 : 0;
            RETURN_ERROR_IF(!itemsize, err, EPR_EUNSUP, "%s: tensor '%s': dtype %s (F32 or F64 wanted)", path, t->name,
                            dtype);
            RETURN_ERROR_IF(offs[0] > offs[1] || offs[1] > data_len, err, EPR_EFORMAT,
                            "%s: tensor '%s': data_offsets [%llu, %llu] outside the %zu data bytes", path, t->name,
                            (unsigned long long)offs[0], (unsigned long long)offs[1], data_len);
            t->ndim = ns;
            for (int d = 0; d < ns; d++) t->shape[d] = (int64_t)shape[d];
            CHECK_STATUS(take_values(t, data + offs[0], (size_t)(offs[1] - offs[0]), itemsize, path, err));
        }
        jws(&j);
        if (j.p < j.end && *j.p == ',') {
            j.p++;
            continue;
        }
        CHECK_STATUS(jexpect(&j, '}'));
        more = 0;
    }
    jws(&j);
    RETURN_ERROR_IF(j.p != j.end, err, EPR_EFORMAT, "%s: safetensors header: text after the object", path);
    return 0;
}

int tensorfile_parse(const void *data, size_t len, const char *path, tensorfile *out, epr_err *err) {
    memset(out, 0, sizeof *out);
    const unsigned char *b = data;
    int rc;
    if (len >= 4 && (rd_u32(b) == 0x04034b50 || rd_u32(b) == 0x06054b50))
        rc = npz_parse(b, len, path, out, err);
    else if (len >= 9 && b[8] == '{')
        rc = safetensors_parse(b, len, path, out, err);
    else
        rc = cmn_fail(err, EPR_EFORMAT, "%s: neither an .npz (zip) nor a .safetensors file", path);
    if (rc) tensorfile_free(out);
    return rc;
}

int tensorfile_read(const char *path, tensorfile *out, epr_err *err) {
    memset(out, 0, sizeof *out);
    struct stat st;
    RETURN_ERROR_IF(stat(path, &st), err, EPR_EIO, "%s: cannot open: %s", path, strerror(errno));
    RETURN_ERROR_IF(!S_ISREG(st.st_mode), err, EPR_EIO, "%s: not a regular file", path);
    RETURN_ERROR_IF((uint64_t)st.st_size > TENSORFILE_MAX_BYTES + ((uint64_t)64 << 20), err, EPR_EUNSUP,
                    "%s: %lld bytes, over the 4 GiB limit", path, (long long)st.st_size);
    void *bytes;
    size_t len;
    CHECK_STATUS(fs_read_file(path, &bytes, &len, err));
    int rc = tensorfile_parse(bytes, len, path, out, err);
    free(bytes);
    return rc;
}
