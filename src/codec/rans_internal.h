/* codec/rans_internal.h — the static-model rANS kernel (read me first).
 *
 * Owns: the coder state and its two directions.  Calls nothing (libc only
 * for types).  Tables are built elsewhere (tables.c) and passed in.
 *
 * Choices and why:
 * - 32-bit state x kept in [L, 256*L) with L = 2^23, renormalised by
 *   BYTES.  The alternative, 16-bit words, would force L = 2^16 with a
 *   32-bit state, i.e. L = M at precision p = 16; rANS loses roughly
 *   M/L bits per symbol in the worst case, so words would cost up to ~1
 *   bit/symbol at p = 16, while bytes give M/L <= 2^-7 and a measured
 *   overhead well under 0.1% (bench_coder).  Bytes also keep every stream
 *   a whole number of bytes with no padding rule.
 * - Precision p in [0, 16]; frequencies sum to M = 2^p, each >= 1.  A
 *   single-symbol support uses p = 0 (freq 1 = M): coding it is the
 *   identity on x, so a constant column costs no data bytes at all.
 * - Decoding looks the slot (x mod M) up in a per-column table of 2^p
 *   entries {symbol, freq, slot - cum}, one load per symbol.
 * - Two states interleaved in one byte stream: element e of a tensor is
 *   coded by state e & 1.  A single state is one long dependency chain
 *   (load slot -> multiply -> renormalise -> next load); two independent
 *   chains let the CPU overlap them, for about twice the decode speed, at
 *   the cost of 4 more flushed bytes per stream.
 *
 * TRAP: rANS is last-in, first-out.  The encoder must see the symbols in
 * REVERSE order (last element first) and writes bytes backwards from the
 * end of its buffer; the decoder then reads forward and produces them in
 * the natural order.  With two states the encoder flushes state 1 first
 * and state 0 last, so the stream starts with state 0 then state 1.  The
 * encoder starts both from x = L and the decoder must end on x = L for
 * both, having consumed every byte: we check that, which catches most
 * corruption even without the CRC.
 *
 * All arithmetic is on uint32_t: integer-exact on every machine. */
#ifndef EPR_CODEC_RANS_INTERNAL_H
#define EPR_CODEC_RANS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#define EPR_RANS_L (1u << 23) /* lower bound of the normalised state */

typedef uint32_t codec_rans_state;

/* Encoder: `*pp` points one past the next free byte; bytes go downwards.
 * The caller guarantees room (at most 4 bytes per symbol + 4 at flush). */
static inline void codec_rans_enc_init(codec_rans_state *x) { *x = EPR_RANS_L; }

static inline void codec_rans_enc_put(codec_rans_state *x, uint8_t **pp, uint32_t start, uint32_t freq, uint32_t p) {
    /* Renormalise so that after coding x stays below 256*L:
     * x_max = ((L >> p) << 8) * freq. */
    uint32_t x_max = ((EPR_RANS_L >> p) << 8) * freq;
    uint32_t v = *x;
    while (v >= x_max) {
        *--(*pp) = (uint8_t)(v & 0xff);
        v >>= 8;
    }
    *x = ((v / freq) << p) + (v % freq) + start;
}

static inline void codec_rans_enc_flush(codec_rans_state *x, uint8_t **pp) {
    uint32_t v = *x;
    (*pp) -= 4;
    (*pp)[0] = (uint8_t)(v);
    (*pp)[1] = (uint8_t)(v >> 8);
    (*pp)[2] = (uint8_t)(v >> 16);
    (*pp)[3] = (uint8_t)(v >> 24);
}

/* One decode slot: symbol index (into the support), its freq, and
 * slot - cum[symbol] so that decoding is x = freq*(x>>p) + bias. */
typedef struct {
    uint16_t sym, freq, bias, pad_;
} codec_rans_slot;

/* Decodes one symbol with state *x from table `slots` at precision p and
 * renormalises from *pp (< end).  Returns the symbol index, or -1 when the
 * stream runs out (corrupt input). */
