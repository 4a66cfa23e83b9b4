/* study/sweep_exec.c — sweep_execute (sweep.h): the local sequential driver
 * of `epr sweep`.  Each run is a child (mpirun -np P, or `epr` directly for
 * P = 1) in its own process group, its output in <run>/train.log; complete
 * runs are skipped, interrupted ones resumed, then the baseline step of a
 * plain run whose line asks for baselines.  Signals to the sweep are passed
 * on to the run (it checkpoints and stops).  May call: libc, POSIX
 * (fork/exec/waitpid/signals/prctl), run/fsutil, run/h5run. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "run/fsutil.h"
#include "run/h5run.h"
#include "study/sweep.h"

static volatile sig_atomic_t g_signal, g_stop;
static void on_signal(int s) { g_signal = s, g_stop = 1; }

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void fmt_duration(double s, char *buf, size_t n) {
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
    else
        snprintf(buf, n, "%ld:%02ld", t / 60, t % 60);
}

static void print_cmd(FILE *f, char *const *argv) {
    for (int i = 0; argv[i]; i++) {
        const char *a = argv[i];
        int quote = !*a || strpbrk(a, " \t'\"$\\;&|<>*?()") != NULL;
        fprintf(f, "%s%s%s%s", i ? " " : "", quote ? "'" : "", a, quote ? "'" : "");
    }
    fputc('\n', f);
}

/* A signal the sweep got since the last call goes on to the run pid:
 * SIGUSR1 the first time (mpirun forwards it itself: the launcher only),
 * then SIGTERM and SIGKILL to its process group. */
static void forward_signal(pid_t pid, int *forwarded, FILE *log) {
    if (!g_signal || *forwarded >= 3) return;
    int s = *forwarded == 0 ? SIGUSR1 : *forwarded == 1 ? SIGTERM : SIGKILL;
    const char *what = s == SIGUSR1 ? "SIGUSR1 (checkpoint and stop)" : s == SIGTERM ? "SIGTERM" : "SIGKILL";
    fprintf(log, "epr sweep: signal %d: sending %s to the run (pid %d)\n", (int)g_signal, what, (int)pid);
    fflush(log);
    kill(s == SIGUSR1 ? pid : -pid, s);
    ++*forwarded;
    g_signal = 0;
}

/* Runs argv as a child in its own process group, its output appended to
 * log_path (by the child itself; when verbose through a pipe and echoed).
 * A SIGINT/SIGTERM/SIGHUP/SIGUSR1 to
 * the sweep is passed on as SIGUSR1 (epr train then checkpoints and exits
 * 75; mpirun forwards SIGUSR1 to its ranks and exits 75, where TERM/INT/HUP
 * would make Open MPI 4.1 exit 1 and SIGKILL the ranks a second later); a
 * second one as SIGTERM to the child's group, a third SIGKILL.  Should the
 * sweep die without a word (SIGKILL), the kernel sends the child SIGUSR1
 * (PR_SET_PDEATHSIG): no training goes on unsupervised, it checkpoints and
 * stops; the child ignores SIGPIPE, so the pipe to a dead sweep does not
 * kill it before its checkpoint.  Returns the exit status, 128+signal if
 * killed, -1 if it could not start. */
static int run_child(char *const *argv, const char *log_path, int verbose, FILE *log, epr_err *err) {
    int logfd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (logfd < 0) {
        cmn_fail(err, EPR_EIO, "%s: cannot open the run log: %s", log_path, strerror(errno));
        return -1;
    }
    int pfd[2];
    if (pipe(pfd)) {
        close(logfd);
        cmn_fail(err, EPR_EIO, "pipe: %s", strerror(errno));
        return -1;
    }
    fflush(log);
    fflush(stdout);
    fflush(stderr);
    const pid_t sweep_pid = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        close(logfd), close(pfd[0]), close(pfd[1]);
        cmn_fail(err, EPR_EIO, "fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        setpgid(0, 0);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGHUP, SIG_DFL);
        signal(SIGUSR1, SIG_DFL);
        signal(SIGPIPE, SIG_IGN); /* kept across exec */
        /* the sweep's death reaches the child (kept across exec); a sweep
         * already gone before this line is seen by the parent pid */
        if (prctl(PR_SET_PDEATHSIG, SIGUSR1) || getppid() != sweep_pid) _exit(127);
        /* its own process group is a background group on a terminal: it
         * must never read the tty (mpirun forwards stdin to rank 0) */
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0) dup2(devnull, 0), close(devnull);
        /* echoed: through the sweep; else straight into the log, so what a
         * run says after its sweep died (its checkpoint) is not lost */
        int out = verbose ? pfd[1] : logfd;
        dup2(out, 1);
        dup2(out, 2);
        close(pfd[0]);
        close(pfd[1]);
        execvp(argv[0], argv);
        fprintf(stderr, "epr sweep: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    setpgid(pid, pid);
    close(pfd[1]);
    if (!verbose) close(pfd[0]); /* the child writes the log itself */
    char buf[4096];
    int forwarded = 0;
    for (; verbose;) {
        forward_signal(pid, &forwarded, log);
        ssize_t n = read(pfd[0], buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        ssize_t off = 0;
        while (off < n) {
            ssize_t w = write(logfd, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) break;
            off += w;
        }
        if (verbose) {
            fwrite(buf, 1, (size_t)n, log);
            fflush(log);
        }
    }
    if (verbose) close(pfd[0]);
    close(logfd);
    int status;
    forward_signal(pid, &forwarded, log);
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            cmn_fail(err, EPR_EIO, "waitpid: %s", strerror(errno));
            return -1;
        }
        forward_signal(pid, &forwarded, log);
    }
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return -1;
}

