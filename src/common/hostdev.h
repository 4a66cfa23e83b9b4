/* common/hostdev.h — EPR_HD marks a static inline helper that the CUDA
 * sources also evaluate on the device (one definition for CPU and GPU, so
 * both compute the same numbers).  Empty in C builds.  Depends on nothing. */
#ifndef EPR_COMMON_HOSTDEV_H
#define EPR_COMMON_HOSTDEV_H

#if defined(__CUDACC__)
#define EPR_HD __host__ __device__
#else
#define EPR_HD
#endif

#endif
