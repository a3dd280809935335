/* Op registry built from ops.def (the GEMM used by ops: gemm.c). */
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
