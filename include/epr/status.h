/* epr/status.h — error codes and the error record shared by every epr
 * library, including the installed decoder library (so it is public and
 * depends on nothing).  Every fallible function returns 0 or a negative
 * EPR_E* code and fills an epr_err with a one-line message. */
#ifndef EPR_STATUS_H
#define EPR_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

enum {
    EPR_OK = 0,
    EPR_EIO = -1,     /* cannot open/read/write a file */
    EPR_EFORMAT = -2, /* malformed input (bad magic, truncation, range) */
    EPR_EARG = -3,    /* bad argument or configuration value */
    EPR_ENOMEM = -4,  /* allocation failed */
    EPR_ECRC = -5,    /* checksum mismatch */
    EPR_EUNSUP = -6,  /* valid but unsupported (version, feature) */
    EPR_ENUM = -7     /* numerical failure (NaN/Inf) */
};

typedef struct {
    int code;
    char msg[512];
} epr_err;

#ifdef __cplusplus
}
#endif
#endif
