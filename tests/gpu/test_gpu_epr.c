/* test_gpu_epr — the device EPR layer (src/epr/cuda) against the CPU
 * reference (src/epr, itself checked against finite differences and a
 * double oracle by tests/epr).
 *
 * Each case builds one host model (nn_model + rp_model), perturbs its
 * train block (latents, log s and offsets per column, learned T, density
 * parameters) so that nothing sits at its initial value, and mirrors it on
 * the device (nn_cuda_model + rp_cuda_model from the same host model).
 * Then, from the same inputs on both sides:
 *  - decode: θ of every compressed tensor, and the integer φ must agree;
 *  - nn forward + backward through the bound θ (loss and dθ within the
 *    nn's whole-model tolerances: checks the binding), then the CPU's dθ is
 *    copied to the device and the EPR backward compared on equal inputs:
 *    d latent, d log s, d offset, d T (learned), zeroed density grads;
 *  - noisy rate (rank 0 of 1, and ranks 0 and 1 of 2): bits, d latent,
 *    d log s, d density;
 *  - exact rate per group;
 *  - the device results twice: the same bits (determinism; the second
 *    noisy rate through rp_cuda_rate_noisy_async).
 *
 * Tolerances (TF32 off: NVIDIA_TF32_OVERRIDE=0, cuBLAS default math).
 * "max" = max |gpu - cpu| / max |cpu| over the compared block.
 *  - θ: max <= 1e-6 (affine, identity: the same float operations, s from
 *    exp in double vs glibc's expf, which agree but for rare last-bit cases);
 *    <= 1e-5 where a T is applied (cuBLAS vs OpenBLAS sums of ell terms).
 *  - φ: no element may differ.
 *  - d latent: backward max <= 1e-6 (element-wise the same operations;
 *    with T, dQ = dΘ T is a sum of ell terms: 1e-5); noisy rate 1e-4: the
 *    same operations per value, but log s -> 1/s (expf on the CPU, exp in
 *    double on the GPU) may differ in the last bit, and d/dy of a value in
 *    a tail of the density is a difference of two nearly equal terms
 *    divided by p, which amplifies a last-bit difference (first H200 run,
 *    with the prepared parameters then from float log1pf/tanhf: max 1.4e-5,
 *    relative L2 <= 7e-6, 1e-5 was too tight).
 *  - d log s, d offset, d T, d density, bits: sums over up to 10^6 terms in
 *    another order, of terms that differ by float rounding where a T or the
 *    density's prepared parameters (device softplus/tanh) enter: max <= 1e-3
 *    for the gradient blocks (they cancel: |sum| << sum |terms|), relative
 *    1e-5 for the noisy bits, 1e-9 for the exact bits (double throughout).
 *  - nn loss: relative 1e-4 (test_gpu_nn's); the nn's dθ and uncompressed
 *    gradients: relative L2 1e-2 (they only check the binding here: a
 *    ReLU or max-pool near-tie may flip between CPU and GPU, test_gpu_nn
 *    checks the nn itself; a misbound tensor gives O(1)).
 * A wrong index, sign, scale (lambda) or row split gives O(1) errors.
 * Every comparison is printed.  Exit 77 (skipped) without a CUDA device. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/rng.h"
#include "epr/cuda/epr_cuda.h"
#include "epr/decoder.h"
#include "epr/epr_model.h"
#include "epr/epr_model_internal.h"
#include "nn/cuda/nn_cuda.h"
#include "gpu_test_util.h"
#include "nn/nn.h"
#include "run/config.h"
#include "run/experiment.h"

static nn_cuda *G;

typedef struct {
    const char *name;
    nn_model *net;
    rp_model *em;
    nn_cuda_model *dnet;
    rp_cuda_model *dm;
    size_t n;
    int batch, in_size;
} fixture;

/* ---- comparison ---- */

static int failures;

/* max |gpu - cpu| / max |cpu| <= tol (tol < 0: relative L2 <= -tol).  Also
 * reports the relative L2 error and how many elements are bitwise equal. */
