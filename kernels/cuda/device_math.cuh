#pragma once
// Device twins of the CPU reference's scalar helpers (kernels/cpu/*.cpp), written the same
// way so that both devices agree to the last few ulps. The float overloads of exp, log1p
// and friends resolve to the CUDA single-precision functions (under the host emulator, to
// the host libm's, so there the twins agree exactly).
#include "r2g2/kernels/cuda/cuda_api.h"

namespace r2g2::kernels::cuda {

// log(1 + e^x) = max(x, 0) + log1p(e^-|x|): no overflow for large x, exact for very negative x.
template <class T>
__device__ __forceinline__ T softplus_of(T x) {
  return (x > T(0) ? x : T(0)) + log1p(exp(-fabs(x)));
}

template <class T>
__device__ __forceinline__ T sigmoid_of(T x) {
  if (x >= T(0)) return T(1) / (T(1) + exp(-x));
  T e = exp(x);
  return e / (T(1) + e);
}

// log(softplus(x)), finite where softplus underflows (the CPU reference's form).
template <class T>
__device__ __forceinline__ T log_softplus_of(T x) {
  return x > T(-20) ? log(softplus_of(x)) : x - exp(x) / T(2);
}

template <class T>
__device__ __forceinline__ T log_softplus_grad(T x) {
  return x > T(-20) ? sigmoid_of(x) / softplus_of(x) : T(1) - exp(x) / T(2);
}

}  // namespace r2g2::kernels::cuda
