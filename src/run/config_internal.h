/* run/config_internal.h — the key table (config_keys.c: the one source of
 * truth for keys, types, defaults and help), shared by the parser
 * (config.c), its checks (config_check.c) and config_id.c.  Private to the
 * run layer. */
#ifndef EPR_RUN_CONFIG_INTERNAL_H
#define EPR_RUN_CONFIG_INTERNAL_H

#include <stddef.h>

#include "run/config.h"

typedef enum { K_STR, K_INT, K_LONG, K_U64, K_FLOAT, K_DOUBLE, K_BOOL, K_LIST_LONG, K_TEXT } key_type;

typedef struct {
    const char *section, *key;
    key_type type;
    size_t offset, size; /* size: capacity of strings */
    const char *def;
    const char *help;
} key_def;

extern const key_def CFG_KEYS[];
extern const int CFG_N_KEYS;

/* The checks of a loaded experiment (config_check.c): 0, or EPR_EARG with
 * a message naming the file and the key; may complete derived fields. */
int cfg_validate(cfg_experiment *cfg, epr_err *err);

#endif