static void cmp(const char *model, const char *what, const float *gpu, const float *cpu, size_t n, double tol) {
    const gpu_diff df = gpu_test_diff(gpu, cpu, n, 0);
    const double emax = df.emax, el2 = df.el2;
    const size_t worst = df.worst, same = df.same;
    const int bad = tol >= 0 ? !(emax <= tol) : !(el2 <= -tol);
    fprintf(stderr, "  %-10s %-30.30s n=%-8zu max %.2e relL2 %.2e bitwise %5.1f%% (tol %s %.0e)%s\n", model, what, n,
            emax, el2, n ? 100.0 * (double)same / (double)n : 100.0, tol >= 0 ? "max" : "L2", fabs(tol),
            bad ? "  FAIL" : "");
    if (bad) {
        fprintf(stderr, "    worst [%zu]: gpu %.9g cpu %.9g\n", worst, (double)gpu[worst], (double)cpu[worst]);
        failures++;
    }
}

static void cmp_scalar(const char *model, const char *what, double gpu, double cpu, double rtol) {
    const double e = fabs(gpu - cpu) / (fabs(cpu) > 0 ? fabs(cpu) : 1.0);
    const int bad = !(e <= rtol);
    fprintf(stderr, "  %-10s %-30.30s gpu %.12g cpu %.12g rel %.2e (tol %.0e)%s\n", model, what, gpu, cpu, e, rtol,
            bad ? "  FAIL" : "");
    failures += bad;
}

static float *dl(const float *d, size_t n) {
    float *h = malloc(sizeof(float) * (n ? n : 1));
    assert_non_null(h);
    assert_int_equal(nn_cuda_download(G, h, d, sizeof(float) * n), 0);
    return h;
}

/* ---- fixtures ---- */

static void fixture_make(fixture *f, const char *name, const char *spec, int c, int h, int w, int batch,
                         const rp_group_def *groups, int ng, const char *unc) {
    epr_err err = {0};
    memset(f, 0, sizeof *f);
    f->name = name;
    f->batch = batch;
    f->in_size = c * h * w;
    int rc = nn_model_build(spec, c, h, w, batch, &f->net, &err);
    if (rc) fprintf(stderr, "%s: %s\n", name, err.msg);
    assert_int_equal(rc, 0);
    rc = rp_model_create(f->net, groups, ng, unc, 11, &f->em, &err);
    if (rc) fprintf(stderr, "%s: %s\n", name, err.msg);
    assert_int_equal(rc, 0);
    f->n = rp_model_size(f->em);
    /* perturb everything away from its initial value */
    float *p = rp_model_params(f->em);
    cmn_rng r = {5, 99, 0};
    for (int gi = 0; gi < ng; gi++) {
        size_t lo, ln, po, pn, dof;
        rp_model_group_layout(f->em, gi, &lo, &ln, &po, &pn, &dof);
        const rp_group_def *d = rp_model_group(f->em, gi);
        const int nls = rp_model_group_n_log_s(f->em, gi);
        for (size_t i = 0; i < ln; i++) p[lo + i] *= 1.0f + 0.5f * (cmn_rng_next_uniform(&r) - 0.5f);
        for (int i = 0; i < nls; i++) {
            p[po + i] = d->log_step + 0.6f * (cmn_rng_next_uniform(&r) - 0.5f);
            p[po + nls + i] = 0.02f * (cmn_rng_next_uniform(&r) - 0.5f);
        }
        for (size_t i = 2 * (size_t)nls; i < pn; i++) p[po + i] += 0.05f * (cmn_rng_next_uniform(&r) - 0.5f);
        for (int i = 0; i < d->ell * 43; i++) p[dof + i] += 0.3f * (cmn_rng_next_uniform(&r) - 0.5f);
    }
    rp_model_decode(f->em);
    rc = nn_cuda_model_create(G, f->net, &f->dnet, &err);
    if (!rc) rc = rp_cuda_model_create(G, f->em, f->dnet, &f->dm, &err);
    if (rc) fprintf(stderr, "%s: %s\n", name, err.msg);
    assert_int_equal(rc, 0);
}

static void fixture_free(fixture *f) {
    rp_cuda_model_free(f->dm);
    nn_cuda_model_free(f->dnet);
    rp_model_free(f->em);
    nn_model_free(f->net);
}

/* Groups of an experiment file (the real configurations). */
static int groups_of(const char *ini, cfg_experiment *cfg, rp_group_def *g) {
    epr_err err = {0};
    char path[1024];
    const char *dir = getenv("EPR_EXPERIMENTS");
    snprintf(path, sizeof path, "%s/%s", dir ? dir : EPR_SOURCE_DIR "/experiments", ini);
    int rc = cfg_load(path, NULL, 0, cfg, &err);
    if (rc) fprintf(stderr, "%s: %s\n", path, err.msg);
    assert_int_equal(rc, 0);
    return experiment_groups(cfg, g);
}

