/* See fuzz_common.h. */
#include "fuzz_common.h"

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cascade/core.h"

static char paths[4][128];

static void remove_files(void) {
    for (int i = 0; i < 4; i++)
        if (paths[i][0]) unlink(paths[i]);
}

void fuzz_init(void) {
    atexit(remove_files); /* the inputs' files in /dev/shm (a crash leaves them) */
    int up = 0;
    MPI_Initialized(&up);
    if (!up) {
        int argc = 0;
        char **argv = NULL;
        MPI_Init(&argc, &argv);
    }
    cascade_log_set_quiet(1);
}

const char *fuzz_file(int slot, const char *tag, const uint8_t *data, size_t size) {
    char *path = paths[slot & 3];
    snprintf(path, sizeof paths[0], "/dev/shm/cascade-fuzz-%ld-%s", (long)getpid(), tag);
    FILE *fp = fopen(path, "wb");
    if (!fp) return NULL;
    size_t wrote = size ? fwrite(data, 1, size, fp) : 0;
    int ok = fclose(fp) == 0 && wrote == size;
    return ok ? path : NULL;
}

const char *fuzz_seed_dir(void) {
    const char *dir = getenv("CASCADE_FUZZ_SEEDS");
    return dir && *dir ? dir : CASCADE_FUZZ_SEED_DIR;
}
