#pragma once
// softplus, sigmoid and log softplus of one element, shared by the unary ops
// (kernels/elementwise_math.h), the fused Gaussian kernels (kernels/gaussian_math.h), the
// losses, their CPU SIMD copies and the CUDA kernels. float takes r2g2's own exp / log /
// log1p (kernels/fast_math.h), so that every device and every SIMD width gives the same
// bits; double takes the <math.h> overloads (std::'s on the host, CUDA's on the device),
// and its CPU loops stay scalar. Values the selects below choose between are computed
// unconditionally where they are cheap, so that a float loop over them has no branch.
#include <math.h>

#include <type_traits>

#include "r2g2/kernels/fast_math.h"
#include "r2g2/kernels/host_device.h"

namespace r2g2::kernels {

template <class T>
R2G2_HOST_DEVICE R2G2_FAST_MATH_INLINE T exp_of(T x) {
  if constexpr (std::is_same_v<T, float>)
    return fast_expf(x);
  else
    return ::exp(x);
}

template <class T>
R2G2_HOST_DEVICE R2G2_FAST_MATH_INLINE T log_of(T x) {
  if constexpr (std::is_same_v<T, float>)
    return fast_logf(x);
  else
    return ::log(x);
}

// ln(1 + x) for x in [0, 1].
template <class T>
R2G2_HOST_DEVICE R2G2_FAST_MATH_INLINE T log1p_unit_of(T x) {
  if constexpr (std::is_same_v<T, float>)
    return fast_log1pf_unit(x);
  else
    return ::log1p(x);
}

// log(1 + e^x) = max(x, 0) + log1p(e^-|x|), given e = e^-|x|: no overflow for large x,
// exact for very negative x.
template <class T>
R2G2_HOST_DEVICE R2G2_FAST_MATH_INLINE T softplus_given_exp(T x, T e) {
  return select_of(x > T(0), x, T(0)) + log1p_unit_of(e);
}

// sigmoid(x) = 1 / (1 + e^-x) for x >= 0 and e^x / (1 + e^x) below, given e = e^-|x|.
template <class T>
R2G2_HOST_DEVICE R2G2_FAST_MATH_INLINE T sigmoid_given_exp(T x, T e) {
  return select_of(x >= T(0), T(1), e) / (T(1) + e);
}

template <class T>
R2G2_HOST_DEVICE R2G2_FAST_MATH_INLINE T softplus_of(T x) {
  return softplus_given_exp(x, exp_of(-::fabs(x)));
}

template <class T>
R2G2_HOST_DEVICE R2G2_FAST_MATH_INLINE T sigmoid_of(T x) {
  return sigmoid_given_exp(x, exp_of(-::fabs(x)));
}

// softplus(x) and sigmoid(x) sharing one exponential: the same bits as softplus_of and
// sigmoid_of.
template <class T>
R2G2_HOST_DEVICE R2G2_FAST_MATH_INLINE void softplus_and_sigmoid(T x, T& softplus, T& sigmoid) {
  const T e = exp_of(-::fabs(x));
  softplus = softplus_given_exp(x, e);
  sigmoid = sigmoid_given_exp(x, e);
}

// Below x = -20 softplus(x) = e^x (1 - e^x / 2 + ...) underflows towards 0 (to exactly 0 in
// float below -104), so log softplus(x) is taken there as x - e^x / 2, to double precision:
// x <= -20 ? x - e^x / 2 : value. In float e^x / 2 < 2^-29 is below half an ulp of x
// (|x| >= 16 has ulps of 2^-19 and up), so the difference rounds to x itself, which is
// what the float case takes, without an exponential.
template <class T>
R2G2_HOST_DEVICE R2G2_FAST_MATH_INLINE T log_softplus_tail_or(T x, T value) {
  if constexpr (std::is_same_v<T, float>)
    return select_of(x <= T(-20), x, value);
  else
    return x <= T(-20) ? x - ::exp(x) / T(2) : value;
}

// The same for sigmoid(x) / softplus(x): x <= -20 ? 1 - e^x / 2 : value, which is 1 in
// float there (e^x / 2 is below a quarter ulp of 1).
template <class T>
R2G2_HOST_DEVICE R2G2_FAST_MATH_INLINE T sigmoid_over_softplus_tail_or(T x, T value) {
  if constexpr (std::is_same_v<T, float>)
    return select_of(x <= T(-20), T(1), value);
  else
    return x <= T(-20) ? T(1) - ::exp(x) / T(2) : value;
}

// log(softplus(x)), finite where softplus itself underflows (NaN stays NaN).
template <class T>
R2G2_HOST_DEVICE R2G2_FAST_MATH_INLINE T log_softplus_of(T x) {
  const T log_of_softplus = log_of(softplus_of(x));
  return log_softplus_tail_or(x, log_of_softplus);
}

// d/dx log softplus(x) = sigmoid(x) / softplus(x).
template <class T>
R2G2_HOST_DEVICE R2G2_FAST_MATH_INLINE T log_softplus_grad(T x) {
  T softplus, sigmoid;
  softplus_and_sigmoid(x, softplus, sigmoid);
  const T ratio = sigmoid / softplus;
  return sigmoid_over_softplus_tail_or(x, ratio);
}

}  // namespace r2g2::kernels
