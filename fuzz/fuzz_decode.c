/* fuzz/fuzz_decode.c — libFuzzer target for the decoder library: open from
 * memory, list groups (and codebooks), columns and tensors, decode every
 * tensor (theta, phi and self-information), close.  Built with the CRC check disabled
 * (FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION) so mutations reach the parser.
 * fuzz_replay.c runs the same function over the corpus in plain ctest. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "epr/codec.h"

/* Tensors above this are listed but not decoded: their output buffer is the
 * caller's allocation, not the library's, and would only slow the fuzzer. */
#define FUZZ_MAX_ELEMENTS (1 << 16)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    epr_file *f;
    epr_err e;
    if (epr_file_open_memory(data, size, &f, &e)) return 0;
    size_t alen;
    (void)epr_file_arch(f, &alen);
    epr_size_parts parts;
    epr_file_sizes(f, &parts);
    for (int g = 0; g < epr_file_group_count(f); g++) {
        epr_group_info gi;
        if (epr_file_group_info(f, g, &gi, &e)) abort();
        const float *cb;
        int k;
        if ((epr_file_group_codebook(f, g, &cb, &k, &e) == 0) != (gi.decoder == EPR_DECODER_CODEBOOK))
            abort();
        for (int c = 0; c < gi.ell; c++) {
            epr_column_info ci;
            if (epr_file_column_info(f, g, c, &ci, &e)) abort();
        }
    }
    for (int i = 0; i < epr_file_tensor_count(f); i++) {
        epr_tensor_info ti;
        if (epr_file_tensor_info(f, i, &ti, &e)) abort();
        if (ti.n_elements > FUZZ_MAX_ELEMENTS) continue;
        float *theta = (float *)malloc(sizeof(float) * (size_t)(ti.n_elements + 1));
        if (!theta) continue;
        if (epr_file_decode_tensor(f, i, theta, &e) == 0 && ti.compressed) {
            double bits;
            (void)epr_file_tensor_self_info(f, i, &bits, &e);
            (void)epr_file_decode_phi(f, i, (int32_t *)(void *)theta, &e);
        }
        free(theta);
    }
    epr_file_close(f);
    return 0;
}
