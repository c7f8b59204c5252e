// kernels/cuda/reduce.cu (with sum_impl.cuh and group_reduce.cuh) under the emulator,
// against kernels/cpu/reduce.
#include "emulator/cuda_emulator.h"
#include "r2g2/kernels/cuda/reduce.cu"

#include <cstring>
#include <limits>
#include <tuple>
#include <utility>

#include "r2g2/kernels/cases/reduce.h"
#include "r2g2/kernels/cpu/reduce.h"
#include "kernels/cuda/emulated_test_util.h"

namespace {

namespace cpu = r2g2::kernels::cpu;
namespace gpu = r2g2::kernels::cuda;
namespace cases = r2g2::kernels::cases;
using namespace r2g2::test::emulated;

template <class T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

// Test data in [-1, 1) with exact zeros and large terms, so that the order of a sum
// changes its rounding (and a dropped or doubled term shows far above the bound).
template <class T>
std::vector<T> sum_input(size_t n, uint64_t seed) {
  auto x = values<T>(n, seed);
  for (size_t i = 0; i < n; i += 5) x[i] *= T(1000);
  for (size_t i = 3; i < n; i += 11) x[i] = T(0);
  return x;
}

template <class T>
struct SumCase {
  std::vector<T> got, want;
  std::vector<double> abs_sum;  // sum_j |x[o, j, i]| per output
};

template <class T>
SumCase<T> run_sum(int64_t outer, int64_t r, int64_t inner, uint64_t seed) {
  const auto n = static_cast<size_t>(outer * r * inner), outputs = static_cast<size_t>(outer * inner);
  const auto x = sum_input<T>(n, seed);
  std::vector<double> abs_x(n);
  for (size_t k = 0; k < n; ++k) abs_x[k] = std::fabs(static_cast<double>(x[k]));
  SumCase<T> c{std::vector<T>(outputs, T(-7)), std::vector<T>(outputs), std::vector<double>(outputs)};
  gpu::reduce_sum(x.data(), c.got.data(), outer, r, inner);
  cpu::reduce_sum(x.data(), c.want.data(), outer, r, inner);
  cpu::reduce_sum(abs_x.data(), c.abs_sum.data(), outer, r, inner);
  return c;
}

// Both sides sum in double, in different orders. Any order of the r - 1 additions stays
// within (r - 1) u sum|x| of the exact sum (u = eps_double / 2), so the two doubles differ
// by less than r eps_double sum|x|; each is then rounded once to T, half an ulp of T each
// (eps_T |want| for the two). The factor 2 on the first term covers the second-order terms.
template <class T>
void check_sum(const SumCase<T>& c, int64_t r) {
  REQUIRE(c.got.size() == c.want.size());
  constexpr double eps_t = std::numeric_limits<T>::epsilon(), eps_d = std::numeric_limits<double>::epsilon();
  for (size_t k = 0; k < c.got.size(); ++k) {
    const double g = c.got[k], w = c.want[k];
    const double bound = 2.0 * static_cast<double>(r) * eps_d * c.abs_sum[k] + eps_t * std::fabs(w);
    if (!(std::fabs(g - w) <= bound)) {
      CAPTURE(k);
      CAPTURE(g);
      CAPTURE(w);
      CAPTURE(bound);
      FAIL_CHECK("emulated sum differs from the CPU reference by more than the rounding bound");
      return;
    }
  }
}

TEST_CASE_TEMPLATE("reduce_sum: rows (inner == 1) on the warp, block and two-pass paths", T, float, double) {
  for (int64_t r : cases::test_row_lengths()) {
    CAPTURE(r);
    // Nine warp rows fill one block of eight warps and start a second; long rows take a
    // block each.
    const int64_t outer = r <= gpu::kShortRow ? 9 : 2;
    const int64_t warp_before = r2g2_emu::launches_of("row_sum_kernel<kWarp");
    const int64_t block_before = r2g2_emu::launches_of("row_sum_kernel<kThreads, In, Out>");
    const int64_t chunked_before = r2g2_emu::launches_of("row_sum_kernel<kThreads, In, double>");
    check_sum(run_sum<T>(outer, r, 1, 100 + r), r);
    const int64_t warp = r2g2_emu::launches_of("row_sum_kernel<kWarp") - warp_before;
    const int64_t block = r2g2_emu::launches_of("row_sum_kernel<kThreads, In, Out>") - block_before;
    const int64_t chunked = r2g2_emu::launches_of("row_sum_kernel<kThreads, In, double>") - chunked_before;
    if (r <= gpu::kShortRow) {
      CHECK((warp == 1 && block == 0 && chunked == 0));
    } else if (r <= gpu::kRowChunk) {
      CHECK((warp == 0 && block == 1 && chunked == 0));
    } else {
      CHECK((chunked == 1 && warp == 1 && block == 0));  // chunk sums, then their row sums
    }
  }
}

TEST_CASE_TEMPLATE("reduce_sum: columns (inner > 1), with and without chunking the axis", T, float, double) {
  struct Shape {
    int64_t outer, r, inner;
    bool chunked;
  };
  // Fewer than 2^16 outputs split the axis into chunks of at least 32 terms, so an axis
  // under 64 is never split. 8193 x 2 takes three passes (8193 -> 249 -> 7 -> 1 terms).
  const Shape shapes[] = {{3, 0, 5, false},    {1, 1, 31, false},  {2, 33, 3, false},
                          {3, 63, 2, false},   {2, 64, 3, true},   {2, 257, 3, true},
                          {1, 1025, 33, true}, {1, 8193, 2, true}, {3, 255, 257, true}};
  for (const Shape& s : shapes) {
    CAPTURE(s.outer);
    CAPTURE(s.r);
    CAPTURE(s.inner);
    const int64_t chunked_before = r2g2_emu::launches_of("col_sum_kernel<In, double>");
    check_sum(run_sum<T>(s.outer, s.r, s.inner, 200 + s.r), s.r);
    CHECK((r2g2_emu::launches_of("col_sum_kernel<In, double>") > chunked_before) == s.chunked);
  }
}

TEST_CASE_TEMPLATE("reduce_sum: every path gives the same bits in both thread orders", T, float, double) {
  const std::tuple<int64_t, int64_t, int64_t> shapes[] = {
      {9, 257, 1}, {2, 1025, 1}, {2, 8193, 1}, {2, 33, 3}, {1, 8193, 2}};
  for (const auto& shape : shapes) {
    const int64_t outer = std::get<0>(shape), r = std::get<1>(shape), inner = std::get<2>(shape);
    CAPTURE(r);
    CAPTURE(inner);
    const auto [first, second] = in_both_thread_orders(
        [&, outer = outer, r = r, inner = inner] { return run_sum<T>(outer, r, inner, 300).got; });
    CHECK(same_bits(first, second));
  }
}

TEST_CASE("reduce_sum: nothing to reduce launches nothing") {
  const int64_t before = r2g2_emu::launch_count();
  gpu::reduce_sum<float>(nullptr, nullptr, 0, 5, 1);
  gpu::reduce_sum<float>(nullptr, nullptr, 0, 5, 3);
  gpu::reduce_sum<double>(nullptr, nullptr, 4, 5, 0);
  CHECK(r2g2_emu::launch_count() == before);
}

// Rows that exercise the CPU's rules: values on a coarse grid (so the maximum repeats and
// the first occurrence must win, across lanes, warps and chunks), a NaN first (it sticks),
// NaNs later (never taken), all NaN, all equal, and -inf only.
template <class T>
std::vector<T> max_input(int64_t outer, int64_t r, int64_t inner, uint64_t seed) {
  const T nan = std::numeric_limits<T>::quiet_NaN(), inf = std::numeric_limits<T>::infinity();
  auto x = values<T>(static_cast<size_t>(outer * r * inner), seed);
  for (auto& v : x) v = std::round(v * T(4)) / T(4);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      auto at = [&](int64_t j) -> T& { return x[static_cast<size_t>((o * r + j) * inner + i)]; };
      const int64_t kind = (o * inner + i) % 7;
      for (int64_t j = 0; j < r; ++j) {
        if (kind == 1 && j == 0) at(j) = nan;
        if (kind == 2 && j % 3 == 1) at(j) = nan;
        if (kind == 3) at(j) = nan;
        if (kind == 4) at(j) = T(0.5);
        if (kind == 5) at(j) = -inf;
        if (kind == 6 && j % 3 == 2) at(j) = nan;  // NaN where the maximum would be
      }
      if (kind == 0 && r > 2) at(r - 1) = inf;  // the maximum at the very end
    }
  return x;
}

