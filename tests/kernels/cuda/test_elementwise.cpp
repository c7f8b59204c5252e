// kernels/cuda/elementwise.cu under the emulator, against kernels/cpu/elementwise.
//
// Tolerance: bit-exact everywhere (NaN matching NaN). Every kernel evaluates the CPU
// reference's expression in the same order, and under the emulator the device's exp, log,
// tanh, ... are the host libm that the reference calls too. (On a GPU the transcendental
// ops would differ by CUDA's documented ulp errors; this suite checks indexing, dispatch
// and arithmetic order, which must not differ at all.)
#include "emulator/cuda_emulator.h"
#include "r2g2/kernels/cuda/elementwise.cu"

#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "r2g2/kernels/cases/elementwise.h"
#include "r2g2/kernels/cpu/elementwise.h"
#include "kernels/cuda/emulated_test_util.h"

namespace {

namespace cpu = r2g2::kernels::cpu;
namespace gpu = r2g2::kernels::cuda;
namespace detail = r2g2::kernels::cuda::elementwise_detail;
using r2g2::kernels::BinaryOp;
using r2g2::kernels::kMaxDims;
using r2g2::kernels::Strided2;
using r2g2::kernels::UnaryOp;
using namespace r2g2::test::emulated;

namespace cases = r2g2::kernels::cases;

// Every op, from the case table the kernel lab shares.
std::vector<UnaryOp> unary_ops() {
  std::vector<UnaryOp> ops;
  for (const auto& c : cases::unary_ops()) ops.push_back(c.op);
  return ops;
}
std::vector<BinaryOp> binary_ops() {
  std::vector<BinaryOp> ops;
  for (const auto& c : cases::binary_ops()) ops.push_back(c.op);
  return ops;
}

template <class T>
bool identical(T a, T b) {
  if constexpr (std::is_floating_point_v<T>)
    if (std::isnan(a) && std::isnan(b)) return true;
  return std::memcmp(&a, &b, sizeof(T)) == 0;
}

// Bit-for-bit equality (so 0 and -0 differ), any NaN matching any NaN.
template <class T>
void check_identical(const std::vector<T>& got, const std::vector<T>& want) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    if (identical(got[i], want[i])) continue;
    CAPTURE(i);
    CAPTURE(got[i]);
    CAPTURE(want[i]);
    FAIL_CHECK("emulated kernel differs from the CPU reference");
    return;
  }
}

// Inputs over the op's domain up to 25 (from -25 where it has none), which reaches both
// branches of sigmoid and log_softplus (|x| > 20), led by values where the ops have edges:
// zeros of both signs, the domain ends of log, log1p and sqrt, infinities, NaN.
template <class T>
std::vector<T> unary_inputs(UnaryOp op, int64_t n, uint64_t seed) {
  const double lo = op == UnaryOp::log || op == UnaryOp::sqrt ? 0.0 : op == UnaryOp::log1p ? -1.0 : -25.0;
  auto x = values<T>(n, seed, lo, 25.0);
  const T inf = std::numeric_limits<T>::infinity(), nan = std::numeric_limits<T>::quiet_NaN();
  const T edges[] = {T(0), -T(0), T(1), T(-1), T(-20.5), T(-19.5), T(1e-30), T(-0.5), inf, -inf, nan};
  for (size_t i = 0; i < std::size(edges) && i < x.size(); ++i) x[i] = edges[i];
  return x;
}

TEST_CASE_TEMPLATE("elementwise: every unary op, forward and backward, equals the CPU reference", T, float,
                   double) {
  for (UnaryOp op : unary_ops()) {
    CAPTURE(static_cast<int>(op));
    for (int64_t n : awkward_sizes()) {
      CAPTURE(n);
      const auto x = unary_inputs<T>(op, n, 1), gy = values<T>(n, 2);
      std::vector<T> y(n), y_ref(n), gx(n), gx_ref(n);
      gpu::unary(op, x.data(), y.data(), n);
      cpu::unary(op, x.data(), y_ref.data(), n);
      check_identical(y, y_ref);
      gpu::unary_backward(op, x.data(), y_ref.data(), gy.data(), gx.data(), n);
      cpu::unary_backward(op, x.data(), y_ref.data(), gy.data(), gx_ref.data(), n);
      check_identical(gx, gx_ref);
    }
  }
}

