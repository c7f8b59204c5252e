// kernels/cuda/r2g2_conv.cu under the emulator, against kernels/cpu/r2g2_conv and a
// float64 oracle: the projection eps* = Aᵀ K⁺ A eps of eps onto the row space of A.
//
// Each CG iteration costs the emulator tens of thousands of fiber switches, so the
// problems are small, and those at the warp and block boundaries are built so that CG
// needs a handful of iterations whatever their size (see structured()).
#include "emulator/cuda_emulator.h"
#include "r2g2/kernels/cuda/r2g2_conv.cu"
#include "r2g2/kernels/cpu/r2g2_conv.h"
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
namespace detail = r2g2::kernels::cuda::r2g2_conv_detail;
using r2g2::kernels::ConvGeom;
using r2g2::kernels::im2col_matrices_geom;
using r2g2::kernels::R2G2Options;
using r2g2::kernels::R2G2Solver;
using r2g2::kernels::R2G2SolveStats;
using namespace r2g2::test::emulated;

template <class T>
using Problem = ConvSolveProblem<T>;

template <class T>
Problem<T> shape(int64_t n, int64_t o, int64_t d, int64_t p) {
  Problem<T> pr;
  pr.n = n;
  pr.o = o;
  pr.d = d;
  pr.p = p;
  return pr;
}

// X uniform in [-1, 1), sigma in [0.5, 1.5), eps in [-2, 2).
template <class T>
Problem<T> dense(int64_t n, int64_t o, int64_t d, int64_t p, uint64_t seed) {
  Problem<T> pr = shape<T>(n, o, d, p);
  pr.cols = values<T>(n * d * p, seed);
  pr.sigma = values<T>(o * d, seed + 1, 0.5, 1.5);
  pr.eps = values<T>(o * d, seed + 2, -2.0, 2.0);
  return pr;
}

// X_n = Π_n + u_n v_nᵀ / 4: Π_n pairs every row with its own position (or every position
// with its own row, whichever is fewer) with a sign, u and v are uniform in [-1, 1). X_n
// is dense, yet with sigma taking two values K = X_nᵀ S² X_n (or G_n = X_n X_nᵀ seen
// through S) is a rank-2 update of a diagonal with two distinct values: at most six
// distinct eigenvalues, so CG converges in about six iterations at any size.
template <class T>
Problem<T> structured(int64_t n, int64_t o, int64_t d, int64_t p, uint64_t seed) {
  Problem<T> pr = shape<T>(n, o, d, p);
  pr.cols.resize(n * d * p);
  const int64_t pairs = std::min(d, p);
  for (int64_t img = 0; img < n; ++img) {
    const auto u = values<double>(d, seed + 10 * img), v = values<double>(p, seed + 10 * img + 1);
    for (int64_t r = 0; r < d; ++r)
      for (int64_t q = 0; q < p; ++q) pr.x(img, r, q) = static_cast<T>(u[r] * v[q] / 4);
    // Row r pairs with position (r * 7 + img) mod pairs (7 is prime to every size used).
    for (int64_t k = 0; k < pairs; ++k) {
      const int64_t r = d <= p ? k : (k * 7 + img) % pairs, q = d <= p ? (k * 7 + img) % pairs : k;
      pr.x(img, r, q) = static_cast<T>((k % 3 == 0 ? -1.0 : 1.0) + u[r] * v[q] / 4);
    }
  }
  pr.sigma.resize(o * d);
  for (int64_t i = 0; i < o * d; ++i) pr.sigma[i] = static_cast<T>((i * 5) % 3 == 0 ? 0.6 : 1.3);
  pr.eps = values<T>(o * d, seed + 2, -2.0, 2.0);
  return pr;
}

