/* tests/gpu/emu/emu.cpp — runs a rewritten kernel launch on the CPU: blocks
 * one after another; the threads of a block one after another, or, for a
 * kernel that calls __syncthreads, as fibers (ucontext) switched at every
 * barrier, so each barrier is reached by all threads before any passes it. */
#include <ucontext.h>

#include <cstdio>
#include <vector>

#include "cuda_runtime.h"

thread_local uint3 threadIdx, blockIdx;
thread_local dim3 blockDim, gridDim;

namespace {
const size_t STACK = 64 * 1024;
struct fiber {
    ucontext_t ctx;
    std::vector<char> stack;
    bool done;
};
std::vector<fiber> fibers;
ucontext_t sched;
int current = -1;
const std::function<void()> *body;

void trampoline(int t) {
    (*body)();
    fibers[t].done = true;
    /* returns to uc_link = sched */
}
} // namespace

void __syncthreads(void) {
    if (current < 0) {
        fprintf(stderr, "emu: __syncthreads in a kernel launched without sync\n");
        abort();
    }
    swapcontext(&fibers[current].ctx, &sched);
}

void emu::run(int sync, const cfg &c, const std::function<void()> &fn) {
    gridDim = c.grid;
    blockDim = c.block;
    const unsigned nt = c.block.x * c.block.y * c.block.z;
    if (sync && fibers.size() < nt) {
        fibers.resize(nt);
        for (auto &f : fibers) f.stack.resize(STACK);
    }
    for (unsigned bz = 0; bz < c.grid.z; bz++)
        for (unsigned by = 0; by < c.grid.y; by++)
            for (unsigned bx = 0; bx < c.grid.x; bx++) {
                blockIdx = {bx, by, bz};
                if (!sync) {
                    for (unsigned t = 0; t < nt; t++) {
                        threadIdx = {t % c.block.x, (t / c.block.x) % c.block.y, t / (c.block.x * c.block.y)};
                        fn();
                    }
                    continue;
                }
                body = &fn;
                for (unsigned t = 0; t < nt; t++) {
                    fiber &f = fibers[t];
                    getcontext(&f.ctx);
                    f.ctx.uc_stack.ss_sp = f.stack.data();
                    f.ctx.uc_stack.ss_size = STACK;
                    f.ctx.uc_link = &sched;
                    f.done = false;
                    makecontext(&f.ctx, (void (*)())trampoline, 1, (int)t);
                }
                for (bool left = true; left;) { /* one round: every thread to its next barrier */
                    left = false;
                    for (unsigned t = 0; t < nt; t++) {
                        if (fibers[t].done) continue;
                        current = (int)t;
                        threadIdx = {t % c.block.x, (t / c.block.x) % c.block.y, t / (c.block.x * c.block.y)};
                        swapcontext(&sched, &fibers[t].ctx);
                        if (!fibers[t].done) left = true;
                    }
                }
                current = -1;
            }
}
