// kernels/cuda/r2g2_cg.cu under the emulator, against the CPU reference
// (kernels/cpu/r2g2_cg) and an independent projection oracle computed here in long double.
#include "emulator/cuda_emulator.h"
#include "r2g2/kernels/cuda/r2g2_cg.cu"
#include "r2g2/kernels/cpu/r2g2_cg.h"
#include "kernels/cuda/emulated_test_util.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

namespace {

namespace cpu = r2g2::kernels::cpu;
namespace gpu = r2g2::kernels::cuda;
namespace detail = r2g2::kernels::cuda::r2g2_cg_detail;
using r2g2::kernels::LatentSolve;
using r2g2::kernels::R2G2Solver;
using namespace r2g2::test::emulated;

template <class T>
struct Problem {
  int64_t N = 0;
  int m = 0, D = 0;
  std::vector<T> W, sigma, eps;  // [m, D], [N, D], [N, D]
};

// W [m, D] of exact rank r: U V^T with integer entries in [-2, 2], times 1/4, so that
// float32 holds it exactly and the rank deficiency is exact, not up to rounding.
template <class T>
std::vector<T> low_rank(int m, int D, int r, uint64_t seed) {
  const auto U = r2g2::test::uniform_values<double>(static_cast<size_t>(m) * r, seed, -2.5, 2.5, 21);
  const auto V = r2g2::test::uniform_values<double>(static_cast<size_t>(r) * D, seed, -2.5, 2.5, 22);
  std::vector<T> W(static_cast<size_t>(m) * D);
  for (int i = 0; i < m; ++i)
    for (int d = 0; d < D; ++d) {
      double acc = 0;
      for (int k = 0; k < r; ++k) acc += std::round(U[i * r + k]) * std::round(V[k * D + d]);
      W[static_cast<size_t>(i) * D + d] = static_cast<T>(0.25 * acc);
    }
  return W;
}

template <class T>
Problem<T> make_problem(int64_t N, int m, int D, int rank, uint64_t seed, double sigma_lo = 0.5,
                        double sigma_hi = 1.5) {
  Problem<T> p;
  p.N = N;
  p.m = m;
  p.D = D;
  p.W = rank < 0 ? values<T>(static_cast<size_t>(m) * D, seed) : low_rank<T>(m, D, rank, seed);
  p.sigma = values<T>(static_cast<size_t>(N) * D, seed + 1, sigma_lo, sigma_hi);
  // Roughly standard normal noise: the sum of three uniforms on [-1, 1].
  const auto a = values<double>(static_cast<size_t>(N) * D, seed + 2), b = values<double>(a.size(), seed + 3),
             c = values<double>(a.size(), seed + 4);
  p.eps.resize(a.size());
  for (size_t i = 0; i < a.size(); ++i) p.eps[i] = static_cast<T>(a[i] + b[i] + c[i]);
  return p;
}

struct Result {
  std::vector<double> eps_star;  // widened from T
  std::vector<int32_t> iterations;
  std::vector<double> residual;
};

// Output buffers start as NaN / -1 so that a system the launcher skips cannot pass.
template <class T, class Solver>
Result run_solver(const Problem<T>& p, const LatentSolve& s, Solver solve) {
  std::vector<T> out(p.eps.size(), std::numeric_limits<T>::quiet_NaN());
  std::vector<int32_t> it(static_cast<size_t>(p.N), -1);
  std::vector<double> res(static_cast<size_t>(p.N), std::numeric_limits<double>::quiet_NaN());
  solve(s, p.W.data(), p.sigma.data(), p.eps.data(), out.data(), it.data(), res.data());
  return {std::vector<double>(out.begin(), out.end()), it, res};
}
template <class T>
Result run_gpu(const Problem<T>& p, const LatentSolve& s) {
  return run_solver(p, s, gpu::r2g2_latent_cg<T>);
}
template <class T>
Result run_cpu(const Problem<T>& p, const LatentSolve& s) {
  return run_solver(p, s, cpu::r2g2_latent_cg<T>);
}

// cg capped at rank_bound iterations (the paper's solver also at settings.max_iters).
LatentSolve solve_for(int64_t N, int m, int D, bool d_space, int rank_bound) {
  LatentSolve s;
  s.systems = N;
  s.m = m;
  s.D = D;
  s.d_space = d_space;
  s.rank_bound = rank_bound;
  return s;
}

int cap_of(const LatentSolve& s) { return r2g2::kernels::iteration_cap(s.settings, s.rank_bound); }

// ---- the oracle ---------------------------------------------------------------------------
// Per system: an orthonormal basis Q of the row space of A = W diag(sigma) by modified
// Gram-Schmidt with a second pass, in long double; eps* = Q^T Q eps. With A = L Q, the
// singular values of A are those of L, from a Jacobi eigen-decomposition of L^T L.
struct Exact {
  std::vector<double> eps_star;  // [N, D]
  std::vector<double> kappa;     // largest over smallest nonzero singular value of A_n (1 if A_n = 0)
  std::vector<int> rank;
};

using LD = long double;

// Eigenvalues of a symmetric n x n matrix (row-major), cyclic Jacobi.
std::vector<LD> eigenvalues(std::vector<LD> a, int n) {
  for (int sweep = 0; sweep < 60; ++sweep) {
    LD off = 0, all = 0;
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < n; ++j) {
        all += a[i * n + j] * a[i * n + j];
        if (i != j) off += a[i * n + j] * a[i * n + j];
      }
    if (off <= 1e-36L * all) break;
    for (int p = 0; p < n; ++p)
      for (int q = p + 1; q < n; ++q) {
        const LD apq = a[p * n + q];
        if (apq == 0) continue;
        const LD theta = (a[q * n + q] - a[p * n + p]) / (2 * apq);
        const LD t = (theta >= 0 ? 1 : -1) / (std::fabs(theta) + std::sqrt(theta * theta + 1));
        const LD c = 1 / std::sqrt(t * t + 1), s = t * c;
        for (int r = 0; r < n; ++r) {
          const LD arp = a[r * n + p], arq = a[r * n + q];
          a[r * n + p] = c * arp - s * arq;
          a[r * n + q] = s * arp + c * arq;
        }
        for (int r = 0; r < n; ++r) {
          const LD apr = a[p * n + r], aqr = a[q * n + r];
          a[p * n + r] = c * apr - s * aqr;
          a[q * n + r] = s * apr + c * aqr;
        }
      }
  }
  std::vector<LD> w(n);
  for (int i = 0; i < n; ++i) w[i] = a[i * n + i];
  return w;
}

