/* bench/bench_coder.c — speed and overhead of the rANS coder.
 *
 * 10^7 symbols drawn i.i.d. from a geometric-like distribution over 64
 * symbols (P(k) ~ 0.75^k), coded with one static table at each of a few
 * precisions, two interleaved states as in the file format.  Prints encode and decode speed in M symbols/s (best of 5
 * runs, one core) and the coded size over the self-information.  Then the
 * same through the library (epr_encode / epr_file_decode_phi), which adds
 * table selection and per-column table cycling.  Prints figures; no limits. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec/rans_internal.h"
#include "codec/tables_internal.h"
#include "common/rng.h"
#include "common/timeutil.h"
#include "epr/codec.h"

#define N 10000000
#define K 64

int main(void) {
    uint16_t *sym = malloc(sizeof *sym * N), *out = malloc(sizeof *out * N);
    uint8_t *buf = malloc(EPR_RANS2_BOUND(N));
    uint64_t counts[K] = {0};
    cmn_rng r = {2024, 1, 0};
    for (size_t i = 0; i < N; i++) {
        uint16_t s = 0;
        while (s < K - 1 && cmn_rng_next_uniform(&r) < 0.75f) s++;
        sym[i] = s;
        counts[s]++;
    }
    double H = 0;
    for (int k = 0; k < K; k++)
        if (counts[k]) H -= (double)counts[k] * log2((double)counts[k] / N);
    printf("symbols %d, alphabet %d, empirical entropy %.4f bits/symbol\n", N, K, H / N);
    printf("%4s %12s %12s %14s %14s\n", "p", "enc Msym/s", "dec Msym/s", "vs self-info", "vs entropy");

    const uint32_t precisions[] = {12, 14, 15, 16};
    for (size_t pi = 0; pi < sizeof precisions / sizeof *precisions; pi++) {
        const uint32_t p = precisions[pi];
        uint32_t freq[K], cum[K];
        codec_ctable t = {0, p, 0, K, freq};
        codec_hist_quantise(counts, K, p, freq);
        for (uint32_t k = 0, c = 0; k < K; k++) {
            cum[k] = c;
            c += freq[k];
        }
        codec_rans_slot *slots = malloc(sizeof *slots << p);
        codec_slots_build(&t, slots);
        double self = codec_table_data_bits(counts, freq, K, p);
        double best_enc = 1e9, best_dec = 1e9;
        size_t bytes = 0;
        for (int rep = 0; rep < 5; rep++) {
            double t0 = cmn_now_s();
            codec_rans2_enc enc;
            codec_rans2_enc_init(&enc, buf + EPR_RANS2_BOUND(N));
            for (size_t i = N; i-- > 0;) codec_rans2_enc_put(&enc, i, cum[sym[i]], freq[sym[i]], p);
            uint8_t *ptr = codec_rans2_enc_finish(&enc);
            double t1 = cmn_now_s();
            bytes = (size_t)(buf + EPR_RANS2_BOUND(N) - ptr);
            codec_rans2_dec d;
            int bad = codec_rans2_dec_init(&d, ptr, bytes);
            for (size_t i = 0; i < N; i += 2) { /* N is even; the container's two-at-a-time loop */
                out[i] = (uint16_t)codec_rans2_dec_get(&d, 0, slots, p);
                out[i + 1] = (uint16_t)codec_rans2_dec_get(&d, 1, slots, p);
            }
            double t2 = cmn_now_s();
            if (bad || memcmp(out, sym, sizeof *sym * N) || !codec_rans2_dec_done(&d)) {
                fprintf(stderr, "round trip FAILED at p=%u\n", p);
                return 1;
            }
            if (t1 - t0 < best_enc) best_enc = t1 - t0;
            if (t2 - t1 < best_dec) best_dec = t2 - t1;
        }
        printf("%4u %12.1f %12.1f %+13.4f%% %+13.4f%%\n", p, N / best_enc / 1e6, N / best_dec / 1e6,
               100.0 * (8.0 * (double)bytes / self - 1), 100.0 * (8.0 * (double)bytes / H - 1));
        free(slots);
    }

    /* Through the library: an affine group (one column) holding the same phi. */
    int32_t *phi = malloc(sizeof *phi * N);
    for (size_t i = 0; i < N; i++) phi[i] = (int32_t)sym[i] - 3;
    float s = 0.01f, b = 0.0f;
    epr_group_spec g = {EPR_DECODER_AFFINE, 1, 0, 0, 0, NULL, &s, &b, NULL, NULL, 0};
    epr_tensor_spec ts = {"w", 1, {N}, 0, phi, NULL};
    void *file;
    size_t size;
    epr_encode_report rep;
    epr_err e;
    double t0 = cmn_now_s();
    if (epr_encode("", 0, &g, 1, &ts, 1, &file, &size, &rep, &e)) {
        fprintf(stderr, "%s\n", e.msg);
        return 1;
    }
    double t1 = cmn_now_s();
    epr_file *f;
    if (epr_file_open_memory(file, size, &f, &e)) {
        fprintf(stderr, "%s\n", e.msg);
        return 1;
    }
    double best = 1e9;
    for (int r2 = 0; r2 < 5; r2++) {
        double a = cmn_now_s();
        if (epr_file_decode_phi(f, 0, phi, &e)) {
            fprintf(stderr, "%s\n", e.msg);
            return 1;
        }
        double z = cmn_now_s() - a;
        if (z < best) best = z;
    }
    printf("library: epr_encode %.1f Msym/s (incl. table choice), epr_file_decode_phi %.1f Msym/s, "
           "coded %zu B = %+.4f%% vs self-info (p=%d)\n",
           N / (t1 - t0) / 1e6, N / best / 1e6, rep.parts.coded,
           100.0 * (8.0 * (double)rep.parts.coded / rep.self_info_bits - 1), rep.groups[0].columns[0].precision);
    epr_file_close(f);
    epr_encode_report_free(&rep);
    free(file);
    free(phi);
    free(sym);
    free(out);
    free(buf);
    return 0;
}
