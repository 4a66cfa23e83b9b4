/* study/baseline_zip.c — the lossless wrappers of the gzip and xz
 * baselines (baseline.h): a whole file through zlib (gzip wrapper, level 9)
 * or liblzma (preset 9e, CRC64), and back.  May call: libc, zlib, liblzma. */
#include <lzma.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "study/baseline.h"

int baseline_gzip(const void *in, size_t n, void **out, size_t *out_n, epr_err *err) {
    *out = NULL;
    *out_n = 0;
    RETURN_ERROR_IF(n > (size_t)UINT32_MAX / 2, err, EPR_EUNSUP, "gzip: %zu bytes is too large for one call", n);
    z_stream z;
    memset(&z, 0, sizeof z);
    /* windowBits 15 + 16: a gzip wrapper (header with mtime 0, CRC-32, size) */
    RETURN_ERROR_IF(deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK, err, EPR_ENOMEM,
                    "gzip: deflateInit2 failed");
    size_t cap = deflateBound(&z, (uLong)n) + 32;
    unsigned char *buf = malloc(cap);
    if (!buf) {
        deflateEnd(&z);
        return cmn_fail(err, EPR_ENOMEM, "out of memory");
    }
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)n;
    z.next_out = buf;
    z.avail_out = (uInt)cap;
    int r = deflate(&z, Z_FINISH);
    size_t got = cap - z.avail_out;
    deflateEnd(&z);
    if (r != Z_STREAM_END) {
        free(buf);
        return cmn_fail(err, EPR_EIO, "gzip: deflate failed (%d)", r);
    }
    *out = buf;
    *out_n = got;
    return 0;
}

int baseline_gunzip(const void *in, size_t n, void **out, size_t *out_n, epr_err *err) {
    *out = NULL;
    *out_n = 0;
    RETURN_ERROR_IF(n > (size_t)UINT32_MAX / 2, err, EPR_EUNSUP, "gunzip: %zu bytes is too large for one call", n);
    z_stream z;
    memset(&z, 0, sizeof z);
    RETURN_ERROR_IF(inflateInit2(&z, 15 + 16) != Z_OK, err, EPR_ENOMEM, "gunzip: inflateInit2 failed");
    size_t cap = 4 * n + 1024, used = 0;
    unsigned char *buf = malloc(cap);
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)n;
    int r = Z_OK;
    while (buf && r == Z_OK) {
        if (used == cap) {
            unsigned char *p = cap < (size_t)UINT32_MAX / 4 ? realloc(buf, 2 * cap) : NULL;
            if (!p) break;
            buf = p;
            cap *= 2;
        }
        z.next_out = buf + used;
        z.avail_out = (uInt)(cap - used);
        r = inflate(&z, Z_NO_FLUSH);
        used = cap - z.avail_out;
        if (r == Z_BUF_ERROR && z.avail_out == 0) r = Z_OK; /* needs room */
    }
    inflateEnd(&z);
    if (r != Z_STREAM_END || z.avail_in != 0) {
        free(buf);
        return cmn_fail(err, EPR_EFORMAT, "gunzip: not a whole gzip stream (zlib %d%s)", r,
                        r == Z_STREAM_END ? ", trailing bytes" : "");
    }
    *out = buf;
    *out_n = used;
    return 0;
}

int baseline_xz(const void *in, size_t n, void **out, size_t *out_n, epr_err *err) {
    *out = NULL;
    *out_n = 0;
    size_t cap = lzma_stream_buffer_bound(n), pos = 0;
    RETURN_ERROR_IF(cap == 0, err, EPR_EUNSUP, "xz: %zu bytes is too large", n);
    unsigned char *buf = malloc(cap);
    RETURN_ERROR_IF(!buf, err, EPR_ENOMEM, "out of memory");
    lzma_ret r = lzma_easy_buffer_encode(9 | LZMA_PRESET_EXTREME, LZMA_CHECK_CRC64, NULL, in, n, buf, &pos, cap);
    if (r != LZMA_OK) {
        free(buf);
        return cmn_fail(err, r == LZMA_MEM_ERROR ? EPR_ENOMEM : EPR_EIO, "xz: lzma_easy_buffer_encode failed (%d)",
                        (int)r);
    }
    *out = buf;
    *out_n = pos;
    return 0;
}

int baseline_unxz(const void *in, size_t n, void **out, size_t *out_n, epr_err *err) {
    *out = NULL;
    *out_n = 0;
    lzma_stream z = LZMA_STREAM_INIT;
    RETURN_ERROR_IF(lzma_stream_decoder(&z, UINT64_MAX, 0) != LZMA_OK, err, EPR_ENOMEM,
                    "unxz: lzma_stream_decoder failed");
    size_t cap = 4 * n + 1024;
    unsigned char *buf = malloc(cap);
    z.next_in = in;
    z.avail_in = n;
    lzma_ret r = LZMA_OK;
    while (buf && r == LZMA_OK) {
        if (z.total_out == cap) {
            unsigned char *p = realloc(buf, 2 * cap);
            if (!p) break;
            buf = p;
            cap *= 2;
        }
        z.next_out = buf + z.total_out;
        z.avail_out = cap - z.total_out;
        r = lzma_code(&z, LZMA_FINISH);
        if (r == LZMA_BUF_ERROR && z.avail_out == 0) r = LZMA_OK;
    }
    size_t got = (size_t)z.total_out;
    lzma_end(&z);
    if (r != LZMA_STREAM_END || z.avail_in != 0) {
        free(buf);
        return cmn_fail(err, EPR_EFORMAT, "unxz: not a whole xz stream (liblzma %d)", (int)r);
    }
    *out = buf;
    *out_n = got;
    return 0;
}
