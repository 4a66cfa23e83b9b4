/* tests/codec/test_crc_zlib.c — epr_crc32 agrees with zlib's crc32. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <zlib.h>

#include "common/rng.h"
#include "epr/codec.h"

static void test_agrees_with_zlib(void **state) {
    (void)state;
    static uint8_t buf[100003];
    cmn_rng r = {7, 1, 0};
    for (size_t i = 0; i < sizeof buf; i++) buf[i] = (uint8_t)cmn_rng_next(&r);
    const size_t lens[] = {0, 1, 2, 3, 7, 255, 4096, sizeof buf};
    for (size_t k = 0; k < sizeof lens / sizeof *lens; k++) {
        uLong z = crc32(0L, buf, (uInt)lens[k]);
        assert_int_equal(epr_crc32(buf, lens[k]), (uint32_t)z);
    }
    assert_int_equal(epr_crc32("123456789", 9), 0xCBF43926u); /* the standard check value */
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_agrees_with_zlib)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
