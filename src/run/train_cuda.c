/* run/train_cuda.c — the device path of the training step ([train] device =
 * cuda; compiled only with -DEPR_CUDA=ON).  train.c runs the step; this file
 * supplies the operations that differ on the device (trainer_dev_ops in
 * train_internal.h):
 *
 *   one GPU per rank: node-local rank (MPI_Comm_split_type SHARED, taken in
 *     trainer_setup) mod the node's device count
 *   state on the device: the train and gradient blocks (rp_cuda_model, the
 *     host layout), network optimizer state, Ψ Adam state, density Adam
 *     state (rank 0), EMA, batch-norm buffers; allocated once, here
 *   per step only the input batch moves: gathered on the host into pinned
 *     buffers, copied on a second stream, double-buffered (the batch of step
 *     t+1 is gathered and copied while the device computes step t), plus the
 *     loss, error count and rate (a few scalars)
 *   several ranks: the gradient block is staged through the host rp_model's
 *     gradient block (one download, train.c's one MPI_Allreduce, one upload);
 *     rank 0's density segment is staged the same way for the broadcast
 *   checkpoints and the end of a run: download copies every device array
 *     into its host twin, so run.h5 and the .epr are written as on the CPU
 *
 * May call: nn/cuda (nn_cuda.h), epr/cuda (epr_cuda.h), the CUDA runtime
 * (streams, events, device query), MPI, run/train_internal.h. */
#include <cuda_runtime_api.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "epr/cuda/epr_cuda.h"
#include "nn/cuda/nn_cuda.h"
#include "run/train_internal.h"

struct trainer_dev {
    nn_cuda *c;
    nn_cuda_model *net;
    rp_cuda_model *em;
    cudaStream_t main, copy; /* main: the context's stream; copy: input uploads */
    cudaEvent_t copied[2];   /* on copy: buffer b's upload done */
    cudaEvent_t consumed[2]; /* on main: buffer b's last reader (backward) done */
    float *hx[2], *dx[2];    /* input batches: pinned host, device */
    int *hy[2], *dy[2];      /* labels */
    int n[2];                /* samples in buffer b */
    long holds[2];           /* step whose batch buffer b holds (-1: none) */
    int cur;                 /* buffer of the step in progress */
    uint32_t *idx;           /* sampler scratch */
    size_t in;               /* floats per sample */
    int max_batch;
    int registered;          /* host gradient block page-locked (cudaHostRegister) */
    int events, copy_stream; /* created (for free) */
};

/* A CUDA failure inside the step: one message naming the rank and the
 * step, then the whole job goes down (as train.c's fatal). */
static void dev_fatal(const trainer *t, const char *what, cudaError_t e) {
    fprintf(stderr, "epr: rank %d: step %ld: CUDA: %s: %s: aborting the job\n", t->rank, t->step, what,
            cudaGetErrorString(e));
    fflush(stderr);
    int mpi_on = 0;
    MPI_Initialized(&mpi_on);
    if (mpi_on) MPI_Abort(MPI_COMM_WORLD, 3);
    _exit(3);
}

static void check(const trainer *t, cudaError_t e, const char *what) {
    if (e != cudaSuccess) dev_fatal(t, what, e);
}

static void check_rc(const trainer *t, int rc, const char *what) {
    if (rc) dev_fatal(t, what, cudaGetLastError());
}

/* ---- the input batch: gathered into pinned memory, copied on the copy
 * stream; buffer b is reused two steps later ---- */

static void load_batch(trainer *t, int b, long step) {
    trainer_dev *d = t->dev;
    check(t, cudaEventSynchronize(d->copied[b]), "wait for an input copy"); /* pinned buffer free */
    int n = trainer_gather(t, step, d->hx[b], d->hy[b], d->idx);
    check(t, cudaStreamWaitEvent(d->copy, d->consumed[b], 0), "order an input copy"); /* device buffer free */
    if (n) {
        check(t,
              cudaMemcpyAsync(d->dx[b], d->hx[b], (size_t)n * d->in * sizeof(float), cudaMemcpyHostToDevice, d->copy),
              "copy the input batch");
        check(t, cudaMemcpyAsync(d->dy[b], d->hy[b], (size_t)n * sizeof(int), cudaMemcpyHostToDevice, d->copy),
              "copy the labels");
    }
    check(t, cudaEventRecord(d->copied[b], d->copy), "record an input copy");
    d->n[b] = n;
    d->holds[b] = step;
}

