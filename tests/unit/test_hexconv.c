/* hexconv: the footprint of a single station against the physical station positions of
 * CONTRACT (x = c + (r mod 2)/2, y = r·√3/2 in spacings) — which cells, in which documented
 * order, by row parity; 60° rotation equivariance on the 9x9 grid; forward and backward
 * bitwise identical for 1 and 2 threads; shapes, parameters, shape errors and key validation. Numerical agreement with PyTorch: tests/torch/ref_hexconv.py. */
#include <CUnit/Basic.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "th.h"

enum { ROWS = 9, COLS = 9, PX = ROWS * COLS };

static cascade_shape shp(int ndim, int64_t a, int64_t b, int64_t c, int64_t d) {
    int64_t dims[4] = {a, b, c, d};
    return cascade_shape_make(ndim, dims);
}

static void position(int r, int c, double *x, double *y) {
    *x = c + (r % 2) / 2.0;
    *y = r * sqrt(3.0) / 2;
}

/* Forward of a hexconv with one input and one output channel, no bias, on 9x9. */
static void run(int radius, const float *w, const float *x, float *out) {
    char spec[64];
    snprintf(spec, sizeof spec, "filters=1\nradius=%d\nbias=false", radius);
    cascade_layer L;
    cascade_shape in = shp(3, 1, ROWS, COLS, 0);
    CU_ASSERT_EQUAL_FATAL(th_layer(&L, "hexconv", spec, 1, &in), CASCADE_OK);
    static float work[1 << 16];
    CU_ASSERT_FATAL(L.work_per_sample + L.work_fixed <= (int64_t)(sizeof work / sizeof work[0]));
    cascade_fwd fw = {.n = 1, .in = {x}, .out = out, .param = {(float *)w}, .work = work};
    L.op->forward(&L, &fw);
    cascade_layer_release(&L);
}

/* Expected cell index (0-based, CONTRACT order: ring, then angle from +x counterclockwise) of
 * the vector (dx, dy) from an output station to the input station, -1 outside the kernel. */
static int expected_cell(double dx, double dy, int radius) {
    double d = sqrt(dx * dx + dy * dy);
    int ring = d < 0.1 ? 0 : d < 1.1 ? 1 : d < 2.1 ? 2 : 3; /* ring 2: 12 cells at sqrt(3) or 2 */
    if (ring > radius) return -1;
    if (ring == 0) return 0;
    double angle = atan2(dy, dx);
    if (angle < 0) angle += 2 * M_PI;
    int step = (int)lround(angle / (2 * M_PI / (6 * ring))) % (6 * ring);
    return 3 * ring * (ring - 1) + 1 + step;
}

/* A single 1 at (r0, c0), weights 1..n_cells: out(r, c) names the cell through which (r, c)
 * sees the station; exactly the stations within `radius` spacings, each with its cell; that
 * is `count` stations (all n_cells in the interior). */
static void check_footprint(int radius, int r0, int c0, int count) {
    int ncells = 3 * radius * (radius + 1) + 1;
    float w[19], x[PX] = {0}, out[PX];
    for (int k = 0; k < ncells; k++) w[k] = (float)(k + 1);
    x[r0 * COLS + c0] = 1;
    run(radius, w, x, out);
    int nonzero = 0;
    double x0, y0;
    position(r0, c0, &x0, &y0);
    for (int r = 0; r < ROWS; r++)
        for (int c = 0; c < COLS; c++) {
            double xq, yq;
            position(r, c, &xq, &yq);
            int cell = expected_cell(x0 - xq, y0 - yq, radius);
            float want = cell < 0 ? 0 : (float)(cell + 1), got = out[r * COLS + c];
            if (got != want)
                printf("\nradius %d, input (%d,%d): out(%d,%d) = %g, want %g\n", radius, r0, c0, r, c, got, want);
            CU_ASSERT_EQUAL(got, want);
            nonzero += got != 0;
        }
    if (nonzero != count) printf("\nradius %d, input (%d,%d): %d outputs, want %d\n", radius, r0, c0, nonzero, count);
    CU_ASSERT_EQUAL(nonzero, count);
}

