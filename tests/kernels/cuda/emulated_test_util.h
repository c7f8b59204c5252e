#pragma once
// Helpers for the suites that run kernels/cuda under the host emulator and compare each
// kernel with its CPU reference (kernels/cpu).
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "emulator/cuda_emulator.h"
#include "r2g2/kernels/cases/sizes.h"
#include "test_util.h"

namespace r2g2::test::emulated {

// The sizes on either side of the warp, block and tile boundaries, from the case tables
// that the kernel lab shares (kernels/cases/sizes.h).
using r2g2::kernels::cases::awkward_sizes;
using r2g2::kernels::cases::with_empty;

// Restores the emulated device however a test case ends.
struct FreshDevice {
  FreshDevice() { r2g2_emu::reset_device(); }
  ~FreshDevice() { r2g2_emu::reset_device(); }
};

// Deterministic values in [lo, hi) from the shared xorshift stream, salted per suite.
template <class T>
std::vector<T> values(size_t n, uint64_t seed, double lo = -1.0, double hi = 1.0) {
  return uniform_values<T>(n, seed, lo, hi, 11);
}

// |a - b| <= abs + rel * |b| elementwise, NaN matching NaN; reports the first mismatch.
template <class T>
void check_close(const std::vector<T>& got, const std::vector<T>& want, double rel, double abs = 0.0) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    const double g = static_cast<double>(got[i]), w = static_cast<double>(want[i]);
    if (std::isnan(w) && std::isnan(g)) continue;
    if (g == w) continue;
    if (!(std::fabs(g - w) <= abs + rel * std::fabs(w))) {
      CAPTURE(i);
      CAPTURE(g);
      CAPTURE(w);
      FAIL_CHECK("emulated kernel differs from the CPU reference");
      return;
    }
  }
}

// Runs `call` with every block's threads in ascending order, then in descending order, and
// returns both results: a result that depends on thread order differs between the two.
template <class Call>
auto in_both_thread_orders(Call call) {
  struct Restore {
    ~Restore() { r2g2_emu::set_thread_order(r2g2_emu::ThreadOrder::alternate); }
  } restore;
  r2g2_emu::set_thread_order(r2g2_emu::ThreadOrder::ascending);
  auto first = call();
  r2g2_emu::set_thread_order(r2g2_emu::ThreadOrder::descending);
  auto second = call();
  return std::pair{std::move(first), std::move(second)};
}

template <class T>
void check_equal(const std::vector<T>& got, const std::vector<T>& want) {
  check_close(got, want, 0.0, 0.0);
}

}  // namespace r2g2::test::emulated
