/* study/pareto_read.c — the inputs of `epr pareto`: one run file's /final
 * summary and study attributes (pareto_read_run), and the baselines.h5 beside
 * a plain run (pareto_read_baselines), each checked against the bytes on disk.
 * May call: libc, POSIX stat, run/h5run, run/run_info. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "run/h5run.h"
#include "run/run_info.h"
#include "study/pareto_internal.h"

/* ---- reading run files ---- */

static int get_str_attr(h5run *h, const char *obj, const char *name, char *buf, size_t cap, epr_err *err) {
    return h5run_get_str(h, obj, name, buf, cap, err);
}

int pareto_read_run(const char *path, pareto_row *r, epr_err *err) {
    memset(r, 0, sizeof *r);
    snprintf(r->run_file, sizeof r->run_file, "%s", path);
    h5run *h;
    CHECK_STATUS(h5run_open(path, &h, err));
    int rc = 0;
    int64_t schema = 0;
#define TRY(x) \
    if (!rc) rc = (x)
    TRY(h5run_get_i64(h, NULL, "schema_version", &schema, err));
    if (!rc && schema != 1)
        rc = cmn_fail(err, EPR_EUNSUP, "%s: schema_version %lld, this epr reads version 1", path, (long long)schema);
    if (!rc && !h5run_has(h, "/final"))
        rc = cmn_fail(err, EPR_EUNSUP, "%s: no /final group (the run has not finished)", path);
    int64_t epr = 0;
    TRY(get_str_attr(h, NULL, "experiment_name", r->experiment, sizeof r->experiment, err));
    TRY(get_str_attr(h, NULL, "model", r->model, sizeof r->model, err));
    TRY(get_str_attr(h, NULL, "data_set", r->data_set, sizeof r->data_set, err));
    TRY(h5run_get_i64(h, NULL, "epr_enabled", &epr, err));
    TRY(h5run_get_f64(h, NULL, "lambda", &r->lambda, err));
    TRY(h5run_get_i64(h, NULL, "seed", &r->seed, err));
    TRY(h5run_get_i64(h, NULL, "world_size", &r->world_size, err));
    TRY(h5run_get_i64(h, NULL, "steps", &r->steps, err));
    TRY(h5run_get_f64(h, "/final", "test_error", &r->test_error, err));
    TRY(h5run_get_f64(h, "/final", "test_error_raw", &r->test_error_raw, err));
    TRY(h5run_get_i64(h, "/final", "size_bytes", &r->size_bytes, err));
    TRY(h5run_get_i64(h, "/final", "float32_bytes", &r->float32_bytes, err));
    TRY(h5run_get_i64(h, "/final", "n_params", &r->n_params, err));
    TRY(h5run_get_i64(h, "/final", "n_compressed", &r->n_compressed, err));
    char bs[256] = "";
    TRY(get_str_attr(h, "/final", "bitstream", bs, sizeof bs, err));
    TRY(run_info_method(h, path, r->method, sizeof r->method, err)); /* run/run_info.h */
    TRY(h5run_get_f64(h, "/final", "wall_seconds", &r->wall_seconds, err));
    TRY(h5run_get_f64(h, "/final", "rate_exact_bits", &r->rate_exact_bits, err));
    if (!rc && h5run_has_attr(h, NULL, "config_id"))
        TRY(get_str_attr(h, NULL, "config_id", r->config_id, sizeof r->config_id, err));
    r->validation_error = NAN; /* run files before the validation split have neither */
    if (!rc && h5run_has_attr(h, "/final", "validation_error"))
        TRY(h5run_get_f64(h, "/final", "validation_error", &r->validation_error, err));
    if (!rc && h5run_has_attr(h, NULL, "n_validation"))
        TRY(h5run_get_i64(h, NULL, "n_validation", &r->n_validation, err));
#undef TRY
    h5run_close(h);
    if (rc) return rc;
    r->epr_enabled = epr != 0;
    RETURN_ERROR_IF(epr != 0 && epr != 1, err, EPR_EFORMAT, "%s: epr_enabled is %lld, expected 0 or 1", path,
                    (long long)epr);
    RETURN_ERROR_IF(!(r->test_error >= 0 && r->test_error <= 1), err, EPR_EFORMAT,
                    "%s: /final test_error %g is not a fraction in [0, 1]", path, r->test_error);
    RETURN_ERROR_IF(
        r->size_bytes <= 0 || r->float32_bytes <= 0 || r->n_params <= 0 || r->n_compressed < 0 ||
            r->n_compressed > r->n_params,
        err, EPR_EFORMAT,
        "%s: /final sizes are inconsistent (size_bytes %lld, float32_bytes %lld, n_params %lld, n_compressed %lld)",
        path, (long long)r->size_bytes, (long long)r->float32_bytes, (long long)r->n_params,
        (long long)r->n_compressed);
    RETURN_ERROR_IF(!isfinite(r->lambda) || r->lambda < 0, err, EPR_EFORMAT, "%s: lambda %g is not >= 0", path,
                    r->lambda);
    RETURN_ERROR_IF(r->epr_enabled && !bs[0], err, EPR_EFORMAT, "%s: EPR run without a /final bitstream name", path);
    RETURN_ERROR_IF(bs[0] && (strchr(bs, '/') || !strcmp(bs, "..")), err, EPR_EFORMAT,
                    "%s: /final bitstream '%s' must be a file name inside the run directory", path, bs);
    if (bs[0]) {
        /* the size reported must be the size of the bytes on disk */
        char dir[1400], bpath[1700];
        snprintf(dir, sizeof dir, "%s", path);
        char *slash = strrchr(dir, '/');
        if (slash)
            *slash = 0;
        else
            snprintf(dir, sizeof dir, ".");
        snprintf(bpath, sizeof bpath, "%s/%s", dir, bs);
        struct stat st;
        RETURN_ERROR_IF(stat(bpath, &st) != 0, err, EPR_EFORMAT, "%s: its bitstream %s is missing", path, bpath);
        RETURN_ERROR_IF((int64_t)st.st_size != r->size_bytes, err, EPR_EFORMAT,
                        "%s: /final size_bytes %lld but %s has %lld bytes", path, (long long)r->size_bytes, bpath,
                        (long long)st.st_size);
    }
    snprintf(r->bitstream, sizeof r->bitstream, "%s", bs);
    r->bits_per_param = 8.0 * (double)r->size_bytes / (double)r->n_params;
    r->ratio = (double)r->float32_bytes / (double)r->size_bytes;
    return 0;
}

