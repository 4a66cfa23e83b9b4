/* run/config — the experiment INI file (libinih) and command-line
 * overrides (--set section.key=value).
 *
 * Owns: parsing, validation and defaults of every setting; the text of the
 * experiment (stored in run files and bitstreams).  Every unknown section
 * or key, every bad value, a key or a section given twice (naming both
 * lines) and a section header without its ']' is an error naming the file,
 * the line and the key.  A value continues on indented lines (layer lists,
 * long tensor lists); --set overrides replace values.
 * May call: libinih, libc, common/. */
#ifndef EPR_HARNESS_CONFIG_H
#define EPR_HARNESS_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "common/status.h"

#define CFG_MAX_GROUPS 16
#define CFG_MAX_TENSORS 64
#define CFG_MAX_MILESTONES 8
#define CFG_MAX_LAYER_LINES 1024

typedef struct {
    char name[64];
    char tensors[CFG_MAX_TENSORS][64];
    int n_tensors;
    char decoder[32];   /* affine | conv-affine */
    char transform[32]; /* identity | dft | random-orthogonal | learned */
    int ell;            /* columns (densities) */
    int kh, kw;         /* kernel size for dft (ell = kh*kw); 0 = derive */
    float log_step;     /* initial log s */
    int line;           /* where the section starts, for messages */
    int ell_line;       /* line of the ell key (0: not in the file: default or --set) */
    int transform_line; /* line of the transform key (0: likewise) */
} cfg_group;

typedef struct {
    char path[1024]; /* the INI file */
    char name[128];  /* experiment name: file stem */
    char *text;      /* full INI text plus applied overrides */

    /* [data] */
    char data_set[32];    /* mnist10k | fashion-mnist | idx | cifar10 | pack */
    char data_root[1024]; /* where relative data paths are resolved */
    char train_images[1024], train_labels[1024];
    char test_images[1024], test_labels[1024];
    char cifar_train[1024]; /* comma separated batch files */
    char cifar_test[1024];
    char augment[32];      /* none | crop-flip | crop | rrc-flip */
    int pad;               /* zero border added to every image (dataset_pad) */
    int normalize;         /* per-channel mean/std of the training set */
    char train_pack[1024]; /* set=pack: packed image files (docs/imagenet-pack.md) */
    char test_pack[1024];
    int crop;          /* set=pack: network input HxW; 0 = stored size */
    double validation; /* held-out training images: 0 none, a count >= 1, or a fraction < 1 */

    /* [model] */
    char model_name[64];   /* built-in name, or "custom" */
    char *layers;          /* the layer spec (built-in or from the file) */
    char model_init[1024]; /* .npz / .safetensors of initial weights (run/init_weights.h); "" = none */
    int bn_affine;         /* every batchnorm of the spec gets affine=1 (a learnable gamma) */

    /* [train] */
    long steps;
    int batch;
    int eval_batch;
    char optimizer[16]; /* adam | sgd */
    float lr, momentum, weight_decay, beta1, beta2, adam_eps;
    float lr_decay;
    long lr_milestones[CFG_MAX_MILESTONES];
    int n_milestones;
    char lr_schedule[16]; /* step | cosine (run/schedule.h) */
    long warmup_steps;    /* linear learning-rate warm-up */
    double lr_min;        /* cosine's final learning rate */
    float ema;
    uint64_t seed;
    long log_every, eval_every, checkpoint_every;
    int threads;
    char device[16];    /* cpu | cuda (run/train_cuda.c; needs -DEPR_CUDA=ON) */
    int bn_recalibrate; /* training batches over which the batch-norm statistics are recomputed at the end (0: off) */
    char file_eval[16]; /* cpu | device: where the written .epr is evaluated (device needs device = cuda) */
    int tf32;           /* device = cuda: cuBLAS TF32 tensor-core math (nn_cuda_set_tf32) */
    int winograd;       /* device = cuda: 3x3 stride-1 convolutions by Winograd (nn_cuda_set_winograd) */

    /* [epr] */
    int epr_enabled;
    double lambda;
    float density_lr;
    float decoder_lr;        /* Adam lr of Ψ when the network optimizer is SGD; 0: Ψ fixed */
    long lambda_ramp_steps;  /* λ ramps up over the first steps (run/schedule.h) */
    double lambda_start;     /* the ramp's start, a fraction of lambda */
    long freeze_phi_steps;   /* the last steps train with φ frozen (0 = none) */
    int table_precision;     /* max bits of the coder's frequency tables */
    char uncompressed[1024]; /* comma-separated tensor patterns (fnmatch) left float32 */

    /* [baseline] (docs/baselines.md) */
    char baseline_post[512]; /* comma-separated post-training methods written at the end of a
                                 plain run: float32 gzip xz uniformN (N = 2..16) kmeansN
                                 (N = 1..16), uniformNt kmeansNt (per tensor) prune-kmeans */
    float prune;             /* fraction of each group's weights zeroed by magnitude (0 = off) */
    long prune_at;           /* step at which pruning happens (fine-tuning follows) */
    char prune_groups[512];  /* per-group fractions overriding `prune`: "fc3:0.7, bias:0" */
    int kmeans_bits;         /* weight sharing: 2^bits codebook entries per group, one of
                                 them 0 when pruning is on (0 = off) */
    long kmeans_at;          /* step at which weights are clustered (centroids trained after) */

    cfg_group groups[CFG_MAX_GROUPS];
    int n_groups;

    /* where [model] layers came from: the file line of each '\n'-separated
     * piece of `layers` (none for a built-in network or --set model.layers) */
    int layer_lines[CFG_MAX_LAYER_LINES];
    int n_layer_lines;
} cfg_experiment;

