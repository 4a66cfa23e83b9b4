/* model.c — the model graph: spec parsing, shape inference, buffer
 * allocation (once, for max_batch), parameter binding and initialisation,
 * the forward/backward walk over layers, softmax cross-entropy.
 *
 * Calls layers.c for the arithmetic, common/rng.h for initialisation, libc
 * and libm.  Only nn_model_build, nn_model_alloc_params and
 * nn_model_enable_input_grad allocate. */
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <time.h>

#include "common/rng.h"
#include "common/timeutil.h"
#include "nn/ce_kernel.h"
#include "nn/nn_internal.h"

/* ---- built-in specs ---- */

/* LeNet5-Caffe follows Caffe's examples/mnist/lenet_train_test.prototxt:
 * conv1 -> pool1 -> conv2 -> pool2 -> ip1 -> relu1 -> ip2.  There is no
 * nonlinearity after the convolutions (only max pooling), and the paper's
 * parameter count (431K) is this net. */

/* The CIFAR and ImageNet networks of the paper's Table 1.  Batch norm has
 * gamma fixed at 1 and its beta is the bias of the layer before it, so those
 * convolutions (and dense layers) have bias=0.  Layer names follow
 * torchvision's state-dict keys with '_' for '.' (layer1_0_conv1 is
 * layer1.0.conv1), so tensor names say where a weight sits.
 *
 * vgg16-cifar: 13 conv 3x3 (pad 1) + BN + ReLU in five blocks, each ending
 * in a 2x2 max-pool (32 -> 1), then 3 fully connected layers 512-512-512-10
 * with BN + ReLU between them: the paper's "13 convolutional layers followed
 * by 3 fully connected layers" (its four groups need three FC layers).
 * The Torch blog's classifier has one hidden FC layer (512-512-10) and no
 * fc2: 14.99M parameters (59.97 MB with conv biases and BN gamma), which is
 * the paper's 60 MB to the digit; ours is 15.25M (61.0 MB).  No dropout. */
#define VGG_CONV(N, C) "conv name=conv" N " out=" C " k=3 pad=1 bias=0; batchnorm name=bn" N "; relu\n"
#define VGG_POOL "maxpool k=2\n"
static const char VGG16_CIFAR[] =
    VGG_CONV("1", "64") VGG_CONV("2", "64") VGG_POOL
    VGG_CONV("3", "128") VGG_CONV("4", "128") VGG_POOL
    VGG_CONV("5", "256") VGG_CONV("6", "256") VGG_CONV("7", "256") VGG_POOL
    VGG_CONV("8", "512") VGG_CONV("9", "512") VGG_CONV("10", "512") VGG_POOL
    VGG_CONV("11", "512") VGG_CONV("12", "512") VGG_CONV("13", "512") VGG_POOL
    "dense name=fc1 out=512 bias=0; batchnorm name=bn14; relu\n"
    "dense name=fc2 out=512 bias=0; batchnorm name=bn15; relu\n"
    "dense name=fc3 out=10\n";

/* resnet20-4: the CIFAR pre-activation ResNet-20 (He et al. 2016b) at width
 * x4 as in Zagoruyko & Komodakis: conv 3x3 to 16 channels, three stages of
 * three basic blocks at 64/128/256 channels (stride 2 entering stages 2 and
 * 3), BN + ReLU, global average pool, fc 256 -> 10.  Pre-activation block:
 * BN-ReLU, conv, BN-ReLU, conv, plus the shortcut.  Where the shape changes
 * (the first block of each stage) the shortcut is a 1x1 conv of the block's
 * pre-activated input.  4.30M parameters with BN gamma = 17.2 MB, the
 * paper's figure. */
#define PRE_CONVS(P, C, S)                                                                   \
    "conv name=" P "_conv1 out=" C " k=3 stride=" S " pad=1 bias=0; batchnorm name=" P "_bn2; relu\n" \
    "conv name=" P "_conv2 out=" C " k=3 pad=1 bias=0\n"
#define PRE_BLOCK(P, C, IN) "batchnorm name=" P "_bn1 in=" IN "; relu\n" PRE_CONVS(P, C, "1") "add name=" P " with=" IN "\n"
#define PRE_PROJ(P, C, S, IN)                                                                \
    "batchnorm name=" P "_bn1 in=" IN "; relu name=" P "_relu1\n" PRE_CONVS(P, C, S)          \
    "conv name=" P "_shortcut in=" P "_relu1 out=" C " k=1 stride=" S " bias=0\n"            \
    "add name=" P " with=" P "_conv2\n"
static const char RESNET20_4[] =
    "conv name=conv1 out=16 k=3 pad=1 bias=0\n"
    PRE_PROJ("layer1_0", "64", "1", "conv1") PRE_BLOCK("layer1_1", "64", "layer1_0") PRE_BLOCK("layer1_2", "64", "layer1_1")
    PRE_PROJ("layer2_0", "128", "2", "layer1_2") PRE_BLOCK("layer2_1", "128", "layer2_0")
    PRE_BLOCK("layer2_2", "128", "layer2_1")
    PRE_PROJ("layer3_0", "256", "2", "layer2_2") PRE_BLOCK("layer3_1", "256", "layer3_0")
    PRE_BLOCK("layer3_2", "256", "layer3_1")
    "batchnorm name=bn_final; relu; gap; dense name=fc out=10\n";

