/* run/dataset_split.c — dataset_split (dataset.h): a validation split
 * held out of a loaded training set. */
#include <stdlib.h>
#include <string.h>

#include "run/dataset.h"

static int cmp_u32(const void *a, const void *b) {
    const uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

int dataset_split(dataset *d, int n_val, uint64_t seed, dataset *val, epr_err *err) {
    memset(val, 0, sizeof *val);
    RETURN_ERROR_IF(d->map, err, EPR_EARG, "dataset: a packed set cannot be split (validation)");
    RETURN_ERROR_IF(n_val < 1 || n_val >= d->n, err, EPR_EARG,
                    "dataset: a validation split of %d of %d samples (need 1..%d)", n_val, d->n, d->n - 1);
    const size_t sb = dataset_sample_bytes(d);
    uint32_t *perm = malloc((size_t)d->n * sizeof *perm);
    uint8_t *pick = calloc((size_t)d->n, 1);
    val->images = malloc((size_t)n_val * sb);
    val->labels = malloc((size_t)n_val * sizeof *val->labels);
    val->source_index = malloc((size_t)n_val * sizeof *val->source_index);
    if (!perm || !pick || !val->images || !val->labels || !val->source_index) {
        free(perm);
        free(pick);
        dataset_free(val);
        return cmn_fail(err, EPR_ENOMEM, "out of memory (validation split of %d samples)", n_val);
    }
    sampler_epoch_perm(seed, 0, d->n, perm);
    memcpy(val->source_index, perm, (size_t)n_val * sizeof *perm);
    qsort(val->source_index, (size_t)n_val, sizeof *perm, cmp_u32);
    for (int i = 0; i < n_val; i++) {
        const uint32_t k = val->source_index[i];
        pick[k] = 1;
        memcpy(val->images + (size_t)i * sb, d->images + (size_t)k * sb, sb);
        val->labels[i] = d->labels[k];
    }
    int m = 0; /* the rest stays, compacted in place (k >= m always) */
    for (int k = 0; k < d->n; k++) {
        if (pick[k]) continue;
        if (k != m) {
            memmove(d->images + (size_t)m * sb, d->images + (size_t)k * sb, sb);
            d->labels[m] = d->labels[k];
        }
        m++;
    }
    free(perm);
    free(pick);
    val->n = n_val;
    d->n = m;
    val->c = d->c, val->h = d->h, val->w = d->w;
    val->n_classes = d->n_classes;
    val->normalize = d->normalize;
    memcpy(val->mean, d->mean, sizeof val->mean);
    memcpy(val->std, d->std, sizeof val->std);
    memcpy(val->name, d->name, sizeof val->name);
    return EPR_OK;
}