/* ---- baselines.h5 ---- */

static int method_name_ok(const char *s) {
    size_t n = strlen(s);
    if (!n || n >= 32 || !strcmp(s, "plain") || !strncmp(s, "epr", 3) || !strcmp(s, ".") || !strcmp(s, "..")) return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || strchr("._+-", *s)))
            return 0;
    return 1;
}

void pareto_baselines_free(pareto_baselines *b) {
    if (!b) return;
    for (int i = 0; i < b->n_rejected; i++) free(b->rejected[i]);
    free(b->rejected);
    free(b->rows);
    memset(b, 0, sizeof *b);
}

static int add_rejected(pareto_baselines *b, const char *msg) {
    char **nr = realloc(b->rejected, (size_t)(b->n_rejected + 1) * sizeof *nr);
    if (!nr) return -1;
    b->rejected = nr;
    if (!(b->rejected[b->n_rejected] = strdup(msg))) return -1;
    b->n_rejected++;
    return 0;
}

/* The root attributes of baselines.h5 at path: its source is run.h5 and it
 * matches run (float32 bytes, parameters, steps). */
static int check_baselines_root(h5run *h, const char *path, const pareto_row *run, epr_err *err) {
    int rc = 0;
    char source[256] = "";
    int64_t steps = 0, f32 = 0, np = 0;
    double wall = 0;
    char *text = NULL;
#define TRY(x) \
    if (!rc) rc = (x)
    TRY(h5run_get_str(h, NULL, "source", source, sizeof source, err));
    TRY(h5run_get_i64(h, NULL, "steps", &steps, err));
    TRY(h5run_get_f64(h, NULL, "wall_seconds", &wall, err));
    TRY(h5run_get_i64(h, NULL, "float32_bytes", &f32, err));
    TRY(h5run_get_i64(h, NULL, "n_params", &np, err));
    TRY(h5run_get_strdup(h, NULL, "experiment", &text, err));
    free(text);
    if (!rc) {
        const char *base = strrchr(source, '/');
        base = base ? base + 1 : source;
        if (strcmp(base, "run.h5"))
            rc = cmn_fail(err, EPR_EFORMAT, "%s: source '%s' is not the run file run.h5", path, source);
    }
    if (!rc && (f32 != run->float32_bytes || np != run->n_params))
        rc = cmn_fail(
            err, EPR_EFORMAT,
            "%s: float32_bytes %lld and n_params %lld are not those of %s (%lld, %lld): the baselines of another run?",
            path, (long long)f32, (long long)np, run->run_file, (long long)run->float32_bytes,
            (long long)run->n_params);
    if (!rc && steps != run->steps)
        rc = cmn_fail(err, EPR_EFORMAT, "%s: steps %lld but %s has %lld: stale baselines (rerun epr baseline)", path,
                      (long long)steps, run->run_file, (long long)run->steps);
    if (!rc && !(isfinite(wall) && wall >= 0))
        rc = cmn_fail(err, EPR_EFORMAT, "%s: wall_seconds %g is not a time >= 0", path, wall);
#undef TRY
    return rc;
}

