/* codec/tables_internal.h — per-column probability tables.
 *
 * Owns: quantising a histogram or a learned density to integer
 * frequencies (sum 2^p, each >= 1), choosing the precision p and the
 * table kind per column, the column's serialised form, and the rANS
 * decode slots.  Calls detmath (density tables, which the decoder must
 * rebuild bit for bit) and libm (encoder-side costs only, whose results
 * are written explicitly into the file). */
#ifndef EPR_CODEC_TABLES_INTERNAL_H
#define EPR_CODEC_TABLES_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "codec/bytes_internal.h"
#include "codec/rans_internal.h"
#include "epr/codec.h"

#define EPR_MAX_SUPPORT (1u << EPR_MAX_PRECISION) /* K <= 2^p <= 2^16 */

/* A column's table as both sides see it. */
typedef struct {
    int kind;    /* epr_table_kind */
    uint32_t p;  /* precision */
    int32_t min; /* support [min, min + K - 1] */
    uint32_t K;
    uint32_t *freq; /* [K], malloc'd; sum 2^p, each >= 1 */
} codec_ctable;

/* Encoder's per-column decision. */
typedef struct {
    codec_ctable t;
    size_t table_bytes;                      /* serialised column size */
    double data_bits;                        /* self-information of the column's phi under t */
    double hist_total_bits, dens_total_bits; /* table + data of each option (-1: n/a) */
} codec_column_choice;

/* Histogram counts -> frequencies at precision p with minimal added cost
 * (greedy from proportional rounding; exact for this separable convex
 * problem).  counts may contain zeros; needs K <= 2^p.  0 or -1 (no memory). */
/* What the quantisers return when they cannot allocate their scratch
 * (other failures: -1, the table is not possible at that precision). */
#define EPR_QUANTISE_NOMEM (-2)
int codec_hist_quantise(const uint64_t *counts, uint32_t K, uint32_t p, uint32_t *freq);
/* sum_k counts[k] * (p - log2 freq[k]). */
double codec_table_data_bits(const uint64_t *counts, const uint32_t *freq, uint32_t K, uint32_t p);

/* Deterministic discretised density over [min, min+K-1]:
 * pmf[k] = c(min+k+1/2) - c(min+k-1/2) with the sign trick, unnormalised.
 * Returns -1 if any value is not finite or all are zero. */
int codec_density_pmf(const float *params, int32_t min, uint32_t K, double *pmf);
/* pmf -> frequencies at precision p: 1 + floor(share of 2^p - K), the rest
 * by largest remainder (ties: lower symbol).  Deterministic.  0 or -1. */
int codec_density_quantise(const double *pmf, uint32_t K, uint32_t p, uint32_t *freq);

/* Picks kind and precision for one column (counts over the support). */
int codec_column_choose(const uint64_t *counts, int32_t min, uint32_t K, const float *density, codec_column_choice *out,
                        epr_err *err);
/* Serialised column: u8 kind, u8 p, varint zigzag(min), varint K-1, payload
 * (histogram: Exp-Golomb frequencies; density: 43 float32). */
void codec_column_write(codec_wbuf *b, const codec_ctable *t, const float *density);
size_t codec_hist_payload_size(const uint32_t *freq, uint32_t K);

/* Parsed column (reader side).  For histogram tables freq is filled at
 * parse time (bounded by the payload size); density tables keep a copy of
 * their parameters and are quantised on first decode (K <= 2^16 values
 * that the payload does not bound, so the reader budgets them). */
typedef struct {
    codec_ctable t;
    float density[EPR_DENSITY_PARAMS_PER_COLUMN];
    size_t bytes; /* serialised size */
} codec_column_desc;

int codec_column_read(codec_rbuf *r, codec_column_desc *c, epr_err *err, int group, int column);
/* Fills freq of a density column (allocates it). */
int codec_column_build_density(codec_column_desc *c, epr_err *err, int group, int column);

/* slots[2^p] for a table with K >= 2. */
void codec_slots_build(const codec_ctable *t, codec_rans_slot *slots);

#endif
