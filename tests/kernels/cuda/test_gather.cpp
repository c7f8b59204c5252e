// kernels/cuda/gather.cu under the emulator, against kernels/cpu/gather.
//
// The emulated build has no CUB: scatter_add_rows' stable sort of (index, position) pairs
// (gather_detail::stable_sort_pairs, CUB's DeviceRadixSort on a device) runs on the host
// with std::stable_sort there. The kernels around it are the device ones; the exact
// scatter results below hold only if the sort keeps repeated indices in order of i.
#include "emulator/cuda_emulator.h"
#include "r2g2/kernels/cuda/gather.cu"

#include <cstddef>
#include <string>
#include <utility>

#include "r2g2/kernels/cases/gather.h"
#include "r2g2/kernels/cpu/gather.h"
#include "kernels/cuda/emulated_test_util.h"

namespace {

namespace cpu = r2g2::kernels::cpu;
namespace gpu = r2g2::kernels::cuda;
namespace cases = r2g2::kernels::cases;
using namespace r2g2::test::emulated;


using r2g2::test::error_of;

// n indices into `rows` rows: with n > rows every row repeats.
std::vector<int32_t> indices(int64_t n, int64_t rows, uint64_t seed) {
  const auto u = values<double>(static_cast<size_t>(n), seed, 0, static_cast<double>(rows));
  std::vector<int32_t> index(u.size());
  for (size_t i = 0; i < u.size(); ++i) index[i] = static_cast<int32_t>(u[i]);
  return index;
}

TEST_CASE_TEMPLATE("gather: gather_rows equals the CPU reference", T, float, double, int32_t) {
  for (int64_t n_index : cases::test_index_counts()) {
    for (int64_t row_len : cases::test_gather_row_lengths()) {
      if (row_len == 257 && n_index > 33) continue;  // a long row once is enough
      CAPTURE(n_index);
      CAPTURE(row_len);
      const int64_t rows = 7;
      const auto x = values<T>(static_cast<size_t>(rows * row_len), 1, -100, 100);
      const auto index = indices(n_index, rows, 2 + n_index);
      const auto n = static_cast<size_t>(n_index * row_len);
      std::vector<T> y(n, T(-7)), y_ref(n);
      gpu::gather_rows(x.data(), index.data(), y.data(), n_index, rows, row_len);
      cpu::gather_rows(x.data(), index.data(), y_ref.data(), n_index, rows, row_len);
      check_equal(y, y_ref);
    }
  }
}

TEST_CASE_TEMPLATE("gather: gather_rows names the first bad index as the CPU does, in either thread order", T,
                   float, int32_t) {
  struct BadIndices {
    int64_t n_index, row_len;
    std::vector<std::pair<int64_t, int32_t>> bad;  // (position, index)
  };
  const int64_t rows = 7;
  // Several bad positions in one block (the first must win whatever the thread order),
  // negative and too-large indices, bad positions in different blocks, and a gather of
  // empty rows, which still checks its indices.
  const BadIndices cases[] = {{40, 3, {{33, 7}, {5, -1}, {17, 100}, {6, 7}}},
                              {1025, 2, {{1000, -2147483647 - 1}, {300, 8}, {257, 2147483647}}},
                              {33, 0, {{32, 7}, {9, -5}}}};
  for (const BadIndices& c : cases) {
    CAPTURE(c.n_index);
    CAPTURE(c.row_len);
    const auto x = values<T>(static_cast<size_t>(rows * c.row_len), 3);
    auto index = indices(c.n_index, rows, 4);
    for (auto [position, k] : c.bad) index[static_cast<size_t>(position)] = k;
    std::vector<T> y(static_cast<size_t>(c.n_index * c.row_len));
    const std::string want =
        error_of([&] { cpu::gather_rows(x.data(), index.data(), y.data(), c.n_index, rows, c.row_len); });
    REQUIRE(want.rfind("gather_rows: index ", 0) == 0);
    const auto [first, second] = in_both_thread_orders([&] {
      return error_of(
          [&] { gpu::gather_rows(x.data(), index.data(), y.data(), c.n_index, rows, c.row_len); });
    });
    CHECK(first == want);
    CHECK(second == want);
  }
}

TEST_CASE_TEMPLATE(
    "gather: scatter_add_rows adds repeated rows in order of i (emulated sort: std::stable_sort "
    "stands in for CUB's DeviceRadixSort)",
    T, float, double) {
  for (int64_t n_index : cases::test_index_counts()) {
    for (int64_t row_len : cases::test_scatter_row_lengths()) {
      CAPTURE(n_index);
      CAPTURE(row_len);
      // Few rows, so that every row is picked many times; the gradients differ wildly in
      // magnitude, so that adding them in any other order than the CPU's changes the bits.
      const int64_t rows = 5;
      auto index = indices(n_index, rows, 5 + n_index);
      const auto gy = values<T>(static_cast<size_t>(n_index * row_len), 6, -1, 1);
      auto scaled = gy;
      for (size_t k = 0; k < scaled.size(); k += 3) scaled[k] *= T(1e7);
      auto gx = values<T>(static_cast<size_t>(rows * row_len), 7), gx_ref = gx;  // accumulates into gx
      const int64_t before = r2g2_emu::launch_count();
      gpu::scatter_add_rows(scaled.data(), index.data(), gx.data(), n_index, row_len);
      cpu::scatter_add_rows(scaled.data(), index.data(), gx_ref.data(), n_index, row_len);
      check_equal(gx, gx_ref);
      if (n_index == 0 || row_len == 0) CHECK(r2g2_emu::launch_count() == before);
    }
  }
}

TEST_CASE_TEMPLATE("gather: scatter_add_rows with one index repeated throughout, in either thread order", T,
                   float, double) {
  const int64_t n_index = 1025, row_len = 3, rows = 4;
  const std::vector<int32_t> index(static_cast<size_t>(n_index), 2);
  auto gy = values<T>(static_cast<size_t>(n_index * row_len), 8);
  for (size_t k = 0; k < gy.size(); k += 2) gy[k] *= T(1e6);
  std::vector<T> gx_ref(static_cast<size_t>(rows * row_len));
  cpu::scatter_add_rows(gy.data(), index.data(), gx_ref.data(), n_index, row_len);
  const auto [first, second] = in_both_thread_orders([&] {
    std::vector<T> gx(static_cast<size_t>(rows * row_len));
    gpu::scatter_add_rows(gy.data(), index.data(), gx.data(), n_index, row_len);
    return gx;
  });
  check_equal(first, gx_ref);
  check_equal(second, gx_ref);
}

TEST_CASE("gather: scatter_add_rows skips negative indices") {
  // The CPU reference has no such rule (it would write out of bounds), so the CUDA result
  // is compared with the CPU's over the non-negative indices alone.
  const int64_t n_index = 257, row_len = 2, rows = 6;
  auto index = indices(n_index, rows, 9);
  for (size_t i = 0; i < index.size(); i += 4) index[i] = -1 - static_cast<int32_t>(i);
  const auto gy = values<double>(static_cast<size_t>(n_index * row_len), 10);
  std::vector<int32_t> kept_index;
  std::vector<double> kept_gy;
  for (size_t i = 0; i < index.size(); ++i) {
    if (index[i] < 0) continue;
    kept_index.push_back(index[i]);
    kept_gy.insert(kept_gy.end(), gy.begin() + static_cast<ptrdiff_t>(i * row_len),
                   gy.begin() + static_cast<ptrdiff_t>((i + 1) * row_len));
  }
  std::vector<double> gx(static_cast<size_t>(rows * row_len)), gx_ref(gx.size());
  gpu::scatter_add_rows(gy.data(), index.data(), gx.data(), n_index, row_len);
  cpu::scatter_add_rows(kept_gy.data(), kept_index.data(), gx_ref.data(),
                        static_cast<int64_t>(kept_index.size()), row_len);
  check_equal(gx, gx_ref);
}

}  // namespace
