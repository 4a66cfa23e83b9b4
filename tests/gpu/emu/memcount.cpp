/* tests/gpu/emu/memcount.cpp — the device model's buffer sizes for the big
 * networks (activations y, shared output-gradient slots, conv scratch),
 * computed by nn_cuda_model_create itself under the CPU emulation (no GPU):
 *   after run_emulated.sh BUILD:
 *   g++ -std=c++17 -I tests/gpu/emu -I BUILD/layers/nn -I include tests/gpu/emu/memcount.cpp \
 *       BUILD/gpu-emu/{context,model,layers,emu}.o BUILD/libepr-nn.a -lopenblas -lm -o memcount */
#include <cstdio>

#include "nn/cuda/nn_cuda_internal.h"

int main() {
    const struct {
        const char *net;
        int hw, batch;
    } nets[] = {{"resnet20-4", 32, 128}, {"vgg16-cifar", 32, 128}, {"resnet18", 224, 64}, {"resnet50", 224, 64}};
    nn_cuda *c;
    epr_err err = {0};
    if (nn_cuda_open(0, &c, &err)) return 1;
    for (const auto &k : nets) {
        nn_model *h;
        nn_cuda_model *m;
        if (nn_model_build(nn_builtin_spec(k.net), 3, k.hw, k.hw, k.batch, &h, &err) ||
            nn_cuda_model_create(c, h, &m, &err))
            return 1;
        const double MB = 1048576.0 / 4.0; /* floats per MiB */
        double y = 0, dy_old = 0, dy_new = 0;
        for (int i = 0; i < h->n_layers; i++) {
            double a = (double)k.batch * h->layers[i].out_size / MB;
            if (h->layers[i].op != NN_FLATTEN) y += a;
            dy_old += a;
        }
        for (int s = 0; s < m->n_dy_slots; s++) {
            size_t mx = 0;
            for (int i = 0; i < h->n_layers; i++)
                if (m->layers[i].dy == m->dy_slots[s] && k.batch * m->layers[i].out_size > mx)
                    mx = k.batch * m->layers[i].out_size;
            dy_new += mx / MB;
        }
        printf("%s batch %d: y %.0f MB; dy one per layer %.0f MB, shared %d slots %.0f MB; col %.0f MB, gather "
               "%.0f MB; params %.0f MB\n",
               k.net, k.batch, y, dy_old, m->n_dy_slots, dy_new, m->col_size / MB, m->gather_size / MB,
               h->n_params / MB);
        nn_cuda_model_free(m);
        nn_model_free(h);
    }
    nn_cuda_close(c);
    return 0;
}
