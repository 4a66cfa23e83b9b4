/* fuzz/fuzz_replay.c — plain driver that runs LLVMFuzzerTestOneInput over
 * every file given (directories are walked recursively), so the corpus is
 * replayed in ordinary ctest without libFuzzer.  Exits 1 if nothing ran.
 * Options (before the paths):
 *   --mutate        also run every single-byte change (xor 0x01, 0x80,
 *                   0xff) of each file at every position of its first
 *                   2 KB and every 127th byte after that
 *   --as-limit-mb N cap the address space (RLIMIT_AS) at N MiB, so that
 *                   an input that makes the target allocate more fails
 *                   its allocation instead of taking the machine; ignored
 *                   under AddressSanitizer, whose shadow needs the space */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#if defined(__SANITIZE_ADDRESS__)
#define REPLAY_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define REPLAY_ASAN 1
#endif
#endif

static int mutate;
static long runs;

static void run_input(uint8_t *buf, size_t n) {
    LLVMFuzzerTestOneInput(buf, n);
    runs++;
    if (!mutate) return;
    static const uint8_t masks[3] = {0x01, 0x80, 0xff};
    for (size_t i = 0; i < n; i += i < 2048 ? 1 : 127)
        for (int m = 0; m < 3; m++) {
            buf[i] ^= masks[m];
            LLVMFuzzerTestOneInput(buf, n);
            buf[i] ^= masks[m];
            runs++;
        }
}

static int run_file(const char *path) {
    FILE *fp = fopen(path, "rb");
    if (!fp) { perror(path); return -1; }
    uint8_t *buf = NULL;
    size_t n = 0, cap = 0, got;
    do {
        if (n == cap) {
            cap = cap ? 2 * cap : 4096;
            uint8_t *q = realloc(buf, cap);
            if (!q) { free(buf); fclose(fp); return -1; }
            buf = q;
        }
        got = fread(buf + n, 1, cap - n, fp);
        n += got;
    } while (got);
    fclose(fp);
    run_input(buf, n);
    free(buf);
    return 0;
}

/* Runs every regular file under path (recursively); counts them in *ran. */
static int run_path(const char *path, int *ran) {
    struct stat st;
    if (stat(path, &st)) { perror(path); return -1; }
    if (!S_ISDIR(st.st_mode)) {
        if (run_file(path)) return -1;
        (*ran)++;
        return 0;
    }
    DIR *d = opendir(path);
    if (!d) { perror(path); return -1; }
    struct dirent *de;
    int rc = 0;
    while (!rc && (de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char sub[4096];
        snprintf(sub, sizeof sub, "%s/%s", path, de->d_name);
        rc = run_path(sub, ran);
    }
    closedir(d);
    return rc;
}

int main(int argc, char **argv) {
    int ran = 0, a = 1;
    for (; a < argc && argv[a][0] == '-'; a++) {
        if (!strcmp(argv[a], "--mutate")) {
            mutate = 1;
        } else if (!strcmp(argv[a], "--as-limit-mb") && a + 1 < argc) {
            long mb = atol(argv[++a]);
#ifndef REPLAY_ASAN
            struct rlimit rl = {(rlim_t)mb << 20, (rlim_t)mb << 20};
            if (setrlimit(RLIMIT_AS, &rl)) { perror("setrlimit"); return 1; }
#else
            (void)mb;
#endif
        } else {
            fprintf(stderr, "fuzz_replay: unknown option %s\n", argv[a]);
            return 1;
        }
    }
    for (; a < argc; a++)
        if (run_path(argv[a], &ran)) return 1;
    printf("replayed %d files, %ld inputs\n", ran, runs);
    return ran ? 0 : 1;
}
