/* tests/codec/test_forged.c — CRC-valid forged files (tests/codec/forge.h)
 * that no writer produces: each is refused at open with a message naming
 * the field, within the time and memory its bytes justify, and the same
 * construction with the field made valid opens (so every refusal is the
 * field's doing).  Also: the reader's limits (file size, /dev/zero, a
 * stream over the limit, elements per tensor and in all, architecture
 * length), and the self-information of a huge constant tensor computed
 * without materialising it. */
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "codec_test_util.h"
#include "forge.h"

/* Opens buf with lim; expects code and a message containing needle. */
static void expect_refused(const uint8_t *buf, size_t size, const epr_read_limits *lim, int code, const char *needle) {
    epr_file *f = (epr_file *)(uintptr_t)1;
    epr_err e = {0, ""};
    const long rss0 = forge_max_rss_kb();
    const double t0 = cmn_now_s();
    assert_int_equal(epr_file_open_memory_limited(buf, size, lim, &f, &e), code);
    const double dt = cmn_now_s() - t0;
    assert_null(f);
    print_message("refused in %.3f s: %s\n", dt, e.msg);
    if (!strstr(e.msg, needle)) fail_msg("message '%s' lacks '%s'", e.msg, needle);
    assert_true(dt < 1.0);
    assert_true(forge_max_rss_kb() - rss0 < 100 * 1024); /* no growth of the peak by 100 MB */
}

static epr_file *expect_opens(const uint8_t *buf, size_t size, const epr_read_limits *lim) {
    epr_file *f = NULL;
    epr_err e = {0, ""};
    if (epr_file_open_memory_limited(buf, size, lim, &f, &e)) fail_msg("refused: %s", e.msg);
    return f;
}

/* Refused with EPR_EFORMAT and needle, or (needle NULL) opens; frees b. */
static void expect_outcome(uint8_t *b, size_t size, const char *needle) {
    if (needle)
        expect_refused(b, size, NULL, EPR_EFORMAT, needle);
    else
        epr_file_close(expect_opens(b, size, NULL));
    free(b);
}

static void test_huge_constant_tensors(void **st) {
    (void)st;
    size_t size;
    uint8_t *b = forge_constant_file((uint64_t)1 << 30, &size);
    print_message("2^30-element constant tensor: %zu bytes\n", size);
    expect_refused(b, size, NULL, EPR_EUNSUP,
                   "tensor 'w': 1073741824 elements, over the reader's "
                   "limit of 268435456 per tensor");
    /* allowed by the caller: opens, and its self-information (0 bits) and
     * its stream check cost nothing per element */
    epr_read_limits big = {0, (int64_t)1 << 30, 0, 0};
    epr_file *f = expect_opens(b, size, &big);
    double bits = -1;
    const long rss0 = forge_max_rss_kb();
    const double t0 = cmn_now_s();
    epr_err e;
    assert_int_equal(epr_file_tensor_self_info(f, 0, &bits, &e), 0);
    assert_true(cmn_now_s() - t0 < 0.1);
    assert_true(forge_max_rss_kb() - rss0 < 10 * 1024);
    assert_true(bits == 0.0);
    epr_file_close(f);
    free(b);

    b = forge_constant_file((uint64_t)1 << 33, &size);
    expect_refused(b, size, NULL, EPR_EUNSUP, "8589934592 elements, over the reader's limit");
    free(b);
    b = forge_constant_file(((uint64_t)1 << 40) + 1, &size); /* over the format's own bound */
    expect_refused(b, size, &big, EPR_EFORMAT, "tensor 'w': more than 2^40 elements");
    free(b);
    b = forge_constant_file((uint64_t)1 << 28, &size); /* at the default limit */
    epr_file_close(expect_opens(b, size, NULL));
    free(b);
}

static void test_total_elements_limit(void **st) {
    (void)st;
    forge_buf fb;
    forge_begin(&fb, 1, 3, "", 0);
    forge_affine_group(&fb, 1.0f, 0.0f, 0);
    forge_const_column(&fb);
    const uint64_t n = (uint64_t)1 << 20;
    forge_const_tensor(&fb, "a", 1, 1, &n, 0);
    forge_const_tensor(&fb, "b", 1, 1, &n, 0);
    forge_const_tensor(&fb, "c", 1, 1, &n, 0);
    size_t size;
    uint8_t *b = forge_end(&fb, &size);
    epr_read_limits lim = {0, 0, 3 * ((int64_t)1 << 20) - 1, 0};
    expect_refused(b, size, &lim, EPR_EUNSUP,
                   "tensors 0..2 hold 3145728 elements, over the reader's limit of 3145727 in all");
    lim.max_total_elements = 3 << 20;
    epr_file_close(expect_opens(b, size, &lim));
    free(b);
}