// eps*_nc in float64: eps_c projected onto span{s_c ⊙ X_n[:, q]} by Gram-Schmidt with
// column pivoting and a second orthogonalisation pass. Directions left with less than
// 1e-10 of the largest column norm count as dependent: exactly dependent columns (zero
// ones, zero sigma rows, more positions than rows) leave rounding, ~1e-16, and the
// problems here keep every genuine direction above 1e-4 of it.
template <class T>
std::vector<double> projection(const Problem<T>& pr, std::vector<int>* rank_out = nullptr) {
  const int64_t D = pr.d, P = pr.p;
  std::vector<double> out(pr.systems() * D, 0.0), V(P * D), norm(P), Q, q(D);
  std::vector<char> used(P);
  if (rank_out) rank_out->assign(pr.systems(), 0);
  auto dot = [D](const double* a, const double* b) {
    double s = 0;
    for (int64_t i = 0; i < D; ++i) s += a[i] * b[i];
    return s;
  };
  for (int64_t n = 0; n < pr.n; ++n)
    for (int64_t c = 0; c < pr.o; ++c) {
      double max_norm = 0;
      for (int64_t j = 0; j < P; ++j) {
        for (int64_t r = 0; r < D; ++r)
          V[j * D + r] =
              static_cast<double>(pr.sigma[c * D + r]) * static_cast<double>(pr.cols[(n * D + r) * P + j]);
        norm[j] = std::sqrt(dot(&V[j * D], &V[j * D]));
        max_norm = std::max(max_norm, norm[j]);
        used[j] = 0;
      }
      Q.clear();
      int rank = 0;
      while (rank < std::min(D, P)) {
        int64_t best = -1;
        for (int64_t j = 0; j < P; ++j)
          if (!used[j] && (best < 0 || norm[j] > norm[best])) best = j;
        if (best < 0 || !(norm[best] > 1e-10 * max_norm)) break;
        used[best] = 1;
        std::copy(&V[best * D], &V[best * D] + D, q.begin());
        for (int pass = 0; pass < 2; ++pass)
          for (int i = 0; i < rank; ++i) {
            const double a = dot(&Q[i * D], q.data());
            for (int64_t r = 0; r < D; ++r) q[r] -= a * Q[i * D + r];
          }
        const double qn = std::sqrt(dot(q.data(), q.data()));
        if (!(qn > 1e-10 * max_norm)) continue;
        for (double& v : q) v /= qn;
        Q.insert(Q.end(), q.begin(), q.end());
        ++rank;
        for (int64_t j = 0; j < P; ++j) {
          if (used[j]) continue;
          const double a = dot(q.data(), &V[j * D]);
          for (int64_t r = 0; r < D; ++r) V[j * D + r] -= a * q[r];
          norm[j] = std::sqrt(dot(&V[j * D], &V[j * D]));
        }
      }
      std::vector<double> e(D);
      for (int64_t r = 0; r < D; ++r) e[r] = static_cast<double>(pr.eps[c * D + r]);
      double* es = out.data() + (n * pr.o + c) * D;
      for (int i = 0; i < rank; ++i) {
        const double a = dot(&Q[i * D], e.data());
        for (int64_t r = 0; r < D; ++r) es[r] += a * Q[i * D + r];
      }
      if (rank_out) (*rank_out)[n * pr.o + c] = rank;
    }
  return out;
}

struct Solved {
  std::vector<double> eps_star;  // [N, O, D], formed in double
  std::vector<double> beta;      // [N, O, P], m-space only
  std::vector<int32_t> iterations;
  std::vector<double> rel_residual, star_sq;
  std::vector<double> gram;  // D-space only
};

R2G2SolveStats stats_of(Solved& out, int64_t systems) {
  out.iterations.assign(systems, -1);
  out.rel_residual.assign(systems, std::nan(""));
  out.star_sq.assign(systems, std::nan(""));
  return {out.iterations.data(), out.rel_residual.data(), out.star_sq.data()};
}

