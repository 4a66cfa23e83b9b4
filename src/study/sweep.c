/* study/sweep.c — see sweep.h. */
#include "study/sweep.h"

#include <ctype.h>
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

/* ---- parsing ---- */

static void rstrip(char *s) {
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\r' || s[n - 1] == '\n' || s[n - 1] == ' ')) s[--n] = 0;
}

static int name_ok(const char *s) {
    if (!*s || !strcmp(s, ".") || !strcmp(s, "..")) return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("._-+", *s)) return 0;
    return 1;
}

static int is_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* EXPERIMENT relative to the current directory, else to the table's folder. */
static int resolve_experiment(const char *table, const char *exp, char *out, size_t cap) {
    if (snprintf(out, cap, "%s", exp) >= (int)cap) return 0;
    if (is_file(out) || exp[0] == '/') return is_file(out);
    const char *slash = strrchr(table, '/');
    if (!slash) return 0;
    int dl = (int)(slash - table);
    if (snprintf(out, cap, "%.*s/%s", dl, table, exp) >= (int)cap) return 0;
    if (is_file(out)) return 1;
    snprintf(out, cap, "%s", exp);
    return 0;
}

static void make_name(sweep_run *r, const char *exp_field, int has_overrides) {
    const char *base = strrchr(exp_field, '/');
    base = base ? base + 1 : exp_field;
    char stem[128];
    snprintf(stem, sizeof stem, "%s", base);
    char *dot = strrchr(stem, '.');
    if (dot && dot != stem) *dot = 0;
    for (char *c = stem; *c; c++)
        if (!isalnum((unsigned char)*c) && !strchr("._-+", *c)) *c = '_';
    char idx[24] = "";
    if (has_overrides) snprintf(idx, sizeof idx, "_%d", r->index);
    snprintf(r->name, sizeof r->name, "%s_l%g_s%llu%s", stem, r->lambda, (unsigned long long)r->seed, idx);
}