static int dev_batch(trainer *t) {
    trainer_dev *d = t->dev;
    int b = (int)(t->step & 1);
    if (d->holds[b] != t->step) load_batch(t, b, t->step); /* not prefetched (first step, resume, evaluation) */
    check(t, cudaStreamWaitEvent(d->main, d->copied[b], 0), "wait for the input batch");
    d->cur = b;
    return d->n[b];
}

static void dev_net(trainer *t, int n, double *ce, int *wrong) {
    trainer_dev *d = t->dev;
    int b = d->cur;
    rp_cuda_decode(d->em);
    if (n) {
        nn_cuda_forward_async(d->net, d->dx[b], d->dy[b], n, 1);
        nn_cuda_backward(d->net, 1.0f / (float)t->cfg->batch);
    }
    check(t, cudaEventRecord(d->consumed[b], d->main), "record an input use");
    rp_cuda_backward(d->em);
    /* the next step's batch, on the host and the copy stream, while the
     * device works on this one */
    load_batch(t, 1 - b, t->step + 1);
    *ce = 0;
    *wrong = 0;
    if (n) nn_cuda_last_loss(d->net, ce, wrong);
    check(t, cudaGetLastError(), "the forward/backward kernels");
}

static double dev_rate(trainer *t, double lambda) {
    double r = rp_cuda_rate_noisy(t->dev->em, t->cfg->seed, t->step, lambda, t->rank, t->nranks);
    check(t, cudaGetLastError(), "the rate kernels");
    return r;
}

static float *host_block(trainer *t, int grads) { return grads ? rp_model_grads(t->em) : rp_model_params(t->em); }

static float *dev_block(trainer *t, int grads) {
    return grads ? rp_cuda_grads(t->dev->em) : rp_cuda_params(t->dev->em);
}

static void dev_to_host(trainer *t, int grads, size_t off, size_t n) {
    check_rc(t, nn_cuda_download(t->dev->c, host_block(t, grads) + off, dev_block(t, grads) + off, n * sizeof(float)),
             "download a block");
}

static void dev_to_device(trainer *t, int grads, size_t off, size_t n) {
    check_rc(t, nn_cuda_upload(t->dev->c, dev_block(t, grads) + off, host_block(t, grads) + off, n * sizeof(float)),
             "upload a block");
    /* the host block is the next step's staging buffer: the copy must be done */
    check(t, cudaStreamSynchronize(t->dev->main), "upload a block");
}

static void dev_adam(trainer *t, nn_adam *o, float *w, const float *g, float *m1, float *m2, size_t n) {
    nn_cuda_adam_step(t->dev->c, o, w, g, m1, m2, n);
}

static void dev_sgd(trainer *t, const nn_sgd *o, float *w, const float *g, float *buf, size_t n) {
    nn_cuda_sgd_step(t->dev->c, o, w, g, buf, n);
}

static void dev_ema(trainer *t, float *ema, const float *w, size_t n, float decay) {
    nn_cuda_ema_update(t->dev->c, ema, w, n, decay);
}

static void dev_copy(trainer *t, float *dst, const float *src, size_t n) {
    check_rc(t, nn_cuda_copy(t->dev->c, dst, src, n * sizeof(float)), "copy on the device");
}

static void dev_decode(trainer *t) { rp_cuda_decode(t->dev->em); }

/* Wrong predictions of net (a device model) on d, chunk samples at a time
 * through input buffer 0 (any prefetched batch is dropped: the next step
 * gathers its own again). */
static long eval_loop(trainer *t, nn_cuda_model *net, const dataset *test, int chunk, int *preds) {
    trainer_dev *d = t->dev;
    check(t, cudaStreamSynchronize(d->copy), "wait for the input copies");
    d->holds[0] = d->holds[1] = -1;
    long wrong = 0;
    for (int i = 0; i < test->n; i += chunk) {
        int n = test->n - i < chunk ? test->n - i : chunk;
        for (int j = 0; j < n; j++) d->idx[j] = (uint32_t)(i + j);
        dataset_gather(test, d->idx, n, d->hx[0], d->hy[0]);
        check_rc(t, nn_cuda_upload(d->c, d->dx[0], d->hx[0], (size_t)n * d->in * sizeof(float)), "upload a test batch");
        check_rc(t, nn_cuda_upload(d->c, d->dy[0], d->hy[0], (size_t)n * sizeof(int)), "upload test labels");
        nn_cuda_forward_async(net, d->dx[0], NULL, n, 0);
        wrong += nn_cuda_count_errors(net, d->dy[0], n, preds ? preds + i : NULL); /* waits */
    }
    check(t, cudaGetLastError(), "evaluation");
    return wrong;
}

