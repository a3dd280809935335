/* Non-blocking reductions by recursive doubling / halving (see allreduce.h). */
#include "parallel/allreduce.h"

#include <stdlib.h>
#include <string.h>

#include "core/region.h"

enum { PH_INIT, PH_FOLD, PH_ROUNDS, PH_GATHER, PH_UNFOLD, PH_DONE };
enum { N_REQ = 2 * (CASCADE_ALLREDUCE_MAX_RADIX - 1) };

/* The real rank of the doubling rank v (ranks below 2 rem pair up; the odd one stays). */
static int real_rank(const cascade_allreduce_op *op, int64_t v) {
    return v < op->rem ? 2 * (int)v + 1 : (int)v + op->rem;
}

/* First element of block j of pof2: an even split, or (reduce-scatter) where the first real
 * rank that doubling rank j stands for starts (j < rem stands for 2j and 2j + 1). */
static int64_t elem(const cascade_allreduce_op *op, int64_t j) {
    if (op->bounds) return op->bounds[j < op->rem ? 2 * j : j + op->rem];
    return op->count * j / op->pof2;
}

static char *at(const cascade_allreduce_op *op, char *base, int64_t i) { return base + (size_t)i * op->esize; }

static void clear_requests(cascade_allreduce_op *op) {
    for (int k = 0; k < N_REQ; k++) op->req[k] = MPI_REQUEST_NULL;
}

/* Request slot k (of the round's partner k) sends buf[lo, hi) to peer; slot N_REQ/2 + k
 * receives n values into dst. Empty messages are not sent (both sides agree on the sizes). */
static int post_send(cascade_allreduce_op *op, int k, int peer, int64_t lo, int64_t hi) {
    if (hi <= lo) return MPI_SUCCESS;
    return MPI_Isend(at(op, op->buf, lo), (int)(hi - lo), op->type, peer, op->tag, op->comm, &op->req[k]);
}

static int post_recv(cascade_allreduce_op *op, int k, int peer, char *dst, int64_t n) {
    if (n <= 0) return MPI_SUCCESS;
    return MPI_Irecv(dst, (int)n, op->type, peer, op->tag, op->comm, &op->req[N_REQ / 2 + k]);
}

/* buf[i] = buf[i] (op) tmp[k K + i - lo] for i in [lo, hi), k < n_add, K = hi - lo, in k order. */
static void combine(cascade_allreduce_op *op) {
    static const char *const what[] = {"allreduce add", "allreduce max", "allreduce add i64", "allreduce add f64"};
    int64_t lo = op->add_lo, hi = op->add_hi, K = hi - lo;
    cascade_region_begin(what[op->kind], "partner", K * op->n_add, 0);
    for (int k = 0; k < op->n_add; k++) {
        if (op->kind == CASCADE_RED_SUM_F32) {
            float *b = (float *)op->buf + lo;
            const float *t = (const float *)op->tmp + k * K;
            for (int64_t i = 0; i < K; i++) b[i] += t[i];
        } else if (op->kind == CASCADE_RED_SUM_F64) {
            double *b = (double *)op->buf + lo;
            const double *t = (const double *)op->tmp + k * K;
            for (int64_t i = 0; i < K; i++) b[i] += t[i];
        } else if (op->kind == CASCADE_RED_MAX_U8) {
            uint8_t *b = (uint8_t *)op->buf + lo;
            const uint8_t *t = (const uint8_t *)op->tmp + k * K;
            for (int64_t i = 0; i < K; i++) b[i] = t[i] > b[i] ? t[i] : b[i];
        } else { /* modulo 2^64 (associative, no signed overflow) */
            int64_t *b = (int64_t *)op->buf + lo;
            const int64_t *t = (const int64_t *)op->tmp + k * K;
            for (int64_t i = 0; i < K; i++) b[i] = (int64_t)((uint64_t)b[i] + (uint64_t)t[i]);
        }
    }
    cascade_region_end();
}

/* Expects buf[lo, hi) from `n` partners (copies at tmp + k (hi - lo)), or the whole buffer. */
static void expect(cascade_allreduce_op *op, int64_t lo, int64_t hi, int n) { op->add_lo = lo, op->add_hi = hi, op->n_add = n; }

/* Recursive doubling: the whole buffer to and from the partner, then combined. */
static int post_doubling_round(cascade_allreduce_op *op) {
    int peer = real_rank(op, op->vrank ^ op->mask), rc = post_send(op, 0, peer, 0, op->count);
    expect(op, 0, op->count, 1);
    return rc == MPI_SUCCESS ? post_recv(op, 0, peer, op->tmp, op->count) : rc;
}

