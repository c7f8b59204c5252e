#include <cmath>

#include "kernels/cuda/check.h"
#include "kernels/cuda/r2g2_elementwise.h"
#include "kernels/cuda/stream.h"

namespace r2g2::kernels::cuda {

namespace {

constexpr int kThreads = 256;

inline int blocks_for(int64_t n) {
  int64_t b = (n + kThreads - 1) / kThreads;
  return static_cast<int>(b < 65535 ? (b < 1 ? 1 : b) : 65535);
}

template <class T>
__global__ void lrt_sample_kernel(const T* mean, const T* v, const T* xi, T* h, T* q, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
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
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
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
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    s[i] = x[i] >= T(0) ? T(1) : T(-1);
}

template <class T>
__global__ void mask_kernel(const T* eps, const T* sigma, T* out, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    out[i] = sigma[i] > T(0) ? eps[i] : T(0);
}

}  // namespace

template <class T>
void lrt_sample(const T* mean, const T* v, const T* xi, T* h, T* q, int64_t n) {
  if (n <= 0) return;
  lrt_sample_kernel<T><<<blocks_for(n), kThreads, 0, current_stream()>>>(mean, v, xi, h, q, n);
  R2G2_CUDA_LAUNCH_CHECK();
}

template <class T>
void r2g2_ratio(const T* r, const T* v, T* beta, int64_t n, double paper_abs_tol, int paper_max_iters) {
  if (n <= 0) return;
  ratio_kernel<T>
      <<<blocks_for(n), kThreads, 0, current_stream()>>>(r, v, beta, n, paper_abs_tol, paper_max_iters);
  R2G2_CUDA_LAUNCH_CHECK();
}

template <class T>
void sign_of(const T* x, T* s, int64_t n) {
  if (n <= 0) return;
  sign_kernel<T><<<blocks_for(n), kThreads, 0, current_stream()>>>(x, s, n);
  R2G2_CUDA_LAUNCH_CHECK();
}

template <class T>
void mask_by_positive(const T* eps, const T* sigma, T* out, int64_t n) {
  if (n <= 0) return;
  mask_kernel<T><<<blocks_for(n), kThreads, 0, current_stream()>>>(eps, sigma, out, n);
  R2G2_CUDA_LAUNCH_CHECK();
}

#define R2G2_INSTANTIATE(T)                                                   \
  template void lrt_sample<T>(const T*, const T*, const T*, T*, T*, int64_t); \
  template void r2g2_ratio<T>(const T*, const T*, T*, int64_t, double, int);  \
  template void sign_of<T>(const T*, T*, int64_t);                            \
  template void mask_by_positive<T>(const T*, const T*, T*, int64_t);
R2G2_INSTANTIATE(float)
R2G2_INSTANTIATE(double)
#undef R2G2_INSTANTIATE

}  // namespace r2g2::kernels::cuda