/* resnet18 / resnet50: the ImageNet ResNets of He et al. 2016a as in
 * torchvision: conv 7x7/2 + BN + ReLU, max-pool 3x3/2 (pad 1), four stages
 * (64/128/256/512 wide, stride 2 entering stages 2-4), global average pool,
 * fc -> 1000.  Post-activation blocks: the block's output is the ReLU of
 * (residual branch + shortcut); where the shape changes the shortcut is a
 * 1x1 conv with stride + BN ("downsample").  ResNet-50's bottleneck is
 * 1x1, 3x3, 1x1 (x4 wide) with the stride on the 3x3 (torchvision's "v1.5";
 * the same parameter count as the paper's stride-on-1x1).  With BN gamma:
 * 11.69M / 25.56M parameters = 46.8 / 102.2 MB, the paper's 46.7 / 102 MB. */
#define STEM "conv name=conv1 out=64 k=7 stride=2 pad=3 bias=0; batchnorm name=bn1; relu\n" \
             "maxpool name=maxpool k=3 stride=2 pad=1\n"
#define DOWNSAMPLE(P, C, S, IN) \
    "conv name=" P "_downsample in=" IN " out=" C " k=1 stride=" S " bias=0; batchnorm name=" P "_downsample_bn\n"
#define BASIC_CONVS(P, C, S)                                                                  \
    "conv name=" P "_conv1 out=" C " k=3 stride=" S " pad=1 bias=0; batchnorm name=" P "_bn1; relu\n" \
    "conv name=" P "_conv2 out=" C " k=3 pad=1 bias=0; batchnorm name=" P "_bn2\n"
#define BASIC(P, C, IN) BASIC_CONVS(P, C, "1") "add with=" IN "; relu name=" P "\n"
#define BASIC_DOWN(P, C, IN) \
    BASIC_CONVS(P, C, "2") DOWNSAMPLE(P, C, "2", IN) "add with=" P "_bn2; relu name=" P "\n"
static const char RESNET18[] =
    STEM BASIC("layer1_0", "64", "maxpool") BASIC("layer1_1", "64", "layer1_0")
    BASIC_DOWN("layer2_0", "128", "layer1_1") BASIC("layer2_1", "128", "layer2_0")
    BASIC_DOWN("layer3_0", "256", "layer2_1") BASIC("layer3_1", "256", "layer3_0")
    BASIC_DOWN("layer4_0", "512", "layer3_1") BASIC("layer4_1", "512", "layer4_0")
    "gap; dense name=fc out=1000\n";

#define BOTTLE_CONVS(P, C, O, S)                                                              \
    "conv name=" P "_conv1 out=" C " k=1 bias=0; batchnorm name=" P "_bn1; relu\n"            \
    "conv name=" P "_conv2 out=" C " k=3 stride=" S " pad=1 bias=0; batchnorm name=" P "_bn2; relu\n" \
    "conv name=" P "_conv3 out=" O " k=1 bias=0; batchnorm name=" P "_bn3\n"
#define BOTTLE(P, C, O, IN) BOTTLE_CONVS(P, C, O, "1") "add with=" IN "; relu name=" P "\n"
#define BOTTLE_DOWN(P, C, O, S, IN) \
    BOTTLE_CONVS(P, C, O, S) DOWNSAMPLE(P, O, S, IN) "add with=" P "_bn3; relu name=" P "\n"
static const char RESNET50[] =
    STEM BOTTLE_DOWN("layer1_0", "64", "256", "1", "maxpool") BOTTLE("layer1_1", "64", "256", "layer1_0")
    BOTTLE("layer1_2", "64", "256", "layer1_1")
    BOTTLE_DOWN("layer2_0", "128", "512", "2", "layer1_2") BOTTLE("layer2_1", "128", "512", "layer2_0")
    BOTTLE("layer2_2", "128", "512", "layer2_1") BOTTLE("layer2_3", "128", "512", "layer2_2")
    BOTTLE_DOWN("layer3_0", "256", "1024", "2", "layer2_3") BOTTLE("layer3_1", "256", "1024", "layer3_0")
    BOTTLE("layer3_2", "256", "1024", "layer3_1") BOTTLE("layer3_3", "256", "1024", "layer3_2")
    BOTTLE("layer3_4", "256", "1024", "layer3_3") BOTTLE("layer3_5", "256", "1024", "layer3_4")
    BOTTLE_DOWN("layer4_0", "512", "2048", "2", "layer3_5") BOTTLE("layer4_1", "512", "2048", "layer4_0")
    BOTTLE("layer4_2", "512", "2048", "layer4_1")
    "gap; dense name=fc out=1000\n";

static const struct {
    const char *name, *spec;
} builtin_specs[] = {
    {"lenet300-100", "dense name=fc1 out=300; relu; dense name=fc2 out=100; relu; dense name=fc3 out=10"},
    {"lenet5-caffe", "conv name=conv1 out=20 k=5; maxpool k=2; conv name=conv2 out=50 k=5; maxpool k=2;"
                     " flatten; dense name=fc1 out=500; relu; dense name=fc2 out=10"},
    {"vgg16-cifar", VGG16_CIFAR},
    {"resnet20-4", RESNET20_4},
    {"resnet18", RESNET18},
    {"resnet50", RESNET50},
};

