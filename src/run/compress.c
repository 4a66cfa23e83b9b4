/* run/compress.c — see compress.h. */
#include "run/compress.h"

#include <stdlib.h>
#include <string.h>

#include "run/bitstream.h"
#include "run/fsutil.h"
#include "run/run_load.h"

int compress_run(const char *run_path, const char *out_path, int use_raw, FILE *report, epr_err *err) {
    run_loaded r;
    void *bytes = NULL;
    size_t len = 0;
    memset(&r, 0, sizeof r);
    CHECK_STATUS(fs_check_not_input(out_path, run_path, "the run file", err));
    int rc = run_load_open(run_path, NULL, 0, &r, err);
    if (!rc && !r.epr_enabled)
        rc = cmn_fail(err, EPR_EARG, "%s: a plain (float32) run has no integer phi to compress", run_path);
    if (!rc) rc = run_load_model(&r, use_raw, err);
    if (!rc) rc = bitstream_encode(r.em, r.arch, &bytes, &len, NULL, err);
    if (!rc) rc = fs_write_atomic(out_path, bytes, len, err);
    if (!rc && report) {
        epr_file *f;
        if (!epr_file_open_memory(bytes, len, &f, err)) {
            fprintf(report, "wrote %s from %s (%s weights): %zu bytes\n", out_path, run_path, use_raw ? "raw" : "EMA",
                    len);
            bitstream_print_sizes(f, report, 0);
            epr_file_close(f);
        }
    }
    free(bytes);
    run_load_close(&r);
    return rc;
}
