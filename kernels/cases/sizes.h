#pragma once
// The case tables (kernels/cases/<family>.h) say which sizes, shapes, dtypes and ops each
// kernel family is run at, once for everyone: the emulated tests (tests/kernels/cuda) and
// the GPU tests (tests/gpu) walk the test cases, the kernel lab (`r2g2 bench kernels`,
// tools/bench_<family>.cpp) walks the perf cases. Header-only, depending on kernels/ headers
// only, so that a test linking no library can include them.
//   test: small and awkward, on either side of every warp, block and tile boundary.
//   perf: sizes worth timing; `large` (elements) scales the biggest of them.
#include <cstdint>
#include <vector>

namespace r2g2::kernels::cases {

// On either side of the warp (32), the block (256) and typical tile boundaries, plus 1;
// empty (0) is added where it is legal (with_empty).
inline const std::vector<int64_t>& awkward_sizes() {
  static const std::vector<int64_t> sizes{1, 31, 32, 33, 255, 256, 257, 1025};
  return sizes;
}

// awkward_sizes() led by 0.
inline std::vector<int64_t> with_empty(std::vector<int64_t> sizes) {
  sizes.insert(sizes.begin(), 0);
  return sizes;
}

// Flat (1-d) timing sizes: one element (launch overhead), odd and not a multiple of 256,
// one past a million, and `large` (bandwidth-bound).
inline std::vector<int64_t> perf_sizes(int64_t large) { return {1, 257, 100003, 1000003, large}; }

}  // namespace r2g2::kernels::cases