// A binary geometry: the output's shape and each input's strides (0 = broadcast).
struct Geometry {
  const char* name;
  std::vector<int64_t> shape, a_stride, b_stride;
  const char* kernel;  // the launch it must take; empty when nothing is launched
};

Strided2 strided(const Geometry& g) {
  Strided2 s;
  s.ndim = static_cast<int>(g.shape.size());
  for (int d = 0; d < s.ndim; ++d) {
    s.shape[d] = g.shape[d];
    s.a_stride[d] = g.a_stride[d];
    s.b_stride[d] = g.b_stride[d];
  }
  return s;
}

// Elements an input must hold: its largest offset + 1 (none when the output is empty).
int64_t extent(const std::vector<int64_t>& shape, const std::vector<int64_t>& stride) {
  int64_t last = 0;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 0) return 0;
    last += (shape[d] - 1) * stride[d];
  }
  return last + 1;
}

int64_t numel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  return n;
}

constexpr const char* k1d = "binary_1d_kernel";
constexpr const char* kNd32 = "binary_nd_kernel<OP, T, uint32_t>";

std::vector<Geometry> binary_geometries() {
  std::vector<Geometry> gs;
  for (int64_t n : awkward_sizes()) {
    gs.push_back({"contiguous", {n}, {1}, {1}, k1d});
    gs.push_back({"b broadcast from one element", {n}, {1}, {0}, k1d});
    // With n = 1 the size-1 axis is dropped and one axis is left.
    gs.push_back({"bias over 3 rows", {3, n}, {n, 1}, {0, 1}, n == 1 ? k1d : kNd32});
    gs.push_back({"column broadcast", {n, 3}, {3, 1}, {1, 0}, n == 1 ? k1d : kNd32});
  }
  gs.push_back({"0-d", {}, {}, {}, k1d});
  gs.push_back({"all size-1 axes", {1, 1, 1}, {1, 1, 1}, {5, 7, 0}, k1d});
  gs.push_back({"contiguous 3-d collapses", {4, 5, 13}, {65, 13, 1}, {65, 13, 1}, k1d});
  gs.push_back({"every other element of a", {257}, {2}, {1}, k1d});
  gs.push_back({"a transposed", {7, 33}, {1, 7}, {33, 1}, kNd32});
  gs.push_back(
      {"size-1 axes between broadcasts", {2, 1, 5, 1, 33}, {165, 165, 33, 33, 1}, {0, 0, 1, 1, 0}, kNd32});
  gs.push_back({"both broadcast (outer product)", {31, 33}, {1, 0}, {0, 1}, kNd32});
  gs.push_back({"8 axes",
                {2, 1, 2, 3, 1, 2, 2, 3},
                {144, 144, 72, 24, 24, 12, 6, 2},
                {0, 0, 12, 4, 4, 2, 1, 0},
                kNd32});
  gs.push_back({"an empty axis", {3, 0, 4}, {0, 4, 1}, {4, 4, 1}, ""});
  gs.push_back({"empty 1-d", {0}, {1}, {1}, ""});
  return gs;
}

TEST_CASE_TEMPLATE(
    "elementwise: binary over contiguous, strided and broadcast geometries equals the CPU reference", T,
    float, double) {
  for (const Geometry& geom : binary_geometries()) {
    CAPTURE(std::string(geom.name));
    CAPTURE(numel(geom.shape));
    const Strided2 g = strided(geom);
    const int64_t n = numel(geom.shape);
    const auto a = values<T>(extent(geom.shape, geom.a_stride), 3),
               b = values<T>(extent(geom.shape, geom.b_stride), 4, 0.5, 2.0);
    for (BinaryOp op : binary_ops()) {
      CAPTURE(static_cast<int>(op));
      std::vector<T> out(n), out_ref(n);
      const int64_t launches = r2g2_emu::launch_count();
      const int64_t on_path = *geom.kernel ? r2g2_emu::launches_of(geom.kernel) : 0;
      gpu::binary(op, a.data(), b.data(), out.data(), g);
      CHECK(r2g2_emu::launch_count() - launches == (*geom.kernel ? 1 : 0));
      if (*geom.kernel) CHECK(r2g2_emu::launches_of(geom.kernel) - on_path == 1);
      if (n == 0) continue;
      cpu::binary(op, a.data(), b.data(), out_ref.data(), g);
      check_identical(out, out_ref);
    }
  }
}

