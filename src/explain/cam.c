/* Class activation maps: CAM (nets ending in global average pooling + dense, Zhou et al. 2016)
 * and Grad-CAM (any layer with a (K, h, w) output, Selvaraju et al. 2017), and the bilinear
 * upsampling of a map to the input grid. Eval mode. */
#include <math.h>
#include <string.h>

#include "explain/explain.h"

/* Forward + backward of one chunk with a one-hot gradient at `target`; S into value. */
static void forward_backward(cascade_net *net, const float *x, int m, int64_t target, float *dout, double *value) {
    int64_t out_numel = cascade_shape_numel(cascade_net_out_shape(net));
    cascade_run run = {.n = m};
    run.ext[0] = x;
    cascade_net_forward(net, &run);
    const float *out = cascade_net_output(net);
    memset(dout, 0, (size_t)m * (size_t)out_numel * sizeof(float));
    for (int i = 0; i < m; i++) {
        dout[(int64_t)i * out_numel + target] = 1;
        if (value) value[i] = out[(int64_t)i * out_numel + target];
    }
    cascade_net_backward(net, &run, dout);
    memset(net->grads, 0, (size_t)net->n_params * sizeof(float));
}

static cascade_status map_layer(const cascade_net *net, int node, int64_t *K, int64_t *hw) {
    const cascade_shape *s = &net->layers[node].out_shape;
    if (s->ndim < 2)
        return cascade_fail(CASCADE_EUSAGE, "explain: layer %s has output %lld values per sample; a class activation "
                            "map needs a (channels, spatial...) output such as a convolution's",
                            net->layers[node].name, (long long)cascade_shape_numel(s));
    *K = s->d[0];
    *hw = cascade_shape_numel(s) / s->d[0];
    return CASCADE_OK;
}

cascade_status cascade_explain_gradcam(cascade_net *net, int node, const float *x, int64_t n, int64_t target,
                                       float *map, double *value) {
    int64_t K, hw, xn = cascade_shape_numel(&net->ext_shapes[0]);
    CASCADE_TRY(map_layer(net, node, &K, &hw));
    int64_t out_numel = cascade_shape_numel(cascade_net_out_shape(net));
    float *dout = cascade_alloc((size_t)net->max_n * (size_t)out_numel * sizeof(float), "output gradient");
    if (!dout) return CASCADE_EINTERNAL;
    for (int64_t s = 0; s < n; s += net->max_n) {
        int m = (int)(n - s < net->max_n ? n - s : net->max_n);
        forward_backward(net, x + s * xn, m, target, dout, value ? value + s : NULL);
        for (int i = 0; i < m; i++) {
            const float *A = net->act[node] + (int64_t)i * K * hw, *G = net->dact[node] + (int64_t)i * K * hw;
            float *out = map + (s + i) * hw;
            for (int64_t p = 0; p < hw; p++) out[p] = 0;
            for (int64_t k = 0; k < K; k++) {
                double alpha = 0; /* the channel's weight: the spatial mean of dS/dA_k */
                for (int64_t p = 0; p < hw; p++) alpha += G[k * hw + p];
                alpha /= (double)hw;
                for (int64_t p = 0; p < hw; p++) out[p] += (float)(alpha * A[k * hw + p]);
            }
            for (int64_t p = 0; p < hw; p++) out[p] = out[p] > 0 ? out[p] : 0; /* ReLU */
        }
    }
    cascade_free(dout);
    return CASCADE_OK;
}

cascade_status cascade_explain_cam(cascade_net *net, int node, int dense, const float *x, int64_t n, int64_t target,
                                   float *map, double *value) {
    int64_t K, hw, xn = cascade_shape_numel(&net->ext_shapes[0]);
    CASCADE_TRY(map_layer(net, node, &K, &hw));
    const cascade_layer *D = &net->layers[dense];
    const float *W = net->params + net->param_off[dense][0];
    const float *b = D->n_params > 1 ? net->params + net->param_off[dense][1] : NULL;
    int64_t classes = D->params[0].shape.d[0];
    if (target < 0 || target >= classes)
        return cascade_fail(CASCADE_EUSAGE, "explain: --target %lld is out of range: %s has %lld outputs",
                            (long long)target, D->name, (long long)classes);
    for (int64_t s = 0; s < n; s += net->max_n) {
        int m = (int)(n - s < net->max_n ? n - s : net->max_n);
        cascade_run run = {.n = m};
        run.ext[0] = x + s * xn;
        cascade_net_forward(net, &run);
        for (int i = 0; i < m; i++) {
            const float *A = net->act[node] + (int64_t)i * K * hw;
            float *out = map + (s + i) * hw;
            double mean = 0;
            for (int64_t p = 0; p < hw; p++) {
                /* CAM_c = sum_k W[c,k] A_k + b_c: its spatial mean is the logit */
                double v = b ? b[target] : 0;
                for (int64_t k = 0; k < K; k++) v += (double)W[target * K + k] * A[k * hw + p];
                out[p] = (float)v;
                mean += v;
            }
            if (value) value[s + i] = mean / (double)hw;
        }
    }
    return CASCADE_OK;
}

/* Bilinear, align_corners = false (torch's interpolate): (h, w) -> (H, W). */
void cascade_explain_upsample(const float *in, int64_t h, int64_t w, int64_t H, int64_t W, float *out) {
    for (int64_t y = 0; y < H; y++) {
        double sy = ((double)y + 0.5) * (double)h / (double)H - 0.5;
        if (sy < 0) sy = 0;
        int64_t y0 = (int64_t)sy, y1 = y0 + 1 < h ? y0 + 1 : y0;
        double fy = sy - (double)y0;
        for (int64_t x = 0; x < W; x++) {
            double sx = ((double)x + 0.5) * (double)w / (double)W - 0.5;
            if (sx < 0) sx = 0;
            int64_t x0 = (int64_t)sx, x1 = x0 + 1 < w ? x0 + 1 : x0;
            double fx = sx - (double)x0;
            out[y * W + x] = (float)((1 - fy) * ((1 - fx) * in[y0 * w + x0] + fx * in[y0 * w + x1]) +
                                     fy * ((1 - fx) * in[y1 * w + x0] + fx * in[y1 * w + x1]));
        }
    }
}
