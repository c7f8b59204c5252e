// The hand-written blocked GEMM (every micro-kernel variant) and the BLAS-backed
// `gemm` against a naive triple loop in long double.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "r2g2/core/error.h"
#include "r2g2/kernels/cpu/gemm.h"
#include "test_util.h"

namespace r2g2::kernels::cpu::detail {
int gemm_blocked_limit_isa(int level);  // defined in kernels/cpu/gemm.cpp
}

namespace {

using namespace r2g2::kernels::cpu;

// Deterministic values in [-1, 1) (this suite's stream: salt 7).
template <class T>
std::vector<T> random_values(size_t n, uint64_t seed) {
  return r2g2::test::uniform_values<T>(n, seed, -1.0, 1.0, 7);
}

struct Case {
  int64_t m, n, k;
};

// Runs `fn` (gemm or gemm_blocked) on stored matrices with padded leading dimensions
// and checks C against the naive product, and that padding columns are untouched.
template <class T, class Fn>
void check_against_naive(Fn fn, bool ta, bool tb, Case c, T alpha, T beta, int64_t pad) {
  const int64_t a_rows = ta ? c.k : c.m, a_cols = ta ? c.m : c.k;
  const int64_t b_rows = tb ? c.n : c.k, b_cols = tb ? c.k : c.n;
  const int64_t lda = a_cols + pad, ldb = b_cols + pad, ldc = c.n + pad;
  auto a = random_values<T>(static_cast<size_t>(a_rows * lda), 1 + c.m);
  auto b = random_values<T>(static_cast<size_t>(b_rows * ldb), 2 + c.n);
  auto c0 = random_values<T>(static_cast<size_t>(c.m * ldc), 3 + c.k);
  const T sentinel = T(12345);
  for (int64_t i = 0; i < c.m; ++i)
    for (int64_t j = c.n; j < ldc; ++j) c0[i * ldc + j] = sentinel;
  // beta == 0 must not read C: NaNs there must not leak into the result.
  if (beta == T(0))
    for (int64_t i = 0; i < c.m; ++i)
      for (int64_t j = 0; j < c.n; ++j) c0[i * ldc + j] = std::numeric_limits<T>::quiet_NaN();
  std::vector<T> out = c0;
  fn(ta, tb, c.m, c.n, c.k, alpha, a.data(), lda, b.data(), ldb, beta, out.data(), ldc);

  const double eps = std::numeric_limits<T>::epsilon();
  int bad = 0;
  for (int64_t i = 0; i < c.m; ++i) {
    for (int64_t j = 0; j < c.n; ++j) {
      long double sum = 0, mag = 0;
      for (int64_t p = 0; p < c.k; ++p) {
        long double av = ta ? a[p * lda + i] : a[i * lda + p];
        long double bv = tb ? b[j * ldb + p] : b[p * ldb + j];
        sum += av * bv;
        mag += std::fabs(av * bv);
      }
      long double expect = alpha * sum, scale = std::fabs(alpha) * mag;
      if (beta != T(0)) {
        expect += beta * static_cast<long double>(c0[i * ldc + j]);
        scale += std::fabs(beta * c0[i * ldc + j]);
      }
      const double err = static_cast<double>(std::fabs(out[i * ldc + j] - expect));
      if (!(err <= 4 * eps * (static_cast<double>(scale) + 1) * std::sqrt(static_cast<double>(c.k) + 1)))
        ++bad;
    }
    for (int64_t j = c.n; j < ldc; ++j)
      if (out[i * ldc + j] != sentinel) ++bad;
  }
  INFO("m=", c.m, " n=", c.n, " k=", c.k, " ta=", ta, " tb=", tb, " alpha=", alpha, " beta=", beta,
       " pad=", pad);
  CHECK(bad == 0);
}

// Shapes around the micro-tile (MR up to 12, NR up to 32) and cache-block (KC 256,
// MC 96/192) edges.
const Case kCases[] = {{1, 1, 1},   {1, 9, 7},    {9, 1, 7},     {5, 7, 1},   {13, 17, 19},
                       {12, 32, 8}, {25, 65, 31}, {37, 41, 270}, {200, 20, 9}};

template <class T>
void check_all(int isa_level) {
  const int level = r2g2::kernels::cpu::detail::gemm_blocked_limit_isa(isa_level);
  CAPTURE(level);
  for (Case c : kCases)
    for (int t = 0; t < 4; ++t) {
      const bool ta = t & 1, tb = t & 2;
      const int64_t pad = (c.m + c.n) % 2 == 0 ? 3 : 0;
      check_against_naive<T>(gemm_blocked<T>, ta, tb, c, T(1), T(0), pad);
      check_against_naive<T>(gemm_blocked<T>, ta, tb, c, T(-1.5), T(0.5), pad + 1);
      check_against_naive<T>(gemm<T>, ta, tb, c, T(0.75), T(-2), pad);
    }
  r2g2::kernels::cpu::detail::gemm_blocked_limit_isa(2);
}

}  // namespace

