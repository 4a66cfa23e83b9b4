/* epr/epr_model.c — see epr_model.h. */
#include "epr/epr_model.h"

#include <fnmatch.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"
#include "epr/decoder.h"
#include "epr/epr_model_internal.h"
#include "epr/density.h"
#include "epr/rate.h"

typedef struct {
    rp_group_def spec;
    char names[EPR_MAX_GROUP_TENSORS][64];
    int tidx[EPR_MAX_GROUP_TENSORS];    /* nn tensor index */
    size_t toff[EPR_MAX_GROUP_TENSORS]; /* offset of the tensor in the group's latent */
    size_t n, rows;                     /* elements, rows = n / ell */
    size_t latent_off, psi_off, npsi, dens_off;
    float *T_fixed; /* dft / random-orthogonal; NULL otherwise */
} group;

struct rp_model {
    nn_model *net;
    int ng;
    group *g;
    float *params, *grads;
    size_t n, net_n, dens_off, dens_n;
    size_t n_compressed;
    float *theta, *dtheta; /* storage of compressed nn tensors */
    size_t *theta_off;     /* per nn tensor: offset into theta, or SIZE_MAX */
    float *work;           /* conv-affine scratch, max rows*ell */
    int32_t *phi;          /* exact-rate scratch, max group size */
};

static const float *group_T(const rp_model *em, const group *g) {
    if (g->spec.transform == EPR_TRANSFORM_LEARNED) return em->params + g->psi_off + 2 * (size_t)g->spec.ell;
    return g->T_fixed; /* NULL = identity */
}

static int n_log_s(const group *g) { return g->spec.decoder == EPR_DECODER_AFFINE ? 1 : g->spec.ell; }

void rp_model_free(rp_model *em) {
    if (!em) return;
    for (int i = 0; i < em->ng; i++) free(em->g[i].T_fixed);
    free(em->g);
    free(em->params);
    free(em->grads);
    free(em->theta);
    free(em->dtheta);
    free(em->theta_off);
    free(em->work);
    free(em->phi);
    free(em);
}

static int fail_free(rp_model *em, int rc) {
    rp_model_free(em);
    return rc;
}

int rp_model_name_matches(const char *patterns, const char *name) {
    if (!patterns) return 0;
    const char *p = patterns;
    while (*p) {
        while (*p == ',' || *p == ' ') p++;
        const char *e = p;
        while (*e && *e != ',' && *e != ' ') e++;
        char pat[128];
        size_t n = (size_t)(e - p) < sizeof pat - 1 ? (size_t)(e - p) : sizeof pat - 1;
        memcpy(pat, p, n);
        pat[n] = 0;
        if (n && fnmatch(pat, name, 0) == 0) return 1;
        p = e;
    }
    return 0;
}