template <class T>
Exact project(const Problem<T>& p) {
  const int m = p.m, D = p.D;
  Exact ex;
  ex.eps_star.assign(p.eps.size(), 0.0);
  ex.kappa.assign(p.N, 1.0);
  ex.rank.assign(p.N, 0);
  for (int64_t n = 0; n < p.N; ++n) {
    std::vector<std::vector<LD>> Q, L;  // L: coefficients of each row of A on Q
    for (int i = 0; i < m; ++i) {
      std::vector<LD> v(D);
      LD norm0 = 0;
      for (int d = 0; d < D; ++d) {
        v[d] = static_cast<LD>(p.W[static_cast<size_t>(i) * D + d]) * static_cast<LD>(p.sigma[n * D + d]);
        norm0 += v[d] * v[d];
      }
      std::vector<LD> coef(Q.size() + 1, 0);
      for (int pass = 0; pass < 2; ++pass)
        for (size_t j = 0; j < Q.size(); ++j) {
          LD c = 0;
          for (int d = 0; d < D; ++d) c += Q[j][d] * v[d];
          for (int d = 0; d < D; ++d) v[d] -= c * Q[j][d];
          coef[j] += c;
        }
      LD norm = 0;
      for (int d = 0; d < D; ++d) norm += v[d] * v[d];
      norm = std::sqrt(norm);
      // The problems here are exactly rank deficient or far from it: a dependent row
      // leaves ~1e-19 of its norm, an independent one more than 1e-9.
      if (norm > 1e-12L * std::sqrt(norm0) && norm0 > 0) {
        for (int d = 0; d < D; ++d) v[d] /= norm;
        Q.push_back(v);
        coef.back() = norm;
      }
      L.push_back(coef);
    }
    const int r = static_cast<int>(Q.size());
    ex.rank[n] = r;
    for (int d = 0; d < D; ++d) {
      LD acc = 0;
      for (int j = 0; j < r; ++j) {
        LD qe = 0;
        for (int c = 0; c < D; ++c) qe += Q[j][c] * static_cast<LD>(p.eps[n * D + c]);
        acc += Q[j][d] * qe;
      }
      ex.eps_star[n * D + d] = static_cast<double>(acc);
    }
    if (r == 0) continue;
    std::vector<LD> G(static_cast<size_t>(r) * r, 0);
    for (const auto& row : L)
      for (int a = 0; a < r && a < static_cast<int>(row.size()); ++a)
        for (int b = 0; b < r && b < static_cast<int>(row.size()); ++b) G[a * r + b] += row[a] * row[b];
    const auto lam = eigenvalues(G, r);
    const LD hi = *std::max_element(lam.begin(), lam.end()), lo = *std::min_element(lam.begin(), lam.end());
    ex.kappa[n] = static_cast<double>(std::sqrt(hi / lo));
  }
  return ex;
}