static void test_footprint(void) {
    /* even row 4: the rows above and below see it from columns 3 and 4; odd row 5: from 4, 5 */
    float w[7] = {1, 1, 1, 1, 1, 1, 1}, x[PX] = {0}, out[PX];
    x[4 * COLS + 4] = 1;
    run(1, w, x, out);
    const int even_cols[3][2] = {{3, 4}, {3, 5}, {3, 4}}; /* rows 3, 4, 5: first, last column */
    for (int r = 0; r < ROWS; r++)
        for (int c = 0; c < COLS; c++) {
            int in = r >= 3 && r <= 5 && c >= even_cols[r - 3][0] && c <= even_cols[r - 3][1];
            CU_ASSERT_EQUAL(out[r * COLS + c], in ? 1.0f : 0.0f);
        }
    memset(x, 0, sizeof x);
    x[5 * COLS + 4] = 1;
    run(1, w, x, out);
    const int odd_cols[3][2] = {{4, 5}, {3, 5}, {4, 5}}; /* rows 4, 5, 6 */
    for (int r = 0; r < ROWS; r++)
        for (int c = 0; c < COLS; c++) {
            int in = r >= 4 && r <= 6 && c >= odd_cols[r - 4][0] && c <= odd_cols[r - 4][1];
            CU_ASSERT_EQUAL(out[r * COLS + c], in ? 1.0f : 0.0f);
        }
    /* the cell order, both parities, both radii, in the interior */
    check_footprint(1, 4, 4, 7);
    check_footprint(1, 5, 4, 7);
    check_footprint(2, 4, 4, 19);
    check_footprint(2, 3, 5, 19);
    check_footprint(2, 6, 2, 19);
}

static void test_edges(void) {
    /* at the grid's edges and corners only the stations inside see it (zero padding) */
    check_footprint(1, 0, 0, 3);   /* itself, (0,1), (1,0) */
    check_footprint(1, 8, 8, 4);   /* itself, (8,7), (7,7), (7,8) */
    check_footprint(1, 1, 8, 4);   /* odd row, right edge: itself, (0,8), (1,7), (2,8) */
    check_footprint(2, 0, 4, 12);  /* rings of rows 0, 1, 2: 5 + 4 + 3 */
    check_footprint(2, 7, 0, 11);
}

/* The station of the 9x9 grid at the position of (r, c) rotated by 60° counterclockwise
 * about the centre station (4, 4), or -1 when that falls off the grid. */
static int rotated(int r, int c) {
    double x, y, cx, cy;
    position(r, c, &x, &y);
    position(4, 4, &cx, &cy);
    double s = sin(M_PI / 3), co = cos(M_PI / 3);
    double xr = cx + (x - cx) * co - (y - cy) * s, yr = cy + (x - cx) * s + (y - cy) * co;
    for (int i = 0; i < PX; i++) {
        double xi, yi;
        position(i / COLS, i % COLS, &xi, &yi);
        if (fabs(xi - xr) < 1e-6 && fabs(yi - yr) < 1e-6) return i;
    }
    return -1;
}

/* Input within 2 spacings of the centre (its outputs stay within 4: all on the grid):
 * out(rotated x, rotated kernel) = rotated out(x, kernel); a kernel constant on each ring is
 * its own rotation. Rotating the kernel by 60° moves cell j of ring k to j + k in the ring. */