/* Error on d of the trainer's network as it stands (decoded). */
static double dev_evaluate(trainer *t, const dataset *test, int *preds) {
    long wrong = eval_loop(t, t->dev->net, test, t->cfg->eval_batch, preds);
    return test->n ? (double)wrong / test->n : 0.0;
}

/* A network decoded from a file (a host model with its parameter block,
 * built for batches up to eval_batch) evaluated on this trainer's GPU:
 * mirrored into a device model of its own for this evaluation, in FP32
 * whatever [train] tf32 says and with im2col convolutions whatever
 * [train] winograd says, so that it computes what the CPU computes up to
 * summation order. */
static int dev_evaluate_host_net(trainer *t, nn_model *net, const dataset *d, int eval_batch, long *wrong, int *preds,
                                 epr_err *err) {
    RETURN_ERROR_IF(!nn_model_param_block(net), err, EPR_EARG,
                    "evaluation on the device: the network has no parameter block");
    nn_cuda_model *m = NULL;
    nn_cuda_set_winograd(t->dev->c, 0); /* before the model: no Winograd scratch */
    int rc0 = nn_cuda_model_create(t->dev->c, net, &m, err);
    nn_cuda_set_winograd(t->dev->c, t->cfg->winograd);
    CHECK_STATUS(rc0);
    int rc = nn_cuda_model_alloc_params(m, err);
    if (!rc && nn_cuda_upload(t->dev->c, nn_cuda_model_param_block(m), nn_model_param_block(net),
                              nn_model_num_params(net) * sizeof(float)))
        rc = cmn_fail(err, EPR_EIO, "evaluation on the device: cannot upload the parameters: %s",
                      cudaGetErrorString(cudaGetLastError()));
    if (!rc) {
        nn_cuda_buffers_upload(m, net);
        nn_cuda_set_tf32(t->dev->c, 0);
        *wrong = eval_loop(t, m, d, eval_batch < t->dev->max_batch ? eval_batch : t->dev->max_batch, preds);
        nn_cuda_set_tf32(t->dev->c, t->cfg->tf32);
    }
    nn_cuda_model_free(m);
    return rc;
}

static void dev_bn_forward(trainer *t, long step, float momentum, int last) {
    trainer_dev *d = t->dev;
    check(t, cudaStreamSynchronize(d->copy), "wait for the input copies");
    d->holds[0] = d->holds[1] = -1;
    int n = trainer_gather(t, step, d->hx[0], d->hy[0], d->idx);
    check_rc(t, nn_cuda_upload(d->c, d->dx[0], d->hx[0], (size_t)n * d->in * sizeof(float)), "upload a batch");
    nn_cuda_model_set_bn_momentum(d->net, momentum);
    if (n) nn_cuda_forward_async(d->net, d->dx[0], NULL, n, 1);
    nn_cuda_model_set_bn_momentum(d->net, -1.0f);
    check(t, cudaStreamSynchronize(d->main), "a batch-norm recalibration forward"); /* hx[0] is reused */
    if (last) nn_cuda_buffers_download(d->net, t->net);
}

static double dev_rate_exact(trainer *t, double *per_group) {
    double r = rp_cuda_rate_exact(t->dev->em, per_group);
    check(t, cudaGetLastError(), "the exact rate");
    return r;
}

/* The device arrays and their host twins, n floats each (NULL pairs are
 * skipped). */
typedef struct {
    float *dev, *host;
    size_t n;
} twin;

static int twins(trainer *t, twin *w) {
    size_t nn = rp_model_net_size(t->em), nd = rp_model_density_size(t->em), np = t->psi_end - t->psi_begin;
    int k = 0;
    w[k++] = (twin){t->da.opt1, t->opt1, nn};
    w[k++] = (twin){t->da.opt2, t->opt2, nn};
    w[k++] = (twin){t->da.dec1, t->dec1, np};
    w[k++] = (twin){t->da.dec2, t->dec2, np};
    w[k++] = (twin){t->da.dens1, t->dens1, nd};
    w[k++] = (twin){t->da.dens2, t->dens2, nd};
    w[k++] = (twin){t->da.ema, t->ema, nn};
    return k;
}

