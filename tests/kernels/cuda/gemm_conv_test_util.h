#pragma once
// Helpers of the emulated gemm / gemm_blocked / conv suites (test_gemm*.cpp, test_conv.cpp).
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "emulator/cuda_emulator.h"
#include "kernels/cuda/emulated_test_util.h"

namespace r2g2::test::emulated {

// Emulated device memory holding a copy of a host vector. Unlike a std::vector's storage
// it is 256-byte aligned, as cudaMalloc's is, so the vectorised paths can be reached, and
// sized exactly, so AddressSanitizer sees an access past the end.
template <class T>
class DeviceVector {
 public:
  explicit DeviceVector(const std::vector<T>& host) : n_(host.size()) {
    REQUIRE(cudaMalloc(&p_, bytes()) == cudaSuccess);
    if (n_) REQUIRE(cudaMemcpy(p_, host.data(), bytes(), cudaMemcpyHostToDevice) == cudaSuccess);
  }
  ~DeviceVector() { cudaFree(p_); }
  DeviceVector(const DeviceVector&) = delete;
  DeviceVector& operator=(const DeviceVector&) = delete;
  T* get() const { return p_; }
  std::vector<T> host() const {
    std::vector<T> v(n_);
    if (n_) REQUIRE(cudaMemcpy(v.data(), p_, bytes(), cudaMemcpyDeviceToHost) == cudaSuccess);
    return v;
  }

 private:
  size_t bytes() const { return n_ * sizeof(T); }
  size_t n_;
  T* p_ = nullptr;
};

// Bitwise equal as values (+0 == -0), NaN matching NaN; reports the first difference.
template <class T>
bool same_values(const std::vector<T>& got, const std::vector<T>& want) {
  if (got.size() != want.size()) return false;
  for (size_t i = 0; i < got.size(); ++i)
    if (!(got[i] == want[i] || (std::isnan(got[i]) && std::isnan(want[i])))) {
      MESSAGE("first difference at " << i << ": " << got[i] << " vs " << want[i]);
      return false;
    }
  return true;
}

}  // namespace r2g2::test::emulated
