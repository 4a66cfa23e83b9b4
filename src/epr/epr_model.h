/* epr/epr_model — ties parameter groups to the tensors of an nn model and
 * owns the one contiguous train block (llm.c style):
 *
 *   train block = [ latents ϑ of every group | Ψ of every group |
 *                   uncompressed nn tensors | densities of every group ]
 *                  \________________ network segment _________/ \_density_/
 *
 * The network segment is stepped by the experiment's optimizer and averaged
 * by the EMA; the density segment by its own Adam.  The gradient block has
 * the same layout, so one in-place allreduce covers everything.  Compressed
 * nn tensors are bound to a scratch θ/dθ block that rp_model_decode fills
 * from round(ϑ/s) and rp_model_backward maps back (straight-through).
 * With no groups the train block is just the nn parameters (plain training).
 *
 * May call: nn, the epr numerical modules (density, decoder, transform,
 * rate), codec (its decoder and transform kinds, epr/codec.h), libc, libm.
 * Bitstreams are not written here: run/bitstream.c encodes an rp_model
 * with the codec. */
#ifndef EPR_EPR_MODEL_H
#define EPR_EPR_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "common/status.h"
#include "epr/codec.h" /* epr_decoder_kind, epr_transform_kind */
#include "epr/transform.h"
#include "nn/nn.h"

#define EPR_MAX_GROUP_TENSORS 64

typedef struct {
    char name[64];
    epr_decoder_kind decoder;
    epr_transform_kind transform;
    int ell, kh, kw;
    float log_step;
    int n_tensors;
    const char *tensors[EPR_MAX_GROUP_TENSORS];
} rp_group_def;

typedef struct rp_model rp_model;

/* Validates the groups against the model (unknown tensor, tensor in two
 * groups, ell not dividing a tensor, a tensor in no group while groups are
 * given unless it matches one of the comma-separated fnmatch patterns in
 * `uncompressed` (may be NULL), a grouped tensor matching them),
 * allocates and binds, and initialises everything from seed. */
int rp_model_create(nn_model *net, const rp_group_def *groups, int n_groups, const char *uncompressed, uint64_t seed,
                    rp_model **out, epr_err *err);
/* 1 if name matches one of the comma- or space-separated fnmatch patterns
 * (NULL: none), as `uncompressed` above is read. */
int rp_model_name_matches(const char *patterns, const char *name);
void rp_model_free(rp_model *em);

nn_model *rp_model_net(rp_model *em);
int rp_model_num_groups(const rp_model *em);
const rp_group_def *rp_model_group(const rp_model *em, int g);
size_t rp_model_group_num_params(const rp_model *em, int g); /* compressed scalars */
size_t rp_model_num_compressed(const rp_model *em);

float *rp_model_params(rp_model *em);
/* The gradient block has EPR_MODEL_GRAD_TAIL spare floats after its
 * rp_model_size() entries, for per-step metrics that travel in the same
 * allreduce. */
#define EPR_MODEL_GRAD_TAIL 8
float *rp_model_grads(rp_model *em);
size_t rp_model_size(const rp_model *em);     /* whole train block */
size_t rp_model_net_size(const rp_model *em); /* [0, net) network segment */
size_t rp_model_density_offset(const rp_model *em);
size_t rp_model_density_size(const rp_model *em);

/* θ of compressed tensors from the current train block. */
void rp_model_decode(rp_model *em);
/* The same without the rounding (θ of the continuous latent: ϑ + b, or
 * T·ϑ_row + c), for exporting a run's weights before quantisation. */
void rp_model_decode_latent(rp_model *em);
/* Ψ (log s = the group's log_step, offsets 0), the latents ϑ and the
 * densities initialised from the θ now in the network's tensors, exactly as
 * rp_model_create does after its own initialisation: load pretrained θ
 * into the tensors, then call this (`[model] init`).  Then θ is decoded. */
int rp_model_init_from_theta(rp_model *em, uint64_t seed, epr_err *err);
/* After nn_backward: d(latent), d(Ψ) from dθ; density grads zeroed.
 * Uncompressed tensors' grads are already in place. */
void rp_model_backward(rp_model *em);
/* Noisy rate of this rank's slice of every group's rows; adds
 * lambda * d(rate_bits) into the gradient block.  Returns the slice's bits. */
double rp_model_rate_noisy(rp_model *em, uint64_t seed, long step, double lambda, int rank, int nranks);
/* Exact self-information (bits) of round(φ̂) under the discretised
 * densities; per_group (may be NULL) gets each group's bits. */
double rp_model_rate_exact(rp_model *em, double *per_group);

/* Integer φ of group g's tensor t (rows x ell, in the tensor's layout). */
void rp_model_phi(rp_model *em, int g, int t, int32_t *phi);
int rp_model_group_tensor(const rp_model *em, int g, int t); /* nn tensor index */
/* Current decoder values for the codec: s[ell or 1], offset[ell or 1], T. */
void rp_model_decoder_values(rp_model *em, int g, float *s, float *offset, float *T);
const float *rp_model_density(rp_model *em, int g); /* [ell x 43] */
/* [begin, end) of all groups' Ψ in the train block (empty without groups). */
void rp_model_psi_range(const rp_model *em, size_t *begin, size_t *end);
/* Offsets (into the train block) and sizes of group g's latent, Ψ and density. */
void rp_model_group_layout(const rp_model *em, int g, size_t *latent_off, size_t *latent_n, size_t *psi_off,
                           size_t *psi_n, size_t *density_off);

#endif
