/* tests/harness/test_h5run_h5py.c — an independent reader as oracle: writes
 * a run file with h5run_write and has h5py (through /usr/bin/python3 and
 * tests/harness/check_runfile.py) check every part of it: variable-length
 * UTF-8 string attributes, every element type, nested paths, dataset
 * attributes, curves chunked with maxshape (None,) and resizable, /final.
 * Without /usr/bin/python3 or h5py the test is SKIPPED (and says why). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "run/h5run.h"

#ifndef PYTHON /* overridable to exercise the skip path */
#define PYTHON "/usr/bin/python3"
#endif
#define CHECKER EPR_SOURCE_DIR "/tests/harness/check_runfile.py"
#define EXPERIMENT_LEN 70000

/* The values below are the formulas check_runfile.py expects. */
static void test_h5py_reads_everything(void **state) {
    (void)state;
    if (access(PYTHON, X_OK) != 0) {
        print_message("SKIPPED: %s not found; cannot check run files with h5py\n", PYTHON);
        skip();
    }
    if (system(PYTHON " -c 'import h5py, numpy' >/dev/null 2>&1") != 0) {
        print_message("SKIPPED: %s has no h5py/numpy (apt-get install python3-h5py)\n", PYTHON);
        skip();
    }
    char dir[1024], path[1200];
    snprintf(dir, sizeof dir, "%s/h5run_test", EPR_BINARY_DIR);
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/h5py_check.h5", dir);

    float f32[7];
    double f64[6];
    int32_t i32[4];
    int64_t i64[3] = {INT64_MIN, 0, INT64_MAX};
    uint8_t u8[12];
    double scalar = M_PI, step[5], loss[5];
    int64_t shape[2] = {300, 784};
    for (int i = 0; i < 7; i++) f32[i] = 0.25f * (float)i - 3.0f;
    for (int i = 0; i < 6; i++) f64[i] = 1.0 / (i + 1);
    for (int i = 0; i < 4; i++) i32[i] = (int32_t)(-2000000000 + (int64_t)i * 1000000000);
    for (int i = 0; i < 12; i++) u8[i] = (uint8_t)(250 + i);
    for (int i = 0; i < 5; i++) {
        step[i] = 100.0 * (i + 1);
        loss[i] = 2.5 / (i + 1);
    }
    char *experiment = malloc(EXPERIMENT_LEN + 1);
    assert_non_null(experiment);
    memset(experiment, 'k', EXPERIMENT_LEN);
    memcpy(experiment, "[data]\n", 7);
    experiment[EXPERIMENT_LEN] = 0;

    h5run_attr root[] = {
        h5run_str("code_version", "0.1.0"),
        h5run_str("utf8", "λ = 0.01 — Grüße"),
        h5run_str("empty", ""),
        h5run_str("experiment", experiment),
        h5run_i64("seed", -42),
        h5run_f64("lambda", 1e-3),
        h5run_i64v("shape", shape, 2),
    };
    h5run_attr fc_attrs[] = {h5run_str("group", "latent"), h5run_i64v("shape", shape, 2)};
    h5run_dataset ds[] = {
        h5run_array("/model/latent/fc12", H5RUN_F32, 7, f32),
        {.path = "/optimizer/m1", .type = H5RUN_F64, .rank = 2, .dims = {2, 3}, .data = f64},
        h5run_array("/rng/state", H5RUN_I32, 4, i32),
        h5run_array("/step_i64", H5RUN_I64, 3, i64),
        {.path = "/a/b/c/d/rank4", .type = H5RUN_U8, .rank = 4, .dims = {2, 3, 1, 2}, .data = u8},
        {.path = "/scalar", .type = H5RUN_F64, .rank = 0, .data = &scalar},
    };
    ds[0].attrs = fc_attrs;
    ds[0].n_attrs = 2;
    h5run_curve curves[] = {{"step", step}, {"loss", loss}};
    h5run_attr fin[] = {h5run_f64("test_error", 0.0123), h5run_i64("file_bytes", 12345),
                        h5run_str("bitstream", "model.epr")};
    h5run_desc d = {.attrs = root,
                    .n_attrs = (int)(sizeof root / sizeof root[0]),
                    .datasets = ds,
                    .n_datasets = (int)(sizeof ds / sizeof ds[0]),
                    .curves = curves,
                    .n_curves = 2,
                    .curve_len = 5,
                    .final_attrs = fin,
                    .n_final_attrs = 3};
    epr_err err = {0};
    int rc = h5run_write(path, &d, &err);
    free(experiment);
    if (rc) fail_msg("%s", err.msg);

    char cmd[3000];
    snprintf(cmd, sizeof cmd, "%s %s '%s' 2>&1", PYTHON, CHECKER, path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char out[4096];
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = 0;
    int st = pclose(p);
    if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0)) fail_msg("h5py check failed:\n%s", out);
    assert_non_null(strstr(out, "OK"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_h5py_reads_everything),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