/* ---- the comparisons of one model ---- */

static void check_decode(fixture *f) {
    const int nt = nn_model_num_tensors(f->net);
    float *theta = dl(rp_cuda_theta(f->dm), rp_model_theta_size(f->em));
    for (int gi = 0; gi < rp_model_num_groups(f->em); gi++) {
        const rp_group_def *d = rp_model_group(f->em, gi);
        const int has_T = d->decoder == EPR_DECODER_CONV_AFFINE && d->transform != EPR_TRANSFORM_IDENTITY;
        for (int j = 0; j < d->n_tensors; j++) {
            int ti = rp_model_group_tensor(f->em, gi, j);
            size_t off;
            assert_int_equal(rp_model_tensor_storage(f->em, ti, &off), 1);
            nn_param *p = nn_model_tensor(f->net, ti);
            char what[96];
            snprintf(what, sizeof what, "decode %s", p->name);
            cmp(f->name, what, theta + off, p->w, p->size, has_T ? 1e-5 : 1e-6);
        }
    }
    (void)nt;
    free(theta);
    /* φ from the device latent and log s (downloaded) equals the host's */
    float *dev = dl(rp_cuda_params(f->dm), f->n), *host = rp_model_params(f->em);
    size_t diff = 0;
    for (int gi = 0; gi < rp_model_num_groups(f->em); gi++) {
        size_t lo, ln, po, pn, dof;
        rp_model_group_layout(f->em, gi, &lo, &ln, &po, &pn, &dof);
        const int ell = rp_model_group(f->em, gi)->ell, nls = rp_model_group_n_log_s(f->em, gi);
        int32_t *a = malloc(sizeof(int32_t) * ln), *b = malloc(sizeof(int32_t) * ln);
        assert_true(a && b);
        rp_decoder_phi(host + lo, ln / (size_t)ell, ell, host + po, nls, a);
        rp_decoder_phi(dev + lo, ln / (size_t)ell, ell, dev + po, nls, b);
        for (size_t i = 0; i < ln; i++) diff += a[i] != b[i];
        free(a), free(b);
    }
    cmp(f->name, "train block after upload", dev, host, f->n, 0.0);
    fprintf(stderr, "  %-10s phi differing: %zu%s\n", f->name, diff, diff ? "  FAIL" : "");
    failures += diff != 0;
    free(dev);
}

/* Compare the gradient block's EPR part: per group latent, log s, offset,
 * T, density. */
static void cmp_grads(fixture *f, const char *stage, const float *gpu, const float *cpu, double tol_latent,
                      double tol_latent_T) {
    char what[128];
    for (int gi = 0; gi < rp_model_num_groups(f->em); gi++) {
        size_t lo, ln, po, pn, dof;
        rp_model_group_layout(f->em, gi, &lo, &ln, &po, &pn, &dof);
        const rp_group_def *d = rp_model_group(f->em, gi);
        const int nls = rp_model_group_n_log_s(f->em, gi);
        const int has_T = d->decoder == EPR_DECODER_CONV_AFFINE && d->transform != EPR_TRANSFORM_IDENTITY;
        snprintf(what, sizeof what, "%s %s d latent", stage, d->name);
        cmp(f->name, what, gpu + lo, cpu + lo, ln, has_T ? tol_latent_T : tol_latent);
        snprintf(what, sizeof what, "%s %s d log s", stage, d->name);
        cmp(f->name, what, gpu + po, cpu + po, (size_t)nls, 1e-3);
        snprintf(what, sizeof what, "%s %s d offset", stage, d->name);
        cmp(f->name, what, gpu + po + nls, cpu + po + nls, (size_t)nls, 1e-3);
        if (pn > 2 * (size_t)nls) {
            snprintf(what, sizeof what, "%s %s d T", stage, d->name);
            cmp(f->name, what, gpu + po + 2 * nls, cpu + po + 2 * nls, pn - 2 * (size_t)nls, 1e-3);
        }
        snprintf(what, sizeof what, "%s %s d density", stage, d->name);
        cmp(f->name, what, gpu + dof, cpu + dof, (size_t)d->ell * 43, 1e-3);
    }
}

