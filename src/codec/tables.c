/* codec/tables.c — probability tables: quantisation, choice, serialisation.
 * See tables_internal.h.  Calls detmath (density tables) and libm (log2 in
 * encoder-side cost estimates only). */
#include "codec/tables_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "codec/detmath_internal.h"
#include "common/density_layout.h"
#include "common/status.h"

/* ---------------- histogram quantisation ---------------- */

typedef struct {
    double key;
    uint32_t k;
} heap_item;

/* max-heap on key, ties to the lower symbol so the result is reproducible */
static int heap_less(const heap_item *a, const heap_item *b) {
    return a->key < b->key || (a->key == b->key && a->k > b->k);
}
static void heap_down(heap_item *h, size_t n, size_t i) {
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && heap_less(&h[m], &h[l])) m = l;
        if (r < n && heap_less(&h[m], &h[r])) m = r;
        if (m == i) return;
        heap_item t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

/* Bits saved by raising a symbol's frequency from f to f+1. */
static double inc_gain(uint64_t n, uint32_t f) { return (double)n * log2((double)(f + 1) / f); }

int codec_hist_quantise(const uint64_t *counts, uint32_t K, uint32_t p, uint32_t *freq) {
    const uint32_t M = 1u << p;
    if (K == 0 || K > M) return -1;
    /* Start every symbol at 1 and hand out the other M - K units one at a
     * time to the symbol whose cost drops most.  A symbol's cost
     * n*(p - log2 f) is convex in f, so this greedy is exactly optimal;
     * it costs O(2^p log K), a few ms at p = 16. */
    for (uint32_t k = 0; k < K; k++) freq[k] = 1;
    if (K == M) return 0;
    heap_item *h = (heap_item *)malloc(sizeof *h * K);
    if (!h) return EPR_QUANTISE_NOMEM;
    for (uint32_t k = 0; k < K; k++) {
        h[k].k = k;
        h[k].key = inc_gain(counts[k], 1);
    }
    for (size_t i = K / 2; i-- > 0;) heap_down(h, K, i);
    for (uint32_t left = M - K; left > 0; left--) {
        uint32_t k = h[0].k;
        freq[k]++;
        h[0].key = inc_gain(counts[k], freq[k]);
        heap_down(h, K, 0);
    }
    free(h);
    return 0;
}

double codec_table_data_bits(const uint64_t *counts, const uint32_t *freq, uint32_t K, uint32_t p) {
    double bits = 0;
    for (uint32_t k = 0; k < K; k++)
        if (counts[k]) bits += (double)counts[k] * ((double)p - log2((double)freq[k]));
    return bits;
}

/* ---------------- density tables (deterministic) ---------------- */

typedef struct {
    double h0[3], b0[3], a0[3], h1[9], b1[3], a1[3], h2[9], b2[3], a2[3], h3[3], b3;
} density_d;

/* softplus(H) and tanh(a) once per column, in double, deterministically. */
static void density_prepare(const float *q, density_d *d) {
    for (int i = 0; i < 3; i++) {
        d->h0[i] = codec_det_softplus(q[EPR_DENSITY_H0 + i]);
        d->b0[i] = q[EPR_DENSITY_B0 + i];
        d->a0[i] = codec_det_tanh(q[EPR_DENSITY_A0 + i]);
        d->b1[i] = q[EPR_DENSITY_B1 + i];
        d->a1[i] = codec_det_tanh(q[EPR_DENSITY_A1 + i]);
        d->b2[i] = q[EPR_DENSITY_B2 + i];
        d->a2[i] = codec_det_tanh(q[EPR_DENSITY_A2 + i]);
        d->h3[i] = codec_det_softplus(q[EPR_DENSITY_H3 + i]);
    }
    for (int i = 0; i < 9; i++) {
        d->h1[i] = codec_det_softplus(q[EPR_DENSITY_H1 + i]);
        d->h2[i] = codec_det_softplus(q[EPR_DENSITY_H2 + i]);
    }
    d->b3 = q[EPR_DENSITY_B3];
}