int rp_model_create(nn_model *net, const rp_group_def *specs, int n_groups, const char *uncompressed, uint64_t seed,
                    rp_model **out, epr_err *err) {
    *out = NULL;
    rp_model *em = calloc(1, sizeof *em);
    RETURN_ERROR_IF(!em, err, EPR_ENOMEM, "out of memory");
    em->net = net;
    em->ng = n_groups;
    int nt = nn_model_num_tensors(net);
    em->g = calloc((size_t)(n_groups ? n_groups : 1), sizeof *em->g);
    em->theta_off = malloc((size_t)(nt ? nt : 1) * sizeof *em->theta_off);
    if (!em->g || !em->theta_off) return fail_free(em, cmn_fail(err, EPR_ENOMEM, "out of memory"));
    for (int i = 0; i < nt; i++) em->theta_off[i] = SIZE_MAX;

    /* ---- map groups to tensors and lay out the train block ---- */
    size_t latent_total = 0, psi_total = 0, dens_total = 0, max_work = 0, max_group = 0;
    for (int gi = 0; gi < n_groups; gi++) {
        group *g = &em->g[gi];
        g->spec = specs[gi];
        int ell = g->spec.ell;
        if (ell < 1 || ell > 64)
            return fail_free(em, cmn_fail(err, EPR_EARG, "group %s: ell = %d (must be 1..64)", g->spec.name, ell));
        if (g->spec.decoder == EPR_DECODER_AFFINE && g->spec.transform != EPR_TRANSFORM_IDENTITY)
            return fail_free(em, cmn_fail(err, EPR_EARG, "group %s: transform %s needs decoder conv-affine",
                                          g->spec.name, rp_transform_name(g->spec.transform)));
        if (g->spec.n_tensors < 1 || g->spec.n_tensors > EPR_MAX_GROUP_TENSORS)
            return fail_free(
                em, cmn_fail(err, EPR_EARG, "group %s: needs 1..%d tensors", g->spec.name, EPR_MAX_GROUP_TENSORS));
        for (int j = 0; j < g->spec.n_tensors; j++) {
            const char *name = specs[gi].tensors[j];
            snprintf(g->names[j], sizeof g->names[j], "%s", name);
            g->spec.tensors[j] = g->names[j];
            int ti = nn_model_find_tensor(net, name);
            if (ti < 0)
                return fail_free(em,
                                 cmn_fail(err, EPR_EARG, "group %s: the model has no tensor '%s'", g->spec.name, name));
            if (em->theta_off[ti] != SIZE_MAX)
                return fail_free(
                    em, cmn_fail(err, EPR_EARG, "tensor %s is in two groups (second: %s)", name, g->spec.name));
            if (rp_model_name_matches(uncompressed, name))
                return fail_free(em, cmn_fail(err, EPR_EARG,
                                              "tensor %s is in group %s but also matches [epr] "
                                              "uncompressed",
                                              name, g->spec.name));
            nn_param *p = nn_model_tensor(net, ti);
            if (p->size % (size_t)ell)
                return fail_free(em,
                                 cmn_fail(err, EPR_EARG, "group %s: ell = %d does not divide tensor %s of %zu elements",
                                          g->spec.name, ell, name, p->size));
            g->tidx[j] = ti;
            g->toff[j] = g->n;
            g->n += p->size;
            em->theta_off[ti] = em->n_compressed;
            em->n_compressed += p->size;
            size_t w = p->size;
            if (w > max_work) max_work = w;
        }
        g->rows = g->n / (size_t)ell;
        if (g->n > max_group) max_group = g->n;
        if (g->n > UINT32_MAX)
            return fail_free(em, cmn_fail(err, EPR_EARG, "group %s: more than 2^32 elements", g->spec.name));
        g->npsi = g->spec.decoder == EPR_DECODER_AFFINE
                      ? EPR_AFFINE_NPSI
                      : rp_conv_affine_npsi(ell, g->spec.transform == EPR_TRANSFORM_LEARNED);
        g->latent_off = latent_total;
        latent_total += g->n;
        psi_total += g->npsi;
        dens_total += (size_t)ell * EPR_DENSITY_NPARAMS;
    }
    if (n_groups) {
        for (int i = 0; i < nt; i++)
            if (em->theta_off[i] == SIZE_MAX && !rp_model_name_matches(uncompressed, nn_model_tensor(net, i)->name))
                return fail_free(em, cmn_fail(err, EPR_EARG,
                                              "tensor %s is in no group (with EPR on, put every tensor in a group "
                                              "or list it in [epr] uncompressed)",
                                              nn_model_tensor(net, i)->name));
    }
    size_t n_uncompressed = nn_model_num_params(net) - em->n_compressed;
    size_t off = latent_total;
    for (int gi = 0; gi < n_groups; gi++) {
        em->g[gi].psi_off = off;
        off += em->g[gi].npsi;
    }
    size_t unc_off = off;
    em->net_n = off + n_uncompressed;
    em->dens_off = em->net_n;
    em->dens_n = dens_total;
    em->n = em->net_n + dens_total;
    for (int gi = 0, d = 0; gi < n_groups; gi++) {
        em->g[gi].dens_off = em->dens_off + (size_t)d;
        d += em->g[gi].spec.ell * EPR_DENSITY_NPARAMS;
    }

    em->params = calloc(em->n + 1, sizeof(float));
    em->grads = calloc(em->n + EPR_MODEL_GRAD_TAIL, sizeof(float));
    em->theta = calloc(em->n_compressed + 1, sizeof(float));
    em->dtheta = calloc(em->n_compressed + 1, sizeof(float));
    em->work = calloc(max_work + 1, sizeof(float));
    em->phi = calloc(max_group + 1, sizeof(int32_t));
    if (!em->params || !em->grads || !em->theta || !em->dtheta || !em->work || !em->phi)
        return fail_free(em, cmn_fail(err, EPR_ENOMEM, "out of memory for the train block (%zu floats)", em->n));

    /* ---- bind ---- */
    for (int i = 0; i < nt; i++) {
        nn_param *p = nn_model_tensor(net, i);
        if (em->theta_off[i] != SIZE_MAX) {
            nn_model_bind(net, i, em->theta + em->theta_off[i], em->dtheta + em->theta_off[i]);
        } else {
            nn_model_bind(net, i, em->params + unc_off, em->grads + unc_off);
            unc_off += p->size;
        }
    }

    /* ---- initialise: θ as usual for the layer, then Ψ and ϑ from θ ---- */
    nn_model_init_params(net, seed);
    int rc = rp_model_init_from_theta(em, seed, err);
    if (rc) return fail_free(em, rc);
    *out = em;
    return 0;
}