template <class T>
void check_max(int64_t outer, int64_t r, int64_t inner, uint64_t seed) {
  const auto x = max_input<T>(outer, r, inner, seed);
  const auto outputs = static_cast<size_t>(outer * inner);
  std::vector<T> y(outputs, T(-7)), y_ref(outputs);
  std::vector<int32_t> arg(outputs, -7), arg_ref(outputs);
  gpu::reduce_max(x.data(), y.data(), arg.data(), outer, r, inner);
  cpu::reduce_max(x.data(), y_ref.data(), arg_ref.data(), outer, r, inner);
  check_equal(arg, arg_ref);
  check_equal(y, y_ref);  // NaN must meet NaN
}

TEST_CASE_TEMPLATE("reduce_max: scan, warp-row and block-row paths keep the CPU's tie and NaN rules", T,
                   float, double) {
  for (int64_t r : cases::test_max_row_lengths()) {
    CAPTURE(r);
    const int64_t scan_before = r2g2_emu::launches_of("max_scan_kernel");
    const int64_t warp_before = r2g2_emu::launches_of("max_rows_kernel<kWarp");
    const int64_t block_before = r2g2_emu::launches_of("max_rows_kernel<kThreads");
    // Rows (inner == 1): nine of them, so that every kind of row comes up and the warp
    // path fills more than one block.
    check_max<T>(9, r, 1, 400 + r);
    const int64_t scan = r2g2_emu::launches_of("max_scan_kernel") - scan_before;
    const int64_t warp = r2g2_emu::launches_of("max_rows_kernel<kWarp") - warp_before;
    const int64_t block = r2g2_emu::launches_of("max_rows_kernel<kThreads") - block_before;
    if (r <= 64)
      CHECK((scan == 1 && warp == 0 && block == 0));
    else if (r <= gpu::kShortRow)
      CHECK((scan == 0 && warp == 1 && block == 0));
    else
      CHECK((scan == 0 && warp == 0 && block == 1));
    // Columns (inner > 1) always scan.
    if (r <= 257) {
      check_max<T>(2, r, 5, 500 + r);
      CHECK(r2g2_emu::launches_of("max_scan_kernel") == scan_before + scan + 1);
    }
  }
}