/* One 3 -> 3 layer: x_i <- sum_j h[i][j] x_j (j ascending) + b_i, then
 * x_i <- x_i + a_i tanh(x_i).  The order is part of the format. */
static void layer33(const double *h, const double *b, const double *a, double *x) {
    double y[3];
    for (int i = 0; i < 3; i++) {
        double acc = 0.0;
        for (int j = 0; j < 3; j++) acc = acc + h[3 * i + j] * x[j];
        y[i] = acc + b[i];
        y[i] = y[i] + a[i] * codec_det_tanh(y[i]);
    }
    memcpy(x, y, sizeof y);
}

static double density_logits(const density_d *d, double v) {
    double x[3];
    for (int i = 0; i < 3; i++) {
        x[i] = d->h0[i] * v + d->b0[i];
        x[i] = x[i] + d->a0[i] * codec_det_tanh(x[i]);
    }
    layer33(d->h1, d->b1, d->a1, x);
    layer33(d->h2, d->b2, d->a2, x);
    double acc = 0.0;
    for (int j = 0; j < 3; j++) acc = acc + d->h3[j] * x[j];
    return acc + d->b3;
}

int codec_density_pmf(const float *params, int32_t min, uint32_t K, double *pmf) {
    density_d d;
    density_prepare(params, &d);
    double lo = density_logits(&d, (double)min - 0.5), lo_p, lo_m;
    codec_det_sigmoid_pair(lo, &lo_p, &lo_m);
    double total = 0.0;
    for (uint32_t k = 0; k < K; k++) {
        double hi = density_logits(&d, (double)min + (double)k + 0.5), hi_p, hi_m;
        codec_det_sigmoid_pair(hi, &hi_p, &hi_m);
        /* Sign trick: take the difference on the side where the sigmoids
         * are small, so the tail probabilities keep their precision:
         * l + u > 0 -> sigmoid(-l) - sigmoid(-u), else sigmoid(u) - sigmoid(l). */
        double pk = lo + hi > 0 ? lo_m - hi_m : hi_p - lo_p;
        if (pk < 0) pk = -pk;
        if (!(pk <= 1.0)) return -1; /* NaN or garbage parameters */
        pmf[k] = pk;
        total = total + pk;
        lo = hi;
        lo_p = hi_p;
        lo_m = hi_m;
    }
    return total > 0.0 && total <= (double)K ? 0 : -1;
}

typedef struct {
    double frac;
    uint32_t k;
} frac_item;

static int frac_cmp(const void *a, const void *b) {
    const frac_item *x = (const frac_item *)a, *y = (const frac_item *)b;
    if (x->frac != y->frac) return x->frac > y->frac ? -1 : 1;
    return x->k < y->k ? -1 : x->k > y->k; /* total order: qsort result is unique */
}

int codec_density_quantise(const double *pmf, uint32_t K, uint32_t p, uint32_t *freq) {
    const uint32_t M = 1u << p;
    if (K == 0 || K > M) return -1;
    if (K == 1) {
        freq[0] = M;
        return 0;
    }
    double total = 0.0;
    for (uint32_t k = 0; k < K; k++) total = total + pmf[k];
    if (!(total > 0.0)) return -1;
    const uint32_t spare = M - K;
    frac_item *fr = (frac_item *)malloc(sizeof *fr * K);
    if (!fr) return EPR_QUANTISE_NOMEM;
    int64_t sum = 0;
    for (uint32_t k = 0; k < K; k++) {
        double q = pmf[k] / total * (double)spare;
        if (!(q >= 0.0)) q = 0.0;
        if (q > (double)spare) q = (double)spare;
        uint32_t fl = (uint32_t)q;
        freq[k] = 1 + fl;
        fr[k].frac = q - (double)fl;
        fr[k].k = k;
        sum += freq[k];
    }
    /* Rounding of the shares may overshoot by a unit: take it back from the
     * largest frequency (lowest index on ties). */
    while (sum > M) {
        uint32_t best = 0;
        for (uint32_t k = 1; k < K; k++)
            if (freq[k] > freq[best]) best = k;
        freq[best]--;
        sum--;
    }
    if (sum < M) {
        qsort(fr, K, sizeof *fr, frac_cmp);
        for (uint32_t i = 0; sum < M; i = (i + 1) % K) {
            freq[fr[i].k]++;
            sum++;
        }
    }
    free(fr);
    return 0;
}