double norm2(const double* v, int n) {
  double s = 0;
  for (int i = 0; i < n; ++i) s += v[i] * v[i];
  return std::sqrt(s);
}

// ||got - exact|| / ||exact|| for system n (0 when both are 0, infinity when only exact is).
double system_error(const std::vector<double>& got, const std::vector<double>& exact, int64_t n, int D) {
  std::vector<double> diff(D);
  for (int d = 0; d < D; ++d) diff[d] = got[n * D + d] - exact[n * D + d];
  const double e = norm2(diff.data(), D), x = norm2(exact.data() + n * D, D);
  if (x == 0) return e == 0 ? 0.0 : std::numeric_limits<double>::infinity();
  return e / x;
}

// What a solve with true relative residual `res` guarantees about eps*. With r = b - M x
// in the range of A (m-space) or of A^T A (D-space):
//   m-space: eps* - A^T x = A^+ r, so the error is at most ||r|| / s_min <= kappa res ||eps*||
//            (||b|| = ||A eps*|| <= s_max ||eps*||);
//   D-space: eps* - x = (A^T A)^+ r, at most kappa^2 res ||eps*||.
// res itself is computed in float64 from products of size m + D: off by at most about
// (m + D) u64 kappa^2 (||M|| ||x|| / ||b|| <= kappa^2); the float64 arithmetic forming
// eps* adds as much, and the final rounding to T one unit u_T.
template <class T>
double error_bound(double res, double kappa, int m, int D, bool d_space) {
  const double u64 = std::numeric_limits<double>::epsilon() / 2, uT = std::numeric_limits<T>::epsilon() / 2;
  const double amp = d_space ? kappa * kappa : kappa;
  return amp * (res + 4.0 * (m + D) * u64 * kappa * kappa) + 2 * uT;
}

// The GPU and CPU run the same float64 recurrences; only the order of the terms inside
// each product and dot product differs, a relative perturbation of ~(m + D) u64 per step.
// Over `it` steps on M (condition kappa^2, m-space, or kappa^4, D-space) the iterates drift
// apart by about it cond(M) (m + D) u64, and the residuals, through one more product
// with M, by cond(M) times that. (An ill-conditioned M amplifies far more: there only the
// iteration counts are comparable.)
double drift(int it, double kappa, int m, int D, bool d_space) {
  const double cond = d_space ? std::pow(kappa, 4) : kappa * kappa;
  return std::max(it, 1) * cond * cond * (m + D) * std::numeric_limits<double>::epsilon();
}

