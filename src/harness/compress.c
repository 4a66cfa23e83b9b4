/* harness/compress.c — see compress.h. */
#include "harness/compress.h"

#include <stdlib.h>
#include <string.h>

#include "epr/epr_model.h"
#include "harness/bitstream.h"
#include "harness/config.h"
#include "harness/experiment.h"
#include "harness/fsutil.h"
#include "harness/h5run.h"

int compress_run(const char *run_path, const char *out_path, int use_raw, FILE *report, epr_err *err) {
    h5run *h = NULL;
    char *text = NULL, *epath = NULL, *arch = NULL;
    cfg_experiment cfg;
    memset(&cfg, 0, sizeof cfg);
    nn_model *net = NULL;
    epr_model *em = NULL;
    bitstream_arch a = {0};
    void *bytes = NULL;
    size_t len = 0;
    int64_t enabled = 0;
    epr_group_def groups[CFG_MAX_GROUPS];
    int rc = h5run_open(run_path, &h, err);
    if (!rc) rc = h5run_get_strdup(h, "/", "experiment", &text, err);
    if (!rc) rc = h5run_get_strdup(h, "/", "experiment_path", &epath, err);
    if (!rc) rc = h5run_get_strdup(h, "/", "architecture", &arch, err);
    if (!rc) rc = h5run_get_i64(h, "/", "epr_enabled", &enabled, err);
    if (!rc && !enabled)
        rc = epr_fail(err, EPR_EARG, "%s: a plain (float32) run has no integer phi to compress", run_path);
    /* the stored text already holds the --set overrides as comments; the
     * values they set are part of the text's key lines only if the user
     * wrote them there, so re-apply them from the comment lines */
    const char *ov[256];
    int nov = 0;
    char *copy = NULL;
    if (!rc) {
        copy = strdup(text);
        if (!copy) rc = epr_fail(err, EPR_ENOMEM, "out of memory");
        for (char *line = copy ? strtok(copy, "\n") : NULL; !rc && line; line = strtok(NULL, "\n"))
            if (!strncmp(line, "; --set ", 8) && nov < 256) ov[nov++] = line + 8;
    }
    if (!rc) {
        /* the text minus the override comments is what the user's file held */
        char *base = strdup(text);
        if (!base) rc = epr_fail(err, EPR_ENOMEM, "out of memory");
        char *cut = base ? strstr(base, "; --set ") : NULL;
        if (cut) *cut = 0;
        if (!rc) rc = cfg_load_string(base, epath, ov, nov, &cfg, err);
        free(base);
    }
    if (!rc) rc = bitstream_arch_parse(arch, strlen(arch), &a, err);
    if (!rc) rc = nn_model_build(cfg.layers, a.c, a.h, a.w, 1, &net, err);
    if (!rc) rc = epr_model_create(net, groups, experiment_groups(&cfg, groups), cfg.uncompressed, cfg.seed, &em, err);
    if (!rc) rc = h5run_read(h, "/model/train_block", H5RUN_F32, epr_model_params(em), epr_model_size(em), err);
    if (!rc && !use_raw && h5run_has(h, "/model/ema"))
        rc = h5run_read(h, "/model/ema", H5RUN_F32, epr_model_params(em), epr_model_net_size(em), err);
    for (int i = 0; !rc && i < nn_model_num_buffers(net); i++) {
        nn_buffer *b = nn_model_buffer(net, i);
        char p[200];
        snprintf(p, sizeof p, "/model/buffers/%s", b->name);
        rc = h5run_read(h, p, H5RUN_F32, b->data, b->size, err);
    }
    if (!rc) rc = bitstream_encode(em, arch, &bytes, &len, NULL, err);
    if (!rc) rc = fs_write_atomic(out_path, bytes, len, err);
    if (!rc && report) {
        epr_file *f;
        if (!epr_file_open_memory(bytes, len, &f, err)) {
            fprintf(report, "wrote %s from %s (%s weights): %zu bytes\n", out_path, run_path,
                    use_raw ? "raw" : "EMA", len);
            bitstream_print_sizes(f, report, 0);
            epr_file_close(f);
        }
    }
    free(bytes);
    free(copy);
    epr_model_free(em);
    nn_model_free(net);
    bitstream_arch_free(&a);
    cfg_free(&cfg);
    free(text);
    free(epath);
    free(arch);
    h5run_close(h);
    return rc;
}
