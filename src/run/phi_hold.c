/* run/phi_hold.c — see phi_hold.h. */
#include "run/phi_hold.h"

#include <math.h>
#include <stdlib.h>

#include "epr/decoder.h"

struct phi_hold {
    rp_model *em;
    int ng;
    int32_t *phi;    /* all groups' φ, group after group */
    size_t *phi_off; /* group g's φ: phi + phi_off[g], ng + 1 entries */
};

/* Where group g's latents and log s are, and how many of each. */
static void layout(const phi_hold *h, int g, size_t *lat, size_t *n, size_t *log_s, int *ell, int *n_log_s) {
    size_t psi_n, den;
    rp_model_group_layout(h->em, g, lat, n, log_s, &psi_n, &den);
    const rp_group_def *d = rp_model_group(h->em, g);
    *ell = d->decoder == EPR_DECODER_AFFINE ? 1 : d->ell;
    *n_log_s = d->decoder == EPR_DECODER_AFFINE ? 1 : d->ell;
}

int phi_hold_create(rp_model *em, phi_hold **out, epr_err *err) {
    *out = NULL;
    phi_hold *h = calloc(1, sizeof *h);
    RETURN_ERROR_IF(!h, err, EPR_ENOMEM, "out of memory (phi_hold)");
    h->em = em;
    h->ng = rp_model_num_groups(em);
    h->phi_off = calloc((size_t)h->ng + 1, sizeof *h->phi_off);
    if (h->phi_off) {
        for (int g = 0; g < h->ng; g++) h->phi_off[g + 1] = h->phi_off[g] + rp_model_group_num_params(em, g);
        h->phi = malloc((h->phi_off[h->ng] + 1) * sizeof *h->phi);
    }
    if (!h->phi) {
        phi_hold_free(h);
        return cmn_fail(err, EPR_ENOMEM, "out of memory (phi_hold)");
    }
    *out = h;
    return EPR_OK;
}

void phi_hold_free(phi_hold *h) {
    if (!h) return;
    free(h->phi);
    free(h->phi_off);
    free(h);
}

void phi_hold_capture(phi_hold *h, const float *block) {
    for (int g = 0; g < h->ng; g++) {
        size_t lat, n, log_s;
        int ell, nls;
        layout(h, g, &lat, &n, &log_s, &ell, &nls);
        rp_decoder_phi(block + lat, n / (size_t)ell, ell, block + log_s, nls, h->phi + h->phi_off[g]);
    }
}

void phi_hold_apply(const phi_hold *h, float *block) {
    for (int g = 0; g < h->ng; g++) {
        size_t lat, n, log_s;
        int ell, nls;
        layout(h, g, &lat, &n, &log_s, &ell, &nls);
        const int32_t *phi = h->phi + h->phi_off[g];
        for (int col = 0; col < ell; col++) {
            const float s = expf(block[log_s + (nls == 1 ? 0 : (size_t)col)]);
            for (size_t r = col; r < n; r += (size_t)ell) block[lat + r] = (float)phi[r] * s;
        }
    }
}

const int32_t *phi_hold_phi(const phi_hold *h, int g) { return h->phi + h->phi_off[g]; }
