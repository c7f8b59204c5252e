// Fused optimizer updates: one pass over each parameter buffer, split across the CPU
// thread pool (each element's update is independent of the others).
#include "r2g2/kernels/cpu/optim.h"

#include "r2g2/kernels/optim_math.h"
#include "r2g2/kernels/runtime/error.h"
#include "r2g2/kernels/runtime/thread_pool.h"

namespace r2g2::kernels::cpu {

template <class T>
void adam_step(T* p, const T* g, T* m, T* v, int64_t n, T lr, T beta1, T beta2, T eps, T weight_decay,
               int64_t step) {
  const AdamBias<T> bias = adam_bias(beta1, beta2, step);
  runtime::parallel_for(0, n, runtime::kCostlyElementGrain, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i)
      adam_update(p[i], g[i], m[i], v[i], lr, beta1, beta2, eps, weight_decay, bias.bias1, bias.bias2);
  });
}

template <class T>
void sgd_step(T* p, const T* g, T* buf, int64_t n, T lr, T momentum, T weight_decay, bool first) {
  // Quietly falling back to plain SGD would train a different model than asked for.
  R2G2_CHECK(momentum == T(0) || n <= 0 || buf != nullptr, "sgd_step: momentum is ", momentum,
             " but the momentum buffer is null; pass a buffer of ", n, " elements, or momentum 0");
  // Without momentum no buffer is needed (buf may be null).
  runtime::parallel_for(0, n, runtime::kCheapElementGrain, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i)
      sgd_update(p[i], g[i], momentum != T(0) ? buf + i : nullptr, lr, momentum, weight_decay, first);
  });
}

#define R2G2_INSTANTIATE(T)                                                          \
  template void adam_step<T>(T*, const T*, T*, T*, int64_t, T, T, T, T, T, int64_t); \
  template void sgd_step<T>(T*, const T*, T*, int64_t, T, T, T, bool);
R2G2_INSTANTIATE(float)
R2G2_INSTANTIATE(double)
#undef R2G2_INSTANTIATE

}  // namespace r2g2::kernels::cpu