static void check_backward(fixture *f) {
    const int B = f->batch;
    float *x = malloc(sizeof(float) * (size_t)B * f->in_size);
    int *y = malloc(sizeof(int) * B);
    assert_true(x && y);
    cmn_rng r = {3, 5, 0};
    for (size_t i = 0; i < (size_t)B * f->in_size; i++) x[i] = cmn_rng_next_uniform(&r);
    for (int i = 0; i < B; i++) y[i] = (int)cmn_rng_below(&r, (uint64_t)nn_model_num_classes(f->net));
    float *dx = NULL;
    int *dy = NULL;
    assert_int_equal(nn_cuda_malloc(G, (void **)&dx, sizeof(float) * (size_t)B * f->in_size, NULL), 0);
    assert_int_equal(nn_cuda_malloc(G, (void **)&dy, sizeof(int) * B, NULL), 0);
    nn_cuda_upload(G, dx, x, sizeof(float) * (size_t)B * f->in_size);
    nn_cuda_upload(G, dy, y, sizeof(int) * B);

    /* the same garbage in both gradient blocks: backward must set what it owns */
    float *hg = rp_model_grads(f->em);
    for (size_t i = 0; i < f->n; i++) hg[i] = cmn_rng_next_uniform(&r) - 0.5f;
    nn_cuda_upload(G, rp_cuda_grads(f->dm), hg, sizeof(float) * f->n);

    double lc = nn_forward(f->net, x, y, B, 1);
    double lg = nn_cuda_forward(f->dnet, dx, dy, B, 1);
    cmp_scalar(f->name, "nn loss through bound theta", lg, lc, 1e-4);
    nn_backward(f->net, 1.0f / (float)B);
    nn_cuda_backward(f->dnet, 1.0f / (float)B);
    /* dθ from the nn (checks the binding), then the host's dθ on both sides */
    const size_t nth = rp_model_theta_size(f->em);
    float *dth = dl(rp_cuda_dtheta(f->dm), nth), *hdth = malloc(sizeof(float) * (nth ? nth : 1));
    assert_non_null(hdth);
    for (int i = 0; i < nn_model_num_tensors(f->net); i++) {
        size_t off;
        nn_param *p = nn_model_tensor(f->net, i);
        if (rp_model_tensor_storage(f->em, i, &off)) memcpy(hdth + off, p->dw, sizeof(float) * p->size);
    }
    cmp(f->name, "nn dtheta (compressed tensors)", dth, hdth, nth, -1e-2);
    nn_cuda_upload(G, rp_cuda_dtheta(f->dm), hdth, sizeof(float) * nth);

    rp_model_backward(f->em);
    rp_cuda_backward(f->dm);
    float *g1 = dl(rp_cuda_grads(f->dm), f->n);
    cmp_grads(f, "backward", g1, hg, 1e-6, 1e-5);
    size_t begin, end;
    rp_model_psi_range(f->em, &begin, &end);
    cmp(f->name, "nn grads of uncompressed tensors", g1 + end, hg + end, rp_model_density_offset(f->em) - end, -1e-2);
    /* determinism: again from the same state */
    nn_cuda_upload(G, rp_cuda_grads(f->dm), hg, sizeof(float) * f->n);
    rp_cuda_backward(f->dm);
    float *g2 = dl(rp_cuda_grads(f->dm), f->n);
    int same = memcmp(g1, g2, sizeof(float) * end) == 0;
    fprintf(stderr, "  %-10s backward twice: %s\n", f->name, same ? "same bits" : "DIFFERENT  FAIL");
    failures += !same;
    free(g1), free(g2), free(dth), free(hdth), free(x), free(y);
    nn_cuda_free(G, dx);
    nn_cuda_free(G, dy);
}

static void zero_grads(fixture *f) {
    memset(rp_model_grads(f->em), 0, sizeof(float) * (f->n + EPR_MODEL_GRAD_TAIL));
    nn_cuda_memset0(G, rp_cuda_grads(f->dm), sizeof(float) * (f->n + EPR_MODEL_GRAD_TAIL));
}

