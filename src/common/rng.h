/* common/rng.h — counter-based random numbers (keyed hash, no state).
 *
 * Any random number that touches parameters is a pure function of
 * (seed, stream, counter), so it does not depend on the rank count or on
 * the order in which elements are visited.  The mixer is SplitMix64's
 * finaliser applied twice over the three keys: cheap, well distributed, and
 * reproducible bit-for-bit on every machine (and on the GPU: the EPR_HD
 * functions are compiled for the device too).  Depends on libc only. */
#ifndef EPR_COMMON_RNG_H
#define EPR_COMMON_RNG_H

#include <stdint.h>

#include "common/hostdev.h"

static inline EPR_HD uint64_t cmn_mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* 64 random bits for element `counter` of stream `stream` under `seed`. */
static inline EPR_HD uint64_t cmn_rng_u64(uint64_t seed, uint64_t stream, uint64_t counter) {
    uint64_t h = cmn_mix64(seed + 0x9e3779b97f4a7c15ULL);
    h = cmn_mix64(h ^ (stream * 0xd6e8feb86659fd93ULL + 0x632be59bd9b4e019ULL));
    return cmn_mix64(h ^ (counter + 0x9e3779b97f4a7c15ULL * (stream + 1)));
}

/* Uniform in [0,1) with 24 random bits (exactly representable as float). */
static inline EPR_HD float cmn_rng_uniform(uint64_t seed, uint64_t stream, uint64_t counter) {
    return (float)(cmn_rng_u64(seed, stream, counter) >> 40) * (1.0f / 16777216.0f);
}

/* Sequential generator for initialisation and shuffling (state = counter). */
typedef struct {
    uint64_t seed, stream, counter;
} cmn_rng;

static inline uint64_t cmn_rng_next(cmn_rng *r) { return cmn_rng_u64(r->seed, r->stream, r->counter++); }
static inline float cmn_rng_next_uniform(cmn_rng *r) { return (float)(cmn_rng_next(r) >> 40) * (1.0f / 16777216.0f); }
/* Unbiased integer in [0, n) (Lemire's method with rejection). */
static inline uint64_t cmn_rng_below(cmn_rng *r, uint64_t n) {
    for (;;) {
        uint64_t x = cmn_rng_next(r);
        __uint128_t m = (__uint128_t)x * n;
        uint64_t lo = (uint64_t)m;
        if (lo >= n || lo >= (-n) % n) return (uint64_t)(m >> 64);
    }
}

/* Stream ids, so that independent uses never share numbers. */
enum {
    EPR_STREAM_INIT = 1,       /* parameter initialisation */
    EPR_STREAM_SHUFFLE = 2,    /* data permutation, one per epoch */
    EPR_STREAM_RATE_NOISE = 3, /* U(-1/2,1/2) of the noisy rate term */
    EPR_STREAM_DENSITY_INIT = 4,
    EPR_STREAM_TRANSFORM = 5, /* random-orthogonal transforms */
    EPR_STREAM_AUGMENT = 6
};

#endif
