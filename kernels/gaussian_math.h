#pragma once
// Per-element math of the fused mean-field Gaussian kernels (kernels/gaussian.inc), shared
// by kernels/cpu/gaussian.cpp and kernels/cuda/gaussian_kernels.cuh: the KL of one element
// of N(mu, sigma^2) to N(0, p^2), its gradient, one weight draw mu + sigma * eps, and
// sigma = softplus(rho) with its slope (softplus_and_sigmoid, kernels/softplus_math.h).
#include <math.h>

#include <cstdint>
#include <type_traits>

#include "r2g2/kernels/host_device.h"
#include "r2g2/kernels/softplus_math.h"

namespace r2g2::kernels {

// How a Gaussian's scale is given: sigma itself, or rho with sigma = softplus(rho).
enum class GaussianScale { sigma, rho };

// Terms per partial sum of the CPU KL: fixed, so that the order of its additions depends
// on the element count alone, never on the thread count.
constexpr int64_t kGaussianKlChunk = 4096;

// Within a chunk the CPU adds term i to lane i % kGaussianKlLanes, in order, and the lanes
// as gaussian_kl_lane_total does: independent lanes let the vector registers add several
// terms at once, and every SIMD width (kernels/cpu/simd.h) then adds in the same order.
constexpr int kGaussianKlLanes = 8;
inline double gaussian_kl_lane_total(const double (&lane)[kGaussianKlLanes]) {
  return ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
}

// The KL's constants for prior N(0, p^2): 1/p^2, and the per-element constant
// log p - 1/2 that the kernels add once, as n (log p - 1/2), after the sum.
struct GaussianPrior {
  double inv_p2;
  double per_element;
};
inline GaussianPrior gaussian_prior(double prior_sigma) {
  return {1.0 / (prior_sigma * prior_sigma), ::log(prior_sigma) - 0.5};
}

// a * b rounded once, never contracted into a fused multiply-add by nvcc: a draw
// mu + sigma * eps, a KL term and a KL gradient then have the same bits on the CPU and the
// GPU.
template <class T>
R2G2_HOST_DEVICE R2G2_FAST_MATH_INLINE T product_rn(T a, T b) {
#if defined(__CUDA_ARCH__)
  if constexpr (std::is_same_v<T, float>)
    return __fmul_rn(a, b);
  else
    return __dmul_rn(a, b);
#else
  return a * b;
#endif
}

// log sigma for sigma = softplus(rho), given both: log(sigma), the same bits as
// log_softplus_of(rho) (kernels/softplus_math.h) when sigma is softplus_of(rho). Below
// rho = -20 sigma underflows towards 0 (to exactly 0 in float32 below -104), so log sigma
// is taken there as rho - e^rho / 2, finite where log(sigma) is not.
template <class T>
R2G2_HOST_DEVICE R2G2_FAST_MATH_INLINE T log_sigma_of_rho(T rho, T sigma) {
  const T log_sigma = log_of(sigma);
  return log_softplus_tail_or(rho, log_sigma);
}

// One element's KL without the constant: (sigma^2 + mu^2) / (2 p^2) - log sigma, in
// double so that a float32 sum of millions of terms keeps its digits. S = rho reads rho
// only to take log sigma safely.
template <GaussianScale S, class T>
R2G2_HOST_DEVICE R2G2_FAST_MATH_INLINE double gaussian_kl_term(T mu, T sigma, T rho, double inv_p2) {
  const T log_sigma = S == GaussianScale::rho ? log_sigma_of_rho(rho, sigma) : log_of(sigma);
  const double s = static_cast<double>(sigma), m = static_cast<double>(mu);
  return product_rn(0.5 * inv_p2, product_rn(s, s) + product_rn(m, m)) - static_cast<double>(log_sigma);
}

// g dKL/dmu = (g / p^2) mu, with g_inv_p2 = g / p^2.
template <class T>
R2G2_HOST_DEVICE R2G2_FAST_MATH_INLINE T gaussian_kl_grad_mu(T mu, T g_inv_p2) {
  return g_inv_p2 * mu;
}

// The rho case of the scale gradient given sigmoid(rho) (as softplus_and_slope writes it):
// (g / p^2) sigma sigmoid(rho) - g sigmoid(rho) / sigma, with sigmoid(rho) / sigma taken
// as 1 - e^rho / 2 below rho = -20, so that it stays finite (-> -g) where sigma underflows.
template <class T>
R2G2_HOST_DEVICE R2G2_FAST_MATH_INLINE T gaussian_kl_grad_rho_given_slope(T sigma, T rho, T sigmoid, T g,
                                                                          T g_inv_p2) {
  const T ratio = sigmoid / sigma;
  const T sigmoid_over_sigma = sigmoid_over_softplus_tail_or(rho, ratio);
  return product_rn(product_rn(g_inv_p2, sigma), sigmoid) - product_rn(g, sigmoid_over_sigma);
}

// g dKL/d(scale): for sigma, g (sigma / p^2 - 1 / sigma); for rho, the same times
// sigmoid(rho), as above with sigmoid(rho) computed here: the same bits as sigmoid_of.
template <GaussianScale S, class T>
R2G2_HOST_DEVICE R2G2_FAST_MATH_INLINE T gaussian_kl_grad_scale(T sigma, T rho, T g, T g_inv_p2) {
  if constexpr (S == GaussianScale::rho) {
    return gaussian_kl_grad_rho_given_slope(sigma, rho, sigmoid_of(rho), g, g_inv_p2);
  } else {
    return product_rn(g_inv_p2, sigma) - g / sigma;
  }
}

template <class T>
R2G2_HOST_DEVICE R2G2_FAST_MATH_INLINE T gaussian_draw(T mu, T sigma, T eps) {
  return mu + product_rn(sigma, eps);
}

}  // namespace r2g2::kernels