static void test_rotation(void) {
    for (int radius = 1; radius <= 2; radius++) {
        for (int symmetric = 0; symmetric <= 1; symmetric++) {
            float w[19], wr[19], x[PX] = {0}, xr[PX] = {0}, out[PX], outr[PX];
            w[0] = 0.5f;
            for (int k = 1; k <= radius; k++)
                for (int j = 0; j < 6 * k; j++) {
                    int start = 3 * k * (k - 1) + 1;
                    w[start + j] = symmetric ? 0.25f * k : (float)sin(1.0 + start + j);
                    wr[start + (j + k) % (6 * k)] = w[start + j];
                }
            wr[0] = w[0];
            int used = 0;
            for (int i = 0; i < PX; i++) {
                double xi, yi, cx, cy;
                position(i / COLS, i % COLS, &xi, &yi);
                position(4, 4, &cx, &cy);
                if (hypot(xi - cx, yi - cy) > 2.01) continue;
                x[i] = (float)cos(3.0 * i);
                int j = rotated(i / COLS, i % COLS);
                CU_ASSERT_FATAL(j >= 0);
                xr[j] = x[i];
                used++;
            }
            CU_ASSERT_EQUAL(used, 19);
            run(radius, w, x, out);
            run(radius, symmetric ? w : wr, xr, outr);
            for (int i = 0; i < PX; i++) {
                int j = rotated(i / COLS, i % COLS);
                if (j < 0) {
                    CU_ASSERT_EQUAL(out[i], 0.0f); /* outside the disk of radius 4 */
                    continue;
                }
                if (fabs(outr[j] - out[i]) > 1e-5) printf("\nradius %d: out %d = %g, rotated %d = %g\n", radius, i, out[i], j, outr[j]);
                CU_ASSERT(fabs(outr[j] - out[i]) <= 1e-5);
            }
        }
    }
}

/* Forward output and all gradients of n samples (C=3 -> 4, radius 2, 9x9) with `threads`
 * OpenMP threads (scratch sized for 2), concatenated into res. */
static void run_threads(int threads, int n, float *res) {
    cascade_layer L;
    cascade_shape in = shp(3, 3, ROWS, COLS, 0);
    int keep = omp_get_max_threads();
    omp_set_num_threads(2);
    CU_ASSERT_EQUAL_FATAL(th_layer(&L, "hexconv", "filters=4\nradius=2", 1, &in), CASCADE_OK);
    omp_set_num_threads(threads);
    int64_t nx = (int64_t)n * 3 * PX, ny = (int64_t)n * 4 * PX, nw = 4 * 3 * 19;
    float *x = malloc(nx * sizeof(float)), *dy = malloc(ny * sizeof(float)), *w = malloc(nw * sizeof(float));
    float *work = calloc(L.work_per_sample * n + L.work_fixed, sizeof(float)), b[4] = {0.1f, -0.2f, 0.3f, 0};
    float *y = res, *dx = res + ny, *dw = dx + nx, *db = dw + nw;
    CU_ASSERT_FATAL(x && dy && w && work);
    for (int64_t i = 0; i < nx; i++) x[i] = (float)sin(0.37 * i);
    for (int64_t i = 0; i < ny; i++) dy[i] = (float)cos(0.11 * i);
    for (int64_t i = 0; i < nw; i++) w[i] = (float)sin(1.3 * i);
    memset(dx, 0, (nx + nw + 4) * sizeof(float));
    cascade_fwd fw = {.n = n, .in = {x}, .out = y, .param = {w, b}, .work = work};
    L.op->forward(&L, &fw);
    cascade_bwd bw = {.n = n, .in = {x}, .out = y, .dout = dy, .din = {dx}, .param = {w, b},
                      .dparam = {dw, db}, .work = work};
    L.op->backward(&L, &bw);
    omp_set_num_threads(keep);
    free(x), free(dy), free(w), free(work);
    cascade_layer_release(&L);
}

static void test_threads(void) {
    enum { N = 37 };
    int64_t total = (int64_t)N * 7 * PX + 4 * 3 * 19 + 4;
    float *one = malloc(total * sizeof(float)), *two = malloc(total * sizeof(float));
    CU_ASSERT_FATAL(one && two);
    run_threads(1, N, one);
    run_threads(2, N, two);
    CU_ASSERT(memcmp(one, two, total * sizeof(float)) == 0);
    free(one), free(two);
}

/* Expects CASCADE_EUSAGE with a message containing every non-NULL needle. */
static void expect_error(const char *type, const char *spec, cascade_shape in, const char *n1, const char *n2) {
    cascade_layer L;
    cascade_clear_error();
    cascade_status st = th_layer(&L, type, spec, 1, &in);
    const char *msg = cascade_errmsg();
    CU_ASSERT_EQUAL(st, CASCADE_EUSAGE);
    const char *needles[] = {n1, n2};
    for (int i = 0; i < 2; i++) {
        if (!needles[i]) continue;
        int found = msg && strstr(msg, needles[i]) != NULL;
        if (!found) printf("\n%s [%s]: message '%s' lacks '%s'\n", type, spec, msg ? msg : "", needles[i]);
        CU_ASSERT(found);
    }
    cascade_layer_release(&L);
}

