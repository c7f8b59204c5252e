#pragma once
// Per-element math of the fused mean-field Gaussian kernels (kernels/gaussian.inc), shared
// by kernels/cpu/gaussian.cpp and kernels/cuda/gaussian_kernels.cuh: the KL of one element
// of N(mu, sigma^2) to N(0, p^2), its gradient, one weight draw mu + sigma * eps, and
// sigma = softplus(rho) with its slope.
#include <math.h>

#include <cstdint>
#include <type_traits>

#include "r2g2/kernels/host_device.h"

namespace r2g2::kernels {

// How a Gaussian's scale is given: sigma itself, or rho with sigma = softplus(rho).
enum class GaussianScale { sigma, rho };

// Terms per partial sum of the CPU KL: fixed, so that the order of its additions depends
// on the element count alone, never on the thread count.
constexpr int64_t kGaussianKlChunk = 4096;

// The KL's constants for prior N(0, p^2): 1/p^2, and the per-element constant
// log p - 1/2 that the kernels add once, as n (log p - 1/2), after the sum.
struct GaussianPrior {
  double inv_p2;
  double per_element;
};
inline GaussianPrior gaussian_prior(double prior_sigma) {
  return {1.0 / (prior_sigma * prior_sigma), ::log(prior_sigma) - 0.5};
}

// log sigma for sigma = softplus(rho), given both: log(sigma), the same bits as
// log_softplus_of(rho) (kernels/elementwise_math.h) when sigma is softplus_of(rho). Below
// rho = -20 sigma underflows towards 0 (to exactly 0 in float32 below -104), so log sigma
// is taken there as rho - e^rho / 2, finite where log(sigma) is not.
template <class T>
R2G2_HOST_DEVICE inline T log_sigma_of_rho(T rho, T sigma) {
  return rho > T(-20) ? ::log(sigma) : rho - ::exp(rho) / T(2);
}

// One element's KL without the constant: (sigma^2 + mu^2) / (2 p^2) - log sigma, in
// double so that a float32 sum of millions of terms keeps its digits. S = rho reads rho
// only to take log sigma safely.
template <GaussianScale S, class T>
R2G2_HOST_DEVICE inline double gaussian_kl_term(T mu, T sigma, T rho, double inv_p2) {
  const T log_sigma = S == GaussianScale::rho ? log_sigma_of_rho(rho, sigma) : ::log(sigma);
  const double s = static_cast<double>(sigma), m = static_cast<double>(mu);
  return 0.5 * inv_p2 * (s * s + m * m) - static_cast<double>(log_sigma);
}

// g dKL/dmu = (g / p^2) mu, with g_inv_p2 = g / p^2.
template <class T>
R2G2_HOST_DEVICE inline T gaussian_kl_grad_mu(T mu, T g_inv_p2) {
  return g_inv_p2 * mu;
}

// g dKL/d(scale): for sigma, g (sigma / p^2 - 1 / sigma); for rho, the same times
// sigmoid(rho), written as (g / p^2) sigma sigmoid(rho) - g sigmoid(rho) / sigma so that it
// stays finite (-> -g) where sigma underflows: sigmoid(rho) / sigma tends to 1 - e^rho / 2
// below rho = -20. sigmoid(rho) takes the same bits as sigmoid_of (kernels/elementwise_math.h).
template <GaussianScale S, class T>
R2G2_HOST_DEVICE inline T gaussian_kl_grad_scale(T sigma, T rho, T g, T g_inv_p2) {
  if constexpr (S == GaussianScale::rho) {
    const T e = ::exp(-::fabs(rho));  // e^rho for rho < 0
    const T sigmoid = rho >= T(0) ? T(1) / (T(1) + e) : e / (T(1) + e);
    const T sigmoid_over_sigma = rho > T(-20) ? sigmoid / sigma : T(1) - e / T(2);
    return g_inv_p2 * sigma * sigmoid - g * sigmoid_over_sigma;
  } else {
    return g_inv_p2 * sigma - g / sigma;
  }
}

// The rho case given sigmoid(rho) (as softplus_and_sigmoid computes it): the same bits,
// with the exponential left to the underflow tail.
template <class T>
R2G2_HOST_DEVICE inline T gaussian_kl_grad_rho_given_slope(T sigma, T rho, T sigmoid, T g, T g_inv_p2) {
  const T sigmoid_over_sigma = rho > T(-20) ? sigmoid / sigma : T(1) - ::exp(rho) / T(2);
  return g_inv_p2 * sigma * sigmoid - g * sigmoid_over_sigma;
}

// a * b rounded once, never contracted into a fused multiply-add by nvcc: a draw
// mu + sigma * eps then has the same bits on the CPU and the GPU.
template <class T>
R2G2_HOST_DEVICE inline T product_rn(T a, T b) {
#if defined(__CUDA_ARCH__)
  if constexpr (std::is_same_v<T, float>)
    return __fmul_rn(a, b);
  else
    return __dmul_rn(a, b);
#else
  return a * b;
#endif
}

// softplus(rho) and sigmoid(rho) sharing e = e^-|rho|: softplus_of takes log1p of that e,
// and sigmoid_of's e^-rho (rho >= 0) or e^rho (rho < 0) is that e too, so both keep
// their bits.
template <class T>
R2G2_HOST_DEVICE inline void softplus_and_sigmoid(T rho, T& softplus, T& sigmoid) {
  const T e = ::exp(-::fabs(rho));
  softplus = (rho > T(0) ? rho : T(0)) + ::log1p(e);
  sigmoid = rho >= T(0) ? T(1) / (T(1) + e) : e / (T(1) + e);
}

template <class T>
R2G2_HOST_DEVICE inline T gaussian_draw(T mu, T sigma, T eps) {
  return mu + product_rn(sigma, eps);
}

}  // namespace r2g2::kernels
