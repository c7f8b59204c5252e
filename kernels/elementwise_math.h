#pragma once
// The per-element formulas of the unary and binary ops, shared by kernels/cpu/elementwise.cpp
// and kernels/cuda/elementwise_kernels.cuh (and the losses), plus the switch that turns a
// runtime op into a compile-time one. exp, log, log1p, sqrt and tanh are the global
// float/double overloads of <math.h>: on the host they are std::'s, on the device CUDA's.
// softplus, sigmoid and log softplus are kernels/softplus_math.h's, the same bits on both.
#include <math.h>

#include <string>
#include <type_traits>

#include "r2g2/kernels/common.h"
#include "r2g2/kernels/host_device.h"
#include "r2g2/kernels/runtime/error.h"
#include "r2g2/kernels/softplus_math.h"

namespace r2g2::kernels {

template <UnaryOp OP, class T>
R2G2_HOST_DEVICE inline T unary_value(T x) {
  if constexpr (OP == UnaryOp::neg) return -x;
  if constexpr (OP == UnaryOp::exp) return ::exp(x);
  if constexpr (OP == UnaryOp::log) return ::log(x);
  if constexpr (OP == UnaryOp::log1p) return ::log1p(x);
  if constexpr (OP == UnaryOp::sqrt) return ::sqrt(x);
  if constexpr (OP == UnaryOp::square) return x * x;
  if constexpr (OP == UnaryOp::softplus) return softplus_of(x);
  if constexpr (OP == UnaryOp::sigmoid) return sigmoid_of(x);
  if constexpr (OP == UnaryOp::tanh) return ::tanh(x);
  if constexpr (OP == UnaryOp::relu) return x > T(0) ? x : T(0);
  if constexpr (OP == UnaryOp::log_softplus) return log_softplus_of(x);
}

// Whether unary_grad reads x, and whether it reads y = f(x) (exp, sqrt, sigmoid and tanh
// reuse the output instead of recomputing it).
template <UnaryOp OP>
constexpr bool unary_grad_reads_x =
    OP == UnaryOp::log || OP == UnaryOp::log1p || OP == UnaryOp::square || OP == UnaryOp::softplus ||
    OP == UnaryOp::relu || OP == UnaryOp::log_softplus;
template <UnaryOp OP>
constexpr bool unary_grad_reads_y =
    OP == UnaryOp::exp || OP == UnaryOp::sqrt || OP == UnaryOp::sigmoid || OP == UnaryOp::tanh;

// gx = gy * f'(x), with y = f(x).
template <UnaryOp OP, class T>
R2G2_HOST_DEVICE inline T unary_grad(T x, T y, T gy) {
  if constexpr (OP == UnaryOp::neg) return -gy;
  if constexpr (OP == UnaryOp::exp) return gy * y;
  if constexpr (OP == UnaryOp::log) return gy / x;
  if constexpr (OP == UnaryOp::log1p) return gy / (T(1) + x);
  if constexpr (OP == UnaryOp::sqrt) return gy / (T(2) * y);
  if constexpr (OP == UnaryOp::square) return gy * T(2) * x;
  if constexpr (OP == UnaryOp::softplus) return gy * sigmoid_of(x);
  if constexpr (OP == UnaryOp::sigmoid) return gy * y * (T(1) - y);
  if constexpr (OP == UnaryOp::tanh) return gy * (T(1) - y * y);
  if constexpr (OP == UnaryOp::relu) return x > T(0) ? gy : T(0);
  if constexpr (OP == UnaryOp::log_softplus) return gy * log_softplus_grad(x);
}

template <BinaryOp OP, class T>
R2G2_HOST_DEVICE inline T binary_value(T a, T b) {
  if constexpr (OP == BinaryOp::add) return a + b;
  if constexpr (OP == BinaryOp::sub) return a - b;
  if constexpr (OP == BinaryOp::mul) return a * b;
  if constexpr (OP == BinaryOp::div) return a / b;
}

// Calls f(std::integral_constant<UnaryOp, op>{}) for the runtime `op` (host code), so
// that each op gets its own branch-free loop or kernel.
template <class F>
void with_unary(UnaryOp op, F&& f) {
  switch (op) {
    case UnaryOp::neg:
      return f(std::integral_constant<UnaryOp, UnaryOp::neg>{});
    case UnaryOp::exp:
      return f(std::integral_constant<UnaryOp, UnaryOp::exp>{});
    case UnaryOp::log:
      return f(std::integral_constant<UnaryOp, UnaryOp::log>{});
    case UnaryOp::log1p:
      return f(std::integral_constant<UnaryOp, UnaryOp::log1p>{});
    case UnaryOp::sqrt:
      return f(std::integral_constant<UnaryOp, UnaryOp::sqrt>{});
    case UnaryOp::square:
      return f(std::integral_constant<UnaryOp, UnaryOp::square>{});
    case UnaryOp::softplus:
      return f(std::integral_constant<UnaryOp, UnaryOp::softplus>{});
    case UnaryOp::sigmoid:
      return f(std::integral_constant<UnaryOp, UnaryOp::sigmoid>{});
    case UnaryOp::tanh:
      return f(std::integral_constant<UnaryOp, UnaryOp::tanh>{});
    case UnaryOp::relu:
      return f(std::integral_constant<UnaryOp, UnaryOp::relu>{});
    case UnaryOp::log_softplus:
      return f(std::integral_constant<UnaryOp, UnaryOp::log_softplus>{});
  }
  throw Error("unary: unknown op " + std::to_string(static_cast<int>(op)));
}

template <class F>
void with_binary(BinaryOp op, F&& f) {
  switch (op) {
    case BinaryOp::add:
      return f(std::integral_constant<BinaryOp, BinaryOp::add>{});
    case BinaryOp::sub:
      return f(std::integral_constant<BinaryOp, BinaryOp::sub>{});
    case BinaryOp::mul:
      return f(std::integral_constant<BinaryOp, BinaryOp::mul>{});
    case BinaryOp::div:
      return f(std::integral_constant<BinaryOp, BinaryOp::div>{});
  }
  throw Error("binary: unknown op " + std::to_string(static_cast<int>(op)));
}

}  // namespace r2g2::kernels
