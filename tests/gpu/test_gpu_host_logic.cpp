// Host-side logic of the CUDA backend that needs no device: the allocator's size classes
// and opening cuBLAS (the launch geometry's host logic is tested in
// tests/kernels/test_strided.cpp). These run (and must pass) on every machine with the CUDA
// backend; the rest of the GPU suite skips itself without a device.
#include <doctest/doctest.h>

#include <cstdint>
#include <string>

#include "test_util.h"

#if R2G2_WITH_CUDA
#include "r2g2/core/cuda/allocator.h"
#include "r2g2/kernels/cuda/cublas_library.h"
#endif

using namespace r2g2;

#if R2G2_WITH_CUDA
TEST_CASE("allocator size classes") {
  using r2g2::cuda_backend::allocator_round_size;
  CHECK(allocator_round_size(0) == 512);
  CHECK(allocator_round_size(1) == 512);
  CHECK(allocator_round_size(512) == 512);
  CHECK(allocator_round_size(513) == 1024);
  CHECK(allocator_round_size(size_t{1} << 20) == (size_t{1} << 20));
  // above 1 MiB: four classes per octave
  CHECK(allocator_round_size((size_t{1} << 20) + 1) == (size_t{5} << 18));
  CHECK(allocator_round_size(size_t{3} << 20) == (size_t{3} << 20));
  CHECK(allocator_round_size((size_t{3} << 20) + 1) == (size_t{7} << 19));
  CHECK(allocator_round_size((size_t{7} << 19) + 1) == (size_t{1} << 22));
  for (size_t b : {size_t{1}, size_t{700}, size_t{123457}, size_t{1} << 20, (size_t{1} << 20) + 3,
                   size_t{5000000}, size_t{1} << 33, (size_t{1} << 33) + 1}) {
    size_t r = allocator_round_size(b);
    CHECK(r >= b);
    CHECK(r <= b + b / 4 + 512);          // at most 25% slack (or one 512-byte step)
    CHECK(allocator_round_size(r) == r);  // a class is its own class
  }
  // absurd sizes are left for cudaMalloc to refuse, not wrapped around
  CHECK(allocator_round_size(~size_t{0}) == ~size_t{0});
}
#endif

#if R2G2_WITH_CUDA
// cuBLAS is opened on first use, not linked: every function r2g2 calls must be found in
// the library the headers name, or the first CUDA GEMM would fail on a GPU machine.
TEST_CASE("cuBLAS opens at first use and binds every function r2g2 calls") {
  const auto& blas = r2g2::kernels::cuda::cublas_library();
  CHECK(static_cast<bool>(blas.create));
  CHECK(static_cast<bool>(blas.set_stream));
  CHECK(static_cast<bool>(blas.set_math_mode));
  CHECK(static_cast<bool>(blas.sgemm));
  CHECK(static_cast<bool>(blas.dgemm));
  CHECK(static_cast<bool>(blas.sgemm_strided_batched));
  CHECK(static_cast<bool>(blas.dgemm_strided_batched));
  REQUIRE(static_cast<bool>(blas.status_name));
  REQUIRE(static_cast<bool>(blas.status_string));
  CHECK(std::string(blas.status_name(CUBLAS_STATUS_INVALID_VALUE)) == "CUBLAS_STATUS_INVALID_VALUE");
  CHECK(static_cast<const void*>(&r2g2::kernels::cuda::cublas_library()) == static_cast<const void*>(&blas));
}
#endif
