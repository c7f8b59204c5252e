// Fused optimizer updates: one pass reads the gradient and state once and writes the new
// parameter and state, one thread per element.
#include <cmath>

#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/optim.h"

namespace r2g2::kernels::cuda {

namespace {

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

// Without momentum the buffer is ignored (it may be null), as in the CPU reference.
template <class T>
__global__ void sgd_kernel(T* __restrict__ p, const T* __restrict__ g, T* __restrict__ buf, int64_t n, T lr,
                           T momentum, T weight_decay, bool first) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) {
    const T pi = p[i];
    T step = g[i] + weight_decay * pi;
    if (buf && momentum != T(0)) {
      step = first ? step : momentum * buf[i] + step;
      buf[i] = step;
    }
    p[i] = pi - lr * step;
  }
}

}  // namespace

template <class T>
void adam_step(T* p, const T* g, T* m, T* v, int64_t n, T lr, T beta1, T beta2, T eps, T weight_decay,
               int64_t step) {
  if (n <= 0) return;
  R2G2_CHECK(step >= 1, "adam_step: step counts from 1, got ", step);
  // Bias corrections 1 - beta^t on the host in double, exactly as the CPU reference: in
  // float, 1 - beta2^t loses digits for small t.
  const double t = static_cast<double>(step);
  const T bias1 = static_cast<T>(1.0 - std::pow(static_cast<double>(beta1), t));
  const T bias2 = static_cast<T>(1.0 - std::pow(static_cast<double>(beta2), t));
  R2G2_LAUNCH(adam_kernel<T>, blocks_for(n), kThreads, p, g, m, v, n, lr, beta1, beta2, eps, weight_decay,
              bias1, bias2);
}

template <class T>
void sgd_step(T* p, const T* g, T* buf, int64_t n, T lr, T momentum, T weight_decay, bool first) {
  if (n <= 0) return;
  R2G2_LAUNCH(sgd_kernel<T>, blocks_for(n), kThreads, p, g, buf, n, lr, momentum, weight_decay, first);
}

template void adam_step<float>(float*, const float*, float*, float*, int64_t, float, float, float, float,
                               float, int64_t);
template void adam_step<double>(double*, const double*, double*, double*, int64_t, double, double, double,
                                double, double, int64_t);
template void sgd_step<float>(float*, const float*, float*, int64_t, float, float, float, bool);
template void sgd_step<double>(double*, const double*, double*, int64_t, double, double, double, bool);

}  // namespace r2g2::kernels::cuda