static int parse_line(char *line, const char *path, int lineno, sweep_run *r, epr_err *err) {
    char *fields[3 + SWEEP_MAX_OVERRIDES + 1];
    int nf = 0;
    for (char *p = line;;) {
        char *tab = strchr(p, '\t');
        if (tab) *tab = 0;
        if (nf == (int)(sizeof fields / sizeof fields[0]))
            return epr_fail(err, EPR_EFORMAT, "%s:%d: too many fields (at most %d overrides)", path, lineno,
                            SWEEP_MAX_OVERRIDES);
        fields[nf++] = p;
        if (!tab) break;
        p = tab + 1;
    }
    /* empty trailing fields (a stray tab) are tolerated; inner ones are not */
    while (nf > 3 && fields[nf - 1][0] == 0) nf--;
    if (nf < 3) {
        if (nf == 1 && strchr(fields[0], ' '))
            return epr_fail(err, EPR_EFORMAT,
                            "%s:%d: fields must be separated by tabs, not spaces (experiment<TAB>lambda<TAB>seed[<TAB>section.key=value]...)",
                            path, lineno);
        return epr_fail(err, EPR_EFORMAT, "%s:%d: expected experiment<TAB>lambda<TAB>seed[<TAB>overrides], found %d field%s",
                        path, lineno, nf, nf == 1 ? "" : "s");
    }
    for (int i = 0; i < nf; i++) {
        /* trim spaces around a field: hand-edited tables have them */
        char *f = fields[i];
        while (*f == ' ') f++;
        size_t n = strlen(f);
        while (n && f[n - 1] == ' ') f[--n] = 0;
        fields[i] = f;
        if (!*f) return epr_fail(err, EPR_EFORMAT, "%s:%d: field %d is empty", path, lineno, i + 1);
    }
    memset(r, 0, sizeof *r);
    r->line = lineno;
    if (!resolve_experiment(path, fields[0], r->experiment, sizeof r->experiment))
        return epr_fail(err, EPR_EFORMAT,
                        "%s:%d: experiment file '%s' not found (looked in the current directory and beside the sweep file)",
                        path, lineno, fields[0]);
    char *end;
    errno = 0;
    r->lambda = strtod(fields[1], &end);
    if (*end || end == fields[1] || errno || !isfinite(r->lambda) || r->lambda < 0)
        return epr_fail(err, EPR_EFORMAT, "%s:%d: lambda '%s' is not a finite number >= 0", path, lineno, fields[1]);
    errno = 0;
    unsigned long long seed = strtoull(fields[2], &end, 10);
    if (*end || end == fields[2] || errno || !isdigit((unsigned char)fields[2][0]))
        return epr_fail(err, EPR_EFORMAT, "%s:%d: seed '%s' is not a non-negative integer", path, lineno, fields[2]);
    r->seed = seed;
    const char *explicit_name = NULL;
    for (int i = 3; i < nf; i++) {
        const char *o = fields[i];
        const char *eq = strchr(o, '=');
        if (!eq || eq == o)
            return epr_fail(err, EPR_EFORMAT, "%s:%d: override '%s' is not of the form section.key=value", path, lineno, o);
        if (!strncmp(o, "name=", 5)) {
            if (!name_ok(o + 5) || strlen(o + 5) >= SWEEP_NAME_MAX)
                return epr_fail(err, EPR_EFORMAT,
                                "%s:%d: run name '%s' must be 1..%d characters of A-Z a-z 0-9 . _ - +", path, lineno,
                                o + 5, SWEEP_NAME_MAX - 1);
            explicit_name = o + 5;
            continue;
        }
        const char *dot = memchr(o, '.', (size_t)(eq - o));
        if (!dot || dot == o || dot + 1 == eq)
            return epr_fail(err, EPR_EFORMAT, "%s:%d: override '%s' is not of the form section.key=value", path, lineno, o);
        if (!strncmp(o, "epr.lambda=", 11) || !strncmp(o, "train.seed=", 11))
            return epr_fail(err, EPR_EFORMAT, "%s:%d: override '%s' conflicts with the lambda/seed columns", path, lineno, o);
        if (!(r->overrides[r->n_overrides] = strdup(o))) return epr_fail(err, EPR_ENOMEM, "out of memory");
        r->n_overrides++;
    }
    if (explicit_name)
        snprintf(r->name, sizeof r->name, "%s", explicit_name);
    else
        r->name[0] = 0; /* set by the caller once the index is known */
    return 0;
}

static void run_free(sweep_run *r) {
    for (int i = 0; i < r->n_overrides; i++) free(r->overrides[i]);
    r->n_overrides = 0;
}

void sweep_free(sweep_table *t) {
    if (!t) return;
    for (int i = 0; i < t->n_runs; i++) run_free(&t->runs[i]);
    free(t->runs);
    t->runs = NULL;
    t->n_runs = 0;
}

