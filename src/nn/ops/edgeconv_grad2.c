/* edgeconv's double backward (the MLP without batch norm; edgeconv.c has the op, its
 * forward and backward). */
#include <string.h>
#include <tgmath.h>

#include "nn/op.h"
#include "nn/ops/edgeconv.h"

/* Double backward.
 *
 * With z_l = h_{l-1} W_l^T + b_l, h_l = act(z_l), h_{-1} = e = E(x) (the edge features, linear
 * in x for the fixed neighbours) and y = Agg(h_last) (linear for the fixed argmax), the
 * backward is gamma_last = Agg^T(dout), delta_l = gamma_l act'(z_l), gamma_{l-1} = delta_l W_l,
 * din = E^T(gamma_{-1}). R = sum(u * din) = <dout, Agg(hdot_last)> for the tangent chain
 *   hdot_{-1} = E(u),  zdot_l = hdot_{l-1} W_l^T,  hdot_l = act'(z_l) zdot_l,
 * whose last link aggregated is uout (the forward's Jacobian on u). R's derivatives come from
 * a reverse sweep of both chains: the tangents' adjoints a_l are the first backward's gamma_l,
 * the primal adjoints p_l (p_last = 0) pick up q_l = a_l zdot_l act''(z_l):
 *   P_l = p_l act'(z_l) + q_l,  dW_l += (a_l act'(z_l))^T hdot_{l-1} + P_l^T h_{l-1},
 *   db_l += sum P_l,  a_{l-1} = a_l act'(z_l) W_l,  p_{l-1} = P_l W_l,  hin += E^T(p_{-1}).
 * act' and act'' are written with the saved output h_l. The tangents are recomputed from E(u)
 * for every layer of the sweep (layers are few; it saves keeping all of them). Work: the edge
 * buffer then six of the widest rows per edge (tangents, a, p, each twice; four in work2). */

/* Edge features of edges r0 .. r0+rows-1: row r = [x_i, x_j - x_i] (rows x 2F). */
static void edge_feature_rows(const ec_dims *d, const real *x, const real *nbr, int64_t r0, int64_t rows, real *e) {
    int F = d->F;
    for (int64_t r = 0; r < rows; r++) {
        int64_t pi, pj;
        ec_edge_ends(d, nbr, r0 + r, &pi, &pj);
        const real *xi = x + pi * F, *xj = x + pj * F;
        real *row = e + r * 2 * F;
        for (int f = 0; f < F; f++) {
            row[f] = xi[f];
            row[F + f] = xj[f] - xi[f];
        }
    }
}

/* All edges of n samples: e (edges x 2F). */
static void edge_features(const ec_dims *d, int n, const real *x, const real *nbr, real *e) {
    int64_t edges = (int64_t)n * d->P * d->k;
#pragma omp parallel for if (edges * d->F > 65536)
    for (int64_t b = 0; b < ec_blocks_of(edges); b++) {
        int64_t r0 = b * EC_EDGE_BLOCK, rows = edges - r0 < EC_EDGE_BLOCK ? edges - r0 : EC_EDGE_BLOCK;
        edge_feature_rows(d, x, nbr, r0, rows, e + r0 * 2 * d->F);
    }
}

/* din for the edge-feature gradient g (edges x 2F): x_i gets g[:F] - g[F:], x_j gets g[F:]. */
static void scatter_input_grad(const ec_dims *d, int n, const real *nbr, const real *g, real *dx) {
    int F = d->F;
#pragma omp parallel for if ((int64_t)n * d->P * d->k * F > 65536)
    for (int s = 0; s < n; s++) {
        real *dxs = dx + (size_t)s * d->P * F;
        for (int i = 0; i < d->P; i++) {
            for (int t = 0; t < d->k; t++) {
                size_t edge = ((size_t)s * d->P + i) * d->k + t;
                const real *ge = g + edge * 2 * F;
                real *dxj = dxs + (size_t)nbr[edge] * F, *dxi = dxs + (size_t)i * F;
                for (int f = 0; f < F; f++) {
                    dxi[f] += ge[f] - ge[F + f];
                    dxj[f] += ge[F + f];
                }
            }
        }
    }
}

/* f1 = act'(z), f2 = act''(z), from h = act(z). */
static inline void act_derivs(int act, real h, real *f1, real *f2) {
    switch (act) {
    case EC_ACT_RELU: *f1 = h > 0 ? 1 : 0, *f2 = 0; break;
    case EC_ACT_LEAKY: *f1 = h > 0 ? 1 : (real)EC_LEAKY_SLOPE, *f2 = 0; break;
    case EC_ACT_ELU: *f1 = h > 0 ? 1 : h + 1, *f2 = h > 0 ? 0 : h + 1; break;
    case EC_ACT_TANH: *f1 = 1 - h * h, *f2 = -2 * h * (1 - h * h); break;
    default: *f1 = 1, *f2 = 0; break;
    }
}

/* The tangent chain up to layer l: zdot_l (edges x units[l]) in *zdot, hdot_{l-1} in *hprev
 * (e itself, holding E(u), for l = 0); t1, t2 are the two tangent buffers. */