TEST_CASE("gemm_blocked matches a naive product: float, every ISA variant") {
  for (int level = 0; level <= 2; ++level) check_all<float>(level);
}

TEST_CASE("gemm_blocked matches a naive product: double, every ISA variant") {
  for (int level = 0; level <= 2; ++level) check_all<double>(level);
}

TEST_CASE("gemm_blocked: a product large enough to be split across threads") {
  // 1.6e7 multiply-adds is the threshold; column ranges are split at panel edges.
  check_against_naive<float>(gemm_blocked<float>, true, false, {61, 555, 480}, 1.f, 0.f, 2);
  check_against_naive<double>(gemm_blocked<double>, false, true, {61, 555, 480}, 0.5, 2.0, 0);
}

TEST_CASE("gemm (BLAS when built with it) agrees with gemm_blocked") {
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      const int64_t m = 33, n = 47, k = 29;
      auto a = random_values<float>(m * k, 11), b = random_values<float>(k * n, 12);
      std::vector<float> c1(m * n, 1.f), c2(m * n, 1.f);
      const int64_t lda = ta ? m : k, ldb = tb ? k : n;
      gemm<float>(ta, tb, m, n, k, 2.f, a.data(), lda, b.data(), ldb, 0.25f, c1.data(), n);
      gemm_blocked<float>(ta, tb, m, n, k, 2.f, a.data(), lda, b.data(), ldb, 0.25f, c2.data(), n);
      float worst = 0;
      for (size_t i = 0; i < c1.size(); ++i) worst = std::max(worst, std::fabs(c1[i] - c2[i]));
      CHECK(worst < 1e-4f);
    }
}

TEST_CASE("gemm: k == 0 or alpha == 0 scales C by beta") {
  std::vector<double> c = {1, 2, 3, 4};
  double dummy = 0;
  gemm_blocked<double>(false, false, 2, 2, 0, 1.0, &dummy, 1, &dummy, 2, 3.0, c.data(), 2);
  CHECK(c == std::vector<double>{3, 6, 9, 12});
  std::vector<double> a = {1, 2, 3, 4};
  gemm<double>(false, false, 2, 2, 2, 0.0, a.data(), 2, a.data(), 2, 0.5, c.data(), 2);
  CHECK(c == std::vector<double>{1.5, 3, 4.5, 6});
  c = {NAN, NAN, NAN, NAN};
  gemm_blocked<double>(false, false, 2, 2, 2, 0.0, a.data(), 2, a.data(), 2, 0.0, c.data(), 2);
  CHECK(c == std::vector<double>{0, 0, 0, 0});
}

TEST_CASE("gemm_batched: stride 0 shares a matrix across the batch") {
  const int64_t batch = 3, m = 4, n = 5, k = 6;
  auto a = random_values<double>(m * k, 21);          // shared
  auto b = random_values<double>(batch * k * n, 22);  // one per batch entry
  std::vector<double> c(batch * m * n, NAN), expect(batch * m * n);
  gemm_batched<double>(batch, false, false, m, n, k, 1.0, a.data(), k, 0, b.data(), n, k * n, 0.0, c.data(),
                       n, m * n);
  for (int64_t i = 0; i < batch; ++i)
    gemm_blocked<double>(false, false, m, n, k, 1.0, a.data(), k, b.data() + i * k * n, n, 0.0,
                         expect.data() + i * m * n, n);
  for (size_t i = 0; i < c.size(); ++i) CHECK(c[i] == doctest::Approx(expect[i]).epsilon(1e-12));
}

TEST_CASE("gemm: leading dimensions narrower than the stored width are rejected") {
  std::vector<float> a(64), b(64), c(64);
  CHECK_THROWS_WITH_AS(
      gemm_blocked<float>(false, false, 4, 4, 4, 1.f, a.data(), 3, b.data(), 4, 0.f, c.data(), 4),
      doctest::Contains("lda=3"), r2g2::Error);
  CHECK_THROWS_WITH_AS(gemm<float>(false, true, 4, 4, 5, 1.f, a.data(), 5, b.data(), 4, 0.f, c.data(), 4),
                       doctest::Contains("ldb=4"), r2g2::Error);
  CHECK_THROWS_WITH_AS(gemm<float>(false, false, 4, 4, 4, 1.f, a.data(), 4, b.data(), 4, 0.f, c.data(), 2),
                       doctest::Contains("ldc=2"), r2g2::Error);
}