/* ---------------- serialisation ---------------- */

/* Exp-Golomb of order k: v + 2^k written as (bitlen - 1 - k) zeros then its
 * bitlen bits, most significant first; bits packed LSB-first into bytes. */
static unsigned bitlen32(uint32_t v) {
    unsigned n = 0;
    while (v) {
        n++;
        v >>= 1;
    }
    return n;
}
static size_t eg_bits(uint32_t v, unsigned k) {
    unsigned n = bitlen32(v + (1u << k));
    return 2 * (size_t)n - 1 - k;
}

/* Best order and total payload bits for the first K-1 frequencies (the last
 * one is implied by the sum). */
static unsigned eg_best_order(const uint32_t *freq, uint32_t K, size_t *bits_out) {
    unsigned best_k = 0;
    size_t best = SIZE_MAX;
    for (unsigned k = 0; k < 16; k++) {
        size_t bits = 4;
        for (uint32_t i = 0; i + 1 < K; i++) bits += eg_bits(freq[i] - 1, k);
        if (bits < best) {
            best = bits;
            best_k = k;
        }
    }
    *bits_out = best;
    return best_k;
}

size_t codec_hist_payload_size(const uint32_t *freq, uint32_t K) {
    if (K < 2) return 0;
    size_t bits;
    eg_best_order(freq, K, &bits);
    return (bits + 7) / 8;
}

typedef struct {
    codec_wbuf *b;
    uint32_t acc;
    unsigned n;
} bitw;
static void bitw_put(bitw *w, uint32_t v, unsigned nbits) { /* MSB first */
    for (unsigned i = nbits; i-- > 0;) {
        w->acc |= ((v >> i) & 1u) << w->n;
        if (++w->n == 8) {
            codec_put_u8(w->b, w->acc);
            w->acc = 0;
            w->n = 0;
        }
    }
}
static void bitw_flush(bitw *w) {
    if (w->n) codec_put_u8(w->b, w->acc);
    w->acc = 0;
    w->n = 0;
}

static size_t column_header_size(const codec_ctable *t) {
    return 2 + codec_varint_size(codec_zigzag(t->min)) + codec_varint_size(t->K - 1);
}

void codec_column_write(codec_wbuf *b, const codec_ctable *t, const float *density) {
    codec_put_u8(b, (uint32_t)t->kind);
    codec_put_u8(b, t->p);
    codec_put_varint(b, codec_zigzag(t->min));
    codec_put_varint(b, t->K - 1);
    if (t->kind == EPR_TABLE_DENSITY) {
        for (int i = 0; i < EPR_DENSITY_PARAMS_PER_COLUMN; i++) codec_put_f32(b, density[i]);
        return;
    }
    if (t->K < 2) return;
    size_t bits;
    unsigned k = eg_best_order(t->freq, t->K, &bits);
    bitw w = {b, 0, 0};
    bitw_put(&w, k, 4);
    for (uint32_t i = 0; i + 1 < t->K; i++) {
        uint32_t v = t->freq[i] - 1 + (1u << k);
        unsigned n = bitlen32(v);
        bitw_put(&w, 0, n - 1 - k);
        bitw_put(&w, v, n);
    }
    bitw_flush(&w);
}

