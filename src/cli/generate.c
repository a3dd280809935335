/* cascade generate RUNDIR|CKPT.h5 -n N -o|--out OUT.h5 [--seed S] [--condition FILE.h5]
 * cascade refine RUNDIR|CKPT.h5 --data SIM.h5 -o OUT.h5 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cascade/cascade.h"
#include "cli/cli.h"
#include "apps/apps.h"
#include "io/fsops.h"

static const char help[] =
    "usage: cascade generate RUNDIR|CKPT.h5 -n N -o|--out OUT.h5 [--seed S] [--condition FILE.h5] [--force]\n"
    "\n"
    "N samples from a trained gan / wgan / wgan-gp generator (a run directory: its newest\n"
    "checkpoint), in physical units under the training inputs' data-set names. z ~ N(0, 1) is\n"
    "drawn from --seed (default: the job's seed) and the sample index, so the output does not\n"
    "depend on the number of ranks. A conditional generator takes its conditions from the first\n"
    "N rows of --condition FILE.h5 (the job's `condition` data sets, copied into OUT.h5).\n"
    "OUT.h5 appears only when complete (OUT.h5.tmp, renamed); it may not be an input, and an\n"
    "existing OUT.h5 is replaced only with --force.\n";

int cli_generate(int argc, char **argv, MPI_Comm comm) {
    const char *ckpt = NULL, *out = NULL, *cond = NULL;
    long long n = 0;
    unsigned long long seed = 0;
    int seed_given = 0, force = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        char *end;
        if (cli_is_help(a)) {
            if (cascade_log_rank() == 0) fputs(help, stdout);
            return 0;
        } else if (strcmp(a, "-n") == 0 && more) {
            n = strtoll(argv[++i], &end, 10);
            if (*end || n <= 0)
                return cascade_fail(CASCADE_EUSAGE, "generate -n %s: expected a positive integer", argv[i]), cli_error(2);
        } else if (cli_is_out(a) && more) {
            out = argv[++i];
        } else if (strcmp(a, "--seed") == 0 && more) {
            seed = strtoull(argv[++i], &end, 10);
            if (*end || argv[i][0] == '-')
                return cascade_fail(CASCADE_EUSAGE, "generate --seed %s: expected a non-negative integer", argv[i]),
                       cli_error(2);
            seed_given = 1;
        } else if (strcmp(a, "--force") == 0) {
            force = 1;
        } else if (strcmp(a, "--condition") == 0 && more) {
            cond = argv[++i];
        } else if (a[0] != '-' && !ckpt) {
            ckpt = a;
        } else {
            cascade_fail(CASCADE_EUSAGE, "generate: unexpected argument '%s'%s", a, more ? "" : " (missing value?)");
            if (cascade_log_rank() == 0) fputs(help, stderr);
            return cli_error(2);
        }
    }
    if (!ckpt || !out || n <= 0) {
        if (cascade_log_rank() == 0) fputs(help, stderr);
        return 2;
    }
    cascade_status st = cascade_outputs_check(ckpt, &cond, 1, &out, 1, force, comm);
    if (!st) st = cascade_generate(ckpt, (int64_t)n, seed, seed_given, cond, out, comm);
    return st ? cli_error(st) : 0;
}

static const char refine_help[] =
    "usage: cascade refine RUNDIR|CKPT.h5 --data SIM.h5 -o|--out OUT.h5 [--force]\n"
    "\n"
    "Applies the refiner of a kind = refiner run (a run directory: its newest checkpoint) to every\n"
    "sample of SIM.h5: OUT.h5 holds the refined inputs in physical units under their names and a\n"
    "copy of every other data set (the labels) and of the root attributes (domain = refined).\n"
    "Runs alone or under mpirun; the output does not depend on the number of ranks.\n"
    "OUT.h5 appears only when complete (OUT.h5.tmp, renamed); it may not be SIM.h5 or the\n"
    "checkpoint, and an existing OUT.h5 is replaced only with --force.\n";

int cli_refine(int argc, char **argv, MPI_Comm comm) {
    const char *ckpt = NULL, *data = NULL, *out = NULL;
    int force = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (cli_is_help(a)) {
            if (cascade_log_rank() == 0) fputs(refine_help, stdout);
            return 0;
        } else if (strcmp(a, "--force") == 0) {
            force = 1;
        } else if (strcmp(a, "--data") == 0 && more) {
            data = argv[++i];
        } else if (cli_is_out(a) && more) {
            out = argv[++i];
        } else if (a[0] != '-' && !ckpt) {
            ckpt = a;
        } else {
            cascade_fail(CASCADE_EUSAGE, "refine: unexpected argument '%s'%s", a, more ? "" : " (missing value?)");
            if (cascade_log_rank() == 0) fputs(refine_help, stderr);
            return cli_error(2);
        }
    }
    if (!ckpt || !data || !out) {
        if (cascade_log_rank() == 0) fputs(refine_help, stderr);
        return 2;
    }
    cascade_status st = cascade_outputs_check(ckpt, &data, 1, &out, 1, force, comm);
    if (!st) st = cascade_refine(ckpt, data, out, comm);
    return st ? cli_error(st) : 0;
}