const char *nn_builtin_spec(const char *name) {
    if (!name) return NULL;
    for (size_t i = 0; i < sizeof builtin_specs / sizeof builtin_specs[0]; i++)
        if (strcmp(builtin_specs[i].name, name) == 0) return builtin_specs[i].spec;
    return NULL;
}

static const char *op_name(nn_op op) {
    switch (op) {
    case NN_DENSE: return "dense";
    case NN_CONV: return "conv";
    case NN_MAXPOOL: return "maxpool";
    case NN_AVGPOOL: return "avgpool";
    case NN_GAP: return "gap";
    case NN_RELU: return "relu";
    case NN_BATCHNORM: return "batchnorm";
    case NN_ADD: return "add";
    case NN_FLATTEN: return "flatten";
    }
    return "?";
}

/* Keys each layer type accepts (besides name= and in=). */
static const char *allowed_keys(nn_op op) {
    switch (op) {
    case NN_DENSE: return " out bias ";
    case NN_CONV: return " out k stride pad bias ";
    case NN_MAXPOOL: return " k stride pad ";
    case NN_AVGPOOL: return " k stride ";
    case NN_BATCHNORM: return " momentum eps affine ";
    case NN_ADD: return " with ";
    default: return " ";
    }
}

/* ---- spec parsing ---- */

typedef struct {
    nn_layer L;
    char in_name[NN_NAME_MAX], with_name[NN_NAME_MAX];
} proto;

static int parse_int(const char *v, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi) return -1;
    *out = x;
    return 0;
}

static int parse_float(const char *v, float lo, float hi, float *out) {
    char *end;
    errno = 0;
    float x = strtof(v, &end);
    if (errno || end == v || *end || !(x >= lo && x <= hi)) return -1;
    *out = x;
    return 0;
}

/* Parse one non-empty layer entry (NUL-terminated, may be modified). */
static int parse_layer(char *s, int num, proto *p, epr_err *err) {
    memset(p, 0, sizeof *p);
    nn_layer *L = &p->L;
    L->stride = -1;
    L->bias = 1;
    L->momentum = 0.1f;
    L->eps = 1e-5f;
    L->wt = L->bt = L->rmean = L->rvar = -1;
    char *save = NULL, *tok = strtok_r(s, " \t\r", &save);
    static const nn_op ops[] = {NN_DENSE, NN_CONV, NN_MAXPOOL, NN_AVGPOOL, NN_GAP,
                                NN_RELU, NN_BATCHNORM, NN_ADD, NN_FLATTEN};
    int found = 0;
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (strcmp(tok, op_name(ops[i])) == 0) {
            L->op = ops[i];
            found = 1;
        }
    RETURN_ERROR_IF(!found, err, EPR_EARG,
                    "layer %d: unknown layer type '%s' (types: dense, conv, maxpool, avgpool, gap, relu, batchnorm, "
                    "add, flatten)",
                    num, tok);
    const char *type = op_name(L->op);
    while ((tok = strtok_r(NULL, " \t\r", &save))) {
        char *eq = strchr(tok, '=');
        const char *ak = allowed_keys(L->op);
        RETURN_ERROR_IF(!eq || eq == tok, err, EPR_EARG,
                        "layer %d (%s): expected key=value, got '%s' (keys of %s: name in%.*s)", num, type, tok, type,
                        (int)strlen(ak) - 1, ak);
        *eq = '\0';
        const char *key = tok, *val = eq + 1;
        char pat[40];
        snprintf(pat, sizeof pat, " %.30s ", key);
        long iv = 0;
        if (strcmp(key, "name") == 0 || strcmp(key, "in") == 0 ||
            (strcmp(key, "with") == 0 && L->op == NN_ADD)) {
            RETURN_ERROR_IF(!*val || strlen(val) >= NN_NAME_MAX || strchr(val, '.'), err, EPR_EARG,
                            "layer %d (%s): bad value '%s' for %s (1..%d characters, no '.')", num,
                            type, val, key, NN_NAME_MAX - 1);
            char *dst = key[0] == 'n' ? L->name : key[0] == 'i' ? p->in_name : p->with_name;
            strcpy(dst, val);
            continue;
        }
        RETURN_ERROR_IF(!strstr(ak, pat), err, EPR_EARG, "layer %d (%s): unknown key '%s' (keys of %s: name in%.*s)",
                        num, type, key, type, (int)strlen(ak) - 1, ak);
        int bad;
        const char *want = "an integer in 1..65536"; /* k, stride */
        if (strcmp(key, "out") == 0) {
            want = "an integer in 1..16777216";
            bad = parse_int(val, 1, 1 << 24, &iv);
            L->oc = (int)iv;
        } else if (strcmp(key, "k") == 0) {
            bad = parse_int(val, 1, 1 << 16, &iv);
            L->k = (int)iv;
        } else if (strcmp(key, "stride") == 0) {
            bad = parse_int(val, 1, 1 << 16, &iv);
            L->stride = (int)iv;
        } else if (strcmp(key, "pad") == 0) {
            want = "an integer in 0..65536";
            bad = parse_int(val, 0, 1 << 16, &iv);
            L->pad = (int)iv;
        } else if (strcmp(key, "bias") == 0) {
            want = "0 or 1";
            bad = parse_int(val, 0, 1, &iv);
            L->bias = (int)iv;
        } else if (strcmp(key, "affine") == 0) {
            bad = parse_int(val, 0, 1, &iv);
            L->affine = (int)iv;
        } else if (strcmp(key, "momentum") == 0) {
            want = "a number in [0, 1]";
            bad = parse_float(val, 0.0f, 1.0f, &L->momentum);
        } else { /* eps */
            want = "a number in [1e-30, 1]";
            bad = parse_float(val, 1e-30f, 1.0f, &L->eps);
        }
        RETURN_ERROR_IF(bad, err, EPR_EARG, "layer %d (%s): bad value '%s' for %s (%s)", num, type, val, key, want);
    }
    RETURN_ERROR_IF((L->op == NN_DENSE || L->op == NN_CONV) && L->oc == 0, err, EPR_EARG,
                    "layer %d (%s): out= is required", num, type);
    RETURN_ERROR_IF((L->op == NN_CONV || L->op == NN_MAXPOOL || L->op == NN_AVGPOOL) && L->k == 0,
                    err, EPR_EARG, "layer %d (%s): k= is required", num, type);
    RETURN_ERROR_IF(L->op == NN_ADD && !p->with_name[0], err, EPR_EARG,
                    "layer %d (add): with= is required", num);
    if (L->stride < 0) L->stride = (L->op == NN_CONV) ? 1 : L->k;
    return 0;
}