static void expect_shape(const cascade_shape *got, const char *want) {
    char buf[96];
    cascade_shape_str(got, buf, sizeof buf);
    if (strcmp(buf, want) != 0) printf("\nshape %s, want %s\n", buf, want);
    CU_ASSERT_STRING_EQUAL(buf, want);
}

static void test_shapes_and_keys(void) {
    cascade_layer L;
    cascade_shape in = shp(3, 2, 9, 9, 0);
    CU_ASSERT_EQUAL_FATAL(th_layer(&L, "hexconv", "filters=8\nradius=2", 1, &in), CASCADE_OK);
    expect_shape(&L.out_shape, "(8,9,9)");
    CU_ASSERT_EQUAL_FATAL(L.n_params, 2);
    CU_ASSERT_STRING_EQUAL(L.params[0].name, "weight");
    expect_shape(&L.params[0].shape, "(8,2,19)");
    CU_ASSERT_STRING_EQUAL(L.params[1].name, "bias");
    expect_shape(&L.params[1].shape, "(8)");
    CU_ASSERT(fabs(L.params[0].init_bound - 1 / sqrt(38.0)) < 1e-12);
    CU_ASSERT(fabs(L.params[1].init_bound - 1 / sqrt(38.0)) < 1e-12);
    cascade_layer_release(&L);
    in = shp(3, 3, 7, 5, 0);
    CU_ASSERT_EQUAL_FATAL(th_layer(&L, "hexconv", "filters=4\nbias=false", 1, &in), CASCADE_OK);
    expect_shape(&L.out_shape, "(4,7,5)");
    CU_ASSERT_EQUAL(L.n_params, 1);
    expect_shape(&L.params[0].shape, "(4,3,7)");
    cascade_layer_release(&L);

    expect_error("hexconv", "filters=4", shp(2, 2, 81, 0, 0), "(2,81)", "(channels, rows, columns)");
    expect_error("hexconv", "filters=4", shp(4, 2, 9, 9, 1), "(2,9,9,1)", "hexconv");
    cascade_shape in2[2] = {shp(3, 2, 9, 9, 0), shp(3, 2, 9, 9, 0)};
    cascade_clear_error();
    CU_ASSERT_EQUAL(th_layer(&L, "hexconv", "filters=4", 2, in2), CASCADE_EUSAGE);
    cascade_layer_release(&L);

    in = shp(3, 2, 9, 9, 0);
    expect_error("hexconv", "radius=1", in, "<test>", "needs `filters`");
    expect_error("hexconv", "filters=0", in, "filters = 0", NULL);
    expect_error("hexconv", "filters=4\nradius=0", in, "radius = 0", NULL);
    expect_error("hexconv", "filters=4\nradius=9", in, "radius = 9", NULL);
    expect_error("hexconv", "filters=4\nradius=two", in, "radius = two", "not an integer");
    expect_error("hexconv", "filters=4\nbias=maybe", in, "bias = maybe", NULL);
    expect_error("hexconv", "filters=4\nkernel=3", in, "unknown key 'kernel'", NULL);
}

int main(void) {
    if (CU_initialize_registry() != CUE_SUCCESS) return 1;
    CU_pSuite s = CU_add_suite("hexconv", NULL, NULL);
    CU_add_test(s, "footprint of one station by row parity, cell order", test_footprint);
    CU_add_test(s, "footprint at the grid edges", test_edges);
    CU_add_test(s, "60 degree rotation equivariance", test_rotation);
    CU_add_test(s, "1 and 2 threads bitwise equal", test_threads);
    CU_add_test(s, "shapes, parameters, errors", test_shapes_and_keys);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failures = CU_get_number_of_failures();
    CU_cleanup_registry();
    return failures != 0;
}
