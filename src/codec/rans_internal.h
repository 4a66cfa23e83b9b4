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

typedef uint32_t epr_rans_state;

/* Encoder: `*pp` points one past the next free byte; bytes go downwards.
 * The caller guarantees room (at most 4 bytes per symbol + 4 at flush). */
static inline void epr_rans_enc_init(epr_rans_state *x) { *x = EPR_RANS_L; }

static inline void epr_rans_enc_put(epr_rans_state *x, uint8_t **pp, uint32_t start,
                                    uint32_t freq, uint32_t p) {
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

static inline void epr_rans_enc_flush(epr_rans_state *x, uint8_t **pp) {
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
} epr_rans_slot;

/* Decodes one symbol with state *x from table `slots` at precision p and
 * renormalises from *pp (< end).  Returns the symbol index, or -1 when the
 * stream runs out (corrupt input). */
static inline int32_t epr_rans_dec_get(uint32_t *x, const epr_rans_slot *slots, uint32_t p,
                                       const uint8_t **pp, const uint8_t *end) {
    const epr_rans_slot s = slots[*x & ((1u << p) - 1)];
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

#endif
