/* run/dataset.h — image classification data sets and the shuffled sampler.
 *
 * Owns: loading IDX image/label pairs (raw or gzip), CIFAR-10 binary
 * batches and packed image files into one dataset of uint8 pixels and int
 * labels;
 * gathering a float batch from it; the deterministic epoch sampler.
 * May call: libc, zlib, common/status.h, common/rng.h.  Never exits: every
 * failure comes back as an EPR_E* code with a one-line message naming the
 * file and the problem.
 *
 * Pixels stay bytes in memory (60,000 x 784 is 47 MB; as floats it would be
 * four times that): dataset_gather converts only the batch it is asked for.
 *
 * Sampler, read me first.  The infinite sequence of sample positions is
 *     perm(seed, epoch 0) || perm(seed, epoch 1) || ...
 * and global batch t is positions [t*B, (t+1)*B).  perm(seed, e) is a
 * Fisher–Yates shuffle of 0..n-1 (i from n-1 down to 1, swap i with
 * cmn_rng_below(i+1)) drawing from cmn_rng{seed, EPR_STREAM_SHUFFLE,
 * counter = e << 32}: each epoch owns its own 2^32 counters (n <= INT_MAX
 * draws plus rare rejections), so an epoch's permutation depends on
 * (seed, e, n) only.  Hence a batch, or a rank's slice [begin, end) of it,
 * is a pure function of (seed, n, B, step): independent of the number of
 * ranks and of which steps were visited before (resume at any step).  A
 * batch may straddle two (or, if B > n, more) epochs. */
#ifndef EPR_HARNESS_DATASET_H
#define EPR_HARNESS_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "common/status.h"

#define DATASET_MAX_CHANNELS 4
#define DATASET_MAX_PAD 64 /* dataset_pad's border, pixels per side */

typedef struct {
    int n;           /* samples */
    int c, h, w;     /* shape of one sample, channel-major (CHW) */
    int n_classes;   /* labels are in [0, n_classes) */
    uint8_t *images; /* n * c*h*w bytes, sample after sample */
    int *labels;     /* n */
    /* gather: x = byte/255, or with normalize (byte/255 - mean[ch]) / std[ch] */
    int normalize;
    float mean[DATASET_MAX_CHANNELS], std[DATASET_MAX_CHANNELS];
    int pad; /* zero border dataset_pad added (h, w include it); 0 = none */
    int nfiles;
    char **files;           /* source paths, in load order (provenance, messages) */
    char name[32];          /* the experiment's [data] set (mnist10k, ...) when known, else "" */
    uint32_t *source_index; /* a split-off set (dataset_split): each sample's index in the
                               loaded training set; else NULL */
    /* Packed sets (dataset_load_pack): images are stored at store_h x
     * store_w, larger than the h x w the dataset reports (the network's
     * input, the crop); gather centre-crops, dataset_gather_rrc_flip
     * random-resized-crops.  0 = stored at h x w.  images then points into
     * a read-only mapping of the file (map, map_len), not into the heap. */
    int store_h, store_w;
    void *map;
    size_t map_len;
} dataset;

static inline size_t dataset_sample_bytes(const dataset *d) { return (size_t)d->c * (size_t)d->h * (size_t)d->w; }

/* IDX pair: images magic 0x00000803 (dims n, rows, cols), labels magic
 * 0x00000801 (dim n); raw or gzip (detected by content, not by name).
 * c = 1, n_classes = 10.  On failure *d is left empty (safe to free). */
int dataset_load_idx(const char *images, const char *labels, dataset *d, epr_err *err);

/* CIFAR-10 binary batches: records of 1 label byte + 3072 pixel bytes
 * (3x32x32, CHW), concatenated over the files in the given order; raw or
 * gzip.  c = 3, h = w = 32, n_classes = 10. */
int dataset_load_cifar(const char **files, int nfiles, dataset *d, epr_err *err);

/* Packed image file (docs/imagenet-pack.md): magic "EPR-PACK", version 1,
 * n, C, H, W, classes, CRC32 of the labels, uint16 labels, uint8 CHW
 * pixels; the file is mapped, not read (ImageNet at 256x256 is 250 GB).
 * crop = 0 reports the stored size; 0 < crop <= min(H, W) reports
 * crop x crop (the network's input) and gathers crops of the stored images.
 * Every inconsistency (magic, version, sizes, a label out of range, a label
 * CRC mismatch, a file size other than the header implies) is EPR_EFORMAT
 * naming the file.  Normalisation statistics are not computed here (see
 * dataset_set_norm_sampled). */
int dataset_load_pack(const char *path, int crop, dataset *d, epr_err *err);

/* dataset_set_norm_from_data over at most max_images images spread evenly
 * over the set (all of them if n <= max_images), of the stored images (so
 * packed sets work too). */
int dataset_set_norm_sampled(dataset *d, int max_images, epr_err *err);

