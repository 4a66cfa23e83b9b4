/* study/cmd_sweep.c — the `epr sweep` and `epr pareto` commands:
 * argument parsing over harness/sweep and harness/pareto.  No MPI here:
 * sweep launches `epr train` children (under mpirun for P > 1). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "run/config.h"
#include "study/pareto.h"
#include "study/sweep.h"

#define CMD_SWEEP_MAX_SETS 64 /* --set options of one command */

void usage_sweep(FILE *f) {
    fprintf(f, "usage: epr sweep SWEEP.tsv --out DIR [options]\n"
               "       epr sweep SWEEP.tsv --check\n\n"
               "Runs every line of a sweep table on this node, one after another, each as\n"
               "  mpirun -np P epr train EXP --set epr.lambda=L --set train.seed=S [--set K=V]... --out DIR/<run>\n"
               "(without mpirun for P = 1).  Complete runs (DIR/<run>/run.h5 with a /final group)\n"
               "are skipped; interrupted ones (run.h5 without /final) resume with --resume.\n"
               "Each run's output goes to DIR/<run>/train.log.  A complete plain run whose line\n"
               "has baseline.post=LIST and whose DIR/<run>/baselines.h5 lacks one of those methods\n"
               "gets them with `epr baseline DIR/<run>/run.h5 --methods LIST` (same binary, output\n"
               "appended to its train.log; a failure counts as a failed run): finished runs of\n"
               "older sweeps gain their baselines without training again.  Ctrl-C, SIGTERM or SIGHUP ask\n"
               "the running training to checkpoint and stop (SIGUSR1 to it or its mpirun): rerun the same\n"
               "command to resume.  If the sweep itself is killed (SIGKILL), its child gets SIGUSR1 from\n"
               "the kernel and checkpoints and stops too; a run directory another process trains in\n"
               "(DIR/<run>/run.lock) is refused, never trained twice.\n"
               "Then `epr pareto DIR` builds DIR/sweep.h5 and DIR/report.md.\n\n"
               "SWEEP.tsv (tab-separated):\n"
               "  experiment<TAB>lambda<TAB>seed<TAB>overrides        <- header line\n"
               "  experiments/x.ini<TAB>3e-6<TAB>1                    <- one run per line\n"
               "  experiments/x.ini<TAB>0<TAB>1<TAB>epr.enabled=false<TAB>name=plain\n"
               "  overrides: section.key=value (as for epr train --set), or name=RUN_NAME;\n"
               "  '#' lines and blank lines are ignored; run k (0-based, in file order) is\n"
               "  Slurm array task k; EXPERIMENT is found from the current directory or\n"
               "  beside the table.\n"
               "  run name: <experiment stem>_l<lambda>_s<seed>, plus _<k> when the line has overrides\n\n"
               "options:\n"
               "  --out DIR         results directory (required)\n"
               "  --np P            MPI ranks per run (default 1)\n"
               "  --epr PATH        the epr binary to run (default: this one)\n"
               "  --mpirun CMD      launcher for P > 1 (default $EPR_MPIRUN, else mpirun)\n"
               "  --only K          run only run K (0-based)\n"
               "  --set K=V         add --set K=V to every run, after the line's own (repeatable), e.g.\n"
               "                    --set train.steps=200 for a quick try (names and the skip of complete\n"
               "                    runs do not see it: use another --out)\n"
               "  --dry-run         print what would run, start nothing\n"
               "  --check           load every run's experiment with its overrides as epr train does\n"
               "                    (keys, values, schedules; no data, no network) and print ok or the\n"
               "                    error per run; exit status 1 if one fails.  No --out needed\n"
               "  --list            print each run: index, name, state (new|interrupted|complete|broken), line\n"
               "                    (then 'baselines missing: LIST' for a complete run that lacks some)\n"
               "  --task K --print-args\n"
               "                    print the `epr train` arguments of run K, one per line (nothing when\n"
               "                    it is complete): how slurm/sweep.sbatch launches its array task\n"
               "  -v, --verbose     echo the runs' output too\n"
               "  -h, --help        this text\n"
               "As root, the children get OMPI_ALLOW_RUN_AS_ROOT(_CONFIRM)=1; OPENBLAS_NUM_THREADS\n"
               "defaults to 1.  Exit status: 0 all runs complete, 1 some failed, 75 interrupted.\n");
}

