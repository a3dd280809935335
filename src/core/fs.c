/* mkdir -p for the CLI, run directories and checkpoints; run files opened for appending. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cascade/core.h"

cascade_status cascade_mkdir_p(const char *dir) {
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path)
        return cascade_fail(CASCADE_EIO, "%.200s...: path too long", dir);
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p != 0) continue;
        char keep = *p;
        *p = 0;
        if (mkdir(path, 0777) != 0 && errno != EEXIST)
            return cascade_fail(CASCADE_EIO, "%s: cannot create directory: %s", path, strerror(errno));
        *p = keep;
        if (keep == 0) break;
    }
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return cascade_fail(CASCADE_EIO, "%s: not a directory", dir);
    return CASCADE_OK;
}


cascade_status cascade_fopen_append(const char *path, FILE **out) {
    *out = NULL;
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0 && errno == ELOOP)
        return cascade_fail(CASCADE_EIO, "%s is a symbolic link; run files are never written through links "
                            "(remove it)", path);
    if (fd < 0) return cascade_fail(CASCADE_EIO, "cannot open %s: %s", path, strerror(errno));
    if (!(*out = fdopen(fd, "a"))) {
        int err = errno;
        close(fd);
        return cascade_fail(CASCADE_EIO, "cannot open %s: %s", path, strerror(err));
    }
    return CASCADE_OK;
}
