// Sizes past 2^31 elements: grid-stride loops, offsets and reductions in 64-bit. These
// need ~40 GB of device memory (an H200 has 139 GB) and are skipped under the sanitizer.
#include <doctest/doctest.h>

#include <vector>

#include "gpu_test_util.h"

#if R2G2_WITH_CUDA
#include <cuda_runtime.h>

#include "r2g2/core/cuda/allocator.h"

using namespace r2g2;

namespace {
bool enough_memory(size_t bytes) {
  size_t free_bytes = 0, total = 0;
  if (cudaMemGetInfo(&free_bytes, &total) != cudaSuccess) {
    cudaGetLastError();
    return false;
  }
  return free_bytes > bytes;
}
}  // namespace

TEST_CASE("slow: 64-bit sizes: fill, broadcast add, sum and gather past 2^31 elements") {
  R2G2_REQUIRE_CUDA();
  if (r2g2::test::under_sanitizer()) return;
  const int64_t n = (int64_t{1} << 31) + 5;
  if (!enough_memory(static_cast<size_t>(n) * 8 * 2 + (size_t{1} << 30))) {
    MESSAGE("skipped: less than 36 GB of free device memory");
    return;
  }
  {
    // float64 so that the sums are exact integers.
    Tensor ones = Tensor::ones({n}, DType::f64, Device::cuda());
    CHECK(sum(ones).item() == static_cast<double>(n));
    Tensor three = add(ones, Tensor::full({1}, 2.0, DType::f64, Device::cuda()));
    ones = Tensor();
    CHECK(sum(three).item() == 3.0 * static_cast<double>(n));
    // The last element, read back through a slice, was written by the grid-stride loop.
    CHECK(three.slice(0, n - 1, n).item() == 3.0);
  }
  {
    // Row gather where row * row_len passes 2^31: the last row differs from the rest.
    const int64_t rows = 270000, width = 8192;  // 2.2e9 floats
    Tensor x = Tensor::full({rows, width}, 1.0, DType::f32, Device::cuda());
    x.slice(0, rows - 1, rows).copy_(Tensor::full({1, width}, 5.0, DType::f32, Device::cuda()));
    Tensor index =
        Tensor::from_vector(std::vector<int32_t>{static_cast<int32_t>(rows - 1), 0}, {2}, Device::cuda());
    auto v = sum(gather_rows(x, index), {1}).to_vector();
    CHECK(v[0] == 5.0 * width);
    CHECK(v[1] == 1.0 * width);
    // Column sums over 270000 rows (the chunked two-pass path) and row maxima.
    auto c = sum(x, {0}).to_vector();
    CHECK(c[0] == static_cast<double>(rows - 1) + 5.0);
    CHECK(c[width - 1] == static_cast<double>(rows - 1) + 5.0);
    auto m = argmax(x, 0).to_int_vector();
    CHECK(m[0] == rows - 1);
    CHECK(m[width - 1] == rows - 1);
  }
  cuda_backend::empty_cache();  // hand the ~45 GB back for the other suites
}
#endif