// The stopping tests decide the same unless a residual lands within the drift of its
// threshold, which these problems (residuals falling by orders of magnitude per step near
// the end, or stopping on the cap) do not.
void check_same_diagnostics(const Result& g, const Result& c, const LatentSolve& s) {
  for (int64_t n = 0; n < s.systems; ++n) {
    CAPTURE(n);
    CHECK(g.iterations[n] == c.iterations[n]);
    CHECK(g.iterations[n] >= 0);
    CHECK(g.iterations[n] <= cap_of(s));
    CHECK(std::isfinite(g.residual[n]));
    CHECK(g.residual[n] >= 0);
  }
}

// Zero sigma for a whole system (K = 0) or zero noise (rhs = 0): eps* = 0 after no iteration.
template <class T>
void zero_sigma(Problem<T>& p, int64_t n) {
  std::fill(p.sigma.begin() + n * p.D, p.sigma.begin() + (n + 1) * p.D, T(0));
}
template <class T>
void zero_eps(Problem<T>& p, int64_t n) {
  std::fill(p.eps.begin() + n * p.D, p.eps.begin() + (n + 1) * p.D, T(0));
}

// eps* against the oracle, system by system: within the bound its own residual gives,
// exactly 0 in the coordinates the noise cannot reach (sigma_d = 0 or column d of W zero:
// every path multiplies them by an exact 0), and exactly 0 with no iteration and residual 0
// when the right-hand side is 0.
template <class T>
void check_against_projection(const Problem<T>& p, const LatentSolve& s, const Result& g, const Exact& ex) {
  for (int64_t n = 0; n < p.N; ++n) {
    CAPTURE(n);
    CAPTURE(ex.kappa[n]);
    CAPTURE(g.residual[n]);
    const double err = system_error(g.eps_star, ex.eps_star, n, p.D);
    CHECK(err <= error_bound<T>(g.residual[n], ex.kappa[n], p.m, p.D, s.d_space));
    bool rhs_zero = true;
    for (int d = 0; d < p.D; ++d) {
      bool column_zero = true;
      for (int i = 0; i < p.m; ++i) column_zero &= p.W[static_cast<size_t>(i) * p.D + d] == T(0);
      const bool unreachable = column_zero || p.sigma[n * p.D + d] == T(0);
      if (unreachable) CHECK(g.eps_star[n * p.D + d] == 0.0);
      rhs_zero &= unreachable || p.eps[n * p.D + d] == T(0);
    }
    if (rhs_zero) {
      for (int d = 0; d < p.D; ++d) CHECK(g.eps_star[n * p.D + d] == 0.0);
      CHECK(g.iterations[n] == 0);
      CHECK(g.residual[n] == 0.0);
    }
  }
}

// ---- the shape table ----------------------------------------------------------------------

template <class T>
void copy_col(T* W, int m, int D, int from, int to) {
  for (int i = 0; i < m; ++i) W[i * D + to] = W[i * D + from];
}
// Column 5 = column 3 and column 7 zero (D = 8): rank 6.
template <class T>
void dup_zero_cols(int m, int D, T* W) {
  copy_col(W, m, D, 3, 5);
  for (int i = 0; i < m; ++i) W[i * D + 7] = T(0);
}
// Row 1 = row 0 and row 7 zero (m = 8): rank 6.
template <class T>
void dup_zero_rows(int, int D, T* W) {
  std::copy(W, W + D, W + D);
  std::fill(W + 7 * D, W + 8 * D, T(0));
}

enum class Edit { none, dup_zero_cols, dup_zero_rows };

struct Shape {
  const char* what;
  int64_t N;
  int m, D;
  int rank;  // < 0: uniform random W, full rank
  bool d_space;
  Edit edit;
  bool also_double;  // T only changes the loads and stores: a few shapes suffice for double
};