typedef struct {
    codec_rbuf *r;
    uint32_t acc;
    unsigned n;
} bitr;
static int bitr_get(bitr *br, uint32_t *bit) {
    if (br->n == 0) {
        uint32_t c;
        if (codec_get_u8(br->r, &c)) return -1;
        br->acc = c;
        br->n = 8;
    }
    *bit = br->acc & 1u;
    br->acc >>= 1;
    br->n--;
    return 0;
}

static int read_varint(codec_rbuf *r, uint64_t *v, const char *field, epr_err *err, int group, int column) {
    int rc = codec_get_varint(r, v);
    RETURN_ERROR_IF(rc == -1, err, EPR_EFORMAT, "group %d column %d: truncated table header (%s)", group, column,
                    field);
    RETURN_ERROR_IF(rc, err, EPR_EFORMAT, "group %d column %d: %s is not a canonical varint (overlong or over 64 bits)",
                    group, column, field);
    return EPR_OK;
}

/* The bit string of a histogram payload ends at a byte boundary with zero
 * padding bits. */
static int check_padding(const bitr *br, epr_err *err, int group, int column) {
    RETURN_ERROR_IF(br->acc != 0, err, EPR_EFORMAT, "group %d column %d: non-zero padding bits after the frequencies",
                    group, column);
    return EPR_OK;
}

int codec_column_read(codec_rbuf *r, codec_column_desc *c, epr_err *err, int group, int column) {
    const uint8_t *start = r->p;
    uint32_t kind, p;
    uint64_t zmin, km1;
    memset(c, 0, sizeof *c);
    RETURN_ERROR_IF(codec_get_u8(r, &kind) || codec_get_u8(r, &p), err, EPR_EFORMAT,
                    "group %d column %d: truncated table header", group, column);
    CHECK_STATUS(read_varint(r, &zmin, "zigzag(min)", err, group, column));
    CHECK_STATUS(read_varint(r, &km1, "K - 1", err, group, column));
    RETURN_ERROR_IF(kind > EPR_TABLE_DENSITY, err, EPR_EFORMAT, "group %d column %d: unknown table kind %u", group,
                    column, kind);
    RETURN_ERROR_IF(p > EPR_MAX_PRECISION, err, EPR_EFORMAT, "group %d column %d: precision %u > %d", group, column, p,
                    EPR_MAX_PRECISION);
    int64_t min = codec_unzigzag(zmin);
    RETURN_ERROR_IF(zmin > UINT32_MAX || km1 >= (1u << p) || min + (int64_t)km1 > INT32_MAX, err, EPR_EFORMAT,
                    "group %d column %d: support [%lld, +%llu] invalid at precision %u", group, column, (long long)min,
                    (unsigned long long)km1, p);
    c->t.kind = (int)kind;
    c->t.p = p;
    c->t.min = (int32_t)min;
    c->t.K = (uint32_t)km1 + 1;
    const uint32_t K = c->t.K, M = 1u << p;
    if (kind == EPR_TABLE_DENSITY) {
        for (int i = 0; i < EPR_DENSITY_PARAMS_PER_COLUMN; i++) {
            RETURN_ERROR_IF(codec_get_f32(r, &c->density[i]), err, EPR_EFORMAT,
                            "group %d column %d: truncated density parameters", group, column);
            RETURN_ERROR_IF(!isfinite(c->density[i]), err, EPR_EFORMAT,
                            "group %d column %d: density parameter %d is not finite", group, column, i);
        }
        c->bytes = (size_t)(r->p - start);
        return EPR_OK;
    }
    /* Each stored frequency takes at least one bit, so K is bounded by the
     * bytes left: check before allocating. */
    RETURN_ERROR_IF(K > 1 && (K - 1) > 8 * (uint64_t)codec_rbuf_left(r), err, EPR_EFORMAT,
                    "group %d column %d: %u frequencies cannot fit in %zu bytes", group, column, K, codec_rbuf_left(r));
    c->t.freq = (uint32_t *)malloc(sizeof(uint32_t) * K);
    RETURN_ERROR_IF(!c->t.freq, err, EPR_ENOMEM, "group %d column %d: out of memory", group, column);
    if (K == 1) {
        c->t.freq[0] = M;
    } else {
        bitr br = {r, 0, 0};
        uint32_t order = 0, bit;
        uint64_t sum = 0;
        for (int i = 0; i < 4; i++) {
            RETURN_ERROR_IF(bitr_get(&br, &bit), err, EPR_EFORMAT, "group %d column %d: truncated frequencies", group,
                            column);
            order = order << 1 | bit;
        }
        for (uint32_t i = 0; i + 1 < K; i++) {
            unsigned zeros = 0;
            for (;;) {
                RETURN_ERROR_IF(bitr_get(&br, &bit), err, EPR_EFORMAT, "group %d column %d: truncated frequencies",
                                group, column);
                if (bit) break;
                /* freq - 1 < 2^16, so v = freq - 1 + 2^order has at most
                 * 17 bits: zeros + order <= 16. */
                RETURN_ERROR_IF(++zeros + order > 16, err, EPR_EFORMAT, "group %d column %d: frequency code too long",
                                group, column);
            }
            uint32_t v = 1;
            for (unsigned j = 0; j < zeros + order; j++) {
                RETURN_ERROR_IF(bitr_get(&br, &bit), err, EPR_EFORMAT, "group %d column %d: truncated frequencies",
                                group, column);
                v = v << 1 | bit;
            }
            uint64_t f = (uint64_t)v - (1u << order) + 1;
            sum += f;
            RETURN_ERROR_IF(v < (1u << order) || sum > M - 1, err, EPR_EFORMAT,
                            "group %d column %d: frequencies exceed 2^%u", group, column, p);
            c->t.freq[i] = (uint32_t)f;
        }
        c->t.freq[K - 1] = (uint32_t)(M - sum); /* >= 1 by the check above */
        CHECK_STATUS(check_padding(&br, err, group, column));
    }
    c->bytes = (size_t)(r->p - start);
    return EPR_OK;
}

