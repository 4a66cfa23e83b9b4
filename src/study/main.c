/* study/main.c — the `epr` command: argument parsing and dispatch. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "epr/codec.h"
#include "study/baseline.h"
#include "run/bitstream.h"
#include "run/compress.h"
#include "run/config.h"
#include "run/data_sets.h"
#include "run/fsutil.h"
#include "run/export.h"
#include "run/tensorfile.h"
#include "study/sweep.h"
#include "run/train.h"

static void usage_main(FILE *f) {
    fprintf(f,
            "epr %s — train neural networks whose weights compress (entropy penalized\n"
            "reparameterization) and write them as entropy-coded bitstreams.\n\n"
            "usage: epr COMMAND [options]   (epr COMMAND --help for details)\n\n"
            "commands:\n"
            "  train EXPERIMENT.ini   train a network (plain float32 or EPR); run under mpirun for\n"
            "                         data-parallel training: mpirun -np P epr train X.ini\n"
            "  compress RUN.h5 -o MODEL.epr  write the bitstream of a finished run or checkpoint\n"
            "  inspect MODEL.epr      size of a bitstream by part, group and column\n"
            "  eval MODEL.epr         rebuild the network from the file alone and report its test error\n"
            "  export IN -o OUT       the weights of a .epr or RUN.h5 as .npz (NumPy) or .safetensors\n"
            "  baseline RUN.h5        post-training baselines of a finished plain run (float32, gzip, xz,\n"
            "                         uniform / k-means quantisation), each a real file: RUN_DIR/baselines.h5\n"
            "  sweep SWEEP.tsv --out DIR  run a lambda sweep table on this node (skips complete runs, resumes)\n"
            "  pareto DIR             DIR/sweep.h5 and DIR/report.md (Pareto set, baseline, paper) from DIR/*/run.h5\n"
            "  help                   this text\n\n"
            "environment:\n"
            "  EPR_DATA_ROOT          where data sets live (default: the source tree's data/,\n"
            "                         prepared by scripts/setup.sh)\n",
            EPR_VERSION);
}

static void usage_train(FILE *f) {
    fprintf(f, "usage: epr train EXPERIMENT.ini [options]\n\n"
               "Trains the network of an experiment file and reports the test error of the\n"
               "EMA weights (quantised, when EPR is on) and, for EPR, the exact rate.\n\n"
               "options:\n"
               "  --set SECTION.KEY=VALUE  override a setting (repeatable), e.g. --set epr.lambda=3e-6\n"
               "  --out DIR                run directory (default runs/<experiment name>): run.h5 (curves,\n"
               "                           checkpoints, final figures) and, for EPR, model.epr\n"
               "  --resume RUN.h5          continue a run from its last checkpoint (same experiment, same\n"
               "                           --set options and rank count); the result is bitwise identical\n"
               "                           to an uninterrupted run\n"
               "  --force                  --out may hold a run (run.h5, model.epr, baselines.h5, a\n"
               "                           checkpoint being written): delete those files and train anew.\n"
               "                           Without --force or --resume such a directory is refused\n"
               "  --quiet                  no progress lines\n"
               "  -h, --help               this text\n\n"
               "SIGTERM, SIGINT (Ctrl-C), SIGHUP or SIGUSR1 (Slurm's warning signal) make the run finish\n"
               "its step, write a checkpoint and exit with status 75.  Under mpirun, send SIGUSR1 to\n"
               "mpirun: it forwards it and exits 75 (Open MPI 4.1 exits 1 after TERM/INT/HUP, though the\n"
               "ranks still checkpoint).  A failing rank aborts the whole MPI job with a message naming\n"
               "the rank, the step and the cause.  While it trains, the run holds DIR/run.lock (flock):\n"
               "a second epr train into the same directory is refused.  The run file: docs/runfile.md.\n\n"
               "experiment file keys (INI):\n");
    cfg_print_reference(f);
    fprintf(f, "\nlayer list ([model] name = custom, layers = one layer per indented line):\n"
               "  dense out=N | conv out=N k=K [stride=S] [pad=P] | maxpool k=K [stride=S] |\n"
               "  avgpool k=K [stride=S] | gap | relu | batchnorm [affine=1] | flatten | add with=LAYER\n"
               "  any layer: name=NAME, in=LAYER (default: the previous layer); dense/conv: bias=0|1\n"
               "  parameter tensors are called NAME.weight and NAME.bias (batchnorm: beta is NAME.bias;\n"
               "  affine=1 adds a learnable gamma NAME.weight, as torch.nn.BatchNorm2d)\n");
}

