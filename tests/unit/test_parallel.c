/* src/parallel on any rank count (alone, and under mpirun -n 1..6 via
 * tests/integration/parallel_mpi.sh): the block partition, the agreement, the exact reducer
 * (bitwise the fixed-point sums of their definition for any rank count and uneven deal), the
 * fast reducer flat vs hierarchical and with its own allreduce vs MPI's, the own allreduce
 * itself, shards and gathers, node-shared memory. */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cascade/xsum.h"
#include "parallel/reducer.h"
#include "tio.h"
#include "xsum_ref.h"

static void test_partition(void) {
    const int64_t ns[] = {0, 1, 5, 7, 13, 100, 1001};
    for (size_t a = 0; a < sizeof ns / sizeof *ns; a++)
        for (int size = 1; size <= 9; size++) {
            int64_t n = ns[a], next = 0, lo, hi;
            for (int r = 0; r < size; r++) {
                cascade_par_block(n, r, size, &lo, &hi);
                CU_ASSERT_EQUAL(lo, next); /* contiguous, in rank order */
                CU_ASSERT(hi - lo == n / size || hi - lo == n / size + 1);
                next = hi;
            }
            CU_ASSERT_EQUAL(next, n); /* covers [0, n) exactly */
            for (int64_t chunk = 1; chunk <= 4; chunk++) {
                next = 0;
                for (int r = 0; r < size; r++) {
                    cascade_par_chunk_rows(n, chunk, r, size, &lo, &hi);
                    CU_ASSERT_EQUAL(lo, next);
                    CU_ASSERT(lo % chunk == 0 && (hi % chunk == 0 || hi == n));
                    next = hi;
                }
                CU_ASSERT_EQUAL(next, n);
            }
        }
}

static void test_agreement(void) {
    for (int bad = 0; bad < tio_size; bad++) {
        cascade_status local = tio_rank == bad ? cascade_fail(CASCADE_EDATA, "rank %d's own error", bad) : CASCADE_OK;
        int stop = tio_rank == (bad + 1) % tio_size, nonfinite = tio_rank == bad;
        cascade_status st = cascade_par_agree(MPI_COMM_WORLD, local, &stop, &nonfinite, "in the test");
        CU_ASSERT_EQUAL(st, CASCADE_EDATA); /* every rank stops, with the failing rank's status */
        CU_ASSERT_EQUAL(stop, 1);
        CU_ASSERT_EQUAL(nonfinite, 1);
        if (tio_rank == bad) CU_ASSERT(strstr(cascade_errmsg(), "own error") != NULL);
    }
    int stop = 0;
    CU_ASSERT_EQUAL(cascade_par_agree(MPI_COMM_WORLD, CASCADE_OK, &stop, NULL, "in the test"), CASCADE_OK);
    CU_ASSERT_EQUAL(stop, 0);
}

#define NV 3001 /* gradient values */
#define ND 3    /* doubles per micro-batch */
#define NMB 20  /* micro-batches per step: more than the 8 slots on few ranks (several folds) */

/* Micro-batch m's gradient value i: wide magnitudes, signs and some cancellations. */
static float grad_term(int m, int i) {
    uint32_t r[4];
    cascade_philox(3, 1, (uint64_t)m, (uint64_t)i, r);
    double mag = ldexp(1.0, (int)(r[1] % 50) - 30 - (i % 7 == 0 ? 60 : 0));
    return (float)((cascade_u01d(r[2], r[3]) - 0.5) * mag);
}

static double double_term(int m, int j) { return (m + 1) * 0.1 + j * 1e-17; }

/* Three buckets tiling [0, NV) in "reverse layer order" with marks 2, 1, 0. */
static const int64_t bucket_lo[3] = {2000, 700, 0}, bucket_hi[3] = {NV, 2000, 700};
static const int bucket_mark[3] = {2, 1, 0};

/* One step of the reducer over this rank's block of NMB micro-batches; the summed gradients
 * (all of them, after the shards' allgather when sharded) into out, the doubles into sums. */
