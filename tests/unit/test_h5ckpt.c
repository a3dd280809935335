/* Checkpoints: write -> read round trip (parts written by different ranks, attributes, h5py
 * reads them), the .tmp/rename/LATEST protocol, a simulated crash, keep_last, files written
 * from a PyTorch state_dict with h5py (parameters only), errors naming path and shapes.
 * Runs alone or under `mpirun -n 2` (tests/integration/h5io_mpi.sh). */
#include <CUnit/Basic.h>
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "io/h5util.h"
#include "tio.h"

static const char JOB_TEXT[] = "[job]\nname = test\nseed = 7 ; é\n\n[model.conv1]\ntype = conv2d\n";
static const int64_t WEIGHT_DIMS[4] = {4, 3, 2, 2}; /* 48 values */

/* Rank r's part of n values, cut off the even split so parts are not row aligned. */
static void part_of(int64_t n, int rank, int size, int64_t *offset, int64_t *count) {
    int64_t begin = rank == 0 ? 0 : n * rank / size + 1, end = rank + 1 == size ? n : n * (rank + 1) / size + 1;
    *offset = begin;
    *count = end - begin;
}

static void path_in(char *out, const char *dir, const char *name) {
    CU_ASSERT(snprintf(out, TIO_PATH, "%s/%s", dir, name) < TIO_PATH);
}

/* A checkpoint of step `step` with params = base + index, written in parts; not finished. */
static cascade_h5writer *write_ckpt(const char *dir, int64_t step, float base) {
    char name[64];
    snprintf(name, sizeof name, "step-%08lld.h5", (long long)step);
    cascade_h5writer *w = NULL;
    cascade_status st = cascade_ckpt_begin(dir, name, MPI_COMM_WORLD, &w);
    CU_ASSERT_EQUAL(st, CASCADE_OK);
    if (st) return NULL;
    cascade_ckpt_meta meta = {.step = step, .epoch = 2, .samples_seen = 128 * step, .world_size = tio_size,
                              .seed = 7, .job = (char *)JOB_TEXT};
    CU_ASSERT_EQUAL(cascade_ckpt_write_meta(w, &meta), CASCADE_OK);
    cascade_shape wshape = cascade_shape_make(4, WEIGHT_DIMS);
    float values[48];
    for (int i = 0; i < 48; i++) values[i] = base + (float)i;
    int64_t off, cnt;
    part_of(48, tio_rank, tio_size, &off, &cnt);
    CU_ASSERT_EQUAL(cascade_h5w_write_floats(w, "/params/model/conv1/weight", &wshape, values + off, off, cnt),
                    CASCADE_OK);
    CU_ASSERT_EQUAL(cascade_h5w_write_floats(w, "/optimizer/model/conv1/weight/exp_avg", &wshape, values + off,
                                             off, cnt), CASCADE_OK);
    int last = tio_rank == tio_size - 1;
    int64_t four = 4;
    cascade_shape bshape = cascade_shape_make(1, &four);
    CU_ASSERT_EQUAL(cascade_h5w_write_floats(w, "/params/model/conv1/bias", &bshape, values, 0, last ? 4 : 0),
                    CASCADE_OK);
    CU_ASSERT_EQUAL(cascade_h5w_attr_int(w, "/optimizer/model/conv1/weight", "step", step), CASCADE_OK);
    CU_ASSERT_EQUAL(cascade_h5w_attr_int(w, "/data", "epoch", 2), CASCADE_OK);
    CU_ASSERT_EQUAL(cascade_h5w_attr_int(w, "/data", "cursor", 128 * step % 1000), CASCADE_OK);
    return w;
}

static void finish_ckpt(const char *dir, int64_t step, float base) {
    cascade_h5writer *w = write_ckpt(dir, step, base);
    if (w) CU_ASSERT_EQUAL(cascade_ckpt_finish(w), CASCADE_OK);
}