static void test_arch_length_limit(void **st) {
    (void)st;
    const size_t alen = ((size_t)1 << 20) + 1;
    char *arch = malloc(alen);
    memset(arch, 'x', alen);
    forge_buf fb;
    forge_begin(&fb, 0, 0, arch, alen);
    size_t size;
    uint8_t *b = forge_end(&fb, &size);
    expect_refused(b, size, NULL, EPR_EUNSUP, "architecture text of 1048577 bytes, over the reader's limit of 1048576");
    epr_read_limits lim = {0, 0, 0, (uint64_t)alen};
    epr_file_close(expect_opens(b, size, &lim));
    free(b);
    free(arch);
}

static void test_file_size_limit(void **st) {
    (void)st;
    size_t size;
    uint8_t *b = forge_constant_file(4, &size);
    epr_read_limits lim = {size - 1, 0, 0, 0};
    expect_refused(b, size, &lim, EPR_EUNSUP, "over the reader's limit of");
    lim.max_file_bytes = size;
    epr_file_close(expect_opens(b, size, &lim));
    /* from a path: refused by its size, before reading */
    char path[] = "/tmp/epr_forged_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(forge_write(path, b, size), 0);
    epr_file *f;
    epr_err e;
    lim.max_file_bytes = size - 1;
    assert_int_equal(epr_file_open_limited(path, &lim, &f, &e), EPR_EUNSUP);
    print_message("%s\n", e.msg);
    assert_non_null(strstr(e.msg, "bytes, over the reader's limit of"));
    assert_non_null(strstr(e.msg, path));
    lim.max_file_bytes = size;
    assert_int_equal(epr_file_open_limited(path, &lim, &f, &e), 0);
    epr_file_close(f);
    unlink(path);
    free(b);
}

/* /dev/zero does not start with the magic: refused after the first read. */
static void test_dev_zero(void **st) {
    (void)st;
    epr_file *f;
    epr_err e;
    const long rss0 = forge_max_rss_kb();
    const double t0 = cmn_now_s();
    assert_int_equal(epr_file_open("/dev/zero", &f, &e), EPR_EFORMAT);
    print_message("%.3f s: %s\n", cmn_now_s() - t0, e.msg);
    assert_true(cmn_now_s() - t0 < 1.0);
    assert_true(forge_max_rss_kb() - rss0 < 10 * 1024);
    assert_non_null(strstr(e.msg, "/dev/zero: not an .epr file: bad magic"));
}

/* A stream (a FIFO) with a valid header and no end is read up to the
 * limit and no further. */
static void test_stream_over_limit(void **st) {
    (void)st;
    char dir[] = "/tmp/epr_fifo_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof path, "%s/f", dir);
    assert_int_equal(mkfifo(path, 0600), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) { /* writer: the header, then zeros until the reader closes */
        signal(SIGPIPE, SIG_DFL);
        FILE *w = fopen(path, "wb");
        if (!w) _exit(1);
        static const uint8_t head[8] = {'E', 'P', 'R', '1', 1, 0, 0, 0};
        static uint8_t zeros[65536];
        fwrite(head, 1, 8, w);
        for (int i = 0; i < 1024; i++) fwrite(zeros, 1, sizeof zeros, w); /* 64 MiB */
        _exit(0);
    }
    epr_read_limits lim = {1 << 20, 0, 0, 0};
    epr_file *f;
    epr_err e;
    assert_int_equal(epr_file_open_limited(path, &lim, &f, &e), EPR_EUNSUP);
    print_message("%s\n", e.msg);
    assert_non_null(strstr(e.msg, "more than 1048576 bytes, over the reader's limit"));
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    unlink(path);
    rmdir(dir);
}

/* One affine group with its column and no tensor, with the given bytes as
 * the column record (NULL: a one-symbol column). */
static uint8_t *group_file(float s, float off, unsigned reserved, const uint8_t *col, size_t col_len, size_t *size) {
    forge_buf fb;
    forge_begin(&fb, 1, 0, "", 0);
    forge_affine_group(&fb, s, off, reserved);
    if (col)
        forge_bytes(&fb, col, col_len);
    else
        forge_const_column(&fb);
    return forge_end(&fb, size);
}