int pareto_read_baselines(const char *path, const pareto_row *run, const char *run_dir_rel, pareto_baselines *b,
                          epr_err *err) {
    memset(b, 0, sizeof *b);
    RETURN_ERROR_IF(run->epr_enabled, err, EPR_EFORMAT,
                    "%s: baselines of an EPR run (%s): baselines.h5 belongs beside a plain run", path, run->run_file);
    h5run *h;
    CHECK_STATUS(h5run_open(path, &h, err));
    int rc = check_baselines_root(h, path, run, err);
    char **names = NULL;
    int nn = 0;
    if (!rc) rc = h5run_list(h, "/methods", &names, &nn, err);
    if (!rc && nn > 4096) rc = cmn_fail(err, EPR_EFORMAT, "%s: /methods has %d members", path, nn);
    if (!rc && nn && !(b->rows = calloc((size_t)nn, sizeof *b->rows))) rc = cmn_fail(err, EPR_ENOMEM, "out of memory");
    char dir[1400];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = 0;
    else
        snprintf(dir, sizeof dir, ".");
    for (int i = 0; i < nn && !rc; i++) {
        char obj[300], method[64] = "", file[256] = "", *desc = NULL;
        int64_t bytes = 0;
        double terr = NAN, secs = NAN;
        epr_err me = {0};
        int mr = 0;
        sfmt(obj, sizeof obj, "/methods/%s", names[i]);
#define MTRY(x) \
    if (!mr) mr = (x)
        if (!method_name_ok(names[i]))
            mr = cmn_fail(&me, EPR_EFORMAT,
                          "%s: /methods/%s: not a method name (letters, digits, . _ + -; not plain or epr*)", path,
                          names[i]);
        MTRY(h5run_get_str(h, obj, "method", method, sizeof method, &me));
        MTRY(h5run_get_str(h, obj, "file", file, sizeof file, &me));
        MTRY(h5run_get_i64(h, obj, "file_bytes", &bytes, &me));
        MTRY(h5run_get_f64(h, obj, "test_error", &terr, &me));
        MTRY(h5run_get_f64(h, obj, "seconds", &secs, &me));
        MTRY(h5run_get_strdup(h, obj, "description", &desc, &me));
        free(desc);
#undef MTRY
        if (!mr && strcmp(method, names[i]))
            mr = cmn_fail(&me, EPR_EFORMAT, "%s: %s: attribute method '%s' differs from the group name", path, obj,
                          method);
        if (!mr && !(terr >= 0 && terr <= 1))
            mr = cmn_fail(&me, EPR_EFORMAT, "%s: %s: test_error %g is not a fraction in [0, 1]", path, obj, terr);
        if (!mr && !(isfinite(secs) && secs >= 0))
            mr = cmn_fail(&me, EPR_EFORMAT, "%s: %s: seconds %g is not a time >= 0", path, obj, secs);
        if (!mr && bytes <= 0)
            mr = cmn_fail(&me, EPR_EFORMAT, "%s: %s: file_bytes %lld is not > 0", path, obj, (long long)bytes);
        if (!mr && (!file[0] || strchr(file, '/') || !strcmp(file, ".") || !strcmp(file, "..")))
            mr = cmn_fail(&me, EPR_EFORMAT, "%s: %s: file '%s' must be a file name inside the run directory", path, obj,
                          file);
        if (!mr) {
            char fpath[1700];
            struct stat st;
            sfmt(fpath, sizeof fpath, "%s/%s", dir, file);
            if (stat(fpath, &st) != 0 || !S_ISREG(st.st_mode))
                mr = cmn_fail(&me, EPR_EFORMAT, "%s: %s: its file %s is missing", path, obj, fpath);
            else if ((int64_t)st.st_size != bytes)
                mr = cmn_fail(&me, EPR_EFORMAT, "%s: %s: file_bytes %lld but %s has %lld bytes", path, obj,
                              (long long)bytes, fpath, (long long)st.st_size);
        }
        if (mr) {
            if (mr == EPR_ENOMEM || add_rejected(b, me.msg)) rc = cmn_fail(err, EPR_ENOMEM, "out of memory");
            continue;
        }
        pareto_row *p = &b->rows[b->n++];
        *p = *run;
        sfmt(p->name, sizeof p->name, "%s:%s", run->name, method);
        sfmt(p->source_run, sizeof p->source_run, "%s", run->name);
        sfmt(p->method, sizeof p->method, "%s", method);
        if (run_dir_rel && run_dir_rel[0])
            sfmt(p->bitstream, sizeof p->bitstream, "%s/%s", run_dir_rel, file);
        else
            sfmt(p->bitstream, sizeof p->bitstream, "%s", file);
        p->size_bytes = bytes;
        p->test_error = terr;
        p->test_error_raw = NAN;
        p->rate_exact_bits = NAN;
        p->n_compressed = 0;
        p->post_seconds = secs;
        p->bits_per_param = 8.0 * (double)bytes / (double)p->n_params;
        p->ratio = (double)p->float32_bytes / (double)bytes;
        p->is_pareto = p->is_method_front = p->is_overall_front = 0;
    }
    h5run_list_free(names, nn);
    h5run_close(h);
    if (rc) pareto_baselines_free(b);
    return rc;
}