/* Last lines of a log, for a failed run. */
static void print_tail(FILE *out, const char *path, int lines) {
    FILE *f = fopen(path, "rb");
    if (!f) return;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    long from = size > 4000 ? size - 4000 : 0;
    fseek(f, from, SEEK_SET);
    char buf[4001];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = buf + n;
    int seen = 0;
    while (p > buf && seen <= lines)
        if (*--p == '\n' && p + 1 < buf + n) seen++;
    if (*p == '\n') p++;
    fprintf(out, "---- last lines of %s ----\n%s", path, p);
    if (n && buf[n - 1] != '\n') fputc('\n', out);
    fprintf(out, "----\n");
}

static void summary_line(FILE *out, const char *run_file) {
    h5run *h;
    epr_err e = {0};
    if (h5run_open(run_file, &h, &e)) return;
    double err = NAN;
    int64_t size = 0, f32 = 0;
    if (!h5run_get_f64(h, "/final", "test_error", &err, &e) && !h5run_get_i64(h, "/final", "size_bytes", &size, &e) &&
        !h5run_get_i64(h, "/final", "float32_bytes", &f32, &e) && size > 0)
        fprintf(out, "    test error %.2f%%, %lld bytes (%.2f KB, %.1fx smaller than float32)\n", 100 * err,
                (long long)size, size / 1e3, (double)f32 / (double)size);
    h5run_close(h);
}

/* Prints the command line of a child; with --dry-run that is all: frees
 * it (argv, and args with sweep_args_free) and returns 1. */
static int announce(const sweep_opts *o, FILE *log, char **argv, char **args) {
    print_cmd(log, argv);
    fflush(log);
    if (!o->dry_run) return 0;
    free(argv);
    sweep_args_free(args);
    return 1;
}

/* The baseline step of run r (complete): `EPR baseline` when its
 * baseline.post methods are not all in its baselines.h5.  Returns 0 when
 * nothing was missing or the step succeeded (*ran = 1 if it ran), 1 when it
 * failed, 75 when a signal stopped it; -1 with err out of memory. */