static int cmd_train(int argc, char **argv) {
    const char *exp = NULL, *out_dir = NULL, *resume = NULL;
    const char *sets[256];
    int nsets = 0, quiet = 0, force = 0;
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
        } else if (!strcmp(a, "--resume") && i + 1 < argc) {
            resume = argv[++i];
        } else if (!strcmp(a, "--quiet")) {
            quiet = 1;
        } else if (!strcmp(a, "--force")) {
            force = 1;
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
        train_opts o = {.out_dir = dir,
                        .resume = resume,
                        .quiet = quiet,
                        .force = force,
                        .after_training = cfg.baseline_post[0] ? baseline_after_training : NULL};
        train_result res;
        rc = train_run(&cfg, &o, &res, &err);
    }
    if (rc == TRAIN_STOPPED) {
        cfg_free(&cfg);
        MPI_Finalize();
        return TRAIN_STOPPED;
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

/* --max-elements N (inspect, eval): the reader's per-tensor element limit,
 * and at least as much in all (docs/format.md §5).  0 if argv[*i] is not
 * that option, 1 if taken, -1 if its value is bad. */
static int limits_option(const char *cmd, int argc, char **argv, int *i, epr_read_limits *lim) {
    if (strcmp(argv[*i], "--max-elements")) return 0;
    char *end = NULL;
    long long n = *i + 1 < argc ? strtoll(argv[*i + 1], &end, 10) : 0;
    if (!end || *end || n < 1 || n > (1LL << 40)) {
        fprintf(stderr, "epr %s: --max-elements needs a count in 1..2^40\n", cmd);
        return -1;
    }
    ++*i;
    lim->max_tensor_elements = n;
    lim->max_total_elements = n > EPR_DEFAULT_MAX_TOTAL_ELEMENTS ? n : 0;
    return 1;
}
#define LIMITS_HELP                                                                         \
    "  --max-elements N  refuse tensors of more than N elements (default 2^28; the total\n" \
    "              allowed is the larger of N and 2^30)\n"

static void usage_inspect(FILE *f) {
    fprintf(f, "usage: epr inspect MODEL.epr [--columns] [--arch]\n\n"
               "Prints the file's size by part (header, architecture, decoder parameters, tables,\n"
               "tensor index, coded phi, extras, crc), by group (bits per parameter, table choice)\n"
               "and its tensors.\n"
               "  --columns   one line per column: table kind (histogram | density), precision, support\n"
               "  --arch      print the stored architecture text\n" LIMITS_HELP
               "Exits 1 when the file is refused or one of its coded streams does not decode.\n");
}

static int cmd_inspect(int argc, char **argv) {
    const char *path = NULL;
    int columns = 0, arch = 0, lo;
    epr_read_limits lim = {0, 0, 0, 0};
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage_inspect(stdout);
            return 0;
        } else if ((lo = limits_option("inspect", argc, argv, &i, &lim))) {
            if (lo < 0) return 2;
        } else if (!strcmp(argv[i], "--columns")) {
            columns = 1;
        } else if (!strcmp(argv[i], "--arch")) {
            arch = 1;
        } else if (argv[i][0] == '-' || path) {
            fprintf(stderr, "epr inspect: unexpected argument '%s' (see epr inspect --help)\n", argv[i]);
            return 2;
        } else {
            path = argv[i];
        }
    }
    if (!path) {
        fprintf(stderr, "epr inspect: missing MODEL.epr\n");
        return 2;
    }
    epr_file *f;
    epr_err e = {0};
    if (epr_file_open_limited(path, &lim, &f, &e)) {
        fprintf(stderr, "epr inspect: error: %s\n", e.msg);
        return 1;
    }
    printf("%s\n", path);
    bitstream_print_sizes(f, stdout, columns);
    printf("tensors:\n");
    int bad = 0; /* tensors whose stream does not decode: exit 1 */
    for (int i = 0; i < epr_file_tensor_count(f); i++) {
        epr_tensor_info ti;
        if (epr_file_tensor_info(f, i, &ti, &e)) continue;
        char shape[128] = "";
        int o = 0;
        for (int d = 0; d < ti.ndim; d++)
            o += snprintf(shape + o, sizeof shape - (size_t)o, "%s%lld", d ? "x" : "", (long long)ti.shape[d]);
        if (ti.compressed) {
            double bits = 0;
            if (epr_file_tensor_self_info(f, i, &bits, &e)) {
                fprintf(stderr, "epr inspect: error: %s: %s\n", path, e.msg);
                bad++;
                continue;
            }
            printf(
                "  %-24s %-14s group %d  %9lld params  coded %8zu B  (%.4f bits/param; self-information %.0f bits)\n",
                ti.name, shape, ti.group, (long long)ti.n_elements, ti.stored_bytes,
                ti.n_elements ? 8.0 * (double)ti.stored_bytes / (double)ti.n_elements : 0.0, bits);
        } else {
            printf("  %-24s %-14s extra    %9lld floats raw   %8zu B\n", ti.name, shape, (long long)ti.n_elements,
                   ti.stored_bytes);
        }
    }
    if (arch) {
        size_t n;
        printf("architecture:\n%s", epr_file_arch(f, &n));
    }
    epr_file_close(f);
    if (bad) fprintf(stderr, "epr inspect: %s: %d coded tensor(s) do not decode\n", path, bad);
    return bad ? 1 : 0;
}

