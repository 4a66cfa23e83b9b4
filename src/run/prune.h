/* run/prune — the Deep Compression baseline's training-time parts
 * (Han, Mao, Dally 2016): magnitude pruning with a fixed mask, 1-D k-means
 * weight sharing, and tying the gradients of shared weights so that only
 * the centroids train.  Works on the experiment's parameter groups of a
 * plain (epr.enabled = false) network.  docs/baselines.md describes the
 * recipe.  May call: nn, libc, libm. */
#ifndef EPR_HARNESS_PRUNE_H
#define EPR_HARNESS_PRUNE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/status.h"
#include "nn/nn.h"

/* 1-D k-means (Lloyd) of x[0..n) into k clusters: centroids start evenly
 * spaced over [min x, max x] (the paper's linear initialisation), then at
 * most `iters` rounds of assign-to-nearest (ties to the lower index) and
 * mean update (an empty cluster keeps its centroid), stopping early when no
 * assignment changes.  Deterministic: the same input gives the same bits.
 * centroids[k] come out ascending; assign[n] (may be NULL) gets each
 * element's cluster.  n = 0 leaves the linear initialisation over [0, 0].
 * Returns 0, or -1 for k < 1 or out of memory. */
int prune_kmeans_1d(const float *x, size_t n, int k, int iters, float *centroids, int32_t *assign);

/* prune_kmeans_1d, also reporting the number of mean updates made (`rounds`:
 * < iters when it converged) and the distortion Σ (x − c[assign])² of the
 * returned assignment (either may be NULL).  Details that the short form
 * shares: the mean is taken in double and clamped to [min, max] of the
 * cluster's members, so centroids of non-empty clusters are distinct and
 * strictly ascending; when the rounds run out the returned assignment is
 * one more assign-to-nearest, so `assign` is always nearest to `centroids`. */
int prune_kmeans_1d_ex(const float *x, size_t n, int k, int iters, float *centroids, int32_t *assign, int *rounds,
                       double *distortion);

/* The number of weights pruned from a group of n: floor(prune · n), with
 * prune taken to 7 decimal places (a float 0.9 means 9/10, not
 * 0.89999998), computed exactly in integers. */
size_t prune_count(float prune, size_t n);

/* The distinct values of x[0..n), ascending, into values (room for max);
 * index[n] (may be NULL) gets each element's position in values.  -0 and
 * +0 count as one value.  Returns the number of distinct values, -1 when
 * there are more than max (values/index then undefined), -2 when out of
 * memory. */
long prune_distinct(const float *x, size_t n, float *values, long max, int32_t *index);

/* ---- training (harness/train.c) ----------------------------------------
 *
 * The state follows a flat parameter block (the trainer's network segment,
 * which without EPR groups holds every nn tensor where it is bound) and
 * lists, per group, the ranges of its tensors in that block; the "group's
 * elements" are those ranges concatenated in the group's tensor order.
 * Each element is either pruned (its weight, gradient and optimizer state
 * are exactly 0 from the pruning on) or kept; after weight sharing every kept
 * element belongs to one cluster, whose members hold bit-identical values.
 *
 * The schedule, as train.c runs it ("step s" is the optimizer update that
 * turns a checkpoint labelled s into one labelled s+1):
 *   - at the start of step prune_at (before its forward pass):
 *     prune_magnitude on the raw weights; the EMA and the optimizer state of
 *     the pruned elements are set to 0 too.
 *   - at the start of step kmeans_at (after the pruning if both fall on the
 *     same step): prune_share_weights, clustering the EMA weights when EMA is
 *     on (the run's final file is made from them), else the raw weights.
 *   - in every step from the first event on (its own step included), right
 *     after the gradient allreduce: prune_tie_grads.
 * Every rank does the same with the same (allreduced) numbers, so ranks stay
 * identical.  Since the members of a cluster see the same gradient, the same
 * optimizer state and the same EMA, and the update rules are element-wise
 * (Adam; SGD with momentum and weight decay, whose decay term is the same for
 * equal weights), they stay bit-identical; a pruned element sees gradient 0
 * with state 0, and both Adam (0/(0 + eps)) and SGD leave it at exactly 0.
 *
 * Resume (no extra checkpoint data): prune_restore rebuilds the state from
 * the restored weights, the same on every rank:
 *   - after prune_at (checkpoint step > prune_at) an element is pruned iff
 *     its weight is exactly 0;
 *   - after kmeans_at its cluster is the rank of its value among the group's
 *     distinct (non-pruned) values.
 * This is exact because the events make it so: the pruning also masks any
 * weight that is already exactly 0 (so the mask count is
 * max(prune_count, number of zeros)), a cluster whose centroid comes out
 * exactly 0 joins the pruned elements when pruning is on, and distinct
 * non-empty clusters start with distinct centroids.  Only if, later in
 * training, a kept weight reached exactly 0 or two centroids reached the
 * same float (events of probability ~0 that no check here rules out) would a
 * resumed run differ from an uninterrupted one. */

