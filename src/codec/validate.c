/* codec/validate.c — see validate_internal.h.  libc only. */
#include "codec/validate_internal.h"

#include <stdlib.h>
#include <string.h>

size_t codec_utf8_invalid_at(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        const uint32_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        /* Lead byte: length and the smallest/largest code point its form
         * may carry (smaller ones are overlong). */
        size_t len;
        uint32_t cp, lo;
        if (c >= 0xC2 && c <= 0xDF) {
            len = 2, cp = c & 0x1F, lo = 0x80;
        } else if (c >= 0xE0 && c <= 0xEF) {
            len = 3, cp = c & 0x0F, lo = 0x800;
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4, cp = c & 0x07, lo = 0x10000;
        } else {
            return i; /* continuation byte, C0/C1 or F5..FF as a lead */
        }
        if (n - i < len) return i;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return i;
            cp = cp << 6 | (s[i + k] & 0x3Fu);
        }
        if (cp < lo || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
        i += len;
    }
    return n;
}

typedef struct {
    const char *name;
    int index;
} name_ref;

static int name_ref_cmp(const void *a, const void *b) {
    const name_ref *x = (const name_ref *)a, *y = (const name_ref *)b;
    int c = strcmp(x->name, y->name);
    if (c) return c;
    return (x->index > y->index) - (x->index < y->index);
}

int codec_names_duplicate(const char *const *names, int n, int *first, int *second) {
    if (n < 2) return 0;
    name_ref *r = (name_ref *)malloc(sizeof *r * (size_t)n);
    if (!r) return -1;
    for (int i = 0; i < n; i++) {
        r[i].name = names[i];
        r[i].index = i;
    }
    qsort(r, (size_t)n, sizeof *r, name_ref_cmp);
    int found = 0;
    for (int i = 0; i + 1 < n; i++) {
        if (strcmp(r[i].name, r[i + 1].name)) continue;
        /* r[i] starts a run of equal names (or continues one whose pair was
         * already considered): its two lowest indices are r[i], r[i + 1]. */
        if (i > 0 && !strcmp(r[i - 1].name, r[i].name)) continue;
        if (!found || r[i + 1].index < *second) {
            *first = r[i].index;
            *second = r[i + 1].index;
            found = 1;
        }
    }
    free(r);
    return found;
}
