/* run/run_load.c — see run_load.h. */
#include "run/run_load.h"

#include <stdlib.h>
#include <string.h>

#include "run/experiment.h"

#define MAX_OVERRIDES 256

int run_load_open(const char *path, const char *const *extra, int n_extra, run_loaded *r, epr_err *err) {
    memset(r, 0, sizeof *r);
    char *epath = NULL;
    int64_t enabled = 0;
    int rc = h5run_open(path, &r->h, err);
    if (!rc) rc = h5run_get_strdup(r->h, "/", "experiment", &r->text, err);
    if (!rc) rc = h5run_get_strdup(r->h, "/", "experiment_path", &epath, err);
    /* run files of an epr before `epr compress` (323d088) lack it */
    if (!rc && !h5run_has_attr(r->h, "/", "architecture"))
        rc = cmn_fail(err, EPR_EFORMAT,
                      "%.300s: this run file has no architecture text (written by an epr older than 'epr compress'); "
                      "retrain the run",
                      path);
    if (!rc) rc = h5run_get_strdup(r->h, "/", "architecture", &r->arch, err);
    if (!rc) rc = h5run_get_i64(r->h, "/", "epr_enabled", &enabled, err);
    r->epr_enabled = enabled != 0;
    /* The stored text holds the --set overrides as comment lines after the
     * user's text; the values they set are in the key lines only if the
     * user wrote them there, so apply them again. */
    const char *ov[MAX_OVERRIDES];
    int nov = 0;
    char *copy = NULL, *base = NULL;
    if (!rc && (!(copy = strdup(r->text)) || !(base = strdup(r->text))))
        rc = cmn_fail(err, EPR_ENOMEM, "out of memory");
    for (char *save = NULL, *line = rc ? NULL : strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
        if (!strncmp(line, "; --set ", 8) && nov < MAX_OVERRIDES) ov[nov++] = line + 8;
    for (int i = 0; !rc && i < n_extra; i++) {
        if (nov == MAX_OVERRIDES) {
            rc = cmn_fail(err, EPR_EARG, "%s: too many overrides", path);
            break;
        }
        ov[nov++] = extra[i];
    }
    if (!rc) {
        char *cut = strstr(base, "; --set ");
        if (cut) *cut = 0;
        rc = cfg_load_string(base, epath, ov, nov, &r->cfg, err);
    }
    if (!rc) rc = bitstream_arch_parse(r->arch, strlen(r->arch), &r->a, err);
    free(base);
    free(copy);
    free(epath);
    return rc;
}

int run_load_model(run_loaded *r, int use_raw, epr_err *err) {
    rp_group_def groups[CFG_MAX_GROUPS];
    if (nn_model_build(r->cfg.layers, r->a.c, r->a.h, r->a.w, 1, &r->net, err))
        return experiment_layers_error(&r->cfg, err);
    CHECK_STATUS(experiment_expand_patterns(&r->cfg, r->net, err));
    int ng = r->epr_enabled ? experiment_groups(&r->cfg, groups) : 0;
    CHECK_STATUS(
        rp_model_create(r->net, groups, ng, r->epr_enabled ? r->cfg.uncompressed : NULL, r->cfg.seed, &r->em, err));
    CHECK_STATUS(h5run_read(r->h, "/model/train_block", H5RUN_F32, rp_model_params(r->em), rp_model_size(r->em), err));
    /* a run trained with an EMA is judged by it: its raw weights are not a
     * silent substitute (a run with [train] ema = 0 has only the raw ones) */
    RETURN_ERROR_IF(!use_raw && r->cfg.ema > 0 && !h5run_has(r->h, "/model/ema"), err, EPR_EFORMAT,
                    "%s: no /model/ema although the run trained with [train] ema = %g (a damaged or foreign run "
                    "file); epr compress --raw takes the raw weights",
                    h5run_path(r->h), r->cfg.ema);
    if (!use_raw && h5run_has(r->h, "/model/ema"))
        CHECK_STATUS(h5run_read(r->h, "/model/ema", H5RUN_F32, rp_model_params(r->em), rp_model_net_size(r->em), err));
    for (int i = 0; i < nn_model_num_buffers(r->net); i++) {
        nn_buffer *b = nn_model_buffer(r->net, i);
        char p[200];
        snprintf(p, sizeof p, "/model/buffers/%s", b->name);
        CHECK_STATUS(h5run_read(r->h, p, H5RUN_F32, b->data, b->size, err));
    }
    rp_model_decode(r->em); /* θ of compressed tensors (a no-op without groups) */
    return 0;
}

void run_load_close(run_loaded *r) {
    rp_model_free(r->em);
    nn_model_free(r->net);
    bitstream_arch_free(&r->a);
    cfg_free(&r->cfg);
    free(r->text);
    free(r->arch);
    h5run_close(r->h);
    memset(r, 0, sizeof *r);
}
