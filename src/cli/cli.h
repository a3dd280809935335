/* Subcommands of the cascade CLI. Each returns an exit code (CONTRACT: 0 ok, 1 internal,
 * 2 usage/job, 3 data, 4 I/O, 75 stopped by a signal after a checkpoint). */
#ifndef CASCADE_CLI_H
#define CASCADE_CLI_H

#include <mpi.h>

int cli_train(int argc, char **argv, MPI_Comm comm);
int cli_evaluate(int argc, char **argv, MPI_Comm comm);
int cli_predict(int argc, char **argv, MPI_Comm comm);
int cli_refine(int argc, char **argv, MPI_Comm comm);
int cli_generate(int argc, char **argv, MPI_Comm comm);
int cli_explain(int argc, char **argv, MPI_Comm comm);
int cli_info(int argc, char **argv, MPI_Comm comm);
int cli_simulate(int argc, char **argv, MPI_Comm comm);
int cli_bench(int argc, char **argv, MPI_Comm comm);
/* Prints the current error (prefixed with the rank when not 0) and returns its code. */
int cli_error(int code);
int cli_is_help(const char *arg);
/* -o or --out: every command that writes takes both spellings. */
int cli_is_out(const char *arg);
/* `evaluate --plots`: runs tools/plot_evaluation.py on the predictions and metrics (rank 0). */
int cli_run_plot_evaluation(const char *ckpt, const char *preds, const char *metrics, const char *dir);
/* tools/plot_gan_evaluation.py on DIR/observables.h5 and DIR/metrics.json (rank 0). */
int cli_run_plot_gan(const char *dir);

#endif
