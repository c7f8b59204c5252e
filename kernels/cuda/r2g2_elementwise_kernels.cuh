#pragma once
// Device code of kernels/cuda/r2g2_elementwise.cu (the contracts are in
// kernels/cpu/r2g2_elementwise.h). A header, so that the host emulator runs it too.
#include <cstdint>

#include "r2g2/kernels/cuda/launch.cuh"

namespace r2g2::kernels::cuda::r2g2_elementwise_detail {

template <class T>
__global__ void lrt_sample_kernel(const T* mean, const T* v, const T* xi, T* h, T* q, int64_t n) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) {
    if (v[i] > T(0)) {
      T sd = sqrt(v[i]);
      h[i] = mean[i] + sd * xi[i];
      q[i] = xi[i] / sd;
    } else {
      h[i] = mean[i];
      q[i] = T(0);
    }
  }
}

template <class T>
__global__ void ratio_kernel(const T* r, const T* v, T* beta, int64_t n, double abs_tol, int max_iters) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) {
    if (!(v[i] > T(0))) {
      beta[i] = T(0);
      continue;
    }
    if (abs_tol >= 0) {
      double res = static_cast<double>(r[i]) - static_cast<double>(v[i]) * static_cast<double>(r[i]);
      if (max_iters <= 0 || fabs(res) < abs_tol) {
        beta[i] = r[i];
        continue;
      }
    }
    beta[i] = r[i] / v[i];
  }
}

template <class T>
__global__ void sign_kernel(const T* x, T* s, int64_t n) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) s[i] = x[i] >= T(0) ? T(1) : T(-1);
}

template <class T>
__global__ void mask_kernel(const T* eps, const T* sigma, T* out, int64_t n) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) out[i] = sigma[i] > T(0) ? eps[i] : T(0);
}

}  // namespace r2g2::kernels::cuda::r2g2_elementwise_detail
