#pragma once
// Cases of the elementwise family (kernels/{cpu,cuda}/elementwise.h); see sizes.h.
#include <cstdint>
#include <utility>
#include <vector>

#include "r2g2/kernels/cases/sizes.h"
#include "r2g2/kernels/common.h"

namespace r2g2::kernels::cases {

struct UnaryCase {
  UnaryOp op;
  const char* name;
  double lo, hi;  // a timing input range inside the op's domain
};

// Every unary op.
inline const std::vector<UnaryCase>& unary_ops() {
  static const std::vector<UnaryCase> ops{{UnaryOp::neg, "neg", -3, 3},
                                          {UnaryOp::exp, "exp", -3, 3},
                                          {UnaryOp::log, "log", 0.05, 3},
                                          {UnaryOp::log1p, "log1p", -0.9, 3},
                                          {UnaryOp::sqrt, "sqrt", 0.05, 3},
                                          {UnaryOp::square, "square", -3, 3},
                                          {UnaryOp::softplus, "softplus", -12, 12},
                                          {UnaryOp::sigmoid, "sigmoid", -8, 8},
                                          {UnaryOp::tanh, "tanh", -4, 4},
                                          {UnaryOp::relu, "relu", -3, 3},
                                          {UnaryOp::log_softplus, "log_softplus", -30, 8}};
  return ops;
}

// The unary ops whose backward is timed (each reads x, y and gy alike, so two stand for all).
inline bool perf_unary_backward(UnaryOp op) { return op == UnaryOp::tanh || op == UnaryOp::relu; }

struct BinaryCase {
  BinaryOp op;
  const char* name;
};

// Every binary op.
inline const std::vector<BinaryCase>& binary_ops() {
  static const std::vector<BinaryCase> ops{
      {BinaryOp::add, "add"}, {BinaryOp::sub, "sub"}, {BinaryOp::mul, "mul"}, {BinaryOp::div, "div"}};
  return ops;
}

// [rows, cols] + bias [cols] shapes timed as a broadcast: a small one and one of `large` elements.
inline std::vector<std::pair<int64_t, int64_t>> perf_bias_shapes(int64_t large) {
  const int64_t cols = 1024;
  return {{3, 257}, {large / cols > 0 ? large / cols : 1, cols}};
}

// Row counts of the 2-d copy tests: one, a few, one past a warp (columns: awkward_sizes()).
inline const std::vector<int64_t>& test_row_counts() {
  static const std::vector<int64_t> rows{1, 3, 33};
  return rows;
}

}  // namespace r2g2::kernels::cases
