/* Op registry built from ops.def, and the `real`-typed GEMM used by ops. */
#include <cblas.h>
#include <string.h>

#include "nn/op.h"

#define CASCADE_OP(id, name) extern const OPSYM(cascade_op) OPSYM(cascade_op_##id);
#include "ops.def"
#undef CASCADE_OP

static const OPSYM(cascade_op) *const all_ops[] = {
#define CASCADE_OP(id, name) &OPSYM(cascade_op_##id),
#include "ops.def"
#undef CASCADE_OP
};

const OPSYM(cascade_op) *OPSYM(cascade_op_find)(const char *type) {
    for (size_t i = 0; i < sizeof all_ops / sizeof all_ops[0]; i++)
        if (strcmp(all_ops[i]->type, type) == 0) return all_ops[i];
    return NULL;
}

#ifndef CASCADE_REAL_DOUBLE
const char *cascade_op_types(void) {
    static const char list[] =
#define CASCADE_OP(id, name) name " "
#include "ops.def"
#undef CASCADE_OP
        ;
    return list;
}
#endif

void OPSYM(op_gemm)(int trans_a, int trans_b, int m, int n, int k, real alpha, const real *a,
                    int lda, const real *b, int ldb, real beta, real *c, int ldc) {
#ifdef CASCADE_REAL_DOUBLE
    cblas_dgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
                m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
#else
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
                m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
#endif
}
