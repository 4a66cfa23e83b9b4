/* tests/sweep/test_sweep.c — sweep tables (parsing, names, every rejection
 * with file:line), run states from run files, the `epr train` arguments of a
 * run, the baseline step's decisions (baseline.post, which methods a
 * baselines.h5 lacks, the `epr baseline` arguments), the Pareto rules, the
 * method of a run from its experiment text, and the checks on run files and
 * baselines.h5 read by `epr pareto`.  Run files here are test fixtures
 * written with h5run_write in the schema of `epr train` (schema_version 1);
 * baselines.h5 fixtures are written with HDF5 directly, in the layout of
 * `epr baseline`. */
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
#include <hdf5.h>

#include "run/h5run.h"
#include "study/pareto.h"
#include "study/sweep.h"

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
    const char *want[] = {"train",    NULL,
                          "--set",    "epr.lambda=1e-05",
                          "--set",    "train.seed=2",
                          "--set",    "train.steps=50",
                          "--out",    "out/tiny_l1e-05_s2_1",
                          "--resume", "out/x/run.h5"};
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
    const char *text;   /* experiment text (default: a fixture comment) */
    const char *method; /* the "method" attribute (default: epr-sq / plain) */
} fixture;

static void write_run(const char *dir, const fixture *fx) {
    char p[600];
    snprintf(p, sizeof p, "mkdir -p '%s'", dir);
    assert_int_equal(system(p), 0);
    h5run_attr root[] = {
        h5run_i64("schema_version", fx->schema ? fx->schema : 1),
        h5run_str("code_version", "fixture"),
        h5run_str("experiment", fx->text ? fx->text : "; TEST FIXTURE\n"),
        h5run_str("experiment_path", "experiments/x.ini"),
        h5run_str("experiment_name", "x"),
        h5run_str("model", "lenet300-100"),
        h5run_str("data_set", "mnist10k"),
        h5run_i64("epr_enabled", fx->epr),
        fx->bad_type ? h5run_str("lambda", "3e-6") : h5run_f64("lambda", fx->lambda),
        h5run_i64("seed", 1),
        h5run_i64("world_size", 2),
        h5run_i64("steps", 50),
        h5run_str("method", fx->method ? fx->method
                            : fx->epr  ? "epr-sq"
                                       : "plain"),
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
    h5run_desc d = {.attrs = root,
                    .n_attrs = (int)(sizeof root / sizeof root[0]),
                    .curves = curves,
                    .n_curves = 2,
                    .curve_len = 2,
                    .final_attrs = fx->final ? fin : NULL,
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
        row("m", 1, 1000, 0.05),    /* 0: smallest: front */
        row("m", 1, 2000, 0.03),    /* 1: front */
        row("m", 1, 2000, 0.04),    /* 2: same size, worse than 1: dominated */
        row("m", 1, 3000, 0.03),    /* 3: same error, larger than 1: dominated */
        row("m", 1, 5000, 0.02),    /* 4: front */
        row("m", 1, 5000, 0.02),    /* 5: exact tie with 4: both stay */
        row("m", 0, 1066440, 0.01), /* 6: plain: never a candidate, does not dominate */
        row("f", 1, 9000, 0.20),    /* 7: other data set: its own front */
        row("m", 1, 900, NAN),      /* 8: no error: not on the front, dominates nothing */
        row("m", 1, 6000, 0.025),   /* 9: dominated by 4 */
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

/* ---- methods, fronts, baselines.h5 (issue 8) ---- */

static void test_method_family(void **state) {
    (void)state;
    char fam[32];
    const char *fams[][2] = {{"uniform6", "uniformN"},  {"uniform16", "uniformN"},  {"kmeans3", "kmeansN"},
                             {"uniform", "uniform"},    {"uniform6x", "uniform6x"}, {"prune-kmeans", "prune-kmeans"},
                             {"epr-sq", "epr-sq"},      {"gzip", "gzip"},           {"uniform4t", "uniformNt"},
                             {"kmeans12t", "kmeansNt"}, {"uniformt", "uniformt"},   {"uniform4tt", "uniform4tt"}};
    for (size_t i = 0; i < sizeof fams / sizeof fams[0]; i++) {
        pareto_method_family(fams[i][0], fam, sizeof fam);
        assert_string_equal(fam, fams[i][1]);
    }
}

static pareto_row mrow(const char *set, int epr, const char *method, long size, double err) {
    pareto_row r = row(set, epr, size, err);
    snprintf(r.method, sizeof r.method, "%s", method);
    return r;
}

static void test_method_fronts(void **state) {
    (void)state;
    pareto_row r[] = {
        mrow("m", 1, "epr-sq", 2000, 0.030),    /* 0: EPR front, SQ front, overall front */
        mrow("m", 1, "epr-sq", 3000, 0.029),    /* 1: SQ front; beaten by 2 (EPR front) and 4 (overall) */
        mrow("m", 1, "epr-dft", 2500, 0.028),   /* 2: every front */
        mrow("m", 1, "epr-dft", 2600, 0.031),   /* 3: beaten by 2: on no front */
        mrow("m", 0, "kmeans3", 2800, 0.027),   /* 4: kmeans family front; overall front */
        mrow("m", 0, "kmeans5", 9000, 0.027),   /* 5: same family, dominated by 4 */
        mrow("m", 0, "uniform4", 2900, 0.026),  /* 6: other family: its own front; overall front */
        mrow("m", 0, "plain", 1066440, 0.001),  /* 7: the reference: on no front, dominates nothing */
        mrow("m", 0, "plain-pruned", 100, 0.0), /* 8: float32 weights of a pruned run: off the fronts too */
        mrow("m", 0, "float32", 1066500, 0.02), /* 9: its family's front; overall front (most accurate) */
        mrow("f", 1, "epr-sq", 100000, 0.2),    /* 10: another data set: all its fronts */
        mrow("m", 0, "gzip", 5000, NAN),        /* 11: no error: on no front */
    };
    int n = (int)(sizeof r / sizeof r[0]);
    pareto_mark(r, n);
    /*                  0  1  2  3  4  5  6  7  8  9 10 11 */
    int pareto[] = {1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0};
    int method[] = {1, 1, 1, 0, 1, 0, 1, 0, 0, 1, 1, 0};
    int overall[] = {1, 0, 1, 0, 1, 0, 1, 0, 0, 1, 1, 0};
    for (int i = 0; i < n; i++)
        if (r[i].is_pareto != pareto[i] || r[i].is_method_front != method[i] || r[i].is_overall_front != overall[i])
            fail_msg("row %d (%s): pareto %d method %d overall %d, want %d %d %d", i, r[i].method, r[i].is_pareto,
                     r[i].is_method_front, r[i].is_overall_front, pareto[i], method[i], overall[i]);
}

/* A baselines.h5 in the layout of `epr baseline`; `brk` makes one thing wrong. */
typedef struct {
    const char *name;
    long bytes;
    double error;
} bl_method;

static void h5_attr_str(hid_t loc, const char *name, const char *v) {
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(loc, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(a >= 0 && H5Awrite(a, t, &v) >= 0);
    H5Aclose(a), H5Sclose(sp), H5Tclose(t);
}
static void h5_attr_i64(hid_t loc, const char *name, int64_t v) {
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(loc, name, H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(a >= 0 && H5Awrite(a, H5T_NATIVE_INT64, &v) >= 0);
    H5Aclose(a), H5Sclose(sp);
}
static void h5_attr_f64(hid_t loc, const char *name, double v) {
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(loc, name, H5T_IEEE_F64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(a >= 0 && H5Awrite(a, H5T_NATIVE_DOUBLE, &v) >= 0);
    H5Aclose(a), H5Sclose(sp);
}

static void write_baselines(const char *dir, const bl_method *m, int n, const char *brk) {
    char p[700];
    snprintf(p, sizeof p, "%s/baselines.h5", dir);
    if (!strcmp(brk, "not-hdf5")) {
        write_text(p, "not HDF5");
        return;
    }
    hid_t f = H5Fcreate(p, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(f >= 0);
    h5_attr_str(f, "source", strcmp(brk, "source") ? "run.h5" : "elsewhere.h5");
    h5_attr_i64(f, "steps", strcmp(brk, "steps") ? 50 : 49);
    h5_attr_f64(f, "wall_seconds", 1.0);
    h5_attr_i64(f, "float32_bytes", 4L * 266610);
    h5_attr_i64(f, "n_params", 266610);
    if (strcmp(brk, "no-experiment")) h5_attr_str(f, "experiment", "; TEST FIXTURE\n");
    if (strcmp(brk, "no-methods")) {
        hid_t g = H5Gcreate2(f, "methods", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        for (int i = 0; i < n; i++) {
            hid_t mg = H5Gcreate2(g, m[i].name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
            char file[128];
            snprintf(file, sizeof file, i == 0 && !strcmp(brk, "file-path") ? "../%s.bin" : "baseline_%s.bin",
                     m[i].name);
            h5_attr_str(mg, "method", i == 0 && !strcmp(brk, "method-attr") ? "other" : m[i].name);
            h5_attr_str(mg, "file", file);
            if (i == 0 && !strcmp(brk, "bytes-type"))
                h5_attr_str(mg, "file_bytes", "12");
            else
                h5_attr_i64(mg, "file_bytes", m[i].bytes);
            h5_attr_f64(mg, "test_error", i == 0 && !strcmp(brk, "error") ? -0.5 : m[i].error);
            if (!(i == 0 && !strcmp(brk, "no-seconds"))) h5_attr_f64(mg, "seconds", 2.5);
            h5_attr_str(mg, "description", "TEST FIXTURE");
            H5Gclose(mg);
            char fp[900];
            snprintf(fp, sizeof fp, "%s/%s", dir, file);
            if (i == 0 && (!strcmp(brk, "no-file") || !strcmp(brk, "file-path"))) {
                unlink(fp);
                continue;
            }
            FILE *bf = fopen(fp, "wb");
            assert_non_null(bf);
            long len = m[i].bytes + (i == 0 && !strcmp(brk, "size") ? 1 : 0);
            for (long k = 0; k < len; k++) fputc('B', bf);
            fclose(bf);
        }
        H5Gclose(g);
    }
    H5Fclose(f);
}

static void test_read_baselines(void **state) {
    (void)state;
    char dir[600], p[700], bp[700];
    fixture plain = {.final = 1, .epr = 0, .error = 0.02, .lambda = 0};
    snprintf(dir, sizeof dir, "%s/bl/plain", g_dir);
    write_run(dir, &plain);
    snprintf(p, sizeof p, "%s/run.h5", dir);
    snprintf(bp, sizeof bp, "%s/baselines.h5", dir);
    pareto_row run;
    epr_err e = {0};
    assert_int_equal(pareto_read_run(p, &run, &e), 0);
    assert_string_equal(run.method, "plain");
    snprintf(run.name, sizeof run.name, "plain");
    snprintf(run.source_run, sizeof run.source_run, "plain");
    bl_method m[] = {{"gzip", 900000, 0.02}, {"kmeans4", 70000, 0.025}, {"uniform8", 266700, 0.021}};

    write_baselines(dir, m, 3, "");
    pareto_baselines b;
    assert_int_equal(pareto_read_baselines(bp, &run, "plain", &b, &e), 0);
    assert_int_equal(b.n, 3);
    assert_int_equal(b.n_rejected, 0);
    assert_string_equal(b.rows[0].name, "plain:gzip"); /* in name order */
    assert_string_equal(b.rows[1].method, "kmeans4");
    assert_string_equal(b.rows[1].source_run, "plain");
    assert_string_equal(b.rows[1].bitstream, "plain/baseline_kmeans4.bin");
    assert_int_equal(b.rows[1].size_bytes, 70000);
    assert_true(fabs(b.rows[1].test_error - 0.025) < 1e-15);
    assert_true(fabs(b.rows[1].post_seconds - 2.5) < 1e-15);
    assert_true(fabs(b.rows[1].ratio - 4.0 * 266610 / 70000) < 1e-9);
    assert_true(isnan(b.rows[1].test_error_raw));
    assert_int_equal(b.rows[1].epr_enabled, 0);
    assert_int_equal(b.rows[1].steps, 50);
    pareto_baselines_free(&b);

    /* the file as a whole is malformed: an error naming it */
    struct {
        const char *brk, *why;
    } whole[] = {
        {"not-hdf5", "not an HDF5 file"}, {"source", "not the run file"},      {"steps", "stale"},
        {"no-experiment", "experiment"},  {"no-methods", "no group /methods"},
    };
    for (size_t i = 0; i < sizeof whole / sizeof whole[0]; i++) {
        write_baselines(dir, m, 3, whole[i].brk);
        int rc = pareto_read_baselines(bp, &run, "plain", &b, &e);
        if (rc == 0 || !strstr(e.msg, whole[i].why) || !strstr(e.msg, "baselines.h5"))
            fail_msg("%s: rc %d, message '%s' (want '%s' and the file)", whole[i].brk, rc, e.msg, whole[i].why);
        assert_null(b.rows);
    }
    /* one method is malformed: it alone is rejected, naming the file and the method */
    struct {
        const char *brk, *why;
    } one[] = {
        {"method-attr", "differs from the group name"},
        {"bytes-type", "file_bytes"},
        {"error", "not a fraction"},
        {"no-seconds", "seconds"},
        {"no-file", "is missing"},
        {"size", "has 900001 bytes"},
        {"file-path", "inside the run directory"},
    };
    for (size_t i = 0; i < sizeof one / sizeof one[0]; i++) {
        write_baselines(dir, m, 3, one[i].brk);
        int rc = pareto_read_baselines(bp, &run, "plain", &b, &e);
        if (rc != 0 || b.n != 2 || b.n_rejected != 1 || !strstr(b.rejected[0], one[i].why) ||
            !strstr(b.rejected[0], "baselines.h5") || !strstr(b.rejected[0], "/methods/gzip"))
            fail_msg("%s: rc %d, %d rows, %d rejected: '%s' (want '%s')", one[i].brk, rc, b.n, b.n_rejected,
                     b.n_rejected ? b.rejected[0] : "", one[i].why);
        pareto_baselines_free(&b);
    }
    /* the baselines of another network, or beside an EPR run */
    write_baselines(dir, m, 3, "");
    pareto_row other = run;
    other.float32_bytes += 4, other.n_params += 1;
    assert_true(pareto_read_baselines(bp, &other, "plain", &b, &e) != 0);
    assert_non_null(strstr(e.msg, "another run"));
    other = run;
    other.epr_enabled = 1;
    assert_true(pareto_read_baselines(bp, &other, "plain", &b, &e) != 0);
    assert_non_null(strstr(e.msg, "EPR run"));
}

static void test_sweep_baselines(void **state) {
    (void)state;
    sweep_table t;
    epr_err e = {0};
    assert_int_equal(load("experiment\tlambda\tseed\toverrides\n"
                          "tiny.ini\t0\t1\tepr.enabled=false\tbaseline.post=gzip, kmeans4,uniform8\tname=plain\n"
                          "tiny.ini\t0\t2\tepr.enabled=false\tbaseline.post=float32\tbaseline.post=\tname=empty\n"
                          "tiny.ini\t1e-6\t1\tname=epr\n",
                          &t, &e),
                     0);
    const char *extra[] = {"baseline.post=xz"};
    assert_string_equal(sweep_baseline_list(&t.runs[0], NULL, 0), "gzip, kmeans4,uniform8");
    assert_string_equal(sweep_baseline_list(&t.runs[0], extra, 1), "xz"); /* --set comes after the line's own */
    assert_null(sweep_baseline_list(&t.runs[1], NULL, 0));                /* the last one is empty */
    assert_null(sweep_baseline_list(&t.runs[2], NULL, 0));
    assert_string_equal(sweep_baseline_list(&t.runs[2], extra, 1), "xz");

    int argc;
    char **argv = sweep_baseline_args(&t.runs[0], "out", "gzip,kmeans4", &argc);
    assert_non_null(argv);
    assert_int_equal(argc, 4);
    assert_string_equal(argv[0], "baseline");
    assert_string_equal(argv[1], "out/plain/run.h5");
    assert_string_equal(argv[2], "--methods");
    assert_string_equal(argv[3], "gzip,kmeans4");
    assert_null(argv[4]);
    sweep_args_free(argv);

    char out[400], dir[600], miss[256];
    snprintf(out, sizeof out, "%s/swbl", g_dir);
    snprintf(dir, sizeof dir, "%s/plain", out);
    fixture plain = {.final = 1, .epr = 0, .error = 0.02};
    write_run(dir, &plain);
    const char *list = sweep_baseline_list(&t.runs[0], NULL, 0);
    int is_epr = -1;
    /* no baselines.h5: every method is missing */
    assert_int_equal(sweep_baselines_missing(out, &t.runs[0], list, miss, sizeof miss, &is_epr), 3);
    assert_string_equal(miss, "gzip,kmeans4,uniform8");
    assert_int_equal(is_epr, 0);
    /* one of them present */
    bl_method m[] = {{"kmeans4", 7000, 0.03}, {"xz", 800000, 0.02}};
    write_baselines(dir, m, 2, "");
    assert_int_equal(sweep_baselines_missing(out, &t.runs[0], list, miss, sizeof miss, NULL), 2);
    assert_string_equal(miss, "gzip,uniform8");
    /* a method whose file is not there (or not of its size) is missing */
    write_baselines(dir, m, 2, "size");
    assert_int_equal(sweep_baselines_missing(out, &t.runs[0], "kmeans4,xz", miss, sizeof miss, NULL), 1);
    assert_string_equal(miss, "kmeans4");
    write_baselines(dir, m, 2, "");
    assert_int_equal(sweep_baselines_missing(out, &t.runs[0], "kmeans4 xz", miss, sizeof miss, NULL), 0);
    assert_string_equal(miss, "");
    /* an unreadable baselines.h5 lacks everything */
    write_baselines(dir, m, 2, "not-hdf5");
    assert_int_equal(sweep_baselines_missing(out, &t.runs[0], "kmeans4,xz", miss, sizeof miss, NULL), 2);
    /* an EPR run says so */
    snprintf(dir, sizeof dir, "%s/epr", out);
    fixture epr = {.final = 1, .epr = 1, .error = 0.02, .lambda = 1e-6, .size = 100};
    write_run(dir, &epr);
    assert_int_equal(sweep_baselines_missing(out, &t.runs[2], "xz", miss, sizeof miss, &is_epr), 1);
    assert_int_equal(is_epr, 1);
    sweep_free(&t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_good),      cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_run_state),       cmocka_unit_test(test_pareto_rule),
        cmocka_unit_test(test_read_run_checks), cmocka_unit_test(test_method_family),
        cmocka_unit_test(test_method_fronts),   cmocka_unit_test(test_read_baselines),
        cmocka_unit_test(test_sweep_baselines),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