template <class T>
Solved solve_m(const Problem<T>& pr, const R2G2Options& s, bool on_gpu, bool with_stats = true) {
  std::vector<T> beta(pr.systems() * pr.p, std::numeric_limits<T>::quiet_NaN());
  Solved out;
  const R2G2SolveStats st = with_stats ? stats_of(out, pr.systems()) : R2G2SolveStats{};
  if (on_gpu)
    gpu::r2g2_conv_solve_m<T>(pr.cols.data(), pr.sigma.data(), pr.eps.data(), beta.data(), st, pr.geom(), s);
  else
    cpu::r2g2_conv_solve_m<T>(pr.cols.data(), pr.sigma.data(), pr.eps.data(), beta.data(), st, pr.geom(), s);
  out.beta.assign(beta.begin(), beta.end());
  // eps*_nc = s_c ⊙ (X_n beta_nc), from the returned beta.
  out.eps_star.assign(pr.systems() * pr.d, 0.0);
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
Solved solve_d(const Problem<T>& pr, const R2G2Options& s, bool on_gpu, bool with_stats = true) {
  std::vector<T> eps_star(pr.systems() * pr.d, std::numeric_limits<T>::quiet_NaN());
  Solved out;
  out.gram.assign(pr.n * pr.d * pr.d, std::nan(""));
  const R2G2SolveStats st = with_stats ? stats_of(out, pr.systems()) : R2G2SolveStats{};
  if (on_gpu)
    gpu::r2g2_conv_solve_d<T>(pr.cols.data(), pr.sigma.data(), pr.eps.data(), eps_star.data(),
                              out.gram.data(), st, pr.geom(), s);
  else
    cpu::r2g2_conv_solve_d<T>(pr.cols.data(), pr.sigma.data(), pr.eps.data(), eps_star.data(),
                              out.gram.data(), st, pr.geom(), s);
  out.eps_star.assign(eps_star.begin(), eps_star.end());
  return out;
}

template <class T>
Solved solve(bool d_space, const Problem<T>& pr, const R2G2Options& s, bool on_gpu) {
  return d_space ? solve_d(pr, s, on_gpu) : solve_m(pr, s, on_gpu);
}

double norm_of(const double* v, int64_t len) {
  double s = 0;
  for (int64_t i = 0; i < len; ++i) s += v[i] * v[i];
  return std::sqrt(s);
}

// Per system |got - want| / |want|; a system whose want is 0 must come back exactly 0
// (infinite error otherwise).
std::vector<double> system_errors(const std::vector<double>& got, const std::vector<double>& want,
                                  int64_t len) {
  REQUIRE(got.size() == want.size());
  std::vector<double> err(want.size() / len);
  for (size_t k = 0; k < err.size(); ++k) {
    std::vector<double> diff(len);
    for (int64_t i = 0; i < len; ++i) diff[i] = got[k * len + i] - want[k * len + i];
    const double w = norm_of(&want[k * len], len), dn = norm_of(diff.data(), len);
    err[k] = w > 0 ? dn / w : (dn == 0 ? 0.0 : std::numeric_limits<double>::infinity());
  }
  return err;
}

double worst(const std::vector<double>& errors) {
  double m = 0;
  for (double e : errors) m = std::max(m, std::isnan(e) ? std::numeric_limits<double>::infinity() : e);
  return m;
}

// The oracle tests stop CG at a relative residual of 1e-10. eps* then differs from the
// projection by at most κ⁺(A) * 1e-10 relative (|Δeps*| <= |r| / σ_min⁺(A), |b| <= σ_max(A)
// |eps*|; κ⁺ over the nonzero singular values), plus the rounding of the output: 2^-24
// relative for eps* in float, κ⁺(A) 2^-24 for eps* formed from a float beta. The random
// and structured problems here have κ⁺(A) of order 10 (those in float: X at least about
// twice as long as it is wide, or the structure above), so both terms stay below 1e-6,
// and the ill-conditioned ones below run in double with κ⁺(A) ~ 1e4. 1e-5 is the
// estimator suite's bound (estimators/README.md).
constexpr double kOracleTol = 1e-5;

R2G2Options tight() {
  R2G2Options s;
  s.tol = 1e-10;
  return s;
}

// The GPU against the oracle and the CPU, system by system: eps* within kOracleTol of the
// projection (and the CPU too, so that the bound is the reference's), the same iterations,
// both converged, |eps*|² as reported matching. In double the two solves differ
// only in summation order and in the re-orthogonalisation variant (classical twice on the
// GPU, modified once on the CPU), rounding of ~1e-16 that these problems (κ(K) <= 1e5)
// amplify to far below 1e-9.
template <class T>
void check_against_oracle_and_cpu(const Problem<T>& pr, const Solved& g, const Solved& c,
                                  const R2G2Options& s, const std::vector<double>& want) {
  const auto gpu_err = system_errors(g.eps_star, want, pr.d), cpu_err = system_errors(c.eps_star, want, pr.d);
  CHECK(worst(cpu_err) <= kOracleTol);
  CHECK(worst(gpu_err) <= kOracleTol);
  if (std::is_same_v<T, double>) CHECK(worst(system_errors(g.eps_star, c.eps_star, pr.d)) <= 1e-9);
  for (int64_t k = 0; k < pr.systems(); ++k) {
    CAPTURE(k);
    CHECK(g.iterations[k] == c.iterations[k]);
    CHECK(g.rel_residual[k] <= s.tol);
    CHECK(c.rel_residual[k] <= s.tol);
    const double want_sq = norm_of(&want[k * pr.d], pr.d) * norm_of(&want[k * pr.d], pr.d);
    // Twice the relative error of eps* bounds that of its squared norm.
    CHECK(std::abs(g.star_sq[k] - want_sq) <= 2 * kOracleTol * want_sq);
    CHECK(std::abs(g.star_sq[k] - c.star_sq[k]) <= 1e-9 * want_sq);
  }
}

struct Shape {
  int64_t n, o, d, p;
};

template <class T>
void oracle_suite(bool d_space, const std::vector<Shape>& shapes, bool structured_problem, uint64_t seed) {
  const R2G2Options s = tight();
  for (const Shape& sh : shapes) {
    CAPTURE(sh.n);
    CAPTURE(sh.o);
    CAPTURE(sh.d);
    CAPTURE(sh.p);
    const Problem<T> pr = structured_problem ? structured<T>(sh.n, sh.o, sh.d, sh.p, seed)
                                             : dense<T>(sh.n, sh.o, sh.d, sh.p, seed);
    const Solved g = solve(d_space, pr, s, true), c = solve(d_space, pr, s, false);
    check_against_oracle_and_cpu(pr, g, c, s, projection(pr));
    if (d_space) check_equal(g.gram, c.gram);  // the same products summed in the same order
  }
}

}  // namespace

