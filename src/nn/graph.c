/* Net construction: layer sections -> topologically ordered DAG with inferred shapes and
 * flat parameter buffers. Execution lives in executor.c. */
#include "nn/graph.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A node before ordering: one per layer section, plus one per `activation =`. */
typedef struct {
    char name[64];       /* user name, or "conv1/relu" for an activation node */
    const cascade_op *op;
    cascade_section *section; /* NULL for activation nodes */
    const char *act_type;     /* activation nodes: the activation's type */
    int n_in;
    char in_names[CASCADE_MAX_INPUTS][64];
    int in_ref[CASCADE_MAX_INPUTS]; /* resolved: node index or -(1+ext) */
} proto_node;

static const char *where(const cascade_section *s, char *buf, size_t n) {
    snprintf(buf, n, "%s:%d: [%s]", s->file ? s->file : "<job>", s->line, s->name);
    return buf;
}

static int valid_layer_name(const char *s) {
    if (!*s) return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-') return 0;
    return 1;
}

/* Builds proto nodes in file order; `alias[i]` = node that references to user layer i see. */
static cascade_status make_protos(const cascade_layer_ref *refs, int n_refs, int n_ext,
                                  const char *const *ext_names, proto_node *nodes, int *n_nodes,
                                  int *alias) {
    char loc[512];
    int n = 0;
    for (int i = 0; i < n_refs; i++) {
        cascade_section *s = refs[i].section;
        proto_node *p = &nodes[n];
        memset(p, 0, sizeof *p);
        if (!valid_layer_name(refs[i].name) || strlen(refs[i].name) >= sizeof p->name)
            return cascade_fail(CASCADE_EUSAGE, "%s: layer name '%s' must be letters, digits, _ or -",
                                where(s, loc, sizeof loc), refs[i].name);
        for (int e = 0; e < n_ext; e++)
            if (strcmp(refs[i].name, ext_names[e]) == 0)
                return cascade_fail(CASCADE_EUSAGE, "%s: layer name '%s' is reserved for an input",
                                    where(s, loc, sizeof loc), refs[i].name);
        for (int j = 0; j < i; j++)
            if (strcmp(refs[j].name, refs[i].name) == 0)
                return cascade_fail(CASCADE_EUSAGE, "%s: layer '%s' defined twice",
                                    where(s, loc, sizeof loc), refs[i].name);
        snprintf(p->name, sizeof p->name, "%s", refs[i].name);
        p->section = s;
        const char *type;
        CASCADE_TRY(cascade_cfg_string(s, "type", NULL, &type));
        if (!type) return cascade_fail(CASCADE_EUSAGE, "%s: missing `type`", where(s, loc, sizeof loc));
        p->op = cascade_op_find(type);
        if (!p->op)
            return cascade_cfg_error(s, cascade_section_find(s, "type"),
                                     "unknown layer type; known: %s", cascade_op_types());
        CASCADE_TRY(cascade_cfg_namelist(s, "input", CASCADE_MAX_INPUTS, p->in_names, &p->n_in));
        if (p->n_in == 0) {
            /* default: the previous layer of the same net, or the first external input */
            snprintf(p->in_names[0], 64, "%s", i > 0 ? refs[i - 1].name : ext_names[0]);
            p->n_in = 1;
        }
        n++;
        alias[i] = n - 1;
        const char *act;
        CASCADE_TRY(cascade_cfg_string(s, "activation", NULL, &act));
        if (act && strcmp(act, "linear") != 0 && strcmp(act, "none") != 0) {
            static const char *const acts[] = {"relu", "leaky_relu", "elu", "tanh", "sigmoid", "softmax", NULL};
            int k;
            CASCADE_TRY(cascade_cfg_enum(s, "activation", acts, 0, &k));
            proto_node *a = &nodes[n];
            memset(a, 0, sizeof *a);
            snprintf(a->name, sizeof a->name, "%.40s/%s", refs[i].name, acts[k]);
            a->act_type = acts[k];
            a->op = cascade_op_find(acts[k]);
            if (!a->op)
                return cascade_fail(CASCADE_EINTERNAL, "activation %s is not registered", acts[k]);
            a->n_in = 1;
            a->in_ref[0] = n - 1;
            snprintf(a->in_names[0], 64, "%s", refs[i].name);
            n++;
            alias[i] = n - 1;
        }
    }
    *n_nodes = n;
    return CASCADE_OK;
}