// Sizes around the warp (31, 32, 33) and past the block (257, 300), where the
// thread-strided loops take a second turn; one system, 31 systems; full rank, exactly
// low rank, duplicated and zero columns (D-space) and rows (m-space). The emulator runs
// every CUDA thread as a fiber, so each problem is as small as its purpose allows.
const Shape kShapes[] = {
    {"1 system, m = D = 1", 1, 1, 1, -1, false, Edit::none, true},
    {"31 systems, m = 1, D = 3", 31, 1, 3, -1, false, Edit::none, false},
    {"m = 31 < D = 128, full rank", 1, 31, 128, -1, false, Edit::none, false},
    {"m = 32, D = 33, rank 5 (singular K)", 1, 32, 33, 5, false, Edit::none, true},
    {"m = 33 > D = 31, rank 4 (D-space)", 1, 33, 31, 4, true, Edit::none, false},
    {"m = 33 > D = 8, duplicated and zero columns (D-space)", 1, 33, 8, 6, true, Edit::dup_zero_cols, false},
    {"m = 8 < D = 33, duplicated and zero rows", 1, 8, 33, 6, false, Edit::dup_zero_rows, false},
    {"D = 300 past the block", 1, 3, 300, -1, false, Edit::none, true},
    {"m = 257 past the block (k = 257), rank 1", 1, 257, 2, 1, false, Edit::none, false},
    {"D = 257 past the block (k = 257), D-space", 1, 2, 257, -1, true, Edit::none, false},
};

template <class T>
Problem<T> shape_problem(const Shape& c, uint64_t seed) {
  Problem<T> p = make_problem<T>(c.N, c.m, c.D, c.edit == Edit::none ? c.rank : -1, seed);
  if (c.edit == Edit::dup_zero_cols) dup_zero_cols(c.m, c.D, p.W.data());
  if (c.edit == Edit::dup_zero_rows) dup_zero_rows(c.m, c.D, p.W.data());
  return p;
}

TEST_CASE_TEMPLATE("r2g2_cg: eps* is the float64 projection within its residual's bound; diagnostics are the CPU's",
                   T, float, double) {
  FreshDevice fresh;
  double worst = 0;
  for (const Shape& c : kShapes) {
    if (std::is_same_v<T, double> && !c.also_double) continue;
    const std::string what = c.what;
    CAPTURE(what);
    const Problem<T> p = shape_problem<T>(c, 7);
    // The caller's iteration cap: the rank bound.
    const int rank = cpu::gram_rank<T>(p.W.data(), c.m, c.D);
    REQUIRE(rank == (c.rank < 0 ? std::min(c.m, c.D) : c.rank));
    const LatentSolve s = solve_for(c.N, c.m, c.D, c.d_space, rank);
    const Exact ex = project(p);
    const Result g = run_gpu(p, s), r = run_cpu(p, s);
    check_same_diagnostics(g, r, s);
    check_against_projection(p, s, g, ex);
    for (int64_t n = 0; n < c.N; ++n) {
      CAPTURE(n);
      REQUIRE(ex.rank[n] == rank);
      CHECK(std::fabs(g.residual[n] - r.residual[n]) <= drift(r.iterations[n], ex.kappa[n], c.m, c.D, c.d_space));
      // These problems are well conditioned: CG converges within the rank bound, and the
      // bound at the tolerance is within the project's 1e-5 target.
      REQUIRE(error_bound<T>(s.settings.tol, ex.kappa[n], c.m, c.D, c.d_space) <= 1e-5);
      CHECK(g.residual[n] <= s.settings.tol);
      const double err = system_error(g.eps_star, ex.eps_star, n, c.D);
      CHECK(err <= 1e-5);
      worst = std::max(worst, err);
    }
  }
  MESSAGE("worst relative error of eps* against the projection: ", worst);
}

