/* run/init_weights — `[model] init = FILE`: training starts from weights
 * trained elsewhere, an .npz or .safetensors file (run/tensorfile) of
 * float32 tensors named as the network's (fc1.weight, layer1_0_bn1.bias,
 * bn1.running_mean, ...; python/pt_to_init.py converts a PyTorch
 * state_dict).
 *
 * Every tensor and batch-norm buffer of the network must be in the file
 * with its shape, and every tensor of the file must be one of the
 * network's: otherwise the error names the file, the first mismatch and
 * the names left unmatched on either side.  The values replace the
 * network's initial ones, then the EPR latents, step sizes and densities
 * are initialised from them exactly as from a fresh network's
 * (rp_model_init_from_theta).  May call: tensorfile, rp_model, nn. */
#ifndef EPR_RUN_INIT_WEIGHTS_H
#define EPR_RUN_INIT_WEIGHTS_H

#include <stdint.h>

#include "epr/epr_model.h"

int init_weights_load(rp_model *em, const char *path, uint64_t seed, epr_err *err);

#endif