static int find_layer(const proto *ps, int n, const char *name) {
    if (strcmp(name, "input") == 0) return -1;
    for (int i = 0; i < n; i++)
        if (strcmp(ps[i].L.name, name) == 0) return i;
    return -2;
}

/* Resolve in=/with=, infer the output shape of layer i. */
static int shape_layer(proto *ps, int i, int c, int h, int w, epr_err *err) {
    nn_layer *L = &ps[i].L;
    const int num = i + 1;
    const char *type = op_name(L->op);
    if (ps[i].in_name[0]) {
        L->in = find_layer(ps, i, ps[i].in_name);
        RETURN_ERROR_IF(L->in == -2, err, EPR_EARG, "layer %d (%s): unknown in=%s (must name an earlier layer)",
                        num, type, ps[i].in_name);
    } else {
        L->in = i - 1;
    }
    L->with = -1;
    if (L->op == NN_ADD) {
        L->with = find_layer(ps, i, ps[i].with_name);
        RETURN_ERROR_IF(L->with == -2, err, EPR_EARG,
                        "layer %d (add): unknown with=%s (must name an earlier layer)", num, ps[i].with_name);
    }
    if (L->in >= 0) {
        const nn_layer *P = &ps[L->in].L;
        c = P->oc, h = P->oh, w = P->ow;
    }
    L->c = c, L->h = h, L->w = w;
    L->in_size = (size_t)c * h * w;
    switch (L->op) {
    case NN_DENSE:
        L->oh = L->ow = 1;
        L->k = L->stride = 0;
        break;
    case NN_CONV:
        RETURN_ERROR_IF(h + 2 * L->pad < L->k || w + 2 * L->pad < L->k, err, EPR_EARG,
                        "layer %d (conv): kernel %d does not fit input %dx%d with pad %d", num, L->k, h, w,
                        L->pad);
        L->oh = (h + 2 * L->pad - L->k) / L->stride + 1;
        L->ow = (w + 2 * L->pad - L->k) / L->stride + 1;
        break;
    case NN_MAXPOOL:
    case NN_AVGPOOL:
        /* pad <= k/2 (as PyTorch): every window then holds a real pixel. */
        RETURN_ERROR_IF(2 * L->pad > L->k, err, EPR_EARG, "layer %d (%s): pad %d is more than half the window %d",
                        num, type, L->pad, L->k);
        RETURN_ERROR_IF(h + 2 * L->pad < L->k || w + 2 * L->pad < L->k, err, EPR_EARG,
                        "layer %d (%s): window %d does not fit input %dx%d", num, type, L->k, h, w);
        L->oc = c;
        L->oh = (h + 2 * L->pad - L->k) / L->stride + 1;
        L->ow = (w + 2 * L->pad - L->k) / L->stride + 1;
        break;
    case NN_GAP:
        L->oc = c, L->oh = L->ow = 1;
        break;
    case NN_FLATTEN:
        L->oc = c * h * w, L->oh = L->ow = 1;
        break;
    case NN_ADD: {
        int wc = c, wh = h, ww = w; /* with=input */
        if (L->with >= 0) {
            const nn_layer *Q = &ps[L->with].L;
            wc = Q->oc, wh = Q->oh, ww = Q->ow;
        }
        RETURN_ERROR_IF(wc != c || wh != h || ww != w, err, EPR_EARG,
                        "layer %d (add): shapes differ: [%d,%d,%d] + %s [%d,%d,%d]", num, c, h, w,
                        ps[i].with_name, wc, wh, ww);
    } /* fall through */
    case NN_RELU:
    case NN_BATCHNORM:
        L->oc = c, L->oh = h, L->ow = w;
        break;
    }
    L->out_size = (size_t)L->oc * L->oh * L->ow;
    /* Kernels index one sample, and a weight row, with int. */
    const size_t fan = L->op == NN_CONV ? (size_t)c * L->k * L->k * L->oh * L->ow : L->in_size;
    RETURN_ERROR_IF(L->out_size > INT_MAX / 2 || fan > INT_MAX / 2, err, EPR_EARG,
                    "layer %d (%s): output [%d,%d,%d] is too large", num, type, L->oc, L->oh, L->ow);
    return 0;
}