// Which of rows_times and cols_times takes a warp per entry depends on whether P and D
// reach 32 (K v = Xᵀ (s² ⊙ X v) walks X along rows of length P and down columns of length
// D; M v walks G along rows of length D); vectors stride by the 128 threads of a block.
// Shapes with P > D (m-space) or D > P (D-space) are singular systems of rank min(D, P).
// float differs from double only in the loads and stores, so it takes the cheaper shapes.
TEST_CASE_TEMPLATE("r2g2_conv: m-space eps* matches the float64 projection and the CPU at awkward sizes", T,
                   float, double) {
  FreshDevice fresh;
  oracle_suite<T>(false, {{1, 1, 1, 1}, {1, 1, 2, 129}}, true, 5);
  if (std::is_same_v<T, double>)
    oracle_suite<T>(false, {{2, 1, 33, 1}, {1, 1, 129, 3}, {1, 1, 32, 33}, {1, 1, 33, 31}, {1, 1, 31, 32}},
                    true, 6);
  oracle_suite<T>(false, {{2, 2, 6, 3}, {1, 1, 5, 9}}, false, 7);
}

TEST_CASE_TEMPLATE("r2g2_conv: D-space eps* matches the float64 projection and the CPU at awkward sizes", T,
                   float, double) {
  FreshDevice fresh;
  oracle_suite<T>(true, {{1, 1, 1, 2}, {1, 2, 1, 33}}, true, 8);
  if (std::is_same_v<T, double>)
    oracle_suite<T>(true, {{1, 1, 129, 2}, {1, 1, 33, 40}, {1, 1, 31, 40}, {1, 1, 32, 40}}, true, 9);
  oracle_suite<T>(true, {{2, 2, 3, 7}, {1, 1, 6, 3}}, false, 10);
}

