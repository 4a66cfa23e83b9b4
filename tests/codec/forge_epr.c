/* tests/codec/forge_epr.c — writes the forged files of the CLI tests
 * (forged_cli_tests.sh) and of the closing measurements of issue 18 into
 * OUTDIR:
 *   const_2p30.epr      one constant tensor of 2^30 elements (~100 bytes)
 *   const_2p33.epr      the same with 2^33 elements
 *   layers_20000.epr    an architecture of 20,000 relu layers and a dense
 *   input_1x1024x1024.epr  a network whose input is 1x1024x1024
 *   small_net.epr       the same network for 1x28x28 with 3 relus (valid)
 *   corrupt_net.epr     small_net.epr with a coded stream's state changed
 *                       and the CRC recomputed
 *   corrupt_stream.epr  GOLDEN (affine_hist.epr) with one byte of a coded
 *                       stream changed and the CRC recomputed
 *   tiny-images.idx, tiny-labels.idx  three 28x28 images, labels 0 1 0
 * usage: forge_epr OUTDIR GOLDEN_AFFINE_HIST */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forge.h"

static int put(const char *dir, const char *name, uint8_t *p, size_t n) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int rc = forge_write(path, p, n);
    if (rc) fprintf(stderr, "forge_epr: cannot write %s\n", path);
    free(p);
    return rc;
}

static uint8_t *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    uint8_t *b = malloc(1 << 20);
    *n = b ? fread(b, 1, 1 << 20, f) : 0;
    fclose(f);
    return b;
}

/* Changes bytes of the first tensor's coded stream until the file opens
 * (CRC recomputed) but the stream no longer decodes. */
static uint8_t *corrupt_stream(const char *golden, size_t *n) {
    uint8_t *b = read_all(golden, n);
    if (!b) return NULL;
    epr_file *f;
    epr_err e;
    if (epr_file_open_memory(b, *n, &f, &e)) return NULL;
    epr_size_parts parts;
    epr_file_sizes(f, &parts);
    epr_tensor_info ti;
    epr_file_tensor_info(f, 0, &ti, &e);
    /* tensor 0's record: u16 length, name, u8 ndim, u64 shape[ndim], i32, u64 */
    const size_t start = parts.header + parts.arch + parts.decoder + parts.tables + 2 + strlen(ti.name) + 1 +
                         8 * (size_t)ti.ndim + 4 + 8;
    epr_file_close(f); /* ti.name was the file's */
    for (size_t k = ti.stored_bytes / 2; k < ti.stored_bytes; k++) {
        b[start + k] ^= 0x5a;
        uint32_t crc = epr_crc32(b, *n - 4);
        for (int j = 0; j < 4; j++) b[*n - 4 + j] = (uint8_t)(crc >> (8 * j));
        if (epr_file_open_memory(b, *n, &f, &e) == 0) {
            float *th = malloc(4 * (size_t)ti.n_elements + 4);
            int bad = epr_file_decode_tensor(f, 0, th, &e) != 0;
            free(th);
            epr_file_close(f);
            if (bad) return b;
        }
        b[start + k] ^= 0x5a;
    }
    return NULL;
}

static uint8_t *idx_file(int images, size_t *n) {
    forge_buf b = {0};
    const uint8_t magic[4] = {0, 0, 8, images ? 3 : 1};
    forge_bytes(&b, magic, 4);
    const uint8_t three[4] = {0, 0, 0, 3}, side[4] = {0, 0, 0, 28};
    forge_bytes(&b, three, 4);
    if (images) {
        forge_bytes(&b, side, 4);
        forge_bytes(&b, side, 4);
        for (int i = 0; i < 3 * 28 * 28; i++) forge_u8(&b, (unsigned)(i * 7) & 0xff);
    } else {
        forge_u8(&b, 0);
        forge_u8(&b, 1);
        forge_u8(&b, 0);
    }
    *n = b.n;
    return b.p;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: forge_epr OUTDIR GOLDEN_AFFINE_HIST\n");
        return 2;
    }
    const char *dir = argv[1];
    size_t n;
    uint8_t *p;
    int rc = 0;
    /* (the size is known only after the call: never put(f(&n), n)) */
    p = forge_constant_file((uint64_t)1 << 30, &n);
    rc |= put(dir, "const_2p30.epr", p, n);
    p = forge_constant_file((uint64_t)1 << 33, &n);
    rc |= put(dir, "const_2p33.epr", p, n);
    p = forge_network_file(1, 28, 28, 20000, &n);
    rc |= put(dir, "layers_20000.epr", p, n);
    p = forge_network_file(1, 1024, 1024, 0, &n);
    rc |= put(dir, "input_1x1024x1024.epr", p, n);
    p = forge_network_file(1, 28, 28, 3, &n);
    rc |= put(dir, "small_net.epr", p, n);
    /* fc.bias, the last tensor, ends the file: its stream is the 8 bytes
     * before the CRC; a state of L + 1 passes the range check and leaves
     * a final state that is not L */
    p = forge_network_file(1, 28, 28, 3, &n);
    p[n - 12] = 1;
    const uint32_t crc = epr_crc32(p, n - 4);
    for (int j = 0; j < 4; j++) p[n - 4 + j] = (uint8_t)(crc >> (8 * j));
    rc |= put(dir, "corrupt_net.epr", p, n);
    uint8_t *c = corrupt_stream(argv[2], &n);
    if (!c) {
        fprintf(stderr, "forge_epr: could not corrupt a stream of %s\n", argv[2]);
        return 1;
    }
    rc |= put(dir, "corrupt_stream.epr", c, n);
    p = idx_file(1, &n);
    rc |= put(dir, "tiny-images.idx", p, n);
    p = idx_file(0, &n);
    rc |= put(dir, "tiny-labels.idx", p, n);
    return rc ? 1 : 0;
}
