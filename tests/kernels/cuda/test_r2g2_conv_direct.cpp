// kernels/cuda/r2g2_conv_direct.cu under the emulator, against the CPU direct solve
// (kernels/cpu/r2g2_conv_direct.cpp) and the float64 projection (kernels/cpu/r2g2_exact.h),
// on the P x P systems of a CNN's upper layers (P = 4 and 16, and the warp's limits 1 and
// 32), singular K included: dead ReLU positions (zero columns of X_n), all-zero patches,
// zero patch rows, zero sigma, D < P.
//
// Everything but cuBLAS runs here: the operand kernels, the solve kernel (one warp per
// system) and the launcher's group walk; the two GEMMs go through kernels/cuda/gemm.cu,
// whose emulated build serves the cuBLAS call with the CPU reference GEMM.
#include "emulator/cuda_emulator.h"
#include "r2g2/kernels/cuda/r2g2_conv_direct.cu"
#include "r2g2/kernels/cpu/r2g2_conv.h"
#include "r2g2/kernels/cpu/r2g2_exact.h"
#include "kernels/cuda/conv_solve_problem.h"
#include "kernels/cuda/emulated_test_util.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

namespace {

namespace cpu = r2g2::kernels::cpu;
namespace gpu = r2g2::kernels::cuda;
namespace detail = r2g2::kernels::cuda::r2g2_conv_direct_detail;
using r2g2::kernels::ConvGeom;
using r2g2::kernels::im2col_matrices_geom;
using r2g2::kernels::R2G2SolveStats;
using r2g2::test::contains;
using r2g2::test::error_of;
using namespace r2g2::test::emulated;

template <class T>
using Problem = ConvSolveProblem<T>;

// X uniform in [-1, 1), sigma in [0.2, 1.2), eps in [-2, 2).
template <class T>
Problem<T> dense(int64_t n, int64_t o, int64_t d, int64_t p, uint64_t seed) {
  Problem<T> pr{n, o, d, p, values<T>(n * d * p, seed), values<T>(o * d, seed + 1, 0.2, 1.2),
                values<T>(o * d, seed + 2, -2.0, 2.0)};
  return pr;
}

// Lowers the rank of K_nc below min(P, D) in several ways: in image 0 every third position
// is dead (its column of X is zero) and one patch row is zero; image 1 (when there is one)
// is all zeros; channel 0 has sigma = 0 on its last D / 2 rows and the last channel
// everywhere.
template <class T>
void make_singular(Problem<T>& pr) {
  for (int64_t r = 0; r < pr.d; ++r)
    for (int64_t q = 0; q < pr.p; q += 3) pr.x(0, r, q) = T(0);
  for (int64_t q = 0; q < pr.p; ++q) pr.x(0, pr.d / 2, q) = T(0);
  if (pr.n > 1)
    for (int64_t r = 0; r < pr.d; ++r)
      for (int64_t q = 0; q < pr.p; ++q) pr.x(1, r, q) = T(0);
  for (int64_t r = pr.d - pr.d / 2; r < pr.d; ++r) pr.sigma[r] = T(0);
  for (int64_t r = 0; r < pr.d; ++r) pr.sigma[(pr.o - 1) * pr.d + r] = T(0);
}

struct Solved {
  std::vector<double> beta, eps_star;  // [N, O, P], [N, O, D] (formed in double)
  std::vector<int32_t> iterations;
  std::vector<double> rel_residual, star_sq;
};

// Runs the CUDA kernel (group images at a time; 0: the launcher's own choice) or the CPU one.
template <class T>
Solved solve(const Problem<T>& pr, bool on_gpu, int64_t group = 0) {
  const int64_t S = pr.systems();
  std::vector<T> beta(S * pr.p, std::numeric_limits<T>::quiet_NaN());
  Solved out;
  out.iterations.assign(S, -1);
  out.rel_residual.assign(S, std::nan(""));
  out.star_sq.assign(S, std::nan(""));
  const R2G2SolveStats st{out.iterations.data(), out.rel_residual.data(), out.star_sq.data()};
  const ConvGeom g = pr.geom();
  if (!on_gpu)
    cpu::r2g2_conv_solve_m_direct<T>(pr.cols.data(), pr.sigma.data(), pr.eps.data(), beta.data(), st, g);
  else if (group == 0)
    gpu::r2g2_conv_solve_m_direct<T>(pr.cols.data(), pr.sigma.data(), pr.eps.data(), beta.data(), st, g);
  else
    detail::solve_direct<T>(pr.cols.data(), pr.sigma.data(), pr.eps.data(), beta.data(), st, g,
                            gpu::kDirectRelCut, group);
  out.beta.assign(beta.begin(), beta.end());
  out.eps_star.assign(S * pr.d, 0.0);
  for (int64_t n = 0; n < pr.n; ++n)
    for (int64_t c = 0; c < pr.o; ++c)
      for (int64_t r = 0; r < pr.d; ++r) {
        double acc = 0;
        for (int64_t q = 0; q < pr.p; ++q)
          acc +=
              static_cast<double>(pr.cols[(n * pr.d + r) * pr.p + q]) * out.beta[(n * pr.o + c) * pr.p + q];
        out.eps_star[(n * pr.o + c) * pr.d + r] = static_cast<double>(pr.sigma[c * pr.d + r]) * acc;
      }
  return out;
}

template <class T>
std::vector<double> projection(const Problem<T>& pr, std::vector<int>& rank) {
  const std::vector<double> X(pr.cols.begin(), pr.cols.end()), S(pr.sigma.begin(), pr.sigma.end()),
      E(pr.eps.begin(), pr.eps.end());
  std::vector<double> out(pr.systems() * pr.d);
  rank.assign(pr.systems(), 0);
  cpu::r2g2_conv_exact(X.data(), S.data(), E.data(), out.data(), rank.data(), pr.geom());
  return out;
}

// Largest over systems of |got - want| / max(|want|, 1e-3 |eps_c|): relative per system,
// with a floor for systems whose eps* is (near) zero.
template <class T>
double max_system_rel_err(const Problem<T>& pr, const std::vector<double>& got,
                          const std::vector<double>& want) {
  double worst = 0;
  for (int64_t n = 0; n < pr.n; ++n)
    for (int64_t c = 0; c < pr.o; ++c) {
      double diff = 0, norm = 0, noise = 0;
      for (int64_t r = 0; r < pr.d; ++r) {
        const int64_t k = (n * pr.o + c) * pr.d + r;
        diff += (got[k] - want[k]) * (got[k] - want[k]);
        norm += want[k] * want[k];
        noise += static_cast<double>(pr.eps[c * pr.d + r]) * static_cast<double>(pr.eps[c * pr.d + r]);
      }
      worst = std::max(worst, std::sqrt(diff) / std::max(std::sqrt(norm), 1e-3 * std::sqrt(noise)));
    }
  return worst;
}

template <class T>
void check_against_cpu_and_projection(const Problem<T>& pr, bool singular) {
  std::vector<int> rank;
  const auto oracle = projection(pr, rank);
  if (singular || pr.d < pr.p) {
    bool below = false;  // the case really holds singular K (rank < P)
    for (int r : rank) below = below || r < pr.p;
    CHECK(below);
  }
  const Solved want = solve(pr, false), got = solve(pr, true);
  for (double v : got.beta) REQUIRE(std::isfinite(v));
  CHECK(max_system_rel_err(pr, got.eps_star, oracle) < 1e-5);
  // The same K bit for bit (the emulated GEMM is the CPU's) and the same pivots: only the
  // reductions and the back substitution sum in another order.
  CHECK(max_system_rel_err(pr, got.eps_star, want.eps_star) < 1e-9);
  for (int64_t k = 0; k < pr.systems(); ++k) {
    CAPTURE(k);
    CHECK(got.iterations[k] == 0);
    CHECK(got.rel_residual[k] <= 1e-9);
    CHECK(got.star_sq[k] == doctest::Approx(want.star_sq[k]).epsilon(1e-9).scale(1e-12));
  }
}

}  // namespace

