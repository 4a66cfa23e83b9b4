/* run/fsutil.c — see fsutil.h. */
#include "run/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

int fs_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

int fs_mkdir_p(const char *path, epr_err *err) {
    char buf[4096];
    RETURN_ERROR_IF(strlen(path) >= sizeof buf, err, EPR_EARG, "%s: path too long", path);
    strcpy(buf, path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0777) && errno != EEXIST)
            return cmn_fail(err, EPR_EIO, "%s: cannot create directory: %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0777) && errno != EEXIST)
        return cmn_fail(err, EPR_EIO, "%s: cannot create directory: %s", buf, strerror(errno));
    struct stat st; /* EEXIST: a file, or a dangling symbolic link, is not a directory */
    RETURN_ERROR_IF(stat(buf, &st) || !S_ISDIR(st.st_mode), err, EPR_EIO,
                    "%s: exists but is not a directory (or is a dangling symbolic link)", buf);
    return 0;
}

int fs_sync_parent_dir(const char *path, epr_err *err) {
    char buf[4096];
    RETURN_ERROR_IF(strlen(path) >= sizeof buf, err, EPR_EARG, "%s: path too long", path);
    strcpy(buf, path);
    const char *dir = dirname(buf);
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    RETURN_ERROR_IF(fd < 0, err, EPR_EIO, "%s: cannot open directory: %s", dir, strerror(errno));
    int rc = fsync(fd);
    close(fd);
    RETURN_ERROR_IF(rc, err, EPR_EIO, "%s: fsync of directory failed: %s", dir, strerror(errno));
    return 0;
}

void fs_tmp_name(const char *path, char *tmp, size_t cap) { snprintf(tmp, cap, "%s.tmp.%ld", path, (long)getpid()); }

int fs_commit(const char *tmp, const char *path, epr_err *err) {
    int fd = open(tmp, O_RDONLY);
    int e = errno, rc = fd < 0 ? -1 : fsync(fd);
    if (rc) e = errno;
    if (fd >= 0) close(fd);
    if (rc) {
        unlink(tmp);
        return cmn_fail(err, EPR_EIO, "%s: fsync failed: %s", tmp, strerror(e));
    }
    if (rename(tmp, path)) {
        e = errno;
        unlink(tmp);
        return cmn_fail(err, EPR_EIO, "%s: cannot rename into place: %s", path, strerror(e));
    }
    return fs_sync_parent_dir(path, err);
}

int fs_write_atomic(const char *path, const void *data, size_t len, epr_err *err) {
    char tmp[4200];
    fs_tmp_name(path, tmp, sizeof tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0666);
    RETURN_ERROR_IF(fd < 0, err, EPR_EIO, "%s: cannot create: %s", tmp, strerror(errno));
    const char *p = data;
    size_t left = len;
    while (left) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            int e = errno;
            close(fd);
            unlink(tmp);
            return cmn_fail(err, EPR_EIO, "%s: write failed: %s", tmp, strerror(e));
        }
        p += w;
        left -= (size_t)w;
    }
    if (close(fd)) {
        int e = errno;
        unlink(tmp);
        return cmn_fail(err, EPR_EIO, "%s: close failed: %s", tmp, strerror(e));
    }
    return fs_commit(tmp, path, err);
}

int fs_read_file(const char *path, void **data, size_t *len, epr_err *err) {
    *data = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    RETURN_ERROR_IF(!f, err, EPR_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) || !S_ISREG(st.st_mode)) {
        fclose(f);
        return cmn_fail(err, EPR_EIO, "%s: not a regular file", path);
    }
    size_t n = (size_t)st.st_size;
    char *buf = malloc(n + 1);
    if (!buf) {
        fclose(f);
        return cmn_fail(err, EPR_ENOMEM, "%s: out of memory for %zu bytes", path, n);
    }
    size_t got = fread(buf, 1, n, f);
    int bad = ferror(f) || got != n || fgetc(f) != EOF;
    fclose(f);
    if (bad) {
        free(buf);
        return cmn_fail(err, EPR_EIO, "%s: read error (the file changed while being read?)", path);
    }
    *data = buf;
    *len = n;
    return 0;
}

int fs_lock_dir(const char *dir, fs_lock *lk, epr_err *err) {
    memset(lk, 0, sizeof *lk);
    int n = snprintf(lk->path, sizeof lk->path, "%s/" FS_LOCK_NAME, dir);
    RETURN_ERROR_IF(n < 0 || (size_t)n >= sizeof lk->path, err, EPR_EARG, "%s: path too long", dir);
    for (int attempt = 0; attempt < 100; attempt++) {
        int fd = open(lk->path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        RETURN_ERROR_IF(fd < 0, err, EPR_EIO, "%s: cannot open the run's lock file: %s", lk->path, strerror(errno));
        if (flock(fd, LOCK_EX | LOCK_NB)) {
            int e = errno;
            char owner[200] = "";
            ssize_t r = read(fd, owner, sizeof owner - 1);
            close(fd);
            owner[r > 0 ? r : 0] = 0;
            owner[strcspn(owner, "\n")] = 0;
            if (e == EWOULDBLOCK)
                return cmn_fail(err, EPR_EIO,
                                "%s is in use by another epr process (pid and host: %s; lock %s): wait for it to end "
                                "or stop it, then run again",
                                dir, owner[0] ? owner : "unknown", lk->path);
            return cmn_fail(err, EPR_EIO, "%s: cannot lock: %s", lk->path, strerror(e));
        }
        /* the previous owner may have removed the file between our open and
         * our flock: then this lock is on a name nobody else sees; retry */
        struct stat a, b;
        if (fstat(fd, &a) == 0 && stat(lk->path, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
            char host[128] = "?", line[200];
            gethostname(host, sizeof host - 1);
            host[sizeof host - 1] = 0;
            int len = snprintf(line, sizeof line, "%ld %s\n", (long)getpid(), host);
            if (ftruncate(fd, 0) || pwrite(fd, line, (size_t)len, 0) != len) {
                /* the lock itself holds; only the note for messages is missing */
            }
            lk->fd = fd;
            lk->held = 1;
            return 0;
        }
        close(fd);
    }
    return cmn_fail(err, EPR_EIO, "%s: the lock file keeps being replaced", lk->path);
}

void fs_unlock_dir(fs_lock *lk) {
    if (!lk->held) return;
    unlink(lk->path); /* while still locked: a newcomer then locks a fresh file */
    close(lk->fd);
    lk->held = 0;
}

int fs_same_file(const char *a, const char *b) {
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

int fs_check_not_input(const char *output, const char *input, const char *what, epr_err *err) {
    RETURN_ERROR_IF(fs_same_file(output, input), err, EPR_EARG,
                    "%s is the same file as %s %s: refusing to write the output over its input", output, what, input);
    return 0;
}
