#pragma once
// Cases of the GEMM family (kernels/{cpu,cuda}/gemm.h, cuBLAS and gemm_blocked); see sizes.h.
#include <cstdint>
#include <vector>

#include "r2g2/kernels/cases/sizes.h"

namespace r2g2::kernels::cases {

struct GemmSize {
  int64_t m, n, k;
};

// Non-square throughout, so that a swapped m and n or a wrong transpose cannot cancel out.
inline const std::vector<GemmSize>& test_gemm_sizes() {
  static const std::vector<GemmSize> sizes{{1, 1, 1},      {7, 5, 3},   {33, 65, 17},
                                           {130, 67, 131}, {5, 300, 9}, {257, 1, 31}};
  return sizes;
}

struct GemmCase {
  int64_t m, n, k;
  bool ta, tb;
  bool check_on_cpu;  // else against cuBLAS on the device (a big CPU product is slow)
};

// Timed products: odd, an MLP layer (128 x 784 -> 1024), 1000^3 with either transpose, and
// big^3 square and not (big: the lab's --gemm). float64 times fewer.
inline std::vector<GemmCase> perf_gemm_cases(int64_t big, bool f64) {
  if (f64)
    return {{127, 129, 131, false, false, true},
            {128, 1024, 784, false, false, true},
            {big / 2, big / 2, big / 2, false, false, false}};
  return {{1, 1, 1, false, false, true},
          {127, 129, 131, false, false, true},
          {128, 1024, 784, false, false, true},
          {1000, 1000, 1000, true, false, true},
          {1000, 1000, 1000, false, true, true},
          {big, big, big, false, false, false},
          {big - 1, big + 1, big - 3, false, false, false}};
}

}  // namespace r2g2::kernels::cases