TEST_CASE("emulated conv direct solve: matches the CPU and the float64 projection") {
  FreshDevice fresh;
  // Each CUDA thread is a fiber here (and a TSan context in the tsan build), so the
  // dtypes take turns over the shapes.
  struct Case {
    const char* name;
    int64_t d, p;
    bool f64;
  };
  const Case cases[] = {
      {"P = 4, P < D < P(P+1)/2", 9, 4, false}, {"P = 4, D > P(P+1)/2", 27, 4, true},
      {"P = 16, P < D", 20, 16, false},         {"P = 16, D < P (rank D)", 9, 16, true},
      {"P = 1", 5, 1, true},                    {"P = 32, a full warp", 40, 32, false},
  };
  for (const auto& cs : cases)
    for (bool singular : {false, true}) {
      const std::string case_name = cs.name;
      CAPTURE(case_name);
      CAPTURE(singular);
      if (cs.f64) {
        auto pr = dense<double>(2, 3, cs.d, cs.p, 17 + cs.d);
        if (singular) make_singular(pr);
        check_against_cpu_and_projection(pr, singular);
      } else {
        auto pr = dense<float>(2, 3, cs.d, cs.p, 23 + cs.d);
        if (singular) make_singular(pr);
        check_against_cpu_and_projection(pr, singular);
      }
    }
}

