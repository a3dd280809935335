/* The run-directory lock (CONTRACT: a run directory is locked while a train uses it): an fcntl
 * write lock on RUNDIR/.lock, taken by rank 0, released when the process ends however it ends.
 * The file holds "PID HOST" of the holder while it runs and is emptied on a clean exit. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "io/fsops.h"

/* The holder named by the lock file ("PID N on HOST") into who[cap]; 0 when the file is empty. */
static int read_holder(int fd, char *who, size_t cap) {
    char text[320] = "", host[256] = "";
    long pid = 0;
    ssize_t n = pread(fd, text, sizeof text - 1, 0);
    text[n > 0 ? n : 0] = 0;
    if (sscanf(text, "%ld %255s", &pid, host) < 1 || pid <= 0) return 0;
    snprintf(who, cap, "PID %ld on %s", pid, host[0] ? host : "an unknown host");
    return 1;
}

static cascade_status lock_rank0(const char *rundir, int *fd_out) {
    char path[PATH_MAX], holder[320], me[320], host[256] = "";
    if (snprintf(path, sizeof path, "%s/.lock", rundir) >= (int)sizeof path)
        return cascade_fail(CASCADE_EIO, "%.200s...: path too long", rundir);
    CASCADE_TRY(cascade_mkdir_p(rundir));
    int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) return cascade_fail(CASCADE_EIO, "%s: cannot open the run-directory lock: %s", path, strerror(errno));
    struct flock lk = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    if (fcntl(fd, F_SETLK, &lk) != 0) {
        int err = errno;
        if (!read_holder(fd, holder, sizeof holder)) { /* it has not written its name yet */
            struct flock who = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
            if (fcntl(fd, F_GETLK, &who) == 0 && who.l_type != F_UNLCK)
                snprintf(holder, sizeof holder, "PID %ld", (long)who.l_pid);
            else
                snprintf(holder, sizeof holder, "another process");
        }
        close(fd);
        if (err != EACCES && err != EAGAIN)
            return cascade_fail(CASCADE_EIO, "%s: cannot lock: %s (on NFS, is a lock daemon running?)", path,
                                strerror(err));
        return cascade_fail(CASCADE_EUSAGE, "%s is in use by %s (lock %s); wait for that run to end or choose "
                            "another --out", rundir, holder, path);
    }
    int unclean = read_holder(fd, holder, sizeof holder);
    gethostname(host, sizeof host - 1);
    snprintf(me, sizeof me, "%ld %s\n", (long)getpid(), host[0] ? host : "unknown-host");
    if (unclean) cascade_log("%s: the previous run there (%s) did not exit cleanly\n", rundir, holder);
    if (ftruncate(fd, 0) != 0 || pwrite(fd, me, strlen(me), 0) != (ssize_t)strlen(me)) {
        int err = errno;
        close(fd);
        return cascade_fail(CASCADE_EIO, "%s: cannot write the lock holder: %s", path, strerror(err));
    }
    *fd_out = fd;
    return CASCADE_OK;
}

cascade_status cascade_rundir_lock(const char *rundir, MPI_Comm comm, int *fd) {
    int rank;
    *fd = -1;
    if (MPI_Comm_rank(comm, &rank) != MPI_SUCCESS)
        return cascade_fail(CASCADE_EINTERNAL, "%s: invalid MPI communicator", rundir);
    cascade_status st = h5_agree(comm, rank == 0 ? lock_rank0(rundir, fd) : CASCADE_OK);
    if (st != CASCADE_OK && *fd >= 0) { /* cannot happen on rank 0 (it failed) but keep it tidy */
        close(*fd);
        *fd = -1;
    }
    return st;
}

void cascade_rundir_unlock(int fd) {
    if (fd < 0) return;
    int emptied = ftruncate(fd, 0) == 0; /* if not, the next run says this one did not exit cleanly */
    (void)emptied;
    close(fd);
}