void usage_pareto(FILE *f) {
    fprintf(f, "usage: epr pareto DIR [--baseline RUN.h5] [--h5 FILE] [--report FILE] [--quiet]\n\n"
               "Reads every finished run file DIR/*/run.h5 and the baselines.h5 beside plain runs\n"
               "(files of `epr baseline`: float32, gzip, xz, uniformN, kmeansN, prune-kmeans) and writes\n"
               "  DIR/sweep.h5   one row per point under /runs (name, method, experiment, model,\n"
               "                 data_set, lambda, seed, size_bytes, bits_per_param, test_error,\n"
               "                 ratio vs float32, is_pareto, is_method_front, is_overall_front,\n"
               "                 is_baseline, ...) and /links/<run>, external links to the run files\n"
               "  DIR/report.md  the Pareto set, the fronts per method and across methods, the\n"
               "                 uncompressed baseline, the paper's Table 1 figure, and all points\n"
               "Methods: epr-sq (every group transform identity), epr-dft / epr-ro / epr-learned\n"
               "(a group with that transform), plain (the reference), or the baselines.h5 method.\n"
               "A run is on the Pareto front when no other EPR run on the same data set is at\n"
               "most as large and at most as wrong, one of them strictly.  Plain float32 runs\n"
               "(epr disabled) in DIR are the baseline; else give one with --baseline.\n"
               "Unfinished runs are listed and left out; malformed run files and baselines.h5\n"
               "are rejected with a message naming them (exit status 1, the outputs still hold\n"
               "the good ones).\n"
               "  --baseline RUN.h5   a plain run file from elsewhere\n"
               "  --h5 FILE           write the table here instead of DIR/sweep.h5\n"
               "  --report FILE       write the report here instead of DIR/report.md\n"
               "  --quiet             no summary on stdout\n"
               "Plot: /usr/bin/python3 analysis/plot_pareto.py DIR/sweep.h5 -o pareto.png\n");
}

static int parse_int(const char *s, int lo, int hi, int *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (*end || end == s || errno || v < lo || v > hi) return -1;
    *out = (int)v;
    return 0;
}

/* --task K --print-args: the `epr train` arguments of run K, one a line
 * (the Slurm scripts read them); nothing for a complete run. */
static int print_task_args(const sweep_table *t, const char *table, int task, const char *out, const char *const *sets,
                           int nsets) {
    epr_err err = {0};
    int rc = 0;
    if (task >= t->n_runs) {
        fprintf(stderr, "epr sweep: %s has %d runs (0..%d): no run %d\n", table, t->n_runs, t->n_runs - 1, task);
        rc = 1;
    } else {
        const sweep_run *r = &t->runs[task];
        char run_file[1400];
        sweep_state st = sweep_run_state(out, r, run_file, sizeof run_file, &err);
        if (st == SWEEP_STATE_BROKEN) {
            fprintf(stderr, "epr sweep: run %d (%s): %s\n", task, r->name, err.msg);
            rc = 1;
        } else if (st == SWEEP_STATE_COMPLETE) {
            fprintf(stderr, "epr sweep: run %d (%s) is complete (%s has /final)\n", task, r->name, run_file);
        } else {
            int n;
            char **args = sweep_train_args_ex(r, out, st == SWEEP_STATE_PARTIAL ? run_file : NULL, sets, nsets, &n);
            if (!args) {
                fprintf(stderr, "epr sweep: out of memory\n");
                rc = 1;
            } else {
                for (int i = 0; i < n; i++) printf("%s\n", args[i]);
                sweep_args_free(args);
                fprintf(stderr, "epr sweep: run %d (%s): %s\n", task, r->name,
                        st == SWEEP_STATE_PARTIAL ? "resuming from its checkpoint" : "new");
            }
        }
    }
    return rc;
}

/* --check: every run's experiment with its overrides through epr train's
 * loader (cfg_load: keys, values, their checks), nothing started. */