static void check_rate(fixture *f) {
    const double lambda = 0.37;
    const uint64_t seed = 1234;
    const long step = 4321;
    char what[128];
    for (int nranks = 1; nranks <= 2; nranks++)
        for (int rank = 0; rank < nranks; rank++) {
            zero_grads(f);
            double bc = rp_model_rate_noisy(f->em, seed, step, lambda, rank, nranks);
            double bg = rp_cuda_rate_noisy(f->dm, seed, step, lambda, rank, nranks);
            snprintf(what, sizeof what, "noisy bits rank %d/%d", rank, nranks);
            cmp_scalar(f->name, what, bg, bc, 1e-5);
            float *g = dl(rp_cuda_grads(f->dm), f->n + EPR_MODEL_GRAD_TAIL);
            snprintf(what, sizeof what, "rate %d/%d", rank, nranks);
            cmp_grads(f, what, g, rp_model_grads(f->em), 1e-4, 1e-4);
            /* nothing outside the EPR part is touched */
            size_t begin, end;
            rp_model_psi_range(f->em, &begin, &end);
            cmp(f->name, "rate: uncompressed grads (0)", g + end, rp_model_grads(f->em) + end,
                rp_model_density_offset(f->em) - end, 0.0);
            cmp(f->name, "rate: grad tail (0)", g + f->n, rp_model_grads(f->em) + f->n, EPR_MODEL_GRAD_TAIL, 0.0);
            if (nranks == 1) { /* determinism, through the asynchronous variant */
                nn_cuda_memset0(G, rp_cuda_grads(f->dm), sizeof(float) * (f->n + EPR_MODEL_GRAD_TAIL));
                double *d_bits = NULL, bg2 = -1.0;
                assert_int_equal(nn_cuda_malloc(G, (void **)&d_bits, sizeof(double), NULL), 0);
                rp_cuda_rate_noisy_async(f->dm, seed, step, lambda, rank, nranks, d_bits);
                assert_int_equal(nn_cuda_download(G, &bg2, d_bits, sizeof(double)), 0);
                nn_cuda_free(G, d_bits);
                float *g2 = dl(rp_cuda_grads(f->dm), f->n + EPR_MODEL_GRAD_TAIL);
                int same = bg2 == bg && memcmp(g, g2, sizeof(float) * (f->n + EPR_MODEL_GRAD_TAIL)) == 0;
                fprintf(stderr, "  %-10s noisy rate twice (sync, async): %s\n", f->name,
                        same ? "same bits" : "DIFFERENT  FAIL");
                failures += !same;
                free(g2);
            }
            free(g);
        }
    const int ng = rp_model_num_groups(f->em);
    double *pc = calloc((size_t)ng + 1, sizeof(double)), *pg = calloc((size_t)ng + 1, sizeof(double));
    assert_true(pc && pg);
    double ec = rp_model_rate_exact(f->em, pc), eg = rp_cuda_rate_exact(f->dm, pg);
    cmp_scalar(f->name, "exact bits", eg, ec, 1e-9);
    for (int gi = 0; gi < ng; gi++) {
        snprintf(what, sizeof what, "exact bits %s", rp_model_group(f->em, gi)->name);
        cmp_scalar(f->name, what, pg[gi], pc[gi], 1e-9);
    }
    free(pc), free(pg);
}

static void check_model(fixture *f) {
    failures = 0;
    check_decode(f);
    check_backward(f);
    check_rate(f);
    /* download: the host block becomes the device's (unchanged here) */
    float *before = malloc(sizeof(float) * f->n);
    assert_non_null(before);
    memcpy(before, rp_model_params(f->em), sizeof(float) * f->n);
    rp_cuda_download(f->dm);
    cmp(f->name, "download", rp_model_params(f->em), before, f->n, 0.0);
    free(before);
    assert_int_equal(failures, 0);
}

/* ---- cases ---- */

/* Every decoder and transform kind, ell = 9 with 3x3 kernels, ell = 2
 * affine, row counts that are not multiples of the device chunk (32) or
 * block sizes. */