static void reduce_step(const cascade_topo *topo, int exact, float *grads, float *out, double *sums) {
    cascade_shards sh;
    CU_ASSERT_EQUAL_FATAL(cascade_shards_init(&sh, MPI_COMM_WORLD, NV, exact), CASCADE_OK);
    cascade_reducer r;
    cascade_reducer_cfg cfg = {.exact = exact, .n = NV, .grads = grads, .n_doubles = ND,
                               .max_local_mb = (NMB + tio_size - 1) / tio_size, .n_buckets = 3,
                               .bucket_lo = bucket_lo, .bucket_hi = bucket_hi, .bucket_mark = bucket_mark,
                               .shards = &sh};
    CU_ASSERT_EQUAL_FATAL(cascade_reducer_init(&r, topo, &cfg), CASCADE_OK);
    int64_t first, last;
    cascade_par_block(NMB, tio_rank, tio_size, &first, &last);
    for (int rep = 0; rep < 2; rep++) { /* two steps: the second must not see the first */
        cascade_reducer_begin(&r);
        for (int64_t m = first; m < last; m++) {
            float *g = cascade_reducer_mb_grads(&r);
            for (int i = 0; i < NV; i++) g[i] += grad_term((int)m, i);
            double d[ND];
            for (int j = 0; j < ND; j++) d[j] = double_term((int)m, j);
            if (m == last - 1)
                for (int mark = 2; mark >= 0; mark--) cascade_reducer_hook(&r, mark); /* "backward" */
            cascade_reducer_mb_done(&r, d);
        }
        int nonfinite = 1;
        float *sum;
        int64_t lo, hi;
        CU_ASSERT_EQUAL_FATAL(cascade_reducer_finish(&r, sums, &nonfinite, &sum, &lo, &hi), CASCADE_OK);
        CU_ASSERT_EQUAL(nonfinite, 0);
        CU_ASSERT(lo <= sh.lo && hi >= sh.hi);
        memcpy(out + lo, sum + lo, (size_t)(hi - lo) * sizeof(float));
    }
    CU_ASSERT_EQUAL(cascade_shards_allgather(&sh, out), CASCADE_OK);
    cascade_reducer_free(&r);
    cascade_shards_free(&sh);
}

/* The step's sums by definition: gradients as the fixed-point sums of xsum_ref.h over all NMB
 * micro-batches, doubles as digit sums. */
static void reference(float *ref, double *dref) {
    int64_t dacc[CASCADE_XSUM_DIGITS * ND] = {0};
    float *t = malloc((size_t)NMB * NV * sizeof(float));
    CU_ASSERT_FATAL(t != NULL);
    for (int m = 0; m < NMB; m++) {
        for (int i = 0; i < NV; i++) t[m * NV + i] = grad_term(m, i);
        double d[ND];
        for (int j = 0; j < ND; j++) d[j] = double_term(m, j);
        cascade_xsum_add_doubles(dacc, d, ND);
    }
    for (int i = 0; i < NV; i++) {
        __int128 units;
        int x;
        ref[i] = xsum_ref_fixed(t + i, NV, NMB, &units, &x);
    }
    cascade_xsum_to_doubles(dacc, dref, ND);
    free(t);
}

static void test_exact_reducer(void) {
    cascade_topo topo;
    CU_ASSERT_EQUAL_FATAL(cascade_topo_init(&topo, MPI_COMM_WORLD), CASCADE_OK);
    float *grads = calloc(NV + 1, sizeof(float)), *out = calloc(NV, sizeof(float)), *ref = calloc(NV, sizeof(float));
    double sums[ND], dref[ND];
    CU_ASSERT_FATAL(grads && out && ref);
    reference(ref, dref);
    reduce_step(&topo, 1, grads, out, sums);
    int same = 0;
    for (int i = 0; i < NV; i++) same += memcmp(&out[i], &ref[i], sizeof(float)) == 0;
    CU_ASSERT_EQUAL(same, NV); /* bitwise, on every rank count */
    CU_ASSERT(memcmp(sums, dref, sizeof sums) == 0);
    free(grads), free(out), free(ref);
    cascade_topo_free(&topo);
}

static double relerr(const float *a, const float *b, int n) {
    double num = 0, den = 1e-30;
    for (int i = 0; i < n; i++) {
        num = fmax(num, fabs((double)a[i] - b[i]));
        den = fmax(den, fabs((double)b[i]));
    }
    return num / den;
}

