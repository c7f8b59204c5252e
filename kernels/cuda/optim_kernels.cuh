#pragma once
// Device code of kernels/cuda/optim.cu (the contracts are in kernels/cpu/optim.h). A
// header, so that the host emulator runs it too. Each update is one fused pass: the
// gradient and state are read once and the new parameter and state written, one thread
// per element, in the CPU reference's order of operations.
#include <cstdint>

#include "r2g2/kernels/cuda/launch.cuh"

namespace r2g2::kernels::cuda::optim_detail {

// bias1 = 1 - beta1^t and bias2 = 1 - beta2^t come from the host (see adam_step).
template <class T>
__global__ void adam_kernel(T* __restrict__ p, const T* __restrict__ g, T* __restrict__ m, T* __restrict__ v,
                            int64_t n, T lr, T beta1, T beta2, T eps, T weight_decay, T bias1, T bias2) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) {
    const T pi = p[i];
    const T gi = g[i] + weight_decay * pi;
    const T mi = beta1 * m[i] + (T(1) - beta1) * gi;
    const T vi = beta2 * v[i] + (T(1) - beta2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] = pi - lr * (mi / bias1) / (sqrt(vi / bias2) + eps);
  }
}

// With momentum != 0, buf holds n elements (sgd_step refuses a null one); without
// momentum it is ignored and may be null, as in the CPU reference.
template <class T>
__global__ void sgd_kernel(T* __restrict__ p, const T* __restrict__ g, T* __restrict__ buf, int64_t n, T lr,
                           T momentum, T weight_decay, bool first) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) {
    const T pi = p[i];
    T step = g[i] + weight_decay * pi;
    if (momentum != T(0)) {
      step = first ? step : momentum * buf[i] + step;
      buf[i] = step;
    }
    p[i] = pi - lr * step;
  }
}

}  // namespace r2g2::kernels::cuda::optim_detail
