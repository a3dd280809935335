/* cascade explain RUNDIR|CKPT.h5 --method METHOD --data FILE.h5 [--index I|A:B] [--target K|A:B]
 *                 [--layer NAME] [--steps N] [--baseline zero|mean] --out DIR
 *                 [actmax: --objective --step-size --l2 --blur --jitter --noise --seed]
 *                 [lrp: --rule --epsilon --alpha --beta] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cascade/cascade.h"
#include "cli/cli.h"
#include "io/fsops.h"
#include "explain/explain.h"

static const char help[] =
    "usage: cascade explain RUNDIR|CKPT.h5 --method METHOD --data FILE.h5 [--index I|A:B] [--target K|A:B]\n"
    "                       [--layer NAME] [--steps N] [--baseline zero|mean] [--no-pictures] -o|--out DIR [--force]\n"
    "                       [actmax: --objective neuron|channel|layer --step-size S --l2 L --blur W\n"
    "                        --jitter J --noise S --seed S] [lrp: --rule RULE --epsilon E --alpha A --beta B]\n"
    "                       [--evaluate [--flip-steps L] [--flip-value V]] [--mask NAME[=V[,V...]]]\n"
    "\n"
    "Explains a trained supervised model on samples of FILE.h5; writes DIR/explain.h5 and pictures.\n"
    "  activations  every layer's output (after its activation), or --layer's: activations/LAYER\n"
    "  filters      weights of --layer (default: the first dense/conv layer): filters/LAYER\n"
    "  saliency     dS/dx, S = output element --target (class logit or regression output): attribution\n"
    "  inputxgrad   x * dS/dx\n"
    "  integrated   Integrated Gradients: (x - b) * mean of dS/dx on the path b + a (x - b), midpoint\n"
    "               rule with --steps N [50] points; baseline b --baseline zero [default] or mean\n"
    "               (over the chosen samples)\n"
    "  deconvnet, guided   dS/dx with relu passing back positive gradients (guided: where its input > 0)\n"
    "  cam, gradcam, guided-gradcam   class activation maps (gradcam at --layer [last convolution])\n"
    "  actmax       gradient ascent on x from noise (--noise [1] x N(0,1), --seed [1]) maximising\n"
    "               --layer's output [the net output]: --objective neuron [a[K]], channel [mean of\n"
    "               feature map K] or layer [mean]; --target K or A:B (one input per unit/channel);\n"
    "               --steps [50] of --step-size [1] along g / rms(g); regularisers --l2 [0] (x *= 1-L),\n"
    "               --blur W [0] (Gaussian, W cells), --jitter J [0] (random roll by up to J cells)\n"
    "  lrp          layer-wise relevance propagation of S to x; --rule z | epsilon (--epsilon [1e-6]) |\n"
    "               zplus | alphabeta (--alpha [1] --beta [0], alpha - beta = 1) | w2 | flat | composite\n"
    "               [default: epsilon on dense, alpha1-beta0 on convolutions, flat on layers reading x];\n"
    "               batch norm folded into the layer before; root attr conservation_error\n"
    "x is the input as the network sees it (normalised, inputs stacked as channels).\n"
    "--index I or A:B (samples A..B-1) [0]; --target K [0]. Pictures: one heatmap per sample and\n"
    "channel, DIR/attribution_SAMPLE_CHANNEL.png (actmax: DIR/actmax_TARGET_CHANNEL.png), for (C, H, W)\n"
    "inputs. --evaluate (attribution methods): pixel flipping (Samek et al. 2017) — S as the pixels\n"
    "(positions, all channels) are set to V [0] most relevant first, in L [all pixels, at most 100]\n"
    "equal steps, against a random order: aopc_curve, aopc_random, root attrs aopc, aopc_random.\n"
    "--mask NAME[=V,...] (attribution methods): the fraction of |attribution| (summed over channels) on\n"
    "the positions where data set NAME of FILE.h5 (one value per sample and position) is nonzero or\n"
    "equals one of the V, against chance (the region's share of the positions): mask_fraction,\n"
    "mask_area per sample, root attrs mask_fraction, mask_chance.\n"
    "DIR/explain.h5 and the pictures appear only when complete (NAME.tmp, renamed); an existing\n"
    "DIR/explain.h5 is replaced (with the pictures) only with --force. See docs/explain.md.\n";

static int parse_count(const char *flag, const char *text, long lo, long *out);

static int parse_real(const char *flag, const char *text, double *out) {
    char *end;
    double v = strtod(text, &end);
    if (end == text || *end || !isfinite(v)) {
        cascade_fail(CASCADE_EUSAGE, "explain: %s '%s' is not a number", flag, text);
        return -1;
    }
    *out = v;
    return 0;
}

/* --target K or A:B (A < B): first and count */
static int parse_target(const char *text, long *first, long *count) {
    const char *colon = strchr(text, ':');
    char a[32];
    long b;
    if (!colon) {
        *count = 1;
        return parse_count("--target", text, 0, first);
    }
    snprintf(a, sizeof a, "%.*s", (int)(colon - text < 31 ? colon - text : 31), text);
    if (parse_count("--target", a, 0, first) || parse_count("--target", colon + 1, 1, &b)) return -1;
    if (b <= *first) {
        cascade_fail(CASCADE_EUSAGE, "explain: --target %s is an empty range (A:B needs A < B)", text);
        return -1;
    }
    *count = b - *first;
    return 0;
}

