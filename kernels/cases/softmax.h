#pragma once
// Cases of the softmax and loss family (kernels/{cpu,cuda}/softmax.h); see sizes.h.
#include <cstdint>
#include <utility>
#include <vector>

#include "r2g2/kernels/cases/sizes.h"

namespace r2g2::kernels::cases {

using RowShape = std::pair<int64_t, int64_t>;  // {rows, cols}

// log_softmax shapes: every awkward row length, nine rows when a row fits a warp (more
// than one block of eight warps; `short_row` is the longest such row), else five; a full
// warp row (1024); no rows; empty rows.
inline std::vector<RowShape> test_softmax_shapes(int64_t short_row) {
  std::vector<RowShape> shapes;
  for (int64_t cols : awkward_sizes()) shapes.emplace_back(cols <= short_row ? 9 : 5, cols);
  shapes.emplace_back(9, 1024);
  shapes.emplace_back(0, 3);
  shapes.emplace_back(3, 0);
  return shapes;
}

// cross_entropy shapes: no rows, one element, a warp's worth either side, long rows.
inline const std::vector<RowShape>& test_cross_entropy_shapes() {
  static const std::vector<RowShape> shapes{{0, 5},    {1, 1},    {31, 33}, {32, 2},
                                            {33, 257}, {257, 31}, {3, 1025}};
  return shapes;
}

// Timed shapes: one element, odd, a classifier head (10 and 1000 classes), `large` elements.
inline std::vector<RowShape> perf_row_shapes(int64_t large) {
  return {{1, 1}, {3, 257}, {1000, 10}, {4096, 1000}, {large / 1024 > 0 ? large / 1024 : 1, 1024}};
}

}  // namespace r2g2::kernels::cases