// Four blocks for 33 systems: each block takes every fourth system in turn, the stride that
// lets a capped grid cover any int64 count. A system no block reached keeps the NaN / -1
// its buffers start with.
TEST_CASE("r2g2_cg: 33 systems, all-zero ones among them, through a grid of 4 blocks") {
  FreshDevice fresh;
  Problem<float> p = make_problem<float>(33, 1, 2, -1, 11);
  for (int64_t n = 0; n < p.N; ++n) {
    if (n % 4 == 1 || n % 4 == 2) zero_sigma(p, n);
    if (n % 4 == 3) zero_eps(p, n);
  }
  const LatentSolve s = solve_for(p.N, p.m, p.D, false, 1);
  const int64_t launches = r2g2_emu::launches_of("latent_cg_kernel");
  const Result g = run_solver(p, s, [](auto&&... a) { detail::latent_cg<float>(a..., 4); });
  CHECK(r2g2_emu::launches_of("latent_cg_kernel") == launches + 1);
  check_same_diagnostics(g, run_cpu(p, s), s);
  check_against_projection(p, s, g, project(p));
}

TEST_CASE("r2g2_cg: the grid is capped and never wraps, whatever the int64 system count") {
  const int64_t cap = gpu::kMaxBlocks;
  CHECK(detail::system_blocks(1, cap) == 1u);
  CHECK(detail::system_blocks(33, cap) == 33u);
  CHECK(detail::system_blocks(cap, cap) == static_cast<unsigned>(cap));
  CHECK(detail::system_blocks(cap + 1, cap) == static_cast<unsigned>(cap));
  // Counts a cast to unsigned turns into 0 blocks, 1 block, or more than CUDA's limit.
  for (const int64_t n : {int64_t{1} << 31, int64_t{1} << 32, (int64_t{1} << 32) + 1, int64_t{3} << 40}) {
    CAPTURE(n);
    CHECK(detail::system_blocks(n, cap) == static_cast<unsigned>(cap));
    CHECK(detail::system_blocks(n, detail::kMaxGridX) == 0x7FFFFFFFu);
  }
  CHECK_THROWS_AS(detail::system_blocks(5, 0), r2g2::Error);
  CHECK_THROWS_AS(detail::system_blocks(5, detail::kMaxGridX + 1), r2g2::Error);
}

TEST_CASE("r2g2_cg: all-zero systems (W = 0, sigma = 0, eps = 0) give eps* = 0, no iteration, residual 0") {
  FreshDevice fresh;
  for (const bool d_space : {false, true}) {
    for (const bool paper : {false, true}) {
      if (d_space && paper) continue;  // the paper's solver is m-space only
      CAPTURE(d_space);
      CAPTURE(paper);
      const int m = d_space ? 6 : 3, D = d_space ? 3 : 5;
      // 0: sigma = 0; 1: eps = 0; 2: sigma = 0 in two coordinates.
      Problem<float> p = make_problem<float>(3, m, D, -1, 13);
      zero_sigma(p, 0);
      zero_eps(p, 1);
      p.sigma[2 * D + 0] = p.sigma[2 * D + 2] = 0.0f;
      LatentSolve s = solve_for(p.N, m, D, d_space, std::min(m, D));
      s.settings.solver = paper ? R2G2Solver::paper : R2G2Solver::cg;
      const Result g = run_gpu(p, s), r = run_cpu(p, s);
      check_same_diagnostics(g, r, s);
      for (double v : g.eps_star) CHECK(std::isfinite(v));
      if (!paper) check_against_projection(p, s, g, project(p));
      for (int64_t n : {0, 1}) {
        for (int d = 0; d < D; ++d) CHECK(g.eps_star[n * D + d] == 0.0);
        CHECK(g.iterations[n] == 0);
        CHECK(g.residual[n] == 0.0);
      }
      CHECK(g.eps_star[2 * D + 0] == 0.0);
      CHECK(g.eps_star[2 * D + 2] == 0.0);
      // W = 0: K = 0 for every system.
      std::fill(p.W.begin(), p.W.end(), 0.0f);
      const Result z = run_gpu(p, s);
      for (double v : z.eps_star) CHECK(v == 0.0);
      for (int32_t it : z.iterations) CHECK(it == 0);
      for (double res : z.residual) CHECK(res == 0.0);
    }
  }
}

