/* Input-space attributions: gradients of one output element w.r.t. the net input, and
 * Integrated Gradients built from them. Eval mode (dropout off, batchnorm running stats). */
#include <math.h>
#include <string.h>

#include "explain/explain.h"

/* One chunk (m <= net->max_n): forward, one-hot dout at target, backward; grad (m, x shape). */
static void gradient_chunk(cascade_net *net, const float *x, int m, int64_t target, float *dout, float *grad,
                           double *value, int relu_rule) {
    int64_t out_numel = cascade_shape_numel(cascade_net_out_shape(net));
    int64_t xn = cascade_shape_numel(&net->ext_shapes[0]);
    cascade_run run = {.n = m, .relu_rule = relu_rule};
    run.ext[0] = x;
    cascade_net_forward(net, &run);
    const float *out = cascade_net_output(net);
    memset(dout, 0, (size_t)m * (size_t)out_numel * sizeof(float));
    for (int i = 0; i < m; i++) {
        dout[(int64_t)i * out_numel + target] = 1;
        if (value) value[i] = out[(int64_t)i * out_numel + target];
    }
    cascade_net_backward(net, &run, dout);
    memcpy(grad, net->dext[0], (size_t)m * (size_t)xn * sizeof(float));
    /* backward accumulates parameter gradients we do not use; keep them bounded */
    memset(net->grads, 0, (size_t)net->n_params * sizeof(float));
}

static cascade_status check_net(const cascade_net *net, int64_t target) {
    int64_t out_numel = cascade_shape_numel(cascade_net_out_shape(net));
    if (!net->want_dext || !net->dext[0] || net->max_n < 1)
        return cascade_fail(CASCADE_EINTERNAL, "net %s is not prepared for input gradients", net->name);
    if (target < 0 || target >= out_numel)
        return cascade_fail(CASCADE_EUSAGE, "target %lld is out of range: the output has %lld elements",
                            (long long)target, (long long)out_numel);
    return CASCADE_OK;
}

cascade_status cascade_explain_gradient(cascade_net *net, const float *x, int64_t n, int64_t target, float *grad,
                                        double *value) {
    return cascade_explain_gradient_rule(net, x, n, target, CASCADE_RELU_GRADIENT, grad, value);
}

cascade_status cascade_explain_gradient_rule(cascade_net *net, const float *x, int64_t n, int64_t target,
                                             int relu_rule, float *grad, double *value) {
    CASCADE_TRY(check_net(net, target));
    int64_t out_numel = cascade_shape_numel(cascade_net_out_shape(net));
    int64_t xn = cascade_shape_numel(&net->ext_shapes[0]);
    float *dout = cascade_alloc((size_t)net->max_n * (size_t)out_numel * sizeof(float), "output gradient");
    if (!dout) return CASCADE_EINTERNAL;
    for (int64_t s = 0; s < n; s += net->max_n) {
        int m = (int)(n - s < net->max_n ? n - s : net->max_n);
        gradient_chunk(net, x + s * xn, m, target, dout, grad + s * xn, value ? value + s : NULL, relu_rule);
    }
    cascade_free(dout);
    return CASCADE_OK;
}

cascade_status cascade_explain_integrated(cascade_net *net, const float *x, int64_t n, const float *baseline,
                                          int64_t target, int steps, float *attr, double *value, double *base_value) {
    CASCADE_TRY(check_net(net, target));
    if (steps < 1) return cascade_fail(CASCADE_EUSAGE, "integrated gradients need --steps >= 1, not %d", steps);
    int64_t out_numel = cascade_shape_numel(cascade_net_out_shape(net));
    int64_t xn = cascade_shape_numel(&net->ext_shapes[0]);
    size_t chunk_floats = (size_t)net->max_n * (size_t)xn;
    float *dout = cascade_alloc((size_t)net->max_n * (size_t)out_numel * sizeof(float), "output gradient");
    float *path = cascade_alloc(chunk_floats * sizeof(float), "integration path point");
    float *grad = cascade_alloc(chunk_floats * sizeof(float), "path gradient");
    double *sum = cascade_alloc(chunk_floats * sizeof(double), "gradient sum");
    if (!dout || !path || !grad || !sum) {
        cascade_free(dout), cascade_free(path), cascade_free(grad), cascade_free(sum);
        return CASCADE_EINTERNAL;
    }
    for (int64_t s = 0; s < n; s += net->max_n) {
        int m = (int)(n - s < net->max_n ? n - s : net->max_n);
        const float *xs = x + s * xn;
        memset(sum, 0, (size_t)m * (size_t)xn * sizeof(double));
        for (int k = 0; k < steps; k++) {
            double alpha = (k + 0.5) / steps; /* midpoint rule: error O(1/steps²) for smooth F */
            for (int i = 0; i < m; i++)
                for (int64_t j = 0; j < xn; j++)
                    path[i * xn + j] = (float)(baseline[j] + alpha * ((double)xs[i * xn + j] - baseline[j]));
            gradient_chunk(net, path, m, target, dout, grad, NULL, CASCADE_RELU_GRADIENT);
            for (int64_t j = 0; j < (int64_t)m * xn; j++) sum[j] += grad[j];
        }
        for (int i = 0; i < m; i++)
            for (int64_t j = 0; j < xn; j++)
                attr[(s + i) * xn + j] = (float)(((double)xs[i * xn + j] - baseline[j]) * sum[i * xn + j] / steps);
        /* the outputs at both ends, for the completeness check Σ attr ≈ S(x) − S(baseline) */
        if (value) gradient_chunk(net, xs, m, target, dout, grad, value + s, CASCADE_RELU_GRADIENT);
        if (base_value) {
            for (int i = 0; i < m; i++) memcpy(path + i * xn, baseline, (size_t)xn * sizeof(float));
            gradient_chunk(net, path, m, target, dout, grad, base_value + s, CASCADE_RELU_GRADIENT);
        }
    }
    cascade_free(dout), cascade_free(path), cascade_free(grad), cascade_free(sum);
    return CASCADE_OK;
}
