/* run/schedule — what changes with the step: the network's learning rate
 * (warm-up, then step decay or cosine), the rate weight λ (a ramp over the
 * first part of training) and the final phase with φ frozen.  Every
 * function is a pure function of the configuration and the step, so a run
 * resumed at any step follows the same schedule bit for bit.
 *
 * Keys (config_keys.c, docs/schedules.md):
 *   [train] lr_schedule = step | cosine     step: lr times lr_decay at each
 *                                           of lr_milestones (none: constant);
 *                                           cosine: from lr down to lr_min at
 *                                           the last step
 *   [train] warmup_steps = W                lr rises linearly, lr*(t+1)/W for
 *                                           t < W (then the schedule's value)
 *   [train] lr_min                          cosine's final learning rate
 *   [epr] lambda_ramp_steps = R, lambda_start = a
 *                                           λ(t) = λ*(a + (1-a)*t/R) for t < R
 *   [epr] freeze_phi_steps = F              the last F steps train with φ
 *                                           frozen (train.c, run/phi_hold.h)
 * May call: config, nn (the step decay), libm. */
#ifndef EPR_RUN_SCHEDULE_H
#define EPR_RUN_SCHEDULE_H

#include <stddef.h>

#include "common/status.h"
#include "run/config.h"

/* The schedule at one step. */
typedef struct {
    float lr;       /* the network's learning rate */
    double lambda;  /* the rate weight (0 while φ is frozen: the rate of a fixed φ has no gradient) */
    int phi_frozen; /* 1 in the final phase */
} schedule_point;

float schedule_lr(const cfg_experiment *cfg, long step);
double schedule_lambda(const cfg_experiment *cfg, long step);
/* First step of the frozen-φ phase (cfg->steps when there is none). */
long schedule_freeze_start(const cfg_experiment *cfg);
schedule_point schedule_at(const cfg_experiment *cfg, long step);

/* The schedule keys' errors (called by cfg_load after the defaults, the
 * file and the overrides): each names the file and the key. */
int schedule_validate(const cfg_experiment *cfg, epr_err *err);

/* One line saying the whole schedule (recorded in the run file). */
void schedule_describe(const cfg_experiment *cfg, char *buf, size_t cap);

#endif
