/* common/status.h — the status convention shared by every layer.
 *
 * Every fallible function returns int: 0 on success, a negative EPR_E* code
 * on failure, and writes a one-line message into a caller-provided epr_err.
 * The RETURN_ERROR_IF macro keeps the happy path readable.
 * Depends on libc only (the codec library uses it too). */
#ifndef EPR_COMMON_STATUS_H
#define EPR_COMMON_STATUS_H

#include <stdarg.h>
#include <stdio.h>

#include "epr/status.h"

static inline int epr_fail(epr_err *e, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static inline int epr_fail(epr_err *e, int code, const char *fmt, ...) {
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
        e->code = code;
    }
    return code;
}

#define RETURN_ERROR_IF(cond, err, code, ...)                  \
    do {                                                       \
        if (cond) return epr_fail((err), (code), __VA_ARGS__); \
    } while (0)

#define CHECK_STATUS(expr)          \
    do {                            \
        int epr_rc_ = (expr);       \
        if (epr_rc_) return epr_rc_; \
    } while (0)

#endif
