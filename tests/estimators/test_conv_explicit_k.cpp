// The CPU's direct conv solve (explicit K + float64 pivoted Cholesky, kernels/cpu/r2g2_conv.h)
// against the float64 projection, on the small P x P systems of a CNN's upper layers,
// including singular K (zero patches from dead ReLU positions, zero patch rows, zero
// sigma, D < P), and the estimator through it against the estimator through CG.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "r2g2/core/autograd.h"
#include "r2g2/estimators/conv/conv_estimators.h"
#include "r2g2/estimators/conv/r2g2_conv_solve.h"
#include "r2g2/kernels/cpu/r2g2_conv.h"
#include "test_conv_util.h"

using namespace r2g2;
using namespace r2g2::conv_est;
using r2g2::test::uniform;
using r2g2::test::conv::make_problem;
using r2g2::test::conv::max_system_rel_err;
using r2g2::test::conv::Problem;

namespace {

// Zeroes, in image 0, patch columns (dead positions: every input under the window is 0)
// and one patch row; and in sigma, channel 0 below D - drop_sigma and all of the last
// channel. Each lowers the rank of some K_nc below min(P, D).
void make_singular(Problem& pr, int64_t drop_sigma) {
  auto cv = pr.cols.to_vector();
  for (int64_t d = 0; d < pr.d; ++d)
    for (int64_t p = 0; p < pr.p; p += 3) cv[d * pr.p + p] = 0;
  for (int64_t p = 0; p < pr.p; ++p) cv[(pr.d / 2) * pr.p + p] = 0;
  pr.cols = Tensor::from_vector(cv, pr.cols.shape(), pr.cols.dtype());
  auto sv = pr.sigma.to_vector();
  for (int64_t d = pr.d - drop_sigma; d < pr.d; ++d) sv[d] = 0;
  for (int64_t d = 0; d < pr.d; ++d) sv[(pr.o - 1) * pr.d + d] = 0;
  pr.sigma = Tensor::from_vector(sv, pr.sigma.shape(), pr.sigma.dtype());
}

// The kernel itself, whatever D and P: eps* [N, O, D] and the per-system read-outs.
Tensor solve_direct(const Problem& pr, std::vector<int32_t>& iters, std::vector<double>& res) {
  const DType dt = pr.cols.dtype();
  Tensor beta = Tensor::empty({pr.n, pr.o, pr.p}, dt);
  iters.assign(static_cast<size_t>(pr.n * pr.o), -1);
  res.assign(iters.size(), -1.0);
  std::vector<double> sq(iters.size());
  kernels::R2G2SolveStats st{iters.data(), res.data(), sq.data()};
  const auto g = kernels::im2col_matrices_geom(pr.n, pr.o, pr.d, pr.p);
  Tensor cols = pr.cols.contiguous(), sigma = pr.sigma.contiguous(), eps = pr.eps.contiguous();
  if (dt == DType::f32)
    kernels::cpu::r2g2_conv_solve_m_direct<float>(cols.data<float>(), sigma.data<float>(), eps.data<float>(),
                                                  beta.data<float>(), st, g);
  else
    kernels::cpu::r2g2_conv_solve_m_direct<double>(cols.data<double>(), sigma.data<double>(),
                                                   eps.data<double>(), beta.data<double>(), st, g);
  ConvEpsStar e;
  e.beta = beta;
  return eps_star_dense(e, cols, sigma);
}

}  // namespace

TEST_CASE("conv direct solve: matches the float64 projection, singular K included") {
  struct Case {
    const char* name;
    int64_t c, hw;  // 3x3 kernel, padding 1: P = hw², D = 9 c
  };
  const Case cases[] = {
      {"P = 4, P < D < P(P+1)/2", 1, 2},   // D = 9
      {"P = 4, D > P(P+1)/2", 3, 2},       // D = 27
      {"P = 16, P < D < P(P+1)/2", 2, 4},  // D = 18
      {"P = 16, D > P(P+1)/2", 16, 4},     // D = 144
      {"P = 16, D < P (rank D)", 1, 4},    // D = 9
  };
  for (const auto& cs : cases)
    for (bool singular : {false, true})
      for (DType dt : {DType::f64, DType::f32}) {
        const std::string case_name = cs.name, dtype = dtype_name(dt);
        CAPTURE(case_name);
        CAPTURE(dtype);
        CAPTURE(singular);
        Problem pr = make_problem(3, cs.c, cs.hw, 4, 3, {1, 1}, 41 + cs.c, dt);
        if (singular) make_singular(pr, pr.d / 2);
        std::vector<int> rank;
        Tensor oracle = eps_star_projection_f64(pr.cols, pr.sigma, pr.eps, &rank);
        if (singular || pr.d < pr.p) {
          bool below = false;  // the case really holds singular K (rank < P)
          for (int r : rank) below = below || r < pr.p;
          CHECK(below);
        }
        std::vector<int32_t> iters;
        std::vector<double> res;
        Tensor got = solve_direct(pr, iters, res);
        CHECK(max_system_rel_err(got, oracle) < 1e-5);
        for (size_t k = 0; k < iters.size(); ++k) {
          CHECK(iters[k] == 0);
          CHECK(res[k] <= 1e-9);  // K beta = rhs in float64, to rounding
        }
      }
}