// Dead ReLU positions (zero columns of X_n), zero sigma entries, a channel whose sigma is 0
// and an all-zero image: rank below min(D, P), and systems whose right-hand side is 0.
template <class T>
Problem<T> degenerate(int64_t d, int64_t p, uint64_t seed) {
  Problem<T> pr = dense<T>(2, 3, d, p, seed);
  for (int64_t q = 1; q < p; q += 2) pr.kill_position(0, q);
  for (int64_t q = 0; q < p; ++q) pr.kill_position(1, q);      // image 1 all zero
  for (int64_t r = 0; r < d; ++r) pr.sigma[1 * d + r] = T(0);  // channel 1
  pr.sigma[2 * d + 1] = pr.sigma[2 * d + d - 1] = T(0);
  return pr;
}

TEST_CASE_TEMPLATE("r2g2_conv: rank-deficient systems match the projection and all-zero ones give exactly 0",
                   T, float, double) {
  FreshDevice fresh;
  const R2G2Options s = tight();
  for (bool d_space : {false, true}) {
    CAPTURE(d_space);
    // Image 0: m-space P = 6 < D = 8 with 3 positions dead, rank 3; D-space D = 5 < P = 9
    // with 4 dead, rank 5, and 3 once two sigma entries are 0 (channel 2).
    const Problem<T> pr = d_space ? degenerate<T>(5, 9, 21) : degenerate<T>(8, 6, 22);
    std::vector<int> rank;
    const auto want = projection(pr, &rank);
    CHECK(rank[0] == (d_space ? 5 : 3));
    CHECK(rank[2] == 3);
    const Solved g = solve(d_space, pr, s, true), c = solve(d_space, pr, s, false);
    check_against_oracle_and_cpu(pr, g, c, s, want);
    for (int64_t n = 0; n < pr.n; ++n)
      for (int64_t ch = 0; ch < pr.o; ++ch) {
        const int64_t k = n * pr.o + ch;
        CAPTURE(k);
        CHECK(g.iterations[k] <= rank[k]);  // CG ends within the rank, not at the bound
        if (n == 1 || ch == 1) {
          CHECK(rank[k] == 0);
          CHECK(g.iterations[k] == 0);
          CHECK(g.rel_residual[k] == 0.0);
          CHECK(g.star_sq[k] == 0.0);
          for (int64_t r = 0; r < pr.d; ++r) CHECK(g.eps_star[k * pr.d + r] == 0.0);
        }
      }
  }
}