int rp_model_init_from_theta(rp_model *em, uint64_t seed, epr_err *err) {
    nn_model *net = em->net;
    for (int gi = 0; gi < em->ng; gi++) {
        group *g = &em->g[gi];
        int ell = g->spec.ell;
        float *psi = em->params + g->psi_off;
        if (g->spec.decoder == EPR_DECODER_CONV_AFFINE && g->spec.transform != EPR_TRANSFORM_IDENTITY) {
            float *T = psi + 2 * (size_t)ell;
            if (g->spec.transform != EPR_TRANSFORM_LEARNED) {
                if (!g->T_fixed) g->T_fixed = malloc((size_t)ell * (size_t)ell * sizeof(float));
                RETURN_ERROR_IF(!g->T_fixed, err, EPR_ENOMEM, "out of memory");
                T = g->T_fixed;
            }
            int kh = g->spec.kh, kw = g->spec.kw;
            if (kh * kw != ell) kh = 1, kw = ell;
            CHECK_STATUS(rp_transform_build(g->spec.transform, kh, kw, cmn_mix64(seed) + (uint64_t)gi, T, err));
        }
        for (int j = 0; j < g->spec.n_tensors; j++) {
            size_t size = nn_model_tensor(net, g->tidx[j])->size;
            const float *theta = em->theta + em->theta_off[g->tidx[j]];
            float *latent = em->params + g->latent_off + g->toff[j];
            if (g->spec.decoder == EPR_DECODER_AFFINE) {
                rp_affine_init(g->spec.log_step, theta, size, psi, latent);
            } else {
                CHECK_STATUS(rp_conv_affine_init(ell, group_T(em, g), g->spec.log_step, theta, size / (size_t)ell, psi,
                                                 latent, err));
            }
        }
        rp_density_init(em->params + g->dens_off, ell, cmn_mix64(seed ^ 0x5eedULL) + (uint64_t)gi);
    }
    rp_model_decode(em);
    return 0;
}