static void test_fast_flat_vs_hierarchical(void) {
    cascade_topo flat, hier;
    unsetenv("CASCADE_RANKS_PER_NODE");
    CU_ASSERT_EQUAL_FATAL(cascade_topo_init(&flat, MPI_COMM_WORLD), CASCADE_OK);
    setenv("CASCADE_RANKS_PER_NODE", "2", 1); /* fake nodes of 2 ranks */
    CU_ASSERT_EQUAL_FATAL(cascade_topo_init(&hier, MPI_COMM_WORLD), CASCADE_OK);
    unsetenv("CASCADE_RANKS_PER_NODE");
    CU_ASSERT_EQUAL(hier.n_nodes, (tio_size + 1) / 2);
    CU_ASSERT_EQUAL(cascade_topo_hierarchical(&hier), tio_size >= 3);
    CU_ASSERT_EQUAL(cascade_topo_hierarchical(&flat), 0);
    float *grads = calloc(NV + 1, sizeof(float)), *a = calloc(NV, sizeof(float)), *b = calloc(NV, sizeof(float));
    float *ref = calloc(NV, sizeof(float));
    double sa[ND], sb[ND], dref[ND];
    CU_ASSERT_FATAL(grads && a && b && ref);
    reference(ref, dref);
    reduce_step(&flat, 0, grads, a, sa);
    reduce_step(&hier, 0, grads, b, sb);
    CU_ASSERT(relerr(a, b, NV) <= 1e-5);
    CU_ASSERT(relerr(a, ref, NV) <= 1e-5);
    for (int j = 0; j < ND; j++) CU_ASSERT(fabs(sa[j] - dref[j]) <= 1e-12 * fabs(dref[j]));
    free(grads), free(a), free(b), free(ref);
    cascade_topo_free(&flat);
    cascade_topo_free(&hier);
}

/* cascade's own allreduce: the sum within float rounding of the double reference, the same
 * bits on every rank, for buffers that take recursive doubling and Rabenseifner's halving,
 * several in flight at once (distinct tags) and progressed by polling. */
static void test_own_allreduce(void) {
    const int64_t sizes[] = {1, 7, 1000, CASCADE_ALLREDUCE_HALVING_BYTES / 4 + 3, 100003};
    enum { NS = sizeof sizes / sizeof sizes[0] };
    cascade_allreduce_op ops[NS];
    float *send[NS], *sum[NS], *tmp[NS];
    for (int k = 0; k < NS; k++) {
        int64_t n = sizes[k];
        send[k] = malloc((size_t)n * sizeof(float)), sum[k] = malloc((size_t)n * sizeof(float));
        tmp[k] = malloc((size_t)n * sizeof(float));
        CU_ASSERT_FATAL(send[k] && sum[k] && tmp[k]);
        for (int64_t i = 0; i < n; i++) send[k][i] = (float)sin(0.37 * (double)i + 1.3 * tio_rank) * (float)(1 + i % 5);
        CU_ASSERT_EQUAL(cascade_allreduce_start(&ops[k], send[k], sum[k], tmp[k], n, MPI_COMM_WORLD, 100 + k),
                        MPI_SUCCESS);
    }
    for (int pending = NS; pending > 0;) { /* poll all, as the reducer's hooks do */
        pending = 0;
        for (int k = 0; k < NS; k++) {
            int done;
            CU_ASSERT_EQUAL_FATAL(cascade_allreduce_test(&ops[k], &done), MPI_SUCCESS);
            pending += !done;
        }
    }
    for (int k = 0; k < NS; k++) {
        int64_t n = sizes[k];
        double worst = 0;
        uint64_t hash = 1469598103934665603ull;
        for (int64_t i = 0; i < n; i++) {
            double ref = 0, mag = 0;
            for (int r = 0; r < tio_size; r++) {
                double v = (float)sin(0.37 * (double)i + 1.3 * r) * (float)(1 + i % 5);
                ref += v, mag += fabs(v);
            }
            worst = fmax(worst, fabs(sum[k][i] - ref) / (mag + 1e-30));
            uint32_t bits;
            memcpy(&bits, &sum[k][i], 4);
            hash = (hash ^ bits) * 1099511628211ull;
        }
        CU_ASSERT(worst <= 1e-6);
        uint64_t lo = hash, hi = hash; /* the same bits on every rank */
        MPI_Allreduce(MPI_IN_PLACE, &lo, 1, MPI_UINT64_T, MPI_MIN, MPI_COMM_WORLD);
        MPI_Allreduce(MPI_IN_PLACE, &hi, 1, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD);
        CU_ASSERT_EQUAL(lo, hi);
        /* in place, completed by wait */
        memcpy(sum[k], send[k], (size_t)n * sizeof(float));
        CU_ASSERT_EQUAL(cascade_allreduce_start(&ops[k], sum[k], sum[k], tmp[k], n, MPI_COMM_WORLD, 7), MPI_SUCCESS);
        CU_ASSERT_EQUAL(cascade_allreduce_wait(&ops[k]), MPI_SUCCESS);
        uint64_t h2 = 1469598103934665603ull;
        for (int64_t i = 0; i < n; i++) {
            uint32_t bits;
            memcpy(&bits, &sum[k][i], 4);
            h2 = (h2 ^ bits) * 1099511628211ull;
        }
        CU_ASSERT_EQUAL(h2, hash);
        free(send[k]), free(sum[k]), free(tmp[k]);
    }
}