static void usage_eval(FILE *f) {
    fprintf(f, "usage: epr eval MODEL.epr --data SET [options]\n\n"
               "Rebuilds the network from the bitstream alone (architecture, decoders, tables,\n"
               "coded phi, extras) and reports its error on the test split of a data set.\n"
               "  --data SET           mnist10k | fashion-mnist | cifar10 (prepared under the data root),\n"
               "                       or pack: the packed test images of --pack, centre-cropped to the\n"
               "                       input size the file records (docs/imagenet-pack.md)\n"
               "                       Images get the zero border the file records (`pad P`, docs/format.md\n"
               "                       section 6), as in training.\n"
               "  --pack FILE          set=pack: the packed test images (default imagenet/val.pack\n"
               "                       under the data root)\n"
               "  --images F --labels F  any IDX pair instead of --data\n"
               "  --data-root DIR      where SET lives (default $EPR_DATA_ROOT, else the source tree's data/)\n"
               "  --batch N            evaluation batch (default 100, as epr train)\n"
               "  --predictions FILE   write one predicted class per line\n"
               "  --force              evaluate even when the data set or its class count is not the one the\n"
               "                       file was trained on (refused otherwise; an input shape that differs is\n"
               "                       always refused)\n" LIMITS_HELP
               "The file is refused (exit 1) before anything is built if its architecture has more than\n"
               "1024 layers or an input of more than 3x512x512 values (docs/format.md section 6).\n");
}

/* The test set of `epr eval` as training prepared it, from the file's
 * architecture: centre-cropped to the network's input (pack) or with the
 * same zero border ([data] pad).  *model_rc: the file's architecture text
 * was refused. */
static int eval_test_set(cfg_experiment *cfg, epr_file *f, const char *pack, dataset *test, int *model_rc, epr_err *e) {
    bitstream_arch a = {0};
    size_t alen;
    const char *at = epr_file_arch(f, &alen);
    int rc = *model_rc = bitstream_arch_parse(at, alen, &a, e);
    if (rc) return rc;
    dataset train = {0};
    if (!strcmp(cfg->data_set, "pack")) {
        /* only the test split, centre-cropped to the network's input as training did */
        char pp[2200];
        const char *rel = pack ? pack : cfg->test_pack;
        if (rel[0] == '/' || pack)
            snprintf(pp, sizeof pp, "%s", rel);
        else
            snprintf(pp, sizeof pp, "%s/%s", cfg->data_root, rel);
        rc = a.pad ? cmn_fail(e, EPR_EARG, "the model was trained on images zero-padded by %d, not on a pack", a.pad)
                   : dataset_load_pack(pp, a.h, test, e);
    } else {
        cfg->pad = a.pad; /* the same zero border as training ([data] pad) */
        rc = data_load_experiment(cfg, &train, test, e);
    }
    bitstream_arch_free(&a);
    dataset_free(&train);
    return rc;
}

