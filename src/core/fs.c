/* mkdir -p for the CLI, run directories and checkpoints. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

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