nn_model *rp_model_net(rp_model *em) { return em->net; }
int rp_model_num_groups(const rp_model *em) { return em->ng; }
const rp_group_def *rp_model_group(const rp_model *em, int g) { return &em->g[g].spec; }
size_t rp_model_group_num_params(const rp_model *em, int g) { return em->g[g].n; }
size_t rp_model_num_compressed(const rp_model *em) { return em->n_compressed; }
float *rp_model_params(rp_model *em) { return em->params; }
float *rp_model_grads(rp_model *em) { return em->grads; }
size_t rp_model_size(const rp_model *em) { return em->n; }
size_t rp_model_net_size(const rp_model *em) { return em->net_n; }
size_t rp_model_density_offset(const rp_model *em) { return em->dens_off; }
size_t rp_model_density_size(const rp_model *em) { return em->dens_n; }
int rp_model_group_tensor(const rp_model *em, int g, int t) { return em->g[g].tidx[t]; }
const float *rp_model_density(rp_model *em, int g) { return em->params + em->g[g].dens_off; }

void rp_model_decode(rp_model *em) {
    for (int gi = 0; gi < em->ng; gi++) {
        group *g = &em->g[gi];
        const float *psi = em->params + g->psi_off;
        for (int j = 0; j < g->spec.n_tensors; j++) {
            size_t size = nn_model_tensor(em->net, g->tidx[j])->size;
            float *theta = em->theta + em->theta_off[g->tidx[j]];
            const float *latent = em->params + g->latent_off + g->toff[j];
            if (g->spec.decoder == EPR_DECODER_AFFINE)
                rp_affine_decode(psi, latent, size, theta, NULL);
            else
                rp_conv_affine_decode(g->spec.ell, psi, group_T(em, g), latent, size / (size_t)g->spec.ell, theta, NULL,
                                      em->work);
        }
    }
}

void rp_model_decode_latent(rp_model *em) {
    for (int gi = 0; gi < em->ng; gi++) {
        group *g = &em->g[gi];
        const float *psi = em->params + g->psi_off;
        const int ell = g->spec.ell, k = n_log_s(g);
        const float *T = group_T(em, g);
        for (int j = 0; j < g->spec.n_tensors; j++) {
            size_t size = nn_model_tensor(em->net, g->tidx[j])->size;
            float *theta = em->theta + em->theta_off[g->tidx[j]];
            const float *latent = em->params + g->latent_off + g->toff[j];
            for (size_t r = 0; r < size / (size_t)ell; r++)
                for (int q = 0; q < ell; q++) {
                    float acc = 0.0f;
                    if (T)
                        for (int c = 0; c < ell; c++) acc += T[(size_t)q * ell + c] * latent[r * ell + c];
                    else
                        acc = latent[r * ell + q];
                    theta[r * ell + q] = acc + psi[k + (k == 1 ? 0 : q)];
                }
        }
    }
}

void rp_model_backward(rp_model *em) {
    if (!em->ng) return;
    /* latents and Ψ accumulate; the uncompressed grads were set by nn */
    size_t comp_end = em->g[em->ng - 1].psi_off + em->g[em->ng - 1].npsi;
    memset(em->grads, 0, comp_end * sizeof(float));
    memset(em->grads + em->dens_off, 0, em->dens_n * sizeof(float));
    for (int gi = 0; gi < em->ng; gi++) {
        group *g = &em->g[gi];
        const float *psi = em->params + g->psi_off;
        float *dpsi = em->grads + g->psi_off;
        for (int j = 0; j < g->spec.n_tensors; j++) {
            size_t size = nn_model_tensor(em->net, g->tidx[j])->size;
            const float *dtheta = em->dtheta + em->theta_off[g->tidx[j]];
            const float *latent = em->params + g->latent_off + g->toff[j];
            float *dlatent = em->grads + g->latent_off + g->toff[j];
            if (g->spec.decoder == EPR_DECODER_AFFINE) {
                rp_affine_backward(psi, latent, size, dtheta, dlatent, dpsi);
            } else {
                float *dT = g->spec.transform == EPR_TRANSFORM_LEARNED ? dpsi + 2 * (size_t)g->spec.ell : NULL;
                rp_conv_affine_backward(g->spec.ell, psi, group_T(em, g), latent, size / (size_t)g->spec.ell, dtheta,
                                        dlatent, dpsi, dT, em->work);
            }
        }
    }
}