/* One predicted class per line. */
static int write_predictions(const char *path, const int *preds, int n, epr_err *e) {
    FILE *pf = fopen(path, "w");
    RETURN_ERROR_IF(!pf, e, EPR_EIO, "%s: cannot write predictions", path);
    for (int i = 0; i < n; i++) fprintf(pf, "%d\n", preds[i]);
    RETURN_ERROR_IF(fclose(pf), e, EPR_EIO, "%s: write error", path);
    return 0;
}

static int cmd_eval(int argc, char **argv) {
    const char *path = NULL, *set = NULL, *images = NULL, *labels = NULL, *root = NULL, *pred_path = NULL;
    const char *pack = NULL;
    int batch = 100, lo, force = 0;
    epr_read_limits lim = {0, 0, 0, 0};
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage_eval(stdout);
            return 0;
        } else if ((lo = limits_option("eval", argc, argv, &i, &lim))) {
            if (lo < 0) return 2;
        } else if (!strcmp(a, "--data") && more) {
            set = argv[++i];
        } else if (!strcmp(a, "--pack") && more) {
            pack = argv[++i];
        } else if (!strcmp(a, "--images") && more) {
            images = argv[++i];
        } else if (!strcmp(a, "--labels") && more) {
            labels = argv[++i];
        } else if (!strcmp(a, "--data-root") && more) {
            root = argv[++i];
        } else if (!strcmp(a, "--force")) {
            force = 1;
        } else if (!strcmp(a, "--predictions") && more) {
            pred_path = argv[++i];
        } else if (!strcmp(a, "--batch") && more) {
            batch = atoi(argv[++i]);
            if (batch < 1 || batch > 65536) {
                fprintf(stderr, "epr eval: --batch must be in 1..65536\n");
                return 2;
            }
        } else if (a[0] == '-' || path) {
            fprintf(stderr, "epr eval: unexpected or incomplete argument '%s' (see epr eval --help)\n", a);
            return 2;
        } else {
            path = a;
        }
    }
    if (!path || (!set && !(images && labels))) {
        fprintf(stderr, "epr eval: need MODEL.epr and --data SET or --images/--labels (see epr eval --help)\n");
        return 2;
    }
    if (pred_path) { /* the predictions never replace an input */
        const char *ins[3] = {path, images, labels};
        epr_err pe = {0};
        for (int i = 0; i < 3; i++)
            if (ins[i] && fs_check_not_input(pred_path, ins[i], "the input", &pe)) {
                fprintf(stderr, "epr eval: --predictions: %s\n", pe.msg);
                return 2;
            }
    }
    /* reuse the experiment data resolution with a minimal configuration */
    char text[2600];
    if (set)
        snprintf(text, sizeof text, "[data]\nset = %s\n%s%s\n", set, root ? "root = " : "", root ? root : "");
    else
        snprintf(text, sizeof text,
                 "[data]\nset = idx\ntrain_images = %s\ntrain_labels = %s\ntest_images = %s\n"
                 "test_labels = %s\n%s%s\n",
                 images, labels, images, labels, root ? "root = " : "", root ? root : "");
    cfg_experiment cfg;
    epr_err e = {0};
    dataset test = {0};
    epr_file *f = NULL;
    int *preds = NULL;
    int model_rc = 0; /* the file's own content was refused: name it */
    int rc = cfg_load_string(text, "epr eval", NULL, 0, &cfg, &e);
    if (!rc && pack && strcmp(cfg.data_set, "pack")) rc = cmn_fail(&e, EPR_EARG, "--pack needs --data pack");
    if (!rc) rc = epr_file_open_limited(path, &lim, &f, &e);
    if (!rc) rc = eval_test_set(&cfg, f, pack, &test, &model_rc, &e);
    if (!rc && !(preds = malloc((size_t)test.n * sizeof *preds + 1))) rc = cmn_fail(&e, EPR_ENOMEM, "out of memory");
    char why[256];
    if (!rc && bitstream_check_data(f, &test, why, sizeof why)) {
        if (force)
            fprintf(stderr, "epr eval: warning: %s: %s; evaluating anyway (--force)\n", path, why);
        else
            rc = cmn_fail(&e, EPR_EARG, "%s: %s, so its error would mean nothing: refused (--force evaluates anyway)",
                          path, why);
    }
    double err = 0;
    if (!rc) rc = model_rc = bitstream_evaluate(f, &test, batch, &err, preds, &e);
    if (!rc) {
        epr_size_parts parts;
        epr_file_sizes(f, &parts);
        printf("%s: %zu bytes; test error %.2f%% (%d/%d wrong) on %s; predictions crc32 %08x\n", path, parts.total,
               100 * err, (int)(err * test.n + 0.5), test.n, set ? set : images,
               epr_crc32(preds, (size_t)test.n * sizeof *preds));
        if (pred_path) rc = write_predictions(pred_path, preds, test.n, &e);
    }
    if (rc) fprintf(stderr, "epr eval: error: %s%s%s\n", model_rc ? path : "", model_rc ? ": " : "", e.msg);
    free(preds);
    epr_file_close(f);
    dataset_free(&test);
    cfg_free(&cfg);
    return rc ? 1 : 0;
}