static void check_group(float s, float off, unsigned reserved, const uint8_t *col, size_t len, const char *needle) {
    size_t size;
    uint8_t *b = group_file(s, off, reserved, col, len, &size);
    expect_outcome(b, size, needle);
}

static void test_group_fields(void **st) {
    (void)st;
    check_group(1.0f, 0.0f, 0, NULL, 0, NULL);
    check_group(1.0f, 0.0f, 1, NULL, 0, "group 0: reserved byte 3 of the group is 1, must be 0");
    check_group(NAN, 0.0f, 0, NULL, 0, "group 0: scale s[0] is not finite");
    check_group(1.0f, INFINITY, 0, NULL, 0, "group 0: offset b[0] is not finite");
    check_group(1.0f, -INFINITY, 0, NULL, 0, "group 0: offset b[0] is not finite");
    /* column records: kind 0, p 1, zigzag(min) varint, K-1 varint, payload */
    static const uint8_t k2[] = {0, 1, 0, 1, 0x10};     /* freq 1, 1: order 0, code "1" */
    static const uint8_t k2_pad[] = {0, 1, 0, 1, 0x30}; /* padding bit 5 set */
    static const uint8_t min_80_00[] = {0, 1, 0x80, 0x00, 1, 0x10};
    static const uint8_t km1_81_00[] = {0, 1, 0, 0x81, 0x00, 0x10};
    static const uint8_t min_81_00[] = {0, 1, 0x82, 0x00, 1, 0x10}; /* 2 as 82 00: overlong */
    static const uint8_t min_11[] = {0,    1,    0x80, 0x80, 0x80, 0x80, 0x80,
                                     0x80, 0x80, 0x80, 0x80, 0x02, 1,    0x10}; /* > 2^64 */
    check_group(1.0f, 0.0f, 0, k2, sizeof k2, NULL);
    check_group(1.0f, 0.0f, 0, k2_pad, sizeof k2_pad, "group 0 column 0: non-zero padding bits after the frequencies");
    check_group(1.0f, 0.0f, 0, min_80_00, sizeof min_80_00, "group 0 column 0: zigzag(min) is not a canonical varint");
    check_group(1.0f, 0.0f, 0, km1_81_00, sizeof km1_81_00, "group 0 column 0: K - 1 is not a canonical varint");
    check_group(1.0f, 0.0f, 0, min_81_00, sizeof min_81_00, "group 0 column 0: zigzag(min) is not a canonical varint");
    check_group(1.0f, 0.0f, 0, min_11, sizeof min_11, "group 0 column 0: zigzag(min) is not a canonical varint");
    /* a density column with one non-finite parameter */
    uint8_t dens[4 + 4 * EPR_DENSITY_PARAMS_PER_COLUMN] = {1, 2, 0, 3};
    for (int i = 0; i < EPR_DENSITY_PARAMS_PER_COLUMN; i++) {
        float v = 0.5f;
        memcpy(dens + 4 + 4 * i, &v, 4);
    }
    check_group(1.0f, 0.0f, 0, dens, sizeof dens, NULL);
    float nan = NAN;
    memcpy(dens + 4 + 4 * 7, &nan, 4);
    check_group(1.0f, 0.0f, 0, dens, sizeof dens, "group 0 column 0: density parameter 7 is not finite");
}

/* A conv-affine group with an explicit 2x2 T whose entry t is bad. */
static void test_explicit_transform_finite(void **st) {
    (void)st;
    for (int bad = 0; bad < 2; bad++) {
        forge_buf fb;
        forge_begin(&fb, 1, 0, "", 0);
        forge_u8(&fb, EPR_DECODER_CONV_AFFINE);
        forge_u8(&fb, 2); /* explicit storage */
        forge_u8(&fb, EPR_TRANSFORM_LEARNED);
        forge_u8(&fb, 0);
        forge_u32(&fb, 2);
        for (int j = 0; j < 4; j++) forge_f32(&fb, 1.0f); /* s[2], c[2] */
        for (int j = 0; j < 4; j++) forge_f32(&fb, bad && j == 2 ? INFINITY : 0.5f);
        forge_const_column(&fb);
        forge_const_column(&fb);
        size_t size;
        uint8_t *b = forge_end(&fb, &size);
        expect_outcome(b, size, bad ? "group 0: transform T[1][0] is not finite" : NULL);
    }
}

