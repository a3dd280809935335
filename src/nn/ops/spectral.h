/* Spectral normalisation (Miyato et al. 2018) for layers with a weight (dense, conv1d/2d/3d):
 * the layer computes with W_sn = W / sigma, sigma = u^T W v, W viewed as (rows = out, cols);
 * u, v are buffers refined by one power iteration per optimizer update (begin_update), and the
 * gradient flows through sigma with u, v fixed, as torch.nn.utils.spectral_norm:
 *   dL/dW = G / sigma - (<G, W> / sigma^2) u v^T,  G = dL/dW_sn.
 * Parameters (torch's names): weight_orig (trainable, the layer's first), ..., weight_u (rows),
 * weight_v (cols) — the last two. W_sn and sigma live in the layer's saved buffer (from
 * forward, reused by backward and backward2); G in the last rows*cols floats of its work. */
#ifndef CASCADE_NN_OPS_SPECTRAL_H
#define CASCADE_NN_OPS_SPECTRAL_H

#include "nn/op.h"

/* In infer, after the weight (param 0) and bias were added: renames the weight, adds u and v,
 * reserves saved and work space. */
void OPSYM(sn_setup)(cascade_layer *L, int64_t rows, int64_t cols);
/* W_sn of the call into saved (forward): returns it. */
const real *OPSYM(sn_forward)(const cascade_layer *L, real *const *param, real *saved);
/* The scratch for G (zeroed) of a call on n samples. */
real *OPSYM(sn_grad_buffer)(const cascade_layer *L, int n, real *work);
/* dW += G / sigma - (<G, W> / sigma^2) u v^T. */
void OPSYM(sn_grad)(const cascade_layer *L, const real *const *param, const real *saved, const real *G, real *dW);
/* One power iteration: v = normalize(W^T u), u = normalize(W v) (torch, eps 1e-12). */
void OPSYM(sn_begin_update)(const cascade_layer *L, real *const *param);

#endif
