/* fuzz/fuzz_replay.c — plain driver that runs LLVMFuzzerTestOneInput over
 * every file given (directories are walked recursively), so the corpus is
 * replayed in ordinary ctest without libFuzzer.  Exits 1 if nothing ran. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
    LLVMFuzzerTestOneInput(buf, n);
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
    int ran = 0;
    for (int a = 1; a < argc; a++)
        if (run_path(argv[a], &ran)) return 1;
    printf("replayed %d inputs\n", ran);
    return ran ? 0 : 1;
}