int sweep_load_string(const char *text, const char *path, sweep_table *t, epr_err *err) {
    memset(t, 0, sizeof *t);
    snprintf(t->path, sizeof t->path, "%s", path);
    char *buf = strdup(text);
    RETURN_ERROR_IF(!buf, err, EPR_ENOMEM, "out of memory");
    int rc = 0, have_header = 0, cap = 0, lineno = 0;
    char *save = NULL;
    for (char *p = buf; p && !rc; p = save) {
        char *nl = strchr(p, '\n');
        save = nl ? nl + 1 : NULL;
        if (nl) *nl = 0;
        lineno++;
        rstrip(p);
        const char *s = p;
        while (*s == ' ' || *s == '\t') s++;
        if (!*s || *s == '#') continue;
        if (strlen(p) != strcspn(p, "\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c\x0e\x0f\x10\x11\x12\x13\x14\x15\x16"
                                     "\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f\x7f")) {
            rc = epr_fail(err, EPR_EFORMAT, "%s:%d: control character in the line (not a text table?)", path, lineno);
            break;
        }
        if (!have_header) {
            size_t n = strcspn(p, "\t");
            if (n != 10 || strncasecmp(p, "experiment", 10)) {
                rc = epr_fail(err, EPR_EFORMAT,
                              "%s:%d: expected the header line 'experiment<TAB>lambda<TAB>seed<TAB>overrides', found '%.60s'",
                              path, lineno, p);
                break;
            }
            have_header = 1;
            continue;
        }
        if (t->n_runs == cap) {
            int nc = cap ? 2 * cap : 16;
            sweep_run *nr = realloc(t->runs, (size_t)nc * sizeof *nr);
            if (!nr) {
                rc = epr_fail(err, EPR_ENOMEM, "out of memory");
                break;
            }
            t->runs = nr;
            cap = nc;
        }
        sweep_run *r = &t->runs[t->n_runs];
        rc = parse_line(p, path, lineno, r, err);
        if (rc) {
            run_free(r);
            break;
        }
        r->index = t->n_runs++;
        if (!r->name[0]) {
            const char *f0 = p; /* parse_line cut the line at the first tab */
            while (*f0 == ' ') f0++;
            make_name(r, f0, r->n_overrides > 0);
        }
        for (int j = 0; j < r->index; j++)
            if (!strcmp(t->runs[j].name, r->name)) {
                rc = epr_fail(err, EPR_EFORMAT,
                              "%s:%d: run name '%s' repeats line %d (same experiment, lambda and seed: add name=... or drop the line)",
                              path, lineno, r->name, t->runs[j].line);
                break;
            }
    }
    free(buf);
    if (!rc && !have_header) rc = epr_fail(err, EPR_EFORMAT, "%s: empty sweep table (no header line)", path);
    if (!rc && t->n_runs == 0) rc = epr_fail(err, EPR_EFORMAT, "%s: the table has a header but no runs", path);
    if (rc) sweep_free(t);
    return rc;
}

int sweep_load(const char *path, sweep_table *t, epr_err *err) {
    memset(t, 0, sizeof *t);
    FILE *f = fopen(path, "rb");
    RETURN_ERROR_IF(!f, err, EPR_EIO, "%s: cannot open the sweep table: %s", path, strerror(errno));
    size_t cap = 1 << 16, len = 0;
    char *text = malloc(cap);
    int rc = text ? 0 : epr_fail(err, EPR_ENOMEM, "out of memory");
    while (!rc) {
        if (len + 1 == cap) {
            if (cap >= (64u << 20)) {
                rc = epr_fail(err, EPR_EFORMAT, "%s: larger than 64 MB: not a sweep table", path);
                break;
            }
            char *nt = realloc(text, cap * 2);
            if (!nt) {
                rc = epr_fail(err, EPR_ENOMEM, "out of memory");
                break;
            }
            text = nt;
            cap *= 2;
        }
        size_t n = fread(text + len, 1, cap - 1 - len, f);
        len += n;
        if (n == 0) break;
    }
    if (!rc && ferror(f)) rc = epr_fail(err, EPR_EIO, "%s: read error", path);
    fclose(f);
    if (!rc && memchr(text, 0, len)) rc = epr_fail(err, EPR_EFORMAT, "%s: contains NUL bytes: not a text table", path);
    if (!rc) {
        text[len] = 0;
        rc = sweep_load_string(text, path, t, err);
    }
    free(text);
    return rc;
}

/* ---- run state and command line ---- */

const char *sweep_state_name(sweep_state s) {
    switch (s) {
    case SWEEP_STATE_NEW: return "new";
    case SWEEP_STATE_PARTIAL: return "interrupted";
    case SWEEP_STATE_COMPLETE: return "complete";
    default: return "broken";
    }
}

sweep_state sweep_run_state(const char *out_dir, const sweep_run *r, char *run_file, size_t cap, epr_err *err) {
    snprintf(run_file, cap, "%s/%s/run.h5", out_dir, r->name);
    if (access(run_file, F_OK) != 0) return SWEEP_STATE_NEW;
    h5run *h;
    if (h5run_open(run_file, &h, err)) return SWEEP_STATE_BROKEN;
    int done = h5run_has(h, "/final");
    h5run_close(h);
    return done ? SWEEP_STATE_COMPLETE : SWEEP_STATE_PARTIAL;
}

