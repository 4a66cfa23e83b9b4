/* model_builtin.c — the built-in networks: the layer specs of LeNet300-100,
 * LeNet5-Caffe and the paper's CIFAR and ImageNet networks (VGG-16-CIFAR,
 * ResNet-20-4, ResNet-18, ResNet-50), looked up by name (nn_builtin_spec).
 *
 * Data only; calls libc (strcmp). */
#include <string.h>

#include "nn/nn.h"

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
/* clang-format off */
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

/* clang-format on */

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
