// kernels/cuda/gemm_blocked.cu, the hand-written tiled shared-memory GEMM, under the
// emulator: every tile shape and transpose combination its launcher has, both load paths
// (16-byte vectors for aligned tile multiples, bounds-checked scalars otherwise), edges
// one past each tile size, and k == 0, against the CPU reference GEMM (kernels/cpu/gemm).
#include "emulator/cuda_emulator.h"
// First, so that what follows sees the emulator in place of the CUDA runtime.
#include "r2g2/kernels/cpu/gemm.h"
#include "r2g2/kernels/cuda/gemm_blocked.cu"
#include "kernels/cuda/gemm_conv_test_util.h"

namespace {

namespace cpu = r2g2::kernels::cpu;
namespace gpu = r2g2::kernels::cuda;
using namespace r2g2::test::emulated;
using r2g2::test::contains;
using r2g2::test::error_of;

constexpr double kPadding = 4321;  // what C holds past column n: must survive bitwise

enum class Path { scalar, vector };

struct Case {
  int64_t m, n, k, pad;  // pad: extra elements per stored row of A, B and C
  double beta;
  Path path;            // the load path the launcher must pick for this case
  int64_t a_shift = 0;  // A starts this many elements past an aligned address
};

// Runs one case of gemm_blocked_tiled and compares C with the CPU GEMM. Both compute the
// same dot products in different orders; each is within (k + 2) u * bound of the exact
// value (u the unit roundoff, bound = |alpha| sum_p |a_ip b_pj| + |beta c_ij|; one more
// rounding per 256-deep block on the CPU side), so they may differ by (k + 4) eps * bound.
template <class T>
void check_case(int tile, bool ta, bool tb, const Case& s) {
  CAPTURE(tile);
  CAPTURE(ta);
  CAPTURE(tb);
  CAPTURE(s.m);
  CAPTURE(s.n);
  CAPTURE(s.k);
  CAPTURE(s.pad);
  CAPTURE(s.beta);
  CAPTURE(s.a_shift);
  const int64_t m = s.m, n = s.n, k = s.k;
  const int64_t lda = (ta ? m : k) + s.pad, ldb = (tb ? k : n) + s.pad, ldc = n + s.pad;
  const int64_t rows_a = ta ? k : m, rows_b = tb ? n : k;
  const T alpha = T(0.75), beta = T(s.beta);
  const auto a = values<T>(size_t(rows_a * lda + s.a_shift), uint64_t(1 + m + 7 * tile));
  const auto b = values<T>(size_t(rows_b * ldb), uint64_t(2 + n + 7 * tile));
  auto c = values<T>(size_t(m * ldc), uint64_t(3 + k + 7 * tile));
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < ldc; ++j)
      if (j >= n)
        c[i * ldc + j] = T(kPadding);
      else if (beta == T(0))
        c[i * ldc + j] = std::numeric_limits<T>::quiet_NaN();  // beta == 0 must not read C
  const T* ha = a.data() + s.a_shift;
  std::vector<T> want = c;
  cpu::gemm<T>(ta, tb, m, n, k, alpha, ha, lda, b.data(), ldb, beta, want.data(), ldc);

  DeviceVector<T> da(a), db(b), dc(c);
  const char* name = s.path == Path::vector ? "gemm_tiled_vector" : "gemm_tiled_scalar";
  const int64_t before = r2g2_emu::launches_of(name);
  gpu::gemm_blocked_tiled<T>(tile, ta, tb, m, n, k, alpha, da.get() + s.a_shift, lda, db.get(), ldb, beta,
                             dc.get(), ldc);
  CHECK(r2g2_emu::launches_of(name) == before + 1);
  const auto got = dc.host();