TEST_CASE("emulated conv direct solve: zero right-hand sides give exact zeros") {
  FreshDevice fresh;
  auto pr = dense<float>(2, 3, 18, 4, 5);
  make_singular(pr);  // image 1 all zeros, channel 2 with sigma = 0
  const Solved got = solve(pr, true);
  for (int64_t n = 0; n < pr.n; ++n)
    for (int64_t c = 0; c < pr.o; ++c) {
      const int64_t sys = n * pr.o + c;
      if (n != 1 && c != pr.o - 1) continue;
      CAPTURE(sys);
      for (int64_t q = 0; q < pr.p; ++q) CHECK(got.beta[sys * pr.p + q] == 0.0);
      CHECK(got.rel_residual[sys] == 0.0);
      CHECK(got.star_sq[sys] == 0.0);
    }
}

TEST_CASE("emulated conv direct solve: groups of images and thread order change nothing") {
  FreshDevice fresh;
  auto pr = dense<double>(4, 2, 12, 16, 71);
  make_singular(pr);
  const Solved whole = solve(pr, true);
  for (int64_t group : {1, 3}) {
    CAPTURE(group);
    const Solved parts = solve(pr, true, group);
    // Each system's K and rhs are columns of the GEMMs: only their summation blocking may
    // change with the group's width.
    CHECK(max_system_rel_err(pr, parts.eps_star, whole.eps_star) < 1e-12);
  }
  const auto [up, down] = in_both_thread_orders([&] { return solve(pr, true).beta; });
  check_equal(up, down);
}

TEST_CASE("emulated conv direct solve: cost model and limits") {
  FreshDevice fresh;
  // The paper's upper VGG-11 layers (batch 16): the direct solve, as on the CPU.
  for (const ConvGeom& g : {im2col_matrices_geom(16, 512, 2304, 16), im2col_matrices_geom(16, 512, 4608, 16),
                            im2col_matrices_geom(16, 512, 4608, 4)}) {
    CHECK(gpu::conv_explicit_k_fits(g));
    CHECK(cpu::conv_explicit_k_fits(g));
  }
  // 32 < P <= 64: the CPU solves directly, a warp cannot.
  const ConvGeom p36 = im2col_matrices_geom(2, 64, 576, 36);
  CHECK(cpu::conv_explicit_k_fits(p36));
  CHECK_FALSE(gpu::conv_explicit_k_fits(p36));
  // D < P, and Z beyond its memory bound: CG, on both.
  CHECK_FALSE(gpu::conv_explicit_k_fits(im2col_matrices_geom(1, 2, 4, 16)));
  CHECK_FALSE(gpu::conv_explicit_k_fits(im2col_matrices_geom(1, 2, int64_t{1} << 20, 16)));
  // Asked for anyway, P = 33 is an error that says why.
  auto pr = dense<float>(1, 2, 40, 33, 3);
  std::vector<float> beta(pr.systems() * pr.p);
  const std::string msg = error_of([&] {
    gpu::r2g2_conv_solve_m_direct<float>(pr.cols.data(), pr.sigma.data(), pr.eps.data(), beta.data(), {},
                                         pr.geom());
  });
  CHECK(contains(msg, "P = 33 positions exceed the 32 lanes"));
  // Empty problems launch nothing.
  const int64_t before = r2g2_emu::launch_count();
  gpu::r2g2_conv_solve_m_direct<float>(nullptr, nullptr, nullptr, nullptr, {},
                                       im2col_matrices_geom(0, 2, 4, 4));
  CHECK(r2g2_emu::launch_count() == before);
}