// The paper's truncated solver is biased by design, so the reference is the CPU's same
// recurrence: eps* and the residuals agree within the drift (see above) of at most 8
// steps, eps* also within one rounding to T.
TEST_CASE("r2g2_cg: the paper's truncated solver (r2g2-paper) follows the CPU step for step") {
  FreshDevice fresh;
  const Problem<float> p = make_problem<float>(2, 8, 20, -1, 17);
  const Exact ex = project(p);
  const double kappa = *std::max_element(ex.kappa.begin(), ex.kappa.end());
  const double tol = drift(8, kappa, p.m, p.D, false);
  REQUIRE(tol < 1e-9);  // a well-conditioned problem: the comparison below is tight
  struct Setting {
    int max_iters;
    double abs_tol;
  };
  // The default budget; a tolerance met at the start (x0 = b); no iteration allowed; a
  // tolerance never met, so only the budget stops it.
  for (const Setting& set : {Setting{10, 1e-3}, Setting{10, 1e9}, Setting{0, 1e-3}, Setting{5, 0.0}}) {
    CAPTURE(set.max_iters);
    CAPTURE(set.abs_tol);
    LatentSolve s = solve_for(p.N, p.m, p.D, false, p.m);  // W of full rank m = 8
    s.settings.solver = R2G2Solver::paper;
    s.settings.max_iters = set.max_iters;
    s.settings.abs_tol = set.abs_tol;
    const Result g = run_gpu(p, s), r = run_cpu(p, s);
    check_same_diagnostics(g, r, s);
    for (int64_t n = 0; n < p.N; ++n) {
      CAPTURE(n);
      double scale = 0;
      for (int d = 0; d < p.D; ++d) scale = std::max(scale, std::fabs(r.eps_star[n * p.D + d]));
      for (int d = 0; d < p.D; ++d) {
        const double want = r.eps_star[n * p.D + d];
        CHECK(std::fabs(g.eps_star[n * p.D + d] - want) <=
              std::numeric_limits<float>::epsilon() * std::fabs(want) + tol * scale);
      }
      CHECK(std::fabs(g.residual[n] - r.residual[n]) <= tol);
    }
    if (set.abs_tol > 1e3 || set.max_iters == 0)
      for (int32_t it : g.iterations) CHECK(it == 0);
    if (set.abs_tol == 0.0)
      for (int32_t it : g.iterations) CHECK(it == cap_of(s));
  }
}