// Address space for an input whose largest offset is past 2^32: reserved without backing,
// with only the pages the test touches made usable, so no memory is committed for the rest.
class SparseBuffer {
 public:
  explicit SparseBuffer(size_t bytes) : bytes_(bytes) {
    base_ = mmap(nullptr, bytes_, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    REQUIRE_MESSAGE(base_ != MAP_FAILED, "cannot reserve ", bytes_, " bytes of address space");
  }
  ~SparseBuffer() { munmap(base_, bytes_); }
  SparseBuffer(const SparseBuffer&) = delete;
  SparseBuffer& operator=(const SparseBuffer&) = delete;
  template <class T>
  T* use(size_t first, size_t count) {
    const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    const size_t begin = first * sizeof(T) / page * page, end = (first + count) * sizeof(T);
    REQUIRE(mprotect(static_cast<char*>(base_) + begin, end - begin, PROT_READ | PROT_WRITE) == 0);
    return static_cast<T*>(base_) + first;
  }
  template <class T>
  T* data() {
    return static_cast<T*>(base_);
  }

 private:
  void* base_;
  size_t bytes_;
};

// Offsets past 2^32 wrap in 32-bit arithmetic: the wrapped elements hold other values, so a
// launcher that picked the 32-bit kernel would read them and fail.
TEST_CASE_TEMPLATE("elementwise: offsets past 2^32 take the 64-bit index path and address correctly", T,
                   float, double) {
  constexpr int64_t far = (int64_t{1} << 32) + 8, rows = 2, cols = 3;
  SparseBuffer input(static_cast<size_t>(far + cols) * sizeof(T));
  T* near_part = input.use<T>(0, 64);
  T* far_part = input.use<T>(far, cols);
  for (int64_t i = 0; i < 64; ++i) near_part[i] = T(100 + i);
  for (int64_t c = 0; c < cols; ++c) far_part[c] = T(-7 - c);
  const T* a = input.data<T>();

  Geometry geom{"rows far apart", {rows, cols}, {far, 1}, {cols, 1}, "binary_nd_kernel<OP, T, int64_t>"};
  const Strided2 g = strided(geom);
  const auto b = values<T>(rows * cols, 5, 0.5, 2.0);
  for (BinaryOp op : binary_ops()) {
    std::vector<T> out(rows * cols), out_ref(rows * cols);
    const int64_t wide = r2g2_emu::launches_of(geom.kernel);
    gpu::binary(op, a, b.data(), out.data(), g);
    CHECK(r2g2_emu::launches_of(geom.kernel) - wide == 1);
    cpu::binary(op, a, b.data(), out_ref.data(), g);
    check_identical(out, out_ref);
  }

  std::vector<T> copied(rows * cols), copied_ref(rows * cols);
  const int64_t wide = r2g2_emu::launches_of("copy_strided_kernel<T, int64_t>");
  gpu::copy_strided(a, copied.data(), g);
  CHECK(r2g2_emu::launches_of("copy_strided_kernel<T, int64_t>") - wide == 1);
  cpu::copy_strided(a, copied_ref.data(), g);
  check_identical(copied, copied_ref);
  CHECK(copied[cols] == T(-7));  // the first far element, not its 32-bit wrap near_part[8]
}

TEST_CASE_TEMPLATE("elementwise: binary_scalar, fill and axpy equal the CPU reference", T, float, double) {
  for (int64_t n : awkward_sizes()) {
    CAPTURE(n);
    const auto a = values<T>(n, 6);
    for (BinaryOp op : binary_ops()) {
      for (T s : {T(-0.37), T(0)}) {
        std::vector<T> out(n), out_ref(n);
        gpu::binary_scalar(op, a.data(), s, out.data(), n);
        cpu::binary_scalar(op, a.data(), s, out_ref.data(), n);
        check_identical(out, out_ref);
      }
    }
    std::vector<T> filled(n, T(9)), filled_ref(n, T(9));
    gpu::fill(filled.data(), T(-0.125), n);
    cpu::fill(filled_ref.data(), T(-0.125), n);
    check_identical(filled, filled_ref);

    const auto x = values<T>(n, 7);
    auto y = values<T>(n, 8), y_ref = y;
    gpu::axpy(T(0.3), x.data(), y.data(), n);
    cpu::axpy(T(0.3), x.data(), y_ref.data(), n);
    check_identical(y, y_ref);
  }
}

TEST_CASE("elementwise: int32 fill equals the CPU reference") {
  for (int64_t n : awkward_sizes()) {
    std::vector<int32_t> y(n, 1), y_ref(n, 1);
    gpu::fill<int32_t>(y.data(), -123456789, n);
    cpu::fill<int32_t>(y_ref.data(), -123456789, n);
    check_identical(y, y_ref);
  }
}

template <class From, class To>
void check_cast(double lo, double hi) {
  for (int64_t n : awkward_sizes()) {
    CAPTURE(n);
    const auto x = values<From>(n, 9, lo, hi);
    std::vector<To> y(n), y_ref(n);
    gpu::cast(x.data(), y.data(), n);
    cpu::cast(x.data(), y_ref.data(), n);
    check_identical(y, y_ref);
  }
}

// Ranges that make every conversion round or truncate: doubles with more digits than a
// float holds, int32s past float's 2^24, fractional values of both signs into int32
// (inside its range: outside, the conversion is undefined).
TEST_CASE("elementwise: every instantiated cast equals the CPU reference") {
  check_cast<float, double>(-1e30, 1e30);
  check_cast<double, float>(-1e30, 1e30);
  check_cast<int32_t, float>(-2.1e9, 2.1e9);
  check_cast<int32_t, double>(-2.1e9, 2.1e9);
  check_cast<float, int32_t>(-1e4, 1e4);
  check_cast<double, int32_t>(-2.1e9, 2.1e9);
}

std::vector<Geometry> view_geometries() {
  std::vector<Geometry> gs;
  for (int64_t n : awkward_sizes()) {
    gs.push_back({"contiguous", {n}, {1}, {0}, "copy_strided_kernel<T, uint32_t>"});
    gs.push_back({"transpose of n x 3", {3, n}, {1, 3}, {0, 0}, "copy_strided_kernel<T, uint32_t>"});
    gs.push_back({"expanded row", {5, n}, {0, 1}, {0, 0}, "copy_strided_kernel<T, uint32_t>"});
  }
  gs.push_back({"0-d", {}, {}, {}, "copy_strided_kernel"});
  gs.push_back({"b strides set but unused", {4, 5, 13}, {65, 13, 1}, {1, 4, 20}, "copy_strided_kernel"});
  gs.push_back(
      {"slice with step 3 of the middle axis", {2, 11, 7}, {231, 21, 1}, {0, 0, 0}, "copy_strided_kernel"});
  gs.push_back({"size-1 axes", {1, 33, 1, 2, 1}, {99, 3, 7, 1, 1}, {0, 0, 0, 0, 0}, "copy_strided_kernel"});
  gs.push_back({"8 axes", {2, 1, 2, 3, 1, 2, 2, 3}, {3, 9, 1, 24, 5, 72, 144, 6}, {}, "copy_strided_kernel"});
  gs.push_back({"an empty axis", {3, 0, 4}, {4, 4, 1}, {0, 0, 0}, ""});
  for (auto& g : gs) g.b_stride.resize(g.shape.size(), 0);
  return gs;
}

template <class T>
void check_copy_strided(uint64_t seed) {
  for (const Geometry& geom : view_geometries()) {
    CAPTURE(std::string(geom.name));
    CAPTURE(numel(geom.shape));
    const int64_t n = numel(geom.shape);
    const auto src = values<T>(extent(geom.shape, geom.a_stride), seed, -1e6, 1e6);
    std::vector<T> dst(n), dst_ref(n);
    const int64_t launches = r2g2_emu::launch_count();
    const int64_t on_path = *geom.kernel ? r2g2_emu::launches_of(geom.kernel) : 0;
    gpu::copy_strided(src.data(), dst.data(), strided(geom));
    CHECK(r2g2_emu::launch_count() - launches == (*geom.kernel ? 1 : 0));
    if (*geom.kernel) CHECK(r2g2_emu::launches_of(geom.kernel) - on_path == 1);
    if (n == 0) continue;
    cpu::copy_strided(src.data(), dst_ref.data(), strided(geom));
    check_identical(dst, dst_ref);
  }
}

TEST_CASE("elementwise: copy_strided of views equals the CPU reference") {
  check_copy_strided<float>(10);
  check_copy_strided<double>(11);
  check_copy_strided<int32_t>(12);
}

// Leading dimensions wider than the rows, so the padding between rows must stay as it was.
TEST_CASE_TEMPLATE("elementwise: copy_2d between padded rows equals the CPU reference", T, float, double) {
  for (int64_t rows : cases::test_row_counts()) {
    for (int64_t cols : awkward_sizes()) {
      if (rows * cols > 4096) continue;
      CAPTURE(rows);
      CAPTURE(cols);
      const int64_t src_ld = cols + 3, dst_ld = cols + 5;
      const auto src = values<T>(rows * src_ld, 13);
      std::vector<T> dst(rows * dst_ld, T(-99)), dst_ref = dst;
      gpu::copy_2d(src.data(), src_ld, dst.data(), dst_ld, rows, cols);
      cpu::copy_2d(src.data(), src_ld, dst_ref.data(), dst_ld, rows, cols);
      check_identical(dst, dst_ref);
    }
  }
}

TEST_CASE("elementwise: empty inputs launch nothing") {
  const int64_t before = r2g2_emu::launch_count();
  for (int64_t n : {int64_t{0}, int64_t{-1}}) {
    for (UnaryOp op : unary_ops()) {
      gpu::unary<float>(op, nullptr, nullptr, n);
      gpu::unary_backward<double>(op, nullptr, nullptr, nullptr, nullptr, n);
    }
    for (BinaryOp op : binary_ops()) gpu::binary_scalar<float>(op, nullptr, 1.0f, nullptr, n);
    gpu::fill<float>(nullptr, 1.0f, n);
    gpu::fill<int32_t>(nullptr, 1, n);
    gpu::axpy<double>(2.0, nullptr, nullptr, n);
    gpu::cast<int32_t, float>(nullptr, nullptr, n);
    gpu::copy_2d<float>(nullptr, 4, nullptr, 4, n, 4);
    gpu::copy_2d<float>(nullptr, 4, nullptr, 4, 4, n);
  }
  Strided2 empty;
  empty.ndim = 2;
  empty.shape[0] = 5;
  empty.shape[1] = 0;
  gpu::binary<float>(BinaryOp::add, nullptr, nullptr, nullptr, empty);
  gpu::copy_strided<int32_t>(nullptr, nullptr, empty);
  CHECK(r2g2_emu::launch_count() == before);
}

TEST_CASE("elementwise: an unknown op or too many dimensions throws instead of launching") {
  std::vector<float> x(4, 1.0f), y(4);
  const int64_t before = r2g2_emu::launch_count();
  CHECK_THROWS_WITH_AS(gpu::unary(static_cast<UnaryOp>(99), x.data(), y.data(), 4), "unary: unknown op 99",
                       r2g2::Error);
  CHECK_THROWS_WITH_AS(
      gpu::unary_backward(static_cast<UnaryOp>(99), x.data(), x.data(), x.data(), y.data(), 4),
      "unary: unknown op 99", r2g2::Error);
  CHECK_THROWS_WITH_AS(gpu::binary_scalar(static_cast<BinaryOp>(7), x.data(), 1.0f, y.data(), 4),
                       "binary: unknown op 7", r2g2::Error);
  Strided2 g;
  g.ndim = kMaxDims + 1;
  CHECK_THROWS_WITH_AS(gpu::binary(BinaryOp::add, x.data(), x.data(), y.data(), g),
                       "binary: bad number of dimensions 9", r2g2::Error);
  CHECK_THROWS_WITH_AS(gpu::copy_strided(x.data(), y.data(), g), "copy_strided: bad number of dimensions 9",
                       r2g2::Error);
  CHECK(r2g2_emu::launch_count() == before);
}

// The launchers size the grid to cover n in one pass; a grid smaller than n (as beyond
// kMaxBlocks blocks on a device) must still reach every element through the stride loop.
TEST_CASE_TEMPLATE("elementwise: every kernel's grid-stride loop covers n with a grid smaller than n", T,
                   float, double) {
  constexpr unsigned grid = 3, block = 32;
  constexpr int64_t n = 257;
  const auto x = unary_inputs<T>(UnaryOp::log_softplus, n, 14), gy = values<T>(n, 15),
             b = values<T>(n, 16, 0.5, 2.0);
  std::vector<T> got(n), want(n);

  R2G2_LAUNCH((detail::unary_kernel<UnaryOp::log_softplus, T>), grid, block, x.data(), got.data(), n);
  cpu::unary(UnaryOp::log_softplus, x.data(), want.data(), n);
  check_identical(got, want);
  const auto y = want;
  R2G2_LAUNCH((detail::unary_backward_kernel<UnaryOp::sigmoid, T>), grid, block, x.data(), y.data(),
              gy.data(), got.data(), n);
  cpu::unary_backward(UnaryOp::sigmoid, x.data(), y.data(), gy.data(), want.data(), n);
  check_identical(got, want);

  Strided2 flat;
  flat.ndim = 1;
  flat.shape[0] = n;
  flat.a_stride[0] = 1;
  flat.b_stride[0] = 1;
  R2G2_LAUNCH((detail::binary_1d_kernel<BinaryOp::div, T>), grid, block, x.data(), b.data(), got.data(), n,
              int64_t{1}, int64_t{1});
  cpu::binary(BinaryOp::div, x.data(), b.data(), want.data(), flat);
  check_identical(got, want);

  // An outer product, 9 x 29 = 261 outputs: out[i, j] = a[i] op b[j].
  Strided2 outer;
  outer.ndim = 2;
  outer.shape[0] = 9;
  outer.shape[1] = 29;
  outer.a_stride[0] = 1;
  outer.b_stride[1] = 1;
  std::vector<T> grid_out(9 * 29), grid_out_ref(9 * 29);
  R2G2_LAUNCH((detail::binary_nd_kernel<BinaryOp::sub, T, uint32_t>), grid, block, x.data(), b.data(),
              grid_out.data(), outer, uint32_t{9 * 29});
  cpu::binary(BinaryOp::sub, x.data(), b.data(), grid_out_ref.data(), outer);
  check_identical(grid_out, grid_out_ref);
  R2G2_LAUNCH((detail::binary_nd_kernel<BinaryOp::mul, T, int64_t>), grid, block, x.data(), b.data(),
              grid_out.data(), outer, int64_t{9 * 29});
  cpu::binary(BinaryOp::mul, x.data(), b.data(), grid_out_ref.data(), outer);
  check_identical(grid_out, grid_out_ref);

  R2G2_LAUNCH((detail::binary_scalar_kernel<BinaryOp::add, T>), grid, block, x.data(), T(0.5), got.data(), n);
  cpu::binary_scalar(BinaryOp::add, x.data(), T(0.5), want.data(), n);
  check_identical(got, want);

  R2G2_LAUNCH(detail::fill_kernel<T>, grid, block, got.data(), T(4), n);
  cpu::fill(want.data(), T(4), n);
  check_identical(got, want);

  got = gy;
  want = gy;
  R2G2_LAUNCH(detail::axpy_kernel<T>, grid, block, T(-2), b.data(), got.data(), n);
  cpu::axpy(T(-2), b.data(), want.data(), n);
  check_identical(got, want);

  std::vector<int32_t> ints(n), ints_ref(n);
  const auto wide = values<T>(n, 17, -1e5, 1e5);
  R2G2_LAUNCH((detail::cast_kernel<T, int32_t>), grid, block, wide.data(), ints.data(), n);
  cpu::cast(wide.data(), ints_ref.data(), n);
  check_identical(ints, ints_ref);

  Strided2 transpose;  // a 257 x 2 matrix read as its 2 x 257 transpose
  transpose.ndim = 2;
  transpose.shape[0] = 2;
  transpose.shape[1] = n;
  transpose.a_stride[0] = 1;
  transpose.a_stride[1] = 2;
  const auto src = values<T>(2 * n, 18);
  std::vector<T> copied(2 * n), copied_ref(2 * n);
  R2G2_LAUNCH((detail::copy_strided_kernel<T, uint32_t>), grid, block, src.data(), copied.data(), transpose,
              static_cast<uint32_t>(2 * n));
  cpu::copy_strided(src.data(), copied_ref.data(), transpose);
  check_identical(copied, copied_ref);
  std::fill(copied.begin(), copied.end(), T(0));
  R2G2_LAUNCH((detail::copy_strided_kernel<T, int64_t>), grid, block, src.data(), copied.data(), transpose,
              2 * n);
  check_identical(copied, copied_ref);

  // Three rows of n - 2 from rows n - 1 apart into rows n + 1 apart.
  const auto rows = values<T>(3 * (n - 1), 19);
  std::vector<T> padded(3 * (n + 1), T(-1)), padded_ref = padded;
  R2G2_LAUNCH(detail::copy_2d_kernel<T>, grid, block, rows.data(), n - 1, padded.data(), n + 1, int64_t{3},
              n - 2);
  cpu::copy_2d(rows.data(), n - 1, padded_ref.data(), n + 1, int64_t{3}, n - 2);
  check_identical(padded, padded_ref);
}

}  // namespace