int codec_column_build_density(codec_column_desc *c, epr_err *err, int group, int column) {
    const uint32_t K = c->t.K;
    double *pmf = (double *)malloc(sizeof(double) * K);
    uint32_t *freq = (uint32_t *)malloc(sizeof(uint32_t) * K);
    int rc = EPR_OK;
    int q = -1; /* 0: a table; -1: no valid distribution; EPR_QUANTISE_NOMEM */
    if (pmf && freq && codec_density_pmf(c->density, c->t.min, K, pmf) == 0)
        q = codec_density_quantise(pmf, K, c->t.p, freq);
    if (!pmf || !freq || q == EPR_QUANTISE_NOMEM) {
        rc = cmn_fail(err, EPR_ENOMEM, "group %d column %d: out of memory", group, column);
    } else if (q) {
        rc = cmn_fail(err, EPR_EFORMAT, "group %d column %d: density parameters give no valid distribution", group,
                      column);
    }
    free(pmf);
    if (rc) {
        free(freq);
        return rc;
    }
    free(c->t.freq);
    c->t.freq = freq;
    return EPR_OK;
}

/* ---------------- choosing a table per column ---------------- */

static uint32_t min_precision(uint32_t K) {
    uint32_t p = 0;
    while ((1u << p) < K) p++;
    return p;
}