/* The exact reductions of deterministic mode: the uint8 maximum allreduce (doubling and
 * halving sizes) and the int64 reduce-scatter to even parts (the radix-r rounds) and to
 * uneven, partly empty ones (too uneven for radix r: binary rounds), with values that wrap
 * in partial sums, all equal to the reference on every rank. */
static int64_t term_i64(int64_t i, int r) {
    return (int64_t)((uint64_t)(i * 2654435761u + (uint64_t)r * 40503u) << (i % 3 ? 20 : 61)) / 3;
}

static void test_exact_reductions(void) {
    const int64_t sizes[] = {1, 5, 999, CASCADE_ALLREDUCE_HALVING_BYTES + 17};
    for (size_t k = 0; k < 2 * sizeof sizes / sizeof sizes[0]; k++) {
        int64_t n = sizes[k / 2];
        int even = k % 2;
        uint8_t *e = malloc((size_t)n), *et = malloc((size_t)n);
        int64_t *x = malloc((size_t)n * sizeof *x), *xt = malloc((size_t)n * sizeof *xt);
        int64_t *bounds = malloc(((size_t)tio_size + 1) * sizeof *bounds);
        CU_ASSERT_FATAL(e && et && x && xt && bounds);
        for (int64_t i = 0; i < n; i++) e[i] = (uint8_t)((i * 37 + tio_rank * 101) % 251), x[i] = term_i64(i, tio_rank);
        /* rank q's part: uneven (q + 1 shares of the rest), rank 1's empty */
        int64_t shares = (int64_t)tio_size * (tio_size + 1) / 2, acc = 0;
        for (int q = 0; q < tio_size; q++) {
            bounds[q] = even ? n * q / tio_size : n * acc / shares;
            acc += q == 1 ? 0 : q + 1;
        }
        bounds[tio_size] = n;
        cascade_allreduce_op a, b;
        CU_ASSERT_EQUAL(cascade_allreduce_start_kind(&a, CASCADE_RED_MAX_U8, e, et, n, MPI_COMM_WORLD, 3), MPI_SUCCESS);
        CU_ASSERT_EQUAL(cascade_reduce_scatter_start(&b, CASCADE_RED_SUM_I64, x, xt, n, bounds, MPI_COMM_WORLD, 4),
                        MPI_SUCCESS);
        for (int da = 0, db = 0; !da || !db;) {
            CU_ASSERT_EQUAL_FATAL(cascade_allreduce_test(&a, &da), MPI_SUCCESS);
            CU_ASSERT_EQUAL_FATAL(cascade_allreduce_test(&b, &db), MPI_SUCCESS);
        }
        int bad_max = 0, bad_sum = 0;
        for (int64_t i = 0; i < n; i++) {
            uint8_t m = 0;
            for (int r = 0; r < tio_size; r++) m = (uint8_t)((i * 37 + r * 101) % 251) > m ? (uint8_t)((i * 37 + r * 101) % 251) : m;
            bad_max += e[i] != m;
        }
        for (int64_t i = bounds[tio_rank]; i < bounds[tio_rank + 1]; i++) {
            uint64_t s = 0;
            for (int r = 0; r < tio_size; r++) s += (uint64_t)term_i64(i, r);
            bad_sum += x[i] != (int64_t)s;
        }
        CU_ASSERT_EQUAL(bad_max, 0);
        CU_ASSERT_EQUAL(bad_sum, 0);
        free(e), free(et), free(x), free(xt), free(bounds);
    }
}

