/* run/h5run_internal.h — what the reader (h5run.c) and the writer
 * (h5run_write.c) of run files share; private to the run layer.
 *
 * Error handling, read me first: every public function switches HDF5's
 * automatic error printing off on entry and restores the caller's handler on
 * exit (h5run_quiet_on/off).  When an HDF5 call fails, h5run_detail() must
 * run before any other HDF5 call, since the next call clears the error stack. */
#ifndef EPR_RUN_H5RUN_INTERNAL_H
#define EPR_RUN_H5RUN_INTERNAL_H

#include <hdf5.h>
#include <stdint.h>

#include "run/h5run.h"

typedef struct {
    H5E_auto2_t fn;
    void *data;
} h5run_quiet;
void h5run_quiet_on(h5run_quiet *q);
void h5run_quiet_off(const h5run_quiet *q);

/* The innermost HDF5 error description, on one line ("" if none). */
void h5run_detail(char out[160]);
/* "<file>: <call>(<obj>) failed: <detail>" */
int h5run_fail_detail(epr_err *err, int code, const char *file, const char *call, const char *obj, const char *det);
/* the same with h5run_detail() */
int h5run_fail(epr_err *err, int code, const char *file, const char *call, const char *obj);

/* The file access property list of every run file (STRONG close degree, no
 * file locking); -1 on failure. */
hid_t h5run_fapl(void);

int h5run_type_valid(h5run_type t);
size_t h5run_type_size(h5run_type t);
hid_t h5run_mem_type(h5run_type t);  /* native */
hid_t h5run_file_type(h5run_type t); /* little-endian, as stored */
int h5run_host_le(void);             /* the host is little-endian */
/* zlib's CRC-32 of n bytes (the "crc32" attribute of a dataset). */
uint32_t h5run_crc32_bytes(const void *p, size_t n);

#endif
