/* cascade command line: MPI setup and subcommand dispatch; the only place that exits. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cascade/cascade.h"
#include "cli/cli.h"
#include "parallel/errors.h"

static const char usage[] =
    "usage: cascade COMMAND [ARGS]   (under mpirun -n N or srun, or alone)\n"
    "\n"
    "commands:\n"
    "  simulate KIND      simulate a data set (airshower, calorimeter, lartpc, skymap, radio)\n"
    "  train JOB.ini      train the job's model (see `cascade train --help`)\n"
    "  evaluate RUN|CKPT  loss and task metrics of a trained model on a data file\n"
    "  predict RUN|CKPT   model outputs per sample into an HDF5 file\n"
    "  generate RUN|CKPT  samples from a trained gan / wgan / wgan-gp generator\n"
    "  refine RUN|CKPT    a trained refiner applied to simulated samples\n"
    "  explain RUN|CKPT   activations, filters and attributions (saliency, ...) of a model\n"
    "  info FILE.h5       describe a data set or a checkpoint\n"
    "  help COMMAND       the command's options (= cascade COMMAND --help)\n"
    "  bench NAME         run a benchmark (see bench/README.md)\n"
    "  --version          print the version\n"
    "\n"
    "Outputs appear only when complete; an output that is an input is refused, an existing one\n"
    "is replaced only with --force. A run directory is locked while a train uses it.\n";

int cli_is_help(const char *arg) { return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0; }
int cli_is_out(const char *arg) { return strcmp(arg, "-o") == 0 || strcmp(arg, "--out") == 0; }

/* This rank's error; on ranks other than 0 said at the end only if rank 0 did not say the same. */
static char deferred[1024];

int cli_error(int code) {
    int rank = cascade_log_rank();
    /* usage errors (command line, job file, rank count) are found alike by every rank: said once */
    if (code == CASCADE_EUSAGE && rank != 0) return code;
    snprintf(deferred, sizeof deferred, "%s", cascade_errmsg()); /* rank 0: to compare with */
    if (rank == 0) fprintf(stderr, "cascade: error: %s\n", cascade_errmsg());
    return code;
}

int main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
        printf("cascade %s\n", CASCADE_VERSION);
        return 0;
    }
    if (argc < 2 || cli_is_help(argv[1])) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    /* `cascade help CMD [KIND]` is `cascade CMD [KIND] --help` */
    char *help_argv[8];
    if (strcmp(argv[1], "help") == 0) {
        if (argc == 2 || argc > 6) {
            fputs(usage, argc == 2 ? stdout : stderr);
            return argc == 2 ? 0 : 2;
        }
        help_argv[0] = argv[0];
        for (int i = 2; i < argc; i++) help_argv[i - 1] = argv[i];
        help_argv[argc - 1] = (char *)"--help";
        help_argv[argc] = NULL;
        argv = help_argv;
    }
    int provided;
    if (MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
        fprintf(stderr, "cascade: error: MPI_Init failed\n");
        return 1;
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    cascade_log_set_rank(rank);
    /* a corrupt file can make libhdf5 loop forever reading a string (docs/hdf5.md "Fuzzing") */
    const char *watchdog = getenv("CASCADE_H5_WATCHDOG");
    cascade_h5_set_watchdog(watchdog && *watchdog ? (unsigned)strtoul(watchdog, NULL, 10) : 60);
    int code;
    if (strcmp(argv[1], "train") == 0)
        code = cli_train(argc - 1, argv + 1, MPI_COMM_WORLD);
    else if (strcmp(argv[1], "evaluate") == 0)
        code = cli_evaluate(argc - 1, argv + 1, MPI_COMM_WORLD);
    else if (strcmp(argv[1], "simulate") == 0)
        code = cli_simulate(argc - 1, argv + 1, MPI_COMM_WORLD);
    else if (strcmp(argv[1], "predict") == 0)
        code = cli_predict(argc - 1, argv + 1, MPI_COMM_WORLD);
    else if (strcmp(argv[1], "refine") == 0)
        code = cli_refine(argc - 1, argv + 1, MPI_COMM_WORLD);
    else if (strcmp(argv[1], "generate") == 0)
        code = cli_generate(argc - 1, argv + 1, MPI_COMM_WORLD);
    else if (strcmp(argv[1], "bench") == 0)
        code = cli_bench(argc - 1, argv + 1, MPI_COMM_WORLD);
    else if (strcmp(argv[1], "explain") == 0)
        code = cli_explain(argc - 1, argv + 1, MPI_COMM_WORLD);
    else if (strcmp(argv[1], "info") == 0)
        code = cli_info(argc - 1, argv + 1, MPI_COMM_WORLD);
    else {
        if (rank == 0) fprintf(stderr, "cascade: unknown command '%s'\n%s", argv[1], usage);
        code = 2;
    }
    /* another rank's error: said unless rank 0 said the same (data every rank reads alike) */
    cascade_par_error_once(MPI_COMM_WORLD, deferred, 10.0);
    MPI_Finalize();
    return code;
}
