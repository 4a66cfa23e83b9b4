/* run/dataset_pack.c — packed image files (docs/imagenet-pack.md): the
 * header and index checked against the file's size, the images mapped
 * (mmap) rather than read, and the sampled normalisation that sets too big to
 * scan use.  May call: libc, libm, POSIX (mmap), zlib (CRC-32). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "run/dataset_internal.h"

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
        return cmn_fail(err, EPR_EIO, "%s: not a regular file", path);
    }
    const size_t len = (size_t)st.st_size;
    if (len < PACK_HEADER) {
        close(fd);
        return cmn_fail(err, EPR_EFORMAT, "%s: %zu bytes, shorter than the %d-byte pack header", path, len,
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
        rc = cmn_fail(err, EPR_EFORMAT, "%s: not a packed image file (magic is not \"EPR-PACK\")", path);
    else if (version != PACK_VERSION)
        rc = cmn_fail(err, EPR_EFORMAT, "%s: pack version %u (this program reads version %d)", path, version,
                      PACK_VERSION);
    else if (n == 0 || n > INT_MAX)
        rc = cmn_fail(err, EPR_EFORMAT, "%s: image count %u out of range 1..%d", path, n, INT_MAX);
    else if (c < 1 || c > DATASET_MAX_CHANNELS || h < 1 || w < 1)
        rc = cmn_fail(err, EPR_EFORMAT, "%s: image shape %ux%ux%u (channels 1..%d, sides >= 1)", path, c, h, w,
                      DATASET_MAX_CHANNELS);
    else if (classes < 1)
        rc = cmn_fail(err, EPR_EFORMAT, "%s: zero classes", path);
    else if (le32(b + 28) != 0)
        rc = cmn_fail(err, EPR_EFORMAT, "%s: reserved header bytes 28..31 are not zero", path);
    else if (len < PACK_HEADER + 2 * (size_t)n || (len - PACK_HEADER - 2 * (size_t)n) % per ||
             (len - PACK_HEADER - 2 * (size_t)n) / per != n)
        rc = cmn_fail(err, EPR_EFORMAT,
                      "%s: %zu bytes, but %u images of %ux%ux%u need exactly %.0f (truncated or "
                      "trailing bytes)",
                      path, len, n, c, h, w, PACK_HEADER + 2.0 * n + (double)n * (double)per);
    else if (crop < 0 || crop > (int)h || crop > (int)w)
        rc = cmn_fail(err, EPR_EARG, "%s: crop %d does not fit the stored %ux%u images", path, crop, h, w);
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
            rc = cmn_fail(err, EPR_EFORMAT, "%s: label CRC32 %08x does not match the header's %08x (damaged file)",
                          path, (uint32_t)crc, le32(b + 24));
    }
    if (!rc) {
        d->labels = malloc(sizeof *d->labels * n);
        if (!d->labels) rc = cmn_fail(err, EPR_ENOMEM, "%s: out of memory for %u labels", path, n);
    }
    for (uint32_t i = 0; !rc && i < n; i++) {
        unsigned v = le16(lab + 2 * (size_t)i);
        if (v >= classes)
            rc = cmn_fail(err, EPR_EFORMAT, "%s: label %u of image %u out of range 0..%u", path, v, i, classes - 1);
        else
            d->labels[i] = (int)v;
    }
    if (!rc) rc = dataset_files_copy(d, &path, 1, err);
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
    dataset_norm_default(d);
    return 0;
}

int dataset_set_norm_sampled(dataset *d, int max_images, epr_err *err) {
    RETURN_ERROR_IF(!d || d->n <= 0 || !d->images || max_images < 1, err, EPR_EARG, "dataset: empty data set");
    RETURN_ERROR_IF(d->c < 1 || d->c > DATASET_MAX_CHANNELS, err, EPR_EARG, "dataset: %d channels (at most %d)", d->c,
                    DATASET_MAX_CHANNELS);
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
