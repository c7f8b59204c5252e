#pragma once
// Cases of the reduction family (kernels/{cpu,cuda}/reduce.h); see sizes.h.
#include <cstdint>
#include <vector>

#include "r2g2/kernels/cases/sizes.h"

namespace r2g2::kernels::cases {

// Row lengths of the sum over rows (inner == 1): empty, the awkward sizes (one warp per row
// up to 1024, one block beyond), 8192 (the longest single-pass row) and 8193 (two passes).
inline std::vector<int64_t> test_row_lengths() {
  auto r = with_empty(awkward_sizes());
  r.push_back(8192);
  r.push_back(8193);
  return r;
}

// Row lengths of reduce_max: the scan (<= 64), warp-row and block-row paths, and past a chunk.
inline const std::vector<int64_t>& test_max_row_lengths() {
  static const std::vector<int64_t> r{1, 31, 32, 33, 64, 65, 255, 256, 257, 1024, 1025, 8193};
  return r;
}

// A reduction of x [outer, r, inner] over its middle axis.
struct ReduceShape {
  int64_t outer, r, inner;
  const char* what;  // which layout it times
};

inline std::vector<ReduceShape> perf_sum_shapes(int64_t large) {
  return {{1, 1, 1, "all"},
          {1, 257, 1, "all"},
          {1, 1000003, 1, "all"},
          {1, large, 1, "all"},
          {large / 1024 > 0 ? large / 1024 : 1, 1024, 1, "rows"},
          {1, 1024, large / 1024 > 0 ? large / 1024 : 1, "cols"},
          {7, 1001, 3, "middle axis"}};
}

}  // namespace r2g2::kernels::cases