static cascade_status resolve_inputs(const cascade_layer_ref *refs, int n_refs, int n_ext,
                                     const char *const *ext_names, proto_node *nodes, int n_nodes,
                                     const int *alias) {
    char loc[512];
    for (int i = 0; i < n_nodes; i++) {
        proto_node *p = &nodes[i];
        if (!p->section) continue; /* activation nodes are already resolved */
        for (int k = 0; k < p->n_in; k++) {
            int found = 0;
            for (int e = 0; e < n_ext && !found; e++)
                if (strcmp(p->in_names[k], ext_names[e]) == 0) p->in_ref[k] = -(1 + e), found = 1;
            for (int j = 0; j < n_refs && !found; j++)
                if (strcmp(p->in_names[k], refs[j].name) == 0) p->in_ref[k] = alias[j], found = 1;
            if (!found) {
                char known[1024] = "";
                for (int e = 0; e < n_ext; e++)
                    snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", e ? ", " : "", ext_names[e]);
                for (int j = 0; j < n_refs; j++)
                    snprintf(known + strlen(known), sizeof known - strlen(known), ", %s", refs[j].name);
                const cascade_kv *kv = cascade_section_peek(p->section, "input");
                return cascade_fail(CASCADE_EUSAGE, "%s%s%d: layer '%s' reads unknown input '%s' (known: %s)",
                                    where(p->section, loc, sizeof loc), kv ? " input, line " : "",
                                    kv ? kv->line : 0, p->name, p->in_names[k], known);
            }
        }
    }
    return CASCADE_OK;
}

/* Kahn's algorithm, stable in file order; a leftover node is on a cycle. */
static cascade_status topo_order(proto_node *nodes, int n, int *order) {
    int *indeg = calloc((size_t)n, sizeof(int));
    int *done = calloc((size_t)n, sizeof(int));
    if (!indeg || !done) {
        free(indeg);
        free(done);
        return cascade_fail(CASCADE_EINTERNAL, "out of memory");
    }
    for (int i = 0; i < n; i++)
        for (int k = 0; k < nodes[i].n_in; k++)
            if (nodes[i].in_ref[k] >= 0) indeg[i]++;
    int m = 0;
    while (m < n) {
        int pick = -1;
        for (int i = 0; i < n && pick < 0; i++)
            if (!done[i] && indeg[i] == 0) pick = i;
        if (pick < 0) break;
        done[pick] = 1;
        order[m++] = pick;
        for (int i = 0; i < n; i++)
            for (int k = 0; k < nodes[i].n_in; k++)
                if (nodes[i].in_ref[k] == pick) indeg[i]--;
    }
    cascade_status st = CASCADE_OK;
    if (m < n) {
        char cyc[1024] = "";
        for (int i = 0; i < n; i++)
            if (!done[i] && nodes[i].section)
                snprintf(cyc + strlen(cyc), sizeof cyc - strlen(cyc), "%s%s", cyc[0] ? ", " : "", nodes[i].name);
        char loc[512] = "";
        for (int i = 0; i < n; i++)
            if (!done[i] && nodes[i].section) {
                where(nodes[i].section, loc, sizeof loc);
                break;
            }
        st = cascade_fail(CASCADE_EUSAGE, "%s: the inputs of layers %s form a cycle", loc, cyc);
    }
    free(indeg);
    free(done);
    return st;
}

/* net->peer: for each layer whose op shares saved state, the first earlier layer it can take
 * it from (the same type, op->shares_saved given which inputs are the same nodes). */
static cascade_status find_peers(cascade_net *net) {
    net->peer = malloc((size_t)net->n_layers * sizeof(int));
    if (!net->peer) return cascade_fail(CASCADE_EINTERNAL, "out of memory building net %s", net->name);
    for (int l = 0; l < net->n_layers; l++) {
        const cascade_layer *L = &net->layers[l];
        net->peer[l] = -1;
        if (!L->op->shares_saved) continue;
        for (int e = 0; e < l && net->peer[l] < 0; e++) {
            const cascade_layer *E = &net->layers[e];
            if (strcmp(E->type, L->type) != 0) continue;
            unsigned same = 0;
            for (int k = 0; k < L->n_in && k < E->n_in; k++)
                if (net->inputs[l][k] == net->inputs[e][k]) same |= 1u << k;
            if (L->op->shares_saved(L, E, same)) net->peer[l] = e;
        }
    }
    return CASCADE_OK;
}