TEST_CASE("conv direct solve: solve_eps_star takes it by the cost model and says so") {
  Problem pr = make_problem(2, 8, 4, 5, 3, {1, 1}, 7, DType::f32);  // D = 72, P = 16
  make_singular(pr, 60);
  const auto g = kernels::im2col_matrices_geom(pr.n, pr.o, pr.d, pr.p);
  REQUIRE(kernels::cpu::conv_explicit_k_fits(g));
  CHECK(kernels::cpu::conv_explicit_k_flops(g) < kernels::cpu::conv_cg_flops_bound(g));
  Tensor oracle = eps_star_projection_f64(pr.cols, pr.sigma, pr.eps);
  R2G2Diagnostics diag;
  R2G2Options o;  // the default, R2G2Solver::cheapest
  Tensor got = eps_star_dense(solve_eps_star(pr.cols, pr.sigma, pr.eps, o, &diag), pr.cols, pr.sigma);
  CHECK(diag.method == "explicit K + pivoted Cholesky (P x P)");
  CHECK(diag.max_iterations == 0);
  CHECK(diag.systems == pr.n * pr.o);
  CHECK(diag.max_relative_residual <= 1e-9);
  CHECK(max_system_rel_err(got, oracle) < 1e-5);
  // The last channel's sigma is 0: eps* = 0 there, exactly, and never NaN.
  auto v = got.to_vector();
  for (int64_t n = 0; n < pr.n; ++n)
    for (int64_t i = 0; i < pr.d; ++i) CHECK(v[(n * pr.o + pr.o - 1) * pr.d + i] == 0.0);
  R2G2Diagnostics cg_diag;
  o.solver = R2G2Solver::cg;  // asked for by name, CG runs
  solve_eps_star(pr.cols, pr.sigma, pr.eps, o, &cg_diag);
  CHECK(cg_diag.method == "cg (P x P)");
  CHECK(diag.noise_removed == doctest::Approx(cg_diag.noise_removed).epsilon(1e-6));
  // Z of one image beyond the memory bound: CG.
  const auto big = kernels::im2col_matrices_geom(1, 2, 4608, 64);  // Z: 4608 x 2080 doubles
  CHECK_FALSE(kernels::cpu::conv_explicit_k_fits(big));
  // More positions than the cost model is trusted for: CG.
  CHECK_FALSE(kernels::cpu::conv_explicit_k_fits(kernels::im2col_matrices_geom(1, 2, 288, 196)));
  // D < P: not smaller by the count (the estimator takes the D x D form there anyway).
  CHECK_FALSE(kernels::cpu::conv_explicit_k_fits(kernels::im2col_matrices_geom(1, 2, 4, 64)));
}

TEST_CASE("conv direct solve: r2g2 gradients equal those through CG") {
  // Post-ReLU inputs (about half the pixels 0, some windows all 0) on the 4x4 and 2x2
  // layers of a small CNN's top, float64. CG stops at a relative residual of 1e-6, which
  // on these K (condition numbers below ~1e4) moves eps* by at most ~1e-6 sqrt(1e4) = 1e-4
  // relative in the worst direction and far less on average; the direct solve is exact to
  // rounding. The gradients are sums over images and positions of terms linear in eps*.
  for (int64_t hw : {4, 2}) {
    CAPTURE(hw);
    Tensor x = relu(uniform({3, 4, hw, hw}, 60 + hw, -1, 1));
    Tensor mu = uniform({6, 4, 3, 3}, 61, -0.5, 0.5), sigma = uniform({6, 4, 3, 3}, 62, 0.2, 1.0);
    auto grads = [&](R2G2Solver solver, R2G2Diagnostics* diag) {
      Tensor xl = x.clone().requires_grad_(), ml = mu.clone().requires_grad_(),
             sl = sigma.clone().requires_grad_();
      Generator gen(5);
      R2G2Options o;
      o.solver = solver;
      Tensor h = conv_est::r2g2(xl, ml, sl, {1, 1}, gen, o, diag);
      backward(h, uniform(h.shape(), 63, -1, 1));
      return std::vector<Tensor>{h.detach(), xl.grad(), ml.grad(), sl.grad()};
    };
    R2G2Diagnostics direct_diag, cg_diag;
    auto direct = grads(R2G2Solver::cheapest, &direct_diag), cg = grads(R2G2Solver::cg, &cg_diag);
    CHECK(direct_diag.method == "explicit K + pivoted Cholesky (P x P)");
    CHECK(cg_diag.method == "cg (P x P)");
    auto rel_err = [](const Tensor& a, const Tensor& b) {
      return max_system_rel_err(reshape(a, {1, a.numel()}), reshape(b, {1, b.numel()}));
    };
    CHECK(rel_err(direct[0], cg[0]) == 0.0);  // the same forward value
    for (size_t i = 1; i < direct.size(); ++i) {
      CAPTURE(i);
      CHECK(rel_err(direct[i], cg[i]) < 1e-6);
    }
  }
}
