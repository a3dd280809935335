/* cascade explain RUNDIR|CKPT.h5 --method METHOD --data FILE.h5 [--index I|A:B] [--target K]
 *                 [--layer NAME] [--steps N] [--baseline zero|mean] --out DIR */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cascade/cascade.h"
#include "cli/cli.h"
#include "explain/explain.h"

static const char help[] =
    "usage: cascade explain RUNDIR|CKPT.h5 --method METHOD --data FILE.h5 [--index I|A:B] [--target K]\n"
    "                       [--layer NAME] [--steps N] [--baseline zero|mean] [--no-pictures] --out DIR\n"
    "\n"
    "Explains a trained supervised model on samples of FILE.h5; writes DIR/explain.h5 and pictures.\n"
    "  activations  every layer's output (after its activation), or --layer's: activations/LAYER\n"
    "  filters      weights of --layer (default: the first dense/conv layer): filters/LAYER\n"
    "  saliency     dS/dx, S = output element --target (class logit or regression output): attribution\n"
    "  inputxgrad   x * dS/dx\n"
    "  integrated   Integrated Gradients: (x - b) * mean of dS/dx on the path b + a (x - b), midpoint\n"
    "               rule with --steps N [50] points; baseline b --baseline zero [default] or mean\n"
    "               (over the chosen samples)\n"
    "x is the input as the network sees it (normalised, inputs stacked as channels).\n"
    "--index I or A:B (samples A..B-1) [0]; --target K [0]. Pictures: one heatmap per sample and\n"
    "channel, DIR/attribution_SAMPLE_CHANNEL.png, for (C, H, W) inputs. See docs/explain.md.\n"
    "Later: deconvnet, guided, cam, gradcam, guided-gradcam, actmax, lrp.\n";

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

int cli_explain(int argc, char **argv, MPI_Comm comm) {
    cascade_explain_opts o = {.steps = 50, .pictures = 1};
    long target = 0, steps = 50;
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
            if (parse_count(a, argv[++i], 0, &target)) return cli_error(2);
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
        } else if (strcmp(a, "--no-pictures") == 0) {
            o.pictures = 0;
        } else if ((strcmp(a, "--out") == 0 || strcmp(a, "-o") == 0) && more) {
            o.out_dir = argv[++i];
        } else if (strcmp(a, "--rule") == 0 && more) {
            cascade_fail(CASCADE_EUSAGE, "explain: --rule is for --method lrp, which is not available yet");
            return cli_error(2);
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
    if (!o.data && m != EXPLAIN_FILTERS) {
        cascade_fail(CASCADE_EUSAGE, "explain: --method %s needs --data FILE.h5", o.method);
        return cli_error(2);
    }
    o.target = target;
    o.steps = (int)steps;
    cascade_status st = cascade_explain(&o, comm);
    return st ? cli_error(st) : 0;
}
