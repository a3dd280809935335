/* HDF5 layer: reading data sets (ranges, index lists, type conversion, errors naming file,
 * data set and shape), attributes, the flat-part selection, the output writer.
 * Runs alone or under `mpirun -n 2` (tests/integration/h5io_mpi.sh): every test is collective,
 * each rank reads/writes its own selection. Checkpoints: test_h5ckpt.c. */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tio.h"
#include "io/h5util.h"

static char data_h5[TIO_PATH], garbage[TIO_PATH], truncated[TIO_PATH], empty[TIO_PATH];

/* x (10,3,2) float32 = 100 i + 10 j + k; i32 (10,4) int32 = 4 i + j - 20; u8 (10) uint8 = 25 i;
 * f64 (10,2) double = i + 0.25 j; bad (10,2) float32 with +Inf at [3][0], NaN at [7][1];
 * strs (3) strings; grp/inner (5). Root attrs of every kind. Rank 0 writes, serially. */
static void make_fixtures(void) {
    snprintf(data_h5, sizeof data_h5, "%s/data.h5", tio_dir);
    snprintf(garbage, sizeof garbage, "%s/garbage.h5", tio_dir);
    snprintf(truncated, sizeof truncated, "%s/truncated.h5", tio_dir);
    snprintf(empty, sizeof empty, "%s/empty.h5", tio_dir);
    if (tio_rank == 0) {
        hid_t file = H5Fcreate(data_h5, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
        float x[10][3][2], bad[10][2];
        int32_t i32[10][4];
        uint8_t u8[10];
        double f64[10][2];
        for (int i = 0; i < 10; i++) {
            for (int j = 0; j < 3; j++)
                for (int k = 0; k < 2; k++) x[i][j][k] = (float)(100 * i + 10 * j + k);
            for (int j = 0; j < 4; j++) i32[i][j] = 4 * i + j - 20;
            u8[i] = (uint8_t)(25 * i);
            f64[i][0] = i, f64[i][1] = i + 0.25;
            bad[i][0] = bad[i][1] = (float)i;
        }
        bad[3][0] = INFINITY;
        bad[7][1] = NAN;
        tio_dataset(file, "x", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 3, (hsize_t[]){10, 3, 2}, x);
        tio_dataset(file, "i32", H5T_STD_I32LE, H5T_NATIVE_INT32, 2, (hsize_t[]){10, 4}, i32);
        tio_dataset(file, "u8", H5T_STD_U8LE, H5T_NATIVE_UINT8, 1, (hsize_t[]){10}, u8);
        tio_dataset(file, "f64", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, (hsize_t[]){10, 2}, f64);
        tio_dataset(file, "bad", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, (hsize_t[]){10, 2}, bad);
        static float lng[1000][3][2]; /* "xlong": rows like x's, for long scattered row lists */
        for (int i = 0; i < 1000; i++)
            for (int j = 0; j < 3; j++)
                for (int k = 0; k < 2; k++) lng[i][j][k] = (float)(100 * i + 10 * j + k);
        tio_dataset(file, "xlong", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 3, (hsize_t[]){1000, 3, 2}, lng);
        hid_t str = h5_vlen_string_type();
        const char *strs[3] = {"a", "bc", "def"};
        tio_dataset(file, "strs", str, str, 1, (hsize_t[]){3}, strs);
        float inner[5] = {1, 2, 3, 4, 5};
        hid_t g = H5Gcreate2(file, "grp", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        tio_dataset(g, "inner", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, (hsize_t[]){5}, inner);
        H5Gclose(g);
        const char *gen = "cascade-test";
        tio_attr(file, "generator", str, 0, NULL, &gen);
        hid_t fixed = H5Tcopy(H5T_C_S1);
        H5Tset_size(fixed, 8);
        tio_attr(file, "kind", fixed, 0, NULL, "airshow\0");
        int64_t version = 3, dims3[3] = {9, 9, 80};
        double spacing = 1500.5;
        tio_attr(file, "version", H5T_NATIVE_INT64, 0, NULL, &version);
        tio_attr(file, "spacing_m", H5T_NATIVE_DOUBLE, 0, NULL, &spacing);
        tio_attr(file, "dims", H5T_NATIVE_INT64, 1, (hsize_t[]){3}, dims3);
        H5Tclose(fixed);
        H5Tclose(str);
        H5Fclose(file);
        tio_write_text(garbage, "this is not an HDF5 file, just text\n");
        tio_write_text(empty, "");
        tio_copy_truncated(data_h5, truncated, 0.5);
    }
    MPI_Barrier(MPI_COMM_WORLD);
}

static cascade_h5file *open_data(void) {
    cascade_h5file *f = NULL;
    cascade_status st = cascade_h5_open(data_h5, MPI_COMM_WORLD, &f);
    CU_ASSERT_EQUAL(st, CASCADE_OK);
    if (st) fprintf(stderr, "open: %s\n", cascade_errmsg());
    return f;
}

static void test_open_errors(void) {
    cascade_h5file *f = NULL;
    char missing[TIO_PATH];
    snprintf(missing, sizeof missing, "%s/nothing-here.h5", tio_dir);
    tio_expect(cascade_h5_open(missing, MPI_COMM_WORLD, &f), CASCADE_EIO, missing, "no such file", NULL);
    CU_ASSERT_PTR_NULL(f);
    tio_expect(cascade_h5_open(garbage, MPI_COMM_WORLD, &f), CASCADE_EIO, garbage, "not an HDF5 file", NULL);
    tio_expect(cascade_h5_open(empty, MPI_COMM_WORLD, &f), CASCADE_EIO, empty, "not an HDF5 file", NULL);
    tio_expect(cascade_h5_open(truncated, MPI_COMM_WORLD, &f), CASCADE_EIO, truncated, "truncated", NULL);
    tio_expect(cascade_h5_open(tio_dir, MPI_COMM_WORLD, &f), CASCADE_EIO, "directory", NULL);
    CU_ASSERT_PTR_NULL(f);
}

static void test_info(void) {
    cascade_h5file *f = open_data();
    if (!f) return;
    cascade_h5_info info;
    CU_ASSERT_EQUAL(cascade_h5_info_of(f, "x", &info), CASCADE_OK);
    int64_t xdims[3] = {10, 3, 2};
    cascade_shape xs = cascade_shape_make(3, xdims);
    CU_ASSERT(cascade_shape_equal(&info.shape, &xs));
    CU_ASSERT_EQUAL(info.type_class, CASCADE_H5_FLOAT);
    CU_ASSERT_EQUAL(info.type_bytes, 4);
    CU_ASSERT_EQUAL(cascade_h5_info_of(f, "/i32", &info), CASCADE_OK);
    CU_ASSERT_EQUAL(info.type_class, CASCADE_H5_INT);
    CU_ASSERT_EQUAL(cascade_h5_info_of(f, "u8", &info), CASCADE_OK);
    CU_ASSERT_EQUAL(info.type_class, CASCADE_H5_UINT);
    CU_ASSERT_EQUAL(info.shape.ndim, 1);
    CU_ASSERT_EQUAL(cascade_h5_info_of(f, "grp/inner", &info), CASCADE_OK);
    CU_ASSERT_EQUAL(info.shape.d[0], 5);
    /* missing: names the file and the data set and lists what the root holds */
    tio_expect(cascade_h5_info_of(f, "xmax", &info), CASCADE_EDATA, data_h5, "'xmax'",
               "bad, f64, grp, i32, strs, u8, x", NULL);
    tio_expect(cascade_h5_info_of(f, "/grp/nope", &info), CASCADE_EDATA, "'/grp/nope'", "'/grp' holds: inner",
               NULL);
    tio_expect(cascade_h5_info_of(f, "/x/deeper", &info), CASCADE_EDATA, "'/x/deeper'", NULL);
    tio_expect(cascade_h5_info_of(f, "grp", &info), CASCADE_EDATA, "'grp' is a group", NULL);
    CU_ASSERT_EQUAL(cascade_h5_kind_of(f, "grp"), CASCADE_H5_GROUP);
    CU_ASSERT_EQUAL(cascade_h5_kind_of(f, "/grp/inner"), CASCADE_H5_DATASET);
    CU_ASSERT_EQUAL(cascade_h5_kind_of(f, "/grp/inner/x"), CASCADE_H5_NONE);
    CU_ASSERT_EQUAL(cascade_h5_kind_of(f, "nope/x"), CASCADE_H5_NONE);
    if (tio_rank == tio_size - 1) { /* describing is local: one rank alone, no hang */
        char *text = NULL;
        CU_ASSERT_EQUAL(cascade_h5_info_of(f, "f64", &info), CASCADE_OK);
        CU_ASSERT_EQUAL(cascade_h5_attr_string(f, "/", "generator", &text), CASCADE_OK);
        cascade_free(text);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    cascade_h5_names names;
    CU_ASSERT_EQUAL(cascade_h5_children(f, "/", &names), CASCADE_OK);
    CU_ASSERT_EQUAL(names.count, 8); /* with xlong */
    if (names.count == 8) CU_ASSERT_STRING_EQUAL(names.names[2], "grp");
    cascade_h5_names_free(&names);
    tio_expect(cascade_h5_children(f, "/x", &names), CASCADE_EDATA, "not a group", NULL);
    tio_expect(cascade_h5_children(f, "/params", &names), CASCADE_EDATA, "no group '/params'", NULL);
    cascade_h5_close(f);
}

static int x_value_ok(const float *row, int64_t i) {
    for (int j = 0; j < 3; j++)
        for (int k = 0; k < 2; k++)
            if (row[2 * j + k] != (float)(100 * i + 10 * j + k)) return 0;
    return 1;
}

static void test_read_range(void) {
    cascade_h5file *f = open_data();
    if (!f) return;
    float buf[10 * 6];
    /* every rank a different range */
    int64_t start = 1 + 3 * tio_rank, count = 4 - tio_rank;
    CU_ASSERT_EQUAL(cascade_h5_read_rows(f, "x", start, count, buf), CASCADE_OK);
    for (int64_t r = 0; r < count; r++) CU_ASSERT(x_value_ok(buf + 6 * r, start + r));
    /* only the last rank reads; the others take part with nothing */
    int last = tio_rank == tio_size - 1;
    memset(buf, 0, sizeof buf);
    CU_ASSERT_EQUAL(cascade_h5_read_rows(f, "/x", last ? 0 : 5, last ? 10 : 0, buf), CASCADE_OK);
    if (last)
        for (int64_t r = 0; r < 10; r++) CU_ASSERT(x_value_ok(buf + 6 * r, r));
    tio_expect(cascade_h5_read_rows(f, "x", 8, 3, buf), CASCADE_EDATA, data_h5, "'x'", "(10,3,2)", "10 rows",
               "row 10", NULL);
    tio_expect(cascade_h5_read_rows(f, "y", 0, 1, buf), CASCADE_EDATA, data_h5, "'y'", NULL);
    tio_expect(cascade_h5_read_rows(f, "strs", 0, 1, buf), CASCADE_EDATA, "'strs'", "(3)", "string", NULL);
    if (tio_size > 1) { /* one rank out of range: all ranks fail alike, none hangs */
        cascade_status st = cascade_h5_read_rows(f, "x", tio_rank == 1 ? 9 : 0, 2, buf);
        tio_expect(st, CASCADE_EDATA, "rank 1: ", data_h5, "(10,3,2)", NULL);
    }
    cascade_h5_close(f);
}

static void test_read_index_list(void) {
    cascade_h5file *f = open_data();
    if (!f) return;
    static const int64_t lists[2][6] = {{0, 1, 2, 5, 9}, {3, 4, 8}};
    const int64_t *rows = lists[tio_rank % 2];
    int64_t n = tio_rank % 2 ? 3 : 5;
    float buf[10 * 6];
    CU_ASSERT_EQUAL(cascade_h5_read_rows_at(f, "x", rows, n, buf), CASCADE_OK);
    for (int64_t r = 0; r < n; r++) CU_ASSERT(x_value_ok(buf + 6 * r, rows[r]));
    /* rank 0 reads nothing */
    CU_ASSERT_EQUAL(cascade_h5_read_rows_at(f, "x", lists[1], tio_rank == 0 ? 0 : 3, buf), CASCADE_OK);
    if (tio_rank != 0) CU_ASSERT(x_value_ok(buf + 6 * 2, 8));
    const int64_t unsorted[3] = {4, 2, 6}, out_of_range[2] = {3, 10}, dup[3] = {1, 1, 2};
    tio_expect(cascade_h5_read_rows_at(f, "x", unsorted, 3, buf), CASCADE_EINTERNAL, "increase", NULL);
    tio_expect(cascade_h5_read_rows_at(f, "x", dup, 3, buf), CASCADE_EINTERNAL, "increase", NULL);
    tio_expect(cascade_h5_read_rows_at(f, "x", out_of_range, 2, buf), CASCADE_EDATA, data_h5, "'x'", "(10,3,2)",
               "row 10", NULL);
    cascade_h5_close(f);
}

/* Hundreds of runs of consecutive rows (the selection is built by merging halves): every row
 * read is the one asked for, on every rank (each its own list). */
static void test_read_long_list(void) {
    cascade_h5file *f = open_data();
    if (!f) return;
    static int64_t rows[1000];
    static float buf[1000 * 6];
    int64_t n = 0;
    for (int64_t i = 0; i < 1000; i++)
        if ((i * 7 + tio_rank) % 5 < 3 && i % 11 != 0) rows[n++] = i; /* runs of 1-3 rows, gaps */
    CU_ASSERT_EQUAL(cascade_h5_read_rows_at(f, "xlong", rows, n, buf), CASCADE_OK);
    int right = 0;
    for (int64_t r = 0; r < n; r++) right += x_value_ok(buf + 6 * r, rows[r]);
    CU_ASSERT_EQUAL(right, n);
    cascade_h5_close(f);
}

static void test_conversion(void) {
    cascade_h5file *f = open_data();
    if (!f) return;
    float buf[40];
    int64_t rows[2] = {1, 9};
    CU_ASSERT_EQUAL(cascade_h5_read_rows_at(f, "i32", rows, 2, buf), CASCADE_OK);
    for (int j = 0; j < 4; j++) {
        CU_ASSERT_EQUAL(buf[j], (float)(4 + j - 20));
        CU_ASSERT_EQUAL(buf[4 + j], (float)(36 + j - 20));
    }
    CU_ASSERT_EQUAL(cascade_h5_read_rows(f, "u8", 0, 10, buf), CASCADE_OK);
    for (int i = 0; i < 10; i++) CU_ASSERT_EQUAL(buf[i], (float)(25 * i));
    CU_ASSERT_EQUAL(cascade_h5_read_rows(f, "f64", 2, 3, buf), CASCADE_OK);
    for (int i = 0; i < 3; i++) {
        CU_ASSERT_EQUAL(buf[2 * i], (float)(2 + i));
        CU_ASSERT_EQUAL(buf[2 * i + 1], (float)(2 + i + 0.25));
    }
    cascade_h5_close(f);
}

static void test_finite(void) {
    cascade_h5file *f = open_data();
    if (!f) return;
    float buf[20];
    CU_ASSERT_EQUAL(cascade_h5_read_rows(f, "bad", 0, 10, buf), CASCADE_OK);
    tio_expect(cascade_h5_check_finite(data_h5, "bad", buf, 10, 2, 0, NULL), CASCADE_EDATA, data_h5, "'bad'",
               "+Inf at row 3", "element 0", NULL);
    int64_t rows[3] = {2, 7, 8};
    CU_ASSERT_EQUAL(cascade_h5_read_rows_at(f, "bad", rows, 3, buf), CASCADE_OK);
    tio_expect(cascade_h5_check_finite(data_h5, "bad", buf, 3, 2, 0, rows), CASCADE_EDATA, "NaN at row 7",
               "element 1", NULL);
    CU_ASSERT_EQUAL(cascade_h5_read_rows(f, "bad", 4, 3, buf), CASCADE_OK);
    CU_ASSERT_EQUAL(cascade_h5_check_finite(data_h5, "bad", buf, 3, 2, 4, NULL), CASCADE_OK);
    buf[5] = -INFINITY;
    tio_expect(cascade_h5_check_finite(data_h5, "bad", buf, 3, 2, 4, NULL), CASCADE_EDATA, "-Inf at row 6", NULL);
    cascade_h5_close(f);
}

static void test_attributes(void) {
    cascade_h5file *f = open_data();
    if (!f) return;
    char *text = NULL;
    CU_ASSERT_EQUAL(cascade_h5_attr_string(f, "/", "generator", &text), CASCADE_OK);
    if (text) CU_ASSERT_STRING_EQUAL(text, "cascade-test");
    cascade_free(text);
    CU_ASSERT_EQUAL(cascade_h5_attr_string(f, "/", "kind", &text), CASCADE_OK); /* fixed length */
    if (text) CU_ASSERT_STRING_EQUAL(text, "airshow");
    cascade_free(text);
    int64_t version = 0;
    double spacing = 0;
    CU_ASSERT_EQUAL(cascade_h5_attr_int(f, "/", "version", &version), CASCADE_OK);
    CU_ASSERT_EQUAL(version, 3);
    CU_ASSERT_EQUAL(cascade_h5_attr_double(f, "/", "spacing_m", &spacing), CASCADE_OK);
    CU_ASSERT_EQUAL(spacing, 1500.5);
    CU_ASSERT_EQUAL(cascade_h5_attr_double(f, "/", "version", &spacing), CASCADE_OK); /* int -> double */
    CU_ASSERT_EQUAL(spacing, 3.0);
    tio_expect(cascade_h5_attr_int(f, "/", "spacing_m", &version), CASCADE_EDATA, "'spacing_m'", "integer", NULL);
    tio_expect(cascade_h5_attr_int(f, "/", "dims", &version), CASCADE_EDATA, "holds 3 values", NULL);
    tio_expect(cascade_h5_attr_int(f, "/", "seed", &version), CASCADE_EDATA, data_h5, "no attribute 'seed'",
               "dims, generator, kind, spacing_m, version", NULL);
    tio_expect(cascade_h5_attr_int(f, "/nope", "seed", &version), CASCADE_EDATA, "'/nope'", NULL);
    CU_ASSERT_EQUAL(cascade_h5_attr_text(f, "/", "dims", &text), CASCADE_OK);
    if (text) CU_ASSERT_STRING_EQUAL(text, "[9, 9, 80]");
    cascade_free(text);
    CU_ASSERT_EQUAL(cascade_h5_attr_text(f, "/", "spacing_m", &text), CASCADE_OK);
    if (text) CU_ASSERT_STRING_EQUAL(text, "1500.5");
    cascade_free(text);
    CU_ASSERT(cascade_h5_attr_exists(f, "/", "kind"));
    CU_ASSERT(!cascade_h5_attr_exists(f, "/", "nope"));
    CU_ASSERT(!cascade_h5_attr_exists(f, "/nope", "kind"));
    cascade_h5_names names;
    CU_ASSERT_EQUAL(cascade_h5_attr_names(f, "/", &names), CASCADE_OK);
    CU_ASSERT_EQUAL(names.count, 5);
    if (names.count == 5) CU_ASSERT_STRING_EQUAL(names.names[4], "version");
    cascade_h5_names_free(&names);
    cascade_h5_close(f);
}

/* The flat-part selection against brute force: every (offset, count) of a few shapes reads
 * exactly the values offset..offset+count-1, in order (in-memory file, this rank alone). */
static void test_select_flat(void) {
    static const int64_t shapes[][4] = {{3, 4, 5, 0}, {7, 0, 0, 0}, {2, 1, 3, 2}, {1, 6, 1, 0}};
    static const int ndims[] = {3, 1, 4, 3};
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_fapl_core(fapl, 1 << 16, 0);
    hid_t file = H5Fcreate("flat-select.h5", H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    int failures = 0;
    for (int s = 0; s < 4; s++) {
        cascade_shape shape = cascade_shape_make(ndims[s], shapes[s]);
        int64_t total = cascade_shape_numel(&shape);
        hsize_t dims[4];
        float values[60], got[60];
        for (int i = 0; i < ndims[s]; i++) dims[i] = (hsize_t)shapes[s][i];
        for (int64_t i = 0; i < total; i++) values[i] = (float)i;
        char name[16];
        snprintf(name, sizeof name, "s%d", s);
        tio_dataset(file, name, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, ndims[s], dims, values);
        hid_t dset = H5Dopen2(file, name, H5P_DEFAULT), space = H5Dget_space(dset);
        for (int64_t off = 0; off <= total; off++)
            for (int64_t cnt = 0; off + cnt <= total; cnt++) {
                hid_t mem = h5_mem_space(cnt);
                int ok = h5_select_flat(space, &shape, off, cnt, "mem", name) == CASCADE_OK &&
                         H5Sget_select_npoints(space) == cnt &&
                         H5Dread(dset, H5T_NATIVE_FLOAT, mem, space, H5P_DEFAULT, got) >= 0;
                for (int64_t i = 0; ok && i < cnt; i++) ok = got[i] == (float)(off + i);
                failures += !ok;
                H5Sclose(mem);
            }
        tio_expect(h5_select_flat(space, &shape, total, 1, "mem", name), CASCADE_EINTERNAL, "outside", NULL);
        H5Sclose(space);
        H5Dclose(dset);
    }
    CU_ASSERT_EQUAL(failures, 0);
    H5Fclose(file);
    H5Pclose(fapl);
}

/* Output files: rows written by their ranks, attributes, .tmp until commit, abort removes. */
static void test_output_writer(void) {
    char out[TIO_PATH], tmp[TIO_PATH + 8], aborted[TIO_PATH];
    snprintf(out, sizeof out, "%s/predict.h5", tio_dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", out);
    snprintf(aborted, sizeof aborted, "%s/aborted.h5", tio_dir);
    cascade_h5writer *w = NULL;
    CU_ASSERT_EQUAL_FATAL(cascade_h5w_create(out, MPI_COMM_WORLD, &w), CASCADE_OK);
    CU_ASSERT_STRING_EQUAL(cascade_h5w_filename(w), tmp);
    int64_t dims[3] = {7, 2, 3};
    cascade_shape shape = cascade_shape_make(3, dims);
    CU_ASSERT_EQUAL(cascade_h5w_create_rows(w, "pred", &shape), CASCADE_OK);
    /* rows dealt in blocks: rank r writes [7r/size, 7(r+1)/size) */
    int64_t first = 7 * tio_rank / tio_size, end = 7 * (tio_rank + 1) / tio_size;
    float rows[7 * 6];
    for (int64_t i = 0; i < (end - first) * 6; i++) rows[i] = (float)(first * 6 + i) + 0.5f;
    CU_ASSERT_EQUAL(cascade_h5w_write_rows(w, "pred", first, end - first, rows), CASCADE_OK);
    CU_ASSERT_EQUAL(cascade_h5w_attr_string(w, "/", "checkpoint", "runs/x/step-1.h5"), CASCADE_OK);
    CU_ASSERT_EQUAL(cascade_h5w_attr_double(w, "/pred", "scale", 2.5), CASCADE_OK);
    tio_expect(cascade_h5w_write_rows(w, "pred", 5, 3, rows), CASCADE_EINTERNAL, tmp, "'pred'", "(7,2,3)", NULL);
    tio_expect(cascade_h5w_write_rows(w, "nope", 0, 1, rows), CASCADE_EINTERNAL, "'nope'", NULL);
    tio_expect(cascade_h5w_create_rows(w, "pred", &shape), CASCADE_EINTERNAL, "written twice", NULL);
    CU_ASSERT(access(out, F_OK) != 0); /* not there before commit */
    CU_ASSERT_EQUAL(cascade_h5w_commit(w), CASCADE_OK);
    CU_ASSERT(access(out, F_OK) == 0);
    CU_ASSERT(access(tmp, F_OK) != 0);

    cascade_h5file *f = NULL;
    CU_ASSERT_EQUAL_FATAL(cascade_h5_open(out, MPI_COMM_WORLD, &f), CASCADE_OK);
    float all[7 * 6];
    CU_ASSERT_EQUAL(cascade_h5_read_rows(f, "pred", 0, 7, all), CASCADE_OK);
    for (int i = 0; i < 42; i++) CU_ASSERT_EQUAL(all[i], (float)i + 0.5f);
    char *text = NULL;
    double scale = 0;
    CU_ASSERT_EQUAL(cascade_h5_attr_string(f, "/", "checkpoint", &text), CASCADE_OK);
    if (text) CU_ASSERT_STRING_EQUAL(text, "runs/x/step-1.h5");
    cascade_free(text);
    CU_ASSERT_EQUAL(cascade_h5_attr_double(f, "pred", "scale", &scale), CASCADE_OK);
    CU_ASSERT_EQUAL(scale, 2.5);
    cascade_h5_close(f);

    CU_ASSERT_EQUAL_FATAL(cascade_h5w_create(aborted, MPI_COMM_WORLD, &w), CASCADE_OK);
    cascade_h5w_abort(w);
    MPI_Barrier(MPI_COMM_WORLD);
    CU_ASSERT(access(aborted, F_OK) != 0);
    snprintf(tmp, sizeof tmp, "%s.tmp", aborted);
    CU_ASSERT(access(tmp, F_OK) != 0);
    snprintf(tmp, sizeof tmp, "%s/garbage.h5/out.h5", tio_dir); /* a file where a directory should be */
    tio_expect(cascade_h5w_create(tmp, MPI_COMM_WORLD, &w), CASCADE_EIO, tmp, "not a directory", NULL);
}

int main(int argc, char **argv) {
    tio_init(&argc, &argv, "h5io");
    CU_pSuite s = CU_add_suite("h5io", NULL, NULL);
    CU_add_test(s, "fixtures", make_fixtures);
    CU_add_test(s, "open errors", test_open_errors);
    CU_add_test(s, "shape, type, listing", test_info);
    CU_add_test(s, "row ranges", test_read_range);
    CU_add_test(s, "row index lists", test_read_index_list);
    CU_add_test(s, "long scattered row lists", test_read_long_list);
    CU_add_test(s, "int/uint/double to float", test_conversion);
    CU_add_test(s, "NaN/Inf with row index", test_finite);
    CU_add_test(s, "attributes", test_attributes);
    CU_add_test(s, "flat-part selection", test_select_flat);
    CU_add_test(s, "output writer", test_output_writer);
    return tio_run();
}