/* 1 if `name` is a known [baseline] post method (float32, gzip, xz,
 * uniformN with N in 2..16, kmeansN with N in 1..16, either followed by t
 * for one grid / codebook per tensor, prune-kmeans). */
int cfg_baseline_method_ok(const char *name);

/* Pruning fraction of group g: its entry in [baseline] prune_groups, else
 * [baseline] prune.  *own = 1 when prune_groups names the group. */
float cfg_group_prune(const cfg_experiment *cfg, int g, int *own);

/* Defaults, then the file, then each override "section.key=value" in turn.
 * When [data] root is not given, data_root is $EPR_DATA_ROOT, else
 * <source dir>/data (EPR_SOURCE_DIR).  On failure cfg holds nothing to free
 * (cfg_free is still safe). */
int cfg_load(const char *path, const char *const *overrides, int n_overrides, cfg_experiment *cfg, epr_err *err);
/* Parse from memory (tests; `path` names it in messages). */
int cfg_load_string(const char *text, const char *path, const char *const *overrides, int n_overrides,
                    cfg_experiment *cfg, epr_err *err);
void cfg_free(cfg_experiment *cfg);

/* 1 if two experiment texts (cfg_experiment.text) describe the same
 * experiment: equal but for "--set train.device=..." override lines (where
 * a run's steps are computed is not part of what it is: a checkpoint
 * written on the GPU resumes on the CPU and the other way round). */
int cfg_same_experiment(const char *a, const char *b);

/* A 64-bit FNV-1a fingerprint of every setting that shapes the trained
 * model, except [train] seed: the values (not the text) of all keys but
 * the bookkeeping ones (data.root, train.seed, log_every, eval_every,
 * checkpoint_every, threads, baseline.post), the layer spec and every
 * group.  Two runs with equal fingerprints differ at most in their seed
 * (studies average them, study/seeds.h). */
uint64_t cfg_fingerprint(const cfg_experiment *cfg);

/* Print every key with its meaning and default (for --help). */
void cfg_print_reference(FILE *f);

#endif