static int add_tensor(nn_model *m, int layer, nn_param_kind kind, int ndim, const int *shape, int fan_in,
                      int fan_out) {
    nn_param *t = &m->tensors[m->n_tensors];
    const nn_layer *L = &m->layers[layer];
    snprintf(t->name, sizeof t->name, "%s.%s", L->name, kind == NN_PARAM_WEIGHT ? "weight" : "bias");
    t->kind = kind;
    t->layer = layer;
    t->ndim = ndim;
    t->size = 1;
    for (int d = 0; d < ndim; d++) {
        t->shape[d] = shape[d];
        t->size *= (size_t)shape[d];
    }
    t->fan_in = fan_in;
    t->fan_out = fan_out;
    m->n_params += t->size;
    return m->n_tensors++;
}

static int add_buffer(nn_model *m, int layer, const char *suffix, size_t size) {
    nn_buffer *b = &m->buffers[m->n_buffers];
    snprintf(b->name, sizeof b->name, "%s.%s", m->layers[layer].name, suffix);
    b->layer = layer;
    b->size = size;
    b->data = calloc(size, sizeof(float));
    if (!b->data) return -1;
    return m->n_buffers++;
}

static int alloc_floats(float **p, size_t n) {
    *p = malloc(sizeof(float) * (n ? n : 1));
    return *p ? 0 : -1;
}

int nn_model_build(const char *spec, int c, int h, int w, int max_batch, nn_model **out, epr_err *err) {
    *out = NULL;
    RETURN_ERROR_IF(!spec, err, EPR_EARG, "model spec is NULL");
    RETURN_ERROR_IF(c < 1 || h < 1 || w < 1 || max_batch < 1, err, EPR_EARG,
                    "bad model input [%d, %d, %d, %d]", max_batch, c, h, w);
    char *text = strdup(spec);
    RETURN_ERROR_IF(!text, err, EPR_ENOMEM, "out of memory parsing the model spec");
    /* Strip comments: '#' to end of line. */
    for (char *p = text; *p; p++)
        if (*p == '#')
            while (*p && *p != '\n') *p++ = ' ';

    proto *ps = NULL;
    int n = 0, cap = 0, rc = 0;
    char *save = NULL;
    for (char *e = strtok_r(text, ";\n", &save); e; e = strtok_r(NULL, ";\n", &save)) {
        char *q = e;
        while (isspace((unsigned char)*q)) q++;
        if (!*q) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            proto *np = realloc(ps, sizeof *ps * cap);
            if (!np) {
                rc = epr_fail(err, EPR_ENOMEM, "out of memory parsing the model spec");
                goto done;
            }
            ps = np;
        }
        if ((rc = parse_layer(q, n + 1, &ps[n], err))) goto done;
        nn_layer *L = &ps[n].L;
        if (!L->name[0]) snprintf(L->name, sizeof L->name, "%s%d", op_name(L->op), n + 1);
        if (strcmp(L->name, "input") == 0 || find_layer(ps, n, L->name) >= 0) {
            rc = epr_fail(err, EPR_EARG, "layer %d (%s): duplicate or reserved name '%s'", n + 1,
                          op_name(L->op), L->name);
            goto done;
        }
        if ((rc = shape_layer(ps, n, c, h, w, err))) goto done;
        n++;
    }
    if (n == 0) {
        rc = epr_fail(err, EPR_EARG, "model spec has no layers");
        goto done;
    }

    nn_model *m = calloc(1, sizeof *m);
    if (!m) {
        rc = epr_fail(err, EPR_ENOMEM, "out of memory building the model");
        goto done;
    }
    m->c = c, m->h = h, m->w = w, m->max_batch = max_batch;
    m->in_size = (size_t)c * h * w;
    m->n_layers = n;
    m->col_owner = -1;
    m->layers = calloc(n, sizeof *m->layers);
    m->tensors = calloc(2 * (size_t)n, sizeof *m->tensors);
    m->buffers = calloc(2 * (size_t)n, sizeof *m->buffers);
    int oom = !m->layers || !m->tensors || !m->buffers;
    for (int i = 0; i < n && !oom; i++) {
        nn_layer *L = &m->layers[i];
        *L = ps[i].L;
        const size_t act = (size_t)max_batch * L->out_size;
        if (L->op != NN_FLATTEN) oom |= alloc_floats(&L->y, act);
        oom |= alloc_floats(&L->dy, act);
        if (L->op == NN_DENSE) {
            int in = (int)L->in_size;
            L->wt = add_tensor(m, i, NN_PARAM_WEIGHT, 2, (int[]){L->oc, in}, in, L->oc);
            if (L->bias) L->bt = add_tensor(m, i, NN_PARAM_BIAS, 1, (int[]){L->oc}, in, L->oc);
        } else if (L->op == NN_CONV) {
            int kk = L->k * L->k;
            L->wt = add_tensor(m, i, NN_PARAM_WEIGHT, 4, (int[]){L->oc, L->c, L->k, L->k}, L->c * kk,
                               L->oc * kk);
            if (L->bias)
                L->bt = add_tensor(m, i, NN_PARAM_BIAS, 1, (int[]){L->oc}, L->c * kk, L->oc * kk);
            size_t chunk = (size_t)nn_conv_chunk(L, max_batch), per = (size_t)L->c * kk * L->oh * L->ow;
            if (per * chunk > m->col_size) m->col_size = per * chunk;
            size_t g = (size_t)L->oc * L->oh * L->ow * chunk; /* only used when chunk > 1 */
            if (chunk > 1 && g > m->gather_size) m->gather_size = g;
        } else if (L->op == NN_BATCHNORM) {
            if (L->affine) L->wt = add_tensor(m, i, NN_PARAM_WEIGHT, 1, (int[]){L->c}, L->c, L->c); /* gamma */
            L->bt = add_tensor(m, i, NN_PARAM_BIAS, 1, (int[]){L->c}, L->c, L->c); /* beta */
            L->rmean = add_buffer(m, i, "running_mean", L->c);
            L->rvar = add_buffer(m, i, "running_var", L->c);
            oom |= L->rmean < 0 || L->rvar < 0;
            oom |= alloc_floats(&L->bn_mean, L->c) | alloc_floats(&L->bn_invstd, L->c);
        } else if (L->op == NN_MAXPOOL) {
            L->argmax = malloc(sizeof(int) * act);
            oom |= !L->argmax;
        }
    }
    if (!oom && m->col_size) oom |= alloc_floats(&m->col, m->col_size) | alloc_floats(&m->gather, m->gather_size);
    if (!oom) {
        oom |= alloc_floats(&m->probs, (size_t)max_batch * m->layers[n - 1].out_size);
        m->labels = malloc(sizeof(int) * max_batch);
        oom |= !m->labels;
    }
    if (oom) {
        nn_model_free(m);
        rc = epr_fail(err, EPR_ENOMEM, "out of memory allocating model buffers for batch %d", max_batch);
        goto done;
    }
    for (int b = 0; b < m->n_buffers; b++)
        if (strstr(m->buffers[b].name, ".running_var"))
            for (size_t j = 0; j < m->buffers[b].size; j++) m->buffers[b].data[j] = 1.0f;
    *out = m;
