// The R2-G2 conv solve: CG (both forms) and the paper's truncated CG against the float64
// projection eps* = Aᵀ K⁺ A eps, on problems of every shape class, including the
// numerical traps of estimators/README.md (rank bound, singular K, degenerate systems).
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "r2g2/estimators/conv/r2g2_conv_solve.h"
#include "r2g2/kernels/cpu/r2g2_conv.h"
#include "test_conv_util.h"

using namespace r2g2;
using namespace r2g2::conv_est;
using r2g2::test::conv::make_problem;
using r2g2::test::conv::max_system_rel_err;
using r2g2::test::conv::Problem;

namespace {

R2G2Options solver(R2G2Solver s) {
  R2G2Options o;
  o.solver = s;
  return o;
}

// Runs the m-space kernel directly (solve_eps_star picks the D x D form when D < P, and
// the P x P form must also be right on its singular K there). Returns eps* [N, O, D].
Tensor solve_m_direct(const Problem& pr, const R2G2Options& s, std::vector<int32_t>* iters) {
  Tensor cols = pr.cols.to(DType::f64).contiguous(), sigma = pr.sigma.to(DType::f64).contiguous(),
         eps = pr.eps.to(DType::f64).contiguous();
  Tensor beta = Tensor::empty({pr.n, pr.o, pr.p}, DType::f64);
  std::vector<int32_t> it(static_cast<size_t>(pr.n * pr.o), -1);
  std::vector<double> res(it.size()), sq(it.size());
  kernels::R2G2SolveStats st{it.data(), res.data(), sq.data()};
  kernels::cpu::r2g2_conv_solve_m<double>(cols.data<double>(), sigma.data<double>(), eps.data<double>(),
                                          beta.data<double>(), st,
                                          kernels::im2col_matrices_geom(pr.n, pr.o, pr.d, pr.p), s);
  for (double r : res) CHECK(std::isfinite(r));
  if (iters) *iters = it;
  ConvEpsStar e;
  e.beta = beta;
  return eps_star_dense(e, cols, sigma);
}

bool all_finite(const Tensor& t) {
  for (double v : t.to_vector())
    if (!std::isfinite(v)) return false;
  return true;
}

}  // namespace

TEST_CASE("conv solve: cg matches the float64 projection on every shape class") {
  struct Case {
    const char* name;
    int64_t n, c, hw, o;
    int k;
    Conv2dParams p;
    int64_t zero_outside;
  };
  // P < D (upper VGG layers), P > D (near the input: rank-deficient K), P = D, zero
  // patches (rank below both), stride and padding.
  const Case cases[] = {
      {"P < D", 2, 3, 5, 3, 3, {1, 0}, 0},         // D = 27, P = 9
      {"P > D", 2, 1, 7, 3, 2, {1, 0}, 0},         // D = 4, P = 36
      {"padding 1", 2, 1, 4, 2, 3, {1, 1}, 0},     // D = 9, P = 16
      {"P = D", 2, 4, 5, 2, 2, {1, 0}, 0},         // D = 16, P = 16
      {"zero patches", 2, 2, 7, 3, 3, {1, 0}, 3},  // D = 18, P = 25, most patches zero
      {"stride 2, padding 1", 2, 2, 6, 3, 3, {2, 1}, 0},
  };
  for (const auto& cs : cases) {
    for (uint64_t seed : {17, 18, 19})
      for (DType dt : {DType::f64, DType::f32}) {
        CAPTURE(seed);
        const std::string case_name = cs.name;
        CAPTURE(case_name);
        const std::string dtype = dtype_name(dt);
        CAPTURE(dtype);
        Problem pr = make_problem(cs.n, cs.c, cs.hw, cs.o, cs.k, cs.p, seed, dt, cs.zero_outside);
        Tensor oracle = eps_star_projection_f64(pr.cols, pr.sigma, pr.eps);
        R2G2Diagnostics diag;
        Tensor got = eps_star_dense(solve_eps_star(pr.cols, pr.sigma, pr.eps, solver(R2G2Solver::cg), &diag),
                                    pr.cols, pr.sigma);
        CHECK(got.dtype() == dt);
        CHECK(max_system_rel_err(got, oracle) < 1e-5);
        CHECK(diag.systems == cs.n * cs.o);
        CHECK(diag.max_iterations <= std::min(pr.p, pr.d));
        CHECK(diag.max_relative_residual <= 1e-6);
        // The exact solver is the oracle itself, in the problem's dtype.
        Tensor ex = eps_star_dense(
            solve_eps_star(pr.cols, pr.sigma, pr.eps, solver(R2G2Solver::exact), nullptr), pr.cols, pr.sigma);
        CHECK(max_system_rel_err(ex, oracle) < (dt == DType::f64 ? 1e-12 : 1e-6));
      }
  }
}

