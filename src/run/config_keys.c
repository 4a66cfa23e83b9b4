/* run/config_keys.c — the key table of an experiment file (config_internal.h):
 * every [section] key with its type, field, default and help text, the one
 * source of truth for the parser (config.c), the fingerprint (config_id.c)
 * and `epr train --help` (cfg_print_reference).  May call: libc. */
#include <stdio.h>
#include <string.h>

#include "run/config.h"
#include "run/config_internal.h"

#define F(field) offsetof(cfg_experiment, field), sizeof(((cfg_experiment *)0)->field)

/* One key a line, however long its help text (clang-format would split it). */
/* clang-format off */
const key_def CFG_KEYS[] = {
    {"data", "set", K_STR, F(data_set), "mnist10k", "mnist10k | fashion-mnist | idx | cifar10 | pack"},
    {"data", "root", K_STR, F(data_root), "", "where relative data paths are resolved (default $EPR_DATA_ROOT, else <source>/data)"},
    {"data", "train_images", K_STR, F(train_images), "", "IDX images for set=idx (raw or .gz)"},
    {"data", "train_labels", K_STR, F(train_labels), "", "IDX labels for set=idx"},
    {"data", "test_images", K_STR, F(test_images), "", "IDX images for set=idx"},
    {"data", "test_labels", K_STR, F(test_labels), "", "IDX labels for set=idx"},
    {"data", "cifar_train", K_STR, F(cifar_train), "cifar-10-batches-bin/data_batch_1.bin,cifar-10-batches-bin/data_batch_2.bin,cifar-10-batches-bin/data_batch_3.bin,cifar-10-batches-bin/data_batch_4.bin,cifar-10-batches-bin/data_batch_5.bin", "comma-separated CIFAR-10 batch files for set=cifar10"},
    {"data", "cifar_test", K_STR, F(cifar_test), "cifar-10-batches-bin/test_batch.bin", "CIFAR-10 test batch file(s)"},
    {"data", "augment", K_STR, F(augment), "none", "training augmentation: none | crop-flip (4-pixel padded random crop + horizontal flip) | crop (the same crop, no flip) | rrc-flip (random-resized crop to `crop` + flip; set=pack)"},
    {"data", "pad", K_INT, F(pad), "0", "zero border of P pixels around every image, train and test (28x28 -> 32x32 with 2), before normalisation and augmentation; recorded in the .epr so epr eval pads alike (not with set=pack)"},
    {"data", "normalize", K_BOOL, F(normalize), "false", "normalise inputs per channel with the training set's mean and std"},
    {"data", "train_pack", K_STR, F(train_pack), "imagenet/train.pack", "packed training images for set=pack (docs/imagenet-pack.md)"},
    {"data", "test_pack", K_STR, F(test_pack), "imagenet/val.pack", "packed test images for set=pack"},
    {"data", "validation", K_DOUBLE, F(validation), "0", "training images held out for validation (model choice at the end, validation curve): a count (e.g. 1000) or a fraction < 1 (e.g. 0.1); the same images for every seed (fixed split seed, docs/validation.md); 0 = none"},
    {"data", "crop", K_INT, F(crop), "0", "set=pack: network input HxW (0 = the stored size); test images are centre-cropped"},
    {"model", "name", K_STR, F(model_name), "lenet300-100", "built-in network (lenet300-100, lenet5-caffe, vgg16-cifar, resnet20-4, resnet18, resnet50) or custom"},
    {"model", "layers", K_TEXT, 0, 0, "", "layer list for name=custom, one layer per (indented) line; see `epr train --help`"},
    {"model", "batchnorm_affine", K_BOOL, F(bn_affine), "false", "give every batch norm of the network a learnable gamma (affine=1, tensor NAME.weight), as torchvision's, e.g. to start from a torchvision ResNet with init"},
    {"model", "init", K_STR, F(model_init), "", "start from these weights: an .npz or .safetensors file of float32 tensors named as the network's (python/pt_to_init.py converts a PyTorch state_dict); a relative path is taken from the working directory"},
    {"train", "steps", K_LONG, F(steps), "6000", "optimizer steps"},
    {"train", "batch", K_INT, F(batch), "64", "global batch size (split across ranks)"},
    {"train", "eval_batch", K_INT, F(eval_batch), "100", "batch size for evaluation (epr eval uses the same default)"},
    {"train", "optimizer", K_STR, F(optimizer), "adam", "adam | sgd (momentum)"},
    {"train", "lr", K_FLOAT, F(lr), "1e-3", "learning rate of the network parameters"},
    {"train", "momentum", K_FLOAT, F(momentum), "0.9", "SGD momentum"},
    {"train", "weight_decay", K_FLOAT, F(weight_decay), "0", "SGD weight decay (L2 on the whole network segment, latents included)"},
    {"train", "beta1", K_FLOAT, F(beta1), "0.9", "Adam beta1"},
    {"train", "beta2", K_FLOAT, F(beta2), "0.999", "Adam beta2"},
    {"train", "adam_eps", K_FLOAT, F(adam_eps), "1e-8", "Adam epsilon"},
    {"train", "lr_decay", K_FLOAT, F(lr_decay), "1", "learning-rate factor applied at each milestone"},
    {"train", "lr_milestones", K_LIST_LONG, F(lr_milestones), "", "comma-separated steps where lr is multiplied by lr_decay"},
    {"train", "lr_schedule", K_STR, F(lr_schedule), "step", "step (lr times lr_decay at each of lr_milestones; none: constant) | cosine (from lr down to lr_min at the last step, after the warm-up)"},
    {"train", "warmup_steps", K_LONG, F(warmup_steps), "0", "linear learning-rate warm-up: lr*(t+1)/warmup_steps for the first steps"},
    {"train", "lr_min", K_DOUBLE, F(lr_min), "0", "lr_schedule = cosine: the learning rate at the last step"},
    {"train", "ema", K_FLOAT, F(ema), "0.999", "EMA decay of the network parameters (0 = no EMA)"},
    {"train", "seed", K_U64, F(seed), "1", "seed of initialisation, shuffling and rate noise"},
    {"train", "log_every", K_LONG, F(log_every), "100", "steps between progress lines"},
    {"train", "eval_every", K_LONG, F(eval_every), "1000", "steps between test evaluations (0 = only at the end)"},
    {"train", "checkpoint_every", K_LONG, F(checkpoint_every), "1000", "steps between checkpoints"},
    {"train", "threads", K_INT, F(threads), "1", "OpenBLAS threads per rank"},
    {"train", "device", K_STR, F(device), "cpu", "cpu | cuda: where the step runs (cuda: one GPU per rank, node-local rank mod the node's GPU count; needs a build with -DEPR_CUDA=ON; docs/gpu.md)"},
    {"train", "bn_recalibrate", K_INT, F(bn_recalibrate), "0", "networks with batch norm: at the end of the run the running statistics are recomputed for the weights that are written (EMA and quantised), as the plain average over this many training batches (with the augmentation), before the file is written and evaluated; 0: the running averages of training are kept. With EPR, rounding the EMA latents changes the weights that the statistics were gathered with (docs/gpu.md)"},
    {"train", "file_eval", K_STR, F(file_eval), "cpu", "cpu | device: where the end of a run evaluates the written .epr, decoded from its bytes (and the [baseline] post files); device: on the run's device (the GPU with device = cuda, in FP32 whatever tf32 says; the CPU otherwise), minutes faster for the large networks, the same predictions up to summation order (`epr eval FILE` on the CPU checks them)"},
    {"train", "winograd", K_BOOL, F(winograd), "true", "device = cuda only: 3x3 stride-1 convolutions by Winograd's F(4x4, 3x3) (2.25 instead of 9 multiplications per output, results within float rounding of the direct form); false: im2col + SGEMM as every other convolution.  The end-of-run file evaluation on the device always uses im2col"},
    {"train", "tf32", K_BOOL, F(tf32), "false", "device = cuda only: cuBLAS may round matrix products' inputs to TF32 on tensor cores (as PyTorch's cuDNN convolutions do by default): faster, about 1e-3 relative error per product; off, the GPU computes in FP32 as the CPU does"},
    {"epr", "enabled", K_BOOL, F(epr_enabled), "false", "train with entropy-penalized reparameterization"},
    {"epr", "lambda", K_DOUBLE, F(lambda), "1e-6", "rate weight: loss = mean CE (nats) + lambda * rate_bits"},
    {"epr", "decoder_lr", K_FLOAT, F(decoder_lr), "1e-3", "with optimizer = sgd: Adam learning rate of the decoder parameters (their gradients sum over whole tensors); 0 keeps them fixed at their initial values (the paper's CIFAR-10 runs: 'we fixed phi_W')"},
    {"epr", "lambda_ramp_steps", K_LONG, F(lambda_ramp_steps), "0", "lambda rises linearly over the first steps: lambda*(lambda_start + (1-lambda_start)*t/lambda_ramp_steps)"},
    {"epr", "lambda_start", K_DOUBLE, F(lambda_start), "0", "the lambda ramp's start, a fraction of lambda in [0, 1]"},
    {"epr", "freeze_phi_steps", K_LONG, F(freeze_phi_steps), "0", "final phase: the last steps train with phi frozen (the EMA model's), only decoder parameters, uncompressed tensors (biases, batch norm) and batch-norm statistics change; densities and the rate stop"},
    {"epr", "density_lr", K_FLOAT, F(density_lr), "1e-3", "Adam learning rate of the densities"},
    {"epr", "uncompressed", K_STR, F(uncompressed), "", "comma-separated tensor names or patterns (e.g. *.bias) kept as float32 extras"},
    {"baseline", "post", K_STR, F(baseline_post), "", "comma-separated post-training baselines written at the end of a plain run, each a file through the codec: float32, gzip, xz (of the float32 file), uniformN (N-bit uniform quantisation per group, N = 2..16, entropy-coded), kmeansN (k-means weight sharing, 2^N entries per group, entropy-coded), uniformNt / kmeansNt (the same per tensor), prune-kmeans (the codebook of a run with prune/kmeans_bits)"},
    {"baseline", "prune", K_FLOAT, F(prune), "0", "fraction of each group's weights zeroed by magnitude at step prune_at, then fine-tuned with the mask (0 = no pruning; needs epr.enabled = false)"},
    {"baseline", "prune_groups", K_STR, F(prune_groups), "", "per-group fractions that override prune, as Deep Compression prunes each layer at its own rate: comma-separated GROUP:FRACTION (e.g. fc3:0.7, bias:0)"},
    {"baseline", "prune_at", K_LONG, F(prune_at), "0", "step at which pruning happens (1..steps-1)"},
    {"baseline", "kmeans_bits", K_INT, F(kmeans_bits), "0", "weight sharing: at step kmeans_at each group's weights are clustered (1-D k-means, 2^bits entries, one of them 0 when pruning) and only the centroids train afterwards (0 = off)"},
    {"baseline", "kmeans_at", K_LONG, F(kmeans_at), "0", "step at which weights are clustered (prune_at..steps-1)"},
    {"epr", "table_precision", K_INT, F(table_precision), "16", "maximum bits of the coder's frequency tables (<= 16)"},
};
const int CFG_N_KEYS = (int)(sizeof CFG_KEYS / sizeof CFG_KEYS[0]);