done:
    free(ps);
    free(text);
    return rc;
}

void nn_model_free(nn_model *m) {
    if (!m) return;
    for (int i = 0; m->layers && i < m->n_layers; i++) {
        nn_layer *L = &m->layers[i];
        if (L->op != NN_FLATTEN) free(L->y);
        free(L->dy);
        free(L->argmax);
        free(L->bn_mean);
        free(L->bn_invstd);
    }
    for (int b = 0; m->buffers && b < m->n_buffers; b++) free(m->buffers[b].data);
    free(m->layers);
    free(m->tensors);
    free(m->buffers);
    free(m->param_block);
    free(m->grad_block);
    free(m->col);
    free(m->gather);
    free(m->probs);
    free(m->labels);
    free(m->dx_input);
    free(m);
}

/* ---- accessors ---- */

int nn_model_num_classes(const nn_model *m) { return (int)m->layers[m->n_layers - 1].out_size; }
size_t nn_model_num_params(const nn_model *m) { return m->n_params; }
int nn_model_num_tensors(const nn_model *m) { return m->n_tensors; }
nn_param *nn_model_tensor(nn_model *m, int i) { return (i >= 0 && i < m->n_tensors) ? &m->tensors[i] : NULL; }
int nn_model_find_tensor(const nn_model *m, const char *name) {
    for (int i = 0; i < m->n_tensors; i++)
        if (strcmp(m->tensors[i].name, name) == 0) return i;
    return -1;
}
int nn_model_num_buffers(const nn_model *m) { return m->n_buffers; }
nn_buffer *nn_model_buffer(nn_model *m, int i) { return (i >= 0 && i < m->n_buffers) ? &m->buffers[i] : NULL; }
int nn_model_max_batch(const nn_model *m) { return m->max_batch; }
float *nn_model_param_block(nn_model *m) { return m->param_block; }
float *nn_model_grad_block(nn_model *m) { return m->grad_block; }
const float *nn_model_logits(const nn_model *m) { return m->layers[m->n_layers - 1].y; }

