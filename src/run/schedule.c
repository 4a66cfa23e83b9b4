/* run/schedule.c — see schedule.h. */
#include "run/schedule.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "nn/nn.h"

int schedule_validate(const cfg_experiment *cfg, epr_err *err) {
    const char *p = cfg->path;
    RETURN_ERROR_IF(strcmp(cfg->lr_schedule, "step") && strcmp(cfg->lr_schedule, "cosine"), err, EPR_EARG,
                    "%s: [train] lr_schedule: unknown '%s' (step | cosine)", p, cfg->lr_schedule);
    RETURN_ERROR_IF(!strcmp(cfg->lr_schedule, "cosine") && cfg->n_milestones, err, EPR_EARG,
                    "%s: [train] lr_milestones belong to lr_schedule = step, not cosine", p);
    RETURN_ERROR_IF(!(cfg->lr_min >= 0 && cfg->lr_min <= cfg->lr), err, EPR_EARG,
                    "%s: [train] lr_min must be in [0, lr]", p);
    RETURN_ERROR_IF(cfg->warmup_steps >= cfg->steps, err, EPR_EARG,
                    "%s: [train] warmup_steps (%ld) must be less than steps (%ld)", p, cfg->warmup_steps, cfg->steps);
    RETURN_ERROR_IF(cfg->lambda_ramp_steps > cfg->steps, err, EPR_EARG,
                    "%s: [epr] lambda_ramp_steps (%ld) must not exceed steps (%ld)", p, cfg->lambda_ramp_steps,
                    cfg->steps);
    RETURN_ERROR_IF(!(cfg->lambda_start >= 0 && cfg->lambda_start <= 1), err, EPR_EARG,
                    "%s: [epr] lambda_start must be in [0, 1]", p);
    RETURN_ERROR_IF(cfg->freeze_phi_steps >= cfg->steps, err, EPR_EARG,
                    "%s: [epr] freeze_phi_steps (%ld) must be less than steps (%ld)", p, cfg->freeze_phi_steps,
                    cfg->steps);
    RETURN_ERROR_IF(cfg->freeze_phi_steps && !cfg->epr_enabled, err, EPR_EARG,
                    "%s: [epr] freeze_phi_steps needs enabled = true (a plain run has no phi)", p);
    return EPR_OK;
}

float schedule_lr(const cfg_experiment *cfg, long step) {
    float lr;
    if (!strcmp(cfg->lr_schedule, "cosine")) {
        const long begin = cfg->warmup_steps, span = cfg->steps - begin;
        double p = span > 0 ? (double)(step - begin) / (double)span : 1.0;
        if (p < 0) p = 0;
        if (p > 1) p = 1;
        lr = (float)(cfg->lr_min + 0.5 * ((double)cfg->lr - cfg->lr_min) * (1.0 + cos(M_PI * p)));
    } else {
        lr = nn_lr_step_schedule(cfg->lr, cfg->lr_decay, cfg->lr_milestones, cfg->n_milestones, step);
    }
    if (step < cfg->warmup_steps) lr = (float)((double)lr * (double)(step + 1) / (double)cfg->warmup_steps);
    return lr;
}

double schedule_lambda(const cfg_experiment *cfg, long step) {
    if (step >= schedule_freeze_start(cfg)) return 0.0;
    if (step >= cfg->lambda_ramp_steps) return cfg->lambda;
    const double a = cfg->lambda_start;
    return cfg->lambda * (a + (1.0 - a) * (double)step / (double)cfg->lambda_ramp_steps);
}

long schedule_freeze_start(const cfg_experiment *cfg) {
    return cfg->epr_enabled && cfg->freeze_phi_steps > 0 ? cfg->steps - cfg->freeze_phi_steps : cfg->steps;
}

schedule_point schedule_at(const cfg_experiment *cfg, long step) {
    schedule_point p = {schedule_lr(cfg, step), schedule_lambda(cfg, step), step >= schedule_freeze_start(cfg)};
    return p;
}

void schedule_describe(const cfg_experiment *cfg, char *buf, size_t cap) {
    size_t o = 0;
#define PUT(...) \
    if (o < cap) o += (size_t)snprintf(buf + o, cap - o, __VA_ARGS__)
    PUT("lr %g", cfg->lr);
    if (cfg->warmup_steps) PUT(", linear warm-up over %ld steps", cfg->warmup_steps);
    if (!strcmp(cfg->lr_schedule, "cosine")) {
        PUT(", cosine to %g at step %ld", cfg->lr_min, cfg->steps);
    } else if (cfg->n_milestones) {
        PUT(", times %g at steps", cfg->lr_decay);
        for (int i = 0; i < cfg->n_milestones; i++) PUT("%s%ld", i ? "," : " ", cfg->lr_milestones[i]);
    } else {
        PUT(", constant");
    }
    if (cfg->epr_enabled) {
        PUT("; lambda %g", cfg->lambda);
        if (cfg->lambda_ramp_steps)
            PUT(", ramped from %g*lambda over %ld steps", cfg->lambda_start, cfg->lambda_ramp_steps);
        if (cfg->freeze_phi_steps)
            PUT("; phi frozen for the last %ld steps (from step %ld)", cfg->freeze_phi_steps,
                schedule_freeze_start(cfg));
    }
#undef PUT
}
