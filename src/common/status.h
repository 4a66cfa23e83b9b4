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

/* cmn_fail(err, code, fmt, ...): the message into *err (when err != NULL),
 * returns code.  In builds with EPR_ERROR_WHERE defined (CMake defines it
 * for CMAKE_BUILD_TYPE=Debug) an allocation failure (EPR_ENOMEM) also says
 * where it was raised: "... (at src/codec/container_write.c:241)". */
#define cmn_fail(e, code, ...) cmn_fail_at(__FILE__, __LINE__, (e), (code), __VA_ARGS__)

static inline int cmn_fail_at(const char *file, int line, epr_err *e, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;
static inline int cmn_fail_at(const char *file, int line, epr_err *e, int code, const char *fmt, ...) {
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
        e->code = code;
#ifdef EPR_ERROR_WHERE
        if (code == EPR_ENOMEM && n >= 0 && (size_t)n < sizeof e->msg)
            snprintf(e->msg + n, sizeof e->msg - (size_t)n, " (at %s:%d)", file, line);
#endif
        (void)n;
    }
    (void)file, (void)line;
    return code;
}

#define RETURN_ERROR_IF(cond, err, code, ...)                  \
    do {                                                       \
        if (cond) return cmn_fail((err), (code), __VA_ARGS__); \
    } while (0)

#define CHECK_STATUS(expr)           \
    do {                             \
        int cmn_rc_ = (expr);        \
        if (cmn_rc_) return cmn_rc_; \
    } while (0)

#endif