static void usage_export(FILE *f) {
    fprintf(f, "usage: epr export MODEL.epr|RUN.h5 -o OUT.npz|OUT.safetensors [options]\n\n"
               "Writes every tensor of a bitstream (decoded weights, batch-norm running statistics and\n"
               "other extras) or of a run file as float32 under its tensor name (e.g. fc1.weight,\n"
               "bn1.running_mean), in NumPy's .npz (numpy.load reads it with no extra package) or the\n"
               ".safetensors format of the Hugging Face tools.  The file is written atomically, never\n"
               "over the input.\n"
               "  --format npz|safetensors  instead of the output's suffix\n"
               "  --raw        (RUN.h5) the raw parameters instead of their EMA\n"
               "  --quantised  (RUN.h5 of an EPR run) theta = f(round(latent/s)), the weights a .epr\n"
               "               holds; without it the continuous weights of the latents\n"
               "  --force      replace an existing OUT\n");
}

static int cmd_export(int argc, char **argv) {
    const char *in = NULL, *out = NULL;
    int format = -1, flags = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage_export(stdout);
            return 0;
        } else if (!strcmp(a, "-o") && i + 1 < argc) {
            out = argv[++i];
        } else if (!strcmp(a, "--format") && i + 1 < argc) {
            format = tensorfile_format_parse(argv[++i]);
            if (format < 0) {
                fprintf(stderr, "epr export: --format must be npz or safetensors, not '%s'\n", argv[i]);
                return 2;
            }
        } else if (!strcmp(a, "--raw")) {
            flags |= EXPORT_RAW;
        } else if (!strcmp(a, "--quantised") || !strcmp(a, "--quantized")) {
            flags |= EXPORT_QUANTISED;
        } else if (!strcmp(a, "--force")) {
            flags |= EXPORT_FORCE;
        } else if (a[0] == '-' || in) {
            fprintf(stderr, "epr export: unexpected or incomplete argument '%s' (see epr export --help)\n", a);
            return 2;
        } else {
            in = a;
        }
    }
    if (!in || !out) {
        fprintf(stderr, "epr export: need MODEL.epr or RUN.h5 and -o OUT (see epr export --help)\n");
        return 2;
    }
    epr_err e = {0};
    if (export_weights(in, out, format, flags, stdout, &e)) {
        fprintf(stderr, "epr export: error: %s\n", e.msg);
        return 1;
    }
    return 0;
}

static int cmd_compress(int argc, char **argv) {
    const char *run = NULL, *out = NULL;
    int raw = 0;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: epr compress RUN.h5 -o MODEL.epr [--raw]\n\n"
                   "Rebuilds the network and parameter groups of an EPR run from its run file (finished\n"
                   "or a checkpoint), takes the EMA parameters (--raw: the raw ones) and writes the\n"
                   "entropy-coded bitstream, printing its size by part.\n");
            return 0;
        } else if (!strcmp(argv[i], "-o") && i + 1 < argc) {
            out = argv[++i];
        } else if (!strcmp(argv[i], "--raw")) {
            raw = 1;
        } else if (argv[i][0] == '-' || run) {
            fprintf(stderr, "epr compress: unexpected argument '%s' (see epr compress --help)\n", argv[i]);
            return 2;
        } else {
            run = argv[i];
        }
    }
    if (!run || !out) {
        fprintf(stderr, "epr compress: need RUN.h5 and -o MODEL.epr (see epr compress --help)\n");
        return 2;
    }
    epr_err e = {0};
    if (compress_run(run, out, raw, stdout, &e)) {
        fprintf(stderr, "epr compress: error: %s\n", e.msg);
        return 1;
    }
    return 0;
}

