/* study/sweep.c — see sweep.h: parsing a sweep table, the run names, the
 * state of a run directory, the `epr train` and `epr baseline` command lines
 * of a run (running them: sweep_exec.c).  May call: libc, POSIX (stat, access),
 * run/h5run, run/fsutil. */
#include "study/sweep.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
            return cmn_fail(err, EPR_EFORMAT, "%s:%d: too many fields (at most %d overrides)", path, lineno,
                            SWEEP_MAX_OVERRIDES);
        fields[nf++] = p;
        if (!tab) break;
        p = tab + 1;
    }
    /* empty trailing fields (a stray tab) are tolerated; inner ones are not */
    while (nf > 3 && fields[nf - 1][0] == 0) nf--;
    if (nf < 3) {
        if (nf == 1 && strchr(fields[0], ' '))
            return cmn_fail(err, EPR_EFORMAT,
                            "%s:%d: fields must be separated by tabs, not spaces "
                            "(experiment<TAB>lambda<TAB>seed[<TAB>section.key=value]...)",
                            path, lineno);
        return cmn_fail(err, EPR_EFORMAT,
                        "%s:%d: expected experiment<TAB>lambda<TAB>seed[<TAB>overrides], found %d field%s", path,
                        lineno, nf, nf == 1 ? "" : "s");
    }
    for (int i = 0; i < nf; i++) {
        /* trim spaces around a field: hand-edited tables have them */
        char *f = fields[i];
        while (*f == ' ') f++;
        size_t n = strlen(f);
        while (n && f[n - 1] == ' ') f[--n] = 0;
        fields[i] = f;
        if (!*f) return cmn_fail(err, EPR_EFORMAT, "%s:%d: field %d is empty", path, lineno, i + 1);
    }
    memset(r, 0, sizeof *r);
    r->line = lineno;
    if (!resolve_experiment(path, fields[0], r->experiment, sizeof r->experiment))
        return cmn_fail(
            err, EPR_EFORMAT,
            "%s:%d: experiment file '%s' not found (looked in the current directory and beside the sweep file)", path,
            lineno, fields[0]);
    char *end;
    errno = 0;
    r->lambda = strtod(fields[1], &end);
    if (*end || end == fields[1] || errno || !isfinite(r->lambda) || r->lambda < 0)
        return cmn_fail(err, EPR_EFORMAT, "%s:%d: lambda '%s' is not a finite number >= 0", path, lineno, fields[1]);
    errno = 0;
    unsigned long long seed = strtoull(fields[2], &end, 10);
    if (*end || end == fields[2] || errno || !isdigit((unsigned char)fields[2][0]))
        return cmn_fail(err, EPR_EFORMAT, "%s:%d: seed '%s' is not a non-negative integer", path, lineno, fields[2]);
    r->seed = seed;
    const char *explicit_name = NULL;
    for (int i = 3; i < nf; i++) {
        const char *o = fields[i];
        const char *eq = strchr(o, '=');
        if (!eq || eq == o)
            return cmn_fail(err, EPR_EFORMAT, "%s:%d: override '%s' is not of the form section.key=value", path, lineno,
                            o);
        if (!strncmp(o, "name=", 5)) {
            if (!name_ok(o + 5) || strlen(o + 5) >= SWEEP_NAME_MAX)
                return cmn_fail(err, EPR_EFORMAT,
                                "%s:%d: run name '%s' must be 1..%d characters of A-Z a-z 0-9 . _ - +", path, lineno,
                                o + 5, SWEEP_NAME_MAX - 1);
            explicit_name = o + 5;
            continue;
        }
        const char *dot = memchr(o, '.', (size_t)(eq - o));
        if (!dot || dot == o || dot + 1 == eq)
            return cmn_fail(err, EPR_EFORMAT, "%s:%d: override '%s' is not of the form section.key=value", path, lineno,
                            o);
        if (!strncmp(o, "epr.lambda=", 11) || !strncmp(o, "train.seed=", 11))
            return cmn_fail(err, EPR_EFORMAT, "%s:%d: override '%s' conflicts with the lambda/seed columns", path,
                            lineno, o);
        if (!(r->overrides[r->n_overrides] = strdup(o))) return cmn_fail(err, EPR_ENOMEM, "out of memory");
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
            rc = cmn_fail(err, EPR_EFORMAT, "%s:%d: control character in the line (not a text table?)", path, lineno);
            break;
        }
        if (!have_header) {
            size_t n = strcspn(p, "\t");
            if (n != 10 || strncasecmp(p, "experiment", 10)) {
                rc = cmn_fail(
                    err, EPR_EFORMAT,
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
                rc = cmn_fail(err, EPR_ENOMEM, "out of memory");
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
                rc = cmn_fail(err, EPR_EFORMAT,
                              "%s:%d: run name '%s' repeats line %d (same experiment, lambda and seed: add name=... or "
                              "drop the line)",
                              path, lineno, r->name, t->runs[j].line);
                break;
            }
    }
    free(buf);
    if (!rc && !have_header) rc = cmn_fail(err, EPR_EFORMAT, "%s: empty sweep table (no header line)", path);
    if (!rc && t->n_runs == 0) rc = cmn_fail(err, EPR_EFORMAT, "%s: the table has a header but no runs", path);
    if (rc) sweep_free(t);
    return rc;
}

int sweep_load(const char *path, sweep_table *t, epr_err *err) {
    memset(t, 0, sizeof *t);
    FILE *f = fopen(path, "rb");
    RETURN_ERROR_IF(!f, err, EPR_EIO, "%s: cannot open the sweep table: %s", path, strerror(errno));
    size_t cap = 1 << 16, len = 0;
    char *text = malloc(cap);
    int rc = text ? 0 : cmn_fail(err, EPR_ENOMEM, "out of memory");
    while (!rc) {
        if (len + 1 == cap) {
            if (cap >= (64u << 20)) {
                rc = cmn_fail(err, EPR_EFORMAT, "%s: larger than 64 MB: not a sweep table", path);
                break;
            }
            char *nt = realloc(text, cap * 2);
            if (!nt) {
                rc = cmn_fail(err, EPR_ENOMEM, "out of memory");
                break;
            }
            text = nt;
            cap *= 2;
        }
        size_t n = fread(text + len, 1, cap - 1 - len, f);
        len += n;
        if (n == 0) break;
    }
    if (!rc && ferror(f)) rc = cmn_fail(err, EPR_EIO, "%s: read error", path);
    fclose(f);
    if (!rc && memchr(text, 0, len)) rc = cmn_fail(err, EPR_EFORMAT, "%s: contains NUL bytes: not a text table", path);
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
