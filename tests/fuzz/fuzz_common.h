/* Shared by the libFuzzer harnesses (tests/fuzz/README.md): MPI on MPI_COMM_SELF, quiet logs,
 * the input bytes written to a file under /dev/shm (the code under test opens paths). */
#ifndef CASCADE_FUZZ_COMMON_H
#define CASCADE_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>

/* MPI_Init (once, singleton), logs off, HDF5 error printing off. */
void fuzz_init(void);
/* Writes data[0..size) to /dev/shm/cascade-fuzz-PID-TAG (returned; static storage per tag
 * slot 0..3). NULL when the file cannot be written. */
const char *fuzz_file(int slot, const char *tag, const uint8_t *data, size_t size);
/* The directory of the generated seeds (tests/fuzz/make_seeds.sh): $CASCADE_FUZZ_SEEDS or
 * the build's fuzz/seeds. */
const char *fuzz_seed_dir(void);

#endif