static char *fmt_dup(const char *fmt, const char *a, const char *b) {
    size_t n = strlen(fmt) + strlen(a) + (b ? strlen(b) : 0) + 1;
    char *s = malloc(n);
    if (s) snprintf(s, n, fmt, a, b ? b : "");
    return s;
}

void sweep_args_free(char **argv) {
    if (!argv) return;
    for (char **a = argv; *a; a++) free(*a);
    free(argv);
}

char **sweep_train_args(const sweep_run *r, const char *out_dir, const char *resume_from, int *argc) {
    return sweep_train_args_ex(r, out_dir, resume_from, NULL, 0, argc);
}

char **sweep_train_args_ex(const sweep_run *r, const char *out_dir, const char *resume_from,
                           const char *const *extra_sets, int n_extra, int *argc) {
    int max = 2 + 2 * (2 + r->n_overrides + n_extra) + 4 + 1;
    char **v = calloc((size_t)max, sizeof *v);
    if (!v) return NULL;
    int n = 0, ok = 1;
    char num[64];
    v[n++] = strdup("train");
    v[n++] = strdup(r->experiment);
    v[n++] = strdup("--set");
    /* the shortest text that reads back as the same double */
    for (int prec = 6; prec <= 17; prec++) {
        snprintf(num, sizeof num, "%.*g", prec, r->lambda);
        if (strtod(num, NULL) == r->lambda) break;
    }
    v[n++] = fmt_dup("epr.lambda=%s%s", num, NULL);
    v[n++] = strdup("--set");
    snprintf(num, sizeof num, "%llu", (unsigned long long)r->seed);
    v[n++] = fmt_dup("train.seed=%s%s", num, NULL);
    for (int i = 0; i < r->n_overrides; i++) {
        v[n++] = strdup("--set");
        v[n++] = strdup(r->overrides[i]);
    }
    for (int i = 0; i < n_extra; i++) {
        v[n++] = strdup("--set");
        v[n++] = strdup(extra_sets[i]);
    }
    v[n++] = strdup("--out");
    v[n++] = fmt_dup("%s/%s", out_dir, r->name);
    if (resume_from) {
        v[n++] = strdup("--resume");
        v[n++] = strdup(resume_from);
    }
    for (int i = 0; i < n; i++) ok &= v[i] != NULL;
    if (!ok) {
        sweep_args_free(v);
        return NULL;
    }
    *argc = n;
    return v;
}

/* ---- baselines (issue 8) ---- */

const char *sweep_baseline_list(const sweep_run *r, const char *const *extra_sets, int n_extra) {
    const char *list = NULL;
    for (int i = 0; i < r->n_overrides; i++)
        if (!strncmp(r->overrides[i], "baseline.post=", 14)) list = r->overrides[i] + 14;
    for (int i = 0; i < n_extra; i++)
        if (!strncmp(extra_sets[i], "baseline.post=", 14)) list = extra_sets[i] + 14;
    if (list && !list[strspn(list, ", \t")]) list = NULL;
    return list;
}

/* 1 when the baselines.h5 open in h holds method m with its file (in
 * run_dir) of the size it records. */
static int method_present(h5run *h, const char *run_dir, const char *m) {
    char obj[200], file[256], path[1700];
    int64_t bytes = 0;
    epr_err e = {0};
    snprintf(obj, sizeof obj, "/methods/%s", m);
    if (!h5run_has(h, obj) || h5run_get_str(h, obj, "file", file, sizeof file, &e) ||
        h5run_get_i64(h, obj, "file_bytes", &bytes, &e) || !file[0] || strchr(file, '/'))
        return 0;
    snprintf(path, sizeof path, "%s/%s", run_dir, file);
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && (int64_t)st.st_size == bytes;
}

