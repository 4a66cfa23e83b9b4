/* harness/main.c — the `epr` command: argument parsing and dispatch. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "harness/config.h"
#include "harness/train.h"

static void usage_main(FILE *f) {
    fprintf(f,
            "epr %s — train neural networks whose weights compress (entropy penalized\n"
            "reparameterization) and write them as entropy-coded bitstreams.\n\n"
            "usage: epr COMMAND [options]   (epr COMMAND --help for details)\n\n"
            "commands:\n"
            "  train EXPERIMENT.ini   train a network (plain float32 or EPR); run under mpirun for\n"
            "                         data-parallel training: mpirun -np P epr train X.ini\n"
            "  help                   this text\n\n"
            "environment:\n"
            "  EPR_DATA_ROOT          where data sets live (default: the source tree's data/,\n"
            "                         prepared by scripts/setup.sh)\n",
            EPR_VERSION);
}

static void usage_train(FILE *f) {
    fprintf(f,
            "usage: epr train EXPERIMENT.ini [options]\n\n"
            "Trains the network of an experiment file and reports the test error of the\n"
            "EMA weights (quantised, when EPR is on) and, for EPR, the exact rate.\n\n"
            "options:\n"
            "  --set SECTION.KEY=VALUE  override a setting (repeatable), e.g. --set epr.lambda=3e-6\n"
            "  --out DIR                run directory (default runs/<experiment name>)\n"
            "  --quiet                  no progress lines\n"
            "  -h, --help               this text\n\n"
            "experiment file keys (INI):\n");
    cfg_print_reference(f);
    fprintf(f,
            "\nlayer list ([model] name = custom, layers = one layer per indented line):\n"
            "  dense out=N | conv out=N k=K [stride=S] [pad=P] | maxpool k=K [stride=S] |\n"
            "  avgpool k=K [stride=S] | gap | relu | batchnorm | flatten | add with=LAYER\n"
            "  any layer: name=NAME, in=LAYER (default: the previous layer); dense/conv: bias=0|1\n"
            "  parameter tensors are called NAME.weight and NAME.bias\n");
}

static int cmd_train(int argc, char **argv) {
    const char *exp = NULL, *out_dir = NULL;
    const char *sets[256];
    int nsets = 0, quiet = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage_train(stdout);
            return 0;
        } else if (!strcmp(a, "--set") && i + 1 < argc) {
            if (nsets == 256) {
                fprintf(stderr, "epr train: too many --set options\n");
                return 2;
            }
            sets[nsets++] = argv[++i];
        } else if (!strncmp(a, "--set=", 6)) {
            if (nsets < 256) sets[nsets++] = a + 6;
        } else if (!strcmp(a, "--out") && i + 1 < argc) {
            out_dir = argv[++i];
        } else if (!strcmp(a, "--quiet")) {
            quiet = 1;
        } else if (a[0] == '-') {
            fprintf(stderr, "epr train: unknown or incomplete option '%s' (see epr train --help)\n", a);
            return 2;
        } else if (!exp) {
            exp = a;
        } else {
            fprintf(stderr, "epr train: unexpected argument '%s'\n", a);
            return 2;
        }
    }
    if (!exp) {
        fprintf(stderr, "epr train: missing EXPERIMENT.ini (see epr train --help)\n");
        return 2;
    }
    MPI_Init(NULL, NULL);
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    cfg_experiment cfg;
    epr_err err = {0};
    int rc = cfg_load(exp, sets, nsets, &cfg, &err);
    char dir[1200];
    if (!rc) {
        if (out_dir)
            snprintf(dir, sizeof dir, "%s", out_dir);
        else
            snprintf(dir, sizeof dir, "runs/%s", cfg.name);
        train_opts o = {.out_dir = dir, .quiet = quiet};
        train_result res;
        rc = train_run(&cfg, &o, &res, &err);
    }
    if (rc) {
        /* every rank met the same configuration or data error; one speaks */
        if (rank == 0) fprintf(stderr, "epr train: error: %s\n", err.msg);
        cfg_free(&cfg);
        MPI_Finalize();
        return 1;
    }
    cfg_free(&cfg);
    MPI_Finalize();
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage_main(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        usage_main(stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version")) {
        printf("epr %s\n", EPR_VERSION);
        return 0;
    }
    if (!strcmp(cmd, "train")) return cmd_train(argc - 2, argv + 2);
    fprintf(stderr, "epr: unknown command '%s' (see epr --help)\n", cmd);
    return 2;
}