static void test_kinds(void **state) {
    (void)state;
    const char *spec = "conv name=c1 out=5 k=3 pad=1; relu; conv name=c2 out=33 k=3 pad=1; relu;"
                       " conv name=c3 out=41 k=3; relu; conv name=c4 out=7 k=3; flatten;"
                       " dense name=fc1 out=37; relu; dense name=fc2 out=10";
    rp_group_def g[6];
    memset(g, 0, sizeof g);
    const struct {
        const char *name, *t1, *t2;
        epr_decoder_kind dec;
        epr_transform_kind tr;
        int ell;
        float ls;
    } d[6] = {
        {"dft", "c1.weight", NULL, EPR_DECODER_CONV_AFFINE, EPR_TRANSFORM_DFT, 9, -4.0f},
        {"rorth", "c2.weight", NULL, EPR_DECODER_CONV_AFFINE, EPR_TRANSFORM_RANDOM_ORTHOGONAL, 9, -4.5f},
        {"learned", "c3.weight", NULL, EPR_DECODER_CONV_AFFINE, EPR_TRANSFORM_LEARNED, 9, -4.0f},
        {"ident", "c4.weight", NULL, EPR_DECODER_CONV_AFFINE, EPR_TRANSFORM_IDENTITY, 9, -3.5f},
        {"fc1", "fc1.weight", NULL, EPR_DECODER_AFFINE, EPR_TRANSFORM_IDENTITY, 1, -4.0f},
        {"fc2", "fc2.weight", "fc1.bias", EPR_DECODER_AFFINE, EPR_TRANSFORM_IDENTITY, 1, -3.0f},
    };
    for (int i = 0; i < 6; i++) {
        snprintf(g[i].name, sizeof g[i].name, "%s", d[i].name);
        g[i].decoder = d[i].dec;
        g[i].transform = d[i].tr;
        g[i].ell = d[i].ell;
        g[i].kh = g[i].kw = 3;
        g[i].log_step = d[i].ls;
        g[i].n_tensors = d[i].t2 ? 2 : 1;
        g[i].tensors[0] = d[i].t1;
        g[i].tensors[1] = d[i].t2;
    }
    fixture f;
    fixture_make(&f, "kinds", spec, 3, 12, 12, 3, g, 6, "c*.bias,fc2.bias");
    check_model(&f);
    fixture_free(&f);
}

/* ell = 2 affine (one s, two density columns), odd row count. */
static void test_affine_ell2(void **state) {
    (void)state;
    rp_group_def g[1];
    memset(g, 0, sizeof g);
    snprintf(g[0].name, sizeof g[0].name, "all");
    g[0].decoder = EPR_DECODER_AFFINE;
    g[0].transform = EPR_TRANSFORM_IDENTITY;
    g[0].ell = 2;
    g[0].log_step = -3.0f;
    g[0].n_tensors = 2;
    g[0].tensors[0] = "fc1.weight";
    g[0].tensors[1] = "fc2.weight";
    fixture f;
    fixture_make(&f, "affine2", "dense name=fc1 out=23; relu; dense name=fc2 out=6", 1, 6, 7, 2, g, 1, "*.bias");
    check_model(&f);
    fixture_free(&f);
}

static void model_case(const char *name, const char *ini, const char *net, int c, int hw, int batch) {
    cfg_experiment *cfg = calloc(1, sizeof *cfg);
    rp_group_def g[CFG_MAX_GROUPS];
    assert_non_null(cfg);
    int ng = groups_of(ini, cfg, g);
    fixture f;
    fixture_make(&f, name, nn_builtin_spec(net), c, hw, hw, batch, g, ng,
                 cfg->uncompressed[0] ? cfg->uncompressed : NULL);
    check_model(&f);
    fixture_free(&f);
    cfg_free(cfg);
    free(cfg);
}

static void test_lenet5(void **state) {
    (void)state;
    model_case("lenet5", "lenet5-caffe_mnist10k.ini", "lenet5-caffe", 1, 28, 4);
}
static void test_lenet5_dft(void **state) {
    (void)state;
    model_case("lenet5-dft", "lenet5-caffe_mnist10k_dft.ini", "lenet5-caffe", 1, 28, 4);
}
static void test_resnet20(void **state) {
    (void)state;
    model_case("resnet20-4", "resnet20-4_cifar10_dft.ini", "resnet20-4", 3, 32, 2);
}

/* No groups: plain training binds the nn tensors to the train block. */
static void test_plain(void **state) {
    (void)state;
    fixture f;
    fixture_make(&f, "plain", nn_builtin_spec("lenet300-100"), 1, 28, 28, 2, NULL, 0, NULL);
    assert_int_equal(f.n, nn_model_num_params(f.net));
    failures = 0;
    check_backward(&f); /* compares the nn grads in the train block */
    assert_true(rp_cuda_rate_noisy(f.dm, 1, 1, 1.0, 0, 1) == 0.0);
    assert_true(rp_cuda_rate_exact(f.dm, NULL) == 0.0);
    assert_int_equal(failures, 0);
    fixture_free(&f);
}

int main(void) {
    int rc = gpu_test_open("test_gpu_epr", &G);
    if (rc) return rc;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kinds),  cmocka_unit_test(test_affine_ell2), cmocka_unit_test(test_plain),
        cmocka_unit_test(test_lenet5), cmocka_unit_test(test_lenet5_dft),  cmocka_unit_test(test_resnet20),
    };
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    nn_cuda_close(G);
    return rc;
}