/* cascade's allgather: each rank's part (even, uneven and empty parts) reaches every rank
 * unchanged, bit for bit. */
static void test_own_allgather(void) {
    const int64_t sizes[] = {3, 1000, 70001};
    for (size_t k = 0; k < 2 * sizeof sizes / sizeof sizes[0]; k++) {
        int64_t n = sizes[k / 2], acc = 0, shares = (int64_t)tio_size * (tio_size + 1) / 2;
        float *x = malloc((size_t)n * sizeof *x);
        int64_t *bounds = malloc(((size_t)tio_size + 1) * sizeof *bounds);
        CU_ASSERT_FATAL(x && bounds);
        for (int q = 0; q < tio_size; q++) {
            bounds[q] = k % 2 ? n * q / tio_size : n * acc / shares;
            acc += q == 1 ? 0 : q + 1;
        }
        bounds[tio_size] = n;
        for (int64_t i = 0; i < n; i++) /* this rank's part holds its values, the rest garbage */
            x[i] = i >= bounds[tio_rank] && i < bounds[tio_rank + 1] ? (float)i * 0.5f + 1e-3f : -1.0f - (float)tio_rank;
        cascade_allreduce_op op;
        CU_ASSERT_EQUAL(cascade_allgather_start(&op, CASCADE_RED_SUM_F32, x, n, bounds, MPI_COMM_WORLD, 9), MPI_SUCCESS);
        CU_ASSERT_EQUAL(cascade_allreduce_wait(&op), MPI_SUCCESS);
        int bad = 0;
        for (int64_t i = 0; i < n; i++) bad += x[i] != (float)i * 0.5f + 1e-3f;
        CU_ASSERT_EQUAL(bad, 0);
        free(x), free(bounds);
    }
}

/* The fast reducer with cascade's allreduce and with MPI_Iallreduce: the same sums within
 * float rounding. */
static void test_fast_own_vs_mpi(void) {
    cascade_topo flat;
    unsetenv("CASCADE_RANKS_PER_NODE");
    CU_ASSERT_EQUAL_FATAL(cascade_topo_init(&flat, MPI_COMM_WORLD), CASCADE_OK);
    float *grads = calloc(NV + 1, sizeof(float)), *a = calloc(NV, sizeof(float)), *b = calloc(NV, sizeof(float));
    double sa[ND], sb[ND];
    CU_ASSERT_FATAL(grads && a && b);
    reduce_step(&flat, 0, grads, a, sa);
    setenv("CASCADE_ALLREDUCE", "mpi", 1);
    reduce_step(&flat, 0, grads, b, sb);
    unsetenv("CASCADE_ALLREDUCE");
    CU_ASSERT(relerr(a, b, NV) <= 1e-5);
    for (int j = 0; j < ND; j++) CU_ASSERT(fabs(sa[j] - sb[j]) <= 1e-12 * fabs(sb[j]));
    free(grads), free(a), free(b);
    cascade_topo_free(&flat);
}

static void test_gather_rows(void) {
    const int64_t n = 23, chunk = 4, len = 3;
    float rows[23 * 3];
    for (int64_t i = 0; i < n * len; i++) rows[i] = -1;
    int64_t lo, hi;
    cascade_par_chunk_rows(n, chunk, tio_rank, tio_size, &lo, &hi);
    for (int64_t i = lo; i < hi; i++)
        for (int64_t e = 0; e < len; e++) rows[i * len + e] = (float)(i * 10 + e);
    CU_ASSERT_EQUAL(cascade_par_gather_rows(MPI_COMM_WORLD, rows, n, chunk, len), CASCADE_OK);
    int right = 0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t e = 0; e < len; e++) right += rows[i * len + e] == (float)(i * 10 + e);
    CU_ASSERT_EQUAL(right, n * len);
}