static const char *GROUP_KEYS[][2] = {
    {"tensors", "comma-separated parameter tensors (e.g. fc1.weight, fc2.weight); long lists continue on indented lines"},
    {"decoder", "affine (theta = s*phi + b) | conv-affine (theta_row = T (s . phi_row) + c)"},
    {"transform", "identity | dft | random-orthogonal | learned (conv-affine only)"},
    {"ell", "columns per sample row, one density each (1 for affine; kh*kw for 3x3 conv kernels)"},
    {"kernel", "HxW of the spatial kernel for dft (default: square root of ell)"},
    {"log_step", "initial log of the quantisation step s (default -4)"},
};
/* clang-format on */
#define N_GROUP_KEYS ((int)(sizeof GROUP_KEYS / sizeof GROUP_KEYS[0]))

void cfg_print_reference(FILE *f) {
    const char *sec = "";
    for (int i = 0; i < CFG_N_KEYS; i++) {
        if (strcmp(sec, CFG_KEYS[i].section)) {
            sec = CFG_KEYS[i].section;
            fprintf(f, "  [%s]\n", sec);
        }
        fprintf(f, "    %-16s %s", CFG_KEYS[i].key, CFG_KEYS[i].help);
        if (CFG_KEYS[i].def && *CFG_KEYS[i].def && CFG_KEYS[i].type != K_TEXT && strlen(CFG_KEYS[i].def) < 40)
            fprintf(f, " (default %s)", CFG_KEYS[i].def);
        fputc('\n', f);
    }
    fprintf(f, "  [group.NAME]     one section per parameter group (EPR)\n");
    for (int i = 0; i < N_GROUP_KEYS; i++) fprintf(f, "    %-16s %s\n", GROUP_KEYS[i][0], GROUP_KEYS[i][1]);
}