static int baseline_step(const sweep_run *r, const sweep_opts *o, int k, int total, double t0, const char *when,
                         int *ran, epr_err *err) {
    FILE *log = o->log ? o->log : stdout;
    *ran = 0;
    const char *list = sweep_baseline_list(r, o->sets, o->n_sets);
    if (!list) return 0;
    char missing[1024], el[32];
    int is_epr = 0;
    if (!sweep_baselines_missing(o->out_dir, r, list, missing, sizeof missing, &is_epr)) return 0;
    fmt_duration(now_s() - t0, el, sizeof el);
    if (is_epr) {
        fprintf(log, "[%d/%d] %s: baseline.post ignored: an EPR run (baselines are made from plain runs)\n", k, total,
                r->name);
        return 0;
    }
    int bargc;
    char **bargs = sweep_baseline_args(r, o->out_dir, list, &bargc);
    RETURN_ERROR_IF(!bargs, err, EPR_ENOMEM, "out of memory");
    char **argv = calloc((size_t)bargc + 2, sizeof *argv);
    if (!argv) {
        sweep_args_free(bargs);
        return cmn_fail(err, EPR_ENOMEM, "out of memory");
    }
    argv[0] = (char *)o->epr;
    for (int j = 0; j < bargc; j++) argv[1 + j] = bargs[j];
    fprintf(log, "[%d/%d] %s: %s; baselines missing from baselines.h5: %s (elapsed %s)\n    ", k, total, r->name, when,
            missing, el);
    if (announce(o, log, argv, bargs)) return 0;
    char log_path[1500];
    snprintf(log_path, sizeof log_path, "%s/%s/train.log", o->out_dir, r->name);
    epr_err se = {0};
    double ts = now_s();
    int rc = run_child(argv, log_path, o->verbose, log, &se);
    if (rc < 0) rc = 127;
    free(argv);
    sweep_args_free(bargs);
    *ran = 1;
    char took[32];
    fmt_duration(now_s() - ts, took, sizeof took);
    fmt_duration(now_s() - t0, el, sizeof el);
    char still[1024] = "";
    int n_still = rc == 0 ? sweep_baselines_missing(o->out_dir, r, list, still, sizeof still, NULL) : 0;
    if (rc == 0 && !n_still) {
        fprintf(log, "[%d/%d] %s: baselines done in %s (elapsed %s)\n", k, total, r->name, took, el);
        return 0;
    }
    if (rc == 75 || (g_stop && rc != 0)) {
        fprintf(log, "[%d/%d] %s: baselines stopped by a signal after %s (exit %d); rerun the same command to resume\n",
                k, total, r->name, took, rc);
        return 75;
    }
    if (rc == 0)
        fprintf(log, "[%d/%d] %s: FAILED: epr baseline exited 0 but %s/%s/baselines.h5 still lacks %s\n", k, total,
                r->name, o->out_dir, r->name, still);
    else if (se.msg[0])
        fprintf(log, "[%d/%d] %s: FAILED: epr baseline could not run: %s\n", k, total, r->name, se.msg);
    else
        fprintf(log, "[%d/%d] %s: FAILED: epr baseline exited with status %d after %s (log: %s)\n", k, total, r->name,
                rc, took, log_path);
    if (!o->verbose) print_tail(log, log_path, 12);
    return 1;
}

/* Appends " NAME" to the list of failed runs NAMES (CAP bytes) when it fits
 * whole. */
static void add_failed_name(char *names, size_t cap, const char *name) {
    if (strlen(names) + strlen(name) + 2 < cap) snprintf(names + strlen(names), cap - strlen(names), " %s", name);
}

/* Counts a baseline step of run NAME (BRC: baseline_step's return, >= 0;
 * BRAN: its *ran) in the sweep's totals: 75 interrupts the sweep, 1 is a
 * failed run. */
static void count_baseline_step(int brc, int bran, const char *name, int *baseline_steps, int *interrupted, int *failed,
                                char *failed_names, size_t cap) {
    *baseline_steps += bran;
    if (brc == 75) *interrupted = 1;
    if (brc == 1) {
        (*failed)++;
        add_failed_name(failed_names, cap, name);
    }
}

/* Children of root need Open MPI's consent; one BLAS thread per rank. */
static void child_environment(const sweep_opts *o) {
    if (geteuid() == 0) {
        setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 0);
        setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 0);
    }
    setenv("OPENBLAS_NUM_THREADS", "1", 0);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (o->np > 1 && cpus > 0 && o->np > cpus) setenv("OMPI_MCA_rmaps_base_oversubscribe", "1", 0);
}

/* The sweep's handlers while it runs, and the caller's to put back. */
typedef struct {
    struct sigaction old_int, old_term, old_usr1, old_hup, old_pipe;
} saved_signals;

static void signals_install(saved_signals *s) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART: read() must return EINTR */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &s->old_int);
    sigaction(SIGTERM, &sa, &s->old_term);
    sigaction(SIGUSR1, &sa, &s->old_usr1);
    sigaction(SIGHUP, &sa, &s->old_hup); /* a closed terminal: stop the run as Ctrl-C does */
    sa.sa_handler = SIG_IGN;             /* a closed log pipe (| tee) must not kill the supervisor */
    sigaction(SIGPIPE, &sa, &s->old_pipe);
    g_signal = 0, g_stop = 0;
}

static void signals_restore(const saved_signals *s) {
    sigaction(SIGINT, &s->old_int, NULL);
    sigaction(SIGTERM, &s->old_term, NULL);
    sigaction(SIGUSR1, &s->old_usr1, NULL);
    sigaction(SIGHUP, &s->old_hup, NULL);
    sigaction(SIGPIPE, &s->old_pipe, NULL);
}