TEST_CASE("conv solve: the P x P form is right on a singular K and stops at the rank") {
  // P = 36 > D = 4: K (36 x 36) has rank 4. Zero patches lower the rank further.
  for (int64_t zero_outside : {0, 3}) {
    CAPTURE(zero_outside);
    Problem pr = make_problem(2, 1, 7, 3, 2, {1, 0}, 5, DType::f64, zero_outside);
    std::vector<int> rank;
    Tensor oracle = eps_star_projection_f64(pr.cols, pr.sigma, pr.eps, &rank);
    std::vector<int32_t> iters;
    R2G2Options s;
    Tensor got = solve_m_direct(pr, s, &iters);
    CHECK(max_system_rel_err(got, oracle) < 1e-5);
    for (size_t i = 0; i < iters.size(); ++i) {
      CHECK(iters[i] <= rank[i]);  // converged within the rank, never run to P
      CHECK(iters[i] <= pr.d);
    }
    // Trap 1: a tolerance that cannot be met must not let CG run past the rank bound and
    // diverge on the singular K: the result stays the projection.
    s.tol = 1e-300;
    Tensor capped = solve_m_direct(pr, s, &iters);
    for (int32_t it : iters) CHECK(it <= pr.d);
    CHECK(all_finite(capped));
    CHECK(max_system_rel_err(capped, oracle) < 1e-5);
  }
}

TEST_CASE("conv solve: large P x P systems (K applied matrix-free) match the projection") {
  // D P² = 288 * 196² > 2^23: the CPU solver applies K without forming it (small systems
  // take the explicit-K path that every other test here exercises).
  Problem pr = make_problem(1, 32, 14, 2, 3, {1, 1}, 23, DType::f32);  // D = 288, P = 196
  REQUIRE(pr.d * pr.p * pr.p > (int64_t{1} << 23));
  Tensor oracle = eps_star_projection_f64(pr.cols, pr.sigma, pr.eps);
  R2G2Diagnostics diag;
  R2G2Options o;
  Tensor got = eps_star_dense(solve_eps_star(pr.cols, pr.sigma, pr.eps, o, &diag), pr.cols, pr.sigma);
  CHECK(diag.method == "cg (P x P)");
  CHECK(diag.max_iterations <= 196);
  CHECK(max_system_rel_err(got, oracle) < 1e-5);
  o.solver = R2G2Solver::paper;  // and the paper's truncation on the same path
  o.max_iters = 0;
  got = eps_star_dense(solve_eps_star(pr.cols, pr.sigma, pr.eps, o, &diag), pr.cols, pr.sigma);
  Tensor se = reshape(mul(pr.sigma, pr.eps), {1, 2, pr.d}).to(DType::f64);
  Tensor cols64 = pr.cols.to(DType::f64);
  Tensor expect =
      mul(matmul(matmul(se, cols64), cols64.transpose(1, 2)), reshape(pr.sigma.to(DType::f64), {1, 2, pr.d}));
  CHECK(max_system_rel_err(got, expect) < 1e-5);
}

TEST_CASE("conv solve: degenerate systems give eps* = 0, never NaN") {
  Problem pr = make_problem(2, 2, 5, 3, 3, {1, 0}, 9);  // D = 18, P = 9
  // Image 1 all zero; channel 2's sigma all zero.
  auto xv = pr.x.to_vector();
  std::fill(xv.begin() + 2 * 25, xv.end(), 0.0);
  pr.x = Tensor::from_vector(xv, pr.x.shape(), DType::f64);
  pr.cols = im2col(pr.x, 3, 3, {1, 0});
  auto sv = pr.sigma.to_vector();
  std::fill(sv.begin() + 2 * pr.d, sv.end(), 0.0);
  pr.sigma = Tensor::from_vector(sv, pr.sigma.shape(), DType::f64);
  for (R2G2Solver sol : {R2G2Solver::cg, R2G2Solver::exact, R2G2Solver::paper}) {
    CAPTURE(static_cast<int>(sol));
    R2G2Diagnostics diag;
    Tensor got =
        eps_star_dense(solve_eps_star(pr.cols, pr.sigma, pr.eps, solver(sol), &diag), pr.cols, pr.sigma);
    REQUIRE(all_finite(got));
    CHECK(std::isfinite(diag.noise_removed));
    auto v = got.to_vector();
    for (int64_t n = 0; n < 2; ++n)
      for (int64_t c = 0; c < 3; ++c) {
        double norm = 0;
        for (int64_t i = 0; i < pr.d; ++i) norm += std::abs(v[(n * 3 + c) * pr.d + i]);
        if (n == 1 || c == 2)
          CHECK(norm == 0.0);
        else
          CHECK(norm > 0.1);
      }
  }
  // The D x D form (D < P) on an all-zero image and a zero sigma.
  Problem q = make_problem(1, 1, 6, 2, 2, {1, 0}, 3);
  Tensor zero_x = Tensor::zeros(q.x.shape(), DType::f64);
  Tensor got = eps_star_dense(
      solve_eps_star(im2col(zero_x, 2, 2, {1, 0}), q.sigma, q.eps, solver(R2G2Solver::cg), nullptr), q.cols,
      q.sigma);
  CHECK(got.to_vector() == std::vector<double>(static_cast<size_t>(2 * q.d), 0.0));
  got = eps_star_dense(solve_eps_star(q.cols, Tensor::zeros(q.sigma.shape(), DType::f64), q.eps,
                                      solver(R2G2Solver::cg), nullptr),
                       q.cols, q.sigma);
  CHECK(got.to_vector() == std::vector<double>(static_cast<size_t>(2 * q.d), 0.0));
}