/* Halving round t: the held blocks split in r parts of width w; keep part d (this rank's
 * digit), send part j to the partner whose digit is j, combine the r - 1 copies of part d. */
static int post_halving_round(cascade_allreduce_op *op) {
    int r = op->radix[op->round], rc = MPI_SUCCESS;
    int64_t w = op->width[op->round], d = (op->vrank / w) % r, base = op->b0;
    op->b0 = base + d * w, op->b1 = op->b0 + w;
    int64_t lo = elem(op, op->b0), hi = elem(op, op->b1);
    expect(op, lo, hi, r - 1);
    for (int j = 0, k = 0; j < r && rc == MPI_SUCCESS; j++) {
        if (j == d) continue;
        int peer = real_rank(op, op->vrank + (j - d) * w);
        rc = post_send(op, k, peer, elem(op, base + j * w), elem(op, base + (j + 1) * w));
        if (rc == MPI_SUCCESS) rc = post_recv(op, k, peer, at(op, op->tmp, k * (hi - lo)), hi - lo);
        k++;
    }
    return rc;
}

/* Gathering round t (the halving rounds in reverse): the held blocks to the r - 1 partners,
 * theirs straight into buf; then all hold the parent group of r w blocks. */
static int post_gather_round(cascade_allreduce_op *op) {
    int r = op->radix[op->round], rc = MPI_SUCCESS;
    int64_t w = op->width[op->round], d = (op->vrank / w) % r, base = op->b0 - d * w;
    for (int j = 0, k = 0; j < r && rc == MPI_SUCCESS; j++) {
        if (j == d) continue;
        int peer = real_rank(op, op->vrank + (j - d) * w);
        int64_t plo = elem(op, base + j * w), phi = elem(op, base + (j + 1) * w);
        rc = post_send(op, k, peer, elem(op, op->b0), elem(op, op->b1));
        if (rc == MPI_SUCCESS) rc = post_recv(op, k, peer, at(op, op->buf, plo), phi - plo);
        k++;
    }
    op->b0 = base, op->b1 = base + r * w;
    return rc;
}

/* Folded-out ranks get their result from their partner, which sends it: all of it, or
 * (reduce-scatter) the folded-out rank's part. */
static int post_unfold(cascade_allreduce_op *op) {
    op->phase = PH_UNFOLD;
    if (op->rank >= 2 * op->rem) return MPI_SUCCESS;
    int folded = op->vrank < 0, partner = folded ? op->rank + 1 : op->rank - 1, owner = folded ? op->rank : partner;
    int64_t lo = op->scatter ? op->bounds[owner] : 0, hi = op->scatter ? op->bounds[owner + 1] : op->count;
    if (folded) return post_recv(op, 0, partner, at(op, op->buf, lo), hi - lo);
    return post_send(op, 0, partner, lo, hi);
}

static int start_rounds(cascade_allreduce_op *op) {
    if (op->vrank < 0 || op->pof2 == 1) return post_unfold(op);
    if (op->gather_only) { /* this doubling rank holds block vrank (its ranks' parts) */
        op->phase = PH_GATHER, op->round = op->n_rounds - 1;
        op->b0 = op->vrank, op->b1 = op->vrank + 1;
        return post_gather_round(op);
    }
    op->phase = PH_ROUNDS;
    op->b0 = 0, op->b1 = op->pof2;
    op->mask = 1, op->round = 0;
    return op->halving ? post_halving_round(op) : post_doubling_round(op);
}

/* The posted messages have completed: on to the next messages (or done). */
static int next(cascade_allreduce_op *op) {
    switch (op->phase) {
    case PH_INIT:
        op->phase = PH_FOLD;
        if (op->rank >= 2 * op->rem) return MPI_SUCCESS;
        if (op->gather_only) { /* the folded-out rank's part to its partner, no combining */
            int owner = op->vrank < 0 ? op->rank : op->rank - 1;
            int64_t lo = op->bounds[owner], hi = op->bounds[owner + 1];
            if (op->vrank < 0) return post_send(op, 0, op->rank + 1, lo, hi);
            return post_recv(op, 0, op->rank - 1, at(op, op->buf, lo), hi - lo);
        }
        if (op->vrank < 0) return post_send(op, 0, op->rank + 1, 0, op->count);
        expect(op, 0, op->count, 1);
        return post_recv(op, 0, op->rank - 1, op->tmp, op->count);
    case PH_FOLD:
        return start_rounds(op);
    case PH_ROUNDS:
        if (op->halving) {
            if (++op->round < op->n_rounds) return post_halving_round(op);
            if (op->scatter) return post_unfold(op);
            op->phase = PH_GATHER, op->round = op->n_rounds - 1;
            return post_gather_round(op);
        }
        if ((op->mask <<= 1) < op->pof2) return post_doubling_round(op);
        return post_unfold(op);
    case PH_GATHER:
        if (--op->round >= 0) return post_gather_round(op);
        return post_unfold(op);
    default:
        op->phase = PH_DONE;
        return MPI_SUCCESS;
    }
}

