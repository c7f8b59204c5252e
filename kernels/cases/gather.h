#pragma once
// Cases of the row gather / scatter-add family (kernels/{cpu,cuda}/gather.h); see sizes.h.
#include <cstdint>
#include <vector>

#include "r2g2/kernels/cases/sizes.h"

namespace r2g2::kernels::cases {

// Index counts of the tests: empty and every awkward size.
inline std::vector<int64_t> test_index_counts() { return with_empty(awkward_sizes()); }
// Row lengths of gather_rows (257: one long row, taken only with few indices).
inline const std::vector<int64_t>& test_gather_row_lengths() {
  static const std::vector<int64_t> lengths{0, 1, 5, 257};
  return lengths;
}
// Row lengths of scatter_add_rows.
inline const std::vector<int64_t>& test_scatter_row_lengths() {
  static const std::vector<int64_t> lengths{0, 1, 5};
  return lengths;
}

// n_index rows of x [rows, row_len] (indices repeat).
struct GatherShape {
  int64_t rows, row_len, n_index;
};

// One row, a tiny table, an MNIST batch from the training set, `large` elements.
inline std::vector<GatherShape> perf_gather_shapes(int64_t large) {
  const int64_t big_rows = large / 512 > 0 ? large / 512 : 1;
  return {{1, 1, 1}, {100, 3, 257}, {60000, 784, 128}, {big_rows, 512, big_rows}};
}

}  // namespace r2g2::kernels::cases
