/* cascade command line: dispatches subcommands; the only place that exits. */
#include <stdio.h>
#include <string.h>

#include "cascade/cascade.h"

int main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
        printf("cascade %s\n", CASCADE_VERSION);
        return 0;
    }
    fprintf(stderr, "usage: cascade COMMAND ...\n");
    return 2;
}
