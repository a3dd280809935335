/* cascade simulate KIND -n N -o OUT.h5 [--seed S] [--compress] [--block B] [--force] [--KIND-OPTION ...] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cascade/cascade.h"
#include "cli/cli.h"
#include "io/fsops.h"
#include "sim/sim.h"

static void print_help(FILE *out) {
    fprintf(out,
            "usage: cascade simulate KIND -n N -o|--out OUT.h5 [--seed S] [--compress] [--block B] [--force]\n"
            "                        [--KIND-OPTION ...]\n"
            "  KIND: %s\n"
            "Writes N events to OUT.h5 (through OUT.h5.tmp, renamed when complete). The file's contents do\n"
            "not depend on the number of MPI ranks. --compress: shuffle + deflate; --block: events per\n"
            "write round [4096]. An existing OUT.h5 is replaced only with --force. `cascade simulate KIND\n"
            "--help` lists the kind's options.\n",
            sim_kinds());
}

/* The word after --key is its value unless it is another option (-o, --flag); negative
 * numbers are values. */
static int is_value(const char *w) {
    if (w[0] != '-') return 1;
    char *end;
    strtod(w, &end);
    return end != w && *end == 0;
}

int cli_simulate(int argc, char **argv, MPI_Comm comm) {
    int root = cascade_log_rank() == 0;
    if (argc < 2 || cli_is_help(argv[1])) {
        if (root) print_help(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const sim_kind *k = sim_find(argv[1]);
    if (!k) return cascade_fail(CASCADE_EUSAGE, "simulate: unknown kind '%s' (known: %s)", argv[1], sim_kinds()), cli_error(2);
    sim_run run = {.n = -1, .seed = 1, .block = 4096};
    const char *out = NULL;
    sim_options opts = {0};
    int force = 0;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (cli_is_help(a)) {
            if (root) {
                print_help(stdout);
                printf("options of %s:\n%s", k->kind, k->help);
            }
            return 0;
        } else if (strcmp(a, "-n") == 0 && more) {
            char *end;
            run.n = strtoll(argv[++i], &end, 10);
            if (*end || run.n < 1) return cascade_fail(CASCADE_EUSAGE, "-n %s: expected a positive integer", argv[i]), cli_error(2);
        } else if (cli_is_out(a) && more) {
            out = argv[++i];
        } else if (strcmp(a, "--seed") == 0 && more) {
            char *end;
            run.seed = strtoull(argv[++i], &end, 10);
            if (*end) return cascade_fail(CASCADE_EUSAGE, "--seed %s: expected a non-negative integer", argv[i]), cli_error(2);
        } else if (strcmp(a, "--block") == 0 && more) {
            char *end;
            run.block = strtoll(argv[++i], &end, 10);
            if (*end || run.block < 1) return cascade_fail(CASCADE_EUSAGE, "--block %s: expected a positive integer", argv[i]), cli_error(2);
        } else if (strcmp(a, "--compress") == 0) {
            run.compress = 1;
        } else if (strcmp(a, "--force") == 0) {
            force = 1;
        } else if (strncmp(a, "--", 2) == 0 && a[2]) {
            if (opts.n == SIM_MAX_OPTIONS) return cascade_fail(CASCADE_EUSAGE, "too many options"), cli_error(2);
            opts.opt[opts.n].key = a + 2;
            opts.opt[opts.n].value = more && is_value(argv[i + 1]) ? argv[++i] : NULL;
            opts.n++;
        } else {
            return cascade_fail(CASCADE_EUSAGE, "simulate: unexpected argument '%s'", a), cli_error(2);
        }
    }
    if (run.n < 0 || !out) {
        if (root) print_help(stderr);
        return cascade_fail(CASCADE_EUSAGE, "simulate needs -n N and -o OUT.h5"), cli_error(2);
    }
    cascade_status checked = cascade_outputs_check(NULL, NULL, 0, &out, 1, force, comm);
    if (checked) return cli_error(checked);
    void *cfg = cascade_alloc(k->cfg_size ? k->cfg_size : 1, "simulator config");
    if (!cfg) return cli_error(1);
    cascade_status st = k->configure ? k->configure(cfg, &opts) : CASCADE_OK;
    for (int i = 0; i < opts.n && !st; i++)
        if (!opts.opt[i].used)
            st = cascade_fail(CASCADE_EUSAGE, "simulate %s: unknown option --%s (see cascade simulate %s --help)", k->kind,
                              opts.opt[i].key, k->kind);
    double gen = 0, total = 0;
    if (!st) st = cascade_simulate(k, cfg, &run, out, comm, &gen, &total);
    cascade_free(cfg);
    if (st) return cli_error(st);
    int size;
    MPI_Comm_size(comm, &size);
    cascade_log("simulate %s: %lld events -> %s in %.2f s (generation %.2f s, %.0f events/s per rank)\n", k->kind,
                (long long)run.n, out, total, gen, gen > 0 ? (double)run.n / size / gen : 0.0);
    return 0;
}