// The paper's truncated CG (m-space only): x0 = rhs, stop when every |r_i| < abs_tol or at
// min(max_iters, rank bound). Not the projection, so the CPU is the reference: the same
// iterations, and beta equal to the rounding of the same double value (the two differ by
// ~1e-15 relative before rounding).
TEST_CASE_TEMPLATE("r2g2_conv: the paper's truncated solver follows the CPU", T, float, double) {
  FreshDevice fresh;
  Problem<T> pr = dense<T>(1, 3, 9, 5, 31);
  pr.kill_position(0, 2);
  for (int64_t r = 0; r < pr.d; ++r) pr.sigma[pr.d + r] = T(0);  // channel 1: rhs = 0
  struct Setting {
    int max_iters;
    double abs_tol;
  };
  // No iteration, truncated by max_iters, by abs_tol, by the rank bound (5), converged at x0.
  for (Setting st :
       {Setting{0, 1e-3}, Setting{2, 1e-3}, Setting{10, 1e-3}, Setting{10, 1e-14}, Setting{10, 100.0}}) {
    CAPTURE(st.max_iters);
    CAPTURE(st.abs_tol);
    R2G2Options s;
    s.solver = R2G2Solver::paper;
    s.max_iters = st.max_iters;
    s.abs_tol = st.abs_tol;
    const Solved g = solve_m(pr, s, true), c = solve_m(pr, s, false);
    const double ulp = std::is_same_v<T, float> ? 0x1p-23 : 0x1p-52;
    for (int64_t k = 0; k < pr.systems(); ++k) {
      CAPTURE(k);
      CHECK(g.iterations[k] == c.iterations[k]);
      CHECK(g.iterations[k] <= std::min<int64_t>(st.max_iters, std::min(pr.d, pr.p)));
      // Residuals that CG drove to rounding level (~1e-16 and below) are noise on both sides.
      CHECK(std::abs(g.rel_residual[k] - c.rel_residual[k]) <= 1e-9 * c.rel_residual[k] + 1e-13);
      double scale = 0;
      for (int64_t q = 0; q < pr.p; ++q) scale = std::max(scale, std::abs(c.beta[k * pr.p + q]));
      for (int64_t q = 0; q < pr.p; ++q) {
        const double gb = g.beta[k * pr.p + q], cb = c.beta[k * pr.p + q];
        CHECK(std::abs(gb - cb) <= 2 * ulp * std::abs(cb) + 1e-12 * scale);
      }
      // |eps*|² as reported is that of eps* = s ⊙ X beta (with beta in double; the float
      // beta moves it by 2^-24 times κ⁺(A), about 10 here).
      const double sq = norm_of(&g.eps_star[k * pr.d], pr.d) * norm_of(&g.eps_star[k * pr.d], pr.d);
      CHECK(std::abs(g.star_sq[k] - sq) <= 1e-5 * sq);
      CHECK(std::abs(c.star_sq[k] - sq) <= 1e-5 * sq);
    }
  }
  // No iteration at all: beta is the right-hand side Xᵀ (s ⊙ eps).
  R2G2Options s;
  s.solver = R2G2Solver::paper;
  s.max_iters = 0;
  const Solved g = solve_m(pr, s, true);
  for (int64_t n = 0; n < pr.n; ++n)
    for (int64_t ch = 0; ch < pr.o; ++ch)
      for (int64_t q = 0; q < pr.p; ++q) {
        double rhs = 0;
        for (int64_t r = 0; r < pr.d; ++r)
          rhs += static_cast<double>(pr.cols[(n * pr.d + r) * pr.p + q]) *
                 static_cast<double>(pr.sigma[ch * pr.d + r]) * static_cast<double>(pr.eps[ch * pr.d + r]);
        CHECK(g.beta[(n * pr.o + ch) * pr.p + q] == doctest::Approx(static_cast<T>(rhs)).epsilon(1e-6));
      }
}

TEST_CASE("r2g2_conv: the statistics are optional and change nothing") {
  FreshDevice fresh;
  const Problem<double> pr = dense<double>(1, 1, 3, 2, 41);
  R2G2Options paper;
  paper.solver = R2G2Solver::paper;
  for (const R2G2Options& s : {R2G2Options{}, paper})
    CHECK(solve_m(pr, s, true, false).beta == solve_m(pr, s, true, true).beta);
  CHECK(solve_d(pr, {}, true, false).eps_star == solve_d(pr, {}, true, true).eps_star);
}

