/* codec/crc32.c — CRC-32 as zlib computes it (reflected polynomial
 * 0xEDB88320, initial value and final xor 0xFFFFFFFF), table driven.
 * The 256-entry table is rebuilt on the stack per call: 2k operations,
 * nothing next to hashing a file, and no shared mutable state. */
#include "epr/codec.h"

uint32_t epr_crc32(const void *data, size_t n) {
    uint32_t table[256];
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        table[i] = c;
    }
    const uint8_t *p = (const uint8_t *)data;
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
    return crc ^ 0xFFFFFFFFu;
}
