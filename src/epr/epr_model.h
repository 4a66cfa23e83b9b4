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
 * nn tensors are bound to a scratch θ/dθ block that epr_model_decode fills
 * from round(ϑ/s) and epr_model_backward maps back (straight-through).
 * With no groups the train block is just the nn parameters (plain training).
 *
 * May call: nn, the epr numerical modules (density, decoder, transform,
 * rate), codec (its decoder and transform kinds, epr/codec.h), libc, libm.
 * Bitstreams are not written here: run/bitstream.c encodes an epr_model
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
} epr_group_def;

typedef struct epr_model epr_model;

/* Validates the groups against the model (unknown tensor, tensor in two
 * groups, ell not dividing a tensor, a tensor in no group while groups are
 * given unless it matches one of the comma-separated fnmatch patterns in
 * `uncompressed` (may be NULL), a grouped tensor matching them),
 * allocates and binds, and initialises everything from seed. */
int epr_model_create(nn_model *net, const epr_group_def *groups, int n_groups, const char *uncompressed,
                     uint64_t seed, epr_model **out, epr_err *err);
/* 1 if name matches one of the comma- or space-separated fnmatch patterns
 * (NULL: none), as `uncompressed` above is read. */
int epr_model_name_matches(const char *patterns, const char *name);
void epr_model_free(epr_model *em);

nn_model *epr_model_net(epr_model *em);
int epr_model_num_groups(const epr_model *em);
const epr_group_def *epr_model_group(const epr_model *em, int g);
size_t epr_model_group_num_params(const epr_model *em, int g); /* compressed scalars */
size_t epr_model_num_compressed(const epr_model *em);

float *epr_model_params(epr_model *em);
/* The gradient block has EPR_MODEL_GRAD_TAIL spare floats after its
 * epr_model_size() entries, for per-step metrics that travel in the same
 * allreduce. */
#define EPR_MODEL_GRAD_TAIL 8
float *epr_model_grads(epr_model *em);
size_t epr_model_size(const epr_model *em);         /* whole train block */
size_t epr_model_net_size(const epr_model *em);     /* [0, net) network segment */
size_t epr_model_density_offset(const epr_model *em);
size_t epr_model_density_size(const epr_model *em);

/* θ of compressed tensors from the current train block. */
void epr_model_decode(epr_model *em);
/* The same without the rounding (θ of the continuous latent: ϑ + b, or
 * T·ϑ_row + c), for exporting a run's weights before quantisation. */
void epr_model_decode_latent(epr_model *em);
/* Ψ (log s = the group's log_step, offsets 0), the latents ϑ and the
 * densities initialised from the θ now in the network's tensors, exactly as
 * epr_model_create does after its own initialisation: load pretrained θ
 * into the tensors, then call this (`[model] init`).  Then θ is decoded. */
int epr_model_init_from_theta(epr_model *em, uint64_t seed, epr_err *err);
/* After nn_backward: d(latent), d(Ψ) from dθ; density grads zeroed.
 * Uncompressed tensors' grads are already in place. */
void epr_model_backward(epr_model *em);
/* Noisy rate of this rank's slice of every group's rows; adds
 * lambda * d(rate_bits) into the gradient block.  Returns the slice's bits. */
double epr_model_rate_noisy(epr_model *em, uint64_t seed, long step, double lambda, int rank, int nranks);
/* Exact self-information (bits) of round(φ̂) under the discretised
 * densities; per_group (may be NULL) gets each group's bits. */
double epr_model_rate_exact(epr_model *em, double *per_group);

/* Integer φ of group g's tensor t (rows x ell, in the tensor's layout). */
void epr_model_phi(epr_model *em, int g, int t, int32_t *phi);
int epr_model_group_tensor(const epr_model *em, int g, int t); /* nn tensor index */
/* Current decoder values for the codec: s[ell or 1], offset[ell or 1], T. */
void epr_model_decoder_values(epr_model *em, int g, float *s, float *offset, float *T);
const float *epr_model_density(epr_model *em, int g); /* [ell x 43] */
/* [begin, end) of all groups' Ψ in the train block (empty without groups). */
void epr_model_psi_range(const epr_model *em, size_t *begin, size_t *end);
/* Offsets (into the train block) and sizes of group g's latent, Ψ and density. */
void epr_model_group_layout(const epr_model *em, int g, size_t *latent_off, size_t *latent_n, size_t *psi_off,
                            size_t *psi_n, size_t *density_off);

#endif