static inline int32_t codec_rans_dec_get(uint32_t *x, const codec_rans_slot *slots, uint32_t p, const uint8_t **pp,
                                         const uint8_t *end) {
    const codec_rans_slot s = slots[*x & ((1u << p) - 1)];
    uint32_t v = (uint32_t)s.freq * (*x >> p) + s.bias;
    const uint8_t *q = *pp;
    while (v < EPR_RANS_L) {
        if (q == end) return -1;
        v = v << 8 | *q++;
    }
    *pp = q;
    *x = v;
    return s.sym;
}

/* ---- the two-state interleaved stream: the container's coded tensors ----
 *
 * The one home of the stream protocol (container_write.c, container_read.c,
 * tests/codec/test_rans.c and bench/bench_coder.c all go through it):
 *   bytes    [state 0, u32 LE][state 1, u32 LE][renormalisation bytes...]
 *   element  e is coded by state e & 1; the encoder is given the elements
 *            last first (e = n-1 down to 0), the decoder yields them first
 *            first; elements of one-symbol columns are skipped by both
 *            (coding the only symbol is the identity)
 *   end      a whole stream decodes to both states = L with every byte
 *            consumed (codec_rans2_dec_done).
 * A stream of n symbols takes at most EPR_RANS2_BOUND(n) bytes: at most 2
 * renormalisation bytes per symbol (x < 2^31 and x_max >= 2^15 for
 * p <= 16) plus the 8 of the two final states. */
#define EPR_RANS2_BOUND(n) (2 * (size_t)(n) + 8)

typedef struct {
    codec_rans_state x[2];
    uint8_t *ptr; /* one past the next free byte; bytes go downwards */
} codec_rans2_enc;

/* buf_end: one past the end of a buffer of EPR_RANS2_BOUND(n) bytes. */
static inline void codec_rans2_enc_init(codec_rans2_enc *e, uint8_t *buf_end) {
    codec_rans_enc_init(&e->x[0]);
    codec_rans_enc_init(&e->x[1]);
    e->ptr = buf_end;
}

/* Element `elem` (call for elem = n-1 down to 0): its symbol's cumulative
 * start and frequency at precision p. */
static inline void codec_rans2_enc_put(codec_rans2_enc *e, uint64_t elem, uint32_t start, uint32_t freq, uint32_t p) {
    codec_rans_enc_put(&e->x[elem & 1], &e->ptr, start, freq, p);
}

/* Flushes state 1 then state 0 (so the stream starts with state 0);
 * returns the first byte of the stream, which ends at buf_end. */
static inline uint8_t *codec_rans2_enc_finish(codec_rans2_enc *e) {
    codec_rans_enc_flush(&e->x[1], &e->ptr);
    codec_rans_enc_flush(&e->x[0], &e->ptr);
    return e->ptr;
}

typedef struct {
    uint32_t x[2];
    const uint8_t *p, *end;
} codec_rans2_dec;

/* 0, or -1 when the stream is shorter than its two states or a state is
 * outside [L, 256*L) (corrupt input). */
static inline int codec_rans2_dec_init(codec_rans2_dec *d, const uint8_t *buf, size_t len) {
    d->x[0] = d->x[1] = 0;
    d->p = d->end = buf + len;
    if (len < 8) return -1;
    for (int i = 0; i < 2; i++)
        d->x[i] = (uint32_t)buf[4 * i] | (uint32_t)buf[4 * i + 1] << 8 | (uint32_t)buf[4 * i + 2] << 16 |
                  (uint32_t)buf[4 * i + 3] << 24;
    d->p = buf + 8;
    return d->x[0] < EPR_RANS_L || d->x[0] >= (EPR_RANS_L << 8) || d->x[1] < EPR_RANS_L || d->x[1] >= (EPR_RANS_L << 8)
               ? -1
               : 0;
}

/* The symbol index of element `elem` (call for elem = 0, 1, ...), or -1
 * when the stream runs out. */
static inline int32_t codec_rans2_dec_get(codec_rans2_dec *d, uint64_t elem, const codec_rans_slot *slots, uint32_t p) {
    return codec_rans_dec_get(&d->x[elem & 1], slots, p, &d->p, d->end);
}

/* 1 when the stream ended exactly: both states back at L, no byte left. */
static inline int codec_rans2_dec_done(const codec_rans2_dec *d) {
    return d->x[0] == EPR_RANS_L && d->x[1] == EPR_RANS_L && d->p == d->end;
}

#endif