static void usage_baseline(FILE *f) {
    fprintf(f, "usage: epr baseline RUN.h5 [--methods LIST] [--data-root DIR]\n\n"
               "Post-training baselines of a finished plain run (epr.enabled = false): what could be\n"
               "done with its network instead of EPR, each written as a real file next to RUN.h5 through\n"
               "the same coder and byte counting, its test error that of the network decoded from the\n"
               "file.  The results go to baselines.h5 beside RUN.h5 (methods not recomputed are kept).\n"
               "See docs/baselines.md.\n\n"
               "  --methods LIST   comma-separated methods, each writing one file beside RUN.h5:\n"
               "                     float32       every tensor raw float32 (baseline_float32.epr)\n"
               "                     gzip          that file through gzip -9 (baseline_float32.epr.gz)\n"
               "                     xz            that file through xz -9e (baseline_float32.epr.xz)\n"
               "                     uniformN      N-bit uniform grid per group, N = 2..16, entropy-coded\n"
               "                                   (baseline_uniformN.epr)\n"
               "                     kmeansN       k-means codebook of up to 2^N entries per group, N = 1..16,\n"
               "                                   entropy-coded indices (baseline_kmeansN.epr)\n"
               "                     uniformNt, kmeansNt  the same with one grid / codebook per tensor\n"
               "                                   (each grouped tensor its own group in the file)\n"
               "                     prune-kmeans  the codebook of a run trained with [baseline] prune /\n"
               "                                   kmeans_bits (baseline_prune-kmeans.epr)\n"
               "                   default: the run's [baseline] post, else\n"
               "                   " BASELINE_DEFAULT_METHODS "\n"
               "  --data-root DIR  where the run's data set lives (overrides its [data] root)\n"
               "  -h, --help       this text\n");
}

static int cmd_baseline(int argc, char **argv) {
    const char *run = NULL, *methods = NULL, *root = NULL;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage_baseline(stdout);
            return 0;
        } else if (!strcmp(a, "--methods") && more) {
            methods = argv[++i];
        } else if (!strcmp(a, "--data-root") && more) {
            root = argv[++i];
        } else if (a[0] == '-' || run) {
            fprintf(stderr, "epr baseline: unexpected or incomplete argument '%s' (see epr baseline --help)\n", a);
            return 2;
        } else {
            run = a;
        }
    }
    if (!run) {
        fprintf(stderr, "epr baseline: missing RUN.h5 (see epr baseline --help)\n");
        return 2;
    }
    epr_err e = {0};
    if (methods) {
        char names[BASELINE_MAX_METHODS][BASELINE_NAME_LEN];
        int n;
        if (baseline_parse_methods(methods, names, BASELINE_MAX_METHODS, &n, &e)) {
            fprintf(stderr, "epr baseline: --methods: %s\n", e.msg);
            return 2;
        }
    }
    if (baseline_run_file(run, methods, root, stdout, &e)) {
        fprintf(stderr, "epr baseline: error: %s\n", e.msg);
        return 1;
    }
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
    if (!strcmp(cmd, "compress")) return cmd_compress(argc - 2, argv + 2);
    if (!strcmp(cmd, "inspect")) return cmd_inspect(argc - 2, argv + 2);
    if (!strcmp(cmd, "eval")) return cmd_eval(argc - 2, argv + 2);
    if (!strcmp(cmd, "export")) return cmd_export(argc - 2, argv + 2);
    if (!strcmp(cmd, "baseline")) return cmd_baseline(argc - 2, argv + 2);
    if (!strcmp(cmd, "sweep")) return cmd_sweep(argc - 2, argv + 2);
    if (!strcmp(cmd, "pareto")) return cmd_pareto(argc - 2, argv + 2);
    fprintf(stderr, "epr: unknown command '%s' (see epr --help)\n", cmd);
    return 2;
}