void nn_model_print(const nn_model *m, FILE *f) {
    fprintf(f, "input [%d,%d,%d]\n", m->c, m->h, m->w);
    for (int i = 0; i < m->n_layers; i++) {
        const nn_layer *L = &m->layers[i];
        size_t np = 0;
        if (L->wt >= 0) np += m->tensors[L->wt].size;
        if (L->bt >= 0) np += m->tensors[L->bt].size;
        char src[2 * NN_NAME_MAX + 8] = "";
        if (L->in != i - 1)
            snprintf(src, sizeof src, " in=%s", L->in < 0 ? "input" : m->layers[L->in].name);
        if (L->op == NN_ADD) {
            size_t k = strlen(src);
            snprintf(src + k, sizeof src - k, " with=%s", L->with < 0 ? "input" : m->layers[L->with].name);
        }
        char geo[48] = "";
        if (L->op == NN_CONV)
            snprintf(geo, sizeof geo, L->pad ? " k=%d stride=%d pad=%d" : " k=%d stride=%d", L->k, L->stride, L->pad);
        else if (L->op == NN_MAXPOOL || L->op == NN_AVGPOOL)
            snprintf(geo, sizeof geo, L->pad ? " k=%d stride=%d pad=%d" : " k=%d stride=%d", L->k, L->stride, L->pad);
        fprintf(f, "%3d %-9s %-12s -> [%d,%d,%d] params %zu%s%s\n", i + 1, op_name(L->op), L->name, L->oc,
                L->oh, L->ow, np, geo, src);
    }
    fprintf(f, "total params %zu in %d tensors\n", m->n_params, m->n_tensors);
}

/* ---- parameters ---- */

void nn_model_bind(nn_model *m, int i, float *w, float *dw) {
    assert(i >= 0 && i < m->n_tensors);
    m->tensors[i].w = w;
    m->tensors[i].dw = dw;
}

int nn_model_alloc_params(nn_model *m, epr_err *err) {
    free(m->param_block);
    free(m->grad_block);
    m->param_block = calloc(m->n_params ? m->n_params : 1, sizeof(float));
    m->grad_block = calloc(m->n_params ? m->n_params : 1, sizeof(float));
    if (!m->param_block || !m->grad_block) {
        free(m->param_block);
        free(m->grad_block);
        m->param_block = m->grad_block = NULL;
        return epr_fail(err, EPR_ENOMEM, "out of memory for %zu parameters", m->n_params);
    }
    size_t off = 0;
    for (int i = 0; i < m->n_tensors; i++) {
        nn_model_bind(m, i, m->param_block + off, m->grad_block + off);
        off += m->tensors[i].size;
    }
    return 0;
}

void nn_model_init_params(nn_model *m, uint64_t seed) {
    for (int i = 0; i < m->n_tensors; i++) {
        nn_param *t = &m->tensors[i];
        if (!t->w) continue;
        /* Each tensor draws from its own counter range, so its values do
         * not depend on the sizes of the tensors before it. */
        epr_rng r = {seed, EPR_STREAM_INIT, (uint64_t)i << 40};
        const nn_op op = m->layers[t->layer].op;
        if (t->kind == NN_PARAM_BIAS) {
            memset(t->w, 0, sizeof(float) * t->size);
        } else if (op == NN_BATCHNORM) { /* gamma, as PyTorch */
            for (size_t j = 0; j < t->size; j++) t->w[j] = 1.0f;
        } else if (op == NN_CONV) { /* He-normal, fan_in */
            const double sd = sqrt(2.0 / t->fan_in);
            for (size_t j = 0; j < t->size; j += 2) {
                double u1 = 1.0 - epr_rng_next_uniform(&r), u2 = epr_rng_next_uniform(&r);
                double rad = sqrt(-2.0 * log(u1)), a = 2.0 * M_PI * u2;
                t->w[j] = (float)(sd * rad * cos(a));
                if (j + 1 < t->size) t->w[j + 1] = (float)(sd * rad * sin(a));
            }
        } else { /* Glorot-uniform */
            const double lim = sqrt(6.0 / (t->fan_in + t->fan_out));
            for (size_t j = 0; j < t->size; j++)
                t->w[j] = (float)((2.0 * epr_rng_next_uniform(&r) - 1.0) * lim);
        }
    }
    for (int b = 0; b < m->n_buffers; b++) {
        nn_buffer *B = &m->buffers[b];
        float v = strstr(B->name, ".running_var") ? 1.0f : 0.0f;
        for (size_t j = 0; j < B->size; j++) B->data[j] = v;
    }
}

/* ---- forward / backward ---- */

void nn_forward_walk(nn_layer *layers, int n_layers, const nn_param *tensors, const float *x, nn_forward_fn forward,
                     void *ctx) {
    for (int i = 0; i < n_layers; i++) {
        nn_layer *L = &layers[i];
        if (L->wt >= 0) assert(tensors[L->wt].w);
        if (L->bt >= 0) assert(tensors[L->bt].w);
        (void)tensors;
        const float *in = L->in < 0 ? x : layers[L->in].y;
        const float *with = L->op == NN_ADD ? (L->with < 0 ? x : layers[L->with].y) : NULL;
        /* Flatten is only a change of view; it is never written through. */
        if (L->op == NN_FLATTEN) L->y = (float *)in;
        forward(ctx, L, in, with);
    }
}

typedef struct {
    nn_model *m;
    int n, training;
} cpu_pass;

static void cpu_forward(void *ctx, nn_layer *L, const float *in, const float *with) {
    const cpu_pass *p = ctx;
    nn_model *m = p->m;
    if (m->op_time) {
        double t0 = epr_now_s();
        nn_layer_forward(m, L, in, with, p->n, p->training);
        m->op_time[2 * L->op] += epr_now_s() - t0;
    } else {
        nn_layer_forward(m, L, in, with, p->n, p->training);
    }
}