TEST_CASE("r2g2_conv: an empty problem launches nothing") {
  FreshDevice fresh;
  const int64_t before = r2g2_emu::launch_count();
  const R2G2SolveStats st;
  for (const ConvGeom& geom : {im2col_matrices_geom(0, 2, 3, 4), im2col_matrices_geom(2, 0, 3, 4),
                               im2col_matrices_geom(2, 2, 0, 4), im2col_matrices_geom(2, 2, 3, 0)}) {
    gpu::r2g2_conv_solve_m<float>(nullptr, nullptr, nullptr, nullptr, st, geom, {});
    gpu::r2g2_conv_solve_d<float>(nullptr, nullptr, nullptr, nullptr, nullptr, st, geom, {});
  }
  CHECK(r2g2_emu::launch_count() == before);
}

// Sets the shared memory a block may opt into; FreshDevice restores the default.
void set_shared_limit(size_t bytes) {
  r2g2_emu::device_properties().shared_per_block_optin = static_cast<int>(bytes);
  r2g2_emu::device_properties().shared_per_block =
      std::min(r2g2_emu::device_properties().shared_per_block, static_cast<int>(bytes));
}

// The launch plan of a solve, as the launchers compute it.
template <class T>
gpu::LaunchPlan plan_of(bool d_space, const Problem<T>& pr, const R2G2Options& s) {
  const int bound = static_cast<int>(std::min(pr.d, pr.p));
  if (d_space)
    return gpu::plan(pr.systems(), static_cast<int>(pr.d), static_cast<int>(pr.d), bound, pr.d, pr.d,
                     sizeof(double));
  const int cap = r2g2::kernels::iteration_cap(s, bound);
  return gpu::plan(pr.systems(), static_cast<int>(pr.p), static_cast<int>(pr.d), cap, pr.d, pr.p, sizeof(T));
}

// An ill-conditioned rank-deficient system: sigma graded over three decades, the columns
// of X over two, and dead positions (m-space) or zero sigma entries (D-space): rank 10 of
// 12, κ⁺(A) about 4e3 (m-space) and 8e3 (D-space), so K or M has condition ~1e7. Plain
// CG loses the orthogonality of its residuals at that condition and, capped at the rank
// bound, leaves eps* wrong in the first or second digit (relative errors 0.1 and 0.65
// for these two); re-orthogonalised CG ends at the rank with a residual at rounding level
// and eps* within ~1e-13.
Problem<double> ill_conditioned(bool d_space) {
  Problem<double> pr = d_space ? dense<double>(1, 1, 12, 16, 51) : dense<double>(1, 1, 16, 12, 52);
  for (int64_t r = 0; r < pr.d; ++r) {
    pr.sigma[r] = std::pow(10.0, -3.0 * r / (pr.d - 1));
    for (int64_t q = 0; q < pr.p; ++q) pr.x(0, r, q) *= std::pow(10.0, -2.0 * q / (pr.p - 1));
  }
  if (d_space) {
    pr.sigma[2] = pr.sigma[7] = 0;
  } else {
    pr.kill_position(0, 3);
    pr.kill_position(0, 8);
  }
  return pr;
}

