/* run/fsutil — small file-system helpers: mkdir -p and atomic whole-
 * file writes (temporary name, fsync, rename, fsync of the directory), so a
 * crash never leaves a half-written file under the final name.
 * May call: POSIX, libc. */
#ifndef EPR_HARNESS_FSUTIL_H
#define EPR_HARNESS_FSUTIL_H

#include <stddef.h>

#include "common/status.h"

int fs_mkdir_p(const char *path, epr_err *err);
int fs_write_atomic(const char *path, const void *data, size_t len, epr_err *err);
/* The one way a file replaces another (every writer: fs_write_atomic,
 * h5run_write, pareto's sweep.h5 and report.md): write it in full under
 * fs_tmp_name(path), close it, then fs_commit: fsync(tmp), rename(tmp,
 * path), fsync(the directory).  On a failure before the rename tmp is
 * removed and path is untouched; a failed directory fsync is reported
 * although path already holds the new file. */
void fs_tmp_name(const char *path, char *tmp, size_t cap);
int fs_commit(const char *tmp, const char *path, epr_err *err);
/* fsync the directory that holds path (after a rename). */
int fs_sync_parent_dir(const char *path, epr_err *err);
int fs_exists(const char *path);
/* The whole file at path into a malloc'd buffer (*data, *len). */
int fs_read_file(const char *path, void **data, size_t *len, epr_err *err);

#endif
