/* File-system steps of the atomic-write protocol: fsync, durable rename, small files written
 * atomically, run files opened without following symbolic links. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/fsops.h"

cascade_status fs_fsync_file(const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return cascade_fail(CASCADE_EIO, "%s: cannot open to sync: %s", path, strerror(errno));
    int rc = fsync(fd), err = errno;
    close(fd);
    if (rc != 0) return cascade_fail(CASCADE_EIO, "%s: fsync failed: %s", path, strerror(err));
    return CASCADE_OK;
}

cascade_status fs_fsync_dir(const char *dir) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) return cascade_fail(CASCADE_EIO, "%s: cannot open directory to sync: %s", dir, strerror(errno));
    int rc = fsync(fd), err = errno;
    close(fd);
    if (rc != 0 && err != EINVAL && err != ENOTSUP)
        return cascade_fail(CASCADE_EIO, "%s: fsync of the directory failed: %s", dir, strerror(err));
    return CASCADE_OK;
}

const char *fs_split(const char *path, char *dir, size_t cap) {
    const char *slash = strrchr(path, '/');
    if (!slash) {
        snprintf(dir, cap, ".");
        return path;
    }
    if (slash == path) snprintf(dir, cap, "/");
    else snprintf(dir, cap, "%.*s", (int)(slash - path), path);
    return slash + 1;
}

cascade_status fs_rename_durable(const char *from, const char *to) {
    if (rename(from, to) != 0)
        return cascade_fail(CASCADE_EIO, "cannot rename %s to %s: %s", from, to, strerror(errno));
    char dir[PATH_MAX];
    fs_split(to, dir, sizeof dir);
    return fs_fsync_dir(dir);
}

cascade_status fs_write_atomic(const char *dir, const char *name, const char *text) {
    char path[PATH_MAX], tmp[PATH_MAX + 8];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    /* a stale tmp (or a link someone left there) goes first: the new one is ours alone */
    if (unlink(tmp) != 0 && errno != ENOENT) return cascade_fail(CASCADE_EIO, "%s: cannot remove: %s", tmp, strerror(errno));
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) return cascade_fail(CASCADE_EIO, "%s: cannot create: %s", tmp, strerror(errno));
    size_t len = strlen(text), done = 0;
    while (done < len) {
        ssize_t n = write(fd, text + done, len - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            int err = errno;
            close(fd);
            unlink(tmp);
            return cascade_fail(CASCADE_EIO, "%s: cannot write: %s", tmp, strerror(err));
        }
        done += (size_t)n;
    }
    int rc = fsync(fd), err = errno;
    if (close(fd) != 0 && rc == 0) rc = -1, err = errno;
    if (rc != 0) {
        unlink(tmp);
        return cascade_fail(CASCADE_EIO, "%s: cannot flush to disk: %s", tmp, strerror(err));
    }
    return fs_rename_durable(tmp, path);
}

cascade_status fs_copy_atomic(const char *from, const char *to) {
    FILE *fp = fopen(from, "rb");
    if (!fp) return cascade_fail(CASCADE_EIO, "cannot read %s: %s", from, strerror(errno));
    size_t cap = 1 << 16, len = 0;
    char *text = cascade_alloc(cap, "file copy");
    cascade_status st = text ? CASCADE_OK : CASCADE_EINTERNAL;
    while (!st) {
        len += fread(text + len, 1, cap - 1 - len, fp);
        if (ferror(fp)) st = cascade_fail(CASCADE_EIO, "cannot read %s", from);
        if (st || feof(fp)) break;
        char *grown = cascade_alloc(2 * cap, "file copy");
        if (!grown) st = CASCADE_EINTERNAL;
        if (grown) memcpy(grown, text, len);
        cascade_free(text);
        text = grown, cap *= 2;
    }
    fclose(fp);
    if (!st) {
        text[len] = 0;
        char dir[PATH_MAX];
        const char *name = fs_split(to, dir, sizeof dir);
        st = fs_write_atomic(dir, name, text);
    }
    cascade_free(text);
    return st;
}
