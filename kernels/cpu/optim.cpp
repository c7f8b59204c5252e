// Fused optimizer updates: one pass over each parameter buffer.
#include "r2g2/kernels/cpu/optim.h"

#include <cmath>

#include "r2g2/kernels/runtime/error.h"

namespace r2g2::kernels::cpu {

template <class T>
void adam_step(T* p, const T* g, T* m, T* v, int64_t n, T lr, T beta1, T beta2, T eps, T weight_decay,
               int64_t step) {
  // Bias corrections in double: 1 - beta2^t is tiny for small t and loses digits in float.
  const double t = static_cast<double>(step);
  const T c1 = static_cast<T>(1.0 - std::pow(static_cast<double>(beta1), t));
  const T c2 = static_cast<T>(1.0 - std::pow(static_cast<double>(beta2), t));
  for (int64_t i = 0; i < n; ++i) {
    const T gi = g[i] + weight_decay * p[i];
    m[i] = beta1 * m[i] + (T(1) - beta1) * gi;
    v[i] = beta2 * v[i] + (T(1) - beta2) * gi * gi;
    const T m_hat = m[i] / c1, v_hat = v[i] / c2;
    p[i] -= lr * m_hat / (std::sqrt(v_hat) + eps);
  }
}

template <class T>
void sgd_step(T* p, const T* g, T* buf, int64_t n, T lr, T momentum, T weight_decay, bool first) {
  // Without momentum no buffer is needed (buf may be null).
  if (momentum == T(0)) {
    for (int64_t i = 0; i < n; ++i) p[i] -= lr * (g[i] + weight_decay * p[i]);
    return;
  }
  R2G2_CHECK(n <= 0 || buf != nullptr, "sgd_step: momentum is ", momentum,
             " but the momentum buffer is null; pass a buffer of ", n, " elements, or momentum 0");
  for (int64_t i = 0; i < n; ++i) {
    const T gi = g[i] + weight_decay * p[i];
    buf[i] = first ? gi : momentum * buf[i] + gi;
    p[i] -= lr * buf[i];
  }
}

#define R2G2_INSTANTIATE(T)                                                          \
  template void adam_step<T>(T*, const T*, T*, T*, int64_t, T, T, T, T, T, int64_t); \
  template void sgd_step<T>(T*, const T*, T*, int64_t, T, T, T, bool);
R2G2_INSTANTIATE(float)
R2G2_INSTANTIATE(double)
#undef R2G2_INSTANTIATE

}  // namespace r2g2::kernels::cpu