/* The sweep's totals, for its last lines. */
typedef struct {
    int total, failed, skipped, ran, interrupted, baseline_steps;
    char failed_names[1024];
    double t0;
} sweep_tally;

/* A complete run: skipped, then its baseline step. */
static int run_complete(const sweep_run *r, const sweep_opts *o, int k, sweep_tally *y, const char *el, epr_err *err) {
    FILE *log = o->log ? o->log : stdout;
    char miss[1024];
    int is_epr = 0;
    const char *bl = sweep_baseline_list(r, o->sets, o->n_sets);
    if (!bl || !sweep_baselines_missing(o->out_dir, r, bl, miss, sizeof miss, &is_epr) || is_epr)
        fprintf(log, "[%d/%d] %s: complete, skipped (elapsed %s)\n", k, y->total, r->name, el);
    y->skipped++;
    int bran = 0, brc = baseline_step(r, o, k, y->total, y->t0, "complete", &bran, err);
    if (brc < 0) return brc;
    count_baseline_step(brc, bran, r->name, &y->baseline_steps, &y->interrupted, &y->failed, y->failed_names,
                        sizeof y->failed_names);
    fflush(log);
    return 0;
}

/* The command line of a run: [mpirun -np P] epr train ... (NULL-terminated;
 * free the array, not its strings, and *targs with sweep_args_free); np:
 * room for P as text. */
static char **train_command(const sweep_run *r, const sweep_opts *o, const char *resume_from, char np[16],
                            char ***targs) {
    int targc;
    *targs = sweep_train_args_ex(r, o->out_dir, resume_from, o->sets, o->n_sets, &targc);
    if (!*targs) return NULL;
    snprintf(np, 16, "%d", o->np);
    const char *pre[4];
    int npre = 0;
    if (o->np > 1) pre[npre++] = o->mpirun, pre[npre++] = "-np", pre[npre++] = np;
    pre[npre++] = o->epr;
    char **argv = calloc((size_t)(npre + targc + 1), sizeof *argv);
    if (!argv) {
        sweep_args_free(*targs);
        *targs = NULL;
        return NULL;
    }
    for (int j = 0; j < npre; j++) argv[j] = (char *)pre[j];
    for (int j = 0; j < targc; j++) argv[npre + j] = (*targs)[j];
    return argv;
}

/* A new or interrupted run: train it (or resume it) as a child, then say
 * how it ended; a complete one goes on to its baseline step. */
static int run_train(const sweep_run *r, const sweep_opts *o, int k, sweep_state st, char *run_file, size_t run_cap,
                     sweep_tally *y, const char *el0, epr_err *err) {
    FILE *log = o->log ? o->log : stdout;
    int total = y->total;
    char **targs, np[16];
    char **argv = train_command(r, o, st == SWEEP_STATE_PARTIAL ? run_file : NULL, np, &targs);
    RETURN_ERROR_IF(!argv, err, EPR_ENOMEM, "out of memory");
    fprintf(log, "[%d/%d] %s: %s (elapsed %s)\n    ", k, total, r->name,
            st == SWEEP_STATE_PARTIAL ? "resuming from its checkpoint" : "starting", el0);
    if (announce(o, log, argv, targs)) return 0;
    char run_dir[1400], log_path[1500];
    snprintf(run_dir, sizeof run_dir, "%s/%s", o->out_dir, r->name);
    snprintf(log_path, sizeof log_path, "%s/train.log", run_dir);
    epr_err se = {0}; /* only why the run could not start */
    int rc = fs_mkdir_p(run_dir, &se);
    double ts = now_s();
    if (!rc) {
        rc = run_child(argv, log_path, o->verbose, log, &se);
        if (rc < 0) rc = 127;
    } else {
        rc = 127;
    }
    free(argv);
    sweep_args_free(targs);
    char took[32], el[32];
    fmt_duration(now_s() - ts, took, sizeof took);
    fmt_duration(now_s() - y->t0, el, sizeof el);
    y->ran++;
    epr_err fe = {0};
    sweep_state after = sweep_run_state(o->out_dir, r, run_file, run_cap, &fe);
    if (rc == 0 && after == SWEEP_STATE_COMPLETE) {
        fprintf(log, "[%d/%d] %s: done in %s (elapsed %s)\n", k, total, r->name, took, el);
        summary_line(log, run_file);
        /* `epr train` writes the baselines itself; an older binary (or a
         * failed hook) leaves them to this step */
        int bran = 0, brc = g_stop ? 0 : baseline_step(r, o, k, total, y->t0, "trained", &bran, err);
        if (brc < 0) return brc;
        count_baseline_step(brc, bran, r->name, &y->baseline_steps, &y->interrupted, &y->failed, y->failed_names,
                            sizeof y->failed_names);
    } else if (rc == 75 || (g_stop && rc != 0)) {
        fprintf(log, "[%d/%d] %s: stopped by a signal after %s (exit %d); rerun the same command to resume\n", k, total,
                r->name, took, rc);
        y->interrupted = 1;
    } else {
        if (rc == 0)
            fprintf(log, "[%d/%d] %s: FAILED: epr train exited 0 but %s has no /final group (%s)\n", k, total, r->name,
                    run_file, after == SWEEP_STATE_NEW ? "no run file" : sweep_state_name(after));
        else if (se.msg[0]) /* the run could not even start: its directory, its log, fork */
            fprintf(log, "[%d/%d] %s: FAILED to start: %s\n", k, total, r->name, se.msg);
        else
            fprintf(log, "[%d/%d] %s: FAILED with exit status %d after %s (log: %s)\n", k, total, r->name, rc, took,
                    log_path);
        if (!o->verbose) print_tail(log, log_path, 12);
        y->failed++;
        add_failed_name(y->failed_names, sizeof y->failed_names, r->name);
    }
    fflush(log);
    return 0;
}