// When the residual basis does not fit in shared memory it lives in global memory; it is
// never dropped. The VGG-11 conv2 layer on CIFAR (D = 576, P = 256) is such a case on an
// H200; here a lowered shared-memory limit sends a small system there.
TEST_CASE("r2g2_conv: re-orthogonalisation is kept when the residual basis does not fit on chip") {
  FreshDevice fresh;
  {
    Problem<float> vgg = shape<float>(128, 128, 576, 256);
    const gpu::LaunchPlan P = plan_of(false, vgg, {});
    CHECK(P.layout.vectors_on_chip);
    CHECK_FALSE(P.layout.basis_on_chip);
    CHECK(P.blocks * P.layout.slot_doubles() * sizeof(double) <= gpu::kSlotBudgetBytes);
  }
  R2G2Options s;
  s.tol = 1e-12;  // run to the rank: the error bound κ⁺(A) tol is ~1e-8 here
  for (bool d_space : {false, true}) {
    CAPTURE(d_space);
    const Problem<double> pr = ill_conditioned(d_space);
    const auto want = projection(pr);
    const Solved on_chip = solve(d_space, pr, s, true);
    const gpu::LaunchPlan full = plan_of(d_space, pr, s);
    REQUIRE(full.layout.basis_on_chip);
    // Room for the vectors, not for the basis.
    set_shared_limit((detail::kSolveWarps + full.layout.vector_doubles()) * sizeof(double));
    const gpu::LaunchPlan P = plan_of(d_space, pr, s);
    REQUIRE(P.layout.vectors_on_chip);
    REQUIRE_FALSE(P.layout.basis_on_chip);
    const auto before = r2g2_emu::memory_stats();
    const Solved g = solve(d_space, pr, s, true);
    const auto after = r2g2_emu::memory_stats();
    CHECK(after.allocations > before.allocations);  // the basis went to global scratch
    CHECK(after.bytes_in_use == before.bytes_in_use);
    CHECK(worst(system_errors(g.eps_star, want, pr.d)) <= kOracleTol);
    // Where the state lives changes no arithmetic.
    CHECK(g.eps_star == on_chip.eps_star);
    CHECK(g.iterations == on_chip.iterations);
    CHECK(g.rel_residual == on_chip.rel_residual);
    r2g2_emu::reset_device();
  }
}

// Systems whose CG vectors do not fit in shared memory either (m-space with P above about
// 7,200 on an H200) run with all their state in global memory, the grid capped so that
// blocks take several systems in turn. A shared-memory limit of a few bytes and a device
// of one multiprocessor (16 resident blocks) send small systems there.
TEST_CASE("r2g2_conv: systems too large for shared memory run from global memory") {
  FreshDevice fresh;
  {
    Problem<float> big = shape<float>(8, 16, 27, 7300);
    R2G2Options paper;
    paper.solver = R2G2Solver::paper;
    CHECK_FALSE(plan_of(false, big, paper).layout.vectors_on_chip);
    CHECK_FALSE(plan_of(false, big, {}).layout.vectors_on_chip);
  }
  // 17 systems on 16 blocks: block 0 solves systems 0 and 16 in turn. Only those two have
  // a right-hand side (the other channels have sigma = 0 and return at once), which keeps
  // the emulator's work small.
  Problem<double> pr = dense<double>(1, 17, 5, 3, 61);
  for (int64_t c = 1; c < 16; ++c)
    for (int64_t r = 0; r < pr.d; ++r) pr.sigma[c * pr.d + r] = 0;
  pr.kill_position(0, 1);
  const auto want = projection(pr);
  for (bool d_space : {false, true}) {
    CAPTURE(d_space);
    const Solved c = solve(d_space, pr, tight(), false);
    set_shared_limit(64);
    r2g2_emu::device_properties().multiprocessor_count = 1;
    const gpu::LaunchPlan P = plan_of(d_space, pr, tight());
    REQUIRE_FALSE(P.layout.vectors_on_chip);
    REQUIRE_FALSE(P.layout.tile);
    REQUIRE(P.blocks == gpu::kBlocksPerSM);
    REQUIRE(P.blocks < pr.systems());
    const Solved g = solve(d_space, pr, tight(), true);
    check_against_oracle_and_cpu(pr, g, c, tight(), want);
    r2g2_emu::reset_device();
  }
  // The paper's solver, against the same solver on chip: where the state lives changes no
  // arithmetic.
  const Problem<double> small = dense<double>(1, 2, 5, 3, 62);
  R2G2Options paper;
  paper.solver = R2G2Solver::paper;
  paper.max_iters = 2;
  const Solved on_chip = solve_m(small, paper, true);
  set_shared_limit(64);
  REQUIRE_FALSE(plan_of(false, small, paper).layout.vectors_on_chip);
  const Solved g = solve_m(small, paper, true);
  CHECK(g.beta == on_chip.beta);
  CHECK(g.iterations == on_chip.iterations);
  CHECK(g.rel_residual == on_chip.rel_residual);
  CHECK(g.star_sq == on_chip.star_sq);
}
