#pragma once
// The per-element pieces of the fused losses, shared by kernels/cpu/softmax.cpp and
// kernels/cuda/softmax_kernels.cuh (see kernels/elementwise_math.h for the conventions).
#include <math.h>

#include "r2g2/kernels/elementwise_math.h"
#include "r2g2/kernels/host_device.h"

namespace r2g2::kernels {

// -[t log s(x) + (1-t) log(1-s(x))] = max(x,0) - x t + log(1 + e^-|x|): finite for any x.
// In double, as both backends sum it.
R2G2_HOST_DEVICE inline double bce_term(double x, double t) {
  return (x > 0.0 ? x : 0.0) - x * t + ::log1p(::exp(-::fabs(x)));
}

// d(bce)/dx scaled: scale * (sigmoid(x) - t).
template <class T>
R2G2_HOST_DEVICE inline T bce_grad(T scale, T x, T t) {
  return scale * (sigmoid_of(x) - t);
}

// d(cross entropy)/d(logit) scaled: scale * (softmax - onehot), softmax = e^log_prob.
template <class T>
R2G2_HOST_DEVICE inline T cross_entropy_grad(T scale, T log_prob, bool is_label) {
  return scale * (::exp(log_prob) - (is_label ? T(1) : T(0)));
}

}  // namespace r2g2::kernels
