/* libFuzzer harness: bytes -> a checkpoint file -> the paths that read checkpoints:
 * resume's counters (cascade_model_read_counters) and predict/evaluate's
 * cascade_trained_open (metadata and job text, the model built from it, parameters,
 * normalisation) bound to the seed data file (fuzz/seeds/data.h5, from make_seeds.sh). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "apps/trained.h"
#include "fuzz_common.h"

static char data_path[1024];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    fuzz_init();
    snprintf(data_path, sizeof data_path, "%s/data.h5", fuzz_seed_dir());
    if (access(data_path, R_OK) != 0) {
        fprintf(stderr, "fuzz_ckpt: no seed data file %s (run tests/fuzz/make_seeds.sh, or set CASCADE_FUZZ_SEEDS)\n",
                data_path);
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_file(1, "ckpt.h5", data, size);
    if (!path) abort();
    cascade_h5file *f;
    if (cascade_ckpt_open(path, MPI_COMM_SELF, &f) == CASCADE_OK) {
        cascade_progress p;
        (void)cascade_model_read_counters(f, &p);
        cascade_h5_close(f);
    }
    cascade_trained t;
    (void)cascade_trained_open(&t, path, data_path, 1, MPI_COMM_SELF);
    cascade_trained_close(&t);
    cascade_clear_error();
    return 0;
}
