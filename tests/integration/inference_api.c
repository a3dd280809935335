/* Checks of the inference API (cascade/model.h) for tests/integration/inference.sh, which
 * trains the runs and writes the inputs:
 *   inference_api RUN OUT.f32 IN0.f32 [IN1.f32 ...]   predict all samples in one call into
 *       OUT.f32, then check: the same bits from a second model in another thread and from
 *       calls of one sample each (tolerance), shapes against the files, and bad calls.
 *   inference_api --open PATH    open only: prints "status CODE: MESSAGE", exits 0
 * No MPI call here but MPI_Initialized at the end, which checks that the library did not
 * initialise MPI either (any other MPI call before MPI_Init aborts under Open MPI). */
#include <cascade/cascade.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAIL(...) (fprintf(stderr, "inference_api: " __VA_ARGS__), fputc('\n', stderr), exit(1))

static float *read_f32(const char *path, int64_t *count) {
    FILE *f = fopen(path, "rb");
    if (!f) FAIL("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long bytes = ftell(f);
    fseek(f, 0, SEEK_SET);
    float *v = malloc((size_t)bytes + 4);
    if (!v || fread(v, 1, (size_t)bytes, f) != (size_t)bytes) FAIL("cannot read %s", path);
    fclose(f);
    *count = bytes / 4;
    return v;
}

struct job {
    const char *run;
    int64_t n;
    const float *const *in;
    float *out;
    cascade_status st;
    char msg[1024]; /* the thread's message (messages are per thread) */
};

static void *predict_thread(void *arg) {
    struct job *j = arg;
    cascade_model *m;
    j->st = cascade_model_open(j->run, &m);
    if (!j->st) j->st = cascade_model_predict(m, j->n, j->in, j->out);
    snprintf(j->msg, sizeof j->msg, "%s", j->st ? cascade_errmsg() : "");
    cascade_model_close(m);
    return NULL;
}

/* A bad call: expected code and a message holding `text`. */
static void expect(cascade_status st, cascade_status code, const char *text, const char *what) {
    if (st != code || !strstr(cascade_errmsg(), text))
        FAIL("%s: got status %d '%s', expected %d with '%s'", what, st, cascade_errmsg(), code, text);
    printf("bad call ok: %s -> %s\n", what, cascade_errmsg());
}

static void bad_calls(cascade_model *m, const float *const *in, float *out) {
    expect(cascade_model_predict(m, -1, in, out), CASCADE_EUSAGE, "n = -1", "n < 0");
    expect(cascade_model_predict(m, 1, NULL, out), CASCADE_EUSAGE, "inputs is NULL", "NULL inputs");
    expect(cascade_model_predict(m, 1, in, NULL), CASCADE_EUSAGE, "output is NULL", "NULL output");
    expect(cascade_model_predict(NULL, 1, in, out), CASCADE_EUSAGE, "model is NULL", "NULL model");
    const float *holes[CASCADE_MAX_NAMES] = {0};
    char name[300];
    snprintf(name, sizeof name, "inputs[0] ('%s') is NULL", cascade_model_input_name(m, 0));
    expect(cascade_model_predict(m, 1, holes, out), CASCADE_EUSAGE, name, "NULL inputs[0]");
    if (cascade_model_predict(m, 0, NULL, NULL) != CASCADE_OK) FAIL("n = 0 is not a no-op: %s", cascade_errmsg());
    if (cascade_model_input_name(m, -1) || cascade_model_input_name(m, cascade_model_input_count(m)))
        FAIL("input_name out of range is not NULL");
    /* a NaN in sample 2 of the last input: named */
    int last = cascade_model_input_count(m) - 1;
    cascade_shape s = cascade_model_input_shape(m, last);
    int64_t numel = cascade_shape_numel(&s);
    float *copy = malloc((size_t)(3 * numel) * sizeof(float));
    memcpy(copy, in[last], (size_t)(3 * numel) * sizeof(float));
    copy[2 * numel] = NAN;
    const float *with_nan[CASCADE_MAX_NAMES];
    for (int i = 0; i <= last; i++) with_nan[i] = i == last ? copy : in[i];
    snprintf(name, sizeof name, "data set '%s' holds NaN at row 2", cascade_model_input_name(m, last));
    expect(cascade_model_predict(m, 3, with_nan, out), CASCADE_EDATA, name, "NaN input");
    /* -5 in sample 1 of input 0: refused under log_inputs (the script checks which runs) */
    s = cascade_model_input_shape(m, 0);
    numel = cascade_shape_numel(&s);
    copy = realloc(copy, (size_t)(3 * numel) * sizeof(float));
    memcpy(copy, in[0], (size_t)(3 * numel) * sizeof(float));
    copy[numel] = -5;
    with_nan[0] = copy, with_nan[last] = in[last];
    cascade_status st = cascade_model_predict(m, 3, with_nan, out);
    snprintf(name, sizeof name, "data set '%s' row 1 holds -5 < 0; log_inputs", cascade_model_input_name(m, 0));
    if (st) expect(st, CASCADE_EDATA, name, "negative input under log_inputs");
    else printf("negative input: accepted\n");
    free(copy);
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--open") == 0) {
        cascade_model *m = (cascade_model *)1;
        cascade_status st = cascade_model_open(argv[2], &m);
        if (!st == !m) FAIL("--open: status %d but model %p", st, (void *)m);
        printf("status %d: %s\n", st, st ? cascade_errmsg() : "ok");
        cascade_model_close(m);
        return 0;
    }
    if (argc < 4) FAIL("usage: inference_api RUN OUT.f32 IN0.f32 [IN1.f32 ...]");
    expect(cascade_model_open(NULL, NULL), CASCADE_EUSAGE, "NULL", "open(NULL, NULL)");
    cascade_model *m;
    if (cascade_model_open(argv[1], &m)) FAIL("open %s: %s", argv[1], cascade_errmsg());
    int k = cascade_model_input_count(m);
    if (k != argc - 3) FAIL("the model has %d inputs, %d files given", k, argc - 3);
    const float *in[CASCADE_MAX_NAMES];
    int64_t n = -1;
    for (int i = 0; i < k; i++) {
        cascade_shape s = cascade_model_input_shape(m, i);
        char buf[128];
        int64_t count, numel = cascade_shape_numel(&s);
        in[i] = read_f32(argv[3 + i], &count);
        printf("input %d: %s %s\n", i, cascade_model_input_name(m, i), cascade_shape_str(&s, buf, sizeof buf));
        if (count % numel || (n >= 0 && count / numel != n)) FAIL("%s: %lld floats", argv[3 + i], (long long)count);
        n = count / numel;
    }
    cascade_shape os = cascade_model_output_shape(m);
    int64_t on = cascade_shape_numel(&os);
    char buf[128];
    printf("output %s, %lld samples\n", cascade_shape_str(&os, buf, sizeof buf), (long long)n);
    float *out = malloc((size_t)(n * on) * sizeof(float)), *out2 = malloc((size_t)(n * on) * sizeof(float));
    /* meanwhile another model in another thread: the same bits */
    struct job j = {argv[1], n, in, out2, CASCADE_OK, ""};
    pthread_t th;
    if (pthread_create(&th, NULL, predict_thread, &j)) FAIL("cannot start a thread");
    cascade_status st = cascade_model_predict(m, n, in, out);
    pthread_join(th, NULL);
    if (st) FAIL("predict: %s", cascade_errmsg());
    if (j.st) FAIL("thread: %s", j.msg);
    if (memcmp(out, out2, (size_t)(n * on) * sizeof(float))) FAIL("a second model in a thread differs");
    /* one sample per call (other batches): equal within float rounding */
    double worst = 0;
    for (int64_t s = 0; s < n; s++) {
        const float *one[CASCADE_MAX_NAMES];
        for (int i = 0; i < k; i++) {
            cascade_shape sh = cascade_model_input_shape(m, i);
            one[i] = in[i] + s * cascade_shape_numel(&sh);
        }
        if (cascade_model_predict(m, 1, one, out2 + s * on)) FAIL("predict one: %s", cascade_errmsg());
        for (int64_t e = 0; e < on; e++) {
            double a = out[s * on + e], b = out2[s * on + e], d = fabs(a - b) / (fabs(a) + 1e-3);
            if (d > worst) worst = d;
        }
    }
    printf("one sample per call: largest relative difference %.3g\n", worst);
    if (worst > 1e-4) FAIL("one sample per call differs by %g", worst);
    bad_calls(m, in, out2);
    FILE *f = fopen(argv[2], "wb");
    if (!f || fwrite(out, sizeof(float), (size_t)(n * on), f) != (size_t)(n * on) || fclose(f)) FAIL("cannot write %s", argv[2]);
    cascade_model_close(m);
    cascade_model_close(NULL);
    for (int i = 0; i < k; i++) free((void *)in[i]);
    free(out), free(out2);
    int mpi_up = 1; /* (MPI_Initialized may be called before MPI_Init) */
    if (MPI_Initialized(&mpi_up) != MPI_SUCCESS || mpi_up) FAIL("something initialised MPI");
    printf("inference_api: ok, MPI never initialised\n");
    return 0;
}