/* The halving rounds: log2(pof2) bits split as evenly as possible into rounds of at most
 * log2(max radix) bits, widest first. Radix r needs r - 1 received copies of the kept part
 * in tmp: with uneven reduce-scatter parts that may not fit, and then every round is binary
 * (the parts are the same on every rank, so all ranks choose alike). */
static void plan_rounds(cascade_allreduce_op *op) {
    int bits = 0, max_bits = 4;
    const char *e = getenv("CASCADE_ALLREDUCE_RADIX");
    if (e) {
        int r = atoi(e);
        max_bits = r >= 16 ? 4 : r >= 8 ? 3 : r >= 4 ? 2 : 1;
    }
    while ((1 << bits) < op->pof2) bits++;
    for (int pass = 0; pass < 2; pass++) {
        int n = bits ? (bits + max_bits - 1) / max_bits : 0, fits = 1;
        int64_t w = op->pof2;
        for (int t = 0; t < n; t++) {
            int b = bits / n + (t < bits % n);
            op->radix[t] = 1 << b, w >>= b, op->width[t] = w;
            /* largest kept part of this round over all doubling ranks */
            for (int64_t v = 0; v < op->pof2 && fits && !op->gather_only; v += w)
                fits = (int64_t)(op->radix[t] - 1) * (elem(op, v + w) - elem(op, v)) <= op->count;
        }
        op->n_rounds = n;
        if (fits || max_bits == 1) return;
        max_bits = 1;
    }
}

/* Sets up op (buf already holds this rank's contribution) and takes the first steps. */
static int begin(cascade_allreduce_op *op, cascade_red_kind kind, void *buf, void *tmp, int64_t count,
                 const int64_t *bounds, int gather_only, MPI_Comm comm, int tag) {
    memset(op, 0, sizeof *op);
    op->gather_only = gather_only;
    clear_requests(op);
    op->comm = comm, op->tag = tag, op->buf = buf, op->tmp = tmp, op->count = count;
    op->kind = kind;
    static const size_t esize[] = {sizeof(float), 1, sizeof(int64_t), sizeof(double)};
    op->type = kind == CASCADE_RED_SUM_F32   ? MPI_FLOAT
               : kind == CASCADE_RED_MAX_U8  ? MPI_UINT8_T
               : kind == CASCADE_RED_SUM_I64 ? MPI_INT64_T
                                             : MPI_DOUBLE;
    op->esize = esize[kind];
    op->scatter = bounds != NULL && !gather_only, op->bounds = bounds;
    int rc = MPI_Comm_rank(comm, &op->rank);
    if (rc == MPI_SUCCESS) rc = MPI_Comm_size(comm, &op->size);
    if (rc != MPI_SUCCESS) return rc;
    for (op->pof2 = 1; op->pof2 * 2 <= op->size;) op->pof2 *= 2;
    op->rem = op->size - op->pof2;
    op->vrank = op->rank < 2 * op->rem ? (op->rank % 2 ? op->rank / 2 : -1) : op->rank - op->rem;
    op->halving = bounds != NULL || (count * (int64_t)op->esize > CASCADE_ALLREDUCE_HALVING_BYTES && count >= op->pof2);
    if (op->halving) plan_rounds(op);
    op->phase = PH_INIT;
    int done;
    return cascade_allreduce_test(op, &done);
}

int cascade_allreduce_start(cascade_allreduce_op *op, const float *send, float *buf, float *tmp, int64_t count,
                            MPI_Comm comm, int tag) {
    if (send != buf) {
        cascade_region_begin("allreduce copy", "bucket", count, 0);
        memcpy(buf, send, (size_t)count * sizeof(float));
        cascade_region_end();
    }
    return begin(op, CASCADE_RED_SUM_F32, buf, tmp, count, NULL, 0, comm, tag);
}

int cascade_allreduce_start_kind(cascade_allreduce_op *op, cascade_red_kind kind, void *buf, void *tmp,
                                 int64_t count, MPI_Comm comm, int tag) {
    return begin(op, kind, buf, tmp, count, NULL, 0, comm, tag);
}

int cascade_reduce_scatter_start(cascade_allreduce_op *op, cascade_red_kind kind, void *buf, void *tmp,
                                 int64_t count, const int64_t *bounds, MPI_Comm comm, int tag) {
    return begin(op, kind, buf, tmp, count, bounds, 0, comm, tag);
}

