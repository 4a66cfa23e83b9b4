/* codec/bytes_internal.h — little-endian byte writer and bounds-checked
 * reader, LEB128 varints and zigzag.  Owns no policy: the container and
 * the tables use it.  libc only.
 *
 * The reader never moves past its end: every get returns 0 on success and
 * -1 when the bytes are not there, leaving the caller to report where. */
#ifndef EPR_CODEC_BYTES_INTERNAL_H
#define EPR_CODEC_BYTES_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint8_t *p;
    size_t n, cap;
    int oom; /* sticky: set once an allocation failed */
} codec_wbuf;

static inline int codec_wbuf_reserve(codec_wbuf *b, size_t extra) {
    if (b->oom) return -1;
    if (extra > SIZE_MAX / 2 - b->n) {
        b->oom = 1;
        return -1;
    }
    if (b->n + extra <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + extra) cap *= 2;
    uint8_t *q = (uint8_t *)realloc(b->p, cap);
    if (!q) {
        b->oom = 1;
        return -1;
    }
    b->p = q;
    b->cap = cap;
    return 0;
}
static inline void codec_put_bytes(codec_wbuf *b, const void *src, size_t n) {
    if (n == 0 || codec_wbuf_reserve(b, n)) return;
    memcpy(b->p + b->n, src, n);
    b->n += n;
}
static inline void codec_put_u8(codec_wbuf *b, uint32_t v) {
    uint8_t c = (uint8_t)v;
    codec_put_bytes(b, &c, 1);
}
static inline void codec_put_u16(codec_wbuf *b, uint32_t v) {
    uint8_t c[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    codec_put_bytes(b, c, 2);
}
static inline void codec_put_u32(codec_wbuf *b, uint32_t v) {
    uint8_t c[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    codec_put_bytes(b, c, 4);
}
static inline void codec_put_u64(codec_wbuf *b, uint64_t v) {
    codec_put_u32(b, (uint32_t)v);
    codec_put_u32(b, (uint32_t)(v >> 32));
}
static inline void codec_put_f32(codec_wbuf *b, float f) {
    uint32_t v;
    memcpy(&v, &f, 4);
    codec_put_u32(b, v);
}
static inline void codec_put_varint(codec_wbuf *b, uint64_t v) {
    do {
        uint32_t c = (uint32_t)(v & 0x7f);
        v >>= 7;
        codec_put_u8(b, c | (v ? 0x80u : 0u));
    } while (v);
}
static inline size_t codec_varint_size(uint64_t v) {
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}
static inline uint64_t codec_zigzag(int64_t v) { return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63); }
static inline int64_t codec_unzigzag(uint64_t u) { return (int64_t)(u >> 1) ^ -(int64_t)(u & 1); }

typedef struct {
    const uint8_t *p, *end;
} codec_rbuf;

static inline size_t codec_rbuf_left(const codec_rbuf *r) { return (size_t)(r->end - r->p); }
static inline int codec_get_u8(codec_rbuf *r, uint32_t *v) {
    if (codec_rbuf_left(r) < 1) return -1;
    *v = r->p[0];
    r->p += 1;
    return 0;
}
static inline int codec_get_u16(codec_rbuf *r, uint32_t *v) {
    if (codec_rbuf_left(r) < 2) return -1;
    *v = (uint32_t)r->p[0] | (uint32_t)r->p[1] << 8;
    r->p += 2;
    return 0;
}
static inline uint32_t codec_load_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline int codec_get_u32(codec_rbuf *r, uint32_t *v) {
    if (codec_rbuf_left(r) < 4) return -1;
    *v = codec_load_u32(r->p);
    r->p += 4;
    return 0;
}
static inline int codec_get_u64(codec_rbuf *r, uint64_t *v) {
    uint32_t lo, hi;
    if (codec_get_u32(r, &lo) || codec_get_u32(r, &hi)) return -1;
    *v = (uint64_t)hi << 32 | lo;
    return 0;
}
static inline int codec_get_f32(codec_rbuf *r, float *f) {
    uint32_t v;
    if (codec_get_u32(r, &v)) return -1;
    memcpy(f, &v, 4);
    return 0;
}
/* Unsigned LEB128, canonical form only: at most 10 bytes, no value above
 * 2^64 - 1, and no final 0x00 byte after a continuation (the shortest
 * encoding is the only one).  0, -1 when the bytes run out, -2 when the
 * encoding is not canonical. */
static inline int codec_get_varint(codec_rbuf *r, uint64_t *v) {
    uint64_t acc = 0;
    for (int i = 0; i < 10; i++) {
        if (r->p >= r->end) return -1;
        uint32_t c = *r->p++;
        if (i == 9 && c > 1) return -2;
        acc |= (uint64_t)(c & 0x7f) << (7 * i);
        if (!(c & 0x80)) {
            if (i > 0 && c == 0) return -2;
            *v = acc;
            return 0;
        }
    }
    return -2;
}

#endif