static int parse_count(const char *flag, const char *text, long lo, long *out) {
    char *end;
    long v = strtol(text, &end, 10);
    if (end == text || *end || v < lo) {
        cascade_fail(CASCADE_EUSAGE, "explain: %s '%s' is not an integer >= %ld", flag, text, lo);
        return -1;
    }
    *out = v;
    return 0;
}

/* DIR/explain.h5 stands for the outputs: not an input, replaced only with --force. */
static cascade_status check_output(const cascade_explain_opts *o, int force, MPI_Comm comm) {
    char result[CASCADE_PATH_MAX + 16];
    const char *result_path = result;
    snprintf(result, sizeof result, "%s/explain.h5", o->out_dir);
    return cascade_outputs_check(o->ckpt, &o->data, 1, &result_path, 1, force, comm);
}

int cli_explain(int argc, char **argv, MPI_Comm comm) {
    cascade_explain_opts o = {.steps = 50, .pictures = 1, .step_size = 1, .noise = 1, .seed = 1,
                              .epsilon = 1e-6, .alpha = 1, .beta = 0};
    long target = 0, target_count = 1, steps = 50, jitter = 0, seed = 1;
    const char *objective = NULL, *lrp_flag = NULL;
    int force = 0;
    for (int i = 1; i < argc; i++) {
        int more = i + 1 < argc;
        const char *a = argv[i];
        if (cli_is_help(a)) {
            if (cascade_log_rank() == 0) fputs(help, stdout);
            return 0;
        } else if (strcmp(a, "--method") == 0 && more) {
            o.method = argv[++i];
        } else if (strcmp(a, "--data") == 0 && more) {
            o.data = argv[++i];
        } else if (strcmp(a, "--index") == 0 && more) {
            o.index = argv[++i];
        } else if (strcmp(a, "--target") == 0 && more) {
            if (parse_target(argv[++i], &target, &target_count)) return cli_error(2);
        } else if (strcmp(a, "--layer") == 0 && more) {
            o.layer = argv[++i];
        } else if (strcmp(a, "--steps") == 0 && more) {
            if (parse_count(a, argv[++i], 1, &steps)) return cli_error(2);
        } else if (strcmp(a, "--baseline") == 0 && more) {
            const char *b = argv[++i];
            if (strcmp(b, "zero") != 0 && strcmp(b, "mean") != 0) {
                cascade_fail(CASCADE_EUSAGE, "explain: --baseline '%s' is not zero or mean", b);
                return cli_error(2);
            }
            o.baseline_mean = strcmp(b, "mean") == 0;
        } else if (strcmp(a, "--force") == 0) {
            force = 1;
        } else if (strcmp(a, "--no-pictures") == 0) {
            o.pictures = 0;
        } else if (strcmp(a, "--evaluate") == 0) {
            o.evaluate = 1;
        } else if (strcmp(a, "--flip-steps") == 0 && more) {
            long fs;
            if (parse_count(a, argv[++i], 1, &fs)) return cli_error(2);
            o.flip_steps = (int)(fs > 1000000 ? 1000000 : fs);
        } else if (strcmp(a, "--flip-value") == 0 && more) {
            if (parse_real(a, argv[++i], &o.flip_value)) return cli_error(2);
        } else if (strcmp(a, "--mask") == 0 && more) {
            o.mask = argv[++i];
        } else if (cli_is_out(a) && more) {
            o.out_dir = argv[++i];
        } else if (strcmp(a, "--objective") == 0 && more) {
            objective = argv[++i];
        } else if (strcmp(a, "--step-size") == 0 && more) {
            if (parse_real(a, argv[++i], &o.step_size)) return cli_error(2);
        } else if (strcmp(a, "--l2") == 0 && more) {
            if (parse_real(a, argv[++i], &o.l2)) return cli_error(2);
        } else if (strcmp(a, "--blur") == 0 && more) {
            if (parse_real(a, argv[++i], &o.blur)) return cli_error(2);
        } else if (strcmp(a, "--noise") == 0 && more) {
            if (parse_real(a, argv[++i], &o.noise)) return cli_error(2);
        } else if (strcmp(a, "--jitter") == 0 && more) {
            if (parse_count(a, argv[++i], 0, &jitter)) return cli_error(2);
        } else if (strcmp(a, "--seed") == 0 && more) {
            if (parse_count(a, argv[++i], 0, &seed)) return cli_error(2);
        } else if (strcmp(a, "--rule") == 0 && more) {
            o.rule = argv[++i];
        } else if (strcmp(a, "--epsilon") == 0 && more) {
            if (parse_real(a, argv[++i], &o.epsilon)) return cli_error(2);
            lrp_flag = a;
        } else if (strcmp(a, "--alpha") == 0 && more) {
            if (parse_real(a, argv[++i], &o.alpha)) return cli_error(2);
            lrp_flag = a;
        } else if (strcmp(a, "--beta") == 0 && more) {
            if (parse_real(a, argv[++i], &o.beta)) return cli_error(2);
            lrp_flag = a;
        } else if (a[0] != '-' && !o.ckpt) {
            o.ckpt = a;
        } else {
            cascade_fail(CASCADE_EUSAGE, "explain: unexpected argument '%s'", a);
            return cli_error(2);
        }
    }
    if (!o.ckpt || !o.method || !o.out_dir) {
        if (cascade_log_rank() == 0) {
            fprintf(stderr, "cascade explain: %s is required\n", !o.ckpt ? "RUNDIR|CKPT.h5" : !o.method ? "--method" : "--out DIR");
            fputs(help, stderr);
        }
        return 2;
    }
    cascade_explain_method m;
    if (cascade_explain_parse_method(o.method, &m)) return cli_error(2);
    if (m != EXPLAIN_ACTMAX) {
        const char *only = objective ? "--objective" : target_count > 1 ? "--target A:B" : NULL;
        if (only) {
            cascade_fail(CASCADE_EUSAGE, "explain: %s is for --method actmax, not %s", only, o.method);
            return cli_error(2);
        }
    }
    if (m == EXPLAIN_ACTMAX && o.index) {
        cascade_fail(CASCADE_EUSAGE, "explain: --index does not apply to --method actmax (it starts from noise; "
                     "--target chooses the objectives)");
        return cli_error(2);
    }
    if (m != EXPLAIN_LRP && (o.rule || lrp_flag)) {
        cascade_fail(CASCADE_EUSAGE, "explain: %s is for --method lrp, not %s", o.rule ? "--rule" : lrp_flag, o.method);
        return cli_error(2);
    }
    if (o.rule) {
        int rule;
        if (cascade_lrp_parse_rule(o.rule, &rule)) return cli_error(2);
    }
    o.objective = ACTMAX_NEURON;
    if (objective) {
        int k = 0;
        while (k < 3 && strcmp(objective, cascade_actmax_objective_names[k]) != 0) k++;
        if (k == 3) {
            cascade_fail(CASCADE_EUSAGE, "explain: --objective '%s' is not neuron, channel or layer", objective);
            return cli_error(2);
        }
        o.objective = k;
    }
    o.target_count = target_count;
    o.jitter = (int)jitter;
    o.seed = (uint64_t)seed;
    if (!o.data && m != EXPLAIN_FILTERS && m != EXPLAIN_ACTMAX) {
        cascade_fail(CASCADE_EUSAGE, "explain: --method %s needs --data FILE.h5", o.method);
        return cli_error(2);
    }
    o.target = target;
    o.steps = (int)steps;
    cascade_status st = check_output(&o, force, comm);
    if (!st) st = cascade_explain(&o, comm);
    return st ? cli_error(st) : 0;
}