cascade_status cascade_net_build(cascade_net *net, const char *name, const cascade_layer_ref *refs,
                                 int n_refs, int n_ext, const char *const *ext_names,
                                 const cascade_shape *ext_shapes, uint64_t seed) {
    memset(net, 0, sizeof *net);
    snprintf(net->name, sizeof net->name, "%s", name);
    if (n_refs == 0) return cascade_fail(CASCADE_EUSAGE, "net '%s' has no layers ([%s.LAYER] sections)", name, name);
    net->n_ext = n_ext;
    for (int e = 0; e < n_ext; e++) {
        snprintf(net->ext_names[e], sizeof net->ext_names[e], "%s", ext_names[e]);
        net->ext_shapes[e] = ext_shapes[e];
    }
    int cap = 2 * n_refs;
    proto_node *nodes = calloc((size_t)cap, sizeof *nodes);
    int *alias = calloc((size_t)n_refs, sizeof(int));
    int *order = calloc((size_t)cap, sizeof(int));
    int *pos = calloc((size_t)cap, sizeof(int));
    net->layers = calloc((size_t)cap, sizeof *net->layers);
    net->inputs = calloc((size_t)cap, sizeof *net->inputs);
    net->param_off = calloc((size_t)cap, sizeof *net->param_off);
    cascade_status st = CASCADE_OK;
    int n_nodes = 0;
    if (!nodes || !alias || !order || !pos || !net->layers || !net->inputs || !net->param_off) {
        st = cascade_fail(CASCADE_EINTERNAL, "out of memory building net %s", name);
        goto done;
    }
    st = make_protos(refs, n_refs, n_ext, ext_names, nodes, &n_nodes, alias);
    if (!st) st = resolve_inputs(refs, n_refs, n_ext, ext_names, nodes, n_nodes, alias);
    if (!st) st = topo_order(nodes, n_nodes, order);
    if (st) goto done;
    for (int i = 0; i < n_nodes; i++) pos[order[i]] = i;
    net->n_layers = n_nodes;
    net->output = pos[alias[n_refs - 1]];
    for (int i = 0; i < n_nodes && !st; i++) {
        proto_node *p = &nodes[order[i]];
        cascade_layer *L = &net->layers[i];
        snprintf(L->name, sizeof L->name, "%s", p->name);
        snprintf(L->full, sizeof L->full, "%s.%s", name, p->name);
        L->seed = seed;
        L->layer_id = (uint32_t)i;
        cascade_shape shapes[CASCADE_MAX_INPUTS];
        for (int k = 0; k < p->n_in; k++) {
            int r = p->in_ref[k];
            net->inputs[i][k] = r >= 0 ? pos[r] : r;
            shapes[k] = r >= 0 ? net->layers[pos[r]].out_shape : ext_shapes[-r - 1];
        }
        st = cascade_layer_setup(L, p->op, p->section, p->n_in, shapes);
        /* key errors already carry file:line; shape errors get the section's location */
        const char *file = p->section && p->section->file ? p->section->file : NULL;
        if (st && file && strncmp(cascade_errmsg(), file, strlen(file)) != 0 &&
            strncmp(cascade_errmsg(), "--set", 5) != 0) {
            char loc[512];
            cascade_error_context("%s: ", where(p->section, loc, sizeof loc));
        }
    }
    if (st) goto done;
    if ((st = find_peers(net))) goto done;
    /* flat buffers: trainable parameters and running-statistics buffers */
    for (int l = 0; l < n_nodes; l++) {
        cascade_layer *L = &net->layers[l];
        for (int p = 0; p < L->n_params; p++) {
            int64_t cnt = cascade_shape_numel(&L->params[p].shape);
            if (L->params[p].trainable) {
                net->param_off[l][p] = net->n_params;
                net->n_params += cnt;
            } else {
                net->param_off[l][p] = net->n_buffers;
                net->n_buffers += cnt;
            }
        }
    }
    net->stat_off = calloc((size_t)n_nodes, sizeof(int64_t));
    if (!net->stat_off) {
        st = cascade_fail(CASCADE_EINTERNAL, "out of memory building net %s", name);
        goto done;
    }
    for (int l = 0; l < n_nodes; l++) {
        net->stat_off[l] = net->n_stats;
        net->n_stats += net->layers[l].stat_count;
    }
    net->stats = cascade_alloc((size_t)(net->n_stats + 1) * sizeof(double), "statistics");
    net->params = cascade_alloc((size_t)(net->n_params + 1) * sizeof(float), "parameters");
    net->grads = cascade_alloc((size_t)(net->n_params + 1) * sizeof(float), "gradients");
    net->buffers = cascade_alloc((size_t)(net->n_buffers + 1) * sizeof(float), "buffers");
    if (!net->params || !net->grads || !net->buffers || !net->stats) st = CASCADE_EINTERNAL;
    if (!st) cascade_net_init_params(net, seed);
done:
    free(nodes);
    free(alias);
    free(order);
    free(pos);
    if (st) cascade_net_free(net);
    return st;
}