int codec_column_choose(const uint64_t *counts, int32_t min, uint32_t K, const float *density, codec_column_choice *out,
                        epr_err *err) {
    memset(out, 0, sizeof *out);
    RETURN_ERROR_IF(K == 0 || K > EPR_MAX_SUPPORT, err, EPR_EUNSUP, "column support of %u symbols exceeds 2^%d", K,
                    EPR_MAX_PRECISION);
    uint32_t *freq = (uint32_t *)malloc(sizeof(uint32_t) * K);
    uint32_t *best = (uint32_t *)malloc(sizeof(uint32_t) * K);
    double *pmf = density ? (double *)malloc(sizeof(double) * K) : NULL;
    if (!freq || !best || (density && !pmf)) {
        free(freq);
        free(best);
        free(pmf);
        return cmn_fail(err, EPR_ENOMEM, "out of memory choosing a table");
    }
    codec_ctable t = {EPR_TABLE_HISTOGRAM, 0, min, K, NULL};
    double best_total = INFINITY, best_data = 0;
    int best_kind = EPR_TABLE_HISTOGRAM;
    uint32_t best_p = 0;
    size_t best_bytes = 0;
    out->hist_total_bits = -1;
    out->dens_total_bits = -1;
    const uint32_t p0 = min_precision(K);
    int nomem = 0; /* a quantiser could not allocate: an error, not a table to skip */
    for (uint32_t p = p0; p <= EPR_MAX_PRECISION && !nomem; p++) {
        int q = codec_hist_quantise(counts, K, p, freq);
        nomem = q == EPR_QUANTISE_NOMEM;
        if (q) continue;
        t.p = p;
        t.freq = freq;
        size_t bytes = column_header_size(&t) + codec_hist_payload_size(freq, K);
        double data = codec_table_data_bits(counts, freq, K, p);
        double total = 8.0 * (double)bytes + data;
        if (out->hist_total_bits < 0 || total < out->hist_total_bits) out->hist_total_bits = total;
        if (total < best_total) {
            best_total = total;
            best_data = data;
            best_kind = EPR_TABLE_HISTOGRAM;
            best_p = p;
            best_bytes = bytes;
            memcpy(best, freq, sizeof(uint32_t) * K);
        }
        if (K == 1) break; /* p = 0 already costs no data */
    }
    /* A density with a non-finite parameter is never chosen: the reader
     * refuses to parse one. */
    int finite = density != NULL;
    for (int i = 0; finite && i < EPR_DENSITY_PARAMS_PER_COLUMN; i++) finite = isfinite(density[i]);
    if (!nomem && finite && K > 1 && codec_density_pmf(density, min, K, pmf) == 0) {
        for (uint32_t p = p0; p <= EPR_MAX_PRECISION && !nomem; p++) {
            int q = codec_density_quantise(pmf, K, p, freq);
            nomem = q == EPR_QUANTISE_NOMEM;
            if (q) continue;
            t.p = p;
            size_t bytes = column_header_size(&t) + 4 * EPR_DENSITY_PARAMS_PER_COLUMN;
            double data = codec_table_data_bits(counts, freq, K, p);
            double total = 8.0 * (double)bytes + data;
            if (out->dens_total_bits < 0 || total < out->dens_total_bits) out->dens_total_bits = total;
            if (total < best_total) {
                best_total = total;
                best_data = data;
                best_kind = EPR_TABLE_DENSITY;
                best_p = p;
                best_bytes = bytes;
                memcpy(best, freq, sizeof(uint32_t) * K);
            }
        }
    }
    free(freq);
    free(pmf);
    if (nomem) {
        free(best);
        return cmn_fail(err, EPR_ENOMEM, "out of memory choosing a table");
    }
    out->t.kind = best_kind;
    out->t.p = best_p;
    out->t.min = min;
    out->t.K = K;
    out->t.freq = best;
    out->table_bytes = best_bytes;
    out->data_bits = best_data;
    return EPR_OK;
}

void codec_slots_build(const codec_ctable *t, codec_rans_slot *slots) {
    uint32_t cum = 0;
    for (uint32_t k = 0; k < t->K; k++) {
        for (uint32_t j = 0; j < t->freq[k]; j++) {
            slots[cum + j].sym = (uint16_t)k;
            slots[cum + j].freq = (uint16_t)t->freq[k];
            slots[cum + j].bias = (uint16_t)j;
            slots[cum + j].pad_ = 0;
        }
        cum += t->freq[k];
    }
}
