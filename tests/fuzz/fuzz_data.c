/* libFuzzer harness: bytes -> an HDF5 data file -> the loader under a small job's [data]
 * mapping (inputs time, signal stacked as channels; target logE): the preload
 * (cascade_data_load: open, shapes, storage checks, chunked reads, finiteness) and the
 * streaming reads of a row list (cascade_source_read). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "data/data.h"
#include "fuzz_common.h"

static cascade_job job_channels, job_features;
static const char *data_path;

static void parse(const char *text, cascade_job *job) {
    if (cascade_job_parse(text, "fuzz_data", NULL, 0, job) != CASCADE_OK) {
        fprintf(stderr, "fuzz_data: the harness's job does not parse: %s\n", cascade_errmsg());
        abort();
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    fuzz_init();
    data_path = fuzz_file(0, "data.h5", (const uint8_t *)"", 0);
    char text[1024];
    const char *fmt = "[job]\nname = fuzz\n[data]\ntrain = %s\ninputs = %s\nlayout = %s\ntargets = logE\n%s"
                      "[train]\nbatch = 4\nmicro_batch = 2\nsteps = 1\n"
                      "[model.f]\ntype = flatten\n[model.out]\ntype = dense\nunits = 1\n";
    snprintf(text, sizeof text, fmt, data_path, "time, signal", "channels", "log_inputs = signal\n");
    parse(text, &job_channels);
    snprintf(text, sizeof text, fmt, data_path, "signal, logE", "features", "");
    parse(text, &job_features);
    return 0;
}

/* Streaming: rows 0, 2, 3 (a list) read into x, y. */
static void stream_rows(const cascade_job *job, const char *path) {
    cascade_source src;
    if (cascade_source_open(job, path, 1, MPI_COMM_SELF, &src) != CASCADE_OK) return;
    int64_t rows[3] = {0, 2, 3}, n = src.total < 4 ? 0 : 3;
    int64_t xs = cascade_shape_numel(&src.shape.x_shape), ys = cascade_shape_numel(&src.shape.y_shape);
    float *x = malloc((size_t)(3 * xs + 1) * sizeof(float)), *y = malloc((size_t)(3 * ys + 1) * sizeof(float));
    float *tmp = malloc((size_t)(3 * src.max_numel + 1) * sizeof(float));
    if (x && y && tmp) (void)cascade_source_read(job, &src, rows, 0, n, x, y, tmp);
    free(x), free(y), free(tmp);
    cascade_source_close(&src);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_file(0, "data.h5", data, size);
    if (!path) abort();
    for (int k = 0; k < 2; k++) {
        const cascade_job *job = k ? &job_features : &job_channels;
        cascade_dataset d;
        if (cascade_data_load(job, path, 1, NULL, 0, MPI_COMM_SELF, &d) == CASCADE_OK) cascade_data_free(&d);
        stream_rows(job, path);
    }
    cascade_clear_error();
    return 0;
}