int sweep_baselines_missing(const char *out_dir, const sweep_run *r, const char *list, char *missing, size_t cap,
                            int *is_epr) {
    char run_dir[1400], path[1500];
    snprintf(run_dir, sizeof run_dir, "%s/%s", out_dir, r->name);
    if (cap) missing[0] = 0;
    if (is_epr) {
        *is_epr = 0;
        h5run *rh;
        epr_err e = {0};
        int64_t enabled = 0;
        snprintf(path, sizeof path, "%s/run.h5", run_dir);
        if (!h5run_open(path, &rh, &e)) {
            if (!h5run_get_i64(rh, NULL, "epr_enabled", &enabled, &e)) *is_epr = enabled != 0;
            h5run_close(rh);
        }
    }
    snprintf(path, sizeof path, "%s/baselines.h5", run_dir);
    h5run *h = NULL;
    epr_err e = {0};
    if (access(path, F_OK) == 0 && h5run_open(path, &h, &e)) h = NULL;
    int n = 0;
    char copy[1024];
    snprintf(copy, sizeof copy, "%s", list ? list : "");
    for (char *save = NULL, *m = strtok_r(copy, ", \t", &save); m; m = strtok_r(NULL, ", \t", &save)) {
        if (h && method_present(h, run_dir, m)) continue;
        size_t l = strlen(missing);
        if (l + strlen(m) + 2 < cap) snprintf(missing + l, cap - l, "%s%s", l ? "," : "", m);
        n++;
    }
    h5run_close(h);
    return n;
}

char **sweep_baseline_args(const sweep_run *r, const char *out_dir, const char *list, int *argc) {
    char **v = calloc(5, sizeof *v);
    if (!v) return NULL;
    v[0] = strdup("baseline");
    v[1] = fmt_dup("%s/%s", out_dir, r->name);
    char *rf = v[1] ? fmt_dup("%s%s", v[1], "/run.h5") : NULL;
    free(v[1]);
    v[1] = rf;
    v[2] = strdup("--methods");
    v[3] = strdup(list);
    if (!v[0] || !v[1] || !v[2] || !v[3]) {
        for (int i = 0; i < 4; i++) free(v[i]);
        free(v);
        return NULL;
    }
    *argc = 4;
    return v;
}

/* ---- running ---- */

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
        epr_fail(err, EPR_EIO, "%s: cannot open the run log: %s", log_path, strerror(errno));
        return -1;
    }
    int pfd[2];
    if (pipe(pfd)) {
        close(logfd);
        epr_fail(err, EPR_EIO, "pipe: %s", strerror(errno));
        return -1;
    }
    fflush(log);
    fflush(stdout);
    fflush(stderr);
    const pid_t sweep_pid = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        close(logfd), close(pfd[0]), close(pfd[1]);
        epr_fail(err, EPR_EIO, "fork: %s", strerror(errno));
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
            epr_fail(err, EPR_EIO, "waitpid: %s", strerror(errno));
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
        return epr_fail(err, EPR_ENOMEM, "out of memory");
    }
    argv[0] = (char *)o->epr;
    for (int j = 0; j < bargc; j++) argv[1 + j] = bargs[j];
    fprintf(log, "[%d/%d] %s: %s; baselines missing from baselines.h5: %s (elapsed %s)\n    ", k, total, r->name, when,
            missing, el);
    print_cmd(log, argv);
    fflush(log);
    if (o->dry_run) {
        free(argv);
        sweep_args_free(bargs);
        return 0;
    }
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
static void count_baseline_step(int brc, int bran, const char *name, int *baseline_steps, int *interrupted,
                                int *failed, char *failed_names, size_t cap) {
    *baseline_steps += bran;
    if (brc == 75) *interrupted = 1;
    if (brc == 1) {
        (*failed)++;
        add_failed_name(failed_names, cap, name);
    }
}