static int check_runs(const sweep_table *t, const char *table, const char *const *sets, int nsets) {
    int bad = 0;
    for (int i = 0; i < t->n_runs; i++) {
        int n;
        char **args = sweep_train_args_ex(&t->runs[i], ".", NULL, sets, nsets, &n);
        if (!args) {
            fprintf(stderr, "epr sweep: out of memory\n");
            return 1;
        }
        const char *ov[SWEEP_MAX_OVERRIDES + 2 + CMD_SWEEP_MAX_SETS]; /* λ, seed, the line's, every --set */
        int nov = 0;
        for (int k = 2; k + 1 < n && nov < (int)(sizeof ov / sizeof ov[0]);
             k++) /* train EXP [--set K=V]... --out DIR */
            if (!strcmp(args[k], "--set")) ov[nov++] = args[++k];
        cfg_experiment cfg;
        epr_err e = {0};
        int rc = cfg_load(args[1], ov, nov, &cfg, &e);
        cfg_free(&cfg);
        printf("%d\t%s\t%s\tline %d%s%s\n", i, t->runs[i].name, rc ? "error" : "ok", t->runs[i].line, rc ? "\t" : "",
               rc ? e.msg : "");
        bad += rc != 0;
        sweep_args_free(args);
    }
    if (bad) fprintf(stderr, "epr sweep: %s: %d of %d runs do not load\n", table, bad, t->n_runs);
    return bad ? 1 : 0;
}

/* --list: one line per run: index, name, state, table line, what is wrong
 * or missing. */
static void list_runs(const sweep_table *t, const char *out, const char *const *sets, int nsets) {
    for (int i = 0; i < t->n_runs; i++) {
        char run_file[1400];
        epr_err e = {0};
        sweep_state st = sweep_run_state(out, &t->runs[i], run_file, sizeof run_file, &e);
        char miss[1024] = "", extra[1100] = "";
        const char *bl = sweep_baseline_list(&t->runs[i], sets, nsets);
        int is_epr = 0;
        if (st == SWEEP_STATE_COMPLETE && bl &&
            sweep_baselines_missing(out, &t->runs[i], bl, miss, sizeof miss, &is_epr) && !is_epr)
            snprintf(extra, sizeof extra, "\tbaselines missing: %s", miss);
        printf("%d\t%s\t%s\tline %d%s%s%s\n", i, t->runs[i].name, sweep_state_name(st), t->runs[i].line,
               st == SWEEP_STATE_BROKEN ? "\t" : "", st == SWEEP_STATE_BROKEN ? e.msg : "", extra);
    }
}

