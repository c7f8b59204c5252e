#pragma once
// CUDA implementation of kernels/cpu/optim.h: the same signatures, device pointers,
// launched on r2g2's current stream (kernels/cuda/stream.h). Errors throw r2g2::Error.
// ---- The CPU reference's notes follow. ----
// Optimizer updates over flat parameter buffers.
#include <cstdint>

namespace r2g2::kernels::cuda {

// Adam (Kingma & Ba), bias-corrected: m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
// p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps). weight_decay adds wd*p to g.
template <class T>
void adam_step(T* p, const T* g, T* m, T* v, int64_t n, T lr, T beta1, T beta2, T eps, T weight_decay,
               int64_t step);
// SGD with momentum (PyTorch's form): buf = momentum * buf + g (buf = g at step 1); p -= lr * buf.
// buf holds n elements when momentum != 0 (a null one throws r2g2::Error); without
// momentum it is not used and may be null.
template <class T>
void sgd_step(T* p, const T* g, T* buf, int64_t n, T lr, T momentum, T weight_decay, bool first);

}  // namespace r2g2::kernels::cuda
