/* run/dataset.c — IDX and CIFAR-10 loaders, synthetic sets, the
 * normalisation and padding of a loaded set (batches, augmentation and the
 * sampler: dataset_gather.c; packed image files: dataset_pack.c).
 *
 * Owns the file formats' validation: every byte of an input file is either
 * header, payload or an error (no silent truncation, no ignored tail).
 * Reads through zlib's gzread, which passes raw files through unchanged, so
 * one code path serves both; gzip is recognised by its magic bytes only to
 * say so in messages.  May call: libc, libm, zlib, common/status.h,
 * common/rng.h.  See dataset.h for the sampler's definition. */
#include "run/dataset_internal.h"

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
    return cmn_fail(err, code, "%s%s: %s", s->path, s->is_gzip ? " (gzip)" : "", what);
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
                return src_fail(s, err, EPR_EIO, "read error at byte %zu: %s", s->offset + *got, strerror(errno));
            if (zerr == Z_BUF_ERROR)
                return src_fail(s, err, EPR_EFORMAT, "truncated gzip stream after %zu decompressed bytes (%s)",
                                s->offset + *got, msg);
            return src_fail(s, err, EPR_EFORMAT, "corrupt gzip stream after %zu bytes: %s", s->offset + *got, msg);
        }
        if (r == 0) {
            /* zlib reports a gzip stream cut short only here: gzread says
             * end of input and leaves Z_BUF_ERROR for gzerror. */
            int zerr;
            const char *msg = zlib_what(s, gzerror(s->gz, &zerr));
            if (zerr != Z_OK)
                return src_fail(s, err, EPR_EFORMAT, "truncated gzip stream after %zu decompressed bytes (%s)",
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
    RETURN_ERROR_IF(more, err, EPR_EFORMAT, "%s%s: %zu trailing bytes after %s", s->path, s->is_gzip ? " (gzip)" : "",
                    more, what);
    return 0;
}

static uint32_t be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Reads and checks an IDX header of unsigned bytes with `ndims` dims. */
static int idx_header(src *s, uint32_t magic_want, int ndims, const char *dims_doc, uint32_t *dims, epr_err *err) {
    unsigned char h[4 + 4 * 3];
    size_t got;
    CHECK_STATUS(src_read(s, h, 4, &got, err));
    if (got == 0) return src_fail(s, err, EPR_EFORMAT, "empty file (expected an IDX header)");
    if (got < 4) return src_fail(s, err, EPR_EFORMAT, "truncated IDX header (%zu bytes)", got);
    uint32_t magic = be32(h);
    if (h[0] != 0 || h[1] != 0)
        return src_fail(s, err, EPR_EFORMAT, "bad magic 0x%08x (not IDX; expected 0x%08x)", (unsigned)magic,
                        (unsigned)magic_want);
    if (h[2] != 0x08)
        return src_fail(s, err, EPR_EUNSUP,
                        "bad magic 0x%08x: IDX element type 0x%02x unsupported (expected 0x08, "
                        "unsigned byte)",
                        (unsigned)magic, h[2]);
    if (h[3] != ndims)
        return src_fail(s, err, EPR_EFORMAT, "wrong dimension count %d in magic 0x%08x (expected %d: %s)", h[3],
                        (unsigned)magic, ndims, dims_doc);
    CHECK_STATUS(src_read(s, h + 4, 4 * (size_t)ndims, &got, err));
    if (got < 4 * (size_t)ndims)
        return src_fail(s, err, EPR_EFORMAT, "truncated IDX header (%zu bytes, expected %d)", 4 + got, 4 + 4 * ndims);
    for (int i = 0; i < ndims; i++) dims[i] = be32(h + 4 + 4 * i);
    if (dims[0] == 0) return src_fail(s, err, EPR_EFORMAT, "header says 0 items");
    if (dims[0] > INT_MAX)
        return src_fail(s, err, EPR_EFORMAT, "header says %u items (more than %d)", (unsigned)dims[0], INT_MAX);
    return 0;
}

int dataset_files_copy(dataset *d, const char **files, int nfiles, epr_err *err) {
    d->files = calloc((size_t)nfiles, sizeof *d->files);
    RETURN_ERROR_IF(!d->files, err, EPR_ENOMEM, "dataset: out of memory");
    d->nfiles = nfiles;
    for (int i = 0; i < nfiles; i++) {
        d->files[i] = strdup(files[i]);
        RETURN_ERROR_IF(!d->files[i], err, EPR_ENOMEM, "dataset: out of memory");
    }
    return 0;
}

void dataset_norm_default(dataset *d) {
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
    if (!rc && (dims[1] == 0 || dims[2] == 0 || (uint64_t)dims[1] * dims[2] > MAX_PIXELS_PER_IMAGE))
        rc = src_fail(&s, err, EPR_EFORMAT, "implausible image size %ux%u", (unsigned)dims[1], (unsigned)dims[2]);
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

static int load_idx_labels(const char *path, const dataset *d, const char *images, int **labels, epr_err *err) {
    src s;
    CHECK_STATUS(src_open(&s, path, err));
    uint32_t n;
    uint8_t *raw = NULL;
    size_t got = 0;
    int rc = idx_header(&s, IDX_MAGIC_LABELS, 1, "n", &n, err);
    if (!rc) rc = src_slurp(&s, n, &raw, &got, err);
    if (!rc && got < n)
        rc = src_fail(&s, err, EPR_EFORMAT, "truncated: %zu label bytes after the 8-byte header, expected %u", got,
                      (unsigned)n);
    if (!rc) {
        char what[64];
        snprintf(what, sizeof what, "%u labels", (unsigned)n);
        rc = src_expect_end(&s, what, err);
    }
    if (!rc && (int)n != d->n)
        rc = cmn_fail(err, EPR_EFORMAT, "%s has %u labels but %s has %d images", path, (unsigned)n, images, d->n);
    for (uint32_t i = 0; !rc && i < n; i++)
        if (raw[i] >= N_CLASSES_10)
            rc = src_fail(&s, err, EPR_EFORMAT, "label %d at index %u out of range 0..%d", raw[i], (unsigned)i,
                          N_CLASSES_10 - 1);
    src_close(&s);
    if (!rc) {
        *labels = malloc((size_t)n * sizeof **labels);
        if (!*labels) rc = cmn_fail(err, EPR_ENOMEM, "%s: out of memory", path);
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
    int rc = dataset_files_copy(d, files, 2, err);
    if (!rc) rc = load_idx_images(images, d, err);
    if (!rc) rc = load_idx_labels(labels, d, images, &d->labels, err);
    if (rc) {
        dataset_free(d);
        return rc;
    }
    d->n_classes = N_CLASSES_10;
    dataset_norm_default(d);
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
    if (len == 0)
        rc = src_fail(&s, err, EPR_EFORMAT, "empty file (expected CIFAR-10 records)");
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
            rc = src_fail(&s, err, EPR_EFORMAT, "label %d in record %zu out of range 0..%d", raw[r * CIFAR_RECORD], r,
                          N_CLASSES_10 - 1);
    if (!rc) {
        size_t n_new = (size_t)d->n + nrec;
        uint8_t *im = realloc(d->images, n_new * CIFAR_PIXELS);
        if (im) d->images = im;
        int *lb = im ? realloc(d->labels, n_new * sizeof *lb) : NULL;
        if (lb) d->labels = lb;
        if (!im || !lb) rc = cmn_fail(err, EPR_ENOMEM, "%s: out of memory", path);
    }
    for (size_t r = 0; !rc && r < nrec; r++) {
        d->labels[(size_t)d->n + r] = raw[r * CIFAR_RECORD];
        memcpy(d->images + ((size_t)d->n + r) * CIFAR_PIXELS, raw + r * CIFAR_RECORD + 1, CIFAR_PIXELS);
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
    int rc = dataset_files_copy(d, files, nfiles, err);
    for (int i = 0; !rc && i < nfiles; i++) rc = load_cifar_file(files[i], d, err);
    if (rc) {
        dataset_free(d);
        return rc;
    }
    d->c = 3;
    d->h = d->w = 32;
    d->n_classes = N_CLASSES_10;
    dataset_norm_default(d);
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
        return cmn_fail(err, EPR_ENOMEM, "out of memory (%d random images)", n);
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
    RETURN_ERROR_IF(d->c < 1 || d->c > DATASET_MAX_CHANNELS, err, EPR_EARG, "dataset: %d channels (at most %d)", d->c,
                    DATASET_MAX_CHANNELS);
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