void cascade_net_free(cascade_net *net) {
    for (int l = 0; l < net->n_layers; l++) cascade_layer_release(&net->layers[l]);
    free(net->layers);
    free(net->inputs);
    free(net->peer);
    free(net->param_off);
    free(net->stat_off);
    cascade_free(net->stats);
    cascade_free(net->params);
    cascade_free(net->grads);
    cascade_free(net->buffers);
    free(net->act);
    free(net->dact);
    free(net->saved);
    free(net->tangent);
    free(net->hess);
    cascade_arena_free(&net->arena);
    memset(net, 0, sizeof *net);
}

void cascade_net_init_params(cascade_net *net, uint64_t seed) {
    for (int l = 0; l < net->n_layers; l++) {
        cascade_layer *L = &net->layers[l];
        for (int p = 0; p < L->n_params; p++) {
            const cascade_param_desc *d = &L->params[p];
            float *v = (d->trainable ? net->params : net->buffers) + net->param_off[l][p];
            int64_t cnt = cascade_shape_numel(&d->shape);
            for (int64_t i = 0; i < cnt; i += 4) {
                uint32_t r[4];
                /* stream per (layer, parameter); counter = element block */
                cascade_philox(seed, CASCADE_RNG_INIT, ((uint64_t)l << 8) | (uint64_t)p, (uint64_t)i, r);
                for (int j = 0; j < 4 && i + j < cnt; j++) {
                    switch (d->init) {
                    case CASCADE_INIT_ZEROS: v[i + j] = 0; break;
                    case CASCADE_INIT_ONES: v[i + j] = 1; break;
                    case CASCADE_INIT_CONSTANT: v[i + j] = (float)d->init_bound; break;
                    default:
                        v[i + j] = (float)((2.0 * cascade_u01f(r[j]) - 1.0) * d->init_bound);
                    }
                }
            }
        }
    }
}

const cascade_shape *cascade_net_out_shape(const cascade_net *net) {
    return &net->layers[net->output].out_shape;
}

float *cascade_net_output(const cascade_net *net) { return net->act ? net->act[net->output] : NULL; }

int cascade_net_find(const cascade_net *net, const char *layer) {
    for (int l = 0; l < net->n_layers; l++)
        if (strcmp(net->layers[l].name, layer) == 0) return l;
    return -1;
}

void cascade_net_summary(const cascade_net *net, char *buf, size_t n) {
    size_t used = 0;
    char sh[128];
    used += (size_t)snprintf(buf + used, n - used, "net %s: %lld parameters\n", net->name,
                             (long long)net->n_params);
    for (int l = 0; l < net->n_layers && used < n; l++) {
        const cascade_layer *L = &net->layers[l];
        used += (size_t)snprintf(buf + used, n - used, "  %-24s %-12s %-18s %lld\n", L->name, L->type,
                                 cascade_shape_str(&L->out_shape, sh, sizeof sh),
                                 (long long)cascade_layer_param_count(L, 1));
    }
}