TEST_CASE_TEMPLATE("reduce_max: the result does not depend on thread order", T, float, double) {
  for (int64_t r : {257, 1025}) {
    CAPTURE(r);
    const auto x = max_input<T>(9, r, 1, 600);
    const auto [first, second] = in_both_thread_orders([&] {
      std::vector<T> y(9);
      std::vector<int32_t> arg(9);
      gpu::reduce_max(x.data(), y.data(), arg.data(), 9, r, 1);
      std::vector<T> both(y);
      for (int32_t a : arg) both.push_back(static_cast<T>(a));
      return both;
    });
    CHECK(same_bits(first, second));
  }
}

TEST_CASE("reduce_max: an empty axis throws; no outputs launch nothing") {
  const int64_t before = r2g2_emu::launch_count();
  float y = 0;
  int32_t arg = 0;
  CHECK_THROWS_WITH_AS(gpu::reduce_max<float>(nullptr, &y, &arg, 2, 0, 3),
                       "reduce_max: the reduced axis is empty (outer 2, inner 3)", r2g2::Error);
  gpu::reduce_max<float>(nullptr, nullptr, nullptr, 0, 4, 3);
  gpu::reduce_max<double>(nullptr, nullptr, nullptr, 2, 4, 0);
  gpu::reduce_max_backward<float>(nullptr, nullptr, nullptr, 0, 4, 3);
  gpu::reduce_max_backward<float>(nullptr, nullptr, nullptr, 2, 0, 3);
  CHECK(r2g2_emu::launch_count() == before);
}

TEST_CASE_TEMPLATE("reduce_max_backward: adds each gradient at its argmax, into what gx holds", T, float,
                   double) {
  const std::tuple<int64_t, int64_t, int64_t> shapes[] = {
      {1, 1, 1}, {31, 3, 1}, {1, 33, 257}, {5, 2, 51}, {1025, 2, 1}};
  for (const auto& shape : shapes) {
    const int64_t outer = std::get<0>(shape), r = std::get<1>(shape), inner = std::get<2>(shape);
    CAPTURE(outer);
    CAPTURE(r);
    CAPTURE(inner);
    const auto outputs = static_cast<size_t>(outer * inner), n = static_cast<size_t>(outer * r * inner);
    const auto x = max_input<T>(outer, r, inner, 700);
    std::vector<T> y(outputs);
    std::vector<int32_t> arg(outputs);
    cpu::reduce_max(x.data(), y.data(), arg.data(), outer, r, inner);
    const auto gy = values<T>(outputs, 701);
    auto gx = values<T>(n, 702), gx_ref = gx;  // not zero: the kernel must add, not store
    gpu::reduce_max_backward(gy.data(), arg.data(), gx.data(), outer, r, inner);
    cpu::reduce_max_backward(gy.data(), arg.data(), gx_ref.data(), outer, r, inner);
    check_equal(gx, gx_ref);
  }
}

}  // namespace
