/* tests/sweep/test_sweep.c — sweep tables (parsing, names, every rejection
 * with file:line), run states from run files, the `epr train` arguments of a
 * run, the Pareto rule, and the checks on run files read by `epr pareto`.
 * Run files here are test fixtures written with h5run_write in the schema of
 * `epr train` (schema_version 1). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness/h5run.h"
#include "harness/pareto.h"
#include "harness/sweep.h"

static char g_dir[256];

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup(void **state) {
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/epr_test_sweep_XXXXXX");
    if (!mkdtemp(g_dir)) return -1;
    char p[512];
    snprintf(p, sizeof p, "%s/tiny.ini", g_dir);
    write_text(p, "[model]\nname = lenet300-100\n");
    return 0;
}

static int teardown(void **state) {
    (void)state;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Parses text as if it were <dir>/sweep.tsv (experiments resolve beside it). */
static int load(const char *text, sweep_table *t, epr_err *e) {
    char p[512];
    snprintf(p, sizeof p, "%s/sweep.tsv", g_dir);
    return sweep_load_string(text, p, t, e);
}

static void test_parse_good(void **state) {
    (void)state;
    sweep_table t;
    epr_err e = {0};
    int rc = load("# a comment\n"
                  "experiment\tlambda\tseed\toverrides\n"
                  "\n"
                  "tiny.ini\t3e-6\t1\n"
                  "# skipped\n"
                  "tiny.ini\t1e-05\t2\ttrain.steps=50\t\r\n"
                  "tiny.ini\t0\t1\tepr.enabled=false\tname=plain\n",
                  &t, &e);
    assert_int_equal(rc, 0);
    assert_int_equal(t.n_runs, 3);
    assert_string_equal(t.runs[0].name, "tiny_l3e-06_s1");
    assert_int_equal(t.runs[0].line, 4);
    assert_int_equal(t.runs[0].index, 0);
    assert_true(fabs(t.runs[0].lambda - 3e-6) < 1e-20);
    assert_string_equal(t.runs[1].name, "tiny_l1e-05_s2_1");
    assert_int_equal(t.runs[1].n_overrides, 1);
    assert_string_equal(t.runs[1].overrides[0], "train.steps=50");
    assert_string_equal(t.runs[2].name, "plain");
    assert_int_equal(t.runs[2].n_overrides, 1);
    assert_int_equal(t.runs[2].line, 7);

    int argc;
    char **argv = sweep_train_args(&t.runs[1], "out", "out/x/run.h5", &argc);
    assert_non_null(argv);
    const char *want[] = {"train", NULL, "--set", "epr.lambda=1e-05", "--set", "train.seed=2",
                          "--set", "train.steps=50", "--out", "out/tiny_l1e-05_s2_1", "--resume", "out/x/run.h5"};
    assert_int_equal(argc, 12);
    for (int i = 0; i < argc; i++)
        if (want[i]) assert_string_equal(argv[i], want[i]);
    assert_non_null(strstr(argv[1], "tiny.ini"));
    assert_null(argv[argc]);
    sweep_args_free(argv);
    sweep_free(&t);
}

