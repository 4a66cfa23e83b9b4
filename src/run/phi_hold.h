/* run/phi_hold — the final training phase with φ frozen ([epr]
 * freeze_phi_steps, run/schedule.h).  φ = round(ϑ/s) moves when the latent
 * ϑ or the step s does; so that s (and the rest of Ψ) can train while φ
 * stays, after every update each latent is put back at φ·s for the new s,
 * in the trained parameters and in their EMA alike.  φ is read back from
 * the parameters at the start of each step (they hold φ·s, which rounds
 * back to φ), so the phase keeps no state of its own beyond scratch and a
 * run resumed inside it continues bit for bit.
 * May call: rp_model, epr/decoder, libc. */
#ifndef EPR_RUN_PHI_HOLD_H
#define EPR_RUN_PHI_HOLD_H

#include <stdint.h>

#include "common/status.h"
#include "epr/epr_model.h"

typedef struct phi_hold phi_hold;

int phi_hold_create(rp_model *em, phi_hold **out, epr_err *err);
void phi_hold_free(phi_hold *h);
/* φ of every group's latents in block (a network segment laid out as the
 * model's: its parameters or their EMA), with block's own s. */
void phi_hold_capture(phi_hold *h, const float *block);
/* Every latent of block := φ·s with the captured φ and block's own s, so
 * that round(ϑ/s) is φ again. */
void phi_hold_apply(const phi_hold *h, float *block);
/* The captured φ of group g (its latents' order). */
const int32_t *phi_hold_phi(const phi_hold *h, int g);

#endif