static void dev_download(trainer *t) {
    trainer_dev *d = t->dev;
    rp_cuda_download(d->em);
    twin w[8];
    int k = twins(t, w);
    for (int i = 0; i < k; i++)
        if (w[i].dev && w[i].host && w[i].n)
            check_rc(t, nn_cuda_download(d->c, w[i].host, w[i].dev, w[i].n * sizeof(float)), "download the state");
    nn_cuda_buffers_download(d->net, t->net);
    check(t, cudaGetLastError(), "download the state");
}

static void dev_upload(trainer *t) {
    trainer_dev *d = t->dev;
    rp_cuda_upload(d->em);
    twin w[8];
    int k = twins(t, w);
    for (int i = 0; i < k; i++)
        if (w[i].dev && w[i].host && w[i].n)
            check_rc(t, nn_cuda_upload(d->c, w[i].dev, w[i].host, w[i].n * sizeof(float)), "upload the state");
    nn_cuda_buffers_upload(d->net, t->net);
    check(t, cudaStreamSynchronize(d->main), "upload the state");
    d->holds[0] = d->holds[1] = -1;
}

static void dev_free(trainer *t) {
    trainer_dev *d = t->dev;
    if (!d) return;
    if (d->c) {
        cudaStreamSynchronize(d->main);
        if (d->copy_stream) cudaStreamSynchronize(d->copy);
        twin w[8];
        int k = twins(t, w);
        for (int i = 0; i < k; i++) nn_cuda_free(d->c, w[i].dev);
        nn_cuda_free(d->c, t->da.backup);
        for (int b = 0; b < 2; b++) {
            nn_cuda_free(d->c, d->dx[b]);
            nn_cuda_free(d->c, d->dy[b]);
            nn_cuda_host_free(d->c, d->hx[b]);
            nn_cuda_host_free(d->c, d->hy[b]);
            if (d->events) {
                cudaEventDestroy(d->copied[b]);
                cudaEventDestroy(d->consumed[b]);
            }
        }
        if (d->copy_stream) cudaStreamDestroy(d->copy);
        if (d->registered) cudaHostUnregister(rp_model_grads(t->em));
        rp_cuda_model_free(d->em);
        nn_cuda_model_free(d->net);
        nn_cuda_close(d->c);
    }
    free(d->idx);
    free(d);
    t->dev = NULL;
    memset(&t->da, 0, sizeof t->da);
}

static const trainer_dev_ops OPS = {
    .batch = dev_batch,
    .net = dev_net,
    .rate = dev_rate,
    .to_host = dev_to_host,
    .to_device = dev_to_device,
    .adam = dev_adam,
    .sgd = dev_sgd,
    .ema = dev_ema,
    .copy = dev_copy,
    .decode = dev_decode,
    .evaluate = dev_evaluate,
    .evaluate_host_net = dev_evaluate_host_net,
    .bn_forward = dev_bn_forward,
    .rate_exact = dev_rate_exact,
    .download = dev_download,
    .upload = dev_upload,
    .free = dev_free,
};

/* A device twin of n floats, holding host (NULL: zeros). */
static int alloc_twin(trainer *t, float **dev, const float *host, size_t n, epr_err *err) {
    trainer_dev *d = t->dev;
    CHECK_STATUS(nn_cuda_malloc(d->c, (void **)dev, (n ? n : 1) * sizeof(float), err));
    int rc =
        host ? nn_cuda_upload(d->c, *dev, host, n * sizeof(float)) : nn_cuda_memset0(d->c, *dev, n * sizeof(float));
    RETURN_ERROR_IF(rc, err, EPR_EIO, "CUDA: cannot initialise device memory: %s",
                    cudaGetErrorString(cudaGetLastError()));
    return 0;
}

