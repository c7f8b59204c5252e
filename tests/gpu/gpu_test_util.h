#pragma once
// Shared by the GPU suites. Every GPU test case starts with R2G2_REQUIRE_CUDA(): without a
// usable device it marks the suite skipped (exit 77) and returns.
#include <doctest/doctest.h>

#include <cstdint>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "r2g2/core/cuda_backend.h"
#include "r2g2/core/device.h"
#include "test_util.h"

#define R2G2_REQUIRE_CUDA()                                                                      \
  do {                                                                                           \
    if (!::r2g2::cuda_available()) {                                                             \
      ::r2g2::test::skip_suite("no CUDA device: " + ::r2g2::cuda_backend::unavailable_reason()); \
      return;                                                                                    \
    }                                                                                            \
  } while (0)

namespace r2g2::test {

// True under compute-sanitizer (tools/gpu-check.sh sets it): cases shrink their largest sizes.
inline bool under_sanitizer() {
  const char* v = std::getenv("R2G2_UNDER_SANITIZER");
  return v && *v && std::string(v) != "0";
}

// Exact (bitwise for finite values) equality of two tensors' contents.
inline bool same_values(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.to_vector() == b.to_vector();
}

// Deterministic labels in [0, classes).
inline Tensor labels(int64_t n, int64_t classes, uint64_t seed, Device device = {}) {
  std::vector<int32_t> v(static_cast<size_t>(n));
  uint64_t s = seed * 6364136223846793005ull + 1442695040888963407ull;
  for (auto& x : v) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    x = static_cast<int32_t>((s >> 33) % static_cast<uint64_t>(classes));
  }
  return Tensor::from_vector(v, {n}, device);
}

}  // namespace r2g2::test