TEST_CASE("conv solve: full column rank gives eps* = eps and says so") {
  // D = 4 < P = 25, random patches: every A_nc has full column rank.
  Problem pr = make_problem(2, 1, 6, 3, 2, {1, 0}, 21);
  R2G2Diagnostics diag;
  ConvEpsStar e = solve_eps_star(pr.cols, pr.sigma, pr.eps, solver(R2G2Solver::cg), &diag);
  CHECK(e.eps_star.defined());  // the D x D form
  Tensor eps_per_system =
      add(Tensor::zeros({pr.n, pr.o, pr.d}, DType::f64), reshape(pr.eps, {1, pr.o, pr.d}));
  CHECK(max_system_rel_err(eps_star_dense(e, pr.cols, pr.sigma), eps_per_system) < 1e-9);
  CHECK(std::abs(diag.noise_removed) < 1e-9);
  CHECK(diag.method.find("identity") != std::string::npos);
  // P < D removes noise, and the read-out says how much: 1 - |eps*|² / |eps|².
  Problem q = make_problem(2, 3, 5, 3, 3, {1, 0}, 22);  // D = 27, P = 9
  Tensor oracle = eps_star_projection_f64(q.cols, q.sigma, q.eps);
  solve_eps_star(q.cols, q.sigma, q.eps, solver(R2G2Solver::cg), &diag);
  double kept = 0, all = 0;
  for (double v : oracle.to_vector()) kept += v * v;
  for (double v : q.eps.to_vector()) all += 2 * v * v;
  CHECK(diag.noise_removed == doctest::Approx(1 - kept / all).epsilon(1e-6));
  CHECK(diag.noise_removed > 0.3);  // rank 9 of 27 keeps about a third
  CHECK(diag.method == "cg (P x P)");
}

TEST_CASE("conv solve: the paper's truncated CG") {
  Problem pr = make_problem(2, 3, 5, 3, 3, {1, 0}, 31);  // D = 27, P = 9
  R2G2Options o = solver(R2G2Solver::paper);
  // No iteration: beta = x0 = rhs = Xᵀ (s ⊙ eps), so eps* = s ⊙ X Xᵀ (s ⊙ eps).
  o.max_iters = 0;
  R2G2Diagnostics diag;
  Tensor got = eps_star_dense(solve_eps_star(pr.cols, pr.sigma, pr.eps, o, &diag), pr.cols, pr.sigma);
  CHECK(diag.max_iterations == 0);
  CHECK(diag.method.find("paper") != std::string::npos);
  Tensor se =
      add(Tensor::zeros({pr.n, pr.o, pr.d}, DType::f64), reshape(mul(pr.sigma, pr.eps), {1, pr.o, pr.d}));
  Tensor rhs = matmul(se, pr.cols);  // [N, O, P]
  Tensor expect = mul(matmul(rhs, pr.cols.transpose(1, 2)), reshape(pr.sigma, {1, pr.o, pr.d}));
  CHECK(max_system_rel_err(got, expect) < 1e-12);
  // A small budget stops early (biased), never past max_iters; with a tiny abs_tol and a
  // large budget it runs to the rank bound and reaches the projection.
  o.max_iters = 2;
  got = eps_star_dense(solve_eps_star(pr.cols, pr.sigma, pr.eps, o, &diag), pr.cols, pr.sigma);
  Tensor oracle = eps_star_projection_f64(pr.cols, pr.sigma, pr.eps);
  CHECK(diag.max_iterations == 2);
  CHECK(max_system_rel_err(got, oracle) > 1e-3);
  o.max_iters = 1000;
  o.abs_tol = 1e-12;
  got = eps_star_dense(solve_eps_star(pr.cols, pr.sigma, pr.eps, o, &diag), pr.cols, pr.sigma);
  CHECK(diag.max_iterations <= 9);
  CHECK(max_system_rel_err(got, oracle) < 1e-5);
}

TEST_CASE("conv solve: bad arguments name the shapes") {
  Problem pr = make_problem(1, 2, 4, 3, 3, {1, 0}, 1);
  CHECK_THROWS_WITH_AS(solve_eps_star(pr.cols, Tensor::zeros({3, 5}, DType::f64), pr.eps, {}, nullptr),
                       doctest::Contains("[3, 5]"), Error);
  CHECK_THROWS_WITH_AS(solve_eps_star(pr.cols, pr.sigma, pr.eps.to(DType::f32), {}, nullptr),
                       doctest::Contains("float32"), Error);
  R2G2Options bad;
  bad.tol = 0;
  CHECK_THROWS_WITH_AS(solve_eps_star(pr.cols, pr.sigma, pr.eps, bad, nullptr), doctest::Contains("tol"),
                       Error);
}
