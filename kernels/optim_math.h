#pragma once
// The per-element optimizer updates, shared by kernels/cpu/optim.cpp and
// kernels/cuda/optim_kernels.cuh so that both devices apply the same operations in the
// same order, and the host-side bias corrections of Adam.
#include <math.h>

#include <cstdint>

#include "r2g2/kernels/host_device.h"
#include "r2g2/kernels/runtime/error.h"

namespace r2g2::kernels {

// One parameter tensor of a multi-tensor Adam step (adam_step_many): its n elements and
// their gradient and moments, all on the tensors' device.
template <class T>
struct AdamTensor {
  T* p;
  const T* g;
  T* m;
  T* v;
  int64_t n;
};

// What both backends' adam_step_many refuse before touching anything.
template <class T>
void check_adam_tensors(const AdamTensor<T>* tensors, int count) {
  R2G2_CHECK(count >= 0 && (count == 0 || tensors != nullptr), "adam_step_many: ", count,
             " tensors but a null list");
}

// 1 - beta1^t and 1 - beta2^t for Adam's step t, computed in double: in float, 1 - beta2^t
// loses digits for small t. Step 0 would divide by zero, so it is refused.
template <class T>
struct AdamBias {
  T bias1, bias2;
};
template <class T>
AdamBias<T> adam_bias(T beta1, T beta2, int64_t step) {
  R2G2_CHECK(step >= 1, "adam_step: step counts from 1, got ", step);
  const double t = static_cast<double>(step);
  return {static_cast<T>(1.0 - ::pow(static_cast<double>(beta1), t)),
          static_cast<T>(1.0 - ::pow(static_cast<double>(beta2), t))};
}

// One element of Adam: updates m, v and p in place.
template <class T>
R2G2_HOST_DEVICE inline void adam_update(T& p, T g, T& m, T& v, T lr, T beta1, T beta2, T eps, T weight_decay,
                                         T bias1, T bias2) {
  const T pi = p;
  const T gi = g + weight_decay * pi;
  const T mi = beta1 * m + (T(1) - beta1) * gi;
  const T vi = beta2 * v + (T(1) - beta2) * gi * gi;
  m = mi;
  v = vi;
  p = pi - lr * (mi / bias1) / (::sqrt(vi / bias2) + eps);
}

// One element of SGD (PyTorch's form); `buf` is the element's momentum buffer, used only
// when momentum != 0: buf = g at the first step, else momentum * buf + g.
template <class T>
R2G2_HOST_DEVICE inline void sgd_update(T& p, T g, T* buf, T lr, T momentum, T weight_decay, bool first) {
  const T pi = p;
  T step = g + weight_decay * pi;
  if (momentum != T(0)) {
    step = first ? step : momentum * *buf + step;
    *buf = step;
  }
  p = pi - lr * step;
}

}  // namespace r2g2::kernels