  const double eps = std::numeric_limits<T>::epsilon();
  int64_t bad = 0;
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < ldc; ++j) {
      const T g = got[i * ldc + j], w = want[i * ldc + j];
      if (j >= n) {
        bad += g != T(kPadding);
        continue;
      }
      double bound = beta == T(0) ? 0.0 : std::abs(double(beta) * double(c[i * ldc + j]));
      for (int64_t p = 0; p < k; ++p) {
        const double x = ta ? ha[p * lda + i] : ha[i * lda + p], y = tb ? b[j * ldb + p] : b[p * ldb + j];
        bound += std::abs(double(alpha) * x * y);
      }
      const double tol = double(k + 4) * eps * bound + std::numeric_limits<T>::denorm_min();
      if (!(std::abs(double(g) - double(w)) <= tol) && !(std::isnan(g) && std::isnan(w))) {
        if (bad == 0)
          MESSAGE("C[" << i << "][" << j << "] = " << g << ", CPU " << w << ", tolerance " << tol);
        ++bad;
      }
    }
  CHECK(bad == 0);
}

// Shapes relative to the tile: 1, 31, 33 and 257 (each on both sides of a warp or a tile
// edge), one past every tile dimension, k == 0, and aligned tile multiples for the
// vector path, plus tile multiples that must not take it (row length or A misaligned).
std::vector<Case> cases_for(const gpu::GemmTile& t) {
  const int64_t bm = t.block_m, bn = t.block_n, bk = t.block_k;
  return {
      {1, 1, 1, 0, 0.5, Path::scalar},
      {31, 33, 257, 1, 0.0, Path::scalar},
      {257, 31, 33, 2, 0.5, Path::scalar},
      {33, 257, 31, 3, 0.0, Path::scalar},
      {bm + 1, bn + 1, bk + 1, 1, 0.5, Path::scalar},
      {bm + 3, 2 * bn - 5, 2 * bk + 3, 1, 0.0, Path::scalar},
      {5, 7, 0, 1, 0.5, Path::scalar},  // k == 0: C = beta C
      {bm, 2 * bn, 3 * bk, 4, 0.5, Path::vector},
      {2 * bm, bn, bk, 0, 0.0, Path::vector},
      {bm, bn, 0, 4, 0.5, Path::vector},   // k == 0 on the vector path
      {bm, bn, bk, 1, 0.5, Path::scalar},  // rows of 4n + 1: no 16-byte vectors
      {bm, bn, 2 * bk, 0, 0.0, Path::scalar, 1},
  };
}

template <class T>
void all_tiles_and_transposes() {
  for (int tile = 0; tile < gpu::gemm_blocked_tile_count(); ++tile)
    for (bool ta : {false, true})
      for (bool tb : {false, true})
        for (const Case& s : cases_for(gpu::gemm_blocked_tile(tile))) check_case<T>(tile, ta, tb, s);
}

TEST_CASE_TEMPLATE("gemm_blocked: every tile, transpose and load path equals the CPU gemm", T, float,
                   double) {
  REQUIRE(gpu::gemm_blocked_tile_count() == 3);
  all_tiles_and_transposes<T>();
}

TEST_CASE("gemm_blocked: the double 128x128x16 tile opts in to more than 48 KiB of shared memory") {
  // 2 buffers x 16 x (128 + 128 + 8) doubles = 66 KiB: the launch fails unless the
  // launcher raised the kernel's limit first.
  const auto t = gpu::gemm_blocked_tile(1);
  CHECK(sizeof(double) * 2 * t.block_k * (t.block_m + t.block_n + 8) > 48 * 1024);
  check_case<double>(1, false, false, Case{t.block_m, t.block_n, t.block_k, 0, 0.0, Path::vector});
}

