/* run/dataset.c — IDX and CIFAR-10 loaders, batch gather, epoch sampler.
 *
 * Owns the file formats' validation: every byte of an input file is either
 * header, payload or an error (no silent truncation, no ignored tail).
 * Reads through zlib's gzread, which passes raw files through unchanged, so
 * one code path serves both; gzip is recognised by its magic bytes only to
 * say so in messages.  May call: libc, libm, zlib, common/status.h,
 * common/rng.h.  See dataset.h for the sampler's definition. */
#include "run/dataset.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "common/rng.h"

enum {
    IDX_MAGIC_IMAGES = 0x00000803, /* unsigned byte, 3 dims */
    IDX_MAGIC_LABELS = 0x00000801, /* unsigned byte, 1 dim */
    MAX_PIXELS_PER_IMAGE = 1 << 24,
    N_CLASSES_10 = 10,
    CIFAR_PIXELS = 3 * 32 * 32,
    CIFAR_RECORD = 1 + CIFAR_PIXELS
};

/* ---- one input file, raw or gzip ---- */

typedef struct {
    const char *path;
    int is_gzip;
    gzFile gz;
    size_t offset; /* decompressed bytes consumed so far */
} src;

static int src_fail(const src *s, epr_err *err, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
static int src_fail(const src *s, epr_err *err, int code, const char *fmt, ...) {
    char what[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return epr_fail(err, code, "%s%s: %s", s->path, s->is_gzip ? " (gzip)" : "", what);
}

static int src_open(src *s, const char *path, epr_err *err) {
    memset(s, 0, sizeof *s);
    s->path = path;
    FILE *f = fopen(path, "rb");
    RETURN_ERROR_IF(!f, err, EPR_EIO, "%s: cannot open: %s", path, strerror(errno));
    unsigned char m[2];
    size_t k = fread(m, 1, 2, f);
    int read_error = ferror(f), saved = errno;
    fclose(f);
    RETURN_ERROR_IF(read_error, err, EPR_EIO, "%s: cannot read: %s", path, strerror(saved));
    s->is_gzip = k == 2 && m[0] == 0x1f && m[1] == 0x8b;
    errno = 0;
    s->gz = gzopen(path, "rb");
    RETURN_ERROR_IF(!s->gz, err, errno ? EPR_EIO : EPR_ENOMEM, "%s: cannot open: %s", path,
                    errno ? strerror(errno) : "out of memory");
    gzbuffer(s->gz, 1 << 17);
    return 0;
}

static void src_close(src *s) {
    if (s->gz) gzclose_r(s->gz);
    s->gz = NULL;
}

/* gzerror's text is "path: what"; the path is already in our message. */
static const char *zlib_what(const src *s, const char *msg) {
    size_t n = strlen(s->path);
    return strncmp(msg, s->path, n) == 0 && strncmp(msg + n, ": ", 2) == 0 ? msg + n + 2 : msg;
}

/* Reads up to `want` bytes into buf; *got says how many (fewer only at end
 * of input).  A read or decompression error is an error, not a short read. */
static int src_read(src *s, void *buf, size_t want, size_t *got, epr_err *err) {
    unsigned char *p = buf;
    *got = 0;
    while (*got < want) {
        size_t chunk = want - *got;
        if (chunk > (1u << 30)) chunk = 1u << 30;
        int r = gzread(s->gz, p + *got, (unsigned)chunk);
        if (r < 0) {
            int zerr;
            const char *msg = zlib_what(s, gzerror(s->gz, &zerr));
            if (zerr == Z_ERRNO)
                return src_fail(s, err, EPR_EIO, "read error at byte %zu: %s", s->offset + *got,
                                strerror(errno));
            if (zerr == Z_BUF_ERROR)
                return src_fail(s, err, EPR_EFORMAT,
                                "truncated gzip stream after %zu decompressed bytes (%s)",
                                s->offset + *got, msg);
            return src_fail(s, err, EPR_EFORMAT, "corrupt gzip stream after %zu bytes: %s",
                            s->offset + *got, msg);
        }
        if (r == 0) {
            /* zlib reports a gzip stream cut short only here: gzread says
             * end of input and leaves Z_BUF_ERROR for gzerror. */
            int zerr;
            const char *msg = zlib_what(s, gzerror(s->gz, &zerr));
            if (zerr != Z_OK)
                return src_fail(s, err, EPR_EFORMAT,
                                "truncated gzip stream after %zu decompressed bytes (%s)",
                                s->offset + *got, msg);
            break;
        }
        *got += (size_t)r;
    }
    s->offset += *got;
    return 0;
}

/* Reads until end of input or `limit` bytes into a buffer that grows
 * geometrically, so a header that claims a huge size costs memory only in
 * proportion to the bytes actually present. */
static int src_slurp(src *s, size_t limit, uint8_t **out, size_t *len, epr_err *err) {
    size_t cap = limit < ((size_t)1 << 20) ? limit : ((size_t)1 << 20);
    uint8_t *buf = malloc(cap ? cap : 1);
    *out = NULL;
    *len = 0;
    RETURN_ERROR_IF(!buf, err, EPR_ENOMEM, "%s: out of memory", s->path);
    size_t n = 0;
    for (;;) {
        size_t got;
        int rc = src_read(s, buf + n, cap - n, &got, err);
        if (rc) {
            free(buf);
            return rc;
        }
        n += got;
        if (n < cap || n == limit) break; /* end of input, or all we want */
        size_t ncap = cap > limit / 2 ? limit : cap * 2;
        uint8_t *nb = realloc(buf, ncap);
        if (!nb) {
            free(buf);
            return src_fail(s, err, EPR_ENOMEM, "out of memory reading %zu bytes", ncap);
        }
        buf = nb;
        cap = ncap;
    }
    *out = buf;
    *len = n;
    return 0;
}

/* After the payload: the input must be at its end (this read also makes zlib
 * check the gzip trailer's CRC and length). */
static int src_expect_end(src *s, const char *what, epr_err *err) {
    unsigned char extra[64];
    size_t got;
    CHECK_STATUS(src_read(s, extra, sizeof extra, &got, err));
    size_t more = got;
    while (got == sizeof extra) { /* count the tail for the message */
        CHECK_STATUS(src_read(s, extra, sizeof extra, &got, err));
        more += got;
    }
    RETURN_ERROR_IF(more, err, EPR_EFORMAT, "%s%s: %zu trailing bytes after %s", s->path,
                    s->is_gzip ? " (gzip)" : "", more, what);
    return 0;
}

static uint32_t be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Reads and checks an IDX header of unsigned bytes with `ndims` dims. */
static int idx_header(src *s, uint32_t magic_want, int ndims, const char *dims_doc,
                      uint32_t *dims, epr_err *err) {
    unsigned char h[4 + 4 * 3];
    size_t got;
    CHECK_STATUS(src_read(s, h, 4, &got, err));
    if (got == 0) return src_fail(s, err, EPR_EFORMAT, "empty file (expected an IDX header)");
    if (got < 4) return src_fail(s, err, EPR_EFORMAT, "truncated IDX header (%zu bytes)", got);
    uint32_t magic = be32(h);
    if (h[0] != 0 || h[1] != 0)
        return src_fail(s, err, EPR_EFORMAT, "bad magic 0x%08x (not IDX; expected 0x%08x)",
                        (unsigned)magic, (unsigned)magic_want);
    if (h[2] != 0x08)
        return src_fail(s, err, EPR_EUNSUP,
                        "bad magic 0x%08x: IDX element type 0x%02x unsupported (expected 0x08, "
                        "unsigned byte)",
                        (unsigned)magic, h[2]);
    if (h[3] != ndims)
        return src_fail(s, err, EPR_EFORMAT,
                        "wrong dimension count %d in magic 0x%08x (expected %d: %s)", h[3],
                        (unsigned)magic, ndims, dims_doc);
    CHECK_STATUS(src_read(s, h + 4, 4 * (size_t)ndims, &got, err));
    if (got < 4 * (size_t)ndims)
        return src_fail(s, err, EPR_EFORMAT, "truncated IDX header (%zu bytes, expected %d)",
                        4 + got, 4 + 4 * ndims);
    for (int i = 0; i < ndims; i++) dims[i] = be32(h + 4 + 4 * i);
    if (dims[0] == 0) return src_fail(s, err, EPR_EFORMAT, "header says 0 items");
    if (dims[0] > INT_MAX)
        return src_fail(s, err, EPR_EFORMAT, "header says %u items (more than %d)",
                        (unsigned)dims[0], INT_MAX);
    return 0;
}

static int dup_files(dataset *d, const char **files, int nfiles, epr_err *err) {
    d->files = calloc((size_t)nfiles, sizeof *d->files);
    RETURN_ERROR_IF(!d->files, err, EPR_ENOMEM, "dataset: out of memory");
    d->nfiles = nfiles;
    for (int i = 0; i < nfiles; i++) {
        d->files[i] = strdup(files[i]);
        RETURN_ERROR_IF(!d->files[i], err, EPR_ENOMEM, "dataset: out of memory");
    }
    return 0;
}

static void set_default_norm(dataset *d) {
    d->normalize = 0;
    for (int ch = 0; ch < DATASET_MAX_CHANNELS; ch++) {
        d->mean[ch] = 0.0f;
        d->std[ch] = 1.0f;
    }
}

static int load_idx_images(const char *path, dataset *d, epr_err *err) {
    src s;
    CHECK_STATUS(src_open(&s, path, err));
    uint32_t dims[3];
    int rc = idx_header(&s, IDX_MAGIC_IMAGES, 3, "n, rows, cols", dims, err);
    if (!rc && (dims[1] == 0 || dims[2] == 0 ||
                (uint64_t)dims[1] * dims[2] > MAX_PIXELS_PER_IMAGE))
        rc = src_fail(&s, err, EPR_EFORMAT, "implausible image size %ux%u", (unsigned)dims[1],
                      (unsigned)dims[2]);
    if (rc) {
        src_close(&s);
        return rc;
    }
    size_t per = (size_t)dims[1] * dims[2], want = (size_t)dims[0] * per, got;
    rc = src_slurp(&s, want, &d->images, &got, err);
    if (!rc && got < want)
        rc = src_fail(&s, err, EPR_EFORMAT,
                      "truncated: %zu bytes of pixels after the 16-byte header, expected %zu "
                      "(%u images of %ux%u)",
                      got, want, (unsigned)dims[0], (unsigned)dims[1], (unsigned)dims[2]);
    if (!rc) {
        char what[64];
        snprintf(what, sizeof what, "%u images", (unsigned)dims[0]);
        rc = src_expect_end(&s, what, err);
    }
    src_close(&s);
    if (rc) return rc;
    d->n = (int)dims[0];
    d->c = 1;
    d->h = (int)dims[1];
    d->w = (int)dims[2];
    return 0;
}

static int load_idx_labels(const char *path, const dataset *d, const char *images, int **labels,
                           epr_err *err) {
    src s;
    CHECK_STATUS(src_open(&s, path, err));
    uint32_t n;
    uint8_t *raw = NULL;
    size_t got = 0;
    int rc = idx_header(&s, IDX_MAGIC_LABELS, 1, "n", &n, err);
    if (!rc) rc = src_slurp(&s, n, &raw, &got, err);
    if (!rc && got < n)
        rc = src_fail(&s, err, EPR_EFORMAT,
                      "truncated: %zu label bytes after the 8-byte header, expected %u", got,
                      (unsigned)n);
    if (!rc) {
        char what[64];
        snprintf(what, sizeof what, "%u labels", (unsigned)n);
        rc = src_expect_end(&s, what, err);
    }
    if (!rc && (int)n != d->n)
        rc = epr_fail(err, EPR_EFORMAT, "%s has %u labels but %s has %d images", path,
                      (unsigned)n, images, d->n);
    for (uint32_t i = 0; !rc && i < n; i++)
        if (raw[i] >= N_CLASSES_10)
            rc = src_fail(&s, err, EPR_EFORMAT, "label %d at index %u out of range 0..%d",
                          raw[i], (unsigned)i, N_CLASSES_10 - 1);
    src_close(&s);
    if (!rc) {
        *labels = malloc((size_t)n * sizeof **labels);
        if (!*labels) rc = epr_fail(err, EPR_ENOMEM, "%s: out of memory", path);
    }
    for (uint32_t i = 0; !rc && i < n; i++) (*labels)[i] = raw[i];
    free(raw);
    return rc;
}

int dataset_load_idx(const char *images, const char *labels, dataset *d, epr_err *err) {
    RETURN_ERROR_IF(!d, err, EPR_EARG, "dataset_load_idx: no dataset");
    memset(d, 0, sizeof *d);
    RETURN_ERROR_IF(!images || !labels, err, EPR_EARG, "dataset_load_idx: missing file name");
    const char *files[2] = {images, labels};
    int rc = dup_files(d, files, 2, err);
    if (!rc) rc = load_idx_images(images, d, err);
    if (!rc) rc = load_idx_labels(labels, d, images, &d->labels, err);
    if (rc) {
        dataset_free(d);
        return rc;
    }
    d->n_classes = N_CLASSES_10;
    set_default_norm(d);
    return 0;
}

/* ---- CIFAR-10 ---- */

static int load_cifar_file(const char *path, dataset *d, epr_err *err) {
    src s;
    CHECK_STATUS(src_open(&s, path, err));
    uint8_t *raw;
    size_t len;
    /* The limit keeps the total count within int; more is refused below. */
    int rc = src_slurp(&s, (size_t)INT_MAX * CIFAR_RECORD, &raw, &len, err);
    src_close(&s);
    if (rc) return rc;
    if (len == 0) rc = src_fail(&s, err, EPR_EFORMAT, "empty file (expected CIFAR-10 records)");
    else if (len % CIFAR_RECORD)
        rc = src_fail(&s, err, EPR_EFORMAT,
                      "size %zu bytes is not a multiple of the %d-byte CIFAR-10 record (1 label + "
                      "3x32x32 pixels)",
                      len, CIFAR_RECORD);
    size_t nrec = len / CIFAR_RECORD;
    if (!rc && nrec > (size_t)(INT_MAX - d->n))
        rc = src_fail(&s, err, EPR_EFORMAT, "too many records in total (more than %d)", INT_MAX);
    for (size_t r = 0; !rc && r < nrec; r++)
        if (raw[r * CIFAR_RECORD] >= N_CLASSES_10)
            rc = src_fail(&s, err, EPR_EFORMAT, "label %d in record %zu out of range 0..%d",
                          raw[r * CIFAR_RECORD], r, N_CLASSES_10 - 1);
    if (!rc) {
        size_t n_new = (size_t)d->n + nrec;
        uint8_t *im = realloc(d->images, n_new * CIFAR_PIXELS);
        if (im) d->images = im;
        int *lb = im ? realloc(d->labels, n_new * sizeof *lb) : NULL;
        if (lb) d->labels = lb;
        if (!im || !lb) rc = epr_fail(err, EPR_ENOMEM, "%s: out of memory", path);
    }
    for (size_t r = 0; !rc && r < nrec; r++) {
        d->labels[(size_t)d->n + r] = raw[r * CIFAR_RECORD];
        memcpy(d->images + ((size_t)d->n + r) * CIFAR_PIXELS, raw + r * CIFAR_RECORD + 1,
               CIFAR_PIXELS);
    }
    if (!rc) d->n += (int)nrec;
    free(raw);
    return rc;
}

int dataset_load_cifar(const char **files, int nfiles, dataset *d, epr_err *err) {
    RETURN_ERROR_IF(!d, err, EPR_EARG, "dataset_load_cifar: no dataset");
    memset(d, 0, sizeof *d);
    RETURN_ERROR_IF(!files || nfiles <= 0, err, EPR_EARG, "dataset_load_cifar: no files given");
    for (int i = 0; i < nfiles; i++)
        RETURN_ERROR_IF(!files[i], err, EPR_EARG, "dataset_load_cifar: file name %d missing", i);
    int rc = dup_files(d, files, nfiles, err);
    for (int i = 0; !rc && i < nfiles; i++) rc = load_cifar_file(files[i], d, err);
    if (rc) {
        dataset_free(d);
        return rc;
    }
    d->c = 3;
    d->h = d->w = 32;
    d->n_classes = N_CLASSES_10;
    set_default_norm(d);
    return 0;
}

int dataset_random(dataset *d, int n, int c, int h, int w, int n_classes, uint64_t seed, epr_err *err) {
    memset(d, 0, sizeof *d);
    RETURN_ERROR_IF(n < 1 || c < 1 || h < 1 || w < 1 || n_classes < 1 || c > DATASET_MAX_CHANNELS, err, EPR_EARG,
                    "dataset_random: bad shape %d x %d x %d x %d, %d classes", n, c, h, w, n_classes);
    size_t in = (size_t)c * h * w;
    d->images = malloc((size_t)n * in);
    d->labels = malloc((size_t)n * sizeof *d->labels);
    if (!d->images || !d->labels) {
        dataset_free(d);
        return epr_fail(err, EPR_ENOMEM, "out of memory (%d random images)", n);
    }
    d->n = n, d->c = c, d->h = h, d->w = w, d->n_classes = n_classes;
    uint64_t s = seed * 0x9e3779b97f4a7c15ULL + 1; /* xorshift64 */
    for (size_t i = 0; i < (size_t)n * in; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        d->images[i] = (uint8_t)(s >> 24);
    }
    for (int i = 0; i < n; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        d->labels[i] = (int)(s % (uint64_t)n_classes);
    }
    return 0;
}

void dataset_free(dataset *d) {
    if (!d) return;
    if (d->map)
        munmap(d->map, d->map_len);
    else
        free(d->images);
    free(d->labels);
    free(d->source_index);
    for (int i = 0; i < d->nfiles; i++) free(d->files[i]);
    free(d->files);
    memset(d, 0, sizeof *d);
}

int dataset_set_norm_from_data(dataset *d, epr_err *err) {
    RETURN_ERROR_IF(!d || d->n <= 0 || !d->images, err, EPR_EARG, "dataset: empty data set");
    RETURN_ERROR_IF(d->c < 1 || d->c > DATASET_MAX_CHANNELS, err, EPR_EARG,
                    "dataset: %d channels (at most %d)", d->c, DATASET_MAX_CHANNELS);
    size_t hw = (size_t)d->h * (size_t)d->w, per = dataset_sample_bytes(d);
    for (int ch = 0; ch < d->c; ch++) {
        /* Exact integer sums (255^2 * pixels < 2^64 up to 2^48 pixels). */
        uint64_t s1 = 0, s2 = 0;
        for (int i = 0; i < d->n; i++) {
            const uint8_t *p = d->images + (size_t)i * per + (size_t)ch * hw;
            uint64_t a1 = 0, a2 = 0;
            for (size_t k = 0; k < hw; k++) {
                a1 += p[k];
                a2 += (uint64_t)p[k] * p[k];
            }
            s1 += a1;
            s2 += a2;
        }
        double cnt = (double)d->n * (double)hw;
        double mean = (double)s1 / cnt / 255.0;
        double var = (double)s2 / cnt / (255.0 * 255.0) - mean * mean;
        double sd = var > 0 ? sqrt(var) : 0.0;
        d->mean[ch] = (float)mean;
        d->std[ch] = sd > 1e-6 ? (float)sd : 1.0f; /* a constant channel: shift only */
    }
    d->normalize = 1;
    return 0;
}

int dataset_pad(dataset *d, int pad, epr_err *err) {
    RETURN_ERROR_IF(!d, err, EPR_EARG, "dataset_pad: no dataset");
    RETURN_ERROR_IF(pad < 0 || pad > DATASET_MAX_PAD, err, EPR_EARG, "dataset_pad: pad %d out of range 0..%d", pad,
                    DATASET_MAX_PAD);
    if (pad == 0) return 0;
    RETURN_ERROR_IF(d->store_h || d->map, err, EPR_EARG, "dataset_pad: packed data sets are cropped, not padded");
    RETURN_ERROR_IF(d->n <= 0 || !d->images || d->c < 1, err, EPR_EARG, "dataset_pad: empty data set");
    const int H = d->h + 2 * pad, W = d->w + 2 * pad;
    RETURN_ERROR_IF(H > 4096 || W > 4096, err, EPR_EARG, "dataset_pad: %dx%d images padded by %d exceed 4096x4096",
                    d->h, d->w, pad);
    const size_t old_per = dataset_sample_bytes(d), per = (size_t)d->c * (size_t)H * (size_t)W;
    RETURN_ERROR_IF((size_t)d->n > SIZE_MAX / per, err, EPR_ENOMEM, "dataset_pad: %d images of %zu bytes", d->n, per);
    uint8_t *im = calloc((size_t)d->n, per);
    RETURN_ERROR_IF(!im, err, EPR_ENOMEM, "dataset_pad: out of memory (%d images of %dx%dx%d)", d->n, d->c, H, W);
    for (int i = 0; i < d->n; i++)
        for (int ch = 0; ch < d->c; ch++)
            for (int r = 0; r < d->h; r++)
                memcpy(im + (size_t)i * per + ((size_t)ch * H + (size_t)(r + pad)) * W + pad,
                       d->images + (size_t)i * old_per + ((size_t)ch * d->h + (size_t)r) * d->w, (size_t)d->w);
    free(d->images);
    d->images = im;
    d->h = H;
    d->w = W;
    d->pad += pad;
    return 0;
}

int dataset_gather(const dataset *d, const uint32_t *idx, int n, float *x, int *y) {
    if (!d || n < 0 || (n > 0 && !idx)) return EPR_EARG;
    if (d->c < 1 || d->c > DATASET_MAX_CHANNELS) return EPR_EARG;
    for (int i = 0; i < n; i++)
        if (idx[i] >= (uint32_t)d->n) return EPR_EARG;
    size_t hw = (size_t)d->h * (size_t)d->w, per = dataset_sample_bytes(d);
    if (x) {
        /* A table per channel: the same float for the same byte, always. */
        float lut[DATASET_MAX_CHANNELS][256];
        for (int ch = 0; ch < d->c; ch++)
            for (int v = 0; v < 256; v++) {
                float f = (float)v / 255.0f;
                lut[ch][v] = d->normalize ? (f - d->mean[ch]) / d->std[ch] : f;
            }
        if (d->store_h) { /* packed: the centre h x w of the stored image */
            const int SW = d->store_w, oy = (d->store_h - d->h) / 2, ox = (SW - d->w) / 2;
            const size_t sp = (size_t)d->store_h * SW, sper = (size_t)d->c * sp;
            for (int i = 0; i < n; i++) {
                const uint8_t *p = d->images + (size_t)idx[i] * sper + (size_t)oy * SW + ox;
                float *q = x + (size_t)i * per;
                for (int ch = 0; ch < d->c; ch++, p += sp)
                    for (int r = 0; r < d->h; r++, q += d->w)
                        for (int k = 0; k < d->w; k++) q[k] = lut[ch][p[(size_t)r * SW + k]];
            }
        } else {
            for (int i = 0; i < n; i++) {
                const uint8_t *p = d->images + (size_t)idx[i] * per;
                float *q = x + (size_t)i * per;
                for (int ch = 0; ch < d->c; ch++, p += hw, q += hw)
                    for (size_t k = 0; k < hw; k++) q[k] = lut[ch][p[k]];
            }
        }
    }
    if (y)
        for (int i = 0; i < n; i++) y[i] = d->labels[idx[i]];
    return 0;
}

int dataset_gather_crop_flip(const dataset *d, const uint32_t *idx, int n, float *x, int *y, int pad, uint64_t seed,
                             long step, int position) {
    return dataset_gather_crop(d, idx, n, x, y, pad, 1, seed, step, position);
}

int dataset_gather_crop(const dataset *d, const uint32_t *idx, int n, float *x, int *y, int pad, int allow_flip,
                        uint64_t seed, long step, int position) {
    if (pad < 0 || pad > 64 || step < 0 || position < 0 || d->store_h) return EPR_EARG;
    CHECK_STATUS(dataset_gather(d, idx, n, x, y));
    if (!x) return 0;
    int H = d->h, W = d->w;
    size_t hw = (size_t)H * (size_t)W, per = dataset_sample_bytes(d);
    for (int i = 0; i < n; i++) {
        uint64_t r = epr_rng_u64(seed, EPR_STREAM_AUGMENT, (uint64_t)step << 32 | (uint64_t)(position + i));
        int dy = (int)(r % (uint64_t)(2 * pad + 1)) - pad;
        int dx = (int)((r >> 16) % (uint64_t)(2 * pad + 1)) - pad;
        int flip = allow_flip && (int)((r >> 32) & 1);
        if (!dx && !dy && !flip) continue;
        float *q = x + (size_t)i * per;
        for (int ch = 0; ch < d->c; ch++, q += hw) {
            /* padded pixels are byte 0, normalised like any other pixel */
            float zero = d->normalize ? (0.0f - d->mean[ch]) / d->std[ch] : 0.0f;
            float tmp[64 * 64];
            float *src = hw <= sizeof tmp / sizeof tmp[0] ? tmp : NULL;
            if (!src) return EPR_EARG; /* crop-flip is for small images (CIFAR) */
            memcpy(src, q, hw * sizeof(float));
            for (int yy = 0; yy < H; yy++)
                for (int xx = 0; xx < W; xx++) {
                    int sy = yy + dy, sx = (flip ? W - 1 - xx : xx) + dx;
                    q[(size_t)yy * W + xx] = sy < 0 || sy >= H || sx < 0 || sx >= W ? zero : src[(size_t)sy * W + sx];
                }
        }
    }
    return 0;
}

/* ---- sampler ---- */

/* ---- packed image files (docs/imagenet-pack.md) ---- */

enum { PACK_HEADER = 32, PACK_VERSION = 1 };
static const char PACK_MAGIC[8] = {'E', 'P', 'R', '-', 'P', 'A', 'C', 'K'};

static uint32_t le32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static unsigned le16(const unsigned char *p) { return (unsigned)p[0] | (unsigned)p[1] << 8; }

int dataset_load_pack(const char *path, int crop, dataset *d, epr_err *err) {
    RETURN_ERROR_IF(!d, err, EPR_EARG, "dataset_load_pack: no dataset");
    memset(d, 0, sizeof *d);
    RETURN_ERROR_IF(!path, err, EPR_EARG, "dataset_load_pack: no file given");
    int fd = open(path, O_RDONLY);
    RETURN_ERROR_IF(fd < 0, err, EPR_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        close(fd);
        return epr_fail(err, EPR_EIO, "%s: not a regular file", path);
    }
    const size_t len = (size_t)st.st_size;
    if (len < PACK_HEADER) {
        close(fd);
        return epr_fail(err, EPR_EFORMAT, "%s: %zu bytes, shorter than the %d-byte pack header", path, len,
                        PACK_HEADER);
    }
    void *map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
    int saved = errno;
    close(fd);
    RETURN_ERROR_IF(map == MAP_FAILED, err, EPR_EIO, "%s: cannot map: %s", path, strerror(saved));
    const unsigned char *b = map;
    int rc = 0;
    const uint32_t version = le32(b + 8), n = le32(b + 12);
    const unsigned c = le16(b + 16), h = le16(b + 18), w = le16(b + 20), classes = le16(b + 22);
    const size_t per = (size_t)c * h * w;
    if (memcmp(b, PACK_MAGIC, 8))
        rc = epr_fail(err, EPR_EFORMAT, "%s: not a packed image file (magic is not \"EPR-PACK\")", path);
    else if (version != PACK_VERSION)
        rc = epr_fail(err, EPR_EFORMAT, "%s: pack version %u (this program reads version %d)", path, version,
                      PACK_VERSION);
    else if (n == 0 || n > INT_MAX)
        rc = epr_fail(err, EPR_EFORMAT, "%s: image count %u out of range 1..%d", path, n, INT_MAX);
    else if (c < 1 || c > DATASET_MAX_CHANNELS || h < 1 || w < 1)
        rc = epr_fail(err, EPR_EFORMAT, "%s: image shape %ux%ux%u (channels 1..%d, sides >= 1)", path, c, h, w,
                      DATASET_MAX_CHANNELS);
    else if (classes < 1)
        rc = epr_fail(err, EPR_EFORMAT, "%s: zero classes", path);
    else if (le32(b + 28) != 0)
        rc = epr_fail(err, EPR_EFORMAT, "%s: reserved header bytes 28..31 are not zero", path);
    else if (len < PACK_HEADER + 2 * (size_t)n || (len - PACK_HEADER - 2 * (size_t)n) % per ||
             (len - PACK_HEADER - 2 * (size_t)n) / per != n)
        rc = epr_fail(err, EPR_EFORMAT, "%s: %zu bytes, but %u images of %ux%ux%u need exactly %.0f (truncated or "
                      "trailing bytes)", path, len, n, c, h, w, PACK_HEADER + 2.0 * n + (double)n * (double)per);
    else if (crop < 0 || crop > (int)h || crop > (int)w)
        rc = epr_fail(err, EPR_EARG, "%s: crop %d does not fit the stored %ux%u images", path, crop, h, w);
    const unsigned char *lab = b + PACK_HEADER;
    if (!rc) {
        /* crc32 over 2n bytes, in pieces (uInt may be 32 bits) */
        uLong crc = crc32(0L, Z_NULL, 0);
        for (size_t off = 0, tot = 2 * (size_t)n; off < tot;) {
            size_t k = tot - off > (1u << 30) ? (1u << 30) : tot - off;
            crc = crc32(crc, lab + off, (uInt)k);
            off += k;
        }
        if ((uint32_t)crc != le32(b + 24))
            rc = epr_fail(err, EPR_EFORMAT, "%s: label CRC32 %08x does not match the header's %08x (damaged file)",
                          path, (uint32_t)crc, le32(b + 24));
    }
    if (!rc) {
        d->labels = malloc(sizeof *d->labels * n);
        if (!d->labels) rc = epr_fail(err, EPR_ENOMEM, "%s: out of memory for %u labels", path, n);
    }
    for (uint32_t i = 0; !rc && i < n; i++) {
        unsigned v = le16(lab + 2 * (size_t)i);
        if (v >= classes)
            rc = epr_fail(err, EPR_EFORMAT, "%s: label %u of image %u out of range 0..%u", path, v, i, classes - 1);
        else
            d->labels[i] = (int)v;
    }
    if (!rc) rc = dup_files(d, &path, 1, err);
    if (rc) {
        free(d->labels);
        d->labels = NULL;
        dataset_free(d); /* files, if any */
        munmap(map, len);
        return rc;
    }
    /* Random access over a file far larger than memory: no read-ahead. */
    madvise(map, len, MADV_RANDOM);
    d->map = map;
    d->map_len = len;
    d->images = (uint8_t *)b + PACK_HEADER + 2 * (size_t)n; /* never written through */
    d->n = (int)n;
    d->c = (int)c;
    d->n_classes = (int)classes;
    d->h = crop ? crop : (int)h;
    d->w = crop ? crop : (int)w;
    if (crop && (crop != (int)h || crop != (int)w)) d->store_h = (int)h, d->store_w = (int)w;
    set_default_norm(d);
    return 0;
}

int dataset_set_norm_sampled(dataset *d, int max_images, epr_err *err) {
    RETURN_ERROR_IF(!d || d->n <= 0 || !d->images || max_images < 1, err, EPR_EARG, "dataset: empty data set");
    RETURN_ERROR_IF(d->c < 1 || d->c > DATASET_MAX_CHANNELS, err, EPR_EARG,
                    "dataset: %d channels (at most %d)", d->c, DATASET_MAX_CHANNELS);
    const int sh = d->store_h ? d->store_h : d->h, sw = d->store_h ? d->store_w : d->w;
    const size_t hw = (size_t)sh * sw, per = (size_t)d->c * hw;
    const int m = d->n < max_images ? d->n : max_images;
    for (int ch = 0; ch < d->c; ch++) {
        uint64_t s1 = 0, s2 = 0;
        for (int j = 0; j < m; j++) {
            const size_t i = (size_t)((uint64_t)j * (uint64_t)d->n / (uint64_t)m);
            const uint8_t *p = d->images + i * per + (size_t)ch * hw;
            for (size_t k = 0; k < hw; k++) {
                s1 += p[k];
                s2 += (uint64_t)p[k] * p[k];
            }
        }
        double cnt = (double)m * (double)hw;
        double mean = (double)s1 / cnt / 255.0;
        double var = (double)s2 / cnt / (255.0 * 255.0) - mean * mean;
        double sd = var > 0 ? sqrt(var) : 0.0;
        d->mean[ch] = (float)mean;
        d->std[ch] = sd > 1e-6 ? (float)sd : 1.0f;
    }
    d->normalize = 1;
    return 0;
}

int dataset_gather_rrc_flip(const dataset *d, const uint32_t *idx, int n, float *x, int *y, uint64_t seed, long step,
                            int position) {
    if (!d || n < 0 || (n > 0 && !idx) || step < 0 || position < 0) return EPR_EARG;
    if (d->c < 1 || d->c > DATASET_MAX_CHANNELS) return EPR_EARG;
    for (int i = 0; i < n; i++)
        if (idx[i] >= (uint32_t)d->n) return EPR_EARG;
    if (y)
        for (int i = 0; i < n; i++) y[i] = d->labels[idx[i]];
    if (!x) return 0;
    const int SH = d->store_h ? d->store_h : d->h, SW = d->store_h ? d->store_w : d->w, H = d->h, W = d->w;
    const size_t sp = (size_t)SH * SW, sper = (size_t)d->c * sp, op = (size_t)H * W;
    float lut[DATASET_MAX_CHANNELS][256];
    for (int ch = 0; ch < d->c; ch++)
        for (int v = 0; v < 256; v++) {
            float f = (float)v / 255.0f;
            lut[ch][v] = d->normalize ? (f - d->mean[ch]) / d->std[ch] : f;
        }
    for (int i = 0; i < n; i++) {
        /* One key per sample, as crop-flip; its draws come from a stream
         * seeded by that key, so any number of them stays keyed by
         * (seed, step, position). */
        uint64_t key = epr_rng_u64(seed, EPR_STREAM_AUGMENT, (uint64_t)step << 32 | (uint64_t)(position + i));
        epr_rng r = {key, EPR_STREAM_AUGMENT, 0};
        const double area = (double)SH * SW, lo = log(3.0 / 4.0), hi = log(4.0 / 3.0);
        int cropH = 0, cw = 0, y0 = 0, x0 = 0;
        for (int attempt = 0; attempt < 10 && !cropH; attempt++) {
            double target = area * (0.08 + 0.92 * epr_rng_next_uniform(&r));
            double ratio = exp(lo + (hi - lo) * epr_rng_next_uniform(&r));
            int tw = (int)lround(sqrt(target * ratio)), th = (int)lround(sqrt(target / ratio));
            if (tw >= 1 && th >= 1 && tw <= SW && th <= SH) {
                cropH = th, cw = tw;
                y0 = (int)epr_rng_below(&r, (uint64_t)(SH - th + 1));
                x0 = (int)epr_rng_below(&r, (uint64_t)(SW - tw + 1));
            }
        }
        if (!cropH) { /* fallback: the whole image at a ratio within [3/4, 4/3] */
            double in_ratio = (double)SW / SH;
            if (in_ratio < 0.75) cw = SW, cropH = (int)lround(SW / 0.75);
            else if (in_ratio > 4.0 / 3.0) cropH = SH, cw = (int)lround(SH * 4.0 / 3.0);
            else cw = SW, cropH = SH;
            if (cropH > SH) cropH = SH;
            if (cw > SW) cw = SW;
            y0 = (SH - cropH) / 2, x0 = (SW - cw) / 2;
        }
        const int flip = (int)(epr_rng_next(&r) & 1);
        /* Bilinear, pixel centres aligned (half-pixel offsets), edges clamped. */
        const float sy = (float)cropH / (float)H, sx = (float)cw / (float)W;
        const uint8_t *img = d->images + (size_t)idx[i] * sper;
        float *q = x + (size_t)i * (size_t)d->c * op;
        for (int ch = 0; ch < d->c; ch++, q += op) {
            const uint8_t *p = img + (size_t)ch * sp;
            for (int oy = 0; oy < H; oy++) {
                float fy = y0 + ((float)oy + 0.5f) * sy - 0.5f;
                if (fy < y0) fy = (float)y0;
                if (fy > y0 + cropH - 1) fy = (float)(y0 + cropH - 1);
                int iy = (int)fy;
                int iy1 = iy + 1 < y0 + cropH ? iy + 1 : iy;
                float wy = fy - (float)iy;
                const uint8_t *r0 = p + (size_t)iy * SW, *r1 = p + (size_t)iy1 * SW;
                for (int ox = 0; ox < W; ox++) {
                    float fx = x0 + ((float)ox + 0.5f) * sx - 0.5f;
                    if (fx < x0) fx = (float)x0;
                    if (fx > x0 + cw - 1) fx = (float)(x0 + cw - 1);
                    int ix = (int)fx;
                    int ix1 = ix + 1 < x0 + cw ? ix + 1 : ix;
                    float wx = fx - (float)ix;
                    float top = (1.0f - wx) * lut[ch][r0[ix]] + wx * lut[ch][r0[ix1]];
                    float bot = (1.0f - wx) * lut[ch][r1[ix]] + wx * lut[ch][r1[ix1]];
                    q[(size_t)oy * W + (flip ? W - 1 - ox : ox)] = (1.0f - wy) * top + wy * bot;
                }
            }
        }
    }
    return 0;
}

void sampler_epoch_perm(uint64_t seed, int64_t epoch, int n, uint32_t *perm) {
    epr_rng r = {seed, EPR_STREAM_SHUFFLE, (uint64_t)epoch << 32};
    for (int i = 0; i < n; i++) perm[i] = (uint32_t)i;
    for (int i = n - 1; i > 0; i--) {
        uint32_t j = (uint32_t)epr_rng_below(&r, (uint64_t)i + 1);
        uint32_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}

int sampler_init(sampler *s, int n, uint64_t seed, epr_err *err) {
    RETURN_ERROR_IF(!s, err, EPR_EARG, "sampler_init: no sampler");
    memset(s, 0, sizeof *s);
    RETURN_ERROR_IF(n <= 0, err, EPR_EARG, "sampler_init: data set size %d", n);
    s->perm = malloc((size_t)n * sizeof *s->perm);
    RETURN_ERROR_IF(!s->perm, err, EPR_ENOMEM, "sampler_init: out of memory (%d samples)", n);
    s->seed = seed;
    s->n = n;
    s->epoch = -1;
    return 0;
}

void sampler_free(sampler *s) {
    if (!s) return;
    free(s->perm);
    memset(s, 0, sizeof *s);
}

int sampler_batch(sampler *s, long step, int B, int begin, int end, uint32_t *out) {
    if (!s || !s->perm || step < 0 || B <= 0 || begin < 0 || begin > end || end > B)
        return EPR_EARG;
    if (end > begin && !out) return EPR_EARG;
    if ((int64_t)step > (INT64_MAX - B) / B) return EPR_EARG;
    int64_t pos = (int64_t)step * B + begin;
    int k = 0, cnt = end - begin;
    while (k < cnt) {
        int64_t e = pos / s->n;
        int i = (int)(pos % s->n);
        if (e > (int64_t)UINT32_MAX) return EPR_EARG; /* counter space: epochs < 2^32 */
        if (e != s->epoch) {
            sampler_epoch_perm(s->seed, e, s->n, s->perm);
            s->epoch = e;
        }
        int run = s->n - i < cnt - k ? s->n - i : cnt - k;
        memcpy(out + k, s->perm + i, (size_t)run * sizeof *out);
        k += run;
        pos += run;
    }
    return 0;
}
