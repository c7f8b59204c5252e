#pragma once
// Device code of kernels/cuda/gaussian.cu (the contracts are in kernels/gaussian.inc). A
// header, so that the host emulator runs it too.
#include <cstdint>

#include "r2g2/kernels/cuda/launch.cuh"
#include "r2g2/kernels/gaussian_math.h"

namespace r2g2::kernels::cuda::gaussian_detail {

// One KL term per index, for sum_terms (sum_impl.cuh).
template <GaussianScale S, class T>
struct KlTerm {
  const T* mu;
  const T* sigma;
  const T* rho;  // read for S = rho only
  double inv_p2;
  __device__ double operator()(int64_t i) const {
    return gaussian_kl_term<S>(mu[i], sigma[i], S == GaussianScale::rho ? rho[i] : T(0), inv_p2);
  }
};

// out[0] = terms[0] + constant, cast to T (launched with one thread).
template <class T>
__global__ void kl_finish_kernel(const double* terms, double constant, T* out) {
  if (global_thread() == 0) out[0] = static_cast<T>(terms[0] + constant);
}

// slope: sigmoid(rho) for S = rho, or null (computed here).
template <GaussianScale S, class T>
__global__ void kl_backward_kernel(const T* __restrict__ mu, const T* __restrict__ sigma,
                                   const T* __restrict__ rho, const T* __restrict__ slope, const T* g,
                                   double inv_p2, T* __restrict__ dmu, T* __restrict__ dscale, int64_t n) {
  const T gv = g[0];
  const T g_inv_p2 = static_cast<T>(static_cast<double>(gv) * inv_p2);
  for (int64_t i = global_thread(); i < n; i += grid_threads()) {
    if (dmu) dmu[i] = gaussian_kl_grad_mu(mu[i], g_inv_p2);
    if (!dscale) continue;
    if (S == GaussianScale::rho && slope)
      dscale[i] = gaussian_kl_grad_rho_given_slope(sigma[i], rho[i], slope[i], gv, g_inv_p2);
    else
      dscale[i] = gaussian_kl_grad_scale<S>(sigma[i], S == GaussianScale::rho ? rho[i] : T(0), gv, g_inv_p2);
  }
}

template <class T>
__global__ void sample_kernel(const T* __restrict__ mu, const T* __restrict__ sigma,
                              const T* __restrict__ eps, T* __restrict__ w, int64_t n) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) w[i] = gaussian_draw(mu[i], sigma[i], eps[i]);
}

template <class T>
__global__ void softplus_and_slope_kernel(const T* __restrict__ rho, T* __restrict__ sigma,
                                          T* __restrict__ slope, int64_t n) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) softplus_and_sigmoid(rho[i], sigma[i], slope[i]);
}

}  // namespace r2g2::kernels::cuda::gaussian_detail
