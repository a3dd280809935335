/* Checkpoint write rate: MB float32 parameters (tensors of 4 MiB weights + 4 KiB biases, a
 * flat buffer equal on every rank) written
 *   raw     each rank its block with one MPI_File_write_at_all, MPI_File_sync (the reference)
 *   owners  cascade's writer, each rank its block's part of every tensor (checkpoints now)
 *   rank0   cascade's writer, rank 0 everything (checkpoints before)
 *   owners-noalign  owners with CASCADE_H5_ALIGN=off
 * from file creation to the synced, renamed file; each mode REPS times interleaved, the
 * median reported with its MB/s and the ratio to raw's median. One JSON line per mode.
 * Usage: mpirun -n P ckpt_write DIR MB [REPS] */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cascade/h5io.h"
#include "parallel/parallel.h"

enum { RAW, OWNERS, RANK0, NOALIGN, MODES };
static const char *const names[MODES] = {"raw", "owners", "rank0", "owners-noalign"};

static int die(const char *what) {
    fprintf(stderr, "ckpt_write: %s: %s\n", what, cascade_errmsg());
    MPI_Abort(MPI_COMM_WORLD, 1);
    return 1;
}

static double raw_write(const char *path, const float *buf, int64_t lo, int64_t hi) {
    MPI_File fh;
    double t0 = MPI_Wtime();
    if (MPI_File_open(MPI_COMM_WORLD, path, MPI_MODE_CREATE | MPI_MODE_WRONLY, MPI_INFO_NULL, &fh) != MPI_SUCCESS ||
        MPI_File_set_size(fh, 0) != MPI_SUCCESS ||
        MPI_File_write_at_all(fh, (MPI_Offset)lo * 4, buf + lo, (int)(hi - lo), MPI_FLOAT, MPI_STATUS_IGNORE) !=
            MPI_SUCCESS ||
        MPI_File_sync(fh) != MPI_SUCCESS || MPI_File_close(&fh) != MPI_SUCCESS)
        return die("raw MPI-IO write");
    return MPI_Wtime() - t0;
}

/* The tensors: (4 MiB weight, 4 KiB bias) pairs over [0, n), the last cut short. */
static double h5_write(const char *path, const float *buf, int64_t n, int mode, int rank, int size) {
    if (mode == NOALIGN) setenv("CASCADE_H5_ALIGN", "off", 1);
    else unsetenv("CASCADE_H5_ALIGN");
    int64_t lo, hi;
    cascade_par_block(n, rank, size, &lo, &hi);
    if (mode == RANK0) lo = 0, hi = rank == 0 ? n : 0;
    double t0 = MPI_Wtime();
    cascade_h5writer *w;
    if (cascade_h5w_create(path, MPI_COMM_WORLD, &w)) return die("create");
    char name[64];
    for (int64_t off = 0, i = 0; off < n; i++) {
        int64_t cnt = i % 2 == 0 ? 1 << 20 : 1024;
        if (cnt > n - off) cnt = n - off;
        int64_t a = off > lo ? off : lo, b = off + cnt < hi ? off + cnt : hi;
        if (b < a) a = b = off;
        snprintf(name, sizeof name, "/params/model/l%lld/%s", (long long)(i / 2), i % 2 ? "bias" : "weight");
        cascade_shape sh = i % 2 == 0 && cnt % 1024 == 0 ? cascade_shape_make(2, (int64_t[]){cnt / 1024, 1024})
                                                        : cascade_shape_make(1, (int64_t[]){cnt});
        if (cascade_h5w_write_floats(w, name, &sh, buf + a, a - off, b - a)) return die(name);
        off += cnt;
    }
    if (cascade_h5w_commit(w)) return die("commit");
    return MPI_Wtime() - t0;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (argc < 3) {
        if (rank == 0) fprintf(stderr, "usage: mpirun -n P ckpt_write DIR MB [REPS]\n");
        MPI_Finalize();
        return 2;
    }
    double mb = atof(argv[2]);
    int reps = argc > 3 ? atoi(argv[3]) : 3;
    if (reps < 1 || reps > 64) reps = 3;
    int64_t n = (int64_t)(mb * 1048576.0 / 4);
    float *buf = malloc((size_t)n * sizeof(float));
    if (!buf) return die("out of memory");
    for (int64_t i = 0; i < n; i++) buf[i] = (float)(i % 1000) * 1e-3f;
    int64_t lo, hi;
    cascade_par_block(n, rank, size, &lo, &hi);
    char path[4096];
    double t[MODES][64];
    for (int r = 0; r < reps; r++)
        for (int m = 0; m < MODES; m++) {
            snprintf(path, sizeof path, "%s/%s.%s", argv[1], names[m], m == RAW ? "bin" : "h5");
            MPI_Barrier(MPI_COMM_WORLD);
            double s = m == RAW ? raw_write(path, buf, lo, hi) : h5_write(path, buf, n, m, rank, size);
            MPI_Allreduce(&s, &t[m][r], 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
            if (rank == 0) unlink(path);
        }
    double med[MODES];
    for (int m = 0; m < MODES; m++) {
        qsort(t[m], (size_t)reps, sizeof(double), by_value);
        med[m] = t[m][reps / 2];
    }
    for (int m = 0; rank == 0 && m < MODES; m++)
        printf("{\"mode\":\"%s\",\"ranks\":%d,\"mb\":%.1f,\"seconds\":%.4f,\"min_s\":%.4f,\"max_s\":%.4f,"
               "\"mb_per_s\":%.1f,\"vs_raw\":%.3f}\n",
               names[m], size, n * 4.0 / 1048576.0, med[m], t[m][0], t[m][reps - 1], n * 4.0 / 1048576.0 / med[m],
               med[RAW] / med[m]);
    free(buf);
    MPI_Finalize();
    return 0;
}
