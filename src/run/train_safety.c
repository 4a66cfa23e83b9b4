/* run/train_safety.c — what keeps a training run safe (train_internal.h):
 * the signal handlers (a stop signal finishes the step, checkpoints and
 * exits 75; a fatal signal takes the whole job down with the rank and the
 * step), train_fatal, the test hooks (EPR_TEST_FAIL, EPR_TEST_STOP_AT,
 * EPR_TEST_DUMP_GRAD), and the refusal to replace a run directory by
 * accident (--resume / --force).  May call: libc, POSIX, MPI, run/fsutil. */
#include <errno.h>
#include <glob.h>
#include <mpi.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "run/fsutil.h"
#include "run/train_internal.h"

/* ---- failure handling ---------------------------------------------- */

volatile sig_atomic_t train_stop_signal; /* SIGTERM / SIGINT / SIGHUP / SIGUSR1 received */
volatile long train_step_now = -1;       /* for messages from handlers */
int train_rank_now;

/* One message naming the rank, the step and the cause, then the whole job
 * goes down (a plain exit would leave the other ranks in a collective). */
void train_fatal(const char *cause) {
    fprintf(stderr, "epr: rank %d: step %ld: %s: aborting the job\n", train_rank_now, train_step_now, cause);
    fflush(stderr);
    int mpi_on = 0;
    MPI_Initialized(&mpi_on);
    if (mpi_on) MPI_Abort(MPI_COMM_WORLD, 3);
    _exit(3);
}

static void on_stop_signal(int sig) { train_stop_signal = sig; }

static void on_fatal_signal(int sig) {
    char buf[160];
    const char *name = sig == SIGSEGV ? "SIGSEGV" : sig == SIGBUS ? "SIGBUS" : sig == SIGFPE ? "SIGFPE" : "SIGILL";
    /* snprintf is not async-signal-safe in theory; the process is dying anyway */
    int n = snprintf(buf, sizeof buf, "epr: rank %d: step %ld: fatal signal %s: aborting the job\n", train_rank_now,
                     train_step_now, name);
    if (n > 0 && write(2, buf, (size_t)n) < 0) _exit(4);
    MPI_Abort(MPI_COMM_WORLD, 128 + sig);
    _exit(128 + sig);
}

void train_install_signal_handlers(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGINT, &sa, NULL); /* Ctrl-C and a closed terminal checkpoint too */
    sigaction(SIGHUP, &sa, NULL);
    sa.sa_handler = on_fatal_signal;
    sa.sa_flags = SA_RESETHAND;
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGBUS, &sa, NULL);
    sigaction(SIGFPE, &sa, NULL);
    sigaction(SIGILL, &sa, NULL);
}

/* Test hook: EPR_TEST_FAIL=RANK:STEP:KIND makes one rank fail at a step
 * (KIND = abort: a local error; nan: a non-finite loss; segv: a crash). */
train_fail_hook train_test_fail = {-1, -1, ""};

/* More test hooks: EPR_TEST_STOP_AT=STEP behaves as if SIGUSR1 reached
 * rank 0 during that step; EPR_TEST_DUMP_GRAD=PATH:STEP makes rank 0 write
 * the allreduced gradient block of that step (raw float32) to PATH. */
long train_test_stop_at = -1, train_test_dump_step = -1;
char train_test_dump_path[1024];

void train_parse_test_hooks(void) {
    const char *s = getenv("EPR_TEST_FAIL");
    if (s && sscanf(s, "%d:%ld:%15s", &train_test_fail.rank, &train_test_fail.step, train_test_fail.kind) != 3)
        train_test_fail.rank = -1;
    s = getenv("EPR_TEST_STOP_AT");
    if (s) train_test_stop_at = atol(s);
    s = getenv("EPR_TEST_DUMP_GRAD");
    const char *colon = s ? strrchr(s, ':') : NULL;
    if (colon && (size_t)(colon - s) < sizeof train_test_dump_path) {
        memcpy(train_test_dump_path, s, (size_t)(colon - s));
        train_test_dump_path[colon - s] = 0;
        train_test_dump_step = atol(colon + 1);
    }
}

/* A directory that holds a run (finished or not) is never replaced by
 * accident: without --resume or --force it is refused; --force removes the
 * old run's files first (a run killed before its first checkpoint must not
 * leave the old run.h5 looking like its own).  Rank 0, lock held. */
int train_claim_run_dir(trainer *t, const train_opts *opts, epr_err *err) {
    if (opts->resume) return 0;
    static const char *const files[] = {"run.h5", "model.epr", "baselines.h5"};
    char p[1300], found[1300] = "";
    for (int i = 0; i < 3 && !found[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", opts->out_dir, files[i]);
        if (fs_exists(p)) snprintf(found, sizeof found, "%s", p);
    }
    snprintf(p, sizeof p, "%s.tmp.*", t->run_path);
    glob_t gl;
    if (!found[0] && glob(p, 0, NULL, &gl) == 0) { /* a checkpoint being written when its run was killed */
        snprintf(found, sizeof found, "%s", gl.gl_pathv[0]);
        globfree(&gl);
    }
    if (!found[0]) return 0;
    RETURN_ERROR_IF(!opts->force, err, EPR_EARG,
                    "%s holds a run (%s): continue it with --resume %s, or replace it with --force, or choose "
                    "another --out",
                    opts->out_dir, found, t->run_path);
    for (int i = 0; i < 3; i++) { /* never the experiment file itself, whatever its name */
        snprintf(p, sizeof p, "%s/%s", opts->out_dir, files[i]);
        CHECK_STATUS(fs_check_not_input(p, t->cfg->path, "the experiment file", err));
    }
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", opts->out_dir, files[i]);
        RETURN_ERROR_IF(unlink(p) && errno != ENOENT, err, EPR_EIO, "--force: cannot remove %s: %s", p,
                        strerror(errno));
    }
    return 0;
}
