/* study/sweep — λ sweep tables (sweeps/<name>.tsv) and running them on this
 * node, one run after another (`epr sweep`).
 *
 * Owns: parsing and checking a sweep table, the run names, the state of a
 * run directory (new / interrupted / complete, from its run file), the
 * `epr train` command line of a run, and the local sequential driver that
 * launches each run as a child (mpirun -np P, or directly for P = 1),
 * skipping complete runs and resuming interrupted ones, and the baseline
 * step of complete plain runs whose line asks for baselines
 * (baseline.post=LIST) that their baselines.h5 lacks.
 * May call: libc, POSIX (fork/exec/waitpid/signals), harness/h5run,
 * harness/fsutil, common/status.h.  The Slurm scripts (slurm/sweep.sbatch) ask
 * `epr sweep --task N --print-args` for a run's arguments, so the naming and
 * the resume decision live here only.
 *
 * Sweep table format, read me first:
 *   - tab-separated; the first non-comment line is the header, whose first
 *     field must be "experiment" (e.g. "experiment<TAB>lambda<TAB>seed<TAB>overrides");
 *   - every further non-blank line that does not start with '#' is one run:
 *       EXPERIMENT.ini <TAB> LAMBDA <TAB> SEED [<TAB> OVERRIDE]...
 *     where each OVERRIDE is "section.key=value" (as for `epr train --set`)
 *     or "name=RUN_NAME" (an explicit run name);
 *   - runs are numbered 0, 1, 2, ... in file order, comments and blank lines
 *     not counted: run k is Slurm array task k;
 *   - EXPERIMENT is resolved against the current directory, then against the
 *     sweep file's directory.
 * Run name (the run's directory under --out): "name=" if given, else
 * <experiment stem>_l<lambda %g>_s<seed>, plus "_<run index>" when the line
 * has overrides (they make it a different run).  Names must be unique. */
#ifndef EPR_HARNESS_SWEEP_H
#define EPR_HARNESS_SWEEP_H

#include <stdint.h>
#include <stdio.h>

#include "common/status.h"

#define SWEEP_MAX_OVERRIDES 32
#define SWEEP_NAME_MAX 200

typedef struct {
    char experiment[1024]; /* resolved path of the INI file */
    double lambda;
    uint64_t seed;
    char *overrides[SWEEP_MAX_OVERRIDES]; /* "section.key=value", malloc'd */
    int n_overrides;
    char name[SWEEP_NAME_MAX];
    int line;  /* 1-based line in the table */
    int index; /* 0-based run index (array task) */
} sweep_run;

typedef struct {
    char path[1024];
    sweep_run *runs;
    int n_runs;
} sweep_table;

/* Parses and checks the whole table; every problem is reported as
 * "FILE:LINE: ..." (EPR_EIO for an unreadable file, EPR_EFORMAT else). */
int sweep_load(const char *path, sweep_table *t, epr_err *err);
/* Same from memory; `path` names it in messages and locates experiments. */
int sweep_load_string(const char *text, const char *path, sweep_table *t, epr_err *err);
void sweep_free(sweep_table *t);

typedef enum {
    SWEEP_STATE_NEW,      /* no run file: start from scratch */
    SWEEP_STATE_PARTIAL,  /* run file without /final: resume from it */
    SWEEP_STATE_COMPLETE, /* run file with /final: skip */
    SWEEP_STATE_BROKEN    /* run file that cannot be read */
} sweep_state;

/* State of run r under out_dir; run_file receives OUT/<name>/run.h5.  For
 * BROKEN, err says why. */
sweep_state sweep_run_state(const char *out_dir, const sweep_run *r, char *run_file, size_t cap, epr_err *err);
const char *sweep_state_name(sweep_state s);

/* Baselines (issue 8).  The methods a run asks for: the value of its last
 * "baseline.post=LIST" setting (the line's own overrides, then extra_sets,
 * the later winning); NULL when none or the list is empty. */
const char *sweep_baseline_list(const sweep_run *r, const char *const *extra_sets, int n_extra);
/* Which methods of the comma/blank-separated list are missing from
 * OUT/<name>/baselines.h5: their names, comma-separated, into missing
 * (cap bytes; "" when none); returns how many.  A missing or unreadable
 * baselines.h5 lacks every method.  *is_epr (may be NULL) is set to 1 when
 * the run file says the run is an EPR run (baselines are made from plain
 * runs only: `epr train` ignores baseline.post there), else 0. */
int sweep_baselines_missing(const char *out_dir, const sweep_run *r, const char *list, char *missing, size_t cap,
                            int *is_epr);
/* The arguments after "epr": baseline OUT/<name>/run.h5 --methods LIST
 * (NULL-terminated, malloc'd; free with sweep_args_free). */
char **sweep_baseline_args(const sweep_run *r, const char *out_dir, const char *list, int *argc);

/* The arguments after "epr": train EXP --set epr.lambda=L --set
 * train.seed=S [--set OVERRIDE]... --out OUT/<name> [--resume RUN_FILE].
 * Returns a NULL-terminated malloc'd vector (free with sweep_args_free) and
 * its length in *argc; NULL when out of memory. */
char **sweep_train_args(const sweep_run *r, const char *out_dir, const char *resume_from, int *argc);
/* The same with extra "section.key=value" settings for every run, placed
 * after the line's own (so they win): `epr sweep --set`. */
char **sweep_train_args_ex(const sweep_run *r, const char *out_dir, const char *resume_from,
                           const char *const *extra_sets, int n_extra, int *argc);
void sweep_args_free(char **argv);

typedef struct {
    const char *out_dir;
    const char *epr;         /* the epr binary (default: this executable) */
    const char *mpirun;      /* launcher for np > 1 (default "mpirun") */
    int np;                  /* ranks per run */
    int dry_run;             /* print the commands, run nothing */
    int verbose;             /* echo the runs' output (it always goes to OUT/<name>/train.log) */
    int only;                /* run only this index (-1: all) */
    const char *const *sets; /* extra --set for every run (after the line's own) */
    int n_sets;
    FILE *log; /* progress lines (stdout) */
} sweep_opts;

/* Runs the table.  A complete run (or one that has just completed) whose
 * line has baseline.post=LIST missing from its baselines.h5 then runs
 * `EPR baseline OUT/<name>/run.h5 --methods LIST` (output appended to its
 * train.log; a failure counts as a failed run).  Returns 0 when every run is complete at the end, 75 when
 * the sweep was interrupted by a signal (rerun to resume), 1 when some runs
 * failed (the others still ran), 2 for bad options. */
int sweep_execute(const sweep_table *t, const sweep_opts *o, epr_err *err);

/* The `epr sweep` and `epr pareto` commands (cmd_sweep.c). */
int cmd_sweep(int argc, char **argv);
int cmd_pareto(int argc, char **argv);
void usage_sweep(FILE *f);
void usage_pareto(FILE *f);

#endif