/* Node-shared memory on real and fake (2-rank) nodes, and refused (threshold): each rank
 * writes its rows, after the sync every rank of the node reads all of them; shared exactly
 * when the node has several ranks and the size reaches the threshold. */
static void shmem_case(const char *per_node, const char *min_bytes, int expect_shared) {
    cascade_topo t;
    const char *was = getenv("CASCADE_RANKS_PER_NODE");
    char saved[32] = "";
    if (was) snprintf(saved, sizeof saved, "%s", was);
    if (per_node) setenv("CASCADE_RANKS_PER_NODE", per_node, 1);
    setenv("CASCADE_SHMEM_MIN_BYTES", min_bytes, 1);
    CU_ASSERT_EQUAL_FATAL(cascade_topo_init(&t, MPI_COMM_WORLD), CASCADE_OK);
    const int64_t n = 1001, len = 7;
    cascade_shmem m;
    CU_ASSERT_EQUAL_FATAL(cascade_shmem_alloc(&t, (size_t)(n * len) * sizeof(float), &m), CASCADE_OK);
    CU_ASSERT_EQUAL(m.shared, expect_shared && t.node_size > 1);
    float *v = m.base;
    int64_t lo, hi;
    cascade_shmem_rows(&m, n, &lo, &hi);
    CU_ASSERT_EQUAL(hi - lo, m.shared ? n * (t.node_rank + 1) / t.node_size - n * t.node_rank / t.node_size : n);
    for (int64_t i = lo * len; i < hi * len; i++) v[i] = (float)(i + 1000 * t.node_rank);
    CU_ASSERT_EQUAL(cascade_shmem_sync(&m), CASCADE_OK);
    int right = 0; /* element i was written by the node rank owning its row */
    for (int64_t i = 0; i < n * len; i++) {
        int owner = 0;
        while (m.shared && owner + 1 < t.node_size && i / len >= n * (owner + 1) / t.node_size) owner++;
        right += v[i] == (float)(i + 1000 * (m.shared ? owner : t.node_rank));
    }
    CU_ASSERT_EQUAL(right, n * len);
    cascade_shmem_free(&m);
    cascade_topo_free(&t);
    if (was) setenv("CASCADE_RANKS_PER_NODE", saved, 1);
    else unsetenv("CASCADE_RANKS_PER_NODE");
    unsetenv("CASCADE_SHMEM_MIN_BYTES");
}

static void test_shmem(void) {
    shmem_case(NULL, "0", 1);
    shmem_case("2", "0", 1);
    shmem_case(NULL, "100000", 0); /* 28 kB: private */
    cascade_shmem m;
    CU_ASSERT_EQUAL(cascade_shmem_alloc(NULL, 64, &m), CASCADE_OK); /* no topology: private */
    CU_ASSERT_EQUAL(m.shared, 0);
    cascade_shmem_free(&m);
}

int main(int argc, char **argv) {
    tio_init(&argc, &argv, "parallel");
    CU_pSuite s = CU_add_suite("parallel", NULL, NULL);
    CU_add_test(s, "block partition covers [0, n) exactly", test_partition);
    CU_add_test(s, "agreement: an error on any one rank stops all", test_agreement);
    CU_add_test(s, "exact reducer = reference exact sum, bitwise", test_exact_reducer);
    CU_add_test(s, "fast reducer: flat and hierarchical agree", test_fast_flat_vs_hierarchical);
    CU_add_test(s, "own allreduce: doubling and halving, the same bits on every rank", test_own_allreduce);
    CU_add_test(s, "exact reductions: uint8 max allreduce, int64 reduce-scatter to uneven parts", test_exact_reductions);
    CU_add_test(s, "own allgather: even, uneven and empty parts to every rank", test_own_allgather);
    CU_add_test(s, "fast reducer: own allreduce and MPI_Iallreduce agree", test_fast_own_vs_mpi);
    CU_add_test(s, "gather of row blocks", test_gather_rows);
    CU_add_test(s, "node-shared memory: one copy per node, or private", test_shmem);
    return tio_run();
}
