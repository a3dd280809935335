/* Non-blocking reductions by recursive doubling / halving (see allreduce.h). */
#include "parallel/allreduce.h"

#include <string.h>

#include "core/region.h"

enum { PH_INIT, PH_FOLD, PH_ROUNDS, PH_GATHER, PH_UNFOLD, PH_DONE };

/* The real rank of the doubling rank v (ranks below 2 rem pair up; the odd one stays). */
static int real_rank(const cascade_allreduce_op *op, int v) { return v < op->rem ? 2 * v + 1 : v + op->rem; }

/* First element of block j of pof2: an even split, or (reduce-scatter) where the first real
 * rank that doubling rank j stands for starts (j < rem stands for 2j and 2j + 1). */
static int64_t elem(const cascade_allreduce_op *op, int64_t j) {
    if (op->scatter) return op->bounds[j < op->rem ? 2 * j : j + op->rem];
    return op->count * j / op->pof2;
}

static char *at(const cascade_allreduce_op *op, char *base, int64_t i) { return base + (size_t)i * op->esize; }

static int send_recv(cascade_allreduce_op *op, int peer, int64_t s_lo, int64_t s_hi, char *recv_base, int64_t r_lo,
                     int64_t r_hi) {
    int rc = MPI_SUCCESS;
    if (s_hi > s_lo)
        rc = MPI_Isend(at(op, op->buf, s_lo), (int)(s_hi - s_lo), op->type, peer, op->tag, op->comm, &op->req[0]);
    if (rc == MPI_SUCCESS && r_hi > r_lo)
        rc = MPI_Irecv(at(op, recv_base, r_lo), (int)(r_hi - r_lo), op->type, peer, op->tag, op->comm, &op->req[1]);
    return rc;
}

/* buf[i] = buf[i] (op) tmp[i] for i in [lo, hi). */
static void combine(cascade_allreduce_op *op, int64_t lo, int64_t hi) {
    static const char *const what[] = {"allreduce add", "allreduce max", "allreduce add i64"};
    cascade_region_begin(what[op->kind], "partner", hi - lo, 0);
    if (op->kind == CASCADE_RED_SUM_F32) {
        float *b = (float *)op->buf;
        const float *t = (const float *)op->tmp;
        for (int64_t i = lo; i < hi; i++) b[i] += t[i];
    } else if (op->kind == CASCADE_RED_MAX_U8) {
        uint8_t *b = (uint8_t *)op->buf;
        const uint8_t *t = (const uint8_t *)op->tmp;
        for (int64_t i = lo; i < hi; i++) b[i] = t[i] > b[i] ? t[i] : b[i];
    } else { /* modulo 2^64 (associative, no signed overflow) */
        int64_t *b = (int64_t *)op->buf;
        const int64_t *t = (const int64_t *)op->tmp;
        for (int64_t i = lo; i < hi; i++) b[i] = (int64_t)((uint64_t)b[i] + (uint64_t)t[i]);
    }
    cascade_region_end();
}

/* Recursive doubling: the whole buffer to and from the partner, then combined. */
static int post_doubling_round(cascade_allreduce_op *op) {
    op->add_lo = 0, op->add_hi = op->count;
    return send_recv(op, real_rank(op, op->vrank ^ op->mask), 0, op->count, op->tmp, 0, op->count);
}

/* Recursive halving: keep the half of the held blocks on this rank's side of `mask`, send
 * the other half, combine the partner's copy of the kept half. */
static int post_halving_round(cascade_allreduce_op *op) {
    int64_t mid = op->b0 + (op->b1 - op->b0) / 2, k0 = op->b0, k1 = mid, s0 = mid, s1 = op->b1;
    if (op->vrank & op->mask) k0 = mid, k1 = op->b1, s0 = op->b0, s1 = mid;
    op->b0 = k0, op->b1 = k1;
    op->add_lo = elem(op, k0), op->add_hi = elem(op, k1);
    return send_recv(op, real_rank(op, op->vrank ^ op->mask), elem(op, s0), elem(op, s1), op->tmp, op->add_lo,
                     op->add_hi);
}

/* Allgather by recursive doubling: the held blocks to the partner, its blocks straight into
 * buf; then both hold the union. */
static int post_gather_round(cascade_allreduce_op *op) {
    int64_t w = op->b1 - op->b0, p0 = op->vrank & op->mask ? op->b0 - w : op->b1, p1 = p0 + w;
    int rc = send_recv(op, real_rank(op, op->vrank ^ op->mask), elem(op, op->b0), elem(op, op->b1), op->buf,
                       elem(op, p0), elem(op, p1));
    op->b0 = p0 < op->b0 ? p0 : op->b0;
    op->b1 = p1 > op->b1 ? p1 : op->b1;
    return rc;
}

/* Folded-out ranks get their result from their partner, which sends it: all of it, or
 * (reduce-scatter) the folded-out rank's part. */
static int post_unfold(cascade_allreduce_op *op) {
    op->phase = PH_UNFOLD;
    if (op->rank >= 2 * op->rem) return MPI_SUCCESS;
    int folded = op->vrank < 0, partner = folded ? op->rank + 1 : op->rank - 1, owner = folded ? op->rank : partner;
    int64_t lo = op->scatter ? op->bounds[owner] : 0, hi = op->scatter ? op->bounds[owner + 1] : op->count;
    if (folded) return send_recv(op, partner, 0, 0, op->buf, lo, hi);
    return send_recv(op, partner, lo, hi, NULL, 0, 0);
}