int cmd_sweep(int argc, char **argv) {
    const char *table = NULL, *out = NULL, *epr = NULL, *mpirun = getenv("EPR_MPIRUN");
    int np = 1, only = -1, task = -1, dry = 0, verbose = 0, list = 0, print_args = 0, nsets = 0, check = 0;
    const char *sets[CMD_SWEEP_MAX_SETS];
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage_sweep(stdout);
            return 0;
        } else if (!strcmp(a, "--out") && more) {
            out = argv[++i];
        } else if (!strcmp(a, "--np") && more) {
            if (parse_int(argv[++i], 1, 100000, &np)) {
                fprintf(stderr, "epr sweep: --np '%s' is not a rank count >= 1\n", argv[i]);
                return 2;
            }
        } else if ((!strcmp(a, "--only") || !strcmp(a, "--task")) && more) {
            int *dst = !strcmp(a, "--only") ? &only : &task;
            if (parse_int(argv[++i], 0, 1 << 30, dst)) {
                fprintf(stderr, "epr sweep: %s '%s' is not a run index >= 0\n", a, argv[i]);
                return 2;
            }
        } else if (!strcmp(a, "--set") && more) {
            const char *kv = argv[++i], *eq = strchr(kv, '='), *dot = strchr(kv, '.');
            if (!eq || !dot || dot > eq || dot == kv || dot + 1 == eq) {
                fprintf(stderr, "epr sweep: --set '%s' is not of the form section.key=value\n", kv);
                return 2;
            }
            if (!strncmp(kv, "epr.lambda=", 11) || !strncmp(kv, "train.seed=", 11)) {
                fprintf(stderr, "epr sweep: --set '%s' would override the table's lambda/seed columns\n", kv);
                return 2;
            }
            if (nsets == CMD_SWEEP_MAX_SETS) {
                fprintf(stderr, "epr sweep: too many --set options\n");
                return 2;
            }
            sets[nsets++] = kv;
        } else if (!strcmp(a, "--epr") && more) {
            epr = argv[++i];
        } else if (!strcmp(a, "--mpirun") && more) {
            mpirun = argv[++i];
        } else if (!strcmp(a, "--dry-run")) {
            dry = 1;
        } else if (!strcmp(a, "--list")) {
            list = 1;
        } else if (!strcmp(a, "--check")) {
            check = 1;
        } else if (!strcmp(a, "--print-args")) {
            print_args = 1;
        } else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
            verbose = 1;
        } else if (a[0] == '-') {
            fprintf(stderr, "epr sweep: unknown or incomplete option '%s' (see epr sweep --help)\n", a);
            return 2;
        } else if (!table) {
            table = a;
        } else {
            fprintf(stderr, "epr sweep: unexpected argument '%s'\n", a);
            return 2;
        }
    }
    if (!table || (!out && !check)) {
        fprintf(stderr, "epr sweep: need SWEEP.tsv and --out DIR (see epr sweep --help)\n");
        return 2;
    }
    if (check && (list || print_args || dry || only >= 0)) {
        fprintf(stderr, "epr sweep: --check runs nothing and lists nothing: not with --list, --print-args, "
                        "--dry-run or --only\n");
        return 2;
    }
    if (print_args != (task >= 0)) {
        fprintf(stderr, "epr sweep: --task K and --print-args go together\n");
        return 2;
    }
    sweep_table t;
    epr_err err = {0};
    if (sweep_load(table, &t, &err)) {
        fprintf(stderr, "epr sweep: error: %s\n", err.msg);
        return 1;
    }
    int rc = 0;
    if (check) {
        rc = check_runs(&t, table, sets, nsets);
    } else if (print_args) {
        rc = print_task_args(&t, table, task, out, sets, nsets);
    } else if (list) {
        list_runs(&t, out, sets, nsets);
    } else {
        char self[4096];
        if (!epr) {
            ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
            if (n > 0) {
                self[n] = 0;
                epr = self;
            } else {
                epr = "epr";
            }
        }
        sweep_opts o = {.out_dir = out,
                        .epr = epr,
                        .mpirun = mpirun && *mpirun ? mpirun : "mpirun",
                        .np = np,
                        .dry_run = dry,
                        .verbose = verbose,
                        .only = only,
                        .log = stdout,
                        .sets = sets,
                        .n_sets = nsets};
        rc = sweep_execute(&t, &o, &err);
        if (rc < 0) {
            fprintf(stderr, "epr sweep: error: %s\n", err.msg);
            rc = rc == EPR_EARG ? 2 : 1;
        }
    }
    sweep_free(&t);
    return rc;
}

int cmd_pareto(int argc, char **argv) {
    pareto_opts o = {.log = stdout};
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage_pareto(stdout);
            return 0;
        } else if (!strcmp(a, "--baseline") && more) {
            o.baseline = argv[++i];
        } else if (!strcmp(a, "--h5") && more) {
            o.h5_out = argv[++i];
        } else if (!strcmp(a, "--report") && more) {
            o.report_out = argv[++i];
        } else if (!strcmp(a, "--quiet")) {
            o.log = NULL;
        } else if (a[0] == '-') {
            fprintf(stderr, "epr pareto: unknown or incomplete option '%s' (see epr pareto --help)\n", a);
            return 2;
        } else if (!o.dir) {
            o.dir = a;
        } else {
            fprintf(stderr, "epr pareto: unexpected argument '%s'\n", a);
            return 2;
        }
    }
    if (!o.dir) {
        fprintf(stderr, "epr pareto: missing DIR (see epr pareto --help)\n");
        return 2;
    }
    epr_err err = {0};
    int rc = pareto_run(&o, &err);
    if (rc < 0) {
        fprintf(stderr, "epr pareto: error: %s\n", err.msg);
        return 1;
    }
    return rc;
}
