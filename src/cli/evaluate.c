/* cascade evaluate RUNDIR|CKPT.h5 [--data FILE.h5] [--out METRICS.json] */
#include <stdio.h>
#include <string.h>

#include "cascade/cascade.h"
#include "cli/cli.h"
#include "train/train.h"

static const char help[] =
    "usage: cascade evaluate RUNDIR|CKPT.h5 [--data FILE.h5] [--out METRICS.json]\n"
    "\n"
    "Runs the trained model on FILE.h5 (default: the job's validation data) and writes the loss\n"
    "and task metrics as JSON: per regression target bias, resolution (std of the residual) and\n"
    "RMSE; for classification accuracy and ROC AUC.\n";

int cli_evaluate(int argc, char **argv, MPI_Comm comm) {
    const char *ckpt = NULL, *data = NULL, *out = NULL;
    for (int i = 1; i < argc; i++) {
        int more = i + 1 < argc;
        if (cli_is_help(argv[i])) {
            if (cascade_log_rank() == 0) fputs(help, stdout);
            return 0;
        } else if (strcmp(argv[i], "--data") == 0 && more) {
            data = argv[++i];
        } else if (strcmp(argv[i], "--out") == 0 && more) {
            out = argv[++i];
        } else if (argv[i][0] != '-' && !ckpt) {
            ckpt = argv[i];
        } else {
            cascade_fail(CASCADE_EUSAGE, "evaluate: unexpected argument '%s'", argv[i]);
            return cli_error(2);
        }
    }
    if (!ckpt) {
        if (cascade_log_rank() == 0) fputs(help, stderr);
        return 2;
    }
    cascade_status st = cascade_evaluate(ckpt, data, out, comm);
    return st ? cli_error(st) : 0;
}

/* cascade predict RUNDIR|CKPT.h5 --data FILE.h5 -o OUT.h5 */
static const char predict_help[] =
    "usage: cascade predict RUNDIR|CKPT.h5 --data FILE.h5 -o OUT.h5\n"
    "\n"
    "Writes the model's outputs per sample to OUT.h5 as `output` (N, output shape; regression\n"
    "outputs in physical units, classification logits), with copies of the job's target data\n"
    "sets when FILE.h5 has them. Runs under mpirun too (the ranks share the samples).\n";

int cli_predict(int argc, char **argv, MPI_Comm comm) {
    const char *ckpt = NULL, *data = NULL, *out = NULL;
    for (int i = 1; i < argc; i++) {
        int more = i + 1 < argc;
        if (cli_is_help(argv[i])) {
            if (cascade_log_rank() == 0) fputs(predict_help, stdout);
            return 0;
        } else if (strcmp(argv[i], "--data") == 0 && more) {
            data = argv[++i];
        } else if ((strcmp(argv[i], "-o") == 0 || strcmp(argv[i], "--out") == 0) && more) {
            out = argv[++i];
        } else if (argv[i][0] != '-' && !ckpt) {
            ckpt = argv[i];
        } else {
            cascade_fail(CASCADE_EUSAGE, "predict: unexpected argument '%s'", argv[i]);
            return cli_error(2);
        }
    }
    if (!ckpt || !data || !out) {
        if (cascade_log_rank() == 0) fputs(predict_help, stderr);
        return 2;
    }
    cascade_status st = cascade_predict(ckpt, data, out, comm);
    return st ? cli_error(st) : 0;
}