double rp_model_rate_noisy(rp_model *em, uint64_t seed, long step, double lambda, int rank, int nranks) {
    double total = 0;
    for (int gi = 0; gi < em->ng; gi++) {
        group *g = &em->g[gi];
        size_t b, e;
        rp_model_rows_split(g->rows, rank, nranks, &b, &e);
        rp_noise_key key = {seed, (uint64_t)step, (uint32_t)gi, 0};
        double bits = 0;
        epr_err err;
        int rc = rp_rate_noisy(em->params + g->dens_off, em->params + g->latent_off, g->rows, g->spec.ell, b, e,
                               em->params + g->psi_off, n_log_s(g), &key, (float)lambda, &bits,
                               em->grads + g->latent_off, em->grads + g->psi_off, em->grads + g->dens_off, &err);
        if (rc) {
            /* only reachable through a programming error (limits are checked at create) */
            fprintf(stderr, "epr: internal error in the rate of group %s: %s\n", g->spec.name, err.msg);
            abort();
        }
        total += bits;
    }
    return total;
}

double rp_model_rate_exact(rp_model *em, double *per_group) {
    double total = 0;
    for (int gi = 0; gi < em->ng; gi++) {
        group *g = &em->g[gi];
        rp_decoder_phi(em->params + g->latent_off, g->rows, g->spec.ell, em->params + g->psi_off, n_log_s(g), em->phi);
        double bits = rp_rate_exact(em->params + g->dens_off, em->phi, g->rows, g->spec.ell, NULL);
        if (per_group) per_group[gi] = bits;
        total += bits;
    }
    return total;
}

void rp_model_phi(rp_model *em, int gi, int t, int32_t *phi) {
    group *g = &em->g[gi];
    size_t size = nn_model_tensor(em->net, g->tidx[t])->size;
    rp_decoder_phi(em->params + g->latent_off + g->toff[t], size / (size_t)g->spec.ell, g->spec.ell,
                   em->params + g->psi_off, n_log_s(g), phi);
}

void rp_model_decoder_values(rp_model *em, int gi, float *s, float *offset, float *T) {
    group *g = &em->g[gi];
    const float *psi = em->params + g->psi_off;
    int k = n_log_s(g);
    for (int i = 0; i < k; i++) {
        s[i] = expf(psi[i]);
        offset[i] = psi[k + i];
    }
    const float *Tg = group_T(em, g);
    if (T && Tg) memcpy(T, Tg, (size_t)g->spec.ell * (size_t)g->spec.ell * sizeof(float));
}

void rp_model_group_layout(const rp_model *em, int gi, size_t *latent_off, size_t *latent_n, size_t *psi_off,
                           size_t *psi_n, size_t *density_off) {
    const group *g = &em->g[gi];
    *latent_off = g->latent_off;
    *latent_n = g->n;
    *psi_off = g->psi_off;
    *psi_n = g->npsi;
    *density_off = g->dens_off;
}

void rp_model_psi_range(const rp_model *em, size_t *begin, size_t *end) {
    if (!em->ng) {
        *begin = *end = 0;
        return;
    }
    *begin = em->g[0].psi_off;
    *end = em->g[em->ng - 1].psi_off + em->g[em->ng - 1].npsi;
}

int rp_model_group_n_log_s(const rp_model *em, int gi) { return n_log_s(&em->g[gi]); }

size_t rp_model_theta_size(const rp_model *em) { return em->n_compressed; }

int rp_model_tensor_storage(const rp_model *em, int i, size_t *off) {
    if (em->theta_off[i] != SIZE_MAX) {
        *off = em->theta_off[i];
        return 1;
    }
    /* uncompressed tensors follow the groups' Ψ in tensor order (as bound at create) */
    size_t begin, end;
    rp_model_psi_range(em, &begin, &end);
    for (int j = 0; j < i; j++)
        if (em->theta_off[j] == SIZE_MAX) end += nn_model_tensor(em->net, j)->size;
    *off = end;
    return 0;
}