int trainer_dev_create(trainer *t, epr_err *err) {
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    RETURN_ERROR_IF(e != cudaSuccess || count < 1, err, EPR_EUNSUP,
                    "no GPU present (cudaGetDeviceCount: %s): set train.device = cpu",
                    e != cudaSuccess ? cudaGetErrorString(e) : "0 devices");
    int device = t->local_rank % count;
    trainer_dev *d = calloc(1, sizeof *d);
    RETURN_ERROR_IF(!d, err, EPR_ENOMEM, "out of memory (device trainer)");
    t->dev = d;
    t->dops = &OPS; /* from here on trainer_release frees what was made */
    d->holds[0] = d->holds[1] = -1;
    CHECK_STATUS(nn_cuda_open(device, &d->c, err));
    d->main = (cudaStream_t)nn_cuda_stream(d->c);
    nn_cuda_set_tf32(d->c, t->cfg->tf32);
    nn_cuda_set_winograd(d->c, t->cfg->winograd);
    struct cudaDeviceProp prop;
    if (cudaGetDeviceProperties(&prop, device) == cudaSuccess)
        snprintf(t->device_name, sizeof t->device_name, "cuda:%d (%.100s)", device, prop.name);
    else
        snprintf(t->device_name, sizeof t->device_name, "cuda:%d", device);

    CHECK_STATUS(nn_cuda_model_create(d->c, t->net, &d->net, err));
    CHECK_STATUS(rp_cuda_model_create(d->c, t->em, d->net, &d->em, err));
    rp_cuda_upload(d->em);
    size_t nn = rp_model_net_size(t->em), nd = rp_model_density_size(t->em), np = t->psi_end - t->psi_begin;
    trainer_arrays *a = &t->da;
    a->p = rp_cuda_params(d->em);
    a->g = rp_cuda_grads(d->em);
    CHECK_STATUS(alloc_twin(t, &a->opt1, t->opt1, nn, err));
    if (t->opt2) CHECK_STATUS(alloc_twin(t, &a->opt2, t->opt2, nn, err));
    if (t->dec1) {
        CHECK_STATUS(alloc_twin(t, &a->dec1, t->dec1, np, err));
        CHECK_STATUS(alloc_twin(t, &a->dec2, t->dec2, np, err));
    }
    if (t->dens1) {
        CHECK_STATUS(alloc_twin(t, &a->dens1, t->dens1, nd, err));
        CHECK_STATUS(alloc_twin(t, &a->dens2, t->dens2, nd, err));
    }
    if (t->ema) {
        CHECK_STATUS(alloc_twin(t, &a->ema, t->ema, nn, err));
        CHECK_STATUS(alloc_twin(t, &a->backup, NULL, nn, err));
    }

    d->in = (size_t)t->train.c * t->train.h * t->train.w;
    int local_max = (t->cfg->batch + t->nranks - 1) / t->nranks;
    d->max_batch = local_max > t->cfg->eval_batch ? local_max : t->cfg->eval_batch;
    d->idx = calloc((size_t)d->max_batch + 1, sizeof *d->idx);
    RETURN_ERROR_IF(!d->idx, err, EPR_ENOMEM, "out of memory");
    for (int b = 0; b < 2; b++) {
        CHECK_STATUS(nn_cuda_host_alloc(d->c, (void **)&d->hx[b], (size_t)d->max_batch * d->in * sizeof(float), err));
        CHECK_STATUS(nn_cuda_host_alloc(d->c, (void **)&d->hy[b], (size_t)d->max_batch * sizeof(int), err));
        CHECK_STATUS(nn_cuda_malloc(d->c, (void **)&d->dx[b], (size_t)d->max_batch * d->in * sizeof(float), err));
        CHECK_STATUS(nn_cuda_malloc(d->c, (void **)&d->dy[b], (size_t)d->max_batch * sizeof(int), err));
    }
    e = cudaStreamCreateWithFlags(&d->copy, cudaStreamNonBlocking);
    RETURN_ERROR_IF(e != cudaSuccess, err, EPR_EIO, "CUDA: cudaStreamCreate: %s", cudaGetErrorString(e));
    d->copy_stream = 1;
    for (int b = 0; b < 2 && e == cudaSuccess; b++) {
        e = cudaEventCreateWithFlags(&d->copied[b], cudaEventDisableTiming);
        if (e == cudaSuccess) e = cudaEventCreateWithFlags(&d->consumed[b], cudaEventDisableTiming);
        if (e == cudaSuccess) e = cudaEventRecord(d->copied[b], d->copy);
        if (e == cudaSuccess) e = cudaEventRecord(d->consumed[b], d->main);
        d->events = b == 1 && e == cudaSuccess;
    }
    RETURN_ERROR_IF(e != cudaSuccess, err, EPR_EIO, "CUDA: cudaEventCreate: %s", cudaGetErrorString(e));
    if (t->nranks > 1) /* the allreduce's staging buffer: page-locked copies (optional: pageable works too) */
        d->registered =
            cudaHostRegister(rp_model_grads(t->em), (rp_model_size(t->em) + EPR_MODEL_GRAD_TAIL) * sizeof(float),
                             cudaHostRegisterDefault) == cudaSuccess;
    cudaGetLastError(); /* a failed registration is not an error */
    int rc = nn_cuda_sync(d->c, err);
    return rc;
}
