/* codec/validate_internal.h — checks that the writer applies to what it is
 * given and the reader applies to what it reads, so that the encoder never
 * writes a file the decoder refuses: UTF-8 text and unique tensor names.
 * libc only. */
#ifndef EPR_CODEC_VALIDATE_INTERNAL_H
#define EPR_CODEC_VALIDATE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/* Offset of the first byte that breaks well-formed UTF-8 (RFC 3629: no
 * overlong forms, no surrogates, nothing above U+10FFFF), or n if s[n] is
 * valid. */
size_t codec_utf8_invalid_at(const uint8_t *s, size_t n);

/* Looks for two equal names among names[n]: returns 1 and the two indices
 * (*first < *second, the lowest such pair by second, then first), 0 if all
 * differ, -1 when out of memory.  O(n log n). */
int codec_names_duplicate(const char *const *names, int n, int *first, int *second);

#endif