int sweep_execute(const sweep_table *t, const sweep_opts *o, epr_err *err) {
    FILE *log = o->log ? o->log : stdout;
    RETURN_ERROR_IF(o->np < 1, err, EPR_EARG, "--np must be >= 1");
    RETURN_ERROR_IF(o->only >= t->n_runs, err, EPR_EARG, "%s has %d runs (0..%d): no run %d", t->path, t->n_runs,
                    t->n_runs - 1, o->only);
    if (!o->dry_run) CHECK_STATUS(fs_mkdir_p(o->out_dir, err));
    child_environment(o);
    saved_signals saved;
    signals_install(&saved);

    int first = o->only >= 0 ? o->only : 0, last = o->only >= 0 ? o->only : t->n_runs - 1;
    sweep_tally y = {.total = last - first + 1, .t0 = now_s()};
    fprintf(log, "epr sweep %s: %d run%s, %d rank%s each, results under %s\n", t->path, y.total,
            y.total == 1 ? "" : "s", o->np, o->np == 1 ? "" : "s", o->out_dir);
    fflush(log);
    for (int i = first; i <= last && !y.interrupted; i++) {
        const sweep_run *r = &t->runs[i];
        if (g_stop) {
            fprintf(log, "epr sweep: stopped by a signal before %s; rerun the same command to continue\n", r->name);
            y.interrupted = 1;
            break;
        }
        char run_file[1400], el[32];
        epr_err se = {0};
        sweep_state st = sweep_run_state(o->out_dir, r, run_file, sizeof run_file, &se);
        fmt_duration(now_s() - y.t0, el, sizeof el);
        int k = i - first + 1;
        if (st == SWEEP_STATE_BROKEN) {
            fprintf(log, "[%d/%d] %s: FAILED: %s (move the file away to rerun this run)\n", k, y.total, r->name,
                    se.msg);
            y.failed++;
            snprintf(y.failed_names + strlen(y.failed_names), sizeof y.failed_names - strlen(y.failed_names), " %s",
                     r->name);
            continue;
        }
        int rc = st == SWEEP_STATE_COMPLETE ? run_complete(r, o, k, &y, el, err)
                                            : run_train(r, o, k, st, run_file, sizeof run_file, &y, el, err);
        if (rc < 0) return rc;
    }
    signals_restore(&saved);
    char el[32];
    fmt_duration(now_s() - y.t0, el, sizeof el);
    if (o->dry_run) {
        fprintf(log, "epr sweep: dry run, nothing started\n");
        return 0;
    }
    char bsteps[64] = "";
    if (y.baseline_steps)
        snprintf(bsteps, sizeof bsteps, ", %d baseline step%s", y.baseline_steps, y.baseline_steps == 1 ? "" : "s");
    fprintf(log, "epr sweep: %d ran, %d skipped (complete), %d failed%s%s; %s; wall %s\n", y.ran, y.skipped, y.failed,
            bsteps, y.interrupted ? ", interrupted" : "", o->out_dir, el);
    if (y.failed) fprintf(log, "epr sweep: failed runs:%s\n", y.failed_names);
    fflush(log);
    if (y.interrupted) return 75;
    return y.failed ? 1 : 0;
}
