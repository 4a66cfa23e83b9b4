/* common/timeutil.h — wall and CPU clocks in seconds, for timing and
 * throughput figures (training log, benchmarks, baselines).  Depends on
 * libc only (clock_gettime, POSIX). */
#ifndef EPR_COMMON_TIMEUTIL_H
#define EPR_COMMON_TIMEUTIL_H

#include <time.h>

/* Monotonic wall-clock seconds (arbitrary origin: use differences). */
static inline double cmn_now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* CPU seconds of this process (all its threads): on a shared machine the
 * wall clock also counts time the process waited for a core. */
static inline double cmn_cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#endif
