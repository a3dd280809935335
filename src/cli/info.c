/* cascade info FILE.h5 | RUNDIR: describes a data set file (root attributes, data sets with shapes)
 * or a checkpoint (progress, parameters per layer). */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cascade/cascade.h"
#include "cascade/h5io.h"
#include "cli/cli.h"

static const char help[] =
    "usage: cascade info FILE.h5 | RUNDIR\n"
    "\n"
    "Describes a data set (root attributes, every data set with its shape and type) or a\n"
    "checkpoint (step, epoch, ranks, and every parameter with its shape). A run directory, its\n"
    "checkpoints/ or a LATEST / BEST file stands for the checkpoint it names.\n";

static void print_attrs(cascade_h5file *f, const char *obj, const char *indent) {
    cascade_h5_names names;
    if (cascade_h5_attr_names(f, obj, &names)) return;
    for (int i = 0; i < names.count; i++) {
        char *text = NULL;
        if (strcmp(names.names[i], "job") == 0) continue; /* printed separately */
        if (cascade_h5_attr_text(f, obj, names.names[i], &text) == CASCADE_OK) {
            printf("%s%s = %s\n", indent, names.names[i], text);
            cascade_free(text);
        }
    }
    cascade_h5_names_free(&names);
}

static const char *class_name(cascade_h5_class c, int bytes, char *buf, size_t n) {
    const char *k = c == CASCADE_H5_FLOAT ? "float" : c == CASCADE_H5_INT ? "int" : c == CASCADE_H5_UINT ? "uint" : "other";
    snprintf(buf, n, "%s%d", k, bytes * 8);
    return buf;
}

/* Recursively lists data sets below group. */
static void walk(cascade_h5file *f, const char *group, int depth) {
    cascade_h5_names names;
    if (cascade_h5_children(f, group, &names)) return;
    for (int i = 0; i < names.count; i++) {
        char path[1024], sh[128], ty[32];
        snprintf(path, sizeof path, "%s/%s", strcmp(group, "/") ? group : "", names.names[i]);
        cascade_h5_kind k = cascade_h5_kind_of(f, path);
        if (k == CASCADE_H5_GROUP) {
            printf("%*s%s/\n", 2 * depth + 2, "", names.names[i]);
            walk(f, path, depth + 1);
        } else if (k == CASCADE_H5_DATASET) {
            cascade_h5_info info;
            if (cascade_h5_info_of(f, path, &info) == CASCADE_OK)
                printf("%*s%-24s %-20s %s\n", 2 * depth + 2, "", names.names[i],
                       cascade_shape_str(&info.shape, sh, sizeof sh), class_name(info.type_class, info.type_bytes, ty, sizeof ty));
        }
    }
    cascade_h5_names_free(&names);
}

int cli_info(int argc, char **argv, MPI_Comm comm) {
    if (argc != 2 || cli_is_help(argv[1])) {
        if (cascade_log_rank() == 0) fputs(help, argc == 2 ? stdout : stderr);
        return argc == 2 ? 0 : 2;
    }
    cascade_h5file *f;
    char path[4096];
    struct stat sb;
    const char *base = strrchr(argv[1], '/') ? strrchr(argv[1], '/') + 1 : argv[1];
    int pointer = (stat(argv[1], &sb) == 0 && S_ISDIR(sb.st_mode)) || !strcmp(base, "LATEST") || !strcmp(base, "BEST");
    cascade_status st = CASCADE_OK;
    if (pointer) st = cascade_ckpt_resolve(argv[1], path, sizeof path);
    else snprintf(path, sizeof path, "%s", argv[1]);
    if (!st) st = cascade_h5_open(path, comm, &f);
    if (st) return cli_error(st);
    if (cascade_log_rank() == 0) {
        int is_ckpt = cascade_h5_attr_exists(f, "/", "format");
        printf("%s: %s\n", path, is_ckpt ? "cascade checkpoint" : "data set file");
        print_attrs(f, "/", "  ");
        printf("contents:\n");
        walk(f, "/", 0);
    }
    cascade_h5_close(f);
    return 0;
}