/* Two extras named a and b (b's name bytes as given). */
static void check_names(const char *second, size_t len, const char *needle) {
    forge_buf fb;
    forge_begin(&fb, 0, 2, "", 0);
    const uint64_t one = 1;
    const float v = 1.0f;
    forge_extra(&fb, "a", 1, &one, &v);
    forge_u16(&fb, (unsigned)len);
    forge_bytes(&fb, second, len);
    forge_u8(&fb, 1);
    forge_u64(&fb, 1);
    forge_u32(&fb, UINT32_MAX);
    forge_u64(&fb, 4);
    forge_f32(&fb, v);
    size_t size;
    uint8_t *b = forge_end(&fb, &size);
    expect_outcome(b, size, needle);
}

static void test_tensor_names(void **st) {
    (void)st;
    check_names("b", 1, NULL);
    check_names("\xc3\xa9t\xc3\xa9", 5, NULL); /* "été" */
    check_names("\xf0\x9f\x98\x80", 4, NULL);  /* U+1F600 */
    check_names("a", 1, "tensor 1: name 'a' is already tensor 0's");
    check_names("x\xff", 2, "tensor 1: name is not valid UTF-8 (byte 0xff at offset 1)");
    check_names("\xc0\x80", 2, "tensor 1: name is not valid UTF-8 (byte 0xc0 at offset 0)");
    check_names("\xed\xa0\x80", 3, "name is not valid UTF-8 (byte 0xed at offset 0)"); /* surrogate */
    check_names("\xf4\x90\x80\x80", 4, "name is not valid UTF-8");                     /* > U+10FFFF */
    check_names("\xe2\x82", 2, "name is not valid UTF-8");                             /* cut sequence */
    check_names("ab\0c", 4, "tensor 1: name has a NUL byte at offset 2");
}

static void test_arch_text(void **st) {
    (void)st;
    const char *texts[] = {"input 1 28 28\n", "bad \xfe byte", "nul\0inside"};
    const size_t lens[] = {14, 10, 10};
    const char *needles[] = {NULL, "architecture text is not valid UTF-8 (byte 0xfe at offset 4)",
                             "architecture text has a NUL byte at offset 3"};
    for (int i = 0; i < 3; i++) {
        forge_buf fb;
        forge_begin(&fb, 0, 0, texts[i], lens[i]);
        size_t size;
        uint8_t *b = forge_end(&fb, &size);
        expect_outcome(b, size, needles[i]);
    }
}

/* The writer refuses what the reader would. */
static void test_writer_refuses(void **st) {
    (void)st;
    float s = 1.0f, off = 0.0f, bad = NAN, raw[1] = {1.0f};
    int32_t phi[1] = {0};
    epr_group_spec g = {EPR_DECODER_AFFINE, 1, 0, 0, 0, NULL, &s, &off, NULL, NULL, 0};
    epr_tensor_spec t[2] = {{"a", 1, {1}, 0, phi, NULL}, {"a", 1, {1}, -1, NULL, raw}};
    void *out;
    size_t size;
    epr_err e;
    assert_int_equal(epr_encode("", 0, &g, 1, t, 2, &out, &size, NULL, &e), EPR_EARG);
    assert_non_null(strstr(e.msg, "tensor 1: name 'a' is already tensor 0's"));
    t[1].name = "\xff";
    assert_int_equal(epr_encode("", 0, &g, 1, t, 2, &out, &size, NULL, &e), EPR_EARG);
    assert_non_null(strstr(e.msg, "tensor 1: name is not valid UTF-8"));
    t[1].name = "b";
    g.scale = &bad;
    assert_int_equal(epr_encode("", 0, &g, 1, t, 2, &out, &size, NULL, &e), EPR_EARG);
    assert_non_null(strstr(e.msg, "group 0: scale s[0] is not finite"));
    g.scale = &s;
    assert_int_equal(epr_encode("", 0, &g, 1, t, 2, &out, &size, NULL, &e), 0);
    free(out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_huge_constant_tensors),
        cmocka_unit_test(test_total_elements_limit),
        cmocka_unit_test(test_arch_length_limit),
        cmocka_unit_test(test_file_size_limit),
        cmocka_unit_test(test_dev_zero),
        cmocka_unit_test(test_stream_over_limit),
        cmocka_unit_test(test_group_fields),
        cmocka_unit_test(test_explicit_transform_finite),
        cmocka_unit_test(test_tensor_names),
        cmocka_unit_test(test_arch_text),
        cmocka_unit_test(test_writer_refuses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