double nn_forward(nn_model *m, const float *x, const int *labels, int n, int training) {
    assert(n >= 1 && n <= m->max_batch);
    m->x = x;
    m->n_last = n;
    cpu_pass pass = {m, n, training};
    nn_forward_walk(m->layers, m->n_layers, m->tensors, x, cpu_forward, &pass);
    m->has_labels = labels != NULL;
    if (!labels) return 0.0;
    const int K = nn_model_num_classes(m);
    const float *z = nn_model_logits(m);
    double loss = 0.0;
    for (int s = 0; s < n; s++) {
        assert(labels[s] >= 0 && labels[s] < K);
        m->labels[s] = labels[s];
        loss += nn_softmax_ce(z + (size_t)s * K, K, labels[s], m->probs + (size_t)s * K);
    }
    return loss;
}

int nn_count_errors(const nn_model *m, const int *labels, int n, int *preds) {
    const int K = nn_model_num_classes(m);
    const float *z = nn_model_logits(m);
    int wrong = 0;
    for (int s = 0; s < n; s++) {
        const int best = nn_argmax(z + (size_t)s * K, K);
        if (preds) preds[s] = best;
        if (labels && best != labels[s]) wrong++;
    }
    return wrong;
}

static void zero_param_grads(nn_model *m, const nn_layer *L) {
    int ts[2] = {L->wt, L->bt};
    for (int j = 0; j < 2; j++)
        if (ts[j] >= 0 && m->tensors[ts[j]].dw) memset(m->tensors[ts[j]].dw, 0, sizeof(float) * m->tensors[ts[j]].size);
}

/* Where layer L's gradient w.r.t. producer `src` goes, and whether to add. */
static float *grad_target(nn_layer *layers, float *dx_input, int src, int *acc, int *input_live) {
    if (src < 0) {
        *acc = *input_live;
        if (dx_input) *input_live = 1;
        return dx_input;
    }
    nn_layer *P = &layers[src];
    *acc = P->dy_live;
    P->dy_live = 1;
    return P->dy;
}

void nn_backward_walk(nn_layer *layers, int n_layers, const float *x, float *dx_input, nn_backward_fn backward,
                      nn_zero_grads_fn zero_grads, void *ctx) {
    int input_live = 0;
    for (int i = 0; i < n_layers; i++) layers[i].dy_live = 0;
    layers[n_layers - 1].dy_live = 1;
    /* Consumers come after producers, so walking backwards every layer's
     * dy is complete (all consumers have added in) before it is used. */
    for (int i = n_layers - 1; i >= 0; i--) {
        nn_layer *L = &layers[i];
        if (!L->dy_live) { /* output feeds nothing: its params get zero */
            zero_grads(ctx, L);
            continue;
        }
        const float *in = L->in < 0 ? x : layers[L->in].y;
        int acc = 0, acc2 = 0;
        float *dx = grad_target(layers, dx_input, L->in, &acc, &input_live), *dx2 = NULL;
        if (L->op == NN_ADD) dx2 = grad_target(layers, dx_input, L->with, &acc2, &input_live);
        backward(ctx, L, in, dx, acc, dx2, acc2);
    }
}

static void cpu_zero_grads(void *ctx, const nn_layer *L) { zero_param_grads((nn_model *)ctx, L); }

static void cpu_backward(void *ctx, nn_layer *L, const float *x, float *dx, int acc, float *dx2, int acc2) {
    nn_model *m = ctx;
    double t0 = m->op_time ? epr_now_s() : 0.0;
    nn_layer_backward(m, L, x, dx, acc, dx2, acc2, m->n_last);
    if (m->op_time) m->op_time[2 * L->op + 1] += epr_now_s() - t0;
}

static void backprop(nn_model *m) {
    nn_backward_walk(m->layers, m->n_layers, m->x, m->dx_input, cpu_backward, cpu_zero_grads, m);
}

void nn_backward(nn_model *m, float grad_scale) {
    assert(m->has_labels);
    const int K = nn_model_num_classes(m), n = m->n_last;
    nn_layer *last = &m->layers[m->n_layers - 1];
    for (int s = 0; s < n; s++) {
        const float *p = m->probs + (size_t)s * K;
        float *d = last->dy + (size_t)s * K;
        for (int k = 0; k < K; k++) d[k] = nn_ce_grad(p[k], k == m->labels[s], grad_scale);
    }
    backprop(m);
}

void nn_backward_from(nn_model *m, const float *dout) {
    nn_layer *last = &m->layers[m->n_layers - 1];
    memcpy(last->dy, dout, sizeof(float) * m->n_last * last->out_size);
    backprop(m);
}

int nn_model_enable_input_grad(nn_model *m, epr_err *err) {
    if (m->dx_input) return 0;
    m->dx_input = malloc(sizeof(float) * m->max_batch * m->in_size);
    RETURN_ERROR_IF(!m->dx_input, err, EPR_ENOMEM, "out of memory for the input gradient");
    return 0;
}

const float *nn_model_input_grad(const nn_model *m) { return m->dx_input; }