static int count_tmp_files(const char *dir) {
    int n = 0;
    DIR *d = opendir(dir);
    if (!d) return -1;
    for (struct dirent *e; (e = readdir(d));) {
        size_t len = strlen(e->d_name);
        n += len > 4 && strcmp(e->d_name + len - 4, ".tmp") == 0;
    }
    closedir(d);
    return n;
}

/* LATEST: the file name alone (CONTRACT.md); LATEST.sums: its record
 * "NAME size=BYTES crc32c=HEX" first (then older files' records). */
static void expect_latest(const char *dir, const char *name) {
    char path[TIO_PATH], file[TIO_PATH], text[4096], want[512];
    path_in(path, dir, "LATEST");
    tio_read_text(path, text, sizeof text);
    snprintf(want, sizeof want, "%s\n", name);
    CU_ASSERT_STRING_EQUAL(text, want);
    path_in(path, dir, "LATEST.sums");
    path_in(file, dir, name);
    tio_read_text(path, text, sizeof text);
    FILE *fp = fopen(file, "rb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
    static unsigned char bytes[1 << 20];
    size_t n = fread(bytes, 1, sizeof bytes, fp);
    fclose(fp);
    snprintf(want, sizeof want, "%s size=%zu crc32c=%08x\n", name, n, (unsigned)cascade_crc32c(0, bytes, n));
    CU_ASSERT_NSTRING_EQUAL(text, want, strlen(want));
}

static void test_round_trip(void) {
    char run[TIO_PATH], dir[TIO_PATH], file[TIO_PATH], resolved[TIO_PATH];
    path_in(run, tio_dir, "run1");
    path_in(dir, run, "checkpoints");
    path_in(file, dir, "step-00000100.h5");
    finish_ckpt(dir, 100, 0.f);
    MPI_Barrier(MPI_COMM_WORLD);
    CU_ASSERT_EQUAL(count_tmp_files(dir), 0);
    expect_latest(dir, "step-00000100.h5");
    CU_ASSERT_EQUAL(cascade_ckpt_resolve(run, resolved, sizeof resolved), CASCADE_OK);
    CU_ASSERT_STRING_EQUAL(resolved, file);
    CU_ASSERT_EQUAL(cascade_ckpt_resolve(dir, resolved, sizeof resolved), CASCADE_OK);
    CU_ASSERT_STRING_EQUAL(resolved, file);
    CU_ASSERT_EQUAL(cascade_ckpt_resolve(file, resolved, sizeof resolved), CASCADE_OK);
    CU_ASSERT_STRING_EQUAL(resolved, file);
    tio_expect(cascade_ckpt_resolve(tio_dir, resolved, sizeof resolved), CASCADE_EIO, tio_dir,
               "no complete checkpoint", NULL);
    path_in(resolved, tio_dir, "nope");
    tio_expect(cascade_ckpt_resolve(resolved, resolved, sizeof resolved), CASCADE_EIO, "nope", NULL);

    cascade_h5file *f = NULL;
    CU_ASSERT_EQUAL_FATAL(cascade_ckpt_open(run, MPI_COMM_WORLD, &f), CASCADE_OK);
    cascade_ckpt_meta meta;
    CU_ASSERT_EQUAL(cascade_ckpt_read_meta(f, &meta), CASCADE_OK);
    CU_ASSERT_EQUAL(meta.version, 1);
    CU_ASSERT_EQUAL(meta.step, 100);
    CU_ASSERT_EQUAL(meta.epoch, 2);
    CU_ASSERT_EQUAL(meta.samples_seen, 12800);
    CU_ASSERT_EQUAL(meta.world_size, tio_size);
    CU_ASSERT_EQUAL(meta.seed, 7);
    if (meta.job) CU_ASSERT_STRING_EQUAL(meta.job, JOB_TEXT);
    cascade_ckpt_meta_free(&meta);

    cascade_shape wshape = cascade_shape_make(4, WEIGHT_DIMS);
    float got[48];
    CU_ASSERT_EQUAL(cascade_h5_read_floats(f, "/params/model/conv1/weight", &wshape, got), CASCADE_OK);
    for (int i = 0; i < 48; i++) CU_ASSERT_EQUAL(got[i], (float)i);
    int64_t off, cnt; /* each rank its own part, as ZeRO-1 owners would */
    part_of(48, (tio_rank + 1) % tio_size, tio_size, &off, &cnt);
    memset(got, 0, sizeof got);
    CU_ASSERT_EQUAL(cascade_h5_read_floats_part(f, "/optimizer/model/conv1/weight/exp_avg", &wshape, off, cnt,
                                                got), CASCADE_OK);
    for (int64_t i = 0; i < cnt; i++) CU_ASSERT_EQUAL(got[i], (float)(off + i));
    int64_t four = 4;
    cascade_shape bshape = cascade_shape_make(1, &four);
    CU_ASSERT_EQUAL(cascade_h5_read_floats(f, "params/model/conv1/bias", &bshape, got), CASCADE_OK);
    CU_ASSERT_EQUAL(got[3], 3.0f);
    int64_t other[4] = {4, 3, 3, 3};
    cascade_shape wrong = cascade_shape_make(4, other);
    tio_expect(cascade_h5_read_floats(f, "/params/model/conv1/weight", &wrong, got), CASCADE_EDATA, file,
               "'/params/model/conv1/weight'", "shape (4,3,2,2)", "expected (4,3,3,3)", NULL);
    tio_expect(cascade_h5_read_floats(f, "/params/model/conv2/weight", &wshape, got), CASCADE_EDATA, file,
               "'/params/model/conv2/weight'", "group '/params/model' holds: conv1", NULL);

    CU_ASSERT_EQUAL(cascade_h5_kind_of(f, "/params/model/conv1"), CASCADE_H5_GROUP);
    cascade_h5_names names;
    CU_ASSERT_EQUAL(cascade_h5_children(f, "/params/model/conv1", &names), CASCADE_OK);
    CU_ASSERT_EQUAL(names.count, 2);
    if (names.count == 2) {
        CU_ASSERT_STRING_EQUAL(names.names[0], "bias");
        CU_ASSERT_STRING_EQUAL(names.names[1], "weight");
    }
    cascade_h5_names_free(&names);
    int64_t value = 0;
    CU_ASSERT_EQUAL(cascade_h5_attr_int(f, "/optimizer/model/conv1/weight", "step", &value), CASCADE_OK);
    CU_ASSERT_EQUAL(value, 100);
    CU_ASSERT_EQUAL(cascade_h5_attr_int(f, "/data", "cursor", &value), CASCADE_OK);
    CU_ASSERT_EQUAL(value, 800);
    cascade_h5_close(f);

    /* h5py reads the strings as str, the params as float32 in PyTorch shapes */
    CU_ASSERT_EQUAL(tio_python("import sys, h5py, numpy as np\n"
                               "f = h5py.File(sys.argv[1] + '/run1/checkpoints/step-00000100.h5', 'r')\n"
                               "assert f.attrs['format'] == 'cascade-checkpoint', f.attrs['format']\n"
                               "assert isinstance(f.attrs['job'], str) and 'seed = 7 ; \\u00e9' in f.attrs['job']\n"
                               "assert int(f.attrs['step']) == 100 and int(f.attrs['version']) == 1\n"
                               "w = f['params/model/conv1/weight']\n"
                               "assert w.dtype == np.float32 and w.shape == (4, 3, 2, 2), (w.dtype, w.shape)\n"
                               "assert (w[()].ravel() == np.arange(48)).all()\n"
                               "assert int(f['data'].attrs['epoch']) == 2\n"),
                    0);
}

/* begin + write without finish: LATEST keeps naming the previous checkpoint, the .tmp left
 * behind is never picked up, keep_last removes it. */
static void test_crash(void) {
    char run[TIO_PATH], dir[TIO_PATH], tmp[TIO_PATH], saved[TIO_PATH], resolved[TIO_PATH];
    path_in(run, tio_dir, "run1");
    path_in(dir, run, "checkpoints");
    path_in(tmp, dir, "step-00000200.h5.tmp");
    path_in(saved, tio_dir, "crash-remnant.h5");
    cascade_h5writer *w = write_ckpt(dir, 200, 1000.f);
    CU_ASSERT_PTR_NOT_NULL_FATAL(w);
    CU_ASSERT_STRING_EQUAL(cascade_h5w_filename(w), tmp);
    MPI_Barrier(MPI_COMM_WORLD);
    if (tio_rank == 0) tio_copy_truncated(tmp, saved, 1.0); /* what a killed job leaves */
    cascade_h5w_abort(w);
    if (tio_rank == 0) CU_ASSERT_EQUAL(rename(saved, tmp), 0);
    MPI_Barrier(MPI_COMM_WORLD);
    CU_ASSERT(access(tmp, F_OK) == 0);
    expect_latest(dir, "step-00000100.h5");
    CU_ASSERT_EQUAL(cascade_ckpt_resolve(run, resolved, sizeof resolved), CASCADE_OK);
    CU_ASSERT(strstr(resolved, "step-00000100.h5") != NULL && strstr(resolved, ".tmp") == NULL);
    cascade_h5file *f = NULL;
    cascade_ckpt_meta meta = {0};
    CU_ASSERT_EQUAL_FATAL(cascade_ckpt_open(run, MPI_COMM_WORLD, &f), CASCADE_OK);
    CU_ASSERT_EQUAL(cascade_ckpt_read_meta(f, &meta), CASCADE_OK);
    CU_ASSERT_EQUAL(meta.step, 100);
    cascade_ckpt_meta_free(&meta);
    cascade_h5_close(f);

    MPI_Barrier(MPI_COMM_WORLD);
    finish_ckpt(dir, 300, 3000.f); /* the resumed run goes on */
    MPI_Barrier(MPI_COMM_WORLD);
    expect_latest(dir, "step-00000300.h5");
    CU_ASSERT_EQUAL(cascade_ckpt_keep_last(dir, 5, MPI_COMM_WORLD), CASCADE_OK);
    CU_ASSERT(access(tmp, F_OK) != 0);
    path_in(tmp, dir, "step-00000100.h5");
    CU_ASSERT(access(tmp, F_OK) == 0);
}

static void test_keep_last(void) {
    char dir[TIO_PATH], path[TIO_PATH];
    path_in(dir, tio_dir, "run2/checkpoints");
    for (int64_t step = 100; step <= 400; step += 100) finish_ckpt(dir, step, (float)step);
    static const char *const fakes[] = {"notes.txt", "step-00000050.h5", "step-00000500.h5.tmp", "LATEST.tmp",
                                        "predict.h5.tmp", "step-x.h5"};
    if (tio_rank == 0)
        for (int i = 0; i < 6; i++) {
            path_in(path, dir, fakes[i]);
            tio_write_text(path, "x");
        }
    MPI_Barrier(MPI_COMM_WORLD);
    CU_ASSERT_EQUAL(cascade_ckpt_keep_last(dir, 2, MPI_COMM_WORLD), CASCADE_OK);
    static const char *const kept[] = {"step-00000300.h5", "step-00000400.h5", "notes.txt", "predict.h5.tmp",
                                       "step-x.h5", "LATEST"};
    static const char *const gone[] = {"step-00000050.h5", "step-00000100.h5", "step-00000200.h5",
                                       "step-00000500.h5.tmp", "LATEST.tmp"};
    for (int i = 0; i < 6; i++) {
        path_in(path, dir, kept[i]);
        CU_ASSERT(access(path, F_OK) == 0);
    }
    for (int i = 0; i < 5; i++) {
        path_in(path, dir, gone[i]);
        CU_ASSERT(access(path, F_OK) != 0);
    }
    expect_latest(dir, "step-00000400.h5");
    MPI_Barrier(MPI_COMM_WORLD); /* every rank has looked before rank 0 changes the directory */
    /* LATEST rolled back by hand: the file it names is never deleted */
    if (tio_rank == 0) CU_ASSERT_EQUAL(fs_write_atomic(dir, "LATEST", "step-00000300.h5\n"), CASCADE_OK);
    MPI_Barrier(MPI_COMM_WORLD);
    CU_ASSERT_EQUAL(cascade_ckpt_keep_last(dir, 1, MPI_COMM_WORLD), CASCADE_OK);
    path_in(path, dir, "step-00000300.h5");
    CU_ASSERT(access(path, F_OK) == 0);
    path_in(path, dir, "step-00000400.h5");
    CU_ASSERT(access(path, F_OK) == 0);
    finish_ckpt(dir, 500, 0.f);
    CU_ASSERT_EQUAL(cascade_ckpt_keep_last(dir, 0, MPI_COMM_WORLD), CASCADE_OK); /* 0 keeps all */
    CU_ASSERT(access(path, F_OK) == 0);
    MPI_Barrier(MPI_COMM_WORLD);
    CU_ASSERT_EQUAL(cascade_ckpt_keep_last(dir, 1, MPI_COMM_WORLD), CASCADE_OK);
    CU_ASSERT(access(path, F_OK) != 0);
    path_in(path, dir, "step-00000500.h5");
    CU_ASSERT(access(path, F_OK) == 0);
    path_in(path, tio_dir, "run3/checkpoints");
    tio_expect(cascade_ckpt_keep_last(path, 2, MPI_COMM_WORLD), CASCADE_EIO, path, NULL);
}

/* Parameters written from a PyTorch state_dict with h5py: no attributes, a scalar int64
 * num_batches_tracked, a float64 buffer. Loadable for --init; not a resumable checkpoint. */
static void test_torch_file(void) {
    CU_ASSERT_EQUAL_FATAL(
        tio_python("import sys, h5py, numpy as np\n"
                   "with h5py.File(sys.argv[1] + '/torch.h5', 'w') as f:\n"
                   "    f['params/model/out/weight'] = np.arange(6, dtype=np.float32).reshape(2, 3)\n"
                   "    f['params/model/out/bias'] = np.array([0.5, -0.5], dtype=np.float32)\n"
                   "    f['params/model/bn/num_batches_tracked'] = np.int64(7)\n"
                   "    f['params/model/bn/running_mean'] = np.array([1.5, 2, 3])\n"
                   "with h5py.File(sys.argv[1] + '/other.h5', 'w') as f:\n"
                   "    f.attrs['format'] = 'something-else'\n"
                   "with h5py.File(sys.argv[1] + '/future.h5', 'w') as f:\n"
                   "    f.attrs['format'] = 'cascade-checkpoint'\n"
                   "    f.attrs['version'] = 2\n"),
        0);
    char path[TIO_PATH];
    path_in(path, tio_dir, "torch.h5");
    cascade_h5file *f = NULL;
    CU_ASSERT_EQUAL_FATAL(cascade_ckpt_open(path, MPI_COMM_WORLD, &f), CASCADE_OK);
    cascade_ckpt_meta meta;
    tio_expect(cascade_ckpt_read_meta(f, &meta), CASCADE_EDATA, path, "not a cascade checkpoint", "--init", NULL);
    int64_t dims[2] = {2, 3}, three = 3;
    cascade_shape wshape = cascade_shape_make(2, dims), mshape = cascade_shape_make(1, &three),
                  scalar = cascade_shape_make(0, NULL);
    float got[6];
    CU_ASSERT_EQUAL(cascade_h5_read_floats(f, "/params/model/out/weight", &wshape, got), CASCADE_OK);
    for (int i = 0; i < 6; i++) CU_ASSERT_EQUAL(got[i], (float)i);
    CU_ASSERT_EQUAL(cascade_h5_read_floats(f, "/params/model/bn/running_mean", &mshape, got), CASCADE_OK);
    CU_ASSERT_EQUAL(got[0], 1.5f);
    CU_ASSERT_EQUAL(cascade_h5_read_floats(f, "/params/model/bn/num_batches_tracked", &scalar, got), CASCADE_OK);
    CU_ASSERT_EQUAL(got[0], 7.0f);
    tio_expect(cascade_h5_read_floats(f, "/params/model/out/bias", &wshape, got), CASCADE_EDATA, "shape (2)",
               "expected (2,3)", NULL);
    cascade_h5_names names;
    CU_ASSERT_EQUAL(cascade_h5_children(f, "/params/model", &names), CASCADE_OK);
    CU_ASSERT_EQUAL(names.count, 2);
    cascade_h5_names_free(&names);
    cascade_h5_close(f);

    path_in(path, tio_dir, "other.h5");
    CU_ASSERT_EQUAL_FATAL(cascade_ckpt_open(path, MPI_COMM_WORLD, &f), CASCADE_OK);
    tio_expect(cascade_ckpt_read_meta(f, &meta), CASCADE_EDATA, path, "format = 'something-else'", NULL);
    cascade_h5_close(f);
    path_in(path, tio_dir, "future.h5");
    CU_ASSERT_EQUAL_FATAL(cascade_ckpt_open(path, MPI_COMM_WORLD, &f), CASCADE_OK);
    tio_expect(cascade_ckpt_read_meta(f, &meta), CASCADE_EDATA, path, "version 2", NULL);
    cascade_h5_close(f);
}

static void test_writer_errors(void) {
    char dir[TIO_PATH], file[TIO_PATH];
    path_in(file, tio_dir, "a-file");
    if (tio_rank == 0) tio_write_text(file, "x");
    MPI_Barrier(MPI_COMM_WORLD);
    path_in(dir, file, "checkpoints");
    cascade_h5writer *w = NULL;
    tio_expect(cascade_ckpt_begin(dir, "step-00000001.h5", MPI_COMM_WORLD, &w), CASCADE_EIO, "a-file", NULL);
    CU_ASSERT_PTR_NULL(w);
    path_in(dir, tio_dir, "run4");
    tio_expect(cascade_ckpt_begin(dir, "sub/step.h5", MPI_COMM_WORLD, &w), CASCADE_EINTERNAL, "invalid file name",
               NULL);
    CU_ASSERT_EQUAL_FATAL(cascade_ckpt_begin(dir, "step-00000001.h5", MPI_COMM_WORLD, &w), CASCADE_OK);
    int64_t dims[2] = {3, 5};
    cascade_shape shape = cascade_shape_make(2, dims);
    float values[15] = {0};
    tio_expect(cascade_h5w_write_floats(w, "/params/a", &shape, values, 10, 6), CASCADE_EINTERNAL, "[10, 16)",
               "'/params/a'", "(3,5)", NULL);
    if (tio_size > 1) /* only rank 1 is wrong: every rank returns its message, none hangs */
        tio_expect(cascade_h5w_write_floats(w, "/params/b", &shape, values, tio_rank == 1 ? 14 : 0, 2),
                   CASCADE_EINTERNAL, "rank 1: ", "'/params/b'", NULL);
    CU_ASSERT_EQUAL(cascade_h5w_write_floats(w, "/params/c", &shape, values, 0, tio_rank == 0 ? 15 : 0),
                    CASCADE_OK);
    tio_expect(cascade_h5w_write_floats(w, "/params/c", &shape, values, 0, 0), CASCADE_EINTERNAL, "written twice",
               NULL);
    cascade_h5w_abort(w);
    MPI_Barrier(MPI_COMM_WORLD);
    CU_ASSERT_EQUAL(count_tmp_files(dir), 0);
    path_in(file, dir, "LATEST");
    CU_ASSERT(access(file, F_OK) != 0);
}

int main(int argc, char **argv) {
    tio_init(&argc, &argv, "h5ckpt");
    CU_pSuite s = CU_add_suite("h5ckpt", NULL, NULL);
    CU_add_test(s, "write, LATEST, read back, h5py", test_round_trip);
    CU_add_test(s, "crash leaves LATEST alone", test_crash);
    CU_add_test(s, "keep_last", test_keep_last);
    CU_add_test(s, "PyTorch state_dict file", test_torch_file);
    CU_add_test(s, "writer errors", test_writer_errors);
    return tio_run();
}