#define PRUNE_MAX_TENSORS 64

typedef struct {
    const char *name;
    int n_tensors;
    const char *tensors[PRUNE_MAX_TENSORS]; /* nn tensor names */
    int has_prune;                          /* 1: `prune` below is this group's fraction; 0: the global one */
    float prune;                            /* in [0, 1); used only while the global fraction is > 0 (pruning on) */
} prune_group_def;

typedef struct prune_state prune_state;

#define PRUNE_KMEANS_ITERS 30 /* k-means rounds of the weight sharing in training */

/* Groups over `block` [0, block_n), where every listed tensor of `net` must be
 * bound; a tensor may be in one group only.  prune in [0, 1) (0: no
 * pruning; with pruning on, a group with has_prune prunes its own fraction,
 * as Deep Compression prunes each layer at its own rate), kmeans_bits in 0..16 (0: no sharing; the cluster count is
 * 2^bits − 1 with pruning, since entry 0 of the group's codebook is the
 * pruned weights' 0, else 2^bits).  Errors name the group and tensor. */
int prune_create(nn_model *net, const float *block, size_t block_n, const prune_group_def *groups, int n_groups,
                 float prune, int kmeans_bits, prune_state **out, epr_err *err);
void prune_free(prune_state *ps);

/* Magnitude pruning of every group: the prune_count smallest |w| of the
 * group's elements (ties: the lower element first), and any other element
 * that is exactly 0, become pruned: set to +0 in w and in each non-NULL
 * zero[i] (arrays of the block's layout: EMA, optimizer moments).  log (may
 * be NULL) gets a line per group: the count and the threshold |w|.
 * Allocates scratch (8 bytes per element of the largest group). */
int prune_magnitude(prune_state *ps, float *w, float *const *zero, int n_zero, FILE *log, epr_err *err);

/* Weight sharing of every group: k-means (`iters` rounds) of the kept
 * elements' values in `from` (the EMA, or w itself), then every kept element
 * of w and of ema (may be NULL) is set to its centroid, and the grouped
 * elements of each non-NULL reset[i] (optimizer state) to 0.  A zero
 * centroid's members become pruned when pruning is on.  log gets, per group,
 * the clusters used, the k-means rounds and the mean squared distortion. */
int prune_share_weights(prune_state *ps, float *w, const float *from, float *ema, float *const *reset, int n_reset,
                        int iters, FILE *log, epr_err *err);

/* The state after a resume (see above): pruned != 0 rebuilds the mask from
 * the zeros of w (only with pruning on), shared != 0 the clusters from w's
 * distinct values.  Fails (EPR_EFORMAT) when a group holds more distinct
 * values than its cluster count allows: w was not written by this recipe. */
int prune_restore(prune_state *ps, const float *w, int pruned, int shared, epr_err *err);
/* One line per group: elements, pruned, clusters. */
void prune_print(const prune_state *ps, FILE *f);

/* After the allreduce: g of pruned elements = +0; after weight sharing each
 * kept element's g = the sum (in double, in a fixed order) of its cluster's
 * g — Han's centroid gradient.  Nothing before the first event.  Allocates
 * nothing; one pass over the group plus two over its kept elements. */
void prune_tie_grads(const prune_state *ps, float *g);

/* For logs and tests. */
int prune_num_groups(const prune_state *ps);
size_t prune_group_size(const prune_state *ps, int g);   /* elements */
size_t prune_group_pruned(const prune_state *ps, int g); /* pruned elements */
int prune_group_clusters(const prune_state *ps, int g);  /* cluster slots (0 before sharing) */

#endif
