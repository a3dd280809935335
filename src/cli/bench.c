/* cascade bench NAME [ARGS]: runs a benchmark of bench/ (see bench/README.md) for this build. */
#include <libgen.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cascade/cascade.h"
#include "cli/cli.h"

extern char **environ;

static const char help[] =
    "usage: cascade bench NAME [ARGS]\n"
    "  vs_torch     training throughput vs PyTorch (1 and 2 threads) and fraction of sgemm peak\n"
    "  ops_gflops   conv and dense GFLOP/s vs sgemm peak\n"
    "  dist         step time split, gradient-sync overhead, deterministic cost, checkpoint and input rates\n"
    "  simulate     simulator events/s per rank, generation vs write, 1 -> 2 rank speed-up [N]\n"
    "Needs the source tree the binary was built from (bench/*.sh); see bench/README.md.\n";

int cli_bench(int argc, char **argv, MPI_Comm comm) {
    (void)comm;
    if (argc < 2 || cli_is_help(argv[1])) {
        if (cascade_log_rank() == 0) fputs(help, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (cascade_log_rank() != 0) return 0;
    char exe[PATH_MAX], build[PATH_MAX], src[PATH_MAX], script[PATH_MAX + 64], program[PATH_MAX + 64];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len <= 0) return cascade_fail(CASCADE_EINTERNAL, "cannot locate the cascade binary"), cli_error(1);
    exe[len] = 0;
    snprintf(build, sizeof build, "%s", dirname(exe)); /* exe is not used again */
    char tools[PATH_MAX];
    snprintf(tools, sizeof tools, "%s", CASCADE_SOURCE_TOOLS);
    snprintf(src, sizeof src, "%s", dirname(tools)); /* tools/ -> the source tree */
    const char *name = argv[1];
    snprintf(script, sizeof script, "%s/bench/%s.sh", src, name);
    snprintf(program, sizeof program, "%s/bench/%s", build, name);
    char *args[64];
    int n = 0;
    if (access(script, R_OK) == 0) {
        args[n++] = "bash";
        args[n++] = script;
        args[n++] = build;
    } else if (access(program, X_OK) == 0) {
        args[n++] = program;
    } else {
        cascade_fail(CASCADE_EUSAGE, "bench: no benchmark '%s' (neither %s nor %s)", name, script, program);
        fputs(help, stderr);
        return cli_error(2);
    }
    for (int i = 2; i < argc && n < 63; i++) args[n++] = argv[i];
    args[n] = NULL;
    pid_t pid;
    int status = 0;
    if (posix_spawnp(&pid, args[0], NULL, NULL, args, environ) != 0 || waitpid(pid, &status, 0) < 0)
        return cascade_fail(CASCADE_EINTERNAL, "bench: cannot run %s", args[0]), cli_error(1);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
