/* run/fsutil — small file-system helpers: mkdir -p, atomic whole-file
 * writes (temporary name, fsync, rename, fsync of the directory), so a
 * crash never leaves a half-written file under the final name; the lock of
 * a run directory; the refusal to write an output over an input.
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

/* The lock of a run directory: an flock(2) on DIR/run.lock, which holds
 * "PID HOST" of its owner for messages.  The kernel drops the lock when
 * its process dies (even by SIGKILL), so a lock file left behind by a
 * killed run is free to take; only a living process holds it. */
typedef struct {
    int held; /* 1 while locked (fd is then open) */
    int fd;
    char path[1300];
} fs_lock;

#define FS_LOCK_NAME "run.lock"

/* Takes dir's lock without waiting; fails (EPR_EIO) with a message naming
 * the owner's pid and host when another process holds it. */
int fs_lock_dir(const char *dir, fs_lock *lk, epr_err *err);
/* Removes the lock file and releases the lock (no-op unless held). */
void fs_unlock_dir(fs_lock *lk);

/* 1 when a and b both exist and are the same file (device and inode, so a
 * second name, a hard link or a symbolic link is seen through). */
int fs_same_file(const char *a, const char *b);
/* Fails with a message naming both when writing output would replace the
 * input (fs_same_file); what names the input in the message ("the run
 * file").  An output that does not exist yet is fine. */
int fs_check_not_input(const char *output, const char *input, const char *what, epr_err *err);

#endif
