#pragma once
// The m-space problem of an R2-G2 conv solve, shared by the emulated suites of
// kernels/cuda/r2g2_conv.cu and kernels/cuda/r2g2_conv_direct.cu.
#include <cstdint>
#include <vector>

#include "r2g2/kernels/common.h"

namespace r2g2::test::emulated {

template <class T>
struct ConvSolveProblem {
  int64_t n = 0, o = 0, d = 0, p = 0;
  std::vector<T> cols, sigma, eps;  // [N, D, P], [O, D], [O, D]
  kernels::ConvGeom geom() const { return kernels::im2col_matrices_geom(n, o, d, p); }
  int64_t systems() const { return n * o; }
  T& x(int64_t image, int64_t row, int64_t q) { return cols[(image * d + row) * p + q]; }
  // A dead ReLU position: column q of X_n is zero.
  void kill_position(int64_t image, int64_t q) {
    for (int64_t r = 0; r < d; ++r) x(image, r, q) = T(0);
  }
};

}  // namespace r2g2::test::emulated