TEST_CASE("gemm_blocked: the default tile is the 128x128 one only when it fills every SM") {
  CHECK(gpu::gemm_blocked_default_tile(1, 1) == 2);
  CHECK(gpu::gemm_blocked_default_tile(128 * 11, 128 * 12) == 0);      // 132 blocks
  CHECK(gpu::gemm_blocked_default_tile(128 * 11, 128 * 12 - 1) == 0);  // still 132
  CHECK(gpu::gemm_blocked_default_tile(128 * 11, 128 * 11) == 2);      // 121
  // gemm_blocked runs the tile it names.
  check_case<float>(2, true, false, Case{65, 3, 9, 0, 0.5, Path::scalar});
  const auto a = values<float>(65 * 9, 1), b = values<float>(9 * 3, 2);
  auto c = values<float>(65 * 3, 3);
  std::vector<float> want = c;
  gpu::gemm_blocked_tiled<float>(2, false, false, 65, 3, 9, 1.5f, a.data(), 9, b.data(), 3, 0.5f, want.data(),
                                 3);
  gpu::gemm_blocked<float>(false, false, 65, 3, 9, 1.5f, a.data(), 9, b.data(), 3, 0.5f, c.data(), 3);
  CHECK(c == want);
}

TEST_CASE_TEMPLATE("gemm_blocked: alpha == 0 gives beta C without reading A or B, as the CPU gemm", T, float,
                   double) {
  // BLAS semantics: with alpha == 0, A and B are not referenced, so NaN or Inf there
  // must not turn C into NaN through 0 * x.
  const int64_t m = 9, n = 70, k = 5;
  auto a = values<T>(m * k, 4), b = values<T>(k * n, 5);
  a[3] = std::numeric_limits<T>::quiet_NaN();
  b[7] = std::numeric_limits<T>::infinity();
  for (T beta : {T(0), T(-0.5)}) {
    auto c = values<T>(m * n, 6);
    std::vector<T> want = c;
    cpu::gemm<T>(false, false, m, n, k, T(0), a.data(), k, b.data(), n, beta, want.data(), n);
    DeviceVector<T> da(a), db(b), dc(c);
    gpu::gemm_blocked_tiled<T>(2, false, false, m, n, k, T(0), da.get(), k, db.get(), n, beta, dc.get(), n);
    CHECK(same_values(dc.host(), want));
  }
}

TEST_CASE("gemm_blocked: bad arguments are refused before anything is launched") {
  const int64_t launches = r2g2_emu::launch_count();
  float x = 0;
  CHECK(contains(error_of([&] {
                   gpu::gemm_blocked_tiled<float>(3, false, false, 2, 2, 2, 1.f, &x, 2, &x, 2, 0.f, &x, 2);
                 }),
                 "tile 3 not in [0, 3)"));
  CHECK(contains(error_of([] { gpu::gemm_blocked_tile(-1); }), "index -1"));
  CHECK(contains(
      error_of([&] { gpu::gemm_blocked<float>(false, false, 4, 5, 6, 1.f, &x, 5, &x, 5, 0.f, &x, 5); }),
      "lda = 5 is smaller than the row length 6"));
  CHECK(contains(
      error_of([&] { gpu::gemm_blocked<float>(false, true, 4, 5, 6, 1.f, &x, 6, &x, 5, 0.f, &x, 5); }),
      "ldb = 5"));
  CHECK(contains(
      error_of([&] { gpu::gemm_blocked<float>(false, false, 4, 5, 6, 1.f, &x, 6, &x, 5, 0.f, &x, 4); }),
      "ldc = 4"));
  CHECK(contains(error_of([&] {
                   gpu::gemm_blocked<double>(false, false, -1, 5, 6, 1, nullptr, 6, nullptr, 5, 0, nullptr,
                                             5);
                 }),
                 "negative size"));
  // 65536 row blocks of 64: past the grid's y limit (the pointers are never touched).
  CHECK(contains(error_of([] {
                   gpu::gemm_blocked_tiled<float>(2, false, false, int64_t(64) * 65536, 1, 1, 1.f, nullptr, 1,
                                                  nullptr, 1, 0.f, nullptr, 1);
                 }),
                 "over the 65535 limit"));
  // Empty products do nothing at all.
  gpu::gemm_blocked<float>(false, false, 0, 5, 6, 1.f, nullptr, 6, nullptr, 5, 0.f, nullptr, 5);
  gpu::gemm_blocked<float>(false, false, 5, 0, 6, 1.f, nullptr, 6, nullptr, 0, 0.f, nullptr, 0);
  CHECK(r2g2_emu::launch_count() == launches);
}

}  // namespace