// A nearly square W (smallest singular value ~1/D of the largest) and sigma over
// [0.001, 2] make K badly conditioned (kappa(K) ~ 1e8): in finite precision CG needs more
// than rank(K) iterations, so at the rank bound systems are still above tol. The caller
// then solves those on the host in float64 (cpu::r2g2_latent_direct), as
// estimators/r2g2_latent.cpp does; the composition must give the projection.
TEST_CASE("r2g2_cg: systems CG leaves unconverged at the rank bound are finished by the host direct solve") {
  FreshDevice fresh;
  struct Case {
    int m, D, rank;
    bool d_space;
  };
  for (const Case& c : {Case{10, 11, -1, false}, Case{11, 10, -1, true}}) {
    CAPTURE(c.d_space);
    const Problem<float> p = make_problem<float>(2, c.m, c.D, c.rank, 19, 0.001, 2.0);
    const int rank = cpu::gram_rank<float>(p.W.data(), c.m, c.D);
    const LatentSolve s = solve_for(p.N, c.m, c.D, c.d_space, rank);
    const Result g = run_gpu(p, s), r = run_cpu(p, s);
    check_same_diagnostics(g, r, s);
    const Exact ex = project(p);
    check_against_projection(p, s, g, ex);  // the truncated answer is as good as its residual says
    std::vector<int64_t> which;
    for (int64_t n = 0; n < p.N; ++n)
      if (!(g.residual[n] <= s.settings.tol)) {
        which.push_back(n);
        CHECK(g.iterations[n] == cap_of(s));
      }
    REQUIRE(!which.empty());
    std::vector<float> out(g.eps_star.begin(), g.eps_star.end());
    std::vector<double> res = g.residual;
    cpu::r2g2_latent_direct<float>(s, p.W.data(), p.sigma.data(), p.eps.data(), out.data(), which.data(),
                                   static_cast<int64_t>(which.size()), res.data());
    const std::vector<double> finished(out.begin(), out.end());
    for (int64_t n = 0; n < p.N; ++n) {
      CAPTURE(n);
      CAPTURE(ex.kappa[n]);
      CAPTURE(res[n]);
      CHECK(res[n] <= s.settings.tol);
      const double err = system_error(finished, ex.eps_star, n, p.D);
      CHECK(err <= error_bound<float>(res[n], ex.kappa[n], p.m, p.D, s.d_space));
      CHECK(err <= 1e-5);
    }
  }
}

TEST_CASE("r2g2_cg: past the default shared memory the kernel opts in; past any block's, the host solves") {
  FreshDevice fresh;
  const Problem<float> p = make_problem<float>(1, 3, 300, -1, 23);
  const LatentSolve s = solve_for(p.N, p.m, p.D, false, 3);
  const size_t bytes = sizeof(double) * static_cast<size_t>(detail::shared_doubles(s));
  const Result base = run_gpu(p, s);
  CHECK(r2g2_emu::max_dynamic_shared(reinterpret_cast<const void*>(&detail::latent_cg_kernel<float>)) == 0);

  // A device whose default is below what the systems need, its opt-in above.
  r2g2_emu::device_properties().shared_per_block = static_cast<int>(bytes) - 8;
  int64_t launches = r2g2_emu::launches_of("latent_cg_kernel");
  const Result opted = run_gpu(p, s);
  CHECK(r2g2_emu::launches_of("latent_cg_kernel") == launches + 1);
  CHECK(r2g2_emu::max_dynamic_shared(reinterpret_cast<const void*>(&detail::latent_cg_kernel<float>)) ==
        static_cast<int>(bytes));
  check_equal(opted.eps_star, base.eps_star);
  check_equal(opted.residual, base.residual);

  // Opt-in below it too: no launch, the CPU reference on host copies, bit for bit.
  r2g2_emu::device_properties().shared_per_block_optin = static_cast<int>(bytes) - 8;
  launches = r2g2_emu::launches_of("latent_cg_kernel");
  const Result host = run_gpu(p, s), r = run_cpu(p, s);
  CHECK(r2g2_emu::launches_of("latent_cg_kernel") == launches);
  check_equal(host.eps_star, r.eps_star);
  check_equal(host.residual, r.residual);
  CHECK(host.iterations == r.iterations);
}

TEST_CASE("r2g2_cg: no systems launch nothing; the diagnostics pointers may be null") {
  FreshDevice fresh;
  const int64_t launches = r2g2_emu::launch_count();
  gpu::r2g2_latent_cg<float>(solve_for(0, 3, 4, false, 3), nullptr, nullptr, nullptr, nullptr, nullptr, nullptr);
  CHECK(r2g2_emu::launch_count() == launches);
  const Problem<double> p = make_problem<double>(1, 2, 5, -1, 29);
  const LatentSolve s = solve_for(p.N, p.m, p.D, false, 2);
  std::vector<double> out(p.eps.size());
  gpu::r2g2_latent_cg<double>(s, p.W.data(), p.sigma.data(), p.eps.data(), out.data(), nullptr, nullptr);
  check_equal(out, run_gpu(p, s).eps_star);
}

}  // namespace