int cascade_allgather_start(cascade_allreduce_op *op, cascade_red_kind kind, void *buf, int64_t count,
                            const int64_t *bounds, MPI_Comm comm, int tag) {
    return begin(op, kind, buf, NULL, count, bounds, 1, comm, tag);
}

int cascade_allreduce_test(cascade_allreduce_op *op, int *done) {
    for (;;) {
        *done = op->phase == PH_DONE;
        if (*done) return MPI_SUCCESS;
        int flag, rc = MPI_Testall(N_REQ, op->req, &flag, MPI_STATUSES_IGNORE);
        if (rc != MPI_SUCCESS || !flag) return rc;
        if (op->add_hi > op->add_lo && op->n_add > 0) combine(op);
        op->add_lo = op->add_hi = 0, op->n_add = 0;
        if ((rc = next(op)) != MPI_SUCCESS) return rc;
    }
}

int cascade_allreduce_wait_some(cascade_allreduce_op *op) {
    /* the requests become null and the round's messages are in: the next test combines them
     * (add_lo/add_hi are still set) and takes the next step */
    return op->phase == PH_DONE ? MPI_SUCCESS : MPI_Waitall(N_REQ, op->req, MPI_STATUSES_IGNORE);
}

int cascade_allreduce_wait(cascade_allreduce_op *op) {
    for (;;) {
        int done, rc = cascade_allreduce_test(op, &done);
        if (rc != MPI_SUCCESS || done) return rc;
        if ((rc = cascade_allreduce_wait_some(op)) != MPI_SUCCESS) return rc;
    }
}

/* A few bytes' maximum, blocking, by recursive multiplying: every round exchanges the whole
 * buffer with up to 15 partners and takes the maximum (order-free, so any tree gives the same
 * bytes). log_16(P) rounds: the ranks' per-step agreement costs 2 rounds at 256 ranks, not 8. */
int cascade_allreduce_max_small(MPI_Comm comm, uint8_t *v, int n, int tag) {
    enum { MAX_N = 16, R = CASCADE_ALLREDUCE_MAX_RADIX };
    uint8_t tmp[R - 1][MAX_N];
    MPI_Request req[2 * (R - 1)];
    int rank, size, rc = MPI_Comm_rank(comm, &rank);
    if (rc == MPI_SUCCESS) rc = MPI_Comm_size(comm, &size);
    if (rc != MPI_SUCCESS || n > MAX_N) return rc != MPI_SUCCESS ? rc : MPI_ERR_COUNT;
    int pof2 = 1, bits = 0;
    while (pof2 * 2 <= size) pof2 *= 2, bits++;
    int rem = size - pof2, vrank = rank < 2 * rem ? (rank % 2 ? rank / 2 : -1) : rank - rem;
    if (rank < 2 * rem && vrank < 0) rc = MPI_Send(v, n, MPI_UINT8_T, rank + 1, tag, comm); /* fold */
    else if (rank < 2 * rem) {
        rc = MPI_Recv(tmp[0], n, MPI_UINT8_T, rank - 1, tag, comm, MPI_STATUS_IGNORE);
        for (int i = 0; i < n; i++) v[i] = tmp[0][i] > v[i] ? tmp[0][i] : v[i];
    }
    int rounds = bits ? (bits + 3) / 4 : 0;
    for (int t = 0, w = pof2; t < rounds && vrank >= 0 && rc == MPI_SUCCESS; t++) {
        int b = bits / rounds + (t < bits % rounds), r = 1 << b, k = 0;
        w >>= b;
        int d = (vrank / w) % r;
        for (int j = 0; j < r && rc == MPI_SUCCESS; j++) {
            if (j == d) continue;
            int v2 = vrank + (j - d) * w, peer = v2 < rem ? 2 * v2 + 1 : v2 + rem;
            rc = MPI_Irecv(tmp[k], n, MPI_UINT8_T, peer, tag, comm, &req[2 * k]);
            if (rc == MPI_SUCCESS) rc = MPI_Isend(v, n, MPI_UINT8_T, peer, tag, comm, &req[2 * k + 1]);
            k++;
        }
        if (rc == MPI_SUCCESS) rc = MPI_Waitall(2 * k, req, MPI_STATUSES_IGNORE);
        for (int q = 0; q < k; q++)
            for (int i = 0; i < n; i++) v[i] = tmp[q][i] > v[i] ? tmp[q][i] : v[i];
    }
    if (rc == MPI_SUCCESS && rank < 2 * rem) /* unfold */
        rc = vrank < 0 ? MPI_Recv(v, n, MPI_UINT8_T, rank + 1, tag, comm, MPI_STATUS_IGNORE)
                       : MPI_Send(v, n, MPI_UINT8_T, rank - 1, tag, comm);
    return rc;
}
