/* fuzz/fuzz_eval.c — libFuzzer target for the evaluator path: open a file
 * from memory (its trailing CRC recomputed first, so that mutations reach
 * the parser without a special build of the codec), parse its architecture
 * text, build the network and decode every tensor into it
 * (bitstream_load_model), free.  Small limits keep each input cheap: 1 MiB
 * files, 2^20 elements per tensor, 2^22 in all, 64 layers, 4096 input
 * values.  nn's activation buffers are sized by layer widths that no limit
 * here bounds, so run it under a memory limit: fuzz_replay_eval sets
 * RLIMIT_AS to 2 GiB (except under AddressSanitizer, whose shadow memory
 * needs the address space), and libFuzzer takes -rss_limit_mb=2048.  No
 * forward pass: its memory is that of the activations. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "epr/codec.h"
#include "run/bitstream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 4 || size > (1u << 20)) return 0;
    uint8_t *buf = (uint8_t *)malloc(size);
    if (!buf) return 0;
    memcpy(buf, data, size);
    const uint32_t crc = epr_crc32(buf, size - 4);
    for (int k = 0; k < 4; k++) buf[size - 4 + k] = (uint8_t)(crc >> (8 * k));
    const epr_read_limits rl = {1u << 20, (int64_t)1 << 20, (int64_t)1 << 22, 1u << 16};
    epr_file *f;
    epr_err e;
    int rc = epr_file_open_memory_limited(buf, size, &rl, &f, &e);
    free(buf);
    if (rc) return 0;
    const bitstream_limits bl = {64, 4096};
    nn_model *net;
    bitstream_arch a;
    if (bitstream_load_model(f, 1, &bl, &net, &a, &e) == 0) {
        if (!net || !a.layers) abort(); /* success must hand both over */
        nn_model_free(net);
        bitstream_arch_free(&a);
    } else if (net) {
        abort(); /* failure must leave nothing behind */
    }
    epr_file_close(f);
    return 0;
}