/* Each bad table is rejected with "FILE:LINE: ..." and the reason. */
static void test_parse_errors(void **state) {
    (void)state;
    struct {
        const char *text, *where, *why;
    } cases[] = {
        {"tiny.ini\t1e-6\t1\n", ":1:", "header"},
        {"experiment\tlambda\tseed\ntiny.ini 1e-6 1\n", ":2:", "tabs, not spaces"},
        {"experiment\tlambda\tseed\ntiny.ini\t1e-6\n", ":2:", "found 2 fields"},
        {"experiment\tlambda\tseed\ntiny.ini\tabc\t1\n", ":2:", "lambda 'abc'"},
        {"experiment\tlambda\tseed\ntiny.ini\t-1\t1\n", ":2:", "lambda '-1'"},
        {"experiment\tlambda\tseed\ntiny.ini\tnan\t1\n", ":2:", "finite"},
        {"experiment\tlambda\tseed\ntiny.ini\t1e-6\t-3\n", ":2:", "seed '-3'"},
        {"experiment\tlambda\tseed\ntiny.ini\t1e-6\t1x\n", ":2:", "seed '1x'"},
        {"experiment\tlambda\tseed\ntiny.ini\t1e-6\t1\tsteps=5\n", ":2:", "section.key=value"},
        {"experiment\tlambda\tseed\ntiny.ini\t1e-6\t1\ttrain.steps\n", ":2:", "section.key=value"},
        {"experiment\tlambda\tseed\ntiny.ini\t1e-6\t1\tepr.lambda=3\n", ":2:", "conflicts"},
        {"experiment\tlambda\tseed\ntiny.ini\t1e-6\t1\tname=a/b\n", ":2:", "run name"},
        {"experiment\tlambda\tseed\nmissing.ini\t1e-6\t1\n", ":2:", "not found"},
        {"experiment\tlambda\tseed\ntiny.ini\t\t1\n", ":2:", "field 2 is empty"},
        {"experiment\tlambda\tseed\ntiny.ini\t1e-6\t1\n\ntiny.ini\t1e-6\t1\n", ":4:", "repeats line 2"},
        {"experiment\tlambda\tseed\n", "sweep.tsv", "no runs"},
        {"", "sweep.tsv", "no header"},
        {"experiment\tlambda\tseed\ntiny.ini\t1e-6\t1\x01\n", ":2:", "control character"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sweep_table t;
        epr_err e = {0};
        int rc = load(cases[i].text, &t, &e);
        if (rc == 0 || !strstr(e.msg, cases[i].where) || !strstr(e.msg, cases[i].why))
            fail_msg("case %zu: rc %d, message '%s' (want '%s' and '%s')", i, rc, e.msg, cases[i].where, cases[i].why);
        assert_null(t.runs);
    }
    sweep_table t;
    epr_err e = {0};
    assert_int_equal(sweep_load("/nonexistent/sweep.tsv", &t, &e), EPR_EIO);
    assert_non_null(strstr(e.msg, "/nonexistent/sweep.tsv"));
}

/* ---- run-file fixtures ---- */

typedef struct {
    int final, epr, schema, bad_type, drop_size, epr_bytes_on_disk;
    double error, lambda;
    long size;
} fixture;

static void write_run(const char *dir, const fixture *fx) {
    char p[600];
    snprintf(p, sizeof p, "mkdir -p '%s'", dir);
    assert_int_equal(system(p), 0);
    h5run_attr root[] = {
        h5run_i64("schema_version", fx->schema ? fx->schema : 1),
        h5run_str("code_version", "fixture"),
        h5run_str("experiment", "; TEST FIXTURE\n"),
        h5run_str("experiment_path", "experiments/x.ini"),
        h5run_str("experiment_name", "x"),
        h5run_str("model", "lenet300-100"),
        h5run_str("data_set", "mnist10k"),
        h5run_i64("epr_enabled", fx->epr),
        fx->bad_type ? h5run_str("lambda", "3e-6") : h5run_f64("lambda", fx->lambda),
        h5run_i64("seed", 1),
        h5run_i64("world_size", 2),
        h5run_i64("steps", 50),
    };
    long f32 = 4L * 266610;
    long size = fx->epr ? fx->size : f32;
    h5run_attr fin[] = {
        h5run_f64("test_error", fx->error),
        h5run_f64("test_error_raw", fx->error),
        h5run_i64("float32_bytes", f32),
        h5run_i64("n_params", 266610),
        h5run_i64("n_compressed", fx->epr ? 266610 : 0),
        h5run_str("bitstream", fx->epr ? "model.epr" : ""),
        h5run_f64("wall_seconds", 1.0),
        h5run_f64("rate_exact_bits", fx->epr ? 8.0 * (double)size : NAN),
        h5run_i64("size_bytes", size),
    };
    double step[2] = {0, 50}, v[2] = {1, 2};
    h5run_curve curves[] = {{"step", step}, {"test_error", v}};
    h5run_desc d = {.attrs = root, .n_attrs = (int)(sizeof root / sizeof root[0]), .curves = curves, .n_curves = 2,
                    .curve_len = 2, .final_attrs = fx->final ? fin : NULL,
                    .n_final_attrs = fx->final ? (int)(sizeof fin / sizeof fin[0]) - (fx->drop_size ? 1 : 0) : 0};
    snprintf(p, sizeof p, "%s/run.h5", dir);
    epr_err e = {0};
    if (h5run_write(p, &d, &e)) fail_msg("%s", e.msg);
    if (fx->epr && fx->final) {
        snprintf(p, sizeof p, "%s/model.epr", dir);
        FILE *f = fopen(p, "wb");
        assert_non_null(f);
        long n = fx->epr_bytes_on_disk ? fx->epr_bytes_on_disk : size;
        for (long i = 0; i < n; i++) fputc('E', f);
        fclose(f);
    }
}

static void test_run_state(void **state) {
    (void)state;
    sweep_table t;
    epr_err e = {0};
    assert_int_equal(load("experiment\tlambda\tseed\ntiny.ini\t1e-6\t1\ttrain.steps=5\tname=r\n", &t, &e), 0);
    char out[400], rf[1400], dir[600];
    snprintf(out, sizeof out, "%s/state", g_dir);
    assert_int_equal(sweep_run_state(out, &t.runs[0], rf, sizeof rf, &e), SWEEP_STATE_NEW);
    snprintf(dir, sizeof dir, "%s/r", out);
    fixture fx = {.final = 0, .epr = 1, .error = 0.02, .lambda = 1e-6, .size = 3000};
    write_run(dir, &fx);
    assert_int_equal(sweep_run_state(out, &t.runs[0], rf, sizeof rf, &e), SWEEP_STATE_PARTIAL);
    fx.final = 1;
    write_run(dir, &fx);
    assert_int_equal(sweep_run_state(out, &t.runs[0], rf, sizeof rf, &e), SWEEP_STATE_COMPLETE);
    write_text(rf, "not hdf5 at all");
    assert_int_equal(sweep_run_state(out, &t.runs[0], rf, sizeof rf, &e), SWEEP_STATE_BROKEN);
    assert_non_null(strstr(e.msg, "run.h5"));
    sweep_free(&t);
}

static pareto_row row(const char *set, int epr, long size, double err) {
    pareto_row r;
    memset(&r, 0, sizeof r);
    snprintf(r.data_set, sizeof r.data_set, "%s", set);
    r.epr_enabled = epr;
    r.size_bytes = size;
    r.test_error = err;
    return r;
}

static void test_pareto_rule(void **state) {
    (void)state;
    pareto_row r[] = {
        row("m", 1, 1000, 0.05),  /* 0: smallest: front */
        row("m", 1, 2000, 0.03),  /* 1: front */
        row("m", 1, 2000, 0.04),  /* 2: same size, worse than 1: dominated */
        row("m", 1, 3000, 0.03),  /* 3: same error, larger than 1: dominated */
        row("m", 1, 5000, 0.02),  /* 4: front */
        row("m", 1, 5000, 0.02),  /* 5: exact tie with 4: both stay */
        row("m", 0, 1066440, 0.01), /* 6: plain: never a candidate, does not dominate */
        row("f", 1, 9000, 0.20),  /* 7: other data set: its own front */
        row("m", 1, 900, NAN),    /* 8: no error: not on the front, dominates nothing */
        row("m", 1, 6000, 0.025), /* 9: dominated by 4 */
    };
    int n = (int)(sizeof r / sizeof r[0]);
    pareto_mark(r, n);
    int want[] = {1, 1, 0, 0, 1, 1, 0, 1, 0, 0};
    for (int i = 0; i < n; i++)
        if (r[i].is_pareto != want[i]) fail_msg("row %d: is_pareto %d, want %d", i, r[i].is_pareto, want[i]);
}

static void test_read_run_checks(void **state) {
    (void)state;
    char dir[600], p[700];
    pareto_row r;
    epr_err e = {0};
    fixture good = {.final = 1, .epr = 1, .error = 0.025, .lambda = 3e-6, .size = 4321};
    snprintf(dir, sizeof dir, "%s/runs/good", g_dir);
    write_run(dir, &good);
    snprintf(p, sizeof p, "%s/run.h5", dir);
    assert_int_equal(pareto_read_run(p, &r, &e), 0);
    assert_int_equal(r.size_bytes, 4321);
    assert_true(fabs(r.ratio - 4.0 * 266610 / 4321) < 1e-9);
    assert_true(fabs(r.bits_per_param - 8.0 * 4321 / 266610) < 1e-12);

    struct {
        fixture fx;
        const char *why;
    } bad[] = {
        {{.final = 0, .epr = 1, .error = 0.02, .size = 10}, "no /final"},
        {{.final = 1, .epr = 1, .error = 0.02, .size = 10, .schema = 2}, "schema_version 2"},
        {{.final = 1, .epr = 1, .error = 0.02, .size = 10, .bad_type = 1}, "lambda"},
        {{.final = 1, .epr = 1, .error = 0.02, .size = 10, .drop_size = 1}, "size_bytes"},
        {{.final = 1, .epr = 1, .error = 1.5, .size = 10}, "test_error"},
        {{.final = 1, .epr = 1, .error = 0.02, .size = 10, .epr_bytes_on_disk = 11}, "has 11 bytes"},
        {{.final = 1, .epr = 3, .error = 0.02, .size = 10}, "epr_enabled"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(dir, sizeof dir, "%s/runs/bad%zu", g_dir, i);
        write_run(dir, &bad[i].fx);
        snprintf(p, sizeof p, "%s/run.h5", dir);
        int rc = pareto_read_run(p, &r, &e);
        if (rc == 0 || !strstr(e.msg, bad[i].why) || !strstr(e.msg, p))
            fail_msg("case %zu: rc %d, message '%s' (want '%s' and the file name)", i, rc, e.msg, bad[i].why);
    }
    snprintf(p, sizeof p, "%s/runs/garbage.h5", g_dir);
    write_text(p, "garbage");
    assert_true(pareto_read_run(p, &r, &e) != 0);
    assert_non_null(strstr(e.msg, "garbage.h5"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_good),     cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_run_state),      cmocka_unit_test(test_pareto_rule),
        cmocka_unit_test(test_read_run_checks),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
