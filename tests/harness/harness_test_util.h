/* tests/harness/harness_test_util.h — shared by the harness tests (and
 * tests/bignets/pack_jpeg_test.c): scratch directories and paths in them.
 * Depends on libc only; every helper takes the directory it works on. */
#ifndef EPR_HARNESS_TEST_UTIL_H
#define EPR_HARNESS_TEST_UTIL_H

#include <stdio.h>
#include <stdlib.h>

/* "dir/name" in one of 8 rotating static buffers, so that a call may take
 * a few of them as arguments at once. */
static inline const char *test_join(const char *dir, const char *name) {
    static char buf[8][1200];
    static int k;
    char *p = buf[k++ % 8];
    snprintf(p, sizeof buf[0], "%s/%s", dir, name);
    return p;
}

/* A fresh directory from tmpl ("...XXXXXX") into dir[cap]: 0, or -1 (a
 * cmocka group setup's convention). */
static inline int test_mkdtemp(char *dir, size_t cap, const char *tmpl) {
    snprintf(dir, cap, "%s", tmpl);
    return mkdtemp(dir) ? 0 : -1;
}

/* rm -rf dir: 0, or -1 (a cmocka group teardown's convention). */
static inline int test_rmtree(const char *dir) {
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

#endif