static void tangent_to(const cascade_layer *L, const OPSYM(cascade_bwd2) *c, const ec_dims *d, int l, real *e,
                       real *t1, real *t2, real **zdot, const real **hprev) {
    const edgeconv_cfg *cfg = L->cfg;
    int n = c->n, edges = n * d->P * d->k;
    edge_features(d, n, c->uin[0], c->saved, e);
    const real *hp = e;
    int w_in = 2 * d->F;
    real *z = t1;
    for (int j = 0;; j++) {
        int u = (int)cfg->units[j];
        OPSYM(op_gemm)(0, 1, edges, u, w_in, 1, hp, w_in, c->param[ec_param(cfg, j, EC_W)], w_in, 0, z, u);
        if (j == l) break;
        /* hdot_j */
        OPSYM(ec_activation_grad)(cfg->act, c->saved + OPSYM(ec_layer_output)(L, n, j), z, (int64_t)edges * u);
        hp = z;
        z = z == t1 ? t2 : t1;
        w_in = u;
    }
    *zdot = z;
    *hprev = hp;
}

void OPSYM(edgeconv_backward2)(const cascade_layer *L, const OPSYM(cascade_bwd2) *c) {
    const edgeconv_cfg *cfg = L->cfg;
    if (!c->uin[0]) return; /* the coordinate input has no gradient: its tangent is irrelevant */
    ec_dims d = OPSYM(ec_dims_of)(L);
    int n = c->n, edges = n * d.P * d.k, last = cfg->n_layers - 1, U = d.U, k = d.k;
    size_t row = (size_t)edges * d.maxw;
    real *e = c->work + L->work_fixed, *t1 = e + (size_t)edges * 2 * d.F, *t2 = t1 + row;
    real *a = t2 + row, *a2 = a + row, *p = a2 + row, *p2 = p + row;
    real *zdot;
    const real *hprev;
    /* uout += Agg(hdot_last): max at the first edge holding the maximum, as backward */
    tangent_to(L, c, &d, last, e, t1, t2, &zdot, &hprev);
    const real *h_last = c->saved + OPSYM(ec_layer_output)(L, n, last);
    OPSYM(ec_activation_grad)(cfg->act, h_last, zdot, (int64_t)edges * U);
    int rows = n * d.P;
#pragma omp parallel for if ((int64_t)rows * k * U > 65536)
    for (int r = 0; r < rows; r++) {
        const real *hr = h_last + (size_t)r * k * U, *tr = zdot + (size_t)r * k * U, *y = c->out + (size_t)r * U;
        real *uo = c->uout + (size_t)r * U;
        for (int o = 0; o < U; o++) {
            real acc = 0;
            for (int t = 0; t < k; t++) {
                if (cfg->aggregation == EC_AGG_MEAN) {
                    acc += tr[(size_t)t * U + o];
                } else if (hr[(size_t)t * U + o] == y[o]) {
                    acc = tr[(size_t)t * U + o];
                    break;
                }
            }
            uo[o] += cfg->aggregation == EC_AGG_MEAN ? acc / (real)k : acc;
        }
    }
    /* the reverse sweep */
    OPSYM(ec_aggregation_grad)(L, n, c->dout, c->out, &d, h_last, NULL, a);
    memset(p, 0, (size_t)edges * U * sizeof(real));
    for (int l = last; l >= 0; l--) {
        int u = (int)cfg->units[l], w_in = l ? (int)cfg->units[l - 1] : 2 * d.F;
        const real *h = c->saved + OPSYM(ec_layer_output)(L, n, l);
        tangent_to(L, c, &d, l, e, t1, t2, &zdot, &hprev);
        int64_t count = (int64_t)edges * u;
#pragma omp parallel for simd if (count > 65536)
        for (int64_t i = 0; i < count; i++) {
            real f1, f2;
            act_derivs(cfg->act, h[i], &f1, &f2);
            p[i] = p[i] * f1 + a[i] * zdot[i] * f2;
            a[i] *= f1;
        }
        real *dw = c->dparam[ec_param(cfg, l, EC_W)], *db = c->dparam[ec_param(cfg, l, EC_B)];
        /* dW (u x w_in) += a^T hdot_{l-1} + P^T h_{l-1} */
        if (dw) OPSYM(op_gemm)(1, 0, u, w_in, edges, 1, a, u, hprev, w_in, 1, dw, w_in);
        if (!l) edge_features(&d, n, c->in[0], c->saved, e); /* h_{-1} = e, after hdot_{-1} was used */
        const real *h_in = l ? c->saved + OPSYM(ec_layer_output)(L, n, l - 1) : e;
        if (dw) OPSYM(op_gemm)(1, 0, u, w_in, edges, 1, p, u, h_in, w_in, 1, dw, w_in);
        if (db)
            for (int64_t r = 0; r < edges; r++)
                for (int o = 0; o < u; o++) db[o] += p[(size_t)r * u + o];
        if (!l && !c->hin[0]) break;
        /* p_{l-1} = P W_l (and a_{l-1} = a W_l, not needed below layer 0) */
        OPSYM(op_gemm)(0, 0, edges, w_in, u, 1, p, u, c->param[ec_param(cfg, l, EC_W)], w_in, 0, p2, w_in);
        if (l) OPSYM(op_gemm)(0, 0, edges, w_in, u, 1, a, u, c->param[ec_param(cfg, l, EC_W)], w_in, 0, a2, w_in);
        real *swap = p;
        p = p2;
        p2 = swap;
        swap = a;
        a = a2;
        a2 = swap;
    }
    if (c->hin[0]) scatter_input_grad(&d, n, c->saved, p, c->hin[0]);
}

