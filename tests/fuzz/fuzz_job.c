/* libFuzzer harness: bytes -> a job file -> cascade_job_load (INI parsing, validation of
 * every section and key, the graph checks done at load). Any status is fine; a crash, a
 * sanitizer report, a leak or a hang is a bug. */
#include <stdint.h>
#include <stdlib.h>

#include "cascade/job.h"
#include "fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    fuzz_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_file(0, "job.ini", data, size);
    if (!path) abort(); /* /dev/shm full: not an input's fault, stop */
    cascade_job job;
    if (cascade_job_load(path, NULL, 0, &job) == CASCADE_OK) cascade_job_free(&job);
    cascade_clear_error();
    return 0;
}
