// kernels/cuda/softmax.cu under the emulator, against kernels/cpu/softmax. The emulator
// uses the host's exp and log for CUDA's, so where both sides evaluate the same formula in
// the same order the results are compared exactly; where the GPU sums in a different
// order, within the stated rounding bound.
#include "emulator/cuda_emulator.h"
#include "r2g2/kernels/cuda/softmax.cu"

#include <cstring>
#include <limits>
#include <string>
#include <utility>

#include "r2g2/kernels/cases/softmax.h"
#include "r2g2/kernels/cpu/softmax.h"
#include "kernels/cuda/emulated_test_util.h"

namespace {

namespace cpu = r2g2::kernels::cpu;
namespace gpu = r2g2::kernels::cuda;
namespace cases = r2g2::kernels::cases;
using namespace r2g2::test::emulated;

constexpr double kEpsDouble = std::numeric_limits<double>::epsilon();


template <class T>
bool same_bits(const T& a, const T& b) {
  return std::memcmp(&a, &b, sizeof(T)) == 0;
}
template <class T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

using r2g2::test::error_of;

// |got - want| <= bound[k], NaN matching NaN and infinities matching exactly.
template <class T>
void check_within(const std::vector<T>& got, const std::vector<T>& want, const std::vector<double>& bound) {
  REQUIRE(got.size() == want.size());
  for (size_t k = 0; k < got.size(); ++k) {
    const double g = got[k], w = want[k];
    if ((std::isnan(g) && std::isnan(w)) || g == w) continue;
    if (!(std::fabs(g - w) <= bound[k])) {
      CAPTURE(k);
      CAPTURE(g);
      CAPTURE(w);
      CAPTURE(bound[k]);
      FAIL_CHECK("emulated kernel differs from the CPU reference by more than the rounding bound");
      return;
    }
  }
}

// Both sides find the same row maximum m (a max is exact) and sum s = sum_j exp(x_j - m)
// in double in different orders; s >= 1 has positive terms, so the two sums differ by at
// most cols eps_double s and their logs by at most cols eps_double. The log, the add of m
// and the subtraction from x round a few times more, each by eps_double times a magnitude
// under 16 for these inputs (|x| < 4, log cols < 10): 64 eps_double covers them. Last, the
// cast to T rounds each side by half an ulp of T.
template <class T>
std::vector<double> log_softmax_bound(const std::vector<T>& want, int64_t cols) {
  std::vector<double> bound(want.size());
  for (size_t k = 0; k < want.size(); ++k)
    bound[k] = std::numeric_limits<T>::epsilon() * std::fabs(static_cast<double>(want[k])) +
               static_cast<double>(cols + 64) * kEpsDouble;
  return bound;
}

// Logits in [-4, 4); row 1 gets -inf entries, row 2 is all -inf, row 3 a +inf, row 4 a
// NaN, which the CPU reference turns into NaN rows or NaN entries of its own.
template <class T>
std::vector<T> logits(int64_t rows, int64_t cols, uint64_t seed) {
  const T inf = std::numeric_limits<T>::infinity();
  auto x = values<T>(static_cast<size_t>(rows * cols), seed, -4, 4);
  auto at = [&](int64_t r, int64_t j) -> T& { return x[static_cast<size_t>(r * cols + j)]; };
  for (int64_t j = 0; rows > 1 && j < cols; j += 3) at(1, j) = -inf;
  for (int64_t j = 0; rows > 2 && j < cols; ++j) at(2, j) = -inf;
  if (rows > 3) at(3, cols / 2) = inf;
  if (rows > 4) at(4, cols - 1) = std::numeric_limits<T>::quiet_NaN();
  return x;
}

// Rows up to gpu::kShortRow columns get a warp each (eight per block), longer ones a block each.
std::vector<cases::RowShape> softmax_shapes() { return cases::test_softmax_shapes(gpu::kShortRow); }

TEST_CASE_TEMPLATE("softmax: log_softmax on the warp-row and block-row paths", T, float, double) {
  for (const auto& shape : softmax_shapes()) {
    const int64_t rows = shape.first, cols = shape.second;
    CAPTURE(rows);
    CAPTURE(cols);
    const auto n = static_cast<size_t>(rows * cols);
    const auto x = logits<T>(rows, cols, 10 + cols);
    std::vector<T> y(n, T(-7)), y_ref(n);
    const int64_t launches_before = r2g2_emu::launches_of("log_softmax_kernel<GROUP");
    gpu::log_softmax(x.data(), y.data(), rows, cols);
    cpu::log_softmax(x.data(), y_ref.data(), rows, cols);
    check_within(y, y_ref, log_softmax_bound(y_ref, cols));
    CHECK(r2g2_emu::launches_of("log_softmax_kernel<GROUP") - launches_before == (n > 0 ? 1 : 0));
  }
}

TEST_CASE_TEMPLATE("softmax: log_softmax_backward on the warp-row and block-row paths", T, float, double) {
  for (const auto& shape : softmax_shapes()) {
    const int64_t rows = shape.first, cols = shape.second;
    CAPTURE(rows);
    CAPTURE(cols);
    const auto n = static_cast<size_t>(rows * cols);
    std::vector<T> y(n);
    cpu::log_softmax(values<T>(n, 20 + cols, -4, 4).data(), y.data(), rows, cols);
    const auto gy = values<T>(n, 21 + cols);
    std::vector<T> gx(n, T(-7)), gx_ref(n);
    gpu::log_softmax_backward(y.data(), gy.data(), gx.data(), rows, cols);
    cpu::log_softmax_backward(y.data(), gy.data(), gx_ref.data(), rows, cols);
    // The row total sum(gy) is summed in a different order: the two differ by at most
    // cols eps_double sum|gy|, scaled by exp(y) <= 1; the product and the subtraction
    // add a rounding each of the same size at most (hence 2x); the cast to T half an ulp
    // of T per side.
    std::vector<double> bound(n);
    for (int64_t r = 0; r < rows; ++r) {
      double abs_total = 0;
      for (int64_t j = 0; j < cols; ++j) abs_total += std::fabs(static_cast<double>(gy[r * cols + j]));
      for (int64_t j = 0; j < cols; ++j) {
        const auto k = static_cast<size_t>(r * cols + j);
        bound[k] = std::numeric_limits<T>::epsilon() * std::fabs(static_cast<double>(gx_ref[k])) +
                   2.0 * static_cast<double>(cols + 1) * kEpsDouble * abs_total;
      }
    }
    check_within(gx, gx_ref, bound);
  }
}

TEST_CASE_TEMPLATE("softmax: log_softmax and its backward do not depend on thread order", T, float, double) {
  for (int64_t cols : {257, 1025}) {
    CAPTURE(cols);
    const int64_t rows = 9;
    const auto n = static_cast<size_t>(rows * cols);
    const auto x = values<T>(n, 30, -4, 4), gy = values<T>(n, 31);
    const auto [first, second] = in_both_thread_orders([&] {
      std::vector<T> y(n), gx(n);
      gpu::log_softmax(x.data(), y.data(), rows, cols);
      gpu::log_softmax_backward(y.data(), gy.data(), gx.data(), rows, cols);
      y.insert(y.end(), gx.begin(), gx.end());
      return y;
    });
    CHECK(same_bits(first, second));
  }
}

std::vector<int32_t> labels_for(int64_t rows, int64_t cols, uint64_t seed) {
  const auto u = values<double>(static_cast<size_t>(rows), seed, 0, static_cast<double>(cols));
  std::vector<int32_t> labels(u.size());
  for (size_t r = 0; r < u.size(); ++r) labels[r] = static_cast<int32_t>(u[r]);
  return labels;
}

TEST_CASE_TEMPLATE("softmax: cross_entropy loss and log-probabilities", T, float, double) {
  for (const auto& shape : cases::test_cross_entropy_shapes()) {
    const int64_t rows = shape.first, cols = shape.second;
    CAPTURE(rows);
    CAPTURE(cols);
    const auto n = static_cast<size_t>(rows * cols);
    const auto x = values<T>(n, 40 + cols, -4, 4);
    const auto labels = labels_for(rows, cols, 41);
    std::vector<T> lp(n, T(-7)), lp_ref(n);
    const T loss = gpu::cross_entropy(x.data(), labels.data(), lp.data(), rows, cols);
    const T loss_ref = cpu::cross_entropy(x.data(), labels.data(), lp_ref.data(), rows, cols);
    check_within(lp, lp_ref, log_softmax_bound(lp_ref, cols));
    if (rows == 0) {
      CHECK(std::isnan(loss));
      CHECK(std::isnan(loss_ref));
      continue;
    }
    // The loss is the mean of rows terms -lp[r, label], each within the log_softmax bound
    // (eps_T |lp| + (cols + 64) eps_double) of the CPU's, summed in double in another
    // order (rows eps_double mean|lp| for the mean), then cast to T (eps_T |loss|).
    double mean_abs = 0;
    for (int64_t r = 0; r < rows; ++r)
      mean_abs += std::fabs(static_cast<double>(lp_ref[r * cols + labels[r]]));
    mean_abs /= static_cast<double>(rows);
    constexpr double eps_t = std::numeric_limits<T>::epsilon();
    const double bound = eps_t * std::fabs(static_cast<double>(loss_ref)) + eps_t * mean_abs +
                         static_cast<double>(cols + 64) * kEpsDouble +
                         2.0 * static_cast<double>(rows) * kEpsDouble * mean_abs;
    CHECK(std::fabs(static_cast<double>(loss) - static_cast<double>(loss_ref)) <= bound);
  }
}

TEST_CASE_TEMPLATE("softmax: cross_entropy names the first bad label as the CPU does, in either thread order",
                   T, float, double) {
  struct BadLabels {
    int64_t rows, cols;
    std::vector<std::pair<int64_t, int32_t>> bad;  // (row, label)
  };
  // Several bad rows among the threads of one block (so the first must win whatever the
  // thread order), negative and too-large labels, and no classes at all (every label is
  // bad).
  const BadLabels cases[] = {{40, 7, {{33, 7}, {5, -2147483647 - 1}, {17, 100}, {6, 7}, {39, -1}}},
                             {4, 0, {}}};
  for (const BadLabels& c : cases) {
    CAPTURE(c.rows);
    CAPTURE(c.cols);
    const auto n = static_cast<size_t>(c.rows * c.cols);
    const auto x = values<T>(n, 50);
    auto labels = labels_for(c.rows, c.cols, 51);
    for (auto [row, label] : c.bad) labels[static_cast<size_t>(row)] = label;
    std::vector<T> lp(n), lp_ref(n);
    const std::string want =
        error_of([&] { cpu::cross_entropy(x.data(), labels.data(), lp_ref.data(), c.rows, c.cols); });
    REQUIRE(want.rfind("cross_entropy: label ", 0) == 0);
    const auto [first, second] = in_both_thread_orders([&] {
      return error_of([&] { gpu::cross_entropy(x.data(), labels.data(), lp.data(), c.rows, c.cols); });
    });
    CHECK(first == want);
    CHECK(second == want);
  }
}

TEST_CASE_TEMPLATE("softmax: cross_entropy_backward equals the CPU reference", T, float, double) {
  for (int64_t cols : awkward_sizes()) {
    const int64_t rows = cols <= 33 ? 33 : 3;
    CAPTURE(rows);
    CAPTURE(cols);
    const auto n = static_cast<size_t>(rows * cols);
    std::vector<T> lp(n);
    cpu::log_softmax(values<T>(n, 60 + cols, -4, 4).data(), lp.data(), rows, cols);
    auto labels = labels_for(rows, cols, 61);
    labels[0] = -1;  // matches no column: no one-hot term, on both sides
    std::vector<T> g(n, T(-7)), g_ref(n);
    // Same formula in T on both sides, with the host's exp standing in for CUDA's.
    gpu::cross_entropy_backward(lp.data(), labels.data(), T(0.75), g.data(), rows, cols);
    cpu::cross_entropy_backward(lp.data(), labels.data(), T(0.75), g_ref.data(), rows, cols);
    check_equal(g, g_ref);
  }
}

TEST_CASE_TEMPLATE("softmax: bce_with_logits on the one-block and two-pass sums", T, float, double) {
  auto sizes = with_empty(awkward_sizes());
  sizes.push_back(8192);  // the last single-chunk sum
  sizes.push_back(8193);  // two chunks, then the sum of the chunk sums
  for (int64_t n : sizes) {
    CAPTURE(n);
    const auto x = values<T>(static_cast<size_t>(n), 70 + n, -30, 30),
               t = values<T>(static_cast<size_t>(n), 71, 0, 1);
    const int64_t chunked_before = r2g2_emu::launches_of("row_sum_kernel");
    const T loss = gpu::bce_with_logits(x.data(), t.data(), n);
    const T loss_ref = cpu::bce_with_logits(x.data(), t.data(), n);
    CHECK((r2g2_emu::launches_of("row_sum_kernel") > chunked_before) == (n > gpu::kRowChunk));
    if (n == 0) {
      CHECK(std::isnan(loss));
      CHECK(std::isnan(loss_ref));
      continue;
    }
    // Every term is the same double on both sides and none is negative (t in [0, 1]), so
    // sum|term| = n loss; the two orders of summation differ by at most n eps_double of
    // that sum, i.e. n eps_double loss after the mean. The factor 2 leaves room for the
    // division's rounding and second-order terms; eps_T |loss| is the two casts to T.
    const double w = loss_ref;
    CHECK(std::fabs(static_cast<double>(loss) - w) <=
          (std::numeric_limits<T>::epsilon() + 2.0 * static_cast<double>(n) * kEpsDouble) * std::fabs(w));
  }
}

TEST_CASE_TEMPLATE("softmax: loss totals do not depend on thread order", T, float, double) {
  for (int64_t n : {257, 8193}) {
    CAPTURE(n);
    const auto x = values<T>(static_cast<size_t>(n), 80, -30, 30),
               t = values<T>(static_cast<size_t>(n), 81, 0, 1);
    const auto [first, second] =
        in_both_thread_orders([&] { return gpu::bce_with_logits(x.data(), t.data(), n); });
    CHECK(same_bits(first, second));
  }
  const int64_t rows = 40, cols = 33;
  const auto x = values<T>(static_cast<size_t>(rows * cols), 82, -4, 4);
  const auto labels = labels_for(rows, cols, 83);
  std::vector<T> lp(static_cast<size_t>(rows * cols));
  const auto [first, second] = in_both_thread_orders(
      [&] { return gpu::cross_entropy(x.data(), labels.data(), lp.data(), rows, cols); });
  CHECK(same_bits(first, second));
}

TEST_CASE_TEMPLATE("softmax: bce_with_logits_backward equals the CPU reference, with and without gt", T,
                   float, double) {
  auto sizes = with_empty(awkward_sizes());
  for (int64_t n : sizes) {
    CAPTURE(n);
    const auto count = static_cast<size_t>(n);
    const auto x = values<T>(count, 90 + n, -30, 30), t = values<T>(count, 91, 0, 1);
    std::vector<T> gx(count, T(-7)), gt(count, T(-7)), gx_ref(count), gt_ref(count);
    // Same formula in T on both sides, with the host's exp standing in for CUDA's.
    gpu::bce_with_logits_backward(x.data(), t.data(), T(1.5), gx.data(), gt.data(), n);
    cpu::bce_with_logits_backward(x.data(), t.data(), T(1.5), gx_ref.data(), gt_ref.data(), n);
    check_equal(gx, gx_ref);
    check_equal(gt, gt_ref);
    std::vector<T> gx_only(count, T(-7));
    gpu::bce_with_logits_backward(x.data(), t.data(), T(1.5), gx_only.data(), static_cast<T*>(nullptr), n);
    check_equal(gx_only, gx_ref);
  }
}

}  // namespace