int sweep_execute(const sweep_table *t, const sweep_opts *o, epr_err *err) {
    FILE *log = o->log ? o->log : stdout;
    RETURN_ERROR_IF(o->np < 1, err, EPR_EARG, "--np must be >= 1");
    RETURN_ERROR_IF(o->only >= t->n_runs, err, EPR_EARG, "%s has %d runs (0..%d): no run %d", t->path, t->n_runs,
                    t->n_runs - 1, o->only);
    if (!o->dry_run) CHECK_STATUS(fs_mkdir_p(o->out_dir, err));

    /* Children of root need Open MPI's consent; one BLAS thread per rank. */
    if (geteuid() == 0) {
        setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 0);
        setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 0);
    }
    setenv("OPENBLAS_NUM_THREADS", "1", 0);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (o->np > 1 && cpus > 0 && o->np > cpus) setenv("OMPI_MCA_rmaps_base_oversubscribe", "1", 0);

    struct sigaction sa, old_int, old_term, old_usr1, old_hup, old_pipe;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART: read() must return EINTR */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    sigaction(SIGUSR1, &sa, &old_usr1);
    sigaction(SIGHUP, &sa, &old_hup); /* a closed terminal: stop the run as Ctrl-C does */
    sa.sa_handler = SIG_IGN;          /* a closed log pipe (| tee) must not kill the supervisor */
    sigaction(SIGPIPE, &sa, &old_pipe);
    g_signal = 0, g_stop = 0;

    int first = o->only >= 0 ? o->only : 0, last = o->only >= 0 ? o->only : t->n_runs - 1;
    int total = last - first + 1, failed = 0, skipped = 0, ran = 0, interrupted = 0, baseline_steps = 0;
    char failed_names[1024] = "";
    double t0 = now_s();
    fprintf(log, "epr sweep %s: %d run%s, %d rank%s each, results under %s\n", t->path, total, total == 1 ? "" : "s",
            o->np, o->np == 1 ? "" : "s", o->out_dir);
    fflush(log);
    for (int i = first; i <= last && !interrupted; i++) {
        const sweep_run *r = &t->runs[i];
        if (g_stop) {
            fprintf(log, "epr sweep: stopped by a signal before %s; rerun the same command to continue\n", r->name);
            interrupted = 1;
            break;
        }
        char run_file[1400], el[32];
        epr_err se = {0};
        sweep_state st = sweep_run_state(o->out_dir, r, run_file, sizeof run_file, &se);
        fmt_duration(now_s() - t0, el, sizeof el);
        int k = i - first + 1;
        if (st == SWEEP_STATE_COMPLETE) {
            char miss[1024];
            int is_epr = 0;
            const char *bl = sweep_baseline_list(r, o->sets, o->n_sets);
            if (!bl || !sweep_baselines_missing(o->out_dir, r, bl, miss, sizeof miss, &is_epr) || is_epr)
                fprintf(log, "[%d/%d] %s: complete, skipped (elapsed %s)\n", k, total, r->name, el);
            skipped++;
            int bran = 0, brc = baseline_step(r, o, k, total, t0, "complete", &bran, err);
            if (brc < 0) return brc;
            count_baseline_step(brc, bran, r->name, &baseline_steps, &interrupted, &failed, failed_names,
                                sizeof failed_names);
            fflush(log);
            continue;
        }
        if (st == SWEEP_STATE_BROKEN) {
            fprintf(log, "[%d/%d] %s: FAILED: %s (move the file away to rerun this run)\n", k, total, r->name, se.msg);
            failed++;
            snprintf(failed_names + strlen(failed_names), sizeof failed_names - strlen(failed_names), " %s", r->name);
            continue;
        }
        int targc;
        char **targs = sweep_train_args_ex(r, o->out_dir, st == SWEEP_STATE_PARTIAL ? run_file : NULL, o->sets,
                                           o->n_sets, &targc);
        RETURN_ERROR_IF(!targs, err, EPR_ENOMEM, "out of memory");
        char np[16];
        snprintf(np, sizeof np, "%d", o->np);
        const char *pre[4];
        int npre = 0;
        if (o->np > 1) pre[npre++] = o->mpirun, pre[npre++] = "-np", pre[npre++] = np;
        pre[npre++] = o->epr;
        char **argv = calloc((size_t)(npre + targc + 1), sizeof *argv);
        if (!argv) {
            sweep_args_free(targs);
            return epr_fail(err, EPR_ENOMEM, "out of memory");
        }
        for (int j = 0; j < npre; j++) argv[j] = (char *)pre[j];
        for (int j = 0; j < targc; j++) argv[npre + j] = targs[j];
        fprintf(log, "[%d/%d] %s: %s (elapsed %s)\n    ", k, total, r->name,
                st == SWEEP_STATE_PARTIAL ? "resuming from its checkpoint" : "starting", el);
        print_cmd(log, argv);
        fflush(log);
        if (o->dry_run) {
            free(argv);
            sweep_args_free(targs);
            continue;
        }
        char run_dir[1400], log_path[1500];
        snprintf(run_dir, sizeof run_dir, "%s/%s", o->out_dir, r->name);
        snprintf(log_path, sizeof log_path, "%s/train.log", run_dir);
        se.msg[0] = 0; /* from here on, se holds only why the run could not start */
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
        char took[32];
        fmt_duration(now_s() - ts, took, sizeof took);
        fmt_duration(now_s() - t0, el, sizeof el);
        ran++;
        epr_err fe = {0};
        sweep_state after = sweep_run_state(o->out_dir, r, run_file, sizeof run_file, &fe);
        if (rc == 0 && after == SWEEP_STATE_COMPLETE) {
            fprintf(log, "[%d/%d] %s: done in %s (elapsed %s)\n", k, total, r->name, took, el);
            summary_line(log, run_file);
            /* `epr train` writes the baselines itself; an older binary (or a
             * failed hook) leaves them to this step */
            int bran = 0, brc = g_stop ? 0 : baseline_step(r, o, k, total, t0, "trained", &bran, err);
            if (brc < 0) return brc;
            count_baseline_step(brc, bran, r->name, &baseline_steps, &interrupted, &failed, failed_names,
                                sizeof failed_names);
        } else if (rc == 75 || (g_stop && rc != 0)) {
            fprintf(log, "[%d/%d] %s: stopped by a signal after %s (exit %d); rerun the same command to resume\n", k,
                    total, r->name, took, rc);
            interrupted = 1;
        } else {
            if (rc == 0)
                fprintf(log, "[%d/%d] %s: FAILED: epr train exited 0 but %s has no /final group (%s)\n", k, total,
                        r->name, run_file, after == SWEEP_STATE_NEW ? "no run file" : sweep_state_name(after));
            else if (se.msg[0]) /* the run could not even start: its directory, its log, fork */
                fprintf(log, "[%d/%d] %s: FAILED to start: %s\n", k, total, r->name, se.msg);
            else
                fprintf(log, "[%d/%d] %s: FAILED with exit status %d after %s (log: %s)\n", k, total, r->name, rc,
                        took, log_path);
            if (!o->verbose) print_tail(log, log_path, 12);
            failed++;
            add_failed_name(failed_names, sizeof failed_names, r->name);
        }
        fflush(log);
    }
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGUSR1, &old_usr1, NULL);
    sigaction(SIGHUP, &old_hup, NULL);
    sigaction(SIGPIPE, &old_pipe, NULL);
    char el[32];
    fmt_duration(now_s() - t0, el, sizeof el);
    if (o->dry_run) {
        fprintf(log, "epr sweep: dry run, nothing started\n");
        return 0;
    }
    char bsteps[64] = "";
    if (baseline_steps)
        snprintf(bsteps, sizeof bsteps, ", %d baseline step%s", baseline_steps, baseline_steps == 1 ? "" : "s");
    fprintf(log, "epr sweep: %d ran, %d skipped (complete), %d failed%s%s; %s; wall %s\n", ran, skipped, failed, bsteps,
            interrupted ? ", interrupted" : "", o->out_dir, el);
    if (failed) fprintf(log, "epr sweep: failed runs:%s\n", failed_names);
    fflush(log);
    if (interrupted) return 75;
    return failed ? 1 : 0;
}