static int start_rounds(cascade_allreduce_op *op) {
    if (op->vrank < 0 || op->pof2 == 1) return post_unfold(op);
    op->phase = PH_ROUNDS;
    op->b0 = 0, op->b1 = op->pof2;
    op->mask = op->halving ? op->pof2 / 2 : 1;
    return op->halving ? post_halving_round(op) : post_doubling_round(op);
}

/* The posted messages have completed: on to the next messages (or done). */
static int next(cascade_allreduce_op *op) {
    switch (op->phase) {
    case PH_INIT:
        op->phase = PH_FOLD;
        if (op->rank >= 2 * op->rem) return MPI_SUCCESS;
        if (op->vrank < 0) return send_recv(op, op->rank + 1, 0, op->count, NULL, 0, 0);
        op->add_lo = 0, op->add_hi = op->count;
        return send_recv(op, op->rank - 1, 0, 0, op->tmp, 0, op->count);
    case PH_FOLD:
        return start_rounds(op);
    case PH_ROUNDS:
        if (op->halving) {
            if ((op->mask >>= 1) > 0) return post_halving_round(op);
            if (op->scatter) return post_unfold(op);
            op->phase = PH_GATHER, op->mask = 1;
            return post_gather_round(op);
        }
        if ((op->mask <<= 1) < op->pof2) return post_doubling_round(op);
        return post_unfold(op);
    case PH_GATHER:
        if ((op->mask <<= 1) < op->pof2) return post_gather_round(op);
        return post_unfold(op);
    default:
        op->phase = PH_DONE;
        return MPI_SUCCESS;
    }
}

/* Sets up op (buf already holds this rank's contribution) and takes the first steps. */
static int begin(cascade_allreduce_op *op, cascade_red_kind kind, void *buf, void *tmp, int64_t count,
                 const int64_t *bounds, MPI_Comm comm, int tag) {
    memset(op, 0, sizeof *op);
    op->req[0] = op->req[1] = MPI_REQUEST_NULL;
    op->comm = comm, op->tag = tag, op->buf = buf, op->tmp = tmp, op->count = count;
    op->kind = kind;
    op->type = kind == CASCADE_RED_SUM_F32 ? MPI_FLOAT : kind == CASCADE_RED_MAX_U8 ? MPI_UINT8_T : MPI_INT64_T;
    op->esize = kind == CASCADE_RED_SUM_F32 ? sizeof(float) : kind == CASCADE_RED_MAX_U8 ? 1 : sizeof(int64_t);
    op->scatter = bounds != NULL, op->bounds = bounds;
    int rc = MPI_Comm_rank(comm, &op->rank);
    if (rc == MPI_SUCCESS) rc = MPI_Comm_size(comm, &op->size);
    if (rc != MPI_SUCCESS) return rc;
    for (op->pof2 = 1; op->pof2 * 2 <= op->size;) op->pof2 *= 2;
    op->rem = op->size - op->pof2;
    op->vrank = op->rank < 2 * op->rem ? (op->rank % 2 ? op->rank / 2 : -1) : op->rank - op->rem;
    op->halving = op->scatter || (count * (int64_t)op->esize > CASCADE_ALLREDUCE_HALVING_BYTES && count >= op->pof2);
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
    return begin(op, CASCADE_RED_SUM_F32, buf, tmp, count, NULL, comm, tag);
}

int cascade_allreduce_start_kind(cascade_allreduce_op *op, cascade_red_kind kind, void *buf, void *tmp,
                                 int64_t count, MPI_Comm comm, int tag) {
    return begin(op, kind, buf, tmp, count, NULL, comm, tag);
}

int cascade_reduce_scatter_start(cascade_allreduce_op *op, cascade_red_kind kind, void *buf, void *tmp,
                                 int64_t count, const int64_t *bounds, MPI_Comm comm, int tag) {
    return begin(op, kind, buf, tmp, count, bounds, comm, tag);
}

int cascade_allreduce_test(cascade_allreduce_op *op, int *done) {
    for (;;) {
        *done = op->phase == PH_DONE;
        if (*done) return MPI_SUCCESS;
        int flag, rc = MPI_Testall(2, op->req, &flag, MPI_STATUSES_IGNORE);
        if (rc != MPI_SUCCESS || !flag) return rc;
        if (op->add_hi > op->add_lo) combine(op, op->add_lo, op->add_hi);
        op->add_lo = op->add_hi = 0;
        if ((rc = next(op)) != MPI_SUCCESS) return rc;
    }
}

int cascade_allreduce_wait_some(cascade_allreduce_op *op) {
    /* the requests become null and the round's messages are in: the next test combines them
     * (add_lo/add_hi are still set) and takes the next step */
    return op->phase == PH_DONE ? MPI_SUCCESS : MPI_Waitall(2, op->req, MPI_STATUSES_IGNORE);
}

int cascade_allreduce_wait(cascade_allreduce_op *op) {
    for (;;) {
        int done, rc = cascade_allreduce_test(op, &done);
        if (rc != MPI_SUCCESS || done) return rc;
        if ((rc = cascade_allreduce_wait_some(op)) != MPI_SUCCESS) return rc;
    }
}