/* dataset_gather with the training augmentation of the ImageNet ResNets
 * (torchvision's RandomResizedCrop + RandomHorizontalFlip): an area of
 * scale U(0.08, 1) of the stored image with aspect ratio log-uniform in
 * [3/4, 4/3] (up to 10 draws; else the largest centred crop of a clamped
 * ratio), resized bilinearly to h x w, flipped with probability 1/2.  Keyed
 * by (seed, step, position + i) as crop-flip.  Returns EPR_EARG as
 * dataset_gather does. */
int dataset_gather_rrc_flip(const dataset *d, const uint32_t *idx, int n, float *x, int *y, uint64_t seed, long step,
                            int position);

/* n random c x h x w byte images with random labels in [0, n_classes), a
 * pure function of seed (benchmarks and tests: bench_train, the GPU tests).
 * On failure *d is left empty (safe to free). */
int dataset_random(dataset *d, int n, int c, int h, int w, int n_classes, uint64_t seed, epr_err *err);

/* Surrounds every image with a border of `pad` zero bytes on each side, in
 * memory (h and w grow by 2*pad; d->pad records the total added).  Call it
 * before the normalisation statistics are taken: the border then counts as
 * pixels of value 0, in training and in evaluation alike.  Not for packed
 * sets (EPR_EARG).  pad = 0 changes nothing; pad outside 0..DATASET_MAX_PAD
 * or a padded image over 4096 pixels a side is EPR_EARG; out of memory
 * leaves *d as it was. */
int dataset_pad(dataset *d, int pad, epr_err *err);

/* Frees what a loader allocated and zeroes *d; safe on a zeroed dataset. */
void dataset_free(dataset *d);

/* A validation split: the n_val samples of d that come first in the
 * permutation sampler_epoch_perm(seed, 0, d->n) move, in ascending index
 * order, into *val (same shape, classes, name and normalisation;
 * val->source_index = their indices in d); d keeps the others in their
 * order.  0 < n_val < d->n.  Not for packed sets (their images are a
 * read-only mapping). */
int dataset_split(dataset *d, int n_val, uint64_t seed, dataset *val, epr_err *err);

/* Per-channel mean and standard deviation of byte/255 over the whole set,
 * stored in d->mean/d->std, and normalize switched on. */
int dataset_set_norm_from_data(dataset *d, epr_err *err);

/* x[i*c*h*w ...] = sample idx[i] as floats (see normalize), y[i] = its label,
 * for i < n; x or y may be NULL.  No allocation.  Returns EPR_EARG (writing
 * nothing) if an index is >= d->n or n < 0. */
int dataset_gather(const dataset *d, const uint32_t *idx, int n, float *x, int *y);

/* dataset_gather, then the standard CIFAR augmentation of each sample: a
 * random crop of the image zero-padded by `pad` pixels (offsets in
 * [-pad, pad]) and a horizontal flip with probability 1/2.  The random
 * numbers of sample i are keyed by (seed, step, position + i), where
 * position is the sample's place in the global batch, so they do not
 * depend on the number of ranks.  Images up to 64x64 per channel. */
int dataset_gather_crop_flip(const dataset *d, const uint32_t *idx, int n, float *x, int *y, int pad, uint64_t seed,
                             long step, int position);

/* dataset_gather_crop_flip with flip = 1; flip = 0 gives the same crops
 * (the same random numbers), never mirrored ([data] augment = crop). */
int dataset_gather_crop(const dataset *d, const uint32_t *idx, int n, float *x, int *y, int pad, int flip,
                        uint64_t seed, long step, int position);

typedef struct {
    uint64_t seed;
    int n;          /* dataset size */
    int64_t epoch;  /* epoch whose permutation is in perm; -1: none yet */
    uint32_t *perm; /* n entries, allocated once */
} sampler;

int sampler_init(sampler *s, int n, uint64_t seed, epr_err *err);
void sampler_free(sampler *s);

/* out[k] = sample index at global position step*B + begin + k, for
 * k < end - begin; requires step >= 0, B > 0, 0 <= begin <= end <= B, else
 * EPR_EARG (also for positions in epochs >= 2^32).  Recomputes a
 * permutation only when the epoch needed differs from the cached one. */
int sampler_batch(sampler *s, long step, int B, int begin, int end, uint32_t *out);

/* The balanced slice of a batch of B for rank r of P:
 * [B*r/P, B*(r+1)/P), so slices of all ranks tile [0, B). */
static inline void sampler_rank_slice(int B, int rank, int nranks, int *begin, int *end) {
    *begin = (int)((int64_t)B * rank / nranks);
    *end = (int)((int64_t)B * (rank + 1) / nranks);
}

/* The permutation of one epoch (what the sampler caches); perm has n entries. */
void sampler_epoch_perm(uint64_t seed, int64_t epoch, int n, uint32_t *perm);

#endif
