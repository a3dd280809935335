/* Helpers for the HDF5-layer tests (see tio.h). */
#include "tio.h"

#include <CUnit/Basic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int tio_rank, tio_size;
char tio_dir[TIO_DIR_MAX];

void tio_init(int *argc, char ***argv, const char *name) {
    MPI_Init(argc, argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &tio_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &tio_size);
    if (CU_initialize_registry() != CUE_SUCCESS) MPI_Abort(MPI_COMM_WORLD, 1);
    if (tio_rank == 0) {
        const char *base = getenv("CASCADE_BUILD_DIR");
        char parent[TIO_DIR_MAX - 512];
        snprintf(parent, sizeof parent, "%s/tmp", base ? base : ".");
        mkdir(parent, 0777);
        snprintf(tio_dir, sizeof tio_dir, "%s/%s-n%d-%ld", parent, name, tio_size, (long)getpid());
        if (mkdir(tio_dir, 0777) != 0) {
            perror(tio_dir);
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
    }
    MPI_Bcast(tio_dir, TIO_DIR_MAX, MPI_CHAR, 0, MPI_COMM_WORLD);
}

int tio_run(void) {
    CU_basic_set_mode(tio_rank == 0 ? CU_BRM_VERBOSE : CU_BRM_SILENT);
    CU_basic_run_tests();
    int mine = (int)CU_get_number_of_failures(), all = 0;
    if (tio_rank != 0 && mine > 0) { /* silent mode hides them */
        fprintf(stderr, "\n[rank %d] failures:\n", tio_rank);
        CU_basic_show_failures(CU_get_failure_list());
        fprintf(stderr, "\n");
    }
    if (CU_get_error() != CUE_SUCCESS) mine++;
    CU_cleanup_registry();
    MPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (tio_rank == 0) {
        if (all == 0) {
            char cmd[TIO_PATH + 16];
            snprintf(cmd, sizeof cmd, "rm -rf '%s'", tio_dir);
            if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tio_dir);
        } else {
            fprintf(stderr, "%d failure(s) over %d rank(s); files kept in %s\n", all, tio_size, tio_dir);
        }
    }
    MPI_Finalize();
    return all != 0;
}

void tio_expect_at(const char *file, int line, cascade_status st, cascade_status code, ...) {
    const char *msg = cascade_errmsg();
    char cond[256];
    snprintf(cond, sizeof cond, "status %d == %d", (int)st, (int)code);
    int ok = st == code;
    CU_assertImplementation(ok, (unsigned)line, cond, file, "", CU_FALSE);
    va_list ap;
    va_start(ap, code);
    for (const char *needle; (needle = va_arg(ap, const char *));) {
        int found = strstr(msg, needle) != NULL;
        snprintf(cond, sizeof cond, "message holds \"%s\"", needle);
        CU_assertImplementation(found, (unsigned)line, cond, file, "", CU_FALSE);
        ok &= found;
    }
    va_end(ap);
    if (!ok || getenv("TIO_SHOW_ERRORS")) /* TIO_SHOW_ERRORS=1: review every message */
        fprintf(stderr, "\n  [rank %d] %s:%d: status %d, message: %s\n", tio_rank, file, line, (int)st, msg);
    cascade_clear_error();
}

static hid_t make_space(int ndim, const hsize_t *dims) {
    return ndim ? H5Screate_simple(ndim, dims, NULL) : H5Screate(H5S_SCALAR);
}

void tio_dataset(hid_t loc, const char *name, hid_t file_type, hid_t mem_type, int ndim,
                 const hsize_t *dims, const void *data) {
    hid_t space = make_space(ndim, dims);
    hid_t d = H5Dcreate2(loc, name, file_type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    CU_ASSERT(d >= 0 && H5Dwrite(d, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0);
    H5Dclose(d);
    H5Sclose(space);
}

void tio_attr(hid_t loc, const char *name, hid_t type, int ndim, const hsize_t *dims, const void *data) {
    hid_t space = make_space(ndim, dims);
    hid_t a = H5Acreate2(loc, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    CU_ASSERT(a >= 0 && H5Awrite(a, type, data) >= 0);
    H5Aclose(a);
    H5Sclose(space);
}

void tio_write_text(const char *path, const char *text) {
    FILE *fp = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
    fputs(text, fp);
    fclose(fp);
}

void tio_copy_truncated(const char *src, const char *dst, double fraction) {
    FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
    CU_ASSERT_FATAL(in && out);
    fseek(in, 0, SEEK_END);
    long keep = (long)(ftell(in) * fraction);
    fseek(in, 0, SEEK_SET);
    char buf[4096];
    for (long left = keep; left > 0;) {
        size_t n = fread(buf, 1, left < (long)sizeof buf ? (size_t)left : sizeof buf, in);
        if (n == 0) break;
        fwrite(buf, 1, n, out);
        left -= (long)n;
    }
    fclose(in);
    fclose(out);
}

void tio_read_text(const char *path, char *buf, size_t cap) {
    buf[0] = 0;
    FILE *fp = fopen(path, "r");
    if (!fp) return;
    size_t n = fread(buf, 1, cap - 1, fp);
    buf[n] = 0;
    fclose(fp);
}

int tio_python(const char *code) {
    int status = 0;
    if (tio_rank == 0) {
        char script[TIO_PATH + 32], cmd[3 * TIO_PATH];
        snprintf(script, sizeof script, "%s/script.py", tio_dir);
        tio_write_text(script, code);
        const char *py = getenv("CASCADE_PYTHON");
        snprintf(cmd, sizeof cmd, "'%s' '%s' '%s'", py && *py ? py : "/usr/bin/python3", script, tio_dir);
        status = system(cmd);
        if (status != 0) fprintf(stderr, "python check failed (%d): %s\n", status, cmd);
    }
    MPI_Bcast(&status, 1, MPI_INT, 0, MPI_COMM_WORLD);
    return status;
}
